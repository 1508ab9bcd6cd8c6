//! The edge gateway's decisions, driven the way the worker drives them: a fake issuer
//! serving discovery and the JWKS (which can go down), native crypto, a fake clock.

use std::cell::{Cell, RefCell};

use gatehouse_core::gateway::{
    FetchError, Fetched, Gateway, GatewayConfig, Inbound, KeysPlan, Step, verify_pending,
};
use gatehouse_core::jose::{Algorithm, JwsHeader, encode_compact, signing_input};
use gatehouse_core::keys::{Kek, Keyring};
use gatehouse_core::platform::{Signer, Verifier as _};
use gatehouse_core::types::UnixTime;
use gatehouse_testkit::{NativeCrypto, seeded_rng};
use http::{HeaderValue, Method, StatusCode, header};
use serde_json::{Value, json};

const ISSUER: &str = "https://id.example.com";
/// The API behind the gateway: the `aud` its tokens carry.
const API: &str = "https://api.example.com";
const T0: u64 = 1_700_000_000;

fn config_text(extra: &str) -> String {
    format!(
        r#"
issuer = "{ISSUER}"
origin = "http://127.0.0.1:9000"
audience = "{API}"
{extra}

[[routes]]
prefix = "/public/"
public = true

[[routes]]
prefix = "/api/orders"
methods = ["GET"]
scopes = ["orders:read"]

[[routes]]
prefix = "/api/any"
any_scopes = ["a", "b"]

[[routes]]
prefix = "/api/perm"
permissions = ["orders_delete"]

[[routes]]
prefix = "/api/role"
any_roles = ["admin", "ops"]

[[routes]]
prefix = "/api/partner"
audience = "https://partner.example.com"

[[routes]]
prefix = "/api/"
"#
    )
}

/// A fake issuer: a keyring, its JWKS over "HTTP", and a switch to take it down.
struct Issuer {
    crypto: NativeCrypto,
    kek: Kek,
    ring: RefCell<Keyring>,
    up: Cell<bool>,
    fetches: Cell<u32>,
    cache_control: RefCell<Option<String>>,
    /// Key ids left out of the JWKS it serves (an emergency withdrawal).
    withdrawn: RefCell<Vec<String>>,
}

impl Issuer {
    fn new() -> Self {
        let crypto = NativeCrypto::default();
        let kek = Kek::derive(b"a key-encryption secret of 32+ bytes").unwrap();
        let ring = pollster::block_on(Keyring::generate(
            &crypto,
            &kek,
            UnixTime::from_secs(T0),
            &mut seeded_rng(1),
        ))
        .unwrap();
        Self {
            crypto,
            kek,
            ring: RefCell::new(ring),
            up: Cell::new(true),
            fetches: Cell::new(0),
            cache_control: RefCell::new(Some("public, max-age=300".into())),
            withdrawn: RefCell::new(Vec::new()),
        }
    }

    fn serve(&self, url: &str, now: UnixTime) -> Result<Fetched, FetchError> {
        if !self.up.get() {
            return Err(FetchError);
        }
        self.fetches.set(self.fetches.get() + 1);
        let body = if url == format!("{ISSUER}/.well-known/openid-configuration") {
            json!({"issuer": ISSUER, "jwks_uri": format!("{ISSUER}/.well-known/jwks.json")})
        } else if url == format!("{ISSUER}/.well-known/jwks.json") {
            let mut jwks = serde_json::to_value(self.ring.borrow().jwks(now)).unwrap();
            let withdrawn = self.withdrawn.borrow();
            jwks["keys"]
                .as_array_mut()
                .unwrap()
                .retain(|k| !withdrawn.iter().any(|w| k["kid"] == w.as_str()));
            jwks
        } else {
            return Ok(Fetched { status: 404, cache_control: None, body: vec![] });
        };
        Ok(Fetched {
            status: 200,
            cache_control: self.cache_control.borrow().clone(),
            body: serde_json::to_vec(&body).unwrap(),
        })
    }

    fn rotate(&self, now: UnixTime) {
        let next = pollster::block_on(self.ring.borrow().rotate(
            &self.crypto,
            &self.kek,
            now,
            &mut seeded_rng(now.as_secs()),
        ))
        .unwrap();
        *self.ring.borrow_mut() = next;
    }

