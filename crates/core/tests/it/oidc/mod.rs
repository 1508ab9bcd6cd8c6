//! Interactive OpenID Connect in-process: the authorization endpoint, the hosted
//! login and consent steps, codes, refresh rotation, userinfo, revocation,
//! introspection and logout, driven like a browser and a client would.

mod app_roles;
mod authorize;
mod consent_policy;
mod device;
mod hooks;
mod logout;
mod mfa;
mod refresh;
mod registration;
mod rp;
mod simplelogin;
mod token_claims;
mod tokens;
mod upstream;
mod web_message;

use gatehouse_core::jose::Jwks;
use gatehouse_core::verify::{IdTokenClaims, IdTokenPolicy, verify_id_token};
use gatehouse_testkit::{
    Browser, NativeCrypto, Scenario, body_json, encode, pkce, redirect_params, tags,
};
use http::Method;
use serde_json::{Value, json};

pub(crate) const ISSUER: &str = "https://id.example.test";
pub(crate) const CALLBACK: &str = "https://app.example.test/callback";
pub(crate) const PASSWORD: &str = "correct horse battery staple";

/// A test world: the engine, an admin token, one user and apps to sign in to.
pub(crate) struct World {
    pub(crate) s: Scenario,
    pub(crate) admin: String,
    pub(crate) user_id: String,
}

/// An app registered for a test.
pub(crate) struct App {
    pub(crate) client_id: String,
    pub(crate) secret: Option<String>,
}

impl World {
    pub(crate) fn new() -> Self {
        let s = Scenario::default();
        let admin = s.bearer(None);
        let response = s.admin(
            Method::POST,
            "/admin/v1/users",
            &admin,
            Some(json!({
                "username": "ada",
                "password": PASSWORD,
                "email": "ada@example.com",
                "email_verified": true,
                "name": "Ada Lovelace",
                "given_name": "Ada",
                "phone_number": "+442079460000"
            })),
            &[],
        );
        assert_eq!(response.status(), 201, "{:?}", body_json(&response));
        let user_id = body_json(&response)["id"].as_str().unwrap().to_owned();
        Self { s, admin, user_id }
    }

    /// Registers an app of `kind` with extra fields.
    pub(crate) fn app(&self, name: &str, kind: &str, extra: Value) -> App {
        let mut body = json!({
            "client_name": name,
            "type": kind,
            "redirect_uris": [CALLBACK],
            "post_logout_redirect_uris": ["https://app.example.test/bye"],
        });
        if let (Value::Object(body), Value::Object(extra)) = (&mut body, extra) {
            body.extend(extra);
        }
        self.register(body)
    }

    /// Registers the app `body` describes.
    pub(crate) fn register(&self, body: Value) -> App {
        let response = self.s.admin(Method::POST, "/admin/v1/apps", &self.admin, Some(body), &[]);
        assert_eq!(response.status(), 201, "{:?}", body_json(&response));
        let created = body_json(&response);
        App {
            client_id: created["client_id"].as_str().unwrap().to_owned(),
            secret: created["client_secret"].as_str().map(str::to_owned),
        }
    }

    /// A confidential web app with refresh tokens.
    pub(crate) fn web_app(&self) -> App {
        self.app("web_app", "web", json!({ "refresh_tokens": true }))
    }

    /// The authorization URL of `app` with `extra` parameters (already encoded).
    pub(crate) fn authorize_url(
        &self,
        app: &App,
        scope: &str,
        challenge: &str,
        extra: &str,
    ) -> String {
        format!(
            "/authorize?response_type=code&client_id={}&redirect_uri={}&scope={}&state=st4te&nonce=n0nce&code_challenge={challenge}&code_challenge_method=S256{extra}",
            encode(&app.client_id),
            encode(CALLBACK),
            encode(scope),
        )
    }

    /// Signs in through the login page (and allows consent when asked), returning
    /// the final redirect.
    pub(crate) fn sign_in(&self, browser: &Browser, url: &str) -> http::Response<Vec<u8>> {
        let page = browser.get(&self.s, url);
        assert_eq!(page.status(), 200, "login page: {}", String::from_utf8_lossy(page.body()));
        let mut answer =
            browser.submit(&self.s, &page, &[("username", "ada"), ("password", PASSWORD)]);
        if is_consent(&answer) {
            answer = browser.submit(&self.s, &answer, &[("decision", "allow")]);
        }
        assert_eq!(answer.status(), 303, "{}", String::from_utf8_lossy(answer.body()));
        answer
    }

    /// The code of a successful redirect, after checking `state` and `iss`.
    pub(crate) fn code_of(&self, redirect: &http::Response<Vec<u8>>) -> String {
        let params = redirect_params(redirect);
        assert_eq!(params.get("state").map(String::as_str), Some("st4te"), "{params:?}");
        assert_eq!(params.get("iss").map(String::as_str), Some(ISSUER));
        params.get("code").cloned().unwrap_or_else(|| panic!("no code: {params:?}"))
    }

    /// Redeems `code` for `app`.
    pub(crate) fn redeem(&self, app: &App, code: &str, verifier: &str) -> http::Response<Vec<u8>> {
        let body = format!(
            "grant_type=authorization_code&code={}&redirect_uri={}&code_verifier={verifier}&client_id={}",
            encode(code),
            encode(CALLBACK),
            encode(&app.client_id)
        );
        self.post_token(app, &body)
    }

    /// A token request by `app` (Basic when it has a secret).
    pub(crate) fn post_token(&self, app: &App, body: &str) -> http::Response<Vec<u8>> {
        let basic = app.secret.as_deref().map(|secret| (app.client_id.as_str(), secret));
        self.s.post_form("/token", body, basic)
    }

    /// Signs in and redeems, returning the token response body.
    pub(crate) fn tokens(&self, app: &App, scope: &str) -> Value {
        let (verifier, challenge) = pkce(7);
        let browser = Browser::new();
        let redirect = self.sign_in(&browser, &self.authorize_url(app, scope, &challenge, ""));
        let code = self.code_of(&redirect);
        let response = self.redeem(app, &code, &verifier);
        assert_eq!(response.status(), 200, "{:?}", body_json(&response));
        body_json(&response)
    }

    pub(crate) fn jwks(&self) -> Jwks {
        serde_json::from_slice(self.s.get("/.well-known/jwks.json").body()).unwrap()
    }

    /// Verifies an ID token for `app`.
    pub(crate) fn id_token(&self, app: &App, token: &str, access_token: &str) -> IdTokenClaims {
        let policy = IdTokenPolicy::new(ISSUER, app.client_id.as_str())
            .with_nonce("n0nce")
            .with_access_token(access_token);
        pollster::block_on(verify_id_token(
            &NativeCrypto::default(),
            &self.jwks(),
            &policy,
            token,
            self.s.clock.now(),
        ))
        .unwrap()
    }
}

/// Whether a response is the consent page.
pub(crate) fn is_consent(response: &http::Response<Vec<u8>>) -> bool {
    response.status() == 200
        && tags(&text(response), "button").iter().any(|b| {
            b.get("name").map(String::as_str) == Some("decision")
                && b.get("value").map(String::as_str) == Some("allow")
        })
}

/// Whether a response is the login page.
pub(crate) fn is_login(response: &http::Response<Vec<u8>>) -> bool {
    tags(&text(response), "input")
        .iter()
        .any(|i| i.get("name").map(String::as_str) == Some("password"))
}

/// The text of a response body.
pub(crate) fn text(response: &http::Response<Vec<u8>>) -> String {
    String::from_utf8_lossy(response.body()).into_owned()
}
