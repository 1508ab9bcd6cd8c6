// openid-client v6 as the tests' relying party: its configuration from the
// issuer's discovery document, and authorization requests it builds (PKCE S256,
// state, nonce) with the checks to pass to its callback handling.

import * as client from "openid-client";

/**
 * openid-client's configuration for `app` at `issuer`: Basic with the app's
 * secret when it has one, else `auth` (e.g. `client.None()`).
 */
export async function configFor(issuer, app, auth) {
  return await client.discovery(
    new URL(issuer),
    app.client_id,
    app.client_secret ? { client_secret: app.client_secret } : undefined,
    auth ?? (app.client_secret ? client.ClientSecretBasic(app.client_secret) : client.None()),
    { execute: [client.allowInsecureRequests] },
  );
}

/** An authorization request built by openid-client (PKCE S256, state, nonce). */
export async function oidcRequest(config, redirect_uri, scope, extra = {}) {
  const verifier = client.randomPKCECodeVerifier();
  const checks = { pkceCodeVerifier: verifier, expectedState: client.randomState(), expectedNonce: client.randomNonce() };
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri,
    scope,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: "S256",
    state: checks.expectedState,
    nonce: checks.expectedNonce,
    ...extra,
  });
  return { url, checks: { ...checks, idTokenExpected: scope.split(" ").includes("openid") } };
}
