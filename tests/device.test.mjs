// The device authorization grant (RFC 8628) end to end: openid-client starts it
// and polls as a device would, while the user enters the code on the issuer's
// device page, signs in and consents (plain fetch through the forms). Also: 50
// concurrent polls of one approved device code get tokens exactly once, and a
// denied or wrong code.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import * as client from "openid-client";
import { adminToken, startWorker } from "./harness.mjs";
import { CookieJar, consentForm, createApp, createUser, forms, jarFetch, loginForm, postForm } from "./support/flows.mjs";

const DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code";

let worker;
let issuer;
let admin;
let user;
let tv;

before(async () => {
  worker = await startWorker();
  issuer = worker.issuer;
  admin = await adminToken(worker.url);
  user = await createUser(worker.url, admin);
  tv = await createApp(worker.url, admin, { type: "device", refresh_tokens: true });
});

after(async () => {
  await worker?.stop();
});

/** Submits `form` with `fields` through `jar`. */
async function submit(jar, form, fields) {
  const body = new URLSearchParams({ ...form.hidden, ...fields }).toString();
  return jarFetch(jar, form.action, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body,
  });
}

/** The user's side: the device page, sign-in, then `decision` on the consent page
 * (skipped by the issuer when the user already consented to these scopes). */
async function approve(verificationUri, decision = "allow") {
  const jar = new CookieJar();
  const entry = await jarFetch(jar, verificationUri);
  assert.equal(entry.status, 200, entry.text);
  const entryForm = forms(entry.text, entry.url).find((f) => f.inputs.some((i) => i.name === "user_code"));
  assert.ok(entryForm, "the device page has a user code form");
  const typed = entryForm.inputs.find((i) => i.name === "user_code").value;
  const login = await submit(jar, entryForm, { user_code: typed });
  const lf = loginForm(login.text, login.url);
  assert.ok(lf, `a login page after the code: ${login.status}`);
  const consent = await submit(jar, lf, { username: user.username, password: user.password });
  const cf = consentForm(consent.text, consent.url);
  if (!cf) {
    assert.equal(decision, "allow", "a consent page to deny on");
    assert.equal(consent.status, 200, consent.text);
    assert.equal(loginForm(consent.text, consent.url), undefined, "signed in");
    return;
  }
  const done = await submit(jar, cf, { decision });
  assert.equal(done.status, 200, done.text);
}

describe("device authorization grant", () => {
  test("openid-client gets tokens once the user approves on the device page", async () => {
    const config = await client.discovery(new URL(issuer), tv.client_id, undefined, client.None(), {
      execute: [client.allowInsecureRequests],
    });
    assert.equal(config.serverMetadata().device_authorization_endpoint, `${issuer}/device_authorization`);
    const started = await client.initiateDeviceAuthorization(config, { scope: "openid profile offline_access" });
    assert.match(started.user_code, /^[B-DF-HJ-NP-TV-XZ]{4}-[B-DF-HJ-NP-TV-XZ]{4}$/);
    assert.equal(started.verification_uri, `${issuer}/device`);
    const polling = client.pollDeviceAuthorizationGrant(config, started);
    await approve(started.verification_uri_complete);
    const tokens = await polling;
    assert.ok(tokens.access_token && tokens.refresh_token && tokens.id_token);
    assert.equal(tokens.claims().sub, user.id);
  });

  test("50 concurrent polls of an approved device code: exactly one gets tokens", async () => {
    const started = await postForm(issuer, "/device_authorization", tv, { scope: "openid" });
    assert.equal(started.status, 200, started.text);
    await approve(started.json.verification_uri_complete);
    const polls = await Promise.all(
      Array.from({ length: 50 }, () =>
        postForm(issuer, "/token", tv, { grant_type: DEVICE_GRANT, device_code: started.json.device_code }),
      ),
    );
    const ok = polls.filter((p) => p.status === 200);
    assert.equal(ok.length, 1, `statuses: ${polls.map((p) => p.status).join(",")}`);
    for (const p of polls.filter((p) => p.status !== 200)) assert.equal(p.json?.error, "invalid_grant", p.text);
  });

  test("pending, slow_down and access_denied reach the device", async () => {
    // A scope not consented yet, so the user sees the consent page and denies.
    const started = await postForm(issuer, "/device_authorization", tv, { scope: "openid email" });
    const poll = () => postForm(issuer, "/token", tv, { grant_type: DEVICE_GRANT, device_code: started.json.device_code });
    assert.equal((await poll()).json.error, "authorization_pending");
    assert.equal((await poll()).json.error, "slow_down");
    await approve(started.json.verification_uri_complete, "deny");
    await new Promise((r) => setTimeout(r, 5100));
    const denied = await poll();
    assert.equal(denied.status, 400);
    assert.equal(denied.json.error, "access_denied");
  });

  test("a wrong user code is refused on the page with an alert", async () => {
    const jar = new CookieJar();
    const entry = await jarFetch(jar, `${issuer}/device`);
    const form = forms(entry.text, entry.url)[0];
    const wrong = await submit(jar, form, { user_code: "BCDF-GHJK" });
    assert.equal(wrong.status, 400);
    assert.match(wrong.text, /role="alert"/);
  });
});
