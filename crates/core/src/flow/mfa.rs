//! The second sign-in factor, a step of the hosted sign-in ([`super::interaction`]):
//! after the password (or with a session that has only the password), a user with
//! TOTP enrolled enters a code, and a user who must use a second factor (the app's
//! `require_mfa`, the user's `mfa_required`, or an `acr_values` of
//! [`ACR_MULTI_FACTOR`]) and has none enrols first. A session that has `otp`
//! already satisfies every one of them.
//!
//! The pending secret of an enrolment travels sealed in the form (bound to the
//! user) and is stored, sealed, only after a correct code. Each step of a code and
//! each recovery code works once ([`OnceStore`]), and wrong codes count against the
//! same per-user and per-address lockout as wrong passwords, plus a second-factor
//! counter that only a correct code resets (a correct password does not buy more
//! guesses). The form is bound to the browser that signed in: its session must be
//! the one the interaction names.

use http::{HeaderMap, StatusCode};

use super::interaction::{
    Interaction, Next, SignedInForm, bad_form, fail, form_app, interaction_form,
    read_signed_in_form, shown_name,
};
use super::respond::{brand, unavailable, with_csrf};
use super::signin::{
    LOCKOUT_WINDOW_SECS, USER_MAX_FAILURES, address_failures, count_address_failure,
};
use crate::context::Context;
use crate::endpoints::MFA_PATH;
use crate::engine::{Engine, store_error};
use crate::error::{ErrorCode, OAuthError};
use crate::http::{Form, Request, Response};
use crate::model::app::AppRecord;
use crate::model::factor::{FACTOR_SECS, SecondFactor};
use crate::model::user::UserRecord;
use crate::pages::{self, MfaEnrol, MfaPage, MfaProblem, MfaRecoveryCodes, MfaVerify};
use crate::platform::Platform;
use crate::session::{ACR_MULTI_FACTOR, LiveSession, SESSION_SECS, Session};
use crate::store::schema;
use crate::store::{Counters as _, OnceStore as _, Sessions as _, StoreError, UsageEvent};
use crate::totp::{self, STEP_SECS, TotpSecret};
use crate::types::UnixTime;

/// The authentication method of a one-time password (RFC 8176).
const OTP: &str = "otp";

/// Whether `amr` includes the second factor.
fn has_otp(amr: &[String]) -> bool {
    amr.iter().any(|m| m == OTP)
}

/// The user's second factor, if enrolled.
///
/// # Errors
///
/// The opaque error of a store failure.
pub(crate) async fn load_factor<P: Platform>(
    engine: &Engine<P>,
    user_id: &str,
    now: UnixTime,
) -> Result<Option<SecondFactor>, OAuthError> {
    match engine.platform().sessions().get(&schema::second_factor(user_id), now).await {
        Ok(data) => Ok(data.and_then(|d| serde_json::from_slice(&d).ok())),
        Err(StoreError::Refused(_)) => Ok(None),
        Err(err) => Err(store_error(&err)),
    }
}

/// Whether signing `user` in to `app` takes a second factor: one is enrolled, or
/// the app (`require_mfa`) or the user (`mfa_required`) demands one.
///
/// # Errors
///
/// The opaque error of a store failure.
pub(crate) async fn required<P: Platform>(
    engine: &Engine<P>,
    app: &AppRecord,
    user: &UserRecord,
    now: UnixTime,
) -> Result<bool, OAuthError> {
    Ok(app.require_mfa || user.mfa_required || load_factor(engine, &user.id, now).await?.is_some())
}

async fn save_factor<P: Platform>(
    engine: &Engine<P>,
    user_id: &str,
    factor: &SecondFactor,
    now: UnixTime,
) -> Result<(), OAuthError> {
    let data = serde_json::to_vec(factor).map_err(|_| OAuthError::server_error())?;
    engine
        .platform()
        .sessions()
        .put(&schema::second_factor(user_id), &data, now.plus(FACTOR_SECS), now)
        .await
        .map_err(|e| store_error(&e))
}

