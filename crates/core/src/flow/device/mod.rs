//! The device authorization grant (RFC 8628): a device with no browser asks for
//! a device code and a short user code, the user enters the user code on the
//! issuer's device page (signing in and consenting there as for any app), and the
//! device polls the token endpoint until the user decided.
//!
//! The pending request lives in the sessions store under its user code, with a
//! pointer from the device code's digest. Approval writes the user's grant into a
//! take-once record under the device code's digest, so of any number of polls
//! exactly one gets the tokens, and a replay revokes what it issued. A device code
//! carries its own expiry (`<random>.<unix time>`), so a poll after the records
//! are gone still answers `expired_token`. Wrong user codes count as failed
//! sign-ins of the source address, which locks out guessing.

use http::{HeaderMap, Method, StatusCode};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::code::{issue_grant, take_grant};
use super::request::{
    AuthorizationRequest, Prompt, RequestedClaims, ResponseMode, Target, accept_language,
};

pub(super) mod record;

use super::client::authenticated_form;
use super::interaction::{Interaction, live_app, show_login};
use super::issue::{Issued, app_of};
use super::respond::{csrf_ok, error_page, unavailable, with_csrf};
use super::signin::{LOCKOUT_WINDOW_SECS, address_failures, count_address_failure};
use super::steps::proceed;
use crate::client_auth::AuthenticatedClient;
use crate::context::Context;
use crate::endpoints::DEVICE_PATH;
use crate::engine::{Engine, store_error};
use crate::error::{ErrorCode, OAuthError};
use crate::http::{Form, Request, Response, json_response, parse_form, parse_query};
use crate::jose::b64url;
use crate::pages::{self, DeviceEntry, DeviceProblem, Locale, Page};
use crate::platform::Platform;
use crate::policy::GrantType;
use crate::store::schema;
use crate::store::{Counters, Sessions, StoreError};
use crate::token::random_id;
use crate::types::UnixTime;
use record::{
    DEVICE_SECS, DeviceRecord, INTERVAL_SECS, Status, display, load, normalize, save, user_code,
};

/// `POST /device_authorization` (RFC 8628 section 3.1).
pub(crate) async fn device_authorization<P: Platform>(
    engine: &Engine<P>,
    request: Request,
    cx: &mut Context<'_>,
) -> Result<Response, OAuthError> {
    let (form, client) = match authenticated_form(engine, request, cx).await? {
        Ok(authenticated) => authenticated,
        Err(refused) => return Ok(refused),
    };
    let app = match &client.app {
        Some(app) if client.grant_types.contains(&GrantType::DeviceCode) => app.clone(),
        _ => {
            return Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                "the client may not use the device authorization grant",
            ));
        }
    };
    let now = cx.now();
    let (scope, audience, access_lifetime, access_alg) =
        super::audience::for_user(engine, &app, form.get("scope"), form.get("resource"), now)
            .await?;
    let expires_at = now.plus(DEVICE_SECS);
    let device_code = format!("{}.{}", random_id(cx.rng(), 32), expires_at.as_secs());
    let digest = Sha256::digest(device_code.as_bytes());
    let code = user_code(cx);
    let request = AuthorizationRequest {
        client_id: app.client_id.clone(),
        target: Target { redirect_uri: String::new(), mode: ResponseMode::Query, state: None },
        redirect_uri_sent: false,
        scope,
        audience,
        access_lifetime,
        access_alg,
        nonce: None,
        code_challenge: None,
        prompt: Prompt::default(),
        max_age: None,
        login_hint: None,
        hint_sub: None,
        ui_locales: None,
        claims: RequestedClaims::default(),
        acr_mfa: false,
    };
    let record =
        DeviceRecord { request, device: b64url(&digest), status: Status::Pending, expires_at };
    if load(engine, &code, now).await?.is_some() {
        // Two live requests drew the same user code (about one in 25 billion).
        return Err(OAuthError::temporarily_unavailable());
    }
    save(engine, &code, &record, now).await?;
    engine
        .platform()
        .sessions()
        .put(&schema::device_code(&digest), code.as_bytes(), expires_at, now)
        .await
        .map_err(|e| store_error(&e))?;
    let page = engine.config().issuer.endpoint(DEVICE_PATH);
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "device_code": device_code,
            "user_code": display(&code),
            "verification_uri": page,
            "verification_uri_complete": format!("{page}?user_code={}", display(&code)),
            "expires_in": DEVICE_SECS,
            "interval": INTERVAL_SECS,
        }),
    ))
}

