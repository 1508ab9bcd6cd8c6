// Gateway benchmark: the Gatehouse gateway against jose (jwtVerify +
// createRemoteJWKSet) in the same workerd, on tokens from the real issuer worker,
// and against the limits of what any gateway can do. Not a timed test; run it with
// `scripts/bench gateway` (see docs/gateway.md).
//
//   in-worker  each gateway's handler called N times inside workerd (origin answered
//              in-process), timed from outside around one request: the finest ratio
//   http       requests per second, C at a time, each worker on its own workerd
//              socket (no Miniflare entry worker in front, as in production), to an
//              origin worker on 127.0.0.1
//
// "fresh": every request carries a token that gateway has never seen (a signature
// check each time). "hot": the same token every time. The limits: for hot, a
// pass-through worker that forwards without checking (bench/pass-through.mjs); for
// fresh, a bare crypto.subtle.verify loop over the same tokens (bench/bare-verify.mjs).

import { Miniflare, Log, LogLevel, supportedCompatibilityDate } from "miniflare";
import { build } from "esbuild";
import os from "node:os";
import path from "node:path";
import fs from "node:fs/promises";
import { parseArgs } from "node:util";
import {
  ROOT,
  startWorker,
  freePort,
  basicAuth,
  postToken,
  ADMIN_CLIENT_ID,
  ADMIN_CLIENT_SECRET,
  readWranglerConfig,
} from "../tests/harness.mjs";
import { load } from "./load.mjs";

const { values: opts } = parseArgs({
  options: {
    batch: { type: "string", default: "200" },
    requests: { type: "string", default: "300" },
    concurrency: { type: "string", default: "8" },
    rounds: { type: "string", default: "8" },
  },
});
const N = Math.min(Number(opts.batch), 2000);
const M = Math.min(Number(opts.requests), 5000);
const C = Math.min(Number(opts.concurrency), 64);
const ROUNDS = Math.min(Number(opts.rounds), 20);
const WARMUP = 3000;
const SCOPE = "gatehouse:apps_read";
const PATH = "/api/orders";

const cfg = readWranglerConfig();
const compatibilityDate =
  cfg.compatibilityDate > supportedCompatibilityDate ? supportedCompatibilityDate : cfg.compatibilityDate;

async function serve(name, options) {
  const port = await freePort();
  const direct = await freePort();
  const mf = new Miniflare({
    name,
    host: "127.0.0.1",
    port,
    unsafeDirectSockets: [{ host: "127.0.0.1", port: direct }],
    cf: false,
    log: new Log(LogLevel.WARN),
    modules: true,
    compatibilityDate,
    compatibilityFlags: cfg.compatibilityFlags,
    ...options,
  });
  await mf.ready;
  return { url: `http://127.0.0.1:${direct}`, stop: () => mf.dispose() };
}

