// Tests may unwrap, index and panic: a failure is the test's report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The deny list on real Redis servers: two lists on one server stand for two replicas. A
//! revocation through one is refused by it at once and by the other as soon as the message
//! arrives; without a message, within the freshness bound (on an injected clock); subjects
//! revoked before an instant; entries that expire; a cluster; outages and a slow server.

use std::time::{Duration, Instant};

use portcullis_core::revocation::{RevocationCheck, RevocationError, RevocationKey, Standing};
use portcullis_core::{Claims, ManualClock};
use portcullis_redis::{RedisRevocations, RedisStore, RevocationPolicy};
use portcullis_testkit::redis::{DelayProxy, RedisCluster, RedisServer};

const NOW: i64 = 1_800_000_000;
const ISS: &str = "https://issuer.test";

fn claims(json: &str) -> Claims {
    Claims::from_trusted_json(json).unwrap()
}

fn token(jti: &str) -> Claims {
    claims(&format!(
        r#"{{"iss":"{ISS}","jti":"{jti}","sub":"u-{jti}","iat":{}}}"#,
        NOW - 10
    ))
}

async fn standing(list: &RedisRevocations, claims: &Claims) -> Result<Standing, RevocationError> {
    use portcullis_core::revocation::RevocationList;
    match list.check(claims) {
        RevocationCheck::Ready(r) => r,
        RevocationCheck::Pending(f) => f.await,
    }
}

/// Whether the answer came from memory, without a round trip.
fn answered_at_once(list: &RedisRevocations, claims: &Claims) -> bool {
    use portcullis_core::revocation::RevocationList;
    matches!(list.check(claims), RevocationCheck::Ready(_))
}

async fn connect(url: &str) -> RedisStore {
    RedisStore::builder(url)
        .timeout(Duration::from_millis(200))
        .connect()
        .await
        .unwrap()
}

