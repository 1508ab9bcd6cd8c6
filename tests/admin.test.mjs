// The management API end to end: the built worker on workerd (Miniflare), the
// bootstrap admin client's token, apps that can use the token endpoint the moment
// they exist, and every kind of refusal as problem details, never a 500.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createLocalJWKSet, createRemoteJWKSet, jwtVerify } from "jose";
import {
  adminFetch,
  adminToken,
  basicAuth,
  postToken,
  removeDir,
  startWorker,
  tempDir,
} from "./harness.mjs";

const PROBLEM = "application/problem+json";

function assertProblem(r, status, what) {
  assert.equal(r.status, status, `${what}: ${r.text}`);
  assert.equal(r.headers.get("content-type"), PROBLEM, what);
  assert.equal(r.json.status, status, what);
  assert.match(r.json.type, /^urn:gatehouse:problem:/, what);
  assert.equal(typeof r.json.title, "string", what);
  return r.json;
}

const pointers = (problem) => (problem.errors ?? []).map((e) => e.pointer);

/** client_credentials at /token, by Basic or by form post. */
async function clientCredentials(base, clientId, secret, method = "basic") {
  const body = new URLSearchParams({ grant_type: "client_credentials" });
  if (method === "post") {
    body.set("client_id", clientId);
    body.set("client_secret", secret);
    return await postToken(base, body);
  }
  return await postToken(base, body, { authorization: basicAuth(clientId, secret) });
}

