//! An app's lifecycle hooks: HTTPS endpoints of the app's owner that the issuer
//! calls, signed, at six points of a sign-in and one of a registration (see
//! [`crate::hooks`] for the delivery). Four are notifications, sent after the
//! response; three are asked on the request's path and their answer counts
//! (`before_password_validation` allows or refuses, `before_id_token` adds claims,
//! `verify_email`, the mail hook, says the code was sent).
//!
//! An app's hooks are one record (`hooks/<client_id>`, like its permissions), so
//! a change is one atomic write and a sign-in reads one key. Each hook's secret
//! (256 random bits) is shown once, at creation and at rotation, and kept sealed
//! under the key-encryption key, bound to the app and the hook, because the
//! issuer needs it to sign every delivery.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::fields::{FieldError, Fields};
use crate::fetch::{FetchPolicy, FetchUrl};
use crate::jose::KeyId;
use crate::keys::Kek;
use crate::types::{SecretBytes, UnixTime};

/// At most this many hooks per app.
pub const MAX_HOOKS: usize = 10;
/// The shortest timeout a hook may set, in milliseconds.
pub const MIN_TIMEOUT_MS: u32 = 100;
/// The longest timeout a hook may set, in milliseconds.
pub const MAX_TIMEOUT_MS: u32 = 5000;
/// The timeout of a hook that sets none, in milliseconds.
pub const DEFAULT_TIMEOUT_MS: u32 = 2000;
/// At most this many names in a hook's `allowed_claims`.
pub const MAX_ALLOWED_CLAIMS: usize = 20;
/// The longest claim name.
pub const MAX_CLAIM_NAME: usize = 64;

/// Claims a `before_id_token` hook can never set: the registered JWT claims and
/// those OpenID Connect gives a protocol meaning (RFC 7519 section 4.1, OpenID
/// Connect Core section 2 and 3.1.3.6).
pub const PROTECTED_CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "nbf",
    "nonce",
    "auth_time",
    "acr",
    "amr",
    "azp",
    "at_hash",
    "c_hash",
    "sid",
    "jti",
];

/// When a hook is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HookEvent {
    /// No user has the username or email tried (a notification).
    IdentificationFailed,
    /// The user was found, before the password is checked (a notification).
    Identified,
    /// A known user's sign-in failed: wrong password, locked out, disabled, or
    /// refused by a `before_password_validation` hook (a notification).
    AuthenticationFailed,
    /// The password was accepted and the session started (a notification).
    Login,
    /// Asked before the password is checked: `{ "allow": false }` refuses.
    BeforePasswordValidation,
    /// Asked before an ID token is signed: `{ "claims": {...} }` adds claims.
    BeforeIdToken,
    /// The mail hook: asked to send a registering user the one-time code that
    /// verifies their email address (`email`, `code`, `locale`, `expires_at`);
    /// any 2xx answer means sent. Without one the app offers no registration.
    VerifyEmail,
}

impl HookEvent {
    /// Every event, in the order of a sign-in.
    pub const ALL: [Self; 7] = [
        Self::IdentificationFailed,
        Self::Identified,
        Self::AuthenticationFailed,
        Self::Login,
        Self::BeforePasswordValidation,
        Self::BeforeIdToken,
        Self::VerifyEmail,
    ];

    /// The wire name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::IdentificationFailed => "identification_failed",
            Self::Identified => "identified",
            Self::AuthenticationFailed => "authentication_failed",
            Self::Login => "login",
            Self::BeforePasswordValidation => "before_password_validation",
            Self::BeforeIdToken => "before_id_token",
            Self::VerifyEmail => "verify_email",
        }
    }

    /// Whether the flow waits for the answer (else the call is a notification,
    /// sent after the response).
    #[must_use]
    pub const fn is_blocking(self) -> bool {
        matches!(self, Self::BeforePasswordValidation | Self::BeforeIdToken | Self::VerifyEmail)
    }
}

