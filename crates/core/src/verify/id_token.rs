//! ID tokens (OpenID Connect Core section 3.1.3.7): the relying party's checks, for
//! the browser package, for an issuer reading an `id_token_hint`, and for anyone
//! signing users in with Gatehouse.
//!
//! After the shared checks (an allowed `alg`, a `kid` of the JWKS, the signature)
//! and a `typ` that is absent or `JWT` (never an access token's `at+jwt`, so one
//! kind cannot pass for the other): `iss` exactly; `aud` contains the client; with
//! several audiences `azp` is required, and when present it is the client; `exp` and
//! `iat` with leeway; the `nonce` the request sent, when one was sent; and `at_hash`
//! against the access token issued with it, when there is one.

use serde::Deserialize;
use sha2::Digest as _;

use super::{
    AwaitingSignature, Common, SignatureRequest, SignedToken, TokenPolicy, UnverifiedToken,
    VerifyError, check_times,
};
use crate::jose::{Algorithm, Jwks, b64url};
use crate::json;
use crate::platform::Verifier;
use crate::token::Audience;
use crate::types::UnixTime;

/// What an ID token must satisfy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdTokenPolicy {
    common: Common,
    client_id: String,
    nonce: Option<String>,
    access_token: Option<String>,
}

impl IdTokenPolicy {
    /// ID tokens from `issuer` for the client `client_id`, signed with RS256 or
    /// ES256, with 60 s leeway.
    #[must_use]
    pub fn new(issuer: impl Into<String>, client_id: impl Into<String>) -> Self {
        Self {
            common: Common::new(issuer.into(), &[Algorithm::RS256, Algorithm::ES256]),
            client_id: client_id.into(),
            nonce: None,
            access_token: None,
        }
    }

    /// The `nonce` the authentication request sent: the token must carry it.
    #[must_use]
    pub fn with_nonce(mut self, nonce: impl Into<String>) -> Self {
        self.nonce = Some(nonce.into());
        self
    }

    /// The access token issued with the ID token: its `at_hash` must match.
    #[must_use]
    pub fn with_access_token(mut self, access_token: impl Into<String>) -> Self {
        self.access_token = Some(access_token.into());
        self
    }

    /// Accept only these algorithms.
    #[must_use]
    pub fn with_algorithms(mut self, algorithms: &[Algorithm]) -> Self {
        self.common.set_algorithms(algorithms);
        self
    }

    /// Clock-skew leeway for `exp` and `iat`, capped at [`MAX_LEEWAY_SECS`](super::MAX_LEEWAY_SECS).
    #[must_use]
    pub fn with_leeway(mut self, secs: u64) -> Self {
        self.common.set_leeway(secs);
        self
    }
}

impl TokenPolicy for IdTokenPolicy {
    fn algorithms(&self) -> &[Algorithm] {
        &self.common.algorithms
    }

    fn accepts_typ(&self, typ: Option<&str>) -> bool {
        typ.is_none_or(|t| {
            t.eq_ignore_ascii_case("JWT") || t.eq_ignore_ascii_case("application/jwt")
        })
    }
}

/// The claims of a verified ID token that the checks read, and the identity ones.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct IdTokenClaims {
    /// The issuer.
    pub iss: String,
    /// The user.
    pub sub: String,
    /// The audience: the client (and possibly others).
    pub aud: Audience,
    /// Expiry.
    pub exp: UnixTime,
    /// Issued at.
    pub iat: UnixTime,
    /// When the user authenticated.
    #[serde(default)]
    pub auth_time: Option<UnixTime>,
    /// The request's nonce.
    #[serde(default)]
    pub nonce: Option<String>,
    /// The authorized party.
    #[serde(default)]
    pub azp: Option<String>,
    /// The access token's hash.
    #[serde(default)]
    pub at_hash: Option<String>,
    /// The session id (front- and back-channel logout).
    #[serde(default)]
    pub sid: Option<String>,
    /// The authentication context class.
    #[serde(default)]
    pub acr: Option<String>,
    /// The authentication methods.
    #[serde(default)]
    pub amr: Vec<String>,
}

impl json::Read for IdTokenClaims {
    fn read(r: &mut json::Reader<'_>) -> json::Result<Self> {
        let (mut iss, mut sub, mut aud, mut exp, mut iat) = (None, None, None, None, None);
        let (mut auth_time, mut nonce, mut azp, mut at_hash) = (None, None, None, None);
        let (mut sid, mut acr, mut amr) = (None, None, None);
        r.object(&mut |r, key| match key {
            "iss" => json::once(&mut iss, String::read(r)?),
            "sub" => json::once(&mut sub, String::read(r)?),
            "aud" => json::once(&mut aud, Audience::read(r)?),
            "exp" => json::once(&mut exp, UnixTime::read(r)?),
            "iat" => json::once(&mut iat, UnixTime::read(r)?),
            "auth_time" => json::once(&mut auth_time, Option::read(r)?),
            "nonce" => json::once(&mut nonce, Option::read(r)?),
            "azp" => json::once(&mut azp, Option::read(r)?),
            "at_hash" => json::once(&mut at_hash, Option::read(r)?),
            "sid" => json::once(&mut sid, Option::read(r)?),
            "acr" => json::once(&mut acr, Option::read(r)?),
            "amr" => json::once(&mut amr, Vec::read(r)?),
            _ => r.skip(),
        })?;
        Ok(Self {
            iss: iss.ok_or(json::Invalid)?,
            sub: sub.ok_or(json::Invalid)?,
            aud: aud.ok_or(json::Invalid)?,
            exp: exp.ok_or(json::Invalid)?,
            iat: iat.ok_or(json::Invalid)?,
            auth_time: auth_time.flatten(),
            nonce: nonce.flatten(),
            azp: azp.flatten(),
            at_hash: at_hash.flatten(),
            sid: sid.flatten(),
            acr: acr.flatten(),
            amr: amr.unwrap_or_default(),
        })
    }
}

