//! Storage traits, one per consistency need.
//!
//! Each trait states the contract its implementations keep; the worker implements
//! them on Workers KV (read path) and Durable Objects (strong path), and `memory`
//! implements them for tests, refusing what KV refuses. The `contract` suite checks
//! every implementation against the same expectations (both with the `test-util`
//! feature).
//!
//! | trait | consistency | holds |
//! | --- | --- | --- |
//! | [`Directory`] | eventual: a write may take ~60 s to reach other locations | apps, scopes, users, public keyring |
//! | [`OnceStore`] | strong, take-once | authorization and device codes |
//! | [`RefreshFamilies`] | strong, compare-and-swap | refresh token rotation |
//! | [`Sessions`] | strong | login sessions |
//! | [`Counters`] | strong, atomic add | rate limits, lockout, usage |
//! | [`KeyVault`] | strong, single writer | the signing keyring |
//! | [`Registry`] | strong, single writer | administered records: versions, unique names |
//!
//! Every method takes the request's `now` where expiry matters, so expiry follows the
//! engine's clock (a fake one in tests) rather than the store's.

pub mod batch;
pub mod bytes;
#[cfg(any(test, feature = "test-util"))]
pub mod contract;
#[cfg(any(test, feature = "test-util"))]
pub mod memory;
pub mod records;
pub mod schema;

use crate::keys::Keyring;
use crate::types::UnixTime;

/// A store operation failed.
///
/// `Unavailable` and `Corrupt` are infrastructure failures: the engine answers them
/// with an opaque `temporarily_unavailable` / `server_error` and never with a 400.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The backing store could not be reached or timed out.
    Unavailable,
    /// The store refused the operation as malformed (e.g. a key over 512 bytes).
    Refused(&'static str),
    /// A record that must not exist yet already exists.
    Conflict,
    /// A stored record could not be decoded.
    Corrupt,
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unavailable => f.write_str("store unavailable"),
            Self::Refused(why) => write!(f, "store refused the operation: {why}"),
            Self::Conflict => f.write_str("record already exists"),
            Self::Corrupt => f.write_str("stored record is corrupt"),
        }
    }
}

impl std::error::Error for StoreError {}

/// Workers KV's key limit, enforced by every [`Directory`].
pub const MAX_KEY_BYTES: usize = 512;
/// Workers KV's value limit (25 MiB), enforced by every [`Directory`].
pub const MAX_VALUE_BYTES: usize = 25 * 1024 * 1024;
/// The most keys one [`Directory::list`] call returns.
pub const MAX_LIST_LIMIT: usize = 1000;

/// Checks a key against the KV rules: 1 to 512 bytes, not `.` or `..`.
///
/// # Errors
///
/// [`StoreError::Refused`] naming the rule.
pub fn check_key(key: &str) -> Result<(), StoreError> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Err(StoreError::Refused("key must be 1 to 512 bytes"));
    }
    if key == "." || key == ".." {
        return Err(StoreError::Refused("key must not be . or .."));
    }
    Ok(())
}

/// One page of keys from [`Directory::list`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPage {
    /// Keys in lexicographic order.
    pub keys: Vec<String>,
    /// Where the next page starts; `None` on the last page.
    pub cursor: Option<String>,
}

