//! [`Signer`] and [`Verifier`] on WebCrypto (`crypto.subtle`), called from Rust: key generation and
//! signing here, verification through [`gatehouse_webcrypto`] (shared with the edge
//! gateway). Imported private keys are kept per isolate by key id as
//! non-extractable `CryptoKey`s, so a hot key costs one `sign` call: the sealed
//! private key is opened only for its first import in an isolate.

use std::cell::RefCell;
use std::collections::HashMap;

use gatehouse_core::jose::{Algorithm, Jwk};
use gatehouse_core::keys::SigningKey;
use gatehouse_core::platform::{CryptoError, GeneratedKey, PrivateJwk, Signer, Verifier};
use gatehouse_core::types::SecretBytes;
use gatehouse_webcrypto::{
    MAX_CACHED_KEYS, await_promise, key_algorithm, object, signature_algorithm, subtle, usages,
};
use js_sys::{Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::CryptoKey;

/// WebCrypto as the engine's [`Signer`].
#[derive(Debug, Default, Clone, Copy)]
pub struct WebCrypto;

thread_local! {
    /// Imported private keys by `kid`.
    static SIGNING_KEYS: RefCell<HashMap<String, CryptoKey>> = RefCell::new(HashMap::new());
}

/// Imports the private key of `key` for signing, as a non-extractable `CryptoKey`.
/// The private JWK is opened only to hand it to JavaScript and wiped right after,
/// before the import is awaited.
async fn import_private(key: &SigningKey<'_>) -> Result<CryptoKey, CryptoError> {
    let parsed = key
        .with_private(|private| {
            let text = std::str::from_utf8(private.0.expose()).map_err(|_| CryptoError)?;
            js_sys::JSON::parse(text).map_err(|_| CryptoError)
        })
        .map_err(|_| CryptoError)??;
    let jwk: Object = parsed.dyn_into().map_err(|_| CryptoError)?;
    // WebCrypto checks `alg`/`use`/`key_ops` members against the usage; drop them and
    // let the algorithm object decide.
    for member in ["alg", "use", "key_ops", "kid", "ext"] {
        let _ = Reflect::delete_property(&jwk, &JsValue::from_str(member));
    }
    let promise = subtle()?.import_key_with_object(
        "jwk",
        &jwk,
        &key_algorithm(key.alg)?,
        false,
        &usages(&["sign"]),
    );
    await_promise(promise).await?.dyn_into().map_err(|_| CryptoError)
}

impl Verifier for WebCrypto {
    async fn verify(
        &self,
        key: &Jwk,
        alg: Algorithm,
        input: &[u8],
        signature: &[u8],
    ) -> Result<bool, CryptoError> {
        gatehouse_webcrypto::verify(key, alg, input, signature).await
    }
}

impl Signer for WebCrypto {
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

    async fn sign(&self, key: &SigningKey<'_>, input: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let cached = SIGNING_KEYS.with(|k| k.borrow().get(key.kid.as_str()).cloned());
        let imported = match cached {
            Some(imported) => imported,
            None => {
                let imported = import_private(key).await?;
                SIGNING_KEYS.with(|k| {
                    let mut k = k.borrow_mut();
                    if k.len() >= MAX_CACHED_KEYS {
                        k.clear();
                    }
                    k.insert(key.kid.as_str().to_owned(), imported.clone());
                });
                imported
            }
        };
        let signature = await_promise(subtle()?.sign_with_object_and_u8_array(
            &signature_algorithm(key.alg)?,
            &imported,
            input,
        ))
        .await?;
        Ok(Uint8Array::new(&signature).to_vec())
    }
}