/// Removes the user's second factor (an administrator's reset) and clears its
/// failure counter; returns whether one was enrolled.
///
/// # Errors
///
/// The opaque error of a store failure.
pub(crate) async fn reset_factor<P: Platform>(
    engine: &Engine<P>,
    user_id: &str,
) -> Result<bool, OAuthError> {
    let removed = engine
        .platform()
        .sessions()
        .delete(&schema::second_factor(user_id))
        .await
        .map_err(|e| store_error(&e))?;
    let _ = engine.platform().counters().reset(&schema::user_mfa_lockout(user_id)).await;
    Ok(removed)
}

/// With the user known and admitted: `None` when no second factor is needed (or
/// the session has one), else the page that asks for it, or for `prompt=none` the
/// error `interaction_required`.
pub(crate) async fn gate<P: Platform>(
    engine: &Engine<P>,
    app: &AppRecord,
    user: &UserRecord,
    interaction: &Interaction,
    headers: &HeaderMap,
    cx: &mut Context<'_>,
) -> Option<Response> {
    let signed_in = interaction.signed_in.as_ref()?;
    if has_otp(&signed_in.amr) {
        return None;
    }
    let locale = interaction.request.locale(headers);
    let factor = match load_factor(engine, &user.id, cx.now()).await {
        Ok(factor) => factor,
        Err(error) => return Some(fail(engine, interaction, &error, locale)),
    };
    let demanded = app.require_mfa || user.mfa_required || interaction.request.acr_mfa;
    if factor.is_none() && !demanded {
        return None;
    }
    if interaction.request.prompt.none {
        let error = OAuthError::new(
            ErrorCode::InteractionRequired,
            "the user must sign in with a second factor",
        );
        return Some(fail(engine, interaction, &error, locale));
    }
    Some(match factor {
        Some(_) => show_verify(engine, app, interaction.clone(), headers, None, cx),
        None => show_enrol(engine, app, user, interaction.clone(), None, headers, None, cx),
    })
}

/// The code prompt.
fn show_verify<P: Platform>(
    engine: &Engine<P>,
    app: &AppRecord,
    interaction: Interaction,
    headers: &HeaderMap,
    problem: Option<MfaProblem>,
    cx: &mut Context<'_>,
) -> Response {
    let locale = interaction.request.locale(headers);
    interaction_form(engine, &interaction, MFA_PATH, &[], headers, cx, |action, hidden| {
        let page = MfaPage::Verify(MfaVerify { brand: brand(app), action, hidden, problem });
        pages::render_mfa(&page, locale, status_of(problem))
    })
}

/// The enrolment page, with a fresh secret or the pending one (`pending`, sealed).
#[allow(clippy::too_many_arguments)]
fn show_enrol<P: Platform>(
    engine: &Engine<P>,
    app: &AppRecord,
    user: &UserRecord,
    interaction: Interaction,
    pending: Option<&str>,
    headers: &HeaderMap,
    problem: Option<MfaProblem>,
    cx: &mut Context<'_>,
) -> Response {
    let locale = interaction.request.locale(headers);
    let kek = &engine.config().kek;
    let secret = pending
        .and_then(|sealed| SecondFactor::open_pending(kek, &user.id, sealed))
        .unwrap_or_else(|| TotpSecret::generate(cx.rng()));
    let (Some(sealed), Some(pending)) = (
        interaction.seal(engine, cx),
        SecondFactor::seal_pending(kek, &user.id, &secret, cx.rng()),
    ) else {
        return unavailable(locale);
    };
    let issuer = engine.config().issuer.as_str();
    let label = issuer.split("://").nth(1).unwrap_or(issuer).trim_end_matches('/');
    let uri = totp::otpauth_uri(label, shown_name(user), &secret);
    let action = engine.config().issuer.endpoint(MFA_PATH);
    with_csrf(engine, headers, cx, |csrf| {
        let hidden =
            [("interaction", sealed.as_str()), ("csrf", csrf), ("enrolment", pending.as_str())];
        let page = MfaPage::Enrol(MfaEnrol {
            brand: brand(app),
            action: &action,
            hidden: &hidden,
            uri: &uri,
            secret: &secret.base32(),
            problem,
        });
        pages::render_mfa(&page, locale, status_of(problem))
    })
}

