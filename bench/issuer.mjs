// Issuer benchmark: the token endpoint (client_credentials) of the built issuer
// worker beside node-oidc-provider on the same machine. Not a test; run it with
// `scripts/bench issuer` (see docs/performance.md).
//
//   node bench/issuer.mjs [--rounds 3] [--seconds 10] [--warmup 3]
//                         [--concurrency 16,64] [--cases bootstrap,basic,private_key_jwt]
//                         [--json target/bench/issuer.json]
//
// Cases (Gatehouse | oidc-provider):
//   bootstrap        the bootstrap admin client, HTTP Basic | a client_secret_basic client
//   basic            a registered s2s app, client_secret_basic | the same client
//   private_key_jwt  a registered s2s app, ES256 assertions | a private_key_jwt client
// oidc-provider issues ES256 RFC 9068 JWT access tokens through a default resource
// indicator, as Gatehouse does; its stock opaque tokens are measured in the basic case
// for reference. Assertions are signed before each run and used once each (both
// servers refuse a replayed jti).
//
// Both servers get the same load from this process: C requests in flight over
// keep-alive connections, a warm-up, then a measured window. Gatehouse runs on
// workerd's own socket (no Miniflare entry worker in front, as in production);
// oidc-provider on node:http. The two alternate within each round, who goes first
// alternating too, and the summary is the median over rounds of each figure and of
// the per-round ratio. Targets are printed, never asserted.
//
// The serving floor: a worker that reads the form and answers a fixed token
// response, served like Gatehouse, shows what the machine and workerd's HTTP path
// allow at each C (its p99 includes the stalls of the serving path itself).

import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { Miniflare, Log, LogLevel } from "miniflare";
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
import { load, median, startChild, workerdPids } from "./load.mjs";
import { assertions, clientKey } from "./assertions.mjs";

const { values: opts } = parseArgs({
  options: {
    rounds: { type: "string", default: "3" },
    seconds: { type: "string", default: "10" },
    warmup: { type: "string", default: "3" },
    concurrency: { type: "string", default: "16,64" },
    cases: { type: "string", default: "bootstrap,basic,private_key_jwt" },
    json: { type: "string", default: path.join(ROOT, "target", "bench", "issuer.json") },
  },
});
const ROUNDS = Math.min(Math.max(1, Number(opts.rounds)), 10);
const SECONDS = Math.min(Math.max(1, Number(opts.seconds)), 60);
const WARMUP = Math.min(Math.max(0, Number(opts.warmup)), 30);
const LEVELS = opts.concurrency.split(",").map((c) => Math.min(Math.max(1, Number(c)), 256));
const CASES = opts.cases.split(",");
for (const name of CASES) {
  if (!["bootstrap", "basic", "private_key_jwt"].includes(name)) throw new Error(`unknown case ${name}`);
}

const SCOPE = "orders:read";
const API = "https://api.bench.example";
const OP_SECRET = "bench-secret-0123456789abcdefghijklmnopqrstuvwxyz";
const FORM = { "content-type": "application/x-www-form-urlencoded" };
const JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

// One client key pair, registered with both servers for private_key_jwt.
const key = clientKey();
const clientJwk = key.jwk;

function basicRequests(id, secret, scope) {
  const request = {
    path: "/token",
    headers: { ...FORM, authorization: basicAuth(id, secret) },
    body: new URLSearchParams({ grant_type: "client_credentials", scope }).toString(),
  };
  return () => () => request;
}

function assertionRequests(clientId, aud) {
  return (expected) => {
    const pool = assertions(key, clientId, aud, expected);
    let next = 0;
    return () =>
      next < pool.length
        ? {
            path: "/token",
            headers: FORM,
            body: new URLSearchParams({
              grant_type: "client_credentials",
              scope: SCOPE,
              client_assertion_type: JWT_BEARER,
              client_assertion: pool[next++],
            }).toString(),
          }
        : null;
  };
}

