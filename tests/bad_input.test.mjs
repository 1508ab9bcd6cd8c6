// Every documented error of the token endpoint, with raw fetch, plus a loop
// of malformed requests that must never produce a 5xx or a non-JSON answer.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET, basicAuth, getJson, postToken, startWorker } from "./harness.mjs";

let worker;
before(async () => {
  worker = await startWorker();
});
after(async () => {
  await worker?.stop();
});

const FORM = "application/x-www-form-urlencoded";
const goodBasic = () => basicAuth(ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET);
const enc = (o) => new URLSearchParams(o).toString();
const postCreds = enc({ client_id: ADMIN_CLIENT_ID, client_secret: ADMIN_CLIENT_SECRET });
// RFC 6749 5.2: error_description is %x20-21 / %x23-5B / %x5D-7E
const DESCRIPTION_CHARS = /^[\x20\x21\x23-\x5B\x5D-\x7E]*$/;

/**
 * Run a request, retrying when the connection is reset. workerd resets the
 * connection when a response (413) goes out before the request body was read,
 * and a client still writing the body may then lose the response. The resets
 * are reported as test diagnostics; the answer that does arrive is asserted.
 */
async function despiteResets(t, what, fn) {
  let resets = 0;
  for (;;) {
    try {
      const r = await fn();
      if (resets) t.diagnostic(`${what}: connection reset ${resets}x before the response was read`);
      return r;
    } catch (e) {
      const code = e?.cause?.code ?? e?.code;
      if (!["ECONNRESET", "EPIPE", "UND_ERR_SOCKET"].includes(code) || ++resets > 5) throw e;
    }
  }
}

/** Assert an RFC 6749 error response. */
function assertOAuthError(r, status, error, what) {
  const ctx = `${what}: got ${r.status} ${r.text.slice(0, 300)}`;
  assert.equal(r.status, status, ctx);
  assert.match(r.headers.get("content-type") ?? "", /^application\/json\b/i, `${ctx} (content-type)`);
  assert.match(r.headers.get("cache-control") ?? "", /\bno-store\b/i, `${ctx} (cache-control)`);
  assert.equal(typeof r.json, "object", `${ctx} (JSON body)`);
  assert.equal(r.json.error, error, ctx);
  if (r.json.error_description !== undefined) {
    assert.equal(typeof r.json.error_description, "string", `${ctx} (error_description)`);
    assert.match(r.json.error_description, DESCRIPTION_CHARS, `${ctx} (error_description charset)`);
  }
}

