//! OAuth error codes and the error type every flow returns.
//!
//! Errors are data: a flow returns [`OAuthError`], and [`OAuthError::into_response`]
//! turns it into the RFC 6749 section 5.2 JSON body with the right status code.
//! Infrastructure failures (a store that is down, a crypto call that failed) become an
//! opaque `server_error` or `temporarily_unavailable`: their details never reach the wire.

use http::{HeaderValue, StatusCode, header};

use crate::http::{Response, json_response};

/// Every error code Gatehouse puts on the wire (RFC 6749 sections 4.1.2.1 and 5.2,
/// RFC 6750 section 3.1, RFC 8628 section 3.5, RFC 8707 section 2, OpenID Connect Core
/// section 3.1.2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The request is missing a parameter, repeats one, or is otherwise malformed.
    InvalidRequest,
    /// Client authentication failed.
    InvalidClient,
    /// The grant (code, refresh token, credentials) is invalid, expired or revoked.
    InvalidGrant,
    /// The client may not use this grant type.
    UnauthorizedClient,
    /// The grant type is not supported by this server.
    UnsupportedGrantType,
    /// The requested scope is invalid, unknown, or exceeds what the client may ask for.
    InvalidScope,
    /// The requested resource is invalid, unknown, or not one the client may use
    /// (RFC 8707 section 2).
    InvalidTarget,
    /// The resource owner or server denied the request.
    AccessDenied,
    /// The response type is not supported.
    UnsupportedResponseType,
    /// The server met an unexpected condition.
    ServerError,
    /// The server is temporarily unable to handle the request.
    TemporarilyUnavailable,
    /// The access token is expired, revoked, malformed or otherwise invalid (RFC 6750).
    InvalidToken,
    /// The access token lacks a scope the resource needs (RFC 6750).
    InsufficientScope,
    /// `prompt=none`, but the user must sign in (OpenID Connect Core 3.1.2.6).
    LoginRequired,
    /// `prompt=none`, but the user must consent.
    ConsentRequired,
    /// `prompt=none`, but the user must interact some other way.
    InteractionRequired,
    /// `prompt=none`, but the user must choose an account.
    AccountSelectionRequired,
    /// The `request` parameter (a request object) is not supported.
    RequestNotSupported,
    /// The `request_uri` parameter is not supported.
    RequestUriNotSupported,
    /// Revocation of this token type is not supported (RFC 7009 section 2.2.1).
    UnsupportedTokenType,
    /// The device's user has not decided yet (RFC 8628 section 3.5).
    AuthorizationPending,
    /// The device polls too fast: wait 5 more seconds (RFC 8628 section 3.5).
    SlowDown,
    /// The device code expired (RFC 8628 section 3.5).
    ExpiredToken,
}

impl ErrorCode {
    /// Whether the client caused the error (every code but `server_error` and
    /// `temporarily_unavailable`): what usage statistics count as a failure.
    #[must_use]
    pub const fn is_client_fault(self) -> bool {
        !matches!(self, Self::ServerError | Self::TemporarilyUnavailable)
    }

    /// The code as it appears in the `error` member.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::InvalidTarget => "invalid_target",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::InteractionRequired => "interaction_required",
            Self::AccountSelectionRequired => "account_selection_required",
            Self::RequestNotSupported => "request_not_supported",
            Self::RequestUriNotSupported => "request_uri_not_supported",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::ExpiredToken => "expired_token",
        }
    }

    /// The HTTP status this code is answered with at the token endpoint.
    #[must_use]
    pub const fn status(self) -> StatusCode {
        match self {
            Self::InvalidClient | Self::InvalidToken => StatusCode::UNAUTHORIZED,
            Self::InsufficientScope | Self::AccessDenied => StatusCode::FORBIDDEN,
            Self::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            Self::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the client tried to authenticate, which decides the `WWW-Authenticate`
/// challenge on an `invalid_client` answer (RFC 6749 section 5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Challenge {
    /// No challenge header.
    None,
    /// `WWW-Authenticate: Basic realm="..."`: the client used HTTP Basic.
    Basic,
}

/// An OAuth error on its way to the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    code: ErrorCode,
    description: Option<&'static str>,
    status: Option<StatusCode>,
    challenge: Challenge,
}

impl OAuthError {
    /// An error with a human-readable description (lowercase, no trailing punctuation).
    #[must_use]
    pub const fn new(code: ErrorCode, description: &'static str) -> Self {
        Self { code, description: Some(description), status: None, challenge: Challenge::None }
    }

    /// `invalid_request` with a description.
    #[must_use]
    pub const fn invalid_request(description: &'static str) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }

    /// `invalid_client` answered with 401; `challenge` adds `WWW-Authenticate`.
    #[must_use]
    pub const fn invalid_client(description: &'static str, challenge: Challenge) -> Self {
        Self {
            code: ErrorCode::InvalidClient,
            description: Some(description),
            status: None,
            challenge,
        }
    }

    /// The opaque error for broken infrastructure: nothing about the cause is disclosed.
    #[must_use]
    pub const fn server_error() -> Self {
        Self::new(ErrorCode::ServerError, "the server could not complete the request")
    }

    /// The opaque error for a dependency that is down for now.
    #[must_use]
    pub const fn temporarily_unavailable() -> Self {
        Self::new(
            ErrorCode::TemporarilyUnavailable,
            "the service is temporarily unavailable, try again later",
        )
    }

    /// Overrides the status code (e.g. 413 for an oversized `invalid_request`).
    #[must_use]
    pub const fn with_status(mut self, status: StatusCode) -> Self {
        self.status = Some(status);
        self
    }

    /// The error code.
    #[must_use]
    pub const fn code(&self) -> ErrorCode {
        self.code
    }

    /// The description, if any.
    #[must_use]
    pub const fn description(&self) -> Option<&'static str> {
        self.description
    }

