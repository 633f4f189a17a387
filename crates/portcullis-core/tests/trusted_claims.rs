// Tests may unwrap, index and panic: a failure is the test's report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Claims vouched for without a signature (`Claims::from_trusted_json`, as for an introspected
//! opaque token) and `Validator::check_claims`: the same parser and the same claim rules as a
//! signed token's payload, checked side by side.

use std::time::Duration;

use portcullis_core::{
    Algorithm, Claims, ErrorKind, KeySet, MalformedPart, ManualClock, Validator, VerifyingKey,
};
use portcullis_testkit::{TestKey, TokenBuilder};
use serde_json::{Value, json};

const NOW: i64 = 1_700_000_000;
const SECRET: &[u8] = &[9u8; 32];

fn validator() -> Validator {
    Validator::builder()
        .issuer("https://issuer.test")
        .audience("api")
        .algorithms([Algorithm::HS256])
        .require_claim("sub")
        .max_age(Duration::from_secs(3600))
        .validator(|claims: &Claims| match claims.subject() {
            Some("mallory") => Err("suspended".into()),
            _ => Ok(()),
        })
        .clock(ManualClock::at(NOW))
        .build()
        .unwrap()
}

/// A claim set (`Some`) or removed (`None`).
type Change = (&'static str, Option<Value>);

/// The payload of the default test token at `NOW`, with changes.
fn payload(changes: &[Change]) -> String {
    let key = TestKey::hmac(Algorithm::HS256, SECRET);
    let mut builder = TokenBuilder::new(&key).now(NOW);
    for (name, value) in changes {
        builder = match value {
            Some(v) => builder.claim(name, v.clone()),
            None => builder.remove_claim(name),
        };
    }
    builder.claims_json().to_string()
}

#[test]
fn check_claims_refuses_exactly_what_validate_refuses_and_for_the_same_reason() {
    let rules = validator();
    let key = TestKey::hmac(Algorithm::HS256, SECRET);
    let keys = KeySet::new(vec![VerifyingKey::hmac(Algorithm::HS256, SECRET).unwrap()]);
    let cases: Vec<(&str, Vec<Change>)> = vec![
        ("good", vec![]),
        ("expired", vec![("exp", Some(json!(NOW - 61)))]),
        ("within the leeway", vec![("exp", Some(json!(NOW - 59)))]),
        ("no exp", vec![("exp", None)]),
        ("not yet valid", vec![("nbf", Some(json!(NOW + 120)))]),
        (
            "issued in the future",
            vec![("iat", Some(json!(NOW + 120)))],
        ),
        ("too old", vec![("iat", Some(json!(NOW - 7200)))]),
        ("no iat with a maximum age", vec![("iat", None)]),
        (
            "other issuer",
            vec![("iss", Some(json!("https://evil.test")))],
        ),
        ("no issuer", vec![("iss", None)]),
        ("other audience", vec![("aud", Some(json!("billing")))]),
        (
            "audience in an array",
            vec![("aud", Some(json!(["x", "api"])))],
        ),
        ("empty audience array", vec![("aud", Some(json!([])))]),
        ("no audience", vec![("aud", None)]),
        ("no subject (required)", vec![("sub", None)]),
        ("custom rule", vec![("sub", Some(json!("mallory")))]),
        (
            "expired and other issuer",
            vec![
                ("exp", Some(json!(NOW - 3600))),
                ("iss", Some(json!("https://evil.test"))),
            ],
        ),
    ];
    for (what, changes) in cases {
        let text = payload(&changes);
        let header = r#"{"alg":"HS256","typ":"at+jwt"}"#;
        let signed = rules.validate(&TokenBuilder::sign_raw(&key, header, &text), &keys);
        let trusted = Claims::from_trusted_json(&text).unwrap();
        let checked = rules.check_claims(&trusted);
        assert_eq!(
            checked.as_ref().err().map(|e| e.kind().clone()),
            signed.as_ref().err().map(|e| e.kind().clone()),
            "{what}"
        );
    }
}

#[test]
fn trusted_claims_read_like_a_payload_without_a_signature_behind_them() {
    let text = r#"{"active":true,"iss":"https://issuer.test","sub":"svc","aud":["api","x"],
        "exp":1700000300,"iat":1699999900,"scope":"read write","client_id":"c1","token_type":"Bearer",
        "ext":{"tenant":"t1"}}"#;
    let claims = Claims::from_trusted_json(text).unwrap();
    assert_eq!(claims.algorithm(), None);
    assert_eq!(claims.key_id(), None);
    assert_eq!(claims.subject(), Some("svc"));
    assert_eq!(claims.client_id(), Some("c1"));
    assert_eq!(claims.audience().collect::<Vec<_>>(), ["api", "x"]);
    assert_eq!(claims.expires_at(), Some(1_700_000_300.0));
    assert_eq!(claims.scopes().as_str(), "read write");
    assert_eq!(claims.as_json(), text);
    // Members portcullis does not know are kept for the application.
    assert_eq!(claims.get("ext"), Some(json!({"tenant": "t1"})));
    assert_eq!(claims.get("token_type"), Some(json!("Bearer")));
    assert!(validator().check_claims(&claims).is_ok());
}

#[test]
fn trusted_json_gets_the_strict_parser() {
    for (text, kind) in [
        (
            r#"{"exp":1,"exp":2}"#,
            ErrorKind::Malformed(MalformedPart::DuplicatePayloadMember),
        ),
        (
            r#"{"a":{"b":1,"b":2}}"#,
            ErrorKind::Malformed(MalformedPart::DuplicatePayloadMember),
        ),
        ("[]", ErrorKind::Malformed(MalformedPart::Payload)),
        (
            r#"{"active":true} trailing"#,
            ErrorKind::Malformed(MalformedPart::Payload),
        ),
        (r#"{"aud":1}"#, ErrorKind::InvalidClaim("aud".into())),
        (
            r#"{"scope":["a b"]}"#,
            ErrorKind::InvalidClaim("scope".into()),
        ),
        (r#"{"exp":1e300}"#, ErrorKind::InvalidClaim("exp".into())),
    ] {
        assert_eq!(
            Claims::from_trusted_json(text).unwrap_err().kind(),
            &kind,
            "{text}"
        );
    }
}

#[test]
fn an_inactive_token_has_its_own_reason() {
    let e: portcullis_core::AuthError = ErrorKind::Inactive.into();
    assert_eq!(e.code(), "inactive");
    assert_eq!(e.to_string(), "token not active (introspection)");
}
