//! Self-registration: custom user fields, the registration form, the email code
//! through the `verify_email` mail hook, and the user created only on a right code.

use gatehouse_core::hooks::{SIGNATURE_HEADER, verify};
use gatehouse_testkit::{Browser, body_json, pkce, tags};
use http::Method;
use serde_json::{Value, json};

use super::{App, World, is_consent, text};

const MAIL_HOOK: &str = "https://mail.example.test/send";
const NEW_PASSWORD: &str = "a long enough passphrase";

fn field(w: &World, body: Value) -> http::Response<Vec<u8>> {
    w.s.admin(Method::POST, "/admin/v1/user-fields", &w.admin, Some(body), &[])
}

/// A web app taking registrations with the `department` and `tier` fields, and
/// its mail hook's secret.
fn registering_app(w: &World, extra: Value) -> (App, String) {
    assert_eq!(field(w, json!({"key": "department", "type": "string", "required": true, "max_length": 20, "labels": {"en": "Department", "de": "Abteilung"}})).status(), 201);
    assert_eq!(
        field(w, json!({"key": "tier", "type": "enum", "options": ["gold", "silver"]})).status(),
        201
    );
    let mut body = json!({
        "self_registration": true,
        "registration_fields": ["department", "tier"],
        "password_policy": { "min_length": 12 },
        "token_claims": [{ "name": "dept", "source": "user", "field": "department" }],
    });
    if let (Value::Object(body), Value::Object(extra)) = (&mut body, extra) {
        body.extend(extra);
    }
    let app = w.app("signup_app", "web", body);
    let path = format!("/admin/v1/apps/{}/hooks", app.client_id);
    let hook = w.s.admin(
        Method::POST,
        &path,
        &w.admin,
        Some(json!({ "event": "verify_email", "url": MAIL_HOOK })),
        &[],
    );
    assert_eq!(hook.status(), 201, "{:?}", body_json(&hook));
    (app, body_json(&hook)["secret"].as_str().unwrap().to_owned())
}

/// The hidden fields of the form posting to `path` on `page`.
fn hidden(page: &http::Response<Vec<u8>>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for input in tags(&text(page), "input") {
        if input.get("type").map(String::as_str) == Some("hidden") {
            let name = input["name"].clone();
            if !out.iter().any(|(n, _)| *n == name) {
                out.push((name, input.get("value").cloned().unwrap_or_default()));
            }
        }
    }
    out
}

fn post(
    w: &World,
    b: &Browser,
    path: &str,
    page: &http::Response<Vec<u8>>,
    fields: &[(&str, &str)],
) -> http::Response<Vec<u8>> {
    let hidden = hidden(page);
    let mut all: Vec<(&str, &str)> = hidden.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    all.extend_from_slice(fields);
    b.post(&w.s, path, &all)
}

/// Opens the login page of `app` and follows "Create account".
fn open_form(w: &World, app: &App, b: &Browser, challenge: &str) -> http::Response<Vec<u8>> {
    let login = b.get(&w.s, &w.authorize_url(app, "openid email", challenge, ""));
    assert!(text(&login).contains("/register"), "the login page offers registration");
    let form = post(w, b, "/register", &login, &[]);
    assert_eq!(form.status(), 200, "{}", text(&form));
    assert!(text(&form).contains("name=\"field.department\""));
    form
}

fn register(
    w: &World,
    b: &Browser,
    form: &http::Response<Vec<u8>>,
    username: &str,
    password: &str,
    department: &str,
) -> http::Response<Vec<u8>> {
    post(
        w,
        b,
        "/register",
        form,
        &[
            ("username", username),
            ("email", &format!("{username}@example.org")),
            ("password", password),
            ("field.department", department),
            ("field.tier", "gold"),
        ],
    )
}

/// The code the last mail hook delivery carried, after checking its signature.
fn last_code(w: &World, secret: &str) -> (String, Value) {
    let posts = w.s.engine.platform().fetch.posts();
    let post = posts.iter().rev().find(|p| p.url == MAIL_HOOK).expect("a mail hook delivery");
    let signature = &post.headers.iter().find(|(n, _)| n == SIGNATURE_HEADER).unwrap().1;
    assert!(verify(secret.as_bytes(), signature, &post.body, w.s.clock.now(), 300));
    let body: Value = serde_json::from_slice(&post.body).unwrap();
    (body["code"].as_str().unwrap().to_owned(), body)
}

