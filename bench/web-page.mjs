// The page of the browser package benchmark (bench/web.mjs), a module run in
// Chromium. It is served with the built package's wasm and its wasm-bindgen glue at
// /glue/ and jose's browser build at /jose.js, and exposes `window.bench`:
//
//   prepare(alg)          a new key pair (WebCrypto), an ID token and its access
//                         token signed with jose, a Gatehouse `Core` holding the
//                         issuer's metadata and JWKS; checks that every verifier
//                         accepts the token and refuses a wrong nonce and access token
//   run(names, alg, secs, slice)
//                         each verifier of `names` verifies that token again and
//                         again, one call at a time, for `secs` seconds in all, in
//                         turns of `slice` seconds: `{ [name]: { count, ms, perSecond } }`
//
// The verifiers (`name`):
//   gatehouse  the core's verifyIdToken and finish steps, with WebCrypto between
//              them, as the package's entry runs them; the package's own
//              check: alg allowed, kid in the JWKS, typ, signature (WebCrypto, key
//              imported once), iss, aud, azp, exp and iat, nonce, at_hash
//   jose       jwtVerify(token, publicKey, { issuer, audience, algorithms }) (alg,
//              typ not required, signature, iss, aud, exp, iat), then by hand what
//              it leaves to the app: azp, nonce and at_hash (SHA-256 by WebCrypto)
//   webcrypto  crypto.subtle.verify of the signature alone, the key imported: the
//              floor under both

import init, { Core } from "/glue/gatehouse_web.js";
import * as jose from "/jose.js";

const ISSUER = "https://issuer.bench.example";
const CLIENT_ID = "bench_spa";
const REDIRECT_URI = "https://app.bench.example/callback";
const ALGORITHMS = ["ES256", "RS256"];

const KEY_PARAMS = {
  ES256: { name: "ECDSA", namedCurve: "P-256" },
  RS256: { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
};
const VERIFY_PARAMS = {
  ES256: { name: "ECDSA", hash: "SHA-256" },
  RS256: { name: "RSASSA-PKCS1-v1_5" },
};

const cases = {};
const encoder = new TextEncoder();

function randomText(bytes) {
  return jose.base64url.encode(crypto.getRandomValues(new Uint8Array(bytes)));
}

/** The left half of the SHA-256 of `value`, base64url (OpenID Connect Core 3.1.3.6). */
async function halfHash(value) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(value)));
  return jose.base64url.encode(digest.subarray(0, 16));
}

/** jose's checks, then the ID-token checks jose leaves to the app. */
async function joseVerify(c, nonce = c.nonce, accessToken = c.accessToken) {
  const { payload } = await jose.jwtVerify(c.token, c.publicKey, {
    issuer: ISSUER,
    audience: CLIENT_ID,
    algorithms: ALGORITHMS,
  });
  const several = Array.isArray(payload.aud) && payload.aud.length > 1;
  if (payload.azp === undefined ? several : payload.azp !== CLIENT_ID) throw new Error("azp");
  if (payload.nonce !== nonce) throw new Error("nonce");
  if (payload.at_hash !== (await halfHash(accessToken))) throw new Error("at_hash");
  return payload;
}

const IMPORT_PARAMS = {
  ES256: { name: "ECDSA", namedCurve: "P-256" },
  RS256: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
};
const importedKeys = new Map();

/**
 * The package's verification as its entry runs it: the checks before the
 * signature in the wasm, the signature by WebCrypto (the key imported once and
 * kept), then the verdict and the claims checks back in the wasm.
 */
/** A step of the core, as the entry runs it: its answer, or its error thrown. */
function step(core, op, a = "", b, c, n = 0) {
  const answer = JSON.parse(core.call(op, n, a, b, c));
  if ("error" in answer) throw new Error(`${answer.error}: ${answer.message}`);
  return answer.ok;
}

async function gatehouseVerify(core, token, nonce, accessToken) {
  const { id, alg, jwk, input, signature } = step(core, "verifyIdToken", token, nonce, accessToken);
  let valid = false;
  if (alg !== undefined) {
    const cacheKey = `${alg}|${jwk.n ?? jwk.x}|${jwk.e ?? jwk.y}`;
    let key = importedKeys.get(cacheKey);
    if (key === undefined) {
      key = await crypto.subtle.importKey("jwk", jwk, IMPORT_PARAMS[alg], false, ["verify"]);
      importedKeys.set(cacheKey, key);
    }
    valid = await crypto.subtle.verify(VERIFY_PARAMS[alg], key, new Uint8Array(signature), encoder.encode(input));
  }
  return step(core, "finish", valid ? "valid" : "", undefined, undefined, id);
}

const verifiers = {
  gatehouse: (c) => gatehouseVerify(c.core, c.token, c.nonce, c.accessToken),
  jose: (c) => joseVerify(c),
  webcrypto: (c) => crypto.subtle.verify(VERIFY_PARAMS[c.alg], c.publicKey, c.signature, c.signingInput),
};

async function refuses(promise) {
  try {
    await promise;
    return false;
  } catch {
    return true;
  }
}

