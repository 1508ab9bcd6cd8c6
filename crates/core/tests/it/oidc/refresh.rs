use gatehouse_testkit::body_json;
use http::Method;
use serde_json::json;

use super::World;

fn refresh(w: &World, app: &super::App, token: &str, extra: &str) -> serde_json::Value {
    body_json(&w.post_token(app, &format!("grant_type=refresh_token&refresh_token={token}{extra}")))
}

#[test]
fn every_use_rotates_and_reuse_revokes_the_family_only() {
    let w = World::new();
    let app = w.web_app();
    let first =
        w.tokens(&app, "openid offline_access")["refresh_token"].as_str().unwrap().to_owned();
    let sibling =
        w.tokens(&app, "openid offline_access")["refresh_token"].as_str().unwrap().to_owned();

    let second = refresh(&w, &app, &first, "");
    assert!(second["access_token"].is_string() && second["id_token"].is_string(), "{second}");
    let second = second["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    let third = refresh(&w, &app, &second, "")["refresh_token"].as_str().unwrap().to_owned();

    // The thief (or the victim) replays a rotated-out token: the family ends.
    assert_eq!(refresh(&w, &app, &first, "")["error"], "invalid_grant");
    assert_eq!(refresh(&w, &app, &third, "")["error"], "invalid_grant");
    // Another device's family is untouched.
    assert!(refresh(&w, &app, &sibling, "")["refresh_token"].is_string());
}

#[test]
fn a_retry_within_the_grace_window_gets_the_same_successor() {
    let w = World::new();
    let app = w.app(
        "graceful",
        "web",
        json!({ "refresh_tokens": true, "refresh_token_grace_period": 30 }),
    );
    let first =
        w.tokens(&app, "openid offline_access")["refresh_token"].as_str().unwrap().to_owned();
    let a = refresh(&w, &app, &first, "")["refresh_token"].as_str().unwrap().to_owned();
    w.s.clock.advance(10);
    let b = refresh(&w, &app, &first, "")["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(a, b);
    w.s.clock.advance(30);
    assert_eq!(refresh(&w, &app, &first, "")["error"], "invalid_grant");
    assert_eq!(refresh(&w, &app, &a, "")["error"], "invalid_grant");
}

#[test]
fn refresh_narrows_scope_and_stops_for_disabled_users_and_other_clients() {
    let w = World::new();
    let app = w.web_app();
    let other = w.app("other_app", "web", json!({ "refresh_tokens": true }));
    let token =
        w.tokens(&app, "openid email offline_access")["refresh_token"].as_str().unwrap().to_owned();

    assert_eq!(refresh(&w, &other, &token, "")["error"], "invalid_grant");
    assert_eq!(refresh(&w, &app, &token, "&scope=openid+phone")["error"], "invalid_scope");
    let narrowed = refresh(&w, &app, &token, "&scope=openid");
    assert_eq!(narrowed["scope"], "openid");
    let token = narrowed["refresh_token"].as_str().unwrap().to_owned();

    let path = format!("/admin/v1/users/{}/disable", w.user_id);
    assert_eq!(w.s.admin(Method::POST, &path, &w.admin, None, &[]).status(), 200);
    assert_eq!(refresh(&w, &app, &token, "")["error"], "invalid_grant");
}

#[test]
fn no_refresh_token_without_offline_access_or_when_the_app_turned_them_off() {
    let w = World::new();
    let app = w.web_app();
    assert!(w.tokens(&app, "openid")["refresh_token"].is_null());
    let off = w.app("no_refresh", "web", json!({ "refresh_tokens": false }));
    let tokens = w.tokens(&off, "openid offline_access");
    assert!(tokens["refresh_token"].is_null());
    assert_eq!(tokens["scope"], "openid");
}
