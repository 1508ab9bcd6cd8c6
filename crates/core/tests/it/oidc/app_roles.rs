//! Apps open to some roles only (`allowed_roles`): who gets a code, who sees the
//! no-access page, and the refresh, device and code grants of a user who lost the
//! role; the field in the management API.

use gatehouse_testkit::{Browser, body_json, encode, pkce, redirect_params};
use http::{Method, header};
use serde_json::{Value, json};

use super::{App, CALLBACK, ISSUER, PASSWORD, World, is_consent, is_login, text};

/// Creates a role; answers its id.
fn role(w: &World, name: &str) -> String {
    let response =
        w.s.admin(Method::POST, "/admin/v1/roles", &w.admin, Some(json!({ "name": name })), &[]);
    assert_eq!(response.status(), 201, "{:?}", body_json(&response));
    body_json(&response)["id"].as_str().unwrap().to_owned()
}

/// Gives ada exactly `roles`.
fn set_roles(w: &World, roles: &[&str]) {
    let path = format!("/admin/v1/users/{}", w.user_id);
    let response = w.s.admin(Method::PATCH, &path, &w.admin, Some(json!({ "roles": roles })), &[]);
    assert_eq!(response.status(), 200, "{:?}", body_json(&response));
}

/// A web app with refresh tokens, open to `roles` only.
fn staff_app(w: &World, roles: &[&str]) -> App {
    w.app("staff_portal", "web", json!({ "refresh_tokens": true, "allowed_roles": roles }))
}

/// Whether a response is the no-access page (403, the app named, a form for
/// another account, nothing sent to the redirect URI).
fn is_no_access(response: &http::Response<Vec<u8>>) -> bool {
    let html = text(response);
    response.status() == 403
        && html.contains("<h1>No access to staff_portal</h1>")
        && html.contains("Signed in as ada@example.com")
        && is_login(response)
        && !response.headers().contains_key(header::LOCATION)
}

fn refresh(w: &World, app: &App, token: &str) -> Value {
    body_json(&w.post_token(app, &format!("grant_type=refresh_token&refresh_token={token}")))
}

#[test]
fn a_user_holding_an_allowed_role_gets_a_code_and_tokens() {
    let w = World::new();
    let staff = role(&w, "staff");
    let ops = role(&w, "ops");
    set_roles(&w, &[&ops]);
    let app = staff_app(&w, &[&staff, &ops]);
    let tokens = w.tokens(&app, "openid offline_access");
    assert!(tokens["access_token"].is_string() && tokens["refresh_token"].is_string());
    // An app that lists no roles admits everyone, ada without any role too.
    set_roles(&w, &[]);
    let open = w.app("open_app", "web", json!({}));
    assert!(w.tokens(&open, "openid")["id_token"].is_string());
}

#[test]
fn a_user_without_one_sees_the_no_access_page_after_login_and_on_sso() {
    let w = World::new();
    let staff = role(&w, "staff");
    let app = staff_app(&w, &[&staff]);
    let (_, challenge) = pkce(3);
    let url = w.authorize_url(&app, "openid", &challenge, "");
    let browser = Browser::new();
    let login = browser.get(&w.s, &url);
    assert!(is_login(&login));
    let refused = browser.submit(&w.s, &login, &[("username", "ada"), ("password", PASSWORD)]);
    assert!(is_no_access(&refused), "{}", text(&refused));
    assert!(!is_consent(&refused), "no consent is asked for an app the user may not use");
    assert!(
        w.s.take_diagnostics().iter().all(|d| !d.contains("allowed roles")),
        "a page, not a refused grant"
    );
    // The session stays: the next request is answered from it, with the same page.
    assert!(browser.has_cookie("session"));
    let again = browser.get(&w.s, &url);
    assert!(is_no_access(&again), "{}", text(&again));
    // In the user's language.
    let mut de = url.clone();
    de.push_str("&ui_locales=de");
    let german = browser.get(&w.s, &de);
    assert_eq!(german.status(), 403);
    assert!(text(&german).contains("<h1>Kein Zugriff auf staff_portal</h1>"));
}

#[test]
fn prompt_none_sends_access_denied_to_the_redirect_uri() {
    let w = World::new();
    let staff = role(&w, "staff");
    let app = staff_app(&w, &[&staff]);
    let open = w.app("open_app", "web", json!({}));
    let (_, challenge) = pkce(4);
    let browser = Browser::new();
    // Signed in through another app, then silently to this one.
    w.sign_in(&browser, &w.authorize_url(&open, "openid", &challenge, ""));
    let silent = browser.get(&w.s, &w.authorize_url(&app, "openid", &challenge, "&prompt=none"));
    assert_eq!(silent.status(), 303);
    let location = silent.headers()[header::LOCATION].to_str().unwrap();
    assert!(location.starts_with(CALLBACK), "{location}");
    let params = redirect_params(&silent);
    assert_eq!(params["error"], "access_denied");
    assert_eq!(params["state"], "st4te");
    assert_eq!(params["iss"], ISSUER);
    assert!(!params.contains_key("code"));
}

