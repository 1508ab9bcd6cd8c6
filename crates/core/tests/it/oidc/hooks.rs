//! Lifecycle hooks: the management API, the six events on the hosted login and at
//! the token endpoint, their signatures and payloads, `on_failure`, and
//! notifications left for after the response.

use base64::Engine as _;
use gatehouse_core::fetch::{Post, PostError};
use gatehouse_core::hooks::{DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, verify};
use gatehouse_testkit::{Browser, body_json, pkce};
use http::Method;
use serde_json::{Value, json};

use super::{App, PASSWORD, World, is_login, text};

const HOOK_URL: &str = "https://hooks.example.test/in";

/// Creates a hook of `app`; answers its view with the secret.
fn hook(w: &World, app: &App, body: Value) -> Value {
    let path = format!("/admin/v1/apps/{}/hooks", app.client_id);
    let response = w.s.admin(Method::POST, &path, &w.admin, Some(body), &[]);
    assert_eq!(response.status(), 201, "{:?}", body_json(&response));
    body_json(&response)
}

/// The deliveries posted so far, as (event, body), after checking each one's
/// signature with `secret` and its headers.
fn deliveries(w: &World, secret: &str) -> Vec<(String, Value)> {
    let posts = w.s.engine.platform().fetch.posts();
    posts.iter().map(|post| checked(w, post, secret)).collect()
}

fn checked(w: &World, post: &Post, secret: &str) -> (String, Value) {
    let header =
        |name: &str| post.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).unwrap();
    let signature = header(SIGNATURE_HEADER);
    assert!(
        verify(secret.as_bytes(), &signature, &post.body, w.s.clock.now(), 300),
        "signature {signature} does not verify"
    );
    let body: Value = serde_json::from_slice(&post.body).unwrap();
    assert_eq!(body["id"], header(DELIVERY_HEADER));
    assert_eq!(body["event"], header(EVENT_HEADER));
    assert_eq!(body["created_at"], json!(w.s.clock.now()));
    (body["event"].as_str().unwrap().to_owned(), body)
}

fn events(list: &[(String, Value)]) -> Vec<&str> {
    list.iter().map(|(e, _)| e.as_str()).collect()
}

/// Posts the login form with `username` and `password` on a fresh login page.
fn try_login(w: &World, app: &App, username: &str, password: &str) -> http::Response<Vec<u8>> {
    let (_, challenge) = pkce(5);
    let browser = Browser::new();
    let page = browser.get(&w.s, &w.authorize_url(app, "openid", &challenge, ""));
    assert!(is_login(&page));
    browser.submit(&w.s, &page, &[("username", username), ("password", password)])
}

fn claims_of(id_token: &str) -> Value {
    let payload = id_token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap(),
    )
    .unwrap()
}

#[test]
fn hooks_are_managed_with_the_secret_shown_once() {
    let w = World::new();
    let app = w.web_app();
    let created = hook(&w, &app, json!({ "event": "login", "url": HOOK_URL }));
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.len() >= 43, "256 bits: {secret}");
    assert_eq!(created["on_failure"], "continue");
    assert_eq!(created["timeout_ms"], 2000);
    assert_eq!(created["enabled"], true);
    let id = created["id"].as_str().unwrap();
    let item = format!("/admin/v1/apps/{}/hooks/{id}", app.client_id);
    let listed = w.s.admin(
        Method::GET,
        &format!("/admin/v1/apps/{}/hooks", app.client_id),
        &w.admin,
        None,
        &[],
    );
    assert_eq!(listed.status(), 200);
    let listed = body_json(&listed);
    assert_eq!(listed["items"][0]["id"], id);
    assert!(!text_of(&listed).contains(&secret) && listed["items"][0].get("secret").is_none());
    assert!(!text_of(&listed).contains("secret_sealed"));
    let got = w.s.admin(Method::GET, &item, &w.admin, None, &[]);
    assert!(body_json(&got).get("secret").is_none());
    // The stored record holds the secret sealed, never in the clear.
    let stored = pollster::block_on(gatehouse_core::store::Directory::get(
        &w.s.engine.platform().directory,
        &format!("hooks/{}", app.client_id),
    ))
    .unwrap()
    .unwrap();
    assert!(!String::from_utf8_lossy(&stored).contains(&secret));

    let patched = w.s.admin(
        Method::PATCH,
        &item,
        &w.admin,
        Some(json!({ "timeout_ms": 500, "enabled": false })),
        &[],
    );
    assert_eq!(patched.status(), 200, "{:?}", body_json(&patched));
    assert_eq!(body_json(&patched)["timeout_ms"], 500);
    let rotated = w.s.admin(Method::POST, &format!("{item}/secret"), &w.admin, None, &[]);
    assert_eq!(rotated.status(), 200);
    let new_secret = body_json(&rotated)["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    assert_eq!(w.s.admin(Method::DELETE, &item, &w.admin, None, &[]).status(), 204);
    assert_eq!(w.s.admin(Method::GET, &item, &w.admin, None, &[]).status(), 404);
    let unknown = w.s.admin(Method::GET, "/admin/v1/apps/nope/hooks", &w.admin, None, &[]);
    assert_eq!(unknown.status(), 404);
}

