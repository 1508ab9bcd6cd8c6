//! Client identifiers and secrets (RFC 6749 section 2.2 and 2.3.1).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::InvalidValue;

/// The longest client id accepted (ids are generated, far shorter).
const MAX_CLIENT_ID_LEN: usize = 255;

/// A client identifier (RFC 6749 section 2.2): printable ASCII (`VSCHAR`, appendix A.1),
/// 1 to 255 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClientId(String);

impl ClientId {
    /// Validates `value` as a client id.
    ///
    /// # Errors
    ///
    /// [`InvalidValue`] if it is empty, too long or not printable ASCII.
    pub fn new(value: impl Into<String>) -> Result<Self, InvalidValue> {
        let value = value.into();
        if value.is_empty() || value.len() > MAX_CLIENT_ID_LEN {
            return Err(InvalidValue("client id must be 1 to 255 characters"));
        }
        if !value.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            return Err(InvalidValue("client id must be printable ascii"));
        }
        Ok(Self(value))
    }

    /// The id as sent on the wire.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ClientId {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<ClientId> for String {
    fn from(value: ClientId) -> Self {
        value.0
    }
}

impl std::fmt::Display for ClientId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A client secret as presented by a client (RFC 6749 section 2.3.1).
///
/// Redacted in `Debug`, not `Clone`, and only ever compared through
/// [`ClientSecret::matches`], which compares SHA-256 digests in constant time so that
/// neither contents nor length leak through timing.
pub struct ClientSecret(String);

impl ClientSecret {
    /// Wraps a presented secret.
    #[must_use]
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// The SHA-256 digest under which a (high-entropy, generated) secret is stored.
    #[must_use]
    pub fn digest(&self) -> [u8; 32] {
        Sha256::digest(self.0.as_bytes()).into()
    }

    /// Whether this secret hashes to `stored_digest`, in constant time.
    #[must_use]
    pub fn matches(&self, stored_digest: &[u8; 32]) -> bool {
        self.digest().ct_eq(stored_digest).into()
    }

    /// The secret itself, for the one place that must show it (creation, reset).
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientSecret(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_id_rules() {
        assert!(ClientId::new("abc-123").is_ok());
        assert!(ClientId::new("").is_err());
        assert!(ClientId::new("a\u{7f}").is_err());
        assert!(ClientId::new("é").is_err());
        assert!(ClientId::new("a".repeat(256)).is_err());
    }

    #[test]
    fn secret_matches_its_digest_only() {
        let secret = ClientSecret::new("s3cret".into());
        assert!(secret.matches(&ClientSecret::new("s3cret".into()).digest()));
        assert!(!secret.matches(&ClientSecret::new("s3cret ".into()).digest()));
        assert_eq!(format!("{secret:?}"), "ClientSecret(..)");
    }
}
