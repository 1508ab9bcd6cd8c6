//! Applications of every type, with the rules their type brings.
//!
//! Field names follow OpenID Connect / RFC 7591 client metadata wherever a name
//! exists (`client_id`, `client_name`, `redirect_uris`, `grant_types`, ...), with
//! `type` for the app type. A secret is generated at creation and on reset, shown
//! once, and stored only as a SHA-256 digest (sealed instead for
//! `client_secret_jwt`, which needs the secret itself to check HMACs).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::consent_policy::{self, ConsentPolicy};
use super::fields::{FieldError, Fields};
use crate::fetch::{FetchPolicy, FetchUrl};
use crate::jose::{Algorithm, Jwks, KeyId, b64url};
use crate::keys::Kek;
use crate::policy::{AppType, GrantType, ResponseType, TokenEndpointAuthMethod};
use crate::token::random_id;
use crate::types::{ClientSecret, HttpsUrl, Origin, RedirectUri, ScopeSet, SecretBytes, UnixTime};

/// Token lifetime bounds: 1 minute to 24 hours, default 1 hour.
pub const TOKEN_LIFETIME: (u64, u64, u64) = (60, 86_400, 3600);
/// Refresh lifetime bounds: 1 to 365 days, default 30 days.
pub const REFRESH_LIFETIME: (u64, u64, u64) = (86_400, 365 * 86_400, 30 * 86_400);
/// The longest refresh grace window (seconds).
pub const MAX_REFRESH_GRACE: u64 = 60;
/// At most this many metadata keys, each value at most 256 characters.
pub const MAX_METADATA: (usize, usize) = (10, 256);
/// The longest description.
pub const MAX_DESCRIPTION: usize = 120;
/// The most URIs or origins in one list.
pub const MAX_LIST: usize = 100;

