use std::cell::Cell;

use base64::Engine as _;
use gatehouse_core::http::{Request, Response};
use gatehouse_core::store::batch::UsageBatch;
use gatehouse_core::types::UnixTime;
use gatehouse_core::{Config, Context, Engine};
use http::{HeaderValue, Method, header};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use crate::platform::MemoryPlatform;

/// The key-encryption secret every test platform uses.
pub const TEST_KEK: &str = "test key encryption secret, 32+ bytes long";
/// The issuer of test scenarios.
pub const ISSUER: &str = "https://id.example.test";
/// The bootstrap client of test scenarios.
pub const ADMIN_ID: &str = "admin-client";
/// Its secret.
pub const ADMIN_SECRET: &str = "admin-secret-0123456789";

/// A repeatable rng.
pub fn seeded_rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// A clock that moves only when told.
#[derive(Debug)]
pub struct FakeClock(Cell<u64>);

impl FakeClock {
    /// A clock at `secs` since the epoch.
    pub fn at(secs: u64) -> Self {
        Self(Cell::new(secs))
    }
    /// The time.
    pub fn now(&self) -> UnixTime {
        UnixTime::from_secs(self.0.get())
    }
    /// Moves the clock forward.
    pub fn advance(&self, secs: u64) {
        self.0.set(self.0.get() + secs);
    }
}

/// The JSON body of a response.
pub fn body_json(response: &Response) -> serde_json::Value {
    serde_json::from_slice(response.body()).expect("response body is json")
}

/// The whole engine in-process on memory stores, a fake clock and a seeded rng.
pub struct Scenario {
    /// The engine under test.
    pub engine: Engine<MemoryPlatform>,
    /// Its clock.
    pub clock: FakeClock,
    rng: std::cell::RefCell<ChaCha20Rng>,
    usage: std::cell::RefCell<UsageBatch>,
    deferred_failures: std::cell::Cell<usize>,
    diagnostics: std::cell::RefCell<Vec<String>>,
    held_posts: std::cell::RefCell<Option<Vec<gatehouse_core::fetch::Post>>>,
}

impl Default for Scenario {
    fn default() -> Self {
        Self::with_vars(&[])
    }
}

impl Scenario {
    /// A scenario whose variables are the defaults overridden by `vars`.
    pub fn with_vars(vars: &[(&str, Option<&str>)]) -> Self {
        let defaults = [
            ("ISSUER", Some(ISSUER)),
            ("KEY_ENCRYPTION_SECRET", Some(TEST_KEK)),
            ("ADMIN_CLIENT_ID", Some(ADMIN_ID)),
            ("ADMIN_CLIENT_SECRET", Some(ADMIN_SECRET)),
        ];
        let lookup = |name: &str| {
            vars.iter()
                .chain(defaults.iter())
                .find(|(k, _)| *k == name)
                .and_then(|(_, v)| v.map(str::to_owned))
        };
        let config = Config::from_vars(lookup).expect("test configuration is valid");
        Self {
            engine: Engine::new(config, MemoryPlatform::default()),
            clock: FakeClock::at(1_700_000_000),
            rng: std::cell::RefCell::new(seeded_rng(1)),
            usage: std::cell::RefCell::new(UsageBatch::new()),
            deferred_failures: std::cell::Cell::new(0),
            diagnostics: std::cell::RefCell::new(Vec::new()),
            held_posts: std::cell::RefCell::new(None),
        }
    }

    /// What the engine asked the host to log so far, oldest first (emptied).
    pub fn take_diagnostics(&self) -> Vec<String> {
        std::mem::take(&mut *self.diagnostics.borrow_mut())
    }

    /// Keeps the hook notifications requests leave for after their response
    /// instead of delivering them, until [`Scenario::release_notifications`].
    pub fn hold_notifications(&self) {
        self.held_posts.borrow_mut().get_or_insert_with(Vec::new);
    }

