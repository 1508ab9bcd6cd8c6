//! The whole engine in-process: memory stores, a fake clock, a seeded rng.
//! One module per endpoint or concern.

// Test helpers fail loudly by design.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod admin_apps;
mod admin_auth;
mod admin_directory;
mod admin_privilege;
mod cache;
mod client_assertion;
mod client_credentials;
mod discovery;
mod gateway;
mod id_token;
mod keys;
mod oidc;
mod resources;
mod stores;
mod throttle;
mod token_errors;
mod usage;
