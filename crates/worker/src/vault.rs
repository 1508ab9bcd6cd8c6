//! The strong stores on one Durable Object class, [`Vault`].
//!
//! Codes, refresh families, sessions and counters live in Durable Objects, sharded
//! by key (`once:NN`, `family:NN`, ...), so that whatever must happen exactly once
//! does, worldwide. The keyring has a single instance (`keyring`), its one writer.
//! Every change is a pure transition from [`gatehouse_core::store::records`]; the
//! object only loads the record, applies the transition and writes the result, and
//! runs no other I/O in between, so the object's input gate makes each call atomic.

use gatehouse_core::keys::{KEYRING_KEY, Kek, Keyring};
use gatehouse_core::store::records::{self, Expiry, Write};
use gatehouse_core::store::{
    Commit, CommitError, Counters, Directory, KeyVault, OnceStore, RefreshFamilies, Registry,
    Rotation, Sessions, StoreError, Taken, UsageBucket, UsageEvent, Versioned, check_key,
};
use gatehouse_core::types::UnixTime;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use worker::{
    DurableObject, Env, Method, ObjectNamespace, Request, RequestInit, Response, State, Storage,
    durable_object,
};

use crate::crypto::WebCrypto;

/// How many instances each kind of record is spread over.
const SHARDS: u32 = 64;
/// How often an instance sweeps expired records.
const SWEEP_EVERY_MS: i64 = 3600 * 1000;
/// The keyring's storage key inside its instance.
const RING: &str = "ring";
/// The registry's single instance: administered records and their unique names.
const REGISTRY: &str = "registry";

/// One call to the vault.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Call {
    OncePut { key: String, value: Vec<u8>, expires_at: UnixTime, now: UnixTime },
    OnceTake { key: String, now: UnixTime },
    FamilyCreate { key: String, token: [u8; 32], data: Vec<u8>, expires_at: UnixTime },
    FamilyRotate { key: String, presented: [u8; 32], next: [u8; 32], now: UnixTime },
    FamilyRevoke { key: String },
    SessionPut { key: String, data: Vec<u8>, expires_at: UnixTime },
    SessionGet { key: String, now: UnixTime },
    SessionDelete { key: String },
    CounterAdd { key: String, delta: u64, window_end: UnixTime, now: UnixTime },
    CounterGet { key: String, now: UnixTime },
    CounterReset { key: String },
    UsageTally { key: String, event: UsageEvent, now: UnixTime },
    UsageRead { key: String, now: UnixTime },
    KeysEnsure { now: UnixTime },
    RegistryCommit { commit: Commit },
    RegistryRead { key: String },
    KeysRotate { now: UnixTime },
}

/// The vault's answer.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Reply {
    Done,
    Taken(Taken),
    Rotation(Rotation),
    Flag(bool),
    Count(u64),
    Usage(Vec<UsageBucket>),
    Data(Option<Vec<u8>>),
    Keyring(Keyring),
    Version(u64),
    Record(Option<Versioned>),
    CommitRefused(CommitError),
    Conflict,
    Refused(String),
    Failed,
}

/// Which instance holds `key` of `kind`: a stable FNV-1a hash, so every isolate
/// agrees without coordination.
fn instance(kind: &str, key: &str) -> String {
    let hash =
        key.bytes().fold(0x811c_9dc5_u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
    format!("{kind}:{:02}", hash % SHARDS)
}

/// The engine's side of the vault: implements the strong store traits by calling
/// the right [`Vault`] instance.
pub struct VaultClient {
    namespace: ObjectNamespace,
}

impl VaultClient {
    /// A client of `namespace`.
    #[must_use]
    pub fn new(namespace: ObjectNamespace) -> Self {
        Self { namespace }
    }

    async fn call(&self, name: &str, call: &Call) -> Result<Reply, StoreError> {
        let fail = |what: &str, err: worker::Error| {
            worker::console_error!("vault {what}: {err}");
            StoreError::Unavailable
        };
        let body = serde_json::to_string(call).map_err(|_| StoreError::Corrupt)?;
        let stub = self.namespace.get_by_name(name).map_err(|e| fail("stub", e))?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post).with_body(Some(body.into()));
        let request =
            Request::new_with_init("https://vault/call", &init).map_err(|e| fail("request", e))?;
        let mut response = stub.fetch_with_request(request).await.map_err(|e| fail("fetch", e))?;
        let text = response.text().await.map_err(|e| fail("read", e))?;
        match serde_json::from_str(&text).map_err(|_| StoreError::Corrupt)? {
            Reply::Conflict => Err(StoreError::Conflict),
            Reply::Refused(_) => Err(StoreError::Refused("the vault refused the call")),
            Reply::Failed => Err(StoreError::Unavailable),
            reply => Ok(reply),
        }
    }
}

