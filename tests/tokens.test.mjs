// The interactive flows without a browser: /authorize, the login and consent
// forms and the redirect driven with plain fetch, then the tokens they yield.
// Refresh rotation and reuse detection, races on one code and one refresh token,
// code reuse, revocation (RFC 7009), introspection (RFC 7662), userinfo,
// expiry, logout, and a session and refresh token surviving a restart.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from "jose";
import { adminToken, decodeJwtPart, getJson, removeDir, startWorker, tempDir } from "./harness.mjs";
import {
  CookieJar,
  authorizationParams,
  createApp,
  createUser,
  disableUser,
  forms,
  introspect,
  jarFetch,
  loginForm,
  loginWithoutBrowser,
  redeemCode,
  refresh,
  revoke,
  signIn,
  userinfo,
} from "./support/flows.mjs";

// Redirect URIs on loopback that nothing listens on: fetch never follows them.
const CB = "http://127.0.0.1:9/cb";
const BYE = "http://127.0.0.1:9/bye";

let worker;
let issuer;
let admin;
let user;
let web; // confidential, client_secret_basic, refresh tokens
let foreign; // another confidential app
let spa; // public, refresh tokens
let jwks;
// Taken first, checked by the last test once they have expired.
let early;

before(async () => {
  worker = await startWorker();
  issuer = worker.issuer;
  admin = await adminToken(worker.url);
  user = await createUser(worker.url, admin, { name: "Ada Lovelace", given_name: "Ada" });
  const shortLived = await createApp(worker.url, admin, {
    type: "web",
    redirect_uris: [CB],
    first_party: true,
    access_token_lifetime: 60,
  });
  const taken = await signIn({ issuer, app: shortLived, user, redirect_uri: CB, scope: "openid email" });
  const unredeemed = authorizationParams({ client_id: shortLived.client_id, redirect_uri: CB });
  const pending = await loginWithoutBrowser({ issuer, jar: taken.jar, params: unredeemed.params });
  assert.ok(pending.code, `a second code by SSO: ${JSON.stringify(pending.steps)}`);
  early = {
    app: shortLived,
    accessToken: taken.token.access_token,
    exp: decodeJwtPart(taken.token.access_token, 1).exp,
    code: pending.code,
    verifier: unredeemed.verifier,
    codeAt: Date.now(),
  };
  [web, foreign, spa] = await Promise.all([
    createApp(worker.url, admin, { type: "web", redirect_uris: [CB], post_logout_redirect_uris: [BYE], refresh_tokens: true }),
    createApp(worker.url, admin, { type: "web", redirect_uris: [CB], refresh_tokens: true }),
    createApp(worker.url, admin, { type: "spa", redirect_uris: [CB], refresh_tokens: true, refresh_token_grace_period: 0 }),
  ]);
  jwks = createRemoteJWKSet(new URL(`${issuer}/.well-known/jwks.json`));
});

after(async () => {
  await worker?.stop();
});

const OFFLINE = "openid profile email offline_access";
const login = (app, scope = OFFLINE, opts = {}) => signIn({ issuer, app, user, redirect_uri: CB, scope, ...opts });

function assertOAuthError(r, status, error, what = "") {
  assert.equal(r.status, status, `${what} ${r.text}`);
  assert.equal(r.json?.error, error, `${what} ${r.text}`);
}

function assertRedirectError(result, error, params, what = error) {
  assert.ok(result.location, `${what}: a redirect expected, got ${JSON.stringify(result.steps)} ${result.page?.html?.slice(0, 300) ?? ""}`);
  assert.ok(result.location.startsWith(CB), `${what}: to the redirect URI, got ${result.location}`);
  assert.equal(result.response.get("error"), error, `${what}: ${result.location}`);
  assert.equal(result.response.get("state"), params.state, what);
  assert.equal(result.response.get("iss"), issuer, what);
  assert.equal(result.response.get("code"), null, what);
}

const atHash = (accessToken) =>
  createHash("sha256").update(accessToken).digest().subarray(0, 16).toString("base64url");

describe("discovery", () => {
  test("advertises the interactive endpoints and capabilities", async () => {
    const { json: md } = await getJson(`${issuer}/.well-known/openid-configuration`);
    for (const [key, path] of [
      ["authorization_endpoint", "/authorize"],
      ["token_endpoint", "/token"],
      ["userinfo_endpoint", "/userinfo"],
      ["revocation_endpoint", "/revoke"],
      ["introspection_endpoint", "/introspect"],
      ["end_session_endpoint", "/logout"],
    ]) {
      assert.equal(md[key], `${issuer}${path}`, key);
    }
    assert.deepEqual(md.response_types_supported, ["code"]);
    assert.deepEqual([...md.response_modes_supported].sort(), ["form_post", "fragment", "query", "web_message"]);
    for (const g of ["authorization_code", "refresh_token"]) assert.ok(md.grant_types_supported.includes(g), g);
    assert.deepEqual(md.code_challenge_methods_supported, ["S256"]);
    assert.equal(md.authorization_response_iss_parameter_supported, true);
    assert.deepEqual(md.id_token_signing_alg_values_supported, ["RS256", "ES256"]);
    assert.ok(Array.isArray(md.prompt_values_supported) && md.prompt_values_supported.includes("none"));
    assert.equal(typeof md.claims_parameter_supported, "boolean");
    assert.equal(md.request_parameter_supported, false);
    assert.equal(md.request_uri_parameter_supported, false);
  });
});

