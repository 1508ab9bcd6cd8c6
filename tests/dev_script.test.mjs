// The README's first command: `scripts/dev` serves the issuer with `wrangler dev`,
// passes extra arguments through, and without admin credentials generates a dev
// pair (kept in .wrangler/dev.env) and prints it. Unless `--no-demo`, it also
// serves the demo SPA (www/demo) with the edge gateway in front of a sample API.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { ROOT, adminFetch, basicAuth, freePort, wranglerEnv } from "./harness.mjs";
import { fillLogin, launchBrowser, newPage } from "./support/browser.mjs";

fs.mkdirSync(path.join(ROOT, ".wrangler"), { recursive: true });

async function startDev(args) {
  const child = spawn(path.join(ROOT, "scripts", "dev"), args, {
    cwd: ROOT,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: wranglerEnv(),
  });
  let output = "";
  let exited = null;
  child.on("exit", (code, signal) => (exited = { code, signal }));
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
  /** Resolves to the match once the output matches `pattern`; throws when scripts/dev exits first. */
  const waitFor = async (pattern, ms) => {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      const match = output.match(pattern);
      if (match) return match;
      if (exited) break;
      await sleep(200);
    }
    throw new Error(`scripts/dev printed no ${pattern} (exited: ${JSON.stringify(exited)}):\n${output.slice(-6000)}`);
  };
  return { child, stop, waitFor, output: () => output };
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
  const dev = await startDev(["--no-demo", "--port", String(port), "--persist-to", persist, "--var", "ADMIN_CLIENT_ID:e2e-own-admin", "--var", "ADMIN_CLIENT_SECRET:e2e-own-secret-0123456789"]);
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
  const dev = await startDev(["--no-demo", "--port", String(port), "--persist-to", persist]);
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

