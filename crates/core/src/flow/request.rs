//! The validated authorization request and what travels with it: the parameters
//! of `/authorize` as types, the user who signed in, and the check of an
//! `id_token_hint`. Shared by the authorization endpoint, the hosted steps, the
//! code and device grants and logout.

use serde::{Deserialize, Serialize};

use crate::engine::Engine;
use crate::error::OAuthError;
use crate::pages::Locale;
use crate::platform::Platform;
use crate::types::{ScopeSet, UnixTime};
use crate::verify::{IdTokenClaims, IdTokenPolicy, peek_claims, verify_id_token};

/// The longest `state`, `nonce` or hint accepted.
pub(crate) const MAX_PARAM: usize = 2048;

/// How the authorization response reaches the redirect URI (OAuth 2.0 Multiple
/// Response Type Encoding Practices, Form Post Response Mode, and the Web Message
/// Response Mode of draft-sakimura-oauth-wmrm).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ResponseMode {
    /// In the query (the default for `code`).
    Query,
    /// In the fragment.
    Fragment,
    /// Posted by an auto-submitting form.
    FormPost,
    /// Posted with `postMessage` to the window that framed or opened the page, at
    /// the redirect URI's origin: silent login in a hidden iframe. Only with
    /// `prompt=none`, and only when that origin is one of the app's web origins.
    WebMessage,
}

impl ResponseMode {
    /// Every response mode, as discovery lists them.
    pub(crate) const ALL: [(&'static str, Self); 4] = [
        ("query", Self::Query),
        ("fragment", Self::Fragment),
        ("form_post", Self::FormPost),
        ("web_message", Self::WebMessage),
    ];
}

/// Where the authorization response goes, once the redirect URI is validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Target {
    /// The validated redirect URI, as presented.
    pub(crate) redirect_uri: String,
    /// The response mode.
    pub(crate) mode: ResponseMode,
    /// The client's `state`, returned as is.
    pub(crate) state: Option<String>,
}

/// The `prompt` values (OpenID Connect Core section 3.1.2.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Prompt {
    pub(crate) none: bool,
    pub(crate) login: bool,
    pub(crate) consent: bool,
    pub(crate) select_account: bool,
}

impl Prompt {
    /// Every value, as discovery lists them.
    pub(crate) const VALUES: [&'static str; 4] = ["none", "login", "consent", "select_account"];

    pub(crate) fn parse(value: Option<&str>) -> Result<Self, OAuthError> {
        let mut prompt = Self::default();
        for word in value.unwrap_or_default().split(' ').filter(|w| !w.is_empty()) {
            let flag = match word {
                "none" => &mut prompt.none,
                "login" => &mut prompt.login,
                "consent" => &mut prompt.consent,
                "select_account" => &mut prompt.select_account,
                _ => return Err(OAuthError::invalid_request("prompt has an unknown value")),
            };
            *flag = true;
        }
        if prompt.none && (prompt.login || prompt.consent || prompt.select_account) {
            return Err(OAuthError::invalid_request("prompt=none cannot be combined"));
        }
        Ok(prompt)
    }
}

/// Claims asked for one by one (OpenID Connect Core section 5.5), by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RequestedClaims {
    /// For the ID token.
    pub(crate) id_token: Vec<String>,
    /// For the userinfo endpoint.
    pub(crate) userinfo: Vec<String>,
}

impl RequestedClaims {
    pub(crate) fn parse(value: Option<&str>) -> Result<Self, OAuthError> {
        let Some(value) = value else { return Ok(Self::default()) };
        let bad = || OAuthError::invalid_request("claims must be a json object");
        let json: serde_json::Value = serde_json::from_str(value).map_err(|_| bad())?;
        let object = json.as_object().ok_or_else(bad)?;
        let names = |member: &str| -> Result<Vec<String>, OAuthError> {
            match object.get(member) {
                None | Some(serde_json::Value::Null) => Ok(Vec::new()),
                Some(serde_json::Value::Object(map)) => Ok(map.keys().take(64).cloned().collect()),
                Some(_) => Err(bad()),
            }
        };
        Ok(Self { id_token: names("id_token")?, userinfo: names("userinfo")? })
    }
}

/// A validated authorization request: what the rest of the flow works from, and
/// what the login and consent forms carry (sealed) between requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AuthorizationRequest {
    pub(crate) client_id: String,
    pub(crate) target: Target,
    /// Whether `redirect_uri` was sent (then the token request must repeat it).
    pub(crate) redirect_uri_sent: bool,
    /// The scopes requested, as validated (what consent is asked for).
    pub(crate) scope: ScopeSet,
    /// The access token's audiences (an API, and the issuer for `userinfo`).
    pub(crate) audience: Vec<String>,
    pub(crate) access_lifetime: u64,
    pub(crate) access_alg: crate::jose::Algorithm,
    pub(crate) nonce: Option<String>,
    /// The S256 code challenge (RFC 7636).
    pub(crate) code_challenge: Option<String>,
    pub(crate) prompt: Prompt,
    pub(crate) max_age: Option<u64>,
    pub(crate) login_hint: Option<String>,
    /// The `sub` of a valid `id_token_hint`.
    pub(crate) hint_sub: Option<String>,
    pub(crate) ui_locales: Option<String>,
    pub(crate) claims: RequestedClaims,
    /// Whether `acr_values` asked for the multi-factor class.
    #[serde(default)]
    pub(crate) acr_mfa: bool,
}

impl AuthorizationRequest {
    /// The locale of the pages shown for this request.
    pub(crate) fn locale(&self, headers: &http::HeaderMap) -> Locale {
        Locale::negotiate(self.ui_locales.as_deref(), accept_language(headers))
    }
}

/// The `Accept-Language` header, if readable.
pub(crate) fn accept_language(headers: &http::HeaderMap) -> Option<&str> {
    headers.get(http::header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok())
}

/// A user who signed in for this request (or whose session was used).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SignedIn {
    pub(crate) user_id: String,
    pub(crate) auth_time: UnixTime,
    pub(crate) amr: Vec<String>,
    pub(crate) sid: String,
}

/// Verifies an ID token this issuer signed, expired or not (a hint may be old):
/// signature, issuer and audience. `None` when it does not verify.
///
/// # Errors
///
/// The opaque error of a store failure (reading the keyring).
pub(crate) async fn verify_hint<P: Platform>(
    engine: &Engine<P>,
    token: &str,
    now: UnixTime,
) -> Result<Option<IdTokenClaims>, OAuthError> {
    let Some(peeked) = peek_claims(token) else { return Ok(None) };
    let Some(client) = peeked.aud.iter().next() else { return Ok(None) };
    let ring = engine.keyring(now).await?;
    let policy = IdTokenPolicy::new(engine.config().issuer.as_str(), client.as_str());
    // Checked as of its own issue time: an expired hint still names its user.
    Ok(verify_id_token(engine.platform().crypto(), &ring.jwks(now), &policy, token, peeked.iat)
        .await
        .ok())
}
