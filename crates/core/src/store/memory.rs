//! In-memory stores for tests, as strict as production: they refuse what Workers KV
//! refuses, expire records on the caller's (fake) clock, and can be switched into an
//! outage to exercise failure paths (the directory can refuse writes alone, as
//! Workers KV does past one write per second per key, so tests can watch the
//! registry's outbox converge). Single-threaded, like a JS isolate.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;

use rand_core::CryptoRngCore;

use super::records::{
    self, CounterRecord, FamilyRecord, OnceRecord, Publication, Retry, SessionRecord, UsageRecord,
    Write,
};
use super::schema;
use super::{
    Commit, CommitError, Counters, Directory, KeyVault, ListPage, MAX_LIST_LIMIT, MAX_VALUE_BYTES,
    OnceStore, RefreshFamilies, Registry, Rotation, Sessions, StoreError, Taken, UsageBucket,
    UsageCounts, Versioned, check_key,
};
use crate::keys::{Kek, Keyring};
use crate::platform::Signer;
use crate::types::UnixTime;

/// A switch that makes a store answer [`StoreError::Unavailable`].
#[derive(Debug, Default)]
pub struct Outage(Cell<bool>);

impl Outage {
    /// Starts or ends the outage.
    pub fn set(&self, down: bool) {
        self.0.set(down);
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.0.get() { Err(StoreError::Unavailable) } else { Ok(()) }
    }
}

/// A [`Directory`] in memory, with Workers KV's limits.
#[derive(Debug, Default)]
pub struct MemoryDirectory {
    entries: RefCell<BTreeMap<String, Vec<u8>>>,
    /// Makes every call fail while set.
    pub outage: Outage,
    /// Makes writes (put and delete) fail while set; reads still work, as when
    /// Workers KV refuses a write past its rate limit.
    pub write_outage: Outage,
    /// How many writes succeeded.
    pub writes: Cell<u32>,
    /// How many reads succeeded.
    pub reads: Cell<u32>,
}

impl Directory for MemoryDirectory {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.outage.check()?;
        check_key(key)?;
        self.reads.set(self.reads.get() + 1);
        Ok(self.entries.borrow().get(key).cloned())
    }

    async fn put(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.outage.check()?;
        check_key(key)?;
        if value.len() > MAX_VALUE_BYTES {
            return Err(StoreError::Refused("value must be at most 25 MiB"));
        }
        self.write_outage.check()?;
        self.entries.borrow_mut().insert(key.to_owned(), value.to_vec());
        self.writes.set(self.writes.get() + 1);
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.outage.check()?;
        check_key(key)?;
        self.write_outage.check()?;
        self.entries.borrow_mut().remove(key);
        self.writes.set(self.writes.get() + 1);
        Ok(())
    }

    async fn list(
        &self,
        prefix: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<ListPage, StoreError> {
        self.outage.check()?;
        if limit == 0 || limit > MAX_LIST_LIMIT {
            return Err(StoreError::Refused("list limit must be 1 to 1000"));
        }
        let entries = self.entries.borrow();
        let mut keys: Vec<String> = entries
            .keys()
            .filter(|k| k.starts_with(prefix))
            .filter(|k| cursor.is_none_or(|c| k.as_str() > c))
            .take(limit + 1)
            .cloned()
            .collect();
        let more = keys.len() > limit;
        keys.truncate(limit);
        let cursor = if more { keys.last().cloned() } else { None };
        Ok(ListPage { keys, cursor })
    }
}

/// Records of one kind, changed only through the transitions of [`records`].
#[derive(Debug)]
struct RecordMap<R>(RefCell<BTreeMap<String, R>>);

impl<R> Default for RecordMap<R> {
    fn default() -> Self {
        Self(RefCell::new(BTreeMap::new()))
    }
}

impl<R: Clone> RecordMap<R> {
    fn get(&self, key: &str) -> Option<R> {
        self.0.borrow().get(key).cloned()
    }

    fn write(&self, key: &str, write: Write<R>) {
        let mut map = self.0.borrow_mut();
        match write {
            Write::Keep => {}
            Write::Put(record) => {
                map.insert(key.to_owned(), record);
            }
            Write::Delete => {
                map.remove(key);
            }
        }
    }
}

