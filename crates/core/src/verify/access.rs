//! Access tokens (RFC 9068 section 4): `typ` of `at+jwt`, `iss` exactly, one of the
//! policy's audiences, the times.

use super::{Common, SignedToken, TokenPolicy, UnverifiedToken, VerifyError, check_times};
use crate::jose::{Algorithm, Jwks};
use crate::json::{self, Read as _};
use crate::platform::Verifier;
use crate::token::{ACCESS_TOKEN_TYP, AccessTokenClaims, Audience};
use crate::types::{ScopeSet, UnixTime};

/// What an access token must satisfy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessTokenPolicy {
    common: Common,
    audiences: Vec<String>,
    kept: Vec<String>,
}

impl AccessTokenPolicy {
    /// Tokens from `issuer` for `audience`, signed with ES256 or RS256, with 60 s leeway.
    #[must_use]
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            common: Common::new(issuer.into(), &[Algorithm::ES256, Algorithm::RS256]),
            audiences: vec![audience.into()],
            kept: Vec::new(),
        }
    }

    /// Also return these claims of a verified token ([`VerifiedAccessToken::kept`]),
    /// the ones the verifier reads itself excepted (the edge gateway forwards them).
    #[must_use]
    pub fn with_kept_claims(mut self, names: Vec<String>) -> Self {
        self.kept = names;
        self
    }

    /// Also accept tokens for `audience`.
    #[must_use]
    pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Accept only these algorithms.
    #[must_use]
    pub fn with_algorithms(mut self, algorithms: &[Algorithm]) -> Self {
        self.common.set_algorithms(algorithms);
        self
    }

    /// Clock-skew leeway for `exp`, `nbf` and `iat`, capped at [`MAX_LEEWAY_SECS`](super::MAX_LEEWAY_SECS).
    #[must_use]
    pub fn with_leeway(mut self, secs: u64) -> Self {
        self.common.set_leeway(secs);
        self
    }

    /// The issuer tokens must name exactly.
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.common.issuer
    }

    /// The audiences a token may name (one is enough).
    #[must_use]
    pub fn audiences(&self) -> &[String] {
        &self.audiences
    }

    /// The algorithms accepted.
    #[must_use]
    pub fn algorithms(&self) -> &[Algorithm] {
        &self.common.algorithms
    }

    /// The clock-skew leeway in seconds.
    #[must_use]
    pub fn leeway_secs(&self) -> u64 {
        self.common.leeway_secs
    }
}

/// A verified access token: the RFC 9068 claims plus the members Gatehouse adds when
/// an app is configured to include them, and the key that signed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAccessToken {
    /// The RFC 9068 claims.
    pub claims: AccessTokenClaims,
    /// `nbf`, when the token carries one.
    pub nbf: Option<UnixTime>,
    /// The `permissions` claim (an array of names; empty when absent).
    pub permissions: Vec<String>,
    /// The `roles` claim (an array of names; empty when absent).
    pub roles: Vec<String>,
    /// The `userinfo_claims` claim: the claims the authorization request's `claims`
    /// parameter asked `/userinfo` to return (empty when absent).
    pub userinfo_claims: Vec<String>,
    /// The claims the policy asked to keep ([`AccessTokenPolicy::with_kept_claims`])
    /// that the token carries, by name, each as text: a string as it is, any other
    /// value as its JSON.
    pub kept: Vec<(String, String)>,
    /// The `kid` of the key that verified the signature.
    pub kid: String,
}

impl TokenPolicy for AccessTokenPolicy {
    fn algorithms(&self) -> &[Algorithm] {
        &self.common.algorithms
    }

    fn accepts_typ(&self, typ: Option<&str>) -> bool {
        typ.is_some_and(is_access_token_typ)
    }
}

/// Everything read from the payload, in one pass.
struct Payload {
    iss: String,
    sub: String,
    aud: Audience,
    exp: UnixTime,
    iat: UnixTime,
    jti: String,
    client_id: String,
    scope: ScopeSet,
    nbf: Option<UnixTime>,
    permissions: Vec<String>,
    roles: Vec<String>,
    userinfo_claims: Vec<String>,
    kept: Vec<(String, String)>,
}

impl json::Read for Payload {
    fn read(r: &mut json::Reader<'_>) -> json::Result<Self> {
        Self::read_keeping(r, &[])
    }
}