describe("authorization without a browser", () => {
  test("login page, consent, a code in the query; tokens and a strict ID token", async () => {
    const { params, verifier } = authorizationParams({ client_id: web.client_id, redirect_uri: CB, scope: OFFLINE });
    const flow = await loginWithoutBrowser({ issuer, params, verifier, username: user.username, password: user.password });
    const kinds = flow.steps.map((s) => s.kind).filter((k) => k !== "internal");
    assert.deepEqual(kinds, ["login", "consent", "redirect"], JSON.stringify(flow.steps));
    assert.equal(flow.steps.at(-1).status, 303);
    const location = new URL(flow.location);
    assert.equal(location.origin + location.pathname, CB);
    assert.equal(location.searchParams.get("state"), params.state);
    assert.equal(location.searchParams.get("iss"), issuer);
    assert.ok(flow.code);

    // A session cookie: HttpOnly and SameSite.
    const session = flow.jar.all().filter((c) => c.attrs.httponly && typeof c.attrs.samesite === "string");
    assert.ok(session.length > 0, `an HttpOnly SameSite cookie: ${JSON.stringify(flow.jar.all().map((c) => [c.name, c.attrs]))}`);

    const started = Math.floor(Date.now() / 1000);
    const r = await redeemCode(issuer, web, { code: flow.code, verifier, redirect_uri: CB });
    assert.equal(r.status, 200, r.text);
    assert.match(r.headers.get("cache-control") ?? "", /no-store/);
    assert.equal(r.json.token_type, "Bearer");
    assert.ok(Number.isInteger(r.json.expires_in) && r.json.expires_in > 0);
    assert.deepEqual(new Set(r.json.scope.split(" ")), new Set(OFFLINE.split(" ")));
    assert.equal(typeof r.json.refresh_token, "string");
    assert.equal(decodeProtectedHeader(r.json.access_token).typ, "at+jwt");

    assert.equal(decodeProtectedHeader(r.json.id_token).alg, "RS256");
    const { payload: id } = await jwtVerify(r.json.id_token, jwks, {
      issuer,
      audience: web.client_id,
      algorithms: ["RS256"],
    });
    assert.equal(id.sub, user.id);
    assert.equal(id.nonce, params.nonce);
    assert.ok(Number.isInteger(id.auth_time) && Math.abs(id.auth_time - started) < 120, `auth_time ${id.auth_time}`);
    assert.equal(typeof id.sid, "string");
    assert.ok(id.sid.length > 0);
    assert.equal(id.at_hash, atHash(r.json.access_token));
    if (id.azp !== undefined) assert.equal(id.azp, web.client_id);
    assert.ok(id.exp > id.iat);

    const { payload: at } = await jwtVerify(r.json.access_token, jwks, { issuer, typ: "at+jwt" });
    assert.equal(at.sub, user.id);
    assert.equal(at.client_id, web.client_id);
  });

  test("response_mode=fragment and form_post", async () => {
    const jar = (await login(web, "openid")).jar;
    const frag = authorizationParams({ client_id: web.client_id, redirect_uri: CB, response_mode: "fragment" });
    const f = await loginWithoutBrowser({ issuer, jar, params: frag.params });
    assert.ok(f.location, JSON.stringify(f.steps));
    const url = new URL(f.location);
    assert.equal(url.search, "", `nothing in the query: ${f.location}`);
    const inFragment = new URLSearchParams(url.hash.slice(1));
    assert.ok(inFragment.get("code"));
    assert.equal(inFragment.get("state"), frag.params.state);
    assert.equal(inFragment.get("iss"), issuer);
    const t = await redeemCode(issuer, web, { code: inFragment.get("code"), verifier: frag.verifier, redirect_uri: CB });
    assert.equal(t.status, 200, t.text);

    const post = authorizationParams({ client_id: web.client_id, redirect_uri: CB, response_mode: "form_post" });
    const p = await loginWithoutBrowser({ issuer, jar, params: post.params });
    assert.ok(p.formPost, `a form_post page: ${JSON.stringify(p.steps)} ${p.page?.html?.slice(0, 300) ?? ""}`);
    assert.equal(p.formPost.action, CB);
    assert.equal(p.formPost.fields.state, post.params.state);
    assert.equal(p.formPost.fields.iss, issuer);
    const t2 = await redeemCode(issuer, web, { code: p.formPost.fields.code, verifier: post.verifier, redirect_uri: CB });
    assert.equal(t2.status, 200, t2.text);
  });

  test("POST /authorize with a form body works like GET", async () => {
    const req = authorizationParams({ client_id: web.client_id, redirect_uri: CB });
    const flow = await loginWithoutBrowser({
      issuer,
      params: req.params,
      method: "POST",
      username: user.username,
      password: user.password,
    });
    assert.ok(flow.steps.some((s) => s.kind === "login"), JSON.stringify(flow.steps));
    assert.ok(flow.code, JSON.stringify(flow.steps));
    assert.equal(flow.response.get("state"), req.params.state);
  });

  test("max_age=0 asks for a login every time, even right after one; a generous max_age does not", async () => {
    const { jar } = await login(web, "openid");
    const relaxed = authorizationParams({ client_id: web.client_id, redirect_uri: CB, max_age: "3600" });
    const sso = await loginWithoutBrowser({ issuer, jar, params: relaxed.params });
    assert.ok(sso.code, `max_age=3600 uses the session: ${JSON.stringify(sso.steps)}`);
    // Within the same second as the last authentication too (three times, so a
    // second boundary cannot hide a bug).
    for (let i = 0; i < 3; i++) {
      const strict = authorizationParams({ client_id: web.client_id, redirect_uri: CB, max_age: "0" });
      const flow = await loginWithoutBrowser({ issuer, jar, params: strict.params, username: user.username, password: user.password });
      assert.equal(flow.steps[0].kind, "login", `max_age=0, try ${i + 1}: ${JSON.stringify(flow.steps)}`);
      assert.ok(flow.code, JSON.stringify(flow.steps));
    }
  });

  test("prompt=consent shows the consent page again though consent was given", async () => {
    const { jar } = await login(web, "openid email");
    const silent = authorizationParams({ client_id: web.client_id, redirect_uri: CB, scope: "openid email" });
    assert.ok((await loginWithoutBrowser({ issuer, jar, params: silent.params })).code, "consent remembered");
    const asked = authorizationParams({ client_id: web.client_id, redirect_uri: CB, scope: "openid email", prompt: "consent" });
    const flow = await loginWithoutBrowser({ issuer, jar, params: asked.params, consent: "stop" });
    assert.equal(flow.page?.kind, "consent", JSON.stringify(flow.steps));
    assert.ok(!flow.steps.some((s) => s.kind === "login"), "no login, the session stands");
  });

  test("deny on the consent page: access_denied at the redirect URI", async () => {
    const other = await createApp(worker.url, admin, { type: "web", redirect_uris: [CB] });
    const req = authorizationParams({ client_id: other.client_id, redirect_uri: CB });
    const flow = await loginWithoutBrowser({
      issuer,
      params: req.params,
      username: user.username,
      password: user.password,
      consent: "deny",
    });
    assert.ok(flow.steps.some((s) => s.kind === "consent"), JSON.stringify(flow.steps));
    assertRedirectError(flow, "access_denied", req.params);
  });

  test("bad requests for a known client and redirect URI come back as errors at the redirect URI", async () => {
    const jar = (await login(spa, "openid")).jar;
    const base = () => authorizationParams({ client_id: spa.client_id, redirect_uri: CB });
    const cases = [
      ["no code_challenge (public app)", { code_challenge: undefined, code_challenge_method: undefined }, "invalid_request"],
      ["code_challenge_method=plain", { code_challenge_method: "plain" }, "invalid_request"],
      ["response_type=token", { response_type: "token" }, "unsupported_response_type"],
      ["a request object", { request: "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0." }, "request_not_supported"],
      ["a request_uri", { request_uri: "urn:example:request" }, "request_uri_not_supported"],
      ["prompt=none with another value", { prompt: "none login" }, "invalid_request"],
    ];
    for (const [what, change, error] of cases) {
      const { params } = base();
      Object.assign(params, change);
      for (const [k, v] of Object.entries(params)) if (v === undefined) delete params[k];
      // With a session and without one: the error never depends on a login.
      for (const j of [jar.clone(), new CookieJar()]) {
        const flow = await loginWithoutBrowser({ issuer, jar: j, params });
        assertRedirectError(flow, error, params, what);
      }
    }
  });

  test("an unknown client or unregistered redirect URI: 400 HTML, never a redirect", async () => {
    const cases = [
      ["unknown client", authorizationParams({ client_id: "no-such-client-e2e", redirect_uri: CB }).params],
      ["unregistered redirect_uri", authorizationParams({ client_id: web.client_id, redirect_uri: "http://127.0.0.1:9/other" }).params],
      ["no redirect_uri", authorizationParams({ client_id: web.client_id, redirect_uri: undefined }).params],
    ];
    for (const [what, params] of cases) {
      const url = new URL(`${issuer}/authorize`);
      for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
      const r = await jarFetch(new CookieJar(), url);
      if (what === "no redirect_uri" && r.status === 200) {
        // One registered redirect URI may stand in for a missing one (OAuth 2.0): then the login page.
        assert.ok(loginForm(r.text, r.url), `${what}: login page or error`);
        continue;
      }
      assert.equal(r.status, 400, `${what}: ${r.status} ${r.headers.get("location") ?? ""}`);
      assert.equal(r.headers.get("location"), null, what);
      assert.match(r.headers.get("content-type") ?? "", /^text\/html/, what);
    }
  });

  test("the login form needs its CSRF cookie and token", async () => {
    const req = authorizationParams({ client_id: web.client_id, redirect_uri: CB });
    const url = new URL(`${issuer}/authorize`);
    for (const [k, v] of Object.entries(req.params)) url.searchParams.set(k, v);
    const jar = new CookieJar();
    const page = await jarFetch(jar, url);
    assert.equal(page.status, 200);
    assert.ok(jar.size > 0, "cookies are set with the login page");
    const form = loginForm(page.text, page.url);
    assert.ok(form, "a login form");
    assert.equal(form.method, "post");
    assert.equal(form.action, `${issuer}/login`);
    assert.ok("interaction" in form.hidden && "csrf" in form.hidden, JSON.stringify(form.hidden));
    const post = (j, fields) =>
      jarFetch(j, form.action, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", origin: issuer },
        body: new URLSearchParams({ ...form.hidden, username: user.username, password: user.password, ...fields }).toString(),
      });
    const reachedApp = (r) => [301, 302, 303, 307, 308].includes(r.status) && (r.headers.get("location") ?? "").startsWith(CB);
    const consentShown = (r) => forms(r.text, r.url).some((f) => f.buttons.some((b) => b.name === "decision"));
    // Without the cookies (a cross-site form post).
    const noCookie = await post(new CookieJar(), {});
    assert.ok(!reachedApp(noCookie) && !consentShown(noCookie), `no cookie: ${noCookie.status}`);
    // With the cookies but another csrf value.
    const forged = await post(jar.clone(), { csrf: `${form.hidden.csrf}x` });
    assert.ok(!reachedApp(forged) && !consentShown(forged), `forged csrf: ${forged.status}`);
    // The same post from a fresh login page with its cookies: on to the app (this
    // user consented to it above).
    const jar2 = new CookieJar();
    const page2 = await jarFetch(jar2, url);
    const form2 = loginForm(page2.text, page2.url);
    const good = await jarFetch(jar2, form2.action, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", origin: issuer },
      body: new URLSearchParams({ ...form2.hidden, username: user.username, password: user.password }).toString(),
    });
    assert.ok(reachedApp(good), `${good.status} ${good.headers.get("location")} ${good.text.slice(0, 300)}`);
    assert.ok(new URL(good.headers.get("location")).searchParams.get("code"));
  });
});

