//! The package's glue (the `Core` class the entry drives), compiled to wasm32 and
//! run in a JS host with WebCrypto: options in, errors out with their `code`, the
//! authorize URL, callbacks, and an ID token verified by WebCrypto.

#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use gatehouse_core::jose::{Algorithm, Jwks};
use gatehouse_core::platform::Verifier as _;
use gatehouse_web::{Core, Failure, Out};
use gatehouse_webcrypto::WebVerifier;
use js_sys::Reflect;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::wasm_bindgen_test;

const ISSUER: &str = "https://id.example.com";

const METADATA: &str = r#"{"issuer":"https://id.example.com",
  "authorization_endpoint":"https://id.example.com/authorize",
  "token_endpoint":"https://id.example.com/token",
  "jwks_uri":"https://id.example.com/.well-known/jwks.json",
  "end_session_endpoint":"https://id.example.com/logout",
  "authorization_response_iss_parameter_supported":true,
  "response_modes_supported":["query","web_message"]}"#;

/// An ES256 key and an ID token it signed (iss as above, aud `spa`, nonce `n1`,
/// expiring in 2100).
const JWKS: &str = r#"{"keys":[{"kty":"EC","x":"gCZkaKSFP5OXpD5iaBpkEXdwNRVsttlmEkJuVhnEsqM","y":"ox8ob3Zotvl6R6IyF62436Z2nG3xAXoQdhwKRs9TO5g","crv":"P-256","kid":"k1","alg":"ES256","use":"sig"}]}"#;
const ID_TOKEN: &str = "eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ1MSIsIm5vbmNlIjoibjEiLCJuYW1lIjoiQWRhIiwiaXNzIjoiaHR0cHM6Ly9pZC5leGFtcGxlLmNvbSIsImF1ZCI6InNwYSIsImlhdCI6MTcwMDAwMDAwMCwiZXhwIjo0MTAyNDQ0ODAwfQ.RzY0zij_gdUown5bM3eY-U719gr1H6iBRxK5LTE32HswmPJbOiKALDTqOhkdRIAS0pKUoDhoqZEvz-InEcPyiA";

const OPTIONS: &str = r#"{"issuer":"https://id.example.com","clientId":"spa","redirectUri":"https://app.example.com/cb","scope":"profile"}"#;

/// Runs a step with string arguments.
fn step(core: &Core, op: &str, a: &str, b: Option<&str>) -> Result<Out, Failure> {
    core.step(op, 0, a, b.map(str::to_owned), None)
}

/// A step's JSON answer as a JS value.
fn json(out: Out) -> JsValue {
    match out {
        Out::Json(text) => js_sys::JSON::parse(&text).unwrap(),
        other => panic!("not JSON: {other:?}"),
    }
}

fn text(out: Out) -> String {
    match out {
        Out::Text(text) => text,
        other => panic!("not text: {other:?}"),
    }
}

fn client() -> Core {
    let core = Core::new();
    step(&core, "configure", OPTIONS, None).unwrap();
    step(&core, "metadata", METADATA, None).unwrap();
    core
}

fn member(object: &JsValue, name: &str) -> String {
    Reflect::get(object, &name.into()).unwrap().as_string().unwrap()
}

#[wasm_bindgen_test]
fn call_answers_ok_or_error_as_json() {
    let core = Core::new();
    let ok = js_sys::JSON::parse(&core.call("configure", 0, OPTIONS, None, None)).unwrap();
    let ok = Reflect::get(&ok, &"ok".into()).unwrap();
    assert_eq!(member(&ok, "issuer"), ISSUER);
    assert_eq!(
        member(&ok, "discoveryUrl"),
        "https://id.example.com/.well-known/openid-configuration"
    );
    let error = js_sys::JSON::parse(&core.call("configure", 0, "null", None, None)).unwrap();
    assert_eq!(member(&error, "error"), "invalid_config");
    assert!(member(&error, "message").contains("options object"));
    let unknown = js_sys::JSON::parse(&core.call("nope", 0, "", None, None)).unwrap();
    assert_eq!(member(&unknown, "error"), "unknown_step");
    let none = js_sys::JSON::parse(&core.call("accessToken", 0, "", None, None)).unwrap();
    assert!(Reflect::get(&none, &"ok".into()).unwrap().is_null());
}

