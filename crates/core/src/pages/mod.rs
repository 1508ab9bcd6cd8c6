//! The hosted pages (login, the second factor ([`render_mfa`]), consent, no access to an app, device code entry, logout
//! confirmation, signed out, errors and the OAuth 2.0 Form Post Response Mode page) as typed view data,
//! rendered to escaped HTML; and, apart from them, the Web Message Response Mode page
//! ([`render_web_message`]), which must be framed by the app and so has its own policy.
//!
//! The flows decide what a page says; this module decides only how it looks. Caller
//! data reaches the markup through one escaping function (one more for the Web
//! Message page's JSON) and no other way, and the form field names are fixed here,
//! so the flows and the browser tests agree on them. Every hosted page works without
//! JavaScript; the Form Post page alone carries a script (it submits the form on
//! load) and a `<noscript>` button in its place. The Web Message page is nothing but
//! its script: a hidden iframe has nobody to show a button to.
//!
//! # Security
//!
//! Each hosted page is `no-store`, refuses to be framed or sniffed, sends no referrer and
//! carries a Content-Security-Policy that allows nothing but the embedded style sheet
//! and, on the Form Post page, its one script, each by SHA-256 hash. The policy has no
//! `form-action`: browsers apply it to the redirect that follows a form submission,
//! and the answer to the login form redirects to the app.

mod html;
mod i18n;
mod markdown;
mod mfa;
mod policy;
mod register;
mod web_message;

pub use i18n::{Locale, system_scope_description};
pub use mfa::{MfaEnrol, MfaPage, MfaProblem, MfaRecoveryCodes, MfaVerify, render_mfa};
pub use policy::PolicyConsent;
pub use register::{
    FieldInput, InputKind, InputProblem, Register, RegisterNotice, RegisterPage, VerifyEmail,
    render_register,
};
pub use web_message::{WebMessage, render_web_message};

use base64::Engine as _;
use http::{HeaderValue, StatusCode, header};
use sha2::{Digest, Sha256};

use crate::http::{Response, no_store};
use html::{Attr, Html};
use i18n::{Strings, fill, locked_out};

/// How the app presents itself on a page (all values are shown escaped; URIs were
/// validated https URLs by the caller).
#[derive(Debug, Clone, Copy)]
pub struct Brand<'a> {
    /// The app's name.
    pub name: &'a str,
    /// Its logo, shown above the heading.
    pub logo_uri: Option<&'a str>,
    /// Its home page.
    pub client_uri: Option<&'a str>,
    /// Its privacy policy.
    pub policy_uri: Option<&'a str>,
    /// Its terms of service.
    pub tos_uri: Option<&'a str>,
    /// The company behind it, named on the consent page.
    pub company_name: Option<&'a str>,
}

/// Hidden form fields carried through a page (e.g. ("interaction", sealed blob),
/// ("csrf", token)).
pub type Hidden<'a> = &'a [(&'a str, &'a str)];

/// Why the login form is shown again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginProblem {
    /// The username or the password is wrong (the page never says which).
    InvalidCredentials,
    /// Too many failed attempts; the next is accepted after this many seconds.
    LockedOut {
        /// Seconds until the next attempt is accepted.
        retry_after_secs: u64,
    },
    /// The sign-in request took too long; the user starts again from the app.
    Expired,
    /// Signing in through an upstream provider did not work.
    UpstreamFailed,
    /// The upstream account has no user here, and the app creates none.
    NoUpstreamAccount,
    /// A registration found an account with its (verified) email address.
    AccountExists,
}

/// The login page's upstream provider buttons: one form posting to `action`
/// with the page's hidden fields and the chosen provider id as `provider`.
pub struct Upstream<'a> {
    /// Where the buttons post.
    pub action: &'a str,
    /// Each provider's id and display name (none: no buttons).
    pub providers: &'a [(String, String)],
}

/// The login page: username and password.
pub struct Login<'a> {
    /// The app the user signs in to.
    pub brand: Brand<'a>,
    /// Where the form posts.
    pub action: &'a str,
    /// Hidden fields carried through.
    pub hidden: Hidden<'a>,
    /// The username to prefill (empty for none).
    pub username: &'a str,
    /// Why the form is shown again, if it is.
    pub problem: Option<LoginProblem>,
    /// The upstream provider buttons.
    pub upstream: Upstream<'a>,
    /// Where "Create account" posts, when the app takes registrations.
    pub register: Option<&'a str>,
}

