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

/// A fresh random identifier of `bytes` random bytes, base64url (`jti`, ids, secrets).
#[must_use]
pub fn random_id(rng: &mut dyn CryptoRngCore, bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rng.fill_bytes(&mut buf);
    b64url(&buf)
}
