//! Consent policies: an app's versioned text, accepted once per version on the
//! hosted pages before any code; a new version asks again; decline, `prompt=none`,
//! device approval; the acceptances on the user in the management API and their
//! withdrawal; the field's validation.

use gatehouse_testkit::{Browser, body_json, encode, pkce, redirect_params};
use http::Method;
use serde_json::{Value, json};

use super::{App, PASSWORD, World, is_consent, is_login, text};

const TERMS: &str = "# Terms\n\nBe *nice*. <script>alert(1)</script>";

/// Whether a response is the consent policy page, showing `version`.
fn is_policy(response: &http::Response<Vec<u8>>, version: u64) -> bool {
    let html = text(response);
    response.status() == 200
        && html.contains("<h1>Terms of use</h1>")
        && html.contains(&format!("Version {version}<"))
        && html.contains(&format!("name=\"version\" value=\"{version}\""))
        && html.contains("name=\"decision\" value=\"accept\"")
}

fn policy(text: &str) -> Value {
    json!({ "consent_policy": { "title": "Terms of use", "text": text } })
}

/// A first-party web app (no scope consent) with a policy.
fn app_with_policy(w: &World) -> App {
    w.app(
        "shop",
        "web",
        json!({ "first_party": true, "consent_policy": policy(TERMS)["consent_policy"] }),
    )
}

fn patch_app(w: &World, app: &App, body: Value) -> http::Response<Vec<u8>> {
    w.s.admin(
        Method::PATCH,
        &format!("/admin/v1/apps/{}", app.client_id),
        &w.admin,
        Some(body),
        &[],
    )
}

fn accepted(w: &World) -> Value {
    let path = format!("/admin/v1/users/{}", w.user_id);
    let response = w.s.admin(Method::GET, &path, &w.admin, None, &[]);
    assert_eq!(response.status(), 200, "{}", text(&response));
    body_json(&response)["consent_policies"].clone()
}

/// Starts a sign-in of ada to `app` in `browser`: the first page after the login form.
fn sign_in(w: &World, browser: &Browser, app: &App, extra: &str) -> http::Response<Vec<u8>> {
    let (_, challenge) = pkce(4);
    let login = browser.get(&w.s, &w.authorize_url(app, "openid", &challenge, extra));
    assert!(is_login(&login), "{}", text(&login));
    browser.submit(&w.s, &login, &[("username", "ada"), ("password", PASSWORD)])
}

/// A request answered from the browser's session.
fn again(w: &World, browser: &Browser, app: &App, extra: &str) -> http::Response<Vec<u8>> {
    let (_, challenge) = pkce(5);
    browser.get(&w.s, &w.authorize_url(app, "openid", &challenge, extra))
}

