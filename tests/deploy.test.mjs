// `wrangler deploy --dry-run` bundles the worker offline, with its bindings.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, test } from "node:test";
import { ROOT, readWranglerConfig, removeDir, tempDir, wranglerEnv } from "./harness.mjs";

let outdir;
after(async () => {
  await removeDir(outdir);
});

function run(cmd, args, opts) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...opts, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (d) => (out += d));
    child.stderr.setEncoding("utf8").on("data", (d) => (out += d));
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, out }));
  });
}

test("wrangler deploy --dry-run succeeds offline and writes the bundle", { timeout: 90_000 }, async () => {
  outdir = await tempDir("gatehouse-e2e-dryrun-");
  const wrangler = path.join(ROOT, "node_modules", "wrangler", "bin", "wrangler.js");
  const { code, signal, out } = await run(process.execPath, [wrangler, "deploy", "--dry-run", "--outdir", outdir], {
    cwd: ROOT,
    env: wranglerEnv({ WRANGLER_LOG: "log" }),
  });
  assert.equal(code, 0, `wrangler deploy --dry-run exited ${code ?? signal}\n${out.slice(-6000)}`);
  assert.match(out, /--dry-run: exiting now/i, out.slice(-3000));

  // the bindings the worker needs are declared
  for (const binding of ["DIRECTORY", "VAULT"]) {
    assert.match(out, new RegExp(`\\b${binding}\\b`), `dry-run output does not list binding ${binding}`);
  }

  const files = fs.readdirSync(outdir, { recursive: true }).map(String);
  const entry = path.basename(readWranglerConfig().main);
  assert.ok(files.includes(entry) || files.some((f) => /\.m?js$/.test(f)), `no JS entry in ${files}`);
  const wasm = files.filter((f) => f.endsWith(".wasm"));
  assert.ok(wasm.length >= 1, `no .wasm module in the bundle: ${files}`);
  for (const f of wasm) {
    const head = fs.readFileSync(path.join(outdir, f)).subarray(0, 4);
    assert.deepEqual([...head], [0x00, 0x61, 0x73, 0x6d], `${f} is a wasm module`);
  }
});
