//! `/admin/v1/scopes` and `/admin/v1/scope-groups`.
//!
//! The system scopes (OpenID Connect's and the management API's) are always listed
//! and cannot be changed or deleted. Custom scopes carry a localized description,
//! a security level (a `confidential` scope is requested only by apps an
//! administrator granted it to, through the app's `scope`), an optional group and
//! whether the user must consent.

use http::StatusCode;
use serde_json::{Value, json};

use super::problem::Problem;
use super::{
    Call, check_if_match, commit_record, json_body, list_records, no_content, read,
    replacement_body, versioned_response,
};
use crate::context::Context;
use crate::http::Response;
use crate::model::scope::{
    GroupRecord, OIDC_SCOPES, ScopeRecord, is_system_scope, system_scope, validate_group,
    validate_scope,
};
use crate::platform::Platform;
use crate::store::schema;
use crate::store::{Commit, Expect, Versioned};
use crate::token::random_id;
use crate::types::MANAGEMENT_SCOPES;

/// Which collection a request is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `/scopes`.
    Scope,
    /// `/scope-groups`.
    Group,
}

impl Kind {
    const fn prefix(self) -> &'static str {
        match self {
            Self::Scope => schema::SCOPES_PREFIX,
            Self::Group => schema::SCOPE_GROUPS_PREFIX,
        }
    }
}

/// A path segment, percent-decoded (`orders%3Aread` is `orders:read`).
fn segment(raw: &str) -> String {
    percent_encoding::percent_decode_str(raw).decode_utf8_lossy().into_owned()
}

/// Refuses a scope whose group does not exist.
async fn check_group<P: Platform>(call: &Call<'_, P>, group: Option<&str>) -> Result<(), Problem> {
    if let Some(group) = group
        && read(call.engine, &format!("{}{group}", Kind::Group.prefix())).await?.is_none()
    {
        return Err(Problem::invalid_field("/group", "is not an existing scope group id"));
    }
    Ok(())
}

pub(super) async fn list<P: Platform>(call: &Call<'_, P>, kind: Kind) -> Result<Response, Problem> {
    // The system scopes head the list of scopes.
    let management = crate::model::resource::management_identifier(call.engine.config());
    let system: Vec<Value> = match kind {
        Kind::Scope => OIDC_SCOPES
            .iter()
            .chain(MANAGEMENT_SCOPES)
            .filter_map(|k| system_scope(k, &management))
            .collect(),
        Kind::Group => Vec::new(),
    };
    let (items, cursor) = list_records(call, kind.prefix(), &system).await?;
    Ok(crate::http::json_response(
        StatusCode::OK,
        &json!({ "items": items, "next_cursor": cursor }),
    ))
}

pub(super) async fn get<P: Platform>(
    call: &Call<'_, P>,
    kind: Kind,
    raw: &str,
) -> Result<Response, Problem> {
    let key = segment(raw);
    let management = crate::model::resource::management_identifier(call.engine.config());
    if kind == Kind::Scope
        && let Some(system) = system_scope(&key, &management)
    {
        return Ok(crate::http::json_response(StatusCode::OK, &system));
    }
    let versioned = read(call.engine, &format!("{}{key}", kind.prefix()))
        .await?
        .ok_or_else(|| Problem::not_found("no such scope or scope group"))?;
    Ok(versioned_response(StatusCode::OK, &versioned.record, versioned.version))
}

fn system_refusal() -> Problem {
    Problem::conflict("/key", "system scopes cannot be changed or deleted")
}

