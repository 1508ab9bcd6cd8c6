//! Resource servers (APIs) and the audience of access tokens (RFC 8707, RFC 9068).

use gatehouse_core::jose::Jwks;
use gatehouse_core::token::{AccessTokenClaims, Audience};
use gatehouse_core::verify::{AccessTokenPolicy, verify_access_token};
use gatehouse_testkit::{NativeCrypto, Scenario, body_json};
use http::Method;
use serde_json::{Value, json};

const ISSUER: &str = "https://id.example.test";
const MANAGEMENT: &str = "https://id.example.test/admin/v1";
const ORDERS: &str = "https://orders.example.com";
const BILLING: &str = "urn:example:billing";

fn encoded(identifier: &str) -> String {
    identifier.replace(':', "%3A").replace('/', "%2F")
}

fn admin(s: &Scenario, method: Method, path: &str, body: Option<Value>) -> http::Response<Vec<u8>> {
    let token = s.bearer(None);
    s.admin(method, path, &token, body, &[])
}

/// Two APIs, each owning a confidential scope, one unowned scope, and an app
/// granted all three.
fn setup(s: &Scenario) -> Value {
    for (identifier, name, extra) in [
        (
            ORDERS,
            "Orders API",
            json!({"access_token_lifetime": 600, "access_token_signed_response_alg": "RS256"}),
        ),
        (BILLING, "Billing API", json!({})),
    ] {
        let mut body = json!({"identifier": identifier, "name": name});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let created = admin(s, Method::POST, "/admin/v1/resources", Some(body));
        assert_eq!(created.status(), 201, "{:?}", body_json(&created));
    }
    for (key, resource) in
        [("orders:read", Some(ORDERS)), ("billing:read", Some(BILLING)), ("legacy:read", None)]
    {
        let created = admin(
            s,
            Method::POST,
            "/admin/v1/scopes",
            Some(json!({"key": key, "resource": resource})),
        );
        assert_eq!(created.status(), 201, "{:?}", body_json(&created));
    }
    body_json(&admin(
        s,
        Method::POST,
        "/admin/v1/apps",
        Some(json!({"client_name": "svc", "type": "s2s",
                    "scope": "orders:read billing:read legacy:read"})),
    ))
}

fn token(s: &Scenario, app: &Value, params: &str) -> (u16, Value) {
    let response = s.post_form(
        "/token",
        &format!("grant_type=client_credentials{params}"),
        Some((app["client_id"].as_str().unwrap(), app["client_secret"].as_str().unwrap())),
    );
    (response.status().as_u16(), body_json(&response))
}

fn claims(s: &Scenario, token: &Value, audience: &str) -> AccessTokenClaims {
    let jwks: Jwks = serde_json::from_slice(s.get("/.well-known/jwks.json").body()).unwrap();
    let policy = AccessTokenPolicy::new(ISSUER, audience);
    pollster::block_on(verify_access_token(
        &NativeCrypto::default(),
        &jwks,
        &policy,
        token["access_token"].as_str().unwrap(),
        s.clock.now(),
    ))
    .unwrap()
}

#[test]
fn resources_are_listed_after_the_management_api_and_read_by_identifier() {
    let s = Scenario::default();
    setup(&s);
    let list = body_json(&admin(&s, Method::GET, "/admin/v1/resources", None));
    let identifiers: Vec<_> =
        list["items"].as_array().unwrap().iter().map(|r| r["identifier"].clone()).collect();
    assert_eq!(identifiers, [json!(MANAGEMENT), json!(ORDERS), json!(BILLING)]);
    assert_eq!(list["items"][0]["system"], true);
    assert!(list["items"][0]["scopes"].as_array().unwrap().contains(&json!("gatehouse:admin")));

    let orders = admin(&s, Method::GET, &format!("/admin/v1/resources/{}", encoded(ORDERS)), None);
    assert_eq!(orders.status(), 200);
    assert_eq!(orders.headers()["etag"], "\"1\"");
    let body = body_json(&orders);
    assert_eq!(body["scopes"], json!(["orders:read"]));
    assert_eq!(body["access_token_lifetime"], 600);
    let scope = body_json(&admin(&s, Method::GET, "/admin/v1/scopes/gatehouse%3Aadmin", None));
    assert_eq!(scope["resource"], MANAGEMENT);
}

