//! Signing in through an upstream OpenID provider, played by the fake fetch:
//! its discovery document, its JWKS and its token endpoint answering a signed ID
//! token. The browser clicks the login page's button, comes back to the callback,
//! and the app gets tokens for the local user.

use gatehouse_core::Signer as _;
use gatehouse_core::jose::{Algorithm, KeyId, b64url};
use gatehouse_core::keys::SigningKey;
use gatehouse_core::platform::PrivateJwk;
use gatehouse_testkit::{Browser, NativeCrypto, body_json, hidden_fields, pkce, redirect_params};
use http::Method;
use serde_json::{Value, json};
use sha2::Digest as _;

use super::{App, World, is_login, text};

const UPSTREAM: &str = "https://sso.example.test";
const UPSTREAM_TOKEN: &str = "https://sso.example.test/token";
const UPSTREAM_CLIENT: &str = "gatehouse-at-sso";

/// A world with the provider `corp` registered and its documents served.
struct Federation {
    w: World,
    private: PrivateJwk,
    apps: std::cell::Cell<u32>,
}

impl Federation {
    fn new() -> Self {
        let w = World::new();
        let generated =
            pollster::block_on(NativeCrypto::seeded(0x5550).generate(Algorithm::ES256)).unwrap();
        let mut public = generated.public;
        public.kid = Some(KeyId::new("up1"));
        let fetch = &w.s.engine.platform().fetch;
        fetch.serve(
            &format!("{UPSTREAM}/.well-known/openid-configuration"),
            json!({
                "issuer": UPSTREAM,
                "authorization_endpoint": format!("{UPSTREAM}/authorize"),
                "token_endpoint": UPSTREAM_TOKEN,
                "jwks_uri": format!("{UPSTREAM}/jwks"),
            })
            .to_string()
            .as_bytes(),
            None,
        );
        fetch.serve(
            &format!("{UPSTREAM}/jwks"),
            json!({ "keys": [public] }).to_string().as_bytes(),
            None,
        );
        let response = w.s.admin(
            Method::POST,
            "/admin/v1/providers",
            &w.admin,
            Some(json!({
                "id": "corp",
                "display_name": "Corp SSO",
                "issuer": UPSTREAM,
                "client_id": UPSTREAM_CLIENT,
                "client_secret": "upstream secret",
            })),
            &[],
        );
        assert_eq!(response.status(), 201, "{:?}", body_json(&response));
        Self { w, private: generated.private, apps: std::cell::Cell::new(0) }
    }

    /// A first-party web app allowing `corp`, with `settings`.
    fn app(&self, settings: Value) -> App {
        let mut extra = json!({ "first_party": true, "allowed_providers": ["corp"] });
        if let (Value::Object(extra), Value::Object(settings)) = (&mut extra, settings) {
            extra.extend(settings);
        }
        self.apps.set(self.apps.get() + 1);
        self.w.app(&format!("federated_{}", self.apps.get()), "web", extra)
    }

    /// An ID token of the upstream, signed with its key.
    fn id_token(&self, claims: &Value) -> String {
        let header = json!({"alg": "ES256", "typ": "JWT", "kid": "up1"});
        let input = format!(
            "{}.{}",
            b64url(&serde_json::to_vec(&header).unwrap()),
            b64url(&serde_json::to_vec(claims).unwrap())
        );
        let key = SigningKey::from_private(
            KeyId::new("up1"),
            Algorithm::ES256,
            PrivateJwk(self.private.0.duplicate()),
        );
        let signature =
            pollster::block_on(NativeCrypto::default().sign(&key, input.as_bytes())).unwrap();
        format!("{input}.{}", b64url(&signature))
    }

    /// The claims the upstream signs for `sub`, with the request's `nonce`.
    fn claims(&self, sub: &str, nonce: &str, extra: Value) -> Value {
        let now = self.w.s.clock.now().as_secs();
        let mut claims = json!({
            "iss": UPSTREAM, "sub": sub, "aud": UPSTREAM_CLIENT,
            "iat": now, "exp": now + 300, "nonce": nonce,
        });
        if let (Value::Object(claims), Value::Object(extra)) = (&mut claims, extra) {
            claims.extend(extra);
        }
        claims
    }

