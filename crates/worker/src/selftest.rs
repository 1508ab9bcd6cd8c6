//! The store contract suite, run inside workerd against the real bindings.
//!
//! Compiled only with the `selftest` feature (never in a deployed bundle): the
//! end-to-end tests build the worker with it and call `POST /__selftest/contract`,
//! which runs every check of [`gatehouse_core::store::contract`] against Workers KV
//! and the `Vault` Durable Object and answers `{"check": "ok" | "failure"}`.
//!
//! `POST /__selftest/argon2?n=N` measures the cost of one password hash at the
//! production parameters inside workerd (see [`argon2`]).

use gatehouse_core::password;
use gatehouse_core::store::contract;
use worker::{Env, Request, Response};

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

/// The password the cost measurement hashes.
const SAMPLE_PASSWORD: &str = "correct horse battery staple";

/// Hashes a password `n` times (`?n=`, 1 to 20) with [`password::hash`] and answers
/// the wall time per hash in milliseconds, the last hash and whether it verifies.
///
/// `Date.now()` advances across CPU work in workerd run locally; deployed Workers
/// freeze it during a request, so there this would read 0.
pub(crate) fn argon2(req: &Request) -> worker::Result<Response> {
    let n = req
        .url()?
        .query_pairs()
        .find(|(name, _)| name == "n")
        .and_then(|(_, value)| value.parse::<u32>().ok())
        .filter(|n| (1..=20).contains(n));
    let Some(n) = n else {
        return Response::error("n must be an integer from 1 to 20", 400);
    };
    let mut rng = rand_core::OsRng;
    let start = js_sys::Date::now();
    let mut hash = String::new();
    for _ in 0..n {
        hash = password::hash(SAMPLE_PASSWORD, &mut rng)
            .map_err(|e| worker::Error::RustError(e.message().to_owned()))?;
    }
    let elapsed = js_sys::Date::now() - start;
    Response::from_json(&serde_json::json!({
        "n": n,
        "elapsed_ms": elapsed,
        "ms_per_hash": elapsed / f64::from(n),
        "hash": hash,
        "verifies": password::verify(SAMPLE_PASSWORD, &hash),
        "rejects_wrong": !password::verify("Correct horse battery staple", &hash),
    }))
}
