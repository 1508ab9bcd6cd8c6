//! The second-factor pages: enrolment (a QR code of the `otpauth` URI, the secret
//! for typing in, and a code to confirm), the code prompt at sign-in (with a
//! recovery code as the way out), and the recovery codes shown once after
//! enrolment. Their words are here, beside the pages, in every locale of
//! [`super::Locale`].
//!
//! The QR code is inline SVG markup drawn from the URI (rectangles only, no
//! script, no style), which the pages' Content-Security-Policy allows as it is.

use http::StatusCode;
use qrcodegen::{QrCode, QrCodeEcc};

use super::html::Html;
use super::i18n::{Strings, fill, locked_out};
use super::{Brand, Hidden, Locale, alert, document, field, form, links, logo};
use crate::http::Response;

/// Why a second-factor form is shown again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MfaProblem {
    /// The code (or recovery code) is wrong, or was used already.
    WrongCode,
    /// Too many failed attempts; the next is accepted after this many seconds.
    LockedOut {
        /// Seconds until the next attempt is accepted.
        retry_after_secs: u64,
    },
}

/// The enrolment page.
pub struct MfaEnrol<'a> {
    /// The app the user signs in to.
    pub brand: Brand<'a>,
    /// Where the form posts.
    pub action: &'a str,
    /// Hidden fields carried through (the sealed pending secret among them).
    pub hidden: Hidden<'a>,
    /// The `otpauth://` URI the QR code holds.
    pub uri: &'a str,
    /// The secret in base32, for typing in.
    pub secret: &'a str,
    /// Why the form is shown again, if it is.
    pub problem: Option<MfaProblem>,
}

/// The code prompt at sign-in.
pub struct MfaVerify<'a> {
    /// The app the user signs in to.
    pub brand: Brand<'a>,
    /// Where the forms post.
    pub action: &'a str,
    /// Hidden fields carried through.
    pub hidden: Hidden<'a>,
    /// Why the form is shown again, if it is.
    pub problem: Option<MfaProblem>,
}

/// The recovery codes, shown once after enrolment.
pub struct MfaRecoveryCodes<'a> {
    /// The app the user signs in to.
    pub brand: Brand<'a>,
    /// Where the continue form posts.
    pub action: &'a str,
    /// Hidden fields carried through.
    pub hidden: Hidden<'a>,
    /// The codes.
    pub codes: &'a [String],
}

