//! The remote JWKS against the testkit issuer over loopback, on a manual timer.
// test code
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::Arc;

use common::{poll_once, remote, secs, settle, token_with_kid, validate, validator, wait_stats};
use portcullis_core::{Algorithm, ErrorKind};
use portcullis_jwks::{KeySource, ManualTimer, RemoteJwks, SourceErrorKind, Timer as _};
use portcullis_testkit::{JwksFault, TestIssuer, TestKey};
use serde_json::json;

#[tokio::test]
async fn new_kid_is_accepted_after_one_refetch_and_a_retired_key_is_refused_after_the_refresh() {
    let issuer = TestIssuer::start().await;
    let timer = ManualTimer::new();
    let jwks = remote(&issuer, &timer).build().await.unwrap();
    let v = validator(&issuer);
    assert_eq!(issuer.jwks_fetches(), 1);

    let old_token = issuer.token().sign();
    validate(&jwks, &v, &old_token).await.unwrap();

    let old = issuer.signing_key();
    issuer.rotate(Algorithm::ES256);
    let new_token = issuer.token().sign();
    validate(&jwks, &v, &new_token).await.unwrap();
    assert_eq!(
        issuer.jwks_fetches(),
        2,
        "exactly one refetch for the new kid"
    );
    // The old key is still published, and still works, without any fetch.
    validate(&jwks, &v, &old_token).await.unwrap();
    validate(&jwks, &v, &new_token).await.unwrap();
    assert_eq!(issuer.jwks_fetches(), 2);

    issuer.retire(old.kid());
    // The next background refresh (max-age=300, refresh at 80%) drops the retired key.
    timer.advance(secs(241));
    wait_stats(&jwks, |s| s.updated >= 3).await;
    assert_eq!(issuer.jwks_fetches(), 3);
    let refused = validate(&jwks, &v, &old_token).await.unwrap_err();
    assert_eq!(refused.kind(), &ErrorKind::UnknownKey);
    validate(&jwks, &v, &new_token).await.unwrap();
}

#[tokio::test]
async fn a_flood_of_unknown_kids_costs_at_most_the_budget_per_window() {
    let issuer = TestIssuer::start().await;
    let timer = ManualTimer::new();
    let jwks = remote(&issuer, &timer).build().await.unwrap();
    let v = validator(&issuer);
    let good = issuer.token().sign();
    let windows: usize = 4;
    for window in 1..=windows {
        for i in 0..10_000 / windows {
            let token = token_with_kid(&issuer.issuer(), &format!("random-{window}-{i}"));
            let refused = validate(&jwks, &v, &token).await.unwrap_err();
            assert_eq!(refused.kind(), &ErrorKind::UnknownKey);
        }
        // The default budget: 2 refetches per 30 s window, counted from attempts.
        assert!(
            issuer.jwks_fetches() <= 1 + 2 * window,
            "window {window}: {} fetches",
            issuer.jwks_fetches()
        );
        // Known kids keep working throughout.
        validate(&jwks, &v, &good).await.unwrap();
        timer.advance(secs(30));
    }
    assert!(jwks.stats().rate_limited >= 10_000 - 2 * u64::try_from(windows).unwrap());
    // What went upstream: the JWKS URL itself, never a token's kid.
    let path = issuer
        .jwks_url()
        .replace(&format!("http://{}", issuer.addr()), "");
    for request in issuer.jwks_requests() {
        assert_eq!(request.uri, path);
        assert!(
            request
                .headers
                .iter()
                .all(|(n, v)| !n.contains("random-") && !v.contains("random-")),
            "{request:?}"
        );
    }
}