/// Read-mostly records, read on every request and written by administrators.
///
/// # Contract
///
/// - Keys are 1 to [`MAX_KEY_BYTES`] bytes and not `.` or `..`; values at most
///   [`MAX_VALUE_BYTES`]. Anything else is [`StoreError::Refused`].
/// - A write is visible to reads at the same location at once, and elsewhere
///   eventually (Workers KV: up to ~60 s). Nothing that must happen exactly once may
///   rely on a read-then-write here; uniqueness goes through a Durable Object.
/// - `list` returns keys with the prefix in lexicographic order, at most `limit`
///   (1 to [`MAX_LIST_LIMIT`]) a page.
#[allow(async_fn_in_trait)]
pub trait Directory {
    /// The value under `key`, if any.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Stores `value` under `key`, replacing any previous value.
    async fn put(&self, key: &str, value: &[u8]) -> Result<(), StoreError>;
    /// Removes `key`; removing a missing key succeeds.
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
    /// Lists keys under `prefix`, starting after `cursor`.
    async fn list(
        &self,
        prefix: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<ListPage, StoreError>;
    /// The administered record under `key` ([`Versioned`] JSON), decoded as `T`;
    /// `None` when the key is missing or the record does not decode as `T`. A
    /// directory that keeps what it reads may keep it decoded
    /// ([`crate::cache::CachedDirectory`]).
    async fn record<T: serde::de::DeserializeOwned + Clone + 'static>(
        &self,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        Ok(self.get(key).await?.and_then(|bytes| decode_record(&bytes)))
    }
}

/// An administered record as the [`Registry`] publishes it ([`Versioned`] JSON),
/// decoded as `T`; `None` if it does not decode. Through [`serde_json::Value`], as
/// the management API reads records: one decoder per record type in the bundle,
/// not two.
#[must_use]
pub fn decode_record<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    let versioned = serde_json::from_slice::<Versioned>(bytes).ok()?;
    serde_json::from_value(versioned.record).ok()
}

/// The administered record under `key` in `directory` (as the [`Registry`]
/// publishes it, [`Versioned`] JSON), decoded as `T`: the read path of every
/// endpoint. A missing key, a key the store refuses (no record can live there) and
/// a record that does not decode as `T` are all `None`.
///
/// # Errors
///
/// [`StoreError::Unavailable`] (or another infrastructure failure) from the store.
pub async fn read_record<T: serde::de::DeserializeOwned + Clone + 'static, D: Directory>(
    directory: &D,
    key: &str,
) -> Result<Option<T>, StoreError> {
    match directory.record(key).await {
        Err(StoreError::Refused(_)) => Ok(None),
        read => read,
    }
}

