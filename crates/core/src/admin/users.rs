//! `/admin/v1/users`: people who sign in. Profile fields use the OpenID Connect
//! standard claim names (Core section 5.1); `password` is write-only and stored
//! only as an Argon2id hash, which no response ever contains. A user's second
//! factor is the user's own (enrolled on the hosted pages): the API shows its
//! status (`mfa`) and resets it (`DELETE /users/{id}/mfa`), never its secret.

use http::StatusCode;
use serde_json::json;

use super::problem::Problem;
use super::roles::check_role_ids;
use super::user_fields::field_set;
use super::{
    Call, check_if_match, commit_problem, decode_record, json_body, list_records, no_content, read,
    replacement_body, versioned_response,
};
use crate::context::Context;
use crate::http::Response;
use crate::model::factor::SecondFactor;
use crate::model::fields::Fields;
use crate::model::user::{UserRecord, check_password, validate};
use crate::model::user_field::UserFieldSet;
use crate::password;
use crate::platform::Platform;
use crate::store::schema;
use crate::store::{Commit, CommitError, Expect, Registry as _, Versioned};
use crate::token::random_id;

/// The user as shown: custom field values only of fields still defined.
fn shown(user: &UserRecord, set: &UserFieldSet) -> serde_json::Value {
    let mut view = user.view();
    if let Some(map) = view.as_object_mut() {
        map.insert("fields".into(), serde_json::Value::Object(set.keep_defined(&user.fields)));
    }
    view
}

/// Checks the custom field values of `user` against the definitions.
fn check_fields(user: &UserRecord, set: &UserFieldSet) -> Result<(), Problem> {
    set.check_values(&user.fields).map_err(Problem::invalid)
}

fn decode(versioned: &Versioned) -> Result<UserRecord, Problem> {
    decode_record(&versioned.record)
}

async fn load<P: Platform>(call: &Call<'_, P>, id: &str) -> Result<(u64, UserRecord), Problem> {
    let versioned = read(call.engine, &schema::user(id))
        .await?
        .ok_or_else(|| Problem::not_found("no user with this id"))?;
    Ok((versioned.version, decode(&versioned)?))
}

/// The names a user holds, each unique among users.
fn sign_in_names(user: &UserRecord) -> Vec<String> {
    user.sign_in_names()
}

/// Saves `record`, moving its sign-in names from those of `previous`.
async fn save<P: Platform>(
    call: &Call<'_, P>,
    record: &UserRecord,
    expect: Expect,
    previous: Option<&UserRecord>,
) -> Result<u64, Problem> {
    let value = serde_json::to_value(record).map_err(|_| Problem::unavailable())?;
    let old = previous.map(sign_in_names).unwrap_or_default();
    let new = sign_in_names(record);
    let commit = Commit {
        key: schema::user(&record.id),
        record: Some(value),
        expect,
        claim: new.iter().filter(|n| !old.contains(n)).cloned().collect(),
        release: old.iter().filter(|n| !new.contains(n)).cloned().collect(),
        cascade: Vec::new(),
    };
    commit_names(call, commit).await
}

async fn commit_names<P: Platform>(call: &Call<'_, P>, commit: Commit) -> Result<u64, Problem> {
    match call.engine.platform().registry().commit(commit).await {
        Err(CommitError::NameTaken(name)) if name.starts_with(schema::USER_EMAILS_PREFIX) => {
            Err(Problem::conflict("/email", "is already taken by another user"))
        }
        other => other.map_err(|e| commit_problem(e, "/username")),
    }
}

fn set_hash(record: &mut UserRecord, password: &str, cx: &mut Context<'_>) -> Result<(), Problem> {
    let hash = password::hash(password, cx.rng())
        .map_err(|e| Problem::invalid_field("/password", e.message()))?;
    record.password_hash = Some(hash);
    Ok(())
}

