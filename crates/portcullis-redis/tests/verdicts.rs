// Tests may unwrap, index and panic: a failure is the test's report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Introspection verdicts shared through real Redis servers, one and a three-node cluster:
//! one call serves every replica, records expire with the verdict, nothing holds the token,
//! and a Redis that is down is a 503 (fail closed) or a direct call (fail open).

use std::time::Duration;

use portcullis_core::{ErrorKind, ManualClock, Validator};
use portcullis_introspect::{Introspector, SharedCacheKey, SharedCachePolicy};
use portcullis_redis::{RedisStore, RedisVerdicts};
use portcullis_testkit::TestIssuer;
use portcullis_testkit::redis::{RedisCluster, RedisServer};

async fn replica(
    idp: &TestIssuer,
    clock: &ManualClock,
    store: RedisStore,
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
        .shared_cache(
            RedisVerdicts::new(store),
            SharedCacheKey::new(b"the deployment's shared secret, 32 bytes or more").unwrap(),
        )
        .shared_cache_policy(policy)
        .build()
        .await
        .unwrap()
}

#[tokio::test]
async fn one_call_serves_every_replica_on_a_server_and_on_a_cluster() {
    let Some(server) =
        RedisServer::start_or_skip("one_call_serves_every_replica_on_a_server_and_on_a_cluster")
    else {
        return;
    };
    let Some(cluster) = RedisCluster::start_or_skip("verdicts: a three-node cluster") else {
        return;
    };
    let timeout = Duration::from_millis(500);
    let stores = [
        RedisStore::builder(server.url())
            .timeout(timeout)
            .connect()
            .await
            .unwrap(),
        RedisStore::cluster_builder(cluster.urls())
            .timeout(timeout)
            .connect()
            .await
            .unwrap(),
    ];
    for store in stores {
        let idp = TestIssuer::start().await;
        let clock = ManualClock::frozen_now();
        let policy = SharedCachePolicy::FailClosed;
        let replicas = [
            replica(&idp, &clock, store.clone(), policy).await,
            replica(&idp, &clock, store.clone(), policy).await,
            replica(&idp, &clock, store.clone(), policy).await,
        ];
        // Several tokens, so that a cluster spreads their records over its slots.
        for i in 0..6 {
            let token = idp.opaque(&idp.token().claim("n", serde_json::json!(i)));
            for replica in &replicas {
                replica.introspect(&token).await.unwrap();
            }
            assert_eq!(
                idp.introspection_calls(),
                i + 1,
                "cluster: {}",
                store.is_cluster()
            );
        }
        assert_eq!(
            replicas.iter().map(|r| r.stats().shared_hits).sum::<u64>(),
            12
        );
    }
    // On the single server: the records' names and lifetimes.
    let keys = server.command(&["KEYS", "portcullis:iv:*"]);
    assert_eq!(keys.lines().count(), 6, "{keys}");
    for key in keys.lines() {
        let ttl: u64 = server
            .command(&["PTTL", key])
            .trim_start_matches(':')
            .parse()
            .unwrap();
        // Set to the 60 s verdict lifetime; the window leaves room for a loaded machine
        // between the writes and this read (a wrong lifetime, 30 s or an hour, is far off).
        assert!((45_000..=60_000).contains(&ttl), "{ttl}");
    }
}

#[tokio::test]
async fn a_redis_that_is_down_is_a_503_or_a_direct_call() {
    let Some(mut server) =
        RedisServer::start_or_skip("a_redis_that_is_down_is_a_503_or_a_direct_call")
    else {
        return;
    };
    let idp = TestIssuer::start().await;
    let clock = ManualClock::frozen_now();
    let store = RedisStore::builder(server.url())
        .timeout(Duration::from_millis(100))
        .connect()
        .await
        .unwrap();
    let closed = replica(&idp, &clock, store.clone(), SharedCachePolicy::FailClosed).await;
    let open = replica(&idp, &clock, store, SharedCachePolicy::FailOpen).await;
    server.kill();
    let token = idp.opaque(&idp.token());
    let refused = closed.introspect(&token).await.unwrap_err();
    assert!(
        matches!(refused.kind(), ErrorKind::SharedCacheUnavailable(_)),
        "{refused:?}"
    );
    assert_eq!(idp.introspection_calls(), 0);
    open.introspect(&token).await.unwrap();
    assert_eq!(idp.introspection_calls(), 1);
}
