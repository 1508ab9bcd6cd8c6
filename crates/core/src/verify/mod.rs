//! Verifying JWTs on one typestate pipeline, for every kind the issuer signs: access
//! tokens (RFC 9068 section 4, [`access`]) and ID tokens (OpenID Connect Core
//! section 3.1.3.7, [`id_token`]). The issuer's own endpoints, the edge gateway, the
//! browser package and other people's workers all use it.
//!
//! Checks, in order, each failing closed: size and shape, an allowed `alg` (never
//! `none`, never HMAC; the key must fit the algorithm, so an RSA key cannot be used
//! as an HMAC secret), the `typ` the kind of token requires, a `kid` found in the
//! JWKS ([`UnverifiedToken`]); the signature ([`AwaitingSignature`]); then the
//! claims of the kind ([`SignedToken`]): `iss` exactly, the audience, and `exp` /
//! `nbf` / `iat` with a leeway for clock skew, and whatever else the kind requires.

pub mod access;
pub mod id_token;

pub use access::{
    AccessTokenPolicy, VerifiedAccessToken, verify_access_token, verify_access_token_full,
};
pub use id_token::{IdTokenCheck, IdTokenClaims, IdTokenPolicy, half_hash, verify_id_token};

use crate::jose::{Algorithm, CompactJws, Jwk, Jwks};
use crate::json;
use crate::platform::Verifier;
use crate::types::UnixTime;

/// What every kind of token's policy holds: the issuer it must name exactly, the
/// algorithms accepted and the clock-skew leeway.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Common {
    issuer: String,
    algorithms: Vec<Algorithm>,
    leeway_secs: u64,
}

impl Common {
    /// `issuer`, these algorithms, 60 s leeway.
    fn new(issuer: String, algorithms: &[Algorithm]) -> Self {
        Self { issuer, algorithms: algorithms.to_vec(), leeway_secs: 60 }
    }

    fn set_algorithms(&mut self, algorithms: &[Algorithm]) {
        self.algorithms = algorithms.to_vec();
    }

    /// Capped at [`MAX_LEEWAY_SECS`].
    fn set_leeway(&mut self, secs: u64) {
        self.leeway_secs = secs.min(MAX_LEEWAY_SECS);
    }
}

/// What the checks before the signature need from a policy: the algorithms it
/// accepts and the `typ` the kind of token carries.
pub trait TokenPolicy {
    /// The algorithms accepted.
    fn algorithms(&self) -> &[Algorithm];
    /// Whether a token with this `typ` header (absent: `None`) is of the kind.
    fn accepts_typ(&self, typ: Option<&str>) -> bool;
}

/// The most clock-skew leeway a policy may allow (5 minutes).
pub const MAX_LEEWAY_SECS: u64 = 300;

/// Why a token was refused. For logs and tests: on the wire every variant is the
/// same `invalid_token`, so a caller learns nothing about which check failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    /// Not a well-formed compact JWS, or too large.
    Malformed,
    /// `alg` is not supported or not allowed by the policy.
    Algorithm,
    /// `typ` is not the kind's (`at+jwt` for an access token; an ID token must not
    /// be one).
    Type,
    /// No key with the token's `kid` (or the key does not fit the `alg`).
    UnknownKey,
    /// The signature does not verify.
    Signature,
    /// The claims are not a JSON object with the RFC 9068 members.
    Claims,
    /// `iss` differs from the policy's issuer.
    Issuer,
    /// `aud` names none of the policy's audiences.
    Audience,
    /// Past `exp` (plus leeway).
    Expired,
    /// Before `nbf`, or `iat` in the future (minus leeway).
    NotYetValid,
    /// An ID token's `nonce` differs from the one the request sent.
    Nonce,
    /// An ID token's `azp` is not the client (or missing with several audiences).
    AuthorizedParty,
    /// An ID token's `at_hash` does not match the access token issued with it.
    AccessTokenHash,
}

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl VerifyError {
    /// What failed, in a few words (as [`Display`](std::fmt::Display) writes it).
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Malformed => "token malformed",
            Self::Algorithm => "token algorithm not allowed",
            Self::Type => "token type not accepted",
            Self::UnknownKey => "token key unknown",
            Self::Signature => "token signature invalid",
            Self::Claims => "token claims malformed",
            Self::Issuer => "token issuer not accepted",
            Self::Audience => "token audience not accepted",
            Self::Expired => "token expired",
            Self::NotYetValid => "token not yet valid",
            Self::Nonce => "token nonce does not match the request",
            Self::AuthorizedParty => "token authorized party is not the client",
            Self::AccessTokenHash => "token at_hash does not match the access token",
        }
    }
}

impl std::error::Error for VerifyError {}

