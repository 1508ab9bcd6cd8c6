//! Byte fields of the strong store's records and calls, as base64url text.
//!
//! `serde` writes a `Vec<u8>` or a `[u8; 32]` as a JSON array of numbers, about four
//! characters per byte, each number parsed again on the way back: on the Durable
//! Object's path (a call, its storage read and write, its reply) that was a fifth of
//! a refresh token rotation's CPU. These fields are written as base64url text (one
//! JSON string, 1.33 characters per byte). Records stored before are arrays of
//! numbers; reading accepts both, so nothing stored has to be rewritten.
//!
//! Use with `#[serde(with = "…")]`: [`self`] for `Vec<u8>`, [`digest`] for
//! `[u8; 32]`, [`digests`] for `Vec<[u8; 32]>` and [`optional`] for
//! `Option<Vec<u8>>`.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserializer, Serializer};

/// base64url without padding. The `base64` crate's engine, not the constant-time
/// `base64ct` of [`crate::jose::b64url`]: these bytes are records, not keys, and
/// every refresh rotation reads and writes a whole grant.
fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Writes `bytes` as base64url text.
///
/// # Errors
///
/// The serializer's.
#[allow(clippy::ptr_arg)] // the signature `serde(with)` asks for
pub fn serialize<S: Serializer>(bytes: &Vec<u8>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&b64url(bytes))
}

/// Reads base64url text, or an array of numbers as written before.
///
/// # Errors
///
/// Anything else, or text that is not base64url.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
    deserializer.deserialize_any(BytesVisitor)
}

struct BytesVisitor;

impl<'de> Visitor<'de> for BytesVisitor {
    type Value = Vec<u8>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("base64url text or an array of bytes")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Vec<u8>, E> {
        URL_SAFE_NO_PAD.decode(text).map_err(|_| E::custom("bytes are not base64url"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(byte) = seq.next_element::<u8>()? {
            out.push(byte);
        }
        Ok(out)
    }
}

/// `[u8; 32]` (a token digest) as base64url text.
pub mod digest {
    use serde::{Deserializer, Serializer, de};

    /// Writes the digest as base64url text.
    ///
    /// # Errors
    ///
    /// The serializer's.
    pub fn serialize<S: Serializer>(digest: &[u8; 32], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::b64url(digest))
    }

    /// Reads a digest written either way; anything but 32 bytes is refused.
    ///
    /// # Errors
    ///
    /// Not bytes, or not 32 of them.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<[u8; 32], D::Error> {
        let bytes = super::deserialize(deserializer)?;
        <[u8; 32]>::try_from(bytes.as_slice())
            .map_err(|_| de::Error::custom("a digest is 32 bytes"))
    }
}

/// `Vec<[u8; 32]>` (digests) as a list of base64url texts.
pub mod digests {
    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serializer};

    #[derive(Deserialize)]
    struct Digest(#[serde(with = "super::digest")] [u8; 32]);

    /// Writes each digest as base64url text.
    ///
    /// # Errors
    ///
    /// The serializer's.
    pub fn serialize<S: Serializer>(
        digests: &[[u8; 32]],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(digests.len()))?;
        for digest in digests {
            seq.serialize_element(&super::b64url(digest))?;
        }
        seq.end()
    }

    /// Reads a list of digests, each written either way.
    ///
    /// # Errors
    ///
    /// Not a list of 32-byte digests.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<[u8; 32]>, D::Error> {
        Ok(Vec::<Digest>::deserialize(deserializer)?.into_iter().map(|d| d.0).collect())
    }
}

/// `Option<Vec<u8>>` as base64url text or `null`.
pub mod optional {
    use serde::{Deserialize, Deserializer, Serializer};

    #[derive(Deserialize)]
    struct Bytes(#[serde(with = "super")] Vec<u8>);

    /// Writes the bytes as base64url text, or `null`.
    ///
    /// # Errors
    ///
    /// The serializer's.
    #[allow(clippy::ref_option)] // the signature `serde(with)` asks for
    pub fn serialize<S: Serializer>(
        bytes: &Option<Vec<u8>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(bytes) => serializer.serialize_str(&super::b64url(bytes)),
            None => serializer.serialize_none(),
        }
    }

    /// Reads `null`, or bytes written either way.
    ///
    /// # Errors
    ///
    /// Anything else.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        Ok(Option::<Bytes>::deserialize(deserializer)?.map(|b| b.0))
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Record {
        #[serde(with = "super")]
        data: Vec<u8>,
        #[serde(with = "super::digest")]
        current: [u8; 32],
        #[serde(with = "super::digests")]
        retired: Vec<[u8; 32]>,
        #[serde(with = "super::optional")]
        maybe: Option<Vec<u8>>,
    }

    fn record() -> Record {
        Record {
            data: b"{\"sub\":\"u1\"}".to_vec(),
            current: [7; 32],
            retired: vec![[1; 32], [2; 32]],
            maybe: Some(vec![0, 255]),
        }
    }

    #[test]
    fn bytes_are_written_as_base64url_text() {
        let text = serde_json::to_string(&record()).unwrap();
        assert!(text.starts_with(r#"{"data":"eyJzdWIiOiJ1MSJ9","current":"BwcH"#), "{text}");
        assert!(text.ends_with(r#""maybe":"AP8"}"#), "{text}");
        assert_eq!(serde_json::from_str::<Record>(&text).unwrap(), record());
        let none = Record { maybe: None, ..record() };
        let text = serde_json::to_string(&none).unwrap();
        assert!(text.ends_with(r#""maybe":null}"#), "{text}");
        assert_eq!(serde_json::from_str::<Record>(&text).unwrap(), none);
    }

    #[test]
    fn records_written_as_arrays_of_numbers_still_read() {
        #[derive(Serialize)]
        struct Before {
            data: Vec<u8>,
            current: [u8; 32],
            retired: Vec<[u8; 32]>,
            maybe: Option<Vec<u8>>,
        }
        let r = record();
        let before =
            Before { data: r.data, current: r.current, retired: r.retired, maybe: r.maybe };
        let text = serde_json::to_string(&before).unwrap();
        assert!(text.starts_with(r#"{"data":[123,34,"#), "{text}");
        assert_eq!(serde_json::from_str::<Record>(&text).unwrap(), record());
    }

    #[test]
    fn malformed_bytes_are_refused() {
        let good = serde_json::to_value(record()).unwrap();
        for (field, bad) in [
            ("data", serde_json::json!("not base64url!")),
            ("data", serde_json::json!([1, 256])),
            ("data", serde_json::json!(12)),
            ("current", serde_json::json!("AAAA")),
            ("current", serde_json::json!([1, 2, 3])),
            ("retired", serde_json::json!(["AAAA"])),
            ("maybe", serde_json::json!({})),
        ] {
            let mut value = good.clone();
            value[field] = bad.clone();
            assert!(serde_json::from_value::<Record>(value).is_err(), "{field}: {bad}");
        }
    }
}
