//! Client authentication at the token endpoint (RFC 6749 section 2.3).
//!
//! A client authenticates with exactly one method: HTTP Basic
//! (`client_secret_basic`) or `client_id` and `client_secret` in the body
//! (`client_secret_post`). Presenting both is `invalid_request` (section 2.3:
//! "MUST NOT use more than one authentication method in each request").

use base64::Engine as _;
use http::{HeaderMap, header};

use crate::admin::apps::{AppRecord, app_key};
use crate::engine::Engine;
use crate::error::{Challenge, OAuthError};
use crate::http::Form;
use crate::jose::Algorithm;
use crate::platform::Platform;
use crate::policy::{GrantType, TokenEndpointAuthMethod};
use crate::store::{Directory, Versioned};
use crate::types::{ClientId, ClientSecret, ScopeSet};

/// The token endpoint authentication method a client used (RFC 7591 section 2 names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// HTTP Basic.
    ClientSecretBasic,
    /// Credentials in the form body.
    ClientSecretPost,
}

impl AuthMethod {
    /// The registered name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
        }
    }

    /// The challenge to send back on `invalid_client`.
    #[must_use]
    pub const fn challenge(self) -> Challenge {
        match self {
            Self::ClientSecretBasic => Challenge::Basic,
            Self::ClientSecretPost => Challenge::None,
        }
    }
}

/// Credentials a client presented, not yet checked.
#[derive(Debug)]
pub struct PresentedCredentials {
    /// The client id.
    pub client_id: ClientId,
    /// The secret.
    pub secret: ClientSecret,
    /// How they were sent.
    pub method: AuthMethod,
}

/// Reads the client's credentials from the `Authorization` header or the form.
///
/// # Errors
///
/// `invalid_request` when two methods are mixed or a body `client_id` contradicts
/// the header; `invalid_client` (401) when credentials are missing or malformed.
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
            Ok(PresentedCredentials { client_id, secret, method: AuthMethod::ClientSecretBasic })
        }
        None => {
            let (Some(id), Some(secret)) = (form.get("client_id"), form.get("client_secret"))
            else {
                return Err(OAuthError::invalid_client(
                    "client authentication is required",
                    Challenge::Basic,
                ));
            };
            let client_id = ClientId::new(id).map_err(|_| {
                OAuthError::invalid_client("client authentication failed", Challenge::None)
            })?;
            Ok(PresentedCredentials {
                client_id,
                secret: ClientSecret::new(secret.to_owned()),
                method: AuthMethod::ClientSecretPost,
            })
        }
    }
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
}

/// Checks presented credentials against the bootstrap client and the registered
/// apps. The method must be the one the app registered.
///
/// # Errors
///
/// `invalid_client` (401) for an unknown, disabled or wrong-method client or a wrong
/// secret, with one description for all so that client ids cannot be probed;
/// `temporarily_unavailable` when the directory cannot be read.
pub async fn authenticate<P: Platform>(
    engine: &Engine<P>,
    presented: PresentedCredentials,
) -> Result<AuthenticatedClient, OAuthError> {
    let failed =
        || OAuthError::invalid_client("client authentication failed", presented.method.challenge());
    let config = engine.config();
    if let Some(bootstrap) =
        config.bootstrap.as_ref().filter(|b| b.client_id == presented.client_id)
    {
        if !presented.secret.matches(&bootstrap.secret_digest) {
            return Err(failed());
        }
        return Ok(AuthenticatedClient {
            client_id: bootstrap.client_id.clone(),
            scopes: bootstrap.scopes.clone(),
            grant_types: vec![GrantType::ClientCredentials],
            access_token_lifetime: config.access_token_secs,
            access_token_alg: Algorithm::ES256,
        });
    }
    let app = match engine.platform().directory().get(&app_key(presented.client_id.as_str())).await
    {
        Ok(Some(bytes)) => serde_json::from_slice::<Versioned>(&bytes)
            .ok()
            .and_then(|v| serde_json::from_value::<AppRecord>(v.record).ok()),
        Ok(None) => None,
        Err(err) => return Err(crate::engine::store_error(&err)),
    };
    let Some(app) = app else {
        // Spend the same work as a real check before refusing an unknown id.
        let _ = presented.secret.matches(&[0u8; 32]);
        return Err(failed());
    };
    let method_ok = match presented.method {
        AuthMethod::ClientSecretBasic => {
            app.token_endpoint_auth_method == TokenEndpointAuthMethod::ClientSecretBasic
        }
        AuthMethod::ClientSecretPost => {
            app.token_endpoint_auth_method == TokenEndpointAuthMethod::ClientSecretPost
        }
    };
    let secret_ok = app.secret_matches(&presented.secret, &config.kek);
    if !app.enabled || !method_ok || !secret_ok {
        return Err(failed());
    }
    Ok(AuthenticatedClient {
        client_id: presented.client_id,
        scopes: app.scope,
        grant_types: app.grant_types,
        access_token_lifetime: app.access_token_lifetime,
        access_token_alg: app.access_token_signed_response_alg,
    })
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
        assert_eq!(creds.secret.expose(), "p:ss word");
        assert_eq!(creds.method, AuthMethod::ClientSecretBasic);
    }

    #[test]
    fn post_credentials() {
        let creds =
            presented_credentials(&HeaderMap::new(), &form("client_id=a&client_secret=b")).unwrap();
        assert_eq!(creds.method, AuthMethod::ClientSecretPost);
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
        let err = presented_credentials(&HeaderMap::new(), &form("client_id=a")).unwrap_err();
        assert_eq!(err.code(), crate::error::ErrorCode::InvalidClient);
    }
}
