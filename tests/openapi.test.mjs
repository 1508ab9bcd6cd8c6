// docs/openapi.yaml against the real worker on workerd (Miniflare):
//  (a) the document's paths and methods are exactly the routes the server serves
//      (read from the route table in crates/core/src/admin/mod.rs, and probed);
//  (b) every documented example request, sent for real, gets the documented status
//      and a body that validates against the documented schema (and has the same
//      fields as the documented example);
//  (c) every error the server answers validates against the problem schema, with
//      the documented status, headers and scopes.
//
// Examples are paired by name: a response example named N is sent when a request
// example of that name exists (request body, or a path, query or header
// parameter). Each example runs on fresh fixtures whose ids replace the ids the
// examples use. Examples are sent with a gatehouse:admin token, except a 403
// example: it is what a caller holding only the operation's own scope gets (the
// rules that need gatehouse:admin itself).

import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { parse } from "yaml";
import Ajv2020 from "ajv/dist/2020.js";
import {
  ROOT,
  ADMIN_CLIENT_ID,
  ADMIN_CLIENT_SECRET,
  basicAuth,
  postToken,
  startWorker,
} from "./harness.mjs";

const DOC = parse(fs.readFileSync(path.join(ROOT, "docs/openapi.yaml"), "utf8"), { uniqueKeys: true });
const METHODS = ["get", "put", "post", "patch", "delete"];
const PROBE_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];
const SCHEMA_ID = "urn:gatehouse:openapi";

// ---------------------------------------------------------------------------
// The document

function resolve(node) {
  let seen = 0;
  while (node && typeof node.$ref === "string" && node.$ref.startsWith("#/")) {
    node = node.$ref
      .slice(2)
      .split("/")
      .reduce((n, key) => n?.[key.replaceAll("~1", "/").replaceAll("~0", "~")], DOC);
    if (++seen > 10) throw new Error("$ref loop");
  }
  return node;
}

function operations(doc = DOC) {
  const out = [];
  for (const [template, item] of Object.entries(doc.paths)) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const params = new Map();
      for (const p of [...(item.parameters ?? []), ...(op.parameters ?? [])].map(resolve)) {
        params.set(`${p.in}:${p.name}`, p);
      }
      const responses = Object.fromEntries(
        Object.entries(op.responses).map(([status, r]) => [status, resolve(r)]),
      );
      const requestBody = resolve(op.requestBody);
      out.push({ template, method: method.toUpperCase(), op, params: [...params.values()], responses, requestBody });
    }
  }
  return out;
}

const OPS = operations();

function makeAjv() {
  const ajv = new Ajv2020({ strict: true, strictTypes: false, strictRequired: false, allowUnionTypes: true, allErrors: true });
  ajv.addFormat("uri", (s) => /^[a-z][a-z0-9+.-]*:\S+$/i.test(s));
  ajv.addFormat("email", (s) => /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(s));
  const defs = JSON.parse(
    JSON.stringify(DOC.components.schemas).replaceAll('"#/components/schemas/', `"${SCHEMA_ID}#/$defs/`),
  );
  ajv.addSchema({ $id: SCHEMA_ID, $defs: defs });
  return ajv;
}
const ajv = makeAjv();
const compiled = new Map();

/** A validator for a schema taken from the document (its refs made absolute). */
function validator(schema) {
  const key = JSON.stringify(schema);
  if (!compiled.has(key)) {
    const absolute = JSON.parse(key.replaceAll('"#/components/schemas/', `"${SCHEMA_ID}#/$defs/`));
    compiled.set(key, ajv.compile(absolute));
  }
  return compiled.get(key);
}

function assertValid(schema, value, what) {
  const validate = validator(schema);
  assert.ok(validate(value), `${what}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(value).slice(0, 800)}`);
}

const PROBLEM = { $ref: "#/components/schemas/Problem" };

/** The operation's documented scope (the one that is not gatehouse:admin). */
function scopeOf(op) {
  const scopes = op.op.security.flatMap((req) => req.bearer ?? []);
  assert.ok(scopes.includes("gatehouse:admin"), `${op.method} ${op.template}: gatehouse:admin covers it`);
  const own = scopes.filter((s) => s !== "gatehouse:admin");
  assert.equal(own.length, 1, `${op.method} ${op.template}: one own scope`);
  return own[0];
}

