// JWT client authentication (RFC 7523) on the real worker: apps registered with
// private_key_jwt and client_secret_jwt get tokens through openid-client v6, and
// the worker checks the assertions with WebCrypto and remembers each jti once.
// The assertion's aud is the issuer identifier as a single string
// (draft-ietf-oauth-rfc7523bis), which openid-client v6 sends by default.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import * as oidc from "openid-client";
import { SignJWT, createRemoteJWKSet, exportJWK, generateKeyPair, jwtVerify } from "jose";
import { adminFetch, adminToken, postToken, startWorker } from "./harness.mjs";

const JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

// Documents the worker's outbound fetches see (an app's jwks_uri), and a log of them.
const documents = new Map();
const outbound = [];
async function outboundService(request) {
  outbound.push(request.url);
  const doc = documents.get(request.url);
  if (doc?.redirect) return new Response(null, { status: 302, headers: { location: doc.redirect } });
  if (!doc) return new Response("not found", { status: 404 });
  return new Response(JSON.stringify(doc), {
    headers: { "content-type": "application/jwk-set+json", "cache-control": "max-age=300" },
  });
}

let worker;
let admin;
let jwks;
before(async () => {
  worker = await startWorker({ outboundService });
  admin = await adminToken(worker.url);
  jwks = createRemoteJWKSet(new URL(`${worker.issuer}/.well-known/jwks.json`));
});
after(async () => {
  await worker?.stop();
});

async function createApp(body) {
  const r = await adminFetch(worker.url, admin, "POST", "/admin/v1/apps", { body });
  assert.equal(r.status, 201, r.text);
  return r.json;
}

/** An s2s app that authenticates with private_key_jwt; `keys` is { jwks } or { jwks_uri }. */
async function signedApp(name, keys) {
  const app = await createApp({ client_name: name, type: "s2s", token_endpoint_auth_method: "private_key_jwt", ...keys });
  assert.equal(app.client_secret, undefined, "a key-based app gets no secret");
  return app;
}

async function clientKey(alg, kid) {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: "sig" };
  return { jwk, privateKey, kid, alg };
}

async function configFor(clientId, auth) {
  return await oidc.discovery(new URL(worker.issuer), clientId, undefined, auth, {
    execute: [oidc.allowInsecureRequests],
  });
}

async function verifyAccessToken(token) {
  return await jwtVerify(token, jwks, { issuer: worker.issuer, audience: worker.issuer, typ: "at+jwt" });
}

/** An assertion made by hand, for the cases a client library would not send. */
async function assertion(clientId, key, claims = {}) {
  const now = Math.floor(Date.now() / 1000);
  const header = key.privateKey ? { alg: key.alg, kid: key.kid, typ: "JWT" } : { alg: "HS256", typ: "JWT" };
  return await new SignJWT({ jti: crypto.randomUUID(), ...claims })
    .setProtectedHeader(header)
    .setIssuer(clientId)
    .setSubject(clientId)
    .setAudience(claims.aud ?? worker.issuer)
    .setIssuedAt(now)
    .setExpirationTime(now + 60)
    .sign(key.privateKey ?? new TextEncoder().encode(key.secret));
}

function assertionForm(token, extra = {}) {
  return new URLSearchParams({
    grant_type: "client_credentials",
    client_assertion_type: JWT_BEARER,
    client_assertion: token,
    ...extra,
  });
}

describe("private_key_jwt", () => {
  for (const alg of ["ES256", "RS256"]) {
    test(`an app with an ${alg} key gets tokens through openid-client`, async () => {
      const key = await clientKey(alg, `${alg.toLowerCase()}-1`);
      const app = await signedApp(`signed_${alg.toLowerCase()}`, { jwks: { keys: [key.jwk] } });
      const config = await configFor(app.client_id, oidc.PrivateKeyJwt({ key: key.privateKey, kid: key.kid }));
      for (let i = 0; i < 2; i++) {
        const tokens = await oidc.clientCredentialsGrant(config);
        const { payload } = await verifyAccessToken(tokens.access_token);
        assert.equal(payload.client_id, app.client_id);
        assert.equal(payload.sub, app.client_id);
      }
    });
  }

  test("an assertion works once; a key the app did not register never", async () => {
    const key = await clientKey("ES256", "k1");
    const stranger = await clientKey("ES256", "k1");
    const app = await signedApp("signed_once", { jwks: { keys: [key.jwk] } });
    const token = await assertion(app.client_id, key);
    const first = await postToken(worker.url, assertionForm(token));
    assert.equal(first.status, 200, first.text);
    const replay = await postToken(worker.url, assertionForm(token));
    assert.equal(replay.status, 401);
    assert.equal(replay.json.error, "invalid_client");

    const forged = await postToken(worker.url, assertionForm(await assertion(app.client_id, stranger)));
    assert.equal(forged.status, 401);
    assert.equal(forged.json.error, "invalid_client");

    const elsewhere = await assertion(app.client_id, key, { aud: "https://elsewhere.example/token" });
    assert.equal((await postToken(worker.url, assertionForm(elsewhere))).status, 401);
  });

  test("a disabled app's assertions are refused", async () => {
    const key = await clientKey("ES256", "k1");
    const app = await signedApp("signed_disabled", { jwks: { keys: [key.jwk] } });
    const off = await adminFetch(worker.url, admin, "POST", `/admin/v1/apps/${app.client_id}/disable`);
    assert.equal(off.status, 200, off.text);
    const r = await postToken(worker.url, assertionForm(await assertion(app.client_id, key)));
    assert.equal(r.status, 401);
    assert.equal(r.json.error, "invalid_client");
  });
});

