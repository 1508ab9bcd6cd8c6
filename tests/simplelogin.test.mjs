// The simplified login API on the real worker: the stateless token call
// (POST /simplelogin/api/v1/token) per response_type with its userinfo, bad input,
// client authentication, indistinguishable wrong identifiers and passwords, the
// lockout; the authenticate step (a cookie from /authorize, then a redirect with
// a code or an error); and the legacy password grant at /token, through
// openid-client, on only where an app allows it.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from "jose";
import * as client from "openid-client";
import { adminFetch, adminToken, basicAuth, getJson, startWorker } from "./harness.mjs";
import { CookieJar, createApp, createUser, jarFetch, redeemCode, responseParams } from "./support/flows.mjs";
import { configFor } from "./support/oidc.mjs";

const CB = "http://127.0.0.1:9/cb";

let worker;
let issuer;
let admin;
let user;
let portal; // simplified, refresh tokens, and the authenticate step
let jwks;

before(async () => {
  worker = await startWorker();
  issuer = worker.issuer;
  admin = await adminToken(worker.url);
  user = await createUser(worker.url, admin, { name: "Ada Lovelace" });
  portal = await createApp(worker.url, admin, {
    type: "simplified",
    grant_types: ["password", "authorization_code", "refresh_token"],
    redirect_uris: [CB],
    refresh_tokens: true,
  });
  jwks = createRemoteJWKSet(new URL(`${issuer}/.well-known/jwks.json`));
});

after(async () => {
  await worker?.stop();
});

/** The token call of `app` with `body` (a JSON value, or a raw string). */
function tokenCall(app, body, headers = {}) {
  return getJson(`${issuer}/simplelogin/api/v1/token`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(app ? { authorization: basicAuth(app.client_id, app.client_secret) } : {}),
      ...headers,
    },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

const login = (identifier, password, response_type, scope = "openid profile email") => ({
  identifier,
  password,
  response_type,
  scope,
});

describe("the token call", () => {
  test("token id_token: verified tokens, userinfo, a working refresh token", async () => {
    const r = await tokenCall(portal, login(user.username, user.password, "token id_token", "openid profile email offline_access"));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get("cache-control"), "no-store");
    assert.equal(r.json.token_type, "Bearer");
    assert.equal(decodeProtectedHeader(r.json.id_token).alg, "RS256");
    const { payload } = await jwtVerify(r.json.id_token, jwks, { issuer, audience: portal.client_id });
    assert.equal(payload.sub, user.id);
    assert.deepEqual(r.json.userinfo, payload, "userinfo is the ID token's payload");
    assert.equal(r.json.userinfo.email, user.email);
    const access = await jwtVerify(r.json.access_token, jwks, { issuer });
    assert.equal(access.payload.client_id, portal.client_id);
    const refreshed = await getJson(`${issuer}/token`, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        authorization: basicAuth(portal.client_id, portal.client_secret),
      },
      body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: r.json.refresh_token }).toString(),
    });
    assert.equal(refreshed.status, 200, refreshed.text);
  });

  test("token alone and id_token alone", async () => {
    const token = await tokenCall(portal, login(user.email, user.password, "token"));
    assert.equal(token.status, 200, token.text);
    assert.ok(token.json.access_token && !("id_token" in token.json) && !("userinfo" in token.json));
    const id = await tokenCall(portal, login(user.username, user.password, "id_token"));
    assert.equal(id.status, 200, id.text);
    assert.ok(id.json.id_token && !("access_token" in id.json));
    assert.equal(id.json.userinfo.sub, user.id);
  });

  test("bad input is a 400, wrong client credentials a 401", async () => {
    for (const [body, error] of [
      ["{", "invalid_request"],
      [{ password: user.password, response_type: "token" }, "invalid_request"],
      [{ identifier: user.username, response_type: "token" }, "invalid_request"],
      [login(user.username, user.password, "code"), "unsupported_response_type"],
      [login(user.username, user.password, "id_token", "profile"), "invalid_scope"],
    ]) {
      const r = await tokenCall(portal, body);
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
      assert.equal(r.json.error, error);
    }
    const wrong = await tokenCall(
      { client_id: portal.client_id, client_secret: "wrong" },
      login(user.username, user.password, "token"),
    );
    assert.equal(wrong.status, 401);
    assert.equal(wrong.json.error, "invalid_client");
    const none = await tokenCall(null, login(user.username, user.password, "token"));
    assert.equal(none.status, 401);
  });

  test("a wrong identifier and a wrong password get the same answer; failures lock the user", async () => {
    const victim = await createUser(worker.url, admin);
    const unknown = await tokenCall(portal, login("nobody-here", "whatever", "token"));
    const wrong = await tokenCall(portal, login(victim.username, "whatever", "token"));
    assert.equal(unknown.status, 400);
    assert.equal(unknown.text, wrong.text);
    assert.equal(wrong.json.error, "invalid_grant");
    for (let i = 0; i < 9; i++) await tokenCall(portal, login(victim.username, "whatever", "token"));
    const locked = await tokenCall(portal, login(victim.username, victim.password, "token"));
    assert.equal(locked.status, 400);
    assert.match(locked.json.error_description, /too many failed sign-ins/);
  });

  test("a user who must use a second factor gets no tokens", async () => {
    const strict = await createUser(worker.url, admin, { mfa_required: true });
    const r = await tokenCall(portal, login(strict.username, strict.password, "token id_token"));
    assert.equal(r.status, 400);
    assert.equal(r.json.error, "invalid_grant");
    assert.match(r.json.error_description, /second factor/);
    assert.ok(!("access_token" in r.json));
  });
});

