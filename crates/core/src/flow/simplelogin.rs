//! The simplified login API of `simplified` apps: a password sign-in by API call,
//! with no hosted page.
//!
//! - `POST /simplelogin/api/v1/token` is stateless: the app sends the user's
//!   `identifier` and `password` with the `scope` and a `response_type` (`token`,
//!   `id_token` or `token id_token`) and gets the tokens in the answer, with the
//!   ID token's claims as `userinfo`.
//! - `POST /simplelogin/api/v1/authenticate` continues an authorization request:
//!   for a simplified app, `/authorize` answers with a cookie holding the sealed
//!   request instead of a login page ([`start`]); the app posts the credentials
//!   with that cookie and is redirected to its redirect URI with a `code` (or an
//!   `error`), which it redeems at the token endpoint as usual.
//!
//! Both take a JSON body, authenticate the app (HTTP Basic, or `client_id` and
//! `client_secret` in the body for `client_secret_post`) and check the password
//! as the hosted login does ([`super::password`]). The JSON media type is also
//! what keeps another site from posting the cookie-bearing step: a cross-site
//! request with it needs a CORS preflight, which these endpoints never allow.

use http::{HeaderMap, StatusCode};
use serde_json::{Map, Value, json};

use super::client::client;
use super::interaction::{INTERACTION_SECS, Interaction};
use super::issue::app_of;
use super::password::{MAX_CREDENTIAL, Refusal, grant_for, issue, sign_in};
use super::request::AuthorizationRequest;
use super::respond::{expired, respond_error, set_cookie};
use super::steps::issue_code;
use super::token::TokenResponse;
use crate::client_auth::AuthenticatedClient;
use crate::context::Context;
use crate::endpoints::SIMPLELOGIN_AUTHENTICATE_PATH;
use crate::engine::Engine;
use crate::error::{ErrorCode, OAuthError};
use crate::http::{
    Form, JsonError, Request, Response, encode_pairs, json_response, parse_json_object, parse_query,
};
use crate::jose::b64url_decode;
use crate::model::app::AppRecord;
use crate::platform::Platform;
use crate::policy::{AppType, GrantType};

/// The cookie holding the sealed authorization request between `/authorize` and
/// the authenticate step.
pub(crate) const COOKIE: &str = "gatehouse-simplelogin";

/// A call of a simplified app: its JSON body, the authenticated client and its app.
struct Call {
    body: Map<String, Value>,
    client: AuthenticatedClient,
    app: std::rc::Rc<AppRecord>,
}

/// Reads a call's JSON body and authenticates the simplified app making it; a
/// penalized client's 429 as `Ok(Err(response))`.
async fn read_call<P: Platform>(
    engine: &Engine<P>,
    headers: &HeaderMap,
    body: &[u8],
    cx: &mut Context<'_>,
) -> Result<Result<Call, Response>, OAuthError> {
    let body = parse_json_object(headers, body, &["application/json"]).map_err(|e| match e {
        JsonError::ContentType => {
            OAuthError::invalid_request("content type must be application/json")
        }
        JsonError::TooLarge => OAuthError::invalid_request("request body too large")
            .with_status(StatusCode::PAYLOAD_TOO_LARGE),
        JsonError::Malformed(_) => OAuthError::invalid_request("the body must be a JSON object"),
    })?;
    let form = credentials_form(&body)?;
    let client = match client(engine, headers, &form, cx).await? {
        Ok(client) => client,
        Err(refused) => return Ok(Err(refused)),
    };
    let app = app_of(&client)?;
    if app.app_type != AppType::Simplified || !app.grant_types.contains(&GrantType::Password) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "the simplified login API is for simplified apps with the password grant",
        ));
    }
    Ok(Ok(Call { body, client, app }))
}

