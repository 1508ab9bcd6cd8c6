//! Token revocation (RFC 7009) and introspection (RFC 7662), for the client the
//! token was issued to.
//!
//! Refresh tokens are found in their family by the digest bound to the calling
//! client, so another client's token is simply unknown: revoking it does nothing,
//! introspecting it says `active: false`. Access tokens are self-contained JWTs
//! that live minutes: revoking one is accepted and does nothing (section 2.2 lets
//! a server decline), and its owner's refresh family is what to revoke.

use http::StatusCode;
use serde_json::{Value, json};

use super::client::authenticated_form;
use super::issue::UserGrant;
use super::refresh::{family_of, token_digest};
use super::userinfo::verify_own_access_token;
use crate::client_auth::AuthenticatedClient;
use crate::context::Context;
use crate::engine::{Engine, store_error};
use crate::error::OAuthError;
use crate::http::{Request, Response, json_response};
use crate::platform::Platform;
use crate::store::RefreshFamilies;
use crate::store::schema;
use crate::verify::{VerifiedAccessToken, peek_claims_audience};

/// The `token` an authenticated client presents (RFC 7009 section 2.1, RFC 7662
/// section 2.1); a penalized pair's 429 as `Ok(Err(response))`.
async fn presented_token<P: Platform>(
    engine: &Engine<P>,
    request: Request,
    cx: &mut Context<'_>,
) -> Result<Result<(String, AuthenticatedClient), Response>, OAuthError> {
    let (form, client) = match authenticated_form(engine, request, cx).await? {
        Ok(authenticated) => authenticated,
        Err(refused) => return Ok(Err(refused)),
    };
    let token = form.get("token").ok_or(OAuthError::invalid_request("token is required"))?;
    Ok(Ok((token.to_owned(), client)))
}

/// `POST /revoke`.
pub(crate) async fn revoke<P: Platform>(
    engine: &Engine<P>,
    request: Request,
    cx: &mut Context<'_>,
) -> Result<Response, OAuthError> {
    let (token, client) = match presented_token(engine, request, cx).await? {
        Ok(presented) => presented,
        Err(refused) => return Ok(refused),
    };
    let token = token.as_str();
    if let Some(family) = family_of(token) {
        let key = schema::family(family);
        let families = engine.platform().families();
        let digest = token_digest(client.client_id.as_str(), token);
        if families.inspect(&key, &digest, cx.now()).await.map_err(|e| store_error(&e))?.is_some() {
            families.revoke(&key).await.map_err(|e| store_error(&e))?;
        }
    }
    let mut response = Response::new(Vec::new());
    *response.status_mut() = StatusCode::OK;
    crate::http::no_store(response.headers_mut());
    Ok(response)
}

/// `POST /introspect`.
pub(crate) async fn introspect<P: Platform>(
    engine: &Engine<P>,
    request: Request,
    cx: &mut Context<'_>,
) -> Result<Response, OAuthError> {
    let (token, client) = match presented_token(engine, request, cx).await? {
        Ok(presented) => presented,
        Err(refused) => return Ok(refused),
    };
    let token = token.as_str();
    let inactive = || json_response(StatusCode::OK, &json!({ "active": false }));
    let client_id = client.client_id.as_str();
    if let Some(family) = family_of(token) {
        let digest = token_digest(client_id, token);
        let data = engine
            .platform()
            .families()
            .inspect(&schema::family(family), &digest, cx.now())
            .await
            .map_err(|e| store_error(&e))?;
        let Some(grant) = data.and_then(|d| serde_json::from_slice::<UserGrant>(&d).ok()) else {
            return Ok(inactive());
        };
        return Ok(json_response(
            StatusCode::OK,
            &json!({
                "active": true,
                "scope": grant.scope.to_string(),
                "client_id": client_id,
                "sub": grant.user_id,
                "iss": engine.config().issuer.as_str(),
                "token_type": "refresh_token",
                "exp": grant.expires_at,
            }),
        ));
    }
    // An access token: any of its audiences will do for the signature check; the
    // answer is for the client it was issued to only.
    let Some(audience) = peek_claims_audience(token) else { return Ok(inactive()) };
    let Some(VerifiedAccessToken { claims, .. }) =
        verify_own_access_token(engine, token, &audience, cx).await?
    else {
        return Ok(inactive());
    };
    if claims.client_id != client_id {
        return Ok(inactive());
    }
    let mut body = serde_json::to_value(&claims).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut body {
        map.insert("active".into(), json!(true));
        map.insert("token_type".into(), json!("Bearer"));
    }
    Ok(json_response(StatusCode::OK, &body))
}
