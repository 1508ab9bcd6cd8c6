use gatehouse_testkit::{Browser, body_json, encode, pkce};
use http::{Method, header};
use serde_json::json;

use super::{World, text};

#[test]
fn a_code_redeems_once_and_a_replay_revokes_its_refresh_token() {
    let w = World::new();
    let app = w.web_app();
    let (verifier, challenge) = pkce(1);
    let browser = Browser::new();
    let redirect =
        w.sign_in(&browser, &w.authorize_url(&app, "openid offline_access", &challenge, ""));
    let code = w.code_of(&redirect);
    let first = body_json(&w.redeem(&app, &code, &verifier));
    let refresh = first["refresh_token"].as_str().unwrap().to_owned();

    let again = w.redeem(&app, &code, &verifier);
    assert_eq!(again.status(), 400);
    assert_eq!(body_json(&again)["error"], "invalid_grant");
    let refreshed =
        w.post_token(&app, &format!("grant_type=refresh_token&refresh_token={refresh}"));
    assert_eq!(
        body_json(&refreshed)["error"],
        "invalid_grant",
        "the first redemption's family is revoked"
    );
}

#[test]
fn a_code_needs_its_verifier_redirect_uri_client_and_time() {
    let w = World::new();
    let app = w.web_app();
    let other = w.app("other_app", "web", json!({}));
    let (verifier, challenge) = pkce(1);
    let (wrong_verifier, _) = pkce(2);
    let browser = Browser::new();
    let fresh_code = || {
        let redirect = browser.get(&w.s, &w.authorize_url(&app, "openid", &challenge, ""));
        w.code_of(&redirect)
    };
    w.sign_in(&browser, &w.authorize_url(&app, "openid", &challenge, ""));

    let code = fresh_code();
    assert_eq!(body_json(&w.redeem(&app, &code, &wrong_verifier))["error"], "invalid_grant");
    let code = fresh_code();
    let no_verifier = format!(
        "grant_type=authorization_code&code={code}&redirect_uri={}",
        encode(super::CALLBACK)
    );
    assert_eq!(body_json(&w.post_token(&app, &no_verifier))["error"], "invalid_grant");
    let code = fresh_code();
    let wrong_uri = format!(
        "grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier={verifier}",
        encode("https://app.example.test/other")
    );
    assert_eq!(body_json(&w.post_token(&app, &wrong_uri))["error"], "invalid_grant");
    let code = fresh_code();
    assert_eq!(body_json(&w.redeem(&other, &code, &verifier))["error"], "invalid_grant");
    let code = fresh_code();
    w.s.clock.advance(61);
    assert_eq!(body_json(&w.redeem(&app, &code, &verifier))["error"], "invalid_grant");
    let code = fresh_code();
    assert_eq!(w.redeem(&app, &code, &verifier).status(), 200);
}

#[test]
fn userinfo_answers_by_scope_and_challenges_bad_tokens() {
    let w = World::new();
    let app = w.web_app();
    let tokens = w.tokens(&app, "openid email");
    let access = tokens["access_token"].as_str().unwrap();
    let request = |method: Method, auth: Option<String>, body: Option<String>| {
        let mut builder = http::Request::builder().method(method).uri("/userinfo");
        if let Some(auth) = auth {
            builder = builder.header(header::AUTHORIZATION, auth);
        }
        if body.is_some() {
            builder = builder.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        }
        w.s.send(builder.body(body.unwrap_or_default().into_bytes()).unwrap())
    };
    let response = request(Method::GET, Some(format!("Bearer {access}")), None);
    assert_eq!(response.status(), 200, "{}", text(&response));
    let claims = body_json(&response);
    assert_eq!(claims["sub"], w.user_id.as_str());
    assert_eq!(claims["email"], "ada@example.com");
    assert_eq!(claims["email_verified"], true);
    assert!(claims.get("name").is_none(), "no profile scope: {claims}");
    assert_eq!(response.headers()["access-control-allow-origin"], "*");

    let posted = request(Method::POST, None, Some(format!("access_token={access}")));
    assert_eq!(body_json(&posted)["sub"], w.user_id.as_str());

    let missing = request(Method::GET, None, None);
    assert_eq!(missing.status(), 401);
    assert!(missing.headers()[header::WWW_AUTHENTICATE].to_str().unwrap().starts_with("Bearer"));
    let bad = request(Method::GET, Some("Bearer not.a.token".into()), None);
    assert_eq!(bad.status(), 401);
    assert!(bad.headers()[header::WWW_AUTHENTICATE].to_str().unwrap().contains("invalid_token"));
    let both = request(
        Method::POST,
        Some(format!("Bearer {access}")),
        Some(format!("access_token={access}")),
    );
    assert_eq!(both.status(), 400);

    w.s.clock.advance(3600);
    assert_eq!(request(Method::GET, Some(format!("Bearer {access}")), None).status(), 401);
}

