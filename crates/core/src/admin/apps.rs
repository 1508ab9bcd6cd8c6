//! The handlers of `/admin/v1/apps`.
//!
//! An app's `allowed_roles` must name existing roles when it is written, as a
//! user's `roles` must. Deleting a role leaves its id where it is listed, as it
//! does for users: there it admits nobody (the flows read the role, and a role id
//! is never reused), so an app whose allowed roles are all deleted admits no one
//! rather than everyone, and its next write must drop the id.

use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};

use super::problem::Problem;
use super::roles::check_role_ids;
use super::{
    Call, check_if_match, commit_record, decode_record, json_body, list_records, no_content, read,
    replacement_body, versioned_response,
};
use crate::context::Context;
use crate::http::Response;
use crate::model::app::{AppRecord, validate};
use crate::platform::Platform;
use crate::store::schema;
use crate::store::{Commit, Expect, Versioned};
use crate::token::random_id;

fn decode(versioned: &Versioned) -> Result<AppRecord, Problem> {
    decode_record(&versioned.record)
}

async fn load<P: Platform>(call: &Call<'_, P>, id: &str) -> Result<(u64, AppRecord), Problem> {
    let versioned = read(call.engine, &schema::app(id))
        .await?
        .ok_or_else(|| Problem::not_found("no app with this client_id"))?;
    Ok((versioned.version, decode(&versioned)?))
}

async fn commit<P: Platform>(
    call: &Call<'_, P>,
    key: String,
    record: Option<&AppRecord>,
    expect: Expect,
    claim: Vec<String>,
    release: Vec<String>,
) -> Result<u64, Problem> {
    let record = record.map(|r| serde_json::to_value(r).unwrap_or(Value::Null));
    commit_record(
        call.engine,
        Commit { key, record, expect, claim, release, cascade: Vec::new() },
        "/client_name",
    )
    .await
}

/// Keeps the secret in step with the auth method: removed when the method uses
/// none, created when it needs one (returned to show once).
fn settle_secret(
    record: &mut AppRecord,
    previous_method: Option<crate::policy::TokenEndpointAuthMethod>,
    kek: &crate::keys::Kek,
    rng: &mut dyn rand_core::CryptoRngCore,
) -> Result<Option<String>, Problem> {
    let method = record.token_endpoint_auth_method;
    if !method.uses_secret() {
        record.secret_digest = None;
        record.secret_sealed = None;
        return Ok(None);
    }
    // `client_secret_jwt` keeps the secret sealed, the others a digest: switching
    // between the two kinds needs a new secret.
    let jwt = crate::policy::TokenEndpointAuthMethod::ClientSecretJwt;
    let kind_changed = previous_method.is_some_and(|p| (p == jwt) != (method == jwt));
    if record.has_secret() && !kind_changed {
        return Ok(None);
    }
    record.new_secret(kek, rng).map(Some).map_err(|e| Problem::invalid(vec![e]))
}

/// The management scopes an app holds.
fn management_scopes(record: &AppRecord) -> Vec<&str> {
    record.scope.iter().map(|s| s.as_str()).filter(|s| s.starts_with("gatehouse:")).collect()
}

/// The rules that keep the management API's own power with `gatehouse:admin`: only
/// an admin gives an app a `gatehouse:*` scope, and only an admin changes how an app
/// that holds one authenticates or where it sends its users (its secret, method,
/// keys, redirect URIs), since whoever controls those controls its tokens.
fn check_privilege(
    caller: &super::Caller,
    current: Option<&AppRecord>,
    next: &AppRecord,
) -> Result<(), Problem> {
    let held = current.map(management_scopes).unwrap_or_default();
    if management_scopes(next).iter().any(|s| !held.contains(s)) {
        caller.require_admin("only an administrator may give an app gatehouse:* scopes")?;
    }
    if let Some(current) = current.filter(|c| !management_scopes(c).is_empty()) {
        let changed = current.token_endpoint_auth_method != next.token_endpoint_auth_method
            || current.jwks != next.jwks
            || current.jwks_uri != next.jwks_uri
            || current.redirect_uris != next.redirect_uris
            || current.post_logout_redirect_uris != next.post_logout_redirect_uris;
        if changed {
            caller.require_admin(
                "the app holds gatehouse:* scopes, so only an administrator may change its \
                 authentication or redirect URIs",
            )?;
        }
    }
    Ok(())
}

fn with_secret(record: &AppRecord, secret: Option<String>) -> Value {
    let mut view = record.view();
    if let (Some(secret), Value::Object(map)) = (secret, &mut view) {
        map.insert("client_secret".to_owned(), Value::String(secret));
    }
    view
}

