// Tests may unwrap, index and panic: a failure is the test's report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The test issuer's opaque tokens over real loopback HTTP: the introspection endpoint, its
//! client authentication, revocation, faults and counter.

use std::time::Duration;

use portcullis_testkit::{JwksFault, TestIssuer};
use reqwest::StatusCode;
use serde_json::Value;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// Introspects with `client-1` / `secret-1` in a Basic header.
async fn introspect(idp: &TestIssuer, token: &str) -> Value {
    let response = client()
        .post(idp.introspection_url())
        .basic_auth("client-1", Some("secret-1"))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.unwrap()
}

#[tokio::test]
async fn opaque_tokens_are_active_with_their_claims_until_revoked() {
    let idp = TestIssuer::start().await;
    let token = idp.opaque(&idp.token().scope("orders.read").subject("alice"));
    assert_eq!(token.len(), 43);
    assert!(!token.contains('.'));
    let answer = introspect(&idp, &token).await;
    assert_eq!(answer["active"], true);
    assert_eq!(answer["iss"], idp.issuer());
    assert_eq!(answer["aud"], "api");
    assert_eq!(answer["sub"], "alice");
    assert_eq!(answer["scope"], "orders.read");
    assert_eq!(answer["token_type"], "Bearer");
    assert!(answer["exp"].as_i64().unwrap() > answer["iat"].as_i64().unwrap());

    assert!(idp.revoke(&token));
    assert_eq!(
        introspect(&idp, &token).await,
        serde_json::json!({"active": false})
    );
    assert!(!idp.revoke("never-issued"));
    assert_eq!(idp.introspection_calls(), 2);
}

#[tokio::test]
async fn expired_unknown_and_jwt_tokens_are_inactive() {
    let idp = TestIssuer::start().await;
    let expired = idp.opaque(&idp.token().expires_in(-10));
    let jwt = idp.token().sign();
    for token in [expired.as_str(), "never-issued", jwt.as_str()] {
        assert_eq!(introspect(&idp, token).await["active"], false, "{token}");
    }
}

#[tokio::test]
async fn introspection_requires_client_authentication() {
    let idp = TestIssuer::start().await;
    let token = idp.opaque(&idp.token());
    let url = idp.introspection_url();
    let form = [("token", token.as_str())];
    let none = client().post(&url).form(&form).send().await.unwrap();
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    let wrong = client()
        .post(&url)
        .basic_auth("client-1", Some("wrong"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        wrong.json::<Value>().await.unwrap()["error"],
        "invalid_client"
    );
    // client_secret_post works too.
    let post = client()
        .post(&url)
        .form(&[
            ("token", token.as_str()),
            ("client_id", "client-1"),
            ("client_secret", "secret-1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), StatusCode::OK);
    assert_eq!(post.json::<Value>().await.unwrap()["active"], true);
    // No token parameter: a bad request.
    let empty = client()
        .post(&url)
        .basic_auth("client-1", Some("secret-1"))
        .form(&[("token_type_hint", "access_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(empty.status(), StatusCode::BAD_REQUEST);
    assert_eq!(idp.introspection_calls(), 4);
}

#[tokio::test]
async fn the_revocation_endpoint_revokes_for_an_authenticated_client() {
    let idp = TestIssuer::start().await;
    let token = idp.opaque(&idp.token());
    let refused = client()
        .post(idp.revocation_url())
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(introspect(&idp, &token).await["active"], true);
    let revoked = client()
        .post(idp.revocation_url())
        .basic_auth("client-1", Some("secret-1"))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    assert_eq!(introspect(&idp, &token).await["active"], false);
}

#[tokio::test]
async fn discovery_names_the_introspection_and_revocation_endpoints() {
    let idp = TestIssuer::builder().path("/tenant-a").start().await;
    for url in [idp.discovery_url(), idp.oauth_metadata_url()] {
        let doc: Value = client()
            .get(&url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(doc["introspection_endpoint"], idp.introspection_url());
        assert_eq!(doc["revocation_endpoint"], idp.revocation_url());
    }
    assert!(idp.introspection_url().ends_with("/tenant-a/introspect"));
}

#[tokio::test]
async fn the_token_endpoint_can_issue_opaque_tokens() {
    let idp = TestIssuer::builder().opaque_tokens(true).start().await;
    let answer: Value = client()
        .post(idp.token_url())
        .basic_auth("client-1", Some("secret-1"))
        .form(&[("grant_type", "client_credentials"), ("scope", "read")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = answer["access_token"].as_str().unwrap();
    assert_eq!(token.len(), 43);
    let claims = introspect(&idp, token).await;
    assert_eq!(claims["active"], true);
    assert_eq!(claims["client_id"], "client-1");
    assert_eq!(claims["scope"], "read");
}

#[tokio::test]
async fn introspection_faults_answer_as_told_and_are_counted() {
    let idp = TestIssuer::start().await;
    let token = idp.opaque(&idp.token());
    let call = || {
        client()
            .post(idp.introspection_url())
            .basic_auth("client-1", Some("secret-1"))
            .form(&[("token", token.as_str())])
            .send()
    };
    idp.set_introspection_fault(Some(JwksFault::Status(500)));
    assert_eq!(
        call().await.unwrap().status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );
    idp.set_introspection_fault(Some(JwksFault::Garbage));
    assert!(call().await.unwrap().json::<Value>().await.is_err());
    idp.set_introspection_fault(Some(JwksFault::Hang));
    let hung = tokio::time::timeout(Duration::from_millis(200), call()).await;
    assert!(hung.is_err(), "a hung endpoint never answers");
    idp.set_introspection_fault(None);
    assert_eq!(call().await.unwrap().status(), StatusCode::OK);
    // The JWKS is unaffected by an introspection fault, and the other way round.
    idp.set_introspection_fault(Some(JwksFault::Status(503)));
    assert_eq!(
        client().get(idp.jwks_url()).send().await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(idp.introspection_calls(), 4);
}
