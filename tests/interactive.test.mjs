// The interactive flows in a real browser: Debian's Chromium (one for the whole
// file) fills the issuer's login and consent pages, openid-client v6 builds the
// authorization requests and checks every answer (iss parameter, state, PKCE,
// nonce, ID token). Redirect URIs and web origins are small http servers on
// 127.0.0.1.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import * as client from "openid-client";
import { decodeProtectedHeader } from "jose";
import { adminToken, decodeJwtPart, startWorker } from "./harness.mjs";
import { configFor as discover, oidcRequest } from "./support/oidc.mjs";
import {
  answerConsent,
  fillLogin,
  isConsentPage,
  isLoginPage,
  launchBrowser,
  newPage,
  waitForRedirect,
} from "./support/browser.mjs";
import {
  authorizationParams,
  createApp,
  createUser,
  disableUser,
  redeemCode,
  startSite,
} from "./support/flows.mjs";

const TIMEOUT = { timeout: 60_000 };

let worker;
let issuer;
let browser;
let admin;
let user;
let site; // redirect URIs and the SPA's registered origin
let stranger; // an origin no app registers
const pages = {};

before(async () => {
  worker = await startWorker();
  issuer = worker.issuer;
  [browser, site, stranger] = await Promise.all([launchBrowser(), startSite({ pages }), startSite({ pages })]);
  admin = await adminToken(worker.url);
  user = await createUser(worker.url, admin, { given_name: "Grace", name: "Grace Hopper" });
});

after(async () => {
  await browser?.close();
  await site?.close();
  await stranger?.close();
  await worker?.stop();
});

const configFor = (app, auth) => discover(issuer, app, auth);

/** An authorization URL from raw parameters (see flows.authorizationParams). */
function authorizeUrl(params) {
  const url = new URL(`${issuer}/authorize`);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return url.toString();
}

const nowSecs = () => Math.floor(Date.now() / 1000);

/** Sign in on a page that shows the login form; answer consent; wait for the redirect URI. */
async function loginAndLand(page, who, prefix, consent = "allow") {
  assert.ok(await isLoginPage(page), `login page expected at ${page.url()}`);
  await fillLogin(page, who.username, who.password);
  return await waitForRedirect(page, prefix, { consent });
}