#[test]
fn resource_validation_and_uniqueness() {
    let s = Scenario::default();
    setup(&s);
    for (body, pointer) in [
        (json!({"identifier": "https://x.example#f", "name": "X"}), "/identifier"),
        (json!({"identifier": "relative/path", "name": "X"}), "/identifier"),
        (json!({"identifier": MANAGEMENT, "name": "X"}), "/identifier"),
        (json!({"name": "X"}), "/identifier"),
        (json!({"identifier": "urn:x", "name": ""}), "/name"),
        (
            json!({"identifier": "urn:x", "name": "X", "access_token_lifetime": 5}),
            "/access_token_lifetime",
        ),
        (
            json!({"identifier": "urn:x", "name": "X", "access_token_signed_response_alg": "HS256"}),
            "/access_token_signed_response_alg",
        ),
        (json!({"identifier": "urn:x", "name": "X", "colour": "red"}), "/colour"),
    ] {
        let response = admin(&s, Method::POST, "/admin/v1/resources", Some(body.clone()));
        assert_eq!(response.status(), 400, "{body}");
        let errors = body_json(&response)["errors"].clone();
        assert!(
            errors.as_array().unwrap().iter().any(|e| e["pointer"] == pointer),
            "{body}: {errors}"
        );
    }
    let again = admin(
        &s,
        Method::POST,
        "/admin/v1/resources",
        Some(json!({"identifier": ORDERS, "name": "Other"})),
    );
    assert_eq!(again.status(), 409);
    let same_name = admin(
        &s,
        Method::POST,
        "/admin/v1/resources",
        Some(json!({"identifier": "urn:x", "name": "orders api"})),
    );
    assert_eq!(same_name.status(), 409);
    let unknown_owner = admin(
        &s,
        Method::POST,
        "/admin/v1/scopes",
        Some(json!({"key": "x:y", "resource": "urn:nope"})),
    );
    assert_eq!(unknown_owner.status(), 400);
    assert_eq!(body_json(&unknown_owner)["errors"][0]["pointer"], "/resource");
    let management_owner = admin(
        &s,
        Method::POST,
        "/admin/v1/scopes",
        Some(json!({"key": "x:y", "resource": MANAGEMENT})),
    );
    assert_eq!(management_owner.status(), 400);
    // `scopes` is derived: sent back unchanged it passes, changed it is refused.
    let orders = format!("/admin/v1/resources/{}", encoded(ORDERS));
    let same = json!({"identifier": ORDERS, "name": "Orders API", "scopes": ["orders:read"]});
    assert_eq!(admin(&s, Method::PUT, &orders, Some(same)).status(), 200);
    let other = json!({"identifier": ORDERS, "name": "Orders API", "scopes": ["billing:read"]});
    let refused = admin(&s, Method::PUT, &orders, Some(other));
    assert_eq!(refused.status(), 400);
    assert_eq!(body_json(&refused)["errors"][0]["pointer"], "/scopes");
    let system = format!("/admin/v1/resources/{}", encoded(MANAGEMENT));
    assert_eq!(admin(&s, Method::DELETE, &system, None).status(), 409);
    assert_eq!(admin(&s, Method::PATCH, &system, Some(json!({"name": "x"}))).status(), 409);
}

#[test]
fn a_resource_that_owns_scopes_cannot_be_deleted() {
    let s = Scenario::default();
    setup(&s);
    let path = format!("/admin/v1/resources/{}", encoded(BILLING));
    let refused = admin(&s, Method::DELETE, &path, None);
    assert_eq!(refused.status(), 409);
    assert!(body_json(&refused)["detail"].as_str().unwrap().contains("billing:read"));
    let moved = admin(
        &s,
        Method::PATCH,
        "/admin/v1/scopes/billing%3Aread",
        Some(json!({"resource": ORDERS})),
    );
    assert_eq!(moved.status(), 200, "{:?}", body_json(&moved));
    assert_eq!(admin(&s, Method::DELETE, &path, None).status(), 204);
    assert_eq!(admin(&s, Method::GET, &path, None).status(), 404);
}

