//! `/admin/v1/resources`: the APIs (resource servers) access tokens are for.
//!
//! A resource's `identifier` is the `aud` of every access token issued for it (RFC
//! 9068 section 3, RFC 8707). It owns scopes: a custom scope names its resource in
//! its `resource` field, and a token request's scopes (or its `resource` parameter)
//! pick the one resource the token is for. A resource may set its own access token
//! lifetime and signing algorithm; unset, the app's apply.
//!
//! The management API is the built-in resource `{ISSUER}/admin/v1`, owning the
//! `gatehouse:*` scopes. It is always listed and cannot be changed or deleted.

use http::StatusCode;
use serde_json::{Value, json};

use super::problem::Problem;
use super::{
    Call, check_if_match, commit_record, decode_record, json_body, list_records, no_content, read,
    rename_claims, replacement_body, versioned_response,
};
use crate::config::Config;
use crate::context::Context;
use crate::http::Response;
use crate::model::resource::{ResourceRecord, management_identifier, validate, with_scopes};
use crate::model::scope::ScopeRecord;
use crate::platform::Platform;
use crate::store::schema;
use crate::store::{Commit, Directory, Expect, Versioned};
use crate::types::{MANAGEMENT_SCOPES, ResourceIndicator};

/// The management API as a listed resource.
fn management_view(config: &Config) -> Value {
    json!({
        "identifier": management_identifier(config),
        "name": "Gatehouse Management API",
        "description": "The management API of this issuer",
        "system": true,
        "scopes": MANAGEMENT_SCOPES,
    })
}

/// A path segment, percent-decoded: identifiers are URIs, so they travel encoded
/// (`https%3A%2F%2Fapi.example.com`).
fn segment(raw: &str) -> String {
    percent_encoding::percent_decode_str(raw).decode_utf8_lossy().into_owned()
}

fn not_found() -> Problem {
    Problem::not_found("no resource with this identifier")
}

fn system_refusal() -> Problem {
    Problem::conflict("/identifier", "the management API cannot be changed or deleted")
}

/// The keys of the custom scopes that name `identifier` as their resource, read
/// through the directory (so a scope created within the last moments elsewhere may
/// be missing; deletion re-checks through the same read).
async fn owned_scopes<P: Platform>(
    call: &Call<'_, P>,
    identifier: &str,
) -> Result<Vec<String>, Problem> {
    let directory = call.engine.platform().directory();
    let mut owned = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = directory
            .list(schema::SCOPES_PREFIX, cursor.as_deref(), crate::store::MAX_LIST_LIMIT)
            .await
            .map_err(|_| Problem::unavailable())?;
        for key in &page.keys {
            let Some(bytes) = directory.get(key).await.map_err(|_| Problem::unavailable())? else {
                continue;
            };
            if let Ok(versioned) = serde_json::from_slice::<Versioned>(&bytes)
                && let Ok(scope) = serde_json::from_value::<ScopeRecord>(versioned.record)
                && scope.resource.as_ref().is_some_and(|r| r.as_str() == identifier)
            {
                owned.push(scope.key);
            }
        }
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(owned),
        }
    }
}

pub(super) async fn list<P: Platform>(call: &Call<'_, P>) -> Result<Response, Problem> {
    let system = [management_view(call.engine.config())];
    let (items, cursor) = list_records(call, schema::RESOURCES_PREFIX, &system).await?;
    Ok(crate::http::json_response(
        StatusCode::OK,
        &json!({ "items": items, "next_cursor": cursor }),
    ))
}

async fn load<P: Platform>(
    call: &Call<'_, P>,
    raw: &str,
) -> Result<(ResourceRecord, u64), Problem> {
    let identifier = segment(raw);
    if identifier == management_identifier(call.engine.config()) {
        return Err(system_refusal());
    }
    let versioned =
        read(call.engine, &schema::resource(&identifier)).await?.ok_or_else(not_found)?;
    Ok((decode_record(&versioned.record)?, versioned.version))
}

