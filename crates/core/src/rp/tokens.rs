//! The token response (RFC 6749 section 5) and the signed-in session it makes: the
//! ID token verified in full on the way in (OpenID Connect Core section 3.1.3.7),
//! renewed tokens held to the same user (section 12.2), and when to renew.

use serde::{Deserialize, Serialize};

use super::login::PendingLogin;
use super::{ClientConfig, ProviderMetadata, RpError};
use crate::http::encode_pairs;
use crate::jose::{Jwks, b64url_decode};
use crate::json;
use crate::platform::Verifier;
use crate::types::UnixTime;
use crate::verify::{IdTokenCheck, IdTokenClaims, IdTokenPolicy, SignatureRequest, VerifyError};

/// How long before its expiry an access token is renewed (30 s), so a request
/// sent with it does not arrive after it expired.
pub const RENEW_BEFORE_SECS: u64 = 30;

/// The access token's lifetime assumed when the issuer states none (60 s).
pub const DEFAULT_EXPIRES_IN_SECS: u64 = 60;

/// The least time between two JWKS fetches caused by an unknown `kid` (60 s), so a
/// forged `kid` cannot make the client hammer the issuer.
pub const JWKS_REFETCH_INTERVAL_SECS: u64 = 60;

/// A successful token response. Tokens are opaque here except the ID token.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct TokenResponse {
    /// The access token.
    pub access_token: String,
    /// `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    #[serde(default)]
    pub expires_in: Option<u64>,
    /// A refresh token, when the app and the scope allow one.
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// The ID token.
    #[serde(default)]
    pub id_token: Option<String>,
    /// The scope granted, when it differs from the one asked.
    #[serde(default)]
    pub scope: Option<String>,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

impl json::Read for TokenResponse {
    fn read(r: &mut json::Reader<'_>) -> json::Result<Self> {
        let (mut access_token, mut token_type, mut expires_in) = (None, None, None);
        let (mut refresh_token, mut id_token, mut scope) = (None, None, None);
        r.object(&mut |r, key| match key {
            "access_token" => json::once(&mut access_token, String::read(r)?),
            "token_type" => json::once(&mut token_type, String::read(r)?),
            "expires_in" => json::once(&mut expires_in, Option::read(r)?),
            "refresh_token" => json::once(&mut refresh_token, Option::read(r)?),
            "id_token" => json::once(&mut id_token, Option::read(r)?),
            "scope" => json::once(&mut scope, Option::read(r)?),
            _ => r.skip(),
        })?;
        Ok(Self {
            access_token: access_token.ok_or(json::Invalid)?,
            token_type: token_type.ok_or(json::Invalid)?,
            expires_in: expires_in.flatten(),
            refresh_token: refresh_token.flatten(),
            id_token: id_token.flatten(),
            scope: scope.flatten(),
        })
    }
}

/// An OAuth error response (RFC 6749 section 5.2).
struct ErrorBody {
    error: String,
    error_description: Option<String>,
}

impl json::Read for ErrorBody {
    fn read(r: &mut json::Reader<'_>) -> json::Result<Self> {
        let (mut error, mut error_description) = (None, None);
        r.object(&mut |r, key| match key {
            "error" => json::once(&mut error, String::read(r)?),
            "error_description" => json::once(&mut error_description, Option::read(r)?),
            _ => r.skip(),
        })?;
        Ok(Self {
            error: error.ok_or(json::Invalid)?,
            error_description: error_description.flatten(),
        })
    }
}

impl TokenResponse {
    /// Reads the token endpoint's answer: a 2xx JSON body with a bearer access
    /// token, or the issuer's OAuth error.
    ///
    /// # Errors
    ///
    /// [`RpError::Server`] with the issuer's error; [`RpError::TokenResponse`] for
    /// anything that is neither.
    pub fn parse(status: u16, body: &str) -> Result<Self, RpError> {
        if !(200..300).contains(&status) {
            let error: ErrorBody = json::from_slice(body.as_bytes())
                .map_err(|_| RpError::TokenResponse("the token endpoint failed"))?;
            return Err(RpError::Server {
                error: error.error,
                description: error.error_description,
            });
        }
        let response: Self = json::from_slice(body.as_bytes())
            .map_err(|_| RpError::TokenResponse("not a token response"))?;
        if !response.token_type.eq_ignore_ascii_case("bearer") {
            return Err(RpError::TokenResponse("the token type is not Bearer"));
        }
        if response.access_token.is_empty() {
            return Err(RpError::TokenResponse("the access token is empty"));
        }
        Ok(response)
    }
}

