// Test code: a failed unwrap, expect, panic or index is a failed test, not a crash an attacker
// can cause.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The attack suite of the security manual (`portcullis::manual::security`), serializations: JWS
//! JSON serializations, JWE-shaped and nested tokens.
//!
//! Each threat is driven through the real layer over HTTP and through the core API, with the
//! exact answer and `ErrorKind` asserted (the target and its helpers: `tests/common/attack.rs`).

mod common;

use common::attack::{Answer, Target};
use portcullis::jwt::{ErrorKind, MalformedPart};
use portcullis_testkit::{TestIssuer, TokenBuilder, b64url};
use serde_json::Value;

#[tokio::test]
async fn json_serializations_and_jwe_shaped_tokens_are_refused() {
    let idp = TestIssuer::start().await;
    let t = Target::start(&idp).await;
    let good = idp.token().sign();
    let mut segments = good.split('.');
    let (h, p, s) = (
        segments.next().unwrap(),
        segments.next().unwrap(),
        segments.next().unwrap(),
    );
    // JWS JSON serializations (RFC 7515 section 7.2) of the genuine token: not compact, and
    // not even a `b64token`, so the request itself is malformed.
    let general =
        format!(r#"{{"payload":"{p}","signatures":[{{"protected":"{h}","signature":"{s}"}}]}}"#);
    let flattened = format!(r#"{{"payload":"{p}","protected":"{h}","signature":"{s}"}}"#);
    for (what, token) in [("general", &general), ("flattened", &flattened)] {
        t.refuses_with(
            &format!("{what} JSON serialization"),
            token,
            ErrorKind::Malformed(MalformedPart::Segments),
            Answer::invalid_request(),
        )
        .await;
    }
    let jwe_header = b64url(br#"{"alg":"RSA-OAEP-256","enc":"A256GCM","kid":"rsa-1"}"#);
    let dir_header = b64url(br#"{"alg":"dir","enc":"A128CBC-HS256"}"#);
    let blob = |n: usize| b64url(&vec![0x5a; n]);
    for (what, token) in [
        (
            "JSON serialization, base64url as a whole",
            b64url(general.as_bytes()),
        ),
        (
            "JWE, RSA-OAEP (five segments)",
            format!(
                "{jwe_header}.{}.{}.{}.{}",
                blob(256),
                blob(12),
                blob(40),
                blob(16)
            ),
        ),
        (
            "JWE, dir (empty encrypted key)",
            format!("{dir_header}..{}.{}.{}", blob(16), blob(40), blob(16)),
        ),
        (
            "the genuine token with a fourth segment",
            format!("{good}.{s}"),
        ),
        (
            "the genuine token inside a five-segment shape",
            format!("{good}.{s}.{s}"),
        ),
        ("detached payload", format!("{h}..{s}")),
        ("no header", format!(".{p}.{s}")),
    ] {
        t.refuses(what, &token, ErrorKind::Malformed(MalformedPart::Segments))
            .await;
    }
    // A nested JWT (`cty: JWT`): the signed payload is a token, not a claims object.
    let nested = TokenBuilder::sign_raw(
        &idp.signing_key(),
        r#"{"alg":"RS256","kid":"rsa-1","cty":"JWT"}"#,
        &Value::from(good.as_str()).to_string(),
    );
    t.refuses(
        "nested JWT",
        &nested,
        ErrorKind::Malformed(MalformedPart::Payload),
    )
    .await;
}