pub(super) async fn create<P: Platform>(
    call: Call<'_, P>,
    cx: &mut Context<'_>,
) -> Result<Response, Problem> {
    let body = json_body(&call.request)?;
    let client_id = random_id(cx.rng(), 16);
    let mut record = validate(body, None, &client_id, cx.now(), call.engine.config().fetch_policy)
        .map_err(Problem::invalid)?;
    check_role_ids(call.engine, &record.allowed_roles, "/allowed_roles").await?;
    super::providers::check_provider_ids(call.engine, &record.allowed_providers).await?;
    check_app_fields(call.engine, &record).await?;
    check_privilege(&call.caller, None, &record)?;
    let secret = settle_secret(&mut record, None, &call.engine.config().kek, cx.rng())?;
    let claim = vec![schema::app_name(&record.client_name)];
    let version =
        commit(&call, schema::app(&client_id), Some(&record), Expect::Absent, claim, Vec::new())
            .await?;
    let mut response =
        versioned_response(StatusCode::CREATED, &with_secret(&record, secret), version);
    let location =
        call.engine.config().issuer.endpoint(&format!("{}apps/{client_id}", super::PREFIX));
    if let Ok(location) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

pub(super) async fn get<P: Platform>(call: &Call<'_, P>, id: &str) -> Result<Response, Problem> {
    let (version, record) = load(call, id).await?;
    Ok(versioned_response(StatusCode::OK, &record.view(), version))
}

pub(super) async fn list<P: Platform>(call: &Call<'_, P>) -> Result<Response, Problem> {
    let (records, cursor) = list_records(call, schema::APPS_PREFIX, &[]).await?;
    let items = records
        .iter()
        .map(|r| decode_record::<AppRecord>(r).map(|r| r.view()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(crate::http::json_response(
        StatusCode::OK,
        &json!({ "items": items, "next_cursor": cursor }),
    ))
}

pub(super) async fn update<P: Platform>(
    call: Call<'_, P>,
    id: &str,
    cx: &mut Context<'_>,
) -> Result<Response, Problem> {
    let (version, current) = load(&call, id).await?;
    check_if_match(&call.request, version)?;
    let body = replacement_body(&call.request, current.view())?;
    let mut record =
        validate(body, Some(&current), id, cx.now(), call.engine.config().fetch_policy)
            .map_err(Problem::invalid)?;
    check_role_ids(call.engine, &record.allowed_roles, "/allowed_roles").await?;
    super::providers::check_provider_ids(call.engine, &record.allowed_providers).await?;
    check_app_fields(call.engine, &record).await?;
    check_privilege(&call.caller, Some(&current), &record)?;
    let secret = settle_secret(
        &mut record,
        Some(current.token_endpoint_auth_method),
        &call.engine.config().kek,
        cx.rng(),
    )?;
    let (claim, release) = rename(&current, &record);
    let version =
        commit(&call, schema::app(id), Some(&record), Expect::Version(version), claim, release)
            .await?;
    Ok(versioned_response(StatusCode::OK, &with_secret(&record, secret), version))
}

fn rename(current: &AppRecord, next: &AppRecord) -> (Vec<String>, Vec<String>) {
    super::rename_claims(
        schema::app_name(&current.client_name),
        schema::app_name(&next.client_name),
    )
}

pub(super) async fn delete<P: Platform>(call: &Call<'_, P>, id: &str) -> Result<Response, Problem> {
    let (version, current) = load(call, id).await?;
    check_if_match(&call.request, version)?;
    // The app's permission set and hooks go in the same step (roles then no longer
    // show its permissions).
    let commit = Commit {
        key: schema::app(id),
        record: None,
        expect: Expect::Version(version),
        claim: Vec::new(),
        release: vec![schema::app_name(&current.client_name)],
        cascade: vec![schema::permissions(id), schema::hooks(id)],
    };
    commit_record(call.engine, commit, "/client_name").await?;
    Ok(no_content())
}

pub(super) async fn reset_secret<P: Platform>(
    call: &Call<'_, P>,
    id: &str,
    cx: &mut Context<'_>,
) -> Result<Response, Problem> {
    let (version, mut record) = load(call, id).await?;
    check_if_match(&call.request, version)?;
    if !management_scopes(&record).is_empty() {
        call.caller.require_admin(
            "the app holds gatehouse:* scopes, so only an administrator may reset its secret",
        )?;
    }
    if !record.token_endpoint_auth_method.uses_secret() {
        return Err(Problem::invalid_field(
            "/token_endpoint_auth_method",
            "this app authenticates without a client secret, so it has none to reset",
        ));
    }
    let secret = record
        .new_secret(&call.engine.config().kek, cx.rng())
        .map_err(|e| Problem::invalid(vec![e]))?;
    record.updated_at = cx.now();
    let version = commit(
        call,
        schema::app(id),
        Some(&record),
        Expect::Version(version),
        Vec::new(),
        Vec::new(),
    )
    .await?;
    Ok(versioned_response(
        StatusCode::OK,
        &json!({ "client_id": id, "client_secret": secret }),
        version,
    ))
}

pub(super) async fn set_enabled<P: Platform>(
    call: &Call<'_, P>,
    id: &str,
    enabled: bool,
    cx: &mut Context<'_>,
) -> Result<Response, Problem> {
    let (version, mut record) = load(call, id).await?;
    check_if_match(&call.request, version)?;
    if enabled && !record.enabled && !management_scopes(&record).is_empty() {
        call.caller.require_admin(
            "the app holds gatehouse:* scopes, so only an administrator may enable it again",
        )?;
    }
    record.enabled = enabled;
    record.updated_at = cx.now();
    let version = commit(
        call,
        schema::app(id),
        Some(&record),
        Expect::Version(version),
        Vec::new(),
        Vec::new(),
    )
    .await?;
    Ok(versioned_response(StatusCode::OK, &record.view(), version))
}

/// Checks that the custom user fields an app names (its registration fields, the
/// user fields of its `token_claims` that are not standard claims) are defined.
async fn check_app_fields<P: Platform>(
    engine: &crate::engine::Engine<P>,
    record: &AppRecord,
) -> Result<(), Problem> {
    let registration = record.registration_fields.iter().enumerate();
    let claims = record.token_claims.iter().enumerate().filter_map(|(i, c)| {
        let field = c.field.as_deref()?;
        crate::model::token_claims::is_custom_field(field)
            .then(|| (format!("/token_claims/{i}/field"), field))
    });
    super::user_fields::check_field_keys(
        engine,
        registration.map(|(i, k)| (format!("/registration_fields/{i}"), k.as_str())).chain(claims),
    )
    .await
}
