//! The one reader of bearer tokens (RFC 6750 section 2.1), shared by the management
//! API, the gateway and (with the flows) userinfo: scheme `Bearer` in any case, one
//! or more spaces, then a `b64token` and nothing else. Any other scheme counts as no
//! token, so the caller can answer with its challenge.

use http::{HeaderMap, header};

/// What an `Authorization` header holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bearer<'a> {
    /// No header, or another scheme.
    Missing,
    /// The `Bearer` scheme with no token, or something that is not one `b64token`
    /// (two tokens, a comma, a character outside the grammar, too long), or several
    /// `Authorization` headers.
    Malformed,
    /// The token.
    Token(&'a str),
}

/// The bearer token of one `Authorization` header value.
#[must_use]
pub fn parse(value: Option<&str>) -> Bearer<'_> {
    let Some(value) = value else { return Bearer::Missing };
    let Some((scheme, rest)) = value.split_once(' ') else {
        return if value.eq_ignore_ascii_case("bearer") {
            Bearer::Malformed
        } else {
            Bearer::Missing
        };
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Bearer::Missing;
    }
    let token = rest.trim_start_matches(' ');
    let b64token = |c: u8| c.is_ascii_alphanumeric() || b"-._~+/".contains(&c);
    let body = token.trim_end_matches('=');
    if body.is_empty() || !body.bytes().all(b64token) || token.len() > crate::jose::MAX_TOKEN_BYTES
    {
        return Bearer::Malformed;
    }
    Bearer::Token(token)
}

/// The bearer token of a request's headers: exactly one `Authorization` header,
/// readable as text.
#[must_use]
pub fn from_headers(headers: &HeaderMap) -> Bearer<'_> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    match (values.next(), values.next()) {
        (None, _) => Bearer::Missing,
        (Some(value), None) => value.to_str().map_or(Bearer::Malformed, |v| parse(Some(v))),
        (Some(_), Some(_)) => Bearer::Malformed,
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn only_one_b64token_after_the_scheme_is_a_token() {
        assert_eq!(parse(None), Bearer::Missing);
        assert_eq!(parse(Some("Basic abc")), Bearer::Missing);
        assert_eq!(parse(Some("Bearer")), Bearer::Malformed);
        assert_eq!(parse(Some("Bearer ")), Bearer::Malformed);
        assert_eq!(parse(Some("Bearer a b")), Bearer::Malformed);
        assert_eq!(parse(Some("Bearer a, Bearer b")), Bearer::Malformed);
        assert_eq!(parse(Some("Bearer a\u{e9}")), Bearer::Malformed);
        assert_eq!(parse(Some("bearer abc.def.ghi")), Bearer::Token("abc.def.ghi"));
        assert_eq!(parse(Some("Bearer  abc==")), Bearer::Token("abc=="));
        let long = format!("Bearer {}", "a".repeat(crate::jose::MAX_TOKEN_BYTES + 1));
        assert_eq!(parse(Some(&long)), Bearer::Malformed);
    }

    #[test]
    fn two_authorization_headers_are_malformed() {
        let mut headers = HeaderMap::new();
        assert_eq!(from_headers(&headers), Bearer::Missing);
        headers.append(header::AUTHORIZATION, HeaderValue::from_static("Bearer abc"));
        assert_eq!(from_headers(&headers), Bearer::Token("abc"));
        headers.append(header::AUTHORIZATION, HeaderValue::from_static("Bearer def"));
        assert_eq!(from_headers(&headers), Bearer::Malformed);
    }
}
