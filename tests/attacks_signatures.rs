// Test code: a failed unwrap, expect, panic or index is a failed test, not a crash an attacker
// can cause.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The attack suite of the security manual (`portcullis::manual::security`), signatures: psychic
//! and misencoded ECDSA signatures, non-canonical Ed25519 signatures, truncated, padded and
//! out-of-range RSA signatures.
//!
//! Each threat is driven through the real layer over HTTP and through the core API, with the
//! exact answer and `ErrorKind` asserted (the target and its helpers: `tests/common/attack.rs`).

mod common;

use common::attack::{Target, b64url_decode};
use portcullis::jwt::{Algorithm, ErrorKind};
use portcullis_testkit::{TestIssuer, TestKey, tamper};
use serde_json::json;

fn unhex(hex: &str) -> Vec<u8> {
    assert_eq!(hex.len() % 2, 0);
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

fn signature_of(token: &str) -> Vec<u8> {
    b64url_decode(token.rsplit_once('.').unwrap().1)
}

/// The group orders of P-256, P-384 and P-521 (SEC 2), big-endian, at the JWS coordinate size.
const P256_N: &str = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";
const P384_N: &str = "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973";
const P521_N: &str = "01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409";

/// `a` then `b`.
fn cat(a: &[u8], b: &[u8]) -> Vec<u8> {
    [a, b].concat()
}

/// `a - b` for big-endian integers of the same length, `a >= b`.
fn sub_be(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; a.len()];
    let mut borrow = 0i16;
    for i in (0..a.len()).rev() {
        let mut d = i16::from(a[i]) - i16::from(b[i]) - borrow;
        borrow = i16::from(d < 0);
        if d < 0 {
            d += 256;
        }
        out[i] = u8::try_from(d).unwrap();
    }
    assert_eq!(borrow, 0);
    out
}

/// An ECDSA signature `r || s` (IEEE P1363) re-encoded as the DER `Ecdsa-Sig-Value` that
/// X.509 and most crypto APIs use.
fn der_signature(p1363: &[u8]) -> Vec<u8> {
    fn push_len(out: &mut Vec<u8>, len: usize) {
        if len < 0x80 {
            out.push(u8::try_from(len).unwrap());
        } else {
            out.push(0x81);
            out.push(u8::try_from(len).unwrap());
        }
    }
    let integer = |v: &[u8]| {
        let start = v.iter().position(|b| *b != 0).unwrap_or(v.len() - 1);
        let v = &v[start..];
        let pad = v[0] & 0x80 != 0;
        let mut out = vec![0x02];
        push_len(&mut out, v.len() + usize::from(pad));
        if pad {
            out.push(0);
        }
        out.extend_from_slice(v);
        out
    };
    let (r, s) = p1363.split_at(p1363.len() / 2);
    let body = [integer(r), integer(s)].concat();
    let mut out = vec![0x30];
    push_len(&mut out, body.len());
    out.extend_from_slice(&body);
    out
}

#[tokio::test]
async fn psychic_and_misencoded_ecdsa_signatures_are_refused() {
    let keys = [
        (TestKey::generate(Algorithm::ES256).with_kid("p256"), P256_N),
        (TestKey::generate(Algorithm::ES384).with_kid("p384"), P384_N),
        (TestKey::generate(Algorithm::ES512).with_kid("p521"), P521_N),
    ];
    let mut idp = TestIssuer::builder();
    for (key, _) in &keys {
        idp = idp.key(key.clone());
    }
    let idp = idp.start().await;
    let t = Target::start(&idp).await;
    for (key, n) in &keys {
        let alg = key.alg();
        let n = unhex(n);
        let w = n.len();
        let good = t.signed_by(key).sign();
        let sig = signature_of(&good);
        assert_eq!(sig.len(), 2 * w);
        let (r, s) = sig.split_at(w);
        let zero = vec![0u8; w];
        let mut one = vec![0u8; w];
        one[w - 1] = 1;
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("r = s = 0 (CVE-2022-21449)", cat(&zero[..], &zero)),
            ("r = s = n", cat(&n[..], &n)),
            ("r = 0, s = n", cat(&zero[..], &n)),
            ("r = n, s = 0", cat(&n[..], &zero)),
            ("r = s = 1", cat(&one[..], &one)),
            ("real r, s = 0", cat(r, &zero)),
            ("r = 0, real s", cat(&zero[..], s)),
            ("real r, s = n", cat(r, &n)),
            ("all ones", vec![0xff; 2 * w]),
            ("DER instead of P1363", der_signature(&sig)),
            ("one byte short", sig[..2 * w - 1].to_vec()),
            ("one leading zero byte more", cat(&[0u8][..], &sig)),
            ("s alone", s.to_vec()),
        ];
        for (what, forged) in cases {
            t.refuses(
                &format!("{alg}: {what}"),
                &tamper::with_signature(&good, &forged),
                ErrorKind::InvalidSignature,
            )
            .await;
        }
        // ECDSA is malleable: (r, n - s) verifies the same message. This is no forgery (the
        // claims are the genuine ones), but it is why a token's bytes never identify it.
        let malleated = tamper::with_signature(&good, &cat(r, &sub_be(&n, s)));
        assert_ne!(malleated, good);
        t.accepts(&format!("{alg}: (r, n - s)"), &malleated).await;
    }
}

