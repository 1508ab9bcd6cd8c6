//! Self-registration on the hosted pages, for apps that turn it on
//! (`self_registration`): "Create account" on the login page posts the pending
//! authorization request (the sealed interaction, with the CSRF token) to
//! `/register`, which shows the form; the form's answer is checked (username,
//! email address, the app's password policy, the app's custom fields, each
//! required one server-side), and a one-time code goes to the address through
//! the app's mail hook (`verify_email`). `/register/verify` takes the code; only
//! then is the user created, with `email_verified: true`, signed in, and the
//! authorization request continues as after a sign-in.
//!
//! # Security
//!
//! The code is 8 random digits, valid for [`CODE_SECS`], and takes at most
//! [`MAX_TRIES`] guesses: the pending registration is a record of the sessions
//! store (a Durable Object), changed only by compare-and-swap, so each wrong
//! guess is counted once and a right one is taken once. Only its digest is
//! stored. Registrations from one source address are counted
//! ([`MAX_PER_SOURCE`] codes in [`super::signin::LOCKOUT_WINDOW_SECS`]), and an
//! address locked out by failed sign-ins cannot register either.
//!
//! A taken username is said so on the form (a username is chosen, and the user
//! must be able to choose another). A taken email address is not: the form goes
//! on to the code page as for a new address, and only who reads that mailbox
//! learns, after entering the code, that an account exists there.

use http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::interaction::{Interaction, LoginForm, read_login_form};
use super::respond::{brand, set_cookie, unavailable};
use super::steps::proceed;
use crate::context::Context;
use crate::endpoints::{REGISTER_PATH, REGISTER_VERIFY_PATH};
use crate::engine::{Engine, store_error};
use crate::error::OAuthError;
use crate::hooks::call::{CodeSent, send_code};
use crate::http::{Form, Request, Response};
use crate::model::app::AppRecord;
use crate::model::registration::PolicyRefusal;
use crate::model::user::{UserRecord, check_email, check_username};
use crate::model::user_field::{FieldType, UserFieldSet};
use crate::pages::{
    FieldInput, InputKind, InputProblem, Locale, Register, RegisterNotice, RegisterPage,
    VerifyEmail, render_register,
};
use crate::platform::Platform;
use crate::session::{SESSION_COOKIE, SESSION_SECS};
use crate::store::schema;
use crate::store::{
    Commit, CommitError, Counters, Directory, Expect, Registry, Sessions, UsageEvent, read_record,
};
use crate::token::random_id;
use crate::types::UnixTime;

/// How long a registration code is valid, in seconds.
pub(crate) const CODE_SECS: u64 = 10 * 60;
/// Wrong codes a registration survives; the next wrong one ends it.
pub(crate) const MAX_TRIES: u32 = 5;
/// Codes sent for one source address within the lockout window.
pub(crate) const MAX_PER_SOURCE: u64 = 10;
/// Digits of a code.
const CODE_DIGITS: u32 = 8;

/// A registration waiting for its code.
#[derive(Serialize, Deserialize)]
struct Pending {
    client_id: String,
    username: String,
    email: String,
    password_hash: String,
    #[serde(default)]
    fields: serde_json::Map<String, serde_json::Value>,
    code_digest: String,
    tries: u32,
    expires_at: UnixTime,
}

/// What the form asked for, as typed (shown again on a refusal).
#[derive(Default)]
struct Typed {
    username: String,
    email: String,
    fields: Vec<(String, String)>,
}

/// The form's refusals: one per input, or the form as a whole.
#[derive(Default)]
struct Refusals {
    username: Option<InputProblem>,
    email: Option<InputProblem>,
    password: Option<InputProblem>,
    fields: Vec<(String, InputProblem)>,
    notice: Option<RegisterNotice>,
}

impl Refusals {
    fn any(&self) -> bool {
        self.username.is_some()
            || self.email.is_some()
            || self.password.is_some()
            || !self.fields.is_empty()
    }
}

fn form_name(key: &str) -> String {
    format!("field.{key}")
}

fn digest(label: &str, parts: &[&str]) -> Vec<u8> {
    let mut hash = Sha256::new();
    hash.update(label.as_bytes());
    for part in parts {
        hash.update([0]);
        hash.update(part.as_bytes());
    }
    hash.finalize().to_vec()
}

