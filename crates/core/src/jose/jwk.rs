use serde::{Deserialize, Serialize};

use super::{Algorithm, b64url_decode};
use crate::json;
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

/// A public JSON Web Key (RFC 7517) that may verify signatures. Private members are
/// not representable: a key parsed from a document that carried them is public only.
///
/// # Security
///
/// A key restricts itself with `alg`, `use` and `key_ops` (RFC 7517 sections 4.2 to
/// 4.4). A restriction Gatehouse cannot read is never taken for no restriction: a key
/// whose `alg` is not one of [`Algorithm`] (`PS256`, `RSA-OAEP`, ...), whose `use` is
/// not `sig`, or whose `key_ops` lack `verify` does not parse, so a [`Jwks`] skips it
/// and it never verifies anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawJwk")]
pub struct Jwk {
    /// Key type.
    pub kty: KeyType,
    /// Key id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<KeyId>,
    /// The algorithm the key is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<Algorithm>,
    /// Intended use.
    #[serde(default, rename = "use", skip_serializing_if = "Option::is_none")]
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

/// A JWK as written, before its restrictions are judged.
#[derive(Deserialize)]
struct RawJwk {
    kty: KeyType,
    #[serde(default)]
    kid: Option<KeyId>,
    #[serde(default)]
    alg: Option<String>,
    #[serde(default, rename = "use")]
    key_use: Option<String>,
    #[serde(default)]
    key_ops: Option<Vec<String>>,
    #[serde(default)]
    crv: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    y: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
}

/// Why a JWK is not a signature-verification key Gatehouse can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnusableKey(&'static str);

impl std::fmt::Display for UnusableKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl TryFrom<RawJwk> for Jwk {
    type Error = UnusableKey;

    fn try_from(raw: RawJwk) -> Result<Self, Self::Error> {
        let alg = match raw.alg.as_deref() {
            None => None,
            Some(name) => Some(
                Algorithm::from_name(name).ok_or(UnusableKey("key is for an unknown algorithm"))?,
            ),
        };
        let key_use = match raw.key_use.as_deref() {
            None => None,
            Some("sig") => Some(KeyUse::Signature),
            Some(_) => return Err(UnusableKey("key is not for signatures")),
        };
        if raw.key_ops.is_some_and(|ops| !ops.iter().any(|op| op == "verify")) {
            return Err(UnusableKey("key_ops do not allow verify"));
        }
        Ok(Self {
            kty: raw.kty,
            kid: raw.kid,
            alg,
            key_use,
            crv: raw.crv,
            x: raw.x,
            y: raw.y,
            n: raw.n,
            e: raw.e,
        })
    }
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
    /// (RFC 7517 section 5: ignore keys you do not understand), and so are keys
    /// restricted to something else or to something unknown (see [`Jwk`]).
    #[serde(deserialize_with = "skip_unreadable_keys")]
    pub keys: Vec<Jwk>,
}

fn skip_unreadable_keys<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Jwk>, D::Error> {
    // Each key is kept as its JSON text and parsed on its own, so one unreadable
    // key (any shape at all) drops only itself.
    let raw: Vec<Box<serde_json::value::RawValue>> = Vec::deserialize(d)?;
    Ok(raw.iter().filter_map(|v| serde_json::from_str(v.get()).ok()).collect())
}

impl json::Read for KeyType {
    fn read(r: &mut json::Reader<'_>) -> json::Result<Self> {
        match String::read(r)?.as_str() {
            "EC" => Ok(Self::EC),
            "RSA" => Ok(Self::RSA),
            _ => Err(json::Invalid),
        }
    }
}

impl json::Read for RawJwk {
    fn read(r: &mut json::Reader<'_>) -> json::Result<Self> {
        let (mut kty, mut kid, mut alg, mut key_use, mut key_ops) = (None, None, None, None, None);
        let (mut crv, mut x, mut y, mut n, mut e) = (None, None, None, None, None);
        r.object(&mut |r, key| match key {
            "kty" => json::once(&mut kty, KeyType::read(r)?),
            "kid" => json::once(&mut kid, Option::<String>::read(r)?.map(KeyId)),
            "alg" => json::once(&mut alg, Option::read(r)?),
            "use" => json::once(&mut key_use, Option::read(r)?),
            "key_ops" => json::once(&mut key_ops, Option::read(r)?),
            "crv" => json::once(&mut crv, Option::read(r)?),
            "x" => json::once(&mut x, Option::read(r)?),
            "y" => json::once(&mut y, Option::read(r)?),
            "n" => json::once(&mut n, Option::read(r)?),
            "e" => json::once(&mut e, Option::read(r)?),
            _ => r.skip(),
        })?;
        Ok(Self {
            kty: kty.ok_or(json::Invalid)?,
            kid: kid.flatten(),
            alg: alg.flatten(),
            key_use: key_use.flatten(),
            key_ops: key_ops.flatten(),
            crv: crv.flatten(),
            x: x.flatten(),
            y: y.flatten(),
            n: n.flatten(),
            e: e.flatten(),
        })
    }
}

impl json::Read for Jwk {
    fn read(r: &mut json::Reader<'_>) -> json::Result<Self> {
        Self::try_from(RawJwk::read(r)?).map_err(|_| json::Invalid)
    }
}

impl json::Read for Jwks {
    /// Each key is checked as JSON, then read on its own: one it cannot use (of any
    /// shape at all) drops only itself.
    fn read(r: &mut json::Reader<'_>) -> json::Result<Self> {
        let mut keys = None;
        r.object(&mut |r, key| match key {
            "keys" => {
                let mut usable = Vec::new();
                r.array(&mut |r| {
                    let text = std::str::from_utf8(r.raw()?).map_err(|_| json::Invalid)?;
                    usable.extend(json::from_slice::<Jwk>(text.as_bytes()).ok());
                    Ok(())
                })?;
                json::once(&mut keys, usable)
            }
            _ => r.skip(),
        })?;
        Ok(Self { keys: keys.ok_or(json::Invalid)? })
    }
}

impl Jwks {
    /// Reads a JWK Set document, skipping the keys it cannot use (see [`Jwk`]).
    ///
    /// # Errors
    ///
    /// [`json::Invalid`] when the document is not a JSON object with a `keys` array.
    pub fn from_json(json: &[u8]) -> Result<Self, json::Invalid> {
        json::from_slice(json)
    }

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

