// Gatehouse for single-page apps. Every protocol decision (PKCE, state, nonce, the
// callback's iss, the token response, the ID token's signature and claims, when to
// renew) is made in the wasm core; this file does the browser's I/O: fetch,
// storage, Web Locks, BroadcastChannel, the hidden iframe and the address bar.

import init, { Core } from "./gatehouse_web.js";

const SILENT_TIMEOUT_MS = 10_000;
const CALLBACK_PARAMS = ["code", "state", "iss", "error", "error_description", "error_uri", "session_state"];

let ready;

/** Loads the wasm once per page. */
function loadWasm() {
  ready ??= init();
  return ready;
}

/** An Error with the OAuth `error` (or the failed check) in `code`. */
function fail(code, message, cause) {
  const error = new Error(message, cause === undefined ? undefined : { cause });
  error.name = "GatehouseError";
  error.code = code;
  return error;
}

/**
 * Runs a step of the core (see `Core::call` in the crate): `a` a string, `b` and
 * `c` strings or undefined, `n` a number. Returns its answer, or throws its error.
 */
function run(core, op, a = "", b, c, n = 0) {
  const answer = JSON.parse(core.call(op, n, a, b, c));
  if ("error" in answer) throw fail(answer.error, answer.message);
  return answer.ok;
}

/** The package version (once a client is created: it is the wasm's). */
export function version() {
  return run(new Core(), "version");
}

async function fetchText(url, init) {
  let response;
  try {
    response = await fetch(url, { credentials: "omit", cache: "no-store", redirect: "error", ...init });
  } catch (cause) {
    throw fail("network_error", `could not reach ${new URL(url).origin}: ${cause.message}`, cause);
  }
  return { status: response.status, body: await response.text() };
}

async function fetchJson(url, what) {
  const { status, body } = await fetchText(url, { headers: { accept: "application/json" } });
  if (status !== 200) throw fail("discovery_failed", `the issuer's ${what} answered ${status}`);
  return body;
}