/// A [`OnceStore`] in memory.
#[derive(Debug, Default)]
pub struct MemoryOnceStore {
    records: RecordMap<OnceRecord>,
    /// Makes every call fail while set.
    pub outage: Outage,
}

impl OnceStore for MemoryOnceStore {
    async fn put(
        &self,
        key: &str,
        value: &[u8],
        expires_at: UnixTime,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        self.outage.check()?;
        check_key(key)?;
        let record = records::once_put(self.records.get(key).as_ref(), value, expires_at, now)?;
        self.records.write(key, Write::Put(record));
        Ok(())
    }

    async fn take(&self, key: &str, now: UnixTime) -> Result<Taken, StoreError> {
        self.outage.check()?;
        check_key(key)?;
        let (taken, write) = records::once_take(self.records.get(key), now);
        self.records.write(key, write);
        Ok(taken)
    }
}

/// [`RefreshFamilies`] in memory.
#[derive(Debug, Default)]
pub struct MemoryFamilies {
    families: RecordMap<FamilyRecord>,
    /// Makes every call fail while set.
    pub outage: Outage,
}

impl RefreshFamilies for MemoryFamilies {
    async fn create(
        &self,
        family: &str,
        token: &[u8; 32],
        data: &[u8],
        expires_at: UnixTime,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        self.outage.check()?;
        check_key(family)?;
        let record = records::family_create(
            self.families.get(family).as_ref(),
            token,
            data,
            expires_at,
            now,
        )?;
        self.families.write(family, Write::Put(record));
        Ok(())
    }

    async fn rotate(
        &self,
        family: &str,
        presented: &[u8; 32],
        next: &[u8; 32],
        grace_secs: u64,
        now: UnixTime,
    ) -> Result<Rotation, StoreError> {
        self.outage.check()?;
        check_key(family)?;
        let (rotation, write) =
            records::family_rotate(self.families.get(family), presented, next, grace_secs, now);
        self.families.write(family, write);
        Ok(rotation)
    }

    async fn inspect(
        &self,
        family: &str,
        presented: &[u8; 32],
        now: UnixTime,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.outage.check()?;
        check_key(family)?;
        Ok(records::family_inspect(self.families.get(family).as_ref(), presented, now))
    }

    async fn revoke(&self, family: &str) -> Result<bool, StoreError> {
        self.outage.check()?;
        check_key(family)?;
        let (revoked, write) = records::family_revoke(self.families.get(family));
        self.families.write(family, write);
        Ok(revoked)
    }
}

/// [`Sessions`] in memory.
#[derive(Debug, Default)]
pub struct MemorySessions {
    sessions: RecordMap<SessionRecord>,
    /// Makes every call fail while set.
    pub outage: Outage,
}

impl Sessions for MemorySessions {
    async fn put(
        &self,
        id: &str,
        data: &[u8],
        expires_at: UnixTime,
        _now: UnixTime,
    ) -> Result<(), StoreError> {
        self.outage.check()?;
        check_key(id)?;
        self.sessions.write(id, Write::Put(SessionRecord { data: data.to_vec(), expires_at }));
        Ok(())
    }

    async fn get(&self, id: &str, now: UnixTime) -> Result<Option<Vec<u8>>, StoreError> {
        self.outage.check()?;
        check_key(id)?;
        let (data, write) = records::session_get(self.sessions.get(id), now);
        self.sessions.write(id, write);
        Ok(data)
    }

    async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        self.outage.check()?;
        check_key(id)?;
        let existed = self.sessions.get(id).is_some();
        self.sessions.write(id, Write::Delete);
        Ok(existed)
    }

    async fn swap(
        &self,
        id: &str,
        expected: Option<&[u8]>,
        data: Option<&[u8]>,
        expires_at: UnixTime,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        self.outage.check()?;
        check_key(id)?;
        let (swapped, write) =
            records::session_swap(self.sessions.get(id), expected, data, expires_at, now);
        self.sessions.write(id, write);
        Ok(swapped)
    }
}

