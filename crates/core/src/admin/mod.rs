//! The management API under `/admin/v1/`: JSON in and out, bearer access tokens
//! from this issuer, one `gatehouse:*` scope per route (`gatehouse:admin` covers
//! all), RFC 9457 problem details for every refusal.
//!
//! Writes go through the [`crate::store::Registry`] (a Durable Object in the
//! worker): version checks for `If-Match`, unique names and the write itself are
//! one atomic step, so a failed request leaves nothing half-written.

pub mod apps;
mod fields;
mod keys;
pub mod problem;
pub mod roles;
pub mod scopes;
pub mod users;

use http::{HeaderValue, Method, StatusCode, header};
use serde_json::{Map, Value};

use crate::engine::{Context, Engine};
use crate::http::{MAX_BODY_BYTES, Request, Response};
use crate::platform::Platform;
use crate::store::{Commit, CommitError, Directory, Expect, Registry, StoreError, Versioned};
use crate::verify::{AccessTokenPolicy, verify_access_token};
use problem::Problem;

/// The path prefix of the management API.
pub const PREFIX: &str = "/admin/v1/";
/// The scope that covers every management route.
pub const ADMIN_SCOPE: &str = "gatehouse:admin";

/// A management resource family, which names its scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resource {
    Apps,
    Scopes,
    Users,
    Roles,
    Keys,
}

impl Resource {
    const fn name(self) -> &'static str {
        match self {
            Self::Apps => "apps",
            Self::Scopes => "scopes",
            Self::Users => "users",
            Self::Roles => "roles",
            Self::Keys => "keys",
        }
    }
}

/// What a route does, which decides its scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Read,
    Write,
    Delete,
}

/// A request that passed authentication.
pub(crate) struct Call<'a, P: Platform> {
    pub(crate) engine: &'a Engine<P>,
    pub(crate) request: Request,
}

const ITEM: &str = "GET, PUT, PATCH, DELETE";
const COLLECTION: &str = "GET, POST";

/// The resource and allowed methods of a path, or `None` for an unknown path.
fn route_of(segments: &[&str]) -> Option<(Resource, &'static str)> {
    let id = |s: &str| !s.is_empty();
    Some(match segments {
        ["keys"] => (Resource::Keys, "GET"),
        ["keys", "rotate"] => (Resource::Keys, "POST"),
        ["keys", k, "revoke"] if id(k) => (Resource::Keys, "POST"),
        ["apps"] => (Resource::Apps, COLLECTION),
        ["apps", a] if id(a) => (Resource::Apps, ITEM),
        ["apps", a, "secret" | "enable" | "disable"] if id(a) => (Resource::Apps, "POST"),
        ["apps", a, "usage"] if id(a) => (Resource::Apps, "GET"),
        ["apps", a, "permissions"] if id(a) => (Resource::Roles, COLLECTION),
        ["apps", a, "permissions", p] if id(a) && id(p) => (Resource::Roles, "GET, PATCH, DELETE"),
        ["scopes"] => (Resource::Scopes, COLLECTION),
        ["scopes", k] if id(k) => (Resource::Scopes, ITEM),
        ["scope-groups"] => (Resource::Scopes, COLLECTION),
        ["scope-groups", g] if id(g) => (Resource::Scopes, ITEM),
        ["roles"] => (Resource::Roles, COLLECTION),
        ["roles", r] if id(r) => (Resource::Roles, ITEM),
        ["users"] => (Resource::Users, COLLECTION),
        ["users", u] if id(u) => (Resource::Users, ITEM),
        ["users", u, "password" | "enable" | "disable"] if id(u) => (Resource::Users, "POST"),
        _ => return None,
    })
}

