//! The management API under `/admin/v1/`: JSON in and out, bearer access tokens
//! from this issuer, one `gatehouse:*` scope per route (`gatehouse:admin` covers
//! all), RFC 9457 problem details for every refusal.
//!
//! Writes go through the [`crate::store::Registry`] (a Durable Object in the
//! worker): version checks for `If-Match`, unique names and the write itself are
//! one atomic step, so a failed request leaves nothing half-written.

mod apps;
mod hooks;
mod keys;
pub mod problem;
mod providers;
pub mod resources;
pub mod roles;
pub mod scopes;
pub(crate) mod user_fields;
pub mod users;

use http::{HeaderValue, Method, StatusCode, header};
use serde_json::{Map, Value};

use crate::context::Context;
use crate::engine::Engine;
use crate::http::bearer::{self, Bearer};
use crate::http::{Request, Response};
use crate::platform::Platform;
use crate::store::schema;
use crate::store::{Commit, CommitError, Directory, Registry, StoreError, Versioned};
use crate::types::ScopeSet;
use crate::verify::{AccessTokenPolicy, verify_access_token};
use problem::Problem;

/// The management API's root path under the issuer.
pub const ROOT: &str = "/admin/v1";
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
    pub(crate) caller: Caller,
}

/// Who is calling: the client behind the bearer token, with the scopes it holds now
/// (the token's scopes that the client still has).
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    scopes: ScopeSet,
}

impl Caller {
    /// Whether the caller holds `gatehouse:admin`.
    pub(crate) fn is_admin(&self) -> bool {
        self.scopes.contains(ADMIN_SCOPE)
    }

    /// Refuses a caller that does not hold `gatehouse:admin`: `why` says which rule
    /// needs it.
    pub(crate) fn require_admin(&self, why: &str) -> Result<(), Problem> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(Problem::insufficient_scope(ADMIN_SCOPE)
                .detail(format!("this operation needs the scope {ADMIN_SCOPE}: {why}")))
        }
    }
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
        ["apps", a, "hooks"] if id(a) => (Resource::Apps, COLLECTION),
        ["apps", a, "hooks", h] if id(a) && id(h) => (Resource::Apps, "GET, PATCH, DELETE"),
        ["apps", a, "hooks", h, "secret"] if id(a) && id(h) => (Resource::Apps, "POST"),
        ["apps", a, "permissions"] if id(a) => (Resource::Roles, COLLECTION),
        ["apps", a, "permissions", p] if id(a) && id(p) => (Resource::Roles, "GET, PATCH, DELETE"),
        ["resources"] => (Resource::Scopes, COLLECTION),
        ["resources", r] if id(r) => (Resource::Scopes, ITEM),
        ["scopes"] => (Resource::Scopes, COLLECTION),
        ["scopes", k] if id(k) => (Resource::Scopes, ITEM),
        ["scope-groups"] => (Resource::Scopes, COLLECTION),
        ["scope-groups", g] if id(g) => (Resource::Scopes, ITEM),
        ["roles"] => (Resource::Roles, COLLECTION),
        ["roles", r] if id(r) => (Resource::Roles, ITEM),
        ["user-fields"] => (Resource::Users, COLLECTION),
        ["user-fields", k] if id(k) => (Resource::Users, "GET, PATCH, DELETE"),
        ["users"] => (Resource::Users, COLLECTION),
        ["users", u] if id(u) => (Resource::Users, ITEM),
        ["users", u, "password" | "enable" | "disable"] if id(u) => (Resource::Users, "POST"),
        ["users", u, "mfa"] if id(u) => (Resource::Users, "GET, DELETE"),
        ["users", u, "consent-policies", a] if id(u) && id(a) => (Resource::Users, "DELETE"),
        ["users", u, "identities", p] if id(u) && id(p) => (Resource::Users, "DELETE"),
        ["providers"] => (Resource::Apps, COLLECTION),
        ["providers", p] if id(p) => (Resource::Apps, "GET, PATCH, DELETE"),
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
    let caller = match authorize(engine, &request, resource, access, cx).await {
        Ok(caller) => caller,
        Err(problem) => return problem.into_response(),
    };
    let call = Call { engine, request, caller };
    let m = &method;
    let result = match segments.as_slice() {
        ["keys"] => keys::list(&call, cx).await,
        ["keys", "rotate"] => keys::rotate(&call, cx).await,
        ["keys", kid, "revoke"] => keys::revoke(&call, kid, cx).await,
        ["apps"] if m == Method::GET => apps::list(&call).await,
        ["apps"] => apps::create(call, cx).await,
        ["apps", id] if m == Method::GET => apps::get(&call, id).await,
        ["apps", id] if m == Method::DELETE => apps::delete(&call, id).await,
        ["apps", id] => apps::update(call, id, cx).await,
        ["apps", id, "secret"] => apps::reset_secret(&call, id, cx).await,
        ["apps", id, "enable"] => apps::set_enabled(&call, id, true, cx).await,
        ["apps", id, "disable"] => apps::set_enabled(&call, id, false, cx).await,
        ["apps", id, "usage"] => usage::get(&call, id, cx).await,
        ["apps", id, "hooks"] if m == Method::GET => hooks::list(&call, id).await,
        ["apps", id, "hooks"] => hooks::create(call, id, cx).await,
        ["apps", id, "hooks", h] if m == Method::GET => hooks::get(&call, id, h).await,
        ["apps", id, "hooks", h] if m == Method::DELETE => hooks::delete(&call, id, h).await,
        ["apps", id, "hooks", h] => hooks::update(call, id, h, cx).await,
        ["apps", id, "hooks", h, "secret"] => hooks::rotate_secret(&call, id, h, cx).await,
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
        ["resources"] if m == Method::GET => resources::list(&call).await,
        ["resources"] => resources::create(call, cx).await,
        ["resources", r] if m == Method::GET => resources::get(&call, r).await,
        ["resources", r] if m == Method::DELETE => resources::delete(&call, r).await,
        ["resources", r] => resources::update(call, r, cx).await,
        ["roles"] if m == Method::GET => roles::list(&call).await,
        ["roles"] => roles::create(call, cx).await,
        ["roles", id] if m == Method::GET => roles::get(&call, id).await,
        ["roles", id] if m == Method::DELETE => roles::delete(&call, id).await,
        ["roles", id] => roles::update(call, id, cx).await,
        ["user-fields"] if m == Method::GET => user_fields::list(&call).await,
        ["user-fields"] => user_fields::create(call, cx).await,
        ["user-fields", k] if m == Method::GET => user_fields::get(&call, k).await,
        ["user-fields", k] if m == Method::DELETE => user_fields::delete(&call, k).await,
        ["user-fields", k] => user_fields::update(call, k, cx).await,
        ["users"] if m == Method::GET => users::list(&call).await,
        ["users"] => users::create(call, cx).await,
        ["users", id] if m == Method::GET => users::get(&call, id, cx).await,
        ["users", id] if m == Method::DELETE => users::delete(&call, id).await,
        ["users", id] => users::update(call, id, cx).await,
        ["users", id, "password"] => users::set_password(call, id, cx).await,
        ["users", id, "mfa"] if m == Method::GET => users::get_mfa(&call, id, cx).await,
        ["users", id, "mfa"] => users::reset_mfa(&call, id).await,
        ["users", id, "enable"] => users::set_enabled(&call, id, true, cx).await,
        ["users", id, "disable"] => users::set_enabled(&call, id, false, cx).await,
        ["users", id, "consent-policies", app] => users::withdraw_policy(&call, id, app, cx).await,
        ["users", id, "identities", p] => users::unlink(&call, id, p, cx).await,
        ["providers"] if m == Method::GET => providers::list(&call).await,
        ["providers"] => providers::create(call, cx).await,
        ["providers", p] if m == Method::GET => providers::get(&call, p).await,
        ["providers", p] if m == Method::DELETE => providers::delete(&call, p).await,
        ["providers", p] => providers::update(call, p, cx).await,
        _ => Err(Problem::not_found("no such management resource")),
    };
    if access != Access::Read {
        // This isolate's token endpoint sees its own changes at once: a disabled
        // app is refused here without waiting for the cache to expire.
        engine.cache().forget();
    }
    result.unwrap_or_else(Problem::into_response)
}

