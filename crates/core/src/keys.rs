//! The signing keyring: which keys exist, which one signs, which are published, and
//! how private keys are kept encrypted at rest.
//!
//! Every key has a lifecycle on the engine's clock: it is *published* in the JWKS from
//! creation, *signs* from `activates_at`, stops signing at `retires_at`, and stays
//! published until every token it signed has expired. A rotation therefore never
//! breaks a verifier that cached the JWKS: the next key is published before it signs,
//! and the previous one is published after it stopped.
//!
//! Private keys are sealed with AES-256-GCM under a key-encryption key derived with
//! HKDF-SHA256 from the `KEY_ENCRYPTION_SECRET` worker secret; the key id is bound in
//! as associated data, so a sealed key cannot be swapped under another id.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::jose::{Algorithm, Jwk, Jwks, KeyId, KeyType, KeyUse, b64url, b64url_decode};
use crate::platform::{CryptoError, PrivateJwk, Signer};
use crate::types::{SecretBytes, UnixTime};

/// The algorithms every keyring holds a key for.
pub const ALGORITHMS: [Algorithm; 2] = [Algorithm::ES256, Algorithm::RS256];
/// How long a new key is published before it signs: the JWKS `max-age`, so every
/// verifier that honours it has seen the key before the first token it signs.
pub const PUBLISH_AHEAD_SECS: u64 = 300;
/// How long a retired key stays published: the longest token lifetime (24 h) plus
/// the publish-ahead margin.
pub const PUBLISH_AFTER_SECS: u64 = 24 * 3600 + PUBLISH_AHEAD_SECS;
/// The most keys of one algorithm a keyring keeps: the current one, the next one
/// and the previous ones whose tokens may still be valid. Rotating faster than
/// that drops the oldest retired keys early (their tokens then stop verifying).
pub const MAX_KEYS_PER_ALG: usize = 8;
/// How far the clocks of the callers of the keyring writer may disagree: a next key
/// due to sign within this margin of a rotation may already sign somewhere, so a
/// rotation keeps it (retired) instead of replacing it.
pub const CLOCK_SKEW_SECS: u64 = 60;
/// The shortest `KEY_ENCRYPTION_SECRET` accepted, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;

/// Why a keyring operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyError {
    /// The key-encryption secret is shorter than [`MIN_SECRET_BYTES`].
    WeakSecret,
    /// A sealed key did not open: wrong secret, or tampered storage.
    Unseal,
    /// The platform crypto failed.
    Crypto,
    /// No key of the needed algorithm is active.
    NoActiveKey,
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::WeakSecret => "key encryption secret must be at least 32 bytes",
            Self::Unseal => "sealed key did not open",
            Self::Crypto => "key generation failed",
            Self::NoActiveKey => "no active signing key",
        })
    }
}

impl std::error::Error for KeyError {}

impl From<CryptoError> for KeyError {
    fn from(_: CryptoError) -> Self {
        Self::Crypto
    }
}

/// A MAC key derived from the worker secret, for values the issuer must be able to
/// derive again (a refresh token's successor) but nobody else can compute.
pub struct MacKey([u8; 32]);

impl std::fmt::Debug for MacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MacKey(..)")
    }
}

impl MacKey {
    /// Derives the key for `purpose` from the worker secret (HKDF-SHA256).
    ///
    /// # Errors
    ///
    /// [`KeyError::WeakSecret`] if the secret is shorter than [`MIN_SECRET_BYTES`].
    pub fn derive(secret: &[u8], purpose: &str) -> Result<Self, KeyError> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(KeyError::WeakSecret);
        }
        let hk = hkdf::Hkdf::<Sha256>::new(Some(b"gatehouse"), secret);
        let mut okm = [0u8; 32];
        hk.expand(purpose.as_bytes(), &mut okm).map_err(|_| KeyError::WeakSecret)?;
        Ok(Self(okm))
    }

    /// HMAC-SHA256 of `data`.
    #[must_use]
    pub fn mac(&self, data: &[u8]) -> [u8; 32] {
        use hmac::Mac as _;
        let Ok(mut mac) = <hmac::Hmac<Sha256> as hmac::Mac>::new_from_slice(&self.0) else {
            return [0; 32];
        };
        mac.update(data);
        mac.finalize().into_bytes().into()
    }
}

/// The key-encryption key (KEK) that seals private keys at rest.
pub struct Kek(Aes256Gcm);

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kek(..)")
    }
}

