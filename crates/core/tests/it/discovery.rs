use gatehouse_testkit::{Scenario, body_json};

#[test]
fn both_metadata_documents_name_only_what_is_served() {
    let s = Scenario::default();
    for path in ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"] {
        let response = s.get(path);
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["access-control-allow-origin"], "*");
        let doc = body_json(&response);
        assert_eq!(doc["issuer"], "https://id.example.test");
        assert_eq!(doc["token_endpoint"], "https://id.example.test/token");
        assert_eq!(doc["jwks_uri"], "https://id.example.test/.well-known/jwks.json");
        assert_eq!(
            doc["grant_types_supported"],
            serde_json::json!([
                "authorization_code",
                "refresh_token",
                "client_credentials",
                "urn:ietf:params:oauth:grant-type:device_code",
                "password"
            ])
        );
        // Every advertised endpoint is served (a 405 for GET still means it exists).
        for (member, url) in doc.as_object().unwrap() {
            if member.ends_with("_endpoint") {
                let path = url.as_str().unwrap().strip_prefix("https://id.example.test").unwrap();
                assert_ne!(s.get(path).status(), 404, "{member}: {path}");
            }
        }
        assert!(doc["scopes_supported"].as_array().unwrap().iter().any(|s| s == "gatehouse:admin"));
    }
}

#[test]
fn issuer_with_a_path_serves_under_it() {
    let s = Scenario::with_vars(&[("ISSUER", Some("https://id.example.test/tenant"))]);
    let doc = body_json(&s.get("/tenant/.well-known/openid-configuration"));
    assert_eq!(doc["token_endpoint"], "https://id.example.test/tenant/token");
    assert_eq!(s.get("/.well-known/openid-configuration").status(), 404);
}

#[test]
fn jwks_publishes_public_es256_and_rs256_keys() {
    let s = Scenario::default();
    let response = s.get("/.well-known/jwks.json");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "public, max-age=300");
    let jwks = body_json(&response);
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    let algs: Vec<_> = keys.iter().map(|k| k["alg"].as_str().unwrap()).collect();
    assert!(algs.contains(&"ES256") && algs.contains(&"RS256"));
    for key in keys {
        assert_eq!(key["use"], "sig");
        assert!(key["kid"].as_str().is_some_and(|k| k.len() == 43));
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(key.get(private).is_none(), "{private} must not be published");
        }
    }
}

#[test]
fn head_and_preflight() {
    let s = Scenario::default();
    let head = s.send(http::Request::head("/.well-known/jwks.json").body(Vec::new()).unwrap());
    assert_eq!(head.status(), 200);
    assert!(head.body().is_empty());
    let preflight = s.send(
        http::Request::options("/token")
            .header("origin", "https://app.example")
            .header("access-control-request-method", "POST")
            .body(Vec::new())
            .unwrap(),
    );
    assert_eq!(preflight.status(), 204);
    assert!(preflight.headers()["access-control-allow-methods"].to_str().unwrap().contains("POST"));
    assert!(
        preflight.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("Authorization")
    );
}

#[test]
fn unknown_paths_are_404_json() {
    let s = Scenario::default();
    let response = s.get("/nope");
    assert_eq!(response.status(), 404);
    assert_eq!(body_json(&response)["error"], "invalid_request");
}