/// [`Counters`] in memory.
#[derive(Debug, Default)]
pub struct MemoryCounters {
    counters: RecordMap<CounterRecord>,
    usage: RecordMap<UsageRecord>,
    /// Makes every call fail while set.
    pub outage: Outage,
    /// How many usage writes ([`Counters::tally`] calls) succeeded.
    pub tallies: Cell<u32>,
}

impl Counters for MemoryCounters {
    async fn add(
        &self,
        key: &str,
        delta: u64,
        window_end: UnixTime,
        now: UnixTime,
    ) -> Result<u64, StoreError> {
        self.outage.check()?;
        check_key(key)?;
        let record = records::counter_add(self.counters.get(key), delta, window_end, now);
        self.counters.write(key, Write::Put(record));
        Ok(record.count)
    }

    async fn get(&self, key: &str, now: UnixTime) -> Result<u64, StoreError> {
        self.outage.check()?;
        check_key(key)?;
        Ok(records::counter_get(self.counters.get(key), now))
    }

    async fn reset(&self, key: &str) -> Result<(), StoreError> {
        self.outage.check()?;
        check_key(key)?;
        self.counters.write(key, Write::Delete);
        Ok(())
    }

    async fn tally(
        &self,
        series: &str,
        counts: UsageCounts,
        at: UnixTime,
    ) -> Result<(), StoreError> {
        self.outage.check()?;
        check_key(series)?;
        let key = records::usage_day_key(series, at);
        let record = records::usage_tally(self.usage.get(&key), counts, at);
        self.usage.write(&key, Write::Put(record));
        self.tallies.set(self.tallies.get() + 1);
        Ok(())
    }

    async fn usage(&self, series: &str, now: UnixTime) -> Result<Vec<UsageBucket>, StoreError> {
        self.outage.check()?;
        check_key(series)?;
        let days = records::usage_day_keys(series, now).into_iter().map(|key| self.usage.get(&key));
        Ok(records::usage_read(days, now))
    }
}

/// The outbox of a single writer in memory: pending publications by directory key,
/// written to the [`MemoryDirectory`] with the same rules ([`records`]) as the
/// worker's Durable Object writes them to KV.
#[derive(Debug)]
struct MemoryOutbox {
    pending: RefCell<BTreeMap<String, Publication>>,
    seq: Cell<u64>,
    failures: Cell<u32>,
    retry_in: Cell<Option<u64>>,
    directory: Rc<MemoryDirectory>,
}

impl MemoryOutbox {
    fn new(directory: Rc<MemoryDirectory>) -> Self {
        Self {
            pending: RefCell::new(BTreeMap::new()),
            seq: Cell::new(1),
            failures: Cell::new(0),
            retry_in: Cell::new(None),
            directory,
        }
    }

    fn record(&self, publications: Vec<Publication>) {
        let mut pending = self.pending.borrow_mut();
        for publication in publications {
            pending.insert(publication.key.clone(), publication);
        }
    }

    fn next_seq(&self) -> u64 {
        let seq = self.seq.get();
        self.seq.set(seq + 1);
        seq
    }

    /// Publishes what is pending, in order; stops at the first failure and notes
    /// when to retry.
    async fn publish(&self) -> Result<(), StoreError> {
        let pending: Vec<Publication> = self.pending.borrow().values().cloned().collect();
        for publication in records::publish_order(pending) {
            let written = match &publication.value {
                Some(value) => self.directory.put(&publication.key, value.as_bytes()).await,
                None => self.directory.delete(&publication.key).await,
            };
            match written {
                Ok(()) => {
                    let current = self.pending.borrow().get(&publication.key).cloned();
                    if records::settle_publication(current.as_ref(), &publication) == Write::Delete
                    {
                        self.pending.borrow_mut().remove(&publication.key);
                    }
                }
                Err(err) => {
                    let failures = self.failures.get().saturating_add(1);
                    self.failures.set(failures);
                    match records::retry_publication(&err, failures) {
                        Retry::After(secs) => {
                            self.retry_in.set(Some(secs));
                            return Err(err);
                        }
                        Retry::Drop => {
                            self.pending.borrow_mut().remove(&publication.key);
                        }
                    }
                }
            }
        }
        self.failures.set(0);
        self.retry_in.set(None);
        Ok(())
    }
}

