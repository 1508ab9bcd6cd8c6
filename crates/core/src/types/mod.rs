//! Spec-named newtypes. Each protocol value is validated once, where it enters,
//! and carried as its own type afterwards: after parsing, no bare `String` holds a
//! client id, a scope or an issuer URL.

mod client;
mod issuer;
mod scope;
mod secret;
mod time;
mod uri;

pub use client::{ClientId, ClientSecret};
pub use issuer::IssuerUrl;
pub use scope::{MANAGEMENT_SCOPES, Scope, ScopeSet};
pub use secret::SecretBytes;
pub use time::UnixTime;
pub(crate) use uri::WebUrl;
pub use uri::{HttpsUrl, Origin, RedirectUri, ResourceIndicator};

/// A value failed validation; the message says why (lowercase, no punctuation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidValue(pub &'static str);

impl std::fmt::Display for InvalidValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for InvalidValue {}
