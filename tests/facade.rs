// Tests may unwrap, index and panic: a failure is the test's report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The `Portcullis` builder and `Config`: a protected router over loopback, and the unsafe
//! configurations refused at build time.

mod common;

use axum::Router;
use axum::routing::get;
use common::status;
use portcullis::jwt::Algorithm;
use portcullis::layer::BearerAuthLayer;
use portcullis::{Config, Portcullis};
use portcullis_testkit::{TestIssuer, serve};

fn app(auth: &BearerAuthLayer) -> Router {
    Router::new()
        .route("/orders", get(|| async { "orders" }))
        .route_layer(auth.require_scopes(["orders.read"]))
        .route_layer(auth.clone())
}

#[tokio::test]
async fn the_builder_protects_a_router_through_discovery() {
    let idp = TestIssuer::start().await;
    let auth = Portcullis::builder()
        .issuer(idp.issuer())
        .audience("api")
        .build()
        .await
        .unwrap();
    let base = serve(app(&auth)).await;
    let good = idp.token().scope("orders.read").sign();
    let other = idp.token().scope("orders.write").sign();
    assert_eq!(status(&format!("{base}/orders"), &good).await, 200);
    let anonymous = reqwest::get(format!("{base}/orders")).await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(status(&format!("{base}/orders"), &other).await, 403);
    assert_eq!(idp.discovery_fetches(), 1);
}

#[tokio::test]
async fn the_same_configuration_reads_from_serde_with_several_issuers() {
    let a = TestIssuer::start().await;
    let b = TestIssuer::builder().audience("orders").start().await;
    let json = serde_json::json!({
        "issuers": [
            { "issuer": a.issuer(), "audiences": ["api"] },
            { "issuer": b.issuer(), "audiences": ["orders"], "jwks_uri": b.jwks_url(), "typ": "at+jwt-or-jwt" }
        ],
        "realm": "shop"
    });
    let config: Config = serde_json::from_value(json).unwrap();
    let auth = Portcullis::from_config(config).build().await.unwrap();
    let base = serve(app(&auth)).await;
    for idp in [&a, &b] {
        let token = idp.token().scope("orders.read").sign();
        assert_eq!(status(&format!("{base}/orders"), &token).await, 200);
    }
    assert_eq!(b.discovery_fetches(), 0, "jwks_uri skips discovery");
    // A token of issuer b for issuer a's audience is refused.
    let crossed = b.token().audience("api").scope("orders.read").sign();
    assert_eq!(status(&format!("{base}/orders"), &crossed).await, 401);
    // A token naming an issuer nobody trusts costs no fetch anywhere.
    let (fa, fb) = (a.jwks_fetches(), b.jwks_fetches());
    let stranger = a
        .token()
        .issuer("https://stranger.example")
        .scope("orders.read")
        .sign();
    assert_eq!(status(&format!("{base}/orders"), &stranger).await, 401);
    assert_eq!((a.jwks_fetches(), b.jwks_fetches()), (fa, fb));
}

#[test]
fn unknown_configuration_fields_are_errors() {
    let typo = r#"{ "issuers": [{ "issuer": "https://a", "audience": ["x"] }] }"#;
    assert!(serde_json::from_str::<Config>(typo).is_err());
}

#[tokio::test]
async fn unsafe_configurations_are_refused_at_build_time() {
    let idp = TestIssuer::start().await;
    let cases: Vec<(portcullis::PortcullisBuilder, &str)> = vec![
        (Portcullis::builder(), "no `issuers`"),
        (Portcullis::builder().issuer(idp.issuer()), "no `audience`"),
        (
            Portcullis::builder()
                .issuer(idp.issuer())
                .audience("api")
                .algorithms([]),
            "empty",
        ),
        (
            Portcullis::builder()
                .issuer(idp.issuer())
                .audience("api")
                .algorithms([Algorithm::RS256, Algorithm::HS256]),
            "danger_allow_symmetric_keys",
        ),
        (
            Portcullis::builder().audience("api").issuer(idp.issuer()),
            "before any issuer",
        ),
    ];
    for (builder, expected) in cases {
        let error = builder.build().await.unwrap_err().to_string();
        assert!(
            error.contains(expected),
            "{error} should mention {expected}"
        );
    }
    assert_eq!(
        idp.jwks_fetches(),
        0,
        "nothing is fetched for a refused configuration"
    );

    let mismatch = Portcullis::builder()
        .issuer(format!("{}/other", idp.issuer()))
        .audience("api")
        .build()
        .await
        .unwrap_err();
    // The error names the issuer whose keys could not be had; why is its source.
    let issuer = format!("{}/other", idp.issuer());
    assert_eq!(
        mismatch.kind(),
        &portcullis::ConfigErrorKind::Unusable {
            setting: "issuer",
            value: issuer.clone()
        }
    );
    assert!(mismatch.to_string().contains(&issuer), "{mismatch}");
    assert!(std::error::Error::source(&mismatch).is_some());
}
