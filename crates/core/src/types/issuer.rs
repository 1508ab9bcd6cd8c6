//! The issuer identifier (RFC 8414 section 2, OpenID Connect Discovery section 3).

use serde::{Deserialize, Serialize};

use super::{InvalidValue, WebUrl};

/// The issuer identifier: an `https` URL (or `http` on a loopback host, for local
/// development) with no query or fragment. Stored without a trailing slash, so that
/// endpoint URLs are `issuer + path`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IssuerUrl(String);

impl IssuerUrl {
    /// Validates an issuer URL.
    ///
    /// # Errors
    ///
    /// [`InvalidValue`] if it is not an absolute `https` URL (or `http` on
    /// `127.0.0.1`, `[::1]` or `localhost`), or has a query, fragment or user info.
    pub fn new(value: &str) -> Result<Self, InvalidValue> {
        let trimmed = value.strip_suffix('/').unwrap_or(value);
        let url =
            WebUrl::split(trimmed).ok_or(InvalidValue("issuer must be an absolute http(s) url"))?;
        if url.authority.contains('@') {
            return Err(InvalidValue("issuer must not carry user info"));
        }
        if url.rest.contains(['?', '#']) {
            return Err(InvalidValue("issuer must not have a query or fragment"));
        }
        if !url.https && !matches!(url.host, "127.0.0.1" | "[::1]" | "localhost") {
            return Err(InvalidValue("issuer must use https (http only on loopback)"));
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The issuer as it appears in `iss`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The absolute URL of `path` (which starts with `/`) under this issuer.
    #[must_use]
    pub fn endpoint(&self, path: &str) -> String {
        [self.0.as_str(), path].concat()
    }

    /// The path part of the issuer (empty for an issuer at the root), which prefixes
    /// every endpoint path this issuer serves.
    #[must_use]
    pub fn path_prefix(&self) -> &str {
        self.0.find("://").map_or("", |i| {
            let rest = self.0.get(i + 3..).unwrap_or_default();
            rest.find('/').and_then(|j| rest.get(j..)).unwrap_or("")
        })
    }
}

impl TryFrom<String> for IssuerUrl {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(&value)
    }
}

impl From<IssuerUrl> for String {
    fn from(value: IssuerUrl) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_https_and_loopback_http() {
        assert_eq!(
            IssuerUrl::new("https://id.example.com/").unwrap().as_str(),
            "https://id.example.com"
        );
        assert!(IssuerUrl::new("http://127.0.0.1:8787").is_ok());
        assert!(IssuerUrl::new("http://localhost:8787").is_ok());
    }

    #[test]
    fn refuses_the_rest() {
        for bad in [
            "http://example.com",
            "https://a@b.com",
            "https://x.com/?q",
            "https://x.com/#f",
            "/rel",
            "ftp://x.com",
        ] {
            assert!(IssuerUrl::new(bad).is_err(), "{bad}");
        }
    }

    /// The rules as they were, on `http::Uri`.
    fn with_http_uri(value: &str) -> Option<String> {
        let trimmed = value.strip_suffix('/').unwrap_or(value);
        let uri: http::Uri = trimmed.parse().ok()?;
        let authority = uri.authority()?;
        if authority.as_str().contains('@') || uri.query().is_some() || trimmed.contains('#') {
            return None;
        }
        match uri.scheme_str() {
            Some("https") => {}
            Some("http") if matches!(authority.host(), "127.0.0.1" | "[::1]" | "localhost") => {}
            _ => return None,
        }
        Some(trimmed.to_owned())
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(5000))]
        /// Nothing the `http::Uri` rules refused is accepted now, and plain issuer
        /// URLs are accepted as before.
        #[test]
        fn no_looser_than_http_uri(
            value in "(https?|HTTPS|ftp)(://|:/|:)(u@)?(id\\.example\\.com|localhost|127\\.0\\.0\\.1|\\[::1\\]|)(:[0-9]{0,6})?(/[a-z%{} ]{0,4}){0,2}[?#]?/?"
        ) {
            let now = IssuerUrl::new(&value).ok().map(|i| i.0);
            let before = with_http_uri(&value);
            if now.is_some() {
                proptest::prop_assert_eq!(&now, &before);
            }
            if !value.contains(['{', '}', ' ', '%']) && !value.contains(":/") {
                proptest::prop_assert_eq!(now, before);
            }
        }
    }

    #[test]
    fn path_prefix() {
        assert_eq!(IssuerUrl::new("https://x.com").unwrap().path_prefix(), "");
        assert_eq!(IssuerUrl::new("https://x.com/tenant").unwrap().path_prefix(), "/tenant");
        assert_eq!(
            IssuerUrl::new("https://x.com/tenant").unwrap().endpoint("/token"),
            "https://x.com/tenant/token"
        );
    }
}
