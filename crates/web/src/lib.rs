//! # gatehouse-web
//!
//! The browser package for single-page apps. This skeleton compiles to wasm and
//! exposes the package version; `login()`, `handleCallback()`, `getAccessToken()`,
//! `getUser()` and `logout()` arrive with the browser-package work.

use wasm_bindgen::prelude::wasm_bindgen;

/// The package version, so a page can check which build it loaded.
#[wasm_bindgen]
#[must_use]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}
