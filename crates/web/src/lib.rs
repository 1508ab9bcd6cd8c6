//! # gatehouse-web
//!
//! The browser package for single-page apps. Every protocol decision is made by
//! [`gatehouse_core::rp`] (compiled with no core feature, so none of the issuer is
//! in the package); this crate is the glue to the browser: randomness from
//! `crypto.getRandomValues`, the clock, and the pending signature checks. The
//! package's entry (`js/index.js`) does the rest of the I/O (fetch, storage, Web
//! Locks, BroadcastChannel, the iframe, the address bar, WebCrypto) and calls
//! [`Core`] for everything else.
//!
//! The wasm-bindgen class [`Core`] is internal to the package: apps use
//! `createClient` from the entry. It has one method, [`Core::call`], which runs a
//! step by name with string arguments and answers JSON text: one small export
//! instead of one per step keeps the wasm and its JS glue small, and every value
//! crosses the boundary as a string the entry already has or wants.
//!
//! Signatures are checked in two steps, with no future on the Rust side: a step
//! that verifies an ID token runs every check before the signature and answers the
//! signature to verify (`acceptCode`, `acceptRefresh`, `verifyIdToken`); the entry
//! asks WebCrypto and hands the verdict to `finish`, which checks the claims. The
//! pending check stays here, so a verdict only ever applies to the token it was
//! asked for.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use gatehouse_core::jose::{Algorithm, Jwks, b64url_decode};
use gatehouse_core::json::{Writer, push_decimal, quote};
use gatehouse_core::rp::login::{self, Callback, LoginOptions, PendingLogin};
use gatehouse_core::rp::tokens::{
    Session, SessionCheck, TokenResponse, may_refetch_jwks, refresh_form,
};
use gatehouse_core::rp::{ClientConfig, ProviderMetadata, RpError, logout_url};
use gatehouse_core::types::UnixTime;
use gatehouse_core::verify::{IdTokenCheck, IdTokenPolicy, SignatureRequest};
use wasm_bindgen::prelude::wasm_bindgen;

mod random;

#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

/// The `code` the entry uses when the JWKS must be fetched again before a retry.
const JWKS_STALE: &str = "jwks_stale";

/// The current time, from the browser's clock.
fn now() -> UnixTime {
    // Milliseconds since 1970 as an f64: whole seconds fit without loss.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    UnixTime::from_secs((js_sys::Date::now() / 1000.0) as u64)
}

/// A step's answer, before it is written as JSON.
#[derive(Debug, PartialEq, Eq)]
pub enum Out {
    /// `null`: done, or nothing to give (no token, no session).
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A string.
    Text(String),
    /// A JSON value, written as is.
    Json(String),
}

impl From<Option<String>> for Out {
    fn from(value: Option<String>) -> Self {
        value.map_or(Self::Null, Self::Text)
    }
}

/// Why a step failed: the `code` and `message` of the error the entry throws.
#[derive(Debug, PartialEq, Eq)]
pub struct Failure {
    /// The OAuth `error`, or the name of the failed check.
    pub code: String,
    /// What a developer can act on.
    pub message: String,
}

impl Failure {
    fn new(code: &str, message: &str) -> Self {
        Self { code: code.to_owned(), message: message.to_owned() }
    }
}

impl From<RpError> for Failure {
    fn from(e: RpError) -> Self {
        Self { code: e.code().to_owned(), message: e.message() }
    }
}

/// One client of one issuer: its configuration, the issuer's metadata and keys, the
/// signed-in session, and the checks waiting for WebCrypto.
///
/// State sits in cells and no step holds a borrow when it returns: the entry may
/// run any step while a signature is being checked (a message from another tab).
#[wasm_bindgen]
pub struct Core {
    config: RefCell<Option<Rc<ClientConfig>>>,
    meta: RefCell<Option<Rc<ProviderMetadata>>>,
    jwks: RefCell<Option<Rc<Jwks>>>,
    jwks_fetched: Cell<UnixTime>,
    session: RefCell<Option<Session>>,
    checks: RefCell<Vec<(u32, Check)>>,
    next_check: Cell<u32>,
}

/// A check waiting for WebCrypto's verdict on its signature. Few wait at once, so
/// the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
enum Check {
    /// A code exchange's or a refresh's session.
    Session(SessionCheck),
    /// An ID token verified on its own, with its claims (JSON) for the answer.
    IdToken(IdTokenCheck, String),
}

impl Default for Core {
    fn default() -> Self {
        Self {
            config: RefCell::new(None),
            meta: RefCell::new(None),
            jwks: RefCell::new(None),
            jwks_fetched: Cell::new(UnixTime::from_secs(0)),
            session: RefCell::new(None),
            checks: RefCell::new(Vec::new()),
            next_check: Cell::new(0),
        }
    }
}

