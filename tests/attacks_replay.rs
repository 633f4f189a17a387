// Test code: a failed unwrap, expect, panic or index is a failed test, not a crash an attacker
// can cause.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The attack suite of the security manual (`portcullis::manual::security`), replay and the
//! verified-token cache: stolen and sender-constrained tokens, tampering with a cached token, a
//! cached token whose key leaves the set.
//!
//! Each threat is driven through the real layer over HTTP and through the core API, with the
//! exact answer and `ErrorKind` asserted (the target and its helpers: `tests/common/attack.rs`).

mod common;

use axum::Router;
use axum::routing::get;
use common::attack::{Answer, REALM, Target, bearer, issued_at, rules_for};
use portcullis::jwt::{Algorithm, ErrorKind, ManualClock};
use portcullis::keys::{JwtVerifier, RemoteJwks};
use portcullis::layer::{Answers, BearerAuthLayer};
use portcullis_testkit::{TestIssuer, serve, tamper};
use serde_json::json;

#[tokio::test]
async fn a_stolen_token_is_accepted_until_it_expires_and_a_sender_constrained_one_is_refused_as_bearer()
 {
    let idp = TestIssuer::start().await;
    let t = Target::start(&idp).await;
    // A bearer token is good for whoever holds it, as often as they like, until it expires.
    let token = idp.token().expires_in(120).sign();
    for _ in 0..3 {
        t.accepts("replayed", &token).await;
    }
    let clock = ManualClock::at(issued_at(&token));
    let rules = rules_for(&idp).clock(clock.clone()).build().unwrap();
    let keys = t.keys();
    rules.validate(&token, &keys).unwrap();
    clock.advance_secs(120 + 60);
    assert_eq!(
        rules.validate(&token, &keys).unwrap_err().kind(),
        &ErrorKind::Expired
    );

    // A DPoP-bound token (RFC 9449, `cnf.jkt`) presented as a bearer token is refused by
    // default (RFC 9449 section 7.2: never accept a bound token as a bearer token), over HTTP
    // and through the core API, with its own reason...
    let bound = idp
        .token()
        .claim(
            "cnf",
            json!({"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}),
        )
        .sign();
    t.refuses(
        "a DPoP-bound token as bearer",
        &bound,
        ErrorKind::SenderConstrained,
    )
    .await;
    // ...and accepted only when a gateway in front has checked the proof and says so.
    let trusting = rules_for(&idp)
        .danger_accept_sender_constrained_tokens_as_bearer()
        .build()
        .unwrap();
    let claims = trusting.validate(&bound, &keys).unwrap();
    assert!(claims.is_sender_constrained());
    let keys_source = RemoteJwks::builder(idp.jwks_url()).build().await.unwrap();
    let layer = BearerAuthLayer::new(JwtVerifier::new(keys_source, trusting))
        .answers(Answers::default().realm(REALM));
    let base = serve(
        Router::new()
            .route("/me", get(|| async { "ok" }))
            .route_layer(layer),
    )
    .await;
    let url = format!("{base}/me");
    assert_eq!(bearer(&t.http, &url, &bound).await, Answer::ok());
    assert_eq!(bearer(&t.http, &url, &token).await, Answer::ok());
}

#[tokio::test]
async fn a_tampered_token_is_refused_while_its_original_sits_in_the_verified_token_cache() {
    let idp = TestIssuer::start().await;
    let t = Target::start(&idp).await;
    let good = idp.token().scope("read").sign();
    t.accepts("first use", &good).await;
    t.accepts("second use, from the cache", &good).await;
    let (_, payload, _) = tamper::parts(&good);
    let cases = [
        ("a flipped signature bit", tamper::flip_signature_bit(&good)),
        (
            "claims with one more scope",
            tamper::swap_payload(&good, &payload.replace("\"read\"", "\"read admin\"")),
        ),
        ("one more signature byte", format!("{good}A")),
        (
            "a later exp",
            tamper::swap_payload(&good, &payload.replace("\"exp\":", "\"exp\":1")),
        ),
    ];
    for (what, token) in cases {
        assert_ne!(token, good);
        t.refuses(what, &token, ErrorKind::InvalidSignature).await;
    }
    t.accepts("the original, still", &good).await;
}

#[tokio::test]
async fn a_cached_token_is_refused_once_its_key_leaves_the_key_set() {
    let idp = TestIssuer::start().await;
    let t = Target::start(&idp).await;
    let old_key = idp.signing_key();
    let by_old = idp.token().sign();
    t.accepts("first use", &by_old).await;
    t.accepts("from the cache", &by_old).await;
    // The issuer rotates and retires the old key; a token of the new key brings the new set.
    idp.rotate(Algorithm::ES256);
    idp.retire(old_key.kid());
    t.accepts("a token of the new key", &idp.token().sign())
        .await;
    t.refuses("the cached token", &by_old, ErrorKind::UnknownKey)
        .await;
}
