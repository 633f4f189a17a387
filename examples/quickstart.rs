//! The quickstart: a local authorization server, its keys fetched over HTTP, and tokens good
//! and bad checked by tollgate, each verdict printed with its reason.
//!
//! ```text
//! cargo run --example quickstart
//! ```
//!
//! It exits 0 when every verdict is the expected one, 1 otherwise.

// An example prints, and stops loudly on a setup failure.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::process::ExitCode;

use serde_json::json;
use tollgate_core::{Algorithm, AlgorithmSet, KeySet, ScopeRequirement, Validator};
use tollgate_testkit::{TestIssuer, TestKey, TokenBuilder, tamper};

#[tokio::main]
async fn main() -> ExitCode {
    // 1. An authorization server on 127.0.0.1 with an RS256 signing key.
    let issuer = TestIssuer::start().await;
    println!("authorization server: {}", issuer.issuer());

    // 2. The resource server's side: fetch the JWKS, trust this issuer, for audience "api".
    let keys = fetch_keys(&issuer).await;
    let validator = Validator::builder()
        .issuer(issuer.issuer())
        .audience("api")
        .build()
        .expect("a valid configuration");
    let orders_read = ScopeRequirement::all_of(["orders.read"]);

    // 3. Tokens, good and bad, and what tollgate says of each.
    let attacker = TestKey::generate(Algorithm::HS256).with_kid(issuer.signing_key().kid());
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "a good token",
            issuer.token().scope("orders.read").sign(),
            "ok",
        ),
        (
            "expired an hour ago",
            issuer.token().expires_in(-3600).sign(),
            "expired",
        ),
        (
            "for another API",
            issuer.token().audience("billing").sign(),
            "wrong_audience",
        ),
        (
            "from another issuer",
            issuer.token().issuer("https://evil.example").sign(),
            "wrong_issuer",
        ),
        (
            "payload edited after signing",
            tamper::swap_payload(&issuer.token().sign(), r#"{"sub":"admin"}"#),
            "invalid_signature",
        ),
        (
            "alg: none",
            tamper::strip_signature(&issuer.token().header("alg", json!("none")).sign()),
            "malformed",
        ),
        (
            "HS256 forged with a guessed secret",
            TokenBuilder::new(&attacker).issuer(&issuer.issuer()).sign(),
            "disallowed_algorithm",
        ),
        (
            "an ID token, not an access token",
            issuer.token().header("typ", json!("id_token+jwt")).sign(),
            "wrong_type",
        ),
        (
            "a good token without the scope",
            issuer.token().scope("profile").sign(),
            "insufficient_scope",
        ),
    ];
    let mut all_expected = true;
    for (what, token, expected) in &cases {
        // Every route of this API requires `orders.read`.
        let verdict = validator
            .validate(token, &keys)
            .and_then(|claims| orders_read.check(claims.scopes()).map(|()| claims));
        let (code, shown) = match &verdict {
            Ok(claims) => (
                "ok",
                format!("accepted, sub={}", claims.subject().unwrap_or("-")),
            ),
            Err(e) => (e.code(), format!("refused: {e}")),
        };
        all_expected &= code == *expected;
        let mark = if code == *expected {
            "as expected"
        } else {
            "UNEXPECTED"
        };
        println!("{what:<36} {shown:<60} [{mark}]");
    }

    // 4. Key rotation: a token signed by a new key is unknown until the keys are fetched again.
    let new_key = issuer.rotate(Algorithm::ES256);
    let rotated = issuer.token().sign();
    let before = validator
        .validate(&rotated, &keys)
        .map(|_| ())
        .map_err(|e| e.code());
    let keys = fetch_keys(&issuer).await;
    let after = validator
        .validate(&rotated, &keys)
        .map(|_| ())
        .map_err(|e| e.code());
    println!(
        "after rotating to {} ({}): before refetch {:?}, after {:?}",
        new_key.kid(),
        new_key.alg(),
        before,
        after
    );
    all_expected &= before == Err("unknown_key") && after == Ok(());

    if all_expected {
        println!("every verdict as expected");
        ExitCode::SUCCESS
    } else {
        println!("some verdicts were not the expected ones");
        ExitCode::FAILURE
    }
}

async fn fetch_keys(issuer: &TestIssuer) -> KeySet {
    let body = reqwest::get(issuer.jwks_url())
        .await
        .expect("the JWKS endpoint answers")
        .text()
        .await
        .expect("a JWKS body");
    let loaded = KeySet::from_jwks(&body, AlgorithmSet::ASYMMETRIC).expect("a usable JWKS");
    println!(
        "fetched {} key(s) from {}",
        loaded.keys.len(),
        issuer.jwks_url()
    );
    loaded.keys
}
