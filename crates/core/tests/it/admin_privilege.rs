//! The management API's own power stays with `gatehouse:admin`: regressions for the
//! privilege escalations an `apps_write` token could reach, and tokens of clients
//! that were disabled, deleted or stripped of a scope.

use gatehouse_testkit::{Scenario, body_json};
use http::Method;
use serde_json::{Value, json};

/// A token of a registered app with `scope`, by its secret.
fn app_token(s: &Scenario, app: &Value, scope: &str) -> http::Response<Vec<u8>> {
    s.post_form(
        "/token",
        &format!("grant_type=client_credentials&scope={}", scope.replace(':', "%3A")),
        Some((app["client_id"].as_str().unwrap(), app["client_secret"].as_str().unwrap())),
    )
}

fn create_app(s: &Scenario, token: &str, body: Value) -> http::Response<Vec<u8>> {
    s.admin(Method::POST, "/admin/v1/apps", token, Some(body), &[])
}

/// An app holding `scope`, created by the bootstrap admin, and a token of it.
fn delegate(s: &Scenario, name: &str, scope: &str) -> (Value, String) {
    let admin = s.bearer(None);
    let app = body_json(&create_app(
        s,
        &admin,
        json!({"client_name": name, "type": "s2s", "scope": scope}),
    ));
    let response = app_token(s, &app, scope);
    assert_eq!(response.status(), 200, "{:?}", body_json(&response));
    (app.clone(), body_json(&response)["access_token"].as_str().unwrap().to_owned())
}

fn assert_needs_admin(response: &http::Response<Vec<u8>>) {
    assert_eq!(response.status(), 403, "{:?}", body_json(response));
    assert!(
        response.headers()["www-authenticate"].to_str().unwrap().contains("gatehouse:admin"),
        "the challenge names gatehouse:admin"
    );
    let body = body_json(response);
    assert_eq!(body["type"], "urn:gatehouse:problem:insufficient_scope");
    assert!(body["detail"].as_str().unwrap().contains("gatehouse:admin"));
}

/// Regression: an `apps_write` token created an app with `gatehouse:admin`, read its
/// secret from the 201 and got an admin token.
#[test]
fn apps_write_cannot_create_an_app_with_management_scopes() {
    let s = Scenario::default();
    let (_, writer) = delegate(&s, "writer", "gatehouse:apps_write");
    for scope in ["gatehouse:admin", "gatehouse:apps_read", "orders:read gatehouse:keys_write"] {
        let response = create_app(
            &s,
            &writer,
            json!({"client_name": "escalate", "type": "s2s", "scope": scope}),
        );
        assert_needs_admin(&response);
    }
    // Ordinary apps are still the writer's to create.
    let plain = create_app(&s, &writer, json!({"client_name": "plain", "type": "s2s"}));
    assert_eq!(plain.status(), 201);
    // ... but not to promote afterwards.
    let id = body_json(&plain)["client_id"].as_str().unwrap().to_owned();
    let promote = s.admin(
        Method::PATCH,
        &format!("/admin/v1/apps/{id}"),
        &writer,
        Some(json!({"scope": "gatehouse:admin"})),
        &[],
    );
    assert_needs_admin(&promote);
}

/// Regression: an `apps_write` token reset the secret of an admin-scoped app and
/// took it over.
#[test]
fn apps_write_cannot_take_over_an_app_with_management_scopes() {
    let s = Scenario::default();
    let (_, writer) = delegate(&s, "writer", "gatehouse:apps_write");
    let admin = s.bearer(None);
    let target = body_json(&create_app(
        &s,
        &admin,
        json!({"client_name": "ops", "type": "s2s", "scope": "gatehouse:users_read"}),
    ));
    let id = target["client_id"].as_str().unwrap();
    let path = format!("/admin/v1/apps/{id}");
    assert_needs_admin(&s.admin(Method::POST, &format!("{path}/secret"), &writer, None, &[]));
    for change in [
        json!({"token_endpoint_auth_method": "client_secret_post"}),
        json!({"token_endpoint_auth_method": "client_secret_jwt"}),
        json!({"token_endpoint_auth_method": "private_key_jwt",
               "jwks_uri": "https://attacker.example/jwks.json"}),
    ] {
        assert_needs_admin(&s.admin(Method::PATCH, &path, &writer, Some(change), &[]));
    }
    // Harmless changes and disabling stay with apps_write; enabling again does not.
    let renamed =
        s.admin(Method::PATCH, &path, &writer, Some(json!({"description": "batch jobs"})), &[]);
    assert_eq!(renamed.status(), 200);
    assert_eq!(s.admin(Method::POST, &format!("{path}/disable"), &writer, None, &[]).status(), 200);
    assert_needs_admin(&s.admin(Method::POST, &format!("{path}/enable"), &writer, None, &[]));
    // The admin can do all of it.
    assert_eq!(s.admin(Method::POST, &format!("{path}/enable"), &admin, None, &[]).status(), 200);
    assert_eq!(s.admin(Method::POST, &format!("{path}/secret"), &admin, None, &[]).status(), 200);
}