/// What a blocking hook's failure (no answer in time, an error status, an
/// unreadable answer) does to the flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    /// The flow stops with its generic error.
    Deny,
    /// The flow goes on without the hook's answer.
    Continue,
}

/// One hook as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hook {
    /// Generated id.
    pub id: String,
    /// When it is called.
    pub event: HookEvent,
    /// Where deliveries go.
    pub url: FetchUrl,
    /// What a failure does (always `continue` for notifications).
    pub on_failure: OnFailure,
    /// How long a delivery may take, in milliseconds.
    pub timeout_ms: u32,
    /// Whether it is called.
    pub enabled: bool,
    /// For `before_id_token`: the only claim names the hook may add (empty: any
    /// name that is not protected).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_claims: Vec<String>,
    /// `base64url(nonce ‖ AES-256-GCM(secret))`, bound to the app and the hook.
    pub secret_sealed: String,
    /// Creation time.
    pub created_at: UnixTime,
    /// Last change.
    pub updated_at: UnixTime,
}

/// An app's hooks, stored as one record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookSet {
    /// The hooks, in creation order (the order they are called in).
    pub items: Vec<Hook>,
}

/// The associated data binding a sealed secret to its app and hook.
fn seal_id(client_id: &str, hook_id: &str) -> KeyId {
    KeyId::new(format!("gatehouse hook v1 {client_id} {hook_id}"))
}

impl Hook {
    /// The hook as the management API shows it: everything but the secret.
    #[must_use]
    pub fn view(&self) -> Value {
        let mut view = json!({
            "id": self.id,
            "event": self.event,
            "url": self.url,
            "on_failure": self.on_failure,
            "timeout_ms": self.timeout_ms,
            "enabled": self.enabled,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        });
        if self.event == HookEvent::BeforeIdToken
            && let Value::Object(map) = &mut view
        {
            map.insert("allowed_claims".into(), json!(self.allowed_claims));
        }
        view
    }

    /// Seals `secret` for the hook `hook_id` of `client_id`; `None` if sealing fails.
    pub fn seal_secret(
        kek: &Kek,
        client_id: &str,
        hook_id: &str,
        secret: &str,
        rng: &mut dyn rand_core::CryptoRngCore,
    ) -> Option<String> {
        kek.seal(&seal_id(client_id, hook_id), secret.as_bytes(), rng).ok()
    }

    /// The signing secret, unsealed; `None` if it does not open (another key, a
    /// record copied to another app or hook).
    #[must_use]
    pub fn secret(&self, kek: &Kek, client_id: &str) -> Option<SecretBytes> {
        kek.open(&seal_id(client_id, &self.id), &self.secret_sealed).ok()
    }
}

/// The settings of a hook as validated from a request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookSettings {
    /// When it is called.
    pub event: HookEvent,
    /// Where deliveries go.
    pub url: FetchUrl,
    /// What a failure does.
    pub on_failure: OnFailure,
    /// The timeout in milliseconds.
    pub timeout_ms: u32,
    /// Whether it is called.
    pub enabled: bool,
    /// Claim names a `before_id_token` hook may add.
    pub allowed_claims: Vec<String>,
}

