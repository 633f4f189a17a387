// Tests may unwrap, index and panic: a failure is the test's report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The introspector against the test authorization server over loopback: verdicts, client
//! authentication, the cache on an injected clock, shared calls, and endpoint failures.

use std::sync::Arc;
use std::time::Duration;

use portcullis_core::{ErrorKind, ManualClock, Validator};
use portcullis_introspect::{AuthMethod, IntrospectErrorKind, Introspector, IntrospectorBuilder};
use portcullis_testkit::{JwksFault, TestIssuer};
use serde_json::json;

fn rules(idp: &TestIssuer, clock: &ManualClock) -> Validator {
    Validator::builder()
        .issuer(idp.issuer())
        .audience("api")
        .clock(clock.clone())
        .build()
        .unwrap()
}

/// An introspector for `idp` at its endpoint, on `clock`, with `client-1` / `secret-1`.
fn builder(idp: &TestIssuer, clock: &ManualClock) -> IntrospectorBuilder {
    Introspector::builder(idp.introspection_url(), rules(idp, clock))
        .client_secret_basic("client-1", "secret-1")
}

#[tokio::test]
async fn an_active_token_is_accepted_with_its_claims_through_discovery() {
    let idp = TestIssuer::start().await;
    let clock = ManualClock::frozen_now();
    let introspector = Introspector::discover(idp.issuer(), rules(&idp, &clock))
        .client_secret_basic("client-1", "secret-1")
        .build()
        .await
        .unwrap();
    assert_eq!(introspector.endpoint(), idp.introspection_url());
    let token = idp.opaque(
        &idp.token()
            .scope("orders.read orders.write")
            .claim("tenant", json!("t-1")),
    );
    let claims = introspector.introspect(&token).await.unwrap();
    assert_eq!(claims.issuer(), Some(&*idp.issuer()));
    assert_eq!(claims.subject(), Some("user-1"));
    assert!(claims.scopes().contains("orders.write"));
    assert_eq!(claims.algorithm(), None);
    // The whole response is kept for the application, `active` and unknown members included.
    assert_eq!(claims.get("tenant"), Some(json!("t-1")));
    assert_eq!(claims.get("active"), Some(json!(true)));
    assert_eq!(idp.introspection_calls(), 1);
}

#[tokio::test]
async fn both_client_authentication_methods_work() {
    let idp = TestIssuer::start().await;
    let clock = ManualClock::frozen_now();
    let token = idp.opaque(&idp.token());
    for method in [AuthMethod::ClientSecretBasic, AuthMethod::ClientSecretPost] {
        let introspector = Introspector::builder(idp.introspection_url(), rules(&idp, &clock))
            .client_credentials("client-1", "secret-1", method)
            .build()
            .await
            .unwrap();
        assert_eq!(introspector.auth_method(), method);
        assert!(introspector.introspect(&token).await.is_ok(), "{method}");
    }
}

#[tokio::test]
async fn inactive_and_rule_breaking_tokens_are_refused_with_their_reason() {
    let idp = TestIssuer::start().await;
    let clock = ManualClock::frozen_now();
    let introspector = builder(&idp, &clock).build().await.unwrap();
    let revoked = idp.opaque(&idp.token());
    idp.revoke(&revoked);
    let cases = [
        (
            "never issued",
            "no-such-token".to_owned(),
            ErrorKind::Inactive,
        ),
        ("revoked", revoked, ErrorKind::Inactive),
        (
            "expired at the server",
            idp.opaque(&idp.token().expires_in(-5)),
            ErrorKind::Inactive,
        ),
        (
            "another audience",
            idp.opaque(&idp.token().audience("billing")),
            ErrorKind::WrongAudience,
        ),
        (
            "another issuer",
            idp.opaque(&idp.token().issuer("https://evil.test")),
            ErrorKind::WrongIssuer,
        ),
        (
            "sender-constrained (DPoP)",
            idp.opaque(&idp.token().claim("token_type", json!("DPoP"))),
            ErrorKind::WrongType,
        ),
        (
            "no exp",
            idp.opaque(&idp.token().remove_claim("exp")),
            ErrorKind::MissingClaim("exp".into()),
        ),
    ];
    for (what, token, kind) in cases {
        let refused = introspector.introspect(&token).await.unwrap_err();
        assert_eq!(refused.kind(), &kind, "{what}");
    }
}

#[tokio::test]
async fn what_cannot_be_a_bearer_token_is_never_sent() {
    let idp = TestIssuer::start().await;
    let clock = ManualClock::frozen_now();
    let introspector = builder(&idp, &clock).build().await.unwrap();
    for token in ["", "two words", "semi;colon", "a=b", &"x".repeat(9000)] {
        assert!(introspector.introspect(token).await.is_err(), "{token:?}");
        assert!(introspector.cached(token).unwrap().is_err());
    }
    assert_eq!(idp.introspection_calls(), 0);
}