/// Handles a request under [`PREFIX`] (the issuer's path prefix already removed).
pub(crate) async fn handle<P: Platform>(
    engine: &Engine<P>,
    request: Request,
    path: &str,
    cx: &mut Context<'_>,
) -> Response {
    let rest = path.strip_prefix(PREFIX).unwrap_or_default();
    let segments: Vec<&str> = rest.split('/').collect();
    // HEAD is GET without the body (the engine drops it).
    let method = match request.method() {
        &Method::HEAD => Method::GET,
        other => other.clone(),
    };
    let Some((resource, allow)) = route_of(&segments) else {
        return Problem::not_found("no such management resource").into_response();
    };
    if !allow.split(", ").any(|m| m == method.as_str()) {
        return Problem::method_not_allowed(allow).into_response();
    }
    let access = match method {
        Method::GET => Access::Read,
        Method::DELETE => Access::Delete,
        _ => Access::Write,
    };
    if let Err(problem) = authorize(engine, &request, resource, access, cx).await {
        return problem.into_response();
    }
    let call = Call { engine, request };
    let m = &method;
    let result = match segments.as_slice() {
        ["keys"] => keys::list(&call, cx).await,
        ["keys", "rotate"] => keys::rotate(&call, cx).await,
        ["keys", kid, "revoke"] => keys::revoke(&call, kid, cx).await,
        ["apps"] if m == Method::GET => apps_routes::list(&call).await,
        ["apps"] => apps_routes::create(call, cx).await,
        ["apps", id] if m == Method::GET => apps_routes::get(&call, id).await,
        ["apps", id] if m == Method::DELETE => apps_routes::delete(&call, id).await,
        ["apps", id] => apps_routes::update(call, id, cx).await,
        ["apps", id, "secret"] => apps_routes::reset_secret(&call, id, cx).await,
        ["apps", id, "enable"] => apps_routes::set_enabled(&call, id, true, cx).await,
        ["apps", id, "disable"] => apps_routes::set_enabled(&call, id, false, cx).await,
        ["apps", id, "usage"] => usage::get(&call, id, cx).await,
        ["apps", id, "permissions"] if m == Method::GET => roles::list_permissions(&call, id).await,
        ["apps", id, "permissions"] => roles::create_permission(call, id, cx).await,
        ["apps", id, "permissions", name] if m == Method::GET => {
            roles::get_permission(&call, id, name).await
        }
        ["apps", id, "permissions", name] if m == Method::DELETE => {
            roles::delete_permission(&call, id, name, cx).await
        }
        ["apps", id, "permissions", name] => roles::update_permission(call, id, name, cx).await,
        ["scopes"] if m == Method::GET => scopes::list(&call, scopes::Kind::Scope).await,
        ["scopes"] => scopes::create(call, scopes::Kind::Scope, cx).await,
        ["scope-groups"] if m == Method::GET => scopes::list(&call, scopes::Kind::Group).await,
        ["scope-groups"] => scopes::create(call, scopes::Kind::Group, cx).await,
        ["scopes", key] if m == Method::GET => scopes::get(&call, scopes::Kind::Scope, key).await,
        ["scopes", key] if m == Method::DELETE => {
            scopes::delete(&call, scopes::Kind::Scope, key).await
        }
        ["scopes", key] => scopes::update(call, scopes::Kind::Scope, key, cx).await,
        ["scope-groups", key] if m == Method::GET => {
            scopes::get(&call, scopes::Kind::Group, key).await
        }
        ["scope-groups", key] if m == Method::DELETE => {
            scopes::delete(&call, scopes::Kind::Group, key).await
        }
        ["scope-groups", key] => scopes::update(call, scopes::Kind::Group, key, cx).await,
        ["roles"] if m == Method::GET => roles::list(&call).await,
        ["roles"] => roles::create(call, cx).await,
        ["roles", id] if m == Method::GET => roles::get(&call, id).await,
        ["roles", id] if m == Method::DELETE => roles::delete(&call, id).await,
        ["roles", id] => roles::update(call, id, cx).await,
        ["users"] if m == Method::GET => users::list(&call).await,
        ["users"] => users::create(call, cx).await,
        ["users", id] if m == Method::GET => users::get(&call, id).await,
        ["users", id] if m == Method::DELETE => users::delete(&call, id).await,
        ["users", id] => users::update(call, id, cx).await,
        ["users", id, "password"] => users::set_password(call, id, cx).await,
        ["users", id, "enable"] => users::set_enabled(&call, id, true, cx).await,
        ["users", id, "disable"] => users::set_enabled(&call, id, false, cx).await,
        _ => Err(Problem::not_found("no such management resource")),
    };
    result.unwrap_or_else(Problem::into_response)
}

