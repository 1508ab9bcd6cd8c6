// Self-registration on the real worker: custom user fields through the
// management API; an app that takes registrations shows "Create account" on its
// login page; Chromium fills the registration form (username, email, password, a
// custom field), a receiver on 127.0.0.1 gets the signed verify_email mail hook
// with the code and checks it as the README tells a receiver to, Chromium enters
// the code, and openid-client gets tokens whose ID and access tokens carry the
// custom field named in token_claims. Also: the password policy refused on the
// page, a wrong code refused, and no "Create account" where registration is off.

import assert from "node:assert/strict";
import { createHmac, timingSafeEqual } from "node:crypto";
import http from "node:http";
import { after, before, describe, test } from "node:test";
import * as client from "openid-client";
import { decodeJwt } from "jose";
import { adminFetch, adminToken, startWorker } from "./harness.mjs";
import { configFor, oidcRequest } from "./support/oidc.mjs";
import { isLoginPage, launchBrowser, newPage, waitForRedirect } from "./support/browser.mjs";
import { createApp, startSite, uniqueName } from "./support/flows.mjs";

const TIMEOUT = { timeout: 90_000 };
const PASSWORD = "a long enough passphrase";

let worker;
let issuer;
let admin;
let browser;
let site;
let receiver;
let mailUrl;
/** Every delivery the mail receiver got: { headers, body (raw string) }. */
const mails = [];

/** The check a receiver makes (README "Custom user fields and self-registration"). */
function verifyDelivery(secret, header, rawBody, toleranceSecs = 300) {
  const parts = Object.fromEntries(header.split(",").map((p) => p.split("=", 2)));
  const t = Number(parts.t);
  if (!Number.isInteger(t) || Math.abs(Date.now() / 1000 - t) > toleranceSecs) return false;
  const expected = createHmac("sha256", secret).update(`${t}.${rawBody}`).digest();
  const given = Buffer.from(parts.v1 ?? "", "hex");
  return given.length === expected.length && timingSafeEqual(given, expected);
}

const api = (method, path, body) => adminFetch(worker.url, admin, method, path, body ? { body } : {});

/** An app, with its mail hook's secret when it takes registrations. */
async function registeringApp(fields) {
  const app = await createApp(worker.url, admin, {
    type: "web",
    redirect_uris: [`${site.origin}/cb`],
    first_party: true,
    ...fields,
  });
  if (!fields.self_registration) return { app };
  const hook = await api("POST", `/admin/v1/apps/${app.client_id}/hooks`, { event: "verify_email", url: mailUrl });
  assert.equal(hook.status, 201, hook.text);
  return { app, secret: hook.json.secret };
}

/** Opens the app's authorization request in a fresh context. */
async function openLogin(app) {
  const config = await configFor(issuer, app);
  const { url, checks } = await oidcRequest(config, `${site.origin}/cb`, "openid email");
  const { context, page } = await newPage(browser);
  await page.goto(url.href);
  assert.ok(await isLoginPage(page), "the login page comes first");
  return { config, checks, context, page };
}

/**
 * Clicks "Create account" and fills the form; `serverChecks` turns the browser's
 * own checks (required, minlength) off, so the server's answer is seen.
 */
async function fillRegistration(page, { username, password, department }, serverChecks = false) {
  await page.getByRole("button", { name: "Create account" }).click();
  await page.locator("#email").waitFor();
  assert.equal(await page.locator("h1").textContent(), "Create an account");
  assert.equal(await page.locator('label[for="field.department"]').textContent(), "Department");
  assert.equal(await page.locator("#password").getAttribute("autocomplete"), "new-password");
  if (serverChecks) await page.locator("form:has(#email)").evaluate((f) => (f.noValidate = true));
  await page.locator("#username").fill(username);
  await page.locator("#email").fill(`${username}@example.org`);
  await page.locator("#password").fill(password);
  await page.locator('[id="field.department"]').fill(department);
  await page.locator('[id="field.tier"]').selectOption("gold");
  await page.locator('form button[type="submit"]').first().click();
}