fn status_of(problem: Option<MfaProblem>) -> StatusCode {
    if problem.is_some() { StatusCode::UNAUTHORIZED } else { StatusCode::OK }
}

/// What a submitted code came to.
enum Outcome {
    /// Wrong, replayed, or a recovery code used before.
    Wrong,
    /// The enrolment is confirmed: these recovery codes are to be shown.
    Enrolled(Vec<String>),
    /// The code (or a recovery code) is right.
    Verified,
    /// Nothing to check against: the factor was reset, or enrolled meanwhile.
    Again,
}

/// `POST /login/mfa`: checks the code (or confirms the enrolment), then goes on
/// with the sign-in.
pub(crate) async fn submit<P: Platform>(
    engine: &Engine<P>,
    request: &Request,
    cx: &mut Context<'_>,
) -> Next {
    let now = cx.now();
    let SignedInForm { form, interaction, signed_in, locale } =
        match read_signed_in_form(engine, request, now) {
            Ok(read) => read,
            Err(page) => return (*page).into(),
        };
    let headers = request.headers();
    let again = |description| Next::from(bad_form(locale, description));
    // Only the browser that signed in may finish the sign-in.
    let live = match engine.current_session(headers, now).await {
        Ok(Some(live)) if live.session.sid == signed_in.sid => live,
        Ok(_) => return again("the sign-in has ended; go back to the app and try again"),
        Err(_) => return unavailable(locale).into(),
    };
    let app = match form_app(engine, &interaction.request.client_id, locale, now).await {
        Ok(app) => app,
        Err(page) => return page.into(),
    };
    if has_otp(&signed_in.amr) {
        // After the recovery codes page: the factor was used already.
        return Next::Proceed { app: Box::new(app), interaction: Box::new(interaction) };
    }
    let user = match crate::store::read_record::<UserRecord, _>(
        engine.platform().directory(),
        &schema::user(&signed_in.user_id),
    )
    .await
    {
        Ok(Some(user)) if user.enabled => user,
        Ok(_) => return again("the sign-in has ended; go back to the app and try again"),
        Err(_) => return unavailable(locale).into(),
    };
    let pending = form.get("enrolment").map(str::to_owned);
    let show = |problem, cx: &mut Context<'_>| match &pending {
        Some(sealed) => show_enrol(
            engine,
            &app,
            &user,
            interaction.clone(),
            Some(sealed),
            headers,
            Some(problem),
            cx,
        ),
        None => show_verify(engine, &app, interaction.clone(), headers, Some(problem), cx),
    };
    match locked(engine, headers, &user.id, now).await {
        Ok(false) => {}
        Ok(true) => {
            cx.diagnose(format!("second factor of a locked user for client {:?}", app.client_id));
            return show(MfaProblem::LockedOut { retry_after_secs: LOCKOUT_WINDOW_SECS }, cx)
                .into();
        }
        Err(_) => return unavailable(locale).into(),
    }
    let outcome = match &pending {
        Some(sealed) => enrol(engine, &user, sealed, &form, cx).await,
        None => verify(engine, &user, &form, cx).await,
    };
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(error) => return fail(engine, &interaction, &error, locale).into(),
    };
    let upgraded = match outcome {
        Outcome::Wrong => {
            cx.diagnose(format!("wrong second factor for client {:?}", app.client_id));
            cx.count_usage(&app.client_id, UsageEvent::Failure);
            let locked = count_failure(engine, headers, &user.id, now).await;
            let problem = if locked {
                MfaProblem::LockedOut { retry_after_secs: LOCKOUT_WINDOW_SECS }
            } else {
                MfaProblem::WrongCode
            };
            return show(problem, cx).into();
        }
        Outcome::Again => {
            return Next::Proceed { app: Box::new(app), interaction: Box::new(interaction) };
        }
        Outcome::Verified | Outcome::Enrolled(_) => {
            let counters = engine.platform().counters();
            let _ = counters.reset(&schema::user_lockout(&user.id)).await;
            let _ = counters.reset(&schema::user_mfa_lockout(&user.id)).await;
            match upgrade(engine, &live, now).await {
                Ok(session) => session,
                Err(error) => return fail(engine, &interaction, &error, locale).into(),
            }
        }
    };
    let device = interaction.device.clone();
    let mut next = Interaction::signed_in(interaction.request, &upgraded, now);
    next.device = device;
    match outcome {
        Outcome::Enrolled(codes) => {
            show_recovery_codes(engine, &app, next, &codes, headers, cx).into()
        }
        _ => Next::Proceed { app: Box::new(app), interaction: Box::new(next) },
    }
}