#[tokio::test]
async fn a_budget_of_one_allows_one_fetch_per_cooldown() {
    let issuer = TestIssuer::start().await;
    let timer = ManualTimer::new();
    let jwks = remote(&issuer, &timer)
        .unknown_kid_budget(1)
        .build()
        .await
        .unwrap();
    let v = validator(&issuer);
    for window in 1..=3usize {
        for i in 0..500 {
            let token = token_with_kid(&issuer.issuer(), &format!("k{window}-{i}"));
            validate(&jwks, &v, &token).await.unwrap_err();
        }
        assert_eq!(issuer.jwks_fetches(), 1 + window);
        timer.advance(secs(30));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_start_with_a_thousand_concurrent_validations_makes_one_fetch() {
    let issuer = TestIssuer::start().await;
    let timer = ManualTimer::new();
    let jwks = remote(&issuer, &timer).lazy().build().await.unwrap();
    let v = validator(&issuer);
    let token = Arc::new(issuer.token().sign());
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..1000 {
        let (jwks, v, token) = (jwks.clone(), v.clone(), Arc::clone(&token));
        tasks.spawn(async move { validate(&jwks, &v, &token).await });
    }
    while let Some(result) = tasks.join_next().await {
        result.unwrap().unwrap();
    }
    assert_eq!(issuer.jwks_fetches(), 1);
}

#[tokio::test]
async fn callers_arriving_during_the_last_budgeted_fetch_wait_for_it() {
    // Found by the key_rotation example: once the fetch in flight had taken the last of the
    // budget, concurrent callers for the same new kid were refused instead of sharing it.
    let issuer = TestIssuer::start().await;
    let timer = ManualTimer::new();
    let jwks = remote(&issuer, &timer)
        .unknown_kid_budget(1)
        .build()
        .await
        .unwrap();
    let v = validator(&issuer);
    issuer.rotate(portcullis_core::Algorithm::ES256);
    issuer.set_fault(Some(JwksFault::Delay(std::time::Duration::from_millis(
        200,
    ))));
    let token = Arc::new(issuer.token().sign());
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let (jwks, v, token) = (jwks.clone(), v.clone(), Arc::clone(&token));
        tasks.spawn(async move { validate(&jwks, &v, &token).await });
    }
    while let Some(result) = tasks.join_next().await {
        result.unwrap().unwrap();
    }
    assert_eq!(issuer.jwks_fetches(), 2);
}

#[tokio::test]
async fn a_lazy_source_answers_keys_unavailable_until_its_first_load() {
    let issuer = TestIssuer::start().await;
    issuer.set_fault(Some(JwksFault::Status(503)));
    let timer = ManualTimer::new();
    let jwks = remote(&issuer, &timer).lazy().build().await.unwrap();
    let v = validator(&issuer);
    assert!(jwks.snapshot().is_empty());
    let token = issuer.token().sign();
    let refused = validate(&jwks, &v, &token).await.unwrap_err();
    assert_eq!(refused.kind(), &ErrorKind::KeysUnavailable);
    issuer.set_fault(None);
    timer.advance(secs(31));
    wait_stats(&jwks, |s| s.updated >= 1).await;
    validate(&jwks, &v, &token).await.unwrap();
}

#[tokio::test]
async fn known_kids_validate_without_waiting_while_a_refresh_hangs() {
    let issuer = TestIssuer::start().await;
    let timer = ManualTimer::new();
    let jwks = remote(&issuer, &timer).build().await.unwrap();
    let v = validator(&issuer);
    let token = issuer.token().sign();
    issuer.set_fault(Some(JwksFault::Hang));
    timer.advance(secs(241));
    // The background refresh is now stuck inside the issuer.
    while issuer.jwks_fetches() < 2 {
        tokio::task::yield_now().await;
    }
    for _ in 0..100 {
        let done = poll_once(validate(&jwks, &v, &token)).expect("completed without waiting");
        done.unwrap();
    }
    assert_eq!(
        jwks.stats().attempts,
        1,
        "the hung refresh has not completed"
    );
}

async fn last_good_keys_survive(fault: JwksFault) {
    let issuer = TestIssuer::start().await;
    let timer = ManualTimer::new();
    let jwks = remote(&issuer, &timer)
        .timeout(std::time::Duration::from_millis(300))
        .max_staleness(secs(600))
        .build()
        .await
        .unwrap();
    let v = validator(&issuer);
    let token = issuer.token().sign();
    issuer.set_fault(Some(fault.clone()));

    // TTL 300 s (max-age), refresh at 240 s; keys usable until 300 + 600 = 900 s.
    timer.advance(secs(241));
    let stats = wait_stats(&jwks, |s| s.failures >= 1).await;
    assert_eq!(stats.updated, 1, "{fault:?}");
    validate(&jwks, &v, &token).await.unwrap();
    timer.advance(secs(400)); // 641 s: past the TTL, within the staleness bound
    wait_stats(&jwks, |s| s.failures >= 2).await;
    validate(&jwks, &v, &token).await.unwrap();
    timer.advance(secs(258)); // 899 s
    validate(&jwks, &v, &token).await.unwrap();

    timer.advance(secs(2)); // 901 s: too stale
    let refused = validate(&jwks, &v, &token).await.unwrap_err();
    assert_eq!(refused.kind(), &ErrorKind::KeysUnavailable, "{fault:?}");

    issuer.set_fault(None);
    timer.advance(secs(31)); // past any backoff
    wait_stats(&jwks, |s| s.updated + s.not_modified >= 2).await;
    validate(&jwks, &v, &token).await.unwrap();
}

#[tokio::test]
async fn last_good_keys_survive_a_500() {
    last_good_keys_survive(JwksFault::Status(500)).await;
}

#[tokio::test]
async fn last_good_keys_survive_a_hang_past_the_timeout() {
    last_good_keys_survive(JwksFault::Hang).await;
}

#[tokio::test]
async fn last_good_keys_survive_garbage() {
    last_good_keys_survive(JwksFault::Garbage).await;
}

#[tokio::test]
async fn last_good_keys_survive_an_oversize_body() {
    last_good_keys_survive(JwksFault::Oversize(2 * 1024 * 1024)).await;
}

#[tokio::test]
async fn last_good_keys_survive_an_empty_key_list() {
    last_good_keys_survive(JwksFault::EmptyKeys).await;
}

#[tokio::test]
async fn last_good_keys_survive_a_redirect_to_another_host() {
    // Same port, other host name: the redirect policy compares hosts, not addresses.
    let other = TestIssuer::start().await;
    let target = format!("http://localhost:{}/jwks.json", other.addr().port());
    last_good_keys_survive(JwksFault::RedirectTo(target)).await;
    assert_eq!(other.jwks_fetches(), 0, "the redirect was not followed");
}

/// Yields until the build has failed an attempt and waits on the timer for its retry (or has
/// ended): what it does is observed, never slept for.
async fn until_waiting<T>(timer: &ManualTimer, build: &tokio::task::JoinHandle<T>) {
    while timer.sleepers() == 0 && !build.is_finished() {
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn an_eager_start_retries_a_failed_first_fetch_on_the_timer() {
    let issuer = TestIssuer::start().await;
    issuer.set_fault(Some(JwksFault::Status(500)));
    let timer = ManualTimer::new();
    let build = tokio::spawn(remote(&issuer, &timer).build());
    until_waiting(&timer, &build).await;
    assert!(!build.is_finished(), "the build gave up after one 500");
    assert_eq!(issuer.jwks_fetches(), 1);
    // The IdP is back; the retry is due after the first backoff (1 s, jitter in [0.8, 1.2]).
    issuer.set_fault(None);
    timer.advance(std::time::Duration::from_millis(1200));
    let jwks = build.await.unwrap().unwrap();
    assert_eq!(issuer.jwks_fetches(), 2);
    let stats = jwks.stats();
    assert_eq!((stats.failures, stats.updated), (1, 1));
    validate(&jwks, &validator(&issuer), &issuer.token().sign())
        .await
        .unwrap();
}

#[tokio::test]
async fn an_eager_start_gives_up_at_its_deadline_naming_it_and_the_last_error() {
    let issuer = TestIssuer::start().await;
    issuer.set_fault(Some(JwksFault::Status(503)));
    let timer = ManualTimer::new();
    // A backoff without jitter (min = max): attempts at 0, 2, 4 and 6 s; the next would
    // start at 8 s, past the deadline.
    let build = tokio::spawn(
        remote(&issuer, &timer)
            .backoff_min(secs(2))
            .backoff_max(secs(2))
            .startup_deadline(secs(7))
            .build(),
    );
    loop {
        until_waiting(&timer, &build).await;
        if build.is_finished() {
            break;
        }
        assert!(timer.now() < secs(7), "still retrying past the deadline");
        let fetched = issuer.jwks_fetches();
        timer.advance(secs(2));
        while issuer.jwks_fetches() == fetched && !build.is_finished() {
            tokio::task::yield_now().await;
        }
    }
    let err = build.await.unwrap().unwrap_err();
    let SourceErrorKind::StartupDeadline { attempts, deadline } = *err.kind() else {
        panic!("{err:?}");
    };
    assert_eq!((attempts, deadline), (4, secs(7)));
    assert_eq!(issuer.jwks_fetches(), 4);
    let last = std::error::Error::source(&err)
        .and_then(|e| e.downcast_ref::<portcullis_jwks::SourceError>())
        .unwrap();
    assert_eq!(last.kind(), &SourceErrorKind::Http { status: 503 });
    assert!(
        err.to_string()
            .starts_with("no keys within the start-up deadline of 7 s (4 attempts failed)"),
        "{err}"
    );

    // A failure that will not pass by itself is not retried.
    issuer.set_fault(Some(JwksFault::Garbage));
    let err = remote(&issuer, &ManualTimer::new())
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), SourceErrorKind::InvalidJwks(_)),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_jwks_with_more_keys_than_the_cap_is_refused_naming_the_cap() {
    let issuer = TestIssuer::start().await;
    let template = TestKey::generate(Algorithm::ES256).public_jwk();
    let keys: Vec<serde_json::Value> = (0..101)
        .map(|i| {
            let mut jwk = template.clone();
            jwk["kid"] = json!(format!("k{i}"));
            jwk
        })
        .collect();
    issuer.set_jwks_override(Some(json!({ "keys": keys })));
    let err = remote(&issuer, &ManualTimer::new())
        .build()
        .await
        .unwrap_err();
    let SourceErrorKind::InvalidJwks(key) = err.kind() else {
        panic!("{err:?}");
    };
    assert_eq!(
        key.kind(),
        &portcullis_core::KeyErrorKind::TooManyKeys {
            found: 101,
            cap: 100
        }
    );
    assert!(
        err.to_string()
            .contains("101 keys, more than the cap of 100"),
        "{err}"
    );
    // A cap of the source's own applies the same way.
    let err = remote(&issuer, &ManualTimer::new())
        .max_keys(10)
        .build()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("more than the cap of 10"), "{err}");
}

#[tokio::test]
async fn each_fault_is_reported_with_its_kind() {
    let issuer = TestIssuer::start().await;
    let other = format!("http://localhost:{}/jwks.json", issuer.addr().port());
    for (fault, kind) in [
        (
            JwksFault::Status(500),
            SourceErrorKind::Http { status: 500 },
        ),
        (JwksFault::Hang, SourceErrorKind::Timeout),
        (
            JwksFault::Oversize(2 * 1024 * 1024),
            SourceErrorKind::BodyTooLarge { limit: 1024 * 1024 },
        ),
        (JwksFault::RedirectTo(other), SourceErrorKind::Redirect),
        (JwksFault::EmptyKeys, SourceErrorKind::NoUsableKeys),
    ] {
        issuer.set_fault(Some(fault.clone()));
        let err = remote(&issuer, &ManualTimer::new())
            .timeout(std::time::Duration::from_millis(300))
            .startup_deadline(std::time::Duration::ZERO)
            .build()
            .await
            .unwrap_err();
        // A failure that may pass ends a start without retries as a deadline reached.
        let last = match err.kind() {
            SourceErrorKind::StartupDeadline { attempts: 1, .. } => std::error::Error::source(&err)
                .and_then(|e| e.downcast_ref::<portcullis_jwks::SourceError>())
                .unwrap(),
            _ => &err,
        };
        assert_eq!(last.kind(), &kind, "{fault:?}");
        assert_eq!(
            last.is_transient(),
            fault == JwksFault::Status(500) || fault == JwksFault::Hang
        );
    }
    issuer.set_fault(Some(JwksFault::Garbage));
    let err = remote(&issuer, &ManualTimer::new())
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err.kind(), SourceErrorKind::InvalidJwks(_)));
}