#[test]
fn another_account_holding_the_role_signs_in_from_the_no_access_page() {
    let w = World::new();
    let staff = role(&w, "staff");
    let grace = w.s.admin(
        Method::POST,
        "/admin/v1/users",
        &w.admin,
        Some(json!({ "username": "grace", "password": PASSWORD, "roles": [staff] })),
        &[],
    );
    assert_eq!(grace.status(), 201);
    let grace = body_json(&grace)["id"].as_str().unwrap().to_owned();
    let app = staff_app(&w, &[&staff]);
    let (verifier, challenge) = pkce(5);
    let browser = Browser::new();
    let login = browser.get(&w.s, &w.authorize_url(&app, "openid", &challenge, ""));
    let refused = browser.submit(&w.s, &login, &[("username", "ada"), ("password", PASSWORD)]);
    assert!(is_no_access(&refused));
    let mut answer =
        browser.submit(&w.s, &refused, &[("username", "grace"), ("password", PASSWORD)]);
    if is_consent(&answer) {
        answer = browser.submit(&w.s, &answer, &[("decision", "allow")]);
    }
    let code = w.code_of(&answer);
    let tokens = body_json(&w.redeem(&app, &code, &verifier));
    let id_token = tokens["id_token"].as_str().unwrap();
    let claims = w.id_token(&app, id_token, tokens["access_token"].as_str().unwrap());
    assert_eq!(claims.sub, grace);
}

#[test]
fn refresh_is_refused_without_rotating_once_the_user_loses_the_role() {
    let w = World::new();
    let staff = role(&w, "staff");
    set_roles(&w, &[&staff]);
    let app = staff_app(&w, &[&staff]);
    let token =
        w.tokens(&app, "openid offline_access")["refresh_token"].as_str().unwrap().to_owned();

    set_roles(&w, &[]);
    let refused = refresh(&w, &app, &token);
    assert_eq!(refused["error"], "invalid_grant", "{refused}");
    assert!(w.s.take_diagnostics().iter().any(|d| d.contains("allowed roles")));
    // Not rotated: with the role back, the very same token works.
    set_roles(&w, &[&staff]);
    let next = refresh(&w, &app, &token);
    assert!(next["access_token"].is_string(), "{next}");
    let next = next["refresh_token"].as_str().unwrap().to_owned();

    // Deleting the role takes it from everyone at once, though ada still lists its id.
    let path = format!("/admin/v1/roles/{staff}");
    assert_eq!(w.s.admin(Method::DELETE, &path, &w.admin, None, &[]).status(), 204);
    assert_eq!(refresh(&w, &app, &next)["error"], "invalid_grant");
}

#[test]
fn a_code_given_before_the_role_was_taken_redeems_to_invalid_grant() {
    let w = World::new();
    let staff = role(&w, "staff");
    set_roles(&w, &[&staff]);
    let app = staff_app(&w, &[&staff]);
    let (verifier, challenge) = pkce(6);
    let redirect = w.sign_in(&Browser::new(), &w.authorize_url(&app, "openid", &challenge, ""));
    let code = w.code_of(&redirect);
    set_roles(&w, &[]);
    let refused = w.redeem(&app, &code, &verifier);
    assert_eq!(refused.status(), 400);
    assert_eq!(body_json(&refused)["error"], "invalid_grant");
}

