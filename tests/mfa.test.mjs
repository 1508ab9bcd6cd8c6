// Two-factor sign-in in Chromium: an app that requires it enrols the user (the
// secret read from the page, codes computed here with HMAC-SHA1 as an
// authenticator app does), then sign-ins with a code and with a recovery code, a
// wrong code refused, and the ID token's amr/acr checked by openid-client.

import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { after, before, describe, test } from "node:test";
import * as client from "openid-client";
import { adminFetch, adminToken, startWorker } from "./harness.mjs";
import { configFor, oidcRequest } from "./support/oidc.mjs";
import { fillLogin, isLoginPage, launchBrowser, newPage, waitForRedirect } from "./support/browser.mjs";
import { createApp, createUser, startSite } from "./support/flows.mjs";

const TIMEOUT = { timeout: 90_000 };
const MFA = "urn:gatehouse:acr:mfa";

let worker;
let issuer;
let browser;
let admin;
let site;
let user;
let app;
let secret; // base32, as the enrolment page shows it
let recoveryCodes;

before(async () => {
  worker = await startWorker();
  issuer = worker.issuer;
  [browser, site] = await Promise.all([launchBrowser(), startSite({ pages: {} })]);
  admin = await adminToken(worker.url);
  user = await createUser(worker.url, admin);
  app = await createApp(worker.url, admin, {
    type: "web",
    redirect_uris: [`${site.origin}/mfa/cb`],
    first_party: true,
    refresh_tokens: true,
    require_mfa: true,
  });
  assert.equal(app.require_mfa, true);
});

after(async () => {
  await browser?.close();
  await site?.close();
  await worker?.stop();
});

/** RFC 4648 base32 (spaces ignored) to bytes. */
function base32Decode(text) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0;
  let value = 0;
  const out = [];
  for (const c of text.replace(/[\s=]/g, "").toUpperCase()) {
    value = (value << 5) | alphabet.indexOf(c);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >>> bits) & 0xff);
    }
  }
  return Buffer.from(out);
}

/** The TOTP code (RFC 6238: HMAC-SHA1, 6 digits, 30 s) of `step`. */
function totp(base32, step) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const hash = createHmac("sha1", base32Decode(base32)).update(counter).digest();
  const offset = hash[19] & 0x0f;
  const binary = hash.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 1_000_000).padStart(6, "0");
}

const stepNow = () => Math.floor(Date.now() / 1000 / 30);
const cb = () => `${site.origin}/mfa/cb`;

/** Opens a sign-in to the app in a fresh context and enters the password. */
async function signIn() {
  const config = await configFor(issuer, app);
  const { url, checks } = await oidcRequest(config, cb(), "openid offline_access");
  const { context, page } = await newPage(browser);
  await page.goto(url.href);
  assert.ok(await isLoginPage(page), "the login page comes first");
  await fillLogin(page, user.username, user.password);
  await page.locator("#code").waitFor();
  return { config, checks, context, page };
}

async function tokensAt(page, config, checks) {
  const landed = await waitForRedirect(page, cb());
  return await client.authorizationCodeGrant(config, landed, checks);
}

