// Single-use RFC 7523 client assertions for the benchmarks, signed with node:crypto
// ahead of a run so the signing does not compete with the server being measured.

import { generateKeyPairSync, sign, randomUUID } from "node:crypto";

const b64url = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");

/** An ES256 client key pair and its public JWK (`kid` "bench-client"). */
export function clientKey() {
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const jwk = { ...publicKey.export({ format: "jwk" }), kid: "bench-client", alg: "ES256", use: "sig" };
  return { jwk, privateKey };
}

/** `count` assertions for `clientId` with audience `aud`, each with its own `jti`. */
export function assertions(key, clientId, aud, count) {
  const header = b64url({ alg: "ES256", kid: key.jwk.kid, typ: "JWT" });
  const now = Math.floor(Date.now() / 1000);
  const out = new Array(count);
  for (let i = 0; i < count; i++) {
    const payload = b64url({ iss: clientId, sub: clientId, aud, jti: randomUUID(), iat: now, exp: now + 600 });
    const input = `${header}.${payload}`;
    const sig = sign("sha256", Buffer.from(input), { key: key.privateKey, dsaEncoding: "ieee-p1363" });
    out[i] = `${input}.${sig.toString("base64url")}`;
  }
  return out;
}