/// The client credentials a `client_secret_post` app sends in the JSON body, as
/// the form client authentication reads.
fn credentials_form(body: &Map<String, Value>) -> Result<Form, OAuthError> {
    let mut pairs = Vec::new();
    for name in ["client_id", "client_secret"] {
        match body.get(name) {
            None => {}
            Some(Value::String(value)) => pairs.push((name, value.as_str())),
            Some(_) => {
                return Err(OAuthError::invalid_request(
                    "client_id and client_secret must be strings",
                ));
            }
        }
    }
    parse_query(&encode_pairs(pairs))
        .map_err(|_| OAuthError::invalid_request("client_id and client_secret must be strings"))
}

/// The user's credentials in a call's body: `identifier` and `password`,
/// non-empty strings of at most [`MAX_CREDENTIAL`] bytes.
fn credentials(body: &Map<String, Value>) -> Result<(&str, &str), OAuthError> {
    let read = |name: &str, missing: &'static str, bad: &'static str| match body.get(name) {
        None | Some(Value::Null) => Err(OAuthError::invalid_request(missing)),
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= MAX_CREDENTIAL => {
            Ok(s.as_str())
        }
        Some(_) => Err(OAuthError::invalid_request(bad)),
    };
    let identifier = read(
        "identifier",
        "identifier is required",
        "identifier must be a non-empty string of at most 1024 bytes",
    )?;
    let password = read(
        "password",
        "password is required",
        "password must be a non-empty string of at most 1024 bytes",
    )?;
    Ok((identifier.trim(), password))
}

/// What the token call asks for: `token`, `id_token` or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ResponseType {
    token: bool,
    id_token: bool,
}

impl ResponseType {
    fn parse(value: Option<&Value>) -> Result<Self, OAuthError> {
        let Some(value) = value else {
            return Err(OAuthError::invalid_request("response_type is required"));
        };
        match value.as_str() {
            Some("token") => Ok(Self { token: true, id_token: false }),
            Some("id_token") => Ok(Self { token: false, id_token: true }),
            Some("token id_token" | "id_token token") => Ok(Self { token: true, id_token: true }),
            _ => Err(OAuthError::new(
                ErrorCode::UnsupportedResponseType,
                "response_type must be token, id_token or token id_token",
            )),
        }
    }
}

/// `POST /simplelogin/api/v1/token`.
pub(crate) async fn token<P: Platform>(
    engine: &Engine<P>,
    request: Request,
    cx: &mut Context<'_>,
) -> Response {
    token_answer(engine, request, cx).await.unwrap_or_else(OAuthError::into_response)
}

async fn token_answer<P: Platform>(
    engine: &Engine<P>,
    request: Request,
    cx: &mut Context<'_>,
) -> Result<Response, OAuthError> {
    let (parts, body) = request.into_parts();
    let Call { body, client, app } = match read_call(engine, &parts.headers, &body, cx).await? {
        Ok(call) => call,
        Err(refused) => return Ok(refused),
    };
    if body.contains_key("organization") {
        return Err(OAuthError::invalid_request("organization is not supported"));
    }
    let response_type = ResponseType::parse(body.get("response_type"))?;
    let scope = match body.get("scope") {
        None | Some(Value::Null) => None,
        Some(Value::String(scope)) => Some(scope.as_str()),
        Some(_) => return Err(OAuthError::invalid_request("scope must be a string")),
    };
    let (identifier, password) = credentials(&body)?;
    let grant = grant_for(engine, &app, scope, None, cx.now()).await?;
    if response_type.id_token && !grant.scope.contains("openid") {
        return Err(OAuthError::new(
            ErrorCode::InvalidScope,
            "response_type id_token needs the openid scope",
        ));
    }
    let signed_in = match sign_in(engine, &app, &parts.headers, identifier, password, cx).await? {
        Ok(signed_in) => signed_in,
        Err(refusal) => return Err(refusal.token_error()),
    };
    let issued = issue(engine, &client, &app, grant, signed_in, response_type.token, cx).await?;
    cx.count_usage(&app.client_id, crate::store::UsageEvent::Token);
    let mut answer = TokenResponse::of(issued);
    answer.id_token = answer.id_token.filter(|_| response_type.id_token);
    answer.userinfo = answer.id_token.as_deref().and_then(payload);
    if !response_type.token {
        answer.access_token = None;
        answer.token_type = None;
        answer.expires_in = app.id_token_lifetime;
    }
    Ok(json_response(StatusCode::OK, &answer))
}