impl Kek {
    /// Derives the KEK from the worker secret.
    ///
    /// # Errors
    ///
    /// [`KeyError::WeakSecret`] if the secret is shorter than [`MIN_SECRET_BYTES`].
    pub fn derive(secret: &[u8]) -> Result<Self, KeyError> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(KeyError::WeakSecret);
        }
        let hk = hkdf::Hkdf::<Sha256>::new(Some(b"gatehouse"), secret);
        let mut okm = [0u8; 32];
        hk.expand(b"gatehouse key encryption v1", &mut okm).map_err(|_| KeyError::WeakSecret)?;
        let cipher = Aes256Gcm::new_from_slice(&okm).map_err(|_| KeyError::WeakSecret)?;
        okm.iter_mut().for_each(|b| *b = 0);
        Ok(Self(cipher))
    }

    /// Seals `plaintext`, binding `kid`; returns base64url(nonce || ciphertext).
    ///
    /// # Errors
    ///
    /// [`KeyError::Crypto`] if encryption fails (it does not for inputs this size).
    pub fn seal(
        &self,
        kid: &KeyId,
        plaintext: &[u8],
        rng: &mut dyn CryptoRngCore,
    ) -> Result<String, KeyError> {
        let mut nonce = [0u8; 12];
        rng.fill_bytes(&mut nonce);
        let sealed = self
            .0
            .encrypt(&Nonce::from(nonce), Payload { msg: plaintext, aad: kid.as_str().as_bytes() })
            .map_err(|_| KeyError::Crypto)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(b64url(&out))
    }

    /// Opens what [`Kek::seal`] sealed for `kid`.
    ///
    /// # Errors
    ///
    /// [`KeyError::Unseal`] if the text is malformed, the key is wrong, or the data or
    /// the `kid` was changed.
    pub fn open(&self, kid: &KeyId, sealed: &str) -> Result<SecretBytes, KeyError> {
        let bytes = b64url_decode(sealed).map_err(|_| KeyError::Unseal)?;
        let (nonce, ciphertext) = bytes.split_at_checked(12).ok_or(KeyError::Unseal)?;
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| KeyError::Unseal)?;
        self.0
            .decrypt(&Nonce::from(nonce), Payload { msg: ciphertext, aad: kid.as_str().as_bytes() })
            .map(SecretBytes::new)
            .map_err(|_| KeyError::Unseal)
    }
}

/// One key of the keyring, with its private half sealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredKey {
    /// The public key, with `kid`, `alg` and `use` set.
    pub public: Jwk,
    /// The sealed private JWK ([`Kek::seal`]).
    pub sealed: String,
    /// When the key was created.
    pub created_at: UnixTime,
    /// When the key starts signing.
    pub activates_at: UnixTime,
    /// When the key stops signing, once a successor exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retires_at: Option<UnixTime>,
}

impl StoredKey {
    /// The key id.
    #[must_use]
    pub fn kid(&self) -> Option<&KeyId> {
        self.public.kid.as_ref()
    }

    fn signs_at(&self, now: UnixTime) -> bool {
        self.activates_at <= now && self.retires_at.is_none_or(|r| now < r)
    }

    /// Published until every token it signed expired; a key that retired before it
    /// ever signed has no tokens and leaves when it retires.
    fn published_at(&self, now: UnixTime) -> bool {
        match self.retires_at {
            None => true,
            Some(r) if r <= self.activates_at => now < r,
            Some(r) => now < r.plus(PUBLISH_AFTER_SECS),
        }
    }
}

/// A key ready to sign: id, algorithm, and the private key, sealed until the
/// signer needs it. A signer that keeps imported keys by `kid` (WebCrypto in the
/// worker) opens it only to import it, once per key and isolate, so the private
/// key is in the clear in wasm memory only while the import runs.
#[derive(Debug)]
pub struct SigningKey<'a> {
    /// The key id, for the JWS `kid` header.
    pub kid: KeyId,
    /// The algorithm.
    pub alg: Algorithm,
    private: Private<'a>,
}

#[derive(Debug)]
enum Private<'a> {
    Sealed { sealed: &'a str, kek: &'a Kek },
    Open(PrivateJwk),
}

impl<'a> SigningKey<'a> {
    /// A key whose private half is held in the clear: for tools and tests that
    /// sign without a keyring.
    #[must_use]
    pub fn from_private(kid: KeyId, alg: Algorithm, private: PrivateJwk) -> Self {
        Self { kid, alg, private: Private::Open(private) }
    }

