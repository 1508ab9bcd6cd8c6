//! Client authentication at the endpoints that take it (token, revocation,
//! introspection, device authorization): the form is parsed once, the client
//! authenticated once, with throttling and usage counting.

use http::StatusCode;

use crate::client_auth::{AuthenticatedClient, authenticate, presented_credentials, throttle};
use crate::context::Context;
use crate::engine::Engine;
use crate::error::{ErrorCode, OAuthError};
use crate::http::{Form, FormError, Request, Response, parse_form};
use crate::platform::Platform;
use crate::store::Counters as _;
use crate::store::UsageEvent;
use crate::types::ClientId;

/// A form request of an authenticated client (revocation, introspection, device
/// authorization): the form and the client; a penalized pair's 429 as
/// `Ok(Err(response))`.
pub(crate) async fn authenticated_form<P: Platform>(
    engine: &Engine<P>,
    request: Request,
    cx: &mut Context<'_>,
) -> Result<Result<(Form, AuthenticatedClient), Response>, OAuthError> {
    let (parts, body) = request.into_parts();
    let form = parse_form(&parts.headers, &body).map_err(form_error)?;
    Ok(client(engine, &parts.headers, &form, cx).await?.map(|client| (form, client)))
}

/// The authenticated client; a penalized pair's 429 as `Ok(Err(response))`.
pub(crate) async fn client<P: Platform>(
    engine: &Engine<P>,
    headers: &http::HeaderMap,
    form: &Form,
    cx: &mut Context<'_>,
) -> Result<Result<AuthenticatedClient, Response>, OAuthError> {
    let presented = presented_credentials(headers, form)?;
    let presented_id = presented.client_id.clone();
    let attempt = throttle::Attempt::new(&presented_id, headers);
    if let Some(refused) = refuse_if_penalized(engine, &attempt, &presented_id, cx) {
        return Ok(Err(refused));
    }
    match authenticate(engine, presented, cx.now()).await {
        Ok(client) => Ok(Ok(client)),
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
            match count_failure(engine, attempt, &refusal.error, cx).await {
                Some(refused) => Ok(Err(refused)),
                None => Err(refusal.error),
            }
        }
    }
}

pub(crate) fn form_error(error: FormError) -> OAuthError {
    match error {
        FormError::ContentType => {
            OAuthError::invalid_request("content type must be application/x-www-form-urlencoded")
        }
        FormError::TooLarge => OAuthError::invalid_request("request body too large")
            .with_status(StatusCode::PAYLOAD_TOO_LARGE),
        FormError::NotUtf8 => OAuthError::invalid_request("request body is not utf-8"),
        // RFC 8707 allows several `resource` parameters; a token here is for one API.
        FormError::Duplicate(name) if name == "resource" => OAuthError::new(
            ErrorCode::InvalidTarget,
            "one resource per token request: request a token for each resource",
        ),
        FormError::Duplicate(_) => {
            OAuthError::invalid_request("a parameter was sent more than once")
        }
    }
}

/// Before the credentials are checked: the 429 for a pair this isolate knows to be
/// penalized. No store call either way.
fn refuse_if_penalized<P: Platform>(
    engine: &Engine<P>,
    attempt: &throttle::Attempt,
    client_id: &ClientId,
    cx: &mut Context<'_>,
) -> Option<Response> {
    let now = cx.now();
    let until = engine.penalty_box().penalized_until(attempt, now)?;
    cx.diagnose(format!(
        "client {:?} refused at the token endpoint: penalized for failed authentications",
        client_id.as_str()
    ));
    Some(throttle::too_many_failures(until.as_secs().saturating_sub(now.as_secs())))
}

/// After the credentials were refused with `error`: counts the failure, and when
/// the pair has now failed too often, penalizes it in this isolate and returns the
/// 429 to answer instead. A counter that cannot be reached leaves the answer as it
/// was.
async fn count_failure<P: Platform>(
    engine: &Engine<P>,
    attempt: throttle::Attempt,
    error: &OAuthError,
    cx: &mut Context<'_>,
) -> Option<Response> {
    if error.code() != ErrorCode::InvalidClient {
        return None;
    }
    let now = cx.now();
    let counters = engine.platform().counters();
    let failures = match counters
        .add(&attempt.counter_key(), 1, now.plus(throttle::FAILURE_WINDOW_SECS), now)
        .await
    {
        Ok(failures) => failures,
        Err(err) => {
            cx.diagnose(format!("failed client authentication not counted: {err}"));
            return None;
        }
    };
    let secs = throttle::penalty_secs(failures)?;
    engine.penalty_box().impose(attempt, now.plus(secs), now);
    cx.diagnose(format!("{failures} failed client authentications: penalized for {secs} s"));
    Some(throttle::too_many_failures(secs))
}
