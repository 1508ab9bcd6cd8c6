//! URIs an administrator registers: redirect URIs (matched exactly, RFC 6749
//! section 3.1.2, RFC 9700 section 4.1.3), origins, and web links.

use serde::{Deserialize, Serialize};

use super::InvalidValue;

/// The longest URI accepted.
const MAX_URI_LEN: usize = 2000;

/// Schemes that must never receive a redirect.
const FORBIDDEN_SCHEMES: &[&str] = &["javascript", "data", "vbscript", "file", "blob", "about"];

/// Whether `host` is a loopback host (RFC 8252 section 7.3; `localhost` is allowed
/// for development, though IP literals are preferred).
fn is_loopback(host: &str) -> bool {
    matches!(host, "127.0.0.1" | "[::1]" | "localhost")
}

/// Splits `scheme:rest`, checking the scheme grammar (RFC 3986 section 3.1).
fn scheme_of(value: &str) -> Result<(String, &str), InvalidValue> {
    let (scheme, rest) = value.split_once(':').ok_or(InvalidValue("must be an absolute uri"))?;
    let mut chars = scheme.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !valid {
        return Err(InvalidValue("must be an absolute uri"));
    }
    Ok((scheme.to_ascii_lowercase(), rest))
}

fn check_common(value: &str) -> Result<(), InvalidValue> {
    if value.is_empty() || value.len() > MAX_URI_LEN {
        return Err(InvalidValue("must be 1 to 2000 characters"));
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control() || !c.is_ascii()) {
        return Err(InvalidValue("must not contain spaces, control or non-ascii characters"));
    }
    if value.contains('#') {
        return Err(InvalidValue("must not contain a fragment"));
    }
    Ok(())
}

/// The host of an `http(s)` URI, or an error.
fn http_host(value: &str) -> Result<(String, String), InvalidValue> {
    let uri: http::Uri = value.parse().map_err(|_| InvalidValue("must be a valid url"))?;
    let authority = uri.authority().ok_or(InvalidValue("must have a host"))?;
    if authority.as_str().contains('@') {
        return Err(InvalidValue("must not carry user info"));
    }
    let host = authority.host().to_ascii_lowercase();
    if host.is_empty() {
        return Err(InvalidValue("must have a host"));
    }
    Ok((uri.scheme_str().unwrap_or_default().to_owned(), host))
}

/// An absolute `http` or `https` URL taken apart with simple rules, for checks that
/// need no more (the relying party's and the issuer identifier's), without a full
/// URI parser in the browser package: only characters RFC 3986 allows (no spaces,
/// controls, non-ASCII or `"<>\\^`{|}`), a scheme `http` or `https` in any case,
/// `//`, an authority up to the first `/`, `?` or `#` whose host is a name of
/// letters, digits and `-._~` or a bracketed IP literal, and whose port, if any, is
/// a number below 65536.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WebUrl<'a> {
    /// Whether the scheme is `https`.
    pub(crate) https: bool,
    /// `[userinfo@]host[:port]`.
    pub(crate) authority: &'a str,
    /// The host, as written (an IPv6 literal with its brackets).
    pub(crate) host: &'a str,
    /// Path, query and fragment.
    pub(crate) rest: &'a str,
}

impl<'a> WebUrl<'a> {
    /// Takes `value` apart, or `None` when it is not such a URL.
    pub(crate) fn split(value: &'a str) -> Option<Self> {
        let bytes = value.as_bytes();
        let allowed = |b: &u8| b.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=%".contains(b);
        if !bytes.iter().all(allowed) {
            return None;
        }
        // Positions are of ASCII bytes, so every `get` below is on a boundary.
        let at = |from: usize, to: usize| value.get(from..to);
        let colon = bytes.iter().position(|b| *b == b':')?;
        let scheme = at(0, colon)?;
        let https = scheme.eq_ignore_ascii_case("https");
        if !https && !scheme.eq_ignore_ascii_case("http") || at(colon, colon + 3)? != "://" {
            return None;
        }
        let start = colon + 3;
        let end = start
            + bytes
                .get(start..)?
                .iter()
                .position(|b| matches!(b, b'/' | b'?' | b'#'))
                .unwrap_or(bytes.len() - start);
        let authority = at(start, end)?;
        let host_start =
            start + bytes.get(start..end)?.iter().rposition(|b| *b == b'@').map_or(0, |i| i + 1);
        let host_port = bytes.get(host_start..end)?;
        let host_len = match host_port.first() {
            Some(b'[') => host_port.iter().position(|b| *b == b']')? + 1,
            _ => host_port.iter().position(|b| *b == b':').unwrap_or(host_port.len()),
        };
        let (host, port) = host_port.split_at_checked(host_len)?;
        let name = |b: &u8| b.is_ascii_alphanumeric() || b"-._~".contains(b);
        let literal = |b: &u8| b.is_ascii_hexdigit() || b":.".contains(b);
        let host_ok = match host.strip_prefix(b"[").and_then(|h| h.strip_suffix(b"]")) {
            Some(ip) => !ip.is_empty() && ip.iter().all(literal),
            None => !host.is_empty() && host.iter().all(name),
        };
        let port_ok = match port.strip_prefix(b":") {
            None => port.is_empty(),
            Some(digits) => {
                !digits.is_empty()
                    && digits
                        .iter()
                        .try_fold(0u32, |n, d| {
                            Some(n * 10 + u32::from(d.checked_sub(b'0').filter(|d| *d < 10)?))
                                .filter(|n| *n < 65_536)
                        })
                        .is_some()
            }
        };
        if !host_ok || !port_ok {
            return None;
        }
        let host = at(host_start, host_start + host_len)?;
        Some(Self { https, authority, host, rest: at(end, value.len())? })
    }
}

