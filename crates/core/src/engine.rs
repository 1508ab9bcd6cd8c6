//! The engine: one request in, one response out, never an error or a panic.

use std::rc::Rc;

use http::{HeaderValue, Method, StatusCode, header};
use rand_core::CryptoRngCore;

use crate::cache::{CachedDirectory, ReadCache};
use crate::client_auth::throttle::PenaltyBox;
use crate::config::Config;
use crate::discovery::{
    JWKS_PATH, Metadata, OAUTH_METADATA_PATH, OPENID_CONFIGURATION_PATH, TOKEN_PATH,
};
use crate::error::OAuthError;
use crate::http::{
    Request, Response, cors_any, json_response, method_not_allowed, not_found, preflight_response,
};
use crate::keys::{Keyring, PUBLISH_AHEAD_SECS};
use crate::platform::Platform;
use crate::store::batch::{Tally, UsageBatch};
use crate::store::schema;
use crate::store::{Counters, Directory, KeyVault, StoreError, UsageEvent};
use crate::types::UnixTime;

/// What one request carries besides itself: the time, read once by the host so that
/// every check in the request agrees, the randomness source, and the work left for
/// after the response ([`Context::take_deferred`]).
pub struct Context<'r> {
    now: UnixTime,
    rng: &'r mut dyn CryptoRngCore,
    usage: Vec<(String, UsageEvent)>,
    diagnostics: Vec<String>,
}

/// Work a request leaves for after its response: usage statistics to record. The
/// host adds it to its isolate's [`UsageBatch`] ([`Deferred::add_to`]) and writes
/// what is due with [`Engine::flush_usage`] once the response is on its way (in the
/// worker, under `waitUntil`), so counting never delays a token and a busy app's
/// usage object is written at most once per isolate every few seconds.
#[derive(Debug)]
#[must_use = "deferred work is lost unless added to a batch or run with Engine::run_deferred"]
pub struct Deferred {
    usage: Vec<(String, UsageEvent)>,
    now: UnixTime,
}

impl Deferred {
    /// Whether there is nothing to do.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.usage.is_empty()
    }

    /// Adds the usage events to `batch`.
    pub fn add_to(self, batch: &mut UsageBatch) {
        for (series, event) in &self.usage {
            batch.add(series, *event, self.now);
        }
    }
}

impl<'r> Context<'r> {
    /// A context for a request handled at `now`.
    pub fn new(now: UnixTime, rng: &'r mut dyn CryptoRngCore) -> Self {
        Self { now, rng, usage: Vec::new(), diagnostics: Vec::new() }
    }

    /// Counts `event` in the usage series of the app `client_id`, after the response.
    pub(crate) fn count_usage(&mut self, client_id: &str, event: UsageEvent) {
        self.usage.push((schema::usage_series(client_id), event));
    }

    /// Notes why the request was refused, for the operator's log: the answer itself
    /// stays opaque (`invalid_client` says nothing of which check failed).
    pub(crate) fn diagnose(&mut self, message: String) {
        self.diagnostics.push(message);
    }

    /// What the host should log about this request (never secrets or tokens).
    pub fn take_diagnostics(&mut self) -> Vec<String> {
        std::mem::take(&mut self.diagnostics)
    }

    /// The work this request left for after its response.
    pub fn take_deferred(&mut self) -> Deferred {
        Deferred { usage: std::mem::take(&mut self.usage), now: self.now }
    }

    /// The request's time.
    #[must_use]
    pub fn now(&self) -> UnixTime {
        self.now
    }

    /// The randomness source.
    pub fn rng(&mut self) -> &mut dyn CryptoRngCore {
        self.rng
    }
}

impl std::fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").field("now", &self.now).finish_non_exhaustive()
    }
}

/// The protocol engine over a host [`Platform`].
pub struct Engine<P: Platform> {
    config: Rc<Config>,
    platform: P,
    penalties: Rc<PenaltyBox>,
    cache: Rc<ReadCache>,
}

impl<P: Platform> Engine<P> {
    /// An engine with `config` on `platform`, with a penalty box and a read cache of
    /// its own. A host that keeps its configuration per isolate passes an
    /// `Rc<Config>`.
    pub fn new(config: impl Into<Rc<Config>>, platform: P) -> Self {
        Self { config: config.into(), platform, penalties: Rc::default(), cache: Rc::default() }
    }

    /// Uses `cache`, the host's per-isolate [`ReadCache`], so the token endpoint's
    /// directory reads and the parsed keyring outlive the request (see
    /// [`crate::cache`] for what is kept and for how long). A host that builds an
    /// engine per request must pass the same cache to each.
    #[must_use]
    pub fn with_cache(mut self, cache: Rc<ReadCache>) -> Self {
        self.cache = cache;
        self
    }

    /// The isolate's read cache.
    pub fn cache(&self) -> &ReadCache {
        &self.cache
    }

