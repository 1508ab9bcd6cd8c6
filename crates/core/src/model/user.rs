//! People who sign in. Profile fields use the OpenID Connect standard claim names
//! (Core section 5.1); the password is stored only as an Argon2id hash, which no
//! view of the record contains.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::fields::{FieldError, Fields};
use crate::password;
use crate::types::{HttpsUrl, UnixTime};

/// The longest free-text claim.
const MAX_TEXT: usize = 256;

/// A postal address (OpenID Connect Core section 5.1.1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Address {
    /// The full address for display.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formatted: Option<String>,
    /// Street, house number, etc.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street_address: Option<String>,
    /// City.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locality: Option<String>,
    /// State or region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Postal code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// Country.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

/// An upstream account linked to a user: the user signs in through the provider
/// `provider` as the upstream subject `subject` (see [`super::provider`]). A link
/// is found by issuer and subject, never by email.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The provider id.
    pub provider: String,
    /// The provider's issuer identifier when the link was made.
    pub issuer: String,
    /// The upstream `sub`.
    pub subject: String,
    /// When the link was made.
    pub linked_at: UnixTime,
}

/// A user as stored. Its `Debug` names the account, never the password hash or
/// the claims (personal data stays out of logs).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// The subject identifier (`sub`), generated.
    pub id: String,
    /// Unique sign-in name.
    pub username: String,
    /// Disabled users cannot sign in or refresh.
    pub enabled: bool,
    /// Assigned role ids.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Standard claims (`name`, `email`, `address`, ...), validated.
    #[serde(default)]
    pub claims: Map<String, Value>,
    /// Whether the user must sign in with a second factor in every app (enrolling
    /// right after the password if they have none).
    #[serde(default)]
    pub mfa_required: bool,
    /// The upstream accounts linked to the user ([`Identity`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identities: Vec<Identity>,
    /// Custom field values ([`super::user_field`]), by key.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub fields: Map<String, Value>,
    /// Argon2id PHC string; never shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
    /// Creation time.
    pub created_at: UnixTime,
    /// Last change.
    pub updated_at: UnixTime,
}

impl std::fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRecord")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("enabled", &self.enabled)
            .field("roles", &self.roles)
            .field("has_password", &self.password_hash.is_some())
            .finish_non_exhaustive()
    }
}

impl UserRecord {
    /// The registry names the user holds, each unique among users: the username,
    /// the email address when set, and each linked upstream account.
    #[must_use]
    pub fn sign_in_names(&self) -> Vec<String> {
        use crate::store::schema;
        let mut names = vec![schema::user_name(&self.username)];
        if let Some(email) = self.claims.get("email").and_then(|e| e.as_str()) {
            names.push(schema::user_email(email));
        }
        names.extend(self.identities.iter().map(|i| schema::user_identity(&i.issuer, &i.subject)));
        names
    }

    /// The public view: the claims flattened beside the account fields, no hash.
    #[must_use]
    pub fn view(&self) -> Value {
        let mut map = self.claims.clone();
        map.insert("id".into(), json!(self.id));
        map.insert("username".into(), json!(self.username));
        map.insert("enabled".into(), json!(self.enabled));
        map.insert("roles".into(), json!(self.roles));
        map.insert("mfa_required".into(), json!(self.mfa_required));
        map.insert("fields".into(), Value::Object(self.fields.clone()));
        map.insert("has_password".into(), json!(self.password_hash.is_some()));
        if !self.identities.is_empty() {
            map.insert("identities".into(), json!(self.identities));
        }
        map.insert("created_at".into(), json!(self.created_at));
        map.insert("updated_at".into(), json!(self.updated_at));
        Value::Object(map)
    }
}

/// The standard claims and how each is checked.
#[derive(Clone, Copy)]
enum Claim {
    Text,
    Url,
    Email,
    Phone,
    Bool,
    Date,
    Address,
}