fn pending_key(id: &str) -> String {
    schema::registration(&digest("gatehouse registration", &[id]))
}

fn code_digest(id: &str, code: &str) -> String {
    crate::jose::b64url(&digest("gatehouse registration code", &[id, code]))
}

/// A code of [`CODE_DIGITS`] uniform random digits.
fn new_code(rng: &mut dyn rand_core::CryptoRngCore) -> String {
    let bound = 10u64.pow(CODE_DIGITS);
    // Rejection sampling: no digit is likelier than another.
    let limit = u64::MAX - u64::MAX % bound;
    loop {
        let n = rng.next_u64();
        if n < limit {
            return format!("{:0width$}", n % bound, width = CODE_DIGITS as usize);
        }
    }
}

/// The custom field definitions (through the isolate's read cache).
async fn field_set<P: Platform>(
    engine: &Engine<P>,
    now: UnixTime,
) -> Result<UserFieldSet, OAuthError> {
    read_record::<UserFieldSet, _>(&engine.cached_directory(now), schema::USER_FIELDS)
        .await
        .map(Option::unwrap_or_default)
        .map_err(|e| store_error(&e))
}

/// The page refusing a registration when the app takes none (or the interaction
/// is a device's), else `None`.
fn registration_refused(
    app: &AppRecord,
    interaction: &Interaction,
    locale: Locale,
    cx: &mut Context<'_>,
) -> Option<Response> {
    if app.self_registration && interaction.device.is_none() {
        return None;
    }
    cx.diagnose(format!(
        "registration refused: client {:?} does not take registrations",
        app.client_id
    ));
    Some(super::interaction::bad_form(locale, "this app does not take registrations"))
}

/// What every registration page is shown with.
struct Pages<'a, P: Platform> {
    engine: &'a Engine<P>,
    app: &'a AppRecord,
    set: &'a UserFieldSet,
    interaction: &'a Interaction,
    headers: &'a HeaderMap,
}

impl<P: Platform> Pages<'_, P> {
    /// The registration form, with what was typed and what is wrong with it.
    fn form(
        &self,
        typed: &Typed,
        refusals: &Refusals,
        status: StatusCode,
        cx: &mut Context<'_>,
    ) -> Response {
        let (app, interaction) = (self.app, self.interaction);
        let locale = interaction.request.locale(self.headers);
        let registration = app.registration();
        let shown: Vec<_> = app
            .registration_fields
            .iter()
            .filter_map(|key| self.set.get(key))
            .map(|f| (f, form_name(&f.key)))
            .collect();
        let inputs: Vec<FieldInput<'_>> = shown
            .iter()
            .map(|(f, name)| FieldInput {
                name,
                label: f.label(locale.tag()),
                kind: match f.field_type {
                    FieldType::String => InputKind::Text,
                    FieldType::Number => InputKind::Number,
                    FieldType::Date => InputKind::Date,
                    FieldType::Boolean => InputKind::Checkbox,
                    FieldType::Enum => InputKind::Select(&f.options),
                },
                value: typed
                    .fields
                    .iter()
                    .find(|(k, _)| k == &f.key)
                    .map_or("", |(_, v)| v.as_str()),
                required: registration.requires(&f.key, f.required),
                problem: refusals.fields.iter().find(|(k, _)| k == &f.key).map(|(_, p)| *p),
            })
            .collect();
        let notice = refusals.notice.or(refusals.any().then_some(RegisterNotice::Fix));
        super::interaction::interaction_form(
            self.engine,
            interaction,
            REGISTER_PATH,
            &[],
            self.headers,
            cx,
            |action, hidden| {
                let page = Register {
                    brand: brand(app),
                    action,
                    hidden,
                    username: (&typed.username, refusals.username),
                    email: (&typed.email, refusals.email),
                    password: refusals.password,
                    fields: &inputs,
                    notice,
                    min_length: app.password_policy.min_length,
                };
                render_register(&RegisterPage::Form(page), locale, status)
            },
        )
    }

    /// The form again, empty but for `typed`, saying why the registration
    /// starts over.
    fn start_again(
        &self,
        typed: &Typed,
        notice: RegisterNotice,
        status: StatusCode,
        cx: &mut Context<'_>,
    ) -> Response {
        let refusals = Refusals { notice: Some(notice), ..Refusals::default() };
        self.form(typed, &refusals, status, cx)
    }

    /// The code page of the pending registration `id`.
    fn verify(&self, id: &str, email: &str, wrong_code: bool, cx: &mut Context<'_>) -> Response {
        let (app, headers) = (self.app, self.headers);
        let locale = self.interaction.request.locale(headers);
        let extra = [("registration", id), ("email", email)];
        let status = if wrong_code { StatusCode::BAD_REQUEST } else { StatusCode::OK };
        super::interaction::interaction_form(
            self.engine,
            self.interaction,
            REGISTER_VERIFY_PATH,
            &extra,
            headers,
            cx,
            |action, hidden| {
                let page = VerifyEmail { brand: brand(app), action, hidden, email, wrong_code };
                render_register(&RegisterPage::Verify(page), locale, status)
            },
        )
    }
}