/// The `at_hash` (or `c_hash`) of `value` for `alg`: the left half of its SHA-256,
/// base64url (OpenID Connect Core section 3.1.3.6); both ES256 and RS256 hash with
/// SHA-256.
#[must_use]
pub fn half_hash(alg: Algorithm, value: &str) -> String {
    match alg {
        Algorithm::ES256 | Algorithm::RS256 => {
            let digest = sha2::Sha256::digest(value.as_bytes());
            b64url(digest.get(..16).unwrap_or_default())
        }
    }
}

/// Verifies an ID token against `jwks` and `policy` at `now`.
///
/// # Errors
///
/// [`VerifyError`] naming the first check that failed.
pub async fn verify_id_token<C: Verifier>(
    crypto: &C,
    jwks: &Jwks,
    policy: &IdTokenPolicy,
    token: &str,
    now: UnixTime,
) -> Result<IdTokenClaims, VerifyError> {
    let check = IdTokenCheck::begin(jwks, policy.clone(), token, now)?;
    let valid = check.request().verify_with(crypto).await;
    check.finish(valid)
}

/// [`verify_id_token`] in two steps, for a host whose crypto answers later (the
/// browser package hands the signature to WebCrypto from JavaScript):
/// [`Self::begin`] runs the checks before the signature, the host verifies
/// [`Self::request`], and [`Self::finish`] takes its verdict and checks the claims.
#[derive(Debug)]
pub struct IdTokenCheck {
    request: SignatureRequest,
    awaiting: AwaitingSignature,
    policy: IdTokenPolicy,
    now: UnixTime,
}

impl IdTokenCheck {
    /// The checks before the signature: shape, `alg`, `typ`, `kid`.
    ///
    /// # Errors
    ///
    /// [`VerifyError`] naming the first check that failed.
    pub fn begin(
        jwks: &Jwks,
        policy: IdTokenPolicy,
        token: &str,
        now: UnixTime,
    ) -> Result<Self, VerifyError> {
        let (request, awaiting) = UnverifiedToken::check(jwks, &policy, token)?.into_request();
        Ok(Self { request, awaiting, policy, now })
    }

    /// The signature the host must verify.
    #[must_use]
    pub fn request(&self) -> &SignatureRequest {
        &self.request
    }

    /// Takes the verdict on [`Self::request`] and checks the claims at the time
    /// [`Self::begin`] was given.
    ///
    /// # Errors
    ///
    /// [`VerifyError::Signature`] when `valid` is false; otherwise the claim check
    /// that failed.
    ///
    /// # Security
    ///
    /// `valid` must be the result of verifying [`Self::request`]; nothing else
    /// stands between a forged token and its claims.
    pub fn finish(self, valid: bool) -> Result<IdTokenClaims, VerifyError> {
        let alg = self.request.alg;
        self.awaiting.signature_checked(valid)?.id_token(&self.policy, alg, self.now)
    }
}

impl SignedToken {
    /// Checks an ID token's claims (see the [module](self) documentation); `alg` is
    /// the one the signature was checked with (for `at_hash`).
    ///
    /// # Errors
    ///
    /// [`VerifyError`] naming the first check that failed.
    pub fn id_token(
        self,
        policy: &IdTokenPolicy,
        alg: Algorithm,
        now: UnixTime,
    ) -> Result<IdTokenClaims, VerifyError> {
        let claims: IdTokenClaims =
            json::from_slice(&self.payload).map_err(|_| VerifyError::Claims)?;
        if claims.iss != policy.common.issuer {
            return Err(VerifyError::Issuer);
        }
        if !claims.aud.contains(&policy.client_id) {
            return Err(VerifyError::Audience);
        }
        let several = claims.aud.len() > 1;
        match claims.azp.as_deref() {
            Some(azp) if azp != policy.client_id => return Err(VerifyError::AuthorizedParty),
            None if several => return Err(VerifyError::AuthorizedParty),
            _ => {}
        }
        check_times(claims.exp, None, claims.iat, now, policy.common.leeway_secs)?;
        if let Some(expected) = &policy.nonce
            && claims.nonce.as_deref() != Some(expected.as_str())
        {
            return Err(VerifyError::Nonce);
        }
        if let Some(access_token) = &policy.access_token
            && claims.at_hash.as_deref() != Some(half_hash(alg, access_token).as_str())
        {
            return Err(VerifyError::AccessTokenHash);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_is_the_left_half_of_sha256() {
        // OpenID Connect Core, appendix A.3 (an RS256 example).
        let token = "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y";
        assert_eq!(half_hash(Algorithm::RS256, token), "77QmUPtjPfzWtF2AnpK9RQ");
    }

    #[test]
    fn an_access_token_typ_is_never_an_id_token() {
        let policy = IdTokenPolicy::new("i", "c");
        assert!(policy.accepts_typ(None));
        assert!(policy.accepts_typ(Some("JWT")));
        assert!(!policy.accepts_typ(Some("at+jwt")));
        assert!(!policy.accepts_typ(Some("application/at+jwt")));
    }
}
