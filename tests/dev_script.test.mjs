// The README's first command: `scripts/dev` serves the issuer with `wrangler dev`,
// passes extra arguments through, and without admin credentials generates a dev
// pair (kept in .wrangler/dev.env) and prints it.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { ROOT, basicAuth, freePort, wranglerEnv } from "./harness.mjs";

fs.mkdirSync(path.join(ROOT, ".wrangler"), { recursive: true });

async function startDev(args) {
  const child = spawn(path.join(ROOT, "scripts", "dev"), args, {
    cwd: ROOT,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: wranglerEnv(),
  });
  let output = "";
  child.stdout.setEncoding("utf8").on("data", (c) => (output += c));
  child.stderr.setEncoding("utf8").on("data", (c) => (output += c));
  const stop = async () => {
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {
      /* gone */
    }
    await sleep(500);
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {
      /* gone */
    }
  };
  return { child, stop, output: () => output };
}

async function tokenStatus(url, id, secret) {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${url}/token`, {
        method: "POST",
        headers: { authorization: basicAuth(id, secret), "content-type": "application/x-www-form-urlencoded" },
        body: "grant_type=client_credentials",
        signal: AbortSignal.timeout(3000),
      });
      const body = await res.json();
      return { status: res.status, body };
    } catch {
      await sleep(300);
    }
  }
  throw new Error(`no answer from ${url}`);
}

test("extra arguments reach wrangler dev: another port and our own admin pair", async () => {
  const port = await freePort();
  const persist = fs.mkdtempSync(path.join(ROOT, ".wrangler", "dev-test-"));
  const dev = await startDev(["--port", String(port), "--persist-to", persist, "--var", "ADMIN_CLIENT_ID:e2e-own-admin", "--var", "ADMIN_CLIENT_SECRET:e2e-own-secret-0123456789"]);
  try {
    const { status, body } = await tokenStatus(`http://127.0.0.1:${port}`, "e2e-own-admin", "e2e-own-secret-0123456789");
    assert.equal(status, 200, dev.output());
    assert.equal(body.token_type, "Bearer");
    assert.doesNotMatch(dev.output(), /ADMIN_CLIENT_SECRET=/, "our own pair is not replaced or printed");
  } finally {
    await dev.stop();
    fs.rmSync(persist, { recursive: true, force: true });
  }
});

test("without admin credentials a dev pair is generated, printed and works", async () => {
  const port = await freePort();
  const persist = fs.mkdtempSync(path.join(ROOT, ".wrangler", "dev-test-"));
  const dev = await startDev(["--port", String(port), "--persist-to", persist]);
  try {
    const deadline = Date.now() + 60_000;
    while (!/ADMIN_CLIENT_SECRET=\S+/.test(dev.output()) && Date.now() < deadline) await sleep(200);
    const id = dev.output().match(/ADMIN_CLIENT_ID=(\S+)/)?.[1];
    const secret = dev.output().match(/ADMIN_CLIENT_SECRET=(\S+)/)?.[1];
    assert.ok(id && secret, `the pair is printed:\n${dev.output()}`);
    assert.ok(secret.length >= 32, "the generated secret is long");
    const { status, body } = await tokenStatus(`http://127.0.0.1:${port}`, id, secret);
    assert.equal(status, 200, JSON.stringify(body));
    const kept = fs.readFileSync(path.join(ROOT, ".wrangler", "dev.env"), "utf8");
    assert.match(kept, new RegExp(`ADMIN_CLIENT_SECRET=${secret.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
  } finally {
    await dev.stop();
    fs.rmSync(persist, { recursive: true, force: true });
  }
});