/// The order of the Ed25519 base point, L = 2^252 + 27742317777372353535851937790883648493,
/// little-endian as signatures hold S.
const ED25519_L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

fn add_le(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; a.len()];
    let mut carry = 0u16;
    for i in 0..a.len() {
        let sum = u16::from(a[i]) + u16::from(b[i]) + carry;
        out[i] = u8::try_from(sum & 0xff).unwrap();
        carry = sum >> 8;
    }
    assert_eq!(carry, 0);
    out
}

#[tokio::test]
async fn non_canonical_and_degenerate_ed25519_signatures_are_refused() {
    let ed = TestKey::generate(Algorithm::EdDSA).with_kid("ed-1");
    let idp = TestIssuer::builder().key(ed.clone()).start().await;
    let t = Target::start(&idp).await;
    let good = t.signed_by(&ed).sign();
    t.accepts("genuine", &good).await;
    let sig = signature_of(&good);
    let (r, s) = sig.split_at(32);
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let mut high_bit = s.to_vec();
    high_bit[31] |= 0x80;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("S + L (non-canonical S)", cat(r, &add_le(s, &ED25519_L))),
        ("S = L", cat(r, &ED25519_L[..])),
        ("S with its top bit set", cat(r, &high_bit)),
        ("all zeros", vec![0; 64]),
        ("R = identity, S = 0", cat(&identity[..], &[0u8; 32])),
        ("one byte short", sig[..63].to_vec()),
        ("one byte more", cat(&sig[..], &[0u8])),
    ];
    for (what, forged) in cases {
        t.refuses(
            what,
            &tamper::with_signature(&good, &forged),
            ErrorKind::InvalidSignature,
        )
        .await;
    }
}

#[tokio::test]
async fn truncated_padded_and_out_of_range_rsa_signatures_are_refused() {
    let rs = TestKey::generate(Algorithm::RS256).with_kid("rs");
    let ps = TestKey::generate(Algorithm::PS256).with_kid("ps");
    let idp = TestIssuer::builder()
        .key(rs.clone())
        .key(ps.clone())
        .start()
        .await;
    let t = Target::start(&idp).await;
    for key in [&rs, &ps] {
        let alg = key.alg();
        let good = t.signed_by(key).sign();
        let sig = signature_of(&good);
        assert_eq!(sig.len(), 256);
        let modulus = b64url_decode(key.public_jwk()["n"].as_str().unwrap());
        let mut last_is_one = vec![0u8; 256];
        last_is_one[255] = 1;
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("first byte dropped", sig[1..].to_vec()),
            ("last byte dropped", sig[..255].to_vec()),
            ("a leading zero byte added", cat(&[0u8][..], &sig)),
            ("a trailing zero byte added", cat(&sig[..], &[0u8])),
            ("the signature twice", cat(&sig[..], &sig)),
            ("all zeros", vec![0; 256]),
            ("the integer 1", last_is_one),
            ("the modulus itself (s = n)", modulus.clone()),
            ("one byte", vec![1]),
        ];
        for (what, forged) in cases {
            t.refuses(
                &format!("{alg}: {what}"),
                &tamper::with_signature(&good, &forged),
                ErrorKind::InvalidSignature,
            )
            .await;
        }
    }
    // A genuine RS256 signature whose first byte is zero, written without it: RFC 8017
    // (RSASSA-PKCS1-V1_5-VERIFY, step 1) wants exactly k octets, so it is refused too.
    let leading_zero = (0..4096)
        .map(|i| t.signed_by(&rs).claim("jti", json!(format!("z{i}"))).sign())
        .find(|token| signature_of(token)[0] == 0)
        .expect("one signature in 256 starts with a zero byte");
    t.accepts("the genuine signature", &leading_zero).await;
    let sig = signature_of(&leading_zero);
    t.refuses(
        "RS256: the leading zero byte left out",
        &tamper::with_signature(&leading_zero, &sig[1..]),
        ErrorKind::InvalidSignature,
    )
    .await;
}
