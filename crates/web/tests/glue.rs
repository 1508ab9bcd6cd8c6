//! The package's glue (the `Core` class the entry drives), compiled to wasm32 and
//! run in a JS host with WebCrypto: options in, errors out with their `code`, the
//! authorize URL, callbacks, and an ID token verified by WebCrypto.

#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use gatehouse_core::jose::{Algorithm, Jwks};
use gatehouse_core::platform::Verifier as _;
use gatehouse_web::Core;
use gatehouse_webcrypto::WebVerifier;
use js_sys::{Object, Reflect};
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

fn options(pairs: &[(&str, &str)]) -> JsValue {
    let object = Object::new();
    for (name, value) in pairs {
        Reflect::set(&object, &(*name).into(), &(*value).into()).unwrap();
    }
    object.into()
}

fn client() -> Core {
    let core = Core::new(&options(&[
        ("issuer", ISSUER),
        ("clientId", "spa"),
        ("redirectUri", "https://app.example.com/cb"),
        ("scope", "profile"),
    ]))
    .unwrap();
    core.set_metadata(METADATA).unwrap();
    core
}

fn code_of(error: &JsValue) -> String {
    Reflect::get(error, &"code".into()).unwrap().as_string().unwrap()
}

fn member(object: &JsValue, name: &str) -> String {
    Reflect::get(object, &name.into()).unwrap().as_string().unwrap()
}

#[wasm_bindgen_test]
fn bad_options_are_named_errors() {
    let missing = Core::new(&options(&[("issuer", ISSUER)])).err().unwrap();
    assert_eq!(code_of(&missing), "invalid_config");
    assert!(js_sys::Error::from(missing).message().as_string().unwrap().contains("clientId"));
    let plain_http = Core::new(&options(&[
        ("issuer", "http://id.example.com"),
        ("clientId", "spa"),
        ("redirectUri", "https://app.example.com/cb"),
    ]));
    assert_eq!(code_of(&plain_http.err().unwrap()), "invalid_config");
    assert_eq!(code_of(&Core::new(&JsValue::NULL).err().unwrap()), "invalid_config");
}

#[wasm_bindgen_test]
fn another_issuers_metadata_is_refused() {
    let core = Core::new(&options(&[
        ("issuer", "https://other.example.com"),
        ("clientId", "spa"),
        ("redirectUri", "https://app.example.com/cb"),
    ]))
    .unwrap();
    assert_eq!(code_of(&core.set_metadata(METADATA).unwrap_err()), "discovery_failed");
    assert_eq!(code_of(&core.begin_login(&JsValue::UNDEFINED).unwrap_err()), "discovery_failed");
}

#[wasm_bindgen_test]
fn a_login_round_trip_checks_state_and_iss() {
    let core = client();
    let started = core.begin_login(&JsValue::UNDEFINED).unwrap();
    let url = member(&started, "url");
    let state = member(&started, "state");
    let pending = member(&started, "pending");
    assert!(url.starts_with("https://id.example.com/authorize?response_type=code&client_id=spa"));
    assert!(url.contains("code_challenge_method=S256"));
    assert!(url.contains("scope=openid%20profile"));
    assert!(!url.contains("code_verifier"));

    let query = format!("code=c1&state={state}&iss=https%3A%2F%2Fid.example.com");
    assert_eq!(Core::callback_state(&query).as_deref(), Some(state.as_str()));
    assert_eq!(core.code_for(&query, Some(pending.clone())).unwrap(), "c1");
    let form = core.code_exchange_form("c1", Some(pending.clone())).unwrap();
    assert!(form.starts_with("grant_type=authorization_code&code=c1&"));

    let forged = core.code_for(&query, None).unwrap_err();
    assert_eq!(code_of(&forged), "state_mismatch");
    let mixed_up = format!("code=c1&state={state}&iss=https%3A%2F%2Fevil.example.com");
    assert_eq!(
        code_of(&core.code_for(&mixed_up, Some(pending.clone())).unwrap_err()),
        "issuer_mismatch"
    );
    let denied = format!("error=access_denied&state={state}&iss=https%3A%2F%2Fid.example.com");
    assert_eq!(code_of(&core.code_for(&denied, Some(pending)).unwrap_err()), "access_denied");
}

#[wasm_bindgen_test]
fn extra_params_may_not_override_the_login() {
    let core = client();
    let login = Object::new();
    Reflect::set(&login, &"extraParams".into(), &options(&[("nonce", "mine")])).unwrap();
    assert_eq!(code_of(&core.begin_login(&login).unwrap_err()), "invalid_config");
}

/// What the entry does with a check's request: WebCrypto verifies the signature it
/// names (here through the Rust WebCrypto binding), and `finish` takes the verdict.
async fn settle(core: &Core, request: Result<String, JsValue>) -> Result<JsValue, JsValue> {
    let request = js_sys::JSON::parse(&request?).unwrap();
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
    core.finish(id, valid)
}

#[wasm_bindgen_test]
async fn an_id_token_is_verified_with_webcrypto() {
    let core = client();
    core.set_jwks(JWKS).unwrap();
    let claims =
        settle(&core, core.verify_id_token(ID_TOKEN, Some("n1".into()), None)).await.unwrap();
    assert_eq!(member(&claims, "sub"), "u1");
    assert_eq!(member(&claims, "name"), "Ada");

    let wrong_nonce = settle(&core, core.verify_id_token(ID_TOKEN, Some("n2".into()), None)).await;
    let error = wrong_nonce.unwrap_err();
    assert_eq!(code_of(&error), "invalid_id_token");
    assert!(js_sys::Error::from(error).message().as_string().unwrap().contains("nonce"));

    let mut forged = ID_TOKEN.to_owned();
    forged.replace_range(forged.len() - 4.., "AAAA");
    let error = settle(&core, core.verify_id_token(&forged, None, None)).await.unwrap_err();
    assert!(js_sys::Error::from(error).message().as_string().unwrap().contains("signature"));
}

#[wasm_bindgen_test]
fn a_verdict_applies_only_to_the_check_it_answers() {
    let core = client();
    core.set_jwks(JWKS).unwrap();
    let request = core.verify_id_token(ID_TOKEN, None, None).unwrap();
    let id = js_sys::JSON::parse(&request).unwrap();
    let id = Reflect::get(&id, &"id".into()).unwrap().as_f64().unwrap() as u32;
    assert_eq!(code_of(&core.finish(id + 1, true).unwrap_err()), "invalid_id_token");
    let refused = core.finish(id, false).unwrap_err();
    assert!(js_sys::Error::from(refused).message().as_string().unwrap().contains("signature"));
    // A check is finished once.
    assert_eq!(code_of(&core.finish(id, true).unwrap_err()), "invalid_id_token");
}

#[wasm_bindgen_test]
fn no_session_means_no_token() {
    let core = client();
    assert_eq!(core.access_token(), None);
    assert!(core.claims().is_null());
    assert!(!core.import_session("{not json"));
    assert_eq!(core.refresh_form(), None);
    let logout = core.logout_url().unwrap();
    assert_eq!(logout, "https://id.example.com/logout?client_id=spa");
}
