//! JWT client authentication (RFC 7523 sections 2.2 and 3, OpenID Connect Core
//! section 9): `client_secret_jwt`, an assertion MACed with HS256 under the client
//! secret, and `private_key_jwt`, an assertion signed with a key of the app's
//! registered JWKS.
//!
//! An assertion is believed only after its MAC or signature checks out; then `iss`
//! and `sub` must both be the client id, `aud` must be this issuer's identifier as a
//! single string, `exp` must be near (at most [`MAX_ASSERTION_LIFETIME_SECS`] ahead),
//! `nbf` and `iat` must not be in the future, and the `jti` must not have been seen
//! before: the take-once store remembers it until the assertion expires, so a
//! captured assertion cannot be replayed.
//!
//! # Security
//!
//! The audience is exactly the issuer identifier, never the token endpoint URL and
//! never an array, even one holding only the issuer (draft-ietf-oauth-rfc7523bis,
//! section 4): an assertion a client made for another server whose token endpoint
//! or issuer a malicious server chose, or whose audience list the client
//! assembled from such a server's metadata, must not work here.

use hmac::Mac as _;
use serde::Deserialize;

use crate::jose::{Algorithm, DecodedJws, Jwks};
use crate::platform::Verifier;
use crate::store::schema;
use crate::types::{ClientId, UnixTime};

/// The `client_assertion_type` of a JWT assertion (RFC 7523 section 2.2).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// How far ahead an assertion's `exp` may lie. The replay cache holds each `jti`
/// until `exp`, so this also bounds its size.
pub const MAX_ASSERTION_LIFETIME_SECS: u64 = 3600;
/// Clock-skew leeway for `exp`, `nbf` and `iat`.
pub const ASSERTION_LEEWAY_SECS: u64 = 60;
/// The longest `jti` accepted.
const MAX_JTI_CHARS: usize = 256;
/// At most this many keys are tried for an assertion without `kid`.
const MAX_KEYS_TRIED: usize = 4;

/// How an assertion is protected, from its `alg` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssertionAlg {
    /// HMAC-SHA-256 under the client secret (`client_secret_jwt`). Only HS256: the
    /// secret Gatehouse generates is too short to key HS384 or HS512 (RFC 7518
    /// section 3.2 wants a key at least as long as the hash).
    HS256,
    /// A signature by one of the app's keys (`private_key_jwt`).
    Signature(Algorithm),
}

impl AssertionAlg {
    fn from_name(name: &str) -> Option<Self> {
        if name == "HS256" {
            Some(Self::HS256)
        } else {
            Algorithm::from_name(name).map(Self::Signature)
        }
    }
}

/// Why an assertion was refused: for logs and tests. On the wire every reason is the
/// same `invalid_client`, so a caller cannot probe which check failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AssertionError {
    /// Not a compact JWS, too large, an unknown `alg` or `crit`, or a wrong `typ`.
    Malformed,
    /// The claims lack `iss`, `sub`, `aud`, `exp` or `jti`, or `iss` differs from `sub`.
    Claims,
    /// No registered key fits, or the secret cannot be opened.
    NoKey,
    /// The MAC or signature does not verify.
    Signature,
    /// `aud` is not the issuer identifier as a single string.
    Audience,
    /// Expired, too long-lived, or not yet valid.
    Time,
    /// The `jti` was used before.
    Replayed,
    /// The app's `jwks_uri` is not a destination the issuer may fetch (a private
    /// network, or plain `http`), so it was not fetched.
    Destination,
}

impl std::fmt::Display for AssertionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Malformed => "assertion malformed (shape, alg, crit or typ)",
            Self::Claims => "assertion claims missing or iss differs from sub",
            Self::NoKey => "no registered key or secret fits the assertion",
            Self::Signature => "assertion signature or MAC does not verify",
            Self::Audience => "assertion aud is not the issuer identifier as a single string",
            Self::Time => "assertion expired, not yet valid, or exp too far ahead",
            Self::Replayed => "assertion jti already used",
            Self::Destination => "jwks_uri refused: not a public https destination",
        })
    }
}

