// Sign-in through an upstream OpenID provider on the real worker: a second
// Gatehouse on 127.0.0.1 plays the upstream (an app registered there whose
// redirect URI is the first issuer's /upstream/callback, and a user). Chromium
// opens the first issuer's login page, clicks "Continue with Peer", signs in at
// the upstream, comes back, and the client gets tokens whose `sub` is the local
// user; a second sign-in finds the same user by its link.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { adminToken, basicAuth, startWorker } from "./harness.mjs";
import { fillLogin, isLoginPage, launchBrowser, newPage, waitForRedirect } from "./support/browser.mjs";
import { createApp, createUser, pkce } from "./support/flows.mjs";

const TIMEOUT = { timeout: 120_000 };
const CB = "https://client.example/cb";

let local;
let upstream;
let browser;
let localAdmin;
let peerUser;
let app;

before(async () => {
  [local, upstream, browser] = await Promise.all([startWorker(), startWorker(), launchBrowser()]);
  localAdmin = await adminToken(local.url);
  const upstreamAdmin = await adminToken(upstream.url);
  peerUser = await createUser(upstream.url, upstreamAdmin);
  const registration = await createApp(upstream.url, upstreamAdmin, {
    type: "web",
    redirect_uris: [`${local.issuer}/upstream/callback`],
    first_party: true,
  });
  const provider = await fetch(`${local.url}/admin/v1/providers`, {
    method: "POST",
    headers: { authorization: `Bearer ${localAdmin}`, "content-type": "application/json" },
    body: JSON.stringify({
      id: "peer",
      display_name: "Peer",
      issuer: upstream.issuer,
      client_id: registration.client_id,
      client_secret: registration.client_secret,
    }),
  });
  assert.equal(provider.status, 201, await provider.text());
  app = await createApp(local.url, localAdmin, {
    type: "web",
    redirect_uris: [CB],
    first_party: true,
    allowed_providers: ["peer"],
    register_with_login_information: true,
  });
});

after(async () => {
  await browser?.close();
  await local?.stop();
  await upstream?.stop();
});

/** One sign-in through the upstream in a fresh browser: the ID token's claims. */
async function signInThroughPeer() {
  const { verifier, challenge } = pkce();
  const params = new URLSearchParams({
    response_type: "code",
    client_id: app.client_id,
    redirect_uri: CB,
    scope: "openid profile email",
    state: "st",
    nonce: "nn",
    code_challenge: challenge,
    code_challenge_method: "S256",
  });
  const { context, page } = await newPage(browser);
  try {
    await page.route("https://client.example/**", (route) => route.fulfill({ status: 200, body: "ok" }));
    await page.goto(`${local.url}/authorize?${params}`);
    assert.ok(await isLoginPage(page));
    await page.getByRole("button", { name: "Continue with Peer" }).click();
    await page.waitForURL((u) => String(u).startsWith(upstream.url));
    assert.ok(await isLoginPage(page), "the upstream's login page");
    await fillLogin(page, peerUser.username, peerUser.password);
    const back = await waitForRedirect(page, CB);
    assert.equal(back.searchParams.get("state"), "st");
    const code = back.searchParams.get("code");
    assert.ok(code, String(back));
    const response = await fetch(`${local.url}/token`, {
      method: "POST",
      headers: {
        authorization: basicAuth(app.client_id, app.client_secret),
        "content-type": "application/x-www-form-urlencoded",
      },
      body: new URLSearchParams({ grant_type: "authorization_code", code, redirect_uri: CB, code_verifier: verifier }),
    });
    const tokens = await response.json();
    assert.equal(response.status, 200, JSON.stringify(tokens));
    return JSON.parse(Buffer.from(tokens.id_token.split(".")[1], "base64url").toString());
  } finally {
    await context.close();
  }
}

test("a first upstream sign-in creates the local user, a second finds it", TIMEOUT, async () => {
  const first = await signInThroughPeer();
  assert.deepEqual(first.amr, ["fed"]);
  assert.notEqual(first.sub, peerUser.id, "a local user, not the upstream's subject");
  const user = await fetch(`${local.url}/admin/v1/users/${first.sub}`, {
    headers: { authorization: `Bearer ${localAdmin}` },
  }).then((r) => r.json());
  assert.equal(user.username, peerUser.username);
  assert.equal(user.email, peerUser.email);
  assert.equal(user.has_password, false);
  assert.equal(user.identities[0].provider, "peer");
  assert.equal(user.identities[0].subject, peerUser.id);
  const second = await signInThroughPeer();
  assert.equal(second.sub, first.sub);
});
