// The same gateway written the usual way in JavaScript: jose's jwtVerify with
// createRemoteJWKSet (which caches the JWKS and refetches on an unknown kid), the
// same checks (iss, aud, typ at+jwt, ES256, exp with 60 s leeway, a required scope),
// claim headers stripped then set, the request forwarded to the origin.
import { createRemoteJWKSet, jwtVerify } from "jose";
import { benchWorker, forward } from "./loop.mjs";

let jwks;
const CLAIM_HEADERS = ["x-gatehouse-sub", "x-gatehouse-client-id", "x-gatehouse-scope"];

function refuse(status, error) {
  const www = status === 401 ? `Bearer error="${error}"` : `Bearer error="${error}", scope="${error}"`;
  return new Response(JSON.stringify({ error }), {
    status,
    headers: { "content-type": "application/json", "www-authenticate": www },
  });
}

async function handle(request, env) {
  jwks ??= createRemoteJWKSet(new URL(`${env.ISSUER}/.well-known/jwks.json`));
  const url = new URL(request.url);
  if (!url.pathname.startsWith("/api/")) return new Response("not found", { status: 404 });
  const auth = request.headers.get("authorization") ?? "";
  if (!/^bearer /i.test(auth)) return refuse(401, "invalid_token");
  let payload;
  try {
    ({ payload } = await jwtVerify(auth.slice(7), jwks, {
      issuer: env.ISSUER,
      audience: env.AUDIENCE,
      typ: "at+jwt",
      algorithms: ["ES256"],
      clockTolerance: 60,
    }));
  } catch {
    return refuse(401, "invalid_token");
  }
  const scopes = typeof payload.scope === "string" ? payload.scope.split(" ") : [];
  if (!scopes.includes(env.SCOPE)) return refuse(403, "insufficient_scope");
  const headers = new Headers(request.headers);
  for (const name of [...CLAIM_HEADERS, "authorization"]) headers.delete(name);
  headers.set("x-gatehouse-sub", String(payload.sub));
  headers.set("x-gatehouse-client-id", String(payload.client_id));
  headers.set("x-gatehouse-scope", String(payload.scope ?? ""));
  return forward(request, env, headers);
}

export default benchWorker(handle);
