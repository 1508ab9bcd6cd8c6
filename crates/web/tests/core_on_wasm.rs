//! The core's parsers and sealing, compiled to wasm32 and run in a JS host (Node),
//! where the browser package and the worker run them.

#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use gatehouse_core::http::{FormError, parse_form};
use gatehouse_core::jose::{CompactJws, JwsError, KeyId, b64url};
use gatehouse_core::keys::Kek;
use gatehouse_core::types::{IssuerUrl, ScopeSet};
use wasm_bindgen_test::wasm_bindgen_test;

/// A counter rng: enough for nonces in a test, never for production.
struct CounterRng(u64);

impl rand_core::RngCore for CounterRng {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 += 1;
        self.0
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for b in dest.iter_mut() {
            *b = self.next_u64() as u8;
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rand_core::CryptoRng for CounterRng {}

#[wasm_bindgen_test]
fn version_is_answered() {
    let version = gatehouse_web::Core::new().step("version", 0, "", None, None);
    assert_eq!(version, Ok(gatehouse_web::Out::Text(env!("CARGO_PKG_VERSION").to_owned())));
}

#[wasm_bindgen_test]
fn form_parsing_is_strict() {
    let mut headers = http::HeaderMap::new();
    headers
        .insert(http::header::CONTENT_TYPE, "application/x-www-form-urlencoded".parse().unwrap());
    let form = parse_form(&headers, b"grant_type=client_credentials&scope=a+b").unwrap();
    assert_eq!(form.get("scope"), Some("a b"));
    assert_eq!(parse_form(&headers, b"a=1&a=2"), Err(FormError::Duplicate("a".into())));
    assert_eq!(parse_form(&headers, b"a=%ff"), Err(FormError::NotUtf8));
}

#[wasm_bindgen_test]
fn scopes_and_issuers() {
    assert_eq!(ScopeSet::parse("b a").unwrap().to_string(), "a b");
    assert!(ScopeSet::parse("a  b").is_err());
    assert!(IssuerUrl::new("http://example.com").is_err());
    assert!(IssuerUrl::new("https://example.com").is_ok());
}

#[wasm_bindgen_test]
fn jws_parsing_refuses_none() {
    let token = format!("{}.{}.", b64url(br#"{"alg":"none"}"#), b64url(b"{}"));
    assert_eq!(CompactJws::parse(&token).unwrap_err(), JwsError::UnsupportedAlgorithm);
}

#[wasm_bindgen_test]
fn sealing_round_trips() {
    let kek = Kek::derive(b"a key-encryption secret of 32+ bytes").unwrap();
    let kid = KeyId::new("k1");
    let sealed = kek.seal(&kid, b"private", &mut CounterRng(0)).unwrap();
    assert_eq!(kek.open(&kid, &sealed).unwrap().expose(), b"private");
    assert!(kek.open(&KeyId::new("k2"), &sealed).is_err());
}
