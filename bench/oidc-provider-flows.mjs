// The peer in the interactive flows benchmark: node-oidc-provider configured for
// the authorization code flow of a confidential web app, with its default
// development interactions (a login page that takes any login and checks no
// password, then a consent page). Run as its own process by bench/flows.mjs (one
// Node thread, like the one workerd thread serving Gatehouse):
//
//   node bench/oidc-provider-flows.mjs <port> <redirect URI>
//
// The client "bench-web" (client_secret_basic, CLIENT_SECRET below) may use the
// code grant with PKCE (S256, required) and the refresh token grant. Every code
// redemption issues a refresh token (`issueRefreshToken` answers true) and each
// refresh rotates it (`rotateRefreshToken`), as Gatehouse does for an app with
// refresh tokens. Access tokens are ES256 RFC 9068 JWTs through a default
// resource indicator, as in bench/oidc-provider.mjs; ID tokens are ES256.
//
// oidc-provider keeps `offline_access` only when the request also carries
// `prompt=consent` (OpenID Connect Core 11), so the benchmark's requests, which
// carry no prompt, get their refresh tokens from `issueRefreshToken` instead.
//
// Storage: the stock in-memory adapter is an LRU of 1,000 entries, too few for
// the codes minted before a run (they would be evicted unseen), so this one
// keeps everything in Maps until it expires, as a production store would.
// Prints "ready <issuer>" once it listens on 127.0.0.1.

import http from "node:http";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import Provider from "oidc-provider";

export const CLIENT_ID = "bench-web";
export const CLIENT_SECRET = "bench-secret-0123456789abcdefghijklmnopqrstuvwxyz";
const API = "https://api.bench.example";

const port = Number(process.argv[2]);
const redirectUri = process.argv[3];
if (!port || !redirectUri) {
  console.error("usage: node bench/oidc-provider-flows.mjs <port> <redirect URI>");
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;

const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
const signingKey = { ...privateKey.export({ format: "jwk" }), kid: "bench-es256", alg: "ES256", use: "sig" };

// Every model in one Map, by name and id; grants list their members so that a
// refresh token's reuse can revoke its family (`revokeByGrantId`).
const store = new Map();
const grants = new Map();
const now = () => Math.floor(Date.now() / 1000);

class MapAdapter {
  constructor(name) {
    this.name = name;
  }

  key(id) {
    return `${this.name}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    store.set(key, { payload, expiresAt: expiresIn ? now() + expiresIn : undefined });
    if (payload.grantId && this.name !== "Grant") {
      let members = grants.get(payload.grantId);
      if (!members) grants.set(payload.grantId, (members = new Set()));
      members.add(key);
    }
    if (payload.uid) store.set(`uid:${this.name}:${payload.uid}`, { payload: id, expiresAt: expiresIn ? now() + expiresIn : undefined });
    if (payload.userCode) store.set(`userCode:${payload.userCode}`, { payload: id, expiresAt: expiresIn ? now() + expiresIn : undefined });
  }

  static live(key) {
    const entry = store.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt !== undefined && entry.expiresAt <= now()) {
      store.delete(key);
      return undefined;
    }
    return entry.payload;
  }

  async find(id) {
    return MapAdapter.live(this.key(id));
  }

  async findByUid(uid) {
    const id = MapAdapter.live(`uid:${this.name}:${uid}`);
    return id === undefined ? undefined : this.find(id);
  }

  async findByUserCode(userCode) {
    const id = MapAdapter.live(`userCode:${userCode}`);
    return id === undefined ? undefined : this.find(id);
  }

  async consume(id) {
    const payload = MapAdapter.live(this.key(id));
    if (payload) payload.consumed = now();
  }

  async destroy(id) {
    store.delete(this.key(id));
  }

  async revokeByGrantId(grantId) {
    for (const key of grants.get(grantId) ?? []) store.delete(key);
    grants.delete(grantId);
    store.delete(`Grant:${grantId}`);
  }
}

const provider = new Provider(issuer, {
  adapter: MapAdapter,
  // Any login is an account whose subject is that login (the stock behaviour,
  // without its warning on every call).
  findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
  clients: [
    {
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      token_endpoint_auth_method: "client_secret_basic",
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      redirect_uris: [redirectUri],
      scope: "openid offline_access",
      id_token_signed_response_alg: "ES256",
    },
  ],
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString("base64url")] },
  scopes: ["openid", "offline_access"],
  pkce: { required: () => true },
  issueRefreshToken: async () => true,
  rotateRefreshToken: true,
  ttl: { AccessToken: 3600, IdToken: 3600 },
  features: {
    devInteractions: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => API,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, resource) => ({
        scope: "",
        audience: resource,
        accessTokenTTL: 3600,
        accessTokenFormat: "jwt",
        jwt: { sign: { alg: "ES256" } },
      }),
    },
  },
});
provider.on("server_error", (_ctx, err) => console.error("oidc-provider server_error:", err));

const server = http.createServer(provider.callback());
server.keepAliveTimeout = 60_000;
server.listen(port, "127.0.0.1", () => console.log(`ready ${issuer}`));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
process.on("disconnect", () => process.exit(0));
