//! An authorization request in progress between its hosted pages: the sealed
//! interaction the forms carry, reading a posted form, the login page, and the
//! answers that end an interaction in error. The steps that move it on (sign-in,
//! gates, consent, the code) are in [`super::steps`]; the gates' own pages
//! (second factor, consent policy) use only this module, and answer [`Next`].
//!
//! The validated request travels between steps sealed (AES-256-GCM under the
//! key-encryption key) in the forms' hidden `interaction` field, with a deadline,
//! so no step stores anything until the user is known. Each form also carries the
//! `csrf` token of the CSRF cookie (double submit): a page of another site cannot
//! post a login or a consent on the user's behalf.

use http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};

use super::request::{AuthorizationRequest, SignedIn, accept_language};
use super::respond::{brand, csrf_ok, error_page, expired, respond_error, unavailable, with_csrf};
use crate::context::Context;
use crate::endpoints::LOGIN_PATH;
use crate::engine::{Engine, store_error};
use crate::error::{ErrorCode, OAuthError};
use crate::http::{Form, Request, Response, parse_form};
use crate::jose::KeyId;
use crate::model::app::AppRecord;
use crate::model::user::UserRecord;
use crate::pages::{self, DeviceDone, Hidden, Locale, Login, LoginProblem, Page, Upstream};
use crate::platform::Platform;
use crate::session::Session;
use crate::store::read_record;
use crate::store::schema;
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

/// A form of the login page (the login itself, "Create account", a provider's
/// button), as [`read_form`] reads it, with the page's language and the enabled
/// app it continues ([`form_app`]).
pub(crate) struct LoginForm<'r> {
    pub(crate) form: Form,
    pub(crate) interaction: Interaction,
    pub(crate) headers: &'r HeaderMap,
    pub(crate) locale: Locale,
    pub(crate) app: AppRecord,
}

/// Reads a [`LoginForm`], or the page that refuses it.
pub(crate) async fn read_login_form<'r, P: Platform>(
    engine: &Engine<P>,
    request: &'r Request,
    now: UnixTime,
) -> Result<LoginForm<'r>, Response> {
    let (form, interaction) = read_form(engine, request, now).map_err(|page| *page)?;
    let headers = request.headers();
    let locale = interaction.request.locale(headers);
    let app = form_app(engine, &interaction.request.client_id, locale, now).await?;
    Ok(LoginForm { form, interaction, headers, locale, app })
}

/// The app of an interaction, if it is still enabled.
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

/// The user as they would recognise themselves: their email, else their username.
pub(crate) fn shown_name(user: &UserRecord) -> &str {
    user.claims.get("email").and_then(|e| e.as_str()).unwrap_or(&user.username)
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

/// What a gate's form (second factor, consent policy) decided: a page to show, or
/// that the interaction goes on, which the route does with [`super::steps`], so a
/// gate does not depend on the steps after it.
pub(crate) enum Next {
    /// A page to answer with.
    Page(Response),
    /// Go on with `interaction` for `app`.
    Proceed {
        /// The app the interaction is for.
        app: Box<AppRecord>,
        /// The interaction, with who signed in.
        interaction: Box<Interaction>,
    },
}

impl From<Response> for Next {
    fn from(page: Response) -> Self {
        Self::Page(page)
    }
}
