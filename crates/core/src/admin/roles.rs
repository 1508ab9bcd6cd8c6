//! `/admin/v1/roles` and `/admin/v1/apps/{client_id}/permissions`.
//!
//! Each app defines up to 50 permissions; a role bundles permissions (of any apps)
//! and is assigned to users. Roles reference permissions by id, and every view
//! resolves those ids against the app's current permissions, so deleting a
//! permission removes it from every role at once, in one atomic write, and a new
//! permission of the same name is never mistaken for the deleted one.

use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::apps::app_key;
use super::fields::Fields;
use super::problem::{FieldError, Problem};
use super::{
    Call, check_if_match, commit_record, decode_record, json_body, list_records, no_content, read,
    replacement_body, versioned_response,
};
use crate::engine::{Context, Engine};
use crate::http::Response;
use crate::platform::Platform;
use crate::store::{Commit, Expect, Versioned};
use crate::token::random_id;
use crate::types::UnixTime;

/// At most this many permissions per app.
pub const MAX_PERMISSIONS: usize = 50;
/// Where roles live in the directory.
pub const ROLES_PREFIX: &str = "roles/";

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

/// The directory key of an app's permission set.
pub(crate) fn permissions_key(client_id: &str) -> String {
    format!("permissions/{client_id}")
}

fn role_claim(name: &str) -> String {
    format!("names/roles/{}", name.to_lowercase())
}

fn check_permission_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.len() > 30 {
        return Err("must be 1 to 30 characters");
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err("may contain only letters, digits and underscore");
    }
    Ok(())
}

fn check_description(fields: &mut Fields) -> String {
    let description: String = fields.take("description", "a string").unwrap_or_default();
    if description.chars().count() > super::apps::MAX_DESCRIPTION {
        fields.error("/description", "must be at most 120 characters");
    }
    description
}

async fn permission_set<P: Platform>(
    engine: &Engine<P>,
    client_id: &str,
) -> Result<(u64, PermissionSet), Problem> {
    if read(engine, &app_key(client_id)).await?.is_none() {
        return Err(Problem::not_found("no app with this client_id"));
    }
    match read(engine, &permissions_key(client_id)).await? {
        Some(v) => {
            Ok((v.version, serde_json::from_value(v.record).map_err(|_| Problem::unavailable())?))
        }
        None => Ok((0, PermissionSet::default())),
    }
}

async fn save_permissions<P: Platform>(
    engine: &Engine<P>,
    client_id: &str,
    version: u64,
    set: &PermissionSet,
) -> Result<u64, Problem> {
    let expect = if version == 0 { Expect::Absent } else { Expect::Version(version) };
    let record = serde_json::to_value(set).map_err(|_| Problem::unavailable())?;
    let commit = Commit {
        key: permissions_key(client_id),
        record: Some(record),
        expect,
        claim: Vec::new(),
        release: Vec::new(),
        cascade: Vec::new(),
    };
    commit_record(engine, commit, "/name")
        .await
        .map_err(|p| if p.status() == 412 { Problem::precondition_failed() } else { p })
}

pub(super) async fn list_permissions<P: Platform>(
    call: &Call<'_, P>,
    client_id: &str,
) -> Result<Response, Problem> {
    let (version, set) = permission_set(call.engine, client_id).await?;
    Ok(versioned_response(StatusCode::OK, &json!({ "items": set.items }), version))
}

pub(super) async fn get_permission<P: Platform>(
    call: &Call<'_, P>,
    client_id: &str,
    name: &str,
) -> Result<Response, Problem> {
    let (version, set) = permission_set(call.engine, client_id).await?;
    let permission = set
        .items
        .iter()
        .find(|p| p.name == name)
        .ok_or_else(|| Problem::not_found("no such permission"))?;
    Ok(versioned_response(StatusCode::OK, &json!(permission), version))
}

pub(super) async fn create_permission<P: Platform>(
    call: Call<'_, P>,
    client_id: &str,
    cx: &mut Context<'_>,
) -> Result<Response, Problem> {
    let mut fields = Fields::new(json_body(&call.request)?);
    let name: Option<String> = fields.take("name", "a string");
    match name.as_deref().map(check_permission_name) {
        None => fields.error("/name", "is required"),
        Some(Err(why)) => fields.error("/name", why),
        Some(Ok(())) => {}
    }
    let description = check_description(&mut fields);
    fields.finish().map_err(Problem::invalid)?;
    let name = name.unwrap_or_default();
    let (version, mut set) = permission_set(call.engine, client_id).await?;
    if set.items.iter().any(|p| p.name.eq_ignore_ascii_case(&name)) {
        return Err(Problem::conflict("/name", "is already a permission of this app"));
    }
    if set.items.len() >= MAX_PERMISSIONS {
        return Err(Problem::invalid_field(
            "/name",
            format!("an app has at most {MAX_PERMISSIONS} permissions"),
        ));
    }
    let permission = Permission { id: random_id(cx.rng(), 12), name, description };
    set.items.push(permission.clone());
    let version = save_permissions(call.engine, client_id, version, &set).await?;
    Ok(versioned_response(StatusCode::CREATED, &json!(permission), version))
}

