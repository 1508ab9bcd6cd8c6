//! The records behind the strong stores and the rules that change them, as pure
//! functions: the memory stores and the worker's Durable Object apply the very same
//! transitions, so the contract holds for both by construction. A transition takes
//! the stored record (if any) and returns the answer plus what to write back.

use serde::{Deserialize, Serialize};

use super::{
    Commit, CommitError, Expect, Rotation, StoreError, Taken, USAGE_BUCKET_SECS,
    USAGE_RETENTION_SECS, UsageBucket, UsageEvent, Versioned,
};
use crate::types::UnixTime;

/// How many rotated-out tokens a family remembers for reuse detection.
pub const RETIRED_TOKENS_KEPT: usize = 256;

/// What a transition asks the store to do with the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write<R> {
    /// Leave it as it is.
    Keep,
    /// Store this record.
    Put(R),
    /// Remove the record.
    Delete,
}

/// Every record carries its expiry, so a store can sweep expired records without
/// knowing their kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expiry {
    /// When the record stops counting.
    pub expires_at: UnixTime,
}

/// A take-once record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnceRecord {
    /// The value.
    pub value: Vec<u8>,
    /// Expiry.
    pub expires_at: UnixTime,
    /// Whether it was taken.
    pub taken: bool,
}

/// [`super::OnceStore::put`].
///
/// # Errors
///
/// [`StoreError::Conflict`] if a live record exists.
pub fn once_put(
    existing: Option<&OnceRecord>,
    value: &[u8],
    expires_at: UnixTime,
    now: UnixTime,
) -> Result<OnceRecord, StoreError> {
    if existing.is_some_and(|r| now < r.expires_at) {
        return Err(StoreError::Conflict);
    }
    Ok(OnceRecord { value: value.to_vec(), expires_at, taken: false })
}

/// [`super::OnceStore::take`].
#[must_use]
pub fn once_take(existing: Option<OnceRecord>, now: UnixTime) -> (Taken, Write<OnceRecord>) {
    match existing {
        None => (Taken::Missing, Write::Keep),
        Some(r) if now >= r.expires_at => (Taken::Missing, Write::Delete),
        Some(r) if r.taken => (Taken::Again(r.value), Write::Keep),
        Some(mut r) => {
            r.taken = true;
            (Taken::First(r.value.clone()), Write::Put(r))
        }
    }
}

/// A refresh token family.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FamilyRecord {
    /// Digest of the current token.
    pub current: [u8; 32],
    /// Digests of rotated-out tokens, oldest first.
    pub retired: Vec<[u8; 32]>,
    /// The family's data (grant, subject, client).
    pub data: Vec<u8>,
    /// Expiry.
    pub expires_at: UnixTime,
    /// Whether the family was revoked.
    pub revoked: bool,
}

/// [`super::RefreshFamilies::create`].
///
/// # Errors
///
/// [`StoreError::Conflict`] if the family exists.
pub fn family_create(
    existing: Option<&FamilyRecord>,
    token: &[u8; 32],
    data: &[u8],
    expires_at: UnixTime,
) -> Result<FamilyRecord, StoreError> {
    if existing.is_some() {
        return Err(StoreError::Conflict);
    }
    Ok(FamilyRecord {
        current: *token,
        retired: Vec::new(),
        data: data.to_vec(),
        expires_at,
        revoked: false,
    })
}

/// [`super::RefreshFamilies::rotate`].
#[must_use]
pub fn family_rotate(
    existing: Option<FamilyRecord>,
    presented: &[u8; 32],
    next: &[u8; 32],
    now: UnixTime,
) -> (Rotation, Write<FamilyRecord>) {
    let Some(mut family) = existing else { return (Rotation::Unknown, Write::Keep) };
    if family.revoked || now >= family.expires_at {
        return (Rotation::Unknown, Write::Keep);
    }
    if family.current == *presented {
        family.retired.push(family.current);
        if family.retired.len() > RETIRED_TOKENS_KEPT {
            family.retired.remove(0);
        }
        family.current = *next;
        return (Rotation::Rotated(family.data.clone()), Write::Put(family));
    }
    if family.retired.contains(presented) {
        family.revoked = true;
        return (Rotation::Reused, Write::Put(family));
    }
    (Rotation::Unknown, Write::Keep)
}

