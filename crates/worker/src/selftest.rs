//! The store contract suite, run inside workerd against the real bindings.
//!
//! Compiled only with the `selftest` feature (never in a deployed bundle): the
//! end-to-end tests build the worker with it and call `POST /__selftest/contract`,
//! which runs every check of [`gatehouse_core::store::contract`] against Workers KV
//! and the `Vault` Durable Object and answers `{"check": "ok" | "failure"}`.

use gatehouse_core::store::contract;
use worker::{Env, Response};

use crate::kv::KvDirectory;
use crate::vault::VaultClient;

/// Runs the suite under a fresh namespace and reports each check.
pub(crate) async fn contract(env: &Env) -> worker::Result<Response> {
    let directory = KvDirectory::new(env.kv("DIRECTORY")?);
    let vault = VaultClient::new(env.durable_object("VAULT")?);
    let now = crate::now();
    let ns = format!("selftest-{}", js_sys::Math::random().to_bits());
    let mut results = serde_json::Map::new();
    let mut record = |name: &str, outcome: contract::Outcome| {
        let value = match outcome {
            Ok(()) => "ok".to_owned(),
            Err(failure) => failure,
        };
        results.insert(name.to_owned(), serde_json::Value::String(value));
    };
    record("directory", contract::directory(&directory, &ns).await);
    record("once_store", contract::once_store(&vault, &ns, now).await);
    record("refresh_families", contract::refresh_families(&vault, &ns, now).await);
    record("sessions", contract::sessions(&vault, &ns, now).await);
    record("counters", contract::counters(&vault, &ns, now).await);
    record("key_vault", contract::key_vault(&vault, &directory, now).await);
    record("registry", contract::registry(&vault, &directory, &ns).await);
    Response::from_json(&results)
}