/// An application as stored. Its `Debug` shows the public view, never the secret
/// digest or the sealed secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppRecord {
    /// Generated, unguessable client id.
    pub client_id: String,
    /// Unique name: letters, digits and underscore.
    pub client_name: String,
    /// The app type.
    #[serde(rename = "type")]
    pub app_type: AppType,
    /// Free text, up to 120 characters.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Disabled apps cannot authenticate or get tokens.
    pub enabled: bool,
    /// Exact redirect URIs.
    #[serde(default)]
    pub redirect_uris: Vec<RedirectUri>,
    /// Where RP-initiated logout may return.
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    /// Origins allowed to call the token endpoint from a browser (CORS).
    #[serde(default)]
    pub allowed_origins: Vec<Origin>,
    /// Origins allowed to embed silent login (iframe, `web_message`).
    #[serde(default)]
    pub web_origins: Vec<Origin>,
    /// Allowed grants.
    pub grant_types: Vec<GrantType>,
    /// Allowed response types.
    #[serde(default)]
    pub response_types: Vec<ResponseType>,
    /// How the app authenticates at the token endpoint.
    pub token_endpoint_auth_method: TokenEndpointAuthMethod,
    /// ID token signing algorithm (RS256 unless registered).
    pub id_token_signed_response_alg: Algorithm,
    /// Access token signing algorithm (ES256 unless registered).
    pub access_token_signed_response_alg: Algorithm,
    /// The app's public keys for `private_key_jwt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<Jwks>,
    /// Where the app publishes its keys for `private_key_jwt`: a public `https` URL
    /// unless the operator allows private fetches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<FetchUrl>,
    /// Logo shown on login and consent pages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<HttpsUrl>,
    /// The app's home page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_uri: Option<HttpsUrl>,
    /// Privacy policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_uri: Option<HttpsUrl>,
    /// Terms of service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tos_uri: Option<HttpsUrl>,
    /// The company behind the app, shown on consent pages.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub company_name: String,
    /// Scopes the app may request.
    #[serde(default)]
    pub scope: ScopeSet,
    /// Access token lifetime in seconds.
    pub access_token_lifetime: u64,
    /// ID token lifetime in seconds.
    pub id_token_lifetime: u64,
    /// Whether refresh tokens are issued.
    pub refresh_tokens: bool,
    /// Refresh token lifetime in seconds.
    pub refresh_token_lifetime: u64,
    /// Seconds in which a retried refresh gets the same successor (0 to 60).
    pub refresh_token_grace_period: u64,
    /// Whether the app's refresh tokens stop working when the user's session
    /// ends (logout or expiry).
    #[serde(default)]
    pub refresh_tokens_end_with_session: bool,
    /// Whether the app may use the resource owner password grant at the token
    /// endpoint (RFC 6749 section 4.3): legacy, off unless turned on, and only for
    /// `web` and `simplified` apps.
    #[serde(default)]
    pub allow_password_grant: bool,
    /// Whether PKCE is required on authorization requests.
    pub require_pkce: bool,
    /// First-party apps skip the consent page.
    pub first_party: bool,
    /// Whether every sign-in to the app needs a second factor ("always ask for
    /// 2FA"): a user who has none enrols right after the password.
    #[serde(default)]
    pub require_mfa: bool,
    /// Whether the user's permissions go into access tokens.
    pub access_token_permissions: bool,
    /// Whether the user's roles go into access tokens.
    pub access_token_roles: bool,
    /// Role ids of which a user must hold one to use the app (its "allowed
    /// groups"); empty admits everyone. An id whose role was deleted stays until
    /// the app is written again, and admits nobody.
    #[serde(default)]
    pub allowed_roles: Vec<String>,
    /// The upstream OpenID providers whose buttons the login page shows
    /// ([`super::provider`]); empty: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_providers: Vec<String>,
    /// Whether a first upstream sign-in with no linked user creates one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub register_with_login_information: bool,
    /// Whether an upstream account whose email the provider says is verified is
    /// linked to the local user with that email.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub link_by_verified_email: bool,
    /// Additional claims for the app's access and ID tokens: user fields and
    /// fixed values ([`super::token_claims`]).
    #[serde(default)]
    pub token_claims: Vec<super::token_claims::TokenClaim>,
    /// Whether the login page offers registration ([`super::registration`]).
    #[serde(default)]
    pub self_registration: bool,
    /// The custom fields the registration page shows.
    #[serde(default)]
    pub registration_fields: Vec<String>,
    /// Which of them it requires (absent: each field's own `required`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_fields: Option<Vec<String>>,
    /// The password policy of the hosted pages.
    #[serde(default)]
    pub password_policy: super::registration::PasswordPolicy,
    /// Up to 10 extra string values.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// A text every user accepts once per version before the app gets a code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent_policy: Option<ConsentPolicy>,
    /// The last consent policy version given (kept when the policy is removed, so
    /// a number is never given twice).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub consent_policy_versions: u64,
    /// Creation time.
    pub created_at: UnixTime,
    /// Last change.
    pub updated_at: UnixTime,
    /// SHA-256 of the secret, base64url (secret methods other than `client_secret_jwt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_digest: Option<String>,
    /// The sealed secret (`client_secret_jwt` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_sealed: Option<String>,
}

/// Fields that are never shown.
const HIDDEN: &[&str] = &["secret_digest", "secret_sealed", "consent_policy_versions"];
/// Fields an administrator cannot set.
const READ_ONLY: &[&str] = &["client_id", "created_at", "updated_at"];

impl std::fmt::Debug for AppRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppRecord")
            .field("view", &format_args!("{}", self.view()))
            .field("has_secret", &self.has_secret())
            .finish()
    }
}

impl AppRecord {
    /// The public view: everything but the secret material.
    #[must_use]
    pub fn view(&self) -> Value {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut value {
            for hidden in HIDDEN {
                map.remove(*hidden);
            }
        }
        value
    }

    /// Whether `secret` is this app's secret, in constant time.
    #[must_use]
    pub fn secret_matches(&self, secret: &ClientSecret, kek: &Kek) -> bool {
        if let Some(digest) = self.secret_digest.as_deref() {
            let Ok(bytes) = crate::jose::b64url_decode(digest) else { return false };
            let Ok(digest) = <[u8; 32]>::try_from(bytes.as_slice()) else { return false };
            return secret.matches(&digest);
        }
        if let Some(opened) = self.opened_secret(kek) {
            return secret.matches(
                &ClientSecret::new(String::from_utf8_lossy(opened.expose()).into_owned()).digest(),
            );
        }
        false
    }

