// Tests may unwrap, index and panic: a failure is the test's report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Two introspectors sharing one verdict store, as two replicas would share Redis: one
//! replica's call serves the other, records are authenticated, lifetimes are kept, and a
//! store that fails follows the policy. The store here is in memory; `portcullis-redis`
//! runs the same rules against a real Redis.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use portcullis_core::{ErrorKind, ManualClock, Validator};
use portcullis_introspect::{
    Introspector, SharedCacheError, SharedCacheKey, SharedCachePolicy, SharedFuture, SharedVerdicts,
};
use portcullis_testkit::TestIssuer;

/// Records by digest, with the lifetime each was stored for.
type Records = HashMap<[u8; 32], (Vec<u8>, Duration)>;

#[derive(Default)]
struct Memory {
    records: Mutex<Records>,
    reads_fail: AtomicBool,
    writes_fail: AtomicBool,
    gets: AtomicUsize,
}

impl SharedVerdicts for Memory {
    fn get(&self, key: &[u8; 32]) -> SharedFuture<Option<Vec<u8>>> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        let result = if self.reads_fail.load(Ordering::SeqCst) {
            Err(SharedCacheError::new("connection refused"))
        } else {
            Ok(self
                .records
                .lock()
                .unwrap()
                .get(key)
                .map(|(r, _)| r.clone()))
        };
        Box::pin(async move { result })
    }

    fn put(&self, key: &[u8; 32], record: Vec<u8>, ttl: Duration) -> SharedFuture<()> {
        let result = if self.writes_fail.load(Ordering::SeqCst) {
            Err(SharedCacheError::new("read-only replica"))
        } else {
            self.records.lock().unwrap().insert(*key, (record, ttl));
            Ok(())
        };
        Box::pin(async move { result })
    }
}

fn secret(byte: u8) -> SharedCacheKey {
    SharedCacheKey::new(&[byte; 32]).unwrap()
}

async fn replica(
    idp: &TestIssuer,
    clock: &ManualClock,
    store: &Arc<Memory>,
    key: SharedCacheKey,
    policy: SharedCachePolicy,
) -> Introspector {
    let rules = Validator::builder()
        .issuer(idp.issuer())
        .audience("api")
        .clock(clock.clone())
        .build()
        .unwrap();
    Introspector::builder(idp.introspection_url(), rules)
        .client_secret_basic("client-1", "secret-1")
        .active_ttl(Duration::from_secs(60))
        .inactive_ttl(Duration::from_secs(10))
        // The policy before the store: the order does not matter.
        .shared_cache_policy(policy)
        .shared_cache(store.clone(), key)
        .build()
        .await
        .unwrap()
}

#[tokio::test]
async fn one_replicas_call_serves_the_other() {
    let idp = TestIssuer::start().await;
    let clock = ManualClock::frozen_now();
    let store = Arc::new(Memory::default());
    let a = replica(
        &idp,
        &clock,
        &store,
        secret(1),
        SharedCachePolicy::FailClosed,
    )
    .await;
    let b = replica(
        &idp,
        &clock,
        &store,
        secret(1),
        SharedCachePolicy::FailClosed,
    )
    .await;
    let token = idp.opaque(&idp.token().scope("orders.read").expires_in(600));
    let on_a = a.introspect(&token).await.unwrap();
    assert_eq!(idp.introspection_calls(), 1);
    let on_b = b.introspect(&token).await.unwrap();
    assert_eq!(idp.introspection_calls(), 1, "B read A's verdict");
    assert_eq!(on_b.as_json(), on_a.as_json());
    assert_eq!((a.stats().shared_hits, b.stats().shared_hits), (0, 1));
    // B now has it locally: no second read of the store.
    let gets = store.gets.load(Ordering::SeqCst);
    assert!(b.cached(&token).unwrap().is_ok());
    b.introspect(&token).await.unwrap();
    assert_eq!(store.gets.load(Ordering::SeqCst), gets);

    // Stored for the active lifetime (the token lives longer), never holding the token.
    let records = store.records.lock().unwrap();
    assert_eq!(records.len(), 1);
    let (record, ttl) = records.values().next().unwrap();
    assert_eq!(*ttl, Duration::from_secs(60));
    let raw = String::from_utf8_lossy(record);
    assert!(!raw.contains(&token), "the token is never stored");
    assert!(
        records
            .keys()
            .all(|k| !token.as_bytes().windows(8).any(|w| k.starts_with(w))),
        "keys are digests"
    );
}

#[tokio::test]
async fn refusals_are_shared_for_the_short_lifetime_and_read_with_each_replicas_rules() {
    let idp = TestIssuer::start().await;
    let clock = ManualClock::frozen_now();
    let store = Arc::new(Memory::default());
    let a = replica(
        &idp,
        &clock,
        &store,
        secret(1),
        SharedCachePolicy::FailClosed,
    )
    .await;
    let b = replica(
        &idp,
        &clock,
        &store,
        secret(1),
        SharedCachePolicy::FailClosed,
    )
    .await;
    let revoked = idp.opaque(&idp.token());
    idp.revoke(&revoked);
    assert_eq!(
        a.introspect(&revoked).await.unwrap_err().kind(),
        &ErrorKind::Inactive
    );
    assert_eq!(
        b.introspect(&revoked).await.unwrap_err().kind(),
        &ErrorKind::Inactive
    );
    assert_eq!(idp.introspection_calls(), 1);
    let other = idp.opaque(&idp.token().audience("billing"));
    assert_eq!(
        a.introspect(&other).await.unwrap_err().kind(),
        &ErrorKind::WrongAudience
    );
    assert_eq!(
        b.introspect(&other).await.unwrap_err().kind(),
        &ErrorKind::WrongAudience
    );
    assert_eq!(idp.introspection_calls(), 2);
    let ttls: Vec<_> = store
        .records
        .lock()
        .unwrap()
        .values()
        .map(|(_, t)| *t)
        .collect();
    assert_eq!(ttls, [Duration::from_secs(10); 2]);
}