/// [`super::RefreshFamilies::revoke`]: whether a live family was revoked.
#[must_use]
pub fn family_revoke(existing: Option<FamilyRecord>) -> (bool, Write<FamilyRecord>) {
    match existing {
        Some(mut family) if !family.revoked => {
            family.revoked = true;
            (true, Write::Put(family))
        }
        _ => (false, Write::Keep),
    }
}

/// A login session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// The session's data.
    pub data: Vec<u8>,
    /// Expiry.
    pub expires_at: UnixTime,
}

/// [`super::Sessions::get`].
#[must_use]
pub fn session_get(
    existing: Option<SessionRecord>,
    now: UnixTime,
) -> (Option<Vec<u8>>, Write<SessionRecord>) {
    match existing {
        Some(s) if now < s.expires_at => (Some(s.data), Write::Keep),
        Some(_) => (None, Write::Delete),
        None => (None, Write::Keep),
    }
}

/// A counter in its window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterRecord {
    /// The total.
    pub count: u64,
    /// When the window ends (the record's expiry).
    pub expires_at: UnixTime,
}

/// [`super::Counters::add`].
#[must_use]
pub fn counter_add(
    existing: Option<CounterRecord>,
    delta: u64,
    window_end: UnixTime,
    now: UnixTime,
) -> CounterRecord {
    let base = existing
        .filter(|c| now < c.expires_at)
        .unwrap_or(CounterRecord { count: 0, expires_at: window_end });
    CounterRecord { count: base.count.saturating_add(delta), expires_at: base.expires_at }
}

/// [`super::Counters::get`].
#[must_use]
pub fn counter_get(existing: Option<CounterRecord>, now: UnixTime) -> u64 {
    existing.filter(|c| now < c.expires_at).map_or(0, |c| c.count)
}

/// One UTC day of a usage series: its hourly buckets. A series is kept as one record
/// per day (under [`usage_day_key`]), so a tally rewrites a day, not a month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageRecord {
    /// The day's buckets, oldest first.
    pub buckets: Vec<UsageBucket>,
    /// When the day leaves the retention window (the record's expiry).
    pub expires_at: UnixTime,
}

const DAY_SECS: u64 = 86_400;

/// The record key of the day of `series` that holds `at`.
#[must_use]
pub fn usage_day_key(series: &str, at: UnixTime) -> String {
    format!("{series}/{}", at.as_secs() / DAY_SECS)
}

/// The record keys of every day of `series` still retained at `now`, oldest first.
#[must_use]
pub fn usage_day_keys(series: &str, now: UnixTime) -> Vec<String> {
    let first = now.minus(USAGE_RETENTION_SECS).as_secs() / DAY_SECS;
    let last = now.as_secs() / DAY_SECS;
    (first..=last).map(|day| format!("{series}/{day}")).collect()
}

/// [`super::Counters::tally`]: counts `event` in the bucket holding `now`, in the
/// record of `now`'s day (see [`usage_day_key`]).
#[must_use]
pub fn usage_tally(existing: Option<UsageRecord>, event: UsageEvent, now: UnixTime) -> UsageRecord {
    let start = UnixTime::from_secs(now.as_secs() - now.as_secs() % USAGE_BUCKET_SECS);
    let mut buckets = existing.map(|r| r.buckets).unwrap_or_default();
    let i = buckets.partition_point(|b| b.start < start);
    if buckets.get(i).is_none_or(|b| b.start != start) {
        buckets.insert(i, UsageBucket { start, logins: 0, registrations: 0, failures: 0 });
    }
    if let Some(bucket) = buckets.get_mut(i) {
        let count = match event {
            UsageEvent::Login => &mut bucket.logins,
            UsageEvent::Registration => &mut bucket.registrations,
            UsageEvent::Failure => &mut bucket.failures,
        };
        *count = count.saturating_add(1);
    }
    let day_end = (now.as_secs() / DAY_SECS + 1) * DAY_SECS;
    UsageRecord { buckets, expires_at: UnixTime::from_secs(day_end).plus(USAGE_RETENTION_SECS) }
}