/// A [`KeyVault`] in memory: generates with `crypto`, seals with `kek`, and publishes
/// to a shared [`MemoryDirectory`] through an outbox, as the worker's Durable Object
/// publishes to KV.
pub struct MemoryKeyVault<C: Signer> {
    ring: RefCell<Option<Keyring>>,
    outbox: MemoryOutbox,
    crypto: C,
    kek: Kek,
    rng: RefCell<Option<Box<dyn CryptoRngCore>>>,
    /// How many keyrings were generated (the contract allows exactly one).
    pub generated: Cell<u32>,
    /// Makes every call fail while set.
    pub outage: Outage,
}

impl<C: Signer> std::fmt::Debug for MemoryKeyVault<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryKeyVault").field("generated", &self.generated).finish_non_exhaustive()
    }
}

impl<C: Signer> MemoryKeyVault<C> {
    /// A vault publishing to `directory`.
    pub fn new(
        directory: Rc<MemoryDirectory>,
        crypto: C,
        kek: Kek,
        rng: Box<dyn CryptoRngCore>,
    ) -> Self {
        Self {
            ring: RefCell::new(None),
            outbox: MemoryOutbox::new(directory),
            crypto,
            kek,
            rng: RefCell::new(Some(rng)),
            generated: Cell::new(0),
            outage: Outage::default(),
        }
    }

    /// Stores `ring` and records its publication in one step, then publishes; a
    /// failed publication stays pending (see [`MemoryKeyVault::publish_pending`]).
    async fn store(&self, ring: Keyring) -> Result<(), StoreError> {
        let value = serde_json::to_string(&ring).map_err(|_| StoreError::Corrupt)?;
        *self.ring.borrow_mut() = Some(ring);
        let seq = self.outbox.next_seq();
        self.outbox.record(vec![Publication {
            seq,
            key: schema::KEYRING.to_owned(),
            value: Some(value),
        }]);
        let _ = self.outbox.publish().await;
        Ok(())
    }

    /// Publishes what is pending, as the Durable Object's alarm does: `Err` if the
    /// directory still refuses.
    ///
    /// # Errors
    ///
    /// The directory's error.
    pub async fn publish_pending(&self) -> Result<(), StoreError> {
        self.outbox.publish().await
    }

    /// How many publications wait.
    pub fn pending(&self) -> usize {
        self.outbox.pending.borrow().len()
    }
}

impl<C: Signer> MemoryKeyVault<C> {
    /// Lends the rng out for one generation; while another call holds it, yields to
    /// the executor and tries again (a cooperative lock, like a Durable Object's
    /// one-request-at-a-time).
    async fn borrow_rng(&self) -> Box<dyn CryptoRngCore> {
        loop {
            if let Some(rng) = self.rng.borrow_mut().take() {
                return rng;
            }
            YieldNow(false).await;
        }
    }
}

impl<C: Signer> KeyVault for MemoryKeyVault<C> {
    async fn ensure(&self, now: UnixTime) -> Result<Keyring, StoreError> {
        self.outage.check()?;
        let existing = self.ring.borrow().clone();
        if let Some(ring) = existing {
            // A publication that failed earlier is repaired on the next call.
            let _ = self.outbox.publish().await;
            return Ok(ring);
        }
        let mut rng = self.borrow_rng().await;
        // Another caller may have generated while this one waited for the rng.
        if let Some(ring) = self.ring.borrow().clone() {
            *self.rng.borrow_mut() = Some(rng);
            return Ok(ring);
        }
        let generated = Keyring::generate(&self.crypto, &self.kek, now, rng.as_mut()).await;
        *self.rng.borrow_mut() = Some(rng);
        let generated = generated.map_err(|_| StoreError::Unavailable)?;
        self.generated.set(self.generated.get() + 1);
        self.store(generated.clone()).await?;
        Ok(generated)
    }

