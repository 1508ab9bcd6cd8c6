//! Two-factor sign-in: TOTP enrolment on the hosted pages, codes at sign-in (each
//! step once), recovery codes (each once), step-up of a password-only session,
//! who is asked (the app's `require_mfa`, the user's `mfa_required`, `acr_values`),
//! `prompt=none`, lockout, `amr`/`acr` in the ID token and after refresh, and the
//! administrator's reset.

use gatehouse_core::totp::{TotpSecret, base32_decode};
use gatehouse_core::types::SecretBytes;
use gatehouse_core::verify::{IdTokenPolicy, verify_id_token};
use gatehouse_testkit::{Browser, NativeCrypto, body_json, pkce, redirect_params, tags};
use http::Method;
use serde_json::{Value, json};

use super::{App, PASSWORD, World, is_consent, is_login, text};

const MFA_ACR: &str = "urn:gatehouse:acr:mfa";

type Page = http::Response<Vec<u8>>;

/// Whether a page asks for a code (the sign-in prompt or the enrolment).
fn asks_code(page: &Page) -> bool {
    tags(&text(page), "input").iter().any(|i| i.get("name").map(String::as_str) == Some("code"))
}

fn is_enrolment(page: &Page) -> bool {
    asks_code(page) && text(page).contains("id=\"totp-secret\"")
}

/// The secret shown on the enrolment page.
fn secret_of(page: &Page) -> TotpSecret {
    let html = text(page);
    let start = html.find("<code id=\"totp-secret\">").expect("the secret is shown") + 23;
    let end = start + html[start..].find("</code>").unwrap();
    TotpSecret::from_bytes(SecretBytes::new(base32_decode(&html[start..end]).unwrap()))
}

/// The code of the current step.
fn code_now(w: &World, secret: &TotpSecret) -> String {
    format!("{:06}", secret.code_at(w.s.clock.now().as_secs() / 30))
}

fn recovery_codes(page: &Page) -> Vec<String> {
    let html = text(page);
    let list = &html[html.find("id=\"recovery-codes\"").expect("recovery codes are shown")..];
    let list = &list[..list.find("</ul>").unwrap()];
    list.split("<code>").skip(1).map(|c| c[..c.find("</code>").unwrap()].to_owned()).collect()
}

fn first_party(w: &World, name: &str, extra: Value) -> App {
    let mut body = json!({ "first_party": true, "refresh_tokens": true });
    if let (Value::Object(body), Value::Object(extra)) = (&mut body, extra) {
        body.extend(extra);
    }
    w.app(name, "web", body)
}

/// Starts a sign-in to `app` and enters the password: the page that follows.
fn password(w: &World, browser: &Browser, app: &App, extra: &str) -> Page {
    let (_, challenge) = pkce(1);
    let login =
        browser.get(&w.s, &w.authorize_url(app, "openid offline_access", &challenge, extra));
    assert!(is_login(&login), "{}", text(&login));
    browser.submit(&w.s, &login, &[("username", "ada"), ("password", PASSWORD)])
}

/// Enrols through the page: returns the secret and the recovery codes, and the
/// page after the recovery codes (the redirect).
fn enrol(w: &World, browser: &Browser, page: &Page) -> (TotpSecret, Vec<String>, Page) {
    assert!(is_enrolment(page), "{}", text(page));
    let secret = secret_of(page);
    let done = browser.submit(&w.s, page, &[("code", &code_now(w, &secret))]);
    assert_eq!(done.status(), 200, "{}", text(&done));
    let codes = recovery_codes(&done);
    let next = browser.submit(&w.s, &done, &[]);
    (secret, codes, next)
}

/// Redeems the code of a redirect (PKCE seed 1) and returns the token response.
fn redeem(w: &World, app: &App, redirect: &Page) -> Value {
    assert_eq!(redirect.status(), 303, "{}", text(redirect));
    let (verifier, _) = pkce(1);
    let response = w.redeem(app, &w.code_of(redirect), &verifier);
    assert_eq!(response.status(), 200, "{:?}", body_json(&response));
    body_json(&response)
}

