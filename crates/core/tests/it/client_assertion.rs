//! JWT client authentication at the token endpoint (RFC 7523): `client_secret_jwt`
//! and `private_key_jwt` apps created through the management API.

use gatehouse_core::Signer as _;
use gatehouse_core::jose::{Algorithm, Jwk, KeyId, b64url};
use gatehouse_core::keys::SigningKey;
use gatehouse_core::platform::PrivateJwk;
use gatehouse_testkit::{NativeCrypto, Scenario, body_json};
use hmac::Mac as _;
use http::Method;
use serde_json::{Value, json};

const ISSUER: &str = "https://id.example.test";
const TOKEN_ENDPOINT: &str = "https://id.example.test/token";

fn create_app(s: &Scenario, body: Value) -> Value {
    let token = s.bearer(None);
    let response = s.admin(Method::POST, "/admin/v1/apps", &token, Some(body), &[]);
    assert_eq!(response.status(), 201, "{:?}", body_json(&response));
    body_json(&response)
}

/// An s2s app that authenticates with `private_key_jwt`; `keys` is its `jwks` or
/// `jwks_uri` member.
fn signed_app(s: &Scenario, name: &str, keys: (&str, Value)) -> String {
    let mut body = json!({
        "client_name": name,
        "type": "s2s",
        "token_endpoint_auth_method": "private_key_jwt",
    });
    body[keys.0] = keys.1;
    let app = create_app(s, body);
    assert!(app.get("client_secret").is_none(), "a key-based app gets no secret");
    app["client_id"].as_str().unwrap().to_owned()
}

fn claims(s: &Scenario, client_id: &str, aud: &str, jti: &str) -> Value {
    let now = s.clock.now().as_secs();
    json!({"iss": client_id, "sub": client_id, "aud": aud, "jti": jti, "iat": now, "exp": now + 60})
}

