use serde::{Deserialize, Serialize};

use super::{Algorithm, b64url_decode};
use crate::types::InvalidValue;

/// A key id (`kid`, RFC 7517 section 4.5).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyId(String);

impl KeyId {
    /// Wraps a key id.
    #[must_use]
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The key id as sent on the wire.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The `kty` of a JWK (RFC 7518 section 6.1), limited to the families Gatehouse uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyType {
    /// Elliptic curve.
    EC,
    /// RSA.
    RSA,
}

/// The `use` of a JWK (RFC 7517 section 4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyUse {
    /// Signatures.
    #[serde(rename = "sig")]
    Signature,
    /// Encryption.
    #[serde(rename = "enc")]
    Encryption,
}

/// A public JSON Web Key (RFC 7517). Private members are not representable: a key
/// parsed from a document that carried them is public only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// Key type.
    pub kty: KeyType,
    /// Key id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<KeyId>,
    /// The algorithm the key is for.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient_alg")]
    pub alg: Option<Algorithm>,
    /// Intended use.
    #[serde(
        default,
        rename = "use",
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_use"
    )]
    pub key_use: Option<KeyUse>,
    /// EC curve name (`P-256`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// EC x coordinate, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// EC y coordinate, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// RSA modulus, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA public exponent, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
}

/// An unknown `alg` makes the key unusable rather than the whole JWKS unreadable.
fn lenient_alg<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Algorithm>, D::Error> {
    let name: Option<String> = Option::deserialize(d)?;
    Ok(name.as_deref().and_then(Algorithm::from_name))
}

fn lenient_use<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<KeyUse>, D::Error> {
    let value: Option<String> = Option::deserialize(d)?;
    Ok(match value.as_deref() {
        Some("sig") => Some(KeyUse::Signature),
        Some("enc") => Some(KeyUse::Encryption),
        _ => None,
    })
}

impl Jwk {
    /// Whether this key may verify a signature made with `alg`: the key type and curve
    /// fit the algorithm, a declared `alg` equals it, a declared `use` is `sig`, and the
    /// key material has the right shape (P-256 coordinates of 32 bytes; an RSA modulus
    /// of at least 2048 bits).
    ///
    /// # Errors
    ///
    /// [`InvalidValue`] naming the mismatch.
    pub fn check_for(&self, alg: Algorithm) -> Result<(), InvalidValue> {
        if self.alg.is_some_and(|a| a != alg) {
            return Err(InvalidValue("key is for another algorithm"));
        }
        if self.key_use.is_some_and(|u| u != KeyUse::Signature) {
            return Err(InvalidValue("key is not for signatures"));
        }
        match alg {
            Algorithm::ES256 => {
                if self.kty != KeyType::EC || self.crv.as_deref() != Some("P-256") {
                    return Err(InvalidValue("es256 needs an ec p-256 key"));
                }
                let coordinate_ok = |c: &Option<String>| {
                    c.as_deref().and_then(|c| b64url_decode(c).ok()).is_some_and(|b| b.len() == 32)
                };
                if !coordinate_ok(&self.x) || !coordinate_ok(&self.y) {
                    return Err(InvalidValue("ec key coordinates are malformed"));
                }
            }
            Algorithm::RS256 => {
                if self.kty != KeyType::RSA {
                    return Err(InvalidValue("rs256 needs an rsa key"));
                }
                let n = self.n.as_deref().and_then(|n| b64url_decode(n).ok()).unwrap_or_default();
                let bits = n.iter().skip_while(|b| **b == 0).count() * 8;
                if bits < 2048 {
                    return Err(InvalidValue("rsa modulus must be at least 2048 bits"));
                }
                if self
                    .e
                    .as_deref()
                    .and_then(|e| b64url_decode(e).ok())
                    .is_none_or(|e| e.is_empty())
                {
                    return Err(InvalidValue("rsa exponent is malformed"));
                }
            }
        }
        Ok(())
    }
}

/// A JWK Set (RFC 7517 section 5).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwks {
    /// The keys. Members that fail to parse as a supported public key are skipped
    /// (RFC 7517 section 5: ignore keys you do not understand).
    #[serde(deserialize_with = "skip_unreadable_keys")]
    pub keys: Vec<Jwk>,
}

fn skip_unreadable_keys<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Jwk>, D::Error> {
    let raw: Vec<serde_json::Value> = Vec::deserialize(d)?;
    Ok(raw.into_iter().filter_map(|v| serde_json::from_value(v).ok()).collect())
}

impl Jwks {
    /// The key with id `kid`, if any.
    #[must_use]
    pub fn find(&self, kid: &str) -> Option<&Jwk> {
        self.keys.iter().find(|k| k.kid.as_ref().is_some_and(|k| k.as_str() == kid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ec_key() -> Jwk {
        serde_json::from_value(serde_json::json!({
            "kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256", "use": "sig",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
        }))
        .unwrap()
    }

    #[test]
    fn ec_key_fits_es256_only() {
        let key = ec_key();
        assert!(key.check_for(Algorithm::ES256).is_ok());
        assert!(key.check_for(Algorithm::RS256).is_err());
    }

    #[test]
    fn private_members_are_dropped() {
        let key: Jwk = serde_json::from_value(serde_json::json!({
            "kty": "EC", "crv": "P-256", "d": "secret",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
        }))
        .unwrap();
        assert!(!serde_json::to_string(&key).unwrap().contains("secret"));
    }

    #[test]
    fn jwks_skips_keys_it_cannot_read() {
        let jwks: Jwks = serde_json::from_value(serde_json::json!({"keys": [
            {"kty": "oct", "k": "abc"},
            {"kty": "EC", "crv": "P-256", "kid": "k1", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}
        ]}))
        .unwrap();
        assert_eq!(jwks.keys.len(), 1);
        assert!(jwks.find("k1").is_some());
        assert!(jwks.find("k2").is_none());
    }

    #[test]
    fn short_rsa_modulus_is_refused() {
        let key = Jwk {
            kty: KeyType::RSA,
            kid: None,
            alg: None,
            key_use: None,
            crv: None,
            x: None,
            y: None,
            n: Some(super::super::b64url(&[0xff; 128])),
            e: Some("AQAB".into()),
        };
        assert!(key.check_for(Algorithm::RS256).is_err());
        let key = Jwk { n: Some(super::super::b64url(&[0xff; 256])), ..key };
        assert!(key.check_for(Algorithm::RS256).is_ok());
    }
}
