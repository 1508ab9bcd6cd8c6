//! Usage counting off the hot path.
//!
//! Writing an app's usage Durable Object on every token request would make one
//! object as hot as the app is busy. Instead each isolate keeps one [`UsageBatch`]:
//! the host adds what a request counted ([`crate::context::Deferred`]) and, after the
//! response (in the worker, under `waitUntil`), writes what [`UsageBatch::take_due`]
//! hands back with [`crate::engine::Engine::flush_usage`], several events per
//! [`super::Counters::tally`] call. An app's series is written at most once per
//! [`FLUSH_EVERY_SECS`] per isolate (sooner only when the batch grows past
//! [`MAX_PENDING_EVENTS`] or [`MAX_PENDING_ENTRIES`]), so writes per app are bounded
//! by the number of isolates, not by the request rate.
//!
//! What an isolate has not flushed yet is lost with it: at most the last
//! [`FLUSH_EVERY_SECS`] of its counts (the host arms a timer for the next due flush,
//! [`UsageBatch::timer`], so counts do not wait for the next request).

use std::collections::BTreeMap;

use super::{USAGE_BUCKET_SECS, UsageCounts, UsageEvent};
use crate::types::UnixTime;

/// The shortest time between two writes of one app's series from one isolate.
pub const FLUSH_EVERY_SECS: u64 = 5;
/// A batch holding this many events is flushed whole at once.
pub const MAX_PENDING_EVENTS: u64 = 1000;
/// A batch holding this many (series, hour) entries is flushed whole at once.
pub const MAX_PENDING_ENTRIES: usize = 256;

/// One write of a flush: `counts` for the hour starting at `hour` of `series`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    /// The usage series.
    pub series: String,
    /// The start of the hour the events fell in.
    pub hour: UnixTime,
    /// The events.
    pub counts: UsageCounts,
}

/// One isolate's unflushed usage counts. See the [module](self) documentation.
#[derive(Debug, Default)]
pub struct UsageBatch {
    /// Series -> hour -> counts.
    pending: BTreeMap<String, BTreeMap<UnixTime, UsageCounts>>,
    /// When each series was last flushed (only while that still holds a flush back).
    flushed_at: BTreeMap<String, UnixTime>,
    events: u64,
    entries: usize,
    timer: Option<UnixTime>,
}

impl UsageBatch {
    /// An empty batch.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether nothing is waiting.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Counts `event` in `series` at `at`.
    pub fn add(&mut self, series: &str, event: UsageEvent, at: UnixTime) {
        let hour = UnixTime::from_secs(at.as_secs() - at.as_secs() % USAGE_BUCKET_SECS);
        let hours = self.pending.entry(series.to_owned()).or_default();
        let counts = hours.entry(hour).or_insert_with(|| {
            self.entries += 1;
            UsageCounts::default()
        });
        counts.add(event, 1);
        self.events = self.events.saturating_add(1);
    }

    fn due_at(&self, series: &str) -> Option<UnixTime> {
        self.flushed_at.get(series).map(|t| t.plus(FLUSH_EVERY_SECS))
    }

    /// Takes what is due at `now`: every series not flushed in the last
    /// [`FLUSH_EVERY_SECS`], or everything when the batch is over its bounds.
    pub fn take_due(&mut self, now: UnixTime) -> Vec<Tally> {
        if self.timer.is_some_and(|t| t <= now) {
            self.timer = None;
        }
        self.flushed_at.retain(|_, t| now < t.plus(FLUSH_EVERY_SECS));
        let overflow = self.events >= MAX_PENDING_EVENTS || self.entries >= MAX_PENDING_ENTRIES;
        let due: Vec<String> = self
            .pending
            .keys()
            .filter(|series| overflow || self.due_at(series).is_none_or(|d| d <= now))
            .cloned()
            .collect();
        let mut out = Vec::new();
        for series in due {
            let Some(hours) = self.pending.remove(&series) else { continue };
            for (hour, counts) in hours {
                self.entries = self.entries.saturating_sub(1);
                self.events = self.events.saturating_sub(counts.total());
                out.push(Tally { series: series.clone(), hour, counts });
            }
            self.flushed_at.insert(series, now);
        }
        out
    }

    /// Takes everything, due or not (e.g. for a host that cannot wait).
    pub fn take_all(&mut self) -> Vec<Tally> {
        self.events = 0;
        self.entries = 0;
        std::mem::take(&mut self.pending)
            .into_iter()
            .flat_map(|(series, hours)| {
                hours.into_iter().map(move |(hour, counts)| Tally {
                    series: series.clone(),
                    hour,
                    counts,
                })
            })
            .collect()
    }

    /// When the earliest waiting series becomes due, if any waits.
    #[must_use]
    pub fn next_due(&self) -> Option<UnixTime> {
        self.pending.keys().filter_map(|series| self.due_at(series)).min()
    }

    /// Whether the host should arm a timer to flush later: the seconds to wait, when
    /// counts wait and no timer is armed for their due time already. The host then
    /// calls [`UsageBatch::take_due`] when it fires.
    pub fn timer(&mut self, now: UnixTime) -> Option<u64> {
        let due = self.next_due()?;
        if self.timer.is_some_and(|t| t <= due) {
            return None;
        }
        self.timer = Some(due);
        Some(due.as_secs().saturating_sub(now.as_secs()))
    }