fn id_claims(w: &World, app: &App, tokens: &Value) -> (Vec<String>, Option<String>) {
    let claims = w.id_token(
        app,
        tokens["id_token"].as_str().unwrap(),
        tokens["access_token"].as_str().unwrap(),
    );
    (claims.amr, claims.acr)
}

fn user(w: &World) -> Value {
    body_json(&w.s.admin(
        Method::GET,
        &format!("/admin/v1/users/{}", w.user_id),
        &w.admin,
        None,
        &[],
    ))
}

fn otp_amr() -> Vec<String> {
    vec!["pwd".to_owned(), "otp".to_owned()]
}

/// Enrols the user through an app that requires it; returns the secret and codes.
fn enrolled(w: &World) -> (TotpSecret, Vec<String>) {
    let app = first_party(w, "app1", json!({ "require_mfa": true }));
    let browser = Browser::new();
    let page = password(w, &browser, &app, "");
    let (secret, codes, redirect) = enrol(w, &browser, &page);
    assert_eq!(redirect.status(), 303);
    // The enrolment's step is used: the next sign-in waits for a new one.
    w.s.clock.advance(30);
    (secret, codes)
}

#[test]
fn an_app_that_requires_mfa_enrols_the_user_and_the_tokens_say_so() {
    let w = World::new();
    let app = first_party(&w, "app2", json!({ "require_mfa": true }));
    assert_eq!(user(&w)["mfa"], json!({ "enrolled": false }));
    let browser = Browser::new();
    let page = password(&w, &browser, &app, "");
    assert!(is_enrolment(&page), "{}", text(&page));
    let html = text(&page);
    assert!(html.contains("<svg") && html.contains("id=\"totp-qr\""), "a QR code is drawn");
    assert!(html.contains("autocomplete=\"one-time-code\" inputmode=\"numeric\""));
    // A wrong code is refused and the same secret is offered again.
    let secret = secret_of(&page);
    let wrong = browser.submit(&w.s, &page, &[("code", "000000")]);
    assert_eq!(wrong.status(), 401);
    assert!(text(&wrong).contains("role=\"alert\""));
    assert_eq!(secret_of(&wrong).expose(), secret.expose());
    let (_, codes, redirect) = enrol(&w, &browser, &wrong);
    assert_eq!(codes.len(), 10);
    assert_eq!(codes.iter().collect::<std::collections::BTreeSet<_>>().len(), 10);
    let tokens = redeem(&w, &app, &redirect);
    assert_eq!(id_claims(&w, &app, &tokens), (otp_amr(), Some(MFA_ACR.to_owned())));
    // A refresh keeps how the user signed in.
    let refreshed = body_json(&w.post_token(
        &app,
        &format!(
            "grant_type=refresh_token&refresh_token={}",
            tokens["refresh_token"].as_str().unwrap()
        ),
    ));
    // (No nonce after a refresh: OpenID Connect Core section 12.2.)
    let policy = IdTokenPolicy::new(super::ISSUER, app.client_id.as_str())
        .with_access_token(refreshed["access_token"].as_str().unwrap());
    let claims = pollster::block_on(verify_id_token(
        &NativeCrypto::default(),
        &w.jwks(),
        &policy,
        refreshed["id_token"].as_str().unwrap(),
        w.s.clock.now(),
    ))
    .unwrap();
    assert_eq!((claims.amr, claims.acr), (otp_amr(), Some(MFA_ACR.to_owned())));
    let status = &user(&w)["mfa"];
    assert_eq!(status["enrolled"], true);
    assert_eq!(status["recovery_codes_left"], 10);
    assert_eq!(status["enrolled_at"], w.s.clock.now().as_secs());
    // The secret is stored sealed: nothing of it in the user's view.
    assert!(!user(&w).to_string().contains(&secret.base32()));
}