describe("documented token endpoint errors", () => {
  test("wrong secret with Basic: 401 invalid_client + WWW-Authenticate Basic", async () => {
    const r = await postToken(worker.url, "grant_type=client_credentials", {
      authorization: basicAuth(ADMIN_CLIENT_ID, "wrong-secret"),
    });
    assertOAuthError(r, 401, "invalid_client", "wrong Basic secret");
    assert.match(r.headers.get("www-authenticate") ?? "", /^Basic\b/i, "WWW-Authenticate");
  });

  test("wrong secret in body: 401 invalid_client", async () => {
    const r = await postToken(
      worker.url,
      enc({ grant_type: "client_credentials", client_id: ADMIN_CLIENT_ID, client_secret: "wrong" }),
    );
    assertOAuthError(r, 401, "invalid_client", "wrong post secret");
  });

  test("unknown client: 401 invalid_client (Basic and post)", async () => {
    const a = await postToken(worker.url, "grant_type=client_credentials", {
      authorization: basicAuth("no-such-client", ADMIN_CLIENT_SECRET),
    });
    assertOAuthError(a, 401, "invalid_client", "unknown client, Basic");
    assert.match(a.headers.get("www-authenticate") ?? "", /^Basic\b/i, "WWW-Authenticate");
    const b = await postToken(
      worker.url,
      enc({ grant_type: "client_credentials", client_id: "no-such-client", client_secret: "x" }),
    );
    assertOAuthError(b, 401, "invalid_client", "unknown client, post");
  });

  test("no client authentication at all: 401 invalid_client", async () => {
    const r = await postToken(worker.url, "grant_type=client_credentials");
    assertOAuthError(r, 401, "invalid_client", "no client auth");
  });

  test("scope the client may not have: 400 invalid_scope", async () => {
    for (const scope of ["gatehouse:nothing_read", "openid-but-not-really", "gatehouse:admin gatehouse:bogus"]) {
      const r = await postToken(worker.url, enc({ grant_type: "client_credentials", scope }), {
        authorization: goodBasic(),
      });
      assertOAuthError(r, 400, "invalid_scope", `scope=${scope}`);
    }
  });

  test("missing grant_type: 400 invalid_request", async () => {
    const a = await postToken(worker.url, "scope=gatehouse%3Aadmin", { authorization: goodBasic() });
    assertOAuthError(a, 400, "invalid_request", "missing grant_type, Basic");
    const b = await postToken(worker.url, postCreds);
    assertOAuthError(b, 400, "invalid_request", "missing grant_type, post");
  });

  test("duplicated parameters: 400 invalid_request", async () => {
    const cases = [
      "grant_type=client_credentials&grant_type=client_credentials",
      "grant_type=client_credentials&scope=gatehouse%3Aadmin&scope=gatehouse%3Aadmin",
      "grant_type=client_credentials&grant%5Ftype=client_credentials",
    ];
    for (const body of cases) {
      const r = await postToken(worker.url, body, { authorization: goodBasic() });
      assertOAuthError(r, 400, "invalid_request", `body ${body}`);
    }
    const dupId = `grant_type=client_credentials&${postCreds}&client_id=${encodeURIComponent(ADMIN_CLIENT_ID)}`;
    assertOAuthError(await postToken(worker.url, dupId), 400, "invalid_request", "client_id twice");
  });

  test("Basic and client_secret in the body: 400 invalid_request", async () => {
    const r = await postToken(worker.url, `grant_type=client_credentials&${postCreds}`, {
      authorization: goodBasic(),
    });
    assertOAuthError(r, 400, "invalid_request", "two client auth methods");
  });

  test("JSON content type: 400 invalid_request", async () => {
    const r = await postToken(
      worker.url,
      JSON.stringify({ grant_type: "client_credentials", client_id: ADMIN_CLIENT_ID, client_secret: ADMIN_CLIENT_SECRET }),
      { "content-type": "application/json", authorization: goodBasic() },
    );
    assertOAuthError(r, 400, "invalid_request", "application/json body");
  });

  test("body over 64 KiB: 413 invalid_request", async (t) => {
    const pad = "a".repeat(64 * 1024);
    const r = await despiteResets(t, "65 KiB body", () =>
      postToken(worker.url, `grant_type=client_credentials&pad=${pad}`, { authorization: goodBasic() }),
    );
    assertOAuthError(r, 413, "invalid_request", "65 KiB body");
    const big = await despiteResets(t, "1 MiB body", () =>
      postToken(worker.url, `grant_type=client_credentials&scope=${"x".repeat(1024 * 1024)}`, {
        authorization: goodBasic(),
      }),
    );
    assertOAuthError(big, 413, "invalid_request", "1 MiB body");
  });

  test("body over 64 KiB without Content-Length (chunked): 413 invalid_request", async (t) => {
    const chunk = new TextEncoder().encode("a".repeat(16 * 1024));
    const stream = () => {
      let sent = 0;
      return new ReadableStream({
        start(c) {
          c.enqueue(new TextEncoder().encode("grant_type=client_credentials&pad="));
        },
        pull(c) {
          if (sent++ < 8) c.enqueue(chunk);
          else c.close();
        },
      });
    };
    const res = await despiteResets(t, "chunked body", () =>
      fetch(`${worker.url}/token`, {
        method: "POST",
        headers: { "content-type": FORM, authorization: goodBasic() },
        body: stream(),
        duplex: "half",
      }),
    );
    const text = await res.text();
    let json;
    try {
      json = JSON.parse(text);
    } catch {}
    assertOAuthError({ status: res.status, headers: res.headers, text, json }, 413, "invalid_request", "chunked 128 KiB");
  });

  test("a body under 64 KiB with an unknown parameter is accepted (RFC 6749 3.2)", async () => {
    const r = await postToken(worker.url, `grant_type=client_credentials&pad=${"a".repeat(60 * 1024)}`, {
      authorization: goodBasic(),
    });
    assert.equal(r.status, 200, r.text.slice(0, 300));
    assert.equal(typeof r.json?.access_token, "string");
  });

  test("non-UTF-8 bytes in the body: 400 invalid_request", async () => {
    const bodies = [
      Buffer.concat([Buffer.from("grant_type=client_credentials&scope="), Buffer.from([0xff, 0xfe])]),
      Buffer.concat([Buffer.from("grant_type=client_"), Buffer.from([0xc3, 0x28]), Buffer.from("credentials")]),
    ];
    for (const body of bodies) {
      const r = await postToken(worker.url, body, { authorization: goodBasic() });
      assertOAuthError(r, 400, "invalid_request", `bytes ${body.toString("hex")}`);
    }
  });

  test("unknown grant type: 400 unsupported_grant_type", async () => {
    for (const gt of ["urn:example:params:oauth:grant-type:bogus", "magic"]) {
      const r = await postToken(worker.url, enc({ grant_type: gt }), { authorization: goodBasic() });
      assertOAuthError(r, 400, "unsupported_grant_type", `grant_type=${gt}`);
    }
  });

  test("GET /token: 405, Allow: POST, JSON invalid_request", async () => {
    const r = await getJson(`${worker.url}/token`);
    assert.equal(r.status, 405, r.text);
    assert.match(r.headers.get("allow") ?? "", /\bPOST\b/);
    assert.match(r.headers.get("content-type") ?? "", /^application\/json\b/i);
    assert.equal(r.json?.error, "invalid_request", r.text);
  });

  test("other methods on /token: 405 with Allow: POST", async () => {
    for (const method of ["PUT", "DELETE", "PATCH"]) {
      const r = await getJson(`${worker.url}/token`, { method, body: method === "DELETE" ? undefined : "x" });
      assert.equal(r.status, 405, `${method}: ${r.text}`);
      assert.match(r.headers.get("allow") ?? "", /\bPOST\b/, `${method} Allow`);
      assert.equal(typeof r.json?.error, "string", `${method} JSON error`);
    }
  });

  test("unknown paths: 404 JSON", async () => {
    for (const [method, p] of [
      ["GET", "/does-not-exist"],
      ["POST", "/tokens"],
      ["GET", "/.well-known/jwks"],
      ["GET", "/%ff%fe"],
    ]) {
      const r = await getJson(`${worker.url}${p}`, { method, body: method === "POST" ? "a=b" : undefined });
      assert.equal(r.status, 404, `${method} ${p}: ${r.text.slice(0, 200)}`);
      assert.match(r.headers.get("content-type") ?? "", /json/i, `${method} ${p}`);
      assert.equal(typeof r.json, "object", `${method} ${p} JSON`);
    }
  });

  test("OPTIONS /token preflight: 204 with CORS allow headers", async () => {
    const res = await fetch(`${worker.url}/token`, {
      method: "OPTIONS",
      headers: {
        origin: "https://spa.example",
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type",
      },
    });
    await res.arrayBuffer();
    assert.equal(res.status, 204);
    assert.equal(res.headers.get("access-control-allow-origin"), "*");
    const methods = (res.headers.get("access-control-allow-methods") ?? "").split(/\s*,\s*/).map((s) => s.toUpperCase());
    assert.ok(methods.includes("POST") || methods.includes("*"), `Allow-Methods: ${methods}`);
    const hdrs = (res.headers.get("access-control-allow-headers") ?? "").split(/\s*,\s*/).map((s) => s.toLowerCase());
    for (const h of ["authorization", "content-type"]) {
      assert.ok(hdrs.includes(h), `Access-Control-Allow-Headers lacks ${h}: ${hdrs}`);
    }
  });

  test("token errors carry CORS * too (browsers must be able to read them)", async () => {
    const r = await postToken(worker.url, "grant_type=client_credentials", {
      authorization: basicAuth(ADMIN_CLIENT_ID, "wrong"),
      origin: "https://spa.example",
    });
    assert.equal(r.status, 401);
    assert.equal(r.headers.get("access-control-allow-origin"), "*");
  });
});