describe("codes", () => {
  test("a code redeems once; the second redemption revokes the first one's refresh token", async () => {
    const { params, verifier } = authorizationParams({ client_id: web.client_id, redirect_uri: CB, scope: OFFLINE });
    const flow = await loginWithoutBrowser({ issuer, params, verifier, username: user.username, password: user.password });
    const first = await redeemCode(issuer, web, { code: flow.code, verifier, redirect_uri: CB });
    assert.equal(first.status, 200, first.text);
    assert.ok(first.json.refresh_token);
    const second = await redeemCode(issuer, web, { code: flow.code, verifier, redirect_uri: CB });
    assertOAuthError(second, 400, "invalid_grant", "second redemption");
    assert.match(second.headers.get("cache-control") ?? "", /no-store/);
    assertOAuthError(await refresh(issuer, web, first.json.refresh_token), 400, "invalid_grant", "refresh after code reuse");
    const looked = await introspect(issuer, web, first.json.refresh_token);
    assert.equal(looked.status, 200, looked.text);
    assert.equal(looked.json.active, false);
  });

  test("a code is bound to its PKCE verifier, redirect URI and client", async () => {
    const { jar } = await login(web, "openid");
    const fresh = async () => {
      const req = authorizationParams({ client_id: web.client_id, redirect_uri: CB });
      const flow = await loginWithoutBrowser({ issuer, jar, params: req.params });
      assert.ok(flow.code, JSON.stringify(flow.steps));
      return { code: flow.code, verifier: req.verifier };
    };
    const a = await fresh();
    assertOAuthError(await redeemCode(issuer, web, { code: a.code, verifier: `${a.verifier}x`, redirect_uri: CB }), 400, "invalid_grant", "wrong verifier");
    const b = await fresh();
    const noVerifier = await redeemCode(issuer, web, { code: b.code, redirect_uri: CB });
    assert.equal(noVerifier.status, 400, noVerifier.text);
    assert.ok(["invalid_grant", "invalid_request"].includes(noVerifier.json?.error), noVerifier.text);
    const c = await fresh();
    assertOAuthError(
      await redeemCode(issuer, web, { code: c.code, verifier: c.verifier, redirect_uri: "http://127.0.0.1:9/other" }),
      400,
      "invalid_grant",
      "wrong redirect_uri",
    );
    const d = await fresh();
    assertOAuthError(await redeemCode(issuer, foreign, { code: d.code, verifier: d.verifier, redirect_uri: CB }), 400, "invalid_grant", "another client");
    const wrongSecret = await redeemCode(issuer, { ...web, client_secret: "not-the-secret" }, { code: d.code, verifier: d.verifier, redirect_uri: CB });
    assertOAuthError(wrongSecret, 401, "invalid_client", "wrong secret");
  });

  test("race: 50 concurrent redemptions of one code, exactly one succeeds", async () => {
    const { params, verifier } = authorizationParams({ client_id: spa.client_id, redirect_uri: CB, scope: "openid" });
    const flow = await loginWithoutBrowser({ issuer, params, verifier, username: user.username, password: user.password });
    assert.ok(flow.code, JSON.stringify(flow.steps));
    const results = await Promise.all(
      Array.from({ length: 50 }, () => redeemCode(issuer, spa, { code: flow.code, verifier, redirect_uri: CB })),
    );
    const ok = results.filter((r) => r.status === 200);
    assert.equal(ok.length, 1, `statuses: ${results.map((r) => r.status).join(",")}`);
    for (const r of results.filter((r) => r.status !== 200)) assertOAuthError(r, 400, "invalid_grant", "a losing redemption");
  });
});