#[test]
fn a_device_is_not_approved_by_a_user_without_the_role() {
    let w = World::new();
    let staff = role(&w, "staff");
    let app = w.app(
        "staff_portal",
        "device",
        json!({ "redirect_uris": [], "post_logout_redirect_uris": [], "allowed_roles": [staff] }),
    );
    let started = body_json(&w.s.post_form(
        "/device_authorization",
        &format!("client_id={}&scope=openid", app.client_id),
        None,
    ));
    let device_code = started["device_code"].as_str().unwrap().to_owned();
    let user_code = started["user_code"].as_str().unwrap().to_owned();
    let browser = Browser::new();
    let entry = browser.get(&w.s, "/device");
    let login = browser.submit(&w.s, &entry, &[("user_code", &user_code)]);
    assert!(is_login(&login), "{}", text(&login));
    let refused = browser.submit(&w.s, &login, &[("username", "ada"), ("password", PASSWORD)]);
    assert!(is_no_access(&refused), "{}", text(&refused));

    let poll = |w: &World| {
        w.s.clock.advance(5);
        body_json(&w.s.post_form(
            "/token",
            &format!(
                "grant_type={}&device_code={}&client_id={}",
                encode("urn:ietf:params:oauth:grant-type:device_code"),
                encode(&device_code),
                app.client_id
            ),
            None,
        ))
    };
    // Still pending: the device may yet be approved by someone the app admits.
    assert_eq!(poll(&w)["error"], "authorization_pending");
    set_roles(&w, &[&staff]);
    let entry = browser.get(&w.s, "/device");
    let mut done = browser.submit(&w.s, &entry, &[("user_code", &user_code)]);
    if is_consent(&done) {
        done = browser.submit(&w.s, &done, &[("decision", "allow")]);
    }
    assert_eq!(done.status(), 200, "{}", text(&done));
    assert!(poll(&w)["access_token"].is_string());
}

#[test]
fn allowed_roles_name_existing_roles_and_round_trip_through_the_api() {
    let w = World::new();
    let staff = role(&w, "staff");
    let pointers = |response: &http::Response<Vec<u8>>| -> Vec<String> {
        assert_eq!(response.status(), 400, "{:?}", body_json(response));
        body_json(response)["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["pointer"].as_str().unwrap().to_owned())
            .collect()
    };
    let body = |roles: Value| json!({ "client_name": "staff_portal", "type": "web", "redirect_uris": [CALLBACK], "allowed_roles": roles });
    let unknown = w.s.admin(
        Method::POST,
        "/admin/v1/apps",
        &w.admin,
        Some(body(json!([staff, "nope"]))),
        &[],
    );
    assert_eq!(pointers(&unknown), ["/allowed_roles/1"]);
    let mistyped =
        w.s.admin(Method::POST, "/admin/v1/apps", &w.admin, Some(body(json!(staff))), &[]);
    assert_eq!(pointers(&mistyped), ["/allowed_roles"]);

    let created =
        w.s.admin(Method::POST, "/admin/v1/apps", &w.admin, Some(body(json!([staff]))), &[]);
    assert_eq!(created.status(), 201, "{:?}", body_json(&created));
    let client_id = body_json(&created)["client_id"].as_str().unwrap().to_owned();
    let path = format!("/admin/v1/apps/{client_id}");
    let read = body_json(&w.s.admin(Method::GET, &path, &w.admin, None, &[]));
    assert_eq!(read["allowed_roles"], json!([staff]));
    // What was read is written back unchanged.
    let put = w.s.admin(Method::PUT, &path, &w.admin, Some(read.clone()), &[]);
    assert_eq!(put.status(), 200, "{:?}", body_json(&put));
    assert_eq!(body_json(&put)["allowed_roles"], json!([staff]));
    let patch = json!({ "allowed_roles": [staff, "nope"] });
    assert_eq!(
        pointers(&w.s.admin(Method::PATCH, &path, &w.admin, Some(patch), &[])),
        ["/allowed_roles/1"]
    );

    // Deleting the role leaves its id on the app (as on users), where it admits
    // nobody: not everyone, as an empty list would.
    set_roles(&w, &[&staff]);
    let role_path = format!("/admin/v1/roles/{staff}");
    assert_eq!(w.s.admin(Method::DELETE, &role_path, &w.admin, None, &[]).status(), 204);
    let read = body_json(&w.s.admin(Method::GET, &path, &w.admin, None, &[]));
    assert_eq!(read["allowed_roles"], json!([staff]));
    let app = App { client_id, secret: None };
    let (_, challenge) = pkce(8);
    let browser = Browser::new();
    let login = browser.get(&w.s, &w.authorize_url(&app, "openid", &challenge, ""));
    let refused = browser.submit(&w.s, &login, &[("username", "ada"), ("password", PASSWORD)]);
    assert!(is_no_access(&refused), "{}", text(&refused));
    // The next write of the app must drop it; an empty list opens the app to all.
    let describe = json!({ "description": "Staff only" });
    assert_eq!(
        pointers(&w.s.admin(Method::PATCH, &path, &w.admin, Some(describe), &[])),
        ["/allowed_roles/0"]
    );
    let open = json!({ "allowed_roles": [] });
    let opened = w.s.admin(Method::PATCH, &path, &w.admin, Some(open), &[]);
    assert_eq!(body_json(&opened)["allowed_roles"], json!([]));
    let again = browser.get(&w.s, &w.authorize_url(&app, "openid", &challenge, ""));
    assert!(is_consent(&again), "{}", text(&again));
}