fn text_of(value: &Value) -> String {
    value.to_string()
}

#[test]
fn bad_hooks_are_refused_naming_the_field() {
    let w = World::new();
    let app = w.web_app();
    let path = format!("/admin/v1/apps/{}/hooks", app.client_id);
    let refused = |body: Value, pointer: &str| {
        let response = w.s.admin(Method::POST, &path, &w.admin, Some(body.clone()), &[]);
        assert_eq!(response.status(), 400, "{body}");
        let problem = body_json(&response);
        assert!(
            problem["errors"].as_array().unwrap().iter().any(|e| e["pointer"] == pointer),
            "{body}: {problem}"
        );
    };
    refused(json!({ "event": "logout", "url": HOOK_URL }), "/event");
    refused(json!({ "event": "login", "url": "http://hooks.example.test/in" }), "/url");
    refused(json!({ "event": "login", "url": "https://127.0.0.1/in" }), "/url");
    refused(json!({ "event": "login", "url": "https://169.254.169.254/latest" }), "/url");
    refused(json!({ "event": "login", "url": HOOK_URL, "on_failure": "deny" }), "/on_failure");
    refused(json!({ "event": "login", "url": HOOK_URL, "timeout_ms": 60_000 }), "/timeout_ms");
    refused(
        json!({ "event": "before_id_token", "url": HOOK_URL, "allowed_claims": ["nonce"] }),
        "/allowed_claims/0",
    );
    refused(json!({ "event": "login" }), "/url");
    for _ in 0..10 {
        hook(&w, &app, json!({ "event": "identified", "url": HOOK_URL }));
    }
    let eleventh = w.s.admin(
        Method::POST,
        &path,
        &w.admin,
        Some(json!({ "event": "login", "url": HOOK_URL })),
        &[],
    );
    assert_eq!(eleventh.status(), 400);
    assert!(body_json(&eleventh).to_string().contains("at most 10 hooks"));
}

#[test]
fn a_sign_in_notifies_identified_and_login_signed_with_the_users_details() {
    let w = World::new();
    let app = w.web_app();
    let mut secrets = Vec::new();
    for event in ["identified", "login", "authentication_failed", "identification_failed"] {
        secrets.push(hook(&w, &app, json!({ "event": event, "url": HOOK_URL }))["secret"].clone());
    }
    let _ = w.tokens(&app, "openid");
    let posts = w.s.engine.platform().fetch.posts();
    assert_eq!(posts.len(), 2, "{posts:?}");
    let identified = checked(&w, &posts[0], secrets[0].as_str().unwrap());
    let login = checked(&w, &posts[1], secrets[1].as_str().unwrap());
    assert_eq!((identified.0.as_str(), login.0.as_str()), ("identified", "login"));
    let user = json!({ "id": w.user_id, "username": "ada", "email": "ada@example.com" });
    assert_eq!(login.1["user"], user);
    assert_eq!(login.1["app"], json!({ "client_id": app.client_id, "name": "web_app" }));
    assert_eq!(login.1["amr"], json!(["pwd"]));
    assert!(login.1["sid"].is_string());
    assert_ne!(identified.1["id"], login.1["id"], "each delivery has its own id");
    // Each hook signs with its own secret.
    assert!(!verify(
        secrets[0].as_str().unwrap().as_bytes(),
        &posts[1].headers[0].1,
        &posts[1].body,
        w.s.clock.now(),
        300
    ));
}

#[test]
fn failed_sign_ins_notify_with_the_identifier_or_the_user_and_a_reason() {
    let w = World::new();
    let app = w.web_app();
    let secret =
        hook(&w, &app, json!({ "event": "identification_failed", "url": HOOK_URL }))["secret"]
            .as_str()
            .unwrap()
            .to_owned();
    let failed =
        hook(&w, &app, json!({ "event": "authentication_failed", "url": HOOK_URL }))["secret"]
            .as_str()
            .unwrap()
            .to_owned();
    let refused = try_login(&w, &app, "nobody", "whatever");
    assert_eq!(refused.status(), 401);
    let posts = w.s.engine.platform().fetch.posts();
    assert_eq!(posts.len(), 1);
    let (event, body) = checked(&w, &posts[0], &secret);
    assert_eq!(event, "identification_failed");
    assert_eq!(body["identifier"], "nobody");
    assert!(body.get("user").is_none());

    w.s.engine.platform().fetch.clear_posts();
    let refused = try_login(&w, &app, "ada", "wrong password");
    assert_eq!(refused.status(), 401);
    let posts = w.s.engine.platform().fetch.posts();
    assert_eq!(posts.len(), 1);
    let (event, body) = checked(&w, &posts[0], &failed);
    assert_eq!(event, "authentication_failed");
    assert_eq!(body["user"]["id"], json!(w.user_id));
    assert_eq!(body["reason"], "wrong_password");
}