/// The most checks that may wait at once; an older one is dropped.
const MAX_CHECKS: usize = 8;

#[wasm_bindgen]
impl Core {
    /// A client with nothing configured yet (`configure` comes first).
    #[wasm_bindgen(constructor)]
    #[must_use]
    pub fn new() -> Core {
        Self::default()
    }

    /// Runs the step `op` and answers JSON text: `{"ok":value}`, or
    /// `{"error":code,"message":text}` for the entry to throw. Arguments not named
    /// below are ignored; `b` and `c` may be `undefined`.
    ///
    /// | op | arguments | ok |
    /// | --- | --- | --- |
    /// | `configure` | `a`: `createClient`'s options (JSON) | `{issuer, discoveryUrl}` |
    /// | `metadata` | `a`: the discovery document | `{tokenEndpoint, jwksUri, webMessage}` |
    /// | `jwks` | `a`: the JWKS | `null` |
    /// | `hasJwks` | | whether a JWKS is loaded |
    /// | `begin` | `a`: `login`'s options (JSON, or empty) | `{url, state, pending}` |
    /// | `callbackState` | `a`: the callback's query | its `state`, or `null` |
    /// | `callback` | `a`: the query, `b`: the pending login kept for its state | the token request body redeeming its code |
    /// | `acceptCode` | `n`: status, `a`: body, `b`: pending login | the signature to verify |
    /// | `refreshForm` | | the refresh request body, or `null` |
    /// | `acceptRefresh` | `n`: status, `a`: body | the signature to verify |
    /// | `verifyIdToken` | `a`: token, `b`: nonce, `c`: access token | the signature to verify |
    /// | `finish` | `n`: the check's id, `a`: `valid` when WebCrypto verified it | the ID token's claims |
    /// | `accessToken` | | a token good for 30 s more, or `null` |
    /// | `hasRefreshToken`, `dropRefreshToken` | | a bool; `null` |
    /// | `claims`, `subject` | | the user's claims or `sub`, or `null` |
    /// | `exportSession`, `importSession` | `a`: an exported session | JSON text or `null`; whether it was adopted |
    /// | `clearSession` | | `null` |
    /// | `logoutUrl` | | the RP-initiated logout URL, or `null` |
    /// | `version` | | the package version |
    ///
    /// The signature to verify is `{id}` with, when there is one, its `alg`, the
    /// public `jwk` for WebCrypto's `importKey`, the signed `input` and the
    /// `signature` bytes (a JSON array: `JSON.parse` reads it faster than JS
    /// decodes base64url).
    #[must_use]
    pub fn call(&self, op: &str, n: u32, a: &str, b: Option<String>, c: Option<String>) -> String {
        match self.step(op, n, a, b, c) {
            Ok(out) => {
                let value = match out {
                    Out::Null => "null".to_owned(),
                    Out::Bool(value) => (if value { "true" } else { "false" }).to_owned(),
                    Out::Text(text) => {
                        let mut quoted = String::with_capacity(text.len() + 2);
                        quote(&mut quoted, &text);
                        quoted
                    }
                    Out::Json(json) => json,
                };
                Writer::new().raw("ok", &value).finish()
            }
            Err(e) => Writer::new().string("error", &e.code).string("message", &e.message).finish(),
        }
    }
}

