/** The package version. */
export function version(): string;

/** Where the refresh token (with the rest of the session) is kept between page loads. */
export type RefreshTokenStorage = "memory" | "session" | "local";

export interface ClientOptions {
  /** The issuer URL, exactly as its tokens name it (https; http only on loopback). */
  issuer: string;
  /** The app's client id. */
  clientId: string;
  /** The registered redirect URI that calls `handleCallback()`. */
  redirectUri: string;
  /** The scope to ask for; `openid` is always added. Add `offline_access` for refresh tokens. */
  scope?: string;
  /** A registered post-logout redirect URI. */
  postLogoutRedirectUri?: string;
  /** Clock-skew leeway for the ID token's `exp` and `iat`, 0 to 300 seconds (default 60). */
  leewaySeconds?: number;
  /**
   * `"memory"` (the default): tokens live in this page and the tabs it shares them
   * with, and are gone on reload. `"session"` or `"local"`: the session, refresh
   * token included, is kept in `sessionStorage` or `localStorage`, where any script
   * running on the origin can read it.
   */
  refreshTokenStorage?: RefreshTokenStorage;
}

export interface LoginOptions {
  /** `none`, `login`, `consent` or `select_account`. */
  prompt?: string;
  /** The username or email to prefill. */
  loginHint?: string;
  /** The most seconds since the user last signed in; `auth_time` is then checked. */
  maxAge?: number;
  /** More authorization parameters (`ui_locales`, `resource`, ...); they may not repeat one the login sets. */
  extraParams?: Record<string, string>;
}

/** The claims of the signed-in user's verified ID token. */
export interface User {
  iss: string;
  sub: string;
  aud: string | string[];
  exp: number;
  iat: number;
  auth_time?: number;
  nonce?: string;
  azp?: string;
  at_hash?: string;
  sid?: string;
  amr?: string[];
  name?: string;
  email?: string;
  email_verified?: boolean;
  [claim: string]: unknown;
}

/** How tokens were renewed: with the refresh token, by silent login in a hidden iframe, or by another tab. */
export type RenewalPath = "refresh_token" | "silent_login" | "other_tab";

/** Why `onChange` listeners were called. */
export type ChangeReason = "login" | "logout" | RenewalPath;

export interface Client {
  /** Sends the browser to the issuer's login page (never resolves: the page navigates away). */
  login(options?: LoginOptions): Promise<never>;
  /**
   * Completes the login on the redirect URI: checks `state` and `iss`, redeems the
   * code with PKCE, verifies the ID token in full, and removes `code`, `state` and
   * `iss` from the address bar. Resolves to the user's claims.
   */
  handleCallback(url?: string): Promise<User>;
  /** A valid access token, renewed when needed (refresh token, else silent login), one renewal at a time across tabs. */
  getAccessToken(): Promise<string>;
  /** Renews the tokens now; says which path it took. */
  renew(): Promise<{ via: RenewalPath }>;
  /** The signed-in user's claims, or null. */
  getUser(): User | null;
  /** Whether a user is signed in. */
  isAuthenticated(): boolean;
  /** The last renewal's path and time, or null. */
  readonly lastRenewal: { via: RenewalPath; at: Date } | null;
  /** Signs out in every tab, then goes to the issuer's logout when it offers one. */
  logout(): Promise<void>;
  /** Calls `callback` on every sign-in, renewal and sign-out (in this tab and the others); returns an unsubscribe function. */
  onChange(callback: (user: User | null, reason: ChangeReason) => void): () => void;
}

/** Creates a client: loads the wasm and the issuer's metadata, and restores a kept session. */
export function createClient(options: ClientOptions): Promise<Client>;

/** Verifies an ID token outside a login: signature against the issuer's JWKS and every claim check. */
export function verifyIdToken(
  token: string,
  options: { issuer: string; clientId: string; nonce?: string; accessToken?: string; leewaySeconds?: number },
): Promise<User>;

/**
 * Every error the package throws: `code` is the OAuth `error` the issuer answered
 * (`login_required`, `access_denied`, `invalid_grant`, ...) or the check that
 * failed: `invalid_config`, `discovery_failed`, `network_error`, `state_mismatch`,
 * `issuer_mismatch`, `login_expired`, `invalid_callback`, `invalid_token_response`,
 * `invalid_id_token`, `timeout`.
 */
export interface GatehouseError extends Error {
  name: "GatehouseError";
  code: string;
}
