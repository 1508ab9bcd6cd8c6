//! Verifying JWT access tokens (RFC 9068 section 4): the one verifier the issuer's
//! own endpoints, the edge gateway and other people's workers all use.
//!
//! Checks, in order, each failing closed: size and shape, an allowed `alg` (never
//! `none`, never HMAC; the key must fit the algorithm, so an RSA key cannot be used
//! as an HMAC secret), `typ` of `at+jwt`, a `kid` found in the JWKS, the signature,
//! then `iss` exactly, `aud`, and `exp` / `nbf` / `iat` with a leeway for clock skew.

use crate::jose::{Algorithm, CompactJws, Jwk, Jwks};
use crate::platform::Verifier;
use crate::token::{ACCESS_TOKEN_TYP, AccessTokenClaims, Audience};
use crate::types::{ScopeSet, UnixTime};

/// The most clock-skew leeway a policy may allow (5 minutes).
pub const MAX_LEEWAY_SECS: u64 = 300;

/// What a token must satisfy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessTokenPolicy {
    issuer: String,
    audiences: Vec<String>,
    algorithms: Vec<Algorithm>,
    leeway_secs: u64,
}

impl AccessTokenPolicy {
    /// Tokens from `issuer` for `audience`, signed with ES256 or RS256, with 60 s leeway.
    #[must_use]
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audiences: vec![audience.into()],
            algorithms: vec![Algorithm::ES256, Algorithm::RS256],
            leeway_secs: 60,
        }
    }

    /// Also accept tokens for `audience`.
    #[must_use]
    pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Accept only these algorithms.
    #[must_use]
    pub fn with_algorithms(mut self, algorithms: &[Algorithm]) -> Self {
        self.algorithms = algorithms.to_vec();
        self
    }

    /// Clock-skew leeway for `exp`, `nbf` and `iat`, capped at [`MAX_LEEWAY_SECS`].
    #[must_use]
    pub fn with_leeway(mut self, secs: u64) -> Self {
        self.leeway_secs = secs.min(MAX_LEEWAY_SECS);
        self
    }

    /// The issuer tokens must name exactly.
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The audiences a token may name (one is enough).
    #[must_use]
    pub fn audiences(&self) -> &[String] {
        &self.audiences
    }

    /// The algorithms accepted.
    #[must_use]
    pub fn algorithms(&self) -> &[Algorithm] {
        &self.algorithms
    }

    /// The clock-skew leeway in seconds.
    #[must_use]
    pub fn leeway_secs(&self) -> u64 {
        self.leeway_secs
    }
}

/// A verified access token: the RFC 9068 claims plus the members Gatehouse adds when
/// an app is configured to include them, and the key that signed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAccessToken {
    /// The RFC 9068 claims.
    pub claims: AccessTokenClaims,
    /// `nbf`, when the token carries one.
    pub nbf: Option<UnixTime>,
    /// The `permissions` claim (an array of names; empty when absent).
    pub permissions: Vec<String>,
    /// The `roles` claim (an array of names; empty when absent).
    pub roles: Vec<String>,
    /// The `kid` of the key that verified the signature.
    pub kid: String,
}

/// Why a token was refused. For logs and tests: on the wire every variant is the
/// same `invalid_token`, so a caller learns nothing about which check failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    /// Not a well-formed compact JWS, or too large.
    Malformed,
    /// `alg` is not supported or not allowed by the policy.
    Algorithm,
    /// `typ` is not `at+jwt`.
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
}

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Malformed => "token malformed",
            Self::Algorithm => "token algorithm not allowed",
            Self::Type => "token is not an access token",
            Self::UnknownKey => "token key unknown",
            Self::Signature => "token signature invalid",
            Self::Claims => "token claims malformed",
            Self::Issuer => "token issuer not accepted",
            Self::Audience => "token audience not accepted",
            Self::Expired => "token expired",
            Self::NotYetValid => "token not yet valid",
        })
    }
}

impl std::error::Error for VerifyError {}

/// Everything read from the payload, in one pass.
#[derive(serde::Deserialize)]
struct Payload {
    iss: String,
    sub: String,
    aud: Audience,
    exp: UnixTime,
    iat: UnixTime,
    jti: String,
    client_id: String,
    #[serde(default)]
    scope: ScopeSet,
    #[serde(default)]
    nbf: Option<UnixTime>,
    #[serde(default)]
    permissions: Vec<String>,
    #[serde(default)]
    roles: Vec<String>,
}

/// The key id a token names, read without verifying anything: a host uses it to decide
/// whether to refetch its JWKS before calling [`verify_access_token`]. Only the header
/// segment is decoded (this runs before every signature check).
#[must_use]
pub fn peek_kid(token: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct KidOnly {
        #[serde(default)]
        kid: Option<String>,
    }
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
    serde_json::from_slice::<KidOnly>(&bytes).ok()?.kid
}