impl Payload {
    /// Reads the payload, and the members named in `keep` as text (a repeated one
    /// is refused, like a repeated registered claim).
    fn read_keeping(r: &mut json::Reader<'_>, keep: &[String]) -> json::Result<Self> {
        let mut kept: Vec<(String, String)> = Vec::new();
        let (mut iss, mut sub, mut aud, mut exp, mut iat) = (None, None, None, None, None);
        let (mut jti, mut client_id, mut scope, mut nbf) = (None, None, None, None);
        let (mut permissions, mut roles, mut userinfo_claims) = (None, None, None);
        r.object(&mut |r, key| match key {
            "iss" => json::once(&mut iss, String::read(r)?),
            "sub" => json::once(&mut sub, String::read(r)?),
            "aud" => json::once(&mut aud, Audience::read(r)?),
            "exp" => json::once(&mut exp, UnixTime::read(r)?),
            "iat" => json::once(&mut iat, UnixTime::read(r)?),
            "jti" => json::once(&mut jti, String::read(r)?),
            "client_id" => json::once(&mut client_id, String::read(r)?),
            "scope" => json::once(&mut scope, ScopeSet::read(r)?),
            "nbf" => json::once(&mut nbf, Option::read(r)?),
            "permissions" => json::once(&mut permissions, Vec::read(r)?),
            "roles" => json::once(&mut roles, Vec::read(r)?),
            "userinfo_claims" => json::once(&mut userinfo_claims, Vec::read(r)?),
            _ if keep.iter().any(|k| k == key) => {
                if kept.iter().any(|(k, _)| k == key) {
                    return Err(json::Invalid);
                }
                let text = if r.at_string() {
                    String::read(r)?
                } else {
                    std::str::from_utf8(r.raw()?).map_err(|_| json::Invalid)?.trim().to_owned()
                };
                kept.push((key.to_owned(), text));
                Ok(())
            }
            _ => r.skip(),
        })?;
        Ok(Self {
            iss: iss.ok_or(json::Invalid)?,
            sub: sub.ok_or(json::Invalid)?,
            aud: aud.ok_or(json::Invalid)?,
            exp: exp.ok_or(json::Invalid)?,
            iat: iat.ok_or(json::Invalid)?,
            jti: jti.ok_or(json::Invalid)?,
            client_id: client_id.ok_or(json::Invalid)?,
            scope: scope.unwrap_or_default(),
            nbf: nbf.flatten(),
            permissions: permissions.unwrap_or_default(),
            roles: roles.unwrap_or_default(),
            userinfo_claims: userinfo_claims.unwrap_or_default(),
            kept,
        })
    }
}

/// Verifies an access token against `jwks` and `policy` at `now`.
///
/// # Errors
///
/// [`VerifyError`] naming the first check that failed.
///
/// # Security
///
/// The token is untrusted input. Nothing in it is believed before the signature is
/// checked with a key chosen by `kid` from `jwks` *and* allowed for the token's `alg`
/// by both the policy and the key's own type and `alg`.
pub async fn verify_access_token<C: Verifier>(
    crypto: &C,
    jwks: &Jwks,
    policy: &AccessTokenPolicy,
    token: &str,
    now: UnixTime,
) -> Result<AccessTokenClaims, VerifyError> {
    verify_access_token_full(crypto, jwks, policy, token, now).await.map(|v| v.claims)
}

/// Like [`verify_access_token`], and also returns `permissions`, `roles`, `nbf` and
/// the signing key's `kid` (the edge gateway forwards and caches them).
///
/// # Errors
///
/// [`VerifyError`] naming the first check that failed.
///
/// # Security
///
/// As [`verify_access_token`]: every check runs, in the same order.
pub async fn verify_access_token_full<C: Verifier>(
    crypto: &C,
    jwks: &Jwks,
    policy: &AccessTokenPolicy,
    token: &str,
    now: UnixTime,
) -> Result<VerifiedAccessToken, VerifyError> {
    let unverified = UnverifiedToken::check(jwks, policy, token)?;
    let valid = crypto
        .verify(unverified.key, unverified.alg, unverified.signing_input, &unverified.signature)
        .await
        .map_err(|_| VerifyError::Signature)?;
    unverified.signature_checked(valid)?.claims(policy, now)
}

