//! The strong stores on one Durable Object class, [`Vault`].
//!
//! Codes, refresh families, sessions and counters live in Durable Objects, so that
//! whatever must happen exactly once does, worldwide: a code, a family or a session
//! in an instance of its own (`once/<key>`, `family/<id>`, `session/<id>`), shared
//! records sharded by key (`once:NN` for assertion replays, `counter:NN`, `usage:NN`). The keyring has a single instance (`keyring`), its one writer.
//! Every change is a pure transition from [`gatehouse_core::store::records`]; the
//! object only loads the record, applies the transition and writes the result, and
//! runs no other I/O in between, so the object's input gate makes each call atomic.
//!
//! The `registry` and `keyring` instances are the only writers of their Workers KV
//! keys. A change and what it must publish (`pub:<KV key>`, an outbox entry) are
//! written in one storage transaction; the instance then publishes pending entries
//! in commit order, one publisher at a time, and, if KV refuses (about one write per
//! second per key), retries from its alarm until KV holds the newest state. The
//! caller's answer reflects the commit, not the publication.
//!
//! The alarm also sweeps expired records, one page of storage at a time, resuming
//! in the next alarm.

use std::cell::Cell;

use futures_util::lock::Mutex;
use gatehouse_core::keys::{Kek, Keyring};
use gatehouse_core::store::bytes;
use gatehouse_core::store::records::{self, OUTBOX_PREFIX, Publication, Retry, Write};
use gatehouse_core::store::{
    Commit, CommitError, Counters, Directory, KeyVault, OnceStore, RefreshFamilies, Registry,
    Rotation, Sessions, StoreError, Taken, UsageBucket, UsageCounts, Versioned, check_key,
};
use gatehouse_core::types::UnixTime;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use worker::{
    DurableObject, Env, ListOptions, ObjectNamespace, Request, Response, State, Storage,
    durable_object,
};

use crate::crypto::WebCrypto;
use gatehouse_core::store::schema;

/// How many instances each kind of record is spread over.
const SHARDS: u32 = 64;
/// How often an instance sweeps expired records.
const SWEEP_EVERY_MS: i64 = 3600 * 1000;
/// The keyring's storage key inside its instance.
const RING: &str = "ring";
/// How soon the alarm comes back while a sweep has more pages.
const SWEEP_NEXT_PAGE_MS: i64 = 1000;
/// The registry's single instance: administered records and their unique names.
const REGISTRY: &str = "registry";
/// The writer's next outbox sequence number.
const OUTBOX_SEQ: &str = "~outbox-seq";
/// Where the paged sweep stands ([`SweepState`]).
const SWEEP_STATE: &str = "~sweep";
/// How many outbox entries one publication round reads.
const OUTBOX_PAGE: usize = 128;

/// Where an instance's expiry sweep stands, kept across alarms.
#[derive(Debug, Default, Serialize, Deserialize)]
struct SweepState {
    /// When the next page is due (milliseconds since the epoch).
    due_ms: i64,
    /// The last key the previous page read, if the sweep is under way.
    resume_after: Option<String>,
}

