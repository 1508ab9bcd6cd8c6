//! When to (re)fetch the issuer's keys, and what to do while the issuer is away.
//!
//! The policy, each rule chosen so that a key rotation never refuses a valid token:
//!
//! - The JWKS is found through discovery (`jwks_uri`; the document's `issuer` must be
//!   the configured issuer, OpenID Connect Discovery section 4.3) and kept for the
//!   `max-age` of its `Cache-Control` (clamped to [`MIN_FRESH_SECS`]..[`MAX_FRESH_SECS`],
//!   [`DEFAULT_FRESH_SECS`] without one). The issuer publishes a key 300 s before it
//!   signs with it and serves the JWKS with `max-age=300`, so a cache that honours the
//!   header holds every new key before the first token it signs.
//! - A token whose `kid` is not in a fresh JWKS triggers one refetch, at most once per
//!   cooldown, so a flood of made-up `kid`s costs the issuer one request per cooldown.
//!   Within a cooldown the last fetch is at most that old, and it already held any key
//!   that signs now (published 300 s ahead), so no valid token meets the cooldown.
//! - Requests that arrive while a fetch is in flight and need it (their `kid` is
//!   unknown, or there are no keys yet) wait for it instead of starting another one;
//!   requests whose key is known go ahead with the keys at hand.
//! - When a fetch fails, the previous keys keep serving for up to `max_stale` past
//!   their freshness, and the issuer is retried at most once per cooldown. A fetch
//!   that succeeds replaces them whole: a key the issuer withdrew is gone at once,
//!   never kept from the previous copy.
//! - A verified token in the gateway's cache is served only while the keys are fresh
//!   and hold its key ([`JwksCache::admits`]); once they are due for a refresh, the
//!   request goes the verifying way, which refreshes them.
//! - The fetches themselves: a redirect is a failure, never followed; a body is read
//!   up to [`MAX_DOCUMENT_BYTES`] and abandoned past it ([`CappedBody`]); for an
//!   `https` issuer, a `jwks_uri` that is not `https` is refused.

use std::sync::Arc;

use serde::Deserialize;

use crate::jose::Jwks;
use crate::types::UnixTime;

/// A fetch in flight for longer than this is presumed lost (its request was
/// cancelled) and no longer waited for.
pub const FETCH_TIMEOUT_SECS: u64 = 30;

pub use crate::fetch::{
    DEFAULT_FRESH_SECS, FetchError, Fetched, MAX_DOCUMENT_BYTES, MAX_FRESH_SECS, MIN_FRESH_SECS,
    freshness,
};

/// Which document a fetch is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchTarget {
    /// The OpenID Provider metadata.
    Discovery(String),
    /// The JWK Set.
    Jwks(String),
}

impl FetchTarget {
    /// The URL to `GET`.
    #[must_use]
    pub fn url(&self) -> &str {
        match self {
            Self::Discovery(url) | Self::Jwks(url) => url,
        }
    }
}

/// What a request that needs keys should do next.
#[derive(Debug, Clone)]
pub enum KeysPlan {
    /// Verify with these keys.
    Ready(Arc<Jwks>),
    /// Fetch this document, hand it to [`JwksCache::fetched`], then plan again.
    Fetch(FetchTarget),
    /// Another request is fetching: wait for it, then plan again.
    Wait,
    /// No usable keys and no fetch allowed now: answer 503.
    Unavailable,
}

#[derive(Debug, Clone)]
struct Keys {
    jwks: Arc<Jwks>,
    fresh_until: UnixTime,
}

/// The JWKS cache of one gateway isolate. Pure state; the host performs the fetches
/// it asks for.
#[derive(Debug, Clone)]
pub struct JwksCache {
    discovery_url: String,
    issuer: String,
    generation: u64,
    cooldown_secs: u64,
    max_stale_secs: u64,
    jwks_uri: Option<String>,
    keys: Option<Keys>,
    last_attempt: Option<UnixTime>,
    in_flight_since: Option<UnixTime>,
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

impl JwksCache {
    /// An empty cache for `issuer`, discovered at `discovery_url`.
    #[must_use]
    pub fn new(
        issuer: &str,
        discovery_url: String,
        cooldown_secs: u64,
        max_stale_secs: u64,
    ) -> Self {
        Self {
            discovery_url,
            issuer: issuer.to_owned(),
            generation: 0,
            cooldown_secs,
            max_stale_secs,
            jwks_uri: None,
            keys: None,
            last_attempt: None,
            in_flight_since: None,
        }
    }

