//! Device authorizations in the store (RFC 8628): the pending request under its
//! user code, and the user's decision on it.

use serde::{Deserialize, Serialize};

use super::super::code::{CodeGrant, family_of};
use super::super::request::{AuthorizationRequest, SignedIn};
use crate::context::Context;
use crate::engine::{Engine, store_error};
use crate::error::OAuthError;
use crate::platform::Platform;
use crate::store::schema;
use crate::store::{OnceStore, Sessions, StoreError};
use crate::types::UnixTime;

/// How long a device code lives, in seconds.
pub(super) const DEVICE_SECS: u64 = 600;
/// How often a device may poll, in seconds.
pub(super) const INTERVAL_SECS: u64 = 5;
/// The letters of user codes: no vowels (no words), no look-alikes (RFC 8628
/// section 6.1), 20^8 codes.
pub(super) const ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
/// The length of a user code, shown as two groups of four.
pub(super) const USER_CODE_LEN: usize = 8;

/// Where a device authorization stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Status {
    Pending,
    Approved,
    Denied,
}

/// A device authorization, under its user code.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct DeviceRecord {
    /// The validated request (client, scopes, audience), as an authorization
    /// request without a redirect.
    pub(super) request: AuthorizationRequest,
    /// The base64url SHA-256 of the device code.
    pub(super) device: String,
    pub(super) status: Status,
    pub(super) expires_at: UnixTime,
}

/// A user code as typed: upper-cased, separators dropped; `None` when it cannot
/// be one.
pub(super) fn normalize(user_code: &str) -> Option<String> {
    let code: String = user_code
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (code.len() == USER_CODE_LEN && code.bytes().all(|b| ALPHABET.contains(&b))).then_some(code)
}

/// A fresh user code, uniformly from [`ALPHABET`].
pub(super) fn user_code(cx: &mut Context<'_>) -> String {
    let mut code = String::with_capacity(USER_CODE_LEN);
    while code.len() < USER_CODE_LEN {
        let mut byte = [0u8; 1];
        cx.rng().fill_bytes(&mut byte);
        // 240 is the largest multiple of 20 in a byte: no bias.
        if let Some(letter) =
            (byte[0] < 240).then(|| ALPHABET.get(usize::from(byte[0]) % 20)).flatten()
        {
            code.push(char::from(*letter));
        }
    }
    code
}

/// `XXXX-XXXX`.
pub(super) fn display(code: &str) -> String {
    let (a, b) = code.split_at(USER_CODE_LEN / 2);
    format!("{a}-{b}")
}

pub(super) async fn load<P: Platform>(
    engine: &Engine<P>,
    user_code: &str,
    now: UnixTime,
) -> Result<Option<DeviceRecord>, OAuthError> {
    match engine.platform().sessions().get(&schema::device_user_code(user_code), now).await {
        Ok(data) => Ok(data.and_then(|d| serde_json::from_slice(&d).ok())),
        Err(StoreError::Refused(_)) => Ok(None),
        Err(err) => Err(store_error(&err)),
    }
}

pub(super) async fn save<P: Platform>(
    engine: &Engine<P>,
    user_code: &str,
    record: &DeviceRecord,
    now: UnixTime,
) -> Result<(), OAuthError> {
    let json = serde_json::to_vec(record).map_err(|_| OAuthError::server_error())?;
    engine
        .platform()
        .sessions()
        .put(&schema::device_user_code(user_code), &json, record.expires_at, now)
        .await
        .map_err(|e| store_error(&e))
}

/// Records the user's decision on the device `user_code`: approve with the
/// request and who signed in, or deny (`None`).
pub(crate) async fn decide<P: Platform>(
    engine: &Engine<P>,
    user_code: &str,
    approval: Option<(&AuthorizationRequest, &SignedIn)>,
    cx: &mut Context<'_>,
) -> Result<(), OAuthError> {
    let now = cx.now();
    let unknown = || OAuthError::invalid_request("the code is unknown, expired or already used");
    let Some(mut record) = load(engine, user_code, now).await? else { return Err(unknown()) };
    if record.status != Status::Pending {
        return Err(unknown());
    }
    match approval {
        Some((request, signed_in)) => {
            let grant = CodeGrant::new(request, signed_in, family_of(&record.device));
            let json = serde_json::to_vec(&grant).map_err(|_| OAuthError::server_error())?;
            let digest = crate::jose::b64url_decode(&record.device)
                .map_err(|_| OAuthError::server_error())?;
            match engine
                .platform()
                .once()
                .put(&schema::device_grant(&digest), &json, record.expires_at, now)
                .await
            {
                Ok(()) => {}
                Err(StoreError::Conflict) => return Err(unknown()),
                Err(err) => return Err(store_error(&err)),
            }
            record.status = Status::Approved;
        }
        None => record.status = Status::Denied,
    }
    save(engine, user_code, &record, now).await
}
