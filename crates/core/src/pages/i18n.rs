//! The pages' words in each locale, choosing a locale for a request, and what the
//! OpenID Connect scopes mean to the person asked to consent to them.
//!
//! A string with `{}` takes one argument (an app name, a user, a duration), put in
//! with [`fill`] before the whole text is escaped.

/// A locale the pages are translated into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locale {
    /// English, the fallback.
    En,
    /// German (formal address).
    De,
    /// French (formal address).
    Fr,
}

impl Locale {
    /// Every locale, in the order a tie is broken (and discovery lists them).
    pub const ALL: [Self; 3] = [Self::En, Self::De, Self::Fr];

    /// BCP 47 tag: "en", "de", "fr".
    #[must_use]
    pub const fn tag(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::De => "de",
            Self::Fr => "fr",
        }
    }

    /// The first of `ui_locales` (OpenID Connect Core section 3.1.2.1: space-separated
    /// BCP 47 tags in order of preference) that has a translation, else the best
    /// `Accept-Language` match (RFC 9110 section 12.5.4: q-values honoured, a region
    /// such as `de-CH` matches its language, `*` means English), else English. Both
    /// inputs are optional; what does not parse is skipped.
    #[must_use]
    pub fn negotiate(ui_locales: Option<&str>, accept_language: Option<&str>) -> Self {
        ui_locales
            .into_iter()
            .flat_map(str::split_ascii_whitespace)
            .find_map(Self::from_tag)
            .or_else(|| accept_language.and_then(best_accepted))
            .unwrap_or(Self::En)
    }

    /// The locale of a language tag's primary subtag, any case (`de-CH`, `FR`, `en_GB`).
    fn from_tag(tag: &str) -> Option<Self> {
        let primary = tag.split(['-', '_']).next().unwrap_or_default();
        Self::ALL.into_iter().find(|locale| primary.eq_ignore_ascii_case(locale.tag()))
    }

    /// The pages' words in this locale.
    pub(super) const fn strings(self) -> &'static Strings {
        match self {
            Self::En => &EN,
            Self::De => &DE,
            Self::Fr => &FR,
        }
    }
}

/// The translated entry of an `Accept-Language` header with the highest weight (the
/// first of equals); entries with weight 0 or a malformed weight are skipped.
fn best_accepted(header: &str) -> Option<Locale> {
    let mut best: Option<(u16, Locale)> = None;
    for entry in header.split(',') {
        let mut parts = entry.split(';');
        let tag = parts.next().unwrap_or_default().trim();
        let mut weight = Some(1000);
        for param in parts {
            if let Some((key, value)) = param.split_once('=')
                && key.trim().eq_ignore_ascii_case("q")
            {
                weight = parse_weight(value.trim());
            }
        }
        let locale = if tag == "*" { Some(Locale::En) } else { Locale::from_tag(tag) };
        if let (Some(weight), Some(locale)) = (weight, locale)
            && weight > 0
            && best.is_none_or(|(top, _)| weight > top)
        {
            best = Some((weight, locale));
        }
    }
    best.map(|(_, locale)| locale)
}

/// A qvalue (RFC 9110 section 12.4.2: `0`, `0.8`, `1.000`) in thousandths.
fn parse_weight(value: &str) -> Option<u16> {
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = fraction
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .fold(0_u16, |sum, digit| sum * 10 + u16::from(digit - b'0'));
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// What a system scope lets an app do, in `locale`, for the consent page; `None` for
/// any other scope (its description is the caller's).
#[must_use]
pub fn system_scope_description(scope: &str, locale: Locale) -> Option<&'static str> {
    let text = locale.strings();
    Some(match scope {
        "openid" => text.scope_openid,
        "profile" => text.scope_profile,
        "email" => text.scope_email,
        "phone" => text.scope_phone,
        "address" => text.scope_address,
        "offline_access" => text.scope_offline_access,
        "groups" => text.scope_groups,
        _ => return None,
    })
}

/// `template` with its first `{}` replaced by `arg` (a template without one is
/// returned as is). Neither is escaped here: the result is text for the writer.
pub(super) fn fill(template: &str, arg: &str) -> String {
    match template.split_once("{}") {
        Some((before, after)) => [before, arg, after].concat(),
        None => template.to_owned(),
    }
}

