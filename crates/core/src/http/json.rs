//! JSON object bodies (the management API, the simplified login API): the media
//! type, the size and the shape are checked once.

use http::{HeaderMap, header};
use serde_json::{Map, Value};

use super::MAX_BODY_BYTES;

/// Why a JSON body was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonError {
    /// The `Content-Type` is not one of the accepted media types.
    ContentType,
    /// The body exceeds [`MAX_BODY_BYTES`].
    TooLarge,
    /// The body is not a JSON object; the text says why.
    Malformed(String),
}

/// The JSON object of `body`, sent as one of the `accepted` media types.
///
/// # Errors
///
/// [`JsonError`] names the problem.
pub fn parse_json_object(
    headers: &HeaderMap,
    body: &[u8],
    accepted: &[&str],
) -> Result<Map<String, Value>, JsonError> {
    let content_type =
        headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if !accepted.contains(&essence.as_str()) {
        return Err(JsonError::ContentType);
    }
    if body.len() > MAX_BODY_BYTES {
        return Err(JsonError::TooLarge);
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(JsonError::Malformed("the body must be a JSON object".to_owned())),
        Err(e) => Err(JsonError::Malformed(format!(
            "the body is not valid JSON (line {}, column {})",
            e.line(),
            e.column()
        ))),
    }
}