/// The token request body that uses `refresh_token` (RFC 6749 section 6).
#[must_use]
pub fn refresh_form(config: &ClientConfig, refresh_token: &str) -> String {
    encode_pairs([
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
        ("client_id", config.client_id.as_str()),
    ])
}

/// Whether a failed verification calls for fetching the JWKS again: the token
/// names a key the cached JWKS lacks, and the last fetch is at least
/// [`JWKS_REFETCH_INTERVAL_SECS`] old.
#[must_use]
pub fn may_refetch_jwks(error: &RpError, last_fetch: UnixTime, now: UnixTime) -> bool {
    matches!(error, RpError::IdToken(VerifyError::UnknownKey))
        && now.as_secs() >= last_fetch.as_secs().saturating_add(JWKS_REFETCH_INTERVAL_SECS)
}

/// A session waiting on its ID token's signature: for a host whose crypto answers
/// later (the browser package hands it to WebCrypto from JavaScript). The host
/// verifies [`Self::request`], when there is one, and hands the verdict to
/// [`Self::finish`].
#[derive(Debug)]
pub struct SessionCheck {
    id_token: Option<(IdTokenCheck, String)>,
    response: TokenResponse,
    then: Then,
    now: UnixTime,
}

/// What the session check leads to.
#[derive(Debug)]
enum Then {
    /// A login's first session, `auth_time` checked when it asked a `max_age`.
    Login { max_age: Option<u64>, leeway_secs: u64 },
    /// A renewal of this session: the same user's.
    Renewal(Session),
}

impl SessionCheck {
    /// The ID token's signature to verify; none when a refresh response carries
    /// no ID token.
    #[must_use]
    pub fn request(&self) -> Option<&SignatureRequest> {
        self.id_token.as_ref().map(|(check, _)| check.request())
    }

    /// Verifies [`Self::request`] with `crypto`.
    pub async fn verify_with<V: Verifier>(&self, crypto: &V) -> bool {
        match self.request() {
            Some(request) => request.verify_with(crypto).await,
            None => false,
        }
    }

    /// Takes the verdict on [`Self::request`] (ignored when there is none) and
    /// opens the session.
    ///
    /// # Errors
    ///
    /// [`RpError::IdToken`] naming the failed check, [`RpError::IdTokenChanged`]
    /// for a renewal that names someone else.
    ///
    /// # Security
    ///
    /// `valid` must be the result of verifying [`Self::request`].
    pub fn finish(self, valid: bool) -> Result<Session, RpError> {
        let Self { id_token, response, then, now } = self;
        let Some((check, id_token)) = id_token else {
            let Then::Renewal(current) = then else {
                return Err(RpError::TokenResponse("no ID token in the response"));
            };
            let mut next = Session::open(response, current.id_token, now)?;
            next.claims = current.claims;
            return Ok(next);
        };
        let claims = check.finish(valid).map_err(RpError::IdToken)?;
        match then {
            Then::Login { max_age: Some(max_age), leeway_secs } => {
                let auth_time = claims.auth_time.ok_or(RpError::IdToken(VerifyError::Claims))?;
                let newest_allowed =
                    auth_time.as_secs().saturating_add(max_age).saturating_add(leeway_secs);
                if now.as_secs() > newest_allowed {
                    return Err(RpError::IdToken(VerifyError::Expired));
                }
            }
            Then::Login { max_age: None, .. } => {}
            Then::Renewal(current) => current.check_same_user(&claims)?,
        }
        Session::open(response, id_token, now)
    }
}

/// A signed-in user's tokens and ID-token claims.
///
/// Serializable so a host can share it between tabs and, when the app asks, keep
/// it in storage; its `Debug` shows no token.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// The access token.
    pub access_token: String,
    /// When the access token expires.
    pub expires_at: UnixTime,
    /// The refresh token, if one was issued.
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// The last ID token (the `id_token_hint` at logout).
    pub id_token: String,
    /// Its claims, verified: the JSON object the token carries.
    pub claims: String,
    /// The scope granted.
    #[serde(default)]
    pub scope: Option<String>,
}