#[test]
fn a_policy_is_asked_once_per_version_even_of_a_first_party_app() {
    let w = World::new();
    let app = app_with_policy(&w);
    let browser = Browser::new();
    let page = sign_in(&w, &browser, &app, "");
    assert!(is_policy(&page, 1), "{}", text(&page));
    // The Markdown is rendered, its raw HTML shown as text.
    let html = text(&page);
    assert!(html.contains("<h2>Terms</h2>") && html.contains("<em>nice</em>"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !html.contains("<script>"));
    assert!(html.contains("Signed in as ada@example.com"), "{html}");

    w.s.clock.advance(7);
    let accepted_at = w.s.clock.now().as_secs();
    let done = browser.submit(&w.s, &page, &[("decision", "accept")]);
    assert_eq!(done.status(), 303, "{}", text(&done));
    w.code_of(&done);
    assert_eq!(
        accepted(&w),
        json!([{ "client_id": app.client_id, "version": 1, "accepted_at": accepted_at }])
    );

    // The same version never asks twice: from the session, and after a new sign-in.
    let sso = again(&w, &browser, &app, "");
    assert_eq!(sso.status(), 303, "{}", text(&sso));
    w.code_of(&sso);
    let fresh = Browser::new();
    w.code_of(&sign_in(&w, &fresh, &app, ""));

    // Writing the same words keeps the version; new words are version 2, asked again.
    let same = patch_app(&w, &app, policy(TERMS));
    assert_eq!(body_json(&same)["consent_policy"]["version"], 1, "{}", text(&same));
    w.code_of(&again(&w, &browser, &app, ""));
    let changed = patch_app(&w, &app, json!({ "consent_policy": { "text": "# Terms\n\nNew." } }));
    assert_eq!(changed.status(), 200, "{}", text(&changed));
    assert_eq!(body_json(&changed)["consent_policy"]["title"], "Terms of use");
    assert_eq!(body_json(&changed)["consent_policy"]["version"], 2);
    let asked = again(&w, &browser, &app, "");
    assert!(is_policy(&asked, 2), "{}", text(&asked));
    assert!(text(&asked).contains("New."));
    w.code_of(&browser.submit(&w.s, &asked, &[("decision", "accept")]));
    assert_eq!(accepted(&w)[0]["version"], 2);
}

#[test]
fn a_third_party_app_asks_the_policy_then_the_scopes() {
    let w = World::new();
    let app = w.app("partner", "web", policy(TERMS));
    let browser = Browser::new();
    let page = sign_in(&w, &browser, &app, "");
    assert!(is_policy(&page, 1), "{}", text(&page));
    let consent = browser.submit(&w.s, &page, &[("decision", "accept")]);
    assert!(is_consent(&consent), "{}", text(&consent));
    w.code_of(&browser.submit(&w.s, &consent, &[("decision", "allow")]));
    // Both remembered: the next request is answered at once.
    w.code_of(&again(&w, &browser, &app, ""));
}

#[test]
fn declining_answers_access_denied_and_records_nothing() {
    let w = World::new();
    let app = app_with_policy(&w);
    let browser = Browser::new();
    let page = sign_in(&w, &browser, &app, "");
    let declined = browser.submit(&w.s, &page, &[("decision", "decline")]);
    assert_eq!(declined.status(), 303, "{}", text(&declined));
    let params = redirect_params(&declined);
    assert_eq!(params["error"], "access_denied", "{params:?}");
    assert_eq!(params["state"], "st4te");
    assert_eq!(params["iss"], super::ISSUER);
    assert!(!params.contains_key("code"));
    assert_eq!(accepted(&w), json!([]));
    // Asked again next time.
    assert!(is_policy(&again(&w, &browser, &app, ""), 1));
    // Anything else is refused on the page.
    let odd = browser.submit(&w.s, &page, &[("decision", "maybe")]);
    assert_eq!(odd.status(), 400, "{}", text(&odd));
}

#[test]
fn prompt_none_answers_consent_required_until_the_policy_is_accepted() {
    let w = World::new();
    let plain = w.app("plain", "web", json!({ "first_party": true }));
    let app = app_with_policy(&w);
    let browser = Browser::new();
    // Signed in through an app without a policy: a session, and nothing accepted.
    w.code_of(&sign_in(&w, &browser, &plain, ""));
    let silent = again(&w, &browser, &app, "&prompt=none");
    assert_eq!(silent.status(), 303, "{}", text(&silent));
    let params = redirect_params(&silent);
    assert_eq!(params["error"], "consent_required", "{params:?}");
    assert_eq!(params["state"], "st4te");
    assert_eq!(params["iss"], super::ISSUER);
    // From the session, the page asks; accepted, prompt=none gets a code.
    let page = again(&w, &browser, &app, "");
    assert!(is_policy(&page, 1), "{}", text(&page));
    w.code_of(&browser.submit(&w.s, &page, &[("decision", "accept")]));
    w.code_of(&again(&w, &browser, &app, "&prompt=none"));
}

#[test]
fn an_admin_withdrawal_asks_again() {
    let w = World::new();
    let app = app_with_policy(&w);
    let browser = Browser::new();
    let page = sign_in(&w, &browser, &app, "");
    w.code_of(&browser.submit(&w.s, &page, &[("decision", "accept")]));
    let path = format!("/admin/v1/users/{}/consent-policies/{}", w.user_id, app.client_id);
    let withdrawn = w.s.admin(Method::DELETE, &path, &w.admin, None, &[]);
    assert_eq!(withdrawn.status(), 204, "{}", text(&withdrawn));
    assert_eq!(accepted(&w), json!([]));
    assert!(is_policy(&again(&w, &browser, &app, ""), 1));
    // Withdrawing again changes nothing; an unknown user or app is 404.
    let twice = w.s.admin(Method::DELETE, &path, &w.admin, None, &[]);
    assert_eq!(twice.status(), 204, "{}", text(&twice));
    let nobody = format!("/admin/v1/users/nobody/consent-policies/{}", app.client_id);
    let unknown = w.s.admin(Method::DELETE, &nobody, &w.admin, None, &[]);
    assert_eq!(unknown.status(), 404);
    assert_eq!(body_json(&unknown)["type"], "urn:gatehouse:problem:not_found");
    let no_app = format!("/admin/v1/users/{}/consent-policies/no-such-app", w.user_id);
    assert_eq!(w.s.admin(Method::DELETE, &no_app, &w.admin, None, &[]).status(), 404);
    // A read-only token may not withdraw.
    let reader = w.s.bearer(Some("gatehouse:users_read"));
    assert_eq!(w.s.admin(Method::DELETE, &path, &reader, None, &[]).status(), 403);
}

#[test]
fn a_deleted_app_drops_out_of_the_list_and_a_removed_policy_stops_asking() {
    let w = World::new();
    let app = app_with_policy(&w);
    let other = w.app(
        "other",
        "web",
        json!({ "first_party": true, "consent_policy": policy("Other.")["consent_policy"] }),
    );
    let browser = Browser::new();
    let page = sign_in(&w, &browser, &app, "");
    w.code_of(&browser.submit(&w.s, &page, &[("decision", "accept")]));
    let page = again(&w, &browser, &other, "");
    w.code_of(&browser.submit(&w.s, &page, &[("decision", "accept")]));
    assert_eq!(accepted(&w).as_array().map(Vec::len), Some(2));

    let path = format!("/admin/v1/apps/{}", other.client_id);
    let etag = w.s.admin(Method::GET, &path, &w.admin, None, &[]).headers()["etag"].clone();
    let etag = etag.to_str().unwrap().to_owned();
    let deleted = w.s.admin(Method::DELETE, &path, &w.admin, None, &[("if-match", &etag)]);
    assert_eq!(deleted.status(), 204, "{}", text(&deleted));
    assert_eq!(
        accepted(&w),
        json!([{ "client_id": app.client_id, "version": 1, "accepted_at": accepted(&w)[0]["accepted_at"] }])
    );

    // Removed (null): no page. Set again: numbering goes on, so it asks again.
    let removed = patch_app(&w, &app, json!({ "consent_policy": null }));
    assert!(body_json(&removed).get("consent_policy").is_none(), "{}", text(&removed));
    w.code_of(&again(&w, &browser, &app, ""));
    let back = patch_app(&w, &app, policy(TERMS));
    assert_eq!(body_json(&back)["consent_policy"]["version"], 2, "{}", text(&back));
    assert!(is_policy(&again(&w, &browser, &app, ""), 2));
}

#[test]
fn a_policy_changed_while_shown_is_shown_again_and_not_recorded() {
    let w = World::new();
    let app = app_with_policy(&w);
    let browser = Browser::new();
    let page = sign_in(&w, &browser, &app, "");
    assert!(is_policy(&page, 1));
    patch_app(&w, &app, policy("Changed."));
    let shown = browser.submit(&w.s, &page, &[("decision", "accept")]);
    assert!(is_policy(&shown, 2), "{}", text(&shown));
    assert_eq!(accepted(&w), json!([]));
    w.code_of(&browser.submit(&w.s, &shown, &[("decision", "accept")]));
}

#[test]
fn an_app_without_a_policy_is_unchanged() {
    let w = World::new();
    let app = w.app("plain", "web", json!({ "first_party": true }));
    let created =
        w.s.admin(Method::GET, &format!("/admin/v1/apps/{}", app.client_id), &w.admin, None, &[]);
    assert!(body_json(&created).get("consent_policy").is_none());
    assert!(body_json(&created).get("consent_policy_versions").is_none());
    let browser = Browser::new();
    w.code_of(&sign_in(&w, &browser, &app, ""));
    assert_eq!(accepted(&w), json!([]));
}

#[test]
fn a_device_approval_asks_the_policy_too() {
    let w = World::new();
    let app = w.app(
        "tv_app",
        "device",
        json!({
            "redirect_uris": [],
            "post_logout_redirect_uris": [],
            "consent_policy": policy(TERMS)["consent_policy"],
        }),
    );
    let device = |scope: &str| {
        let response = w.s.post_form(
            "/device_authorization",
            &format!("client_id={}&scope={}", app.client_id, encode(scope)),
            None,
        );
        body_json(&response)
    };
    let poll = |device_code: &str| {
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
    };
    // Declined: the device is denied.
    let started = device("openid");
    let browser = Browser::new();
    let entry = browser.get(&w.s, "/device");
    let login =
        browser.submit(&w.s, &entry, &[("user_code", started["user_code"].as_str().unwrap())]);
    let page = browser.submit(&w.s, &login, &[("username", "ada"), ("password", PASSWORD)]);
    assert!(is_policy(&page, 1), "{}", text(&page));
    let done = browser.submit(&w.s, &page, &[("decision", "decline")]);
    assert_eq!(done.status(), 200, "{}", text(&done));
    assert_eq!(poll(started["device_code"].as_str().unwrap())["error"], "access_denied");

    // Accepted: on to scope consent, and tokens.
    let started = device("openid");
    let entry = browser.get(&w.s, "/device");
    let page =
        browser.submit(&w.s, &entry, &[("user_code", started["user_code"].as_str().unwrap())]);
    assert!(is_policy(&page, 1), "{}", text(&page));
    let consent = browser.submit(&w.s, &page, &[("decision", "accept")]);
    assert!(is_consent(&consent), "{}", text(&consent));
    let done = browser.submit(&w.s, &consent, &[("decision", "allow")]);
    assert_eq!(done.status(), 200, "{}", text(&done));
    assert!(poll(started["device_code"].as_str().unwrap())["access_token"].is_string());
    assert_eq!(accepted(&w)[0]["client_id"], app.client_id.as_str());
}

#[test]
fn the_management_api_validates_and_numbers_policies() {
    let w = World::new();
    let create = |body: Value| w.s.admin(Method::POST, "/admin/v1/apps", &w.admin, Some(body), &[]);
    let pointers = |response: &http::Response<Vec<u8>>| -> Vec<String> {
        body_json(response)["errors"]
            .as_array()
            .map(|errors| {
                errors.iter().map(|e| e["pointer"].as_str().unwrap().to_owned()).collect()
            })
            .unwrap_or_default()
    };
    let base = |policy: Value| json!({ "client_name": "shop", "type": "web", "redirect_uris": [super::CALLBACK], "consent_policy": policy });
    let empty = create(base(json!({ "title": "Terms", "text": " " })));
    assert_eq!(empty.status(), 400);
    assert_eq!(body_json(&empty)["type"], "urn:gatehouse:problem:validation");
    assert_eq!(pointers(&empty), ["/consent_policy/text"]);
    let long = create(base(json!({ "title": "x".repeat(121), "text": "x".repeat(20_001) })));
    assert_eq!(pointers(&long), ["/consent_policy/title", "/consent_policy/text"]);
    let versioned = create(base(json!({ "title": "T", "text": "x", "version": 7 })));
    assert_eq!(pointers(&versioned), ["/consent_policy/version"]);
    let wrong = create(base(json!("terms")));
    assert_eq!(pointers(&wrong), ["/consent_policy"]);
    let s2s = create(
        json!({ "client_name": "job", "type": "s2s", "consent_policy": { "title": "T", "text": "x" } }),
    );
    assert_eq!(pointers(&s2s), ["/consent_policy"]);
    let hidden = create(
        json!({ "client_name": "job2", "type": "web", "redirect_uris": [super::CALLBACK], "consent_policy_versions": 5 }),
    );
    assert_eq!(pointers(&hidden), ["/consent_policy_versions"]);

    w.s.clock.advance(3);
    let created = create(base(json!({ "title": "Terms", "text": "x" })));
    assert_eq!(created.status(), 201, "{}", text(&created));
    let shown = &body_json(&created)["consent_policy"];
    assert_eq!(
        shown,
        &json!({ "title": "Terms", "text": "x", "version": 1, "updated_at": w.s.clock.now().as_secs() })
    );
    // The view sent back as is (PUT) keeps the version.
    let client_id = body_json(&created)["client_id"].as_str().unwrap().to_owned();
    let path = format!("/admin/v1/apps/{client_id}");
    let current = w.s.admin(Method::GET, &path, &w.admin, None, &[]);
    let etag = current.headers()["etag"].to_str().unwrap().to_owned();
    let put =
        w.s.admin(Method::PUT, &path, &w.admin, Some(body_json(&current)), &[("if-match", &etag)]);
    assert_eq!(put.status(), 200, "{}", text(&put));
    assert_eq!(body_json(&put)["consent_policy"]["version"], 1);
}
