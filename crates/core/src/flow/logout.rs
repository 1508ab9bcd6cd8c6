//! RP-Initiated Logout 1.0: an app sends the user to `/logout` with the ID token it
//! holds (`id_token_hint`), where to come back (`post_logout_redirect_uri`, matched
//! exactly against the app's registered ones) and `state`. With a valid hint the
//! session ends at once; without one the user confirms first (a page that cannot
//! be posted from another site), so a link alone cannot sign anybody out.

use http::{HeaderMap, Method, StatusCode};

use super::request::{accept_language, verify_hint};
use super::respond::{brand, csrf_ok, error_page, redirect, set_cookie, unavailable, with_csrf};
use crate::context::Context;
use crate::endpoints::LOGOUT_PATH;
use crate::engine::{Engine, store_error};
use crate::error::{ErrorCode, OAuthError};
use crate::http::{Form, Request, Response, encode_pairs, parse_form, parse_query};
use crate::model::app::AppRecord;
use crate::pages::{self, ErrorPage, Locale, LogoutConfirm, Page, SignedOut};
use crate::platform::Platform;
use crate::policy::AppType;
use crate::session::SESSION_COOKIE;
use crate::store::read_record;
use crate::store::schema;
use crate::types::UnixTime;
use crate::verify::IdTokenClaims;

/// The logout endpoint.
pub(crate) async fn logout<P: Platform>(
    engine: &Engine<P>,
    request: Request,
    cx: &mut Context<'_>,
) -> Response {
    let headers = request.headers().clone();
    let locale0 = Locale::negotiate(None, accept_language(&headers));
    let form = if request.method() == Method::POST {
        parse_form(&headers, request.body())
    } else {
        parse_query(request.uri().query().unwrap_or_default())
    };
    let Ok(form) = form else {
        return error_page(
            ErrorCode::InvalidRequest,
            "the logout request is malformed",
            locale0,
            StatusCode::BAD_REQUEST,
        );
    };
    let locale = Locale::negotiate(form.get("ui_locales"), accept_language(&headers));
    match checked(engine, &form, cx.now()).await {
        Ok(request) => finish(engine, request, &form, &headers, locale, cx).await,
        Err(error) => error_page(
            error.code(),
            error.description().unwrap_or("the logout request is not valid"),
            locale,
            if error.code().is_client_fault() {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            },
        ),
    }
}

/// A validated logout request.
struct LogoutRequest {
    hint: Option<IdTokenClaims>,
    app: Option<AppRecord>,
    return_to: Option<String>,
}

async fn checked<P: Platform>(
    engine: &Engine<P>,
    form: &Form,
    now: UnixTime,
) -> Result<LogoutRequest, OAuthError> {
    let hint = match form.get("id_token_hint") {
        None => None,
        Some(token) => Some(
            verify_hint(engine, token, now)
                .await?
                .ok_or_else(|| OAuthError::invalid_request("id_token_hint is not valid"))?,
        ),
    };
    let client_id = match (form.get("client_id"), &hint) {
        (Some(id), Some(hint)) if !hint.aud.contains(id) => {
            return Err(OAuthError::invalid_request(
                "client_id is not the audience of id_token_hint",
            ));
        }
        (Some(id), _) => Some(id.to_owned()),
        (None, Some(hint)) => hint.aud.iter().next().cloned(),
        (None, None) => None,
    };
    let app = match &client_id {
        None => None,
        Some(id) => read_record::<AppRecord, _>(&engine.cached_directory(now), &schema::app(id))
            .await
            .map_err(|e| store_error(&e))?,
    };
    let return_to = match form.get("post_logout_redirect_uri") {
        None => None,
        Some(uri) => {
            let Some(app) = &app else {
                return Err(OAuthError::invalid_request(
                    "post_logout_redirect_uri needs id_token_hint or client_id",
                ));
            };
            let native = app.app_type == AppType::Native;
            if !app.post_logout_redirect_uris.iter().any(|r| r.matches(uri, native)) {
                return Err(OAuthError::invalid_request(
                    "post_logout_redirect_uri is not registered for this client",
                ));
            }
            let mut target = uri.to_owned();
            if let Some(state) = form.get("state") {
                target.push(if uri.contains('?') { '&' } else { '?' });
                target.push_str(&encode_pairs([("state", state)]));
            }
            Some(target)
        }
    };
    Ok(LogoutRequest { hint, app, return_to })
}

async fn finish<P: Platform>(
    engine: &Engine<P>,
    request: LogoutRequest,
    form: &Form,
    headers: &HeaderMap,
    locale: Locale,
    cx: &mut Context<'_>,
) -> Response {
    let decision = form.get("decision");
    if request.hint.is_none() && decision.is_none() {
        return confirm(engine, &request, form, headers, locale, cx);
    }
    if decision.is_some() && !csrf_ok(engine, headers, form) {
        return error_page(
            ErrorCode::InvalidRequest,
            "this form has expired or was not sent from this site",
            locale,
            StatusCode::FORBIDDEN,
        );
    }
    if decision == Some("cancel") {
        return pages::render(
            &Page::Error(ErrorPage {
                error: "logout_cancelled",
                description: "you are still signed in",
            }),
            locale,
            StatusCode::OK,
        );
    }
    if decision.is_some_and(|d| d != "logout") {
        return error_page(
            ErrorCode::InvalidRequest,
            "decision must be logout or cancel",
            locale,
            StatusCode::BAD_REQUEST,
        );
    }
    let now = cx.now();
    let ended = match engine.current_session(headers, now).await {
        Ok(Some(live)) => engine.end_session(&live.key).await,
        Ok(None) => Ok(()),
        Err(error) => Err(error),
    };
    if ended.is_err() {
        return unavailable(locale);
    }
    let mut response = match &request.return_to {
        Some(target) => redirect(target),
        None => pages::render(&Page::SignedOut(SignedOut), locale, StatusCode::OK),
    };
    set_cookie(&mut response, engine.cookie_policy().clear(SESSION_COOKIE));
    response
}

/// The confirmation page, carrying the request to its own form.
fn confirm<P: Platform>(
    engine: &Engine<P>,
    request: &LogoutRequest,
    form: &Form,
    headers: &HeaderMap,
    locale: Locale,
    cx: &mut Context<'_>,
) -> Response {
    let action = engine.config().issuer.endpoint(LOGOUT_PATH);
    with_csrf(engine, headers, cx, |csrf| {
        let mut hidden: Vec<(&str, &str)> = vec![("csrf", csrf)];
        for name in ["client_id", "post_logout_redirect_uri", "state", "ui_locales"] {
            if let Some(value) = form.get(name) {
                hidden.push((name, value));
            }
        }
        let page = LogoutConfirm {
            brand: request.app.as_ref().map(brand),
            action: &action,
            hidden: &hidden,
        };
        pages::render(&Page::LogoutConfirm(page), locale, StatusCode::OK)
    })
}
