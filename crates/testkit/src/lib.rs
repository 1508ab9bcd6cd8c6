//! Test fixtures for Gatehouse (unpublished): pure-Rust crypto, a fake clock, a
//! seeded rng, the in-memory platform (with canned outbound documents), a stale-read directory wrapper and a scenario
//! driver that runs the whole engine in-process.

// Test support: a failed fixture should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod browser;
mod crypto;
mod fetch;
mod platform;
mod scenario;

pub use browser::{
    Browser, decode, encode, form_action, hidden_fields, pkce, redirect_params, tags,
};
pub use crypto::NativeCrypto;
pub use fetch::MemoryFetch;
pub use platform::{MemoryPlatform, StaleDirectory};
pub use scenario::{
    ADMIN_ID, ADMIN_SECRET, FakeClock, ISSUER, Scenario, TEST_KEK, body_json, seeded_rng,
};