/** WebCrypto's algorithms for a JWS `alg`: to import the key, and to verify. */
const ALGORITHMS = {
  ES256: [{ name: "ECDSA", namedCurve: "P-256" }, { name: "ECDSA", hash: "SHA-256" }],
  RS256: [{ name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, { name: "RSASSA-PKCS1-v1_5" }],
};

/** Keys imported into WebCrypto, by algorithm and key material (at most 64). */
const importedKeys = new Map();

/**
 * Finishes a check the core began: WebCrypto verifies the signature the core asks
 * for (a key it cannot import, or any failure, is an invalid signature), then the
 * core checks the claims with that verdict. Resolves to the claims.
 */
async function settle(core, { id, alg, jwk, input, signature }) {
  let valid = false;
  if (alg !== undefined) {
    try {
      const [importAlgorithm, verifyAlgorithm] = ALGORITHMS[alg];
      const cacheKey = `${alg}|${jwk.n ?? jwk.x}|${jwk.e ?? jwk.y}`;
      let key = importedKeys.get(cacheKey);
      if (key === undefined) {
        key = await crypto.subtle.importKey("jwk", jwk, importAlgorithm, false, ["verify"]);
        if (importedKeys.size >= 64) importedKeys.clear();
        importedKeys.set(cacheKey, key);
      }
      valid = await crypto.subtle.verify(verifyAlgorithm, key, new Uint8Array(signature), new TextEncoder().encode(input));
    } catch {
      valid = false;
    }
  }
  return run(core, "finish", valid ? "valid" : "", undefined, undefined, id);
}

function storageOf(kind) {
  if (kind === undefined || kind === "memory") return null;
  if (kind === "local") return globalThis.localStorage;
  if (kind === "session") return globalThis.sessionStorage;
  throw fail("invalid_config", 'refreshTokenStorage must be "memory", "session" or "local"');
}

/**
 * Creates a client of one issuer. Loads the wasm and the issuer's metadata, and
 * restores a kept session when `refreshTokenStorage` allows it.
 */
export async function createClient(options) {
  await loadWasm();
  const core = new Core();
  const { issuer, discoveryUrl } = run(core, "configure", JSON.stringify(options) ?? "");
  const storage = storageOf(options.refreshTokenStorage);
  const endpoints = run(core, "metadata", await fetchJson(discoveryUrl, "discovery document"));
  const client = new Client(core, `gatehouse:${issuer}:${options.clientId}`, endpoints, storage);
  client.restore();
  return client;
}

class Client {
  #core;
  #storage;
  #key;
  #endpoints;
  #listeners = new Set();
  #channel;
  #renewal = null;
  #imported = null;
  #waiting = new Map();
  #jwks = null;
  #lastRenewal = null;

  constructor(core, key, endpoints, storage) {
    this.#core = core;
    this.#storage = storage;
    this.#key = key;
    this.#endpoints = endpoints;
    if (typeof BroadcastChannel === "function") {
      this.#channel = new BroadcastChannel(this.#key);
      this.#channel.onmessage = (event) => this.#fromOtherTab(event.data);
    }
  }

  /** Runs a step of this client's core. */
  #run(op, a, b, c, n) {
    return run(this.#core, op, a, b, c, n);
  }

  /** Adopts the session kept in storage, if any. */
  restore() {
    const kept = this.#storage?.getItem(`${this.#key}:session`);
    if (kept && !this.#run("importSession", kept)) this.#storage.removeItem(`${this.#key}:session`);
  }

  /**
   * Sends the browser to the issuer's login page. Resolves never (the page
   * navigates away).
   */
  async login({ prompt, loginHint, maxAge, extraParams } = {}) {
    const { url, state, pending } = this.#run("begin", JSON.stringify({ prompt, loginHint, maxAge, extraParams }));
    sessionStorage.setItem(`${this.#key}:login:${state}`, pending);
    location.assign(url);
    return new Promise(() => {});
  }

  /**
   * Completes a login on the redirect URI: checks the callback, redeems the code,
   * verifies the ID token, and removes `code`, `state` and `iss` from the address
   * bar. Resolves to the user's ID-token claims.
   */
  async handleCallback(url = location.href) {
    const parsed = new URL(url);
    try {
      const query = parsed.search.slice(1);
      const state = this.#run("callbackState", query);
      const key = `${this.#key}:login:${state}`;
      const pending = state === null ? undefined : sessionStorage.getItem(key) ?? undefined;
      if (pending !== undefined) sessionStorage.removeItem(key);
      const user = await this.#redeem(query, pending);
      this.#changed(user, "login");
      return user;
    } finally {
      if (url === location.href) {
        for (const name of CALLBACK_PARAMS) parsed.searchParams.delete(name);
        history.replaceState(history.state, "", parsed.href);
      }
    }
  }

  /** Checks a callback (its query), redeems its code and opens the session. */
  async #redeem(query, pending) {
    const { status, body } = await this.#post(this.#run("callback", query, pending));
    return this.#verified(() => this.#run("acceptCode", body, pending, undefined, status));
  }

  /** A token request. */
  #post(form) {
    return fetchText(this.#endpoints.tokenEndpoint, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: form,
    });
  }

  /**
   * Runs a check (a core method that returns the signature to verify), fetching
   * the JWKS first when none is loaded, and once more when the token names a key it
   * lacks; then settles it.
   */
  async #verified(check) {
    if (!this.#run("hasJwks")) await this.#loadJwks();
    let request;
    try {
      request = check();
    } catch (error) {
      if (error.code !== "jwks_stale") throw error;
      await this.#loadJwks();
      request = check();
    }
    return settle(this.#core, request);
  }

  async #loadJwks() {
    this.#jwks ??= fetchJson(this.#endpoints.jwksUri, "JWKS")
      .then((json) => this.#run("jwks", json))
      .finally(() => (this.#jwks = null));
    return this.#jwks;
  }

  /**
   * A valid access token: the one held, or a renewed one (refresh token, or
   * silent login in a hidden iframe), one renewal at a time across tabs.
   */
  async getAccessToken() {
    const token = this.#run("accessToken");
    if (token !== null) return token;
    await this.renew();
    return this.#run("accessToken") ?? Promise.reject(fail("login_required", "the renewed access token is already expiring; check the clocks"));
  }

  /**
   * Renews the tokens now, one renewal at a time across tabs. Resolves to
   * `{ via }`: `"refresh_token"`, `"silent_login"` or `"other_tab"` (another tab
   * renewed while this one waited).
   */
  renew() {
    const seen = this.#marker();
    const held = this.#run("accessToken");
    this.#renewal ??= this.#underLock(() => this.#renewOnce(seen, held)).finally(() => (this.#renewal = null));
    return this.#renewal;
  }

  /**
   * A non-secret mark of the last renewal by any tab, in localStorage: a tab that
   * waited for the lock sees that another renewed, and waits for its result on the
   * BroadcastChannel (which may arrive after the lock) instead of spending the
   * same refresh token twice.
   */
  #marker() {
    try {
      return localStorage.getItem(`${this.#key}:renewed`);
    } catch {
      return null;
    }
  }

  #mark() {
    const mark = `${Date.now()}.${crypto.getRandomValues(new Uint32Array(1))[0]}`;
    try {
      localStorage.setItem(`${this.#key}:renewed`, mark);
    } catch {
      // No storage: tabs cannot coordinate beyond the lock.
    }
    return mark;
  }

  /** Waits (up to a second) for another tab's renewal marked `mark` to arrive. */
  #arrival(mark) {
    if (this.#imported === mark) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(finish, 1000);
      const waiting = this.#waiting;
      function finish() {
        clearTimeout(timer);
        waiting.delete(mark);
        resolve();
      }
      waiting.set(mark, finish);
    });
  }

  #underLock(work) {
    if (globalThis.navigator?.locks?.request) {
      return navigator.locks.request(`${this.#key}:renew`, work);
    }
    return work();
  }

  /**
   * `seen` is the renewal mark and `held` the access token (if still good) when
   * `renew()` was called: a good token other than `held` came from another tab.
   */
  async #renewOnce(seen, held) {
    // Another tab may have renewed while this one waited for the lock.
    this.restore();
    const mark = this.#marker();
    const renewedElsewhere = () => {
      const token = this.#run("accessToken");
      return token !== null && token !== held;
    };
    if (mark !== seen && mark !== null && !renewedElsewhere()) await this.#arrival(mark);
    if (renewedElsewhere()) return this.#renewed("other_tab");
    const form = this.#run("refreshForm");
    if (form !== null) {
      const { status, body } = await this.#post(form);
      try {
        const user = await this.#verified(() => this.#run("acceptRefresh", body, undefined, undefined, status));
        return this.#renewed("refresh_token", user);
      } catch (error) {
        if (error.code !== "invalid_grant") throw error;
        this.#run("dropRefreshToken");
      }
    }
    const user = await this.#silentLogin();
    return this.#renewed("silent_login", user);
  }

  #renewed(via, user) {
    this.#lastRenewal = { via, at: new Date() };
    if (via !== "other_tab") this.#changed(user, via);
    return { via };
  }

  /** `prompt=none` in a hidden iframe, answered by `web_message`. */
  async #silentLogin() {
    if (!this.#endpoints.webMessage) {
      throw fail("login_required", "the session cannot be renewed: no refresh token, and the issuer offers no silent login");
    }
    const { url, state, pending } = this.#run("begin", JSON.stringify({ prompt: "none", responseMode: "web_message" }));
    const issuerOrigin = new URL(url).origin;
    const iframe = document.createElement("iframe");
    iframe.hidden = true;
    iframe.title = "silent sign-in";
    let cleanup;
    const params = await new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(fail("timeout", "silent login got no answer in time: is this origin among the app's web origins?")),
        SILENT_TIMEOUT_MS,
      );
      const onMessage = (event) => {
        if (event.origin !== issuerOrigin || event.source !== iframe.contentWindow) return;
        if (event.data?.type !== "authorization_response" || event.data.response?.state !== state) return;
        resolve(event.data.response);
      };
      cleanup = () => {
        clearTimeout(timer);
        removeEventListener("message", onMessage);
        iframe.remove();
      };
      addEventListener("message", onMessage);
      iframe.src = url;
      document.body.appendChild(iframe);
    }).finally(() => cleanup());
    const query = new URLSearchParams(Object.entries(params).filter(([, v]) => typeof v === "string")).toString();
    try {
      return await this.#redeem(query, pending);
    } catch (error) {
      if (error.code === "login_required") {
        error.message += " (silent login: the issuer saw no session; the browser may block third-party cookies, so keep a refresh token with the offline_access scope)";
      }
      throw error;
    }
  }

  /** The signed-in user's ID-token claims, or null. */
  getUser() {
    return this.#run("claims");
  }

  /** Whether a user is signed in (the access token may still need renewing). */
  isAuthenticated() {
    return this.#run("subject") !== null;
  }

  /** How the last renewal went: `{ via, at }`, or null. */
  get lastRenewal() {
    return this.#lastRenewal;
  }

  /** Calls `callback(user, reason)` on every sign-in, renewal and sign-out, in this tab and the others. Returns an unsubscribe function. */
  onChange(callback) {
    this.#listeners.add(callback);
    return () => this.#listeners.delete(callback);
  }

  /**
   * Signs out: clears local state in every tab, then sends the browser to the
   * issuer's logout (RP-initiated logout) when it offers one.
   */
  async logout() {
    const url = this.#run("logoutUrl");
    this.#run("clearSession");
    this.#storage?.removeItem(`${this.#key}:session`);
    this.#channel?.postMessage({ type: "logout" });
    this.#notify(null, "logout");
    if (url !== null) {
      location.assign(url);
      return new Promise(() => {});
    }
  }

  /** After this tab's sign-in or renewal: keep, share, tell. */
  #changed(user, reason) {
    const session = this.#run("exportSession");
    this.#storage?.setItem(`${this.#key}:session`, session);
    this.#channel?.postMessage({ type: "session", session, mark: this.#mark() });
    this.#notify(user ?? this.#run("claims"), reason);
  }

  #fromOtherTab(message) {
    if (message?.type === "logout") {
      this.#run("clearSession");
      this.#notify(null, "logout");
    } else if (message?.type === "session" && typeof message.session === "string") {
      const before = this.#run("subject");
      if (this.#run("importSession", message.session)) {
        this.#imported = message.mark;
        this.#waiting.get(message.mark)?.();
        this.#notify(this.#run("claims"), before === this.#run("subject") ? "other_tab" : "login");
      }
    }
  }

  #notify(user, reason) {
    for (const listener of this.#listeners) {
      try {
        listener(user, reason);
      } catch (error) {
        console.error("gatehouse: an onChange listener threw", error);
      }
    }
  }
}

/**
 * Verifies an ID token outside a login (for example one received from your
 * backend): signature against the issuer's JWKS and every claim check. Resolves
 * to its claims.
 */
export async function verifyIdToken(token, { issuer, clientId, nonce, accessToken, leewaySeconds }) {
  await loadWasm();
  const core = new Core();
  const { discoveryUrl } = run(core, "configure", JSON.stringify({ issuer, clientId, redirectUri: issuer, leewaySeconds }));
  const { jwksUri } = run(core, "metadata", await fetchJson(discoveryUrl, "discovery document"));
  run(core, "jwks", await fetchJson(jwksUri, "JWKS"));
  return settle(core, run(core, "verifyIdToken", token, nonce, accessToken));
}