describe("refresh tokens", () => {
  test("rotation; an old token used again revokes the whole family, the newest too", async () => {
    const { token } = await login(web);
    const rt1 = token.refresh_token;
    const r2 = await refresh(issuer, web, rt1);
    assert.equal(r2.status, 200, r2.text);
    assert.match(r2.headers.get("cache-control") ?? "", /no-store/);
    assert.equal(r2.json.token_type, "Bearer");
    const rt2 = r2.json.refresh_token;
    assert.equal(typeof rt2, "string");
    assert.notEqual(rt2, rt1);
    assert.notEqual(r2.json.access_token, token.access_token);
    assert.equal(decodeJwtPart(r2.json.access_token, 1).sub, user.id);
    assert.equal((await userinfo(issuer, r2.json.access_token)).status, 200);
    const r3 = await refresh(issuer, web, rt2);
    assert.equal(r3.status, 200, r3.text);
    const rt3 = r3.json.refresh_token;
    assert.notEqual(rt3, rt2);

    assertOAuthError(await refresh(issuer, web, rt1), 400, "invalid_grant", "reused rt1");
    assertOAuthError(await refresh(issuer, web, rt3), 400, "invalid_grant", "newest after reuse");
    assertOAuthError(await refresh(issuer, web, rt2), 400, "invalid_grant", "rt2 after reuse");
  });

  test("within the grace period a replaced refresh token still works and revokes nothing", async () => {
    const lenient = await createApp(worker.url, admin, {
      type: "web",
      redirect_uris: [CB],
      refresh_tokens: true,
      refresh_token_grace_period: 30,
      first_party: true,
    });
    const { token } = await login(lenient);
    const r2 = await refresh(issuer, lenient, token.refresh_token);
    assert.equal(r2.status, 200, r2.text);
    const retry = await refresh(issuer, lenient, token.refresh_token);
    assert.equal(retry.status, 200, `a retry within the grace period: ${retry.text}`);
    const r3 = await refresh(issuer, lenient, r2.json.refresh_token);
    assert.equal(r3.status, 200, `the family lives on: ${r3.text}`);
    assert.equal((await refresh(issuer, lenient, r3.json.refresh_token)).status, 200);
  });

  test("a refresh token only with offline_access for a web app, and only for its own client", async () => {
    const plain = await login(web, "openid email");
    assert.equal(plain.token.refresh_token, undefined, "no offline_access, no refresh token");
    const { token } = await login(web);
    assertOAuthError(await refresh(issuer, foreign, token.refresh_token), 400, "invalid_grant", "another client's refresh token");
    assertOAuthError(await refresh(issuer, web, "not-a-refresh-token"), 400, "invalid_grant", "garbage");
  });

  test("refresh tokens need offline_access (OpenID Connect Core 11), even for a public app that issues them", async () => {
    const { token } = await login(spa, "openid");
    assert.equal(token.refresh_token, undefined, `token response: ${JSON.stringify(Object.keys(token))}`);
    const offline = await login(spa, "openid offline_access");
    assert.equal(typeof offline.token.refresh_token, "string");
    const r = await refresh(issuer, spa, offline.token.refresh_token);
    assert.equal(r.status, 200, r.text);
  });

  test("race: 50 concurrent refreshes of one token, exactly one succeeds", async () => {
    const { token } = await login(spa, "openid offline_access");
    assert.ok(token.refresh_token);
    const results = await Promise.all(Array.from({ length: 50 }, () => refresh(issuer, spa, token.refresh_token)));
    const ok = results.filter((r) => r.status === 200);
    assert.equal(ok.length, 1, `statuses: ${results.map((r) => r.status).join(",")}`);
    for (const r of results.filter((r) => r.status !== 200)) assertOAuthError(r, 400, "invalid_grant", "a losing refresh");
  });

  test("a disabled user can no longer refresh, nor get codes from a session", async () => {
    const who = await createUser(worker.url, admin);
    const first = await signIn({ issuer, app: web, user: who, redirect_uri: CB, scope: OFFLINE });
    assert.ok(first.token.refresh_token);
    await disableUser(worker.url, admin, who.id);
    assertOAuthError(await refresh(issuer, web, first.token.refresh_token), 400, "invalid_grant", "disabled user");
    const again = authorizationParams({ client_id: web.client_id, redirect_uri: CB });
    const flow = await loginWithoutBrowser({ issuer, jar: first.jar, params: again.params });
    assert.equal(flow.code, undefined, `a code for a disabled user: ${JSON.stringify(flow.steps)}`);
  });
});