#[test]
fn notifications_are_sent_after_the_response_and_a_failure_is_logged_not_retried() {
    let w = World::new();
    let app = w.web_app();
    let secret = hook(&w, &app, json!({ "event": "login", "url": HOOK_URL }))["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    w.s.engine.platform().fetch.fail_posts(HOOK_URL, PostError::TimedOut);
    w.s.hold_notifications();
    let (_, challenge) = pkce(5);
    let redirect = w.sign_in(&Browser::new(), &w.authorize_url(&app, "openid", &challenge, ""));
    assert_eq!(redirect.status(), 303, "the sign-in answered");
    assert!(w.s.engine.platform().fetch.posts().is_empty(), "nothing sent inside the request");
    assert_eq!(w.s.release_notifications(), 1);
    assert_eq!(events(&deliveries(&w, &secret)), ["login"], "sent once, never retried");
    let logged = w.s.take_diagnostics();
    assert!(
        logged
            .iter()
            .any(|l| l.contains("(login) to https://hooks.example.test failed: timed out")),
        "{logged:?}"
    );
}

#[test]
fn before_password_validation_can_refuse_with_the_generic_error() {
    let w = World::new();
    let app = w.web_app();
    let secret = hook(&w, &app, json!({ "event": "before_password_validation", "url": HOOK_URL }))
        ["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let wrong = text(&try_login(&w, &app, "ada", "wrong password"));
    w.s.engine.platform().fetch.clear_posts();
    w.s.engine.platform().fetch.answer_posts(
        HOOK_URL,
        200,
        &json!({ "allow": false, "reason": "geo" }),
    );
    let refused = try_login(&w, &app, "ada", PASSWORD);
    assert_eq!(refused.status(), 401);
    assert!(is_login(&refused));
    let alert = |html: &str| html.split("role=\"alert\"").nth(1).map(|s| s[..80].to_owned());
    assert_eq!(alert(&text(&refused)), alert(&wrong), "the same message as a wrong password");
    let asked = deliveries(&w, &secret);
    assert_eq!(events(&asked), ["before_password_validation"]);
    assert_eq!(asked[0].1["user"]["username"], "ada");
    let logged = w.s.take_diagnostics();
    assert!(
        logged.iter().any(|l| l.contains("refused the sign-in") && l.contains("geo")),
        "{logged:?}"
    );

    w.s.engine.platform().fetch.answer_posts(HOOK_URL, 200, &json!({ "allow": true }));
    let (_, challenge) = pkce(5);
    assert_eq!(
        w.sign_in(&Browser::new(), &w.authorize_url(&app, "openid", &challenge, "")).status(),
        303
    );
}

#[test]
fn a_failing_blocking_hook_follows_on_failure() {
    let w = World::new();
    let app = w.web_app();
    let created = hook(&w, &app, json!({ "event": "before_password_validation", "url": HOOK_URL }));
    assert_eq!(created["on_failure"], "deny", "blocking hooks deny by default");
    for failure in [Err(PostError::TimedOut), Err(PostError::Failed), Ok(500), Ok(200)] {
        match failure {
            Err(error) => w.s.engine.platform().fetch.fail_posts(HOOK_URL, error),
            // 200 with an answer that is not `{ "allow": bool }`.
            Ok(status) => {
                w.s.engine.platform().fetch.answer_posts(HOOK_URL, status, &json!({ "ok": 1 }))
            }
        }
        let refused = try_login(&w, &app, "ada", PASSWORD);
        assert_eq!(refused.status(), 401, "{failure:?}");
        let logged = w.s.take_diagnostics();
        assert!(
            logged.iter().any(|l| l.contains("failed") && l.contains("denied (on_failure: deny)")),
            "{logged:?}"
        );
    }
    let item =
        format!("/admin/v1/apps/{}/hooks/{}", app.client_id, created["id"].as_str().unwrap());
    let patched =
        w.s.admin(Method::PATCH, &item, &w.admin, Some(json!({ "on_failure": "continue" })), &[]);
    assert_eq!(patched.status(), 200);
    w.s.engine.platform().fetch.fail_posts(HOOK_URL, PostError::TimedOut);
    let (_, challenge) = pkce(5);
    assert_eq!(
        w.sign_in(&Browser::new(), &w.authorize_url(&app, "openid", &challenge, "")).status(),
        303
    );
    assert!(w.s.take_diagnostics().iter().any(|l| l.contains("timed out; continuing")));
    // A disabled hook is not asked at all.
    let off = w.s.admin(
        Method::PATCH,
        &item,
        &w.admin,
        Some(json!({ "enabled": false, "on_failure": "deny" })),
        &[],
    );
    assert_eq!(off.status(), 200);
    w.s.engine.platform().fetch.clear_posts();
    let _ = w.tokens(&app, "openid");
    assert!(w.s.engine.platform().fetch.posts().is_empty());
}

#[test]
fn before_id_token_adds_allowed_claims_and_never_protected_ones() {
    let w = World::new();
    let app = w.web_app();
    let secret = hook(&w, &app, json!({ "event": "before_id_token", "url": HOOK_URL }))["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    w.s.engine.platform().fetch.answer_posts(
        HOOK_URL,
        200,
        &json!({ "claims": { "tier": "gold", "sub": "mallory", "nonce": "x", "email": "m@example.com" } }),
    );
    let tokens = w.tokens(&app, "openid email");
    let claims = claims_of(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["tier"], "gold");
    assert_eq!(claims["sub"], json!(w.user_id));
    assert_eq!(claims["nonce"], "n0nce");
    assert_eq!(claims["email"], "ada@example.com", "claims the issuer set stay");
    // The ID token still verifies with its at_hash and nonce.
    let _ = w.id_token(
        &app,
        tokens["id_token"].as_str().unwrap(),
        tokens["access_token"].as_str().unwrap(),
    );
    let asked = deliveries(&w, &secret);
    let (event, body) = asked.last().unwrap();
    assert_eq!(event, "before_id_token");
    assert_eq!(body["scope"], "email openid", "the granted scope");
    assert_eq!(body["claims"]["sub"], json!(w.user_id));
    assert!(body.get("ip").is_none(), "the token endpoint's caller is the app, not the user");
    let logged = w.s.take_diagnostics();
    assert!(
        logged.iter().any(|l| l.contains("claims left out") && l.contains("sub:")),
        "{logged:?}"
    );
}

#[test]
fn before_id_token_allow_list_and_failure_at_the_token_endpoint() {
    let w = World::new();
    let app = w.web_app();
    let created = hook(
        &w,
        &app,
        json!({ "event": "before_id_token", "url": HOOK_URL, "allowed_claims": ["tier"] }),
    );
    assert_eq!(created["allowed_claims"], json!(["tier"]));
    w.s.engine.platform().fetch.answer_posts(
        HOOK_URL,
        200,
        &json!({ "claims": { "tier": "gold", "plan": "x" } }),
    );
    let claims = claims_of(w.tokens(&app, "openid")["id_token"].as_str().unwrap());
    assert_eq!(claims["tier"], "gold");
    assert!(claims.get("plan").is_none());

    // Deny: the code redeems to invalid_grant, with nothing of why on the wire.
    w.s.engine.platform().fetch.fail_posts(HOOK_URL, PostError::TimedOut);
    let (verifier, challenge) = pkce(9);
    let redirect = w.sign_in(&Browser::new(), &w.authorize_url(&app, "openid", &challenge, ""));
    let response = w.redeem(&app, &w.code_of(&redirect), &verifier);
    assert_eq!(response.status(), 400);
    let body = body_json(&response);
    assert_eq!(body["error"], "invalid_grant");
    assert!(!body.to_string().contains("hook") && !body.to_string().contains("timed"));
    assert!(
        w.s.take_diagnostics()
            .iter()
            .any(|l| l.contains("before_id_token hook") && l.contains("timed out"))
    );

    // Continue: the ID token comes without the hook's claims.
    let item =
        format!("/admin/v1/apps/{}/hooks/{}", app.client_id, created["id"].as_str().unwrap());
    let patched =
        w.s.admin(Method::PATCH, &item, &w.admin, Some(json!({ "on_failure": "continue" })), &[]);
    assert_eq!(patched.status(), 200);
    let claims = claims_of(w.tokens(&app, "openid")["id_token"].as_str().unwrap());
    assert!(claims.get("tier").is_none());
}

#[test]
fn deleting_the_app_deletes_its_hooks() {
    let w = World::new();
    let app = w.web_app();
    hook(&w, &app, json!({ "event": "login", "url": HOOK_URL }));
    let path = format!("/admin/v1/apps/{}", app.client_id);
    assert_eq!(w.s.admin(Method::DELETE, &path, &w.admin, None, &[]).status(), 204);
    let stored = pollster::block_on(gatehouse_core::store::Directory::get(
        &w.s.engine.platform().directory,
        &format!("hooks/{}", app.client_id),
    ))
    .unwrap();
    assert!(stored.is_none());
}
