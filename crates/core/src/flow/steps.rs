//! The steps that move an interaction on: the login form's answer, then with the
//! user known the gates in order (app access by roles, the second factor, the
//! consent policy, consent), and the end: the code, or the device approved. The
//! gates' forms answer [`Next`]; their routes here go on from it.

use http::{HeaderMap, StatusCode};
use sha2::{Digest, Sha256};

use super::admission::admitted;
use super::code::CodeGrant;
use super::interaction::{
    Interaction, LoginForm, Next, SignedInForm, bad_form, fail, interaction_form, read_login_form,
    read_signed_in_form, refuse, show_login, shown_name,
};
use super::request::SignedIn;
use super::respond::{brand, respond, set_cookie, unavailable, with_csrf};
use super::signin::{Credentials, LOCKOUT_WINDOW_SECS, check_credentials};
use crate::context::Context;
use crate::endpoints::{CONSENT_PATH, LOGIN_PATH};
use crate::engine::{Engine, store_error};
use crate::error::{ErrorCode, OAuthError};
use crate::hooks::call::{AppHooks, SignInHooks};
use crate::http::{Request, Response};
use crate::model::app::AppRecord;
use crate::model::scope::ScopeRecord;
use crate::model::user::UserRecord;
use crate::pages::{
    self, Consent, DeviceDone, Locale, LoginProblem, NoAccess, Page, ScopeItem,
    system_scope_description,
};
use crate::platform::Platform;
use crate::session::{SESSION_COOKIE, SESSION_SECS};
use crate::store::schema;
use crate::store::{OnceStore, UsageEvent, read_record};
use crate::token::random_id;

/// `POST /login/mfa` ([`super::mfa::submit`]), then on.
pub(crate) async fn mfa_submit<P: Platform>(
    engine: &Engine<P>,
    request: Request,
    cx: &mut Context<'_>,
) -> Response {
    let next = super::mfa::submit(engine, &request, cx).await;
    go_on(engine, next, request.headers(), cx).await
}

/// `POST /consent/policy` ([`super::policy_consent::answer`]), then on.
pub(crate) async fn policy_consent<P: Platform>(
    engine: &Engine<P>,
    request: Request,
    cx: &mut Context<'_>,
) -> Response {
    let next = super::policy_consent::answer(engine, &request, cx).await;
    go_on(engine, next, request.headers(), cx).await
}

async fn go_on<P: Platform>(
    engine: &Engine<P>,
    next: Next,
    headers: &HeaderMap,
    cx: &mut Context<'_>,
) -> Response {
    match next {
        Next::Page(page) => page,
        Next::Proceed { app, interaction } => {
            proceed(engine, &app, *interaction, headers, cx).await
        }
    }
}

/// `POST /login`: checks the credentials, starts the session, and goes on.
pub(crate) async fn login<P: Platform>(
    engine: &Engine<P>,
    request: Request,
    cx: &mut Context<'_>,
) -> Response {
    let now = cx.now();
    let LoginForm { form, interaction, headers, locale, app } =
        match read_login_form(engine, &request, now).await {
            Ok(read) => read,
            Err(page) => return page,
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
