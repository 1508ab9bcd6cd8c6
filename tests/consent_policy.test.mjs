// Consent policies in a real browser: Debian's Chromium signs in to a
// first-party app whose policy must be accepted, openid-client v6 builds the
// authorization requests and checks every answer. The policy is shown and
// accepted, not shown again, shown again for a new version, declined
// (access_denied at the redirect URI), and listed on the user in the management API.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import * as client from "openid-client";
import { adminFetch, adminToken, startWorker } from "./harness.mjs";
import { configFor, oidcRequest } from "./support/oidc.mjs";
import { fillLogin, isLoginPage, launchBrowser, newPage, waitForRedirect } from "./support/browser.mjs";
import { createApp, createUser, startSite } from "./support/flows.mjs";

const TIMEOUT = { timeout: 60_000 };
const TERMS = "# Terms\n\nWe keep *little*. See [our site](https://example.com).\n\n<script>alert(1)</script>\n\n[bad](javascript:alert(1))";

let worker;
let issuer;
let browser;
let admin;
let site;

before(async () => {
  worker = await startWorker();
  issuer = worker.issuer;
  [browser, site] = await Promise.all([launchBrowser(), startSite({ pages: {} })]);
  admin = await adminToken(worker.url);
});

after(async () => {
  await browser?.close();
  await site?.close();
  await worker?.stop();
});

const isPolicyPage = async (page) => (await page.locator('button[name="decision"][value="accept"]').count()) > 0;

async function acceptedOf(user) {
  const r = await adminFetch(worker.url, admin, "GET", `/admin/v1/users/${user.id}`);
  assert.equal(r.status, 200, r.text);
  return r.json.consent_policies;
}

/** An authorization request of `app` in `page`; answers the checks and the response. */
async function start(page, config, cb) {
  const { url, checks } = await oidcRequest(config, cb, "openid");
  const response = await page.goto(url.href);
  return { checks, response };
}

describe("consent policy in Chromium", () => {
  test("shown and accepted once, shown again for a new version, listed on the user", TIMEOUT, async () => {
    const cb = `${site.origin}/policy/cb`;
    const app = await createApp(worker.url, admin, {
      type: "web",
      redirect_uris: [cb],
      first_party: true,
      consent_policy: { title: "Terms of use", text: TERMS },
    });
    assert.equal(app.consent_policy.version, 1);
    const user = await createUser(worker.url, admin);
    const config = await configFor(issuer, app);
    const { context, page } = await newPage(browser);
    try {
      let { checks } = await start(page, config, cb);
      assert.ok(await isLoginPage(page));
      await fillLogin(page, user.username, user.password);
      await page.locator('button[name="decision"][value="accept"]').waitFor();
      assert.ok(page.url().startsWith(issuer), "the policy page is on the issuer");
      assert.equal(await page.locator("h1").textContent(), "Terms of use");
      assert.equal(await page.locator(".policy h2").textContent(), "Terms");
      assert.equal(await page.locator(".policy em").textContent(), "little");
      const link = page.locator('.policy a[href="https://example.com"]');
      assert.equal(await link.getAttribute("rel"), "noopener noreferrer");
      assert.equal(await page.locator(".policy script").count(), 0, "raw HTML is not markup");
      assert.ok((await page.locator(".policy").textContent()).includes("<script>alert(1)</script>"));
      assert.equal(await page.locator('.policy a[href^="javascript"]').count(), 0);
      assert.ok((await page.locator("main").textContent()).includes("Version 1"));

      const before = Math.floor(Date.now() / 1000);
      await page.locator('button[name="decision"][value="accept"]').click();
      let landed = await waitForRedirect(page, cb);
      let tokens = await client.authorizationCodeGrant(config, landed, checks);
      assert.equal(tokens.claims().sub, user.id);
      let accepted = await acceptedOf(user);
      assert.equal(accepted.length, 1);
      assert.equal(accepted[0].client_id, app.client_id);
      assert.equal(accepted[0].version, 1);
      assert.ok(Math.abs(accepted[0].accepted_at - before) < 120, `accepted_at ${accepted[0].accepted_at}`);

      // The same version is not shown again: the session answers at once.
      ({ checks } = await start(page, config, cb));
      landed = await waitForRedirect(page, cb);
      tokens = await client.authorizationCodeGrant(config, landed, checks);
      assert.equal(tokens.claims().sub, user.id);

      // A new version is shown again.
      const changed = await adminFetch(worker.url, admin, "PATCH", `/admin/v1/apps/${app.client_id}`, {
        body: { consent_policy: { text: "# Terms\n\nNow with more." } },
      });
      assert.equal(changed.status, 200, changed.text);
      assert.equal(changed.json.consent_policy.version, 2);
      ({ checks } = await start(page, config, cb));
      await page.locator('button[name="decision"][value="accept"]').waitFor();
      assert.ok((await page.locator(".policy").textContent()).includes("Now with more."));
      assert.ok((await page.locator("main").textContent()).includes("Version 2"));
      await page.locator('button[name="decision"][value="accept"]').click();
      landed = await waitForRedirect(page, cb);
      await client.authorizationCodeGrant(config, landed, checks);
      accepted = await acceptedOf(user);
      assert.deepEqual(accepted.map((a) => [a.client_id, a.version]), [[app.client_id, 2]]);
    } finally {
      await context.close();
    }
  });

  test("declined: access_denied at the redirect URI, nothing recorded, asked again", TIMEOUT, async () => {
    const cb = `${site.origin}/declined/cb`;
    const app = await createApp(worker.url, admin, {
      type: "web",
      redirect_uris: [cb],
      first_party: true,
      consent_policy: { title: "Terms of use", text: TERMS },
    });
    const user = await createUser(worker.url, admin);
    const config = await configFor(issuer, app);
    const { context, page } = await newPage(browser);
    try {
      const { checks } = await start(page, config, cb);
      await fillLogin(page, user.username, user.password);
      await page.locator('button[name="decision"][value="decline"]').click();
      const landed = await waitForRedirect(page, cb);
      assert.equal(landed.searchParams.get("error"), "access_denied");
      assert.equal(landed.searchParams.get("iss"), issuer);
      assert.equal(landed.searchParams.get("code"), null);
      await assert.rejects(client.authorizationCodeGrant(config, landed, checks), (e) => e.error === "access_denied");
      assert.deepEqual(await acceptedOf(user), []);
      await start(page, config, cb);
      await page.locator('button[name="decision"][value="accept"]').waitFor();
      assert.ok(await isPolicyPage(page), "asked again from the session");
    } finally {
      await context.close();
    }
  });
});
