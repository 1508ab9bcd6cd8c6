use serde::{Deserialize, Serialize};

use super::{Algorithm, b64url, b64url_decode};
use crate::json;

/// The longest compact JWS accepted (16 KiB). Anything longer is refused before any
/// decoding, so a huge header cannot cost memory or time.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Why a compact JWS could not be read. Deliberately coarse: the reason is for logs
/// and tests, never for the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwsError {
    /// Longer than [`MAX_TOKEN_BYTES`].
    TooLarge,
    /// Not three base64url segments, or a segment that does not decode.
    Malformed,
    /// The header is not a JSON object with a string `alg`.
    BadHeader,
    /// `alg` is `none`, HMAC or otherwise not implemented.
    UnsupportedAlgorithm,
    /// The header has a `crit` member (RFC 7515 section 4.1.11): no extension is understood.
    CriticalExtension,
}

impl std::fmt::Display for JwsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::TooLarge => "token too large",
            Self::Malformed => "token malformed",
            Self::BadHeader => "token header malformed",
            Self::UnsupportedAlgorithm => "token algorithm not supported",
            Self::CriticalExtension => "token header has critical extensions",
        })
    }
}

impl std::error::Error for JwsError {}

/// The protected header members Gatehouse reads or writes (RFC 7515 section 4.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwsHeader {
    /// Signature algorithm.
    pub alg: Algorithm,
    /// Media type of the whole token (`at+jwt` for access tokens, RFC 9068 section 2.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
    /// Key id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
}

/// The header members read when verifying; `crit` only for its presence.
struct RawHeader {
    alg: String,
    typ: Option<String>,
    kid: Option<String>,
    crit: bool,
}

impl json::Read for RawHeader {
    fn read(r: &mut json::Reader<'_>) -> json::Result<Self> {
        let (mut alg, mut typ, mut kid, mut crit) = (None, None, None, None);
        r.object(&mut |r, key| match key {
            "alg" => json::once(&mut alg, String::read(r)?),
            "typ" => json::once(&mut typ, Option::read(r)?),
            "kid" => json::once(&mut kid, Option::read(r)?),
            // Any value but null is a critical extension (none is understood).
            "crit" => {
                let present = !r.null()?;
                if present {
                    r.skip()?;
                }
                json::once(&mut crit, present)
            }
            _ => r.skip(),
        })?;
        Ok(Self {
            alg: alg.ok_or(json::Invalid)?,
            typ: typ.flatten(),
            kid: kid.flatten(),
            crit: crit.unwrap_or(false),
        })
    }
}

/// A parsed compact JWS whose signature has not been checked yet.
#[derive(Debug)]
pub struct CompactJws<'a> {
    /// The protected header.
    pub header: JwsHeader,
    signing_input: &'a str,
    /// The decoded payload.
    pub payload: Vec<u8>,
    /// The decoded signature.
    pub signature: Vec<u8>,
}

impl<'a> CompactJws<'a> {
    /// Splits and decodes a compact JWS (RFC 7515 section 7.1).
    ///
    /// # Errors
    ///
    /// [`JwsError`] for anything but three well-formed segments with a supported `alg`.
    pub fn parse(token: &'a str) -> Result<Self, JwsError> {
        let decoded = DecodedJws::decode(token)?;
        let alg = Algorithm::from_name(&decoded.alg).ok_or(JwsError::UnsupportedAlgorithm)?;
        Ok(Self {
            header: JwsHeader { alg, typ: decoded.typ, kid: decoded.kid },
            signing_input: decoded.signing_input,
            payload: decoded.payload,
            signature: decoded.signature,
        })
    }

    /// `BASE64URL(header) || '.' || BASE64URL(payload)`, the bytes the signature covers.
    #[must_use]
    pub fn signing_input(&self) -> &'a [u8] {
        self.signing_input.as_bytes()
    }
}

/// A compact JWS split and decoded, with its header's `alg` not yet judged: the one
/// place tokens are taken apart, for [`CompactJws`] and for client assertions (which
/// may be HMAC-signed, RFC 7523).
#[derive(Debug)]
pub(crate) struct DecodedJws<'a> {
    pub(crate) alg: String,
    pub(crate) typ: Option<String>,
    pub(crate) kid: Option<String>,
    pub(crate) signing_input: &'a str,
    pub(crate) payload: Vec<u8>,
    pub(crate) signature: Vec<u8>,
}

