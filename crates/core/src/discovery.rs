//! Authorization server metadata (RFC 8414) and OpenID Provider metadata
//! (OpenID Connect Discovery 1.0 section 3).
//!
//! Only what is implemented is advertised: a client that trusts this document must
//! never be sent to an endpoint or method that does not exist. The endpoints come
//! from the table of endpoints and the grant types from the token endpoint's.

use serde::Serialize;

use crate::endpoints::{
    AUTHORIZE_PATH, DEVICE_AUTHORIZATION_PATH, Handler, INTROSPECT_PATH, JWKS_PATH, LOGOUT_PATH,
    REVOKE_PATH, TOKEN_PATH, USERINFO_PATH, path_of,
};
use crate::flow::{Prompt, ResponseMode, SERVED_GRANTS};
use crate::model::scope::OIDC_SCOPES;
use crate::pages::Locale;
use crate::token::SCOPE_CLAIMS;
use crate::types::{IssuerUrl, MANAGEMENT_SCOPES};

/// The metadata document.
#[derive(Debug, Clone, Serialize)]
pub struct Metadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    userinfo_endpoint: String,
    jwks_uri: String,
    revocation_endpoint: String,
    introspection_endpoint: String,
    end_session_endpoint: String,
    device_authorization_endpoint: String,
    scopes_supported: Vec<&'static str>,
    response_types_supported: Vec<&'static str>,
    response_modes_supported: Vec<&'static str>,
    grant_types_supported: Vec<&'static str>,
    token_endpoint_auth_methods_supported: Vec<&'static str>,
    token_endpoint_auth_signing_alg_values_supported: Vec<&'static str>,
    revocation_endpoint_auth_methods_supported: Vec<&'static str>,
    introspection_endpoint_auth_methods_supported: Vec<&'static str>,
    code_challenge_methods_supported: Vec<&'static str>,
    subject_types_supported: Vec<&'static str>,
    id_token_signing_alg_values_supported: Vec<&'static str>,
    claims_supported: Vec<&'static str>,
    acr_values_supported: Vec<&'static str>,
    prompt_values_supported: Vec<&'static str>,
    ui_locales_supported: Vec<&'static str>,
    claims_parameter_supported: bool,
    request_parameter_supported: bool,
    request_uri_parameter_supported: bool,
    authorization_response_iss_parameter_supported: bool,
}

/// The client authentication methods of the token, revocation and introspection
/// endpoints.
const AUTH_METHODS: [&str; 5] =
    ["client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt", "none"];

impl Metadata {
    /// The metadata of an issuer at `issuer`.
    #[must_use]
    pub fn new(issuer: &IssuerUrl) -> Self {
        let url = |handler: Handler, fallback: &str| {
            issuer.endpoint(path_of(handler).unwrap_or(fallback))
        };
        let mut scopes = OIDC_SCOPES.to_vec();
        scopes.extend_from_slice(MANAGEMENT_SCOPES);
        let mut claims = vec![
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "azp",
            "at_hash",
            "sid",
            "amr",
            "acr",
        ];
        for (_, names) in SCOPE_CLAIMS {
            claims.extend_from_slice(names);
        }
        Self {
            issuer: issuer.as_str().to_owned(),
            authorization_endpoint: url(Handler::Authorize, AUTHORIZE_PATH),
            token_endpoint: url(Handler::Token, TOKEN_PATH),
            userinfo_endpoint: url(Handler::Userinfo, USERINFO_PATH),
            jwks_uri: url(Handler::Jwks, JWKS_PATH),
            revocation_endpoint: url(Handler::Revoke, REVOKE_PATH),
            introspection_endpoint: url(Handler::Introspect, INTROSPECT_PATH),
            end_session_endpoint: url(Handler::Logout, LOGOUT_PATH),
            device_authorization_endpoint: url(
                Handler::DeviceAuthorization,
                DEVICE_AUTHORIZATION_PATH,
            ),
            scopes_supported: scopes,
            response_types_supported: vec!["code"],
            response_modes_supported: ResponseMode::ALL.iter().map(|(name, _)| *name).collect(),
            grant_types_supported: SERVED_GRANTS.iter().map(|g| g.as_str()).collect(),
            token_endpoint_auth_methods_supported: AUTH_METHODS.to_vec(),
            token_endpoint_auth_signing_alg_values_supported: vec!["HS256", "ES256", "RS256"],
            revocation_endpoint_auth_methods_supported: AUTH_METHODS.to_vec(),
            introspection_endpoint_auth_methods_supported: AUTH_METHODS.to_vec(),
            code_challenge_methods_supported: vec!["S256"],
            subject_types_supported: vec!["public"],
            id_token_signing_alg_values_supported: vec!["RS256", "ES256"],
            claims_supported: claims,
            acr_values_supported: crate::session::ACR_VALUES.to_vec(),
            prompt_values_supported: Prompt::VALUES.to_vec(),
            ui_locales_supported: Locale::ALL.iter().map(|l| l.tag()).collect(),
            claims_parameter_supported: true,
            request_parameter_supported: false,
            request_uri_parameter_supported: false,
            authorization_response_iss_parameter_supported: true,
        }
    }
}
