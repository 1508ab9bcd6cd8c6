//! `GET /admin/v1/apps/{client_id}/usage`: an app's sign-ins, registrations,
//! failures and token responses over time, hour by hour or day by day (UTC), for
//! charts.
//!
//! Counted after the response (see [`crate::context::Deferred`]): a user's sign-in
//! (on the hosted pages, through an upstream provider, by the simplified client or
//! the password grant) or a client_credentials grant is a login; a registration
//! is a registration and, as it signs the user in, a login; a refused attempt that
//! named the app (bad credentials, a wrong code, a refused grant or scope) a
//! failure; every token response, for any grant, a token. Buckets are kept for
//! [`USAGE_RETENTION_SECS`].

use http::StatusCode;
use serde::Serialize;

use super::Call;
use super::problem::Problem;
use crate::context::Context;
use crate::http::{Response, json_response};
use crate::platform::Platform;
use crate::store::schema;
use crate::store::{Counters, USAGE_BUCKET_SECS, USAGE_RETENTION_SECS, UsageBucket, UsageCounts};
use crate::types::UnixTime;

/// The bucket width of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Interval {
    Hour,
    Day,
}

impl Interval {
    const fn secs(self) -> u64 {
        match self {
            Self::Hour => USAGE_BUCKET_SECS,
            Self::Day => 86_400,
        }
    }
}

/// What a report covers: `[from, to)`, both on interval boundaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Range {
    from: UnixTime,
    to: UnixTime,
    interval: Interval,
}

#[derive(Serialize)]
struct Report<'a> {
    client_id: &'a str,
    interval: Interval,
    from: UnixTime,
    to: UnixTime,
    buckets: Vec<UsageBucket>,
    totals: UsageCounts,
}

/// Reads `from`, `to` (Unix seconds) and `interval` (`hour`, the default, or `day`).
/// Without `to` the report ends with the current interval; without `from` it covers
/// the 24 hours (or 30 days) before `to`.
fn range(query: &str, now: UnixTime) -> Result<Range, Problem> {
    let (mut from, mut to, mut interval) = (None, None, Interval::Hour);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let time = |field: &str| {
            value.parse::<u64>().map(UnixTime::from_secs).map_err(|_| {
                Problem::invalid_field(field, "must be a time in seconds since the Unix epoch")
            })
        };
        match name {
            "from" => from = Some(time("from")?),
            "to" => to = Some(time("to")?),
            "interval" => {
                interval = match value {
                    "hour" => Interval::Hour,
                    "day" => Interval::Day,
                    _ => return Err(Problem::invalid_field("interval", "must be hour or day")),
                };
            }
            other => return Err(Problem::invalid_field(other, "is not a known query parameter")),
        }
    }
    let step = interval.secs();
    let floor = |t: UnixTime| UnixTime::from_secs(t.as_secs() - t.as_secs() % step);
    let to = floor(to.unwrap_or(now)).plus(if to.is_some() { 0 } else { step });
    let default_span = match interval {
        Interval::Hour => 86_400,
        Interval::Day => 30 * 86_400,
    };
    let from = floor(from.unwrap_or_else(|| to.minus(default_span)));
    if from >= to {
        return Err(Problem::invalid_field("from", "must be before to"));
    }
    if to.as_secs() - from.as_secs() > USAGE_RETENTION_SECS + step {
        return Err(Problem::invalid_field(
            "from",
            format!("reports span at most {} days", USAGE_RETENTION_SECS / 86_400),
        ));
    }
    Ok(Range { from, to, interval })
}

/// Every interval of `range`, empty ones included, from the stored hourly buckets.
fn report_buckets(range: Range, stored: &[UsageBucket]) -> Vec<UsageBucket> {
    let step = range.interval.secs();
    let mut out = Vec::new();
    let mut start = range.from;
    while start < range.to {
        let end = start.plus(step);
        let mut bucket = UsageBucket::empty(start);
        for hour in stored.iter().filter(|b| b.start >= start && b.start < end) {
            bucket.add(hour.counts());
        }
        out.push(bucket);
        start = end;
    }
    out
}

pub(super) async fn get<P: Platform>(
    call: &Call<'_, P>,
    id: &str,
    cx: &Context<'_>,
) -> Result<Response, Problem> {
    let range = range(call.request.uri().query().unwrap_or(""), cx.now())?;
    // 404 for an app that does not exist (a deleted app's series ages out).
    super::read(call.engine, &schema::app(id))
        .await?
        .ok_or_else(|| Problem::not_found("no app with this client_id"))?;
    let stored = call
        .engine
        .platform()
        .counters()
        .usage(&schema::usage_series(id), cx.now())
        .await
        .map_err(|_| Problem::unavailable())?;
    let buckets = report_buckets(range, &stored);
    let totals = buckets.iter().fold(UsageCounts::default(), |mut t, b| {
        t.merge(b.counts());
        t
    });
    let report = Report {
        client_id: id,
        interval: range.interval,
        from: range.from,
        to: range.to,
        buckets,
        totals,
    };
    Ok(json_response(StatusCode::OK, &report))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_764_547_000; // 2025-11-30 23:56:40 UTC

    #[test]
    fn defaults_cover_the_last_day_by_hour() {
        let r = range("", UnixTime::from_secs(NOW)).unwrap();
        assert_eq!(r.interval, Interval::Hour);
        assert_eq!(r.to.as_secs() % 3600, 0);
        assert!(r.to.as_secs() > NOW);
        assert_eq!(r.to.as_secs() - r.from.as_secs(), 86_400);
    }

    #[test]
    fn bad_queries_name_the_parameter() {
        let now = UnixTime::from_secs(NOW);
        for (query, field) in [
            ("from=yesterday", "from"),
            ("interval=week", "interval"),
            ("from=100&to=50", "from"),
            ("from=0", "from"),
            ("limit=3", "limit"),
        ] {
            let problem = range(query, now).unwrap_err();
            let body: serde_json::Value =
                serde_json::from_slice(problem.into_response().body()).unwrap();
            assert_eq!(body["errors"][0]["pointer"], field, "{query}");
        }
    }

    #[test]
    fn hours_roll_up_into_days_with_empty_intervals_kept() {
        let day = 1_764_460_800; // a UTC midnight
        let hour = |h: u64, logins: u64, failures: u64| UsageBucket {
            start: UnixTime::from_secs(day + h * 3600),
            logins,
            registrations: 0,
            failures,
            tokens: logins,
        };
        let stored = [hour(1, 2, 0), hour(5, 1, 1), hour(30, 4, 0)];
        let range = Range {
            from: UnixTime::from_secs(day - 86_400),
            to: UnixTime::from_secs(day + 2 * 86_400),
            interval: Interval::Day,
        };
        let days = report_buckets(range, &stored);
        let counts: Vec<(u64, u64)> = days.iter().map(|b| (b.logins, b.failures)).collect();
        assert_eq!(counts, vec![(0, 0), (3, 1), (4, 0)]);
    }
}
