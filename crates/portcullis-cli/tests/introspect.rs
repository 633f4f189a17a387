//! `portcullis verify --introspect`, run as a built binary against the testkit issuer's
//! introspection endpoint over loopback: exit codes, the claim rules, `--json`, and the
//! configuration errors the endpoint reports.
// Test code: a failed unwrap or assertion is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{closed_port, run, run_with};
use portcullis_testkit::TestIssuer;

const SECRET: (&str, &str) = ("PORTCULLIS_TEST_CLIENT_SECRET", "secret-1");

/// `portcullis verify --introspect <endpoint> --client-id client-1 --client-secret-env ...`
/// with `extra` arguments, the secret in the environment.
async fn introspect(idp: &TestIssuer, extra: &[&str]) -> common::Run {
    let url = idp.introspection_url();
    let mut args = vec![
        "verify",
        "--introspect",
        &url,
        "--client-id",
        "client-1",
        "--client-secret-env",
        SECRET.0,
    ];
    args.extend_from_slice(extra);
    run_with(&args, None, &[SECRET]).await
}

#[tokio::test]
async fn an_active_opaque_token_exits_0_with_its_claims() {
    let idp = TestIssuer::start().await;
    let token = idp.opaque(&idp.token().scope("orders.read").subject("alice"));
    let iss = idp.issuer();
    let out = introspect(
        &idp,
        &[
            "--issuer",
            &iss,
            "--audience",
            "api",
            "--require-scope",
            "orders.read",
            &token,
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.starts_with("VALID"), "{}", out.stdout);
    assert!(out.stdout.contains("client client-1, client_secret_basic"));
    assert!(out.stdout.contains(&format!("{iss} (checked)")));
    assert!(out.stdout.contains("subject     alice"));
    assert!(out.stdout.contains("\"active\": true"));
    assert!(!out.stdout.contains(&token), "the token is never echoed");
    assert!(!out.stdout.contains("secret-1"), "nor the secret");
    assert_eq!(idp.introspection_calls(), 1);
}

#[tokio::test]
async fn refusals_exit_1_with_the_reason() {
    let idp = TestIssuer::start().await;
    let revoked = idp.opaque(&idp.token());
    idp.revoke(&revoked);
    let out = introspect(&idp, &[&revoked]).await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stdout
            .starts_with("REFUSED  token not active (introspection) (inactive)"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("revoked"), "the hint: {}", out.stdout);

    let other = idp.opaque(&idp.token().audience("billing"));
    let out = introspect(&idp, &["--audience", "api", "--json", &other]).await;
    assert_eq!(out.code, 1, "{out:?}");
    let json = out.json();
    assert_eq!(json["valid"], false);
    assert_eq!(json["error"]["code"], "wrong_audience");
    assert_eq!(json["response"]["aud"], "billing");

    let narrow = idp.opaque(&idp.token().scope("read"));
    let out = introspect(&idp, &["--require-scope", "write", &narrow]).await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stdout.contains("insufficient_scope"), "{}", out.stdout);
}

#[tokio::test]
async fn the_secret_can_be_sent_in_the_body() {
    let idp = TestIssuer::start().await;
    let token = idp.opaque(&idp.token());
    let out = introspect(&idp, &["--client-secret-post", "--json", &token]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let json = out.json();
    assert_eq!(json["valid"], true);
    assert!(
        json["introspection"]
            .as_str()
            .unwrap()
            .contains("client_secret_post")
    );
}

#[tokio::test]
async fn wrong_credentials_and_a_dead_endpoint_are_errors_not_refusals() {
    let idp = TestIssuer::start().await;
    let token = idp.opaque(&idp.token());
    let url = idp.introspection_url();
    let wrong = run_with(
        &[
            "verify",
            "--introspect",
            &url,
            "--client-id",
            "client-1",
            "--client-secret-env",
            "PORTCULLIS_TEST_WRONG_SECRET",
            &token,
        ],
        None,
        &[("PORTCULLIS_TEST_WRONG_SECRET", "nope")],
    )
    .await;
    wrong.assert_error("configuration error");
    assert!(wrong.stderr.contains("--client-secret-post"), "{wrong:?}");
    assert!(
        !wrong.stderr.contains("nope"),
        "the secret is never printed"
    );

    let dead = format!("http://127.0.0.1:{}/introspect", closed_port());
    let out = run_with(
        &[
            "verify",
            "--introspect",
            &dead,
            "--client-id",
            "client-1",
            "--client-secret-env",
            SECRET.0,
            &token,
        ],
        None,
        &[SECRET],
    )
    .await;
    out.assert_error("could not connect");

    let unset = run(&[
        "verify",
        "--introspect",
        &url,
        "--client-id",
        "client-1",
        "--client-secret-env",
        "PORTCULLIS_TEST_SURELY_UNSET_VARIABLE",
        &token,
    ])
    .await;
    unset.assert_error("PORTCULLIS_TEST_SURELY_UNSET_VARIABLE");

    let missing = run(&["verify", "--introspect", &url, &token]).await;
    assert_eq!(missing.code, 2, "{missing:?}");
    assert!(missing.stderr.contains("--client-id"), "{missing:?}");
}

#[tokio::test]
async fn a_step_up_is_checked_on_what_the_endpoint_says_of_the_login() {
    let idp = TestIssuer::start().await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let login = |acr: &str, ago: u64| {
        idp.opaque(
            &idp.token()
                .claim("acr", serde_json::json!(acr))
                .claim("auth_time", serde_json::json!(now - ago)),
        )
    };
    let step_up = ["--acr-value", "mfa", "--max-auth-age", "300", "--json"];
    let strong = login("mfa", 10);
    let mut args = step_up.to_vec();
    args.push(&strong);
    let out = introspect(&idp, &args).await;
    assert_eq!(out.code, 0, "{out:?}");
    for weak in [login("pwd", 10), login("mfa", 3600)] {
        let mut args = step_up.to_vec();
        args.push(&weak);
        let out = introspect(&idp, &args).await;
        assert_eq!(out.code, 1, "{out:?}");
        assert_eq!(
            out.json()["error"]["code"],
            "insufficient_user_authentication",
            "{out:?}"
        );
    }
}
