#!/usr/bin/env node
// Serves the demo single-page app and a sample API behind it, on 127.0.0.1 only.
// Node built-ins only; `scripts/dev` starts it after registering the demo app.
//
//   node www/demo/serve.mjs --issuer URL --client-id ID [--api URL]
//                           [--port 8789] [--api-port 8790] [--scope SCOPE]
//
// The demo origin (--port) serves:
//   /              index.html, app.js, style.css from this directory
//   /pkg/...       the browser package, crates/web/pkg (built by scripts/build-web)
//   /config.json   the client options for createClient, and `api`: the URL the
//                  "Call the API" button calls (the edge gateway in front of the
//                  sample API, by default)
// The sample API (--api-port) answers every request with JSON echoing the identity
// headers the gateway forwards (X-Gatehouse-Sub, -Client-Id, -Scope, -Permissions,
// -Roles). It is the gateway's origin: it trusts those headers, so in a real
// deployment only the gateway may reach it.

import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PKG = path.resolve(HERE, "..", "..", "crates", "web", "pkg");
const PAGES = { "/": "index.html", "/index.html": "index.html", "/app.js": "app.js", "/style.css": "style.css" };
const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".wasm": "application/wasm",
  ".ts": "text/plain; charset=utf-8",
  ".md": "text/plain; charset=utf-8",
};
const IDENTITY_HEADERS = {
  sub: "x-gatehouse-sub",
  client_id: "x-gatehouse-client-id",
  scope: "x-gatehouse-scope",
  permissions: "x-gatehouse-permissions",
  roles: "x-gatehouse-roles",
};

function usage(message) {
  if (message) console.error(`serve.mjs: ${message}`);
  console.error(
    "usage: node www/demo/serve.mjs --issuer URL --client-id ID [--api URL] [--port 8789] [--api-port 8790] [--scope SCOPE]",
  );
  process.exit(2);
}

let options;
try {
  ({ values: options } = parseArgs({
    options: {
      issuer: { type: "string" },
      "client-id": { type: "string" },
      api: { type: "string", default: "http://127.0.0.1:8788/api/hello" },
      port: { type: "string", default: "8789" },
      "api-port": { type: "string", default: "8790" },
      scope: { type: "string", default: "openid profile email offline_access demo:read" },
    },
  }));
} catch (error) {
  usage(error.message);
}
if (!options.issuer || !options["client-id"]) usage("--issuer and --client-id are required");
const port = Number(options.port);
const apiPort = Number(options["api-port"]);
if (!Number.isInteger(port) || !Number.isInteger(apiPort)) usage("ports are numbers");

const origin = `http://127.0.0.1:${port}`;
const config = {
  issuer: options.issuer,
  clientId: options["client-id"],
  redirectUri: `${origin}/`,
  postLogoutRedirectUri: `${origin}/`,
  scope: options.scope,
  api: options.api,
};

// What the page may load and call: itself, the issuer (discovery, token, JWKS, and
// the hidden iframe of a silent login) and the API. The wasm needs wasm-unsafe-eval.
const csp = [
  "default-src 'none'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "style-src 'self'",
  "img-src 'self' data:",
  `connect-src 'self' ${new URL(config.issuer).origin} ${new URL(config.api).origin}`,
  `frame-src ${new URL(config.issuer).origin}`,
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

function send(res, status, type, body, headers = {}) {
  res.writeHead(status, {
    "content-type": type,
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    ...headers,
  });
  res.end(body);
}

/** The file under `root` that `relative` names, or null when it leaves `root` or is absent. */
function fileUnder(root, relative) {
  const file = path.resolve(root, `.${path.posix.normalize(`/${relative}`)}`);
  if (!file.startsWith(root + path.sep)) return null;
  try {
    return fs.statSync(file).isFile() ? file : null;
  } catch {
    return null;
  }
}

const demo = http.createServer((req, res) => {
  let pathname;
  try {
    pathname = decodeURIComponent(new URL(req.url, origin).pathname);
  } catch {
    return send(res, 400, "text/plain; charset=utf-8", "bad request path\n");
  }
  if (req.method !== "GET" && req.method !== "HEAD") {
    return send(res, 405, "text/plain; charset=utf-8", "method not allowed\n", { allow: "GET, HEAD" });
  }
  if (pathname === "/config.json") return send(res, 200, TYPES[".json"], `${JSON.stringify(config, null, 2)}\n`);
  let file = null;
  if (PAGES[pathname]) file = path.join(HERE, PAGES[pathname]);
  else if (pathname.startsWith("/pkg/")) file = fileUnder(PKG, pathname.slice("/pkg/".length));
  if (!file) {
    const hint = pathname.startsWith("/pkg/") ? " (build the browser package with scripts/build-web)" : "";
    return send(res, 404, "text/plain; charset=utf-8", `not found: ${pathname}${hint}\n`);
  }
  const type = TYPES[path.extname(file)] ?? "application/octet-stream";
  const headers = type.startsWith("text/html") ? { "content-security-policy": csp } : {};
  send(res, 200, type, req.method === "HEAD" ? undefined : fs.readFileSync(file), headers);
});

const api = http.createServer((req, res) => {
  const { pathname, search } = new URL(req.url, "http://api");
  const identity = {};
  for (const [name, header] of Object.entries(IDENTITY_HEADERS)) {
    if (req.headers[header] !== undefined) identity[name] = req.headers[header];
  }
  const body = {
    message:
      identity.sub === undefined
        ? "hello, whoever you are: no identity headers (was this request sent past the gateway?)"
        : `hello, ${identity.sub}`,
    method: req.method,
    path: pathname + search,
    identity,
    authorization_forwarded: req.headers.authorization !== undefined,
    served_at: new Date().toISOString(),
  };
  console.error(`sample API: ${req.method} ${pathname} sub=${identity.sub ?? "-"}`);
  send(res, 200, "application/json", `${JSON.stringify(body, null, 2)}\n`);
});

function listen(server, listenPort, what) {
  return new Promise((resolve, reject) => {
    server.once("error", (error) => reject(new Error(`${what} on 127.0.0.1:${listenPort}: ${error.message}`)));
    server.listen(listenPort, "127.0.0.1", resolve);
  });
}

try {
  await listen(api, apiPort, "sample API");
  await listen(demo, port, "demo");
} catch (error) {
  console.error(`serve.mjs: ${error.message}`);
  process.exit(1);
}
if (!fs.existsSync(path.join(PKG, "index.js"))) {
  console.error("serve.mjs: crates/web/pkg/index.js is missing: run scripts/build-web");
}
console.error(`demo on ${origin}/ (sample API on http://127.0.0.1:${apiPort})`);

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    demo.closeAllConnections();
    api.closeAllConnections();
    demo.close();
    api.close();
    process.exit(0);
  });
}