    /// The keys usable at `now` (fresh, or stale within `max_stale`), without fetching.
    #[must_use]
    pub fn usable(&self, now: UnixTime) -> Option<&Arc<Jwks>> {
        self.keys
            .as_ref()
            .filter(|k| now < k.fresh_until.plus(self.max_stale_secs))
            .map(|k| &k.jwks)
    }

    /// The last JWKS fetched, however old.
    #[must_use]
    pub fn current(&self) -> Option<&Arc<Jwks>> {
        self.keys.as_ref().map(|k| &k.jwks)
    }

    /// How many JWK Sets have been taken so far (changes with every good fetch).
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Whether a token already verified with key `kid` may be admitted at `now`
    /// without going through [`Self::plan`]: the keys hold `kid` and are fresh, or
    /// are stale but cannot be refreshed now (a fetch is under way, or the last
    /// attempt is within the cooldown) and still within `max_stale`.
    #[must_use]
    pub fn admits(&self, kid: &str, now: UnixTime) -> bool {
        let Some(keys) = &self.keys else { return false };
        if keys.jwks.find(kid).is_none() {
            return false;
        }
        now < keys.fresh_until
            || (now < keys.fresh_until.plus(self.max_stale_secs)
                && (self.in_flight(now) || !self.cooled_down(now)))
    }

    /// Whether a fetch is under way at `now`.
    #[must_use]
    pub fn in_flight(&self, now: UnixTime) -> bool {
        self.in_flight_since.is_some_and(|since| now < since.plus(FETCH_TIMEOUT_SECS))
    }

    fn cooled_down(&self, now: UnixTime) -> bool {
        self.last_attempt.is_none_or(|at| now >= at.plus(self.cooldown_secs))
    }

    /// Decides how a request with `kid` gets its keys at `now`.
    pub fn plan(&mut self, kid: Option<&str>, now: UnixTime) -> KeysPlan {
        let usable = self.usable(now).cloned();
        let known = |jwks: &Arc<Jwks>| kid.is_some_and(|kid| jwks.find(kid).is_some());
        let fresh = self.keys.as_ref().is_some_and(|k| now < k.fresh_until);
        match &usable {
            // The common case: a fresh set that has the key.
            Some(jwks) if fresh && known(jwks) => return KeysPlan::Ready(Arc::clone(jwks)),
            // A known key while a refresh runs elsewhere: no need to wait.
            Some(jwks) if known(jwks) && self.in_flight(now) => {
                return KeysPlan::Ready(Arc::clone(jwks));
            }
            _ => {}
        }
        if self.in_flight(now) {
            return KeysPlan::Wait;
        }
        // A token without `kid` cannot be matched to a key; refetching will not help.
        let worth_fetching =
            !fresh || (kid.is_some() && usable.as_ref().is_some_and(|j| !known(j)));
        if worth_fetching && self.cooled_down(now) {
            self.last_attempt = Some(now);
            self.in_flight_since = Some(now);
            return KeysPlan::Fetch(match &self.jwks_uri {
                Some(uri) => FetchTarget::Jwks(uri.clone()),
                None => FetchTarget::Discovery(self.discovery_url.clone()),
            });
        }
        match usable {
            Some(jwks) => KeysPlan::Ready(jwks),
            None => KeysPlan::Unavailable,
        }
    }

