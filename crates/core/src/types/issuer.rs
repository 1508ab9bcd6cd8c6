//! The issuer identifier (RFC 8414 section 2, OpenID Connect Discovery section 3).

use serde::{Deserialize, Serialize};

use super::InvalidValue;

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
        let uri: http::Uri = trimmed.parse().map_err(|_| InvalidValue("issuer is not a url"))?;
        let authority = uri.authority().ok_or(InvalidValue("issuer must be an absolute url"))?;
        if authority.as_str().contains('@') {
            return Err(InvalidValue("issuer must not carry user info"));
        }
        if uri.query().is_some() || trimmed.contains('#') {
            return Err(InvalidValue("issuer must not have a query or fragment"));
        }
        match uri.scheme_str() {
            Some("https") => {}
            Some("http") if matches!(authority.host(), "127.0.0.1" | "[::1]" | "localhost") => {}
            _ => return Err(InvalidValue("issuer must use https (http only on loopback)")),
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
        format!("{}{path}", self.0)
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
