// Tests may unwrap, index and panic: a failure is the test's report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Reading `iss` and the `kid` length before verification, under the parser's own rules.

use portcullis_core::jws::{unverified_issuer, unverified_kid_len};
use portcullis_core::{ErrorKind, MalformedPart};
use portcullis_testkit::b64url;

fn token(header: &str, payload: &str) -> String {
    format!(
        "{}.{}.c2ln",
        b64url(header.as_bytes()),
        b64url(payload.as_bytes())
    )
}

fn kind(token: &str, max: usize) -> ErrorKind {
    unverified_issuer(token, max).unwrap_err().into_kind()
}

#[test]
fn reads_iss_and_refuses_what_is_not_a_string_iss() {
    let t = token(
        r#"{"alg":"ES256","kid":"abc"}"#,
        r#"{"iss":"https://a","sub":"x"}"#,
    );
    assert_eq!(unverified_issuer(&t, 8192).unwrap(), "https://a");
    assert_eq!(unverified_kid_len(&t, 8192), Some(3));
    assert_eq!(unverified_kid_len(&token("{}", "{}"), 8192), None);

    assert!(matches!(
        kind(&token("{}", r#"{"sub":"x"}"#), 8192),
        ErrorKind::MissingClaim(_)
    ));
    assert!(matches!(
        kind(&token("{}", r#"{"iss":5}"#), 8192),
        ErrorKind::InvalidClaim(_)
    ));
    assert_eq!(
        kind(
            &token("{}", r#"{"iss":"https://a","iss":"https://b"}"#),
            8192
        ),
        ErrorKind::Malformed(MalformedPart::DuplicatePayloadMember)
    );
    assert_eq!(
        kind(&token("{}", r#"{"iss":"https://a"} x"#), 8192),
        ErrorKind::Malformed(MalformedPart::Payload)
    );
    assert_eq!(
        kind(&token("{}", r#"["iss"]"#), 8192),
        ErrorKind::Malformed(MalformedPart::Payload)
    );
}

#[test]
fn shape_and_size_are_checked_first() {
    assert_eq!(kind("", 10), ErrorKind::Malformed(MalformedPart::Empty));
    assert_eq!(
        kind("a.b.c.d", 100),
        ErrorKind::Malformed(MalformedPart::Segments)
    );
    assert_eq!(kind("aaaa.bbbb.cccc", 5), ErrorKind::TooLarge { limit: 5 });
    assert_eq!(
        kind("e30.e30=.c2ln", 100),
        ErrorKind::Malformed(MalformedPart::Base64)
    );
    assert_eq!(
        kind("e30.e3+.c2ln", 100),
        ErrorKind::Malformed(MalformedPart::Base64)
    );
}
