//! ID-token verification (OpenID Connect Core section 3.1.3.7) on the same pipeline
//! as access tokens: every check refuses what it must, and an access token never
//! passes for an ID token.

use gatehouse_core::jose::{Algorithm, Jwks, JwsHeader, encode_compact, signing_input};
use gatehouse_core::keys::{Kek, Keyring};
use gatehouse_core::platform::Signer as _;
use gatehouse_core::types::UnixTime;
use gatehouse_core::verify::id_token::half_hash;
use gatehouse_core::verify::{IdTokenPolicy, VerifyError, verify_id_token};
use gatehouse_testkit::{NativeCrypto, seeded_rng};
use serde_json::{Value, json};

const ISSUER: &str = "https://id.example.test";
const CLIENT: &str = "spa-client";
const NOW: u64 = 1_700_000_000;

struct Signer {
    crypto: NativeCrypto,
    kek: Kek,
    ring: Keyring,
}

fn signer() -> Signer {
    let crypto = NativeCrypto::default();
    let kek = Kek::derive(b"a key-encryption secret of 32+ bytes").unwrap();
    let ring = pollster::block_on(Keyring::generate(
        &crypto,
        &kek,
        UnixTime::from_secs(NOW - 3600),
        &mut seeded_rng(11),
    ))
    .unwrap();
    Signer { crypto, kek, ring }
}

impl Signer {
    fn jwks(&self) -> Jwks {
        self.ring.jwks(UnixTime::from_secs(NOW))
    }

    fn sign(&self, alg: Algorithm, typ: Option<&str>, claims: &Value) -> String {
        let key = self.ring.signing_key(alg, UnixTime::from_secs(NOW), &self.kek).unwrap();
        let header =
            JwsHeader { alg, typ: typ.map(str::to_owned), kid: Some(key.kid.as_str().to_owned()) };
        let input = signing_input(&header, claims).unwrap();
        let signature = pollster::block_on(self.crypto.sign(&key, input.as_bytes())).unwrap();
        encode_compact(&input, &signature)
    }
}

fn claims() -> Value {
    json!({
        "iss": ISSUER, "sub": "user-1", "aud": CLIENT, "exp": NOW + 300, "iat": NOW,
        "nonce": "n-0S6_WzA2Mj", "auth_time": NOW - 10,
    })
}

fn check(s: &Signer, token: &str, policy: &IdTokenPolicy) -> Result<(), VerifyError> {
    pollster::block_on(verify_id_token(
        &s.crypto,
        &s.jwks(),
        policy,
        token,
        UnixTime::from_secs(NOW),
    ))
    .map(|_| ())
}

#[test]
fn a_good_id_token_verifies_with_its_nonce_and_at_hash() {
    let s = signer();
    let access = "an-access-token";
    let mut c = claims();
    c["at_hash"] = json!(half_hash(Algorithm::RS256, access));
    let token = s.sign(Algorithm::RS256, Some("JWT"), &c);
    let policy =
        IdTokenPolicy::new(ISSUER, CLIENT).with_nonce("n-0S6_WzA2Mj").with_access_token(access);
    let verified = pollster::block_on(verify_id_token(
        &s.crypto,
        &s.jwks(),
        &policy,
        &token,
        UnixTime::from_secs(NOW),
    ))
    .unwrap();
    assert_eq!(verified.sub, "user-1");
    assert_eq!(verified.auth_time, Some(UnixTime::from_secs(NOW - 10)));
    // ES256 and a token without `typ` verify too.
    let es = s.sign(Algorithm::ES256, None, &claims());
    assert_eq!(check(&s, &es, &IdTokenPolicy::new(ISSUER, CLIENT)), Ok(()));
}

#[test]
fn every_claim_check_refuses_what_it_must() {
    let s = signer();
    let base = IdTokenPolicy::new(ISSUER, CLIENT);
    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = claims();
        f(&mut c);
        s.sign(Algorithm::RS256, Some("JWT"), &c)
    };
    let cases: Vec<(String, IdTokenPolicy, VerifyError)> = vec![
        (with(&|c| c["iss"] = json!("https://other.example")), base.clone(), VerifyError::Issuer),
        (with(&|c| c["aud"] = json!("another-client")), base.clone(), VerifyError::Audience),
        (with(&|c| c["aud"] = json!([CLIENT, "api"])), base.clone(), VerifyError::AuthorizedParty),
        (
            with(&|c| {
                c["aud"] = json!([CLIENT, "api"]);
                c["azp"] = json!("api");
            }),
            base.clone(),
            VerifyError::AuthorizedParty,
        ),
        (with(&|c| c["exp"] = json!(NOW - 120)), base.clone(), VerifyError::Expired),
        (with(&|c| c["iat"] = json!(NOW + 600)), base.clone(), VerifyError::NotYetValid),
        (with(&|_| {}), base.clone().with_nonce("another-nonce"), VerifyError::Nonce),
        (
            with(&|c| c.as_object_mut().unwrap().remove("nonce").map(drop).unwrap_or(())),
            base.clone().with_nonce("n-0S6_WzA2Mj"),
            VerifyError::Nonce,
        ),
        (
            with(&|c| c["at_hash"] = json!("wrong")),
            base.clone().with_access_token("t"),
            VerifyError::AccessTokenHash,
        ),
        (with(&|_| {}), base.clone().with_access_token("t"), VerifyError::AccessTokenHash),
        (with(&|_| {}), base.clone().with_algorithms(&[Algorithm::ES256]), VerifyError::Algorithm),
    ];
    for (i, (token, policy, expected)) in cases.iter().enumerate() {
        assert_eq!(check(&s, token, policy), Err(*expected), "case {i}");
    }
    // Several audiences with `azp` naming the client are fine.
    let ok = with(&|c| {
        c["aud"] = json!([CLIENT, "api"]);
        c["azp"] = json!(CLIENT);
    });
    assert_eq!(check(&s, &ok, &base), Ok(()));
}

#[test]
fn an_access_token_or_a_forgery_never_passes_for_an_id_token() {
    let s = signer();
    let policy = IdTokenPolicy::new(ISSUER, CLIENT);
    let access = s.sign(Algorithm::ES256, Some("at+jwt"), &claims());
    assert_eq!(check(&s, &access, &policy), Err(VerifyError::Type));
    let good = s.sign(Algorithm::ES256, Some("JWT"), &claims());
    let (head, rest) = good.split_once('.').unwrap();
    let (_, sig) = rest.split_once('.').unwrap();
    let forged_payload = gatehouse_core::jose::b64url(
        serde_json::to_string(
            &json!({"iss": ISSUER, "sub": "admin", "aud": CLIENT, "exp": NOW + 300, "iat": NOW}),
        )
        .unwrap()
        .as_bytes(),
    );
    assert_eq!(
        check(&s, &format!("{head}.{forged_payload}.{sig}"), &policy),
        Err(VerifyError::Signature)
    );
    let none = format!(
        "{}.{}.",
        gatehouse_core::jose::b64url(br#"{"alg":"none"}"#),
        gatehouse_core::jose::b64url(serde_json::to_string(&claims()).unwrap().as_bytes())
    );
    assert!(check(&s, &none, &policy).is_err());
}
