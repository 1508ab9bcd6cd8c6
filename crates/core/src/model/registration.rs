//! An app's self-registration settings: whether its login page offers "Create
//! account" (off unless turned on), which custom user fields
//! ([`super::user_field`]) the registration page asks for and which of them it
//! requires, and the password policy of the passwords set there.
//!
//! The settings sit on the app record beside its other fields. That each named
//! field exists is checked against the field registry by the caller (the
//! management API), as `allowed_roles` are checked against the roles; a field
//! deleted later is skipped by the page.

use serde::{Deserialize, Serialize};

use super::fields::Fields;
use crate::password;

/// The longest `min_length` an app may ask for.
pub const MAX_MIN_LENGTH: u32 = 128;

/// The password rules of an app's hosted pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordPolicy {
    /// The fewest characters (at least the issuer's minimum of 8).
    pub min_length: u32,
    /// The most characters, if the app limits them (else 256 bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u32>,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self { min_length: password::MIN_CHARS as u32, max_length: None }
    }
}

/// Why a password does not meet a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyRefusal {
    /// Fewer characters than `min_length`.
    TooShort(u32),
    /// More characters than `max_length`, or more than 256 bytes.
    TooLong(u32),
    /// The password is the username or the email address.
    SameAsName,
}

impl PasswordPolicy {
    /// Checks `password` of a user with the sign-in names `names`.
    ///
    /// # Errors
    ///
    /// The first rule it breaks.
    pub fn check(&self, password: &str, names: &[&str]) -> Result<(), PolicyRefusal> {
        let chars = password.chars().count();
        if chars < self.min_length as usize {
            return Err(PolicyRefusal::TooShort(self.min_length));
        }
        let max = self.max_length.unwrap_or(password::MAX_BYTES as u32);
        if chars > max as usize || password.len() > password::MAX_BYTES {
            return Err(PolicyRefusal::TooLong(max));
        }
        if names.iter().any(|n| !n.is_empty() && n.eq_ignore_ascii_case(password)) {
            return Err(PolicyRefusal::SameAsName);
        }
        Ok(())
    }
}

/// An app's registration settings, stored flattened into the app record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    /// Whether the login page offers registration.
    #[serde(default)]
    pub self_registration: bool,
    /// The custom fields the registration page shows, in this order.
    #[serde(default)]
    pub registration_fields: Vec<String>,
    /// Which of them it requires (when empty, each field's own `required`
    /// decides). Each must be among `registration_fields`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_fields: Option<Vec<String>>,
    /// The password policy of the hosted pages.
    #[serde(default)]
    pub password_policy: PasswordPolicy,
}

impl Registration {
    /// Whether the page requires `key`, given the field's own default.
    #[must_use]
    pub fn requires(&self, key: &str, default: bool) -> bool {
        self.required_fields.as_ref().map_or(default, |r| r.iter().any(|k| k == key))
    }
}

/// Takes the registration settings of an app body. `interactive` says whether the
/// app's users see the hosted pages at all.
pub(crate) fn take(fields: &mut Fields, interactive: bool) -> Registration {
    let self_registration = fields.take("self_registration", "a boolean").unwrap_or(false);
    if self_registration && !interactive {
        fields.error("/self_registration", "needs an app whose users see the hosted login page");
    }
    let registration_fields: Vec<String> =
        fields.take("registration_fields", "an array of user field keys").unwrap_or_default();
    if registration_fields.len() > super::user_field::MAX_USER_FIELDS {
        fields.error("/registration_fields", "must list at most 50 fields");
    }
    for (i, key) in registration_fields.iter().enumerate() {
        if registration_fields.iter().take(i).any(|k| k == key) {
            fields.error(format!("/registration_fields/{i}"), "is listed twice");
        }
    }
    let required_fields: Option<Vec<String>> =
        fields.take("required_fields", "an array of user field keys");
    for (i, key) in required_fields.iter().flatten().enumerate() {
        if !registration_fields.contains(key) {
            fields.error(format!("/required_fields/{i}"), "must be one of registration_fields");
        }
    }
    let policy = fields.take::<serde_json::Value>("password_policy", "an object");
    let password_policy = match policy {
        None => PasswordPolicy::default(),
        Some(value) => policy_of(fields, value),
    };
    Registration { self_registration, registration_fields, required_fields, password_policy }
}

