//! Upstream OpenID providers: other issuers whose users may sign in to an app
//! ("allowed providers"), through the authorization code flow with PKCE (see
//! the hosted flow at [`crate::endpoints::UPSTREAM_START_PATH`]).
//!
//! A provider is a directory record (`providers/<id>`), written through the
//! registry like an app. Its `issuer` is fixed at creation: a user's link to an
//! upstream account is the provider id and the upstream `sub`, which only mean one
//! account as long as the id names one issuer. The client secret the provider
//! gave is write-only and kept sealed under the key-encryption key, bound to the
//! provider id, because the issuer sends it to the upstream token endpoint.
//!
//! An app opts in per provider ([`UpstreamSettings`] on the app record), and
//! decides whether a first upstream sign-in creates a local user and whether an
//! upstream account may be linked to a local user by a verified email.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::fields::{FieldError, Fields};
use crate::fetch::{FetchPolicy, FetchUrl};
use crate::jose::KeyId;
use crate::keys::Kek;
use crate::store::{Directory, StoreError, read_record, schema};
use crate::types::{SecretBytes, UnixTime};

/// The longest provider id.
const MAX_ID: usize = 32;
/// The longest display name.
const MAX_DISPLAY_NAME: usize = 64;
/// The longest upstream client id or secret.
const MAX_CLIENT: usize = 512;
/// At most this many scopes.
const MAX_SCOPES: usize = 20;
/// At most this many providers an app allows.
pub const MAX_ALLOWED_PROVIDERS: usize = 10;

/// The local claims a provider may fill, and the `username`.
pub const MAPPED_CLAIMS: &[&str] = &[
    "username",
    "email",
    "name",
    "given_name",
    "family_name",
    "middle_name",
    "nickname",
    "picture",
    "profile",
    "website",
    "locale",
    "zoneinfo",
];

/// How the issuer authenticates to the upstream token endpoint (RFC 6749
/// section 2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamAuthMethod {
    /// HTTP Basic with the form-encoded client id and secret.
    #[default]
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
}

/// An upstream provider as stored.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderRecord {
    /// The slug that names it (in links, buttons and paths).
    pub id: String,
    /// What the login button says after "Continue with".
    pub display_name: String,
    /// The upstream issuer identifier: the discovery document's `issuer` and the
    /// ID tokens' `iss` must equal it exactly. Fixed at creation.
    pub issuer: String,
    /// Where the discovery document is (`{issuer}/.well-known/openid-configuration`
    /// unless set).
    pub discovery_url: FetchUrl,
    /// The client id the upstream registered for this issuer.
    pub client_id: String,
    /// How the issuer authenticates at the upstream token endpoint.
    pub token_endpoint_auth_method: UpstreamAuthMethod,
    /// The scopes asked for; always has `openid`.
    pub scopes: Vec<String>,
    /// Local claim (and `username`) to upstream claim name.
    pub claim_mapping: BTreeMap<String, String>,
    /// Whether its button is shown and its sign-ins accepted.
    pub enabled: bool,
    /// The sealed client secret.
    pub client_secret_sealed: String,
    /// Creation time.
    pub created_at: UnixTime,
    /// Last change.
    pub updated_at: UnixTime,
}

impl std::fmt::Debug for ProviderRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderRecord")
            .field("id", &self.id)
            .field("issuer", &self.issuer)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

/// The associated data binding a sealed client secret to its provider.
fn seal_id(provider_id: &str) -> KeyId {
    KeyId::new(format!("gatehouse provider v1 {provider_id}"))
}