/// Reads a hook's settings from a creation body, or from an update merged onto
/// the current view (`id`, `created_at` and `updated_at` are then read-only).
///
/// # Errors
///
/// Every failing field, by JSON pointer.
pub fn validate_hook(
    body: Map<String, Value>,
    current: Option<&Hook>,
    policy: FetchPolicy,
) -> Result<HookSettings, Vec<FieldError>> {
    let mut fields = Fields::new(body);
    let view = current.map(Hook::view);
    fields.read_only_from(&["id", "created_at", "updated_at"], view.as_ref());
    let before = fields.errors.len();
    let event: Option<HookEvent> = fields.take(
        "event",
        "one of identification_failed, identified, authentication_failed, login, before_password_validation, before_id_token, verify_email",
    );
    if event.is_none() && fields.errors.len() == before {
        fields.error("/event", "is required");
    }
    let url = match fields.take::<String>("url", "a string") {
        None => {
            fields.error("/url", "is required");
            None
        }
        Some(raw) => match check_hook_url(&raw, policy) {
            Ok(url) => Some(url),
            Err(why) => {
                fields.error("/url", why);
                None
            }
        },
    };
    let blocking = event.is_some_and(HookEvent::is_blocking);
    let on_failure: OnFailure = fields
        .take("on_failure", "deny or continue")
        .unwrap_or(if blocking { OnFailure::Deny } else { OnFailure::Continue });
    if !blocking && on_failure == OnFailure::Deny && event.is_some() {
        fields.error("/on_failure", "must be continue: a notification cannot stop a sign-in");
    }
    if event == Some(HookEvent::VerifyEmail) && on_failure == OnFailure::Continue {
        fields.error("/on_failure", "must be deny: a registration cannot go on without its code");
    }
    let timeout_ms = match fields.take::<u32>("timeout_ms", "an integer") {
        None => DEFAULT_TIMEOUT_MS,
        Some(ms) if (MIN_TIMEOUT_MS..=MAX_TIMEOUT_MS).contains(&ms) => ms,
        Some(_) => {
            fields.error(
                "/timeout_ms",
                format!("must be from {MIN_TIMEOUT_MS} to {MAX_TIMEOUT_MS} milliseconds"),
            );
            DEFAULT_TIMEOUT_MS
        }
    };
    let enabled = fields.take::<bool>("enabled", "a boolean").unwrap_or(true);
    let allowed_claims =
        fields.take::<Vec<String>>("allowed_claims", "an array of strings").unwrap_or_default();
    if !allowed_claims.is_empty() && event.is_some_and(|e| e != HookEvent::BeforeIdToken) {
        fields.error("/allowed_claims", "applies to before_id_token hooks only");
    }
    if allowed_claims.len() > MAX_ALLOWED_CLAIMS {
        fields.error("/allowed_claims", format!("must list at most {MAX_ALLOWED_CLAIMS} names"));
    }
    for (i, name) in allowed_claims.iter().enumerate() {
        if let Err(why) = check_claim_name(name) {
            fields.error(format!("/allowed_claims/{i}"), why);
        }
    }
    fields.finish()?;
    match (event, url) {
        (Some(event), Some(url)) => {
            Ok(HookSettings { event, url, on_failure, timeout_ms, enabled, allowed_claims })
        }
        _ => Err(vec![FieldError::new("", "is not a valid hook")]),
    }
}

/// Whether a hook may add the claim `name`: 1 to [`MAX_CLAIM_NAME`] printable
/// ASCII characters, and not one of the [`PROTECTED_CLAIMS`].
///
/// # Errors
///
/// Why not.
pub fn check_claim_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.len() > MAX_CLAIM_NAME {
        return Err("must be 1 to 64 characters");
    }
    if !name.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("must be printable ascii without spaces");
    }
    if PROTECTED_CLAIMS.contains(&name) {
        return Err("is a registered or protocol claim, which a hook cannot set");
    }
    Ok(())
}

