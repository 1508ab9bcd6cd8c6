// Lifecycle hooks on the real worker: a receiver on 127.0.0.1 (a Node http
// server) gets the signed deliveries and checks them as the README tells a
// receiver to (HMAC-SHA256 over "<t>.<body>", constant-time compare, a recent t);
// sign-ins go through the hosted login form with plain fetch; a denying
// before_password_validation hook; before_id_token claims in a verified ID token;
// a slow notification never delays the sign-in; the management API refuses
// private destinations unless the operator allows them.

import assert from "node:assert/strict";
import { createHmac, timingSafeEqual } from "node:crypto";
import http from "node:http";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { createRemoteJWKSet, jwtVerify } from "jose";
import { adminFetch, adminToken, startWorker } from "./harness.mjs";
import {
  alertText,
  authorizationParams,
  createApp,
  createUser,
  loginWithoutBrowser,
  signIn,
} from "./support/flows.mjs";

const CB = "http://127.0.0.1:9/cb";

let worker;
let issuer;
let admin;
let user;
let receiver;
let hookBase;
/** Every request the receiver got: { path, headers, body (raw string) }. */
const received = [];
/** What the receiver answers, by path: { status, json, delayMs }. */
const answers = new Map();

/** The check a receiver makes (README "Verifying a delivery"). */
function verifyDelivery(secret, header, rawBody, toleranceSecs = 300) {
  const parts = Object.fromEntries(header.split(",").map((p) => p.split("=", 2)));
  const t = Number(parts.t);
  if (!Number.isInteger(t) || Math.abs(Date.now() / 1000 - t) > toleranceSecs) return false;
  const expected = createHmac("sha256", secret).update(`${t}.${rawBody}`).digest();
  const given = Buffer.from(parts.v1 ?? "", "hex");
  return given.length === expected.length && timingSafeEqual(given, expected);
}

async function hook(app, body) {
  const r = await adminFetch(worker.url, admin, "POST", `/admin/v1/apps/${app.client_id}/hooks`, { body });
  assert.equal(r.status, 201, r.text);
  return r.json;
}

/** Waits until the receiver holds `count` requests to `path` (notifications come after the response). */
async function deliveriesTo(path, count = 1, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = received.filter((r) => r.path === path);
    if (got.length >= count || Date.now() > deadline) return got;
    await sleep(25);
  }
}

/** The login form posted once with `username` and `password`. */
async function attempt(app, username, password) {
  const { params } = authorizationParams({ client_id: app.client_id, redirect_uri: CB });
  return await loginWithoutBrowser({ issuer, params, username, password });
}