    /// The secret itself, for a `client_secret_jwt` app (whose secret is sealed, not
    /// digested): the key of its HS256 assertions.
    #[must_use]
    pub fn opened_secret(&self, kek: &Kek) -> Option<SecretBytes> {
        let sealed = self.secret_sealed.as_deref()?;
        kek.open(&KeyId::new(self.client_id.as_str()), sealed).ok()
    }

    /// Sets a new secret and returns it (shown once).
    ///
    /// # Errors
    ///
    /// A field error on `/client_secret` when sealing fails.
    pub fn new_secret(
        &mut self,
        kek: &Kek,
        rng: &mut dyn rand_core::CryptoRngCore,
    ) -> Result<String, FieldError> {
        let secret = random_id(rng, 32);
        self.secret_digest = None;
        self.secret_sealed = None;
        if self.token_endpoint_auth_method == TokenEndpointAuthMethod::ClientSecretJwt {
            let sealed = kek
                .seal(&KeyId::new(self.client_id.as_str()), secret.as_bytes(), rng)
                .map_err(|_| FieldError::new("/client_secret", "could not be sealed"))?;
            self.secret_sealed = Some(sealed);
        } else {
            self.secret_digest = Some(b64url(&ClientSecret::new(secret.clone()).digest()));
        }
        Ok(secret)
    }

    /// Whether the app holds a secret.
    #[must_use]
    pub fn has_secret(&self) -> bool {
        self.secret_digest.is_some() || self.secret_sealed.is_some()
    }

    /// The registration settings, together (fields kept flat on the record: a
    /// flattened struct would cost the issuer serde's buffering code).
    #[must_use]
    pub fn registration(&self) -> super::registration::Registration {
        super::registration::Registration {
            self_registration: self.self_registration,
            registration_fields: self.registration_fields.clone(),
            required_fields: self.required_fields.clone(),
            password_policy: self.password_policy,
        }
    }

    /// Whether the app admits every user (it lists no `allowed_roles`).
    #[must_use]
    pub fn admits_everyone(&self) -> bool {
        self.allowed_roles.is_empty()
    }

    /// The roles of `held` (a user's role ids) that admit the user to this app.
    /// The user is admitted if one of them still names a role: a role id outlives
    /// its role in both lists, so the caller checks that the role exists.
    pub fn admitting_roles<'a>(&self, held: &'a [String]) -> impl Iterator<Item = &'a str> {
        held.iter().filter(|id| self.allowed_roles.contains(id)).map(String::as_str)
    }
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.len() > 64 {
        return Err("must be 1 to 64 characters");
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err("may contain only letters, digits and underscore");
    }
    Ok(())
}

fn lifetime(fields: &mut Fields, name: &str, (min, max, default): (u64, u64, u64)) -> u64 {
    match fields.take::<u64>(name, "an integer number of seconds") {
        Some(v) if (min..=max).contains(&v) => v,
        Some(_) => {
            fields.error(format!("/{name}"), format!("must be between {min} and {max} seconds"));
            default
        }
        None => default,
    }
}

fn uri_list<T>(
    fields: &mut Fields,
    name: &str,
    parse: impl Fn(&str) -> Result<T, crate::types::InvalidValue>,
) -> Vec<T> {
    let raw: Vec<String> = fields.take(name, "an array of strings").unwrap_or_default();
    if raw.len() > MAX_LIST {
        fields.error(format!("/{name}"), format!("must have at most {MAX_LIST} entries"));
        return Vec::new();
    }
    let mut out = Vec::with_capacity(raw.len());
    for (i, item) in raw.iter().enumerate() {
        match parse(item) {
            Ok(v) => out.push(v),
            Err(e) => fields.error(format!("/{name}/{i}"), e.0),
        }
    }
    out
}

fn link(fields: &mut Fields, name: &str) -> Option<HttpsUrl> {
    let raw: String = fields.take(name, "a string")?;
    match HttpsUrl::new(&raw) {
        Ok(url) => Some(url),
        Err(e) => {
            fields.error(format!("/{name}"), e.0);
            None
        }
    }
}

