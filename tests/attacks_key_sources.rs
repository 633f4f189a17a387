// Test code: a failed unwrap, expect, panic or index is a failed test, not a crash an attacker
// can cause.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The attack suite of the security manual (`portcullis::manual::security`), key sources: floods of
//! unknown kids, huge JWKS documents, SSRF through discovery and redirects.
//!
//! Each threat is driven through the real layer over HTTP and through the core API, with the
//! exact answer and `ErrorKind` asserted (the target and its helpers: `tests/common/attack.rs`).

mod common;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use common::attack::{Answer, Target, trap};
use portcullis::jwt::{Algorithm, AlgorithmSet, ErrorKind, KeyErrorKind, KeySet};
use portcullis::keys::{DEFAULT_UNKNOWN_KID_BUDGET, SourceError, SourceErrorKind};
use portcullis::layer::BearerAuthLayer;
use portcullis::{ConfigError, ConfigErrorKind, Portcullis};
use portcullis_testkit::{JwksFault, TestIssuer, TestKey, serve};
use serde_json::{Value, json};

/// The source of a `ConfigError`, as the key source reported it.
fn source_kind(error: &ConfigError) -> SourceErrorKind {
    std::error::Error::source(error)
        .and_then(|e| e.downcast_ref::<SourceError>())
        .unwrap_or_else(|| panic!("not a key-source error: {error}"))
        .kind()
        .clone()
}

#[tokio::test]
async fn a_flood_of_unknown_kids_costs_the_issuer_at_most_the_refetch_budget() {
    let idp = TestIssuer::start().await;
    let t = Target::start(&idp).await;
    let good = idp.token().sign();
    let before = idp.jwks_fetches();
    for i in 0..300_u32 {
        let token = idp
            .token()
            .header("kid", json!(format!("flood-{i}")))
            .sign();
        t.refuses(&format!("kid flood-{i}"), &token, ErrorKind::UnknownKey)
            .await;
        if i.is_multiple_of(50) {
            assert_eq!(
                t.answer(&good).await,
                Answer::ok(),
                "a known kid, mid-flood"
            );
        }
    }
    let made = idp.jwks_fetches() - before;
    assert!(
        made <= DEFAULT_UNKNOWN_KID_BUDGET,
        "{made} JWKS fetches for 300 unknown kids"
    );
    t.accepts("a known kid after the flood", &good).await;
}

#[tokio::test]
async fn huge_jwks_documents_are_refused_and_the_last_good_keys_kept() {
    let idp = TestIssuer::start().await;
    let t = Target::start(&idp).await;
    let old = idp.token().sign();
    t.accepts("before", &old).await;
    idp.rotate(Algorithm::ES256);
    let new = idp.token().sign();

    // A body past the 1 MiB cap: the refetch for the new kid fails, the old keys stay.
    idp.set_fault(Some(JwksFault::Oversize(2 * 1024 * 1024)));
    assert_eq!(t.answer(&new).await, Answer::invalid_token());
    assert_eq!(t.answer(&old).await, Answer::ok());
    idp.set_fault(None);

    // More keys than the cap of 100: refused as a whole, before any key is parsed.
    let template = TestKey::generate(Algorithm::ES256).public_jwk();
    let many: Vec<Value> = (0..101)
        .map(|i| {
            let mut jwk = template.clone();
            jwk["kid"] = json!(format!("k{i}"));
            jwk
        })
        .collect();
    let doc = json!({ "keys": many }).to_string();
    assert_eq!(
        KeySet::from_jwks(&doc, AlgorithmSet::ASYMMETRIC)
            .unwrap_err()
            .kind(),
        &KeyErrorKind::TooManyKeys {
            found: 101,
            cap: 100
        }
    );
    idp.set_jwks_override(Some(serde_json::from_str(&doc).unwrap()));
    assert_eq!(t.answer(&new).await, Answer::invalid_token());
    assert_eq!(t.answer(&old).await, Answer::ok());

    // At start-up there are no last good keys: the build fails and says why.
    idp.set_jwks_override(None);
    idp.set_fault(Some(JwksFault::Oversize(2 * 1024 * 1024)));
    let err = Portcullis::builder()
        .issuer(idp.issuer())
        .audience("api")
        .build()
        .await
        .unwrap_err();
    assert_eq!(
        source_kind(&err),
        SourceErrorKind::BodyTooLarge { limit: 1024 * 1024 }
    );
    // The error names the URL it could not use, and leaves the cause to `source()`.
    assert_eq!(
        err.kind(),
        &ConfigErrorKind::Unusable {
            setting: "issuer",
            value: idp.issuer()
        }
    );
    let cause = std::error::Error::source(&err).unwrap().to_string();
    assert!(err.to_string().contains(&idp.issuer()), "{err}");
    assert!(!err.to_string().contains(&cause), "{err}");
}

