//! # gatehouse-worker
//!
//! The Gatehouse issuer as a Cloudflare Workers worker. This crate only converts
//! types and implements core's traits on the platform:
//!
//! | module | implements |
//! | --- | --- |
//! | [`kv`] | [`gatehouse_core::store::Directory`] on Workers KV |
//! | [`vault`] | the strong stores and the keyring writer on one Durable Object class |
//! | [`crypto`] | [`gatehouse_core::Signer`] on WebCrypto (`crypto.subtle`) |
//! | [`fetch`] | [`gatehouse_core::fetch::Fetch`] on the Workers `fetch`: GETs cached per isolate, hook POSTs within their timeout |
//!
//! Bindings (see `wrangler.toml`): KV namespace `DIRECTORY`, Durable Object
//! namespace `VAULT` (class [`vault::Vault`]); variables or secrets `ISSUER`,
//! `KEY_ENCRYPTION_SECRET`, `ADMIN_CLIENT_ID`, `ADMIN_CLIENT_SECRET`, and for local
//! development only `INSECURE_ALLOW_PRIVATE_FETCH`.

mod body;
pub mod crypto;
mod exchange;
pub mod fetch;
pub mod kv;
#[cfg(feature = "selftest")]
mod selftest;
// The Durable Object macro generates undocumented glue items.
#[allow(missing_docs)]
pub mod vault;

use std::cell::RefCell;
use std::rc::Rc;

use gatehouse_core::cache::ReadCache;
use gatehouse_core::client_auth::throttle::PenaltyBox;
use gatehouse_core::config::{Config, ConfigCache, ConfigError};
use gatehouse_core::http::MAX_BODY_BYTES;
use gatehouse_core::store::batch::UsageBatch;
use gatehouse_core::types::UnixTime;
use gatehouse_core::{Context, Engine, OAuthError, Platform};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use worker::{Env, event};

use crate::body::{PastCap, read_capped};
use crate::crypto::WebCrypto;
use crate::exchange::Head;
use crate::fetch::WorkerFetch;
use crate::kv::KvDirectory;
use crate::vault::VaultClient;

/// The platform of one request: KV, the Durable Object namespace and WebCrypto.
pub struct WorkerPlatform {
    directory: KvDirectory,
    vault: VaultClient,
    crypto: WebCrypto,
}

impl WorkerPlatform {
    /// The platform over `env`'s bindings.
    ///
    /// # Errors
    ///
    /// A [`worker::Error`] if a binding is missing.
    pub fn new(env: &Env) -> worker::Result<Self> {
        Ok(Self {
            directory: KvDirectory::new(env.kv("DIRECTORY")?),
            vault: VaultClient::new(env.durable_object("VAULT")?),
            crypto: WebCrypto,
        })
    }
}

impl Platform for WorkerPlatform {
    type Directory = KvDirectory;
    type Once = VaultClient;
    type Families = VaultClient;
    type Sessions = VaultClient;
    type Counters = VaultClient;
    type Keys = VaultClient;
    type Registry = VaultClient;
    type Crypto = WebCrypto;
    type Fetch = WorkerFetch;

    fn directory(&self) -> &KvDirectory {
        &self.directory
    }
    fn once(&self) -> &VaultClient {
        &self.vault
    }
    fn families(&self) -> &VaultClient {
        &self.vault
    }
    fn sessions(&self) -> &VaultClient {
        &self.vault
    }
    fn counters(&self) -> &VaultClient {
        &self.vault
    }
    fn keys(&self) -> &VaultClient {
        &self.vault
    }
    fn registry(&self) -> &VaultClient {
        &self.vault
    }
    fn crypto(&self) -> &WebCrypto {
        &self.crypto
    }
    fn fetch(&self) -> &WorkerFetch {
        &WorkerFetch
    }
}

