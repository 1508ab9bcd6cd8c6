//! Starting a login and reading its callback: PKCE (RFC 7636, S256 only), `state`
//! and `nonce` (OpenID Connect Core section 3.1.2.1), the authorization response
//! with its `iss` (RFC 9207).

use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use subtle::ConstantTimeEq as _;

use super::{ClientConfig, LOGIN_LIFETIME_SECS, ProviderMetadata, RpError, with_query};
#[cfg(test)]
use crate::http::parse_query;
use crate::http::{MAX_BODY_BYTES, decode, encode_pairs};
use crate::jose::b64url;
use crate::json;
use crate::types::UnixTime;

/// 32 bytes from `rng`, base64url: 43 characters, 256 bits.
fn random_token(rng: &mut impl CryptoRngCore) -> String {
    let mut bytes = [0u8; 32];
    rng.fill_bytes(&mut bytes);
    b64url(&bytes)
}

/// The S256 `code_challenge` of a verifier.
#[must_use]
pub fn code_challenge(verifier: &str) -> String {
    b64url(&sha2::Sha256::digest(verifier.as_bytes()))
}

/// What an app may add to a login.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoginOptions {
    /// `prompt` (`none`, `login`, `consent`, `select_account`).
    pub prompt: Option<String>,
    /// `login_hint`: the username or email to prefill.
    pub login_hint: Option<String>,
    /// `max_age`: the most seconds since the user last signed in; `auth_time` is
    /// then checked.
    pub max_age: Option<u64>,
    /// `response_mode`; `web_message` for silent login in an iframe.
    pub response_mode: Option<String>,
    /// Other parameters (`ui_locales`, `resource`, ...). They may not repeat one the
    /// login sets itself.
    pub extra: Vec<(String, String)>,
}

/// A login on its way: kept by the host (keyed by `state`) until the callback.
/// Holds the PKCE verifier, so it stays in the browser and is used once.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingLogin {
    /// The `state` sent.
    pub state: String,
    /// The `nonce` sent.
    pub nonce: String,
    /// The PKCE verifier.
    pub code_verifier: String,
    /// The redirect URI the code is bound to.
    pub redirect_uri: String,
    /// When the login started.
    pub started_at: UnixTime,
    /// The `max_age` asked, if any.
    #[serde(default)]
    pub max_age: Option<u64>,
}

impl json::Read for PendingLogin {
    fn read(r: &mut json::Reader<'_>) -> json::Result<Self> {
        let (mut state, mut nonce, mut code_verifier) = (None, None, None);
        let (mut redirect_uri, mut started_at, mut max_age) = (None, None, None);
        r.object(&mut |r, key| match key {
            "state" => json::once(&mut state, String::read(r)?),
            "nonce" => json::once(&mut nonce, String::read(r)?),
            "code_verifier" => json::once(&mut code_verifier, String::read(r)?),
            "redirect_uri" => json::once(&mut redirect_uri, String::read(r)?),
            "started_at" => json::once(&mut started_at, UnixTime::read(r)?),
            "max_age" => json::once(&mut max_age, Option::read(r)?),
            _ => r.skip(),
        })?;
        Ok(Self {
            state: state.ok_or(json::Invalid)?,
            nonce: nonce.ok_or(json::Invalid)?,
            code_verifier: code_verifier.ok_or(json::Invalid)?,
            redirect_uri: redirect_uri.ok_or(json::Invalid)?,
            started_at: started_at.ok_or(json::Invalid)?,
            max_age: max_age.flatten(),
        })
    }
}

impl PendingLogin {
    /// The pending login as JSON, for the host to keep (serde's form of it).
    #[must_use]
    pub fn to_json(&self) -> String {
        json::Writer::new()
            .string("state", &self.state)
            .string("nonce", &self.nonce)
            .string("code_verifier", &self.code_verifier)
            .string("redirect_uri", &self.redirect_uri)
            .number("started_at", self.started_at.as_secs())
            .optional_number("max_age", self.max_age)
            .finish()
    }