/// Checks the bearer token: from this issuer, for this issuer, unexpired, with the
/// route's scope or `gatehouse:admin`.
async fn authorize<P: Platform>(
    engine: &Engine<P>,
    request: &Request,
    resource: Resource,
    access: Access,
    cx: &mut Context<'_>,
) -> Result<(), Problem> {
    let token = bearer_token(request.headers()).ok_or_else(|| Problem::unauthorized(false))?;
    let now = cx.now();
    let ring = engine.keyring(now).await.map_err(|_| Problem::unavailable())?;
    let issuer = engine.config().issuer.as_str();
    let policy = AccessTokenPolicy::new(issuer, issuer);
    let claims =
        verify_access_token(engine.platform().crypto(), &ring.jwks(now), &policy, token, now)
            .await
            .map_err(|_| Problem::unauthorized(true))?;
    let needed = format!(
        "gatehouse:{}_{}",
        resource.name(),
        match access {
            Access::Read => "read",
            Access::Write => "write",
            Access::Delete => "delete",
        }
    );
    if claims.scope.contains(ADMIN_SCOPE) || claims.scope.contains(&needed) {
        Ok(())
    } else {
        Err(Problem::insufficient_scope(&needed))
    }
}

/// The token of an `Authorization: Bearer` header (RFC 6750 section 2.1).
fn bearer_token(headers: &http::HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The JSON object body of a write request.
pub(crate) fn json_body(request: &Request) -> Result<Map<String, Value>, Problem> {
    let content_type =
        request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if essence != "application/json" && essence != "application/merge-patch+json" {
        return Err(Problem::unsupported_media_type());
    }
    if request.body().len() > MAX_BODY_BYTES {
        return Err(Problem::too_large());
    }
    match serde_json::from_slice::<Value>(request.body()) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Problem::malformed("the body must be a JSON object")),
        Err(e) => Err(Problem::malformed(format!(
            "the body is not valid JSON (line {}, column {})",
            e.line(),
            e.column()
        ))),
    }
}

/// The full new representation of a resource: a PUT body as sent, or a PATCH body
/// merged onto `current` (JSON merge patch, RFC 7396). Either way it is validated
/// as a whole afterwards.
pub(crate) fn replacement_body(
    request: &Request,
    current: Value,
) -> Result<Map<String, Value>, Problem> {
    let body = json_body(request)?;
    if request.method() != Method::PATCH {
        return Ok(body);
    }
    let mut merged = current;
    fields::merge_patch(&mut merged, &Value::Object(body));
    match merged {
        Value::Object(map) => Ok(map),
        _ => Err(Problem::malformed("the patch must be a JSON object")),
    }
}

/// The version an `If-Match` header asks for: `None` when absent, `Some(None)` for `*`.
pub(crate) fn if_match(request: &Request) -> Result<Expect, Problem> {
    let Some(value) = request.headers().get(header::IF_MATCH) else { return Ok(Expect::Present) };
    let value =
        value.to_str().map_err(|_| Problem::malformed("If-Match is not a valid ETag"))?.trim();
    if value == "*" {
        return Ok(Expect::Present);
    }
    let version = value
        .strip_prefix("W/")
        .unwrap_or(value)
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| Problem::malformed("If-Match is not an ETag this server issued"))?;
    Ok(Expect::Version(version))
}

/// A JSON response with the record's `ETag`.
pub(crate) fn versioned_response(status: StatusCode, body: &Value, version: u64) -> Response {
    let mut response = crate::http::json_response(status, body);
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{version}\"")) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    response
}

/// Reads a record through the registry (authoritative, never stale).
pub(crate) async fn read<P: Platform>(
    engine: &Engine<P>,
    key: &str,
) -> Result<Option<Versioned>, Problem> {
    engine.platform().registry().read(key).await.map_err(|e| match e {
        StoreError::Refused(_) => Problem::not_found("no such resource"),
        _ => Problem::unavailable(),
    })
}

/// Maps a refused commit to its problem; `name_pointer` names the unique field.
pub(crate) fn commit_problem(err: CommitError, name_pointer: &str) -> Problem {
    match err {
        CommitError::VersionMismatch => Problem::precondition_failed(),
        CommitError::Missing => Problem::not_found("no such resource"),
        CommitError::NameTaken(_) => Problem::conflict(name_pointer, "is already taken"),
        CommitError::Unavailable => Problem::unavailable(),
    }
}

/// The default and largest page size of a list.
const PAGE: (usize, usize) = (20, 100);

/// The name claims of a rename: claim the new name and release the old one, or
/// nothing when the name (as claimed) did not change.
pub(crate) fn rename_claims(old: String, new: String) -> (Vec<String>, Vec<String>) {
    if old == new { (Vec::new(), Vec::new()) } else { (vec![new], vec![old]) }
}

