//! Every storage key, in one place: the directory (Workers KV) keys of the records
//! the management API administers, the unique-name claims the registry holds, and
//! the record keys of the strong stores. `docs/storage.md` lists the same keys with
//! what each holds and who writes it; a key is built only here.

use sha2::Digest as _;

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
/// Where upstream OpenID providers live: `providers/<id>`.
pub const PROVIDERS_PREFIX: &str = "providers/";
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

/// The directory key of an app's lifecycle hooks.
#[must_use]
pub fn hooks(client_id: &str) -> String {
    format!("hooks/{client_id}")
}

/// The directory key of the custom user field definitions (one record).
pub const USER_FIELDS: &str = "user-fields";

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

/// The directory key of an upstream provider.
#[must_use]
pub fn provider(id: &str) -> String {
    format!("{PROVIDERS_PREFIX}{id}")
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
    format!("{USER_NAMES_PREFIX}{}", username.to_ascii_lowercase())
}

/// The claim on a user's email address: emails are unique among users, so a user
/// can sign in with either.
#[must_use]
pub fn user_email(email: &str) -> String {
    format!("{USER_EMAILS_PREFIX}{}", email.to_lowercase())
}

/// The claim on an upstream account (`sub` at the issuer `issuer`), held by the
/// user it is linked to: one upstream account links to one user. Issuer and
/// subject are digested together (a subject may be 255 characters of anything).
#[must_use]
pub fn user_identity(issuer: &str, subject: &str) -> String {
    let mut digest = sha2::Sha256::new();
    digest.update(issuer.as_bytes());
    digest.update([0]);
    digest.update(subject.as_bytes());
    format!("{USER_IDENTITIES_PREFIX}{}", b64url(&digest.finalize()))
}

/// Where upstream account claims live.
pub const USER_IDENTITIES_PREFIX: &str = "names/identities/";

/// Where username claims live.
pub const USER_NAMES_PREFIX: &str = "names/users/";
/// Where email claims live.
pub const USER_EMAILS_PREFIX: &str = "names/emails/";

/// Whether a registry name is one a user signs in with: such claims are also
/// published to the directory (the name, holding the JSON string of the user's
/// record key), so the login page can find the user on the read path.
#[must_use]
pub fn is_sign_in_name(name: &str) -> bool {
    name.starts_with(USER_NAMES_PREFIX)
        || name.starts_with(USER_EMAILS_PREFIX)
        || name.starts_with(USER_IDENTITIES_PREFIX)
}

/// The claim on a role name.
#[must_use]
pub fn role_name(name: &str) -> String {
    format!("names/roles/{}", name.to_lowercase())
}

// --- The strong stores ---

/// The take-once record of an authorization code, by the digest of the code.
#[must_use]
pub fn code(code_digest: &[u8]) -> String {
    format!("code/{}", b64url(code_digest))
}

/// The refresh family `id` (its own Durable Object instance).
#[must_use]
pub fn family(id: &str) -> String {
    format!("rt/{id}")
}

/// A login session, by its `sid` (a one-way digest of its cookie: the store never
/// sees the cookie, and a refresh family finds its session by the `sid` it holds).
#[must_use]
pub fn session(sid: &str) -> String {
    format!("sso/{sid}")
}

/// A pending device authorization (RFC 8628), by its user code (sessions store).
#[must_use]
pub fn device_user_code(user_code: &str) -> String {
    format!("device/{user_code}")
}

/// The user code of a device code, by the digest of the device code (sessions store).
#[must_use]
pub fn device_code(device_code_digest: &[u8]) -> String {
    format!("device-code/{}", b64url(device_code_digest))
}

/// The take-once grant of an approved device, by the digest of its device code.
#[must_use]
pub fn device_grant(device_code_digest: &[u8]) -> String {
    format!("device-grant/{}", b64url(device_code_digest))
}

/// The polling counter of a device code (`slow_down`), by its digest.
#[must_use]
pub fn device_poll(device_code_digest: &[u8]) -> String {
    format!("device-poll/{}", b64url(device_code_digest))
}

/// The consent a user gave an app (in the sessions store, kept a year).
#[must_use]
pub fn consent(user_id: &str, client_id: &str) -> String {
    format!("consent/{user_id}/{client_id}")
}

/// The consent policy versions a user accepted, of every app (in the sessions
/// store: the user's own instance).
#[must_use]
pub fn policy_acceptances(user_id: &str) -> String {
    format!("policies/{user_id}")
}