    /// A pending login from [`Self::to_json`].
    ///
    /// # Errors
    ///
    /// [`json::Invalid`] when it is not one.
    pub fn from_json(json: &str) -> Result<Self, json::Invalid> {
        json::from_slice(json.as_bytes())
    }
}

impl std::fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingLogin")
            .field("state", &self.state)
            .field("started_at", &self.started_at)
            .finish_non_exhaustive()
    }
}

/// The parameters the login sets itself, which `extra` may not repeat.
const RESERVED: [&str; 12] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "response_mode",
    "prompt",
    "login_hint",
    "max_age",
];

/// Starts a login: the authorize URL to send the browser to, and what to keep until
/// the callback comes back.
///
/// # Errors
///
/// [`RpError::Config`] when `extra` repeats a parameter the login sets, or asks for
/// a response mode the issuer does not offer.
pub fn begin(
    meta: &ProviderMetadata,
    config: &ClientConfig,
    options: &LoginOptions,
    rng: &mut impl CryptoRngCore,
    now: UnixTime,
) -> Result<(String, PendingLogin), RpError> {
    if options.extra.iter().any(|(name, _)| RESERVED.contains(&name.as_str()) || name.is_empty()) {
        return Err(RpError::Config("extraParams may not set a parameter the login sets"));
    }
    if options.response_mode.as_deref() == Some("web_message") && !meta.supports_web_message() {
        return Err(RpError::Config("the issuer does not offer response_mode=web_message"));
    }
    let pending = PendingLogin {
        state: random_token(rng),
        nonce: random_token(rng),
        code_verifier: random_token(rng),
        redirect_uri: config.redirect_uri.clone(),
        started_at: now,
        max_age: options.max_age,
    };
    let challenge = code_challenge(&pending.code_verifier);
    let max_age = options.max_age.map(|secs| {
        let mut text = String::new();
        json::push_decimal(&mut text, secs);
        text
    });
    let mut pairs = vec![
        ("response_type", "code"),
        ("client_id", config.client_id.as_str()),
        ("redirect_uri", pending.redirect_uri.as_str()),
        ("scope", config.scope.as_str()),
        ("state", pending.state.as_str()),
        ("nonce", pending.nonce.as_str()),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let optional = [
        ("response_mode", options.response_mode.as_deref()),
        ("prompt", options.prompt.as_deref()),
        ("login_hint", options.login_hint.as_deref()),
        ("max_age", max_age.as_deref()),
    ];
    pairs.extend(optional.into_iter().filter_map(|(name, value)| Some((name, value?))));
    pairs.extend(options.extra.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    Ok((with_query(&meta.authorization_endpoint, pairs), pending))
}

/// An authorization response, as the callback URL's query (or a `web_message`)
/// carries it. Nothing in it is trusted until [`Self::code_for`] has checked it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Callback {
    /// `code`.
    pub code: Option<String>,
    /// `state`.
    pub state: Option<String>,
    /// `iss` (RFC 9207).
    pub iss: Option<String>,
    /// `error`.
    pub error: Option<String>,
    /// `error_description`.
    pub error_description: Option<String>,
}

impl Callback {
    /// Reads the query of a callback URL (the part after `?`, without the
    /// fragment).
    ///
    /// # Errors
    ///
    /// [`RpError::Callback`] when a parameter repeats or is not UTF-8.
    pub fn from_query(query: &str) -> Result<Self, RpError> {
        // The rules of `http::parse_query`, read into the five members without a map (a
        // callback carries a handful of parameters).
        if query.len() > MAX_BODY_BYTES {
            return Err(RpError::Callback);
        }
        let mut callback = Self::default();
        let mut names = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (raw_name, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = decode(raw_name).map_err(|_| RpError::Callback)?;
            let value = decode(raw_value).map_err(|_| RpError::Callback)?;
            if names.contains(&name) {
                return Err(RpError::Callback);
            }
            let slot = match name.as_str() {
                "code" => &mut callback.code,
                "state" => &mut callback.state,
                "iss" => &mut callback.iss,
                "error" => &mut callback.error,
                "error_description" => &mut callback.error_description,
                _ => &mut None,
            };
            if !value.is_empty() {
                *slot = Some(value);
            }
            names.push(name);
        }
        Ok(callback)
    }

    /// The `state` to look the pending login up by.
    #[must_use]
    pub fn state(&self) -> Option<&str> {
        self.state.as_deref()
    }

    /// Checks the response against the login it answers and returns its code: the
    /// `state` is the one sent (constant time), the `iss` is the issuer's (required
    /// when the issuer promised it), the login is not older than
    /// [`LOGIN_LIFETIME_SECS`]; an `error` is returned only after those checks, so a
    /// forged error cannot pass for the issuer's.
    ///
    /// # Errors
    ///
    /// [`RpError`] naming the failed check, or the issuer's error.
    pub fn code_for(
        &self,
        pending: &PendingLogin,
        meta: &ProviderMetadata,
        now: UnixTime,
    ) -> Result<String, RpError> {
        let state = self.state.as_deref().ok_or(RpError::State)?;
        if !bool::from(state.as_bytes().ct_eq(pending.state.as_bytes())) {
            return Err(RpError::State);
        }
        match self.iss.as_deref() {
            Some(iss) if iss != meta.issuer => return Err(RpError::Issuer),
            None if meta.authorization_response_iss_parameter_supported => {
                return Err(RpError::Issuer);
            }
            _ => {}
        }
        if now.as_secs() > pending.started_at.as_secs().saturating_add(LOGIN_LIFETIME_SECS) {
            return Err(RpError::Expired);
        }
        if let Some(error) = &self.error {
            return Err(RpError::Server {
                error: error.clone(),
                description: self.error_description.clone(),
            });
        }
        self.code.clone().ok_or(RpError::Callback)
    }
}

/// The token request body that redeems `code` (RFC 6749 section 4.1.3, with the
/// PKCE verifier): a public client, identified by `client_id`.
#[must_use]
pub fn code_exchange_form(config: &ClientConfig, code: &str, pending: &PendingLogin) -> String {
    encode_pairs([
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", pending.redirect_uri.as_str()),
        ("client_id", config.client_id.as_str()),
        ("code_verifier", pending.code_verifier.as_str()),
    ])
}

#[cfg(test)]
mod tests {
    use super::super::tests::{config, metadata};
    use super::*;
    use crate::test_rng::CountingRng;

    const NOW: UnixTime = UnixTime::from_secs(1_700_000_000);

    fn started() -> (String, PendingLogin) {
        begin(&metadata(), &config(), &LoginOptions::default(), &mut CountingRng(1), NOW).unwrap()
    }

    #[test]
    fn pkce_s256_matches_rfc_7636_appendix_b() {
        assert_eq!(
            code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn the_authorize_url_carries_every_parameter() {
        let (url, pending) = started();
        let (base, query) = url.split_once('?').unwrap();
        assert_eq!(base, "https://id.example.com/authorize");
        let form = parse_query(query).unwrap();
        assert_eq!(form.get("response_type"), Some("code"));
        assert_eq!(form.get("client_id"), Some("spa"));
        assert_eq!(form.get("scope"), Some("openid profile offline_access"));
        assert_eq!(form.get("state"), Some(pending.state.as_str()));
        assert_eq!(form.get("nonce"), Some(pending.nonce.as_str()));
        assert_eq!(form.get("code_challenge_method"), Some("S256"));
        assert_eq!(
            form.get("code_challenge"),
            Some(code_challenge(&pending.code_verifier).as_str())
        );
        assert!(!form.contains("code_verifier"));
        assert_eq!(pending.state.len(), 43);
        assert_ne!(pending.state, pending.nonce);
    }

    #[test]
    fn extra_parameters_cannot_override_the_login() {
        let options = LoginOptions {
            extra: vec![("state".into(), "mine".into())],
            ..LoginOptions::default()
        };
        let err = begin(&metadata(), &config(), &options, &mut CountingRng(1), NOW).unwrap_err();
        assert_eq!(err.code(), "invalid_config");
        let options = LoginOptions {
            prompt: Some("none".into()),
            response_mode: Some("web_message".into()),
            extra: vec![("ui_locales".into(), "de".into())],
            ..LoginOptions::default()
        };
        let (url, _) = begin(&metadata(), &config(), &options, &mut CountingRng(1), NOW).unwrap();
        assert!(url.contains("&response_mode=web_message&prompt=none&ui_locales=de"));
    }

    fn callback(query: &str) -> Callback {
        Callback::from_query(query).unwrap()
    }

    #[test]
    fn a_matching_callback_gives_its_code() {
        let (_, pending) = started();
        let query = format!("code=c1&state={}&iss=https%3A%2F%2Fid.example.com", pending.state);
        assert_eq!(callback(&query).code_for(&pending, &metadata(), NOW.plus(5)).unwrap(), "c1");
    }

    #[test]
    fn a_foreign_or_missing_state_is_refused() {
        let (_, pending) = started();
        let iss = "iss=https%3A%2F%2Fid.example.com";
        let foreign = callback(&format!("code=c1&state=other&{iss}"));
        assert_eq!(foreign.code_for(&pending, &metadata(), NOW), Err(RpError::State));
        let missing = callback(&format!("code=c1&{iss}"));
        assert_eq!(missing.code_for(&pending, &metadata(), NOW), Err(RpError::State));
    }

    #[test]
    fn a_mix_up_is_refused_even_for_errors() {
        let (_, pending) = started();
        let state = &pending.state;
        let other = callback(&format!("error=access_denied&state={state}&iss=https%3A%2F%2Fevil"));
        assert_eq!(other.code_for(&pending, &metadata(), NOW), Err(RpError::Issuer));
        let absent = callback(&format!("code=c1&state={state}"));
        assert_eq!(absent.code_for(&pending, &metadata(), NOW), Err(RpError::Issuer));
        let mut meta = metadata();
        meta.authorization_response_iss_parameter_supported = false;
        assert_eq!(absent.code_for(&pending, &meta, NOW).unwrap(), "c1");
    }

    #[test]
    fn errors_expiry_and_empty_callbacks() {
        let (_, pending) = started();
        let base = format!("state={}&iss=https%3A%2F%2Fid.example.com", pending.state);
        let denied = callback(&format!("{base}&error=login_required&error_description=sign+in"));
        let err = denied.code_for(&pending, &metadata(), NOW).unwrap_err();
        assert_eq!(err.code(), "login_required");
        assert_eq!(err.to_string(), "login_required: sign in");
        let late = callback(&format!("{base}&code=c1"));
        let expired = NOW.plus(LOGIN_LIFETIME_SECS + 1);
        assert_eq!(late.code_for(&pending, &metadata(), expired), Err(RpError::Expired));
        assert_eq!(callback(&base).code_for(&pending, &metadata(), NOW), Err(RpError::Callback));
        assert_eq!(Callback::from_query("code=a&code=b"), Err(RpError::Callback));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]
        /// The callback is read with the rules of `parse_query`.
        #[test]
        fn a_callback_reads_as_a_strict_query(
            query in "((code|state|iss|error|error_description|x|c%6Fde|st%61te)(=[a-z+%20-]{0,4}|=%FF|=%zz)?&?){0,5}"
        ) {
            let form = parse_query(&query);
            let expected = form.map(|f| {
                let get = |name: &str| f.get(name).map(str::to_owned);
                (get("code"), get("state"), get("iss"), get("error"), get("error_description"))
            });
            let read = Callback::from_query(&query)
                .map(|c| (c.code, c.state, c.iss, c.error, c.error_description));
            proptest::prop_assert_eq!(read.ok(), expected.ok());
        }
    }

    #[test]
    fn the_exchange_sends_the_verifier() {
        let (_, pending) = started();
        let form = code_exchange_form(&config(), "c1", &pending);
        let parsed = parse_query(&form).unwrap();
        assert_eq!(parsed.get("grant_type"), Some("authorization_code"));
        assert_eq!(parsed.get("code_verifier"), Some(pending.code_verifier.as_str()));
        assert_eq!(parsed.get("redirect_uri"), Some("https://app.example.com/cb"));
        assert!(!format!("{pending:?}").contains(&pending.code_verifier));
    }
}