#[wasm_bindgen_test]
fn bad_options_are_named_errors() {
    let core = Core::new();
    let missing =
        step(&core, "configure", r#"{"issuer":"https://id.example.com"}"#, None).unwrap_err();
    assert_eq!(missing.code, "invalid_config");
    assert!(missing.message.contains("clientId"));
    let plain_http = step(
        &core,
        "configure",
        r#"{"issuer":"http://id.example.com","clientId":"spa","redirectUri":"https://app.example.com/cb"}"#,
        None,
    );
    assert_eq!(plain_http.unwrap_err().code, "invalid_config");
    // Nothing works before the client is configured.
    assert_eq!(step(&core, "metadata", METADATA, None).unwrap_err().code, "invalid_config");
}

#[wasm_bindgen_test]
fn another_issuers_metadata_is_refused() {
    let core = Core::new();
    let other = r#"{"issuer":"https://other.example.com","clientId":"spa","redirectUri":"https://app.example.com/cb"}"#;
    step(&core, "configure", other, None).unwrap();
    assert_eq!(step(&core, "metadata", METADATA, None).unwrap_err().code, "discovery_failed");
    assert_eq!(step(&core, "begin", "", None).unwrap_err().code, "discovery_failed");
}

#[wasm_bindgen_test]
fn a_login_round_trip_checks_state_and_iss() {
    let core = client();
    let started = json(step(&core, "begin", "", None).unwrap());
    let url = member(&started, "url");
    let state = member(&started, "state");
    let pending = member(&started, "pending");
    assert!(url.starts_with("https://id.example.com/authorize?response_type=code&client_id=spa"));
    assert!(url.contains("code_challenge_method=S256"));
    assert!(url.contains("scope=openid%20profile"));
    assert!(!url.contains("code_verifier"));

    let query = format!("code=c1&state={state}&iss=https%3A%2F%2Fid.example.com");
    assert_eq!(text(step(&core, "callbackState", &query, None).unwrap()), state);
    assert_eq!(step(&core, "callbackState", "code=c1", None).unwrap(), Out::Null);
    let form = text(step(&core, "callback", &query, Some(&pending)).unwrap());
    assert!(form.starts_with("grant_type=authorization_code&code=c1&"));

    let forged = step(&core, "callback", &query, None).unwrap_err();
    assert_eq!(forged.code, "state_mismatch");
    let mixed_up = format!("code=c1&state={state}&iss=https%3A%2F%2Fevil.example.com");
    assert_eq!(
        step(&core, "callback", &mixed_up, Some(&pending)).unwrap_err().code,
        "issuer_mismatch"
    );
    let denied = format!("error=access_denied&state={state}&iss=https%3A%2F%2Fid.example.com");
    assert_eq!(step(&core, "callback", &denied, Some(&pending)).unwrap_err().code, "access_denied");
}

#[wasm_bindgen_test]
fn login_options_are_checked() {
    let core = client();
    let extra = step(&core, "begin", r#"{"extraParams":{"nonce":"mine"}}"#, None).unwrap_err();
    assert_eq!(extra.code, "invalid_config");
    let started = json(step(&core, "begin", r#"{"prompt":"login","maxAge":0}"#, None).unwrap());
    let url = member(&started, "url");
    assert!(url.contains("&prompt=login") && url.contains("&max_age=0"), "{url}");
}

/// What the entry does with a check's request: WebCrypto verifies the signature it
/// names (here through the Rust WebCrypto binding), and `finish` takes the verdict.
async fn settle(core: &Core, request: Result<Out, Failure>) -> Result<JsValue, Failure> {
    let request = json(request?);
    let id = Reflect::get(&request, &"id".into()).unwrap().as_f64().unwrap() as u32;
    let alg = match member(&request, "alg").as_str() {
        "ES256" => Algorithm::ES256,
        _ => Algorithm::RS256,
    };
    let jwk = js_sys::JSON::stringify(&Reflect::get(&request, &"jwk".into()).unwrap()).unwrap();
    let key = Jwks::from_json(format!(r#"{{"keys":[{}]}}"#, String::from(jwk)).as_bytes())
        .unwrap()
        .keys
        .remove(0);
    let signature = js_sys::Uint8Array::new(&Reflect::get(&request, &"signature".into()).unwrap());
    let input = member(&request, "input");
    let valid =
        WebVerifier.verify(&key, alg, input.as_bytes(), &signature.to_vec()).await.unwrap_or(false);
    core.step("finish", id, if valid { "valid" } else { "" }, None, None).map(json)
}

fn verify(core: &Core, token: &str, nonce: Option<&str>) -> Result<Out, Failure> {
    core.step("verifyIdToken", 0, token, nonce.map(str::to_owned), None)
}

#[wasm_bindgen_test]
async fn an_id_token_is_verified_with_webcrypto() {
    let core = client();
    step(&core, "jwks", JWKS, None).unwrap();
    let claims = settle(&core, verify(&core, ID_TOKEN, Some("n1"))).await.unwrap();
    assert_eq!(member(&claims, "sub"), "u1");
    assert_eq!(member(&claims, "name"), "Ada");

    let error = settle(&core, verify(&core, ID_TOKEN, Some("n2"))).await.unwrap_err();
    assert_eq!(error.code, "invalid_id_token");
    assert!(error.message.contains("nonce"));

    let mut forged = ID_TOKEN.to_owned();
    forged.replace_range(forged.len() - 4.., "AAAA");
    let error = settle(&core, verify(&core, &forged, None)).await.unwrap_err();
    assert!(error.message.contains("signature"));
}

#[wasm_bindgen_test]
fn a_verdict_applies_only_to_the_check_it_answers() {
    let core = client();
    step(&core, "jwks", JWKS, None).unwrap();
    let request = json(verify(&core, ID_TOKEN, None).unwrap());
    let id = Reflect::get(&request, &"id".into()).unwrap().as_f64().unwrap() as u32;
    let finish = |id, verdict: &str| core.step("finish", id, verdict, None, None);
    assert_eq!(finish(id + 1, "valid").unwrap_err().code, "invalid_id_token");
    let refused = finish(id, "").unwrap_err();
    assert!(refused.message.contains("signature"));
    // A check is finished once.
    assert_eq!(finish(id, "valid").unwrap_err().code, "invalid_id_token");
}

#[wasm_bindgen_test]
fn no_session_means_no_token() {
    let core = client();
    assert_eq!(step(&core, "accessToken", "", None).unwrap(), Out::Null);
    assert_eq!(step(&core, "claims", "", None).unwrap(), Out::Null);
    assert_eq!(step(&core, "importSession", "{not json", None).unwrap(), Out::Bool(false));
    assert_eq!(step(&core, "refreshForm", "", None).unwrap(), Out::Null);
    let logout = text(step(&core, "logoutUrl", "", None).unwrap());
    assert_eq!(logout, "https://id.example.com/logout?client_id=spa");
}
