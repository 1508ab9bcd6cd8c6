//! Outbound GETs of public documents: the issuer's JWKS for the edge gateway, and an
//! app's `jwks_uri` for `private_key_jwt`.
//!
//! The host performs the request (WebCrypto-style: `fetch` in the worker, a map of
//! canned documents in tests); [`DocumentCache`] is the one caching policy hosts keep
//! per isolate, honouring `Cache-Control` within [`MIN_FRESH_SECS`] and
//! [`MAX_FRESH_SECS`], and refetching early only when asked to revalidate (a `kid`
//! was not found), at most once per [`REVALIDATE_COOLDOWN_SECS`], so made-up key ids
//! cannot turn the issuer into a request amplifier.

use std::collections::HashMap;

pub use crate::gateway::jwks::{MAX_DOCUMENT_BYTES, MAX_FRESH_SECS, MIN_FRESH_SECS, freshness};
use crate::types::UnixTime;

/// A fetched document: the status, the `Cache-Control` header, and at most
/// [`MAX_DOCUMENT_BYTES`] + 1 bytes of body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// HTTP status.
    pub status: u16,
    /// The `Cache-Control` response header, if any.
    pub cache_control: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

/// The host could not complete a fetch (network error, timeout). Carries no detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchError;

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("document could not be fetched")
    }
}

impl std::error::Error for FetchError {}

/// Outbound GETs for the engine.
#[allow(async_fn_in_trait)]
pub trait Fetch {
    /// GETs `url` (always `https`). A host answers from its [`DocumentCache`] while the
    /// copy is fresh; with `revalidate` it fetches anew unless its copy is younger
    /// than [`REVALIDATE_COOLDOWN_SECS`]. Redirects are not followed.
    ///
    /// # Errors
    ///
    /// [`FetchError`] when no answer came back. Any HTTP status is an answer.
    async fn get(&self, url: &str, revalidate: bool, now: UnixTime) -> Result<Fetched, FetchError>;
}

/// The shortest time between two fetches of one document on revalidation.
pub const REVALIDATE_COOLDOWN_SECS: u64 = MIN_FRESH_SECS;
/// The most documents a cache holds; beyond it, it starts over.
pub const MAX_CACHED_DOCUMENTS: usize = 256;

#[derive(Debug, Clone)]
struct Entry {
    fetched: Fetched,
    fetched_at: UnixTime,
    fresh_until: UnixTime,
}

/// Successful (200) documents by URL, each kept for its `Cache-Control` freshness.
#[derive(Debug, Default)]
pub struct DocumentCache {
    entries: HashMap<String, Entry>,
}

impl DocumentCache {
    /// The cached copy of `url` that may be used at `now`: a fresh one, or on
    /// `revalidate` only one fetched within the cooldown.
    #[must_use]
    pub fn lookup(&self, url: &str, revalidate: bool, now: UnixTime) -> Option<Fetched> {
        let entry = self.entries.get(url)?;
        let usable = if revalidate {
            now < entry.fetched_at.plus(REVALIDATE_COOLDOWN_SECS)
        } else {
            now < entry.fresh_until
        };
        usable.then(|| entry.fetched.clone())
    }

    /// Remembers `fetched` for `url` if it is a 200 of a sane size.
    pub fn store(&mut self, url: &str, fetched: &Fetched, now: UnixTime) {
        if fetched.status != 200 || fetched.body.len() > MAX_DOCUMENT_BYTES {
            self.entries.remove(url);
            return;
        }
        if self.entries.len() >= MAX_CACHED_DOCUMENTS && !self.entries.contains_key(url) {
            self.entries.clear();
        }
        let fresh_until = now.plus(freshness(fetched.cache_control.as_deref()));
        self.entries.insert(
            url.to_owned(),
            Entry { fetched: fetched.clone(), fetched_at: now, fresh_until },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(status: u16, cache_control: Option<&str>) -> Fetched {
        Fetched { status, cache_control: cache_control.map(str::to_owned), body: b"{}".to_vec() }
    }

    #[test]
    fn fresh_copies_are_served_until_max_age() {
        let mut cache = DocumentCache::default();
        let t = UnixTime::from_secs(1_000);
        cache.store("https://a/jwks", &doc(200, Some("max-age=120")), t);
        assert!(cache.lookup("https://a/jwks", false, t.plus(119)).is_some());
        assert!(cache.lookup("https://a/jwks", false, t.plus(120)).is_none());
        assert!(cache.lookup("https://b/jwks", false, t).is_none());
    }

    #[test]
    fn revalidation_refetches_after_the_cooldown_only() {
        let mut cache = DocumentCache::default();
        let t = UnixTime::from_secs(1_000);
        cache.store("https://a/jwks", &doc(200, None), t);
        assert!(
            cache.lookup("https://a/jwks", true, t.plus(REVALIDATE_COOLDOWN_SECS - 1)).is_some()
        );
        assert!(cache.lookup("https://a/jwks", true, t.plus(REVALIDATE_COOLDOWN_SECS)).is_none());
    }

    #[test]
    fn failures_are_not_cached_and_evict() {
        let mut cache = DocumentCache::default();
        let t = UnixTime::from_secs(1_000);
        cache.store("https://a/jwks", &doc(200, None), t);
        cache.store("https://a/jwks", &doc(503, None), t);
        assert!(cache.lookup("https://a/jwks", false, t).is_none());
    }

    #[test]
    fn a_full_cache_starts_over() {
        let mut cache = DocumentCache::default();
        let t = UnixTime::from_secs(1_000);
        for i in 0..MAX_CACHED_DOCUMENTS {
            cache.store(&format!("https://a/{i}"), &doc(200, None), t);
        }
        cache.store("https://a/new", &doc(200, None), t);
        assert!(cache.lookup("https://a/0", false, t).is_none());
        assert!(cache.lookup("https://a/new", false, t).is_some());
    }
}
