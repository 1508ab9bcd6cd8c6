// Gateway test harness: the built gateway worker on workerd (Miniflare), a small
// origin that echoes what it received, and a stand-in issuer whose clock and keys the
// tests control (for expiry, algorithm-confusion and outage cases). Tokens from the
// real issuer come from tests/harness.mjs's startWorker(). Everything listens on
// 127.0.0.1 only, on free ports.

import { Miniflare, Log, LogLevel, supportedCompatibilityDate } from "miniflare";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import * as jose from "jose";
import {
  ROOT,
  ADMIN_CLIENT_ID,
  ADMIN_CLIENT_SECRET,
  basicAuth,
  freePort,
  postToken,
  readWranglerConfig,
} from "../harness.mjs";

export const GATEWAY_SCRIPT = path.join(ROOT, "crates", "gateway", "build", "index.js");

/** The API the stand-in issuer's tokens are for, and the gateway's default audience. */
export const API_AUDIENCE = "https://api.example.com";

/**
 * A gateway configuration document. `routes` is TOML text; `extra` goes at the top;
 * `audience` is the `aud` the gateway requires (`null` leaves the key out).
 */
export function gatewayConfig({ issuer, origin, audience = API_AUDIENCE, extra = "", routes }) {
  const aud = audience === null ? "" : `audience = "${audience}"\n`;
  return `issuer = "${issuer}"\norigin = "${origin}"\n${aud}${extra}\n${routes ?? DEFAULT_ROUTES}`;
}

/** The audience a token names (the first one when `aud` is a list). */
export function audienceOf(token) {
  const { aud } = JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString());
  return Array.isArray(aud) ? aud[0] : aud;
}

export const DEFAULT_ROUTES = `
[[routes]]
prefix = "/public/"
public = true

[[routes]]
prefix = "/api/apps"
methods = ["GET"]
scopes = ["gatehouse:apps_read"]

[[routes]]
prefix = "/api/keys"
any_scopes = ["gatehouse:keys_write", "gatehouse:admin"]

[[routes]]
prefix = "/api/orders"
scopes = ["orders:read"]

[[routes]]
prefix = "/api/perm"
permissions = ["orders_delete"]

[[routes]]
prefix = "/api/"
`;

/** Start the built gateway with `config` (TOML text) on Miniflare. */
export async function startGateway(config, opts = {}) {
  if (!fs.existsSync(GATEWAY_SCRIPT)) {
    throw new Error(`gateway build missing: ${GATEWAY_SCRIPT} (run scripts/build-gateway)`);
  }
  const cfg = readWranglerConfig();
  const port = opts.port ?? (await freePort());
  const mf = new Miniflare({
    name: "gatehouse-gateway",
    host: "127.0.0.1",
    port,
    cf: false,
    log: new Log(LogLevel[process.env.MINIFLARE_LOG ?? "WARN"] ?? LogLevel.WARN),
    modules: true,
    scriptPath: opts.scriptPath ?? GATEWAY_SCRIPT,
    modulesRoot: path.dirname(opts.scriptPath ?? GATEWAY_SCRIPT),
    modulesRules: [
      { type: "ESModule", include: ["**/*.js", "**/*.mjs"] },
      { type: "CompiledWasm", include: ["**/*.wasm", "**/*.wasm?module"] },
    ],
    compatibilityDate:
      cfg.compatibilityDate > supportedCompatibilityDate ? supportedCompatibilityDate : cfg.compatibilityDate,
    compatibilityFlags: cfg.compatibilityFlags,
    bindings: { GATEWAY_CONFIG: config, ...(opts.bindings ?? {}) },
  });
  await mf.ready;
  return { url: `http://127.0.0.1:${port}`, port, mf, stop: () => mf.dispose() };
}

/** An origin that answers every request with JSON describing it. */
export async function startOrigin() {
  const seen = [];
  const server = http.createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      const record = { method: req.method, url: req.url, headers: req.headers, body };
      seen.push(record);
      if (seen.length > 1000) seen.shift();
      res.writeHead(200, { "content-type": "application/json", "x-origin": "yes" });
      res.end(JSON.stringify(record));
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    stop: () => new Promise((resolve) => server.close(resolve)),
  };
}

/** Size of the oversized JWKS the stand-in issuer can serve (`state.jwks = "huge"`). */
export const HUGE_JWKS_BYTES = 32 * 1024 * 1024;

/**
 * A stand-in issuer: discovery and an ES256 JWKS over HTTP, tokens minted with jose.
 * `up = false` makes every request fail (connection reset). `state.jwks` picks how
 * the JWKS is served: "normal"; "redirect" (a 302 to a copy at another path that
 * would verify the tokens); "huge" / "huge-chunked" (valid JSON padded to
 * HUGE_JWKS_BYTES, with or without Content-Length, written as fast as the reader
 * takes it; `state.huge` records how much was written and whether it all was).
 * Kids in `state.withdrawn` are left out of the JWKS.
 */
