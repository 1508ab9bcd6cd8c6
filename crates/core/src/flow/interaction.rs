//! The steps between the authorization request and its answer: the login form,
//! the consent form, and issuing the code once both are settled.
//!
//! The validated request travels between steps sealed (AES-256-GCM under the
//! key-encryption key) in the forms' hidden `interaction` field, with a deadline,
//! so no step stores anything until the user is known. Each form also carries the
//! `csrf` token of the CSRF cookie (double submit): a page of another site cannot
//! post a login or a consent on the user's behalf.

use http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::admission::admitted;
use super::code::CodeGrant;
use super::request::{AuthorizationRequest, SignedIn, accept_language};
use super::respond::{
    brand, csrf_ok, error_page, expired, respond, respond_error, set_cookie, unavailable, with_csrf,
};
use super::signin::{Credentials, LOCKOUT_WINDOW_SECS, check_credentials};
use crate::context::Context;
use crate::endpoints::{CONSENT_PATH, LOGIN_PATH};
use crate::engine::{Engine, store_error};
use crate::error::{ErrorCode, OAuthError};
use crate::hooks::call::{AppHooks, SignInHooks};
use crate::http::{Form, Request, Response, parse_form};
use crate::jose::KeyId;
use crate::model::app::AppRecord;
use crate::model::scope::ScopeRecord;
use crate::model::user::UserRecord;
use crate::pages::{
    self, Consent, DeviceDone, Hidden, Locale, Login, LoginProblem, NoAccess, Page, ScopeItem,
    Upstream, system_scope_description,
};
use crate::platform::Platform;
use crate::session::{SESSION_COOKIE, SESSION_SECS, Session};
use crate::store::schema;
use crate::store::{OnceStore, UsageEvent, read_record};
use crate::token::random_id;
use crate::types::UnixTime;

/// How long a login or consent form stays valid, in seconds.
pub(crate) const INTERACTION_SECS: u64 = 15 * 60;

/// The additional authenticated data of sealed interactions.
const SEAL_ID: &str = "gatehouse interaction v1";

/// An authorization request in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Interaction {
    pub(crate) request: AuthorizationRequest,
    pub(crate) expires_at: UnixTime,
    pub(crate) signed_in: Option<SignedIn>,
    /// The user code, when the user is approving a device (RFC 8628) rather than
    /// answering an authorization request: the end is the device page, not a
    /// redirect.
    #[serde(default)]
    pub(crate) device: Option<String>,
}

impl Interaction {
    /// A request whose user is not known yet.
    pub(crate) fn new(request: AuthorizationRequest, now: UnixTime) -> Self {
        Self { request, expires_at: now.plus(INTERACTION_SECS), signed_in: None, device: None }
    }

    /// The same interaction, approving the device with `user_code`.
    pub(crate) fn for_device(mut self, user_code: &str) -> Self {
        self.device = Some(user_code.to_owned());
        self
    }

    /// A request answered from a live session.
    pub(crate) fn signed_in(
        request: AuthorizationRequest,
        session: &Session,
        now: UnixTime,
    ) -> Self {
        Self {
            device: None,
            request,
            expires_at: now.plus(INTERACTION_SECS),
            signed_in: Some(SignedIn {
                user_id: session.user_id.clone(),
                auth_time: session.auth_time,
                amr: session.amr.clone(),
                sid: session.sid.clone(),
            }),
        }
    }

    pub(crate) fn seal<P: Platform>(
        &self,
        engine: &Engine<P>,
        cx: &mut Context<'_>,
    ) -> Option<String> {
        let json = serde_json::to_vec(self).ok()?;
        engine.config().kek.seal(&KeyId::new(SEAL_ID), &json, cx.rng()).ok()
    }

    pub(crate) fn open<P: Platform>(engine: &Engine<P>, sealed: &str) -> Option<Self> {
        let opened = engine.config().kek.open(&KeyId::new(SEAL_ID), sealed).ok()?;
        serde_json::from_slice(opened.expose()).ok()
    }
}

