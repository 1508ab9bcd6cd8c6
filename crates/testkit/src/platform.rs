use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use gatehouse_core::Platform;
use gatehouse_core::keys::Kek;
use gatehouse_core::store::memory::{
    MemoryCounters, MemoryDirectory, MemoryFamilies, MemoryKeyVault, MemoryOnceStore,
    MemoryRegistry, MemorySessions,
};
use gatehouse_core::store::{Directory, ListPage, StoreError};

use crate::crypto::NativeCrypto;
use crate::fetch::MemoryFetch;
use crate::scenario::{TEST_KEK, seeded_rng};

/// A [`Directory`] as seen from another location: while frozen, reads return what the
/// origin held at [`StaleDirectory::freeze`] (Workers KV's propagation delay), while
/// writes go to the origin.
#[derive(Debug, Default)]
pub struct StaleDirectory {
    origin: Rc<MemoryDirectory>,
    frozen: RefCell<Option<BTreeMap<String, Vec<u8>>>>,
}

impl StaleDirectory {
    /// A view of `origin`, fresh until frozen.
    pub fn new(origin: Rc<MemoryDirectory>) -> Self {
        Self { origin, frozen: RefCell::new(None) }
    }

    /// The directory behind this view.
    pub fn origin(&self) -> &Rc<MemoryDirectory> {
        &self.origin
    }

    /// Serves reads from a snapshot of now until [`StaleDirectory::thaw`].
    pub async fn freeze(&self) {
        let mut snapshot = BTreeMap::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self.origin.list("", cursor.as_deref(), 1000).await.unwrap();
            for key in page.keys {
                let value = self.origin.get(&key).await.unwrap().unwrap();
                snapshot.insert(key, value);
            }
            match page.cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        *self.frozen.borrow_mut() = Some(snapshot);
    }

    /// Propagation done: reads see the origin again.
    pub fn thaw(&self) {
        *self.frozen.borrow_mut() = None;
    }
}

impl Directory for StaleDirectory {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let frozen = self.frozen.borrow().as_ref().map(|snapshot| snapshot.get(key).cloned());
        match frozen {
            Some(value) => {
                gatehouse_core::store::check_key(key)?;
                Ok(value)
            }
            None => self.origin.get(key).await,
        }
    }

    async fn put(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.origin.put(key, value).await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.origin.delete(key).await
    }

    async fn list(
        &self,
        prefix: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<ListPage, StoreError> {
        self.origin.list(prefix, cursor, limit).await
    }
}

/// The engine's platform on memory stores and native crypto.
pub struct MemoryPlatform {
    /// The directory, possibly stale.
    pub directory: StaleDirectory,
    /// Codes.
    pub once: MemoryOnceStore,
    /// Refresh families.
    pub families: MemoryFamilies,
    /// Sessions.
    pub sessions: MemorySessions,
    /// Counters.
    pub counters: MemoryCounters,
    /// The keyring writer.
    pub keys: MemoryKeyVault<NativeCrypto>,
    /// The registry of administered records.
    pub registry: MemoryRegistry,
    /// Crypto.
    pub crypto: NativeCrypto,
    /// Outbound documents.
    pub fetch: MemoryFetch,
}

impl Default for MemoryPlatform {
    fn default() -> Self {
        let origin = Rc::new(MemoryDirectory::default());
        let kek = Kek::derive(TEST_KEK.as_bytes()).unwrap();
        Self {
            directory: StaleDirectory::new(Rc::clone(&origin)),
            once: MemoryOnceStore::default(),
            families: MemoryFamilies::default(),
            sessions: MemorySessions::default(),
            counters: MemoryCounters::default(),
            keys: MemoryKeyVault::new(
                Rc::clone(&origin),
                NativeCrypto::default(),
                kek,
                Box::new(seeded_rng(99)),
            ),
            registry: MemoryRegistry::new(origin),
            crypto: NativeCrypto::default(),
            fetch: MemoryFetch::default(),
        }
    }
}

impl Platform for MemoryPlatform {
    type Directory = StaleDirectory;
    type Once = MemoryOnceStore;
    type Families = MemoryFamilies;
    type Sessions = MemorySessions;
    type Counters = MemoryCounters;
    type Keys = MemoryKeyVault<NativeCrypto>;
    type Registry = MemoryRegistry;
    type Crypto = NativeCrypto;
    type Fetch = MemoryFetch;

    fn directory(&self) -> &Self::Directory {
        &self.directory
    }
    fn once(&self) -> &Self::Once {
        &self.once
    }
    fn families(&self) -> &Self::Families {
        &self.families
    }
    fn sessions(&self) -> &Self::Sessions {
        &self.sessions
    }
    fn counters(&self) -> &Self::Counters {
        &self.counters
    }
    fn keys(&self) -> &Self::Keys {
        &self.keys
    }
    fn registry(&self) -> &Self::Registry {
        &self.registry
    }
    fn crypto(&self) -> &Self::Crypto {
        &self.crypto
    }
    fn fetch(&self) -> &Self::Fetch {
        &self.fetch
    }
}