#[test]
fn an_enrolled_user_enters_a_code_and_each_step_works_once() {
    let w = World::new();
    let (secret, _) = enrolled(&w);
    let app = first_party(&w, "app3", json!({}));
    let browser = Browser::new();
    let prompt = password(&w, &browser, &app, "");
    assert!(asks_code(&prompt) && !is_enrolment(&prompt), "{}", text(&prompt));
    let code = code_now(&w, &secret);
    let redirect = browser.submit(&w.s, &prompt, &[("code", &code)]);
    let tokens = redeem(&w, &app, &redirect);
    assert_eq!(id_claims(&w, &app, &tokens), (otp_amr(), Some(MFA_ACR.to_owned())));
    // The same code (its step) again, in another browser: refused.
    let other = Browser::new();
    let prompt = password(&w, &other, &app, "");
    let replay = other.submit(&w.s, &prompt, &[("code", &code)]);
    assert_eq!(replay.status(), 401, "{}", text(&replay));
    assert!(asks_code(&replay));
    // The previous step is within the window, but the enrolment used it.
    let previous = format!("{:06}", secret.code_at(w.s.clock.now().as_secs() / 30 - 1));
    let used = other.submit(&w.s, &replay, &[("code", &previous)]);
    assert_eq!(used.status(), 401);
    // The next step's code (a clock a little ahead) is unused: accepted once.
    let next = format!("{:06}", secret.code_at(w.s.clock.now().as_secs() / 30 + 1));
    let ok = other.submit(&w.s, &used, &[("code", &next)]);
    assert_eq!(ok.status(), 303, "{}", text(&ok));
    // Two steps away is outside the window.
    let third = Browser::new();
    let prompt = password(&w, &third, &app, "");
    let stale = format!("{:06}", secret.code_at(w.s.clock.now().as_secs() / 30 - 2));
    assert_eq!(third.submit(&w.s, &prompt, &[("code", &stale)]).status(), 401);
}

#[test]
fn a_recovery_code_works_once() {
    let w = World::new();
    let (_, codes) = enrolled(&w);
    let app = first_party(&w, "app4", json!({}));
    let browser = Browser::new();
    let prompt = password(&w, &browser, &app, "");
    let used = codes[3].to_uppercase();
    let redirect = browser.submit(&w.s, &prompt, &[("recovery_code", &used)]);
    let tokens = redeem(&w, &app, &redirect);
    assert_eq!(id_claims(&w, &app, &tokens).0, otp_amr());
    assert_eq!(user(&w)["mfa"]["recovery_codes_left"], 9);
    let other = Browser::new();
    let prompt = password(&w, &other, &app, "");
    let again = other.submit(&w.s, &prompt, &[("recovery_code", &codes[3])]);
    assert_eq!(again.status(), 401);
    let made_up = other.submit(&w.s, &again, &[("recovery_code", "aaaaa-bbbbb")]);
    assert_eq!(made_up.status(), 401);
    let next = other.submit(&w.s, &made_up, &[("recovery_code", &codes[4])]);
    assert_eq!(next.status(), 303, "{}", text(&next));
}

