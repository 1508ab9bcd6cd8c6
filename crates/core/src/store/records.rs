//! The records behind the strong stores and the rules that change them, as pure
//! functions: the memory stores and the worker's Durable Object apply the very same
//! transitions, so the contract holds for both by construction. A transition takes
//! the stored record (if any) and returns the answer plus what to write back.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{
    Commit, CommitError, Expect, Rotation, StoreError, Taken, USAGE_BUCKET_SECS,
    USAGE_RETENTION_SECS, UsageBucket, UsageCounts, Versioned,
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
    #[serde(with = "super::bytes")]
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
    #[serde(with = "super::bytes::digest")]
    pub current: [u8; 32],
    /// Digests of rotated-out tokens, oldest first.
    #[serde(with = "super::bytes::digests")]
    pub retired: Vec<[u8; 32]>,
    /// The family's data (grant, subject, client).
    #[serde(with = "super::bytes")]
    pub data: Vec<u8>,
    /// Expiry.
    pub expires_at: UnixTime,
    /// Whether the family was revoked.
    pub revoked: bool,
    /// When the current token took over (the start of the grace window).
    pub rotated_at: UnixTime,
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
    now: UnixTime,
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
        rotated_at: now,
    })
}

/// [`super::RefreshFamilies::rotate`]. Within `grace_secs` of a rotation, the
/// token it rotated out may rotate again to the same successor (`next` must be the
/// current token): a retry after a lost response, not a theft.
#[must_use]
pub fn family_rotate(
    existing: Option<FamilyRecord>,
    presented: &[u8; 32],
    next: &[u8; 32],
    grace_secs: u64,
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
        family.rotated_at = now;
        return (Rotation::Rotated(family.data.clone()), Write::Put(family));
    }
    if family.retired.last() == Some(presented)
        && family.current == *next
        && now < family.rotated_at.plus(grace_secs)
    {
        return (Rotation::Rotated(family.data.clone()), Write::Keep);
    }
    if family.retired.contains(presented) {
        family.revoked = true;
        return (Rotation::Reused, Write::Put(family));
    }
    (Rotation::Unknown, Write::Keep)
}

/// [`super::RefreshFamilies::inspect`]: the data of a live family whose current
/// token is `presented`.
#[must_use]
pub fn family_inspect(
    existing: Option<&FamilyRecord>,
    presented: &[u8; 32],
    now: UnixTime,
) -> Option<Vec<u8>> {
    existing
        .filter(|f| !f.revoked && now < f.expires_at && f.current == *presented)
        .map(|f| f.data.clone())
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
    #[serde(with = "super::bytes")]
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

/// [`super::Sessions::swap`]: `data` (or a deletion) if the live data is `expected`.
#[must_use]
pub fn session_swap(
    existing: Option<SessionRecord>,
    expected: Option<&[u8]>,
    data: Option<&[u8]>,
    expires_at: UnixTime,
    now: UnixTime,
) -> (bool, Write<SessionRecord>) {
    let live = existing.as_ref().filter(|s| now < s.expires_at).map(|s| s.data.as_slice());
    if live != expected {
        return (false, Write::Keep);
    }
    let write = match data {
        Some(data) => Write::Put(SessionRecord { data: data.to_vec(), expires_at }),
        None if existing.is_some() => Write::Delete,
        None => Write::Keep,
    };
    (true, write)
}

/// The consent policy versions one user accepted, by the app's client id (the
/// data of the user's record in the sessions store).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyAcceptances {
    /// What the user accepted of each app.
    pub apps: BTreeMap<String, PolicyAcceptance>,
}

/// One accepted version of an app's consent policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyAcceptance {
    /// The version accepted.
    pub version: u64,
    /// When.
    pub accepted_at: UnixTime,
}

/// The user accepted `version` of `client_id`'s policy at `now`: it replaces what
/// they had accepted of that app.
#[must_use]
pub fn policy_accept(
    mut existing: PolicyAcceptances,
    client_id: &str,
    version: u64,
    now: UnixTime,
) -> PolicyAcceptances {
    existing.apps.insert(client_id.to_owned(), PolicyAcceptance { version, accepted_at: now });
    existing
}

