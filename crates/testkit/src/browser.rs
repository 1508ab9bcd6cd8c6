use std::cell::RefCell;
use std::collections::BTreeMap;

use base64::Engine as _;
use gatehouse_core::http::{Request, Response};
use http::{HeaderValue, Method, header};
use sha2::{Digest, Sha256};

use crate::scenario::Scenario;

/// A user agent for the hosted pages: keeps the cookies the issuer sets (as a
/// browser would: by name, removed at `Max-Age=0`) and sends them back.
#[derive(Debug, Default)]
pub struct Browser {
    cookies: RefCell<BTreeMap<String, String>>,
}

impl Browser {
    /// A browser with no cookies.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sends `request` with the cookies, and keeps the ones the answer sets.
    pub fn send(&self, s: &Scenario, mut request: Request) -> Response {
        let jar = self.cookie_header();
        if !jar.is_empty() {
            request.headers_mut().insert(header::COOKIE, HeaderValue::from_str(&jar).unwrap());
        }
        let response = s.send(request);
        for value in response.headers().get_all(header::SET_COOKIE) {
            let text = value.to_str().unwrap();
            let (pair, attributes) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if attributes.contains("Max-Age=0") {
                self.cookies.borrow_mut().remove(name);
            } else {
                self.cookies.borrow_mut().insert(name.to_owned(), value.to_owned());
            }
        }
        response
    }

    /// `GET uri`.
    pub fn get(&self, s: &Scenario, uri: &str) -> Response {
        self.send(s, http::Request::get(uri).body(Vec::new()).unwrap())
    }

    /// A form `POST` of `fields` to `uri`.
    pub fn post(&self, s: &Scenario, uri: &str, fields: &[(&str, &str)]) -> Response {
        let body = fields
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let request = http::Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body.into_bytes())
            .unwrap();
        self.send(s, request)
    }

    /// Submits the page's form: its hidden fields plus `fields`, to its `action`.
    pub fn submit(&self, s: &Scenario, page: &Response, fields: &[(&str, &str)]) -> Response {
        let html = std::str::from_utf8(page.body()).unwrap();
        let action = form_action(html).expect("the page has a form");
        let path = action.strip_prefix(crate::ISSUER).unwrap_or(&action).to_owned();
        let hidden = hidden_fields(html);
        let mut all: Vec<(&str, &str)> =
            hidden.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        all.extend_from_slice(fields);
        self.post(s, &path, &all)
    }

    /// Whether the browser holds a cookie whose name contains `part`.
    pub fn has_cookie(&self, part: &str) -> bool {
        self.cookies.borrow().keys().any(|k| k.contains(part))
    }

    /// Forgets every cookie.
    pub fn clear(&self) {
        self.cookies.borrow_mut().clear();
    }

    fn cookie_header(&self) -> String {
        self.cookies.borrow().iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }
}

/// Encodes a form component.
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Decodes a form or query component.
pub fn decode(value: &str) -> String {
    let bytes = value.replace('+', " ");
    let bytes = bytes.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 3 <= bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz");
            if let Ok(b) = u8::from_str_radix(hex, 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The attributes of every `<tag ...>` in `html`.
pub fn tags(html: &str, tag: &str) -> Vec<BTreeMap<String, String>> {
    let open = format!("<{tag}");
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let end = after.find('>').unwrap_or(after.len());
        let inside = &after[..end];
        let mut attributes = BTreeMap::new();
        let mut text = inside.trim();
        while !text.is_empty() {
            let name_end = text.find(|c: char| c == '=' || c.is_whitespace()).unwrap_or(text.len());
            let name = text[..name_end].trim_end_matches('/').to_owned();
            text = text[name_end..].trim_start();
            if let Some(value_part) = text.strip_prefix('=') {
                let value_part = value_part.trim_start();
                let (value, remaining) = if let Some(q) = value_part.strip_prefix('"') {
                    let close = q.find('"').unwrap_or(q.len());
                    (&q[..close], &q[(close + 1).min(q.len())..])
                } else {
                    let close = value_part.find(char::is_whitespace).unwrap_or(value_part.len());
                    (&value_part[..close], &value_part[close..])
                };
                attributes.insert(name, unescape(value));
                text = remaining.trim_start();
            } else if !name.is_empty() {
                attributes.insert(name, String::new());
            }
        }
        out.push(attributes);
        rest = &after[end..];
    }
    out
}

/// The hidden inputs of a page, in order.
pub fn hidden_fields(html: &str) -> Vec<(String, String)> {
    tags(html, "input")
        .into_iter()
        .filter(|a| a.get("type").map(String::as_str) == Some("hidden"))
        .map(|a| {
            (
                a.get("name").cloned().unwrap_or_default(),
                a.get("value").cloned().unwrap_or_default(),
            )
        })
        .collect()
}

/// The `action` of the page's first form.
pub fn form_action(html: &str) -> Option<String> {
    tags(html, "form").into_iter().next().and_then(|a| a.get("action").cloned())
}

/// The parameters of a redirect's `Location`: its query, or its fragment.
pub fn redirect_params(response: &Response) -> BTreeMap<String, String> {
    let location = response.headers()[header::LOCATION].to_str().unwrap();
    let part = location
        .split_once('#')
        .map(|(_, f)| f)
        .or_else(|| location.split_once('?').map(|(_, q)| q))
        .unwrap_or("");
    part.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// A PKCE verifier and its S256 challenge.
pub fn pkce(seed: u8) -> (String, String) {
    let verifier = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([seed; 40]);
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}
