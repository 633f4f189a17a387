// Test code: a failed unwrap, expect, panic or index is a failed test, not a crash an attacker
// can cause.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The attack suite of the security manual (`portcullis::manual::security`), claims: ID tokens as
//! access tokens, audience and issuer confusions, time claims of the wrong type or range.
//!
//! Each threat is driven through the real layer over HTTP and through the core API, with the
//! exact answer and `ErrorKind` asserted (the target and its helpers: `tests/common/attack.rs`).

mod common;

use std::borrow::Cow;
use std::time::Duration;

use common::attack::{
    Answer, DEFAULTS, REALM, Setup, Target, bearer, issued_at, object_with, protected, rules_for,
};
use portcullis::Portcullis;
use portcullis::jwt::{
    AlgorithmSet, ErrorKind, KeySet, MalformedPart, ManualClock, TypPolicy, Validator,
};
use portcullis_testkit::{TestIssuer, TokenBuilder, serve};
use serde_json::json;

#[tokio::test]
async fn id_tokens_and_other_jwts_presented_as_access_tokens_are_refused() {
    let idp = TestIssuer::start().await;
    let t = Target::start(&idp).await;
    // An OpenID Connect ID token: issued to the client, for the client.
    let id_token = || {
        idp.token()
            .audience("client-1")
            .claim("azp", json!("client-1"))
            .claim("nonce", json!("n-0S6_WzA2Mj"))
            .claim("auth_time", json!(1_700_000_000))
            .remove_claim("scope")
    };
    t.refuses(
        "ID token typed JWT",
        &id_token().header("typ", json!("JWT")).sign(),
        ErrorKind::WrongAudience,
    )
    .await;
    t.refuses(
        "ID token without typ",
        &id_token().remove_header("typ").sign(),
        ErrorKind::WrongAudience,
    )
    .await;
    // Other JWT types are refused whatever their audience.
    for typ in [
        "dpop+jwt",
        "logout+jwt",
        "secevent+jwt",
        "id_token+jwt",
        "at+jwt ",
        "at+jwt; charset=utf-8",
    ] {
        let token = idp.token().header("typ", json!(typ)).sign();
        t.refuses(&format!("typ {typ:?}"), &token, ErrorKind::WrongType)
            .await;
    }
    t.refuses(
        "typ as a list",
        &idp.token().header("typ", json!(["at+jwt"])).sign(),
        ErrorKind::Malformed(MalformedPart::Header),
    )
    .await;

    // RFC 9068 only: an ID token is refused by its type, even with the API's audience.
    let strict = Target::start_with(
        &idp,
        Setup {
            typ: TypPolicy::RequireAccessToken,
            ..DEFAULTS
        },
    )
    .await;
    for (what, token) in [
        (
            "ID token typed JWT, aud api",
            id_token()
                .audience("api")
                .header("typ", json!("JWT"))
                .sign(),
        ),
        (
            "ID token without typ, aud api",
            id_token().audience("api").remove_header("typ").sign(),
        ),
    ] {
        strict.refuses(what, &token, ErrorKind::WrongType).await;
    }
    for typ in ["at+jwt", "application/at+jwt", "AT+JWT"] {
        let token = idp.token().header("typ", json!(typ)).sign();
        strict.accepts(&format!("typ {typ}"), &token).await;
    }
}

