//! Authorization server metadata (RFC 8414) and OpenID Provider metadata
//! (OpenID Connect Discovery 1.0 section 3).
//!
//! Only what is implemented is advertised: a client that trusts this document must
//! never be sent to an endpoint or method that does not exist. The endpoints come
//! from the table of endpoints and the grant types from the token endpoint's.

use serde::Serialize;

use crate::endpoints::{Handler, JWKS_PATH, TOKEN_PATH, path_of};
use crate::flow::SERVED_GRANTS;
use crate::types::{IssuerUrl, MANAGEMENT_SCOPES};

/// The metadata document.
#[derive(Debug, Clone, Serialize)]
pub struct Metadata {
    issuer: String,
    token_endpoint: String,
    jwks_uri: String,
    scopes_supported: Vec<&'static str>,
    response_types_supported: Vec<&'static str>,
    grant_types_supported: Vec<&'static str>,
    token_endpoint_auth_methods_supported: Vec<&'static str>,
    token_endpoint_auth_signing_alg_values_supported: Vec<&'static str>,
    subject_types_supported: Vec<&'static str>,
    id_token_signing_alg_values_supported: Vec<&'static str>,
}

impl Metadata {
    /// The metadata of an issuer at `issuer`.
    #[must_use]
    pub fn new(issuer: &IssuerUrl) -> Self {
        Self {
            issuer: issuer.as_str().to_owned(),
            token_endpoint: issuer.endpoint(path_of(Handler::Token).unwrap_or(TOKEN_PATH)),
            jwks_uri: issuer.endpoint(path_of(Handler::Jwks).unwrap_or(JWKS_PATH)),
            scopes_supported: MANAGEMENT_SCOPES.to_vec(),
            // No authorization endpoint is served yet, so no response type is.
            response_types_supported: Vec::new(),
            grant_types_supported: SERVED_GRANTS.iter().map(|g| g.as_str()).collect(),
            token_endpoint_auth_methods_supported: vec![
                "client_secret_basic",
                "client_secret_post",
                "client_secret_jwt",
                "private_key_jwt",
            ],
            token_endpoint_auth_signing_alg_values_supported: vec!["HS256", "ES256", "RS256"],
            subject_types_supported: vec!["public"],
            id_token_signing_alg_values_supported: vec!["RS256", "ES256"],
        }
    }
}
