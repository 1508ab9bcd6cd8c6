//! # gatehouse-webcrypto
//!
//! JWS signatures on WebCrypto (`crypto.subtle`), called from Rust: the one place the
//! wasm builds (the issuer worker, the edge gateway) talk to WebCrypto's algorithm
//! objects and key imports.
//!
//! Why WebCrypto and not RustCrypto compiled to wasm: in workerd, WebCrypto verified
//! ES256 about 18x faster, and its RSA is constant-time (the pure-Rust `rsa` crate
//! carries RUSTSEC-2023-0071).
//!
//! [`WebVerifier`] verifies only. It imports a public key once per isolate, keyed by
//! algorithm, `kid` and key material (so a key id reused with other material is a
//! different key), and reuses the algorithm objects, so a known key costs one
//! `verify` call and no import or serialization. Hosts that chain promises
//! themselves use [`imported_key`] and [`verify_promise`] directly. The issuer's
//! signer builds on [`key_algorithm`], [`signature_algorithm`] and [`subtle`].

use std::cell::RefCell;
use std::collections::HashMap;

use gatehouse_core::jose::{Algorithm, Jwk, KeyId};
use gatehouse_core::platform::{CryptoError, Verifier};
use js_sys::{Array, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{CryptoKey, SubtleCrypto};

/// WebCrypto as a [`Verifier`]: checking signatures is all it does.
#[derive(Debug, Default, Clone, Copy)]
pub struct WebVerifier;

thread_local! {
    static PUBLIC_KEYS: RefCell<HashMap<String, CryptoKey>> = RefCell::new(HashMap::new());
    static SUBTLE: RefCell<Option<SubtleCrypto>> = const { RefCell::new(None) };
    /// The sign/verify algorithm objects, built once.
    static SIGNATURE_ALGORITHMS: RefCell<HashMap<Algorithm, Object>> =
        RefCell::new(HashMap::new());
}

/// The most keys a cache holds per isolate; beyond it the cache starts over.
pub const MAX_CACHED_KEYS: usize = 64;

/// `crypto.subtle` of the global scope.
///
/// # Errors
///
/// [`CryptoError`] where the global scope has no WebCrypto.
pub fn subtle() -> Result<SubtleCrypto, CryptoError> {
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

/// A plain object with `pairs` as its members.
///
/// # Errors
///
/// [`CryptoError`] if a member cannot be set.
pub fn object(pairs: &[(&str, JsValue)]) -> Result<Object, CryptoError> {
    let obj = Object::new();
    for (key, value) in pairs {
        Reflect::set(&obj, &JsValue::from_str(key), value).map_err(|_| CryptoError)?;
    }
    Ok(obj)
}

/// The WebCrypto algorithm for key generation and import.
///
/// # Errors
///
/// [`CryptoError`] if the object cannot be built.
pub fn key_algorithm(alg: Algorithm) -> Result<Object, CryptoError> {
    match alg {
        Algorithm::ES256 => object(&[("name", "ECDSA".into()), ("namedCurve", "P-256".into())]),
        Algorithm::RS256 => {
            object(&[("name", "RSASSA-PKCS1-v1_5".into()), ("hash", "SHA-256".into())])
        }
    }
}

/// The WebCrypto algorithm for sign and verify (built once per isolate).
///
/// # Errors
///
/// [`CryptoError`] if the object cannot be built.
pub fn signature_algorithm(alg: Algorithm) -> Result<Object, CryptoError> {
    if let Some(found) = SIGNATURE_ALGORITHMS.with(|a| a.borrow().get(&alg).cloned()) {
        return Ok(found);
    }
    let built = match alg {
        Algorithm::ES256 => object(&[("name", "ECDSA".into()), ("hash", "SHA-256".into())])?,
        Algorithm::RS256 => object(&[("name", "RSASSA-PKCS1-v1_5".into())])?,
    };
    SIGNATURE_ALGORITHMS.with(|a| a.borrow_mut().insert(alg, built.clone()));
    Ok(built)
}

/// A key usages array (`["sign"]`, ...).
#[must_use]
pub fn usages(list: &[&str]) -> JsValue {
    list.iter().map(|u| JsValue::from_str(u)).collect::<Array>().into()
}

/// Awaits a WebCrypto promise; any failure is a [`CryptoError`].
///
/// # Errors
///
/// [`CryptoError`] if the call threw or the promise rejected.
pub async fn await_promise(
    promise: Result<js_sys::Promise, JsValue>,
) -> Result<JsValue, CryptoError> {
    JsFuture::from(promise.map_err(|_| CryptoError)?).await.map_err(|_| CryptoError)
}

/// The public members of `key` as a JWK object WebCrypto imports (no `alg`, `use`
/// or `kid`, which it would check against the usage).
fn public_jwk(key: &Jwk, alg: Algorithm) -> Result<Object, CryptoError> {
    fn member(v: &Option<String>) -> Result<JsValue, CryptoError> {
        v.as_deref().map(JsValue::from_str).ok_or(CryptoError)
    }
    match alg {
        Algorithm::ES256 => object(&[
            ("kty", "EC".into()),
            ("crv", "P-256".into()),
            ("x", member(&key.x)?),
            ("y", member(&key.y)?),
        ]),
        Algorithm::RS256 => {
            object(&[("kty", "RSA".into()), ("n", member(&key.n)?), ("e", member(&key.e)?)])
        }
    }
}

fn cache_id(key: &Jwk, alg: Algorithm) -> String {
    let kid = key.kid.as_ref().map_or("", KeyId::as_str);
    let material = [&key.x, &key.y, &key.n, &key.e].map(|m| m.as_deref().unwrap_or(""));
    format!("{alg}|{kid}|{}", material.join("|"))
}

/// The imported public `key`, if this isolate imported it before.
#[must_use]
pub fn imported_key(key: &Jwk, alg: Algorithm) -> Option<CryptoKey> {
    let id = cache_id(key, alg);
    PUBLIC_KEYS.with(|k| k.borrow().get(&id).cloned())
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
            &signature_algorithm(alg)?,
            key,
            signature,
            input,
        )
        .map_err(|_| CryptoError)
}

/// Imports the public `key` for verifying `alg` signatures, once per isolate.
///
/// # Errors
///
/// [`CryptoError`] if the key lacks members or WebCrypto refuses it.
pub async fn import_public(key: &Jwk, alg: Algorithm) -> Result<CryptoKey, CryptoError> {
    if let Some(found) = imported_key(key, alg) {
        return Ok(found);
    }
    let promise = subtle()?.import_key_with_object(
        "jwk",
        &public_jwk(key, alg)?,
        &key_algorithm(alg)?,
        false,
        &usages(&["verify"]),
    );
    let imported: CryptoKey = await_promise(promise).await?.dyn_into().map_err(|_| CryptoError)?;
    PUBLIC_KEYS.with(|k| {
        let mut k = k.borrow_mut();
        if k.len() >= MAX_CACHED_KEYS {
            k.clear();
        }
        k.insert(cache_id(key, alg), imported.clone());
    });
    Ok(imported)
}

/// Whether `signature` is a valid `alg` signature over `input` by `key`.
///
/// # Errors
///
/// [`CryptoError`] if the key cannot be imported; a wrong signature is `Ok(false)`.
pub async fn verify(
    key: &Jwk,
    alg: Algorithm,
    input: &[u8],
    signature: &[u8],
) -> Result<bool, CryptoError> {
    let imported = import_public(key, alg).await?;
    let result = await_promise(Ok(verify_promise(alg, &imported, signature, input)?)).await?;
    Ok(result.as_bool().unwrap_or(false))
}

impl Verifier for WebVerifier {
    async fn verify(
        &self,
        key: &Jwk,
        alg: Algorithm,
        input: &[u8],
        signature: &[u8],
    ) -> Result<bool, CryptoError> {
        verify(key, alg, input, signature).await
    }
}
