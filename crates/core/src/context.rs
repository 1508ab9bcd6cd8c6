//! What one request carries besides itself, and what it leaves for after its
//! response.

use rand_core::CryptoRngCore;

use crate::fetch::Post;
use crate::store::UsageEvent;
use crate::store::batch::UsageBatch;
use crate::store::schema;
use crate::types::UnixTime;

/// What one request carries besides itself: the time, read once by the host so that
/// every check in the request agrees, the randomness source, and the work left for
/// after the response ([`Context::take_deferred`]).
pub struct Context<'r> {
    now: UnixTime,
    rng: &'r mut dyn CryptoRngCore,
    usage: Vec<(String, UsageEvent)>,
    posts: Vec<Post>,
    diagnostics: Vec<String>,
}

/// Work a request leaves for after its response: usage statistics to record, and
/// the notifications of lifecycle hooks to deliver ([`Deferred::take_posts`], sent
/// with [`Engine::deliver`](crate::Engine::deliver)). The host adds the usage to its isolate's [`UsageBatch`] ([`Deferred::add_to`]) and writes
/// what is due with [`Engine::flush_usage`](crate::Engine::flush_usage) once the response is on its way (in the
/// worker, under `waitUntil`), so counting never delays a token and a busy app's
/// usage object is written at most once per isolate every few seconds.
#[derive(Debug)]
#[must_use = "deferred work is lost unless added to a batch or run with Engine::run_deferred"]
pub struct Deferred {
    usage: Vec<(String, UsageEvent)>,
    posts: Vec<Post>,
    now: UnixTime,
}

impl Deferred {
    /// Whether there is nothing to do.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.usage.is_empty() && self.posts.is_empty()
    }

    /// The hook notifications to deliver, taken out (the usage stays).
    pub fn take_posts(&mut self) -> Vec<Post> {
        std::mem::take(&mut self.posts)
    }

    /// Adds the usage events to `batch`.
    pub fn add_to(self, batch: &mut UsageBatch) {
        for (series, event) in &self.usage {
            batch.add(series, *event, self.now);
        }
    }
}

impl<'r> Context<'r> {
    /// A context for a request handled at `now`.
    pub fn new(now: UnixTime, rng: &'r mut dyn CryptoRngCore) -> Self {
        Self { now, rng, usage: Vec::new(), posts: Vec::new(), diagnostics: Vec::new() }
    }

    /// Counts `event` in the usage series of the app `client_id`, after the response.
    pub(crate) fn count_usage(&mut self, client_id: &str, event: UsageEvent) {
        self.usage.push((schema::usage_series(client_id), event));
    }

    /// Sends `post` (a hook notification) after the response.
    pub(crate) fn defer_post(&mut self, post: Post) {
        self.posts.push(post);
    }

    /// Notes why the request was refused, for the operator's log: the answer itself
    /// stays opaque (`invalid_client` says nothing of which check failed).
    pub(crate) fn diagnose(&mut self, message: String) {
        self.diagnostics.push(message);
    }

    /// What the host should log about this request (never secrets or tokens).
    pub fn take_diagnostics(&mut self) -> Vec<String> {
        std::mem::take(&mut self.diagnostics)
    }

    /// The work this request left for after its response.
    pub fn take_deferred(&mut self) -> Deferred {
        Deferred {
            usage: std::mem::take(&mut self.usage),
            posts: std::mem::take(&mut self.posts),
            now: self.now,
        }
    }

    /// The request's time.
    #[must_use]
    pub fn now(&self) -> UnixTime {
        self.now
    }

    /// The randomness source.
    pub fn rng(&mut self) -> &mut dyn CryptoRngCore {
        self.rng
    }
}

impl std::fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").field("now", &self.now).finish_non_exhaustive()
    }
}