/// The recovery codes, once, with a form to go on.
fn show_recovery_codes<P: Platform>(
    engine: &Engine<P>,
    app: &AppRecord,
    interaction: Interaction,
    codes: &[String],
    headers: &HeaderMap,
    cx: &mut Context<'_>,
) -> Response {
    let locale = interaction.request.locale(headers);
    interaction_form(engine, &interaction, MFA_PATH, &[], headers, cx, |action, hidden| {
        let page =
            MfaPage::RecoveryCodes(MfaRecoveryCodes { brand: brand(app), action, hidden, codes });
        pages::render_mfa(&page, locale, StatusCode::OK)
    })
}

/// Whether the user (wrong passwords or codes) or the address is locked out.
async fn locked<P: Platform>(
    engine: &Engine<P>,
    headers: &HeaderMap,
    user_id: &str,
    now: UnixTime,
) -> Result<bool, OAuthError> {
    let counters = engine.platform().counters();
    for key in [schema::user_lockout(user_id), schema::user_mfa_lockout(user_id)] {
        if counters.get(&key, now).await.map_err(|e| store_error(&e))? >= USER_MAX_FAILURES {
            return Ok(true);
        }
    }
    address_failures(engine, headers, now).await
}

/// Counts a wrong code against the user, its second factor and the address;
/// returns whether that locked the user.
async fn count_failure<P: Platform>(
    engine: &Engine<P>,
    headers: &HeaderMap,
    user_id: &str,
    now: UnixTime,
) -> bool {
    count_address_failure(engine, headers, now).await;
    let counters = engine.platform().counters();
    let window_end = now.plus(LOCKOUT_WINDOW_SECS);
    let mut locked = false;
    for key in [schema::user_lockout(user_id), schema::user_mfa_lockout(user_id)] {
        let count = counters.add(&key, 1, window_end, now).await.unwrap_or(0);
        locked |= count >= USER_MAX_FAILURES;
    }
    locked
}

/// Marks a single-use record; `false` if it was used already.
async fn use_once<P: Platform>(
    engine: &Engine<P>,
    key: &str,
    expires_at: UnixTime,
    now: UnixTime,
) -> Result<bool, OAuthError> {
    match engine.platform().once().put(key, &[], expires_at, now).await {
        Ok(()) => Ok(true),
        Err(StoreError::Conflict) => Ok(false),
        Err(err) => Err(store_error(&err)),
    }
}

/// Checks a TOTP code at `now` and uses its step: `false` for a wrong code or a
/// step used before.
async fn use_code<P: Platform>(
    engine: &Engine<P>,
    user_id: &str,
    secret: &TotpSecret,
    code: &str,
    now: UnixTime,
) -> Result<bool, OAuthError> {
    let Some(step) = secret.verify(code, now) else { return Ok(false) };
    // A step is accepted until the window moves past it.
    let until = UnixTime::from_secs(step.saturating_add(2).saturating_mul(STEP_SECS));
    use_once(engine, &schema::totp_step(user_id, step), until, now).await
}

