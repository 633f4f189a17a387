// Tests may unwrap, index and panic: a failure is the test's report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The stores against real Redis servers (`redis-server` from the testkit): replay detection
//! on one server, across replicas, under concurrency and on a cluster; the key layout and
//! expiry; outages, reconnection, a slow server, TLS.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portcullis_core::dpop::{Dpop, FirstUse, ReplayKey, ReplayStore, ReplayStoreError};
use portcullis_core::{
    Algorithm, AlgorithmSet, ErrorKind, KeySet, ManualClock, Presentation, ProofError, Scheme,
    Validator, Verdict, Verifier, VerifyingKey,
};
use portcullis_redis::{RedisErrorKind, RedisReplayStore, RedisStore};
use portcullis_testkit::redis::{DelayProxy, RedisCluster, RedisServer};
use portcullis_testkit::tls::TestCa;
use portcullis_testkit::{DpopClient, TestKey, TokenBuilder};

const NOW: i64 = 1_800_000_000;
const ORIGIN: &str = "https://api.example.test";
const TTL: Duration = Duration::from_secs(70);

/// Requests through core's DPoP rules, with the replay store the test gives.
struct Api {
    issuer: TestKey,
    client: DpopClient,
    tokens: Tokens,
}

/// Tokens checked by a validator against fixed keys.
struct Tokens {
    validator: Validator,
    keys: KeySet,
}

impl Verifier for Tokens {
    fn verify(&self, presentation: &Presentation<'_>) -> Verdict {
        Verdict::Ready(
            self.validator
                .validate_presentation(presentation, &self.keys),
        )
    }
}

impl Api {
    fn new() -> Api {
        let issuer = TestKey::generate(Algorithm::ES256).with_kid("k");
        let key = VerifyingKey::from_jwk_json(&issuer.public_jwk().to_string(), AlgorithmSet::ALL)
            .unwrap();
        let validator = Validator::builder()
            .issuer("https://issuer.test")
            .audience("api")
            .clock(ManualClock::at(NOW))
            .build()
            .unwrap();
        Api {
            issuer,
            client: DpopClient::new(Algorithm::ES256),
            tokens: Tokens {
                validator,
                keys: KeySet::new(vec![key]),
            },
        }
    }

    fn dpop(store: impl ReplayStore) -> Dpop {
        Dpop::builder()
            .algorithms([Algorithm::ES256])
            .clock(ManualClock::at(NOW))
            .replay_store(store)
            .build()
            .unwrap()
    }

    fn token(&self) -> String {
        self.client
            .bind(TokenBuilder::new(&self.issuer).now(NOW))
            .sign()
    }

    /// A fresh proof (a new `jti`) for `token`.
    fn proof(&self, token: &str) -> String {
        self.client
            .proof("GET", &format!("{ORIGIN}/orders"))
            .token(token)
            .issued_at(NOW)
            .sign()
    }

    /// One request with `proof` through `dpop`.
    async fn request(&self, dpop: &Dpop, token: &str, proof: &str) -> Result<(), ErrorKind> {
        let presentation = Presentation::new(Scheme::DPoP, token)
            .with_request("GET", "/orders")
            .with_origin(ORIGIN)
            .with_dpop_proof(proof);
        let claims = match dpop.verify(&self.tokens, &presentation).verdict {
            Verdict::Ready(r) => r,
            Verdict::Pending(pending) => pending.await,
        };
        claims.map(|_| ()).map_err(|e| e.into_kind())
    }
}

/// A replay store that records the keys the core asks about, and calls them all first uses.
#[derive(Clone, Default)]
struct Tap(Arc<Mutex<Vec<ReplayKey>>>);

impl ReplayStore for Tap {
    fn first_use(&self, key: &ReplayKey, _: Duration) -> FirstUse {
        self.0.lock().unwrap().push(*key);
        FirstUse::Ready(Ok(true))
    }
}

/// `n` distinct replay keys, as the core derives them from real proofs (a `ReplayKey` has
/// no public constructor).
async fn replay_keys(n: usize) -> Vec<ReplayKey> {
    let api = Api::new();
    let tap = Tap::default();
    let dpop = Api::dpop(tap.clone());
    let token = api.token();
    for _ in 0..n {
        api.request(&dpop, &token, &api.proof(&token))
            .await
            .unwrap();
    }
    let keys = tap.0.lock().unwrap().clone();
    assert_eq!(keys.iter().collect::<HashSet<_>>().len(), n);
    keys
}

async fn first_use(store: &impl ReplayStore, key: &ReplayKey) -> Result<bool, ReplayStoreError> {
    match store.first_use(key, TTL) {
        FirstUse::Ready(_) => panic!("a shared store answers after a round trip"),
        FirstUse::Pending(pending) => pending.await,
    }
}

async fn connect(url: &str) -> RedisReplayStore {
    RedisReplayStore::new(
        RedisStore::builder(url)
            .key_prefix("deployment:")
            .connect()
            .await
            .unwrap(),
    )
}

