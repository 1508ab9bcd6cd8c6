//! An app's additional token claims (`token_claims`): user fields and fixed values
//! in access and ID tokens, for every grant, never overriding what the issuer sets.

use base64::Engine as _;
use gatehouse_core::verify::{AccessTokenPolicy, verify_access_token_full};
use gatehouse_testkit::{Browser, NativeCrypto, body_json, encode, pkce};
use http::Method;
use serde_json::{Value, json};

use super::{ISSUER, PASSWORD, World, is_consent, text};

/// The payload of a JWT, unverified (the tests verify signatures separately).
fn payload(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap())
        .unwrap()
}

fn claims() -> Value {
    json!([
        { "name": "email", "source": "user", "field": "email", "tokens": ["access"] },
        { "name": "phone", "source": "user", "field": "phone_number", "tokens": ["access", "id"] },
        { "name": "locale", "source": "user", "field": "locale" },
        { "name": "tenant", "source": "value", "value": "acme", "tokens": ["access"] },
        { "name": "tier", "source": "value", "value": 3, "tokens": ["id"] },
        { "name": "beta", "source": "value", "value": true },
    ])
}

#[test]
fn the_code_grant_and_refresh_carry_the_apps_claims_in_the_tokens_they_target() {
    let w = World::new();
    let app = w.app(
        "claims_app",
        "web",
        json!({ "first_party": true, "refresh_tokens": true, "token_claims": claims() }),
    );
    let tokens = w.tokens(&app, "openid offline_access");
    let access = tokens["access_token"].as_str().unwrap();
    let at = payload(access);
    assert_eq!(at["email"], "ada@example.com");
    assert_eq!(at["phone"], "+442079460000");
    assert_eq!(at["tenant"], "acme");
    assert_eq!(at["beta"], true);
    // A field the user does not have is left out; `id`-only claims stay out.
    assert!(at.get("locale").is_none() && at.get("tier").is_none(), "{at}");
    // The registered claims are the issuer's.
    assert_eq!(at["sub"], w.user_id.as_str());
    assert_eq!(at["iss"], ISSUER);

    // Still a valid RFC 9068 token.
    let verified = pollster::block_on(verify_access_token_full(
        &NativeCrypto::default(),
        &w.jwks(),
        &AccessTokenPolicy::new(ISSUER, ISSUER),
        access,
        w.s.clock.now(),
    ))
    .unwrap();
    assert_eq!(verified.claims.sub, w.user_id);

    let id_token = tokens["id_token"].as_str().unwrap();
    w.id_token(&app, id_token, access);
    let id = payload(id_token);
    assert_eq!(id["phone"], "+442079460000");
    assert_eq!(id["tier"], 3);
    assert_eq!(id["beta"], true);
    // `openid` alone releases no email: only the access token was given it.
    assert!(id.get("email").is_none() && id.get("tenant").is_none(), "{id}");

    // The user's record changes: the next refresh carries the new values.
    let user = format!("/admin/v1/users/{}", w.user_id);
    let patched =
        w.s.admin(Method::PATCH, &user, &w.admin, Some(json!({ "locale": "en-GB" })), &[]);
    assert_eq!(patched.status(), 200, "{}", text(&patched));
    let refreshed = body_json(&w.post_token(
        &app,
        &format!(
            "grant_type=refresh_token&refresh_token={}",
            encode(tokens["refresh_token"].as_str().unwrap())
        ),
    ));
    let at = payload(refreshed["access_token"].as_str().unwrap());
    assert_eq!(at["locale"], "en-GB");
    assert_eq!(at["tenant"], "acme");
    let id = payload(refreshed["id_token"].as_str().unwrap());
    assert_eq!(id["locale"], "en-GB");
    assert_eq!(id["tier"], 3);
}

#[test]
fn a_claim_never_overrides_what_the_id_token_releases_by_scope() {
    let w = World::new();
    // `name` from the user's `given_name`: the `profile` scope releases the real `name`.
    let app = w.app(
        "names_app",
        "web",
        json!({ "first_party": true, "token_claims": [
            { "name": "name", "source": "user", "field": "given_name" },
        ] }),
    );
    let with_profile = w.tokens(&app, "openid profile");
    let id = payload(with_profile["id_token"].as_str().unwrap());
    assert_eq!(id["name"], "Ada Lovelace");
    // Without the scope, the app's claim fills it.
    let without = w.tokens(&app, "openid");
    assert_eq!(payload(without["id_token"].as_str().unwrap())["name"], "Ada");
    assert_eq!(payload(without["access_token"].as_str().unwrap())["name"], "Ada");
}

