//! Route rules: which requests pass without a token, which need one, and what the
//! token must carry. The first rule whose prefix and method match decides.

use std::borrow::Cow;

use http::Method;

use crate::verify::VerifiedAccessToken;

/// What a token must carry for a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// Every one of these scopes.
    AllScopes(Vec<String>),
    /// At least one of these scopes.
    AnyScope(Vec<String>),
    /// Every one of these permissions (the `permissions` claim).
    AllPermissions(Vec<String>),
    /// At least one of these permissions.
    AnyPermission(Vec<String>),
    /// Every one of these roles (the `roles` claim).
    AllRoles(Vec<String>),
    /// At least one of these roles.
    AnyRole(Vec<String>),
}

/// A requirement the token did not meet, for the 403 answer: the scope (or
/// permissions / roles) the caller needs, space-delimited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shortfall {
    /// Missing scopes: the `scope` attribute of the challenge (RFC 6750 section 3).
    Scope(String),
    /// Missing permissions.
    Permission(String),
    /// Missing roles.
    Role(String),
}

impl Requirement {
    /// `None` when `token` meets the requirement, else what is missing.
    #[must_use]
    pub fn check(&self, token: &VerifiedAccessToken) -> Option<Shortfall> {
        let has_scope = |s: &String| token.claims.scope.contains(s);
        let has_permission = |p: &String| token.permissions.contains(p);
        let has_role = |r: &String| token.roles.contains(r);
        match self {
            Self::AllScopes(list) => all(list, has_scope).map(Shortfall::Scope),
            Self::AnyScope(list) => any(list, has_scope).map(Shortfall::Scope),
            Self::AllPermissions(list) => all(list, has_permission).map(Shortfall::Permission),
            Self::AnyPermission(list) => any(list, has_permission).map(Shortfall::Permission),
            Self::AllRoles(list) => all(list, has_role).map(Shortfall::Role),
            Self::AnyRole(list) => any(list, has_role).map(Shortfall::Role),
        }
    }
}

/// The missing members of `list`, or `None` when nothing is missing.
fn all(list: &[String], has: impl Fn(&String) -> bool) -> Option<String> {
    let missing: Vec<&str> = list.iter().filter(|v| !has(v)).map(String::as_str).collect();
    (!missing.is_empty()).then(|| missing.join(" "))
}

/// The whole list when none of it is present.
fn any(list: &[String], has: impl Fn(&String) -> bool) -> Option<String> {
    (!list.iter().any(has)).then(|| list.join(" "))
}

/// One route rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// A path prefix of unreserved characters and `/` (checked by the configuration).
    /// Ending in `/` it matches everything below; otherwise it matches that path
    /// exactly and everything below it (`/health` matches `/health` and `/health/db`,
    /// not `/healthz`).
    pub prefix: String,
    /// Compare the prefix ASCII-case-insensitively (for origins that route paths
    /// without regard to case).
    pub case_insensitive: bool,
    /// Methods the rule applies to; empty means every method.
    pub methods: Vec<Method>,
    /// No token needed (and none checked).
    pub public: bool,
    /// An audience the token must name, instead of the gateway's default audience.
    pub audience: Option<String>,
    /// What the token must carry, all of it.
    pub requirements: Vec<Requirement>,
    /// The claims forwarded to the origin on this route, as (header, claim): the
    /// top-level `forward_claims` with the route's own table over it.
    pub forward_claims: Vec<(http::HeaderName, String)>,
}

impl Route {
    /// Whether this rule applies to `method` on `path`, a path [`normalize_path`]
    /// returned.
    #[must_use]
    pub fn matches(&self, method: &Method, path: &str) -> bool {
        let prefix = self.prefix.as_bytes();
        let path = path.as_bytes();
        let Some((head, rest)) = path.split_at_checked(prefix.len()) else { return false };
        let head_ok =
            if self.case_insensitive { head.eq_ignore_ascii_case(prefix) } else { head == prefix };
        // Segment-aware: `/api/admin` is not a prefix of `/api/administrators`.
        let path_ok =
            head_ok && (prefix.ends_with(b"/") || rest.is_empty() || rest.starts_with(b"/"));
        path_ok && (self.methods.is_empty() || self.methods.contains(method))
    }
}

/// The ordered route rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatcher(Vec<Route>);

impl RouteMatcher {
    /// Rules in order; the first match wins.
    #[must_use]
    pub fn new(routes: Vec<Route>) -> Self {
        Self(routes)
    }

