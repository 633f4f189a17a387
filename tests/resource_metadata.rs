// Tests may unwrap, index and panic: a failure is the test's report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! A resource that describes itself (RFC 9728) and is named by its tokens (RFC 8707), built
//! by the facade: a client that knows nothing but the API's URL follows the challenge to the
//! metadata, finds the authorization server there, and comes back with a token for the
//! resource. Real HTTP on loopback.

use axum::Router;
use axum::routing::{get, post};
use http::Method;
use portcullis::layer::BearerAuthLayer;
use portcullis::{Config, Policy, Portcullis, ScopeRequirement};
use portcullis_testkit::TestIssuer;
use serde_json::{Value, json};

/// A bound loopback port, before anything knows it: the resource identifier names it.
async fn listener() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    (listener, base)
}

fn policy() -> Policy {
    Policy::deny_by_default()
        .route_method(
            Method::GET,
            "/orders",
            ScopeRequirement::all_of(["orders.read"]),
        )
        .route_method(
            Method::POST,
            "/orders",
            ScopeRequirement::all_of(["orders.write"]),
        )
        .build()
        .unwrap()
}

/// The API with its layer, and the layer's metadata mounted outside it.
fn app(auth: &BearerAuthLayer) -> Router {
    let metadata = auth.metadata().unwrap();
    Router::new()
        .route(
            "/orders",
            get(|| async { "orders" }).post(|| async { "made" }),
        )
        .layer(auth.clone())
        .route_service(metadata.path(), metadata.clone())
}

