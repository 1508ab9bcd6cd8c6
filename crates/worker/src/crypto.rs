//! [`Crypto`] on WebCrypto (`crypto.subtle`), called from Rust.
//!
//! Why not RustCrypto compiled to wasm: in workerd, WebCrypto verified ES256 about
//! 18x faster, and its RSA is constant-time (the pure-Rust `rsa` crate carries
//! RUSTSEC-2023-0071). Imported keys are cached per isolate by key id, so a hot key
//! costs one `sign` call, not an import.

use std::cell::RefCell;
use std::collections::HashMap;

use gatehouse_core::jose::{Algorithm, Jwk, KeyId};
use gatehouse_core::platform::{Crypto, CryptoError, GeneratedKey, PrivateJwk};
use gatehouse_core::types::SecretBytes;
use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{CryptoKey, SubtleCrypto};

/// WebCrypto as the engine's [`Crypto`].
#[derive(Debug, Default, Clone, Copy)]
pub struct WebCrypto;

thread_local! {
    /// Imported private keys by `kid`; public keys by their JWK text.
    static SIGNING_KEYS: RefCell<HashMap<String, CryptoKey>> = RefCell::new(HashMap::new());
    static VERIFYING_KEYS: RefCell<HashMap<String, CryptoKey>> = RefCell::new(HashMap::new());
}

/// The most keys cached per isolate; beyond it the cache starts over.
const MAX_CACHED_KEYS: usize = 64;

fn subtle() -> Result<SubtleCrypto, CryptoError> {
    let crypto =
        Reflect::get(&js_sys::global(), &JsValue::from_str("crypto")).map_err(|_| CryptoError)?;
    let crypto: web_sys::Crypto = crypto.dyn_into().map_err(|_| CryptoError)?;
    Ok(crypto.subtle())
}

fn object(pairs: &[(&str, JsValue)]) -> Result<Object, CryptoError> {
    let obj = Object::new();
    for (key, value) in pairs {
        Reflect::set(&obj, &JsValue::from_str(key), value).map_err(|_| CryptoError)?;
    }
    Ok(obj)
}

/// The WebCrypto algorithm for key generation and import.
fn key_algorithm(alg: Algorithm) -> Result<Object, CryptoError> {
    match alg {
        Algorithm::ES256 => object(&[("name", "ECDSA".into()), ("namedCurve", "P-256".into())]),
        Algorithm::RS256 => {
            object(&[("name", "RSASSA-PKCS1-v1_5".into()), ("hash", "SHA-256".into())])
        }
    }
}

/// The WebCrypto algorithm for sign and verify.
fn signature_algorithm(alg: Algorithm) -> Result<Object, CryptoError> {
    match alg {
        Algorithm::ES256 => object(&[("name", "ECDSA".into()), ("hash", "SHA-256".into())]),
        Algorithm::RS256 => object(&[("name", "RSASSA-PKCS1-v1_5".into())]),
    }
}

fn usages(list: &[&str]) -> JsValue {
    list.iter().map(|u| JsValue::from_str(u)).collect::<Array>().into()
}

async fn await_promise(promise: Result<js_sys::Promise, JsValue>) -> Result<JsValue, CryptoError> {
    JsFuture::from(promise.map_err(|_| CryptoError)?).await.map_err(|_| CryptoError)
}

async fn import_jwk(jwk_json: &str, alg: Algorithm, usage: &str) -> Result<CryptoKey, CryptoError> {
    let jwk: Object = js_sys::JSON::parse(jwk_json)
        .map_err(|_| CryptoError)?
        .dyn_into()
        .map_err(|_| CryptoError)?;
    // WebCrypto checks `alg`/`use`/`key_ops` members against the usage; drop them and
    // let the algorithm object decide.
    for member in ["alg", "use", "key_ops", "kid", "ext"] {
        let _ = Reflect::delete_property(&jwk, &JsValue::from_str(member));
    }
    let promise = subtle()?.import_key_with_object(
        "jwk",
        &jwk,
        &key_algorithm(alg)?,
        false,
        &usages(&[usage]),
    );
    await_promise(promise).await?.dyn_into().map_err(|_| CryptoError)
}