/// Waits (a bounded time) for an asynchronous event: a subscription, a message, a reconnection.
async fn eventually(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done().await {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn replica(store: RedisStore, clock: &ManualClock, fresh_for: Duration) -> RedisRevocations {
    let list = RedisRevocations::builder(store)
        .clock(clock.clone())
        .fresh_for(fresh_for)
        .start();
    eventually("subscribed", async || list.is_subscribed()).await;
    list
}

#[tokio::test]
async fn a_jti_revoked_through_one_replica_is_refused_by_both() {
    let Some(redis) =
        RedisServer::start_or_skip("a_jti_revoked_through_one_replica_is_refused_by_both")
    else {
        return;
    };
    let clock = ManualClock::at(NOW);
    // Answers are fresh for an hour on a frozen clock: only the message can make B refuse.
    let hour = Duration::from_secs(3600);
    let a = replica(connect(&redis.url()).await, &clock, hour).await;
    let b = replica(connect(&redis.url()).await, &clock, hour).await;
    let t1 = token("t1");
    let t2 = token("t2");
    assert_eq!(standing(&b, &t1).await, Ok(Standing::NotRevoked));
    assert!(answered_at_once(&b, &t1), "the answer is remembered");
    assert_eq!(standing(&b, &t1).await, Ok(Standing::NotRevoked));
    let stats = b.stats();
    assert_eq!(
        (stats.round_trips, stats.local_answers, stats.failures),
        (1, 2, 0)
    );
    assert!(stats.subscribed);

    a.revoke_jti(ISS, "t1", (NOW + 600) as u64).await.unwrap();
    assert!(answered_at_once(&a, &t1));
    assert_eq!(standing(&a, &t1).await, Ok(Standing::Revoked), "A at once");
    eventually("B hears of it", async || {
        standing(&b, &t1).await == Ok(Standing::Revoked)
    })
    .await;
    assert_eq!(standing(&b, &t2).await, Ok(Standing::NotRevoked));
    assert_eq!(standing(&a, &t2).await, Ok(Standing::NotRevoked));

    // In Redis: one key, hashed, expiring with the token.
    let key = a.redis_key(&RevocationKey::token(ISS, "t1"));
    assert!(
        key.starts_with("portcullis:rev:") && !key.contains("t1"),
        "{key}"
    );
    assert_eq!(redis.command(&["GET", &key]), "t");
    assert_eq!(
        redis.command(&["PEXPIRETIME", &key]),
        format!(":{}", (NOW + 600) * 1000)
    );
    // A third replica started later finds it in Redis.
    let c = replica(connect(&redis.url()).await, &clock, hour).await;
    assert_eq!(standing(&c, &t1).await, Ok(Standing::Revoked));
}

#[tokio::test]
async fn without_a_message_a_replica_refuses_once_its_answer_is_stale() {
    let Some(redis) =
        RedisServer::start_or_skip("without_a_message_a_replica_refuses_once_its_answer_is_stale")
    else {
        return;
    };
    let clock = ManualClock::at(NOW);
    let fresh_for = Duration::from_millis(250);
    let b = replica(connect(&redis.url()).await, &clock, fresh_for).await;
    let t1 = token("t1");
    assert_eq!(standing(&b, &t1).await, Ok(Standing::NotRevoked));
    // Written by something that does not publish (an operator's redis-cli).
    let key = b.redis_key(&RevocationKey::token(ISS, "t1"));
    assert_eq!(redis.command(&["SET", &key, "t", "EX", "600"]), "+OK");
    clock.advance_millis(249);
    assert!(answered_at_once(&b, &t1));
    assert_eq!(
        standing(&b, &t1).await,
        Ok(Standing::NotRevoked),
        "within the bound, the remembered answer"
    );
    clock.advance_millis(1);
    assert!(!answered_at_once(&b, &t1), "stale: Redis is asked");
    assert_eq!(standing(&b, &t1).await, Ok(Standing::Revoked));
    // A value portcullis did not write still refuses.
    let t2 = token("t2");
    let key = b.redis_key(&RevocationKey::token(ISS, "t2"));
    assert_eq!(
        redis.command(&["SET", &key, "whatever", "EX", "600"]),
        "+OK"
    );
    assert_eq!(standing(&b, &t2).await, Ok(Standing::Revoked));
}

#[tokio::test]
async fn a_subjects_older_tokens_are_refused_and_an_earlier_instant_never_shortens_it() {
    let Some(redis) = RedisServer::start_or_skip(
        "a_subjects_older_tokens_are_refused_and_an_earlier_instant_never_shortens_it",
    ) else {
        return;
    };
    let clock = ManualClock::at(NOW);
    let hour = Duration::from_secs(3600);
    let a = replica(connect(&redis.url()).await, &clock, hour).await;
    let b = replica(connect(&redis.url()).await, &clock, hour).await;
    let at = |iat: i64| claims(&format!(r#"{{"iss":"{ISS}","sub":"alice","iat":{iat}}}"#));
    let old = at(NOW - 100);
    let new = at(NOW + 1);
    let no_iat = claims(&format!(r#"{{"iss":"{ISS}","sub":"alice"}}"#));
    assert_eq!(standing(&b, &old).await, Ok(Standing::NotRevoked));
    a.revoke_subject_before(ISS, "alice", NOW as u64, (NOW + 3600) as u64)
        .await
        .unwrap();
    eventually("B hears of it", async || {
        standing(&b, &old).await == Ok(Standing::Revoked)
    })
    .await;
    assert_eq!(standing(&b, &no_iat).await, Ok(Standing::Revoked));
    assert_eq!(standing(&b, &new).await, Ok(Standing::NotRevoked));
    assert_eq!(standing(&a, &new).await, Ok(Standing::NotRevoked));

    let key = a.redis_key(&RevocationKey::subject(ISS, "alice"));
    a.revoke_subject_before(ISS, "alice", (NOW - 1000) as u64, (NOW + 60) as u64)
        .await
        .unwrap();
    assert_eq!(redis.command(&["GET", &key]), format!("s{NOW}"));
    assert_eq!(
        redis.command(&["PEXPIRETIME", &key]),
        format!(":{}", (NOW + 3600) * 1000),
        "the later expiry kept"
    );
    // A later instant replaces it, and reaches B.
    a.revoke_subject_before(ISS, "alice", (NOW + 5) as u64, (NOW + 7200) as u64)
        .await
        .unwrap();
    assert_eq!(redis.command(&["GET", &key]), format!("s{}", NOW + 5));
    eventually("B hears of the later instant", async || {
        standing(&b, &new).await == Ok(Standing::Revoked)
    })
    .await;
}

#[tokio::test]
async fn entries_expire_with_the_tokens_they_cover() {
    let Some(redis) = RedisServer::start_or_skip("entries_expire_with_the_tokens_they_cover")
    else {
        return;
    };
    let clock = ManualClock::at(NOW);
    let a = replica(connect(&redis.url()).await, &clock, Duration::ZERO).await;
    a.revoke_jti(ISS, "t1", (NOW + 30) as u64).await.unwrap();
    assert_eq!(standing(&a, &token("t1")).await, Ok(Standing::Revoked));
    let lookup = portcullis_core::revocation::Lookup::of(&token("t1"));
    assert_eq!(a.local().standing(&lookup), Standing::Revoked);
    // Past the token's expiry the local copy forgets it (Redis does too, by its PXAT).
    clock.advance_secs(31);
    assert!(
        a.local()
            .standing(&portcullis_core::revocation::Lookup::of(&token("t1")))
            == Standing::NotRevoked
    );
    let key = a.redis_key(&RevocationKey::token(ISS, "t1"));
    assert_eq!(
        redis.command(&["PEXPIRETIME", &key]),
        format!(":{}", (NOW + 30) * 1000)
    );
    // An entry for a token already expired is not written at all.
    a.revoke_jti(ISS, "gone", (NOW - 5) as u64).await.unwrap();
    let gone = a.redis_key(&RevocationKey::token(ISS, "gone"));
    assert_eq!(redis.command(&["EXISTS", &gone]), ":0");
    // A token with neither jti nor sub has nothing to look up: no round trip.
    let anonymous = claims(&format!(r#"{{"iss":"{ISS}"}}"#));
    assert!(answered_at_once(&a, &anonymous));
    assert_eq!(standing(&a, &anonymous).await, Ok(Standing::NotRevoked));
}

#[tokio::test]
async fn the_same_on_a_three_node_cluster() {
    let Some(cluster) = RedisCluster::start_or_skip("revocation: the_same_on_a_three_node_cluster")
    else {
        return;
    };
    let clock = ManualClock::at(NOW);
    let hour = Duration::from_secs(3600);
    let store = || async {
        RedisStore::cluster_builder(cluster.urls())
            .timeout(Duration::from_millis(500))
            .connect()
            .await
            .unwrap()
    };
    let a = replica(store().await, &clock, hour).await;
    let b = replica(store().await, &clock, hour).await;
    // Many tokens: their keys (and each token's two keys) fall in different slots.
    for i in 0..20 {
        let t = token(&format!("c{i}"));
        assert_eq!(standing(&b, &t).await, Ok(Standing::NotRevoked));
    }
    for i in (0..20).step_by(2) {
        a.revoke_jti(ISS, &format!("c{i}"), (NOW + 600) as u64)
            .await
            .unwrap();
    }
    a.revoke_subject_before(ISS, "u-c1", NOW as u64, (NOW + 600) as u64)
        .await
        .unwrap();
    eventually("B hears of all of them", async || {
        standing(&b, &token("c18")).await == Ok(Standing::Revoked)
            && standing(&b, &token("c1")).await == Ok(Standing::Revoked)
    })
    .await;
    for i in 0..20 {
        let expected = if i % 2 == 0 || i == 1 {
            Standing::Revoked
        } else {
            Standing::NotRevoked
        };
        let t = token(&format!("c{i}"));
        assert_eq!(standing(&b, &t).await, Ok(expected), "c{i}");
        // A replica with nothing in memory reads the same from the cluster.
        let c = RedisRevocations::builder(store().await)
            .clock(clock.clone())
            .fresh_for(Duration::ZERO)
            .start();
        assert_eq!(standing(&c, &t).await, Ok(expected), "c{i} from Redis");
    }
}

#[tokio::test]
async fn an_outage_is_503_or_the_local_copy_and_the_list_comes_back_by_itself() {
    let Some(mut redis) = RedisServer::start_or_skip(
        "an_outage_is_503_or_the_local_copy_and_the_list_comes_back_by_itself",
    ) else {
        return;
    };
    let clock = ManualClock::at(NOW);
    let closed = replica(
        connect(&redis.url()).await,
        &clock,
        Duration::from_secs(3600),
    )
    .await;
    let open = RedisRevocations::builder(connect(&redis.url()).await)
        .clock(clock.clone())
        .policy(RevocationPolicy::FailOpen)
        .start();
    eventually("subscribed", async || open.is_subscribed()).await;
    open.revoke_jti(ISS, "known", (NOW + 600) as u64)
        .await
        .unwrap();
    // An entry from before this replica started (no message will come): found once.
    let older = open.redis_key(&RevocationKey::token(ISS, "older"));
    assert_eq!(redis.command(&["SET", &older, "t", "EX", "600"]), "+OK");
    let older_token = claims(&format!(
        r#"{{"iss":"{ISS}","jti":"older","exp":{}}}"#,
        NOW + 300
    ));
    assert_eq!(standing(&open, &older_token).await, Ok(Standing::Revoked));
    let fine = token("fine");
    assert_eq!(standing(&closed, &fine).await, Ok(Standing::NotRevoked));

    redis.kill();
    eventually("the subscription sees the outage", async || {
        !closed.is_subscribed()
    })
    .await;
    // No answer is reused while the channel is down: the remembered one is not trusted.
    assert!(!answered_at_once(&closed, &fine));
    let refused = standing(&closed, &fine).await.unwrap_err();
    assert!(!refused.reason().is_empty());
    assert!(closed.stats().failures >= 1 && !closed.stats().subscribed);
    assert_eq!(standing(&open, &fine).await, Ok(Standing::NotRevoked));
    assert_eq!(
        standing(&open, &token("known")).await,
        Ok(Standing::Revoked),
        "fail open still refuses what this replica knows"
    );
    assert_eq!(
        standing(&open, &older_token).await,
        Ok(Standing::Revoked),
        "and what it once read from Redis"
    );
    assert!(
        closed
            .revoke_jti(ISS, "during", (NOW + 600) as u64)
            .await
            .is_err()
    );
    assert_eq!(
        standing(&closed, &token("during")).await,
        Ok(Standing::Revoked),
        "a revocation that could not be written still holds here"
    );

    redis.restart();
    eventually("reconnected", async || {
        closed.is_subscribed() && standing(&closed, &fine).await == Ok(Standing::NotRevoked)
    })
    .await;
}

#[tokio::test]
async fn a_slow_redis_answers_within_the_timeout() {
    let Some(redis) =
        RedisServer::start_or_skip("revocation: a_slow_redis_answers_within_the_timeout")
    else {
        return;
    };
    let proxy = DelayProxy::start(redis.addr()).await;
    let store = RedisStore::builder(format!("redis://{}", proxy.addr()))
        .timeout(Duration::from_millis(50))
        .connect()
        .await
        .unwrap();
    let clock = ManualClock::at(NOW);
    let list = RedisRevocations::builder(store).clock(clock).start();
    proxy.set_delay(Duration::from_millis(500));
    let started = Instant::now();
    let refused = standing(&list, &token("t")).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
    assert!(
        refused.reason().contains("timed out"),
        "{}",
        refused.reason()
    );
}

#[test]
fn a_list_started_outside_a_runtime_asks_redis_every_time() {
    let Some(redis) =
        RedisServer::start_or_skip("a_list_started_outside_a_runtime_asks_redis_every_time")
    else {
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = rt.block_on(connect(&redis.url()));
    let clock = ManualClock::at(NOW);
    let list = RedisRevocations::builder(store)
        .clock(clock)
        .fresh_for(Duration::from_secs(3600))
        .start();
    assert!(!list.is_subscribed());
    let t = token("t");
    assert_eq!(rt.block_on(standing(&list, &t)), Ok(Standing::NotRevoked));
    assert!(
        !answered_at_once(&list, &t),
        "no answer reused unsubscribed"
    );
}

#[tokio::test]
async fn a_dropped_list_closes_its_subscription() {
    let Some(redis) = RedisServer::start_or_skip("a_dropped_list_closes_its_subscription") else {
        return;
    };
    let clock = ManualClock::at(NOW);
    let subscribers = || {
        redis
            .command(&["CLIENT", "LIST", "TYPE", "pubsub"])
            .lines()
            .filter(|l| l.contains("sub="))
            .count()
    };
    let list = replica(connect(&redis.url()).await, &clock, Duration::ZERO).await;
    assert_eq!(subscribers(), 1);
    drop(list);
    eventually("the subscription is closed", async || subscribers() == 0).await;
}

#[tokio::test]
async fn each_key_of_a_token_is_judged_on_its_own_answer() {
    let Some(redis) = RedisServer::start_or_skip("each_key_of_a_token_is_judged_on_its_own_answer")
    else {
        return;
    };
    let clock = ManualClock::at(NOW);
    let b = replica(
        connect(&redis.url()).await,
        &clock,
        Duration::from_millis(250),
    )
    .await;
    let at = |jti: &str, sub: &str| {
        claims(&format!(
            r#"{{"iss":"{ISS}","jti":"{jti}","sub":"{sub}","iat":{}}}"#,
            NOW - 10
        ))
    };
    // The token's (jti a, sub u) answers at 0 ms; the jti's again at 200 ms, with another sub.
    assert_eq!(standing(&b, &at("a", "u")).await, Ok(Standing::NotRevoked));
    clock.advance_millis(200);
    assert_eq!(standing(&b, &at("a", "v")).await, Ok(Standing::NotRevoked));
    // Subject u revoked by something that does not publish.
    let key = b.redis_key(&RevocationKey::subject(ISS, "u"));
    assert_eq!(
        redis.command(&["SET", &key, &format!("s{NOW}"), "EX", "600"]),
        "+OK"
    );
    // At 300 ms the jti's answer is fresh and the subject's is not: Redis is asked.
    clock.advance_millis(100);
    assert!(!answered_at_once(&b, &at("a", "u")));
    assert_eq!(standing(&b, &at("a", "u")).await, Ok(Standing::Revoked));
}