/// Confirms an enrolment with its first code: stores the factor and makes the
/// recovery codes.
async fn enrol<P: Platform>(
    engine: &Engine<P>,
    user: &UserRecord,
    sealed: &str,
    form: &Form,
    cx: &mut Context<'_>,
) -> Result<Outcome, OAuthError> {
    let now = cx.now();
    let kek = &engine.config().kek;
    let Some(secret) = SecondFactor::open_pending(kek, &user.id, sealed) else {
        return Err(OAuthError::invalid_request("the enrolment is not valid"));
    };
    if load_factor(engine, &user.id, now).await?.is_some() {
        // Enrolled meanwhile (another tab): that factor stands.
        return Ok(Outcome::Again);
    }
    if !use_code(engine, &user.id, &secret, form.get("code").unwrap_or_default(), now).await? {
        return Ok(Outcome::Wrong);
    }
    let codes: Vec<String> =
        (0..totp::RECOVERY_CODES).map(|_| totp::recovery_code(cx.rng())).collect();
    let mac = &engine.config().recovery_mac;
    let digests = codes.iter().filter_map(|c| totp::recovery_digest(mac, &user.id, c)).collect();
    let factor = SecondFactor::enrol(kek, &user.id, &secret, digests, now, cx.rng())
        .ok_or_else(OAuthError::server_error)?;
    save_factor(engine, &user.id, &factor, now).await?;
    Ok(Outcome::Enrolled(codes))
}

/// Checks a code, or a recovery code, against the enrolled factor.
async fn verify<P: Platform>(
    engine: &Engine<P>,
    user: &UserRecord,
    form: &Form,
    cx: &mut Context<'_>,
) -> Result<Outcome, OAuthError> {
    let now = cx.now();
    let Some(mut factor) = load_factor(engine, &user.id, now).await? else {
        return Ok(Outcome::Again);
    };
    if let Some(code) = form.get("recovery_code").filter(|c| !c.trim().is_empty()) {
        let mac = &engine.config().recovery_mac;
        let Some(digest) =
            totp::recovery_digest(mac, &user.id, code).filter(|d| factor.recovery.contains(d))
        else {
            return Ok(Outcome::Wrong);
        };
        let key = schema::recovery_use(&user.id, &digest);
        if !use_once(engine, &key, now.plus(FACTOR_SECS), now).await? {
            return Ok(Outcome::Wrong);
        }
        factor.recovery.retain(|d| *d != digest);
    } else {
        let Some(secret) = factor.secret(&engine.config().kek, &user.id) else {
            cx.diagnose(format!("the second factor of user {:?} does not unseal", user.id));
            return Err(OAuthError::server_error());
        };
        if !use_code(engine, &user.id, &secret, form.get("code").unwrap_or_default(), now).await? {
            return Ok(Outcome::Wrong);
        }
    }
    factor.last_used_at = Some(now);
    save_factor(engine, &user.id, &factor, now).await?;
    Ok(Outcome::Verified)
}

/// The session after the second factor: `otp` added to its methods, authenticated
/// now, ending when it would have.
async fn upgrade<P: Platform>(
    engine: &Engine<P>,
    live: &LiveSession,
    now: UnixTime,
) -> Result<Session, OAuthError> {
    let mut session = live.session.clone();
    let ends = session.auth_time.plus(SESSION_SECS);
    session.amr.push(OTP.to_owned());
    session.auth_time = now;
    let data = serde_json::to_vec(&session).map_err(|_| OAuthError::server_error())?;
    engine
        .platform()
        .sessions()
        .put(&live.key, &data, ends, now)
        .await
        .map_err(|e| store_error(&e))?;
    Ok(session)
}

/// Whether `acr_values` asks for the multi-factor class.
pub(crate) fn asks_mfa(acr_values: Option<&str>) -> bool {
    acr_values.is_some_and(|v| v.split(' ').any(|acr| acr == ACR_MULTI_FACTOR))
}
