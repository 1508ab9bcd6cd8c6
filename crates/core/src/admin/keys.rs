//! `/admin/v1/keys`: the signing keys' public parts, rotation, and the emergency
//! withdrawal of one key (`keys/{kid}/revoke`).

use http::StatusCode;
use serde_json::{Value, json};

use super::Call;
use super::problem::Problem;
use crate::context::Context;
use crate::http::{Response, json_response};
use crate::keys::Keyring;
use crate::platform::Platform;
use crate::store::KeyVault;
use crate::types::UnixTime;

/// Public parts and lifecycle of every key; never the sealed private key.
fn describe(ring: &Keyring, now: UnixTime) -> Value {
    let published = ring.jwks(now);
    let keys: Vec<Value> = ring
        .keys
        .iter()
        .map(|key| {
            let status = if key.activates_at > now {
                "next"
            } else if key.retires_at.is_some_and(|r| r <= now) {
                "previous"
            } else {
                "current"
            };
            let kid = key.kid().map(|k| k.as_str()).unwrap_or_default();
            json!({
                "kid": kid,
                "alg": key.public.alg,
                "status": status,
                "published": published.find(kid).is_some(),
                "created_at": key.created_at,
                "activates_at": key.activates_at,
                "retires_at": key.retires_at,
                "public_jwk": key.public,
            })
        })
        .collect();
    json!({ "keys": keys })
}

pub(super) async fn list<P: Platform>(
    call: &Call<'_, P>,
    cx: &mut Context<'_>,
) -> Result<Response, Problem> {
    let ring = call.engine.keyring(cx.now()).await.map_err(|_| Problem::unavailable())?;
    Ok(json_response(StatusCode::OK, &describe(&ring, cx.now())))
}

pub(super) async fn rotate<P: Platform>(
    call: &Call<'_, P>,
    cx: &mut Context<'_>,
) -> Result<Response, Problem> {
    let ring =
        call.engine.platform().keys().rotate(cx.now()).await.map_err(|_| Problem::unavailable())?;
    Ok(json_response(StatusCode::OK, &describe(&ring, cx.now())))
}

/// `POST /admin/v1/keys/{kid}/revoke`: withdraws the key at once (see
/// [`Keyring::withdraw`]) and answers the new key list; an unknown `kid` is 404.
pub(super) async fn revoke<P: Platform>(
    call: &Call<'_, P>,
    kid: &str,
    cx: &mut Context<'_>,
) -> Result<Response, Problem> {
    let ring = call
        .engine
        .platform()
        .keys()
        .revoke(kid, cx.now())
        .await
        .map_err(|_| Problem::unavailable())?
        .ok_or_else(|| Problem::not_found("no such key"))?;
    Ok(json_response(StatusCode::OK, &describe(&ring, cx.now())))
}
