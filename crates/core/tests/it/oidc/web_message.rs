//! `response_mode=web_message` (draft-sakimura-oauth-wmrm): silent login in a hidden
//! iframe, answered by a page that posts the response to the app's web origin.

use base64::Engine as _;
use gatehouse_testkit::{Browser, body_json, encode, pkce};
use http::header;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{App, CALLBACK, ISSUER, World, is_login, text};

/// The origin of [`CALLBACK`].
const WEB_ORIGIN: &str = "https://app.example.test";
const DATA_OPEN: &str = "<script type=\"application/json\" id=\"response\">";

/// A single-page app allowed to log in silently from [`WEB_ORIGIN`].
fn spa(w: &World, name: &str, extra: Value) -> App {
    let mut body = json!({ "web_origins": [WEB_ORIGIN] });
    if let (Value::Object(body), Value::Object(extra)) = (&mut body, extra) {
        body.extend(extra);
    }
    w.app(name, "spa", body)
}

/// The part of `text` between `start` and the next `end`.
fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text.find(start).unwrap_or_else(|| panic!("no {start} in {text}")) + start.len();
    let to = from + text[from..].find(end).unwrap();
    &text[from..to]
}

/// Checks that `response` is a web_message page framed by [`WEB_ORIGIN`] alone,
/// whose one script is allowed by its hash and sets no cookie, and returns what it
/// posts: the `response` object of its data block (which names the origin).
fn posted(response: &http::Response<Vec<u8>>) -> Value {
    assert_eq!(response.status(), 200, "{}", text(response));
    let headers = response.headers();
    assert!(headers.get(header::LOCATION).is_none());
    assert!(headers.get(header::SET_COOKIE).is_none(), "{headers:?}");
    assert!(headers.get(header::X_FRAME_OPTIONS).is_none());
    assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(headers[header::REFERRER_POLICY], "no-referrer");
    let html = text(response);
    assert_eq!(html.matches("<script").count(), 2, "{html}");
    let script = between(&html, "<script>", "</script>");
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(script));
    assert_eq!(
        headers[header::CONTENT_SECURITY_POLICY],
        format!("default-src 'none'; script-src 'sha256-{hash}'; frame-ancestors {WEB_ORIGIN}")
            .as_str()
    );
    assert!(
        script.contains(
            "target.postMessage({ type: \"authorization_response\", response: data.response }, data.origin)"
        ),
        "{script}"
    );
    assert!(script.contains("window.parent !== window ? window.parent : window.opener"));
    let data: Value = serde_json::from_str(between(&html, DATA_OPEN, "</script>")).unwrap();
    assert_eq!(data["origin"], WEB_ORIGIN, "{data}");
    data["response"].clone()
}

/// Checks that `response` is the issuer's error page for `invalid_request` saying
/// `words`: no redirect, no message, and a page that refuses to be framed.
fn refused(response: &http::Response<Vec<u8>>, words: &str) {
    assert_eq!(response.status(), 400, "{}", text(response));
    assert!(response.headers().get(header::LOCATION).is_none());
    let html = text(response);
    assert!(html.contains("<code>invalid_request</code>"), "{html}");
    assert!(html.contains(words), "{html}");
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("postMessage"), "{html}");
    let csp = response.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
}

#[test]
fn web_message_posts_the_code_state_and_iss_to_the_web_origin() {
    let w = World::new();
    let app = spa(&w, "silent_spa", json!({ "first_party": true }));
    let (verifier, challenge) = pkce(11);
    let browser = Browser::new();
    w.sign_in(&browser, &w.authorize_url(&app, "openid", &challenge, ""));

    let silent = browser.get(
        &w.s,
        &w.authorize_url(&app, "openid", &challenge, "&prompt=none&response_mode=web_message"),
    );
    let response = posted(&silent);
    let object = response.as_object().unwrap();
    let mut names: Vec<&str> = object.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["code", "iss", "state"], "{response}");
    assert_eq!(response["state"], "st4te");
    assert_eq!(response["iss"], ISSUER);
    let code = response["code"].as_str().unwrap();

    let redeemed = w.redeem(&app, code, &verifier);
    assert_eq!(redeemed.status(), 200, "{:?}", body_json(&redeemed));
    assert!(browser.has_cookie("session"), "the silent answer kept the session");
}

#[test]
fn web_message_answers_login_required_without_a_session() {
    let w = World::new();
    let app = spa(&w, "silent_spa", json!({ "first_party": true }));
    let (_, challenge) = pkce(12);
    let browser = Browser::new();
    let url = w.authorize_url(&app, "openid", &challenge, "&prompt=none&response_mode=web_message");
    let response = posted(&browser.get(&w.s, &url));
    assert_eq!(response["error"], "login_required", "{response}");
    assert_eq!(response["state"], "st4te");
    assert_eq!(response["iss"], ISSUER);
    assert!(response.get("code").is_none());
    assert!(!browser.has_cookie("csrf") && !browser.has_cookie("session"));
}