thread_local! {
    /// Pairs of client and address penalized for failed authentications, as this
    /// isolate learned them: kept across requests, handed to every engine.
    static PENALTIES: Rc<PenaltyBox> = Rc::default();
    /// The configuration, parsed and its key-encryption key derived once per isolate.
    static CONFIG: ConfigCache = ConfigCache::default();
    /// The `env` object [`CONFIG`] was last checked against.
    static CONFIG_ENV: RefCell<Option<JsValue>> = const { RefCell::new(None) };
    /// Directory records and the parsed keyring, kept a few seconds (see
    /// [`gatehouse_core::cache`]).
    static READS: Rc<ReadCache> = Rc::default();
}

/// The configuration for `env`. The runtime hands every request of an isolate the
/// same `env` object, and a change of variables or secrets is a new deployment
/// with new isolates: while `env` is the object last checked, the kept
/// configuration is used without reading a variable. Any other object has its
/// variables read and fingerprinted ([`ConfigCache::get`]).
fn config(env: &Env) -> Result<Rc<Config>, ConfigError> {
    let env_object: &JsValue = env.as_ref();
    let seen = CONFIG_ENV.with(|seen| {
        seen.borrow().as_ref().is_some_and(|seen| js_sys::Object::is(seen, env_object))
    });
    if seen && let Some(config) = CONFIG.with(ConfigCache::kept) {
        return Ok(config);
    }
    let config = CONFIG.with(|cache| cache.get(|name| env_value(env, name)))?;
    CONFIG_ENV.with(|seen| *seen.borrow_mut() = Some(env_object.clone()));
    Ok(config)
}

/// A variable or secret by name: secrets win over plain variables.
pub(crate) fn env_value(env: &Env, name: &str) -> Option<String> {
    env.secret(name)
        .map(|s| s.to_string())
        .or_else(|_| env.var(name).map(|v| v.to_string()))
        .ok()
        .filter(|v| !v.is_empty())
}

/// The request's time, read once.
pub(crate) fn now() -> UnixTime {
    // Date.now() is milliseconds since the epoch as an f64; it is never negative.
    let millis = js_sys::Date::now();
    UnixTime::from_secs(if millis.is_finite() && millis > 0.0 {
        (millis / 1000.0) as u64
    } else {
        0
    })
}

thread_local! {
    /// This isolate's unflushed usage counts (see [`gatehouse_core::store::batch`]).
    static USAGE: RefCell<UsageBatch> = RefCell::new(UsageBatch::new());
}

// The raw `web_sys` request and response: `worker::Request` would read the `cf`
// object and the URL twice on every request, for nothing the engine uses.
#[event(fetch)]
async fn fetch(
    req: web_sys::Request,
    env: Env,
    ctx: worker::Context,
) -> worker::Result<web_sys::Response> {
    let config = match config(&env) {
        Ok(config) => config,
        Err(err) => {
            worker::console_error!("gatehouse is misconfigured: {err}");
            return to_worker(OAuthError::server_error().into_response());
        }
    };
    #[cfg(feature = "selftest")]
    {
        // The same JS object (not `Request.clone()`, which would tee the body).
        let test = worker::Request::from(<web_sys::Request as Clone>::clone(&req));
        if test.path() == "/__selftest/contract" && test.method() == worker::Method::Post {
            return selftest::contract(&env).await.map(Into::into);
        }
        if test.path() == "/__selftest/argon2" && test.method() == worker::Method::Post {
            return selftest::argon2(&test).map(Into::into);
        }
    }
    let request = match to_http(req).await {
        Ok(request) => request,
        Err(response) => return to_worker(response),
    };
    let engine = Rc::new(
        Engine::new(config, WorkerPlatform::new(&env)?)
            .with_penalty_box(PENALTIES.with(Rc::clone))
            .with_cache(READS.with(Rc::clone)),
    );
    let mut rng = rand_core::OsRng;
    let mut cx = Context::new(now(), &mut rng);
    let response = engine.handle(request, &mut cx).await;
    for diagnostic in cx.take_diagnostics() {
        worker::console_warn!("{diagnostic}");
    }
    let mut deferred = cx.take_deferred();
    let posts = deferred.take_posts();
    if !posts.is_empty() {
        // Hook notifications go out after the response, each once.
        let engine = Rc::clone(&engine);
        ctx.wait_until(async move {
            for failure in engine.deliver(posts).await {
                worker::console_warn!("{failure}");
            }
        });
    }
    if !deferred.is_empty() {
        // Usage is batched per isolate and written after the response, never
        // delaying it: what is due now, and a timer for what waits.
        let (due, timer) = USAGE.with(|batch| {
            let mut batch = batch.borrow_mut();
            deferred.add_to(&mut batch);
            let at = now();
            (batch.take_due(at), batch.timer(at))
        });
        if !due.is_empty() {
            let engine = Rc::clone(&engine);
            ctx.wait_until(async move { log_usage_failures(engine.flush_usage(due).await) });
        }
        if let Some(secs) = timer {
            let engine = Rc::clone(&engine);
            ctx.wait_until(async move {
                let mut wait = secs;
                loop {
                    worker::Delay::from(std::time::Duration::from_secs(wait)).await;
                    let (due, again) = USAGE.with(|batch| batch.borrow_mut().fired(now()));
                    log_usage_failures(engine.flush_usage(due).await);
                    match again {
                        // At least a second: the clock counts whole seconds.
                        Some(next) => wait = next.max(1),
                        None => break,
                    }
                }
            });
        }
    }
    to_worker(response)
}

