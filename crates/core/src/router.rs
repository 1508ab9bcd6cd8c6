//! The issuer's endpoints as one table: path, methods, CORS policy and handler.
//!
//! The router answers a CORS preflight (`OPTIONS`) and a method the endpoint does
//! not serve (405 with `Allow`) from the table by itself, so a handler sees only
//! the methods it serves; discovery lists the endpoints of this table and nothing
//! else ([`crate::discovery::Metadata::new`]).

use http::{Method, StatusCode};

use crate::context::Context;
use crate::discovery::Metadata;
use crate::engine::{Engine, cache_for};
use crate::error::OAuthError;
use crate::http::{
    Request, Response, cors_any, json_response, method_not_allowed, not_found, preflight_response,
};
use crate::platform::Platform;

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
    fn allowed(&self) -> Vec<Method> {
        self.methods.iter().cloned().chain([Method::OPTIONS]).collect()
    }
}

impl<P: Platform> Engine<P> {
    /// Handles one request. Every failure is already a response: RFC 6749 JSON on
    /// OAuth endpoints, with no detail about infrastructure faults. Afterwards the
    /// host batches [`Context::take_deferred`] and flushes what is due
    /// ([`Engine::flush_usage`]).
    pub async fn handle(&self, request: Request, cx: &mut Context<'_>) -> Response {
        let head = request.method() == Method::HEAD;
        let mut response = self.route(request, cx).await;
        if head {
            response.body_mut().clear();
        }
        response
    }

    async fn route(&self, request: Request, cx: &mut Context<'_>) -> Response {
        let prefix = self.config().issuer.path_prefix();
        let Some(path) = request.uri().path().strip_prefix(prefix).map(str::to_owned) else {
            return not_found();
        };
        let Some(endpoint) = find(&path) else {
            return not_found();
        };
        if endpoint.handler == Handler::Admin {
            return crate::admin::handle(self, request, &path, cx).await;
        }
        let method = request.method();
        if method == Method::OPTIONS && endpoint.cors == Cors::Any {
            return preflight_response(&endpoint.allowed());
        }
        if !endpoint.methods.contains(method) {
            return method_not_allowed(&endpoint.allowed());
        }
        let mut response = match endpoint.handler {
            Handler::Metadata => {
                let mut response =
                    json_response(StatusCode::OK, &Metadata::new(&self.config().issuer));
                cache_for(&mut response, 3600);
                response
            }
            Handler::Jwks => self.jwks(cx).await.unwrap_or_else(OAuthError::into_response),
            Handler::Token => crate::flow::token(self, request, cx)
                .await
                .unwrap_or_else(OAuthError::into_response),
            Handler::Admin => not_found(),
        };
        if endpoint.cors == Cors::Any {
            cors_any(&mut response);
        }
        response
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
