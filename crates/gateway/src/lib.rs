//! # gatehouse-gateway
//!
//! The Gatehouse edge gateway as a Cloudflare Workers worker: it verifies the bearer
//! access token of every request in front of an origin and forwards only what passed,
//! with the token's claims as headers. Every decision (routes, RFC 6750 refusals,
//! the JWKS cache policy, the verified-token cache, CORS) is made by
//! [`gatehouse_core::gateway`]; this crate converts types, fetches discovery and the
//! JWKS when core asks, verifies signatures on WebCrypto ([`crypto`]), and forwards.
//!
//! Variables: `GATEWAY_CONFIG`, the configuration TOML (see `docs/gateway.md`).
//! It is parsed once per isolate; an invalid one is logged with its line and every
//! request gets a 500 (`scripts/gateway` refuses to start with it in the first place).

pub mod crypto;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::{Either, select};
use gatehouse_core::gateway::{
    FetchError, FetchTarget, Fetched, Forward, Gateway, GatewayConfig, Inbound, KeysPlan, Step,
    verify_pending,
};
use gatehouse_core::jose::Jwks;
use gatehouse_core::types::UnixTime;
use worker::{Delay, Env, Fetch, Headers, Method, Request, RequestInit, Response, event};

use crate::crypto::WebVerifier;

/// How long a fetch of discovery or the JWKS may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a request waiting for another request's fetch looks again.
const WAIT_STEP: Duration = Duration::from_millis(5);
/// How many times it looks (with two fetches of up to [`FETCH_TIMEOUT`] each).
const MAX_WAITS: u32 = 2 * 5000 / 5 + 4;

/// The gateway of this isolate, built from the configuration text it was parsed from.
struct Loaded {
    text: String,
    gateway: RefCell<Gateway>,
}

thread_local! {
    static LOADED: RefCell<Option<Rc<Loaded>>> = const { RefCell::new(None) };
}

fn loaded(env: &Env) -> Result<Rc<Loaded>, String> {
    let text = env
        .var("GATEWAY_CONFIG")
        .map(|v| v.to_string())
        .or_else(|_| env.secret("GATEWAY_CONFIG").map(|v| v.to_string()))
        .map_err(|_| "GATEWAY_CONFIG is not set".to_owned())?;
    if let Some(current) = LOADED.with(|l| l.borrow().clone()).filter(|l| l.text == text) {
        return Ok(current);
    }
    let config = GatewayConfig::from_toml(&text).map_err(|e| e.to_string())?;
    let fresh = Rc::new(Loaded { text, gateway: RefCell::new(Gateway::new(config)) });
    LOADED.with(|l| *l.borrow_mut() = Some(Rc::clone(&fresh)));
    Ok(fresh)
}

fn now() -> UnixTime {
    let millis = js_sys::Date::now();
    UnixTime::from_secs(if millis.is_finite() && millis > 0.0 {
        (millis / 1000.0) as u64
    } else {
        0
    })
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: worker::Context) -> worker::Result<Response> {
    let loaded = match loaded(&env) {
        Ok(loaded) => loaded,
        Err(message) => {
            worker::console_error!("{message}");
            return Response::error("gateway misconfigured", 500);
        }
    };
    let now = now();
    let url = req.url()?;
    let method =
        http::Method::from_bytes(req.method().as_ref().as_bytes()).unwrap_or(http::Method::GET);
    let headers = req.headers();
    let authorization = headers.get("authorization")?;
    let origin = headers.get("origin")?;
    let (request_method, request_headers) = if method == http::Method::OPTIONS {
        (
            headers.get("access-control-request-method")?,
            headers.get("access-control-request-headers")?,
        )
    } else {
        (None, None)
    };
    let inbound = Inbound {
        method: &method,
        path: url.path(),
        authorization: authorization.as_deref(),
        origin: origin.as_deref(),
        request_method: request_method.as_deref(),
        request_headers: request_headers.as_deref(),
    };
    let step = loaded.gateway.borrow_mut().begin(&inbound, now);
    let step = match step {
        Step::Verify(pending) => {
            let jwks = keys_for(&loaded.gateway, &pending, now).await;
            let outcome = match jwks {
                Some(jwks) => {
                    let config = loaded.gateway.borrow().config().clone();
                    Some(verify_pending(&WebVerifier, &config, &jwks, &pending, now).await)
                }
                None => None,
            };
            loaded.gateway.borrow_mut().finish(pending, outcome, now)
        }
        other => other,
    };
    match step {
        Step::Respond(response) => to_worker(response),
        Step::Forward(forward) => {
            let origin = loaded.gateway.borrow().config().origin.clone();
            forward_to(req, &url, &origin, forward).await
        }
        Step::Verify(_) => Response::error("gateway error", 500),
    }
}

