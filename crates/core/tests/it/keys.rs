//! Key lifecycle through the engine: created once, survives, rotates without breaking
//! verifiers, and is read through a stale directory.

use gatehouse_core::jose::{Algorithm, Jwks};
use gatehouse_core::keys::{Kek, Keyring, PUBLISH_AFTER_SECS, PUBLISH_AHEAD_SECS};
use gatehouse_core::store::KeyVault;
use gatehouse_core::verify::{AccessTokenPolicy, verify_access_token};
use gatehouse_testkit::{NativeCrypto, Scenario, TEST_KEK, body_json, seeded_rng};

fn jwks(s: &Scenario) -> Jwks {
    serde_json::from_slice(s.get("/.well-known/jwks.json").body()).unwrap()
}

#[test]
fn keys_are_created_once_and_reused() {
    let s = Scenario::default();
    let first = jwks(&s);
    s.admin_token(None);
    assert_eq!(jwks(&s), first);
    assert_eq!(s.engine.platform().keys.generated.get(), 1);
}

#[test]
fn a_stale_directory_still_finds_the_keys_through_the_vault() {
    let s = Scenario::default();
    pollster::block_on(s.engine.platform().directory.freeze());
    // The snapshot predates the keyring: the read path falls back to the single writer.
    let first = jwks(&s);
    assert_eq!(first.keys.len(), 2);
    assert_eq!(jwks(&s), first);
    assert_eq!(s.engine.platform().keys.generated.get(), 1);
}

#[test]
fn rotation_publishes_ahead_and_keeps_the_previous_key() {
    let s = Scenario::default();
    let token = body_json(&s.admin_token(None))["access_token"].as_str().unwrap().to_owned();
    let before = jwks(&s);
    pollster::block_on(s.engine.platform().keys.rotate(s.clock.now())).unwrap();
    let during = jwks(&s);
    assert_eq!(during.keys.len(), 4, "next keys are published before they sign");
    // Until the switch the old key still signs.
    let still_old = body_json(&s.admin_token(None))["access_token"].as_str().unwrap().to_owned();
    let kid = |t: &str| gatehouse_core::verify::peek_kid(t).unwrap();
    assert!(before.find(&kid(&still_old)).is_some());
    s.clock.advance(PUBLISH_AHEAD_SECS);
    let new = body_json(&s.admin_token(None))["access_token"].as_str().unwrap().to_owned();
    assert!(before.find(&kid(&new)).is_none(), "after the switch the new key signs");
    // A verifier that cached the JWKS during the rotation accepts both tokens.
    let policy =
        AccessTokenPolicy::new("https://id.example.test", "https://id.example.test/admin/v1");
    for t in [&token, &new] {
        pollster::block_on(verify_access_token(
            &NativeCrypto::default(),
            &during,
            &policy,
            t,
            s.clock.now(),
        ))
        .unwrap();
    }
    s.clock.advance(PUBLISH_AFTER_SECS);
    assert_eq!(jwks(&s).keys.len(), 2, "the previous keys leave once their tokens expired");
}

#[test]
fn sealed_keys_do_not_open_under_another_secret() {
    let crypto = NativeCrypto::default();
    let kek = Kek::derive(TEST_KEK.as_bytes()).unwrap();
    let now = gatehouse_core::types::UnixTime::from_secs(1);
    let ring =
        pollster::block_on(Keyring::generate(&crypto, &kek, now, &mut seeded_rng(5))).unwrap();
    assert!(ring.signing_key(Algorithm::RS256, now, &kek).is_ok());
    let other = Kek::derive(b"another secret that is long enough!!").unwrap();
    assert!(ring.signing_key(Algorithm::ES256, now, &other).is_err());
    let stored = serde_json::to_string(&ring).unwrap();
    assert!(!stored.contains("\"d\""), "no private member is stored in the clear");
}