impl Core {
    /// [`Self::call`]'s step, before its answer is written.
    ///
    /// # Errors
    ///
    /// The step's [`Failure`]; `unknown_step` for an `op` not in the table.
    pub fn step(
        &self,
        op: &str,
        n: u32,
        a: &str,
        b: Option<String>,
        c: Option<String>,
    ) -> Result<Out, Failure> {
        Ok(match op {
            "configure" => {
                let config = ClientConfig::from_options_json(a)?;
                let out = Writer::new()
                    .string("issuer", config.issuer())
                    .string("discoveryUrl", &config.discovery_url())
                    .finish();
                *self.config.borrow_mut() = Some(Rc::new(config));
                Out::Json(out)
            }
            "metadata" => {
                let meta = ProviderMetadata::parse(&*self.config()?, a)?;
                let out = Writer::new()
                    .string("tokenEndpoint", &meta.token_endpoint)
                    .string("jwksUri", &meta.jwks_uri)
                    .raw("webMessage", if meta.supports_web_message() { "true" } else { "false" })
                    .finish();
                *self.meta.borrow_mut() = Some(Rc::new(meta));
                Out::Json(out)
            }
            "jwks" => {
                let jwks = Jwks::from_json(a.as_bytes()).map_err(|_| {
                    Failure::new("discovery_failed", "the issuer's JWKS is not a key set")
                })?;
                *self.jwks.borrow_mut() = Some(Rc::new(jwks));
                self.jwks_fetched.set(now());
                Out::Null
            }
            "hasJwks" => Out::Bool(self.jwks.borrow().as_ref().is_some_and(|j| !j.keys.is_empty())),
            "begin" => self.begin(a)?,
            "callbackState" => Callback::from_query(a).ok().and_then(|c| c.state).into(),
            "callback" => {
                let pending = pending_login(b)?;
                let callback = Callback::from_query(a)?;
                let code = callback.code_for(&pending, &*self.meta()?, now())?;
                Out::Text(login::code_exchange_form(&*self.config()?, &code, &pending))
            }
            "acceptCode" => {
                let pending = pending_login(b)?;
                let response = TokenResponse::parse(status(n), a)?;
                let check = Session::begin_code_exchange(
                    &self.jwks(),
                    &*self.meta()?,
                    &*self.config()?,
                    &pending,
                    response,
                    now(),
                )
                .map_err(|e| self.verification_failure(e))?;
                self.wait(Check::Session(check))
            }
            "refreshForm" => {
                let config = self.config()?;
                let session = self.session.borrow();
                let token = session.as_ref().and_then(|s| s.refresh_token.as_deref());
                token.map(|token| refresh_form(&config, token)).into()
            }
            "acceptRefresh" => {
                let current = self.session.borrow().clone();
                let current =
                    current.ok_or_else(|| Failure::new("login_required", "no session to renew"))?;
                let response = TokenResponse::parse(status(n), a)?;
                let check = current
                    .begin_refresh(&self.jwks(), &*self.meta()?, &*self.config()?, response, now())
                    .map_err(|e| self.verification_failure(e))?;
                self.wait(Check::Session(check))
            }
            "verifyIdToken" => {
                let meta = self.meta()?;
                let mut policy =
                    IdTokenPolicy::new(meta.issuer.as_str(), self.config()?.client_id());
                if let Some(nonce) = b {
                    policy = policy.with_nonce(nonce);
                }
                if let Some(access_token) = c {
                    policy = policy.with_access_token(access_token);
                }
                let check = IdTokenCheck::begin(&self.jwks(), policy, a, now())
                    .map_err(|e| self.verification_failure(RpError::IdToken(e)))?;
                let payload = a.split('.').nth(1).and_then(|p| b64url_decode(p).ok());
                let claims = String::from_utf8(payload.unwrap_or_default()).unwrap_or_default();
                self.wait(Check::IdToken(check, claims))
            }
            "finish" => self.finish(n, a == "valid")?,
            "accessToken" => {
                let session = self.session.borrow();
                let fresh = session.as_ref().filter(|s| s.access_token_fresh(now()));
                fresh.map(|s| s.access_token.clone()).into()
            }
            "hasRefreshToken" => {
                Out::Bool(self.session.borrow().as_ref().is_some_and(|s| s.refresh_token.is_some()))
            }
            "dropRefreshToken" => {
                if let Some(session) = self.session.borrow_mut().as_mut() {
                    session.refresh_token = None;
                }
                Out::Null
            }
            "claims" => self.claims(),
            "subject" => self.session.borrow().as_ref().and_then(Session::subject).into(),
            "exportSession" => self.session.borrow().as_ref().map(Session::to_json).into(),
            "importSession" => match Session::from_json(a) {
                Ok(session) => {
                    *self.session.borrow_mut() = Some(session);
                    Out::Bool(true)
                }
                Err(_) => Out::Bool(false),
            },
            "clearSession" => {
                *self.session.borrow_mut() = None;
                Out::Null
            }
            "logoutUrl" => {
                let session = self.session.borrow();
                let hint = session.as_ref().map(|s| s.id_token.as_str());
                logout_url(&*self.meta()?, &*self.config()?, hint).into()
            }
            "version" => Out::Text(env!("CARGO_PKG_VERSION").to_owned()),
            _ => return Err(Failure::new("unknown_step", op)),
        })
    }

    fn config(&self) -> Result<Rc<ClientConfig>, Failure> {
        self.config
            .borrow()
            .clone()
            .ok_or_else(|| Failure::new("invalid_config", "the client is not configured"))
    }

    fn meta(&self) -> Result<Rc<ProviderMetadata>, Failure> {
        self.meta
            .borrow()
            .clone()
            .ok_or_else(|| Failure::new("discovery_failed", "the issuer's metadata is not loaded"))
    }

