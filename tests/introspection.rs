// Tests may unwrap, index and panic: a failure is the test's report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Opaque tokens end to end over loopback: the test authorization server's introspection
//! endpoint, the layer in front of an axum router, and the `Portcullis` configuration that
//! chooses JWT, introspection or both.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use common::status;
use portcullis::introspection::Introspector;
use portcullis::jwt::{ManualClock, Validator};
use portcullis::layer::BearerAuthLayer;
use portcullis::{Config, IntrospectionConfig, Portcullis, TokenMode};
use portcullis_testkit::{JwksFault, TestIssuer, serve, tamper};

/// `/orders` needs `orders.read`; `/me` any valid token.
fn app(layer: BearerAuthLayer) -> Router {
    Router::new()
        .route("/me", get(|| async { "me" }))
        .merge(
            Router::new()
                .route("/orders", get(|| async { "orders" }))
                .route_layer(layer.require_scopes(["orders.read"])),
        )
        .route_layer(layer)
}

/// The status, `WWW-Authenticate` and `Retry-After` of a GET with `token`.
async fn get_with(url: &str, token: &str) -> (u16, Option<String>, Option<String>) {
    let response = reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    (
        response.status().as_u16(),
        header("www-authenticate"),
        header("retry-after"),
    )
}

/// A layer over an introspector of `idp` on `clock`, as `tune` configures it.
async fn introspecting_layer(
    idp: &TestIssuer,
    clock: &ManualClock,
    tune: impl FnOnce(
        portcullis::introspection::IntrospectorBuilder,
    ) -> portcullis::introspection::IntrospectorBuilder,
) -> (BearerAuthLayer, Introspector) {
    let rules = Validator::builder()
        .issuer(idp.issuer())
        .audience("api")
        .clock(clock.clone())
        .build()
        .unwrap();
    let builder =
        Introspector::discover(idp.issuer(), rules).client_secret_basic("client-1", "secret-1");
    let introspector = tune(builder).build().await.unwrap();
    (BearerAuthLayer::new(introspector.clone()), introspector)
}

