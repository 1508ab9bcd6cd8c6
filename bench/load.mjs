// Closed-loop HTTP load shared by the benchmarks: C requests in flight over
// keep-alive connections (node:http, no client library in the way), a warm-up
// that is not counted, then a measured window. Each request is built by a
// function, so a request can carry something single-use (a client assertion).

import { spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";

/**
 * One request: `{ path, method?, headers?, body? }`, or null when the caller has
 * nothing left to send (the run then ends early and says so).
 * @typedef {{path: string, method?: string, headers?: Record<string,string>, body?: string}} LoadRequest
 */

function send(base, agent, { path, method = "POST", headers = {}, body }) {
  return new Promise((resolve) => {
    const started = performance.now();
    const req = http.request(`${base}${path}`, { method, agent, headers }, (res) => {
      res.resume();
      res.on("end", () => resolve({ status: res.statusCode, ms: performance.now() - started }));
      res.on("error", () => resolve({ status: 0, ms: performance.now() - started }));
    });
    req.on("error", () => resolve({ status: 0, ms: performance.now() - started }));
    req.end(body);
  });
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];
}

/**
 * The figures of a measured window: the latencies (sorted here) of the requests or
 * operations answered after `warmUntil`, and the rate over the time since then.
 */
export function summarize(latencies, warmUntil) {
  const elapsed = (performance.now() - warmUntil) / 1000;
  latencies.sort((a, b) => a - b);
  const count = latencies.length;
  return {
    rps: count / elapsed,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: latencies[count - 1] ?? NaN,
    count,
  };
}

/**
 * Starts a peer server as a child process (`node script ...args`) that prints
 * `ready <url>` once it listens; returns its URL and a `stop` that ends it.
 */
export async function startChild(script, args) {
  const child = spawn(process.execPath, [script, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NODE_ENV: "production" },
  });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (d) => (stderr = (stderr + d).slice(-4000)));
  const url = await new Promise((resolve, reject) => {
    child.stdout.setEncoding("utf8").on("data", (d) => {
      const m = /ready (\S+)/.exec(d);
      if (m) resolve(m[1]);
    });
    child.on("exit", (code) => reject(new Error(`${script} exited (${code}): ${stderr}`)));
  });
  return {
    url,
    pid: child.pid,
    stop: async () => {
      if (child.exitCode !== null) return;
      const gone = new Promise((resolve) => child.on("exit", resolve));
      child.kill("SIGTERM");
      await Promise.race([gone, new Promise((r) => setTimeout(r, 3000))]);
      if (child.exitCode === null) child.kill("SIGKILL");
    },
  };
}

/**
 * Runs `next()`-built requests against `base`, `concurrency` at a time, for
 * `warmupSeconds` (not counted) and then `seconds`.
 * @param {object} o
 * @param {string} o.base
 * @param {() => LoadRequest | null} o.next
 * @param {number} o.concurrency
 * @param {number} o.seconds
 * @param {number} [o.warmupSeconds]
 * @param {number} [o.expect] the status every request should get (200)
 * @param {boolean} [o.timeline] also return `[start ms, latency ms]` of each measured request
 * @returns {Promise<{rps: number, p50: number, p99: number, max: number, count: number, failed: number, statuses: Record<string, number>, exhausted: boolean}>}
 */
export async function load({ base, next, concurrency, seconds, warmupSeconds = 0, expect = 200, timeline = false, pids = [] }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  let cpuStart = null;
  const cpuTimer = setTimeout(() => (cpuStart = cpuMs(pids)), warmupSeconds * 1000);
  try {
    const warmUntil = performance.now() + warmupSeconds * 1000;
    const until = warmUntil + seconds * 1000;
    const latencies = [];
    const events = timeline ? [] : undefined;
    const statuses = {};
    let exhausted = false;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        for (;;) {
          const now = performance.now();
          if (now >= until) return;
          const request = next();
          if (!request) {
            exhausted = true;
            return;
          }
          const { status, ms } = await send(base, agent, request);
          if (now < warmUntil) continue;
          latencies.push(ms);
          events?.push([now - warmUntil, ms]);
          statuses[status] = (statuses[status] ?? 0) + 1;
        }
      }),
    );
    // From the end of the warm-up to the answer of the last request sent in the window.
    const summary = summarize(latencies, warmUntil);
    const cpu = pids.length && cpuStart !== null ? cpuMs(pids) - cpuStart : NaN;
    return {
      ...summary,
      // The servers' CPU time (user + system) per answer in the window, in µs:
      // what the kernel charged them, which other load on the machine hardly moves.
      cpuUs: (cpu / summary.count) * 1000,
      failed: summary.count - (statuses[expect] ?? 0),
      statuses,
      exhausted,
      ...(events ? { timeline: events } : {}),
    };
  } finally {
    clearTimeout(cpuTimer);
    agent.destroy();
  }
}

/** User and system CPU time, in ms, that the processes `pids` have used so far. */
export function cpuMs(pids) {
  let ticks = 0;
  for (const pid of pids) {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    // The fields after the command name, which is in parentheses and may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  // Linux counts in clock ticks of 10 ms (USER_HZ is 100).
  return ticks * 10;
}

/** The workerd processes this process started (Miniflare's), by pid. */
export function workerdPids() {
  const pids = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let stat;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue;
    }
    const command = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    const parent = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    if (command === "workerd" && parent === process.pid) pids.push(Number(entry));
  }
  return pids;
}

/** The median of some numbers (the lower middle one for an even count). */
export function median(xs) {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}
