//! The gateway's own fetches (no redirects, a size cap, https keys for an https
//! issuer), keys withdrawn from the JWKS, and the required audience.

use gatehouse_core::gateway::FetchTarget;
use gatehouse_core::gateway::jwks::MAX_DOCUMENT_BYTES;

use super::*;

/// Runs `gw` through the first fetch of a request for `auth` with `answer` standing in
/// for the issuer, following what core asks for next; returns the final step.
fn first_request_with(
    gw: &mut Gateway,
    issuer: &Issuer,
    auth: &str,
    now: UnixTime,
    answer: impl Fn(&FetchTarget) -> Result<Fetched, FetchError>,
) -> (Step, Vec<String>) {
    let Step::Verify(pending) = gw.begin(&get("/api/x", Some(auth)), now) else { panic!() };
    let mut fetched = Vec::new();
    let KeysPlan::Fetch(mut target) = gw.keys(&pending, now) else {
        panic!("a cold gateway fetches")
    };
    loop {
        fetched.push(target.url().to_owned());
        match gw.fetched(&target, answer(&target), now) {
            Some(next) => target = next,
            None => break,
        }
    }
    let outcome = match gw.keys(&pending, now) {
        KeysPlan::Ready(jwks) => {
            let config = gw.config().clone();
            Some(pollster::block_on(verify_pending(&issuer.crypto, &config, &jwks, &pending, now)))
        }
        _ => None,
    };
    (gw.finish(pending, outcome, now), fetched)
}

fn redirect(to: &str) -> Fetched {
    let _ = to; // The Location header is never looked at.
    Fetched { status: 302, cache_control: None, body: vec![] }
}