    /// Opens the login page of `app` and clicks "Continue with Corp SSO": the
    /// redirect to the upstream.
    fn click(&self, browser: &Browser, app: &App, challenge: &str) -> http::Response<Vec<u8>> {
        let page = browser.get(&self.w.s, &self.w.authorize_url(app, "openid", challenge, ""));
        assert_eq!(page.status(), 200);
        assert!(text(&page).contains("Continue with Corp SSO"), "{}", text(&page));
        let mut fields: Vec<(String, String)> = Vec::new();
        for (name, value) in hidden_fields(&text(&page)) {
            if !fields.iter().any(|(n, _)| *n == name) {
                fields.push((name, value));
            }
        }
        fields.push(("provider".into(), "corp".into()));
        let fields: Vec<(&str, &str)> =
            fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        browser.post(&self.w.s, "/upstream/start", &fields)
    }

    /// Serves the token endpoint's answer for `claims` (`nonce` filled in from the
    /// upstream request unless the claims set one).
    fn answer(&self, id_token: &str) {
        self.w.s.engine.platform().fetch.answer_posts(
            UPSTREAM_TOKEN,
            200,
            &json!({ "access_token": "up-at", "token_type": "Bearer", "id_token": id_token }),
        );
    }

    /// A whole upstream sign-in as `sub`: the response to the callback.
    fn sign_in(&self, browser: &Browser, app: &App, sub: &str, extra: Value) -> Callback {
        let (verifier, challenge) = pkce(3);
        let started = self.click(browser, app, &challenge);
        assert_eq!(started.status(), 303, "{}", text(&started));
        let upstream = redirect_params(&started);
        let nonce = upstream["nonce"].clone();
        self.answer(&self.id_token(&self.claims(sub, &nonce, extra)));
        let state = upstream["state"].clone();
        let response =
            browser.get(&self.w.s, &format!("/upstream/callback?code=up-code&state={state}"));
        Callback { response, upstream, verifier }
    }

    /// The `sub` of the local user an app's code was issued for.
    fn local_sub(&self, app: &App, callback: &Callback) -> String {
        assert_eq!(callback.response.status(), 303, "{}", text(&callback.response));
        let code = self.w.code_of(&callback.response);
        let tokens = self.w.redeem(app, &code, &callback.verifier);
        assert_eq!(tokens.status(), 200, "{:?}", body_json(&tokens));
        let body = body_json(&tokens);
        let claims = self.w.id_token(
            app,
            body["id_token"].as_str().unwrap(),
            body["access_token"].as_str().unwrap(),
        );
        assert_eq!(claims.amr, ["fed"]);
        claims.sub
    }

    fn user(&self, id: &str) -> Value {
        let response =
            self.w.s.admin(Method::GET, &format!("/admin/v1/users/{id}"), &self.w.admin, None, &[]);
        assert_eq!(response.status(), 200);
        body_json(&response)
    }
}

struct Callback {
    response: http::Response<Vec<u8>>,
    upstream: std::collections::BTreeMap<String, String>,
    verifier: String,
}

fn says_no_account(response: &http::Response<Vec<u8>>) -> bool {
    response.status() == 401 && is_login(response) && text(response).contains("no account")
}

fn says_failed(response: &http::Response<Vec<u8>>) -> bool {
    response.status() == 401 && is_login(response) && text(response).contains("did not work")
}

#[test]
fn the_upstream_request_carries_state_nonce_and_pkce_and_the_exchange_authenticates() {
    let f = Federation::new();
    let app = f.app(json!({ "link_by_verified_email": true }));
    let browser = Browser::new();
    let callback = f.sign_in(
        &browser,
        &app,
        "up-ada",
        json!({ "email": "ada@example.com", "email_verified": true }),
    );
    let up = &callback.upstream;
    let location = callback_location(&f, &Browser::new(), &app);
    assert!(location.starts_with(&format!("{UPSTREAM}/authorize?")), "{location}");
    assert_eq!(up["client_id"], UPSTREAM_CLIENT);
    assert_eq!(up["redirect_uri"], "https://id.example.test/upstream/callback");
    assert_eq!(up["scope"], "openid profile email");
    assert_eq!(up["code_challenge_method"], "S256");
    assert!(up["state"].len() >= 43 && up["nonce"].len() >= 43);
    let post = f.w.s.engine.platform().fetch.posts().into_iter().last().unwrap();
    assert_eq!(post.url, UPSTREAM_TOKEN);
    let body = String::from_utf8(post.body).unwrap();
    assert!(body.contains("grant_type=authorization_code") && body.contains("code=up-code"));
    let verifier = body.split('&').find_map(|p| p.strip_prefix("code_verifier=")).unwrap();
    assert_eq!(b64url(&sha2::Sha256::digest(verifier.as_bytes())), up["code_challenge"]);
    let basic = post.headers.iter().find(|(k, _)| k == "authorization").unwrap();
    assert!(basic.1.starts_with("Basic "), "client_secret_basic by default");
    assert_eq!(f.local_sub(&app, &callback), f.w.user_id, "linked by the verified email");
}