#[tokio::test]
async fn audience_confusions_are_refused() {
    let idp = TestIssuer::start().await;
    let t = Target::start(&idp).await;
    for aud in [
        json!("ap"),
        json!("api2"),
        json!("api/"),
        json!(" api"),
        json!("api "),
        json!("API"),
        json!("https://api"),
        json!("api\u{0}"),
        json!("\u{430}pi"), // a Cyrillic a
        json!(["other"]),
        json!([]),
        json!(["ap", "i"]),
        json!(["API"]),
    ] {
        let token = idp.token().claim("aud", aud.clone()).sign();
        t.refuses(&format!("aud {aud}"), &token, ErrorKind::WrongAudience)
            .await;
    }
    for aud in [
        json!(1),
        json!(true),
        json!(null),
        json!({"api": true}),
        json!(["api", 2]),
        json!([["api"]]),
    ] {
        let token = idp.token().claim("aud", aud.clone()).sign();
        t.refuses(
            &format!("aud {aud}"),
            &token,
            ErrorKind::InvalidClaim(Cow::Borrowed("aud")),
        )
        .await;
    }
    t.refuses(
        "no aud",
        &idp.token().remove_claim("aud").sign(),
        ErrorKind::MissingClaim(Cow::Borrowed("aud")),
    )
    .await;
    // Two `aud` members: parsers that keep the first and parsers that keep the last disagree,
    // so the token is refused whatever the order.
    let (header, claims) = t.raw_parts();
    let mut rest = claims.clone();
    rest.as_object_mut().unwrap().remove("aud");
    for first in [
        r#""aud":"other","aud":"api""#,
        r#""aud":"api","aud":"other""#,
        r#""aud":"other","\u0061ud":"api""#,
        r#""aud":["other"],"aud":["api"]"#,
    ] {
        let token = TokenBuilder::sign_raw(
            &idp.signing_key(),
            &header.to_string(),
            &object_with(first, &rest),
        );
        t.refuses(
            first,
            &token,
            ErrorKind::Malformed(MalformedPart::DuplicatePayloadMember),
        )
        .await;
    }
    // RFC 7519: one of the audiences is enough.
    let token = idp.token().claim("aud", json!(["other", "api"])).sign();
    t.accepts("aud [other, api]", &token).await;
}