    /// The first rule matching `method` and `path` (a [`normalize_path`] result).
    #[must_use]
    pub fn find(&self, method: &Method, path: &str) -> Option<&Route> {
        self.0.iter().find(|r| r.matches(method, path))
    }

    /// The rules, in order.
    #[must_use]
    pub fn routes(&self) -> &[Route] {
        &self.0
    }
}

/// Why a request line was refused with 400: the gateway and the origin could read
/// it differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ambiguity {
    /// The path does not start with `/`.
    NotAbsolute,
    /// A byte outside printable ASCII, a raw `\` or a `;` (path parameters).
    Character,
    /// A `%` not followed by two hex digits.
    BadEscape,
    /// `%2F`, `%5C`, `%2E`, `%3B` or `%00`: an origin that decodes them before
    /// routing sees another path.
    EncodedDelimiter,
    /// `//`: an empty segment that origins merge or keep.
    EmptySegment,
    /// A `.` or `..` segment.
    DotSegment,
    /// A method with lower-case letters (`patch`), which some origins upper-case.
    Method,
}

impl Ambiguity {
    /// What is wrong, for the log.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotAbsolute => "path does not start with /",
            Self::Character => "path has a control, non-ASCII, backslash or ; character",
            Self::BadEscape => "path has a malformed percent-escape",
            Self::EncodedDelimiter => "path has an encoded / \\ . ; or NUL",
            Self::EmptySegment => "path has an empty segment",
            Self::DotSegment => "path has a . or .. segment",
            Self::Method => "method is not upper-case",
        }
    }
}

/// Whether a method is spelled the one way every origin reads alike: no lower-case
/// letters (`GET`, `PATCH`, an upper-case extension method).
#[must_use]
pub fn is_canonical_method(method: &Method) -> bool {
    !method.as_str().bytes().any(|b| b.is_ascii_lowercase())
}

/// The unreserved characters of RFC 3986 section 2.3 except `.`: their escapes are
/// decoded (section 6.2.2.2). `.` stays refused when encoded (`%2E%2E` must not
/// become a dot segment at an origin that decodes late).
fn decodes_to_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'~')
}

fn hex(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        _ => None,
    }
}