    /// Delivers the held notifications (as the host's `waitUntil` does) and stops
    /// holding; answers how many there were.
    pub fn release_notifications(&self) -> usize {
        let posts = self.held_posts.borrow_mut().take().unwrap_or_default();
        let count = posts.len();
        let failures = pollster::block_on(self.engine.deliver(posts));
        self.diagnostics.borrow_mut().extend(failures);
        count
    }

    /// How many writes of deferred work (usage statistics) failed so far.
    pub fn deferred_failures(&self) -> usize {
        self.deferred_failures.get()
    }

    /// Sends `request` through the engine at the clock's time.
    pub fn send(&self, request: Request) -> Response {
        let mut rng = self.rng.borrow_mut();
        let mut cx = Context::new(self.clock.now(), &mut *rng);
        let response = pollster::block_on(self.engine.handle(request, &mut cx));
        self.diagnostics.borrow_mut().extend(cx.take_diagnostics());
        // As the worker does after its response: deliver the hook notifications,
        // batch the usage, write what is due.
        let mut deferred = cx.take_deferred();
        let posts = deferred.take_posts();
        if let Some(held) = self.held_posts.borrow_mut().as_mut() {
            held.extend(posts);
        } else {
            let failures = pollster::block_on(self.engine.deliver(posts));
            self.diagnostics.borrow_mut().extend(failures);
        }
        let due = {
            let mut batch = self.usage.borrow_mut();
            deferred.add_to(&mut batch);
            batch.take_due(self.clock.now())
        };
        self.flush(due);
        response
    }

    /// Writes every usage count the isolate's batch still holds, due or not (as the
    /// worker's flush timer eventually does).
    pub fn flush_usage(&self) {
        let all = self.usage.borrow_mut().take_all();
        self.flush(all);
    }

    fn flush(&self, tallies: Vec<gatehouse_core::store::batch::Tally>) {
        let failed = pollster::block_on(self.engine.flush_usage(tallies));
        self.deferred_failures.set(self.deferred_failures.get() + failed);
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Response {
        self.send(http::Request::get(path).body(Vec::new()).unwrap())
    }

    /// A form `POST` to `path`, optionally with HTTP Basic credentials.
    pub fn post_form(&self, path: &str, body: &str, basic: Option<(&str, &str)>) -> Response {
        let mut request = http::Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body.as_bytes().to_vec())
            .unwrap();
        if let Some((id, secret)) = basic {
            let encode = |s: &str| form_urlencoded_component(s);
            let raw = base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                encode(id),
                encode(secret)
            ));
            request.headers_mut().insert(
                header::AUTHORIZATION,
                HeaderValue::from_str(&format!("Basic {raw}")).unwrap(),
            );
        }
        self.send(request)
    }

    /// A client credentials token for the bootstrap client, with `scope` if given.
    pub fn admin_token(&self, scope: Option<&str>) -> Response {
        let body = match scope {
            Some(scope) => {
                format!("grant_type=client_credentials&scope={}", form_urlencoded_component(scope))
            }
            None => "grant_type=client_credentials".to_owned(),
        };
        self.post_form("/token", &body, Some((ADMIN_ID, ADMIN_SECRET)))
    }
}

impl Scenario {
    /// A bearer token of the bootstrap client with `scope` (every management scope
    /// when `None`).
    pub fn bearer(&self, scope: Option<&str>) -> String {
        let response = self.admin_token(scope);
        assert_eq!(response.status(), 200, "admin token: {:?}", body_json(&response));
        body_json(&response)["access_token"].as_str().unwrap().to_owned()
    }

    /// A management API call with a JSON body and optional extra headers.
    pub fn admin(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<serde_json::Value>,
        headers: &[(&str, &str)],
    ) -> Response {
        let mut builder = http::Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"));
        if body.is_some() {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
        }
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let body = body.map(|b| serde_json::to_vec(&b).unwrap()).unwrap_or_default();
        self.send(builder.body(body).unwrap())
    }
}

fn form_urlencoded_component(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                (b as char).to_string()
            }
            b' ' => "+".to_owned(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
