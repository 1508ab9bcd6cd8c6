// Where the token endpoint's time goes: a V8 CPU profile of the issuer worker under
// client_credentials load, taken through workerd's inspector, summed by stage.
// Not a test; run it with `scripts/bench profile` (see docs/performance.md).
//
//   node bench/profile.mjs [--seconds 8] [--concurrency 16] [--client bootstrap|app|private_key_jwt]
//                          [--script crates/worker/build-names/index.js] [--top 25]
//
// The worker must be built with its wasm function names kept (`scripts/build
// --names`, which `scripts/bench profile` runs), or every wasm frame is anonymous. The load comes from this process with keep-alive connections; the
// profile covers only the worker's isolate.

import http from "node:http";
import path from "node:path";
import { parseArgs } from "node:util";
import WebSocket from "ws";
import {
  ROOT,
  startWorker,
  freePort,
  basicAuth,
  adminToken,
  adminFetch,
  ADMIN_CLIENT_ID,
  ADMIN_CLIENT_SECRET,
} from "../tests/harness.mjs";
import { assertions, clientKey } from "./assertions.mjs";
import { cpuMs, workerdPids } from "./load.mjs";

const { values: opts } = parseArgs({
  options: {
    seconds: { type: "string", default: "8" },
    warmup: { type: "string", default: "3" },
    concurrency: { type: "string", default: "16" },
    client: { type: "string", default: "bootstrap" },
    script: { type: "string" },
    top: { type: "string", default: "25" },
    json: { type: "string" },
  },
});
const SECONDS = Math.min(Number(opts.seconds), 60);
const WARMUP = Math.min(Number(opts.warmup), 30);
const C = Math.min(Number(opts.concurrency), 128);

// Stages, tested against "function name @ script url". A sample is charged to the
// nearest frame on its stack (itself first, then its callers) that names one of the
// protocol stages, so shared code (allocation, JSON, glue) counts for the stage that
// called it; a sample with no such frame is charged by its own frame's name.
const STAGES = [
  ["configuration (variables, HKDF)", /ConfigCache|Config::from_vars|hkdf|Hkdf|env_value/],
  ["keyring: unseal (AES-GCM)", /aes_gcm|Aes256Gcm|Kek::open|ghash|polyval/],
  ["keyring: read and parse", /Keyring|StoredKey|::keyring/],
  ["key import (WebCrypto)", /import_private|importKey/],
  ["signing (WebCrypto)", /crypto::.*sign|mint_access_token|^sign @/],
  ["client authentication", /client_auth|secret_matches|ClientSecret|throttle/],
  ["scopes and audience", /audience|scope_facts|resources::lookup/],
  ["directory (KV)", /KvDirectory|kv::|KvStore/],
  ["usage batching", /UsageBatch|flush_usage|Deferred|count_usage/],
  ["request/response conversion", /to_http|to_worker/],
  ["form parsing", /parse_form|form_urlencoded/],
];
const GENERIC = [
  ["JSON (serde_json)", /serde_json|serde::/],
  ["allocation and copies", /dlmalloc|alloc::|__rust_alloc|__rust_dealloc|__rust_realloc|memcpy|memmove|memset/],
  ["wasm-bindgen glue", /wasm_bindgen|__wbg|__wbindgen|js_sys|externref/],
  ["other wasm", /wasm-function|::/],
  ["garbage collection", /garbage collector/],
  ["JS runtime and workerd", /./],
];

function loadClient(base, agent, body, headers) {
  const bodies = typeof body === "function" ? body : () => body;
  return () =>
    new Promise((resolve) => {
      const req = http.request(
        `${base}/token`,
        { method: "POST", agent, headers: { ...headers, "content-type": "application/x-www-form-urlencoded" } },
        (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode));
        },
      );
      req.on("error", () => resolve(0));
      req.end(bodies());
    });
}

