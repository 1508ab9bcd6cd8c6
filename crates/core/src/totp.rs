//! Time-based one-time passwords, the second sign-in factor: TOTP (RFC 6238) over
//! HOTP (RFC 4226) with HMAC-SHA1, 6 digits and 30-second steps (what authenticator
//! apps implement), secrets in base32 (RFC 4648 section 6) inside an `otpauth://`
//! URI for the enrolment QR code, and the one-time recovery codes.
//!
//! Everything here is pure; where a secret is kept (sealed), which steps were used
//! and how failures are counted is the sign-in flow's business.
//!
//! # Security
//!
//! A code is compared in constant time with each step of the window (the previous,
//! the current and the next), and every step is computed, so the time taken does
//! not tell which step matched. Recovery codes carry 50 random bits and are kept only
//! as keyed digests (HMAC-SHA256 under a key derived from the worker secret).

use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use rand_core::CryptoRngCore;
use subtle::ConstantTimeEq;

use crate::jose::b64url;
use crate::keys::MacKey;
use crate::types::{SecretBytes, UnixTime};

/// The length of a fresh secret, in bytes: 160 bits (RFC 4226 section 4, R6).
pub const SECRET_BYTES: usize = 20;
/// The digits of a code.
pub const DIGITS: u32 = 6;
/// The time step, in seconds (RFC 6238 section 5.2).
pub const STEP_SECS: u64 = 30;
/// How many recovery codes an enrolment gives.
pub const RECOVERY_CODES: usize = 10;

/// The RFC 4648 base32 alphabet.
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// The base32 character of the low 5 bits of `value`.
fn base32_char(value: u32) -> char {
    char::from(BASE32.get((value & 31) as usize).copied().unwrap_or(b'A'))
}

/// A TOTP secret: redacted in `Debug`, never `Clone`.
#[derive(Debug)]
pub struct TotpSecret(SecretBytes);

impl TotpSecret {
    /// A fresh random secret of [`SECRET_BYTES`].
    pub fn generate(rng: &mut dyn CryptoRngCore) -> Self {
        let mut bytes = vec![0u8; SECRET_BYTES];
        rng.fill_bytes(&mut bytes);
        Self(SecretBytes::new(bytes))
    }

    /// A secret from its bytes (as unsealed).
    #[must_use]
    pub fn from_bytes(bytes: SecretBytes) -> Self {
        Self(bytes)
    }

    /// The secret's bytes, for sealing.
    #[must_use]
    pub fn expose(&self) -> &[u8] {
        self.0.expose()
    }

    /// The secret in base32 without padding, as people type it and `otpauth` URIs
    /// carry it.
    #[must_use]
    pub fn base32(&self) -> String {
        base32_encode(self.0.expose())
    }

    /// The code of time step `step`.
    #[must_use]
    pub fn code_at(&self, step: u64) -> u32 {
        hotp(self.0.expose(), step, DIGITS)
    }

    /// The step a code entered at `now` matches: the current one or its neighbour
    /// on either side (clock drift and typing time). `None` for a wrong code or one
    /// that is not 6 digits.
    #[must_use]
    pub fn verify(&self, code: &str, now: UnixTime) -> Option<u64> {
        let entered = parse_code(code)?;
        let current = now.as_secs() / STEP_SECS;
        let mut matched = None;
        for step in [current.saturating_sub(1), current, current.saturating_add(1)] {
            let expected = self.code_at(step);
            if bool::from(expected.to_be_bytes().ct_eq(&entered.to_be_bytes())) {
                matched = matched.or(Some(step));
            }
        }
        matched
    }
}

