// An app's additional token claims (`token_claims`) on the real worker: set through
// the management API, carried by the access and ID tokens of the code and refresh
// grants (only where targeted, never over a registered claim) and by client
// credentials tokens as fixed values, checked with jose against the issuer's JWKS;
// /userinfo unchanged; a protected name refused with problem details.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import * as jose from "jose";
import { adminFetch, adminToken, basicAuth, postToken, startWorker } from "./harness.mjs";
import { createApp, createUser, refresh, signIn, startSite, uniqueName, userinfo } from "./support/flows.mjs";

let worker;
let issuer;
let admin;
let site;
let jwks;

const TOKEN_CLAIMS = [
  { name: "email", source: "user", field: "email", tokens: ["access"] },
  { name: "phone", source: "user", field: "phone_number" },
  { name: "locale", source: "user", field: "locale" },
  { name: "tenant", source: "value", value: "acme", tokens: ["access"] },
  { name: "tier", source: "value", value: 3, tokens: ["id"] },
];

before(async () => {
  worker = await startWorker();
  issuer = worker.issuer;
  site = await startSite();
  admin = await adminToken(worker.url);
  jwks = jose.createRemoteJWKSet(new URL(`${issuer}/.well-known/jwks.json`));
});

after(async () => {
  await site?.close();
  await worker?.stop();
});

describe("additional token claims", () => {
  test("code and refresh grants carry them in the tokens they target, signed and verifiable", async () => {
    const cb = `${site.origin}/claims/cb`;
    const app = await createApp(worker.url, admin, {
      type: "web",
      redirect_uris: [cb],
      first_party: true,
      refresh_tokens: true,
      token_claims: TOKEN_CLAIMS,
    });
    assert.deepEqual(app.token_claims[1].tokens, ["access", "id"], "both tokens by default");
    const user = await createUser(worker.url, admin, { phone_number: "+441632960000" });
    const { token } = await signIn({ issuer, app, user, redirect_uri: cb, scope: "openid offline_access" });

    const { payload: at, protectedHeader } = await jose.jwtVerify(token.access_token, jwks, { issuer, typ: "at+jwt" });
    assert.equal(protectedHeader.typ, "at+jwt");
    assert.equal(at.sub, user.id);
    assert.equal(at.email, user.email);
    assert.equal(at.phone, "+441632960000");
    assert.equal(at.tenant, "acme");
    assert.equal(at.tier, undefined, "an id-only claim");
    assert.equal(at.locale, undefined, "a field the user lacks is left out");

    const { payload: id } = await jose.jwtVerify(token.id_token, jwks, { issuer, audience: app.client_id });
    assert.equal(id.tier, 3);
    assert.equal(id.phone, "+441632960000");
    assert.equal(id.tenant, undefined);
    assert.equal(id.email, undefined, "openid alone releases no email, and the claim targets access tokens");

    // /userinfo follows the scopes only.
    const info = await userinfo(issuer, token.access_token);
    assert.equal(info.status, 200, info.text);
    assert.equal(info.json.sub, user.id);
    assert.equal(info.json.tenant, undefined);
    assert.equal(info.json.phone, undefined);

    // The user record changes; the next refresh carries the new value.
    const patched = await adminFetch(worker.url, admin, "PATCH", `/admin/v1/users/${user.id}`, { body: { locale: "en-GB" } });
    assert.equal(patched.status, 200, patched.text);
    const refreshed = await refresh(issuer, app, token.refresh_token);
    assert.equal(refreshed.status, 200, refreshed.text);
    const { payload: at2 } = await jose.jwtVerify(refreshed.json.access_token, jwks, { issuer });
    assert.equal(at2.locale, "en-GB");
    assert.equal(at2.tenant, "acme");
    const { payload: id2 } = await jose.jwtVerify(refreshed.json.id_token, jwks, { issuer, audience: app.client_id });
    assert.equal(id2.locale, "en-GB");
  });

  test("client credentials tokens carry the fixed values only", async () => {
    const scope = await adminFetch(worker.url, admin, "POST", "/admin/v1/scopes", { body: { key: `${uniqueName("svc").toLowerCase()}:read` } });
    assert.equal(scope.status, 201, scope.text);
    const app = await createApp(worker.url, admin, { type: "s2s", scope: scope.json.key, token_claims: TOKEN_CLAIMS });
    const res = await postToken(worker.url, "grant_type=client_credentials", { authorization: basicAuth(app.client_id, app.client_secret) });
    assert.equal(res.status, 200, res.text);
    const { payload } = await jose.jwtVerify(res.json.access_token, jwks, { issuer });
    assert.equal(payload.sub, app.client_id);
    assert.equal(payload.tenant, "acme");
    assert.equal(payload.email, undefined);
    assert.equal(payload.tier, undefined);
  });

  test("registered and protocol claims, duplicates and unknown user fields are refused with problem details", async () => {
    const create = (token_claims) =>
      adminFetch(worker.url, admin, "POST", "/admin/v1/apps", {
        body: { client_name: uniqueName("bad"), type: "web", redirect_uris: [`${site.origin}/x`], token_claims },
      });
    for (const [claims, pointer] of [
      [[{ name: "sub", source: "value", value: "root" }], "/token_claims/0/name"],
      [[{ name: "aud", source: "value", value: "x" }], "/token_claims/0/name"],
      [[{ name: "permissions", source: "value", value: "all" }], "/token_claims/0/name"],
      [[{ name: "t", source: "value", value: 1 }, { name: "t", source: "value", value: 2 }], "/token_claims/1/name"],
      [[{ name: "pw", source: "user", field: "password" }], "/token_claims/0/field"],
      [[{ name: "big", source: "value", value: "x".repeat(257) }], "/token_claims/0/value"],
    ]) {
      const r = await create(claims);
      assert.equal(r.status, 400, r.text);
      assert.match(r.headers.get("content-type"), /application\/problem\+json/);
      assert.deepEqual(r.json.errors.map((e) => e.pointer), [pointer], r.text);
    }
  });
});
