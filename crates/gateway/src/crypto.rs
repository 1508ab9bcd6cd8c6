//! Signature verification on WebCrypto (`crypto.subtle`), called from Rust.
//!
//! The issuer's `gatehouse_worker::crypto::WebCrypto` does the same, and more; it is
//! not reused because `gatehouse-worker` is itself a worker (its `fetch` entry point
//! and the `Vault` Durable Object would be linked into this one). This one only
//! verifies: it caches imported public keys per isolate by algorithm, `kid` and key
//! material, so a known key costs one `verify` call and no import or serialization.

use std::cell::RefCell;
use std::collections::HashMap;

use gatehouse_core::jose::{Algorithm, Jwk, KeyId};
use gatehouse_core::platform::{Crypto, CryptoError, GeneratedKey, PrivateJwk};
use js_sys::{Array, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{CryptoKey, SubtleCrypto};

/// WebCrypto, for verifying only.
#[derive(Debug, Default, Clone, Copy)]
pub struct WebVerifier;

thread_local! {
    static KEYS: RefCell<HashMap<String, CryptoKey>> = RefCell::new(HashMap::new());
    static SUBTLE: RefCell<Option<SubtleCrypto>> = const { RefCell::new(None) };
    /// The `verify` algorithm objects, built once.
    static VERIFY_ALGORITHMS: RefCell<HashMap<Algorithm, Object>> = RefCell::new(HashMap::new());
}

/// The most keys cached per isolate; beyond it the cache starts over.
const MAX_CACHED_KEYS: usize = 64;

fn subtle() -> Result<SubtleCrypto, CryptoError> {
    if let Some(subtle) = SUBTLE.with(|s| s.borrow().clone()) {
        return Ok(subtle);
    }
    let crypto =
        Reflect::get(&js_sys::global(), &JsValue::from_str("crypto")).map_err(|_| CryptoError)?;
    let crypto: web_sys::Crypto = crypto.dyn_into().map_err(|_| CryptoError)?;
    let subtle = crypto.subtle();
    SUBTLE.with(|s| *s.borrow_mut() = Some(subtle.clone()));
    Ok(subtle)
}

fn object(pairs: &[(&str, &str)]) -> Result<Object, CryptoError> {
    let obj = Object::new();
    for (key, value) in pairs {
        Reflect::set(&obj, &JsValue::from_str(key), &JsValue::from_str(value))
            .map_err(|_| CryptoError)?;
    }
    Ok(obj)
}

fn import_algorithm(alg: Algorithm) -> Result<Object, CryptoError> {
    match alg {
        Algorithm::ES256 => object(&[("name", "ECDSA"), ("namedCurve", "P-256")]),
        Algorithm::RS256 => object(&[("name", "RSASSA-PKCS1-v1_5"), ("hash", "SHA-256")]),
    }
}

fn verify_algorithm(alg: Algorithm) -> Result<Object, CryptoError> {
    if let Some(found) = VERIFY_ALGORITHMS.with(|a| a.borrow().get(&alg).cloned()) {
        return Ok(found);
    }
    let built = match alg {
        Algorithm::ES256 => object(&[("name", "ECDSA"), ("hash", "SHA-256")])?,
        Algorithm::RS256 => object(&[("name", "RSASSA-PKCS1-v1_5")])?,
    };
    VERIFY_ALGORITHMS.with(|a| a.borrow_mut().insert(alg, built.clone()));
    Ok(built)
}

async fn await_promise(promise: Result<js_sys::Promise, JsValue>) -> Result<JsValue, CryptoError> {
    JsFuture::from(promise.map_err(|_| CryptoError)?).await.map_err(|_| CryptoError)
}

/// The public members of `key` as a JWK object WebCrypto imports (no `alg`, `use`
/// or `kid`, which it would check against the usage).
fn public_jwk(key: &Jwk, alg: Algorithm) -> Result<Object, CryptoError> {
    fn member(v: &Option<String>) -> Result<&str, CryptoError> {
        v.as_deref().ok_or(CryptoError)
    }
    match alg {
        Algorithm::ES256 => object(&[
            ("kty", "EC"),
            ("crv", "P-256"),
            ("x", member(&key.x)?),
            ("y", member(&key.y)?),
        ]),
        Algorithm::RS256 => {
            object(&[("kty", "RSA"), ("n", member(&key.n)?), ("e", member(&key.e)?)])
        }
    }
}

fn cache_id(key: &Jwk, alg: Algorithm) -> String {
    let kid = key.kid.as_ref().map_or("", KeyId::as_str);
    let material = [&key.x, &key.y, &key.n, &key.e].map(|m| m.as_deref().unwrap_or(""));
    format!("{alg}|{kid}|{}", material.join("|"))
}

/// The imported `key`, if this isolate imported it before.
#[must_use]
pub fn imported_key(key: &Jwk, alg: Algorithm) -> Option<CryptoKey> {
    let id = cache_id(key, alg);
    KEYS.with(|k| k.borrow().get(&id).cloned())
}

/// Starts `crypto.subtle.verify`: the promise resolves to whether `signature` is a
/// valid `alg` signature over `input` by `key`.
///
/// # Errors
///
/// [`CryptoError`] if WebCrypto refuses to start.
pub fn verify_promise(
    alg: Algorithm,
    key: &CryptoKey,
    signature: &[u8],
    input: &[u8],
) -> Result<js_sys::Promise, CryptoError> {
    subtle()?
        .verify_with_object_and_u8_array_and_u8_array(
            &verify_algorithm(alg)?,
            key,
            signature,
            input,
        )
        .map_err(|_| CryptoError)
}

async fn imported(key: &Jwk, alg: Algorithm) -> Result<CryptoKey, CryptoError> {
    if let Some(found) = imported_key(key, alg) {
        return Ok(found);
    }
    let id = cache_id(key, alg);
    let usages: JsValue = [JsValue::from_str("verify")].iter().collect::<Array>().into();
    let promise = subtle()?.import_key_with_object(
        "jwk",
        &public_jwk(key, alg)?,
        &import_algorithm(alg)?,
        false,
        &usages,
    );
    let imported: CryptoKey = await_promise(promise).await?.dyn_into().map_err(|_| CryptoError)?;
    KEYS.with(|k| {
        let mut k = k.borrow_mut();
        if k.len() >= MAX_CACHED_KEYS {
            k.clear();
        }
        k.insert(id, imported.clone());
    });
    Ok(imported)
}

impl Crypto for WebVerifier {
    async fn generate(&self, _alg: Algorithm) -> Result<GeneratedKey, CryptoError> {
        Err(CryptoError)
    }

    async fn sign(
        &self,
        _kid: &KeyId,
        _alg: Algorithm,
        _private: &PrivateJwk,
        _input: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        Err(CryptoError)
    }

    async fn verify(
        &self,
        key: &Jwk,
        alg: Algorithm,
        input: &[u8],
        signature: &[u8],
    ) -> Result<bool, CryptoError> {
        let imported = imported(key, alg).await?;
        let result = await_promise(Ok(verify_promise(alg, &imported, signature, input)?)).await?;
        Ok(result.as_bool().unwrap_or(false))
    }
}
