// Test code: a failed unwrap, expect, panic or index is a failed test, not a crash an attacker
// can cause.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The attack suite of the security manual (`portcullis::manual::security`), sizes: oversize tokens
//! and deeply nested JSON.
//!
//! Each threat is driven through the real layer over HTTP and through the core API, with the
//! exact answer and `ErrorKind` asserted (the target and its helpers: `tests/common/attack.rs`).

mod common;

use common::attack::{MAX_TOKEN_LEN, Target, object_with};
use portcullis::jwt::{ErrorKind, MalformedPart};
use portcullis_testkit::{TestIssuer, TokenBuilder};
use serde_json::json;

/// A genuine token of exactly `len` bytes, padded with a `pad` claim (and, to reach lengths
/// that base64url cannot end on, a header member).
fn token_of_len(idp: &TestIssuer, len: usize) -> String {
    let key = idp.signing_key();
    let b64_len = |n: usize| n / 3 * 4 + [0, 2, 3][n % 3];
    let now = idp.token().claims_json()["iat"].as_i64().unwrap();
    for header_pad in 0..3 {
        let header = idp
            .token()
            .header("x", json!("h".repeat(header_pad)))
            .header_json()
            .to_string();
        let mut claims = idp.token().now(now).claim("pad", json!("")).claims_json();
        let bare_len = claims.to_string().len();
        let fixed = b64_len(header.len()) + 2 + 342;
        for pad in 0..len {
            if fixed + b64_len(bare_len + pad) == len {
                claims["pad"] = json!("p".repeat(pad));
                let token = TokenBuilder::sign_raw(&key, &header, &claims.to_string());
                assert_eq!(token.len(), len);
                return token;
            }
        }
    }
    panic!("no token of {len} bytes");
}

#[tokio::test]
async fn oversize_tokens_and_deeply_nested_json_are_refused_before_any_work() {
    let idp = TestIssuer::start().await;
    let t = Target::start(&idp).await;
    let too_large = ErrorKind::TooLarge {
        limit: MAX_TOKEN_LEN,
    };
    t.accepts("exactly 8 KiB", &token_of_len(&idp, MAX_TOKEN_LEN))
        .await;
    t.refuses(
        "8 KiB and one byte",
        &token_of_len(&idp, MAX_TOKEN_LEN + 1),
        too_large.clone(),
    )
    .await;
    for size in [64 * 1024, 128 * 1024] {
        let big = idp.token().claim("pad", json!("p".repeat(size))).sign();
        t.refuses(&format!("{size} bytes of claims"), &big, too_large.clone())
            .await;
    }
    // Not even split into segments: a long run of dots, or one long segment.
    t.refuses("16 KiB of dots", &".".repeat(16 * 1024), too_large.clone())
        .await;

    // Nesting past the scanner's depth limit, within the size cap: refused, no stack overflow.
    let key = idp.signing_key();
    let (header, claims) = t.raw_parts();
    let deep = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    for depth in [65, 2000] {
        let h = object_with(&format!(r#""x":{}"#, deep(depth)), &header);
        let token = TokenBuilder::sign_raw(&key, &h, &claims.to_string());
        t.refuses(
            &format!("header nested {depth} deep"),
            &token,
            ErrorKind::Malformed(MalformedPart::Header),
        )
        .await;
        let p = object_with(&format!(r#""x":{}"#, deep(depth)), &claims);
        let token = TokenBuilder::sign_raw(&key, &header.to_string(), &p);
        t.refuses(
            &format!("claims nested {depth} deep"),
            &token,
            ErrorKind::Malformed(MalformedPart::Payload),
        )
        .await;
    }
    let h = object_with(&format!(r#""x":{}"#, deep(63)), &header);
    t.accepts(
        "header nested 64 deep",
        &TokenBuilder::sign_raw(&key, &h, &claims.to_string()),
    )
    .await;

    // A request header far beyond any token is turned away by the HTTP server itself.
    let res = t
        .http
        .get(format!("{}/me", t.base))
        .header(
            "authorization",
            format!("Bearer {}", "a".repeat(1024 * 1024)),
        )
        .send()
        .await;
    if let Ok(res) = res {
        assert_eq!(res.status(), 431, "a 1 MiB header reached the application");
    }
}