#[tokio::test]
async fn a_malformed_jwk_is_skipped_and_encryption_keys_are_never_used() {
    let issuer = TestIssuer::start().await;
    let good = issuer.signing_key();
    let enc = TestKey::generate(Algorithm::RS256).with_kid("enc-1");
    let mut enc_jwk = enc.public_jwk();
    enc_jwk["use"] = json!("enc");
    let mut no_verify = TestKey::generate(Algorithm::ES256)
        .with_kid("wrap-1")
        .public_jwk();
    no_verify["key_ops"] = json!(["wrapKey"]);
    issuer.set_jwks_override(Some(json!({
        "keys": [
            {"kty": "RSA", "kid": "broken", "n": "%%%", "e": "AQAB"},
            good.public_jwk(),
            enc_jwk,
            no_verify,
            {"kty": "OKP", "crv": "X448", "kid": "unsupported", "x": "AAAA"},
        ]
    })));
    let timer = ManualTimer::new();
    let jwks = remote(&issuer, &timer).build().await.unwrap();
    assert_eq!(jwks.snapshot().len(), 1);
    let v = validator(&issuer);
    validate(&jwks, &v, &issuer.token().sign()).await.unwrap();

    let enc_token = portcullis_testkit::TokenBuilder::new(&enc)
        .issuer(&issuer.issuer())
        .sign();
    let refused = validate(&jwks, &v, &enc_token).await.unwrap_err();
    assert_eq!(refused.kind(), &ErrorKind::UnknownKey);
}

