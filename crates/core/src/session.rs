//! The SSO session: a cookie naming a record in the [`Sessions`] store, and the
//! consent a user gave each app.
//!
//! The cookie holds 256 random bits. The session's `sid` (the claim of ID tokens)
//! is derived from the cookie one-way, and the store keys the session by it
//! ([`schema::session`]), so neither a copy of the store nor an ID token lets
//! anybody ride the session, while a refresh family finds its session by the `sid`
//! it keeps. A sign-in always starts a new session (a cookie planted before
//! sign-in is never promoted), and logout deletes the record, which every location
//! sees at once.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::engine::{Engine, store_error};
use crate::error::OAuthError;
use crate::http::cookie::{self, CookiePolicy};
use crate::jose::b64url;
use crate::platform::Platform;
use crate::store::schema;
use crate::store::{Sessions, StoreError};
use crate::token::random_id;
use crate::types::{ScopeSet, UnixTime};

/// The session cookie's name (prefixed `__Host-` under an `https` issuer).
pub const SESSION_COOKIE: &str = "gatehouse-session";
/// The CSRF cookie of the hosted pages' forms.
pub const CSRF_COOKIE: &str = "gatehouse-csrf";
/// How long a session lasts after sign-in (absolute), in seconds: 7 days.
pub const SESSION_SECS: u64 = 7 * 86_400;
/// How long a consent is remembered, in seconds: a year.
pub const CONSENT_SECS: u64 = 365 * 86_400;

/// The authentication context class (`acr`, OpenID Connect Core section 2) of a
/// sign-in by password alone.
pub const ACR_PASSWORD: &str = "urn:gatehouse:acr:password";
/// The `acr` of a sign-in with a second factor.
pub const ACR_MULTI_FACTOR: &str = "urn:gatehouse:acr:mfa";

/// Every `acr` a sign-in can have today (discovery's `acr_values_supported`).
pub const ACR_VALUES: [&str; 2] = [ACR_PASSWORD, ACR_MULTI_FACTOR];

/// The `acr` of a sign-in made by the methods `amr` (RFC 8176): multi-factor when
/// it names a second factor (`otp`, `mfa`, `hwk`, `swk`), password otherwise.
#[must_use]
pub fn acr_of(amr: &[String]) -> &'static str {
    if amr.iter().any(|m| matches!(m.as_str(), "otp" | "mfa" | "hwk" | "swk")) {
        ACR_MULTI_FACTOR
    } else {
        ACR_PASSWORD
    }
}

/// A signed-in user, as the session record holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The user's id (`sub`).
    pub user_id: String,
    /// When the user authenticated (`auth_time`).
    pub auth_time: UnixTime,
    /// How (`amr`, RFC 8176): `pwd`, then `otp` once the second factor was used.
    pub amr: Vec<String>,
    /// The session id given to apps (`sid`).
    pub sid: String,
}

/// A live session found through the request's cookie.
#[derive(Debug, Clone)]
pub struct LiveSession {
    /// Its store key.
    pub key: String,
    /// The record.
    pub session: Session,
}

/// The `sid` of the session whose cookie is `cookie`.
fn sid_of(cookie: &str) -> String {
    let mut digest = Sha256::new();
    digest.update(b"sid\0");
    digest.update(cookie.as_bytes());
    b64url(digest.finalize().get(..16).unwrap_or_default())
}

/// What a user consented to for one app.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Consent {
    scope: ScopeSet,
}

impl<P: Platform> Engine<P> {
    /// How this issuer's cookies are named and flagged.
    pub fn cookie_policy(&self) -> CookiePolicy {
        CookiePolicy::new(self.config().issuer.as_str().starts_with("https://"))
    }

