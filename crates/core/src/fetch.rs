//! Outbound requests: GETs of public documents (the issuer's JWKS for the edge
//! gateway, an app's `jwks_uri` for `private_key_jwt`), and the POSTs of an app's
//! lifecycle hooks ([`Fetch::post`], see the `hooks` module).
//!
//! Where a URL someone registered may point is [`check_destination`]'s rule (public
//! `https` hosts only unless the operator sets `INSECURE_ALLOW_PRIVATE_FETCH=true`);
//! the engine applies it when the URL is registered and again before every fetch.
//!
//! The host performs the request (`fetch` in the worker, a map of canned documents in
//! tests); [`DocumentCache`] is the one caching policy hosts keep per isolate:
//!
//! - a copy is fresh for its `Cache-Control` max-age, within [`MIN_FRESH_SECS`] and
//!   [`MAX_FRESH_SECS`];
//! - it is refetched early only when asked to revalidate (a `kid` was not found), at
//!   most once per [`REVALIDATE_COOLDOWN_SECS`], so made-up key ids cannot turn the
//!   issuer into a request amplifier;
//! - when a fetch fails (no answer, or not a 200), the last good copy stands in for
//!   up to [`MAX_STALE_SECS`] past its freshness, and the document is retried at
//!   most once per cooldown, so a flapping key host neither locks its app out at
//!   once nor gets a request per token.

mod destination;

use std::collections::HashMap;

pub use destination::{FetchPolicy, FetchUrl, check_destination};

use crate::types::UnixTime;

/// Freshness when a response has no usable `Cache-Control` (seconds).
pub const DEFAULT_FRESH_SECS: u64 = 300;
/// Shortest freshness, whatever the header says (`no-cache` included).
pub const MIN_FRESH_SECS: u64 = 10;
/// Longest freshness, whatever the header says.
pub const MAX_FRESH_SECS: u64 = 3600;
/// The largest document read (64 KiB): discovery, a JWKS.
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;

/// Seconds of freshness a `Cache-Control` value grants (RFC 9111 section 5.2.2),
/// clamped to [`MIN_FRESH_SECS`]..=[`MAX_FRESH_SECS`].
#[must_use]
pub fn freshness(cache_control: Option<&str>) -> u64 {
    let Some(value) = cache_control else { return DEFAULT_FRESH_SECS };
    let mut max_age = None;
    for directive in value.split(',') {
        let directive = directive.trim().to_ascii_lowercase();
        if directive == "no-store" || directive == "no-cache" {
            return MIN_FRESH_SECS;
        }
        if let Some(secs) = directive.strip_prefix("max-age=") {
            max_age = secs.trim_matches('"').parse::<u64>().ok();
        }
    }
    max_age.unwrap_or(DEFAULT_FRESH_SECS).clamp(MIN_FRESH_SECS, MAX_FRESH_SECS)
}

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

/// The largest answer read from a hook (16 KiB); a longer one is a failure.
pub const MAX_HOOK_ANSWER_BYTES: usize = 16 * 1024;

/// A POST to send: a hook delivery, already signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Post {
    /// Where to (a destination [`check_destination`] allowed).
    pub url: String,
    /// Request headers besides `content-type: application/json`.
    pub headers: Vec<(String, String)>,
    /// The JSON body.
    pub body: Vec<u8>,
    /// How long to wait for the whole answer, in milliseconds.
    pub timeout_ms: u32,
}

/// Why a POST got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostError {
    /// No answer within the timeout.
    TimedOut,
    /// The request failed (connection refused, DNS, TLS, an answer over
    /// [`MAX_HOOK_ANSWER_BYTES`]).
    Failed,
}

impl std::fmt::Display for PostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::TimedOut => "timed out",
            Self::Failed => "request failed",
        })
    }
}

impl std::error::Error for PostError {}

/// Outbound requests for the engine.
#[allow(async_fn_in_trait)]
pub trait Fetch {
    /// POSTs `post` once, redirects not followed, nothing cached, and reads at most
    /// [`MAX_HOOK_ANSWER_BYTES`] of the answer, all within `post.timeout_ms`. The
    /// answer's `cache_control` is unused.
    ///
    /// # Errors
    ///
    /// [`PostError`] when no whole answer came back in time. Any status is an answer.
    async fn post(&self, post: &Post) -> Result<Fetched, PostError>;