    /// The directory as the token endpoint's hot path reads it: through the read
    /// cache, at `now`.
    pub fn cached_directory(&self, now: UnixTime) -> CachedDirectory<'_, P::Directory> {
        CachedDirectory::new(self.platform.directory(), &self.cache, now)
    }

    /// Uses `penalties`, the host's per-isolate [`PenaltyBox`], so that a penalty for
    /// failed client authentication outlives the request that imposed it. A host
    /// that builds an engine per request must pass the same box to each.
    #[must_use]
    pub fn with_penalty_box(mut self, penalties: Rc<PenaltyBox>) -> Self {
        self.penalties = penalties;
        self
    }

    /// The penalty box of failed client authentications.
    pub fn penalty_box(&self) -> &PenaltyBox {
        &self.penalties
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The platform.
    pub fn platform(&self) -> &P {
        &self.platform
    }

    /// Runs what a request left for after its response at once, without batching
    /// (one write per app and hour). Failures are dropped: usage statistics are best
    /// effort and never fail a request. Returns how many writes failed.
    pub async fn run_deferred(&self, deferred: Deferred) -> usize {
        let mut batch = UsageBatch::new();
        deferred.add_to(&mut batch);
        self.flush_usage(batch.take_all()).await
    }

    /// Writes usage a [`UsageBatch`] handed out, one [`Counters::tally`] per app and
    /// hour. Failures are dropped (the counts are lost, a request never fails for
    /// them). Returns how many writes failed.
    pub async fn flush_usage(&self, tallies: Vec<Tally>) -> usize {
        let mut failed = 0;
        for tally in tallies {
            if self
                .platform
                .counters()
                .tally(&tally.series, tally.counts, tally.hour)
                .await
                .is_err()
            {
                failed += 1;
            }
        }
        failed
    }

    /// Handles one request. Every failure is already a response: RFC 6749 JSON on
    /// OAuth endpoints, with no detail about infrastructure faults. Afterwards the
    /// host batches [`Context::take_deferred`] and flushes what is due
    /// ([`Engine::flush_usage`]).
    pub async fn handle(&self, request: Request, cx: &mut Context<'_>) -> Response {
        let head = request.method() == Method::HEAD;
        let mut response = self.route(request, cx).await;
        if head {
            response.body_mut().clear();
        }
        response
    }

    async fn route(&self, request: Request, cx: &mut Context<'_>) -> Response {
        let prefix = self.config.issuer.path_prefix();
        let Some(path) = request.uri().path().strip_prefix(prefix).map(str::to_owned) else {
            return not_found();
        };
        let method = request.method().clone();
        let get = method == Method::GET || method == Method::HEAD;
        let mut response = match path.as_str() {
            OPENID_CONFIGURATION_PATH | OAUTH_METADATA_PATH if get => {
                let mut response =
                    json_response(StatusCode::OK, &Metadata::new(&self.config.issuer));
                cache_for(&mut response, 3600);
                response
            }
            JWKS_PATH if get => self.jwks(cx).await.unwrap_or_else(OAuthError::into_response),
            TOKEN_PATH if method == Method::POST => crate::flow::token(self, request, cx)
                .await
                .unwrap_or_else(OAuthError::into_response),
            OPENID_CONFIGURATION_PATH | OAUTH_METADATA_PATH | JWKS_PATH
                if method == Method::OPTIONS =>
            {
                return preflight_response("GET, HEAD, OPTIONS");
            }
            TOKEN_PATH if method == Method::OPTIONS => return preflight_response("POST, OPTIONS"),
            OPENID_CONFIGURATION_PATH | OAUTH_METADATA_PATH | JWKS_PATH => {
                method_not_allowed(&[Method::GET, Method::HEAD, Method::OPTIONS])
            }
            TOKEN_PATH => method_not_allowed(&[Method::POST, Method::OPTIONS]),
            admin if admin.starts_with(crate::admin::PREFIX) || admin == "/admin/v1" => {
                return crate::admin::handle(self, request, admin, cx).await;
            }
            _ => return not_found(),
        };
        cors_any(&mut response);
        response
    }

    async fn jwks(&self, cx: &mut Context<'_>) -> Result<Response, OAuthError> {
        let ring = self.keyring(cx.now()).await?;
        let mut response = json_response(StatusCode::OK, &ring.jwks(cx.now()));
        cache_for(&mut response, PUBLISH_AHEAD_SECS);
        Ok(response)
    }

    /// The keyring: from the isolate's cache, from the directory (the fast path), or
    /// from the single writer, which creates it on first start.
    pub(crate) async fn keyring(&self, now: UnixTime) -> Result<Rc<Keyring>, OAuthError> {
        if let Some(ring) = self.cache.keyring(now) {
            return Ok(ring);
        }
        match self.platform.directory().get(schema::KEYRING).await {
            Ok(Some(bytes)) => {
                if let Some(ring) = self.cache.keep_keyring_bytes(bytes, now) {
                    return Ok(ring);
                }
            }
            Ok(None) => {}
            Err(err) => return Err(store_error(&err)),
        }
        let ring = self.platform.keys().ensure(now).await.map_err(|e| store_error(&e))?;
        Ok(self.cache.keep_keyring(ring, now))
    }
}

/// The opaque OAuth error for a store failure.
pub(crate) fn store_error(err: &StoreError) -> OAuthError {
    match err {
        StoreError::Unavailable => OAuthError::temporarily_unavailable(),
        _ => OAuthError::server_error(),
    }
}

/// Replaces `no-store` with a public cache lifetime, for public documents.
fn cache_for(response: &mut Response, secs: u64) {
    let headers = response.headers_mut();
    headers.remove(header::PRAGMA);
    if let Ok(value) = HeaderValue::from_str(&format!("public, max-age={secs}")) {
        headers.insert(header::CACHE_CONTROL, value);
    }
}