impl json::Read for Session {
    fn read(r: &mut json::Reader<'_>) -> json::Result<Self> {
        let (mut access_token, mut expires_at, mut refresh_token) = (None, None, None);
        let (mut id_token, mut claims, mut scope) = (None, None, None);
        r.object(&mut |r, key| match key {
            "access_token" => json::once(&mut access_token, String::read(r)?),
            "expires_at" => json::once(&mut expires_at, UnixTime::read(r)?),
            "refresh_token" => json::once(&mut refresh_token, Option::read(r)?),
            "id_token" => json::once(&mut id_token, String::read(r)?),
            "claims" => json::once(&mut claims, String::read(r)?),
            "scope" => json::once(&mut scope, Option::read(r)?),
            _ => r.skip(),
        })?;
        Ok(Self {
            access_token: access_token.ok_or(json::Invalid)?,
            expires_at: expires_at.ok_or(json::Invalid)?,
            refresh_token: refresh_token.flatten(),
            id_token: id_token.ok_or(json::Invalid)?,
            claims: claims.ok_or(json::Invalid)?,
            scope: scope.flatten(),
        })
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("sub", &self.subject())
            .field("expires_at", &self.expires_at)
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "..."))
            .finish_non_exhaustive()
    }
}

/// The payload of a verified `token`: its claims as the JSON object it carries.
fn payload(token: &str) -> Result<String, RpError> {
    let segment = token.split('.').nth(1).ok_or(RpError::IdToken(VerifyError::Malformed))?;
    let bytes = b64url_decode(segment).map_err(|_| RpError::IdToken(VerifyError::Malformed))?;
    String::from_utf8(bytes).map_err(|_| RpError::IdToken(VerifyError::Claims))
}

/// The policy every ID token of this client meets.
fn policy(meta: &ProviderMetadata, config: &ClientConfig, access_token: &str) -> IdTokenPolicy {
    IdTokenPolicy::new(meta.issuer.as_str(), config.client_id.as_str())
        .with_leeway(config.leeway_secs)
        .with_access_token(access_token)
}

impl Session {
    /// The session a code exchange opens: the ID token is required and verified in
    /// full against `jwks` (signature, `typ`, `iss`, `aud`, `azp`, `exp`/`iat` with
    /// the configured leeway, the login's `nonce`, `at_hash`, and `auth_time` when
    /// the login asked a `max_age`).
    ///
    /// # Errors
    ///
    /// [`RpError::TokenResponse`] without an ID token; [`RpError::IdToken`] naming
    /// the failed check.
    pub async fn from_code_exchange<V: Verifier>(
        crypto: &V,
        jwks: &Jwks,
        meta: &ProviderMetadata,
        config: &ClientConfig,
        pending: &PendingLogin,
        response: TokenResponse,
        now: UnixTime,
    ) -> Result<Self, RpError> {
        let check = Self::begin_code_exchange(jwks, meta, config, pending, response, now)?;
        let valid = check.verify_with(crypto).await;
        check.finish(valid)
    }

    /// [`Self::from_code_exchange`] up to the signature (see [`SessionCheck`]).
    ///
    /// # Errors
    ///
    /// As [`Self::from_code_exchange`], for the checks before the signature.
    pub fn begin_code_exchange(
        jwks: &Jwks,
        meta: &ProviderMetadata,
        config: &ClientConfig,
        pending: &PendingLogin,
        response: TokenResponse,
        now: UnixTime,
    ) -> Result<SessionCheck, RpError> {
        let id_token = response
            .id_token
            .clone()
            .ok_or(RpError::TokenResponse("no ID token in the response"))?;
        let policy =
            policy(meta, config, &response.access_token).with_nonce(pending.nonce.as_str());
        let check = IdTokenCheck::begin(jwks, policy, &id_token, now).map_err(RpError::IdToken)?;
        let then = Then::Login { max_age: pending.max_age, leeway_secs: config.leeway_secs };
        Ok(SessionCheck { id_token: Some((check, id_token)), response, then, now })
    }

    fn open(response: TokenResponse, id_token: String, now: UnixTime) -> Result<Self, RpError> {
        let expires_in = response.expires_in.unwrap_or(DEFAULT_EXPIRES_IN_SECS);
        Ok(Self {
            claims: payload(&id_token)?,
            expires_at: now.plus(expires_in),
            access_token: response.access_token,
            refresh_token: response.refresh_token,
            id_token,
            scope: response.scope,
        })
    }

