//! # gatehouse-web
//!
//! The browser package for single-page apps. Every protocol decision is made by
//! [`gatehouse_core::rp`] (compiled with no core feature, so none of the issuer is
//! in the package); this crate is the glue to the browser: randomness from
//! `crypto.getRandomValues`, signatures on WebCrypto, the clock, and JS values in
//! and out. The package's entry (`js/index.js`) does the rest of the I/O (fetch,
//! storage, Web Locks, BroadcastChannel, the iframe, the address bar) and calls
//! [`Core`] for everything else.
//!
//! The wasm-bindgen class [`Core`] is internal to the package: its JS name and
//! methods may change between versions; apps use `createClient` from the entry.
//!
//! Signatures are checked in two steps, with no future on the Rust side: a method
//! that verifies an ID token runs every check before the signature and returns the
//! signature to verify as JSON ([`Core::accept_code_response`]); the entry asks
//! WebCrypto and hands the verdict to [`Core::finish`], which checks the claims.
//! The pending check stays here, so a verdict only ever applies to the token it
//! was asked for.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use gatehouse_core::jose::{Algorithm, Jwks, b64url_decode};
use gatehouse_core::json::Writer;
use gatehouse_core::rp::login::{self, Callback, LoginOptions, PendingLogin};
use gatehouse_core::rp::tokens::{
    Session, SessionCheck, TokenResponse, may_refetch_jwks, refresh_form,
};
use gatehouse_core::rp::{ClientConfig, ProviderMetadata, RpError, logout_url};
use gatehouse_core::types::UnixTime;
use gatehouse_core::verify::{IdTokenCheck, IdTokenPolicy, SignatureRequest};
use js_sys::{Object, Reflect};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};

mod random;

/// The package version, so a page can check which build it loaded.
#[wasm_bindgen]
#[must_use]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}

/// The `code` the entry uses when the JWKS must be fetched again before a retry.
const JWKS_STALE: &str = "jwks_stale";

/// An `Error` with `code` (and `name` `GatehouseError`), as the package throws.
#[must_use]
pub fn error(code: &str, message: &str) -> JsValue {
    let error = js_sys::Error::new(message);
    error.set_name("GatehouseError");
    // Setting a data property on a fresh Error object cannot fail.
    let _ = Reflect::set(&error, &"code".into(), &code.into());
    error.into()
}

fn rp_error(e: &RpError) -> JsValue {
    error(e.code(), &e.to_string())
}

/// The current time, from the browser's clock.
fn now() -> UnixTime {
    // Milliseconds since 1970 as an f64: whole seconds fit without loss.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    UnixTime::from_secs((js_sys::Date::now() / 1000.0) as u64)
}

/// A JSON text as a JS value (`JSON.parse`), `undefined` if it is not JSON.
fn from_json(text: &str) -> JsValue {
    js_sys::JSON::parse(text).unwrap_or(JsValue::UNDEFINED)
}

/// A string member of a JS options object.
fn text_member(object: &JsValue, name: &str) -> Result<Option<String>, JsValue> {
    let value = Reflect::get(object, &name.into()).unwrap_or(JsValue::UNDEFINED);
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    value
        .as_string()
        .map(Some)
        .ok_or_else(|| error("invalid_config", &format!("{name} must be a string")))
}

/// One client of one issuer: its configuration, the issuer's metadata and keys, and
/// the signed-in session.
///
/// Every method takes `&self` (state sits in cells), and an async method holds no
/// borrow across its await: a message from another tab may arrive while a
/// signature is being checked.
#[wasm_bindgen]
pub struct Core {
    config: ClientConfig,
    meta: RefCell<Option<Rc<ProviderMetadata>>>,
    jwks: RefCell<Rc<Jwks>>,
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
    /// An ID token verified on its own.
    IdToken(IdTokenCheck, String),
}

/// The most checks that may wait at once; an older one is dropped.
const MAX_CHECKS: usize = 8;