    /// A signed token with `claims` merged over sensible defaults.
    fn token_with(&self, header: Option<JwsHeader>, claims: Value, now: UnixTime) -> String {
        let ring = self.ring.borrow();
        let key = ring.signing_key(Algorithm::ES256, now, &self.kek).unwrap();
        let header = header.unwrap_or(JwsHeader {
            alg: Algorithm::ES256,
            typ: Some("at+jwt".into()),
            kid: Some(key.kid.as_str().to_owned()),
        });
        let mut body = json!({
            "iss": ISSUER, "sub": "user-1", "aud": API, "exp": now.as_secs() + 3600,
            "iat": now.as_secs(), "jti": format!("j{}", now.as_secs()), "client_id": "app-1",
            "scope": "orders:read"
        });
        for (k, v) in claims.as_object().unwrap() {
            body[k] = v.clone();
        }
        let input = signing_input(&header, &body).unwrap();
        let sig = pollster::block_on(self.crypto.sign(&key, input.as_bytes())).unwrap();
        encode_compact(&input, &sig)
    }

    fn token(&self, claims: Value, now: UnixTime) -> String {
        self.token_with(None, claims, now)
    }
}

struct Outcome {
    step: Step,
    verified: bool,
}

/// One request through the gateway, the way the worker runs it.
fn send(gw: &mut Gateway, issuer: &Issuer, req: &Inbound<'_>, now: UnixTime) -> Outcome {
    match gw.begin(req, now) {
        Step::Verify(pending) => {
            let mut jwks = None;
            for _ in 0..4 {
                match gw.keys(&pending, now) {
                    KeysPlan::Ready(keys) => {
                        jwks = Some(keys);
                        break;
                    }
                    KeysPlan::Unavailable => break,
                    KeysPlan::Wait => panic!("nothing is in flight in a sequential test"),
                    KeysPlan::Fetch(mut target) => loop {
                        let result = issuer.serve(target.url(), now);
                        match gw.fetched(&target, result, now) {
                            Some(next) => target = next,
                            None => break,
                        }
                    },
                }
            }
            let outcome = jwks.map(|jwks| {
                let config = gw.config().clone();
                pollster::block_on(verify_pending(&issuer.crypto, &config, &jwks, &pending, now))
            });
            Outcome { step: gw.finish(pending, outcome, now), verified: true }
        }
        step => Outcome { step, verified: false },
    }
}

