// The browser package (crates/web/pkg) in Debian's Chromium against the real
// issuer on workerd: the full login, every way an ID token can be tampered with,
// replayed and forged callbacks, mix-up, silent login with and without the
// issuer's cookies, one refresh across tabs, and logout in every tab.

import assert from "node:assert/strict";
import crypto from "node:crypto";
import { after, before, describe, test } from "node:test";
import * as jose from "jose";
import { adminToken, startWorker } from "./harness.mjs";
import { fillLogin, isLoginPage, launchBrowser, newPage, waitForRedirect } from "./support/browser.mjs";
import { createApp, createUser } from "./support/flows.mjs";
import { openApp, startSpa } from "./support/spa.mjs";

const TIMEOUT = { timeout: 90_000 };

let worker;
let issuer;
let browser;
let admin;
let user;
let spa; // the app's origin, same site as the issuer
let crossSite; // the same app on `localhost`: the issuer's cookies are third-party there

before(async () => {
  worker = await startWorker();
  issuer = worker.issuer;
  [browser, spa, crossSite] = await Promise.all([launchBrowser(), startSpa(), startSpa({ host: "localhost" })]);
  admin = await adminToken(worker.url);
  user = await createUser(worker.url, admin, { name: "Ada Lovelace" });
});

after(async () => {
  await browser?.close();
  await spa?.close();
  await crossSite?.close();
  await worker?.stop();
});

/** Registers an SPA for `site` and points the site's app at it. */
async function spaApp(site, { scope = "profile email", options = {}, fields = {} } = {}) {
  const app = await createApp(worker.url, admin, {
    type: "spa",
    redirect_uris: [site.app],
    post_logout_redirect_uris: [`${site.origin}/bye`],
    web_origins: [site.origin],
    allowed_origins: [site.origin],
    first_party: true,
    refresh_tokens: true,
    ...fields,
  });
  site.configure({
    issuer,
    clientId: app.client_id,
    redirectUri: site.app,
    postLogoutRedirectUri: `${site.origin}/bye`,
    scope,
    ...options,
  });
  return app;
}

/** Signs in through the issuer's pages from the app; resolves when the app handled the callback. */
async function signIn(page, site) {
  await openApp(page, site.app);
  await page.evaluate(() => {
    window.auth.login();
  });
  await page.waitForURL((u) => u.href.startsWith(issuer));
  assert.ok(await isLoginPage(page), "the issuer's login page");
  await fillLogin(page, user.username, user.password);
  await waitForRedirect(page, site.app, { consent: "allow" });
  await openApp(page);
  return await page.evaluate(() => window.callback);
}