    /// Takes the outcome of a fetch that [`Self::plan`] asked for. Returns the next
    /// document to fetch in the same round (the JWKS after discovery), if any.
    pub fn fetched(
        &mut self,
        target: &FetchTarget,
        result: Result<Fetched, FetchError>,
        now: UnixTime,
    ) -> Option<FetchTarget> {
        let ok = result.ok().filter(|f| f.status == 200 && f.body.len() <= MAX_DOCUMENT_BYTES);
        match target {
            FetchTarget::Discovery(_) => {
                let doc = ok.and_then(|f| serde_json::from_slice::<Discovery>(&f.body).ok());
                match doc {
                    Some(doc)
                        if doc.issuer.trim_end_matches('/') == self.issuer
                            && self.acceptable_jwks_uri(&doc.jwks_uri) =>
                    {
                        self.jwks_uri = Some(doc.jwks_uri.clone());
                        Some(FetchTarget::Jwks(doc.jwks_uri))
                    }
                    _ => {
                        self.in_flight_since = None;
                        None
                    }
                }
            }
            FetchTarget::Jwks(_) => {
                self.in_flight_since = None;
                let parsed = ok.and_then(|f| {
                    let jwks = Jwks::from_json(&f.body).ok()?;
                    Some((jwks, freshness(f.cache_control.as_deref())))
                });
                match parsed {
                    Some((jwks, secs)) => {
                        self.keys =
                            Some(Keys { jwks: Arc::new(jwks), fresh_until: now.plus(secs) });
                        self.generation += 1;
                    }
                    // Rediscover next time: the issuer may have moved its keys.
                    None => self.jwks_uri = None,
                }
                None
            }
        }
    }

    /// Forgets an in-flight mark (the host's fetch was abandoned).
    pub fn abandon(&mut self) {
        self.in_flight_since = None;
    }

    /// A `jwks_uri` from discovery the gateway will fetch: an `http(s)` URL, and
    /// `https` whenever the issuer is (keys must not arrive over a weaker channel than
    /// the discovery document that named them).
    fn acceptable_jwks_uri(&self, uri: &str) -> bool {
        is_http_url(uri) && (!self.issuer.starts_with("https://") || uri.starts_with("https://"))
    }
}

/// A response body read chunk by chunk and given up on past [`MAX_DOCUMENT_BYTES`],
/// so that a huge (or endless) document costs at most that much memory and reading.
/// The host pushes each chunk as it arrives and cancels the stream when a push fails.
#[derive(Debug, Default)]
pub struct CappedBody {
    bytes: Vec<u8>,
}

/// The body passed [`MAX_DOCUMENT_BYTES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge;

impl CappedBody {
    /// An empty body; `declared` is the `Content-Length`, if any.
    ///
    /// # Errors
    ///
    /// [`TooLarge`] when the declared length is already over the cap (nothing need be
    /// read).
    pub fn new(declared: Option<u64>) -> Result<Self, TooLarge> {
        match declared {
            Some(len) if len > MAX_DOCUMENT_BYTES as u64 => Err(TooLarge),
            Some(len) => Ok(Self { bytes: Vec::with_capacity(usize::try_from(len).unwrap_or(0)) }),
            None => Ok(Self::default()),
        }
    }

    /// Whether a chunk of `len` bytes still fits (check before copying a large one).
    #[must_use]
    pub fn accepts(&self, len: usize) -> bool {
        self.bytes.len().saturating_add(len) <= MAX_DOCUMENT_BYTES
    }

    /// Appends a chunk.
    ///
    /// # Errors
    ///
    /// [`TooLarge`] when the body would pass the cap; stop reading then.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), TooLarge> {
        if !self.accepts(chunk.len()) {
            return Err(TooLarge);
        }
        self.bytes.extend_from_slice(chunk);
        Ok(())
    }

    /// The body read.
    #[must_use]
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

fn is_http_url(url: &str) -> bool {
    (url.starts_with("https://") || url.starts_with("http://"))
        && !url.contains([' ', '\n', '\r', '#'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_body_stops_at_the_cap() {
        assert_eq!(CappedBody::new(Some(MAX_DOCUMENT_BYTES as u64 + 1)).err(), Some(TooLarge));
        let mut body = CappedBody::new(Some(10)).unwrap();
        body.push(&[1; 10]).unwrap();
        assert_eq!(body.into_bytes(), vec![1; 10]);
        // A missing or lying Content-Length does not matter: the pushes are counted.
        for declared in [None, Some(100)] {
            let mut body = CappedBody::new(declared).unwrap();
            let chunk = vec![0; 16 * 1024];
            for _ in 0..4 {
                body.push(&chunk).unwrap();
            }
            assert!(!body.accepts(1));
            assert_eq!(body.push(&[0]), Err(TooLarge));
            assert_eq!(body.into_bytes().len(), MAX_DOCUMENT_BYTES);
        }
    }
}