/// Reads and checks the form's answer: the typed values, the refusals, and the
/// custom field values.
fn check_form(
    app: &AppRecord,
    set: &UserFieldSet,
    form: &Form,
) -> (Typed, Refusals, serde_json::Map<String, serde_json::Value>, String) {
    let mut typed = Typed {
        username: form.get("username").unwrap_or_default().trim().to_owned(),
        email: form.get("email").unwrap_or_default().trim().to_owned(),
        fields: Vec::new(),
    };
    let password = form.get("password").unwrap_or_default().to_owned();
    let mut refusals = Refusals::default();
    if typed.username.is_empty() {
        refusals.username = Some(InputProblem::Required);
    } else if check_username(&typed.username).is_err() {
        refusals.username = Some(InputProblem::Username);
    }
    if typed.email.is_empty() {
        refusals.email = Some(InputProblem::Required);
    } else if check_email(&typed.email).is_err() {
        refusals.email = Some(InputProblem::Email);
    }
    refusals.password = match app.password_policy.check(&password, &[&typed.username, &typed.email])
    {
        Ok(()) => None,
        Err(PolicyRefusal::TooShort(n)) => Some(InputProblem::PasswordTooShort(n)),
        Err(PolicyRefusal::TooLong(n)) => Some(InputProblem::PasswordTooLong(n)),
        Err(PolicyRefusal::SameAsName) => Some(InputProblem::PasswordIsName),
    };
    let mut values = serde_json::Map::new();
    for key in &app.registration_fields {
        let Some(field) = set.get(key) else { continue };
        let text = form.get(&form_name(key)).unwrap_or_default();
        typed.fields.push((key.clone(), text.to_owned()));
        let required = app.registration().requires(key, field.required);
        match field.parse_form(text) {
            Ok(Some(serde_json::Value::Bool(false))) if required => {
                refusals.fields.push((key.clone(), InputProblem::Required));
            }
            Ok(Some(value)) => {
                values.insert(key.clone(), value);
            }
            Ok(None) if required => refusals.fields.push((key.clone(), InputProblem::Required)),
            Ok(None) => {}
            Err(_) => refusals.fields.push((key.clone(), InputProblem::Invalid)),
        }
    }
    (typed, refusals, values, password)
}

/// Whether a user already has the username.
async fn username_taken<P: Platform>(
    engine: &Engine<P>,
    username: &str,
) -> Result<bool, OAuthError> {
    match engine.platform().directory().get(&schema::user_name(username)).await {
        Ok(found) => Ok(found.is_some()),
        Err(crate::store::StoreError::Refused(_)) => Ok(false),
        Err(err) => Err(store_error(&err)),
    }
}

/// The source address's registration counter.
fn source_key(headers: &HeaderMap) -> String {
    let source = crate::client_auth::throttle::source(headers).unwrap_or_default();
    schema::registration_source(&digest("gatehouse registration source", &[&source]))
}