#[tokio::test]
async fn issuer_confusions_are_refused() {
    let idp = TestIssuer::start().await;
    let t = Target::start(&idp).await;
    let iss = idp.issuer();
    let localhost = iss.replace("127.0.0.1", "localhost");
    for (what, claimed) in [
        ("a trailing slash", format!("{iss}/")),
        ("a trailing dot segment", format!("{iss}/.")),
        ("a path", format!("{iss}/tenant")),
        ("a query", format!("{iss}?")),
        ("a fragment", format!("{iss}#")),
        ("a prefix", iss[..iss.len() - 1].to_owned()),
        ("a longer port", format!("{iss}0")),
        ("another host name", localhost),
        ("an upper-case scheme", iss.replace("http://", "HTTP://")),
        ("a leading space", format!(" {iss}")),
        ("a NUL byte", format!("{iss}\0")),
        ("https instead of http", iss.replace("http://", "https://")),
        ("a stranger", "https://evil.example".to_owned()),
    ] {
        let token = idp.token().issuer(&claimed).sign();
        t.refuses(what, &token, ErrorKind::WrongIssuer).await;
    }
    for claimed in [json!([iss]), json!(1), json!(null), json!({"iss": iss})] {
        let token = idp.token().claim("iss", claimed.clone()).sign();
        t.refuses(
            &format!("iss {claimed}"),
            &token,
            ErrorKind::InvalidClaim(Cow::Borrowed("iss")),
        )
        .await;
    }
    t.refuses(
        "no iss",
        &idp.token().remove_claim("iss").sign(),
        ErrorKind::MissingClaim(Cow::Borrowed("iss")),
    )
    .await;
    let (header, claims) = t.raw_parts();
    let mut rest = claims.clone();
    rest.as_object_mut().unwrap().remove("iss");
    for first in [
        format!(r#""iss":"https://evil.example","iss":"{iss}""#),
        format!(r#""iss":"{iss}","iss":"https://evil.example""#),
    ] {
        let token = TokenBuilder::sign_raw(
            &idp.signing_key(),
            &header.to_string(),
            &object_with(&first, &rest),
        );
        t.refuses(
            "two iss members",
            &token,
            ErrorKind::Malformed(MalformedPart::DuplicatePayloadMember),
        )
        .await;
    }

    // Two trusted issuers whose keys share a `kid` (both call theirs `rsa-1`): a token signed
    // by A that names B is checked with B's keys and rules, and refused.
    let other = TestIssuer::start().await;
    let both = Portcullis::builder()
        .issuer(idp.issuer())
        .audience("api")
        .issuer(other.issuer())
        .audience("api")
        .realm(REALM)
        .build()
        .await
        .unwrap();
    let base = serve(protected(&both)).await;
    let http = reqwest::Client::new();
    let url = format!("{base}/me");
    let b_rules = Validator::builder()
        .issuer(other.issuer())
        .audience("api")
        .build()
        .unwrap();
    let b_keys = KeySet::from_jwks(&other.jwks_json().to_string(), AlgorithmSet::ASYMMETRIC)
        .unwrap()
        .keys;
    let crossed = idp.token().issuer(&other.issuer()).sign();
    assert_eq!(
        b_rules.validate(&crossed, &b_keys).unwrap_err().kind(),
        &ErrorKind::InvalidSignature
    );
    assert_eq!(bearer(&http, &url, &crossed).await, Answer::invalid_token());
    for first in [
        format!(r#""iss":"{}","iss":"{}""#, idp.issuer(), other.issuer()),
        format!(r#""iss":"{}","iss":"{}""#, other.issuer(), idp.issuer()),
    ] {
        let token = TokenBuilder::sign_raw(
            &idp.signing_key(),
            &header.to_string(),
            &object_with(&first, &rest),
        );
        assert_eq!(
            bearer(&http, &url, &token).await,
            Answer::invalid_token(),
            "two iss members, two issuers"
        );
    }
    assert_eq!(bearer(&http, &url, &idp.token().sign()).await, Answer::ok());
    assert_eq!(
        bearer(&http, &url, &other.token().sign()).await,
        Answer::ok()
    );
}

#[tokio::test]
async fn time_claims_of_the_wrong_type_or_range_are_refused() {
    let idp = TestIssuer::start().await;
    let t = Target::start(&idp).await;
    let bad_values = [
        json!("2100-01-01T00:00:00Z"),
        json!("4102444800"),
        json!(true),
        json!(false),
        json!(null),
        json!([4_102_444_800_i64]),
        json!({"$date": 4_102_444_800_i64}),
        json!(1e300),
        json!(253_402_300_800_i64), // year 10000
        json!(-253_402_300_800_i64),
    ];
    for name in ["exp", "nbf", "iat"] {
        for value in &bad_values {
            let token = idp.token().claim(name, value.clone()).sign();
            t.refuses(
                &format!("{name} {value}"),
                &token,
                ErrorKind::InvalidClaim(Cow::Borrowed(name)),
            )
            .await;
        }
    }
    // Numbers that are not JSON, or not JSON as portcullis reads it.
    let (header, claims) = t.raw_parts();
    let mut rest = claims.clone();
    rest.as_object_mut().unwrap().remove("exp");
    for exp in [
        "1e400",
        "NaN",
        "Infinity",
        "-Infinity",
        "01",
        "+1",
        ".5",
        "0x7fffffff",
        "1.",
    ] {
        let token = TokenBuilder::sign_raw(
            &idp.signing_key(),
            &header.to_string(),
            &object_with(&format!(r#""exp":{exp}"#), &rest),
        );
        t.refuses(
            &format!("exp {exp}"),
            &token,
            ErrorKind::Malformed(MalformedPart::Payload),
        )
        .await;
    }
    t.refuses(
        "no exp",
        &idp.token().remove_claim("exp").sign(),
        ErrorKind::MissingClaim(Cow::Borrowed("exp")),
    )
    .await;
    for (what, name, value, kind) in [
        ("exp at the epoch", "exp", json!(0), ErrorKind::Expired),
        ("exp before the epoch", "exp", json!(-1), ErrorKind::Expired),
        (
            "nbf in year 9999",
            "nbf",
            json!(253_402_300_799_i64),
            ErrorKind::NotYetValid,
        ),
        (
            "iat in year 9999",
            "iat",
            json!(253_402_300_799_i64),
            ErrorKind::IssuedInFuture,
        ),
    ] {
        t.refuses(what, &idp.token().claim(name, value).sign(), kind)
            .await;
    }
    // A token valid until year 9999 is accepted: the lifetime is the issuer's choice. A maximum
    // age (from `iat`) bounds how long portcullis accepts it anyway.
    let forever = idp.token().claim("exp", json!(253_402_300_799_i64)).sign();
    t.accepts("exp in year 9999", &forever).await;
    let clock = ManualClock::at(issued_at(&forever));
    let bounded = rules_for(&idp)
        .max_age(Duration::from_secs(3600))
        .clock(clock.clone())
        .build()
        .unwrap();
    let keys = t.keys();
    bounded.validate(&forever, &keys).unwrap();
    clock.advance_secs(3600 + 61);
    assert_eq!(
        bounded.validate(&forever, &keys).unwrap_err().kind(),
        &ErrorKind::TooOld
    );
}