#[tokio::test]
async fn max_age_and_etag_are_honoured() {
    let issuer = TestIssuer::start().await;
    issuer.set_cache_control(Some("max-age=60".into()));
    let timer = ManualTimer::new();
    let jwks = remote(&issuer, &timer).build().await.unwrap();
    assert_eq!(issuer.jwks_fetches(), 1);

    timer.advance(secs(47)); // refresh due at 48 s (80% of 60 s)
    settle().await;
    assert_eq!(issuer.jwks_fetches(), 1, "no refetch before 80% of max-age");
    timer.advance(secs(2));
    let stats = wait_stats(&jwks, |s| s.attempts >= 2).await;
    assert_eq!(stats.not_modified, 1);
    assert_eq!(issuer.jwks_fetches(), 2);
    assert_eq!(
        issuer.jwks_not_modified(),
        1,
        "If-None-Match sent, 304 answered"
    );
    let requests = issuer.jwks_requests();
    assert_eq!(
        requests.first().and_then(|r| r.header("if-none-match")),
        None
    );
    let etag = requests.get(1).and_then(|r| r.header("if-none-match"));
    assert!(etag.is_some_and(|e| e.starts_with('"')), "{requests:?}");
    assert!(
        requests
            .get(1)
            .and_then(|r| r.header("if-modified-since"))
            .is_some()
    );
    let v = validator(&issuer);
    validate(&jwks, &v, &issuer.token().sign()).await.unwrap();

    // A 304 renews the lifetime: the next refresh is 48 s after it.
    timer.advance(secs(47));
    settle().await;
    assert_eq!(issuer.jwks_fetches(), 2);
    timer.advance(secs(2));
    wait_stats(&jwks, |s| s.attempts >= 3).await;
    assert_eq!(issuer.jwks_not_modified(), 2);

    // Without a max-age, the default TTL (5 min) applies; a short max-age is clamped to 30 s.
    issuer.set_cache_control(Some("max-age=1".into()));
    issuer.publish(TestKey::generate(Algorithm::ES256));
    timer.advance(secs(49));
    wait_stats(&jwks, |s| s.updated >= 2).await;
    timer.advance(secs(23));
    settle().await;
    assert_eq!(
        issuer.jwks_fetches(),
        4,
        "clamped to 30 s: no refetch at 23 s"
    );
    timer.advance(secs(2));
    wait_stats(&jwks, |s| s.attempts >= 5).await;
}