describe("two-factor sign-in in Chromium", () => {
  test("enrolment: QR code, secret, a wrong code refused, recovery codes, amr/acr in the ID token", TIMEOUT, async () => {
    const { config, checks, context, page } = await signIn();
    try {
      assert.equal(await page.locator("svg#totp-qr path").count(), 1, "the QR code is drawn");
      assert.ok((await page.locator("svg#totp-qr").boundingBox()).width >= 100, "and visible");
      const code = page.locator("#code");
      assert.equal(await code.getAttribute("autocomplete"), "one-time-code");
      assert.equal(await code.getAttribute("inputmode"), "numeric");
      assert.equal(await page.locator('label[for="code"]').count(), 1);
      secret = (await page.locator("#totp-secret").textContent()).replace(/\s/g, "");
      assert.match(secret, /^[A-Z2-7]{32}$/, "160 bits in base32");

      const wrong = totp(secret, stepNow() + 5);
      await code.fill(wrong);
      await page.locator('form button[type="submit"]').first().click();
      await page.locator('[role="alert"]').waitFor();
      assert.equal((await page.locator("#totp-secret").textContent()).replace(/\s/g, ""), secret, "the same secret again");

      await page.locator("#code").fill(totp(secret, stepNow()));
      await page.locator('form button[type="submit"]').first().click();
      await page.locator("#recovery-codes").waitFor();
      recoveryCodes = await page.locator("#recovery-codes code").allTextContents();
      assert.equal(recoveryCodes.length, 10);
      assert.equal(new Set(recoveryCodes).size, 10);
      await page.locator('form button[type="submit"]').first().click();

      const tokens = await tokensAt(page, config, checks);
      const claims = tokens.claims();
      assert.deepEqual(claims.amr, ["pwd", "otp"]);
      assert.equal(claims.acr, MFA);
      assert.equal(claims.sub, user.id);
      const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
      assert.deepEqual(refreshed.claims().amr, ["pwd", "otp"], "a refresh keeps the methods");
      assert.equal(refreshed.claims().acr, MFA);

      const status = await adminFetch(worker.url, admin, "GET", `/admin/v1/users/${user.id}`);
      assert.equal(status.json.mfa.enrolled, true);
      assert.equal(status.json.mfa.recovery_codes_left, 10);
      assert.ok(!status.text.includes(secret), "the secret never leaves the issuer");
      const md = config.serverMetadata();
      assert.ok(md.acr_values_supported.includes(MFA));
    } finally {
      await context.close();
    }
  });

  test("sign-in with a code: a wrong code is refused, the right one signs in", TIMEOUT, async () => {
    assert.ok(secret, "enrolled by the previous test");
    const { config, checks, context, page } = await signIn();
    try {
      assert.equal(await page.locator("#totp-secret").count(), 0, "no enrolment this time");
      await page.locator("#code").fill("000000" === totp(secret, stepNow()) ? "111111" : "000000");
      await page.locator('form button[type="submit"]').first().click();
      await page.locator('[role="alert"]').waitFor();
      assert.equal(await page.locator("#code").getAttribute("aria-invalid"), "true");
      // The next step's code: within the window, and not the one enrolment used.
      await page.locator("#code").fill(totp(secret, stepNow() + 1));
      await page.locator('form button[type="submit"]').first().click();
      const tokens = await tokensAt(page, config, checks);
      assert.deepEqual(tokens.claims().amr, ["pwd", "otp"]);
      assert.equal(tokens.claims().acr, MFA);
    } finally {
      await context.close();
    }
  });

  test("sign-in with a recovery code, which works once", TIMEOUT, async () => {
    assert.ok(recoveryCodes, "enrolled by the first test");
    const { config, checks, context, page } = await signIn();
    try {
      await page.locator("summary").click();
      await page.locator("#recovery_code").fill(recoveryCodes[0]);
      await page.locator("button[formnovalidate]").click();
      const tokens = await tokensAt(page, config, checks);
      assert.deepEqual(tokens.claims().amr, ["pwd", "otp"]);
    } finally {
      await context.close();
    }
    const again = await signIn();
    try {
      await again.page.locator("summary").click();
      await again.page.locator("#recovery_code").fill(recoveryCodes[0]);
      await again.page.locator("button[formnovalidate]").click();
      await again.page.locator('[role="alert"]').waitFor();
      assert.ok(again.page.url().startsWith(issuer), "still on the issuer");
    } finally {
      await again.context.close();
    }
    const status = await adminFetch(worker.url, admin, "GET", `/admin/v1/users/${user.id}/mfa`);
    assert.equal(status.json.recovery_codes_left, 9);
  });

  test("an administrator's reset: the next sign-in enrols again", TIMEOUT, async () => {
    const reset = await adminFetch(worker.url, admin, "DELETE", `/admin/v1/users/${user.id}/mfa`);
    assert.equal(reset.status, 204);
    const { context, page } = await signIn();
    try {
      assert.equal(await page.locator("#totp-secret").count(), 1, "the enrolment page again");
      const fresh = (await page.locator("#totp-secret").textContent()).replace(/\s/g, "");
      assert.notEqual(fresh, secret, "a new secret");
    } finally {
      await context.close();
    }
  });
});
