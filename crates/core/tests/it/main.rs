//! The whole engine in-process: memory stores, a fake clock, a seeded rng.
//! One module per endpoint or concern.

mod client_credentials;
mod discovery;
mod keys;
mod stores;
mod token_errors;
