// Tests may unwrap, index and panic: a failure is the test's report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Two replicas of one API behind one real Redis (`redis-server`, started here), over real
//! HTTP: a DPoP proof used on one is refused by the other, a token revoked through one is
//! refused by both (also where it was cached as verified), the introspection endpoint is
//! asked once for both; Redis killed under traffic and restarted never turns into a 401 or
//! a replay let through, and the replicas reconnect by themselves; a slow Redis answers
//! within the timeout.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::routing::get;
use portcullis::introspection::{SharedCacheKey, SharedCachePolicy};
use portcullis::layer::BearerAuthLayer;
use portcullis::{Config, DpopConfig, Portcullis};
use portcullis_redis::{RedisReplayStore, RedisRevocations, RedisStore, RedisVerdicts};
use portcullis_testkit::redis::{DelayProxy, RedisServer};
use portcullis_testkit::{Algorithm, DpopClient, TestIssuer, serve};
use serde_json::json;

const ORIGIN: &str = "https://orders.example.test";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn app(auth: BearerAuthLayer) -> Router {
    Router::new()
        .route("/orders", get(|| async { "orders" }))
        .route_layer(auth)
}

async fn store(url: &str) -> RedisStore {
    RedisStore::builder(url)
        .key_prefix("orders-api:")
        .timeout(Duration::from_millis(100))
        .connect()
        .await
        .unwrap()
}

async fn call(base: &str, scheme: &str, token: &str, proof: Option<&str>) -> u16 {
    let mut req = reqwest::Client::new()
        .get(format!("{base}/orders"))
        .header("authorization", format!("{scheme} {token}"));
    if let Some(proof) = proof {
        req = req.header("dpop", proof);
    }
    req.send().await.unwrap().status().as_u16()
}

