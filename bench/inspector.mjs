// A V8 CPU profile of the issuer's isolate through workerd's inspector, summed by
// protocol stage: shared by bench/profile.mjs (client_credentials) and
// bench/flows.mjs --profile (the interactive flows).

import path from "node:path";
import WebSocket from "ws";

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
  // The interactive flows (bench/flows.mjs --profile).
  ["Durable Object: the object's side", /vault::Vault[^C]|Vault as worker|DurableObject/],
  ["Durable Object: the call to it", /VaultClient/],
  ["password check (Argon2id)", /argon2|Argon2|blake2|Blake2/],
  ["ID token", /id_token|IdToken/],
  ["session and cookie", /session::|Session/],
  ["hosted pages", /pages::/],
];
const GENERIC = [
  ["JSON (serde_json)", /serde_json|serde::/],
  ["allocation and copies", /dlmalloc|alloc::|__rust_alloc|__rust_dealloc|__rust_realloc|memcpy|memmove|memset/],
  ["wasm-bindgen glue", /wasm_bindgen|__wbg|__wbindgen|js_sys|externref/],
  ["other wasm", /wasm-function|::/],
  ["garbage collection", /garbage collector/],
  ["JS runtime and workerd", /./],
];

export class Inspector {
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
export function summarize(profile) {
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


/** Starts sampling every 100 µs; the returned function stops and answers the profile. */
export async function startProfiling(port) {
  const inspector = await Inspector.connect(port);
  await inspector.send("Profiler.enable");
  await inspector.send("Profiler.setSamplingInterval", { interval: 100 });
  await inspector.send("Profiler.start");
  return async () => {
    const { profile } = await inspector.send("Profiler.stop");
    inspector.close();
    return profile;
  };
}

/** Prints the stages and the `top` functions by self time, per operation. */
export function printProfile({ functions, stages, total }, count, unit, top) {
  const perOp = (ms) => ((ms / count) * 1000).toFixed(1).padStart(8);
  console.log(`\n${"stage".padEnd(34)} ${`µs/${unit}`.padStart(8)} ${"share".padStart(6)}`);
  for (const [name, ms] of [...stages].sort((a, b) => b[1] - a[1])) {
    if (ms === 0) continue;
    console.log(`${name.padEnd(34)} ${perOp(ms)} ${((ms / total) * 100).toFixed(1).padStart(5)}%`);
  }
  console.log(`\n${"function (self time)".padEnd(72)} ${`µs/${unit}`.padStart(8)}`);
  for (const [name, ms] of [...functions].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${name.slice(0, 72).padEnd(72)} ${perOp(ms)}`);
  }
}
