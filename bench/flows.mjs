// Interactive flows benchmark: the authorization code flow of a confidential web
// app (PKCE, `openid offline_access`, HTTP Basic at /token) on the built issuer
// worker beside node-oidc-provider on the same machine. Not a test; run it with
// `scripts/bench flows` (see docs/performance.md).
//
//   node bench/flows.mjs [--rounds 3] [--seconds 10] [--warmup 3] [--concurrency 16]
//                        [--cases code,refresh,roundtrip,sso] [--json target/bench/flows.json]
//                        [--profile] [--top 25]
//
// Cases, each as operations per second with C in flight:
//   code       code redemptions at /token. The codes are minted before the run,
//              outside the measured window, through single sign-on (one login, then
//              one authorization request per code with that session), and each is
//              redeemed once. Codes live 60 s on both servers, so the pool is sized
//              from the rates seen so far (a 2 s calibration the first time) and
//              minted within the time that leaves.
//   refresh    refresh token rotations: each of the C workers holds its own family
//              (one login and one redemption before the run) and rotates its token
//              in a loop, always with the newest one.
//   roundtrip  whole sign-ins with a fresh cookie jar each: the authorization
//              request, the login page, the login form posted, (oidc-provider: its
//              consent page and form), the code redeemed. Gatehouse checks the
//              password with Argon2id (m=19 MiB, t=2, about 40 to 60 ms of CPU);
//              oidc-provider's development login checks no password at all, and
//              asks for consent where Gatehouse's first-party app does not.
//   sso        an authorization request with an existing session (no page, no
//              password) and the code redeemed: the closer comparison with a
//              passwordless login.
//
// Gatehouse runs on workerd's own socket (startWorker({direct: true})) with a web
// app created through the management API (first-party, refresh tokens, ES256 ID
// tokens like oidc-provider's client) and one
// user per worker; oidc-provider 9 runs as a child process
// (bench/oidc-provider-flows.mjs) with its stock development interactions, every
// login accepted. Both are driven the same way by this process: node:http over
// keep-alive connections, a small cookie jar, forms read out of the HTML and
// redirects followed by hand. The two alternate within each round, who goes first
// alternating too; the summary is the median over rounds of each figure and of the
// per-round ratio Gatehouse/oidc-provider. Any request that is not answered as the
// flow expects is a failure: it is printed with its request and answer, the run
// goes on, and the benchmark exits with status 1 at the end.
//
// Each run also reads the CPU time the kernel charged each server's processes in
// the measured window (workerd's, or oidc-provider's Node process), per operation.
// `--profile` serves the worker built with its wasm function names
// (`scripts/build --names`) and takes a V8 CPU profile of its isolate through
// workerd's inspector during each Gatehouse window, printed by stage
// (bench/inspector.mjs) after the run.
//
// The platform floor (bench/durable-floor.mjs): for the code, refresh and sso cases, a
// JavaScript worker that makes the same KV reads and Durable Object calls per
// operation as the issuer and nothing else, run at the same concurrency after the
// two servers in each round. What workerd's storage alone costs here bounds what
// any code on it could reach.

import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { ROOT, startWorker, freePort, basicAuth, adminToken, adminFetch } from "../tests/harness.mjs";
import { startDurableFloor } from "./durable-floor.mjs";
import { printProfile, startProfiling, summarize as summarizeProfile } from "./inspector.mjs";
import { cpuMs, load, median, startChild, summarize, workerdPids } from "./load.mjs";

const CASE_NAMES = ["code", "refresh", "roundtrip", "sso"];
const { values: opts } = parseArgs({
  options: {
    rounds: { type: "string", default: "3" },
    seconds: { type: "string", default: "10" },
    warmup: { type: "string", default: "3" },
    concurrency: { type: "string", default: "16" },
    cases: { type: "string", default: CASE_NAMES.join(",") },
    json: { type: "string", default: path.join(ROOT, "target", "bench", "flows.json") },
    profile: { type: "boolean", default: false },
    top: { type: "string", default: "25" },
  },
});
const ROUNDS = Math.min(Math.max(1, Number(opts.rounds)), 10);
const SECONDS = Math.min(Math.max(1, Number(opts.seconds)), 60);
const WARMUP = Math.min(Math.max(0, Number(opts.warmup)), 30);
const LEVELS = opts.concurrency.split(",").map((c) => Math.min(Math.max(1, Number(c)), 256));
const CASES = opts.cases.split(",");
for (const name of CASES) if (!CASE_NAMES.includes(name)) throw new Error(`unknown case ${name}`);
// Codes live 60 s on both servers: the ones minted first must still be good when
// the run reaches them.
const CODE_SECS = 60;
if (CASES.includes("code") && WARMUP + SECONDS > CODE_SECS - 10) {
  throw new Error(`the code case needs --warmup + --seconds under ${CODE_SECS - 10} (codes live ${CODE_SECS} s)`);
}