#[wasm_bindgen]
impl Core {
    /// A client from `createClient`'s options.
    ///
    /// # Errors
    ///
    /// An `invalid_config` error naming the unusable option.
    #[wasm_bindgen(constructor)]
    pub fn new(options: &JsValue) -> Result<Core, JsValue> {
        if !options.is_object() {
            return Err(error("invalid_config", "createClient needs an options object"));
        }
        let required = |name: &str| {
            text_member(options, name)?
                .ok_or_else(|| error("invalid_config", &format!("{name} is required")))
        };
        let scope = text_member(options, "scope")?.unwrap_or_default();
        let mut config = ClientConfig::new(
            &required("issuer")?,
            &required("clientId")?,
            &required("redirectUri")?,
            &scope,
        )
        .map_err(|e| rp_error(&e))?;
        if let Some(uri) = text_member(options, "postLogoutRedirectUri")? {
            config = config.with_post_logout_redirect_uri(&uri).map_err(|e| rp_error(&e))?;
        }
        let leeway = Reflect::get(options, &"leewaySeconds".into()).unwrap_or(JsValue::UNDEFINED);
        if let Some(secs) = leeway.as_f64() {
            if !(0.0..=300.0).contains(&secs) {
                return Err(error("invalid_config", "leewaySeconds must be between 0 and 300"));
            }
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let secs = secs as u64;
            config = config.with_leeway(secs);
        } else if !leeway.is_undefined() {
            return Err(error("invalid_config", "leewaySeconds must be a number"));
        }
        Ok(Self {
            config,
            meta: RefCell::new(None),
            jwks: RefCell::new(Rc::new(Jwks { keys: Vec::new() })),
            jwks_fetched: Cell::new(UnixTime::from_secs(0)),
            session: RefCell::new(None),
            checks: RefCell::new(Vec::new()),
            next_check: Cell::new(0),
        })
    }

    /// The issuer, as configured.
    #[must_use]
    pub fn issuer(&self) -> String {
        self.config.issuer().to_owned()
    }

    /// The discovery document's URL.
    #[wasm_bindgen(js_name = discoveryUrl)]
    #[must_use]
    pub fn discovery_url(&self) -> String {
        self.config.discovery_url()
    }

    /// Takes the discovery document.
    ///
    /// # Errors
    ///
    /// `discovery_failed` when it is unusable or another issuer's.
    #[wasm_bindgen(js_name = setMetadata)]
    pub fn set_metadata(&self, json: &str) -> Result<(), JsValue> {
        let meta = ProviderMetadata::parse(&self.config, json).map_err(|e| rp_error(&e))?;
        *self.meta.borrow_mut() = Some(Rc::new(meta));
        Ok(())
    }

    fn meta(&self) -> Result<Rc<ProviderMetadata>, JsValue> {
        self.meta
            .borrow()
            .clone()
            .ok_or_else(|| error("discovery_failed", "the issuer's metadata is not loaded"))
    }

    fn jwks(&self) -> Rc<Jwks> {
        self.jwks.borrow().clone()
    }

    /// The JWKS URL.
    ///
    /// # Errors
    ///
    /// Before the metadata is loaded.
    #[wasm_bindgen(js_name = jwksUri)]
    pub fn jwks_uri(&self) -> Result<String, JsValue> {
        Ok(self.meta()?.jwks_uri.clone())
    }

    /// The token endpoint.
    ///
    /// # Errors
    ///
    /// Before the metadata is loaded.
    #[wasm_bindgen(js_name = tokenEndpoint)]
    pub fn token_endpoint(&self) -> Result<String, JsValue> {
        Ok(self.meta()?.token_endpoint.clone())
    }

    /// Whether the issuer offers silent login by `web_message`.
    #[wasm_bindgen(js_name = supportsWebMessage)]
    #[must_use]
    pub fn supports_web_message(&self) -> bool {
        self.meta.borrow().as_ref().is_some_and(|m| m.supports_web_message())
    }

    /// Takes the issuer's JWKS.
    ///
    /// # Errors
    ///
    /// `discovery_failed` when it is not a JWKS.
    #[wasm_bindgen(js_name = setJwks)]
    pub fn set_jwks(&self, json: &str) -> Result<(), JsValue> {
        let jwks = Jwks::from_json(json.as_bytes())
            .map_err(|_| error("discovery_failed", "the issuer's JWKS is not a key set"))?;
        *self.jwks.borrow_mut() = Rc::new(jwks);
        self.jwks_fetched.set(now());
        Ok(())
    }

