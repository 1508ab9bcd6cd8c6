// The gateway worker on workerd in front of a real origin, with tokens from the real
// issuer worker (and, for the cases that need a controlled clock or key, a stand-in
// issuer). Run: scripts/build && scripts/build-gateway && node --test tests/gateway/

import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import * as jose from "jose";
import { startWorker, ADMIN_CLIENT_ID, decodeJwtPart, getJson } from "../harness.mjs";
import http from "node:http";
import {
  startGateway,
  startOrigin,
  startFakeIssuer,
  gatewayConfig,
  audienceOf,
  issuerToken,
  call,
  API_AUDIENCE,
  HUGE_JWKS_BYTES,
} from "./harness.mjs";

const ADMIN_SCOPE = "gatehouse:apps_read gatehouse:keys_write";

describe("with the real issuer", () => {
  // The gateway requires the `aud` of the issuer's management-API tokens: whatever
  // the issuer puts there (the API's identifier, `{issuer}/admin/v1`).
  let issuer, origin, gw, token, audience;
  before(async () => {
    issuer = await startWorker();
    origin = await startOrigin();
    token = await issuerToken(issuer.url, ADMIN_SCOPE);
    audience = audienceOf(token);
    gw = await startGateway(
      gatewayConfig({
        issuer: issuer.url,
        origin: origin.url,
        audience,
        extra: `[cors]\norigins = ["https://app.example.com"]\nmethods = ["GET", "POST"]`,
      }),
    );
  });
  after(async () => {
    await gw?.stop();
    await origin?.stop();
    await issuer?.stop();
  });

  test("a valid token is forwarded with claim headers, Authorization removed", async () => {
    const res = await call(gw.url, "/api/apps/list?page=2", { token });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers.get("x-origin"), "yes");
    const seen = res.json;
    assert.equal(seen.url, "/api/apps/list?page=2");
    assert.equal(seen.headers["x-gatehouse-sub"], ADMIN_CLIENT_ID);
    assert.equal(seen.headers["x-gatehouse-client-id"], ADMIN_CLIENT_ID);
    assert.deepEqual(seen.headers["x-gatehouse-scope"].split(" ").sort(), ADMIN_SCOPE.split(" ").sort());
    assert.equal(seen.headers.authorization, undefined);
  });

  test("forged claim headers are stripped, on token and public routes alike", async () => {
    const forged = {
      "X-Gatehouse-Sub": "root",
      "x-gatehouse-client-id": "evil",
      "X-GATEHOUSE-SCOPE": "everything",
      "x-gatehouse-permissions": "all",
      "x-gatehouse-roles": "admin",
    };
    const res = await call(gw.url, "/api/apps", { token, headers: forged });
    assert.equal(res.status, 200);
    assert.equal(res.json.headers["x-gatehouse-sub"], ADMIN_CLIENT_ID);
    assert.equal(res.json.headers["x-gatehouse-client-id"], ADMIN_CLIENT_ID);
    assert.notEqual(res.json.headers["x-gatehouse-scope"], "everything");
    assert.equal(res.json.headers["x-gatehouse-permissions"], undefined);
    assert.equal(res.json.headers["x-gatehouse-roles"], undefined);
    const pub = await call(gw.url, "/public/logo.svg", { headers: forged });
    assert.equal(pub.status, 200);
    for (const name of Object.keys(forged)) assert.equal(pub.json.headers[name.toLowerCase()], undefined, name);
  });

  test("forward_claims: an app's token_claims reach the origin as headers, the caller's copies never do", async () => {
    const admin = await issuerToken(issuer.url, "gatehouse:admin");
    const adminCall = (method, path, body) =>
      fetch(`${issuer.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      }).then(async (r) => ({ status: r.status, json: await r.json() }));
    const suffix = Math.random().toString(36).slice(2, 8);
    const scope = await adminCall("POST", "/admin/v1/scopes", { key: `gw${suffix}:read` });
    assert.equal(scope.status, 201, JSON.stringify(scope.json));
    const app = await adminCall("POST", "/admin/v1/apps", {
      client_name: `gw_claims_${suffix}`,
      type: "s2s",
      scope: scope.json.key,
      token_claims: [
        { name: "tenant", source: "value", value: "acme ünïcode" },
        { name: "tier", source: "value", value: 3 },
      ],
    });
    assert.equal(app.status, 201, JSON.stringify(app.json));
    const res = await fetch(`${issuer.url}/token`, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        authorization: `Basic ${Buffer.from(`${app.json.client_id}:${app.json.client_secret}`).toString("base64")}`,
      },
      body: "grant_type=client_credentials",
    });
    const appToken = (await res.json()).access_token;
    assert.ok(appToken, "a token for the app");
    const forwarding = await startGateway(
      gatewayConfig({
        issuer: issuer.url,
        origin: origin.url,
        audience: audienceOf(appToken),
        extra: `forward_claims = { "x-tenant" = "tenant", "x-tier" = "tier", "x-missing" = "nope" }`,
      }),
    );
    try {
      const forged = { "x-tenant": "evil", "X-Tier": "99", "x-missing": "forged" };
      const got = await call(forwarding.url, "/api/anything", { token: appToken, headers: forged });
      assert.equal(got.status, 200, got.text);
      assert.equal(got.json.headers["x-tenant"], "acme %C3%BCn%C3%AFcode");
      assert.equal(decodeURIComponent(got.json.headers["x-tenant"]), "acme ünïcode");
      assert.equal(got.json.headers["x-tier"], "3");
      assert.equal(got.json.headers["x-missing"], undefined, "a claim the token lacks: the header is removed");
      assert.equal(got.json.headers["x-gatehouse-sub"], app.json.client_id);
      const pub = await call(forwarding.url, "/public/logo.svg", { headers: forged });
      assert.equal(pub.status, 200);
      for (const name of Object.keys(forged)) assert.equal(pub.json.headers[name.toLowerCase()], undefined, name);
    } finally {
      await forwarding.stop();
    }
  });

  test("POST bodies reach the origin", async () => {
    const res = await call(gw.url, "/api/keys/x", { token, method: "POST", body: "hello=1" });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.method, "POST");
    assert.equal(res.json.body, "hello=1");
  });

  test("no token: 401 with a bare Bearer challenge", async () => {
    for (const headers of [{}, { authorization: "Basic dXNlcjpwYXNz" }]) {
      const res = await call(gw.url, "/api/apps", { headers });
      assert.equal(res.status, 401);
      assert.equal(res.headers.get("www-authenticate"), "Bearer");
      assert.equal(res.headers.get("cache-control"), "no-store");
    }
  });

  test("missing scope: 403 insufficient_scope naming the scope", async () => {
    const res = await call(gw.url, "/api/orders/1", { token });
    assert.equal(res.status, 403);
    const www = res.headers.get("www-authenticate");
    assert.match(www, /^Bearer error="insufficient_scope"/);
    assert.match(www, /scope="orders:read"/);
    assert.equal(res.json.error, "insufficient_scope");
    const perm = await call(gw.url, "/api/perm", { token });
    assert.equal(perm.status, 403);
    assert.match(perm.headers.get("www-authenticate"), /permission orders_delete/);
  });

  test("any_scopes passes with one of them; methods restrict a rule", async () => {
    assert.equal((await call(gw.url, "/api/keys", { token })).status, 200);
    const narrow = await issuerToken(issuer.url, "gatehouse:users_read");
    assert.equal((await call(gw.url, "/api/keys", { token: narrow })).status, 403);
    // /api/apps is GET-only with a scope; other methods fall through to /api/.
    assert.equal((await call(gw.url, "/api/apps", { token: narrow })).status, 403);
    assert.equal((await call(gw.url, "/api/apps", { token: narrow, method: "DELETE" })).status, 200);
  });

  test("no route: 404; ambiguous paths: 400; dot segments resolve before matching", async () => {
    const res = await call(gw.url, "/elsewhere", { token });
    assert.equal(res.status, 404);
    assert.equal(res.json.error, "not_found");
    for (const p of ["/public%2Fx", "/public/%2E%2E%2Fapi", "/public/x%5c..%5capi"]) {
      const r = await call(gw.url, p, {});
      assert.equal(r.status, 400, p);
    }
    // The runtime resolves `..` and `%2e%2e` segments; the rule that matches is the
    // one for the path the origin will see.
    for (const p of ["/public/../api/apps", "/public/%2e%2e/api/apps"]) {
      const r = await fetch(`${gw.url}${p}`);
      await r.arrayBuffer();
      assert.equal(r.status, 401, p);
    }
  });

  test("CORS: preflight per config, allow-origin on refusals", async () => {
    const ok = await call(gw.url, "/api/apps", {
      method: "OPTIONS",
      headers: {
        origin: "https://app.example.com",
        "access-control-request-method": "GET",
        "access-control-request-headers": "authorization",
      },
    });
    assert.equal(ok.status, 204);
    assert.equal(ok.headers.get("access-control-allow-origin"), "https://app.example.com");
    assert.match(ok.headers.get("access-control-allow-methods"), /GET/);
    const bad = await call(gw.url, "/api/apps", {
      method: "OPTIONS",
      headers: { origin: "https://evil.example.com", "access-control-request-method": "GET" },
    });
    assert.equal(bad.status, 403);
    assert.equal(bad.headers.get("access-control-allow-origin"), null);
    const refused = await call(gw.url, "/api/apps", { headers: { origin: "https://app.example.com" } });
    assert.equal(refused.status, 401);
    assert.equal(refused.headers.get("access-control-allow-origin"), "https://app.example.com");
    const passed = await call(gw.url, "/api/apps", { token, headers: { origin: "https://app.example.com" } });
    assert.equal(passed.status, 200);
    assert.equal(passed.headers.get("access-control-allow-origin"), "https://app.example.com");
    assert.equal(passed.headers.get("x-origin"), "yes");
  });

  test("bad-token corpus: every one is 401 invalid_token, never a 5xx", async () => {
    const [h, p, s] = token.split(".");
    const b64 = (v) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");
    const header = decodeJwtPart(token, 0);
    const jwks = (await getJson(`${issuer.url}/.well-known/jwks.json`)).json;
    const rsa = jwks.keys.find((k) => k.kty === "RSA");
    const ec = jwks.keys.find((k) => k.kid === header.kid);
    // alg confusion: HS256 with the public key as the HMAC secret.
    const hmacWith = async (secret) =>
      await new jose.SignJWT(decodeJwtPart(token, 1))
        .setProtectedHeader({ alg: "HS256", typ: "at+jwt", kid: header.kid })
        .sign(new TextEncoder().encode(secret));
    const corpus = {
      truncated: token.slice(0, token.length - 10),
      half: token.slice(0, token.length / 2),
      "extra segment": `${token}.${s}`,
      "two segments": `${h}.${p}`,
      "empty segments": "..",
      "bad base64 header": `${h}*.${p}.${s}`,
      "bad base64 sig": `${h}.${p}.${s.slice(0, -2)}!!`,
      "padded base64": `${h}=.${p}.${s}`,
      "signature of another token": `${h}.${b64({ ...decodeJwtPart(token, 1), sub: "root" })}.${s}`,
      "zero signature": `${h}.${p}.${b64(Buffer.alloc(64))}`,
      "huge header": `${b64({ ...header, x: "a".repeat(12_000) })}.${p}.${s}`,
      "over 16 KiB": `${b64({ ...header, x: "a".repeat(20_000) })}.${p}.${s}`,
      "wrong typ JWT": `${b64({ ...header, typ: "JWT" })}.${p}.${s}`,
      "no typ": `${b64({ alg: header.alg, kid: header.kid })}.${p}.${s}`,
      "alg none": `${b64({ ...header, alg: "none" })}.${p}.`,
      "alg RS256 on an EC kid": `${b64({ ...header, alg: "RS256" })}.${p}.${s}`,
      "alg ES256 on the RSA kid": `${b64({ ...header, kid: rsa?.kid ?? "x" })}.${p}.${s}`,
      "HS256 with the EC JWK as secret": await hmacWith(JSON.stringify(ec)),
      "HS256 with the RSA n as secret": await hmacWith(rsa?.n ?? "n"),
      "unknown kid": `${b64({ ...header, kid: "no-such-key" })}.${p}.${s}`,
      "crit header": `${b64({ ...header, crit: ["exp"] })}.${p}.${s}`,
      "header is an array": `${b64([header.alg])}.${p}.${s}`,
      "header not json": `${b64("{alg")}.${p}.${s}`,
      "unicode": "ü.ö.ä",
    };
    for (const [name, bad] of Object.entries(corpus)) {
      const res = await fetch(`${gw.url}/api/apps`, { headers: { authorization: `Bearer ${bad}` } });
      await res.arrayBuffer();
      assert.equal(res.status, 401, `${name}: ${res.status}`);
      assert.match(res.headers.get("www-authenticate") ?? "", /error="invalid_token"/, name);
    }
    // Malformed Authorization headers.
    for (const value of ["Bearer", "Bearer  ", `Bearer ${token} extra`, `Bearer ${token}, Bearer ${token}`]) {
      const res = await fetch(`${gw.url}/api/apps`, { headers: { authorization: value } });
      await res.arrayBuffer();
      assert.equal(res.status, 401, value.slice(0, 40));
    }
    // A 20 KiB header value: refused by the runtime or the gateway, never a 5xx.
    const big = await fetch(`${gw.url}/api/apps`, { headers: { authorization: `Bearer ${"A".repeat(20_000)}` } });
    await big.arrayBuffer();
    assert.ok(big.status < 500 && big.status >= 400, `huge header: ${big.status}`);
  });

  test("a cold gateway under concurrent fresh tokens fetches the JWKS once and refuses none", async () => {
    const cold = await startGateway(gatewayConfig({ issuer: issuer.url, origin: origin.url, audience }));
    try {
      const tokens = await Promise.all(Array.from({ length: 8 }, () => issuerToken(issuer.url, ADMIN_SCOPE)));
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) => call(cold.url, "/api/apps", { token: tokens[i % tokens.length] })),
      );
      assert.deepEqual(
        results.map((r) => r.status),
        results.map(() => 200),
      );
    } finally {
      await cold.stop();
    }
  });

  test("key rotation mid-traffic refuses no valid request (POST /admin/v1/keys/rotate)", async (t) => {
    const admin = await issuerToken(issuer.url, "gatehouse:keys_write");
    const probe = await fetch(`${issuer.url}/admin/v1/keys/rotate`, {
      method: "POST",
      headers: { authorization: `Bearer ${admin}` },
    });
    const probeText = await probe.text();
    if (probe.status === 404) {
      t.skip("POST /admin/v1/keys/rotate answers 404: the management API has no key rotation yet");
      return;
    }
    assert.ok(probe.status < 300, `rotate answered ${probe.status}: ${probeText}`);
    const old = await issuerToken(issuer.url, ADMIN_SCOPE);
    const statuses = [];
    const kids = new Set([decodeJwtPart(old, 0).kid]);
    let stop = false;
    const traffic = (async () => {
      const deadline = Date.now() + 8000;
      for (let i = 0; !stop && i < 400 && Date.now() < deadline; i++) {
        const fresh = i % 5 === 0 ? await issuerToken(issuer.url, ADMIN_SCOPE) : old;
        kids.add(decodeJwtPart(fresh, 0).kid);
        const res = await call(gw.url, "/api/apps", { token: fresh });
        statuses.push(res.status);
      }
    })();
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      const res = await fetch(`${issuer.url}/admin/v1/keys/rotate`, {
        method: "POST",
        headers: { authorization: `Bearer ${admin}` },
      });
      await res.arrayBuffer();
      assert.ok(res.status < 300, `rotate answered ${res.status}`);
    }
    await new Promise((r) => setTimeout(r, 1000));
    stop = true;
    await traffic;
    assert.ok(statuses.length > 0);
    const published = (await getJson(`${issuer.url}/.well-known/jwks.json`)).json.keys.length;
    t.diagnostic(`${statuses.length} requests during 3 rotations; kids seen: ${kids.size}; keys published: ${published}`);
    assert.deepEqual(
      statuses.filter((s) => s !== 200),
      [],
      `refused during rotation (kids seen: ${[...kids].join(", ")})`,
    );
  });

  test("issuer outage: cached keys keep verifying tokens seen and unseen", async () => {
    const local = await startGateway(gatewayConfig({ issuer: issuer.url, origin: origin.url, audience }));
    try {
      const seen = await issuerToken(issuer.url, ADMIN_SCOPE);
      const unseen = await issuerToken(issuer.url, ADMIN_SCOPE);
      assert.equal((await call(local.url, "/api/apps", { token: seen })).status, 200);
      await issuer.stop();
      assert.equal((await call(local.url, "/api/apps", { token: seen })).status, 200);
      assert.equal((await call(local.url, "/api/apps", { token: unseen })).status, 200);
      // An unknown kid while the issuer is down: still a 401, not a 5xx.
      const [, p, s] = seen.split(".");
      const h = Buffer.from(JSON.stringify({ alg: "ES256", typ: "at+jwt", kid: "rotated-away" })).toString("base64url");
      assert.equal((await call(local.url, "/api/apps", { token: `${h}.${p}.${s}` })).status, 401);
    } finally {
      await local.stop();
      issuer = await startWorker();
    }
  });
});

describe("with a stand-in issuer (controlled clock and keys)", () => {
  let fake, origin;
  before(async () => {
    fake = await startFakeIssuer();
    origin = await startOrigin();
  });
  after(async () => {
    await origin?.stop();
    await fake?.stop();
  });

  test("expired tokens: refused without leeway, accepted within it", async () => {
    const now = Math.floor(Date.now() / 1000);
    const strict = await startGateway(gatewayConfig({ issuer: fake.issuer, origin: origin.url, extra: "leeway = 0" }));
    const lenient = await startGateway(gatewayConfig({ issuer: fake.issuer, origin: origin.url, extra: "leeway = 120" }));
    try {
      const expired = await fake.mint({ claims: { iat: now - 600, exp: now - 30 } });
      const longGone = await fake.mint({ claims: { iat: now - 900, exp: now - 300 } });
      const early = await fake.mint({ claims: { nbf: now + 30 } });
      assert.equal((await call(strict.url, "/api/orders", { token: expired })).status, 401);
      assert.equal((await call(lenient.url, "/api/orders", { token: expired })).status, 200);
      assert.equal((await call(lenient.url, "/api/orders", { token: longGone })).status, 401);
      assert.equal((await call(strict.url, "/api/orders", { token: early })).status, 401);
      assert.equal((await call(lenient.url, "/api/orders", { token: early })).status, 200);
    } finally {
      await strict.stop();
      await lenient.stop();
    }
  });

  test("permissions and roles are enforced and forwarded", async () => {
    const gw = await startGateway(gatewayConfig({ issuer: fake.issuer, origin: origin.url }));
    try {
      const without = await fake.mint();
      const withPerm = await fake.mint({ claims: { permissions: ["orders_delete"], roles: ["ops"] } });
      assert.equal((await call(gw.url, "/api/perm", { token: without })).status, 403);
      const res = await call(gw.url, "/api/perm", { token: withPerm });
      assert.equal(res.status, 200);
      assert.equal(res.json.headers["x-gatehouse-permissions"], "orders_delete");
      assert.equal(res.json.headers["x-gatehouse-roles"], "ops");
    } finally {
      await gw.stop();
    }
  });

  test("forward_claims per route: objects as JSON, the route's table over the top-level one", async () => {
    const routes = `
[[routes]]
prefix = "/api/billing"
forward_claims = { "x-tenant" = "org", "x-address" = "address" }

[[routes]]
prefix = "/api/"
`;
    const gw = await startGateway(
      gatewayConfig({ issuer: fake.issuer, origin: origin.url, extra: `forward_claims = { "x-tenant" = "tenant" }`, routes }),
    );
    try {
      const token = await fake.mint({ claims: { tenant: "acme", org: "acme-billing", address: { country: "UK" } } });
      const plain = await call(gw.url, "/api/orders", { token, headers: { "x-address": "forged" } });
      assert.equal(plain.status, 200);
      assert.equal(plain.json.headers["x-tenant"], "acme");
      assert.equal(plain.json.headers["x-address"], undefined);
      const billing = await call(gw.url, "/api/billing/1", { token });
      assert.equal(billing.json.headers["x-tenant"], "acme-billing");
      assert.deepEqual(JSON.parse(billing.json.headers["x-address"]), { country: "UK" });
    } finally {
      await gw.stop();
    }
  });

  test("a new kid is fetched at once; a flood of unknown kids costs one refetch per cooldown", async () => {
    const gw = await startGateway(gatewayConfig({ issuer: fake.issuer, origin: origin.url, extra: "jwks_refetch_cooldown = 1" }));
    try {
      assert.equal((await call(gw.url, "/api/orders", { token: await fake.mint() })).status, 200);
      const before = fake.state.fetches;
      await new Promise((r) => setTimeout(r, 1100));
      // A key the gateway has never seen, published after its last fetch.
      const next = await fake.addKey();
      assert.equal((await call(gw.url, "/api/orders", { token: await fake.mint({ key: next }) })).status, 200);
      assert.equal(fake.state.fetches, before + 1);
      const flood = await Promise.all(
        Array.from({ length: 50 }, async () => {
          const t = await fake.mint({ header: { kid: `bogus-${Math.random()}` } });
          return (await call(gw.url, "/api/orders", { token: t })).status;
        }),
      );
      assert.ok(flood.every((s) => s === 401));
      assert.ok(fake.state.fetches - before <= 3, `issuer fetched ${fake.state.fetches - before} times`);
    } finally {
      await gw.stop();
    }
  });

  test("issuer down before the first request: 503 with Retry-After, never 401 or 500", async () => {
    const down = await startFakeIssuer();
    down.state.up = false;
    const gw = await startGateway(gatewayConfig({ issuer: down.issuer, origin: origin.url }));
    try {
      const res = await call(gw.url, "/api/orders", { token: await down.mint() });
      assert.equal(res.status, 503);
      assert.ok(res.headers.get("retry-after"));
    } finally {
      await gw.stop();
      await down.stop();
    }
  });

  test("origin unreachable: 502", async () => {
    const gw = await startGateway(gatewayConfig({ issuer: fake.issuer, origin: "http://127.0.0.1:9" }));
    try {
      const res = await call(gw.url, "/public/x", {});
      assert.equal(res.status, 502);
    } finally {
      await gw.stop();
    }
  });
});

/** A raw request (fetch would normalize the method or the path). */
function rawRequest(base, { method = "GET", path, token }) {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: url.hostname, port: url.port, method, path, headers: token ? { authorization: `Bearer ${token}` } : {} },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c) => (text += c));
        res.on("end", () => resolve({ status: res.statusCode, text }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

describe("path, method and fetch hardening (stand-in issuer)", () => {
  let fake, origin;
  before(async () => {
    fake = await startFakeIssuer();
    origin = await startOrigin();
  });
  after(async () => {
    await origin?.stop();
    await fake?.stop();
  });

  const ADMIN_ROUTES = `
[[routes]]
prefix = "/api/admin"
case_insensitive = true
scopes = ["admin"]

[[routes]]
prefix = "/api/orders"
methods = ["PATCH"]
scopes = ["orders:write"]

[[routes]]
prefix = "/api/"
`;

  test("another spelling of a protected path never reaches the looser rule; the origin sees the matched path", async () => {
    const gw = await startGateway(gatewayConfig({ issuer: fake.issuer, origin: origin.url, routes: ADMIN_ROUTES }));
    try {
      const plain = await fake.mint();
      const admin = await fake.mint({ claims: { scope: "admin orders:write" } });
      const rows = [
        // [method, path as sent, token, status, path + query the origin sees]
        ["GET", "/api/%61dmin/users", plain, 403],
        ["GET", "/API/admin", plain, 403],
        ["GET", "/api//admin", plain, 400],
        ["GET", "/api/admin;x/", plain, 400],
        ["GET", "/api/admin%2Fusers", plain, 400],
        ["GET", "/api/admin%2e%2e/x", plain, 400],
        // The runtime upper-cases the method: `patch` meets the PATCH rule, never the
        // looser one (the engine refuses lower-case methods from hosts that keep them).
        ["patch", "/api/orders/1", plain, 403],
        ["patch", "/api/orders/1", admin, 200, "/api/orders/1"],
        ["PATCH", "/api/orders/1", plain, 403],
        ["GET", "/api/administrators", plain, 200, "/api/administrators"],
        ["GET", "/api/%61dmin/users?x=%2F%61&y", admin, 200, "/api/admin/users?x=%2F%61&y"],
        ["GET", "/API/%41DMIN/a%c3%a9", admin, 200, "/API/ADMIN/a%C3%A9"],
        ["GET", "/api/admin/users?q=1", admin, 200, "/api/admin/users?q=1"],
      ];
      for (const [method, path, token, status, seen] of rows) {
        const before = origin.seen.length;
        const res = await rawRequest(gw.url, { method, path, token });
        assert.equal(res.status, status, `${method} ${path}: ${res.text}`);
        if (seen) {
          const received = JSON.parse(res.text);
          assert.equal(received.url, seen, `${method} ${path}`);
          assert.equal(received.method, method.toUpperCase(), `${method} ${path}`);
        } else {
          assert.equal(origin.seen.length, before, `${method} ${path} reached the origin`);
        }
      }
    } finally {
      await gw.stop();
    }
  });

  test("a redirected JWKS is a failure, never followed", async () => {
    const issuer = await startFakeIssuer();
    issuer.state.jwks = "redirect";
    const gw = await startGateway(gatewayConfig({ issuer: issuer.issuer, origin: origin.url }));
    try {
      const res = await call(gw.url, "/api/orders", { token: await issuer.mint() });
      assert.equal(res.status, 503, res.text);
      assert.ok(issuer.state.paths.includes("/.well-known/jwks.json"));
      assert.ok(!issuer.state.paths.includes("/keys/moved.json"), issuer.state.paths.join(" "));
    } finally {
      await gw.stop();
      await issuer.stop();
    }
  });

  for (const mode of ["huge", "huge-chunked"]) {
    test(`an oversized JWKS (${mode === "huge" ? "with" : "without"} Content-Length) is abandoned at the cap, not read whole`, async () => {
      const issuer = await startFakeIssuer();
      issuer.state.jwks = mode;
      const gw = await startGateway(gatewayConfig({ issuer: issuer.issuer, origin: origin.url }));
      try {
        const res = await call(gw.url, "/api/orders", { token: await issuer.mint() });
        assert.equal(res.status, 503, res.text);
        await new Promise((r) => setTimeout(r, 200));
        const { written, finished } = issuer.state.huge;
        assert.ok(!finished, `the whole ${HUGE_JWKS_BYTES}-byte body was read`);
        assert.ok(written < HUGE_JWKS_BYTES / 2, `${written} bytes written`);
      } finally {
        await gw.stop();
        await issuer.stop();
      }
    });
  }

  test("a key withdrawn from the JWKS stops its cached tokens at the next refresh", async () => {
    // max-age=10 is the shortest freshness the gateway grants.
    const issuer = await startFakeIssuer({ maxAge: 10 });
    const gw = await startGateway(
      gatewayConfig({ issuer: issuer.issuer, origin: origin.url, extra: "jwks_refetch_cooldown = 1" }),
    );
    try {
      const withdrawn = issuer.state.keys[0];
      const token = await issuer.mint({ key: withdrawn });
      assert.equal((await call(gw.url, "/api/orders", { token })).status, 200);
      assert.equal((await call(gw.url, "/api/orders", { token })).status, 200, "cached");
      issuer.state.withdrawn.add(withdrawn.kid);
      const fetches = issuer.state.fetches;
      // Only this (cached) token arrives; once the keys are due, it refreshes them.
      await new Promise((r) => setTimeout(r, 10_500));
      const res = await call(gw.url, "/api/orders", { token });
      assert.equal(res.status, 401, res.text);
      assert.equal(issuer.state.fetches, fetches + 1);
      assert.equal((await call(gw.url, "/api/orders", { token })).status, 401);
    } finally {
      await gw.stop();
      await issuer.stop();
    }
  });

  test("a refetch caused by a new kid drops the cached tokens of a withdrawn key", async () => {
    const issuer = await startFakeIssuer();
    const gw = await startGateway(
      gatewayConfig({ issuer: issuer.issuer, origin: origin.url, extra: "jwks_refetch_cooldown = 1" }),
    );
    try {
      const old = issuer.state.keys[0];
      const token = await issuer.mint({ key: old });
      assert.equal((await call(gw.url, "/api/orders", { token })).status, 200);
      const next = await issuer.addKey();
      issuer.state.withdrawn.add(old.kid);
      await new Promise((r) => setTimeout(r, 1100));
      assert.equal((await call(gw.url, "/api/orders", { token: await issuer.mint({ key: next }) })).status, 200);
      assert.equal((await call(gw.url, "/api/orders", { token })).status, 401);
    } finally {
      await gw.stop();
      await issuer.stop();
    }
  });

  test("audience is required and enforced", async () => {
    const missing = await startGateway(gatewayConfig({ issuer: fake.issuer, origin: origin.url, audience: null }));
    try {
      const res = await call(missing.url, "/public/x", {});
      assert.equal(res.status, 500);
      assert.equal(res.json.error, "server_error");
    } finally {
      await missing.stop();
    }
    const gw = await startGateway(gatewayConfig({ issuer: fake.issuer, origin: origin.url }));
    try {
      assert.equal((await call(gw.url, "/api/orders", { token: await fake.mint() })).status, 200);
      for (const aud of [fake.issuer, `${fake.issuer}/admin/v1`, "https://other.example.com"]) {
        const res = await call(gw.url, "/api/orders", { token: await fake.mint({ claims: { aud } }) });
        assert.equal(res.status, 401, aud);
      }
      const both = await fake.mint({ claims: { aud: ["https://other.example.com", API_AUDIENCE] } });
      assert.equal((await call(gw.url, "/api/orders", { token: both })).status, 200);
    } finally {
      await gw.stop();
    }
  });
});
