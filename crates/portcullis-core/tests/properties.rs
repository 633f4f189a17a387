// Test code: a failed unwrap, expect, panic or index is a failed test, not a crash an attacker
// can cause.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Properties of token validation and key loading, on random inputs: no mutation of a valid
//! token is ever accepted, and no input, however odd, makes the parser, the validator or the
//! JWKS loader panic. (The JSON scanner's own differential properties against `serde_json`
//! live next to it, in `src/scan.rs`.)

use std::sync::LazyLock;

use portcullis_core::internal::parse_token;
use portcullis_core::{Algorithm, AlgorithmSet, KeySet, ManualClock, Validator, VerifyingKey};
use portcullis_testkit::{TestKey, TokenBuilder, b64url};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Value, json};

const NOW: i64 = 1_800_000_000;
const MAX_TOKEN_LEN: usize = 8 * 1024;

/// Keys of every family, a validator accepting every algorithm, and genuine tokens that it
/// accepts: the starting points of the mutations.
struct Fixture {
    keys: KeySet,
    validator: Validator,
    tokens: Vec<String>,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let signers = [
        TestKey::generate(Algorithm::HS256).with_kid("hs"),
        TestKey::generate(Algorithm::RS256).with_kid("rs"),
        TestKey::generate(Algorithm::PS256).with_kid("ps"),
        TestKey::generate(Algorithm::ES256).with_kid("es"),
        TestKey::generate(Algorithm::EdDSA).with_kid("ed"),
    ];
    let keys = signers
        .iter()
        .map(|k| VerifyingKey::from_jwk_json(&k.public_jwk().to_string(), AlgorithmSet::ALL))
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let validator = Validator::builder()
        .issuer("https://issuer.test")
        .audience("api")
        .algorithms(Algorithm::ALL)
        .clock(ManualClock::at(NOW))
        .build()
        .unwrap();
    let mut tokens = Vec::new();
    for key in &signers {
        let base = TokenBuilder::new(key).now(NOW);
        tokens.push(base.clone().sign());
        tokens.push(base.clone().scope("read write admin").sign());
        tokens.push(base.remove_header("kid").subject("user-2").sign());
    }
    let keys = KeySet::new(keys);
    for token in &tokens {
        validator.validate(token, &keys).unwrap();
    }
    Fixture {
        keys,
        validator,
        tokens,
    }
});

/// One change to a token's bytes.
#[derive(Debug, Clone)]
enum Mutation {
    /// XOR one byte with a 7-bit mask (an ASCII byte stays ASCII).
    Flip(Index, u8),
    /// Insert a character.
    Insert(Index, char),
    /// Delete up to `len` bytes.
    Delete(Index, usize),
    /// Overwrite one byte with an ASCII byte.
    Replace(Index, u8),
    /// Swap two of the three segments.
    SwapSegments(usize, usize),
    /// Replace one segment with the same segment of another genuine token.
    Splice(usize, Index),
    /// Cut the token short.
    Truncate(Index),
    /// Copy a run of bytes to another place.
    Duplicate(Index, usize, Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), 1u8..=0x7f).prop_map(|(i, m)| Mutation::Flip(i, m)),
        (any::<Index>(), any::<char>()).prop_map(|(i, c)| Mutation::Insert(i, c)),
        (any::<Index>(), 1usize..8).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (any::<Index>(), 0u8..=0x7f).prop_map(|(i, b)| Mutation::Replace(i, b)),
        (0usize..3, 0usize..3).prop_map(|(a, b)| Mutation::SwapSegments(a, b)),
        (0usize..3, any::<Index>()).prop_map(|(s, i)| Mutation::Splice(s, i)),
        any::<Index>().prop_map(Mutation::Truncate),
        (any::<Index>(), 1usize..16, any::<Index>())
            .prop_map(|(a, n, b)| Mutation::Duplicate(a, n, b)),
    ]
}

