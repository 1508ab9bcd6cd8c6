//! In-memory stores for tests, as strict as production: they refuse what Workers KV
//! refuses, expire records on the caller's (fake) clock, and can be switched into an
//! outage to exercise failure paths. Single-threaded, like a JS isolate.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;

use rand_core::CryptoRngCore;

use super::{
    Counters, Directory, KeyVault, ListPage, MAX_LIST_LIMIT, MAX_VALUE_BYTES, OnceStore,
    RefreshFamilies, Rotation, Sessions, StoreError, Taken, check_key,
};
use crate::keys::{KEYRING_KEY, Kek, Keyring};
use crate::platform::Crypto;
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
}

impl Directory for MemoryDirectory {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.outage.check()?;
        check_key(key)?;
        Ok(self.entries.borrow().get(key).cloned())
    }

    async fn put(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.outage.check()?;
        check_key(key)?;
        if value.len() > MAX_VALUE_BYTES {
            return Err(StoreError::Refused("value must be at most 25 MiB"));
        }
        self.entries.borrow_mut().insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.outage.check()?;
        check_key(key)?;
        self.entries.borrow_mut().remove(key);
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

#[derive(Debug)]
struct OnceRecord {
    value: Vec<u8>,
    expires_at: UnixTime,
    taken: bool,
}

/// A [`OnceStore`] in memory.
#[derive(Debug, Default)]
pub struct MemoryOnceStore {
    records: RefCell<BTreeMap<String, OnceRecord>>,
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
        let mut records = self.records.borrow_mut();
        if records.get(key).is_some_and(|r| now < r.expires_at) {
            return Err(StoreError::Conflict);
        }
        records
            .insert(key.to_owned(), OnceRecord { value: value.to_vec(), expires_at, taken: false });
        Ok(())
    }

    async fn take(&self, key: &str, now: UnixTime) -> Result<Taken, StoreError> {
        self.outage.check()?;
        check_key(key)?;
        let mut records = self.records.borrow_mut();
        let Some(record) = records.get_mut(key) else { return Ok(Taken::Missing) };
        if now >= record.expires_at {
            records.remove(key);
            return Ok(Taken::Missing);
        }
        if record.taken {
            return Ok(Taken::Again(record.value.clone()));
        }
        record.taken = true;
        Ok(Taken::First(record.value.clone()))
    }
}

/// How many rotated-out tokens a family remembers for reuse detection.
pub const RETIRED_TOKENS_KEPT: usize = 1024;

#[derive(Debug)]
struct Family {
    current: [u8; 32],
    retired: Vec<[u8; 32]>,
    data: Vec<u8>,
    expires_at: UnixTime,
    revoked: bool,
}

/// [`RefreshFamilies`] in memory.
#[derive(Debug, Default)]
pub struct MemoryFamilies {
    families: RefCell<BTreeMap<String, Family>>,
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
        _now: UnixTime,
    ) -> Result<(), StoreError> {
        self.outage.check()?;
        check_key(family)?;
        let mut families = self.families.borrow_mut();
        if families.contains_key(family) {
            return Err(StoreError::Conflict);
        }
        let record = Family {
            current: *token,
            retired: Vec::new(),
            data: data.to_vec(),
            expires_at,
            revoked: false,
        };
        families.insert(family.to_owned(), record);
        Ok(())
    }

    async fn rotate(
        &self,
        family: &str,
        presented: &[u8; 32],
        next: &[u8; 32],
        now: UnixTime,
    ) -> Result<Rotation, StoreError> {
        self.outage.check()?;
        check_key(family)?;
        let mut families = self.families.borrow_mut();
        let Some(record) = families.get_mut(family) else { return Ok(Rotation::Unknown) };
        if record.revoked || now >= record.expires_at {
            return Ok(Rotation::Unknown);
        }
        if record.current == *presented {
            record.retired.push(record.current);
            if record.retired.len() > RETIRED_TOKENS_KEPT {
                record.retired.remove(0);
            }
            record.current = *next;
            return Ok(Rotation::Rotated(record.data.clone()));
        }
        if record.retired.contains(presented) {
            record.revoked = true;
            return Ok(Rotation::Reused);
        }
        Ok(Rotation::Unknown)
    }

    async fn revoke(&self, family: &str) -> Result<bool, StoreError> {
        self.outage.check()?;
        check_key(family)?;
        let mut families = self.families.borrow_mut();
        Ok(families
            .get_mut(family)
            .map(|f| std::mem::replace(&mut f.revoked, true))
            .is_some_and(|was| !was))
    }
}