describe("browser package: sign-in", () => {
  test("the full login: PKCE, the ID token verified, the address bar cleaned, an access token", TIMEOUT, async () => {
    await spaApp(spa);
    const { context, page } = await newPage(browser);
    try {
      const tokenRequests = [];
      page.on("request", (r) => {
        if (r.url() === `${issuer}/token`) tokenRequests.push(r.postData());
      });
      const callback = await signIn(page, spa);
      assert.equal(callback.error, undefined, JSON.stringify(callback.error));
      assert.equal(callback.user.sub, user.id);
      assert.equal(callback.user.name, "Ada Lovelace");
      assert.equal(callback.user.iss, issuer);
      assert.equal(page.url(), spa.app, "code, state and iss are gone from the address bar");
      assert.equal(tokenRequests.length, 1);
      const sent = new URLSearchParams(tokenRequests[0]);
      assert.equal(sent.get("grant_type"), "authorization_code");
      assert.match(sent.get("code_verifier"), /^[A-Za-z0-9_-]{43}$/);
      const state = await page.evaluate(async () => ({
        token: await window.auth.getAccessToken(),
        authenticated: window.auth.isAuthenticated(),
        user: window.auth.getUser(),
        events: window.events,
        stored: Object.keys(localStorage).concat(Object.keys(sessionStorage)),
      }));
      assert.equal(state.authenticated, true);
      assert.equal(state.user.sub, user.id);
      assert.equal(jose.decodeJwt(state.token).sub, user.id);
      assert.deepEqual(state.events, [{ sub: user.id, reason: "login" }]);
      assert.ok(
        state.stored.every((key) => !key.endsWith(":session")),
        `no tokens in storage by default: ${state.stored}`,
      );
    } finally {
      await context.close();
    }
  });

  test("renew() while the access token is still good renews it with the refresh token (not via other_tab)", TIMEOUT, async () => {
    await spaApp(spa, { scope: "profile offline_access" });
    const { context, page } = await newPage(browser);
    try {
      const callback = await signIn(page, spa);
      assert.equal(callback.error, undefined, JSON.stringify(callback.error));
      const refreshes = [];
      page.on("request", (r) => {
        if (r.url() === `${issuer}/token` && r.postData()?.includes("grant_type=refresh_token")) refreshes.push(r);
      });
      const result = await page.evaluate(async () => {
        const before = await window.auth.getAccessToken();
        const { via } = await window.auth.renew();
        return { via, renewed: (await window.auth.getAccessToken()) !== before, last: window.auth.lastRenewal?.via };
      });
      assert.deepEqual(result, { via: "refresh_token", renewed: true, last: "refresh_token" });
      assert.equal(refreshes.length, 1);
    } finally {
      await context.close();
    }
  });

  test("a replayed callback and a forged state are refused with state_mismatch", TIMEOUT, async () => {
    await spaApp(spa);
    const { context, page } = await newPage(browser);
    try {
      let callbackUrl;
      page.on("framenavigated", (frame) => {
        if (frame === page.mainFrame() && frame.url().includes("state=")) callbackUrl ??= frame.url();
      });
      const first = await signIn(page, spa);
      assert.equal(first.user.sub, user.id);
      await openApp(page, callbackUrl);
      const replayed = await page.evaluate(() => window.callback);
      assert.equal(replayed.error.code, "state_mismatch");
      assert.equal(replayed.error.name, "GatehouseError");
      await openApp(page, `${spa.app}?code=abc&state=forged&iss=${encodeURIComponent(issuer)}`);
      assert.equal((await page.evaluate(() => window.callback)).error.code, "state_mismatch");
    } finally {
      await context.close();
    }
  });

  test("an error the issuer returns reaches the app with its OAuth code", TIMEOUT, async () => {
    await spaApp(spa);
    const { context, page } = await newPage(browser);
    try {
      await openApp(page, spa.app);
      await page.evaluate(() => {
        window.auth.login({ prompt: "none" });
      });
      await page.waitForURL((u) => u.href.startsWith(spa.app) && u.href.includes("state="));
      await openApp(page);
      const callback = await page.evaluate(() => window.callback);
      assert.equal(callback.error.code, "login_required");
      assert.equal(page.url(), spa.app);
    } finally {
      await context.close();
    }
  });
});

// ---------------------------------------------------------------------------
// Tampered tokens: the issuer's authorize and token endpoints answered by the
// test, with ID tokens signed by a key the test also serves as the issuer's JWKS.

const testKeys = {};

async function keyPair(alg) {
  testKeys[alg] ??= await (async () => {
    const { publicKey, privateKey } = await jose.generateKeyPair(alg, { extractable: true });
    const jwk = { ...(await jose.exportJWK(publicKey)), kid: `test-${alg}`, alg, use: "sig" };
    return { privateKey, jwk };
  })();
  return testKeys[alg];
}

const atHash = (token) => crypto.createHash("sha256").update(token).digest().subarray(0, 16).toString("base64url");

/**
 * Runs a login whose token response carries the ID token `make` returns
 * (given the nonce, the access token and the client id); resolves to the app's
 * callback result.
 */
async function loginWithToken(make, { iss } = {}) {
  const app = await spaApp(spa);
  const { context, page } = await newPage(browser);
  try {
    const es = await keyPair("ES256");
    await page.route(`${issuer}/.well-known/jwks.json`, (route) =>
      route.fulfill({
        status: 200,
        contentType: "application/json",
        headers: { "access-control-allow-origin": "*" },
        body: JSON.stringify({ keys: [es.jwk] }),
      }),
    );
    let nonce;
    await page.route((u) => u.href.startsWith(`${issuer}/authorize?`), (route) => {
      const url = new URL(route.request().url());
      nonce = url.searchParams.get("nonce");
      const back = new URL(url.searchParams.get("redirect_uri"));
      back.searchParams.set("code", "test-code");
      back.searchParams.set("state", url.searchParams.get("state"));
      back.searchParams.set("iss", iss ?? issuer);
      return route.fulfill({ status: 302, headers: { location: back.href } });
    });
    await page.route(`${issuer}/token`, async (route) => {
      const accessToken = crypto.randomBytes(24).toString("base64url");
      const idToken = await make({ nonce, accessToken, clientId: app.client_id, key: es });
      return route.fulfill({
        status: 200,
        contentType: "application/json",
        headers: { "access-control-allow-origin": spa.origin },
        body: JSON.stringify({ access_token: accessToken, token_type: "Bearer", expires_in: 3600, id_token: idToken }),
      });
    });
    await openApp(page, spa.app);
    await page.evaluate(() => {
      window.auth.login();
    });
    await page.waitForURL((u) => u.href.startsWith(spa.app) && u.href.includes("state="));
    await openApp(page);
    return await page.evaluate(() => ({ callback: window.callback, authenticated: window.auth.isAuthenticated() }));
  } finally {
    await context.close();
  }
}