fn apply(token: &str, mutation: &Mutation, others: &[String]) -> String {
    let mut bytes = token.as_bytes().to_vec();
    let len = bytes.len().max(1);
    match mutation {
        Mutation::Flip(at, mask) => {
            if let Some(b) = bytes.get_mut(at.index(len)) {
                *b ^= mask;
            }
        }
        Mutation::Insert(at, c) => {
            let mut buf = [0u8; 4];
            let at = at.index(bytes.len() + 1);
            bytes.splice(at..at, c.encode_utf8(&mut buf).bytes());
        }
        Mutation::Delete(at, n) => {
            let at = at.index(len).min(bytes.len());
            let end = (at + n).min(bytes.len());
            bytes.drain(at..end);
        }
        Mutation::Replace(at, byte) => {
            if let Some(b) = bytes.get_mut(at.index(len)) {
                *b = *byte;
            }
        }
        Mutation::SwapSegments(a, b) => {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let mut segments: Vec<&str> = text.split('.').collect();
            if *a < segments.len() && *b < segments.len() {
                segments.swap(*a, *b);
            }
            bytes = segments.join(".").into_bytes();
        }
        Mutation::Splice(segment, from) => {
            let other = &others[from.index(others.len())];
            let donor: Vec<&str> = other.split('.').collect();
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let mut segments: Vec<&str> = text.split('.').collect();
            if let (Some(slot), Some(piece)) = (segments.get_mut(*segment), donor.get(*segment)) {
                *slot = piece;
            }
            bytes = segments.join(".").into_bytes();
        }
        Mutation::Truncate(at) => bytes.truncate(at.index(len)),
        Mutation::Duplicate(from, n, to) => {
            let from = from.index(len).min(bytes.len());
            let end = (from + n).min(bytes.len());
            let run = bytes[from..end].to_vec();
            let to = to.index(bytes.len() + 1);
            bytes.splice(to..to, run);
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Text that looks like JSON to the scanner: its punctuation, escapes, numbers, the header
/// and claim names it reads, and some noise.
fn json_ish() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("{".to_owned()),
        Just("}".to_owned()),
        Just("[".to_owned()),
        Just("]".to_owned()),
        Just("\"".to_owned()),
        Just(":".to_owned()),
        Just(",".to_owned()),
        Just("\\".to_owned()),
        Just("\\u".to_owned()),
        Just("\\ud800".to_owned()),
        Just("\\udc00".to_owned()),
        Just("\\u0000".to_owned()),
        Just(" ".to_owned()),
        Just("-".to_owned()),
        Just("0".to_owned()),
        Just("1e400".to_owned()),
        Just("-0.5E-3".to_owned()),
        Just("true".to_owned()),
        Just("null".to_owned()),
        Just("\"alg\":\"ES256\"".to_owned()),
        Just("\"alg\":\"none\"".to_owned()),
        Just("\"kid\":\"es\"".to_owned()),
        Just("\"crit\":[\"b64\"]".to_owned()),
        Just("\"b64\":false".to_owned()),
        Just("\"exp\":1900000000".to_owned()),
        Just("\"aud\":[\"api\"]".to_owned()),
        Just("\"iss\":\"https://issuer.test\"".to_owned()),
        "[a-z0-9]{1,4}",
        any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(piece, 0..40).prop_map(|pieces| pieces.concat())
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "[a-zA-Z0-9+/=_\\-\"\\\\é]{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::from),
            prop::collection::btree_map("[a-z]{1,4}|alg|kid|exp|aud|iss|crit", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A compact-JWS-shaped string: three base64url segments over JSON-ish text, JSON values or
/// raw bytes, so that inputs get past the shape checks into the header and claims readers.
fn token_shaped() -> impl Strategy<Value = String> {
    let segment = prop_oneof![
        json_ish().prop_map(|t| b64url(t.as_bytes())),
        json_value().prop_map(|v| b64url(v.to_string().as_bytes())),
        prop::collection::vec(any::<u8>(), 0..80).prop_map(|b| b64url(&b)),
        "[A-Za-z0-9_=+/ -]{0,12}",
    ];
    (segment.clone(), segment.clone(), segment)
        .prop_map(|(header, payload, signature)| format!("{header}.{payload}.{signature}"))
}

fn b64_member() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300).prop_map(|b| Value::from(b64url(&b))),
        "[A-Za-z0-9_+/=%-]{0,16}".prop_map(Value::from),
        Just(Value::from(1)),
        Just(Value::Null),
    ]
}

/// A JWK as a hostile or careless JWKS might hold it: every member optional, odd values.
fn jwk() -> impl Strategy<Value = Value> {
    let kty = prop::sample::select(vec!["RSA", "EC", "OKP", "oct", "rsa", "", "DH"]);
    let crv = prop::option::of(prop::sample::select(vec![
        "P-256",
        "P-384",
        "P-521",
        "Ed25519",
        "X25519",
        "secp256k1",
        "",
    ]));
    let alg = prop::option::of(prop::sample::select(vec![
        "RS256", "PS512", "ES256", "ES512", "EdDSA", "HS256", "HS512", "none", "RSA-OAEP", "rs256",
    ]));
    let use_ = prop::option::of(prop::sample::select(vec!["sig", "enc", "SIG", ""]));
    let ops = prop::option::of(prop::collection::vec(
        prop::sample::select(vec!["verify", "sign", "encrypt", "wrapKey"]),
        0..3,
    ));
    let members = (
        kty,
        crv,
        alg,
        use_,
        ops,
        prop::option::of("[a-z0-9-]{0,6}"),
        prop::collection::vec(
            (
                prop::sample::select(vec!["n", "e", "x", "y", "k", "d"]),
                b64_member(),
            ),
            0..6,
        ),
    );
    members.prop_map(|(kty, crv, alg, use_, ops, kid, values)| {
        let mut jwk = json!({ "kty": kty });
        let o = jwk.as_object_mut().unwrap();
        if let Some(crv) = crv {
            o.insert("crv".into(), json!(crv));
        }
        if let Some(alg) = alg {
            o.insert("alg".into(), json!(alg));
        }
        if let Some(use_) = use_ {
            o.insert("use".into(), json!(use_));
        }
        if let Some(ops) = ops {
            o.insert("key_ops".into(), json!(ops));
        }
        if let Some(kid) = kid {
            o.insert("kid".into(), json!(kid));
        }
        for (name, value) in values {
            o.insert(name.into(), value);
        }
        jwk
    })
}

fn allowed_set() -> impl Strategy<Value = AlgorithmSet> {
    prop::collection::vec(prop::sample::select(Algorithm::ALL.to_vec()), 0..6)
        .prop_map(|algs| algs.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn no_mutation_of_a_genuine_token_is_ever_accepted(
        start in any::<Index>(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let f = &*FIXTURE;
        let original = &f.tokens[start.index(f.tokens.len())];
        let mut token = original.clone();
        for m in &mutations {
            token = apply(&token, m, &f.tokens);
        }
        // A splice can rebuild another genuine token whole: that one is genuine.
        if !f.tokens.contains(&token) {
            prop_assert!(
                f.validator.validate(&token, &f.keys).is_err(),
                "a mutated token was accepted: {:?}",
                mutations
            );
        }
    }

    #[test]
    fn arbitrary_text_never_panics_the_parser_nor_passes_the_validator(text in any::<String>()) {
        let f = &*FIXTURE;
        let _ = parse_token(&text, MAX_TOKEN_LEN);
        prop_assert!(f.validator.validate(&text, &f.keys).is_err());
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_parser(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let f = &*FIXTURE;
        let text = String::from_utf8_lossy(&bytes);
        let _ = parse_token(&text, MAX_TOKEN_LEN);
        let _ = parse_token(&text, 16);
        prop_assert!(f.validator.validate(&text, &f.keys).is_err());
    }

    #[test]
    fn arbitrary_text_never_panics_the_jwks_loader(text in any::<String>(), allowed in allowed_set()) {
        let _ = KeySet::from_jwks(&text, allowed);
        let _ = VerifyingKey::from_jwk_json(&text, allowed);
        let _ = VerifyingKey::from_pem(&text, allowed);
        let _ = VerifyingKey::from_spki_der(text.as_bytes(), allowed);
    }

    #[test]
    fn every_loaded_key_fits_the_allowed_algorithms_and_every_other_key_is_reported(
        keys in prop::collection::vec(jwk(), 0..6),
        allowed in allowed_set(),
    ) {
        let doc = json!({ "keys": keys }).to_string();
        match KeySet::from_jwks(&doc, allowed) {
            Ok(load) => {
                prop_assert_eq!(load.keys.len() + load.skipped.len(), keys.len());
                for key in load.keys.iter() {
                    prop_assert!(!key.algorithms().is_empty());
                    prop_assert_eq!(key.algorithms().intersection(allowed), key.algorithms());
                }
            }
            Err(e) => prop_assert_eq!(e.kind(), &portcullis_core::KeyErrorKind::NoUsableKey),
        }
    }
}

proptest! {
    // Generating nested JSON costs more than checking it: fewer cases, the same coverage of
    // the readers' branches.
    #![proptest_config(ProptestConfig::with_cases(384))]

    #[test]
    fn token_shaped_inputs_reach_the_json_readers_without_panicking(token in token_shaped()) {
        let f = &*FIXTURE;
        let _ = parse_token(&token, MAX_TOKEN_LEN);
        prop_assert!(f.validator.validate(&token, &f.keys).is_err());
    }
}
