// The peer in the issuer benchmark: node-oidc-provider, certified by the OpenID
// Foundation, configured for the client credentials grant the way a production
// deployment issuing JWT access tokens would be. Run as its own process by
// bench/issuer.mjs (one Node thread, like the one workerd thread serving Gatehouse):
//
//   node bench/oidc-provider.mjs <port> '<client public JWK>'
//
// Clients (all may ask for the scope "orders:read"):
//   bench-basic     client_secret_basic, ES256 RFC 9068 JWT access tokens
//   bench-pkjwt     private_key_jwt (ES256, the JWK given), JWT access tokens
//   bench-opaque    client_secret_basic, opaque access tokens (its stock format)
//
// oidc-provider issues JWT access tokens only for a resource server, so every
// client gets a default resource indicator; the opaque client's resource asks
// for opaque tokens. Prints "ready <issuer>" once it listens on 127.0.0.1.

import http from "node:http";
import { generateKeyPairSync } from "node:crypto";
import Provider from "oidc-provider";

export const CLIENT_SECRET = "bench-secret-0123456789abcdefghijklmnopqrstuvwxyz";
const API = "https://api.bench.example";
const OPAQUE_API = "https://opaque.bench.example";
const SCOPE = "orders:read";

const port = Number(process.argv[2]);
const clientJwk = JSON.parse(process.argv[3] ?? "null");
if (!port || !clientJwk) {
  console.error("usage: node bench/oidc-provider.mjs <port> '<client public JWK>'");
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;

const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
const signingKey = { ...privateKey.export({ format: "jwk" }), kid: "bench-es256", alg: "ES256", use: "sig" };

const common = {
  grant_types: ["client_credentials"],
  response_types: [],
  redirect_uris: [],
  scope: SCOPE,
  id_token_signed_response_alg: "ES256",
};
const provider = new Provider(issuer, {
  clients: [
    { ...common, client_id: "bench-basic", client_secret: CLIENT_SECRET, token_endpoint_auth_method: "client_secret_basic" },
    {
      ...common,
      client_id: "bench-pkjwt",
      token_endpoint_auth_method: "private_key_jwt",
      token_endpoint_auth_signing_alg: "ES256",
      jwks: { keys: [clientJwk] },
    },
    { ...common, client_id: "bench-opaque", client_secret: CLIENT_SECRET, token_endpoint_auth_method: "client_secret_basic" },
  ],
  jwks: { keys: [signingKey] },
  scopes: [SCOPE],
  ttl: { ClientCredentials: 3600 },
  clientAuthMethods: ["client_secret_basic", "private_key_jwt"],
  enabledJWA: { clientAuthSigningAlgValues: ["ES256"] },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: (_ctx, client) => (client.clientId === "bench-opaque" ? OPAQUE_API : API),
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, resource) => ({
        scope: SCOPE,
        audience: resource,
        accessTokenTTL: 3600,
        accessTokenFormat: resource === OPAQUE_API ? "opaque" : "jwt",
        jwt: { sign: { alg: "ES256" } },
      }),
    },
  },
});
// Errors a load test provokes on purpose would otherwise be logged one by one.
provider.on("server_error", (_ctx, err) => console.error("oidc-provider server_error:", err));

const server = http.createServer(provider.callback());
server.keepAliveTimeout = 60_000;
server.listen(port, "127.0.0.1", () => console.log(`ready ${issuer}`));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
process.on("disconnect", () => process.exit(0));
