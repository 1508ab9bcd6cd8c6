//! The management API for apps, through the whole engine.

use gatehouse_testkit::{Scenario, body_json};
use http::Method;
use serde_json::{Value, json};

fn create(s: &Scenario, token: &str, body: Value) -> http::Response<Vec<u8>> {
    s.admin(Method::POST, "/admin/v1/apps", token, Some(body), &[])
}

fn problem_pointers(response: &http::Response<Vec<u8>>) -> Vec<String> {
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    body_json(response)["errors"].as_array().map_or_else(Vec::new, |errors| {
        errors.iter().map(|e| e["pointer"].as_str().unwrap().to_owned()).collect()
    })
}

#[test]
fn an_s2s_app_is_created_and_gets_tokens_at_once() {
    let s = Scenario::default();
    let token = s.bearer(None);
    let response = create(
        &s,
        &token,
        json!({"client_name": "billing_sync", "type": "s2s", "scope": "orders:read orders:write"}),
    );
    assert_eq!(response.status(), 201, "{:?}", body_json(&response));
    assert_eq!(response.headers()["etag"], "\"1\"");
    let app = body_json(&response);
    let client_id = app["client_id"].as_str().unwrap();
    assert_eq!(
        response.headers()["location"],
        format!("https://id.example.test/admin/v1/apps/{client_id}").as_str()
    );
    let secret = app["client_secret"].as_str().unwrap();
    assert_eq!(client_id.len(), 22, "128 random bits");
    assert_eq!(secret.len(), 43, "256 random bits");
    assert_eq!(app["grant_types"], json!(["client_credentials"]));
    assert_eq!(app["token_endpoint_auth_method"], "client_secret_basic");
    assert!(app.get("secret_digest").is_none());

    let granted = s.post_form(
        "/token",
        "grant_type=client_credentials&scope=orders%3Aread",
        Some((client_id, secret)),
    );
    assert_eq!(granted.status(), 200, "{:?}", body_json(&granted));
    assert_eq!(body_json(&granted)["scope"], "orders:read");
    let too_much = s.post_form(
        "/token",
        "grant_type=client_credentials&scope=gatehouse%3Aadmin",
        Some((client_id, secret)),
    );
    assert_eq!(body_json(&too_much)["error"], "invalid_scope");

    // The secret is never shown again.
    let fetched = s.admin(Method::GET, &format!("/admin/v1/apps/{client_id}"), &token, None, &[]);
    assert_eq!(fetched.status(), 200);
    assert!(body_json(&fetched).get("client_secret").is_none());
}

#[test]
fn a_disabled_app_gets_no_tokens_and_an_enabled_one_does_again() {
    let s = Scenario::default();
    let token = s.bearer(None);
    let app = body_json(&create(&s, &token, json!({"client_name": "svc", "type": "s2s"})));
    let (id, secret) = (app["client_id"].as_str().unwrap(), app["client_secret"].as_str().unwrap());
    let disabled =
        s.admin(Method::POST, &format!("/admin/v1/apps/{id}/disable"), &token, None, &[]);
    assert_eq!(body_json(&disabled)["enabled"], false);
    let refused = s.post_form("/token", "grant_type=client_credentials", Some((id, secret)));
    assert_eq!(refused.status(), 401);
    s.admin(Method::POST, &format!("/admin/v1/apps/{id}/enable"), &token, None, &[]);
    assert_eq!(
        s.post_form("/token", "grant_type=client_credentials", Some((id, secret))).status(),
        200
    );
}

#[test]
fn secret_reset_invalidates_the_old_secret() {
    let s = Scenario::default();
    let token = s.bearer(None);
    let app = body_json(&create(&s, &token, json!({"client_name": "svc", "type": "s2s"})));
    let (id, old) = (app["client_id"].as_str().unwrap(), app["client_secret"].as_str().unwrap());
    let reset = s.admin(Method::POST, &format!("/admin/v1/apps/{id}/secret"), &token, None, &[]);
    assert_eq!(reset.status(), 200);
    let new = body_json(&reset)["client_secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert_eq!(
        s.post_form("/token", "grant_type=client_credentials", Some((id, old))).status(),
        401
    );
    assert_eq!(
        s.post_form("/token", "grant_type=client_credentials", Some((id, &new))).status(),
        200
    );
}