/// What [`OnceStore::take`] found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Taken {
    /// The first take: the value is yours.
    First(#[serde(with = "bytes")] Vec<u8>),
    /// The record was already taken: a replay. The value is returned so the caller can
    /// revoke what the first take issued (RFC 6749 section 4.1.2).
    Again(#[serde(with = "bytes")] Vec<u8>),
    /// No such record, or it expired.
    Missing,
}

/// Records that are redeemed exactly once, worldwide: authorization and device codes.
///
/// # Contract
///
/// - `put` fails with [`StoreError::Conflict`] if an unexpired record (taken or not)
///   exists under the key.
/// - `take` is atomic: of any number of concurrent takes of one record, exactly one
///   gets [`Taken::First`]; later ones get [`Taken::Again`] until the record expires.
/// - After `expires_at` (compared with the caller's `now`) the record is
///   [`Taken::Missing`].
#[allow(async_fn_in_trait)]
pub trait OnceStore {
    /// Stores a new record.
    async fn put(
        &self,
        key: &str,
        value: &[u8],
        expires_at: UnixTime,
        now: UnixTime,
    ) -> Result<(), StoreError>;
    /// Takes the record under `key`.
    async fn take(&self, key: &str, now: UnixTime) -> Result<Taken, StoreError>;
}

/// The outcome of a refresh token rotation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Rotation {
    /// The presented token was current; `next` is current now. The family's data is returned.
    Rotated(#[serde(with = "bytes")] Vec<u8>),
    /// The presented token was already rotated out: the family is now revoked.
    Reused,
    /// No such family, the family is revoked or expired, or the token was never part of it.
    Unknown,
}

/// Refresh token families (RFC 9700 section 4.14.2): every use rotates the token, and
/// reuse of a rotated-out token revokes the whole family.
///
/// Tokens are identified by their SHA-256 digests; the store never sees a token.
///
/// # Contract
///
/// - `create` fails with [`StoreError::Conflict`] if the family exists.
/// - `rotate` is a compare-and-swap: if `presented` is the current token, `next`
///   becomes current and the result is [`Rotation::Rotated`]; if `presented` is a
///   token the family rotated out, the family is revoked and the result is
///   [`Rotation::Reused`] (and every later call is [`Rotation::Unknown`]). Of two
///   concurrent rotations with the same current token, exactly one succeeds.
/// - A revoked or expired family answers [`Rotation::Unknown`].
/// - Within `grace_secs` of a rotation, presenting the token it rotated out with
///   the same `next` (a client retrying after a lost response; the caller derives
///   successors deterministically) answers [`Rotation::Rotated`] again and changes
///   nothing. Outside the window it is reuse.
/// - `inspect` returns the data of a live family whose current token is
///   `presented`, and changes nothing.
/// - Revoking one family touches no other.
#[allow(async_fn_in_trait)]
pub trait RefreshFamilies {
    /// Starts a family whose current token is `token`.
    async fn create(
        &self,
        family: &str,
        token: &[u8; 32],
        data: &[u8],
        expires_at: UnixTime,
        now: UnixTime,
    ) -> Result<(), StoreError>;
    /// Rotates `presented` to `next`, allowing a retry within `grace_secs`.
    async fn rotate(
        &self,
        family: &str,
        presented: &[u8; 32],
        next: &[u8; 32],
        grace_secs: u64,
        now: UnixTime,
    ) -> Result<Rotation, StoreError>;
    /// The data of the family if `presented` is its current token and it is live.
    async fn inspect(
        &self,
        family: &str,
        presented: &[u8; 32],
        now: UnixTime,
    ) -> Result<Option<Vec<u8>>, StoreError>;
    /// Revokes the family; returns whether it existed.
    async fn revoke(&self, family: &str) -> Result<bool, StoreError>;
}

/// Login sessions: logout and expiry take effect at once, everywhere.
///
/// # Contract
///
/// - `put` creates or replaces the session.
/// - `get` returns the data until `expires_at` (by the caller's `now`), then `None`.
/// - `delete` makes every later `get` return `None`; returns whether it existed.
/// - `swap` is a compare-and-swap: it writes `data` (or deletes the record, for
///   `None`) only if the record's live data is `expected` (`None`: no live record),
///   and says whether it did. Of two swaps expecting the same data, one succeeds.
#[allow(async_fn_in_trait)]
pub trait Sessions {
    /// Creates or replaces a session.
    async fn put(
        &self,
        id: &str,
        data: &[u8],
        expires_at: UnixTime,
        now: UnixTime,
    ) -> Result<(), StoreError>;
    /// Reads a live session.
    async fn get(&self, id: &str, now: UnixTime) -> Result<Option<Vec<u8>>, StoreError>;
    /// Ends a session.
    async fn delete(&self, id: &str) -> Result<bool, StoreError>;
    /// Replaces the live data `expected` with `data` (`None` deletes).
    async fn swap(
        &self,
        id: &str,
        expected: Option<&[u8]>,
        data: Option<&[u8]>,
        expires_at: UnixTime,
        now: UnixTime,
    ) -> Result<bool, StoreError>;
}

/// The width of a usage bucket: one hour.
pub const USAGE_BUCKET_SECS: u64 = 3600;
/// How long usage buckets are kept: 31 days.
pub const USAGE_RETENTION_SECS: u64 = 31 * 86_400;

/// What a usage series counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UsageEvent {
    /// A successful sign-in: tokens issued (for a server-to-server app, a grant).
    Login,
    /// A new user registered through the app.
    Registration,
    /// A refused attempt: bad credentials or a refused grant.
    Failure,
    /// A token response: the token endpoint's or the simplified client's, for any
    /// grant.
    Token,
}

/// One hour of a usage series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UsageBucket {
    /// The start of the hour.
    pub start: UnixTime,
    /// Successful sign-ins.
    pub logins: u64,
    /// Registrations.
    pub registrations: u64,
    /// Failures.
    pub failures: u64,
    /// Token responses (absent from buckets written before they were counted).
    #[serde(default)]
    pub tokens: u64,
}