/// "Too many failed attempts. Try again in 5 minutes.": whole minutes rounded up, or
/// seconds under a minute.
pub(super) fn locked_out(text: &Strings, retry_after_secs: u64) -> String {
    let wait = match retry_after_secs {
        0 | 1 => text.one_second.to_owned(),
        secs @ 2..60 => fill(text.seconds, &secs.to_string()),
        60 => text.one_minute.to_owned(),
        secs => fill(text.minutes, &secs.div_ceil(60).to_string()),
    };
    fill(text.locked_out, &wait)
}

/// The words of every page in one locale.
pub(super) struct Strings {
    pub(super) logo_alt: &'static str,
    pub(super) website: &'static str,
    pub(super) privacy_policy: &'static str,
    pub(super) terms: &'static str,
    pub(super) continue_: &'static str,
    pub(super) locked_out: &'static str,
    pub(super) one_second: &'static str,
    pub(super) seconds: &'static str,
    pub(super) one_minute: &'static str,
    pub(super) minutes: &'static str,

    pub(super) login_heading: &'static str,
    pub(super) username: &'static str,
    pub(super) password: &'static str,
    pub(super) sign_in: &'static str,
    pub(super) invalid_credentials: &'static str,
    pub(super) account_exists: &'static str,
    pub(super) login_expired: &'static str,
    pub(super) continue_with: &'static str,
    pub(super) upstream_failed: &'static str,
    pub(super) no_upstream_account: &'static str,

    pub(super) consent_heading: &'static str,
    pub(super) provided_by: &'static str,
    pub(super) signed_in_as: &'static str,
    pub(super) consent_intro: &'static str,
    pub(super) allow: &'static str,
    pub(super) deny: &'static str,

    pub(super) no_access_heading: &'static str,
    pub(super) no_access_text: &'static str,
    pub(super) other_account: &'static str,

    pub(super) device_heading: &'static str,
    pub(super) device_intro: &'static str,
    pub(super) user_code: &'static str,
    pub(super) device_unknown: &'static str,
    pub(super) device_expired: &'static str,
    pub(super) device_approved: &'static str,
    pub(super) device_approved_text: &'static str,
    pub(super) device_denied: &'static str,
    pub(super) device_denied_text: &'static str,

    pub(super) logout_heading: &'static str,
    pub(super) logout_by_app: &'static str,
    pub(super) logout_question: &'static str,
    pub(super) sign_out: &'static str,
    pub(super) stay_signed_in: &'static str,
    pub(super) signed_out_heading: &'static str,
    pub(super) signed_out_text: &'static str,

    pub(super) error_heading: &'static str,
    pub(super) error_text: &'static str,
    pub(super) error_code: &'static str,

    pub(super) form_post_heading: &'static str,
    pub(super) form_post_noscript: &'static str,

    pub(super) scope_openid: &'static str,
    pub(super) scope_profile: &'static str,
    pub(super) scope_email: &'static str,
    pub(super) scope_phone: &'static str,
    pub(super) scope_address: &'static str,
    pub(super) scope_offline_access: &'static str,
    pub(super) scope_groups: &'static str,
}

const EN: Strings = Strings {
    logo_alt: "{} logo",
    website: "App website",
    privacy_policy: "Privacy policy",
    terms: "Terms of service",
    continue_: "Continue",
    locked_out: "Too many failed attempts. Try again in {}.",
    one_second: "1 second",
    seconds: "{} seconds",
    one_minute: "1 minute",
    minutes: "{} minutes",

    login_heading: "Sign in to {}",
    username: "Username or email",
    password: "Password",
    sign_in: "Sign in",
    invalid_credentials: "Wrong username or password. Please try again.",
    account_exists: "An account with this email address exists already. Please sign in.",
    login_expired: "This sign-in request has expired. Go back to the app and start again.",
    continue_with: "Continue with {}",
    upstream_failed: "Signing in with that provider did not work. Try again, or sign in another way.",
    no_upstream_account: "There is no account for this sign-in. Sign in another way, or ask an administrator for an account.",

    consent_heading: "{} wants to access your account",
    provided_by: "Provided by {}",
    signed_in_as: "Signed in as {}",
    consent_intro: "This will allow {} to:",
    allow: "Allow",
    deny: "Deny",

    no_access_heading: "No access to {}",
    no_access_text: "This account may not use {}. Ask an administrator for access, or sign in with another account.",
    other_account: "Sign in with another account",

    device_heading: "Connect a device",
    device_intro: "Enter the code shown on your device.",
    user_code: "Code",
    device_unknown: "That code is not valid. Check it and try again.",
    device_expired: "That code has expired. Start again on your device to get a new one.",
    device_approved: "Device connected",
    device_approved_text: "You can return to your device now and close this window.",
    device_denied: "Access denied",
    device_denied_text: "The device was not connected. You can close this window.",

    logout_heading: "Sign out?",
    logout_by_app: "{} asks you to sign out of your account.",
    logout_question: "Do you want to sign out of your account?",
    sign_out: "Sign out",
    stay_signed_in: "Stay signed in",
    signed_out_heading: "You are signed out",
    signed_out_text: "You can close this window.",

    error_heading: "Something went wrong",
    error_text: "The request could not be completed.",
    error_code: "Error code:",

    form_post_heading: "Returning to the app",
    form_post_noscript: "JavaScript is turned off. Select Continue to return to the app.",

    scope_openid: "Sign you in and confirm your identity",
    scope_profile: "See your name, picture and profile details",
    scope_email: "See your email address",
    scope_phone: "See your phone number",
    scope_address: "See your postal address",
    scope_offline_access: "Stay signed in and keep access while you are away",
    scope_groups: "See the groups you belong to",
};