#[tokio::test]
async fn a_shared_verdict_keeps_the_deadline_it_was_stored_with() {
    let idp = TestIssuer::start().await;
    let clock = ManualClock::frozen_now();
    let store = Arc::new(Memory::default());
    let a = replica(
        &idp,
        &clock,
        &store,
        secret(1),
        SharedCachePolicy::FailClosed,
    )
    .await;
    let b = replica(
        &idp,
        &clock,
        &store,
        secret(1),
        SharedCachePolicy::FailClosed,
    )
    .await;
    let token = idp.opaque(&idp.token().expires_in(3600));
    a.introspect(&token).await.unwrap();
    clock.advance_secs(50);
    b.introspect(&token).await.unwrap();
    assert_eq!(idp.introspection_calls(), 1);
    // A's verdict was good for 60 s from A's call: at 61 s B's local copy is gone too, and
    // the record's deadline has passed (the store may still hold it), so B asks.
    clock.advance_secs(11);
    assert!(b.cached(&token).is_none());
    b.introspect(&token).await.unwrap();
    assert_eq!(idp.introspection_calls(), 2);
}

#[tokio::test]
async fn records_that_fail_authentication_are_ignored() {
    let idp = TestIssuer::start().await;
    let clock = ManualClock::frozen_now();
    let store = Arc::new(Memory::default());
    let a = replica(
        &idp,
        &clock,
        &store,
        secret(1),
        SharedCachePolicy::FailClosed,
    )
    .await;
    let b = replica(
        &idp,
        &clock,
        &store,
        secret(1),
        SharedCachePolicy::FailClosed,
    )
    .await;
    let revoked = idp.opaque(&idp.token());
    idp.revoke(&revoked);
    a.introspect(&revoked).await.unwrap_err();
    // Someone with write access to the store turns the refusal into `active: true` (the
    // response is at the record's end, after the MAC and the deadline).
    {
        let mut records = store.records.lock().unwrap();
        let (record, _) = records.values_mut().next().unwrap();
        let text = String::from_utf8_lossy(&record[40..]).into_owned();
        assert!(text.contains(r#""active":false"#), "{text}");
        let forged = text.replace(r#""active":false"#, r#""active":true "#);
        record.truncate(40);
        record.extend_from_slice(forged.as_bytes());
    }
    assert_eq!(
        b.introspect(&revoked).await.unwrap_err().kind(),
        &ErrorKind::Inactive
    );
    assert_eq!(
        idp.introspection_calls(),
        2,
        "the forged record was not used"
    );
    assert_eq!(b.stats().shared_hits, 0);

    // A replica with another secret neither finds nor trusts the others' records.
    let c = replica(
        &idp,
        &clock,
        &store,
        secret(2),
        SharedCachePolicy::FailClosed,
    )
    .await;
    let token = idp.opaque(&idp.token());
    a.introspect(&token).await.unwrap();
    c.introspect(&token).await.unwrap();
    assert_eq!(idp.introspection_calls(), 4);
    assert_eq!(c.stats().shared_hits, 0);
}

#[tokio::test]
async fn a_store_that_cannot_answer_is_a_503_unless_told_to_fail_open() {
    let idp = TestIssuer::start().await;
    let clock = ManualClock::frozen_now();
    let store = Arc::new(Memory::default());
    store.reads_fail.store(true, Ordering::SeqCst);
    let closed = replica(
        &idp,
        &clock,
        &store,
        secret(1),
        SharedCachePolicy::FailClosed,
    )
    .await;
    let open = replica(&idp, &clock, &store, secret(1), SharedCachePolicy::FailOpen).await;
    let token = idp.opaque(&idp.token());
    assert_eq!(
        closed.introspect(&token).await.unwrap_err().kind(),
        &ErrorKind::SharedCacheUnavailable("connection refused".into())
    );
    assert_eq!(idp.introspection_calls(), 0, "fail closed asks nobody");
    assert!(
        closed.cached(&token).is_none(),
        "an outage is never remembered"
    );
    open.introspect(&token).await.unwrap();
    assert_eq!(idp.introspection_calls(), 1);
    // The store is back: the fail-closed replica answers again, with nothing to restart.
    store.reads_fail.store(false, Ordering::SeqCst);
    closed.introspect(&token).await.unwrap();
    assert_eq!(idp.introspection_calls(), 2);
}

#[tokio::test]
async fn a_failed_write_changes_nothing_for_the_request() {
    let idp = TestIssuer::start().await;
    let clock = ManualClock::frozen_now();
    let store = Arc::new(Memory::default());
    store.writes_fail.store(true, Ordering::SeqCst);
    let a = replica(
        &idp,
        &clock,
        &store,
        secret(1),
        SharedCachePolicy::FailClosed,
    )
    .await;
    let b = replica(
        &idp,
        &clock,
        &store,
        secret(1),
        SharedCachePolicy::FailClosed,
    )
    .await;
    let token = idp.opaque(&idp.token());
    a.introspect(&token).await.unwrap();
    b.introspect(&token).await.unwrap();
    assert_eq!(idp.introspection_calls(), 2);
    assert!(store.records.lock().unwrap().is_empty());
}