/** A well-formed ID token for the login, with `claims` and `header` overriding. */
async function idToken({ nonce, accessToken, clientId, key }, { claims = {}, header = {} } = {}) {
  const now = Math.floor(Date.now() / 1000);
  return await new jose.SignJWT({
    sub: "test-user",
    nonce,
    at_hash: atHash(accessToken),
    auth_time: now,
    ...claims,
  })
    .setProtectedHeader({ alg: "ES256", kid: key.jwk.kid, typ: "JWT", ...header })
    .setIssuer(claims.iss ?? issuer)
    .setAudience(claims.aud ?? clientId)
    .setIssuedAt(claims.iat ?? now)
    .setExpirationTime(claims.exp ?? now + 300)
    .sign(key.privateKey);
}

const segments = (token) => token.split(".");
const b64json = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");

describe("browser package: the ID token is verified in full", () => {
  test("a correctly signed token from the test key passes (the harness itself is sound)", TIMEOUT, async () => {
    const { callback, authenticated } = await loginWithToken((login) => idToken(login));
    assert.equal(callback.error, undefined, JSON.stringify(callback.error));
    assert.equal(callback.user.sub, "test-user");
    assert.equal(authenticated, true);
  });

  const cases = [
    [
      "a changed payload",
      async (login) => {
        const [h, , s] = segments(await idToken(login));
        const payload = jose.decodeJwt(await idToken(login));
        return [h, b64json({ ...payload, sub: "admin" }), s].join(".");
      },
      /signature/,
    ],
    [
      "a changed signature",
      async (login) => {
        const [h, p, s] = segments(await idToken(login));
        const bytes = Buffer.from(s, "base64url");
        bytes[5] ^= 1;
        return [h, p, bytes.toString("base64url")].join(".");
      },
      /signature/,
    ],
    [
      "alg none",
      async (login) => {
        const [, p] = segments(await idToken(login));
        return [b64json({ alg: "none", typ: "JWT" }), p, ""].join(".");
      },
      /algorithm/,
    ],
    [
      "HS256 keyed with the issuer's public key",
      async (login) => {
        const payload = jose.decodeJwt(await idToken(login));
        const secret = new TextEncoder().encode(JSON.stringify(login.key.jwk));
        return await new jose.SignJWT(payload)
          .setProtectedHeader({ alg: "HS256", kid: login.key.jwk.kid, typ: "JWT" })
          .sign(secret);
      },
      /algorithm/,
    ],
    ["another audience", (login) => idToken(login, { claims: { aud: "someone-else" } }), /audience/],
    ["another nonce", (login) => idToken(login, { claims: { nonce: "not-the-one-sent" } }), /nonce/],
    ["another issuer", (login) => idToken(login, { claims: { iss: "https://evil.example.com" } }), /issuer/],
    [
      "an expired token",
      (login) => {
        const now = Math.floor(Date.now() / 1000);
        return idToken(login, { claims: { iat: now - 7200, exp: now - 3600 } });
      },
      /expired/,
    ],
    ["a wrong at_hash", (login) => idToken(login, { claims: { at_hash: atHash("another access token") } }), /at_hash/],
    ["an access token's typ", (login) => idToken(login, { header: { typ: "at+jwt" } }), /type/],
    ["an unknown key", (login) => idToken(login, { header: { kid: "not-in-the-jwks" } }), /key unknown/],
  ];
  for (const [name, make, message] of cases) {
    test(`${name} is refused: invalid_id_token`, TIMEOUT, async () => {
      const { callback, authenticated } = await loginWithToken(make);
      assert.equal(callback.user, undefined, "no user from a tampered token");
      assert.equal(callback.error?.code, "invalid_id_token", JSON.stringify(callback.error));
      assert.match(callback.error.message, message);
      assert.equal(authenticated, false);
    });
  }

  test("a mix-up (the callback's iss names another issuer) is refused before the code is redeemed", TIMEOUT, async () => {
    const { callback } = await loginWithToken((login) => idToken(login), { iss: "https://evil.example.com" });
    assert.equal(callback.error?.code, "issuer_mismatch", JSON.stringify(callback.error));
  });
});
