//! # gatehouse-gateway
//!
//! The Gatehouse edge gateway as a Cloudflare Workers worker: it verifies the bearer
//! access token of every request in front of an origin and forwards only what passed,
//! with the token's claims as headers. Every decision (routes, RFC 6750 refusals,
//! the JWKS cache policy, the verified-token cache, CORS) is made by
//! [`gatehouse_core::gateway`]; this crate converts types, fetches discovery and the
//! JWKS when core asks, verifies signatures on WebCrypto ([`crypto`]), and forwards.
//!
//! It works on the runtime's own `Request`, `Headers` and `Response` objects
//! (`web_sys`) rather than workers-rs's wrappers: a hot token costs a handful of
//! calls across the JavaScript boundary, not a copy of every header.
//!
//! Variables: `GATEWAY_CONFIG`, the configuration TOML (see `docs/gateway.md`).
//! It is parsed once per isolate; an invalid one is logged with its line and every
//! request gets a 500 (`scripts/gateway` refuses to start with it in the first place).
//!
//! ## Verifying tokens in your own worker
//!
//! The gateway is one user of [`gatehouse_core::verify`]; another worker can call the
//! same verifier with any [`gatehouse_core::Verifier`] (in a worker, WebCrypto:
//! [`gatehouse_webcrypto::WebVerifier`]; depend on `gatehouse-core` and
//! `gatehouse-webcrypto`, not on this crate, which is itself a worker) and a JWKS it
//! fetched from the issuer:
//!
//! ```no_run
//! use gatehouse_core::jose::Jwks;
//! use gatehouse_core::types::UnixTime;
//! use gatehouse_core::verify::{AccessTokenPolicy, VerifyError, verify_access_token_full};
//! use gatehouse_webcrypto::WebVerifier;
//!
//! async fn caller(jwks_json: &str, authorization: &str, now: UnixTime) -> Result<String, VerifyError> {
//!     // Fetch {issuer}/.well-known/jwks.json yourself and keep it for its max-age.
//!     let jwks: Jwks = serde_json::from_str(jwks_json).map_err(|_| VerifyError::UnknownKey)?;
//!     // The issuer, and the API these tokens are for (their `aud`).
//!     let policy = AccessTokenPolicy::new("https://id.example.com", "https://api.example.com")
//!         .with_leeway(30);
//!     let token = authorization.strip_prefix("Bearer ").unwrap_or_default();
//!     let verified = verify_access_token_full(&WebVerifier, &jwks, &policy, token, now).await?;
//!     if !verified.claims.scope.contains("orders:read") {
//!         return Err(VerifyError::Claims); // answer 403 insufficient_scope
//!     }
//!     Ok(verified.claims.sub)
//! }
//! ```

