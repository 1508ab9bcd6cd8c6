use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use gatehouse_core::fetch::{DocumentCache, Fetch, FetchError, Fetched, Post, PostError};
use gatehouse_core::types::UnixTime;

/// [`Fetch`] answered from a map of documents, through the same [`DocumentCache`]
/// policy as the worker, counting the requests that get past the cache. An unknown
/// URL answers 404.
#[derive(Debug, Default)]
pub struct MemoryFetch {
    documents: RefCell<HashMap<String, Result<Fetched, FetchError>>>,
    cache: RefCell<DocumentCache>,
    requests: Cell<usize>,
    answers: RefCell<HashMap<String, Result<Fetched, PostError>>>,
    posted: RefCell<Vec<Post>>,
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

    /// Answers POSTs to `url` with `status` and the JSON `body` (by default a POST
    /// gets 200 `{}`).
    pub fn answer_posts(&self, url: &str, status: u16, body: &serde_json::Value) {
        let fetched = Fetched { status, cache_control: None, body: body.to_string().into_bytes() };
        self.answers.borrow_mut().insert(url.to_owned(), Ok(fetched));
    }

    /// Makes POSTs to `url` fail with `error` (`PostError::TimedOut`: the hook's
    /// timeout passed).
    pub fn fail_posts(&self, url: &str, error: PostError) {
        self.answers.borrow_mut().insert(url.to_owned(), Err(error));
    }

    /// The POSTs sent so far, oldest first.
    pub fn posts(&self) -> Vec<Post> {
        self.posted.borrow().clone()
    }

    /// Forgets the POSTs sent so far.
    pub fn clear_posts(&self) {
        self.posted.borrow_mut().clear();
    }

    /// How many requests got past the cache.
    pub fn requests(&self) -> usize {
        self.requests.get()
    }
}

impl Fetch for MemoryFetch {
    async fn post(&self, post: &Post) -> Result<Fetched, PostError> {
        self.posted.borrow_mut().push(post.clone());
        self.answers.borrow().get(&post.url).cloned().unwrap_or(Ok(Fetched {
            status: 200,
            cache_control: None,
            body: b"{}".to_vec(),
        }))
    }

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
