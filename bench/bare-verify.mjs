// The limit for the gateway's fresh path: nothing but WebCrypto's ECDSA P-256
// verification of each token's signature, with the issuer's key imported once.
// `POST /__bench {tokens}` answers in the shape of bench/loop.mjs, a token counted
// as 200 when its signature holds. Every gateway does at least this per new token.

const ALG = { name: "ECDSA", hash: "SHA-256" };
let key;

function fromBase64Url(s) {
  const bin = atob(s.replace(/-/g, "+").replace(/_/g, "/"));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

async function importKey(env) {
  const { keys } = await (await fetch(`${env.ISSUER}/.well-known/jwks.json`)).json();
  const jwk = keys.find((k) => k.alg === "ES256");
  return crypto.subtle.importKey("jwk", jwk, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
}

export default {
  async fetch(request, env) {
    key ??= await importKey(env);
    const { tokens } = await request.json();
    const encoder = new TextEncoder();
    const statuses = {};
    for (const token of tokens) {
      const dot = token.lastIndexOf(".");
      const ok = await crypto.subtle.verify(ALG, key, fromBase64Url(token.slice(dot + 1)), encoder.encode(token.slice(0, dot)));
      const status = ok ? 200 : 401;
      statuses[status] = (statuses[status] ?? 0) + 1;
    }
    return Response.json({ n: tokens.length, ok: statuses[200] ?? 0, statuses });
  },
};