    /// The HTTP status this error is answered with.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.status.unwrap_or_else(|| self.code.status())
    }

    /// The RFC 6749 section 5.2 JSON response, with `Cache-Control: no-store`.
    #[must_use]
    pub fn into_response(self) -> Response {
        let body = ErrorBody { error: self.code.as_str(), error_description: self.description };
        let mut response = json_response(self.status(), &body);
        if self.challenge == Challenge::Basic {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"gatehouse\", charset=\"UTF-8\""),
            );
        }
        response
    }
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.description {
            Some(d) => write!(f, "{}: {d}", self.code),
            None => write!(f, "{}", self.code),
        }
    }
}

impl std::error::Error for OAuthError {}

/// An RFC 6750 section 3 answer of a protected resource (the gateway, userinfo,
/// the management API): the `WWW-Authenticate: Bearer` challenge with the
/// `error` code from [`ErrorCode`], and the JSON error body. Every surface that
/// takes bearer tokens builds its challenge here, so they all speak alike.
#[derive(Debug, Clone, Copy, Default)]
pub struct BearerChallenge<'a> {
    /// `realm`, if the surface names one.
    pub realm: Option<&'a str>,
    /// `error`: none when the request carried no token (section 3.1).
    pub error: Option<ErrorCode>,
    /// `error_description`.
    pub description: Option<&'a str>,
    /// `scope`: the scopes the resource needs.
    pub scope: Option<&'a str>,
}

impl BearerChallenge<'_> {
    /// The `WWW-Authenticate` value: `Bearer`, then the parameters that are set.
    #[must_use]
    pub fn header_value(&self) -> String {
        let mut params = Vec::new();
        if let Some(realm) = self.realm {
            params.push(format!(r#"realm="{realm}""#));
        }
        if let Some(error) = self.error {
            params.push(format!(r#"error="{}""#, error.as_str()));
        }
        if let Some(description) = self.description.filter(|_| self.error.is_some()) {
            params.push(format!(r#"error_description="{description}""#));
        }
        if let Some(scope) = self.scope {
            params.push(format!(r#"scope="{scope}""#));
        }
        if params.is_empty() {
            "Bearer".to_owned()
        } else {
            format!("Bearer {}", params.join(", "))
        }
    }

    /// The whole answer: the status of the error (401 without one), the challenge,
    /// and the RFC 6749 style JSON body (`invalid_request` when no token came).
    #[must_use]
    pub fn into_response(self) -> Response {
        let code = self.error.unwrap_or(ErrorCode::InvalidRequest);
        let status = self.error.map_or(StatusCode::UNAUTHORIZED, ErrorCode::status);
        let body = ErrorBody { error: code.as_str(), error_description: None };
        let mut response = match self.description {
            Some(description) => json_response(
                status,
                &serde_json::json!({ "error": body.error, "error_description": description }),
            ),
            None => json_response(status, &body),
        };
        if let Ok(value) = HeaderValue::from_str(&self.header_value()) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

#[derive(serde::Serialize)]
struct ErrorBody {
    error: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_description: Option<&'static str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_client_with_basic_is_401_with_challenge() {
        let response = OAuthError::invalid_client("bad", Challenge::Basic).into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let challenge = response.headers().get(header::WWW_AUTHENTICATE).unwrap();
        assert!(challenge.to_str().unwrap().starts_with("Basic realm="));
    }

    #[test]
    fn invalid_client_without_basic_has_no_challenge() {
        let response = OAuthError::invalid_client("bad", Challenge::None).into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(response.headers().get(header::WWW_AUTHENTICATE).is_none());
    }

    #[test]
    fn body_is_rfc6749_json() {
        let response = OAuthError::new(ErrorCode::InvalidScope, "nope").into_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(body["error"], "invalid_scope");
        assert_eq!(body["error_description"], "nope");
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    }

    #[test]
    fn bearer_challenges_name_only_what_is_set() {
        assert_eq!(BearerChallenge::default().header_value(), "Bearer");
        let full = BearerChallenge {
            realm: Some("gatehouse"),
            error: Some(ErrorCode::InsufficientScope),
            description: Some("needs a"),
            scope: Some("a b"),
        };
        assert_eq!(
            full.header_value(),
            r#"Bearer realm="gatehouse", error="insufficient_scope", error_description="needs a", scope="a b""#
        );
        let response = full.into_response();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let missing =
            BearerChallenge { description: Some("a token is required"), ..Default::default() };
        let response = missing.into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
    }

    #[test]
    fn status_codes_follow_the_rfcs() {
        assert_eq!(ErrorCode::InvalidGrant.status(), StatusCode::BAD_REQUEST);
        assert_eq!(ErrorCode::InsufficientScope.status(), StatusCode::FORBIDDEN);
        assert_eq!(ErrorCode::TemporarilyUnavailable.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
