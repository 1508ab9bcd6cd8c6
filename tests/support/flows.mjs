// Shared by the interactive tests: users and apps through the management API, a
// small cookie jar, the authorization code flow driven with plain `fetch` (the
// login and consent forms parsed out of the HTML), token requests with each
// app's client authentication, and local http servers on 127.0.0.1 standing in
// for an app's redirect URI or web origin.

import { createHash, randomBytes } from "node:crypto";
import http from "node:http";
import { adminFetch, basicAuth, getJson, postToken } from "../harness.mjs";

// ---------------------------------------------------------------------------
// Names, PKCE

let counter = 0;
/** A unique name of letters, digits and underscores (app and user names). */
export function uniqueName(prefix = "e2e") {
  counter += 1;
  return `${prefix}_${counter}_${randomBytes(4).toString("hex")}`;
}

export const b64url = (buf) => Buffer.from(buf).toString("base64url");

/** A PKCE pair (RFC 7636, S256). */
export function pkce() {
  const verifier = b64url(randomBytes(32));
  const challenge = b64url(createHash("sha256").update(verifier).digest());
  return { verifier, challenge };
}

export const randomToken = () => b64url(randomBytes(16));

// ---------------------------------------------------------------------------
// The management API

export const DEFAULT_PASSWORD = "e2e-password-Correct-9";

/** Create a user; answers the user as created plus the password used. */
export async function createUser(base, admin, fields = {}) {
  const username = fields.username ?? uniqueName("user").toLowerCase();
  const body = {
    username,
    password: DEFAULT_PASSWORD,
    email: `${username}@example.com`,
    email_verified: true,
    name: `Test ${username}`,
    given_name: "Test",
    ...fields,
  };
  const r = await adminFetch(base, admin, "POST", "/admin/v1/users", { body });
  if (r.status !== 201) throw new Error(`create user: ${r.status} ${r.text}`);
  return { ...r.json, password: body.password };
}

export async function disableUser(base, admin, id) {
  const r = await adminFetch(base, admin, "POST", `/admin/v1/users/${id}/disable`);
  if (r.status !== 200) throw new Error(`disable user: ${r.status} ${r.text}`);
  return r.json;
}

export const SYSTEM_SCOPES = "openid profile email phone address offline_access";

/**
 * Create an app (`type` web, spa or native). The answer carries `client_secret`
 * for a web app.
 */
export async function createApp(base, admin, fields) {
  const body = {
    client_name: uniqueName(fields.type ?? "app"),
    scope: SYSTEM_SCOPES,
    ...fields,
  };
  const r = await adminFetch(base, admin, "POST", "/admin/v1/apps", { body });
  if (r.status !== 201) throw new Error(`create app: ${r.status} ${r.text}`);
  return r.json;
}

// ---------------------------------------------------------------------------
// Cookies

/**
 * A cookie jar for one host: keeps what `Set-Cookie` sets (name and path),
 * drops what it expires, and sends back the cookies whose path matches.
 */
export class CookieJar {
  constructor() {
    /** @type {Map<string, {name: string, value: string, path: string, attrs: Record<string,string|true>}>} */
    this.cookies = new Map();
  }

  /** Take in every Set-Cookie of a response. */
  store(res) {
    const list = typeof res.headers.getSetCookie === "function" ? res.headers.getSetCookie() : [];
    for (const line of list) this.storeOne(line);
  }

  storeOne(line) {
    const [pair, ...rest] = line.split(";");
    const eq = pair.indexOf("=");
    if (eq < 1) return;
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    const attrs = {};
    for (const part of rest) {
      const i = part.indexOf("=");
      const key = (i < 0 ? part : part.slice(0, i)).trim().toLowerCase();
      if (key) attrs[key] = i < 0 ? true : part.slice(i + 1).trim();
    }
    const path = typeof attrs.path === "string" && attrs.path.startsWith("/") ? attrs.path : "/";
    const key = `${name}\u0000${path}`;
    const maxAge = typeof attrs["max-age"] === "string" ? Number(attrs["max-age"]) : undefined;
    const expires = typeof attrs.expires === "string" ? Date.parse(attrs.expires) : undefined;
    const expired =
      (maxAge !== undefined && maxAge <= 0) || (expires !== undefined && !Number.isNaN(expires) && expires <= Date.now());
    if (expired) this.cookies.delete(key);
    else this.cookies.set(key, { name, value, path, attrs });
  }

  /** The Cookie header for a request to `url` (undefined when none match). */
  header(url) {
    const p = new URL(url).pathname;
    const matching = [...this.cookies.values()].filter(
      (c) => p === c.path || p.startsWith(c.path.endsWith("/") ? c.path : `${c.path}/`),
    );
    matching.sort((a, b) => b.path.length - a.path.length);
    return matching.length ? matching.map((c) => `${c.name}=${c.value}`).join("; ") : undefined;
  }