#[test]
fn interactive_apps_with_management_scopes_keep_their_redirects() {
    let s = Scenario::default();
    let (_, writer) = delegate(&s, "writer", "gatehouse:apps_write");
    let admin = s.bearer(None);
    let console = body_json(&create_app(
        &s,
        &admin,
        json!({"client_name": "console", "type": "web", "scope": "gatehouse:apps_read",
               "redirect_uris": ["https://console.example.com/cb"]}),
    ));
    let path = format!("/admin/v1/apps/{}", console["client_id"].as_str().unwrap());
    let redirect = json!({"redirect_uris": ["https://attacker.example/cb"]});
    assert_needs_admin(&s.admin(Method::PATCH, &path, &writer, Some(redirect.clone()), &[]));
    assert_eq!(s.admin(Method::PATCH, &path, &admin, Some(redirect), &[]).status(), 200);
}

/// The calling app is read again on every request.
#[test]
fn a_token_of_an_app_since_disabled_deleted_or_stripped_is_refused() {
    let s = Scenario::default();
    let admin = s.bearer(None);
    let (app, reader) = delegate(&s, "reader", "gatehouse:apps_read");
    let id = app["client_id"].as_str().unwrap();
    let path = format!("/admin/v1/apps/{id}");
    assert_eq!(s.admin(Method::GET, "/admin/v1/apps", &reader, None, &[]).status(), 200);

    // Stripped of the scope: 403 although the token still carries it.
    let stripped = s.admin(Method::PATCH, &path, &admin, Some(json!({"scope": ""})), &[]);
    assert_eq!(stripped.status(), 200);
    assert_eq!(s.admin(Method::GET, "/admin/v1/apps", &reader, None, &[]).status(), 403);
    s.admin(Method::PATCH, &path, &admin, Some(json!({"scope": "gatehouse:apps_read"})), &[]);
    assert_eq!(s.admin(Method::GET, "/admin/v1/apps", &reader, None, &[]).status(), 200);

    // Disabled: 401.
    s.admin(Method::POST, &format!("{path}/disable"), &admin, None, &[]);
    let refused = s.admin(Method::GET, "/admin/v1/apps", &reader, None, &[]);
    assert_eq!(refused.status(), 401);
    assert!(refused.headers()["www-authenticate"].to_str().unwrap().contains("invalid_token"));
    s.admin(Method::POST, &format!("{path}/enable"), &admin, None, &[]);
    assert_eq!(s.admin(Method::GET, "/admin/v1/apps", &reader, None, &[]).status(), 200);

    // Deleted: 401.
    assert_eq!(s.admin(Method::DELETE, &path, &admin, None, &[]).status(), 204);
    assert_eq!(s.admin(Method::GET, "/admin/v1/apps", &reader, None, &[]).status(), 401);
}

/// `gatehouse:admin` given by the admin makes a second administrator.
#[test]
fn an_admin_may_delegate_administration() {
    let s = Scenario::default();
    let (_, second) = delegate(&s, "second_admin", "gatehouse:admin");
    let created = create_app(
        &s,
        &second,
        json!({"client_name": "keys_bot", "type": "s2s", "scope": "gatehouse:keys_read"}),
    );
    assert_eq!(created.status(), 201);
}