/// The longest resource indicator: it is part of a storage key.
const MAX_RESOURCE_LEN: usize = 256;

/// A resource indicator (RFC 8707 section 2): the identifier of an API (resource
/// server), which access tokens for it carry as `aud` (RFC 9068 section 2.2). An
/// absolute URI without fragment or query, compared as the exact string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ResourceIndicator(String);

impl ResourceIndicator {
    /// Validates a resource indicator: an absolute URI (`https://api.example.com`,
    /// `urn:example:orders`), at most 256 characters, no fragment (RFC 8707 section
    /// 2: "MUST NOT include a fragment component") and no query ("SHOULD NOT").
    ///
    /// # Errors
    ///
    /// [`InvalidValue`] saying which rule failed.
    pub fn new(value: &str) -> Result<Self, InvalidValue> {
        check_common(value)?;
        if value.len() > MAX_RESOURCE_LEN {
            return Err(InvalidValue("must be at most 256 characters"));
        }
        let (scheme, rest) = scheme_of(value)?;
        if rest.is_empty() {
            return Err(InvalidValue("must be an absolute uri"));
        }
        if value.contains('?') {
            return Err(InvalidValue("must not contain a query"));
        }
        if matches!(scheme.as_str(), "http" | "https") {
            http_host(value)?;
        }
        Ok(Self(value.to_owned()))
    }

    /// The identifier as registered.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ResourceIndicator {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, InvalidValue> {
        Self::new(&value)
    }
}

impl From<ResourceIndicator> for String {
    fn from(value: ResourceIndicator) -> Self {
        value.0
    }
}

impl std::fmt::Display for ResourceIndicator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A registered redirect URI. Matching is exact string comparison, except that a
/// native app's loopback IP redirect matches on any port (RFC 8252 section 7.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RedirectUri(String);

impl RedirectUri {
    /// Validates a redirect URI: absolute, no fragment; `https`, or `http` only on a
    /// loopback host; for native apps also a private-use scheme in reverse-domain form
    /// (RFC 8252 section 7.1, e.g. `com.example.app:/callback`).
    ///
    /// # Errors
    ///
    /// [`InvalidValue`] saying which rule failed.
    pub fn new(value: &str, native: bool) -> Result<Self, InvalidValue> {
        check_common(value)?;
        let (scheme, _) = scheme_of(value)?;
        if FORBIDDEN_SCHEMES.contains(&scheme.as_str()) {
            return Err(InvalidValue("uses a scheme that cannot be a redirect target"));
        }
        match scheme.as_str() {
            "https" => {
                http_host(value)?;
            }
            "http" => {
                let (_, host) = http_host(value)?;
                if !is_loopback(&host) {
                    return Err(InvalidValue("must use https (http only on a loopback host)"));
                }
            }
            _ if native => {
                if !scheme.contains('.') {
                    return Err(InvalidValue(
                        "a private-use scheme must be a reverse domain name, e.g. com.example.app",
                    ));
                }
            }
            _ => return Err(InvalidValue("must use https (http only on a loopback host)")),
        }
        Ok(Self(value.to_owned()))
    }

