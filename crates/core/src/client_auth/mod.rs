//! Client authentication at the token endpoint (RFC 6749 section 2.3).
//!
//! A client authenticates with exactly one method: HTTP Basic
//! (`client_secret_basic`), `client_id` and `client_secret` in the body
//! (`client_secret_post`), or a JWT assertion in the body (`client_secret_jwt` and
//! `private_key_jwt`, RFC 7523; see [`assertion`]). Presenting two is
//! `invalid_request` (section 2.3: "MUST NOT use more than one authentication method
//! in each request"). The method must be the one the app registered. Failed
//! authentications are throttled per client and address ([`throttle`]).

pub mod assertion;
pub mod throttle;

use base64::Engine as _;
use http::{HeaderMap, header};

use crate::engine::Engine;
use crate::error::{Challenge, OAuthError};
use crate::fetch::{Fetch as _, check_destination};
use crate::http::Form;
use crate::jose::{Algorithm, Jwks};
use crate::model::app::AppRecord;
use crate::platform::Platform;
use crate::policy::{GrantType, TokenEndpointAuthMethod};
use crate::store::read_record;
use crate::store::schema;
use crate::store::{OnceStore, StoreError};
use crate::types::{ClientId, ClientSecret, ScopeSet, UnixTime};
use assertion::{AssertionAlg, AssertionError, ClientAssertion, JWT_BEARER};

/// The challenge to send back on `invalid_client` for credentials sent by `method`:
/// `WWW-Authenticate: Basic` only when the client used the `Authorization` header
/// (RFC 6749 section 5.2).
#[must_use]
pub const fn challenge(method: TokenEndpointAuthMethod) -> Challenge {
    match method {
        TokenEndpointAuthMethod::ClientSecretBasic => Challenge::Basic,
        _ => Challenge::None,
    }
}

/// What a client presented to prove who it is.
#[derive(Debug)]
pub enum Credential {
    /// A client secret (Basic or form body).
    Secret(ClientSecret),
    /// A JWT assertion (RFC 7523).
    Assertion(Box<ClientAssertion>),
    /// Only the `client_id`: a public client (`none`), which holds no secret.
    None,
}

/// Credentials a client presented, not yet checked.
#[derive(Debug)]
pub struct PresentedCredentials {
    /// The client id.
    pub client_id: ClientId,
    /// The secret or assertion.
    pub credential: Credential,
    /// How they were sent (`none` for a bare `client_id`).
    pub method: TokenEndpointAuthMethod,
}

/// Reads the client's credentials from the `Authorization` header or the form.
///
/// # Errors
///
/// `invalid_request` when two methods are mixed or a body `client_id` contradicts
/// the credentials; `invalid_client` (401) when credentials are missing or malformed.
pub fn presented_credentials(
    headers: &HeaderMap,
    form: &Form,
) -> Result<PresentedCredentials, OAuthError> {
    let authorization = headers.get_all(header::AUTHORIZATION);
    let mut values = authorization.iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(OAuthError::invalid_request("authorization header sent more than once"));
    }
    if form.contains("client_assertion") || form.contains("client_assertion_type") {
        if first.is_some() || form.contains("client_secret") {
            return Err(OAuthError::invalid_request(
                "client authenticated with more than one method",
            ));
        }
        return presented_assertion(form);
    }
    match first {
        Some(value) => {
            if form.contains("client_secret") {
                return Err(OAuthError::invalid_request(
                    "client authenticated with more than one method",
                ));
            }
            let (client_id, secret) = parse_basic(value.as_bytes()).ok_or_else(|| {
                OAuthError::invalid_client("malformed basic credentials", Challenge::Basic)
            })?;
            if form.get("client_id").is_some_and(|id| id != client_id.as_str()) {
                return Err(OAuthError::invalid_request(
                    "client_id differs from the authenticated client",
                ));
            }
            Ok(PresentedCredentials {
                client_id,
                credential: Credential::Secret(secret),
                method: TokenEndpointAuthMethod::ClientSecretBasic,
            })
        }
        None => {
            let Some(id) = form.get("client_id") else {
                return Err(OAuthError::invalid_client(
                    "client authentication is required",
                    Challenge::Basic,
                ));
            };
            let client_id = ClientId::new(id).map_err(|_| {
                OAuthError::invalid_client("client authentication failed", Challenge::None)
            })?;
            Ok(match form.get("client_secret") {
                Some(secret) => PresentedCredentials {
                    client_id,
                    credential: Credential::Secret(ClientSecret::new(secret.to_owned())),
                    method: TokenEndpointAuthMethod::ClientSecretPost,
                },
                // A public client identifies itself; only an app registered with
                // `none` is authenticated this way (RFC 6749 section 2.1).
                None => PresentedCredentials {
                    client_id,
                    credential: Credential::None,
                    method: TokenEndpointAuthMethod::None,
                },
            })
        }
    }
}

