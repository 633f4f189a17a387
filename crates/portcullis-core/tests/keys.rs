//! Loading verification keys: every refusal of a key, and lenient JWKS loading.

// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use portcullis_core::{Algorithm, AlgorithmSet, KeyErrorKind, KeySet, VerifyingKey};
use portcullis_testkit::{TestKey, rsa_1024_public_jwk, rsa_1024_public_spki_der};
use serde_json::{Value, json};

fn load(jwk: &Value) -> Result<VerifyingKey, KeyErrorKind> {
    VerifyingKey::from_jwk_json(&jwk.to_string(), AlgorithmSet::ALL).map_err(|e| e.kind().clone())
}

fn with(mut jwk: Value, member: &str, value: Value) -> Value {
    jwk[member] = value;
    jwk
}

fn without(mut jwk: Value, member: &str) -> Value {
    jwk.as_object_mut().unwrap().remove(member);
    jwk
}

#[test]
fn rsa_keys_under_2048_bits_are_refused_in_every_encoding() {
    assert_eq!(
        load(&rsa_1024_public_jwk()).unwrap_err(),
        KeyErrorKind::WeakRsaKey { bits: 1024 }
    );
    let der = rsa_1024_public_spki_der();
    assert_eq!(
        VerifyingKey::from_spki_der(&der, AlgorithmSet::ALL)
            .unwrap_err()
            .kind(),
        &KeyErrorKind::WeakRsaKey { bits: 1024 }
    );
    // 2048 bits written with a leading zero byte is still 2048 bits.
    let key = TestKey::generate(Algorithm::RS256);
    let jwk = key.public_jwk();
    let n = portcullis_testkit::b64url(
        &[&[0u8][..], &base64_decode(jwk["n"].as_str().unwrap())].concat(),
    );
    assert!(load(&with(jwk, "n", json!(n))).is_ok());
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
}

#[test]
fn each_key_is_bound_to_the_algorithms_its_type_implies() {
    let rsa = TestKey::generate(Algorithm::RS256);
    let no_alg = load(&without(rsa.public_jwk(), "alg")).unwrap();
    assert_eq!(
        no_alg.algorithms(),
        AlgorithmSet::from_slice(&[
            Algorithm::RS256,
            Algorithm::RS384,
            Algorithm::RS512,
            Algorithm::PS256,
            Algorithm::PS384,
            Algorithm::PS512
        ])
    );
    assert_eq!(
        load(&rsa.public_jwk()).unwrap().algorithms(),
        AlgorithmSet::only(Algorithm::RS256)
    );
    for (alg, only) in [
        (Algorithm::ES256, Algorithm::ES256),
        (Algorithm::ES384, Algorithm::ES384),
        (Algorithm::ES512, Algorithm::ES512),
    ] {
        let key = TestKey::generate(alg);
        assert_eq!(
            load(&without(key.public_jwk(), "alg"))
                .unwrap()
                .algorithms(),
            AlgorithmSet::only(only)
        );
    }
    // An Ed25519 key verifies under both of its names (RFC 9864), whether its JWK names one,
    // the other, or none; never under another algorithm's name.
    let ed = TestKey::generate(Algorithm::EdDSA);
    for alg in [None, Some("EdDSA"), Some("Ed25519")] {
        let mut jwk = without(ed.public_jwk(), "alg");
        if let Some(alg) = alg {
            jwk["alg"] = alg.into();
        }
        assert_eq!(
            load(&jwk).unwrap().algorithms(),
            AlgorithmSet::ED25519,
            "{alg:?}"
        );
    }
    let mut mislabelled = ed.public_jwk();
    mislabelled["alg"] = "ES256".into();
    assert!(load(&mislabelled).is_err());
    // The configured allowlist narrows further.
    let narrowed = VerifyingKey::from_jwk_json(
        &without(rsa.public_jwk(), "alg").to_string(),
        AlgorithmSet::only(Algorithm::PS256),
    )
    .unwrap();
    assert_eq!(narrowed.algorithms(), AlgorithmSet::only(Algorithm::PS256));
    // An EC key claiming an RSA algorithm, a P-256 key claiming ES384.
    let ec = TestKey::generate(Algorithm::ES256);
    assert_eq!(
        load(&with(ec.public_jwk(), "alg", json!("RS256"))).unwrap_err(),
        KeyErrorKind::AlgorithmMismatch
    );
    assert_eq!(
        load(&with(ec.public_jwk(), "alg", json!("ES384"))).unwrap_err(),
        KeyErrorKind::AlgorithmMismatch
    );
    assert_eq!(
        load(&with(rsa.public_jwk(), "alg", json!("HS256"))).unwrap_err(),
        KeyErrorKind::AlgorithmMismatch
    );
    let none_left = VerifyingKey::from_jwk_json(
        &ec.public_jwk().to_string(),
        AlgorithmSet::only(Algorithm::RS256),
    );
    assert_eq!(
        none_left.unwrap_err().kind(),
        &KeyErrorKind::NoUsableAlgorithm
    );
}