    async fn rotate(&self, now: UnixTime) -> Result<Keyring, StoreError> {
        let current = self.ensure(now).await?;
        let mut rng = self.borrow_rng().await;
        let rotated = current.rotate(&self.crypto, &self.kek, now, rng.as_mut()).await;
        *self.rng.borrow_mut() = Some(rng);
        let rotated = rotated.map_err(|_| StoreError::Unavailable)?;
        self.store(rotated.clone()).await?;
        Ok(rotated)
    }

    async fn revoke(&self, kid: &str, now: UnixTime) -> Result<Option<Keyring>, StoreError> {
        let current = self.ensure(now).await?;
        let mut rng = self.borrow_rng().await;
        let withdrawn = current.withdraw(kid, &self.crypto, &self.kek, now, rng.as_mut()).await;
        *self.rng.borrow_mut() = Some(rng);
        let Some(next) = withdrawn.map_err(|_| StoreError::Unavailable)? else {
            return Ok(None);
        };
        self.store(next.clone()).await?;
        Ok(Some(next))
    }
}

/// A future that is pending once, waking itself, then ready.
struct YieldNow(bool);

impl std::future::Future for YieldNow {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            return std::task::Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}

/// A [`Registry`] in memory, publishing to a shared [`MemoryDirectory`] through an
/// outbox as the worker's Durable Object publishes to KV.
#[derive(Debug)]
pub struct MemoryRegistry {
    records: RecordMap<Versioned>,
    names: RefCell<BTreeMap<String, String>>,
    outbox: MemoryOutbox,
    /// Makes every call fail while set.
    pub outage: Outage,
}

impl MemoryRegistry {
    /// A registry publishing to `directory`.
    #[must_use]
    pub fn new(directory: Rc<MemoryDirectory>) -> Self {
        Self {
            records: RecordMap::default(),
            names: RefCell::new(BTreeMap::new()),
            outbox: MemoryOutbox::new(directory),
            outage: Outage::default(),
        }
    }

    /// Publishes what is pending, as the Durable Object's alarm does: `Err` if the
    /// directory still refuses.
    ///
    /// # Errors
    ///
    /// The directory's error.
    pub async fn publish_pending(&self) -> Result<(), StoreError> {
        self.outbox.publish().await
    }

    /// How many publications wait.
    pub fn pending(&self) -> usize {
        self.outbox.pending.borrow().len()
    }

    /// When the next retry is due (seconds from the last failure), while one is.
    pub fn retry_in(&self) -> Option<u64> {
        self.outbox.retry_in.get()
    }
}

impl Registry for MemoryRegistry {
    async fn commit(&self, commit: Commit) -> Result<u64, CommitError> {
        self.outage.check().map_err(|_| CommitError::Unavailable)?;
        check_key(&commit.key).map_err(|_| CommitError::Unavailable)?;
        let holders: Vec<Option<String>> = {
            let names = self.names.borrow();
            commit.claim.iter().map(|n| names.get(n).cloned()).collect()
        };
        let change =
            records::registry_commit(self.records.get(&commit.key).as_ref(), &holders, &commit)?;
        let (publications, next_seq) =
            records::commit_publications(&commit.key, &change, self.outbox.seq.get())?;
        // One step: names, records and the outbox change together.
        {
            let mut names = self.names.borrow_mut();
            for name in &change.release {
                if names.get(name) == Some(&commit.key) {
                    names.remove(name);
                }
            }
            for name in &change.claim {
                names.insert(name.clone(), commit.key.clone());
            }
        }
        for key in &change.cascade {
            self.records.write(key, Write::Delete);
        }
        let version = change.record.as_ref().map_or(0, |r| r.version);
        match change.record {
            Some(record) => self.records.write(&commit.key, Write::Put(record)),
            None => self.records.write(&commit.key, Write::Delete),
        }
        self.outbox.seq.set(next_seq);
        self.outbox.record(publications);
        // The commit stands whatever happens to its publication: a failure is retried.
        let _ = self.outbox.publish().await;
        Ok(version)
    }

    async fn read(&self, key: &str) -> Result<Option<Versioned>, StoreError> {
        self.outage.check()?;
        check_key(key)?;
        Ok(self.records.get(key))
    }
}