fn hs256(claims: &Value, secret: &str) -> String {
    let input = format!(
        "{}.{}",
        b64url(br#"{"alg":"HS256","typ":"JWT"}"#),
        b64url(&serde_json::to_vec(claims).unwrap())
    );
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", b64url(&mac.finalize().into_bytes()))
}

struct ClientKey {
    public: Jwk,
    private: PrivateJwk,
    kid: &'static str,
}

/// A client's own key pair: seeded apart from the issuer's keys and from each other.
fn client_key(kid: &'static str) -> ClientKey {
    let seed = kid.bytes().fold(0x636c_6965_6e74_u64, |acc, b| acc.wrapping_mul(31) ^ u64::from(b));
    let generated =
        pollster::block_on(NativeCrypto::seeded(seed).generate(Algorithm::ES256)).unwrap();
    let mut public = generated.public;
    public.kid = Some(KeyId::new(kid));
    ClientKey { public, private: generated.private, kid }
}

/// An ES256 assertion signed with `key`, naming `kid` in its header when given.
fn es256_as(key: &ClientKey, claims: &Value, kid: Option<&str>) -> String {
    let header = match kid {
        Some(kid) => json!({"alg": "ES256", "typ": "JWT", "kid": kid}),
        None => json!({"alg": "ES256", "typ": "JWT"}),
    };
    let input = format!(
        "{}.{}",
        b64url(&serde_json::to_vec(&header).unwrap()),
        b64url(&serde_json::to_vec(claims).unwrap())
    );
    let signing = SigningKey::from_private(
        KeyId::new(key.kid),
        Algorithm::ES256,
        PrivateJwk(key.private.0.duplicate()),
    );
    let signature =
        pollster::block_on(NativeCrypto::default().sign(&signing, input.as_bytes())).unwrap();
    format!("{input}.{}", b64url(&signature))
}

fn es256(key: &ClientKey, claims: &Value, kid: bool) -> String {
    es256_as(key, claims, kid.then_some(key.kid))
}

fn token_request(s: &Scenario, assertion: &str, extra: &str) -> http::Response<Vec<u8>> {
    let body = format!(
        "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={assertion}{extra}"
    );
    s.post_form("/token", &body, None)
}

fn error_of(response: &http::Response<Vec<u8>>) -> String {
    body_json(response)["error"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn client_secret_jwt_gets_a_token_once_per_assertion() {
    let s = Scenario::default();
    let app = create_app(
        &s,
        json!({"client_name": "hmac_job", "type": "s2s", "token_endpoint_auth_method": "client_secret_jwt"}),
    );
    let (id, secret) = (app["client_id"].as_str().unwrap(), app["client_secret"].as_str().unwrap());
    let assertion = hs256(&claims(&s, id, ISSUER, "a-1"), secret);
    let response = token_request(&s, &assertion, "");
    assert_eq!(response.status(), 200, "{:?}", body_json(&response));
    assert!(body_json(&response)["access_token"].is_string());

    let replay = token_request(&s, &assertion, "");
    assert_eq!(replay.status(), 401);
    assert_eq!(error_of(&replay), "invalid_client");
    assert!(replay.headers().get("www-authenticate").is_none());

    // The token endpoint URL is not an audience (draft-ietf-oauth-rfc7523bis).
    let by_endpoint = hs256(&claims(&s, id, TOKEN_ENDPOINT, "a-2"), secret);
    assert_eq!(token_request(&s, &by_endpoint, &format!("&client_id={id}")).status(), 401);
    let by_issuer = hs256(&claims(&s, id, ISSUER, "a-3"), secret);
    assert_eq!(token_request(&s, &by_issuer, &format!("&client_id={id}")).status(), 200);

    // The same secret does not work as a plain secret: the method must match.
    let plain = format!("grant_type=client_credentials&client_id={id}&client_secret={secret}");
    assert_eq!(s.post_form("/token", &plain, None).status(), 401);
}

#[test]
fn a_reset_secret_invalidates_assertions_keyed_with_the_old_one() {
    let s = Scenario::default();
    let app = create_app(
        &s,
        json!({"client_name": "hmac_reset", "type": "s2s", "token_endpoint_auth_method": "client_secret_jwt"}),
    );
    let (id, old) = (app["client_id"].as_str().unwrap(), app["client_secret"].as_str().unwrap());
    let token = s.bearer(None);
    let reset = s.admin(Method::POST, &format!("/admin/v1/apps/{id}/secret"), &token, None, &[]);
    assert_eq!(reset.status(), 200);
    let new = body_json(&reset)["client_secret"].as_str().unwrap().to_owned();
    let stale = hs256(&claims(&s, id, ISSUER, "r-1"), old);
    assert_eq!(token_request(&s, &stale, "").status(), 401);
    let fresh = hs256(&claims(&s, id, ISSUER, "r-2"), &new);
    assert_eq!(token_request(&s, &fresh, "").status(), 200);
}

#[test]
fn private_key_jwt_checks_the_registered_keys() {
    let s = Scenario::default();
    let key = client_key("k1");
    let other = client_key("k2");
    let id = signed_app(&s, "signed_job", ("jwks", json!({"keys": [key.public]})));
    let id = id.as_str();
    let with_kid = es256(&key, &claims(&s, id, ISSUER, "p-1"), true);
    let response = token_request(&s, &with_kid, "");
    assert_eq!(response.status(), 200, "{:?}", body_json(&response));
    let without_kid = es256(&key, &claims(&s, id, ISSUER, "p-2"), false);
    assert_eq!(token_request(&s, &without_kid, "").status(), 200);

    // A key the app never registered, even under a registered kid.
    for assertion in [
        es256(&other, &claims(&s, id, ISSUER, "p-3"), true),
        es256_as(&other, &claims(&s, id, ISSUER, "p-4"), Some("k1")),
        es256(&other, &claims(&s, id, ISSUER, "p-5"), false),
    ] {
        let response = token_request(&s, &assertion, "");
        assert_eq!(response.status(), 401);
        assert_eq!(error_of(&response), "invalid_client");
    }
}

#[test]
fn assertion_claims_are_enforced() {
    let s = Scenario::default();
    let key = client_key("k1");
    let id = signed_app(&s, "strict_job", ("jwks", json!({"keys": [key.public]})));
    let id = id.as_str();
    let now = s.clock.now().as_secs();
    let refused = [
        ("wrong audience", claims(&s, id, "https://elsewhere.example/token", "c-1")),
        ("expired", json!({"iss": id, "sub": id, "aud": ISSUER, "jti": "c-2", "exp": now - 120})),
        (
            "lives too long",
            json!({"iss": id, "sub": id, "aud": ISSUER, "jti": "c-3", "exp": now + 86_400}),
        ),
        ("no jti", json!({"iss": id, "sub": id, "aud": ISSUER, "exp": now + 60})),
        ("no exp", json!({"iss": id, "sub": id, "aud": ISSUER, "jti": "c-4"})),
        (
            "iss is not the client",
            json!({"iss": "someone", "sub": id, "aud": ISSUER, "jti": "c-5", "exp": now + 60}),
        ),
    ];
    for (why, claims) in refused {
        let response = token_request(&s, &es256(&key, &claims, true), "");
        assert_eq!(response.status(), 401, "{why}");
        assert_eq!(error_of(&response), "invalid_client", "{why}");
    }
    // The answer stays opaque; the operator's log says which check failed.
    let log = s.take_diagnostics();
    assert!(log.iter().any(|l| l.contains(id) && l.contains("aud is not the issuer")), "{log:?}");
    assert!(log.iter().any(|l| l.contains("expired")), "{log:?}");
    // A refused assertion does not burn its jti: the same jti in a good assertion works.
    let good = es256(&key, &claims(&s, id, ISSUER, "c-1"), true);
    assert_eq!(token_request(&s, &good, "").status(), 200);
    // Once it has expired, its jti is forgotten, but so is the assertion.
    s.clock.advance(3600);
    assert_eq!(token_request(&s, &good, "").status(), 401);
}

#[test]
fn a_disabled_app_or_the_wrong_method_gets_nothing() {
    let s = Scenario::default();
    let key = client_key("k1");
    let id = signed_app(&s, "off_job", ("jwks", json!({"keys": [key.public]})));
    let id = id.as_str();
    let token = s.bearer(None);
    let disable = s.admin(Method::POST, &format!("/admin/v1/apps/{id}/disable"), &token, None, &[]);
    assert!(disable.status().is_success(), "{:?}", body_json(&disable));
    let assertion = es256(&key, &claims(&s, id, ISSUER, "d-1"), true);
    assert_eq!(token_request(&s, &assertion, "").status(), 401);

    // An HS256 assertion for a private_key_jwt app is the wrong method, whatever its key.
    let secret_app = create_app(&s, json!({"client_name": "basic_job", "type": "s2s"}));
    let (sid, secret) =
        (secret_app["client_id"].as_str().unwrap(), secret_app["client_secret"].as_str().unwrap());
    let hmac = hs256(&claims(&s, sid, ISSUER, "d-2"), secret);
    assert_eq!(token_request(&s, &hmac, "").status(), 401);
    // The bootstrap client authenticates with its secret only.
    let boot = hs256(&claims(&s, "admin-client", ISSUER, "d-3"), "admin-secret-0123456789");
    assert_eq!(token_request(&s, &boot, "").status(), 401);
}

#[test]
fn malformed_or_mixed_assertion_requests_are_clear_errors() {
    let s = Scenario::default();
    let cases: [(&str, u16, &str); 6] = [
        ("grant_type=client_credentials&client_assertion=abc", 400, "invalid_request"),
        (
            "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer",
            400,
            "invalid_request",
        ),
        (
            "grant_type=client_credentials&client_assertion_type=urn%3Aexample%3Asaml&client_assertion=abc",
            401,
            "invalid_client",
        ),
        (
            "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=a.b.c",
            401,
            "invalid_client",
        ),
        (
            "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=x&client_secret=y",
            400,
            "invalid_request",
        ),
        (
            "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=x&client_assertion=y",
            400,
            "invalid_request",
        ),
    ];
    for (body, status, error) in cases {
        let response = s.post_form("/token", body, None);
        assert_eq!(response.status(), status, "{body}");
        assert_eq!(error_of(&response), error, "{body}");
    }
    // Basic credentials beside an assertion: two methods.
    let assertion = hs256(&claims(&s, "x", ISSUER, "m-1"), "secret");
    let body = format!(
        "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={assertion}"
    );
    let response = s.post_form("/token", &body, Some(("x", "secret")));
    assert_eq!(response.status(), 400);
    // A client_id that is not the assertion's subject.
    let response = token_request(&s, &assertion, "&client_id=y");
    assert_eq!(error_of(&response), "invalid_request");
}

const CLIENT_JWKS_URI: &str = "https://keys.client.example/jwks.json";

fn serve_keys(s: &Scenario, keys: &[&ClientKey]) {
    let jwks = json!({"keys": keys.iter().map(|k| &k.public).collect::<Vec<_>>()});
    let body = serde_json::to_vec(&jwks).unwrap();
    s.engine.platform().fetch.serve(CLIENT_JWKS_URI, &body, Some("max-age=600"));
}

#[test]
fn private_key_jwt_with_a_jwks_uri_fetches_keys_once_per_freshness() {
    let s = Scenario::default();
    let k1 = client_key("k1");
    serve_keys(&s, &[&k1]);
    let id = signed_app(&s, "remote_keys", ("jwks_uri", json!(CLIENT_JWKS_URI)));
    let id = id.as_str();
    let fetch = &s.engine.platform().fetch;
    for jti in ["u-1", "u-2", "u-3"] {
        let assertion = es256(&k1, &claims(&s, id, ISSUER, jti), true);
        let response = token_request(&s, &assertion, "");
        assert_eq!(response.status(), 200, "{:?}", body_json(&response));
    }
    assert_eq!(fetch.requests(), 1, "the JWKS is cached for its max-age");

    // Made-up key ids refetch at most once per cooldown: none within the first,
    // one in the next.
    let stranger = client_key("k9");
    let assertion = es256(&stranger, &claims(&s, id, ISSUER, "u-0"), true);
    assert_eq!(token_request(&s, &assertion, "").status(), 401);
    assert_eq!(fetch.requests(), 1);
    s.clock.advance(gatehouse_core::fetch::REVALIDATE_COOLDOWN_SECS);
    for jti in ["u-4", "u-5", "u-6"] {
        let assertion = es256(&stranger, &claims(&s, id, ISSUER, jti), true);
        assert_eq!(token_request(&s, &assertion, "").status(), 401);
    }
    assert_eq!(fetch.requests(), 2);
}

#[test]
fn a_client_key_rotation_is_picked_up_and_an_unreachable_jwks_uri_refuses() {
    let s = Scenario::default();
    let k1 = client_key("k1");
    let k2 = client_key("k2");
    serve_keys(&s, &[&k1]);
    let id = signed_app(&s, "rotating_keys", ("jwks_uri", json!(CLIENT_JWKS_URI)));
    let id = id.as_str();
    let first = es256(&k1, &claims(&s, id, ISSUER, "v-1"), true);
    assert_eq!(token_request(&s, &first, "").status(), 200);

    // The client publishes k2 and signs with it: its unknown kid revalidates the
    // cached set once the cooldown since the last fetch has passed.
    serve_keys(&s, &[&k1, &k2]);
    s.clock.advance(gatehouse_core::fetch::REVALIDATE_COOLDOWN_SECS);
    let rotated = es256(&k2, &claims(&s, id, ISSUER, "v-2"), true);
    let response = token_request(&s, &rotated, "");
    assert_eq!(response.status(), 200, "{:?}", body_json(&response));

    // The client's key host goes down once the cached copy is stale: the last good
    // copy stands in for an hour past its freshness, then the app is refused.
    s.engine.platform().fetch.fail(CLIENT_JWKS_URI);
    s.clock.advance(601);
    let late = es256(&k2, &claims(&s, id, ISSUER, "v-3"), true);
    assert_eq!(token_request(&s, &late, "").status(), 200);
    s.clock.advance(gatehouse_core::fetch::MAX_STALE_SECS);
    let later = es256(&k2, &claims(&s, id, ISSUER, "v-4"), true);
    let response = token_request(&s, &later, "");
    assert_eq!(response.status(), 401);
    assert_eq!(error_of(&response), "invalid_client");
}

/// draft-ietf-oauth-rfc7523bis section 4 (the 2025 audience-injection attack): an
/// assertion's `aud` is the issuer identifier as a single string. The token
/// endpoint URL, arrays (even one holding only the issuer) and anything else are
/// refused, for `private_key_jwt` and `client_secret_jwt` alike.
#[test]
fn rfc7523bis_audience_must_be_the_issuer_as_a_single_string() {
    let s = Scenario::default();
    let key = client_key("k1");
    let signed = signed_app(&s, "aud_signed", ("jwks", json!({"keys": [key.public]})));
    let hmac = create_app(
        &s,
        json!({"client_name": "aud_hmac", "type": "s2s", "token_endpoint_auth_method": "client_secret_jwt"}),
    );
    let (hid, secret) =
        (hmac["client_id"].as_str().unwrap(), hmac["client_secret"].as_str().unwrap());
    let refused = [
        json!(TOKEN_ENDPOINT),
        json!([ISSUER]),
        json!([ISSUER, TOKEN_ENDPOINT]),
        json!(["https://attacker.example", ISSUER]),
        json!(format!("{ISSUER}/")),
        json!(null),
    ];
    for (i, aud) in refused.iter().enumerate() {
        let mut for_signed = claims(&s, &signed, ISSUER, &format!("s-{i}"));
        for_signed["aud"] = aud.clone();
        let response = token_request(&s, &es256(&key, &for_signed, true), "");
        assert_eq!(response.status(), 401, "private_key_jwt, aud {aud}");
        assert_eq!(error_of(&response), "invalid_client");
        let mut for_hmac = claims(&s, hid, ISSUER, &format!("h-{i}"));
        for_hmac["aud"] = aud.clone();
        let response = token_request(&s, &hs256(&for_hmac, secret), "");
        assert_eq!(response.status(), 401, "client_secret_jwt, aud {aud}");
    }
    let log = s.take_diagnostics();
    assert!(
        log.iter().all(|l| !l.contains("refused") || l.contains("aud is not the issuer")),
        "{log:?}"
    );
    let good = es256(&key, &claims(&s, &signed, ISSUER, "s-ok"), true);
    assert_eq!(token_request(&s, &good, "").status(), 200);
    let good = hs256(&claims(&s, hid, ISSUER, "h-ok"), secret);
    assert_eq!(token_request(&s, &good, "").status(), 200);
}

/// An RS256 key pair of a client, its public half with extra members.
fn rsa_client_key(kid: &'static str) -> ClientKey {
    let generated =
        pollster::block_on(NativeCrypto::seeded(0x7273_6131).generate(Algorithm::RS256)).unwrap();
    let mut public = generated.public;
    public.kid = Some(KeyId::new(kid));
    ClientKey { public, private: generated.private, kid }
}

fn rs256(key: &ClientKey, claims: &Value) -> String {
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": key.kid});
    let input = format!(
        "{}.{}",
        b64url(&serde_json::to_vec(&header).unwrap()),
        b64url(&serde_json::to_vec(claims).unwrap())
    );
    let signing = SigningKey::from_private(
        KeyId::new(key.kid),
        Algorithm::RS256,
        PrivateJwk(key.private.0.duplicate()),
    );
    let signature =
        pollster::block_on(NativeCrypto::default().sign(&signing, input.as_bytes())).unwrap();
    format!("{input}.{}", b64url(&signature))
}

/// A JWK restricted to another algorithm or use, or to one Gatehouse does not know,
/// is skipped: it never verifies an RS256 assertion, whether registered as `jwks` or
/// published at a `jwks_uri`.
#[test]
fn keys_restricted_to_other_or_unknown_uses_never_verify() {
    let s = Scenario::default();
    let key = rsa_client_key("r1");
    let member = |extra: Value| {
        let mut jwk = serde_json::to_value(&key.public).unwrap();
        jwk.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        jwk
    };
    let restricted = [
        json!({"alg": "PS256"}),
        json!({"alg": "RSA-OAEP"}),
        json!({"use": "enc"}),
        json!({"use": "x"}),
    ];
    let token = s.bearer(None);
    for (i, extra) in restricted.iter().enumerate() {
        // Registered: a set with no usable key is refused, naming the field.
        let body = json!({
            "client_name": format!("restricted_{i}"), "type": "s2s",
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [member(extra.clone())]},
        });
        let response = s.admin(Method::POST, "/admin/v1/apps", &token, Some(body), &[]);
        assert_eq!(response.status(), 400, "{extra}");
        assert!(body_json(&response).to_string().contains("/jwks/keys"), "{extra}");
    }
    // Published: the key is not used.
    let url = CLIENT_JWKS_URI;
    let id = signed_app(&s, "restricted_remote", ("jwks_uri", json!(url)));
    for (i, extra) in restricted.iter().enumerate() {
        let jwks = serde_json::to_vec(&json!({"keys": [member(extra.clone())]})).unwrap();
        s.engine.platform().fetch.serve(url, &jwks, Some("max-age=10"));
        s.clock.advance(gatehouse_core::fetch::MAX_FRESH_SECS);
        let response =
            token_request(&s, &rs256(&key, &claims(&s, &id, ISSUER, &format!("x-{i}"))), "");
        assert_eq!(response.status(), 401, "{extra}");
    }
    let jwks =
        serde_json::to_vec(&json!({"keys": [member(json!({"alg": "RS256", "use": "sig"}))]}));
    s.engine.platform().fetch.serve(url, &jwks.unwrap(), Some("max-age=10"));
    s.clock.advance(gatehouse_core::fetch::MAX_FRESH_SECS);
    let response = token_request(&s, &rs256(&key, &claims(&s, &id, ISSUER, "x-ok")), "");
    assert_eq!(response.status(), 200, "{:?}", body_json(&response));
}

/// A `jwks_uri` may not point into a private network or use plain `http`, neither
/// when registered (a problem naming the field) nor when fetched, unless the
/// operator sets `INSECURE_ALLOW_PRIVATE_FETCH=true`.
#[test]
fn a_private_or_plain_http_jwks_uri_is_refused_unless_the_operator_allows_it() {
    let s = Scenario::default();
    let token = s.bearer(None);
    let private = [
        "https://127.0.0.1/jwks",
        "https://10.0.0.8/jwks",
        "https://169.254.169.254/latest",
        "https://[::1]/jwks",
        "https://[::ffff:192.168.0.1]/jwks",
        "https://localhost/jwks",
        "https://keys.localhost/jwks",
        "https://2130706433/jwks",
        "http://keys.client.example/jwks",
    ];
    for (i, url) in private.iter().enumerate() {
        let body = json!({
            "client_name": format!("private_{i}"), "type": "s2s",
            "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": url,
        });
        let response = s.admin(Method::POST, "/admin/v1/apps", &token, Some(body), &[]);
        assert_eq!(response.status(), 400, "{url}");
        let problem = body_json(&response);
        assert!(problem.to_string().contains("/jwks_uri"), "{url}: {problem}");
    }

    // Allowed by the operator: registered and fetched, over plain http too.
    let dev = Scenario::with_vars(&[("INSECURE_ALLOW_PRIVATE_FETCH", Some("true"))]);
    let url = "http://127.0.0.1:9999/jwks.json";
    let key = client_key("k1");
    let jwks = serde_json::to_vec(&json!({"keys": [key.public]})).unwrap();
    dev.engine.platform().fetch.serve(url, &jwks, None);
    let id = signed_app(&dev, "local_keys", ("jwks_uri", json!(url)));
    let assertion = es256(&key, &claims(&dev, &id, ISSUER, "l-1"), true);
    let response = token_request(&dev, &assertion, "");
    assert_eq!(response.status(), 200, "{:?}", body_json(&response));

    // A record that names a private URL (written under another policy) is not
    // fetched: the rule runs again before every fetch.
    let stored = dev.engine.platform().directory.origin().clone();
    let record =
        pollster::block_on(gatehouse_core::store::Directory::get(&*stored, &format!("apps/{id}")))
            .unwrap()
            .unwrap();
    let strict = Scenario::default();
    let target = &strict.engine.platform().directory;
    pollster::block_on(gatehouse_core::store::Directory::put(
        &**target.origin(),
        &format!("apps/{id}"),
        &record,
    ))
    .unwrap();
    strict.engine.platform().fetch.serve(url, &jwks, None);
    let assertion = es256(&key, &claims(&strict, &id, ISSUER, "l-2"), true);
    let response = token_request(&strict, &assertion, "");
    assert_eq!(response.status(), 401);
    assert_eq!(strict.engine.platform().fetch.requests(), 0, "nothing was fetched");
    let log = strict.take_diagnostics();
    assert!(log.iter().any(|l| l.contains("jwks_uri refused")), "{log:?}");
}