const REDIRECT_URI = "http://127.0.0.1:9/cb";
// bench/oidc-provider-flows.mjs's client.
const OP_CLIENT_ID = "bench-web";
const OP_CLIENT_SECRET = "bench-secret-0123456789abcdefghijklmnopqrstuvwxyz";
const SCOPE = "openid offline_access";
const PASSWORD = "bench-password-Correct-9";
const MAX_C = Math.max(...LEVELS);
const FORM = "application/x-www-form-urlencoded";
const NOTE =
  "Gatehouse checks a password with Argon2id (m=19 MiB, t=2) on every login; " +
  "oidc-provider's development login checks none, and shows a consent page that Gatehouse's first-party app skips";

// ---------------------------------------------------------------------------
// HTTP: one request over a keep-alive agent, the answer read whole.

function request(agent, url, { method = "GET", headers = {}, body } = {}) {
  return new Promise((resolve) => {
    const req = http.request(url, { method, agent, headers }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", (e) => resolve({ status: 0, headers: {}, text: String(e) }));
    });
    req.on("error", (e) => resolve({ status: 0, headers: {}, text: String(e) }));
    req.end(body);
  });
}

/** A failed step: what was sent and what came back, for the report. */
class FlowError extends Error {
  constructor(step, answer, why) {
    super(`${step}: ${why ?? "unexpected answer"} ${answer ? `-> ${answer.status} ${describe(answer)}` : ""}`.trim());
    this.step = step;
    this.answer = answer && { status: answer.status, location: answer.headers?.location, body: answer.text?.slice(0, 600) };
    this.why = why;
  }
}

function describe(answer) {
  if (answer.headers?.location) return `Location: ${answer.headers.location}`;
  return (answer.text ?? "").replace(/\s+/g, " ").slice(0, 300);
}

// ---------------------------------------------------------------------------
// A cookie jar for one host (name and path; expired cookies dropped).

class Jar {
  constructor() {
    this.cookies = new Map();
  }

  store(answer) {
    for (const line of answer.headers["set-cookie"] ?? []) {
      const [pair, ...attrs] = line.split(";");
      const eq = pair.indexOf("=");
      if (eq < 1) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      let cookiePath = "/";
      let expired = false;
      for (const attr of attrs) {
        const [k, v = ""] = attr.split("=").map((x) => x.trim());
        const key = k.toLowerCase();
        if (key === "path" && v.startsWith("/")) cookiePath = v;
        if (key === "max-age" && Number(v) <= 0) expired = true;
        if (key === "expires" && Date.parse(v) <= Date.now()) expired = true;
      }
      const id = `${name};${cookiePath}`;
      if (expired) this.cookies.delete(id);
      else this.cookies.set(id, { name, value, path: cookiePath });
    }
  }

  header(url) {
    const p = new URL(url).pathname;
    const sent = [];
    for (const c of this.cookies.values()) {
      if (p === c.path || p.startsWith(c.path.endsWith("/") ? c.path : `${c.path}/`)) sent.push(`${c.name}=${c.value}`);
    }
    return sent.length ? sent.join("; ") : undefined;
  }
}

async function jarRequest(agent, jar, url, init = {}) {
  const headers = { ...(init.headers ?? {}) };
  const cookie = jar?.header(url);
  if (cookie) headers.cookie = cookie;
  const answer = await request(agent, url, { ...init, headers });
  jar?.store(answer);
  return answer;
}

// ---------------------------------------------------------------------------
// HTML forms, read with regular expressions (both servers' pages are simple).

