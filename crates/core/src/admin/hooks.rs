//! `/admin/v1/apps/{client_id}/hooks`: an app's lifecycle hooks (up to 10). The
//! signing secret is answered once, by the creation and by
//! `POST .../hooks/{hook_id}/secret`, and kept sealed; views never carry it. The
//! records and their rules are [`crate::model::hook`].

use http::StatusCode;
use serde_json::{Value, json};

use super::problem::Problem;
use super::{
    Call, check_if_match, commit_record, json_body, no_content, read, replacement_body,
    versioned_response,
};
use crate::context::Context;
use crate::engine::Engine;
use crate::http::Response;
use crate::model::hook::{Hook, HookSet, MAX_HOOKS, validate_hook};
use crate::platform::Platform;
use crate::store::schema;
use crate::store::{Commit, Expect};
use crate::token::random_id;

/// The app's hooks and the record's version (0: none yet); 404 for an unknown app.
async fn hook_set<P: Platform>(
    engine: &Engine<P>,
    client_id: &str,
) -> Result<(u64, HookSet), Problem> {
    if read(engine, &schema::app(client_id)).await?.is_none() {
        return Err(Problem::not_found("no app with this client_id"));
    }
    match read(engine, &schema::hooks(client_id)).await? {
        Some(v) => {
            Ok((v.version, serde_json::from_value(v.record).map_err(|_| Problem::unavailable())?))
        }
        None => Ok((0, HookSet::default())),
    }
}

async fn save<P: Platform>(
    engine: &Engine<P>,
    client_id: &str,
    version: u64,
    set: &HookSet,
) -> Result<u64, Problem> {
    let expect = if version == 0 { Expect::Absent } else { Expect::Version(version) };
    let record = serde_json::to_value(set).map_err(|_| Problem::unavailable())?;
    let commit = Commit {
        key: schema::hooks(client_id),
        record: Some(record),
        expect,
        claim: Vec::new(),
        release: Vec::new(),
        cascade: Vec::new(),
    };
    commit_record(engine, commit, "/id")
        .await
        .map_err(|p| if p.status() == 412 { Problem::precondition_failed() } else { p })
}

fn find<'s>(set: &'s mut HookSet, hook_id: &str) -> Result<&'s mut Hook, Problem> {
    set.items.iter_mut().find(|h| h.id == hook_id).ok_or_else(|| Problem::not_found("no such hook"))
}

/// A new signing secret (256 random bits), sealed for `hook_id`.
fn new_secret<P: Platform>(
    engine: &Engine<P>,
    client_id: &str,
    hook_id: &str,
    cx: &mut Context<'_>,
) -> Result<(String, String), Problem> {
    let secret = random_id(cx.rng(), 32);
    let sealed = Hook::seal_secret(&engine.config().kek, client_id, hook_id, &secret, cx.rng())
        .ok_or_else(Problem::unavailable)?;
    Ok((secret, sealed))
}

/// The view with the secret, answered once.
fn with_secret(hook: &Hook, secret: &str) -> Value {
    let mut view = hook.view();
    if let Value::Object(map) = &mut view {
        map.insert("secret".into(), json!(secret));
    }
    view
}

pub(super) async fn list<P: Platform>(
    call: &Call<'_, P>,
    client_id: &str,
) -> Result<Response, Problem> {
    let (version, set) = hook_set(call.engine, client_id).await?;
    let items: Vec<Value> = set.items.iter().map(Hook::view).collect();
    Ok(versioned_response(StatusCode::OK, &json!({ "items": items }), version))
}

pub(super) async fn get<P: Platform>(
    call: &Call<'_, P>,
    client_id: &str,
    hook_id: &str,
) -> Result<Response, Problem> {
    let (version, mut set) = hook_set(call.engine, client_id).await?;
    let hook = find(&mut set, hook_id)?;
    Ok(versioned_response(StatusCode::OK, &hook.view(), version))
}

pub(super) async fn create<P: Platform>(
    call: Call<'_, P>,
    client_id: &str,
    cx: &mut Context<'_>,
) -> Result<Response, Problem> {
    let body = json_body(&call.request)?;
    let policy = call.engine.config().fetch_policy;
    let settings = validate_hook(body, None, policy).map_err(Problem::invalid)?;
    let (version, mut set) = hook_set(call.engine, client_id).await?;
    if set.items.len() >= MAX_HOOKS {
        return Err(Problem::invalid_field(
            "/event",
            format!("an app has at most {MAX_HOOKS} hooks"),
        ));
    }
    let id = random_id(cx.rng(), 12);
    let (secret, secret_sealed) = new_secret(call.engine, client_id, &id, cx)?;
    let now = cx.now();
    let hook = Hook {
        id,
        event: settings.event,
        url: settings.url,
        on_failure: settings.on_failure,
        timeout_ms: settings.timeout_ms,
        enabled: settings.enabled,
        allowed_claims: settings.allowed_claims,
        secret_sealed,
        created_at: now,
        updated_at: now,
    };
    let view = with_secret(&hook, &secret);
    set.items.push(hook);
    let version = save(call.engine, client_id, version, &set).await?;
    Ok(versioned_response(StatusCode::CREATED, &view, version))
}

pub(super) async fn update<P: Platform>(
    call: Call<'_, P>,
    client_id: &str,
    hook_id: &str,
    cx: &mut Context<'_>,
) -> Result<Response, Problem> {
    let (version, mut set) = hook_set(call.engine, client_id).await?;
    check_if_match(&call.request, version)?;
    let policy = call.engine.config().fetch_policy;
    let hook = find(&mut set, hook_id)?;
    let body = replacement_body(&call.request, hook.view())?;
    let settings = validate_hook(body, Some(hook), policy).map_err(Problem::invalid)?;
    hook.event = settings.event;
    hook.url = settings.url;
    hook.on_failure = settings.on_failure;
    hook.timeout_ms = settings.timeout_ms;
    hook.enabled = settings.enabled;
    hook.allowed_claims = settings.allowed_claims;
    hook.updated_at = cx.now();
    let view = hook.view();
    let version = save(call.engine, client_id, version, &set).await?;
    Ok(versioned_response(StatusCode::OK, &view, version))
}

pub(super) async fn rotate_secret<P: Platform>(
    call: &Call<'_, P>,
    client_id: &str,
    hook_id: &str,
    cx: &mut Context<'_>,
) -> Result<Response, Problem> {
    let (version, mut set) = hook_set(call.engine, client_id).await?;
    check_if_match(&call.request, version)?;
    let (secret, sealed) = new_secret(call.engine, client_id, hook_id, cx)?;
    let hook = find(&mut set, hook_id)?;
    hook.secret_sealed = sealed;
    hook.updated_at = cx.now();
    let view = with_secret(hook, &secret);
    let version = save(call.engine, client_id, version, &set).await?;
    Ok(versioned_response(StatusCode::OK, &view, version))
}

pub(super) async fn delete<P: Platform>(
    call: &Call<'_, P>,
    client_id: &str,
    hook_id: &str,
) -> Result<Response, Problem> {
    let (version, mut set) = hook_set(call.engine, client_id).await?;
    check_if_match(&call.request, version)?;
    let before = set.items.len();
    set.items.retain(|h| h.id != hook_id);
    if set.items.len() == before {
        return Err(Problem::not_found("no such hook"));
    }
    save(call.engine, client_id, version, &set).await?;
    Ok(no_content())
}
