use gatehouse_testkit::{Browser, encode, pkce};
use http::header;

use super::{World, is_login, text};

#[test]
fn logout_with_a_hint_ends_the_session_and_returns_with_state() {
    let w = World::new();
    let app = w.web_app();
    let (verifier, challenge) = pkce(5);
    let browser = Browser::new();
    let redirect = w.sign_in(&browser, &w.authorize_url(&app, "openid", &challenge, ""));
    let code = w.code_of(&redirect);
    let id_token = gatehouse_testkit::body_json(&w.redeem(&app, &code, &verifier))["id_token"]
        .as_str()
        .unwrap()
        .to_owned();

    // Days later, with an expired hint.
    w.s.clock.advance(2 * 86_400);
    let url = format!(
        "/logout?id_token_hint={id_token}&post_logout_redirect_uri={}&state=bye",
        encode("https://app.example.test/bye")
    );
    let bad = browser.get(&w.s, &url.replace("bye&", "elsewhere&"));
    assert_eq!(bad.status(), 400);
    let out = browser.get(&w.s, &url);
    assert_eq!(out.status(), 303, "{}", text(&out));
    assert_eq!(out.headers()[header::LOCATION], "https://app.example.test/bye?state=bye");
    assert!(!browser.has_cookie("session"));
    assert!(is_login(&browser.get(&w.s, &w.authorize_url(&app, "openid", &challenge, ""))));
}

#[test]
fn logout_without_a_hint_asks_first() {
    let w = World::new();
    let app = w.web_app();
    let (_, challenge) = pkce(5);
    let browser = Browser::new();
    w.sign_in(&browser, &w.authorize_url(&app, "openid", &challenge, ""));
    let confirm = browser.get(&w.s, "/logout");
    assert_eq!(confirm.status(), 200);
    // Still signed in until confirmed.
    assert_eq!(browser.get(&w.s, &w.authorize_url(&app, "openid", &challenge, "")).status(), 303);
    let forged = Browser::new().submit(&w.s, &confirm, &[("decision", "logout")]);
    assert_eq!(forged.status(), 403);
    let done = browser.submit(&w.s, &confirm, &[("decision", "logout")]);
    assert_eq!(done.status(), 200);
    assert!(is_login(&browser.get(&w.s, &w.authorize_url(&app, "openid", &challenge, ""))));
}

#[test]
fn logout_ends_the_refresh_tokens_of_apps_that_asked_and_only_those() {
    let w = World::new();
    let bound = w.app(
        "bound_app",
        "web",
        serde_json::json!({ "refresh_tokens": true, "refresh_tokens_end_with_session": true, "first_party": true }),
    );
    let free = w.app(
        "free_app",
        "web",
        serde_json::json!({ "refresh_tokens": true, "first_party": true }),
    );
    let browser = Browser::new();
    let mut refresh = Vec::new();
    for app in [&bound, &free] {
        let (verifier, challenge) = pkce(8);
        let url = w.authorize_url(app, "openid offline_access", &challenge, "");
        // The first signs in; the second rides the session.
        let redirect =
            if refresh.is_empty() { w.sign_in(&browser, &url) } else { browser.get(&w.s, &url) };
        let code = w.code_of(&redirect);
        let body = gatehouse_testkit::body_json(&w.redeem(app, &code, &verifier));
        refresh.push(body["refresh_token"].as_str().unwrap().to_owned());
    }
    let use_refresh = |app: &super::App, token: &str| {
        gatehouse_testkit::body_json(
            &w.post_token(app, &format!("grant_type=refresh_token&refresh_token={token}")),
        )
    };
    let next = use_refresh(&bound, &refresh[0]);
    let bound_token = next["refresh_token"].as_str().unwrap().to_owned();

    let confirm = browser.get(&w.s, "/logout");
    assert_eq!(browser.submit(&w.s, &confirm, &[("decision", "logout")]).status(), 200);
    assert_eq!(use_refresh(&bound, &bound_token)["error"], "invalid_grant");
    assert!(use_refresh(&free, &refresh[1])["refresh_token"].is_string());
}
