//! Outbound requests through the Workers `fetch`. GETs go behind a per-isolate
//! [`DocumentCache`]: an app's `jwks_uri` is fetched once per its `Cache-Control`
//! freshness, not once per token request, and its last good copy stands in for a
//! while when it cannot be fetched. POSTs (hook deliveries) are sent once, never
//! cached, within their timeout.

use std::cell::RefCell;

use std::time::Duration;

use futures_util::future::{Either, select};
use gatehouse_core::fetch::{
    DocumentCache, Fetch, FetchError, Fetched, MAX_DOCUMENT_BYTES, MAX_HOOK_ANSWER_BYTES, Post,
    PostError,
};
use gatehouse_core::types::UnixTime;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::body::{PastCap, read_capped};

thread_local! {
    static CACHE: RefCell<DocumentCache> = RefCell::new(DocumentCache::default());
}

/// [`Fetch`] on the Workers runtime.
#[derive(Debug, Clone, Copy, Default)]
pub struct WorkerFetch;

impl Fetch for WorkerFetch {
    async fn post(&self, post: &Post) -> Result<Fetched, PostError> {
        let timeout = worker::Delay::from(Duration::from_millis(u64::from(post.timeout_ms)));
        match select(Box::pin(send_post(post)), timeout).await {
            Either::Left((result, _)) => result,
            Either::Right(_) => Err(PostError::TimedOut),
        }
    }

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

/// One POST of JSON, redirects not followed, reading at most
/// [`MAX_HOOK_ANSWER_BYTES`] of the answer (more is a failure).
async fn send_post(post: &Post) -> Result<Fetched, PostError> {
    let failed = |_| PostError::Failed;
    let headers = web_sys::Headers::new().map_err(failed)?;
    headers.set("content-type", "application/json").map_err(failed)?;
    headers.set("user-agent", "Gatehouse-Hooks/1").map_err(failed)?;
    for (name, value) in &post.headers {
        headers.set(name, value).map_err(failed)?;
    }
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_headers(&headers);
    init.set_redirect(web_sys::RequestRedirect::Manual);
    init.set_body(&js_sys::Uint8Array::from(post.body.as_slice()));
    let raw = call_fetch(&post.url, &init).await.map_err(|_| PostError::Failed)?;
    let status = raw.status();
    let body = match raw.body() {
        Some(stream) => read_capped(&stream, MAX_HOOK_ANSWER_BYTES, PastCap::Cancel)
            .await
            .map_err(|_| PostError::Failed)?,
        None => Vec::new(),
    };
    if body.len() > MAX_HOOK_ANSWER_BYTES {
        return Err(PostError::Failed);
    }
    Ok(Fetched { status, cache_control: None, body })
}

/// `fetch(url, init)` on the global scope.
async fn call_fetch(
    url: &str,
    init: &web_sys::RequestInit,
) -> Result<web_sys::Response, FetchError> {
    let global = js_sys::global();
    let fetch: js_sys::Function = js_sys::Reflect::get(&global, &JsValue::from_str("fetch"))
        .and_then(JsCast::dyn_into)
        .map_err(|_| FetchError)?;
    let sent: js_sys::Promise = fetch
        .call2(&global, &JsValue::from_str(url), init)
        .and_then(JsCast::dyn_into)
        .map_err(|_| FetchError)?;
    JsFuture::from(sent).await.and_then(JsCast::dyn_into).map_err(|_| FetchError)
}

/// One GET, redirects not followed, reading at most [`MAX_DOCUMENT_BYTES`] + 1 bytes.
async fn send(url: &str) -> Result<Fetched, FetchError> {
    let headers = web_sys::Headers::new().map_err(|_| FetchError)?;
    headers.set("accept", "application/jwk-set+json, application/json").map_err(|_| FetchError)?;
    // The runtime's own `RequestInit`: workers-rs's would serialize its `cf` options.
    let init = web_sys::RequestInit::new();
    init.set_method("GET");
    init.set_headers(&headers);
    init.set_redirect(web_sys::RequestRedirect::Manual);
    let raw = call_fetch(url, &init).await?;
    let status = raw.status();
    let cache_control = raw.headers().get("cache-control").ok().flatten();
    let body = match raw.body() {
        Some(stream) => read_capped(&stream, MAX_DOCUMENT_BYTES, PastCap::Cancel)
            .await
            .map_err(|_| FetchError)?,
        None => Vec::new(),
    };
    Ok(Fetched { status, cache_control, body })
}
