// Signing keys survive restarts with persisted state, are created exactly
// once under concurrent first requests, and are not stored in plain text.

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, describe, test } from "node:test";
import { createLocalJWKSet, jwtVerify, decodeProtectedHeader } from "jose";
import {
  ADMIN_CLIENT_ID,
  ADMIN_CLIENT_SECRET,
  DEV_ADMIN_CLIENT_SECRET,
  basicAuth,
  getJson,
  postToken,
  removeDir,
  startWorker,
  startWranglerDev,
  tempDir,
} from "./harness.mjs";

const cleanups = [];
after(async () => {
  for (const fn of cleanups.reverse()) await fn().catch(() => {});
});

async function jwksOf(base) {
  const r = await getJson(`${base}/.well-known/jwks.json`);
  assert.equal(r.status, 200, r.text);
  return r.json;
}

const kidsOf = (set) => set.keys.map((k) => k.kid).sort();

async function verifyWith(set, token, issuer) {
  return await jwtVerify(token, createLocalJWKSet(set), {
    issuer,
    // the bootstrap client's tokens are for the management API
    audience: `${issuer}/admin/v1`,
    typ: "at+jwt",
    algorithms: ["ES256"],
  });
}

function* filesUnder(dir) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) yield* filesUnder(p);
    else if (e.isFile()) yield p;
  }
}

