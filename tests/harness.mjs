// Test harness: runs the built issuer worker locally on workerd, either in
// process through Miniflare's Node API (`startWorker`) or as a real
// `wrangler dev` child process (`startWranglerDev`). Both listen on
// 127.0.0.1 only, on a free port, with ISSUER set to the URL they serve on.

import { Miniflare, Log, LogLevel, supportedCompatibilityDate } from "miniflare";
import { spawn } from "node:child_process";
import fs from "node:fs";
import fsp from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";

/** Repository root (override with GATEHOUSE_ROOT to test another checkout). */
export const ROOT = process.env.GATEHOUSE_ROOT
  ? path.resolve(process.env.GATEHOUSE_ROOT)
  : path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

export const ADMIN_CLIENT_ID = "gatehouse-e2e-admin";
// A VSCHAR secret with characters that RFC 6749 section 2.3.1 requires to be
// form-urlencoded inside HTTP Basic: ':' '+' '%' '/' '&' '=' and a space.
export const ADMIN_CLIENT_SECRET = "e2e:Secret+with/reserved%chars&=~ ok";
// `wrangler dev --var NAME:VALUE` is parsed by wrangler, so keep that one plain.
export const DEV_ADMIN_CLIENT_SECRET = "e2e-dev-secret-0123456789abcdefABCDEF";
export const KEY_ENCRYPTION_SECRET = "e2e-key-encryption-secret-0123456789abcdefghij";

export const MANAGEMENT_SCOPES = [
  "gatehouse:admin",
  ...["apps", "scopes", "users", "roles", "keys"].flatMap((r) =>
    ["read", "write", "delete"].map((a) => `gatehouse:${r}_${a}`),
  ),
];

process.env.WRANGLER_SEND_METRICS = "false";

/** Environment for wrangler child processes: no metrics, no prompts, no colour. */
export function wranglerEnv(extra = {}) {
  return {
    ...process.env,
    WRANGLER_SEND_METRICS: "false",
    CLOUDFLARE_CF_FETCH_ENABLED: "false",
    NO_UPDATE_NOTIFIER: "1",
    FORCE_COLOR: "0",
    CI: process.env.CI ?? "true",
    ...extra,
  };
}

/**
 * Minimal reader for the top-level keys of wrangler.toml we need
 * (string values and arrays of strings, before the first [table]).
 */
export function readWranglerConfig(root = ROOT) {
  const file = path.join(root, "wrangler.toml");
  const text = fs.readFileSync(file, "utf8");
  const top = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/\s+#.*$/, "").trim();
    if (line.startsWith("[")) break;
    const m = /^([A-Za-z0-9_-]+)\s*=\s*(.+)$/.exec(line);
    if (!m) continue;
    const [, key, value] = m;
    if (/^".*"$|^'.*'$/.test(value)) top[key] = value.slice(1, -1);
    else if (value.startsWith("["))
      top[key] = [...value.matchAll(/"([^"]*)"|'([^']*)'/g)].map((x) => x[1] ?? x[2]);
    else top[key] = value;
  }
  if (!top.main) throw new Error(`${file}: no top-level "main"`);
  return {
    file,
    name: typeof top.name === "string" ? top.name : "gatehouse",
    main: top.main,
    scriptPath: path.resolve(root, top.main),
    compatibilityDate: top.compatibility_date ?? "2025-01-01",
    compatibilityFlags: Array.isArray(top.compatibility_flags) ? top.compatibility_flags : [],
  };
}