/// A second click's redirect (the first one's parameters were checked above).
fn callback_location(f: &Federation, browser: &Browser, app: &App) -> String {
    let (_, challenge) = pkce(4);
    let started = f.click(browser, app, &challenge);
    started.headers()["location"].to_str().unwrap().to_owned()
}

#[test]
fn a_linked_account_finds_its_user_again_by_issuer_and_subject_not_by_email() {
    let f = Federation::new();
    let app = f.app(json!({ "link_by_verified_email": true }));
    let verified = json!({ "email": "ada@example.com", "email_verified": true });
    let first = f.sign_in(&Browser::new(), &app, "up-ada", verified);
    assert_eq!(f.local_sub(&app, &first), f.w.user_id);
    let identities = f.user(&f.w.user_id)["identities"].clone();
    assert_eq!(identities[0]["provider"], "corp");
    assert_eq!(identities[0]["subject"], "up-ada");
    assert!(identities[0]["linked_at"].is_u64());
    // The upstream email changed: the link still finds the user.
    let again = f.sign_in(&Browser::new(), &app, "up-ada", json!({ "email": "new@example.org" }));
    assert_eq!(f.local_sub(&app, &again), f.w.user_id);
    // Unlinked: with no way to find or make a user, there is none.
    let other = f.app(json!({}));
    let response = f.w.s.admin(
        Method::DELETE,
        &format!("/admin/v1/users/{}/identities/corp", f.w.user_id),
        &f.w.admin,
        None,
        &[],
    );
    assert_eq!(response.status(), 204);
    assert!(f.user(&f.w.user_id).get("identities").is_none());
    let gone = f.sign_in(&Browser::new(), &other, "up-ada", json!({}));
    assert!(says_no_account(&gone.response), "{}", text(&gone.response));
    let response = f.w.s.admin(
        Method::DELETE,
        &format!("/admin/v1/users/{}/identities/corp", f.w.user_id),
        &f.w.admin,
        None,
        &[],
    );
    assert_eq!(response.status(), 204, "already gone");
    let response = f.w.s.admin(
        Method::DELETE,
        "/admin/v1/users/nobody/identities/corp",
        &f.w.admin,
        None,
        &[],
    );
    assert_eq!(response.status(), 404);
}

#[test]
fn linking_by_email_needs_the_app_setting_and_a_verified_email() {
    let f = Federation::new();
    let off = f.app(json!({}));
    let verified = json!({ "email": "ada@example.com", "email_verified": true });
    let refused = f.sign_in(&Browser::new(), &off, "up-ada", verified);
    assert!(says_no_account(&refused.response), "off by default");
    let on = f.app(json!({ "link_by_verified_email": true }));
    let unverified = json!({ "email": "ada@example.com", "email_verified": false });
    let refused = f.sign_in(&Browser::new(), &on, "up-ada", unverified);
    assert!(says_no_account(&refused.response), "{}", text(&refused.response));
    let unsaid = f.sign_in(&Browser::new(), &on, "up-ada", json!({ "email": "ada@example.com" }));
    assert!(says_no_account(&unsaid.response));
    assert!(f.user(&f.w.user_id).get("identities").is_none());
}

