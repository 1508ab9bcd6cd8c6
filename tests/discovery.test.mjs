// Discovery documents (RFC 8414, OIDC Discovery) and the JWKS.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { getJson, MANAGEMENT_SCOPES, startWorker } from "./harness.mjs";

const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

let worker;
before(async () => {
  worker = await startWorker();
});
after(async () => {
  await worker?.stop();
});

for (const doc of ["openid-configuration", "oauth-authorization-server"]) {
  describe(`/.well-known/${doc}`, () => {
    let res;
    before(async () => {
      res = await getJson(`${worker.url}/.well-known/${doc}`);
    });

    test("200 JSON", () => {
      assert.equal(res.status, 200, res.text);
      assert.match(res.headers.get("content-type") ?? "", /^application\/json\b/i);
      assert.equal(typeof res.json, "object", `not JSON: ${res.text.slice(0, 200)}`);
    });

    test("issuer and endpoint URLs are exactly under ISSUER", () => {
      const m = res.json;
      assert.equal(m.issuer, worker.issuer);
      assert.equal(m.token_endpoint, `${worker.issuer}/token`);
      assert.equal(m.jwks_uri, `${worker.issuer}/.well-known/jwks.json`);
    });

    test("advertises the served grants and the secret, JWT and public auth methods", async () => {
      const m = res.json;
      assert.deepEqual(m.grant_types_supported, [
        "authorization_code",
        "refresh_token",
        "client_credentials",
        "urn:ietf:params:oauth:grant-type:device_code",
        "password",
      ]);
      assert.deepEqual(
        [...m.token_endpoint_auth_methods_supported].sort(),
        ["client_secret_basic", "client_secret_jwt", "client_secret_post", "none", "private_key_jwt"],
      );
      assert.deepEqual(m.response_types_supported, ["code"]);
      assert.deepEqual(m.code_challenge_methods_supported, ["S256"]);
      assert.equal(m.authorization_response_iss_parameter_supported, true);
      // Every advertised endpoint is served: none answers 404.
      for (const [member, url] of Object.entries(m)) {
        if (!member.endsWith("_endpoint")) continue;
        assert.ok(url.startsWith(`${worker.issuer}/`), `${member} under ISSUER`);
        const r = await fetch(url, { redirect: "manual" });
        await r.arrayBuffer();
        assert.notEqual(r.status, 404, `${member} ${url}`);
      }
      assert.deepEqual(
        [...m.token_endpoint_auth_signing_alg_values_supported].sort(),
        ["ES256", "HS256", "RS256"],
      );
    });

    test("scopes and the other required members", () => {
      const m = res.json;
      assert.ok(Array.isArray(m.scopes_supported), "scopes_supported is an array");
      for (const s of MANAGEMENT_SCOPES) {
        assert.ok(m.scopes_supported.includes(s), `scopes_supported lacks ${s}`);
      }
      // REQUIRED members.
      assert.ok(Array.isArray(m.response_types_supported), "response_types_supported is an array");
      for (const k of ["subject_types_supported", "id_token_signing_alg_values_supported"]) {
        assert.ok(Array.isArray(m[k]) && m[k].length > 0, `${k} is a non-empty array`);
      }
      for (const k of ["response_types_supported", "subject_types_supported", "id_token_signing_alg_values_supported"]) {
        for (const v of m[k]) assert.equal(typeof v, "string", `${k} holds strings`);
      }
      if (m.authorization_endpoint === undefined) {
        assert.deepEqual(m.response_types_supported, [], "no authorization endpoint, yet response types advertised");
      } else {
        assert.ok(m.response_types_supported.includes("code"), "authorization endpoint without response type code");
      }
      assert.ok(m.id_token_signing_alg_values_supported.includes("RS256"), "OIDC Discovery: RS256 MUST be listed");
    });

    test("CORS: Access-Control-Allow-Origin *", async () => {
      assert.equal(res.headers.get("access-control-allow-origin"), "*");
      const withOrigin = await fetch(`${worker.url}/.well-known/${doc}`, {
        headers: { origin: "https://spa.example" },
      });
      await withOrigin.arrayBuffer();
      assert.equal(withOrigin.status, 200);
      assert.equal(withOrigin.headers.get("access-control-allow-origin"), "*");
    });
  });
}