    /// For the host when its timer fired: takes what is due at `now` and says when to
    /// wait again, if counts still wait. The fired timer counts as spent even when
    /// it fired early (host clocks count whole seconds), so waiting counts always get
    /// another timer and never stay behind until the series' next event.
    pub fn fired(&mut self, now: UnixTime) -> (Vec<Tally>, Option<u64>) {
        let due = self.take_due(now);
        self.timer = None;
        (due, self.timer(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timer_that_fires_early_is_armed_again() {
        let mut batch = UsageBatch::new();
        batch.add("a", UsageEvent::Login, T0);
        assert_eq!(logins(&batch.take_due(T0)), 1);
        batch.add("a", UsageEvent::Login, T0);
        let wait = batch.timer(T0).unwrap();
        assert_eq!(wait, FLUSH_EVERY_SECS);
        // The timer fires a second early: nothing is due yet, but a new wait is set.
        let (due, again) = batch.fired(T0.plus(wait - 1));
        assert!(due.is_empty());
        assert_eq!(again, Some(1));
        let (due, again) = batch.fired(T0.plus(wait));
        assert_eq!(logins(&due), 1);
        assert_eq!(again, None);
    }

    const T0: UnixTime = UnixTime::from_secs(1_700_000_000);

    fn logins(tallies: &[Tally]) -> u64 {
        tallies.iter().map(|t| t.counts.logins).sum()
    }

    #[test]
    fn the_first_event_of_a_series_is_due_at_once_then_at_most_every_interval() {
        let mut batch = UsageBatch::new();
        batch.add("a", UsageEvent::Login, T0);
        let first = batch.take_due(T0);
        assert_eq!(logins(&first), 1);
        for i in 0..50 {
            batch.add("a", UsageEvent::Login, T0.plus(i % FLUSH_EVERY_SECS));
        }
        batch.add("a", UsageEvent::Failure, T0.plus(1));
        assert!(batch.take_due(T0.plus(FLUSH_EVERY_SECS - 1)).is_empty(), "held back");
        assert_eq!(batch.next_due(), Some(T0.plus(FLUSH_EVERY_SECS)));
        let second = batch.take_due(T0.plus(FLUSH_EVERY_SECS));
        assert_eq!(second.len(), 1, "one write for the whole interval");
        assert_eq!(
            second[0].counts,
            UsageCounts { logins: 50, registrations: 0, failures: 1, tokens: 0 }
        );
        assert!(batch.is_empty());
    }

    #[test]
    fn series_are_independent_and_hours_stay_apart() {
        let mut batch = UsageBatch::new();
        batch.add("a", UsageEvent::Login, T0);
        let _ = batch.take_due(T0);
        batch.add("a", UsageEvent::Login, T0.plus(1));
        batch.add("b", UsageEvent::Failure, T0.plus(1));
        let due = batch.take_due(T0.plus(1));
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].series, "b", "b was never flushed, a was just now");
        // An hour boundary inside one interval gives two writes, one per hour.
        let hour_end =
            UnixTime::from_secs((T0.as_secs() / USAGE_BUCKET_SECS + 1) * USAGE_BUCKET_SECS);
        batch.add("c", UsageEvent::Login, hour_end.minus(1));
        batch.add("c", UsageEvent::Login, hour_end);
        let c: Vec<UnixTime> =
            batch.take_due(hour_end).iter().filter(|t| t.series == "c").map(|t| t.hour).collect();
        assert_eq!(c, vec![hour_end.minus(USAGE_BUCKET_SECS), hour_end]);
    }

    #[test]
    fn a_batch_past_its_bound_is_flushed_whole() {
        let mut batch = UsageBatch::new();
        batch.add("a", UsageEvent::Login, T0);
        let _ = batch.take_due(T0);
        for _ in 0..MAX_PENDING_EVENTS - 1 {
            batch.add("a", UsageEvent::Login, T0);
        }
        assert!(batch.take_due(T0).is_empty());
        batch.add("a", UsageEvent::Login, T0);
        assert_eq!(logins(&batch.take_due(T0)), MAX_PENDING_EVENTS);
        for i in 0..MAX_PENDING_ENTRIES {
            batch.add(&format!("s{i}"), UsageEvent::Login, T0);
        }
        assert_eq!(batch.take_due(T0.plus(1)).len(), MAX_PENDING_ENTRIES);
    }

    #[test]
    fn one_timer_is_armed_for_the_next_due_flush() {
        let mut batch = UsageBatch::new();
        assert_eq!(batch.timer(T0), None, "nothing waits");
        batch.add("a", UsageEvent::Login, T0);
        let _ = batch.take_due(T0);
        assert_eq!(batch.timer(T0), None, "nothing waits after a flush");
        batch.add("a", UsageEvent::Login, T0.plus(2));
        assert_eq!(batch.timer(T0.plus(2)), Some(FLUSH_EVERY_SECS - 2));
        batch.add("a", UsageEvent::Login, T0.plus(3));
        assert_eq!(batch.timer(T0.plus(3)), None, "the armed timer covers it");
        assert_eq!(logins(&batch.take_due(T0.plus(FLUSH_EVERY_SECS))), 2);
        assert_eq!(batch.timer(T0.plus(FLUSH_EVERY_SECS)), None);
        assert_eq!(batch.take_all(), Vec::new());
    }
}
