// Test code: a failed unwrap, expect, panic or index is a failed test, not a crash an attacker
// can cause.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Properties of credential extraction, on random requests: no header or URI makes it panic,
//! whatever it returns is a single RFC 6750 `b64token`, a `Bearer` token is found exactly as
//! sent, and two credentials are always refused.

use portcullis_tower::InvalidRequest;
use portcullis_tower::internal::find_token_in;
use proptest::prelude::*;

/// RFC 6750 section 2.1: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

fn b64token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._~+/-]{1,64}={0,2}"
}

/// Header names the extractor reads (and near misses), or any bytes.
fn header_name() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::sample::select(vec![
            "authorization",
            "Authorization",
            "cookie",
            "x-token",
            "x-tokens",
            "proxy-authorization",
        ])
        .prop_map(|n| n.as_bytes().to_vec()),
        prop::collection::vec(any::<u8>(), 0..12),
    ]
}

/// Header values: credentials in many spellings, cookies, or any bytes.
fn header_value() -> impl Strategy<Value = Vec<u8>> {
    let scheme = prop::sample::select(vec!["Bearer", "bearer", "BEARER", "Basic", "Bearerx", ""]);
    let spaces = prop::sample::select(vec!["", " ", "  ", "\t"]);
    let token = prop_oneof![
        b64token(),
        "[ -~]{0,24}",
        any::<String>().prop_map(|s| s.chars().take(24).collect()),
    ];
    prop_oneof![
        (scheme, spaces, token.clone()).prop_map(|(s, sp, t)| format!("{s}{sp}{t}").into_bytes()),
        (token.clone(), token)
            .prop_map(|(a, b)| format!("at={a}; other=1; at=\"{b}\"").into_bytes()),
        prop::collection::vec(any::<u8>(), 0..48),
    ]
}

/// URIs with or without `access_token`, percent-encoding included, or any bytes.
fn uri() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"/".to_vec()),
        "[ -~]{0,16}".prop_map(|t| format!("/me?access_token={t}").into_bytes()),
        "(%[0-9a-fA-F]{2}|%[^0-9a-fA-F]|[a-z+&=]){0,12}"
            .prop_map(|q| format!("/me?access_token={q}&access_token").into_bytes()),
        prop::collection::vec(any::<u8>(), 0..48),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn any_request_is_answered_without_panicking_and_only_b64tokens_come_out(
        headers in prop::collection::vec((header_name(), header_value()), 0..5),
        uri in uri(),
    ) {
        let headers: Vec<(&[u8], &[u8])> =
            headers.iter().map(|(n, v)| (n.as_slice(), v.as_slice())).collect();
        if let Ok(Some(token)) = find_token_in(&headers, &uri) {
            prop_assert!(is_b64token(&token), "{:?}", token);
        }
    }

    #[test]
    fn a_bearer_token_is_found_exactly_as_sent(
        token in b64token(),
        scheme in prop::sample::select(vec!["Bearer", "bearer", "BEARER", "bEaReR"]),
        spaces in 1usize..4,
    ) {
        let value = format!("{scheme}{}{token}", " ".repeat(spaces));
        let found = find_token_in(&[(b"authorization", value.as_bytes())], b"/me");
        prop_assert_eq!(found, Ok(Some(token)));
    }

    #[test]
    fn two_credentials_are_always_refused(
        a in b64token(),
        b in b64token(),
        second_place in 0usize..4,
    ) {
        let bearer = format!("Bearer {a}");
        let cookie = format!("at={b}");
        let mut headers: Vec<(&[u8], &[u8])> = vec![(b"authorization", bearer.as_bytes())];
        let mut uri = "/me".to_owned();
        let other_bearer = format!("Bearer {b}");
        match second_place {
            0 => headers.push((b"authorization", other_bearer.as_bytes())),
            1 => headers.push((b"cookie", cookie.as_bytes())),
            2 => headers.push((b"x-token", b.as_bytes())),
            _ => uri = format!("/me?access_token={}", b.replace('+', "%2B")),
        }
        prop_assert_eq!(
            find_token_in(&headers, uri.as_bytes()),
            Err(InvalidRequest::MultipleCredentials)
        );
    }
}
