//! `/admin/v1/roles` and `/admin/v1/apps/{client_id}/permissions`.
//!
//! Each app defines up to 50 permissions; a role bundles permissions (of any apps)
//! and is assigned to users. Roles reference permissions by id, and every view
//! resolves those ids against the app's current permissions, so deleting a
//! permission removes it from every role at once, in one atomic write, and a new
//! permission of the same name is never mistaken for the deleted one.

use http::StatusCode;
use serde_json::{Value, json};

use super::problem::{FieldError, Problem};
use super::{
    Call, check_if_match, commit_record, decode_record, json_body, list_records, no_content, read,
    replacement_body, versioned_response,
};
use crate::context::Context;
use crate::engine::Engine;
use crate::http::Response;
use crate::model::fields::Fields;
use crate::model::role::{
    MAX_PERMISSIONS, Permission, PermissionRef, PermissionSet, RoleRecord, check_description,
    check_permission_name, validate_role,
};
use crate::platform::Platform;
use crate::store::schema;
use crate::store::{Commit, Expect, Versioned};
use crate::token::random_id;

async fn permission_set<P: Platform>(
    engine: &Engine<P>,
    client_id: &str,
) -> Result<(u64, PermissionSet), Problem> {
    if read(engine, &schema::app(client_id)).await?.is_none() {
        return Err(Problem::not_found("no app with this client_id"));
    }
    match read(engine, &schema::permissions(client_id)).await? {
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
        key: schema::permissions(client_id),
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
        let set = match read(engine, &schema::permissions(&reference.client_id)).await? {
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

pub(super) async fn list<P: Platform>(call: &Call<'_, P>) -> Result<Response, Problem> {
    let (records, cursor) = list_records(call, schema::ROLES_PREFIX, &[]).await?;
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
    let versioned = read(call.engine, &schema::role(id))
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
        key: schema::role(&id),
        record: Some(record),
        expect: Expect::Absent,
        claim: vec![schema::role_name(&role.name)],
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
    let key = schema::role(id);
    let current =
        read(call.engine, &key).await?.ok_or_else(|| Problem::not_found("no such role"))?;
    check_if_match(&call.request, current.version)?;
    let existing: RoleRecord = decode(&current)?;
    let body = replacement_body(&call.request, role_view(call.engine, &existing).await?)?;
    let (mut role, refs) =
        validate_role(body, Some(&existing), id, cx.now()).map_err(Problem::invalid)?;
    role.permissions = resolve_permissions(call.engine, refs).await?;
    let (claim, release) =
        super::rename_claims(schema::role_name(&existing.name), schema::role_name(&role.name));
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
    let key = schema::role(id);
    let current =
        read(call.engine, &key).await?.ok_or_else(|| Problem::not_found("no such role"))?;
    check_if_match(&call.request, current.version)?;
    let role: RoleRecord = decode(&current)?;
    let commit = Commit {
        key,
        record: None,
        expect: Expect::Version(current.version),
        claim: Vec::new(),
        release: vec![schema::role_name(&role.name)],
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
        if read(engine, &schema::role(id)).await?.is_none() {
            errors.push(FieldError::new(format!("{pointer}/{i}"), "is not an existing role id"));
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(Problem::invalid(errors)) }
}

fn decode<T: serde::de::DeserializeOwned>(versioned: &Versioned) -> Result<T, Problem> {
    decode_record(&versioned.record)
}
