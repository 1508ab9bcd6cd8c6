//! The relying party: the client side of OpenID Connect's authorization code flow
//! with PKCE, sans-I/O. The browser package drives it; anyone signing users in with
//! Gatehouse from Rust can too.
//!
//! Every protocol decision a single-page app needs is made here, so the host (the
//! browser package's glue) only fetches, stores and navigates:
//!
//! | step | here |
//! | --- | --- |
//! | read the browser package's options | [`ClientConfig::from_options_json`], [`login::LoginOptions::from_options_json`] |
//! | read the issuer's metadata, refusing another issuer's | [`ProviderMetadata::parse`] |
//! | start a login: PKCE S256, `state`, `nonce`, the authorize URL | [`login::begin`] |
//! | read the callback: `state`, RFC 9207 `iss`, the code or the error | [`login::Callback`] |
//! | the token requests | [`login::code_exchange_form`], [`tokens::refresh_form`] |
//! | read the token response and check the ID token in full | [`tokens::TokenResponse`], [`tokens::Session`] |
//! | when to renew, when to refetch the JWKS | [`tokens::Session::access_token_fresh`], [`tokens::may_refetch_jwks`] |
//! | RP-initiated logout | [`logout_url`] |
//!
//! Secure by default: `state` and `nonce` are single use and compared in constant
//! time, the PKCE verifier never leaves the host, the ID token's signature, `typ`,
//! `iss`, `aud`, `azp`, `exp`, `iat`, `nonce`, `at_hash` (and `auth_time` when a
//! `max_age` was asked) are all checked, with no switch to turn a check off.

pub mod login;
mod options;
pub mod tokens;

use serde::Deserialize;

use crate::http::encode_pairs;
use crate::json;
use crate::types::IssuerUrl;
use crate::verify::VerifyError;

