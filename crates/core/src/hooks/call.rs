//! Calling an app's hooks from the flows: notifications are signed in the request
//! and left for after the response ([`Context::defer_post`]); the blocking events
//! are asked on the path, each hook once within its timeout, in creation order.

use http::HeaderMap;
use serde_json::{Map, Value, json};

use super::{DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, Subject, added_claims, payload};
use crate::context::Context;
use crate::engine::{Engine, store_error};
use crate::error::{ErrorCode, OAuthError};
use crate::fetch::{Fetch, Post, check_destination};
use crate::flow::signin::PasswordGate;
use crate::model::app::AppRecord;
use crate::model::hook::{Hook, HookEvent, HookSet, OnFailure};
use crate::model::user::UserRecord;
use crate::platform::Platform;
use crate::store::read_record;
use crate::store::schema;
use crate::token::random_id;

/// The enabled hooks of one app, read once per request.
#[derive(Debug, Default)]
pub(crate) struct AppHooks {
    client_id: String,
    name: String,
    items: Vec<Hook>,
}

impl AppHooks {
    /// The enabled hooks of `app` (through the isolate's read cache, which also
    /// keeps that an app has none).
    pub(crate) async fn load<P: Platform>(
        engine: &Engine<P>,
        app: &AppRecord,
        cx: &Context<'_>,
    ) -> Result<Self, OAuthError> {
        let set: Option<HookSet> = read_record(
            &engine.cached_directory(cx.now()).remembering_absence(),
            &schema::hooks(&app.client_id),
        )
        .await
        .map_err(|e| store_error(&e))?;
        Ok(Self {
            client_id: app.client_id.clone(),
            name: app.client_name.clone(),
            items: set
                .map(|s| s.items)
                .unwrap_or_default()
                .into_iter()
                .filter(|h| h.enabled)
                .collect(),
        })
    }

    fn of(&self, event: HookEvent) -> impl Iterator<Item = &Hook> {
        self.items.iter().filter(move |h| h.event == event)
    }

    /// Sends `event` to its hooks after the response.
    pub(crate) fn notify<P: Platform>(
        &self,
        engine: &Engine<P>,
        cx: &mut Context<'_>,
        event: HookEvent,
        subject: Subject<'_>,
        headers: &HeaderMap,
        data: &Map<String, Value>,
    ) {
        for hook in self.of(event) {
            if let Some(post) = self.delivery(engine, cx, hook, subject, headers, data.clone()) {
                cx.defer_post(post);
            }
        }
    }

    /// The signed delivery of `event` to `hook`; `None` (logged) when its secret
    /// does not open or its URL is no longer a destination the issuer may reach.
    fn delivery<P: Platform>(
        &self,
        engine: &Engine<P>,
        cx: &mut Context<'_>,
        hook: &Hook,
        subject: Subject<'_>,
        headers: &HeaderMap,
        data: Map<String, Value>,
    ) -> Option<Post> {
        let config = engine.config();
        if let Err(why) = check_destination(hook.url.as_str(), config.fetch_policy) {
            cx.diagnose(format!(
                "hook {} of client {:?} not called: its url {}",
                hook.id, self.client_id, why.0
            ));
            return None;
        }
        let Some(secret) = hook.secret(&config.kek, &self.client_id) else {
            cx.diagnose(format!(
                "hook {} of client {:?} not called: its secret does not open",
                hook.id, self.client_id
            ));
            return None;
        };
        let id = random_id(cx.rng(), 16);
        let now = cx.now();
        let ip = source_ip(headers);
        let body = payload(
            hook.event,
            &id,
            now,
            (&self.client_id, &self.name),
            subject,
            ip.as_deref(),
            data,
        );
        let body = serde_json::to_vec(&body).ok()?;
        let signature = super::signature(secret.expose(), now, &body);
        Some(Post {
            url: hook.url.as_str().to_owned(),
            headers: vec![
                (SIGNATURE_HEADER.to_owned(), signature),
                (DELIVERY_HEADER.to_owned(), id),
                (EVENT_HEADER.to_owned(), hook.event.as_str().to_owned()),
            ],
            body,
            timeout_ms: hook.timeout_ms,
        })
    }

    /// Asks `hook` and reads its answer: a 2xx JSON object, else why not.
    async fn ask<P: Platform>(
        &self,
        engine: &Engine<P>,
        cx: &mut Context<'_>,
        hook: &Hook,
        subject: Subject<'_>,
        headers: &HeaderMap,
        data: Map<String, Value>,
    ) -> Result<Value, String> {
        let Some(post) = self.delivery(engine, cx, hook, subject, headers, data) else {
            return Err("it could not be called".to_owned());
        };
        match engine.platform().fetch().post(&post).await {
            Ok(answer) if (200..300).contains(&answer.status) => {
                match serde_json::from_slice::<Value>(&answer.body) {
                    Ok(value @ Value::Object(_)) => Ok(value),
                    _ => Err("it answered something other than a JSON object".to_owned()),
                }
            }
            Ok(answer) => Err(format!("it answered status {}", answer.status)),
            Err(err) => Err(err.to_string()),
        }
    }

