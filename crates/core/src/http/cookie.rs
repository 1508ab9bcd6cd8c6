//! Cookies (RFC 6265): reading the `Cookie` header and writing `Set-Cookie`.
//!
//! The issuer sets two cookies, both `HttpOnly` and scoped to the whole host:
//! the SSO session and the CSRF token of its forms. Under an `https` issuer they
//! carry the `__Host-` prefix (so no subdomain or plain-http page can set them)
//! with `Secure` and `SameSite=None` (silent login in an iframe needs the session
//! cookie); under a plain-http loopback issuer (development) they are
//! `SameSite=Lax` without `Secure`.

use http::{HeaderMap, HeaderValue, header};

/// The value of the cookie `name` in the request, if sent exactly once.
#[must_use]
pub fn get<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let mut found = None;
    for value in headers.get_all(header::COOKIE) {
        let Ok(text) = value.to_str() else { continue };
        for pair in text.split(';') {
            let Some((n, v)) = pair.trim().split_once('=') else { continue };
            if n == name {
                if found.is_some() {
                    // Two cookies of one name: one was planted. Trust neither.
                    return None;
                }
                found = Some(v.trim_matches('"'));
            }
        }
    }
    found.filter(|v| !v.is_empty())
}

/// How the issuer's cookies are named and flagged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookiePolicy {
    secure: bool,
}

impl CookiePolicy {
    /// The policy for an issuer; `secure` when it is served over `https`.
    #[must_use]
    pub const fn new(secure: bool) -> Self {
        Self { secure }
    }

    /// The full name of the cookie `base` (e.g. `gatehouse-session`).
    #[must_use]
    pub fn name(&self, base: &str) -> String {
        if self.secure { format!("__Host-{base}") } else { base.to_owned() }
    }

    /// A `Set-Cookie` value for `base` = `value`, kept for `max_age` seconds (a
    /// session cookie when `None`).
    #[must_use]
    pub fn set(&self, base: &str, value: &str, max_age: Option<u64>) -> HeaderValue {
        let mut cookie = format!("{}={value}; Path=/; HttpOnly", self.name(base));
        if self.secure {
            cookie.push_str("; Secure; SameSite=None");
        } else {
            cookie.push_str("; SameSite=Lax");
        }
        if let Some(age) = max_age {
            cookie.push_str(&format!("; Max-Age={age}"));
        }
        HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    /// A `Set-Cookie` value that removes the cookie `base`.
    #[must_use]
    pub fn clear(&self, base: &str) -> HeaderValue {
        self.set(base, "", Some(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_one_cookie_and_refuses_doubles() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("a=1; b=2"));
        assert_eq!(get(&headers, "b"), Some("2"));
        assert_eq!(get(&headers, "c"), None);
        headers.append(header::COOKIE, HeaderValue::from_static("b=3"));
        assert_eq!(get(&headers, "b"), None);
    }

    #[test]
    fn https_cookies_are_host_prefixed_and_secure() {
        let secure = CookiePolicy::new(true).set("s", "v", Some(60));
        assert_eq!(
            secure.to_str().unwrap(),
            "__Host-s=v; Path=/; HttpOnly; Secure; SameSite=None; Max-Age=60"
        );
        let plain = CookiePolicy::new(false).clear("s");
        assert_eq!(plain.to_str().unwrap(), "s=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
    }
}