/// Gets keys for `pending`, running a fetch round when core asks for one.
///
/// A request that must wait for another request's fetch polls on a short timer
/// rather than awaiting that fetch: workerd cancels a request that waits on I/O
/// owned by another request as hung.
async fn keys_for(
    gateway: &RefCell<Gateway>,
    pending: &gatehouse_core::gateway::PendingToken,
    now: UnixTime,
) -> Option<Arc<Jwks>> {
    for _ in 0..MAX_WAITS {
        let plan = gateway.borrow_mut().keys(pending, now);
        match plan {
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
        let next = gateway.borrow_mut().jwks().fetched(&target, result, now);
        match next {
            Some(next) => target = next,
            None => return,
        }
    }
}

async fn get(url: &str) -> Result<Fetched, FetchError> {
    let mut init = RequestInit::new();
    init.with_method(Method::Get);
    let request = Request::new_with_init(url, &init).map_err(|_| FetchError)?;
    let fetch = Fetch::Request(request);
    let fetch = Box::pin(fetch.send());
    let timeout = Delay::from(FETCH_TIMEOUT);
    let mut response = match select(fetch, timeout).await {
        Either::Left((Ok(response), _)) => response,
        _ => return Err(FetchError),
    };
    let cache_control = response.headers().get("cache-control").ok().flatten();
    let body = response.bytes().await.map_err(|_| FetchError)?;
    Ok(Fetched { status: response.status_code(), cache_control, body })
}

/// Sends `req` on to `origin` with the headers core decided, and returns the origin's
/// response (with CORS headers added when core asks).
async fn forward_to(
    req: Request,
    url: &worker::Url,
    origin: &str,
    forward: Forward,
) -> worker::Result<Response> {
    let target = match url.query() {
        Some(query) => format!("{origin}{}?{query}", url.path()),
        None => format!("{origin}{}", url.path()),
    };
    let headers = req.headers().clone();
    for name in &forward.strip {
        headers.delete(name.as_str())?;
    }
    for (name, value) in &forward.set {
        if let Ok(value) = value.to_str() {
            headers.set(name.as_str(), value)?;
        }
    }
    let method = req.method();
    let mut init = RequestInit::new();
    init.with_headers(headers).with_redirect(worker::RequestRedirect::Manual);
    if !matches!(method, Method::Get | Method::Head) {
        init.with_body(req.inner().body().map(Into::into));
    }
    init.with_method(method);
    let outbound = Request::new_with_init(&target, &init)?;
    let response = match Fetch::Request(outbound).send().await {
        Ok(response) => response,
        Err(err) => {
            worker::console_error!("origin unreachable: {err}");
            return bad_gateway(&forward);
        }
    };
    if forward.response_headers.is_empty() {
        return Ok(response);
    }
    let copied = Headers::new();
    for (name, value) in response.headers().entries() {
        copied.append(&name, &value)?;
    }
    for (name, value) in &forward.response_headers {
        if let Ok(value) = value.to_str() {
            copied.set(name.as_str(), value)?;
        }
    }
    Ok(response.with_headers(copied))
}

fn bad_gateway(forward: &Forward) -> worker::Result<Response> {
    let mut response = gatehouse_core::http::json_response(
        http::StatusCode::BAD_GATEWAY,
        &[("error", "bad_gateway"), ("error_description", "the origin did not answer")]
            .into_iter()
            .collect::<std::collections::BTreeMap<_, _>>(),
    );
    for (name, value) in &forward.response_headers {
        response.headers_mut().append(name.clone(), value.clone());
    }
    to_worker(response)
}

fn to_worker(response: gatehouse_core::http::Response) -> worker::Result<Response> {
    let (parts, body) = response.into_parts();
    let headers = Headers::new();
    for (name, value) in &parts.headers {
        if let Ok(value) = value.to_str() {
            headers.append(name.as_str(), value)?;
        }
    }
    let response = if body.is_empty() { Response::empty()? } else { Response::from_bytes(body)? };
    Ok(response.with_status(parts.status.as_u16()).with_headers(headers))
}
