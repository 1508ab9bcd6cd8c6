//! [`Directory`] on Workers KV: the read path for apps, scopes, users and the public
//! keyring. Eventually consistent: a write may take ~60 s to reach other locations.

use gatehouse_core::store::{
    Directory, ListPage, MAX_LIST_LIMIT, MAX_VALUE_BYTES, StoreError, check_key,
};
use worker::kv::KvStore;

/// A KV namespace as a [`Directory`].
pub struct KvDirectory {
    kv: KvStore,
}

impl KvDirectory {
    /// Wraps the namespace.
    #[must_use]
    pub fn new(kv: KvStore) -> Self {
        Self { kv }
    }
}

fn unavailable<E: std::fmt::Display>(err: E) -> StoreError {
    worker::console_error!("kv: {err}");
    StoreError::Unavailable
}

impl Directory for KvDirectory {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        check_key(key)?;
        self.kv.get(key).bytes().await.map_err(unavailable)
    }

    async fn put(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        check_key(key)?;
        if value.len() > MAX_VALUE_BYTES {
            return Err(StoreError::Refused("value must be at most 25 MiB"));
        }
        self.kv.put_bytes(key, value).map_err(unavailable)?.execute().await.map_err(unavailable)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        check_key(key)?;
        self.kv.delete(key).await.map_err(unavailable)
    }

    async fn list(
        &self,
        prefix: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<ListPage, StoreError> {
        if limit == 0 || limit > MAX_LIST_LIMIT {
            return Err(StoreError::Refused("list limit must be 1 to 1000"));
        }
        let mut request = self.kv.list().prefix(prefix.to_owned()).limit(limit as u64);
        if let Some(cursor) = cursor {
            request = request.cursor(cursor.to_owned());
        }
        let page = request.execute().await.map_err(unavailable)?;
        let keys = page.keys.into_iter().map(|k| k.name).collect();
        Ok(ListPage { keys, cursor: if page.list_complete { None } else { page.cursor } })
    }
}
