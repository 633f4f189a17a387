//! Every way `Validator::validate` refuses a token, each produced by a real token minted by
//! the testkit with a real key, so that a refusal can only come from the rule under test.

// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::borrow::Cow;
use std::time::Duration;

use portcullis_core::{
    Algorithm, AlgorithmSet, AuthError, ErrorKind, KeySet, MalformedPart, ManualClock,
    ScopeRequirement, TypPolicy, Validator, ValidatorBuilder, VerifyingKey,
};
use portcullis_testkit::{TestKey, TokenBuilder, tamper};
use serde_json::json;

const NOW: i64 = 1_800_000_000;
const ISS: &str = "https://issuer.test";

fn rs256() -> TestKey {
    TestKey::generate(Algorithm::RS256).with_kid("rsa-1")
}

fn keyset(keys: &[&TestKey]) -> KeySet {
    keys.iter()
        .map(|k| {
            VerifyingKey::from_jwk_json(&k.public_jwk().to_string(), AlgorithmSet::ALL).unwrap()
        })
        .collect()
}

fn builder(clock: &ManualClock) -> ValidatorBuilder {
    Validator::builder()
        .issuer(ISS)
        .audience("api")
        .clock(clock.clone())
}

fn validator() -> Validator {
    builder(&ManualClock::at(NOW)).build().unwrap()
}

fn token(key: &TestKey) -> TokenBuilder {
    TokenBuilder::new(key).now(NOW)
}

fn refusal(v: &Validator, token: &str, keys: &KeySet) -> ErrorKind {
    match v.validate(token, keys) {
        Ok(claims) => panic!("token accepted: {claims:?}"),
        Err(e) => e.into_kind(),
    }
}

#[test]
fn a_good_token_is_accepted_with_its_claims() {
    let key = rs256();
    let keys = keyset(&[&key]);
    let claims = validator()
        .validate(&token(&key).claim("tenant", json!({"id": 7})).sign(), &keys)
        .unwrap();
    assert_eq!(claims.issuer(), Some(ISS));
    assert_eq!(claims.subject(), Some("user-1"));
    assert_eq!(claims.audience().collect::<Vec<_>>(), ["api"]);
    assert_eq!(claims.expires_at(), Some((NOW + 300) as f64));
    assert_eq!(claims.client_id(), Some("client-1"));
    assert_eq!(claims.key_id(), Some("rsa-1"));
    assert_eq!(claims.algorithm(), Some(Algorithm::RS256));
    assert!(claims.scopes().contains("read"));
    assert_eq!(claims.get("tenant"), Some(json!({"id": 7})));
    #[derive(serde::Deserialize)]
    struct Mine {
        sub: String,
        tenant: Tenant,
    }
    #[derive(serde::Deserialize)]
    struct Tenant {
        id: u32,
    }
    let mine: Mine = claims.deserialize().unwrap();
    assert_eq!((mine.sub.as_str(), mine.tenant.id), ("user-1", 7));
}