#[test]
fn register_with_login_information_creates_the_user_once() {
    let f = Federation::new();
    let app = f.app(json!({ "register_with_login_information": true }));
    let claims = json!({
        "email": "grace@example.org", "email_verified": true, "name": "Grace Hopper",
        "preferred_username": "grace", "picture": "javascript:alert(1)",
    });
    let first = f.sign_in(&Browser::new(), &app, "up-grace", claims.clone());
    let sub = f.local_sub(&app, &first);
    assert_ne!(sub, f.w.user_id);
    let user = f.user(&sub);
    assert_eq!(user["username"], "grace");
    assert_eq!(user["email"], "grace@example.org");
    assert_eq!(user["email_verified"], true);
    assert_eq!(user["name"], "Grace Hopper");
    assert!(user.get("picture").is_none(), "a claim that fails the user rules is dropped");
    assert_eq!(user["has_password"], false);
    assert_eq!(user["identities"][0]["subject"], "up-grace");
    let again = f.sign_in(&Browser::new(), &app, "up-grace", claims);
    assert_eq!(f.local_sub(&app, &again), sub, "found by the link, not created twice");
    // An email another user holds is not taken over without linking.
    let taken = json!({ "email": "ada@example.com", "email_verified": true });
    let refused = f.sign_in(&Browser::new(), &app, "up-mallory", taken);
    assert!(says_no_account(&refused.response), "{}", text(&refused.response));
    // Off (the default): no user.
    let off = f.app(json!({}));
    let refused = f.sign_in(&Browser::new(), &off, "up-new", json!({}));
    assert!(says_no_account(&refused.response));
    f.w.s.flush_usage();
}

#[test]
fn state_works_once_and_only_in_the_browser_that_started() {
    let f = Federation::new();
    let app = f.app(json!({ "register_with_login_information": true }));
    let browser = Browser::new();
    let first = f.sign_in(&browser, &app, "up-x", json!({}));
    assert_eq!(first.response.status(), 303);
    let state = &first.upstream["state"];
    let replay = browser.get(&f.w.s, &format!("/upstream/callback?code=up-code&state={state}"));
    assert_eq!(replay.status(), 400, "replayed state");
    let (_, challenge) = pkce(5);
    let browser = Browser::new();
    let started = f.click(&browser, &app, &challenge);
    let state = redirect_params(&started)["state"].clone();
    let elsewhere =
        Browser::new().get(&f.w.s, &format!("/upstream/callback?code=up-code&state={state}"));
    assert_eq!(elsewhere.status(), 400, "another browser");
    let unknown = browser.get(&f.w.s, "/upstream/callback?code=up-code&state=made-up");
    assert_eq!(unknown.status(), 400);
    let missing = browser.get(&f.w.s, "/upstream/callback?code=up-code");
    assert_eq!(missing.status(), 400);
    let diagnostics = f.w.s.take_diagnostics().join("\n");
    assert!(diagnostics.contains("state already used"), "{diagnostics}");
    assert!(diagnostics.contains("not the browser that started it"), "{diagnostics}");
}

#[test]
fn a_bad_id_token_or_an_upstream_error_fails_on_the_login_page() {
    let f = Federation::new();
    let app = f.app(json!({ "register_with_login_information": true }));
    let now = f.w.s.clock.now().as_secs();
    let cases = [
        ("wrong nonce", json!({ "nonce": "other" }), "nonce"),
        ("wrong issuer", json!({ "iss": "https://evil.example" }), "issuer"),
        ("wrong audience", json!({ "aud": "someone-else" }), "audience"),
        ("expired", json!({ "exp": now - 600, "iat": now - 900 }), "expired"),
    ];
    for (case, extra, logged) in cases {
        let callback = f.sign_in(&Browser::new(), &app, "up-bad", extra);
        assert!(says_failed(&callback.response), "{case}: {}", text(&callback.response));
        let diagnostics = f.w.s.take_diagnostics().join("\n");
        assert!(diagnostics.contains(logged), "{case}: {diagnostics}");
    }
    // A token signed by another key.
    let browser = Browser::new();
    let (_, challenge) = pkce(6);
    let started = f.click(&browser, &app, &challenge);
    let up = redirect_params(&started);
    let claims = f.claims("up-bad", &up["nonce"], json!({}));
    let forged = f.id_token(&claims);
    let (head, rest) = forged.split_once('.').unwrap();
    let (payload, _) = rest.split_once('.').unwrap();
    f.answer(&format!("{head}.{payload}.{}", b64url(&[0u8; 64])));
    let response = browser.get(&f.w.s, &format!("/upstream/callback?code=c&state={}", up["state"]));
    assert!(says_failed(&response));
    // The upstream says no.
    let started = f.click(&browser, &app, &challenge);
    let up = redirect_params(&started);
    let response = browser
        .get(&f.w.s, &format!("/upstream/callback?error=access_denied&state={}", up["state"]));
    assert!(says_failed(&response), "{}", text(&response));
    // The token endpoint refuses the code.
    let started = f.click(&browser, &app, &challenge);
    let up = redirect_params(&started);
    f.w.s.engine.platform().fetch.answer_posts(
        UPSTREAM_TOKEN,
        400,
        &json!({"error": "invalid_grant"}),
    );
    let response = browser.get(&f.w.s, &format!("/upstream/callback?code=c&state={}", up["state"]));
    assert!(says_failed(&response));
    assert!(!text(&response).contains("invalid_grant"), "nothing of the upstream leaks");
    let users = body_json(&f.w.s.admin(Method::GET, "/admin/v1/users", &f.w.admin, None, &[]));
    assert_eq!(users["items"].as_array().unwrap().len(), 1, "no user made by a failure");
}