/// A discovery endpoint under the test's control: it names itself as the issuer and serves
/// whatever `jwks_uri`, or redirects, as the test says.
#[derive(Clone, Default)]
struct Discovery {
    jwks_uri: Arc<Mutex<String>>,
    redirect: Arc<Mutex<Option<String>>>,
    issuer: Arc<Mutex<String>>,
}

async fn discovery_document(State(d): State<Discovery>) -> Response {
    if let Some(location) = d.redirect.lock().unwrap().clone() {
        return (StatusCode::FOUND, [(header::LOCATION, location)]).into_response();
    }
    let doc = json!({
        "issuer": *d.issuer.lock().unwrap(),
        "jwks_uri": *d.jwks_uri.lock().unwrap(),
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        doc.to_string(),
    )
        .into_response()
}

async fn discovery_server() -> (String, Discovery) {
    let d = Discovery::default();
    let app = Router::new()
        .route("/.well-known/openid-configuration", get(discovery_document))
        .route(
            "/.well-known/oauth-authorization-server",
            get(discovery_document),
        )
        .with_state(d.clone());
    let base = serve(app).await;
    base.clone_into(&mut d.issuer.lock().unwrap());
    (base, d)
}

async fn build_for(issuer: &str) -> Result<BearerAuthLayer, ConfigError> {
    Portcullis::builder()
        .issuer(issuer)
        .audience("api")
        .build()
        .await
}

#[tokio::test]
async fn a_discovery_document_cannot_point_the_key_fetch_at_an_internal_or_plain_http_url() {
    let (issuer, d) = discovery_server().await;
    let (trap, hits) = trap().await;
    let trap_port = trap.rsplit(':').next().unwrap().to_owned();
    for (jwks_uri, kind) in [
        (
            "http://169.254.169.254/latest/meta-data/iam/security-credentials/".to_owned(),
            SourceErrorKind::InsecureUrl,
        ),
        (
            "http://10.0.0.1:8080/jwks.json".to_owned(),
            SourceErrorKind::InsecureUrl,
        ),
        (
            "http://metadata.google.internal/".to_owned(),
            SourceErrorKind::InsecureUrl,
        ),
        (
            format!("gopher://127.0.0.1:{trap_port}/_FLUSHALL"),
            SourceErrorKind::InsecureUrl,
        ),
        (
            format!("ftp://127.0.0.1:{trap_port}/jwks.json"),
            SourceErrorKind::InsecureUrl,
        ),
        ("file:///etc/passwd".to_owned(), SourceErrorKind::InvalidUrl),
        ("/jwks.json".to_owned(), SourceErrorKind::InvalidUrl),
    ] {
        jwks_uri.clone_into(&mut d.jwks_uri.lock().unwrap());
        let err = build_for(&issuer).await.unwrap_err();
        assert_eq!(source_kind(&err), kind, "{jwks_uri}");
    }
    assert_eq!(hits.load(Ordering::SeqCst), 0);

    // A document that names another issuer is not used at all (its jwks_uri is the trap's).
    format!("{trap}/jwks.json").clone_into(&mut d.jwks_uri.lock().unwrap());
    "https://evil.example".clone_into(&mut d.issuer.lock().unwrap());
    let err = build_for(&issuer).await.unwrap_err();
    assert_eq!(source_kind(&err), SourceErrorKind::IssuerMismatch);
    assert_eq!(hits.load(Ordering::SeqCst), 0);

    // Plain HTTP to another host is refused for the issuer itself too.
    let err = build_for("http://idp.example").await.unwrap_err();
    assert_eq!(source_kind(&err), SourceErrorKind::InsecureUrl);
}

#[tokio::test]
async fn redirects_to_another_host_are_never_followed_for_discovery_or_keys() {
    let (trap, hits) = trap().await;
    // The trap's port under another host name: same socket, other origin.
    let elsewhere = trap.replace("127.0.0.1", "localhost");

    let (issuer, d) = discovery_server().await;
    *d.redirect.lock().unwrap() = Some(format!("{elsewhere}/.well-known/openid-configuration"));
    let err = build_for(&issuer).await.unwrap_err();
    assert_eq!(source_kind(&err), SourceErrorKind::Redirect);

    let idp = TestIssuer::start().await;
    idp.set_fault(Some(JwksFault::RedirectTo(format!(
        "{elsewhere}/jwks.json"
    ))));
    let err = build_for(&idp.issuer()).await.unwrap_err();
    assert_eq!(source_kind(&err), SourceErrorKind::Redirect);

    // While running: the refetch for a new kid is redirected away and refused; the old keys stay.
    idp.set_fault(None);
    let t = Target::start(&idp).await;
    let old = idp.token().sign();
    idp.rotate(Algorithm::ES256);
    idp.set_fault(Some(JwksFault::RedirectTo(format!(
        "{elsewhere}/jwks.json"
    ))));
    assert_eq!(t.answer(&idp.token().sign()).await, Answer::invalid_token());
    assert_eq!(t.answer(&old).await, Answer::ok());
    assert_eq!(hits.load(Ordering::SeqCst), 0, "a redirect was followed");
}