/// Reads `client_assertion_type` and `client_assertion` (RFC 7521 section 4.2).
fn presented_assertion(form: &Form) -> Result<PresentedCredentials, OAuthError> {
    let (Some(kind), Some(token)) =
        (form.get("client_assertion_type"), form.get("client_assertion"))
    else {
        return Err(OAuthError::invalid_request(
            "client_assertion and client_assertion_type go together",
        ));
    };
    if kind != JWT_BEARER {
        return Err(OAuthError::invalid_client(
            "client_assertion_type is not supported",
            Challenge::None,
        ));
    }
    let assertion = ClientAssertion::parse(token).map_err(|_| {
        OAuthError::invalid_client("client assertion is malformed", Challenge::None)
    })?;
    if form.get("client_id").is_some_and(|id| id != assertion.client_id().as_str()) {
        return Err(OAuthError::invalid_request("client_id differs from the assertion's subject"));
    }
    let method = match assertion.alg() {
        AssertionAlg::HS256 => TokenEndpointAuthMethod::ClientSecretJwt,
        AssertionAlg::Signature(_) => TokenEndpointAuthMethod::PrivateKeyJwt,
    };
    Ok(PresentedCredentials {
        client_id: assertion.client_id().clone(),
        credential: Credential::Assertion(Box::new(assertion)),
        method,
    })
}

/// Parses `Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 section 2.3.1,
/// RFC 7617). The scheme is case-insensitive.
fn parse_basic(value: &[u8]) -> Option<(ClientId, ClientSecret)> {
    let value = std::str::from_utf8(value).ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let id = form_decode(id)?;
    let secret = form_decode(secret)?;
    if secret.is_empty() {
        return None;
    }
    Some((ClientId::new(id).ok()?, ClientSecret::new(secret)))
}

fn form_decode(text: &str) -> Option<String> {
    percent_encoding::percent_decode_str(&text.replace('+', " ")).decode_utf8().ok().map(Into::into)
}

/// A client whose credentials checked out, with what it may do.
#[derive(Debug, Clone)]
pub struct AuthenticatedClient {
    /// Its id.
    pub client_id: ClientId,
    /// The scopes it may request.
    pub scopes: ScopeSet,
    /// The grants it may use.
    pub grant_types: Vec<GrantType>,
    /// Access token lifetime in seconds.
    pub access_token_lifetime: u64,
    /// Access token signing algorithm.
    pub access_token_alg: Algorithm,
    /// Whether it is a registered app (with a usage series), not the bootstrap client.
    pub registered: bool,
    /// The app's record (`None` for the bootstrap client).
    pub app: Option<std::rc::Rc<AppRecord>>,
}

impl AuthenticatedClient {
    /// The client `client_id` is, as the app `app`, once authenticated.
    #[must_use]
    pub fn for_app(client_id: ClientId, app: &AppRecord) -> Self {
        Self {
            client_id,
            scopes: app.scope.clone(),
            grant_types: app.grant_types.clone(),
            access_token_lifetime: app.access_token_lifetime,
            access_token_alg: app.access_token_signed_response_alg,
            registered: true,
            app: Some(std::rc::Rc::new(app.clone())),
        }
    }
}

/// A refused client authentication: the error to answer, the client id when it names
/// a registered app (whose usage counts the failure), and why, for the operator's log.
#[derive(Debug)]
pub struct Refusal {
    /// The answer.
    pub error: OAuthError,
    /// The registered app the credentials named, if any.
    pub app: Option<ClientId>,
    /// Which check failed (never a secret).
    pub reason: String,
}

impl From<OAuthError> for Refusal {
    fn from(error: OAuthError) -> Self {
        Self { error, app: None, reason: "the store could not be read".to_owned() }
    }
}