/// Where a user's failed sign-ins are counted (its own instance: the user's).
pub const USER_LOCKOUT_PREFIX: &str = "lockout/user/";

/// The failed sign-in counter of a user.
#[must_use]
pub fn user_lockout(user_id: &str) -> String {
    format!("{USER_LOCKOUT_PREFIX}{user_id}")
}

/// The failed sign-in counter of a source address, by its digest.
#[must_use]
pub fn address_lockout(address_digest: &[u8]) -> String {
    format!("lockout/addr/{}", b64url(address_digest))
}

/// The second-factor failures of a user: counted like failed sign-ins, but reset
/// only by a correct code, so signing in with the password again does not buy more
/// guesses (its own instance, under the user's lockout prefix).
#[must_use]
pub fn user_mfa_lockout(user_id: &str) -> String {
    format!("{USER_LOCKOUT_PREFIX}{user_id}/mfa")
}

/// A user's second factor (sessions store): the sealed TOTP secret and the
/// digests of the recovery codes.
#[must_use]
pub fn second_factor(user_id: &str) -> String {
    format!("totp/{user_id}")
}

/// Where the single-use records of second-factor codes live (take-once store,
/// spread over shared instances like client assertions).
pub const MFA_ONCE_PREFIX: &str = "mfa/";

/// The record that a user's TOTP time step was used.
#[must_use]
pub fn totp_step(user_id: &str, step: u64) -> String {
    format!("{MFA_ONCE_PREFIX}step/{user_id}/{step}")
}

/// The record that a user's recovery code was used, by its digest.
#[must_use]
pub fn recovery_use(user_id: &str, digest: &str) -> String {
    format!("{MFA_ONCE_PREFIX}recovery/{user_id}/{digest}")
}

/// A registration waiting for its email code (sessions store), by the digest of
/// its id.
#[must_use]
pub fn registration(id_digest: &[u8]) -> String {
    format!("register/{}", b64url(id_digest))
}

/// The registration attempts of a source address, by its digest (counters).
#[must_use]
pub fn registration_source(address_digest: &[u8]) -> String {
    format!("register-addr/{}", b64url(address_digest))
}

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

/// The take-once record of an upstream sign-in in progress, by the digest of its
/// `state`.
#[must_use]
pub fn upstream_state(state_digest: &[u8]) -> String {
    format!("upstream/{}", b64url(state_digest))
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
        assert_eq!(hooks("c1"), "hooks/c1");
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
        assert_eq!(code(&[0xff]), "code/_w");
        assert_eq!(family("f1"), "rt/f1");
        assert_eq!(session("s1"), "sso/s1");
        assert_eq!(consent("u1", "c1"), "consent/u1/c1");
        assert_eq!(policy_acceptances("u1"), "policies/u1");
        assert_eq!(device_user_code("BCDFGHJK"), "device/BCDFGHJK");
        assert_eq!(device_code(&[0xff]), "device-code/_w");
        assert_eq!(device_grant(&[0xff]), "device-grant/_w");
        assert_eq!(device_poll(&[0xff]), "device-poll/_w");
        assert_eq!(user_lockout("u1"), "lockout/user/u1");
        assert_eq!(address_lockout(&[0xff]), "lockout/addr/_w");
        assert_eq!(user_mfa_lockout("u1"), "lockout/user/u1/mfa");
        assert_eq!(second_factor("u1"), "totp/u1");
        assert_eq!(totp_step("u1", 7), "mfa/step/u1/7");
        assert_eq!(recovery_use("u1", "_w"), "mfa/recovery/u1/_w");
        assert_eq!(USER_FIELDS, "user-fields");
        assert_eq!(registration(&[0xff]), "register/_w");
        assert_eq!(registration_source(&[0xff]), "register-addr/_w");
        assert_eq!(user_email("Ada@Example.com"), "names/emails/ada@example.com");
        assert!(is_sign_in_name(&user_name("ada")) && !is_sign_in_name(&app_name("ada")));
        assert_eq!(provider("corp"), "providers/corp");
        assert_eq!(
            user_identity("https://a", "u1"),
            "names/identities/lrLDKS0f1UGbhLdwW9jkidgs0EJxAvJ3aiHpJAGfhdQ"
        );
        assert!(is_sign_in_name(&user_identity("corp", "u1")));
        assert_eq!(upstream_state(&[0xff]), "upstream/_w");
    }
}