/// Withdraws the user's acceptance of `client_id`'s policy; says whether there was
/// one, and deletes the record once it holds nothing.
#[must_use]
pub fn policy_withdraw(
    mut existing: PolicyAcceptances,
    client_id: &str,
) -> (bool, Write<PolicyAcceptances>) {
    if existing.apps.remove(client_id).is_none() {
        return (false, Write::Keep);
    }
    if existing.apps.is_empty() { (true, Write::Delete) } else { (true, Write::Put(existing)) }
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

/// [`super::Counters::tally`]: adds `counts` to the bucket holding `at`, in the
/// record of `at`'s day (see [`usage_day_key`]).
#[must_use]
pub fn usage_tally(
    existing: Option<UsageRecord>,
    counts: UsageCounts,
    at: UnixTime,
) -> UsageRecord {
    let start = UnixTime::from_secs(at.as_secs() - at.as_secs() % USAGE_BUCKET_SECS);
    let mut buckets = existing.map(|r| r.buckets).unwrap_or_default();
    let i = buckets.partition_point(|b| b.start < start);
    if buckets.get(i).is_none_or(|b| b.start != start) {
        buckets.insert(i, UsageBucket::empty(start));
    }
    if let Some(bucket) = buckets.get_mut(i) {
        bucket.add(counts);
    }
    let day_end = (at.as_secs() / DAY_SECS + 1) * DAY_SECS;
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

/// The storage key prefix of pending publications: `pub:<directory key>`.
pub const OUTBOX_PREFIX: &str = "pub:";

/// One pending publication of the outbox: what the [`super::Directory`] must hold
/// under `key`. The single writer (the registry, the keyring) records it in the same
/// storage step as the change it publishes, one per directory key (a newer change of
/// the key replaces an older pending one), and deletes it once written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Publication {
    /// The writer's commit sequence number: publications go out in this order.
    pub seq: u64,
    /// The directory key.
    pub key: String,
    /// The JSON to store, or `None` to remove the key.
    pub value: Option<String>,
}

impl Publication {
    /// The outbox storage key of this publication.
    #[must_use]
    pub fn outbox_key(&self) -> String {
        format!("{OUTBOX_PREFIX}{}", self.key)
    }
}

/// What a registry commit must publish, numbered from `seq`: the cascaded removals,
/// then the record (or its removal), then the sign-in names it releases and claims
/// ([`super::schema::is_sign_in_name`]). Returns the publications and the next `seq`.
///
/// # Errors
///
/// [`CommitError::Unavailable`] if the record does not serialize.
pub fn commit_publications(
    key: &str,
    change: &RegistryChange,
    seq: u64,
) -> Result<(Vec<Publication>, u64), CommitError> {
    let mut out = Vec::with_capacity(change.cascade.len() + 1);
    let mut next = seq;
    for removed in &change.cascade {
        out.push(Publication { seq: next, key: removed.clone(), value: None });
        next += 1;
    }
    let value = change
        .record
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|_| CommitError::Unavailable)?;
    out.push(Publication { seq: next, key: key.to_owned(), value });
    next += 1;
    // Sign-in names are published too (the record key they point at), so the login
    // page finds a user by username or email on the read path.
    for name in change.release.iter().filter(|n| super::schema::is_sign_in_name(n)) {
        out.push(Publication { seq: next, key: name.clone(), value: None });
        next += 1;
    }
    if change.record.is_some() {
        let pointer = serde_json::to_string(key).map_err(|_| CommitError::Unavailable)?;
        for name in change.claim.iter().filter(|n| super::schema::is_sign_in_name(n)) {
            out.push(Publication { seq: next, key: name.clone(), value: Some(pointer.clone()) });
            next += 1;
        }
    }
    Ok((out, next))
}

/// The pending publications in the order they must go out: commit order.
#[must_use]
pub fn publish_order(mut pending: Vec<Publication>) -> Vec<Publication> {
    pending.sort_by_key(|p| p.seq);
    pending
}

/// After `published` was written to the directory: remove it from the outbox only if
/// the outbox still holds that very publication. A newer change recorded meanwhile
/// stays, so it goes out next and the directory never keeps the older one.
#[must_use]
pub fn settle_publication(
    current: Option<&Publication>,
    published: &Publication,
) -> Write<Publication> {
    match current {
        Some(c) if c.seq == published.seq => Write::Delete,
        _ => Write::Keep,
    }
}