/// The key id a token names, read without verifying anything: a host uses it to decide
/// whether to refetch its JWKS before calling [`verify_access_token`]. Only the header
/// segment is decoded (this runs before every signature check).
#[must_use]
pub fn peek_kid(token: &str) -> Option<String> {
    if token.len() > crate::jose::MAX_TOKEN_BYTES {
        return None;
    }
    let (header, rest) = token.split_once('.')?;
    if rest.split('.').count() != 2 {
        return None;
    }
    let bytes = crate::jose::b64url_decode(header).ok()?;
    if bytes.first() != Some(&b'{') {
        return None;
    }
    json::from_slice::<KidOnly>(&bytes).ok()?.0
}

/// A header's `kid`, the rest skipped.
struct KidOnly(Option<String>);

impl json::Read for KidOnly {
    fn read(r: &mut json::Reader<'_>) -> json::Result<Self> {
        let mut kid = None;
        r.object(&mut |r, key| match key {
            "kid" => json::once(&mut kid, Option::read(r)?),
            _ => r.skip(),
        })?;
        Ok(Self(kid.flatten()))
    }
}

/// What a token's payload says of its audience and issue time, read without
/// verifying anything: an issuer uses it to choose the policy a token of its own
/// is then verified under (introspection, an expired `id_token_hint`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct PeekedClaims {
    /// The audiences.
    pub aud: crate::token::Audience,
    /// Issued at.
    pub iat: crate::types::UnixTime,
}

impl json::Read for PeekedClaims {
    fn read(r: &mut json::Reader<'_>) -> json::Result<Self> {
        let (mut aud, mut iat) = (None, None);
        r.object(&mut |r, key| match key {
            "aud" => json::once(&mut aud, crate::token::Audience::read(r)?),
            "iat" => json::once(&mut iat, UnixTime::read(r)?),
            _ => r.skip(),
        })?;
        Ok(Self { aud: aud.ok_or(json::Invalid)?, iat: iat.ok_or(json::Invalid)? })
    }
}

/// [`PeekedClaims`] of a compact JWS, unverified.
#[must_use]
pub fn peek_claims(token: &str) -> Option<PeekedClaims> {
    if token.len() > crate::jose::MAX_TOKEN_BYTES {
        return None;
    }
    let mut parts = token.split('.');
    let (_, payload, _, None) = (parts.next()?, parts.next()?, parts.next()?, parts.next()) else {
        return None;
    };
    let bytes = crate::jose::b64url_decode(payload).ok()?;
    json::from_slice(&bytes).ok()
}

/// The first audience of a token, unverified ([`peek_claims`]).
#[must_use]
pub fn peek_claims_audience(token: &str) -> Option<String> {
    peek_claims(token)?.aud.iter().next().cloned()
}

/// A token that passed every check that comes before the signature: shape, `alg`,
/// `typ`, and a `kid` naming a key of the JWKS that fits the `alg`.
///
/// For hosts that call their crypto themselves (the edge gateway chains WebCrypto's
/// promise directly): check the signature of [`Self::signing_input`] against
/// [`Self::key`] with [`Self::alg`], then hand the result to
/// [`Self::signature_checked`]. [`verify_access_token_full`] is exactly that.
#[derive(Debug)]
pub struct UnverifiedToken<'t, 'k> {
    /// The algorithm, allowed by the policy and by the key.
    pub alg: Algorithm,
    /// The key chosen by `kid`.
    pub key: &'k Jwk,
    /// The bytes the signature covers.
    pub signing_input: &'t [u8],
    /// The decoded signature.
    pub signature: Vec<u8>,
    payload: Vec<u8>,
    kid: String,
}

/// What is left of an [`UnverifiedToken`] once its signature is handed to the crypto:
/// owned, so a host can keep it across a promise.
#[derive(Debug)]
pub struct AwaitingSignature {
    payload: Vec<u8>,
    kid: String,
}

impl AwaitingSignature {
    /// Takes the crypto's answer for the signature.
    ///
    /// # Errors
    ///
    /// [`VerifyError::Signature`] when `valid` is false.
    ///
    /// # Security
    ///
    /// `valid` must be the result of verifying the signature of the token this came
    /// from, as [`UnverifiedToken`] describes; nothing else stands between a forged
    /// token and its claims.
    pub fn signature_checked(self, valid: bool) -> Result<SignedToken, VerifyError> {
        if valid {
            Ok(SignedToken { payload: self.payload, kid: self.kid })
        } else {
            Err(VerifyError::Signature)
        }
    }
}

/// A token whose signature verified; its claims are not checked yet
/// ([`SignedToken::claims`] for an access token, [`SignedToken::id_token`] for an ID
/// token).
#[derive(Debug)]
pub struct SignedToken {
    payload: Vec<u8>,
    kid: String,
}

/// `exp`, `nbf` and `iat` against `now` with `leeway` seconds of clock skew.
fn check_times(
    exp: UnixTime,
    nbf: Option<UnixTime>,
    iat: UnixTime,
    now: UnixTime,
    leeway: u64,
) -> Result<(), VerifyError> {
    if now >= exp.plus(leeway) {
        return Err(VerifyError::Expired);
    }
    if nbf.is_some_and(|nbf| now.plus(leeway) < nbf) || now.plus(leeway) < iat {
        return Err(VerifyError::NotYetValid);
    }
    Ok(())
}

