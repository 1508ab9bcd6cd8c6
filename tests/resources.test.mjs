// Access tokens bound to the API they are for (RFC 8707 resource indicators, RFC
// 9068 `aud`), and the management API's own power kept with gatehouse:admin, on
// workerd with openid-client and jose.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import * as oidc from "openid-client";
import { createRemoteJWKSet, jwtVerify } from "jose";
import { adminFetch, adminToken, basicAuth, postToken, startWorker } from "./harness.mjs";

const ORDERS = "https://orders.example.com";
const SHIPPING = "urn:example:shipping";

describe("resources and token audiences on workerd", () => {
  let worker;
  let call;
  let jwks;
  let app;

  const management = () => `${worker.issuer}/admin/v1`;
  const verifyFor = async (token, audience) =>
    (await jwtVerify(token, jwks, { issuer: worker.issuer, audience, typ: "at+jwt" })).payload;
  const clientConfig = (id, secret) =>
    oidc.discovery(new URL(worker.issuer), id, undefined, oidc.ClientSecretBasic(secret), {
      execute: [oidc.allowInsecureRequests],
    });
  const tokenOf = (id, secret, params) =>
    postToken(worker.url, new URLSearchParams({ grant_type: "client_credentials", ...params }), {
      authorization: basicAuth(id, secret),
    });

  before(async () => {
    worker = await startWorker();
    const admin = await adminToken(worker.url);
    call = (method, path, opts, token = admin) => adminFetch(worker.url, token, method, path, opts);
    jwks = createRemoteJWKSet(new URL(`${worker.issuer}/.well-known/jwks.json`));
    for (const [identifier, name, extra] of [
      [ORDERS, "Orders API", { access_token_lifetime: 300 }],
      [SHIPPING, "Shipping API", {}],
    ]) {
      const r = await call("POST", "/admin/v1/resources", { body: { identifier, name, ...extra } });
      assert.equal(r.status, 201, r.text);
    }
    for (const [key, resource] of [
      ["orders:read", ORDERS],
      ["shipping:read", SHIPPING],
    ]) {
      const r = await call("POST", "/admin/v1/scopes", { body: { key, resource } });
      assert.equal(r.status, 201, r.text);
      assert.equal(r.json.security_level, "confidential", "scopes are confidential by default");
    }
    const created = await call("POST", "/admin/v1/apps", {
      body: { client_name: "fulfilment", type: "s2s", scope: "orders:read shipping:read" },
    });
    assert.equal(created.status, 201, created.text);
    app = created.json;
  });
  after(async () => {
    await worker?.stop();
  });

  test("openid-client gets a token for the resource it names, and its scopes pick it otherwise", async () => {
    const config = await clientConfig(app.client_id, app.client_secret);
    const named = await oidc.clientCredentialsGrant(config, { resource: ORDERS });
    assert.equal(named.scope, "orders:read");
    assert.equal(named.expires_in, 300, "the resource's own lifetime");
    const payload = await verifyFor(named.access_token, ORDERS);
    assert.equal(payload.aud, ORDERS);
    await assert.rejects(verifyFor(named.access_token, SHIPPING), "not a token for another API");

    const byScope = await oidc.clientCredentialsGrant(config, { scope: "shipping:read" });
    assert.equal((await verifyFor(byScope.access_token, SHIPPING)).aud, SHIPPING);
  });

  test("refusals: invalid_target and invalid_scope", async () => {
    for (const [params, error] of [
      [{ resource: "urn:example:unknown" }, "invalid_target"],
      [{ resource: "not a uri" }, "invalid_target"],
      [{ resource: `${ORDERS}#frag` }, "invalid_target"],
      [{ resource: ORDERS, scope: "shipping:read" }, "invalid_scope"],
      [{ scope: "orders:read shipping:read" }, "invalid_scope"],
      [{}, "invalid_scope"],
    ]) {
      const r = await tokenOf(app.client_id, app.client_secret, params);
      assert.equal(r.status, 400, `${JSON.stringify(params)}: ${r.text}`);
      assert.equal(r.json.error, error, JSON.stringify(params));
    }
  });

  test("the management API accepts only tokens for it", async () => {
    const orders = await tokenOf(app.client_id, app.client_secret, { scope: "orders:read" });
    const refused = await call("GET", "/admin/v1/apps", {}, orders.json.access_token);
    assert.equal(refused.status, 401, refused.text);
    // The bootstrap client without `resource` keeps working, and its token names the API.
    const admin = await adminToken(worker.url, "gatehouse:apps_read");
    assert.equal((await verifyFor(admin, management())).aud, management());
    assert.equal((await call("GET", "/admin/v1/apps", {}, admin)).status, 200);
    const listed = await call("GET", "/admin/v1/resources");
    assert.deepEqual(
      listed.json.items.map((r) => r.identifier),
      [management(), ORDERS, SHIPPING],
    );
  });

  test("an apps_write token cannot mint itself an administrator", async () => {
    const writerApp = await call("POST", "/admin/v1/apps", {
      body: { client_name: "provisioner", type: "s2s", scope: "gatehouse:apps_write" },
    });
    assert.equal(writerApp.status, 201, writerApp.text);
    const writer = await tokenOf(writerApp.json.client_id, writerApp.json.client_secret, {});
    assert.equal(writer.status, 200, writer.text);
    const token = writer.json.access_token;
    const escalate = await call(
      "POST",
      "/admin/v1/apps",
      { body: { client_name: "escalated", type: "s2s", scope: "gatehouse:admin" } },
      token,
    );
    assert.equal(escalate.status, 403, escalate.text);
    assert.equal(escalate.headers.get("content-type"), "application/problem+json");
    assert.match(escalate.json.detail, /gatehouse:admin/);
    const takeover = await call("POST", `/admin/v1/apps/${writerApp.json.client_id}/secret`, {}, token);
    assert.equal(takeover.status, 403, takeover.text);

    // Disabled since: the token stops working at once here.
    const disabled = await call("POST", `/admin/v1/apps/${writerApp.json.client_id}/disable`);
    assert.equal(disabled.status, 200, disabled.text);
    const after = await call("GET", "/admin/v1/apps", {}, token);
    assert.equal(after.status, 401, after.text);
  });
});