#[test]
fn revocation_and_introspection_answer_only_the_owning_client() {
    let w = World::new();
    let app = w.web_app();
    let other = w.app("other_app", "web", json!({ "refresh_tokens": true }));
    let tokens = w.tokens(&app, "openid offline_access");
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    let call = |client: &super::App, path: &str, token: &str| {
        let basic = (client.client_id.as_str(), client.secret.as_deref().unwrap());
        w.s.post_form(path, &format!("token={}", encode(token)), Some(basic))
    };

    let active = body_json(&call(&app, "/introspect", access));
    assert_eq!(active["active"], true);
    assert_eq!(active["sub"], w.user_id.as_str());
    assert_eq!(active["client_id"], app.client_id.as_str());
    let live = body_json(&call(&app, "/introspect", refresh));
    assert_eq!(live["active"], true);
    assert_eq!(live["exp"], w.s.clock.now().as_secs() + 30 * 86_400);
    assert_eq!(body_json(&call(&other, "/introspect", access))["active"], false);
    assert_eq!(body_json(&call(&other, "/introspect", refresh))["active"], false);
    assert_eq!(body_json(&call(&app, "/introspect", "garbage"))["active"], false);

    // Another client's revocation does nothing.
    assert_eq!(call(&other, "/revoke", refresh).status(), 200);
    assert_eq!(body_json(&call(&app, "/introspect", refresh))["active"], true);
    assert_eq!(call(&app, "/revoke", refresh).status(), 200);
    assert_eq!(body_json(&call(&app, "/introspect", refresh))["active"], false);
    let refreshed =
        w.post_token(&app, &format!("grant_type=refresh_token&refresh_token={refresh}"));
    assert_eq!(body_json(&refreshed)["error"], "invalid_grant");
    assert_eq!(call(&app, "/revoke", "unknown").status(), 200);

    let anonymous = w.s.post_form("/revoke", "token=x", None);
    assert_eq!(anonymous.status(), 401);
}

#[test]
fn a_spa_reads_token_answers_from_its_registered_origins_only() {
    let w = World::new();
    let spa = w.app(
        "spa_app",
        "spa",
        json!({ "allowed_origins": ["https://app.example.test"], "refresh_tokens": true }),
    );
    assert!(spa.secret.is_none());
    let (verifier, challenge) = pkce(6);
    let browser = Browser::new();
    let redirect =
        w.sign_in(&browser, &w.authorize_url(&spa, "openid offline_access", &challenge, ""));
    let code = w.code_of(&redirect);
    let send = |origin: &str, body: String| {
        w.s.send(
            http::Request::post("/token")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(header::ORIGIN, origin)
                .body(body.into_bytes())
                .unwrap(),
        )
    };
    let redeemed = send(
        "https://app.example.test",
        format!(
            "grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier={verifier}&client_id={}",
            encode(super::CALLBACK),
            spa.client_id
        ),
    );
    assert_eq!(redeemed.status(), 200, "{}", text(&redeemed));
    assert_eq!(redeemed.headers()["access-control-allow-origin"], "https://app.example.test");
    assert_eq!(redeemed.headers()["vary"], "Origin");
    let refresh = body_json(&redeemed)["refresh_token"].as_str().unwrap().to_owned();
    let elsewhere = send(
        "https://evil.example",
        format!("grant_type=refresh_token&refresh_token={refresh}&client_id={}", spa.client_id),
    );
    assert!(elsewhere.headers().get("access-control-allow-origin").is_none());
}