describe("management API on workerd", () => {
  let worker;
  let admin;
  let call;
  let jwks;

  before(async () => {
    worker = await startWorker();
    admin = await adminToken(worker.url);
    call = (method, path, opts) => adminFetch(worker.url, admin, method, path, opts);
    jwks = createRemoteJWKSet(new URL(`${worker.issuer}/.well-known/jwks.json`));
  });
  after(async () => {
    await worker?.stop();
  });

  async function verify(token, clientId) {
    const { payload, protectedHeader } = await jwtVerify(token, jwks, {
      issuer: worker.issuer,
      audience: worker.issuer,
      typ: "at+jwt",
      algorithms: ["ES256"],
    });
    assert.equal(payload.client_id, clientId);
    assert.equal(payload.sub, clientId);
    return { payload, protectedHeader };
  }

  test("the bootstrap client's token carries every management scope", async () => {
    const { payload } = await jwtVerify(admin, jwks, { issuer: worker.issuer, typ: "at+jwt" });
    assert.ok(payload.scope.split(" ").includes("gatehouse:admin"));
  });

  test("an SPA app is public, requires PKCE and gets no secret", async () => {
    const r = await call("POST", "/admin/v1/apps", {
      body: { client_name: "storefront", type: "spa", redirect_uris: ["https://shop.example.com/callback"] },
    });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.headers.get("etag"), '"1"');
    assert.equal(r.headers.get("location"), `${worker.issuer}/admin/v1/apps/${r.json.client_id}`);
    assert.equal(r.json.token_endpoint_auth_method, "none");
    assert.equal(r.json.require_pkce, true);
    assert.deepEqual(r.json.grant_types, ["authorization_code", "refresh_token"]);
    assert.equal(r.json.client_secret, undefined);
    assert.match(r.json.client_id, /^[A-Za-z0-9_-]{22}$/);
    // A public app cannot use the token endpoint's client_credentials grant.
    const denied = await postToken(worker.url, `grant_type=client_credentials&client_id=${r.json.client_id}`);
    assert.ok([400, 401].includes(denied.status), denied.text);
  });

  test("a new S2S app gets tokens at once, by Basic and by post, that verify against the JWKS", async () => {
    const basic = await call("POST", "/admin/v1/apps", {
      body: { client_name: "billing_sync", type: "s2s", scope: "orders:read orders:write" },
    });
    assert.equal(basic.status, 201, basic.text);
    const { client_id: id, client_secret: secret } = basic.json;
    assert.match(secret, /^[A-Za-z0-9_-]{43}$/);
    const granted = await clientCredentials(worker.url, id, secret);
    assert.equal(granted.status, 200, granted.text);
    assert.equal(granted.json.token_type, "Bearer");
    const { payload } = await verify(granted.json.access_token, id);
    assert.deepEqual(payload.scope.split(" ").sort(), ["orders:read", "orders:write"]);
    // The secret is shown once only.
    const fetched = await call("GET", `/admin/v1/apps/${id}`);
    assert.equal(fetched.json.client_secret, undefined);
    assert.ok(!fetched.text.includes(secret));

    const post = await call("POST", "/admin/v1/apps", {
      body: { client_name: "reports_job", type: "s2s", token_endpoint_auth_method: "client_secret_post" },
    });
    assert.equal(post.status, 201, post.text);
    const viaPost = await clientCredentials(worker.url, post.json.client_id, post.json.client_secret, "post");
    assert.equal(viaPost.status, 200, viaPost.text);
    await verify(viaPost.json.access_token, post.json.client_id);
    // A client_secret_post app may not switch to Basic.
    const viaBasic = await clientCredentials(worker.url, post.json.client_id, post.json.client_secret);
    assert.equal(viaBasic.status, 401);
    assert.equal(viaBasic.json.error, "invalid_client");
  });

  test("usage: the token endpoint counts an app's logins, tokens and failures after answering", async () => {
    const app = (await call("POST", "/admin/v1/apps", { body: { client_name: "counted", type: "s2s" } })).json;
    for (let i = 0; i < 3; i++) {
      assert.equal((await clientCredentials(worker.url, app.client_id, app.client_secret)).status, 200);
    }
    assert.equal((await clientCredentials(worker.url, app.client_id, "not-the-secret")).status, 401);
    // The counts are batched per isolate and written under waitUntil: an app's
    // first event at once, the rest when its batch is due (at most 5 s later, by a
    // timer). Poll for up to 15 s.
    let report;
    for (let i = 0; i < 150; i++) {
      report = await call("GET", `/admin/v1/apps/${app.client_id}/usage`);
      assert.equal(report.status, 200, report.text);
      if (report.json.totals.tokens === 3 && report.json.totals.failures === 1) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.deepEqual(report.json.totals, { logins: 3, registrations: 0, failures: 1, tokens: 3 });
    assert.equal(report.json.interval, "hour");
    assert.equal(report.json.buckets.length, 24);
    const daily = await call("GET", `/admin/v1/apps/${app.client_id}/usage?interval=day`);
    assert.equal(daily.json.buckets.length, 30);
    assert.deepEqual(daily.json.totals, report.json.totals);
    assertProblem(await call("GET", "/admin/v1/apps/nope/usage"), 404, "unknown app");
    const bad = assertProblem(await call("GET", `/admin/v1/apps/${app.client_id}/usage?from=x`), 400, "bad from");
    assert.deepEqual(pointers(bad), ["from"]);
  });

  test("disabling an app stops its tokens at once, enabling brings them back", async () => {
    const app = (await call("POST", "/admin/v1/apps", { body: { client_name: "toggled", type: "s2s" } })).json;
    const disabled = await call("POST", `/admin/v1/apps/${app.client_id}/disable`);
    assert.equal(disabled.status, 200);
    assert.equal(disabled.json.enabled, false);
    const refused = await clientCredentials(worker.url, app.client_id, app.client_secret);
    assert.equal(refused.status, 401, refused.text);
    assert.equal(refused.json.error, "invalid_client");
    const enabled = await call("POST", `/admin/v1/apps/${app.client_id}/enable`);
    assert.equal(enabled.json.enabled, true);
    const again = await clientCredentials(worker.url, app.client_id, app.client_secret);
    assert.equal(again.status, 200, again.text);
  });

  test("a secret reset invalidates the old secret", async () => {
    const app = (await call("POST", "/admin/v1/apps", { body: { client_name: "rotated", type: "s2s" } })).json;
    const reset = await call("POST", `/admin/v1/apps/${app.client_id}/secret`);
    assert.equal(reset.status, 200, reset.text);
    assert.deepEqual(Object.keys(reset.json).sort(), ["client_id", "client_secret"]);
    assert.notEqual(reset.json.client_secret, app.client_secret);
    const old = await clientCredentials(worker.url, app.client_id, app.client_secret);
    assert.equal(old.status, 401);
    assert.equal(old.json.error, "invalid_client");
    const fresh = await clientCredentials(worker.url, app.client_id, reset.json.client_secret);
    assert.equal(fresh.status, 200, fresh.text);
  });

  test("If-Match: a stale ETag is 412 and changes nothing", async () => {
    const created = await call("POST", "/admin/v1/apps", { body: { client_name: "contested", type: "s2s" } });
    const url = `/admin/v1/apps/${created.json.client_id}`;
    const etag = created.headers.get("etag");
    const first = await call("PATCH", url, { body: { description: "first" }, headers: { "if-match": etag } });
    assert.equal(first.status, 200, first.text);
    assert.notEqual(first.headers.get("etag"), etag);
    const second = await call("PATCH", url, { body: { description: "second" }, headers: { "if-match": etag } });
    assert.equal(assertProblem(second, 412, "stale PATCH").type, "urn:gatehouse:problem:precondition_failed");
    const deleted = await call("DELETE", url, { headers: { "if-match": etag } });
    assertProblem(deleted, 412, "stale DELETE");
    assert.equal((await call("GET", url)).json.description, "first");
  });

  test("a duplicate name is 409, case-insensitively", async () => {
    assert.equal((await call("POST", "/admin/v1/apps", { body: { client_name: "Unique_One", type: "s2s" } })).status, 201);
    const clash = await call("POST", "/admin/v1/apps", { body: { client_name: "unique_one", type: "web", redirect_uris: ["https://a.example/cb"] } });
    assert.deepEqual(pointers(assertProblem(clash, 409, "duplicate app")), ["/client_name"]);
    const user = await call("POST", "/admin/v1/users", { body: { username: "dup_user" } });
    assert.equal(user.status, 201, user.text);
    assertProblem(await call("POST", "/admin/v1/users", { body: { username: "DUP_USER" } }), 409, "duplicate user");
  });

  test("bad bodies get problem details naming the field, never a 500", async () => {
    const cases = [
      ["wrong types", { client_name: 5, type: "s2s", enabled: "yes", redirect_uris: "https://a" }, ["/client_name", "/enabled", "/redirect_uris"]],
      ["unknown fields", { client_name: "x", type: "s2s", colour: "blue", "a/b": 1 }, ["/colour", "/a~1b"]],
      ["over-limit values", {
        client_name: "x".repeat(65),
        type: "s2s",
        description: "d".repeat(121),
        access_token_lifetime: 86_401,
        refresh_token_lifetime: 86_399,
        refresh_token_grace_period: 61,
        metadata: Object.fromEntries([...Array(11).keys()].map((i) => [`k${i}`, "v"])),
      }, ["/client_name", "/description", "/access_token_lifetime", "/refresh_token_lifetime", "/refresh_token_grace_period", "/metadata"]],
      ["a metadata value over 256", { client_name: "m", type: "s2s", metadata: { k: "v".repeat(257) } }, ["/metadata/k"]],
      ["type rules", { client_name: "s", type: "spa", redirect_uris: ["http://app.example.com/cb#frag"], token_endpoint_auth_method: "client_secret_basic" }, ["/redirect_uris/0", "/token_endpoint_auth_method"]],
      ["no type", { client_name: "t" }, ["/type"]],
    ];
    for (const [what, body, expected] of cases) {
      const problem = assertProblem(await call("POST", "/admin/v1/apps", { body }), 400, what);
      assert.equal(problem.type, "urn:gatehouse:problem:validation", what);
      for (const p of expected) assert.ok(pointers(problem).includes(p), `${what}: ${p} in ${pointers(problem)}`);
    }
    const raw = [
      ["not JSON", "{nope", "application/json", 400],
      ["an array", "[1,2]", "application/json", 400],
      ["a string", '"app"', "application/json", 400],
      ["not UTF-8", new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), "application/json", 400],
      ["text/plain", '{"client_name":"x","type":"s2s"}', "text/plain", 415],
      ["form", "client_name=x", "application/x-www-form-urlencoded", 415],
      ["70 KiB", `{"client_name":"big","type":"s2s","description":"${"x".repeat(70 * 1024)}"}`, "application/json", 413],
      ["2 MiB", `{"d":"${"x".repeat(2 * 1024 * 1024)}"}`, "application/json", 413],
    ];
    for (const [what, body, contentType, status] of raw) {
      assertProblem(await call("POST", "/admin/v1/apps", { body, contentType }), status, what);
    }
    const noType = await adminFetch(worker.url, admin, "POST", "/admin/v1/users", {});
    assertProblem(noType, 415, "no content type");
    for (const [path, body] of [
      ["/admin/v1/users", { username: "u1", password: 12345678, email_verified: "yes", address: { city: "x" } }],
      ["/admin/v1/scopes", { key: "a b", description: { english: "x" }, security_level: "secret" }],
      ["/admin/v1/roles", { name: "", description: "d".repeat(121), permissions: "all" }],
      ["/admin/v1/scope-groups", { name: "g".repeat(65), extra: true }],
    ]) {
      const problem = assertProblem(await call("POST", path, { body }), 400, path);
      assert.ok(problem.errors.length >= 2, `${path}: ${JSON.stringify(problem.errors)}`);
    }
  });

  test("a token without the route's scope is 403 naming the scope", async () => {
    const readOnly = await adminToken(worker.url, "gatehouse:apps_read");
    const list = await adminFetch(worker.url, readOnly, "GET", "/admin/v1/apps");
    assert.equal(list.status, 200);
    const denied = await adminFetch(worker.url, readOnly, "POST", "/admin/v1/apps", { body: { client_name: "x", type: "s2s" } });
    const problem = assertProblem(denied, 403, "apps_write missing");
    assert.equal(problem.type, "urn:gatehouse:problem:insufficient_scope");
    const challenge = denied.headers.get("www-authenticate");
    assert.match(challenge, /^Bearer /);
    assert.match(challenge, /error="insufficient_scope"/);
    assert.match(challenge, /scope="gatehouse:apps_write"/);
    const users = await adminFetch(worker.url, readOnly, "DELETE", "/admin/v1/users/someone");
    assert.match(users.headers.get("www-authenticate"), /scope="gatehouse:users_delete"/);
    const none = await adminFetch(worker.url, undefined, "GET", "/admin/v1/apps");
    assertProblem(none, 401, "no token");
    assert.equal(none.headers.get("www-authenticate"), 'Bearer realm="gatehouse"');
    // An app's own token is not for the management API (its `aud` is the issuer's
    // default audience, not {ISSUER}/admin/v1): refused as an invalid token.
    const app = (await call("POST", "/admin/v1/apps", { body: { client_name: "outsider", type: "s2s" } })).json;
    const appToken = (await clientCredentials(worker.url, app.client_id, app.client_secret)).json.access_token;
    const outsider = await adminFetch(worker.url, appToken, "GET", "/admin/v1/apps");
    assertProblem(outsider, 401, "app token");
    assert.match(outsider.headers.get("www-authenticate"), /error="invalid_token"/);
  });

  test("keys: the list has public parts only; a rotation publishes 4 keys in the JWKS", async () => {
    const listed = await call("GET", "/admin/v1/keys");
    assert.equal(listed.status, 200);
    assert.equal(listed.json.keys.length, 2);
    for (const key of listed.json.keys) assert.equal(key.public_jwk.d, undefined);
    assert.doesNotMatch(listed.text, /"(d|p|q|dp|dq|qi|sealed)"/);
    const rotated = await call("POST", "/admin/v1/keys/rotate");
    assert.equal(rotated.status, 200, rotated.text);
    assert.deepEqual(rotated.json.keys.map((k) => k.status).sort(), ["current", "current", "next", "next"]);
    const published = await fetch(`${worker.url}/.well-known/jwks.json`).then((r) => r.json());
    assert.equal(published.keys.length, 4);
    assert.deepEqual(
      published.keys.map((k) => k.kid).sort(),
      rotated.json.keys.map((k) => k.kid).sort(),
    );
    // Tokens still verify across the rotation (the current key still signs).
    const fresh = await adminToken(worker.url, "gatehouse:keys_read");
    await jwtVerify(fresh, createLocalJWKSet(published), { issuer: worker.issuer, typ: "at+jwt" });
  });

  test("keys: a revoked key leaves the list and the JWKS at once, and signing goes on", async () => {
    // An RS256 app, so the withdrawn key is not the one that signed the admin token.
    const app = (
      await call("POST", "/admin/v1/apps", {
        body: { client_name: "rsa_job", type: "s2s", access_token_signed_response_alg: "RS256" },
      })
    ).json;
    const before = await clientCredentials(worker.url, app.client_id, app.client_secret);
    assert.equal(before.status, 200, before.text);
    const { protectedHeader } = await jwtVerify(before.json.access_token, jwks, { issuer: worker.issuer });
    assert.equal(protectedHeader.alg, "RS256");
    const kid = protectedHeader.kid;

    assertProblem(await call("POST", "/admin/v1/keys/no-such-kid/revoke"), 404, "unknown kid");
    const reader = await adminToken(worker.url, "gatehouse:keys_read");
    const denied = await adminFetch(worker.url, reader, "POST", `/admin/v1/keys/${kid}/revoke`);
    assertProblem(denied, 403, "keys_read cannot revoke");

    const revoked = await call("POST", `/admin/v1/keys/${kid}/revoke`);
    assert.equal(revoked.status, 200, revoked.text);
    assert.ok(!revoked.json.keys.some((k) => k.kid === kid), "gone from the answer");
    assert.ok(revoked.json.keys.some((k) => k.alg === "RS256" && k.status === "current"), "an RS256 key signs");
    const listed = await call("GET", "/admin/v1/keys");
    assert.deepEqual(listed.json, revoked.json);
    const published = await fetch(`${worker.url}/.well-known/jwks.json`).then((r) => r.json());
    assert.ok(!published.keys.some((k) => k.kid === kid), "gone from the JWKS");
    const fresh = createLocalJWKSet(published);
    await assert.rejects(jwtVerify(before.json.access_token, fresh, { issuer: worker.issuer }));
    // The app gets tokens at once, from another key a fresh JWKS verifies.
    const after = await clientCredentials(worker.url, app.client_id, app.client_secret);
    assert.equal(after.status, 200, after.text);
    const verified = await jwtVerify(after.json.access_token, fresh, { issuer: worker.issuer });
    assert.notEqual(verified.protectedHeader.kid, kid);
    assert.equal(verified.protectedHeader.alg, "RS256");
  });

  test("users: created with a password that never comes back, disabled, deleted", async () => {
    const password = "correct horse battery staple";
    const created = await call("POST", "/admin/v1/users", {
      body: {
        username: "ada",
        password,
        name: "Ada Lovelace",
        email: "ada@example.com",
        email_verified: true,
        phone_number: "+442071234567",
        address: { locality: "London", country: "GB" },
      },
    });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.json.has_password, true);
    assert.match(created.json.id, /^[A-Za-z0-9_-]{22}$/);
    const url = `/admin/v1/users/${created.json.id}`;
    for (const r of [created, await call("GET", url), await call("GET", "/admin/v1/users")]) {
      assert.ok(!r.text.includes("correct horse"), "no password");
      assert.ok(!/argon2|\$v=19|password_hash/.test(r.text), `no hash: ${r.text}`);
      assert.ok(!("password" in (r.json.items?.[0] ?? r.json)));
    }
    const set = await call("POST", `${url}/password`, { body: { password: "difference engine" } });
    assert.equal(set.status, 204, set.text);
    assert.equal(set.text, "");
    assertProblem(await call("POST", `${url}/password`, { body: { password: "ada" } }), 400, "short password");
    const disabled = await call("POST", `${url}/disable`);
    assert.equal(disabled.status, 200);
    assert.equal(disabled.json.enabled, false);
    assert.equal((await call("GET", url)).json.enabled, false);
    assert.equal((await call("DELETE", url)).status, 204);
    assertProblem(await call("GET", url), 404, "deleted user");
    // The username is free again.
    assert.equal((await call("POST", "/admin/v1/users", { body: { username: "ada" } })).status, 201);
  });

  test("permissions and roles round trip; deleting a permission removes it from the role", async () => {
    const app = (await call("POST", "/admin/v1/apps", { body: { client_name: "orders_api", type: "s2s" } })).json;
    const perms = `/admin/v1/apps/${app.client_id}/permissions`;
    for (const name of ["read_orders", "write_orders"]) {
      const r = await call("POST", perms, { body: { name, description: `can ${name}` } });
      assert.equal(r.status, 201, r.text);
    }
    assertProblem(await call("POST", perms, { body: { name: "READ_ORDERS" } }), 409, "duplicate permission");
    const listed = await call("GET", perms);
    assert.deepEqual(listed.json.items.map((p) => p.name), ["read_orders", "write_orders"]);
    const role = await call("POST", "/admin/v1/roles", {
      body: {
        name: "clerk",
        permissions: [
          { client_id: app.client_id, name: "read_orders" },
          { client_id: app.client_id, name: "write_orders" },
        ],
      },
    });
    assert.equal(role.status, 201, role.text);
    const roleUrl = `/admin/v1/roles/${role.json.id}`;
    const user = await call("POST", "/admin/v1/users", { body: { username: "clerk_1", roles: [role.json.id] } });
    assert.equal(user.status, 201, user.text);
    assert.deepEqual(user.json.roles, [role.json.id]);
    const patched = await call("PATCH", `${perms}/read_orders`, { body: { description: "Read every order" } });
    assert.equal(patched.json.description, "Read every order");
    assert.equal((await call("DELETE", `${perms}/write_orders`)).status, 204);
    const after = await call("GET", roleUrl);
    assert.deepEqual(after.json.permissions.map((p) => p.name), ["read_orders"]);
    const renamed = await call("PATCH", roleUrl, { body: { name: "senior_clerk" }, headers: { "if-match": after.headers.get("etag") } });
    assert.equal(renamed.status, 200, renamed.text);
    assert.equal(renamed.json.name, "senior_clerk");
    assert.equal((await call("DELETE", roleUrl)).status, 204);
    assertProblem(await call("GET", roleUrl), 404, "deleted role");
  });
});