/// What to do with a publication the directory did not accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Keep it and try again after this many seconds (publication stops here, so
    /// later publications keep their order).
    After(u64),
    /// Drop it: the directory refuses it for good (a malformed key or an oversized
    /// value), and retrying would block every later publication.
    Drop,
}

/// The longest wait between two publication attempts.
pub const PUBLISH_RETRY_MAX_SECS: u64 = 10;

/// The retry decision after the `failures`-th failed attempt in a row (1 for the
/// first): 1 s, 2 s, 4 s, 8 s, then every [`PUBLISH_RETRY_MAX_SECS`]. Workers KV
/// takes about one write per second per key, so a retry a second later usually
/// succeeds.
#[must_use]
pub fn retry_publication(error: &StoreError, failures: u32) -> Retry {
    match error {
        StoreError::Refused(_) => Retry::Drop,
        _ => Retry::After(retry_delay_secs(failures)),
    }
}

/// The wait after `failures` failed attempts in a row.
#[must_use]
pub fn retry_delay_secs(failures: u32) -> u64 {
    let exp = failures.saturating_sub(1).min(8);
    (1u64 << exp).min(PUBLISH_RETRY_MAX_SECS)
}

/// How many stored records an expiry sweep reads at once (a Durable Object deletes
/// at most 128 keys per call).
pub const SWEEP_PAGE: usize = 128;

/// One page of an expiry sweep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepPage {
    /// Keys whose records expired.
    pub expired: Vec<String>,
    /// Where the next page starts (exclusive), or `None` when the sweep is done.
    pub resume_after: Option<String>,
    /// How many entries of the page stay, not counting the instance's own
    /// bookkeeping (keys starting with `~`).
    pub kept: usize,
}