async function drive(request, seconds) {
  const until = Date.now() + seconds * 1000;
  let ok = 0;
  let failed = 0;
  await Promise.all(
    Array.from({ length: C }, async () => {
      while (Date.now() < until) {
        if ((await request()) === 200) ok++;
        else failed++;
      }
    }),
  );
  if (failed) throw new Error(`${failed} token requests failed`);
  return ok;
}

class Inspector {
  static async connect(port) {
    const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
    const target = targets.find((t) => /gatehouse/.test(t.title ?? t.id ?? "")) ?? targets[0];
    const ws = new WebSocket(target.webSocketDebuggerUrl ?? `ws://127.0.0.1:${port}/${target.id}`);
    await new Promise((resolve, reject) => {
      ws.once("open", resolve);
      ws.once("error", reject);
    });
    return new Inspector(ws);
  }
  constructor(ws) {
    this.ws = ws;
    this.next = 1;
    this.waiting = new Map();
    ws.on("message", (data) => {
      const msg = JSON.parse(data);
      const pending = this.waiting.get(msg.id);
      if (!pending) return;
      this.waiting.delete(msg.id);
      if (msg.error) pending.reject(new Error(msg.error.message));
      else pending.resolve(msg.result);
    });
  }
  send(method, params = {}) {
    const id = this.next++;
    this.ws.send(JSON.stringify({ id, method, params }));
    return new Promise((resolve, reject) => this.waiting.set(id, { resolve, reject }));
  }
  close() {
    this.ws.close();
  }
}

/** Self time per function and per stage, in milliseconds. */
function summarize(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const label = (node) =>
    `${node.callFrame.functionName || "(anonymous)"} @ ${path.basename(node.callFrame.url || "")}`;
  const stageOf = (id) => {
    for (let at = id; at !== undefined; at = parent.get(at)) {
      const found = STAGES.find(([, re]) => re.test(label(byId.get(at))));
      if (found) return found[0];
    }
    return GENERIC.find(([, re]) => re.test(label(byId.get(id))))[0];
  };
  const selfMs = new Map();
  const deltas = profile.timeDeltas;
  profile.samples.forEach((id, i) => {
    const ms = (deltas[i + 1] ?? deltas[i] ?? 0) / 1000;
    selfMs.set(id, (selfMs.get(id) ?? 0) + ms);
  });
  const functions = new Map();
  const stages = new Map([...STAGES, ...GENERIC].map(([name]) => [name, 0]));
  let idle = 0;
  let total = 0;
  for (const [id, ms] of selfMs) {
    const node = byId.get(id);
    if (node.callFrame.functionName === "(idle)") {
      idle += ms;
      continue;
    }
    total += ms;
    functions.set(label(node), (functions.get(label(node)) ?? 0) + ms);
    const stage = stageOf(id);
    stages.set(stage, stages.get(stage) + ms);
  }
  return { functions, stages, idle, total };
}