// ---------------------------------------------------------------------------
// The server's route table, from its source

/** `[["apps", "{}"], ...]` with their Allow lists, read from `route_of` in admin/mod.rs. */
export function sourceRoutes(source) {
  const consts = Object.fromEntries(
    [...source.matchAll(/const (\w+): &str = "([^"]+)";/g)].map((m) => [m[1], m[2]]),
  );
  const body = source.slice(source.indexOf("fn route_of"), source.indexOf("pub(crate) async fn handle"));
  const routes = new Map();
  for (const m of body.matchAll(/\[([^\]]*)\](?: if [^=]*)? => \(Resource::\w+, ("[^"]*"|\w+)\)/g)) {
    const allow = m[2].startsWith('"') ? m[2].slice(1, -1) : consts[m[2]];
    assert.ok(allow, `unknown method list ${m[2]}`);
    let paths = [[]];
    for (const raw of m[1].split(",").map((s) => s.trim())) {
      const alternatives = raw.startsWith('"')
        ? raw.split("|").map((s) => s.trim().replace(/^"|"$/g, ""))
        : ["{}"];
      paths = paths.flatMap((p) => alternatives.map((a) => [...p, a]));
    }
    for (const p of paths) routes.set(`/admin/v1/${p.join("/")}`, allow.split(", ").sort().join(", "));
  }
  return routes;
}

export function documentedRoutes(doc = DOC) {
  const routes = new Map();
  for (const [template, item] of Object.entries(doc.paths)) {
    const methods = METHODS.filter((m) => item[m]).map((m) => m.toUpperCase());
    routes.set(template.replace(/\{[^}]+\}/g, "{}"), methods.sort().join(", "));
  }
  return routes;
}

function routeDifferences(served, documented) {
  const problems = [];
  for (const [p, allow] of served) {
    if (!documented.has(p)) problems.push(`served but not documented: ${p} (${allow})`);
    else if (documented.get(p) !== allow) problems.push(`${p}: served ${allow}, documented ${documented.get(p)}`);
  }
  for (const p of documented.keys()) if (!served.has(p)) problems.push(`documented but not served: ${p}`);
  return problems;
}

const SERVED = sourceRoutes(fs.readFileSync(path.join(ROOT, "crates/core/src/admin/mod.rs"), "utf8"));

// ---------------------------------------------------------------------------
// Static checks: no server needed