/// A stored record as its type; a record that no longer decodes is a store fault.
pub(crate) fn decode_record<T: serde::de::DeserializeOwned>(record: &Value) -> Result<T, Problem> {
    serde_json::from_value(record.clone()).map_err(|_| Problem::unavailable())
}

/// Checks `If-Match` against the version just read.
pub(crate) fn check_if_match(request: &Request, version: u64) -> Result<(), Problem> {
    match if_match(request)? {
        Expect::Version(v) if v != version => Err(Problem::precondition_failed()),
        _ => Ok(()),
    }
}

/// 204 No Content.
pub(crate) fn no_content() -> Response {
    let mut response = Response::new(Vec::new());
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

/// Commits a record (or its deletion, with `record: None`) through the registry, the
/// only writer of the directory: the registry publishes the change itself (at once
/// where it runs, retried until the directory takes it), so a commit that succeeded
/// is a success even while its publication is pending. `name_pointer` names the field
/// whose uniqueness a claim protects.
pub(crate) async fn commit_record<P: Platform>(
    engine: &Engine<P>,
    commit: Commit,
    name_pointer: &str,
) -> Result<u64, Problem> {
    engine.platform().registry().commit(commit).await.map_err(|e| commit_problem(e, name_pointer))
}

/// One page of a collection: `built_in` items first (the system scopes), then the
/// records under `prefix`, following the `limit` and `cursor` query parameters.
/// Cursors are `b<offset>` inside the built-in items and `k<store cursor>` in the
/// store, so a cursor this server did not issue is refused.
pub(crate) async fn list_records<P: Platform>(
    call: &Call<'_, P>,
    prefix: &str,
    built_in: &[Value],
) -> Result<(Vec<Value>, Option<String>), Problem> {
    let query = call.request.uri().query().unwrap_or("");
    let mut limit = PAGE.0;
    let mut cursor = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_encoding::percent_decode_str(value).decode_utf8_lossy().into_owned();
        match name {
            "limit" => match value.parse::<usize>() {
                Ok(n) if (1..=PAGE.1).contains(&n) => limit = n,
                _ => {
                    return Err(Problem::invalid_field(
                        "limit",
                        format!("must be an integer from 1 to {}", PAGE.1),
                    ));
                }
            },
            "cursor" => cursor = Some(value),
            other => return Err(Problem::invalid_field(other, "is not a known query parameter")),
        }
    }
    let bad_cursor = || Problem::invalid_field("cursor", "is not a cursor this server issued");
    let (offset, store_cursor) = match cursor.as_deref() {
        None => (0, None),
        Some(c) => match (c.strip_prefix('b'), c.strip_prefix('k')) {
            (Some(n), _) => (
                n.parse::<usize>().ok().filter(|n| *n <= built_in.len()).ok_or_else(bad_cursor)?,
                None,
            ),
            (_, Some(k)) => (built_in.len(), Some(k.to_owned()).filter(|k| !k.is_empty())),
            _ => return Err(bad_cursor()),
        },
    };
    let mut items: Vec<Value> = built_in.iter().skip(offset).take(limit).cloned().collect();
    let next = offset + items.len();
    if next < built_in.len() {
        return Ok((items, Some(format!("b{next}"))));
    }
    let remaining = limit - items.len();
    if remaining == 0 {
        return Ok((items, Some("k".to_owned())));
    }
    let directory = call.engine.platform().directory();
    let page =
        directory.list(prefix, store_cursor.as_deref(), remaining).await.map_err(|e| match e {
            StoreError::Refused(_) => bad_cursor(),
            _ => Problem::unavailable(),
        })?;
    for key in &page.keys {
        // A record deleted between list and get is skipped.
        if let Some(bytes) = directory.get(key).await.map_err(|_| Problem::unavailable())?
            && let Ok(versioned) = serde_json::from_slice::<Versioned>(&bytes)
        {
            items.push(versioned.record);
        }
    }
    Ok((items, page.cursor.map(|c| format!("k{c}"))))
}

mod apps_routes;
mod usage;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_parsing() {
        let mut headers = http::HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("bearer abc"));
        assert_eq!(bearer_token(&headers), Some("abc"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer_token(&headers), None);
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(bearer_token(&headers), None);
    }
}
