//! Who may use an app: its `allowed_roles` (the "allowed groups" of an app's
//! settings). An app that lists none admits every user; one that lists some
//! admits a user who holds at least one of them, and the role still exists (a
//! deleted role's id stays in the app's and the users' lists, where it admits
//! nobody; role ids are never reused).
//!
//! It is checked wherever a user would get tokens for the app:
//!
//! - once the user is known, after a fresh sign-in and from the SSO session alike,
//!   before consent is asked or a code issued, and before a device is approved
//!   ([`super::interaction`]);
//! - when a refresh token is used, before its family rotates ([`super::refresh`]):
//!   `invalid_grant`, and the token stays as it was, so it works again if the user
//!   is given the role back before it expires;
//! - when tokens are minted for a user grant ([`super::issue::for_user`]): a code
//!   or a device approval given before the user lost the role redeems to
//!   `invalid_grant`.
//!
//! A user refused on the interactive flow sees a page on the issuer (403) naming
//! the app and the account, with a form to sign in with another account, and the
//! redirect URI gets nothing; only with `prompt=none`, where no page may be shown,
//! does the redirect URI get `access_denied` (with `state` and `iss`). Sending
//! `access_denied` to the app instead would hand the user to an app that, signed
//! out, mostly starts the same sign-in again, which the SSO session answers with
//! the same refusal, a loop the user cannot leave; and only on the issuer can
//! the user switch accounts. The SSO session stays: the user is signed in, just
//! not to this app. A device is left pending, so another account may still
//! approve it.

use crate::context::Context;
use crate::engine::{Engine, store_error};
use crate::error::{ErrorCode, OAuthError};
use crate::model::app::AppRecord;
use crate::model::role::RoleRecord;
use crate::model::user::UserRecord;
use crate::platform::Platform;
use crate::store::read_record;
use crate::store::schema;

/// Whether `app` admits `user`. Reads nothing for an app that admits everyone,
/// and otherwise only the roles the user holds that the app lists.
///
/// # Errors
///
/// A store failure, as an opaque OAuth error.
pub(crate) async fn admitted<P: Platform>(
    engine: &Engine<P>,
    app: &AppRecord,
    user: &UserRecord,
) -> Result<bool, OAuthError> {
    if app.admits_everyone() {
        return Ok(true);
    }
    let directory = engine.platform().directory();
    for id in app.admitting_roles(&user.roles) {
        let role: Option<RoleRecord> =
            read_record(directory, &schema::role(id)).await.map_err(|e| store_error(&e))?;
        if role.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The refusal at the token endpoint: `invalid_grant`, the reason in the log only.
pub(crate) fn not_admitted(app: &AppRecord, cx: &mut Context<'_>) -> OAuthError {
    cx.diagnose(format!(
        "the user holds none of the allowed roles of client {:?}; no tokens issued",
        app.client_id
    ));
    OAuthError::new(ErrorCode::InvalidGrant, "the user may not use this app")
}

/// Refuses a grant of `user_id` that `app` no longer admits. A user who is gone or
/// disabled passes here: the caller refuses them its own way.
///
/// # Errors
///
/// `invalid_grant` for a user the app does not admit; a store failure.
pub(crate) async fn check_grant<P: Platform>(
    engine: &Engine<P>,
    app: &AppRecord,
    user_id: &str,
    cx: &mut Context<'_>,
) -> Result<(), OAuthError> {
    if app.admits_everyone() {
        return Ok(());
    }
    let user: Option<UserRecord> =
        read_record(engine.platform().directory(), &schema::user(user_id))
            .await
            .map_err(|e| store_error(&e))?;
    let Some(user) = user.filter(|u| u.enabled) else { return Ok(()) };
    if admitted(engine, app, &user).await? { Ok(()) } else { Err(not_admitted(app, cx)) }
}
