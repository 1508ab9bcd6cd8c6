//! The simplified login API (`/simplelogin/api/v1/token` and `/authenticate`) and
//! the resource owner password grant: answers per `response_type`, input
//! validation, client authentication, the hosted login's lockout and hooks, the
//! refusal of users who need a second factor, and the authenticate step's
//! redirects.

use base64::Engine as _;
use gatehouse_core::verify::{IdTokenPolicy, verify_id_token};
use gatehouse_testkit::{Browser, NativeCrypto, body_json, encode, redirect_params};
use http::{HeaderValue, Method, header};
use serde_json::{Value, json};

use super::{App, CALLBACK, ISSUER, PASSWORD, World};

const TOKEN: &str = "/simplelogin/api/v1/token";
const AUTHENTICATE: &str = "/simplelogin/api/v1/authenticate";
const HOOK_URL: &str = "https://hooks.example.test/in";

/// Registers a simplified app with `extra` fields.
fn simplified(w: &World, name: &str, extra: Value) -> App {
    let mut body = json!({ "client_name": name, "type": "simplified" });
    if let (Value::Object(body), Value::Object(extra)) = (&mut body, extra) {
        body.extend(extra);
    }
    w.register(body)
}

/// A JSON `POST` of `body` (raw bytes) to `path`, with HTTP Basic when given.
fn json_request(path: &str, body: &[u8], basic: Option<(&str, &str)>) -> http::Request<Vec<u8>> {
    let mut request = http::Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.to_vec())
        .unwrap();
    if let Some((id, secret)) = basic {
        let raw = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            encode(id),
            encode(secret)
        ));
        request
            .headers_mut()
            .insert(header::AUTHORIZATION, HeaderValue::from_str(&format!("Basic {raw}")).unwrap());
    }
    request
}

fn basic(app: &App) -> Option<(&str, &str)> {
    Some((app.client_id.as_str(), app.secret.as_deref().unwrap()))
}

/// The token call of `app` with `body`.
fn call(w: &World, app: &App, body: &Value) -> http::Response<Vec<u8>> {
    w.s.send(json_request(TOKEN, &serde_json::to_vec(body).unwrap(), basic(app)))
}

fn login(identifier: &str, password: &str, response_type: &str, scope: &str) -> Value {
    json!({
        "identifier": identifier,
        "password": password,
        "response_type": response_type,
        "scope": scope,
    })
}

fn header_alg(jwt: &str) -> String {
    let head = jwt.split('.').next().unwrap();
    let head: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(head).unwrap(),
    )
    .unwrap();
    head["alg"].as_str().unwrap().to_owned()
}

