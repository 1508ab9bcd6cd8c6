//! The records the issuer keeps and the rules they follow: apps, scopes and scope
//! groups, resources (the APIs tokens are for), users (and their second factor), permissions and roles. The management API reads and writes
//! them ([`crate::admin`] holds only its routes); the flows read them
//! ([`crate::client_auth`] and the token endpoint). Each record validates a JSON body
//! field by field, so every refusal names the field at fault.

pub mod app;
pub mod consent_policy;
pub mod factor;
pub(crate) mod fields;
pub mod hook;
pub mod provider;
pub mod registration;
pub mod resource;
pub mod role;
pub mod scope;
pub mod token_claims;
pub mod user;
pub mod user_field;

pub use fields::FieldError;
