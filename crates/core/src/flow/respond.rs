//! How the flows answer a browser: the authorization response in its response
//! mode, error pages, redirects, and the hosted forms' CSRF token and branding.
//!
//! Every form carries the `csrf` token of the CSRF cookie (double submit): a page
//! of another site cannot post a login, a consent, a device approval or a logout
//! on the user's behalf.

use http::{HeaderMap, StatusCode, header};

use super::request::{ResponseMode, Target};
use crate::context::Context;
use crate::engine::Engine;
use crate::error::{ErrorCode, OAuthError};
use crate::http::cookie;
use crate::http::{Form, Response, encode_pairs};
use crate::model::app::AppRecord;
use crate::pages::{self, Brand, ErrorPage, FormPost, Locale, Page, WebMessage};
use crate::platform::Platform;
use crate::session::CSRF_COOKIE;
use crate::token::random_id;
use crate::types::{Origin, UnixTime};

/// An error page on the issuer (400 unless said otherwise).
pub(crate) fn error_page(
    code: ErrorCode,
    description: &str,
    locale: Locale,
    status: StatusCode,
) -> Response {
    pages::render(&Page::Error(ErrorPage { error: code.as_str(), description }), locale, status)
}

/// The authorization response: `params` plus `state` and `iss`, sent to the
/// target as its response mode says. For `web_message` that is a page posting them
/// to the redirect URI's origin, which the authorization endpoint checked against
/// the app's web origins.
pub(crate) fn respond(
    issuer: &str,
    target: &Target,
    params: &[(&str, &str)],
    locale: Locale,
) -> Response {
    let mut pairs: Vec<(&str, &str)> = params.to_vec();
    if let Some(state) = &target.state {
        pairs.push(("state", state));
    }
    pairs.push(("iss", issuer));
    let uri = &target.redirect_uri;
    let location = match target.mode {
        ResponseMode::FormPost => {
            return pages::render(
                &Page::FormPost(FormPost { action: uri, fields: &pairs }),
                locale,
                StatusCode::OK,
            );
        }
        ResponseMode::WebMessage => {
            return match Origin::of(uri) {
                Ok(origin) => pages::render_web_message(
                    &WebMessage { origin: &origin, response: &pairs },
                    locale,
                ),
                // Not reached: the endpoint accepts `web_message` only for a
                // redirect URI with an origin, and the target travels sealed.
                Err(_) => error_page(
                    ErrorCode::ServerError,
                    "the redirect uri has no origin to post the response to",
                    locale,
                    StatusCode::INTERNAL_SERVER_ERROR,
                ),
            };
        }
        ResponseMode::Query => {
            let joiner = if uri.contains('?') { '&' } else { '?' };
            format!("{uri}{joiner}{}", encode_pairs(pairs))
        }
        ResponseMode::Fragment => format!("{uri}#{}", encode_pairs(pairs)),
    };
    redirect(&location)
}

/// A `303 See Other` to `location`, not cacheable.
pub(crate) fn redirect(location: &str) -> Response {
    let mut response = Response::new(Vec::new());
    *response.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(value) = http::HeaderValue::from_str(location) {
        response.headers_mut().insert(http::header::LOCATION, value);
    }
    crate::http::no_store(response.headers_mut());
    response
}

/// An error sent back to the client's redirect URI.
pub(crate) fn respond_error(
    issuer: &str,
    target: &Target,
    error: &OAuthError,
    locale: Locale,
) -> Response {
    let mut params = vec![("error", error.code().as_str())];
    if let Some(description) = error.description() {
        params.push(("error_description", description));
    }
    respond(issuer, target, &params, locale)
}

/// Whether `now` is past `expires_at`.
pub(crate) fn expired(expires_at: UnixTime, now: UnixTime) -> bool {
    now >= expires_at
}

/// How an app presents itself on the hosted pages.
pub(crate) fn brand(app: &AppRecord) -> Brand<'_> {
    Brand {
        name: &app.client_name,
        logo_uri: app.logo_uri.as_ref().map(|u| u.as_str()),
        client_uri: app.client_uri.as_ref().map(|u| u.as_str()),
        policy_uri: app.policy_uri.as_ref().map(|u| u.as_str()),
        tos_uri: app.tos_uri.as_ref().map(|u| u.as_str()),
        company_name: (!app.company_name.is_empty()).then_some(app.company_name.as_str()),
    }
}

/// The request's CSRF token, and whether it is new (then the cookie must be set).
pub(crate) fn csrf_token<P: Platform>(
    engine: &Engine<P>,
    headers: &HeaderMap,
    cx: &mut Context<'_>,
) -> (String, bool) {
    let name = engine.cookie_policy().name(CSRF_COOKIE);
    match cookie::get(headers, &name).filter(|v| v.len() == 43) {
        Some(existing) => (existing.to_owned(), false),
        None => (random_id(cx.rng(), 32), true),
    }
}

/// Whether the form's `csrf` field is the CSRF cookie (compared in constant time).
pub(crate) fn csrf_ok<P: Platform>(engine: &Engine<P>, headers: &HeaderMap, form: &Form) -> bool {
    use subtle::ConstantTimeEq as _;
    let name = engine.cookie_policy().name(CSRF_COOKIE);
    match (cookie::get(headers, &name), form.get("csrf")) {
        (Some(cookie), Some(field)) if cookie.len() == 43 => {
            bool::from(cookie.as_bytes().ct_eq(field.as_bytes()))
        }
        _ => false,
    }
}

/// A page with a form: `render` gets the request's CSRF token for its hidden
/// `csrf` field, and the CSRF cookie is set when the token is new.
pub(crate) fn with_csrf<P: Platform>(
    engine: &Engine<P>,
    headers: &HeaderMap,
    cx: &mut Context<'_>,
    render: impl FnOnce(&str) -> Response,
) -> Response {
    let (csrf, new) = csrf_token(engine, headers, cx);
    let mut response = render(&csrf);
    if new {
        set_cookie(&mut response, engine.cookie_policy().set(CSRF_COOKIE, &csrf, None));
    }
    response
}

/// Adds a `Set-Cookie` header.
pub(crate) fn set_cookie(response: &mut Response, value: http::HeaderValue) {
    response.headers_mut().append(header::SET_COOKIE, value);
}

/// The page for a store that is down.
pub(crate) fn unavailable(locale: Locale) -> Response {
    error_page(
        ErrorCode::TemporarilyUnavailable,
        "the service is temporarily unavailable, try again later",
        locale,
        StatusCode::SERVICE_UNAVAILABLE,
    )
}
