//! A user's second factor: the TOTP secret, sealed under the key-encryption key
//! like the private signing keys (bound to the user, so a record copied to another
//! user does not open), and the digests of the recovery codes not used yet.
//!
//! The record lives in the strong sessions store ([`crate::store::schema::second_factor`]),
//! not in the directory: an enrolment or an administrator's reset takes effect at
//! once everywhere, which a directory write (up to ~60 s to propagate) would not.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::jose::KeyId;
use crate::keys::Kek;
use crate::totp::TotpSecret;
use crate::types::UnixTime;

/// How long a second factor is kept after its last use or enrolment: 10 years.
pub const FACTOR_SECS: u64 = 10 * 365 * 86_400;

/// An enrolled second factor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecondFactor {
    /// `base64url(nonce ‖ AES-256-GCM(secret))`, the user id bound as associated data.
    pub secret_sealed: String,
    /// When the user confirmed the enrolment.
    pub enrolled_at: UnixTime,
    /// When a code last signed the user in.
    #[serde(default)]
    pub last_used_at: Option<UnixTime>,
    /// The digests of the recovery codes not used yet ([`crate::totp::recovery_digest`]).
    pub recovery: Vec<String>,
}

/// The associated data binding a sealed secret to its user.
fn seal_id(user_id: &str) -> KeyId {
    KeyId::new(format!("gatehouse totp v1 {user_id}"))
}

impl SecondFactor {
    /// A factor enrolled at `now` with `secret` and the recovery codes' digests.
    /// `None` if sealing fails.
    pub fn enrol(
        kek: &Kek,
        user_id: &str,
        secret: &TotpSecret,
        recovery: Vec<String>,
        now: UnixTime,
        rng: &mut dyn rand_core::CryptoRngCore,
    ) -> Option<Self> {
        let secret_sealed = kek.seal(&seal_id(user_id), secret.expose(), rng).ok()?;
        Some(Self { secret_sealed, enrolled_at: now, last_used_at: None, recovery })
    }

    /// The secret, unsealed; `None` if it does not open (another key, another user).
    #[must_use]
    pub fn secret(&self, kek: &Kek, user_id: &str) -> Option<TotpSecret> {
        kek.open(&seal_id(user_id), &self.secret_sealed).ok().map(TotpSecret::from_bytes)
    }

    /// Seals a secret that is still being enrolled, for the enrolment form.
    pub fn seal_pending(
        kek: &Kek,
        user_id: &str,
        secret: &TotpSecret,
        rng: &mut dyn rand_core::CryptoRngCore,
    ) -> Option<String> {
        kek.seal(
            &KeyId::new(format!("gatehouse totp enrolment v1 {user_id}")),
            secret.expose(),
            rng,
        )
        .ok()
    }

    /// Opens what [`Self::seal_pending`] sealed for `user_id`.
    #[must_use]
    pub fn open_pending(kek: &Kek, user_id: &str, sealed: &str) -> Option<TotpSecret> {
        kek.open(&KeyId::new(format!("gatehouse totp enrolment v1 {user_id}")), sealed)
            .ok()
            .map(TotpSecret::from_bytes)
    }

    /// The management API's view of a user's enrolment (`mfa` of a user).
    #[must_use]
    pub fn status(factor: Option<&Self>) -> Value {
        match factor {
            Some(f) => json!({
                "enrolled": true,
                "enrolled_at": f.enrolled_at,
                "last_used_at": f.last_used_at,
                "recovery_codes_left": f.recovery.len(),
            }),
            None => json!({ "enrolled": false }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::CountingRng;

    #[test]
    fn the_secret_is_sealed_and_bound_to_its_user() {
        let kek = Kek::derive(&[7u8; 32]).unwrap();
        let mut rng = CountingRng(0);
        let secret = TotpSecret::generate(&mut rng);
        let factor =
            SecondFactor::enrol(&kek, "u1", &secret, Vec::new(), UnixTime::from_secs(1), &mut rng)
                .unwrap();
        let json = serde_json::to_string(&factor).unwrap();
        assert!(!json.contains(&secret.base32()));
        assert_eq!(factor.secret(&kek, "u1").unwrap().expose(), secret.expose());
        assert!(factor.secret(&kek, "u2").is_none());
        let pending = SecondFactor::seal_pending(&kek, "u1", &secret, &mut rng).unwrap();
        assert!(SecondFactor::open_pending(&kek, "u2", &pending).is_none());
        assert!(SecondFactor::open_pending(&kek, "u1", &factor.secret_sealed).is_none());
        assert_eq!(
            SecondFactor::open_pending(&kek, "u1", &pending).unwrap().expose(),
            secret.expose()
        );
    }
}