#[test]
fn sender_constrained_tokens_are_not_bearer_tokens_unless_said_so() {
    let key = rs256();
    let keys = keyset(&[&key]);
    let bound = token(&key)
        .claim(
            "cnf",
            json!({"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}),
        )
        .sign();
    assert_eq!(
        refusal(&validator(), &bound, &keys),
        ErrorKind::SenderConstrained
    );
    let trusting = builder(&ManualClock::at(NOW))
        .danger_accept_sender_constrained_tokens_as_bearer()
        .build()
        .unwrap();
    assert!(
        trusting
            .validate(&bound, &keys)
            .unwrap()
            .is_sender_constrained()
    );
    let plain = validator().validate(&token(&key).sign(), &keys).unwrap();
    assert!(!plain.is_sender_constrained());
}

#[test]
fn every_algorithm_verifies_with_keys_from_every_encoding() {
    for alg in Algorithm::ALL {
        let key = TestKey::generate(alg).with_kid(format!("k-{alg}"));
        let token = token(&key).sign();
        let v = builder(&ManualClock::at(NOW))
            .algorithms([alg])
            .build()
            .unwrap();
        let mut encodings = vec![(
            "jwk",
            VerifyingKey::from_jwk_json(&key.public_jwk().to_string(), AlgorithmSet::ALL).unwrap(),
        )];
        if let Some(secret) = key.secret() {
            encodings.push((
                "secret",
                VerifyingKey::hmac(alg, secret).unwrap().with_kid(key.kid()),
            ));
        } else {
            let allowed = AlgorithmSet::only(alg);
            encodings.push((
                "der",
                VerifyingKey::from_spki_der(&key.public_spki_der(), allowed)
                    .unwrap()
                    .with_kid(key.kid()),
            ));
            encodings.push((
                "pem",
                VerifyingKey::from_pem(&format!("\n  {}\n", key.public_pem()), allowed)
                    .unwrap()
                    .with_kid(key.kid()),
            ));
        }
        for (name, vk) in encodings {
            let keys = KeySet::new(vec![vk]);
            let claims = v
                .validate(&token, &keys)
                .unwrap_or_else(|e| panic!("{alg} {name}: {e}"));
            assert_eq!(claims.algorithm(), Some(alg));
            assert_eq!(
                refusal(&v, &tamper::flip_signature_bit(&token), &keys),
                ErrorKind::InvalidSignature,
                "{alg} {name}"
            );
        }
    }
}

#[test]
fn malformed_tokens_name_the_malformed_part() {
    let key = rs256();
    let keys = keyset(&[&key]);
    let good = token(&key).sign();
    let (h, p, s) = {
        let mut it = good.split('.');
        (it.next().unwrap(), it.next().unwrap(), it.next().unwrap())
    };
    let b64 = portcullis_testkit::b64url;
    let cases: Vec<(String, MalformedPart)> = vec![
        (String::new(), MalformedPart::Empty),
        (format!("{h}.{p}"), MalformedPart::Segments),
        (format!("{h}.{p}.{s}.{s}.{s}"), MalformedPart::Segments), // JWE-shaped
        (
            format!("{{\"payload\":\"{p}\",\"signatures\":[]}}"),
            MalformedPart::Segments,
        ), // JSON serialization
        (format!("{h}.{p}."), MalformedPart::Signature),
        (format!("{h}.{p}=.{s}"), MalformedPart::Base64),
        (format!("{h}.{p}.{s}=="), MalformedPart::Base64),
        (format!("{h}.+{}.{s}", &p[1..]), MalformedPart::Base64),
        (format!("{h}./{}.{s}", &p[1..]), MalformedPart::Base64),
        (format!("{h} .{p}.{s}"), MalformedPart::Base64),
        (
            format!("{}.{p}.{s}", b64(b"[\"alg\"]")),
            MalformedPart::Header,
        ),
        (
            format!("{}.{p}.{s}", b64(b"not json")),
            MalformedPart::Header,
        ),
        (
            format!("{}.{p}.{s}", b64(br#"{"alg":"RS256","alg":"none"}"#)),
            MalformedPart::DuplicateHeaderMember,
        ),
    ];
    let v = validator();
    for (token, part) in cases {
        assert_eq!(
            refusal(&v, &token, &keys),
            ErrorKind::Malformed(part),
            "{token}"
        );
    }
    // Payload problems are found on authentic tokens, after the signature.
    let header = r#"{"alg":"RS256","kid":"rsa-1"}"#;
    for (payload, part) in [
        ("[1,2]", MalformedPart::Payload),
        ("{\"exp\":", MalformedPart::Payload),
        (
            r#"{"exp":1,"exp":2}"#,
            MalformedPart::DuplicatePayloadMember,
        ),
        (
            r#"{"aud":"api","aud":"other"}"#,
            MalformedPart::DuplicatePayloadMember,
        ),
        (
            r#"{"iss":"a","\u0069ss":"b"}"#,
            MalformedPart::DuplicatePayloadMember,
        ),
        (
            r#"{"x":{"role":"user","role":"admin"}}"#,
            MalformedPart::DuplicatePayloadMember,
        ),
    ] {
        let t = TokenBuilder::sign_raw(&key, header, payload);
        assert_eq!(
            refusal(&v, &t, &keys),
            ErrorKind::Malformed(part),
            "{payload}"
        );
    }
    let not_utf8 = format!("{}.{}.", b64(header.as_bytes()), b64(b"{\"a\":\"\xff\"}"));
    let sig = key.sign(not_utf8.trim_end_matches('.').as_bytes());
    let t = format!("{not_utf8}{}", b64(&sig));
    assert_eq!(
        refusal(&v, &t, &keys),
        ErrorKind::Malformed(MalformedPart::Payload)
    );
}

#[test]
fn oversize_tokens_are_refused_before_parsing() {
    let key = rs256();
    let keys = keyset(&[&key]);
    let big = token(&key).claim("pad", json!("x".repeat(9000))).sign();
    assert_eq!(
        refusal(&validator(), &big, &keys),
        ErrorKind::TooLarge { limit: 8192 }
    );
    let roomy = builder(&ManualClock::at(NOW))
        .max_token_len(64 * 1024)
        .build()
        .unwrap();
    assert!(roomy.validate(&big, &keys).is_ok());
}

#[test]
fn none_and_unknown_algorithms_are_unsupported_in_every_spelling() {
    let key = rs256();
    let keys = keyset(&[&key]);
    let v = validator();
    for alg in [
        "none", "None", "NONE", "nOnE", "", "rs256", "HS257", "RSA-OAEP", " RS256",
    ] {
        let t = token(&key).header("alg", json!(alg)).sign();
        assert_eq!(
            refusal(&v, &t, &keys),
            ErrorKind::UnsupportedAlgorithm,
            "{alg:?}"
        );
        let stripped = format!("{}.", tamper::strip_signature(&t).trim_end_matches('.'));
        assert!(v.validate(&stripped, &keys).is_err());
    }
}

#[test]
fn an_algorithm_outside_the_allowlist_is_disallowed() {
    let key = TestKey::generate(Algorithm::HS256).with_kid("h");
    let keys = KeySet::new(vec![
        VerifyingKey::hmac(Algorithm::HS256, key.secret().unwrap())
            .unwrap()
            .with_kid("h"),
    ]);
    // The default allowlist is asymmetric only.
    assert_eq!(
        refusal(&validator(), &token(&key).sign(), &keys),
        ErrorKind::DisallowedAlgorithm(Algorithm::HS256)
    );
}

#[test]
fn hs256_signed_with_the_rsa_public_key_is_refused() {
    // Algorithm confusion: the attacker uses the public key bytes as an HMAC secret.
    let rsa = rs256();
    let keys = keyset(&[&rsa]);
    let v = builder(&ManualClock::at(NOW))
        .algorithms([Algorithm::RS256, Algorithm::HS256])
        .build()
        .unwrap();
    for secret in [
        rsa.public_pem().into_bytes(),
        rsa.public_spki_der(),
        rsa.public_jwk().to_string().into_bytes(),
    ] {
        let forger = TestKey::hmac(Algorithm::HS256, &secret).with_kid("rsa-1");
        let t = token(&forger).sign();
        assert_eq!(
            refusal(&v, &t, &keys),
            ErrorKind::KeyAlgorithmMismatch(Algorithm::HS256)
        );
    }
}

#[test]
fn critical_headers_and_unencoded_payloads_are_refused() {
    let key = rs256();
    let keys = keyset(&[&key]);
    let v = validator();
    let t = token(&key)
        .header("crit", json!(["exp"]))
        .header("exp", json!(1))
        .sign();
    assert_eq!(refusal(&v, &t, &keys), ErrorKind::UnknownCriticalHeader);
    let t = token(&key)
        .header("b64", json!(false))
        .header("crit", json!(["b64"]))
        .sign();
    assert_eq!(refusal(&v, &t, &keys), ErrorKind::UnknownCriticalHeader);
    let t = token(&key).header("b64", json!(false)).sign();
    assert_eq!(refusal(&v, &t, &keys), ErrorKind::UnknownCriticalHeader);
    let t = token(&key).header("crit", json!([])).sign();
    assert_eq!(
        refusal(&v, &t, &keys),
        ErrorKind::Malformed(MalformedPart::Header)
    );
    // A member the application says it understands passes.
    let understands = builder(&ManualClock::at(NOW))
        .danger_understood_critical_header("exp")
        .build()
        .unwrap();
    let t = token(&key)
        .header("crit", json!(["exp"]))
        .header("exp", json!(1))
        .sign();
    assert!(understands.validate(&t, &keys).is_ok());
}

#[test]
fn keys_smuggled_in_the_header_are_never_used() {
    let key = rs256();
    let keys = keyset(&[&key]);
    let attacker = TestKey::generate(Algorithm::RS256).with_kid("rsa-1");
    let t = token(&attacker)
        .header("jwk", attacker.public_jwk())
        .header("jku", json!("https://attacker.example/jwks"))
        .header("x5u", json!("https://attacker.example/cert"))
        .header("x5c", json!(["MIIB"]))
        .sign();
    assert_eq!(
        refusal(&validator(), &t, &keys),
        ErrorKind::InvalidSignature
    );
}

#[test]
fn key_choice_needs_a_known_kid_or_exactly_one_fitting_key() {
    let a = rs256();
    let b = TestKey::generate(Algorithm::RS256).with_kid("rsa-2");
    let e = TestKey::generate(Algorithm::ES256).with_kid("ec-1");
    let v = validator();
    let both = keyset(&[&a, &b, &e]);
    for kid in [
        "unknown",
        "../../etc/passwd",
        "' OR 1=1 --",
        "ключ",
        &"k".repeat(4000),
    ] {
        let t = token(&a).header("kid", json!(kid)).sign();
        assert_eq!(refusal(&v, &t, &both), ErrorKind::UnknownKey, "{kid:.20}");
    }
    let no_kid = token(&a).remove_header("kid").sign();
    assert_eq!(refusal(&v, &no_kid, &both), ErrorKind::AmbiguousKey);
    // With only one RS256 key, a token without kid is verified by it.
    assert!(v.validate(&no_kid, &keyset(&[&a, &e])).is_ok());
    // A kid that names a key of another type.
    let t = token(&a).header("kid", json!("ec-1")).sign();
    assert_eq!(
        refusal(&v, &t, &both),
        ErrorKind::KeyAlgorithmMismatch(Algorithm::RS256)
    );
    // A JWK with "alg": "RS256" does not verify PS256.
    let t = token(&a).header("alg", json!("PS256")).sign();
    assert_eq!(
        refusal(&v, &t, &both),
        ErrorKind::KeyAlgorithmMismatch(Algorithm::PS256)
    );
    let t = token(&a).header("kid", json!(7)).sign();
    assert_eq!(
        refusal(&v, &t, &both),
        ErrorKind::Malformed(MalformedPart::Header)
    );
}

#[test]
fn an_empty_key_set_means_keys_unavailable() {
    let key = rs256();
    assert_eq!(
        refusal(&validator(), &token(&key).sign(), &KeySet::default()),
        ErrorKind::KeysUnavailable
    );
}

#[test]
fn time_rules_follow_the_injected_clock_with_leeway() {
    let key = rs256();
    let keys = keyset(&[&key]);
    let clock = ManualClock::at(NOW);
    let v = builder(&clock)
        .max_age(Duration::from_secs(3600))
        .build()
        .unwrap();
    let t = token(&key).expires_in(100).sign();
    assert!(v.validate(&t, &keys).is_ok());
    clock.set(NOW + 100 + 59);
    assert!(v.validate(&t, &keys).is_ok(), "inside the 60 s leeway");
    clock.set(NOW + 100 + 60);
    assert_eq!(refusal(&v, &t, &keys), ErrorKind::Expired);

    clock.set(NOW);
    let t = token(&key).claim("nbf", json!(NOW + 61)).sign();
    assert_eq!(refusal(&v, &t, &keys), ErrorKind::NotYetValid);
    let t = token(&key).claim("nbf", json!(NOW + 60)).sign();
    assert!(v.validate(&t, &keys).is_ok());

    let t = token(&key).claim("iat", json!(NOW + 61)).sign();
    assert_eq!(refusal(&v, &t, &keys), ErrorKind::IssuedInFuture);

    let old = TokenBuilder::new(&key)
        .now(NOW - 3600 - 61)
        .expires_in(7200)
        .sign();
    assert_eq!(refusal(&v, &old, &keys), ErrorKind::TooOld);
    let no_iat = token(&key).remove_claim("iat").sign();
    assert_eq!(
        refusal(&v, &no_iat, &keys),
        ErrorKind::MissingClaim(Cow::Borrowed("iat"))
    );

    let fractional = token(&key).claim("exp", json!(NOW as f64 - 60.5)).sign();
    assert_eq!(refusal(&v, &fractional, &keys), ErrorKind::Expired);
    let fractional = token(&key).claim("exp", json!(NOW as f64 + 0.5)).sign();
    assert!(v.validate(&fractional, &keys).is_ok());
}

#[test]
fn exp_is_required_and_numeric() {
    let key = rs256();
    let keys = keyset(&[&key]);
    let v = validator();
    let t = token(&key).remove_claim("exp").sign();
    assert_eq!(
        refusal(&v, &t, &keys),
        ErrorKind::MissingClaim(Cow::Borrowed("exp"))
    );
    for bad in [
        json!("1900000000"),
        json!(true),
        json!(null),
        json!([1900000000]),
        json!({}),
        json!(1e300),
    ] {
        let t = token(&key).claim("exp", bad.clone()).sign();
        assert_eq!(
            refusal(&v, &t, &keys),
            ErrorKind::InvalidClaim(Cow::Borrowed("exp")),
            "{bad}"
        );
        let t = token(&key).claim("nbf", bad.clone()).sign();
        assert_eq!(
            refusal(&v, &t, &keys),
            ErrorKind::InvalidClaim(Cow::Borrowed("nbf")),
            "{bad}"
        );
    }
    let huge = TokenBuilder::sign_raw(
        &key,
        r#"{"alg":"RS256","kid":"rsa-1"}"#,
        r#"{"iss":"https://issuer.test","aud":"api","exp":1e400}"#,
    );
    // A number outside the f64 range is not JSON that portcullis reads, wherever it is.
    assert_eq!(
        refusal(&v, &huge, &keys),
        ErrorKind::Malformed(MalformedPart::Payload)
    );
}

#[test]
fn issuer_must_match_exactly() {
    let key = rs256();
    let keys = keyset(&[&key]);
    let v = validator();
    for iss in [
        "https://issuer.test/",
        "https://issuer.tes",
        "https://issuer.test.evil",
        "HTTPS://issuer.test",
        "",
    ] {
        let t = token(&key).issuer(iss).sign();
        assert_eq!(refusal(&v, &t, &keys), ErrorKind::WrongIssuer, "{iss}");
    }
    let t = token(&key).claim("iss", json!([ISS])).sign();
    assert_eq!(
        refusal(&v, &t, &keys),
        ErrorKind::InvalidClaim(Cow::Borrowed("iss"))
    );
    let t = token(&key).remove_claim("iss").sign();
    assert_eq!(
        refusal(&v, &t, &keys),
        ErrorKind::MissingClaim(Cow::Borrowed("iss"))
    );
    let two = builder(&ManualClock::at(NOW))
        .issuer("https://other.test")
        .build()
        .unwrap();
    assert!(
        two.validate(&token(&key).issuer("https://other.test").sign(), &keys)
            .is_ok()
    );
}

#[test]
fn audience_must_contain_a_configured_one() {
    let key = rs256();
    let keys = keyset(&[&key]);
    let v = validator();
    assert!(
        v.validate(
            &token(&key).claim("aud", json!(["other", "api"])).sign(),
            &keys
        )
        .is_ok()
    );
    for aud in [
        json!("api2"),
        json!("ap"),
        json!("API"),
        json!(["other"]),
        json!([]),
    ] {
        let t = token(&key).claim("aud", aud.clone()).sign();
        assert_eq!(refusal(&v, &t, &keys), ErrorKind::WrongAudience, "{aud}");
    }
    for aud in [
        json!(1),
        json!(null),
        json!([1]),
        json!({"api": true}),
        json!(["api", 2]),
    ] {
        let t = token(&key).claim("aud", aud.clone()).sign();
        assert_eq!(
            refusal(&v, &t, &keys),
            ErrorKind::InvalidClaim(Cow::Borrowed("aud")),
            "{aud}"
        );
    }
    let t = token(&key).remove_claim("aud").sign();
    assert_eq!(
        refusal(&v, &t, &keys),
        ErrorKind::MissingClaim(Cow::Borrowed("aud"))
    );
}

#[test]
fn token_type_follows_the_policy() {
    let key = rs256();
    let keys = keyset(&[&key]);
    let strict = builder(&ManualClock::at(NOW))
        .typ(TypPolicy::RequireAccessToken)
        .build()
        .unwrap();
    let jwt = token(&key).header("typ", json!("JWT")).sign();
    assert_eq!(refusal(&strict, &jwt, &keys), ErrorKind::WrongType);
    assert!(validator().validate(&jwt, &keys).is_ok());
    let id_token = token(&key).header("typ", json!("id_token+jwt")).sign();
    assert_eq!(
        refusal(&validator(), &id_token, &keys),
        ErrorKind::WrongType
    );
    let t = token(&key).header("typ", json!(["at+jwt"])).sign();
    assert_eq!(
        refusal(&validator(), &t, &keys),
        ErrorKind::Malformed(MalformedPart::Header)
    );
}

#[test]
fn required_claims_and_custom_validators_apply() {
    let key = rs256();
    let keys = keyset(&[&key]);
    let v = builder(&ManualClock::at(NOW))
        .require_claim("tenant")
        .validator(|claims| {
            if claims.subject() == Some("banned") {
                Err(Cow::Borrowed("subject is banned"))
            } else {
                Ok(())
            }
        })
        .build()
        .unwrap();
    let t = token(&key).sign();
    assert_eq!(
        refusal(&v, &t, &keys),
        ErrorKind::MissingClaim(Cow::Owned("tenant".into()))
    );
    let t = token(&key)
        .claim("tenant", json!("t1"))
        .subject("banned")
        .sign();
    assert_eq!(
        refusal(&v, &t, &keys),
        ErrorKind::Rejected(Cow::Borrowed("subject is banned"))
    );
    let t = token(&key).claim("tenant", json!("t1")).sign();
    assert!(v.validate(&t, &keys).is_ok());
    let t = token(&key)
        .claim("sub", json!(42))
        .claim("tenant", json!("t1"))
        .sign();
    assert_eq!(
        refusal(&v, &t, &keys),
        ErrorKind::InvalidClaim(Cow::Borrowed("sub"))
    );
}

#[test]
fn scopes_come_from_scope_or_scp_and_requirements_are_checked() {
    let key = rs256();
    let keys = keyset(&[&key]);
    let v = validator();
    let claims = v
        .validate(&token(&key).scope("orders.read superadmin").sign(), &keys)
        .unwrap();
    assert!(
        ScopeRequirement::any_of(["orders.read"])
            .check(claims.scopes())
            .is_ok()
    );
    let err = ScopeRequirement::all_of(["admin"])
        .check(claims.scopes())
        .unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::InsufficientScope(ScopeRequirement::all_of(["admin"]))
    );
    let scp = v
        .validate(
            &token(&key)
                .remove_claim("scope")
                .claim("scp", json!(["a", "b"]))
                .sign(),
            &keys,
        )
        .unwrap();
    assert_eq!(scp.scopes().as_str(), "a b");
    let t = token(&key).claim("scope", json!(3)).sign();
    assert_eq!(
        refusal(&v, &t, &keys),
        ErrorKind::InvalidClaim(Cow::Borrowed("scope"))
    );
}

#[test]
fn error_messages_never_contain_the_token() {
    let key = rs256();
    let keys = keyset(&[&key]);
    let v = validator();
    let secret_marker = "SECRET-MARKER-123";
    let tokens = [
        token(&key).header("kid", json!(secret_marker)).sign(),
        token(&key).header("alg", json!(secret_marker)).sign(),
        token(&key).issuer(secret_marker).sign(),
        token(&key).claim("aud", json!(secret_marker)).sign(),
        token(&key).header("crit", json!([secret_marker])).sign(),
        format!("{secret_marker}.{secret_marker}.{secret_marker}"),
    ];
    for t in tokens {
        let e: AuthError = v.validate(&t, &keys).unwrap_err();
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains(secret_marker), "{shown}");
        assert!(!shown.contains(&t[..20]), "{shown}");
    }
}

#[test]
fn the_resource_identifier_is_an_audience_compared_after_normalisation() {
    let key = rs256();
    let keys = keyset(&[&key]);
    let resource =
        portcullis_core::ResourceIdentifier::parse("https://api.example.com/orders").unwrap();
    // The resource alone is enough of an audience setting.
    let v = Validator::builder()
        .issuer(ISS)
        .resource(resource.clone())
        .clock(ManualClock::at(NOW))
        .build()
        .unwrap();
    for aud in [
        serde_json::json!("https://api.example.com/orders"),
        serde_json::json!("HTTPS://api.EXAMPLE.com:443/orders"),
        serde_json::json!(["https://other.example", "https://api.example.com/./orders"]),
    ] {
        let t = token(&key).claim("aud", aud.clone()).sign();
        assert!(v.validate(&t, &keys).is_ok(), "{aud}");
    }
    for aud in [
        serde_json::json!("https://api.example.com/orders/admin"),
        serde_json::json!("https://api.example.com/orders?x=1"),
        serde_json::json!("https://api.example.com:8443/orders"),
        serde_json::json!("http://api.example.com/orders"),
        serde_json::json!("api"),
        serde_json::json!([]),
    ] {
        let t = token(&key).claim("aud", aud.clone()).sign();
        assert_eq!(refusal(&v, &t, &keys), ErrorKind::WrongAudience, "{aud}");
    }
    // Beside configured audiences, each still compared exactly.
    let both = builder(&ManualClock::at(NOW))
        .resource(resource)
        .build()
        .unwrap();
    let api = token(&key).claim("aud", serde_json::json!("api")).sign();
    assert!(both.validate(&api, &keys).is_ok());
    let api_upper = token(&key).claim("aud", serde_json::json!("API")).sign();
    assert_eq!(refusal(&both, &api_upper, &keys), ErrorKind::WrongAudience);
}

/// The header memo (a thread's last header that passed) never turns into an acceptance: it is
/// per validator, every token's key is chosen and its signature checked, and a header one
/// byte off is read and judged again.
#[test]
fn a_header_seen_before_is_still_judged_by_each_validator_and_each_token_still_checked() {
    let key = rs256();
    let keys = keyset(&[&key]);
    let clock = ManualClock::at(NOW);
    let rs = builder(&clock).build().unwrap();
    // `typ` JWT: accepted by the default policy, not by one that requires `at+jwt`.
    let good = token(&key).header("typ", json!("JWT")).sign();
    assert!(rs.validate(&good, &keys).is_ok());
    assert!(rs.validate(&good, &keys).is_ok());

    // Same header bytes, another validator's rules: refused by them.
    let es_only = builder(&clock)
        .algorithms([Algorithm::ES256])
        .build()
        .unwrap();
    assert_eq!(
        refusal(&es_only, &good, &keys),
        ErrorKind::DisallowedAlgorithm(Algorithm::RS256)
    );
    let at_jwt = builder(&clock)
        .typ(TypPolicy::RequireAccessToken)
        .build()
        .unwrap();
    assert!(rs.validate(&good, &keys).is_ok());
    assert_eq!(refusal(&at_jwt, &good, &keys), ErrorKind::WrongType);

    // The same header, a signature that does not match: refused.
    assert!(rs.validate(&good, &keys).is_ok());
    let forged = tamper::flip_signature_bit(&good);
    assert_eq!(refusal(&rs, &forged, &keys), ErrorKind::InvalidSignature);
    let other_payload = tamper::swap_payload(&good, r#"{"iss":"https://issuer.test"}"#);
    assert_eq!(
        refusal(&rs, &other_payload, &keys),
        ErrorKind::InvalidSignature
    );

    // The same header after the key left the set: its `kid` is looked up again.
    assert!(rs.validate(&good, &keys).is_ok());
    let rotated = keyset(&[&TestKey::generate(Algorithm::RS256).with_kid("rsa-2")]);
    assert_eq!(refusal(&rs, &good, &rotated), ErrorKind::UnknownKey);

    // A header one member off (a `crit` nobody understands), right after the good one.
    assert!(rs.validate(&good, &keys).is_ok());
    let critical = token(&key)
        .header("typ", json!("JWT"))
        .header("crit", json!(["exp"]))
        .header("exp", json!(1))
        .sign();
    assert_eq!(
        refusal(&rs, &critical, &keys),
        ErrorKind::UnknownCriticalHeader
    );
    // And the good one again, after a refused header: still accepted.
    assert!(rs.validate(&good, &keys).is_ok());
}

/// Signatures of every size reach the key: 512 bytes (RSA 4096, the largest kept on the
/// stack), larger ones (on the heap), one byte too many, a length base64url cannot have.
#[test]
fn signatures_of_every_length_are_decoded_and_checked() {
    let clock = ManualClock::at(NOW);
    let rsa4096 = TestKey::rsa_with_bits(Algorithm::RS256, 4096).with_kid("rsa-4096");
    let keys = keyset(&[&rsa4096]);
    let v = builder(&clock).build().unwrap();
    let good = token(&rsa4096).sign();
    let (_, _, signature) = tamper::parts(&good);
    assert_eq!(signature.len(), 683, "512 bytes, base64url");
    assert!(v.validate(&good, &keys).is_ok());
    // 1,024 bytes: decoded on the heap, refused by the key.
    let long = tamper::with_signature(&good, &[7u8; 1024]);
    assert_eq!(refusal(&v, &long, &keys), ErrorKind::InvalidSignature);
    // One byte more than an ES256 signature has.
    let es = TestKey::generate(Algorithm::ES256).with_kid("ec-1");
    let es_keys = keyset(&[&es]);
    let es_token = token(&es).sign();
    assert!(v.validate(&es_token, &es_keys).is_ok());
    let too_long = tamper::with_signature(&es_token, &[1u8; 65]);
    assert_eq!(
        refusal(&v, &too_long, &es_keys),
        ErrorKind::InvalidSignature
    );
    // Five characters: no byte string encodes to that length.
    let (input, _) = es_token.rsplit_once('.').unwrap();
    let impossible = format!("{input}.AAAAA");
    assert_eq!(
        refusal(&v, &impossible, &es_keys),
        ErrorKind::Malformed(MalformedPart::Base64)
    );
}

/// Every refusal reads the same whether or not this thread remembers the token's header: on
/// a fresh thread (nothing remembered), and right after a good token with the same header.
#[test]
fn refusals_are_the_same_with_and_without_the_header_remembered() {
    let key = rs256();
    let keys = keyset(&[&key]);
    let clock = ManualClock::at(NOW);
    let v = builder(&clock).build().unwrap();
    let good = token(&key).sign();
    let refused = [
        tamper::flip_signature_bit(&good),
        tamper::swap_payload(&good, r#"{"iss":"https://issuer.test","aud":"api"}"#),
        token(&key).expires_in(-3600).sign(),
        token(&key).issuer("https://other.test").sign(),
        token(&key).audience("other").sign(),
    ];
    let cold: Vec<ErrorKind> = std::thread::scope(|s| {
        s.spawn(|| refused.iter().map(|t| refusal(&v, t, &keys)).collect())
            .join()
            .unwrap()
    });
    let warm: Vec<ErrorKind> = refused
        .iter()
        .map(|t| {
            assert!(v.validate(&good, &keys).is_ok());
            refusal(&v, t, &keys)
        })
        .collect();
    assert_eq!(cold, warm);
    assert_eq!(cold[0], ErrorKind::InvalidSignature);

    // A header remembered with an HMAC key of that `kid`; then the `kid` names an RSA key.
    let hs =
        TestKey::hmac(Algorithm::HS256, b"thirty-two bytes of secret here!").with_kid("shared");
    let both = builder(&clock)
        .algorithms([Algorithm::HS256, Algorithm::RS256])
        .build()
        .unwrap();
    let hs_keys = KeySet::new(vec![
        VerifyingKey::hmac(Algorithm::HS256, b"thirty-two bytes of secret here!")
            .unwrap()
            .with_kid("shared"),
    ]);
    let hs_token = token(&hs).sign();
    assert!(both.validate(&hs_token, &hs_keys).is_ok());
    let rsa_shared = keyset(&[&TestKey::generate(Algorithm::RS256).with_kid("shared")]);
    assert_eq!(
        refusal(&both, &hs_token, &rsa_shared),
        ErrorKind::KeyAlgorithmMismatch(Algorithm::HS256)
    );
}