/// One call to the vault.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Call {
    OncePut {
        key: String,
        #[serde(with = "bytes")]
        value: Vec<u8>,
        expires_at: UnixTime,
        now: UnixTime,
    },
    OnceTake {
        key: String,
        now: UnixTime,
    },
    FamilyCreate {
        key: String,
        #[serde(with = "bytes::digest")]
        token: [u8; 32],
        #[serde(with = "bytes")]
        data: Vec<u8>,
        expires_at: UnixTime,
        now: UnixTime,
    },
    FamilyRotate {
        key: String,
        #[serde(with = "bytes::digest")]
        presented: [u8; 32],
        #[serde(with = "bytes::digest")]
        next: [u8; 32],
        grace: u64,
        now: UnixTime,
    },
    FamilyInspect {
        key: String,
        #[serde(with = "bytes::digest")]
        presented: [u8; 32],
        now: UnixTime,
    },
    FamilyRevoke {
        key: String,
    },
    SessionPut {
        key: String,
        #[serde(with = "bytes")]
        data: Vec<u8>,
        expires_at: UnixTime,
    },
    SessionGet {
        key: String,
        now: UnixTime,
    },
    SessionDelete {
        key: String,
    },
    SessionSwap {
        key: String,
        #[serde(with = "bytes::optional")]
        expected: Option<Vec<u8>>,
        #[serde(with = "bytes::optional")]
        data: Option<Vec<u8>>,
        expires_at: UnixTime,
        now: UnixTime,
    },
    CounterAdd {
        key: String,
        delta: u64,
        window_end: UnixTime,
        now: UnixTime,
    },
    CounterGet {
        key: String,
        now: UnixTime,
    },
    CounterReset {
        key: String,
    },
    UsageTally {
        key: String,
        counts: UsageCounts,
        at: UnixTime,
    },
    UsageRead {
        key: String,
        now: UnixTime,
    },
    KeysEnsure {
        now: UnixTime,
    },
    RegistryCommit {
        commit: Commit,
    },
    RegistryRead {
        key: String,
    },
    KeysRotate {
        now: UnixTime,
    },
    KeysRevoke {
        kid: String,
        now: UnixTime,
    },
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
    Data(#[serde(with = "bytes::optional")] Option<Vec<u8>>),
    Keyring(Keyring),
    MaybeKeyring(Option<Keyring>),
    Version(u64),
    Record(Option<Versioned>),
    CommitRefused(CommitError),
    Conflict,
    Refused(String),
    Failed,
}

/// Which instance holds `key` of `kind`. A record of one user or one client (an
/// authorization or device code, a refresh family, a session, a user's lockout
/// counter) has an instance of
/// its own, named by its key, so no object is shared between users and each
/// empties itself once its record expired. Replay records of client assertions,
/// counters and usage series are spread over [`SHARDS`] instances by a stable FNV-1a
/// hash of the key, so every isolate agrees without coordination; so are the
/// single-use records of second-factor codes, a short-lived one per sign-in.
fn instance(kind: &str, key: &str) -> String {
    let own = match kind {
        "family" | "session" => true,
        "once" => {
            !key.starts_with(schema::ASSERTION_PREFIX) && !key.starts_with(schema::MFA_ONCE_PREFIX)
        }
        "counter" => key.starts_with(schema::USER_LOCKOUT_PREFIX),
        _ => false,
    };
    if own {
        return format!("{kind}/{key}");
    }
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
        // The runtime's own objects: workers-rs's `RequestInit` would serialize its
        // `cf` options on every call, and its `text()` reads through a stream reader.
        let object: worker::worker_sys::DurableObject = stub.into_rpc();
        let init = web_sys::RequestInit::new();
        init.set_method("POST");
        init.set_body(&JsValue::from_str(&body));
        let request = web_sys::Request::new_with_str_and_init("https://vault/call", &init)
            .map_err(|e| fail("request", e.into()))?;
        let sent = object.fetch_with_request(&request).map_err(|e| fail("fetch", e.into()))?;
        let response: web_sys::Response = JsFuture::from(sent)
            .await
            .and_then(JsCast::dyn_into)
            .map_err(|e| fail("fetch", e.into()))?;
        let text = read_text(response.text()).await.map_err(|e| fail("read", e))?;
        match serde_json::from_str(&text).map_err(|_| StoreError::Corrupt)? {
            Reply::Conflict => Err(StoreError::Conflict),
            Reply::Refused(_) => Err(StoreError::Refused("the vault refused the call")),
            Reply::Failed => Err(StoreError::Unavailable),
            reply => Ok(reply),
        }
    }
}

