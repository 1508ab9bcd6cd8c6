// Apps open to some roles only (`allowed_roles`) in a real browser: Debian's
// Chromium fills the issuer's pages, openid-client builds the authorization
// requests and checks every answer. A user holding none of the app's roles sees
// the issuer's no-access page (403) and the app gets nothing; another account
// signs in from that page; `prompt=none` answers `access_denied`; a user who loses
// the role can no longer refresh, and can again once it is back.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import * as client from "openid-client";
import { adminFetch, adminToken, startWorker } from "./harness.mjs";
import { fillLogin, isLoginPage, launchBrowser, newPage, waitForRedirect } from "./support/browser.mjs";
import { configFor as discover, oidcRequest } from "./support/oidc.mjs";
import { createApp, createUser, startSite, uniqueName } from "./support/flows.mjs";

const TIMEOUT = { timeout: 60_000 };

let worker;
let issuer;
let browser;
let admin;
let site; // the apps' redirect URIs
let role; // the role the staff apps admit
let member; // holds it
let outsider; // holds no role

before(async () => {
  worker = await startWorker();
  issuer = worker.issuer;
  [browser, site] = await Promise.all([launchBrowser(), startSite()]);
  admin = await adminToken(worker.url);
  const created = await adminFetch(worker.url, admin, "POST", "/admin/v1/roles", { body: { name: uniqueName("staff") } });
  assert.equal(created.status, 201, created.text);
  role = created.json;
  member = await createUser(worker.url, admin, { roles: [role.id] });
  outsider = await createUser(worker.url, admin);
});

after(async () => {
  await browser?.close();
  await site?.close();
  await worker?.stop();
});

const configFor = (app) => discover(issuer, app);

const staffApp = (cb, fields = {}) =>
  createApp(worker.url, admin, { type: "web", redirect_uris: [cb], allowed_roles: [role.id], ...fields });

/** Gives `user` exactly `roles`. */
async function setRoles(user, roles) {
  const r = await adminFetch(worker.url, admin, "PATCH", `/admin/v1/users/${user.id}`, { body: { roles } });
  assert.equal(r.status, 200, r.text);
}

describe("apps open to some roles only, in Chromium", () => {
  test("a user without an allowed role gets the no-access page and the app nothing; another account signs in from it", TIMEOUT, async () => {
    const cb = `${site.origin}/staff/cb`;
    const app = await staffApp(cb);
    assert.deepEqual(app.allowed_roles, [role.id]);
    const config = await configFor(app);
    const { url, checks } = await oidcRequest(config, cb, "openid profile");
    const { context, page } = await newPage(browser);
    try {
      await page.goto(url.href);
      assert.ok(await isLoginPage(page));
      const answered = page.waitForResponse((r) => r.url() === `${issuer}/login` && r.request().method() === "POST");
      await fillLogin(page, outsider.username, outsider.password);
      const refused = await answered;
      assert.equal(refused.status(), 403);
      assert.match(refused.headers()["content-security-policy"], /frame-ancestors 'none'/);
      assert.equal(await page.locator("h1").textContent(), `No access to ${app.client_name}`);
      const text = await page.locator("main").innerText();
      assert.ok(text.includes(`Signed in as ${outsider.email}`), text);
      assert.ok(text.includes(`This account may not use ${app.client_name}.`), text);
      assert.ok(page.url().startsWith(issuer), `stays on the issuer: ${page.url()}`);
      assert.ok(!site.requests.some((r) => r.url.includes(checks.expectedState)), "the app got nothing");
      const jar = await context.cookies(issuer);
      assert.ok(jar.some((c) => c.name.includes("session")), "signed in all the same");

      // The page's form: the same request, signed in as someone the app admits.
      assert.ok(await isLoginPage(page), "a form for another account");
      await fillLogin(page, member.username, member.password);
      const landed = await waitForRedirect(page, cb, { consent: "allow" });
      const tokens = await client.authorizationCodeGrant(config, landed, checks);
      assert.equal(tokens.claims().sub, member.id);
    } finally {
      await context.close();
    }
  });

  test("from the SSO session: the page in the browser's language, prompt=none is access_denied, other apps still sign in", TIMEOUT, async () => {
    const cb = `${site.origin}/staff-sso/cb`;
    const open = await createApp(worker.url, admin, { type: "web", redirect_uris: [cb] });
    const staff = await staffApp(cb);
    const [openConfig, staffConfig] = await Promise.all([configFor(open), configFor(staff)]);
    const { context, page } = await newPage(browser, { locale: "fr-FR" });
    try {
      const one = await oidcRequest(openConfig, cb, "openid");
      await page.goto(one.url.href);
      await fillLogin(page, outsider.username, outsider.password);
      await client.authorizationCodeGrant(openConfig, await waitForRedirect(page, cb, { consent: "allow" }), one.checks);

      // Signed in already: the page at once, no form filled.
      const two = await oidcRequest(staffConfig, cb, "openid");
      const shown = await page.goto(two.url.href);
      assert.equal(shown.status(), 403);
      assert.equal(await page.locator("h1").textContent(), `Pas d’accès à ${staff.client_name}`);
      assert.ok(!site.requests.some((r) => r.url.includes(two.checks.expectedState)), "the app got nothing");

      // No page may be shown: the app hears access_denied, with state and iss.
      const three = await oidcRequest(staffConfig, cb, "openid", { prompt: "none" });
      await page.goto(three.url.href);
      const denied = await waitForRedirect(page, cb);
      assert.equal(denied.searchParams.get("error"), "access_denied");
      assert.equal(denied.searchParams.get("iss"), issuer);
      await assert.rejects(client.authorizationCodeGrant(staffConfig, denied, three.checks), (e) => {
        assert.equal(e.error, "access_denied", String(e));
        return true;
      });

      // The session stays for the apps the user may use.
      const four = await oidcRequest(openConfig, cb, "openid");
      await page.goto(four.url.href);
      const back = await waitForRedirect(page, cb);
      const tokens = await client.authorizationCodeGrant(openConfig, back, four.checks);
      assert.equal(tokens.claims().sub, outsider.id);
    } finally {
      await context.close();
    }
  });

  test("a member signs in straight away; without the role the refresh token is refused, unrotated, until it is back", TIMEOUT, async () => {
    const cb = `${site.origin}/staff-refresh/cb`;
    const user = await createUser(worker.url, admin, { roles: [role.id] });
    const app = await staffApp(cb, { refresh_tokens: true });
    const config = await configFor(app);
    const { url, checks } = await oidcRequest(config, cb, "openid offline_access");
    const { context, page } = await newPage(browser);
    try {
      await page.goto(url.href);
      await fillLogin(page, user.username, user.password);
      const tokens = await client.authorizationCodeGrant(config, await waitForRedirect(page, cb, { consent: "allow" }), checks);
      assert.equal(tokens.claims().sub, user.id);
      assert.equal(typeof tokens.refresh_token, "string");

      await setRoles(user, []);
      await assert.rejects(client.refreshTokenGrant(config, tokens.refresh_token), (e) => {
        assert.equal(e.error, "invalid_grant", String(e));
        return true;
      });
      await setRoles(user, [role.id]);
      const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
      assert.equal(typeof refreshed.access_token, "string");
      assert.notEqual(refreshed.refresh_token, tokens.refresh_token, "it rotates once it is used");
    } finally {
      await context.close();
    }
  });
});
