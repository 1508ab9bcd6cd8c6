//! # gatehouse-core
//!
//! The sans-I/O protocol engine of Gatehouse, an OAuth 2.0 / OpenID Connect issuer
//! for the edge. This crate does no I/O: the host passes in the time, randomness,
//! storage and crypto ([`Platform`]), and gets back a response for every request
//! ([`Engine::handle`] never fails and never panics on bad input). The same code runs
//! in the Cloudflare Workers issuer, the edge gateway and native tests.
//!
//! ## Module map
//!
//! | module | what it holds |
//! | --- | --- |
//! | [`engine`] | [`Engine`], [`Context`] and the router |
//! | [`admin`] | the management API under `/admin/v1/` (RFC 9457 problem details) |
//! | [`policy`] | app types and the rules each brings |
//! | [`password`] | Argon2id password hashing at OWASP cost |
//! | `flow` (private) | one module per grant / endpoint |
//! | [`client_auth`] | client authentication at the token endpoint |
//! | [`discovery`] | RFC 8414 / OpenID Provider metadata |
//! | [`token`] | minting JWT access tokens (RFC 9068) |
//! | [`verify`] | verifying them (issuer endpoints, gateway, your own worker) |
//! | [`gateway`] | the edge gateway: config, routes, JWKS cache policy, verified-token cache |
//! | [`jose`] | algorithms, JWKs, compact JWS |
//! | [`keys`] | the signing keyring and sealing private keys at rest |
//! | [`store`] | storage traits, their contracts, memory stores (`test-util`) |
//! | [`platform`] | the crypto trait and the [`Platform`] bundle |
//! | [`types`] | spec-named newtypes |
//! | [`error`] | [`ErrorCode`] and [`OAuthError`] |
//! | [`http`] | request/response types, strict form parsing |
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

pub mod admin;
pub mod cache;
pub mod client_auth;
pub mod config;
pub mod context;
pub mod discovery;
pub mod engine;
pub mod error;
pub mod fetch;
mod flow;
pub mod gateway;
pub mod http;
pub mod jose;
pub mod keys;
pub mod model;
pub mod password;
pub mod platform;
pub mod policy;
pub mod router;
pub mod store;
#[cfg(test)]
mod test_rng;
pub mod token;
pub mod types;
pub mod verify;

pub use config::Config;
pub use context::Context;
pub use engine::Engine;
pub use error::{ErrorCode, OAuthError};
pub use platform::{Platform, Signer, Verifier};