fn unexpected(reply: &Reply) -> StoreError {
    worker::console_error!("vault: unexpected reply {reply:?}");
    StoreError::Corrupt
}

impl OnceStore for VaultClient {
    async fn put(
        &self,
        key: &str,
        value: &[u8],
        expires_at: UnixTime,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        check_key(key)?;
        let call = Call::OncePut { key: key.to_owned(), value: value.to_vec(), expires_at, now };
        match self.call(&instance("once", key), &call).await? {
            Reply::Done => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    async fn take(&self, key: &str, now: UnixTime) -> Result<Taken, StoreError> {
        check_key(key)?;
        match self
            .call(&instance("once", key), &Call::OnceTake { key: key.to_owned(), now })
            .await?
        {
            Reply::Taken(taken) => Ok(taken),
            other => Err(unexpected(&other)),
        }
    }
}

impl RefreshFamilies for VaultClient {
    async fn create(
        &self,
        family: &str,
        token: &[u8; 32],
        data: &[u8],
        expires_at: UnixTime,
        _now: UnixTime,
    ) -> Result<(), StoreError> {
        check_key(family)?;
        let call = Call::FamilyCreate {
            key: family.to_owned(),
            token: *token,
            data: data.to_vec(),
            expires_at,
        };
        match self.call(&instance("family", family), &call).await? {
            Reply::Done => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    async fn rotate(
        &self,
        family: &str,
        presented: &[u8; 32],
        next: &[u8; 32],
        now: UnixTime,
    ) -> Result<Rotation, StoreError> {
        check_key(family)?;
        let call =
            Call::FamilyRotate { key: family.to_owned(), presented: *presented, next: *next, now };
        match self.call(&instance("family", family), &call).await? {
            Reply::Rotation(rotation) => Ok(rotation),
            other => Err(unexpected(&other)),
        }
    }

    async fn revoke(&self, family: &str) -> Result<bool, StoreError> {
        check_key(family)?;
        match self
            .call(&instance("family", family), &Call::FamilyRevoke { key: family.to_owned() })
            .await?
        {
            Reply::Flag(flag) => Ok(flag),
            other => Err(unexpected(&other)),
        }
    }
}

impl Sessions for VaultClient {
    async fn put(
        &self,
        id: &str,
        data: &[u8],
        expires_at: UnixTime,
        _now: UnixTime,
    ) -> Result<(), StoreError> {
        check_key(id)?;
        let call = Call::SessionPut { key: id.to_owned(), data: data.to_vec(), expires_at };
        match self.call(&instance("session", id), &call).await? {
            Reply::Done => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    async fn get(&self, id: &str, now: UnixTime) -> Result<Option<Vec<u8>>, StoreError> {
        check_key(id)?;
        match self
            .call(&instance("session", id), &Call::SessionGet { key: id.to_owned(), now })
            .await?
        {
            Reply::Data(data) => Ok(data),
            other => Err(unexpected(&other)),
        }
    }

    async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        check_key(id)?;
        match self
            .call(&instance("session", id), &Call::SessionDelete { key: id.to_owned() })
            .await?
        {
            Reply::Flag(flag) => Ok(flag),
            other => Err(unexpected(&other)),
        }
    }
}

impl Counters for VaultClient {
    async fn add(
        &self,
        key: &str,
        delta: u64,
        window_end: UnixTime,
        now: UnixTime,
    ) -> Result<u64, StoreError> {
        check_key(key)?;
        let call = Call::CounterAdd { key: key.to_owned(), delta, window_end, now };
        match self.call(&instance("counter", key), &call).await? {
            Reply::Count(count) => Ok(count),
            other => Err(unexpected(&other)),
        }
    }

    async fn get(&self, key: &str, now: UnixTime) -> Result<u64, StoreError> {
        check_key(key)?;
        match self
            .call(&instance("counter", key), &Call::CounterGet { key: key.to_owned(), now })
            .await?
        {
            Reply::Count(count) => Ok(count),
            other => Err(unexpected(&other)),
        }
    }

    async fn reset(&self, key: &str) -> Result<(), StoreError> {
        check_key(key)?;
        match self
            .call(&instance("counter", key), &Call::CounterReset { key: key.to_owned() })
            .await?
        {
            Reply::Done => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    async fn tally(
        &self,
        series: &str,
        event: UsageEvent,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        check_key(series)?;
        let call = Call::UsageTally { key: series.to_owned(), event, now };
        match self.call(&instance("usage", series), &call).await? {
            Reply::Done => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    async fn usage(&self, series: &str, now: UnixTime) -> Result<Vec<UsageBucket>, StoreError> {
        check_key(series)?;
        let call = Call::UsageRead { key: series.to_owned(), now };
        match self.call(&instance("usage", series), &call).await? {
            Reply::Usage(buckets) => Ok(buckets),
            other => Err(unexpected(&other)),
        }
    }
}

impl KeyVault for VaultClient {
    async fn ensure(&self, now: UnixTime) -> Result<Keyring, StoreError> {
        match self.call("keyring", &Call::KeysEnsure { now }).await? {
            Reply::Keyring(ring) => Ok(ring),
            other => Err(unexpected(&other)),
        }
    }

    async fn rotate(&self, now: UnixTime) -> Result<Keyring, StoreError> {
        match self.call("keyring", &Call::KeysRotate { now }).await? {
            Reply::Keyring(ring) => Ok(ring),
            other => Err(unexpected(&other)),
        }
    }
}

impl Registry for VaultClient {
    async fn commit(&self, commit: Commit) -> Result<u64, CommitError> {
        check_key(&commit.key).map_err(|_| CommitError::Unavailable)?;
        match self.call(REGISTRY, &Call::RegistryCommit { commit }).await {
            Ok(Reply::Version(version)) => Ok(version),
            Ok(Reply::CommitRefused(err)) => Err(err),
            Ok(other) => {
                unexpected(&other);
                Err(CommitError::Unavailable)
            }
            Err(_) => Err(CommitError::Unavailable),
        }
    }

    async fn read(&self, key: &str) -> Result<Option<Versioned>, StoreError> {
        check_key(key)?;
        match self.call(REGISTRY, &Call::RegistryRead { key: key.to_owned() }).await? {
            Reply::Record(record) => Ok(record),
            other => Err(unexpected(&other)),
        }
    }
}

/// The Durable Object class behind [`VaultClient`].
#[durable_object]
pub struct Vault {
    state: State,
    env: Env,
}

impl DurableObject for Vault {
    fn new(state: State, env: Env) -> Self {
        Self { state, env }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let reply = match serde_json::from_str::<Call>(&req.text().await?) {
            Ok(call) => self.apply(call).await.unwrap_or_else(|err| match err {
                StoreError::Conflict => Reply::Conflict,
                StoreError::Refused(why) => Reply::Refused(why.to_owned()),
                other => {
                    worker::console_error!("vault: {other}");
                    Reply::Failed
                }
            }),
            Err(_) => Reply::Refused("malformed call".to_owned()),
        };
        self.schedule_sweep().await;
        Response::from_json(&reply)
    }

    async fn alarm(&self) -> worker::Result<Response> {
        // Remove records whose expiry passed; the keyring has none and is kept.
        let now = crate::now();
        let entries = self.state.storage().list().await?;
        let mut expired = Vec::new();
        for entry in entries.entries() {
            let Ok(pair) = entry else { continue };
            let pair = js_sys::Array::from(&pair);
            let (Some(key), Some(value)) = (pair.get(0).as_string(), pair.get(1).as_string())
            else {
                continue;
            };
            if serde_json::from_str::<Expiry>(&value).is_ok_and(|e| e.expires_at <= now) {
                expired.push(key);
            }
        }
        if !expired.is_empty() {
            self.state.storage().delete_multiple(expired).await?;
        }
        Response::ok("swept")
    }
}

impl Vault {
    fn storage(&self) -> Storage {
        self.state.storage()
    }

    async fn load<R: DeserializeOwned>(&self, key: &str) -> Result<Option<R>, StoreError> {
        let text: Option<String> =
            self.storage().get(key).await.map_err(|_| StoreError::Unavailable)?;
        text.map(|t| serde_json::from_str(&t).map_err(|_| StoreError::Corrupt)).transpose()
    }

    async fn store<R: Serialize>(&self, key: &str, write: Write<R>) -> Result<(), StoreError> {
        match write {
            Write::Keep => Ok(()),
            Write::Put(record) => {
                let text = serde_json::to_string(&record).map_err(|_| StoreError::Corrupt)?;
                self.storage().put(key, text).await.map_err(|_| StoreError::Unavailable)
            }
            Write::Delete => {
                self.storage().delete(key).await.map(|_| ()).map_err(|_| StoreError::Unavailable)
            }
        }
    }

    async fn schedule_sweep(&self) {
        if let Ok(None) = self.storage().get_alarm().await {
            let _ = self.storage().set_alarm(SWEEP_EVERY_MS).await;
        }
    }

    async fn apply(&self, call: Call) -> Result<Reply, StoreError> {
        Ok(match call {
            Call::OncePut { key, value, expires_at, now } => {
                let existing = self.load(&key).await?;
                let record = records::once_put(existing.as_ref(), &value, expires_at, now)?;
                self.store(&key, Write::Put(record)).await?;
                Reply::Done
            }
            Call::OnceTake { key, now } => {
                let (taken, write) = records::once_take(self.load(&key).await?, now);
                self.store(&key, write).await?;
                Reply::Taken(taken)
            }
            Call::FamilyCreate { key, token, data, expires_at } => {
                let existing = self.load(&key).await?;
                let record = records::family_create(existing.as_ref(), &token, &data, expires_at)?;
                self.store(&key, Write::Put(record)).await?;
                Reply::Done
            }
            Call::FamilyRotate { key, presented, next, now } => {
                let (rotation, write) =
                    records::family_rotate(self.load(&key).await?, &presented, &next, now);
                self.store(&key, write).await?;
                Reply::Rotation(rotation)
            }
            Call::FamilyRevoke { key } => {
                let (revoked, write) = records::family_revoke(self.load(&key).await?);
                self.store(&key, write).await?;
                Reply::Flag(revoked)
            }
            Call::SessionPut { key, data, expires_at } => {
                self.store(&key, Write::Put(records::SessionRecord { data, expires_at })).await?;
                Reply::Done
            }
            Call::SessionGet { key, now } => {
                let (data, write) = records::session_get(self.load(&key).await?, now);
                self.store(&key, write).await?;
                Reply::Data(data)
            }
            Call::SessionDelete { key } => {
                let existed = self.load::<records::SessionRecord>(&key).await?.is_some();
                self.store::<records::SessionRecord>(&key, Write::Delete).await?;
                Reply::Flag(existed)
            }
            Call::CounterAdd { key, delta, window_end, now } => {
                let record = records::counter_add(self.load(&key).await?, delta, window_end, now);
                self.store(&key, Write::Put(record)).await?;
                Reply::Count(record.count)
            }
            Call::CounterGet { key, now } => {
                Reply::Count(records::counter_get(self.load(&key).await?, now))
            }
            Call::CounterReset { key } => {
                self.store::<records::CounterRecord>(&key, Write::Delete).await?;
                Reply::Done
            }
            Call::UsageTally { key, event, now } => {
                let day = records::usage_day_key(&key, now);
                let record = records::usage_tally(self.load(&day).await?, event, now);
                self.store(&day, Write::Put(record)).await?;
                Reply::Done
            }
            Call::UsageRead { key, now } => {
                let mut days = Vec::new();
                for day in records::usage_day_keys(&key, now) {
                    days.push(self.load::<records::UsageRecord>(&day).await?);
                }
                Reply::Usage(records::usage_read(days, now))
            }
            Call::KeysEnsure { now } => Reply::Keyring(self.ensure_keyring(now).await?),
            Call::RegistryCommit { commit } => match self.registry_commit(&commit).await? {
                Ok(version) => Reply::Version(version),
                Err(refused) => Reply::CommitRefused(refused),
            },
            Call::RegistryRead { key } => Reply::Record(self.load(&format!("rec:{key}")).await?),
            Call::KeysRotate { now } => {
                let current = self.ensure_keyring(now).await?;
                let rotated = current
                    .rotate(&WebCrypto, &self.kek()?, now, &mut rand_core::OsRng)
                    .await
                    .map_err(|_| StoreError::Unavailable)?;
                self.store(RING, Write::Put(rotated.clone())).await?;
                self.publish(&rotated).await?;
                Reply::Keyring(rotated)
            }
        })
    }

    /// One registry commit: loads the record and the holders of the claimed names,
    /// applies [`records::registry_commit`], writes everything, then publishes to KV.
    async fn registry_commit(
        &self,
        commit: &Commit,
    ) -> Result<Result<u64, CommitError>, StoreError> {
        let record_key = format!("rec:{}", commit.key);
        let current: Option<Versioned> = self.load(&record_key).await?;
        let mut holders = Vec::with_capacity(commit.claim.len());
        for name in &commit.claim {
            holders.push(
                self.storage()
                    .get::<String>(&format!("name:{name}"))
                    .await
                    .map_err(|_| StoreError::Unavailable)?,
            );
        }
        let change = match records::registry_commit(current.as_ref(), &holders, commit) {
            Ok(change) => change,
            Err(refused) => return Ok(Err(refused)),
        };
        for name in &change.release {
            let key = format!("name:{name}");
            let holder: Option<String> =
                self.storage().get(&key).await.map_err(|_| StoreError::Unavailable)?;
            if holder.as_deref() == Some(commit.key.as_str()) {
                self.storage().delete(&key).await.map_err(|_| StoreError::Unavailable)?;
            }
        }
        for name in &change.claim {
            self.storage()
                .put(&format!("name:{name}"), commit.key.clone())
                .await
                .map_err(|_| StoreError::Unavailable)?;
        }
        for key in &change.cascade {
            self.store::<Versioned>(&format!("rec:{key}"), Write::Delete).await?;
        }
        let version = change.record.as_ref().map_or(0, |r| r.version);
        let directory = crate::kv::KvDirectory::new(
            self.env.kv("DIRECTORY").map_err(|_| StoreError::Unavailable)?,
        );
        match change.record {
            Some(record) => {
                let bytes = serde_json::to_vec(&record).map_err(|_| StoreError::Corrupt)?;
                self.store(&record_key, Write::Put(record)).await?;
                directory.put(&commit.key, &bytes).await?;
            }
            None => {
                self.store::<Versioned>(&record_key, Write::Delete).await?;
                directory.delete(&commit.key).await?;
            }
        }
        for key in &change.cascade {
            directory.delete(key).await?;
        }
        Ok(Ok(version))
    }

    fn kek(&self) -> Result<Kek, StoreError> {
        let secret =
            crate::env_value(&self.env, "KEY_ENCRYPTION_SECRET").ok_or(StoreError::Unavailable)?;
        Kek::derive(secret.as_bytes()).map_err(|_| StoreError::Unavailable)
    }

    /// Returns the keyring, generating it on the first call ever. Generation awaits
    /// WebCrypto, during which other calls may run; the storage is checked again
    /// afterwards (with no I/O but storage in between), so exactly one keyring wins.
    async fn ensure_keyring(&self, now: UnixTime) -> Result<Keyring, StoreError> {
        if let Some(ring) = self.load::<Keyring>(RING).await? {
            return Ok(ring);
        }
        let generated = Keyring::generate(&WebCrypto, &self.kek()?, now, &mut rand_core::OsRng)
            .await
            .map_err(|_| StoreError::Unavailable)?;
        if let Some(ring) = self.load::<Keyring>(RING).await? {
            return Ok(ring);
        }
        self.store(RING, Write::Put(generated.clone())).await?;
        self.publish(&generated).await?;
        Ok(generated)
    }

    /// Writes the keyring to KV for the read path.
    async fn publish(&self, ring: &Keyring) -> Result<(), StoreError> {
        let kv = self.env.kv("DIRECTORY").map_err(|_| StoreError::Unavailable)?;
        let directory = crate::kv::KvDirectory::new(kv);
        let bytes = serde_json::to_vec(ring).map_err(|_| StoreError::Corrupt)?;
        directory.put(KEYRING_KEY, &bytes).await
    }
}
