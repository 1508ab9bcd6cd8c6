use serde::{Deserialize, Serialize};

/// A JWS signature algorithm Gatehouse implements (RFC 7518 section 3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Algorithm {
    /// ECDSA using P-256 and SHA-256; the signature is `r || s`, 64 bytes.
    ES256,
    /// RSASSA-PKCS1-v1_5 using SHA-256, with a modulus of at least 2048 bits.
    RS256,
}

impl Algorithm {
    /// The `alg` header value.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ES256 => "ES256",
            Self::RS256 => "RS256",
        }
    }

    /// Parses an `alg` header value; `none`, HMAC and anything unknown yield `None`.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "ES256" => Some(Self::ES256),
            "RS256" => Some(Self::RS256),
            _ => None,
        }
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