/// Checks presented credentials against the bootstrap client and the registered
/// apps at `now`. The method must be the one the app registered.
///
/// # Errors
///
/// `invalid_client` (401) for an unknown, disabled or wrong-method client, a wrong
/// secret or a bad assertion, with one description for all so that client ids cannot
/// be probed; `temporarily_unavailable` when a store cannot be reached.
pub async fn authenticate<P: Platform>(
    engine: &Engine<P>,
    presented: PresentedCredentials,
    now: UnixTime,
) -> Result<AuthenticatedClient, Refusal> {
    let failed =
        || OAuthError::invalid_client("client authentication failed", challenge(presented.method));
    let config = engine.config();
    if let Some(bootstrap) =
        config.bootstrap.as_ref().filter(|b| b.client_id == presented.client_id)
    {
        let unknown = |reason: &str| Refusal { error: failed(), app: None, reason: reason.into() };
        let Credential::Secret(secret) = &presented.credential else {
            return Err(unknown("the bootstrap client authenticates with its secret only"));
        };
        if !secret.matches(&bootstrap.secret_digest) {
            return Err(unknown("wrong secret for the bootstrap client"));
        }
        return Ok(AuthenticatedClient {
            client_id: bootstrap.client_id.clone(),
            scopes: bootstrap.scopes.clone(),
            grant_types: vec![GrantType::ClientCredentials],
            access_token_lifetime: config.access_token_secs,
            access_token_alg: Algorithm::ES256,
            registered: false,
            app: None,
        });
    }
    // Through the isolate's read cache: a change reaches this check within the
    // bound of `crate::cache`.
    let directory = engine.cached_directory(now);
    let app = read_record::<AppRecord, _>(&directory, &schema::app(presented.client_id.as_str()))
        .await
        .map_err(|err| Refusal::from(crate::engine::store_error(&err)))?;
    let Some(app) = app else {
        // Spend the same work as a real check before refusing an unknown id.
        if let Credential::Secret(secret) = &presented.credential {
            let _ = secret.matches(&[0u8; 32]);
        }
        return Err(Refusal { error: failed(), app: None, reason: "no such client".into() });
    };
    let refused =
        |error, reason: String| Refusal { error, app: Some(presented.client_id.clone()), reason };
    let method_ok = presented.method == app.token_endpoint_auth_method;
    let why_not = || {
        if app.enabled {
            format!(
                "the app authenticates with {}, the request used {}",
                app.token_endpoint_auth_method.as_str(),
                presented.method.as_str()
            )
        } else {
            "the app is disabled".to_owned()
        }
    };
    if !app.enabled || !method_ok {
        return Err(refused(failed(), why_not()));
    }
    let checked = match &presented.credential {
        Credential::Secret(secret) => {
            if app.secret_matches(secret, &config.kek) {
                Ok(())
            } else {
                Err("wrong client secret".to_owned())
            }
        }
        // The registered method is `none` (checked above): nothing to prove.
        Credential::None => Ok(()),
        Credential::Assertion(assertion) => check_assertion(engine, &app, assertion, now)
            .await
            .map_err(|e| refused(e, "the store could not be reached".to_owned()))?
            .map_err(|e| e.to_string()),
    };
    if let Err(reason) = checked {
        return Err(refused(failed(), reason));
    }
    Ok(AuthenticatedClient::for_app(presented.client_id, &app))
}

/// Checks an assertion for `app`: MAC or signature first, then the claims, then the
/// `jti` is recorded so the assertion works once. Store failures are errors; a bad
/// assertion is `Ok(Err(_))`.
async fn check_assertion<P: Platform>(
    engine: &Engine<P>,
    app: &AppRecord,
    assertion: &ClientAssertion,
    now: UnixTime,
) -> Result<Result<(), AssertionError>, OAuthError> {
    let config = engine.config();
    let checked = match assertion.alg() {
        AssertionAlg::HS256 => match app.opened_secret(&config.kek) {
            Some(secret) => assertion.check_mac(secret.expose()),
            None => Err(AssertionError::NoKey),
        },
        AssertionAlg::Signature(_) => match (&app.jwks, &app.jwks_uri) {
            (Some(jwks), _) => assertion.check_signature(engine.platform().crypto(), jwks).await,
            (None, Some(url)) => check_with_remote_keys(engine, assertion, url.as_str(), now).await,
            (None, None) => Err(AssertionError::NoKey),
        },
    };
    let issuer = config.issuer.as_str();
    let (replay_key, until) = match checked.and_then(|()| assertion.check_claims(issuer, now)) {
        Ok(found) => found,
        Err(err) => return Ok(Err(err)),
    };
    match engine.platform().once().put(&replay_key, b"", until, now).await {
        Ok(()) => Ok(Ok(())),
        Err(StoreError::Conflict) => Ok(Err(AssertionError::Replayed)),
        Err(err) => Err(crate::engine::store_error(&err)),
    }
}