const CLAIMS: &[(&str, Claim)] = &[
    ("name", Claim::Text),
    ("given_name", Claim::Text),
    ("family_name", Claim::Text),
    ("middle_name", Claim::Text),
    ("nickname", Claim::Text),
    ("preferred_username", Claim::Text),
    ("profile", Claim::Url),
    ("picture", Claim::Url),
    ("website", Claim::Url),
    ("email", Claim::Email),
    ("email_verified", Claim::Bool),
    ("gender", Claim::Text),
    ("birthdate", Claim::Date),
    ("zoneinfo", Claim::Text),
    ("locale", Claim::Text),
    ("phone_number", Claim::Phone),
    ("phone_number_verified", Claim::Bool),
    ("address", Claim::Address),
];

pub(crate) fn check_username(name: &str) -> Result<(), &'static str> {
    if name.chars().count() < 3 || name.len() > 64 {
        return Err("must be 3 to 64 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@' | b'+'))
    {
        return Err("may contain only letters, digits and . _ - @ +");
    }
    Ok(())
}

/// Whether `value` passes the rules of the standard claim `name` (a claim an
/// upstream provider fills; an unknown name never does).
pub(crate) fn check_mapped_claim(name: &str, value: &Value) -> bool {
    CLAIMS
        .iter()
        .find(|(n, _)| *n == name)
        .is_some_and(|(_, kind)| check_claim(*kind, value).is_ok())
}

/// Whether `email` is an email address as the `email` claim takes it.
pub(crate) fn check_email(email: &str) -> Result<(), &'static str> {
    check_claim(Claim::Email, &Value::String(email.to_owned()))
}

fn check_claim(kind: Claim, value: &Value) -> Result<(), &'static str> {
    let text = || value.as_str().ok_or("must be a string");
    match kind {
        Claim::Text => {
            let t = text()?;
            if t.chars().count() > MAX_TEXT {
                Err("must be at most 256 characters")
            } else {
                Ok(())
            }
        }
        Claim::Url => HttpsUrl::new(text()?).map(|_| ()).map_err(|e| e.0),
        Claim::Email => {
            let t = text()?;
            let (local, domain) = t.rsplit_once('@').ok_or("must be an email address")?;
            let ok = !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && t.len() <= 254
                && !t.chars().any(|c| c.is_whitespace() || c.is_control());
            if ok { Ok(()) } else { Err("must be an email address") }
        }
        Claim::Phone => {
            let t = text()?;
            let digits = t.strip_prefix('+').ok_or("must be in E.164 form, e.g. +41445551234")?;
            if (7..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
                Ok(())
            } else {
                Err("must be in E.164 form, e.g. +41445551234")
            }
        }
        Claim::Bool => value.as_bool().map(|_| ()).ok_or("must be a boolean"),
        Claim::Date => {
            // OpenID Connect Core 5.1: YYYY-MM-DD, or YYYY alone.
            let t = text()?;
            let parts: Vec<&str> = t.split('-').collect();
            let numeric = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
            let ok = match parts.as_slice() {
                [y] => numeric(y, 4),
                [y, m, d] => {
                    numeric(y, 4)
                        && numeric(m, 2)
                        && numeric(d, 2)
                        && m.parse::<u8>().is_ok_and(|m| (1..=12).contains(&m))
                        && d.parse::<u8>().is_ok_and(|d| (1..=31).contains(&d))
                }
                _ => false,
            };
            if ok { Ok(()) } else { Err("must be YYYY-MM-DD or YYYY") }
        }
        Claim::Address => {
            let address: Address = serde_json::from_value(value.clone())
                .map_err(|_| "must be an object of formatted, street_address, locality, region, postal_code, country strings")?;
            let fields = [
                &address.formatted,
                &address.street_address,
                &address.locality,
                &address.region,
                &address.postal_code,
                &address.country,
            ];
            if fields.iter().any(|f| f.as_ref().is_some_and(|s| s.chars().count() > MAX_TEXT)) {
                return Err("each part must be at most 256 characters");
            }
            Ok(())
        }
    }
}