    /// The URI as registered.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether a presented redirect URI is this one: the exact string, or for a
    /// native app's `http` loopback IP literal the same URI on any port (RFC 8252
    /// section 7.3; `localhost` is matched exactly, as section 8.3 advises against it).
    #[must_use]
    pub fn matches(&self, presented: &str, native: bool) -> bool {
        if self.0 == presented {
            return true;
        }
        native
            && loopback_without_port(&self.0)
                .zip(loopback_without_port(presented))
                .is_some_and(|(a, b)| a == b)
    }
}

/// An `http` URI on `127.0.0.1` or `[::1]` with its port removed.
fn loopback_without_port(value: &str) -> Option<String> {
    let rest = value.strip_prefix("http://")?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let host = if authority.starts_with('[') {
        authority.get(..=authority.find(']')?)?
    } else {
        authority.split(':').next()?
    };
    let port = authority.get(host.len()..)?;
    if !(port.is_empty()
        || port.strip_prefix(':').is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit())))
    {
        return None;
    }
    matches!(host, "127.0.0.1" | "[::1]").then(|| ["http://", host, tail].concat())
}

/// A web origin (`scheme://host[:port]`, RFC 6454), for CORS and silent login.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Origin(String);

impl Origin {
    /// Validates an origin: `https`, or `http` on a loopback host; no path, query or
    /// fragment.
    ///
    /// # Errors
    ///
    /// [`InvalidValue`] saying which rule failed.
    pub fn new(value: &str) -> Result<Self, InvalidValue> {
        check_common(value)?;
        let (scheme, host) = http_host(value)?;
        if scheme != "https" && !(scheme == "http" && is_loopback(&host)) {
            return Err(InvalidValue("must use https (http only on a loopback host)"));
        }
        let after_scheme = value.split_once("://").map_or("", |(_, rest)| rest);
        if after_scheme.contains('/') || after_scheme.contains('?') {
            return Err(InvalidValue("must be an origin: scheme, host and port only"));
        }
        Ok(Self(value.to_ascii_lowercase()))
    }

    /// The origin of an absolute `http(s)` URI (RFC 6454 section 4): its scheme,
    /// host and port, lowercased and without the scheme's default port, as a browser
    /// spells `MessageEvent.origin`. The host must be a name of letters, digits, `.`
    /// and `-`, or a bracketed IP literal, so the origin can be written into a
    /// header or a policy as is.
    ///
    /// # Errors
    ///
    /// [`InvalidValue`] when `uri` has no such origin, or one [`Origin::new`]
    /// refuses (plain `http` off a loopback host).
    pub fn of(uri: &str) -> Result<Self, InvalidValue> {
        check_common(uri)?;
        let parsed: http::Uri = uri.parse().map_err(|_| InvalidValue("must be a valid url"))?;
        let scheme = parsed.scheme_str().unwrap_or_default().to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "https" => 443,
            "http" => 80,
            _ => return Err(InvalidValue("must use https (http only on a loopback host)")),
        };
        let authority = parsed.authority().ok_or(InvalidValue("must have a host"))?;
        if authority.as_str().contains('@') {
            return Err(InvalidValue("must not carry user info"));
        }
        let host = authority.host().to_ascii_lowercase();
        let name = |b: u8| b.is_ascii_alphanumeric() || b == b'.' || b == b'-';
        let literal = |b: u8| b.is_ascii_hexdigit() || b == b'.' || b == b':';
        let bracketed = host.strip_prefix('[').and_then(|h| h.strip_suffix(']'));
        let valid = match bracketed {
            Some(inner) => !inner.is_empty() && inner.bytes().all(literal),
            None => !host.is_empty() && host.bytes().all(name),
        };
        if !valid {
            return Err(InvalidValue("must have a host name or ip address"));
        }
        // Without user info the authority is the host and an optional `:port`.
        let port = match authority.as_str().get(host.len()..).unwrap_or_default() {
            "" | ":" => None,
            text => Some(
                text.strip_prefix(':')
                    .and_then(|p| p.parse::<u16>().ok())
                    .ok_or(InvalidValue("must have a valid port"))?,
            ),
        };
        let origin = match port {
            Some(port) if port != default_port => format!("{scheme}://{host}:{port}"),
            _ => format!("{scheme}://{host}"),
        };
        Self::new(&origin)
    }

    /// The origin.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An `https` link shown to people (logo, policy, terms) or fetched (`jwks_uri`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HttpsUrl(String);

