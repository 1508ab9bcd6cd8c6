//! JOSE: algorithms, JSON Web Keys and compact JWS (RFC 7515, 7517, 7518).
//!
//! Only what Gatehouse signs or verifies can be written down: [`Algorithm`] has no
//! `none` and no HMAC variant, so an `alg` header naming them fails at parsing.

mod alg;
mod jwk;
mod jws;

pub use alg::Algorithm;
pub use jwk::{Jwk, Jwks, KeyId, KeyType, KeyUse};
#[cfg(feature = "issuer")]
pub(crate) use jws::DecodedJws;
pub use jws::{CompactJws, JwsError, JwsHeader, MAX_TOKEN_BYTES, encode_compact, signing_input};

use base64::Engine as _;

/// Base64url without padding (RFC 7515 section 2).
#[must_use]
pub fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Strict base64url decoding: no padding, no whitespace, canonical trailing bits.
///
/// # Errors
///
/// Any deviation from the alphabet or length rules.
pub fn b64url_decode(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text)
}
