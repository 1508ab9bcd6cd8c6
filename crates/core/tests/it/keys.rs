//! Key lifecycle through the engine: created once, survives, rotates without breaking
//! verifiers, and is read through a stale directory.

use gatehouse_core::cache::KEYRING_TTL_SECS;
use gatehouse_core::jose::{Algorithm, Jwks};
use gatehouse_core::keys::{Kek, Keyring, PUBLISH_AFTER_SECS, PUBLISH_AHEAD_SECS};
use gatehouse_core::store::KeyVault;
use gatehouse_core::store::schema;
use gatehouse_core::verify::{AccessTokenPolicy, verify_access_token};
use gatehouse_testkit::{NativeCrypto, Scenario, TEST_KEK, body_json, seeded_rng};
use http::Method;

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
    rotate_elsewhere(&s);
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
    let opens = |kek: &Kek| {
        ring.signing_key(Algorithm::ES256, now, kek).unwrap().with_private(|_| ()).is_ok()
    };
    assert!(opens(&kek));
    assert!(opens(&kek), "opened for each use, never kept open");
    let other = Kek::derive(b"another secret that is long enough!!").unwrap();
    assert!(!opens(&other));
    let stored = serde_json::to_string(&ring).unwrap();
    assert!(!stored.contains("\"d\""), "no private member is stored in the clear");
}

#[test]
fn repeated_rotation_keeps_the_jwks_bounded() {
    use gatehouse_core::keys::MAX_KEYS_PER_ALG;
    let s = Scenario::default();
    let _ = jwks(&s);
    // Every ten minutes for over three hours, each key signing before the next
    // rotation (so every one is still needed without the cap), then a burst of
    // rotations a second apart.
    for _ in 0..20 {
        s.clock.advance(600);
        let token = s.bearer(Some("gatehouse:keys_write"));
        let rotated = s.admin(Method::POST, "/admin/v1/keys/rotate", &token, None, &[]);
        assert_eq!(rotated.status(), 200);
    }
    for _ in 0..3 {
        s.clock.advance(1);
        rotate_elsewhere(&s);
    }
    let document = s.get("/.well-known/jwks.json");
    let published: Jwks = serde_json::from_slice(document.body()).unwrap();
    assert!(
        published.keys.len() <= 2 * MAX_KEYS_PER_ALG,
        "{} keys published after 23 rotations",
        published.keys.len()
    );
    assert!(document.body().len() < 16 * 1024, "the JWKS stays far below 64 KiB");
    // Tokens keep working through it all.
    s.clock.advance(PUBLISH_AHEAD_SECS);
    let fresh = s.bearer(None);
    let kid = gatehouse_core::verify::peek_kid(&fresh).unwrap();
    assert!(jwks(&s).find(&kid).is_some());
}

#[test]
fn a_next_key_that_never_signed_leaves_when_a_rotation_replaces_it() {
    let s = Scenario::default();
    let first = jwks(&s);
    rotate_elsewhere(&s);
    let pending = jwks(&s);
    s.clock.advance(10);
    rotate_elsewhere(&s);
    let now = jwks(&s);
    assert_eq!(now.keys.len(), 4, "current keys and the newest next keys");
    for key in &pending.keys {
        let kid = key.kid.as_ref().unwrap().as_str();
        let was_next = first.find(kid).is_none();
        assert_eq!(now.find(kid).is_some(), !was_next, "{kid}");
    }
    // The current key keeps signing until the newest next key takes over.
    let token = s.bearer(None);
    let kid = gatehouse_core::verify::peek_kid(&token).unwrap();
    assert!(first.find(&kid).is_some());
}

fn key_list(s: &Scenario, token: &str) -> Vec<serde_json::Value> {
    let listed = s.admin(Method::GET, "/admin/v1/keys", token, None, &[]);
    body_json(&listed)["keys"].as_array().unwrap().clone()
}