/// `POST /register`: without a `username` field (from the login page), the
/// empty form; with one, checks it and sends the code.
pub(crate) async fn start<P: Platform>(
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
    if let Some(page) = registration_refused(&app, &interaction, locale, cx) {
        return page;
    }
    let Ok(set) = field_set(engine, now).await else { return unavailable(locale) };
    let pages = Pages { engine, app: &app, set: &set, interaction: &interaction, headers };
    if form.get("username").is_none() {
        return pages.form(&Typed::default(), &Refusals::default(), StatusCode::OK, cx);
    }
    let (typed, mut refusals, values, password) = check_form(&app, &set, &form);
    if refusals.username.is_none() {
        match username_taken(engine, &typed.username).await {
            Ok(true) => refusals.username = Some(InputProblem::UsernameTaken),
            Ok(false) => {}
            Err(_) => return unavailable(locale),
        }
    }
    if refusals.any() {
        return pages.form(&typed, &refusals, StatusCode::BAD_REQUEST, cx);
    }
    // Throttle: an address locked out by failed sign-ins, or past its codes.
    let window_end = now.plus(super::signin::LOCKOUT_WINDOW_SECS);
    let Ok(locked) = super::signin::address_failures(engine, headers, now).await else {
        return unavailable(locale);
    };
    let counters = engine.platform().counters();
    let sent = counters.add(&source_key(headers), 1, window_end, now).await.unwrap_or(u64::MAX);
    if locked || sent > MAX_PER_SOURCE {
        cx.diagnose(format!(
            "registration for client {:?} throttled for its source address",
            app.client_id
        ));
        return pages.start_again(
            &typed,
            RegisterNotice::Throttled,
            StatusCode::TOO_MANY_REQUESTS,
            cx,
        );
    }
    let Ok(password_hash) = crate::password::hash(&password, cx.rng()) else {
        return unavailable(locale);
    };
    let id = random_id(cx.rng(), 32);
    let code = new_code(cx.rng());
    let expires_at = now.plus(CODE_SECS);
    let pending = Pending {
        client_id: app.client_id.clone(),
        username: typed.username.clone(),
        email: typed.email.clone(),
        password_hash,
        fields: values,
        code_digest: code_digest(&id, &code),
        tries: 0,
        expires_at,
    };
    let sessions = engine.platform().sessions();
    let key = pending_key(&id);
    let Ok(bytes) = serde_json::to_vec(&pending) else { return unavailable(locale) };
    if sessions.put(&key, &bytes, expires_at, now).await.is_err() {
        return unavailable(locale);
    }
    let data = serde_json::Map::from_iter([
        ("email".to_owned(), typed.email.as_str().into()),
        ("code".to_owned(), code.into()),
        ("locale".to_owned(), locale.tag().into()),
        ("expires_at".to_owned(), expires_at.as_secs().into()),
    ]);
    match send_code(engine, &app, headers, data, cx).await {
        Ok(CodeSent::Sent) => pages.verify(&id, &typed.email, false, cx),
        Ok(outcome) => {
            let _ = sessions.delete(&key).await;
            if outcome == CodeSent::NoHook {
                cx.diagnose(format!(
                    "registration for client {:?} refused: the app has no enabled verify_email hook",
                    app.client_id
                ));
            }
            pages.start_again(&typed, RegisterNotice::NotSent, StatusCode::SERVICE_UNAVAILABLE, cx)
        }
        Err(_) => unavailable(locale),
    }
}

