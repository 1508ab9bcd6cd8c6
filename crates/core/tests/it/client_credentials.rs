use gatehouse_core::jose::Jwks;
use gatehouse_core::verify::{AccessTokenPolicy, verify_access_token};
use gatehouse_testkit::{NativeCrypto, Scenario, body_json};

const ISSUER: &str = "https://id.example.test";
/// The management API's identifier: the `aud` of the bootstrap client's tokens.
const MANAGEMENT: &str = "https://id.example.test/admin/v1";

fn jwks(s: &Scenario) -> Jwks {
    serde_json::from_slice(s.get("/.well-known/jwks.json").body()).unwrap()
}

fn verify(
    s: &Scenario,
    token: &str,
) -> Result<gatehouse_core::token::AccessTokenClaims, gatehouse_core::verify::VerifyError> {
    let policy = AccessTokenPolicy::new(ISSUER, MANAGEMENT);
    pollster::block_on(verify_access_token(
        &NativeCrypto::default(),
        &jwks(s),
        &policy,
        token,
        s.clock.now(),
    ))
}

#[test]
fn basic_auth_gets_an_rfc9068_token_with_every_management_scope() {
    let s = Scenario::default();
    let response = s.admin_token(None);
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    let body = body_json(&response);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    let token = body["access_token"].as_str().unwrap();
    let claims = verify(&s, token).unwrap();
    assert_eq!(claims.sub, "admin-client");
    assert_eq!(claims.client_id, "admin-client");
    assert_eq!(claims.aud, gatehouse_core::token::Audience::one(MANAGEMENT));
    assert_eq!(claims.exp.as_secs() - claims.iat.as_secs(), 3600);
    assert!(
        claims.scope.contains("gatehouse:admin") && claims.scope.contains("gatehouse:keys_write")
    );
    assert_eq!(body["scope"], claims.scope.to_string());
}

#[test]
fn post_auth_and_a_narrower_scope() {
    let s = Scenario::default();
    let response = s.post_form(
        "/token",
        "grant_type=client_credentials&client_id=admin-client&client_secret=admin-secret-0123456789&scope=gatehouse%3Aapps_read",
        None,
    );
    assert_eq!(response.status(), 200);
    let body = body_json(&response);
    assert_eq!(body["scope"], "gatehouse:apps_read");
    let claims = verify(&s, body["access_token"].as_str().unwrap()).unwrap();
    assert_eq!(claims.scope.to_string(), "gatehouse:apps_read");
}

#[test]
fn token_ids_are_unique() {
    let s = Scenario::default();
    let a = verify(&s, body_json(&s.admin_token(None))["access_token"].as_str().unwrap()).unwrap();
    let b = verify(&s, body_json(&s.admin_token(None))["access_token"].as_str().unwrap()).unwrap();
    assert_ne!(a.jti, b.jti);
}

#[test]
fn a_scope_the_client_may_not_have_is_invalid_scope() {
    let s = Scenario::default();
    for scope in ["openid", "gatehouse:admin orders:read", "bad\\scope"] {
        let response = s.admin_token(Some(scope));
        assert_eq!(response.status(), 400, "{scope}");
        assert_eq!(body_json(&response)["error"], "invalid_scope", "{scope}");
    }
}

#[test]
fn wrong_or_unknown_credentials_are_invalid_client() {
    let s = Scenario::default();
    let basic = s.post_form(
        "/token",
        "grant_type=client_credentials",
        Some(("admin-client", "wrong-secret-000000")),
    );
    assert_eq!(basic.status(), 401);
    assert!(basic.headers()["www-authenticate"].to_str().unwrap().starts_with("Basic"));
    assert_eq!(body_json(&basic)["error"], "invalid_client");
    let unknown = s.post_form(
        "/token",
        "grant_type=client_credentials",
        Some(("nobody", "admin-secret-0123456789")),
    );
    assert_eq!(unknown.status(), 401);
    assert_eq!(body_json(&unknown)["error_description"], body_json(&basic)["error_description"]);
    let post = s.post_form(
        "/token",
        "grant_type=client_credentials&client_id=admin-client&client_secret=nope",
        None,
    );
    assert_eq!(post.status(), 401);
    assert!(post.headers().get("www-authenticate").is_none());
}

#[test]
fn without_a_bootstrap_client_nobody_authenticates() {
    let s = Scenario::with_vars(&[("ADMIN_CLIENT_ID", None), ("ADMIN_CLIENT_SECRET", None)]);
    assert_eq!(s.admin_token(None).status(), 401);
}

#[test]
fn tokens_expire_on_the_clock() {
    let s = Scenario::default();
    let token = body_json(&s.admin_token(None))["access_token"].as_str().unwrap().to_owned();
    s.clock.advance(3600 + 59);
    assert!(verify(&s, &token).is_ok(), "inside the 60 s leeway");
    s.clock.advance(1);
    assert_eq!(verify(&s, &token).unwrap_err(), gatehouse_core::verify::VerifyError::Expired);
}

#[test]
fn a_store_outage_is_temporarily_unavailable_not_a_400() {
    let s = Scenario::default();
    s.engine.platform().directory.origin().outage.set(true);
    let response = s.admin_token(None);
    assert_eq!(response.status(), 503);
    let body = body_json(&response);
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(!body["error_description"].as_str().unwrap().contains("store"));
}

#[test]
fn a_public_client_is_identified_by_its_id_alone_and_may_not_use_client_credentials() {
    let s = Scenario::default();
    let token = s.bearer(None);
    let spa = s.admin(
        http::Method::POST,
        "/admin/v1/apps",
        &token,
        Some(serde_json::json!({
            "client_name": "web_spa",
            "type": "spa",
            "redirect_uris": ["https://app.example/cb"],
        })),
        &[],
    );
    assert_eq!(spa.status(), 201, "{:?}", body_json(&spa));
    let spa = body_json(&spa);
    assert_eq!(spa["token_endpoint_auth_method"], "none");
    let id = spa["client_id"].as_str().unwrap();
    let public =
        s.post_form("/token", &format!("grant_type=client_credentials&client_id={id}"), None);
    assert_eq!(public.status(), 400, "{:?}", body_json(&public));
    assert_eq!(body_json(&public)["error"], "unauthorized_client");

    // A confidential app, or an unknown id, is not authenticated by its id alone.
    let (s2s, _) = crate::admin_directory::s2s(&s, &token, "confidential_job");
    for id in [s2s.as_str(), "nobody"] {
        let bare =
            s.post_form("/token", &format!("grant_type=client_credentials&client_id={id}"), None);
        assert_eq!(bare.status(), 401, "{id}");
        assert_eq!(body_json(&bare)["error"], "invalid_client", "{id}");
    }
}