pub(super) async fn get<P: Platform>(call: &Call<'_, P>, raw: &str) -> Result<Response, Problem> {
    let config = call.engine.config();
    if segment(raw) == management_identifier(config) {
        return Ok(crate::http::json_response(StatusCode::OK, &management_view(config)));
    }
    let (record, version) = load(call, raw).await?;
    let scopes = owned_scopes(call, record.identifier.as_str()).await?;
    Ok(versioned_response(StatusCode::OK, &with_scopes(&record, &scopes), version))
}

pub(super) async fn create<P: Platform>(
    call: Call<'_, P>,
    cx: &mut Context<'_>,
) -> Result<Response, Problem> {
    let body = json_body(&call.request)?;
    let management = management_identifier(call.engine.config());
    let record = validate(body, None, &management, cx.now()).map_err(Problem::invalid)?;
    let value = serde_json::to_value(&record).map_err(|_| Problem::unavailable())?;
    let commit = Commit {
        key: schema::resource(record.identifier.as_str()),
        record: Some(value),
        expect: Expect::Absent,
        claim: vec![schema::resource_name(&record.name)],
        release: Vec::new(),
        cascade: Vec::new(),
    };
    let version = commit_record(call.engine, commit, "/name").await.map_err(|p| {
        // An identifier registered twice is a conflict on it, not a stale ETag.
        if p.status() == 412 {
            Problem::conflict("/identifier", "is already registered")
        } else {
            p
        }
    })?;
    Ok(versioned_response(StatusCode::CREATED, &with_scopes(&record, &[]), version))
}

pub(super) async fn update<P: Platform>(
    call: Call<'_, P>,
    raw: &str,
    cx: &mut Context<'_>,
) -> Result<Response, Problem> {
    let (current, version) = load(&call, raw).await?;
    check_if_match(&call.request, version)?;
    // `scopes` is derived: a body may send back what it read, nothing else.
    let owned = owned_scopes(&call, current.identifier.as_str()).await?;
    let body = replacement_body(&call.request, with_scopes(&current, &owned))?;
    let management = management_identifier(call.engine.config());
    let record = validate(body, Some((&current, &owned)), &management, cx.now())
        .map_err(Problem::invalid)?;
    let (claim, release) =
        rename_claims(schema::resource_name(&current.name), schema::resource_name(&record.name));
    let value = serde_json::to_value(&record).map_err(|_| Problem::unavailable())?;
    let commit = Commit {
        key: schema::resource(record.identifier.as_str()),
        record: Some(value),
        expect: Expect::Version(version),
        claim,
        release,
        cascade: Vec::new(),
    };
    let version = commit_record(call.engine, commit, "/name").await?;
    Ok(versioned_response(StatusCode::OK, &with_scopes(&record, &owned), version))
}

pub(super) async fn delete<P: Platform>(
    call: &Call<'_, P>,
    raw: &str,
) -> Result<Response, Problem> {
    let (current, version) = load(call, raw).await?;
    check_if_match(&call.request, version)?;
    let scopes = owned_scopes(call, current.identifier.as_str()).await?;
    if !scopes.is_empty() {
        return Err(Problem::conflict(
            "/scopes",
            format!(
                "the resource still owns scopes ({}); delete them or move them to another \
                 resource first",
                scopes.join(", ")
            ),
        ));
    }
    let commit = Commit {
        key: schema::resource(current.identifier.as_str()),
        record: None,
        expect: Expect::Version(version),
        claim: Vec::new(),
        release: vec![schema::resource_name(&current.name)],
        cascade: Vec::new(),
    };
    commit_record(call.engine, commit, "/identifier").await?;
    Ok(no_content())
}

/// Refuses a scope whose `resource` is not a registered resource.
pub(super) async fn check_owner<P: Platform>(
    call: &Call<'_, P>,
    resource: Option<&ResourceIndicator>,
) -> Result<(), Problem> {
    let Some(resource) = resource else { return Ok(()) };
    if resource.as_str() == management_identifier(call.engine.config()) {
        return Err(Problem::invalid_field(
            "/resource",
            "the management API owns only the gatehouse:* scopes",
        ));
    }
    if read(call.engine, &schema::resource(resource.as_str())).await?.is_none() {
        return Err(Problem::invalid_field("/resource", "is not a registered resource identifier"));
    }
    Ok(())
}