pub(super) async fn update_permission<P: Platform>(
    call: Call<'_, P>,
    client_id: &str,
    name: &str,
    _cx: &mut Context<'_>,
) -> Result<Response, Problem> {
    let (version, mut set) = permission_set(call.engine, client_id).await?;
    check_if_match(&call.request, version)?;
    let index = set
        .items
        .iter()
        .position(|p| p.name == name)
        .ok_or_else(|| Problem::not_found("no such permission"))?;
    let mut fields = Fields::new(json_body(&call.request)?);
    let current = serde_json::to_value(set.items.get(index)).unwrap_or(Value::Null);
    fields.read_only("id", current.get("id"));
    fields.read_only("name", current.get("name"));
    let description = check_description(&mut fields);
    fields.finish().map_err(Problem::invalid)?;
    let updated = match set.items.get_mut(index) {
        Some(permission) => {
            permission.description = description;
            permission.clone()
        }
        None => return Err(Problem::not_found("no such permission")),
    };
    let version = save_permissions(call.engine, client_id, version, &set).await?;
    Ok(versioned_response(StatusCode::OK, &json!(updated), version))
}

pub(super) async fn delete_permission<P: Platform>(
    call: &Call<'_, P>,
    client_id: &str,
    name: &str,
    _cx: &mut Context<'_>,
) -> Result<Response, Problem> {
    let (version, mut set) = permission_set(call.engine, client_id).await?;
    check_if_match(&call.request, version)?;
    let before = set.items.len();
    set.items.retain(|p| p.name != name);
    if set.items.len() == before {
        return Err(Problem::not_found("no such permission"));
    }
    save_permissions(call.engine, client_id, version, &set).await?;
    Ok(no_content())
}

/// Resolves `{client_id, name}` references to permission ids, naming bad entries.
async fn resolve_permissions<P: Platform>(
    engine: &Engine<P>,
    refs: Vec<PermissionRef>,
) -> Result<Vec<PermissionRef>, Problem> {
    let mut errors = Vec::new();
    let mut resolved = Vec::with_capacity(refs.len());
    for (i, reference) in refs.into_iter().enumerate() {
        let set = match permission_set(engine, &reference.client_id).await {
            Ok((_, set)) => set,
            Err(p) if p.status() == 404 => {
                errors.push(FieldError::new(
                    format!("/permissions/{i}/client_id"),
                    "is not an existing app",
                ));
                continue;
            }
            Err(p) => return Err(p),
        };
        match set.items.iter().find(|p| p.name == reference.name) {
            Some(p) => resolved.push(PermissionRef {
                client_id: reference.client_id,
                id: p.id.clone(),
                name: p.name.clone(),
            }),
            None => errors.push(FieldError::new(
                format!("/permissions/{i}/name"),
                "is not a permission of that app",
            )),
        }
    }
    if errors.is_empty() { Ok(resolved) } else { Err(Problem::invalid(errors)) }
}

/// The role as shown: only permissions that still exist.
async fn role_view<P: Platform>(engine: &Engine<P>, role: &RoleRecord) -> Result<Value, Problem> {
    let mut view = role.clone();
    let mut live = Vec::with_capacity(role.permissions.len());
    for reference in &role.permissions {
        let set = match read(engine, &permissions_key(&reference.client_id)).await? {
            Some(v) => serde_json::from_value::<PermissionSet>(v.record).unwrap_or_default(),
            None => PermissionSet::default(),
        };
        if let Some(p) = set.items.iter().find(|p| p.id == reference.id) {
            live.push(PermissionRef {
                client_id: reference.client_id.clone(),
                id: p.id.clone(),
                name: p.name.clone(),
            });
        }
    }
    view.permissions = live;
    serde_json::to_value(view).map_err(|_| Problem::unavailable())
}

