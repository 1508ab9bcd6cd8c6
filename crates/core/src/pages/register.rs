//! The registration pages: the form (username, email address, password and the
//! app's custom fields, typed) and the page that takes the emailed code. Their
//! words are here, beside the pages, in every locale of [`super::Locale`]; a
//! custom field's label is the administrator's, in the page's language where
//! given.

use http::StatusCode;

use super::html::{Attr, Html};
use super::i18n::{Strings, fill};
use super::{Brand, Hidden, Locale, alert, document, field, form, links, logo};
use crate::http::Response;

/// What is wrong with one input of the registration form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputProblem {
    /// Required and empty.
    Required,
    /// Not a value the input takes (a custom field out of its bounds, say).
    Invalid,
    /// A username must be 3 to 64 letters, digits or `. _ - @ +`.
    Username,
    /// The username is someone else's.
    UsernameTaken,
    /// Not an email address.
    Email,
    /// Fewer characters than the app's policy asks.
    PasswordTooShort(u32),
    /// More characters than the policy allows.
    PasswordTooLong(u32),
    /// The password is the username or the email address.
    PasswordIsName,
}

/// Why the registration form is shown again as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegisterNotice {
    /// Some inputs need fixing (each says which).
    Fix,
    /// The code expired (or the registration is unknown): start again.
    Expired,
    /// Too many wrong codes: start again.
    TooManyTries,
    /// The code could not be sent: try again later.
    NotSent,
    /// Too many registrations from this network: try again later.
    Throttled,
    /// The username was taken while the code was on its way.
    UsernameTaken,
}

/// How a custom field is typed in.
#[derive(Debug, Clone, Copy)]
pub enum InputKind<'a> {
    /// Free text.
    Text,
    /// A number.
    Number,
    /// A calendar date.
    Date,
    /// A checkbox.
    Checkbox,
    /// One of the options.
    Select(&'a [String]),
}

/// One custom field on the form.
#[derive(Debug, Clone, Copy)]
pub struct FieldInput<'a> {
    /// The input's name (and id).
    pub name: &'a str,
    /// The label, in the page's language.
    pub label: &'a str,
    /// How it is typed in.
    pub kind: InputKind<'a>,
    /// The value to show again.
    pub value: &'a str,
    /// Whether it must be filled in.
    pub required: bool,
    /// What is wrong with it, if anything.
    pub problem: Option<InputProblem>,
}

/// The registration form.
pub struct Register<'a> {
    /// The app the user registers with.
    pub brand: Brand<'a>,
    /// Where the form posts.
    pub action: &'a str,
    /// Hidden fields carried through.
    pub hidden: Hidden<'a>,
    /// The username typed, and what is wrong with it.
    pub username: (&'a str, Option<InputProblem>),
    /// The email address typed, and what is wrong with it.
    pub email: (&'a str, Option<InputProblem>),
    /// What is wrong with the password.
    pub password: Option<InputProblem>,
    /// The app's custom fields.
    pub fields: &'a [FieldInput<'a>],
    /// Why the form is shown again, if it is.
    pub notice: Option<RegisterNotice>,
    /// The password policy's minimum, shown as a hint.
    pub min_length: u32,
}

/// The page that takes the emailed code.
pub struct VerifyEmail<'a> {
    /// The app the user registers with.
    pub brand: Brand<'a>,
    /// Where the form posts.
    pub action: &'a str,
    /// Hidden fields carried through.
    pub hidden: Hidden<'a>,
    /// The address the code went to.
    pub email: &'a str,
    /// Whether the last code was wrong.
    pub wrong_code: bool,
}