describe("authorization code flow in Chromium", () => {
  test("web app (client_secret_basic): login, consent, code, ID token, refresh, userinfo", TIMEOUT, async () => {
    const cb = `${site.origin}/web/cb`;
    const app = await createApp(worker.url, admin, { type: "web", redirect_uris: [cb], refresh_tokens: true });
    assert.equal(app.token_endpoint_auth_method, "client_secret_basic");
    const config = await configFor(app);
    const md = config.serverMetadata();
    assert.equal(md.authorization_endpoint, `${issuer}/authorize`);
    assert.equal(md.authorization_response_iss_parameter_supported, true);
    assert.deepEqual(md.code_challenge_methods_supported, ["S256"]);

    const { url, checks } = await oidcRequest(config, cb, "openid profile email offline_access");
    const { context, page } = await newPage(browser);
    try {
      const first = await page.goto(url.href);
      assert.equal(first.status(), 200);
      assert.ok(await isLoginPage(page), "the login page is shown without a session");
      await fillLogin(page, user.username, user.password);
      await page.locator('button[name="decision"][value="allow"]').waitFor();
      assert.ok(page.url().startsWith(issuer), "the consent page is on the issuer");
      await answerConsent(page, "allow");
      const landed = await waitForRedirect(page, cb);
      assert.equal(landed.searchParams.get("iss"), issuer);
      assert.equal(landed.searchParams.get("state"), checks.expectedState);
      const arrived = await site.waitFor((r) => r.path === "/web/cb");
      assert.equal(arrived.method, "GET");
      const jar = await context.cookies(issuer);
      assert.ok(
        jar.some((c) => c.httpOnly && ["Lax", "Strict"].includes(c.sameSite)),
        `an HttpOnly SameSite session cookie: ${JSON.stringify(jar.map((c) => [c.name, c.httpOnly, c.sameSite]))}`,
      );

      const started = nowSecs();
      const tokens = await client.authorizationCodeGrant(config, landed, checks);
      assert.equal(tokens.token_type.toLowerCase(), "bearer");
      assert.ok(tokens.expires_in > 0);
      assert.equal(typeof tokens.refresh_token, "string", "offline_access with refresh_tokens on");
      const scopes = new Set(tokens.scope.split(" "));
      for (const s of ["openid", "profile", "email", "offline_access"]) assert.ok(scopes.has(s), `${s} in ${tokens.scope}`);
      assert.equal(decodeProtectedHeader(tokens.id_token).alg, "RS256");
      const claims = tokens.claims();
      assert.equal(claims.iss, issuer);
      assert.equal(claims.sub, user.id);
      assert.equal(claims.nonce, checks.expectedNonce);
      assert.ok(Number.isInteger(claims.auth_time) && Math.abs(claims.auth_time - started) < 120, `auth_time ${claims.auth_time}`);
      assert.equal(typeof claims.sid, "string");
      assert.ok(claims.sid.length > 0);
      assert.equal(typeof claims.at_hash, "string");

      const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
      assert.equal(info.sub, user.id);
      assert.equal(info.email, user.email);
      assert.equal(info.email_verified, true);
      assert.equal(info.name, "Grace Hopper");
      assert.equal(info.given_name, "Grace");

      const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
      assert.notEqual(refreshed.refresh_token, tokens.refresh_token, "the refresh token rotates");
      assert.notEqual(refreshed.access_token, tokens.access_token);
      const again = await client.fetchUserInfo(config, refreshed.access_token, user.id);
      assert.equal(again.email, user.email);
    } finally {
      await context.close();
    }
  });

  test("SPA (public client): openid-client with None, and /token from the browser by CORS", TIMEOUT, async () => {
    const cb = `${site.origin}/spa`;
    pages["/spa"] = "<!doctype html><title>spa</title><p>spa</p>";
    const app = await createApp(worker.url, admin, {
      type: "spa",
      redirect_uris: [cb],
      allowed_origins: [site.origin],
      refresh_tokens: true,
    });
    assert.equal(app.token_endpoint_auth_method, "none");
    const config = await configFor(app, client.None());
    const { context, page } = await newPage(browser);
    try {
      // openid-client redeems the first code.
      const one = await oidcRequest(config, cb, "openid email offline_access");
      await page.goto(one.url.href);
      const landed = await loginAndLand(page, user, cb);
      const tokens = await client.authorizationCodeGrant(config, landed, one.checks);
      assert.equal(tokens.claims().sub, user.id);
      assert.equal(typeof tokens.refresh_token, "string", "refresh_tokens on and offline_access");

      // The page on the registered origin redeems the next code itself.
      const two = authorizationParams({ client_id: app.client_id, redirect_uri: cb, scope: "openid email offline_access" });
      await page.goto(authorizeUrl(two.params));
      const back = await waitForRedirect(page, cb);
      const code = back.searchParams.get("code");
      assert.ok(code, `a code without the login page (SSO): ${back}`);
      const tokenUrl = `${issuer}/token`;
      const body = new URLSearchParams({
        grant_type: "authorization_code",
        code,
        redirect_uri: cb,
        code_verifier: two.verifier,
        client_id: app.client_id,
      }).toString();
      const fromPage = await page.evaluate(
        async ({ tokenUrl, body }) => {
          const r = await fetch(tokenUrl, {
            method: "POST",
            headers: { "content-type": "application/x-www-form-urlencoded" },
            body,
          });
          return { status: r.status, cacheControl: r.headers.get("cache-control"), json: await r.json() };
        },
        { tokenUrl, body },
      );
      assert.equal(fromPage.status, 200, JSON.stringify(fromPage));
      assert.equal(typeof fromPage.json.access_token, "string");
      assert.equal(typeof fromPage.json.id_token, "string");
      assert.match(fromPage.cacheControl ?? "", /no-store/);
      assert.equal(decodeJwtPart(fromPage.json.id_token, 1).nonce, two.params.nonce);

      // A refresh from the registered origin works too.
      const refreshed = await page.evaluate(
        async ({ tokenUrl, body }) => {
          const r = await fetch(tokenUrl, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body });
          return { status: r.status, json: await r.json() };
        },
        {
          tokenUrl,
          body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: fromPage.json.refresh_token, client_id: app.client_id }).toString(),
        },
      );
      assert.equal(refreshed.status, 200, JSON.stringify(refreshed));
      assert.notEqual(refreshed.json.refresh_token, fromPage.json.refresh_token);

      // An origin the app does not register cannot read /token's answer.
      const three = authorizationParams({ client_id: app.client_id, redirect_uri: cb, scope: "openid" });
      await page.goto(authorizeUrl(three.params));
      const third = await waitForRedirect(page, cb);
      pages["/elsewhere"] = "<!doctype html><title>elsewhere</title>";
      await page.goto(`${stranger.origin}/elsewhere`);
      const refused = await page.evaluate(
        async ({ tokenUrl, body }) => {
          try {
            const r = await fetch(tokenUrl, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body });
            return { read: true, status: r.status, text: await r.text() };
          } catch (e) {
            return { read: false, error: String(e) };
          }
        },
        {
          tokenUrl,
          body: new URLSearchParams({
            grant_type: "authorization_code",
            code: third.searchParams.get("code"),
            redirect_uri: cb,
            code_verifier: three.verifier,
            client_id: app.client_id,
          }).toString(),
        },
      );
      assert.equal(refused.read, false, `an unregistered origin read the answer: ${JSON.stringify(refused)}`);
    } finally {
      await context.close();
    }
  });

  test("native app: a loopback redirect on a port the registration does not name", TIMEOUT, async () => {
    const app = await createApp(worker.url, admin, { type: "native", redirect_uris: ["http://127.0.0.1/callback"] });
    const config = await configFor(app, client.None());
    const cb = `${site.origin}/callback`; // the site's random port
    const { url, checks } = await oidcRequest(config, cb, "openid profile");
    const { context, page } = await newPage(browser);
    try {
      await page.goto(url.href);
      const landed = await loginAndLand(page, user, cb);
      assert.equal(landed.port, String(site.port));
      const tokens = await client.authorizationCodeGrant(config, landed, checks);
      assert.equal(tokens.claims().sub, user.id);
      const info = await client.fetchUserInfo(config, tokens.access_token, user.id);
      assert.equal(info.name, "Grace Hopper");
      assert.equal(info.email, undefined, "no email without the email scope");
      // Only the port may differ: another path is not registered.
      const wrongPath = await page.goto(authorizeUrl(
        authorizationParams({ client_id: app.client_id, redirect_uri: `${site.origin}/elsewhere`, scope: "openid" }).params,
      ));
      assert.equal(wrongPath.status(), 400);
      assert.ok(page.url().startsWith(issuer), `stays on the issuer: ${page.url()}`);
    } finally {
      await context.close();
    }
  });
});