    /// Whether a JWKS was loaded.
    #[wasm_bindgen(js_name = hasJwks)]
    #[must_use]
    pub fn has_jwks(&self) -> bool {
        !self.jwks.borrow().keys.is_empty()
    }

    /// Starts a login: `{ url, state, pending }`, where `pending` is what to keep
    /// (by `state`) until the callback.
    ///
    /// # Errors
    ///
    /// `invalid_config` for unusable options; when the metadata is not loaded.
    #[wasm_bindgen(js_name = beginLogin)]
    pub fn begin_login(&self, options: &JsValue) -> Result<Object, JsValue> {
        let mut login = LoginOptions::default();
        if options.is_object() {
            login.prompt = text_member(options, "prompt")?;
            login.login_hint = text_member(options, "loginHint")?;
            login.response_mode = text_member(options, "responseMode")?;
            let max_age = Reflect::get(options, &"maxAge".into()).unwrap_or(JsValue::UNDEFINED);
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            if let Some(secs) = max_age.as_f64().filter(|s| *s >= 0.0) {
                login.max_age = Some(secs as u64);
            }
            let extra = Reflect::get(options, &"extraParams".into()).unwrap_or(JsValue::UNDEFINED);
            if let Some(extra) = extra.dyn_ref::<Object>() {
                for entry in Object::entries(extra) {
                    let pair: js_sys::Array = entry.unchecked_into();
                    let (name, value) = (pair.get(0).as_string(), pair.get(1).as_string());
                    let (Some(name), Some(value)) = (name, value) else {
                        return Err(error("invalid_config", "extraParams values must be strings"));
                    };
                    login.extra.push((name, value));
                }
            }
        }
        let (url, pending) =
            login::begin(&*self.meta()?, &self.config, &login, &mut random::BrowserRng, now())
                .map_err(|e| rp_error(&e))?;
        let kept = pending.to_json();
        let out = Object::new();
        let _ = Reflect::set(&out, &"url".into(), &url.into());
        let _ = Reflect::set(&out, &"state".into(), &pending.state.as_str().into());
        let _ = Reflect::set(&out, &"pending".into(), &kept.into());
        Ok(out)
    }

    /// The `state` of a callback's query, to find its pending login by.
    #[wasm_bindgen(js_name = callbackState)]
    #[must_use]
    pub fn callback_state(query: &str) -> Option<String> {
        Callback::from_query(query).ok()?.state
    }

    /// Checks a callback (its URL query) against the pending login it answers
    /// (`undefined` when none was found) and returns the code.
    ///
    /// # Errors
    ///
    /// `state_mismatch`, `issuer_mismatch`, `login_expired`, `invalid_callback`, or
    /// the issuer's OAuth error.
    #[wasm_bindgen(js_name = codeFor)]
    pub fn code_for(&self, query: &str, pending: Option<String>) -> Result<String, JsValue> {
        let pending = pending_login(pending)?;
        let callback = Callback::from_query(query).map_err(|e| rp_error(&e))?;
        callback.code_for(&pending, &*self.meta()?, now()).map_err(|e| rp_error(&e))
    }

    /// The token request body that redeems `code` for the pending login.
    ///
    /// # Errors
    ///
    /// `state_mismatch` when the pending login is unreadable.
    #[wasm_bindgen(js_name = codeExchangeForm)]
    pub fn code_exchange_form(
        &self,
        code: &str,
        pending: Option<String>,
    ) -> Result<String, JsValue> {
        Ok(login::code_exchange_form(&self.config, code, &pending_login(pending)?))
    }