#[tokio::test]
async fn a_revoked_token_is_refused_once_its_cache_entry_expires_by_the_injected_clock() {
    let idp = TestIssuer::start().await;
    let clock = ManualClock::frozen_now();
    let introspector = builder(&idp, &clock)
        .active_ttl(Duration::from_secs(60))
        .build()
        .await
        .unwrap();
    let token = idp.opaque(&idp.token().expires_in(3600));
    assert!(introspector.cached(&token).is_none());
    assert!(introspector.introspect(&token).await.is_ok());
    assert!(introspector.cached(&token).unwrap().is_ok());
    idp.revoke(&token);

    // Within the cache lifetime the verdict is reused: no call, still accepted.
    clock.advance_secs(59);
    assert!(introspector.cached(&token).unwrap().is_ok());
    assert!(introspector.introspect(&token).await.is_ok());
    assert_eq!(idp.introspection_calls(), 1);

    // Past it, the server is asked again and says inactive.
    clock.advance_secs(1);
    assert!(introspector.cached(&token).is_none());
    let refused = introspector.introspect(&token).await.unwrap_err();
    assert_eq!(refused.kind(), &ErrorKind::Inactive);
    assert_eq!(idp.introspection_calls(), 2);

    // The refusal is remembered briefly (10 s by default), then asked again.
    assert_eq!(
        introspector.cached(&token).unwrap().unwrap_err().kind(),
        &ErrorKind::Inactive
    );
    clock.advance_secs(10);
    assert!(introspector.cached(&token).is_none());
    assert!(introspector.introspect(&token).await.is_err());
    assert_eq!(idp.introspection_calls(), 3);
}

#[tokio::test]
async fn without_the_cache_a_revoked_token_is_refused_at_once() {
    let idp = TestIssuer::start().await;
    let clock = ManualClock::frozen_now();
    let introspector = builder(&idp, &clock)
        .cache_entries(0)
        .build()
        .await
        .unwrap();
    let token = idp.opaque(&idp.token());
    assert!(introspector.introspect(&token).await.is_ok());
    assert!(introspector.cached(&token).is_none());
    idp.revoke(&token);
    let refused = introspector.introspect(&token).await.unwrap_err();
    assert_eq!(refused.kind(), &ErrorKind::Inactive);
    assert_eq!(idp.introspection_calls(), 2);
    assert_eq!(introspector.cache_len(), 0);
}

#[tokio::test]
async fn an_active_verdict_is_never_reused_past_the_tokens_exp() {
    let idp = TestIssuer::start().await;
    let clock = ManualClock::frozen_now();
    let introspector = builder(&idp, &clock).build().await.unwrap();
    // exp 30 s away, under the 60 s active lifetime.
    let token = idp.opaque(&idp.token().expires_in(30));
    assert!(introspector.introspect(&token).await.is_ok());
    clock.advance_secs(29);
    assert!(introspector.cached(&token).is_some());
    clock.advance_secs(2);
    assert!(introspector.cached(&token).is_none());
    // (The server, on real time, still says active; within the leeway the rules agree.)
    assert!(introspector.introspect(&token).await.is_ok());
    assert_eq!(idp.introspection_calls(), 2);
    // Past exp plus the leeway, the rules refuse whatever the server says.
    clock.advance_secs(60);
    let refused = introspector.introspect(&token).await.unwrap_err();
    assert_eq!(refused.kind(), &ErrorKind::Expired);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_requests_with_one_new_token_make_one_call() {
    let idp = TestIssuer::start().await;
    let clock = ManualClock::frozen_now();
    // Without the cache, and with a slow answer, every request must join the one call.
    let introspector = builder(&idp, &clock)
        .cache_entries(0)
        .build()
        .await
        .unwrap();
    idp.set_introspection_fault(Some(JwksFault::Delay(Duration::from_millis(300))));
    let token = Arc::new(idp.opaque(&idp.token().scope("read")));
    let barrier = Arc::new(tokio::sync::Barrier::new(1000));
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let (introspector, token, barrier) =
                (introspector.clone(), token.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                introspector.introspect(&token).await
            })
        })
        .collect();
    for task in tasks {
        let claims = task.await.unwrap().unwrap();
        assert!(claims.scopes().contains("read"));
    }
    assert_eq!(idp.introspection_calls(), 1);
    assert_eq!(introspector.stats().calls, 1);
}