before(async () => {
  receiver = http.createServer((req, res) => {
    let raw = "";
    req.setEncoding("utf8");
    req.on("data", (chunk) => (raw += chunk));
    req.on("end", () => {
      mails.push({ headers: req.headers, body: raw });
      res.writeHead(200, { "content-type": "application/json" });
      res.end("{}");
    });
  });
  await new Promise((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  mailUrl = `http://127.0.0.1:${receiver.address().port}/mail`;
  worker = await startWorker();
  issuer = worker.issuer;
  [browser, site] = await Promise.all([launchBrowser(), startSite({ pages: {} })]);
  admin = await adminToken(worker.url);

  const department = await api("POST", "/admin/v1/user-fields", {
    key: "department",
    type: "string",
    required: true,
    max_length: 20,
    labels: { en: "Department", de: "Abteilung" },
  });
  assert.equal(department.status, 201, department.text);
  const tier = await api("POST", "/admin/v1/user-fields", { key: "tier", type: "enum", options: ["gold", "silver"] });
  assert.equal(tier.status, 201, tier.text);
});

after(async () => {
  await browser?.close();
  await site?.close();
  await worker?.stop();
  await new Promise((resolve) => (receiver ? receiver.close(resolve) : resolve()));
});

describe("custom user fields", () => {
  test("the registry lists, refuses bad definitions and checks users' values", async () => {
    const listed = await api("GET", "/admin/v1/user-fields");
    assert.equal(listed.status, 200);
    assert.deepEqual(
      listed.json.items.map((f) => f.key),
      ["department", "tier"],
    );
    const standard = await api("POST", "/admin/v1/user-fields", { key: "email", type: "string" });
    assert.equal(standard.status, 400);
    assert.equal(standard.headers.get("content-type"), "application/problem+json");
    assert.equal(standard.json.errors[0].pointer, "/key");
    const user = await api("POST", "/admin/v1/users", {
      username: uniqueName("fields").toLowerCase(),
      fields: { department: 7, shoe: 42 },
    });
    assert.equal(user.status, 400);
    assert.deepEqual(
      user.json.errors.map((e) => e.pointer),
      ["/fields/department", "/fields/shoe"],
    );
  });
});

describe("self-registration in Chromium", () => {
  test("register, verify the address with the mailed code, get tokens carrying the custom field", TIMEOUT, async () => {
    const { app, secret } = await registeringApp({
      self_registration: true,
      registration_fields: ["department", "tier"],
      password_policy: { min_length: 12 },
      token_claims: [{ name: "dept", source: "user", field: "department" }],
    });
    const { config, checks, context, page } = await openLogin(app);
    try {
      const username = uniqueName("grace").toLowerCase();
      const before = mails.length;
      await fillRegistration(page, { username, password: PASSWORD, department: "Navy" });
      await page.locator("#code").waitFor();
      assert.equal(mails.length, before + 1, "one mail hook delivery");
      const mail = mails.at(-1);
      assert.ok(verifyDelivery(secret, mail.headers["gatehouse-signature"], mail.body), "signed with the hook's secret");
      assert.ok(!verifyDelivery("another secret", mail.headers["gatehouse-signature"], mail.body));
      const body = JSON.parse(mail.body);
      assert.equal(body.event, "verify_email");
      assert.equal(mail.headers["gatehouse-event"], "verify_email");
      assert.equal(body.email, `${username}@example.org`);
      assert.equal(body.locale, "en");
      assert.deepEqual(body.app, { client_id: app.client_id, name: app.client_name });
      assert.match(body.code, /^[0-9]{8}$/);
      assert.ok(body.expires_at > Date.now() / 1000 + 500, "about 10 minutes to enter it");

      // No user before the code; a wrong code is refused on the page.
      const users = await api("GET", "/admin/v1/users");
      assert.ok(!users.json.items.some((u) => u.username === username));
      const wrong = body.code.replace(/./g, (d) => (d === "0" ? "1" : "0"));
      await page.locator("#code").fill(wrong);
      await page.locator('form button[type="submit"]').first().click();
      await page.locator('[role="alert"]').waitFor();
      assert.match(await page.locator('[role="alert"]').textContent(), /not right/);

      await page.locator("#code").fill(body.code);
      await page.locator('form button[type="submit"]').first().click();
      const landed = await waitForRedirect(page, `${site.origin}/cb`, { consent: "allow" });
      const tokens = await client.authorizationCodeGrant(config, landed, checks);
      const claims = tokens.claims();
      assert.equal(claims.email, `${username}@example.org`);
      assert.equal(claims.email_verified, true);
      assert.equal(claims.dept, "Navy", "the custom field named in token_claims");
      assert.equal(decodeJwt(tokens.access_token).dept, "Navy");

      const created = (await api("GET", "/admin/v1/users")).json.items.find((u) => u.username === username);
      assert.equal(created.id, claims.sub);
      assert.deepEqual(created.fields, { department: "Navy", tier: "gold" });
      assert.equal(created.email_verified, true);

      // Counted in the app's usage: batched per isolate and written after the
      // answer (at most 5 s later, by a timer). Poll for up to 15 s.
      let usage;
      for (let i = 0; i < 150; i++) {
        usage = await api("GET", `/admin/v1/apps/${app.client_id}/usage`);
        if (usage.json?.totals?.registrations >= 1 && usage.json.totals.logins >= 1) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(usage.json.totals.registrations, 1);
      assert.ok(usage.json.totals.logins >= 1, "the registration's sign-in is a login");
    } finally {
      await context.close();
    }
  });

  test("the app's password policy and required fields are enforced on the page", TIMEOUT, async () => {
    const { app } = await registeringApp({
      self_registration: true,
      registration_fields: ["department", "tier"],
      password_policy: { min_length: 16 },
    });
    const { context, page } = await openLogin(app);
    try {
      const before = mails.length;
      await fillRegistration(page, { username: uniqueName("short").toLowerCase(), password: "fifteen chars!!", department: "" }, true);
      await page.locator('[role="alert"]').waitFor();
      assert.match(await page.locator('[role="alert"]').textContent(), /correct the fields/);
      assert.equal(await page.locator("#password").getAttribute("aria-invalid"), "true");
      assert.match(await page.locator("#password-problem").textContent(), /at least 16 characters/);
      assert.match(await page.locator('[id="field.department-problem"]').textContent(), /required/);
      assert.equal(mails.length, before, "no code sent");
    } finally {
      await context.close();
    }
  });

  test("an app without self-registration offers no Create account", TIMEOUT, async () => {
    const { app } = await registeringApp({});
    assert.equal(app.self_registration, false, "off by default");
    const { context, page } = await openLogin(app);
    try {
      assert.equal(await page.getByRole("button", { name: "Create account" }).count(), 0);
      assert.equal(await page.locator('form[action$="/register"]').count(), 0);
    } finally {
      await context.close();
    }
  });
});
