//! Minting tokens: JWT access tokens (RFC 9068), ID tokens (OpenID Connect Core),
//! and the random identifiers behind codes, refresh tokens and sessions.

mod access;
#[cfg(feature = "issuer")]
mod id_token;

pub use access::{ACCESS_TOKEN_TYP, AccessTokenClaims, Audience};
#[cfg(feature = "issuer")]
pub use access::{WithAccess, mint_access_token, mint_access_token_with};
#[cfg(feature = "issuer")]
pub use id_token::{SCOPE_CLAIMS, mint_id_token, released_claims, user_claims};

use rand_core::CryptoRngCore;

use crate::jose::b64url;

/// Claims an app can never set: those the issuer's tokens carry (RFC 7519 section
/// 4.1, RFC 9068 section 2.2, OpenID Connect Core section 2, and Gatehouse's
/// `permissions`, `roles` and `userinfo_claims`), and those other token
/// specifications give a meaning (RFC 8693 `act` / `may_act`, RFC 7800 `cnf`,
/// OpenID Connect's aggregated claims and logout tokens).
pub const PROTECTED_CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "typ",
    "client_id",
    "scope",
    "nonce",
    "auth_time",
    "acr",
    "amr",
    "azp",
    "at_hash",
    "c_hash",
    "s_hash",
    "sid",
    "cnf",
    "act",
    "may_act",
    "events",
    "sub_jwk",
    "_claim_names",
    "_claim_sources",
    "roles",
    "permissions",
    "groups",
    "entitlements",
    "userinfo_claims",
];

/// Whether `name` is one of the [`PROTECTED_CLAIMS`].
#[must_use]
pub fn is_protected(name: &str) -> bool {
    PROTECTED_CLAIMS.contains(&name)
}

/// A fresh random identifier of `bytes` random bytes, base64url (`jti`, ids, secrets).
#[must_use]
pub fn random_id(rng: &mut dyn CryptoRngCore, bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rng.fill_bytes(&mut buf);
    b64url(&buf)
}