fn user_named(w: &World, username: &str) -> Option<Value> {
    let list = body_json(&w.s.admin(Method::GET, "/admin/v1/users", &w.admin, None, &[]));
    list["items"].as_array().unwrap().iter().find(|u| u["username"] == username).cloned()
}

fn payload(jwt: &str) -> Value {
    use base64::Engine as _;
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap())
        .unwrap()
}

fn wrong(code: &str) -> String {
    code.chars().map(|c| if c == '0' { '1' } else { '0' }).collect()
}

#[test]
fn a_user_registers_verifies_the_address_and_gets_tokens_with_the_custom_field() {
    let w = World::new();
    let (app, secret) = registering_app(&w, json!({}));
    let (verifier, challenge) = pkce(3);
    let b = Browser::new();
    let form = open_form(&w, &app, &b, &challenge);
    let code_page = register(&w, &b, &form, "grace", NEW_PASSWORD, "Navy");
    assert_eq!(code_page.status(), 200, "{}", text(&code_page));
    assert!(text(&code_page).contains("grace@example.org"));
    let (code, delivery) = last_code(&w, &secret);
    assert_eq!(delivery["event"], "verify_email");
    assert_eq!(delivery["email"], "grace@example.org");
    assert_eq!(delivery["locale"], "en");
    assert_eq!(delivery["expires_at"], json!(w.s.clock.now().as_secs() + 600));
    assert_eq!(code.len(), 8);
    assert!(user_named(&w, "grace").is_none(), "no user before the code");

    let mut answer = post(&w, &b, "/register/verify", &code_page, &[("code", &code)]);
    if is_consent(&answer) {
        answer = b.submit(&w.s, &answer, &[("decision", "allow")]);
    }
    assert_eq!(answer.status(), 303, "{}", text(&answer));
    let user = user_named(&w, "grace").expect("the user exists");
    assert_eq!(user["email_verified"], true);
    assert_eq!(user["fields"], json!({"department": "Navy", "tier": "gold"}));
    let code = w.code_of(&answer);
    let tokens = body_json(&w.redeem(&app, &code, &verifier));
    let id = w.id_token(
        &app,
        tokens["id_token"].as_str().unwrap(),
        tokens["access_token"].as_str().unwrap(),
    );
    assert_eq!(id.sub, user["id"].as_str().unwrap());
    assert_eq!(payload(tokens["id_token"].as_str().unwrap())["dept"], "Navy");
    assert_eq!(payload(tokens["access_token"].as_str().unwrap())["dept"], "Navy");

    // The same code again: taken once.
    let again = post(&w, &b, "/register/verify", &code_page, &[("code", &code)]);
    assert_eq!(again.status(), 400);
    assert!(text(&again).contains("expired"));

    // Counted as a registration of the app.
    w.s.flush_usage();
    let usage = body_json(&w.s.admin(
        Method::GET,
        &format!("/admin/v1/apps/{}/usage", app.client_id),
        &w.admin,
        None,
        &[],
    ));
    assert_eq!(usage["totals"]["registrations"], 1);
    assert_eq!(usage["totals"]["logins"], 1, "the new user is signed in: a login too");
    assert_eq!(usage["totals"]["tokens"], 1, "the code redeemed once: one token response");
}

#[test]
fn wrong_codes_are_counted_and_the_fifth_ends_the_registration() {
    let w = World::new();
    let (app, secret) = registering_app(&w, json!({}));
    let b = Browser::new();
    let form = open_form(&w, &app, &b, &pkce(4).1);
    let code_page = register(&w, &b, &form, "grace", NEW_PASSWORD, "Navy");
    let (code, _) = last_code(&w, &secret);
    for _ in 0..4 {
        let refused = post(&w, &b, "/register/verify", &code_page, &[("code", &wrong(&code))]);
        assert_eq!(refused.status(), 400);
        assert!(text(&refused).contains("not right"));
    }
    let last = post(&w, &b, "/register/verify", &code_page, &[("code", &wrong(&code))]);
    assert!(text(&last).contains("Too many wrong codes"));
    let late = post(&w, &b, "/register/verify", &code_page, &[("code", &code)]);
    assert!(text(&late).contains("expired"), "the right code no longer works");
    assert!(user_named(&w, "grace").is_none());
}

