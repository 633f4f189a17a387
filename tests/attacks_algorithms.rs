// Test code: a failed unwrap, expect, panic or index is a failed test, not a crash an attacker
// can cause.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The attack suite of the security manual (`portcullis::manual::security`), algorithms: `alg:
//! none` in every spelling, HS256 keyed with a published public key, a token relabelled with
//! another algorithm of its key type.
//!
//! Each threat is driven through the real layer over HTTP and through the core API, with the
//! exact answer and `ErrorKind` asserted (the target and its helpers: `tests/common/attack.rs`).

mod common;

use common::attack::{DEFAULTS, Setup, Target, b64url_decode};
use portcullis::jwt::{Algorithm, ErrorKind, MalformedPart};
use portcullis_testkit::{TestIssuer, TestKey, TokenBuilder, tamper};
use serde_json::json;

#[tokio::test]
async fn alg_none_is_refused_in_every_spelling_signed_or_not() {
    let idp = TestIssuer::start().await;
    let t = Target::start(&idp).await;
    for alg in [
        "none", "None", "NONE", "nOnE", "none ", " none", "none\0", "NONE\n", "",
    ] {
        let signed = idp.token().header("alg", json!(alg)).sign();
        t.refuses(
            &format!("{alg:?} with the real signature"),
            &signed,
            ErrorKind::UnsupportedAlgorithm,
        )
        .await;
        t.refuses(
            &format!("{alg:?} with one junk byte of signature"),
            &tamper::with_signature(&signed, b"\0"),
            ErrorKind::UnsupportedAlgorithm,
        )
        .await;
        // The unsecured JWS shape (RFC 7519 section 6): an empty signature segment.
        t.refuses(
            &format!("{alg:?} unsigned"),
            &tamper::strip_signature(&signed),
            ErrorKind::Malformed(MalformedPart::Signature),
        )
        .await;
    }
    // Spelled with JSON escapes it is still the name `none`.
    let (_, claims) = t.raw_parts();
    let escaped = TokenBuilder::sign_raw(
        &idp.signing_key(),
        r#"{"alg":"\u006eone","typ":"at+jwt","kid":"rsa-1"}"#,
        &claims.to_string(),
    );
    t.refuses("escaped none", &escaped, ErrorKind::UnsupportedAlgorithm)
        .await;
    // Without a usable `alg` there is nothing to check the signature with.
    for (what, alg) in [
        ("null", json!(null)),
        ("a number", json!(0)),
        ("a list", json!(["RS256"])),
        ("an object", json!({"name": "RS256"})),
    ] {
        let token = idp.token().header("alg", alg).sign();
        t.refuses(
            &format!("alg as {what}"),
            &token,
            ErrorKind::Malformed(MalformedPart::Header),
        )
        .await;
    }
    let token = idp.token().remove_header("alg").sign();
    t.refuses(
        "no alg",
        &token,
        ErrorKind::Malformed(MalformedPart::Header),
    )
    .await;
}

/// Every form in which an RSA public key is commonly handled, as the bytes an attacker would
/// try as an HMAC secret.
fn rsa_public_key_encodings(key: &TestKey) -> Vec<(&'static str, Vec<u8>)> {
    let pem = key.public_pem();
    let der = key.public_spki_der();
    // A 2048-bit RSA SubjectPublicKeyInfo is a fixed 24-byte prefix, then the PKCS#1 key.
    assert_eq!(der[..4], [0x30, 0x82, 0x01, 0x22]);
    let pkcs1 = der[24..].to_vec();
    let jwk = key.public_jwk();
    let n = jwk["n"].as_str().unwrap().to_owned();
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    vec![
        ("PEM as published", pem.clone().into_bytes()),
        ("PEM without surrounding whitespace", pem.trim().into()),
        ("PEM with CRLF line ends", pem.replace('\n', "\r\n").into()),
        ("PEM body without its armour", body.into_bytes()),
        ("SubjectPublicKeyInfo DER", der),
        ("PKCS#1 RSAPublicKey DER", pkcs1),
        ("JWK JSON", jwk.to_string().into_bytes()),
        (
            "JWK JSON, pretty",
            serde_json::to_string_pretty(&jwk).unwrap().into_bytes(),
        ),
        ("raw modulus bytes", b64url_decode(&n)),
        ("modulus as base64url text", n.into_bytes()),
    ]
}

fn ec_public_key_encodings(key: &TestKey) -> Vec<(&'static str, Vec<u8>)> {
    let pem = key.public_pem();
    let der = key.public_spki_der();
    let jwk = key.public_jwk();
    // The SEC 1 uncompressed point ends the SubjectPublicKeyInfo: 0x04 || x || y.
    let point = der[der.len() - 65..].to_vec();
    assert_eq!(point[0], 0x04);
    vec![
        ("PEM as published", pem.clone().into_bytes()),
        ("PEM without surrounding whitespace", pem.trim().into()),
        ("SubjectPublicKeyInfo DER", der),
        ("JWK JSON", jwk.to_string().into_bytes()),
        ("raw uncompressed point", point),
        (
            "raw x coordinate",
            b64url_decode(jwk["x"].as_str().unwrap()),
        ),
    ]
}

