//! Outbound GETs through the Workers `fetch`, behind a per-isolate
//! [`DocumentCache`]: an app's `jwks_uri` is fetched once per its `Cache-Control`
//! freshness, not once per token request, and its last good copy stands in for a
//! while when it cannot be fetched.

use std::cell::RefCell;

use futures_util::StreamExt;
use gatehouse_core::fetch::{DocumentCache, Fetch, FetchError, Fetched, MAX_DOCUMENT_BYTES};
use gatehouse_core::types::UnixTime;
use worker::{Headers, Method, Request, RequestInit, RequestRedirect};

thread_local! {
    static CACHE: RefCell<DocumentCache> = RefCell::new(DocumentCache::default());
}

/// [`Fetch`] on the Workers runtime.
#[derive(Debug, Clone, Copy, Default)]
pub struct WorkerFetch;

impl Fetch for WorkerFetch {
    async fn get(&self, url: &str, revalidate: bool, now: UnixTime) -> Result<Fetched, FetchError> {
        if let Some(hit) = CACHE.with(|c| c.borrow().lookup(url, revalidate, now)) {
            return Ok(hit);
        }
        let fetched = send(url).await;
        match &fetched {
            Ok(f) if f.status == 200 => {}
            Ok(f) => worker::console_warn!("fetching {url}: status {}", f.status),
            Err(err) => worker::console_warn!("fetching {url} failed: {err}"),
        }
        CACHE.with(|c| c.borrow_mut().answer(url, fetched, now))
    }
}

/// One GET, redirects not followed, reading at most [`MAX_DOCUMENT_BYTES`] + 1 bytes.
async fn send(url: &str) -> Result<Fetched, FetchError> {
    let headers = Headers::new();
    headers.set("accept", "application/jwk-set+json, application/json").map_err(|_| FetchError)?;
    let mut init = RequestInit::new();
    init.with_method(Method::Get).with_headers(headers).with_redirect(RequestRedirect::Manual);
    let request = Request::new_with_init(url, &init).map_err(|_| FetchError)?;
    let mut response = worker::Fetch::Request(request).send().await.map_err(|_| FetchError)?;
    let status = response.status_code();
    let cache_control = response.headers().get("cache-control").ok().flatten();
    let mut body = Vec::new();
    if let Ok(mut stream) = response.stream() {
        while let Some(chunk) = stream.next().await {
            body.extend_from_slice(&chunk.map_err(|_| FetchError)?);
            if body.len() > MAX_DOCUMENT_BYTES {
                break;
            }
        }
    }
    Ok(Fetched { status, cache_control, body })
}