    /// Reads the code exchange's answer and checks its ID token up to the
    /// signature: returns the signature to verify (see [`Self::finish`]).
    ///
    /// # Errors
    ///
    /// The issuer's OAuth error, `invalid_token_response`, `invalid_id_token`, or
    /// `jwks_stale` (fetch the JWKS with `setJwks` and try once more).
    #[wasm_bindgen(js_name = acceptCodeResponse)]
    pub fn accept_code_response(
        &self,
        status: u16,
        body: &str,
        pending: Option<String>,
    ) -> Result<String, JsValue> {
        let pending = pending_login(pending)?;
        let response = TokenResponse::parse(status, body).map_err(|e| rp_error(&e))?;
        let jwks = self.jwks();
        let check = Session::begin_code_exchange(
            &jwks,
            &*self.meta()?,
            &self.config,
            &pending,
            response,
            now(),
        )
        .map_err(|e| self.verification_error(&e))?;
        Ok(self.wait(Check::Session(check)))
    }

    /// The token request body that uses the session's refresh token, if it holds
    /// one.
    #[wasm_bindgen(js_name = refreshForm)]
    #[must_use]
    pub fn refresh_form(&self) -> Option<String> {
        let session = self.session.borrow();
        let token = session.as_ref()?.refresh_token.as_deref()?;
        Some(refresh_form(&self.config, token))
    }

    /// Reads a refresh's answer (a new ID token must be the same user's) up to the
    /// signature: returns the signature to verify, if any (see [`Self::finish`]).
    ///
    /// # Errors
    ///
    /// As [`Self::accept_code_response`]; `login_required` without a session.
    #[wasm_bindgen(js_name = acceptRefreshResponse)]
    pub fn accept_refresh_response(&self, status: u16, body: &str) -> Result<String, JsValue> {
        let current = self
            .session
            .borrow()
            .clone()
            .ok_or_else(|| error("login_required", "no session to renew"))?;
        let response = TokenResponse::parse(status, body).map_err(|e| rp_error(&e))?;
        let jwks = self.jwks();
        let check = current
            .begin_refresh(&jwks, &*self.meta()?, &self.config, response, now())
            .map_err(|e| self.verification_error(&e))?;
        Ok(self.wait(Check::Session(check)))
    }

    fn verification_error(&self, e: &RpError) -> JsValue {
        if may_refetch_jwks(e, self.jwks_fetched.get(), now()) {
            error(JWKS_STALE, "the ID token names a key the cached JWKS lacks")
        } else {
            rp_error(e)
        }
    }

    /// Checks an ID token of this client against the loaded JWKS up to the
    /// signature, with the `nonce` and access token it must match when given:
    /// returns the signature to verify (see [`Self::finish`]).
    ///
    /// # Errors
    ///
    /// `invalid_id_token` naming the failed check, or `jwks_stale`.
    #[wasm_bindgen(js_name = verifyIdToken)]
    pub fn verify_id_token(
        &self,
        token: &str,
        nonce: Option<String>,
        access_token: Option<String>,
    ) -> Result<String, JsValue> {
        let meta = self.meta()?;
        let mut policy = IdTokenPolicy::new(meta.issuer.as_str(), self.config.client_id());
        if let Some(nonce) = nonce {
            policy = policy.with_nonce(nonce);
        }
        if let Some(access_token) = access_token {
            policy = policy.with_access_token(access_token);
        }
        let check = IdTokenCheck::begin(&self.jwks(), policy, token, now())
            .map_err(|e| self.verification_error(&RpError::IdToken(e)))?;
        Ok(self.wait(Check::IdToken(check, token.to_owned())))
    }

    /// Keeps `check` until its verdict: `{"id":..}` with, when there is a signature
    /// to verify, its `alg`, the public `jwk` to import, the signed `input` and the
    /// `signature` bytes.
    fn wait(&self, check: Check) -> String {
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
        out.finish()
    }