test("both metadata documents agree", async () => {
  const a = await getJson(`${worker.url}/.well-known/openid-configuration`);
  const b = await getJson(`${worker.url}/.well-known/oauth-authorization-server`);
  for (const k of ["issuer", "token_endpoint", "jwks_uri", "grant_types_supported"]) {
    assert.deepEqual(a.json?.[k], b.json?.[k], k);
  }
});

describe("/.well-known/jwks.json", () => {
  let res;
  before(async () => {
    res = await getJson(`${worker.url}/.well-known/jwks.json`);
  });

  test("200 JSON with a keys array and CORS *", () => {
    assert.equal(res.status, 200, res.text);
    assert.match(res.headers.get("content-type") ?? "", /^application\/(jwk-set\+)?json\b/i);
    assert.ok(Array.isArray(res.json?.keys), "keys is an array");
    assert.equal(res.headers.get("access-control-allow-origin"), "*");
  });

  test("at least one ES256 P-256 key and one RS256 RSA key", () => {
    const { keys } = res.json;
    const ec = keys.filter((k) => k.kty === "EC" && k.crv === "P-256" && k.alg === "ES256");
    const rsa = keys.filter((k) => k.kty === "RSA" && k.alg === "RS256");
    assert.ok(ec.length >= 1, "no ES256 EC P-256 key");
    assert.ok(rsa.length >= 1, "no RS256 RSA key");
    for (const k of ec) {
      assert.equal(typeof k.x, "string");
      assert.equal(typeof k.y, "string");
      assert.equal(Buffer.from(k.x, "base64url").length, 32, "EC x is 32 bytes");
      assert.equal(Buffer.from(k.y, "base64url").length, 32, "EC y is 32 bytes");
    }
    for (const k of rsa) {
      assert.equal(typeof k.n, "string");
      assert.equal(typeof k.e, "string");
      assert.ok(Buffer.from(k.n, "base64url").length >= 256, "RSA modulus is at least 2048 bits");
    }
  });

  test("every key has kid, alg, use sig and no private members", () => {
    for (const k of res.json.keys) {
      assert.equal(typeof k.kid, "string", `kid on ${JSON.stringify(k)}`);
      assert.ok(k.kid.length > 0, "kid not empty");
      assert.equal(typeof k.alg, "string", "alg");
      assert.equal(k.use, "sig", "use");
      for (const m of PRIVATE_MEMBERS) {
        assert.ok(!(m in k), `key ${k.kid} exposes private member "${m}"`);
      }
    }
  });

  test("kids are unique", () => {
    const kids = res.json.keys.map((k) => k.kid);
    assert.equal(new Set(kids).size, kids.length, `duplicate kids: ${kids}`);
  });

  test("the key set is stable across requests", async () => {
    const again = await getJson(`${worker.url}/.well-known/jwks.json`);
    assert.deepEqual(again.json, res.json);
  });

  test("keys import as public keys", async () => {
    for (const k of res.json.keys) {
      const algo =
        k.kty === "EC"
          ? { name: "ECDSA", namedCurve: k.crv }
          : { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
      const key = await crypto.subtle.importKey("jwk", k, algo, true, ["verify"]);
      assert.equal(key.type, "public");
    }
  });
});

test("unknown path: 404 JSON, not HTML", async () => {
  for (const p of ["/nope", "/.well-known/nope", "/token/extra"]) {
    const r = await getJson(`${worker.url}${p}`);
    assert.equal(r.status, 404, `${p}: ${r.text.slice(0, 200)}`);
    assert.match(r.headers.get("content-type") ?? "", /json/i, `${p} content-type`);
    assert.equal(typeof r.json, "object", `${p} body is JSON`);
  }
});