/// The one reading of a request path that the gateway matches and forwards, or why
/// there is more than one.
///
/// Escapes of unreserved characters (letters, digits, `-`, `_`, `~`) are decoded and
/// the hex of every other escape is upper-cased (RFC 3986 section 6.2.2), so every
/// spelling of a path compares equal to its plain form. Refused: a path not starting
/// with `/`; a byte outside printable ASCII, a raw `\` or `;`; a malformed escape;
/// `%2F`, `%5C`, `%2E`, `%3B` and `%00` (any case); an empty segment (`//`); a `.` or
/// `..` segment. Borrows `path` when it is already normal (the usual case).
///
/// # Errors
///
/// The [`Ambiguity`] found first.
pub fn normalize_path(path: &str) -> Result<Cow<'_, str>, Ambiguity> {
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(Ambiguity::NotAbsolute);
    }
    let mut rewrite = false;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let (Some(hi), Some(lo)) = (
                    bytes.get(i + 1).copied().and_then(hex),
                    bytes.get(i + 2).copied().and_then(hex),
                ) else {
                    return Err(Ambiguity::BadEscape);
                };
                let decoded = hi << 4 | lo;
                if matches!(decoded, b'/' | b'\\' | b'.' | b';' | 0) {
                    return Err(Ambiguity::EncodedDelimiter);
                }
                let upper = |at: usize| bytes.get(at).is_some_and(u8::is_ascii_lowercase);
                rewrite |= decodes_to_unreserved(decoded) || upper(i + 1) || upper(i + 2);
                i += 3;
            }
            b'/' => {
                // The segment that starts here: empty (`//`, but not a trailing `/`),
                // `.` or `..`.
                let rest = bytes.get(i + 1..).unwrap_or_default();
                let end = rest.iter().position(|&c| c == b'/');
                match rest.get(..end.unwrap_or(rest.len())) {
                    Some(b"") if end.is_some() => return Err(Ambiguity::EmptySegment),
                    Some(b"." | b"..") => return Err(Ambiguity::DotSegment),
                    _ => {}
                }
                i += 1;
            }
            b'\\' | b';' | ..=0x20 | 0x7f.. => return Err(Ambiguity::Character),
            _ => i += 1,
        }
    }
    if !rewrite {
        return Ok(Cow::Borrowed(path));
    }
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(at) = rest.find('%') {
        let (before, escape) = rest.split_at(at);
        out.push_str(before);
        let digits = escape.as_bytes();
        let value = digits
            .get(1)
            .copied()
            .and_then(hex)
            .zip(digits.get(2).copied().and_then(hex))
            .map(|(hi, lo)| hi << 4 | lo)
            .unwrap_or_default();
        if decodes_to_unreserved(value) {
            out.push(char::from(value));
        } else {
            out.push('%');
            out.push_str(&escape.get(1..3).unwrap_or_default().to_ascii_uppercase());
        }
        rest = escape.get(3..).unwrap_or_default();
    }
    out.push_str(rest);
    Ok(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(prefix: &str, methods: &[Method]) -> Route {
        Route {
            prefix: prefix.into(),
            case_insensitive: false,
            methods: methods.to_vec(),
            public: false,
            audience: None,
            requirements: vec![],
            forward_claims: vec![],
        }
    }

    #[test]
    fn prefixes_match_by_segment() {
        let slash = route("/api/", &[]);
        assert!(slash.matches(&Method::GET, "/api/orders"));
        assert!(!slash.matches(&Method::GET, "/api"));
        assert!(!slash.matches(&Method::GET, "/apis/x"));
        let bare = route("/health", &[]);
        assert!(bare.matches(&Method::GET, "/health"));
        assert!(bare.matches(&Method::GET, "/health/db"));
        assert!(!bare.matches(&Method::GET, "/healthz"));
        assert!(!bare.matches(&Method::GET, "/HEALTH"));
        let folded = Route { case_insensitive: true, ..route("/api/admin", &[]) };
        assert!(folded.matches(&Method::GET, "/API/Admin/users"));
        assert!(!folded.matches(&Method::GET, "/API/Administrators"));
    }

    #[test]
    fn methods_filter() {
        let get = route("/", &[Method::GET]);
        assert!(get.matches(&Method::GET, "/x"));
        assert!(!get.matches(&Method::POST, "/x"));
        assert!(is_canonical_method(&Method::PATCH));
        assert!(is_canonical_method(&Method::from_bytes(b"PROPFIND").unwrap()));
        assert!(!is_canonical_method(&Method::from_bytes(b"patch").unwrap()));
        assert!(!is_canonical_method(&Method::from_bytes(b"Get").unwrap()));
    }

    #[test]
    fn normal_paths_are_borrowed() {
        for path in ["/", "/api/orders/12", "/api/a%20b", "/api/%C3%A9", "/api/x/", "/a.b/..c/.d"] {
            assert!(matches!(normalize_path(path), Ok(Cow::Borrowed(p)) if p == path), "{path}");
        }
    }

    #[test]
    fn unreserved_escapes_are_decoded_and_the_rest_upper_cased() {
        for (path, normal) in [
            ("/api/%61dmin", "/api/admin"),
            ("/%41%5a%30%2d%5F%7e", "/AZ0-_~"),
            ("/a%c3%a9b", "/a%C3%A9b"),
            ("/x%2b%3A%40", "/x%2B%3A%40"),
            ("/%25%36%31", "/%2561"),
        ] {
            assert_eq!(normalize_path(path).as_deref(), Ok(normal), "{path}");
        }
    }

    #[test]
    fn ambiguous_paths_are_refused() {
        for (bad, why) in [
            ("x", Ambiguity::NotAbsolute),
            ("", Ambiguity::NotAbsolute),
            ("/public/..", Ambiguity::DotSegment),
            ("/public/../api", Ambiguity::DotSegment),
            ("/a/./b", Ambiguity::DotSegment),
            ("/a/.", Ambiguity::DotSegment),
            ("/api//admin", Ambiguity::EmptySegment),
            ("//api", Ambiguity::EmptySegment),
            ("/a%2Fb", Ambiguity::EncodedDelimiter),
            ("/a%2fb", Ambiguity::EncodedDelimiter),
            ("/a%2e%2e/b", Ambiguity::EncodedDelimiter),
            ("/a%5Cb", Ambiguity::EncodedDelimiter),
            ("/a%3bx", Ambiguity::EncodedDelimiter),
            ("/a%00", Ambiguity::EncodedDelimiter),
            ("/a\\b", Ambiguity::Character),
            ("/api/admin;x/", Ambiguity::Character),
            ("/a b", Ambiguity::Character),
            ("/a\tb", Ambiguity::Character),
            ("/caf\u{e9}", Ambiguity::Character),
            ("/a%", Ambiguity::BadEscape),
            ("/a%4", Ambiguity::BadEscape),
            ("/a%zz", Ambiguity::BadEscape),
        ] {
            assert_eq!(normalize_path(bad), Err(why), "{bad:?}");
        }
    }
}