#[test]
fn an_expired_code_is_refused() {
    let w = World::new();
    let (app, secret) = registering_app(&w, json!({}));
    let b = Browser::new();
    let form = open_form(&w, &app, &b, &pkce(5).1);
    let code_page = register(&w, &b, &form, "grace", NEW_PASSWORD, "Navy");
    let (code, _) = last_code(&w, &secret);
    w.s.clock.advance(601);
    let late = post(&w, &b, "/register/verify", &code_page, &[("code", &code)]);
    assert_eq!(late.status(), 400);
    assert!(text(&late).contains("expired"));
    assert!(user_named(&w, "grace").is_none());
}

#[test]
fn the_form_enforces_the_policy_the_fields_and_unique_usernames() {
    let w = World::new();
    let (app, _) = registering_app(&w, json!({}));
    let b = Browser::new();
    let form = open_form(&w, &app, &b, &pkce(6).1);
    let short = register(&w, &b, &form, "grace", "elevenchars", "Navy");
    assert_eq!(short.status(), 400);
    assert!(text(&short).contains("at least 12 characters"), "{}", text(&short));
    let missing = register(&w, &b, &form, "grace", NEW_PASSWORD, "");
    assert!(text(&missing).contains("This field is required."));
    let long = register(&w, &b, &form, "grace", NEW_PASSWORD, &"x".repeat(21));
    assert!(text(&long).contains("This value is not valid."));
    let same = register(&w, &b, &form, "ada", NEW_PASSWORD, "Navy");
    assert!(text(&same).contains("This username is taken"));
    let bad_email = post(
        &w,
        &b,
        "/register",
        &form,
        &[
            ("username", "grace"),
            ("email", "nope"),
            ("password", NEW_PASSWORD),
            ("field.department", "Navy"),
        ],
    );
    assert!(text(&bad_email).contains("valid email address"));
    assert!(w.s.engine.platform().fetch.posts().iter().all(|p| p.url != MAIL_HOOK), "no code sent");
}

#[test]
fn an_existing_email_is_revealed_only_after_its_code() {
    let w = World::new();
    let (app, secret) = registering_app(&w, json!({}));
    let b = Browser::new();
    let form = open_form(&w, &app, &b, &pkce(7).1);
    let code_page = post(
        &w,
        &b,
        "/register",
        &form,
        &[
            ("username", "ada2"),
            ("email", "ada@example.com"),
            ("password", NEW_PASSWORD),
            ("field.department", "Navy"),
        ],
    );
    assert_eq!(code_page.status(), 200, "the form looks the same as for a new address");
    let (code, _) = last_code(&w, &secret);
    let answer = post(&w, &b, "/register/verify", &code_page, &[("code", &code)]);
    assert!(text(&answer).contains("An account with this email address exists already"));
    assert!(user_named(&w, "ada2").is_none());
}

#[test]
fn registration_is_off_by_default_and_needs_a_mail_hook() {
    let w = World::new();
    let app = w.web_app();
    let b = Browser::new();
    let login = b.get(&w.s, &w.authorize_url(&app, "openid", &pkce(8).1, ""));
    assert!(!text(&login).contains("/register"));
    let refused = post(&w, &b, "/register", &login, &[]);
    assert_eq!(refused.status(), 400);
    assert!(text(&refused).contains("does not take registrations"));

    let open = w.app("no_mailer", "web", json!({ "self_registration": true }));
    let login = b.get(&w.s, &w.authorize_url(&open, "openid", &pkce(8).1, ""));
    let form = post(&w, &b, "/register", &login, &[]);
    let answer = post(
        &w,
        &b,
        "/register",
        &form,
        &[("username", "grace"), ("email", "grace@example.org"), ("password", NEW_PASSWORD)],
    );
    assert_eq!(answer.status(), 503);
    assert!(text(&answer).contains("could not be sent"));
}

