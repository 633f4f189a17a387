// Tests may unwrap, index and panic: a failure is the test's report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Step-up authentication (RFC 9470) over real HTTP: an axum API on 127.0.0.1:0, a testkit
//! issuer, reqwest; the validator and the step-up read one injected clock.

use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use http::Method;
use portcullis_core::{ManualClock, ScopeRequirement, StepUp, Validator};
use portcullis_jwks::{JwtVerifier, RemoteJwks};
use portcullis_testkit::{TestIssuer, serve};
use portcullis_tower::axum::{ClaimsRejection, Refuse, VerifiedClaims};
use portcullis_tower::{Answers, BearerAuthLayer, Policy, Requirements};
use serde_json::json;

const NOW: i64 = 1_700_000_000;

async fn layer_for(idp: &TestIssuer, clock: &ManualClock) -> BearerAuthLayer {
    let keys = RemoteJwks::builder(idp.jwks_url()).build().await.unwrap();
    let rules = Validator::builder()
        .issuer(idp.issuer())
        .audience("api")
        .clock(clock.clone())
        .build()
        .unwrap();
    BearerAuthLayer::new(JwtVerifier::new(keys, rules)).answers(Answers::default().realm("r"))
}

fn mfa_recent() -> StepUp {
    StepUp::acr(["mfa", "hwk"]).and_max_age(Duration::from_secs(300))
}

/// A token of the clock's time: valid for an hour, with this login and these scopes.
fn token(idp: &TestIssuer, acr: Option<&str>, auth_time: Option<i64>, scope: &str) -> String {
    let mut t = idp.token().now(NOW).expires_in(3600).scope(scope);
    if let Some(acr) = acr {
        t = t.claim("acr", json!(acr));
    }
    if let Some(at) = auth_time {
        t = t.claim("auth_time", json!(at));
    }
    t.sign()
}

struct Answer {
    status: u16,
    challenge: Option<String>,
}

async fn send(method: Method, url: &str, token: &str, body: &str) -> Answer {
    let res = reqwest::Client::new()
        .request(method, url)
        .bearer_auth(token)
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    Answer {
        status: res.status().as_u16(),
        challenge: res
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned()),
    }
}

const STEP_UP: &str = r#"Bearer realm="r", error="insufficient_user_authentication", acr_values="mfa hwk", max_age="300""#;

/// Each way of putting a step-up on a route: the layer's own, a policy rule, a second
/// layer; every one answers the same.
async fn apis(idp: &TestIssuer, clock: &ManualClock) -> Vec<(&'static str, String)> {
    let auth = layer_for(idp, clock).await;
    let own = Router::new()
        .route("/sensitive", get(|| async { "ok" }))
        .route_layer(auth.with_scopes(["records"]).with_step_up(mfa_recent()));
    let policy = Policy::deny_by_default()
        .route_method(
            Method::GET,
            "/sensitive",
            Requirements::new()
                .scopes(ScopeRequirement::all_of(["records"]))
                .step_up(mfa_recent()),
        )
        .build()
        .unwrap();
    let table = Router::new()
        .route("/sensitive", get(|| async { "ok" }))
        .layer(auth.clone().policy(policy));
    let second = Router::new()
        .route("/sensitive", get(|| async { "ok" }))
        .route_layer(auth.require_scopes(["records"]).and_step_up(mfa_recent()))
        .route_layer(auth.clone());
    vec![
        ("own", serve(own).await),
        ("policy", serve(table).await),
        ("second layer", serve(second).await),
    ]
}

/// `acr`, `auth_time`, scope; the status and challenge expected.
type Case = (
    Option<&'static str>,
    Option<i64>,
    &'static str,
    u16,
    Option<&'static str>,
);

