//! Route rules: which requests pass without a token, which need one, and what the
//! token must carry. The first rule whose prefix and method match decides.

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
    /// A path prefix. Ending in `/` it matches everything below; otherwise it matches
    /// that path exactly and everything below it (`/health` matches `/health` and
    /// `/health/db`, not `/healthz`).
    pub prefix: String,
    /// Methods the rule applies to; empty means every method.
    pub methods: Vec<Method>,
    /// No token needed (and none checked).
    pub public: bool,
    /// An audience the token must name, instead of the gateway's default audience.
    pub audience: Option<String>,
    /// What the token must carry, all of it.
    pub requirements: Vec<Requirement>,
}

impl Route {
    /// Whether this rule applies to `method` on `path`.
    #[must_use]
    pub fn matches(&self, method: &Method, path: &str) -> bool {
        let path_ok = if self.prefix.ends_with('/') {
            path.starts_with(&self.prefix)
        } else {
            path.strip_prefix(self.prefix.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        };
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

    /// The first rule matching `method` and `path`.
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

/// Whether a request path can be matched unambiguously: no encoded slash, backslash
/// or dot (an origin that decodes them could see another path than the gateway
/// matched), no dot segments, no backslash, no control characters.
#[must_use]
pub fn is_unambiguous_path(path: &str) -> bool {
    if !path.starts_with('/') || path.bytes().any(|b| b.is_ascii_control() || b == b'\\') {
        return false;
    }
    let lower = path.to_ascii_lowercase();
    if ["%2f", "%5c", "%2e", "%00"].iter().any(|e| lower.contains(e)) {
        return false;
    }
    !path.split('/').any(|segment| segment == "." || segment == "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(prefix: &str, methods: &[Method]) -> Route {
        Route {
            prefix: prefix.into(),
            methods: methods.to_vec(),
            public: false,
            audience: None,
            requirements: vec![],
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
    }

    #[test]
    fn methods_filter() {
        let get = route("/", &[Method::GET]);
        assert!(get.matches(&Method::GET, "/x"));
        assert!(!get.matches(&Method::POST, "/x"));
    }

    #[test]
    fn ambiguous_paths_are_refused() {
        assert!(is_unambiguous_path("/api/orders/12"));
        assert!(is_unambiguous_path("/api/a%20b"));
        for bad in [
            "/public/..",
            "/public/../api",
            "/a/./b",
            "/a%2Fb",
            "/a%2e%2e/b",
            "/a\\b",
            "x",
            "/a%00",
        ] {
            assert!(!is_unambiguous_path(bad), "{bad}");
        }
    }
}
