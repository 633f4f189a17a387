// Test code: a failed unwrap, expect, panic or index is a failed test, not a crash an attacker
// can cause.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The attack suite of the security manual (`portcullis::manual::security`), keys: weak HMAC
//! secrets.
//!
//! Each threat is driven through the real layer over HTTP and through the core API, with the
//! exact answer and `ErrorKind` asserted (the target and its helpers: `tests/common/attack.rs`).

mod common;

use common::attack::{DEFAULTS, Setup, Target};
use portcullis::jwt::{Algorithm, ErrorKind, KeyErrorKind, KeySet, VerifyingKey};
use portcullis_testkit::{TestIssuer, TestKey};

#[tokio::test]
async fn weak_hmac_secrets_are_refused_when_the_keys_are_loaded() {
    let weak = TestKey::hmac(Algorithm::HS256, &[7u8; 16]).with_kid("weak");
    let short_for_512 = TestKey::hmac(Algorithm::HS512, &[8u8; 48]).with_kid("short-512");
    let strong = TestKey::hmac(Algorithm::HS256, &[9u8; 32]).with_kid("strong");
    let idp = TestIssuer::builder()
        .key(TestKey::generate(Algorithm::ES256).with_kid("ec-1"))
        .key(weak.clone())
        .key(short_for_512.clone())
        .key(strong.clone())
        .publish_symmetric(true)
        .start()
        .await;
    // Even a deployment that opted into secrets from its JWKS skips the short ones.
    let t = Target::start_with(
        &idp,
        Setup {
            algorithms: &[Algorithm::ES256, Algorithm::HS256, Algorithm::HS512],
            ..DEFAULTS
        },
    )
    .await;
    t.refuses(
        "a 16-byte HS256 secret",
        &t.signed_by(&weak).sign(),
        ErrorKind::UnknownKey,
    )
    .await;
    t.refuses(
        "a 48-byte HS512 secret",
        &t.signed_by(&short_for_512).sign(),
        ErrorKind::UnknownKey,
    )
    .await;
    t.accepts("a 32-byte HS256 secret", &t.signed_by(&strong).sign())
        .await;

    let load = KeySet::from_jwks(&idp.jwks_json().to_string(), t.allowed).unwrap();
    let skipped: Vec<_> = load
        .skipped
        .iter()
        .map(|s| (s.kid.as_deref().unwrap(), s.error.kind().clone()))
        .collect();
    assert_eq!(
        skipped,
        [
            ("weak", KeyErrorKind::WeakSecret { len: 16, min: 32 }),
            ("short-512", KeyErrorKind::WeakSecret { len: 48, min: 64 }),
        ]
    );
    // The same rule for secrets given in code.
    for (alg, len, min) in [
        (Algorithm::HS256, 31, 32),
        (Algorithm::HS384, 47, 48),
        (Algorithm::HS512, 63, 64),
        (Algorithm::HS256, 0, 32),
    ] {
        let err = VerifyingKey::hmac(alg, &vec![1u8; len]).unwrap_err();
        assert_eq!(err.kind(), &KeyErrorKind::WeakSecret { len, min }, "{alg}");
    }
}