const ENTITIES = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", "#39": "'", "#x27": "'", "#x2F": "/", "#x3D": "=" };
const decode = (s) => s.replace(/&(#?[a-z0-9]+);/gi, (m, e) => ENTITIES[e] ?? ENTITIES[e.toLowerCase()] ?? m);

function attributes(inside) {
  const attrs = {};
  for (const m of inside.matchAll(/([^\s"'=<>`/]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g)) {
    const name = m[1].toLowerCase();
    if (!(name in attrs)) attrs[name] = decode(m[2] ?? m[3] ?? m[4] ?? "");
  }
  return attrs;
}

function readForms(html, pageUrl) {
  return [...html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form\s*>/gi)].map((m) => {
    const attrs = attributes(m[1]);
    return {
      action: new URL(attrs.action ?? "", pageUrl).toString(),
      method: (attrs.method ?? "get").toLowerCase(),
      inputs: [...m[2].matchAll(/<input\b([^>]*)>/gi)].map((i) => attributes(i[1])),
      buttons: [...m[2].matchAll(/<button\b([^>]*)>/gi)].map((b) => attributes(b[1])),
    };
  });
}

// ---------------------------------------------------------------------------
// The flow, the same for both servers.

const b64url = (buf) => Buffer.from(buf).toString("base64url");

function pkce() {
  const verifier = b64url(randomBytes(32));
  return { verifier, challenge: b64url(createHash("sha256").update(verifier).digest()) };
}

const isRedirect = (status) => status >= 301 && status <= 308 && status !== 304;

/**
 * Runs one authorization request to its code: follows the issuer's own redirects,
 * fills a login page (with `user`, when one is allowed) and a consent page, and
 * stops at the redirect URI. Counts the requests in `counter.requests`.
 */
async function authorize(server, agent, jar, { user, pages = true, counter }) {
  const { verifier, challenge } = pkce();
  const state = b64url(randomBytes(12));
  const url = new URL(server.authorizationEndpoint);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: server.client.id,
    redirect_uri: REDIRECT_URI,
    scope: SCOPE,
    state,
    nonce: b64url(randomBytes(12)),
    code_challenge: challenge,
    code_challenge_method: "S256",
  }).toString();
  let step = `GET ${url.pathname}${url.search}`;
  let current = url.toString();
  let answer = await jarRequest(agent, jar, current);
  counter.requests++;
  let loggedIn = false;
  let consented = false;
  for (let hop = 0; hop < 12; hop++) {
    if (isRedirect(answer.status)) {
      const location = new URL(answer.headers.location, current).toString();
      if (location.startsWith(`${REDIRECT_URI}?`)) {
        const params = new URL(location).searchParams;
        if (!params.get("code") || params.get("state") !== state) throw new FlowError(step, answer, "no code for this state");
        return { code: params.get("code"), verifier };
      }
      if (new URL(location).origin !== server.origin) throw new FlowError(step, answer, "redirected elsewhere");
      current = location;
      step = `GET ${new URL(location).pathname}`;
      answer = await jarRequest(agent, jar, current);
      counter.requests++;
      continue;
    }
    if (answer.status !== 200 || !/^text\/html/i.test(answer.headers["content-type"] ?? "")) throw new FlowError(step, answer);
    if (!pages) throw new FlowError(step, answer, "a page where single sign-on should have answered with a code");
    const forms = readForms(answer.text, current).filter((f) => f.method === "post");
    const login = forms.find((f) => f.inputs.some((i) => (i.type ?? "").toLowerCase() === "password"));
    const consent = forms.find((f) => f !== login);
    const fields = new URLSearchParams();
    let form;
    if (login && !loggedIn && user) {
      form = login;
      loggedIn = true;
      for (const input of login.inputs) {
        if (!input.name) continue;
        const type = (input.type ?? "text").toLowerCase();
        if (type === "hidden") fields.set(input.name, input.value ?? "");
        else if (type === "password") fields.set(input.name, user.password);
        else if (type === "text" || type === "email") fields.set(input.name, user.username);
      }
    } else if (consent && !login && !consented) {
      form = consent;
      consented = true;
      for (const input of consent.inputs) if (input.name && (input.type ?? "").toLowerCase() === "hidden") fields.set(input.name, input.value ?? "");
      const allow = consent.buttons.find((b) => b.name && /^(allow|accept|yes)$/i.test(b.value ?? ""));
      if (allow) fields.set(allow.name, allow.value);
    } else {
      throw new FlowError(step, answer, loggedIn ? "the login page again" : "a page with no form to fill");
    }
    step = `POST ${new URL(form.action).pathname} (${[...fields.keys()].join(", ")})`;
    current = form.action;
    answer = await jarRequest(agent, jar, current, {
      method: "POST",
      headers: { "content-type": FORM, origin: server.origin },
      body: fields.toString(),
    });
    counter.requests++;
  }
  throw new FlowError(step, answer, "too many hops");
}

function tokenRequest(server, fields) {
  return {
    path: new URL(server.tokenEndpoint).pathname,
    method: "POST",
    headers: { "content-type": FORM, authorization: basicAuth(server.client.id, server.client.secret) },
    body: new URLSearchParams(fields).toString(),
  };
}

const redeemRequest = (server, { code, verifier }) =>
  tokenRequest(server, { grant_type: "authorization_code", code, redirect_uri: REDIRECT_URI, code_verifier: verifier });

/** POST /token; the answer must be 200 with an access token, an ID token (when asked) and a refresh token. */
async function token(server, agent, req, counter, { idToken = true } = {}) {
  const answer = await request(agent, `${server.origin}${req.path}`, req);
  counter.requests++;
  const step = `POST ${req.path} (${new URLSearchParams(req.body).get("grant_type")})`;
  let json;
  try {
    json = JSON.parse(answer.text);
  } catch {
    /* reported below */
  }
  if (answer.status !== 200 || !json?.access_token || !json.refresh_token || (idToken && !json.id_token)) {
    throw new FlowError(step, answer, answer.status === 200 ? "tokens missing" : undefined);
  }
  return json;
}

async function signIn(server, agent, user, counter = { requests: 0 }) {
  const jar = new Jar();
  const grant = await authorize(server, agent, jar, { user, counter });
  const tokens = await token(server, agent, redeemRequest(server, grant), counter);
  return { jar, tokens };
}

// ---------------------------------------------------------------------------
// Closed-loop load of multi-request operations (bench/load.mjs sends single requests).

/**
 * C workers each run `op(worker, agent, counter)` in a loop: a warm-up that is not
 * counted, then the measured window. An op that throws is a failure (its error is
 * kept, the first few in full); `recover(worker, agent)` then puts the worker back
 * in order (a new family, a new session) before it goes on.
 */
async function opLoad({ concurrency, seconds, warmupSeconds, op, recover }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  try {
    const warmUntil = performance.now() + warmupSeconds * 1000;
    const until = warmUntil + seconds * 1000;
    const latencies = [];
    const statuses = {};
    const failures = [];
    let requests = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async (_, worker) => {
        for (;;) {
          const started = performance.now();
          if (started >= until) return;
          const counter = { requests: 0 };
          let outcome = "ok";
          try {
            await op(worker, agent, counter);
          } catch (e) {
            if (!(e instanceof FlowError)) throw e;
            outcome = `${e.step} -> ${e.answer?.status ?? "?"}`;
            if (failures.length < 5) failures.push({ step: e.step, why: e.why, answer: e.answer });
            // A worker that cannot be put back in order fails again on its next op.
            if (recover) await recover(worker, agent).catch(() => {});
          }
          if (started < warmUntil) continue;
          latencies.push(performance.now() - started);
          requests += counter.requests;
          statuses[outcome] = (statuses[outcome] ?? 0) + 1;
        }
      }),
    );
    const summary = summarize(latencies, warmUntil);
    const count = summary.count;
    return {
      ...summary,
      failed: count - (statuses.ok ?? 0),
      statuses,
      requestsPerOp: count ? requests / count : NaN,
      ...(failures.length ? { failures } : {}),
    };
  } finally {
    agent.destroy();
  }
}