impl ProviderRecord {
    /// The management API's view: everything but the secret.
    #[must_use]
    pub fn view(&self) -> Value {
        json!({
            "id": self.id,
            "display_name": self.display_name,
            "issuer": self.issuer,
            "discovery_url": self.discovery_url,
            "client_id": self.client_id,
            "token_endpoint_auth_method": self.token_endpoint_auth_method,
            "scopes": self.scopes,
            "claim_mapping": self.claim_mapping,
            "enabled": self.enabled,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }

    /// The client secret, unsealed; `None` if it does not open (another key, a
    /// record copied under another id).
    #[must_use]
    pub fn client_secret(&self, kek: &Kek) -> Option<SecretBytes> {
        kek.open(&seal_id(&self.id), &self.client_secret_sealed).ok()
    }

    /// The upstream claim that fills the local `claim`, if any.
    #[must_use]
    pub fn upstream_claim(&self, claim: &str) -> Option<&str> {
        self.claim_mapping.get(claim).map(String::as_str)
    }
}

/// The mapping a provider gets when it sets none: every standard claim from the
/// upstream claim of the same name, the username from `preferred_username`.
#[must_use]
pub fn default_claim_mapping() -> BTreeMap<String, String> {
    MAPPED_CLAIMS
        .iter()
        .map(|c| {
            let upstream = if *c == "username" { "preferred_username" } else { c };
            ((*c).to_owned(), upstream.to_owned())
        })
        .collect()
}

/// Whether `id` is a provider id: 2 to 32 lowercase letters, digits, `-` and `_`,
/// starting with a letter.
#[must_use]
pub fn is_provider_id(id: &str) -> bool {
    (2..=MAX_ID).contains(&id.len())
        && id.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// Validates a creation body (`current: None`) or an update merged onto the
/// current view. `id` and `issuer` cannot change; `client_secret` is required at
/// creation and replaces the stored one when given.
///
/// # Errors
///
/// Every failing field, by JSON pointer.
pub fn validate(
    body: Map<String, Value>,
    current: Option<&ProviderRecord>,
    policy: FetchPolicy,
    kek: &Kek,
    now: UnixTime,
    rng: &mut dyn rand_core::CryptoRngCore,
) -> Result<ProviderRecord, Vec<FieldError>> {
    let mut fields = Fields::new(body);
    let view = current.map(ProviderRecord::view);
    fields.read_only_from(&["created_at", "updated_at"], view.as_ref());
    let id = match current {
        Some(c) => {
            fields.read_only("id", Some(&json!(c.id)));
            Some(c.id.clone())
        }
        None => match fields.take::<String>("id", "a string") {
            None => {
                fields.error("/id", "is required");
                None
            }
            Some(id) if is_provider_id(&id) => Some(id),
            Some(_) => {
                fields.error(
                    "/id",
                    "must be 2 to 32 lowercase letters, digits, - and _, starting with a letter",
                );
                None
            }
        },
    };
    let display_name = fields.required_name("display_name", MAX_DISPLAY_NAME);
    let issuer = match current {
        Some(c) => {
            if let Some(value) = fields.take::<Value>("issuer", "a string")
                && value != json!(c.issuer)
            {
                fields.error("/issuer", "cannot be changed: links to upstream accounts name it");
            }
            Some(c.issuer.clone())
        }
        None => match fields.take::<String>("issuer", "a string") {
            None => {
                fields.error("/issuer", "is required");
                None
            }
            Some(issuer) => match check_issuer(&issuer, policy) {
                Ok(()) => Some(issuer),
                Err(why) => {
                    fields.error("/issuer", why);
                    None
                }
            },
        },
    };
    let discovery_url = match fields.take::<String>("discovery_url", "a string") {
        Some(raw) => match FetchUrl::new(&raw, policy) {
            Ok(url) => Some(url),
            Err(why) => {
                fields.error("/discovery_url", why.0);
                None
            }
        },
        None => issuer.as_deref().and_then(|i| {
            let url = format!("{}/.well-known/openid-configuration", i.trim_end_matches('/'));
            FetchUrl::new(&url, policy).ok()
        }),
    };
    let client_id = fields.required_name("client_id", MAX_CLIENT);
    let secret: Option<String> = fields.take("client_secret", "a string");
    let secret_sealed = match (&secret, current) {
        (Some(s), _) if s.is_empty() || s.len() > MAX_CLIENT => {
            fields.error("/client_secret", "must be 1 to 512 characters");
            None
        }
        (Some(s), _) => id.as_deref().and_then(|id| kek.seal(&seal_id(id), s.as_bytes(), rng).ok()),
        (None, Some(c)) => Some(c.client_secret_sealed.clone()),
        (None, None) => {
            fields.error("/client_secret", "is required");
            None
        }
    };
    let method = fields
        .take("token_endpoint_auth_method", "client_secret_basic or client_secret_post")
        .unwrap_or_default();
    let scopes: Vec<String> = fields
        .take("scopes", "an array of scope names")
        .unwrap_or_else(|| vec!["openid".into(), "profile".into(), "email".into()]);
    if !scopes.iter().any(|s| s == "openid") {
        fields.error("/scopes", "must include openid");
    }
    if scopes.len() > MAX_SCOPES {
        fields.error("/scopes", format!("must have at most {MAX_SCOPES} entries"));
    }
    for (i, scope) in scopes.iter().enumerate() {
        let valid = !scope.is_empty()
            && scope.len() <= 128
            && scope.bytes().all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\');
        if !valid || scopes.iter().take(i).any(|s| s == scope) {
            fields.error(format!("/scopes/{i}"), "must be a distinct scope token");
        }
    }
    let claim_mapping: BTreeMap<String, String> = fields
        .take("claim_mapping", "an object of local claim to upstream claim names")
        .unwrap_or_else(default_claim_mapping);
    for (local, upstream) in &claim_mapping {
        let pointer = format!("/claim_mapping/{}", super::fields::escape_pointer(local));
        if !MAPPED_CLAIMS.contains(&local.as_str()) {
            fields.error(pointer, format!("must be one of {}", MAPPED_CLAIMS.join(", ")));
        } else if upstream.is_empty()
            || upstream.len() > 64
            || !upstream.bytes().all(|b| b.is_ascii_graphic())
        {
            fields.error(pointer, "must name an upstream claim (1 to 64 printable characters)");
        }
    }
    let enabled = fields.take("enabled", "a boolean").unwrap_or(true);
    fields.finish()?;
    match (id, display_name, issuer, discovery_url, client_id, secret_sealed) {
        (
            Some(id),
            Some(display_name),
            Some(issuer),
            Some(discovery_url),
            Some(client_id),
            Some(client_secret_sealed),
        ) => Ok(ProviderRecord {
            id,
            display_name,
            issuer,
            discovery_url,
            client_id,
            token_endpoint_auth_method: method,
            scopes,
            claim_mapping,
            enabled,
            client_secret_sealed,
            created_at: current.map_or(now, |c| c.created_at),
            updated_at: now,
        }),
        _ => Err(vec![FieldError::new("", "is not a valid provider")]),
    }
}

/// An issuer identifier (OpenID Connect Discovery section 3): a URL the issuer
/// may fetch under `policy`, without query or fragment.
fn check_issuer(issuer: &str, policy: FetchPolicy) -> Result<(), &'static str> {
    crate::fetch::check_destination(issuer, policy).map_err(|e| e.0)?;
    if issuer.contains(['?', '#']) {
        return Err("must have no query or fragment");
    }
    Ok(())
}

/// An app's upstream sign-in settings as read from its body (stored as fields of
/// the app record, shown only when set).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamSettings {
    /// The ids of the providers whose buttons the login page shows (empty: none).
    pub allowed_providers: Vec<String>,
    /// Whether a first upstream sign-in with no linked user creates one.
    pub register_with_login_information: bool,
    /// Whether an upstream account whose email the upstream says is verified is
    /// linked to the local user with that email.
    pub link_by_verified_email: bool,
}

impl UpstreamSettings {
    /// Reads the settings from an app body (the provider ids are checked against
    /// the directory by the caller).
    pub(crate) fn take(fields: &mut Fields) -> Self {
        let allowed_providers: Vec<String> =
            fields.take("allowed_providers", "an array of provider ids").unwrap_or_default();
        if allowed_providers.len() > MAX_ALLOWED_PROVIDERS {
            fields.error(
                "/allowed_providers",
                format!("must have at most {MAX_ALLOWED_PROVIDERS} entries"),
            );
        }
        for (i, id) in allowed_providers.iter().enumerate() {
            if !is_provider_id(id) || allowed_providers.iter().take(i).any(|p| p == id) {
                fields.error(format!("/allowed_providers/{i}"), "must be a distinct provider id");
            }
        }
        Self {
            allowed_providers,
            register_with_login_information: fields
                .take("register_with_login_information", "a boolean")
                .unwrap_or(false),
            link_by_verified_email: fields
                .take("link_by_verified_email", "a boolean")
                .unwrap_or(false),
        }
    }
}

/// The provider `id`, if it exists and is enabled.
///
/// # Errors
///
/// The directory's [`StoreError`].
pub(crate) async fn enabled<D: Directory>(
    directory: &D,
    id: &str,
) -> Result<Option<ProviderRecord>, StoreError> {
    Ok(read_record::<ProviderRecord, _>(directory, &schema::provider(id))
        .await?
        .filter(|p| p.enabled))
}

/// The providers whose buttons the login page shows: of `allowed`, those that
/// exist and are enabled, in that order, as (id, display name). A store failure
/// shows none.
pub(crate) async fn buttons<D: Directory>(
    directory: &D,
    allowed: &[String],
) -> Vec<(String, String)> {
    let mut shown = Vec::new();
    for id in allowed {
        if let Ok(Some(provider)) = enabled(directory, id).await {
            shown.push((provider.id, provider.display_name));
        }
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::CountingRng;

    fn kek() -> Kek {
        Kek::derive(&[7u8; 32]).unwrap()
    }

    fn body(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    fn create(value: Value) -> Result<ProviderRecord, Vec<FieldError>> {
        let now = UnixTime::from_secs(1000);
        validate(body(value), None, FetchPolicy::PublicHttpsOnly, &kek(), now, &mut CountingRng(1))
    }

    fn pointers(value: Value) -> Vec<String> {
        create(value).unwrap_err().into_iter().map(|e| e.pointer).collect()
    }

    fn good() -> Value {
        json!({
            "id": "corp",
            "display_name": "Corp SSO",
            "issuer": "https://sso.corp.example",
            "client_id": "gatehouse",
            "client_secret": "s3cret",
        })
    }

    #[test]
    fn a_provider_gets_defaults_and_its_secret_is_sealed_and_never_shown() {
        let provider = create(good()).unwrap();
        assert_eq!(
            provider.discovery_url.as_str(),
            "https://sso.corp.example/.well-known/openid-configuration"
        );
        assert_eq!(provider.scopes, ["openid", "profile", "email"]);
        assert_eq!(provider.upstream_claim("username"), Some("preferred_username"));
        assert_eq!(provider.upstream_claim("email"), Some("email"));
        assert_eq!(provider.client_secret(&kek()).unwrap().expose(), b"s3cret");
        assert!(!provider.view().to_string().contains("s3cret"));
        assert!(provider.view().get("client_secret").is_none());
        let moved = ProviderRecord { id: "other".into(), ..provider };
        assert!(moved.client_secret(&kek()).is_none(), "bound to its id");
    }

    #[test]
    fn bad_fields_are_named() {
        let mut bad = good();
        bad["id"] = json!("Corp!");
        bad["issuer"] = json!("http://10.0.0.1");
        bad["scopes"] = json!(["profile"]);
        bad["claim_mapping"] = json!({ "password": "pw" });
        bad["token_endpoint_auth_method"] = json!("private_key_jwt");
        assert_eq!(
            pointers(bad),
            ["/id", "/issuer", "/token_endpoint_auth_method", "/scopes", "/claim_mapping/password"]
        );
        assert_eq!(
            pointers(json!({})),
            ["/id", "/display_name", "/issuer", "/client_id", "/client_secret"]
        );
    }

    #[test]
    fn issuer_and_id_are_fixed_and_the_secret_is_kept() {
        let current = create(good()).unwrap();
        let now = UnixTime::from_secs(2000);
        let mut patched = current.view();
        patched["display_name"] = json!("Corp");
        let updated = validate(
            body(patched.clone()),
            Some(&current),
            FetchPolicy::PublicHttpsOnly,
            &kek(),
            now,
            &mut CountingRng(2),
        )
        .unwrap();
        assert_eq!(updated.client_secret(&kek()).unwrap().expose(), b"s3cret");
        assert_eq!(updated.display_name, "Corp");
        patched["issuer"] = json!("https://other.example");
        let errors = validate(
            body(patched),
            Some(&current),
            FetchPolicy::PublicHttpsOnly,
            &kek(),
            now,
            &mut CountingRng(3),
        )
        .unwrap_err();
        assert_eq!(errors[0].pointer, "/issuer");
    }

    #[test]
    fn app_settings_are_off_by_default() {
        let mut fields = Fields::new(Map::new());
        assert_eq!(UpstreamSettings::take(&mut fields), UpstreamSettings::default());
        let mut fields = Fields::new(body(json!({ "allowed_providers": ["corp", "corp", "X"] })));
        UpstreamSettings::take(&mut fields);
        let pointers: Vec<_> = fields.errors.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(pointers, ["/allowed_providers/1", "/allowed_providers/2"]);
    }
}