/// WebCrypto verification, shared with the issuer worker.
pub use gatehouse_webcrypto as crypto;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::{Either, select};
use gatehouse_core::gateway::{
    CappedBody, FetchError, FetchTarget, Fetched, Forward, Gateway, GatewayConfig, Inbound,
    KeysPlan, PendingToken, Step, ambiguous_request, split_url, verify_pending,
};
use gatehouse_core::jose::Jwks;
use gatehouse_core::types::UnixTime;
use gatehouse_core::verify::{AwaitingSignature, UnverifiedToken};
use js_sys::{Function, Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::{Closure, wasm_bindgen};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::{JsFuture, future_to_promise};
use web_sys::{Headers, Request, RequestInit, RequestRedirect, Response, ResponseInit};
use worker::{Delay, Env};

use crate::crypto::WebVerifier;

/// How long a fetch of discovery or the JWKS may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a request waiting for another request's fetch looks again.
const WAIT_STEP: Duration = Duration::from_millis(5);
/// How many times it looks (enough for two fetches of up to [`FETCH_TIMEOUT`] each).
const MAX_WAITS: u32 = 2 * 5000 / 5 + 4;

/// The gateway of this isolate and the configuration text it was built from.
struct Loaded {
    text: JsValue,
    gateway: RefCell<Gateway>,
}

thread_local! {
    static LOADED: RefCell<Option<Rc<Loaded>>> = const { RefCell::new(None) };
}

/// The gateway for `env`'s `GATEWAY_CONFIG`, parsed once per isolate (and again only
/// if the text changes).
fn loaded(env: &Env) -> Result<Rc<Loaded>, String> {
    let text = Reflect::get(env, &JsValue::from_str("GATEWAY_CONFIG"))
        .ok()
        .filter(JsValue::is_string)
        .ok_or_else(|| "GATEWAY_CONFIG is not set".to_owned())?;
    if let Some(current) = LOADED.with(|l| l.borrow().clone())
        && current.text == text
    {
        return Ok(current);
    }
    let source = text.as_string().unwrap_or_default();
    let config = GatewayConfig::from_toml(&source).map_err(|e| e.to_string())?;
    reserve_memory(config.token_cache_entries);
    let fresh = Rc::new(Loaded { text, gateway: RefCell::new(Gateway::new(config)) });
    LOADED.with(|l| *l.borrow_mut() = Some(Rc::clone(&fresh)));
    Ok(fresh)
}

/// Grows the wasm memory once, up front, for the verified-token cache: growing it a
/// page at a time while the cache fills costs far more than the cache saves (each
/// growth can copy the whole memory). The allocator keeps the freed block for reuse.
fn reserve_memory(cache_entries: usize) {
    const PER_ENTRY: usize = 1024;
    const MAX: usize = 16 << 20;
    drop(Vec::<u8>::with_capacity(cache_entries.saturating_mul(PER_ENTRY).min(MAX)));
}

fn now() -> UnixTime {
    let millis = js_sys::Date::now();
    UnixTime::from_secs(if millis.is_finite() && millis > 0.0 {
        (millis / 1000.0) as u64
    } else {
        0
    })
}

/// The fetch entry point, called by the runtime for every request.
///
/// Not `#[worker::event(fetch)]`: that runs every request as a Rust future. Here the
/// decisions that need no I/O (refusals, preflights, public routes, cached tokens) are
/// made synchronously and the origin's `fetch` promise is handed straight back, so a
/// hot token costs no future, no task queue and no extra promise; only a token that
/// needs verifying goes through an async block.
#[wasm_bindgen]
pub fn fetch(req: Request, env: Env, _ctx: worker::worker_sys::Context) -> Promise {
    start(req, &env).unwrap_or_else(|err| Promise::reject(&err))
}

fn start(req: Request, env: &Env) -> Result<Promise, JsValue> {
    let loaded = match loaded(env) {
        Ok(loaded) => loaded,
        Err(message) => {
            worker::console_error!("{message}");
            return resolved(respond(gatehouse_core::http::json_response(
                http::StatusCode::INTERNAL_SERVER_ERROR,
                &serde_json::json!({"error": "server_error", "error_description": "gateway misconfigured"}),
            )));
        }
    };
    let now = now();
    let url = req.url();
    let Some((path, query)) = split_url(&url) else {
        return resolved(respond(gatehouse_core::http::not_found()));
    };
    let Ok(method) = http::Method::from_bytes(req.method().as_bytes()) else {
        return resolved(respond(ambiguous_request()));
    };
    let headers = req.headers();
    let header = |name: &str| headers.get(name).ok().flatten();
    let authorization = header("authorization");
    let origin = header("origin");
    let (request_method, request_headers) = if method == http::Method::OPTIONS {
        (header("access-control-request-method"), header("access-control-request-headers"))
    } else {
        (None, None)
    };
    let inbound = Inbound {
        method: &method,
        path,
        authorization: authorization.as_deref(),
        origin: origin.as_deref(),
        request_method: request_method.as_deref(),
        request_headers: request_headers.as_deref(),
    };
    let step = loaded.gateway.borrow_mut().begin(&inbound, now);
    match step {
        Step::Forward(forward) => {
            let target = forward.target(&loaded.gateway.borrow().config().origin, path, query);
            forward_to(&req, &headers, &target, forward)
        }
        Step::Respond(response) => resolved(respond(response)),
        Step::Verify(pending) => {
            let plan = loaded.gateway.borrow_mut().keys(&pending, now);
            let request = Forwarding { loaded: Rc::clone(&loaded), req, headers, url };
            if let KeysPlan::Ready(jwks) = &plan
                && let Some(chained) = verify_chained(&loaded, &pending, jwks, now)
            {
                let (promise, awaiting) = chained?;
                return Ok(then_finish(promise, loaded, pending, awaiting, request, now));
            }
            Ok(future_to_promise(async move {
                let outcome = match keys_for(&loaded.gateway, &pending, plan, now).await {
                    Some(jwks) => {
                        let config = loaded.gateway.borrow().config().clone();
                        Some(verify_pending(&WebVerifier, &config, &jwks, &pending, now).await)
                    }
                    None => None,
                };
                let step = loaded.gateway.borrow_mut().finish(pending, outcome, now);
                request.after(step)
            }))
        }
    }
}

/// The origin URL for a request to `url` that core decided to forward: the path it
/// matched (normalized) and the query unchanged.
fn target(loaded: &Loaded, url: &str, forward: &Forward) -> String {
    let gateway = loaded.gateway.borrow();
    let (path, query) = split_url(url).unwrap_or(("/", None));
    forward.target(&gateway.config().origin, path, query)
}

/// What a request needs to be forwarded once its token is settled.
struct Forwarding {
    loaded: Rc<Loaded>,
    req: Request,
    headers: Headers,
    url: String,
}

impl Forwarding {
    /// The response (or the origin's promise of one) for `step`.
    fn after(self, step: Step) -> Result<JsValue, JsValue> {
        match step {
            // Resolving with the origin's promise adopts it.
            Step::Forward(forward) => {
                let target = target(&self.loaded, &self.url, &forward);
                Ok(forward_to(&self.req, &self.headers, &target, forward)?.into())
            }
            Step::Respond(response) => Ok(respond(response)?.into()),
            Step::Verify(_) => Ok(respond(gatehouse_core::http::not_found())?.into()),
        }
    }
}

/// The usual case of a token not seen before, with its key already imported: the
/// checks before the signature run now, and WebCrypto's promise is chained to the
/// rest, without a Rust future. `None` when that does not apply (the key is not
/// imported yet); a refusal found before the signature comes back at once.
fn verify_chained(
    loaded: &Loaded,
    pending: &PendingToken,
    jwks: &Jwks,
    now: UnixTime,
) -> Option<Result<(Promise, Option<AwaitingSignature>), JsValue>> {
    let checked =
        UnverifiedToken::check(jwks, &loaded.gateway.borrow().config().policy, pending.token());
    let unverified = match checked {
        Ok(unverified) => unverified,
        Err(why) => {
            let step = loaded.gateway.borrow_mut().finish(pending.clone(), Some(Err(why)), now);
            let Step::Respond(response) = step else { return None };
            return Some(resolved(respond(response)).map(|p| (p, None)));
        }
    };
    let key = crypto::imported_key(unverified.key, unverified.alg)?;
    let promise = crypto::verify_promise(
        unverified.alg,
        &key,
        &unverified.signature,
        unverified.signing_input,
    )
    .ok()?;
    Some(Ok((promise, Some(unverified.awaiting()))))
}

/// A request waiting for WebCrypto's answer.
struct Settling {
    loaded: Rc<Loaded>,
    pending: PendingToken,
    awaiting: AwaitingSignature,
    request: Forwarding,
}

/// Finishes a chained verification: the claims, the route, then forward or refuse.
fn settle(settling: Settling, valid: bool, now: UnixTime) -> JsValue {
    let Settling { loaded, pending, awaiting, request } = settling;
    let outcome = awaiting
        .signature_checked(valid)
        .and_then(|signed| signed.claims(&loaded.gateway.borrow().config().policy, now));
    let step = loaded.gateway.borrow_mut().finish(pending, Some(outcome), now);
    request.after(step).unwrap_or_else(|err| Promise::reject(&err).into())
}

/// `promise.then(settle, settle)`: one one-shot function for both outcomes, so it is
/// called exactly once and freed (a handler that never runs would leak). WebCrypto
/// fulfils with a boolean; a rejection arrives as an error, which is not `true`.
fn then_finish(
    promise: Promise,
    loaded: Rc<Loaded>,
    pending: PendingToken,
    awaiting: Option<AwaitingSignature>,
    request: Forwarding,
    now: UnixTime,
) -> Promise {
    let Some(awaiting) = awaiting else { return promise };
    let settling = Settling { loaded, pending, awaiting, request };
    let handler = Closure::once_into_js(move |value: JsValue| {
        settle(settling, value.as_bool() == Some(true), now)
    });
    let then = Reflect::get(&promise, &JsValue::from_str("then"))
        .ok()
        .and_then(|f| f.dyn_into::<Function>().ok());
    match then.and_then(|then| then.call2(&promise, &handler, &handler).ok()) {
        Some(chained) => chained.dyn_into().unwrap_or(promise),
        None => promise,
    }
}

fn resolved(response: Result<Response, JsValue>) -> Result<Promise, JsValue> {
    let value: JsValue = response?.into();
    Ok(Promise::resolve(&value))
}

/// Gets keys for `pending`, running a fetch round when core asks for one.
///
/// A request that must wait for another request's fetch polls on a short timer
/// rather than awaiting that fetch: workerd cancels a request that waits on I/O
/// owned by another request as hung.
async fn keys_for(
    gateway: &RefCell<Gateway>,
    pending: &PendingToken,
    first: KeysPlan,
    now: UnixTime,
) -> Option<Arc<Jwks>> {
    let mut plan = Some(first);
    for _ in 0..MAX_WAITS {
        let current = match plan.take() {
            Some(first) => first,
            None => gateway.borrow_mut().keys(pending, now),
        };
        match current {
            KeysPlan::Ready(jwks) => return Some(jwks),
            KeysPlan::Unavailable => return None,
            KeysPlan::Fetch(target) => fetch_round(gateway, target, now).await,
            KeysPlan::Wait => Delay::from(WAIT_STEP).await,
        }
    }
    gateway.borrow().jwks_usable(now)
}

/// Fetches what core asked for, and what it asks for next (the JWKS after discovery).
async fn fetch_round(gateway: &RefCell<Gateway>, first: FetchTarget, now: UnixTime) {
    let mut target = first;
    loop {
        let result = get(target.url()).await;
        let next = gateway.borrow_mut().fetched(&target, result, now);
        match next {
            Some(next) => target = next,
            None => return,
        }
    }
}

/// `fetch(url, init)` on the global scope, as a promise.
fn global_fetch(url: &str, init: &RequestInit) -> Result<Promise, JsValue> {
    let global = js_sys::global();
    let fetch: Function = Reflect::get(&global, &JsValue::from_str("fetch"))?.dyn_into()?;
    // `fetch(url, init)`, not `fetch(new Request(url, init))`: fetch builds its own
    // request either way, so constructing one first would cost a second.
    fetch.call2(&global, &JsValue::from_str(url), init)?.dyn_into()
}

/// GETs discovery or the JWKS within [`FETCH_TIMEOUT`], headers and body together.
async fn get(url: &str) -> Result<Fetched, FetchError> {
    match select(Box::pin(get_document(url)), Delay::from(FETCH_TIMEOUT)).await {
        Either::Left((result, _)) => result,
        Either::Right(_) => Err(FetchError),
    }
}

/// `fetch(url, { redirect: "manual" })`: a redirect comes back as the 3xx itself,
/// which core counts as a failure; it is never followed. The body of a 200 is read
/// chunk by chunk into a [`CappedBody`] and the stream cancelled once it passes the
/// cap (or at once when `Content-Length` says it will); other statuses are not read.
async fn get_document(url: &str) -> Result<Fetched, FetchError> {
    let init = RequestInit::new();
    init.set_redirect(RequestRedirect::Manual);
    let sent = global_fetch(url, &init).map_err(|_| FetchError)?;
    let response: Response =
        JsFuture::from(sent).await.and_then(JsCast::dyn_into).map_err(|_| FetchError)?;
    let status = response.status();
    let cache_control = response.headers().get("cache-control").ok().flatten();
    let stream = response.body();
    if status != 200 {
        if let Some(stream) = stream {
            cancel(&stream);
        }
        return Ok(Fetched { status, cache_control, body: Vec::new() });
    }
    let declared = response
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|len| len.trim().parse::<u64>().ok());
    let Some(stream) = stream else {
        return Ok(Fetched { status, cache_control, body: Vec::new() });
    };
    let Ok(mut body) = CappedBody::new(declared) else {
        cancel(&stream);
        return Err(FetchError);
    };
    let reader = call0(&stream, "getReader")?;
    loop {
        let chunk =
            JsFuture::from(call0(&reader, "read")?.dyn_into::<Promise>().map_err(|_| FetchError)?)
                .await
                .map_err(|_| FetchError)?;
        if Reflect::get(&chunk, &JsValue::from_str("done")).ok().and_then(|d| d.as_bool())
            == Some(true)
        {
            break;
        }
        let value = Reflect::get(&chunk, &JsValue::from_str("value")).map_err(|_| FetchError)?;
        let bytes = value.dyn_into::<Uint8Array>().map_err(|_| FetchError)?;
        let len = usize::try_from(bytes.length()).unwrap_or(usize::MAX);
        // Refuse before copying: a single chunk can be large.
        if !body.accepts(len) || body.push(&bytes.to_vec()).is_err() {
            // Stop reading: the rest of the body is never transferred.
            let _ = call0(&reader, "cancel");
            return Err(FetchError);
        }
    }
    Ok(Fetched { status, cache_control, body: body.into_bytes() })
}