describe("sessions in Chromium", () => {
  test("SSO, prompt=login, prompt=none, first-party apps and remembered consent", TIMEOUT, async () => {
    const cb = `${site.origin}/sso/cb`;
    const app = await createApp(worker.url, admin, { type: "web", redirect_uris: [cb] });
    const firstParty = await createApp(worker.url, admin, { type: "web", redirect_uris: [cb], first_party: true });
    const other = await createApp(worker.url, admin, { type: "web", redirect_uris: [cb] });
    const request = (a, extra = {}) => authorizationParams({ client_id: a.client_id, redirect_uri: cb, scope: "openid email", ...extra });
    const redeem = async (a, req, landed) => {
      const r = await redeemCode(issuer, a, { code: landed.searchParams.get("code"), verifier: req.verifier, redirect_uri: cb });
      assert.equal(r.status, 200, r.text);
      return decodeJwtPart(r.json.id_token, 1);
    };

    const { context, page } = await newPage(browser);
    const fresh = await newPage(browser);
    try {
      // First login: login page, then consent.
      const one = request(app);
      await page.goto(authorizeUrl(one.params));
      assert.ok(await isLoginPage(page));
      await fillLogin(page, user.username, user.password);
      await page.locator('button[name="decision"][value="allow"]').waitFor();
      await answerConsent(page, "allow");
      const first = await redeem(app, one, await waitForRedirect(page, cb));

      // The same browser: no login page, no consent page (remembered), same session.
      const two = request(app);
      const res = await page.goto(authorizeUrl(two.params));
      assert.ok(page.url().startsWith(cb), `straight to the app (SSO), got ${res.status()} at ${page.url()}`);
      const second = await redeem(app, two, new URL(page.url()));
      assert.equal(second.sub, user.id);
      assert.equal(second.sid, first.sid, "one session");
      assert.equal(second.auth_time, first.auth_time, "no new authentication");
      assert.equal(second.nonce, two.params.nonce);

      // prompt=login shows the login page even so.
      const three = request(app, { prompt: "login" });
      await page.goto(authorizeUrl(three.params));
      assert.ok(await isLoginPage(page), "prompt=login shows the login page");
      const third = await redeem(app, three, await loginAndLand(page, user, cb));
      assert.ok(third.auth_time >= first.auth_time);

      // A first-party app: no login (session) and no consent page.
      const fp = request(firstParty);
      await page.goto(authorizeUrl(fp.params));
      assert.ok(page.url().startsWith(cb), `first-party app straight through: ${page.url()}`);
      assert.equal((await redeem(firstParty, fp, new URL(page.url()))).sub, user.id);

      // prompt=none with a session, for an app never consented to: consent_required.
      const nc = request(other, { prompt: "none" });
      await page.goto(authorizeUrl(nc.params));
      assert.ok(page.url().startsWith(cb), page.url());
      const ncUrl = new URL(page.url());
      assert.equal(ncUrl.searchParams.get("error"), "consent_required");
      assert.equal(ncUrl.searchParams.get("state"), nc.params.state);
      assert.equal(ncUrl.searchParams.get("iss"), issuer);
      assert.equal(ncUrl.searchParams.get("code"), null);
      // Without prompt=none the same app shows its consent page, not the login page.
      await page.goto(authorizeUrl(request(other).params));
      assert.ok(await isConsentPage(page), "consent page for a new app in the same session");
      assert.equal(await isLoginPage(page), false);

      // A fresh browser with prompt=none: login_required at the redirect URI.
      const none = request(app, { prompt: "none" });
      await fresh.page.goto(authorizeUrl(none.params));
      assert.ok(fresh.page.url().startsWith(cb), fresh.page.url());
      const noneUrl = new URL(fresh.page.url());
      assert.equal(noneUrl.searchParams.get("error"), "login_required");
      assert.equal(noneUrl.searchParams.get("state"), none.params.state);
      assert.equal(noneUrl.searchParams.get("iss"), issuer);

      // max_age=0 forces a login too (the last login was moments ago).
      const four = request(app, { max_age: "0" });
      await page.goto(authorizeUrl(four.params));
      assert.ok(await isLoginPage(page), "max_age=0 shows the login page");
      const fourth = await redeem(app, four, await loginAndLand(page, user, cb));
      assert.ok(fourth.auth_time >= third.auth_time);
    } finally {
      await context.close();
      await fresh.context.close();
    }
  });

  test("form_post: the browser posts code, state and iss to the redirect URI", TIMEOUT, async () => {
    const cb = `${site.origin}/fp/cb`;
    const app = await createApp(worker.url, admin, { type: "web", redirect_uris: [cb] });
    const config = await configFor(app);
    const { url, checks } = await oidcRequest(config, cb, "openid email", { response_mode: "form_post" });
    const { context, page } = await newPage(browser);
    try {
      await page.goto(url.href);
      await fillLogin(page, user.username, user.password);
      await waitForRedirect(page, cb, { consent: "allow" });
      const posted = await site.waitFor((r) => r.path === "/fp/cb");
      assert.equal(posted.method, "POST");
      assert.match(posted.headers["content-type"] ?? "", /^application\/x-www-form-urlencoded/);
      const form = new URLSearchParams(posted.body);
      assert.ok(form.get("code"));
      assert.equal(form.get("state"), checks.expectedState);
      assert.equal(form.get("iss"), issuer);
      assert.equal(new URL(posted.url).search, "", "nothing in the query");
      const request = new Request(cb, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: posted.body,
      });
      const tokens = await client.authorizationCodeGrant(config, request, checks);
      assert.equal(tokens.claims().sub, user.id);
    } finally {
      await context.close();
    }
  });

  test("logout: RP-initiated with id_token_hint, and the confirmation page without one", TIMEOUT, async () => {
    const cb = `${site.origin}/lo/cb`;
    const bye = `${site.origin}/lo/bye`;
    const app = await createApp(worker.url, admin, {
      type: "web",
      redirect_uris: [cb],
      post_logout_redirect_uris: [bye],
      first_party: true,
    });
    const config = await configFor(app);
    const silent = () => authorizationParams({ client_id: app.client_id, redirect_uri: cb, scope: "openid", prompt: "none" });

    const { context, page } = await newPage(browser);
    const other = await newPage(browser);
    try {
      const { url, checks } = await oidcRequest(config, cb, "openid");
      await page.goto(url.href);
      const tokens = await client.authorizationCodeGrant(config, await loginAndLand(page, user, cb), checks);
      await page.goto(authorizeUrl(silent().params));
      assert.ok(new URL(page.url()).searchParams.get("code"), `a session before logout: ${page.url()}`);

      const logoutState = client.randomState();
      const endSession = client.buildEndSessionUrl(config, {
        id_token_hint: tokens.id_token,
        post_logout_redirect_uri: bye,
        state: logoutState,
      });
      assert.equal(endSession.origin + endSession.pathname, `${issuer}/logout`);
      await page.goto(endSession.href);
      await page.waitForURL((u) => String(u).startsWith(bye));
      assert.equal(new URL(page.url()).searchParams.get("state"), logoutState);

      await page.goto(authorizeUrl(silent().params));
      assert.equal(new URL(page.url()).searchParams.get("error"), "login_required", page.url());
      await page.goto(authorizeUrl(authorizationParams({ client_id: app.client_id, redirect_uri: cb, scope: "openid" }).params));
      assert.ok(await isLoginPage(page), "the login page again after logout");

      // Without id_token_hint: a confirmation page first.
      await other.page.goto(authorizeUrl(authorizationParams({ client_id: app.client_id, redirect_uri: cb, scope: "openid" }).params));
      await loginAndLand(other.page, user, cb);
      const confirm = await other.page.goto(`${issuer}/logout`);
      assert.equal(confirm.status(), 200);
      const button = other.page.locator('button[name="decision"][value="logout"]');
      assert.equal(await button.count(), 1, "a confirmation button");
      await Promise.all([other.page.waitForNavigation(), button.click()]);
      await other.page.goto(authorizeUrl(silent().params));
      assert.equal(new URL(other.page.url()).searchParams.get("error"), "login_required", other.page.url());
    } finally {
      await context.close();
      await other.context.close();
    }
  });
});

