// The cost of one Argon2id password hash (m = 19 MiB, t = 2, p = 1) inside workerd,
// through the selftest build's `POST /__selftest/argon2?n=N` (never deployed).
// Prints the milliseconds per hash; asserts no timing, only that the route
// measured something and that the hash it made verifies.

import { test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { ROOT, startWorker } from "./harness.mjs";

const SELFTEST = path.join(ROOT, "crates/worker/build-selftest/index.js");
const N = 5;

test("Argon2id cost per hash inside workerd", async (t) => {
  const worker = await startWorker({ scriptPath: SELFTEST });
  try {
    // One warm-up hash: the first request instantiates the wasm module.
    assert.equal((await fetch(`${worker.url}/__selftest/argon2?n=1`, { method: "POST" })).status, 200);
    const started = performance.now();
    const response = await fetch(`${worker.url}/__selftest/argon2?n=${N}`, { method: "POST" });
    const roundTrip = performance.now() - started;
    assert.equal(response.status, 200);
    const result = await response.json();
    assert.equal(result.n, N);
    assert.match(result.hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    assert.equal(result.verifies, true, "the hash verifies");
    assert.equal(result.rejects_wrong, true, "a wrong password does not verify");
    // Date.now() advances across CPU work in local workerd; had it been frozen
    // (as on deployed Workers), the round trip measured here is the fallback.
    const perHash = result.ms_per_hash > 0 ? result.ms_per_hash : roundTrip / N;
    assert.ok(Number.isFinite(perHash) && perHash > 0, `ms per hash: ${perHash}`);
    const line =
      `argon2id m=19456 t=2 p=1: ${perHash.toFixed(1)} ms per hash inside workerd ` +
      `(${N} hashes; Date.now in the worker ${result.ms_per_hash > 0 ? "advanced" : "was frozen"}; ` +
      `round trip from Node ${(roundTrip / N).toFixed(1)} ms per hash)`;
    t.diagnostic(line);

    for (const bad of ["0", "21", "x", ""]) {
      const r = await fetch(`${worker.url}/__selftest/argon2?n=${bad}`, { method: "POST" });
      assert.equal(r.status, 400, `n=${bad}`);
    }
  } finally {
    await worker.stop();
  }
});

test("the deployable build has no argon2 selftest route", async () => {
  const worker = await startWorker();
  try {
    const response = await fetch(`${worker.url}/__selftest/argon2?n=1`, { method: "POST" });
    assert.equal(response.status, 404);
  } finally {
    await worker.stop();
  }
});
