//! Throttling failed client authentication at the token endpoint, so that guessing a
//! client secret (or the bootstrap client's) online is impractical.
//!
//! Failures are counted per client and source address: the client id presented,
//! whether or not it exists (so the answer says nothing about which ids exist), and
//! the address in `CF-Connecting-IP` (an IPv6 address by its /64, which one host
//! usually holds whole; without the header, as in local tests, one fixed address).
//!
//! - Only a failure touches shared state: it adds one to the pair's counter in
//!   [`crate::store::Counters`] (a window of [`FAILURE_WINDOW_SECS`] from the first
//!   failure).
//! - When the counter reaches [`MAX_FAILURES`], the pair gets a penalty of
//!   [`FIRST_PENALTY_SECS`], doubling with every further failure in the window, up
//!   to [`MAX_PENALTY_SECS`] ([`penalty_secs`]). The failing request is answered
//!   429 with `Retry-After`.
//! - The isolate that learned of the penalty keeps it in its [`PenaltyBox`] and
//!   refuses the pair at once, before its credentials are checked and without a
//!   store call, even with the right secret, until the penalty ends.
//! - A request that authenticates and is not penalized makes no call for the
//!   throttle at all.
//!
//! # Security
//!
//! The penalty box is per isolate (the host keeps one for as long as the isolate
//! lives). Another isolate learns of a penalty on the pair's next failure there: at
//! most one guess per isolate slips through while a pair is penalized, and each such
//! guess doubles the penalty. The address comes from `CF-Connecting-IP`, which
//! Cloudflare's edge sets; run anywhere else, a client can choose it.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::IpAddr;

use http::{HeaderMap, HeaderValue, StatusCode, header};
use sha2::Digest as _;

use crate::error::{ErrorCode, OAuthError};
use crate::http::Response;
use crate::jose::b64url;
use crate::store::schema;
use crate::types::{ClientId, UnixTime};

/// Failures a pair may make within a window before it is penalized.
pub const MAX_FAILURES: u64 = 10;
/// The window failures are counted in, from the first failure (seconds).
pub const FAILURE_WINDOW_SECS: u64 = 3600;
/// The penalty at [`MAX_FAILURES`] failures (seconds).
pub const FIRST_PENALTY_SECS: u64 = 60;
/// The longest penalty (seconds).
pub const MAX_PENALTY_SECS: u64 = 900;
/// The most penalties one isolate remembers; past it, the one ending first goes.
pub const MAX_PENALTIES: usize = 4096;
/// The header Cloudflare's edge sets to the client's address.
pub const SOURCE_HEADER: &str = "cf-connecting-ip";

/// The penalty for a pair that has failed `failures` times in the window, if any:
/// none below [`MAX_FAILURES`], then [`FIRST_PENALTY_SECS`] doubling per failure,
/// at most [`MAX_PENALTY_SECS`].
#[must_use]
pub fn penalty_secs(failures: u64) -> Option<u64> {
    let excess = failures.checked_sub(MAX_FAILURES)?;
    // Past 2^16 doublings every value is over the cap; below, nothing overflows.
    let shift = u32::try_from(excess.min(16)).unwrap_or(16);
    Some((FIRST_PENALTY_SECS << shift).min(MAX_PENALTY_SECS))
}

/// A client and the address it calls from, as one opaque digest: the key of its
/// failure counter and of its place in the [`PenaltyBox`].
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Attempt([u8; 32]);

impl Attempt {
    /// The pair of `client_id` and the source address in `headers`.
    #[must_use]
    pub fn new(client_id: &ClientId, headers: &HeaderMap) -> Self {
        Self::from_source(client_id, source(headers).as_deref())
    }

    /// The pair of `client_id` and `address` (already normalised; `None` when unknown).
    #[must_use]
    fn from_source(client_id: &ClientId, address: Option<&str>) -> Self {
        let mut digest = sha2::Sha256::new();
        digest.update(b"gatehouse client authentication attempt\0");
        digest.update(client_id.as_str().as_bytes());
        digest.update(b"\0");
        digest.update(address.unwrap_or("unknown").as_bytes());
        Self(digest.finalize().into())
    }

    /// The key of the pair's failure counter.
    #[must_use]
    pub fn counter_key(&self) -> String {
        schema::auth_failures(&self.0)
    }
}

impl std::fmt::Debug for Attempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Attempt").field(&b64url(self.0.get(..6).unwrap_or_default())).finish()
    }
}

/// The source address from `CF-Connecting-IP`, normalised: IPv4 as is (also when
/// written IPv4-mapped), IPv6 as its /64 prefix. `None` when absent or unreadable.
pub(crate) fn source(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(SOURCE_HEADER)?.to_str().ok()?;
    match value.trim().parse::<IpAddr>().ok()? {
        IpAddr::V4(ip) => Some(ip.to_string()),
        IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
            Some(v4) => Some(v4.to_string()),
            None => {
                let [a, b, c, d, ..] = ip.segments();
                Some(format!("{a:x}:{b:x}:{c:x}:{d:x}::/64"))
            }
        },
    }
}

/// The pairs this isolate knows to be penalized, and until when. The host keeps one
/// for the life of the isolate and hands it to every engine it builds
/// ([`crate::Engine::with_penalty_box`]); time is passed in.
#[derive(Debug, Default)]
pub struct PenaltyBox {
    until: RefCell<HashMap<Attempt, UnixTime>>,
}

impl PenaltyBox {
    /// An empty box.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// When the penalty of `attempt` ends, if it is penalized at `now`.
    #[must_use]
    pub fn penalized_until(&self, attempt: &Attempt, now: UnixTime) -> Option<UnixTime> {
        self.until.borrow().get(attempt).copied().filter(|until| now < *until)
    }

