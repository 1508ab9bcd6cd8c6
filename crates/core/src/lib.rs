//! # gatehouse-core
//!
//! The sans-I/O protocol engine of Gatehouse, an OAuth 2.0 / OpenID Connect issuer
//! for the edge. This crate does no I/O: the host passes in the time, randomness,
//! storage and crypto ([`Platform`]), and gets back a response for every request
//! ([`Engine::handle`] never fails and never panics on bad input). The same code runs
//! in the Cloudflare Workers issuer, the edge gateway and native tests.
//!
//! ## Features
//!
//! With no feature the crate is a verifier and a relying party: [`jose`], [`types`],
//! [`verify`], [`rp`] and the token claims, over any [`Verifier`]. `gateway` adds the edge gateway's
//! configuration, routes and caches; `issuer` adds everything that issues tokens
//! (the engine, the flows, the management API, the keyring, password hashing);
//! `test-util` adds the memory stores. The default is `issuer` and `gateway`; the
//! browser package uses no feature, so none of the issuer is compiled into it.
//!
//! ## Module map
//!
//! | module | what it holds |
//! | --- | --- |
//! | [`engine`] | [`Engine`]: configuration, platform, what the isolate keeps |
//! | [`endpoints`] | the table of endpoints: paths, methods, CORS, handlers |
//! | [`router`] | dispatch through the table: [`Engine::handle`] |
//! | [`context`] | [`Context`]: one request's time, randomness and deferred work |
//! | [`session`] | the SSO session cookie and record, and remembered consent |
//! | [`model`] | the records and their rules: apps, scopes, resources, users, roles, hooks |
//! | [`admin`] | the management API's routes under `/admin/v1/` (RFC 9457 problem details) |
//! | [`policy`] | app types and the rules each brings; grant and response types |
//! | [`pages`] | hosted pages: typed view data rendered to escaped HTML |
//! | [`password`] | Argon2id password hashing at OWASP cost |
//! | [`totp`] | the second factor: TOTP codes, base32, `otpauth` URIs, recovery codes |
//! | `flow` (private) | one module per grant / endpoint: authorize, login and consent, code, refresh, userinfo, revoke and introspect, logout |
//! | [`hooks`] | lifecycle hooks: signed webhook deliveries, their payloads, claims a hook may add |
//! | [`client_auth`] | client authentication at the token endpoint |
//! | [`discovery`] | RFC 8414 / OpenID Provider metadata, derived from the router |
//! | [`token`] | token claims; minting JWT access tokens (RFC 9068) |
//! | [`verify`] | verifying them (issuer endpoints, gateway, your own worker) |
//! | [`rp`] | the relying party: PKCE login, callback, token response, ID-token checks (the browser package) |
//! | [`gateway`] | the edge gateway: config, routes, JWKS cache policy, verified-token cache |
//! | [`jose`] | algorithms, JWKs, compact JWS |
//! | [`json`] | the verifier's and the relying party's strict JSON reader (and writer), small enough for the browser |
//! | [`keys`] | the signing keyring and sealing private keys at rest |
//! | [`store`] | storage traits, every key ([`store::schema`]), memory stores (`test-util`) |
//! | [`platform`] | [`Verifier`], [`Signer`] and the [`Platform`] bundle |
//! | [`types`] | spec-named newtypes |
//! | [`error`] | [`ErrorCode`] and [`OAuthError`] |
//! | [`http`] | request/response types, strict form and bearer parsing |
//! | [`config`] | issuer configuration from host variables |
//!
//! ## Mint, then verify
//!
//! ```
//! use gatehouse_core::jose::Algorithm;
//! use gatehouse_core::keys::{Kek, Keyring};
//! use gatehouse_core::token::{AccessTokenClaims, Audience, mint_access_token};
//! use gatehouse_core::types::{ScopeSet, UnixTime};
//! use gatehouse_core::verify::{AccessTokenPolicy, verify_access_token};
//! use gatehouse_testkit::{NativeCrypto, seeded_rng};
//!
//! # pollster::block_on(async {
//! let crypto = NativeCrypto::default();
//! let mut rng = seeded_rng(7);
//! let kek = Kek::derive(b"a key-encryption secret of 32+ bytes").unwrap();
//! let now = UnixTime::from_secs(1_700_000_000);
//! let ring = Keyring::generate(&crypto, &kek, now, &mut rng).await.unwrap();
//!
//! let claims = AccessTokenClaims {
//!     iss: "https://id.example.com".into(),
//!     sub: "svc-orders".into(),
//!     aud: Audience::one("https://api.example.com"),
//!     exp: now.plus(3600),
//!     iat: now,
//!     jti: "a-unique-id".into(),
//!     client_id: "svc-orders".into(),
//!     scope: ScopeSet::parse("orders:read").unwrap(),
//! };
//! let key = ring.signing_key(Algorithm::ES256, now, &kek).unwrap();
//! let token = mint_access_token(&crypto, &key, &claims).await.unwrap();
//!
//! let policy = AccessTokenPolicy::new("https://id.example.com", "https://api.example.com");
//! let verified = verify_access_token(&crypto, &ring.jwks(now), &policy, &token, now.plus(60))
//!     .await
//!     .unwrap();
//! assert_eq!(verified, claims);
//! # });
//! ```

#[cfg(feature = "issuer")]
pub mod admin;
#[cfg(feature = "issuer")]
pub mod cache;
#[cfg(feature = "issuer")]
pub mod client_auth;
#[cfg(feature = "issuer")]
pub mod config;
#[cfg(feature = "issuer")]
pub mod context;
#[cfg(feature = "issuer")]
pub mod discovery;
#[cfg(feature = "issuer")]
pub mod endpoints;
#[cfg(feature = "issuer")]
pub mod engine;
#[cfg(any(feature = "issuer", feature = "gateway"))]
pub mod error;
#[cfg(any(feature = "issuer", feature = "gateway"))]
pub mod fetch;
#[cfg(feature = "issuer")]
mod flow;
#[cfg(feature = "gateway")]
pub mod gateway;
#[cfg(feature = "issuer")]
pub mod hooks;
pub mod http;
pub mod jose;
pub mod json;
#[cfg(feature = "issuer")]
pub mod keys;
#[cfg(feature = "issuer")]
pub mod model;
#[cfg(feature = "issuer")]
pub mod pages;
#[cfg(feature = "issuer")]
pub mod password;
pub mod platform;
#[cfg(feature = "issuer")]
pub mod policy;
#[cfg(feature = "issuer")]
pub mod router;
pub mod rp;
#[cfg(feature = "issuer")]
pub mod session;
#[cfg(feature = "issuer")]
pub mod store;
#[cfg(test)]
mod test_rng;
pub mod token;
#[cfg(feature = "issuer")]
pub mod totp;
pub mod types;
pub mod verify;

#[cfg(feature = "issuer")]
pub use config::Config;
#[cfg(feature = "issuer")]
pub use context::Context;
#[cfg(feature = "issuer")]
pub use engine::Engine;
#[cfg(any(feature = "issuer", feature = "gateway"))]
pub use error::{ErrorCode, OAuthError};
pub use platform::Verifier;
#[cfg(feature = "issuer")]
pub use platform::{Platform, Signer};