impl HttpsUrl {
    /// Validates an `https` URL with a host and no fragment.
    ///
    /// # Errors
    ///
    /// [`InvalidValue`] saying which rule failed.
    pub fn new(value: &str) -> Result<Self, InvalidValue> {
        check_common(value)?;
        let (scheme, _) = http_host(value)?;
        if scheme != "https" {
            return Err(InvalidValue("must use https"));
        }
        Ok(Self(value.to_owned()))
    }

    /// The URL.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_indicator_rules() {
        for good in ["https://api.example.com", "https://api.example.com/v1", "urn:example:orders"]
        {
            assert_eq!(ResourceIndicator::new(good).unwrap().as_str(), good);
        }
        for bad in [
            "",
            "orders",
            "/orders",
            "https://api.example.com#x",
            "https://api.example.com?x=1",
            "urn:",
            "https://api.example.com/a b",
            "https://user@api.example.com",
        ] {
            assert!(ResourceIndicator::new(bad).is_err(), "{bad}");
        }
        assert!(ResourceIndicator::new(&format!("urn:x:{}", "a".repeat(300))).is_err());
    }

    #[test]
    fn redirect_rules() {
        assert!(RedirectUri::new("https://app.example.com/cb", false).is_ok());
        assert!(RedirectUri::new("http://127.0.0.1:3000/cb", false).is_ok());
        assert!(RedirectUri::new("http://[::1]/cb", false).is_ok());
        let native = RedirectUri::new("http://127.0.0.1/cb", true).unwrap();
        assert!(native.matches("http://127.0.0.1:51234/cb", true));
        assert!(!native.matches("http://127.0.0.1:51234/cb", false));
        assert!(!native.matches("http://127.0.0.1:51234/cb2", true));
        assert!(!native.matches("http://127.0.0.1:5x/cb", true));
        assert!(!native.matches("http://127.0.0.1.evil.example/cb", true));
        let v6 = RedirectUri::new("http://[::1]:80/cb?x=1", true).unwrap();
        assert!(v6.matches("http://[::1]:9/cb?x=1", true));
        let local = RedirectUri::new("http://localhost/cb", true).unwrap();
        assert!(!local.matches("http://localhost:3000/cb", true));
        for bad in [
            "http://app.example.com/cb",
            "https://app.example.com/cb#x",
            "/relative",
            "javascript:alert(1)",
            "com.example.app:/cb",
            "https://user@app.example.com/cb",
            "https://app.example.com/a b",
            "",
        ] {
            assert!(RedirectUri::new(bad, false).is_err(), "{bad}");
        }
    }

    #[test]
    fn native_redirects() {
        assert!(RedirectUri::new("com.example.app:/oauth2redirect", true).is_ok());
        assert!(RedirectUri::new("myapp:/cb", true).is_err());
        assert!(RedirectUri::new("data:text/html,x", true).is_err());
    }

    #[test]
    fn origins() {
        assert_eq!(
            Origin::new("https://App.example.com").unwrap().as_str(),
            "https://app.example.com"
        );
        assert!(Origin::new("http://localhost:5173").is_ok());
        assert!(Origin::new("https://app.example.com/").is_err());
        assert!(Origin::new("http://app.example.com").is_err());
    }

    #[test]
    fn the_origin_of_a_uri_is_scheme_host_and_port_as_a_browser_spells_it() {
        for (uri, origin) in [
            ("https://app.example.test/callback?x=1", "https://app.example.test"),
            ("HTTPS://App.Example.TEST/cb", "https://app.example.test"),
            ("https://app.example.test:443/cb", "https://app.example.test"),
            ("https://app.example.test:8443/cb", "https://app.example.test:8443"),
            ("https://app.example.test:/cb", "https://app.example.test"),
            ("https://app.example.test", "https://app.example.test"),
            ("http://127.0.0.1:51004/callback", "http://127.0.0.1:51004"),
            ("http://localhost:80/cb", "http://localhost"),
            ("http://[::1]:3000/cb", "http://[::1]:3000"),
        ] {
            assert_eq!(Origin::of(uri).unwrap().as_str(), origin, "{uri}");
        }
        for bad in [
            "http://app.example.test/cb",
            "com.example.app:/cb",
            "https://user@app.example.test/cb",
            "https://app.example.test:99999/cb",
            "https://app.example.test:x/cb",
            "https://app';x.example.test/cb",
            "https://[]/cb",
            "/relative",
            "",
        ] {
            assert!(Origin::of(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn https_urls() {
        assert!(HttpsUrl::new("https://example.com/logo.png").is_ok());
        assert!(HttpsUrl::new("http://example.com/logo.png").is_err());
    }
}
