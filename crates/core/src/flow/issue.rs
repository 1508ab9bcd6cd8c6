//! What a grant issues, and minting it: shared by every grant.

use crate::client_auth::AuthenticatedClient;
use crate::context::Context;
use crate::engine::Engine;
use crate::error::OAuthError;
use crate::platform::Platform;
use crate::token::{AccessTokenClaims, Audience, mint_access_token, random_id};
use crate::types::ScopeSet;

/// What a grant issues: an access token, for now (refresh and ID tokens join here
/// with the flows that issue them).
pub(crate) struct Issued {
    /// The access token.
    pub(crate) access_token: String,
    /// Its lifetime in seconds.
    pub(crate) expires_in: u64,
    /// The scope it carries.
    pub(crate) scope: ScopeSet,
}

/// An access token for `subject` of `client`, for one audience.
pub(crate) struct AccessGrant<'a> {
    /// The user, or the client itself for client credentials.
    pub(crate) subject: &'a str,
    /// The `aud`: the resource the token is for.
    pub(crate) audience: String,
    /// The scope it carries.
    pub(crate) scope: ScopeSet,
    /// Its lifetime in seconds.
    pub(crate) lifetime: u64,
    /// The signing algorithm.
    pub(crate) alg: crate::jose::Algorithm,
}

/// Mints the access token of `grant` for `client`.
pub(crate) async fn access_token<P: Platform>(
    engine: &Engine<P>,
    client: &AuthenticatedClient,
    grant: AccessGrant<'_>,
    cx: &mut Context<'_>,
) -> Result<Issued, OAuthError> {
    let now = cx.now();
    let config = engine.config();
    let ring = engine.keyring(now).await?;
    let key =
        ring.signing_key(grant.alg, now, &config.kek).map_err(|_| OAuthError::server_error())?;
    let claims = AccessTokenClaims {
        iss: config.issuer.as_str().to_owned(),
        sub: grant.subject.to_owned(),
        aud: Audience::one(grant.audience),
        exp: now.plus(grant.lifetime),
        iat: now,
        jti: random_id(cx.rng(), 16),
        client_id: client.client_id.as_str().to_owned(),
        scope: grant.scope.clone(),
    };
    let access_token = mint_access_token(engine.platform().crypto(), &key, &claims)
        .await
        .map_err(|_| OAuthError::server_error())?;
    Ok(Issued { access_token, expires_in: grant.lifetime, scope: grant.scope })
}
