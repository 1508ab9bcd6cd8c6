//! The consent policy step of an interaction: with the user known and admitted,
//! and before scope consent or a code, a user who has not accepted the current
//! version of the app's policy ([`crate::model::consent_policy`]) is shown it
//! with Accept and Decline. First-party apps ask too: they skip scope consent, not
//! the policy. Accepting records the version and the time and goes on with the
//! interaction (the steps module goes on); declining answers `access_denied` (or
//! denies the device); `prompt=none` answers `consent_required`.
//!
//! The step is part of the interaction and uses its form handling; it lives apart
//! so that `interaction` stays about sign-in and scope consent.
//!
//! What a user accepted is one record per user in the [`Sessions`] store
//! ([`schema::policy_acceptances`]: the user's own instance, strong, so a new
//! acceptance or an administrator's withdrawal counts at once everywhere), changed
//! by compare-and-swap through the pure transitions
//! [`records::policy_accept`] and [`records::policy_withdraw`], so two
//! acceptances at once (two apps, two tabs) both count.

use http::{HeaderMap, StatusCode};

use super::interaction::{
    self, Interaction, Next, SignedInForm, bad_form, form_app, interaction_form,
    read_signed_in_form, refuse, shown_name,
};
use super::respond::brand;
use crate::context::Context;
use crate::endpoints::POLICY_CONSENT_PATH;
use crate::engine::{Engine, store_error};
use crate::error::{ErrorCode, OAuthError};
use crate::http::{Request, Response};
use crate::model::app::AppRecord;
use crate::model::consent_policy::ConsentPolicy;
use crate::model::user::UserRecord;
use crate::pages::{self, Page, PolicyConsent};
use crate::platform::Platform;
use crate::store::records::{self, PolicyAcceptances, Write};
use crate::store::{Sessions, StoreError, schema};
use crate::types::UnixTime;

/// How long a user's acceptances are kept after the last change: ten years. A
/// user's deletion removes them at once.
pub(crate) const ACCEPTANCES_SECS: u64 = 10 * 365 * 86_400;

/// How often a compare-and-swap is tried before the store is reported busy.
const SWAP_ATTEMPTS: usize = 4;

impl<P: Platform> Engine<P> {
    /// The consent policy versions `user_id` accepted, with the stored bytes.
    async fn read_acceptances(
        &self,
        user_id: &str,
        now: UnixTime,
    ) -> Result<(Option<Vec<u8>>, PolicyAcceptances), OAuthError> {
        let key = schema::policy_acceptances(user_id);
        let data = match self.platform().sessions().get(&key, now).await {
            Ok(data) => data,
            Err(StoreError::Refused(_)) => None,
            Err(err) => return Err(store_error(&err)),
        };
        // A record that does not decode is replaced by the next change.
        let acceptances =
            data.as_deref().and_then(|d| serde_json::from_slice(d).ok()).unwrap_or_default();
        Ok((data, acceptances))
    }

    /// The consent policy versions `user_id` accepted, by app.
    ///
    /// # Errors
    ///
    /// The opaque error of a store failure.
    pub(crate) async fn policy_acceptances(
        &self,
        user_id: &str,
        now: UnixTime,
    ) -> Result<PolicyAcceptances, OAuthError> {
        self.read_acceptances(user_id, now).await.map(|(_, acceptances)| acceptances)
    }

    /// Applies `change` to what `user_id` accepted, by compare-and-swap.
    async fn change_acceptances<T>(
        &self,
        user_id: &str,
        now: UnixTime,
        change: impl Fn(PolicyAcceptances) -> (T, Write<PolicyAcceptances>),
    ) -> Result<T, OAuthError> {
        let key = schema::policy_acceptances(user_id);
        for _ in 0..SWAP_ATTEMPTS {
            let (stored, acceptances) = self.read_acceptances(user_id, now).await?;
            let (answer, write) = change(acceptances);
            let next = match write {
                Write::Keep => return Ok(answer),
                Write::Put(record) => {
                    Some(serde_json::to_vec(&record).map_err(|_| OAuthError::server_error())?)
                }
                Write::Delete => None,
            };
            let swapped = self
                .platform()
                .sessions()
                .swap(&key, stored.as_deref(), next.as_deref(), now.plus(ACCEPTANCES_SECS), now)
                .await
                .map_err(|e| store_error(&e))?;
            if swapped {
                return Ok(answer);
            }
        }
        Err(OAuthError::temporarily_unavailable())
    }

