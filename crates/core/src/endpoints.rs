//! The issuer's endpoints as one table: path, methods, CORS policy and handler.
//! The router dispatches through it ([`crate::router`]) and discovery lists it
//! ([`crate::discovery`]), so nothing is advertised that is not served.

use http::Method;

/// The token endpoint path under the issuer.
pub const TOKEN_PATH: &str = "/token";
/// The JWKS path under the issuer.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";
/// OpenID Provider metadata path.
pub const OPENID_CONFIGURATION_PATH: &str = "/.well-known/openid-configuration";
/// RFC 8414 metadata path.
pub const OAUTH_METADATA_PATH: &str = "/.well-known/oauth-authorization-server";

/// Who may read an endpoint's answers from a browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cors {
    /// Any origin: the endpoint carries no ambient credentials (no cookies), so a
    /// browser app authenticates to it explicitly and a wildcard leaks nothing.
    Any,
    /// No cross-origin reads (the endpoint answers its own preflights, if any).
    None,
}

/// What serves an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    /// OpenID Provider and RFC 8414 metadata.
    Metadata,
    /// The public signing keys.
    Jwks,
    /// The token endpoint (RFC 6749 section 3.2).
    Token,
    /// The management API, a subtree with its own routes, methods and problem
    /// documents (RFC 9457).
    Admin,
}

/// One endpoint: where it is, what it accepts, who may read it, what serves it.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    /// The path under the issuer.
    pub path: &'static str,
    /// Whether the endpoint also serves every path below `path`.
    pub subtree: bool,
    /// The methods it serves (`HEAD` with `GET`); empty when the handler decides.
    pub methods: &'static [Method],
    /// Its CORS policy.
    pub cors: Cors,
    /// What serves it.
    pub handler: Handler,
}

const GET: &[Method] = &[Method::GET, Method::HEAD];

/// Every endpoint the issuer serves.
pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        path: OPENID_CONFIGURATION_PATH,
        subtree: false,
        methods: GET,
        cors: Cors::Any,
        handler: Handler::Metadata,
    },
    Endpoint {
        path: OAUTH_METADATA_PATH,
        subtree: false,
        methods: GET,
        cors: Cors::Any,
        handler: Handler::Metadata,
    },
    Endpoint {
        path: JWKS_PATH,
        subtree: false,
        methods: GET,
        cors: Cors::Any,
        handler: Handler::Jwks,
    },
    Endpoint {
        path: TOKEN_PATH,
        subtree: false,
        methods: &[Method::POST],
        cors: Cors::Any,
        handler: Handler::Token,
    },
    Endpoint {
        path: crate::admin::ROOT,
        subtree: true,
        methods: &[],
        cors: Cors::None,
        handler: Handler::Admin,
    },
];

/// The endpoint serving `path` (under the issuer), if any.
#[must_use]
pub fn find(path: &str) -> Option<&'static Endpoint> {
    ENDPOINTS.iter().find(|e| {
        path == e.path
            || (e.subtree && path.strip_prefix(e.path).is_some_and(|rest| rest.starts_with('/')))
    })
}

/// The path an endpoint with `handler` is served at, if the table has one.
#[must_use]
pub fn path_of(handler: Handler) -> Option<&'static str> {
    ENDPOINTS.iter().find(|e| e.handler == handler).map(|e| e.path)
}

impl Endpoint {
    /// The methods to list in `Allow` and in a preflight answer.
    #[must_use]
    pub fn allowed(&self) -> Vec<Method> {
        self.methods.iter().cloned().chain([Method::OPTIONS]).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_find_their_endpoint_and_nothing_else() {
        assert_eq!(find("/token").map(|e| e.handler), Some(Handler::Token));
        assert_eq!(find("/admin/v1").map(|e| e.handler), Some(Handler::Admin));
        assert_eq!(find("/admin/v1/apps").map(|e| e.handler), Some(Handler::Admin));
        assert!(find("/admin/v10").is_none());
        assert!(find("/token/").is_none());
        assert!(find("/").is_none());
    }

    #[test]
    fn every_endpoint_has_its_own_path() {
        for (i, a) in ENDPOINTS.iter().enumerate() {
            for b in ENDPOINTS.iter().skip(i + 1) {
                assert_ne!(a.path, b.path);
            }
        }
    }
}
