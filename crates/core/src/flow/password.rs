//! Signing a user in with a password alone, without the hosted pages: the
//! simplified login API ([`super::simplelogin`]) and the resource owner password
//! grant (RFC 6749 section 4.3, legacy: RFC 9700 section 2.4).
//!
//! Both use the hosted login's check ([`super::signin`]: the same per-user and
//! per-address lockout, the same cost for an unknown user) and its lifecycle
//! hooks, and count usage the same way. A wrong identifier and a wrong password
//! get the same answer. A user who must use a second factor gets no tokens: a
//! password alone cannot satisfy it. No session is kept at the issuer: the app
//! keeps its own, so each sign-in gets a fresh `sid` of its own.

use http::HeaderMap;

use super::admission::admitted;
use super::issue::{Issued, UserGrant, app_of, for_user};
use super::refresh;
use super::request::{RequestedClaims, SignedIn};
use super::signin::{Credentials, check_credentials};
use crate::client_auth::AuthenticatedClient;
use crate::context::Context;
use crate::engine::Engine;
use crate::error::{ErrorCode, OAuthError};
use crate::hooks::call::{AppHooks, SignInHooks};
use crate::http::Form;
use crate::model::app::AppRecord;
use crate::platform::Platform;
use crate::store::UsageEvent;
use crate::token::random_id;

/// The authentication method of a password (RFC 8176).
const PWD: &str = "pwd";

/// The longest identifier or password accepted (longer ones never match).
pub(crate) const MAX_CREDENTIAL: usize = 1024;

/// Why a password sign-in got no tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The identifier or the password is wrong (which one is never said), or a
    /// hook refused the sign-in.
    Credentials,
    /// Too many failed sign-ins for the user or from the address.
    LockedOut,
    /// The user must use a second factor.
    SecondFactor,
    /// The app does not admit the user (its `allowed_roles`).
    NotAdmitted,
}

impl Refusal {
    /// What the app is told.
    pub(crate) fn description(self) -> &'static str {
        match self {
            Self::Credentials => "the identifier or the password is wrong",
            Self::LockedOut => "too many failed sign-ins: try again in 15 minutes",
            Self::SecondFactor => {
                "the user must sign in with a second factor, which a password alone cannot give"
            }
            Self::NotAdmitted => "the user may not use this app",
        }
    }

    /// The token endpoint's answer: `invalid_grant` (RFC 6749 section 5.2).
    pub(crate) fn token_error(self) -> OAuthError {
        OAuthError::new(ErrorCode::InvalidGrant, self.description())
    }
}

/// Checks `identifier` and `password` for `app`, with the hosted login's lockout,
/// hooks and usage counting: the user signed in, or why not.
///
/// # Errors
///
/// The opaque error of a store failure.
pub(crate) async fn sign_in<P: Platform>(
    engine: &Engine<P>,
    app: &AppRecord,
    headers: &HeaderMap,
    identifier: &str,
    password: &str,
    cx: &mut Context<'_>,
) -> Result<Result<SignedIn, Refusal>, OAuthError> {
    let now = cx.now();
    let hooks = AppHooks::load(engine, app, cx).await?;
    let mut gate = SignInHooks::new(engine, &hooks, headers, identifier, cx);
    let user =
        match check_credentials(engine, headers, identifier, password, now, &mut gate).await? {
            Credentials::Valid(user) => user,
            Credentials::Invalid { locked } => {
                gate.failed(locked);
                return Ok(Err(refuse(
                    app,
                    cx,
                    if locked { Refusal::LockedOut } else { Refusal::Credentials },
                )));
            }
        };
    if !admitted(engine, app, &user).await? {
        return Ok(Err(refuse(app, cx, Refusal::NotAdmitted)));
    }
    if super::mfa::required(engine, app, &user, now).await? {
        return Ok(Err(refuse(app, cx, Refusal::SecondFactor)));
    }
    let sid = random_id(cx.rng(), 32);
    SignInHooks::new(engine, &hooks, headers, identifier, cx).succeeded(&user, &[PWD], &sid);
    cx.count_usage(&app.client_id, UsageEvent::Login);
    Ok(Ok(SignedIn { user_id: user.id, auth_time: now, amr: vec![PWD.to_owned()], sid }))
}