    /// A blocking hook failed: logs why, and answers whether the flow goes on.
    fn failed(&self, cx: &mut Context<'_>, hook: &Hook, why: &str) -> bool {
        let goes_on = hook.on_failure == OnFailure::Continue;
        cx.diagnose(format!(
            "{} hook {} of client {:?} failed: {why}; {}",
            hook.event.as_str(),
            hook.id,
            self.client_id,
            if goes_on { "continuing (on_failure: continue)" } else { "denied (on_failure: deny)" }
        ));
        goes_on
    }
}

/// The source address as the platform reports it.
fn source_ip(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(crate::client_auth::throttle::SOURCE_HEADER)?.to_str().ok()?;
    value.trim().parse::<std::net::IpAddr>().ok().map(|ip| ip.to_string())
}

/// A known user as deliveries name them.
pub(crate) fn user_subject(user: &UserRecord) -> Subject<'_> {
    Subject::User {
        id: &user.id,
        username: &user.username,
        email: user.claims.get("email").and_then(Value::as_str),
    }
}

/// The hooks of one password sign-in: `identification_failed` or `identified`
/// and `before_password_validation` while the credentials are checked, then
/// `authentication_failed` or `login` ([`SignInHooks::failed`],
/// [`SignInHooks::succeeded`]).
pub(crate) struct SignInHooks<'a, 'c, 'r, P: Platform> {
    engine: &'a Engine<P>,
    hooks: &'a AppHooks,
    headers: &'a HeaderMap,
    identifier: &'a str,
    cx: &'c mut Context<'r>,
    found: Option<Box<UserRecord>>,
    denied: bool,
}

impl<'a, 'c, 'r, P: Platform> SignInHooks<'a, 'c, 'r, P> {
    pub(crate) fn new(
        engine: &'a Engine<P>,
        hooks: &'a AppHooks,
        headers: &'a HeaderMap,
        identifier: &'a str,
        cx: &'c mut Context<'r>,
    ) -> Self {
        Self { engine, hooks, headers, identifier, cx, found: None, denied: false }
    }

    /// The sign-in failed: `authentication_failed` for a known user (or for the
    /// identifier, when a lockout refused it before the user was looked up).
    pub(crate) fn failed(self, locked: bool) {
        let reason = match &self.found {
            _ if self.denied => "denied_by_hook",
            _ if locked => "locked_out",
            Some(user) if !user.enabled => "user_disabled",
            Some(_) => "wrong_password",
            None => return,
        };
        let data = Map::from_iter([("reason".to_owned(), json!(reason))]);
        let subject = match &self.found {
            Some(user) => user_subject(user),
            None => Subject::Identifier(self.identifier),
        };
        self.hooks.notify(
            self.engine,
            self.cx,
            HookEvent::AuthenticationFailed,
            subject,
            self.headers,
            &data,
        );
    }

    /// The sign-in succeeded: `login`, with the session's `amr` and `sid`.
    pub(crate) fn succeeded(self, user: &UserRecord, amr: &[&str], sid: &str) {
        let data = Map::from_iter([("amr".to_owned(), json!(amr)), ("sid".to_owned(), json!(sid))]);
        self.hooks.notify(
            self.engine,
            self.cx,
            HookEvent::Login,
            user_subject(user),
            self.headers,
            &data,
        );
    }
}

impl<P: Platform> PasswordGate for SignInHooks<'_, '_, '_, P> {
    async fn before_password(&mut self, user: Option<&UserRecord>) -> bool {
        let Some(user) = user else {
            let subject = Subject::Identifier(self.identifier);
            self.hooks.notify(
                self.engine,
                self.cx,
                HookEvent::IdentificationFailed,
                subject,
                self.headers,
                &Map::new(),
            );
            return true;
        };
        self.found = Some(Box::new(user.clone()));
        let hooks = self.hooks;
        hooks.notify(
            self.engine,
            self.cx,
            HookEvent::Identified,
            user_subject(user),
            self.headers,
            &Map::new(),
        );
        if !user.enabled {
            return true;
        }
        for hook in hooks.of(HookEvent::BeforePasswordValidation) {
            let answer = hooks
                .ask(self.engine, self.cx, hook, user_subject(user), self.headers, Map::new())
                .await;
            let allowed = match answer {
                Ok(answer) => match answer.get("allow").and_then(Value::as_bool) {
                    Some(true) => true,
                    Some(false) => {
                        let reason = answer.get("reason").and_then(Value::as_str).unwrap_or("");
                        self.cx.diagnose(format!(
                            "before_password_validation hook {} of client {:?} refused the sign-in of user {:?}: {:?}",
                            hook.id,
                            hooks.client_id,
                            user.id,
                            super::truncate(reason, 200)
                        ));
                        false
                    }
                    None => hooks.failed(self.cx, hook, "its answer has no boolean allow"),
                },
                Err(why) => hooks.failed(self.cx, hook, &why),
            };
            if !allowed {
                self.denied = true;
                return false;
            }
        }
        true
    }
}