/// `target[name]()`.
fn call0(target: &JsValue, name: &str) -> Result<JsValue, FetchError> {
    let method: Function = Reflect::get(target, &JsValue::from_str(name))
        .ok()
        .and_then(|f| f.dyn_into().ok())
        .ok_or(FetchError)?;
    method.call0(target).map_err(|_| FetchError)
}

/// Cancels a body that will not be read (its promise is not awaited).
fn cancel(stream: &web_sys::ReadableStream) {
    let _ = call0(stream, "cancel");
}

thread_local! {
    /// Turns a failed origin fetch into a 502 (built once, reused by every request).
    static BAD_GATEWAY: Closure<dyn FnMut(JsValue) -> JsValue> =
        Closure::new(|err: JsValue| {
            respond(bad_gateway(&err, &[])).map_or(JsValue::UNDEFINED, Into::into)
        });
}

/// 502 for an origin that did not answer (logged), with `extra` headers.
fn bad_gateway(
    err: &JsValue,
    extra: &[(http::HeaderName, http::HeaderValue)],
) -> gatehouse_core::http::Response {
    worker::console_error!("origin unreachable: {err:?}");
    let mut response = gatehouse_core::http::json_response(
        http::StatusCode::BAD_GATEWAY,
        &serde_json::json!({"error": "bad_gateway", "error_description": "the origin did not answer"}),
    );
    for (name, value) in extra {
        response.headers_mut().append(name.clone(), value.clone());
    }
    response
}