pub(super) async fn create<P: Platform>(
    call: Call<'_, P>,
    kind: Kind,
    cx: &mut Context<'_>,
) -> Result<Response, Problem> {
    let body = json_body(&call.request)?;
    let (key, record, claim, pointer) = match kind {
        Kind::Scope => {
            let record = validate_scope(body, None, cx.now()).map_err(Problem::invalid)?;
            check_group(&call, record.group.as_deref()).await?;
            super::resources::check_owner(&call, record.resource.as_ref()).await?;
            (record.key.clone(), serde_json::to_value(&record), Vec::new(), "/key")
        }
        Kind::Group => {
            let id = random_id(cx.rng(), 12);
            let record = validate_group(body, None, &id, cx.now()).map_err(Problem::invalid)?;
            let claim = vec![schema::scope_group_name(&record.name)];
            (id, serde_json::to_value(&record), claim, "/name")
        }
    };
    let record = record.map_err(|_| Problem::unavailable())?;
    let commit = Commit {
        key: format!("{}{key}", kind.prefix()),
        record: Some(record.clone()),
        expect: Expect::Absent,
        claim,
        release: Vec::new(),
        cascade: Vec::new(),
    };
    let version = commit_record(call.engine, commit, pointer).await.map_err(|p| {
        // Creating a scope key twice is a conflict on the key, not a stale ETag.
        if p.status() == 412 { Problem::conflict("/key", "is already taken") } else { p }
    })?;
    Ok(versioned_response(StatusCode::CREATED, &record, version))
}

/// The stored scope or group a write is about: never a system scope, and at the
/// version `If-Match` names. Returns the key, the store key and the record.
async fn writable<P: Platform>(
    call: &Call<'_, P>,
    kind: Kind,
    raw: &str,
) -> Result<(String, String, Versioned), Problem> {
    let key = segment(raw);
    if kind == Kind::Scope && is_system_scope(&key) {
        return Err(system_refusal());
    }
    let store_key = format!("{}{key}", kind.prefix());
    let current = read(call.engine, &store_key)
        .await?
        .ok_or_else(|| Problem::not_found("no such scope or scope group"))?;
    check_if_match(&call.request, current.version)?;
    Ok((key, store_key, current))
}

pub(super) async fn update<P: Platform>(
    call: Call<'_, P>,
    kind: Kind,
    raw: &str,
    cx: &mut Context<'_>,
) -> Result<Response, Problem> {
    let (key, store_key, current) = writable(&call, kind, raw).await?;
    let body = replacement_body(&call.request, current.record.clone())?;
    let (record, claim, release) = match kind {
        Kind::Scope => {
            let existing: ScopeRecord = decode(&current)?;
            let record =
                validate_scope(body, Some(&existing), cx.now()).map_err(Problem::invalid)?;
            check_group(&call, record.group.as_deref()).await?;
            if record.resource != existing.resource {
                super::resources::check_owner(&call, record.resource.as_ref()).await?;
            }
            (serde_json::to_value(&record), Vec::new(), Vec::new())
        }
        Kind::Group => {
            let existing: GroupRecord = decode(&current)?;
            let record =
                validate_group(body, Some(&existing), &key, cx.now()).map_err(Problem::invalid)?;
            let (claim, release) = super::rename_claims(
                schema::scope_group_name(&existing.name),
                schema::scope_group_name(&record.name),
            );
            (serde_json::to_value(&record), claim, release)
        }
    };
    let record = record.map_err(|_| Problem::unavailable())?;
    let commit = Commit {
        key: store_key,
        record: Some(record.clone()),
        expect: Expect::Version(current.version),
        claim,
        release,
        cascade: Vec::new(),
    };
    let version = commit_record(call.engine, commit, "/name").await?;
    Ok(versioned_response(StatusCode::OK, &record, version))
}

pub(super) async fn delete<P: Platform>(
    call: &Call<'_, P>,
    kind: Kind,
    raw: &str,
) -> Result<Response, Problem> {
    let (_, store_key, current) = writable(call, kind, raw).await?;
    let release = match kind {
        Kind::Scope => Vec::new(),
        Kind::Group => vec![schema::scope_group_name(&decode::<GroupRecord>(&current)?.name)],
    };
    let commit = Commit {
        key: store_key,
        record: None,
        expect: Expect::Version(current.version),
        claim: Vec::new(),
        release,
        cascade: Vec::new(),
    };
    commit_record(call.engine, commit, "/key").await?;
    Ok(no_content())
}

fn decode<T: serde::de::DeserializeOwned>(versioned: &Versioned) -> Result<T, Problem> {
    super::decode_record(&versioned.record)
}