    /// An RSA public key of 2048 bits with the given restriction members.
    fn rsa_member(extra: serde_json::Value) -> serde_json::Value {
        let mut key = serde_json::json!({
            "kty": "RSA", "kid": "r1", "e": "AQAB", "n": super::super::b64url(&[0xc5; 256])
        });
        if let (Some(key), Some(extra)) = (key.as_object_mut(), extra.as_object()) {
            key.extend(extra.clone());
        }
        key
    }

    #[test]
    fn keys_restricted_to_something_else_or_unknown_are_skipped() {
        // Each of these once parsed with its restriction dropped, and so verified RS256.
        for restricted in [
            serde_json::json!({"alg": "PS256"}),
            serde_json::json!({"alg": "RSA-OAEP"}),
            serde_json::json!({"alg": "RS512"}),
            serde_json::json!({"alg": "rs256"}),
            serde_json::json!({"use": "enc"}),
            serde_json::json!({"use": "signature"}),
            serde_json::json!({"use": "sig", "key_ops": ["encrypt", "wrapKey"]}),
            serde_json::json!({"key_ops": []}),
            serde_json::json!({"alg": "RS256", "use": "enc"}),
        ] {
            let member = rsa_member(restricted.clone());
            assert!(serde_json::from_value::<Jwk>(member.clone()).is_err(), "{restricted}");
            let jwks: Jwks = serde_json::from_value(serde_json::json!({"keys": [member]})).unwrap();
            assert!(jwks.keys.is_empty(), "{restricted} was kept");
            assert!(jwks.find("r1").is_none());
        }
    }

    #[test]
    fn keys_restricted_to_rs256_signatures_are_kept() {
        for allowed in [
            serde_json::json!({}),
            serde_json::json!({"alg": "RS256"}),
            serde_json::json!({"use": "sig"}),
            serde_json::json!({"alg": "RS256", "use": "sig", "key_ops": ["verify"]}),
        ] {
            let key: Jwk = serde_json::from_value(rsa_member(allowed.clone())).unwrap();
            assert!(key.check_for(Algorithm::RS256).is_ok(), "{allowed}");
        }
    }

    #[test]
    fn a_kid_shared_with_an_encryption_key_finds_the_signing_key() {
        let jwks: Jwks = serde_json::from_value(serde_json::json!({"keys": [
            rsa_member(serde_json::json!({"use": "enc"})),
            rsa_member(serde_json::json!({"use": "sig"})),
        ]}))
        .unwrap();
        assert_eq!(jwks.keys.len(), 1);
        assert_eq!(jwks.find("r1").and_then(|k| k.key_use), Some(KeyUse::Signature));
    }

    #[test]
    fn a_key_serializes_its_restrictions_and_parses_back() {
        let key = ec_key();
        let text = serde_json::to_string(&key).unwrap();
        assert!(text.contains(r#""use":"sig""#) && text.contains(r#""alg":"ES256""#));
        assert_eq!(serde_json::from_str::<Jwk>(&text).unwrap(), key);
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
