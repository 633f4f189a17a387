// Tests may unwrap, index and panic: a failure is the test's report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! What the layer logs of a malformed client-certificate header: the kind, never the bytes.
//! Alone in its own test binary: tracing caches per call site whether anyone listens.

use axum::Router;
use axum::routing::get;
use portcullis_core::Validator;
use portcullis_jwks::{JwtVerifier, RemoteJwks};
use portcullis_testkit::{TestIssuer, serve};
use portcullis_tower::{BearerAuthLayer, CertificateSource};

#[tokio::test]
async fn a_malformed_certificate_header_is_logged_by_its_kind_never_its_bytes() {
    let (logs, _guard) = portcullis_testkit::LogCapture::start();

    let idp = TestIssuer::start().await;
    let keys = RemoteJwks::builder(idp.jwks_url()).build().await.unwrap();
    let rules = Validator::builder()
        .issuer(idp.issuer())
        .audience("api")
        .build()
        .unwrap();
    let auth = BearerAuthLayer::new(JwtVerifier::new(keys, rules))
        .client_certificate_from(CertificateSource::ForwardedClientCert);
    let app = Router::new()
        .route("/me", get(|| async { "me" }))
        .route_layer(auth);
    let base = serve(app).await;

    let http = reqwest::Client::new();
    let token = idp.token().sign();
    for (value, kind) in [
        (
            "By=attacker-marker-1;Hash=attacker-marker-2",
            "the hash is not 64 hex digits",
        ),
        (
            "Hash=attacker-marker-3,Hash=attacker-marker-4",
            "more than one element",
        ),
    ] {
        let response = http
            .get(format!("{base}/me"))
            .bearer_auth(&token)
            .header("x-forwarded-client-cert", value)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        let text = logs.text();
        let line = text
            .lines()
            .rev()
            .find(|l| l.contains("portcullis::auth"))
            .unwrap();
        assert!(line.contains("malformed_certificate"), "{line}");
        assert!(line.contains(kind), "{line}");
    }
    let text = logs.text();
    assert!(
        !text.contains("attacker-marker"),
        "header bytes reached the logs: {text}"
    );
    for part in token.split('.') {
        assert!(!text.contains(part), "a token segment reached the logs");
    }
}
