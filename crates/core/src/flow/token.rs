//! The token endpoint (RFC 6749 section 3.2): the form and the grant type are
//! parsed once, the client is authenticated once (with throttling and usage
//! counting), the grant decides what to issue, and one response carries it with
//! `Cache-Control: no-store`.

use http::{HeaderValue, StatusCode, header};
use serde::Serialize;

use super::client::{client, form_error};
use super::issue::Issued;
use super::{client_credentials, code, device, password, refresh};
use crate::client_auth::AuthenticatedClient;
use crate::context::Context;
use crate::engine::Engine;
use crate::error::{ErrorCode, OAuthError};
use crate::http::{Form, Request, Response, cors_any, json_response, parse_form};
use crate::model::app::AppRecord;
use crate::platform::Platform;
use crate::policy::GrantType;
use crate::store::UsageEvent;

/// The grant types the token endpoint serves; discovery lists exactly these.
pub(crate) const SERVED_GRANTS: &[GrantType] = &[
    GrantType::AuthorizationCode,
    GrantType::RefreshToken,
    GrantType::ClientCredentials,
    GrantType::DeviceCode,
    GrantType::Password,
];

/// A token response (RFC 6749 section 5.1), also the simplified login API's
/// answer, which may leave out the access token and adds `userinfo`.
#[derive(Serialize)]
pub(super) struct TokenResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) access_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) token_type: Option<&'static str>,
    pub(super) expires_in: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(super) scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) refresh_token: Option<String>,
    /// The ID token's claims (the simplified login API).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) userinfo: Option<serde_json::Value>,
}

impl TokenResponse {
    /// The answer carrying everything `issued` holds.
    pub(super) fn of(issued: Issued) -> Self {
        Self {
            access_token: Some(issued.access_token),
            token_type: Some("Bearer"),
            expires_in: issued.expires_in,
            scope: issued.scope.to_string(),
            id_token: issued.id_token,
            refresh_token: issued.refresh_token,
            userinfo: None,
        }
    }
}

/// The token endpoint, with its CORS answer: a browser may read it from an origin
/// the authenticated app registered (`allowed_origins`). Before the client is
/// known (a malformed request, failed authentication), and for requests without an
/// `Origin`, any origin may read the answer: it carries no cookies and reveals
/// nothing a direct request would not.
pub(crate) async fn token<P: Platform>(
    engine: &Engine<P>,
    request: Request,
    cx: &mut Context<'_>,
) -> Response {
    let origin = request.headers().get(header::ORIGIN).cloned();
    let mut app = None;
    let mut response =
        answer(engine, request, &mut app, cx).await.unwrap_or_else(OAuthError::into_response);
    match (origin, app) {
        (Some(origin), Some(app)) => {
            let allowed =
                origin.to_str().is_ok_and(|o| app.allowed_origins.iter().any(|a| a.as_str() == o));
            let headers = response.headers_mut();
            if allowed {
                headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            }
            headers.insert(header::VARY, HeaderValue::from_static("Origin"));
        }
        _ => cors_any(&mut response),
    }
    response
}

async fn answer<P: Platform>(
    engine: &Engine<P>,
    request: Request,
    app: &mut Option<std::rc::Rc<AppRecord>>,
    cx: &mut Context<'_>,
) -> Result<Response, OAuthError> {
    let (parts, body) = request.into_parts();
    let form = parse_form(&parts.headers, &body).map_err(form_error)?;
    let Some(value) = form.get("grant_type") else {
        return Err(OAuthError::invalid_request("grant_type is required"));
    };
    let Some(grant) = GrantType::parse(value).filter(|g| SERVED_GRANTS.contains(g)) else {
        return Err(OAuthError::new(ErrorCode::UnsupportedGrantType, "grant type not supported"));
    };
    let client = match client(engine, &parts.headers, &form, cx).await? {
        Ok(client) => client,
        Err(refused) => return Ok(refused),
    };
    app.clone_from(&client.app);
    let issued = issue(engine, grant, &client, &parts.headers, &form, cx).await;
    if client.registered {
        if issued.is_ok() {
            cx.count_usage(client.client_id.as_str(), UsageEvent::Token);
        }
        match &issued {
            // A user's sign-in is counted when it happens, on the login page (or,
            // for the password grant, by its check).
            Ok(_) if grant == GrantType::ClientCredentials => {
                cx.count_usage(client.client_id.as_str(), UsageEvent::Login);
            }
            Ok(_) => {}
            Err(err) if err.code() == ErrorCode::InvalidGrant && grant == GrantType::Password => {}
            Err(err) if err.code().is_client_fault() => {
                cx.count_usage(client.client_id.as_str(), UsageEvent::Failure);
            }
            Err(_) => {}
        }
    }
    Ok(json_response(StatusCode::OK, &TokenResponse::of(issued?)))
}

/// What the grant issues, once the client may use it.
async fn issue<P: Platform>(
    engine: &Engine<P>,
    grant: GrantType,
    client: &AuthenticatedClient,
    headers: &http::HeaderMap,
    form: &Form,
    cx: &mut Context<'_>,
) -> Result<Issued, OAuthError> {
    // The password grant is the app's `allow_password_grant`, not a grant type:
    // a simplified app's `password` is its login API.
    if grant == GrantType::Password {
        return password::grant(engine, client, headers, form, cx).await;
    }
    if !client.grant_types.contains(&grant) {
        let why = match grant {
            GrantType::ClientCredentials => "the client may not use the client_credentials grant",
            _ => "the client may not use this grant",
        };
        return Err(OAuthError::new(ErrorCode::UnauthorizedClient, why));
    }
    match grant {
        GrantType::ClientCredentials => client_credentials::issue(engine, client, form, cx).await,
        GrantType::AuthorizationCode => code::issue(engine, client, form, cx).await,
        GrantType::RefreshToken => refresh::issue(engine, client, form, cx).await,
        GrantType::DeviceCode => device::issue(engine, client, form, cx).await,
        _ => Err(OAuthError::new(ErrorCode::UnsupportedGrantType, "grant type not supported")),
    }
}
