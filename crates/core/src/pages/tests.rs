use base64::Engine as _;
use http::header;
use sha2::{Digest, Sha256};

use super::*;

const HIDDEN: Hidden<'static> = &[("interaction", "sealed.blob"), ("csrf", "token-1")];
const HOSTILE: &str = r#"<script>alert("x")</script>&'"#;
const HOSTILE_ESCAPED: &str = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;";

fn brand(name: &str) -> Brand<'_> {
    Brand {
        name,
        logo_uri: Some("https://shop.example/logo.png"),
        client_uri: Some("https://shop.example/"),
        policy_uri: Some("https://shop.example/privacy"),
        tos_uri: Some("https://shop.example/terms"),
        company_name: Some("Shop Ltd"),
    }
}

fn login(username: &str, problem: Option<LoginProblem>) -> Page<'_> {
    let upstream = Upstream { action: "/upstream/start", providers: &[] };
    Page::Login(Login {
        brand: brand("Shop"),
        action: "/login",
        hidden: HIDDEN,
        username,
        problem,
        upstream,
        register: None,
    })
}

fn device(problem: Option<DeviceProblem>) -> Page<'static> {
    Page::DeviceEntry(DeviceEntry {
        action: "/device",
        hidden: HIDDEN,
        user_code: "WDJB-MJHT",
        problem,
    })
}

const SCOPES: &[ScopeItem<'static>] = &[
    ScopeItem { name: "openid", description: None },
    ScopeItem { name: "orders:read", description: Some("Read your orders") },
    ScopeItem { name: "orders:write", description: None },
];

fn every_page() -> Vec<Page<'static>> {
    vec![
        login("", None),
        Page::Consent(Consent {
            brand: brand("Shop"),
            action: "/consent",
            hidden: HIDDEN,
            user: "ada@example.com",
            scopes: SCOPES,
        }),
        device(None),
        Page::DeviceDone(DeviceDone { approved: true }),
        Page::LogoutConfirm(LogoutConfirm { brand: None, action: "/logout", hidden: HIDDEN }),
        Page::SignedOut(SignedOut),
        Page::Error(ErrorPage { error: "invalid_request", description: "unknown client_id" }),
        Page::FormPost(FormPost {
            action: "https://shop.example/cb",
            fields: &[("code", "abc"), ("state", "xyz")],
        }),
        no_access(),
    ]
}

fn no_access() -> Page<'static> {
    Page::NoAccess(NoAccess {
        brand: brand("Shop"),
        action: "/login",
        hidden: HIDDEN,
        user: "ada@example.com",
    })
}

fn body(page: &Page<'_>, locale: Locale) -> String {
    let response = render(page, locale, StatusCode::OK);
    String::from_utf8(response.into_body()).unwrap()
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text.find(start).unwrap() + start.len();
    let to = from + text[from..].find(end).unwrap();
    &text[from..to]
}

fn sha256_b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(text.as_bytes()))
}

fn hidden_inputs_present(html: &str) {
    for (name, value) in HIDDEN {
        let input = format!("<input type=\"hidden\" name=\"{name}\" value=\"{value}\">");
        assert!(html.contains(&input), "{input}");
    }
}

#[test]
fn every_page_has_the_safe_headers_and_the_given_status() {
    for page in every_page() {
        let response = render(&page, Locale::En, StatusCode::BAD_REQUEST);
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let headers = response.headers();
        for (name, value) in [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_FRAME_OPTIONS, "DENY"),
        ] {
            assert_eq!(headers[&name], value, "{name}");
        }
        let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.starts_with("default-src 'none'; style-src 'sha256-"), "{csp}");
        assert!(csp.ends_with("; img-src https: data:; frame-ancestors 'none'; base-uri 'none'"));
        assert!(!csp.contains("form-action"), "{csp}");
    }
}

#[test]
fn every_page_is_a_complete_document_in_its_locale() {
    for page in every_page() {
        for locale in [Locale::En, Locale::De, Locale::Fr] {
            let html = body(&page, locale);
            assert!(html.starts_with("<!doctype html>\n<html lang=\""), "{html}");
            assert!(html.contains(&format!("<html lang=\"{}\">", locale.tag())));
            for part in [
                "<meta charset=\"utf-8\">",
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
                "<meta name=\"robots\" content=\"noindex\">",
                "<title>",
                "<main>",
                "<h1>",
                "</html>\n",
            ] {
                assert!(html.contains(part), "{part}");
            }
        }
    }
}

#[test]
fn style_hash_in_the_csp_matches_the_embedded_style() {
    for page in every_page() {
        let response = render(&page, Locale::En, StatusCode::OK);
        let csp = response.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap().to_owned();
        let html = String::from_utf8(response.into_body()).unwrap();
        let style = between(&html, "<style>", "</style>");
        assert_eq!(style, STYLE);
        assert!(csp.contains(&format!("style-src 'sha256-{}'", sha256_b64(style))), "{csp}");
    }
}

