//! Strict `application/x-www-form-urlencoded` parsing (RFC 6749 appendix B).
//!
//! OAuth parameters "MUST NOT be included more than once" (RFC 6749 section 3.1),
//! so a repeated name is an error rather than a silent first-or-last pick. The body
//! must be UTF-8 after percent-decoding, and parameters sent without a value are
//! treated as omitted (RFC 6749 section 3.1).

use std::collections::BTreeMap;

use http::{HeaderMap, header};

use super::{FORM_URLENCODED, MAX_BODY_BYTES};

/// Why a form body was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormError {
    /// The `Content-Type` is missing or not `application/x-www-form-urlencoded`.
    ContentType,
    /// The body exceeds [`MAX_BODY_BYTES`].
    TooLarge,
    /// The body (or a percent-decoded parameter) is not UTF-8.
    NotUtf8,
    /// A parameter name appears more than once.
    Duplicate(String),
}

/// A parsed form: each name at most once, empty values dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form {
    params: BTreeMap<String, String>,
}

impl Form {
    /// The value of `name`, if present and not empty.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// Whether `name` was sent with a value.
    #[must_use]
    pub fn contains(&self, name: &str) -> bool {
        self.params.contains_key(name)
    }
}

/// Checks the content type and parses `body` as a strict form.
///
/// # Errors
///
/// [`FormError`] names the first problem found.
pub fn parse_form(headers: &HeaderMap, body: &[u8]) -> Result<Form, FormError> {
    if !is_form_content_type(headers) {
        return Err(FormError::ContentType);
    }
    if body.len() > MAX_BODY_BYTES {
        return Err(FormError::TooLarge);
    }
    let text = std::str::from_utf8(body).map_err(|_| FormError::NotUtf8)?;
    parse_pairs(text)
}

/// Parses a URL query (the part after `?`) with the same strict rules as a form.
///
/// # Errors
///
/// [`FormError`] names the first problem found.
pub fn parse_query(query: &str) -> Result<Form, FormError> {
    if query.len() > MAX_BODY_BYTES {
        return Err(FormError::TooLarge);
    }
    parse_pairs(query)
}

fn parse_pairs(text: &str) -> Result<Form, FormError> {
    let mut params = BTreeMap::new();
    let mut seen = std::collections::BTreeSet::new();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (raw_name, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = decode(raw_name)?;
        let value = decode(raw_value)?;
        if !seen.insert(name.clone()) {
            return Err(FormError::Duplicate(name));
        }
        if !value.is_empty() {
            params.insert(name, value);
        }
    }
    Ok(Form { params })
}

/// Encodes one form or query component (`application/x-www-form-urlencoded`): every
/// byte but the unreserved characters of RFC 3986 percent-encoded. A loop rather
/// than `percent_encoding`'s encoder, whose table and `Display` would add a
/// kilobyte to the browser package.
#[must_use]
pub fn encode(value: &str) -> String {
    fn hex(nibble: u8) -> char {
        char::from(if nibble < 10 { b'0' + nibble } else { b'A' + nibble - 10 })
    }
    let mut out = String::with_capacity(value.len());
    for &byte in value.as_bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(hex(byte >> 4));
            out.push(hex(byte & 0xf));
        }
    }
    out
}

/// `name=value&...`, each component encoded.
#[must_use]
pub fn encode_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::new();
    for (name, value) in pairs {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(&encode(name));
        out.push('=');
        out.push_str(&encode(value));
    }
    out
}

/// Percent-decodes one form component ('+' is a space), refusing non-UTF-8 results.
/// A '%' not followed by two hex digits stays literal, as browsers send it.
pub(crate) fn decode(raw: &str) -> Result<String, FormError> {
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map(std::borrow::Cow::into_owned)
        .map_err(|_| FormError::NotUtf8)
}

fn is_form_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case(FORM_URLENCODED)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn encode_matches_percent_encoding_with_the_unreserved_set() {
        const SET: &percent_encoding::AsciiSet =
            &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');
        let every_ascii: String = (0u8..=127).map(char::from).collect();
        for value in
            [every_ascii.as_str(), "", "a b+c&d=e", "ü€😀", "%41", "https://x.example/cb?a=1"]
        {
            assert_eq!(
                encode(value),
                percent_encoding::utf8_percent_encode(value, SET).to_string()
            );
        }
    }

    fn form_headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(FORM_URLENCODED));
        headers
    }

    #[test]
    fn parses_and_decodes() {
        let form =
            parse_form(&form_headers(), b"grant_type=client_credentials&scope=a+b%3Ac").unwrap();
        assert_eq!(form.get("grant_type"), Some("client_credentials"));
        assert_eq!(form.get("scope"), Some("a b:c"));
    }

    #[test]
    fn content_type_with_charset_is_accepted() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("Application/X-WWW-Form-Urlencoded; charset=UTF-8"),
        );
        assert!(parse_form(&headers, b"a=b").is_ok());
    }

    #[test]
    fn refuses_other_content_types() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        assert_eq!(parse_form(&headers, b"{}"), Err(FormError::ContentType));
        assert_eq!(parse_form(&HeaderMap::new(), b"a=b"), Err(FormError::ContentType));
    }

    #[test]
    fn refuses_duplicates_even_when_empty() {
        let err = parse_form(&form_headers(), b"scope=a&scope=").unwrap_err();
        assert_eq!(err, FormError::Duplicate("scope".into()));
    }

    #[test]
    fn empty_values_are_omitted() {
        let form = parse_form(&form_headers(), b"scope=&grant_type=x").unwrap();
        assert!(!form.contains("scope"));
    }

    #[test]
    fn refuses_non_utf8_raw_and_encoded() {
        assert_eq!(parse_form(&form_headers(), b"a=\xff"), Err(FormError::NotUtf8));
        assert_eq!(parse_form(&form_headers(), b"a=%ff"), Err(FormError::NotUtf8));
    }

    #[test]
    fn refuses_oversized_bodies() {
        let body = vec![b'a'; MAX_BODY_BYTES + 1];
        assert_eq!(parse_form(&form_headers(), &body), Err(FormError::TooLarge));
    }

    #[test]
    fn stray_percent_is_literal() {
        let form = parse_form(&form_headers(), b"a=100%&b=%zz").unwrap();
        assert_eq!(form.get("a"), Some("100%"));
        assert_eq!(form.get("b"), Some("%zz"));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(body in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let _ = parse_form(&form_headers(), &body);
        }

        #[test]
        fn round_trips_encoded_pairs(name in "[a-z_]{1,12}", value in "\\PC{1,40}") {
            let body: String = form_urlencoded::Serializer::new(String::new())
                .append_pair(&name, &value)
                .finish();
            let form = parse_form(&form_headers(), body.as_bytes()).unwrap();
            proptest::prop_assert_eq!(form.get(&name), Some(value.as_str()));
        }
    }
}
