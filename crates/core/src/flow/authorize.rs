//! The authorization endpoint (RFC 6749 section 3.1, OpenID Connect Core section
//! 3.1.2): validates the request, then signs the user in, asks for consent, or
//! answers with a code, as the session and `prompt` decide.
//!
//! Until the client and its redirect URI are validated, every error is a page on
//! the issuer, never a redirect (RFC 6749 section 4.1.2.1): an attacker must not be
//! able to bounce users to a URI the app never registered. After that, errors go
//! back to the redirect URI with `state` and `iss` (RFC 9207).
//!
//! `response_mode=web_message` (silent login in a hidden iframe) is checked right
//! after the redirect URI, and its refusals are pages too: it needs `prompt=none`,
//! since the iframe could never show a login or consent page (they refuse to be
//! framed), and the redirect URI's origin must be one of the app's web origins,
//! since that origin may frame the answer and receives it.

use http::{Method, StatusCode};

use super::interaction::{Interaction, show_login};
use super::request::{
    AuthorizationRequest, MAX_PARAM, Prompt, RequestedClaims, ResponseMode, Target,
    accept_language, verify_hint,
};
use super::respond::{error_page, respond_error};
use super::steps::proceed;
use crate::context::Context;
use crate::engine::Engine;
use crate::error::{ErrorCode, OAuthError};
use crate::http::{Form, Request, Response, parse_form, parse_query};
use crate::model::app::AppRecord;
use crate::pages::Locale;
use crate::platform::Platform;
use crate::policy::{GrantType, ResponseType};
use crate::store::read_record;
use crate::store::schema;
use crate::types::Origin;

/// The authorization endpoint.
pub(crate) async fn authorize<P: Platform>(
    engine: &Engine<P>,
    request: Request,
    cx: &mut Context<'_>,
) -> Response {
    let headers = request.headers().clone();
    let fallback = Locale::negotiate(None, accept_language(&headers));
    let page = |code: ErrorCode, description: &str| {
        error_page(code, description, fallback, StatusCode::BAD_REQUEST)
    };
    let form = if request.method() == Method::POST {
        parse_form(request.headers(), request.body())
    } else {
        parse_query(request.uri().query().unwrap_or_default())
    };
    let Ok(form) = form else {
        return page(
            ErrorCode::InvalidRequest,
            "the authorization request is malformed or repeats a parameter",
        );
    };
    let Some(client_id) = form.get("client_id") else {
        return page(ErrorCode::InvalidRequest, "client_id is missing");
    };
    let app = match read_record::<AppRecord, _>(
        &engine.cached_directory(cx.now()),
        &schema::app(client_id),
    )
    .await
    {
        Ok(Some(app)) if app.enabled => app,
        Ok(_) => {
            cx.diagnose(format!(
                "authorization request for unknown or disabled client {client_id:?}"
            ));
            return page(ErrorCode::InvalidClient, "unknown client");
        }
        Err(_) => {
            return error_page(
                ErrorCode::TemporarilyUnavailable,
                "the service is temporarily unavailable, try again later",
                fallback,
                StatusCode::SERVICE_UNAVAILABLE,
            );
        }
    };
    let Some((redirect_uri, sent)) = redirect_uri(&app, form.get("redirect_uri")) else {
        cx.diagnose(format!("redirect_uri not registered for client {client_id:?}"));
        return page(
            ErrorCode::InvalidRequest,
            "redirect_uri is missing or not registered for this client",
        );
    };
    let mode = match form.get("response_mode") {
        None => Some(ResponseMode::Query),
        Some(m) => ResponseMode::ALL.iter().find(|(name, _)| *name == m).map(|(_, mode)| *mode),
    };
    if mode == Some(ResponseMode::WebMessage)
        && let Err(description) = web_message_allowed(&app, &redirect_uri, form.get("prompt"))
    {
        cx.diagnose(format!("web_message refused for client {client_id:?}: {description}"));
        return page(ErrorCode::InvalidRequest, description);
    }
    let state = form.get("state").filter(|s| s.len() <= MAX_PARAM).map(str::to_owned);
    let target = Target { redirect_uri, mode: mode.unwrap_or(ResponseMode::Query), state };
    let issuer = engine.config().issuer.as_str().to_owned();
    let ui_locales = form.get("ui_locales").map(str::to_owned);
    let locale = Locale::negotiate(ui_locales.as_deref(), accept_language(&headers));
    if mode.is_none() {
        let error = OAuthError::invalid_request("response_mode is not supported");
        return respond_error(&issuer, &target, &error, locale);
    }
    let validated = validate(engine, &app, &form, target.clone(), sent, cx).await;
    let request_data = match validated {
        Ok(request) => request,
        Err(error) => {
            cx.diagnose(format!("authorization request of {client_id:?} refused: {error}"));
            return respond_error(&issuer, &target, &error, locale);
        }
    };
    decide(engine, &app, request_data, &headers, cx).await
}

/// The registered redirect URI matching the presented one (or the only one, when
/// none was presented: RFC 6749 section 3.1.2.3), and whether it was presented.
fn redirect_uri(app: &AppRecord, presented: Option<&str>) -> Option<(String, bool)> {
    let native = app.app_type == crate::policy::AppType::Native;
    match presented {
        Some(uri) => {
            app.redirect_uris.iter().any(|r| r.matches(uri, native)).then(|| (uri.to_owned(), true))
        }
        None => match app.redirect_uris.as_slice() {
            [only] => Some((only.as_str().to_owned(), false)),
            _ => None,
        },
    }
}

