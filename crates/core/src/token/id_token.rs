//! Minting ID tokens (OpenID Connect Core section 2): the identity claims of a
//! signed-in user for one client.

use serde_json::{Map, Value, json};

use crate::jose::{JwsHeader, encode_compact, signing_input};
use crate::keys::SigningKey;
use crate::platform::{CryptoError, Signer};

/// Signs the ID token `claims` (a JSON object, `iss sub aud exp iat` and whatever
/// applies) with `key`, typed `JWT`.
///
/// # Errors
///
/// [`CryptoError`] if signing fails.
pub async fn mint_id_token<C: Signer>(
    crypto: &C,
    key: &SigningKey<'_>,
    claims: &Map<String, Value>,
) -> Result<String, CryptoError> {
    let header = JwsHeader {
        alg: key.alg,
        typ: Some("JWT".to_owned()),
        kid: Some(key.kid.as_str().to_owned()),
    };
    let input = signing_input(&header, claims).map_err(|_| CryptoError)?;
    let signature = crypto.sign(key, input.as_bytes()).await?;
    Ok(encode_compact(&input, &signature))
}

/// The standard claims each scope releases (OpenID Connect Core section 5.4).
pub const SCOPE_CLAIMS: &[(&str, &[&str])] = &[
    (
        "profile",
        &[
            "name",
            "family_name",
            "given_name",
            "middle_name",
            "nickname",
            "preferred_username",
            "profile",
            "picture",
            "website",
            "gender",
            "birthdate",
            "zoneinfo",
            "locale",
            "updated_at",
        ],
    ),
    ("email", &["email", "email_verified"]),
    ("address", &["address"]),
    ("phone", &["phone_number", "phone_number_verified"]),
];

/// The user claims released for `scopes` plus the individually `requested` ones
/// (the `claims` request parameter), taken from `available` (a user's claims, with
/// `updated_at` and `preferred_username` filled in by the caller).
#[must_use]
pub fn released_claims<'a>(
    scopes: impl Iterator<Item = &'a str>,
    requested: &[String],
    available: &Map<String, Value>,
) -> Map<String, Value> {
    let mut names: Vec<&str> = Vec::new();
    for scope in scopes {
        if let Some((_, claims)) = SCOPE_CLAIMS.iter().find(|(s, _)| *s == scope) {
            names.extend_from_slice(claims);
        }
    }
    names.extend(requested.iter().map(String::as_str));
    let mut out = Map::new();
    for name in names {
        if let Some(value) = available.get(name) {
            out.insert(name.to_owned(), value.clone());
        }
    }
    out
}

/// The claims of a user as the flows release them: the stored standard claims,
/// `preferred_username` defaulting to the username, and `updated_at` as seconds.
#[must_use]
pub fn user_claims(user: &crate::model::user::UserRecord) -> Map<String, Value> {
    let mut claims = user.claims.clone();
    claims.entry("preferred_username").or_insert_with(|| json!(user.username));
    claims.insert("updated_at".into(), json!(user.updated_at));
    claims
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_release_their_claims_only() {
        let available = json!({
            "email": "ada@example.com", "email_verified": true, "name": "Ada",
            "phone_number": "+1 555", "address": {"country": "UK"}
        });
        let Value::Object(available) = available else { unreachable!() };
        let out = released_claims(["openid", "email"].into_iter(), &[], &available);
        assert_eq!(out.len(), 2);
        assert_eq!(out["email"], "ada@example.com");
        let out = released_claims(["openid"].into_iter(), &["name".to_owned()], &available);
        assert_eq!(out.keys().collect::<Vec<_>>(), ["name"]);
        let out = released_claims(["profile", "phone", "address"].into_iter(), &[], &available);
        assert!(out.contains_key("name") && out.contains_key("phone_number"));
        assert!(out.contains_key("address") && !out.contains_key("email"));
    }
}
