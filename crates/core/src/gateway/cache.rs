//! Verified tokens, kept until they expire, so that a token seen before costs one
//! SHA-256 and a map lookup instead of a signature check.
//!
//! Keyed by the SHA-256 of the whole compact token: equal keys mean the same bytes,
//! so a hit is exactly as trustworthy as the verification that filled it. Entries
//! expire at the token's `exp` plus the policy's leeway (the moment verification
//! would start failing), and a hit is ignored once the signing key leaves the JWKS.

use std::collections::HashMap;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::types::UnixTime;
use crate::verify::VerifiedAccessToken;

/// The cache key of a token.
pub type TokenKey = [u8; 32];

/// The cache key of `token`.
#[must_use]
pub fn token_key(token: &str) -> TokenKey {
    Sha256::digest(token.as_bytes()).into()
}

#[derive(Debug, Clone)]
struct Entry {
    token: Arc<VerifiedAccessToken>,
    until: UnixTime,
}

/// A bounded map of verified tokens.
#[derive(Debug, Clone, Default)]
pub struct TokenCache {
    entries: HashMap<TokenKey, Entry>,
    capacity: usize,
}

impl TokenCache {
    /// A cache holding at most `capacity` tokens (0 caches nothing).
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self { entries: HashMap::new(), capacity }
    }

    /// The verified token under `key`, if it is still valid at `now`.
    pub fn get(&mut self, key: &TokenKey, now: UnixTime) -> Option<Arc<VerifiedAccessToken>> {
        match self.entries.get(key) {
            Some(entry) if now < entry.until => Some(Arc::clone(&entry.token)),
            Some(_) => {
                self.entries.remove(key);
                None
            }
            None => None,
        }
    }

    /// Remembers `token` under `key` until `until`. When full, expired entries go
    /// first; if none have expired, the cache starts over (a flood of valid tokens
    /// costs verifications, never unbounded memory).
    pub fn insert(
        &mut self,
        key: TokenKey,
        token: Arc<VerifiedAccessToken>,
        until: UnixTime,
        now: UnixTime,
    ) {
        if self.capacity == 0 || now >= until {
            return;
        }
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&key) {
            self.entries.retain(|_, e| now < e.until);
            if self.entries.len() >= self.capacity {
                self.entries.clear();
            }
        }
        self.entries.insert(key, Entry { token, until });
    }

    /// Keeps only the tokens for which `keep` holds (used to drop every token signed by
    /// a key that left the JWKS).
    pub fn retain(&mut self, mut keep: impl FnMut(&VerifiedAccessToken) -> bool) {
        self.entries.retain(|_, e| keep(&e.token));
    }

    /// Forgets `key` (its key left the JWKS).
    pub fn remove(&mut self, key: &TokenKey) {
        self.entries.remove(key);
    }

    /// How many tokens are cached.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the cache is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