describe("management API state survives a restart", () => {
  test("an app created before a Miniflare restart still authenticates after", async () => {
    const dir = await tempDir();
    let first;
    let second;
    try {
      first = await startWorker({ persistTo: dir });
      const token = await adminToken(first.url);
      const created = await adminFetch(first.url, token, "POST", "/admin/v1/apps", {
        body: { client_name: "survivor", type: "s2s", token_endpoint_auth_method: "client_secret_post" },
      });
      assert.equal(created.status, 201, created.text);
      const { client_id: id, client_secret: secret } = created.json;
      assert.equal((await clientCredentials(first.url, id, secret, "post")).status, 200);
      await first.stop();

      second = await startWorker({ persistTo: dir, port: first.port });
      const after = await clientCredentials(second.url, id, secret, "post");
      assert.equal(after.status, 200, after.text);
      const jwks = createRemoteJWKSet(new URL(`${second.issuer}/.well-known/jwks.json`));
      const { payload } = await jwtVerify(after.json.access_token, jwks, { issuer: second.issuer, typ: "at+jwt" });
      assert.equal(payload.client_id, id);
      const fetched = await adminFetch(second.url, await adminToken(second.url), "GET", `/admin/v1/apps/${id}`);
      assert.equal(fetched.status, 200);
      assert.equal(fetched.json.client_name, "survivor");
      assert.equal((await clientCredentials(second.url, id, "wrong-secret", "post")).status, 401);
    } finally {
      await first?.stop();
      await second?.stop();
      await removeDir(dir);
    }
  });
});
