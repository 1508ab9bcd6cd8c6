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
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::authorize::{
    AuthorizationRequest, Prompt, RequestedClaims, ResponseMode, Target, accept_language,
    error_page,
};
use super::code::{CodeGrant, family_of, issue_grant, take_grant};
use super::interaction::{
    Interaction, SignedIn, address_failures, count_address_failure, csrf_ok, live_app, proceed,
    show_login, unavailable, with_csrf,
};
use super::issue::{Issued, app_of};
use super::token::authenticated_form;
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
use crate::store::{Counters, OnceStore, Sessions, StoreError};
use crate::token::random_id;
use crate::types::UnixTime;

/// How long a device code lives, in seconds.
pub(crate) const DEVICE_SECS: u64 = 600;
/// How often a device may poll, in seconds.
pub(crate) const INTERVAL_SECS: u64 = 5;
/// The letters of user codes: no vowels (no words), no look-alikes (RFC 8628
/// section 6.1), 20^8 codes.
const ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
/// The length of a user code, shown as two groups of four.
const USER_CODE_LEN: usize = 8;

/// Where a device authorization stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Status {
    Pending,
    Approved,
    Denied,
}

/// A device authorization, under its user code.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct DeviceRecord {
    /// The validated request (client, scopes, audience), as an authorization
    /// request without a redirect.
    request: AuthorizationRequest,
    /// The base64url SHA-256 of the device code.
    device: String,
    status: Status,
    expires_at: UnixTime,
}

/// A user code as typed: upper-cased, separators dropped; `None` when it cannot
/// be one.
fn normalize(user_code: &str) -> Option<String> {
    let code: String = user_code
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (code.len() == USER_CODE_LEN && code.bytes().all(|b| ALPHABET.contains(&b))).then_some(code)
}

/// A fresh user code, uniformly from [`ALPHABET`].
fn user_code(cx: &mut Context<'_>) -> String {
    let mut code = String::with_capacity(USER_CODE_LEN);
    while code.len() < USER_CODE_LEN {
        let mut byte = [0u8; 1];
        cx.rng().fill_bytes(&mut byte);
        // 240 is the largest multiple of 20 in a byte: no bias.
        if let Some(letter) =
            (byte[0] < 240).then(|| ALPHABET.get(usize::from(byte[0]) % 20)).flatten()
        {
            code.push(char::from(*letter));
        }
    }
    code
}

/// `XXXX-XXXX`.
fn display(code: &str) -> String {
    let (a, b) = code.split_at(USER_CODE_LEN / 2);
    format!("{a}-{b}")
}

async fn load<P: Platform>(
    engine: &Engine<P>,
    user_code: &str,
    now: UnixTime,
) -> Result<Option<DeviceRecord>, OAuthError> {
    match engine.platform().sessions().get(&schema::device_user_code(user_code), now).await {
        Ok(data) => Ok(data.and_then(|d| serde_json::from_slice(&d).ok())),
        Err(StoreError::Refused(_)) => Ok(None),
        Err(err) => Err(store_error(&err)),
    }
}

async fn save<P: Platform>(
    engine: &Engine<P>,
    user_code: &str,
    record: &DeviceRecord,
    now: UnixTime,
) -> Result<(), OAuthError> {
    let json = serde_json::to_vec(record).map_err(|_| OAuthError::server_error())?;
    engine
        .platform()
        .sessions()
        .put(&schema::device_user_code(user_code), &json, record.expires_at, now)
        .await
        .map_err(|e| store_error(&e))
}

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

/// Records the user's decision on the device `user_code`: approve with the
/// request and who signed in, or deny (`None`).
pub(crate) async fn decide<P: Platform>(
    engine: &Engine<P>,
    user_code: &str,
    approval: Option<(&AuthorizationRequest, &SignedIn)>,
    cx: &mut Context<'_>,
) -> Result<(), OAuthError> {
    let now = cx.now();
    let unknown = || OAuthError::invalid_request("the code is unknown, expired or already used");
    let Some(mut record) = load(engine, user_code, now).await? else { return Err(unknown()) };
    if record.status != Status::Pending {
        return Err(unknown());
    }
    match approval {
        Some((request, signed_in)) => {
            let grant = CodeGrant::new(request, signed_in, family_of(&record.device));
            let json = serde_json::to_vec(&grant).map_err(|_| OAuthError::server_error())?;
            let digest = crate::jose::b64url_decode(&record.device)
                .map_err(|_| OAuthError::server_error())?;
            match engine
                .platform()
                .once()
                .put(&schema::device_grant(&digest), &json, record.expires_at, now)
                .await
            {
                Ok(()) => {}
                Err(StoreError::Conflict) => return Err(unknown()),
                Err(err) => return Err(store_error(&err)),
            }
            record.status = Status::Approved;
        }
        None => record.status = Status::Denied,
    }
    save(engine, user_code, &record, now).await
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
            let locked = DeviceProblem::LockedOut {
                retry_after_secs: super::interaction::LOCKOUT_WINDOW_SECS,
            };
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
            proceed(engine, &app, interaction, &headers, cx, false).await
        }
        None => {
            let interaction = Interaction::new(record.request, now).for_device(&code);
            show_login(engine, &app, interaction, &headers, None, cx)
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
