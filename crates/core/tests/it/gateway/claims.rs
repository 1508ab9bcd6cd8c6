//! Claims forwarded as headers (`forward_claims`): the top-level table on every route
//! that checks a token, a route's own table over it, values encoded for headers, and
//! the same names always stripped from what the caller sent.

use super::*;

const FORWARDING: &str = r#"
issuer = "https://id.example.com"
origin = "http://127.0.0.1:9000"
audience = "https://api.example.com"
forward_claims = { "X-User-Email" = "email", "x-tenant" = "tenant" }

[[routes]]
prefix = "/public/"
public = true

[[routes]]
prefix = "/api/billing"
forward_claims = { "x-tenant" = "org", "x-tier" = "tier", "x-address" = "address" }

[[routes]]
prefix = "/api/"
"#;

fn strips(step: &Step, name: &str) -> bool {
    match step {
        Step::Forward(f) => f.strip.iter().any(|n| n.as_str() == name),
        _ => panic!("not forwarded: {}", status(step)),
    }
}

#[test]
fn chosen_claims_are_forwarded_and_client_sent_ones_stripped() {
    let issuer = Issuer::new();
    let mut gw = Gateway::new(GatewayConfig::from_toml(FORWARDING).unwrap());
    let now = UnixTime::from_secs(T0 + 10);
    let auth = bearer(&issuer.token(
        json!({
            "email": "ada@example.com", "tenant": "acme", "org": "acme-billing", "tier": 3,
            "address": { "country": "UK" }
        }),
        now,
    ));
    let step = send(&mut gw, &issuer, &get("/api/orders", Some(&auth)), now).step;
    assert_eq!(forwarded(&step, "x-user-email").as_deref(), Some("ada@example.com"));
    assert_eq!(forwarded(&step, "x-tenant").as_deref(), Some("acme"));
    assert_eq!(forwarded(&step, "x-tier"), None, "another route's claim");
    // Headers of every table are removed when not set here: the caller's never pass.
    assert!(strips(&step, "x-tier") && strips(&step, "x-address"));
    assert!(!strips(&step, "x-tenant"), "set, so the caller's is replaced");

    // The route's table over the top-level one; non-strings as JSON. A cached token.
    let step = send(&mut gw, &issuer, &get("/api/billing/1", Some(&auth)), now).step;
    assert_eq!(forwarded(&step, "x-tenant").as_deref(), Some("acme-billing"));
    assert_eq!(forwarded(&step, "x-tier").as_deref(), Some("3"));
    assert_eq!(forwarded(&step, "x-address").as_deref(), Some(r#"{"country":"UK"}"#));
    assert_eq!(forwarded(&step, "x-user-email").as_deref(), Some("ada@example.com"));

    // A token without the claims: the headers are stripped, none invented.
    let bare = bearer(&issuer.token(json!({ "jti": "bare" }), now));
    let step = send(&mut gw, &issuer, &get("/api/billing/2", Some(&bare)), now).step;
    for name in ["x-user-email", "x-tenant", "x-tier", "x-address"] {
        assert_eq!(forwarded(&step, name), None, "{name}");
        assert!(strips(&step, name), "{name}");
    }

    // Public routes strip them too.
    let step = send(&mut gw, &issuer, &get("/public/x", None), now).step;
    for name in ["x-user-email", "x-tenant", "x-tier", "x-address"] {
        assert!(strips(&step, name), "{name}");
    }
}

#[test]
fn forwarded_values_are_encoded_for_headers() {
    let issuer = Issuer::new();
    let mut gw = Gateway::new(GatewayConfig::from_toml(FORWARDING).unwrap());
    let now = UnixTime::from_secs(T0 + 10);
    let auth = bearer(&issuer.token(json!({ "tenant": "zoë\r\nx-evil: 1 100%" }), now));
    let step = send(&mut gw, &issuer, &get("/api/x", Some(&auth)), now).step;
    assert_eq!(forwarded(&step, "x-tenant").as_deref(), Some("zo%C3%AB%0D%0Ax-evil: 1 100%25"));
    // A claim repeated in the payload is ambiguous: the token is refused.
    let ring = issuer.ring.borrow();
    let key = ring.signing_key(Algorithm::ES256, now, &issuer.kek).unwrap();
    let header = JwsHeader {
        alg: Algorithm::ES256,
        typ: Some("at+jwt".into()),
        kid: Some(key.kid.as_str().to_owned()),
    };
    let header_b64 = gatehouse_core::jose::b64url(&serde_json::to_vec(&header).unwrap());
    let payload = format!(
        r#"{{"iss":"{ISSUER}","sub":"u","aud":"{API}","exp":{},"iat":{},"jti":"d","client_id":"c","tenant":"a","tenant":"b"}}"#,
        now.as_secs() + 60,
        now.as_secs()
    );
    let input = format!("{header_b64}.{}", gatehouse_core::jose::b64url(payload.as_bytes()));
    let sig = pollster::block_on(issuer.crypto.sign(&key, input.as_bytes())).unwrap();
    drop(ring);
    let auth = bearer(&encode_compact(&input, &sig));
    let step = send(&mut gw, &issuer, &get("/api/x", Some(&auth)), now).step;
    assert_eq!(status(&step), StatusCode::UNAUTHORIZED);
}

#[test]
fn forward_claims_config_errors() {
    let doc = |top: &str, route: &str| {
        format!(
            "issuer = \"https://a\"\norigin = \"http://o\"\naudience = \"https://api\"\n{top}\n\
             [[routes]]\nprefix = \"/\"\n{route}\n"
        )
    };
    let cases = [
        (doc("forward_claims = { \"x y\" = \"email\" }", ""), 4, "not a header name"),
        (doc("forward_claims = { \"Connection\" = \"email\" }", ""), 4, "cannot carry"),
        (doc("forward_claims = { \"upgrade\" = \"email\" }", ""), 4, "cannot carry"),
        (doc("forward_claims = { \"host\" = \"email\" }", ""), 4, "cannot carry"),
        (doc("forward_claims = { \"x-forwarded-for\" = \"email\" }", ""), 4, "cannot carry"),
        (doc("forward_claims = { \"cf-connecting-ip\" = \"email\" }", ""), 4, "cannot carry"),
        (doc("forward_claims = { \"x-gatehouse-sub\" = \"email\" }", ""), 4, "[headers]"),
        (doc("forward_claims = { \"x-a\" = \"email\", \"X-A\" = \"name\" }", ""), 4, "twice"),
        (doc("forward_claims = { \"x-a\" = \"sub\" }", ""), 4, "cannot be forwarded"),
        (doc("forward_claims = { \"x-a\" = \"\" }", ""), 4, "cannot be forwarded"),
        (doc("forward_claims = { \"x-a\" = 7 }", ""), 4, "invalid type"),
        (doc("", "forward_claims = { \"te\" = \"email\" }"), 7, "cannot carry"),
        (doc("", "public = true\nforward_claims = { \"x-a\" = \"email\" }"), 5, "public"),
    ];
    for (text, line, needle) in cases {
        let err = GatewayConfig::from_toml(&text).unwrap_err();
        assert_eq!(err.line, line, "{text}\n=> {err}");
        assert!(err.to_string().to_lowercase().contains(needle), "{text}\n=> {err}");
    }
}