    /// Penalizes `attempt` until `until` (or longer, if it already is).
    pub fn impose(&self, attempt: Attempt, until: UnixTime, now: UnixTime) {
        let mut map = self.until.borrow_mut();
        if map.len() >= MAX_PENALTIES && !map.contains_key(&attempt) {
            map.retain(|_, end| now < *end);
            if map.len() >= MAX_PENALTIES {
                let first = map.iter().min_by_key(|(_, end)| **end).map(|(key, _)| *key);
                if let Some(first) = first {
                    map.remove(&first);
                }
            }
        }
        let end = map.entry(attempt).or_insert(until);
        *end = (*end).max(until);
    }

    /// How many pairs the box holds (ended penalties included until swept).
    #[must_use]
    pub fn len(&self) -> usize {
        self.until.borrow().len()
    }

    /// Whether the box holds nothing.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The answer to a penalized pair: 429 with `Retry-After`, RFC 6749 JSON with
/// `temporarily_unavailable` (not `invalid_client`: that one must be a 401 with a
/// challenge for a Basic client, and the credentials were not even checked).
#[must_use]
pub fn too_many_failures(retry_after_secs: u64) -> Response {
    let mut response = OAuthError::new(
        ErrorCode::TemporarilyUnavailable,
        "too many failed client authentications, retry later",
    )
    .with_status(StatusCode::TOO_MANY_REQUESTS)
    .into_response();
    if let Ok(value) = HeaderValue::from_str(&retry_after_secs.max(1).to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> ClientId {
        ClientId::new(s).unwrap()
    }

    fn from(address: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(SOURCE_HEADER, HeaderValue::from_str(address).unwrap());
        headers
    }

    #[test]
    fn penalties_start_at_the_threshold_and_double_to_the_cap() {
        assert_eq!(penalty_secs(0), None);
        assert_eq!(penalty_secs(MAX_FAILURES - 1), None);
        assert_eq!(penalty_secs(MAX_FAILURES), Some(60));
        assert_eq!(penalty_secs(MAX_FAILURES + 1), Some(120));
        assert_eq!(penalty_secs(MAX_FAILURES + 3), Some(480));
        assert_eq!(penalty_secs(MAX_FAILURES + 4), Some(MAX_PENALTY_SECS));
        assert_eq!(penalty_secs(MAX_FAILURES + 64), Some(MAX_PENALTY_SECS));
        assert_eq!(penalty_secs(u64::MAX), Some(MAX_PENALTY_SECS));
    }

    #[test]
    fn pairs_are_per_client_and_address() {
        let a = Attempt::new(&id("app"), &from("203.0.113.7"));
        assert_eq!(a, Attempt::new(&id("app"), &from(" 203.0.113.7 ")));
        assert_eq!(a, Attempt::new(&id("app"), &from("::ffff:203.0.113.7")));
        assert_ne!(a, Attempt::new(&id("app"), &from("203.0.113.8")));
        assert_ne!(a, Attempt::new(&id("other"), &from("203.0.113.7")));
        // One host usually holds a whole /64.
        let v6 = Attempt::new(&id("app"), &from("2001:db8:1:2::1"));
        assert_eq!(v6, Attempt::new(&id("app"), &from("2001:db8:1:2:ffff::9")));
        assert_ne!(v6, Attempt::new(&id("app"), &from("2001:db8:1:3::1")));
        // Without a readable address, every request shares one.
        let unknown = Attempt::new(&id("app"), &HeaderMap::new());
        assert_eq!(unknown, Attempt::new(&id("app"), &from("not an address")));
        assert!(a.counter_key().starts_with(schema::AUTH_FAILURES_PREFIX));
        assert!(a.counter_key().len() < 64);
    }

    #[test]
    fn the_box_holds_a_penalty_until_it_ends() {
        let penalties = PenaltyBox::new();
        let a = Attempt::new(&id("app"), &from("203.0.113.7"));
        let t = UnixTime::from_secs(1_000);
        assert_eq!(penalties.penalized_until(&a, t), None);
        penalties.impose(a, t.plus(60), t);
        penalties.impose(a, t.plus(30), t);
        assert_eq!(penalties.penalized_until(&a, t.plus(59)), Some(t.plus(60)));
        assert_eq!(penalties.penalized_until(&a, t.plus(60)), None);
        let b = Attempt::new(&id("app"), &from("203.0.113.8"));
        assert_eq!(penalties.penalized_until(&b, t), None);
    }

    #[test]
    fn a_full_box_drops_ended_penalties_then_the_one_ending_first() {
        let penalties = PenaltyBox::new();
        let t = UnixTime::from_secs(1_000);
        let attempt = |i: usize| Attempt::new(&id(&format!("app{i}")), &HeaderMap::new());
        for i in 0..MAX_PENALTIES {
            let secs = if i == 0 { 10 } else { 1_000 + i as u64 };
            penalties.impose(attempt(i), t.plus(secs), t);
        }
        penalties.impose(attempt(MAX_PENALTIES), t.plus(5_000), t.plus(20));
        assert_eq!(penalties.len(), MAX_PENALTIES, "the ended penalty went");
        penalties.impose(attempt(MAX_PENALTIES + 1), t.plus(5_000), t.plus(20));
        assert_eq!(penalties.len(), MAX_PENALTIES);
        assert_eq!(penalties.penalized_until(&attempt(1), t.plus(20)), None, "ending first");
        assert!(penalties.penalized_until(&attempt(2), t.plus(20)).is_some());
    }

    #[test]
    fn the_answer_is_a_429_with_retry_after() {
        let response = too_many_failures(42);
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()[header::RETRY_AFTER], "42");
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
        let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(body["error"], "temporarily_unavailable");
        assert_eq!(too_many_failures(0).headers()[header::RETRY_AFTER], "1");
    }
}
