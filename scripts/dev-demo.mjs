#!/usr/bin/env node
// The demo SPA's wiring, for scripts/dev: waits for the issuer, then registers
// (idempotently, so a restart on the same state finds what it made before):
//   - the resource `urn:gatehouse:demo-api` (the sample API: the `aud` of the
//     access tokens the gateway accepts) and its scope `demo:read`;
//   - the SPA app `demo` (by client_name; its URIs are updated to --origin);
//   - the user `demo` (by username; its password is set to DEMO_PASSWORD);
// writes the gateway's configuration for the sample API to --gateway-config, and
// prints the demo app's client id on stdout. Node built-ins only.
//
//   ADMIN_CLIENT_ID=... ADMIN_CLIENT_SECRET=... DEMO_PASSWORD=... \
//   node scripts/dev-demo.mjs --issuer URL --origin URL --api-origin URL \
//     --gateway-config FILE [--wait-for-pid PID]

import fs from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";

const DEMO_API = "urn:gatehouse:demo-api";
const DEMO_SCOPE = "demo:read";
const DEMO_APP = "demo";
const DEMO_USER = "demo";

const { values: args } = parseArgs({
  options: {
    issuer: { type: "string" },
    origin: { type: "string" },
    "api-origin": { type: "string" },
    "gateway-config": { type: "string" },
    "wait-for-pid": { type: "string" },
  },
});
for (const name of ["issuer", "origin", "api-origin", "gateway-config"]) {
  if (!args[name]) fail(`--${name} is required`);
}
const { ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET, DEMO_PASSWORD } = process.env;
if (!ADMIN_CLIENT_ID || !ADMIN_CLIENT_SECRET) fail("ADMIN_CLIENT_ID and ADMIN_CLIENT_SECRET must be set");
if (!DEMO_PASSWORD) fail("DEMO_PASSWORD must be set");
const issuer = args.issuer.replace(/\/$/, "");

function fail(message) {
  console.error(`dev-demo: ${message}`);
  process.exit(1);
}