/// Waits (a bounded time) for something asynchronous: a message, a reconnection.
async fn eventually(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done().await {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One replica: JWTs of `idp`, DPoP with the shared replay store, the shared deny list.
async fn replica(idp: &TestIssuer, redis: &str) -> (String, RedisRevocations) {
    let store = store(redis).await;
    let revocations = RedisRevocations::builder(store.clone()).start();
    let auth = Portcullis::builder()
        .issuer(idp.issuer())
        .audience("api")
        .public_origin(ORIGIN)
        .dpop(DpopConfig::new())
        .dpop_replay_store(RedisReplayStore::new(store))
        .revocations(revocations.clone())
        .build()
        .await
        .unwrap();
    (serve(app(auth)).await, revocations)
}

#[tokio::test]
async fn a_proof_used_on_one_replica_is_refused_by_the_other() {
    let Some(redis) =
        RedisServer::start_or_skip("a_proof_used_on_one_replica_is_refused_by_the_other")
    else {
        return;
    };
    let idp = TestIssuer::start().await;
    let (a, _) = replica(&idp, &redis.url()).await;
    let (b, _) = replica(&idp, &redis.url()).await;
    let client = DpopClient::new(Algorithm::ES256);
    let token = client.bind(idp.token()).sign();
    let proof = || {
        client
            .proof("GET", &format!("{ORIGIN}/orders"))
            .token(&token)
            .sign()
    };
    let used = proof();
    assert_eq!(call(&a, "DPoP", &token, Some(&used)).await, 200);
    assert_eq!(
        call(&b, "DPoP", &token, Some(&used)).await,
        401,
        "replayed on B"
    );
    assert_eq!(call(&a, "DPoP", &token, Some(&used)).await, 401, "and on A");
    assert_eq!(call(&b, "DPoP", &token, Some(&proof())).await, 200);
}

#[tokio::test]
async fn a_token_revoked_through_one_replica_is_refused_by_both() {
    let Some(redis) =
        RedisServer::start_or_skip("a_token_revoked_through_one_replica_is_refused_by_both")
    else {
        return;
    };
    let idp = TestIssuer::start().await;
    let (a, on_a) = replica(&idp, &redis.url()).await;
    let (b, _) = replica(&idp, &redis.url()).await;
    let token = idp.token().claim("jti", json!("t-1")).sign();
    // B verifies it and caches it as verified; the second request is a cache hit.
    assert_eq!(call(&b, "Bearer", &token, None).await, 200);
    assert_eq!(call(&b, "Bearer", &token, None).await, 200);
    assert_eq!(call(&a, "Bearer", &token, None).await, 200);

    on_a.revoke_jti(&idp.issuer(), "t-1", now() + 600)
        .await
        .unwrap();
    assert_eq!(call(&a, "Bearer", &token, None).await, 401, "A at once");
    // B within the documented bound (the message, or at worst fresh_for = 250 ms).
    let revoked = Instant::now();
    eventually("B refuses", async || {
        call(&b, "Bearer", &token, None).await == 401
    })
    .await;
    assert!(
        revoked.elapsed() < Duration::from_millis(250) + Duration::from_secs(1),
        "{:?}",
        revoked.elapsed()
    );
    // A subject logged out everywhere: its older tokens refused on both, newer ones not.
    let t = now();
    let old = idp
        .token()
        .subject("alice")
        .claim("iat", json!(t - 60))
        .sign();
    let new = idp
        .token()
        .subject("alice")
        .claim("iat", json!(t + 1))
        .sign();
    assert_eq!(call(&b, "Bearer", &old, None).await, 200);
    on_a.revoke_subject_before(&idp.issuer(), "alice", t, t + 3600)
        .await
        .unwrap();
    eventually("B refuses alice's old token", async || {
        call(&b, "Bearer", &old, None).await == 401
    })
    .await;
    assert_eq!(call(&a, "Bearer", &old, None).await, 401);
    assert_eq!(call(&b, "Bearer", &new, None).await, 200);
}

#[tokio::test]
async fn the_introspection_endpoint_is_asked_once_for_both_replicas() {
    let Some(redis) =
        RedisServer::start_or_skip("the_introspection_endpoint_is_asked_once_for_both_replicas")
    else {
        return;
    };
    let idp = TestIssuer::builder().client("api", "s3cret").start().await;
    let secret = SharedCacheKey::new(b"a secret of the deployment, 32+ bytes").unwrap();
    let mut bases = Vec::new();
    for _ in 0..2 {
        let config: Config = serde_json::from_value(json!({
            "tokens": "introspection",
            "issuers": [{
                "issuer": idp.issuer(),
                "audiences": ["api"],
                "introspection": { "client_id": "api", "client_secret": "s3cret" }
            }]
        }))
        .unwrap();
        let auth = Portcullis::from_config(config)
            .shared_introspection_cache(
                RedisVerdicts::new(store(&redis.url()).await),
                secret.clone(),
                SharedCachePolicy::FailClosed,
            )
            .build()
            .await
            .unwrap();
        bases.push(serve(app(auth)).await);
    }
    let token = idp.opaque(&idp.token());
    let revoked = idp.opaque(&idp.token());
    idp.revoke(&revoked);
    for base in &bases {
        assert_eq!(call(base, "Bearer", &token, None).await, 200);
        assert_eq!(call(base, "Bearer", &revoked, None).await, 401);
    }
    assert_eq!(
        idp.introspection_calls(),
        2,
        "one call per token, not per replica"
    );
    // Nothing in Redis holds a token.
    let keys = redis.command(&["KEYS", "orders-api:iv:*"]);
    assert_eq!(keys.lines().count(), 2, "{keys}");
    assert!(!keys.contains(&token) && !keys.contains(&revoked));
}

#[tokio::test]
async fn redis_killed_under_traffic_is_never_a_401_nor_a_replay_let_through() {
    let Some(mut redis) = RedisServer::start_or_skip(
        "redis_killed_under_traffic_is_never_a_401_nor_a_replay_let_through",
    ) else {
        return;
    };
    let idp = TestIssuer::start().await;
    let (a, _) = replica(&idp, &redis.url()).await;
    let (b, _) = replica(&idp, &redis.url()).await;
    let client = DpopClient::new(Algorithm::EdDSA);
    let token = client.bind(idp.token()).sign();
    let bearer = idp.token().claim("jti", json!("steady")).sign();
    let proof = || {
        client
            .proof("GET", &format!("{ORIGIN}/orders"))
            .token(&token)
            .sign()
    };
    // (DPoP requests, bearer requests): statuses on both replicas.
    let traffic = async |label: &str| {
        let (mut dpop, mut plain) = (Vec::new(), Vec::new());
        for base in [&a, &b] {
            let used = proof();
            let first = call(base, "DPoP", &token, Some(&used)).await;
            dpop.push(first);
            // The same proof again, on the other replica then on this one: accepted once at
            // most (a proof refused with 503 was not used, and may be accepted once later).
            let other = if base == &a { &b } else { &a };
            let again = [
                call(other, "DPoP", &token, Some(&used)).await,
                call(base, "DPoP", &token, Some(&used)).await,
            ];
            let accepted = again.iter().chain([&first]).filter(|s| **s == 200).count();
            assert!(
                accepted <= 1,
                "{label}: a replay let through: {first} {again:?}"
            );
            plain.push(call(base, "Bearer", &bearer, None).await);
        }
        (dpop, plain)
    };
    let (dpop, plain) = traffic("healthy").await;
    assert!(dpop.iter().chain(&plain).all(|s| *s == 200));

    redis.kill();
    for _ in 0..5 {
        let (dpop, plain) = traffic("down").await;
        // A new proof needs the replay store: 503. A bearer token may still pass on an
        // answer remembered for fresh_for (it is not revoked), else 503; never a 401.
        assert!(dpop.iter().all(|s| *s == 503), "{dpop:?}");
        assert!(plain.iter().all(|s| *s == 503 || *s == 200), "{plain:?}");
    }

    redis.restart();
    eventually("both replicas serve again", async || {
        let (dpop, plain) = traffic("back").await;
        dpop.iter().chain(&plain).all(|s| *s == 200)
    })
    .await;
}

#[tokio::test]
async fn a_slow_redis_is_answered_within_the_timeout() {
    let Some(redis) = RedisServer::start_or_skip("a_slow_redis_is_answered_within_the_timeout")
    else {
        return;
    };
    let proxy = DelayProxy::start(redis.addr()).await;
    let idp = TestIssuer::start().await;
    let (a, _) = replica(&idp, &format!("redis://{}", proxy.addr())).await;
    let bearer = idp.token().claim("jti", json!("slow")).sign();
    assert_eq!(call(&a, "Bearer", &bearer, None).await, 200);
    proxy.set_delay(Duration::from_millis(800));
    let fresh = idp.token().claim("jti", json!("slow-2")).sign();
    let started = Instant::now();
    assert_eq!(call(&a, "Bearer", &fresh, None).await, 503);
    // The store's timeout is 100 ms; well under the 800 ms Redis takes.
    assert!(
        started.elapsed() < Duration::from_millis(600),
        "{:?}",
        started.elapsed()
    );
}

/// A replica built from a configuration with a `redis` section.
async fn configured(
    idp: &TestIssuer,
    redis: serde_json::Value,
) -> Result<String, portcullis::ConfigError> {
    let config: Config = serde_json::from_value(json!({
        "issuers": [{ "issuer": idp.issuer(), "audiences": ["api"] }],
        "public_origin": ORIGIN,
        "dpop": { "replicas": 2 },
        "redis": redis,
    }))
    .unwrap();
    let auth = Portcullis::from_config(config).build().await?;
    Ok(serve(app(auth)).await)
}

#[tokio::test]
async fn replicas_configured_with_a_redis_section_share_proofs_and_the_deny_list() {
    let Some(redis) = RedisServer::start_or_skip(
        "replicas_configured_with_a_redis_section_share_proofs_and_the_deny_list",
    ) else {
        return;
    };
    let idp = TestIssuer::start().await;
    let section = json!({ "url": redis.url(), "key_prefix": "orders-api:", "revocation": {} });
    let a = configured(&idp, section.clone()).await.unwrap();
    let b = configured(&idp, section).await.unwrap();
    let client = DpopClient::new(Algorithm::ES256);
    let token = client.bind(idp.token().claim("jti", json!("c-1"))).sign();
    let used = client
        .proof("GET", &format!("{ORIGIN}/orders"))
        .token(&token)
        .sign();
    assert_eq!(call(&a, "DPoP", &token, Some(&used)).await, 200);
    assert_eq!(
        call(&b, "DPoP", &token, Some(&used)).await,
        401,
        "replayed on B"
    );

    // Revoked by an operator's tool on the same deployment prefix.
    let admin = RedisRevocations::builder(store(&redis.url()).await).start();
    let bearer = idp.token().claim("jti", json!("c-2")).sign();
    assert_eq!(call(&b, "Bearer", &bearer, None).await, 200);
    admin
        .revoke_jti(&idp.issuer(), "c-2", now() + 600)
        .await
        .unwrap();
    for base in [&a, &b] {
        eventually("the replica refuses", async || {
            call(base, "Bearer", &bearer, None).await == 401
        })
        .await;
    }
}

#[tokio::test]
async fn a_redis_section_that_cannot_work_is_refused_at_build_without_its_password() {
    use portcullis::ConfigErrorKind;
    let idp = TestIssuer::start().await;
    let setting = |e: portcullis::ConfigError| match e.kind() {
        ConfigErrorKind::Invalid { setting, .. } | ConfigErrorKind::Unusable { setting, .. } => {
            *setting
        }
        other => panic!("{other:?}"),
    };
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let down = format!("redis://127.0.0.1:{port}/0");
    let with_password = format!("redis://app:hunter2@127.0.0.1:{port}/0");
    for (section, expected) in [
        (json!({}), "redis"),
        (json!({ "url": down, "url_env": "X" }), "redis"),
        (
            json!({ "url_env": "PORTCULLIS_TEST_NO_SUCH_VARIABLE" }),
            "redis.url_env",
        ),
        (
            json!({ "url": down, "introspection_cache": { "secret_env": "X" } }),
            "redis.introspection_cache",
        ),
        (json!({ "url": with_password }), "redis.url"),
        (json!({ "url": down }), "redis.url"),
    ] {
        let e = configured(&idp, section.clone()).await.unwrap_err();
        let shown = format!(
            "{e} {:?}",
            std::error::Error::source(&e).map(ToString::to_string)
        );
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(setting(e), expected, "{section}");
    }
    // A replay store in code and a redis section: which one is meant is not guessed.
    let Some(redis) = RedisServer::start_or_skip(
        "a_redis_section_that_cannot_work_is_refused_at_build_without_its_password",
    ) else {
        return;
    };
    let config: Config = serde_json::from_value(json!({
        "issuers": [{ "issuer": idp.issuer(), "audiences": ["api"] }],
        "public_origin": ORIGIN,
        "dpop": {},
        "redis": { "url": redis.url() },
    }))
    .unwrap();
    let e = Portcullis::from_config(config)
        .dpop_replay_store(portcullis::jwt::dpop::LocalReplayStore::new(1000))
        .build()
        .await
        .unwrap_err();
    assert_eq!(setting(e), "redis");
}