impl<'t, 'k> UnverifiedToken<'t, 'k> {
    /// Runs the checks before the signature.
    ///
    /// # Errors
    ///
    /// [`VerifyError`] naming the first check that failed.
    pub fn check(
        jwks: &'k Jwks,
        policy: &impl TokenPolicy,
        token: &'t str,
    ) -> Result<Self, VerifyError> {
        let jws = CompactJws::parse(token).map_err(|e| match e {
            crate::jose::JwsError::UnsupportedAlgorithm => VerifyError::Algorithm,
            _ => VerifyError::Malformed,
        })?;
        let alg = jws.header.alg;
        if !policy.algorithms().contains(&alg) {
            return Err(VerifyError::Algorithm);
        }
        if !policy.accepts_typ(jws.header.typ.as_deref()) {
            return Err(VerifyError::Type);
        }
        let signing_input = jws.signing_input();
        let kid = jws.header.kid.ok_or(VerifyError::UnknownKey)?;
        let key = jwks.find(&kid).ok_or(VerifyError::UnknownKey)?;
        key.check_for(alg).map_err(|_| VerifyError::UnknownKey)?;
        Ok(Self { alg, key, signing_input, signature: jws.signature, payload: jws.payload, kid })
    }

    /// Takes the crypto's answer for the signature.
    ///
    /// # Errors
    ///
    /// [`VerifyError::Signature`] when `valid` is false.
    ///
    /// # Security
    ///
    /// `valid` must be the result of verifying [`Self::signature`] over
    /// [`Self::signing_input`] with [`Self::key`] and [`Self::alg`]; nothing else
    /// stands between a forged token and its claims.
    pub fn signature_checked(self, valid: bool) -> Result<SignedToken, VerifyError> {
        self.awaiting().signature_checked(valid)
    }

    /// Lets go of the token and the key, keeping what the claims check needs.
    #[must_use]
    pub fn awaiting(self) -> AwaitingSignature {
        AwaitingSignature { payload: self.payload, kid: self.kid }
    }

    /// Splits the token for a host whose crypto answers later: what to verify, owned
    /// (so it can cross a promise), and what the claims check needs once it has.
    #[must_use]
    pub fn into_request(self) -> (SignatureRequest, AwaitingSignature) {
        let request = SignatureRequest {
            alg: self.alg,
            key: self.key.clone(),
            signing_input: self.signing_input.to_vec(),
            signature: self.signature,
        };
        (request, AwaitingSignature { payload: self.payload, kid: self.kid })
    }
}

/// A signature to verify, owned: whether [`Self::signature`] is a valid
/// [`Self::alg`] signature over [`Self::signing_input`] by [`Self::key`]. The key
/// was chosen by `kid` and fits the algorithm ([`Jwk::check_for`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureRequest {
    /// The algorithm.
    pub alg: Algorithm,
    /// The public key.
    pub key: Jwk,
    /// The bytes the signature covers.
    pub signing_input: Vec<u8>,
    /// The signature.
    pub signature: Vec<u8>,
}

impl SignatureRequest {
    /// Asks `crypto`; a key it cannot import is an invalid signature.
    pub async fn verify_with<C: Verifier>(&self, crypto: &C) -> bool {
        crypto
            .verify(&self.key, self.alg, &self.signing_input, &self.signature)
            .await
            .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::testing::document;

    /// A header's `kid` as serde read it: the reader must agree.
    #[derive(serde::Deserialize)]
    struct SerdeKidOnly {
        #[serde(default)]
        kid: Option<String>,
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        #[test]
        fn a_kid_is_peeked_as_serde_read_it(
            doc in document(&["kid", "alg"], |_| vec!["\"k1\"", "null"], &[])
        ) {
            let token = format!("{}.e30.c2ln", crate::jose::b64url(&doc));
            let serde = serde_json::from_slice::<SerdeKidOnly>(&doc)
                .ok()
                .filter(|_| doc.first() == Some(&b'{'))
                .and_then(|k| k.kid);
            proptest::prop_assert_eq!(peek_kid(&token), serde);
        }
    }

    #[test]
    fn peek_kid_reads_only_the_header() {
        let b64 = |s: &str| crate::jose::b64url(s.as_bytes());
        let token = format!("{}.{}.{}", b64(r#"{"alg":"ES256","kid":"k1"}"#), b64("{}"), "c2ln");
        assert_eq!(peek_kid(&token).as_deref(), Some("k1"));
        assert_eq!(peek_kid(&format!("{token}.x")), None);
        assert_eq!(peek_kid("a.b"), None);
        assert_eq!(peek_kid(&format!("{}.e30.c2ln", b64(r#"["kid"]"#))), None);
        assert_eq!(peek_kid(&format!("{}.e30.c2ln", b64(r#"{"alg":"ES256"}"#))), None);
    }
}