#[test]
fn the_auth_method_must_match_the_registered_one() {
    let s = Scenario::default();
    let token = s.bearer(None);
    let app = body_json(&create(
        &s,
        &token,
        json!({"client_name": "svc", "type": "s2s", "token_endpoint_auth_method": "client_secret_post"}),
    ));
    let (id, secret) = (app["client_id"].as_str().unwrap(), app["client_secret"].as_str().unwrap());
    assert_eq!(
        s.post_form("/token", "grant_type=client_credentials", Some((id, secret))).status(),
        401
    );
    let body = format!("grant_type=client_credentials&client_id={id}&client_secret={secret}");
    assert_eq!(s.post_form("/token", &body, None).status(), 200);
    let log = s.take_diagnostics();
    assert!(
        log.iter().any(|l| l.contains(
            "authenticates with client_secret_post, the request used client_secret_basic"
        )),
        "{log:?}"
    );
    assert!(!log.iter().any(|l| l.contains(secret)), "a secret never reaches the log");
}

#[test]
fn type_rules_are_enforced_with_the_field_named() {
    let s = Scenario::default();
    let token = s.bearer(None);
    let spa_secret = create(
        &s,
        &token,
        json!({"client_name": "spa", "type": "spa", "redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "client_secret_basic"}),
    );
    assert_eq!(spa_secret.status(), 400);
    assert_eq!(problem_pointers(&spa_secret), vec!["/token_endpoint_auth_method"]);

    let s2s_code = create(
        &s,
        &token,
        json!({"client_name": "svc", "type": "s2s", "grant_types": ["authorization_code"]}),
    );
    assert!(problem_pointers(&s2s_code).contains(&"/grant_types/0".to_owned()));

    let implicit = create(
        &s,
        &token,
        json!({"client_name": "web", "type": "web", "redirect_uris": ["https://a.example/cb"], "response_types": ["code", "code id_token"]}),
    );
    assert_eq!(problem_pointers(&implicit), vec!["/response_types/1"]);
    let hybrid = create(
        &s,
        &token,
        json!({"client_name": "web", "type": "web", "redirect_uris": ["https://a.example/cb"], "grant_types": ["authorization_code", "implicit"], "response_types": ["code", "code id_token"]}),
    );
    assert_eq!(hybrid.status(), 201, "{:?}", body_json(&hybrid));

    let no_pkce = create(
        &s,
        &token,
        json!({"client_name": "n", "type": "native", "redirect_uris": ["com.example.app:/cb"], "require_pkce": false}),
    );
    assert_eq!(problem_pointers(&no_pkce), vec!["/require_pkce"]);
    let native = create(
        &s,
        &token,
        json!({"client_name": "n", "type": "native", "redirect_uris": ["com.example.app:/cb", "http://127.0.0.1/cb"]}),
    );
    assert_eq!(native.status(), 201, "{:?}", body_json(&native));
    let web_custom = create(
        &s,
        &token,
        json!({"client_name": "w2", "type": "web", "redirect_uris": ["com.example.app:/cb"]}),
    );
    assert_eq!(problem_pointers(&web_custom), vec!["/redirect_uris/0"]);
}

#[test]
fn limits_from_the_reference_texts() {
    let s = Scenario::default();
    let token = s.bearer(None);
    let metadata: serde_json::Map<String, Value> =
        (0..11).map(|i| (format!("k{i}"), json!("v"))).collect();
    let response = create(
        &s,
        &token,
        json!({
            "client_name": "bad name!",
            "type": "s2s",
            "description": "x".repeat(121),
            "access_token_lifetime": 59,
            "refresh_token_lifetime": 86_400 * 366,
            "metadata": metadata,
            "unknown": 1,
            "enabled": "yes",
        }),
    );
    assert_eq!(response.status(), 400);
    let pointers = problem_pointers(&response);
    for expected in [
        "/client_name",
        "/description",
        "/access_token_lifetime",
        "/refresh_token_lifetime",
        "/metadata",
        "/unknown",
        "/enabled",
    ] {
        assert!(pointers.contains(&expected.to_owned()), "{expected} in {pointers:?}");
    }
    let long_value = create(
        &s,
        &token,
        json!({"client_name": "ok", "type": "s2s", "metadata": {"k": "v".repeat(257)}}),
    );
    assert_eq!(problem_pointers(&long_value), vec!["/metadata/k"]);
    let defaults = body_json(&create(
        &s,
        &token,
        json!({"client_name": "ok", "type": "web", "redirect_uris": ["https://a.example/cb"]}),
    ));
    assert_eq!(defaults["access_token_lifetime"], 3600);
    assert_eq!(defaults["refresh_token_lifetime"], 30 * 86_400);
}

#[test]
fn names_are_unique_case_insensitively_and_free_again_after_delete() {
    let s = Scenario::default();
    let token = s.bearer(None);
    let first = body_json(&create(&s, &token, json!({"client_name": "Orders", "type": "s2s"})));
    let clash = create(&s, &token, json!({"client_name": "orders", "type": "s2s"}));
    assert_eq!(clash.status(), 409);
    assert_eq!(problem_pointers(&clash), vec!["/client_name"]);
    let id = first["client_id"].as_str().unwrap();
    assert_eq!(
        s.admin(Method::DELETE, &format!("/admin/v1/apps/{id}"), &token, None, &[]).status(),
        204
    );
    assert_eq!(
        s.admin(Method::GET, &format!("/admin/v1/apps/{id}"), &token, None, &[]).status(),
        404
    );
    assert_eq!(create(&s, &token, json!({"client_name": "orders", "type": "s2s"})).status(), 201);
}

#[test]
fn if_match_stops_a_lost_update() {
    let s = Scenario::default();
    let token = s.bearer(None);
    let app = body_json(&create(&s, &token, json!({"client_name": "svc", "type": "s2s"})));
    let path = format!("/admin/v1/apps/{}", app["client_id"].as_str().unwrap());
    let first = s.admin(
        Method::PATCH,
        &path,
        &token,
        Some(json!({"description": "first"})),
        &[("if-match", "\"1\"")],
    );
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["etag"], "\"2\"");
    let second = s.admin(
        Method::PATCH,
        &path,
        &token,
        Some(json!({"description": "second"})),
        &[("if-match", "\"1\"")],
    );
    assert_eq!(second.status(), 412);
    let current = body_json(&s.admin(Method::GET, &path, &token, None, &[]));
    assert_eq!(current["description"], "first");
}

#[test]
fn patch_merges_and_put_replaces() {
    let s = Scenario::default();
    let token = s.bearer(None);
    let app = body_json(&create(
        &s,
        &token,
        json!({"client_name": "w", "type": "web", "redirect_uris": ["https://a.example/cb"], "description": "d", "logo_uri": "https://a.example/logo.png"}),
    ));
    let path = format!("/admin/v1/apps/{}", app["client_id"].as_str().unwrap());
    let patched = body_json(&s.admin(
        Method::PATCH,
        &path,
        &token,
        Some(json!({"logo_uri": null, "first_party": true})),
        &[],
    ));
    assert!(patched.get("logo_uri").is_none());
    assert_eq!(patched["first_party"], true);
    assert_eq!(patched["description"], "d");
    let replaced = s.admin(
        Method::PUT,
        &path,
        &token,
        Some(json!({"client_name": "w", "type": "web", "redirect_uris": ["https://b.example/cb"]})),
        &[],
    );
    assert_eq!(replaced.status(), 200, "{:?}", body_json(&replaced));
    let replaced = body_json(&replaced);
    assert!(replaced.get("description").is_none());
    assert_eq!(replaced["first_party"], false);
    assert_eq!(replaced["client_id"], app["client_id"]);
    let changed_type = s.admin(Method::PATCH, &path, &token, Some(json!({"type": "spa"})), &[]);
    assert_eq!(problem_pointers(&changed_type), vec!["/type"]);
    let changed_id = s.admin(Method::PATCH, &path, &token, Some(json!({"client_id": "mine"})), &[]);
    assert_eq!(problem_pointers(&changed_id), vec!["/client_id"]);
}

#[test]
fn switching_to_a_public_method_drops_the_secret() {
    let s = Scenario::default();
    let token = s.bearer(None);
    let app = body_json(&create(
        &s,
        &token,
        json!({"client_name": "d", "type": "device", "token_endpoint_auth_method": "client_secret_basic"}),
    ));
    assert!(app.get("client_secret").is_some());
    let path = format!("/admin/v1/apps/{}", app["client_id"].as_str().unwrap());
    s.admin(Method::PATCH, &path, &token, Some(json!({"token_endpoint_auth_method": "none"})), &[]);
    let reset = s.admin(Method::POST, &format!("{path}/secret"), &token, None, &[]);
    assert_eq!(reset.status(), 400);
}

#[test]
fn listing_pages_through_every_app() {
    let s = Scenario::default();
    let token = s.bearer(None);
    for i in 0..5 {
        assert_eq!(
            create(&s, &token, json!({"client_name": format!("app_{i}"), "type": "s2s"})).status(),
            201
        );
    }
    let mut names = Vec::new();
    let mut path = "/admin/v1/apps?limit=2".to_owned();
    loop {
        let page = body_json(&s.admin(Method::GET, &path, &token, None, &[]));
        names.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["client_name"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/admin/v1/apps?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    names.sort();
    assert_eq!(names, ["app_0", "app_1", "app_2", "app_3", "app_4"]);
    let bad = s.admin(Method::GET, "/admin/v1/apps?limit=0", &token, None, &[]);
    assert_eq!(bad.status(), 400);
}

#[test]
fn bad_bodies_get_problem_details() {
    let s = Scenario::default();
    let token = s.bearer(None);
    let send = |content_type: &str, body: &[u8]| {
        s.send(
            http::Request::post("/admin/v1/apps")
                .header("authorization", format!("Bearer {token}"))
                .header("content-type", content_type)
                .body(body.to_vec())
                .unwrap(),
        )
    };
    assert_eq!(send("application/json", b"{not json").status(), 400);
    assert_eq!(send("application/json", b"[1]").status(), 400);
    assert_eq!(send("text/plain", b"{}").status(), 415);
    assert_eq!(send("application/json", &vec![b' '; 70 * 1024]).status(), 413);
    for response in [send("application/json", b"{not json"), send("text/plain", b"{}")] {
        assert_eq!(response.headers()["content-type"], "application/problem+json");
        assert!(body_json(&response)["detail"].is_string());
    }
}

#[test]
fn debug_of_records_redacts_secrets() {
    use gatehouse_core::model::app::AppRecord;
    use gatehouse_core::model::user::UserRecord;
    use gatehouse_core::store::Registry;
    let s = Scenario::default();
    let token = s.bearer(None);
    let app = body_json(&s.admin(
        Method::POST,
        "/admin/v1/apps",
        &token,
        Some(json!({"client_name": "debugged", "type": "s2s"})),
        &[],
    ));
    let user = body_json(&s.admin(
        Method::POST,
        "/admin/v1/users",
        &token,
        Some(
            json!({"username": "ada", "password": "analytical engine", "email": "ada@example.com"}),
        ),
        &[],
    ));
    let registry = &s.engine.platform().registry;
    let read = |key: String| pollster::block_on(registry.read(&key)).unwrap().unwrap().record;
    let app_record: AppRecord =
        serde_json::from_value(read(format!("apps/{}", app["client_id"].as_str().unwrap())))
            .unwrap();
    let user_record: UserRecord =
        serde_json::from_value(read(format!("users/{}", user["id"].as_str().unwrap()))).unwrap();
    let digest = app_record.secret_digest.clone().unwrap();
    let hash = user_record.password_hash.clone().unwrap();
    let (app_debug, user_debug) = (format!("{app_record:?}"), format!("{user_record:?}"));
    assert!(app_debug.contains("debugged") && app_debug.contains("has_secret: true"));
    assert!(!app_debug.contains(&digest), "{app_debug}");
    assert!(user_debug.contains("ada") && user_debug.contains("has_password: true"));
    assert!(!user_debug.contains(&hash) && !user_debug.contains("argon2"), "{user_debug}");
    assert!(!user_debug.contains("ada@example.com"), "claims stay out of logs");
}
