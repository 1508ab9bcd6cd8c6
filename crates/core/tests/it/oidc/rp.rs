//! The relying party (`gatehouse_core::rp`, what the browser package runs) against
//! the issuer in-process: the core that mints the tokens is the core that checks
//! them.

use gatehouse_core::rp::login::{self, Callback, LoginOptions, PendingLogin};
use gatehouse_core::rp::tokens::{Session, TokenResponse, refresh_form};
use gatehouse_core::rp::{ClientConfig, ProviderMetadata, RpError};
use gatehouse_core::verify::VerifyError;
use gatehouse_testkit::{Browser, NativeCrypto, body_json, seeded_rng};
use http::header;
use serde_json::json;

use super::{CALLBACK, ISSUER, World};

struct Rp {
    config: ClientConfig,
    meta: ProviderMetadata,
}

impl Rp {
    fn new(w: &World, client_id: &str) -> Self {
        let config = ClientConfig::new(ISSUER, client_id, CALLBACK, "profile offline_access")
            .unwrap()
            .with_post_logout_redirect_uri("https://app.example.test/bye")
            .unwrap();
        let discovery = w.s.get("/.well-known/openid-configuration");
        let meta = ProviderMetadata::parse(&config, std::str::from_utf8(discovery.body()).unwrap())
            .unwrap();
        Self { config, meta }
    }

    /// Starts a login and signs in through the hosted pages: the callback's query
    /// and the pending login.
    fn sign_in(&self, w: &World, seed: u64) -> (String, PendingLogin) {
        let (url, pending) = login::begin(
            &self.meta,
            &self.config,
            &LoginOptions::default(),
            &mut seeded_rng(seed),
            w.s.clock.now(),
        )
        .unwrap();
        let path = url.strip_prefix(ISSUER).unwrap();
        let redirect = w.sign_in(&Browser::new(), path);
        let location = redirect.headers()[header::LOCATION].to_str().unwrap();
        let query = location.strip_prefix(&format!("{CALLBACK}?")).unwrap().to_owned();
        (query, pending)
    }

    fn exchange(&self, w: &World, query: &str, pending: &PendingLogin) -> Result<Session, RpError> {
        let code = Callback::from_query(query)?.code_for(pending, &self.meta, w.s.clock.now())?;
        let form = login::code_exchange_form(&self.config, &code, pending);
        let answer = w.s.post_form("/token", &form, None);
        let response = TokenResponse::parse(
            answer.status().as_u16(),
            std::str::from_utf8(answer.body()).unwrap(),
        )?;
        pollster::block_on(Session::from_code_exchange(
            &NativeCrypto::default(),
            &w.jwks(),
            &self.meta,
            &self.config,
            pending,
            response,
            w.s.clock.now(),
        ))
    }
}

#[test]
fn a_spa_signs_in_and_refreshes_with_the_relying_party() {
    let w = World::new();
    let app = w.app("rp_spa", "spa", json!({ "refresh_tokens": true }));
    let rp = Rp::new(&w, &app.client_id);
    let (query, pending) = rp.sign_in(&w, 1);
    let session = rp.exchange(&w, &query, &pending).unwrap();
    assert_eq!(session.subject().as_deref(), Some(w.user_id.as_str()));
    let claims: serde_json::Value = serde_json::from_str(&session.claims).unwrap();
    assert_eq!(claims["name"], "Ada Lovelace");
    assert!(session.access_token_fresh(w.s.clock.now()));
    let refresh_token = session.refresh_token.clone().unwrap();

    w.s.clock.advance(3_600);
    assert!(!session.access_token_fresh(w.s.clock.now()));
    let answer = w.s.post_form("/token", &refresh_form(&rp.config, &refresh_token), None);
    assert_eq!(answer.status(), 200, "{:?}", body_json(&answer));
    let response = TokenResponse::parse(200, std::str::from_utf8(answer.body()).unwrap()).unwrap();
    let renewed = pollster::block_on(session.refreshed(
        &NativeCrypto::default(),
        &w.jwks(),
        &rp.meta,
        &rp.config,
        response,
        w.s.clock.now(),
    ))
    .unwrap();
    assert_eq!(renewed.subject(), session.subject());
    assert_ne!(renewed.access_token, session.access_token);
    assert_ne!(renewed.refresh_token, session.refresh_token);
    assert!(renewed.access_token_fresh(w.s.clock.now()));

    let logout = gatehouse_core::rp::logout_url(&rp.meta, &rp.config, Some(&renewed.id_token));
    let page = w.s.get(logout.unwrap().strip_prefix(ISSUER).unwrap());
    // No session cookie here, so nothing to confirm: straight back to the app.
    assert_eq!(page.status(), 303);
    assert!(
        page.headers()[header::LOCATION]
            .to_str()
            .unwrap()
            .starts_with("https://app.example.test/bye")
    );
}

#[test]
fn a_code_redeemed_for_another_login_fails_the_nonce_check() {
    let w = World::new();
    let app = w.app("rp_spa", "spa", json!({}));
    let rp = Rp::new(&w, &app.client_id);
    let (query, pending) = rp.sign_in(&w, 1);
    let (_, other) = rp.sign_in(&w, 2);
    // The callback of the first login, checked against the second login's state,
    // is refused before any code is redeemed.
    let err = rp.exchange(&w, &query, &other).unwrap_err();
    assert_eq!(err, RpError::State);
    // The first login's code redeemed with its verifier, but checked against the
    // second login's nonce: the ID token is refused.
    let mut swapped = pending.clone();
    swapped.nonce.clone_from(&other.nonce);
    let err = rp.exchange(&w, &query, &swapped).unwrap_err();
    assert_eq!(err, RpError::IdToken(VerifyError::Nonce));
    assert_eq!(err.code(), "invalid_id_token");
}
