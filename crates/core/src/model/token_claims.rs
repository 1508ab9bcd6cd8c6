//! Additional token claims: the user fields and fixed values an app puts in its
//! access tokens and ID tokens beside the claims the issuer sets (the app's
//! `token_claims`).
//!
//! Each entry names a claim, where its value comes from (a standard claim of the
//! signed-in user, or a fixed JSON value) and the tokens it goes into. A claim the
//! tokens already carry, or that a protocol defines, can never be named
//! ([`PROTECTED_CLAIMS`](crate::token::PROTECTED_CLAIMS)); minting checks that again, so a record written before
//! the list grew still overrides nothing.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::fields::{FieldError, Fields};
use crate::token::{SCOPE_CLAIMS, is_protected};

/// At most this many additional claims per app.
pub const MAX_TOKEN_CLAIMS: usize = 20;
/// The longest claim name (bytes) and the longest fixed string value (characters).
pub const MAX_CLAIM: (usize, usize) = (64, 256);

/// Where a claim's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClaimSource {
    /// A standard claim or a custom field of the signed-in user (`field`).
    User,
    /// A fixed value (`value`).
    Value,
}

/// The tokens a claim goes into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    /// Access tokens (RFC 9068).
    Access,
    /// ID tokens (OpenID Connect Core).
    Id,
}

/// One additional claim, as stored and shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenClaim {
    /// The claim's name in the token.
    pub name: String,
    /// Where the value comes from.
    pub source: ClaimSource,
    /// The user's standard claim or custom field key (`source: user`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The fixed value (`source: value`): a string, number or boolean.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// The tokens it goes into.
    pub tokens: Vec<TokenKind>,
}

/// Whether `field` is a user claim the flows can release: a standard claim
/// (OpenID Connect Core section 5.1) the user record holds, `preferred_username`
/// (the username unless set) or `updated_at`.
fn is_user_field(field: &str) -> bool {
    SCOPE_CLAIMS.iter().any(|(_, names)| names.contains(&field))
}

/// Whether `field` names a custom user field ([`super::user_field`]) rather than a
/// standard claim: the caller checks that it is defined.
#[must_use]
pub fn is_custom_field(field: &str) -> bool {
    !is_user_field(field) && super::user_field::check_key(field).is_ok()
}

/// A claim name: a letter, then letters, digits and `_ - . : /` (so collision-
/// resistant names such as `https://example.com/tenant` fit), 1 to 64 bytes.
fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.len() > MAX_CLAIM.0 {
        return Err("must be 1 to 64 characters");
    }
    let mut bytes = name.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphabetic());
    if !first_ok || !bytes.all(|b| b.is_ascii_alphanumeric() || b"_-.:/".contains(&b)) {
        return Err("must start with a letter and hold only letters, digits and _ - . : /");
    }
    if is_protected(name) {
        return Err("is a claim the issuer sets or a protocol defines");
    }
    Ok(())
}

fn check_value(value: &Value) -> Result<(), String> {
    match value {
        Value::String(s) if s.chars().count() > MAX_CLAIM.1 => {
            Err(format!("must be at most {} characters", MAX_CLAIM.1))
        }
        Value::String(_) | Value::Number(_) | Value::Bool(_) => Ok(()),
        _ => Err("must be a string, number or boolean".into()),
    }
}

/// Reads one entry at `pointer`; its errors go to `errors`.
fn entry(raw: Value, pointer: &str, errors: &mut Vec<FieldError>) -> Option<TokenClaim> {
    let Value::Object(mut map) = raw else {
        errors.push(FieldError::new(pointer, "must be an object"));
        return None;
    };
    let before = errors.len();
    let mut err = |field: &str, detail: String| {
        errors.push(FieldError::new(format!("{pointer}/{field}"), detail));
    };
    let name = match map.remove("name") {
        Some(Value::String(name)) => {
            if let Err(why) = check_name(&name) {
                err("name", why.into());
            }
            name
        }
        Some(_) => {
            err("name", "must be a string".into());
            String::new()
        }
        None => {
            err("name", "is required".into());
            String::new()
        }
    };
    let source = match map.remove("source").map(serde_json::from_value::<ClaimSource>) {
        Some(Ok(source)) => Some(source),
        Some(Err(_)) => {
            err("source", "must be user or value".into());
            None
        }
        None => {
            err("source", "is required".into());
            None
        }
    };
    let field = map.remove("field");
    let value = map.remove("value").filter(|v| !v.is_null());
    let (field, value) = match source {
        Some(ClaimSource::User) => {
            if value.is_some() {
                err("value", "is only for source value".into());
            }
            match field {
                Some(Value::String(f)) if is_user_field(&f) || is_custom_field(&f) => {
                    (Some(f), None)
                }
                Some(Value::String(_)) => {
                    err(
                        "field",
                        "must be a standard claim of the user (email, name, ...) or a custom user field key"
                            .into(),
                    );
                    (None, None)
                }
                Some(_) => {
                    err("field", "must be a string".into());
                    (None, None)
                }
                None => {
                    err("field", "is required for source user".into());
                    (None, None)
                }
            }
        }
        Some(ClaimSource::Value) => {
            if field.is_some() {
                err("field", "is only for source user".into());
            }
            match value {
                Some(v) => {
                    if let Err(why) = check_value(&v) {
                        err("value", why);
                    }
                    (None, Some(v))
                }
                None => {
                    err("value", "is required for source value".into());
                    (None, None)
                }
            }
        }
        None => (None, None),
    };
    let tokens = match map.remove("tokens").map(serde_json::from_value::<Vec<TokenKind>>) {
        None => vec![TokenKind::Access, TokenKind::Id],
        Some(Ok(tokens)) if tokens.is_empty() => {
            err("tokens", "must name at least one of access, id".into());
            tokens
        }
        Some(Ok(tokens)) if matches!(tokens.as_slice(), [a, b] if a == b) => {
            err("tokens/1", "is listed twice".into());
            tokens
        }
        Some(Ok(tokens)) => tokens,
        Some(Err(_)) => {
            err("tokens", "must be an array of access, id".into());
            Vec::new()
        }
    };
    for key in map.keys() {
        let key = super::fields::escape_pointer(key);
        errors.push(FieldError::new(format!("{pointer}/{key}"), "is not a known field"));
    }
    let source = source?;
    (errors.len() == before).then_some(TokenClaim { name, source, field, value, tokens })
}

