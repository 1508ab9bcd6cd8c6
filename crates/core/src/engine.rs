//! The engine: the configuration, the platform and what the isolate keeps, shared
//! by every handler. Requests come in through [`Engine::handle`] (`crate::router`).

use std::rc::Rc;

use http::{HeaderValue, StatusCode, header};

use crate::cache::{CachedDirectory, ReadCache};
use crate::client_auth::throttle::PenaltyBox;
use crate::config::Config;
use crate::context::{Context, Deferred};
use crate::error::OAuthError;
use crate::http::{Response, json_response};
use crate::keys::{Keyring, PUBLISH_AHEAD_SECS};
use crate::platform::Platform;
use crate::store::batch::{Tally, UsageBatch};
use crate::store::schema;
use crate::store::{Counters, Directory, KeyVault, StoreError};
use crate::types::UnixTime;

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
    /// (one write per app and hour), and delivers its hook notifications. Failures
    /// are dropped: usage statistics and notifications are best effort and never
    /// fail a request. Returns how many usage writes failed.
    pub async fn run_deferred(&self, mut deferred: Deferred) -> usize {
        let _ = self.deliver(deferred.take_posts()).await;
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

    /// The JWKS document: the keyring's public keys, cacheable until the next key
    /// could start signing.
    pub(crate) async fn jwks(&self, cx: &mut Context<'_>) -> Result<Response, OAuthError> {
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
pub(crate) fn cache_for(response: &mut Response, secs: u64) {
    let headers = response.headers_mut();
    headers.remove(header::PRAGMA);
    if let Ok(value) = HeaderValue::from_str(&format!("public, max-age={secs}")) {
        headers.insert(header::CACHE_CONTROL, value);
    }
}
