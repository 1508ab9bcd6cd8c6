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
async function signIn(page, site, { prompt } = {}) {
  await openApp(page, site.app);
  await page.evaluate((prompt) => {
    window.auth.login({ prompt });
  }, prompt);
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
 * Answers the issuer's JWKS, authorize and token endpoints for `page` in the test:
 * the JWKS holds `keys()` (counted in `fetches`), /authorize redirects straight
 * back with a code and `iss` (the issuer unless said otherwise), and /token
 * answers an access token, a refresh token and the ID token `idTokenFor` makes
 * (given `{ nonce, accessToken, refreshing }`).
 */
async function fakeIssuer(page, { keys, idTokenFor, iss = issuer }) {
  const seen = { fetches: 0, nonce: undefined };
  const json = (body, origin = "*") => ({
    status: 200,
    contentType: "application/json",
    headers: { "access-control-allow-origin": origin },
    body: JSON.stringify(body),
  });
  await page.route(`${issuer}/.well-known/jwks.json`, (route) => {
    seen.fetches += 1;
    return route.fulfill(json({ keys: keys().map((k) => k.jwk) }));
  });
  await page.route((u) => u.href.startsWith(`${issuer}/authorize?`), (route) => {
    const url = new URL(route.request().url());
    seen.nonce = url.searchParams.get("nonce");
    const back = new URL(url.searchParams.get("redirect_uri"));
    back.search = new URLSearchParams({ code: "test-code", state: url.searchParams.get("state"), iss }).toString();
    return route.fulfill({ status: 302, headers: { location: back.href } });
  });
  await page.route(`${issuer}/token`, async (route) => {
    const refreshing = route.request().postData().includes("grant_type=refresh_token");
    const accessToken = crypto.randomBytes(24).toString("base64url");
    const idToken = await idTokenFor({ nonce: seen.nonce, accessToken, refreshing });
    const refreshToken = crypto.randomBytes(24).toString("base64url");
    return route.fulfill(
      json(
        { access_token: accessToken, token_type: "Bearer", expires_in: 3600, id_token: idToken, refresh_token: refreshToken },
        new URL(page.url()).origin,
      ),
    );
  });
  return seen;
}

/** Starts a login from the app and waits until the app handled its callback. */
async function loginThroughFake(page, site) {
  await openApp(page, site.app);
  await page.evaluate(() => {
    window.auth.login();
  });
  await page.waitForURL((u) => u.href.startsWith(site.app) && u.href.includes("state="));
  await openApp(page);
  return await page.evaluate(() => ({ callback: window.callback, authenticated: window.auth.isAuthenticated() }));
}

/**
 * Runs a login whose token response carries the ID token `make` returns
 * (given the nonce, the access token, the client id and the key); resolves to
 * the app's callback result.
 */
async function loginWithToken(make, { iss } = {}) {
  const app = await spaApp(spa);
  const { context, page } = await newPage(browser);
  try {
    const key = await keyPair("ES256");
    await fakeIssuer(page, {
      keys: () => [key],
      iss,
      idTokenFor: ({ nonce, accessToken }) => make({ nonce, accessToken, clientId: app.client_id, key }),
    });
    return await loginThroughFake(page, spa);
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

// ---------------------------------------------------------------------------
// Tabs: one refresh across tabs, logout everywhere.

/** Lets a test move the page's clock (Date.now, which the package reads) forward. */
const CLOCK = `(() => {
  const real = Date.now.bind(Date);
  let offset = 0;
  Date.now = () => real() + offset;
  window.__shiftClock = (ms) => { offset += ms; };
})();`;

/** Past the access token's hour (minus the 30 s the package renews early). */
const PAST_THE_HOUR_MS = 3_575_000;

describe("browser package: tabs", () => {
  test("two tabs needing a refresh at the same moment make exactly one refresh request", TIMEOUT, async () => {
    await spaApp(spa, { scope: "profile offline_access", options: { refreshTokenStorage: "local" } });
    const { context, page: first } = await newPage(browser);
    try {
      await context.addInitScript(CLOCK);
      const signedIn = await signIn(first, spa);
      assert.equal(signedIn.user?.sub, user.id, JSON.stringify(signedIn.error));
      const second = await context.newPage();
      await openApp(second, spa.app);
      assert.equal(await second.evaluate(() => window.auth.isAuthenticated()), true, "the kept session");

      const refreshes = [];
      context.on("request", (r) => {
        if (r.url() === `${issuer}/token` && r.postData()?.includes("grant_type=refresh_token")) refreshes.push(r);
      });
      const before = await first.evaluate(() => window.auth.getAccessToken());
      for (const tab of [first, second]) await tab.evaluate((ms) => window.__shiftClock(ms), PAST_THE_HOUR_MS);
      const [a, b] = await Promise.all(
        [first, second].map((tab) =>
          tab.evaluate(async () => ({ token: await window.auth.getAccessToken(), via: window.auth.lastRenewal?.via })),
        ),
      );
      assert.equal(refreshes.length, 1, "one refresh for both tabs");
      assert.notEqual(a.token, before, "a new access token");
      assert.equal(a.token, b.token, "both tabs hold the refreshed token");
      assert.deepEqual([a.via, b.via].sort(), ["other_tab", "refresh_token"]);
    } finally {
      await context.close();
    }
  });

  test("a refresh in one tab reaches the others when tokens are kept in memory", TIMEOUT, async () => {
    await spaApp(spa, { scope: "profile offline_access" });
    const { context, page: first } = await newPage(browser);
    try {
      await context.addInitScript(CLOCK);
      const second = await context.newPage();
      await openApp(second, spa.app);
      assert.equal(await second.evaluate(() => window.auth.isAuthenticated()), false);
      const signedIn = await signIn(first, spa);
      assert.equal(signedIn.user?.sub, user.id, JSON.stringify(signedIn.error));
      await second.waitForFunction(() => window.auth.isAuthenticated());
      assert.deepEqual(await second.evaluate(() => window.events), [{ sub: user.id, reason: "login" }]);
      assert.deepEqual(
        await second.evaluate(() => Object.keys(localStorage).filter((k) => k.endsWith(":session"))),
        [],
        "nothing kept in storage",
      );
      const shared = await second.evaluate(() => window.auth.getAccessToken());
      assert.equal(shared, await first.evaluate(() => window.auth.getAccessToken()));
    } finally {
      await context.close();
    }
  });

  test("logout in one tab signs out every tab and clears what was kept", TIMEOUT, async () => {
    await spaApp(spa, { scope: "profile offline_access", options: { refreshTokenStorage: "local" } });
    const { context, page: first } = await newPage(browser);
    try {
      const signedIn = await signIn(first, spa);
      assert.equal(signedIn.user?.sub, user.id, JSON.stringify(signedIn.error));
      const second = await context.newPage();
      await openApp(second, spa.app);
      assert.equal(await second.evaluate(() => window.auth.isAuthenticated()), true);
      const logouts = [];
      first.on("request", (r) => {
        if (r.url().startsWith(`${issuer}/logout`)) logouts.push(r.url());
      });
      await first.evaluate(() => {
        window.auth.logout();
      });
      await first.waitForURL(`${spa.origin}/bye`);
      await second.waitForFunction(() => !window.auth.isAuthenticated());
      const after = await second.evaluate(() => ({
        events: window.events,
        user: window.auth.getUser(),
        kept: Object.keys(localStorage).filter((k) => k.endsWith(":session")),
      }));
      assert.deepEqual(after.events.at(-1), { sub: null, reason: "logout" });
      assert.equal(after.user, null);
      assert.deepEqual(after.kept, []);
      assert.equal(logouts.length, 1, "the issuer's logout endpoint");
      const logoutUrl = new URL(logouts[0]);
      assert.ok(logoutUrl.searchParams.get("id_token_hint"), "RP-initiated logout with the ID token as hint");
      assert.equal(logoutUrl.searchParams.get("post_logout_redirect_uri"), `${spa.origin}/bye`);
    } finally {
      await context.close();
    }
  });
});

describe("browser package: keys", () => {
  test("a token signed by a key the cached JWKS lacks triggers one JWKS refetch", TIMEOUT, async () => {
    const app = await spaApp(spa, { scope: "profile offline_access" });
    const { context, page } = await newPage(browser);
    try {
      await context.addInitScript(CLOCK);
      const [old, rotated] = [await keyPair("ES256"), await keyPair("RS256")];
      const seen = await fakeIssuer(page, {
        keys: () => (seen.fetches === 1 ? [old] : [old, rotated]),
        idTokenFor: ({ nonce, accessToken, refreshing }) => {
          const iat = Math.floor(Date.now() / 1000) + (refreshing ? PAST_THE_HOUR_MS / 1000 : 0);
          const key = refreshing ? rotated : old;
          return idToken(
            { nonce: refreshing ? undefined : nonce, accessToken, clientId: app.client_id, key },
            { claims: { iat, exp: iat + 300 }, header: { alg: key.jwk.alg } },
          );
        },
      });
      const { callback } = await loginThroughFake(page, spa);
      assert.equal(callback.user?.sub, "test-user", JSON.stringify(callback.error));
      assert.equal(seen.fetches, 1);
      await page.evaluate((ms) => window.__shiftClock(ms), PAST_THE_HOUR_MS);
      const renewed = await page.evaluate(async () => {
        try {
          await window.auth.getAccessToken();
          return { via: window.auth.lastRenewal.via, user: window.auth.getUser() };
        } catch (e) {
          return { error: { code: e.code, message: e.message } };
        }
      });
      assert.equal(renewed.error, undefined, JSON.stringify(renewed.error));
      assert.equal(renewed.via, "refresh_token");
      assert.equal(seen.fetches, 2, "one refetch for the new kid");
    } finally {
      await context.close();
    }
  });
});

/** `auth.renew()` in `tab`: `{ renewed: true }`, or the error's code and message. */
async function tryRenew(tab) {
  return await tab.evaluate(async () => {
    try {
      await window.auth.renew();
      return { renewed: true };
    } catch (e) {
      return { code: e.code, message: e.message };
    }
  });
}

describe("browser package: silent login", () => {
  test("a new tab signs in silently in a hidden iframe (the issuer's cookie is same-site)", TIMEOUT, async () => {
    await spaApp(spa, { scope: "profile" });
    const { context, page } = await newPage(browser);
    try {
      const signedIn = await signIn(page, spa);
      assert.equal(signedIn.user?.sub, user.id, JSON.stringify(signedIn.error));
      const tab = await context.newPage();
      const frames = [];
      tab.on("request", (r) => {
        if (r.url().startsWith(`${issuer}/authorize?`)) frames.push(new URL(r.url()));
      });
      await openApp(tab, spa.app);
      assert.equal(await tab.evaluate(() => window.auth.isAuthenticated()), false, "memory only: a new tab starts empty");
      const renewed = await tab.evaluate(async () => ({
        result: await window.auth.renew(),
        user: window.auth.getUser(),
        token: await window.auth.getAccessToken(),
        iframes: document.querySelectorAll("iframe").length,
      }));
      assert.deepEqual(renewed.result, { via: "silent_login" });
      assert.equal(renewed.user.sub, user.id);
      assert.equal(jose.decodeJwt(renewed.token).sub, user.id);
      assert.equal(renewed.iframes, 0, "the iframe is removed");
      assert.equal(frames.length, 1);
      assert.equal(frames[0].searchParams.get("prompt"), "none");
      assert.equal(frames[0].searchParams.get("response_mode"), "web_message");
    } finally {
      await context.close();
    }
  });

  test("where the issuer's cookie is third-party, silent login says so, and a kept refresh token renews instead", TIMEOUT, async () => {
    await spaApp(crossSite, { scope: "profile" });
    const { context, page } = await newPage(browser);
    try {
      await context.addInitScript(CLOCK);
      const signedIn = await signIn(page, crossSite);
      assert.equal(signedIn.user?.sub, user.id, JSON.stringify(signedIn.error));
      const tab = await context.newPage();
      await openApp(tab, crossSite.app);
      const failed = await tryRenew(tab);
      assert.equal(failed.code, "login_required", JSON.stringify(failed));
      assert.match(failed.message, /third-party cookies/);

      // The same site with offline_access and a kept refresh token: renewal takes
      // the refresh token and never needs the iframe.
      await spaApp(crossSite, { scope: "profile offline_access", options: { refreshTokenStorage: "local" } });
      const again = await context.newPage();
      const kept = await signIn(again, crossSite, { prompt: "login" });
      assert.equal(kept.user?.sub, user.id, JSON.stringify(kept.error));
      const third = await context.newPage();
      const frames = [];
      third.on("request", (r) => {
        if (r.url().startsWith(`${issuer}/authorize?`)) frames.push(r.url());
      });
      await openApp(third, crossSite.app);
      await third.evaluate((ms) => window.__shiftClock(ms), PAST_THE_HOUR_MS);
      const renewed = await third.evaluate(async () => ({
        token: await window.auth.getAccessToken(),
        via: window.auth.lastRenewal?.via,
      }));
      assert.equal(renewed.via, "refresh_token");
      assert.equal(jose.decodeJwt(renewed.token).sub, user.id);
      assert.deepEqual(frames, [], "no iframe");
    } finally {
      await context.close();
    }
  });

  test("an origin the app does not register gets no silent login", TIMEOUT, async () => {
    await spaApp(spa, { scope: "profile", fields: { web_origins: [] } });
    const { context, page } = await newPage(browser);
    try {
      const signedIn = await signIn(page, spa);
      assert.equal(signedIn.user?.sub, user.id, JSON.stringify(signedIn.error));
      const tab = await context.newPage();
      await openApp(tab, spa.app);
      const failed = await tryRenew(tab);
      assert.equal(failed.code, "timeout", JSON.stringify(failed));
      assert.match(failed.message, /web origins/);
    } finally {
      await context.close();
    }
  });
});

describe("browser package: packaging", () => {
  test("a bundler resolves the package by its name and its bundle starts a client like the plain module does", TIMEOUT, async () => {
    const fs = await import("node:fs/promises");
    const path = await import("node:path");
    const os = await import("node:os");
    const { build } = await import("esbuild");
    const { PKG } = await import("./support/spa.mjs");
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "gatehouse-bundle-"));
    try {
      const manifest = JSON.parse(await fs.readFile(path.join(PKG, "package.json"), "utf8"));
      assert.equal(manifest.type, "module");
      assert.equal(manifest.exports["."].types, "./index.d.ts");
      for (const file of manifest.files) await fs.access(path.join(PKG, file));
      await fs.mkdir(path.join(dir, "node_modules", "@gatehouse"), { recursive: true });
      await fs.symlink(PKG, path.join(dir, "node_modules", "@gatehouse", "web"), "dir");
      await fs.writeFile(
        path.join(dir, "app.js"),
        `import { createClient, version } from "@gatehouse/web";
         const config = await (await fetch("/config.json")).json();
         const auth = await createClient(config);
         window.result = { version: version(), authenticated: auth.isAuthenticated() };`,
      );
      await fs.mkdir(path.join(dir, "out"));
      await build({
        entryPoints: [path.join(dir, "app.js")],
        bundle: true,
        format: "esm",
        minify: true,
        outfile: path.join(dir, "out", "app.js"),
        absWorkingDir: dir,
        logLevel: "silent",
      });
      const bundle = await fs.readFile(path.join(dir, "out", "app.js"), "utf8");
      const wasm = await fs.readFile(path.join(PKG, "gatehouse_web_bg.wasm"));
      const site = await startSpa({
        pages: {
          "/bundled": `<!doctype html><title>bundled</title><script type="module" src="/bundled/app.js"></script>`,
        },
      });
      try {
        await spaApp(site);
        const { context, page } = await newPage(browser);
        try {
          await page.route(`${site.origin}/bundled/app.js`, (route) =>
            route.fulfill({ status: 200, contentType: "text/javascript", body: bundle }),
          );
          await page.route(`${site.origin}/bundled/gatehouse_web_bg.wasm`, (route) =>
            route.fulfill({ status: 200, contentType: "application/wasm", body: wasm }),
          );
          await page.goto(`${site.origin}/bundled`);
          await page.waitForFunction(() => window.result !== undefined);
          const result = await page.evaluate(() => window.result);
          assert.equal(result.version, manifest.version);
          assert.equal(result.authenticated, false);
        } finally {
          await context.close();
        }
      } finally {
        await site.close();
      }
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
