//! Every storage key, in one place: the directory (Workers KV) keys of the records
//! the management API administers, the unique-name claims the registry holds, and
//! the record keys of the strong stores. `docs/storage.md` lists the same keys with
//! what each holds and who writes it; a key is built only here.

use crate::jose::b64url;

// --- The directory: read-mostly records, written only through the registry ---

/// Where apps live: `apps/<client_id>`.
pub const APPS_PREFIX: &str = "apps/";
/// Where custom scopes live: `scopes/<key>`.
pub const SCOPES_PREFIX: &str = "scopes/";
/// Where scope groups live: `scope-groups/<id>`.
pub const SCOPE_GROUPS_PREFIX: &str = "scope-groups/";
/// Where resources live: `resources/<identifier>`.
pub const RESOURCES_PREFIX: &str = "resources/";
/// Where users live: `users/<id>`.
pub const USERS_PREFIX: &str = "users/";
/// Where roles live: `roles/<id>`.
pub const ROLES_PREFIX: &str = "roles/";
/// The keyring: public keys and the sealed private keys.
pub const KEYRING: &str = "keys/ring";

/// The directory key of an app.
#[must_use]
pub fn app(client_id: &str) -> String {
    format!("{APPS_PREFIX}{client_id}")
}

/// The directory key of an app's permission set.
#[must_use]
pub fn permissions(client_id: &str) -> String {
    format!("permissions/{client_id}")
}

/// The directory key of a custom scope.
#[must_use]
pub fn scope(key: &str) -> String {
    format!("{SCOPES_PREFIX}{key}")
}

/// The directory key of a scope group.
#[must_use]
pub fn scope_group(id: &str) -> String {
    format!("{SCOPE_GROUPS_PREFIX}{id}")
}

/// The directory key of a resource.
#[must_use]
pub fn resource(identifier: &str) -> String {
    format!("{RESOURCES_PREFIX}{identifier}")
}

/// The directory key of a user.
#[must_use]
pub fn user(id: &str) -> String {
    format!("{USERS_PREFIX}{id}")
}

/// The directory key of a role.
#[must_use]
pub fn role(id: &str) -> String {
    format!("{ROLES_PREFIX}{id}")
}

// --- Unique names, claimed in the registry (case-insensitive) ---

/// The claim on an app name.
#[must_use]
pub fn app_name(name: &str) -> String {
    format!("names/apps/{}", name.to_ascii_lowercase())
}

/// The claim on a resource name.
#[must_use]
pub fn resource_name(name: &str) -> String {
    format!("names/resources/{}", name.to_lowercase())
}

/// The claim on a scope group name.
#[must_use]
pub fn scope_group_name(name: &str) -> String {
    format!("names/scope-groups/{}", name.to_lowercase())
}

/// The claim on a username.
#[must_use]
pub fn user_name(username: &str) -> String {
    format!("names/users/{}", username.to_ascii_lowercase())
}

/// The claim on a role name.
#[must_use]
pub fn role_name(name: &str) -> String {
    format!("names/roles/{}", name.to_lowercase())
}

// --- The strong stores ---

/// Where failed client authentications are counted.
pub const AUTH_FAILURES_PREFIX: &str = "auth-failures/";

/// The failure counter of one client and source address, by the digest of both.
#[must_use]
pub fn auth_failures(pair_digest: &[u8]) -> String {
    format!("{AUTH_FAILURES_PREFIX}{}", b64url(pair_digest))
}

/// Where the single-use records of client assertions live.
pub const ASSERTION_PREFIX: &str = "assertion/";

/// The single-use record of a client assertion, by the digest of its `jti`.
#[must_use]
pub fn assertion(client_id: &str, jti_digest: &[u8]) -> String {
    format!("{ASSERTION_PREFIX}{client_id}/{}", b64url(jti_digest))
}

/// The usage series of an app in the counters store; its days are
/// `usage/<client_id>/<day>` (`records::usage_day_key`).
#[must_use]
pub fn usage_series(client_id: &str) -> String {
    format!("usage/{client_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_docs_storage_md() {
        assert_eq!(app("c1"), "apps/c1");
        assert_eq!(permissions("c1"), "permissions/c1");
        assert_eq!(scope("orders:read"), "scopes/orders:read");
        assert_eq!(scope_group("g1"), "scope-groups/g1");
        assert_eq!(resource("https://api.example"), "resources/https://api.example");
        assert_eq!(user("u1"), "users/u1");
        assert_eq!(role("r1"), "roles/r1");
        assert_eq!(app_name("Billing_Job"), "names/apps/billing_job");
        assert_eq!(user_name("Ada@Example.com"), "names/users/ada@example.com");
        assert_eq!(auth_failures(&[0xff]), "auth-failures/_w");
        assert_eq!(assertion("c1", &[0xff]), "assertion/c1/_w");
        assert_eq!(usage_series("c1"), "usage/c1");
    }
}
