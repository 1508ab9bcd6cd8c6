//! The store contract suite against the memory stores.

use std::rc::Rc;

use gatehouse_core::keys::Kek;
use gatehouse_core::store::contract;
use gatehouse_core::store::memory::{
    MemoryCounters, MemoryDirectory, MemoryFamilies, MemoryKeyVault, MemoryOnceStore,
    MemorySessions,
};
use gatehouse_core::types::UnixTime;
use gatehouse_testkit::{NativeCrypto, StaleDirectory, TEST_KEK, seeded_rng};

const NOW: UnixTime = UnixTime::from_secs(1_700_000_000);

#[test]
fn directory() {
    pollster::block_on(contract::directory(&MemoryDirectory::default(), "t")).unwrap();
}

#[test]
fn stale_directory_when_fresh() {
    let stale = StaleDirectory::new(Rc::new(MemoryDirectory::default()));
    pollster::block_on(contract::directory(&stale, "t")).unwrap();
}

#[test]
fn once_store() {
    pollster::block_on(contract::once_store(&MemoryOnceStore::default(), "t", NOW)).unwrap();
}

#[test]
fn refresh_families() {
    pollster::block_on(contract::refresh_families(&MemoryFamilies::default(), "t", NOW)).unwrap();
}

#[test]
fn sessions() {
    pollster::block_on(contract::sessions(&MemorySessions::default(), "t", NOW)).unwrap();
}

#[test]
fn counters() {
    pollster::block_on(contract::counters(&MemoryCounters::default(), "t", NOW)).unwrap();
}

#[test]
fn key_vault_generates_exactly_once() {
    let directory = Rc::new(MemoryDirectory::default());
    let kek = Kek::derive(TEST_KEK.as_bytes()).unwrap();
    let vault = MemoryKeyVault::new(
        Rc::clone(&directory),
        NativeCrypto::default(),
        kek,
        Box::new(seeded_rng(3)),
    );
    pollster::block_on(contract::key_vault(&vault, &*directory, NOW)).unwrap();
    assert_eq!(vault.generated.get(), 1);
}

#[test]
fn stale_directory_serves_the_snapshot_until_thawed() {
    use gatehouse_core::store::Directory;
    let origin = Rc::new(MemoryDirectory::default());
    let view = StaleDirectory::new(Rc::clone(&origin));
    pollster::block_on(async {
        origin.put("k", b"old").await.unwrap();
        view.freeze().await;
        origin.put("k", b"new").await.unwrap();
        assert_eq!(view.get("k").await.unwrap(), Some(b"old".to_vec()));
        view.thaw();
        assert_eq!(view.get("k").await.unwrap(), Some(b"new".to_vec()));
    });
}

#[test]
fn registry() {
    use gatehouse_core::store::memory::MemoryRegistry;
    let directory = Rc::new(MemoryDirectory::default());
    let registry = MemoryRegistry::new(Rc::clone(&directory));
    pollster::block_on(contract::registry(&registry, &*directory, "t")).unwrap();
}