    /// The private JWK, opened for the duration of `use_key` and wiped after it.
    ///
    /// # Errors
    ///
    /// [`KeyError::Unseal`] if the sealed key does not open with the KEK.
    pub fn with_private<R>(&self, use_key: impl FnOnce(&PrivateJwk) -> R) -> Result<R, KeyError> {
        match &self.private {
            Private::Open(private) => Ok(use_key(private)),
            Private::Sealed { sealed, kek } => {
                let opened = PrivateJwk(kek.open(&self.kid, sealed)?);
                Ok(use_key(&opened))
            }
        }
    }
}

/// The set of signing keys, current, next and previous, for every algorithm.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Keyring {
    /// Keys, oldest first.
    pub keys: Vec<StoredKey>,
}

impl Keyring {
    /// A first keyring: one key per algorithm in [`ALGORITHMS`], signing at once
    /// (there is no earlier key a verifier could have cached).
    ///
    /// # Errors
    ///
    /// [`KeyError`] if generation or sealing fails.
    pub async fn generate<C: Signer>(
        crypto: &C,
        kek: &Kek,
        now: UnixTime,
        rng: &mut dyn CryptoRngCore,
    ) -> Result<Self, KeyError> {
        let mut ring = Self::default();
        for alg in ALGORITHMS {
            ring.keys.push(new_key(crypto, kek, alg, now, now, rng).await?);
        }
        Ok(ring)
    }

    /// Adds a successor for every algorithm: published now, signing from
    /// `now + PUBLISH_AHEAD_SECS`, when the key it replaces retires. A next key that
    /// has not signed yet is replaced (it signed no token, so it can go at once), keys
    /// no longer published are dropped, and at most [`MAX_KEYS_PER_ALG`] keys per
    /// algorithm are kept.
    ///
    /// # Errors
    ///
    /// [`KeyError`] if generation or sealing fails; the keyring is then unchanged.
    pub async fn rotate<C: Signer>(
        &self,
        crypto: &C,
        kek: &Kek,
        now: UnixTime,
        rng: &mut dyn CryptoRngCore,
    ) -> Result<Self, KeyError> {
        let switch_at = now.plus(PUBLISH_AHEAD_SECS);
        let mut next = self.clone();
        // A next key that cannot have signed yet, even on a clock a little ahead.
        next.keys.retain(|k| k.activates_at <= now.plus(CLOCK_SKEW_SECS));
        for key in &mut next.keys {
            // The key signing now signs until its successor takes over.
            if key.retires_at.is_none_or(|r| r > now) {
                key.retires_at = Some(switch_at);
            }
        }
        next.keys.retain(|k| k.published_at(now));
        for alg in ALGORITHMS {
            next.keys.push(new_key(crypto, kek, alg, now, switch_at, rng).await?);
        }
        next.cap(now);
        Ok(next)
    }

    /// Withdraws the key `kid` at once, for a key that must no longer be trusted: it
    /// leaves the keyring and the JWKS. If it is the key signing its algorithm, its
    /// next key (if one waits) signs from now, or a new key is made that signs from
    /// now, so signing never stops. `None` if no key has that id.
    ///
    /// # Errors
    ///
    /// [`KeyError`] if a new key cannot be made; the keyring is then unchanged.
    pub async fn withdraw<C: Signer>(
        &self,
        kid: &str,
        crypto: &C,
        kek: &Kek,
        now: UnixTime,
        rng: &mut dyn CryptoRngCore,
    ) -> Result<Option<Self>, KeyError> {
        let Some(at) = self.keys.iter().position(|k| k.kid().is_some_and(|id| id.as_str() == kid))
        else {
            return Ok(None);
        };
        let mut next = self.clone();
        let withdrawn = next.keys.remove(at);
        if let (Some(alg), true) = (withdrawn.public.alg, withdrawn.signs_at(now)) {
            let waiting = next
                .keys
                .iter_mut()
                .rev()
                .find(|k| k.public.alg == Some(alg) && k.activates_at > now);
            match waiting {
                Some(successor) => successor.activates_at = now,
                None => next.keys.push(new_key(crypto, kek, alg, now, now, rng).await?),
            }
        }
        Ok(Some(next))
    }

