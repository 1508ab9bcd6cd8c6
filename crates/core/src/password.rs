//! Password hashing with Argon2id at the OWASP-recommended cost (m = 19 MiB, t = 2,
//! p = 1; OWASP Password Storage Cheat Sheet). Hashes are PHC strings, so the
//! parameters travel with each hash and can be raised later without breaking old
//! ones.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand_core::CryptoRngCore;

/// Memory cost in KiB.
pub const MEMORY_KIB: u32 = 19 * 1024;
/// Iterations.
pub const ITERATIONS: u32 = 2;
/// Parallelism.
pub const PARALLELISM: u32 = 1;
/// The shortest password accepted.
pub const MIN_CHARS: usize = 8;
/// The longest password accepted (bounds the work one request can ask for).
pub const MAX_BYTES: usize = 256;

/// Why a password was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordError {
    /// Shorter than [`MIN_CHARS`].
    TooShort,
    /// Longer than [`MAX_BYTES`].
    TooLong,
    /// Hashing failed.
    Hash,
}

impl PasswordError {
    /// A message for the API.
    #[must_use]
    pub const fn message(self) -> &'static str {
        match self {
            Self::TooShort => "must be at least 8 characters",
            Self::TooLong => "must be at most 256 bytes",
            Self::Hash => "could not be hashed",
        }
    }
}

fn hasher() -> Result<Argon2<'static>, PasswordError> {
    let params =
        Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None).map_err(|_| PasswordError::Hash)?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Checks the length rules and hashes `password` with a fresh 128-bit salt.
///
/// # Errors
///
/// [`PasswordError`] when the password is too short or too long.
pub fn hash(password: &str, rng: &mut dyn CryptoRngCore) -> Result<String, PasswordError> {
    if password.chars().count() < MIN_CHARS {
        return Err(PasswordError::TooShort);
    }
    if password.len() > MAX_BYTES {
        return Err(PasswordError::TooLong);
    }
    let mut salt = [0u8; 16];
    rng.fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|_| PasswordError::Hash)?;
    let hash =
        hasher()?.hash_password(password.as_bytes(), &salt).map_err(|_| PasswordError::Hash)?;
    Ok(hash.to_string())
}

/// Whether `password` matches the PHC string `stored` (constant-time comparison).
#[must_use]
pub fn verify(password: &str, stored: &str) -> bool {
    if password.len() > MAX_BYTES {
        return false;
    }
    let Ok(parsed) = PasswordHash::new(stored) else { return false };
    Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_rng::CountingRng as Counter;

    #[test]
    fn hashes_with_owasp_parameters_and_verifies() {
        let stored = hash("correct horse battery", &mut Counter(0)).unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{stored}");
        assert!(verify("correct horse battery", &stored));
        assert!(!verify("correct horse batterY", &stored));
        assert!(!verify("x", "not a hash"));
    }

    #[test]
    fn length_rules() {
        assert_eq!(hash("short", &mut Counter(0)), Err(PasswordError::TooShort));
        assert_eq!(hash(&"a".repeat(257), &mut Counter(0)), Err(PasswordError::TooLong));
    }
}
