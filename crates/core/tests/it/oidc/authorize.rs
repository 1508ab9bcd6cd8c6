use gatehouse_testkit::{Browser, body_json, encode, pkce, redirect_params, tags};
use http::header;
use serde_json::json;

use super::{CALLBACK, ISSUER, PASSWORD, World, is_consent, is_login, text};

#[test]
fn a_web_app_signs_a_user_in_with_code_and_pkce() {
    let w = World::new();
    let app = w.web_app();
    let (verifier, challenge) = pkce(1);
    let browser = Browser::new();
    let url = w.authorize_url(&app, "openid profile email offline_access", &challenge, "");

    let login = browser.get(&w.s, &url);
    assert_eq!(login.status(), 200);
    assert!(is_login(&login));
    let csp = login.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(browser.has_cookie("csrf"));

    let wrong = browser.submit(&w.s, &login, &[("username", "ada"), ("password", "not it at all")]);
    assert!(is_login(&wrong));
    assert!(text(&wrong).contains("role=\"alert\""));

    let consent = browser.submit(&w.s, &wrong, &[("username", "ada"), ("password", PASSWORD)]);
    assert!(is_consent(&consent), "{}", text(&consent));
    assert!(browser.has_cookie("session"));
    let redirect = browser.submit(&w.s, &consent, &[("decision", "allow")]);
    assert_eq!(redirect.status(), 303);
    let location = redirect.headers()[header::LOCATION].to_str().unwrap();
    assert!(location.starts_with(&format!("{CALLBACK}?")), "{location}");
    let code = w.code_of(&redirect);

    let response = w.redeem(&app, &code, &verifier);
    assert_eq!(response.status(), 200, "{:?}", body_json(&response));
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body = body_json(&response);
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["refresh_token"].is_string());
    let scope = body["scope"].as_str().unwrap();
    assert!(scope.contains("openid") && scope.contains("offline_access"), "{scope}");
    let access = body["access_token"].as_str().unwrap();
    let claims = w.id_token(&app, body["id_token"].as_str().unwrap(), access);
    assert_eq!(claims.sub, w.user_id);
    assert_eq!(claims.nonce.as_deref(), Some("n0nce"));
    assert_eq!(claims.azp.as_deref(), Some(app.client_id.as_str()));
    assert_eq!(claims.auth_time, Some(w.s.clock.now()));
    assert_eq!(claims.amr, ["pwd"]);
    assert_eq!(claims.acr.as_deref(), Some("urn:gatehouse:acr:password"));
    assert!(claims.sid.is_some());
}

#[test]
fn errors_before_the_redirect_uri_is_known_stay_on_the_issuer() {
    let w = World::new();
    let app = w.web_app();
    let (_, challenge) = pkce(1);
    let cases = [
        "/authorize?response_type=code&client_id=nobody&redirect_uri=https%3A%2F%2Fapp.example.test%2Fcallback".to_owned(),
        format!(
            "/authorize?response_type=code&client_id={}&redirect_uri={}&code_challenge={challenge}&code_challenge_method=S256",
            app.client_id,
            encode("https://evil.example/callback")
        ),
        format!("/authorize?response_type=code&client_id={}&redirect_uri={}&redirect_uri=x", app.client_id, encode(CALLBACK)),
        "/authorize?response_type=code".to_owned(),
    ];
    for url in cases {
        let response = Browser::new().get(&w.s, &url);
        assert_eq!(response.status(), 400, "{url}");
        assert!(response.headers().get(header::LOCATION).is_none(), "{url}");
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    }
}

#[test]
fn errors_after_the_redirect_uri_go_back_with_state_and_iss() {
    let w = World::new();
    let web = w.web_app();
    let spa = w.app("spa_app", "spa", json!({}));
    let (_, challenge) = pkce(1);
    let base = |app: &super::App, extra: &str| {
        format!(
            "/authorize?client_id={}&redirect_uri={}&state=st4te{extra}",
            app.client_id,
            encode(CALLBACK)
        )
    };
    let cases = [
        (base(&spa, "&response_type=code&scope=openid"), "invalid_request"),
        (
            base(
                &spa,
                &format!(
                    "&response_type=code&code_challenge={challenge}&code_challenge_method=plain"
                ),
            ),
            "invalid_request",
        ),
        (
            base(
                &web,
                &format!(
                    "&response_type=token&code_challenge={challenge}&code_challenge_method=S256"
                ),
            ),
            "unsupported_response_type",
        ),
        (base(&web, "&response_type=code&request=eyJ9"), "request_not_supported"),
        (base(&web, "&response_type=code&request_uri=urn%3Ax"), "request_uri_not_supported"),
        (
            base(
                &web,
                &format!(
                    "&response_type=code&prompt=none&code_challenge={challenge}&code_challenge_method=S256"
                ),
            ),
            "login_required",
        ),
        (
            base(
                &web,
                &format!(
                    "&response_type=code&prompt=none+login&code_challenge={challenge}&code_challenge_method=S256"
                ),
            ),
            "invalid_request",
        ),
        (
            base(
                &web,
                &format!(
                    "&response_type=code&scope=openid+secret%3Aread&code_challenge={challenge}&code_challenge_method=S256"
                ),
            ),
            "invalid_scope",
        ),
        (
            base(
                &web,
                &format!(
                    "&response_type=code&response_mode=bogus&code_challenge={challenge}&code_challenge_method=S256"
                ),
            ),
            "invalid_request",
        ),
    ];
    for (url, error) in cases {
        let response = Browser::new().get(&w.s, &url);
        assert_eq!(response.status(), 303, "{url}: {}", text(&response));
        let params = redirect_params(&response);
        assert_eq!(params["error"], error, "{url}");
        assert_eq!(params["state"], "st4te");
        assert_eq!(params["iss"], ISSUER);
    }
}