const script = opts.script ? path.resolve(opts.script) : path.join(ROOT, "crates/worker/build-names/index.js");
const inspectorPort = await freePort();
const worker = await startWorker({ scriptPath: script, inspectorPort, direct: true });
const agent = new http.Agent({ keepAlive: true, maxSockets: C });
try {
  let request;
  if (opts.client === "private_key_jwt") {
    // A registered s2s app with private_key_jwt: one single-use assertion per request.
    const token = await adminToken(worker.url);
    const key = clientKey();
    const app = await adminFetch(worker.url, token, "POST", "/admin/v1/apps", {
      body: { client_name: "bench_pkjwt", type: "s2s", token_endpoint_auth_method: "private_key_jwt", jwks: { keys: [key.jwk] } },
    });
    if (app.status !== 201) throw new Error(`creating the app: ${app.status} ${app.text}`);
    const pool = assertions(key, app.json.client_id, worker.issuer, 3000 * (SECONDS + WARMUP));
    let next = 0;
    const form = (a) =>
      new URLSearchParams({
        grant_type: "client_credentials",
        client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        client_assertion: a,
      }).toString();
    request = loadClient(worker.url, agent, () => form(pool[next++ % pool.length]), {});
  } else if (opts.client === "app") {
    // A registered server-to-server app with client_secret_basic and one scope of a
    // registered resource, as the issuer benchmark uses.
    const token = await adminToken(worker.url);
    const api = "https://api.bench.example";
    await adminFetch(worker.url, token, "POST", "/admin/v1/resources", {
      body: { identifier: api, name: "Bench API" },
    });
    await adminFetch(worker.url, token, "POST", "/admin/v1/scopes", {
      body: { key: "orders:read", description: { en: "Read orders" }, resource: api },
    });
    const app = await adminFetch(worker.url, token, "POST", "/admin/v1/apps", {
      body: { client_name: "bench_job", type: "s2s", scope: "orders:read" },
    });
    if (app.status !== 201) throw new Error(`creating the app: ${app.status} ${app.text}`);
    request = loadClient(worker.url, agent, "grant_type=client_credentials", {
      authorization: basicAuth(app.json.client_id, app.json.client_secret),
    });
  } else {
    request = loadClient(worker.url, agent, "grant_type=client_credentials&scope=gatehouse%3Aapps_read", {
      authorization: basicAuth(ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET),
    });
  }
  await drive(request, WARMUP);
  // CPU time of the workerd process per token, without the profiler: what the
  // kernel charged the process, so other load on the machine does not inflate it.
  const pids = workerdPids();
  const cpuBefore = cpuMs(pids);
  const cpuCount = await drive(request, SECONDS);
  const cpuUsed = cpuMs(pids) - cpuBefore;
  const inspector = await Inspector.connect(inspectorPort);
  await inspector.send("Profiler.enable");
  await inspector.send("Profiler.setSamplingInterval", { interval: 100 });
  await inspector.send("Profiler.start");
  const started = performance.now();
  const count = await drive(request, SECONDS);
  const elapsed = performance.now() - started;
  const { profile } = await inspector.send("Profiler.stop");
  inspector.close();

  const { functions, stages, idle, total } = summarize(profile);
  const perToken = (ms) => ((ms / count) * 1000).toFixed(1).padStart(8);
  console.log(
    `${count} tokens in ${(elapsed / 1000).toFixed(1)} s (${((count * 1000) / elapsed).toFixed(0)}/s), ` +
      `client ${opts.client}, ${C} in flight; the isolate was busy ${((total / elapsed) * 100).toFixed(0)}% ` +
      `of the time (${(total / count).toFixed(3)} ms of CPU per token)`,
  );
  console.log(
    `workerd process CPU (user + system, without the profiler): ${((cpuUsed / cpuCount) * 1000).toFixed(0)} µs per token ` +
      `over ${cpuCount} tokens`,
  );
  console.log(`\n${"stage".padEnd(34)} ${"µs/token".padStart(8)} ${"share".padStart(6)}`);
  for (const [name, ms] of [...stages].sort((a, b) => b[1] - a[1])) {
    if (ms === 0) continue;
    console.log(`${name.padEnd(34)} ${perToken(ms)} ${((ms / total) * 100).toFixed(1).padStart(5)}%`);
  }
  console.log(`\n${"function (self time)".padEnd(72)} ${"µs/token".padStart(8)}`);
  for (const [name, ms] of [...functions].sort((a, b) => b[1] - a[1]).slice(0, Number(opts.top))) {
    console.log(`${name.slice(0, 72).padEnd(72)} ${perToken(ms)}`);
  }
  if (opts.json) {
    const fs = await import("node:fs/promises");
    await fs.mkdir(path.dirname(path.resolve(opts.json)), { recursive: true });
    await fs.writeFile(
      opts.json,
      JSON.stringify(
        { count, elapsedMs: elapsed, workerdCpuUsPerToken: (cpuUsed / cpuCount) * 1000, busyMs: total, idleMs: idle, stages: Object.fromEntries(stages), functions: Object.fromEntries(functions) },
        null,
        2,
      ),
    );
  }
} finally {
  agent.destroy();
  await worker.stop();
}
