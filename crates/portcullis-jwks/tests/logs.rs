// Tests may unwrap, index and panic: a failure is the test's report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! What a remote JWKS logs. Alone in its own test binary: tracing caches per call site whether
//! anyone listens, and a thread-scoped subscriber next to concurrently running tests can miss
//! events.

mod common;

use common::wait_stats;
use portcullis_jwks::{ManualTimer, RemoteJwks};
use portcullis_testkit::{Algorithm, JwksFault, LogCapture, TestIssuer, TestKey};
use serde_json::json;

fn warnings(logs: &LogCapture) -> Vec<String> {
    logs.text()
        .lines()
        .filter(|l| l.contains(" WARN "))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn a_failed_first_fetch_names_the_discovered_url_and_claims_no_last_good_keys() {
    let (logs, _guard) = LogCapture::start();
    let idp = TestIssuer::start().await;
    idp.set_fault(Some(JwksFault::Status(500)));
    let timer = ManualTimer::new();
    let jwks = RemoteJwks::discover(idp.issuer())
        .timer(timer.clone())
        .lazy()
        .build()
        .await
        .unwrap();
    wait_stats(&jwks, |s| s.failures >= 1).await;
    assert!(
        logs.text().contains("JWKS URL discovered"),
        "{}",
        logs.text()
    );
    let warned = warnings(&logs);
    assert_eq!(warned.len(), 1, "{warned:?}");
    let line = &warned[0];
    assert!(line.contains(&idp.jwks_url()), "{line}");
    assert!(!line.contains("(not discovered)"), "{line}");
    assert!(!line.contains("keeping the last good keys"), "{line}");
    assert!(
        line.contains("JWKS fetch failed; no keys loaded yet"),
        "{line}"
    );
}

#[tokio::test]
async fn a_published_private_key_or_a_repeated_kid_is_a_warning_with_the_kid_once_per_fetch() {
    let (logs, _guard) = LogCapture::start();
    let idp = TestIssuer::start().await;
    idp.set_etag_enabled(false);
    let good = idp.jwks_json()["keys"][0].clone();
    let kid = good["kid"].as_str().unwrap().to_owned();
    let mut leaked = TestKey::generate(Algorithm::ES256)
        .with_kid("leaked")
        .public_jwk();
    leaked["d"] = json!("c2VjcmV0");
    idp.set_jwks_override(Some(json!({ "keys": [good.clone(), leaked, good] })));
    let timer = ManualTimer::new();
    let jwks = common::remote(&idp, &timer).build().await.unwrap();
    let count = |needle: &str| {
        warnings(&logs)
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    };
    let private = "kid=\"leaked\"";
    let repeated = format!("kid=\"{kid}\"");
    assert_eq!(count(private), 1, "{}", logs.text());
    assert_eq!(count(&repeated), 1, "{}", logs.text());
    assert_eq!(count("private key material published"), 1);
    assert_eq!(count("duplicate kid"), 1);
    assert!(
        !logs.text().contains("c2VjcmV0"),
        "the secret is never logged"
    );

    // The next fetch warns again, once.
    timer.advance(common::secs(241));
    wait_stats(&jwks, |s| s.updated >= 2).await;
    assert_eq!(count(private), 2, "{}", logs.text());
    assert_eq!(count(&repeated), 2, "{}", logs.text());
}