/// [`Sessions`] in memory.
#[derive(Debug, Default)]
pub struct MemorySessions {
    sessions: RefCell<BTreeMap<String, (Vec<u8>, UnixTime)>>,
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
        self.sessions.borrow_mut().insert(id.to_owned(), (data.to_vec(), expires_at));
        Ok(())
    }

    async fn get(&self, id: &str, now: UnixTime) -> Result<Option<Vec<u8>>, StoreError> {
        self.outage.check()?;
        check_key(id)?;
        let mut sessions = self.sessions.borrow_mut();
        match sessions.get(id) {
            Some((data, expires_at)) if now < *expires_at => Ok(Some(data.clone())),
            Some(_) => {
                sessions.remove(id);
                Ok(None)
            }
            None => Ok(None),
        }
    }

    async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        self.outage.check()?;
        check_key(id)?;
        Ok(self.sessions.borrow_mut().remove(id).is_some())
    }
}

/// [`Counters`] in memory.
#[derive(Debug, Default)]
pub struct MemoryCounters {
    counters: RefCell<BTreeMap<String, (u64, UnixTime)>>,
    /// Makes every call fail while set.
    pub outage: Outage,
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
        let mut counters = self.counters.borrow_mut();
        let entry = counters.entry(key.to_owned()).or_insert((0, window_end));
        if now >= entry.1 {
            *entry = (0, window_end);
        }
        entry.0 = entry.0.saturating_add(delta);
        Ok(entry.0)
    }

    async fn get(&self, key: &str, now: UnixTime) -> Result<u64, StoreError> {
        self.outage.check()?;
        check_key(key)?;
        Ok(self.counters.borrow().get(key).filter(|(_, end)| now < *end).map_or(0, |(n, _)| *n))
    }

    async fn reset(&self, key: &str) -> Result<(), StoreError> {
        self.outage.check()?;
        check_key(key)?;
        self.counters.borrow_mut().remove(key);
        Ok(())
    }
}

/// A [`KeyVault`] in memory: generates with `crypto`, seals with `kek`, and publishes
/// to a shared [`MemoryDirectory`], as the worker's Durable Object publishes to KV.
pub struct MemoryKeyVault<C: Crypto> {
    ring: RefCell<Option<Keyring>>,
    directory: Rc<MemoryDirectory>,
    crypto: C,
    kek: Kek,
    rng: RefCell<Option<Box<dyn CryptoRngCore>>>,
    /// How many keyrings were generated (the contract allows exactly one).
    pub generated: Cell<u32>,
    /// Makes every call fail while set.
    pub outage: Outage,
}

impl<C: Crypto> std::fmt::Debug for MemoryKeyVault<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryKeyVault").field("generated", &self.generated).finish_non_exhaustive()
    }
}

impl<C: Crypto> MemoryKeyVault<C> {
    /// A vault publishing to `directory`.
    pub fn new(
        directory: Rc<MemoryDirectory>,
        crypto: C,
        kek: Kek,
        rng: Box<dyn CryptoRngCore>,
    ) -> Self {
        Self {
            ring: RefCell::new(None),
            directory,
            crypto,
            kek,
            rng: RefCell::new(Some(rng)),
            generated: Cell::new(0),
            outage: Outage::default(),
        }
    }

    async fn publish(&self, ring: &Keyring) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(ring).map_err(|_| StoreError::Corrupt)?;
        self.directory.put(KEYRING_KEY, &bytes).await
    }
}

impl<C: Crypto> MemoryKeyVault<C> {
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

impl<C: Crypto> KeyVault for MemoryKeyVault<C> {
    async fn ensure(&self, now: UnixTime) -> Result<Keyring, StoreError> {
        self.outage.check()?;
        if let Some(ring) = self.ring.borrow().clone() {
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
        *self.ring.borrow_mut() = Some(generated.clone());
        self.publish(&generated).await?;
        Ok(generated)
    }

    async fn rotate(&self, now: UnixTime) -> Result<Keyring, StoreError> {
        let current = self.ensure(now).await?;
        let mut rng = self.borrow_rng().await;
        let rotated = current.rotate(&self.crypto, &self.kek, now, rng.as_mut()).await;
        *self.rng.borrow_mut() = Some(rng);
        let rotated = rotated.map_err(|_| StoreError::Unavailable)?;
        *self.ring.borrow_mut() = Some(rotated.clone());
        self.publish(&rotated).await?;
        Ok(rotated)
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
