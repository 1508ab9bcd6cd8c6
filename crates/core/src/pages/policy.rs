//! The consent policy page: an app's policy, rendered from Markdown
//! ([`super::markdown`]), with Accept and Decline. Its words in each locale are
//! here, beside the page, in the manner of [`super::i18n`].

use super::html::Html;
use super::i18n::{Locale, Strings, fill};
use super::{Brand, Hidden, actions, form, links, logo, markdown};

/// The consent policy page: the app, the user, the policy; accept or decline.
pub struct PolicyConsent<'a> {
    /// The app whose policy it is.
    pub brand: Brand<'a>,
    /// Where the form posts.
    pub action: &'a str,
    /// Hidden fields carried through (the version shown among them).
    pub hidden: Hidden<'a>,
    /// The signed-in user (as they would recognise themselves).
    pub user: &'a str,
    /// The policy's title: the page's heading.
    pub title: &'a str,
    /// The policy in Markdown.
    pub text: &'a str,
    /// The version shown.
    pub version: u64,
}

/// The page's own words.
pub(super) struct PolicyStrings {
    intro: &'static str,
    version: &'static str,
    accept: &'static str,
    decline: &'static str,
}

const EN: PolicyStrings = PolicyStrings {
    intro: "Please read and accept this to continue to {}.",
    version: "Version {}",
    accept: "Accept",
    decline: "Decline",
};

const DE: PolicyStrings = PolicyStrings {
    intro: "Bitte lesen und akzeptieren Sie dies, um mit {} fortzufahren.",
    version: "Version {}",
    accept: "Akzeptieren",
    decline: "Ablehnen",
};

const FR: PolicyStrings = PolicyStrings {
    intro: "Veuillez lire et accepter ce texte pour continuer vers {}.",
    version: "Version {}",
    accept: "Accepter",
    decline: "Refuser",
};

const fn strings(locale: Locale) -> &'static PolicyStrings {
    match locale {
        Locale::En => &EN,
        Locale::De => &DE,
        Locale::Fr => &FR,
    }
}

pub(super) fn page(
    html: &mut Html,
    page: &PolicyConsent<'_>,
    locale: Locale,
    text: &Strings,
    heading: &str,
) {
    let own = strings(locale);
    logo(html, &page.brand, text);
    html.element("h1", &[], heading);
    if let Some(company) = page.brand.company_name {
        html.element("p", &[("class", "muted")], &fill(text.provided_by, company));
    }
    html.element("p", &[], &fill(text.signed_in_as, page.user));
    html.element("p", &[], &fill(own.intro, page.brand.name));
    html.start("section", &[("class", "policy"), ("tabindex", "0"), ("aria-label", heading)]);
    markdown::render(html, page.text);
    html.end("section");
    html.element("p", &[("class", "muted")], &fill(own.version, &page.version.to_string()));
    form(html, page.action, page.hidden);
    actions(html, ("accept", own.accept), ("decline", own.decline));
    html.end("form");
    links(html, &page.brand, text);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::{Page, render};
    use http::StatusCode;

    fn body(locale: Locale) -> String {
        let page = PolicyConsent {
            brand: Brand {
                name: "Shop",
                logo_uri: Some("https://shop.example/logo.png"),
                client_uri: None,
                policy_uri: None,
                tos_uri: None,
                company_name: Some("Shop Ltd"),
            },
            action: "/consent/policy",
            hidden: &[("interaction", "sealed"), ("csrf", "t"), ("version", "3")],
            user: "ada@example.com",
            title: "Terms <of> use",
            text: "# Rules\n\n<img src=x onerror=alert(1)> Be *nice*.",
            version: 3,
        };
        let response = render(&Page::PolicyConsent(page), locale, StatusCode::OK);
        String::from_utf8(response.into_body()).unwrap()
    }

    #[test]
    fn shows_the_policy_the_app_the_user_and_the_decisions() {
        let html = body(Locale::En);
        assert!(html.contains("<title>Terms &lt;of&gt; use</title>"), "{html}");
        assert!(html.contains("<h1>Terms &lt;of&gt; use</h1>"), "{html}");
        assert!(html.contains("src=\"https://shop.example/logo.png\""), "{html}");
        assert!(html.contains("Provided by Shop Ltd"), "{html}");
        assert!(html.contains("Signed in as ada@example.com"), "{html}");
        assert!(html.contains("<h2>Rules</h2>"), "{html}");
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt; Be <em>nice</em>."), "{html}");
        assert!(!html.contains("<img src=x"), "{html}");
        assert!(html.contains("Version 3"), "{html}");
        assert!(html.contains("<form method=\"post\" action=\"/consent/policy\">"), "{html}");
        assert!(html.contains("name=\"version\" value=\"3\""), "{html}");
        assert!(html.contains("name=\"decision\" value=\"accept\""), "{html}");
        assert!(html.contains("name=\"decision\" value=\"decline\""), "{html}");
    }

    #[test]
    fn is_translated() {
        let html = body(Locale::De);
        assert!(html.contains("<html lang=\"de\">") && html.contains(">Akzeptieren<"), "{html}");
        let html = body(Locale::Fr);
        assert!(html.contains(">Refuser<") && html.contains("continuer vers Shop"), "{html}");
    }
}