    /// GETs `url` (`https`, and a destination [`check_destination`] allowed). A host answers from its [`DocumentCache`] while the
    /// copy is fresh; with `revalidate` it fetches anew unless its copy is younger
    /// than [`REVALIDATE_COOLDOWN_SECS`]. Redirects are not followed.
    ///
    /// # Errors
    ///
    /// [`FetchError`] when no answer came back. Any HTTP status is an answer.
    async fn get(&self, url: &str, revalidate: bool, now: UnixTime) -> Result<Fetched, FetchError>;
}

/// The shortest time between two fetches of one document on revalidation or after
/// a failure.
pub const REVALIDATE_COOLDOWN_SECS: u64 = MIN_FRESH_SECS;
/// How long past its freshness a good copy stands in while the document cannot be
/// fetched.
pub const MAX_STALE_SECS: u64 = 3600;
/// The most documents a cache holds; beyond it, it starts over.
pub const MAX_CACHED_DOCUMENTS: usize = 256;

#[derive(Debug, Clone)]
struct Entry {
    fetched: Fetched,
    fetched_at: UnixTime,
    fresh_until: UnixTime,
    failed_at: Option<UnixTime>,
}

impl Entry {
    fn cooling(&self, now: UnixTime) -> bool {
        let last_try = self.failed_at.map_or(self.fetched_at, |f| f.max(self.fetched_at));
        now < last_try.plus(REVALIDATE_COOLDOWN_SECS)
    }

    fn stale_usable(&self, now: UnixTime) -> bool {
        now < self.fresh_until.plus(MAX_STALE_SECS)
    }
}

/// Good (200) documents by URL, each kept for its `Cache-Control` freshness, and
/// past it while the document cannot be fetched.
#[derive(Debug, Default)]
pub struct DocumentCache {
    entries: HashMap<String, Entry>,
}

impl DocumentCache {
    /// The copy of `url` to use at `now` without fetching: a fresh one; on
    /// `revalidate` only one fetched within the cooldown; and a stale one while a
    /// failed fetch is within the cooldown.
    #[must_use]
    pub fn lookup(&self, url: &str, revalidate: bool, now: UnixTime) -> Option<Fetched> {
        let entry = self.entries.get(url)?;
        let usable = if revalidate || now >= entry.fresh_until {
            entry.cooling(now) && entry.stale_usable(now)
        } else {
            true
        };
        usable.then(|| entry.fetched.clone())
    }

