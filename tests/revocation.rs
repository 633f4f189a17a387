// Tests may unwrap, index and panic: a failure is the test's report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The deny list through the `Portcullis` builder, over real HTTP: a token revoked by its
//! `jti`, or by its subject's "issued before", is refused on the next request, also when the
//! layer had it cached as verified and when it came through introspection; a list that
//! cannot answer is a 503, never a 401 and never a pass.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::routing::get;
use portcullis::Claims;
use portcullis::layer::BearerAuthLayer;
use portcullis::revocation::{LocalRevocations, RevocationCheck, RevocationError, RevocationList};
use portcullis::{Config, Portcullis};
use portcullis_testkit::{TestIssuer, serve};
use serde_json::json;

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

async fn call(base: &str, token: &str) -> (u16, String) {
    let response = reqwest::Client::new()
        .get(format!("{base}/orders"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (response.status().as_u16(), challenge)
}

#[tokio::test]
async fn a_revoked_jti_is_refused_even_when_the_layer_had_it_cached() {
    let idp = TestIssuer::start().await;
    let list = LocalRevocations::new();
    let auth = Portcullis::builder()
        .issuer(idp.issuer())
        .audience("api")
        .revocations(list.clone())
        .build()
        .await
        .unwrap();
    let base = serve(app(auth)).await;
    let token = idp.token().claim("jti", json!("t-1")).sign();
    let other = idp.token().claim("jti", json!("t-2")).sign();
    // Twice: the second is a verified-token cache hit.
    assert_eq!(call(&base, &token).await.0, 200);
    assert_eq!(call(&base, &token).await.0, 200);
    list.revoke_jti(&idp.issuer(), "t-1", now() + 3600);
    assert_eq!(
        call(&base, &token).await,
        (401, r#"Bearer error="invalid_token""#.to_owned())
    );
    assert_eq!(call(&base, &other).await.0, 200, "only that token");
    // The same jti from another issuer is another token.
    list.revoke_jti("https://elsewhere.test", "t-2", now() + 3600);
    assert_eq!(call(&base, &other).await.0, 200);
}

#[tokio::test]
async fn a_subjects_tokens_issued_before_the_instant_are_refused() {
    let idp = TestIssuer::start().await;
    let list = LocalRevocations::new();
    let auth = Portcullis::builder()
        .issuer(idp.issuer())
        .audience("api")
        .revocations(list.clone())
        .build()
        .await
        .unwrap();
    let base = serve(app(auth)).await;
    let t = now();
    let old = idp
        .token()
        .subject("alice")
        .claim("iat", json!(t - 100))
        .sign();
    let new = idp
        .token()
        .subject("alice")
        .claim("iat", json!(t + 1))
        .sign();
    let bob = idp
        .token()
        .subject("bob")
        .claim("iat", json!(t - 100))
        .sign();
    assert_eq!(call(&base, &old).await.0, 200);
    list.revoke_subject_before(&idp.issuer(), "alice", t, t + 3600);
    assert_eq!(call(&base, &old).await.0, 401);
    assert_eq!(call(&base, &new).await.0, 200, "logged in again after");
    assert_eq!(call(&base, &bob).await.0, 200);
}

#[tokio::test]
async fn introspected_tokens_are_checked_against_the_list_on_every_request() {
    let idp = TestIssuer::builder().client("api", "s3cret").start().await;
    let config: Config = serde_json::from_value(json!({
        "tokens": "introspection",
        "issuers": [{
            "issuer": idp.issuer(),
            "audiences": ["api"],
            "introspection": { "client_id": "api", "client_secret": "s3cret" }
        }]
    }))
    .unwrap();
    let list = LocalRevocations::new();
    let auth = Portcullis::from_config(config)
        .revocations(list.clone())
        .build()
        .await
        .unwrap();
    let base = serve(app(auth)).await;
    let token = idp.opaque(&idp.token().claim("jti", json!("o-1")));
    assert_eq!(call(&base, &token).await.0, 200);
    assert_eq!(idp.introspection_calls(), 1);
    list.revoke_jti(&idp.issuer(), "o-1", now() + 3600);
    assert_eq!(call(&base, &token).await.0, 401);
    assert_eq!(
        idp.introspection_calls(),
        1,
        "refused from the cached verdict"
    );
}

#[derive(Clone)]
struct Unreachable;

impl RevocationList for Unreachable {
    fn check(&self, _: &Claims) -> RevocationCheck {
        RevocationCheck::Pending(Box::pin(async { Err(RevocationError::new("timed out")) }))
    }
}

#[tokio::test]
async fn a_list_that_cannot_answer_is_a_503_with_retry_after() {
    let idp = TestIssuer::start().await;
    let auth = Portcullis::builder()
        .issuer(idp.issuer())
        .audience("api")
        .revocations(Unreachable)
        .build()
        .await
        .unwrap();
    let base = serve(app(auth)).await;
    let response = reqwest::Client::new()
        .get(format!("{base}/orders"))
        .bearer_auth(idp.token().sign())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    assert!(!response.headers().contains_key("www-authenticate"));
    // A token that is invalid anyway is refused for its own reason: nothing to ask the list.
    let (status, _) = call(&base, "not.a.token").await;
    assert_eq!(status, 401);
}