/// Why the relying party refused something. [`Self::code`] is what the browser
/// package puts in an error's `code`; [`Self::fmt`](std::fmt::Display) is a
/// message a developer can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RpError {
    /// The client's own configuration is unusable (`invalid_config`).
    Config(&'static str),
    /// The issuer's metadata is unusable or names another issuer (`discovery_failed`).
    Discovery(&'static str),
    /// The callback's `state` belongs to no login this client started, or was used
    /// already (`state_mismatch`).
    State,
    /// The login this callback answers was started too long ago (`login_expired`).
    Expired,
    /// The callback's `iss` names another issuer, or is missing where the issuer
    /// promised it (`issuer_mismatch`, RFC 9207).
    Issuer,
    /// The callback carries neither a code nor an error (`invalid_callback`).
    Callback,
    /// The issuer answered with an OAuth error: its `error` is the code.
    Server {
        /// The OAuth `error` code.
        error: String,
        /// The `error_description`, if any.
        description: Option<String>,
    },
    /// The token response is not one (`invalid_token_response`).
    TokenResponse(&'static str),
    /// The ID token failed a check (`invalid_id_token`).
    IdToken(VerifyError),
    /// A renewed ID token names another user, issuer or client than the session's
    /// (`invalid_id_token`, OpenID Connect Core section 12.2).
    IdTokenChanged,
}

impl RpError {
    /// The `code` a host reports: the OAuth `error` for the issuer's refusals, a
    /// name of the failed check otherwise.
    #[must_use]
    pub fn code(&self) -> &str {
        match self {
            Self::Config(_) => "invalid_config",
            Self::Discovery(_) => "discovery_failed",
            Self::State => "state_mismatch",
            Self::Expired => "login_expired",
            Self::Issuer => "issuer_mismatch",
            Self::Callback => "invalid_callback",
            Self::Server { error, .. } => error,
            Self::TokenResponse(_) => "invalid_token_response",
            Self::IdToken(_) | Self::IdTokenChanged => "invalid_id_token",
        }
    }
}

impl RpError {
    /// The message [`Display`](std::fmt::Display) writes, built without the
    /// formatting machinery (which the browser package leaves out).
    #[must_use]
    pub fn message(&self) -> String {
        let parts: [&str; 2] = match self {
            Self::Config(why) => ["invalid client configuration: ", why],
            Self::Discovery(why) => ["unusable issuer metadata: ", why],
            Self::State => [
                "the callback's state matches no login started here (replayed, forged, or \
                 started in another browser)",
                "",
            ],
            Self::Expired => ["the login was started too long ago; start it again", ""],
            Self::Issuer => [
                "the callback's iss is not the configured issuer (a mix-up attempt, or a \
                 misconfigured issuer)",
                "",
            ],
            Self::Callback => ["the callback URL carries neither a code nor an error", ""],
            Self::Server { error, description: Some(d) } => return [error, ": ", d].concat(),
            Self::Server { error, description: None } => ["the issuer answered ", error],
            Self::TokenResponse(why) => ["unusable token response: ", why],
            Self::IdToken(why) => ["ID token refused: ", why.as_str()],
            Self::IdTokenChanged => {
                ["ID token refused: the renewed token names another user, issuer or client", ""]
            }
        };
        parts.concat()
    }
}

impl std::fmt::Display for RpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for RpError {}

/// How long a started login may wait for its callback (10 minutes).
pub const LOGIN_LIFETIME_SECS: u64 = 600;

/// What the client is: its issuer, id, redirect URI and the scope it asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    issuer: IssuerUrl,
    client_id: String,
    redirect_uri: String,
    scope: String,
    post_logout_redirect_uri: Option<String>,
    leeway_secs: u64,
}

impl ClientConfig {
    /// A client of `issuer`. `scope` always includes `openid` (added when missing);
    /// the leeway for the ID token's times is 60 s.
    ///
    /// # Errors
    ///
    /// [`RpError::Config`] naming the unusable value.
    pub fn new(
        issuer: &str,
        client_id: &str,
        redirect_uri: &str,
        scope: &str,
    ) -> Result<Self, RpError> {
        let issuer =
            IssuerUrl::new(issuer).map_err(|_| RpError::Config("issuer must be an https URL"))?;
        if client_id.is_empty() {
            return Err(RpError::Config("clientId is empty"));
        }
        if !is_web_url(redirect_uri) {
            return Err(RpError::Config("redirectUri must be an absolute http(s) URL"));
        }
        let mut words: Vec<&str> = scope.split(' ').filter(|w| !w.is_empty()).collect();
        if !words.contains(&"openid") {
            words.insert(0, "openid");
        }
        Ok(Self {
            issuer,
            client_id: client_id.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
            scope: words.join(" "),
            post_logout_redirect_uri: None,
            leeway_secs: 60,
        })
    }

    /// Where the issuer sends the browser back after logout.
    ///
    /// # Errors
    ///
    /// [`RpError::Config`] when it is not an absolute http(s) URL.
    pub fn with_post_logout_redirect_uri(mut self, uri: &str) -> Result<Self, RpError> {
        if !is_web_url(uri) {
            return Err(RpError::Config("postLogoutRedirectUri must be an absolute http(s) URL"));
        }
        self.post_logout_redirect_uri = Some(uri.to_owned());
        Ok(self)
    }

    /// Clock-skew leeway for the ID token's `exp` and `iat`, capped at
    /// [`MAX_LEEWAY_SECS`](crate::verify::MAX_LEEWAY_SECS).
    #[must_use]
    pub fn with_leeway(mut self, secs: u64) -> Self {
        self.leeway_secs = secs.min(crate::verify::MAX_LEEWAY_SECS);
        self
    }

    /// The issuer.
    #[must_use]
    pub fn issuer(&self) -> &str {
        self.issuer.as_str()
    }

    /// The client id.
    #[must_use]
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The scope asked for, `openid` included.
    #[must_use]
    pub fn scope(&self) -> &str {
        &self.scope
    }

    /// The discovery document's URL (OpenID Connect Discovery section 4).
    #[must_use]
    pub fn discovery_url(&self) -> String {
        self.issuer.endpoint("/.well-known/openid-configuration")
    }
}

/// Whether `value` is an absolute `http`/`https` URL with a host.
fn is_web_url(value: &str) -> bool {
    crate::types::WebUrl::split(value).is_some()
}

/// What the client needs from the issuer's discovery document.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ProviderMetadata {
    /// The issuer, exactly as its tokens name it.
    pub issuer: String,
    /// Where logins start.
    pub authorization_endpoint: String,
    /// Where codes and refresh tokens are redeemed.
    pub token_endpoint: String,
    /// The issuer's public keys.
    pub jwks_uri: String,
    /// RP-initiated logout, if offered.
    #[serde(default)]
    pub end_session_endpoint: Option<String>,
    /// Whether every authorization response carries `iss` (RFC 9207): then a
    /// callback without one is refused.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
    /// The response modes offered (silent login needs `web_message`).
    #[serde(default)]
    pub response_modes_supported: Vec<String>,
}