fn challenge(res: &reqwest::Response) -> String {
    res.headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// The `resource_metadata` parameter of a challenge.
fn metadata_param(challenge: &str) -> String {
    let (_, rest) = challenge.split_once("resource_metadata=\"").unwrap();
    rest.split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn a_client_finds_the_authorization_server_from_the_challenge_and_comes_back_with_a_token() {
    let (listener, base) = listener().await;
    let resource = format!("{base}/orders");
    let idp = TestIssuer::builder().audience(&resource).start().await;
    let auth = Portcullis::builder()
        .issuer(idp.issuer())
        .resource(&resource)
        .policy(policy())
        .build()
        .await
        .unwrap();
    tokio::spawn(axum::serve(listener, app(&auth)).into_future());
    let client = reqwest::Client::new();

    // 1. No token: 401, pointing at the metadata (built from the configuration, whatever
    //    Host the request named).
    let refused = client
        .get(&resource)
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let expected = format!("{base}/.well-known/oauth-protected-resource/orders");
    assert_eq!(
        challenge(&refused),
        format!(r#"Bearer resource_metadata="{expected}""#)
    );

    // 2. The metadata: the resource, its authorization server, the scopes its routes need.
    let url = metadata_param(&challenge(&refused));
    let answer = client.get(&url).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["content-type"], "application/json");
    assert_eq!(answer.headers()["cache-control"], "public, max-age=3600");
    let document: Value = serde_json::from_str(&answer.text().await.unwrap()).unwrap();
    assert_eq!(
        document,
        json!({
            "resource": resource,
            "authorization_servers": [idp.issuer()],
            "scopes_supported": ["orders.read", "orders.write"],
            "bearer_methods_supported": ["header"],
        })
    );

    // 3. A token from that server for this resource (its `aud`), and the call again.
    let issuer = document["authorization_servers"][0].as_str().unwrap();
    assert_eq!(issuer, idp.issuer());
    let token: String = client
        .post(idp.token_url())
        .basic_auth("client-1", Some("secret-1"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&scope=orders.read")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token: Value = serde_json::from_str(&token).unwrap();
    let token = token["access_token"].as_str().unwrap();
    let ok = client
        .get(&resource)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);

    // 4. Every refusal points at the metadata: a missing scope, an invalid token.
    let write = client
        .post(&resource)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(write.status(), 403);
    assert_eq!(
        challenge(&write),
        format!(
            r#"Bearer error="insufficient_scope", scope="orders.write", resource_metadata="{expected}""#
        )
    );
    let bad = client
        .get(&resource)
        .bearer_auth("a.b.c")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    assert_eq!(
        challenge(&bad),
        format!(r#"Bearer error="invalid_token", resource_metadata="{expected}""#)
    );
}

#[tokio::test]
async fn the_resource_is_an_audience_after_normalisation_and_other_audiences_are_not() {
    let (listener, base) = listener().await;
    let resource = format!("{base}/orders");
    let idp = TestIssuer::start().await;
    let auth = Portcullis::builder()
        .issuer(idp.issuer())
        .resource(&resource)
        .policy(policy())
        .build()
        .await
        .unwrap();
    tokio::spawn(axum::serve(listener, app(&auth)).into_future());
    let client = reqwest::Client::new();
    let call = |aud: Value| {
        let token = idp.token().claim("aud", aud).scope("orders.read").sign();
        let req = client.get(&resource).bearer_auth(token);
        async move { req.send().await.unwrap().status().as_u16() }
    };
    let upper = resource.replace("http://", "HTTP://");
    let port = base.rsplit(':').next().unwrap().to_owned();
    assert_eq!(call(json!(resource)).await, 200);
    assert_eq!(call(json!(upper)).await, 200);
    assert_eq!(
        call(json!(format!("http://127.0.0.1:{port}/./orders"))).await,
        200
    );
    assert_eq!(call(json!(["https://other.example", resource])).await, 200);
    assert_eq!(call(json!(format!("{resource}/admin"))).await, 401);
    assert_eq!(call(json!(format!("{resource}?x"))).await, 401);
    assert_eq!(
        call(json!(format!("https://127.0.0.1:{port}/orders"))).await,
        401
    );
    // The issuer's own default audience is not configured here.
    assert_eq!(call(json!("api")).await, 401);
}

#[tokio::test]
async fn several_resources_on_one_server_each_serve_their_own_document() {
    let (listener, base) = listener().await;
    let idp = TestIssuer::start().await;
    let config: Config = serde_json::from_value(json!({
        "resource": format!("{base}/billing"),
        "issuers": [{ "issuer": idp.issuer() }],
    }))
    .unwrap();
    let billing = Portcullis::from_config(config).build().await.unwrap();
    let orders = Portcullis::builder()
        .issuer(idp.issuer())
        .resource(format!("{base}/orders"))
        .policy(policy())
        .build()
        .await
        .unwrap();
    let billing_metadata = billing.metadata().unwrap();
    let app = app(&orders).merge(
        Router::new()
            .route("/billing", post(|| async { "paid" }))
            .route_layer(billing.clone())
            .route_service(billing_metadata.path(), billing_metadata.clone()),
    );
    tokio::spawn(axum::serve(listener, app).into_future());
    for name in ["orders", "billing"] {
        let url = format!("{base}/.well-known/oauth-protected-resource/{name}");
        let text = reqwest::get(&url).await.unwrap().text().await.unwrap();
        let document: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(document["resource"], format!("{base}/{name}"), "{name}");
    }
    let refused = reqwest::Client::new()
        .post(format!("{base}/billing"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        metadata_param(&challenge(&refused)),
        format!("{base}/.well-known/oauth-protected-resource/billing")
    );
}

#[tokio::test]
async fn a_resource_that_is_not_https_or_has_a_query_is_refused_at_build() {
    let idp = TestIssuer::start().await;
    for bad in [
        "http://api.example.com/orders",
        "https://api.example.com/orders?x=1",
        "https://api.example.com/orders#top",
        "orders",
    ] {
        let refused = Portcullis::builder()
            .issuer(idp.issuer())
            .resource(bad)
            .build()
            .await
            .unwrap_err();
        assert!(refused.to_string().contains("resource"), "{bad}: {refused}");
    }
    let config: Config = serde_json::from_value(json!({
        "resource": "http://api.internal/orders",
        "danger_http_resource": true,
        "issuers": [{ "issuer": idp.issuer() }],
    }))
    .unwrap();
    assert!(Portcullis::from_config(config).build().await.is_ok());
}

#[tokio::test]
async fn the_scopes_of_route_layers_are_listed_as_they_are_made() {
    let (listener, base) = listener().await;
    let resource = format!("{base}/api");
    let idp = TestIssuer::builder().audience(&resource).start().await;
    let auth = Portcullis::builder()
        .issuer(idp.issuer())
        .resource(&resource)
        .build()
        .await
        .unwrap();
    let metadata = auth.metadata().unwrap();
    // Nothing is required yet: no scopes to list, and no empty list either.
    let before: Value = serde_json::from_str(&metadata.json()).unwrap();
    assert!(before.get("scopes_supported").is_none(), "{before}");
    let app = Router::new()
        .route(
            "/notes",
            get(|| async { "notes" }).route_layer(auth.require_scopes(["notes.read"])),
        )
        .route(
            "/notes/new",
            post(|| async { "made" }).route_layer(
                auth.require(ScopeRequirement::any_of(["notes.write", "notes.admin"])),
            ),
        )
        .route(
            "/again",
            get(|| async { "again" }).route_layer(auth.require_scopes(["notes.read"])),
        )
        .route(
            "/admin",
            get(|| async { "admin" }).layer(auth.with_scopes(["admin"])),
        )
        .route_layer(auth.clone())
        .route_service(metadata.path(), metadata.clone());
    tokio::spawn(axum::serve(listener, app).into_future());
    let url = format!("{base}/.well-known/oauth-protected-resource/api");
    let text = reqwest::get(&url).await.unwrap().text().await.unwrap();
    let document: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        document["scopes_supported"],
        json!(["notes.read", "notes.write", "notes.admin", "admin"])
    );
    assert_eq!(document["resource"], json!(resource));
    assert_eq!(document["bearer_methods_supported"], json!(["header"]));
}
