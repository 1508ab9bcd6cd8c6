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

use http::{HeaderValue, Method, StatusCode, header};
use serde_json::{Map, Value};

use crate::engine::{Context, Engine};
use crate::http::{MAX_BODY_BYTES, Request, Response};
use crate::platform::Platform;
use crate::store::{CommitError, Expect, Registry, StoreError, Versioned};
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
    Keys,
}

impl Resource {
    const fn name(self) -> &'static str {
        match self {
            Self::Apps => "apps",
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

/// Handles a request under [`PREFIX`] (the issuer's path prefix already removed).
pub(crate) async fn handle<P: Platform>(
    engine: &Engine<P>,
    request: Request,
    path: &str,
    cx: &mut Context<'_>,
) -> Response {
    let rest = path.strip_prefix(PREFIX).unwrap_or_default();
    let segments: Vec<&str> = rest.split('/').collect();
    let method = request.method().clone();
    let route = match segments.as_slice() {
        ["keys"] => Some((Resource::Keys, "GET", method == Method::GET)),
        ["keys", "rotate"] => Some((Resource::Keys, "POST", method == Method::POST)),
        ["apps"] => {
            Some((Resource::Apps, "GET, POST", method == Method::GET || method == Method::POST))
        }
        ["apps", id] if !id.is_empty() => Some((
            Resource::Apps,
            "GET, PUT, PATCH, DELETE",
            [Method::GET, Method::PUT, Method::PATCH, Method::DELETE].contains(&method),
        )),
        ["apps", id, "secret" | "enable" | "disable"] if !id.is_empty() => {
            Some((Resource::Apps, "POST", method == Method::POST))
        }
        _ => None,
    };
    let Some((resource, allow, allowed)) = route else {
        return Problem::not_found("no such management resource").into_response();
    };
    if !allowed {
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
    let result = match segments.as_slice() {
        ["keys"] => keys::list(&call, cx).await,
        ["keys", "rotate"] => keys::rotate(&call, cx).await,
        ["apps"] if method == Method::GET => apps_routes::list(&call).await,
        ["apps"] => apps_routes::create(call, cx).await,
        ["apps", id] => match method {
            Method::GET => apps_routes::get(&call, id).await,
            Method::DELETE => apps_routes::delete(&call, id).await,
            _ => apps_routes::update(call, id, cx).await,
        },
        ["apps", id, "secret"] => apps_routes::reset_secret(&call, id, cx).await,
        ["apps", id, "enable"] => apps_routes::set_enabled(&call, id, true, cx).await,
        ["apps", id, "disable"] => apps_routes::set_enabled(&call, id, false, cx).await,
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

mod apps_routes;

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