// ---------------------------------------------------------------------------

function b64(s) {
  return Buffer.from(s).toString("base64");
}

/** Deterministic pseudo-random bytes (xorshift32). */
function noise(seed, n) {
  const out = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

const GT = "grant_type=client_credentials";
const FUZZ = [
  // Authorization header shapes
  { name: "Basic with no credentials", headers: { authorization: "Basic" }, body: GT },
  { name: "Basic + space only", headers: { authorization: "Basic " }, body: GT },
  { name: "Basic garbage base64", headers: { authorization: "Basic !!!not*base64$$" }, body: GT },
  { name: "Basic without colon", headers: { authorization: `Basic ${b64("justanid")}` }, body: GT },
  { name: "Basic with only a colon", headers: { authorization: `Basic ${b64(":")}` }, body: GT },
  { name: "Basic id, empty secret", headers: { authorization: `Basic ${b64(`${ADMIN_CLIENT_ID}:`)}` }, body: GT },
  { name: "Basic empty id", headers: { authorization: `Basic ${b64(":secret")}` }, body: GT },
  { name: "Basic bad percent-encoding", headers: { authorization: `Basic ${b64("%zz:%G0")}` }, body: GT },
  { name: "Basic truncated percent", headers: { authorization: `Basic ${b64(`${ADMIN_CLIENT_ID}:%`)}` }, body: GT },
  {
    name: "Basic non-UTF-8 credentials",
    headers: { authorization: `Basic ${Buffer.from([0xff, 0x3a, 0xfe]).toString("base64")}` },
    body: GT,
  },
  { name: "Basic with %00 in secret", headers: { authorization: `Basic ${b64(`${ADMIN_CLIENT_ID}:a%00b`)}` }, body: GT },
  { name: "Basic with three parts", headers: { authorization: "Basic a b c" }, body: GT },
  { name: "Basic base64 missing padding", headers: { authorization: "Basic YWJj" }, body: GT },
  { name: "Basic huge header", headers: { authorization: `Basic ${"QUFB".repeat(2000)}` }, body: GT },
  { name: "Bearer instead of Basic", headers: { authorization: "Bearer abc.def.ghi" }, body: GT },
  { name: "Digest scheme", headers: { authorization: 'Digest username="x", nonce="y"' }, body: GT },
  { name: "scheme only, unknown", headers: { authorization: "Negotiate" }, body: GT },
  // bodies, valid credentials
  { name: "empty body", auth: true, body: "" },
  { name: "just '='", auth: true, body: "=" },
  { name: "only ampersands", auth: true, body: "&&&&" },
  { name: "grant_type with no '='", auth: true, body: "grant_type" },
  { name: "empty grant_type", auth: true, body: "grant_type=" },
  { name: "bad percent-encoding in value", auth: true, body: "grant_type=client%ZZcredentials" },
  // WHATWG form decoding keeps a malformed escape literally, and an unknown
  // parameter is ignored (RFC 6749 3.2), so a token is an acceptable answer.
  { name: "bad percent-encoding in key", auth: true, body: "%zz=1&grant_type=client_credentials", mayIssue: true },
  { name: "truncated percent at end", auth: true, body: "grant_type=client_credentials&scope=%" },
  { name: "percent-encoded invalid UTF-8", auth: true, body: "grant_type=client_credentials&scope=%FF%FE" },
  { name: "truncated UTF-8 sequence", auth: true, body: "grant_type=%E0%A4%A" },
  { name: "percent-encoded NUL in grant_type", auth: true, body: "grant_type=client%00_credentials" },
  { name: "raw NUL bytes", auth: true, body: Buffer.from("grant_type=client_credentials\0\0&scope=\0") },
  { name: "NUL in scope", auth: true, body: "grant_type=client_credentials&scope=gatehouse%3Aadmin%00" },
  { name: "array-style key", auth: true, body: "grant_type[]=client_credentials" },
  { name: "semicolon separator", auth: true, body: "grant_type=client_credentials;scope=x" },
  { name: "unknown scope with control chars", auth: true, body: "grant_type=client_credentials&scope=%0D%0Aset-cookie%3A%20x" },
  { name: "duplicate grant_type differing", auth: true, body: "grant_type=client_credentials&grant_type=password" },
  { name: "UTF-8 BOM then body", auth: true, body: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from("grant_type=x")]) },
  { name: "overlong UTF-8 slash", auth: true, body: Buffer.from([0x67, 0x3d, 0xc0, 0xaf]) },
  { name: "UTF-16 surrogate bytes", auth: true, body: Buffer.from([0x61, 0x3d, 0xed, 0xa0, 0x80]) },
  { name: "random bytes #1", auth: true, body: noise(1, 512) },
  { name: "random bytes #2", auth: true, body: noise(2, 4096) },
  { name: "random bytes #3 (no auth)", body: noise(3, 100) },
  { name: "5000 tiny parameters, no grant_type", auth: true, body: "a=b&".repeat(5000) },
  { name: "huge single parameter (1 MiB)", body: `grant_type=${"c".repeat(1 << 20)}` },
  { name: "huge single key, no value", auth: true, body: "k".repeat(70_000) },
  { name: "huge client_id", body: `${GT}&client_id=${"i".repeat(60_000)}&client_secret=x` },
  { name: "huge scope under the limit", auth: true, body: `${GT}&scope=${"s".repeat(60_000)}` },
  { name: "post creds with empty secret", body: `${GT}&client_id=${ADMIN_CLIENT_ID}&client_secret=` },
  { name: "post creds without client_id", body: `${GT}&client_secret=abc` },
  // content types
  { name: "text/plain", auth: true, contentType: "text/plain", body: GT },
  { name: "no content type", auth: true, contentType: null, body: Buffer.from(GT) },
  { name: "multipart", auth: true, contentType: "multipart/form-data; boundary=x", body: `--x\r\nContent-Disposition: form-data; name="grant_type"\r\n\r\nclient_credentials\r\n--x--\r\n` },
  { name: "garbage content type", auth: true, contentType: 'x/y;;;="unterminated', body: GT },
  { name: "form type with garbage after", auth: false, contentType: `${FORM};;;charset`, body: GT },
  { name: "JSON array body", auth: true, contentType: "application/json", body: "[1,2,3" },
];

