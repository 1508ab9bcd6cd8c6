// Debian's Chromium driven by playwright-core (one browser per test file, a new
// context per scenario), and helpers for the issuer's login, consent and
// logout pages.

import fs from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";

/** The Chromium executable: `chromium` on PATH, else /usr/bin/chromium. */
export function chromiumPath() {
  if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH;
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, "chromium");
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      /* not here */
    }
  }
  if (fs.existsSync("/usr/bin/chromium")) return "/usr/bin/chromium";
  throw new Error("chromium not found (scripts/e2e installs it; or set CHROMIUM_PATH)");
}

/** Launch headless Chromium. Close it with `browser.close()`. */
export async function launchBrowser() {
  return await chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: ["--no-sandbox"],
  });
}

/** A fresh context (its own cookies) and a page in it. */
export async function newPage(browser, options = {}) {
  const context = await browser.newContext(options);
  context.setDefaultTimeout(15_000);
  context.setDefaultNavigationTimeout(15_000);
  const page = await context.newPage();
  return { context, page };
}

export const isLoginPage = async (page) =>
  (await page.locator("#password").count()) > 0 && (await page.locator("#username").count()) > 0;

export const isConsentPage = async (page) =>
  (await page.locator('button[name="decision"][value="allow"]').count()) > 0;

/** Fill and submit the login form (the page must show it). */
export async function fillLogin(page, username, password) {
  await page.locator("#username").fill(username);
  await page.locator("#password").fill(password);
  await page.locator('form button[type="submit"]').first().click();
}

/** Click allow (or deny) on the consent page. */
export async function answerConsent(page, decision = "allow") {
  await page.locator(`button[name="decision"][value="${decision}"]`).click();
}

/**
 * Wait until the page is at a URL under `prefix` (the redirect URI), answering a
 * consent page on the way when `consent` is given. Answers the URL reached.
 */
export async function waitForRedirect(page, prefix, { consent } = {}) {
  const atTarget = (u) => String(u).startsWith(prefix);
  if (consent) {
    const which = await Promise.race([
      page.waitForURL(atTarget).then(() => "target"),
      page.locator('button[name="decision"][value="allow"]').waitFor().then(() => "consent"),
    ]);
    if (which === "consent") await answerConsent(page, consent);
  }
  await page.waitForURL(atTarget);
  return new URL(page.url());
}
