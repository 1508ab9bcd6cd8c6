//! Checking a username (or email) and password, with brute-force protection:
//! failed sign-ins are counted per user (in the user's own Durable Object
//! instance) and per source address, and a locked user or address is refused
//! without checking anything, for the rest of the window, with a message that
//! says so. An unknown user costs the same Argon2id check as a known one.

use http::HeaderMap;
use sha2::{Digest, Sha256};

use crate::engine::{Engine, store_error};
use crate::error::OAuthError;
use crate::model::user::UserRecord;
use crate::platform::Platform;
use crate::store::schema;
use crate::store::{Counters, Directory, read_record};
use crate::types::UnixTime;

/// The failed sign-ins of one user, within [`LOCKOUT_WINDOW_SECS`], that lock it.
pub(crate) const USER_MAX_FAILURES: u64 = 10;
/// The failed sign-ins from one address, within the window, that lock it.
pub(crate) const ADDRESS_MAX_FAILURES: u64 = 50;
/// The lockout window, in seconds: failures count from the first one for this long.
pub(crate) const LOCKOUT_WINDOW_SECS: u64 = 15 * 60;

/// What a sign-in attempt found.
pub(crate) enum Credentials {
    Valid(Box<UserRecord>),
    Invalid { locked: bool },
}

/// What runs between looking the user up and checking the password: an app's
/// lifecycle hooks (`crate::hooks`).
#[allow(async_fn_in_trait)]
pub(crate) trait PasswordGate {
    /// Called once no lockout refused the attempt, with the user found (`None`:
    /// no user has that name). `false` refuses the sign-in without checking the
    /// password and without counting a failure.
    async fn before_password(&mut self, user: Option<&UserRecord>) -> bool;
}

/// Checks a username (or email) and password, counting failures per user and per
/// source address; a locked user or address is refused without checking. `gate`
/// sees the user before the password is checked.
pub(crate) async fn check_credentials<P: Platform>(
    engine: &Engine<P>,
    headers: &HeaderMap,
    username: &str,
    password: &str,
    now: UnixTime,
    gate: &mut impl PasswordGate,
) -> Result<Credentials, OAuthError> {
    let counters = engine.platform().counters();
    let address_key = address_key(headers);
    let window_end = now.plus(LOCKOUT_WINDOW_SECS);
    if address_failures(engine, headers, now).await? {
        return Ok(Credentials::Invalid { locked: true });
    }
    let user = find_user(engine, username).await?;
    let user_key = user.as_ref().map(|u| schema::user_lockout(&u.id));
    if let Some(key) = &user_key
        && counters.get(key, now).await.map_err(|e| store_error(&e))? >= USER_MAX_FAILURES
    {
        return Ok(Credentials::Invalid { locked: true });
    }
    if !gate.before_password(user.as_ref()).await {
        return Ok(Credentials::Invalid { locked: false });
    }
    // An unknown user costs the same hash as a known one.
    let stored = user.as_ref().and_then(|u| u.password_hash.as_deref()).unwrap_or(DUMMY_HASH);
    let matches = !password.is_empty() && crate::password::verify(password, stored);
    match user {
        Some(user) if matches && user.enabled => {
            if let Some(key) = &user_key {
                let _ = counters.reset(key).await;
            }
            Ok(Credentials::Valid(Box::new(user)))
        }
        _ => {
            let address = counters.add(&address_key, 1, window_end, now).await.unwrap_or(0);
            let mut locked = address >= ADDRESS_MAX_FAILURES;
            if let Some(key) = &user_key {
                let count = counters.add(key, 1, window_end, now).await.unwrap_or(0);
                locked |= count >= USER_MAX_FAILURES;
            }
            Ok(Credentials::Invalid { locked })
        }
    }
}

/// The failed sign-in counter of the request's source address.
fn address_key(headers: &HeaderMap) -> String {
    let mut source = Sha256::new();
    source.update(b"gatehouse sign-in source\0");
    source.update(crate::client_auth::throttle::source(headers).unwrap_or_default().as_bytes());
    schema::address_lockout(&source.finalize())
}

/// Whether the request's source address is locked out by failed sign-ins (or
/// wrong device codes).
pub(crate) async fn address_failures<P: Platform>(
    engine: &Engine<P>,
    headers: &HeaderMap,
    now: UnixTime,
) -> Result<bool, OAuthError> {
    let count = engine
        .platform()
        .counters()
        .get(&address_key(headers), now)
        .await
        .map_err(|e| store_error(&e))?;
    Ok(count >= ADDRESS_MAX_FAILURES)
}

/// Counts a failure against the request's source address (best effort).
pub(crate) async fn count_address_failure<P: Platform>(
    engine: &Engine<P>,
    headers: &HeaderMap,
    now: UnixTime,
) {
    let _ = engine
        .platform()
        .counters()
        .add(&address_key(headers), 1, now.plus(LOCKOUT_WINDOW_SECS), now)
        .await;
}

/// An Argon2id hash (of a random password) at the same cost as real ones, checked
/// when the user does not exist so that a miss takes as long as a wrong password.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$WcSWjnfqyIAJ2F4lhRTzKg8UB8sA3PHYvH9DmKVN8dI";

/// The user signing in as `name`: by username, or by email when it has an `@`.
async fn find_user<P: Platform>(
    engine: &Engine<P>,
    name: &str,
) -> Result<Option<UserRecord>, OAuthError> {
    if name.is_empty() || name.len() > 256 {
        return Ok(None);
    }
    let directory = engine.platform().directory();
    let claim = if name.contains('@') { schema::user_email(name) } else { schema::user_name(name) };
    let key = match directory.get(&claim).await {
        Ok(Some(bytes)) => serde_json::from_slice::<String>(&bytes).ok(),
        Ok(None) | Err(crate::store::StoreError::Refused(_)) => None,
        Err(err) => return Err(store_error(&err)),
    };
    let Some(key) = key.filter(|k| k.starts_with(schema::USERS_PREFIX)) else {
        return Ok(None);
    };
    read_record(directory, &key).await.map_err(|e| store_error(&e))
}