    /// The session the request's cookie names, if it is live.
    ///
    /// # Errors
    ///
    /// The opaque error of a store failure.
    pub async fn current_session(
        &self,
        headers: &http::HeaderMap,
        now: UnixTime,
    ) -> Result<Option<LiveSession>, OAuthError> {
        let name = self.cookie_policy().name(SESSION_COOKIE);
        let Some(value) = cookie::get(headers, &name) else { return Ok(None) };
        if value.len() != 43 {
            return Ok(None);
        }
        let key = schema::session(&sid_of(value));
        let data = match self.platform().sessions().get(&key, now).await {
            Ok(data) => data,
            Err(StoreError::Refused(_)) => None,
            Err(err) => return Err(store_error(&err)),
        };
        Ok(data
            .and_then(|d| serde_json::from_slice::<Session>(&d).ok())
            .map(|session| LiveSession { key, session }))
    }

    /// Starts a session for `user_id`, authenticated at `now` by `amr`; returns
    /// the cookie value and the record.
    ///
    /// # Errors
    ///
    /// The opaque error of a store failure.
    pub async fn start_session(
        &self,
        user_id: &str,
        amr: &[&str],
        now: UnixTime,
        rng: &mut dyn rand_core::CryptoRngCore,
    ) -> Result<(String, Session), OAuthError> {
        let value = random_id(rng, 32);
        let sid = sid_of(&value);
        let session = Session {
            user_id: user_id.to_owned(),
            auth_time: now,
            amr: amr.iter().map(|a| (*a).to_owned()).collect(),
            sid,
        };
        let data = serde_json::to_vec(&session).map_err(|_| OAuthError::server_error())?;
        let key = schema::session(&session.sid);
        self.platform()
            .sessions()
            .put(&key, &data, now.plus(SESSION_SECS), now)
            .await
            .map_err(|e| store_error(&e))?;
        Ok((value, session))
    }

    /// Whether the session `sid` is still live.
    ///
    /// # Errors
    ///
    /// The opaque error of a store failure.
    pub async fn session_live(&self, sid: &str, now: UnixTime) -> Result<bool, OAuthError> {
        match self.platform().sessions().get(&schema::session(sid), now).await {
            Ok(data) => Ok(data.is_some()),
            Err(StoreError::Refused(_)) => Ok(false),
            Err(err) => Err(store_error(&err)),
        }
    }

    /// Ends the session stored under `key`.
    ///
    /// # Errors
    ///
    /// The opaque error of a store failure.
    pub async fn end_session(&self, key: &str) -> Result<(), OAuthError> {
        self.platform().sessions().delete(key).await.map(|_| ()).map_err(|e| store_error(&e))
    }

    /// The scopes `user_id` consented to for `client_id`.
    ///
    /// # Errors
    ///
    /// The opaque error of a store failure.
    pub async fn consented(
        &self,
        user_id: &str,
        client_id: &str,
        now: UnixTime,
    ) -> Result<ScopeSet, OAuthError> {
        let key = schema::consent(user_id, client_id);
        let data = match self.platform().sessions().get(&key, now).await {
            Ok(data) => data,
            Err(StoreError::Refused(_)) => None,
            Err(err) => return Err(store_error(&err)),
        };
        Ok(data
            .and_then(|d| serde_json::from_slice::<Consent>(&d).ok())
            .map(|c| c.scope)
            .unwrap_or_default())
    }

    /// Remembers that `user_id` consented to `scope` for `client_id`, beside what
    /// was consented before.
    ///
    /// # Errors
    ///
    /// The opaque error of a store failure.
    pub async fn remember_consent(
        &self,
        user_id: &str,
        client_id: &str,
        scope: &ScopeSet,
        now: UnixTime,
    ) -> Result<(), OAuthError> {
        let mut all = self.consented(user_id, client_id, now).await?;
        all = all.iter().chain(scope.iter()).cloned().collect();
        let data =
            serde_json::to_vec(&Consent { scope: all }).map_err(|_| OAuthError::server_error())?;
        self.platform()
            .sessions()
            .put(&schema::consent(user_id, client_id), &data, now.plus(CONSENT_SECS), now)
            .await
            .map_err(|e| store_error(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acr_follows_the_methods() {
        assert_eq!(acr_of(&["pwd".to_owned()]), ACR_PASSWORD);
        assert_eq!(acr_of(&["pwd".to_owned(), "otp".to_owned()]), ACR_MULTI_FACTOR);
        assert_eq!(acr_of(&[]), ACR_PASSWORD);
    }
}