/// The claims of a JWT this issuer just signed.
fn payload(jwt: &str) -> Option<Value> {
    let bytes = b64url_decode(jwt.split('.').nth(1)?).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The answer of `/authorize` for a simplified app: the cookie holding the sealed
/// request, and where to post the credentials. With `prompt=none`,
/// `login_required`: the issuer keeps no session for these apps.
pub(crate) fn start<P: Platform>(
    engine: &Engine<P>,
    request: AuthorizationRequest,
    headers: &HeaderMap,
    cx: &mut Context<'_>,
) -> Response {
    let issuer = engine.config().issuer.as_str().to_owned();
    let locale = request.locale(headers);
    if request.prompt.none {
        let error = OAuthError::new(ErrorCode::LoginRequired, "the user must sign in");
        return respond_error(&issuer, &request.target, &error, locale);
    }
    let Some(sealed) = Interaction::new(request, cx.now()).seal(engine, cx) else {
        return OAuthError::server_error().into_response();
    };
    let endpoint = engine.config().issuer.endpoint(SIMPLELOGIN_AUTHENTICATE_PATH);
    let mut response = json_response(
        StatusCode::OK,
        &json!({ "authenticate_endpoint": endpoint, "expires_in": INTERACTION_SECS }),
    );
    set_cookie(&mut response, engine.cookie_policy().set(COOKIE, &sealed, Some(INTERACTION_SECS)));
    response
}

/// `POST /simplelogin/api/v1/authenticate`.
pub(crate) async fn authenticate<P: Platform>(
    engine: &Engine<P>,
    request: Request,
    cx: &mut Context<'_>,
) -> Response {
    let (parts, body) = request.into_parts();
    let headers = &parts.headers;
    let now = cx.now();
    let interaction = crate::http::cookie::get(headers, &engine.cookie_policy().name(COOKIE))
        .and_then(|sealed| Interaction::open(engine, sealed))
        .filter(|i| !expired(i.expires_at, now) && i.device.is_none() && i.signed_in.is_none());
    let Some(interaction) = interaction else {
        return OAuthError::invalid_request(
            "no authorization request is in progress: start it at the authorization endpoint",
        )
        .into_response();
    };
    let Call { body, client, app } = match read_call(engine, headers, &body, cx).await {
        Ok(Ok(call)) => call,
        Ok(Err(refused)) => return refused,
        Err(error) => return error.into_response(),
    };
    if client.client_id.as_str() != interaction.request.client_id {
        return OAuthError::invalid_request("the authorization request is another client's")
            .into_response();
    }
    let issuer = engine.config().issuer.as_str().to_owned();
    let locale = interaction.request.locale(headers);
    let target = &interaction.request.target;
    let outcome = match credentials(&body) {
        Ok((identifier, password)) => sign_in(engine, &app, headers, identifier, password, cx)
            .await
            .and_then(|signed_in| signed_in.map_err(redirect_error)),
        Err(error) => Err(error),
    };
    let mut response = match outcome {
        Ok(signed_in) => issue_code(engine, &interaction, &signed_in, locale, cx).await,
        Err(error) => respond_error(&issuer, target, &error, locale),
    };
    set_cookie(&mut response, engine.cookie_policy().clear(COOKIE));
    response
}

/// The error a refused sign-in redirects with (RFC 6749 section 4.1.2.1):
/// `interaction_required` for a user who needs a second factor (OpenID Connect
/// Core section 3.1.2.6), else `access_denied`.
fn redirect_error(refusal: Refusal) -> OAuthError {
    let code = match refusal {
        Refusal::SecondFactor => ErrorCode::InteractionRequired,
        Refusal::Credentials | Refusal::LockedOut | Refusal::NotAdmitted => ErrorCode::AccessDenied,
    };
    OAuthError::new(code, refusal.description())
}