fn validate_role(
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

pub(super) async fn list<P: Platform>(call: &Call<'_, P>) -> Result<Response, Problem> {
    let (records, cursor) = list_records(call, ROLES_PREFIX, &[]).await?;
    let mut items = Vec::with_capacity(records.len());
    for record in &records {
        items.push(role_view(call.engine, &decode_record(record)?).await?);
    }
    Ok(crate::http::json_response(
        StatusCode::OK,
        &json!({ "items": items, "next_cursor": cursor }),
    ))
}

pub(super) async fn get<P: Platform>(call: &Call<'_, P>, id: &str) -> Result<Response, Problem> {
    let versioned = read(call.engine, &format!("{ROLES_PREFIX}{id}"))
        .await?
        .ok_or_else(|| Problem::not_found("no such role"))?;
    let view = role_view(call.engine, &decode(&versioned)?).await?;
    Ok(versioned_response(StatusCode::OK, &view, versioned.version))
}

pub(super) async fn create<P: Platform>(
    call: Call<'_, P>,
    cx: &mut Context<'_>,
) -> Result<Response, Problem> {
    let id = random_id(cx.rng(), 12);
    let (mut role, refs) =
        validate_role(json_body(&call.request)?, None, &id, cx.now()).map_err(Problem::invalid)?;
    role.permissions = resolve_permissions(call.engine, refs).await?;
    let record = serde_json::to_value(&role).map_err(|_| Problem::unavailable())?;
    let commit = Commit {
        key: format!("{ROLES_PREFIX}{id}"),
        record: Some(record),
        expect: Expect::Absent,
        claim: vec![role_claim(&role.name)],
        release: Vec::new(),
        cascade: Vec::new(),
    };
    let version = commit_record(call.engine, commit, "/name").await?;
    Ok(versioned_response(StatusCode::CREATED, &role_view(call.engine, &role).await?, version))
}

pub(super) async fn update<P: Platform>(
    call: Call<'_, P>,
    id: &str,
    cx: &mut Context<'_>,
) -> Result<Response, Problem> {
    let key = format!("{ROLES_PREFIX}{id}");
    let current =
        read(call.engine, &key).await?.ok_or_else(|| Problem::not_found("no such role"))?;
    check_if_match(&call.request, current.version)?;
    let existing: RoleRecord = decode(&current)?;
    let body = replacement_body(&call.request, role_view(call.engine, &existing).await?)?;
    let (mut role, refs) =
        validate_role(body, Some(&existing), id, cx.now()).map_err(Problem::invalid)?;
    role.permissions = resolve_permissions(call.engine, refs).await?;
    let (claim, release) = super::rename_claims(role_claim(&existing.name), role_claim(&role.name));
    let record = serde_json::to_value(&role).map_err(|_| Problem::unavailable())?;
    let commit = Commit {
        key,
        record: Some(record),
        expect: Expect::Version(current.version),
        claim,
        release,
        cascade: Vec::new(),
    };
    let version = commit_record(call.engine, commit, "/name").await?;
    Ok(versioned_response(StatusCode::OK, &role_view(call.engine, &role).await?, version))
}

pub(super) async fn delete<P: Platform>(call: &Call<'_, P>, id: &str) -> Result<Response, Problem> {
    let key = format!("{ROLES_PREFIX}{id}");
    let current =
        read(call.engine, &key).await?.ok_or_else(|| Problem::not_found("no such role"))?;
    check_if_match(&call.request, current.version)?;
    let role: RoleRecord = decode(&current)?;
    let commit = Commit {
        key,
        record: None,
        expect: Expect::Version(current.version),
        claim: Vec::new(),
        release: vec![role_claim(&role.name)],
        cascade: Vec::new(),
    };
    commit_record(call.engine, commit, "/name").await?;
    Ok(no_content())
}

/// Checks that every id in `ids` is an existing role; errors point at
/// `{pointer}/{index}`.
///
/// # Errors
///
/// A validation problem naming each unknown role, or `unavailable`.
pub(crate) async fn check_role_ids<P: Platform>(
    engine: &Engine<P>,
    ids: &[String],
    pointer: &str,
) -> Result<(), Problem> {
    let mut errors = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        if read(engine, &format!("{ROLES_PREFIX}{id}")).await?.is_none() {
            errors.push(FieldError::new(format!("{pointer}/{i}"), "is not an existing role id"));
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(Problem::invalid(errors)) }
}

fn decode<T: serde::de::DeserializeOwned>(versioned: &Versioned) -> Result<T, Problem> {
    decode_record(&versioned.record)
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