describe("private_key_jwt with a jwks_uri", () => {
  test("keys are fetched from the app's jwks_uri, cached, and refetched for a new kid", async () => {
    // A key server on this machine: allowed only because the tests set
    // INSECURE_ALLOW_PRIVATE_FETCH (the outbound service answers in its place).
    const url = "http://127.0.0.1:9/jwks.json";
    const k1 = await clientKey("ES256", "remote-1");
    const k2 = await clientKey("ES256", "remote-2");
    documents.set(url, { keys: [k1.jwk] });
    const app = await signedApp("remote_keys", { jwks_uri: url });
    const config = await configFor(app.client_id, oidc.PrivateKeyJwt({ key: k1.privateKey, kid: k1.kid }));
    for (let i = 0; i < 3; i++) {
      const tokens = await oidc.clientCredentialsGrant(config);
      assert.equal((await verifyAccessToken(tokens.access_token)).payload.client_id, app.client_id);
    }
    assert.equal(outbound.filter((u) => u === url).length, 1, "one fetch, then the cache");

    // The client adds a key and signs with it at once: the unknown kid revalidates
    // the cached set (the cooldown since the last fetch has to pass first).
    documents.set(url, { keys: [k1.jwk, k2.jwk] });
    await new Promise((resolve) => setTimeout(resolve, 10_500));
    const r = await postToken(worker.url, assertionForm(await assertion(app.client_id, k2)));
    assert.equal(r.status, 200, r.text);
    assert.equal(outbound.filter((u) => u === url).length, 2);
  });

  test("a jwks_uri that does not answer with keys refuses the client", async () => {
    const url = "https://keys.client.example/missing.json";
    const key = await clientKey("ES256", "gone-1");
    const app = await signedApp("no_keys", { jwks_uri: url });
    const r = await postToken(worker.url, assertionForm(await assertion(app.client_id, key)));
    assert.equal(r.status, 401);
    assert.equal(r.json.error, "invalid_client");
  });
});

describe("the assertion's audience (draft-ietf-oauth-rfc7523bis)", () => {
  test("only the issuer identifier as a single string is accepted", async () => {
    const key = await clientKey("ES256", "aud-1");
    const app = await signedApp("aud_strict", { jwks: { keys: [key.jwk] } });
    for (const aud of [
      `${worker.issuer}/token`,
      [worker.issuer],
      [worker.issuer, `${worker.issuer}/token`],
      ["https://attacker.example", worker.issuer],
    ]) {
      const r = await postToken(worker.url, assertionForm(await assertion(app.client_id, key, { aud })));
      assert.equal(r.status, 401, `aud ${JSON.stringify(aud)}: ${r.text}`);
      assert.equal(r.json.error, "invalid_client");
    }
    const r = await postToken(worker.url, assertionForm(await assertion(app.client_id, key, { aud: worker.issuer })));
    assert.equal(r.status, 200, r.text);
  });

  test("openid-client sends the issuer as the audience", async () => {
    const key = await clientKey("ES256", "aud-2");
    const app = await signedApp("aud_library", { jwks: { keys: [key.jwk] } });
    const sent = [];
    const config = await configFor(app.client_id, oidc.PrivateKeyJwt({ key: key.privateKey, kid: key.kid }));
    config[oidc.customFetch] = async (url, options) => {
      sent.push(new URLSearchParams(options.body).get("client_assertion"));
      return fetch(url, options);
    };
    await oidc.clientCredentialsGrant(config);
    const claims = JSON.parse(Buffer.from(sent[0].split(".")[1], "base64url").toString());
    assert.equal(claims.aud, worker.issuer);
  });
});