#[test]
fn only_the_form_post_page_has_a_script_and_its_hash_is_in_the_csp() {
    for page in every_page() {
        let response = render(&page, Locale::En, StatusCode::OK);
        let csp = response.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap().to_owned();
        let html = String::from_utf8(response.into_body()).unwrap();
        if let Page::FormPost(_) = page {
            assert_eq!(html.matches("<script").count(), 1);
            let script = between(&html, "<script>", "</script>");
            assert!(csp.contains(&format!("; script-src 'sha256-{}';", sha256_b64(script))));
        } else {
            assert!(!html.contains("<script"));
            assert!(!csp.contains("script-src"), "{csp}");
        }
    }
}

#[test]
fn the_style_sheet_stays_small() {
    assert!(STYLE.len() < 2500, "{}", STYLE.len());
}

#[test]
fn caller_data_is_escaped_everywhere() {
    let hostile_hidden: Hidden<'_> = &[("csrf", HOSTILE)];
    let hostile_brand = Brand {
        name: HOSTILE,
        logo_uri: Some(HOSTILE),
        client_uri: Some(HOSTILE),
        policy_uri: Some(HOSTILE),
        tos_uri: Some(HOSTILE),
        company_name: Some(HOSTILE),
    };
    let hostile_providers = [(HOSTILE.to_owned(), HOSTILE.to_owned())];
    let scopes = [
        ScopeItem { name: HOSTILE, description: Some(HOSTILE) },
        ScopeItem { name: HOSTILE, description: None },
    ];
    let pages = [
        Page::Login(Login {
            brand: hostile_brand,
            action: HOSTILE,
            hidden: hostile_hidden,
            username: HOSTILE,
            problem: Some(LoginProblem::InvalidCredentials),
            upstream: Upstream { action: HOSTILE, providers: &hostile_providers },
            register: Some(HOSTILE),
        }),
        Page::Consent(Consent {
            brand: hostile_brand,
            action: HOSTILE,
            hidden: hostile_hidden,
            user: HOSTILE,
            scopes: &scopes,
        }),
        Page::DeviceEntry(DeviceEntry {
            action: HOSTILE,
            hidden: hostile_hidden,
            user_code: HOSTILE,
            problem: None,
        }),
        Page::LogoutConfirm(LogoutConfirm {
            brand: Some(hostile_brand),
            action: HOSTILE,
            hidden: hostile_hidden,
        }),
        Page::Error(ErrorPage { error: HOSTILE, description: HOSTILE }),
        Page::FormPost(FormPost { action: HOSTILE, fields: &[(HOSTILE, HOSTILE)] }),
        Page::NoAccess(NoAccess {
            brand: hostile_brand,
            action: HOSTILE,
            hidden: hostile_hidden,
            user: HOSTILE,
        }),
    ];
    for page in &pages {
        let html = body(page, Locale::En);
        assert!(!html.contains("alert(\""), "{html}");
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(!html.contains("\"x\""), "{html}");
        assert!(!html.contains("&'"), "{html}");
        assert!(html.contains(HOSTILE_ESCAPED), "{html}");
    }
    let login = body(&pages[0], Locale::En);
    assert!(login.contains(&format!("<title>Sign in to {HOSTILE_ESCAPED}</title>")));
    assert!(login.contains(&format!("alt=\"{HOSTILE_ESCAPED} logo\"")));
    assert!(login.contains(&format!("name=\"csrf\" value=\"{HOSTILE_ESCAPED}\"")));
}

#[test]
fn login_has_its_fields_and_hidden_inputs() {
    let html = body(&login("", None), Locale::En);
    hidden_inputs_present(&html);
    assert!(html.contains("<form method=\"post\" action=\"/login\">"));
    assert!(html.contains("<label for=\"username\">Username or email</label>"));
    assert!(html.contains(
        "<input name=\"username\" id=\"username\" autocomplete=\"username\" value required autofocus>"
    ));
    assert!(html.contains("<label for=\"password\">Password</label>"));
    assert!(html.contains(
        "<input name=\"password\" id=\"password\" type=\"password\" autocomplete=\"current-password\" required>"
    ));
    assert!(html.contains("<button type=\"submit\">Sign in</button>"));
    assert!(html.contains("<h1>Sign in to Shop</h1>"));
    assert!(html.contains(
        "<img class=\"logo\" src=\"https://shop.example/logo.png\" alt=\"Shop logo\" width=\"48\" height=\"48\">"
    ));
    assert!(html.contains("<a href=\"https://shop.example/privacy\" rel=\"noopener noreferrer\">"));
    assert!(html.contains("<a href=\"https://shop.example/terms\" rel=\"noopener noreferrer\">"));
    assert!(!html.contains("role=\"alert\""));
    assert!(!html.contains("aria-invalid=\""));
}

