//! Secret bytes: redacted in `Debug`, compared in constant time, never `Clone`.

use subtle::ConstantTimeEq;

/// Bytes that must not leak: key material, client secrets, tokens before hashing.
///
/// `Debug` prints `SecretBytes(..)`; equality is constant-time in the contents
/// (lengths are not secret); there is no `Clone`, so a copy is always deliberate
/// ([`SecretBytes::duplicate`]).
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// Wraps `bytes`.
    #[must_use]
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The secret bytes. Callers must not log or persist them in the clear.
    #[must_use]
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// An explicit copy, for the rare place that needs two owners.
    #[must_use]
    pub fn duplicate(&self) -> Self {
        Self(self.0.clone())
    }

    /// Constant-time equality.
    #[must_use]
    pub fn ct_eq(&self, other: &[u8]) -> bool {
        self.0.ct_eq(other).into()
    }
}

impl std::fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBytes(..)")
    }
}

impl Drop for SecretBytes {
    fn drop(&mut self) {
        // Best effort: overwrite before the allocation is returned.
        self.0.iter_mut().for_each(|b| *b = 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        assert_eq!(format!("{:?}", SecretBytes::new(b"hunter2".to_vec())), "SecretBytes(..)");
    }

    #[test]
    fn compares_contents() {
        let s = SecretBytes::new(b"abc".to_vec());
        assert!(s.ct_eq(b"abc"));
        assert!(!s.ct_eq(b"abd"));
        assert!(!s.ct_eq(b"ab"));
    }
}