impl UsageBucket {
    /// The bucket starting at `start`, with nothing counted.
    #[must_use]
    pub fn empty(start: UnixTime) -> Self {
        Self { start, logins: 0, registrations: 0, failures: 0, tokens: 0 }
    }

    /// What the bucket counts.
    #[must_use]
    pub fn counts(&self) -> UsageCounts {
        UsageCounts {
            logins: self.logins,
            registrations: self.registrations,
            failures: self.failures,
            tokens: self.tokens,
        }
    }

    /// Adds `counts`.
    pub fn add(&mut self, counts: UsageCounts) {
        let mut sum = self.counts();
        sum.merge(counts);
        *self = Self {
            start: self.start,
            logins: sum.logins,
            registrations: sum.registrations,
            failures: sum.failures,
            tokens: sum.tokens,
        };
    }
}

/// Counts of each [`UsageEvent`], as one [`Counters::tally`] call writes them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UsageCounts {
    /// Successful sign-ins.
    pub logins: u64,
    /// Registrations.
    pub registrations: u64,
    /// Failures.
    pub failures: u64,
    /// Token responses.
    #[serde(default)]
    pub tokens: u64,
}

impl UsageCounts {
    /// One `event`.
    #[must_use]
    pub fn of(event: UsageEvent) -> Self {
        let mut counts = Self::default();
        counts.add(event, 1);
        counts
    }

    /// Adds `n` of `event`.
    pub fn add(&mut self, event: UsageEvent, n: u64) {
        let count = match event {
            UsageEvent::Login => &mut self.logins,
            UsageEvent::Registration => &mut self.registrations,
            UsageEvent::Failure => &mut self.failures,
            UsageEvent::Token => &mut self.tokens,
        };
        *count = count.saturating_add(n);
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: Self) {
        self.add(UsageEvent::Login, other.logins);
        self.add(UsageEvent::Registration, other.registrations);
        self.add(UsageEvent::Failure, other.failures);
        self.add(UsageEvent::Token, other.tokens);
    }

    /// How many events in all.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.logins
            .saturating_add(self.registrations)
            .saturating_add(self.failures)
            .saturating_add(self.tokens)
    }
}

/// Counters for rate limits, lockout and usage.
///
/// # Contract
///
/// - `add` is atomic and returns the new total; concurrent adds are never lost.
/// - A counter belongs to a window ending at `window_end`; an `add` or `get` at or
///   after the end of the stored window starts from zero (the new `window_end` is
///   taken from that `add`).
/// - `reset` sets the counter to zero.
/// - `tally` adds `counts` (several events, e.g. a batch an isolate aggregated) to
///   the hourly bucket of a usage series that holds `at`, atomically (concurrent
///   tallies are never lost); `usage` returns the series' buckets of the last
///   [`USAGE_RETENTION_SECS`], oldest first.
#[allow(async_fn_in_trait)]
pub trait Counters {
    /// Adds `delta` and returns the new total.
    async fn add(
        &self,
        key: &str,
        delta: u64,
        window_end: UnixTime,
        now: UnixTime,
    ) -> Result<u64, StoreError>;
    /// The current total.
    async fn get(&self, key: &str, now: UnixTime) -> Result<u64, StoreError>;
    /// Sets the counter to zero.
    async fn reset(&self, key: &str) -> Result<(), StoreError>;
    /// Adds `counts` to the usage series `series`, in the hour holding `at`.
    async fn tally(
        &self,
        series: &str,
        counts: UsageCounts,
        at: UnixTime,
    ) -> Result<(), StoreError>;
    /// The retained buckets of the usage series `series`, oldest first.
    async fn usage(&self, series: &str, now: UnixTime) -> Result<Vec<UsageBucket>, StoreError>;
}