describe("revocation and introspection", () => {
  test("revoking a refresh token ends its family; unknown tokens are fine; other clients cannot", async () => {
    const { token } = await login(web);
    const rotated = await refresh(issuer, web, token.refresh_token);
    assert.equal(rotated.status, 200, rotated.text);
    const rt = rotated.json.refresh_token;

    // Another client cannot revoke it.
    await revoke(issuer, foreign, rt);
    const still = await refresh(issuer, web, rt);
    assert.equal(still.status, 200, `after a foreign revocation: ${still.text}`);
    const live = still.json.refresh_token;

    // Without client authentication: refused.
    const anonymous = await fetch(`${issuer}/revoke`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token: live }).toString(),
    });
    assert.equal(anonymous.status, 401, await anonymous.text());

    const ok = await revoke(issuer, web, live, { token_type_hint: "refresh_token" });
    assert.equal(ok.status, 200, ok.text);
    assertOAuthError(await refresh(issuer, web, live), 400, "invalid_grant", "after revocation");
    assert.equal((await introspect(issuer, web, live)).json?.active, false);

    for (const unknown of ["not-a-token", "x".repeat(300), live]) {
      const r = await revoke(issuer, web, unknown);
      assert.equal(r.status, 200, `revoke ${unknown.slice(0, 20)}: ${r.text}`);
    }
    const hinted = await revoke(issuer, web, "not-a-token", { token_type_hint: "access_token" });
    assert.equal(hinted.status, 200, hinted.text);
  });

  test("introspection: live tokens of the caller are active, everything else is not", async () => {
    const { token } = await login(web, OFFLINE);
    const now = Math.floor(Date.now() / 1000);

    const access = await introspect(issuer, web, token.access_token);
    assert.equal(access.status, 200, access.text);
    assert.match(access.headers.get("content-type") ?? "", /^application\/json/);
    assert.equal(access.json.active, true, access.text);
    assert.equal(access.json.sub, user.id);
    assert.equal(access.json.client_id, web.client_id);
    assert.deepEqual(new Set(access.json.scope.split(" ")), new Set(OFFLINE.split(" ")));
    assert.ok(Number.isInteger(access.json.exp) && access.json.exp > now, `exp ${access.json.exp}`);

    const refreshToken = await introspect(issuer, web, token.refresh_token, { token_type_hint: "refresh_token" });
    assert.equal(refreshToken.json?.active, true, refreshToken.text);
    assert.equal(refreshToken.json.client_id, web.client_id);
    assert.equal(refreshToken.json.sub, user.id);

    // A wrong hint is only a hint.
    assert.equal((await introspect(issuer, web, token.access_token, { token_type_hint: "refresh_token" })).json?.active, true);

    for (const [what, who, t] of [
      ["garbage", web, "not-a-token"],
      ["a tampered access token", web, token.access_token.slice(0, -4) + "AAAA"],
      ["another client's access token", foreign, token.access_token],
      ["another client's refresh token", foreign, token.refresh_token],
      ["an ID token", web, token.id_token],
    ]) {
      const r = await introspect(issuer, who, t);
      assert.equal(r.status, 200, `${what}: ${r.text}`);
      assert.deepEqual(r.json, { active: false }, what);
    }

    // The foreign look-up did not disturb the token.
    assert.equal((await introspect(issuer, web, token.refresh_token)).json?.active, true);

    const anonymous = await fetch(`${issuer}/introspect`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token: token.access_token }).toString(),
    });
    assert.equal(anonymous.status, 401, await anonymous.text());

    assert.equal((await revoke(issuer, web, token.refresh_token)).status, 200);
    assert.deepEqual((await introspect(issuer, web, token.refresh_token)).json, { active: false });

    // A live refresh token's answer says when it expires.
    assert.ok(Number.isInteger(refreshToken.json.exp) && refreshToken.json.exp > now, `refresh token: ${refreshToken.text}`);
  });
});

