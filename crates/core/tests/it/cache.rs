//! The isolate's read cache on the token endpoint's hot path: what it saves, and
//! that a change still reaches the token endpoint within its bound.

use gatehouse_core::cache::{KEYRING_TTL_SECS, RECORD_TTL_SECS};
use gatehouse_core::store::schema;
use gatehouse_core::store::{Directory, Versioned};
use gatehouse_testkit::{Scenario, body_json};

use crate::admin_directory::{s2s, token_status};
use http::Method;
use serde_json::json;

#[test]
fn the_token_endpoint_reads_the_directory_once_per_ttl() {
    let s = Scenario::default();
    let t = s.bearer(None);
    let (id, secret) = s2s(&s, &t, "cached_job");
    let directory = s.engine.platform().directory.origin();
    assert_eq!(token_status(&s, &id, &secret), 200);
    let reads = directory.reads.get();
    for _ in 0..20 {
        assert_eq!(token_status(&s, &id, &secret), 200);
    }
    assert_eq!(directory.reads.get(), reads, "the app and the keyring come from the cache");
    s.clock.advance(RECORD_TTL_SECS);
    assert_eq!(token_status(&s, &id, &secret), 200);
    assert_eq!(directory.reads.get(), reads + 1, "the app is read again, the keyring not yet");
    s.clock.advance(KEYRING_TTL_SECS);
    assert_eq!(token_status(&s, &id, &secret), 200);
    assert_eq!(directory.reads.get(), reads + 3, "the app and the keyring are read again");
}

#[test]
fn an_unknown_client_is_asked_for_each_time() {
    let s = Scenario::default();
    let directory = s.engine.platform().directory.origin();
    assert_eq!(token_status(&s, "nobody", "a-secret"), 401);
    let reads = directory.reads.get();
    assert_eq!(token_status(&s, "nobody", "a-secret"), 401);
    assert_eq!(directory.reads.get(), reads + 1, "what the directory lacks is not kept");
}

#[test]
fn a_disable_in_this_isolate_is_refused_at_once() {
    let s = Scenario::default();
    let t = s.bearer(None);
    let (id, secret) = s2s(&s, &t, "cached_job");
    assert_eq!(token_status(&s, &id, &secret), 200);
    let disabled = s.admin(Method::POST, &format!("/admin/v1/apps/{id}/disable"), &t, None, &[]);
    assert_eq!(disabled.status(), 200);
    assert_eq!(token_status(&s, &id, &secret), 401);
}

#[test]
fn a_disable_from_another_isolate_is_refused_within_the_bound() {
    let s = Scenario::default();
    let t = s.bearer(None);
    let (id, secret) = s2s(&s, &t, "cached_job");
    assert_eq!(token_status(&s, &id, &secret), 200);
    // Another isolate's management call published a disabled app to the directory.
    let directory = s.engine.platform().directory.origin();
    let key = format!("apps/{id}");
    let bytes = pollster::block_on(directory.get(&key)).unwrap().unwrap();
    let mut published: Versioned = serde_json::from_slice(&bytes).unwrap();
    published.version += 1;
    published.record["enabled"] = json!(false);
    pollster::block_on(directory.put(&key, &serde_json::to_vec(&published).unwrap())).unwrap();

    s.clock.advance(RECORD_TTL_SECS - 1);
    assert_eq!(token_status(&s, &id, &secret), 200, "this isolate's copy is still fresh");
    s.clock.advance(1);
    assert_eq!(token_status(&s, &id, &secret), 401, "refused once the copy expired");
}

#[test]
fn a_keyring_rotated_elsewhere_is_seen_within_the_bound() {
    let s = Scenario::default();
    let jwks = |s: &Scenario| body_json(&s.get("/.well-known/jwks.json"))["keys"].clone();
    assert_eq!(jwks(&s).as_array().unwrap().len(), 2);
    let directory = s.engine.platform().directory.origin();
    assert!(pollster::block_on(directory.get(schema::KEYRING)).unwrap().is_some());
    pollster::block_on(gatehouse_core::store::KeyVault::rotate(
        &s.engine.platform().keys,
        s.clock.now(),
    ))
    .unwrap();
    assert_eq!(jwks(&s).as_array().unwrap().len(), 2, "the isolate's copy is still fresh");
    s.clock.advance(KEYRING_TTL_SECS);
    assert_eq!(jwks(&s).as_array().unwrap().len(), 4, "the next keys are published");
}
