//! Response builders shared by every endpoint.

use http::{HeaderValue, Method, StatusCode, header};
use serde::Serialize;

use super::Response;
use crate::error::OAuthError;

/// A JSON response with `Cache-Control: no-store` (RFC 6749 section 5.1): tokens and
/// errors must never be cached by an intermediary.
#[must_use]
pub fn json_response<T: Serialize + ?Sized>(status: StatusCode, body: &T) -> Response {
    // Serializing our own plain structs cannot fail; an empty object is the fallback.
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = Response::new(bytes);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    no_store(headers);
    response
}

/// Marks a response as not cacheable (RFC 6749 section 5.1).
pub fn no_store(headers: &mut http::HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// Allows any origin to read the response. Used on endpoints that carry no
/// ambient credentials (discovery, JWKS, token): a browser app authenticates to them
/// explicitly, so a wildcard leaks nothing.
pub fn cors_any(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("WWW-Authenticate, DPoP-Nonce"),
    );
}

/// The answer to a CORS preflight for an endpoint that allows `methods`.
#[must_use]
pub fn preflight_response(methods: &[Method]) -> Response {
    let mut response = Response::new(Vec::new());
    *response.status_mut() = StatusCode::NO_CONTENT;
    cors_any(&mut response);
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&method_list(methods)) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, value);
    }
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Authorization, Content-Type, DPoP"),
    );
    headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
    response
}

/// 405 with an `Allow` header listing what the endpoint accepts.
#[must_use]
pub fn method_not_allowed(allow: &[Method]) -> Response {
    let mut response = OAuthError::invalid_request("method not allowed on this endpoint")
        .with_status(StatusCode::METHOD_NOT_ALLOWED)
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&method_list(allow)) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    response
}

/// `GET, HEAD, OPTIONS`: methods as `Allow` and CORS list them.
fn method_list(methods: &[Method]) -> String {
    methods.iter().map(Method::as_str).collect::<Vec<_>>().join(", ")
}

/// 404 for a path no endpoint serves.
#[must_use]
pub fn not_found() -> Response {
    OAuthError::invalid_request("no such endpoint")
        .with_status(StatusCode::NOT_FOUND)
        .into_response()
}