describe("the authenticate step", () => {
  async function start(jar) {
    const params = new URLSearchParams({
      response_type: "code",
      client_id: portal.client_id,
      redirect_uri: CB,
      scope: "openid email",
      state: "st4te",
    });
    const started = await jarFetch(jar, `${issuer}/authorize?${params}`);
    assert.equal(started.status, 200, started.text);
    const answer = JSON.parse(started.text);
    assert.equal(answer.authenticate_endpoint, `${issuer}/simplelogin/api/v1/authenticate`);
    return answer.authenticate_endpoint;
  }

  const authenticate = (jar, url, identifier, password) =>
    jarFetch(jar, url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        authorization: basicAuth(portal.client_id, portal.client_secret),
      },
      body: JSON.stringify({ identifier, password }),
    });

  test("redirects with a code the token endpoint redeems", async () => {
    const jar = new CookieJar();
    const url = await start(jar);
    const done = await authenticate(jar, url, user.username, user.password);
    assert.equal(done.status, 303, done.text);
    const params = responseParams(done.headers.get("location"));
    assert.equal(params.get("state"), "st4te");
    assert.equal(params.get("iss"), issuer);
    const redeemed = await redeemCode(issuer, portal, { code: params.get("code"), redirect_uri: CB });
    assert.equal(redeemed.status, 200, redeemed.text);
    const { payload } = await jwtVerify(redeemed.json.id_token, jwks, { issuer, audience: portal.client_id });
    assert.equal(payload.sub, user.id);
  });

  test("redirects with an error for wrong credentials, and needs the cookie", async () => {
    const jar = new CookieJar();
    const url = await start(jar);
    const done = await authenticate(jar, url, user.username, "wrong");
    assert.equal(done.status, 303);
    const params = responseParams(done.headers.get("location"));
    assert.equal(params.get("error"), "access_denied");
    assert.equal(params.get("state"), "st4te");
    assert.ok(!params.get("code"));
    const stray = await authenticate(new CookieJar(), url, user.username, user.password);
    assert.equal(stray.status, 400);
  });
});

describe("the password grant (legacy)", () => {
  test("is advertised and works through openid-client where the app allows it", async () => {
    const legacy = await createApp(worker.url, admin, { type: "web", redirect_uris: [CB], allow_password_grant: true });
    const config = await configFor(issuer, legacy);
    assert.ok(config.serverMetadata().grant_types_supported.includes("password"));
    const tokens = await client.genericGrantRequest(config, "password", {
      username: user.username,
      password: user.password,
      scope: "openid email",
    });
    assert.ok(tokens.access_token);
    assert.equal(tokens.claims().sub, user.id);
    await assert.rejects(
      client.genericGrantRequest(config, "password", { username: user.username, password: "wrong" }),
      (e) => e.error === "invalid_grant",
    );
  });

  test("is refused where the app does not allow it, and on app types that cannot", async () => {
    const plain = await createApp(worker.url, admin, { type: "web", redirect_uris: [CB] });
    const config = await configFor(issuer, plain);
    await assert.rejects(
      client.genericGrantRequest(config, "password", { username: user.username, password: user.password }),
      (e) => e.error === "unauthorized_client",
    );
    const r = await adminFetch(worker.url, admin, "POST", "/admin/v1/apps", {
      body: { client_name: "spa_password", type: "spa", redirect_uris: [CB], allow_password_grant: true },
    });
    assert.equal(r.status, 400);
    assert.equal(r.json.errors[0].pointer, "/allow_password_grant");
  });
});
