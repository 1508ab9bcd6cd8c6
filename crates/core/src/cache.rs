//! What an isolate keeps between requests, and how stale it may get.
//!
//! A host that builds an [`Engine`](crate::Engine) per request hands each one the
//! same [`ReadCache`] ([`Engine::with_cache`](crate::Engine::with_cache)), so the
//! token endpoint's hot path reads the directory and parses the keyring once per
//! few seconds per isolate instead of on every request:
//!
//! | what | keyed by | kept for |
//! | --- | --- | --- |
//! | directory records the token endpoint reads: apps, scopes, resources ([`CachedDirectory`]) | directory key | [`RECORD_TTL_SECS`] |
//! | the keyring, parsed | its bytes: parsed again only when they change | [`KEYRING_TTL_SECS`] |
//! | that an app has no hooks ([`CachedDirectory::remembering_absence`]) | directory key | [`RECORD_TTL_SECS`] |
//!
//! Otherwise only what the directory *holds* is kept: an unknown key is asked again
//! each time, so a new app works as soon as the directory has it. An app's hooks
//! are the exception, so that an app without any costs no read per sign-in or
//! token: a new app's first hook is called within these few seconds (plus the
//! directory's propagation, as for any change). A write through the
//! management API in the same isolate forgets everything ([`ReadCache::forget`]),
//! so the isolate that disabled an app refuses it at once; other isolates refuse it
//! within the directory's own propagation bound (`docs/storage.md`) plus these few
//! seconds. The management API authenticates its callers without this cache.

use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use serde::de::DeserializeOwned;

use crate::keys::Keyring;
use crate::store::{Directory, ListPage, StoreError, decode_record};
use crate::types::UnixTime;

/// How long a directory record stays in an isolate's cache, in seconds.
pub const RECORD_TTL_SECS: u64 = 5;
/// How long the parsed keyring stays in an isolate's cache, in seconds. Far below
/// [`crate::keys::PUBLISH_AHEAD_SECS`], so a rotated keyring is known long before
/// its new key signs.
pub const KEYRING_TTL_SECS: u64 = 10;
/// The most records kept; past it, expired ones go first, then all.
pub const MAX_RECORDS: usize = 1024;

/// One value and when it was read.
struct Kept<T> {
    value: T,
    read_at: UnixTime,
}

impl<T> Kept<T> {
    /// Fresh for `ttl` seconds after it was read; a clock that went backwards
    /// makes it stale.
    fn fresh(&self, now: UnixTime, ttl: u64) -> bool {
        self.read_at <= now && now < self.read_at.plus(ttl)
    }
}

/// The parsed keyring and the bytes it was parsed from.
struct KeptRing {
    bytes: Option<Vec<u8>>,
    ring: Rc<Keyring>,
}

/// A record's bytes, and the record decoded from them once a reader asked for it.
struct Record {
    bytes: Rc<[u8]>,
    decoded: RefCell<Option<Rc<dyn Any>>>,
}

impl Record {
    fn new(bytes: Rc<[u8]>) -> Rc<Self> {
        Rc::new(Self { bytes, decoded: RefCell::new(None) })
    }

    /// The record as a `T`: decoded from its bytes the first time, then kept.
    fn decoded<T: DeserializeOwned + Clone + 'static>(&self) -> Option<T> {
        if let Some(kept) = self.decoded.borrow().as_ref().and_then(|d| d.downcast_ref::<T>()) {
            return Some(kept.clone());
        }
        let value: T = decode_record(&self.bytes)?;
        *self.decoded.borrow_mut() = Some(Rc::new(value.clone()));
        Some(value)
    }
}

/// A record, or (`None`) that its key was absent.
type Found = Option<Rc<Record>>;

/// An isolate's cache of directory reads and of the parsed keyring.
#[derive(Default)]
pub struct ReadCache {
    /// Records read, and (`None`) keys read as absent where that is remembered.
    records: RefCell<HashMap<String, Kept<Found>>>,
    keyring: RefCell<Option<Kept<KeptRing>>>,
}

impl std::fmt::Debug for ReadCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadCache")
            .field("records", &self.records.borrow().len())
            .field("keyring", &self.keyring.borrow().is_some())
            .finish()
    }
}

impl ReadCache {
    /// The bytes under `key`, if read less than [`RECORD_TTL_SECS`] ago.
    #[must_use]
    pub fn record(&self, key: &str, now: UnixTime) -> Option<Rc<[u8]>> {
        self.lookup(key, now).flatten()
    }

    /// What a fresh read of `key` found: `Some(None)` when it was absent and that
    /// was kept ([`Self::keep_absent`]); `None` when nothing fresh is known.
    #[must_use]
    pub fn lookup(&self, key: &str, now: UnixTime) -> Option<Option<Rc<[u8]>>> {
        self.found(key, now).map(|found| found.map(|record| Rc::clone(&record.bytes)))
    }

    fn found(&self, key: &str, now: UnixTime) -> Option<Found> {
        let records = self.records.borrow();
        let kept = records.get(key)?;
        kept.fresh(now, RECORD_TTL_SECS).then(|| kept.value.clone())
    }

