use std::cell::RefCell;

use base64::Engine as _;
use gatehouse_core::jose::{Algorithm, Jwk};
use gatehouse_core::keys::SigningKey;
use gatehouse_core::platform::{CryptoError, GeneratedKey, PrivateJwk, Signer, Verifier};
use gatehouse_core::types::SecretBytes;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use rsa::{BigUint, RsaPrivateKey, RsaPublicKey};
use sha2::Sha256;

/// [`Signer`] and [`Verifier`] in pure Rust for native tests: ES256 with `p256`, RS256 with `rsa`
/// (test-only; never shipped). Key generation is seeded, so runs are repeatable.
pub struct NativeCrypto {
    rng: RefCell<ChaCha20Rng>,
}

impl Default for NativeCrypto {
    fn default() -> Self {
        Self::seeded(0x6761_7465)
    }
}

impl NativeCrypto {
    /// A provider whose key generation is seeded with `seed`: two providers with
    /// different seeds generate different keys (a client's keys, say, beside the
    /// issuer's).
    #[must_use]
    pub fn seeded(seed: u64) -> Self {
        Self { rng: RefCell::new(ChaCha20Rng::seed_from_u64(seed)) }
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: Option<&serde_json::Value>) -> Result<Vec<u8>, CryptoError> {
    let text = text.and_then(serde_json::Value::as_str).ok_or(CryptoError)?;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text).map_err(|_| CryptoError)
}

fn big(value: Option<&serde_json::Value>) -> Result<BigUint, CryptoError> {
    Ok(BigUint::from_bytes_be(&unb64(value)?))
}

impl Verifier for NativeCrypto {
    async fn verify(
        &self,
        key: &Jwk,
        alg: Algorithm,
        input: &[u8],
        signature: &[u8],
    ) -> Result<bool, CryptoError> {
        let jwk = serde_json::to_value(key).map_err(|_| CryptoError)?;
        match alg {
            Algorithm::ES256 => {
                let minimal =
                    serde_json::json!({"kty": "EC", "crv": "P-256", "x": jwk["x"], "y": jwk["y"]});
                let public =
                    p256::PublicKey::from_jwk_str(&minimal.to_string()).map_err(|_| CryptoError)?;
                let Ok(signature) = p256::ecdsa::Signature::from_slice(signature) else {
                    return Ok(false);
                };
                Ok(p256::ecdsa::VerifyingKey::from(public).verify(input, &signature).is_ok())
            }
            Algorithm::RS256 => {
                let public = RsaPublicKey::new(big(jwk.get("n"))?, big(jwk.get("e"))?)
                    .map_err(|_| CryptoError)?;
                let Ok(signature) = rsa::pkcs1v15::Signature::try_from(signature) else {
                    return Ok(false);
                };
                let verifier = rsa::pkcs1v15::VerifyingKey::<Sha256>::new(public);
                Ok(verifier.verify(input, &signature).is_ok())
            }
        }
    }
}

impl Signer for NativeCrypto {
    async fn generate(&self, alg: Algorithm) -> Result<GeneratedKey, CryptoError> {
        let rng = &mut *self.rng.borrow_mut();
        let (public, private) = match alg {
            Algorithm::ES256 => {
                let secret = p256::SecretKey::random(rng);
                (secret.public_key().to_jwk_string(), secret.to_jwk_string().to_string())
            }
            Algorithm::RS256 => {
                let key = RsaPrivateKey::new(rng, 2048).map_err(|_| CryptoError)?;
                let primes = key.primes();
                let public = serde_json::json!({"kty": "RSA", "n": b64(&key.n().to_bytes_be()), "e": b64(&key.e().to_bytes_be())});
                let private = serde_json::json!({
                    "kty": "RSA", "n": b64(&key.n().to_bytes_be()), "e": b64(&key.e().to_bytes_be()),
                    "d": b64(&key.d().to_bytes_be()),
                    "p": b64(&primes[0].to_bytes_be()), "q": b64(&primes[1].to_bytes_be()),
                });
                (public.to_string(), private.to_string())
            }
        };
        let public: Jwk = serde_json::from_str(&public).map_err(|_| CryptoError)?;
        Ok(GeneratedKey { public, private: PrivateJwk(SecretBytes::new(private.into_bytes())) })
    }

    async fn sign(&self, key: &SigningKey<'_>, input: &[u8]) -> Result<Vec<u8>, CryptoError> {
        key.with_private(|private| sign_jwk(key.alg, private, input)).map_err(|_| CryptoError)?
    }
}

/// Signs `input` with the private JWK `private` (ES256 with RustCrypto's `p256`, RS256
/// with the `rsa` crate: fine for tests, never for shipped code).
fn sign_jwk(alg: Algorithm, private: &PrivateJwk, input: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let text = std::str::from_utf8(private.0.expose()).map_err(|_| CryptoError)?;
    match alg {
        Algorithm::ES256 => {
            let secret = p256::SecretKey::from_jwk_str(text).map_err(|_| CryptoError)?;
            let signature: p256::ecdsa::Signature =
                p256::ecdsa::SigningKey::from(secret).sign(input);
            Ok(signature.to_bytes().to_vec())
        }
        Algorithm::RS256 => {
            let jwk: serde_json::Value = serde_json::from_str(text).map_err(|_| CryptoError)?;
            let key = RsaPrivateKey::from_components(
                big(jwk.get("n"))?,
                big(jwk.get("e"))?,
                big(jwk.get("d"))?,
                vec![big(jwk.get("p"))?, big(jwk.get("q"))?],
            )
            .map_err(|_| CryptoError)?;
            let signer = rsa::pkcs1v15::SigningKey::<Sha256>::new(key);
            let signature: rsa::pkcs1v15::Signature = signer.sign(input);
            Ok(rsa::signature::SignatureEncoding::to_vec(&signature))
        }
    }
}