/// [`super::Counters::usage`]: the buckets of the day records `days` (oldest first)
/// still retained at `now`.
#[must_use]
pub fn usage_read(
    days: impl IntoIterator<Item = Option<UsageRecord>>,
    now: UnixTime,
) -> Vec<UsageBucket> {
    let oldest = now.minus(USAGE_RETENTION_SECS);
    days.into_iter()
        .flatten()
        .flat_map(|day| day.buckets)
        .filter(|b| b.start.plus(USAGE_BUCKET_SECS) > oldest)
        .collect()
}

/// What a registry commit changes, for the store to write in one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryChange {
    /// The record to store, or `None` to delete it.
    pub record: Option<Versioned>,
    /// Names to point at the record's key.
    pub claim: Vec<String>,
    /// Names to remove.
    pub release: Vec<String>,
    /// Other records to delete.
    pub cascade: Vec<String>,
}

/// [`super::Registry::commit`]: checks the version and the names against the current
/// record and the current holders of the claimed names (`holders`, the key holding
/// each claimed name, in the order of `commit.claim`).
///
/// # Errors
///
/// [`CommitError`] when the version or a name does not allow the commit.
pub fn registry_commit(
    current: Option<&Versioned>,
    holders: &[Option<String>],
    commit: &Commit,
) -> Result<RegistryChange, CommitError> {
    let version = match (commit.expect, current) {
        (Expect::Absent, None) => 0,
        (Expect::Absent, Some(_)) => return Err(CommitError::VersionMismatch),
        (Expect::Version(_) | Expect::Present, None) => return Err(CommitError::Missing),
        (Expect::Version(v), Some(c)) if v != c.version => {
            return Err(CommitError::VersionMismatch);
        }
        (_, Some(c)) => c.version,
    };
    for (name, holder) in commit.claim.iter().zip(holders) {
        if holder.as_deref().is_some_and(|h| h != commit.key) {
            return Err(CommitError::NameTaken(name.clone()));
        }
    }
    let record = commit.record.clone().map(|record| Versioned { version: version + 1, record });
    let released = commit.release.iter().filter(|n| !commit.claim.contains(n)).cloned().collect();
    let cascade = commit.cascade.iter().filter(|k| **k != commit.key).cloned().collect();
    Ok(RegistryChange { record, claim: commit.claim.clone(), release: released, cascade })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_days_split_at_utc_midnight_and_read_back_in_order() {
        let midnight = UnixTime::from_secs(20_000 * 86_400);
        let before = midnight.minus(1);
        assert_ne!(usage_day_key("s", before), usage_day_key("s", midnight));
        let first = usage_tally(None, UsageEvent::Login, before);
        let first = usage_tally(Some(first), UsageEvent::Failure, before);
        let second = usage_tally(None, UsageEvent::Registration, midnight);
        assert_eq!(first.expires_at, midnight.plus(USAGE_RETENTION_SECS));
        let keys = usage_day_keys("s", midnight);
        assert_eq!(keys.last(), Some(&usage_day_key("s", midnight)));
        assert_eq!(keys.len(), 32);
        let read = usage_read([None, Some(first), Some(second)], midnight);
        let counts: Vec<(u64, u64, u64)> =
            read.iter().map(|b| (b.logins, b.registrations, b.failures)).collect();
        assert_eq!(counts, vec![(1, 0, 1), (0, 1, 0)]);
        assert!(read.first().is_some_and(|b| b.start < midnight));
        let much_later = midnight.plus(USAGE_RETENTION_SECS + USAGE_BUCKET_SECS);
        let second = usage_tally(None, UsageEvent::Registration, midnight);
        assert_eq!(usage_read([Some(second)], much_later).len(), 0);
    }
}