#[test]
fn revoking_a_key_withdraws_it_at_once_and_signing_never_stops() {
    let s = Scenario::default();
    let admin = s.bearer(None);
    let old = s.bearer(Some("gatehouse:keys_read"));
    let signing = gatehouse_core::verify::peek_kid(&old).unwrap();

    let reader = s.bearer(Some("gatehouse:keys_read"));
    let path = format!("/admin/v1/keys/{signing}/revoke");
    assert_eq!(s.admin(Method::POST, &path, &reader, None, &[]).status(), 403);
    let unknown = s.admin(Method::POST, "/admin/v1/keys/no-such-kid/revoke", &admin, None, &[]);
    assert_eq!(unknown.status(), 404);
    assert_eq!(unknown.headers()["content-type"], "application/problem+json");
    assert_eq!(s.admin(Method::GET, &path, &admin, None, &[]).status(), 405);

    let revoked = s.admin(Method::POST, &path, &admin, None, &[]);
    assert_eq!(revoked.status(), 200, "{:?}", body_json(&revoked));
    let listed = body_json(&revoked)["keys"].as_array().unwrap().clone();
    assert!(listed.iter().all(|k| k["kid"] != signing.as_str()), "the answer is the new list");
    // The admin token itself was signed by the withdrawn key: it stops working too.
    assert_eq!(s.admin(Method::GET, "/admin/v1/keys", &admin, None, &[]).status(), 401);
    let admin = s.bearer(None);
    assert_eq!(listed, key_list(&s, &admin));
    assert!(jwks(&s).find(&signing).is_none(), "gone from the JWKS at once");
    // The issuer signs with another key at once, one a fresh JWKS verifies.
    let next = s.bearer(None);
    let next_kid = gatehouse_core::verify::peek_kid(&next).unwrap();
    assert_ne!(next_kid, signing);
    assert!(jwks(&s).find(&next_kid).is_some());
    // The old key's tokens no longer pass the management API.
    assert_eq!(s.admin(Method::GET, "/admin/v1/keys", &old, None, &[]).status(), 401);

    // Revoking a next key (not yet signing) just removes it.
    rotate_elsewhere(&s);
    let next_key = key_list(&s, &admin).into_iter().find(|k| k["status"] == "next").unwrap()["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = key_list(&s, &admin).len();
    let revoked =
        s.admin(Method::POST, &format!("/admin/v1/keys/{next_key}/revoke"), &admin, None, &[]);
    assert_eq!(revoked.status(), 200);
    assert_eq!(body_json(&revoked)["keys"].as_array().unwrap().len(), before - 1);
}

#[test]
fn revoking_the_signing_key_promotes_its_waiting_successor() {
    let s = Scenario::default();
    let admin = s.bearer(None);
    let signing = gatehouse_core::verify::peek_kid(&admin).unwrap();
    rotate_elsewhere(&s);
    let waiting: Vec<String> = key_list(&s, &admin)
        .into_iter()
        .filter(|k| k["status"] == "next")
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    let revoked =
        s.admin(Method::POST, &format!("/admin/v1/keys/{signing}/revoke"), &admin, None, &[]);
    assert_eq!(revoked.status(), 200);
    let token = s.bearer(None);
    let kid = gatehouse_core::verify::peek_kid(&token).unwrap();
    assert!(waiting.contains(&kid.to_string()), "the published next key signs at once");
}

#[test]
fn a_missed_keyring_publication_is_repaired() {
    let s = Scenario::default();
    let directory = s.engine.platform().directory.origin();
    directory.write_outage.set(true);
    let first = jwks(&s);
    assert_eq!(first.keys.len(), 2, "served from the single writer");
    assert_eq!(s.engine.platform().keys.pending(), 1);
    assert!(
        pollster::block_on(gatehouse_core::store::Directory::get(&**directory, schema::KEYRING))
            .unwrap()
            .is_none()
    );
    directory.write_outage.set(false);
    // The next read that misses the directory (once the isolate's copy of the
    // keyring expired) asks the writer, which publishes.
    s.clock.advance(KEYRING_TTL_SECS);
    assert_eq!(jwks(&s), first);
    assert_eq!(s.engine.platform().keys.pending(), 0);
    assert!(
        pollster::block_on(gatehouse_core::store::Directory::get(&**directory, schema::KEYRING))
            .unwrap()
            .is_some()
    );
    assert_eq!(s.engine.platform().keys.generated.get(), 1);
}

/// Rotates the keyring outside this engine (as a scheduled rotation in another
/// isolate does), then lets this engine's copy of the keyring expire.
fn rotate_elsewhere(s: &Scenario) {
    pollster::block_on(s.engine.platform().keys.rotate(s.clock.now())).unwrap();
    s.clock.advance(KEYRING_TTL_SECS);
}