/// Checks a signature with the keys the app publishes at its `jwks_uri`. When no key
/// fits (one the client has just added, say), the document is fetched once more,
/// which the host allows at most once per cooldown. The URL is checked against the
/// fetch policy first: a record written under another policy is not trusted.
async fn check_with_remote_keys<P: Platform>(
    engine: &Engine<P>,
    assertion: &ClientAssertion,
    url: &str,
    now: UnixTime,
) -> Result<(), AssertionError> {
    if check_destination(url, engine.config().fetch_policy).is_err() {
        return Err(AssertionError::Destination);
    }
    let crypto = engine.platform().crypto();
    let Some(jwks) = remote_jwks(engine, url, false, now).await else {
        return Err(AssertionError::NoKey);
    };
    match assertion.check_signature(crypto, &jwks).await {
        Err(AssertionError::NoKey) => match remote_jwks(engine, url, true, now).await {
            Some(jwks) => assertion.check_signature(crypto, &jwks).await,
            None => Err(AssertionError::NoKey),
        },
        checked => checked,
    }
}

/// The JWK set at `url`, if it answers 200 with one of a sane size.
async fn remote_jwks<P: Platform>(
    engine: &Engine<P>,
    url: &str,
    revalidate: bool,
    now: UnixTime,
) -> Option<Jwks> {
    let fetched = engine.platform().fetch().get(url, revalidate, now).await.ok()?;
    if fetched.status != 200 || fetched.body.len() > crate::fetch::MAX_DOCUMENT_BYTES {
        return None;
    }
    serde_json::from_slice(&fetched.body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn basic(id: &str, secret: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let raw = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
        headers
            .insert(header::AUTHORIZATION, HeaderValue::from_str(&format!("Basic {raw}")).unwrap());
        headers
    }

    fn form(body: &str) -> Form {
        let mut headers = HeaderMap::new();
        headers
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(crate::http::FORM_URLENCODED));
        crate::http::parse_form(&headers, body.as_bytes()).unwrap()
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let creds = presented_credentials(&basic("my%20app", "p%3Ass+word"), &form("")).unwrap();
        assert_eq!(creds.client_id.as_str(), "my app");
        let Credential::Secret(secret) = creds.credential else { panic!("a secret") };
        assert_eq!(secret.expose(), "p:ss word");
        assert_eq!(creds.method, TokenEndpointAuthMethod::ClientSecretBasic);
    }

    #[test]
    fn post_credentials() {
        let creds =
            presented_credentials(&HeaderMap::new(), &form("client_id=a&client_secret=b")).unwrap();
        assert_eq!(creds.method, TokenEndpointAuthMethod::ClientSecretPost);
    }

    #[test]
    fn two_methods_is_invalid_request() {
        let err = presented_credentials(&basic("a", "b"), &form("client_secret=b")).unwrap_err();
        assert_eq!(err.code(), crate::error::ErrorCode::InvalidRequest);
    }

    #[test]
    fn mismatched_body_client_id_is_invalid_request() {
        let err = presented_credentials(&basic("a", "b"), &form("client_id=c")).unwrap_err();
        assert_eq!(err.code(), crate::error::ErrorCode::InvalidRequest);
    }

    #[test]
    fn malformed_basic_is_invalid_client_with_challenge() {
        for raw in ["Basic !!!", "Basic", "Bearer abc", "Basic YWJj"] {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, HeaderValue::from_static(raw));
            let err = presented_credentials(&headers, &form("")).unwrap_err();
            assert_eq!(err.code(), crate::error::ErrorCode::InvalidClient, "{raw}");
            let response = err.into_response();
            assert!(response.headers().contains_key(header::WWW_AUTHENTICATE));
        }
    }

    #[test]
    fn no_credentials_is_invalid_client() {
        let err = presented_credentials(&HeaderMap::new(), &form("grant_type=x")).unwrap_err();
        assert_eq!(err.code(), crate::error::ErrorCode::InvalidClient);
    }

    #[test]
    fn a_bare_client_id_is_a_public_client() {
        let presented = presented_credentials(&HeaderMap::new(), &form("client_id=a")).unwrap();
        assert_eq!(presented.method, TokenEndpointAuthMethod::None);
        assert!(matches!(presented.credential, Credential::None));
    }
}