    /// The loaded JWKS (empty before one is).
    fn jwks(&self) -> Rc<Jwks> {
        self.jwks.borrow().clone().unwrap_or_else(|| Rc::new(Jwks { keys: Vec::new() }))
    }

    /// Starts a login: `{url, state, pending}`, where `pending` is what the entry
    /// keeps (by `state`) until the callback.
    fn begin(&self, options: &str) -> Result<Out, Failure> {
        let options = LoginOptions::from_options_json(options)?;
        let (url, pending) = login::begin(
            &*self.meta()?,
            &*self.config()?,
            &options,
            &mut random::BrowserRng,
            now(),
        )?;
        Ok(Out::Json(
            Writer::new()
                .string("url", &url)
                .string("state", &pending.state)
                .string("pending", &pending.to_json())
                .finish(),
        ))
    }

    /// A failed ID-token check, or `jwks_stale` when the token names a key the JWKS
    /// lacks and it may be fetched again.
    fn verification_failure(&self, e: RpError) -> Failure {
        if may_refetch_jwks(&e, self.jwks_fetched.get(), now()) {
            Failure::new(JWKS_STALE, "the ID token names a key the cached JWKS lacks")
        } else {
            e.into()
        }
    }

    /// Keeps `check` until its verdict and answers the signature to verify.
    fn wait(&self, check: Check) -> Out {
        let id = self.next_check.get().wrapping_add(1);
        self.next_check.set(id);
        let request = match &check {
            Check::Session(check) => check.request(),
            Check::IdToken(check, _) => Some(check.request()),
        };
        let out = Writer::new().number("id", id.into());
        let out = match request {
            Some(request) => signature_request(out, request),
            None => out,
        };
        let mut checks = self.checks.borrow_mut();
        if checks.len() >= MAX_CHECKS {
            checks.remove(0);
        }
        checks.push((id, check));
        Out::Json(out.finish())
    }

    /// Finishes the check `id` with WebCrypto's verdict on its signature (false
    /// when it could not verify): opens or renews the session for a token response.
    /// Answers the ID token's claims.
    fn finish(&self, id: u32, valid: bool) -> Result<Out, Failure> {
        let check = {
            let mut checks = self.checks.borrow_mut();
            let at = checks.iter().position(|(waiting, _)| *waiting == id);
            at.map(|at| checks.remove(at).1)
        };
        match check.ok_or_else(|| Failure::new("invalid_id_token", "no such check is waiting"))? {
            Check::Session(check) => {
                let session = check.finish(valid)?;
                *self.session.borrow_mut() = Some(session);
                Ok(self.claims())
            }
            Check::IdToken(check, claims) => {
                check.finish(valid).map_err(RpError::IdToken)?;
                Ok(Out::Json(claims))
            }
        }
    }

    /// The signed-in user's ID-token claims, or `null`.
    fn claims(&self) -> Out {
        self.session.borrow().as_ref().map_or(Out::Null, |s| Out::Json(s.claims.clone()))
    }
}

/// A token response's HTTP status (a `u32` across the boundary).
fn status(n: u32) -> u16 {
    u16::try_from(n).unwrap_or(0)
}

/// `alg`, the public key as the JWK WebCrypto's `importKey` takes (its public
/// members only: no `alg`, `use` or `kid` for it to check against the usage), the
/// signed `input` and the `signature` bytes.
fn signature_request(out: Writer, request: &SignatureRequest) -> Writer {
    let key = &request.key;
    let member = |value: &Option<String>| value.clone().unwrap_or_default();
    let jwk = match request.alg {
        Algorithm::ES256 => Writer::new()
            .string("kty", "EC")
            .string("crv", "P-256")
            .string("x", &member(&key.x))
            .string("y", &member(&key.y)),
        Algorithm::RS256 => Writer::new()
            .string("kty", "RSA")
            .string("n", &member(&key.n))
            .string("e", &member(&key.e)),
    };
    let mut signature = String::with_capacity(request.signature.len() * 4 + 2);
    signature.push('[');
    for byte in &request.signature {
        if signature.len() > 1 {
            signature.push(',');
        }
        push_decimal(&mut signature, (*byte).into());
    }
    signature.push(']');
    out.string("alg", request.alg.as_str())
        .raw("jwk", &jwk.finish())
        .string("input", &String::from_utf8_lossy(&request.signing_input))
        .raw("signature", &signature)
}

/// The pending login kept by the entry; a missing or unreadable one means the
/// callback's `state` is not ours.
fn pending_login(kept: Option<String>) -> Result<PendingLogin, Failure> {
    kept.and_then(|json| PendingLogin::from_json(&json).ok()).ok_or_else(|| RpError::State.into())
}