fn device_error(code: ErrorCode, description: &'static str) -> OAuthError {
    OAuthError::new(code, description).with_status(StatusCode::BAD_REQUEST)
}

/// The device code grant at the token endpoint (RFC 8628 section 3.4).
pub(super) async fn issue<P: Platform>(
    engine: &Engine<P>,
    client: &AuthenticatedClient,
    form: &Form,
    cx: &mut Context<'_>,
) -> Result<Issued, OAuthError> {
    let app = app_of(client)?;
    let Some(device_code) = form.get("device_code") else {
        return Err(OAuthError::invalid_request("device_code is required"));
    };
    let digest = Sha256::digest(device_code.as_bytes());
    let replayed = device_error(ErrorCode::InvalidGrant, "the device code was already used");
    match take_grant(engine, &schema::device_grant(&digest), replayed, cx).await? {
        Some(grant) if grant.client_id == client.client_id.as_str() => {
            issue_grant(engine, client, &app, &grant, cx).await
        }
        Some(_) => {
            Err(device_error(ErrorCode::InvalidGrant, "the device code belongs to another client"))
        }
        None => Err(pending(engine, client, device_code, &digest, cx.now()).await),
    }
}

/// Why a device code has no tokens (yet).
async fn pending<P: Platform>(
    engine: &Engine<P>,
    client: &AuthenticatedClient,
    device_code: &str,
    digest: &[u8],
    now: UnixTime,
) -> OAuthError {
    let expired = device_code
        .rsplit_once('.')
        .and_then(|(_, exp)| exp.parse::<u64>().ok())
        .is_some_and(|exp| now.as_secs() >= exp);
    let expired_error = || device_error(ErrorCode::ExpiredToken, "the device code expired");
    let user_code = match engine.platform().sessions().get(&schema::device_code(digest), now).await
    {
        Ok(Some(code)) => String::from_utf8(code).unwrap_or_default(),
        Ok(None) | Err(StoreError::Refused(_)) if expired => return expired_error(),
        Ok(None) | Err(StoreError::Refused(_)) => {
            return device_error(ErrorCode::InvalidGrant, "the device code is invalid");
        }
        Err(err) => return store_error(&err),
    };
    let record = match load(engine, &user_code, now).await {
        Ok(Some(record)) => record,
        Ok(None) => return expired_error(),
        Err(error) => return error,
    };
    if record.request.client_id != client.client_id.as_str() {
        return device_error(ErrorCode::InvalidGrant, "the device code belongs to another client");
    }
    match record.status {
        Status::Denied => device_error(ErrorCode::AccessDenied, "the user denied the request"),
        Status::Approved => expired_error(),
        Status::Pending => {
            let polls = engine
                .platform()
                .counters()
                .add(&schema::device_poll(digest), 1, now.plus(INTERVAL_SECS), now)
                .await;
            match polls {
                Ok(n) if n > 1 => device_error(ErrorCode::SlowDown, "poll at most every 5 seconds"),
                Ok(_) => {
                    device_error(ErrorCode::AuthorizationPending, "the user has not decided yet")
                }
                Err(err) => store_error(&err),
            }
        }
    }
}