#[tokio::test]
async fn an_active_opaque_token_is_accepted_with_its_scopes_enforced() {
    let idp = TestIssuer::start().await;
    let config: Config = serde_json::from_value(serde_json::json!({
        "issuers": [{
            "issuer": idp.issuer(),
            "audiences": ["api"],
            "introspection": { "client_id": "client-1", "client_secret": "secret-1" }
        }],
        "tokens": "introspection",
        "realm": "shop"
    }))
    .unwrap();
    let auth = Portcullis::from_config(config).build().await.unwrap();
    let base = serve(app(auth.clone())).await;

    let reader = idp.opaque(&idp.token().scope("orders.read"));
    let writer = idp.opaque(&idp.token().scope("orders.write"));
    assert_eq!(status(&format!("{base}/orders"), &reader).await, 200);
    assert_eq!(status(&format!("{base}/me"), &reader).await, 200);
    let (code, challenge, _) = get_with(&format!("{base}/orders"), &writer).await;
    assert_eq!(code, 403);
    assert_eq!(
        challenge.as_deref(),
        Some(r#"Bearer realm="shop", error="insufficient_scope", scope="orders.read""#)
    );
    let (code, challenge, _) = get_with(&format!("{base}/me"), "never-issued").await;
    assert_eq!(code, 401);
    assert_eq!(
        challenge.as_deref(),
        Some(r#"Bearer realm="shop", error="invalid_token""#)
    );
    // Not a b64token: a malformed request, never sent to the server.
    let calls = idp.introspection_calls();
    let (code, _, _) = get_with(&format!("{base}/me"), "a,b").await;
    assert_eq!(code, 400);
    assert_eq!(idp.introspection_calls(), calls);
    // Introspection only: the issuer's keys are never fetched.
    assert_eq!(idp.jwks_fetches(), 0);
    // Each token was asked about once; the second request with `reader` came from the cache.
    assert_eq!(idp.introspection_calls(), 3);
}

#[tokio::test]
async fn a_revoked_token_is_refused_once_its_cache_entry_expires() {
    let idp = TestIssuer::start().await;
    let clock = ManualClock::frozen_now();
    let (layer, _) =
        introspecting_layer(&idp, &clock, |b| b.active_ttl(Duration::from_secs(60))).await;
    let base = serve(app(layer)).await;
    let token = idp.opaque(&idp.token().scope("orders.read").expires_in(3600));
    assert_eq!(status(&format!("{base}/orders"), &token).await, 200);
    idp.revoke(&token);
    // The verdict is reused for up to the cache lifetime: still accepted, no call.
    clock.advance_secs(59);
    assert_eq!(status(&format!("{base}/orders"), &token).await, 200);
    assert_eq!(idp.introspection_calls(), 1);
    // Then the server is asked again, and the token is refused.
    clock.advance_secs(1);
    let (code, challenge, _) = get_with(&format!("{base}/orders"), &token).await;
    assert_eq!(code, 401);
    assert_eq!(
        challenge.as_deref(),
        Some(r#"Bearer error="invalid_token""#)
    );
    assert_eq!(idp.introspection_calls(), 2);
}

#[tokio::test]
async fn with_the_cache_off_a_revoked_token_is_refused_at_once() {
    let idp = TestIssuer::start().await;
    let auth = Portcullis::builder()
        .issuer(idp.issuer())
        .audience("api")
        .introspection(IntrospectionConfig::new("client-1", "secret-1").cache_entries(0))
        .tokens(TokenMode::Introspection)
        .build()
        .await
        .unwrap();
    let base = serve(app(auth.clone())).await;
    let token = idp.opaque(&idp.token().scope("orders.read"));
    assert_eq!(status(&format!("{base}/orders"), &token).await, 200);
    assert_eq!(status(&format!("{base}/orders"), &token).await, 200);
    idp.revoke(&token);
    assert_eq!(status(&format!("{base}/orders"), &token).await, 401);
    assert_eq!(idp.introspection_calls(), 3);
}

#[tokio::test]
async fn wrong_client_credentials_at_the_endpoint_give_503_to_the_caller() {
    let idp = TestIssuer::start().await;
    let auth = Portcullis::builder()
        .issuer(idp.issuer())
        .audience("api")
        .introspection(IntrospectionConfig::new("client-1", "not-the-secret"))
        .tokens(TokenMode::Introspection)
        .build()
        .await
        .unwrap();
    let base = serve(app(auth.clone())).await;
    let token = idp.opaque(&idp.token().scope("orders.read"));
    let (code, challenge, retry_after) = get_with(&format!("{base}/orders"), &token).await;
    assert_eq!(code, 503);
    assert_eq!(
        challenge, None,
        "the client did nothing wrong: no challenge"
    );
    assert_eq!(retry_after.as_deref(), Some("5"));
    // A failure is not remembered: each request asks again (and is refused again).
    assert_eq!(status(&format!("{base}/orders"), &token).await, 503);
    assert_eq!(idp.introspection_calls(), 2);
}

#[tokio::test]
async fn an_endpoint_that_is_down_or_slow_gives_503_with_retry_after() {
    let idp = TestIssuer::start().await;
    let clock = ManualClock::frozen_now();
    let (layer, introspector) =
        introspecting_layer(&idp, &clock, |b| b.timeout(Duration::from_millis(300))).await;
    let base = serve(app(layer)).await;
    let url = format!("{base}/orders");
    let token = idp.opaque(&idp.token().scope("orders.read"));

    for fault in [JwksFault::Hang, JwksFault::Status(500), JwksFault::Garbage] {
        idp.set_introspection_fault(Some(fault.clone()));
        let (code, challenge, retry_after) = get_with(&url, &token).await;
        assert_eq!(code, 503, "{fault:?}");
        assert_eq!(challenge, None, "{fault:?}");
        assert_eq!(retry_after.as_deref(), Some("5"), "{fault:?}");
    }
    // A gRPC content type over HTTP/1.1 on a REST route is still answered with the HTTP
    // status (gRPC callers, over HTTP/2, get UNAVAILABLE: crates/portcullis-grpc-example).
    let grpc = reqwest::Client::new()
        .get(&url)
        .header("content-type", "application/grpc")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(grpc.status(), 503);
    assert!(grpc.headers().get("grpc-status").is_none());

    idp.set_introspection_fault(None);
    assert_eq!(status(&url, &token).await, 200);

    // Down: nothing listens any more. The cached verdict still serves this token...
    let fresh = idp.opaque(&idp.token().scope("orders.read"));
    idp.clone().shutdown().await;
    assert_eq!(status(&url, &token).await, 200);
    // ...while a token never seen cannot be checked.
    let (code, _, retry_after) = get_with(&url, &fresh).await;
    assert_eq!((code, retry_after.as_deref()), (503, Some("5")));
    assert_eq!(introspector.stats().failures, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_requests_with_one_new_token_make_one_introspection_call() {
    let idp = TestIssuer::start().await;
    let clock = ManualClock::frozen_now();
    let (layer, _) = introspecting_layer(&idp, &clock, |b| b).await;
    let base = serve(app(layer)).await;
    // A slow answer, so that every request arrives while the one call is in flight.
    idp.set_introspection_fault(Some(JwksFault::Delay(Duration::from_millis(500))));
    let token = Arc::new(idp.opaque(&idp.token().scope("orders.read")));
    let url = Arc::new(format!("{base}/orders"));
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1000)
        .build()
        .unwrap();
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let (client, url, token) = (client.clone(), url.clone(), token.clone());
            tokio::spawn(async move {
                client
                    .get(url.as_str())
                    .bearer_auth(token.as_str())
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), 200);
    }
    assert_eq!(idp.introspection_calls(), 1);
}

#[tokio::test]
async fn mixed_jwt_and_opaque_traffic_is_routed_correctly() {
    let idp = TestIssuer::start().await;
    let partner = TestIssuer::builder().path("/partner").start().await;
    let stranger = TestIssuer::start().await;
    let config: Config = serde_json::from_value(serde_json::json!({
        "issuers": [
            {
                "issuer": idp.issuer(),
                "audiences": ["api"],
                "introspection": { "client_id": "client-1", "client_secret": "secret-1",
                                   "auth_method": "client_secret_post" }
            },
            { "issuer": partner.issuer(), "audiences": ["api"] }
        ],
        "tokens": "jwt_or_introspection"
    }))
    .unwrap();
    let auth = Portcullis::from_config(config).build().await.unwrap();
    let base = serve(app(auth.clone())).await;
    let orders = format!("{base}/orders");
    let calls = || idp.introspection_calls() + partner.introspection_calls();

    // JWTs of either trusted issuer: verified with their keys, never introspected.
    for issuer in [&idp, &partner] {
        assert_eq!(
            status(&orders, &issuer.token().scope("orders.read").sign()).await,
            200
        );
        assert_eq!(
            status(&orders, &issuer.token().scope("x").sign()).await,
            403
        );
        let forged = tamper::flip_signature_bit(&issuer.token().scope("orders.read").sign());
        assert_eq!(status(&orders, &forged).await, 401);
    }
    assert_eq!(calls(), 0);

    // Opaque tokens: introspected at the issuer with introspection settings.
    let opaque = idp.opaque(&idp.token().scope("orders.read"));
    assert_eq!(status(&orders, &opaque).await, 200);
    assert_eq!(
        status(&orders, &idp.opaque(&idp.token().scope("x"))).await,
        403
    );
    assert_eq!(calls(), 2);

    // A JWS from an issuer nobody trusts is not a JWT we can verify: the authorization
    // server is asked (and does not know it); nothing is fetched from the stranger.
    let foreign = stranger.token().scope("orders.read").sign();
    assert_eq!(status(&orders, &foreign).await, 401);
    assert_eq!(idp.introspection_calls(), 3);
    assert_eq!(stranger.jwks_fetches() + stranger.discovery_fetches(), 0);

    // Interleaved, each kind keeps its path.
    for _ in 0..3 {
        assert_eq!(status(&orders, &opaque).await, 200);
        assert_eq!(
            status(&orders, &partner.token().scope("orders.read").sign()).await,
            200
        );
    }
    assert_eq!(calls(), 3, "the opaque token's verdict came from the cache");
}

#[tokio::test]
async fn inconsistent_token_modes_are_refused_at_build_time() {
    let idp = TestIssuer::start().await;
    let other = TestIssuer::start().await;
    let refused =
        |result: Result<BearerAuthLayer, portcullis::ConfigError>| result.unwrap_err().to_string();

    let jwt_with_introspection = Portcullis::builder()
        .issuer(idp.issuer())
        .audience("api")
        .introspection(IntrospectionConfig::new("client-1", "secret-1"))
        .build()
        .await;
    let message = refused(jwt_with_introspection);
    assert!(message.contains("set tokens"), "{message}");

    let introspection_without_settings = Portcullis::builder()
        .issuer(idp.issuer())
        .audience("api")
        .tokens(TokenMode::Introspection)
        .build()
        .await;
    assert!(refused(introspection_without_settings).contains("no introspection settings"));

    let two_issuers = Portcullis::builder()
        .issuer(idp.issuer())
        .audience("api")
        .introspection(IntrospectionConfig::new("client-1", "secret-1"))
        .issuer(other.issuer())
        .audience("api")
        .tokens(TokenMode::Introspection)
        .build()
        .await;
    assert!(refused(two_issuers).contains("exactly one issuer"));

    let nobody_introspects = Portcullis::builder()
        .issuer(idp.issuer())
        .audience("api")
        .tokens(TokenMode::JwtOrIntrospection)
        .build()
        .await;
    assert!(refused(nobody_introspects).contains("exactly one issuer"));

    let unset_env = Portcullis::builder()
        .issuer(idp.issuer())
        .audience("api")
        .introspection(IntrospectionConfig::secret_from_env(
            "client-1",
            "PORTCULLIS_TEST_SURELY_UNSET_VARIABLE",
        ))
        .tokens(TokenMode::Introspection)
        .build()
        .await;
    assert!(refused(unset_env).contains("PORTCULLIS_TEST_SURELY_UNSET_VARIABLE"));

    let unknown_field: Result<Config, _> = serde_json::from_value(serde_json::json!({
        "issuers": [{ "issuer": idp.issuer(), "audiences": ["api"],
                      "introspection": { "client_id": "c", "client_secrett": "s" } }],
    }));
    assert!(unknown_field.is_err());
    assert_eq!(idp.introspection_calls(), 0);
}

#[tokio::test]
async fn an_introspected_token_takes_a_step_up_by_what_the_endpoint_says_of_the_login() {
    use portcullis::StepUp;

    // The testkit's endpoint judges expiry on the system clock: the test's clock starts there.
    let clock = ManualClock::frozen_now();
    #[allow(clippy::cast_possible_truncation)]
    let now = portcullis::jwt::Clock::now_unix(&clock) as i64;
    let idp = TestIssuer::start().await;
    let (auth, _) = introspecting_layer(&idp, &clock, |b| b).await;
    let api =
        Router::new()
            .route("/transfers", get(|| async { "sent" }))
            .route_layer(auth.with_step_up(
                StepUp::acr(["mfa"]).and_max_age(std::time::Duration::from_secs(300)),
            ));
    let url = format!("{}/transfers", serve(api).await);
    let opaque = |acr: &str, auth_time: i64| {
        idp.opaque(
            &idp.token()
                .now(now)
                .expires_in(3600)
                .claim("acr", acr.into())
                .claim("auth_time", auth_time.into()),
        )
    };
    let challenge = Some(
        r#"Bearer error="insufficient_user_authentication", acr_values="mfa", max_age="300""#
            .to_owned(),
    );
    let strong = opaque("mfa", now - 200);
    assert_eq!(get_with(&url, &strong).await.0, 200);
    let (code, got, _) = get_with(&url, &opaque("pwd", now - 10)).await;
    assert_eq!((code, got), (401, challenge.clone()));
    let no_login = idp.opaque(&idp.token().now(now).expires_in(3600));
    let (code, got, _) = get_with(&url, &no_login).await;
    assert_eq!((code, got), (401, challenge.clone()));
    // The cached verdict is judged again on the clock: 101 s later the login is too old.
    clock.advance_secs(101);
    let (code, got, _) = get_with(&url, &strong).await;
    assert_eq!((code, got), (401, challenge));
}

#[tokio::test]
async fn an_introspected_token_has_the_scopes_and_roles_of_the_issuers_sources() {
    let idp = TestIssuer::start().await;
    let config: Config = serde_json::from_value(serde_json::json!({
        "issuers": [{
            "issuer": idp.issuer(),
            "audiences": ["api"],
            "scope_sources": ["permissions"],
            "role_sources": ["realm_access.roles"],
            "introspection": { "client_id": "client-1", "client_secret": "secret-1" }
        }],
        "tokens": "introspection",
    }))
    .unwrap();
    let auth = Portcullis::from_config(config).build().await.unwrap();
    let app = Router::new()
        .route(
            "/orders",
            get(|| async { "orders" }).route_layer(auth.require_scopes(["orders.read"])),
        )
        .route(
            "/admin",
            get(|| async { "admin" }).route_layer(auth.require_roles(["admin"])),
        )
        .route_layer(auth.clone());
    let base = serve(app).await;
    let sourced = idp.opaque(
        &idp.token()
            .scope("orders.write")
            .claim("permissions", serde_json::json!(["orders.read"]))
            .claim("realm_access", serde_json::json!({"roles": ["admin"]})),
    );
    // `scope` and `roles` are not this issuer's sources: they grant nothing.
    let unsourced = idp.opaque(
        &idp.token()
            .scope("orders.read")
            .claim("roles", serde_json::json!(["admin"])),
    );
    assert_eq!(status(&format!("{base}/orders"), &sourced).await, 200);
    assert_eq!(status(&format!("{base}/admin"), &sourced).await, 200);
    assert_eq!(status(&format!("{base}/orders"), &unsourced).await, 403);
    assert_eq!(status(&format!("{base}/admin"), &unsourced).await, 403);
}
