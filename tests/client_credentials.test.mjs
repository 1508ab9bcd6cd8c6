// client_credentials with real clients: openid-client v6 for the grant,
// jose for RFC 9068 access-token verification against the published JWKS.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import * as oidc from "openid-client";
import { createRemoteJWKSet, jwtVerify, decodeProtectedHeader } from "jose";
import {
  ADMIN_CLIENT_ID,
  ADMIN_CLIENT_SECRET,
  MANAGEMENT_SCOPES,
  basicAuth,
  decodeJwtPart,
  postToken,
  startWorker,
} from "./harness.mjs";

let worker;
let jwks;
before(async () => {
  worker = await startWorker();
  jwks = createRemoteJWKSet(new URL(`${worker.issuer}/.well-known/jwks.json`));
});
after(async () => {
  await worker?.stop();
});

const AUTH = {
  client_secret_basic: (secret) => oidc.ClientSecretBasic(secret),
  client_secret_post: (secret) => oidc.ClientSecretPost(secret),
};

async function configFor(method, { clientId = ADMIN_CLIENT_ID, secret = ADMIN_CLIENT_SECRET, algorithm } = {}) {
  return await oidc.discovery(new URL(worker.issuer), clientId, secret, AUTH[method](secret), {
    execute: [oidc.allowInsecureRequests],
    ...(algorithm ? { algorithm } : {}),
  });
}

// The bootstrap client's tokens are for the management API (RFC 8707 resource).
async function verifyAccessToken(token) {
  return await jwtVerify(token, jwks, {
    issuer: worker.issuer,
    audience: `${worker.issuer}/admin/v1`,
    typ: "at+jwt",
    algorithms: ["ES256"],
  });
}

const scopeSet = (s) => new Set(String(s ?? "").split(" ").filter(Boolean));

/** The status, OAuth error and headers behind an openid-client failure. */
async function oauthFailure(promise) {
  try {
    await promise;
  } catch (err) {
    const response = err.response;
    let body = err instanceof oidc.ResponseBodyError ? err.cause : undefined;
    if (!body && response) {
      try {
        body = await response.clone().json();
      } catch {
        body = undefined;
      }
    }
    return {
      name: err.name,
      status: err.status ?? response?.status,
      error: err.error ?? body?.error,
      body,
      headers: response?.headers,
      challenges: err instanceof oidc.WWWAuthenticateChallengeError ? err.cause : undefined,
    };
  }
  assert.fail("expected the grant to fail");
}

for (const method of Object.keys(AUTH)) {
  describe(`openid-client, ${method}`, () => {
    let config;
    let first;
    let second;

    before(async () => {
      config = await configFor(method);
    });

    test("discovery yields the issuer and token endpoint", () => {
      const md = config.serverMetadata();
      assert.equal(md.issuer, worker.issuer);
      assert.equal(md.token_endpoint, `${worker.issuer}/token`);
    });

    test("client_credentials grant without scope gets every management scope", async () => {
      first = await oidc.clientCredentialsGrant(config);
      assert.equal(typeof first.access_token, "string");
      assert.equal(first.token_type.toLowerCase(), "bearer");
      assert.equal(first.expires_in, 3600);
      assert.deepEqual(scopeSet(first.scope), new Set(MANAGEMENT_SCOPES));
    });

    test("access token is an RFC 9068 JWT that verifies against jwks_uri", async () => {
      const header = decodeProtectedHeader(first.access_token);
      assert.equal(header.typ, "at+jwt");
      assert.equal(header.alg, "ES256");
      assert.equal(typeof header.kid, "string");

      const { payload, protectedHeader } = await verifyAccessToken(first.access_token);
      assert.equal(protectedHeader.kid, header.kid);
      assert.equal(payload.iss, worker.issuer);
      assert.equal(payload.aud, `${worker.issuer}/admin/v1`);
      assert.equal(payload.sub, ADMIN_CLIENT_ID);
      assert.equal(payload.client_id, ADMIN_CLIENT_ID);
      assert.deepEqual(scopeSet(payload.scope), new Set(MANAGEMENT_SCOPES));
      assert.equal(typeof payload.jti, "string");
      assert.ok(payload.jti.length >= 16, "jti carries enough entropy");
      assert.ok(Number.isInteger(payload.iat) && Number.isInteger(payload.exp), "iat/exp are integers");
      assert.equal(payload.exp - payload.iat, 3600);
      const now = Math.floor(Date.now() / 1000);
      assert.ok(Math.abs(payload.iat - now) <= 60, `iat ${payload.iat} is near now ${now}`);
    });

    test("a second token has a different jti", async () => {
      second = await oidc.clientCredentialsGrant(config);
      const a = decodeJwtPart(first.access_token, 1);
      const b = decodeJwtPart(second.access_token, 1);
      assert.notEqual(a.jti, b.jti);
      await verifyAccessToken(second.access_token);
    });

    test("a tampered token does not verify", async () => {
      const [h, p, s] = first.access_token.split(".");
      const claims = JSON.parse(Buffer.from(p, "base64url"));
      claims.scope = "gatehouse:admin";
      claims.sub = "someone-else";
      const forged = `${h}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.${s}`;
      await assert.rejects(verifyAccessToken(forged));
    });

    test("a narrower scope request gets exactly that scope", async () => {
      const wanted = ["gatehouse:apps_read", "gatehouse:keys_write"];
      const t = await oidc.clientCredentialsGrant(config, { scope: wanted.join(" ") });
      assert.deepEqual(scopeSet(t.scope), new Set(wanted));
      const { payload } = await verifyAccessToken(t.access_token);
      assert.deepEqual(scopeSet(payload.scope), new Set(wanted));

      const one = await oidc.clientCredentialsGrant(config, { scope: "gatehouse:users_delete" });
      assert.equal(one.scope, "gatehouse:users_delete");
      const v = await verifyAccessToken(one.access_token);
      assert.equal(v.payload.scope, "gatehouse:users_delete");
    });

    test("a scope the client may not have: 400 invalid_scope", async () => {
      for (const scope of ["gatehouse:bogus_read", "gatehouse:apps_read not-a-scope"]) {
        const f = await oauthFailure(oidc.clientCredentialsGrant(config, { scope }));
        assert.equal(f.status, 400, `scope=${scope}: ${JSON.stringify(f)}`);
        assert.equal(f.error, "invalid_scope", `scope=${scope}`);
      }
    });

    test("wrong secret: 401 invalid_client", async () => {
      const bad = await configFor(method, { secret: `${ADMIN_CLIENT_SECRET}x` });
      const f = await oauthFailure(oidc.clientCredentialsGrant(bad));
      assert.equal(f.status, 401, JSON.stringify(f));
      assert.equal(f.error, "invalid_client");
      if (method === "client_secret_basic") {
        assert.ok(f.challenges, "401 to Basic auth carries WWW-Authenticate");
        assert.ok(
          f.challenges.some((c) => c.scheme.toLowerCase() === "basic"),
          `WWW-Authenticate challenges: ${JSON.stringify(f.challenges)}`,
        );
      }
    });

    test("unknown client: 401 invalid_client", async () => {
      const bad = await configFor(method, { clientId: "no-such-client-e2e" });
      const f = await oauthFailure(oidc.clientCredentialsGrant(bad));
      assert.equal(f.status, 401, JSON.stringify(f));
      assert.equal(f.error, "invalid_client");
    });
  });
}

