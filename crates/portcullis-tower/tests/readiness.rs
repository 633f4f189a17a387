// Tests may unwrap, index and panic: a failure is the test's report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The readiness probe over real HTTP, through a JWKS outage driven by an injected timer: ready
//! with fresh keys, still ready (stale) within the staleness limit, unready past it, ready
//! again when the endpoint returns.

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use portcullis_core::Validator;
use portcullis_core::health::{KeyHealth, SourceHealth};
use portcullis_jwks::{FetchStats, Issuers, JwtVerifier, ManualTimer, RemoteJwks, StaticKeys};
use portcullis_testkit::{JwksFault, TestIssuer, serve};
use portcullis_tower::BearerAuthLayer;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Waits (bounded by a real 10 s guard, never reached when the code is right) until the
/// source's counters satisfy `pred`: the background task's work is observed, not slept for.
async fn wait_stats(jwks: &RemoteJwks, pred: impl FnMut(&FetchStats) -> bool) {
    let mut rx = jwks.watch_stats();
    tokio::time::timeout(secs(10), rx.wait_for(pred))
        .await
        .expect("the background task did not get there in 10 s")
        .expect("the source is alive");
}

async fn probe(base: &str) -> (u16, String) {
    let res = reqwest::get(format!("{base}/ready")).await.unwrap();
    let status = res.status().as_u16();
    assert_eq!(
        res.headers().get("cache-control").unwrap(),
        "no-store",
        "a probe's answer is never cached"
    );
    (status, res.text().await.unwrap())
}

#[tokio::test]
async fn the_probe_follows_the_keys_through_an_outage() {
    let issuer = TestIssuer::start().await;
    let timer = ManualTimer::new();
    let jwks = RemoteJwks::builder(issuer.jwks_url())
        .timer(timer.clone())
        .refresh_jitter(0.0)
        .timeout(Duration::from_millis(300))
        .max_staleness(secs(600))
        .build()
        .await
        .unwrap();
    let rules = Validator::builder()
        .issuer(issuer.issuer())
        .audience("api")
        .build()
        .unwrap();
    let auth = BearerAuthLayer::new(JwtVerifier::new(jwks.clone(), rules));
    let app = Router::new()
        .route("/orders", get(|| async { "orders" }))
        .route_layer(auth.clone())
        .route_service("/ready", auth.readiness());
    let base = serve(app).await;
    let url = issuer.jwks_url();

    assert_eq!(
        auth.health(),
        [SourceHealth::new(url.clone(), KeyHealth::Ready { keys: 1 })]
    );
    assert_eq!(
        probe(&base).await,
        (200, format!("ready\n{url}: ready (1 keys)\n"))
    );

    // The endpoint fails from now on. TTL 300 s (max-age), refresh at 240 s; the last good
    // keys are served until 300 + 600 = 900 s.
    issuer.set_fault(Some(JwksFault::Status(500)));
    timer.advance(secs(241));
    wait_stats(&jwks, |s| s.failures >= 1).await;
    assert_eq!(
        auth.health()[0].state,
        KeyHealth::Ready { keys: 1 },
        "within the TTL"
    );
    timer.advance(secs(100)); // 341 s: stale for 41 s, 559 s left
    let stale = KeyHealth::Stale {
        keys: 1,
        stale_for: secs(41),
        usable_for: secs(559),
    };
    assert_eq!(auth.health()[0].state, stale);
    let (status, body) = probe(&base).await;
    assert_eq!(status, 200, "stale keys still verify: {body}");
    assert!(body.contains(": stale (1 keys"), "{body}");
    let token = issuer.token().audience("api").sign();
    let ok = reqwest::Client::new()
        .get(format!("{base}/orders"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);

    timer.advance(secs(560)); // 901 s: past the staleness limit
    assert_eq!(auth.health()[0].state, KeyHealth::Unavailable);
    assert_eq!(
        probe(&base).await,
        (503, format!("unready\n{url}: unavailable (no keys)\n"))
    );

    // The endpoint is back: the next attempt (within the backoff's 30 s) brings the keys.
    issuer.set_fault(None);
    timer.advance(secs(31));
    wait_stats(&jwks, |s| s.updated + s.not_modified >= 2).await;
    assert_eq!(probe(&base).await.0, 200);
    assert!(auth.health()[0].state.is_fresh());
}

#[tokio::test]
async fn several_issuers_report_under_their_names_and_one_down_makes_the_replica_unready() {
    let up = TestIssuer::start().await;
    let timer = ManualTimer::new();
    let jwks = RemoteJwks::builder(up.jwks_url())
        .timer(timer.clone())
        .build()
        .await
        .unwrap();
    let rules = |iss: &str| {
        Validator::builder()
            .issuer(iss)
            .audience("api")
            .build()
            .unwrap()
    };
    let issuers = Issuers::builder()
        .issuer(up.issuer(), JwtVerifier::new(jwks, rules(&up.issuer())))
        .issuer(
            "https://static.example",
            JwtVerifier::new(
                StaticKeys::new(portcullis_core::KeySet::new(Vec::new())),
                rules("https://static.example"),
            ),
        )
        .build()
        .unwrap();
    let auth = BearerAuthLayer::new(issuers);
    assert_eq!(
        auth.health(),
        [
            SourceHealth::new(up.issuer(), KeyHealth::Ready { keys: 1 }),
            SourceHealth::new("https://static.example", KeyHealth::Unavailable),
        ]
    );
    let base = serve(Router::new().route_service("/ready", auth.readiness())).await;
    let (status, body) = probe(&base).await;
    assert_eq!(status, 503);
    assert_eq!(
        body,
        format!(
            "unready\n{}: ready (1 keys)\nhttps://static.example: unavailable (no keys)\n",
            up.issuer()
        )
    );
}
