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

use base64ct::Encoding as _;

/// Base64url without padding (RFC 7515 section 2).
#[must_use]
pub fn b64url(bytes: &[u8]) -> String {
    base64ct::Base64UrlUnpadded::encode_string(bytes)
}

/// Strict base64url decoding: no padding, no whitespace, canonical trailing bits.
///
/// # Errors
///
/// Any deviation from the alphabet or length rules.
pub fn b64url_decode(text: &str) -> Result<Vec<u8>, base64ct::Error> {
    base64ct::Base64UrlUnpadded::decode_vec(text)
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(5000))]
        /// The same strictness as the base64 crate's URL_SAFE_NO_PAD, which read
        /// JOSE before.
        #[test]
        fn decodes_as_the_base64_crate_did(text in "[A-Za-z0-9_=+/ -]{0,12}") {
            let before = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&text).ok();
            proptest::prop_assert_eq!(super::b64url_decode(&text).ok(), before);
        }

        #[test]
        fn encodes_as_the_base64_crate_did(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..40)) {
            let before = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes);
            proptest::prop_assert_eq!(super::b64url(&bytes), before);
        }
    }
}