    /// Records that `user_id` accepted `version` of `client_id`'s policy at `now`.
    ///
    /// # Errors
    ///
    /// The opaque error of a store failure.
    pub(crate) async fn accept_policy(
        &self,
        user_id: &str,
        client_id: &str,
        version: u64,
        now: UnixTime,
    ) -> Result<(), OAuthError> {
        self.change_acceptances(user_id, now, |acceptances| {
            ((), Write::Put(records::policy_accept(acceptances, client_id, version, now)))
        })
        .await
    }

    /// Withdraws `user_id`'s acceptance of `client_id`'s policy, so they are asked
    /// again; says whether there was one.
    ///
    /// # Errors
    ///
    /// The opaque error of a store failure.
    pub(crate) async fn withdraw_policy(
        &self,
        user_id: &str,
        client_id: &str,
        now: UnixTime,
    ) -> Result<bool, OAuthError> {
        self.change_acceptances(user_id, now, |acceptances| {
            records::policy_withdraw(acceptances, client_id)
        })
        .await
    }

    /// Forgets every acceptance of `user_id` (the user was deleted).
    ///
    /// # Errors
    ///
    /// The opaque error of a store failure.
    pub(crate) async fn forget_policies(&self, user_id: &str) -> Result<(), OAuthError> {
        let key = schema::policy_acceptances(user_id);
        match self.platform().sessions().delete(&key).await {
            Ok(_) | Err(StoreError::Refused(_)) => Ok(()),
            Err(err) => Err(store_error(&err)),
        }
    }
}

/// The app's policy, if `user_id` has not accepted its current version.
pub(super) async fn pending<'a, P: Platform>(
    engine: &Engine<P>,
    app: &'a AppRecord,
    user_id: &str,
    now: UnixTime,
) -> Result<Option<&'a ConsentPolicy>, OAuthError> {
    let Some(policy) = &app.consent_policy else { return Ok(None) };
    let acceptances = engine.policy_acceptances(user_id, now).await?;
    let accepted =
        acceptances.apps.get(&app.client_id).is_some_and(|a| a.version == policy.version);
    Ok((!accepted).then_some(policy))
}

/// The consent policy page.
pub(super) fn show<P: Platform>(
    engine: &Engine<P>,
    app: &AppRecord,
    user: &UserRecord,
    policy: &ConsentPolicy,
    interaction: &Interaction,
    headers: &HeaderMap,
    cx: &mut Context<'_>,
) -> Response {
    let locale = interaction.request.locale(headers);
    let version = policy.version.to_string();
    let extra = [("version", version.as_str())];
    interaction_form(
        engine,
        interaction,
        POLICY_CONSENT_PATH,
        &extra,
        headers,
        cx,
        |action, hidden| {
            let page = PolicyConsent {
                brand: brand(app),
                action,
                hidden,
                user: shown_name(user),
                title: &policy.title,
                text: &policy.text,
                version: policy.version,
            };
            pages::render(&Page::PolicyConsent(page), locale, StatusCode::OK)
        },
    )
}

/// `POST /consent/policy`: accept records the version shown and goes on with the
/// interaction; decline answers `access_denied`. A version other than the app's
/// current one (the policy changed while the page was open) records nothing and
/// shows the current text.
pub(crate) async fn answer<P: Platform>(
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
    let _headers = request.headers();
    let bad = |description| Next::from(bad_form(locale, description));
    let app = match form_app(engine, &interaction.request.client_id, locale, now).await {
        Ok(app) => app,
        Err(page) => return page.into(),
    };
    match form.get("decision") {
        Some("accept") => {
            let Some(shown) = form.get("version").and_then(|v| v.parse::<u64>().ok()) else {
                return bad("the policy version is missing");
            };
            if let Some(policy) = app.consent_policy.as_ref().filter(|p| p.version == shown) {
                let client_id = &app.client_id;
                if let Err(error) =
                    engine.accept_policy(&signed_in.user_id, client_id, policy.version, now).await
                {
                    return interaction::fail(engine, &interaction, &error, locale).into();
                }
            } else {
                cx.diagnose(format!("consent policy of {:?} changed while shown", app.client_id));
            }
            Next::Proceed { app: Box::new(app), interaction: Box::new(interaction) }
        }
        Some("decline") => {
            let error =
                OAuthError::new(ErrorCode::AccessDenied, "the user declined the consent policy");
            refuse(engine, &interaction, &error, locale, cx).await.into()
        }
        _ => bad("decision must be accept or decline"),
    }
}