describe("userinfo", () => {
  test("GET and POST, bearer header or form body; claims by scope", async () => {
    const { token } = await login(web, "openid profile email");
    for (const [method, via] of [["GET", "header"], ["POST", "header"], ["POST", "body"]]) {
      const r = await userinfo(issuer, token.access_token, { method, via });
      assert.equal(r.status, 200, `${method} ${via}: ${r.text}`);
      assert.match(r.headers.get("content-type") ?? "", /^application\/json/);
      assert.equal(r.json.sub, user.id);
      assert.equal(r.json.email, user.email);
      assert.equal(r.json.email_verified, true);
      assert.equal(r.json.name, "Ada Lovelace");
      assert.equal(r.json.given_name, "Ada");
      assert.equal(r.json.phone_number, undefined, "no phone scope");
    }
    const narrow = await login(web, "openid");
    const r = await userinfo(issuer, narrow.token.access_token);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.sub, user.id);
    for (const claim of ["email", "email_verified", "name", "given_name"]) assert.equal(r.json[claim], undefined, claim);
  });

  test("missing, invalid and wrong tokens: 401 with a Bearer challenge", async () => {
    const { token } = await login(web, "openid email");
    const missing = await userinfo(issuer, undefined);
    assert.equal(missing.status, 401, missing.text);
    assert.match(missing.headers.get("www-authenticate") ?? "", /^Bearer\b/);

    const claims = decodeJwtPart(token.access_token, 1);
    const [h, , s] = token.access_token.split(".");
    const tampered = `${h}.${Buffer.from(JSON.stringify({ ...claims, sub: "someone-else" })).toString("base64url")}.${s}`;
    for (const [what, t] of [
      ["garbage", "not-a-token"],
      ["tampered", tampered],
      ["an ID token", token.id_token],
    ]) {
      for (const method of ["GET", "POST"]) {
        const r = await userinfo(issuer, t, { method });
        assert.equal(r.status, 401, `${what} ${method}: ${r.text}`);
        const challenge = r.headers.get("www-authenticate") ?? "";
        assert.match(challenge, /^Bearer\b/, what);
        assert.match(challenge, /error="invalid_token"/, `${what}: ${challenge}`);
      }
    }
    // A client_credentials token has no user.
    const machine = await userinfo(issuer, admin);
    assert.ok([401, 403].includes(machine.status), `client_credentials token: ${machine.status} ${machine.text}`);
  });
});