/// The text of a body, from the runtime's `text()` promise.
async fn read_text(text: Result<js_sys::Promise, JsValue>) -> worker::Result<String> {
    let value = JsFuture::from(text?).await?;
    value.as_string().ok_or_else(|| worker::Error::RustError("a body that is not text".into()))
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
        now: UnixTime,
    ) -> Result<(), StoreError> {
        check_key(family)?;
        let call = Call::FamilyCreate {
            key: family.to_owned(),
            token: *token,
            data: data.to_vec(),
            expires_at,
            now,
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
        grace: u64,
        now: UnixTime,
    ) -> Result<Rotation, StoreError> {
        check_key(family)?;
        let call = Call::FamilyRotate {
            key: family.to_owned(),
            presented: *presented,
            next: *next,
            grace,
            now,
        };
        match self.call(&instance("family", family), &call).await? {
            Reply::Rotation(rotation) => Ok(rotation),
            other => Err(unexpected(&other)),
        }
    }

    async fn inspect(
        &self,
        family: &str,
        presented: &[u8; 32],
        now: UnixTime,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        check_key(family)?;
        let call = Call::FamilyInspect { key: family.to_owned(), presented: *presented, now };
        match self.call(&instance("family", family), &call).await? {
            Reply::Data(data) => Ok(data),
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

    async fn swap(
        &self,
        id: &str,
        expected: Option<&[u8]>,
        data: Option<&[u8]>,
        expires_at: UnixTime,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        check_key(id)?;
        let call = Call::SessionSwap {
            key: id.to_owned(),
            expected: expected.map(<[u8]>::to_vec),
            data: data.map(<[u8]>::to_vec),
            expires_at,
            now,
        };
        match self.call(&instance("session", id), &call).await? {
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
        counts: UsageCounts,
        at: UnixTime,
    ) -> Result<(), StoreError> {
        check_key(series)?;
        let call = Call::UsageTally { key: series.to_owned(), counts, at };
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

    async fn revoke(&self, kid: &str, now: UnixTime) -> Result<Option<Keyring>, StoreError> {
        match self.call("keyring", &Call::KeysRevoke { kid: kid.to_owned(), now }).await? {
            Reply::MaybeKeyring(ring) => Ok(ring),
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
    /// One publisher at a time, so publications reach KV in commit order.
    publishing: Mutex<()>,
    /// Failed publication attempts in a row.
    failures: Cell<u32>,
    /// An alarm is known to be set: calls skip asking storage until the alarm runs.
    alarm_known: Cell<bool>,
}

impl DurableObject for Vault {
    fn new(state: State, env: Env) -> Self {
        Self {
            state,
            env,
            publishing: Mutex::new(()),
            failures: Cell::new(0),
            alarm_known: Cell::new(false),
        }
    }

    async fn fetch(&self, req: Request) -> worker::Result<Response> {
        let reply = match serde_json::from_str::<Call>(&read_text(req.inner().text()).await?) {
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
        // Until it is set again below; if this run fails, the platform retries it.
        self.alarm_known.set(false);
        let now_ms = now_ms();
        let retry = self.publish_pending().await;
        let mut sweep: SweepState = self.load(SWEEP_STATE).await.ok().flatten().unwrap_or_default();
        if sweep.due_ms <= now_ms {
            let from_start = sweep.resume_after.is_none();
            let (next, kept) = self.sweep_page(sweep.resume_after.as_deref(), now_ms).await?;
            if from_start && next.resume_after.is_none() && kept == 0 && retry.is_none() {
                // Nothing left but bookkeeping (a code taken and expired, a session
                // ended): the instance forgets itself and sets no further alarm.
                self.storage().delete_all().await?;
                return Response::ok("emptied");
            }
            sweep = next;
            self.store(SWEEP_STATE, Write::Put(&sweep)).await.map_err(store_failure)?;
        }
        let next = retry.map_or(sweep.due_ms, |secs| sweep.due_ms.min(now_ms + secs_ms(secs)));
        self.storage().set_alarm(at_ms(next.max(now_ms + 1))).await?;
        self.alarm_known.set(true);
        Response::ok("swept")
    }
}

fn now_ms() -> i64 {
    let ms = js_sys::Date::now();
    if ms.is_finite() && ms > 0.0 { ms as i64 } else { 0 }
}

/// An absolute alarm time (an `i64` alone would be an offset from now).
fn at_ms(ms: i64) -> worker::ScheduledTime {
    worker::ScheduledTime::new(js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64)))
}

fn secs_ms(secs: u64) -> i64 {
    i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX / 2)
}

fn store_failure(err: StoreError) -> worker::Error {
    worker::Error::RustError(err.to_string())
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
        if self.alarm_known.get() {
            return;
        }
        match self.storage().get_alarm().await {
            Ok(Some(_)) => self.alarm_known.set(true),
            Ok(None) => {
                if self.storage().set_alarm(SWEEP_EVERY_MS).await.is_ok() {
                    self.alarm_known.set(true);
                }
            }
            Err(_) => {}
        }
    }

    /// Brings the alarm forward to `at_ms` (never later than it already is).
    async fn arm(&self, at_ms: i64) {
        match self.storage().get_alarm().await {
            Ok(Some(current)) if current <= at_ms => {}
            _ => {
                let _ = self.storage().set_alarm(self::at_ms(at_ms)).await;
            }
        }
    }

    /// Deletes the expired records of one page of storage after `resume_after`;
    /// returns where the sweep stands afterwards and how many records the page kept.
    async fn sweep_page(
        &self,
        resume_after: Option<&str>,
        now_ms: i64,
    ) -> worker::Result<(SweepState, usize)> {
        let start = resume_after.map(|key| format!("{key}\u{0}"));
        let mut options = ListOptions::new().limit(records::SWEEP_PAGE);
        if let Some(start) = start.as_deref() {
            options = options.start(start);
        }
        let listed = self.storage().list_with_options(options).await?;
        let mut entries = Vec::new();
        for entry in listed.entries() {
            let Ok(pair) = entry else { continue };
            let pair = js_sys::Array::from(&pair);
            let Some(key) = pair.get(0).as_string() else { continue };
            // Values that are not JSON text (counters of the outbox) are never expired.
            let value = pair.get(1).as_string().unwrap_or_default();
            entries.push((key, value));
        }
        let now = UnixTime::from_secs(u64::try_from(now_ms / 1000).unwrap_or(0));
        let page = records::sweep_page(&entries, now, records::SWEEP_PAGE);
        if !page.expired.is_empty() {
            self.storage().delete_multiple(page.expired).await?;
        }
        let state = match page.resume_after {
            Some(key) => {
                SweepState { due_ms: now_ms + SWEEP_NEXT_PAGE_MS, resume_after: Some(key) }
            }
            None => SweepState { due_ms: now_ms + SWEEP_EVERY_MS, resume_after: None },
        };
        Ok((state, page.kept))
    }

    /// The pending outbox entries, at most [`OUTBOX_PAGE`].
    async fn pending_publications(&self) -> Result<Vec<Publication>, StoreError> {
        let listed = self
            .storage()
            .list_with_options(ListOptions::new().prefix(OUTBOX_PREFIX).limit(OUTBOX_PAGE))
            .await
            .map_err(|_| StoreError::Unavailable)?;
        let mut pending = Vec::new();
        for value in listed.values() {
            let Ok(value) = value else { continue };
            let Some(text) = value.as_string() else { continue };
            match serde_json::from_str::<Publication>(&text) {
                Ok(publication) => pending.push(publication),
                Err(_) => worker::console_error!("vault: a malformed outbox entry is kept"),
            }
        }
        Ok(pending)
    }

    /// Publishes every pending outbox entry to KV in commit order, one publisher at
    /// a time. Returns `None` when nothing is left, or the seconds until the retry
    /// the alarm was armed for.
    async fn publish_pending(&self) -> Option<u64> {
        let _publishing = self.publishing.lock().await;
        let retry = |this: &Self, err: &StoreError| {
            let failures = this.failures.get().saturating_add(1);
            this.failures.set(failures);
            records::retry_publication(err, failures)
        };
        loop {
            let pending = match self.pending_publications().await {
                Ok(pending) => pending,
                Err(err) => return self.retry_later(retry(self, &err)).await,
            };
            if pending.is_empty() {
                self.failures.set(0);
                return None;
            }
            let full = pending.len() >= OUTBOX_PAGE;
            let directory = match self.env.kv("DIRECTORY") {
                Ok(kv) => crate::kv::KvDirectory::new(kv),
                Err(_) => return self.retry_later(retry(self, &StoreError::Unavailable)).await,
            };
            for publication in records::publish_order(pending) {
                let written = match &publication.value {
                    Some(value) => directory.put(&publication.key, value.as_bytes()).await,
                    None => directory.delete(&publication.key).await,
                };
                let outbox_key = publication.outbox_key();
                match written {
                    Ok(()) => {
                        let current = self.load::<Publication>(&outbox_key).await.ok().flatten();
                        let settle = records::settle_publication(current.as_ref(), &publication);
                        if self.store::<Publication>(&outbox_key, settle).await.is_err() {
                            return self.retry_later(Retry::After(1)).await;
                        }
                    }
                    Err(err) => match retry(self, &err) {
                        Retry::Drop => {
                            worker::console_error!(
                                "vault: KV refused {} for good: {err}",
                                publication.key
                            );
                            let _ = self.store::<Publication>(&outbox_key, Write::Delete).await;
                        }
                        later => return self.retry_later(later).await,
                    },
                }
            }
            if !full {
                self.failures.set(0);
                return None;
            }
        }
    }

    async fn retry_later(&self, retry: Retry) -> Option<u64> {
        let Retry::After(secs) = retry else { return None };
        worker::console_warn!("vault: publication to KV pending, retrying in {secs} s");
        self.arm(now_ms() + secs_ms(secs)).await;
        Some(secs)
    }

    /// Writes `puts` and `deletes` in one storage transaction.
    async fn commit_storage(
        &self,
        puts: Vec<(String, String)>,
        deletes: Vec<String>,
    ) -> Result<(), StoreError> {
        self.storage()
            .transaction(move |txn| async move {
                for key in deletes {
                    txn.delete(&key).await?;
                }
                for (key, value) in puts {
                    txn.put(&key, value).await?;
                }
                Ok(())
            })
            .await
            .map_err(|err| {
                worker::console_error!("vault: transaction failed: {err}");
                StoreError::Unavailable
            })
    }

    /// The next outbox sequence number.
    async fn outbox_seq(&self) -> Result<u64, StoreError> {
        let seq: Option<String> =
            self.storage().get(OUTBOX_SEQ).await.map_err(|_| StoreError::Unavailable)?;
        Ok(seq.and_then(|s| s.parse().ok()).unwrap_or(1))
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
            Call::FamilyCreate { key, token, data, expires_at, now } => {
                let existing = self.load(&key).await?;
                let record =
                    records::family_create(existing.as_ref(), &token, &data, expires_at, now)?;
                self.store(&key, Write::Put(record)).await?;
                Reply::Done
            }
            Call::FamilyRotate { key, presented, next, grace, now } => {
                let (rotation, write) =
                    records::family_rotate(self.load(&key).await?, &presented, &next, grace, now);
                self.store(&key, write).await?;
                Reply::Rotation(rotation)
            }
            Call::FamilyInspect { key, presented, now } => {
                let existing: Option<records::FamilyRecord> = self.load(&key).await?;
                Reply::Data(records::family_inspect(existing.as_ref(), &presented, now))
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
            Call::SessionSwap { key, expected, data, expires_at, now } => {
                let (swapped, write) = records::session_swap(
                    self.load(&key).await?,
                    expected.as_deref(),
                    data.as_deref(),
                    expires_at,
                    now,
                );
                self.store(&key, write).await?;
                Reply::Flag(swapped)
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
            Call::UsageTally { key, counts, at } => {
                let day = records::usage_day_key(&key, at);
                let record = records::usage_tally(self.load(&day).await?, counts, at);
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
                self.store_keyring(&rotated).await?;
                Reply::Keyring(rotated)
            }
            Call::KeysRevoke { kid, now } => {
                let current = self.ensure_keyring(now).await?;
                let withdrawn = current
                    .withdraw(&kid, &WebCrypto, &self.kek()?, now, &mut rand_core::OsRng)
                    .await
                    .map_err(|_| StoreError::Unavailable)?;
                if let Some(ring) = &withdrawn {
                    self.store_keyring(ring).await?;
                }
                Reply::MaybeKeyring(withdrawn)
            }
        })
    }

    /// One registry commit: loads the record and the holders of the claimed names,
    /// applies [`records::registry_commit`], writes the change and its outbox entries
    /// ([`records::commit_publications`]) in one transaction, then publishes.
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
        let seq = self.outbox_seq().await?;
        let (publications, next_seq) = match records::commit_publications(&commit.key, &change, seq)
        {
            Ok(out) => out,
            Err(refused) => return Ok(Err(refused)),
        };
        let mut puts = Vec::new();
        let mut deletes = Vec::new();
        for name in &change.release {
            let key = format!("name:{name}");
            let holder: Option<String> =
                self.storage().get(&key).await.map_err(|_| StoreError::Unavailable)?;
            if holder.as_deref() == Some(commit.key.as_str()) {
                deletes.push(key);
            }
        }
        for name in &change.claim {
            puts.push((format!("name:{name}"), commit.key.clone()));
        }
        for key in &change.cascade {
            deletes.push(format!("rec:{key}"));
        }
        let version = change.record.as_ref().map_or(0, |r| r.version);
        match &change.record {
            Some(record) => puts.push((
                record_key,
                serde_json::to_string(record).map_err(|_| StoreError::Corrupt)?,
            )),
            None => deletes.push(record_key),
        }
        for publication in &publications {
            let text = serde_json::to_string(publication).map_err(|_| StoreError::Corrupt)?;
            puts.push((publication.outbox_key(), text));
        }
        puts.push((OUTBOX_SEQ.to_owned(), next_seq.to_string()));
        self.commit_storage(puts, deletes).await?;
        // The commit stands; a publication KV refuses now is retried from the alarm.
        let _ = self.publish_pending().await;
        Ok(Ok(version))
    }

    /// Stores the keyring and its outbox entry in one transaction, then publishes.
    async fn store_keyring(&self, ring: &Keyring) -> Result<(), StoreError> {
        let value = serde_json::to_string(ring).map_err(|_| StoreError::Corrupt)?;
        let seq = self.outbox_seq().await?;
        let publication =
            Publication { seq, key: schema::KEYRING.to_owned(), value: Some(value.clone()) };
        let entry = serde_json::to_string(&publication).map_err(|_| StoreError::Corrupt)?;
        let puts = vec![
            (RING.to_owned(), value),
            (publication.outbox_key(), entry),
            (OUTBOX_SEQ.to_owned(), (seq + 1).to_string()),
        ];
        self.commit_storage(puts, Vec::new()).await?;
        let _ = self.publish_pending().await;
        Ok(())
    }

    fn kek(&self) -> Result<Kek, StoreError> {
        let secret =
            crate::env_value(&self.env, "KEY_ENCRYPTION_SECRET").ok_or(StoreError::Unavailable)?;
        Kek::derive(secret.as_bytes()).map_err(|_| StoreError::Unavailable)
    }

    /// Returns the keyring, generating it on the first call ever. Generation awaits
    /// WebCrypto, during which other calls may run; the storage is checked again
    /// afterwards (with no I/O but storage in between), so exactly one keyring wins.
    /// A publication that failed earlier is retried here too.
    async fn ensure_keyring(&self, now: UnixTime) -> Result<Keyring, StoreError> {
        if let Some(ring) = self.load::<Keyring>(RING).await? {
            let _ = self.publish_pending().await;
            return Ok(ring);
        }
        let generated = Keyring::generate(&WebCrypto, &self.kek()?, now, &mut rand_core::OsRng)
            .await
            .map_err(|_| StoreError::Unavailable)?;
        if let Some(ring) = self.load::<Keyring>(RING).await? {
            return Ok(ring);
        }
        self.store_keyring(&generated).await?;
        Ok(generated)
    }
}