#[test]
fn simplified_apps_default_to_rs256_and_30_day_refresh() {
    let w = World::new();
    let app = simplified(&w, "portal", json!({}));
    let view =
        w.s.admin(Method::GET, &format!("/admin/v1/apps/{}", app.client_id), &w.admin, None, &[]);
    let view = body_json(&view);
    assert_eq!(view["id_token_signed_response_alg"], "RS256");
    assert_eq!(view["access_token_signed_response_alg"], "RS256");
    assert_eq!(view["refresh_token_lifetime"], 30 * 86_400);
    assert_eq!(view["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(view["grant_types"], json!(["password"]));
    assert_eq!(view["allow_password_grant"], false);
}

#[test]
fn the_token_call_answers_each_response_type() {
    let w = World::new();
    let app = simplified(&w, "portal", json!({ "refresh_tokens": true }));

    let only_access = call(&w, &app, &login("ada", PASSWORD, "token", "openid profile"));
    assert_eq!(only_access.status(), 200, "{:?}", body_json(&only_access));
    assert_eq!(only_access.headers()[header::CACHE_CONTROL], "no-store");
    let body = body_json(&only_access);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(header_alg(body["access_token"].as_str().unwrap()), "RS256");
    assert!(body.get("id_token").is_none() && body.get("userinfo").is_none(), "{body}");
    assert!(body.get("refresh_token").is_none(), "no offline_access: {body}");

    let only_id = call(&w, &app, &login("ada@example.com", PASSWORD, "id_token", "openid email"));
    assert_eq!(only_id.status(), 200, "{:?}", body_json(&only_id));
    let body = body_json(&only_id);
    assert!(body.get("access_token").is_none(), "{body}");
    let id_token = body["id_token"].as_str().unwrap();
    assert_eq!(header_alg(id_token), "RS256");
    let claims = pollster::block_on(verify_id_token(
        &NativeCrypto::default(),
        &w.jwks(),
        &IdTokenPolicy::new(ISSUER, app.client_id.as_str()),
        id_token,
        w.s.clock.now(),
    ))
    .unwrap();
    assert_eq!(claims.sub, w.user_id);
    assert_eq!(body["userinfo"]["sub"], w.user_id.as_str(), "the ID token's payload: {body}");
    assert_eq!(body["userinfo"]["email"], "ada@example.com");
    assert_eq!(body["userinfo"]["amr"], json!(["pwd"]));

    let both =
        call(&w, &app, &login("ada", PASSWORD, "token id_token", "openid profile offline_access"));
    assert_eq!(both.status(), 200, "{:?}", body_json(&both));
    let body = body_json(&both);
    assert_eq!(body["userinfo"]["name"], "Ada Lovelace");
    let access = body["access_token"].as_str().unwrap();
    let policy = IdTokenPolicy::new(ISSUER, app.client_id.as_str()).with_access_token(access);
    let claims = pollster::block_on(verify_id_token(
        &NativeCrypto::default(),
        &w.jwks(),
        &policy,
        body["id_token"].as_str().unwrap(),
        w.s.clock.now(),
    ))
    .unwrap();
    assert_eq!(claims.sub, w.user_id);
    let refresh = body["refresh_token"].as_str().unwrap();
    let refreshed =
        w.post_token(&app, &format!("grant_type=refresh_token&refresh_token={}", encode(refresh)));
    assert_eq!(refreshed.status(), 200, "{:?}", body_json(&refreshed));
    let userinfo = w.s.send(
        http::Request::get("/userinfo")
            .header(header::AUTHORIZATION, format!("Bearer {access}"))
            .body(Vec::new())
            .unwrap(),
    );
    assert_eq!(userinfo.status(), 200);
    assert_eq!(body_json(&userinfo)["sub"], w.user_id.as_str());
}

#[test]
fn refresh_tokens_only_when_the_app_issues_them() {
    let w = World::new();
    let app = simplified(&w, "no_refresh", json!({}));
    let answer = call(&w, &app, &login("ada", PASSWORD, "token", "openid offline_access"));
    assert_eq!(answer.status(), 200, "{:?}", body_json(&answer));
    assert!(body_json(&answer).get("refresh_token").is_none());
}

#[test]
fn bad_input_is_a_400_naming_the_problem() {
    let w = World::new();
    let app = simplified(&w, "portal", json!({}));
    let refused = |body: &[u8], error: &str, description: &str| {
        let response = w.s.send(json_request(TOKEN, body, basic(&app)));
        assert_eq!(response.status(), 400, "{}", String::from_utf8_lossy(body));
        let answer = body_json(&response);
        assert_eq!(answer["error"], error, "{answer}");
        let said = answer["error_description"].as_str().unwrap();
        assert!(said.contains(description), "{said}");
    };
    refused(b"not json", "invalid_request", "JSON object");
    refused(b"[1]", "invalid_request", "JSON object");
    let no_identifier = json!({ "password": PASSWORD, "response_type": "token" });
    refused(no_identifier.to_string().as_bytes(), "invalid_request", "identifier is required");
    let number = json!({ "identifier": 7, "password": PASSWORD, "response_type": "token" });
    refused(number.to_string().as_bytes(), "invalid_request", "identifier must be");
    let no_password = json!({ "identifier": "ada", "response_type": "token" });
    refused(no_password.to_string().as_bytes(), "invalid_request", "password is required");
    let empty = json!({ "identifier": "ada", "password": "", "response_type": "token" });
    refused(empty.to_string().as_bytes(), "invalid_request", "password must be");
    let no_type = json!({ "identifier": "ada", "password": PASSWORD });
    refused(no_type.to_string().as_bytes(), "invalid_request", "response_type is required");
    let code = login("ada", PASSWORD, "code", "openid");
    refused(code.to_string().as_bytes(), "unsupported_response_type", "token id_token");
    let scope =
        json!({ "identifier": "ada", "password": PASSWORD, "response_type": "token", "scope": 1 });
    refused(scope.to_string().as_bytes(), "invalid_request", "scope must be a string");
    let no_openid = login("ada", PASSWORD, "id_token", "profile");
    refused(no_openid.to_string().as_bytes(), "invalid_scope", "openid");
    let mut organization = login("ada", PASSWORD, "token", "openid");
    organization["organization"] = json!({ "route": "saasii" });
    refused(organization.to_string().as_bytes(), "invalid_request", "organization");

    let form = w.s.post_form(TOKEN, "identifier=ada", basic(&app));
    assert_eq!(form.status(), 400);
    assert!(body_json(&form)["error_description"].as_str().unwrap().contains("application/json"));
    // Nothing above reached the password check.
    assert_eq!(w.s.engine.platform().fetch.posts().len(), 0);
}

#[test]
fn wrong_client_credentials_are_a_401() {
    let w = World::new();
    let app = simplified(&w, "portal", json!({}));
    let body = serde_json::to_vec(&login("ada", PASSWORD, "token", "openid")).unwrap();
    let wrong = w.s.send(json_request(TOKEN, &body, Some((&app.client_id, "wrong"))));
    assert_eq!(wrong.status(), 401);
    assert_eq!(body_json(&wrong)["error"], "invalid_client");
    assert!(wrong.headers().contains_key(header::WWW_AUTHENTICATE));
    let none = w.s.send(json_request(TOKEN, &body, None));
    assert_eq!(none.status(), 401);
    // A web app has no simplified login API.
    let web = w.web_app();
    let refused = call(&w, &web, &login("ada", PASSWORD, "token", "openid"));
    assert_eq!(refused.status(), 400);
    assert_eq!(body_json(&refused)["error"], "unauthorized_client");
    // `client_secret_post`: the credentials in the JSON body.
    let post = simplified(
        &w,
        "post_portal",
        json!({ "token_endpoint_auth_method": "client_secret_post" }),
    );
    let mut in_body = login("ada", PASSWORD, "token", "openid");
    in_body["client_id"] = json!(post.client_id);
    in_body["client_secret"] = json!(post.secret.as_deref().unwrap());
    let answer = w.s.send(json_request(TOKEN, &serde_json::to_vec(&in_body).unwrap(), None));
    assert_eq!(answer.status(), 200, "{:?}", body_json(&answer));
}

#[test]
fn a_wrong_identifier_and_a_wrong_password_look_the_same() {
    let w = World::new();
    let app = simplified(&w, "portal", json!({}));
    let unknown = call(&w, &app, &login("nobody", PASSWORD, "token", "openid"));
    let wrong = call(&w, &app, &login("ada", "not the password", "token", "openid"));
    assert_eq!(unknown.status(), 400);
    assert_eq!(unknown.status(), wrong.status());
    assert_eq!(unknown.body(), wrong.body());
    assert_eq!(body_json(&wrong)["error"], "invalid_grant");
}

#[test]
fn repeated_failures_lock_the_user_out() {
    let w = World::new();
    let app = simplified(&w, "portal", json!({}));
    for _ in 0..10 {
        assert_eq!(call(&w, &app, &login("ada", "guess", "token", "openid")).status(), 400);
    }
    let locked = call(&w, &app, &login("ada", PASSWORD, "token", "openid"));
    assert_eq!(locked.status(), 400);
    let said = body_json(&locked)["error_description"].as_str().unwrap().to_owned();
    assert!(said.contains("too many failed sign-ins"), "{said}");
    w.s.clock.advance(15 * 60 + 1);
    assert_eq!(call(&w, &app, &login("ada", PASSWORD, "token", "openid")).status(), 200);
    w.s.flush_usage();
    let usage = w.s.admin(
        Method::GET,
        &format!("/admin/v1/apps/{}/usage", app.client_id),
        &w.admin,
        None,
        &[],
    );
    let buckets = body_json(&usage)["buckets"].as_array().unwrap().clone();
    let sum = |field: &str| buckets.iter().map(|b| b[field].as_u64().unwrap()).sum::<u64>();
    assert_eq!((sum("logins"), sum("failures")), (1, 11));
}

#[test]
fn users_who_need_a_second_factor_get_no_tokens() {
    let w = World::new();
    let app = simplified(&w, "portal", json!({}));
    let path = format!("/admin/v1/users/{}", w.user_id);
    let set = w.s.admin(Method::PATCH, &path, &w.admin, Some(json!({ "mfa_required": true })), &[]);
    assert_eq!(set.status(), 200);
    let refused = call(&w, &app, &login("ada", PASSWORD, "token id_token", "openid"));
    assert_eq!(refused.status(), 400);
    let answer = body_json(&refused);
    assert_eq!(answer["error"], "invalid_grant");
    assert!(answer["error_description"].as_str().unwrap().contains("second factor"));
    assert!(answer.get("access_token").is_none());
    w.s.admin(Method::PATCH, &path, &w.admin, Some(json!({ "mfa_required": false })), &[]);
    let strict = simplified(&w, "strict", json!({ "require_mfa": true }));
    let refused = call(&w, &strict, &login("ada", PASSWORD, "token", "openid"));
    assert_eq!(body_json(&refused)["error"], "invalid_grant");
    assert_eq!(call(&w, &app, &login("ada", PASSWORD, "token", "openid")).status(), 200);
}

/// Creates a hook of `app` for `event`.
fn hook(w: &World, app: &App, event: &str) {
    let path = format!("/admin/v1/apps/{}/hooks", app.client_id);
    let body = json!({ "event": event, "url": HOOK_URL });
    let response = w.s.admin(Method::POST, &path, &w.admin, Some(body), &[]);
    assert_eq!(response.status(), 201, "{:?}", body_json(&response));
}

fn delivered(w: &World) -> Vec<String> {
    let posts = w.s.engine.platform().fetch.posts();
    w.s.engine.platform().fetch.clear_posts();
    posts
        .iter()
        .map(|p| {
            let body: Value = serde_json::from_slice(&p.body).unwrap();
            body["event"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[test]
fn the_token_call_fires_the_hosted_logins_hooks() {
    let w = World::new();
    let app = simplified(&w, "portal", json!({}));
    for event in
        ["identification_failed", "identified", "authentication_failed", "login", "before_id_token"]
    {
        hook(&w, &app, event);
    }
    hook(&w, &app, "before_password_validation");
    w.s.engine.platform().fetch.answer_posts(HOOK_URL, 200, &json!({ "allow": true }));
    call(&w, &app, &login("nobody", PASSWORD, "token", "openid"));
    assert_eq!(delivered(&w), ["identification_failed"]);
    call(&w, &app, &login("ada", "wrong", "token", "openid"));
    let mut events = delivered(&w);
    events.sort();
    assert_eq!(events, ["authentication_failed", "before_password_validation", "identified"]);
    let ok = call(&w, &app, &login("ada", PASSWORD, "token id_token", "openid"));
    assert_eq!(ok.status(), 200, "{:?}", body_json(&ok));
    let mut events = delivered(&w);
    events.sort();
    assert_eq!(events, ["before_id_token", "before_password_validation", "identified", "login"]);
    // A blocking hook's refusal is the same answer as a wrong password.
    w.s.engine.platform().fetch.answer_posts(HOOK_URL, 200, &json!({ "allow": false }));
    let denied = call(&w, &app, &login("ada", PASSWORD, "token", "openid"));
    let wrong = call(&w, &app, &login("nobody", PASSWORD, "token", "openid"));
    assert_eq!(denied.body(), wrong.body());
}

/// A simplified app that also continues authorization requests.
fn portal(w: &World) -> App {
    simplified(
        w,
        "code_portal",
        json!({ "grant_types": ["password", "authorization_code"], "redirect_uris": [CALLBACK] }),
    )
}

fn authorize(w: &World, app: &App, browser: &Browser) -> http::Response<Vec<u8>> {
    let url = format!(
        "/authorize?response_type=code&client_id={}&redirect_uri={}&scope=openid&state=st4te&nonce=n0nce",
        encode(&app.client_id),
        encode(CALLBACK)
    );
    browser.get(&w.s, &url)
}

fn authenticate(
    w: &World,
    app: &App,
    browser: &Browser,
    identifier: &str,
    password: &str,
) -> http::Response<Vec<u8>> {
    let body = json!({ "identifier": identifier, "password": password });
    browser.send(&w.s, json_request(AUTHENTICATE, &serde_json::to_vec(&body).unwrap(), basic(app)))
}

#[test]
fn the_authenticate_step_redirects_with_a_code() {
    let w = World::new();
    let app = portal(&w);
    let browser = Browser::new();
    let started = authorize(&w, &app, &browser);
    assert_eq!(started.status(), 200, "no login page: {:?}", started.body().len());
    assert_eq!(
        body_json(&started)["authenticate_endpoint"],
        format!("{ISSUER}/simplelogin/api/v1/authenticate")
    );
    assert!(browser.has_cookie("gatehouse-simplelogin"));
    let redirect = authenticate(&w, &app, &browser, "ada", PASSWORD);
    assert_eq!(redirect.status(), 303, "{:?}", body_json(&redirect));
    assert!(!browser.has_cookie("gatehouse-simplelogin"), "the request is done");
    let code = w.code_of(&redirect);
    let redeemed = w.post_token(
        &app,
        &format!(
            "grant_type=authorization_code&code={}&redirect_uri={}",
            encode(&code),
            encode(CALLBACK)
        ),
    );
    assert_eq!(redeemed.status(), 200, "{:?}", body_json(&redeemed));
    let body = body_json(&redeemed);
    w.id_token(&app, body["id_token"].as_str().unwrap(), body["access_token"].as_str().unwrap());
}

#[test]
fn the_authenticate_step_redirects_with_an_error() {
    let w = World::new();
    let app = portal(&w);
    let browser = Browser::new();
    authorize(&w, &app, &browser);
    let redirect = authenticate(&w, &app, &browser, "ada", "wrong");
    assert_eq!(redirect.status(), 303);
    let params = redirect_params(&redirect);
    assert_eq!(params["error"], "access_denied");
    assert_eq!(params["state"], "st4te");
    assert_eq!(params["iss"], ISSUER);
    assert!(!params.contains_key("code"));
    // Without the cookie of a started request: a 400, no redirect.
    let stray = authenticate(&w, &app, &Browser::new(), "ada", PASSWORD);
    assert_eq!(stray.status(), 400);
    // Another client's credentials with the cookie: refused.
    authorize(&w, &app, &browser);
    let other = simplified(&w, "other", json!({}));
    let foreign = authenticate(&w, &other, &browser, "ada", PASSWORD);
    assert_eq!(foreign.status(), 400);
    // A user who needs a second factor: interaction_required.
    let path = format!("/admin/v1/users/{}", w.user_id);
    w.s.admin(Method::PATCH, &path, &w.admin, Some(json!({ "mfa_required": true })), &[]);
    authorize(&w, &app, &browser);
    let params = redirect_params(&authenticate(&w, &app, &browser, "ada", PASSWORD));
    assert_eq!(params["error"], "interaction_required");
}

#[test]
fn simplified_redirect_uris_need_the_code_flow() {
    let w = World::new();
    let body = json!({ "client_name": "bad", "type": "simplified", "redirect_uris": [CALLBACK] });
    let response = w.s.admin(Method::POST, "/admin/v1/apps", &w.admin, Some(body), &[]);
    assert_eq!(response.status(), 400);
    assert_eq!(body_json(&response)["errors"][0]["pointer"], "/redirect_uris");
    let body = json!({ "client_name": "bad", "type": "simplified", "grant_types": ["password", "authorization_code"] });
    let response = w.s.admin(Method::POST, "/admin/v1/apps", &w.admin, Some(body), &[]);
    assert_eq!(response.status(), 400);
    assert_eq!(body_json(&response)["errors"][0]["pointer"], "/redirect_uris");
}

#[test]
fn the_password_grant_is_off_unless_allowed() {
    let w = World::new();
    let off = w.web_app();
    let grant =
        format!("grant_type=password&username=ada&password={}&scope=openid", encode(PASSWORD));
    let refused = w.post_token(&off, &grant);
    assert_eq!(refused.status(), 400);
    assert_eq!(body_json(&refused)["error"], "unauthorized_client");
    let simplified_app = simplified(&w, "portal", json!({}));
    assert_eq!(body_json(&w.post_token(&simplified_app, &grant))["error"], "unauthorized_client");

    let on = w.app("legacy", "web", json!({ "allow_password_grant": true }));
    let answer = w.post_token(&on, &grant);
    assert_eq!(answer.status(), 200, "{:?}", body_json(&answer));
    assert!(body_json(&answer)["id_token"].is_string());
    let wrong = w.post_token(&on, "grant_type=password&username=ada&password=nope");
    assert_eq!(body_json(&wrong)["error"], "invalid_grant");
    let unknown = w.post_token(&on, "grant_type=password&username=nobody&password=nope");
    assert_eq!(wrong.body(), unknown.body());
    let missing = w.post_token(&on, "grant_type=password&username=ada");
    assert_eq!(body_json(&missing)["error"], "invalid_request");

    let path = format!("/admin/v1/users/{}", w.user_id);
    w.s.admin(Method::PATCH, &path, &w.admin, Some(json!({ "mfa_required": true })), &[]);
    let mfa = w.post_token(&on, &grant);
    assert_eq!(body_json(&mfa)["error"], "invalid_grant");

    let spa = json!({ "client_name": "spa_pw", "type": "spa", "redirect_uris": [CALLBACK], "allow_password_grant": true });
    let response = w.s.admin(Method::POST, "/admin/v1/apps", &w.admin, Some(spa), &[]);
    assert_eq!(response.status(), 400);
    assert_eq!(body_json(&response)["errors"][0]["pointer"], "/allow_password_grant");
    let metadata = body_json(&w.s.get("/.well-known/openid-configuration"));
    assert!(metadata["grant_types_supported"].as_array().unwrap().contains(&json!("password")));
}