    /// Keeps `bytes`, read under `key` at `now`.
    pub fn keep_record(&self, key: &str, bytes: Rc<[u8]>, now: UnixTime) {
        self.keep(key, Some(Record::new(bytes)), now);
    }

    /// Keeps that `key` was absent at `now`.
    pub fn keep_absent(&self, key: &str, now: UnixTime) {
        self.keep(key, None, now);
    }

    fn keep(&self, key: &str, value: Found, now: UnixTime) {
        let mut records = self.records.borrow_mut();
        if records.len() >= MAX_RECORDS && !records.contains_key(key) {
            records.retain(|_, kept| kept.fresh(now, RECORD_TTL_SECS));
            if records.len() >= MAX_RECORDS {
                records.clear();
            }
        }
        records.insert(key.to_owned(), Kept { value, read_at: now });
    }

    /// The parsed keyring, if read less than [`KEYRING_TTL_SECS`] ago.
    #[must_use]
    pub fn keyring(&self, now: UnixTime) -> Option<Rc<Keyring>> {
        let keyring = self.keyring.borrow();
        let kept = keyring.as_ref()?;
        kept.fresh(now, KEYRING_TTL_SECS).then(|| Rc::clone(&kept.value.ring))
    }

    /// Keeps the keyring read as `bytes` at `now`, parsing them only when they
    /// differ from the bytes of the kept keyring. `None` if they do not parse.
    pub fn keep_keyring_bytes(&self, bytes: Vec<u8>, now: UnixTime) -> Option<Rc<Keyring>> {
        let mut keyring = self.keyring.borrow_mut();
        let unchanged = keyring
            .as_ref()
            .filter(|kept| kept.value.bytes.as_deref() == Some(bytes.as_slice()))
            .map(|kept| Rc::clone(&kept.value.ring));
        let ring = match unchanged {
            Some(ring) => ring,
            None => Rc::new(serde_json::from_slice::<Keyring>(&bytes).ok()?),
        };
        *keyring = Some(Kept {
            value: KeptRing { bytes: Some(bytes), ring: Rc::clone(&ring) },
            read_at: now,
        });
        Some(ring)
    }

    /// Keeps `ring`, read from the keyring's writer at `now`.
    pub fn keep_keyring(&self, ring: Keyring, now: UnixTime) -> Rc<Keyring> {
        let ring = Rc::new(ring);
        *self.keyring.borrow_mut() =
            Some(Kept { value: KeptRing { bytes: None, ring: Rc::clone(&ring) }, read_at: now });
        ring
    }

    /// Forgets everything: after a write this isolate made.
    pub fn forget(&self) {
        self.records.borrow_mut().clear();
        *self.keyring.borrow_mut() = None;
    }
}

/// A [`Directory`] that answers reads from a [`ReadCache`] while they are fresh.
/// Writes go straight through and forget the cache. For the token endpoint's hot
/// path only: what must be current (the management API) reads the directory or
/// the registry itself.
pub struct CachedDirectory<'a, D> {
    directory: &'a D,
    cache: &'a ReadCache,
    now: UnixTime,
    absence: bool,
}

impl<'a, D: Directory> CachedDirectory<'a, D> {
    /// Reads of `directory` through `cache`, at `now`.
    pub fn new(directory: &'a D, cache: &'a ReadCache, now: UnixTime) -> Self {
        Self { directory, cache, now, absence: false }
    }

    /// Also keeps that a key was absent, for [`RECORD_TTL_SECS`]: for records most
    /// apps do not have and the hot path would otherwise ask for every time.
    #[must_use]
    pub fn remembering_absence(mut self) -> Self {
        self.absence = true;
        self
    }
}

impl<D: Directory> CachedDirectory<'_, D> {
    /// The record under `key`, from the cache while it is fresh, else read (and
    /// kept); `None` when absent.
    async fn cached(&self, key: &str) -> Result<Option<Rc<Record>>, StoreError> {
        match self.cache.found(key, self.now) {
            Some(Some(record)) => return Ok(Some(record)),
            Some(None) if self.absence => return Ok(None),
            _ => {}
        }
        match self.directory.get(key).await? {
            Some(bytes) => {
                let record = Record::new(Rc::from(bytes));
                self.cache.keep(key, Some(Rc::clone(&record)), self.now);
                Ok(Some(record))
            }
            None => {
                if self.absence {
                    self.cache.keep_absent(key, self.now);
                }
                Ok(None)
            }
        }
    }
}