fn cached(
    cache: &'static std::thread::LocalKey<RefCell<HashMap<String, CryptoKey>>>,
    id: &str,
) -> Option<CryptoKey> {
    cache.with(|c| c.borrow().get(id).cloned())
}

fn remember(
    cache: &'static std::thread::LocalKey<RefCell<HashMap<String, CryptoKey>>>,
    id: String,
    key: &CryptoKey,
) {
    cache.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= MAX_CACHED_KEYS {
            c.clear();
        }
        c.insert(id, key.clone());
    });
}

impl Crypto for WebCrypto {
    async fn generate(&self, alg: Algorithm) -> Result<GeneratedKey, CryptoError> {
        let algorithm = match alg {
            Algorithm::ES256 => key_algorithm(alg)?,
            Algorithm::RS256 => {
                let exponent = Uint8Array::from(&[1u8, 0, 1][..]);
                object(&[
                    ("name", "RSASSA-PKCS1-v1_5".into()),
                    ("modulusLength", 2048.into()),
                    ("publicExponent", exponent.into()),
                    ("hash", "SHA-256".into()),
                ])?
            }
        };
        let pair = await_promise(subtle()?.generate_key_with_object(
            &algorithm,
            true,
            &usages(&["sign", "verify"]),
        ))
        .await?;
        let private: CryptoKey = Reflect::get(&pair, &JsValue::from_str("privateKey"))
            .map_err(|_| CryptoError)?
            .dyn_into()
            .map_err(|_| CryptoError)?;
        let exported = await_promise(subtle()?.export_key("jwk", &private)).await?;
        let text: String = js_sys::JSON::stringify(&exported).map_err(|_| CryptoError)?.into();
        let full: serde_json::Value = serde_json::from_str(&text).map_err(|_| CryptoError)?;
        // The public key is the private JWK's public members.
        let public_members: &[&str] = match alg {
            Algorithm::ES256 => &["kty", "crv", "x", "y"],
            Algorithm::RS256 => &["kty", "n", "e"],
        };
        let public: serde_json::Map<String, serde_json::Value> = public_members
            .iter()
            .filter_map(|m| full.get(*m).map(|v| ((*m).to_owned(), v.clone())))
            .collect();
        let public: Jwk =
            serde_json::from_value(serde_json::Value::Object(public)).map_err(|_| CryptoError)?;
        Ok(GeneratedKey { public, private: PrivateJwk(SecretBytes::new(text.into_bytes())) })
    }

    async fn sign(
        &self,
        kid: &KeyId,
        alg: Algorithm,
        private: &PrivateJwk,
        input: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let key = match cached(&SIGNING_KEYS, kid.as_str()) {
            Some(key) => key,
            None => {
                let text = std::str::from_utf8(private.0.expose()).map_err(|_| CryptoError)?;
                let key = import_jwk(text, alg, "sign").await?;
                remember(&SIGNING_KEYS, kid.as_str().to_owned(), &key);
                key
            }
        };
        let signature = await_promise(subtle()?.sign_with_object_and_u8_array(
            &signature_algorithm(alg)?,
            &key,
            input,
        ))
        .await?;
        Ok(Uint8Array::new(&signature).to_vec())
    }

    async fn verify(
        &self,
        key: &Jwk,
        alg: Algorithm,
        input: &[u8],
        signature: &[u8],
    ) -> Result<bool, CryptoError> {
        let text = serde_json::to_string(key).map_err(|_| CryptoError)?;
        let id = format!("{alg}:{text}");
        let imported = match cached(&VERIFYING_KEYS, &id) {
            Some(imported) => imported,
            None => {
                let imported = import_jwk(&text, alg, "verify").await?;
                remember(&VERIFYING_KEYS, id, &imported);
                imported
            }
        };
        let result = await_promise(subtle()?.verify_with_object_and_u8_array_and_u8_array(
            &signature_algorithm(alg)?,
            &imported,
            signature,
            input,
        ))
        .await?;
        Ok(result.as_bool().unwrap_or(false))
    }
}