  get size() {
    return this.cookies.size;
  }

  /** A copy (another "browser" with the same cookies). */
  clone() {
    const jar = new CookieJar();
    for (const [k, v] of this.cookies) jar.cookies.set(k, { ...v, attrs: { ...v.attrs } });
    return jar;
  }

  all() {
    return [...this.cookies.values()];
  }
}

/** fetch with the jar's cookies, redirects not followed; the jar takes the answer's cookies. */
export async function jarFetch(jar, url, init = {}) {
  const headers = { ...(init.headers ?? {}) };
  const cookie = jar?.header(url);
  if (cookie) headers.cookie = cookie;
  const res = await fetch(url, { ...init, headers, redirect: "manual" });
  jar?.store(res);
  const text = await res.text();
  return { res, status: res.status, headers: res.headers, text, url: String(url) };
}

// ---------------------------------------------------------------------------
// HTML forms

const ENTITIES = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", nbsp: "\u00a0" };

export function decodeEntities(s) {
  return s.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (m, e) => {
    if (e[0] === "#") {
      const code = e[1] === "x" || e[1] === "X" ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      return Number.isFinite(code) ? String.fromCodePoint(code) : m;
    }
    return ENTITIES[e.toLowerCase()] ?? m;
  });
}

/** The attributes of one start tag's inside (`<input a="b" c>` -> {a: "b", c: ""}). */
export function parseAttributes(inside) {
  const attrs = {};
  const re = /([^\s"'=<>`/]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g;
  let m;
  while ((m = re.exec(inside))) {
    const name = m[1].toLowerCase();
    if (name in attrs) continue;
    attrs[name] = decodeEntities(m[2] ?? m[3] ?? m[4] ?? "");
  }
  return attrs;
}

/** Every start tag `name` in `html`, as attribute maps. */
export function tags(html, name) {
  const re = new RegExp(`<${name}\\b([^>]*)>`, "gi");
  return [...html.matchAll(re)].map((m) => parseAttributes(m[1]));
}

/**
 * The forms of a page: action (resolved against `pageUrl`), method, the hidden
 * inputs (name -> value), every input and every button.
 */
export function forms(html, pageUrl) {
  const out = [];
  for (const m of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form\s*>/gi)) {
    const attrs = parseAttributes(m[1]);
    const body = m[2];
    const inputs = tags(body, "input");
    const hidden = {};
    for (const i of inputs) if ((i.type ?? "").toLowerCase() === "hidden" && i.name) hidden[i.name] = i.value ?? "";
    out.push({
      attrs,
      action: new URL(attrs.action ?? "", pageUrl).toString(),
      method: (attrs.method ?? "get").toLowerCase(),
      hidden,
      inputs,
      buttons: tags(body, "button"),
      html: body,
    });
  }
  return out;
}

export const loginForm = (html, pageUrl) => forms(html, pageUrl).find((f) => f.inputs.some((i) => i.name === "password"));
export const consentForm = (html, pageUrl) =>
  forms(html, pageUrl).find((f) => f.buttons.some((b) => b.name === "decision" && b.value === "allow"));
export const logoutForm = (html, pageUrl) =>
  forms(html, pageUrl).find((f) => f.buttons.some((b) => b.name === "decision" && b.value === "logout"));

/** The text inside the first element with role="alert", tags stripped. */
export function alertText(html) {
  const m = /<([a-z0-9]+)\b[^>]*\brole\s*=\s*["']?alert["']?[^>]*>([\s\S]*?)<\/\1\s*>/i.exec(html);
  return m ? decodeEntities(m[2].replace(/<[^>]*>/g, " ")).replace(/\s+/g, " ").trim() : undefined;
}

// ---------------------------------------------------------------------------
// The authorization code flow without a browser

/** The authorization request parameters for an app (PKCE S256, state, nonce). */
export function authorizationParams({ client_id, redirect_uri, scope = "openid", ...extra }) {
  const { verifier, challenge } = pkce();
  const params = {
    response_type: "code",
    client_id,
    redirect_uri,
    scope,
    state: randomToken(),
    nonce: randomToken(),
    code_challenge: challenge,
    code_challenge_method: "S256",
    ...extra,
  };
  for (const [k, v] of Object.entries(params)) if (v === undefined || v === null) delete params[k];
  return { params, verifier };
}

const isRedirect = (status) => [301, 302, 303, 307, 308].includes(status);

/** The parameters an authorization response carries at the redirect URI. */
export function responseParams(location) {
  const url = new URL(location);
  const fragment = url.hash.length > 1 ? new URLSearchParams(url.hash.slice(1)) : undefined;
  return fragment && (fragment.has("code") || fragment.has("error")) ? fragment : url.searchParams;
}

/**
 * Run /authorize -> login form -> (consent) -> the redirect, with plain fetch.
 *
 * @param {object} o
 * @param {string} o.issuer
 * @param {CookieJar} [o.jar] the "browser" (a new one when omitted)
 * @param {Record<string,string>} [o.params] the authorization request (see `authorizationParams`)
 * @param {string} [o.verifier] its PKCE verifier (returned as is)
 * @param {string} [o.username] @param {string} [o.password]
 * @param {"allow"|"deny"|"stop"} [o.consent] what to answer on a consent page ("stop" returns it)
 * @param {"GET"|"POST"} [o.method] how /authorize is called
 * @returns {Promise<{jar: CookieJar, verifier?: string, params: Record<string,string>,
 *   steps: {kind: string, status: number, url: string}[], location?: string,
 *   (step kinds: login, consent, internal (a redirect within the issuer), redirect (to
 *   the app), form_post, page, other)
 *   response?: URLSearchParams, code?: string, formPost?: {action: string, fields: Record<string,string>},
 *   page?: {kind: string, status: number, html: string, headers: Headers, url: string}}>}
 *   `response` holds the parameters that reached the redirect URI (query, fragment or
 *   form_post); otherwise `page` is where the flow stopped (an error page, a login page
 *   shown again after a failed sign-in, or a consent page with consent "stop").
 */
export async function loginWithoutBrowser(o) {
  const { issuer, username, password } = o;
  const jar = o.jar ?? new CookieJar();
  const consent = o.consent ?? "allow";
  const params = o.params;
  const origin = new URL(issuer).origin;
  const steps = [];
  const result = { jar, verifier: o.verifier, params, steps };

  const authorizeUrl = new URL(`${issuer}/authorize`);
  let r;
  if ((o.method ?? "GET") === "POST") {
    r = await jarFetch(jar, authorizeUrl, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", origin },
      body: new URLSearchParams(params).toString(),
    });
  } else {
    for (const [k, v] of Object.entries(params)) authorizeUrl.searchParams.set(k, v);
    r = await jarFetch(jar, authorizeUrl);
  }

  let loggedIn = false;
  let consented = false;
  for (let hop = 0; hop < 12; hop++) {
    if (isRedirect(r.status)) {
      const location = new URL(r.headers.get("location"), r.url).toString();
      if (new URL(location).origin === origin && !location.startsWith(params.redirect_uri ?? "\u0000")) {
        steps.push({ kind: "internal", status: r.status, url: location });
        r = await jarFetch(jar, location);
        continue;
      }
      steps.push({ kind: "redirect", status: r.status, url: location });
      result.location = location;
      result.response = responseParams(location);
      result.code = result.response.get("code") ?? undefined;
      return result;
    }
    const html = r.text;
    const page = (kind) => ({ kind, status: r.status, html, headers: r.headers, url: r.url });
    const type = r.headers.get("content-type") ?? "";
    if (!/^text\/html\b/i.test(type)) {
      steps.push({ kind: "other", status: r.status, url: r.url });
      result.page = page("other");
      return result;
    }
    const login = loginForm(html, r.url);
    if (login) {
      steps.push({ kind: "login", status: r.status, url: r.url });
      if (loggedIn || username === undefined) {
        result.page = page("login");
        return result;
      }
      loggedIn = true;
      const body = new URLSearchParams({ ...login.hidden, username, password });
      r = await jarFetch(jar, login.action, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", origin },
        body: body.toString(),
      });
      continue;
    }
    const consentPage = consentForm(html, r.url);
    if (consentPage) {
      steps.push({ kind: "consent", status: r.status, url: r.url });
      if (consent === "stop" || consented) {
        result.page = page("consent");
        return result;
      }
      consented = true;
      const body = new URLSearchParams({ ...consentPage.hidden, decision: consent });
      r = await jarFetch(jar, consentPage.action, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", origin },
        body: body.toString(),
      });
      continue;
    }
    const post = forms(html, r.url).find((f) => f.method === "post" && new URL(f.action).origin !== origin);
    if (r.status === 200 && post) {
      steps.push({ kind: "form_post", status: r.status, url: post.action });
      result.formPost = { action: post.action, fields: post.hidden };
      result.response = new URLSearchParams(post.hidden);
      result.code = result.response.get("code") ?? undefined;
      return result;
    }
    steps.push({ kind: "page", status: r.status, url: r.url });
    result.page = page("page");
    return result;
  }
  throw new Error(`too many hops: ${JSON.stringify(steps)}`);
}