/** A port that was free a moment ago on 127.0.0.1. */
export async function freePort() {
  return await new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export async function tempDir(prefix = "gatehouse-e2e-") {
  return await fsp.mkdtemp(path.join(os.tmpdir(), prefix));
}

export async function removeDir(dir) {
  if (dir) await fsp.rm(dir, { recursive: true, force: true, maxRetries: 3 });
}

function workerVars(issuer, extra = {}) {
  return {
    ISSUER: issuer,
    ADMIN_CLIENT_ID,
    ADMIN_CLIENT_SECRET,
    KEY_ENCRYPTION_SECRET,
    // The tests' key servers run on 127.0.0.1 over plain http; a test that checks
    // the production rule passes INSECURE_ALLOW_PRIVATE_FETCH: "false".
    INSECURE_ALLOW_PRIVATE_FETCH: "true",
    ...extra,
  };
}

/**
 * Start the built worker with Miniflare on 127.0.0.1.
 * @param {object} [opts]
 * @param {string} [opts.persistTo] directory for KV and Durable Object state
 *   (same layout as `wrangler dev --persist-to`); in memory when omitted
 * @param {Record<string,string>} [opts.vars] extra or overriding vars
 * @param {string} [opts.scriptPath] another build of the worker (e.g. the selftest build)
 * @param {(request: Request) => Promise<Response>} [opts.outboundService] answers the
 *   worker's own outbound fetches (an app's jwks_uri) instead of the network
 * @param {boolean} [opts.direct] serve the worker on its own workerd socket, the way
 *   production has no proxy in front of it (`url` is then that socket; Miniflare's
 *   entry worker, which adds about half a millisecond per request, stays out of the
 *   path): what the benchmarks use
 * @param {number} [opts.inspectorPort] open workerd's inspector there (profiling)
 * @returns {Promise<{url: string, issuer: string, port: number, mf: Miniflare, stop: () => Promise<void>}>}
 */
export async function startWorker(opts = {}) {
  const cfg = { ...readWranglerConfig(opts.root ?? ROOT) };
  if (opts.scriptPath) cfg.scriptPath = opts.scriptPath;
  if (!fs.existsSync(cfg.scriptPath)) {
    throw new Error(`worker build missing: ${cfg.scriptPath} (run scripts/build)`);
  }
  const persist = opts.persistTo ? path.resolve(opts.persistTo, "v3") : undefined;
  let lastError;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = opts.port ?? (await freePort());
    const directPort = opts.direct ? await freePort() : undefined;
    const url = `http://127.0.0.1:${directPort ?? port}`;
    const mf = new Miniflare({
      name: cfg.name,
      host: "127.0.0.1",
      port,
      cf: false,
      log: new Log(LogLevel[process.env.MINIFLARE_LOG ?? "WARN"] ?? LogLevel.WARN),
      modules: true,
      scriptPath: cfg.scriptPath,
      modulesRoot: path.dirname(cfg.scriptPath),
      modulesRules: [
        { type: "ESModule", include: ["**/*.js", "**/*.mjs"] },
        { type: "CompiledWasm", include: ["**/*.wasm", "**/*.wasm?module"] },
      ],
      // workerd refuses dates newer than it knows; wrangler clamps the same way
      compatibilityDate:
        cfg.compatibilityDate > supportedCompatibilityDate ? supportedCompatibilityDate : cfg.compatibilityDate,
      compatibilityFlags: cfg.compatibilityFlags,
      kvNamespaces: { DIRECTORY: "gatehouse-directory" },
      durableObjects: { VAULT: { className: "Vault", useSQLite: true } },
      bindings: workerVars(url, opts.vars),
      ...(opts.outboundService ? { outboundService: opts.outboundService } : {}),
      ...(opts.inspectorPort ? { inspectorPort: opts.inspectorPort } : {}),
      ...(directPort ? { unsafeDirectSockets: [{ host: "127.0.0.1", port: directPort }] } : {}),
      ...(persist
        ? {
            defaultPersistRoot: persist,
            kvPersist: true,
            durableObjectsPersist: true,
            cachePersist: true,
          }
        : {}),
    });
    try {
      await mf.ready;
    } catch (e) {
      lastError = e;
      await mf.dispose().catch(() => {});
      if (opts.port || !/EADDRINUSE|address already in use/i.test(String(e?.stack ?? e))) throw e;
      continue;
    }
    let stopped = false;
    return {
      url,
      issuer: url,
      port,
      mf,
      async stop() {
        if (stopped) return;
        stopped = true;
        await mf.dispose();
      },
    };
  }
  throw lastError;
}

/**
 * Start `wrangler dev --local` as a child process (its own process group) and
 * wait until it answers. Uses the repository's wrangler.toml.
 * @param {object} opts
 * @param {string} opts.persistTo state directory (--persist-to)
 * @param {number} [opts.port]
 * @param {number} [opts.timeoutMs]
 */
