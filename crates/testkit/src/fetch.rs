use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use gatehouse_core::fetch::{DocumentCache, Fetch, FetchError, Fetched};
use gatehouse_core::types::UnixTime;

/// [`Fetch`] answered from a map of documents, through the same [`DocumentCache`]
/// policy as the worker, counting the requests that get past the cache. An unknown
/// URL answers 404.
#[derive(Debug, Default)]
pub struct MemoryFetch {
    documents: RefCell<HashMap<String, Result<Fetched, FetchError>>>,
    cache: RefCell<DocumentCache>,
    requests: Cell<usize>,
}

impl MemoryFetch {
    /// Serves `body` at `url` with status 200 and `cache_control`.
    pub fn serve(&self, url: &str, body: &[u8], cache_control: Option<&str>) {
        let fetched = Fetched {
            status: 200,
            cache_control: cache_control.map(str::to_owned),
            body: body.to_vec(),
        };
        self.documents.borrow_mut().insert(url.to_owned(), Ok(fetched));
    }

    /// Makes `url` unreachable.
    pub fn fail(&self, url: &str) {
        self.documents.borrow_mut().insert(url.to_owned(), Err(FetchError));
    }

    /// How many requests got past the cache.
    pub fn requests(&self) -> usize {
        self.requests.get()
    }
}

impl Fetch for MemoryFetch {
    async fn get(&self, url: &str, revalidate: bool, now: UnixTime) -> Result<Fetched, FetchError> {
        if let Some(hit) = self.cache.borrow().lookup(url, revalidate, now) {
            return Ok(hit);
        }
        self.requests.set(self.requests.get() + 1);
        let answer = self.documents.borrow().get(url).cloned().unwrap_or(Ok(Fetched {
            status: 404,
            cache_control: None,
            body: Vec::new(),
        }));
        self.cache.borrow_mut().answer(url, answer, now)
    }
}
