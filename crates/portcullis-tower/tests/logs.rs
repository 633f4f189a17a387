// Tests may unwrap, index and panic: a failure is the test's report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! What the layer logs. Alone in its own test binary: tracing caches per call site whether
//! anyone listens, and a thread-scoped subscriber next to concurrently running tests can miss
//! events.

use axum::Router;
use axum::routing::get;
use portcullis_core::Validator;
use portcullis_jwks::{JwtVerifier, RemoteJwks};
use portcullis_testkit::{TestIssuer, serve, tamper};
use portcullis_tower::BearerAuthLayer;

async fn status(url: String, token: &str) -> u16 {
    reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn the_reason_is_logged_on_a_fixed_target_and_the_token_never() {
    let (logs, _guard) = portcullis_testkit::LogCapture::start();

    let idp = TestIssuer::start().await;
    let keys = RemoteJwks::builder(idp.jwks_url()).build().await.unwrap();
    let rules = Validator::builder()
        .issuer(idp.issuer())
        .audience("api")
        .build()
        .unwrap();
    let auth = BearerAuthLayer::new(JwtVerifier::new(keys, rules));
    let app = Router::new()
        .route("/me", get(|| async { "me" }))
        .merge(
            Router::new()
                .route("/write", get(|| async { "write" }))
                .route_layer(auth.require_scopes(["write"])),
        )
        .route_layer(auth);
    let base = serve(app).await;
    let expired = idp.token().expires_in(-3600).sign();
    let tampered = tamper::flip_signature_bit(&idp.token().sign());
    assert_eq!(status(format!("{base}/me"), &expired).await, 401);
    assert_eq!(status(format!("{base}/me"), &tampered).await, 401);
    let read = idp.token().scope("read").sign();
    assert_eq!(status(format!("{base}/write"), &read).await, 403);

    let text = logs.text();
    let refusals: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("portcullis::auth"))
        .collect();
    assert!(
        refusals
            .iter()
            .any(|l| l.contains("reason=\"expired\"") || l.contains("reason=expired")),
        "{text}"
    );
    assert!(
        refusals.iter().any(|l| l.contains("invalid_signature")),
        "{text}"
    );
    assert!(
        refusals.iter().any(|l| l.contains("insufficient_scope")),
        "{text}"
    );
    for token in [&expired, &tampered, &read] {
        for part in token.split('.') {
            assert!(!text.contains(part), "a token segment reached the logs");
        }
    }
}
