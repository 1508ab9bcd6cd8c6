//! Lifecycle hooks, delivered: what the issuer POSTs to an app's hook endpoints,
//! how it signs it, and what it takes from the answers.
//!
//! A delivery is JSON (`event`, a unique `id`, `created_at`, the `app`, the `user`
//! or the `identifier` tried, the source `ip` where known, and what the event
//! adds), signed in the `Gatehouse-Signature` header as
//! `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, with the delivery
//! id in `Gatehouse-Delivery`. A receiver recomputes the HMAC over the exact bytes
//! it received, compares in constant time and refuses an old `t` ([`verify`] is
//! that check, as a reference).
//!
//! Notifications are sent once, after the response (deferred to the host's
//! `waitUntil`), never retried: a failure is logged. The two blocking events are
//! asked once on the request's path, within the hook's timeout; a failure follows
//! the hook's `on_failure` and is logged with its reason. The records and their
//! rules are [`crate::model::hook`]; the calls from the sign-in and token flows are
//! in the `call` module.

pub(crate) mod call;

use hmac::{Hmac, Mac};
use serde_json::{Map, Value, json};
use sha2::Sha256;

use crate::model::hook::{HookEvent, PROTECTED_CLAIMS, check_claim_name};
use crate::types::UnixTime;

/// The signature header.
pub const SIGNATURE_HEADER: &str = "gatehouse-signature";
/// The header naming the delivery (its `id`).
pub const DELIVERY_HEADER: &str = "gatehouse-delivery";
/// The header naming the event.
pub const EVENT_HEADER: &str = "gatehouse-event";
/// At most this many claims taken from one `before_id_token` answer.
pub const MAX_ADDED_CLAIMS: usize = 20;
/// The largest value of one added claim, as JSON.
pub const MAX_CLAIM_VALUE_BYTES: usize = 1024;
/// The largest total of the added claims' values, as JSON.
pub const MAX_ADDED_CLAIMS_BYTES: usize = 4096;

/// The `Gatehouse-Signature` value of `body` sent at `t` with `secret`.
#[must_use]
pub fn signature(secret: &[u8], t: UnixTime, body: &[u8]) -> String {
    format!("t={},v1={}", t.as_secs(), hex(&mac(secret, t.as_secs(), body)))
}

fn mac(secret: &[u8], t: u64, body: &[u8]) -> Vec<u8> {
    // HMAC takes a key of any length.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else { return Vec::new() };
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// What a receiver checks: a `v1` signature of `body` under `secret` for the
/// header's `t`, compared in constant time, with `t` within `tolerance_secs` of
/// `now` either way.
#[must_use]
pub fn verify(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now: UnixTime,
    tolerance_secs: u64,
) -> bool {
    let mut t = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<u64>().ok(),
            Some(("v1", v)) => signatures.push(v),
            _ => {}
        }
    }
    let Some(t) = t else { return false };
    if t.abs_diff(now.as_secs()) > tolerance_secs {
        return false;
    }
    let expected = hex(&mac(secret, t, body));
    signatures.iter().any(|s| {
        use subtle::ConstantTimeEq as _;
        s.len() == expected.len() && bool::from(s.as_bytes().ct_eq(expected.as_bytes()))
    })
}

/// Who a delivery is about: a known user, or the identifier tried when none has it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Subject<'a> {
    User {
        id: &'a str,
        username: &'a str,
        email: Option<&'a str>,
    },
    Identifier(&'a str),
    /// Nobody yet: a registration, whose address is in the event's data.
    Nobody,
}

/// The JSON body of one delivery.
pub(crate) fn payload(
    event: HookEvent,
    id: &str,
    now: UnixTime,
    app: (&str, &str),
    subject: Subject<'_>,
    ip: Option<&str>,
    data: Map<String, Value>,
) -> Value {
    let mut body = Map::new();
    body.insert("event".into(), json!(event.as_str()));
    body.insert("id".into(), json!(id));
    body.insert("created_at".into(), json!(now));
    body.insert("app".into(), json!({ "client_id": app.0, "name": app.1 }));
    match subject {
        Subject::User { id, username, email } => {
            let mut user = json!({ "id": id, "username": username });
            if let (Some(email), Value::Object(user)) = (email, &mut user) {
                user.insert("email".into(), json!(email));
            }
            body.insert("user".into(), user);
        }
        Subject::Identifier(tried) => {
            body.insert("identifier".into(), json!(tried));
        }
        Subject::Nobody => {}
    }
    if let Some(ip) = ip {
        body.insert("ip".into(), json!(ip));
    }
    for (name, value) in data {
        body.entry(name).or_insert(value);
    }
    Value::Object(body)
}

