//! What the host provides: crypto, storage, outbound fetches, and nothing else.
//!
//! The engine is generic over [`Platform`], so the worker plugs in Workers KV,
//! Durable Objects and WebCrypto, and tests plug in memory stores and pure-Rust
//! crypto, with no `cfg` in protocol code. Async traits carry no `Send` bound:
//! JavaScript futures are `!Send`.

#[cfg(feature = "issuer")]
pub use crate::fetch::Fetch;
use crate::jose::{Algorithm, Jwk};
#[cfg(feature = "issuer")]
use crate::keys::SigningKey;
#[cfg(feature = "issuer")]
use crate::store::{Counters, Directory, KeyVault, OnceStore, RefreshFamilies, Registry, Sessions};
#[cfg(feature = "issuer")]
use crate::types::SecretBytes;

/// A crypto operation failed. Carries no detail on purpose (RustCrypto
/// `signature::Error` style): what failed is never disclosed to a caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CryptoError;

impl std::fmt::Display for CryptoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("crypto operation failed")
    }
}

impl std::error::Error for CryptoError {}

#[cfg(feature = "issuer")]
/// A private key as a JWK JSON document (RFC 7517, with the private members of
/// RFC 7518 section 6.2.2 or 6.3.2), as WebCrypto exports and imports it.
#[derive(Debug)]
pub struct PrivateJwk(pub SecretBytes);

#[cfg(feature = "issuer")]
/// A freshly generated key pair.
#[derive(Debug)]
pub struct GeneratedKey {
    /// The public half, without `kid`, `alg` or `use` (the keyring sets those).
    pub public: Jwk,
    /// The private half.
    pub private: PrivateJwk,
}

/// Signature verification: all a consumer that only checks tokens needs (the
/// gateway, the browser package, an issuer reading an `id_token_hint`).
///
/// Implementations must be constant-time where the algorithm allows (WebCrypto in
/// wasm; RustCrypto natively).
#[allow(async_fn_in_trait)]
pub trait Verifier {
    /// Whether `signature` is a valid `alg` signature over `input` by `key`.
    /// The caller has already checked that `key` fits `alg` ([`Jwk::check_for`]).
    ///
    /// # Errors
    ///
    /// [`CryptoError`] if the key cannot be imported; a wrong signature is `Ok(false)`.
    async fn verify(
        &self,
        key: &Jwk,
        alg: Algorithm,
        input: &[u8],
        signature: &[u8],
    ) -> Result<bool, CryptoError>;
}

#[cfg(feature = "issuer")]
/// Key generation and signing, for the issuer. A signer also verifies.
///
/// Implementations must not sign RS256 with the pure-Rust `rsa` crate in shipped
/// code (RUSTSEC-2023-0071): the worker signs with WebCrypto.
#[allow(async_fn_in_trait)]
pub trait Signer: Verifier {
    /// Generates a new signing key pair for `alg`.
    ///
    /// # Errors
    ///
    /// [`CryptoError`] if the platform cannot generate the key.
    async fn generate(&self, alg: Algorithm) -> Result<GeneratedKey, CryptoError>;

    /// Signs `input` with `key`. Returns the JWS signature bytes: `r || s` for
    /// ES256, the PKCS#1 v1.5 signature for RS256. An implementation may keep the
    /// imported key by [`SigningKey::kid`] (a `kid` is the key's thumbprint, so it
    /// names one key) and open the private key ([`SigningKey::with_private`]) only
    /// when it imports it.
    ///
    /// # Errors
    ///
    /// [`CryptoError`] if the key cannot be opened or imported, or signing fails.
    async fn sign(&self, key: &SigningKey<'_>, input: &[u8]) -> Result<Vec<u8>, CryptoError>;
}

#[cfg(feature = "issuer")]
/// Everything the engine needs from its host.
pub trait Platform {
    /// Read-mostly records (Workers KV in the worker).
    type Directory: Directory;
    /// Take-once records: codes (a Durable Object).
    type Once: OnceStore;
    /// Refresh token families (a Durable Object).
    type Families: RefreshFamilies;
    /// Login sessions (a Durable Object).
    type Sessions: Sessions;
    /// Rate-limit, lockout and usage counters (a Durable Object).
    type Counters: Counters;
    /// The single writer of the signing keyring (a Durable Object).
    type Keys: KeyVault;
    /// The single writer of administered records (a Durable Object).
    type Registry: Registry;
    /// Signatures.
    type Crypto: Signer;
    /// Outbound GETs (an app's `jwks_uri`).
    type Fetch: Fetch;

    /// The directory.
    fn directory(&self) -> &Self::Directory;
    /// The take-once store.
    fn once(&self) -> &Self::Once;
    /// The refresh families.
    fn families(&self) -> &Self::Families;
    /// The sessions.
    fn sessions(&self) -> &Self::Sessions;
    /// The counters.
    fn counters(&self) -> &Self::Counters;
    /// The keyring writer.
    fn keys(&self) -> &Self::Keys;
    /// The registry.
    fn registry(&self) -> &Self::Registry;
    /// The crypto provider.
    fn crypto(&self) -> &Self::Crypto;
    /// The fetcher.
    fn fetch(&self) -> &Self::Fetch;
}
