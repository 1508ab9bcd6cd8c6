//! The client credentials grant (RFC 6749 section 4.4).

use http::{HeaderMap, StatusCode};
use serde::Serialize;

use crate::client_auth::{AuthenticatedClient, authenticate, presented_credentials, throttle};
use crate::context::Context;
use crate::engine::Engine;
use crate::error::{ErrorCode, OAuthError};
use crate::http::{Form, Response, json_response};
use crate::platform::Platform;
use crate::policy::GrantType;
use crate::store::UsageEvent;
use crate::token::{AccessTokenClaims, Audience, mint_access_token, random_id};

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
    let presented_id = presented.client_id.clone();
    let attempt = throttle::Attempt::new(&presented_id, headers);
    if let Some(refused) = throttle::refuse_if_penalized(engine, &attempt, &presented_id, cx) {
        return Ok(refused);
    }
    let client = match authenticate(engine, presented, cx.now()).await {
        Ok(client) => client,
        Err(refusal) => {
            if let Some(app) =
                refusal.app.as_ref().filter(|_| refusal.error.code().is_client_fault())
            {
                cx.count_usage(app.as_str(), UsageEvent::Failure);
            }
            cx.diagnose(format!(
                "client {:?} refused at the token endpoint: {}",
                presented_id.as_str(),
                refusal.reason
            ));
            if let Some(refused) =
                throttle::count_failure(engine, attempt, &refusal.error, cx).await
            {
                return Ok(refused);
            }
            return Err(refusal.error);
        }
    };
    let issued = issue(engine, &client, form, cx).await;
    if client.registered {
        match &issued {
            Ok(_) => cx.count_usage(client.client_id.as_str(), UsageEvent::Login),
            Err(err) if err.code().is_client_fault() => {
                cx.count_usage(client.client_id.as_str(), UsageEvent::Failure);
            }
            Err(_) => {}
        }
    }
    issued
}

/// Issues the token once the client is known.
async fn issue<P: Platform>(
    engine: &Engine<P>,
    client: &AuthenticatedClient,
    form: &Form,
    cx: &mut Context<'_>,
) -> Result<Response, OAuthError> {
    if !client.grant_types.contains(&GrantType::ClientCredentials) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "the client may not use the client_credentials grant",
        ));
    }
    // RFC 6749 section 3.3: an omitted scope gets the client's default, which for
    // a server-to-server client is everything it holds (of one audience).
    let now = cx.now();
    let grant = super::audience::decide(engine, client, form, now).await?;
    let config = engine.config();
    let ring = engine.keyring(now).await?;
    let key =
        ring.signing_key(grant.alg, now, &config.kek).map_err(|_| OAuthError::server_error())?;
    let claims = AccessTokenClaims {
        iss: config.issuer.as_str().to_owned(),
        sub: client.client_id.as_str().to_owned(),
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
    Ok(json_response(
        StatusCode::OK,
        &TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: grant.lifetime,
            scope: grant.scope.to_string(),
        },
    ))
}