export async function startFakeIssuer({ maxAge = 300 } = {}) {
  const state = {
    up: true,
    fetches: 0,
    keys: [],
    paths: [],
    jwks: "normal",
    withdrawn: new Set(),
    huge: { written: 0, finished: false, closed: false },
  };
  const addKey = async () => {
    const { publicKey, privateKey } = await jose.generateKeyPair("ES256", { extractable: true });
    const jwk = await jose.exportJWK(publicKey);
    const kid = await jose.calculateJwkThumbprint(jwk);
    const key = { kid, privateKey, publicKey, jwk: { ...jwk, kid, alg: "ES256", use: "sig" } };
    state.keys.push(key);
    return key;
  };
  await addKey();
  let base;
  const server = http.createServer((req, res) => {
    if (!state.up) {
      req.socket.destroy();
      return;
    }
    state.fetches++;
    state.paths.push(req.url);
    const jwks = () => JSON.stringify({ keys: state.keys.filter((k) => !state.withdrawn.has(k.kid)).map((k) => k.jwk) });
    const jwksHeaders = { "content-type": "application/json", "cache-control": `public, max-age=${maxAge}` };
    if (req.url === "/.well-known/openid-configuration") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ issuer: base, jwks_uri: `${base}/.well-known/jwks.json` }));
    } else if (req.url === "/.well-known/jwks.json" && state.jwks === "redirect") {
      res.writeHead(302, { location: `${base}/keys/moved.json`, "cache-control": "no-store" });
      res.end();
    } else if (req.url === "/.well-known/jwks.json" && state.jwks.startsWith("huge")) {
      serveHuge(res, jwks(), jwksHeaders, state.jwks === "huge", state.huge);
    } else if (req.url === "/.well-known/jwks.json" || req.url === "/keys/moved.json") {
      res.writeHead(200, jwksHeaders);
      res.end(jwks());
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${server.address().port}`;
  const now = () => Math.floor(Date.now() / 1000);
  return {
    issuer: base,
    state,
    addKey,
    /** A token; `claims` and `header` override the defaults; `key` picks the signer. */
    async mint({ claims = {}, header = {}, key = state.keys.at(-1) } = {}) {
      const body = {
        iss: base,
        sub: "user-1",
        aud: API_AUDIENCE,
        iat: now(),
        exp: now() + 3600,
        jti: crypto.randomUUID(),
        client_id: "app-1",
        scope: "orders:read",
        ...claims,
      };
      return await new jose.CompactSign(new TextEncoder().encode(JSON.stringify(body)))
        .setProtectedHeader({ alg: "ES256", typ: "at+jwt", kid: key.kid, ...header })
        .sign(key.privateKey);
    },
    stop: () => {
      server.closeAllConnections?.();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Writes `json` padded to HUGE_JWKS_BYTES, respecting back-pressure, into `record`. */
function serveHuge(res, json, headers, withLength, record) {
  const head = Buffer.from(`${json.slice(0, -1)},"pad":"`);
  const tail = Buffer.from(`"}`);
  const chunk = Buffer.alloc(64 * 1024, "x");
  const padding = HUGE_JWKS_BYTES - head.length - tail.length;
  res.writeHead(200, withLength ? { ...headers, "content-length": String(HUGE_JWKS_BYTES) } : headers);
  res.on("finish", () => (record.finished = true));
  res.on("close", () => (record.closed = true));
  let sent = 0;
  const write = (buf) => {
    record.written += buf.length;
    return res.write(buf);
  };
  write(head);
  const pump = () => {
    while (!res.destroyed && sent < padding) {
      const n = Math.min(chunk.length, padding - sent);
      sent += n;
      if (!write(n === chunk.length ? chunk : chunk.subarray(0, n))) return res.once("drain", pump);
    }
    if (!res.destroyed) res.end(tail, () => (record.written += tail.length));
  };
  pump();
}

/** An access token from the real issuer for the bootstrap admin client. */
export async function issuerToken(issuerUrl, scope) {
  const body = new URLSearchParams({ grant_type: "client_credentials" });
  if (scope) body.set("scope", scope);
  const res = await postToken(issuerUrl, body, { authorization: basicAuth(ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET) });
  if (res.status !== 200) throw new Error(`token endpoint answered ${res.status}: ${res.text}`);
  return res.json.access_token;
}

/** GET through the gateway; returns status, headers, text and parsed JSON (if any). */
export async function call(base, pathname, { token, headers = {}, method = "GET", body } = {}) {
  const h = { ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  const res = await fetch(`${base}${pathname}`, { method, headers: h, body });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}
