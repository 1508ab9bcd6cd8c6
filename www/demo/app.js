// The demo single-page app: signs in with the browser package, shows the ID
// token's claims, calls the sample API through the edge gateway with the access
// token, renews, and signs out. Every failure is shown on the page with its code.

const $ = (id) => document.getElementById(id);

/** What the standard claims mean, for the claims table. */
const MEANING = {
  iss: "Issuer: who signed this token",
  sub: "Subject: your user id at the issuer",
  aud: "Audience: the app this token is for (its client id)",
  exp: "Expires at",
  iat: "Issued at",
  auth_time: "When you signed in",
  nonce: "Ties the token to this login request",
  azp: "Authorized party: the app that asked",
  at_hash: "Hash of the access token issued with it",
  sid: "Your session at the issuer",
  amr: "How you authenticated",
  acr: "Authentication context",
  name: "Full name",
  given_name: "Given name",
  family_name: "Family name",
  preferred_username: "Username",
  email: "Email address",
  email_verified: "Whether the email address was verified",
  updated_at: "Profile last updated",
};
const TIME_CLAIMS = new Set(["exp", "iat", "auth_time", "nbf", "updated_at"]);
const RENEWAL_PATHS = {
  refresh_token: "with the refresh token (a POST to the token endpoint)",
  silent_login: "by a silent login in a hidden iframe (prompt=none)",
  other_tab: "by another tab: this one took its tokens",
};

const buttons = {
  signIn: $("sign-in"),
  callApi: $("call-api"),
  renew: $("renew"),
  signOut: $("sign-out"),
};

let auth = null;
let config = null;

/** An Error with a `code`, like the package's own errors. */
function coded(code, message) {
  const error = new Error(message);
  error.code = code;
  return error;
}

function showError(error) {
  $("error-code").textContent = error?.code ?? error?.name ?? "error";
  $("error-message").textContent = error?.message || String(error);
  $("error").hidden = false;
  $("error-heading").focus();
}

function clearError() {
  $("error").hidden = true;
}

/** Runs one button's work: the buttons wait, a failure is shown, the page is redrawn. */
async function act(work) {
  clearError();
  for (const button of Object.values(buttons)) button.disabled = true;
  document.body.setAttribute("aria-busy", "true");
  try {
    await work();
  } catch (error) {
    showError(error);
  } finally {
    for (const button of Object.values(buttons)) button.disabled = false;
    document.body.removeAttribute("aria-busy");
    render();
  }
}

function formatValue(name, value) {
  if (TIME_CLAIMS.has(name) && typeof value === "number") {
    return `${new Date(value * 1000).toLocaleString()} (${value})`;
  }
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** The claims in a reading order: who you are first, then the token's own claims, then the rest. */
const ORDER = ["sub", "name", "given_name", "family_name", "preferred_username", "email", "email_verified", "updated_at"]
  .concat(Object.keys(MEANING));
const rank = (name) => (ORDER.includes(name) ? ORDER.indexOf(name) : ORDER.length);

function renderClaims(user) {
  const claims = Object.entries(user ?? {}).sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b));
  const rows = claims.map(([name, value]) => {
    const row = document.createElement("tr");
    const claim = document.createElement("th");
    claim.scope = "row";
    const code = document.createElement("code");
    code.textContent = name;
    claim.append(code);
    const shown = document.createElement("td");
    shown.textContent = formatValue(name, value);
    const meaning = document.createElement("td");
    meaning.textContent = MEANING[name] ?? "";
    row.append(claim, shown, meaning);
    return row;
  });
  $("claims").replaceChildren(...rows);
  $("claims-panel").hidden = rows.length === 0;
}

function render() {
  const signedIn = auth?.isAuthenticated() ?? false;
  const user = signedIn ? auth.getUser() : null;
  if (auth === null) {
    $("status").textContent = "Not ready.";
  } else if (signedIn) {
    const who = user?.name ?? user?.preferred_username ?? user?.email ?? user?.sub;
    $("status").textContent = `Signed in as ${who}.`;
  } else {
    $("status").textContent = "Signed out.";
  }
  buttons.signIn.hidden = auth === null || signedIn;
  buttons.callApi.hidden = !signedIn;
  buttons.renew.hidden = !signedIn;
  buttons.signOut.hidden = !signedIn;
  if (!signedIn) {
    $("api-panel").hidden = true;
    $("renew-panel").hidden = true;
  }
  renderClaims(user);
}

async function callApi() {
  const token = await auth.getAccessToken();
  $("api-request").textContent = `GET ${config.api}`;
  let response;
  try {
    response = await fetch(config.api, { headers: { authorization: `Bearer ${token}` }, cache: "no-store" });
  } catch (cause) {
    throw coded("network_error", `could not reach ${config.api}: ${cause.message} (is the gateway running?)`);
  }
  const text = await response.text();
  let body;
  try {
    body = JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    body = text;
  }
  const challenge = response.headers.get("www-authenticate");
  $("api-status").textContent =
    `${response.status} ${response.statusText}` + (challenge ? ` (WWW-Authenticate: ${challenge})` : "");
  $("api-status").className = response.ok ? "ok" : "bad";
  $("api-body").textContent = body || "(empty body)";
  $("api-panel").hidden = false;
  $("api-heading").focus();
}

async function renew() {
  const { via } = await auth.renew();
  const at = auth.lastRenewal?.at ?? new Date();
  $("renew-result").textContent = `Renewed at ${at.toLocaleTimeString()} via ${via}: ${RENEWAL_PATHS[via] ?? via}.`;
  $("renew-panel").hidden = false;
  $("renew-heading").focus();
}

async function loadConfig() {
  let response;
  try {
    response = await fetch("/config.json", { cache: "no-store" });
  } catch (cause) {
    throw coded("config_unavailable", `could not load /config.json: ${cause.message}`);
  }
  if (!response.ok) throw coded("config_unavailable", `/config.json answered ${response.status}`);
  try {
    return await response.json();
  } catch (cause) {
    throw coded("config_unavailable", `/config.json is not JSON: ${cause.message}`);
  }
}

async function loadPackage() {
  try {
    return await import("/pkg/index.js");
  } catch (cause) {
    throw coded(
      "package_unavailable",
      `could not load the browser package from /pkg/index.js (build it with scripts/build-web): ${cause.message}`,
    );
  }
}

async function start() {
  config = await loadConfig();
  $("config-issuer").textContent = config.issuer;
  $("config-client").textContent = config.clientId;
  $("config-api").textContent = config.api;
  const { createClient } = await loadPackage();
  const { api: _api, ...options } = config;
  auth = await createClient(options);
  auth.onChange(() => render());
  const params = new URLSearchParams(location.search);
  if (params.has("state") || params.has("error")) {
    // Back from the issuer: handleCallback also cleans the address bar.
    await auth.handleCallback();
    $("status-heading").focus();
  }
}

buttons.signIn.addEventListener("click", () => act(() => auth.login()));
buttons.callApi.addEventListener("click", () => act(callApi));
buttons.renew.addEventListener("click", () => act(renew));
buttons.signOut.addEventListener("click", () => act(() => auth.logout()));
$("dismiss").addEventListener("click", () => {
  clearError();
  $("status-heading").focus();
});

addEventListener("error", (event) => showError(event.error ?? event.message));
addEventListener("unhandledrejection", (event) => showError(event.reason));

try {
  await start();
} catch (error) {
  showError(error);
} finally {
  render();
}