#[tokio::test]
async fn a_route_asks_for_a_strong_recent_login_and_names_it_in_the_challenge() {
    let idp = TestIssuer::start().await;
    let clock = ManualClock::at(NOW);
    for (shape, base) in apis(&idp, &clock).await {
        let url = format!("{base}/sensitive");
        let cases: [Case; 9] = [
            (Some("mfa"), Some(NOW - 300), "records", 200, None),
            (Some("hwk"), Some(NOW - 10), "records", 200, None),
            // Too weak, too old, or not said: a step-up challenge.
            (Some("pwd"), Some(NOW - 10), "records", 401, Some(STEP_UP)),
            (Some("mfa"), Some(NOW - 301), "records", 401, Some(STEP_UP)),
            (None, Some(NOW - 10), "records", 401, Some(STEP_UP)),
            (Some("mfa"), None, "records", 401, Some(STEP_UP)),
            (Some("MFA"), Some(NOW - 10), "records", 401, Some(STEP_UP)),
            // The login is checked before the scopes: a weak login without the scope is
            // asked to step up first, a strong one without the scope is refused the scope.
            (Some("pwd"), Some(NOW - 10), "other", 401, Some(STEP_UP)),
            (
                Some("mfa"),
                Some(NOW - 10),
                "other",
                403,
                Some(r#"Bearer realm="r", error="insufficient_scope", scope="records""#),
            ),
        ];
        for (acr, auth_time, scope, status, challenge) in cases {
            let a = send(Method::GET, &url, &token(&idp, acr, auth_time, scope), "").await;
            assert_eq!(
                (a.status, a.challenge.as_deref()),
                (status, challenge),
                "{shape}: acr {acr:?}, auth_time {auth_time:?}, scope {scope}"
            );
        }
    }
}

#[tokio::test]
async fn a_login_that_was_recent_ages_out_on_the_injected_clock() {
    let idp = TestIssuer::start().await;
    let clock = ManualClock::at(NOW);
    let shapes = apis(&idp, &clock).await;
    let t = token(&idp, Some("mfa"), Some(NOW - 250), "records");
    for (shape, base) in &shapes {
        let a = send(Method::GET, &format!("{base}/sensitive"), &t, "").await;
        assert_eq!(a.status, 200, "{shape}");
    }
    // 51 s later the same token (still valid, and cached) is 301 s from its login.
    clock.advance_secs(51);
    for (shape, base) in &shapes {
        let a = send(Method::GET, &format!("{base}/sensitive"), &t, "").await;
        assert_eq!(
            (a.status, a.challenge.as_deref()),
            (401, Some(STEP_UP)),
            "{shape}"
        );
    }
}

#[tokio::test]
async fn a_login_in_the_future_or_of_the_wrong_type_fails_closed() {
    let idp = TestIssuer::start().await;
    let clock = ManualClock::at(NOW);
    let auth = layer_for(&idp, &clock).await;
    let api = Router::new()
        .route("/recent", get(|| async { "ok" }))
        .route_layer(auth.with_step_up(StepUp::max_age(Duration::from_secs(60))));
    let url = format!("{}/recent", serve(api).await);
    let challenge = r#"Bearer realm="r", error="insufficient_user_authentication", max_age="60""#;
    let signed = |auth_time: serde_json::Value| {
        idp.token()
            .now(NOW)
            .expires_in(3600)
            .claim("auth_time", auth_time)
            .sign()
    };
    let ok = send(Method::GET, &url, &signed(json!(NOW - 5)), "").await;
    assert_eq!(ok.status, 200);
    for bad in [
        json!(NOW + 3600),
        json!(NOW.to_string()),
        json!(null),
        json!([NOW]),
        json!({"t": NOW}),
        json!(true),
    ] {
        let a = send(Method::GET, &url, &signed(bad.clone()), "").await;
        assert_eq!(
            (a.status, a.challenge.as_deref()),
            (401, Some(challenge)),
            "{bad}"
        );
    }
}

async fn transfer(
    VerifiedClaims(claims): VerifiedClaims,
    refuse: Refuse,
    body: String,
) -> Result<&'static str, ClaimsRejection> {
    let amount: u64 = body.trim().parse().unwrap_or(u64::MAX);
    if amount > 1_000 {
        refuse.unless_scopes(&claims, &ScopeRequirement::all_of(["payments.large"]))?;
        refuse.unless_step_up(&claims, &mfa_recent())?;
    }
    if amount == 666 {
        return Err(refuse.insufficient_scope(ScopeRequirement::any_of(["devil", "saint"])));
    }
    Ok("sent")
}

#[tokio::test]
async fn a_handler_refuses_with_the_answer_the_layer_would_give() {
    let idp = TestIssuer::start().await;
    let clock = ManualClock::at(NOW);
    let auth = layer_for(&idp, &clock).await;
    let api = Router::new()
        .route("/transfers", post(transfer))
        .route_layer(auth.with_scopes(["payments"]));
    let url = format!("{}/transfers", serve(api).await);
    let weak = token(&idp, Some("pwd"), Some(NOW - 10), "payments payments.large");
    let small = token(&idp, Some("pwd"), Some(NOW - 10), "payments");
    let strong = token(&idp, Some("mfa"), Some(NOW - 10), "payments payments.large");

    let a = send(Method::POST, &url, &small, "10").await;
    assert_eq!(a.status, 200);
    let a = send(Method::POST, &url, &small, "5000").await;
    assert_eq!(
        (a.status, a.challenge.as_deref()),
        (
            403,
            Some(r#"Bearer realm="r", error="insufficient_scope", scope="payments.large""#)
        )
    );
    let a = send(Method::POST, &url, &weak, "5000").await;
    assert_eq!((a.status, a.challenge.as_deref()), (401, Some(STEP_UP)));
    let a = send(Method::POST, &url, &strong, "5000").await;
    assert_eq!(a.status, 200);
    clock.advance_secs(300);
    let a = send(Method::POST, &url, &strong, "5000").await;
    assert_eq!((a.status, a.challenge.as_deref()), (401, Some(STEP_UP)));
    let a = send(Method::POST, &url, &strong, "666").await;
    assert_eq!(
        (a.status, a.challenge.as_deref()),
        (
            403,
            Some(r#"Bearer realm="r", error="insufficient_scope", scope="devil saint""#)
        )
    );
}

#[test]
#[should_panic(expected = "step-up requirement needs")]
fn a_step_up_that_requires_nothing_is_a_programming_error() {
    let none: [&str; 0] = [];
    let layer = BearerAuthLayer::new(portcullis_jwks::JwtVerifier::new(
        portcullis_jwks::StaticKeys::new(portcullis_core::KeySet::default()),
        Validator::builder()
            .issuer("https://a.test")
            .audience("api")
            .build()
            .unwrap(),
    ));
    let _ = layer.with_step_up(StepUp::acr(none));
}

#[test]
fn a_policy_refuses_a_step_up_a_challenge_cannot_carry() {
    let bad = Policy::deny_by_default()
        .route("/x", StepUp::acr(["two words"]))
        .build()
        .unwrap_err();
    assert!(bad.to_string().contains("acr value"), "{bad}");
}
