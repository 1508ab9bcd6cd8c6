//! Permissions and roles. Each app defines up to 50 permissions; a role bundles
//! permissions (of any apps) and is assigned to users. Roles reference permissions
//! by id, so deleting a permission removes it from every role at once and a new
//! permission of the same name is never mistaken for the deleted one.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::fields::{FieldError, Fields};
use crate::types::UnixTime;

/// At most this many permissions per app.
pub const MAX_PERMISSIONS: usize = 50;

/// One permission of an app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permission {
    /// Generated id, which roles reference.
    pub id: String,
    /// Letters, digits and underscore, up to 30 characters; unique in the app.
    pub name: String,
    /// Up to 120 characters.
    #[serde(default)]
    pub description: String,
}

/// An app's permissions, stored as one record so a change is one atomic write.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionSet {
    /// The permissions, in creation order.
    pub items: Vec<Permission>,
}

/// A role as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleRecord {
    /// Generated id.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Up to 120 characters.
    #[serde(default)]
    pub description: String,
    /// Permission references.
    pub permissions: Vec<PermissionRef>,
    /// Creation time.
    pub created_at: UnixTime,
    /// Last change.
    pub updated_at: UnixTime,
}

/// A permission a role holds: the app and the permission id (and name, for reading).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionRef {
    /// The app.
    pub client_id: String,
    /// The permission id.
    #[serde(default)]
    pub id: String,
    /// The permission name.
    pub name: String,
}

pub(crate) fn check_permission_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.len() > 30 {
        return Err("must be 1 to 30 characters");
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err("may contain only letters, digits and underscore");
    }
    Ok(())
}

pub(crate) fn check_description(fields: &mut Fields) -> String {
    let description: String = fields.take("description", "a string").unwrap_or_default();
    if description.chars().count() > crate::model::app::MAX_DESCRIPTION {
        fields.error("/description", "must be at most 120 characters");
    }
    description
}

pub(crate) fn validate_role(
    body: Map<String, Value>,
    current: Option<&RoleRecord>,
    id: &str,
    now: UnixTime,
) -> Result<(RoleRecord, Vec<PermissionRef>), Vec<FieldError>> {
    let mut fields = Fields::new(body);
    let current_view = current.and_then(|c| serde_json::to_value(c).ok());
    fields.read_only_from(&["id", "created_at", "updated_at"], current_view.as_ref());
    let name = fields.required_name("name", 64);
    let description = check_description(&mut fields);
    let raw: Vec<Value> = fields.take("permissions", "an array of objects").unwrap_or_default();
    let mut permissions = Vec::with_capacity(raw.len());
    for (i, item) in raw.into_iter().enumerate() {
        // `id` is accepted so a role read back can be written again; the reference
        // is resolved afresh from the name either way.
        let known = item
            .as_object()
            .is_some_and(|o| o.keys().all(|k| matches!(k.as_str(), "client_id" | "name" | "id")));
        let text = |k: &str| item.get(k).and_then(Value::as_str).map(str::to_owned);
        match (known, text("client_id"), text("name")) {
            (true, Some(client_id), Some(name)) => {
                permissions.push(PermissionRef { client_id, id: String::new(), name });
            }
            _ => fields.error(
                format!("/permissions/{i}"),
                "must be an object with client_id and name (and, as read back, id)",
            ),
        }
    }
    fields.finish()?;
    let record = RoleRecord {
        id: id.to_owned(),
        name: name.unwrap_or_default(),
        description,
        permissions: Vec::new(),
        created_at: current.map_or(now, |c| c.created_at),
        updated_at: now,
    };
    Ok((record, permissions))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_names() {
        assert!(check_permission_name("read_orders").is_ok());
        assert!(check_permission_name(&"a".repeat(31)).is_err());
        assert!(check_permission_name("read-orders").is_err());
        assert!(check_permission_name("").is_err());
    }
}