#[tokio::test]
async fn dropping_the_last_handle_stops_the_background_task() {
    let issuer = TestIssuer::start().await;
    let timer = ManualTimer::new();
    let jwks = remote(&issuer, &timer).build().await.unwrap();
    let clone = jwks.clone();
    settle().await;
    assert_eq!(
        timer.sleepers(),
        1,
        "the background task sleeps until the refresh"
    );
    drop(jwks);
    settle().await;
    assert_eq!(timer.sleepers(), 1, "a clone keeps it alive");
    drop(clone);
    while timer.sleepers() > 0 {
        tokio::task::yield_now().await;
    }
    timer.advance(secs(100_000));
    settle().await;
    assert_eq!(issuer.jwks_fetches(), 1);
}

#[tokio::test]
async fn plain_http_is_refused_for_other_hosts() {
    let err = RemoteJwks::builder("http://idp.example/jwks.json")
        .build()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &SourceErrorKind::InsecureUrl);
    let err = RemoteJwks::discover("http://idp.example")
        .build()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &SourceErrorKind::InsecureUrl);
    // Loopback is fine.
    let issuer = TestIssuer::start().await;
    assert!(RemoteJwks::builder(issuer.jwks_url()).build().await.is_ok());
}

#[tokio::test]
async fn symmetric_keys_need_the_danger_option() {
    let err = RemoteJwks::builder("https://idp.example/jwks.json")
        .allowed_algorithms(portcullis_core::AlgorithmSet::only(Algorithm::HS256))
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err.kind(), SourceErrorKind::Config(_)));

    let issuer = TestIssuer::builder()
        .key(TestKey::hmac(Algorithm::HS256, &[7u8; 32]).with_kid("hs"))
        .key(TestKey::generate(Algorithm::ES256).with_kid("ec"))
        .publish_symmetric(true)
        .start()
        .await;
    // The default (asymmetric only) skips the published secret.
    let jwks = RemoteJwks::builder(issuer.jwks_url())
        .build()
        .await
        .unwrap();
    assert_eq!(jwks.snapshot().len(), 1);
    assert!(!jwks.snapshot().contains_kid("hs"));
}