/// Asks the app's `before_id_token` hooks for claims and adds what they may add
/// to `claims` (the ID token about to be signed for `user`).
///
/// # Errors
///
/// `invalid_grant` when a hook with `on_failure: deny` fails (the reason is
/// logged); a store failure reading the hooks.
pub(crate) async fn before_id_token<P: Platform>(
    engine: &Engine<P>,
    app: &AppRecord,
    user: &UserRecord,
    scope: &str,
    claims: &mut Map<String, Value>,
    cx: &mut Context<'_>,
) -> Result<(), OAuthError> {
    let hooks = AppHooks::load(engine, app, cx).await?;
    let headers = HeaderMap::new();
    for hook in hooks.of(HookEvent::BeforeIdToken) {
        let data = Map::from_iter([
            ("scope".to_owned(), json!(scope)),
            ("claims".to_owned(), Value::Object(claims.clone())),
        ]);
        match hooks.ask(engine, cx, hook, user_subject(user), &headers, data).await {
            Ok(answer) => {
                let (added, refused) = added_claims(&answer, &hook.allowed_claims, claims);
                if !refused.is_empty() {
                    cx.diagnose(format!(
                        "before_id_token hook {} of client {:?}: claims left out: {}",
                        hook.id,
                        app.client_id,
                        refused.join("; ")
                    ));
                }
                claims.extend(added);
            }
            Err(why) => {
                if !hooks.failed(cx, hook, &why) {
                    return Err(OAuthError::new(ErrorCode::InvalidGrant, "the grant was refused"));
                }
            }
        }
    }
    Ok(())
}

/// What became of a registration's code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CodeSent {
    /// A mail hook answered 2xx.
    Sent,
    /// The app has no enabled mail hook (`verify_email`).
    NoHook,
    /// Every mail hook failed (logged).
    Failed,
}

/// Asks the app's mail hooks (`verify_email`) to send `code` to `email`, in
/// creation order until one answers 2xx. `data` is the event's fields (`email`,
/// `code`, `locale`, `expires_at`).
pub(crate) async fn send_code<P: Platform>(
    engine: &Engine<P>,
    app: &AppRecord,
    headers: &HeaderMap,
    data: Map<String, Value>,
    cx: &mut Context<'_>,
) -> Result<CodeSent, OAuthError> {
    let hooks = AppHooks::load(engine, app, cx).await?;
    let mut outcome = CodeSent::NoHook;
    for hook in hooks.of(HookEvent::VerifyEmail) {
        outcome = CodeSent::Failed;
        let Some(post) = hooks.delivery(engine, cx, hook, Subject::Nobody, headers, data.clone())
        else {
            continue;
        };
        match engine.platform().fetch().post(&post).await {
            Ok(answer) if (200..300).contains(&answer.status) => return Ok(CodeSent::Sent),
            Ok(answer) => hooks.failed(cx, hook, &format!("it answered status {}", answer.status)),
            Err(err) => hooks.failed(cx, hook, &err.to_string()),
        };
    }
    Ok(outcome)
}

impl<P: Platform> Engine<P> {
    /// Delivers hook notifications a request left for after its response
    /// ([`crate::context::Deferred::take_posts`]): each once, never retried.
    /// Returns a log line for each that failed (no answer in time, or not a 2xx).
    pub async fn deliver(&self, posts: Vec<Post>) -> Vec<String> {
        let mut failures = Vec::new();
        for post in posts {
            let outcome = match self.platform().fetch().post(&post).await {
                Ok(answer) if (200..300).contains(&answer.status) => continue,
                Ok(answer) => format!("answered status {}", answer.status),
                Err(err) => err.to_string(),
            };
            let header = |name: &str| {
                post.headers.iter().find(|(n, _)| n == name).map_or("", |(_, v)| v.as_str())
            };
            failures.push(format!(
                "hook delivery {} ({}) to {} failed: {outcome}; not retried",
                header(DELIVERY_HEADER),
                header(EVENT_HEADER),
                origin(&post.url)
            ));
        }
        failures
    }
}

/// The scheme and host of a URL, for the log (a path or query may carry a token).
fn origin(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let end = url
        .get(after_scheme..)
        .and_then(|rest| rest.find(['/', '?']))
        .map_or(url.len(), |i| after_scheme + i);
    url.get(..end).unwrap_or(url)
}

#[cfg(test)]
mod tests {
    use super::origin;

    #[test]
    fn logs_name_the_origin_only() {
        assert_eq!(origin("https://hooks.example/in?token=x"), "https://hooks.example");
        assert_eq!(origin("http://127.0.0.1:9000"), "http://127.0.0.1:9000");
    }
}
