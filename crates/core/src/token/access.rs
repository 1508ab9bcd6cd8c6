//! JWT access tokens (RFC 9068).

use serde::{Deserialize, Serialize};

#[cfg(feature = "issuer")]
use crate::jose::{JwsHeader, encode_compact, signing_input};
#[cfg(feature = "issuer")]
use crate::keys::SigningKey;
#[cfg(feature = "issuer")]
use crate::platform::{CryptoError, Signer};
use crate::types::{ScopeSet, UnixTime};

/// The `typ` header of a JWT access token (RFC 9068 section 2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// The claims of a JWT access token (RFC 9068 section 2.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    /// Issuer.
    pub iss: String,
    /// Subject: the user, or the client itself for client credentials.
    pub sub: String,
    /// Audience: the resource(s) the token is for.
    pub aud: Audience,
    /// Expiry.
    pub exp: UnixTime,
    /// Issued at.
    pub iat: UnixTime,
    /// Unique token id.
    pub jti: String,
    /// The client the token was issued to.
    pub client_id: String,
    /// Granted scopes, space-delimited (omitted when none were granted).
    #[serde(default, skip_serializing_if = "ScopeSet::is_empty")]
    pub scope: ScopeSet,
}

/// The `aud` claim: one audience or several (RFC 7519 section 4.1.3). Written as a
/// string when there is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "OneOrMany")]
pub struct Audience(Vec<String>);

/// A string or an array of strings, read without buffering the value (an untagged
/// enum would, at a cost in code size the browser package feels).
impl<'de> Deserialize<'de> for Audience {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Audience;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or an array of strings")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Audience, E> {
                Ok(Audience(vec![v.to_owned()]))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Audience, A::Error> {
                let mut all = Vec::new();
                while let Some(one) = seq.next_element::<String>()? {
                    all.push(one);
                }
                Ok(Audience(all))
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl crate::json::Read for Audience {
    /// A string or an array of strings.
    fn read(r: &mut crate::json::Reader<'_>) -> crate::json::Result<Self> {
        if r.at_string() { String::read(r).map(Self::one) } else { Vec::read(r).map(Self) }
    }
}

impl Audience {
    /// A single audience.
    #[must_use]
    pub fn one(value: impl Into<String>) -> Self {
        Self(vec![value.into()])
    }

    /// The audiences, in order.
    pub fn iter(&self) -> impl Iterator<Item = &String> {
        self.0.iter()
    }

    /// An audience of several recipients (one is serialized as a string).
    #[must_use]
    pub fn many(values: Vec<String>) -> Self {
        Self(values)
    }

    /// Whether `value` is one of the audiences.
    #[must_use]
    pub fn contains(&self, value: &str) -> bool {
        self.0.iter().any(|a| a == value)
    }

    /// How many audiences it names.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it names none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[derive(Serialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl From<Audience> for OneOrMany {
    fn from(mut value: Audience) -> Self {
        if value.0.len() == 1 { Self::One(value.0.remove(0)) } else { Self::Many(value.0) }
    }
}

#[cfg(feature = "issuer")]
/// Signs `claims` as an `at+jwt` with `key`.
///
/// # Errors
///
/// [`CryptoError`] if signing fails.
pub async fn mint_access_token<C: Signer>(
    crypto: &C,
    key: &SigningKey<'_>,
    claims: &AccessTokenClaims,
) -> Result<String, CryptoError> {
    sign(crypto, key, claims).await
}

/// The claims of an access token that carries the user's `permissions` and
/// `roles` (arrays of names, left out when empty) beside the RFC 9068 ones.
#[cfg(feature = "issuer")]
#[derive(Serialize)]
pub struct WithAccess<'a> {
    /// The RFC 9068 claims.
    #[serde(flatten)]
    pub claims: &'a AccessTokenClaims,
    /// Permission names, for the app the token is issued to.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub permissions: &'a [String],
    /// Role names.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub roles: &'a [String],
    /// The claims the authorization request's `claims` parameter asked the
    /// userinfo endpoint to return (OpenID Connect Core section 5.5), which reads
    /// them back from the token.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub userinfo_claims: &'a [String],
    /// The app's additional claims (`token_claims`), none of which any member
    /// above uses (their names are protected).
    #[serde(flatten)]
    pub extra: &'a serde_json::Map<String, serde_json::Value>,
}

#[cfg(feature = "issuer")]
/// Signs `claims` (with permissions and roles) as an `at+jwt` with `key`.
///
/// # Errors
///
/// [`CryptoError`] if signing fails.
pub async fn mint_access_token_with<C: Signer>(
    crypto: &C,
    key: &SigningKey<'_>,
    claims: &WithAccess<'_>,
) -> Result<String, CryptoError> {
    sign(crypto, key, claims).await
}

#[cfg(feature = "issuer")]
async fn sign<C: Signer, T: Serialize>(
    crypto: &C,
    key: &SigningKey<'_>,
    claims: &T,
) -> Result<String, CryptoError> {
    let header = JwsHeader {
        alg: key.alg,
        typ: Some(ACCESS_TOKEN_TYP.to_owned()),
        kid: Some(key.kid.as_str().to_owned()),
    };
    let input = signing_input(&header, claims).map_err(|_| CryptoError)?;
    let signature = crypto.sign(key, input.as_bytes()).await?;
    Ok(encode_compact(&input, &signature))
}