#[test]
fn the_session_signs_in_again_without_a_page_until_prompt_or_max_age_asks() {
    let w = World::new();
    let app = w.web_app();
    let (_, challenge) = pkce(2);
    let browser = Browser::new();
    w.sign_in(&browser, &w.authorize_url(&app, "openid email", &challenge, ""));

    // SSO: no page at all, consent remembered.
    let again = browser.get(&w.s, &w.authorize_url(&app, "openid email", &challenge, ""));
    assert_eq!(again.status(), 303, "{}", text(&again));
    w.code_of(&again);
    let silent = browser.get(&w.s, &w.authorize_url(&app, "openid", &challenge, "&prompt=none"));
    w.code_of(&silent);

    // A scope not consented yet: prompt=none cannot ask.
    let more =
        browser.get(&w.s, &w.authorize_url(&app, "openid phone", &challenge, "&prompt=none"));
    assert_eq!(redirect_params(&more)["error"], "consent_required");
    assert!(is_consent(&browser.get(&w.s, &w.authorize_url(&app, "openid phone", &challenge, ""))));
    assert!(is_consent(
        &browser.get(&w.s, &w.authorize_url(&app, "openid", &challenge, "&prompt=consent"))
    ));

    // `prompt=consent` asks after a fresh sign-in too, though consent was given.
    let login =
        browser.get(&w.s, &w.authorize_url(&app, "openid", &challenge, "&prompt=login+consent"));
    assert!(is_login(&login));
    let signed_in = browser.submit(&w.s, &login, &[("username", "ada"), ("password", PASSWORD)]);
    assert!(is_consent(&signed_in), "{}", text(&signed_in));
    w.code_of(&browser.submit(&w.s, &signed_in, &[("decision", "allow")]));

    assert!(is_login(
        &browser.get(&w.s, &w.authorize_url(&app, "openid", &challenge, "&prompt=login"))
    ));
    w.s.clock.advance(120);
    assert!(is_login(
        &browser.get(&w.s, &w.authorize_url(&app, "openid", &challenge, "&max_age=60"))
    ));
    w.code_of(&browser.get(&w.s, &w.authorize_url(&app, "openid", &challenge, "&max_age=600")));

    // Another browser has no session.
    let fresh =
        Browser::new().get(&w.s, &w.authorize_url(&app, "openid", &challenge, "&prompt=none"));
    assert_eq!(redirect_params(&fresh)["error"], "login_required");
}

#[test]
fn first_party_apps_skip_consent_and_deny_is_access_denied() {
    let w = World::new();
    let first = w.app("first_party", "web", json!({ "first_party": true }));
    let (_, challenge) = pkce(3);
    let browser = Browser::new();
    let login = browser.get(&w.s, &w.authorize_url(&first, "openid profile", &challenge, ""));
    let redirect = browser.submit(&w.s, &login, &[("username", "ada"), ("password", PASSWORD)]);
    assert_eq!(redirect.status(), 303, "{}", text(&redirect));
    w.code_of(&redirect);

    let third = w.web_app();
    let consent = browser.get(&w.s, &w.authorize_url(&third, "openid", &challenge, ""));
    assert!(is_consent(&consent));
    let denied = browser.submit(&w.s, &consent, &[("decision", "deny")]);
    let params = redirect_params(&denied);
    assert_eq!(params["error"], "access_denied");
    assert_eq!(params["state"], "st4te");
}

#[test]
fn users_sign_in_by_email_and_disabled_users_cannot() {
    let w = World::new();
    let app = w.app("first_party", "web", json!({ "first_party": true }));
    let (_, challenge) = pkce(3);
    let browser = Browser::new();
    let login = browser
        .get(&w.s, &w.authorize_url(&app, "openid", &challenge, "&login_hint=Ada%40Example.com"));
    let username = tags(&text(&login), "input")
        .into_iter()
        .find(|i| i.get("name").map(String::as_str) == Some("username"))
        .unwrap();
    assert_eq!(username.get("value").map(String::as_str), Some("Ada@Example.com"));
    let ok =
        browser.submit(&w.s, &login, &[("username", "Ada@Example.com"), ("password", PASSWORD)]);
    assert_eq!(ok.status(), 303);

    let path = format!("/admin/v1/users/{}/disable", w.user_id);
    let response = w.s.admin(http::Method::POST, &path, &w.admin, None, &[]);
    assert_eq!(response.status(), 200, "{:?}", body_json(&response));
    let browser = Browser::new();
    let login = browser.get(&w.s, &w.authorize_url(&app, "openid", &challenge, ""));
    let refused = browser.submit(&w.s, &login, &[("username", "ada"), ("password", PASSWORD)]);
    assert!(is_login(&refused));
}