/// Sends the request on to `target` with the headers core decided; the promise is the
/// origin's response (a 502 if the origin does not answer, CORS headers added when
/// core asks).
fn forward_to(
    req: &Request,
    incoming: &Headers,
    target: &str,
    forward: Forward,
) -> Result<Promise, JsValue> {
    let headers = Headers::new_with_headers(incoming)?;
    for name in &forward.strip {
        headers.delete(name.as_str())?;
    }
    for (name, value) in &forward.set {
        if let Ok(value) = value.to_str() {
            headers.set(name.as_str(), value)?;
        }
    }
    let init = RequestInit::new();
    let method = req.method();
    init.set_method(&method);
    init.set_headers(&headers);
    init.set_redirect(RequestRedirect::Manual);
    if method != "GET"
        && method != "HEAD"
        && let Some(body) = req.body()
    {
        init.set_body(&body);
    }
    let sent = global_fetch(target, &init)?;
    if forward.response_headers.is_empty() {
        // `promise.catch(BAD_GATEWAY)`, through the untyped method: the typed binding
        // takes no handler that returns a value.
        let catch: Function = Reflect::get(&sent, &JsValue::from_str("catch"))?.dyn_into()?;
        let caught = BAD_GATEWAY.with(|bad| catch.call1(&sent, bad.as_ref()))?;
        return caught.dyn_into();
    }
    Ok(future_to_promise(async move {
        let response: Response = match JsFuture::from(sent).await {
            Ok(response) => response.dyn_into()?,
            Err(err) => return Ok(respond(bad_gateway(&err, &forward.response_headers))?.into()),
        };
        // The origin's headers are immutable: copy them into a new response.
        let copied = Headers::new_with_headers(&response.headers())?;
        for (name, value) in &forward.response_headers {
            if let Ok(value) = value.to_str() {
                copied.set(name.as_str(), value)?;
            }
        }
        let init = ResponseInit::new();
        init.set_status(response.status());
        init.set_status_text(&response.status_text());
        init.set_headers(&copied);
        Ok(Response::new_with_opt_readable_stream_and_init(response.body().as_ref(), &init)?.into())
    }))
}

/// A core response as a runtime response.
fn respond(response: gatehouse_core::http::Response) -> Result<Response, JsValue> {
    let (parts, mut body) = response.into_parts();
    let headers = Headers::new()?;
    for (name, value) in &parts.headers {
        if let Ok(value) = value.to_str() {
            headers.append(name.as_str(), value)?;
        }
    }
    let init = ResponseInit::new();
    init.set_status(parts.status.as_u16());
    init.set_headers(&headers);
    let body = if body.is_empty() { None } else { Some(body.as_mut_slice()) };
    Response::new_with_opt_u8_array_and_init(body, &init)
}