/**
 * The whole flow for one app and user: authorization request, login, consent,
 * then the code at /token. Throws unless a code and tokens come back.
 */
export async function signIn({ issuer, app, user, redirect_uri, scope = "openid", jar, extra = {}, consent = "allow" }) {
  const { params, verifier } = authorizationParams({
    client_id: app.client_id,
    redirect_uri: redirect_uri ?? app.redirect_uris[0],
    scope,
    ...extra,
  });
  const login = await loginWithoutBrowser({
    issuer,
    jar,
    params,
    verifier,
    username: user.username,
    password: user.password,
    consent,
  });
  if (!login.code) {
    throw new Error(`no code: ${JSON.stringify(login.steps)} ${login.location ?? ""} ${login.page?.html?.slice(0, 400) ?? ""}`);
  }
  const token = await redeemCode(issuer, app, { code: login.code, verifier, redirect_uri: params.redirect_uri });
  if (token.status !== 200) throw new Error(`code redemption: ${token.status} ${token.text}`);
  return { ...login, token: token.json, tokenResponse: token };
}

// ---------------------------------------------------------------------------
// Token, revocation, introspection and userinfo requests

/** Headers and form fields that authenticate `app` at the token endpoint. */
export function clientAuth(app) {
  const method = app.token_endpoint_auth_method ?? (app.client_secret ? "client_secret_basic" : "none");
  if (method === "client_secret_basic") return { headers: { authorization: basicAuth(app.client_id, app.client_secret) }, fields: {} };
  if (method === "client_secret_post") return { headers: {}, fields: { client_id: app.client_id, client_secret: app.client_secret } };
  return { headers: {}, fields: { client_id: app.client_id } };
}

