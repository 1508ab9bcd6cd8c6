// Failed client authentication is throttled per client and address on the real
// worker: after 10 failures the pair is answered 429 with Retry-After, even with
// the right secret, while another client from the same address is unaffected.
// (Without CF-Connecting-IP from Cloudflare's edge, every request here shares one
// address.)

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { adminFetch, adminToken, basicAuth, postToken, startWorker } from "./harness.mjs";

let worker;
let admin;
before(async () => {
  worker = await startWorker();
  admin = await adminToken(worker.url);
});
after(async () => {
  await worker?.stop();
});

async function s2sApp(name) {
  const r = await adminFetch(worker.url, admin, "POST", "/admin/v1/apps", { body: { client_name: name, type: "s2s" } });
  assert.equal(r.status, 201, r.text);
  return r.json;
}

const grant = (id, secret) =>
  postToken(worker.url, "grant_type=client_credentials", { authorization: basicAuth(id, secret) });

test("repeated failures get 429 with Retry-After; another client is unaffected", async () => {
  const target = await s2sApp("throttled_job");
  const bystander = await s2sApp("bystander_job");
  for (let i = 1; i < 10; i++) {
    const r = await grant(target.client_id, `guess-${i}`);
    assert.equal(r.status, 401, `failure ${i}: ${r.text}`);
  }
  const tenth = await grant(target.client_id, "guess-10");
  assert.equal(tenth.status, 429, tenth.text);
  assert.equal(tenth.json.error, "temporarily_unavailable");
  assert.match(tenth.headers.get("cache-control") ?? "", /no-store/);
  const retryAfter = Number(tenth.headers.get("retry-after"));
  assert.ok(retryAfter > 0 && retryAfter <= 60, `Retry-After ${tenth.headers.get("retry-after")}`);

  // The right secret waits out the penalty too: guessing online is pointless.
  const right = await grant(target.client_id, target.client_secret);
  assert.equal(right.status, 429, right.text);
  assert.ok(Number(right.headers.get("retry-after")) > 0);

  // Another client from the same address gets its token.
  const other = await grant(bystander.client_id, bystander.client_secret);
  assert.equal(other.status, 200, other.text);
  assert.equal(typeof other.json.access_token, "string");
});