describe("logout without a browser", () => {
  test("id_token_hint and a registered post_logout_redirect_uri end the session", async () => {
    const first = await login(web, "openid");
    const badTarget = new URL(`${issuer}/logout`);
    badTarget.searchParams.set("id_token_hint", first.token.id_token);
    badTarget.searchParams.set("post_logout_redirect_uri", "http://127.0.0.1:9/elsewhere");
    const refused = await jarFetch(first.jar.clone(), badTarget);
    assert.ok(!(refused.headers.get("location") ?? "").includes("/elsewhere"), "never to an unregistered URI");

    const target = new URL(`${issuer}/logout`);
    target.searchParams.set("id_token_hint", first.token.id_token);
    target.searchParams.set("post_logout_redirect_uri", BYE);
    target.searchParams.set("state", "bye-state");
    const out = await jarFetch(first.jar, target);
    assert.equal(out.status, 303, out.text.slice(0, 300));
    const location = new URL(out.headers.get("location"));
    assert.equal(location.origin + location.pathname, BYE);
    assert.equal(location.searchParams.get("state"), "bye-state");
    const cleared = out.headers
      .getSetCookie()
      .filter((c) => /;\s*max-age=0\b/i.test(c) || /;\s*expires=[^;]*19[0-9]{2}\b/i.test(c) || /;\s*expires=Thu, 01 Jan 1970/i.test(c));
    assert.ok(cleared.length > 0, `a cookie is cleared: ${JSON.stringify(out.headers.getSetCookie())}`);

    const silent = authorizationParams({ client_id: web.client_id, redirect_uri: CB, prompt: "none" });
    assertRedirectError(await loginWithoutBrowser({ issuer, jar: first.jar, params: silent.params }), "login_required", silent.params);
    const again = authorizationParams({ client_id: web.client_id, redirect_uri: CB });
    const flow = await loginWithoutBrowser({ issuer, jar: first.jar, params: again.params });
    assert.equal(flow.page?.kind, "login", JSON.stringify(flow.steps));
  });
});