impl<D: Directory> Directory for CachedDirectory<'_, D> {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.cached(key).await?.map(|record| record.bytes.to_vec()))
    }

    /// Decoded once per read from the directory, not on every request.
    async fn record<T: DeserializeOwned + Clone + 'static>(
        &self,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        Ok(self.cached(key).await?.and_then(|record| record.decoded::<T>()))
    }

    async fn put(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.cache.forget();
        self.directory.put(key, value).await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.cache.forget();
        self.directory.delete(key).await
    }

    async fn list(
        &self,
        prefix: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<ListPage, StoreError> {
        self.directory.list(prefix, cursor, limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> UnixTime {
        UnixTime::from_secs(secs)
    }

    #[test]
    fn records_are_fresh_for_their_ttl_only() {
        let cache = ReadCache::default();
        cache.keep_record("apps/a", Rc::from(&b"1"[..]), at(100));
        assert_eq!(cache.record("apps/a", at(100)).as_deref(), Some(&b"1"[..]));
        assert!(cache.record("apps/a", at(100 + RECORD_TTL_SECS - 1)).is_some());
        assert!(cache.record("apps/a", at(100 + RECORD_TTL_SECS)).is_none());
        // A clock that went backwards does not extend a record's life.
        assert!(cache.record("apps/a", at(99)).is_none());
        assert!(cache.record("apps/b", at(100)).is_none());
    }

    #[test]
    fn an_absence_is_kept_only_where_asked_and_for_the_ttl() {
        let cache = ReadCache::default();
        cache.keep_absent("hooks/a", at(100));
        assert_eq!(cache.lookup("hooks/a", at(100)), Some(None));
        assert!(cache.record("hooks/a", at(100)).is_none());
        assert_eq!(cache.lookup("hooks/a", at(100 + RECORD_TTL_SECS)), None);
        cache.keep_record("hooks/a", Rc::from(&b"{}"[..]), at(101));
        assert_eq!(cache.lookup("hooks/a", at(101)).flatten().as_deref(), Some(&b"{}"[..]));
    }

    thread_local! {
        static DECODED: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    }

    /// A record that counts how often it is decoded.
    #[derive(Clone, Debug, PartialEq)]
    struct Counted(String);

    impl<'de> serde::Deserialize<'de> for Counted {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            DECODED.with(|n| n.set(n.get() + 1));
            String::deserialize(d).map(Counted)
        }
    }

    #[test]
    fn a_record_is_decoded_once_per_read_of_the_directory() {
        let directory = crate::store::memory::MemoryDirectory::default();
        let published = br#"{"version":3,"record":"one"}"#;
        pollster::block_on(async {
            directory.put("apps/a", published).await.unwrap();
            let cache = ReadCache::default();
            let cached = CachedDirectory::new(&directory, &cache, at(100));
            for _ in 0..3 {
                let read = cached.record::<Counted>("apps/a").await.unwrap();
                assert_eq!(read, Some(Counted("one".into())));
            }
            assert_eq!(DECODED.with(std::cell::Cell::get), 1, "decoded once, then kept");
            // Another type asked of the same bytes is decoded for itself.
            let raw = cached.record::<serde_json::Value>("apps/a").await.unwrap();
            assert_eq!(raw, Some(serde_json::json!("one")));
            // Past the TTL the record is read and decoded again.
            directory.put("apps/a", br#"{"version":4,"record":"two"}"#).await.unwrap();
            let later = CachedDirectory::new(&directory, &cache, at(100 + RECORD_TTL_SECS));
            assert_eq!(
                later.record::<Counted>("apps/a").await.unwrap(),
                Some(Counted("two".into()))
            );
            assert_eq!(DECODED.with(std::cell::Cell::get), 2);
            // A record that does not decode as the type is none, and stays cached as bytes.
            assert_eq!(later.record::<u64>("apps/a").await.unwrap(), None);
            assert!(later.record::<u64>("apps/missing").await.unwrap().is_none());
        });
    }

    #[test]
    fn the_record_count_is_bounded() {
        let cache = ReadCache::default();
        for i in 0..MAX_RECORDS {
            cache.keep_record(&format!("apps/{i}"), Rc::from(&b"x"[..]), at(1));
        }
        // Past the bound with every record still fresh: all go, the new one stays.
        cache.keep_record("apps/new", Rc::from(&b"y"[..]), at(2));
        assert_eq!(cache.records.borrow().len(), 1);
        assert!(cache.record("apps/new", at(2)).is_some());
    }

    #[test]
    fn the_keyring_is_parsed_again_only_when_its_bytes_change() {
        let cache = ReadCache::default();
        let bytes = serde_json::to_vec(&Keyring::default()).unwrap();
        let first = cache.keep_keyring_bytes(bytes.clone(), at(10)).unwrap();
        let again = cache.keep_keyring_bytes(bytes, at(30)).unwrap();
        assert!(Rc::ptr_eq(&first, &again), "same bytes, same parsed keyring");
        assert!(cache.keyring(at(30 + KEYRING_TTL_SECS - 1)).is_some());
        assert!(cache.keyring(at(30 + KEYRING_TTL_SECS)).is_none());
        let changed = br#"{"keys":[]} "#.to_vec();
        let other = cache.keep_keyring_bytes(changed, at(50)).unwrap();
        assert!(!Rc::ptr_eq(&first, &other));
        assert!(cache.keep_keyring_bytes(b"not json".to_vec(), at(60)).is_none());
    }

    #[test]
    fn forget_drops_records_and_keyring() {
        let cache = ReadCache::default();
        cache.keep_record("apps/a", Rc::from(&b"1"[..]), at(1));
        cache.keep_keyring(Keyring::default(), at(1));
        cache.forget();
        assert!(cache.record("apps/a", at(1)).is_none());
        assert!(cache.keyring(at(1)).is_none());
    }
}