before(async () => {
  receiver = http.createServer((req, res) => {
    let raw = "";
    req.setEncoding("utf8");
    req.on("data", (chunk) => (raw += chunk));
    req.on("end", async () => {
      received.push({ path: req.url, method: req.method, headers: req.headers, body: raw });
      const answer = answers.get(req.url) ?? { status: 200, json: {} };
      if (answer.delayMs) await sleep(answer.delayMs);
      res.writeHead(answer.status, { "content-type": "application/json" });
      res.end(JSON.stringify(answer.json));
    });
  });
  await new Promise((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  hookBase = `http://127.0.0.1:${receiver.address().port}`;
  worker = await startWorker();
  issuer = worker.issuer;
  admin = await adminToken(worker.url);
  user = await createUser(worker.url, admin);
});

after(async () => {
  await worker?.stop();
  await new Promise((resolve) => (receiver ? receiver.close(resolve) : resolve()));
});

describe("notifications", () => {
  test("a sign-in sends identified and login, signed, with the user", async () => {
    const app = await createApp(worker.url, admin, { type: "web", redirect_uris: [CB], first_party: true });
    const identified = await hook(app, { event: "identified", url: `${hookBase}/n/identified` });
    const login = await hook(app, { event: "login", url: `${hookBase}/n/login` });
    assert.match(login.secret, /^[A-Za-z0-9_-]{43,}$/);
    const listed = await adminFetch(worker.url, admin, "GET", `/admin/v1/apps/${app.client_id}/hooks`);
    assert.equal(listed.status, 200);
    assert.ok(!listed.text.includes(login.secret), "the secret is shown once");

    await signIn({ issuer, app, user, redirect_uri: CB });
    const [first] = await deliveriesTo("/n/identified");
    const [second] = await deliveriesTo("/n/login");
    assert.ok(first && second, "both delivered");
    for (const [delivery, created] of [[first, identified], [second, login]]) {
      assert.equal(delivery.method, "POST");
      assert.equal(delivery.headers["content-type"], "application/json");
      assert.ok(verifyDelivery(created.secret, delivery.headers["gatehouse-signature"], delivery.body));
      assert.ok(!verifyDelivery("another secret", delivery.headers["gatehouse-signature"], delivery.body));
      const body = JSON.parse(delivery.body);
      assert.equal(body.id, delivery.headers["gatehouse-delivery"]);
      assert.equal(body.event, delivery.headers["gatehouse-event"]);
      assert.deepEqual(body.app, { client_id: app.client_id, name: app.client_name });
      assert.deepEqual(body.user, { id: user.id, username: user.username, email: user.email });
    }
    const body = JSON.parse(second.body);
    assert.equal(body.event, "login");
    assert.deepEqual(body.amr, ["pwd"]);
    // A tampered body does not verify.
    assert.ok(!verifyDelivery(login.secret, second.headers["gatehouse-signature"], second.body.replace("login", "logon")));
  });

  test("failed sign-ins send identification_failed and authentication_failed", async () => {
    const app = await createApp(worker.url, admin, { type: "web", redirect_uris: [CB], first_party: true });
    const unknown = await hook(app, { event: "identification_failed", url: `${hookBase}/n/unknown` });
    const failed = await hook(app, { event: "authentication_failed", url: `${hookBase}/n/failed` });
    const nobody = await attempt(app, "nobody_here", "whatever-password");
    assert.equal(nobody.page?.kind, "login");
    const wrong = await attempt(app, user.username, "not-the-password");
    assert.equal(wrong.page?.kind, "login");
    const [u] = await deliveriesTo("/n/unknown");
    const [f] = await deliveriesTo("/n/failed");
    assert.ok(verifyDelivery(unknown.secret, u.headers["gatehouse-signature"], u.body));
    assert.ok(verifyDelivery(failed.secret, f.headers["gatehouse-signature"], f.body));
    assert.equal(JSON.parse(u.body).identifier, "nobody_here");
    assert.equal(JSON.parse(f.body).user.id, user.id);
    assert.equal(JSON.parse(f.body).reason, "wrong_password");
  });

  test("a slow receiver never delays the sign-in", async () => {
    const app = await createApp(worker.url, admin, { type: "web", redirect_uris: [CB], first_party: true });
    answers.set("/n/slow", { status: 200, json: {}, delayMs: 3000 });
    await hook(app, { event: "login", url: `${hookBase}/n/slow`, timeout_ms: 5000 });
    const started = Date.now();
    await signIn({ issuer, app, user, redirect_uri: CB });
    const took = Date.now() - started;
    assert.ok(took < 2500, `the sign-in took ${took} ms`);
    assert.equal((await deliveriesTo("/n/slow", 1, 6000)).length, 1, "delivered after the response");
  });
});

describe("blocking hooks", () => {
  test("before_password_validation can refuse, with the same message as a wrong password", async () => {
    const app = await createApp(worker.url, admin, { type: "web", redirect_uris: [CB], first_party: true });
    const gate = await hook(app, { event: "before_password_validation", url: `${hookBase}/b/gate` });
    assert.equal(gate.on_failure, "deny");
    answers.set("/b/gate", { status: 200, json: { allow: false, reason: "outside office hours" } });
    const refused = await attempt(app, user.username, user.password);
    assert.equal(refused.code, undefined);
    assert.equal(refused.page?.kind, "login");
    assert.equal(refused.page.status, 401);
    const wrong = await attempt(app, user.username, "not-the-password");
    assert.equal(alertText(refused.page.html), alertText(wrong.page.html), "reveals nothing");
    const [asked] = await deliveriesTo("/b/gate");
    assert.ok(verifyDelivery(gate.secret, asked.headers["gatehouse-signature"], asked.body));
    assert.equal(JSON.parse(asked.body).user.id, user.id);

    answers.set("/b/gate", { status: 200, json: { allow: true } });
    const allowed = await attempt(app, user.username, user.password);
    assert.ok(allowed.code, JSON.stringify(allowed.steps));
  });

  test("a hook that does not answer in time follows on_failure", async () => {
    const app = await createApp(worker.url, admin, { type: "web", redirect_uris: [CB], first_party: true });
    answers.set("/b/slow", { status: 200, json: { allow: true }, delayMs: 1500 });
    const slow = await hook(app, { event: "before_password_validation", url: `${hookBase}/b/slow`, timeout_ms: 300 });
    const started = Date.now();
    const denied = await attempt(app, user.username, user.password);
    assert.equal(denied.code, undefined, "deny: no code");
    assert.ok(Date.now() - started < 1400, "bounded by the timeout");
    const path = `/admin/v1/apps/${app.client_id}/hooks/${slow.id}`;
    const patched = await adminFetch(worker.url, admin, "PATCH", path, { body: { on_failure: "continue" } });
    assert.equal(patched.status, 200, patched.text);
    const allowed = await attempt(app, user.username, user.password);
    assert.ok(allowed.code, "continue: signed in without the answer");
  });

  test("before_id_token adds claims to the ID token, never protected ones", async () => {
    const app = await createApp(worker.url, admin, { type: "web", redirect_uris: [CB], first_party: true });
    const claims = await hook(app, { event: "before_id_token", url: `${hookBase}/b/claims`, allowed_claims: ["tier", "plan"] });
    answers.set("/b/claims", { status: 200, json: { claims: { tier: "gold", plan: "team", sub: "mallory", nonce: "x", other: 1 } } });
    const { token, params } = await signIn({ issuer, app, user, redirect_uri: CB, scope: "openid email" });
    const jwks = createRemoteJWKSet(new URL(`${issuer}/.well-known/jwks.json`));
    const { payload } = await jwtVerify(token.id_token, jwks, { issuer, audience: app.client_id });
    assert.equal(payload.tier, "gold");
    assert.equal(payload.plan, "team");
    assert.equal(payload.sub, user.id);
    assert.equal(payload.nonce, params.nonce);
    assert.equal(payload.other, undefined, "not in allowed_claims");
    const [asked] = await deliveriesTo("/b/claims");
    assert.ok(verifyDelivery(claims.secret, asked.headers["gatehouse-signature"], asked.body));
    assert.equal(JSON.parse(asked.body).claims.sub, user.id);

    // A failing hook that denies: the code redeems to invalid_grant.
    answers.set("/b/claims", { status: 500, json: {} });
    await assert.rejects(signIn({ issuer, app, user, redirect_uri: CB }), /code redemption: 400 .*invalid_grant/);
  });
});

describe("management", () => {
  test("rotation, limits and problem details", async () => {
    const app = await createApp(worker.url, admin, { type: "web", redirect_uris: [CB] });
    const created = await hook(app, { event: "login", url: `${hookBase}/n/x` });
    const rotated = await adminFetch(worker.url, admin, "POST", `/admin/v1/apps/${app.client_id}/hooks/${created.id}/secret`);
    assert.equal(rotated.status, 200);
    assert.notEqual(rotated.json.secret, created.secret);
    const bad = await adminFetch(worker.url, admin, "POST", `/admin/v1/apps/${app.client_id}/hooks`, {
      body: { event: "login", url: "http://192.168.1.10/hook", on_failure: "deny" },
    });
    assert.equal(bad.status, 400);
    assert.equal(bad.headers.get("content-type"), "application/problem+json");
    assert.deepEqual(bad.json.errors.map((e) => e.pointer), ["/url", "/on_failure"]);
  });

  test("without INSECURE_ALLOW_PRIVATE_FETCH a hook must be public https", async () => {
    const strict = await startWorker({ vars: { INSECURE_ALLOW_PRIVATE_FETCH: "false" } });
    try {
      const token = await adminToken(strict.url);
      const app = await createApp(strict.url, token, { type: "web", redirect_uris: ["https://app.example/cb"] });
      const path = `/admin/v1/apps/${app.client_id}/hooks`;
      for (const url of [`${hookBase}/n/x`, "https://10.0.0.1/hook", "https://localhost/hook"]) {
        const r = await adminFetch(strict.url, token, "POST", path, { body: { event: "login", url } });
        assert.equal(r.status, 400, url);
        assert.equal(r.json.errors[0].pointer, "/url");
      }
      const ok = await adminFetch(strict.url, token, "POST", path, { body: { event: "login", url: "https://hooks.example/in" } });
      assert.equal(ok.status, 201, ok.text);
    } finally {
      await strict.stop();
    }
  });
});