impl<'a> DecodedJws<'a> {
    /// Everything [`CompactJws::parse`] checks except whether `alg` is supported.
    pub(crate) fn decode(token: &'a str) -> Result<Self, JwsError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(JwsError::TooLarge);
        }
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwsError::Malformed);
        };
        let header_bytes = b64url_decode(h).map_err(|_| JwsError::Malformed)?;
        let payload = b64url_decode(p).map_err(|_| JwsError::Malformed)?;
        let signature = b64url_decode(s).map_err(|_| JwsError::Malformed)?;
        let raw: RawHeader = json::from_slice(&header_bytes).map_err(|_| JwsError::BadHeader)?;
        if raw.crit {
            return Err(JwsError::CriticalExtension);
        }
        let signing_input = token.get(..h.len() + 1 + p.len()).ok_or(JwsError::Malformed)?;
        Ok(Self { alg: raw.alg, typ: raw.typ, kid: raw.kid, signing_input, payload, signature })
    }
}

/// The signing input for `header` and `claims`, ready for a signer.
///
/// # Errors
///
/// A serialization error, which cannot happen for plain claim structs.
pub fn signing_input<C: Serialize>(
    header: &JwsHeader,
    claims: &C,
) -> Result<String, serde_json::Error> {
    let header = serde_json::to_vec(header)?;
    let payload = serde_json::to_vec(claims)?;
    Ok(format!("{}.{}", b64url(&header), b64url(&payload)))
}

/// Appends the signature to a signing input, completing the compact form.
#[must_use]
pub fn encode_compact(signing_input: &str, signature: &[u8]) -> String {
    format!("{signing_input}.{}", b64url(signature))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::testing::document;

    /// The header as serde read it: the reader must agree.
    #[derive(Deserialize)]
    struct SerdeHeader {
        alg: String,
        #[serde(default)]
        typ: Option<String>,
        #[serde(default)]
        kid: Option<String>,
        #[serde(default)]
        crit: Option<serde::de::IgnoredAny>,
    }

    fn header_values(key: &str) -> Vec<&'static str> {
        match key {
            "alg" => vec!["\"ES256\"", "\"none\""],
            "crit" => vec!["[\"exp\"]", "[]", "null", "{}"],
            _ => vec!["\"JWT\"", "\"k1\"", "null"],
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        #[test]
        fn headers_read_as_serde_read_them(
            doc in document(&["alg", "typ", "kid", "crit"], header_values, &["\"alg\":\"ES256\""])
        ) {
            let ours = json::from_slice::<RawHeader>(&doc).ok().map(|h| (h.alg, h.typ, h.kid, h.crit));
            // Before, a header had to start with `{` (serde also reads arrays).
            let object = doc.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
            let serde = serde_json::from_slice::<SerdeHeader>(&doc)
                .ok()
                .filter(|_| object)
                .map(|h| (h.alg, h.typ, h.kid, h.crit.is_some()));
            proptest::prop_assert_eq!(ours, serde);
        }
    }

    fn token(header: &str, payload: &str, sig: &[u8]) -> String {
        format!("{}.{}.{}", b64url(header.as_bytes()), b64url(payload.as_bytes()), b64url(sig))
    }

    #[test]
    fn parses_a_well_formed_token() {
        let t = token(r#"{"alg":"ES256","typ":"at+jwt","kid":"k"}"#, "{}", &[1, 2]);
        let jws = CompactJws::parse(&t).unwrap();
        assert_eq!(jws.header.alg, Algorithm::ES256);
        assert_eq!(jws.header.typ.as_deref(), Some("at+jwt"));
        assert_eq!(jws.signature, vec![1, 2]);
        assert!(t.starts_with(std::str::from_utf8(jws.signing_input()).unwrap()));
    }

    #[test]
    fn refuses_none_and_hmac() {
        for alg in ["none", "HS256", "None", "es256"] {
            let t = token(&format!(r#"{{"alg":"{alg}"}}"#), "{}", &[]);
            assert_eq!(CompactJws::parse(&t).unwrap_err(), JwsError::UnsupportedAlgorithm, "{alg}");
        }
    }

    #[test]
    fn refuses_bad_shapes() {
        let good = token(r#"{"alg":"ES256"}"#, "{}", &[1]);
        assert_eq!(CompactJws::parse(&format!("{good}.x")).unwrap_err(), JwsError::Malformed);
        assert_eq!(CompactJws::parse("a.b").unwrap_err(), JwsError::Malformed);
        assert_eq!(CompactJws::parse(&good.replace('.', "=.")).unwrap_err(), JwsError::Malformed);
        assert_eq!(
            CompactJws::parse(&"a".repeat(MAX_TOKEN_BYTES + 1)).unwrap_err(),
            JwsError::TooLarge
        );
        let crit = token(r#"{"alg":"ES256","crit":["x"]}"#, "{}", &[1]);
        assert_eq!(CompactJws::parse(&crit).unwrap_err(), JwsError::CriticalExtension);
        let not_object = token(r#"["ES256"]"#, "{}", &[1]);
        assert_eq!(CompactJws::parse(&not_object).unwrap_err(), JwsError::BadHeader);
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,200}") {
            let _ = CompactJws::parse(&s);
        }
    }
}
