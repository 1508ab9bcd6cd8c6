//! The engine's view of HTTP: `http` crate types with a byte body, strict form
//! parsing, and response builders.
//!
//! Hosts convert their native request into [`Request`] (reading at most
//! [`MAX_BODY_BYTES`] + 1 bytes of body) and send [`Response`] back as is.

pub mod bearer;
pub mod cookie;
mod form;
mod json;
#[cfg(any(feature = "issuer", feature = "gateway"))]
mod response;

pub(crate) use form::decode;
pub use form::{Form, FormError, encode, encode_pairs, parse_form, parse_query};
pub use json::{JsonError, parse_json_object};
#[cfg(any(feature = "issuer", feature = "gateway"))]
pub use response::{
    cors_any, json_response, method_not_allowed, no_store, not_found, preflight_response,
};

/// A request as the engine sees it.
pub type Request = http::Request<Vec<u8>>;
/// A response as the engine produces it.
pub type Response = http::Response<Vec<u8>>;

/// The largest request body the engine accepts (64 KiB). Hosts read at most one byte
/// more, so that an oversized body is detected without buffering all of it.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The media type of OAuth form posts (RFC 6749 appendix B).
pub const FORM_URLENCODED: &str = "application/x-www-form-urlencoded";
