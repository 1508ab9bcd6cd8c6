//! `/admin/v1/users`: people who sign in. Profile fields use the OpenID Connect
//! standard claim names (Core section 5.1); `password` is write-only and stored
//! only as an Argon2id hash, which no response ever contains.

use http::StatusCode;
use serde_json::json;

use super::problem::Problem;
use super::roles::check_role_ids;
use super::{
    Call, check_if_match, commit_record, decode_record, json_body, list_records, no_content, read,
    replacement_body, versioned_response,
};
use crate::context::Context;
use crate::http::Response;
use crate::model::fields::Fields;
use crate::model::user::{UserRecord, check_password, validate};
use crate::password;
use crate::platform::Platform;
use crate::store::schema;
use crate::store::{Commit, Expect, Versioned};
use crate::token::random_id;

fn decode(versioned: &Versioned) -> Result<UserRecord, Problem> {
    decode_record(&versioned.record)
}

async fn load<P: Platform>(call: &Call<'_, P>, id: &str) -> Result<(u64, UserRecord), Problem> {
    let versioned = read(call.engine, &schema::user(id))
        .await?
        .ok_or_else(|| Problem::not_found("no user with this id"))?;
    Ok((versioned.version, decode(&versioned)?))
}

async fn save<P: Platform>(
    call: &Call<'_, P>,
    record: &UserRecord,
    expect: Expect,
    claim: Vec<String>,
    release: Vec<String>,
) -> Result<u64, Problem> {
    let value = serde_json::to_value(record).map_err(|_| Problem::unavailable())?;
    let commit = Commit {
        key: schema::user(&record.id),
        record: Some(value),
        expect,
        claim,
        release,
        cascade: Vec::new(),
    };
    commit_record(call.engine, commit, "/username").await
}

fn set_hash(record: &mut UserRecord, password: &str, cx: &mut Context<'_>) -> Result<(), Problem> {
    let hash = password::hash(password, cx.rng())
        .map_err(|e| Problem::invalid_field("/password", e.message()))?;
    record.password_hash = Some(hash);
    Ok(())
}

pub(super) async fn list<P: Platform>(call: &Call<'_, P>) -> Result<Response, Problem> {
    let (records, cursor) = list_records(call, schema::USERS_PREFIX, &[]).await?;
    let items = records
        .iter()
        .map(|r| decode_record::<UserRecord>(r).map(|u| u.view()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(crate::http::json_response(
        StatusCode::OK,
        &json!({ "items": items, "next_cursor": cursor }),
    ))
}

pub(super) async fn get<P: Platform>(call: &Call<'_, P>, id: &str) -> Result<Response, Problem> {
    let (version, user) = load(call, id).await?;
    Ok(versioned_response(StatusCode::OK, &user.view(), version))
}

pub(super) async fn create<P: Platform>(
    call: Call<'_, P>,
    cx: &mut Context<'_>,
) -> Result<Response, Problem> {
    let id = random_id(cx.rng(), 16);
    let (mut user, password) =
        validate(json_body(&call.request)?, None, &id, cx.now()).map_err(Problem::invalid)?;
    check_role_ids(call.engine, &user.roles, "/roles").await?;
    if let Some(password) = password {
        set_hash(&mut user, &password, cx)?;
    }
    let version =
        save(&call, &user, Expect::Absent, vec![schema::user_name(&user.username)], Vec::new())
            .await?;
    Ok(versioned_response(StatusCode::CREATED, &user.view(), version))
}

pub(super) async fn update<P: Platform>(
    call: Call<'_, P>,
    id: &str,
    cx: &mut Context<'_>,
) -> Result<Response, Problem> {
    let (version, current) = load(&call, id).await?;
    check_if_match(&call.request, version)?;
    let body = replacement_body(&call.request, current.view())?;
    let (mut user, password) =
        validate(body, Some(&current), id, cx.now()).map_err(Problem::invalid)?;
    check_role_ids(call.engine, &user.roles, "/roles").await?;
    if let Some(password) = password {
        set_hash(&mut user, &password, cx)?;
    }
    let (claim, release) = super::rename_claims(
        schema::user_name(&current.username),
        schema::user_name(&user.username),
    );
    let version = save(&call, &user, Expect::Version(version), claim, release).await?;
    Ok(versioned_response(StatusCode::OK, &user.view(), version))
}

pub(super) async fn delete<P: Platform>(call: &Call<'_, P>, id: &str) -> Result<Response, Problem> {
    let (version, user) = load(call, id).await?;
    check_if_match(&call.request, version)?;
    let commit = Commit {
        key: schema::user(id),
        record: None,
        expect: Expect::Version(version),
        claim: Vec::new(),
        release: vec![schema::user_name(&user.username)],
        cascade: Vec::new(),
    };
    commit_record(call.engine, commit, "/username").await?;
    Ok(no_content())
}

pub(super) async fn set_password<P: Platform>(
    call: Call<'_, P>,
    id: &str,
    cx: &mut Context<'_>,
) -> Result<Response, Problem> {
    let (version, mut user) = load(&call, id).await?;
    check_if_match(&call.request, version)?;
    let mut fields = Fields::new(json_body(&call.request)?);
    let password: Option<String> = fields.take("password", "a string");
    match &password {
        None => fields.error("/password", "is required"),
        Some(p) => {
            if let Err(e) = check_password(p, Some(&user.username)) {
                fields.error("/password", e);
            }
        }
    }
    fields.finish().map_err(Problem::invalid)?;
    set_hash(&mut user, &password.unwrap_or_default(), cx)?;
    user.updated_at = cx.now();
    save(&call, &user, Expect::Version(version), Vec::new(), Vec::new()).await?;
    Ok(no_content())
}

pub(super) async fn set_enabled<P: Platform>(
    call: &Call<'_, P>,
    id: &str,
    enabled: bool,
    cx: &mut Context<'_>,
) -> Result<Response, Problem> {
    let (version, mut user) = load(call, id).await?;
    check_if_match(&call.request, version)?;
    user.enabled = enabled;
    user.updated_at = cx.now();
    let version = save(call, &user, Expect::Version(version), Vec::new(), Vec::new()).await?;
    Ok(versioned_response(StatusCode::OK, &user.view(), version))
}
