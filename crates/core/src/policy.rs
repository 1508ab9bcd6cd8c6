//! App types and the rules each one brings: which grants, response types and client
//! authentication methods are allowed, what is the default, and whether PKCE is
//! required. The type sets the defaults and bounds; an administrator chooses within
//! them, and anything outside is refused with the field named.

use serde::{Deserialize, Serialize};

/// The kind of application (DESIGN, "Features the reference texts ask for").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppType {
    /// A single-page app: public, PKCE required, code + refresh.
    Spa,
    /// A regular web app with a server side: confidential, code + refresh.
    Web,
    /// A mobile or desktop app: public, PKCE required, custom schemes and loopback redirects.
    Native,
    /// A server-to-server client: confidential, client credentials only.
    S2s,
    /// An input-constrained device: device code + refresh.
    Device,
    /// A password-only client using the simplified login API (and, to continue an
    /// authorization request, its authenticate step).
    Simplified,
}

/// A grant type (RFC 6749, RFC 8628).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum GrantType {
    /// `authorization_code`.
    #[serde(rename = "authorization_code")]
    AuthorizationCode,
    /// `refresh_token`.
    #[serde(rename = "refresh_token")]
    RefreshToken,
    /// `client_credentials`.
    #[serde(rename = "client_credentials")]
    ClientCredentials,
    /// `urn:ietf:params:oauth:grant-type:device_code`.
    #[serde(rename = "urn:ietf:params:oauth:grant-type:device_code")]
    DeviceCode,
    /// `password`: a simplified app's login API, and the resource owner password
    /// grant of the apps that allow it.
    #[serde(rename = "password")]
    Password,
    /// `implicit`, only when explicitly enabled for a browser app.
    #[serde(rename = "implicit")]
    Implicit,
}

impl GrantType {
    /// Every grant type, in the order discovery lists them.
    pub const ALL: [Self; 6] = [
        Self::AuthorizationCode,
        Self::RefreshToken,
        Self::ClientCredentials,
        Self::DeviceCode,
        Self::Password,
        Self::Implicit,
    ];

    /// The `grant_type` value.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
            Self::DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
            Self::Password => "password",
            Self::Implicit => "implicit",
        }
    }

    /// The grant type a `grant_type` value names, if any.
    #[must_use]
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == value)
    }
}

/// A response type: `code`, `token`, `id_token` and their hybrid combinations
/// (OAuth 2.0 Multiple Response Type Encoding Practices).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ResponseType {
    /// `code`.
    #[serde(rename = "code")]
    Code,
    /// `token` (implicit).
    #[serde(rename = "token")]
    Token,
    /// `id_token` (implicit).
    #[serde(rename = "id_token")]
    IdToken,
    /// `id_token token` (implicit).
    #[serde(rename = "id_token token")]
    IdTokenToken,
    /// `code id_token` (hybrid).
    #[serde(rename = "code id_token")]
    CodeIdToken,
    /// `code token` (hybrid).
    #[serde(rename = "code token")]
    CodeToken,
    /// `code id_token token` (hybrid).
    #[serde(rename = "code id_token token")]
    CodeIdTokenToken,
}

impl ResponseType {
    /// Whether the response type returns tokens from the authorization endpoint
    /// (implicit or hybrid), which needs the `implicit` grant enabled.
    #[must_use]
    pub const fn is_front_channel_token(self) -> bool {
        !matches!(self, Self::Code)
    }
}

/// A token endpoint authentication method (RFC 7591 section 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenEndpointAuthMethod {
    /// A public client: no authentication.
    None,
    /// HTTP Basic with the client secret.
    ClientSecretBasic,
    /// The client secret in the form body.
    ClientSecretPost,
    /// A JWT signed with the client secret (RFC 7523); the secret is kept sealed.
    ClientSecretJwt,
    /// A JWT signed with the client's private key (RFC 7523), checked against its JWKS.
    PrivateKeyJwt,
}

impl TokenEndpointAuthMethod {
    /// The registered name (RFC 7591 section 2).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::ClientSecretJwt => "client_secret_jwt",
            Self::PrivateKeyJwt => "private_key_jwt",
        }
    }

    /// Whether the method uses a client secret.
    #[must_use]
    pub const fn uses_secret(self) -> bool {
        matches!(self, Self::ClientSecretBasic | Self::ClientSecretPost | Self::ClientSecretJwt)
    }
}

/// The rules of one app type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypeRules {
    /// Grants an app of this type may have.
    pub grants: &'static [GrantType],
    /// Grants it gets when none are given.
    pub default_grants: &'static [GrantType],
    /// Authentication methods it may use.
    pub auth_methods: &'static [TokenEndpointAuthMethod],
    /// The method it gets when none is given.
    pub default_auth_method: TokenEndpointAuthMethod,
    /// Whether it redirects through the authorization endpoint (and so needs redirect URIs).
    pub interactive: bool,
    /// Whether every authorization request must carry PKCE.
    pub pkce_required: bool,
    /// Whether custom-scheme and any-port loopback redirect URIs are allowed (RFC 8252).
    pub native_redirects: bool,
    /// Whether refresh tokens are on by default.
    pub refresh_by_default: bool,
}