#[test]
fn the_field_registry_is_managed_and_users_carry_checked_values() {
    let w = World::new();
    assert_eq!(field(&w, json!({"key": "email", "type": "string"})).status(), 400);
    let bad = body_json(&field(&w, json!({"key": "tier", "type": "enum"})));
    assert_eq!(bad["errors"][0]["pointer"], "/options");
    assert_eq!(
        field(&w, json!({"key": "age", "type": "number", "min": 0, "max": 150})).status(),
        201
    );
    assert_eq!(field(&w, json!({"key": "age", "type": "number"})).status(), 409);
    let item = w.s.admin(Method::GET, "/admin/v1/user-fields/age", &w.admin, None, &[]);
    assert_eq!(body_json(&item)["max"], 150.0);
    let patched = w.s.admin(
        Method::PATCH,
        "/admin/v1/user-fields/age",
        &w.admin,
        Some(json!({"required": true, "type": "string"})),
        &[],
    );
    assert_eq!(body_json(&patched)["errors"][0]["pointer"], "/type");

    let user_path = format!("/admin/v1/users/{}", w.user_id);
    let wrong = w.s.admin(
        Method::PATCH,
        &user_path,
        &w.admin,
        Some(json!({"fields": {"age": "old", "shoe": 42}})),
        &[],
    );
    assert_eq!(wrong.status(), 400);
    let pointers: Vec<String> = body_json(&wrong)["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pointer"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(pointers, ["/fields/age", "/fields/shoe"]);
    let ok =
        w.s.admin(Method::PATCH, &user_path, &w.admin, Some(json!({"fields": {"age": 36}})), &[]);
    assert_eq!(ok.status(), 200, "{:?}", body_json(&ok));
    assert_eq!(
        body_json(&w.s.admin(Method::GET, &user_path, &w.admin, None, &[]))["fields"],
        json!({"age": 36})
    );

    // Deleting the definition hides the value; the next write drops it.
    assert_eq!(
        w.s.admin(Method::DELETE, "/admin/v1/user-fields/age", &w.admin, None, &[]).status(),
        204
    );
    assert_eq!(
        body_json(&w.s.admin(Method::GET, &user_path, &w.admin, None, &[]))["fields"],
        json!({})
    );
    let renamed =
        w.s.admin(Method::PATCH, &user_path, &w.admin, Some(json!({"name": "Ada King"})), &[]);
    assert_eq!(renamed.status(), 200, "{:?}", body_json(&renamed));

    // Apps may name only defined fields.
    let refused = w.s.admin(
        Method::POST,
        "/admin/v1/apps",
        &w.admin,
        Some(json!({
            "client_name": "x", "type": "web", "redirect_uris": [super::CALLBACK],
            "registration_fields": ["age"],
            "token_claims": [{"name": "a", "source": "user", "field": "shoe"}],
        })),
        &[],
    );
    assert_eq!(refused.status(), 400);
    let pointers: Vec<String> = body_json(&refused)["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pointer"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(pointers, ["/registration_fields/0", "/token_claims/0/field"]);
}

#[test]
fn a_custom_field_with_a_scope_is_released_only_when_the_scope_is_granted() {
    let w = World::new();
    let scope =
        w.s.admin(Method::POST, "/admin/v1/scopes", &w.admin, Some(json!({"key": "crm"})), &[]);
    assert_eq!(scope.status(), 201, "{}", text(&scope));
    for body in [
        json!({"key": "customer_no", "type": "string", "scope": "crm"}),
        json!({"key": "shoe_size", "type": "number"}),
    ] {
        assert_eq!(field(&w, body).status(), 201);
    }
    let user_path = format!("/admin/v1/users/{}", w.user_id);
    let patched = w.s.admin(
        Method::PATCH,
        &user_path,
        &w.admin,
        Some(json!({"fields": {"customer_no": "C-1001", "shoe_size": 38}})),
        &[],
    );
    assert_eq!(patched.status(), 200, "{:?}", body_json(&patched));
    let app = w.app("crm_app", "web", json!({"scope": "openid email crm"}));

    let userinfo = |access: &str| {
        let request = http::Request::get("/userinfo")
            .header(http::header::AUTHORIZATION, format!("Bearer {access}"))
            .body(Vec::new())
            .unwrap();
        body_json(&w.s.send(request))
    };
    let granted = w.tokens(&app, "openid crm");
    let id = payload(granted["id_token"].as_str().unwrap());
    assert_eq!(id["customer_no"], "C-1001");
    assert!(id.get("shoe_size").is_none(), "a field without a scope is not released");
    let access = granted["access_token"].as_str().unwrap();
    assert!(payload(access).get("customer_no").is_none(), "not in the access token");
    let info = userinfo(access);
    assert_eq!(info["customer_no"], "C-1001");
    assert!(info.get("shoe_size").is_none());

    let without = w.tokens(&app, "openid email");
    assert!(payload(without["id_token"].as_str().unwrap()).get("customer_no").is_none());
    assert!(userinfo(without["access_token"].as_str().unwrap()).get("customer_no").is_none());
}