    /// Keeps at most [`MAX_KEYS_PER_ALG`] keys per algorithm, dropping the oldest
    /// retired ones (never a key that signs or will sign).
    fn cap(&mut self, now: UnixTime) {
        for alg in ALGORITHMS {
            let mut count = self.keys.iter().filter(|k| k.public.alg == Some(alg)).count();
            while count > MAX_KEYS_PER_ALG {
                let Some(oldest) = self.keys.iter().position(|k| {
                    k.public.alg == Some(alg) && k.retires_at.is_some_and(|r| r <= now)
                }) else {
                    break;
                };
                self.keys.remove(oldest);
                count -= 1;
            }
        }
    }

    /// The JWKS to publish at `now`: every key that signs, will sign, or signed tokens
    /// that may not have expired yet.
    #[must_use]
    pub fn jwks(&self, now: UnixTime) -> Jwks {
        Jwks {
            keys: self
                .keys
                .iter()
                .filter(|k| k.published_at(now))
                .map(|k| k.public.clone())
                .collect(),
        }
    }

    /// The key that signs `alg` tokens at `now`, to be opened with `kek` when the
    /// signer needs it. When several qualify (a rotation in progress), the newest
    /// wins.
    ///
    /// # Errors
    ///
    /// [`KeyError::NoActiveKey`].
    pub fn signing_key<'a>(
        &'a self,
        alg: Algorithm,
        now: UnixTime,
        kek: &'a Kek,
    ) -> Result<SigningKey<'a>, KeyError> {
        let key = self
            .keys
            .iter()
            .rev()
            .find(|k| k.public.alg == Some(alg) && k.signs_at(now))
            .ok_or(KeyError::NoActiveKey)?;
        let kid = key.kid().cloned().ok_or(KeyError::NoActiveKey)?;
        Ok(SigningKey { kid, alg, private: Private::Sealed { sealed: &key.sealed, kek } })
    }
}

async fn new_key<C: Signer>(
    crypto: &C,
    kek: &Kek,
    alg: Algorithm,
    now: UnixTime,
    activates_at: UnixTime,
    rng: &mut dyn CryptoRngCore,
) -> Result<StoredKey, KeyError> {
    let generated = crypto.generate(alg).await?;
    let mut public = generated.public;
    let kid = thumbprint(&public).ok_or(KeyError::Crypto)?;
    public.kid = Some(kid.clone());
    public.alg = Some(alg);
    public.key_use = Some(KeyUse::Signature);
    let sealed = kek.seal(&kid, generated.private.0.expose(), rng)?;
    Ok(StoredKey { public, sealed, created_at: now, activates_at, retires_at: None })
}

/// The JWK thumbprint (RFC 7638) of a public key, base64url: a `kid` that names the key
/// material itself.
#[must_use]
pub fn thumbprint(key: &Jwk) -> Option<KeyId> {
    // RFC 7638 section 3.2: the required members, lexicographic order, no whitespace.
    let canonical = match key.kty {
        KeyType::EC => format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            key.crv.as_deref()?,
            key.x.as_deref()?,
            key.y.as_deref()?
        ),
        KeyType::RSA => {
            format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, key.e.as_deref()?, key.n.as_deref()?)
        }
    };
    // The members are base64url or fixed names, so no JSON escaping is needed;
    // refuse anything else rather than hash a non-canonical form.
    if canonical.contains('\\') {
        return None;
    }
    Some(KeyId::new(b64url(&Sha256::digest(canonical.as_bytes()))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::CountingRng;

    #[test]
    fn rfc7638_thumbprint_vector() {
        // See: RFC 7638 section 3.1 (example RSA key and its thumbprint).
        let key: Jwk = serde_json::from_str(include_str!("../testdata/rfc7638-key.json")).unwrap();
        assert_eq!(
            thumbprint(&key).unwrap().as_str(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn seal_round_trips_and_binds_kid() {
        let kek = Kek::derive(&[7u8; 32]).unwrap();
        let kid = KeyId::new("a");
        let sealed = kek.seal(&kid, b"private", &mut CountingRng(0)).unwrap();
        assert_eq!(kek.open(&kid, &sealed).unwrap().expose(), b"private");
        assert_eq!(kek.open(&KeyId::new("b"), &sealed).unwrap_err(), KeyError::Unseal);
        let other = Kek::derive(&[8u8; 32]).unwrap();
        assert_eq!(other.open(&kid, &sealed).unwrap_err(), KeyError::Unseal);
        assert_eq!(kek.open(&kid, "AAAA").unwrap_err(), KeyError::Unseal);
    }

    #[test]
    fn weak_secret_is_refused() {
        assert_eq!(Kek::derive(b"short").unwrap_err(), KeyError::WeakSecret);
    }
}