#[tokio::test]
async fn hs256_keyed_with_a_published_public_key_is_refused_in_every_encoding() {
    let rsa = TestKey::generate(Algorithm::RS256).with_kid("rsa-1");
    let ec = TestKey::generate(Algorithm::ES256).with_kid("ec-1");
    let idp = TestIssuer::builder()
        .key(rsa.clone())
        .key(ec.clone())
        .start()
        .await;
    // A deployment that also accepts HS256 (its secrets would come from elsewhere): the
    // published public keys are bound to their own algorithms and never verify HS256.
    let lenient = Target::start_with(
        &idp,
        Setup {
            algorithms: &[Algorithm::RS256, Algorithm::ES256, Algorithm::HS256],
            ..DEFAULTS
        },
    )
    .await;
    // The default deployment does not accept HS* at all.
    let strict = Target::start(&idp).await;
    let cases = rsa_public_key_encodings(&rsa)
        .into_iter()
        .map(|(what, secret)| (&rsa, what, secret))
        .chain(
            ec_public_key_encodings(&ec)
                .into_iter()
                .map(|(what, secret)| (&ec, what, secret)),
        );
    for (public, what, secret) in cases {
        let forger = TestKey::hmac(Algorithm::HS256, &secret).with_kid(public.kid());
        let what = format!("{} key, {what}", public.alg());
        let forged = lenient.signed_by(&forger).sign();
        lenient
            .refuses(
                &what,
                &forged,
                ErrorKind::KeyAlgorithmMismatch(Algorithm::HS256),
            )
            .await;
        strict
            .refuses(
                &what,
                &forged,
                ErrorKind::DisallowedAlgorithm(Algorithm::HS256),
            )
            .await;
        // Without a `kid`, no key of the set may verify HS256: nothing is tried.
        let no_kid = lenient.signed_by(&forger).remove_header("kid").sign();
        lenient
            .refuses(&format!("{what}, no kid"), &no_kid, ErrorKind::UnknownKey)
            .await;
    }
    // The real keys still verify their own algorithms.
    lenient
        .accepts("RS256", &lenient.signed_by(&rsa).sign())
        .await;
    lenient
        .accepts("ES256", &lenient.signed_by(&ec).sign())
        .await;
}

#[tokio::test]
async fn a_token_relabelled_with_another_algorithm_of_its_key_type_is_refused() {
    let rsa = TestKey::generate(Algorithm::RS256).with_kid("rsa-1");
    let ec = TestKey::generate(Algorithm::ES256).with_kid("ec-1");
    let ed = TestKey::generate(Algorithm::EdDSA).with_kid("ed-1");
    let idp = TestIssuer::builder()
        .key(rsa.clone())
        .key(ec.clone())
        .key(ed.clone())
        .start()
        .await;
    let t = Target::start(&idp).await;
    // Each JWK says its `alg`: a key is bound to that one algorithm.
    for alg in ["RS384", "RS512", "PS256", "PS384", "PS512"] {
        let token = t.signed_by(&rsa).header("alg", json!(alg)).sign();
        let alg = Algorithm::from_jose(alg).unwrap();
        t.refuses(
            &format!("RS256 relabelled {alg}"),
            &token,
            ErrorKind::KeyAlgorithmMismatch(alg),
        )
        .await;
    }
    for (key, alg) in [(&ec, Algorithm::ES384), (&ec, Algorithm::ES512)] {
        let token = t.signed_by(key).header("alg", json!(alg.as_str())).sign();
        t.refuses(
            &format!("ES256 relabelled {alg}"),
            &token,
            ErrorKind::KeyAlgorithmMismatch(alg),
        )
        .await;
    }
    // `EdDSA` and `Ed25519` (RFC 9864) name the very same signature on an Ed25519 key: the
    // relabelled token is the same algorithm, not a confusion, and verifies.
    let renamed = t.signed_by(&ed).header("alg", json!("Ed25519")).sign();
    t.accepts("EdDSA relabelled with its RFC 9864 name", &renamed)
        .await;
    // Names portcullis does not implement (other curves) are unsupported.
    for (key, alg) in [(&ed, "Ed448"), (&ec, "ES256K"), (&rsa, "RS1")] {
        let token = t.signed_by(key).header("alg", json!(alg)).sign();
        t.refuses(alg, &token, ErrorKind::UnsupportedAlgorithm)
            .await;
    }

    // A JWK without `alg` is bound to its whole family: then the signature itself decides.
    let mut unbound = rsa.public_jwk();
    unbound.as_object_mut().unwrap().remove("alg");
    idp.set_jwks_override(Some(json!({ "keys": [unbound] })));
    let t = Target::start(&idp).await;
    let pss = rsa.clone().with_alg(Algorithm::PS256);
    t.accepts("PS256 with an unbound RSA key", &t.signed_by(&pss).sign())
        .await;
    let relabelled = t.signed_by(&pss).header("alg", json!("RS256")).sign();
    t.refuses(
        "PSS signature relabelled RS256",
        &relabelled,
        ErrorKind::InvalidSignature,
    )
    .await;
    let relabelled = t.signed_by(&rsa).header("alg", json!("PS256")).sign();
    t.refuses(
        "PKCS#1 signature relabelled PS256",
        &relabelled,
        ErrorKind::InvalidSignature,
    )
    .await;
}
