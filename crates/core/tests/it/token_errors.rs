//! Bad input at the token endpoint: always a clear RFC 6749 error, never a panic.

use gatehouse_testkit::{Scenario, body_json};
use http::{Method, header};

fn raw(
    s: &Scenario,
    method: Method,
    content_type: Option<&str>,
    body: &[u8],
) -> http::Response<Vec<u8>> {
    let mut builder = http::Request::builder().method(method).uri("/token");
    if let Some(ct) = content_type {
        builder = builder.header(header::CONTENT_TYPE, ct);
    }
    s.send(builder.body(body.to_vec()).unwrap())
}

fn assert_error(response: &http::Response<Vec<u8>>, status: u16, code: &str) {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(body_json(response)["error"], code);
}

const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

#[test]
fn missing_grant_type() {
    let s = Scenario::default();
    assert_error(
        &s.post_form("/token", "scope=a", Some(("admin-client", "admin-secret-0123456789"))),
        400,
        "invalid_request",
    );
}

#[test]
fn duplicated_parameter() {
    let s = Scenario::default();
    let response = s.post_form(
        "/token",
        "grant_type=client_credentials&grant_type=client_credentials",
        Some(("admin-client", "admin-secret-0123456789")),
    );
    assert_error(&response, 400, "invalid_request");
}

#[test]
fn wrong_content_type() {
    let s = Scenario::default();
    assert_error(
        &raw(&s, Method::POST, Some("application/json"), br#"{"grant_type":"client_credentials"}"#),
        400,
        "invalid_request",
    );
    assert_error(
        &raw(&s, Method::POST, None, b"grant_type=client_credentials"),
        400,
        "invalid_request",
    );
}

#[test]
fn oversized_body() {
    let s = Scenario::default();
    let body = format!("grant_type=client_credentials&pad={}", "a".repeat(70 * 1024));
    assert_error(&raw(&s, Method::POST, FORM, body.as_bytes()), 413, "invalid_request");
}

#[test]
fn non_utf8_body() {
    let s = Scenario::default();
    assert_error(
        &raw(&s, Method::POST, FORM, b"grant_type=client_credentials&x=\xc3\x28"),
        400,
        "invalid_request",
    );
    assert_error(
        &raw(&s, Method::POST, FORM, b"grant_type=client_credentials&x=%C3%28"),
        400,
        "invalid_request",
    );
}

#[test]
fn unknown_grant_type() {
    let s = Scenario::default();
    for grant in ["implicit", "urn:ietf:params:oauth:grant-type:jwt-bearer", "x"] {
        let response = s.post_form(
            "/token",
            &format!("grant_type={grant}"),
            Some(("admin-client", "admin-secret-0123456789")),
        );
        assert_error(&response, 400, "unsupported_grant_type");
    }
}

#[test]
fn get_on_the_token_endpoint() {
    let s = Scenario::default();
    let response = raw(&s, Method::GET, None, b"");
    assert_error(&response, 405, "invalid_request");
    assert_eq!(response.headers()[header::ALLOW], "POST, OPTIONS");
}

#[test]
fn two_authentication_methods() {
    let s = Scenario::default();
    let response = s.post_form(
        "/token",
        "grant_type=client_credentials&client_secret=admin-secret-0123456789",
        Some(("admin-client", "admin-secret-0123456789")),
    );
    assert_error(&response, 400, "invalid_request");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
    #[test]
    fn arbitrary_bodies_never_panic_or_500(body in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
        let s = Scenario::default();
        let response = raw(&s, Method::POST, FORM, &body);
        proptest::prop_assert!(response.status().as_u16() < 500);
        proptest::prop_assert!(body_json(&response).get("error").is_some());
    }
}
