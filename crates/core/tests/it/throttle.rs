//! Throttling failed client authentication at the token endpoint: after
//! `MAX_FAILURES` failures of one client from one address, even the right secret
//! waits out the penalty; other clients and addresses are unaffected, and traffic
//! that authenticates makes no store call for the throttle.

use gatehouse_core::client_auth::throttle::{FIRST_PENALTY_SECS, MAX_FAILURES, SOURCE_HEADER};
use gatehouse_testkit::{ADMIN_ID, ADMIN_SECRET, Scenario, body_json};
use http::{HeaderValue, Method, header};
use serde_json::json;

/// A client credentials request with Basic credentials from `address`.
fn token_from(
    s: &Scenario,
    address: Option<&str>,
    id: &str,
    secret: &str,
) -> http::Response<Vec<u8>> {
    let raw = base64_basic(id, secret);
    let mut builder = http::Request::builder()
        .method(Method::POST)
        .uri("/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::AUTHORIZATION, raw);
    if let Some(address) = address {
        builder = builder.header(SOURCE_HEADER, address);
    }
    s.send(builder.body(b"grant_type=client_credentials".to_vec()).unwrap())
}

fn base64_basic(id: &str, secret: &str) -> HeaderValue {
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    HeaderValue::from_str(&format!("Basic {raw}")).unwrap()
}

fn s2s_app(s: &Scenario, name: &str) -> (String, String) {
    let token = s.bearer(None);
    let body = json!({"client_name": name, "type": "s2s"});
    let response = s.admin(Method::POST, "/admin/v1/apps", &token, Some(body), &[]);
    assert_eq!(response.status(), 201);
    let app = body_json(&response);
    (
        app["client_id"].as_str().unwrap().to_owned(),
        app["client_secret"].as_str().unwrap().to_owned(),
    )
}

fn retry_after(response: &http::Response<Vec<u8>>) -> u64 {
    response.headers()[header::RETRY_AFTER].to_str().unwrap().parse().unwrap()
}

const ATTACKER: Option<&str> = Some("198.51.100.23");
const ELSEWHERE: Option<&str> = Some("2001:db8:77::1");

#[test]
fn after_the_threshold_even_the_right_secret_waits_out_the_penalty() {
    let s = Scenario::default();
    let (id, secret) = s2s_app(&s, "guessed_job");
    for i in 1..MAX_FAILURES {
        let response = token_from(&s, ATTACKER, &id, &format!("guess-{i}"));
        assert_eq!(response.status(), 401, "failure {i}");
        assert_eq!(body_json(&response)["error"], "invalid_client");
    }
    // The failure that reaches the threshold is answered 429 already.
    let response = token_from(&s, ATTACKER, &id, "guess-last");
    assert_eq!(response.status(), 429);
    assert_eq!(body_json(&response)["error"], "temporarily_unavailable");
    assert_eq!(retry_after(&response), FIRST_PENALTY_SECS);
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");

    // Now even the right secret is refused, without being checked, until the end.
    s.clock.advance(FIRST_PENALTY_SECS - 1);
    let response = token_from(&s, ATTACKER, &id, &secret);
    assert_eq!(response.status(), 429);
    assert_eq!(retry_after(&response), 1);
    assert_eq!(response.headers()["access-control-allow-origin"], "*");

    // Another address, and another client from the same address, are unaffected.
    assert_eq!(token_from(&s, ELSEWHERE, &id, &secret).status(), 200);
    assert_eq!(token_from(&s, ATTACKER, ADMIN_ID, ADMIN_SECRET).status(), 200);

    // Once the penalty ends the right secret works; the next wrong guess in the
    // window doubles the penalty.
    s.clock.advance(1);
    assert_eq!(token_from(&s, ATTACKER, &id, &secret).status(), 200);
    let response = token_from(&s, ATTACKER, &id, "guess-again");
    assert_eq!(response.status(), 429);
    assert_eq!(retry_after(&response), 2 * FIRST_PENALTY_SECS);
    let log = s.take_diagnostics();
    assert!(log.iter().any(|l| l.contains("penalized")), "{log:?}");
}

#[test]
fn a_penalized_pair_is_refused_without_a_store_call() {
    let s = Scenario::default();
    for i in 0..MAX_FAILURES {
        token_from(&s, ATTACKER, ADMIN_ID, &format!("guess-{i}"));
    }
    // With every counter call failing, the isolate still knows the penalty.
    s.engine.platform().counters.outage.set(true);
    s.take_diagnostics();
    let response = token_from(&s, ATTACKER, ADMIN_ID, ADMIN_SECRET);
    assert_eq!(response.status(), 429);
    let log = s.take_diagnostics();
    assert!(log.iter().all(|l| !l.contains("not counted")), "{log:?}");
    // And a client that authenticates makes no counter call either.
    let response = token_from(&s, ELSEWHERE, ADMIN_ID, ADMIN_SECRET);
    assert_eq!(response.status(), 200);
    assert_eq!(s.deferred_failures(), 0);
    assert!(s.take_diagnostics().is_empty());
}

#[test]
fn failures_are_counted_per_client_and_address_in_a_window() {
    let s = Scenario::default();
    // Failures spread over more than the window never add up to a penalty.
    for i in 0..2 * MAX_FAILURES {
        let response = token_from(&s, ATTACKER, ADMIN_ID, &format!("slow-{i}"));
        assert_eq!(response.status(), 401, "failure {i}");
        s.clock.advance(gatehouse_core::client_auth::throttle::FAILURE_WINDOW_SECS / 5);
    }
    // Unknown client ids count like known ones, so the answer tells nothing.
    for i in 1..MAX_FAILURES {
        assert_eq!(token_from(&s, ATTACKER, "no-such-client", &format!("g-{i}")).status(), 401);
    }
    assert_eq!(token_from(&s, ATTACKER, "no-such-client", "g-last").status(), 429);
    // Without CF-Connecting-IP (local runs), one fixed address stands in.
    for i in 1..MAX_FAILURES {
        assert_eq!(token_from(&s, None, ADMIN_ID, &format!("n-{i}")).status(), 401);
    }
    assert_eq!(token_from(&s, None, ADMIN_ID, "n-last").status(), 429);
    assert_eq!(token_from(&s, None, ADMIN_ID, ADMIN_SECRET).status(), 429);
    assert_eq!(token_from(&s, ATTACKER, ADMIN_ID, ADMIN_SECRET).status(), 200);
}

#[test]
fn a_counter_outage_leaves_the_answer_as_it_was() {
    let s = Scenario::default();
    s.engine.platform().counters.outage.set(true);
    for i in 0..=MAX_FAILURES {
        let response = token_from(&s, ATTACKER, ADMIN_ID, &format!("guess-{i}"));
        assert_eq!(response.status(), 401);
    }
    let log = s.take_diagnostics();
    assert!(log.iter().any(|l| l.contains("not counted")), "{log:?}");
    s.engine.platform().counters.outage.set(false);
    assert_eq!(token_from(&s, ATTACKER, ADMIN_ID, ADMIN_SECRET).status(), 200);
}

#[test]
fn engines_built_per_request_share_the_hosts_penalty_box() {
    use std::rc::Rc;

    use gatehouse_core::client_auth::throttle::{Attempt, PenaltyBox};
    use gatehouse_core::types::ClientId;

    // The worker builds an engine per request and hands each the isolate's box.
    let penalties = Rc::new(PenaltyBox::new());
    let s = Scenario::default();
    let mut headers = http::HeaderMap::new();
    headers.insert(SOURCE_HEADER, HeaderValue::from_static("198.51.100.23"));
    let attempt = Attempt::new(&ClientId::new(ADMIN_ID).unwrap(), &headers);
    penalties.impose(attempt, s.clock.now().plus(30), s.clock.now());
    let config = gatehouse_core::Config::from_vars(|name| match name {
        "ISSUER" => Some(gatehouse_testkit::ISSUER.to_owned()),
        "KEY_ENCRYPTION_SECRET" => Some(gatehouse_testkit::TEST_KEK.to_owned()),
        "ADMIN_CLIENT_ID" => Some(ADMIN_ID.to_owned()),
        "ADMIN_CLIENT_SECRET" => Some(ADMIN_SECRET.to_owned()),
        _ => None,
    })
    .unwrap();
    let engine = gatehouse_core::Engine::new(config, gatehouse_testkit::MemoryPlatform::default())
        .with_penalty_box(Rc::clone(&penalties));
    let request = http::Request::builder()
        .method(Method::POST)
        .uri("/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::AUTHORIZATION, base64_basic(ADMIN_ID, ADMIN_SECRET))
        .header(SOURCE_HEADER, "198.51.100.23")
        .body(b"grant_type=client_credentials".to_vec())
        .unwrap();
    let mut rng = gatehouse_testkit::seeded_rng(7);
    let mut cx = gatehouse_core::Context::new(s.clock.now(), &mut rng);
    let response = pollster::block_on(engine.handle(request, &mut cx));
    assert_eq!(response.status(), 429, "the penalty outlived the engine that learned it");
    assert_eq!(retry_after(&response), 30);
}
