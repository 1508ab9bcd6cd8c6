//! Refresh tokens (RFC 6749 section 6) in rotating families (RFC 9700 section
//! 4.14.2).
//!
//! A refresh token is `<family>.<secret>`. The store keeps only the digest of the
//! current token bound to its client (`SHA-256(client_id, token)`), so a token
//! presented by another client matches nothing and rotates nothing. Each use
//! rotates: the successor's secret is an HMAC of the presented token under a key
//! derived from the worker secret, so a retry of the same token within the app's
//! grace window derives the very same successor, which the family accepts without
//! calling it theft. Outside the window, a rotated-out token revokes its family,
//! and only it.
//!
//! A user the app no longer admits (none of its `allowed_roles`, see
//! [`super::admission`]) gets `invalid_grant` before the family rotates, so the
//! token stays current; a disabled or deleted user's family is revoked.

use sha2::{Digest, Sha256};

use super::admission;
use super::issue::{Issued, UserGrant, app_of, for_grant_user, grant_user};
use crate::client_auth::AuthenticatedClient;
use crate::context::Context;
use crate::engine::{Engine, store_error};
use crate::error::{ErrorCode, OAuthError};
use crate::http::Form;
use crate::jose::b64url;
use crate::model::app::AppRecord;
use crate::platform::Platform;
use crate::store::schema;
use crate::store::{RefreshFamilies, Rotation};
use crate::token::random_id;
use crate::types::ScopeSet;

/// The digest under which a family knows `token` of `client_id`.
pub(crate) fn token_digest(client_id: &str, token: &str) -> [u8; 32] {
    let mut digest = Sha256::new();
    digest.update(client_id.as_bytes());
    digest.update(b"\0");
    digest.update(token.as_bytes());
    digest.finalize().into()
}

/// The family a refresh token names, if it is shaped like one.
pub(crate) fn family_of(token: &str) -> Option<&str> {
    let (family, secret) = token.split_once('.')?;
    let ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 64
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    (ok(family) && ok(secret)).then_some(family)
}

/// The successor of `token`.
fn successor<P: Platform>(engine: &Engine<P>, family: &str, token: &str) -> String {
    format!("{family}.{}", b64url(&engine.config().token_mac.mac(token.as_bytes())))
}

/// Starts the family `family` for `grant`; returns its first token.
pub(super) async fn start<P: Platform>(
    engine: &Engine<P>,
    client: &AuthenticatedClient,
    app: &AppRecord,
    family: &str,
    grant: &UserGrant,
    cx: &mut Context<'_>,
) -> Result<String, OAuthError> {
    let token = format!("{family}.{}", random_id(cx.rng(), 32));
    let now = cx.now();
    let expires_at = now.plus(app.refresh_token_lifetime);
    let kept = UserGrant { expires_at: Some(expires_at), ..grant.clone() };
    let data = serde_json::to_vec(&kept).map_err(|_| OAuthError::server_error())?;
    engine
        .platform()
        .families()
        .create(
            &schema::family(family),
            &token_digest(client.client_id.as_str(), &token),
            &data,
            expires_at,
            now,
        )
        .await
        .map_err(|e| store_error(&e))?;
    Ok(token)
}

fn invalid_grant(description: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidGrant, description)
}

/// The refresh token grant.
pub(super) async fn issue<P: Platform>(
    engine: &Engine<P>,
    client: &AuthenticatedClient,
    form: &Form,
    cx: &mut Context<'_>,
) -> Result<Issued, OAuthError> {
    let app = app_of(client)?;
    let Some(token) = form.get("refresh_token") else {
        return Err(OAuthError::invalid_request("refresh_token is required"));
    };
    let Some(family) = family_of(token) else {
        return Err(invalid_grant("the refresh token is invalid"));
    };
    let client_id = client.client_id.as_str();
    let next = successor(engine, family, token);
    let key = schema::family(family);
    let families = engine.platform().families();
    let asked = form
        .get("scope")
        .map(ScopeSet::parse)
        .transpose()
        .map_err(|_| OAuthError::new(ErrorCode::InvalidScope, "scope is malformed"))?;
    // What the family holds is read before rotating, where a refusal depends on it
    // (a narrower scope, the app's allowed roles), so a refused request costs the
    // client nothing: its refresh token stays current.
    if asked.is_some() || !app.admits_everyone() {
        let current = families
            .inspect(&key, &token_digest(client_id, token), cx.now())
            .await
            .map_err(|e| store_error(&e))?
            .and_then(|data| serde_json::from_slice::<UserGrant>(&data).ok());
        if let Some(grant) = current {
            if asked.as_ref().is_some_and(|asked| !asked.is_subset(&grant.scope)) {
                return Err(OAuthError::new(
                    ErrorCode::InvalidScope,
                    "scope exceeds the original grant",
                ));
            }
            admission::check_grant(engine, &app, &grant.user_id, cx).await?;
        }
    }
    let rotation = families
        .rotate(
            &key,
            &token_digest(client_id, token),
            &token_digest(client_id, &next),
            app.refresh_token_grace_period,
            cx.now(),
        )
        .await
        .map_err(|e| store_error(&e))?;
    let data = match rotation {
        Rotation::Rotated(data) => data,
        Rotation::Reused => {
            cx.diagnose(format!(
                "a rotated-out refresh token of {client_id:?} was used again; its family is revoked"
            ));
            return Err(invalid_grant("the refresh token was already used"));
        }
        Rotation::Unknown => return Err(invalid_grant("the refresh token is invalid or expired")),
    };
    let grant: UserGrant = serde_json::from_slice(&data).map_err(|_| OAuthError::server_error())?;
    if app.refresh_tokens_end_with_session && !engine.session_live(&grant.sid, cx.now()).await? {
        // The app asked for its refresh tokens to end with the session.
        let _ = families.revoke(&key).await;
        return Err(invalid_grant("the session of this refresh token has ended"));
    }
    let Ok(user) = grant_user(engine, &grant.user_id).await else {
        // A disabled or deleted user's family ends here.
        let _ = families.revoke(&key).await;
        return Err(invalid_grant("the user cannot sign in"));
    };
    let scope = match asked {
        None => grant.scope.clone(),
        // Within the grant: checked against the family before rotating (a grace
        // retry's grant is the same).
        Some(asked) if asked.is_subset(&grant.scope) => asked,
        Some(_) => {
            return Err(OAuthError::new(
                ErrorCode::InvalidScope,
                "scope exceeds the original grant",
            ));
        }
    };
    let mut issued = for_grant_user(engine, client, &app, &grant, &user, scope, None, cx).await?;
    issued.refresh_token = Some(next);
    Ok(issued)
}