/** Mints codes through one session's single sign-on, C at a time, until `n` or the deadline. */
async function mintCodes(server, session, n, concurrency, deadline) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const codes = [];
  const failures = [];
  const started = performance.now();
  try {
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (codes.length + failures.length < n && performance.now() < deadline && failures.length < 5) {
          try {
            codes.push(await authorize(server, agent, session, { pages: false, counter: { requests: 0 } }));
          } catch (e) {
            if (!(e instanceof FlowError)) throw e;
            failures.push({ step: e.step, why: e.why, answer: e.answer, after: codes.length, ms: Math.round(performance.now() - started) });
          }
        }
      }),
    );
  } finally {
    agent.destroy();
  }
  return { codes, failures };
}

/** A code run that never started: minting failed (the failures say how). */
const mintFailed = (codes, failures) => ({
  rps: NaN,
  p50: NaN,
  p99: NaN,
  max: NaN,
  count: 0,
  failed: failures.length,
  statuses: { "minting a code failed": failures.length },
  minted: codes.length,
  failures,
});

/**
 * Runs `run()` (a load whose measured window starts after `warmupSeconds`) and adds
 * what the server's processes spent in that window per operation (`cpuUs`), and
 * with `--profile` the V8 profile of Gatehouse's isolate over it (`profile`).
 */