export async function startWranglerDev(opts) {
  const root = opts.root ?? ROOT;
  const port = opts.port ?? (await freePort());
  const inspectorPort = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const vars = {
    ...workerVars(url),
    ADMIN_CLIENT_SECRET: DEV_ADMIN_CLIENT_SECRET,
    ...opts.vars,
  };
  const wrangler = path.join(root, "node_modules", "wrangler", "bin", "wrangler.js");
  const args = [
    wrangler,
    "dev",
    "--local",
    "--ip",
    "127.0.0.1",
    "--port",
    String(port),
    "--inspector-port",
    String(inspectorPort),
    "--persist-to",
    opts.persistTo,
    "--show-interactive-dev-session=false",
    "--log-level",
    "warn",
    ...Object.entries(vars).flatMap(([k, v]) => ["--var", `${k}:${v}`]),
  ];
  const child = spawn(process.execPath, args, {
    cwd: root,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: wranglerEnv({ WRANGLER_LOG: process.env.WRANGLER_LOG ?? "warn" }),
  });
  let output = "";
  const collect = (chunk) => {
    output += chunk;
    if (output.length > 200_000) output = output.slice(-100_000);
  };
  child.stdout.setEncoding("utf8").on("data", collect);
  child.stderr.setEncoding("utf8").on("data", collect);
  let exited = null;
  const exitPromise = new Promise((resolve) =>
    child.on("exit", (code, signal) => {
      exited = { code, signal };
      resolve(exited);
    }),
  );

  const killGroup = (signal) => {
    try {
      process.kill(-child.pid, signal);
    } catch {
      /* already gone */
    }
  };
  const stop = async () => {
    if (exited) return;
    killGroup("SIGTERM");
    const done = await Promise.race([exitPromise, sleep(5000).then(() => null)]);
    if (!done) {
      killGroup("SIGKILL");
      await exitPromise;
    }
    // wrangler's workerd child shares the process group; give it a moment.
    await sleep(200);
    killGroup("SIGKILL");
  };

  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  while (Date.now() < deadline) {
    if (exited) break;
    try {
      const res = await fetch(`${url}/.well-known/openid-configuration`, {
        signal: AbortSignal.timeout(2000),
      });
      await res.arrayBuffer();
      if (res.status < 500) return { url, issuer: url, port, child, stop, output: () => output };
    } catch {
      /* not up yet */
    }
    await sleep(250);
  }
  await stop();
  throw new Error(
    `wrangler dev did not become ready on ${url}` +
      (exited ? ` (exited ${JSON.stringify(exited)})` : "") +
      `\n--- wrangler output ---\n${output.slice(-8000)}`,
  );
}

// ---------------------------------------------------------------------------
// Small HTTP helpers shared by the tests

export function basicAuth(id, secret) {
  const enc = (s) => new URLSearchParams({ s }).toString().slice(2); // form-urlencode
  return "Basic " + Buffer.from(`${enc(id)}:${enc(secret)}`).toString("base64");
}

/** POST a form to /token. `body` may be a string, URLSearchParams or Uint8Array. */
export async function postToken(base, body, headers = {}) {
  const res = await fetch(`${base}/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
    body,
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { res, status: res.status, headers: res.headers, text, json };
}

export async function getJson(url, init) {
  const res = await fetch(url, init);
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { res, status: res.status, headers: res.headers, text, json };
}

export function decodeJwtPart(token, index) {
  return JSON.parse(Buffer.from(token.split(".")[index], "base64url").toString("utf8"));
}

/** An access token for the bootstrap admin client (client_credentials, Basic). */
export async function adminToken(base, scope) {
  const body = new URLSearchParams({ grant_type: "client_credentials" });
  if (scope) body.set("scope", scope);
  const r = await postToken(base, body, { authorization: basicAuth(ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET) });
  if (r.status !== 200) throw new Error(`admin token: ${r.status} ${r.text}`);
  return r.json.access_token;
}

/**
 * A management API call. `body` is sent as JSON unless it is a string or bytes
 * (then with `contentType`, default application/json).
 */
export async function adminFetch(base, token, method, path, { body, headers = {}, contentType } = {}) {
  const init = { method, headers: { ...headers } };
  if (token) init.headers.authorization = `Bearer ${token}`;
  if (body !== undefined) {
    init.body = typeof body === "string" || body instanceof Uint8Array ? body : JSON.stringify(body);
    init.headers["content-type"] = contentType ?? "application/json";
  }
  return await getJson(`${base}${path}`, init);
}
