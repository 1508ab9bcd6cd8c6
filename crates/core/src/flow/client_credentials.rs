//! The client credentials grant (RFC 6749 section 4.4).

use http::{HeaderMap, StatusCode};
use serde::Serialize;

use crate::client_auth::{authenticate, presented_credentials};
use crate::engine::{Context, Engine};
use crate::error::{ErrorCode, OAuthError};
use crate::http::{Form, Response, json_response};
use crate::platform::Platform;
use crate::policy::GrantType;
use crate::token::{AccessTokenClaims, Audience, mint_access_token, random_id};
use crate::types::ScopeSet;

#[derive(Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    scope: String,
}

pub(super) async fn grant<P: Platform>(
    engine: &Engine<P>,
    headers: &HeaderMap,
    form: &Form,
    cx: &mut Context<'_>,
) -> Result<Response, OAuthError> {
    let presented = presented_credentials(headers, form)?;
    let client = authenticate(engine, presented).await?;
    if !client.grant_types.contains(&GrantType::ClientCredentials) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "the client may not use the client_credentials grant",
        ));
    }
    // RFC 6749 section 3.3: an omitted scope gets the client's default, which for
    // a server-to-server client is everything it is allowed.
    let scope = match form.get("scope") {
        None => client.scopes.clone(),
        Some(raw) => ScopeSet::parse(raw)
            .map_err(|_| OAuthError::new(ErrorCode::InvalidScope, "scope is malformed"))?,
    };
    if !scope.is_subset(&client.scopes) {
        return Err(OAuthError::new(ErrorCode::InvalidScope, "scope not allowed for this client"));
    }
    let config = engine.config();
    let now = cx.now();
    let ring = engine.keyring(now).await?;
    let key = ring
        .signing_key(client.access_token_alg, now, &config.kek)
        .map_err(|_| OAuthError::server_error())?;
    let claims = AccessTokenClaims {
        iss: config.issuer.as_str().to_owned(),
        sub: client.client_id.as_str().to_owned(),
        aud: Audience::one(config.issuer.as_str()),
        exp: now.plus(client.access_token_lifetime),
        iat: now,
        jti: random_id(cx.rng(), 16),
        client_id: client.client_id.as_str().to_owned(),
        scope: scope.clone(),
    };
    let access_token = mint_access_token(engine.platform().crypto(), &key, &claims)
        .await
        .map_err(|_| OAuthError::server_error())?;
    Ok(json_response(
        StatusCode::OK,
        &TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: client.access_token_lifetime,
            scope: scope.to_string(),
        },
    ))
}