/** POST a form to `path` under the issuer with the app's client authentication. */
export async function postForm(issuer, path, app, fields, extraHeaders = {}) {
  const auth = app ? clientAuth(app) : { headers: {}, fields: {} };
  return getJson(`${issuer}${path}`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", ...auth.headers, ...extraHeaders },
    body: new URLSearchParams({ ...auth.fields, ...fields }).toString(),
    redirect: "manual",
  });
}

export async function redeemCode(issuer, app, { code, verifier, redirect_uri }) {
  const auth = clientAuth(app);
  const body = new URLSearchParams({
    grant_type: "authorization_code",
    code,
    redirect_uri,
    ...(verifier ? { code_verifier: verifier } : {}),
    ...auth.fields,
  });
  return await postToken(issuer, body.toString(), auth.headers);
}

export async function refresh(issuer, app, refresh_token, extra = {}) {
  const auth = clientAuth(app);
  const body = new URLSearchParams({ grant_type: "refresh_token", refresh_token, ...extra, ...auth.fields });
  return await postToken(issuer, body.toString(), auth.headers);
}

export const revoke = (issuer, app, token, extra = {}) => postForm(issuer, "/revoke", app, { token, ...extra });
export const introspect = (issuer, app, token, extra = {}) => postForm(issuer, "/introspect", app, { token, ...extra });

export async function userinfo(issuer, accessToken, { method = "GET", via = "header" } = {}) {
  const init = { method, headers: {} };
  if (via === "header" && accessToken !== undefined) init.headers.authorization = `Bearer ${accessToken}`;
  if (via === "body") {
    init.headers["content-type"] = "application/x-www-form-urlencoded";
    init.body = new URLSearchParams({ access_token: accessToken }).toString();
  }
  const res = await fetch(`${issuer}/userinfo`, init);
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { res, status: res.status, headers: res.headers, text, json };
}

// ---------------------------------------------------------------------------
// Local servers on 127.0.0.1 (redirect URIs, web origins)

/**
 * An http server on 127.0.0.1 that records every request (method, url, headers,
 * body) and answers 200 with `pages[pathname]` (HTML) or a short page.
 * @param {{pages?: Record<string,string>, port?: number}} [opts]
 */
export async function startSite(opts = {}) {
  const requests = [];
  const waiters = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const entry = {
        method: req.method,
        url: new URL(req.url, `http://${req.headers.host}`).toString(),
        path: new URL(req.url, "http://x").pathname,
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
      };
      requests.push(entry);
      for (const w of [...waiters]) {
        if (w.predicate(entry)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(entry);
        }
      }
      const page = opts.pages?.[entry.path];
      res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
      res.end(page ?? `<!doctype html><title>site</title><p>${req.method} ${entry.path}</p>`);
    });
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, "127.0.0.1", resolve);
  });
  const { port } = server.address();
  const origin = `http://127.0.0.1:${port}`;
  return {
    origin,
    port,
    requests,
    /** The first recorded (or future) request that matches. */
    waitFor(predicate, timeoutMs = 15_000) {
      const seen = requests.find(predicate);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const w = { predicate, resolve };
        waiters.push(w);
        setTimeout(() => {
          const i = waiters.indexOf(w);
          if (i >= 0) {
            waiters.splice(i, 1);
            reject(new Error(`no matching request at ${origin} within ${timeoutMs} ms`));
          }
        }, timeoutMs).unref();
      });
    },
    async close() {
      server.closeAllConnections?.();
      await new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