use GrantType as G;
use TokenEndpointAuthMethod as M;

const SECRET_METHODS: &[M] =
    &[M::ClientSecretBasic, M::ClientSecretPost, M::ClientSecretJwt, M::PrivateKeyJwt];

impl AppType {
    /// The rules this type brings.
    #[must_use]
    pub const fn rules(self) -> TypeRules {
        match self {
            Self::Spa => TypeRules {
                grants: &[G::AuthorizationCode, G::RefreshToken, G::Implicit],
                default_grants: &[G::AuthorizationCode, G::RefreshToken],
                auth_methods: &[M::None],
                default_auth_method: M::None,
                interactive: true,
                pkce_required: true,
                native_redirects: false,
                refresh_by_default: true,
            },
            Self::Web => TypeRules {
                grants: &[G::AuthorizationCode, G::RefreshToken, G::Implicit],
                default_grants: &[G::AuthorizationCode, G::RefreshToken],
                auth_methods: SECRET_METHODS,
                default_auth_method: M::ClientSecretBasic,
                interactive: true,
                pkce_required: false,
                native_redirects: false,
                refresh_by_default: true,
            },
            Self::Native => TypeRules {
                grants: &[G::AuthorizationCode, G::RefreshToken],
                default_grants: &[G::AuthorizationCode, G::RefreshToken],
                auth_methods: &[M::None],
                default_auth_method: M::None,
                interactive: true,
                pkce_required: true,
                native_redirects: true,
                refresh_by_default: true,
            },
            Self::S2s => TypeRules {
                grants: &[G::ClientCredentials],
                default_grants: &[G::ClientCredentials],
                auth_methods: SECRET_METHODS,
                default_auth_method: M::ClientSecretBasic,
                interactive: false,
                pkce_required: false,
                native_redirects: false,
                refresh_by_default: false,
            },
            Self::Device => TypeRules {
                grants: &[G::DeviceCode, G::RefreshToken],
                default_grants: &[G::DeviceCode, G::RefreshToken],
                auth_methods: &[M::None, M::ClientSecretBasic, M::ClientSecretPost],
                default_auth_method: M::None,
                interactive: false,
                pkce_required: false,
                native_redirects: false,
                refresh_by_default: true,
            },
            Self::Simplified => TypeRules {
                grants: &[G::Password, G::AuthorizationCode, G::RefreshToken],
                default_grants: &[G::Password],
                auth_methods: &[M::ClientSecretBasic, M::ClientSecretPost],
                default_auth_method: M::ClientSecretBasic,
                interactive: false,
                pkce_required: false,
                native_redirects: false,
                refresh_by_default: false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_type_names_match_their_serialized_form() {
        for grant in GrantType::ALL {
            let json = serde_json::to_value(grant).unwrap();
            assert_eq!(json.as_str(), Some(grant.as_str()));
            assert_eq!(GrantType::parse(grant.as_str()), Some(grant));
        }
        assert_eq!(GrantType::parse("Client_Credentials"), None);
    }

    #[test]
    fn public_types_cannot_hold_secrets() {
        for t in [AppType::Spa, AppType::Native] {
            assert_eq!(t.rules().auth_methods, &[M::None]);
            assert!(t.rules().pkce_required);
        }
    }

    #[test]
    fn s2s_is_client_credentials_only() {
        assert_eq!(AppType::S2s.rules().grants, &[G::ClientCredentials]);
        assert!(!AppType::S2s.rules().interactive);
    }

    #[test]
    fn defaults_are_allowed() {
        for t in [
            AppType::Spa,
            AppType::Web,
            AppType::Native,
            AppType::S2s,
            AppType::Device,
            AppType::Simplified,
        ] {
            let rules = t.rules();
            assert!(rules.default_grants.iter().all(|g| rules.grants.contains(g)), "{t:?}");
            assert!(rules.auth_methods.contains(&rules.default_auth_method), "{t:?}");
        }
    }

    #[test]
    fn wire_names() {
        assert_eq!(
            serde_json::to_string(&G::DeviceCode).unwrap(),
            "\"urn:ietf:params:oauth:grant-type:device_code\""
        );
        assert_eq!(
            serde_json::to_string(&ResponseType::CodeIdTokenToken).unwrap(),
            "\"code id_token token\""
        );
        assert_eq!(serde_json::to_string(&AppType::S2s).unwrap(), "\"s2s\"");
    }
}