/// One requested scope on the consent page. For a system scope (openid, profile,
/// email, phone, address, offline_access, groups) `description` is None and the page
/// uses its own localized text; a custom scope's description is chosen by the caller
/// (already localized) or None (then the scope name alone is shown).
#[derive(Debug, Clone, Copy)]
pub struct ScopeItem<'a> {
    /// The scope token.
    pub name: &'a str,
    /// What it lets the app do, in the page's locale.
    pub description: Option<&'a str>,
}

/// The consent page: the app, the user and the scopes asked for; allow or deny.
pub struct Consent<'a> {
    /// The app asking.
    pub brand: Brand<'a>,
    /// Where the form posts.
    pub action: &'a str,
    /// Hidden fields carried through.
    pub hidden: Hidden<'a>,
    /// The signed-in user the consent is for (as they would recognise themselves).
    pub user: &'a str,
    /// The scopes to consent to.
    pub scopes: &'a [ScopeItem<'a>],
}

/// Shown to a signed-in user whom the app does not admit (none of its allowed
/// roles), with a login form to use another account.
pub struct NoAccess<'a> {
    /// The app the user may not use.
    pub brand: Brand<'a>,
    /// Where the login form posts.
    pub action: &'a str,
    /// Hidden fields carried through.
    pub hidden: Hidden<'a>,
    /// The signed-in user (as they would recognise themselves).
    pub user: &'a str,
}

/// Why the device code form is shown again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceProblem {
    /// No pending device authorization has this code.
    Unknown,
    /// The code has expired.
    Expired,
    /// Too many wrong codes; the next is accepted after this many seconds.
    LockedOut {
        /// Seconds until the next attempt is accepted.
        retry_after_secs: u64,
    },
}

/// The device code entry page (RFC 8628 section 3.3).
pub struct DeviceEntry<'a> {
    /// Where the form posts.
    pub action: &'a str,
    /// Hidden fields carried through.
    pub hidden: Hidden<'a>,
    /// The code to prefill (from `verification_uri_complete`, or the last attempt).
    pub user_code: &'a str,
    /// Why the form is shown again, if it is.
    pub problem: Option<DeviceProblem>,
}

/// Shown after a device was approved or denied on the device page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceDone {
    /// Whether the user approved the device.
    pub approved: bool,
}

/// The logout confirmation page (OpenID Connect RP-Initiated Logout section 2).
pub struct LogoutConfirm<'a> {
    /// The app asking, when the request identified it.
    pub brand: Option<Brand<'a>>,
    /// Where the form posts.
    pub action: &'a str,
    /// Hidden fields carried through.
    pub hidden: Hidden<'a>,
}

/// Shown after signing out when no app is to be returned to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedOut;

/// An error the user sees instead of being redirected (an unverified redirect URI,
/// an unknown app).
pub struct ErrorPage<'a> {
    /// The OAuth error code, e.g. `invalid_request`.
    pub error: &'a str,
    /// A short description for a developer; never a stack trace.
    pub description: &'a str,
}

/// The OAuth 2.0 Form Post Response Mode page: posts `fields` to `action` (the
/// validated redirect URI).
pub struct FormPost<'a> {
    /// The redirect URI.
    pub action: &'a str,
    /// The authorization response parameters.
    pub fields: &'a [(&'a str, &'a str)],
}