/// `jwks_uri`: a URL the issuer will fetch, so it must be a destination `policy`
/// allows (public `https` hosts only, unless the operator opted out).
fn jwks_uri(fields: &mut Fields, policy: FetchPolicy) -> Option<FetchUrl> {
    let raw: String = fields.take("jwks_uri", "a string")?;
    match FetchUrl::new(&raw, policy) {
        Ok(url) => Some(url),
        Err(e) => {
            fields.error("/jwks_uri", e.0);
            None
        }
    }
}

fn no_duplicates<T: PartialEq>(fields: &mut Fields, name: &str, items: &[T]) {
    for (i, item) in items.iter().enumerate() {
        if items.iter().take(i).any(|x| x == item) {
            fields.error(format!("/{name}/{i}"), "is listed twice");
        }
    }
}

/// Validates `body` into a record. `current` is the record being replaced (PUT or
/// PATCH); without it the body creates a new app with `client_id`. URLs the issuer
/// will fetch (`jwks_uri`) must be destinations `fetch_policy` allows.
///
/// # Errors
///
/// Every failing field, each named by its JSON pointer.
pub fn validate(
    body: Map<String, Value>,
    current: Option<&AppRecord>,
    client_id: &str,
    now: UnixTime,
    fetch_policy: FetchPolicy,
) -> Result<AppRecord, Vec<FieldError>> {
    let current_view = current.map(AppRecord::view);
    let mut fields = Fields::new(body);
    for name in READ_ONLY {
        fields.read_only(name, current_view.as_ref().and_then(|v| v.get(*name)));
    }
    for name in HIDDEN {
        fields.read_only(name, None);
    }
    fields.read_only("client_secret", None);

    let client_name: Option<String> = fields.take("client_name", "a string");
    match client_name.as_deref().map(check_name) {
        None => fields.error("/client_name", "is required"),
        Some(Err(why)) => fields.error("/client_name", why),
        Some(Ok(())) => {}
    }
    let app_type: Option<AppType> =
        fields.take("type", "one of spa, web, native, s2s, device, simplified");
    let app_type = match (app_type, current) {
        (Some(t), Some(c)) if t != c.app_type => {
            fields.error("/type", "cannot change; create a new app instead");
            c.app_type
        }
        (Some(t), _) => t,
        (None, Some(c)) => c.app_type,
        (None, None) => {
            fields.error("/type", "is required");
            AppType::Web
        }
    };
    let rules = app_type.rules();

    let description: String = fields.take("description", "a string").unwrap_or_default();
    if description.chars().count() > MAX_DESCRIPTION {
        fields.error("/description", format!("must be at most {MAX_DESCRIPTION} characters"));
    }
    let enabled = fields.take("enabled", "a boolean").unwrap_or(true);

    let native = rules.native_redirects;
    let redirect_uris = uri_list(&mut fields, "redirect_uris", |u| RedirectUri::new(u, native));
    let post_logout_redirect_uris =
        uri_list(&mut fields, "post_logout_redirect_uris", |u| RedirectUri::new(u, native));
    let allowed_origins = uri_list(&mut fields, "allowed_origins", Origin::new);
    let web_origins = uri_list(&mut fields, "web_origins", Origin::new);
    no_duplicates(&mut fields, "redirect_uris", &redirect_uris);
    no_duplicates(&mut fields, "post_logout_redirect_uris", &post_logout_redirect_uris);

    let given_grants: Option<Vec<GrantType>> =
        fields.take("grant_types", "an array of grant types");
    let grants_given = given_grants.is_some();
    let mut grant_types = given_grants.unwrap_or_else(|| rules.default_grants.to_vec());
    no_duplicates(&mut fields, "grant_types", &grant_types);
    for (i, grant) in grant_types.iter().enumerate() {
        if !rules.grants.contains(grant) {
            fields.error(format!("/grant_types/{i}"), "is not allowed for this app type");
        }
    }
    if grant_types.is_empty() {
        fields.error("/grant_types", "must not be empty");
    }
    let code_flow = grant_types.contains(&GrantType::AuthorizationCode);
    // A simplified app redirects only to return the code of its authenticate step.
    let redirects = rules.interactive || (app_type == AppType::Simplified && code_flow);
    for (name, used, empty) in [
        ("redirect_uris", redirects, redirect_uris.is_empty()),
        ("post_logout_redirect_uris", rules.interactive, post_logout_redirect_uris.is_empty()),
        ("web_origins", rules.interactive, web_origins.is_empty()),
    ] {
        if !used && !empty {
            fields.error(
                format!("/{name}"),
                format!("is not used by {app_type:?} apps").to_lowercase(),
            );
        }
    }
    let implicit = grant_types.contains(&GrantType::Implicit);
    let response_types: Vec<ResponseType> = fields
        .take("response_types", "an array of response types")
        .unwrap_or_else(|| if code_flow { vec![ResponseType::Code] } else { Vec::new() });
    no_duplicates(&mut fields, "response_types", &response_types);
    for (i, rt) in response_types.iter().enumerate() {
        if *rt == ResponseType::Code && !code_flow {
            fields.error(format!("/response_types/{i}"), "needs the authorization_code grant");
        }
        if rt.is_front_channel_token() && !implicit {
            fields.error(
                format!("/response_types/{i}"),
                "implicit and hybrid response types need the implicit grant enabled",
            );
        }
    }
    let redirect_errors = fields.errors.iter().any(|e| e.pointer.starts_with("/redirect_uris/"));
    if redirects && (code_flow || implicit) && redirect_uris.is_empty() && !redirect_errors {
        fields.error("/redirect_uris", "must have at least one entry for this app type");
    }

    let method: TokenEndpointAuthMethod = fields
        .take("token_endpoint_auth_method", "a token endpoint auth method")
        .unwrap_or(rules.default_auth_method);
    if !rules.auth_methods.contains(&method) {
        fields.error("/token_endpoint_auth_method", "is not allowed for this app type");
    }
    let id_alg =
        fields.take("id_token_signed_response_alg", "ES256 or RS256").unwrap_or(Algorithm::RS256);
    // Simplified apps sign everything with RS256 unless registered otherwise.
    let at_alg = fields.take("access_token_signed_response_alg", "ES256 or RS256").unwrap_or(
        if app_type == AppType::Simplified { Algorithm::RS256 } else { Algorithm::ES256 },
    );

    let jwks: Option<Jwks> = fields.take("jwks", "a JWK set");
    let jwks_uri = jwks_uri(&mut fields, fetch_policy);
    if jwks.is_some() && jwks_uri.is_some() {
        fields.error("/jwks_uri", "cannot be given together with jwks");
    }
    if method == TokenEndpointAuthMethod::PrivateKeyJwt && jwks.is_none() && jwks_uri.is_none() {
        fields.error("/jwks", "is required for private_key_jwt (or give jwks_uri)");
    }
    if jwks.as_ref().is_some_and(|j| j.keys.is_empty()) {
        fields.error("/jwks/keys", "must hold at least one supported public key");
    }
    let logo_uri = link(&mut fields, "logo_uri");
    let client_uri = link(&mut fields, "client_uri");
    let policy_uri = link(&mut fields, "policy_uri");
    let tos_uri = link(&mut fields, "tos_uri");
    let company_name: String = fields.take("company_name", "a string").unwrap_or_default();
    if company_name.chars().count() > MAX_DESCRIPTION {
        fields.error("/company_name", format!("must be at most {MAX_DESCRIPTION} characters"));
    }
    let scope = match fields.take::<String>("scope", "a space-delimited string of scopes") {
        Some(raw) if raw.is_empty() => ScopeSet::default(),
        Some(raw) => ScopeSet::parse(&raw).unwrap_or_else(|e| {
            fields.error("/scope", e.0);
            ScopeSet::default()
        }),
        None => ScopeSet::default(),
    };

    let access_token_lifetime = lifetime(&mut fields, "access_token_lifetime", TOKEN_LIFETIME);
    let id_token_lifetime = lifetime(&mut fields, "id_token_lifetime", TOKEN_LIFETIME);
    let refresh_token_lifetime = lifetime(&mut fields, "refresh_token_lifetime", REFRESH_LIFETIME);
    let refresh_tokens =
        fields.take("refresh_tokens", "a boolean").unwrap_or(rules.refresh_by_default);
    if refresh_tokens && !rules.grants.contains(&GrantType::RefreshToken) {
        fields.error("/refresh_tokens", "this app type cannot use refresh tokens");
    } else if refresh_tokens && !grants_given && !grant_types.contains(&GrantType::RefreshToken) {
        // Turning refresh tokens on (a simplified app's default is off) brings the
        // grant that redeems them, unless the grants were chosen explicitly.
        grant_types.push(GrantType::RefreshToken);
    }
    let grace = fields
        .take::<u64>("refresh_token_grace_period", "an integer number of seconds")
        .unwrap_or(0);
    if grace > MAX_REFRESH_GRACE {
        fields.error(
            "/refresh_token_grace_period",
            format!("must be between 0 and {MAX_REFRESH_GRACE} seconds"),
        );
    }
    // PKCE is on by default wherever there is an authorization endpoint (RFC 9700
    // section 2.1.1); it means nothing for the other types.
    let require_pkce = fields.take("require_pkce", "a boolean").unwrap_or(rules.interactive);
    if rules.pkce_required && !require_pkce {
        fields.error("/require_pkce", "cannot be turned off for public clients");
    }
    let end_with_session =
        fields.take("refresh_tokens_end_with_session", "a boolean").unwrap_or(false);
    if end_with_session && app_type == AppType::Simplified {
        fields.error(
            "/refresh_tokens_end_with_session",
            "is not used by simplified apps: their sign-ins start no session at the issuer",
        );
    }
    let allow_password_grant = fields.take("allow_password_grant", "a boolean").unwrap_or(false);
    if allow_password_grant && !matches!(app_type, AppType::Web | AppType::Simplified) {
        fields.error("/allow_password_grant", "only web and simplified apps may use it");
    }
    let first_party = fields.take("first_party", "a boolean").unwrap_or(false);
    let require_mfa = fields.take("require_mfa", "a boolean").unwrap_or(false);
    let access_token_permissions =
        fields.take("access_token_permissions", "a boolean").unwrap_or(false);
    let access_token_roles = fields.take("access_token_roles", "a boolean").unwrap_or(false);
    // Each must name a role: checked against the directory by the caller.
    let allowed_roles: Vec<String> =
        fields.take("allowed_roles", "an array of role ids").unwrap_or_default();
    if allowed_roles.len() > MAX_LIST {
        fields.error("/allowed_roles", format!("must have at most {MAX_LIST} entries"));
    }
    no_duplicates(&mut fields, "allowed_roles", &allowed_roles);
    let upstream = super::provider::UpstreamSettings::take(&mut fields);
    let token_claims = super::token_claims::take(&mut fields);
    let registration = super::registration::take(&mut fields, rules.interactive);
    let metadata: BTreeMap<String, String> =
        fields.take("metadata", "an object of string values").unwrap_or_default();
    if metadata.len() > MAX_METADATA.0 {
        fields.error("/metadata", format!("must have at most {} keys", MAX_METADATA.0));
    }
    for (key, value) in &metadata {
        let pointer = format!("/metadata/{}", super::fields::escape_pointer(key));
        if key.is_empty() || key.len() > 64 {
            fields.error(pointer.clone(), "keys must be 1 to 64 characters");
        }
        if value.chars().count() > MAX_METADATA.1 {
            fields.error(pointer, format!("must be at most {} characters", MAX_METADATA.1));
        }
    }
    let last_version = current.map_or(0, |c| c.consent_policy_versions);
    let policy = consent_policy::take(
        &mut fields,
        current.and_then(|c| c.consent_policy.as_ref()),
        last_version,
        now,
    );
    if policy.is_some() && !rules.interactive && app_type != AppType::Device {
        let why =
            format!("is not used by {app_type:?} apps: their users never see the hosted pages");
        fields.error("/consent_policy", why.to_lowercase());
    }
    fields.finish()?;

    Ok(AppRecord {
        client_id: client_id.to_owned(),
        client_name: client_name.unwrap_or_default(),
        app_type,
        description,
        enabled,
        redirect_uris,
        post_logout_redirect_uris,
        allowed_origins,
        web_origins,
        grant_types,
        response_types,
        token_endpoint_auth_method: method,
        id_token_signed_response_alg: id_alg,
        access_token_signed_response_alg: at_alg,
        jwks,
        jwks_uri,
        logo_uri,
        client_uri,
        policy_uri,
        tos_uri,
        company_name,
        scope,
        access_token_lifetime,
        id_token_lifetime,
        refresh_tokens,
        refresh_token_lifetime,
        refresh_token_grace_period: grace,
        refresh_tokens_end_with_session: end_with_session,
        allow_password_grant,
        require_pkce,
        first_party,
        require_mfa,
        access_token_permissions,
        access_token_roles,
        allowed_roles,
        allowed_providers: upstream.allowed_providers,
        register_with_login_information: upstream.register_with_login_information,
        link_by_verified_email: upstream.link_by_verified_email,
        token_claims,
        self_registration: registration.self_registration,
        registration_fields: registration.registration_fields,
        required_fields: registration.required_fields,
        password_policy: registration.password_policy,
        metadata,
        consent_policy_versions: policy
            .as_ref()
            .map_or(last_version, |p| p.version.max(last_version)),
        consent_policy: policy,
        created_at: current.map_or(now, |c| c.created_at),
        updated_at: now,
        secret_digest: current.and_then(|c| c.secret_digest.clone()),
        secret_sealed: current.and_then(|c| c.secret_sealed.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn web(extra: Value) -> Result<AppRecord, Vec<FieldError>> {
        let mut body = json!({
            "client_name": "shop",
            "type": "web",
            "redirect_uris": ["https://shop.example/cb"],
        });
        if let (Value::Object(body), Value::Object(extra)) = (&mut body, extra) {
            body.extend(extra);
        }
        let Value::Object(body) = body else { unreachable!() };
        validate(body, None, "client-1", UnixTime::from_secs(1), FetchPolicy::default())
    }

    #[test]
    fn allowed_roles_default_to_everyone_and_round_trip_through_the_view() {
        let open = web(json!({})).unwrap();
        assert!(open.admits_everyone());
        assert_eq!(open.view()["allowed_roles"], json!([]));

        let closed = web(json!({ "allowed_roles": ["staff", "ops"] })).unwrap();
        assert!(!closed.admits_everyone());
        assert_eq!(closed.view()["allowed_roles"], json!(["staff", "ops"]));
        let Value::Object(view) = closed.view() else { unreachable!() };
        let again = validate(
            view,
            Some(&closed),
            "client-1",
            UnixTime::from_secs(2),
            FetchPolicy::default(),
        )
        .unwrap();
        assert_eq!(again.allowed_roles, closed.allowed_roles);
        // Stored before the field existed: everyone.
        let mut stored = serde_json::to_value(&closed).unwrap();
        stored.as_object_mut().unwrap().remove("allowed_roles");
        assert!(serde_json::from_value::<AppRecord>(stored).unwrap().admits_everyone());
    }

    #[test]
    fn allowed_roles_must_be_distinct_strings() {
        let pointers = |extra| -> Vec<String> {
            web(extra).unwrap_err().into_iter().map(|e| e.pointer).collect()
        };
        assert_eq!(pointers(json!({ "allowed_roles": ["a", "b", "a"] })), ["/allowed_roles/2"]);
        assert_eq!(pointers(json!({ "allowed_roles": "staff" })), ["/allowed_roles"]);
        assert_eq!(pointers(json!({ "allowed_roles": [7] })), ["/allowed_roles"]);
        let many: Vec<String> = (0..=MAX_LIST).map(|i| format!("r{i}")).collect();
        assert_eq!(pointers(json!({ "allowed_roles": many })), ["/allowed_roles"]);
    }

    #[test]
    fn only_held_roles_that_the_app_lists_admit() {
        let app = web(json!({ "allowed_roles": ["staff", "ops"] })).unwrap();
        let held = |ids: &[&str]| ids.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let user = held(&["guest", "ops"]);
        assert_eq!(app.admitting_roles(&user).collect::<Vec<_>>(), ["ops"]);
        assert_eq!(app.admitting_roles(&held(&["guest"])).count(), 0);
        assert_eq!(app.admitting_roles(&[]).count(), 0);
    }
}