/** Waits until the issuer serves its discovery document (or its process is gone). */
async function waitForIssuer() {
  const pid = args["wait-for-pid"] ? Number(args["wait-for-pid"]) : undefined;
  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline) {
    if (pid !== undefined) {
      try {
        process.kill(pid, 0);
      } catch {
        fail("the issuer exited before it answered");
      }
    }
    try {
      const res = await fetch(`${issuer}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      /* not up yet */
    }
    await sleep(250);
  }
  fail(`${issuer} did not answer within 3 minutes`);
}

/** A form-urlencoded value, as RFC 6749 section 2.3.1 wants inside HTTP Basic. */
const formEncode = (value) => new URLSearchParams({ v: value }).toString().slice(2);

async function adminToken() {
  const basic = Buffer.from(`${formEncode(ADMIN_CLIENT_ID)}:${formEncode(ADMIN_CLIENT_SECRET)}`).toString("base64");
  const res = await fetch(`${issuer}/token`, {
    method: "POST",
    headers: { authorization: `Basic ${basic}`, "content-type": "application/x-www-form-urlencoded" },
    body: "grant_type=client_credentials",
  });
  const body = await res.json().catch(() => ({}));
  if (res.status !== 200) fail(`admin token: ${res.status} ${body.error ?? ""} ${body.error_description ?? ""}`);
  return body.access_token;
}

/** One management API call: `{ status, body }`. */
async function admin(token, method, path, body, contentType = "application/json") {
  const init = { method, headers: { authorization: `Bearer ${token}` } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["content-type"] = contentType;
  }
  const res = await fetch(`${issuer}/admin/v1${path}`, init);
  const text = await res.text();
  let json;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, body: json, text };
}

function expect(result, statuses, what) {
  if (!statuses.includes(result.status)) fail(`${what}: ${result.status} ${result.body?.detail ?? result.text}`);
  return result.body;
}

/** The first item of a paged list that `match` accepts, or undefined. */
async function findIn(token, path, match) {
  let cursor = "";
  for (;;) {
    const page = expect(
      await admin(token, "GET", `${path}?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`),
      [200],
      `list ${path}`,
    );
    const found = page.items.find(match);
    if (found || !page.next_cursor) return found;
    cursor = page.next_cursor;
  }
}

async function ensureResourceAndScope(token) {
  const resourcePath = `/resources/${encodeURIComponent(DEMO_API)}`;
  if ((await admin(token, "GET", resourcePath)).status === 404) {
    expect(
      await admin(token, "POST", "/resources", {
        identifier: DEMO_API,
        name: "Gatehouse demo API",
        description: "The sample API behind the edge gateway in scripts/dev",
      }),
      [201],
      "register the demo API",
    );
  }
  if ((await admin(token, "GET", `/scopes/${encodeURIComponent(DEMO_SCOPE)}`)).status === 404) {
    expect(
      await admin(token, "POST", "/scopes", {
        key: DEMO_SCOPE,
        description: { en: "Call the demo API" },
        requires_consent: false,
        resource: DEMO_API,
      }),
      [201],
      `create the scope ${DEMO_SCOPE}`,
    );
  }
}

async function ensureApp(token) {
  const origin = args.origin.replace(/\/$/, "");
  const fields = {
    description: "The demo SPA served by scripts/dev",
    redirect_uris: [`${origin}/`],
    post_logout_redirect_uris: [`${origin}/`],
    web_origins: [origin],
    allowed_origins: [origin],
    refresh_tokens: true,
    first_party: true,
    scope: `openid profile email offline_access ${DEMO_SCOPE}`,
  };
  const existing = await findIn(token, "/apps", (app) => app.client_name.toLowerCase() === DEMO_APP);
  if (existing) {
    const patched = await admin(
      token,
      "PATCH",
      `/apps/${encodeURIComponent(existing.client_id)}`,
      fields,
      "application/merge-patch+json",
    );
    expect(patched, [200], "update the demo app");
    return existing.client_id;
  }
  const created = await admin(token, "POST", "/apps", { client_name: DEMO_APP, type: "spa", ...fields });
  return expect(created, [201], "register the demo app").client_id;
}

async function ensureUser(token) {
  const existing = await findIn(token, "/users", (user) => user.username.toLowerCase() === DEMO_USER);
  if (existing) {
    expect(
      await admin(token, "POST", `/users/${encodeURIComponent(existing.id)}/password`, { password: DEMO_PASSWORD }),
      [204],
      "set the demo user's password",
    );
    return;
  }
  expect(
    await admin(token, "POST", "/users", {
      username: DEMO_USER,
      password: DEMO_PASSWORD,
      name: "Demo User",
      given_name: "Demo",
      family_name: "User",
      email: "demo@example.com",
      email_verified: true,
    }),
    [201],
    "create the demo user",
  );
}

/** The gateway in front of the sample API (docs/gateway.md). */
function gatewayConfig() {
  const origin = args.origin.replace(/\/$/, "");
  return `# Written by scripts/dev for the demo SPA; rewritten at every start.
# The sample API's access tokens name it in \`aud\` because they carry its scope
# ${DEMO_SCOPE}, which the resource ${DEMO_API} owns.
issuer = "${issuer}"
origin = "${args["api-origin"].replace(/\/$/, "")}"
audience = "${DEMO_API}"

[cors]
origins = ["${origin}"]
methods = ["GET"]
headers = ["authorization"]
expose_headers = ["www-authenticate"]
max_age = 600

[[routes]]
prefix = "/api/"
methods = ["GET"]
scopes = ["${DEMO_SCOPE}"]
`;
}

await waitForIssuer();
const token = await adminToken();
await ensureResourceAndScope(token);
const clientId = await ensureApp(token);
await ensureUser(token);
fs.writeFileSync(args["gateway-config"], gatewayConfig());
process.stdout.write(`${clientId}\n`);
