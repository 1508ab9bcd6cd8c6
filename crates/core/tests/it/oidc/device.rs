use gatehouse_testkit::{Browser, body_json, encode};
use serde_json::{Value, json};

use super::{PASSWORD, World, is_consent, is_login, text};

fn start(w: &World, app: &super::App, scope: &str) -> Value {
    let response = w.s.post_form(
        "/device_authorization",
        &format!("client_id={}&scope={}", app.client_id, encode(scope)),
        None,
    );
    assert_eq!(response.status(), 200, "{}", text(&response));
    assert_eq!(response.headers()["cache-control"], "no-store");
    body_json(&response)
}

fn poll(w: &World, app: &super::App, device_code: &str) -> Value {
    w.s.clock.advance(5);
    body_json(&w.s.post_form(
        "/token",
        &format!(
            "grant_type={}&device_code={}&client_id={}",
            encode("urn:ietf:params:oauth:grant-type:device_code"),
            encode(device_code),
            app.client_id
        ),
        None,
    ))
}

fn device_app(w: &World) -> super::App {
    w.app("tv_app", "device", json!({ "redirect_uris": [], "post_logout_redirect_uris": [] }))
}

#[test]
fn a_device_gets_tokens_once_the_user_approves_on_the_device_page() {
    let w = World::new();
    let app = device_app(&w);
    let started = start(&w, &app, "openid profile offline_access");
    let device_code = started["device_code"].as_str().unwrap().to_owned();
    let user_code = started["user_code"].as_str().unwrap().to_owned();
    assert_eq!(started["verification_uri"], format!("{}/device", super::ISSUER));
    assert_eq!(started["interval"], 5);
    assert_eq!(started["expires_in"], 600);
    assert!(user_code.len() == 9 && user_code.as_bytes()[4] == b'-', "{user_code}");

    assert_eq!(poll(&w, &app, &device_code)["error"], "authorization_pending");
    // Polling again at once is too fast.
    let fast = w.s.post_form(
        "/token",
        &format!(
            "grant_type={}&device_code={}&client_id={}",
            encode("urn:ietf:params:oauth:grant-type:device_code"),
            encode(&device_code),
            app.client_id
        ),
        None,
    );
    assert_eq!(body_json(&fast)["error"], "slow_down");

    let browser = Browser::new();
    let entry = browser.get(&w.s, &format!("/device?user_code={user_code}"));
    assert_eq!(entry.status(), 200);
    let login = browser.submit(&w.s, &entry, &[("user_code", &user_code.to_lowercase())]);
    assert!(is_login(&login), "{}", text(&login));
    let consent = browser.submit(&w.s, &login, &[("username", "ada"), ("password", PASSWORD)]);
    assert!(is_consent(&consent), "{}", text(&consent));
    let done = browser.submit(&w.s, &consent, &[("decision", "allow")]);
    assert_eq!(done.status(), 200, "{}", text(&done));

    let tokens = poll(&w, &app, &device_code);
    assert!(tokens["access_token"].is_string(), "{tokens}");
    assert!(tokens["id_token"].is_string() && tokens["refresh_token"].is_string());
    assert_eq!(poll(&w, &app, &device_code)["error"], "invalid_grant");
    // The code's entry page no longer knows it.
    let again = browser.get(&w.s, "/device");
    let reused = browser.submit(&w.s, &again, &[("user_code", &user_code)]);
    assert_eq!(reused.status(), 400);
}

#[test]
fn denied_expired_unknown_and_foreign_device_codes() {
    let w = World::new();
    let app = device_app(&w);
    let other = w.app(
        "radio_app",
        "device",
        json!({ "redirect_uris": [], "post_logout_redirect_uris": [] }),
    );
    let started = start(&w, &app, "openid");
    let device_code = started["device_code"].as_str().unwrap().to_owned();
    let user_code = started["user_code"].as_str().unwrap().to_owned();
    assert_eq!(poll(&w, &other, &device_code)["error"], "invalid_grant");

    let browser = Browser::new();
    let entry = browser.get(&w.s, "/device");
    let wrong = browser.submit(&w.s, &entry, &[("user_code", "BCDF-GHJK")]);
    assert_eq!(wrong.status(), 400);
    assert!(text(&wrong).contains("role=\"alert\""));
    let login = browser.submit(&w.s, &wrong, &[("user_code", &user_code)]);
    let consent = browser.submit(&w.s, &login, &[("username", "ada"), ("password", PASSWORD)]);
    let done = browser.submit(&w.s, &consent, &[("decision", "deny")]);
    assert_eq!(done.status(), 200);
    let denied = poll(&w, &app, &device_code);
    assert_eq!(denied["error"], "access_denied");

    let late = start(&w, &app, "openid");
    w.s.clock.advance(601);
    assert_eq!(poll(&w, &app, late["device_code"].as_str().unwrap())["error"], "expired_token");
    assert_eq!(poll(&w, &app, "made-up.1")["error"], "expired_token");
    assert_eq!(poll(&w, &app, "made-up")["error"], "invalid_grant");

    let web = w.web_app();
    let refused = w.s.post_form(
        "/device_authorization",
        "scope=openid",
        Some((&web.client_id, web.secret.as_deref().unwrap())),
    );
    assert_eq!(body_json(&refused)["error"], "unauthorized_client");
}

#[test]
fn a_signed_in_user_approves_a_device_without_signing_in_again() {
    let w = World::new();
    let web = w.app("first_party", "web", json!({ "first_party": true }));
    let browser = Browser::new();
    let (_, challenge) = gatehouse_testkit::pkce(9);
    w.sign_in(&browser, &w.authorize_url(&web, "openid", &challenge, ""));
    let app = device_app(&w);
    let started = start(&w, &app, "openid");
    let entry = browser.get(&w.s, "/device");
    let consent =
        browser.submit(&w.s, &entry, &[("user_code", started["user_code"].as_str().unwrap())]);
    assert!(is_consent(&consent), "{}", text(&consent));
}