/// Whether `response_mode=web_message` may answer: only with `prompt=none`, and
/// only to a redirect URI whose origin is one of the app's web origins.
///
/// # Errors
///
/// The description for the issuer's error page saying which rule failed.
fn web_message_allowed(
    app: &AppRecord,
    redirect_uri: &str,
    prompt: Option<&str>,
) -> Result<(), &'static str> {
    if !Prompt::parse(prompt).is_ok_and(|prompt| prompt.none) {
        return Err("web_message requires prompt=none");
    }
    let origin = Origin::of(redirect_uri).ok();
    if !origin.is_some_and(|origin| app.web_origins.contains(&origin)) {
        return Err("the origin of redirect_uri is not one of the app's web_origins");
    }
    Ok(())
}

/// Checks everything after the redirect URI; errors go to the redirect URI.
async fn validate<P: Platform>(
    engine: &Engine<P>,
    app: &AppRecord,
    form: &Form,
    target: Target,
    redirect_uri_sent: bool,
    cx: &mut Context<'_>,
) -> Result<AuthorizationRequest, OAuthError> {
    if form.contains("request") {
        return Err(OAuthError::new(
            ErrorCode::RequestNotSupported,
            "request objects are not supported",
        ));
    }
    if form.contains("request_uri") {
        return Err(OAuthError::new(
            ErrorCode::RequestUriNotSupported,
            "request_uri is not supported",
        ));
    }
    match form.get("response_type") {
        None => return Err(OAuthError::invalid_request("response_type is missing")),
        Some("code") => {}
        Some(_) => {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedResponseType,
                "only response_type=code is supported",
            ));
        }
    }
    if !app.response_types.contains(&ResponseType::Code)
        || !app.grant_types.contains(&GrantType::AuthorizationCode)
    {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "the client may not use the authorization code flow",
        ));
    }
    let code_challenge = match (form.get("code_challenge"), form.get("code_challenge_method")) {
        (None, None) if app.require_pkce => {
            return Err(OAuthError::invalid_request("code_challenge is required (pkce)"));
        }
        (None, None) => None,
        (None, Some(_)) => {
            return Err(OAuthError::invalid_request(
                "code_challenge_method without code_challenge",
            ));
        }
        (Some(challenge), method) => {
            // RFC 7636 section 4.2: S256 only; `plain` (the default) is refused.
            if method != Some("S256") {
                return Err(OAuthError::invalid_request(
                    "code_challenge_method must be S256 (plain is not supported)",
                ));
            }
            if challenge.len() != 43
                || !challenge.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(OAuthError::invalid_request("code_challenge is malformed"));
            }
            Some(challenge.to_owned())
        }
    };
    let prompt = Prompt::parse(form.get("prompt"))?;
    let max_age = match form.get("max_age") {
        None => None,
        Some(v) => Some(
            v.parse::<u64>()
                .map_err(|_| OAuthError::invalid_request("max_age must be a number of seconds"))?,
        ),
    };
    let nonce = match form.get("nonce") {
        Some(n) if n.len() > MAX_PARAM => {
            return Err(OAuthError::invalid_request("nonce is too long"));
        }
        n => n.map(str::to_owned),
    };
    let claims = RequestedClaims::parse(form.get("claims"))?;
    let hint_sub = match form.get("id_token_hint") {
        None => None,
        Some(hint) => Some(
            verify_hint(engine, hint, cx.now())
                .await?
                .filter(|claims| claims.aud.contains(&app.client_id))
                .map(|claims| claims.sub)
                .ok_or_else(|| OAuthError::invalid_request("id_token_hint is not valid"))?,
        ),
    };
    let login_hint = form.get("login_hint").filter(|h| h.len() <= 256).map(str::to_owned);
    let (scope, audience, access_lifetime, access_alg) =
        super::audience::for_user(engine, app, form.get("scope"), form.get("resource"), cx.now())
            .await?;
    Ok(AuthorizationRequest {
        client_id: app.client_id.clone(),
        target,
        redirect_uri_sent,
        scope,
        audience,
        access_lifetime,
        access_alg,
        nonce,
        code_challenge,
        prompt,
        max_age,
        login_hint,
        hint_sub,
        ui_locales: form.get("ui_locales").map(str::to_owned),
        claims,
        acr_mfa: super::mfa::asks_mfa(form.get("acr_values")),
    })
}

/// With a valid request: use the session, or ask the user to sign in (a
/// simplified app's user signs in through its authenticate step instead).
async fn decide<P: Platform>(
    engine: &Engine<P>,
    app: &AppRecord,
    request: AuthorizationRequest,
    headers: &http::HeaderMap,
    cx: &mut Context<'_>,
) -> Response {
    if app.app_type == crate::policy::AppType::Simplified {
        return super::simplelogin::start(engine, request, headers, cx);
    }
    let issuer = engine.config().issuer.as_str().to_owned();
    let locale = request.locale(headers);
    let session = match engine.current_session(headers, cx.now()).await {
        Ok(session) => session,
        Err(error) => return respond_error(&issuer, &request.target, &error, locale),
    };
    let now = cx.now();
    let usable = session.filter(|live| {
        // `max_age=0` is `prompt=login` (OpenID Connect Core section 3.1.2.1).
        let fresh = request.max_age.is_none_or(|max| {
            max > 0 && now.as_secs().saturating_sub(live.session.auth_time.as_secs()) <= max
        });
        let same_user = request.hint_sub.as_deref().is_none_or(|sub| sub == live.session.user_id);
        fresh && same_user && !request.prompt.login && !request.prompt.select_account
    });
    match usable {
        Some(live) => {
            proceed(engine, app, Interaction::signed_in(request, &live.session, now), headers, cx)
                .await
        }
        None if request.prompt.none => {
            let error = OAuthError::new(ErrorCode::LoginRequired, "the user must sign in");
            respond_error(&issuer, &request.target, &error, locale)
        }
        None => show_login(engine, app, Interaction::new(request, now), headers, None, cx).await,
    }
}