describe("outbound fetches", () => {
  test("a jwks_uri that redirects is not followed", async () => {
    const url = "http://127.0.0.1:9/moved.json";
    const key = await clientKey("ES256", "moved-1");
    documents.set("http://127.0.0.1:9/target.json", { keys: [key.jwk] });
    documents.set(url, { redirect: "http://127.0.0.1:9/target.json" });
    const app = await signedApp("redirected_keys", { jwks_uri: url });
    const r = await postToken(worker.url, assertionForm(await assertion(app.client_id, key)));
    assert.equal(r.status, 401, r.text);
    assert.ok(!outbound.includes("http://127.0.0.1:9/target.json"), "the redirect was not followed");
  });

  test("without INSECURE_ALLOW_PRIVATE_FETCH a private or plain http jwks_uri is refused", async () => {
    const strict = await startWorker({ outboundService, vars: { INSECURE_ALLOW_PRIVATE_FETCH: "false" } });
    try {
      const token = await adminToken(strict.url);
      for (const url of [
        "http://127.0.0.1:9/jwks.json",
        "https://127.0.0.1/jwks.json",
        "https://10.1.2.3/jwks.json",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::ffff:127.0.0.1]/jwks.json",
        "https://localhost/jwks.json",
        "http://keys.client.example/jwks.json",
      ]) {
        const r = await adminFetch(strict.url, token, "POST", "/admin/v1/apps", {
          body: { client_name: "private_keys", type: "s2s", token_endpoint_auth_method: "private_key_jwt", jwks_uri: url },
        });
        assert.equal(r.status, 400, `${url}: ${r.text}`);
        assert.match(r.headers.get("content-type") ?? "", /problem\+json/);
        assert.ok(JSON.stringify(r.json).includes("/jwks_uri"), `${url}: ${r.text}`);
      }
      const ok = await adminFetch(strict.url, token, "POST", "/admin/v1/apps", {
        body: {
          client_name: "public_keys",
          type: "s2s",
          token_endpoint_auth_method: "private_key_jwt",
          jwks_uri: "https://keys.client.example/jwks.json",
        },
      });
      assert.equal(ok.status, 201, ok.text);
    } finally {
      await strict.stop();
    }
  });
});

describe("client_secret_jwt", () => {
  test("an app gets tokens with HS256 assertions through openid-client", async () => {
    const app = await createApp({
      client_name: "hmac_job",
      type: "s2s",
      token_endpoint_auth_method: "client_secret_jwt",
    });
    assert.equal(typeof app.client_secret, "string");
    const config = await configFor(app.client_id, oidc.ClientSecretJwt(app.client_secret));
    const tokens = await oidc.clientCredentialsGrant(config);
    const { payload } = await verifyAccessToken(tokens.access_token);
    assert.equal(payload.client_id, app.client_id);

    // The plain secret is not this app's method.
    const plain = await postToken(
      worker.url,
      new URLSearchParams({ grant_type: "client_credentials", client_id: app.client_id, client_secret: app.client_secret }),
    );
    assert.equal(plain.status, 401);
  });

  test("after a secret reset only the new secret keys assertions", async () => {
    const app = await createApp({
      client_name: "hmac_reset",
      type: "s2s",
      token_endpoint_auth_method: "client_secret_jwt",
    });
    const reset = await adminFetch(worker.url, admin, "POST", `/admin/v1/apps/${app.client_id}/secret`);
    assert.equal(reset.status, 200, reset.text);
    const stale = await assertion(app.client_id, { secret: app.client_secret });
    assert.equal((await postToken(worker.url, assertionForm(stale))).status, 401);
    const fresh = await assertion(app.client_id, { secret: reset.json.client_secret });
    const r = await postToken(worker.url, assertionForm(fresh));
    assert.equal(r.status, 200, r.text);
  });

  test("malformed assertions are invalid_client, mixed methods invalid_request", async () => {
    for (const bad of ["", "a.b.c", "x".repeat(20_000), "eyJhbGciOiJub25lIn0.e30."]) {
      const r = await postToken(worker.url, assertionForm(bad));
      assert.ok([400, 401].includes(r.status), `${r.status} for ${bad.slice(0, 20)}`);
      assert.ok(["invalid_client", "invalid_request"].includes(r.json?.error), r.text);
    }
    const mixed = await postToken(worker.url, assertionForm("a.b.c", { client_secret: "s" }));
    assert.equal(mixed.status, 400);
    assert.equal(mixed.json.error, "invalid_request");
  });
});