#[test]
fn login_with_a_username_prefills_it_and_focuses_the_password() {
    let html = body(&login("ada", None), Locale::En);
    assert!(html.contains("autocomplete=\"username\" value=\"ada\" required>"));
    assert!(html.contains("autocomplete=\"current-password\" required autofocus>"));
}

#[test]
fn login_problems_are_alerts_that_describe_the_inputs() {
    let html = body(&login("ada", Some(LoginProblem::InvalidCredentials)), Locale::En);
    assert!(html.contains(
        "<p id=\"problem\" role=\"alert\">Wrong username or password. Please try again.</p>"
    ));
    assert_eq!(html.matches("aria-invalid=\"true\" aria-describedby=\"problem\"").count(), 2);

    let expired = body(&login("", Some(LoginProblem::Expired)), Locale::En);
    assert!(expired.contains("role=\"alert\">This sign-in request has expired."));
}

#[test]
fn locked_out_says_how_long_to_wait() {
    let wait = |secs| {
        body(&login("ada", Some(LoginProblem::LockedOut { retry_after_secs: secs })), Locale::En)
    };
    assert!(wait(45).contains("role=\"alert\">Too many failed attempts. Try again in 45 seconds."));
    assert!(wait(61).contains("Try again in 2 minutes."));
    assert!(wait(60).contains("Try again in 1 minute."));
    let de = body(&device(Some(DeviceProblem::LockedOut { retry_after_secs: 300 })), Locale::De);
    assert!(de.contains("Versuchen Sie es in 5 Minuten erneut."));
}

#[test]
fn consent_lists_scopes_user_brand_and_decisions() {
    let html = body(&every_page()[1], Locale::En);
    hidden_inputs_present(&html);
    assert!(html.contains("<form method=\"post\" action=\"/consent\">"));
    assert!(html.contains("<h1>Shop wants to access your account</h1>"));
    assert!(html.contains("<p class=\"muted\">Provided by Shop Ltd</p>"));
    assert!(html.contains("Signed in as ada@example.com"));
    assert!(html.contains(
        "<li><span>Sign you in and confirm your identity</span><code>openid</code></li>"
    ));
    assert!(html.contains("<li><span>Read your orders</span><code>orders:read</code></li>"));
    assert!(html.contains("<li><code>orders:write</code></li>"));
    assert!(
        html.contains("<button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button>")
    );
    assert!(html.contains(
        "<button type=\"submit\" name=\"decision\" value=\"deny\" class=\"secondary\">Deny</button>"
    ));
    let fr = body(&every_page()[1], Locale::Fr);
    assert!(fr.contains("<span>Vous connecter et confirmer votre identité</span>"));
}

#[test]
fn device_entry_has_its_field_and_problems() {
    let html = body(&device(None), Locale::En);
    hidden_inputs_present(&html);
    assert!(html.contains("<form method=\"post\" action=\"/device\">"));
    assert!(html.contains("<label for=\"user_code\">"));
    assert!(html.contains(
        "<input name=\"user_code\" id=\"user_code\" autocomplete=\"one-time-code\" \
         autocapitalize=\"characters\" spellcheck=\"false\" value=\"WDJB-MJHT\" required autofocus>"
    ));
    assert!(html.contains("<button type=\"submit\">Continue</button>"));

    for (problem, words) in [
        (DeviceProblem::Unknown, "That code is not valid."),
        (DeviceProblem::Expired, "That code has expired."),
    ] {
        let html = body(&device(Some(problem)), Locale::En);
        assert!(html.contains(&format!("<p id=\"problem\" role=\"alert\">{words}")), "{html}");
        assert!(html.contains("aria-invalid=\"true\" aria-describedby=\"problem\">"));
    }
}

#[test]
fn device_done_says_what_happened() {
    let approved = body(&Page::DeviceDone(DeviceDone { approved: true }), Locale::En);
    assert!(approved.contains("<h1>Device connected</h1>"));
    let denied = body(&Page::DeviceDone(DeviceDone { approved: false }), Locale::De);
    assert!(denied.contains("<h1>Zugriff verweigert</h1>"));
    assert!(!denied.contains("<form"));
}