#[tokio::test]
async fn a_key_is_a_first_use_once_then_a_replay() {
    let Some(redis) = RedisServer::start_or_skip("a_key_is_a_first_use_once_then_a_replay") else {
        return;
    };
    let store = connect(&redis.url()).await;
    assert!(store.is_shared());
    let keys = replay_keys(2).await;
    assert_eq!(first_use(&store, &keys[0]).await, Ok(true));
    assert_eq!(first_use(&store, &keys[0]).await, Ok(false));
    assert_eq!(first_use(&store, &keys[0]).await, Ok(false));
    assert_eq!(first_use(&store, &keys[1]).await, Ok(true));
}

#[tokio::test]
async fn a_key_used_through_one_replica_is_a_replay_through_another() {
    let Some(redis) =
        RedisServer::start_or_skip("a_key_used_through_one_replica_is_a_replay_through_another")
    else {
        return;
    };
    let a = connect(&redis.url()).await;
    let b = connect(&redis.url()).await;
    for key in replay_keys(3).await {
        assert_eq!(first_use(&a, &key).await, Ok(true));
        assert_eq!(first_use(&b, &key).await, Ok(false));
        assert_eq!(first_use(&a, &key).await, Ok(false));
    }
}

#[tokio::test]
async fn a_dpop_proof_accepted_by_one_replica_is_refused_as_a_replay_by_another() {
    let Some(redis) = RedisServer::start_or_skip(
        "a_dpop_proof_accepted_by_one_replica_is_refused_as_a_replay_by_another",
    ) else {
        return;
    };
    let api = Api::new();
    let replica_a = Api::dpop(connect(&redis.url()).await);
    let replica_b = Api::dpop(connect(&redis.url()).await);
    let token = api.token();
    let proof = api.proof(&token);
    assert_eq!(api.request(&replica_a, &token, &proof).await, Ok(()));
    assert_eq!(
        api.request(&replica_b, &token, &proof).await,
        Err(ErrorKind::InvalidProof(ProofError::Replayed))
    );
    // A new proof is a new key.
    assert_eq!(
        api.request(&replica_b, &token, &api.proof(&token)).await,
        Ok(())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_uses_of_one_key_give_exactly_one_true() {
    let Some(redis) =
        RedisServer::start_or_skip("concurrent_first_uses_of_one_key_give_exactly_one_true")
    else {
        return;
    };
    let key = replay_keys(1).await[0];
    // Several replicas, each with many requests in flight.
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(connect(&redis.url()).await);
    }
    let mut tasks = Vec::new();
    for n in 0..64 {
        let store = stores[n % stores.len()].clone();
        tasks.push(tokio::spawn(async move { first_use(&store, &key).await }));
    }
    let mut firsts = 0;
    for task in tasks {
        if task.await.unwrap().unwrap() {
            firsts += 1;
        }
    }
    assert_eq!(firsts, 1);
}

#[tokio::test]
async fn an_entry_is_one_prefixed_key_that_expires_when_asked() {
    let Some(redis) =
        RedisServer::start_or_skip("an_entry_is_one_prefixed_key_that_expires_when_asked")
    else {
        return;
    };
    let store = connect(&redis.url()).await;
    let key = replay_keys(1).await[0];
    assert_eq!(first_use(&store, &key).await, Ok(true));

    let name = store.redis_key(&key);
    let hex: String = key.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(name, format!("deployment:dpop:{hex}"));
    assert_eq!(redis.command(&["KEYS", "*"]), name, "one key, prefixed");
    assert_eq!(redis.command(&["GET", &name]), "1");
    let pttl: u64 = redis.command(&["PTTL", &name])[1..].parse().unwrap();
    assert!(pttl <= 70_000 && pttl > 69_000, "{pttl}");

    // Sub-millisecond times to live are rounded to the one millisecond Redis accepts.
    let other = replay_keys(1).await[0];
    let FirstUse::Pending(pending) = store.first_use(&other, Duration::from_micros(10)) else {
        panic!("pending")
    };
    assert_eq!(pending.await, Ok(true));

    // What one entry costs (`deployment:` is as long as the default prefix, `portcullis:`);
    // the crate docs state the figure.
    let bytes: u64 = redis.command(&["MEMORY", "USAGE", &name])[1..]
        .parse()
        .unwrap();
    assert!((64..=160).contains(&bytes), "{bytes} bytes");
}

#[tokio::test]
async fn the_same_on_a_three_node_cluster_with_keys_spread_over_the_nodes() {
    let Some(cluster) = RedisCluster::start_or_skip(
        "the_same_on_a_three_node_cluster_with_keys_spread_over_the_nodes",
    ) else {
        return;
    };
    let connect = || async {
        RedisReplayStore::new(
            RedisStore::cluster_builder(cluster.urls())
                .key_prefix("deployment:")
                // A cold cluster client may follow a redirection on its first calls.
                .timeout(Duration::from_millis(500))
                .connect()
                .await
                .unwrap(),
        )
    };
    let a = connect().await;
    let b = connect().await;
    assert!(a.store().is_cluster());
    let keys = replay_keys(30).await;
    for key in &keys {
        assert_eq!(first_use(&a, key).await, Ok(true));
        assert_eq!(first_use(&b, key).await, Ok(false));
    }
    let mut seen = 0;
    for node in cluster.nodes() {
        let held = node.command(&["KEYS", "*"]);
        let held: Vec<&str> = held.lines().filter(|l| !l.is_empty()).collect();
        assert!(!held.is_empty(), "every node holds some of 30 keys");
        for name in &held {
            assert!(name.starts_with("deployment:dpop:"), "{name}");
            let pttl: u64 = node.command(&["PTTL", name])[1..].parse().unwrap();
            assert!(pttl <= 70_000 && pttl > 60_000, "{pttl}");
        }
        seen += held.len();
    }
    assert_eq!(seen, 30);
}

#[tokio::test]
async fn a_killed_redis_is_an_error_without_the_password_and_the_store_reconnects_after() {
    const PASSWORD: &str = "s3cret-pw";
    let Some(mut redis) = RedisServer::builder().password(PASSWORD).start_or_skip(
        "a_killed_redis_is_an_error_without_the_password_and_the_store_reconnects_after",
    ) else {
        return;
    };
    assert!(redis.url().contains(PASSWORD));
    let store = connect(&redis.url()).await;
    let keys = replay_keys(3).await;
    assert_eq!(first_use(&store, &keys[0]).await, Ok(true));

    redis.kill();
    for key in &keys {
        let refused = first_use(&store, key).await.unwrap_err();
        let reason = refused.to_string();
        assert!(!reason.contains(PASSWORD), "{reason}");
        assert!(reason.contains(":***@127.0.0.1:"), "{reason}");
    }

    // The same store, not rebuilt, works again once Redis is back (empty: nothing persisted).
    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(5);
    let answer = loop {
        match first_use(&store, &keys[1]).await {
            Ok(answer) => break answer,
            Err(e) => {
                assert!(!e.to_string().contains(PASSWORD), "{e}");
                assert!(Instant::now() < deadline, "no reconnection: {e}");
                // Waiting for the reconnection.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    assert!(answer, "the first answer after the outage is a first use");
    assert_eq!(first_use(&store, &keys[1]).await, Ok(false));
}

#[tokio::test]
async fn connect_refuses_an_unreachable_server_and_a_wrong_password_without_showing_it() {
    let Some(mut redis) = RedisServer::builder().password("right-pw").start_or_skip(
        "connect_refuses_an_unreachable_server_and_a_wrong_password_without_showing_it",
    ) else {
        return;
    };
    let wrong = format!("redis://:wrong-pw@127.0.0.1:{}/0", redis.port());
    let refused = RedisStore::builder(&wrong).connect().await.unwrap_err();
    assert_eq!(refused.kind(), RedisErrorKind::Authentication, "{refused}");
    assert!(!refused.to_string().contains("wrong-pw"), "{refused}");
    assert!(!format!("{refused:?}").contains("wrong-pw"), "{refused:?}");

    redis.kill();
    let refused = RedisStore::builder(redis.url())
        .connect()
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), RedisErrorKind::Unavailable, "{refused}");
    assert_eq!(
        refused.to_string(),
        format!(
            "redis redis://:***@127.0.0.1:{}: connection refused",
            redis.port()
        )
    );
}

#[tokio::test]
async fn a_slow_redis_is_an_error_within_the_timeout() {
    let Some(redis) = RedisServer::start_or_skip("a_slow_redis_is_an_error_within_the_timeout")
    else {
        return;
    };
    let proxy = DelayProxy::start(redis.addr()).await;
    let store = RedisReplayStore::new(
        RedisStore::builder(format!("redis://{}", proxy.addr()))
            .timeout(Duration::from_millis(50))
            .connect()
            .await
            .unwrap(),
    );
    let keys = replay_keys(2).await;
    assert_eq!(first_use(&store, &keys[0]).await, Ok(true));

    proxy.set_delay(Duration::from_millis(500));
    let started = Instant::now();
    let refused = first_use(&store, &keys[1]).await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_millis(400), "{elapsed:?}");
    assert!(
        refused.reason().contains("timed out after 50ms"),
        "{refused}"
    );
}

#[tokio::test]
async fn rediss_with_a_private_ca_is_trusted_only_with_that_ca() {
    let ca = TestCa::generate();
    let Some(redis) = RedisServer::builder()
        .tls(&ca)
        .start_or_skip("rediss_with_a_private_ca_is_trusted_only_with_that_ca")
    else {
        return;
    };
    assert!(redis.url().starts_with("rediss://127.0.0.1:"));
    let store = RedisReplayStore::new(
        RedisStore::builder(redis.url())
            .tls_root_certificate_pem(redis.ca_pem().unwrap().as_bytes().to_vec())
            .timeout(Duration::from_millis(500))
            .connect()
            .await
            .unwrap(),
    );
    let key = replay_keys(1).await[0];
    assert_eq!(first_use(&store, &key).await, Ok(true));
    assert_eq!(first_use(&store, &key).await, Ok(false));

    // The system's roots do not know the test CA.
    let refused = RedisStore::builder(redis.url())
        .connect()
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), RedisErrorKind::Unavailable, "{refused}");
}