/// Logs and counts a refused sign-in.
fn refuse(app: &AppRecord, cx: &mut Context<'_>, refusal: Refusal) -> Refusal {
    cx.diagnose(format!(
        "password sign-in for client {:?} refused: {}",
        app.client_id,
        refusal.description()
    ));
    cx.count_usage(&app.client_id, UsageEvent::Failure);
    refusal
}

/// The grant of a password sign-in, checked against the app before the password
/// is: a bad `scope` or `resource` costs no password check and no failure.
///
/// # Errors
///
/// `invalid_scope` or `invalid_target` for what the app may not have.
pub(crate) async fn grant_for<P: Platform>(
    engine: &Engine<P>,
    app: &AppRecord,
    scope: Option<&str>,
    resource: Option<&str>,
    now: crate::types::UnixTime,
) -> Result<UserGrant, OAuthError> {
    let (scope, audience, access_lifetime, access_alg) =
        super::audience::for_user(engine, app, scope, resource, now).await?;
    Ok(UserGrant {
        user_id: String::new(),
        scope,
        audience,
        access_lifetime,
        access_alg,
        auth_time: now,
        amr: Vec::new(),
        sid: String::new(),
        claims: RequestedClaims::default(),
        expires_at: None,
    })
}

/// The tokens of `grant` for the user `signed_in`: the access token, the ID token
/// with `openid`, and a refresh token when wanted, asked for (`offline_access`)
/// and issued by the app.
///
/// # Errors
///
/// As [`for_user`]; a store failure starting the refresh family.
pub(crate) async fn issue<P: Platform>(
    engine: &Engine<P>,
    client: &AuthenticatedClient,
    app: &AppRecord,
    grant: UserGrant,
    signed_in: SignedIn,
    refresh: bool,
    cx: &mut Context<'_>,
) -> Result<Issued, OAuthError> {
    let grant = UserGrant {
        user_id: signed_in.user_id,
        auth_time: signed_in.auth_time,
        amr: signed_in.amr,
        sid: signed_in.sid,
        ..grant
    };
    let mut issued = for_user(engine, client, app, &grant, grant.scope.clone(), None, cx).await?;
    if refresh && app.refresh_tokens && grant.scope.contains("offline_access") {
        let family = random_id(cx.rng(), 16);
        issued.refresh_token =
            Some(refresh::start(engine, client, app, &family, &grant, cx).await?);
    }
    Ok(issued)
}

/// The resource owner password grant at the token endpoint (RFC 6749 section
/// 4.3): only for an app with `allow_password_grant`.
///
/// # Errors
///
/// `unauthorized_client` when the app does not allow it, `invalid_request` for a
/// missing `username` or `password`, `invalid_grant` for a refused sign-in.
pub(super) async fn grant<P: Platform>(
    engine: &Engine<P>,
    client: &AuthenticatedClient,
    headers: &HeaderMap,
    form: &Form,
    cx: &mut Context<'_>,
) -> Result<Issued, OAuthError> {
    let app = app_of(client)?;
    if !app.allow_password_grant {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "the client may not use the password grant",
        ));
    }
    let (Some(username), Some(password)) = (form.get("username"), form.get("password")) else {
        return Err(OAuthError::invalid_request("username and password are required"));
    };
    let grant = grant_for(engine, &app, form.get("scope"), form.get("resource"), cx.now()).await?;
    match sign_in(engine, &app, headers, username.trim(), password, cx).await? {
        Ok(signed_in) => issue(engine, client, &app, grant, signed_in, true, cx).await,
        Err(refusal) => Err(refusal.token_error()),
    }
}