/// A registration page.
pub enum RegisterPage<'a> {
    /// The form.
    Form(Register<'a>),
    /// The code.
    Verify(VerifyEmail<'a>),
}

/// Renders a registration page in `locale` with `status`.
#[must_use]
pub fn render_register(page: &RegisterPage<'_>, locale: Locale, status: StatusCode) -> Response {
    let text = locale.strings();
    let words = words(locale);
    let heading = match page {
        RegisterPage::Form(_) => words.heading,
        RegisterPage::Verify(_) => words.verify_heading,
    };
    document(locale, heading, status, None, |html| match page {
        RegisterPage::Form(page) => form_page(html, page, text, words),
        RegisterPage::Verify(page) => verify_page(html, page, text, words),
    })
}

fn problem_text(problem: InputProblem, words: &Words) -> String {
    match problem {
        InputProblem::Required => words.required.to_owned(),
        InputProblem::Invalid => words.invalid.to_owned(),
        InputProblem::Username => words.bad_username.to_owned(),
        InputProblem::UsernameTaken => words.username_taken.to_owned(),
        InputProblem::Email => words.bad_email.to_owned(),
        InputProblem::PasswordTooShort(n) => fill(words.too_short, &n.to_string()),
        InputProblem::PasswordTooLong(n) => fill(words.too_long, &n.to_string()),
        InputProblem::PasswordIsName => words.password_is_name.to_owned(),
    }
}

/// A labelled input named `name`; its problem, if any, below it.
fn input(
    html: &mut Html,
    name: &str,
    label: &str,
    attrs: &[Attr<'_>],
    required: bool,
    problem: Option<InputProblem>,
    words: &Words,
) {
    let describedby = format!("{name}-problem");
    html.element("label", &[("for", name)], label);
    let mut all: Vec<Attr<'_>> = vec![("name", name), ("id", name)];
    all.extend_from_slice(attrs);
    if required {
        all.push(("required", ""));
    }
    if problem.is_some() {
        all.extend([("aria-invalid", "true"), ("aria-describedby", describedby.as_str())]);
    }
    html.start("input", &all);
    if let Some(problem) = problem {
        let attrs = [("id", describedby.as_str()), ("class", "problem")];
        html.element("p", &attrs, &problem_text(problem, words));
    }
}

fn custom_field(html: &mut Html, f: &FieldInput<'_>, words: &Words) {
    let required = [("required", "")];
    match f.kind {
        InputKind::Checkbox => {
            html.start("label", &[("class", "check")]);
            let mut attrs = vec![("type", "checkbox"), ("name", f.name), ("id", f.name)];
            if f.value == "on" || f.value == "true" {
                attrs.push(("checked", ""));
            }
            if f.required {
                attrs.extend(required);
            }
            html.start("input", &attrs);
            html.text(" ");
            html.text(f.label);
            html.end("label");
        }
        InputKind::Select(options) => {
            html.element("label", &[("for", f.name)], f.label);
            let mut attrs = vec![("name", f.name), ("id", f.name)];
            if f.required {
                attrs.extend(required);
            }
            html.start("select", &attrs);
            html.element("option", &[("value", "")], "");
            for option in options {
                let mut attrs = vec![("value", option.as_str())];
                if option == f.value {
                    attrs.push(("selected", ""));
                }
                html.element("option", &attrs, option);
            }
            html.end("select");
            if let Some(problem) = f.problem {
                html.element("p", &[("class", "problem")], &problem_text(problem, words));
            }
        }
        kind => {
            let kind = match kind {
                InputKind::Number => "number",
                InputKind::Date => "date",
                _ => "text",
            };
            let attrs = [("type", kind), ("value", f.value), ("step", "any")];
            let attrs = if kind == "number" { &attrs[..] } else { &attrs[..2] };
            input(html, f.name, f.label, attrs, f.required, f.problem, words);
        }
    }
}

fn form_page(html: &mut Html, page: &Register<'_>, text: &Strings, words: &Words) {
    logo(html, &page.brand, text);
    html.element("h1", &[], words.heading);
    html.element("p", &[], &fill(words.intro, page.brand.name));
    let notice = page.notice.map(|n| match n {
        RegisterNotice::Fix => words.fix,
        RegisterNotice::Expired => words.expired,
        RegisterNotice::TooManyTries => words.too_many_tries,
        RegisterNotice::NotSent => words.not_sent,
        RegisterNotice::Throttled => words.throttled,
        RegisterNotice::UsernameTaken => words.username_taken,
    });
    alert(html, notice);
    form(html, page.action, page.hidden);
    let username = [("autocomplete", "username"), ("value", page.username.0)];
    input(html, "username", text.username, &username, true, page.username.1, words);
    let email = [("type", "email"), ("autocomplete", "email"), ("value", page.email.0)];
    input(html, "email", words.email, &email, true, page.email.1, words);
    let min = page.min_length.to_string();
    let password = [("type", "password"), ("autocomplete", "new-password"), ("minlength", &min)];
    input(html, "password", text.password, &password, true, page.password, words);
    html.element("p", &[("class", "muted")], &fill(words.password_hint, &min));
    for f in page.fields {
        custom_field(html, f, words);
    }
    html.element("button", &[("type", "submit")], words.create);
    html.end("form");
    links(html, &page.brand, text);
}

fn verify_page(html: &mut Html, page: &VerifyEmail<'_>, text: &Strings, words: &Words) {
    logo(html, &page.brand, text);
    html.element("h1", &[], words.verify_heading);
    html.element("p", &[], &fill(words.verify_intro, page.email));
    alert(html, page.wrong_code.then_some(words.wrong_code));
    form(html, page.action, page.hidden);
    let code = [
        ("autocomplete", "one-time-code"),
        ("inputmode", "numeric"),
        ("pattern", "[0-9 ]{8,9}"),
        ("maxlength", "9"),
        ("spellcheck", "false"),
    ];
    field(html, "code", words.code, &code, true, page.wrong_code);
    html.element("button", &[("type", "submit")], words.verify);
    html.end("form");
    links(html, &page.brand, text);
}

/// The "Create account" form on the login page: it posts the same interaction to
/// the registration page.
pub(super) fn create_account_link(
    html: &mut Html,
    action: &str,
    hidden: Hidden<'_>,
    locale: Locale,
) {
    let words = words(locale);
    html.start("form", &[("method", "post"), ("action", action), ("class", "register")]);
    for (name, value) in hidden {
        html.start("input", &[("type", "hidden"), ("name", name), ("value", value)]);
    }
    html.element("span", &[("class", "muted")], words.no_account);
    html.text(" ");
    html.element("button", &[("type", "submit"), ("class", "secondary")], words.create);
    html.end("form");
}

/// The registration pages' words in one locale.
struct Words {
    heading: &'static str,
    intro: &'static str,
    email: &'static str,
    password_hint: &'static str,
    create: &'static str,
    no_account: &'static str,
    fix: &'static str,
    required: &'static str,
    invalid: &'static str,
    bad_username: &'static str,
    username_taken: &'static str,
    bad_email: &'static str,
    too_short: &'static str,
    too_long: &'static str,
    password_is_name: &'static str,
    expired: &'static str,
    too_many_tries: &'static str,
    not_sent: &'static str,
    throttled: &'static str,
    verify_heading: &'static str,
    verify_intro: &'static str,
    code: &'static str,
    verify: &'static str,
    wrong_code: &'static str,
}

const fn words(locale: Locale) -> &'static Words {
    match locale {
        Locale::En => &EN,
        Locale::De => &DE,
        Locale::Fr => &FR,
    }
}

const EN: Words = Words {
    heading: "Create an account",
    intro: "Create an account to use {}.",
    email: "Email address",
    password_hint: "At least {} characters.",
    create: "Create account",
    no_account: "No account yet?",
    fix: "Please correct the fields marked below.",
    required: "This field is required.",
    invalid: "This value is not valid.",
    bad_username: "Use 3 to 64 letters, digits or . _ - @ +",
    username_taken: "This username is taken; choose another.",
    bad_email: "Enter a valid email address.",
    too_short: "The password must have at least {} characters.",
    too_long: "The password must have at most {} characters.",
    password_is_name: "The password must not be your username or email address.",
    expired: "The code has expired. Please start again.",
    too_many_tries: "Too many wrong codes. Please start again.",
    not_sent: "The code could not be sent. Please try again later.",
    throttled: "Too many registrations from your network. Please try again later.",
    verify_heading: "Confirm your email address",
    verify_intro: "If {} can receive mail, we sent it an 8-digit code. Enter it to finish creating your account.",
    code: "8-digit code",
    verify: "Confirm",
    wrong_code: "That code is not right. Check the email and try again.",
};

const DE: Words = Words {
    heading: "Konto erstellen",
    intro: "Erstellen Sie ein Konto, um {} zu nutzen.",
    email: "E-Mail-Adresse",
    password_hint: "Mindestens {} Zeichen.",
    create: "Konto erstellen",
    no_account: "Noch kein Konto?",
    fix: "Bitte korrigieren Sie die markierten Felder.",
    required: "Dieses Feld ist erforderlich.",
    invalid: "Dieser Wert ist ungültig.",
    bad_username: "Verwenden Sie 3 bis 64 Buchstaben, Ziffern oder . _ - @ +",
    username_taken: "Dieser Benutzername ist vergeben; wählen Sie einen anderen.",
    bad_email: "Geben Sie eine gültige E-Mail-Adresse ein.",
    too_short: "Das Passwort muss mindestens {} Zeichen haben.",
    too_long: "Das Passwort darf höchstens {} Zeichen haben.",
    password_is_name: "Das Passwort darf nicht Ihr Benutzername oder Ihre E-Mail-Adresse sein.",
    expired: "Der Code ist abgelaufen. Bitte beginnen Sie erneut.",
    too_many_tries: "Zu viele falsche Codes. Bitte beginnen Sie erneut.",
    not_sent: "Der Code konnte nicht gesendet werden. Bitte versuchen Sie es später erneut.",
    throttled: "Zu viele Registrierungen aus Ihrem Netzwerk. Bitte versuchen Sie es später erneut.",
    verify_heading: "E-Mail-Adresse bestätigen",
    verify_intro: "Falls {} E-Mails empfangen kann, haben wir einen 8-stelligen Code gesendet. Geben Sie ihn ein, um Ihr Konto zu erstellen.",
    code: "8-stelliger Code",
    verify: "Bestätigen",
    wrong_code: "Dieser Code stimmt nicht. Prüfen Sie die E-Mail und versuchen Sie es erneut.",
};

const FR: Words = Words {
    heading: "Créer un compte",
    intro: "Créez un compte pour utiliser {}.",
    email: "Adresse e-mail",
    password_hint: "Au moins {} caractères.",
    create: "Créer un compte",
    no_account: "Pas encore de compte ?",
    fix: "Veuillez corriger les champs signalés.",
    required: "Ce champ est obligatoire.",
    invalid: "Cette valeur n’est pas valide.",
    bad_username: "Utilisez 3 à 64 lettres, chiffres ou . _ - @ +",
    username_taken: "Ce nom d’utilisateur est pris ; choisissez-en un autre.",
    bad_email: "Saisissez une adresse e-mail valide.",
    too_short: "Le mot de passe doit comporter au moins {} caractères.",
    too_long: "Le mot de passe doit comporter au plus {} caractères.",
    password_is_name: "Le mot de passe ne doit pas être votre nom d’utilisateur ou votre adresse e-mail.",
    expired: "Le code a expiré. Veuillez recommencer.",
    too_many_tries: "Trop de codes erronés. Veuillez recommencer.",
    not_sent: "Le code n’a pas pu être envoyé. Veuillez réessayer plus tard.",
    throttled: "Trop d’inscriptions depuis votre réseau. Veuillez réessayer plus tard.",
    verify_heading: "Confirmez votre adresse e-mail",
    verify_intro: "Si {} peut recevoir des e-mails, nous lui avons envoyé un code à 8 chiffres. Saisissez-le pour terminer la création de votre compte.",
    code: "Code à 8 chiffres",
    verify: "Confirmer",
    wrong_code: "Ce code n’est pas correct. Vérifiez l’e-mail et réessayez.",
};
