//! Problem details for the management API (RFC 9457).
//!
//! Every refusal names what failed: `type` is a stable URN per kind of problem,
//! `detail` says what happened in words, and validation problems list each failing
//! field in `errors` as a JSON pointer with its own message.

use http::{HeaderValue, StatusCode, header};
use serde::Serialize;

pub use crate::model::FieldError;

use crate::error::{BearerChallenge, ErrorCode};
use crate::http::{Response, no_store};

/// The media type of a problem document (RFC 9457 section 6.1).
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A problem document on its way to the wire (boxed: it travels in `Err`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem(Box<ProblemBody>);

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct ProblemBody {
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'static str,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<FieldError>,
    #[serde(skip)]
    challenge: Option<String>,
    #[serde(skip)]
    allow: Option<&'static str>,
}

impl Problem {
    fn new(kind: &'static str, title: &'static str, status: StatusCode) -> Self {
        Self(Box::new(ProblemBody {
            kind,
            title,
            status: status.as_u16(),
            detail: None,
            errors: Vec::new(),
            challenge: None,
            allow: None,
        }))
    }

    /// Adds a human-readable explanation.
    #[must_use]
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.0.detail = Some(detail.into());
        self
    }

    /// 400: the body failed validation; `errors` names each failing field.
    #[must_use]
    pub fn invalid(errors: Vec<FieldError>) -> Self {
        let detail = match errors.as_slice() {
            [one] => format!("{}: {}", one.pointer, one.detail),
            _ => format!("{} fields are invalid", errors.len()),
        };
        let mut problem = Self::new(
            "urn:gatehouse:problem:validation",
            "Invalid request body",
            StatusCode::BAD_REQUEST,
        );
        problem.0.detail = Some(detail);
        problem.0.errors = errors;
        problem
    }

    /// 400: one field failed validation.
    #[must_use]
    pub fn invalid_field(pointer: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::invalid(vec![FieldError::new(pointer, detail)])
    }

    /// 400: the body is not JSON, or not an object.
    #[must_use]
    pub fn malformed(detail: impl Into<String>) -> Self {
        Self::new("urn:gatehouse:problem:malformed", "Malformed request", StatusCode::BAD_REQUEST)
            .detail(detail)
    }

    /// 401: no valid bearer token. `error` is set when a token was presented.
    #[must_use]
    pub fn unauthorized(token_presented: bool) -> Self {
        let mut problem = Self::new(
            "urn:gatehouse:problem:unauthorized",
            "Unauthorized",
            StatusCode::UNAUTHORIZED,
        )
        .detail(if token_presented {
            "the access token is invalid or expired"
        } else {
            "an access token is required"
        });
        let error = token_presented.then_some(ErrorCode::InvalidToken);
        problem.0.challenge = Some(
            BearerChallenge { realm: Some("gatehouse"), error, ..BearerChallenge::default() }
                .header_value(),
        );
        problem
    }

    /// 403: the token lacks `scope` (RFC 6750 section 3.1 `insufficient_scope`).
    #[must_use]
    pub fn insufficient_scope(scope: &str) -> Self {
        let mut problem = Self::new(
            "urn:gatehouse:problem:insufficient_scope",
            "Insufficient scope",
            StatusCode::FORBIDDEN,
        )
        .detail(format!("this operation needs the scope {scope}"));
        problem.0.challenge = Some(
            BearerChallenge {
                realm: Some("gatehouse"),
                error: Some(ErrorCode::InsufficientScope),
                scope: Some(scope),
                ..BearerChallenge::default()
            }
            .header_value(),
        );
        problem
    }

    /// 404: no such resource.
    #[must_use]
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new("urn:gatehouse:problem:not_found", "Not found", StatusCode::NOT_FOUND)
            .detail(detail)
    }

    /// 405 with the methods the resource allows.
    #[must_use]
    pub fn method_not_allowed(allow: &'static str) -> Self {
        let mut problem = Self::new(
            "urn:gatehouse:problem:method_not_allowed",
            "Method not allowed",
            StatusCode::METHOD_NOT_ALLOWED,
        )
        .detail(format!("this resource allows {allow}"));
        problem.0.allow = Some(allow);
        problem
    }

    /// 409: a unique value is taken (`pointer` names the field).
    #[must_use]
    pub fn conflict(pointer: &str, detail: impl Into<String>) -> Self {
        let mut problem =
            Self::new("urn:gatehouse:problem:conflict", "Conflict", StatusCode::CONFLICT);
        let detail = detail.into();
        problem.0.errors = vec![FieldError::new(pointer, detail.clone())];
        problem.0.detail = Some(detail);
        problem
    }

    /// 412: `If-Match` names a version that is no longer current.
    #[must_use]
    pub fn precondition_failed() -> Self {
        Self::new(
            "urn:gatehouse:problem:precondition_failed",
            "Precondition failed",
            StatusCode::PRECONDITION_FAILED,
        )
        .detail(
            "the resource changed since it was read: fetch it again and retry with its new ETag",
        )
    }

    /// 413: the body is over the limit.
    #[must_use]
    pub fn too_large() -> Self {
        Self::new(
            "urn:gatehouse:problem:too_large",
            "Request body too large",
            StatusCode::PAYLOAD_TOO_LARGE,
        )
        .detail("the request body is over 64 KiB")
    }

    /// 415: the body is not `application/json`.
    #[must_use]
    pub fn unsupported_media_type() -> Self {
        Self::new(
            "urn:gatehouse:problem:unsupported_media_type",
            "Unsupported media type",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        )
        .detail("send the body as application/json")
    }

    /// 503: a store is unavailable; nothing was changed.
    #[must_use]
    pub fn unavailable() -> Self {
        Self::new(
            "urn:gatehouse:problem:unavailable",
            "Service unavailable",
            StatusCode::SERVICE_UNAVAILABLE,
        )
        .detail("the service is temporarily unavailable and nothing was changed; try again later")
    }

    /// The status code.
    #[must_use]
    pub fn status(&self) -> u16 {
        self.0.status
    }

    /// The `application/problem+json` response.
    #[must_use]
    pub fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&*self.0).unwrap_or_else(|_| b"{}".to_vec());
        let mut response = Response::new(body);
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        no_store(headers);
        if let Some(value) = self.0.challenge.as_deref().and_then(|c| HeaderValue::from_str(c).ok())
        {
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
        if let Some(allow) = self.0.allow {
            headers.insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_problem_names_fields() {
        let response =
            Problem::invalid_field("/client_name", "must be letters, digits and underscore")
                .into_response();
        assert_eq!(response.status(), 400);
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(body["type"], "urn:gatehouse:problem:validation");
        assert_eq!(body["status"], 400);
        assert_eq!(body["errors"][0]["pointer"], "/client_name");
    }

    #[test]
    fn insufficient_scope_challenges_with_the_scope() {
        let response = Problem::insufficient_scope("gatehouse:apps_write").into_response();
        assert_eq!(response.status(), 403);
        let challenge = response.headers()[header::WWW_AUTHENTICATE].to_str().unwrap();
        assert!(
            challenge.contains(r#"error="insufficient_scope""#)
                && challenge.contains("gatehouse:apps_write")
        );
    }

    #[test]
    fn method_not_allowed_lists_methods() {
        let response = Problem::method_not_allowed("GET, POST").into_response();
        assert_eq!(response.status(), 405);
        assert_eq!(response.headers()[header::ALLOW], "GET, POST");
    }
}