async function prepare(alg) {
  if (!KEY_PARAMS[alg]) throw new Error(`unknown algorithm ${alg}`);
  const { publicKey, privateKey } = await crypto.subtle.generateKey(KEY_PARAMS[alg], true, ["sign", "verify"]);
  const kid = `bench-${alg.toLowerCase()}`;
  const { key_ops: _ops, ext: _ext, ...members } = await crypto.subtle.exportKey("jwk", publicKey);
  const jwks = { keys: [{ ...members, kid, alg, use: "sig" }] };

  // An access token as Gatehouse issues them (an RFC 9068 JWT) and the ID token
  // issued with it, with the claims a sign-in with `profile email` carries.
  const now = Math.floor(Date.now() / 1000);
  const sub = `user_${randomText(12)}`;
  const accessToken = await new jose.SignJWT({ client_id: CLIENT_ID, scope: "openid profile email", jti: randomText(16) })
    .setProtectedHeader({ alg, kid, typ: "at+jwt" })
    .setIssuer(ISSUER)
    .setSubject(sub)
    .setAudience(`${ISSUER}/userinfo`)
    .setIssuedAt(now)
    .setExpirationTime(now + 3600)
    .sign(privateKey);
  const nonce = randomText(16);
  const token = await new jose.SignJWT({
    nonce,
    at_hash: await halfHash(accessToken),
    auth_time: now - 5,
    name: "Ada Lovelace",
    email: "ada@example.com",
  })
    .setProtectedHeader({ alg, kid, typ: "JWT" })
    .setIssuer(ISSUER)
    .setSubject(sub)
    .setAudience(CLIENT_ID)
    .setIssuedAt(now)
    .setExpirationTime(now + 3600)
    .sign(privateKey);

  const core = new Core();
  step(core, "configure", JSON.stringify({ issuer: ISSUER, clientId: CLIENT_ID, redirectUri: REDIRECT_URI }));
  step(
    core,
    "metadata",
    JSON.stringify({
      issuer: ISSUER,
      authorization_endpoint: `${ISSUER}/authorize`,
      token_endpoint: `${ISSUER}/token`,
      jwks_uri: `${ISSUER}/.well-known/jwks.json`,
    }),
  );
  step(core, "jwks", JSON.stringify(jwks));

  const [header, payload, signature] = token.split(".");
  const c = {
    alg,
    core,
    token,
    nonce,
    accessToken,
    publicKey,
    signingInput: encoder.encode(`${header}.${payload}`),
    signature: jose.base64url.decode(signature),
  };

  // Both verifiers accept the token and do the same checks: a wrong nonce or
  // access token is refused by each.
  const fromGatehouse = await verifiers.gatehouse(c);
  const fromJose = await verifiers.jose(c);
  if (fromGatehouse.sub !== sub || fromJose.sub !== sub) throw new Error(`${alg}: the token was not accepted as issued`);
  if (!(await verifiers.webcrypto(c))) throw new Error(`${alg}: WebCrypto refused the signature`);
  const other = randomText(16);
  const checks = {
    gatehouseRefusesNonce: await refuses(gatehouseVerify(core, token, other, accessToken)),
    gatehouseRefusesAtHash: await refuses(gatehouseVerify(core, token, nonce, other)),
    joseRefusesNonce: await refuses(joseVerify(c, other)),
    joseRefusesAtHash: await refuses(joseVerify(c, nonce, other)),
  };
  for (const [name, ok] of Object.entries(checks)) if (!ok) throw new Error(`${alg}: ${name} failed`);
  cases[alg] = c;
  return { alg, tokenLength: token.length, accessTokenLength: accessToken.length, claims: Object.keys(fromGatehouse) };
}

/** Verifies with `verify` for `seconds`, one call at a time. */
async function loop(verify, c, seconds) {
  let count = 0;
  const started = performance.now();
  const until = started + seconds * 1000;
  let now = started;
  while (now < until) {
    await verify(c);
    count++;
    now = performance.now();
  }
  return { count, ms: now - started };
}

/**
 * Gives each of `names` `seconds` of verifying, in slices of `slice` seconds taken
 * in turn (the order reversed every other slice), so that a change in the
 * machine's other load falls on all of them alike.
 */
async function run(names, alg, seconds, slice) {
  const c = cases[alg];
  if (!c) throw new Error(`nothing prepared for ${alg}`);
  for (const name of names) if (!verifiers[name]) throw new Error(`no verifier ${name}`);
  const totals = Object.fromEntries(names.map((name) => [name, { count: 0, ms: 0 }]));
  const slices = Math.max(1, Math.round(seconds / slice));
  for (let i = 0; i < slices; i++) {
    for (const name of i % 2 ? [...names].reverse() : names) {
      const { count, ms } = await loop(verifiers[name], c, seconds / slices);
      totals[name].count += count;
      totals[name].ms += ms;
    }
  }
  for (const t of Object.values(totals)) t.perSecond = t.count / (t.ms / 1000);
  return totals;
}

const status = document.getElementById("status");
try {
  await init();
  window.bench = { prepare, run };
  status.textContent = "ready";
} catch (error) {
  window.benchError = String(error?.stack ?? error);
  status.textContent = `failed to start: ${error?.message ?? error}`;
}
window.benchReady = true;