/// Verifies an access token against `jwks` and `policy` at `now`.
///
/// # Errors
///
/// [`VerifyError`] naming the first check that failed.
///
/// # Security
///
/// The token is untrusted input. Nothing in it is believed before the signature is
/// checked with a key chosen by `kid` from `jwks` *and* allowed for the token's `alg`
/// by both the policy and the key's own type and `alg`.
pub async fn verify_access_token<C: Verifier>(
    crypto: &C,
    jwks: &Jwks,
    policy: &AccessTokenPolicy,
    token: &str,
    now: UnixTime,
) -> Result<AccessTokenClaims, VerifyError> {
    verify_access_token_full(crypto, jwks, policy, token, now).await.map(|v| v.claims)
}

/// Like [`verify_access_token`], and also returns `permissions`, `roles`, `nbf` and
/// the signing key's `kid` (the edge gateway forwards and caches them).
///
/// # Errors
///
/// [`VerifyError`] naming the first check that failed.
///
/// # Security
///
/// As [`verify_access_token`]: every check runs, in the same order.
pub async fn verify_access_token_full<C: Verifier>(
    crypto: &C,
    jwks: &Jwks,
    policy: &AccessTokenPolicy,
    token: &str,
    now: UnixTime,
) -> Result<VerifiedAccessToken, VerifyError> {
    let unverified = UnverifiedToken::check(jwks, policy, token)?;
    let valid = crypto
        .verify(unverified.key, unverified.alg, unverified.signing_input, &unverified.signature)
        .await
        .map_err(|_| VerifyError::Signature)?;
    unverified.signature_checked(valid)?.claims(policy, now)
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

/// A token whose signature verified; its claims are not checked yet.
#[derive(Debug)]
pub struct SignedToken {
    payload: Vec<u8>,
    kid: String,
}

impl<'t, 'k> UnverifiedToken<'t, 'k> {
    /// Runs the checks before the signature.
    ///
    /// # Errors
    ///
    /// [`VerifyError`] naming the first check that failed.
    pub fn check(
        jwks: &'k Jwks,
        policy: &AccessTokenPolicy,
        token: &'t str,
    ) -> Result<Self, VerifyError> {
        let jws = CompactJws::parse(token).map_err(|e| match e {
            crate::jose::JwsError::UnsupportedAlgorithm => VerifyError::Algorithm,
            _ => VerifyError::Malformed,
        })?;
        let alg = jws.header.alg;
        if !policy.algorithms.contains(&alg) {
            return Err(VerifyError::Algorithm);
        }
        if !jws.header.typ.as_deref().is_some_and(is_access_token_typ) {
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
}

impl SignedToken {
    /// Checks the claims: `iss` exactly, `aud`, then `exp` / `nbf` / `iat` with the
    /// policy's leeway at `now`.
    ///
    /// # Errors
    ///
    /// [`VerifyError`] naming the first check that failed.
    pub fn claims(
        self,
        policy: &AccessTokenPolicy,
        now: UnixTime,
    ) -> Result<VerifiedAccessToken, VerifyError> {
        // The payload is signed by a trusted issuer by now; one pass, no intermediate map.
        let payload: Payload =
            serde_json::from_slice(&self.payload).map_err(|_| VerifyError::Claims)?;
        if payload.iss != policy.issuer {
            return Err(VerifyError::Issuer);
        }
        if !policy.audiences.iter().any(|a| payload.aud.contains(a)) {
            return Err(VerifyError::Audience);
        }
        let leeway = policy.leeway_secs;
        if now >= payload.exp.plus(leeway) {
            return Err(VerifyError::Expired);
        }
        if payload.nbf.is_some_and(|nbf| now.plus(leeway) < nbf) || now.plus(leeway) < payload.iat {
            return Err(VerifyError::NotYetValid);
        }
        Ok(VerifiedAccessToken {
            claims: AccessTokenClaims {
                iss: payload.iss,
                sub: payload.sub,
                aud: payload.aud,
                exp: payload.exp,
                iat: payload.iat,
                jti: payload.jti,
                client_id: payload.client_id,
                scope: payload.scope,
            },
            nbf: payload.nbf,
            permissions: payload.permissions,
            roles: payload.roles,
            kid: self.kid,
        })
    }
}

/// `typ` compares as a media type: case-insensitive, `application/` optional
/// (RFC 7515 section 4.1.9, RFC 9068 section 4).
fn is_access_token_typ(typ: &str) -> bool {
    let typ = typ.to_ascii_lowercase();
    typ == ACCESS_TOKEN_TYP || typ.strip_prefix("application/") == Some(ACCESS_TOKEN_TYP)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typ_comparison() {
        assert!(is_access_token_typ("at+jwt"));
        assert!(is_access_token_typ("AT+JWT"));
        assert!(is_access_token_typ("application/at+jwt"));
        assert!(!is_access_token_typ("JWT"));
        assert!(!is_access_token_typ("application/jwt"));
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

    #[test]
    fn leeway_is_capped() {
        let policy = AccessTokenPolicy::new("i", "a").with_leeway(10_000);
        assert_eq!(policy.leeway_secs, MAX_LEEWAY_SECS);
    }
}