/// Takes and validates the `token_claims` field of an app body: at most
/// [`MAX_TOKEN_CLAIMS`] entries, each with a valid unprotected name that no other
/// entry uses, a known source, and the tokens it goes into (both when omitted).
pub(crate) fn take(fields: &mut Fields) -> Vec<TokenClaim> {
    let raw: Vec<Value> = fields.take("token_claims", "an array of objects").unwrap_or_default();
    if raw.len() > MAX_TOKEN_CLAIMS {
        fields.error("/token_claims", format!("must have at most {MAX_TOKEN_CLAIMS} entries"));
        return Vec::new();
    }
    let mut out: Vec<TokenClaim> = Vec::with_capacity(raw.len());
    let mut seen: Vec<String> = Vec::with_capacity(raw.len());
    for (i, item) in raw.into_iter().enumerate() {
        let pointer = format!("/token_claims/{i}");
        if let Some(name) = item.get("name").and_then(Value::as_str) {
            if seen.iter().any(|s| s == name) {
                fields.error(format!("{pointer}/name"), "is used by another entry");
            } else {
                seen.push(name.to_owned());
            }
        }
        if let Some(claim) = entry(item, &pointer, &mut fields.errors) {
            out.push(claim);
        }
    }
    out
}

/// The additional claims of a token of `kind`: the fixed values, and the fields
/// `user` holds (a user's claims as [`crate::token::user_claims`] gives them; none
/// without a user, as for client credentials). A field the user lacks is left
/// out; a protected name is skipped here too, so nothing the issuer sets is ever
/// overridden.
pub fn for_token<'a>(
    claims: &'a [TokenClaim],
    kind: TokenKind,
    user: Option<&'a Map<String, Value>>,
) -> impl Iterator<Item = (&'a str, &'a Value)> {
    claims.iter().filter(move |c| c.tokens.contains(&kind) && !is_protected(&c.name)).filter_map(
        move |c| {
            let value = match c.source {
                ClaimSource::Value => c.value.as_ref(),
                ClaimSource::User => user.and_then(|u| u.get(c.field.as_deref()?)),
            }?;
            Some((c.name.as_str(), value))
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(body: Value) -> Result<Vec<TokenClaim>, Vec<String>> {
        let Value::Object(map) = json!({ "token_claims": body }) else { unreachable!() };
        let mut fields = Fields::new(map);
        let claims = take(&mut fields);
        fields.finish().map(|()| claims).map_err(|e| e.into_iter().map(|e| e.pointer).collect())
    }

    #[test]
    fn entries_read_with_both_tokens_by_default() {
        let claims = read(json!([
            { "name": "email", "source": "user", "field": "email", "tokens": ["access"] },
            { "name": "tenant", "source": "value", "value": "acme" },
            { "name": "https://example.com/tier", "source": "value", "value": 3 },
        ]))
        .unwrap();
        assert_eq!(claims[0].tokens, [TokenKind::Access]);
        assert_eq!(claims[1].tokens, [TokenKind::Access, TokenKind::Id]);
        assert_eq!(claims[2].value, Some(json!(3)));
        // The stored form reads back as the same entries.
        let again = read(serde_json::to_value(&claims).unwrap()).unwrap();
        assert_eq!(again, claims);
    }

    #[test]
    fn every_protected_name_is_refused() {
        for name in crate::token::PROTECTED_CLAIMS {
            let got = read(json!([{ "name": name, "source": "value", "value": "x" }]));
            assert_eq!(got.unwrap_err(), ["/token_claims/0/name"], "{name}");
        }
    }

    #[test]
    fn the_claims_tokens_carry_are_all_protected() {
        // Every claim the access and ID tokens are minted with.
        for name in [
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "jti",
            "client_id",
            "scope",
            "permissions",
            "roles",
            "userinfo_claims",
            "auth_time",
            "nonce",
            "azp",
            "at_hash",
            "sid",
            "amr",
            "acr",
        ] {
            assert!(is_protected(name), "{name}");
        }
    }

    #[test]
    fn bad_entries_name_the_field_at_fault() {
        let err = |body| read(body).unwrap_err();
        assert_eq!(err(json!("x")), ["/token_claims"]);
        assert_eq!(err(json!([7])), ["/token_claims/0"]);
        assert_eq!(err(json!([{ "source": "value", "value": 1 }])), ["/token_claims/0/name"]);
        assert_eq!(
            err(json!([{ "name": "9lives", "source": "value", "value": 1 }])),
            ["/token_claims/0/name"]
        );
        assert_eq!(
            err(json!([{ "name": "a b", "source": "value", "value": 1 }])),
            ["/token_claims/0/name"]
        );
        let long = "a".repeat(65);
        assert_eq!(
            err(json!([{ "name": long, "source": "value", "value": 1 }])),
            ["/token_claims/0/name"]
        );
        assert_eq!(err(json!([{ "name": "a", "source": "db" }])), ["/token_claims/0/source"]);
        assert_eq!(
            err(json!([{ "name": "a", "source": "user", "field": "password" }])),
            ["/token_claims/0/field"]
        );
        assert_eq!(err(json!([{ "name": "a", "source": "user" }])), ["/token_claims/0/field"]);
        assert_eq!(
            err(json!([{ "name": "a", "source": "user", "field": "email", "value": 1 }])),
            ["/token_claims/0/value"]
        );
        assert_eq!(
            err(json!([{ "name": "a", "source": "value", "value": { "x": 1 } }])),
            ["/token_claims/0/value"]
        );
        assert_eq!(
            err(json!([{ "name": "a", "source": "value", "value": "v".repeat(257) }])),
            ["/token_claims/0/value"]
        );
        assert_eq!(
            err(json!([{ "name": "a", "source": "value", "value": 1, "tokens": [] }])),
            ["/token_claims/0/tokens"]
        );
        assert_eq!(
            err(json!([{ "name": "a", "source": "value", "value": 1, "tokens": ["refresh"] }])),
            ["/token_claims/0/tokens"]
        );
        assert_eq!(
            err(json!([{ "name": "a", "source": "value", "value": 1, "tokens": ["id", "id"] }])),
            ["/token_claims/0/tokens/1"]
        );
        assert_eq!(
            err(json!([{ "name": "a", "source": "value", "value": 1, "extra": true }])),
            ["/token_claims/0/extra"]
        );
        let many: Vec<Value> = (0..=MAX_TOKEN_CLAIMS)
            .map(|i| json!({ "name": format!("c{i}"), "source": "value", "value": i }))
            .collect();
        assert_eq!(err(Value::Array(many)), ["/token_claims"]);
    }

    #[test]
    fn a_name_is_used_once() {
        let got = read(json!([
            { "name": "tenant", "source": "value", "value": "a" },
            { "name": "x", "source": "value", "value": "b" },
            { "name": "tenant", "source": "user", "field": "email" },
        ]));
        assert_eq!(got.unwrap_err(), ["/token_claims/2/name"]);
    }

    #[test]
    fn minting_takes_what_the_token_and_user_have() {
        let claims = read(json!([
            { "name": "mail", "source": "user", "field": "email", "tokens": ["access"] },
            { "name": "phone", "source": "user", "field": "phone_number" },
            { "name": "tenant", "source": "value", "value": "acme", "tokens": ["id"] },
        ]))
        .unwrap();
        let Value::Object(user) = json!({ "email": "ada@example.com" }) else { unreachable!() };
        let access: Vec<_> = for_token(&claims, TokenKind::Access, Some(&user)).collect();
        assert_eq!(access, [("mail", &json!("ada@example.com"))]);
        let id: Vec<_> = for_token(&claims, TokenKind::Id, Some(&user)).collect();
        assert_eq!(id, [("tenant", &json!("acme"))]);
        // No user: fixed values only.
        assert_eq!(for_token(&claims, TokenKind::Access, None).count(), 0);
        assert_eq!(for_token(&claims, TokenKind::Id, None).count(), 1);
        // A protected name stored before validation refused it is still skipped.
        let mut stored = claims.clone();
        stored[2].name = "sub".into();
        assert_eq!(for_token(&stored, TokenKind::Id, Some(&user)).count(), 0);
    }
}