/// The claims RFC 7523 section 3 and OIDC Core section 9 require.
#[derive(Debug, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    /// Any JSON value: only a string equal to the issuer passes.
    aud: serde_json::Value,
    exp: UnixTime,
    jti: String,
    #[serde(default)]
    nbf: Option<UnixTime>,
    #[serde(default)]
    iat: Option<UnixTime>,
}

/// A client assertion read from a token request, its MAC or signature not yet checked.
#[derive(Debug)]
pub struct ClientAssertion {
    alg: AssertionAlg,
    kid: Option<String>,
    signing_input: String,
    signature: Vec<u8>,
    claims: Claims,
    client_id: ClientId,
}

impl ClientAssertion {
    /// Reads an assertion without believing it: only its shape and the client it
    /// claims to come from.
    ///
    /// # Errors
    ///
    /// [`AssertionError::Malformed`] or [`AssertionError::Claims`].
    pub fn parse(token: &str) -> Result<Self, AssertionError> {
        let decoded = DecodedJws::decode(token).map_err(|_| AssertionError::Malformed)?;
        let alg = AssertionAlg::from_name(&decoded.alg).ok_or(AssertionError::Malformed)?;
        // An access or ID token is not a client assertion (RFC 8725 section 3.11).
        if let Some(typ) = decoded.typ.as_deref() {
            let typ = typ.strip_prefix("application/").unwrap_or(typ);
            if !typ.eq_ignore_ascii_case("JWT")
                && !typ.eq_ignore_ascii_case("client-authentication+jwt")
            {
                return Err(AssertionError::Malformed);
            }
        }
        if decoded.payload.first() != Some(&b'{') {
            return Err(AssertionError::Claims);
        }
        let claims: Claims =
            serde_json::from_slice(&decoded.payload).map_err(|_| AssertionError::Claims)?;
        if claims.iss != claims.sub
            || claims.jti.is_empty()
            || claims.jti.chars().count() > MAX_JTI_CHARS
        {
            return Err(AssertionError::Claims);
        }
        let client_id = ClientId::new(&claims.sub).map_err(|_| AssertionError::Claims)?;
        Ok(Self {
            alg,
            kid: decoded.kid,
            signing_input: decoded.signing_input.to_owned(),
            signature: decoded.signature,
            claims,
            client_id,
        })
    }

    /// The client the assertion claims to come from (`sub`).
    #[must_use]
    pub fn client_id(&self) -> &ClientId {
        &self.client_id
    }

    /// How the assertion is protected.
    #[must_use]
    pub fn alg(&self) -> AssertionAlg {
        self.alg
    }

