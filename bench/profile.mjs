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
import { printProfile, startProfiling, summarize } from "./inspector.mjs";

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
  const stopProfiling = await startProfiling(inspectorPort);
  const started = performance.now();
  const count = await drive(request, SECONDS);
  const elapsed = performance.now() - started;
  const profile = await stopProfiling();

  const { functions, stages, idle, total } = summarize(profile);
  console.log(
    `${count} tokens in ${(elapsed / 1000).toFixed(1)} s (${((count * 1000) / elapsed).toFixed(0)}/s), ` +
      `client ${opts.client}, ${C} in flight; the isolate was busy ${((total / elapsed) * 100).toFixed(0)}% ` +
      `of the time (${(total / count).toFixed(3)} ms of CPU per token)`,
  );
  console.log(
    `workerd process CPU (user + system, without the profiler): ${((cpuUsed / cpuCount) * 1000).toFixed(0)} µs per token ` +
      `over ${cpuCount} tokens`,
  );
  printProfile({ functions, stages, total }, count, "token", Number(opts.top));
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