/// The login page for `interaction`, with a button per upstream provider the app
/// allows ([`super::upstream`]).
pub(crate) async fn show_login<P: Platform>(
    engine: &Engine<P>,
    app: &AppRecord,
    interaction: Interaction,
    headers: &HeaderMap,
    problem: Option<(LoginProblem, &str)>,
    cx: &mut Context<'_>,
) -> Response {
    let locale = interaction.request.locale(headers);
    let Some(sealed) = interaction.seal(engine, cx) else {
        return unavailable(locale);
    };
    let action = engine.config().issuer.endpoint(LOGIN_PATH);
    let (problem, username) = match problem {
        Some((problem, username)) => (Some(problem), username.to_owned()),
        None => (None, interaction.request.login_hint.clone().unwrap_or_default()),
    };
    let status = if problem.is_some() { StatusCode::UNAUTHORIZED } else { StatusCode::OK };
    let providers =
        crate::model::provider::buttons(&engine.cached_directory(cx.now()), &app.allowed_providers)
            .await;
    let upstream_action = engine.config().issuer.endpoint(crate::endpoints::UPSTREAM_START_PATH);
    let register = app
        .self_registration
        .then(|| engine.config().issuer.endpoint(crate::endpoints::REGISTER_PATH));
    with_csrf(engine, headers, cx, |csrf| {
        let hidden = [("interaction", sealed.as_str()), ("csrf", csrf)];
        let page = Login {
            brand: brand(app),
            action: &action,
            hidden: &hidden,
            username: &username,
            problem,
            upstream: Upstream { action: &upstream_action, providers: &providers },
            register: register.as_deref(),
        };
        pages::render(&Page::Login(page), locale, status)
    })
}

/// Reads a hosted form: its fields, the checked CSRF token, and the interaction.
pub(crate) fn read_form<P: Platform>(
    engine: &Engine<P>,
    request: &Request,
    now: UnixTime,
) -> Result<(Form, Interaction), Box<Response>> {
    let locale = Locale::negotiate(None, accept_language(request.headers()));
    let bad = |description: &str, status| {
        Err(Box::new(error_page(ErrorCode::InvalidRequest, description, locale, status)))
    };
    let Ok(form) = parse_form(request.headers(), request.body()) else {
        return bad("the form could not be read", StatusCode::BAD_REQUEST);
    };
    if !csrf_ok(engine, request.headers(), &form) {
        return bad(
            "this form has expired or was not sent from this site; go back to the app and try again",
            StatusCode::FORBIDDEN,
        );
    }
    let Some(interaction) = form.get("interaction").and_then(|s| Interaction::open(engine, s))
    else {
        return bad("the sign-in request is not valid", StatusCode::BAD_REQUEST);
    };
    if expired(interaction.expires_at, now) {
        return bad(
            "the sign-in request took too long; go back to the app and try again",
            StatusCode::BAD_REQUEST,
        );
    }
    Ok((form, interaction))
}

