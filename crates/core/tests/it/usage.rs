//! Usage statistics: the token endpoint counts an app's logins and failures after
//! its response, each isolate batches the counts and writes an app's series at most
//! once per flush interval, and `GET /admin/v1/apps/{client_id}/usage` reports them.

use gatehouse_core::store::batch::FLUSH_EVERY_SECS;
use gatehouse_testkit::{Scenario, body_json};
use http::Method;
use serde_json::{Value, json};

fn create_s2s(s: &Scenario, token: &str, name: &str) -> (String, String) {
    let response = s.admin(
        Method::POST,
        "/admin/v1/apps",
        token,
        Some(json!({"client_name": name, "type": "s2s"})),
        &[],
    );
    assert_eq!(response.status(), 201);
    let app = body_json(&response);
    (
        app["client_id"].as_str().unwrap().to_owned(),
        app["client_secret"].as_str().unwrap().to_owned(),
    )
}

fn usage(s: &Scenario, token: &str, id: &str, query: &str) -> http::Response<Vec<u8>> {
    s.admin(Method::GET, &format!("/admin/v1/apps/{id}/usage{query}"), token, None, &[])
}

fn totals(report: &Value) -> (u64, u64, u64) {
    let t = &report["totals"];
    (
        t["logins"].as_u64().unwrap(),
        t["registrations"].as_u64().unwrap(),
        t["failures"].as_u64().unwrap(),
    )
}

#[test]
fn tokens_and_refusals_are_counted_per_app_and_hour() {
    let s = Scenario::default();
    let admin = s.bearer(None);
    let (id, secret) = create_s2s(&s, &admin, "counted_job");
    let (other, _) = create_s2s(&s, &admin, "quiet_job");
    let grant = "grant_type=client_credentials";
    assert_eq!(s.post_form("/token", grant, Some((&id, &secret))).status(), 200);
    assert_eq!(s.post_form("/token", grant, Some((&id, &secret))).status(), 200);
    assert_eq!(s.post_form("/token", grant, Some((&id, "wrong"))).status(), 401);
    let scoped = "grant_type=client_credentials&scope=gatehouse%3Aadmin";
    assert_eq!(s.post_form("/token", scoped, Some((&id, &secret))).status(), 400);
    s.clock.advance(3600);
    assert_eq!(s.post_form("/token", grant, Some((&id, &secret))).status(), 200);
    // Unknown clients and the bootstrap client have no usage series.
    assert_eq!(s.post_form("/token", grant, Some(("nobody", "x"))).status(), 401);
    s.flush_usage();

    let response = usage(&s, &admin, &id, "");
    assert_eq!(response.status(), 200);
    let report = body_json(&response);
    assert_eq!(report["client_id"], id.as_str());
    assert_eq!(report["interval"], "hour");
    assert_eq!(report["buckets"].as_array().unwrap().len(), 24);
    assert_eq!(totals(&report), (3, 0, 2));
    assert_eq!(report["totals"]["tokens"], 3, "each token response counted");
    let busy: Vec<(u64, u64)> = report["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["logins"].as_u64().unwrap() + b["failures"].as_u64().unwrap() > 0)
        .map(|b| (b["logins"].as_u64().unwrap(), b["failures"].as_u64().unwrap()))
        .collect();
    assert_eq!(busy, vec![(2, 2), (1, 0)]);

    let daily = body_json(&usage(&s, &admin, &id, "?interval=day"));
    assert_eq!(daily["buckets"].as_array().unwrap().len(), 30);
    assert_eq!(totals(&daily), (3, 0, 2));
    assert_eq!(totals(&body_json(&usage(&s, &admin, &other, ""))), (0, 0, 0));
    assert_eq!(s.deferred_failures(), 0);
}

#[test]
fn usage_needs_apps_read_and_a_known_app() {
    let s = Scenario::default();
    let admin = s.bearer(None);
    let (id, _) = create_s2s(&s, &admin, "watched_job");
    let users_only = s.bearer(Some("gatehouse:users_read"));
    assert_eq!(usage(&s, &users_only, &id, "").status(), 403);
    let reader = s.bearer(Some("gatehouse:apps_read"));
    assert_eq!(usage(&s, &reader, &id, "").status(), 200);
    let missing = usage(&s, &admin, "no-such-app", "");
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.headers()["content-type"], "application/problem+json");
    let bad = usage(&s, &admin, &id, "?interval=week");
    assert_eq!(bad.status(), 400);
    assert_eq!(body_json(&bad)["errors"][0]["pointer"], "interval");
    let post = s.admin(Method::POST, &format!("/admin/v1/apps/{id}/usage"), &admin, None, &[]);
    assert_eq!(post.status(), 405);
}

#[test]
fn a_counter_outage_never_fails_a_token_request() {
    let s = Scenario::default();
    let admin = s.bearer(None);
    let (id, secret) = create_s2s(&s, &admin, "resilient_job");
    s.engine.platform().counters.outage.set(true);
    let response = s.post_form("/token", "grant_type=client_credentials", Some((&id, &secret)));
    assert_eq!(response.status(), 200);
    assert_eq!(s.deferred_failures(), 1);
    let report = usage(&s, &admin, &id, "");
    assert_eq!(report.status(), 503);
    s.engine.platform().counters.outage.set(false);
    assert_eq!(totals(&body_json(&usage(&s, &admin, &id, ""))), (0, 0, 0));
}

#[test]
fn a_busy_app_writes_its_usage_at_most_once_per_flush_interval() {
    let s = Scenario::default();
    let admin = s.bearer(None);
    let (id, secret) = create_s2s(&s, &admin, "busy_job");
    let grant = "grant_type=client_credentials";
    let before = s.engine.platform().counters.tallies.get();
    // 60 token requests over 6 seconds, from one isolate.
    for i in 0..60 {
        assert_eq!(s.post_form("/token", grant, Some((&id, &secret))).status(), 200);
        if i % 10 == 9 {
            s.clock.advance(1);
        }
    }
    let writes = s.engine.platform().counters.tallies.get() - before;
    assert!(writes <= 2, "{writes} usage writes for 60 requests in one interval and a bit");
    assert_eq!(FLUSH_EVERY_SECS, 5);
    // What the batch still holds goes out with the next due flush; nothing is lost.
    s.clock.advance(FLUSH_EVERY_SECS);
    assert_eq!(s.post_form("/token", grant, Some((&id, "wrong"))).status(), 401);
    assert_eq!(totals(&body_json(&usage(&s, &admin, &id, ""))), (60, 0, 1));
    assert_eq!(s.deferred_failures(), 0);
}