#[test]
fn logout_confirm_has_both_decisions_with_or_without_a_brand() {
    let plain = body(&every_page()[4], Locale::En);
    hidden_inputs_present(&plain);
    assert!(plain.contains("Do you want to sign out of your account?"));
    assert!(plain.contains("name=\"decision\" value=\"logout\">Sign out</button>"));
    assert!(plain.contains("name=\"decision\" value=\"cancel\" class=\"secondary\">"));
    assert!(!plain.contains("<img"));

    let page = LogoutConfirm { brand: Some(brand("Shop")), action: "/logout", hidden: HIDDEN };
    let branded = body(&Page::LogoutConfirm(page), Locale::En);
    assert!(branded.contains("Shop asks you to sign out of your account."));
    assert!(branded.contains("alt=\"Shop logo\""));
}

#[test]
fn signed_out_is_a_plain_message() {
    let html = body(&Page::SignedOut(SignedOut), Locale::Fr);
    assert!(html.contains("<h1>Déconnexion réussie</h1>"));
    assert!(!html.contains("<form"));
}

#[test]
fn error_page_shows_the_code_and_description() {
    let html = body(&every_page()[6], Locale::En);
    assert!(html.contains("<h1>Something went wrong</h1>"));
    assert!(html.contains("Error code: <code>invalid_request</code>"));
    assert!(html.contains("<p>unknown client_id</p>"));
}

#[test]
fn form_post_carries_every_field_and_a_noscript_fallback() {
    let fields = [
        ("code", "SplxlOBeZQQYbYS6WxSbIA"),
        ("state", "af0ifjsldkj"),
        ("iss", "https://id.example"),
    ];
    let html = body(
        &Page::FormPost(FormPost { action: "https://app.example/cb?a=1&b=2", fields: &fields }),
        Locale::En,
    );
    assert!(html.contains("<form method=\"post\" action=\"https://app.example/cb?a=1&amp;b=2\">"));
    for (name, value) in fields {
        let input = format!("<input type=\"hidden\" name=\"{name}\" value=\"{value}\">");
        assert!(html.contains(&input), "{input}");
    }
    assert!(html.contains("<noscript>"));
    assert!(
        between(&html, "<noscript>", "</noscript>")
            .contains("<button type=\"submit\">Continue</button>")
    );
    assert!(html.find("</form>").unwrap() < html.find("<script>").unwrap());
}

#[test]
fn no_access_names_the_app_and_the_account_and_offers_another_account() {
    let html = body(&no_access(), Locale::En);
    assert!(html.contains("<title>No access to Shop</title>"));
    assert!(html.contains("<h1>No access to Shop</h1>"));
    assert!(html.contains("<p>Signed in as ada@example.com</p>"));
    assert!(html.contains("<p>This account may not use Shop. Ask an administrator for access"));
    assert!(html.contains("alt=\"Shop logo\""));
    hidden_inputs_present(&html);
    assert!(html.contains("<form method=\"post\" action=\"/login\">"));
    assert!(
        html.contains(
            "<input name=\"username\" id=\"username\" autocomplete=\"username\" required>"
        )
    );
    assert!(html.contains(
        "<input name=\"password\" id=\"password\" type=\"password\" autocomplete=\"current-password\" required>"
    ));
    assert!(html.contains("<button type=\"submit\">Sign in with another account</button>"));
    assert!(html.contains("<a href=\"https://shop.example/\" rel=\"noopener noreferrer\">"));
    assert!(!html.contains("autofocus"), "the message comes first");
    assert!(!html.contains("name=\"decision\""), "nothing here can allow the app");

    let de = body(&no_access(), Locale::De);
    assert!(de.contains("<h1>Kein Zugriff auf Shop</h1>"));
    assert!(de.contains("Dieses Konto darf Shop nicht verwenden."));
    let fr = body(&no_access(), Locale::Fr);
    assert!(fr.contains("<h1>Pas d’accès à Shop</h1>"));
    assert!(fr.contains("Se connecter avec un autre compte</button>"));
}

#[test]
fn the_login_page_has_a_button_per_upstream_provider_in_the_page_language() {
    let providers = [("corp".to_owned(), "Corp SSO".to_owned())];
    let page = |providers| {
        Page::Login(Login {
            brand: brand("Shop"),
            action: "/login",
            hidden: HIDDEN,
            username: "",
            problem: Some(LoginProblem::NoUpstreamAccount),
            upstream: Upstream { action: "/upstream/start", providers },
            register: Some("/register"),
        })
    };
    let html = body(&page(&providers), Locale::De);
    assert!(html.contains("action=\"/upstream/start\""), "{html}");
    assert!(html.contains("name=\"provider\" value=\"corp\""), "{html}");
    assert!(html.contains("Weiter mit Corp SSO"), "{html}");
    assert!(html.contains("Für diese Anmeldung gibt es kein Konto"), "{html}");
    let none = body(&page(&[]), Locale::En);
    assert!(!none.contains("/upstream/start"), "{none}");
}