/// The claims a `before_id_token` answer adds to `existing`, and the names refused
/// (with why, for the log). Taken: the answer's `claims` object, at most
/// [`MAX_ADDED_CLAIMS`], names that are not [`PROTECTED_CLAIMS`], not already in the
/// token, and in `allowed` when the hook lists names; each value at most
/// [`MAX_CLAIM_VALUE_BYTES`] as JSON, all of them at most [`MAX_ADDED_CLAIMS_BYTES`].
pub(crate) fn added_claims(
    answer: &Value,
    allowed: &[String],
    existing: &Map<String, Value>,
) -> (Map<String, Value>, Vec<String>) {
    let mut added = Map::new();
    let mut refused = Vec::new();
    let Some(claims) = answer.get("claims") else { return (added, refused) };
    let Some(claims) = claims.as_object() else {
        refused.push("claims: not an object".to_owned());
        return (added, refused);
    };
    let mut total = 0;
    for (name, value) in claims {
        let size = serde_json::to_vec(value).map_or(usize::MAX, |v| v.len());
        let why = if let Err(why) = check_claim_name(name) {
            why
        } else if PROTECTED_CLAIMS.contains(&name.as_str()) || existing.contains_key(name) {
            "is already set by the issuer"
        } else if !allowed.is_empty() && !allowed.contains(name) {
            "is not in the hook's allowed_claims"
        } else if added.len() >= MAX_ADDED_CLAIMS {
            "is past the 20 claims a hook may add"
        } else if size > MAX_CLAIM_VALUE_BYTES || total + size > MAX_ADDED_CLAIMS_BYTES {
            "is too large"
        } else {
            total += size;
            added.insert(name.clone(), value.clone());
            continue;
        };
        refused.push(format!("{}: {why}", truncate(name, 64)));
    }
    (added, refused)
}

/// At most `max` bytes of `s`, for a log line.
pub(crate) fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_a_known_vector() {
        // HMAC-SHA256("whsec_test", "1700000000.{\"event\":\"login\"}"), computed with
        // `printf '%s' '1700000000.{"event":"login"}' | openssl dgst -sha256 -hmac whsec_test`.
        let header =
            signature(b"whsec_test", UnixTime::from_secs(1_700_000_000), br#"{"event":"login"}"#);
        assert_eq!(
            header,
            "t=1700000000,v1=7bb615944003e00bb1af761b2414d2921e89a3caa353f612316160713ec26aa7"
        );
    }

    #[test]
    fn verification_needs_the_same_bytes_secret_and_a_recent_time() {
        let t = UnixTime::from_secs(1_700_000_000);
        let body = br#"{"event":"login","id":"d1"}"#;
        let header = signature(b"s3cret", t, body);
        assert!(verify(b"s3cret", &header, body, t.plus(299), 300));
        assert!(!verify(b"s3cret", &header, body, t.plus(301), 300), "too old");
        assert!(!verify(b"other", &header, body, t, 300));
        assert!(!verify(b"s3cret", &header, br#"{"event":"login","id":"d2"}"#, t, 300));
        let forged = header.replace("t=1700000000", "t=1700000100");
        assert!(!verify(b"s3cret", &forged, body, t.plus(100), 300), "t is signed");
        assert!(!verify(b"s3cret", "v1=abc", body, t, 300));
    }

    #[test]
    fn payloads_name_the_user_or_the_identifier() {
        let t = UnixTime::from_secs(1_700_000_000);
        let user = Subject::User { id: "u1", username: "ada", email: Some("ada@example.com") };
        let mut data = Map::new();
        data.insert("amr".into(), json!(["pwd"]));
        data.insert("event".into(), json!("overridden?"));
        let body =
            payload(HookEvent::Login, "d1", t, ("c1", "shop"), user, Some("192.0.2.1"), data);
        assert_eq!(
            body,
            json!({
                "event": "login",
                "id": "d1",
                "created_at": 1_700_000_000,
                "app": { "client_id": "c1", "name": "shop" },
                "user": { "id": "u1", "username": "ada", "email": "ada@example.com" },
                "ip": "192.0.2.1",
                "amr": ["pwd"]
            })
        );
        let unknown = payload(
            HookEvent::IdentificationFailed,
            "d2",
            t,
            ("c1", "shop"),
            Subject::Identifier("nobody"),
            None,
            Map::new(),
        );
        assert_eq!(unknown["identifier"], "nobody");
        assert!(unknown.get("user").is_none() && unknown.get("ip").is_none());
    }

    #[test]
    fn added_claims_keep_to_the_allow_list_and_never_touch_protected_names() {
        let mut existing = Map::new();
        existing.insert("email".into(), json!("ada@example.com"));
        let answer = json!({ "claims": {
            "tier": "gold",
            "sub": "someone-else",
            "nonce": "n",
            "email": "mallory@example.com",
            "big": "x".repeat(MAX_CLAIM_VALUE_BYTES),
            "groups": ["a", "b"]
        }});
        let (added, refused) = added_claims(&answer, &[], &existing);
        assert_eq!(Value::Object(added), json!({ "tier": "gold", "groups": ["a", "b"] }));
        assert_eq!(refused.len(), 4, "{refused:?}");
        let allowed = vec!["tier".to_owned()];
        let (added, refused) = added_claims(&answer, &allowed, &existing);
        assert_eq!(Value::Object(added), json!({ "tier": "gold" }));
        assert!(refused.iter().any(|r| r.starts_with("groups: is not in")), "{refused:?}");
        let (added, refused) = added_claims(&json!({ "claims": [1] }), &[], &existing);
        assert!(added.is_empty() && refused.len() == 1);
        assert!(added_claims(&json!({}), &[], &existing).0.is_empty());
    }
}
