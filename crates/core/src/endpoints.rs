//! The issuer's endpoints as one table: path, methods, CORS policy and handler.
//! The router dispatches through it ([`crate::router`]) and discovery lists it
//! ([`crate::discovery`]), so nothing is advertised that is not served.

use http::Method;

/// The token endpoint path under the issuer.
pub const TOKEN_PATH: &str = "/token";
/// The authorization endpoint path.
pub const AUTHORIZE_PATH: &str = "/authorize";
/// Where the hosted login form posts.
pub const LOGIN_PATH: &str = "/login";
/// Where the hosted second-factor forms post.
pub const MFA_PATH: &str = "/login/mfa";
/// Where the hosted registration form posts ("Create account" on the login page).
pub const REGISTER_PATH: &str = "/register";
/// Where the registration's email code is posted.
pub const REGISTER_VERIFY_PATH: &str = "/register/verify";
/// Where the hosted consent form posts.
pub const CONSENT_PATH: &str = "/consent";
/// Where the hosted consent policy form posts.
pub const POLICY_CONSENT_PATH: &str = "/consent/policy";
/// Where the login page's upstream provider buttons post.
pub const UPSTREAM_START_PATH: &str = "/upstream/start";
/// Where upstream providers send the browser back (the `redirect_uri` registered
/// with them).
pub const UPSTREAM_CALLBACK_PATH: &str = "/upstream/callback";
/// The userinfo endpoint path.
pub const USERINFO_PATH: &str = "/userinfo";
/// The revocation endpoint path.
pub const REVOKE_PATH: &str = "/revoke";
/// The introspection endpoint path.
pub const INTROSPECT_PATH: &str = "/introspect";
/// The end-session (logout) endpoint path.
pub const LOGOUT_PATH: &str = "/logout";
/// The device authorization endpoint path (RFC 8628 section 3.1).
pub const DEVICE_AUTHORIZATION_PATH: &str = "/device_authorization";
/// The device page, where the user enters the user code (the verification URI).
pub const DEVICE_PATH: &str = "/device";
/// The simplified login API's stateless token call.
pub const SIMPLELOGIN_TOKEN_PATH: &str = "/simplelogin/api/v1/token";
/// The simplified login API's step that continues an authorization request.
pub const SIMPLELOGIN_AUTHENTICATE_PATH: &str = "/simplelogin/api/v1/authenticate";
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
    /// The handler decides per request (the token endpoint: the origins the
    /// authenticated app registered); preflights are answered for any origin.
    Handler,
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
    /// The authorization endpoint (RFC 6749 section 3.1).
    Authorize,
    /// The hosted login form's target.
    Login,
    /// The hosted second-factor forms' target.
    Mfa,
    /// The registration form's target.
    Register,
    /// The registration code's target.
    RegisterVerify,
    /// The hosted consent form's target.
    Consent,
    /// The hosted consent policy form's target.
    PolicyConsent,
    /// The login page's upstream provider buttons.
    UpstreamStart,
    /// The upstream providers' answers.
    UpstreamCallback,
    /// The userinfo endpoint (OpenID Connect Core section 5.3).
    Userinfo,
    /// Token revocation (RFC 7009).
    Revoke,
    /// Token introspection (RFC 7662).
    Introspect,
    /// RP-initiated logout (the end-session endpoint).
    Logout,
    /// The device authorization endpoint (RFC 8628).
    DeviceAuthorization,
    /// The device page (user code entry).
    Device,
    /// The simplified login API's token call.
    SimpleToken,
    /// The simplified login API's authenticate step.
    SimpleAuthenticate,
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
const GET_POST: &[Method] = &[Method::GET, Method::HEAD, Method::POST];
const POST: &[Method] = &[Method::POST];

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
        methods: POST,
        cors: Cors::Handler,
        handler: Handler::Token,
    },
    // Pages the browser navigates to: no cross-origin reads, ever.
    Endpoint {
        path: AUTHORIZE_PATH,
        subtree: false,
        methods: GET_POST,
        cors: Cors::None,
        handler: Handler::Authorize,
    },
    Endpoint {
        path: LOGIN_PATH,
        subtree: false,
        methods: POST,
        cors: Cors::None,
        handler: Handler::Login,
    },
    Endpoint {
        path: MFA_PATH,
        subtree: false,
        methods: POST,
        cors: Cors::None,
        handler: Handler::Mfa,
    },
    Endpoint {
        path: REGISTER_PATH,
        subtree: false,
        methods: POST,
        cors: Cors::None,
        handler: Handler::Register,
    },
    Endpoint {
        path: REGISTER_VERIFY_PATH,
        subtree: false,
        methods: POST,
        cors: Cors::None,
        handler: Handler::RegisterVerify,
    },
    Endpoint {
        path: CONSENT_PATH,
        subtree: false,
        methods: POST,
        cors: Cors::None,
        handler: Handler::Consent,
    },
    Endpoint {
        path: POLICY_CONSENT_PATH,
        subtree: false,
        methods: POST,
        cors: Cors::None,
        handler: Handler::PolicyConsent,
    },
    Endpoint {
        path: UPSTREAM_START_PATH,
        subtree: false,
        methods: POST,
        cors: Cors::None,
        handler: Handler::UpstreamStart,
    },
    Endpoint {
        path: UPSTREAM_CALLBACK_PATH,
        subtree: false,
        methods: GET,
        cors: Cors::None,
        handler: Handler::UpstreamCallback,
    },
    // Bearer-token APIs a browser app calls with the token it holds (no cookies).
    Endpoint {
        path: USERINFO_PATH,
        subtree: false,
        methods: GET_POST,
        cors: Cors::Any,
        handler: Handler::Userinfo,
    },
    Endpoint {
        path: REVOKE_PATH,
        subtree: false,
        methods: POST,
        cors: Cors::Any,
        handler: Handler::Revoke,
    },
    Endpoint {
        path: INTROSPECT_PATH,
        subtree: false,
        methods: POST,
        cors: Cors::None,
        handler: Handler::Introspect,
    },
    // The simplified login API: called by an app's server, never read cross-origin.
    Endpoint {
        path: SIMPLELOGIN_TOKEN_PATH,
        subtree: false,
        methods: POST,
        cors: Cors::None,
        handler: Handler::SimpleToken,
    },
    Endpoint {
        path: SIMPLELOGIN_AUTHENTICATE_PATH,
        subtree: false,
        methods: POST,
        cors: Cors::None,
        handler: Handler::SimpleAuthenticate,
    },
    Endpoint {
        path: DEVICE_AUTHORIZATION_PATH,
        subtree: false,
        methods: POST,
        cors: Cors::None,
        handler: Handler::DeviceAuthorization,
    },
    Endpoint {
        path: DEVICE_PATH,
        subtree: false,
        methods: GET_POST,
        cors: Cors::None,
        handler: Handler::Device,
    },
    Endpoint {
        path: LOGOUT_PATH,
        subtree: false,
        methods: GET_POST,
        cors: Cors::None,
        handler: Handler::Logout,
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