#[test]
fn the_scopes_pick_the_audience_and_the_resource_its_lifetime_and_algorithm() {
    let s = Scenario::default();
    let app = setup(&s);
    let (status, orders) = token(&s, &app, "&scope=orders%3Aread");
    assert_eq!(status, 200, "{orders}");
    assert_eq!(orders["expires_in"], 600);
    let c = claims(&s, &orders, ORDERS);
    assert_eq!(c.aud, Audience::one(ORDERS));
    assert_eq!(c.exp.as_secs() - c.iat.as_secs(), 600);
    let header = orders["access_token"].as_str().unwrap().split('.').next().unwrap().to_owned();
    let header: Value =
        serde_json::from_slice(&gatehouse_core::jose::b64url_decode(&header).unwrap()).unwrap();
    assert_eq!(header["alg"], "RS256");

    let (_, billing) = token(&s, &app, "&scope=billing%3Aread");
    assert_eq!(claims(&s, &billing, BILLING).aud, Audience::one(BILLING));
    // A scope no resource owns gets the issuer's default audience.
    let (_, legacy) = token(&s, &app, "&scope=legacy%3Aread");
    assert_eq!(claims(&s, &legacy, ISSUER).aud, Audience::one(ISSUER));
}

#[test]
fn the_resource_parameter_names_the_audience() {
    let s = Scenario::default();
    let app = setup(&s);
    let (status, body) = token(&s, &app, &format!("&resource={}", encoded(ORDERS)));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "orders:read", "without scope: the client's scopes of the resource");
    assert_eq!(claims(&s, &body, ORDERS).aud, Audience::one(ORDERS));
    let (status, _) =
        token(&s, &app, &format!("&resource={}&scope=orders%3Aread", encoded(ORDERS)));
    assert_eq!(status, 200);

    for (params, error) in [
        (format!("&resource={}&scope=billing%3Aread", encoded(ORDERS)), "invalid_scope"),
        ("&resource=urn%3Aunknown".to_owned(), "invalid_target"),
        ("&resource=orders".to_owned(), "invalid_target"),
        ("&resource=https%3A%2F%2Forders.example.com%23x".to_owned(), "invalid_target"),
        (format!("&resource={0}&resource={0}", encoded(ORDERS)), "invalid_target"),
        // The app holds no management scope.
        (format!("&resource={}", encoded(MANAGEMENT)), "invalid_target"),
        // Without resource, scopes of two APIs (or an API and none) cannot share a token.
        ("&scope=orders%3Aread+billing%3Aread".to_owned(), "invalid_scope"),
        ("&scope=orders%3Aread+legacy%3Aread".to_owned(), "invalid_scope"),
        // And the client's scopes span three audiences.
        (String::new(), "invalid_scope"),
    ] {
        let (status, body) = token(&s, &app, &params);
        assert_eq!((status, body["error"].as_str().unwrap()), (400, error), "{params}: {body}");
    }
}

#[test]
fn management_tokens_are_for_the_management_api_only() {
    let s = Scenario::default();
    let app = setup(&s);
    // The bootstrap client keeps working without `resource`, and with it.
    let plain = body_json(&s.admin_token(Some("gatehouse:apps_read")));
    assert_eq!(claims(&s, &plain, MANAGEMENT).aud, Audience::one(MANAGEMENT));
    let named = s.post_form(
        "/token",
        &format!("grant_type=client_credentials&resource={}", encoded(MANAGEMENT)),
        Some(("admin-client", "admin-secret-0123456789")),
    );
    assert_eq!(named.status(), 200);
    // A token for another API is refused by the management API, whatever its scope.
    let (_, orders) = token(&s, &app, "&scope=orders%3Aread");
    let refused =
        s.admin(Method::GET, "/admin/v1/apps", orders["access_token"].as_str().unwrap(), None, &[]);
    assert_eq!(refused.status(), 401);
    let (_, legacy) = token(&s, &app, "&scope=legacy%3Aread");
    let refused =
        s.admin(Method::GET, "/admin/v1/apps", legacy["access_token"].as_str().unwrap(), None, &[]);
    assert_eq!(refused.status(), 401, "a token for the issuer's default audience is refused too");
}