#[test]
fn web_message_answers_consent_required_and_request_errors_on_its_page() {
    let w = World::new();
    let app = spa(&w, "third_party_spa", json!({}));
    let (_, challenge) = pkce(13);
    let browser = Browser::new();
    w.sign_in(&browser, &w.authorize_url(&app, "openid", &challenge, ""));
    let silent = "&prompt=none&response_mode=web_message";

    let more =
        posted(&browser.get(&w.s, &w.authorize_url(&app, "openid phone", &challenge, silent)));
    assert_eq!(more["error"], "consent_required", "{more}");
    assert_eq!(more["state"], "st4te");
    assert_eq!(more["iss"], ISSUER);

    let bad_scope = posted(
        &browser.get(&w.s, &w.authorize_url(&app, "openid secret:read", &challenge, silent)),
    );
    assert_eq!(bad_scope["error"], "invalid_scope", "{bad_scope}");
    assert_eq!(bad_scope["state"], "st4te");

    let no_pkce = format!(
        "/authorize?response_type=code&client_id={}&redirect_uri={}&scope=openid&state=st4te{silent}",
        encode(&app.client_id),
        encode(CALLBACK)
    );
    let no_pkce = posted(&browser.get(&w.s, &no_pkce));
    assert_eq!(no_pkce["error"], "invalid_request", "{no_pkce}");
    assert!(no_pkce["error_description"].as_str().unwrap().contains("code_challenge"));
    assert!(browser.has_cookie("session"));
}

#[test]
fn web_message_without_prompt_none_is_an_error_page() {
    let w = World::new();
    let app = spa(&w, "silent_spa", json!({ "first_party": true }));
    let (_, challenge) = pkce(14);
    let browser = Browser::new();
    w.sign_in(&browser, &w.authorize_url(&app, "openid", &challenge, ""));
    for extra in ["", "&prompt=login", "&prompt=consent", "&prompt=none+login", "&prompt=bogus"] {
        let url = w.authorize_url(
            &app,
            "openid",
            &challenge,
            &format!("&response_mode=web_message{extra}"),
        );
        let response = browser.get(&w.s, &url);
        assert!(!is_login(&response), "{extra}");
        refused(&response, "web_message requires prompt=none");
    }
}

#[test]
fn web_message_to_a_redirect_uri_outside_the_web_origins_is_an_error_page() {
    let w = World::new();
    let (_, challenge) = pkce(15);
    let apps = [
        w.app("no_web_origins", "spa", json!({ "first_party": true })),
        w.app("other_origin", "spa", json!({ "web_origins": ["https://other.example.test"] })),
        w.app("other_port", "spa", json!({ "web_origins": ["https://app.example.test:8443"] })),
        w.app("other_scheme", "spa", json!({ "web_origins": ["http://localhost"] })),
    ];
    for app in &apps {
        let url =
            w.authorize_url(app, "openid", &challenge, "&prompt=none&response_mode=web_message");
        refused(
            &Browser::new().get(&w.s, &url),
            "the origin of redirect_uri is not one of the app&#39;s web_origins",
        );
    }
    // The same apps answer other response modes as before.
    let url = w.authorize_url(&apps[0], "openid", &challenge, "&prompt=none");
    assert_eq!(Browser::new().get(&w.s, &url).status(), 303);
}

#[test]
fn web_message_keeps_a_hostile_state_as_data() {
    let w = World::new();
    let app = spa(&w, "silent_spa", json!({ "first_party": true }));
    let (_, challenge) = pkce(16);
    let state = "</script><script>alert(1)</script><!--\"'&\\";
    let url = format!(
        "/authorize?response_type=code&client_id={}&redirect_uri={}&scope=openid&state={}&code_challenge={challenge}&code_challenge_method=S256&prompt=none&response_mode=web_message",
        encode(&app.client_id),
        encode(CALLBACK),
        encode(state)
    );
    let page = Browser::new().get(&w.s, &url);
    let html = text(&page);
    assert!(!html.contains("alert(1)</script>"), "{html}");
    assert!(!html.contains("<!--"), "{html}");
    assert!(html.contains("\\u003c/script\\u003e\\u003cscript\\u003ealert(1)"), "{html}");
    let response = posted(&page);
    assert_eq!(response["error"], "login_required");
    assert_eq!(response["state"], state);
}

#[test]
fn discovery_lists_web_message() {
    let w = World::new();
    let metadata = body_json(&w.s.get("/.well-known/openid-configuration"));
    assert_eq!(
        metadata["response_modes_supported"],
        json!(["query", "fragment", "form_post", "web_message"])
    );
}