/// Validates a body; returns the record and the new password, if one was given.
pub(crate) fn validate(
    body: Map<String, Value>,
    current: Option<&UserRecord>,
    id: &str,
    now: UnixTime,
) -> Result<(UserRecord, Option<String>), Vec<FieldError>> {
    let current_view = current.map(UserRecord::view);
    let mut fields = Fields::new(body);
    for name in ["id", "created_at", "updated_at", "has_password", "identities"] {
        fields.read_only(name, current_view.as_ref().and_then(|v| v.get(name)));
    }
    fields.read_only("password_hash", None);
    let username: Option<String> = fields.take("username", "a string");
    match username.as_deref().map(check_username) {
        None => fields.error("/username", "is required"),
        Some(Err(why)) => fields.error("/username", why),
        Some(Ok(())) => {}
    }
    let password: Option<String> = fields.take("password", "a string");
    if let Some(p) = &password
        && let Err(e) = check_password(p, username.as_deref())
    {
        fields.error("/password", e);
    }
    let enabled = fields.take("enabled", "a boolean").unwrap_or(true);
    let roles: Vec<String> = fields.take("roles", "an array of role ids").unwrap_or_default();
    let mfa_required = fields.take("mfa_required", "a boolean").unwrap_or(false);
    // Checked against the field registry by the caller.
    let custom: Map<String, Value> =
        fields.take("fields", "an object of custom field values").unwrap_or_default();
    // The enrolment status (`GET /users/{id}`) is not part of the record: a body
    // read back from it may carry it, and it changes nothing.
    let _: Option<Value> = fields.take("mfa", "an object");
    let mut claims = Map::new();
    for (name, kind) in CLAIMS {
        if let Some(value) = fields.take::<Value>(name, "a value") {
            match check_claim(*kind, &value) {
                Ok(()) => {
                    claims.insert((*name).to_owned(), value);
                }
                Err(why) => fields.error(format!("/{name}"), why),
            }
        }
    }
    fields.finish()?;
    let record = UserRecord {
        id: id.to_owned(),
        username: username.unwrap_or_default(),
        enabled,
        roles,
        claims,
        mfa_required,
        identities: current.map(|c| c.identities.clone()).unwrap_or_default(),
        fields: custom,
        password_hash: current.and_then(|c| c.password_hash.clone()),
        created_at: current.map_or(now, |c| c.created_at),
        updated_at: now,
    };
    Ok((record, password))
}

pub(crate) fn check_password(password: &str, username: Option<&str>) -> Result<(), &'static str> {
    if password.chars().count() < password::MIN_CHARS {
        return Err(password::PasswordError::TooShort.message());
    }
    if password.len() > password::MAX_BYTES {
        return Err(password::PasswordError::TooLong.message());
    }
    if username.is_some_and(|u| u.eq_ignore_ascii_case(password)) {
        return Err("must not be the username");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_are_checked_by_kind() {
        assert!(check_claim(Claim::Email, &json!("ada@example.com")).is_ok());
        assert!(check_claim(Claim::Email, &json!("ada@localhost")).is_err());
        assert!(check_claim(Claim::Phone, &json!("+41445551234")).is_ok());
        assert!(check_claim(Claim::Phone, &json!("044 555 12 34")).is_err());
        assert!(check_claim(Claim::Date, &json!("1815-12-10")).is_ok());
        assert!(check_claim(Claim::Date, &json!("1815")).is_ok());
        assert!(check_claim(Claim::Date, &json!("1815-13-10")).is_err());
        assert!(check_claim(Claim::Address, &json!({"locality": "London"})).is_ok());
        assert!(check_claim(Claim::Address, &json!({"city": "London"})).is_err());
        assert!(check_claim(Claim::Url, &json!("http://example.com/me")).is_err());
    }

    #[test]
    fn usernames() {
        assert!(check_username("ada.lovelace@example.com").is_ok());
        assert!(check_username("ab").is_err());
        assert!(check_username("ada lovelace").is_err());
    }
}