#[test]
fn access_tokens_carry_the_users_roles_and_permissions_when_the_app_asks() {
    let w = World::new();
    let app = w.app(
        "orders_ui",
        "web",
        json!({ "access_token_permissions": true, "access_token_roles": true, "first_party": true }),
    );
    let perms = format!("/admin/v1/apps/{}/permissions", app.client_id);
    for name in ["read_orders", "write_orders"] {
        let created = w.s.admin(Method::POST, &perms, &w.admin, Some(json!({ "name": name })), &[]);
        assert_eq!(created.status(), 201);
    }
    let role = w.s.admin(
        Method::POST,
        "/admin/v1/roles",
        &w.admin,
        Some(json!({ "name": "clerk", "permissions": [{ "client_id": app.client_id, "name": "read_orders" }] })),
        &[],
    );
    assert_eq!(role.status(), 201, "{}", text(&role));
    let role_id = body_json(&role)["id"].as_str().unwrap().to_owned();
    let user = format!("/admin/v1/users/{}", w.user_id);
    let patched =
        w.s.admin(Method::PATCH, &user, &w.admin, Some(json!({ "roles": [role_id] })), &[]);
    assert_eq!(patched.status(), 200, "{}", text(&patched));

    let tokens = w.tokens(&app, "openid");
    let access = tokens["access_token"].as_str().unwrap();
    let payload = access.split('.').nth(1).unwrap();
    use base64::Engine as _;
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap(),
    )
    .unwrap();
    assert_eq!(claims["permissions"], json!(["read_orders"]));
    assert_eq!(claims["roles"], json!(["clerk"]));
    assert_eq!(claims["sub"], w.user_id.as_str());

    // An app that did not ask gets neither.
    let plain = w.app("plain_app", "web", json!({ "first_party": true }));
    let access = w.tokens(&plain, "openid")["access_token"].as_str().unwrap().to_owned();
    let payload = access.split('.').nth(1).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap(),
    )
    .unwrap();
    assert!(claims.get("permissions").is_none() && claims.get("roles").is_none());
}

#[test]
fn the_claims_parameter_asks_userinfo_for_claims_beyond_the_scope_and_refresh_keeps_them() {
    let w = World::new();
    let app = w.web_app();
    let (verifier, challenge) = pkce(7);
    let claims = encode(r#"{"userinfo":{"email":{"essential":true},"name":null}}"#);
    let url =
        w.authorize_url(&app, "openid offline_access", &challenge, &format!("&claims={claims}"));
    let redirect = w.sign_in(&Browser::new(), &url);
    let response = w.redeem(&app, &w.code_of(&redirect), &verifier);
    assert_eq!(response.status(), 200, "{:?}", body_json(&response));
    let tokens = body_json(&response);
    let userinfo = |access: &str| {
        let request = http::Request::get("/userinfo")
            .header(header::AUTHORIZATION, format!("Bearer {access}"))
            .body(Vec::new())
            .unwrap();
        body_json(&w.s.send(request))
    };
    let first = userinfo(tokens["access_token"].as_str().unwrap());
    assert_eq!(first["email"], "ada@example.com", "{first}");
    assert_eq!(first["name"], "Ada Lovelace");
    assert!(first.get("phone_number").is_none(), "only what was asked: {first}");

    let refresh = format!(
        "grant_type=refresh_token&refresh_token={}",
        encode(tokens["refresh_token"].as_str().unwrap())
    );
    let refreshed = body_json(&w.post_token(&app, &refresh));
    let second = userinfo(refreshed["access_token"].as_str().unwrap());
    assert_eq!(second["email"], "ada@example.com", "{second}");

    // Without the parameter, scope alone decides.
    let plain = w.tokens(&app, "openid");
    let third = userinfo(plain["access_token"].as_str().unwrap());
    assert!(third.get("email").is_none(), "{third}");
    assert_eq!(json!(third["sub"]), json!(w.user_id));
}
