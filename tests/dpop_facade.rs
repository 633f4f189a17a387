// Tests may unwrap, index and panic: a failure is the test's report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! DPoP through the `Portcullis` builder and `Config`: JWTs and introspected opaque tokens
//! bound to a proof key, and the configurations that cannot protect refused at build time.

use axum::Router;
use axum::routing::get;
use portcullis::layer::BearerAuthLayer;
use portcullis::{Config, ConfigErrorKind, DpopConfig, IntrospectionConfig, Portcullis, TokenMode};
use portcullis_testkit::{Algorithm, DpopClient, TestIssuer, serve};
use serde_json::json;

const ORIGIN: &str = "https://orders.example.test";

fn app(auth: BearerAuthLayer) -> Router {
    Router::new()
        .route("/orders", get(|| async { "orders" }))
        .route_layer(auth)
}

async fn call(base: &str, scheme: &str, token: &str, proof: Option<&str>) -> u16 {
    let mut req = reqwest::Client::new()
        .get(format!("{base}/orders"))
        .header("authorization", format!("{scheme} {token}"));
    if let Some(proof) = proof {
        req = req.header("dpop", proof);
    }
    req.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn the_builder_accepts_dpop_bound_jwts_with_their_proof_only() {
    let idp = TestIssuer::start().await;
    let auth = Portcullis::builder()
        .issuer(idp.issuer())
        .audience("api")
        .public_origin(format!("{ORIGIN}/"))
        .dpop(DpopConfig::new())
        .build()
        .await
        .unwrap();
    let base = serve(app(auth)).await;
    let client = DpopClient::new(Algorithm::EdDSA);
    let token = client.bind(idp.token()).sign();
    let proof = client
        .proof("GET", &format!("{ORIGIN}/orders"))
        .token(&token)
        .sign();
    assert_eq!(call(&base, "DPoP", &token, Some(&proof)).await, 200);
    assert_eq!(
        call(&base, "DPoP", &token, Some(&proof)).await,
        401,
        "replay"
    );
    assert_eq!(call(&base, "Bearer", &token, None).await, 401, "downgrade");
    let plain = idp.token().sign();
    assert_eq!(call(&base, "Bearer", &plain, None).await, 200);
}

#[tokio::test]
async fn introspected_opaque_tokens_are_bound_by_their_cnf() {
    let idp = TestIssuer::builder().client("api", "s3cret").start().await;
    let config: Config = serde_json::from_value(json!({
        "issuers": [{
            "issuer": idp.issuer(),
            "audiences": ["api"],
            "danger_allow_http": true,
            "introspection": { "client_id": "api", "client_secret": "s3cret" }
        }],
        "tokens": "introspection",
        "public_origin": ORIGIN,
        "dpop": {}
    }))
    .unwrap();
    assert_eq!(config.tokens, TokenMode::Introspection);
    let auth = Portcullis::from_config(config).build().await.unwrap();
    let base = serve(app(auth)).await;
    let client = DpopClient::new(Algorithm::ES256);
    let thief = DpopClient::new(Algorithm::ES256);
    let bound = idp.opaque(&client.bind(idp.token()).claim("token_type", json!("DPoP")));
    let proof = |who: &DpopClient, token: &str| {
        who.proof("GET", &format!("{ORIGIN}/orders"))
            .token(token)
            .sign()
    };
    assert_eq!(
        call(&base, "DPoP", &bound, Some(&proof(&client, &bound))).await,
        200
    );
    // The verdict is cached; each presentation is still judged.
    assert_eq!(
        call(&base, "DPoP", &bound, Some(&proof(&thief, &bound))).await,
        401
    );
    assert_eq!(call(&base, "Bearer", &bound, None).await, 401);
    assert_eq!(
        call(&base, "DPoP", &bound, Some(&proof(&client, &bound))).await,
        200
    );
    assert_eq!(idp.introspection_calls(), 1);
    // `token_type: DPoP` without the `cnf.jkt` that binds it is no access token.
    let unbound = idp.opaque(&idp.token().claim("token_type", json!("DPoP")));
    assert_eq!(call(&base, "Bearer", &unbound, None).await, 401);
    assert_eq!(
        call(&base, "DPoP", &unbound, Some(&proof(&client, &unbound))).await,
        401
    );
    // A plain bearer opaque token is still a bearer token.
    let plain = idp.opaque(&idp.token());
    assert_eq!(call(&base, "Bearer", &plain, None).await, 200);
    let _ = IntrospectionConfig::new("api", "s3cret");
}

#[tokio::test]
async fn configurations_that_cannot_protect_are_refused_before_any_fetch() {
    let idp = TestIssuer::start().await;
    let base = || Portcullis::builder().issuer(idp.issuer()).audience("api");
    let kind = |e: portcullis::ConfigError| e.kind().clone();

    let e = base().dpop(DpopConfig::new()).build().await.unwrap_err();
    assert!(
        matches!(
            kind(e),
            ConfigErrorKind::Missing {
                setting: "public_origin",
                ..
            }
        ),
        "DPoP without a public origin"
    );
    for bad in [
        "api.example.com",
        "ftp://api.example.com",
        "http://api.example.com",
        "https://",
        "https:///x",
        "https://api.example.com/x?y=1",
        "https://user@api.example.com",
        "https://api.example.com/#f",
        "https://api.example.com:abc",
        "https://api.example.com/%zz",
    ] {
        let e = base().public_origin(bad).build().await.unwrap_err();
        assert!(
            matches!(
                kind(e),
                ConfigErrorKind::Invalid {
                    setting: "public_origin",
                    ..
                }
            ),
            "{bad}"
        );
    }
    for good in [
        "https://api.example.com",
        "https://api.example.com:8443/orders/",
        "http://127.0.0.1:8080",
        "http://localhost",
        "http://[::1]:3000",
    ] {
        assert!(base().public_origin(good).build().await.is_ok(), "{good}");
    }
    // Several origins chosen by trusted proxies take the place of the one public origin.
    let forwarded =
        || portcullis_tower::ForwardedOrigins::new([ORIGIN, "https://api.example.org"]).unwrap();
    let both = base()
        .dpop(DpopConfig::new())
        .public_origin(ORIGIN)
        .forwarded_origins(forwarded())
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(
            kind(both),
            ConfigErrorKind::Invalid {
                setting: "public_origin",
                ..
            }
        ),
        "public_origin and forwarded_origins"
    );
    assert!(
        base()
            .dpop(DpopConfig::new())
            .forwarded_origins(forwarded())
            .build()
            .await
            .is_ok()
    );

    let replicas: DpopConfig = serde_json::from_value(json!({ "replicas": 2 })).unwrap();
    let e = base()
        .public_origin(ORIGIN)
        .dpop(replicas)
        .build()
        .await
        .unwrap_err();
    assert!(e.to_string().contains("shared replay store"), "{e}");

    let nonces: DpopConfig =
        serde_json::from_value(json!({ "nonces": true, "replicas": 2 })).unwrap();
    let e = base()
        .public_origin(ORIGIN)
        .dpop(nonces)
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(
            kind(e),
            ConfigErrorKind::Missing {
                setting: "dpop.nonce_key_env",
                ..
            }
        ),
        "replicas without a shared nonce secret"
    );

    let missing_var = DpopConfig::new().nonces_from_env("PORTCULLIS_TEST_NO_SUCH_VARIABLE");
    let e = base()
        .public_origin(ORIGIN)
        .dpop(missing_var)
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(
            kind(e),
            ConfigErrorKind::Unusable {
                setting: "dpop.nonce_key_env",
                ..
            }
        ),
        "unset variable"
    );

    let key_without_nonces: DpopConfig =
        serde_json::from_value(json!({ "nonce_key_env": "X" })).unwrap();
    let e = base()
        .public_origin(ORIGIN)
        .dpop(key_without_nonces)
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(
            kind(e),
            ConfigErrorKind::Invalid {
                setting: "dpop.nonce_key_env",
                ..
            }
        ),
        "a nonce secret without nonces"
    );

    let hmac: DpopConfig = serde_json::from_value(json!({ "algorithms": ["HS256"] })).unwrap();
    assert!(
        base()
            .public_origin(ORIGIN)
            .dpop(hmac)
            .build()
            .await
            .is_err()
    );

    assert!(
        serde_json::from_value::<DpopConfig>(json!({ "require": true })).is_err(),
        "unknown fields are errors"
    );
}