#[test]
fn a_disabled_or_unallowed_provider_cannot_be_used() {
    let f = Federation::new();
    let app = f.app(json!({ "register_with_login_information": true }));
    let plain = f.w.app("plain", "web", json!({ "first_party": true }));
    let browser = Browser::new();
    let (_, challenge) = pkce(8);
    let page = browser.get(&f.w.s, &f.w.authorize_url(&plain, "openid", &challenge, ""));
    assert!(!text(&page).contains("Continue with"), "no buttons for an app that allows none");
    let mut fields = hidden_fields(&text(&page));
    fields.push(("provider".into(), "corp".into()));
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let refused = browser.post(&f.w.s, "/upstream/start", &fields);
    assert_eq!(refused.status(), 400, "not allowed for the app");
    let response = f.w.s.admin(
        Method::PATCH,
        "/admin/v1/providers/corp",
        &f.w.admin,
        Some(json!({ "enabled": false })),
        &[("content-type", "application/merge-patch+json")],
    );
    assert_eq!(response.status(), 200, "{:?}", body_json(&response));
    f.w.s.clock.advance(120);
    let page = browser.get(&f.w.s, &f.w.authorize_url(&app, "openid", &challenge, ""));
    assert_eq!(page.status(), 200);
    assert!(!text(&page).contains("Continue with"), "a disabled provider shows no button");
}

#[test]
fn providers_are_managed_with_a_write_only_secret() {
    let f = Federation::new();
    let get = f.w.s.admin(Method::GET, "/admin/v1/providers/corp", &f.w.admin, None, &[]);
    assert_eq!(get.status(), 200);
    let view = body_json(&get);
    assert_eq!(view["discovery_url"], format!("{UPSTREAM}/.well-known/openid-configuration"));
    assert_eq!(view["token_endpoint_auth_method"], "client_secret_basic");
    assert!(!text(&get).contains("upstream secret") && view.get("client_secret").is_none());
    let list = f.w.s.admin(Method::GET, "/admin/v1/providers", &f.w.admin, None, &[]);
    assert_eq!(body_json(&list)["items"][0]["id"], "corp");
    let again = f.w.s.admin(
        Method::POST,
        "/admin/v1/providers",
        &f.w.admin,
        Some(json!({ "id": "corp", "display_name": "x", "issuer": UPSTREAM, "client_id": "a", "client_secret": "b" })),
        &[],
    );
    assert_eq!(again.status(), 409);
    let private = f.w.s.admin(
        Method::POST,
        "/admin/v1/providers",
        &f.w.admin,
        Some(json!({ "id": "lan", "display_name": "x", "issuer": "https://10.1.2.3", "client_id": "a", "client_secret": "b", "scopes": ["email"] })),
        &[],
    );
    assert_eq!(private.status(), 400);
    let problem = body_json(&private);
    let pointers: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pointer"].as_str().unwrap())
        .collect();
    assert_eq!(pointers, ["/issuer", "/scopes"], "{problem}");
    let moved = f.w.s.admin(
        Method::PATCH,
        "/admin/v1/providers/corp",
        &f.w.admin,
        Some(json!({ "issuer": "https://other.example" })),
        &[("content-type", "application/merge-patch+json")],
    );
    assert_eq!(moved.status(), 400);
    let unknown = f.w.s.admin(
        Method::POST,
        "/admin/v1/apps",
        &f.w.admin,
        Some(json!({ "client_name": "x", "type": "web", "redirect_uris": ["https://a.example/cb"], "allowed_providers": ["nope"] })),
        &[],
    );
    assert_eq!(unknown.status(), 400);
    let deleted = f.w.s.admin(Method::DELETE, "/admin/v1/providers/corp", &f.w.admin, None, &[]);
    assert_eq!(deleted.status(), 204);
    let gone = f.w.s.admin(Method::GET, "/admin/v1/providers/corp", &f.w.admin, None, &[]);
    assert_eq!(gone.status(), 404);
}
