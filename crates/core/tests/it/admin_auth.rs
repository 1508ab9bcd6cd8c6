//! Who may call the management API.

use gatehouse_testkit::{Scenario, body_json};
use http::Method;
use serde_json::json;

#[test]
fn no_token_is_401_with_a_bearer_challenge() {
    let s = Scenario::default();
    let response = s.send(http::Request::get("/admin/v1/apps").body(Vec::new()).unwrap());
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer realm=\"gatehouse\"");
    assert_eq!(response.headers()["content-type"], "application/problem+json");
}

#[test]
fn a_bad_or_expired_token_is_401_invalid_token() {
    let s = Scenario::default();
    let response = s.admin(Method::GET, "/admin/v1/apps", "not-a-token", None, &[]);
    assert_eq!(response.status(), 401);
    assert!(response.headers()["www-authenticate"].to_str().unwrap().contains("invalid_token"));
    let token = s.bearer(None);
    s.clock.advance(3600 + 61);
    assert_eq!(s.admin(Method::GET, "/admin/v1/apps", &token, None, &[]).status(), 401);
}

#[test]
fn each_route_needs_its_scope_and_admin_covers_all() {
    let s = Scenario::default();
    let read_only = s.bearer(Some("gatehouse:apps_read"));
    assert_eq!(s.admin(Method::GET, "/admin/v1/apps", &read_only, None, &[]).status(), 200);
    let denied = s.admin(
        Method::POST,
        "/admin/v1/apps",
        &read_only,
        Some(json!({"client_name": "x", "type": "s2s"})),
        &[],
    );
    assert_eq!(denied.status(), 403);
    assert!(
        denied.headers()["www-authenticate"].to_str().unwrap().contains("gatehouse:apps_write")
    );
    assert_eq!(body_json(&denied)["type"], "urn:gatehouse:problem:insufficient_scope");
    let keys_only = s.bearer(Some("gatehouse:keys_read"));
    assert_eq!(s.admin(Method::GET, "/admin/v1/apps", &keys_only, None, &[]).status(), 403);
    assert_eq!(s.admin(Method::GET, "/admin/v1/keys", &keys_only, None, &[]).status(), 200);
    let admin = s.bearer(Some("gatehouse:admin"));
    assert_eq!(s.admin(Method::POST, "/admin/v1/keys/rotate", &admin, None, &[]).status(), 200);
}

#[test]
fn unknown_routes_and_methods() {
    let s = Scenario::default();
    let token = s.bearer(None);
    assert_eq!(s.admin(Method::GET, "/admin/v1/nope", &token, None, &[]).status(), 404);
    let wrong = s.admin(Method::DELETE, "/admin/v1/apps", &token, None, &[]);
    assert_eq!(wrong.status(), 405);
    assert_eq!(wrong.headers()["allow"], "GET, POST");
    assert_eq!(s.admin(Method::GET, "/admin/v1/apps/unknown-id", &token, None, &[]).status(), 404);
}

#[test]
fn keys_list_public_parts_and_rotation_publishes_next_keys() {
    let s = Scenario::default();
    let token = s.bearer(None);
    let listed = s.admin(Method::GET, "/admin/v1/keys", &token, None, &[]);
    let text = String::from_utf8(listed.body().clone()).unwrap();
    assert!(!text.contains("sealed") && !text.contains("\"d\""), "no private parts: {text}");
    assert_eq!(body_json(&listed)["keys"].as_array().unwrap().len(), 2);
    let rotated = body_json(&s.admin(Method::POST, "/admin/v1/keys/rotate", &token, None, &[]));
    let statuses: Vec<_> = rotated["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["status"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(statuses, ["current", "current", "next", "next"]);
    let jwks = body_json(&s.get("/.well-known/jwks.json"));
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 4);
}
