//! `/admin/v1/providers`: the upstream OpenID providers apps may allow (see
//! [`crate::model::provider`]). Under the `apps` scopes: a provider is sign-in
//! configuration, like an app. `client_secret` is write-only; `id` and `issuer`
//! are fixed at creation.

use http::{HeaderValue, StatusCode, header};
use serde_json::json;

use super::problem::Problem;
use super::{
    Call, check_if_match, commit_record, decode_record, json_body, list_records, no_content, read,
    replacement_body, versioned_response,
};
use crate::context::Context;
use crate::engine::Engine;
use crate::http::Response;
use crate::model::FieldError;
use crate::model::provider::{ProviderRecord, is_provider_id, validate};
use crate::platform::Platform;
use crate::store::schema;
use crate::store::{Commit, Expect};

fn not_found() -> Problem {
    Problem::not_found("no provider with this id")
}

async fn load<P: Platform>(engine: &Engine<P>, id: &str) -> Result<(u64, ProviderRecord), Problem> {
    if !is_provider_id(id) {
        return Err(not_found());
    }
    let versioned = read(engine, &schema::provider(id)).await?.ok_or_else(not_found)?;
    Ok((versioned.version, decode_record(&versioned.record)?))
}

async fn save<P: Platform>(
    engine: &Engine<P>,
    record: Option<&ProviderRecord>,
    id: &str,
    expect: Expect,
) -> Result<u64, Problem> {
    let record =
        record.map(|r| serde_json::to_value(r).map_err(|_| Problem::unavailable())).transpose()?;
    let commit = Commit {
        key: schema::provider(id),
        record,
        expect,
        claim: Vec::new(),
        release: Vec::new(),
        cascade: Vec::new(),
    };
    commit_record(engine, commit, "/id").await.map_err(|p| {
        if p.status() == 412 && expect == Expect::Absent {
            Problem::conflict("/id", "is already taken")
        } else {
            p
        }
    })
}

/// Checks that each of an app's `allowed_providers` names a provider.
pub(crate) async fn check_provider_ids<P: Platform>(
    engine: &Engine<P>,
    ids: &[String],
) -> Result<(), Problem> {
    let mut errors = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        if read(engine, &schema::provider(id)).await?.is_none() {
            errors.push(FieldError::new(
                format!("/allowed_providers/{i}"),
                "is not an existing provider id",
            ));
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(Problem::invalid(errors)) }
}

pub(super) async fn list<P: Platform>(call: &Call<'_, P>) -> Result<Response, Problem> {
    let (records, cursor) = list_records(call, schema::PROVIDERS_PREFIX, &[]).await?;
    let items = records
        .iter()
        .map(|r| decode_record::<ProviderRecord>(r).map(|p| p.view()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(crate::http::json_response(
        StatusCode::OK,
        &json!({ "items": items, "next_cursor": cursor }),
    ))
}

pub(super) async fn get<P: Platform>(call: &Call<'_, P>, id: &str) -> Result<Response, Problem> {
    let (version, record) = load(call.engine, id).await?;
    Ok(versioned_response(StatusCode::OK, &record.view(), version))
}

pub(super) async fn create<P: Platform>(
    call: Call<'_, P>,
    cx: &mut Context<'_>,
) -> Result<Response, Problem> {
    let body = json_body(&call.request)?;
    let config = call.engine.config();
    let now = cx.now();
    let record = validate(body, None, config.fetch_policy, &config.kek, now, cx.rng())
        .map_err(Problem::invalid)?;
    let version = save(call.engine, Some(&record), &record.id, Expect::Absent).await?;
    let mut response = versioned_response(StatusCode::CREATED, &record.view(), version);
    let location = config.issuer.endpoint(&format!("{}providers/{}", super::PREFIX, record.id));
    if let Ok(location) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

pub(super) async fn update<P: Platform>(
    call: Call<'_, P>,
    id: &str,
    cx: &mut Context<'_>,
) -> Result<Response, Problem> {
    let (version, current) = load(call.engine, id).await?;
    check_if_match(&call.request, version)?;
    let body = replacement_body(&call.request, current.view())?;
    let config = call.engine.config();
    let now = cx.now();
    let record = validate(body, Some(&current), config.fetch_policy, &config.kek, now, cx.rng())
        .map_err(Problem::invalid)?;
    let version = save(call.engine, Some(&record), id, Expect::Version(version)).await?;
    Ok(versioned_response(StatusCode::OK, &record.view(), version))
}

/// `DELETE /providers/{id}`: its buttons disappear and its sign-ins stop. Users'
/// links stay (they name the issuer, so a provider created again for the same
/// issuer finds them, and one for another issuer cannot).
pub(super) async fn delete<P: Platform>(call: &Call<'_, P>, id: &str) -> Result<Response, Problem> {
    let (version, _) = load(call.engine, id).await?;
    check_if_match(&call.request, version)?;
    save(call.engine, None, id, Expect::Version(version)).await?;
    Ok(no_content())
}
