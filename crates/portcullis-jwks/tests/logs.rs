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
use portcullis_testkit::{JwksFault, LogCapture, TestIssuer};

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
    assert!(logs.text().contains("JWKS URL discovered"), "{}", logs.text());
    let warned = warnings(&logs);
    assert_eq!(warned.len(), 1, "{warned:?}");
    let line = &warned[0];
    assert!(line.contains(&idp.jwks_url()), "{line}");
    assert!(!line.contains("(not discovered)"), "{line}");
    assert!(!line.contains("keeping the last good keys"), "{line}");
    assert!(line.contains("JWKS fetch failed; no keys loaded yet"), "{line}");
}
