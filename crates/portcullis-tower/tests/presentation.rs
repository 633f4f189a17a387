// Tests may unwrap, index and panic: a failure is the test's report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! What the layer hands the verifier (the whole presentation), how it waits for a pending
//! verdict, and how its rejection hook reaches every refusal behind it: over loopback HTTP.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::response::Response;
use axum::routing::get;
use http::{HeaderValue, Method, Request};
use portcullis_core::dpop::Dpop;
use portcullis_core::{
    CertificateThumbprint, Claims, ErrorKind, Presentation, Scheme, ScopeRequirement, Verdict,
    Verifier,
};
use portcullis_testkit::serve;
use portcullis_tower::axum::Verified;
use portcullis_tower::{Access, BearerAuthLayer, Policy, Rejection};
use serde::Deserialize;

/// What a presentation held, as the verifier saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Seen {
    scheme: Option<Scheme>,
    token: String,
    method: String,
    path_and_query: String,
    target_uri: Option<String>,
    dpop_proof: Option<String>,
    certificate: Option<CertificateThumbprint>,
}

/// Accepts the tokens `good` (scope `read`) and `pending` (scope `read`, after an await),
/// refuses every other, and records each presentation.
#[derive(Clone, Default)]
struct Recording {
    seen: Arc<Mutex<Vec<Seen>>>,
}