impl json::Read for ProviderMetadata {
    fn read(r: &mut json::Reader<'_>) -> json::Result<Self> {
        let (mut issuer, mut authorization_endpoint, mut token_endpoint) = (None, None, None);
        let (mut jwks_uri, mut end_session_endpoint) = (None, None);
        let (mut iss_parameter, mut response_modes) = (None, None);
        r.object(&mut |r, key| match key {
            "issuer" => json::once(&mut issuer, String::read(r)?),
            "authorization_endpoint" => json::once(&mut authorization_endpoint, String::read(r)?),
            "token_endpoint" => json::once(&mut token_endpoint, String::read(r)?),
            "jwks_uri" => json::once(&mut jwks_uri, String::read(r)?),
            "end_session_endpoint" => json::once(&mut end_session_endpoint, Option::read(r)?),
            "authorization_response_iss_parameter_supported" => {
                json::once(&mut iss_parameter, bool::read(r)?)
            }
            "response_modes_supported" => json::once(&mut response_modes, Vec::read(r)?),
            _ => r.skip(),
        })?;
        Ok(Self {
            issuer: issuer.ok_or(json::Invalid)?,
            authorization_endpoint: authorization_endpoint.ok_or(json::Invalid)?,
            token_endpoint: token_endpoint.ok_or(json::Invalid)?,
            jwks_uri: jwks_uri.ok_or(json::Invalid)?,
            end_session_endpoint: end_session_endpoint.flatten(),
            authorization_response_iss_parameter_supported: iss_parameter.unwrap_or(false),
            response_modes_supported: response_modes.unwrap_or_default(),
        })
    }
}

impl ProviderMetadata {
    /// Reads a discovery document and checks it belongs to the configured issuer
    /// (OpenID Connect Discovery section 4.3) and that its endpoints are on the same
    /// scheme as the issuer.
    ///
    /// # Errors
    ///
    /// [`RpError::Discovery`] naming what is wrong.
    pub fn parse(config: &ClientConfig, json: &str) -> Result<Self, RpError> {
        let meta: Self = json::from_slice(json.as_bytes())
            .map_err(|_| RpError::Discovery("not a discovery document"))?;
        if meta.issuer.strip_suffix('/').unwrap_or(&meta.issuer) != config.issuer() {
            return Err(RpError::Discovery("its issuer is not the configured issuer"));
        }
        let https = config.issuer().starts_with("https:");
        let endpoints = [
            Some(&meta.authorization_endpoint),
            Some(&meta.token_endpoint),
            Some(&meta.jwks_uri),
            meta.end_session_endpoint.as_ref(),
        ];
        for endpoint in endpoints.into_iter().flatten() {
            if !is_web_url(endpoint) || (https && !endpoint.starts_with("https:")) {
                return Err(RpError::Discovery("an endpoint is not a URL on the issuer's scheme"));
            }
        }
        Ok(meta)
    }

    /// Whether silent login through `response_mode=web_message` is offered.
    #[must_use]
    pub fn supports_web_message(&self) -> bool {
        self.response_modes_supported.iter().any(|m| m == "web_message")
    }
}