/// A code as typed: 6 digits, spaces allowed between them.
fn parse_code(code: &str) -> Option<u32> {
    let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if digits.len() != DIGITS as usize || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Whether `input` looks like a TOTP code (6 digits) rather than a recovery code.
#[must_use]
pub fn is_code(input: &str) -> bool {
    parse_code(input).is_some()
}

/// HOTP (RFC 4226 section 5.3): HMAC-SHA1 of the counter, dynamically truncated to
/// `digits` decimal digits.
#[must_use]
pub fn hotp(key: &[u8], counter: u64, digits: u32) -> u32 {
    // HMAC accepts a key of any length.
    let Ok(mut mac) = Hmac::<sha1::Sha1>::new_from_slice(key) else { return 0 };
    mac.update(&counter.to_be_bytes());
    let hash = mac.finalize().into_bytes();
    let offset = usize::from(hash.get(19).copied().unwrap_or_default() & 0x0f);
    let mut word = [0u8; 4];
    for (i, byte) in word.iter_mut().enumerate() {
        *byte = hash.get(offset + i).copied().unwrap_or_default();
    }
    let binary = u32::from_be_bytes(word) & 0x7fff_ffff;
    binary % 10_u32.pow(digits)
}

/// Base32 (RFC 4648 section 6) without padding.
#[must_use]
pub fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0_u32, 0_u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(base32_char(buffer >> bits));
        }
    }
    if bits > 0 {
        out.push(base32_char(buffer << (5 - bits)));
    }
    out
}

/// Base32 (RFC 4648 section 6), any case, padding and spaces ignored; `None` on a
/// character outside the alphabet.
#[must_use]
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut buffer, mut bits) = (0_u32, 0_u32);
    for c in text.bytes().filter(|c| !matches!(c, b'=' | b' ')) {
        let upper = c.to_ascii_uppercase();
        let value = BASE32.iter().position(|&a| a == upper)?;
        buffer = (buffer << 5) | u32::try_from(value).ok()?;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((buffer >> bits) & 0xff).ok()?);
        }
    }
    Some(out)
}

/// What `otpauth` labels and parameters must escape: everything but letters,
/// digits and `-._~`.
const URI_TEXT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// The `otpauth://totp/` URI authenticator apps read from the QR code: the label
/// `issuer:account`, the secret, and the algorithm, digits and period spelled out.
#[must_use]
pub fn otpauth_uri(issuer: &str, account: &str, secret: &TotpSecret) -> String {
    let issuer = utf8_percent_encode(issuer, URI_TEXT).to_string();
    let account = utf8_percent_encode(account, URI_TEXT);
    format!(
        "otpauth://totp/{issuer}:{account}?secret={}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        secret.base32()
    )
}

/// A fresh recovery code: 10 base32 characters (50 bits), shown as `xxxxx-xxxxx`.
pub fn recovery_code(rng: &mut dyn CryptoRngCore) -> String {
    let mut bytes = [0u8; 10];
    rng.fill_bytes(&mut bytes);
    let chars: String =
        bytes.iter().map(|b| base32_char(u32::from(*b)).to_ascii_lowercase()).collect();
    let (first, second) = chars.split_at(5);
    format!("{first}-{second}")
}