#[test]
fn a_password_only_session_is_stepped_up_with_a_code_alone() {
    let w = World::new();
    let plain = first_party(&w, "app5", json!({}));
    let strict = first_party(&w, "app6", json!({ "require_mfa": true }));
    let browser = Browser::new();
    // Not enrolled, nothing required: the password is enough.
    let redirect = password(&w, &browser, &plain, "");
    assert_eq!(
        id_claims(&w, &plain, &redeem(&w, &plain, &redirect)).1.as_deref(),
        Some("urn:gatehouse:acr:password")
    );
    // prompt=none cannot ask for the second factor.
    let (_, challenge) = pkce(1);
    let silent = browser.get(&w.s, &w.authorize_url(&strict, "openid", &challenge, "&prompt=none"));
    assert_eq!(
        redirect_params(&silent).get("error").map(String::as_str),
        Some("interaction_required")
    );
    // The app that requires it: enrolment at once, no password again.
    let page = browser.get(&w.s, &w.authorize_url(&strict, "openid", &challenge, ""));
    assert!(!is_login(&page));
    let (secret, _, redirect) = enrol(&w, &browser, &page);
    assert_eq!(id_claims(&w, &strict, &redeem(&w, &strict, &redirect)).0, otp_amr());
    // The session has `otp` now: silent sign-in works, and other apps get it too.
    let silent = browser.get(&w.s, &w.authorize_url(&strict, "openid", &challenge, "&prompt=none"));
    assert_eq!(silent.status(), 303, "{}", text(&silent));
    let again = browser.get(&w.s, &w.authorize_url(&plain, "openid", &challenge, ""));
    assert_eq!(id_claims(&w, &plain, &redeem(&w, &plain, &again)).0, otp_amr());
    // A new password-only session of the enrolled user is asked for a code, and
    // `prompt=consent` still shows the consent page after it.
    w.s.clock.advance(30);
    let web = w.app("app7", "web", json!({ "refresh_tokens": true }));
    let other = Browser::new();
    let asked = password(&w, &other, &web, "&prompt=consent");
    assert!(asks_code(&asked), "{}", text(&asked));
    let consent = other.submit(&w.s, &asked, &[("code", &code_now(&w, &secret))]);
    assert!(is_consent(&consent), "{}", text(&consent));
    let redirect = other.submit(&w.s, &consent, &[("decision", "allow")]);
    assert_eq!(id_claims(&w, &web, &redeem(&w, &web, &redirect)).0, otp_amr());
}

#[test]
fn the_users_requirement_and_acr_values_ask_for_the_second_factor() {
    let w = World::new();
    let plain = first_party(&w, "app7", json!({}));
    // acr_values of the multi-factor class.
    let browser = Browser::new();
    let page = password(&w, &browser, &plain, &format!("&acr_values={}", super::encode(MFA_ACR)));
    assert!(is_enrolment(&page), "{}", text(&page));
    // The user's own requirement.
    let path = format!("/admin/v1/users/{}", w.user_id);
    let bad =
        w.s.admin(Method::PATCH, &path, &w.admin, Some(json!({ "mfa_required": "yes" })), &[]);
    assert_eq!(bad.status(), 400);
    assert_eq!(body_json(&bad)["errors"][0]["pointer"], "/mfa_required");
    let set = w.s.admin(Method::PATCH, &path, &w.admin, Some(json!({ "mfa_required": true })), &[]);
    assert_eq!(set.status(), 200, "{:?}", body_json(&set));
    assert_eq!(body_json(&set)["mfa_required"], true);
    let browser = Browser::new();
    let page = password(&w, &browser, &plain, "");
    assert!(is_enrolment(&page), "{}", text(&page));
    // A body read back from GET (with its `mfa` status) can be written back.
    let mut current = user(&w);
    current
        .as_object_mut()
        .unwrap()
        .retain(|k, _| !["id", "created_at", "updated_at", "has_password"].contains(&k.as_str()));
    let put = w.s.admin(Method::PUT, &path, &w.admin, Some(current), &[]);
    assert_eq!(put.status(), 200, "{:?}", body_json(&put));
    // The app's flag is checked like any other.
    let bad = w.s.admin(
        Method::POST,
        "/admin/v1/apps",
        &w.admin,
        Some(json!({ "client_name": "x", "type": "web", "redirect_uris": [super::CALLBACK], "require_mfa": 1 })),
        &[],
    );
    assert_eq!(bad.status(), 400);
    assert_eq!(body_json(&bad)["errors"][0]["pointer"], "/require_mfa");
}