    /// Finishes the check `id` with WebCrypto's verdict on its signature (false
    /// when it could not verify): opens or renews the session for a token
    /// response. Returns the ID token's claims.
    ///
    /// # Errors
    ///
    /// `invalid_id_token` naming the failed check; as the method that began it.
    pub fn finish(&self, id: u32, valid: bool) -> Result<JsValue, JsValue> {
        let check = {
            let mut checks = self.checks.borrow_mut();
            let at = checks.iter().position(|(waiting, _)| *waiting == id);
            at.map(|at| checks.remove(at).1)
        };
        let check = check.ok_or_else(|| error("invalid_id_token", "no such check is waiting"))?;
        match check {
            Check::Session(check) => {
                let session = check.finish(valid).map_err(|e| rp_error(&e))?;
                *self.session.borrow_mut() = Some(session);
                Ok(self.claims())
            }
            Check::IdToken(check, token) => {
                check.finish(valid).map_err(|e| rp_error(&RpError::IdToken(e)))?;
                let payload = token.split('.').nth(1).unwrap_or_default();
                let bytes = b64url_decode(payload).unwrap_or_default();
                Ok(from_json(&String::from_utf8_lossy(&bytes)))
            }
        }
    }

    /// The access token, if it is good for at least 30 more seconds.
    #[wasm_bindgen(js_name = accessToken)]
    #[must_use]
    pub fn access_token(&self) -> Option<String> {
        let session = self.session.borrow();
        let session = session.as_ref()?;
        session.access_token_fresh(now()).then(|| session.access_token.clone())
    }

    /// Whether the session holds a refresh token.
    #[wasm_bindgen(js_name = hasRefreshToken)]
    #[must_use]
    pub fn has_refresh_token(&self) -> bool {
        self.session.borrow().as_ref().is_some_and(|s| s.refresh_token.is_some())
    }

    /// Drops the refresh token (the issuer refused it).
    #[wasm_bindgen(js_name = dropRefreshToken)]
    pub fn drop_refresh_token(&self) {
        if let Some(session) = self.session.borrow_mut().as_mut() {
            session.refresh_token = None;
        }
    }

    /// The signed-in user's ID-token claims, or `null`.
    #[must_use]
    pub fn claims(&self) -> JsValue {
        self.session.borrow().as_ref().map_or(JsValue::NULL, |s| from_json(&s.claims))
    }

    /// The `sub` of the signed-in user.
    #[must_use]
    pub fn subject(&self) -> Option<String> {
        self.session.borrow().as_ref()?.subject()
    }

    /// The session as JSON (to share with other tabs, or to keep when the app asks),
    /// or `undefined`.
    #[wasm_bindgen(js_name = exportSession)]
    #[must_use]
    pub fn export_session(&self) -> Option<String> {
        Some(self.session.borrow().as_ref()?.to_json())
    }

    /// Adopts a session exported by [`Self::export_session`]; an unreadable one is
    /// ignored (returns false).
    #[wasm_bindgen(js_name = importSession)]
    pub fn import_session(&self, json: &str) -> bool {
        match Session::from_json(json) {
            Ok(session) => {
                *self.session.borrow_mut() = Some(session);
                true
            }
            Err(_) => false,
        }
    }

    /// Signs out locally.
    #[wasm_bindgen(js_name = clearSession)]
    pub fn clear_session(&self) {
        *self.session.borrow_mut() = None;
    }

    /// The RP-initiated logout URL, with the session's ID token as hint, or
    /// `undefined` when the issuer offers none.
    #[wasm_bindgen(js_name = logoutUrl)]
    #[must_use]
    pub fn logout_url(&self) -> Option<String> {
        let session = self.session.borrow();
        let hint = session.as_ref().map(|s| s.id_token.as_str());
        logout_url(self.meta.borrow().as_ref()?, &self.config, hint)
    }
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
    let mut signature = String::from("[");
    for byte in &request.signature {
        if signature.len() > 1 {
            signature.push(',');
        }
        signature.push_str(&byte.to_string());
    }
    signature.push(']');
    out.string("alg", request.alg.as_str())
        .raw("jwk", &jwk.finish())
        .string("input", &String::from_utf8_lossy(&request.signing_input))
        .raw("signature", &signature)
}

/// The pending login kept by the entry; a missing or unreadable one means the
/// callback's `state` is not ours.
fn pending_login(kept: Option<String>) -> Result<PendingLogin, JsValue> {
    kept.and_then(|json| PendingLogin::from_json(&json).ok())
        .ok_or_else(|| rp_error(&RpError::State))
}
