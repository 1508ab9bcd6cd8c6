// The store contract suite (crates/core/src/store/contract.rs) run inside workerd
// against the real Workers KV and Durable Object bindings, through the selftest
// build of the worker (scripts/build --selftest; never deployed).

import { test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { ROOT, startWorker } from "./harness.mjs";

const SELFTEST = path.join(ROOT, "crates/worker/build-selftest/index.js");

test("every store implementation keeps the contract", async () => {
  const worker = await startWorker({ scriptPath: SELFTEST });
  try {
    for (let run = 0; run < 2; run++) {
      const response = await fetch(`${worker.url}/__selftest/contract`, { method: "POST" });
      assert.equal(response.status, 200);
      const results = await response.json();
      assert.deepEqual(Object.keys(results).sort(), [
        "counters", "directory", "key_vault", "once_store", "refresh_families", "registry", "sessions",
      ]);
      for (const [check, outcome] of Object.entries(results)) {
        assert.equal(outcome, "ok", `${check} (run ${run + 1}): ${outcome}`);
      }
    }
  } finally {
    await worker.stop();
  }
});

test("the deployable build has no selftest route", async () => {
  const worker = await startWorker();
  try {
    const response = await fetch(`${worker.url}/__selftest/contract`, { method: "POST" });
    assert.equal(response.status, 404);
  } finally {
    await worker.stop();
  }
});