/// The signing keyring's single writer.
///
/// # Contract
///
/// - `ensure` returns the keyring, generating it on the first call ever; however many
///   callers race at first start, exactly one keyring is created and all of them get it.
/// - `rotate` adds a new key per algorithm, published before it signs (see
///   [`Keyring::rotate`]), and returns the new keyring.
/// - `revoke` withdraws the key `kid` at once (see [`Keyring::withdraw`]); `None`
///   when the keyring holds no such key.
/// - Every change is published to the [`Directory`] under
///   [`crate::store::schema::KEYRING`] for the read path through an outbox, like the
///   [`Registry`]'s: recorded with the change, written at once when the directory
///   accepts it, retried until it does. `ensure` repairs a missed publication.
#[allow(async_fn_in_trait)]
pub trait KeyVault {
    /// The keyring, created if none exists.
    async fn ensure(&self, now: UnixTime) -> Result<Keyring, StoreError>;
    /// Rotates every algorithm's key.
    async fn rotate(&self, now: UnixTime) -> Result<Keyring, StoreError>;
    /// Withdraws the key `kid`.
    async fn revoke(&self, kid: &str, now: UnixTime) -> Result<Option<Keyring>, StoreError>;
}

/// What a [`Registry`] commit expects of the record's current version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expect {
    /// The record must not exist (creation).
    Absent,
    /// The record must exist at exactly this version (`If-Match`).
    Version(u64),
    /// The record must exist, at any version.
    Present,
}

/// One atomic change to an administered record.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Commit {
    /// The record key (a [`Directory`] key, e.g. `apps/<client_id>`).
    pub key: String,
    /// The new record, or `None` to delete it.
    pub record: Option<serde_json::Value>,
    /// The version the record must be at.
    pub expect: Expect,
    /// Unique names this record takes (e.g. `apps/name/billing`); taken by another
    /// record, the commit fails with [`CommitError::NameTaken`].
    pub claim: Vec<String>,
    /// Unique names this record gives up.
    pub release: Vec<String>,
    /// Other records removed in the same step (e.g. a deleted app's permission set).
    #[serde(default)]
    pub cascade: Vec<String>,
}

/// A versioned record as the registry keeps it and publishes it to the directory.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Versioned {
    /// Starts at 1 and grows by one on every change.
    pub version: u64,
    /// The record.
    pub record: serde_json::Value,
}

/// Why a [`Registry`] commit was refused.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommitError {
    /// The record exists but `Expect::Absent` was asked, or is at another version.
    VersionMismatch,
    /// The record does not exist.
    Missing,
    /// A name to claim belongs to another record.
    NameTaken(String),
    /// The store failed.
    Unavailable,
}

/// The single writer of administered records (apps, scopes, users, roles):
/// versions for `ETag` / `If-Match`, unique names, and publication to the
/// [`Directory`].
///
/// # Contract
///
/// - `commit` is atomic: the version check, the name claims and releases, the
///   write and the cascaded deletions happen together or not at all. Of two commits expecting one version,
///   exactly one succeeds.
/// - A name is held by one record key at a time; claiming a name a record already
///   holds succeeds.
/// - The registry is the only writer of its keys in the [`Directory`]. A commit
///   records what must be published (the record as [`Versioned`] JSON, or its
///   removal, and the cascaded removals) in the same storage step as the change
///   (an outbox), then publishes. A commit that succeeded is reported as success
///   even if publication is still pending: the registry retries, in commit order,
///   until the directory holds the newest state of every key, and a publication
///   never overwrites a newer one ([`records::publish_order`],
///   [`records::settle_publication`], [`records::retry_delay_secs`]).
/// - `read` returns the authoritative version, never a stale one.
#[allow(async_fn_in_trait)]
pub trait Registry {
    /// Applies `commit`; returns the new version (0 after a delete).
    async fn commit(&self, commit: Commit) -> Result<u64, CommitError>;
    /// The current record under `key`.
    async fn read(&self, key: &str) -> Result<Option<Versioned>, StoreError>;
}