impl SignedToken {
    /// Checks the claims: `iss` exactly, `aud`, then `exp` / `nbf` / `iat` with the
    /// policy's leeway at `now`.
    ///
    /// # Errors
    ///
    /// [`VerifyError`] naming the first check that failed.
    pub fn claims(
        self,
        policy: &AccessTokenPolicy,
        now: UnixTime,
    ) -> Result<VerifiedAccessToken, VerifyError> {
        // The payload is signed by a trusted issuer by now; one pass, no intermediate map.
        let mut reader = json::Reader::new(&self.payload);
        let payload = Payload::read_keeping(&mut reader, &policy.kept)
            .and_then(|p| reader.end().map(|()| p))
            .map_err(|_| VerifyError::Claims)?;
        if payload.iss != policy.common.issuer {
            return Err(VerifyError::Issuer);
        }
        if !policy.audiences.iter().any(|a| payload.aud.contains(a)) {
            return Err(VerifyError::Audience);
        }
        check_times(payload.exp, payload.nbf, payload.iat, now, policy.common.leeway_secs)?;
        Ok(VerifiedAccessToken {
            claims: AccessTokenClaims {
                iss: payload.iss,
                sub: payload.sub,
                aud: payload.aud,
                exp: payload.exp,
                iat: payload.iat,
                jti: payload.jti,
                client_id: payload.client_id,
                scope: payload.scope,
            },
            nbf: payload.nbf,
            permissions: payload.permissions,
            roles: payload.roles,
            userinfo_claims: payload.userinfo_claims,
            kept: payload.kept,
            kid: self.kid,
        })
    }
}

/// `typ` compares as a media type: case-insensitive, `application/` optional
/// (RFC 7515 section 4.1.9, RFC 9068 section 4).
fn is_access_token_typ(typ: &str) -> bool {
    let typ = typ.to_ascii_lowercase();
    typ == ACCESS_TOKEN_TYP || typ.strip_prefix("application/") == Some(ACCESS_TOKEN_TYP)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::testing::document;

    /// The payload as serde read it: the reader must agree.
    #[derive(serde::Deserialize)]
    struct SerdePayload {
        iss: String,
        sub: String,
        aud: Audience,
        exp: UnixTime,
        iat: UnixTime,
        jti: String,
        client_id: String,
        #[serde(default)]
        scope: ScopeSet,
        #[serde(default)]
        nbf: Option<UnixTime>,
        #[serde(default)]
        permissions: Vec<String>,
        #[serde(default)]
        roles: Vec<String>,
    }

    type Fields = (
        String,
        String,
        Audience,
        UnixTime,
        UnixTime,
        String,
        String,
        ScopeSet,
        Option<UnixTime>,
        Vec<String>,
        Vec<String>,
    );

    fn payload_values(key: &str) -> Vec<&'static str> {
        match key {
            "aud" => vec!["\"api\"", "[\"api\",\"b\"]"],
            "exp" | "iat" | "nbf" => vec!["1700000000", "null"],
            "scope" => vec!["\"a b\"", "\"\"", "\"a  b\"", "null"],
            "permissions" | "roles" => vec!["[\"read\"]", "[]", "null"],
            _ => vec!["\"s\"", "null"],
        }
    }

    const PAYLOAD: &[&str] = &[
        "iss",
        "sub",
        "aud",
        "exp",
        "iat",
        "jti",
        "client_id",
        "scope",
        "nbf",
        "permissions",
        "roles",
    ];
    const PAYLOAD_BASE: &[&str] = &[
        "\"iss\":\"i\"",
        "\"sub\":\"u\"",
        "\"aud\":\"api\"",
        "\"exp\":9",
        "\"iat\":1",
        "\"jti\":\"j\"",
        "\"client_id\":\"c\"",
    ];

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        #[test]
        fn payloads_read_as_serde_read_them(doc in document(PAYLOAD, payload_values, PAYLOAD_BASE)) {
            let ours: Option<Fields> = json::from_slice::<Payload>(&doc).ok().map(|p| {
                (p.iss, p.sub, p.aud, p.exp, p.iat, p.jti, p.client_id, p.scope, p.nbf, p.permissions, p.roles)
            });
            let serde: Option<Fields> = serde_json::from_slice::<SerdePayload>(&doc).ok().map(|p| {
                (p.iss, p.sub, p.aud, p.exp, p.iat, p.jti, p.client_id, p.scope, p.nbf, p.permissions, p.roles)
            });
            proptest::prop_assert_eq!(ours, serde);
        }
    }

    #[test]
    fn typ_comparison() {
        assert!(is_access_token_typ("at+jwt"));
        assert!(is_access_token_typ("AT+JWT"));
        assert!(is_access_token_typ("application/at+jwt"));
        assert!(!is_access_token_typ("JWT"));
        assert!(!is_access_token_typ("application/jwt"));
    }

    #[test]
    fn leeway_is_capped() {
        let policy = AccessTokenPolicy::new("i", "a").with_leeway(10_000);
        assert_eq!(policy.common.leeway_secs, crate::verify::MAX_LEEWAY_SECS);
    }
}