    /// The session after a refresh (or a silent login answered for the same user):
    /// a new ID token, when one came, is verified in full and must name the same
    /// issuer, user and audience as this session's (and, where both carry one, the
    /// same `auth_time` for a refresh, and no other `nonce`). A refresh response
    /// without a refresh token keeps the current one.
    ///
    /// # Errors
    ///
    /// [`RpError::IdToken`] naming the failed check, [`RpError::IdTokenChanged`]
    /// when the token is valid but someone else's.
    pub async fn refreshed<V: Verifier>(
        &self,
        crypto: &V,
        jwks: &Jwks,
        meta: &ProviderMetadata,
        config: &ClientConfig,
        response: TokenResponse,
        now: UnixTime,
    ) -> Result<Self, RpError> {
        let check = self.begin_refresh(jwks, meta, config, response, now)?;
        let valid = check.verify_with(crypto).await;
        check.finish(valid)
    }

    /// [`Self::refreshed`] up to the signature (see [`SessionCheck`]).
    ///
    /// # Errors
    ///
    /// As [`Self::refreshed`], for the checks before the signature.
    pub fn begin_refresh(
        &self,
        jwks: &Jwks,
        meta: &ProviderMetadata,
        config: &ClientConfig,
        response: TokenResponse,
        now: UnixTime,
    ) -> Result<SessionCheck, RpError> {
        let mut response = response;
        if response.refresh_token.is_none() {
            response.refresh_token.clone_from(&self.refresh_token);
        }
        let id_token = match response.id_token.clone() {
            None => None,
            Some(id_token) => {
                let policy = policy(meta, config, &response.access_token);
                let check =
                    IdTokenCheck::begin(jwks, policy, &id_token, now).map_err(RpError::IdToken)?;
                Some((check, id_token))
            }
        };
        Ok(SessionCheck { id_token, response, then: Then::Renewal(self.clone()), now })
    }

    /// OpenID Connect Core section 12.2: the renewed token is the same user's.
    fn check_same_user(&self, renewed: &IdTokenClaims) -> Result<(), RpError> {
        let current = self.user().ok_or(RpError::IdTokenChanged)?;
        let same_aud = current.aud.len() == renewed.aud.len()
            && current.aud.iter().all(|a| renewed.aud.contains(a));
        let nonce_kept = renewed.nonce.is_none() || renewed.nonce == current.nonce;
        if current.iss != renewed.iss || current.sub != renewed.sub || !same_aud || !nonce_kept {
            return Err(RpError::IdTokenChanged);
        }
        Ok(())
    }

    /// The claims the checks read, from [`Self::claims`].
    #[must_use]
    pub fn user(&self) -> Option<IdTokenClaims> {
        json::from_slice(self.claims.as_bytes()).ok()
    }

    /// The session as JSON, to share with other tabs or keep (serde's form of it).
    #[must_use]
    pub fn to_json(&self) -> String {
        json::Writer::new()
            .string("access_token", &self.access_token)
            .number("expires_at", self.expires_at.as_secs())
            .optional_string("refresh_token", self.refresh_token.as_deref())
            .string("id_token", &self.id_token)
            .string("claims", &self.claims)
            .optional_string("scope", self.scope.as_deref())
            .finish()
    }

    /// A session from [`Self::to_json`].
    ///
    /// # Errors
    ///
    /// [`json::Invalid`] when it is not one.
    pub fn from_json(json: &str) -> Result<Self, json::Invalid> {
        json::from_slice(json.as_bytes())
    }

    /// Whether the access token is still good for at least [`RENEW_BEFORE_SECS`].
    #[must_use]
    pub fn access_token_fresh(&self, now: UnixTime) -> bool {
        now.plus(RENEW_BEFORE_SECS) < self.expires_at
    }