/// Checks the bearer token: from this issuer, for the management API (`aud` is
/// [`resources::management_identifier`]), unexpired, with the route's scope or
/// `gatehouse:admin`. The calling client is read again, so a token of a client
/// since disabled, deleted or stripped of a scope loses what it lost (within the
/// directory's consistency bound).
async fn authorize<P: Platform>(
    engine: &Engine<P>,
    request: &Request,
    resource: Resource,
    access: Access,
    cx: &mut Context<'_>,
) -> Result<Caller, Problem> {
    // A missing or malformed header gets the bare challenge (RFC 6750 section 3.1).
    let Bearer::Token(token) = bearer::from_headers(request.headers()) else {
        return Err(Problem::unauthorized(false));
    };
    let now = cx.now();
    let ring = engine.keyring(now).await.map_err(|_| Problem::unavailable())?;
    let config = engine.config();
    let policy = AccessTokenPolicy::new(
        config.issuer.as_str(),
        crate::model::resource::management_identifier(config),
    );
    let claims =
        verify_access_token(engine.platform().crypto(), &ring.jwks(now), &policy, token, now)
            .await
            .map_err(|_| Problem::unauthorized(true))?;
    let held = current_scopes(engine, &claims.client_id).await?.ok_or_else(|| {
        cx.diagnose(format!(
            "management token of client {:?} refused: the client is gone or disabled",
            claims.client_id
        ));
        Problem::unauthorized(true)
    })?;
    let caller = Caller {
        scopes: claims.scope.iter().filter(|s| held.contains(s.as_str())).cloned().collect(),
    };
    let needed = format!(
        "gatehouse:{}_{}",
        resource.name(),
        match access {
            Access::Read => "read",
            Access::Write => "write",
            Access::Delete => "delete",
        }
    );
    if caller.is_admin() || caller.scopes.contains(&needed) {
        Ok(caller)
    } else {
        Err(Problem::insufficient_scope(&needed))
    }
}

