// Tests may unwrap, index and panic: a failure is the test's report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! What is logged when introspection fails. Alone in its own test binary: tracing caches per
//! call site whether anyone listens, and a thread-scoped subscriber next to concurrently
//! running tests can miss events.

mod common;

use axum::Router;
use axum::routing::get;
use common::status;
use portcullis::{IntrospectionConfig, Portcullis, TokenMode};
use portcullis_testkit::{JwksFault, TestIssuer, serve};

#[tokio::test]
async fn wrong_client_credentials_are_logged_as_a_configuration_error_without_secrets() {
    let (logs, _guard) = portcullis_testkit::LogCapture::start();

    let idp = TestIssuer::start().await;
    let secret = "not-the-secret-7f3a";
    let auth = Portcullis::builder()
        .issuer(idp.issuer())
        .audience("api")
        .introspection(IntrospectionConfig::new("client-1", secret))
        .tokens(TokenMode::Introspection)
        .build()
        .await
        .unwrap();
    let app = Router::new()
        .route("/me", get(|| async { "me" }))
        .route_layer(auth.clone());
    let base = serve(app).await;

    let token = idp.opaque(&idp.token());
    assert_eq!(status(&format!("{base}/me"), &token).await, 503);
    // And an endpoint that fails for another reason: a warning, not a configuration error.
    idp.set_introspection_fault(Some(JwksFault::Status(500)));
    let other = idp.opaque(&idp.token());
    assert_eq!(status(&format!("{base}/me"), &other).await, 503);

    let text = logs.text();
    let introspection: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("portcullis::introspection"))
        .collect();
    let configuration = introspection
        .iter()
        .find(|l| l.contains("configuration error"))
        .unwrap_or_else(|| panic!("no configuration error logged:\n{text}"));
    assert!(configuration.contains("ERROR"), "{configuration}");
    assert!(configuration.contains("HTTP 401"), "{configuration}");
    assert!(
        configuration.contains("client_id=client-1"),
        "{configuration}"
    );
    let outage = introspection
        .iter()
        .find(|l| l.contains("HTTP 500"))
        .unwrap_or_else(|| panic!("no outage logged:\n{text}"));
    assert!(outage.contains("WARN"), "{outage}");
    assert!(!outage.contains("configuration error"), "{outage}");
    // The layer's own line says why the request was refused.
    assert!(
        text.lines()
            .any(|l| l.contains("portcullis::auth") && l.contains("keys_unavailable")),
        "{text}"
    );
    for never in [secret, token.as_str(), other.as_str()] {
        assert!(
            !text.contains(never),
            "a secret or a token reached the logs"
        );
    }
}