async function startOidcProvider() {
  const port = await freePort();
  return startChild(path.join(ROOT, "bench", "oidc-provider.mjs"), [String(port), JSON.stringify(clientJwk)]);
}

const FLOOR_SCRIPT = `
const body = JSON.stringify({ access_token: "x".repeat(540), token_type: "Bearer", expires_in: 3600, scope: "orders:read" });
export default {
  async fetch(request) {
    await request.arrayBuffer();
    return new Response(body, { headers: { "content-type": "application/json", "cache-control": "no-store", pragma: "no-cache" } });
  },
};`;

async function startFloor() {
  const direct = await freePort();
  const mf = new Miniflare({
    name: "floor",
    cf: false,
    host: "127.0.0.1",
    port: await freePort(),
    log: new Log(LogLevel.WARN),
    modules: true,
    script: FLOOR_SCRIPT,
    compatibilityDate: "2025-01-01",
    unsafeDirectSockets: [{ host: "127.0.0.1", port: direct }],
  });
  await mf.ready;
  return { url: `http://127.0.0.1:${direct}`, stop: () => mf.dispose() };
}

async function setUpGatehouse(worker) {
  const token = await adminToken(worker.url);
  const call = async (method, p, body, expect) => {
    const r = await adminFetch(worker.url, token, method, p, { body });
    if (r.status !== expect) throw new Error(`${method} ${p}: ${r.status} ${r.text}`);
    return r.json;
  };
  await call("POST", "/admin/v1/resources", { identifier: API, name: "Bench API" }, 201);
  await call("POST", "/admin/v1/scopes", { key: SCOPE, description: { en: "Read orders" }, resource: API }, 201);
  const basic = await call("POST", "/admin/v1/apps", { client_name: "bench_basic", type: "s2s", scope: SCOPE }, 201);
  const signed = await call(
    "POST",
    "/admin/v1/apps",
    { client_name: "bench_pkjwt", type: "s2s", scope: SCOPE, token_endpoint_auth_method: "private_key_jwt", jwks: { keys: [clientJwk] } },
    201,
  );
  return { basic, signed };
}

const fmt = (x, digits = 0) => (Number.isFinite(x) ? x.toFixed(digits) : "-");