describe("malformed requests never get a 5xx, always a JSON error", () => {
  for (const c of FUZZ) {
    test(c.name, async (t) => {
      const headers = { ...(c.headers ?? {}) };
      if (c.auth) headers.authorization = goodBasic();
      if (c.contentType !== null) headers["content-type"] = c.contentType ?? FORM;
      let res;
      try {
        res = await despiteResets(t, c.name, () =>
          fetch(`${worker.url}/token`, { method: "POST", headers, body: c.body }),
        );
      } catch (e) {
        // invalid header values are refused by the client itself: nothing to test
        if (/header|ByteString/i.test(String(e?.cause?.message ?? e?.message))) return;
        throw e;
      }
      const text = await res.text();
      if (c.mayIssue && res.status === 200) {
        assert.equal(typeof JSON.parse(text).access_token, "string", `${c.name}: 200 without a token`);
        return;
      }
      assert.ok(res.status >= 400 && res.status < 500, `${c.name}: status ${res.status} ${text.slice(0, 300)}`);
      assert.match(res.headers.get("content-type") ?? "", /^application\/json\b/i, `${c.name}: content-type`);
      let json;
      assert.doesNotThrow(() => (json = JSON.parse(text)), `${c.name}: body not JSON: ${text.slice(0, 200)}`);
      assert.equal(typeof json.error, "string", `${c.name}: no error member: ${text.slice(0, 200)}`);
      assert.match(json.error, /^[\x20\x21\x23-\x5B\x5D-\x7E]+$/, `${c.name}: error code charset`);
      assert.match(res.headers.get("cache-control") ?? "", /\bno-store\b/i, `${c.name}: cache-control`);
    });
  }

  test("the worker still works after the fuzzing", async () => {
    const r = await postToken(worker.url, GT, { authorization: goodBasic() });
    assert.equal(r.status, 200, r.text);
  });
});