describe("the document", () => {
  test("is OpenAPI 3.1 with a bearer scheme carrying every gatehouse scope", () => {
    assert.match(DOC.openapi, /^3\.1\./);
    const scheme = DOC.components.securitySchemes.bearer;
    assert.equal(scheme.type, "oauth2");
    const scopes = Object.keys(scheme.flows.clientCredentials.scopes).sort();
    const expected = [
      "gatehouse:admin",
      ...["apps", "scopes", "users", "roles", "keys"].flatMap((r) =>
        ["read", "write", "delete"].map((a) => `gatehouse:${r}_${a}`),
      ),
    ].sort();
    assert.deepEqual(scopes, expected);
    for (const op of OPS) scopeOf(op);
  });

  test("documents exactly the routes and methods in the server's route table", () => {
    assert.ok(SERVED.size >= 20, `route table parsed (${SERVED.size} routes)`);
    assert.deepEqual(routeDifferences(SERVED, documentedRoutes()), []);
  });

  test("the route check fails on a document that misses a route or a method", () => {
    const broken = structuredClone(DOC);
    delete broken.paths["/admin/v1/keys/rotate"];
    delete broken.paths["/admin/v1/apps/{client_id}"].patch;
    const problems = routeDifferences(SERVED, documentedRoutes(broken));
    assert.equal(problems.length, 2, problems.join("\n"));
  });

  test("every operation documents its errors as problem details", () => {
    for (const op of OPS) {
      const name = `${op.method} ${op.template}`;
      const statuses = Object.keys(op.responses);
      const must = ["401", "403", "405", "503"];
      if (op.template.includes("{")) must.push("404");
      if (op.requestBody) must.push("400", "413", "415");
      if (op.params.some((p) => p.in === "header" && p.name === "If-Match")) must.push("400", "412");
      for (const status of must) assert.ok(statuses.includes(status), `${name}: documents ${status}`);
      for (const [status, response] of Object.entries(op.responses)) {
        if (Number(status) < 400) continue;
        const content = response.content ?? {};
        assert.deepEqual(Object.keys(content), ["application/problem+json"], `${name} ${status}`);
        assert.equal(resolve(content["application/problem+json"].schema), DOC.components.schemas.Problem);
      }
      assert.ok(op.responses["401"].headers["WWW-Authenticate"], `${name}: 401 has WWW-Authenticate`);
      assert.ok(op.responses["403"].headers["WWW-Authenticate"], `${name}: 403 has WWW-Authenticate`);
      assert.ok(op.responses["405"].headers.Allow, `${name}: 405 has Allow`);
      if (op.requestBody) {
        const schema = resolve(op.requestBody.content["application/json"].schema);
        assert.ok(
          schema.additionalProperties === false || schema.propertyNames,
          `${name}: the request schema refuses unknown fields`,
        );
      }
    }
  });

  test("every example validates against its schema, and every operation has a request and a response example", () => {
    let count = 0;
    for (const op of OPS) {
      const name = `${op.method} ${op.template}`;
      if (op.requestBody) {
        const media = op.requestBody.content["application/json"];
        assert.ok(Object.keys(media.examples ?? {}).length > 0, `${name}: request example`);
        for (const [n, ex] of Object.entries(media.examples)) {
          // Examples of refused requests are checked against the server instead.
          const succeeds = Object.entries(op.responses).some(
            ([status, r]) => Number(status) < 300 && Object.values(r.content ?? {}).some((m) => m.examples?.[n]),
          );
          if (succeeds) assertValid(media.schema, resolve(ex).value, `${name} request example ${n}`);
          count++;
        }
      }
      let responseExamples = 0;
      for (const [status, response] of Object.entries(op.responses)) {
        for (const [type, media] of Object.entries(response.content ?? {})) {
          for (const [n, ex] of Object.entries(media.examples ?? {})) {
            const value = resolve(ex).value;
            if (status === "204") {
              assert.equal(value, null, `${name} 204 ${n}`);
              continue;
            }
            assertValid(media.schema, value, `${name} ${status} ${type} example ${n}`);
            if (Number(status) >= 400) assert.equal(value.status, Number(status), `${name} ${status} ${n}`);
            responseExamples++;
            count++;
          }
        }
      }
      assert.ok(responseExamples > 0 || op.responses["204"], `${name}: response example`);
    }
    assert.ok(count > 100, `${count} examples`);
  });

  test("schemas refuse what the server refuses", () => {
    const app = { $ref: "#/components/schemas/App" };
    assert.equal(validator(app)({ client_name: "a", type: "s2s", colour: "blue" }), false);
    assert.equal(validator(app)({ client_name: "bad name", type: "s2s" }), false);
    assert.equal(validator({ $ref: "#/components/schemas/UserView" })({
      id: "x", username: "ada", enabled: true, roles: [], has_password: true,
      created_at: 1, updated_at: 1, password: "leaked!!",
    }), false);
    assert.equal(validator({ $ref: "#/components/schemas/Jwk" })({ kty: "EC", kid: "k", alg: "ES256", use: "sig", d: "private" }), false);
    assert.equal(validator(PROBLEM)({ type: "about:blank", title: "x", status: 400 }), false);
  });
});

// ---------------------------------------------------------------------------
// Against the worker

let worker;
let tokens = {};

async function token(scope) {
  if (!tokens[scope]) {
    const r = await postToken(worker.url, `grant_type=client_credentials&scope=${encodeURIComponent(scope)}`, {
      authorization: basicAuth(ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET),
    });
    assert.equal(r.status, 200, r.text);
    tokens[scope] = r.json.access_token;
  }
  return tokens[scope];
}