/// `POST /register/verify`: checks the code; creates the user and signs them in.
pub(crate) async fn verify<P: Platform>(
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
    if let Some(page) = registration_refused(&app, &interaction, locale, cx) {
        return page;
    }
    let Ok(set) = field_set(engine, now).await else { return unavailable(locale) };
    let pages = Pages { engine, app: &app, set: &set, interaction: &interaction, headers };
    let id = form.get("registration").unwrap_or_default();
    let email = form.get("email").unwrap_or_default();
    let code: String =
        form.get("code").unwrap_or_default().chars().filter(|c| !c.is_whitespace()).collect();
    let sessions = engine.platform().sessions();
    let key = pending_key(id);
    let Ok(stored) = sessions.get(&key, now).await else { return unavailable(locale) };
    let pending = stored.as_deref().and_then(|b| serde_json::from_slice::<Pending>(b).ok());
    let (Some(bytes), Some(mut pending)) =
        (stored.as_deref(), pending.filter(|p| p.client_id == app.client_id))
    else {
        return pages.start_again(
            &Typed::default(),
            RegisterNotice::Expired,
            StatusCode::BAD_REQUEST,
            cx,
        );
    };
    let typed = Typed {
        username: pending.username.clone(),
        email: pending.email.clone(),
        fields: Vec::new(),
    };
    let right = {
        use subtle::ConstantTimeEq as _;
        let given = code_digest(id, &code);
        code.len() == CODE_DIGITS as usize
            && bool::from(given.as_bytes().ct_eq(pending.code_digest.as_bytes()))
    };
    // One compare-and-swap: a right code or the last wrong one takes the
    // registration (of two right answers, one creates the user); another wrong
    // one counts a try (a lost race counts as the other request's guess).
    if !right {
        pending.tries += 1;
    }
    let ends = right || pending.tries >= MAX_TRIES;
    let next = if ends { None } else { serde_json::to_vec(&pending).ok() };
    let swapped = sessions.swap(&key, Some(bytes), next.as_deref(), pending.expires_at, now).await;
    if !right {
        cx.diagnose(format!("registration code refused for client {:?}", app.client_id));
        cx.count_usage(&app.client_id, UsageEvent::Failure);
        return if ends {
            pages.start_again(&typed, RegisterNotice::TooManyTries, StatusCode::BAD_REQUEST, cx)
        } else {
            pages.verify(id, email, true, cx)
        };
    }
    match swapped {
        Ok(true) => {}
        Ok(false) => {
            return pages.start_again(&typed, RegisterNotice::Expired, StatusCode::BAD_REQUEST, cx);
        }
        Err(_) => return unavailable(locale),
    }
    let user = UserRecord {
        id: random_id(cx.rng(), 16),
        username: pending.username,
        enabled: true,
        roles: Vec::new(),
        claims: serde_json::Map::from_iter([
            ("email".to_owned(), pending.email.as_str().into()),
            ("email_verified".to_owned(), true.into()),
        ]),
        mfa_required: false,
        identities: Vec::new(),
        fields: set.keep_defined(&pending.fields),
        password_hash: Some(pending.password_hash),
        created_at: now,
        updated_at: now,
    };
    let Ok(record) = serde_json::to_value(&user) else { return unavailable(locale) };
    let commit = Commit {
        key: schema::user(&user.id),
        record: Some(record),
        expect: Expect::Absent,
        claim: vec![schema::user_name(&user.username), schema::user_email(&pending.email)],
        release: Vec::new(),
        cascade: Vec::new(),
    };
    match engine.platform().registry().commit(commit).await {
        Ok(_) => {}
        Err(CommitError::NameTaken(name)) if name.starts_with(schema::USER_EMAILS_PREFIX) => {
            // Only who reads the mailbox gets here: say that the account exists.
            let interaction = Interaction {
                expires_at: now.plus(super::interaction::INTERACTION_SECS),
                ..interaction
            };
            let problem = Some((crate::pages::LoginProblem::AccountExists, pending.email.as_str()));
            return super::interaction::show_login(engine, &app, interaction, headers, problem, cx)
                .await;
        }
        Err(CommitError::NameTaken(_)) => {
            return pages.start_again(
                &typed,
                RegisterNotice::UsernameTaken,
                StatusCode::CONFLICT,
                cx,
            );
        }
        Err(_) => return unavailable(locale),
    }
    engine.cache().forget();
    // A registration, and, since the new user is signed in, a login.
    cx.count_usage(&app.client_id, UsageEvent::Registration);
    cx.count_usage(&app.client_id, UsageEvent::Login);
    if let Ok(Some(old)) = engine.current_session(headers, now).await {
        let _ = engine.end_session(&old.key).await;
    }
    let (cookie_value, session) =
        match engine.start_session(&user.id, &["pwd"], now, cx.rng()).await {
            Ok(started) => started,
            Err(_) => return unavailable(locale),
        };
    let interaction = Interaction::signed_in(interaction.request, &session, now);
    let mut response = proceed(engine, &app, interaction, headers, cx).await;
    set_cookie(
        &mut response,
        engine.cookie_policy().set(SESSION_COOKIE, &cookie_value, Some(SESSION_SECS)),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_eight_digits() {
        let mut rng = crate::test_rng::CountingRng(7);
        for _ in 0..100 {
            let code = new_code(&mut rng);
            assert_eq!(code.len(), 8);
            assert!(code.bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn code_digests_bind_the_registration() {
        assert_eq!(code_digest("r1", "12345678"), code_digest("r1", "12345678"));
        assert_ne!(code_digest("r1", "12345678"), code_digest("r2", "12345678"));
        assert_ne!(pending_key("r1"), pending_key("r2"));
        assert!(pending_key("r1").starts_with("register/"));
    }
}
