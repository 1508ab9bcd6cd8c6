//! The store contract suite: one set of expectations, run against every
//! implementation (the memory stores in `cargo test`, the Workers KV and Durable
//! Object stores inside workerd).
//!
//! Each check returns `Err` with a message instead of panicking, so a host without
//! unwinding (wasm) can report it. Keys are placed under `ns` so the suite can run
//! repeatedly against persistent stores; `now` is any time on the caller's clock.

use super::schema;
use super::{
    Commit, CommitError, Counters, Directory, Expect, KeyVault, OnceStore, RefreshFamilies,
    Registry, Rotation, Sessions, StoreError, Taken, USAGE_BUCKET_SECS, USAGE_RETENTION_SECS,
    UsageBucket, UsageCounts, UsageEvent, Versioned,
};
use crate::keys::Keyring;
use crate::types::UnixTime;

/// The result of one contract check: `Err` names the broken expectation.
pub type Outcome = Result<(), String>;

macro_rules! expect {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

fn found<T: std::fmt::Debug>(what: &str, result: Result<T, StoreError>) -> Result<T, String> {
    result.map_err(|e| format!("{what}: unexpected store error {e}"))
}

/// [`Directory`]: round trip, KV's limits, delete, paginated ordered listing.
///
/// # Errors
///
/// The first expectation the store breaks.
pub async fn directory<D: Directory>(store: &D, ns: &str) -> Outcome {
    let key = format!("{ns}/dir/a");
    found("put", store.put(&key, b"1").await)?;
    expect!(
        found("get", store.get(&key).await)? == Some(b"1".to_vec()),
        "get returns what put stored"
    );
    found("put", store.put(&key, b"2").await)?;
    expect!(found("get", store.get(&key).await)? == Some(b"2".to_vec()), "put replaces");
    found("delete", store.delete(&key).await)?;
    expect!(found("get", store.get(&key).await)?.is_none(), "delete removes");
    found("delete", store.delete(&key).await)?;

    let long = "k".repeat(513);
    expect!(
        matches!(store.put(&long, b"x").await, Err(StoreError::Refused(_))),
        "a 513-byte key is refused"
    );
    expect!(matches!(store.get("").await, Err(StoreError::Refused(_))), "an empty key is refused");
    expect!(
        matches!(store.put("..", b"x").await, Err(StoreError::Refused(_))),
        "the key .. is refused"
    );

    for i in 0..5 {
        found("put", store.put(&format!("{ns}/list/{i}"), b"v").await)?;
    }
    found("put", store.put(&format!("{ns}/other"), b"v").await)?;
    let prefix = format!("{ns}/list/");
    let first = found("list", store.list(&prefix, None, 2).await)?;
    expect!(
        first.keys == vec![format!("{prefix}0"), format!("{prefix}1")],
        "list is ordered and limited: {:?}",
        first.keys
    );
    let cursor = first.cursor.ok_or("a partial list has a cursor")?;
    let mut all = first.keys;
    let mut next = Some(cursor);
    while let Some(cursor) = next {
        let page = found("list", store.list(&prefix, Some(&cursor), 2).await)?;
        all.extend(page.keys);
        next = page.cursor;
    }
    expect!(all.len() == 5, "pages cover every key once: {all:?}");
    expect!(
        matches!(store.list(&prefix, None, 0).await, Err(StoreError::Refused(_))),
        "limit 0 is refused"
    );
    expect!(
        matches!(store.list(&prefix, None, 1001).await, Err(StoreError::Refused(_))),
        "limit 1001 is refused"
    );
    Ok(())
}

/// [`OnceStore`]: exactly one first take, replays seen as replays, expiry, conflicts.
///
/// # Errors
///
/// The first expectation the store breaks.
pub async fn once_store<S: OnceStore>(store: &S, ns: &str, now: UnixTime) -> Outcome {
    let key = format!("{ns}/once/code");
    found("put", store.put(&key, b"grant", now.plus(60), now).await)?;
    expect!(
        matches!(store.put(&key, b"other", now.plus(60), now).await, Err(StoreError::Conflict)),
        "a live key cannot be put twice"
    );
    expect!(
        found("take", store.take(&key, now).await)? == Taken::First(b"grant".to_vec()),
        "first take gets the value"
    );
    expect!(
        found("take", store.take(&key, now.plus(1)).await)? == Taken::Again(b"grant".to_vec()),
        "second take is a replay"
    );
    expect!(
        found("take", store.take(&key, now.plus(60)).await)? == Taken::Missing,
        "expired records are missing"
    );
    expect!(
        found("take", store.take(&format!("{ns}/once/none"), now).await)? == Taken::Missing,
        "unknown keys are missing"
    );

    let racing = format!("{ns}/once/race");
    found("put", store.put(&racing, b"v", now.plus(60), now).await)?;
    let takes = join_all((0..3).map(|_| store.take(&racing, now)).collect()).await;
    let mut firsts = 0;
    for take in takes {
        if matches!(found("take", take)?, Taken::First(_)) {
            firsts += 1;
        }
    }
    expect!(firsts == 1, "exactly one of three takes is first, got {firsts}");
    Ok(())
}

/// [`RefreshFamilies`]: rotation, reuse revokes the family and only it, expiry.
///
/// # Errors
///
/// The first expectation the store breaks.
pub async fn refresh_families<S: RefreshFamilies>(store: &S, ns: &str, now: UnixTime) -> Outcome {
    let (t0, t1, t2) = ([0u8; 32], [1u8; 32], [2u8; 32]);
    let family = format!("{ns}/family/a");
    let sibling = format!("{ns}/family/b");
    found("create", store.create(&family, &t0, b"data", now.plus(3600), now).await)?;
    found("create", store.create(&sibling, &t0, b"sib", now.plus(3600), now).await)?;
    expect!(
        matches!(
            store.create(&family, &t0, b"x", now.plus(3600), now).await,
            Err(StoreError::Conflict)
        ),
        "a family is created once"
    );
    expect!(
        found("rotate", store.rotate(&family, &t0, &t1, 0, now).await)?
            == Rotation::Rotated(b"data".to_vec()),
        "the current token rotates"
    );
    expect!(
        found("rotate", store.rotate(&family, &t1, &t2, 0, now).await)?
            == Rotation::Rotated(b"data".to_vec()),
        "its successor rotates"
    );
    expect!(
        found("rotate", store.rotate(&family, &[9u8; 32], &t2, 0, now).await)? == Rotation::Unknown,
        "a foreign token is unknown"
    );
    expect!(
        found("rotate", store.rotate(&family, &t0, &[3u8; 32], 0, now).await)? == Rotation::Reused,
        "a rotated-out token is reuse"
    );
    expect!(
        found("rotate", store.rotate(&family, &t2, &[4u8; 32], 0, now).await)? == Rotation::Unknown,
        "reuse revokes the family"
    );
    expect!(
        found("rotate", store.rotate(&sibling, &t0, &t1, 0, now).await)?
            == Rotation::Rotated(b"sib".to_vec()),
        "other families are untouched"
    );
    expect!(
        found("rotate", store.rotate(&sibling, &t1, &t2, 0, now.plus(3600)).await)?
            == Rotation::Unknown,
        "expired families are unknown"
    );
    expect!(
        !found("revoke", store.revoke(&format!("{ns}/family/none")).await)?,
        "revoking an unknown family reports false"
    );

    expect!(
        found("inspect", store.inspect(&sibling, &t1, now).await)? == Some(b"sib".to_vec())
            && found("inspect", store.inspect(&sibling, &t0, now).await)?.is_none()
            && found("inspect", store.inspect(&family, &t2, now).await)?.is_none(),
        "inspect finds the current token of a live family only"
    );

    // A grace window lets the rotated-out token rotate again to the same successor.
    let graced = format!("{ns}/family/grace");
    found("create", store.create(&graced, &t0, b"g", now.plus(3600), now).await)?;
    found("rotate", store.rotate(&graced, &t0, &t1, 30, now).await)?;
    expect!(
        found("rotate", store.rotate(&graced, &t0, &t1, 30, now.plus(10)).await)?
            == Rotation::Rotated(b"g".to_vec()),
        "a retry within the grace window gets the same successor"
    );
    expect!(
        found("rotate", store.rotate(&graced, &t0, &t2, 30, now.plus(10)).await)?
            == Rotation::Reused,
        "a retry asking for another successor is reuse"
    );
    let late = format!("{ns}/family/late");
    found("create", store.create(&late, &t0, b"l", now.plus(3600), now).await)?;
    found("rotate", store.rotate(&late, &t0, &t1, 30, now).await)?;
    expect!(
        found("rotate", store.rotate(&late, &t0, &t1, 30, now.plus(30)).await)? == Rotation::Reused,
        "after the grace window the rotated-out token is reuse"
    );

    let racing = format!("{ns}/family/race");
    found("create", store.create(&racing, &t0, b"r", now.plus(3600), now).await)?;
    let first = found("rotate", store.rotate(&racing, &t0, &t1, 0, now).await)?;
    let second = found("rotate", store.rotate(&racing, &t0, &t2, 0, now).await)?;
    expect!(
        matches!(first, Rotation::Rotated(_)) && second == Rotation::Reused,
        "of two rotations of one token, one wins and the other is reuse"
    );
    Ok(())
}

/// [`Sessions`]: put, get until expiry, delete, compare-and-swap.
///
/// # Errors
///
/// The first expectation the store breaks.
pub async fn sessions<S: Sessions>(store: &S, ns: &str, now: UnixTime) -> Outcome {
    let id = format!("{ns}/session/a");
    found("put", store.put(&id, b"s", now.plus(100), now).await)?;
    expect!(
        found("get", store.get(&id, now.plus(99)).await)? == Some(b"s".to_vec()),
        "a live session is read"
    );
    expect!(
        found("get", store.get(&id, now.plus(100)).await)?.is_none(),
        "an expired session is gone"
    );
    found("put", store.put(&id, b"t", now.plus(100), now).await)?;
    expect!(found("delete", store.delete(&id).await)?, "deleting a live session reports true");
    expect!(found("get", store.get(&id, now).await)?.is_none(), "a deleted session is gone");
    expect!(!found("delete", store.delete(&id).await)?, "deleting twice reports false");

    // Compare-and-swap: the first write expects nothing, later ones the live data.
    let swap = |expected: Option<&'static [u8]>, data: Option<&'static [u8]>| {
        store.swap(&id, expected, data, now.plus(100), now)
    };
    expect!(found("swap", swap(None, Some(b"a")).await)?, "a swap creates a missing record");
    expect!(!found("swap", swap(None, Some(b"b")).await)?, "a swap expecting nothing fails");
    expect!(
        !found("swap", swap(Some(b"x"), Some(b"b")).await)?,
        "a swap expecting other data fails"
    );
    expect!(
        found("get", store.get(&id, now).await)? == Some(b"a".to_vec()),
        "a failed swap changes nothing"
    );
    let racing = join_all(
        (0..2).map(|_| store.swap(&id, Some(b"a"), Some(b"c"), now.plus(100), now)).collect(),
    )
    .await;
    let mut won = 0;
    for swapped in racing {
        won += usize::from(found("swap", swapped)?);
    }
    expect!(won == 1, "of two swaps expecting the same data, one wins");
    expect!(found("swap", swap(Some(b"c"), None).await)?, "a swap deletes");
    expect!(found("get", store.get(&id, now).await)?.is_none(), "a swapped-out record is gone");
    Ok(())
}

/// [`Counters`]: atomic adds, windows, reset.
///
/// # Errors
///
/// The first expectation the store breaks.
pub async fn counters<S: Counters>(store: &S, ns: &str, now: UnixTime) -> Outcome {
    let key = format!("{ns}/counter/a");
    let end = now.plus(60);
    expect!(found("add", store.add(&key, 1, end, now).await)? == 1, "first add counts 1");
    expect!(found("add", store.add(&key, 2, end, now).await)? == 3, "adds accumulate");
    expect!(found("get", store.get(&key, now).await)? == 3, "get reads the total");
    expect!(found("get", store.get(&key, end).await)? == 0, "a counter past its window reads 0");
    expect!(
        found("add", store.add(&key, 1, end.plus(60), end).await)? == 1,
        "a new window starts from 0"
    );
    found("reset", store.reset(&key).await)?;
    expect!(found("get", store.get(&key, end).await)? == 0, "reset clears");
    for add in join_all((0..3).map(|_| store.add(&key, 1, end.plus(60), end)).collect()).await {
        found("add", add)?;
    }
    expect!(found("get", store.get(&key, end).await)? == 3, "no add is lost");

    // Usage series: hourly buckets, concurrent tallies kept, old buckets dropped.
    let series = format!("{ns}/usage/app");
    let hour = UnixTime::from_secs(now.as_secs() - now.as_secs() % USAGE_BUCKET_SECS);
    expect!(found("usage", store.usage(&series, now).await)?.is_empty(), "a new series is empty");
    for tally in join_all(
        [UsageEvent::Login, UsageEvent::Login, UsageEvent::Failure]
            .into_iter()
            .map(|event| store.tally(&series, UsageCounts::of(event), hour))
            .collect(),
    )
    .await
    {
        found("tally", tally)?;
    }
    let later = hour.plus(2 * USAGE_BUCKET_SECS + 5);
    found("tally", store.tally(&series, UsageCounts::of(UsageEvent::Registration), later).await)?;
    let batch = UsageCounts { logins: 3, registrations: 0, failures: 2, tokens: 4 };
    found("tally", store.tally(&series, batch, hour.plus(59)).await)?;
    let buckets = found("usage", store.usage(&series, later).await)?;
    expect!(
        buckets
            == vec![
                UsageBucket { start: hour, logins: 5, registrations: 0, failures: 3, tokens: 4 },
                UsageBucket {
                    start: hour.plus(2 * USAGE_BUCKET_SECS),
                    logins: 0,
                    registrations: 1,
                    failures: 0,
                    tokens: 0,
                },
            ],
        "tallies land in their hour, none lost"
    );
    let past = hour.plus(USAGE_RETENTION_SECS + USAGE_BUCKET_SECS);
    expect!(
        found("usage", store.usage(&series, past).await)?.len() == 1,
        "buckets past retention are dropped"
    );
    Ok(())
}

/// [`KeyVault`]: one keyring however often `ensure` runs, published to `directory`;
/// rotation publishes the next keys and keeps every previous key that signed; a
/// withdrawal removes one key at once and another signs in its place.
///
/// # Errors
///
/// The first expectation the store breaks.
pub async fn key_vault<V: KeyVault, D: Directory>(
    vault: &V,
    directory: &D,
    now: UnixTime,
) -> Outcome {
    let racing = join_all((0..3).map(|_| vault.ensure(now)).collect()).await;
    let rings = racing.into_iter().map(|r| found("ensure", r)).collect::<Result<Vec<_>, _>>()?;
    let first = rings.first().cloned().ok_or("ensure ran")?;
    expect!(rings.iter().all(|r| *r == first), "racing first calls all get one keyring");
    let again = found("ensure", vault.ensure(now.plus(5)).await)?;
    expect!(first == again, "ensure returns the same keyring every time");
    let published = found("get", directory.get(schema::KEYRING).await)?
        .ok_or("the keyring is in the directory")?;
    let published: Keyring =
        serde_json::from_slice(&published).map_err(|e| format!("published keyring: {e}"))?;
    expect!(published == first, "the directory holds the same keyring");
    let before = first.jwks(now.plus(10));
    let rotated = found("rotate", vault.rotate(now.plus(10)).await)?;
    let jwks = rotated.jwks(now.plus(10));
    // Every key that signed stays published (a next key that never signed may be
    // replaced by the new one).
    for key in first.keys.iter().filter(|k| k.activates_at <= now.plus(10)) {
        let kid = key.kid().ok_or("keys have ids")?;
        if before.find(kid.as_str()).is_none() {
            continue;
        }
        expect!(
            jwks.find(kid.as_str()).is_some(),
            "the previous key {} stays published",
            kid.as_str()
        );
    }
    let added = jwks
        .keys
        .iter()
        .filter(|k| k.kid.as_ref().is_some_and(|kid| before.find(kid.as_str()).is_none()))
        .count();
    expect!(
        added == crate::keys::ALGORITHMS.len(),
        "rotation publishes one next key per algorithm, got {added}"
    );

    // Withdrawal: an unknown id changes nothing; the signing key leaves at once and
    // another key of its algorithm signs from then on.
    let at = now.plus(20);
    expect!(
        found("revoke", vault.revoke("no-such-kid", at).await)?.is_none(),
        "revoking an unknown kid finds nothing"
    );
    let signing = |ring: &Keyring| {
        ring.keys
            .iter()
            .filter(|k| {
                k.public.alg == Some(crate::jose::Algorithm::ES256)
                    && k.activates_at <= at
                    && k.retires_at.is_none_or(|r| at < r)
            })
            .filter_map(|k| k.kid().map(|kid| kid.as_str().to_owned()))
            .collect::<Vec<_>>()
    };
    let active = signing(&rotated).pop().ok_or("an ES256 key signs")?;
    let withdrawn = found("revoke", vault.revoke(&active, at).await)?.ok_or("the key is known")?;
    expect!(withdrawn.jwks(at).find(&active).is_none(), "a withdrawn key leaves the JWKS");
    expect!(
        signing(&withdrawn).iter().any(|kid| *kid != active),
        "another ES256 key signs at once"
    );
    let published = found("get", directory.get(schema::KEYRING).await)?
        .ok_or("the keyring is in the directory")?;
    let published: Keyring =
        serde_json::from_slice(&published).map_err(|e| format!("published keyring: {e}"))?;
    expect!(published == withdrawn, "the directory holds the keyring without the withdrawn key");
    Ok(())
}

/// [`Registry`]: versions, `If-Match`, unique names, atomic refusals, publication.
///
/// # Errors
///
/// The first expectation the store breaks.
pub async fn registry<R: Registry, D: Directory>(registry: &R, directory: &D, ns: &str) -> Outcome {
    let a = format!("{ns}/reg/a");
    let b = format!("{ns}/reg/b");
    let name = format!("{ns}/name/alpha");
    let commit = |key: &str,
                  record: Option<serde_json::Value>,
                  expect: Expect,
                  claim: &[&String],
                  release: &[&String]| Commit {
        key: key.to_owned(),
        record,
        expect,
        claim: claim.iter().map(|n| (*n).clone()).collect(),
        release: release.iter().map(|n| (*n).clone()).collect(),
        cascade: Vec::new(),
    };
    let v1 = registry
        .commit(commit(&a, Some(serde_json::json!({"n": 1})), Expect::Absent, &[&name], &[]))
        .await;
    expect!(v1 == Ok(1), "creation gives version 1, got {v1:?}");
    let again =
        registry.commit(commit(&a, Some(serde_json::json!({})), Expect::Absent, &[], &[])).await;
    expect!(again == Err(CommitError::VersionMismatch), "creating twice is refused, got {again:?}");
    let taken = registry
        .commit(commit(&b, Some(serde_json::json!({"n": 2})), Expect::Absent, &[&name], &[]))
        .await;
    expect!(
        taken == Err(CommitError::NameTaken(name.clone())),
        "a held name cannot be claimed, got {taken:?}"
    );
    expect!(found("read", registry.read(&b).await)?.is_none(), "a refused commit writes nothing");
    let v2 = registry
        .commit(commit(&a, Some(serde_json::json!({"n": 3})), Expect::Version(1), &[&name], &[]))
        .await;
    expect!(v2 == Ok(2), "if-match on the current version succeeds, got {v2:?}");
    let stale = registry
        .commit(commit(&a, Some(serde_json::json!({"n": 4})), Expect::Version(1), &[], &[]))
        .await;
    expect!(
        stale == Err(CommitError::VersionMismatch),
        "if-match on an old version is refused, got {stale:?}"
    );
    let current = found("read", registry.read(&a).await)?;
    expect!(
        current == Some(Versioned { version: 2, record: serde_json::json!({"n": 3}) }),
        "read is authoritative, got {current:?}"
    );
    let published = found("get", directory.get(&a).await)?.ok_or("the record is published")?;
    let published: Versioned =
        serde_json::from_slice(&published).map_err(|e| format!("published record: {e}"))?;
    expect!(published.version == 2, "the directory holds the latest version");
    let renamed = format!("{ns}/name/beta");
    let v3 = registry
        .commit(commit(
            &a,
            Some(serde_json::json!({"n": 5})),
            Expect::Present,
            &[&renamed],
            &[&name],
        ))
        .await;
    expect!(v3 == Ok(3), "a rename claims the new name and releases the old, got {v3:?}");
    let reuse = registry
        .commit(commit(&b, Some(serde_json::json!({"n": 6})), Expect::Absent, &[&name], &[]))
        .await;
    expect!(reuse == Ok(1), "a released name can be claimed again, got {reuse:?}");
    let child = format!("{ns}/reg/a-child");
    let made = registry
        .commit(commit(&child, Some(serde_json::json!({})), Expect::Absent, &[], &[]))
        .await;
    expect!(made == Ok(1), "a dependent record is created, got {made:?}");
    let mut delete = commit(&a, None, Expect::Version(3), &[], &[&renamed]);
    delete.cascade = vec![child.clone()];
    let gone = registry.commit(delete).await;
    expect!(gone == Ok(0), "delete succeeds, got {gone:?}");
    expect!(
        found("read", registry.read(&child).await)?.is_none(),
        "a cascaded record goes with it"
    );
    expect!(
        found("get", directory.get(&child).await)?.is_none(),
        "a cascaded record leaves the directory"
    );
    expect!(found("read", registry.read(&a).await)?.is_none(), "a deleted record is gone");
    expect!(
        found("get", directory.get(&a).await)?.is_none(),
        "a deleted record leaves the directory"
    );
    let missing = registry.commit(commit(&a, None, Expect::Present, &[], &[])).await;
    expect!(
        missing == Err(CommitError::Missing),
        "deleting a missing record reports it, got {missing:?}"
    );
    let racing = join_all(
        (0..3)
            .map(|i| {
                registry.commit(commit(
                    &b,
                    Some(serde_json::json!({"race": i})),
                    Expect::Version(1),
                    &[],
                    &[],
                ))
            })
            .collect(),
    )
    .await;
    let winners = racing.iter().filter(|r| r.is_ok()).count();
    expect!(
        winners == 1,
        "of three commits expecting one version exactly one wins, got {racing:?}"
    );
    Ok(())
}

/// Polls every future in turn until all are done: concurrent on a single thread, as
/// requests are in a JS isolate.
async fn join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending { std::task::Poll::Pending } else { std::task::Poll::Ready(()) }
    })
    .await;
    outputs.into_iter().flatten().collect()
}