fn log_usage_failures(failed: usize) {
    if failed > 0 {
        worker::console_warn!("{failed} usage writes failed");
    }
}

/// Converts a Workers request, keeping at most [`MAX_BODY_BYTES`] + 1 body bytes so
/// the engine can refuse an oversized body without the worker buffering all of it.
///
/// A body whose `Content-Length` is within the limit (every OAuth request) is read
/// in one `arrayBuffer()`. Any other body is streamed, and the rest of an oversized
/// body is read and dropped, to the end: workerd reuses a kept-alive connection only
/// once the request body was consumed, and under `wrangler dev` a body left unread
/// (the worker used to stop at 1 MiB) made the next request on the same client
/// connection fail with a 503. Memory stays at one chunk; the platform's own request
/// size limit bounds the reading.
async fn to_http(
    req: web_sys::Request,
) -> Result<gatehouse_core::http::Request, gatehouse_core::http::Response> {
    let bad = |why: &'static str| OAuthError::invalid_request(why).into_response();
    let head = Head::of(&req);
    let (method, url, headers) = head.parts();
    let path_and_query = path_and_query(url).ok_or_else(|| bad("request url is malformed"))?;
    let mut builder = http::Request::builder().method(method).uri(path_and_query);
    let mut length = None;
    for (name, value) in headers {
        if name == "content-length" {
            length = value.parse::<usize>().ok();
        }
        builder = builder.header(name, value);
    }
    let body = match (req.body(), length) {
        (None, _) => Vec::new(),
        (Some(_), Some(length)) if length <= MAX_BODY_BYTES => {
            let promise = req.array_buffer().map_err(|_| bad("request body could not be read"))?;
            let buffer =
                JsFuture::from(promise).await.map_err(|_| bad("request body could not be read"))?;
            js_sys::Uint8Array::new(&buffer).to_vec()
        }
        (Some(stream), _) => read_capped(&stream, MAX_BODY_BYTES, PastCap::Drain)
            .await
            .map_err(|_| bad("request body could not be read"))?,
    };
    builder.body(body).map_err(|_| bad("request is malformed"))
}

/// The path and query of an absolute URL (`https://host/p?q#f` gives `/p?q`).
fn path_and_query(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("://")?;
    let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
    Some(rest.find('/').and_then(|at| rest.get(at..)).unwrap_or("/"))
}

fn to_worker(response: gatehouse_core::http::Response) -> worker::Result<web_sys::Response> {
    Ok(exchange::to_response(&response)?)
}

#[cfg(test)]
mod tests {
    use super::path_and_query;

    #[test]
    fn path_and_query_keeps_everything_after_the_authority() {
        assert_eq!(path_and_query("https://id.example/token?x=1#f"), Some("/token?x=1"));
        assert_eq!(path_and_query("http://127.0.0.1:8787/"), Some("/"));
        assert_eq!(path_and_query("http://127.0.0.1:8787"), Some("/"));
        assert_eq!(path_and_query("no-scheme"), None);
    }
}