/// A hook's URL: a destination outbound requests may reach under `policy` (the
/// rule `jwks_uri` follows), and plain `http` only to the machine itself
/// (`127.0.0.0/8`, `[::1]`, `localhost`), which only
/// [`FetchPolicy::InsecureAllowPrivate`] allows at all.
///
/// # Errors
///
/// Which rule failed.
pub fn check_hook_url(raw: &str, policy: FetchPolicy) -> Result<FetchUrl, &'static str> {
    let url = FetchUrl::new(raw, policy).map_err(|e| e.0)?;
    let lower = raw.to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix("http://") {
        let authority = rest.split(['/', '?']).next().unwrap_or_default();
        let host = match authority.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or_default(),
            None => authority.rsplit_once(':').map_or(authority, |(host, _)| host),
        };
        let loopback = host == "localhost"
            || host == "::1"
            || host.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback());
        if !loopback {
            return Err("must use https (plain http only to this machine, for development)");
        }
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn event_names_are_stable_snake_case() {
        for event in HookEvent::ALL {
            assert_eq!(serde_json::to_value(event).ok(), Some(json!(event.as_str())));
        }
        let blocking: Vec<_> = HookEvent::ALL.iter().filter(|e| e.is_blocking()).collect();
        assert_eq!(
            blocking,
            [
                &HookEvent::BeforePasswordValidation,
                &HookEvent::BeforeIdToken,
                &HookEvent::VerifyEmail
            ]
        );
    }

    #[test]
    fn defaults_follow_the_event() {
        let policy = FetchPolicy::PublicHttpsOnly;
        let login = validate_hook(
            body(json!({"event": "login", "url": "https://hooks.example/in"})),
            None,
            policy,
        );
        let login = login.ok();
        assert_eq!(login.as_ref().map(|s| s.on_failure), Some(OnFailure::Continue));
        assert_eq!(login.as_ref().map(|s| s.timeout_ms), Some(DEFAULT_TIMEOUT_MS));
        assert_eq!(login.map(|s| s.enabled), Some(true));
        let gate = validate_hook(
            body(json!({"event": "before_password_validation", "url": "https://h.example/"})),
            None,
            policy,
        );
        assert_eq!(gate.ok().map(|s| s.on_failure), Some(OnFailure::Deny));
    }

    #[test]
    fn bad_fields_are_named() {
        let errors = validate_hook(
            body(json!({
                "event": "login",
                "url": "http://10.0.0.1/hook",
                "on_failure": "deny",
                "timeout_ms": 99,
                "allowed_claims": ["tier"],
                "colour": "red"
            })),
            None,
            FetchPolicy::PublicHttpsOnly,
        )
        .err()
        .unwrap_or_default();
        let pointers: Vec<_> = errors.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            ["/url", "/on_failure", "/timeout_ms", "/allowed_claims", "/colour"],
            "{errors:?}"
        );
        let errors = validate_hook(
            body(json!({"event": "party", "url": "https://h.example/", "allowed_claims": ["sub"]})),
            None,
            FetchPolicy::PublicHttpsOnly,
        )
        .err()
        .unwrap_or_default();
        assert_eq!(errors.first().map(|e| e.pointer.as_str()), Some("/event"));
        assert!(errors.iter().any(|e| e.pointer == "/allowed_claims/0"), "{errors:?}");
    }

    #[test]
    fn plain_http_only_to_loopback_and_only_when_allowed() {
        let insecure = FetchPolicy::InsecureAllowPrivate;
        for ok in ["http://127.0.0.1:9000/h", "http://localhost/h", "http://[::1]:80/h"] {
            assert!(check_hook_url(ok, insecure).is_ok(), "{ok}");
            assert!(check_hook_url(ok, FetchPolicy::PublicHttpsOnly).is_err(), "{ok}");
        }
        for bad in ["http://10.0.0.1/h", "http://hooks.example/h", "ftp://127.0.0.1/"] {
            assert!(check_hook_url(bad, insecure).is_err(), "{bad}");
        }
        assert!(check_hook_url("https://169.254.169.254/", FetchPolicy::PublicHttpsOnly).is_err());
        assert!(check_hook_url("https://hooks.example/in", FetchPolicy::PublicHttpsOnly).is_ok());
    }

    #[test]
    fn protected_claims_cannot_be_allowed() {
        for name in PROTECTED_CLAIMS {
            assert!(check_claim_name(name).is_err(), "{name}");
        }
        assert!(check_claim_name("tier").is_ok());
        assert!(check_claim_name("has space").is_err());
        assert!(check_claim_name("").is_err());
    }
}
