// Tests may unwrap, index and panic: a failure is the test's report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The front door: what `Portcullis::builder()` and `Portcullis::from_config` return (the
//! layer itself, with its scope layers and hook), combined with a policy; a lazy start while
//! the authorization server is down.

use axum::Router;
use axum::routing::get;
use http::Method;
use portcullis::{Access, Config, Policy, Portcullis, ScopeRequirement};
use portcullis_testkit::{JwksFault, TestIssuer, serve};

async fn get_status(url: &str, token: Option<&str>) -> (u16, String) {
    let mut req = reqwest::Client::new().get(url);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let res = req.send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

#[tokio::test]
async fn from_config_takes_a_policy_and_the_layer_takes_json_rejections() {
    let idp = TestIssuer::start().await;
    let config: Config = serde_json::from_value(serde_json::json!({
        "issuers": [{
            "issuer": idp.issuer(),
            "audiences": ["api"],
            "algorithms": ["RS256", "Ed25519"],
            "typ": "at+jwt-or-jwt"
        }],
        "realm": "orders"
    }))
    .unwrap();
    let policy = Policy::deny_by_default()
        .route_method(
            Method::GET,
            "/orders",
            ScopeRequirement::all_of(["orders.read"]),
        )
        .route("/feed", Access::Optional)
        .public("/health")
        .build()
        .unwrap();
    let auth = Portcullis::from_config(config)
        .policy(policy)
        .build()
        .await
        .unwrap()
        .json_rejections();
    let app = Router::new()
        .route("/orders", get(|| async { "orders" }))
        .route("/feed", get(|| async { "feed" }))
        .route("/health", get(|| async { "up" }))
        .route("/admin", get(|| async { "admin" }))
        .layer(auth);
    let base = serve(app).await;

    let read = idp.token().scope("orders.read").sign();
    let other = idp.token().scope("profile").sign();
    let json = |error: &str| format!(r#"{{"error":"{error}"}}"#);
    for (path, token, status, body) in [
        ("/orders", Some(&read), 200, "orders".to_owned()),
        ("/orders", Some(&other), 403, json("insufficient_scope")),
        ("/orders", None, 401, json("unauthorized")),
        ("/feed", None, 200, "feed".to_owned()),
        ("/health", None, 200, "up".to_owned()),
        // Denied by default: a valid token is 403 with nothing to ask for.
        ("/admin", Some(&read), 403, json("insufficient_scope")),
    ] {
        let got = get_status(&format!("{base}{path}"), token.map(String::as_str)).await;
        assert_eq!(got, (status, body), "{path} {token:?}");
    }
}

#[tokio::test]
async fn a_lazy_start_builds_while_the_issuer_is_down_and_answers_503_until_it_is_back() {
    let idp = TestIssuer::start().await;
    idp.set_fault(Some(JwksFault::Status(500)));

    // An eager start would retry until its deadline and fail; a lazy one returns at once.
    let auth = Portcullis::builder()
        .issuer(idp.issuer())
        .audience("api")
        .lazy_start()
        .build()
        .await
        .unwrap();
    let app = Router::new()
        .route("/orders", get(|| async { "orders" }))
        .route_layer(auth);
    let base = serve(app).await;
    let url = format!("{base}/orders");
    let token = idp.token().sign();

    let res = reqwest::Client::new()
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503, "keys unavailable: not a 401");
    assert!(res.headers().contains_key("retry-after"));

    // Back up: the next request's refetch (its budget has room) brings the keys.
    idp.set_fault(None);
    assert_eq!(
        get_status(&url, Some(&token)).await,
        (200, "orders".to_owned())
    );
}

#[tokio::test]
async fn an_issuer_given_twice_is_refused_before_any_key_is_fetched() {
    let idp = TestIssuer::start().await;
    let error = Portcullis::builder()
        .issuer(idp.issuer())
        .audience("api")
        .issuer(idp.issuer())
        .audience("other")
        .build()
        .await
        .unwrap_err();
    assert_eq!(
        error.kind(),
        &portcullis::ConfigErrorKind::Duplicate {
            setting: "issuers",
            value: idp.issuer()
        }
    );
    assert_eq!(idp.jwks_fetches(), 0);
    assert_eq!(idp.discovery_fetches(), 0);
}