#[test]
fn repeated_failures_lock_the_user_out_even_with_the_right_password() {
    let w = World::new();
    let app = w.app("first_party", "web", json!({ "first_party": true }));
    let (_, challenge) = pkce(3);
    let browser = Browser::new();
    let mut page = browser.get(&w.s, &w.authorize_url(&app, "openid", &challenge, ""));
    for _ in 0..10 {
        page = browser.submit(&w.s, &page, &[("username", "ada"), ("password", "wrong password!")]);
        assert!(is_login(&page));
    }
    let locked = browser.submit(&w.s, &page, &[("username", "ada"), ("password", PASSWORD)]);
    assert!(is_login(&locked), "{}", text(&locked));
    w.s.clock.advance(15 * 60);
    let page = browser.get(&w.s, &w.authorize_url(&app, "openid", &challenge, ""));
    let ok = browser.submit(&w.s, &page, &[("username", "ada"), ("password", PASSWORD)]);
    assert_eq!(ok.status(), 303, "{}", text(&ok));
}

#[test]
fn forms_need_the_csrf_cookie_and_expire() {
    let w = World::new();
    let app = w.web_app();
    let (_, challenge) = pkce(3);
    let browser = Browser::new();
    let login = browser.get(&w.s, &w.authorize_url(&app, "openid", &challenge, ""));
    let other = Browser::new();
    let forged = other.submit(&w.s, &login, &[("username", "ada"), ("password", PASSWORD)]);
    assert_eq!(forged.status(), 403);
    w.s.clock.advance(16 * 60);
    let late = browser.submit(&w.s, &login, &[("username", "ada"), ("password", PASSWORD)]);
    assert_eq!(late.status(), 400);
}

#[test]
fn native_apps_redirect_to_any_loopback_port_and_form_post_posts() {
    let w = World::new();
    let native = w.app(
        "native_app",
        "native",
        json!({ "redirect_uris": ["http://127.0.0.1/callback"], "post_logout_redirect_uris": [] }),
    );
    let (verifier, challenge) = pkce(4);
    let browser = Browser::new();
    let url = format!(
        "/authorize?response_type=code&client_id={}&redirect_uri={}&scope=openid&state=st4te&code_challenge={challenge}&code_challenge_method=S256",
        native.client_id,
        encode("http://127.0.0.1:51004/callback")
    );
    let redirect = w.sign_in(&browser, &url);
    let location = redirect.headers()[header::LOCATION].to_str().unwrap().to_owned();
    assert!(location.starts_with("http://127.0.0.1:51004/callback?"), "{location}");
    let code = w.code_of(&redirect);
    let body = format!(
        "grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier={verifier}&client_id={}",
        encode("http://127.0.0.1:51004/callback"),
        native.client_id
    );
    let response = w.post_token(&native, &body);
    assert_eq!(response.status(), 200, "{:?}", body_json(&response));

    let posted = browser.get(&w.s, &format!("{url}&response_mode=form_post"));
    assert_eq!(posted.status(), 200);
    let html = text(&posted);
    let form = tags(&html, "form");
    assert_eq!(form[0]["action"], "http://127.0.0.1:51004/callback");
    let fields = gatehouse_testkit::hidden_fields(&html);
    assert!(fields.iter().any(|(k, _)| k == "code"));
    assert!(fields.iter().any(|(k, v)| k == "iss" && v == ISSUER));
    let csp = posted.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'sha256-"), "{csp}");

    let fragment = browser.get(&w.s, &format!("{url}&response_mode=fragment"));
    let location = fragment.headers()[header::LOCATION].to_str().unwrap();
    assert!(location.contains("/callback#code="), "{location}");
}

#[test]
fn discovery_advertises_the_interactive_endpoints() {
    let w = World::new();
    let metadata = body_json(&w.s.get("/.well-known/openid-configuration"));
    for (member, path) in [
        ("authorization_endpoint", "/authorize"),
        ("userinfo_endpoint", "/userinfo"),
        ("revocation_endpoint", "/revoke"),
        ("introspection_endpoint", "/introspect"),
        ("end_session_endpoint", "/logout"),
    ] {
        assert_eq!(metadata[member], format!("{ISSUER}{path}"));
    }
    assert_eq!(metadata["response_types_supported"], json!(["code"]));
    assert_eq!(metadata["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(metadata["authorization_response_iss_parameter_supported"], true);
    assert_eq!(metadata["request_parameter_supported"], false);
    assert_eq!(
        metadata["acr_values_supported"],
        json!(["urn:gatehouse:acr:password", "urn:gatehouse:acr:mfa"])
    );
    assert!(metadata["claims_supported"].as_array().unwrap().contains(&json!("acr")));
    let grants = metadata["grant_types_supported"].as_array().unwrap();
    assert!(
        grants.contains(&json!("authorization_code")) && grants.contains(&json!("refresh_token"))
    );
}
