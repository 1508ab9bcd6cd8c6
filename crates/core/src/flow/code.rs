//! The authorization code grant (RFC 6749 section 4.1.3, OpenID Connect Core
//! section 3.1.3): a code redeems once, within [`CODE_SECS`], by the client it was
//! issued to, with the redirect URI and the PKCE verifier of its request. A second
//! redemption fails and revokes the refresh family the first one started (RFC 6749
//! section 4.1.2, RFC 9700 section 4.5): the family is named after the code, so
//! the replay finds it without any lookup.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::issue::{Issued, UserGrant, app_of, for_user};
use super::refresh;
use super::request::{AuthorizationRequest, SignedIn};
use crate::client_auth::AuthenticatedClient;
use crate::context::Context;
use crate::engine::{Engine, store_error};
use crate::error::{ErrorCode, OAuthError};
use crate::http::Form;
use crate::jose::b64url;
use crate::model::app::AppRecord;
use crate::platform::Platform;
use crate::store::schema;
use crate::store::{OnceStore, RefreshFamilies, Taken};

/// How long a code lives, in seconds.
pub(crate) const CODE_SECS: u64 = 60;

/// What an authorization code stands for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CodeGrant {
    pub(crate) client_id: String,
    /// The redirect URI, when the request sent one (the token request must repeat it).
    pub(crate) redirect_uri: Option<String>,
    pub(crate) code_challenge: Option<String>,
    pub(crate) nonce: Option<String>,
    /// The refresh family this code starts (named after the code).
    pub(crate) family: String,
    pub(crate) grant: UserGrant,
}

impl CodeGrant {
    /// The grant of `request` signed in as `signed_in`, starting the refresh family
    /// `family` ([`family_of`] its code).
    pub(crate) fn new(
        request: &AuthorizationRequest,
        signed_in: &SignedIn,
        family: String,
    ) -> Self {
        Self {
            client_id: request.client_id.clone(),
            redirect_uri: request.redirect_uri_sent.then(|| request.target.redirect_uri.clone()),
            code_challenge: request.code_challenge.clone(),
            nonce: request.nonce.clone(),
            family,
            grant: UserGrant {
                user_id: signed_in.user_id.clone(),
                scope: request.scope.clone(),
                audience: request.audience.clone(),
                access_lifetime: request.access_lifetime,
                access_alg: request.access_alg,
                auth_time: signed_in.auth_time,
                amr: signed_in.amr.clone(),
                sid: signed_in.sid.clone(),
                claims: request.claims.clone(),
                expires_at: None,
            },
        }
    }
}

/// The refresh family a code (or a device code's digest) starts.
pub(crate) fn family_of(code: &str) -> String {
    let mut digest = Sha256::new();
    digest.update(b"gatehouse refresh family\0");
    digest.update(code.as_bytes());
    b64url(digest.finalize().get(..16).unwrap_or_default())
}

fn invalid_grant(description: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidGrant, description)
}

/// Whether `verifier` is a well-formed PKCE verifier (RFC 7636 section 4.1) whose
/// S256 challenge is `challenge`.
fn pkce_ok(verifier: &str, challenge: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    well_formed
        && bool::from(
            b64url(&Sha256::digest(verifier.as_bytes())).as_bytes().ct_eq(challenge.as_bytes()),
        )
}

/// Takes the grant under `key` (an authorization code's, or an approved device
/// code's): the grant on the first take. A replay fails with `replayed` and
/// revokes the refresh family the first take started; `None` when there is no
/// such record (or it expired).
pub(super) async fn take_grant<P: Platform>(
    engine: &Engine<P>,
    key: &str,
    replayed: OAuthError,
    cx: &mut Context<'_>,
) -> Result<Option<CodeGrant>, OAuthError> {
    let platform = engine.platform();
    match platform.once().take(key, cx.now()).await.map_err(|e| store_error(&e))? {
        Taken::First(value) => {
            serde_json::from_slice(&value).map(Some).map_err(|_| OAuthError::server_error())
        }
        Taken::Again(value) => {
            if let Ok(grant) = serde_json::from_slice::<CodeGrant>(&value) {
                let _ = platform.families().revoke(&schema::family(&grant.family)).await;
            }
            cx.diagnose(format!("{key} was redeemed twice; what it issued is revoked"));
            Err(replayed)
        }
        Taken::Missing => Ok(None),
    }
}

/// The tokens of a redeemed grant: the access token, the ID token with `openid`,
/// and a refresh token (starting the grant's family) with `offline_access` when
/// the app issues them.
pub(super) async fn issue_grant<P: Platform>(
    engine: &Engine<P>,
    client: &AuthenticatedClient,
    app: &AppRecord,
    grant: &CodeGrant,
    cx: &mut Context<'_>,
) -> Result<Issued, OAuthError> {
    let scope = grant.grant.scope.clone();
    let mut issued =
        for_user(engine, client, app, &grant.grant, scope, grant.nonce.as_deref(), cx).await?;
    if app.refresh_tokens && grant.grant.scope.contains("offline_access") {
        issued.refresh_token =
            Some(refresh::start(engine, client, app, &grant.family, &grant.grant, cx).await?);
    }
    Ok(issued)
}

/// Redeems the code in `form` for `client`.
pub(super) async fn issue<P: Platform>(
    engine: &Engine<P>,
    client: &AuthenticatedClient,
    form: &Form,
    cx: &mut Context<'_>,
) -> Result<Issued, OAuthError> {
    let app = app_of(client)?;
    let Some(code) = form.get("code") else {
        return Err(OAuthError::invalid_request("code is required"));
    };
    let key = schema::code(&Sha256::digest(code.as_bytes()));
    let Some(grant) =
        take_grant(engine, &key, invalid_grant("the code was already used"), cx).await?
    else {
        return Err(invalid_grant("the code is invalid or expired"));
    };
    if grant.client_id != client.client_id.as_str() {
        return Err(invalid_grant("the code was issued to another client"));
    }
    match (&grant.redirect_uri, form.get("redirect_uri")) {
        (Some(expected), Some(sent)) if expected == sent => {}
        (None, None) => {}
        (None, Some(_)) | (Some(_), _) => {
            return Err(invalid_grant("redirect_uri differs from the authorization request"));
        }
    }
    match (&grant.code_challenge, form.get("code_verifier")) {
        (Some(challenge), Some(verifier)) if pkce_ok(verifier, challenge) => {}
        (Some(_), Some(_)) => return Err(invalid_grant("code_verifier does not match")),
        (Some(_), None) => return Err(invalid_grant("code_verifier is required")),
        // A verifier for a code issued without a challenge: a downgrade attempt.
        (None, Some(_)) => return Err(invalid_grant("the code was issued without pkce")),
        (None, None) => {}
    }
    issue_grant(engine, client, &app, &grant, cx).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_rfc7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(pkce_ok(verifier, challenge));
        assert!(!pkce_ok("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK", challenge));
        assert!(!pkce_ok("short", challenge));
    }
}
