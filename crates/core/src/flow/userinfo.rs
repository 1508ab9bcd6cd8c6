//! The userinfo endpoint (OpenID Connect Core section 5.3): the claims of the
//! user an access token was issued for, by the token's scopes. The token comes in
//! the `Authorization` header or, on POST, the form body (RFC 6750 sections 2.1
//! and 2.2, never both); errors are RFC 6750 challenges.

use http::{Method, StatusCode, header};
use serde_json::{Value, json};

use super::issue::grant_user;
use crate::context::Context;
use crate::engine::Engine;
use crate::error::{BearerChallenge, ErrorCode, OAuthError};
use crate::http::bearer::{self, Bearer};
use crate::http::{Request, Response, json_response, parse_form};
use crate::model::user_field::UserFieldSet;
use crate::platform::Platform;
use crate::store::{read_record, schema};
use crate::token::{released_claims, user_claims};
use crate::verify::{AccessTokenPolicy, VerifiedAccessToken, verify_access_token_full};

/// An RFC 6750 answer of the userinfo endpoint.
fn bearer_error(code: Option<ErrorCode>, description: &str) -> Response {
    BearerChallenge {
        realm: Some("gatehouse"),
        error: code,
        description: Some(description).filter(|d| !d.is_empty()),
        scope: None,
    }
    .into_response()
}

/// The access token a request presents, or the error to answer.
fn presented(request: &Request) -> Result<String, Box<Response>> {
    let header_token = bearer::from_headers(request.headers());
    let form_token = if request.method() == Method::POST
        && request.headers().contains_key(header::CONTENT_TYPE)
    {
        parse_form(request.headers(), request.body())
            .map_err(|_| {
                Box::new(bearer_error(
                    Some(ErrorCode::InvalidRequest),
                    "the request body is malformed",
                ))
            })?
            .get("access_token")
            .map(str::to_owned)
    } else {
        None
    };
    match (header_token, form_token) {
        (Bearer::Token(_), Some(_)) => Err(Box::new(bearer_error(
            Some(ErrorCode::InvalidRequest),
            "the token was sent more than one way",
        ))),
        (Bearer::Token(token), None) => Ok(token.to_owned()),
        (Bearer::Missing, Some(token)) => Ok(token),
        (Bearer::Malformed, _) => Err(Box::new(bearer_error(
            Some(ErrorCode::InvalidRequest),
            "the authorization header is malformed",
        ))),
        (Bearer::Missing, None) => Err(Box::new(bearer_error(None, ""))),
    }
}

/// Verifies an access token this issuer signed for `audience`.
pub(crate) async fn verify_own_access_token<P: Platform>(
    engine: &Engine<P>,
    token: &str,
    audience: &str,
    cx: &mut Context<'_>,
) -> Result<Option<VerifiedAccessToken>, OAuthError> {
    let ring = engine.keyring(cx.now()).await?;
    // The issuer's own tokens, on the issuer's own clock: no leeway.
    let policy = AccessTokenPolicy::new(engine.config().issuer.as_str(), audience).with_leeway(0);
    Ok(verify_access_token_full(
        engine.platform().crypto(),
        &ring.jwks(cx.now()),
        &policy,
        token,
        cx.now(),
    )
    .await
    .ok())
}

/// The userinfo endpoint.
pub(crate) async fn userinfo<P: Platform>(
    engine: &Engine<P>,
    request: Request,
    cx: &mut Context<'_>,
) -> Response {
    let token = match presented(&request) {
        Ok(token) => token,
        Err(response) => return *response,
    };
    let issuer = engine.config().issuer.as_str().to_owned();
    let verified = match verify_own_access_token(engine, &token, &issuer, cx).await {
        Ok(verified) => verified,
        Err(error) => return error.into_response(),
    };
    let (claims, asked) = match verified {
        Some(verified) => (verified.claims, verified.userinfo_claims),
        None => {
            return bearer_error(
                Some(ErrorCode::InvalidToken),
                "the access token is invalid or expired",
            );
        }
    };
    if !claims.scope.contains("openid") {
        return bearer_error(
            Some(ErrorCode::InsufficientScope),
            "the token lacks the openid scope",
        );
    }
    let user = match grant_user(engine, &claims.sub).await {
        Ok(user) => user,
        Err(error) if error.code() == ErrorCode::InvalidGrant => {
            return bearer_error(Some(ErrorCode::InvalidToken), "the user cannot sign in");
        }
        Err(error) => return error.into_response(),
    };
    let mut body =
        released_claims(claims.scope.iter().map(|s| s.as_str()), &asked, &user_claims(&user));
    // Custom fields whose scope the token holds, read only for a user with values.
    if !user.fields.is_empty() {
        let set: Option<UserFieldSet> =
            match read_record(&engine.cached_directory(cx.now()), schema::USER_FIELDS).await {
                Ok(set) => set,
                Err(err) => return crate::engine::store_error(&err).into_response(),
            };
        for (key, value) in
            set.unwrap_or_default().released(|s| claims.scope.contains(s), &user.fields)
        {
            body.entry(key).or_insert(value);
        }
    }
    body.insert("sub".into(), json!(user.id));
    json_response(StatusCode::OK, &Value::Object(body))
}
