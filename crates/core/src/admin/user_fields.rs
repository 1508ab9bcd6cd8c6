//! `/admin/v1/user-fields`: the custom user field definitions
//! ([`crate::model::user_field`]), at most 50, kept as one record so every
//! change is one atomic write (each response's `ETag` is that record's version).
//! The `users` scopes cover them: they shape user records.

use http::StatusCode;
use serde_json::{Value, json};

use super::problem::{FieldError, Problem};
use super::{
    Call, check_if_match, commit_record, json_body, no_content, read, replacement_body,
    versioned_response,
};
use crate::context::Context;
use crate::engine::Engine;
use crate::http::Response;
use crate::model::user_field::{MAX_USER_FIELDS, UserField, UserFieldSet, validate};
use crate::platform::Platform;
use crate::store::schema;
use crate::store::{Commit, Expect};

/// The definitions and the version of their record (0: none yet).
pub(crate) async fn field_set<P: Platform>(
    engine: &Engine<P>,
) -> Result<(u64, UserFieldSet), Problem> {
    match read(engine, schema::USER_FIELDS).await? {
        Some(v) => {
            Ok((v.version, serde_json::from_value(v.record).map_err(|_| Problem::unavailable())?))
        }
        None => Ok((0, UserFieldSet::default())),
    }
}

async fn save<P: Platform>(
    engine: &Engine<P>,
    version: u64,
    set: &UserFieldSet,
) -> Result<u64, Problem> {
    let expect = if version == 0 { Expect::Absent } else { Expect::Version(version) };
    let record = serde_json::to_value(set).map_err(|_| Problem::unavailable())?;
    let commit = Commit {
        key: schema::USER_FIELDS.to_owned(),
        record: Some(record),
        expect,
        claim: Vec::new(),
        release: Vec::new(),
        cascade: Vec::new(),
    };
    commit_record(engine, commit, "/key")
        .await
        .map_err(|p| if p.status() == 412 { Problem::precondition_failed() } else { p })
}

fn position(set: &UserFieldSet, key: &str) -> Result<usize, Problem> {
    set.items
        .iter()
        .position(|f| f.key == key)
        .ok_or_else(|| Problem::not_found("no such user field"))
}

pub(super) async fn list<P: Platform>(call: &Call<'_, P>) -> Result<Response, Problem> {
    let (version, set) = field_set(call.engine).await?;
    let items: Vec<Value> = set.items.iter().map(UserField::view).collect();
    Ok(versioned_response(StatusCode::OK, &json!({ "items": items }), version))
}

pub(super) async fn get<P: Platform>(call: &Call<'_, P>, key: &str) -> Result<Response, Problem> {
    let (version, set) = field_set(call.engine).await?;
    let field = set.get(key).ok_or_else(|| Problem::not_found("no such user field"))?;
    Ok(versioned_response(StatusCode::OK, &field.view(), version))
}

pub(super) async fn create<P: Platform>(
    call: Call<'_, P>,
    cx: &mut Context<'_>,
) -> Result<Response, Problem> {
    let field = validate(json_body(&call.request)?, None, cx.now()).map_err(Problem::invalid)?;
    let (version, mut set) = field_set(call.engine).await?;
    if set.get(&field.key).is_some() {
        return Err(Problem::conflict("/key", "is already a user field"));
    }
    if set.items.len() >= MAX_USER_FIELDS {
        return Err(Problem::invalid_field(
            "/key",
            format!("there are at most {MAX_USER_FIELDS} user fields"),
        ));
    }
    set.items.push(field.clone());
    let version = save(call.engine, version, &set).await?;
    Ok(versioned_response(StatusCode::CREATED, &field.view(), version))
}

pub(super) async fn update<P: Platform>(
    call: Call<'_, P>,
    key: &str,
    cx: &mut Context<'_>,
) -> Result<Response, Problem> {
    let (version, mut set) = field_set(call.engine).await?;
    check_if_match(&call.request, version)?;
    let index = position(&set, key)?;
    let current = set.items.get(index).cloned().ok_or_else(Problem::unavailable)?;
    let body = replacement_body(&call.request, current.view())?;
    let field = validate(body, Some(&current), cx.now()).map_err(Problem::invalid)?;
    if let Some(slot) = set.items.get_mut(index) {
        *slot = field.clone();
    }
    let version = save(call.engine, version, &set).await?;
    Ok(versioned_response(StatusCode::OK, &field.view(), version))
}

/// Deletes a definition. Users keep the stored value, unused (not shown, not
/// released) until their record is next written, which drops it.
pub(super) async fn delete<P: Platform>(
    call: &Call<'_, P>,
    key: &str,
) -> Result<Response, Problem> {
    let (version, mut set) = field_set(call.engine).await?;
    check_if_match(&call.request, version)?;
    let index = position(&set, key)?;
    set.items.remove(index);
    save(call.engine, version, &set).await?;
    Ok(no_content())
}

/// Checks that each key of `keys` is a defined user field; errors point at
/// `{pointer}/{index}`.
///
/// # Errors
///
/// A validation problem naming each unknown key, or `unavailable`.
pub(crate) async fn check_field_keys<P: Platform>(
    engine: &Engine<P>,
    keys: impl Iterator<Item = (String, &str)>,
) -> Result<(), Problem> {
    let (_, set) = field_set(engine).await?;
    let errors: Vec<FieldError> = keys
        .filter(|(_, key)| set.get(key).is_none())
        .map(|(pointer, _)| FieldError::new(pointer, "is not a defined user field"))
        .collect();
    if errors.is_empty() { Ok(()) } else { Err(Problem::invalid(errors)) }
}