    /// The user's `sub`.
    #[must_use]
    pub fn subject(&self) -> Option<String> {
        self.user().map(|claims| claims.sub)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::config;
    use super::*;
    use crate::json::testing::document;

    /// An error response as serde read it: the reader must agree.
    #[derive(Deserialize)]
    struct SerdeErrorBody {
        error: String,
        #[serde(default)]
        error_description: Option<String>,
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        #[test]
        fn error_bodies_read_as_serde_read_them(
            doc in document(&["error", "error_description"], |_| vec!["\"invalid_grant\"", "null"], &[])
        ) {
            let ours = json::from_slice::<ErrorBody>(&doc).ok().map(|e| (e.error, e.error_description));
            let serde = serde_json::from_slice::<SerdeErrorBody>(&doc)
                .ok()
                .map(|e| (e.error, e.error_description));
            proptest::prop_assert_eq!(ours, serde);
        }
    }

    #[test]
    fn token_responses_are_read_strictly() {
        let ok = TokenResponse::parse(
            200,
            r#"{"access_token":"at","token_type":"bearer","expires_in":300,"id_token":"x"}"#,
        )
        .unwrap();
        assert_eq!(ok.expires_in, Some(300));
        let mac = TokenResponse::parse(200, r#"{"access_token":"at","token_type":"mac"}"#);
        assert_eq!(mac.unwrap_err().code(), "invalid_token_response");
        let err = TokenResponse::parse(400, r#"{"error":"invalid_grant"}"#).unwrap_err();
        assert_eq!(err.code(), "invalid_grant");
        let html = TokenResponse::parse(502, "<html>").unwrap_err();
        assert_eq!(html.code(), "invalid_token_response");
        assert!(!format!("{ok:?}").contains("at"));
    }

    #[test]
    fn refresh_sends_the_client_id() {
        assert_eq!(
            refresh_form(&config(), "fam.secret"),
            "grant_type=refresh_token&refresh_token=fam.secret&client_id=spa"
        );
    }

    #[test]
    fn jwks_refetch_is_rate_limited() {
        let t = UnixTime::from_secs(1_000);
        let unknown = RpError::IdToken(VerifyError::UnknownKey);
        assert!(may_refetch_jwks(&unknown, t, t.plus(JWKS_REFETCH_INTERVAL_SECS)));
        assert!(!may_refetch_jwks(&unknown, t, t.plus(5)));
        assert!(!may_refetch_jwks(&RpError::IdToken(VerifyError::Signature), t, t.plus(600)));
    }

    fn session(claims: serde_json::Value) -> Session {
        Session {
            access_token: "at".into(),
            expires_at: UnixTime::from_secs(1_000),
            refresh_token: Some("rt".into()),
            id_token: "a.b.c".into(),
            claims: claims.to_string(),
            scope: None,
        }
    }

    #[test]
    fn freshness_leaves_a_margin() {
        let s = session(serde_json::json!({
            "iss": "https://id.example.com", "sub": "u", "aud": "spa", "exp": 1, "iat": 1
        }));
        assert!(s.access_token_fresh(UnixTime::from_secs(1_000 - RENEW_BEFORE_SECS - 1)));
        assert!(!s.access_token_fresh(UnixTime::from_secs(1_000 - RENEW_BEFORE_SECS)));
        assert_eq!(s.subject().as_deref(), Some("u"));
        assert!(!format!("{s:?}").contains("rt\""));
    }

    #[test]
    fn a_renewed_token_must_be_the_same_users() {
        let s = session(serde_json::json!({
            "iss": "https://id.example.com", "sub": "u", "aud": "spa", "nonce": "n",
            "exp": 2_000, "iat": 1_000
        }));
        let renewed = |sub: &str, aud: &str, nonce: Option<&str>| -> IdTokenClaims {
            serde_json::from_value(serde_json::json!({
                "iss": "https://id.example.com", "sub": sub, "aud": aud,
                "exp": 2_000, "iat": 1_000, "nonce": nonce
            }))
            .unwrap()
        };
        assert_eq!(s.check_same_user(&renewed("u", "spa", None)), Ok(()));
        assert_eq!(s.check_same_user(&renewed("u", "spa", Some("n"))), Ok(()));
        assert_eq!(s.check_same_user(&renewed("v", "spa", None)), Err(RpError::IdTokenChanged));
        assert_eq!(s.check_same_user(&renewed("u", "other", None)), Err(RpError::IdTokenChanged));
        assert_eq!(
            s.check_same_user(&renewed("u", "spa", Some("x"))),
            Err(RpError::IdTokenChanged)
        );
    }
}