fn policy_of(fields: &mut Fields, value: serde_json::Value) -> PasswordPolicy {
    let serde_json::Value::Object(map) = value else {
        fields.error("/password_policy", "must be an object");
        return PasswordPolicy::default();
    };
    let mut inner = Fields::new(map);
    let min = (password::MIN_CHARS as u32, MAX_MIN_LENGTH);
    let min_length = inner.take::<u32>("min_length", "an integer").unwrap_or(min.0);
    let max_length = inner.take::<u32>("max_length", "an integer");
    let mut errors = std::mem::take(&mut inner.errors);
    if !(min.0..=min.1).contains(&min_length) {
        errors.push(super::FieldError::new(
            "/min_length",
            format!("must be from {} to {}", min.0, min.1),
        ));
    }
    if max_length.is_some_and(|m| m < min_length || m as usize > password::MAX_BYTES) {
        errors.push(super::FieldError::new(
            "/max_length",
            format!("must be from min_length to {}", password::MAX_BYTES),
        ));
    }
    if let Err(more) = inner.finish() {
        errors.extend(more);
    }
    for e in errors {
        fields.error(format!("/password_policy{}", e.pointer), e.detail);
    }
    PasswordPolicy { min_length, max_length }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn read(body: Value, interactive: bool) -> Result<Registration, Vec<String>> {
        let Value::Object(map) = body else { unreachable!() };
        let mut fields = Fields::new(map);
        let registration = take(&mut fields, interactive);
        fields.finish().map_err(|e| e.into_iter().map(|e| e.pointer).collect::<Vec<_>>())?;
        Ok(registration)
    }

    #[test]
    fn off_by_default_with_the_issuer_minimum() {
        let r = read(json!({}), true).unwrap();
        assert!(!r.self_registration);
        assert_eq!(r.password_policy.min_length, 8);
        assert!(r.requires("x", true) && !r.requires("x", false));
    }

    #[test]
    fn settings_are_checked() {
        let ok = read(
            json!({"self_registration": true, "registration_fields": ["a", "b"],
                   "required_fields": ["b"], "password_policy": {"min_length": 12, "max_length": 64}}),
            true,
        )
        .unwrap();
        assert!(ok.requires("b", false) && !ok.requires("a", true));
        assert_eq!(ok.password_policy, PasswordPolicy { min_length: 12, max_length: Some(64) });
        assert_eq!(
            read(json!({"self_registration": true}), false).unwrap_err(),
            ["/self_registration"]
        );
        assert_eq!(
            read(json!({"registration_fields": ["a", "a"], "required_fields": ["c"]}), true)
                .unwrap_err(),
            ["/registration_fields/1", "/required_fields/0"]
        );
        assert_eq!(
            read(
                json!({"password_policy": {"min_length": 4, "max_length": 2, "breached": true}}),
                true
            )
            .unwrap_err(),
            [
                "/password_policy/min_length",
                "/password_policy/max_length",
                "/password_policy/breached"
            ]
        );
    }

    #[test]
    fn policies_refuse_short_long_and_name_passwords() {
        let policy = PasswordPolicy { min_length: 10, max_length: Some(12) };
        assert_eq!(policy.check("short", &[]), Err(PolicyRefusal::TooShort(10)));
        assert_eq!(policy.check("muchtoolongpass", &[]), Err(PolicyRefusal::TooLong(12)));
        assert_eq!(
            policy.check("ada@example", &["ada", "ADA@example"]),
            Err(PolicyRefusal::SameAsName)
        );
        assert!(policy.check("correct horse", &["ada"]).is_err());
        assert!(policy.check("correcthorse", &["ada"]).is_ok());
    }
}