pub(super) async fn list<P: Platform>(call: &Call<'_, P>) -> Result<Response, Problem> {
    let (records, cursor) = list_records(call, schema::USERS_PREFIX, &[]).await?;
    let (_, set) = field_set(call.engine).await?;
    let items = records
        .iter()
        .map(|r| decode_record::<UserRecord>(r).map(|u| shown(&u, &set)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(crate::http::json_response(
        StatusCode::OK,
        &json!({ "items": items, "next_cursor": cursor }),
    ))
}

/// `GET /users/{id}`: the user, with their second-factor status (`mfa`) and the
/// consent policy versions they accepted (`consent_policies`, read-only) of the
/// apps that still exist.
pub(super) async fn get<P: Platform>(
    call: &Call<'_, P>,
    id: &str,
    cx: &mut Context<'_>,
) -> Result<Response, Problem> {
    let (version, user) = load(call, id).await?;
    let acceptances =
        call.engine.policy_acceptances(id, cx.now()).await.map_err(|_| Problem::unavailable())?;
    let mut accepted = Vec::with_capacity(acceptances.apps.len());
    for (client_id, acceptance) in &acceptances.apps {
        // A deleted app's acceptance is not shown (its id is never given again).
        if read(call.engine, &schema::app(client_id)).await?.is_some() {
            accepted.push(json!({
                "client_id": client_id,
                "version": acceptance.version,
                "accepted_at": acceptance.accepted_at,
            }));
        }
    }
    let (_, set) = field_set(call.engine).await?;
    let mut view = shown(&user, &set);
    if let Some(map) = view.as_object_mut() {
        map.insert("consent_policies".to_owned(), accepted.into());
        map.insert("mfa".into(), mfa_status(call, id, cx).await?);
    }
    Ok(versioned_response(StatusCode::OK, &view, version))
}

/// The user's second-factor status: enrolled or not, when, recovery codes left.
async fn mfa_status<P: Platform>(
    call: &Call<'_, P>,
    id: &str,
    cx: &mut Context<'_>,
) -> Result<serde_json::Value, Problem> {
    let factor = crate::flow::load_factor(call.engine, id, cx.now())
        .await
        .map_err(|_| Problem::unavailable())?;
    Ok(SecondFactor::status(factor.as_ref()))
}

/// `GET /users/{id}/mfa`.
pub(super) async fn get_mfa<P: Platform>(
    call: &Call<'_, P>,
    id: &str,
    cx: &mut Context<'_>,
) -> Result<Response, Problem> {
    load(call, id).await?;
    Ok(crate::http::json_response(StatusCode::OK, &mfa_status(call, id, cx).await?))
}

/// `DELETE /users/{id}/mfa`: removes the user's second factor (a lost phone); the
/// next sign-in that needs one enrols again.
pub(super) async fn reset_mfa<P: Platform>(
    call: &Call<'_, P>,
    id: &str,
) -> Result<Response, Problem> {
    load(call, id).await?;
    crate::flow::reset_factor(call.engine, id).await.map_err(|_| Problem::unavailable())?;
    Ok(no_content())
}

/// `DELETE /users/{id}/consent-policies/{client_id}`: withdraws the user's
/// acceptance of the app's consent policy, so the next sign-in asks again. Like
/// any delete it ensures the acceptance is gone: 204 also when there was none,
/// 404 only for an unknown user or app.
pub(super) async fn withdraw_policy<P: Platform>(
    call: &Call<'_, P>,
    id: &str,
    client_id: &str,
    cx: &mut Context<'_>,
) -> Result<Response, Problem> {
    load(call, id).await?;
    if read(call.engine, &schema::app(client_id)).await?.is_none() {
        return Err(Problem::not_found("no app with this client_id"));
    }
    call.engine
        .withdraw_policy(id, client_id, cx.now())
        .await
        .map_err(|_| Problem::unavailable())?;
    Ok(no_content())
}

pub(super) async fn create<P: Platform>(
    call: Call<'_, P>,
    cx: &mut Context<'_>,
) -> Result<Response, Problem> {
    let id = random_id(cx.rng(), 16);
    let (mut user, password) =
        validate(json_body(&call.request)?, None, &id, cx.now()).map_err(Problem::invalid)?;
    let (_, set) = field_set(call.engine).await?;
    check_fields(&user, &set)?;
    check_role_ids(call.engine, &user.roles, "/roles").await?;
    if let Some(password) = password {
        set_hash(&mut user, &password, cx)?;
    }
    let version = save(&call, &user, Expect::Absent, None).await?;
    Ok(versioned_response(StatusCode::CREATED, &shown(&user, &set), version))
}

pub(super) async fn update<P: Platform>(
    call: Call<'_, P>,
    id: &str,
    cx: &mut Context<'_>,
) -> Result<Response, Problem> {
    let (version, current) = load(&call, id).await?;
    check_if_match(&call.request, version)?;
    let (_, set) = field_set(call.engine).await?;
    // Values of deleted definitions are not shown, so a merge drops them.
    let mut body = replacement_body(&call.request, shown(&current, &set))?;
    // Read-only: what `GET` shows of accepted consent policies comes back ignored.
    body.remove("consent_policies");
    let (mut user, password) =
        validate(body, Some(&current), id, cx.now()).map_err(Problem::invalid)?;
    check_fields(&user, &set)?;
    check_role_ids(call.engine, &user.roles, "/roles").await?;
    if let Some(password) = password {
        set_hash(&mut user, &password, cx)?;
    }
    let version = save(&call, &user, Expect::Version(version), Some(&current)).await?;
    Ok(versioned_response(StatusCode::OK, &shown(&user, &set), version))
}

pub(super) async fn delete<P: Platform>(call: &Call<'_, P>, id: &str) -> Result<Response, Problem> {
    let (version, user) = load(call, id).await?;
    check_if_match(&call.request, version)?;
    let commit = Commit {
        key: schema::user(id),
        record: None,
        expect: Expect::Version(version),
        claim: Vec::new(),
        release: sign_in_names(&user),
        cascade: Vec::new(),
    };
    commit_names(call, commit).await?;
    // The user is gone; their acceptances go too. Should this fail, the record
    // expires on its own and names an id that is never given again.
    let _ = call.engine.forget_policies(id).await;
    Ok(no_content())
}

/// `DELETE /users/{id}/identities/{provider}`: unlinks the user's account at the
/// provider; the next sign-in through it finds no user by that link. Like any
/// delete it ensures the link is gone: 204 also when there was none, 404 only for
/// an unknown user.
pub(super) async fn unlink<P: Platform>(
    call: &Call<'_, P>,
    id: &str,
    provider: &str,
    cx: &mut Context<'_>,
) -> Result<Response, Problem> {
    let (version, current) = load(call, id).await?;
    check_if_match(&call.request, version)?;
    let mut user = current.clone();
    user.identities.retain(|i| i.provider != provider);
    if user.identities.len() == current.identities.len() {
        return Ok(no_content());
    }
    user.updated_at = cx.now();
    save(call, &user, Expect::Version(version), Some(&current)).await?;
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
    save(&call, &user, Expect::Version(version), Some(&user.clone())).await?;
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
    let version = save(call, &user, Expect::Version(version), Some(&user.clone())).await?;
    Ok(versioned_response(StatusCode::OK, &user.view(), version))
}