/// A second-factor page.
pub enum MfaPage<'a> {
    /// Set up an authenticator app.
    Enrol(MfaEnrol<'a>),
    /// Enter a code.
    Verify(MfaVerify<'a>),
    /// Keep these recovery codes.
    RecoveryCodes(MfaRecoveryCodes<'a>),
}

/// Renders a second-factor page in `locale` with `status`.
#[must_use]
pub fn render_mfa(page: &MfaPage<'_>, locale: Locale, status: StatusCode) -> Response {
    let text = locale.strings();
    let words = words(locale);
    let heading = match page {
        MfaPage::Enrol(_) => words.enrol_heading,
        MfaPage::Verify(_) => words.verify_heading,
        MfaPage::RecoveryCodes(_) => words.recovery_heading,
    };
    document(locale, heading, status, None, |html| match page {
        MfaPage::Enrol(page) => enrol_page(html, page, text, words),
        MfaPage::Verify(page) => verify_page(html, page, text, words),
        MfaPage::RecoveryCodes(page) => recovery_page(html, page, text, words),
    })
}

fn problem_text(problem: Option<MfaProblem>, text: &Strings, words: &Words) -> Option<String> {
    problem.map(|problem| match problem {
        MfaProblem::WrongCode => words.wrong_code.to_owned(),
        MfaProblem::LockedOut { retry_after_secs } => locked_out(text, retry_after_secs),
    })
}

/// The 6-digit code field.
const CODE_ATTRS: [(&str, &str); 5] = [
    ("autocomplete", "one-time-code"),
    ("inputmode", "numeric"),
    ("pattern", "[0-9 ]{6,7}"),
    ("maxlength", "7"),
    ("spellcheck", "false"),
];

fn enrol_page(html: &mut Html, page: &MfaEnrol<'_>, text: &Strings, words: &Words) {
    logo(html, &page.brand, text);
    html.element("h1", &[], words.enrol_heading);
    html.element("p", &[], &fill(words.enrol_intro, page.brand.name));
    qr_code(html, page.uri, words.qr_label);
    html.start("p", &[]);
    html.text(words.manual_key);
    html.text(" ");
    html.element("code", &[("id", "totp-secret")], &grouped(page.secret));
    html.end("p");
    let problem = problem_text(page.problem, text, words);
    alert(html, problem.as_deref());
    form(html, page.action, page.hidden);
    field(html, "code", words.code, &CODE_ATTRS, true, problem.is_some());
    html.element("button", &[("type", "submit")], words.turn_on);
    html.end("form");
    links(html, &page.brand, text);
}

fn verify_page(html: &mut Html, page: &MfaVerify<'_>, text: &Strings, words: &Words) {
    logo(html, &page.brand, text);
    html.element("h1", &[], words.verify_heading);
    html.element("p", &[], words.verify_intro);
    let problem = problem_text(page.problem, text, words);
    alert(html, problem.as_deref());
    form(html, page.action, page.hidden);
    field(html, "code", words.code, &CODE_ATTRS, true, problem.is_some());
    html.element("button", &[("type", "submit")], words.verify);
    // The way out, in the same form: its button skips the code's validation.
    html.start("details", &[]);
    html.element("summary", &[], words.use_recovery);
    html.element("label", &[("for", "recovery_code")], words.recovery_code);
    html.start(
        "input",
        &[
            ("name", "recovery_code"),
            ("id", "recovery_code"),
            ("autocomplete", "off"),
            ("autocapitalize", "none"),
            ("spellcheck", "false"),
        ],
    );
    let button = [("type", "submit"), ("class", "secondary"), ("formnovalidate", "")];
    html.element("button", &button, words.verify);
    html.end("details");
    html.end("form");
    links(html, &page.brand, text);
}

fn recovery_page(html: &mut Html, page: &MfaRecoveryCodes<'_>, text: &Strings, words: &Words) {
    logo(html, &page.brand, text);
    html.element("h1", &[], words.recovery_heading);
    html.element("p", &[], words.recovery_intro);
    html.start("ul", &[("id", "recovery-codes"), ("class", "scopes")]);
    for code in page.codes {
        html.start("li", &[]);
        html.element("code", &[], code);
        html.end("li");
    }
    html.end("ul");
    form(html, page.action, page.hidden);
    html.element("button", &[("type", "submit")], text.continue_);
    html.end("form");
}

/// The secret in groups of four, as authenticator apps show it.
fn grouped(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    chars.chunks(4).map(|c| c.iter().collect::<String>()).collect::<Vec<_>>().join(" ")
}

/// `text` as a QR code in inline SVG: one path of the dark modules, a run of them
/// per rectangle, inside the 4-module quiet zone. Nothing is drawn for a text too
/// long for a QR code (the secret is still shown for typing in).
fn qr_code(html: &mut Html, text: &str, label: &str) {
    let Ok(qr) = QrCode::encode_text(text, QrCodeEcc::Medium) else { return };
    let size = qr.size();
    let mut path = String::new();
    for y in 0..size {
        let mut x = 0;
        while x < size {
            if !qr.get_module(x, y) {
                x += 1;
                continue;
            }
            let start = x;
            while x < size && qr.get_module(x, y) {
                x += 1;
            }
            path.push_str(&format!("M{} {}h{}v1h-{}z", start + 4, y + 4, x - start, x - start));
        }
    }
    let view_box = format!("0 0 {0} {0}", size + 8);
    html.start(
        "svg",
        &[
            ("xmlns", "http://www.w3.org/2000/svg"),
            ("id", "totp-qr"),
            ("viewBox", &view_box),
            ("width", "200"),
            ("height", "200"),
            ("role", "img"),
            ("aria-label", label),
            ("shape-rendering", "crispEdges"),
        ],
    );
    html.element("rect", &[("width", "100%"), ("height", "100%"), ("fill", "#fff")], "");
    html.element("path", &[("d", &path), ("fill", "#000")], "");
    html.end("svg");
}

/// The second-factor pages' words in one locale.
struct Words {
    enrol_heading: &'static str,
    enrol_intro: &'static str,
    qr_label: &'static str,
    manual_key: &'static str,
    code: &'static str,
    turn_on: &'static str,
    verify_heading: &'static str,
    verify_intro: &'static str,
    verify: &'static str,
    use_recovery: &'static str,
    recovery_code: &'static str,
    wrong_code: &'static str,
    recovery_heading: &'static str,
    recovery_intro: &'static str,
}

const fn words(locale: Locale) -> &'static Words {
    match locale {
        Locale::En => &EN,
        Locale::De => &DE,
        Locale::Fr => &FR,
    }
}

const EN: Words = Words {
    enrol_heading: "Set up two-factor sign-in",
    enrol_intro: "{} asks for a second step when you sign in. Scan this QR code with an authenticator app, then enter the 6-digit code it shows.",
    qr_label: "QR code for your authenticator app",
    manual_key: "Or enter this key in the app:",
    code: "6-digit code",
    turn_on: "Turn on",
    verify_heading: "Two-factor sign-in",
    verify_intro: "Enter the 6-digit code from your authenticator app.",
    verify: "Verify",
    use_recovery: "Use a recovery code",
    recovery_code: "Recovery code",
    wrong_code: "That code is not valid. Please try again.",
    recovery_heading: "Save your recovery codes",
    recovery_intro: "Each code signs you in once if you lose your authenticator app. Keep them somewhere safe: they are shown only now.",
};

const DE: Words = Words {
    enrol_heading: "Zwei-Faktor-Anmeldung einrichten",
    enrol_intro: "{} verlangt bei der Anmeldung einen zweiten Schritt. Scannen Sie diesen QR-Code mit einer Authenticator-App und geben Sie den angezeigten 6-stelligen Code ein.",
    qr_label: "QR-Code für Ihre Authenticator-App",
    manual_key: "Oder geben Sie diesen Schlüssel in der App ein:",
    code: "6-stelliger Code",
    turn_on: "Einschalten",
    verify_heading: "Zwei-Faktor-Anmeldung",
    verify_intro: "Geben Sie den 6-stelligen Code aus Ihrer Authenticator-App ein.",
    verify: "Bestätigen",
    use_recovery: "Wiederherstellungscode verwenden",
    recovery_code: "Wiederherstellungscode",
    wrong_code: "Dieser Code ist nicht gültig. Bitte versuchen Sie es erneut.",
    recovery_heading: "Speichern Sie Ihre Wiederherstellungscodes",
    recovery_intro: "Jeder Code meldet Sie einmal an, falls Sie Ihre Authenticator-App verlieren. Bewahren Sie sie sicher auf: Sie werden nur jetzt angezeigt.",
};

const FR: Words = Words {
    enrol_heading: "Configurer la connexion en deux étapes",
    enrol_intro: "{} demande une seconde étape à la connexion. Scannez ce code QR avec une application d’authentification, puis saisissez le code à 6 chiffres qu’elle affiche.",
    qr_label: "Code QR pour votre application d’authentification",
    manual_key: "Ou saisissez cette clé dans l’application :",
    code: "Code à 6 chiffres",
    turn_on: "Activer",
    verify_heading: "Connexion en deux étapes",
    verify_intro: "Saisissez le code à 6 chiffres de votre application d’authentification.",
    verify: "Vérifier",
    use_recovery: "Utiliser un code de récupération",
    recovery_code: "Code de récupération",
    wrong_code: "Ce code n’est pas valide. Veuillez réessayer.",
    recovery_heading: "Conservez vos codes de récupération",
    recovery_intro: "Chaque code vous connecte une fois si vous perdez votre application d’authentification. Gardez-les en lieu sûr : ils ne sont affichés que maintenant.",
};

#[cfg(test)]
mod tests {
    use super::*;

    fn body(response: &Response) -> String {
        String::from_utf8(response.body().clone()).unwrap()
    }

    const BRAND: Brand<'static> = Brand {
        name: "Shop",
        logo_uri: None,
        client_uri: None,
        policy_uri: None,
        tos_uri: None,
        company_name: None,
    };

    #[test]
    fn the_enrolment_page_draws_the_qr_code_and_shows_the_secret() {
        let hidden = [("interaction", "sealed"), ("csrf", "token"), ("enrolment", "pending")];
        let page = MfaPage::Enrol(MfaEnrol {
            brand: BRAND,
            action: "https://id.example/login/mfa",
            hidden: &hidden,
            uri: "otpauth://totp/Shop:ada?secret=GEZDGNBVGY3TQOJQ&issuer=Shop",
            secret: "GEZDGNBVGY3TQOJQ",
            problem: None,
        });
        let response = render_mfa(&page, Locale::En, StatusCode::OK);
        let html = body(&response);
        assert!(html.contains("<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"totp-qr\""));
        assert!(html.contains("<path d=\"M4 4h7v1h-7z"), "the finder pattern's top row");
        assert!(html.contains("<code id=\"totp-secret\">GEZD GNBV GY3T QOJQ</code>"));
        assert!(html.contains("autocomplete=\"one-time-code\" inputmode=\"numeric\""));
        assert!(html.contains("name=\"enrolment\" value=\"pending\""));
        let csp = response.headers()["content-security-policy"].to_str().unwrap();
        assert!(!csp.contains("script-src"));
    }

    #[test]
    fn the_prompt_is_localized_and_says_what_went_wrong() {
        let page = MfaPage::Verify(MfaVerify {
            brand: BRAND,
            action: "/login/mfa",
            hidden: &[],
            problem: Some(MfaProblem::WrongCode),
        });
        let html = body(&render_mfa(&page, Locale::De, StatusCode::UNAUTHORIZED));
        assert!(html.contains("<h1>Zwei-Faktor-Anmeldung</h1>"));
        assert!(html.contains("role=\"alert\">Dieser Code ist nicht gültig."));
        assert!(html.contains("name=\"recovery_code\""));
        let locked = MfaPage::Verify(MfaVerify {
            brand: BRAND,
            action: "/login/mfa",
            hidden: &[],
            problem: Some(MfaProblem::LockedOut { retry_after_secs: 900 }),
        });
        assert!(body(&render_mfa(&locked, Locale::En, StatusCode::OK)).contains("15 minutes"));
    }

    #[test]
    fn recovery_codes_are_listed_escaped() {
        let codes = ["abcde-fghij".to_owned(), "<b>".to_owned()];
        let page = MfaPage::RecoveryCodes(MfaRecoveryCodes {
            brand: BRAND,
            action: "/login/mfa",
            hidden: &[],
            codes: &codes,
        });
        let html = body(&render_mfa(&page, Locale::Fr, StatusCode::OK));
        assert!(html.contains("<li><code>abcde-fghij</code></li>"));
        assert!(html.contains("&lt;b&gt;") && !html.contains("<b>"));
    }
}