async function measured(server, warmupSeconds, run) {
  let cpuStart = null;
  let stopProfiling = null;
  const begin = setTimeout(async () => {
    cpuStart = cpuMs(server.pids);
    if (server.inspectorPort) stopProfiling = await startProfiling(server.inspectorPort);
  }, warmupSeconds * 1000);
  try {
    const r = await run();
    const cpu = cpuStart === null ? NaN : cpuMs(server.pids) - cpuStart;
    const profile = stopProfiling ? await stopProfiling() : undefined;
    return { ...r, cpuUs: (cpu / r.count) * 1000, ...(profile ? { profile } : {}) };
  } finally {
    clearTimeout(begin);
  }
}

// ---------------------------------------------------------------------------
// The two servers.

async function startOidcProvider() {
  const port = await freePort();
  const peer = await startChild(path.join(ROOT, "bench", "oidc-provider-flows.mjs"), [String(port), REDIRECT_URI]);
  return { ...peer, client: { id: OP_CLIENT_ID, secret: OP_CLIENT_SECRET } };
}

async function setUpGatehouse(url) {
  const admin = await adminToken(url);
  const call = async (p, body) => {
    const r = await adminFetch(url, admin, "POST", p, { body });
    if (r.status !== 201) throw new Error(`POST ${p} ${JSON.stringify(body)}: ${r.status} ${r.text}`);
    return r.json;
  };
  const app = await call("/admin/v1/apps", {
    client_name: "bench_flows",
    type: "web",
    redirect_uris: [REDIRECT_URI],
    refresh_tokens: true,
    first_party: true,
    // ES256 ID tokens, as oidc-provider's client has (the default is RS256).
    id_token_signed_response_alg: "ES256",
  });
  const users = [];
  for (let i = 0; i < MAX_C + 1; i++) {
    const username = `bench_user_${i}`;
    await call("/admin/v1/users", { username, password: PASSWORD, email: `${username}@example.com` });
    users.push({ username, password: PASSWORD });
  }
  return { client: { id: app.client_id, secret: app.client_secret }, users };
}

async function discover(name, base, client, users) {
  const r = await fetch(`${base}/.well-known/openid-configuration`);
  if (r.status !== 200) throw new Error(`${name} discovery: ${r.status}`);
  const meta = await r.json();
  return {
    name,
    origin: new URL(base).origin,
    authorizationEndpoint: meta.authorization_endpoint,
    tokenEndpoint: meta.token_endpoint,
    client,
    users,
  };
}

// ---------------------------------------------------------------------------
// The cases: each prepares what it needs (outside the window) and runs.

const fmt = (x, digits = 0) => (Number.isFinite(x) ? x.toFixed(digits) : "-");
const seenRps = new Map();