// Signs of private key material stored in plain text: a private JWK (JSON or
// structured-clone serialised), PEM, or PKCS#8 DER / base64 of it.
const PLAINTEXT_KEY_SIGNS = [
  ["private JWK member d", /"d"\s*:\s*"[A-Za-z0-9_-]{20,}/],
  ["private RSA JWK members dp/dq/qi", /dp[^A-Za-z0-9_-][\s\S]{0,600}?dq[^A-Za-z0-9_-][\s\S]{0,600}?qi[^A-Za-z0-9_-]/],
  ["PEM private key", /-----BEGIN [A-Z ]*PRIVATE KEY-----/],
  ["base64 RSA PKCS#8", /IBADANBgkqhkiG9w0BAQEFAAS/],
  ["base64 P-256 PKCS#8", /AgEAMBMGByqGSM49AgEGCCqGSM49AwEHB/],
];
const DER_SIGNS = [
  // rsaEncryption OID, NULL, then OCTET STRING (PKCS#8; SPKI has BIT STRING)
  ["RSA PKCS#8 DER", Buffer.from("06092a864886f70d0101010500 04".replace(/ /g, ""), "hex")],
  // id-ecPublicKey + prime256v1, then OCTET STRING
  ["P-256 PKCS#8 DER", Buffer.from("06072a8648ce3d020106082a8648ce3d03010704", "hex")],
];

/** Persisted state must not hold private key material in plain text. */
function assertNoPlaintextPrivateKeys(dir) {
  const files = [...filesUnder(dir)];
  assert.ok(files.length > 0, `nothing persisted under ${dir}`);
  for (const f of files) {
    const bytes = fs.readFileSync(f);
    const text = bytes.toString("latin1");
    const where = path.relative(dir, f);
    for (const [what, re] of PLAINTEXT_KEY_SIGNS) {
      assert.ok(!re.test(text), `${where} holds a plaintext private key (${what})`);
    }
    for (const [what, needle] of DER_SIGNS) {
      assert.ok(bytes.indexOf(needle) < 0, `${where} holds a plaintext private key (${what})`);
    }
  }
}

describe("wrangler dev with --persist-to: restart keeps the signing keys", () => {
  test("token minted before a restart verifies against the JWKS after it", { timeout: 100_000 }, async () => {
    const dir = await tempDir("gatehouse-e2e-dev-");
    cleanups.push(() => removeDir(dir));

    const first = await startWranglerDev({ persistTo: dir });
    cleanups.push(first.stop);
    let token, setBefore;
    try {
      const r = await postToken(
        first.url,
        new URLSearchParams({
          grant_type: "client_credentials",
          client_id: ADMIN_CLIENT_ID,
          client_secret: DEV_ADMIN_CLIENT_SECRET,
        }).toString(),
      );
      assert.equal(r.status, 200, `token from wrangler dev: ${r.text}\n${first.output().slice(-3000)}`);
      token = r.json.access_token;
      setBefore = await jwksOf(first.url);
      await verifyWith(setBefore, token, first.issuer);
    } finally {
      await first.stop();
    }

    // same port, so ISSUER (and with it iss/aud) stays the same
    const second = await startWranglerDev({ persistTo: dir, port: first.port });
    cleanups.push(second.stop);
    try {
      const setAfter = await jwksOf(second.url);
      assert.deepEqual(kidsOf(setAfter), kidsOf(setBefore), "kids changed across the restart");
      const { payload } = await verifyWith(setAfter, token, second.issuer);
      assert.equal(payload.client_id, ADMIN_CLIENT_ID);
      // and the restarted server still mints with a key it publishes
      const r = await postToken(second.url, "grant_type=client_credentials", {
        authorization: basicAuth(ADMIN_CLIENT_ID, DEV_ADMIN_CLIENT_SECRET),
      });
      assert.equal(r.status, 200, r.text);
      await verifyWith(setAfter, r.json.access_token, second.issuer);
    } finally {
      await second.stop();
    }
    assertNoPlaintextPrivateKeys(dir);
  });
});

describe("Miniflare with persisted state", () => {
  test("restart keeps keys; old token verifies; no plaintext private keys at rest", async () => {
    const dir = await tempDir("gatehouse-e2e-mf-");
    cleanups.push(() => removeDir(dir));

    const a = await startWorker({ persistTo: dir });
    cleanups.push(a.stop);
    const r = await postToken(a.url, "grant_type=client_credentials", {
      authorization: basicAuth(ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET),
    });
    assert.equal(r.status, 200, r.text);
    const setBefore = await jwksOf(a.url);
    await a.stop();

    const b = await startWorker({ persistTo: dir, port: a.port });
    cleanups.push(b.stop);
    const setAfter = await jwksOf(b.url);
    assert.deepEqual(kidsOf(setAfter), kidsOf(setBefore));
    assert.deepEqual(
      [...setAfter.keys].sort((x, y) => (x.kid < y.kid ? -1 : 1)),
      [...setBefore.keys].sort((x, y) => (x.kid < y.kid ? -1 : 1)),
      "public keys changed across the restart",
    );
    await verifyWith(setAfter, r.json.access_token, b.issuer);
    await b.stop();

    assertNoPlaintextPrivateKeys(dir);
  });
});

describe("keys are created once under concurrent first requests", () => {
  test("20 concurrent first JWKS requests (and 10 token requests) see one key set", async () => {
    const w = await startWorker();
    cleanups.push(w.stop);
    try {
      const jwksReqs = Array.from({ length: 20 }, () => jwksOf(w.url));
      const tokenReqs = Array.from({ length: 10 }, () =>
        postToken(w.url, "grant_type=client_credentials", {
          authorization: basicAuth(ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET),
        }),
      );
      const [sets, tokens] = await Promise.all([Promise.all(jwksReqs), Promise.all(tokenReqs)]);
      const reference = JSON.stringify(kidsOf(sets[0]));
      for (const s of sets) assert.equal(JSON.stringify(kidsOf(s)), reference, "JWKS differ between concurrent requests");

      const settled = await jwksOf(w.url);
      assert.equal(JSON.stringify(kidsOf(settled)), reference, "JWKS changed after the first burst");
      const kids = new Set(kidsOf(settled));
      for (const t of tokens) {
        assert.equal(t.status, 200, t.text);
        const { kid } = decodeProtectedHeader(t.json.access_token);
        assert.ok(kids.has(kid), `token signed with kid ${kid} not in the JWKS`);
        await verifyWith(settled, t.json.access_token, w.issuer);
      }
      const es = settled.keys.filter((k) => k.alg === "ES256");
      const rs = settled.keys.filter((k) => k.alg === "RS256");
      assert.ok(es.length >= 1 && rs.length >= 1, "one of each algorithm");
      // "current, next, previous" at most: a burst must not mint a pile of keys
      assert.ok(es.length <= 3 && rs.length <= 3, `too many keys after a burst: ${settled.keys.length}`);
    } finally {
      await w.stop();
    }
  });
});