/// `base` with `pairs` appended to its query.
fn with_query<'a>(base: &str, pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let separator = if base.contains('?') { "&" } else { "?" };
    [base, separator, &encode_pairs(pairs)].concat()
}

/// The RP-initiated logout URL (OpenID Connect RP-Initiated Logout 1.0 section 2),
/// or `None` when the issuer offers none (then only local state is cleared).
#[must_use]
pub fn logout_url(
    meta: &ProviderMetadata,
    config: &ClientConfig,
    id_token_hint: Option<&str>,
) -> Option<String> {
    let endpoint = meta.end_session_endpoint.as_deref()?;
    let mut pairs = vec![("client_id", config.client_id.as_str())];
    if let Some(hint) = id_token_hint {
        pairs.push(("id_token_hint", hint));
    }
    if let Some(uri) = &config.post_logout_redirect_uri {
        pairs.push(("post_logout_redirect_uri", uri));
    }
    Some(with_query(endpoint, pairs))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const ISSUER: &str = "https://id.example.com";

    pub(crate) fn config() -> ClientConfig {
        ClientConfig::new(ISSUER, "spa", "https://app.example.com/cb", "profile offline_access")
            .unwrap()
    }

    pub(crate) fn metadata() -> ProviderMetadata {
        ProviderMetadata::parse(
            &config(),
            r#"{"issuer":"https://id.example.com",
                "authorization_endpoint":"https://id.example.com/authorize",
                "token_endpoint":"https://id.example.com/token",
                "jwks_uri":"https://id.example.com/jwks.json",
                "end_session_endpoint":"https://id.example.com/logout",
                "authorization_response_iss_parameter_supported":true,
                "response_modes_supported":["query","web_message"]}"#,
        )
        .unwrap()
    }

    #[test]
    fn openid_is_always_asked_for() {
        assert_eq!(config().scope(), "openid profile offline_access");
        let c = ClientConfig::new(ISSUER, "spa", "https://a.example/cb", "openid email").unwrap();
        assert_eq!(c.scope(), "openid email");
    }

    #[test]
    fn bad_configuration_is_named() {
        let err =
            ClientConfig::new("http://id.example.com", "spa", "https://a/cb", "").unwrap_err();
        assert_eq!(err.code(), "invalid_config");
        assert!(ClientConfig::new(ISSUER, "", "https://a/cb", "").is_err());
        assert!(ClientConfig::new(ISSUER, "spa", "/cb", "").is_err());
        assert!(config().with_post_logout_redirect_uri("javascript:alert(1)").is_err());
    }

    #[test]
    fn metadata_of_another_issuer_is_refused() {
        let json = r#"{"issuer":"https://evil.example.com","authorization_endpoint":"https://e/a",
            "token_endpoint":"https://e/t","jwks_uri":"https://e/j"}"#;
        assert_eq!(
            ProviderMetadata::parse(&config(), json),
            Err(RpError::Discovery("its issuer is not the configured issuer"))
        );
        let downgraded = r#"{"issuer":"https://id.example.com","authorization_endpoint":"https://e/a",
            "token_endpoint":"http://e/t","jwks_uri":"https://e/j"}"#;
        assert!(ProviderMetadata::parse(&config(), downgraded).is_err());
        assert!(ProviderMetadata::parse(&config(), "[]").is_err());
        assert!(metadata().supports_web_message());
    }

    #[test]
    fn logout_url_carries_the_hint_and_the_return_address() {
        let config = config().with_post_logout_redirect_uri("https://app.example.com/").unwrap();
        assert_eq!(
            logout_url(&metadata(), &config, Some("a.b.c")).unwrap(),
            "https://id.example.com/logout?client_id=spa&id_token_hint=a.b.c&\
             post_logout_redirect_uri=https%3A%2F%2Fapp.example.com%2F"
        );
        let mut meta = metadata();
        meta.end_session_endpoint = None;
        assert_eq!(logout_url(&meta, &config, None), None);
    }
}