async function runCase(name, server, c) {
  const key = `${name}/${c}/${server.name}`;
  const setupAgent = new http.Agent({ keepAlive: true, maxSockets: c });
  try {
    if (name === "code") {
      const { jar } = await signIn(server, setupAgent, server.users[MAX_C]);
      const redeem = async (codes, seconds, warmupSeconds) => {
        let next = 0;
        const r = await load({
          base: server.origin,
          next: () => (next < codes.length ? redeemRequest(server, codes[next++]) : null),
          concurrency: c,
          seconds,
          warmupSeconds,
        });
        return r;
      };
      let margin = 2;
      if (!seenRps.has(key)) {
        // The first time: the rate from the codes minted in 2 s, to size the pool.
        const { codes, failures } = await mintCodes(server, jar, 60_000, c, performance.now() + 2000);
        if (failures.length) return mintFailed(codes, failures);
        const r = await redeem(codes, 30, 0);
        if (r.failed) return { ...r, minted: codes.length, calibration: true };
        seenRps.set(key, r.rps);
        margin = 2.5;
      }
      // Enough codes for the warm-up and the window at twice the fastest rate seen
      // (rates move a lot from run to run on a busy machine), minted no longer than
      // the codes' lifetime allows. Should they run out, the window ends early and
      // the run says so.
      const wanted = Math.min(Math.ceil(margin * seenRps.get(key) * (WARMUP + SECONDS)) + 4 * c, 60_000);
      const minting = performance.now();
      const { codes, failures } = await mintCodes(server, jar, wanted, c, minting + (CODE_SECS - 5 - WARMUP - SECONDS) * 1000);
      if (failures.length) return mintFailed(codes, failures);
      const mintSeconds = (performance.now() - minting) / 1000;
      const r = await measured(server, WARMUP, () => redeem(codes, SECONDS, WARMUP));
      return { ...r, minted: codes.length, mintSeconds, requestsPerOp: 1 };
    }
    if (name === "refresh") {
      const refreshTokens = [];
      const family = async (worker, agent) => {
        refreshTokens[worker] = (await signIn(server, agent, server.users[worker])).tokens.refresh_token;
      };
      await Promise.all(Array.from({ length: c }, (_, w) => family(w, setupAgent)));
      return await measured(server, WARMUP, () => opLoad({
        concurrency: c,
        seconds: SECONDS,
        warmupSeconds: WARMUP,
        op: async (worker, agent, counter) => {
          const req = tokenRequest(server, { grant_type: "refresh_token", refresh_token: refreshTokens[worker] });
          const tokens = await token(server, agent, req, counter, { idToken: false });
          if (tokens.refresh_token === refreshTokens[worker]) throw new FlowError(`POST ${req.path} (refresh_token)`, undefined, "not rotated");
          refreshTokens[worker] = tokens.refresh_token;
        },
        recover: family,
      }));
    }
    if (name === "roundtrip") {
      return await measured(server, WARMUP, () => opLoad({
        concurrency: c,
        seconds: SECONDS,
        warmupSeconds: WARMUP,
        op: (worker, agent, counter) => signIn(server, agent, server.users[worker], counter),
      }));
    }
    if (name === "sso") {
      const sessions = [];
      const session = async (worker, agent) => {
        sessions[worker] = (await signIn(server, agent, server.users[worker])).jar;
      };
      await Promise.all(Array.from({ length: c }, (_, w) => session(w, setupAgent)));
      return await measured(server, WARMUP, () => opLoad({
        concurrency: c,
        seconds: SECONDS,
        warmupSeconds: WARMUP,
        op: async (worker, agent, counter) => {
          const grant = await authorize(server, agent, sessions[worker], { pages: false, counter });
          await token(server, agent, redeemRequest(server, grant), counter);
        },
        recover: session,
      }));
    }
    throw new Error(`unknown case ${name}`);
  } finally {
    setupAgent.destroy();
  }
}

// ---------------------------------------------------------------------------

