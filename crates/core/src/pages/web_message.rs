//! The page of the Web Message Response Mode (draft-sakimura-oauth-wmrm): the
//! authorization response handed with `postMessage` to the window that framed the
//! page (or opened it), for the browser package's silent login in a hidden iframe.
//!
//! The page posts `{ type: "authorization_response", response }` to the origin of
//! the redirect URI, where `response` holds the response parameters (`code`, or
//! `error` and `error_description`, then `state` and `iss`) as strings.
//!
//! # Security
//!
//! Unlike the hosted pages this one must be framed, by exactly one origin: the
//! policy's `frame-ancestors` names the redirect URI's origin (one of the app's web
//! origins, checked by the authorization endpoint), and the message goes to that
//! origin and no other, never `*`. The response travels as JSON in a
//! `<script type="application/json">` block the browser never runs, escaped so no
//! value can end the element; the one script is a constant, allowed by its hash.
//! The page has no style, no form and nothing else the policy would need to allow.

use http::{HeaderValue, StatusCode, header};

use super::html::Html;
use super::{Locale, hash_source};
use crate::http::{Response, no_store};
use crate::types::Origin;

/// The Web Message Response Mode page: posts `response` to `origin`.
pub struct WebMessage<'a> {
    /// The redirect URI's origin: the only one that may frame the page and the
    /// target of the message.
    pub origin: &'a Origin,
    /// The authorization response parameters.
    pub response: &'a [(&'a str, &'a str)],
}

/// The element id of the JSON data block the script reads.
const DATA_ID: &str = "response";

/// The page's only script: reads the data block and posts the response to the
/// framing window (or the opener) at the origin the data names.
const POST_RESPONSE: &str = concat!(
    "var data = JSON.parse(document.getElementById(\"response\").textContent);",
    "var target = window.parent !== window ? window.parent : window.opener;",
    "if (target) target.postMessage(",
    "{ type: \"authorization_response\", response: data.response }, data.origin);"
);

/// The page's data block: `{"origin": ..., "response": {name: value, ...}}`.
fn data(page: &WebMessage<'_>) -> serde_json::Value {
    let response: serde_json::Map<String, serde_json::Value> = page
        .response
        .iter()
        .map(|(name, value)| ((*name).to_owned(), serde_json::Value::from(*value)))
        .collect();
    serde_json::json!({ "origin": page.origin.as_str(), "response": response })
}

/// The page's Content-Security-Policy: its one script, framed by `origin` only.
fn content_security_policy(origin: &Origin) -> String {
    format!(
        "default-src 'none'; script-src {}; frame-ancestors {}",
        hash_source(POST_RESPONSE),
        origin.as_str()
    )
}

/// Renders the Web Message page in `locale` (for its language and title) as a
/// complete `200` response.
#[must_use]
pub fn render_web_message(page: &WebMessage<'_>, locale: Locale) -> Response {
    let mut html = Html::new();
    html.markup("<!doctype html>\n");
    html.start("html", &[("lang", locale.tag())]);
    html.markup("<head><meta charset=\"utf-8\"><meta name=\"robots\" content=\"noindex\">");
    html.element("title", &[], locale.strings().form_post_heading);
    html.markup("</head>\n<body>");
    html.json_script(DATA_ID, &data(page));
    html.markup("<script>");
    html.markup(POST_RESPONSE);
    html.markup("</script></body>\n</html>\n");

    let mut response = Response::new(html.finish().into_bytes());
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    no_store(headers);
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    // An `Origin` is ASCII by construction; should that ever change, the page fails
    // closed: no script runs and nobody may frame it.
    let csp = HeaderValue::try_from(content_security_policy(page.origin))
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"));
    headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    response
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use sha2::{Digest, Sha256};

    use super::*;

    const HOSTILE_STATE: &str = "</script><script>alert(1)</script><!--&\"'\\";

    fn origin() -> Origin {
        Origin::new("https://app.example.test").unwrap()
    }

    fn body(response: &Response) -> String {
        String::from_utf8(response.body().clone()).unwrap()
    }

    fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
        let from = text.find(start).unwrap() + start.len();
        let to = from + text[from..].find(end).unwrap();
        &text[from..to]
    }

    fn data_block(html: &str) -> serde_json::Value {
        let json = between(html, "<script type=\"application/json\" id=\"response\">", "</script>");
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn the_page_is_framed_by_the_origin_alone_and_runs_only_its_script() {
        let origin = origin();
        let response = render_web_message(
            &WebMessage { origin: &origin, response: &[("code", "abc"), ("state", "xyz")] },
            Locale::En,
        );
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers();
        for (name, value) in [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
        ] {
            assert_eq!(headers[&name], value, "{name}");
        }
        assert!(headers.get(header::X_FRAME_OPTIONS).is_none());
        let html = body(&response);
        let script = between(&html, "<script>", "</script>");
        assert_eq!(script, POST_RESPONSE);
        let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(script));
        assert_eq!(
            headers[header::CONTENT_SECURITY_POLICY],
            format!(
                "default-src 'none'; script-src 'sha256-{hash}'; \
                 frame-ancestors https://app.example.test"
            )
            .as_str()
        );
    }

    #[test]
    fn the_data_block_holds_the_origin_and_the_response() {
        let origin = origin();
        let fields = [("code", "abc"), ("state", "xyz"), ("iss", "https://id.example.test")];
        let html = body(&render_web_message(
            &WebMessage { origin: &origin, response: &fields },
            Locale::De,
        ));
        assert!(html.starts_with("<!doctype html>\n<html lang=\"de\">"), "{html}");
        assert_eq!(
            data_block(&html),
            serde_json::json!({
                "origin": "https://app.example.test",
                "response": { "code": "abc", "state": "xyz", "iss": "https://id.example.test" },
            })
        );
        assert!(html.find("id=\"response\"").unwrap() < html.find("<script>").unwrap());
    }

    #[test]
    fn the_script_posts_the_response_to_the_origin_never_to_any() {
        assert!(POST_RESPONSE.contains("window.parent !== window ? window.parent : window.opener"));
        assert!(POST_RESPONSE.contains(
            ".postMessage({ type: \"authorization_response\", response: data.response }, data.origin)"
        ));
        assert!(!POST_RESPONSE.contains("\"*\""));
        assert!(POST_RESPONSE.contains(&format!("getElementById(\"{DATA_ID}\")")));
    }

    #[test]
    fn hostile_values_stay_data() {
        let origin = origin();
        let fields = [(HOSTILE_STATE, HOSTILE_STATE), ("state", HOSTILE_STATE)];
        let html = body(&render_web_message(
            &WebMessage { origin: &origin, response: &fields },
            Locale::En,
        ));
        assert_eq!(html.matches("<script").count(), 2, "{html}");
        assert_eq!(html.matches("</script>").count(), 2, "{html}");
        assert!(!html.contains("<!--"), "{html}");
        assert!(!html.contains("alert(1)</"), "{html}");
        assert_eq!(data_block(&html)["response"]["state"], HOSTILE_STATE);
        assert_eq!(data_block(&html)["response"][HOSTILE_STATE], HOSTILE_STATE);
        assert_eq!(between(&html, "<script>", "</script>"), POST_RESPONSE);
    }
}