async function send(method, url, { auth, body, contentType, headers = {} } = {}) {
  const init = { method, headers: { ...headers } };
  if (auth) init.headers.authorization = `Bearer ${auth}`;
  if (body !== undefined) {
    init.body = typeof body === "string" || body instanceof Uint8Array ? body : JSON.stringify(body);
    init.headers["content-type"] = contentType ?? "application/json";
  }
  const res = await fetch(`${worker.url}${url}`, init);
  const text = await res.text();
  let json;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

async function api(method, url, body) {
  const r = await send(method, url, { auth: await token("gatehouse:admin"), body });
  assert.ok(r.status < 300, `${method} ${url}: ${r.status} ${r.text}`);
  return r.json;
}

/** Deletes every app, user, role, custom scope, scope group and resource. */
async function reset() {
  for (const [collection, id] of [
    ["users", "id"],
    ["user-fields", "key"],
    ["roles", "id"],
    ["apps", "client_id"],
    ["scopes", "key"],
    ["scope-groups", "id"],
    ["resources", "identifier"], // after the scopes they own
    ["providers", "id"],
  ]) {
    const page = await api("GET", `/admin/v1/${collection}?limit=100`);
    for (const item of page.items) {
      if (item.system) continue;
      await api("DELETE", `/admin/v1/${collection}/${encodeURIComponent(item[id])}`);
    }
  }
}

/** Fresh fixtures; returns the map from the ids the examples use to the live ids. */
async function fixtures() {
  await reset();
  const app = await api("POST", "/admin/v1/apps", {
    client_name: "inventory_sync",
    type: "s2s",
    description: "Stock levels",
    scope: "orders:read",
  });
  const spa = await api("POST", "/admin/v1/apps", {
    client_name: "storefront_spa",
    type: "spa",
    redirect_uris: ["https://shop.example.com/callback"],
  });
  const ops = await api("POST", "/admin/v1/apps", {
    client_name: "ops_console",
    type: "s2s",
    description: "Reads the user directory",
    scope: "gatehouse:users_read",
  });
  await api("POST", `/admin/v1/apps/${ops.client_id}/disable`);
  await api("POST", "/admin/v1/resources", {
    identifier: "https://api.shop.example.com/orders",
    name: "Orders API",
    description: "Orders and stock",
    access_token_lifetime: 900,
  });
  await api("POST", "/admin/v1/resources", {
    identifier: "https://reports.shop.example.com",
    name: "Reports API",
  });
  await api("POST", `/admin/v1/apps/${app.client_id}/permissions`, { name: "read_orders", description: "Read orders" });
  const hook = await api("POST", `/admin/v1/apps/${app.client_id}/hooks`, {
    event: "login",
    url: "https://hooks.shop.example.com/gatehouse",
  });
  const group = await api("POST", "/admin/v1/scope-groups", { name: "Orders", description: { en: "Orders" } });
  await api("POST", "/admin/v1/scopes", {
    key: "orders:read",
    description: { en: "Read orders", de: "Bestellungen lesen" },
    security_level: "confidential",
    group: group.id,
    requires_consent: false,
    resource: "https://api.shop.example.com/orders",
  });
  const role = await api("POST", "/admin/v1/roles", {
    name: "clerk",
    description: "Order desk",
    permissions: [{ client_id: app.client_id, name: "read_orders" }],
  });
  await api("POST", "/admin/v1/providers", {
    id: "corp",
    display_name: "Corp SSO",
    issuer: "https://sso.example.com",
    client_id: "gatehouse",
    client_secret: "corp-secret",
    claim_mapping: { username: "preferred_username", email: "email", name: "name" },
  });
  await api("POST", "/admin/v1/user-fields", {
    key: "department",
    type: "string",
    max_length: 40,
    labels: { en: "Department", de: "Abteilung" },
  });
  const user = await api("POST", "/admin/v1/users", {
    username: "ada",
    name: "Ada Lovelace",
    email: "ada@example.com",
    address: { locality: "London" },
    roles: [role.id],
  });
  // A key that waits to sign, for the revoke example (withdrawing it leaves the
  // signing key, and so the cached tokens, alone).
  const keys = (await api("GET", "/admin/v1/keys")).keys;
  const next =
    keys.find((k) => k.status === "next") ??
    (await api("POST", "/admin/v1/keys/rotate")).keys.find((k) => k.status === "next");
  return new Map([
    ["77EK6r8idTmFXOaDc38H5WsQMhg4jRBF_tn5SXlmgdU", next.kid],
    ["cZ1_AG9EyStOz54iRaibdw", app.client_id],
    ["JCZytE6rl1L0LIZnb5zTcA", spa.client_id],
    ["k2V8oQyTfP3nWc0sHb7xLg", ops.client_id],
    ["http://127.0.0.1:8787/admin/v1", `${worker.issuer}/admin/v1`],
    ["RQmBuS4315NuMz_m", group.id],
    ["3AeVjqJBhdSttcxo", role.id],
    ["JIUUsdGXXlqrxylvpWFRFA", user.id],
    ["hK9xQ2mP7vL4tR8w", hook.id],
  ]);
}

function substitute(text, ids) {
  for (const [example, live] of ids) text = text.replaceAll(example, live);
  return text;
}

function paramValue(p, name) {
  const examples = p.examples ?? {};
  return (
    examples[name]?.value ??
    examples.default?.value ??
    p.example ??
    (p.required ? Object.values(examples)[0]?.value : undefined)
  );
}

/** The request an operation's example `name` describes (undefined parts: not given). */
function buildRequest(op, name, ids) {
  let url = op.template;
  const query = new URLSearchParams();
  const headers = {};
  for (const p of op.params) {
    const anchored = p.examples?.[name] !== undefined;
    if (p.in === "path") {
      url = url.replace(`{${p.name}}`, encodeURIComponent(substitute(String(paramValue(p, name)), ids)));
    } else if (anchored && p.in === "query") {
      query.set(p.name, String(p.examples[name].value));
    } else if (anchored && p.in === "header") {
      headers[p.name] = String(p.examples[name].value);
    }
  }
  let body;
  if (op.requestBody) {
    const examples = op.requestBody.content["application/json"].examples;
    const example = resolve(examples[name] ?? Object.values(examples)[0]).value;
    body = substitute(JSON.stringify(example), ids);
  }
  const qs = query.toString();
  return { url: qs ? `${url}?${qs}` : url, headers, body };
}

/** Which example names of an operation have a request side. */
function anchoredNames(op) {
  const names = new Set();
  for (const p of op.params) for (const n of Object.keys(p.examples ?? {})) if (n !== "default") names.add(n);
  for (const n of Object.keys(op.requestBody?.content["application/json"].examples ?? {})) names.add(n);
  return names;
}

/** The examples to send: `[{name, status, media, example}]`. */
function plannedExamples(op) {
  const anchors = anchoredNames(op);
  const planned = [];
  for (const [status, response] of Object.entries(op.responses)) {
    for (const [type, media] of Object.entries(response.content ?? {})) {
      for (const [name, ex] of Object.entries(media.examples ?? {})) {
        if (anchors.has(name)) planned.push({ name, status: Number(status), type, media, example: resolve(ex).value });
      }
    }
  }
  const success = Object.keys(op.responses).map(Number).filter((s) => s < 300).sort();
  if (!planned.some((p) => p.status < 300)) {
    const status = success[0];
    const [type, media] = Object.entries(op.responses[status].content ?? {})[0] ?? [];
    const example = media && resolve(Object.values(media.examples ?? {})[0])?.value;
    planned.push({ name: "default", status, type, media, example });
  }
  const names = planned.map((p) => p.name);
  assert.equal(new Set(names).size, names.length, `${op.method} ${op.template}: one status per example name`);
  return planned;
}

function checkHeaders(op, status, response, what) {
  const documented = op.responses[String(status)].headers ?? {};
  for (const [name, header] of Object.entries(documented)) {
    const h = resolve(header);
    const value = response.headers.get(name);
    if (h.required) assert.ok(value !== null, `${what}: header ${name}`);
    if (value !== null) assertValid(h.schema, value, `${what}: header ${name}`);
  }
  for (const name of ["etag", "location", "www-authenticate", "allow"]) {
    if (response.headers.get(name) === null) continue;
    const key = Object.keys(documented).find((k) => k.toLowerCase() === name);
    assert.ok(key, `${what}: the answer has ${name} but the document does not say so`);
  }
}

/** Checks a live answer against the operation's documented response for its status. */
function checkResponse(op, response, what) {
  const documented = op.responses[String(response.status)];
  assert.ok(documented, `${what}: status ${response.status} is not documented (${response.text.slice(0, 300)})`);
  checkHeaders(op, response.status, response, what);
  if (response.status === 204) {
    assert.equal(response.text, "", `${what}: 204 has no body`);
    return;
  }
  const type = (response.headers.get("content-type") ?? "").split(";")[0].trim();
  const media = documented.content?.[type];
  assert.ok(media, `${what}: content type ${type} is not documented for ${response.status}`);
  assertValid(media.schema, response.json, `${what}: body`);
  if (response.status >= 400) assertValid(PROBLEM, response.json, `${what}: problem`);
}

before(async () => {
  worker = await startWorker();
});

after(async () => {
  await worker?.stop();
});

describe("served behaviour matches the document", () => {
  test("(a) every documented path and method is served, every other method is 405 with Allow", async () => {
    for (const [template, item] of Object.entries(DOC.paths)) {
      const url = template.replace(/\{[^}]+\}/g, "x");
      const documented = METHODS.filter((m) => item[m]).map((m) => m.toUpperCase());
      for (const method of PROBE_METHODS) {
        const r = await send(method, url);
        // HEAD is GET without the body, wherever GET is served.
        if (documented.includes(method) || (method === "HEAD" && documented.includes("GET"))) {
          // A served route checks the token before anything else about the resource.
          assert.equal(r.status, 401, `${method} ${url}: ${r.status} ${r.text}`);
        } else {
          assert.equal(r.status, 405, `${method} ${url}: ${r.status}`);
          assert.deepEqual(r.headers.get("allow").split(", ").sort(), [...documented].sort(), `${method} ${url}: Allow`);
          if (method !== "HEAD") assertValid(PROBLEM, r.json, `${method} ${url}`);
        }
      }
    }
    for (const url of [
      "/admin/v1/",
      "/admin/v1/apps/",
      "/admin/v1/keys/x",
      "/admin/v1/apps/x/usage",
      "/admin/v1/apps/x/permissions/y/z",
      "/admin/v1/users/x/roles",
      "/admin/v1/scopes/x/y",
      "/admin/v1/clients",
    ]) {
      const r = await send("GET", url, { auth: await token("gatehouse:admin") });
      assert.equal(r.status, 404, `${url} is not a route`);
      assertValid(PROBLEM, r.json, url);
    }
  });

  for (const op of OPS) {
    const name = `${op.method} ${op.template}`;
    test(`(b) ${name}: each example gets the documented status and schema`, async () => {
      for (const plan of plannedExamples(op)) {
        const ids = await fixtures();
        const request = buildRequest(op, plan.name, ids);
        const what = `${name} example ${plan.name}`;
        const scope = plan.status === 403 ? scopeOf(op) : "gatehouse:admin";
        const response = await send(op.method, request.url, {
          auth: await token(scope),
          body: request.body,
          headers: request.headers,
        });
        assert.equal(response.status, plan.status, `${what}: ${response.text.slice(0, 500)}`);
        checkResponse(op, response, what);
        if (plan.status === 403) {
          const challenge = response.headers.get("www-authenticate");
          assert.match(challenge, /error="insufficient_scope".*scope="gatehouse:admin"/, `${what}: ${challenge}`);
          assert.equal(response.json.detail, plan.example.detail, `${what}: detail`);
        }
        if (plan.status >= 400) {
          assert.equal(response.json.type, plan.example.type, `${what}: problem type`);
          const pointers = (x) => (x.errors ?? []).map((e) => e.pointer).sort();
          assert.deepEqual(pointers(response.json), pointers(plan.example), `${what}: failing fields`);
        } else if (plan.example && typeof plan.example === "object") {
          assert.deepEqual(Object.keys(response.json).sort(), Object.keys(plan.example).sort(), `${what}: fields`);
        }
      }
    });
  }

  test("(c) every error answer is a documented problem, with the documented scope", async () => {
    const ids = await fixtures();
    const unrelated = await token("gatehouse:keys_delete"); // a scope no operation needs
    const admin = await token("gatehouse:admin");
    for (const op of OPS) {
      const name = `${op.method} ${op.template}`;
      const scope = scopeOf(op);
      const live = buildRequest(op, "default", ids);
      const check = async (what, opts, status) => {
        const r = await send(op.method, opts.url ?? live.url, opts);
        if (status) assert.equal(r.status, status, `${name} ${what}: ${r.text.slice(0, 300)}`);
        checkResponse(op, r, `${name} ${what}`);
        return r;
      };
      const missing = await check("without a token", {}, 401);
      assert.equal(missing.headers.get("www-authenticate"), 'Bearer realm="gatehouse"');
      const bad = await check("with a bad token", { auth: "not.a.token" }, 401);
      assert.match(bad.headers.get("www-authenticate"), /error="invalid_token"/);
      const denied = await check("without the scope", { auth: unrelated, body: live.body }, 403);
      assert.match(denied.headers.get("www-authenticate"), new RegExp(`error="insufficient_scope".*scope="${scope}"`));
      assert.equal(denied.json.type, "urn:gatehouse:problem:insufficient_scope");

      // The documented scope alone is enough (checked where nothing is changed).
      if (op.method === "GET" || op.template.includes("{")) {
        const own = await token(scope);
        const unknownUrl = op.template.includes("{") ? op.template.replace(/\{[^}]+\}/g, "unknown-id") : live.url;
        const r = await check("with only its own scope", { auth: own, url: unknownUrl, body: live.body });
        assert.ok(![401, 403].includes(r.status), `${name}: ${scope} suffices (${r.status})`);
      }
      if (op.template.includes("{")) {
        const url = op.template.replace(/\{[^}]+\}/g, "unknown-id");
        const r = await check("on an unknown id", { auth: admin, url, body: live.body }, 404);
        assert.equal(r.json.type, "urn:gatehouse:problem:not_found");
      }
      if (op.requestBody) {
        const r1 = await check("with a non-object body", { auth: admin, body: "[1]" }, 400);
        assert.equal(r1.json.type, "urn:gatehouse:problem:malformed");
        const r2 = await check("with broken JSON", { auth: admin, body: "{nope" }, 400);
        assert.equal(r2.json.type, "urn:gatehouse:problem:malformed");
        const r3 = await check("with an unknown field", { auth: admin, body: { zz_unknown: true } }, 400);
        assert.ok(r3.json.errors.some((e) => e.pointer === "/zz_unknown"), `${name}: names /zz_unknown`);
        await check("as text/plain", { auth: admin, body: "{}", contentType: "text/plain" }, 415);
        await check("over 64 KiB", { auth: admin, body: `{"a":"${"x".repeat(70 * 1024)}"}` }, 413);
      }
      if (op.params.some((p) => p.in === "header" && p.name === "If-Match")) {
        const headers = { "if-match": '"999"' };
        const stale = await check("with a stale If-Match", { auth: admin, body: live.body, headers }, 412);
        assert.equal(stale.json.type, "urn:gatehouse:problem:precondition_failed");
        const junk = { "if-match": "yesterday" };
        await check("with a malformed If-Match", { auth: admin, body: live.body, headers: junk }, 400);
      }
      if (op.params.some((p) => p.in === "query" && p.name === "limit")) {
        for (const query of ["limit=0", "limit=101", "limit=x", "colour=blue"]) {
          const r = await check(`with ?${query}`, { auth: admin, url: `${op.template}?${query}` });
          assert.equal(r.status, 400, `${name}?${query}`);
        }
      }
    }
  });
});
