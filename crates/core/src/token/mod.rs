//! Minting tokens: JWT access tokens (RFC 9068) now; ID tokens, codes and refresh
//! tokens join here as the flows that issue them arrive.

mod access;

#[cfg(feature = "issuer")]
pub use access::mint_access_token;
pub use access::{ACCESS_TOKEN_TYP, AccessTokenClaims, Audience};

use rand_core::CryptoRngCore;

use crate::jose::b64url;

/// A fresh random identifier of `bytes` random bytes, base64url (`jti`, ids, secrets).
#[must_use]
pub fn random_id(rng: &mut dyn CryptoRngCore, bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rng.fill_bytes(&mut buf);
    b64url(&buf)
}