const DE: Strings = Strings {
    logo_alt: "Logo von {}",
    website: "Website der App",
    privacy_policy: "Datenschutzerklärung",
    terms: "Nutzungsbedingungen",
    continue_: "Weiter",
    locked_out: "Zu viele fehlgeschlagene Versuche. Versuchen Sie es in {} erneut.",
    one_second: "1 Sekunde",
    seconds: "{} Sekunden",
    one_minute: "1 Minute",
    minutes: "{} Minuten",

    login_heading: "Bei {} anmelden",
    username: "Benutzername oder E-Mail-Adresse",
    password: "Passwort",
    sign_in: "Anmelden",
    invalid_credentials: "Falscher Benutzername oder falsches Passwort. Bitte versuchen Sie es erneut.",
    account_exists: "Es gibt bereits ein Konto mit dieser E-Mail-Adresse. Bitte melden Sie sich an.",
    login_expired: "Diese Anmeldeanfrage ist abgelaufen. Kehren Sie zur App zurück und beginnen Sie von vorn.",
    continue_with: "Weiter mit {}",
    upstream_failed: "Die Anmeldung über diesen Anbieter hat nicht funktioniert. Versuchen Sie es erneut oder melden Sie sich anders an.",
    no_upstream_account: "Für diese Anmeldung gibt es kein Konto. Melden Sie sich anders an oder bitten Sie einen Administrator um ein Konto.",

    consent_heading: "{} möchte auf Ihr Konto zugreifen",
    provided_by: "Bereitgestellt von {}",
    signed_in_as: "Angemeldet als {}",
    consent_intro: "Dadurch erhält {} folgende Berechtigungen:",
    allow: "Erlauben",
    deny: "Ablehnen",

    no_access_heading: "Kein Zugriff auf {}",
    no_access_text: "Dieses Konto darf {} nicht verwenden. Bitten Sie Ihre Administration um Zugriff oder melden Sie sich mit einem anderen Konto an.",
    other_account: "Mit einem anderen Konto anmelden",

    device_heading: "Gerät verbinden",
    device_intro: "Geben Sie den Code ein, der auf Ihrem Gerät angezeigt wird.",
    user_code: "Code",
    device_unknown: "Dieser Code ist ungültig. Prüfen Sie ihn und versuchen Sie es erneut.",
    device_expired: "Dieser Code ist abgelaufen. Fordern Sie auf Ihrem Gerät einen neuen an.",
    device_approved: "Gerät verbunden",
    device_approved_text: "Sie können jetzt zu Ihrem Gerät zurückkehren und dieses Fenster schließen.",
    device_denied: "Zugriff verweigert",
    device_denied_text: "Das Gerät wurde nicht verbunden. Sie können dieses Fenster schließen.",

    logout_heading: "Abmelden?",
    logout_by_app: "{} bittet Sie, sich von Ihrem Konto abzumelden.",
    logout_question: "Möchten Sie sich von Ihrem Konto abmelden?",
    sign_out: "Abmelden",
    stay_signed_in: "Angemeldet bleiben",
    signed_out_heading: "Sie sind abgemeldet",
    signed_out_text: "Sie können dieses Fenster schließen.",

    error_heading: "Etwas ist schiefgelaufen",
    error_text: "Die Anfrage konnte nicht abgeschlossen werden.",
    error_code: "Fehlercode:",

    form_post_heading: "Zurück zur App",
    form_post_noscript: "JavaScript ist deaktiviert. Wählen Sie „Weiter“, um zur App zurückzukehren.",

    scope_openid: "Sie anmelden und Ihre Identität bestätigen",
    scope_profile: "Ihren Namen, Ihr Profilbild und Ihre Profildaten sehen",
    scope_email: "Ihre E-Mail-Adresse sehen",
    scope_phone: "Ihre Telefonnummer sehen",
    scope_address: "Ihre Postanschrift sehen",
    scope_offline_access: "Angemeldet bleiben und auch in Ihrer Abwesenheit Zugriff behalten",
    scope_groups: "Sehen, welchen Gruppen Sie angehören",
};