#[tokio::test]
async fn wrong_client_credentials_are_a_configuration_error_not_a_refusal() {
    let idp = TestIssuer::start().await;
    let clock = ManualClock::frozen_now();
    let introspector = Introspector::builder(idp.introspection_url(), rules(&idp, &clock))
        .client_secret_post("client-1", "not-the-secret")
        .build()
        .await
        .unwrap();
    let token = idp.opaque(&idp.token());
    let unavailable = introspector.introspect(&token).await.unwrap_err();
    assert_eq!(unavailable.kind(), &ErrorKind::KeysUnavailable);
    // Never remembered: the next request asks again.
    assert!(introspector.cached(&token).is_none());
    let error = introspector.introspect_once(&token).await.unwrap_err();
    assert_eq!(
        error.kind(),
        &IntrospectErrorKind::ClientRejected { status: 401 }
    );
    assert!(error.is_configuration_error());
    assert!(error.to_string().contains("configuration error"));
    assert_eq!(introspector.stats().failures, 1);
    assert_eq!(idp.introspection_calls(), 2);
}

#[tokio::test]
async fn an_endpoint_that_fails_hangs_or_answers_nonsense_gives_no_verdict() {
    let idp = TestIssuer::start().await;
    let clock = ManualClock::frozen_now();
    let introspector = builder(&idp, &clock)
        .timeout(Duration::from_millis(300))
        .build()
        .await
        .unwrap();
    let token = idp.opaque(&idp.token());
    for (fault, kind) in [
        (
            JwksFault::Status(500),
            IntrospectErrorKind::Http { status: 500 },
        ),
        (JwksFault::Hang, IntrospectErrorKind::Timeout),
        (
            JwksFault::Garbage,
            IntrospectErrorKind::InvalidResponse("not a JSON object with a boolean `active`"),
        ),
        (
            JwksFault::RedirectTo("https://evil.test/introspect".into()),
            IntrospectErrorKind::Http { status: 302 },
        ),
    ] {
        idp.set_introspection_fault(Some(fault.clone()));
        let refused = introspector.introspect(&token).await.unwrap_err();
        assert_eq!(refused.kind(), &ErrorKind::KeysUnavailable, "{fault:?}");
        assert!(introspector.cached(&token).is_none(), "{fault:?}");
        let error = introspector.introspect_once(&token).await.unwrap_err();
        assert_eq!(error.kind(), &kind, "{fault:?}");
        assert!(!error.is_configuration_error());
    }
    // Healed: the token is accepted.
    idp.set_introspection_fault(None);
    assert!(introspector.introspect(&token).await.is_ok());
}

#[tokio::test]
async fn an_endpoint_that_is_down_gives_no_verdict() {
    let idp = TestIssuer::start().await;
    let clock = ManualClock::frozen_now();
    let introspector = builder(&idp, &clock).build().await.unwrap();
    let token = idp.opaque(&idp.token());
    idp.clone().shutdown().await;
    let refused = introspector.introspect(&token).await.unwrap_err();
    assert_eq!(refused.kind(), &ErrorKind::KeysUnavailable);
    let error = introspector.introspect_once(&token).await.unwrap_err();
    assert_eq!(error.kind(), &IntrospectErrorKind::Connect);
}

#[tokio::test]
async fn unsafe_or_incomplete_configurations_are_refused() {
    let idp = TestIssuer::start().await;
    let clock = ManualClock::frozen_now();
    let config = |result: Result<Introspector, portcullis_introspect::IntrospectError>| match result
        .unwrap_err()
        .kind()
    {
        IntrospectErrorKind::Config(what) => what.to_string(),
        other => panic!("not a configuration error: {other:?}"),
    };
    let no_credentials = Introspector::builder(idp.introspection_url(), rules(&idp, &clock))
        .build()
        .await;
    assert!(config(no_credentials).contains("no client credentials"));
    let plain_http = Introspector::builder("http://idp.example/introspect", rules(&idp, &clock))
        .client_secret_basic("c", "s")
        .build()
        .await;
    assert!(config(plain_http).contains("https://"));
    let empty_secret = builder(&idp, &clock)
        .client_secret_basic("c", "")
        .build()
        .await;
    assert!(config(empty_secret).contains("empty"));
    // Discovery checks the document's issuer, as for the keys.
    idp.set_discovery_issuer(Some("https://other.example".into()));
    let mismatch = Introspector::discover(idp.issuer(), rules(&idp, &clock))
        .client_secret_basic("client-1", "secret-1")
        .build()
        .await
        .unwrap_err();
    assert!(matches!(mismatch.kind(), IntrospectErrorKind::Discovery(_)));
}

#[tokio::test]
async fn neither_the_secret_nor_a_token_shows_in_debug_output() {
    let idp = TestIssuer::start().await;
    let clock = ManualClock::frozen_now();
    let introspector = builder(&idp, &clock).build().await.unwrap();
    let token = idp.opaque(&idp.token());
    introspector.introspect(&token).await.unwrap();
    let shown = format!("{introspector:?}");
    assert!(shown.contains("client-1"));
    assert!(!shown.contains("secret-1"));
    assert!(!shown.contains(&token));
}