/// Sweeps one page of `(key, stored JSON)` entries, read with at most `limit` entries:
/// records whose [`Expiry`] passed at `now` are expired; entries without one (names,
/// the keyring, pending publications) are kept. A full page means there may be more.
#[must_use]
pub fn sweep_page(entries: &[(String, String)], now: UnixTime, limit: usize) -> SweepPage {
    let expired: Vec<String> = entries
        .iter()
        .filter(|(_, value)| {
            serde_json::from_str::<Expiry>(value).is_ok_and(|e| e.expires_at <= now)
        })
        .map(|(key, _)| key.clone())
        .collect();
    let resume_after =
        if entries.len() >= limit { entries.last().map(|(key, _)| key.clone()) } else { None };
    let kept =
        entries.iter().filter(|(key, _)| !key.starts_with('~') && !expired.contains(key)).count();
    SweepPage { expired, resume_after, kept }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::UsageEvent;

    #[test]
    fn a_tally_adds_several_events_at_once() {
        let at = UnixTime::from_secs(20_000 * 86_400 + 7200 + 30);
        let counts = UsageCounts { logins: 5, registrations: 1, failures: 2, tokens: 3 };
        let record = usage_tally(None, counts, at);
        let record = usage_tally(Some(record), UsageCounts::of(UsageEvent::Login), at.plus(60));
        let record = usage_tally(Some(record), UsageCounts::of(UsageEvent::Token), at.plus(61));
        let buckets = usage_read([Some(record)], at);
        assert_eq!(buckets.len(), 1);
        assert_eq!(buckets[0].start, UnixTime::from_secs(20_000 * 86_400 + 7200));
        assert_eq!((buckets[0].logins, buckets[0].registrations, buckets[0].failures), (6, 1, 2));
        assert_eq!(buckets[0].tokens, 4);
    }

    #[test]
    fn a_bucket_written_before_tokens_were_counted_reads_as_none() {
        let old: UsageBucket =
            serde_json::from_str(r#"{"start":3600,"logins":2,"registrations":0,"failures":1}"#)
                .unwrap();
        assert_eq!(old.tokens, 0);
        assert_eq!(old.counts().total(), 3);
    }

    fn change(record: Option<serde_json::Value>, cascade: &[&str]) -> RegistryChange {
        RegistryChange {
            record: record.map(|record| Versioned { version: 3, record }),
            claim: Vec::new(),
            release: Vec::new(),
            cascade: cascade.iter().map(|k| (*k).to_owned()).collect(),
        }
    }

    #[test]
    fn a_commit_publishes_its_cascade_then_its_record_in_sequence() {
        let (out, next) =
            commit_publications("apps/a", &change(Some(serde_json::json!({"x": 1})), &[]), 7)
                .unwrap();
        assert_eq!(next, 8);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].key, "apps/a");
        assert_eq!(out[0].value.as_deref(), Some(r#"{"version":3,"record":{"x":1}}"#));
        assert_eq!(out[0].outbox_key(), "pub:apps/a");
        let (out, next) =
            commit_publications("apps/a", &change(None, &["permissions/a"]), next).unwrap();
        assert_eq!(next, 10);
        let keys: Vec<(&str, u64, bool)> =
            out.iter().map(|p| (p.key.as_str(), p.seq, p.value.is_some())).collect();
        assert_eq!(keys, vec![("permissions/a", 8, false), ("apps/a", 9, false)]);
    }

    #[test]
    fn publications_go_out_in_commit_order_and_never_replace_a_newer_one() {
        let p = |seq: u64, key: &str| Publication { seq, key: key.to_owned(), value: None };
        let order: Vec<u64> =
            publish_order(vec![p(9, "b"), p(2, "c"), p(5, "a")]).iter().map(|p| p.seq).collect();
        assert_eq!(order, vec![2, 5, 9]);
        // Published version 5 while version 6 was committed: 6 stays pending.
        assert_eq!(settle_publication(Some(&p(6, "a")), &p(5, "a")), Write::Keep);
        assert_eq!(settle_publication(Some(&p(5, "a")), &p(5, "a")), Write::Delete);
        assert_eq!(settle_publication(None, &p(5, "a")), Write::Keep);
    }

    #[test]
    fn failed_publications_are_retried_with_a_bounded_backoff() {
        let delays: Vec<u64> = (1..=7).map(retry_delay_secs).collect();
        assert_eq!(delays, vec![1, 2, 4, 8, 10, 10, 10]);
        assert_eq!(retry_delay_secs(u32::MAX), PUBLISH_RETRY_MAX_SECS);
        assert_eq!(retry_publication(&StoreError::Unavailable, 1), Retry::After(1));
        assert_eq!(retry_publication(&StoreError::Refused("too big"), 1), Retry::Drop);
    }

    #[test]
    fn a_sweep_pages_through_expired_records_and_keeps_the_rest() {
        let now = UnixTime::from_secs(1000);
        let entries = vec![
            ("a".to_owned(), r#"{"expires_at":999}"#.to_owned()),
            ("b".to_owned(), r#"{"expires_at":1001}"#.to_owned()),
            ("name:x".to_owned(), "apps/x".to_owned()),
            ("pub:apps/x".to_owned(), r#"{"seq":1,"key":"apps/x","value":null}"#.to_owned()),
        ];
        let page = sweep_page(&entries, now, 4);
        assert_eq!(page.expired, vec!["a".to_owned()]);
        assert_eq!(page.resume_after.as_deref(), Some("pub:apps/x"), "a full page goes on");
        assert_eq!(page.kept, 3);
        let last = sweep_page(entries.get(..2).unwrap(), now, 4);
        assert_eq!(last.resume_after, None, "a short page ends the sweep");
    }

    #[test]
    fn a_sweep_counts_what_stays_besides_bookkeeping() {
        let now = UnixTime::from_secs(1000);
        let entries = vec![
            ("code".to_owned(), r#"{"expires_at":999}"#.to_owned()),
            ("~sweep".to_owned(), r#"{"due_ms":1,"resume_after":null}"#.to_owned()),
        ];
        let page = sweep_page(&entries, now, 128);
        assert_eq!((page.expired.len(), page.kept), (1, 0), "an instance left with nothing");
    }

    #[test]
    fn usage_days_split_at_utc_midnight_and_read_back_in_order() {
        let midnight = UnixTime::from_secs(20_000 * 86_400);
        let before = midnight.minus(1);
        assert_ne!(usage_day_key("s", before), usage_day_key("s", midnight));
        let first = usage_tally(None, UsageCounts::of(UsageEvent::Login), before);
        let first = usage_tally(Some(first), UsageCounts::of(UsageEvent::Failure), before);
        let second = usage_tally(None, UsageCounts::of(UsageEvent::Registration), midnight);
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
        let second = usage_tally(None, UsageCounts::of(UsageEvent::Registration), midnight);
        assert_eq!(usage_read([Some(second)], much_later).len(), 0);
    }
}