async function mintTokens(issuer, count) {
  const tokens = [];
  const auth = basicAuth(ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET);
  const body = () => new URLSearchParams({ grant_type: "client_credentials", scope: SCOPE });
  const worker = async () => {
    while (tokens.length < count) {
      const res = await postToken(issuer, body(), { authorization: auth });
      if (res.status !== 200) throw new Error(`token endpoint: ${res.status} ${res.text}`);
      tokens.push(res.json.access_token);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return tokens.slice(0, count);
}

async function inWorker(base, tokens, expect = 200) {
  const started = performance.now();
  const res = await fetch(`${base}/__bench`, {
    method: "POST",
    body: JSON.stringify({ tokens, path: PATH }),
  });
  const out = await res.json();
  const secs = (performance.now() - started) / 1000;
  if ((out.statuses[expect] ?? 0) !== tokens.length) throw new Error(`${base}: ${JSON.stringify(out.statuses)}`);
  return tokens.length / secs;
}

async function overHttp(base, tokens) {
  let next = 0;
  const r = await load({
    base,
    concurrency: C,
    seconds: 60,
    next: () => (next < tokens.length ? { path: PATH, method: "GET", headers: { authorization: `Bearer ${tokens[next++]}` } } : null),
  });
  if (r.failed) throw new Error(`${base}: ${r.failed} requests refused ${JSON.stringify(r.statuses)}`);
  return r.rps;
}

const tmp = await fs.mkdtemp(path.join(os.tmpdir(), "gatehouse-bench-"));
const stops = [];
try {
  const issuer = await startWorker({ direct: true });
  stops.push(() => issuer.stop());
  const origin = await serve("origin", {
    script: 'export default { fetch() { return new Response("ok") } }',
  });
  stops.push(origin.stop);

  await build({
    entryPoints: [path.join(ROOT, "bench", "jose-gateway.mjs")],
    bundle: true,
    format: "esm",
    platform: "neutral",
    conditions: ["workerd", "worker", "browser"],
    mainFields: ["module", "main"],
    outfile: path.join(tmp, "jose-gateway.mjs"),
    logLevel: "error",
  });
  const wasmRules = [
    { type: "ESModule", include: ["**/*.js", "**/*.mjs"] },
    { type: "CompiledWasm", include: ["**/*.wasm"] },
  ];
  // The bootstrap client's tokens are for the management API, the built-in
  // resource: both gateways require that audience.
  const audience = `${issuer.url}/admin/v1`;
  const config = `issuer = "${issuer.url}"\norigin = "${origin.url}"\naudience = "${audience}"\n[[routes]]\nprefix = "/api/"\nscopes = ["${SCOPE}"]\n`;
  const gatehouse = await serve("gatehouse-gateway", {
    scriptPath: path.join(ROOT, "bench", "gatehouse-gateway.mjs"),
    modulesRoot: ROOT,
    modulesRules: wasmRules,
    bindings: { GATEWAY_CONFIG: config, ORIGIN: origin.url },
  });
  stops.push(gatehouse.stop);
  const jose = await serve("jose-gateway", {
    scriptPath: path.join(tmp, "jose-gateway.mjs"),
    modulesRoot: tmp,
    modulesRules: wasmRules,
    bindings: { ISSUER: issuer.url, AUDIENCE: audience, ORIGIN: origin.url, SCOPE },
  });
  stops.push(jose.stop);
  const passThrough = await serve("pass-through", {
    scriptPath: path.join(ROOT, "bench", "pass-through.mjs"),
    modulesRoot: ROOT,
    modulesRules: wasmRules,
    bindings: { ORIGIN: origin.url },
  });
  stops.push(passThrough.stop);
  const bareVerify = await serve("bare-verify", {
    scriptPath: path.join(ROOT, "bench", "bare-verify.mjs"),
    modulesRoot: ROOT,
    modulesRules: wasmRules,
    bindings: { ISSUER: issuer.url },
  });
  stops.push(bareVerify.stop);

  const perRound = 2 * N + 2 * M;
  console.error(`minting ${ROUNDS * perRound + 2} tokens from the issuer...`);
  const all = await mintTokens(issuer.url, ROUNDS * perRound + 2);
  const hot = all.pop();
  const warm = all.pop();
  // Warm-up: wasm and JS both start in a baseline tier and are optimised once hot.
  // Tokens with a corrupted signature take the whole verification path (and are
  // never cached), so they warm it without spending issuer tokens.
  const [h, p, sig] = warm.split(".");
  const corrupt = Array.from({ length: WARMUP }, (_, i) => {
    const c = sig.slice(0, 8) + i.toString(36).padStart(6, "A") + sig.slice(14);
    return `${h}.${p}.${c}`;
  });
  for (const gw of [gatehouse, jose]) {
    await inWorker(gw.url, [warm, hot]);
    for (let i = 0; i < WARMUP; i += 500) await inWorker(gw.url, corrupt.slice(i, i + 500), 401);
    for (let i = 0; i < WARMUP; i += 500) await inWorker(gw.url, Array(500).fill(hot));
    await overHttp(gw.url, Array(200).fill(hot));
  }
  for (let i = 0; i < WARMUP; i += 500) await inWorker(passThrough.url, Array(500).fill(hot));
  await overHttp(passThrough.url, Array(200).fill(hot));
  for (let i = 0; i < WARMUP; i += 500) await inWorker(bareVerify.url, all.slice(0, Math.min(500, N)));

  // Rounds interleave the two gateways (alternating who goes first); each figure is
  // the best round, which filters out pauses caused by other work on the machine.
  const samples = { gatehouse: {}, jose: {}, limit: {} };
  const record = (name, key, value) => (samples[name][key] ??= []).push(value);
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 ? [["jose", jose], ["gatehouse", gatehouse]] : [["gatehouse", gatehouse], ["jose", jose]];
    let fresh = [];
    for (const [name, gw] of order) {
      const batch = all.splice(0, N);
      if (name === "gatehouse") fresh = batch;
      record(name, "in-worker fresh", await inWorker(gw.url, batch));
      record(name, "in-worker hot", await inWorker(gw.url, Array(N).fill(hot)));
      record(name, "http fresh", await overHttp(gw.url, all.splice(0, M)));
      record(name, "http hot", await overHttp(gw.url, Array(M).fill(hot)));
    }
    // The limits; the bare loop caches nothing, so it reuses this round's fresh batch.
    record("limit", "in-worker fresh", await inWorker(bareVerify.url, fresh));
    record("limit", "in-worker hot", await inWorker(passThrough.url, Array(N).fill(hot)));
    record("limit", "http hot", await overHttp(passThrough.url, Array(M).fill(hot)));
    console.error(`round ${round + 1}/${ROUNDS} done`);
  }

  const best = (xs) => Math.max(...xs);
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
  // Each round runs everything back to back: the median of the per-round ratios is
  // the figure least moved by other load on the machine.
  const paired = (a, b) => median(a.map((x, i) => x / b[i]));
  const limitName = { "in-worker fresh": "bare verify", "in-worker hot": "pass-through", "http hot": "pass-through" };
  console.log(
    `gateway benchmark, ${ROUNDS} rounds; in-worker: batches of ${N} requests; http: ${M} requests, ${C} at a time`,
  );
  console.log(
    `${"per second".padEnd(16)} ${"gatehouse".padStart(10)} ${"jose".padStart(10)} ${"ratio".padStart(8)} ${"paired".padStart(8)}   ` +
      `${"limit".padStart(10)} ${"".padEnd(12)} ${"gatehouse/limit".padStart(15)}`,
  );
  const ratios = {};
  for (const key of Object.keys(samples.gatehouse)) {
    const g = samples.gatehouse[key];
    const j = samples.jose[key];
    const l = samples.limit[key];
    ratios[key] = { jose: paired(g, j), limit: l ? paired(g, l) : undefined };
    if (process.env.BENCH_VERBOSE) console.log(key, g.map((x) => x.toFixed(0)).join(" "), "|", j.map((x) => x.toFixed(0)).join(" "));
    console.log(
      `${key.padEnd(16)} ${best(g).toFixed(0).padStart(10)} ${best(j).toFixed(0).padStart(10)} ${(best(g) / best(j)).toFixed(2).padStart(7)}x ` +
        `${ratios[key].jose.toFixed(2).padStart(7)}x   ` +
        (l ? `${best(l).toFixed(0).padStart(10)} ${limitName[key].padEnd(12)} ${ratios[key].limit.toFixed(2).padStart(14)}x` : ""),
    );
  }
  const verdict = (ok) => (ok ? "met" : "not met");
  console.log("\ntargets (paired medians; printed, not asserted):");
  const hotRatio = ratios["in-worker hot"];
  const freshRatio = ratios["in-worker fresh"];
  console.log(`  in-worker hot ≥ 5× jose: ${verdict(hotRatio.jose >= 5)} (${hotRatio.jose.toFixed(2)}×)`);
  console.log(`  in-worker hot ≥ 0.8× pass-through: ${verdict(hotRatio.limit >= 0.8)} (${hotRatio.limit.toFixed(2)}×)`);
  console.log(`  in-worker fresh ≥ 0.9× bare verify: ${verdict(freshRatio.limit >= 0.9)} (${freshRatio.limit.toFixed(2)}×)`);
} finally {
  for (const stop of stops.reverse()) await stop().catch(() => {});
  await fs.rm(tmp, { recursive: true, force: true });
}