const stops = [];
const results = [];
try {
  const gatehouse = await startWorker({ direct: true });
  stops.push(() => gatehouse.stop());
  // The issuer's workerd, found before any other worker starts.
  const gatehousePids = workerdPids();
  const peer = await startOidcProvider();
  stops.push(peer.stop);
  const apps = await setUpGatehouse(gatehouse);
  const floor = await startFloor();
  stops.push(floor.stop);
  const floorRequest = basicRequests("floor", "floor", SCOPE);

  // For each case, the servers compared: name, base URL, request maker.
  const subjects = {
    bootstrap: [
      ["gatehouse", gatehouse.url, basicRequests(ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET, "gatehouse:apps_read")],
      ["oidc-provider", peer.url, basicRequests("bench-basic", OP_SECRET, SCOPE)],
    ],
    basic: [
      ["gatehouse", gatehouse.url, basicRequests(apps.basic.client_id, apps.basic.client_secret, SCOPE)],
      ["oidc-provider", peer.url, basicRequests("bench-basic", OP_SECRET, SCOPE)],
      ["oidc-provider opaque", peer.url, basicRequests("bench-opaque", OP_SECRET, SCOPE)],
    ],
    private_key_jwt: [
      ["gatehouse", gatehouse.url, assertionRequests(apps.signed.client_id, gatehouse.issuer)],
      ["oidc-provider", peer.url, assertionRequests("bench-pkjwt", peer.url)],
    ],
  };
  const pidsOf = (server) => (server === "gatehouse" ? gatehousePids : [peer.pid]);
  // Pool sizes for single-use assertions: generous at first, then from what was seen.
  const seenRps = new Map();

  console.log(
    `issuer benchmark: client_credentials, ${ROUNDS} rounds, ${WARMUP} s warm-up + ${SECONDS} s per run, ` +
      `C = ${LEVELS.join(", ")}; ${os.cpus().length} CPUs, Node ${process.versions.node}`,
  );
  for (let round = 0; round < ROUNDS; round++) {
    for (const c of LEVELS) {
      const r = await load({ base: floor.url, next: floorRequest(), concurrency: c, seconds: SECONDS, warmupSeconds: WARMUP });
      results.push({ round: round + 1, case: "floor", concurrency: c, server: "floor", ...r });
      console.log(`round ${round + 1} ${"serving floor".padEnd(15)} C=${String(c).padEnd(3)} ${fmt(r.rps)}/s p50 ${fmt(r.p50, 1)} p99 ${fmt(r.p99, 1)} ms`);
    }
    for (const name of CASES) {
      for (const c of LEVELS) {
        const order = round % 2 ? [...subjects[name]].reverse() : subjects[name];
        const line = [];
        for (const [server, base, requests] of order) {
          const key = `${name}/${c}/${server}`;
          const expected = Math.ceil(Math.max(2.5 * (seenRps.get(key) ?? 4000), 1500) * (WARMUP + SECONDS)) + 4 * c;
          const r = await load({ base, next: requests(expected), concurrency: c, seconds: SECONDS, warmupSeconds: WARMUP, pids: pidsOf(server) });
          seenRps.set(key, r.rps);
          // A refusal is a broken setup; a few dropped connections (status 0) under
          // load are counted and reported, not fatal.
          const refused = r.failed - (r.statuses[0] ?? 0);
          if (refused || r.failed > r.count / 100) {
            throw new Error(`${key}: ${r.failed} of ${r.count} requests failed ${JSON.stringify(r.statuses)}`);
          }
          if (r.exhausted) throw new Error(`${key}: ran out of assertions`);
          results.push({ round: round + 1, case: name, concurrency: c, server, ...r });
          const dropped = r.failed ? ` (${r.failed} connections dropped)` : "";
          line.push(`${server} ${fmt(r.rps)}/s p50 ${fmt(r.p50, 1)} p99 ${fmt(r.p99, 1)} ms cpu ${fmt(r.cpuUs)} µs${dropped}`);
        }
        const g = results.findLast((x) => x.case === name && x.concurrency === c && x.server === "gatehouse");
        const o = results.findLast((x) => x.case === name && x.concurrency === c && x.server === "oidc-provider");
        console.log(
          `round ${round + 1} ${name.padEnd(15)} C=${String(c).padEnd(3)} ${line.join(" | ")} | ratio ${fmt(g.rps / o.rps, 2)}` +
            ` | cpu ratio ${fmt(o.cpuUs / g.cpuUs, 2)}`,
        );
      }
    }
  }

  // Summary: medians over rounds, and the targets of docs/performance.md.
  const pick = (name, c, server) => results.filter((x) => x.case === name && x.concurrency === c && x.server === server);
  const summary = [];
  console.log(
    `\n${"case".padEnd(16)} ${"C".padStart(3)} ${"gatehouse/s".padStart(11)} ${"p50".padStart(6)} ${"p99".padStart(6)} ` +
      `${"peer JWT/s".padStart(10)} ${"p50".padStart(6)} ${"p99".padStart(6)} ${"ratio".padStart(6)} ${"opaque/s".padStart(9)} ` +
      `${"cpu µs".padStart(7)} ${"peer".padStart(6)} ${"ratio".padStart(6)}`,
  );
  for (const name of CASES) {
    for (const c of LEVELS) {
      const g = pick(name, c, "gatehouse");
      const o = pick(name, c, "oidc-provider");
      const q = pick(name, c, "oidc-provider opaque");
      const row = {
        case: name,
        concurrency: c,
        gatehouse: { rps: median(g.map((x) => x.rps)), p50: median(g.map((x) => x.p50)), p99: median(g.map((x) => x.p99)) },
        oidcProvider: { rps: median(o.map((x) => x.rps)), p50: median(o.map((x) => x.p50)), p99: median(o.map((x) => x.p99)) },
        opaque: q.length ? { rps: median(q.map((x) => x.rps)) } : undefined,
        ratio: median(g.map((x, i) => x.rps / o[i].rps)),
        // CPU time per token, oidc-provider's over Gatehouse's: how many tokens
        // Gatehouse makes with the CPU oidc-provider spends on one.
        cpu: {
          gatehouseUs: median(g.map((x) => x.cpuUs)),
          oidcProviderUs: median(o.map((x) => x.cpuUs)),
          ratio: median(g.map((x, i) => o[i].cpuUs / x.cpuUs)),
        },
      };
      summary.push(row);
      console.log(
        `${name.padEnd(16)} ${String(c).padStart(3)} ${fmt(row.gatehouse.rps).padStart(11)} ${fmt(row.gatehouse.p50, 1).padStart(6)} ` +
          `${fmt(row.gatehouse.p99, 1).padStart(6)} ${fmt(row.oidcProvider.rps).padStart(10)} ${fmt(row.oidcProvider.p50, 1).padStart(6)} ` +
          `${fmt(row.oidcProvider.p99, 1).padStart(6)} ${fmt(row.ratio, 2).padStart(5)}x ${(row.opaque ? fmt(row.opaque.rps) : "").padStart(9)} ` +
          `${fmt(row.cpu.gatehouseUs).padStart(7)} ${fmt(row.cpu.oidcProviderUs).padStart(6)} ${fmt(row.cpu.ratio, 2).padStart(5)}x`,
      );
    }
  }
  for (const c of LEVELS) {
    const f = pick("floor", c, "floor");
    const row = { case: "floor", concurrency: c, floor: { rps: median(f.map((x) => x.rps)), p50: median(f.map((x) => x.p50)), p99: median(f.map((x) => x.p99)) } };
    summary.push(row);
    console.log(`${"serving floor".padEnd(16)} ${String(c).padStart(3)} ${fmt(row.floor.rps).padStart(11)} ${fmt(row.floor.p50, 1).padStart(6)} ${fmt(row.floor.p99, 1).padStart(6)}`);
  }
  console.log("\ntargets (printed, not asserted):");
  for (const row of summary.filter((x) => x.case !== "floor")) {
    const checks = [
      `throughput ≥ 1.5× oidc-provider JWT: ${row.ratio >= 1.5 ? "met" : "not met"} (${fmt(row.ratio, 2)}×; ` +
        `oidc-provider's CPU per token ${fmt(row.cpu.ratio, 2)}× Gatehouse's)`,
    ];
    if (row.concurrency >= 64) {
      checks.push(`p99 < 50 ms: ${row.gatehouse.p99 < 50 ? "met" : "not met"} (${fmt(row.gatehouse.p99, 1)} ms)`);
      if (row.case !== "bootstrap") {
        const tail = row.gatehouse.p99 / row.gatehouse.p50;
        checks.push(`p99 ≤ 2× p50: ${tail <= 2 ? "met" : "not met"} (${fmt(tail, 2)}×)`);
      }
    }
    console.log(`  ${row.case} C=${row.concurrency}: ${checks.join("; ")}`);
  }

  await fs.mkdir(path.dirname(path.resolve(opts.json)), { recursive: true });
  await fs.writeFile(
    opts.json,
    JSON.stringify(
      {
        benchmark: "issuer client_credentials",
        machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.versions.node },
        settings: { rounds: ROUNDS, seconds: SECONDS, warmup: WARMUP, concurrency: LEVELS, cases: CASES },
        runs: results,
        summary,
      },
      null,
      2,
    ),
  );
  console.log(`\nresults written to ${path.relative(process.cwd(), path.resolve(opts.json))}`);
} finally {
  for (const stop of stops.reverse()) await stop().catch(() => {});
}
