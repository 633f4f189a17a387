//! The metrics example's API and its mixed run, shared with the test that scrapes it
//! (`crates/portcullis-tower/tests/metrics.rs`).
//!
//! One API on 127.0.0.1: `GET /orders` (scope `orders.read`; JWTs verified with the keys,
//! opaque tokens introspected), `GET /orders/{id}` (the same layer, and `orders.write` checked
//! behind it by a second, light layer), `GET /metrics` (Prometheus text, public) and
//! `GET /ready` (readiness, public); a local authorization server signs the tokens.

use axum::Router;
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use portcullis_core::Validator;
use portcullis_introspect::{Introspector, JwtOrIntrospection};
use portcullis_jwks::{JwtVerifier, RemoteJwks};
use portcullis_testkit::{TestIssuer, TestKey, TokenBuilder, tamper};
use portcullis_tower::BearerAuthLayer;

/// The recorder, installed for the whole process (the `metrics` facade has one).
///
/// # Panics
/// When another recorder is installed already.
pub(crate) fn install_recorder() -> PrometheusHandle {
    PrometheusBuilder::new()
        .install_recorder()
        .expect("no other recorder is installed")
}

/// The running API and its authorization server.
pub(crate) struct Demo {
    /// The API's base URL.
    pub(crate) base: String,
    /// The authorization server.
    pub(crate) idp: TestIssuer,
}

/// Starts the authorization server and the API, which serves `handle`'s metrics.
///
/// # Panics
/// When the local servers cannot start.
pub(crate) async fn start(handle: PrometheusHandle) -> Demo {
    let idp = TestIssuer::builder().opaque_tokens(true).start().await;
    let rules = Validator::builder()
        .issuer(idp.issuer())
        .audience("api")
        .build()
        .unwrap();
    let keys = RemoteJwks::builder(idp.jwks_url()).build().await.unwrap();
    let introspector = Introspector::builder(idp.introspection_url(), rules.clone())
        .client_secret_basic("client-1", "secret-1")
        .build()
        .await
        .unwrap();
    let verifier =
        JwtOrIntrospection::new(JwtVerifier::new(keys, rules), [idp.issuer()], introspector);
    let auth = BearerAuthLayer::new(verifier);
    let app = Router::new()
        .route("/orders", get(|| async { "orders\n" }))
        .route_layer(auth.with_scopes(["orders.read"]))
        .merge(
            Router::new()
                .route("/orders/{id}", get(|| async { "order\n" }))
                .route_layer(auth.require_scopes(["orders.write"]))
                .route_layer(auth.clone()),
        )
        .route(
            "/metrics",
            get(move || {
                let handle = handle.clone();
                async move { handle.render() }
            }),
        )
        .route_service("/ready", auth.readiness());
    let base = portcullis_testkit::serve(app).await;
    Demo { base, idp }
}

/// One request of the mixed run: what it is, the path, the token, the status it must get.
pub(crate) struct Step {
    /// What the request is.
    pub(crate) what: &'static str,
    /// Its path.
    pub(crate) path: &'static str,
    /// Its bearer token.
    pub(crate) token: Option<String>,
    /// The status it must get.
    pub(crate) status: u16,
}

/// The mixed run: accepted tokens (repeated, so the verified-token cache answers), opaque
/// tokens (introspected, then remembered), and one refusal of each common kind.
pub(crate) fn steps(idp: &TestIssuer) -> Vec<Step> {
    let reader = idp.token().audience("api").scope("orders.read").sign();
    let writer_scopes = idp
        .token()
        .audience("api")
        .scope("orders.read orders.write");
    let stranger = TestKey::generate(portcullis_core::Algorithm::ES256).with_kid("stranger");
    let step = |what, path, token: Option<String>, status| Step {
        what,
        path,
        token,
        status,
    };
    let strange = || {
        TokenBuilder::new(&stranger)
            .issuer(&idp.issuer())
            .audience("api")
            .sign()
    };
    let opaque = idp.opaque(&idp.token().audience("api").scope("orders.read"));
    vec![
        step("a token", "/orders", Some(reader.clone()), 200),
        step("the same token", "/orders", Some(reader.clone()), 200),
        step("the same token again", "/orders", Some(reader.clone()), 200),
        step("an opaque token", "/orders", Some(opaque.clone()), 200),
        step("the same opaque token", "/orders", Some(opaque), 200),
        step("no token", "/orders", None, 401),
        step(
            "an expired token",
            "/orders",
            Some(idp.token().audience("api").expires_in(-3600).sign()),
            401,
        ),
        step(
            "a forged signature",
            "/orders",
            Some(tamper::flip_signature_bit(&reader)),
            401,
        ),
        step(
            "a token without the scope",
            "/orders",
            Some(idp.token().audience("api").scope("profile").sign()),
            403,
        ),
        step(
            "a reader on a writer's route",
            "/orders/7",
            Some(reader),
            403,
        ),
        step("a writer", "/orders/7", Some(writer_scopes.sign()), 200),
        // Each unknown `kid` asks the issuer for newer keys, within a budget of two per
        // 30 s: the third is refused at once, without a fetch.
        step(
            "a key the issuer never published",
            "/orders",
            Some(strange()),
            401,
        ),
        step("another token of that key", "/orders", Some(strange()), 401),
        step("a third one", "/orders", Some(strange()), 401),
    ]
}

/// Sends every step; returns what each got.
///
/// # Panics
/// When a request cannot be sent.
pub(crate) async fn run(demo: &Demo, steps: &[Step]) -> Vec<u16> {
    let client = reqwest::Client::new();
    let mut got = Vec::new();
    for step in steps {
        let mut request = client.get(format!("{}{}", demo.base, step.path));
        if let Some(token) = &step.token {
            request = request.bearer_auth(token);
        }
        got.push(request.send().await.unwrap().status().as_u16());
    }
    got
}

/// The Prometheus text the API serves now.
///
/// # Panics
/// When the request fails.
pub(crate) async fn scrape(demo: &Demo) -> String {
    reqwest::get(format!("{}/metrics", demo.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}