fn claims() -> Claims {
    Claims::from_trusted_json(r#"{"sub":"alice","scope":"read"}"#).unwrap()
}

impl Verifier for Recording {
    fn verify(&self, p: &Presentation<'_>) -> Verdict {
        self.seen.lock().unwrap().push(Seen {
            scheme: Some(p.scheme()),
            token: p.token().to_owned(),
            method: p.method().to_owned(),
            path_and_query: p.path_and_query().to_owned(),
            target_uri: p.target_uri(),
            dpop_proof: p.dpop_proof().map(str::to_owned),
            certificate: p.certificate().copied(),
        });
        match p.token() {
            "good" => Verdict::Ready(Ok(claims())),
            "pending" => Verdict::pending(async {
                tokio::task::yield_now().await;
                Ok(claims())
            }),
            "pending-bad" | "pending-bad!" => Verdict::pending(async {
                tokio::task::yield_now().await;
                Err(ErrorKind::Expired.into())
            }),
            _ => Verdict::Ready(Err(ErrorKind::InvalidSignature.into())),
        }
    }
}

async fn get_with(url: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = reqwest::Client::new().get(url);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn the_verifier_receives_the_whole_presentation() {
    let verifier = Recording::default();
    // With DPoP accepted, a bearer presentation reaches the verifier with the proof header
    // beside it (the verifier decides what a proof next to a bearer token means).
    let auth = BearerAuthLayer::new(verifier.clone())
        .public_origin("https://api.example.com/")
        .dpop(Dpop::builder().build().unwrap());
    let thumbprint = CertificateThumbprint([7; 32]);
    let app = Router::new()
        .route("/orders", get(|| async { "ok" }))
        .route_layer(auth)
        // What a TLS acceptor with client certificates would put in the extensions.
        .layer(axum::middleware::map_request(
            move |mut req: Request<Body>| async move {
                if req.headers().contains_key("x-test-cert") {
                    req.extensions_mut().insert(thumbprint);
                }
                req
            },
        ));
    let base = serve(app).await;

    let res = get_with(
        &format!("{base}/orders?page=2"),
        &[
            ("authorization", "Bearer good"),
            ("dpop", "proof.jws.value"),
            ("x-test-cert", "1"),
        ],
    )
    .await;
    assert_eq!(res.status(), 200);
    let seen = verifier.seen.lock().unwrap().pop().unwrap();
    assert_eq!(
        seen,
        Seen {
            scheme: Some(Scheme::Bearer),
            token: "good".into(),
            method: "GET".into(),
            path_and_query: "/orders?page=2".into(),
            // The configured origin, never the Host header (the trailing slash dropped).
            target_uri: Some("https://api.example.com/orders?page=2".into()),
            dpop_proof: Some("proof.jws.value".into()),
            certificate: Some(thumbprint),
        }
    );

    // Without a configured origin there is no target URI, whatever `Host` says; without
    // DPoP accepted, the `DPoP` header is not even read.
    let verifier = Recording::default();
    let app = Router::new()
        .route("/orders", get(|| async { "ok" }))
        .route_layer(BearerAuthLayer::new(verifier.clone()));
    let base = serve(app).await;
    let res = get_with(
        &format!("{base}/orders"),
        &[
            ("authorization", "Bearer good"),
            ("host", "evil.example"),
            ("dpop", "one.proof.here"),
            ("dpop", "two.proof.here"),
        ],
    )
    .await;
    assert_eq!(res.status(), 200);
    let seen = verifier.seen.lock().unwrap().pop().unwrap();
    assert_eq!(
        (seen.target_uri, seen.dpop_proof, seen.certificate),
        (None, None, None)
    );
}

#[tokio::test]
async fn two_dpop_proofs_are_a_malformed_request_and_reach_no_verifier() {
    let verifier = Recording::default();
    let auth = BearerAuthLayer::new(verifier.clone())
        .public_origin("https://api.example.com")
        .dpop(Dpop::builder().build().unwrap());
    let app = Router::new()
        .route("/orders", get(|| async { "ok" }))
        .route_layer(auth);
    let base = serve(app).await;
    let res = get_with(
        &format!("{base}/orders"),
        &[
            ("authorization", "Bearer good"),
            ("dpop", "one.proof.here"),
            ("dpop", "two.proof.here"),
        ],
    )
    .await;
    assert_eq!(res.status(), 400);
    let challenges: Vec<_> = res.headers().get_all("www-authenticate").iter().collect();
    assert_eq!(
        challenges,
        [
            r#"Bearer error="invalid_request""#,
            r#"DPoP algs="RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA Ed25519", error="invalid_request""#
        ]
    );
    assert!(verifier.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_token_that_is_no_b64token_never_reaches_a_verifier_of_any_shape() {
    // `Recording` does not vouch for the syntax of what it accepts (as introspection does
    // not): the layer checks every token before it is handed on.
    let verifier = Recording::default();
    let app = Router::new()
        .route("/orders", get(|| async { "ok" }))
        .route_layer(BearerAuthLayer::new(verifier.clone()));
    let base = serve(app).await;
    let res = get_with(
        &format!("{base}/orders"),
        &[("authorization", "Bearer a!b")],
    )
    .await;
    assert_eq!(res.status(), 400);
    assert!(verifier.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_pending_verdict_is_awaited_then_the_route_rule_applies() {
    let verifier = Recording::default();
    let auth = BearerAuthLayer::new(verifier.clone());
    let app = Router::new()
        .route(
            "/read",
            get(|| async { "read" }).route_layer(auth.require_scopes(["read"])),
        )
        .route(
            "/write",
            get(|| async { "write" }).route_layer(auth.require_scopes(["write"])),
        )
        .route_layer(auth);
    let base = serve(app).await;
    let bearer = |t: &'static str| [("authorization", t)];
    let read = get_with(&format!("{base}/read"), &bearer("Bearer pending")).await;
    assert_eq!(read.status(), 200);
    assert_eq!(read.text().await.unwrap(), "read");
    let write = get_with(&format!("{base}/write"), &bearer("Bearer pending")).await;
    assert_eq!(write.status(), 403);
    let refused = get_with(&format!("{base}/read"), &bearer("Bearer pending-bad")).await;
    assert_eq!(refused.status(), 401);
    assert_eq!(
        refused.headers()["www-authenticate"],
        r#"Bearer error="invalid_token""#
    );
}

/// A verifier that declares it accepts only `b64token`s (so the layer checks the syntax of
/// the tokens it refuses only, after the verdict).
struct B64Only(Recording);

impl Verifier for B64Only {
    fn verify(&self, p: &Presentation<'_>) -> Verdict {
        self.0.verify(p)
    }

    fn accepts_only_b64tokens(&self) -> bool {
        true
    }
}

#[tokio::test]
async fn the_route_table_holds_for_ready_and_pending_verdicts_alike() {
    let verifier = Recording::default();
    let policy = Policy::deny_by_default()
        .route_method(Method::GET, "/read", ScopeRequirement::all_of(["read"]))
        .route_method(Method::GET, "/write", ScopeRequirement::all_of(["write"]))
        .route("/feed", Access::Optional)
        .public("/health")
        .build()
        .unwrap();
    let auth = BearerAuthLayer::new(B64Only(verifier.clone())).policy(policy);
    let app = Router::new()
        .route("/read", get(|| async { "read" }))
        .route("/write", get(|| async { "write" }))
        .route("/feed", get(|| async { "feed" }))
        .route("/health", get(|| async { "up" }))
        .route("/admin", get(|| async { "admin" }))
        .layer(auth);
    let base = serve(app).await;
    for (ready, pending) in [
        ("Bearer good", "Bearer pending"),
        ("Bearer bad", "Bearer pending-bad"),
    ] {
        for (path, good_status, bad_status) in [
            ("/read", 200, 401),
            ("/write", 403, 401),
            ("/feed", 200, 401),
            ("/admin", 403, 401),
            ("/health", 200, 200),
        ] {
            let expected = if ready == "Bearer good" {
                good_status
            } else {
                bad_status
            };
            for token in [ready, pending] {
                let res = get_with(&format!("{base}{path}"), &[("authorization", token)]).await;
                assert_eq!(res.status(), expected, "{path} {token}");
            }
        }
    }
    // A public route never asks the verifier.
    let asked = verifier.seen.lock().unwrap().len();
    get_with(
        &format!("{base}/health"),
        &[("authorization", "Bearer good")],
    )
    .await;
    assert_eq!(verifier.seen.lock().unwrap().len(), asked);
    // A refused token that is not a b64token is a malformed request on both paths.
    for token in ["Bearer bad!", "Bearer pending-bad!"] {
        let res = get_with(&format!("{base}/read"), &[("authorization", token)]).await;
        assert_eq!(res.status(), 400, "{token}");
    }
}

#[derive(Deserialize)]
#[allow(dead_code)] // Only deserialized: the member it needs is what the test is about.
struct NeedsTenant {
    tenant: String,
}

/// A hook that marks its answers, so a test can tell them from the default ones.
fn marked(rejection: &Rejection, answer: http::Response<()>) -> Response {
    let code = rejection.error_code().unwrap_or("none");
    let mut response = answer.map(|()| Body::from(format!("hooked:{code}")));
    response
        .headers_mut()
        .insert("x-hook", HeaderValue::from_static("yes"));
    response
}

#[tokio::test]
async fn the_hook_reaches_the_layer_the_scope_layers_and_the_extractors() {
    let auth = BearerAuthLayer::new(Recording::default()).on_rejection(marked);
    let app = Router::new()
        .route("/write", get(|| async { "write" }))
        .route_layer(auth.require_scopes(["write"]))
        .route(
            "/tenant",
            get(|Verified(c): Verified<NeedsTenant>| async move { c.tenant }),
        )
        .route_layer(auth);
    let base = serve(app).await;

    let cases = [
        // The layer's own refusals.
        ("/write", None, 401, "hooked:none"),
        ("/write", Some("Bearer bad"), 401, "hooked:invalid_token"),
        ("/write", Some("Bearer a b"), 400, "hooked:invalid_request"),
        // The scope layer made from the hooked layer.
        (
            "/write",
            Some("Bearer good"),
            403,
            "hooked:insufficient_scope",
        ),
        // The extractor: valid claims that lack what the handler's type needs.
        ("/tenant", Some("Bearer good"), 401, "hooked:invalid_token"),
    ];
    for (path, authorization, status, body) in cases {
        let headers: Vec<(&str, &str)> = authorization
            .map(|a| vec![("authorization", a)])
            .unwrap_or_default();
        let res = get_with(&format!("{base}{path}"), &headers).await;
        assert_eq!(res.status(), status, "{path} {authorization:?}");
        assert_eq!(res.headers()["x-hook"], "yes", "{path} {authorization:?}");
        assert!(res.headers().contains_key("www-authenticate"));
        assert_eq!(res.text().await.unwrap(), body, "{path} {authorization:?}");
    }
}

#[tokio::test]
async fn json_rejections_answer_with_the_code_in_a_json_body() {
    let auth = BearerAuthLayer::new(Recording::default()).json_rejections();
    let app = Router::new()
        .route("/write", get(|| async { "write" }))
        .route_layer(auth.require_scopes(["write"]))
        .route_layer(auth);
    let base = serve(app).await;
    for (authorization, status, error) in [
        (None, 401, "unauthorized"),
        (Some("Bearer bad"), 401, "invalid_token"),
        (Some("Bearer good"), 403, "insufficient_scope"),
    ] {
        let headers: Vec<(&str, &str)> = authorization
            .map(|a| vec![("authorization", a)])
            .unwrap_or_default();
        let res = get_with(&format!("{base}/write"), &headers).await;
        assert_eq!(res.status(), status);
        assert_eq!(res.headers()["content-type"], "application/json");
        let body: serde_json::Value = serde_json::from_str(&res.text().await.unwrap()).unwrap();
        assert_eq!(body, serde_json::json!({ "error": error }));
    }
}

#[tokio::test]
async fn an_outer_layer_reads_the_rejection_from_the_response() {
    let auth = BearerAuthLayer::new(Recording::default());
    let app = Router::new()
        .route("/orders", get(|| async { "ok" }))
        .route_layer(auth)
        .layer(axum::middleware::map_response(
            |mut res: Response| async move {
                let code = res
                    .extensions()
                    .get::<Rejection>()
                    .map_or("passed", Rejection::code);
                res.headers_mut()
                    .insert("x-reason", HeaderValue::from_static(code));
                res
            },
        ));
    let base = serve(app).await;
    let reason = |res: &reqwest::Response| res.headers()["x-reason"].to_str().unwrap().to_owned();
    let ok = get_with(
        &format!("{base}/orders"),
        &[("authorization", "Bearer good")],
    )
    .await;
    assert_eq!(reason(&ok), "passed");
    let bad = get_with(
        &format!("{base}/orders"),
        &[("authorization", "Bearer bad")],
    )
    .await;
    assert_eq!(reason(&bad), "invalid_signature");
    let none = get_with(&format!("{base}/orders"), &[]).await;
    assert_eq!(reason(&none), "missing_credentials");
}

#[tokio::test]
async fn an_optional_route_passes_without_a_token_and_still_refuses_a_bad_one() {
    let policy = Policy::deny_by_default()
        .route_method(Method::GET, "/feed", Access::Optional)
        .route_method(Method::GET, "/orders", ScopeRequirement::all_of(["read"]))
        .build()
        .unwrap();
    let auth = BearerAuthLayer::new(Recording::default()).policy(policy);
    let feed = |claims: Option<portcullis_tower::axum::VerifiedClaims>| async move {
        claims.map_or("anonymous".to_owned(), |c| {
            c.0.subject().unwrap_or("?").to_owned()
        })
    };
    let app = Router::new()
        .route("/feed", get(feed))
        .route("/orders", get(|| async { "orders" }))
        .layer(auth);
    let base = serve(app).await;
    let res = get_with(&format!("{base}/feed"), &[]).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "anonymous");
    let res = get_with(&format!("{base}/feed"), &[("authorization", "Bearer good")]).await;
    assert_eq!(res.text().await.unwrap(), "alice");
    let res = get_with(&format!("{base}/feed"), &[("authorization", "Bearer bad")]).await;
    assert_eq!(res.status(), 401);
    // The other routes still need their token.
    assert_eq!(get_with(&format!("{base}/orders"), &[]).await.status(), 401);
    assert_eq!(
        get_with(
            &format!("{base}/orders"),
            &[("authorization", "Bearer good")]
        )
        .await
        .status(),
        200
    );
}

#[tokio::test]
async fn claims_left_by_an_outer_layer_never_pass_for_verified_ones() {
    let policy = Policy::authenticated_by_default()
        .public("/health")
        .build()
        .unwrap();
    let auth = BearerAuthLayer::new(Recording::default()).policy(policy);
    let who = |claims: Option<portcullis_tower::axum::VerifiedClaims>| async move {
        claims.map_or("anonymous".to_owned(), |c| {
            c.0.subject().unwrap_or("?").to_owned()
        })
    };
    let app = Router::new()
        .route("/health", get(who))
        .layer(auth)
        // An outer layer that puts claims of its own in the request (a bug, or an attack on
        // a misassembled stack).
        .layer(axum::middleware::map_request(
            |mut req: Request<Body>| async move {
                let forged = Claims::from_trusted_json(r#"{"sub":"mallory"}"#).unwrap();
                req.extensions_mut().insert(forged);
                req
            },
        ));
    let base = serve(app).await;
    let res = get_with(&format!("{base}/health"), &[]).await;
    assert_eq!(res.text().await.unwrap(), "anonymous");
}