describe("pages in Chromium", () => {
  test("the login page: strict CSP, no framing, labelled inputs, a form posting to /login", TIMEOUT, async () => {
    const cb = `${site.origin}/pg/cb`;
    const app = await createApp(worker.url, admin, { type: "web", redirect_uris: [cb] });
    const target = authorizeUrl(authorizationParams({ client_id: app.client_id, redirect_uri: cb, scope: "openid" }).params);
    const { context, page } = await newPage(browser);
    try {
      const res = await page.goto(target);
      assert.equal(res.status(), 200);
      const headers = res.headers();
      assert.match(headers["content-type"] ?? "", /^text\/html/);
      const csp = headers["content-security-policy"] ?? "";
      const directives = Object.fromEntries(
        csp.split(";").map((d) => d.trim().split(/\s+/)).filter((d) => d[0]).map(([k, ...v]) => [k.toLowerCase(), v]),
      );
      assert.deepEqual(directives["frame-ancestors"], ["'none'"], `CSP: ${csp}`);
      const scripts = directives["script-src"] ?? directives["default-src"];
      assert.ok(scripts, `CSP restricts scripts: ${csp}`);
      for (const bad of ["'unsafe-eval'", "*", "http:", "https:", "data:"]) assert.ok(!scripts.includes(bad), `script sources ${scripts}`);
      if (scripts.includes("'unsafe-inline'")) {
        assert.ok(scripts.some((s) => /^'(nonce|sha256|sha384|sha512)-/.test(s)), `inline scripts allowed: ${csp}`);
      }
      assert.ok(directives["default-src"] || directives["object-src"], `CSP: ${csp}`);

      const labelled = await page.evaluate(() =>
        ["username", "password"].map((id) => {
          const el = document.getElementById(id);
          return el ? { labels: el.labels?.length ?? 0, type: el.type } : null;
        }),
      );
      assert.ok(labelled[0] && labelled[0].labels > 0, "a label for #username");
      assert.ok(labelled[1] && labelled[1].labels > 0, "a label for #password");
      assert.equal(labelled[1].type, "password");
      const form = await page.evaluate(() => {
        const f = document.getElementById("password").form;
        return { method: f.method, action: f.action, hidden: [...f.querySelectorAll("input[type=hidden]")].map((i) => i.name) };
      });
      assert.equal(form.method, "post");
      assert.equal(form.action, `${issuer}/login`);
      assert.ok(form.hidden.includes("interaction") && form.hidden.includes("csrf"), `hidden inputs: ${form.hidden}`);

      // Framed by another origin, the page does not render.
      pages["/pg/frame"] = `<!doctype html><title>frame</title><iframe id="f" src="${target.replace(/&/g, "&amp;")}"></iframe>`;
      await page.goto(`${site.origin}/pg/frame`);
      await page.waitForLoadState("load");
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.equal(page.frames().length, 2, "the frame is there");
      for (const frame of page.frames()) {
        if (frame === page.mainFrame()) continue;
        const shown = await frame.locator("#password").count().catch(() => 0);
        assert.equal(shown, 0, "the login form renders inside a frame");
      }
    } finally {
      await context.close();
    }
  });

  test("an unknown client or unregistered redirect URI: an HTML 400 page on the issuer, no redirect", TIMEOUT, async () => {
    const cb = `${site.origin}/bad/cb`;
    const app = await createApp(worker.url, admin, { type: "web", redirect_uris: [cb] });
    const { context, page } = await newPage(browser);
    try {
      const cases = [
        ["unknown client", authorizationParams({ client_id: "no-such-client-e2e", redirect_uri: cb }).params],
        ["unregistered redirect_uri", authorizationParams({ client_id: app.client_id, redirect_uri: `${site.origin}/bad/other` }).params],
        ["a redirect_uri on another host", authorizationParams({ client_id: app.client_id, redirect_uri: "https://evil.example/cb" }).params],
      ];
      for (const [what, params] of cases) {
        const res = await page.goto(authorizeUrl(params));
        assert.equal(res.status(), 400, what);
        assert.match(res.headers()["content-type"] ?? "", /^text\/html/, what);
        assert.ok(page.url().startsWith(`${issuer}/authorize`), `${what}: stays on the issuer, at ${page.url()}`);
        assert.ok((await page.locator("body").innerText()).trim().length > 0, `${what}: the page says something`);
      }
      assert.equal(site.requests.filter((r) => r.path.startsWith("/bad/")).length, 0, "nothing reached the app");
    } finally {
      await context.close();
    }
  });

  test("a wrong password shows an alert; a disabled user cannot sign in", TIMEOUT, async () => {
    const cb = `${site.origin}/pw/cb`;
    const app = await createApp(worker.url, admin, { type: "web", redirect_uris: [cb], first_party: true });
    const { context, page } = await newPage(browser);
    try {
      const req = authorizationParams({ client_id: app.client_id, redirect_uri: cb, scope: "openid" });
      await page.goto(authorizeUrl(req.params));
      await fillLogin(page, user.username, "not-the-password-1");
      const alert = page.locator('[role="alert"]');
      await alert.waitFor();
      assert.match(await alert.innerText(), /password/i);
      assert.ok(page.url().startsWith(issuer), page.url());
      assert.ok(await isLoginPage(page), "the form again");
      assert.equal(await page.locator('input[type="hidden"][name="interaction"]').count(), 1);
      assert.equal(await page.locator('input[type="hidden"][name="csrf"]').count(), 1);
      // An unknown user gets the same answer.
      await fillLogin(page, "nobody_e2e", "not-the-password-1");
      await page.locator('[role="alert"]').waitFor();
      assert.match(await page.locator('[role="alert"]').innerText(), /password/i);
      // The right password on the same form goes through.
      await fillLogin(page, user.username, user.password);
      const landed = await waitForRedirect(page, cb);
      assert.equal(landed.searchParams.get("state"), req.params.state);
      assert.ok(landed.searchParams.get("code"));

      const banned = await createUser(worker.url, admin);
      await disableUser(worker.url, admin, banned.id);
      const fresh = await newPage(browser);
      try {
        const breq = authorizationParams({ client_id: app.client_id, redirect_uri: cb, scope: "openid" });
        await fresh.page.goto(authorizeUrl(breq.params));
        await fillLogin(fresh.page, banned.username, banned.password);
        await fresh.page.locator('[role="alert"]').waitFor();
        assert.ok(fresh.page.url().startsWith(issuer), fresh.page.url());
        assert.ok(!site.requests.some((r) => r.url.includes(breq.params.state)), "the disabled user never reached the app");
      } finally {
        await fresh.context.close();
      }
    } finally {
      await context.close();
    }
  });
});