describe("logout and refresh tokens", () => {
  test("logout ends the refresh tokens of apps that ask (refresh_tokens_end_with_session), not the others'", async () => {
    const base = { type: "web", redirect_uris: [CB], post_logout_redirect_uris: [BYE], refresh_tokens: true, first_party: true };
    const tied = await createApp(worker.url, admin, { ...base, refresh_tokens_end_with_session: true });
    const loose = await createApp(worker.url, admin, base);
    const a = await signIn({ issuer, app: tied, user, redirect_uri: CB, scope: OFFLINE });
    const b = await signIn({ issuer, app: loose, user, redirect_uri: CB, scope: OFFLINE, jar: a.jar });
    assert.equal(decodeJwtPart(b.token.id_token, 1).sid, decodeJwtPart(a.token.id_token, 1).sid, "one session");
    // Both work while the session lasts (and rotate).
    const a2 = await refresh(issuer, tied, a.token.refresh_token);
    assert.equal(a2.status, 200, a2.text);

    const target = new URL(`${issuer}/logout`);
    target.searchParams.set("id_token_hint", a.token.id_token);
    target.searchParams.set("post_logout_redirect_uri", BYE);
    const out = await jarFetch(a.jar, target);
    assert.equal(out.status, 303, out.text.slice(0, 300));

    assertOAuthError(await refresh(issuer, tied, a2.json.refresh_token), 400, "invalid_grant", "tied to the ended session");
    const still = await refresh(issuer, loose, b.token.refresh_token);
    assert.equal(still.status, 200, `not tied to the session: ${still.text}`);
  });
});

describe("restart", () => {
  test("a refresh token and a session survive a restart of the worker", { timeout: 90_000 }, async () => {
    const dir = await tempDir();
    let one;
    let two;
    try {
      one = await startWorker({ persistTo: dir });
      const token = await adminToken(one.url);
      const app = await createApp(one.url, token, { type: "web", redirect_uris: [CB], refresh_tokens: true, first_party: true });
      const who = await createUser(one.url, token);
      const first = await signIn({ issuer: one.issuer, app, user: who, redirect_uri: CB, scope: OFFLINE });
      assert.ok(first.token.refresh_token);
      await one.stop();

      two = await startWorker({ persistTo: dir, port: one.port });
      assert.equal(two.issuer, one.issuer);
      const refreshed = await refresh(two.issuer, app, first.token.refresh_token);
      assert.equal(refreshed.status, 200, refreshed.text);
      assert.notEqual(refreshed.json.refresh_token, first.token.refresh_token);

      const req = authorizationParams({ client_id: app.client_id, redirect_uri: CB });
      const flow = await loginWithoutBrowser({ issuer: two.issuer, jar: first.jar, params: req.params, verifier: req.verifier });
      assert.ok(flow.code, `the session skips the login page: ${JSON.stringify(flow.steps)}`);
      assert.ok(!flow.steps.some((s) => s.kind === "login"), JSON.stringify(flow.steps));
      const t = await redeemCode(two.issuer, app, { code: flow.code, verifier: req.verifier, redirect_uri: CB });
      assert.equal(t.status, 200, t.text);
      assert.equal(decodeJwtPart(t.json.id_token, 1).sid, decodeJwtPart(first.token.id_token, 1).sid);
    } finally {
      await one?.stop();
      await two?.stop();
      await removeDir(dir);
    }
  });
});

describe("expiry", () => {
  test("an expired code and an expired access token are refused", { timeout: 100_000 }, async () => {
    // Codes live 60 s; the short-lived app's access tokens 60 s.
    const until = Math.max(early.codeAt + 62_000, (early.exp + 2) * 1000);
    const wait = until - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const code = await redeemCode(issuer, early.app, { code: early.code, verifier: early.verifier, redirect_uri: CB });
    const looked = await introspect(issuer, early.app, early.accessToken);
    const info = await userinfo(issuer, early.accessToken);
    const seconds = Math.floor(Date.now() / 1000) - early.exp;
    // All three at once, so one failure does not hide the others.
    assert.deepEqual(
      {
        code: [code.status, code.json?.error],
        introspection: looked.json,
        userinfo: [info.status, /error="invalid_token"/.test(info.headers.get("www-authenticate") ?? "")],
      },
      { code: [400, "invalid_grant"], introspection: { active: false }, userinfo: [401, true] },
      `${seconds} s after the access token's exp`,
    );
  });
});