test("the demo: its origin serves the app and a /config.json naming the issuer and a registered SPA; sign-in, API call, renewal and sign-out work; a restart keeps the app", { timeout: 900_000 }, async () => {
  const [port, demoPort, gatewayPort, apiPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const issuer = `http://127.0.0.1:${port}`;
  const demo = `http://127.0.0.1:${demoPort}`;
  const persist = fs.mkdtempSync(path.join(ROOT, ".wrangler", "dev-test-"));
  const args = ["--port", String(port), "--persist-to", persist, "--demo-port", String(demoPort),
    "--gateway-port", String(gatewayPort), "--demo-api-port", String(apiPort)];
  const ready = new RegExp(`demo SPA on ${demo}/\\s+sign in as: demo / (\\S+)`);
  let dev = await startDev(args);
  let browser;
  try {
    // The first run may build the browser package and the gateway.
    const [, password] = await dev.waitFor(ready, 900_000);
    const [, id] = await dev.waitFor(/ADMIN_CLIENT_ID=(\S+)/, 1000);
    const [, secret] = await dev.waitFor(/ADMIN_CLIENT_SECRET=(\S+)/, 1000);

    const page = await fetch(`${demo}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-security-policy"), /connect-src 'self' http:\/\/127\.0\.0\.1/);
    assert.match(await page.text(), /Sign in/);
    const pkg = await fetch(`${demo}/pkg/index.js`);
    assert.equal(pkg.status, 200);
    assert.match(pkg.headers.get("content-type"), /^text\/javascript/);
    await pkg.arrayBuffer();

    const config = await (await fetch(`${demo}/config.json`)).json();
    assert.equal(config.issuer, issuer);
    assert.equal(config.redirectUri, `${demo}/`);
    assert.equal(config.api, `http://127.0.0.1:${gatewayPort}/api/hello`);
    const { status, body } = await tokenStatus(issuer, id, secret);
    assert.equal(status, 200, JSON.stringify(body));
    const app = await adminFetch(issuer, body.access_token, "GET", `/admin/v1/apps/${encodeURIComponent(config.clientId)}`);
    assert.equal(app.status, 200, app.text);
    assert.equal(app.json.client_name, "demo");
    assert.equal(app.json.type, "spa");
    assert.deepEqual(app.json.redirect_uris, [`${demo}/`]);
    assert.deepEqual(app.json.allowed_origins, [demo]);
    assert.equal(app.json.refresh_tokens, true);

    const refused = await fetch(config.api);
    assert.equal(refused.status, 401, "the gateway wants a token");
    await refused.arrayBuffer();

    browser = await launchBrowser();
    const { context, page: tab } = await newPage(browser);
    await tab.goto(`${demo}/`);
    await tab.getByRole("button", { name: "Sign in" }).click();
    await tab.waitForURL((u) => u.href.startsWith(`${issuer}/`));
    await fillLogin(tab, "demo", password);
    await tab.waitForURL(`${demo}/`);
    await tab.getByRole("button", { name: "Call the API" }).click();
    await tab.locator("#api-panel:not([hidden])").waitFor();
    assert.match(await tab.locator("#api-status").textContent(), /^200 /);
    const answer = JSON.parse(await tab.locator("#api-body").textContent());
    assert.equal(answer.identity.client_id, config.clientId);
    const subRow = tab.locator("#claims tr").first();
    assert.equal(await subRow.locator("th").textContent(), "sub");
    assert.equal(answer.identity.sub, await subRow.locator("td").first().textContent());
    await tab.getByRole("button", { name: "Renew" }).click();
    await tab.locator("#renew-panel:not([hidden])").waitFor();
    assert.match(await tab.locator("#renew-result").textContent(), /via refresh_token/);
    await tab.getByRole("button", { name: "Sign out" }).click();
    await tab.getByRole("button", { name: "Sign in" }).waitFor();
    assert.equal(await tab.locator("#status").textContent(), "Signed out.");
    assert.equal(await tab.locator("#error").isHidden(), true, await tab.locator("#error").textContent());
    await context.close();

    await dev.stop();
    dev = await startDev(args);
    const [, again] = await dev.waitFor(ready, 300_000);
    assert.equal(again, password, "the demo user's password is kept");
    const restarted = await (await fetch(`${demo}/config.json`)).json();
    assert.equal(restarted.clientId, config.clientId, "the same app, not a second one");
  } finally {
    await browser?.close();
    await dev.stop();
    fs.rmSync(persist, { recursive: true, force: true });
  }
});

test("a session, a refresh token and a remembered consent survive a restart of scripts/dev", { timeout: 300_000 }, async () => {
  const flows = await import("./support/flows.mjs");
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const callback = "http://127.0.0.1:9/callback";
  const persist = fs.mkdtempSync(path.join(ROOT, ".wrangler", "dev-test-"));
  const args = ["--no-demo", "--port", String(port), "--persist-to", persist,
    "--var", "ADMIN_CLIENT_ID:e2e-restart-admin", "--var", "ADMIN_CLIENT_SECRET:e2e-restart-secret-0123456789"];
  let dev = await startDev(args);
  try {
    const granted = await tokenStatus(issuer, "e2e-restart-admin", "e2e-restart-secret-0123456789");
    assert.equal(granted.status, 200, dev.output());
    const admin = granted.body.access_token;
    const app = await flows.createApp(issuer, admin, { type: "web", redirect_uris: [callback], refresh_tokens: true });
    const user = await flows.createUser(issuer, admin);
    const first = await flows.signIn({ issuer, app, user, redirect_uri: callback, scope: "openid profile offline_access" });
    assert.ok(first.steps.some((s) => s.kind === "consent"), "the first sign-in asks for consent");
    await dev.stop();

    dev = await startDev(args);
    assert.equal((await tokenStatus(issuer, "e2e-restart-admin", "e2e-restart-secret-0123456789")).status, 200, dev.output());
    const refreshed = await flows.refresh(issuer, app, first.token.refresh_token);
    assert.equal(refreshed.status, 200, refreshed.text);
    assert.notEqual(refreshed.json.refresh_token, first.token.refresh_token, "rotated after the restart");
    const again = flows.authorizationParams({ client_id: app.client_id, redirect_uri: callback, scope: "openid profile offline_access" });
    const flow = await flows.loginWithoutBrowser({ issuer, jar: first.jar, params: again.params, verifier: again.verifier });
    assert.ok(flow.code, `the session and the consent carry the user through: ${JSON.stringify(flow.steps)}`);
    assert.ok(!flow.steps.some((s) => s.kind === "login" || s.kind === "consent"), JSON.stringify(flow.steps));
  } finally {
    await dev.stop();
    fs.rmSync(persist, { recursive: true, force: true });
  }
});