#[test]
fn encryption_keys_and_keys_without_verify_are_not_for_verification() {
    let key = TestKey::generate(Algorithm::RS256);
    for jwk in [
        with(key.public_jwk(), "use", json!("enc")),
        with(key.public_jwk(), "key_ops", json!(["encrypt", "wrapKey"])),
        with(key.public_jwk(), "key_ops", json!([])),
        with(key.public_jwk(), "alg", json!("RSA-OAEP-256")),
        with(
            without(TestKey::generate(Algorithm::EdDSA).public_jwk(), "alg"),
            "crv",
            json!("X25519"),
        ),
    ] {
        assert_eq!(
            load(&jwk).unwrap_err(),
            KeyErrorKind::NotForVerification,
            "{jwk}"
        );
    }
    assert!(load(&with(key.public_jwk(), "key_ops", json!(["verify"]))).is_ok());
}

#[test]
fn invalid_points_and_malformed_members_are_refused() {
    let ec = TestKey::generate(Algorithm::ES256);
    let jwk = ec.public_jwk();
    let mut y = base64_decode(jwk["y"].as_str().unwrap());
    y[31] ^= 1; // off the curve
    assert!(matches!(
        load(&with(
            jwk.clone(),
            "y",
            json!(portcullis_testkit::b64url(&y))
        ))
        .unwrap_err(),
        KeyErrorKind::InvalidKey(_)
    ));
    assert!(matches!(
        load(&with(
            jwk.clone(),
            "x",
            json!(portcullis_testkit::b64url(&[0u8; 31]))
        ))
        .unwrap_err(),
        KeyErrorKind::InvalidKey(_)
    ));
    assert_eq!(
        load(&with(jwk.clone(), "crv", json!("secp256k1"))).unwrap_err(),
        KeyErrorKind::Unsupported("EC curve")
    );
    assert!(matches!(
        load(&without(jwk.clone(), "y")).unwrap_err(),
        KeyErrorKind::MalformedJwk(_)
    ));
    assert!(matches!(
        load(&with(jwk.clone(), "x", json!("not base64!"))).unwrap_err(),
        KeyErrorKind::MalformedJwk(_)
    ));
    assert!(matches!(
        load(&with(jwk.clone(), "x", json!(5))).unwrap_err(),
        KeyErrorKind::MalformedJwk(_)
    ));
    assert_eq!(
        load(&with(jwk, "d", json!("AAAA"))).unwrap_err(),
        KeyErrorKind::PrivateKey
    );
    assert_eq!(
        load(&json!({"kty": "DSA"})).unwrap_err(),
        KeyErrorKind::Unsupported("kty")
    );
    assert!(matches!(
        VerifyingKey::from_jwk_json(r#"{"kty":"RSA","kty":"EC"}"#, AlgorithmSet::ALL)
            .unwrap_err()
            .kind(),
        KeyErrorKind::MalformedJwk(_)
    ));
    assert!(matches!(
        VerifyingKey::from_spki_der(b"\x30\x03\x02\x01\x01", AlgorithmSet::ALL)
            .unwrap_err()
            .kind(),
        KeyErrorKind::InvalidKey(_)
    ));
    assert!(matches!(
        VerifyingKey::from_pem(
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
            AlgorithmSet::ALL
        )
        .unwrap_err()
        .kind(),
        KeyErrorKind::InvalidKey(_)
    ));
}

#[test]
fn hmac_secrets_must_be_as_long_as_the_hash_and_only_verify_hs() {
    assert_eq!(
        VerifyingKey::hmac(Algorithm::HS256, b"secret")
            .unwrap_err()
            .kind(),
        &KeyErrorKind::WeakSecret { len: 6, min: 32 }
    );
    assert_eq!(
        VerifyingKey::hmac(Algorithm::HS384, &[1; 47])
            .unwrap_err()
            .kind(),
        &KeyErrorKind::WeakSecret { len: 47, min: 48 }
    );
    assert_eq!(
        VerifyingKey::hmac(Algorithm::RS256, &[1; 64])
            .unwrap_err()
            .kind(),
        &KeyErrorKind::AlgorithmMismatch
    );
    let oct = json!({"kty": "oct", "k": portcullis_testkit::b64url(&[9; 48])});
    assert_eq!(
        load(&oct).unwrap().algorithms(),
        AlgorithmSet::from_slice(&[Algorithm::HS256, Algorithm::HS384])
    );
    assert_eq!(
        load(&with(oct.clone(), "alg", json!("HS512"))).unwrap_err(),
        KeyErrorKind::WeakSecret { len: 48, min: 64 }
    );
    // Where only public keys are allowed (a remote JWKS), oct keys are refused.
    assert_eq!(
        VerifyingKey::from_jwk_json(&oct.to_string(), AlgorithmSet::ASYMMETRIC)
            .unwrap_err()
            .kind(),
        &KeyErrorKind::SymmetricNotAllowed
    );
}

#[test]
fn one_bad_key_in_a_jwks_is_skipped_and_the_rest_load() {
    let good = TestKey::generate(Algorithm::RS256).with_kid("good");
    let ec = TestKey::generate(Algorithm::ES256).with_kid("ec");
    let doc = json!({"keys": [
        {"kty": "RSA", "kid": "broken", "n": "%%%", "e": "AQAB"},
        with(good.public_jwk(), "use", json!("enc")),
        good.public_jwk(),
        rsa_1024_public_jwk(),
        {"kty": "oct", "kid": "shared", "k": portcullis_testkit::b64url(&[1; 32])},
        "not an object",
        ec.public_jwk(),
        good.public_jwk(),
    ]});
    let loaded = KeySet::from_jwks(&doc.to_string(), AlgorithmSet::ASYMMETRIC).unwrap();
    let kids: Vec<_> = loaded.keys.iter().map(|k| k.kid().unwrap()).collect();
    assert_eq!(kids, ["good", "ec"]);
    let skipped: Vec<_> = loaded
        .skipped
        .iter()
        .map(|s| (s.index, s.error.kind().clone()))
        .collect();
    assert_eq!(skipped.len(), 6, "{skipped:?}");
    assert_eq!(skipped[1], (1, KeyErrorKind::NotForVerification));
    assert_eq!(skipped[2], (3, KeyErrorKind::WeakRsaKey { bits: 1024 }));
    assert_eq!(skipped[3], (4, KeyErrorKind::SymmetricNotAllowed));
    assert_eq!(
        loaded.skipped[5].kid.as_deref(),
        Some("good"),
        "duplicate kid skipped"
    );

    for bad in ["", "[]", "{}", r#"{"keys":{}}"#, r#"{"keys":[],"keys":[]}"#] {
        assert_eq!(
            KeySet::from_jwks(bad, AlgorithmSet::ALL)
                .unwrap_err()
                .kind(),
            &KeyErrorKind::MalformedJwks,
            "{bad}"
        );
    }
    assert_eq!(
        KeySet::from_jwks(r#"{"keys":[{"kty":"RSA","use":"enc"}]}"#, AlgorithmSet::ALL)
            .unwrap_err()
            .kind(),
        &KeyErrorKind::NoUsableKey
    );
    let many = json!({"keys": vec![good.public_jwk(); 5]});
    assert_eq!(
        KeySet::from_jwks_limited(&many.to_string(), AlgorithmSet::ALL, 4)
            .unwrap_err()
            .kind(),
        &KeyErrorKind::TooManyKeys { found: 5, cap: 4 }
    );
}

#[test]
fn more_keys_than_the_default_cap_are_refused_as_too_many_not_as_malformed() {
    let template = TestKey::generate(Algorithm::ES256).public_jwk();
    let doc = |n: usize| {
        let keys: Vec<Value> = (0..n)
            .map(|i| with(template.clone(), "kid", json!(format!("k{i}"))))
            .collect();
        json!({ "keys": keys }).to_string()
    };
    let cap = KeySet::DEFAULT_MAX_KEYS;
    assert_eq!(cap, 100);
    let at_cap = KeySet::from_jwks(&doc(cap), AlgorithmSet::ASYMMETRIC).unwrap();
    assert_eq!(at_cap.keys.len(), cap);
    let refused = KeySet::from_jwks(&doc(cap + 1), AlgorithmSet::ASYMMETRIC).unwrap_err();
    assert_eq!(
        refused.kind(),
        &KeyErrorKind::TooManyKeys {
            found: 101,
            cap: 100
        }
    );
    assert_eq!(
        refused.to_string(),
        "JWKS holds 101 keys, more than the cap of 100"
    );
}

#[test]
fn thumbprints_follow_rfc_7638_and_agree_across_key_encodings() {
    // RFC 7638 section 3.1: the example RSA key (RFC 7517 appendix A.1) and its thumbprint.
    let example: portcullis_core::Jwk = serde_json::from_value(json!({
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29"
    }))
    .unwrap();
    let expected = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";
    assert_eq!(example.thumbprint_sha256().as_deref(), Some(expected));
    let key = VerifyingKey::from_jwk(&example, AlgorithmSet::ALL).unwrap();
    assert_eq!(key.thumbprint(), Some(expected));

    // The same public key gives the same thumbprint as a JWK, as SPKI PEM and as DER.
    for alg in [
        Algorithm::RS256,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::ES512,
        Algorithm::EdDSA,
    ] {
        let test_key = TestKey::generate(alg);
        let jwk: portcullis_core::Jwk = serde_json::from_value(test_key.public_jwk()).unwrap();
        let from_jwk = VerifyingKey::from_jwk(&jwk, AlgorithmSet::ALL).unwrap();
        let from_pem = VerifyingKey::from_pem(&test_key.public_pem(), AlgorithmSet::ALL).unwrap();
        let from_der =
            VerifyingKey::from_spki_der(&test_key.public_spki_der(), AlgorithmSet::ALL).unwrap();
        let thumbprint = jwk.thumbprint_sha256().unwrap();
        assert_eq!(thumbprint.len(), 43, "{alg}");
        assert_eq!(from_jwk.thumbprint(), Some(thumbprint.as_str()), "{alg}");
        assert_eq!(from_pem.thumbprint(), Some(thumbprint.as_str()), "{alg}");
        assert_eq!(from_der.thumbprint(), Some(thumbprint.as_str()), "{alg}");
    }

    // Shared secrets never get one on a loaded key; a missing member or an unknown kty has none.
    let secret = VerifyingKey::hmac(Algorithm::HS256, &[9u8; 32]).unwrap();
    assert_eq!(secret.thumbprint(), None);
    let oct = load(&json!({"kty": "oct", "k": portcullis_testkit::b64url(&[9u8; 32])})).unwrap();
    assert_eq!(oct.thumbprint(), None);
    let no_e: portcullis_core::Jwk =
        serde_json::from_value(without(serde_json::to_value(&example).unwrap(), "e")).unwrap();
    assert_eq!(no_e.thumbprint_sha256(), None);
    let odd: portcullis_core::Jwk = serde_json::from_value(json!({"kty": "XYZ"})).unwrap();
    assert_eq!(odd.thumbprint_sha256(), None);
}