/// The device page: `GET /device[?user_code=...]` shows the entry form; `POST`
/// looks the code up and goes on to sign-in and consent.
pub(crate) async fn page<P: Platform>(
    engine: &Engine<P>,
    request: Request,
    cx: &mut Context<'_>,
) -> Response {
    let headers = request.headers().clone();
    let locale = Locale::negotiate(None, accept_language(&headers));
    if request.method() != Method::POST {
        let typed = parse_query(request.uri().query().unwrap_or_default())
            .ok()
            .and_then(|q| q.get("user_code").map(str::to_owned))
            .unwrap_or_default();
        return entry(engine, &headers, &typed, None, locale, StatusCode::OK, cx);
    }
    let Ok(form) = parse_form(&headers, request.body()) else {
        return error_page(
            ErrorCode::InvalidRequest,
            "the form could not be read",
            locale,
            StatusCode::BAD_REQUEST,
        );
    };
    if !csrf_ok(engine, &headers, &form) {
        return error_page(
            ErrorCode::InvalidRequest,
            "this form has expired or was not sent from this site; start again",
            locale,
            StatusCode::FORBIDDEN,
        );
    }
    let typed = form.get("user_code").unwrap_or_default().to_owned();
    let now = cx.now();
    match address_failures(engine, &headers, now).await {
        Ok(true) => {
            let locked = DeviceProblem::LockedOut { retry_after_secs: LOCKOUT_WINDOW_SECS };
            return entry(
                engine,
                &headers,
                &typed,
                Some(locked),
                locale,
                StatusCode::TOO_MANY_REQUESTS,
                cx,
            );
        }
        Ok(false) => {}
        Err(_) => return unavailable(locale),
    }
    let found = match normalize(&typed) {
        Some(code) => match load(engine, &code, now).await {
            Ok(record) => record.filter(|r| r.status == Status::Pending).map(|r| (code, r)),
            Err(_) => return unavailable(locale),
        },
        None => None,
    };
    let Some((code, record)) = found else {
        count_address_failure(engine, &headers, now).await;
        return entry(
            engine,
            &headers,
            &typed,
            Some(DeviceProblem::Unknown),
            locale,
            StatusCode::BAD_REQUEST,
            cx,
        );
    };
    let app = match live_app(engine, &record.request.client_id, now).await {
        Ok(Some(app)) => app,
        Ok(None) => {
            return error_page(
                ErrorCode::InvalidClient,
                "unknown client",
                locale,
                StatusCode::BAD_REQUEST,
            );
        }
        Err(_) => return unavailable(locale),
    };
    let session = match engine.current_session(&headers, now).await {
        Ok(session) => session,
        Err(_) => return unavailable(locale),
    };
    match session {
        Some(live) => {
            let interaction =
                Interaction::signed_in(record.request, &live.session, now).for_device(&code);
            proceed(engine, &app, interaction, &headers, cx).await
        }
        None => {
            let interaction = Interaction::new(record.request, now).for_device(&code);
            show_login(engine, &app, interaction, &headers, None, cx).await
        }
    }
}

/// The user code entry form.
fn entry<P: Platform>(
    engine: &Engine<P>,
    headers: &HeaderMap,
    typed: &str,
    problem: Option<DeviceProblem>,
    locale: Locale,
    status: StatusCode,
    cx: &mut Context<'_>,
) -> Response {
    let action = engine.config().issuer.endpoint(DEVICE_PATH);
    let shown: String = typed.chars().take(16).collect();
    with_csrf(engine, headers, cx, |csrf| {
        let hidden = [("csrf", csrf)];
        let page = DeviceEntry { action: &action, hidden: &hidden, user_code: &shown, problem };
        pages::render(&Page::DeviceEntry(page), locale, status)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_read_as_typed() {
        assert_eq!(normalize("bcdf-ghjk").as_deref(), Some("BCDFGHJK"));
        assert_eq!(normalize(" BCDF GHJK ").as_deref(), Some("BCDFGHJK"));
        assert_eq!(normalize("BCDF-GHJA"), None, "vowels are never in a code");
        assert_eq!(normalize("BCDF-GHJ"), None);
        assert_eq!(display("BCDFGHJK"), "BCDF-GHJK");
    }
}
