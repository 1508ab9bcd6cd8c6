//! Scopes and scope groups.
//!
//! The system scopes (OpenID Connect's and the management API's) are always listed
//! and cannot be changed or deleted. Custom scopes carry a localized description,
//! a security level (a `confidential` scope is requested only by apps an
//! administrator granted it to, through the app's `scope`), an optional group and
//! whether the user must consent.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::fields::{FieldError, Fields, escape_pointer};
use crate::types::{MANAGEMENT_SCOPES, ResourceIndicator, Scope, UnixTime};

/// The OpenID Connect scopes every issuer knows.
pub const OIDC_SCOPES: &[&str] =
    &["openid", "profile", "email", "phone", "address", "offline_access", "groups"];
/// The most locales in one description, and the longest text.
const MAX_LOCALES: (usize, usize) = (50, 256);

/// Whether a scope is requestable by every app or only by apps granted it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecurityLevel {
    /// Any app may request it.
    Public,
    /// Only apps an administrator granted it to (in the app's `scope`).
    Confidential,
}

/// A custom scope as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeRecord {
    /// The scope token.
    pub key: String,
    /// Descriptions by locale, e.g. `{"en": "Read orders", "de": "Bestellungen lesen"}`.
    pub description: BTreeMap<String, String>,
    /// Public or confidential.
    pub security_level: SecurityLevel,
    /// The group id, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Whether the user must consent before an app gets it.
    pub requires_consent: bool,
    /// The resource (API) that owns the scope: tokens carrying it are for that
    /// resource's identifier. A scope belongs to at most one resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<ResourceIndicator>,
    /// Always `false` for stored scopes; `true` on listed system scopes.
    pub system: bool,
    /// Creation time.
    pub created_at: UnixTime,
    /// Last change.
    pub updated_at: UnixTime,
}

/// A scope group as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRecord {
    /// Generated id.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Descriptions by locale.
    pub description: BTreeMap<String, String>,
    /// Creation time.
    pub created_at: UnixTime,
    /// Last change.
    pub updated_at: UnixTime,
}

/// Whether `key` is a built-in scope (OpenID Connect's or the management API's).
pub(crate) fn is_system_scope(key: &str) -> bool {
    OIDC_SCOPES.contains(&key) || MANAGEMENT_SCOPES.contains(&key)
}

/// The view of a built-in scope; the management scopes belong to the management
/// API's resource, `management`.
pub(crate) fn system_scope(key: &str, management: &str) -> Option<Value> {
    is_system_scope(key).then(|| {
        let mut view = json!({
            "key": key,
            "description": {"en": system_description(key)},
            "security_level": if key.starts_with("gatehouse:") { "confidential" } else { "public" },
            "requires_consent": !key.starts_with("gatehouse:") && key != "openid",
            "system": true,
        });
        if key.starts_with("gatehouse:")
            && let Value::Object(map) = &mut view
        {
            map.insert("resource".to_owned(), json!(management));
        }
        view
    })
}

fn system_description(key: &str) -> String {
    match key {
        "openid" => "Sign you in".to_owned(),
        "profile" => "Read your name and profile".to_owned(),
        "email" => "Read your email address".to_owned(),
        "phone" => "Read your phone number".to_owned(),
        "address" => "Read your postal address".to_owned(),
        "offline_access" => "Stay signed in when you are away".to_owned(),
        "groups" => "Read your groups and roles".to_owned(),
        other => {
            format!("Management API: {}", other.trim_start_matches("gatehouse:").replace('_', " "))
        }
    }
}