const FR: Strings = Strings {
    logo_alt: "Logo de {}",
    website: "Site de l’application",
    privacy_policy: "Politique de confidentialité",
    terms: "Conditions d’utilisation",
    continue_: "Continuer",
    locked_out: "Trop de tentatives infructueuses. Réessayez dans {}.",
    one_second: "1\u{a0}seconde",
    seconds: "{}\u{a0}secondes",
    one_minute: "1\u{a0}minute",
    minutes: "{}\u{a0}minutes",

    login_heading: "Se connecter à {}",
    username: "Nom d’utilisateur ou adresse e-mail",
    password: "Mot de passe",
    sign_in: "Se connecter",
    invalid_credentials: "Nom d’utilisateur ou mot de passe incorrect. Veuillez réessayer.",
    account_exists: "Un compte existe déjà avec cette adresse e-mail. Veuillez vous connecter.",
    login_expired: "Cette demande de connexion a expiré. Revenez à l’application et recommencez.",
    continue_with: "Continuer avec {}",
    upstream_failed: "La connexion avec ce fournisseur n’a pas abouti. Réessayez ou connectez-vous autrement.",
    no_upstream_account: "Aucun compte ne correspond à cette connexion. Connectez-vous autrement ou demandez un compte à un administrateur.",

    consent_heading: "{} souhaite accéder à votre compte",
    provided_by: "Fourni par {}",
    signed_in_as: "Connecté en tant que {}",
    consent_intro: "Cela permettra à {} de\u{a0}:",
    allow: "Autoriser",
    deny: "Refuser",

    no_access_heading: "Pas d’accès à {}",
    no_access_text: "Ce compte ne peut pas utiliser {}. Demandez l’accès à votre administrateur ou connectez-vous avec un autre compte.",
    other_account: "Se connecter avec un autre compte",

    device_heading: "Connecter un appareil",
    device_intro: "Saisissez le code affiché sur votre appareil.",
    user_code: "Code",
    device_unknown: "Ce code n’est pas valide. Vérifiez-le et réessayez.",
    device_expired: "Ce code a expiré. Recommencez sur votre appareil pour en obtenir un nouveau.",
    device_approved: "Appareil connecté",
    device_approved_text: "Vous pouvez revenir à votre appareil et fermer cette fenêtre.",
    device_denied: "Accès refusé",
    device_denied_text: "L’appareil n’a pas été connecté. Vous pouvez fermer cette fenêtre.",

    logout_heading: "Se déconnecter\u{a0}?",
    logout_by_app: "{} vous demande de vous déconnecter de votre compte.",
    logout_question: "Voulez-vous vous déconnecter de votre compte\u{a0}?",
    sign_out: "Se déconnecter",
    stay_signed_in: "Rester connecté",
    signed_out_heading: "Déconnexion réussie",
    signed_out_text: "Vous pouvez fermer cette fenêtre.",

    error_heading: "Une erreur s’est produite",
    error_text: "La demande n’a pas pu aboutir.",
    error_code: "Code d’erreur\u{a0}:",

    form_post_heading: "Retour à l’application",
    form_post_noscript: "JavaScript est désactivé. Sélectionnez «\u{a0}Continuer\u{a0}» pour revenir à l’application.",

    scope_openid: "Vous connecter et confirmer votre identité",
    scope_profile: "Voir votre nom, votre photo et les informations de votre profil",
    scope_email: "Voir votre adresse e-mail",
    scope_phone: "Voir votre numéro de téléphone",
    scope_address: "Voir votre adresse postale",
    scope_offline_access: "Rester connecté et conserver l’accès en votre absence",
    scope_groups: "Voir les groupes dont vous êtes membre",
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::scope::OIDC_SCOPES;

    fn negotiate(ui: Option<&str>, accept: Option<&str>) -> Locale {
        Locale::negotiate(ui, accept)
    }

    #[test]
    fn ui_locales_first_translated_tag_wins() {
        assert_eq!(negotiate(Some("fr de"), None), Locale::Fr);
        assert_eq!(negotiate(Some("ja  de-CH fr"), None), Locale::De);
        assert_eq!(negotiate(Some("FR-ca"), Some("de")), Locale::Fr);
    }

    #[test]
    fn ui_locales_without_a_translation_fall_to_accept_language() {
        assert_eq!(negotiate(Some("ja zh-Hant"), Some("de")), Locale::De);
        assert_eq!(negotiate(Some(""), Some("fr")), Locale::Fr);
        assert_eq!(negotiate(Some("ja"), None), Locale::En);
    }

    #[test]
    fn accept_language_honours_weights_and_regions() {
        assert_eq!(negotiate(None, Some("en;q=0.5, de-CH;q=0.9, fr;q=0.7")), Locale::De);
        assert_eq!(negotiate(None, Some("ja, fr-FR;q=0.8, en-US;q=0.6")), Locale::Fr);
        assert_eq!(negotiate(None, Some("de-AT,de;q=0.9,en;q=0.8")), Locale::De);
        assert_eq!(negotiate(None, Some("fr ; Q = 1.000 , de")), Locale::Fr);
    }

    #[test]
    fn accept_language_ties_go_to_the_first() {
        assert_eq!(negotiate(None, Some("fr;q=0.8, de;q=0.8")), Locale::Fr);
    }

    #[test]
    fn accept_language_skips_zero_and_malformed_weights() {
        assert_eq!(negotiate(None, Some("fr;q=0, de;q=0.1")), Locale::De);
        assert_eq!(negotiate(None, Some("fr;q=1.5, de;q=0.1")), Locale::De);
        assert_eq!(negotiate(None, Some("fr;q=abc, de;q=0.0001, en;q=0.2")), Locale::En);
        assert_eq!(negotiate(None, Some("fr;q=0.1, *")), Locale::En);
    }

    #[test]
    fn garbage_falls_back_to_english() {
        for header in ["", ",,,", ";;;q=", "\u{0}\u{ff}", "de;q=", "-", "x-klingon", "*;q=0"] {
            assert_eq!(negotiate(None, Some(header)), Locale::En, "{header:?}");
        }
        assert_eq!(negotiate(Some("\t\n"), Some("-fr")), Locale::En);
        assert_eq!(negotiate(None, None), Locale::En);
    }

    #[test]
    fn weights_parse_per_rfc_9110() {
        assert_eq!(parse_weight("1"), Some(1000));
        assert_eq!(parse_weight("1.000"), Some(1000));
        assert_eq!(parse_weight("0.5"), Some(500));
        assert_eq!(parse_weight("0.123"), Some(123));
        assert_eq!(parse_weight("0"), Some(0));
        for bad in ["1.001", "2", ".5", "0.1234", "0.-1", "", "q"] {
            assert_eq!(parse_weight(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn every_oidc_scope_is_described_in_every_locale() {
        for locale in Locale::ALL {
            for scope in OIDC_SCOPES {
                assert!(system_scope_description(scope, locale).is_some(), "{scope} {locale:?}");
            }
            assert_eq!(system_scope_description("orders:read", locale), None);
        }
        assert_eq!(system_scope_description("openid", Locale::En), Some(EN.scope_openid));
    }

    #[test]
    fn locked_out_rounds_minutes_up_and_counts_seconds_under_one() {
        assert_eq!(locked_out(&EN, 1), "Too many failed attempts. Try again in 1 second.");
        assert_eq!(locked_out(&EN, 59), "Too many failed attempts. Try again in 59 seconds.");
        assert_eq!(locked_out(&EN, 60), "Too many failed attempts. Try again in 1 minute.");
        assert_eq!(locked_out(&EN, 61), "Too many failed attempts. Try again in 2 minutes.");
        assert_eq!(locked_out(&EN, 900), "Too many failed attempts. Try again in 15 minutes.");
        assert!(locked_out(&DE, 120).contains("in 2 Minuten erneut"));
        assert!(locked_out(&FR, 30).contains("dans 30\u{a0}secondes"));
    }

    #[test]
    fn fill_replaces_the_first_placeholder_only() {
        assert_eq!(fill("Sign in to {}", "Shop"), "Sign in to Shop");
        assert_eq!(fill("no placeholder", "x"), "no placeholder");
        assert_eq!(fill("{} and {}", "a"), "a and {}");
    }
}
