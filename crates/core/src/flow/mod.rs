//! The OAuth flows, one module per grant or endpoint. The token endpoint parses the
//! form once and dispatches on `grant_type`.

mod audience;
mod client_credentials;

use http::StatusCode;

use crate::context::Context;
use crate::engine::Engine;
use crate::error::{ErrorCode, OAuthError};
use crate::http::{FormError, Request, Response, parse_form};
use crate::platform::Platform;
use crate::policy::GrantType;

/// The grant types the token endpoint serves; discovery lists exactly these.
pub(crate) const SERVED_GRANTS: &[GrantType] = &[GrantType::ClientCredentials];

/// The token endpoint (RFC 6749 section 3.2).
pub(crate) async fn token<P: Platform>(
    engine: &Engine<P>,
    request: Request,
    cx: &mut Context<'_>,
) -> Result<Response, OAuthError> {
    let (parts, body) = request.into_parts();
    let form = parse_form(&parts.headers, &body).map_err(|e| match e {
        FormError::ContentType => {
            OAuthError::invalid_request("content type must be application/x-www-form-urlencoded")
        }
        FormError::TooLarge => OAuthError::invalid_request("request body too large")
            .with_status(StatusCode::PAYLOAD_TOO_LARGE),
        FormError::NotUtf8 => OAuthError::invalid_request("request body is not utf-8"),
        // RFC 8707 allows several `resource` parameters; a token here is for one API.
        FormError::Duplicate(name) if name == "resource" => OAuthError::new(
            ErrorCode::InvalidTarget,
            "one resource per token request: request a token for each resource",
        ),
        FormError::Duplicate(_) => {
            OAuthError::invalid_request("a parameter was sent more than once")
        }
    })?;
    let Some(value) = form.get("grant_type") else {
        return Err(OAuthError::invalid_request("grant_type is required"));
    };
    match GrantType::parse(value).filter(|g| SERVED_GRANTS.contains(g)) {
        Some(GrantType::ClientCredentials) => {
            client_credentials::grant(engine, &parts.headers, &form, cx).await
        }
        _ => Err(OAuthError::new(ErrorCode::UnsupportedGrantType, "grant type not supported")),
    }
}