fn locales(fields: &mut Fields, name: &str) -> BTreeMap<String, String> {
    let map: BTreeMap<String, String> = fields
        .take(name, "an object of locale to text, e.g. {\"en\": \"...\"}")
        .unwrap_or_default();
    if map.len() > MAX_LOCALES.0 {
        fields.error(format!("/{name}"), format!("must have at most {} locales", MAX_LOCALES.0));
    }
    for (locale, text) in &map {
        let pointer = format!("/{name}/{}", escape_pointer(locale));
        if !is_locale(locale) {
            fields.error(pointer.clone(), "is not a language tag such as en or de-CH");
        }
        if text.is_empty() || text.chars().count() > MAX_LOCALES.1 {
            fields.error(pointer, format!("must be 1 to {} characters", MAX_LOCALES.1));
        }
    }
    map
}

/// A BCP 47 language tag in its common shape: a 2-3 letter language and subtags.
fn is_locale(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let language = parts.next().unwrap_or_default();
    (2..=3).contains(&language.len())
        && language.bytes().all(|b| b.is_ascii_lowercase())
        && parts.all(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

pub(crate) fn validate_scope(
    body: Map<String, Value>,
    current: Option<&ScopeRecord>,
    now: UnixTime,
) -> Result<ScopeRecord, Vec<FieldError>> {
    let mut fields = Fields::new(body);
    for name in ["created_at", "updated_at", "system"] {
        let current =
            current.and_then(|c| serde_json::to_value(c).ok()).and_then(|v| v.get(name).cloned());
        fields.read_only(name, current.as_ref());
    }
    let key: Option<String> = fields.take("key", "a string");
    match (&key, current) {
        (Some(k), Some(c)) if *k != c.key => {
            fields.error("/key", "cannot change; create a new scope instead")
        }
        (None, None) => fields.error("/key", "is required"),
        (Some(k), None) => {
            if let Err(e) = Scope::new(k.clone()) {
                fields.error("/key", e.0);
            } else if is_system_scope(k) || k.starts_with("gatehouse:") {
                fields.error("/key", "is a system scope name");
            }
        }
        _ => {}
    }
    let description = locales(&mut fields, "description");
    let security_level = fields
        .take("security_level", "public or confidential")
        .unwrap_or(SecurityLevel::Confidential);
    let group: Option<String> = fields.take("group", "a scope group id");
    let requires_consent = fields.take("requires_consent", "a boolean").unwrap_or(true);
    let resource = fields.take("resource", "a resource identifier");
    fields.finish()?;
    Ok(ScopeRecord {
        key: key.or_else(|| current.map(|c| c.key.clone())).unwrap_or_default(),
        description,
        security_level,
        group,
        requires_consent,
        resource,
        system: false,
        created_at: current.map_or(now, |c| c.created_at),
        updated_at: now,
    })
}

pub(crate) fn validate_group(
    body: Map<String, Value>,
    current: Option<&GroupRecord>,
    id: &str,
    now: UnixTime,
) -> Result<GroupRecord, Vec<FieldError>> {
    let mut fields = Fields::new(body);
    let current_view = current.and_then(|c| serde_json::to_value(c).ok());
    fields.read_only_from(&["id", "created_at", "updated_at"], current_view.as_ref());
    let name = fields.required_name("name", 64);
    let description = locales(&mut fields, "description");
    fields.finish()?;
    Ok(GroupRecord {
        id: id.to_owned(),
        name: name.unwrap_or_default(),
        description,
        created_at: current.map_or(now, |c| c.created_at),
        updated_at: now,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locale_tags() {
        for good in ["en", "de", "de-CH", "zh-Hant-TW", "gsw"] {
            assert!(is_locale(good), "{good}");
        }
        for bad in ["", "E", "english", "de_CH", "en-", "EN"] {
            assert!(!is_locale(bad), "{bad}");
        }
    }

    #[test]
    fn system_scopes_are_known() {
        let management = "https://id.example.com/admin/v1";
        assert!(system_scope("openid", management).unwrap().get("resource").is_none());
        assert_eq!(
            system_scope("gatehouse:apps_read", management).unwrap()["resource"],
            management
        );
        assert!(system_scope("orders:read", management).is_none());
    }
}