#[test]
fn wrong_codes_lock_the_second_step_and_a_password_does_not_unlock_it() {
    let w = World::new();
    let (secret, _) = enrolled(&w);
    let app = first_party(&w, "app8", json!({}));
    let browser = Browser::new();
    let mut page = password(&w, &browser, &app, "");
    for _ in 0..5 {
        page = browser.submit(&w.s, &page, &[("code", "000000")]);
        assert_eq!(page.status(), 401);
    }
    // Signing in with the password again does not reset the second step's count.
    let browser = Browser::new();
    let mut page = password(&w, &browser, &app, "");
    for _ in 0..5 {
        page = browser.submit(&w.s, &page, &[("code", "000000")]);
    }
    assert!(text(&page).contains("15 minutes"), "{}", text(&page));
    let refused = browser.submit(&w.s, &page, &[("code", &code_now(&w, &secret))]);
    assert_eq!(refused.status(), 401);
    assert!(text(&refused).contains("15 minutes"));
    // The password step is locked too (the user's counter).
    let (_, challenge) = pkce(1);
    let login = Browser::new().get(&w.s, &w.authorize_url(&app, "openid", &challenge, ""));
    let locked =
        Browser::new().submit(&w.s, &login, &[("username", "ada"), ("password", PASSWORD)]);
    assert!(is_login(&locked) || locked.status() == 403);
    w.s.clock.advance(15 * 60);
    let browser = Browser::new();
    let page = password(&w, &browser, &app, "");
    let ok = browser.submit(&w.s, &page, &[("code", &code_now(&w, &secret))]);
    assert_eq!(ok.status(), 303, "{}", text(&ok));
}

#[test]
fn the_second_step_belongs_to_the_browser_that_signed_in() {
    let w = World::new();
    let (secret, _) = enrolled(&w);
    let app = first_party(&w, "app9", json!({}));
    let browser = Browser::new();
    let prompt = password(&w, &browser, &app, "");
    // Another browser (its own CSRF cookie, no session) cannot finish it.
    let thief = Browser::new();
    let stolen = thief.submit(&w.s, &prompt, &[("code", &code_now(&w, &secret))]);
    assert!(stolen.status() == 403 || stolen.status() == 400, "{}", stolen.status());
    let ok = browser.submit(&w.s, &prompt, &[("code", &code_now(&w, &secret))]);
    assert_eq!(ok.status(), 303, "{}", text(&ok));
}

#[test]
fn an_administrator_resets_the_second_factor() {
    let w = World::new();
    enrolled(&w);
    let path = format!("/admin/v1/users/{}/mfa", w.user_id);
    let status = w.s.admin(Method::GET, &path, &w.admin, None, &[]);
    assert_eq!(body_json(&status)["enrolled"], true);
    let reset = w.s.admin(Method::DELETE, &path, &w.admin, None, &[]);
    assert_eq!(reset.status(), 204);
    assert_eq!(user(&w)["mfa"], json!({ "enrolled": false }));
    // Nothing requires it any more: the password is enough again.
    let app = first_party(&w, "app10", json!({}));
    let redirect = password(&w, &Browser::new(), &app, "");
    assert_eq!(id_claims(&w, &app, &redeem(&w, &app, &redirect)).0, vec!["pwd".to_owned()]);
    let missing = w.s.admin(Method::DELETE, "/admin/v1/users/nobody/mfa", &w.admin, None, &[]);
    assert_eq!(missing.status(), 404);
    let wrong_method = w.s.admin(Method::POST, &path, &w.admin, None, &[]);
    assert_eq!(wrong_method.status(), 405);
}

#[test]
fn discovery_lists_the_multi_factor_class_and_consent_still_follows() {
    let w = World::new();
    let metadata = body_json(&w.s.get("/.well-known/openid-configuration"));
    assert!(metadata["acr_values_supported"].as_array().unwrap().contains(&json!(MFA_ACR)));
    // A third-party app: the second factor first, then consent.
    let app = w.app("third", "web", json!({ "require_mfa": true }));
    let browser = Browser::new();
    let page = password(&w, &browser, &app, "");
    let secret = secret_of(&page);
    let done = browser.submit(&w.s, &page, &[("code", &code_now(&w, &secret))]);
    let consent = browser.submit(&w.s, &done, &[]);
    assert!(is_consent(&consent), "{}", text(&consent));
}