#[test]
fn the_device_grant_carries_them_too() {
    let w = World::new();
    let app = w.app(
        "tv_claims",
        "device",
        json!({ "redirect_uris": [], "post_logout_redirect_uris": [], "token_claims": claims() }),
    );
    let started = body_json(&w.s.post_form(
        "/device_authorization",
        &format!("client_id={}&scope=openid", app.client_id),
        None,
    ));
    let device_code = started["device_code"].as_str().unwrap().to_owned();
    let user_code = started["user_code"].as_str().unwrap().to_owned();
    let browser = Browser::new();
    let entry = browser.get(&w.s, &format!("/device?user_code={user_code}"));
    let login = browser.submit(&w.s, &entry, &[("user_code", &user_code)]);
    let consent = browser.submit(&w.s, &login, &[("username", "ada"), ("password", PASSWORD)]);
    assert!(is_consent(&consent), "{}", text(&consent));
    let done = browser.submit(&w.s, &consent, &[("decision", "allow")]);
    assert_eq!(done.status(), 200, "{}", text(&done));
    w.s.clock.advance(5);
    let tokens = body_json(&w.s.post_form(
        "/token",
        &format!(
            "grant_type={}&device_code={}&client_id={}",
            encode("urn:ietf:params:oauth:grant-type:device_code"),
            encode(&device_code),
            app.client_id
        ),
        None,
    ));
    let at = payload(tokens["access_token"].as_str().unwrap());
    assert_eq!(at["email"], "ada@example.com");
    assert_eq!(at["tenant"], "acme");
    let id = payload(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["tier"], 3);
    assert_eq!(id["phone"], "+442079460000");
}

#[test]
fn client_credentials_tokens_carry_the_fixed_values_only() {
    let w = World::new();
    let scope = w.s.admin(
        Method::POST,
        "/admin/v1/scopes",
        &w.admin,
        Some(json!({ "key": "orders:read" })),
        &[],
    );
    assert_eq!(scope.status(), 201, "{}", text(&scope));
    let created = w.s.admin(
        Method::POST,
        "/admin/v1/apps",
        &w.admin,
        Some(json!({ "client_name": "svc", "type": "s2s", "scope": "orders:read",
                     "token_claims": claims() })),
        &[],
    );
    assert_eq!(created.status(), 201, "{}", text(&created));
    let app = body_json(&created);
    let response = w.s.post_form(
        "/token",
        "grant_type=client_credentials",
        Some((app["client_id"].as_str().unwrap(), app["client_secret"].as_str().unwrap())),
    );
    assert_eq!(response.status(), 200, "{}", text(&response));
    let at = payload(body_json(&response)["access_token"].as_str().unwrap());
    assert_eq!(at["tenant"], "acme");
    assert_eq!(at["beta"], true);
    assert!(at.get("email").is_none() && at.get("tier").is_none(), "{at}");
    assert_eq!(at["sub"], app["client_id"]);
}

#[test]
fn the_management_api_refuses_protected_duplicate_and_unknown_claims() {
    let w = World::new();
    let refused = |claims: Value| {
        let response = w.s.admin(
            Method::POST,
            "/admin/v1/apps",
            &w.admin,
            Some(json!({ "client_name": "bad", "type": "web",
                         "redirect_uris": [super::CALLBACK], "token_claims": claims })),
            &[],
        );
        assert_eq!(response.status(), 400, "{}", text(&response));
        assert_eq!(response.headers()["content-type"], "application/problem+json");
        let body = body_json(&response);
        body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["pointer"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    for name in ["sub", "aud", "nonce", "at_hash", "permissions", "client_id", "scope", "cnf"] {
        assert_eq!(
            refused(json!([{ "name": name, "source": "value", "value": "x" }])),
            ["/token_claims/0/name"],
            "{name}"
        );
    }
    assert_eq!(
        refused(json!([
            { "name": "tenant", "source": "value", "value": "a" },
            { "name": "tenant", "source": "value", "value": "b" },
        ])),
        ["/token_claims/1/name"]
    );
    assert_eq!(
        refused(json!([{ "name": "pw", "source": "user", "field": "password_hash" }])),
        ["/token_claims/0/field"]
    );

    // A valid list round-trips through GET and PATCH, and `null` clears it.
    let app = w.app("ok_app", "web", json!({ "token_claims": claims() }));
    let path = format!("/admin/v1/apps/{}", app.client_id);
    let shown = body_json(&w.s.admin(Method::GET, &path, &w.admin, None, &[]));
    assert_eq!(shown["token_claims"][1]["tokens"], json!(["access", "id"]));
    assert_eq!(shown["token_claims"][2]["tokens"], json!(["access", "id"]));
    assert_eq!(
        shown["token_claims"][3],
        json!({ "name": "tenant", "source": "value", "value": "acme", "tokens": ["access"] })
    );
    let cleared =
        w.s.admin(Method::PATCH, &path, &w.admin, Some(json!({ "token_claims": null })), &[]);
    assert_eq!(cleared.status(), 200, "{}", text(&cleared));
    assert_eq!(body_json(&cleared)["token_claims"], json!([]));
}

#[test]
fn userinfo_is_unchanged_by_token_claims() {
    let w = World::new();
    let app = w.app("ui_app", "web", json!({ "first_party": true, "token_claims": claims() }));
    let (verifier, challenge) = pkce(3);
    let browser = Browser::new();
    let redirect = w.sign_in(&browser, &w.authorize_url(&app, "openid", &challenge, ""));
    let code = w.code_of(&redirect);
    let tokens = body_json(&w.redeem(&app, &code, &verifier));
    let access = tokens["access_token"].as_str().unwrap();
    let request = http::Request::get("/userinfo")
        .header(http::header::AUTHORIZATION, format!("Bearer {access}"))
        .body(Vec::new())
        .unwrap();
    let info = w.s.send(request);
    assert_eq!(info.status(), 200, "{}", text(&info));
    let info = body_json(&info);
    assert_eq!(info["sub"], w.user_id.as_str());
    assert!(info.get("tenant").is_none() && info.get("email").is_none(), "{info}");
}
