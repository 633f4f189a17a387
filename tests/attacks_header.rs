// Test code: a failed unwrap, expect, panic or index is a failed test, not a crash an attacker
// can cause.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The attack suite of the security manual (`portcullis::manual::security`), the header: keys and
//! URLs smuggled in the header, `kid` injection, unknown `crit` members and unencoded payloads.
//!
//! Each threat is driven through the real layer over HTTP and through the core API, with the
//! exact answer and `ErrorKind` asserted (the target and its helpers: `tests/common/attack.rs`).

mod common;

use std::sync::atomic::Ordering;

use base64::Engine as _;
use common::attack::{MAX_TOKEN_LEN, Target, trap};
use portcullis::jwt::{Algorithm, ErrorKind, MalformedPart};
use portcullis::keys::DEFAULT_UNKNOWN_KID_BUDGET;
use portcullis_testkit::{TestIssuer, TestKey, TokenBuilder, b64url};
use serde_json::json;

#[tokio::test]
async fn keys_and_urls_smuggled_in_the_header_are_never_used_nor_fetched() {
    let idp = TestIssuer::start().await;
    let t = Target::start(&idp).await;
    let (trap, hits) = trap().await;
    let attacker = TestKey::generate(Algorithm::RS256).with_kid("rsa-1");
    let x5c = base64::engine::general_purpose::STANDARD.encode(attacker.public_spki_der());
    let smuggle = |b: TokenBuilder| {
        b.header("jwk", attacker.public_jwk())
            .header("jku", json!(format!("{trap}/jwks.json")))
            .header("x5u", json!(format!("{trap}/cert.pem")))
            .header("x5c", json!([x5c]))
            .header("x5t#S256", json!(b64url(&[0u8; 32])))
    };
    // The attacker's signature under the real `kid`: verified with the issuer's key.
    t.refuses(
        "attacker key in jwk, real kid",
        &smuggle(t.signed_by(&attacker)).sign(),
        ErrorKind::InvalidSignature,
    )
    .await;
    // No `kid`: the issuer's one RS256 key, still not the attacker's.
    t.refuses(
        "attacker key in jwk, no kid",
        &smuggle(t.signed_by(&attacker)).remove_header("kid").sign(),
        ErrorKind::InvalidSignature,
    )
    .await;
    // The attacker's own `kid`: unknown; the layer's one refetch goes to the configured JWKS.
    let own = attacker.clone().with_kid("attacker-1");
    t.refuses(
        "attacker kid with jku",
        &smuggle(t.signed_by(&own)).sign(),
        ErrorKind::UnknownKey,
    )
    .await;
    // A genuine token carrying the same members is just a genuine token: they are ignored.
    t.accepts("genuine token with jku", &smuggle(idp.token()).sign())
        .await;
    assert_eq!(hits.load(Ordering::SeqCst), 0, "a header URL was fetched");
}

#[tokio::test]
async fn kid_injection_is_only_ever_an_exact_lookup_that_fails() {
    let idp = TestIssuer::start().await;
    let t = Target::start(&idp).await;
    let fetches = idp.jwks_fetches();
    let huge = "k".repeat(4000);
    for kid in [
        "../../../../etc/passwd",
        "/dev/null",
        "file:///etc/passwd",
        "https://attacker.example/jwks.json",
        "' OR '1'='1",
        "rsa-1' --",
        "rsa-1\0",
        "rsa-1 ",
        " rsa-1",
        "RSA-1",
        "rsa-1\n",
        "ключ",
        "🔑",
        "\u{202e}1-asr",
        "",
        &huge,
    ] {
        let token = idp.token().header("kid", json!(kid)).sign();
        t.refuses(&format!("kid {:.40?}", kid), &token, ErrorKind::UnknownKey)
            .await;
    }
    let token = idp.token().header("kid", json!("k".repeat(9000))).sign();
    t.refuses(
        "kid past the size cap",
        &token,
        ErrorKind::TooLarge {
            limit: MAX_TOKEN_LEN,
        },
    )
    .await;
    for kid in [
        json!(null),
        json!(1),
        json!(["rsa-1"]),
        json!({"kid": "rsa-1"}),
    ] {
        let token = idp.token().header("kid", kid.clone()).sign();
        t.refuses(
            &format!("kid {kid}"),
            &token,
            ErrorKind::Malformed(MalformedPart::Header),
        )
        .await;
    }
    // The comparison is of the decoded JSON string: an escaped spelling of the real `kid` is
    // the real `kid`, and the signature still has to verify under it.
    let (_, claims) = t.raw_parts();
    let escaped = TokenBuilder::sign_raw(
        &idp.signing_key(),
        r#"{"alg":"RS256","typ":"at+jwt","kid":"rsa\u002d1"}"#,
        &claims.to_string(),
    );
    t.accepts("escaped real kid", &escaped).await;
    // Each unknown kid may ask for fresh keys, within the budget only.
    assert!(
        idp.jwks_fetches() <= fetches + DEFAULT_UNKNOWN_KID_BUDGET,
        "{} fetches for a flood of unknown kids",
        idp.jwks_fetches() - fetches
    );
}

#[tokio::test]
async fn unknown_crit_members_and_unencoded_payloads_are_refused() {
    let idp = TestIssuer::start().await;
    let t = Target::start(&idp).await;
    let cases: Vec<(&str, TokenBuilder, ErrorKind)> = vec![
        (
            "crit naming a present member",
            idp.token()
                .header("crit", json!(["exp"]))
                .header("exp", json!(1)),
            ErrorKind::UnknownCriticalHeader,
        ),
        (
            "crit naming an absent member",
            idp.token()
                .header("crit", json!(["https://attacker.example/ext"])),
            ErrorKind::UnknownCriticalHeader,
        ),
        (
            "b64 false, declared critical (RFC 7797)",
            idp.token()
                .header("b64", json!(false))
                .header("crit", json!(["b64"])),
            ErrorKind::UnknownCriticalHeader,
        ),
        (
            "b64 false, not declared critical",
            idp.token().header("b64", json!(false)),
            ErrorKind::UnknownCriticalHeader,
        ),
        (
            "empty crit",
            idp.token().header("crit", json!([])),
            ErrorKind::Malformed(MalformedPart::Header),
        ),
        (
            "crit as a string",
            idp.token().header("crit", json!("b64")),
            ErrorKind::Malformed(MalformedPart::Header),
        ),
        (
            "crit with a number",
            idp.token().header("crit", json!([1])),
            ErrorKind::Malformed(MalformedPart::Header),
        ),
        (
            "b64 as a string",
            idp.token().header("b64", json!("false")),
            ErrorKind::Malformed(MalformedPart::Header),
        ),
    ];
    for (what, builder, kind) in cases {
        t.refuses(what, &builder.sign(), kind).await;
    }
    // A detached, unencoded payload signed as RFC 7797 says: refused before the signature.
    let key = idp.signing_key();
    let header = b64url(br#"{"alg":"RS256","kid":"rsa-1","b64":false,"crit":["b64"]}"#);
    let payload = t.raw_parts().1.to_string();
    let signature = key.sign(format!("{header}.{payload}").as_bytes());
    let detached = format!("{header}..{}", b64url(&signature));
    t.refuses(
        "RFC 7797 detached",
        &detached,
        ErrorKind::Malformed(MalformedPart::Segments),
    )
    .await;
    // `b64: true` is the default and changes nothing.
    t.accepts("b64 true", &idp.token().header("b64", json!(true)).sign())
        .await;
}