/// A page and its view data.
pub enum Page<'a> {
    /// Username and password.
    Login(Login<'a>),
    /// Allow or deny an app's scopes.
    Consent(Consent<'a>),
    /// Accept or decline an app's consent policy.
    PolicyConsent(PolicyConsent<'a>),
    /// The signed-in user may not use the app.
    NoAccess(NoAccess<'a>),
    /// Enter a device's user code.
    DeviceEntry(DeviceEntry<'a>),
    /// A device was approved or denied.
    DeviceDone(DeviceDone),
    /// Confirm signing out.
    LogoutConfirm(LogoutConfirm<'a>),
    /// Signed out.
    SignedOut(SignedOut),
    /// An error shown to the user.
    Error(ErrorPage<'a>),
    /// Posts the authorization response to the app.
    FormPost(FormPost<'a>),
}

/// The style sheet of every page, embedded in `<style>` and allowed by its hash.
const STYLE: &str = include_str!("style.css");

/// The Form Post page's only script. It calls the prototype's `submit`, which a
/// field named `submit` cannot shadow.
const AUTO_SUBMIT: &str = "HTMLFormElement.prototype.submit.call(document.forms[0])";

/// The element id of a problem message, named by its input's `aria-describedby`.
const PROBLEM_ID: &str = "problem";

/// Renders `page` in `locale` with `status` as a complete response.
#[must_use]
pub fn render(page: &Page<'_>, locale: Locale, status: StatusCode) -> Response {
    let text = locale.strings();
    let heading = heading(page, text);
    let script = matches!(page, Page::FormPost(_)).then_some(AUTO_SUBMIT);
    document(locale, &heading, status, script, |html| match page {
        Page::Login(login) => login_page(html, login, locale, &heading),
        Page::Consent(consent) => consent_page(html, consent, locale, &heading),
        Page::PolicyConsent(page) => policy::page(html, page, locale, text, &heading),
        Page::NoAccess(page) => no_access_page(html, page, text, &heading),
        Page::DeviceEntry(entry) => device_entry_page(html, entry, text, &heading),
        Page::DeviceDone(done) => {
            let body =
                if done.approved { text.device_approved_text } else { text.device_denied_text };
            message_page(html, &heading, body);
        }
        Page::LogoutConfirm(logout) => logout_page(html, logout, text, &heading),
        Page::SignedOut(SignedOut) => message_page(html, &heading, text.signed_out_text),
        Page::Error(error) => error_page(html, error, text, &heading),
        Page::FormPost(post) => form_post_page(html, post, text, &heading),
    })
}

/// A complete page: the head with the style sheet, `body` inside `<main>`.
fn document(
    locale: Locale,
    heading: &str,
    status: StatusCode,
    script: Option<&str>,
    body: impl FnOnce(&mut Html),
) -> Response {
    let mut html = Html::new();
    html.markup("<!doctype html>\n");
    html.start("html", &[("lang", locale.tag())]);
    html.markup(concat!(
        "<head><meta charset=\"utf-8\">",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
        "<meta name=\"robots\" content=\"noindex\">"
    ));
    html.element("title", &[], heading);
    html.markup("<style>");
    html.markup(STYLE);
    html.markup("</style></head>\n<body><main>");
    body(&mut html);
    html.markup("</main></body>\n</html>\n");
    respond(status, html.finish(), script)
}

/// The page's `<h1>`, also its `<title>`.
fn heading(page: &Page<'_>, text: &Strings) -> String {
    match page {
        Page::Login(login) => fill(text.login_heading, login.brand.name),
        Page::Consent(consent) => fill(text.consent_heading, consent.brand.name),
        Page::PolicyConsent(page) => page.title.to_owned(),
        Page::NoAccess(page) => fill(text.no_access_heading, page.brand.name),
        Page::DeviceEntry(_) => text.device_heading.to_owned(),
        Page::DeviceDone(done) => {
            if done.approved { text.device_approved } else { text.device_denied }.to_owned()
        }
        Page::LogoutConfirm(_) => text.logout_heading.to_owned(),
        Page::SignedOut(_) => text.signed_out_heading.to_owned(),
        Page::Error(_) => text.error_heading.to_owned(),
        Page::FormPost(_) => text.form_post_heading.to_owned(),
    }
}

fn login_page(html: &mut Html, page: &Login<'_>, locale: Locale, heading: &str) {
    let text = locale.strings();
    logo(html, &page.brand, text);
    html.element("h1", &[], heading);
    let problem = page.problem.map(|problem| match problem {
        LoginProblem::InvalidCredentials => text.invalid_credentials.to_owned(),
        LoginProblem::LockedOut { retry_after_secs } => locked_out(text, retry_after_secs),
        LoginProblem::Expired => text.login_expired.to_owned(),
        LoginProblem::UpstreamFailed => text.upstream_failed.to_owned(),
        LoginProblem::NoUpstreamAccount => text.no_upstream_account.to_owned(),
        LoginProblem::AccountExists => text.account_exists.to_owned(),
    });
    alert(html, problem.as_deref());
    form(html, page.action, page.hidden);
    let invalid = problem.is_some();
    let focus_username = page.username.is_empty();
    let username = [("autocomplete", "username"), ("value", page.username)];
    field(html, "username", text.username, &username, focus_username, invalid);
    let password = [("type", "password"), ("autocomplete", "current-password")];
    field(html, "password", text.password, &password, !focus_username, invalid);
    html.element("button", &[("type", "submit")], text.sign_in);
    html.end("form");
    if !page.upstream.providers.is_empty() {
        form(html, page.upstream.action, page.hidden);
        html.start("div", &[("class", "providers")]);
        for (id, name) in page.upstream.providers {
            let attrs = [
                ("type", "submit"),
                ("name", "provider"),
                ("value", id.as_str()),
                ("class", "secondary"),
            ];
            html.element("button", &attrs, &fill(text.continue_with, name));
        }
        html.end("div");
        html.end("form");
    }
    if let Some(action) = page.register {
        register::create_account_link(html, action, page.hidden, locale);
    }
    links(html, &page.brand, text);
}

fn consent_page(html: &mut Html, page: &Consent<'_>, locale: Locale, heading: &str) {
    let text = locale.strings();
    logo(html, &page.brand, text);
    html.element("h1", &[], heading);
    if let Some(company) = page.brand.company_name {
        html.element("p", &[("class", "muted")], &fill(text.provided_by, company));
    }
    html.element("p", &[], &fill(text.signed_in_as, page.user));
    html.element("p", &[], &fill(text.consent_intro, page.brand.name));
    html.start("ul", &[("class", "scopes")]);
    for scope in page.scopes {
        html.start("li", &[]);
        if let Some(description) =
            scope.description.or_else(|| system_scope_description(scope.name, locale))
        {
            html.element("span", &[], description);
        }
        html.element("code", &[], scope.name);
        html.end("li");
    }
    html.end("ul");
    form(html, page.action, page.hidden);
    actions(html, ("allow", text.allow), ("deny", text.deny));
    html.end("form");
    links(html, &page.brand, text);
}

fn no_access_page(html: &mut Html, page: &NoAccess<'_>, text: &Strings, heading: &str) {
    logo(html, &page.brand, text);
    html.element("h1", &[], heading);
    html.element("p", &[], &fill(text.signed_in_as, page.user));
    html.element("p", &[], &fill(text.no_access_text, page.brand.name));
    form(html, page.action, page.hidden);
    field(html, "username", text.username, &[("autocomplete", "username")], false, false);
    let password = [("type", "password"), ("autocomplete", "current-password")];
    field(html, "password", text.password, &password, false, false);
    html.element("button", &[("type", "submit")], text.other_account);
    html.end("form");
    links(html, &page.brand, text);
}

fn device_entry_page(html: &mut Html, page: &DeviceEntry<'_>, text: &Strings, heading: &str) {
    html.element("h1", &[], heading);
    html.element("p", &[], text.device_intro);
    let problem = page.problem.map(|problem| match problem {
        DeviceProblem::Unknown => text.device_unknown.to_owned(),
        DeviceProblem::Expired => text.device_expired.to_owned(),
        DeviceProblem::LockedOut { retry_after_secs } => locked_out(text, retry_after_secs),
    });
    alert(html, problem.as_deref());
    form(html, page.action, page.hidden);
    let code = [
        ("autocomplete", "one-time-code"),
        ("autocapitalize", "characters"),
        ("spellcheck", "false"),
        ("value", page.user_code),
    ];
    field(html, "user_code", text.user_code, &code, true, problem.is_some());
    html.element("button", &[("type", "submit")], text.continue_);
    html.end("form");
}

fn logout_page(html: &mut Html, page: &LogoutConfirm<'_>, text: &Strings, heading: &str) {
    if let Some(brand) = &page.brand {
        logo(html, brand, text);
    }
    html.element("h1", &[], heading);
    match &page.brand {
        Some(brand) => html.element("p", &[], &fill(text.logout_by_app, brand.name)),
        None => html.element("p", &[], text.logout_question),
    }
    form(html, page.action, page.hidden);
    actions(html, ("logout", text.sign_out), ("cancel", text.stay_signed_in));
    html.end("form");
    if let Some(brand) = &page.brand {
        links(html, brand, text);
    }
}

fn message_page(html: &mut Html, heading: &str, body: &str) {
    html.element("h1", &[], heading);
    html.element("p", &[], body);
}

fn error_page(html: &mut Html, page: &ErrorPage<'_>, text: &Strings, heading: &str) {
    html.element("h1", &[], heading);
    html.element("p", &[], text.error_text);
    html.start("p", &[("class", "muted")]);
    html.text(text.error_code);
    html.text(" ");
    html.element("code", &[], page.error);
    html.end("p");
    if !page.description.is_empty() {
        html.element("p", &[], page.description);
    }
}

fn form_post_page(html: &mut Html, page: &FormPost<'_>, text: &Strings, heading: &str) {
    html.element("h1", &[], heading);
    form(html, page.action, page.fields);
    html.markup("<noscript>");
    html.element("p", &[], text.form_post_noscript);
    html.element("button", &[("type", "submit")], text.continue_);
    html.markup("</noscript>");
    html.end("form");
    html.markup("<script>");
    html.markup(AUTO_SUBMIT);
    html.markup("</script>");
}

/// The app's logo, if it has one.
fn logo(html: &mut Html, brand: &Brand<'_>, text: &Strings) {
    if let Some(src) = brand.logo_uri {
        let alt = fill(text.logo_alt, brand.name);
        let attrs =
            [("class", "logo"), ("src", src), ("alt", &alt), ("width", "48"), ("height", "48")];
        html.start("img", &attrs);
    }
}

/// The app's website, privacy policy and terms, those it has.
fn links(html: &mut Html, brand: &Brand<'_>, text: &Strings) {
    let links = [
        (brand.client_uri, text.website),
        (brand.policy_uri, text.privacy_policy),
        (brand.tos_uri, text.terms),
    ];
    if links.iter().all(|(uri, _)| uri.is_none()) {
        return;
    }
    html.start("footer", &[("class", "links")]);
    for (uri, label) in links {
        if let Some(href) = uri {
            html.element("a", &[("href", href), ("rel", "noopener noreferrer")], label);
        }
    }
    html.end("footer");
}

/// The problem with the last submission, announced to screen readers.
fn alert(html: &mut Html, problem: Option<&str>) {
    if let Some(problem) = problem {
        html.element("p", &[("id", PROBLEM_ID), ("role", "alert")], problem);
    }
}

/// Opens a form posting to `action` with `hidden` as hidden inputs.
fn form(html: &mut Html, action: &str, hidden: &[(&str, &str)]) {
    html.start("form", &[("method", "post"), ("action", action)]);
    for (name, value) in hidden {
        html.start("input", &[("type", "hidden"), ("name", name), ("value", value)]);
    }
}

/// A visible label and its required input named and identified by `name`.
fn field(
    html: &mut Html,
    name: &'static str,
    label: &str,
    attrs: &[Attr<'_>],
    autofocus: bool,
    invalid: bool,
) {
    html.element("label", &[("for", name)], label);
    let mut all = vec![("name", name), ("id", name)];
    all.extend_from_slice(attrs);
    all.push(("required", ""));
    if autofocus {
        all.push(("autofocus", ""));
    }
    if invalid {
        all.extend([("aria-invalid", "true"), ("aria-describedby", PROBLEM_ID)]);
    }
    html.start("input", &all);
}

/// The two `decision` buttons, each a (value, label): the primary action first.
fn actions(html: &mut Html, (primary, label): (&str, &str), (secondary, other): (&str, &str)) {
    html.start("div", &[("class", "actions")]);
    html.element("button", &[("type", "submit"), ("name", "decision"), ("value", primary)], label);
    let attrs =
        [("type", "submit"), ("name", "decision"), ("value", secondary), ("class", "secondary")];
    html.element("button", &attrs, other);
    html.end("div");
}

/// `'sha256-...'`: a CSP source allowing exactly `text` as an inline style or script.
fn hash_source(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    format!("'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(digest))
}

/// The page's Content-Security-Policy: the style sheet and, if given, the script.
fn content_security_policy(script: Option<&str>) -> String {
    let script_src = script.map(|script| format!("; script-src {}", hash_source(script)));
    format!(
        "default-src 'none'; style-src {}{}; img-src https: data:; frame-ancestors 'none'; \
         base-uri 'none'",
        hash_source(STYLE),
        script_src.unwrap_or_default()
    )
}

fn respond(status: StatusCode, body: String, script: Option<&str>) -> Response {
    let mut response = Response::new(body.into_bytes());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    no_store(headers);
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // The policy is ASCII by construction; should that ever change, the page fails
    // closed: unstyled, and with nothing else allowed.
    let csp = HeaderValue::try_from(content_security_policy(script))
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"));
    headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    response
}

#[cfg(test)]
mod tests;