test("openid-client also works from the RFC 8414 document", async () => {
  const config = await configFor("client_secret_basic", { algorithm: "oauth2" });
  assert.equal(config.serverMetadata().issuer, worker.issuer);
  const t = await oidc.clientCredentialsGrant(config, { scope: "gatehouse:admin" });
  assert.equal(t.scope, "gatehouse:admin");
  await verifyAccessToken(t.access_token);
});

describe("raw token responses", () => {
  test("success carries Cache-Control: no-store and JSON", async () => {
    const r = await postToken(worker.url, "grant_type=client_credentials&scope=gatehouse%3Aroles_read", {
      authorization: basicAuth(ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET),
    });
    assert.equal(r.status, 200, r.text);
    assert.match(r.headers.get("content-type") ?? "", /^application\/json\b/i);
    assert.match(r.headers.get("cache-control") ?? "", /\bno-store\b/i);
    assert.equal(r.json.token_type, "Bearer");
    assert.equal(r.json.expires_in, 3600);
    assert.equal(r.json.scope, "gatehouse:roles_read");
    assert.equal(r.headers.get("access-control-allow-origin"), "*");
  });

  test("client_secret_post with form-encoded reserved characters", async () => {
    const body = new URLSearchParams({
      grant_type: "client_credentials",
      client_id: ADMIN_CLIENT_ID,
      client_secret: ADMIN_CLIENT_SECRET,
    });
    const r = await postToken(worker.url, body.toString());
    assert.equal(r.status, 200, r.text);
    const { payload } = await verifyAccessToken(r.json.access_token);
    assert.equal(payload.client_id, ADMIN_CLIENT_ID);
  });

  test("Basic credentials are form-urldecoded (RFC 6749 2.3.1)", async () => {
    // Raw secret without form-encoding must not authenticate when it holds
    // characters that encoding changes ('+' would decode to a space).
    const raw = "Basic " + Buffer.from(`${ADMIN_CLIENT_ID}:${ADMIN_CLIENT_SECRET}`).toString("base64");
    const r = await postToken(worker.url, "grant_type=client_credentials", { authorization: raw });
    // '%ch' in the raw secret is also malformed percent-encoding, so either
    // answer is right as long as it does not authenticate.
    assert.ok([400, 401].includes(r.status), `status ${r.status}: ${r.text}`);
    assert.ok(["invalid_client", "invalid_request"].includes(r.json?.error), r.text);
  });

  test("token signed with a key listed in the JWKS under its kid", async () => {
    const r = await postToken(worker.url, "grant_type=client_credentials", {
      authorization: basicAuth(ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET),
    });
    const { kid } = decodeProtectedHeader(r.json.access_token);
    const set = await (await fetch(`${worker.issuer}/.well-known/jwks.json`)).json();
    const key = set.keys.find((k) => k.kid === kid);
    assert.ok(key, `kid ${kid} not in JWKS`);
    assert.equal(key.alg, "ES256");
    assert.equal(key.kty, "EC");
  });
});