    /// Takes the outcome of fetching `url` and returns what the host should answer: a
    /// good 200 is remembered and returned; a failure (no answer, another status, an
    /// oversized body) is returned as is unless a good copy may stand in for it.
    ///
    /// # Errors
    ///
    /// The fetch's own [`FetchError`] when it failed and no copy may stand in.
    pub fn answer(
        &mut self,
        url: &str,
        outcome: Result<Fetched, FetchError>,
        now: UnixTime,
    ) -> Result<Fetched, FetchError> {
        let good =
            outcome.as_ref().is_ok_and(|f| f.status == 200 && f.body.len() <= MAX_DOCUMENT_BYTES);
        if good {
            let fetched = outcome?;
            if self.entries.len() >= MAX_CACHED_DOCUMENTS && !self.entries.contains_key(url) {
                self.entries.clear();
            }
            let fresh_until = now.plus(freshness(fetched.cache_control.as_deref()));
            let entry =
                Entry { fetched: fetched.clone(), fetched_at: now, fresh_until, failed_at: None };
            self.entries.insert(url.to_owned(), entry);
            return Ok(fetched);
        }
        match self.entries.get_mut(url) {
            Some(entry) if entry.stale_usable(now) => {
                entry.failed_at = Some(now);
                Ok(entry.fetched.clone())
            }
            Some(_) => {
                self.entries.remove(url);
                outcome
            }
            None => outcome,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://a/jwks";

    fn doc(status: u16, cache_control: Option<&str>) -> Fetched {
        Fetched { status, cache_control: cache_control.map(str::to_owned), body: b"{}".to_vec() }
    }

    #[test]
    fn cache_control_freshness() {
        assert_eq!(freshness(None), DEFAULT_FRESH_SECS);
        assert_eq!(freshness(Some("public, max-age=300")), 300);
        assert_eq!(freshness(Some("max-age=0")), MIN_FRESH_SECS);
        assert_eq!(freshness(Some("max-age=99999999")), MAX_FRESH_SECS);
        assert_eq!(freshness(Some("no-store")), MIN_FRESH_SECS);
        assert_eq!(freshness(Some("max-age=abc")), DEFAULT_FRESH_SECS);
    }

    #[test]
    fn fresh_copies_are_served_until_max_age() {
        let mut cache = DocumentCache::default();
        let t = UnixTime::from_secs(1_000);
        assert!(cache.answer(URL, Ok(doc(200, Some("max-age=120"))), t).is_ok());
        assert!(cache.lookup(URL, false, t.plus(119)).is_some());
        assert!(cache.lookup(URL, false, t.plus(120)).is_none());
        assert!(cache.lookup("https://b/jwks", false, t).is_none());
    }

    #[test]
    fn revalidation_refetches_after_the_cooldown_only() {
        let mut cache = DocumentCache::default();
        let t = UnixTime::from_secs(1_000);
        assert!(cache.answer(URL, Ok(doc(200, None)), t).is_ok());
        assert!(cache.lookup(URL, true, t.plus(REVALIDATE_COOLDOWN_SECS - 1)).is_some());
        assert!(cache.lookup(URL, true, t.plus(REVALIDATE_COOLDOWN_SECS)).is_none());
    }

    #[test]
    fn a_good_copy_stands_in_for_failures_until_max_stale() {
        let mut cache = DocumentCache::default();
        let t = UnixTime::from_secs(1_000);
        assert!(cache.answer(URL, Ok(doc(200, Some("max-age=60"))), t).is_ok());
        let down = t.plus(61);
        assert!(cache.lookup(URL, false, down).is_none(), "stale: fetch again first");
        assert_eq!(cache.answer(URL, Ok(doc(503, None)), down).map(|f| f.status), Ok(200));
        assert!(cache.lookup(URL, false, down.plus(1)).is_some(), "no refetch in the cooldown");
        let retry = down.plus(REVALIDATE_COOLDOWN_SECS);
        assert!(cache.lookup(URL, false, retry).is_none(), "retried after the cooldown");
        assert!(cache.answer(URL, Err(FetchError), retry).is_ok());
        let gone = t.plus(60 + MAX_STALE_SECS);
        assert_eq!(cache.answer(URL, Err(FetchError), gone), Err(FetchError));
        assert_eq!(cache.answer(URL, Ok(doc(404, None)), gone).map(|f| f.status), Ok(404));
    }

    #[test]
    fn failures_without_a_good_copy_pass_through() {
        let mut cache = DocumentCache::default();
        let t = UnixTime::from_secs(1_000);
        assert_eq!(cache.answer(URL, Err(FetchError), t), Err(FetchError));
        let big = Fetched { body: vec![b' '; MAX_DOCUMENT_BYTES + 1], ..doc(200, None) };
        assert_eq!(cache.answer(URL, Ok(big), t).map(|f| f.body.len()), Ok(MAX_DOCUMENT_BYTES + 1));
        assert!(cache.lookup(URL, false, t).is_none());
    }

    #[test]
    fn a_full_cache_starts_over() {
        let mut cache = DocumentCache::default();
        let t = UnixTime::from_secs(1_000);
        for i in 0..MAX_CACHED_DOCUMENTS {
            assert!(cache.answer(&format!("https://a/{i}"), Ok(doc(200, None)), t).is_ok());
        }
        assert!(cache.answer("https://a/new", Ok(doc(200, None)), t).is_ok());
        assert!(cache.lookup("https://a/0", false, t).is_none());
        assert!(cache.lookup("https://a/new", false, t).is_some());
    }
}