/// The stored form of `user`'s recovery code: base64url HMAC-SHA256, under a key
/// derived from the worker secret, of the user id and the code's characters
/// (upper-cased, dashes and spaces removed). Keyed, so that a copy of the store
/// cannot be searched for the codes' 50 bits; `None` for input that is not 10
/// base32 characters.
#[must_use]
pub fn recovery_digest(key: &MacKey, user: &str, code: &str) -> Option<String> {
    let normalized: String =
        code.chars().filter(|c| !matches!(c, '-' | ' ')).map(|c| c.to_ascii_uppercase()).collect();
    if normalized.len() != 10 || !normalized.bytes().all(|b| BASE32.contains(&b)) {
        return None;
    }
    let input = [user.as_bytes(), b"\0", normalized.as_bytes()].concat();
    Some(b64url(&key.mac(&input)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::CountingRng;

    /// RFC 6238 Appendix B, the SHA-1 rows: the 20-byte ASCII seed, 8 digits.
    #[test]
    fn rfc_6238_appendix_b_sha1() {
        let seed = b"12345678901234567890";
        for (time, expected) in [
            (59_u64, 94_287_082_u32),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
            (20_000_000_000, 65_353_130),
        ] {
            assert_eq!(hotp(seed, time / STEP_SECS, 8), expected, "T = {time}");
        }
    }

    /// RFC 4226 Appendix D: the 6-digit HOTP values of counters 0 to 9.
    #[test]
    fn rfc_4226_appendix_d() {
        let expected = [
            755_224, 287_082, 359_152, 969_429, 338_314, 254_676, 287_922, 162_583, 399_871,
            520_489,
        ];
        for (counter, code) in expected.iter().enumerate() {
            assert_eq!(hotp(b"12345678901234567890", counter as u64, 6), *code);
        }
    }

    /// RFC 4648 section 10 (without padding).
    #[test]
    fn base32_test_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32_encode(plain.as_bytes()), encoded);
            assert_eq!(base32_decode(encoded).unwrap(), plain.as_bytes());
        }
        assert_eq!(base32_decode("mzxw6ytboi======").unwrap(), b"foobar");
        assert_eq!(base32_decode("MZXW1"), None);
    }

    #[test]
    fn a_code_matches_its_step_and_the_neighbours_only() {
        let secret = TotpSecret::from_bytes(SecretBytes::new(b"12345678901234567890".to_vec()));
        let now = UnixTime::from_secs(1_111_111_109);
        let step = now.as_secs() / STEP_SECS;
        let code = |s: u64| format!("{:06}", secret.code_at(s));
        assert_eq!(secret.verify(&code(step), now), Some(step));
        assert_eq!(secret.verify(&code(step - 1), now), Some(step - 1));
        assert_eq!(secret.verify(&code(step + 1), now), Some(step + 1));
        assert_eq!(secret.verify(&code(step - 2), now), None);
        assert_eq!(secret.verify(&code(step + 2), now), None);
        let spaced = format!("{} {}", &code(step)[..3], &code(step)[3..]);
        assert_eq!(secret.verify(&spaced, now), Some(step));
        assert_eq!(secret.verify("12345", now), None);
        assert_eq!(secret.verify("12345a", now), None);
    }

    #[test]
    fn otpauth_uri_names_issuer_account_and_parameters() {
        let secret = TotpSecret::from_bytes(SecretBytes::new(b"12345678901234567890".to_vec()));
        assert_eq!(
            otpauth_uri("Gatehouse Demo", "ada@example.com", &secret),
            "otpauth://totp/Gatehouse%20Demo:ada%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=Gatehouse%20Demo&algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn secrets_are_160_bits() {
        let secret = TotpSecret::generate(&mut CountingRng(0));
        assert_eq!(secret.expose().len(), 20);
        assert_eq!(secret.base32().len(), 32);
        assert_eq!(format!("{secret:?}"), "TotpSecret(SecretBytes(..))");
    }

    #[test]
    fn recovery_codes_are_normalized_before_hashing() {
        let code = recovery_code(&mut CountingRng(0));
        assert_eq!(code.len(), 11);
        let key = MacKey::derive(&[7u8; 32], "gatehouse recovery codes v1").unwrap();
        let digest = recovery_digest(&key, "u1", &code).unwrap();
        let spelled = code.to_uppercase().replace('-', " ");
        assert_eq!(recovery_digest(&key, "u1", &spelled), Some(digest.clone()));
        // Bound to the user and to the key.
        assert_ne!(recovery_digest(&key, "u2", &code), Some(digest.clone()));
        let other = MacKey::derive(&[8u8; 32], "gatehouse recovery codes v1").unwrap();
        assert_ne!(recovery_digest(&other, "u1", &code), Some(digest));
        assert_eq!(recovery_digest(&key, "u1", "abc"), None);
        assert_eq!(recovery_digest(&key, "u1", "0000000000"), None);
        assert!(is_code("123 456") && !is_code(&code));
    }
}