/// The app of an interaction, if it is still enabled.
/// Renders a hosted form that continues `interaction`: `render` gets the form's
/// action (`path` under the issuer) and its hidden fields: the sealed interaction,
/// the CSRF token (its cookie set when new), then `extra`.
pub(crate) fn interaction_form<P: Platform>(
    engine: &Engine<P>,
    interaction: &Interaction,
    path: &str,
    extra: &[(&str, &str)],
    headers: &HeaderMap,
    cx: &mut Context<'_>,
    render: impl FnOnce(&str, Hidden<'_>) -> Response,
) -> Response {
    let Some(sealed) = interaction.seal(engine, cx) else {
        return unavailable(interaction.request.locale(headers));
    };
    let action = engine.config().issuer.endpoint(path);
    with_csrf(engine, headers, cx, |csrf| {
        let mut hidden = vec![("interaction", sealed.as_str()), ("csrf", csrf)];
        hidden.extend_from_slice(extra);
        render(&action, &hidden)
    })
}

/// A hosted form posted once the user is known (consent, consent policy, second
/// factor): its fields, the interaction, who signed in, and the page's language.
pub(crate) struct SignedInForm {
    pub(crate) form: Form,
    pub(crate) interaction: Interaction,
    pub(crate) signed_in: SignedIn,
    pub(crate) locale: Locale,
}

/// Reads a form only a signed-in interaction may post ([`read_form`]), or the page
/// that refuses it.
pub(crate) fn read_signed_in_form<P: Platform>(
    engine: &Engine<P>,
    request: &Request,
    now: UnixTime,
) -> Result<SignedInForm, Box<Response>> {
    let (form, interaction) = read_form(engine, request, now)?;
    let locale = interaction.request.locale(request.headers());
    let Some(signed_in) = interaction.signed_in.clone() else {
        return Err(Box::new(bad_form(locale, "the sign-in request is not valid")));
    };
    Ok(SignedInForm { form, interaction, signed_in, locale })
}

/// The 400 page of a hosted form that cannot be used as sent.
pub(crate) fn bad_form(locale: Locale, description: &str) -> Response {
    error_page(ErrorCode::InvalidRequest, description, locale, StatusCode::BAD_REQUEST)
}

/// The enabled app a posted form continues, or the page that says it is gone.
pub(crate) async fn form_app<P: Platform>(
    engine: &Engine<P>,
    client_id: &str,
    locale: Locale,
    now: UnixTime,
) -> Result<AppRecord, Response> {
    match live_app(engine, client_id, now).await {
        Ok(Some(app)) => Ok(app),
        Ok(None) => Err(error_page(
            ErrorCode::InvalidClient,
            "unknown client",
            locale,
            StatusCode::BAD_REQUEST,
        )),
        Err(_) => Err(unavailable(locale)),
    }
}

pub(crate) async fn live_app<P: Platform>(
    engine: &Engine<P>,
    client_id: &str,
    now: UnixTime,
) -> Result<Option<AppRecord>, OAuthError> {
    read_record::<AppRecord, _>(&engine.cached_directory(now), &schema::app(client_id))
        .await
        .map(|app| app.filter(|a| a.enabled))
        .map_err(|e| store_error(&e))
}

/// `POST /login`: checks the credentials, starts the session, and goes on.
pub(crate) async fn login<P: Platform>(
    engine: &Engine<P>,
    request: Request,
    cx: &mut Context<'_>,
) -> Response {
    let now = cx.now();
    let (form, interaction) = match read_form(engine, &request, now) {
        Ok(read) => read,
        Err(page) => return *page,
    };
    let headers = request.headers();
    let locale = interaction.request.locale(headers);
    let app = match live_app(engine, &interaction.request.client_id, now).await {
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
    let username = form.get("username").unwrap_or_default().trim().to_owned();
    let password = form.get("password").unwrap_or_default().to_owned();
    let Ok(hooks) = AppHooks::load(engine, &app, cx).await else { return unavailable(locale) };
    let mut gate = SignInHooks::new(engine, &hooks, headers, &username, cx);
    let outcome =
        match check_credentials(engine, headers, &username, &password, now, &mut gate).await {
            Ok(outcome) => outcome,
            Err(_) => return unavailable(locale),
        };
    let user = match outcome {
        Credentials::Valid(user) => user,
        Credentials::Invalid { locked } => {
            gate.failed(locked);
            cx.diagnose(format!("sign-in failed for client {:?}", app.client_id));
            cx.count_usage(&app.client_id, UsageEvent::Failure);
            let problem = if locked {
                LoginProblem::LockedOut { retry_after_secs: LOCKOUT_WINDOW_SECS }
            } else {
                LoginProblem::InvalidCredentials
            };
            return show_login(engine, &app, interaction, headers, Some((problem, &username)), cx)
                .await;
        }
    };
    // A new session on every sign-in: a cookie set before it is never promoted.
    if let Ok(Some(old)) = engine.current_session(headers, now).await {
        let _ = engine.end_session(&old.key).await;
    }
    let (cookie_value, session) =
        match engine.start_session(&user.id, &["pwd"], now, cx.rng()).await {
            Ok(started) => started,
            Err(_) => return unavailable(locale),
        };
    SignInHooks::new(engine, &hooks, headers, &username, cx).succeeded(
        &user,
        &["pwd"],
        &session.sid,
    );
    cx.count_usage(&app.client_id, UsageEvent::Login);
    let device = interaction.device.clone();
    let mut interaction = Interaction::signed_in(interaction.request, &session, now);
    interaction.device = device;
    let mut response = proceed(engine, &app, interaction, headers, cx).await;
    set_cookie(
        &mut response,
        engine.cookie_policy().set(SESSION_COOKIE, &cookie_value, Some(SESSION_SECS)),
    );
    response
}

/// An error of an interaction: back to the redirect URI, or for a device on a page.
pub(crate) fn fail<P: Platform>(
    engine: &Engine<P>,
    interaction: &Interaction,
    error: &OAuthError,
    locale: Locale,
) -> Response {
    if interaction.device.is_some() {
        let status = if error.code().is_client_fault() {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        let description = error.description().unwrap_or("the request could not be completed");
        return error_page(error.code(), description, locale, status);
    }
    respond_error(engine.config().issuer.as_str(), &interaction.request.target, error, locale)
}

/// With the user known: refuses a user the app does not admit (its
/// `allowed_roles`, see [`super::admission`]), asks for the second factor if
/// needed ([`super::mfa`]), asks for consent if needed, else
/// issues the code (or approves the device).
pub(crate) async fn proceed<P: Platform>(
    engine: &Engine<P>,
    app: &AppRecord,
    interaction: Interaction,
    headers: &HeaderMap,
    cx: &mut Context<'_>,
) -> Response {
    let locale = interaction.request.locale(headers);
    let request = &interaction.request;
    let Some(signed_in) = interaction.signed_in.clone() else {
        return show_login(engine, app, interaction, headers, None, cx).await;
    };
    let user = match read_record::<UserRecord, _>(
        engine.platform().directory(),
        &schema::user(&signed_in.user_id),
    )
    .await
    {
        Ok(user) => user.filter(|u| u.enabled),
        Err(err) => return fail(engine, &interaction, &store_error(&err), locale),
    };
    let Some(user) = user else {
        // The session's user is gone or disabled: sign in again.
        if request.prompt.none {
            let error = OAuthError::new(ErrorCode::LoginRequired, "the user must sign in");
            return fail(engine, &interaction, &error, locale);
        }
        let device = interaction.device.clone();
        let mut fresh = Interaction::new(interaction.request, cx.now());
        fresh.device = device;
        return show_login(engine, app, fresh, headers, None, cx).await;
    };
    match admitted(engine, app, &user).await {
        Ok(true) => {}
        Ok(false) if request.prompt.none => {
            let error = OAuthError::new(ErrorCode::AccessDenied, "the user may not use this app");
            return fail(engine, &interaction, &error, locale);
        }
        Ok(false) => return show_no_access(engine, app, &user, interaction, headers, cx),
        Err(error) => return fail(engine, &interaction, &error, locale),
    }
    if let Some(response) = super::mfa::gate(engine, app, &user, &interaction, headers, cx).await {
        return response;
    }
    match super::policy_consent::pending(engine, app, &user.id, cx.now()).await {
        Ok(None) => {}
        Ok(Some(_)) if request.prompt.none => {
            let error = OAuthError::new(
                ErrorCode::ConsentRequired,
                "the user must accept the app's consent policy",
            );
            return fail(engine, &interaction, &error, locale);
        }
        Ok(Some(policy)) => {
            return super::policy_consent::show(
                engine,
                app,
                &user,
                policy,
                &interaction,
                headers,
                cx,
            );
        }
        Err(error) => return fail(engine, &interaction, &error, locale),
    }
    if !app.first_party {
        let consented = match engine.consented(&user.id, &app.client_id, cx.now()).await {
            Ok(consented) => consented,
            Err(error) => return fail(engine, &interaction, &error, locale),
        };
        // `prompt=consent` asks each time it is sent, after a fresh sign-in or a
        // second factor too (OpenID Connect Core section 3.1.2.1); the consent
        // form's answer goes straight to `finish`, so it cannot loop.
        if request.prompt.consent || !request.scope.is_subset(&consented) {
            if request.prompt.none {
                let error = OAuthError::new(ErrorCode::ConsentRequired, "the user must consent");
                return fail(engine, &interaction, &error, locale);
            }
            return show_consent(engine, app, &user, interaction, headers, cx).await;
        }
    }
    finish(engine, &interaction, &signed_in, locale, cx).await
}

/// The end of an interaction the user allowed: the code, or the device approved.
async fn finish<P: Platform>(
    engine: &Engine<P>,
    interaction: &Interaction,
    signed_in: &SignedIn,
    locale: Locale,
    cx: &mut Context<'_>,
) -> Response {
    match &interaction.device {
        Some(user_code) => {
            match super::device::record::decide(
                engine,
                user_code,
                Some((&interaction.request, signed_in)),
                cx,
            )
            .await
            {
                Ok(()) => pages::render(
                    &Page::DeviceDone(DeviceDone { approved: true }),
                    locale,
                    StatusCode::OK,
                ),
                Err(error) => fail(engine, interaction, &error, locale),
            }
        }
        None => issue_code(engine, interaction, signed_in, locale, cx).await,
    }
}

/// The page for a signed-in user the app does not admit (403): it names the app
/// and the account, and carries a login form for another account, whose
/// interaction knows no user yet. The redirect URI gets nothing.
fn show_no_access<P: Platform>(
    engine: &Engine<P>,
    app: &AppRecord,
    user: &UserRecord,
    interaction: Interaction,
    headers: &HeaderMap,
    cx: &mut Context<'_>,
) -> Response {
    let locale = interaction.request.locale(headers);
    let device = interaction.device.clone();
    let mut fresh = Interaction::new(interaction.request, cx.now());
    fresh.device = device;
    let Some(sealed) = fresh.seal(engine, cx) else { return unavailable(locale) };
    let action = engine.config().issuer.endpoint(LOGIN_PATH);
    let shown = shown_name(user);
    with_csrf(engine, headers, cx, |csrf| {
        let hidden = [("interaction", sealed.as_str()), ("csrf", csrf)];
        let page = NoAccess { brand: brand(app), action: &action, hidden: &hidden, user: shown };
        pages::render(&Page::NoAccess(page), locale, StatusCode::FORBIDDEN)
    })
}

/// The user as they would recognise themselves: their email, else their username.
pub(crate) fn shown_name(user: &UserRecord) -> &str {
    user.claims.get("email").and_then(|e| e.as_str()).unwrap_or(&user.username)
}

/// The consent page.
async fn show_consent<P: Platform>(
    engine: &Engine<P>,
    app: &AppRecord,
    user: &UserRecord,
    interaction: Interaction,
    headers: &HeaderMap,
    cx: &mut Context<'_>,
) -> Response {
    let locale = interaction.request.locale(headers);
    let mut descriptions: Vec<(String, Option<String>)> = Vec::new();
    for scope in interaction.request.scope.iter() {
        let name = scope.as_str();
        let description = if system_scope_description(name, locale).is_some() {
            None
        } else {
            read_record::<ScopeRecord, _>(&engine.cached_directory(cx.now()), &schema::scope(name))
                .await
                .ok()
                .flatten()
                .and_then(|record| {
                    record
                        .description
                        .get(locale.tag())
                        .or_else(|| record.description.get("en"))
                        .or_else(|| record.description.values().next())
                        .cloned()
                })
        };
        descriptions.push((name.to_owned(), description));
    }
    let items: Vec<ScopeItem<'_>> = descriptions
        .iter()
        .map(|(name, description)| ScopeItem { name, description: description.as_deref() })
        .collect();
    let shown = shown_name(user);
    interaction_form(engine, &interaction, CONSENT_PATH, &[], headers, cx, |action, hidden| {
        let page = Consent { brand: brand(app), action, hidden, user: shown, scopes: &items };
        pages::render(&Page::Consent(page), locale, StatusCode::OK)
    })
}

/// `POST /consent`: allow remembers the consent and issues the code; deny answers
/// `access_denied`.
pub(crate) async fn consent<P: Platform>(
    engine: &Engine<P>,
    request: Request,
    cx: &mut Context<'_>,
) -> Response {
    let now = cx.now();
    let SignedInForm { form, interaction, signed_in, locale } =
        match read_signed_in_form(engine, &request, now) {
            Ok(read) => read,
            Err(page) => return *page,
        };
    match form.get("decision") {
        Some("allow") => {
            let client_id = &interaction.request.client_id;
            if let Err(error) = engine
                .remember_consent(&signed_in.user_id, client_id, &interaction.request.scope, now)
                .await
            {
                return fail(engine, &interaction, &error, locale);
            }
            finish(engine, &interaction, &signed_in, locale, cx).await
        }
        Some("deny") => {
            let error = OAuthError::new(ErrorCode::AccessDenied, "the user denied the request");
            refuse(engine, &interaction, &error, locale, cx).await
        }
        _ => bad_form(locale, "decision must be allow or deny"),
    }
}

/// The end of an interaction the user refused: `error` (`access_denied`) at the
/// redirect URI, or for a device, the device denied.
pub(super) async fn refuse<P: Platform>(
    engine: &Engine<P>,
    interaction: &Interaction,
    error: &OAuthError,
    locale: Locale,
    cx: &mut Context<'_>,
) -> Response {
    if let Some(user_code) = &interaction.device {
        return match super::device::record::decide(engine, user_code, None, cx).await {
            Ok(()) => pages::render(
                &Page::DeviceDone(DeviceDone { approved: false }),
                locale,
                StatusCode::OK,
            ),
            Err(error) => fail(engine, interaction, &error, locale),
        };
    }
    fail(engine, interaction, error, locale)
}

/// Issues the authorization code and sends it to the redirect URI.
pub(crate) async fn issue_code<P: Platform>(
    engine: &Engine<P>,
    interaction: &Interaction,
    signed_in: &SignedIn,
    locale: Locale,
    cx: &mut Context<'_>,
) -> Response {
    let issuer = engine.config().issuer.as_str().to_owned();
    let request = &interaction.request;
    let code = random_id(cx.rng(), 32);
    let grant = CodeGrant::new(request, signed_in, super::code::family_of(&code));
    let now = cx.now();
    let stored = match serde_json::to_vec(&grant) {
        Ok(json) => engine
            .platform()
            .once()
            .put(
                &schema::code(&Sha256::digest(code.as_bytes())),
                &json,
                now.plus(super::code::CODE_SECS),
                now,
            )
            .await
            .map_err(|e| store_error(&e)),
        Err(_) => Err(OAuthError::server_error()),
    };
    if let Err(error) = stored {
        return fail(engine, interaction, &error, locale);
    }
    respond(&issuer, &request.target, &[("code", &code)], locale)
}