fn get<'a>(path: &'a str, authorization: Option<&'a str>) -> Inbound<'a> {
    Inbound {
        method: &Method::GET,
        path,
        authorization,
        origin: None,
        request_method: None,
        request_headers: None,
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn gateway(extra: &str) -> Gateway {
    Gateway::new(GatewayConfig::from_toml(&config_text(extra)).unwrap())
}

fn status(step: &Step) -> StatusCode {
    match step {
        Step::Respond(r) => r.status(),
        Step::Forward(_) => StatusCode::OK,
        Step::Verify(_) => panic!("still verifying"),
    }
}

fn www_authenticate(step: &Step) -> String {
    match step {
        Step::Respond(r) => r.headers()[header::WWW_AUTHENTICATE].to_str().unwrap().to_owned(),
        _ => panic!("not a refusal"),
    }
}

fn forwarded(step: &Step, name: &str) -> Option<String> {
    match step {
        Step::Forward(f) => f
            .set
            .iter()
            .find(|(n, _)| n.as_str() == name)
            .map(|(_, v)| v.to_str().unwrap().to_owned()),
        _ => panic!("not forwarded: {}", status(step)),
    }
}

#[test]
fn valid_token_is_forwarded_with_claim_headers_and_forged_ones_stripped() {
    let issuer = Issuer::new();
    let mut gw = gateway("");
    let now = UnixTime::from_secs(T0 + 10);
    let token = issuer.token(json!({"permissions": ["p1"], "roles": ["r1", "r2"]}), now);
    let auth = bearer(&token);
    let out = send(&mut gw, &issuer, &get("/api/orders/7", Some(&auth)), now);
    assert!(out.verified);
    assert_eq!(forwarded(&out.step, "x-gatehouse-sub").as_deref(), Some("user-1"));
    assert_eq!(forwarded(&out.step, "x-gatehouse-client-id").as_deref(), Some("app-1"));
    assert_eq!(forwarded(&out.step, "x-gatehouse-scope").as_deref(), Some("orders:read"));
    assert_eq!(forwarded(&out.step, "x-gatehouse-permissions").as_deref(), Some("p1"));
    assert_eq!(forwarded(&out.step, "x-gatehouse-roles").as_deref(), Some("r1 r2"));
    let Step::Forward(f) = &out.step else { unreachable!() };
    // Every claim header is either replaced (set) or removed (strip), never passed on.
    for name in [
        "x-gatehouse-sub",
        "x-gatehouse-client-id",
        "x-gatehouse-scope",
        "x-gatehouse-permissions",
        "x-gatehouse-roles",
    ] {
        let replaced = f.set.iter().any(|(n, _)| n.as_str() == name);
        let removed = f.strip.iter().any(|n| n.as_str() == name);
        assert!(replaced != removed, "{name}: replaced {replaced}, removed {removed}");
    }
    assert!(f.strip.iter().any(|n| n.as_str() == "authorization"));
    let plain = bearer(&issuer.token(json!({"jti": "plain"}), now));
    let out = send(&mut gw, &issuer, &get("/api/orders/8", Some(&plain)), now);
    let Step::Forward(f) = &out.step else { unreachable!() };
    assert!(f.strip.iter().any(|n| n.as_str() == "x-gatehouse-permissions"));
    assert!(f.strip.iter().any(|n| n.as_str() == "x-gatehouse-roles"));
}

#[test]
fn hot_token_is_served_from_the_cache_without_a_signature_check() {
    let issuer = Issuer::new();
    let mut gw = gateway("");
    let now = UnixTime::from_secs(T0 + 10);
    let auth = bearer(&issuer.token(json!({}), now));
    assert!(send(&mut gw, &issuer, &get("/api/orders/1", Some(&auth)), now).verified);
    let second = send(&mut gw, &issuer, &get("/api/orders/2", Some(&auth)), now.plus(5));
    assert!(!second.verified, "cache hit");
    assert_eq!(status(&second.step), StatusCode::OK);
    assert_eq!(gw.tokens().len(), 1);
    // The route is still checked on a hit.
    let other = send(&mut gw, &issuer, &get("/api/perm", Some(&auth)), now.plus(6));
    assert!(!other.verified);
    assert_eq!(status(&other.step), StatusCode::FORBIDDEN);
}

#[test]
fn cached_token_expires_with_the_token() {
    let issuer = Issuer::new();
    let mut gw = gateway("leeway = 0");
    let now = UnixTime::from_secs(T0 + 10);
    let auth = bearer(&issuer.token(json!({"exp": T0 + 100}), now));
    assert_eq!(
        status(&send(&mut gw, &issuer, &get("/api/x", Some(&auth)), now).step),
        StatusCode::OK
    );
    let late = send(&mut gw, &issuer, &get("/api/x", Some(&auth)), UnixTime::from_secs(T0 + 100));
    assert!(late.verified, "an expired entry is not served");
    assert_eq!(status(&late.step), StatusCode::UNAUTHORIZED);
}

#[test]
fn public_route_needs_no_token_and_still_strips_claim_headers() {
    let issuer = Issuer::new();
    let mut gw = gateway("");
    let out = send(&mut gw, &issuer, &get("/public/logo.png", None), UnixTime::from_secs(T0));
    let Step::Forward(f) = out.step else { panic!("public route refused") };
    assert!(f.set.is_empty());
    assert!(f.strip.iter().any(|n| n.as_str() == "x-gatehouse-sub"));
    assert_eq!(issuer.fetches.get(), 0, "no JWKS needed");
}

#[test]
fn missing_and_malformed_tokens_get_rfc6750_challenges() {
    let issuer = Issuer::new();
    let mut gw = gateway("");
    let now = UnixTime::from_secs(T0);
    let missing = send(&mut gw, &issuer, &get("/api/x", None), now).step;
    assert_eq!(status(&missing), StatusCode::UNAUTHORIZED);
    assert_eq!(www_authenticate(&missing), "Bearer");
    let basic = send(&mut gw, &issuer, &get("/api/x", Some("Basic dXNlcjpwYXNz")), now).step;
    assert_eq!(www_authenticate(&basic), "Bearer");
    for bad in ["Bearer", "Bearer ", "Bearer a b", "Bearer a\"b", "Bearer x.y.z", "Bearer ..."] {
        let step = send(&mut gw, &issuer, &get("/api/x", Some(bad)), now).step;
        assert_eq!(status(&step), StatusCode::UNAUTHORIZED, "{bad}");
        assert!(www_authenticate(&step).contains(r#"error="invalid_token""#), "{bad}");
    }
}

#[test]
fn bad_token_corpus_is_always_401() {
    let issuer = Issuer::new();
    let mut gw = gateway("");
    let now = UnixTime::from_secs(T0 + 10);
    let good = issuer.token(json!({}), now);
    let kid = gatehouse_core::verify::peek_kid(&good).unwrap();
    let parts: Vec<&str> = good.split('.').collect();
    let b64 = |v: &Value| gatehouse_core::jose::b64url(v.to_string().as_bytes());
    let header = |v: Value| format!("{}.{}.{}", b64(&v), parts[1], parts[2]);
    let mut corpus = vec![
        good[..good.len() / 2].to_owned(),
        format!("{good}.extra"),
        format!("{}.{}", parts[0], parts[1]),
        good.replace('.', ".."),
        format!("{}!.{}.{}", parts[0], parts[1], parts[2]),
        format!("{}.{}.{}", parts[0], parts[1], "A".repeat(86)),
        format!("{}.{}.{}", parts[0], b64(&json!({"iss": ISSUER})), parts[2]),
        "e".repeat(20_000),
        header(json!({"alg": "none", "typ": "at+jwt", "kid": kid})),
        header(json!({"alg": "HS256", "typ": "at+jwt", "kid": kid})),
        header(json!({"alg": "RS256", "typ": "at+jwt", "kid": kid})),
        header(json!({"alg": "ES256", "typ": "JWT", "kid": kid})),
        header(json!({"alg": "ES256", "kid": kid})),
        header(json!({"alg": "ES256", "typ": "at+jwt", "kid": "nope"})),
        header(json!({"alg": "ES256", "typ": "at+jwt"})),
        header(json!({"alg": "ES256", "typ": "at+jwt", "kid": kid, "crit": ["exp"]})),
        header(json!({"alg": "ES256", "typ": "at+jwt", "kid": kid, "pad": "x".repeat(12_000)})),
        header(json!(["ES256"])),
    ];
    // Wrong typ, signed properly.
    corpus.push(issuer.token_with(
        Some(JwsHeader { alg: Algorithm::ES256, typ: Some("JWT".into()), kid: Some(kid.clone()) }),
        json!({}),
        now,
    ));
    corpus.push(issuer.token(json!({"iss": "https://evil.example.com"}), now));
    corpus.push(issuer.token(json!({"aud": "https://other.example.com"}), now));
    corpus.push(issuer.token(json!({"exp": "soon"}), now));
    corpus.push(issuer.token(json!({"nbf": T0 + 10_000}), now));
    for (i, token) in corpus.iter().enumerate() {
        let auth = bearer(token);
        let step = send(&mut gw, &issuer, &get("/api/x", Some(&auth)), now).step;
        assert_eq!(status(&step), StatusCode::UNAUTHORIZED, "corpus #{i}: {token:.60}");
    }
}

#[test]
fn insufficient_scope_permission_and_role_are_403_naming_what_is_missing() {
    let issuer = Issuer::new();
    let mut gw = gateway("");
    let now = UnixTime::from_secs(T0 + 10);
    let auth = bearer(&issuer.token(json!({"scope": "profile"}), now));
    let step = send(&mut gw, &issuer, &get("/api/orders", Some(&auth)), now).step;
    assert_eq!(status(&step), StatusCode::FORBIDDEN);
    let www = www_authenticate(&step);
    assert!(
        www.contains(r#"error="insufficient_scope""#) && www.contains(r#"scope="orders:read""#),
        "{www}"
    );
    let step = send(&mut gw, &issuer, &get("/api/any", Some(&auth)), now).step;
    assert!(www_authenticate(&step).contains(r#"scope="a b""#));
    let step = send(&mut gw, &issuer, &get("/api/perm", Some(&auth)), now).step;
    assert!(www_authenticate(&step).contains("permission orders_delete"));
    let step = send(&mut gw, &issuer, &get("/api/role", Some(&auth)), now).step;
    assert!(www_authenticate(&step).contains("role admin ops"));

    let auth = bearer(
        &issuer
            .token(json!({"scope": "b", "permissions": ["orders_delete"], "roles": ["ops"]}), now),
    );
    for path in ["/api/any", "/api/perm", "/api/role"] {
        let step = send(&mut gw, &issuer, &get(path, Some(&auth)), now).step;
        assert_eq!(status(&step), StatusCode::OK, "{path}");
    }
    // Wrong method on a GET-only route falls through to the catch-all `/api/`.
    let post = Inbound { method: &Method::POST, ..get("/api/orders", Some(&auth)) };
    assert_eq!(status(&send(&mut gw, &issuer, &post, now).step), StatusCode::OK);
}

#[test]
fn route_audience_is_enforced() {
    let issuer = Issuer::new();
    let mut gw = gateway("");
    let now = UnixTime::from_secs(T0 + 10);
    let default_aud = bearer(&issuer.token(json!({}), now));
    let step = send(&mut gw, &issuer, &get("/api/partner/x", Some(&default_aud)), now).step;
    assert_eq!(status(&step), StatusCode::UNAUTHORIZED);
    let partner = bearer(&issuer.token(json!({"aud": ["https://partner.example.com"]}), now));
    let step = send(&mut gw, &issuer, &get("/api/partner/x", Some(&partner)), now).step;
    assert_eq!(status(&step), StatusCode::OK);
    // ... but it is not good for the default audience.
    let step = send(&mut gw, &issuer, &get("/api/x", Some(&partner)), now).step;
    assert_eq!(status(&step), StatusCode::UNAUTHORIZED);
}

#[test]
fn expired_tokens_with_and_without_leeway() {
    let issuer = Issuer::new();
    let now = UnixTime::from_secs(T0 + 10);
    let auth = bearer(&issuer.token(json!({"exp": T0 + 100}), now));
    let at = UnixTime::from_secs(T0 + 130);
    let mut strict = gateway("leeway = 0");
    assert_eq!(
        status(&send(&mut strict, &issuer, &get("/api/x", Some(&auth)), at).step),
        StatusCode::UNAUTHORIZED
    );
    let mut lenient = gateway("leeway = 60");
    assert_eq!(
        status(&send(&mut lenient, &issuer, &get("/api/x", Some(&auth)), at).step),
        StatusCode::OK
    );
    let later = UnixTime::from_secs(T0 + 160);
    assert_eq!(
        status(&send(&mut lenient, &issuer, &get("/api/x", Some(&auth)), later).step),
        StatusCode::UNAUTHORIZED
    );
    // A token from a clock slightly ahead: iat in the future, inside the leeway.
    let ahead = bearer(&issuer.token(json!({"iat": T0 + 40}), now));
    assert_eq!(
        status(&send(&mut strict, &issuer, &get("/api/x", Some(&ahead)), now).step),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status(&send(&mut lenient, &issuer, &get("/api/x", Some(&ahead)), now).step),
        StatusCode::OK
    );
}

#[test]
fn unknown_kid_refetches_once_per_cooldown() {
    let issuer = Issuer::new();
    let mut gw = gateway("jwks_refetch_cooldown = 10");
    let now = UnixTime::from_secs(T0 + 10);
    let good = bearer(&issuer.token(json!({}), now));
    send(&mut gw, &issuer, &get("/api/x", Some(&good)), now);
    assert_eq!(issuer.fetches.get(), 2, "discovery + jwks");
    let forged = JwsHeader {
        alg: Algorithm::ES256,
        typ: Some("at+jwt".into()),
        kid: Some("made-up".into()),
    };
    for i in 0..100 {
        let bad = bearer(&issuer.token_with(Some(forged.clone()), json!({"jti": i}), now));
        // Within the cooldown of the first fetch: the keys are that recent anyway.
        let step = send(&mut gw, &issuer, &get("/api/x", Some(&bad)), now.plus(1)).step;
        assert_eq!(status(&step), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(issuer.fetches.get(), 2, "no refetch within the cooldown");
    for i in 0..100 {
        let bad = bearer(&issuer.token_with(Some(forged.clone()), json!({"jti": i}), now));
        let step = send(&mut gw, &issuer, &get("/api/x", Some(&bad)), now.plus(10 + i / 20)).step;
        assert_eq!(status(&step), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(issuer.fetches.get(), 3, "one refetch for a flood of unknown kids");
    let bad = bearer(&issuer.token_with(Some(forged), json!({"jti": "late"}), now));
    send(&mut gw, &issuer, &get("/api/x", Some(&bad)), now.plus(20));
    assert_eq!(issuer.fetches.get(), 4, "and one more after the cooldown");
}

#[test]
fn key_rotation_never_refuses_a_valid_token() {
    let issuer = Issuer::new();
    let mut gw = gateway("");
    let mut now = UnixTime::from_secs(T0 + 10);
    let old = bearer(&issuer.token(json!({}), now));
    assert_eq!(
        status(&send(&mut gw, &issuer, &get("/api/x", Some(&old)), now).step),
        StatusCode::OK
    );
    // Rotate several times, with traffic every 7 s and fresh tokens every time.
    let mut tokens = vec![old];
    for round in 0..4 {
        issuer.rotate(now);
        for _ in 0..100 {
            now = now.plus(7);
            let fresh =
                bearer(&issuer.token(json!({"jti": format!("{round}-{}", now.as_secs())}), now));
            tokens.push(fresh);
            for auth in tokens.iter().rev().take(3).chain(tokens.first()) {
                let exp_ok = now.as_secs() < T0 + 3600 + 60;
                let step = send(&mut gw, &issuer, &get("/api/x", Some(auth)), now).step;
                if exp_ok || auth != tokens.first().unwrap() {
                    assert_eq!(
                        status(&step),
                        StatusCode::OK,
                        "round {round} at {}",
                        now.as_secs() - T0
                    );
                }
            }
        }
    }
}

#[test]
fn issuer_outage_serves_stale_keys_then_503_after_max_stale() {
    let issuer = Issuer::new();
    let mut gw = gateway("jwks_max_stale = 3600");
    let now = UnixTime::from_secs(T0 + 10);
    let a = bearer(&issuer.token(json!({"exp": T0 + 90_000}), now));
    assert_eq!(status(&send(&mut gw, &issuer, &get("/api/x", Some(&a)), now).step), StatusCode::OK);
    issuer.up.set(false);
    // Past freshness (300 s), new tokens still verify against the stale keys.
    let later = now.plus(1000);
    let b = bearer(&issuer.token(json!({"exp": T0 + 90_000, "jti": "b"}), later));
    assert_eq!(
        status(&send(&mut gw, &issuer, &get("/api/x", Some(&b)), later).step),
        StatusCode::OK
    );
    // Past freshness + max_stale: no keys, 503 (not 401: the token may be fine).
    let much_later = now.plus(300 + 3600 + 1);
    let c = bearer(&issuer.token(json!({"exp": T0 + 90_000, "jti": "c"}), much_later));
    let step = send(&mut gw, &issuer, &get("/api/x", Some(&c)), much_later).step;
    assert_eq!(status(&step), StatusCode::SERVICE_UNAVAILABLE);
    // The issuer comes back: after the cooldown the gateway recovers.
    issuer.up.set(true);
    let back = much_later.plus(11);
    assert_eq!(
        status(&send(&mut gw, &issuer, &get("/api/x", Some(&c)), back).step),
        StatusCode::OK
    );
}

#[test]
fn first_request_with_issuer_down_is_503() {
    let issuer = Issuer::new();
    issuer.up.set(false);
    let mut gw = gateway("");
    let now = UnixTime::from_secs(T0 + 10);
    let a = bearer(&issuer.token(json!({}), now));
    let step = send(&mut gw, &issuer, &get("/api/x", Some(&a)), now).step;
    assert_eq!(status(&step), StatusCode::SERVICE_UNAVAILABLE);
    let Step::Respond(r) = &step else { unreachable!() };
    assert!(r.headers().contains_key(header::RETRY_AFTER));
}

#[test]
fn discovery_with_another_issuer_is_not_trusted() {
    let mut gw = Gateway::new(GatewayConfig::from_toml(&config_text("")).unwrap());
    let now = UnixTime::from_secs(T0);
    let issuer = Issuer::new();
    let auth = bearer(&issuer.token(json!({}), now));
    let Step::Verify(pending) = gw.begin(&get("/api/x", Some(&auth)), now) else { panic!() };
    let KeysPlan::Fetch(target) = gw.keys(&pending, now) else { panic!() };
    let body = serde_json::to_vec(
        &json!({"issuer": "https://evil.example.com", "jwks_uri": "https://evil.example.com/jwks"}),
    )
    .unwrap();
    let next = gw.fetched(&target, Ok(Fetched { status: 200, cache_control: None, body }), now);
    assert!(next.is_none());
    assert!(matches!(gw.keys(&pending, now), KeysPlan::Unavailable));
}

#[test]
fn requests_needing_an_in_flight_fetch_wait_and_known_keys_do_not() {
    let issuer = Issuer::new();
    let mut gw = gateway("");
    let now = UnixTime::from_secs(T0 + 10);
    let a = bearer(&issuer.token(json!({}), now));
    let Step::Verify(first) = gw.begin(&get("/api/x", Some(&a)), now) else { panic!() };
    let KeysPlan::Fetch(_) = gw.keys(&first, now) else { panic!("first fetches") };
    let b = bearer(&issuer.token(json!({"jti": "b"}), now));
    let Step::Verify(second) = gw.begin(&get("/api/x", Some(&b)), now) else { panic!() };
    assert!(matches!(gw.keys(&second, now), KeysPlan::Wait));
    // A lost fetch does not block forever.
    assert!(matches!(gw.keys(&second, now.plus(31)), KeysPlan::Fetch(_)));
}

#[test]
fn unmatched_paths_and_ambiguous_paths() {
    let issuer = Issuer::new();
    let now = UnixTime::from_secs(T0);
    let mut gw = gateway("");
    assert_eq!(
        status(&send(&mut gw, &issuer, &get("/other", None), now).step),
        StatusCode::NOT_FOUND
    );
    let mut gw403 = gateway("unmatched = 403");
    assert_eq!(
        status(&send(&mut gw403, &issuer, &get("/other", None), now).step),
        StatusCode::FORBIDDEN
    );
    for path in ["/public/../api/x", "/public/%2e%2e/api/x", "/public%2Fx", "/public/x\\y"] {
        assert_eq!(
            status(&send(&mut gw, &issuer, &get(path, None), now).step),
            StatusCode::BAD_REQUEST,
            "{path}"
        );
    }
}

#[test]
fn cors_preflight_and_headers_on_refusals() {
    let issuer = Issuer::new();
    let now = UnixTime::from_secs(T0);
    let mut gw = gateway(
        r#"[cors]
origins = ["https://app.example.com"]
methods = ["GET", "POST"]
max_age = 300"#,
    );
    let preflight = |origin, method, headers| Inbound {
        method: &Method::OPTIONS,
        path: "/api/orders",
        authorization: None,
        origin: Some(origin),
        request_method: Some(method),
        request_headers: Some(headers),
    };
    let Step::Respond(ok) =
        gw.begin(&preflight("https://app.example.com", "POST", "Authorization, Content-Type"), now)
    else {
        panic!()
    };
    assert_eq!(ok.status(), StatusCode::NO_CONTENT);
    assert_eq!(ok.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "https://app.example.com");
    assert_eq!(ok.headers()[header::ACCESS_CONTROL_ALLOW_METHODS], "GET, POST");
    assert_eq!(ok.headers()[header::ACCESS_CONTROL_MAX_AGE], "300");
    for (origin, method, headers) in [
        ("https://evil.example.com", "GET", ""),
        ("https://app.example.com", "DELETE", ""),
        ("https://app.example.com", "GET", "x-custom"),
    ] {
        let Step::Respond(no) = gw.begin(&preflight(origin, method, headers), now) else {
            panic!()
        };
        assert_eq!(no.status(), StatusCode::FORBIDDEN);
        assert!(!no.headers().contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));
    }
    let req = Inbound { origin: Some("https://app.example.com"), ..get("/api/x", None) };
    let step = send(&mut gw, &issuer, &req, now).step;
    let Step::Respond(r) = step else { panic!() };
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "https://app.example.com");
    assert_eq!(r.headers()[header::ACCESS_CONTROL_EXPOSE_HEADERS], "www-authenticate");
}

#[test]
fn claim_values_that_headers_cannot_carry_are_percent_encoded() {
    let issuer = Issuer::new();
    let mut gw = gateway("");
    let now = UnixTime::from_secs(T0 + 10);
    let auth = bearer(&issuer.token(json!({"sub": "zoë\r\nx-evil: 1 100%"}), now));
    let step = send(&mut gw, &issuer, &get("/api/x", Some(&auth)), now).step;
    assert_eq!(
        forwarded(&step, "x-gatehouse-sub").as_deref(),
        Some("zo%C3%AB%0D%0Ax-evil: 1 100%25")
    );
}

#[test]
fn forwarding_the_authorization_header_is_opt_in() {
    let issuer = Issuer::new();
    let mut gw = gateway("forward_authorization = true");
    let now = UnixTime::from_secs(T0 + 10);
    let auth = bearer(&issuer.token(json!({}), now));
    let Step::Forward(f) = send(&mut gw, &issuer, &get("/api/x", Some(&auth)), now).step else {
        panic!()
    };
    assert!(!f.strip.contains(&header::AUTHORIZATION));
    let _ = HeaderValue::from_static("unused");
}

#[test]
fn config_errors_name_the_line() {
    // Every document but the last two names its audience on line 3.
    let head = "issuer = \"https://a\"\norigin = \"http://o\"\naudience = \"https://api\"\n";
    let doc = |rest: &str| format!("{head}{rest}");
    let cases = [
        (doc("bogus = 1\n[[routes]]\nprefix = \"/\"\n"), 4, "unknown field"),
        (
            "issuer = \"https://a\"\norigin = \"http://o/path\"\n[[routes]]\nprefix = \"/\"\n".into(),
            2,
            "origin",
        ),
        (doc("[[routes]]\nprefix = \"api\"\n"), 5, "prefix"),
        (doc("leeway = 301\n[[routes]]\nprefix = \"/\"\n"), 4, "leeway"),
        (doc("algorithms = [\"HS256\"]\n[[routes]]\nprefix = \"/\"\n"), 4, "hs256"),
        (doc("\n[[routes]]\nprefix = \"/\"\npublic = true\nscopes = [\"x\"]\n"), 5, "public"),
        (doc("[[routes]]\nprefix = \"/\"\nmethods = [\"G T\"]\n"), 6, "method"),
        (doc("[headers]\nsub = \"Authorization\"\n[[routes]]\nprefix = \"/\"\n"), 5, "cannot carry"),
        (doc("[[routes]]\nprefix = \"/\"\nscopes = \"x\"\n"), 6, "invalid type"),
        (doc("[[routes]]\nprefix = \"/\"\ncase_insensitive = \"yes\"\n"), 6, "invalid type"),
        (doc("[[routes]\n"), 4, ""),
        (doc("audience = \"\"\n"), 4, "duplicate key"),
        ("issuer = \"https://a\"\n".into(), 1, "origin"),
        (doc(""), 0, "routes"),
        (
            "issuer = \"https://a\"\norigin = \"http://o\"\n[[routes]]\nprefix = \"/\"\n".into(),
            0,
            "audience is required",
        ),
        (
            "issuer = \"https://a\"\norigin = \"http://o\"\naudience = \" \"\n[[routes]]\nprefix = \"/\"\n".into(),
            3,
            "audience must not be empty",
        ),
    ];
    for (text, line, needle) in cases {
        let err = GatewayConfig::from_toml(&text).unwrap_err();
        assert_eq!(err.line, line, "{text}\n=> {err}");
        assert!(err.to_string().to_lowercase().contains(needle), "{err}");
        if line > 0 {
            assert!(err.to_string().starts_with(&format!("gateway config line {line}:")));
        }
    }
}

#[test]
fn the_documented_example_config_parses() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../gateway/gateway.example.toml"
    ))
    .unwrap();
    let config = GatewayConfig::from_toml(&text).unwrap();
    assert!(!config.routes.routes().is_empty());
}

#[test]
fn the_wrangler_gateway_example_parses() {
    let wrangler =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../wrangler.toml"))
            .unwrap();
    let section = wrangler.split("[env.gateway.vars]").nth(1).unwrap();
    let text = section.split("\"\"\"").nth(1).unwrap();
    let config = GatewayConfig::from_toml(text).unwrap();
    assert!(!config.policy.audiences().is_empty());
}

#[test]
fn the_split_verifier_agrees_with_the_one_call_verifier() {
    use gatehouse_core::verify::{UnverifiedToken, VerifyError, verify_access_token_full};
    let issuer = Issuer::new();
    let now = UnixTime::from_secs(T0 + 10);
    let config = GatewayConfig::from_toml(&config_text("")).unwrap();
    let jwks = issuer.ring.borrow().jwks(now);
    let token = issuer.token(json!({"permissions": ["p"]}), now);
    let whole = pollster::block_on(verify_access_token_full(
        &issuer.crypto,
        &jwks,
        &config.policy,
        &token,
        now,
    ))
    .unwrap();
    let unverified = UnverifiedToken::check(&jwks, &config.policy, &token).unwrap();
    let valid = pollster::block_on(issuer.crypto.verify(
        unverified.key,
        unverified.alg,
        unverified.signing_input,
        &unverified.signature,
    ))
    .unwrap();
    assert!(valid);
    let split = unverified.awaiting().signature_checked(valid).unwrap().claims(&config.policy, now);
    assert_eq!(split.unwrap(), whole);
    let refused = UnverifiedToken::check(&jwks, &config.policy, &token)
        .unwrap()
        .signature_checked(false)
        .unwrap_err();
    assert_eq!(refused, VerifyError::Signature);
}

proptest::proptest! {
    #[test]
    fn config_parsing_never_panics(text in "\\PC{0,300}") {
        let _ = GatewayConfig::from_toml(&text);
    }

    #[test]
    fn config_errors_point_inside_the_document(extra in "[a-z_ =\"\\[\\]0-9\n]{0,80}") {
        let text = config_text(&extra);
        if let Err(err) = GatewayConfig::from_toml(&text) {
            proptest::prop_assert!(err.line <= text.lines().count() + 1, "{err}");
        }
    }

    #[test]
    fn any_authorization_header_gets_an_answer_without_panicking(auth in "\\PC{0,200}", path in "/[a-z/%.]{0,30}") {
        let mut gw = gateway("");
        let req = get(&path, Some(&auth));
        match gw.begin(&req, UnixTime::from_secs(T0)) {
            Step::Respond(r) => proptest::prop_assert!(r.status().is_client_error(), "{}", r.status()),
            Step::Forward(_) | Step::Verify(_) => {}
        }
    }
}

mod claims;
mod keys;
mod paths;