const stops = [];
const results = [];
let failedRuns = 0;
try {
  const inspectorPort = opts.profile ? await freePort() : undefined;
  const worker = await startWorker({
    direct: true,
    ...(opts.profile ? { scriptPath: path.join(ROOT, "crates/worker/build-names/index.js"), inspectorPort } : {}),
  });
  stops.push(() => worker.stop());
  const peer = await startOidcProvider();
  stops.push(peer.stop);
  const gh = await setUpGatehouse(worker.url);
  const opUsers = Array.from({ length: MAX_C + 1 }, (_, i) => ({ username: `bench_user_${i}`, password: "any-password" }));
  const servers = [
    { ...(await discover("gatehouse", worker.url, gh.client, gh.users)), pids: workerdPids(), inspectorPort },
    { ...(await discover("oidc-provider", peer.url, peer.client, opUsers)), pids: [peer.pid] },
  ];
  const before = new Set(workerdPids());
  const floor = await startDurableFloor();
  stops.push(floor.stop);
  const floorPids = workerdPids().filter((pid) => !before.has(pid));
  await floor.setUp(MAX_C);
  // Profiles of Gatehouse's isolate, summed over rounds by case and concurrency.
  const profiles = new Map();

  // Each server's flow, once, before anything is measured: a broken setup fails here.
  for (const server of servers) {
    const agent = new http.Agent({ keepAlive: true });
    try {
      const counter = { requests: 0 };
      await signIn(server, agent, server.users[0], counter);
      console.log(`${server.name}: a sign-in takes ${counter.requests} requests (authorization request to tokens)`);
    } finally {
      agent.destroy();
    }
  }

  console.log(
    `interactive flows benchmark: ${CASES.join(", ")}; ${ROUNDS} rounds, ${WARMUP} s warm-up + ${SECONDS} s per run, ` +
      `C = ${LEVELS.join(", ")}; ${os.cpus().length} CPUs, Node ${process.versions.node}`,
  );
  console.log(`note: ${NOTE}`);
  for (let round = 0; round < ROUNDS; round++) {
    for (const name of CASES) {
      for (const c of LEVELS) {
        const order = round % 2 ? [...servers].reverse() : servers;
        const line = [];
        for (const server of order) {
          const { profile, ...r } = await runCase(name, server, c);
          if (profile) {
            const key = `${name} C=${c}`;
            const sum = profiles.get(key) ?? { functions: new Map(), stages: new Map(), total: 0, count: 0 };
            const one = summarizeProfile(profile);
            for (const [part, ms] of [...one.functions].map(([f, ms]) => [["functions", f], ms]).concat([...one.stages].map(([st, ms]) => [["stages", st], ms]))) {
              sum[part[0]].set(part[1], (sum[part[0]].get(part[1]) ?? 0) + ms);
            }
            sum.total += one.total;
            sum.count += r.count;
            profiles.set(key, sum);
          }
          // The fastest run so far sizes the next pool of codes.
          const seen = `${name}/${c}/${server.name}`;
          if (Number.isFinite(r.rps) && r.count) seenRps.set(seen, Math.max(r.rps, seenRps.get(seen) ?? 0));
          results.push({ round: round + 1, case: name, concurrency: c, server: server.name, ...r });
          let extra = "";
          if (r.failed || !r.count) {
            failedRuns++;
            extra = ` FAILED ${r.failed} of ${r.count}: ${JSON.stringify(r.statuses)}`;
            for (const f of (r.failures ?? []).slice(0, 3)) console.log(`  ${server.name} ${name}: ${f.step}: ${f.why ?? "unexpected answer"} -> ${JSON.stringify(f.answer)}`);
          }
          if (r.exhausted) extra += ` (the ${r.minted} codes ran out ${r.count ? "before the window ended" : "during the warm-up"})`;
          line.push(`${server.name} ${fmt(r.rps)}/s p50 ${fmt(r.p50, 1)} p99 ${fmt(r.p99, 1)} ms cpu ${fmt(r.cpuUs)} µs${extra}`);
        }
        if (floor.cases.includes(name)) {
          let n = 0;
          // As many codes as Gatehouse had, minted the same way before the window.
          const minted = results.findLast((x) => x.case === name && x.concurrency === c && x.server === "gatehouse")?.minted;
          const codes = name === "code" ? await floor.mint(minted ?? 0, c) : [];
          const r = await load({
            base: floor.url,
            next: () =>
              name !== "code"
                ? { path: `/${name}?w=${n++ % c}`, method: "GET" }
                : n < codes.length
                  ? { path: `/code?w=${n % c}&code=${codes[n++]}`, method: "GET" }
                  : null,
            concurrency: c,
            seconds: SECONDS,
            warmupSeconds: WARMUP,
            pids: floorPids,
          });
          results.push({ round: round + 1, case: name, concurrency: c, server: "floor", ...r });
          if (r.failed) {
            failedRuns++;
            console.log(`  platform floor ${name}: FAILED ${r.failed} of ${r.count}: ${JSON.stringify(r.statuses)}`);
          }
          line.push(`platform floor ${fmt(r.rps)}/s cpu ${fmt(r.cpuUs)} µs`);
        }
        const g = results.findLast((x) => x.case === name && x.concurrency === c && x.server === "gatehouse");
        const o = results.findLast((x) => x.case === name && x.concurrency === c && x.server === "oidc-provider");
        console.log(`round ${round + 1} ${name.padEnd(9)} C=${String(c).padEnd(3)} ${line.join(" | ")} | ratio ${fmt(g.rps / o.rps, 2)}`);
      }
    }
  }

  const pick = (name, c, server) => results.filter((x) => x.case === name && x.concurrency === c && x.server === server);
  const stats = (runs) => ({
    rps: median(runs.map((x) => x.rps)),
    p50: median(runs.map((x) => x.p50)),
    p99: median(runs.map((x) => x.p99)),
    requestsPerOp: median(runs.map((x) => x.requestsPerOp)),
    cpuUs: median(runs.map((x) => x.cpuUs)),
  });
  const summary = [];
  console.log(
    `\n${"case".padEnd(10)} ${"C".padStart(3)} ${"gatehouse/s".padStart(11)} ${"p50".padStart(6)} ${"p99".padStart(6)} ` +
      `${"oidc-provider/s".padStart(15)} ${"p50".padStart(6)} ${"p99".padStart(6)} ${"ratio".padStart(6)}  CPU µs per op, gatehouse / oidc-provider / platform floor`,
  );
  for (const name of CASES) {
    for (const c of LEVELS) {
      const g = pick(name, c, "gatehouse");
      const o = pick(name, c, "oidc-provider");
      const f = pick(name, c, "floor");
      const row = {
        case: name,
        concurrency: c,
        gatehouse: stats(g),
        oidcProvider: stats(o),
        ...(f.length ? { floor: { rps: median(f.map((x) => x.rps)), cpuUs: median(f.map((x) => x.cpuUs)) } } : {}),
        ratio: median(g.map((x, i) => x.rps / o[i].rps)),
        ...(name === "roundtrip" ? { note: NOTE } : {}),
      };
      summary.push(row);
      console.log(
        `${name.padEnd(10)} ${String(c).padStart(3)} ${fmt(row.gatehouse.rps).padStart(11)} ${fmt(row.gatehouse.p50, 1).padStart(6)} ` +
          `${fmt(row.gatehouse.p99, 1).padStart(6)} ${fmt(row.oidcProvider.rps).padStart(15)} ${fmt(row.oidcProvider.p50, 1).padStart(6)} ` +
          `${fmt(row.oidcProvider.p99, 1).padStart(6)} ${fmt(row.ratio, 2).padStart(5)}x  ${fmt(row.gatehouse.cpuUs)} / ${fmt(row.oidcProvider.cpuUs)} / ${fmt(row.floor?.cpuUs)}` +
          `${name === "roundtrip" ? "  (see the note)" : ""}`,
      );
    }
  }
  console.log(
    "\ncode: redemptions/s (codes minted before the window); refresh: rotations/s; " +
      "roundtrip: sign-ins/s with a fresh cookie jar each; sso: authorization with a session + redemption/s",
  );
  console.log(`roundtrip: ${NOTE}.`);
  for (const [key, sum] of profiles) {
    console.log(`\nprofile of Gatehouse's isolate, ${key}: ${sum.count} operations, ${((sum.total / sum.count) * 1000).toFixed(0)} µs of isolate CPU each`);
    printProfile(sum, sum.count, "op", Number(opts.top));
  }

  await fs.mkdir(path.dirname(path.resolve(opts.json)), { recursive: true });
  await fs.writeFile(
    opts.json,
    JSON.stringify(
      {
        benchmark: "interactive flows",
        machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.versions.node },
        settings: { rounds: ROUNDS, seconds: SECONDS, warmup: WARMUP, concurrency: LEVELS, cases: CASES },
        note: NOTE,
        runs: results,
        summary,
      },
      null,
      2,
    ),
  );
  console.log(`\nresults written to ${path.relative(process.cwd(), path.resolve(opts.json))}`);
  if (failedRuns) {
    console.error(`${failedRuns} runs had failures (printed above)`);
    process.exitCode = 1;
  }
} finally {
  for (const stop of stops.reverse()) await stop().catch(() => {});
}
