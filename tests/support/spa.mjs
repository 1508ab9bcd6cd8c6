// A single-page app on 127.0.0.1 (or `localhost`, a different site) that loads
// the browser package from crates/web/pkg, for the browser package's tests.
//
// Pages:
//   /app         creates the client from /config.json, handles a callback when
//                the URL carries `state`, and exposes `window.auth`, `window.gh`
//                (the package), `window.events` (onChange calls), `window.callback`
//                ({ user } or { error }) and `window.appReady`
//   /pkg/...     the built package
//   /config.json the client options the test set with `configure()`

import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { ROOT } from "../harness.mjs";

export const PKG = path.join(ROOT, "crates", "web", "pkg");

const TYPES = { ".js": "text/javascript", ".wasm": "application/wasm", ".json": "application/json", ".ts": "text/plain" };

const APP = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>spa</title></head>
<body><main id="out">loading</main>
<script type="module">
import * as gh from "/pkg/index.js";
window.gh = gh;
window.events = [];
const out = document.getElementById("out");
const describe = (e) => ({ name: e?.name, code: e?.code, message: String(e?.message ?? e) });
try {
  const config = await (await fetch("/config.json", { cache: "no-store" })).json();
  const auth = await gh.createClient(config);
  window.auth = auth;
  auth.onChange((user, reason) => window.events.push({ sub: user?.sub ?? null, reason }));
  if (new URLSearchParams(location.search).has("state")) {
    try {
      window.callback = { user: await auth.handleCallback() };
    } catch (e) {
      window.callback = { error: describe(e) };
    }
  }
  out.textContent = auth.isAuthenticated() ? "signed in" : "signed out";
} catch (e) {
  window.startError = describe(e);
  out.textContent = "failed: " + e.message;
}
window.appReady = true;
</script></body></html>`;

/**
 * Starts the SPA. `host` is "127.0.0.1" (same site as an issuer on 127.0.0.1) or
 * "localhost" (another site: the issuer's cookies are third-party there).
 */
export async function startSpa({ host = "127.0.0.1", pages = {} } = {}) {
  let config = {};
  const requests = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://x");
    requests.push({ method: req.method, path: url.pathname, search: url.search });
    const send = (status, type, body) => {
      res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
      res.end(body);
    };
    if (url.pathname === "/config.json") return send(200, TYPES[".json"], JSON.stringify(config));
    if (url.pathname.startsWith("/pkg/")) {
      const file = path.join(PKG, path.normalize(url.pathname.slice(5)));
      if (!file.startsWith(PKG) || !fs.existsSync(file)) return send(404, "text/plain", "not found");
      return send(200, TYPES[path.extname(file)] ?? "application/octet-stream", fs.readFileSync(file));
    }
    const page = pages[url.pathname] ?? (url.pathname === "/app" ? APP : undefined);
    if (page !== undefined) return send(200, "text/html; charset=utf-8", page);
    return send(200, "text/html; charset=utf-8", `<!doctype html><title>spa</title><p>${url.pathname}</p>`);
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const origin = `http://${host}:${server.address().port}`;
  return {
    origin,
    app: `${origin}/app`,
    requests,
    /** Sets the options the app passes to createClient. */
    configure(options) {
      config = options;
    },
    async close() {
      server.closeAllConnections?.();
      await new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** Opens the app in `page` and waits until it has started (and handled a callback). */
export async function openApp(page, url) {
  if (url) await page.goto(url);
  await page.waitForFunction(() => window.appReady === true);
}