#[test]
fn redirects_from_discovery_or_the_jwks_are_failures_never_followed() {
    let issuer = Issuer::new();
    let now = UnixTime::from_secs(T0 + 10);
    let auth = bearer(&issuer.token(json!({}), now));
    // Discovery redirects.
    let mut gw = gateway("");
    let (step, fetched) = first_request_with(&mut gw, &issuer, &auth, now, |t| match t {
        FetchTarget::Discovery(_) => Ok(redirect("https://evil.example.com/.well-known/x")),
        FetchTarget::Jwks(url) => issuer.serve(url, now),
    });
    assert_eq!(status(&step), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(fetched, vec![format!("{ISSUER}/.well-known/openid-configuration")]);
    // The JWKS redirects (to a copy that would verify the token).
    let mut gw = gateway("");
    let (step, fetched) = first_request_with(&mut gw, &issuer, &auth, now, |t| match t {
        FetchTarget::Discovery(url) => issuer.serve(url, now),
        FetchTarget::Jwks(_) => Ok(redirect(&format!("{ISSUER}/.well-known/jwks.json"))),
    });
    assert_eq!(status(&step), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(fetched.len(), 2, "discovery, then the JWKS once: {fetched:?}");
    assert!(gw.jwks().current().is_none());
}

#[test]
fn an_oversized_jwks_is_refused_and_the_last_good_copy_stays() {
    let issuer = Issuer::new();
    let now = UnixTime::from_secs(T0 + 10);
    let auth = bearer(&issuer.token(json!({}), now));
    let mut gw = gateway("");
    let oversized = |t: &FetchTarget| match t {
        FetchTarget::Discovery(url) => issuer.serve(url, now),
        FetchTarget::Jwks(url) => {
            let mut good = issuer.serve(url, now)?;
            // Valid JSON, padded past the cap.
            good.body.truncate(good.body.len() - 1);
            good.body.extend_from_slice(b",\"pad\":\"");
            good.body.resize(MAX_DOCUMENT_BYTES + 1, b'x');
            good.body.extend_from_slice(b"\"}");
            Ok(good)
        }
    };
    let (step, _) = first_request_with(&mut gw, &issuer, &auth, now, oversized);
    assert_eq!(status(&step), StatusCode::SERVICE_UNAVAILABLE);
    // With a good copy in hand, an oversized refresh leaves it in place.
    let mut gw = gateway("");
    assert_eq!(
        status(&send(&mut gw, &issuer, &get("/api/x", Some(&auth)), now).step),
        StatusCode::OK
    );
    let generation = gw.jwks().generation();
    let target = FetchTarget::Jwks(format!("{ISSUER}/.well-known/jwks.json"));
    assert!(gw.fetched(&target, oversized(&target), now.plus(400)).is_none());
    assert_eq!(gw.jwks().generation(), generation);
    assert!(gw.jwks().current().is_some());
}

#[test]
fn an_https_issuer_needs_an_https_jwks_uri() {
    let issuer = Issuer::new();
    let now = UnixTime::from_secs(T0 + 10);
    let auth = bearer(&issuer.token(json!({}), now));
    let discovery = |jwks_uri: &str| Fetched {
        status: 200,
        cache_control: None,
        body: serde_json::to_vec(&json!({"issuer": ISSUER, "jwks_uri": jwks_uri})).unwrap(),
    };
    let mut gw = gateway("");
    let (step, fetched) = first_request_with(&mut gw, &issuer, &auth, now, |t| match t {
        FetchTarget::Discovery(_) => Ok(discovery("http://id.example.com/.well-known/jwks.json")),
        FetchTarget::Jwks(_) => issuer.serve(&format!("{ISSUER}/.well-known/jwks.json"), now),
    });
    assert_eq!(status(&step), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(fetched.len(), 1, "the http jwks_uri is never fetched");
    let mut gw = gateway("");
    let (step, fetched) = first_request_with(&mut gw, &issuer, &auth, now, |t| match t {
        FetchTarget::Discovery(_) => Ok(discovery("https://keys.example.net/jwks")),
        FetchTarget::Jwks(_) => issuer.serve(&format!("{ISSUER}/.well-known/jwks.json"), now),
    });
    assert_eq!(status(&step), StatusCode::OK, "another https origin is fine");
    assert_eq!(fetched[1], "https://keys.example.net/jwks");
    // An http issuer (local development) may serve its keys over http.
    let text = config_text("").replace(ISSUER, "http://127.0.0.1:8787");
    let mut local = Gateway::new(GatewayConfig::from_toml(&text).unwrap());
    let Step::Verify(pending) = local.begin(&get("/api/x", Some(&auth)), now) else { panic!() };
    let KeysPlan::Fetch(target) = local.keys(&pending, now) else { panic!() };
    let doc = Fetched {
        status: 200,
        cache_control: None,
        body: serde_json::to_vec(&json!({
            "issuer": "http://127.0.0.1:8787",
            "jwks_uri": "http://127.0.0.1:8787/.well-known/jwks.json"
        }))
        .unwrap(),
    };
    assert!(local.fetched(&target, Ok(doc), now).is_some());
}

#[test]
fn a_withdrawn_key_stops_a_hot_token_at_the_next_refresh() {
    let issuer = Issuer::new();
    let mut gw = gateway("");
    let now = UnixTime::from_secs(T0 + 10);
    let auth = bearer(&issuer.token(json!({}), now));
    assert_eq!(
        status(&send(&mut gw, &issuer, &get("/api/x", Some(&auth)), now).step),
        StatusCode::OK
    );
    let kid = gatehouse_core::verify::peek_kid(auth.trim_start_matches("Bearer ")).unwrap();
    issuer.withdrawn.borrow_mut().push(kid);
    // While the keys are fresh, the hot token is served from the cache.
    let hot = send(&mut gw, &issuer, &get("/api/x", Some(&auth)), now.plus(100));
    assert!(!hot.verified);
    assert_eq!(status(&hot.step), StatusCode::OK);
    // Past their freshness (max-age=300), only hot tokens arrive: the first one
    // refreshes the keys, and the withdrawn key admits nothing any more.
    let fetches = issuer.fetches.get();
    let later = now.plus(301);
    let step = send(&mut gw, &issuer, &get("/api/x", Some(&auth)), later).step;
    assert_eq!(status(&step), StatusCode::UNAUTHORIZED);
    assert_eq!(issuer.fetches.get(), fetches + 1, "one JWKS refresh");
    assert!(gw.tokens().is_empty());
    let step = send(&mut gw, &issuer, &get("/api/x", Some(&auth)), later.plus(1)).step;
    assert_eq!(status(&step), StatusCode::UNAUTHORIZED);
}

#[test]
fn any_jwks_refresh_drops_the_cached_tokens_of_withdrawn_keys_at_once() {
    let issuer = Issuer::new();
    let mut gw = gateway("");
    let now = UnixTime::from_secs(T0 + 10);
    let a = bearer(&issuer.token(json!({"jti": "a"}), now));
    let b = bearer(&issuer.token(json!({"jti": "b"}), now));
    for auth in [&a, &b] {
        assert_eq!(
            status(&send(&mut gw, &issuer, &get("/api/x", Some(auth)), now).step),
            StatusCode::OK
        );
    }
    assert_eq!(gw.tokens().len(), 2);
    let kid = gatehouse_core::verify::peek_kid(a.trim_start_matches("Bearer ")).unwrap();
    issuer.withdrawn.borrow_mut().push(kid);
    // A token with a kid the gateway does not know makes it refetch (after the
    // cooldown): the refreshed JWKS lacks the key, and its tokens leave the cache.
    let unknown = JwsHeader {
        alg: Algorithm::ES256,
        typ: Some("at+jwt".into()),
        kid: Some("brand-new".into()),
    };
    let probe = bearer(&issuer.token_with(Some(unknown), json!({"jti": "c"}), now));
    let step = send(&mut gw, &issuer, &get("/api/x", Some(&probe)), now.plus(11)).step;
    assert_eq!(status(&step), StatusCode::UNAUTHORIZED);
    assert!(gw.tokens().is_empty(), "dropped at the refresh, before anyone asks");
    for auth in [&a, &b] {
        let step = send(&mut gw, &issuer, &get("/api/x", Some(auth)), now.plus(12)).step;
        assert_eq!(status(&step), StatusCode::UNAUTHORIZED);
    }
}

#[test]
fn a_token_verified_with_keys_replaced_meanwhile_is_refused() {
    let issuer = Issuer::new();
    let mut gw = gateway("");
    let now = UnixTime::from_secs(T0 + 10);
    let warm = bearer(&issuer.token(json!({"jti": "warm"}), now));
    assert_eq!(
        status(&send(&mut gw, &issuer, &get("/api/x", Some(&warm)), now).step),
        StatusCode::OK
    );
    let auth = bearer(&issuer.token(json!({"jti": "late"}), now));
    let Step::Verify(pending) = gw.begin(&get("/api/x", Some(&auth)), now) else { panic!() };
    let KeysPlan::Ready(old) = gw.keys(&pending, now) else { panic!() };
    // While its signature is checked against `old`, a refresh without the key lands.
    issuer.withdrawn.borrow_mut().push(pending.kid().unwrap().to_owned());
    let url = format!("{ISSUER}/.well-known/jwks.json");
    gw.fetched(&FetchTarget::Jwks(url.clone()), issuer.serve(&url, now), now);
    let config = gw.config().clone();
    let outcome = pollster::block_on(verify_pending(&issuer.crypto, &config, &old, &pending, now));
    assert!(outcome.is_ok(), "the old copy still verifies it");
    let step = gw.finish(pending, Some(outcome), now);
    assert_eq!(status(&step), StatusCode::UNAUTHORIZED);
    assert!(gw.tokens().is_empty());
}

#[test]
fn tokens_must_carry_the_configured_audience() {
    let issuer = Issuer::new();
    let mut gw = gateway("");
    let now = UnixTime::from_secs(T0 + 10);
    for (aud, expected) in [
        (json!(API), StatusCode::OK),
        (json!(["https://other.example.com", API]), StatusCode::OK),
        // Tokens that name only the issuer (or another API) do not pass.
        (json!(ISSUER), StatusCode::UNAUTHORIZED),
        (json!(format!("{ISSUER}/admin/v1")), StatusCode::UNAUTHORIZED),
        (json!("https://api.example.com/"), StatusCode::UNAUTHORIZED),
    ] {
        let auth = bearer(&issuer.token(json!({"aud": aud, "jti": aud.to_string()}), now));
        let step = send(&mut gw, &issuer, &get("/api/x", Some(&auth)), now).step;
        assert_eq!(status(&step), expected, "aud {aud}");
    }
}
