// The platform's floor for the interactive flows: a JavaScript worker that makes
// the same Workers KV reads and Durable Object calls per operation as the issuer
// does, with a record of the same kind in each, and nothing else: no HTTP parsing
// beyond the path, no crypto, no JSON beyond the records. Served like the issuer
// (workerd's own socket, SQLite-backed objects), it shows what workerd's KV and
// Durable Objects alone cost per operation on this machine; bench/flows.mjs runs it
// beside each case it covers.
//
// Per operation, as the issuer does them (docs/storage.md, "Which objects each flow
// touches"):
//   code     (minted before the window: a new once/code/<digest> instance each, with
//            its record written and its alarm set) the code's instance read and
//            written (the take), KV users/<id>, a new family/rt/<id> instance: read,
//            write, alarm set
//   refresh  KV users/<id>; family/rt/<id>: read and write (the rotation)
//   sso      authorization: session/sso/<sid> read, KV users/<id>, session/totp/<id>
//            read (no factor), a new once/code/<digest> instance: read, write, alarm
//            set; redemption: the code's instance read and write (the take), KV
//            users/<id>, a new family/rt/<id> instance: read, write, alarm set

import { Miniflare, Log, LogLevel } from "miniflare";
import { freePort } from "../tests/harness.mjs";

const SCRIPT = `
const HOUR_MS = 3600 * 1000;
export class Vault {
  constructor(state) {
    this.storage = state.storage;
    this.alarmKnown = false;
  }
  async fetch(request) {
    const { op, key, value } = await request.json();
    const current = await this.storage.get(key);
    if (op === "write") {
      await this.storage.put(key, value);
      if (!this.alarmKnown) {
        if ((await this.storage.getAlarm()) === null) await this.storage.setAlarm(Date.now() + HOUR_MS);
        this.alarmKnown = true;
      }
    }
    return Response.json({ found: current !== undefined, value: current ?? null });
  }
  async alarm() {}
}

async function call(env, name, op, key, value) {
  const stub = env.VAULT.getByName(name);
  const response = await stub.fetch("https://vault/call", { method: "POST", body: JSON.stringify({ op, key, value }) });
  return response.json();
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const w = url.searchParams.get("w") ?? "0";
    const grant = "g".repeat(Number(url.searchParams.get("grant") ?? 600));
    const user = \`users/bench_user_\${w}\`;
    if (url.pathname === "/setup") {
      await env.DIRECTORY.put(user, JSON.stringify({ id: w, username: user, password_hash: "x".repeat(97), enabled: true }));
      await call(env, \`session/sso/\${w}\`, "write", "sso", grant);
      await call(env, \`family/rt/\${w}\`, "write", "rt", grant);
      return new Response("ok");
    }
    if (url.pathname === "/mint") {
      const code = crypto.randomUUID();
      await call(env, \`once/code/\${code}\`, "write", "code", grant);
      return new Response(code);
    }
    if (url.pathname === "/code") {
      const code = url.searchParams.get("code");
      await call(env, \`once/code/\${code}\`, "write", "code", grant);
      await env.DIRECTORY.get(user);
      await call(env, \`family/rt/\${crypto.randomUUID()}\`, "write", "rt", grant);
      return new Response("{}", { headers: { "content-type": "application/json" } });
    }
    if (url.pathname === "/refresh") {
      await env.DIRECTORY.get(user);
      await call(env, \`family/rt/\${w}\`, "read", "rt");
      await call(env, \`family/rt/\${w}\`, "write", "rt", grant);
      return new Response("{}", { headers: { "content-type": "application/json" } });
    }
    if (url.pathname === "/sso") {
      await call(env, \`session/sso/\${w}\`, "read", "sso");
      await env.DIRECTORY.get(user);
      await call(env, \`session/totp/\${w}\`, "read", "totp");
      const code = \`once/code/\${crypto.randomUUID()}\`;
      await call(env, code, "write", "code", grant);
      await call(env, code, "write", "code", grant);
      await env.DIRECTORY.get(user);
      await call(env, \`family/rt/\${crypto.randomUUID()}\`, "write", "rt", grant);
      return new Response("{}", { headers: { "content-type": "application/json" } });
    }
    return new Response("not found", { status: 404 });
  },
};`;

/** Starts the floor worker on its own workerd socket; `cases` are the ones it serves. */
export async function startDurableFloor() {
  const direct = await freePort();
  const mf = new Miniflare({
    name: "durable-floor",
    cf: false,
    host: "127.0.0.1",
    port: await freePort(),
    log: new Log(LogLevel.WARN),
    modules: true,
    script: SCRIPT,
    compatibilityDate: "2025-01-01",
    kvNamespaces: { DIRECTORY: "floor-directory" },
    durableObjects: { VAULT: { className: "Vault", useSQLite: true } },
    unsafeDirectSockets: [{ host: "127.0.0.1", port: direct }],
  });
  await mf.ready;
  const url = `http://127.0.0.1:${direct}`;
  return {
    url,
    cases: ["code", "refresh", "sso"],
    async setUp(workers) {
      for (let w = 0; w < workers; w++) {
        const r = await fetch(`${url}/setup?w=${w}`);
        if (r.status !== 200) throw new Error(`durable floor setup: ${r.status}`);
      }
    },
    /** Mints `n` codes, `concurrency` at a time; answers their names. */
    async mint(n, concurrency) {
      const codes = [];
      let started = 0;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (started < n) {
            started++;
            const r = await fetch(`${url}/mint`);
            if (r.status !== 200) throw new Error(`durable floor mint: ${r.status}`);
            codes.push(await r.text());
          }
        }),
      );
      return codes;
    },
    stop: () => mf.dispose(),
  };
}