    /// Checks the HS256 MAC with the client secret, in constant time.
    ///
    /// # Errors
    ///
    /// [`AssertionError::NoKey`] for a signature assertion, [`AssertionError::Signature`]
    /// for a wrong MAC.
    pub fn check_mac(&self, secret: &[u8]) -> Result<(), AssertionError> {
        if self.alg != AssertionAlg::HS256 {
            return Err(AssertionError::NoKey);
        }
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret)
            .map_err(|_| AssertionError::NoKey)?;
        mac.update(self.signing_input.as_bytes());
        mac.verify_slice(&self.signature).map_err(|_| AssertionError::Signature)
    }

    /// Checks the signature with a key of `jwks`: the one named by `kid`, or without a
    /// `kid` each key that fits the algorithm (at most a few).
    ///
    /// # Errors
    ///
    /// [`AssertionError::NoKey`] when no key fits, [`AssertionError::Signature`] when
    /// none verifies.
    pub async fn check_signature<C: Verifier>(
        &self,
        crypto: &C,
        jwks: &Jwks,
    ) -> Result<(), AssertionError> {
        let AssertionAlg::Signature(alg) = self.alg else { return Err(AssertionError::NoKey) };
        let candidates = jwks
            .keys
            .iter()
            .filter(|key| match (&self.kid, &key.kid) {
                (Some(wanted), Some(kid)) => wanted == kid.as_str(),
                (Some(_), None) => false,
                (None, _) => true,
            })
            .filter(|key| key.check_for(alg).is_ok())
            .take(MAX_KEYS_TRIED);
        let mut tried = false;
        for key in candidates {
            tried = true;
            let input = self.signing_input.as_bytes();
            if crypto.verify(key, alg, input, &self.signature).await.unwrap_or(false) {
                return Ok(());
            }
        }
        Err(if tried { AssertionError::Signature } else { AssertionError::NoKey })
    }

    /// Checks the claims once the MAC or signature is good: `aud` must be `issuer`
    /// (the issuer identifier) as a single string, and the times must hold at `now`. Returns the key under which to remember the `jti` and until
    /// when.
    ///
    /// # Errors
    ///
    /// [`AssertionError::Audience`] or [`AssertionError::Time`].
    pub fn check_claims(
        &self,
        issuer: &str,
        now: UnixTime,
    ) -> Result<(String, UnixTime), AssertionError> {
        let claims = &self.claims;
        if claims.aud.as_str() != Some(issuer) {
            return Err(AssertionError::Audience);
        }
        let leeway = ASSERTION_LEEWAY_SECS;
        if now.minus(leeway) >= claims.exp
            || claims.exp > now.plus(MAX_ASSERTION_LIFETIME_SECS + leeway)
            || claims.nbf.is_some_and(|nbf| nbf > now.plus(leeway))
            || claims.iat.is_some_and(|iat| iat > now.plus(leeway))
        {
            return Err(AssertionError::Time);
        }
        let digest = <sha2::Sha256 as sha2::Digest>::digest(claims.jti.as_bytes());
        let key = schema::assertion(self.client_id.as_str(), &digest);
        Ok((key, claims.exp.plus(leeway)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::b64url;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef0123456789a";

    fn hs256(header: &str, claims: &str, secret: &[u8]) -> String {
        let input = format!("{}.{}", b64url(header.as_bytes()), b64url(claims.as_bytes()));
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
        mac.update(input.as_bytes());
        format!("{input}.{}", b64url(&mac.finalize().into_bytes()))
    }

    fn claims(exp: u64) -> String {
        format!(
            r#"{{"iss":"app1","sub":"app1","aud":"https://id.example","exp":{exp},"jti":"j1"}}"#
        )
    }

    #[test]
    fn a_good_hs256_assertion_passes_every_check() {
        let token = hs256(r#"{"alg":"HS256","typ":"JWT"}"#, &claims(1_060), SECRET);
        let assertion = ClientAssertion::parse(&token).unwrap();
        assert_eq!(assertion.client_id().as_str(), "app1");
        assertion.check_mac(SECRET).unwrap();
        let (key, until) =
            assertion.check_claims("https://id.example", UnixTime::from_secs(1_000)).unwrap();
        assert!(key.starts_with("assertion/app1/"));
        assert_eq!(until, UnixTime::from_secs(1_120));
    }

    #[test]
    fn a_wrong_secret_fails_the_mac() {
        let token = hs256(r#"{"alg":"HS256"}"#, &claims(1_060), b"another secret entirely, long");
        let assertion = ClientAssertion::parse(&token).unwrap();
        assert_eq!(assertion.check_mac(SECRET), Err(AssertionError::Signature));
    }

    #[test]
    fn shapes_and_types_that_are_not_assertions_are_refused() {
        for header in [
            r#"{"alg":"none"}"#,
            r#"{"alg":"HS512"}"#,
            r#"{"alg":"HS256","typ":"at+jwt"}"#,
            r#"{"alg":"HS256","crit":["b64"]}"#,
        ] {
            let token = hs256(header, &claims(1_060), SECRET);
            assert_eq!(ClientAssertion::parse(&token).unwrap_err(), AssertionError::Malformed);
        }
        for body in [
            r#"{"iss":"app1","sub":"app2","aud":"a","exp":1,"jti":"j"}"#,
            r#"{"iss":"app1","sub":"app1","aud":"a","exp":1}"#,
            r#"{"iss":"app1","sub":"app1","exp":1,"jti":"j"}"#,
            r#"{"iss":"app1","sub":"app1","aud":"a","exp":1,"jti":""}"#,
            r#"["app1"]"#,
        ] {
            let token = hs256(r#"{"alg":"HS256"}"#, body, SECRET);
            assert_eq!(
                ClientAssertion::parse(&token).unwrap_err(),
                AssertionError::Claims,
                "{body}"
            );
        }
        let typ_ok =
            hs256(r#"{"alg":"HS256","typ":"client-authentication+jwt"}"#, &claims(9), SECRET);
        assert!(ClientAssertion::parse(&typ_ok).is_ok());
    }

    #[test]
    fn audience_and_times_are_checked() {
        let now = UnixTime::from_secs(10_000);
        let check = |claims: &str| {
            let token = hs256(r#"{"alg":"HS256"}"#, claims, SECRET);
            ClientAssertion::parse(&token).unwrap().check_claims("https://id.example", now)
        };
        let with = |extra: &str| {
            format!(r#"{{"iss":"a","sub":"a","aud":"https://id.example","jti":"j",{extra}}}"#)
        };
        assert!(check(&with(r#""exp":10030"#)).is_ok());
        assert!(check(&with(r#""exp":9950"#)).is_ok(), "within leeway");
        assert_eq!(check(&with(r#""exp":9940"#)), Err(AssertionError::Time));
        assert_eq!(check(&with(r#""exp":20000"#)), Err(AssertionError::Time), "too long-lived");
        assert_eq!(check(&with(r#""exp":10030,"nbf":10100"#)), Err(AssertionError::Time));
        assert_eq!(check(&with(r#""exp":10030,"iat":10100"#)), Err(AssertionError::Time));
        let elsewhere =
            r#"{"iss":"a","sub":"a","aud":"https://other.example","exp":10030,"jti":"j"}"#;
        assert_eq!(check(elsewhere), Err(AssertionError::Audience));
    }

    /// draft-ietf-oauth-rfc7523bis section 4: the audience is the issuer identifier
    /// as a single string. The token endpoint URL and arrays, even an array holding
    /// only the issuer, are what the 2025 audience-injection attack relies on.
    #[test]
    fn rfc7523bis_audience_is_the_issuer_as_a_single_string() {
        let now = UnixTime::from_secs(10_000);
        let check = |aud: &str| {
            let claims = format!(r#"{{"iss":"a","sub":"a","aud":{aud},"exp":10030,"jti":"j"}}"#);
            let token = hs256(r#"{"alg":"HS256"}"#, &claims, SECRET);
            ClientAssertion::parse(&token).unwrap().check_claims("https://id.example", now)
        };
        assert!(check(r#""https://id.example""#).is_ok());
        for refused in [
            r#""https://id.example/token""#,
            r#"["https://id.example"]"#,
            r#"["https://id.example","https://id.example/token"]"#,
            r#"["https://attacker.example","https://id.example"]"#,
            r#""https://id.example/""#,
            r#""HTTPS://ID.EXAMPLE""#,
            r#"null"#,
            r#"{"aud":"https://id.example"}"#,
            r#"[]"#,
        ] {
            assert_eq!(check(refused), Err(AssertionError::Audience), "{refused}");
        }
    }

    #[test]
    fn a_signature_assertion_has_no_mac() {
        let token = hs256(r#"{"alg":"ES256"}"#, &claims(1_060), SECRET);
        let assertion = ClientAssertion::parse(&token).unwrap();
        assert_eq!(assertion.alg(), AssertionAlg::Signature(Algorithm::ES256));
        assert_eq!(assertion.check_mac(SECRET), Err(AssertionError::NoKey));
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,300}") {
            let _ = ClientAssertion::parse(&s);
        }
    }
}