/// The scopes `client_id` holds now: the bootstrap client's, or an enabled app's;
/// `None` for a client that no longer exists or is disabled.
async fn current_scopes<P: Platform>(
    engine: &Engine<P>,
    client_id: &str,
) -> Result<Option<ScopeSet>, Problem> {
    if let Some(bootstrap) =
        engine.config().bootstrap.as_ref().filter(|b| b.client_id.as_str() == client_id)
    {
        return Ok(Some(bootstrap.scopes.clone()));
    }
    let app = crate::store::read_record::<crate::model::app::AppRecord, _>(
        engine.platform().directory(),
        &schema::app(client_id),
    )
    .await
    .map_err(|_| Problem::unavailable())?;
    Ok(app.filter(|a| a.enabled).map(|a| a.scope))
}

/// The JSON object body of a write request.
pub(crate) fn json_body(request: &Request) -> Result<Map<String, Value>, Problem> {
    let accepted = ["application/json", "application/merge-patch+json"];
    crate::http::parse_json_object(request.headers(), request.body(), &accepted).map_err(
        |e| match e {
            crate::http::JsonError::ContentType => Problem::unsupported_media_type(),
            crate::http::JsonError::TooLarge => Problem::too_large(),
            crate::http::JsonError::Malformed(why) => Problem::malformed(why),
        },
    )
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
    crate::model::fields::merge_patch(&mut merged, &Value::Object(body));
    match merged {
        Value::Object(map) => Ok(map),
        _ => Err(Problem::malformed("the patch must be a JSON object")),
    }
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

/// Checks `If-Match` (RFC 9110 section 13.1.1) against the version just read: `*`
/// or a list of entity tags, compared strongly, so a weak tag (`W/"3"`) never
/// matches. A well-formed tag that is not the current one is 412 (whatever it
/// holds: another server's tag is just as stale); a header that is not an
/// entity-tag list is 400.
pub(crate) fn check_if_match(request: &Request, version: u64) -> Result<(), Problem> {
    let mut values = request.headers().get_all(header::IF_MATCH).iter().peekable();
    if values.peek().is_none() {
        return Ok(());
    }
    let current = format!("\"{version}\"");
    let mut matched = false;
    for value in values {
        let text = value.to_str().map_err(|_| bad_if_match())?;
        for tag in entity_tags(text).ok_or_else(bad_if_match)? {
            matched |= tag == "*" || tag == current;
        }
    }
    if matched { Ok(()) } else { Err(Problem::precondition_failed()) }
}

fn bad_if_match() -> Problem {
    Problem::malformed("If-Match must be * or a list of entity tags such as \"3\"")
}

/// The members of an `If-Match` value: `*` or entity tags (`W/` kept, so a weak tag
/// never equals a strong one), or `None` when the value is not that grammar.
fn entity_tags(value: &str) -> Option<Vec<&str>> {
    if value.trim() == "*" {
        return Some(vec!["*"]);
    }
    let mut tags = Vec::new();
    let mut rest = value.trim_start_matches([' ', '\t', ',']);
    while !rest.is_empty() {
        let body = rest.strip_prefix("W/").unwrap_or(rest);
        let inner = body.strip_prefix('"')?;
        // etagc: %x21 / %x23-7E / obs-text; no quote, no control, no space.
        let close = inner.find('"')?;
        let opaque = inner.get(..close)?;
        if opaque.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return None;
        }
        let tag_len = rest.len() - inner.len() + close + 1;
        tags.push(rest.get(..tag_len)?);
        let after = rest.get(tag_len..)?.trim_start_matches([' ', '\t']);
        rest = match after.strip_prefix(',') {
            Some(next) => next.trim_start_matches([' ', '\t', ',']),
            None if after.is_empty() => after,
            None => return None,
        };
    }
    (!tags.is_empty()).then_some(tags)
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

mod usage;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_tag_lists() {
        assert_eq!(entity_tags("\"3\""), Some(vec!["\"3\""]));
        assert_eq!(entity_tags(" W/\"3\" , \"a,b\""), Some(vec!["W/\"3\"", "\"a,b\""]));
        assert_eq!(entity_tags("*"), Some(vec!["*"]));
        for bad in ["3", "\"3", "\"3\" x", "", "\"a b\"", "W/3"] {
            assert_eq!(entity_tags(bad), None, "{bad}");
        }
    }

    #[test]
    fn if_match_is_strong_and_stale_tags_are_412() {
        let request = |value: &str| {
            http::Request::builder().header(header::IF_MATCH, value).body(Vec::new()).unwrap()
        };
        assert!(check_if_match(&request("\"3\""), 3).is_ok());
        assert!(check_if_match(&request("\"1\", \"3\""), 3).is_ok());
        assert!(check_if_match(&request("*"), 3).is_ok());
        for stale in ["W/\"3\"", "\"2\"", "\"stale-etag\""] {
            let err = check_if_match(&request(stale), 3).unwrap_err();
            assert_eq!(err, Problem::precondition_failed(), "{stale}");
        }
        assert_eq!(check_if_match(&request("stale"), 3).unwrap_err(), bad_if_match());
    }
}
