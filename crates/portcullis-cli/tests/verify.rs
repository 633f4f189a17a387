//! `portcullis verify`, run as a built binary against the testkit issuer over loopback: exit
//! codes, reasons and rules, the `--json` shape, `--at`, every key source, bad input.
// Test code: a failed unwrap or assertion is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{closed_port, run, run_with, thumbprint};
use portcullis_testkit::{Algorithm, TestIssuer, TestKey, TokenBuilder, tamper};
use serde_json::json;

/// 2001-09-09T01:46:40Z, the reference time of the tokens checked with `--at`.
const T0: i64 = 1_000_000_000;

#[tokio::test]
async fn a_valid_token_exits_0_and_shows_key_claims_scopes_and_expiry() {
    let issuer = TestIssuer::start().await;
    let token = issuer.token().sign();
    let iss = issuer.issuer();
    let out = run(&["verify", "--issuer", &iss, "--audience", "api", &token]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.starts_with("VALID"), "{}", out.stdout);
    let key = issuer.signing_key();
    assert!(
        out.stdout.contains("kid \"rsa-1\", RS256"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains(&thumbprint(&key)), "{}", out.stdout);
    assert!(
        out.stdout.contains("scopes      read write"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("(in 5 min)") || out.stdout.contains("(in 4 min"));
    assert!(out.stdout.contains(&format!("{iss} (checked)")));
    assert!(out.stdout.contains("\"sub\": \"user-1\""));
    assert!(
        !out.stdout.contains('\x1b'),
        "no colour when not on a terminal"
    );
    assert!(
        !out.stdout.contains(&token),
        "the token itself is never echoed"
    );
    assert_eq!(out.stderr, "");
}

#[tokio::test]
async fn json_output_is_one_object_with_the_verdict_key_and_claims() {
    let issuer = TestIssuer::start().await;
    let token = issuer
        .token()
        .now(T0)
        .scope("orders.read orders.write")
        .sign();
    let iss = issuer.issuer();
    let at = (T0 + 10).to_string();
    let out = run(&[
        "verify",
        "--issuer",
        &iss,
        "--audience",
        "api",
        "--at",
        &at,
        "--json",
        &token,
    ])
    .await;
    assert_eq!(out.code, 0, "{out:?}");
    let v = out.json();
    assert_eq!(v["valid"], true);
    assert_eq!(v["checked_at"], T0 + 10);
    assert_eq!(v["key"]["kid"], "rsa-1");
    assert_eq!(v["key"]["alg"], "RS256");
    assert_eq!(v["key"]["thumbprint"], thumbprint(&issuer.signing_key()));
    assert_eq!(v["issuer"], iss.as_str());
    assert_eq!(v["issuer_checked"], true);
    assert_eq!(v["audience"], json!(["api"]));
    assert_eq!(v["audience_checked"], true);
    assert_eq!(v["subject"], "user-1");
    assert_eq!(v["client_id"], "client-1");
    assert_eq!(v["scopes"], json!(["orders.read", "orders.write"]));
    assert_eq!(v["issued_at"], T0);
    assert_eq!(v["expires_at"], T0 + 300);
    assert_eq!(v["expires_in"], 290);
    assert_eq!(v["claims"]["jti"].as_str().unwrap().len(), 32);
    assert!(
        v["keys_from"]
            .as_str()
            .unwrap()
            .contains(&issuer.jwks_url())
    );

    // A refusal has the same envelope: the reason, the rule, and the claims marked unverified.
    let late = (T0 + 3600).to_string();
    let out = run(&[
        "verify",
        "--issuer",
        &iss,
        "--audience",
        "api",
        "--at",
        &late,
        "--json",
        &token,
    ])
    .await;
    assert_eq!(out.code, 1, "{out:?}");
    let v = out.json();
    assert_eq!(v["valid"], false);
    assert_eq!(v["error"]["code"], "expired");
    assert_eq!(v["error"]["rule"], "exp");
    assert_eq!(v["error"]["reason"], "token expired");
    let detail = v["error"]["detail"].as_str().unwrap();
    assert!(detail.contains("2001-09-09T01:51:40Z"), "{detail}");
    assert!(detail.contains("55 min before"), "{detail}");
    assert_eq!(v["header"]["kid"], "rsa-1");
    assert_eq!(v["unverified_claims"]["sub"], "user-1");
    assert!(
        v.get("claims").is_none(),
        "refused claims are only ever `unverified_claims`"
    );
}

#[tokio::test]
async fn at_checks_a_token_as_of_its_own_time_in_either_notation() {
    let issuer = TestIssuer::start().await;
    let token = issuer.token().now(T0).sign();
    let iss = issuer.issuer();
    let base = ["verify", "--issuer", iss.as_str(), "--audience", "api"];

    let now = run(&[&base[..], &[token.as_str()]].concat()).await;
    assert_eq!(now.code, 1, "a 2001 token is expired today: {now:?}");
    assert!(
        now.stdout.contains("REFUSED  token expired (expired)"),
        "{}",
        now.stdout
    );
    assert!(
        now.stdout.contains("use --at"),
        "the hint names --at: {}",
        now.stdout
    );

    for at in [
        "2001-09-09T01:48:20Z",
        "2001-09-09T03:48:20+02:00",
        "1000000100",
    ] {
        let out = run(&[&base[..], &["--at", at, token.as_str()]].concat()).await;
        assert_eq!(out.code, 0, "--at {at}: {out:?}");
        assert!(
            out.stdout.contains("2001-09-09T01:48:20Z (--at)"),
            "{}",
            out.stdout
        );
        assert!(
            out.stdout
                .contains("expires     2001-09-09T01:51:40Z (in 3 min 20 s)")
        );
    }
    // Within the leeway after `exp` is still valid; past it is not; before `iat` neither.
    let edge = (T0 + 300 + 59).to_string();
    assert_eq!(
        run(&[&base[..], &["--at", &edge, &token]].concat())
            .await
            .code,
        0
    );
    let past = (T0 + 300 + 60).to_string();
    assert_eq!(
        run(&[&base[..], &["--at", &past, &token]].concat())
            .await
            .code,
        1
    );
    let zero_leeway = (T0 + 301).to_string();
    let out = run(&[&base[..], &["--at", &zero_leeway, "--leeway", "0", &token]].concat()).await;
    assert_eq!(out.code, 1);
    let early = run(&[
        &base[..],
        &["--at", "2001-01-01T00:00:00Z", "--json", &token],
    ]
    .concat())
    .await;
    assert_eq!(early.json()["error"]["code"], "issued_in_future");
    assert_eq!(early.json()["error"]["rule"], "iat");
}

/// Runs `verify --json` with the test issuer's keys and returns the error object.
async fn refusal(issuer: &TestIssuer, token: &str, extra: &[&str]) -> serde_json::Value {
    let iss = issuer.issuer();
    let mut args = vec!["verify", "--issuer", &iss, "--audience", "api", "--json"];
    args.extend_from_slice(extra);
    args.push(token);
    let out = run(&args).await;
    assert_eq!(out.code, 1, "refused: {out:?}");
    let v = out.json();
    assert_eq!(v["valid"], false);
    v["error"].clone()
}

#[tokio::test]
async fn each_refusal_names_its_reason_and_the_rule_that_failed() {
    let issuer = TestIssuer::start().await;
    let key = issuer.signing_key();

    let e = refusal(&issuer, &issuer.token().audience("billing").sign(), &[]).await;
    assert_eq!(
        (e["code"].as_str(), e["rule"].as_str()),
        (Some("wrong_audience"), Some("aud"))
    );
    assert!(
        e["detail"]
            .as_str()
            .unwrap()
            .contains("`aud` is \"billing\"; accepted: \"api\"")
    );
    assert!(e["hint"].as_str().unwrap().contains("--audience billing"));

    let e = refusal(
        &issuer,
        &issuer.token().issuer("https://other.example").sign(),
        &[],
    )
    .await;
    assert_eq!(
        (e["code"].as_str(), e["rule"].as_str()),
        (Some("wrong_issuer"), Some("iss"))
    );
    assert!(
        e["detail"]
            .as_str()
            .unwrap()
            .contains("https://other.example")
    );

    let tampered = tamper::flip_signature_bit(&issuer.token().sign());
    let e = refusal(&issuer, &tampered, &[]).await;
    assert_eq!(e["code"], "invalid_signature");
    assert_eq!(e["rule"], "signature");
    assert!(e["detail"].as_str().unwrap().contains(&thumbprint(&key)));

    let unsigned = TokenBuilder::new(&key)
        .issuer(&issuer.issuer())
        .header("alg", json!("none"))
        .sign();
    let e = refusal(&issuer, &unsigned, &[]).await;
    assert_eq!(e["code"], "unsupported_algorithm");
    assert_eq!(e["rule"], "alg");
    assert!(e["detail"].as_str().unwrap().contains("\"none\""));
    // Without its signature it is not even well-formed.
    let e = refusal(&issuer, &tamper::strip_signature(&unsigned), &[]).await;
    assert_eq!(e["code"], "malformed");

    let e = refusal(
        &issuer,
        &issuer.token().sign(),
        &["--require-scope", "admin"],
    )
    .await;
    assert_eq!(e["code"], "insufficient_scope");
    assert_eq!(e["rule"], "scope");
    assert_eq!(e["detail"], "granted: read write");

    let jwt_typed = issuer.token().header("typ", json!("JWT")).sign();
    let e = refusal(&issuer, &jwt_typed, &["--typ", "at+jwt"]).await;
    assert_eq!(e["code"], "wrong_type");
    assert_eq!(e["rule"], "typ");
    // The same token passes with the default `--typ at+jwt-or-jwt`.
    let iss = issuer.issuer();
    let ok = run(&["verify", "--issuer", &iss, "--audience", "api", &jwt_typed]).await;
    assert_eq!(ok.code, 0, "{ok:?}");

    let stranger = TestKey::generate(Algorithm::RS256).with_kid("stranger");
    let foreign = TokenBuilder::new(&stranger).issuer(&issuer.issuer()).sign();
    let e = refusal(&issuer, &foreign, &[]).await;
    assert_eq!(e["code"], "unknown_key");
    assert_eq!(e["rule"], "kid");
    assert!(e["detail"].as_str().unwrap().contains("\"stranger\""));
    assert!(e["detail"].as_str().unwrap().contains("\"rsa-1\""));

    // With only ES256 allowed, the RSA key is not even loaded: without an EC key the source
    // has no usable key, an error; with one, the RS256 token is refused for its algorithm.
    let iss = issuer.issuer();
    let token = issuer.token().sign();
    run(&["verify", "--issuer", &iss, "--alg", "ES256", &token])
        .await
        .assert_error("no usable key for the allowed algorithms (ES256)");
    issuer.publish(TestKey::generate(Algorithm::ES256));
    let e = refusal(&issuer, &issuer.token().sign(), &["--alg", "ES256"]).await;
    assert_eq!(e["code"], "disallowed_algorithm");
    assert!(e["hint"].as_str().unwrap().contains("--alg RS256"));

    let no_exp = issuer.token().remove_claim("exp").sign();
    let e = refusal(&issuer, &no_exp, &[]).await;
    assert_eq!(e["code"], "missing_claim");
    assert_eq!(e["reason"], "missing claim `exp`");

    let repeated = TokenBuilder::sign_raw(
        &key,
        r#"{"alg":"RS256","kid":"rsa-1"}"#,
        &format!(
            r#"{{"iss":"{}","aud":"api","exp":9999999999,"sub":"a","sub":"b"}}"#,
            issuer.issuer()
        ),
    );
    let e = refusal(&issuer, &repeated, &[]).await;
    assert_eq!(e["code"], "malformed");
    assert_eq!(e["rule"], "shape");
    assert!(
        e["detail"].as_str().unwrap().contains("repeats \"sub\""),
        "{e}"
    );
}

#[tokio::test]
async fn human_refusals_put_the_reason_first_and_mark_claims_unverified() {
    let issuer = TestIssuer::start().await;
    let iss = issuer.issuer();
    let token = issuer.token().audience("billing").sign();
    let out = run(&["verify", "--issuer", &iss, "--audience", "api", &token]).await;
    assert_eq!(out.code, 1);
    let first = out.stdout.lines().next().unwrap();
    assert_eq!(first, "REFUSED  audience not accepted (wrong_audience)");
    assert!(out.stdout.contains("  rule        aud: "), "{}", out.stdout);
    assert!(out.stdout.contains("claims (UNVERIFIED)"), "{}", out.stdout);
    assert_eq!(out.stderr, "");
}

#[tokio::test]
async fn without_audience_or_issuer_those_checks_are_skipped_and_said_to_be() {
    let issuer = TestIssuer::start().await;
    let token = issuer.token().audience("anything").sign();
    let jwks = issuer.jwks_url();
    let out = run(&["verify", "--jwks", &jwks, "--json", &token]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let v = out.json();
    assert_eq!(v["audience_checked"], false);
    assert_eq!(v["issuer_checked"], false);
    let human = run(&["verify", "--jwks", &jwks, &token]).await;
    assert!(
        human.stdout.contains("not checked: no --audience"),
        "{}",
        human.stdout
    );
    assert!(
        human.stdout.contains("not checked: no --issuer"),
        "{}",
        human.stdout
    );
}

#[tokio::test]
async fn the_token_can_come_on_standard_input_even_with_a_bearer_prefix() {
    let issuer = TestIssuer::start().await;
    let iss = issuer.issuer();
    let token = issuer.token().sign();
    for stdin in [format!("{token}\n"), format!("Bearer {token}")] {
        for args in [
            vec!["verify", "--issuer", iss.as_str(), "-"],
            vec!["verify", "--issuer", iss.as_str()],
        ] {
            let out = run_with(&args, Some(&stdin), &[]).await;
            assert_eq!(out.code, 0, "{args:?}: {out:?}");
        }
    }
    let empty = run_with(&["verify", "--issuer", &iss, "-"], Some("\n"), &[]).await;
    empty.assert_error("the token is empty");
}

#[tokio::test]
async fn static_keys_from_files_verify_as_the_layer_would() {
    let dir = tempfile::tempdir().unwrap();
    let key = TestKey::generate(Algorithm::ES256).with_kid("ec-1");
    let pem = dir.path().join("key.pem");
    std::fs::write(&pem, key.public_pem()).unwrap();
    let der = dir.path().join("key.der");
    std::fs::write(&der, key.public_spki_der()).unwrap();
    let jwk = dir.path().join("key.jwk");
    std::fs::write(&jwk, key.public_jwk().to_string()).unwrap();
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, json!({"keys": [key.public_jwk()]}).to_string()).unwrap();
    let (pem, der, jwk, jwks) = (
        pem.to_str().unwrap(),
        der.to_str().unwrap(),
        jwk.to_str().unwrap(),
        jwks.to_str().unwrap(),
    );
    let with_kid = TokenBuilder::new(&key).sign();
    let without_kid = TokenBuilder::new(&key).remove_header("kid").sign();
    let expected = thumbprint(&key);

    for args in [
        vec!["verify", "--jwks", jwks, with_kid.as_str()],
        vec!["verify", "--key", jwk, with_kid.as_str()],
        vec!["verify", "--key", pem, without_kid.as_str()],
        vec!["verify", "--key", der, without_kid.as_str()],
        vec!["verify", "--key", pem, "--kid", "ec-1", with_kid.as_str()],
    ] {
        let mut args = args.clone();
        args.push("--json");
        let out = run(&args).await;
        assert_eq!(out.code, 0, "{args:?}: {out:?}");
        assert_eq!(
            out.json()["key"]["thumbprint"],
            expected.as_str(),
            "{args:?}"
        );
    }

    // A PEM has no kid: like the layer, it does not match a token naming one; the hint says
    // how to give it the token's.
    let out = run(&["verify", "--key", pem, "--json", &with_kid]).await;
    assert_eq!(out.code, 1, "{out:?}");
    let e = &out.json()["error"];
    assert_eq!(e["code"], "unknown_key");
    assert!(e["hint"].as_str().unwrap().contains("--kid ec-1"), "{e}");
}

#[tokio::test]
async fn an_hmac_secret_comes_from_the_environment_and_is_never_printed() {
    let secret = "correct-horse-battery-staple-0123456789";
    let key = TestKey::hmac(Algorithm::HS256, secret.as_bytes()).with_kid("h1");
    let token = TokenBuilder::new(&key).remove_header("kid").sign();
    let env = [("TG_TEST_SECRET", secret)];
    let out = run_with(
        &["verify", "--secret-env", "TG_TEST_SECRET", &token],
        None,
        &env,
    )
    .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("a shared secret (never shown"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("HMAC secret from $TG_TEST_SECRET"));
    let json = run_with(
        &["verify", "--secret-env", "TG_TEST_SECRET", "--json", &token],
        None,
        &env,
    )
    .await;
    assert_eq!(json.json()["key"]["thumbprint"], serde_json::Value::Null);

    let wrong = run_with(
        &["verify", "--secret-env", "TG_TEST_SECRET", &token],
        None,
        &[(
            "TG_TEST_SECRET",
            "another-secret-of-enough-length-0123456789",
        )],
    )
    .await;
    assert_eq!(wrong.code, 1);
    assert!(
        wrong.stdout.contains("invalid signature"),
        "{}",
        wrong.stdout
    );
    for run in [&out, &json, &wrong] {
        assert!(!run.stdout.contains(secret) && !run.stderr.contains(secret));
        assert!(!run.stdout.contains("another-secret"));
    }

    let short = run_with(
        &["verify", "--secret-env", "TG_TEST_SECRET", &token],
        None,
        &[("TG_TEST_SECRET", "short")],
    )
    .await;
    short.assert_error("5 bytes refused");
    assert!(!short.stderr.contains("short\n") && !short.stderr.contains(": short"));
    let unset = run(&["verify", "--secret-env", "TG_TEST_UNSET_VARIABLE", &token]).await;
    unset.assert_error("TG_TEST_UNSET_VARIABLE is not set");
    // A secret never comes from a remote JWKS.
    let issuer = TestIssuer::start().await;
    let jwks = issuer.jwks_url();
    let remote_hs = run(&["verify", "--jwks", &jwks, "--alg", "HS256", &token]).await;
    remote_hs.assert_error("never takes from a remote JWKS");
}

#[tokio::test]
async fn bad_input_is_one_line_on_standard_error_and_exit_2() {
    let issuer = TestIssuer::start().await;
    let iss = issuer.issuer();
    let token = issuer.token().sign();

    run(&["verify", "--issuer", &iss, "garbage"])
        .await
        .assert_error("not a JWT");
    run(&["verify", "--issuer", &iss, "a.b.c.d.e"])
        .await
        .assert_error("JWE");
    run(&["verify", "--issuer", &iss, "!!.e30.sig"])
        .await
        .assert_error("not base64url");

    let unreachable = format!("http://127.0.0.1:{}", closed_port());
    run(&["verify", "--issuer", &unreachable, &token])
        .await
        .assert_error("could not connect to the key source");
    let jwks_down = format!("{unreachable}/jwks.json");
    run(&["verify", "--jwks", &jwks_down, &token])
        .await
        .assert_error(&format!("cannot get the keys of {jwks_down}"));
    run(&["verify", "--jwks", "https:// bad url", &token])
        .await
        .assert_error("cannot get the keys");
    run(&["verify", "--jwks", "http://keys.example/jwks.json", &token])
        .await
        .assert_error("must be https://");

    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.json");
    let missing = missing.to_str().unwrap();
    run(&["verify", "--jwks", missing, &token])
        .await
        .assert_error(&format!("cannot read JWKS file {missing}"));
    run(&["verify", "--key", missing, &token])
        .await
        .assert_error(&format!("cannot read key file {missing}"));
    let not_jwks = dir.path().join("not.json");
    std::fs::write(&not_jwks, "hello").unwrap();
    run(&["verify", "--jwks", not_jwks.to_str().unwrap(), &token])
        .await
        .assert_error("not an object with a `keys` array");
    let private = dir.path().join("private.pem");
    std::fs::write(
        &private,
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    run(&["verify", "--key", private.to_str().unwrap(), &token])
        .await
        .assert_error("holds a private key");

    // Usage errors, from the command line parser, on one line too.
    run(&["verify", &token])
        .await
        .assert_error("required arguments");
    run(&["verify", "--issuer", &iss, "--alg", "none", &token])
        .await
        .assert_error("`none` never is");
    run(&["verify", "--issuer", &iss, "--at", "yesterday", &token])
        .await
        .assert_error("neither a Unix time");
    run(&["verify", "--issuer", &iss, "--leeway", "3600", &token])
        .await
        .assert_error("--leeway must be at most 600");
    run(&["verify", "--issuer", &iss, "--kid", "k", &token])
        .await
        .assert_error("--key");
    run(&["verify", "--jwks", "a.json", "--key", "b.pem", &token])
        .await
        .assert_error("cannot be used with");
    run(&["frobnicate"])
        .await
        .assert_error("unrecognized subcommand");
    // A wrong issuer's discovery document is refused, before any key is fetched.
    issuer.set_discovery_issuer(Some("https://evil.example".into()));
    run(&["verify", "--issuer", &iss, &token])
        .await
        .assert_error("discovery document's issuer differs");
    assert_eq!(issuer.jwks_fetches(), 0);
}

#[tokio::test]
async fn a_dpop_bound_token_is_checked_with_its_proof_and_each_refusal_explained() {
    use portcullis_testkit::DpopClient;

    let issuer = TestIssuer::start().await;
    let iss = issuer.issuer();
    let client = DpopClient::new(Algorithm::ES256);
    let token = client.bind(issuer.token()).sign();
    let url = "https://api.example.test/orders";
    let proof = client.proof("POST", url).token(&token).sign();
    let with = |extra: &[&str]| {
        let mut args = vec!["verify", "--issuer", &iss, "--audience", "api", "--json"];
        args.extend_from_slice(extra);
        args.push(&token);
        args.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let exec = |args: Vec<String>| async move {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&args).await
    };

    // With its proof, for the request it was made for: valid (the query is not part of htu).
    let out = exec(with(&[
        "--dpop-proof",
        &proof,
        "--method",
        "POST",
        "--url",
        "https://api.example.test/orders?page=2",
    ]))
    .await;
    assert_eq!(out.code, 0, "{out:?}");

    // Without it: a bound token is no bearer token, and the hint says how to check it.
    let out = exec(with(&[])).await;
    assert_eq!(out.code, 1, "{out:?}");
    let e = &out.json()["error"];
    assert_eq!(
        (e["code"].as_str(), e["rule"].as_str()),
        (Some("sender_constrained"), Some("binding"))
    );
    assert!(e["hint"].as_str().unwrap().contains("--dpop-proof"), "{e}");

    // Another method, another URL: refused, naming what the proof says.
    for (extra, code, says) in [
        (
            vec!["--method", "GET", "--url", url],
            "proof_wrong_method",
            "htm: \"POST\", --method: GET",
        ),
        (
            vec![
                "--method",
                "POST",
                "--url",
                "https://api.example.test/other",
            ],
            "proof_wrong_uri",
            "htu: \"https://api.example.test/orders\"",
        ),
    ] {
        let mut args = vec!["--dpop-proof", proof.as_str()];
        args.extend(extra);
        let out = exec(with(&args)).await;
        assert_eq!(out.code, 1, "{out:?}");
        let e = &out.json()["error"];
        assert_eq!(
            (e["code"].as_str(), e["rule"].as_str()),
            (Some(code), Some("dpop proof")),
            "{e}"
        );
        assert!(e["detail"].as_str().unwrap().contains(says), "{e}");
    }

    // Another client's proof: the binding rule names both keys.
    let thief = DpopClient::new(Algorithm::ES256);
    let stolen = thief.proof("POST", url).token(&token).sign();
    let out = exec(with(&[
        "--dpop-proof",
        &stolen,
        "--method",
        "POST",
        "--url",
        url,
    ]))
    .await;
    let e = &out.json()["error"];
    assert_eq!(e["code"], "proof_key_mismatch");
    assert!(e["detail"].as_str().unwrap().contains(&thief.jkt()), "{e}");
    assert!(e["detail"].as_str().unwrap().contains(&client.jkt()), "{e}");

    // A proof needs the URL it was made for.
    let out = run(&["verify", "--issuer", &iss, "--dpop-proof", &proof, &token]).await;
    assert_eq!(out.code, 2, "{out:?}");
}

#[tokio::test]
async fn a_profile_checks_as_the_layer_does_and_names_the_rule_that_refused() {
    use portcullis_testkit::providers::{CLIENT_ID, Provider, Replica};
    let cognito = Replica::start(Provider::Cognito).await;
    let iss = cognito.issuer();
    let args = |token: &str, scope: &str| {
        [
            "verify",
            "--profile",
            "cognito",
            "--issuer",
            &iss,
            "--audience",
            CLIENT_ID,
            "--scope-prefix",
            "notes/",
            "--require-scope",
            scope,
            "--json",
            token,
        ]
        .map(str::to_owned)
    };
    let access = cognito.access_token().sign();
    let ok = run(&args(&access, "read").each_ref().map(String::as_str)).await;
    assert_eq!(ok.code, 0, "{ok:?}");
    // Another resource server's `billing/admin` is not `admin` here.
    let other = run(&args(&access, "admin").each_ref().map(String::as_str)).await;
    assert_eq!(other.code, 1, "{other:?}");
    assert_eq!(other.json()["error"]["code"], "insufficient_scope");

    let id_token = cognito
        .id_token()
        .claim("client_id", json!(CLIENT_ID))
        .sign();
    let refused = run(&args(&id_token, "read").each_ref().map(String::as_str)).await;
    assert_eq!(refused.code, 1, "{refused:?}");
    let e = &refused.json()["error"];
    assert_eq!(e["code"], "claim_rule_failed");
    assert_eq!(e["rule"], "profile");
    assert!(
        e["requirement"]
            .as_str()
            .unwrap()
            .contains(r#"token_use equals "access""#),
        "{e}"
    );
    assert!(e["detail"].as_str().unwrap().contains("cognito"), "{e}");
}

#[tokio::test]
async fn a_profile_takes_an_issuer_template_with_its_tenants() {
    use portcullis_testkit::providers::{
        ENTRA_API_CLIENT_ID, ENTRA_OTHER_TENANT, ENTRA_TENANT, EntraVersion, Provider, Replica,
    };
    let entra = Replica::start(Provider::Entra).await;
    let iss = entra.issuer();
    let args = |token: &str| {
        [
            "verify",
            "--profile",
            "entra",
            "--issuer",
            &iss,
            "--tenant",
            ENTRA_TENANT,
            "--audience",
            ENTRA_API_CLIENT_ID,
            "--json",
            token,
        ]
        .map(str::to_owned)
    };
    let ok = run(&args(&entra.access_token().sign())
        .each_ref()
        .map(String::as_str))
    .await;
    assert_eq!(ok.code, 0, "{ok:?}");
    let stranger = entra
        .entra_token(EntraVersion::V2, ENTRA_OTHER_TENANT)
        .sign();
    let refused = run(&args(&stranger).each_ref().map(String::as_str)).await;
    assert_eq!(refused.code, 1, "{refused:?}");
    assert_eq!(refused.json()["error"]["code"], "tenant_not_allowed");
    assert_eq!(refused.json()["error"]["rule"], "tenant");
    // No tenant given: refused as a configuration error, exit 2.
    let open = run(&[
        "verify",
        "--profile",
        "entra",
        "--issuer",
        &iss,
        "--audience",
        ENTRA_API_CLIENT_ID,
        &entra.access_token().sign(),
    ])
    .await;
    assert_eq!(open.code, 2, "{open:?}");
}

#[tokio::test]
async fn a_repeated_issuer_accepts_entra_v1_tokens_beside_v2_ones() {
    use portcullis_testkit::providers::{
        ENTRA_API_APP_ID_URI, ENTRA_API_CLIENT_ID, ENTRA_TENANT, EntraVersion, Provider, Replica,
    };
    let entra = Replica::start(Provider::Entra).await;
    let (v2, v1) = (entra.issuer(), entra.v1_issuer().unwrap());
    let verify = |issuers: &[&str], token: String| {
        let mut args = vec!["verify", "--profile", "entra", "--tenant", ENTRA_TENANT];
        for issuer in issuers {
            args.extend(["--issuer", issuer]);
        }
        args.extend([
            "--audience",
            ENTRA_API_CLIENT_ID,
            "--audience",
            ENTRA_API_APP_ID_URI,
            "--json",
        ]);
        let args: Vec<String> = args.into_iter().map(str::to_owned).chain([token]).collect();
        async move { run(&args.iter().map(String::as_str).collect::<Vec<_>>()).await }
    };
    let v1_token = || entra.entra_token(EntraVersion::V1, ENTRA_TENANT).sign();
    let v2_token = || entra.entra_token(EntraVersion::V2, ENTRA_TENANT).sign();
    for token in [v1_token(), v2_token()] {
        let ok = verify(&[&v2, &v1], token).await;
        assert_eq!(ok.code, 0, "{ok:?}");
    }
    // The v2 issuer alone: a v1 token names an issuer that is not accepted.
    let refused = verify(&[&v2], v1_token()).await;
    assert_eq!(refused.code, 1, "{refused:?}");
    assert_eq!(
        refused.json()["error"]["code"],
        "wrong_issuer",
        "{refused:?}"
    );
}

#[tokio::test]
async fn any_of_several_issuers_is_accepted_and_named_when_none_matches() {
    let idp = TestIssuer::start().await;
    let (first, other) = (idp.issuer(), "https://other.example.com".to_owned());
    let verify = |issuers: &[&str], token: String| {
        let mut args: Vec<String> = vec!["verify".to_owned(), "--json".to_owned()];
        for issuer in issuers {
            args.extend(["--issuer".to_owned(), (*issuer).to_owned()]);
        }
        args.extend(["--audience".to_owned(), "api".to_owned(), token]);
        async move { run(&args.iter().map(String::as_str).collect::<Vec<_>>()).await }
    };
    // The keys are discovered from the first issuer; `iss` may be either.
    let from_other = || idp.token().issuer(&other).sign();
    let ok = verify(&[&first, &other], from_other()).await;
    assert_eq!(ok.code, 0, "{ok:?}");
    let ok = verify(&[&first, &other], idp.token().sign()).await;
    assert_eq!(ok.code, 0, "{ok:?}");
    let refused = verify(&[&first], from_other()).await;
    assert_eq!(refused.code, 1, "{refused:?}");
    let e = &refused.json()["error"];
    assert_eq!(e["code"], "wrong_issuer", "{e}");
    let third = verify(&[&first, "https://third.example.com"], from_other()).await;
    let detail = third.json()["error"]["detail"].as_str().unwrap().to_owned();
    assert!(
        detail.contains(&format!("\"{first}\", \"https://third.example.com\"")),
        "{detail}"
    );
}

#[tokio::test]
async fn a_step_up_is_checked_as_a_route_would_at_the_given_time() {
    let issuer = TestIssuer::start().await;
    let at = "1700000000";
    let login = |acr: &str, auth_time: i64| {
        issuer
            .token()
            .now(1_700_000_000)
            .expires_in(3600)
            .scope("pay")
            .claim("acr", json!(acr))
            .claim("auth_time", json!(auth_time))
            .sign()
    };
    let iss = issuer.issuer();
    let step_up = [
        "--acr-value",
        "mfa",
        "--acr-value",
        "hwk",
        "--max-auth-age",
        "300",
        "--at",
        at,
    ];
    let mut args = vec!["verify", "--issuer", &iss, "--audience", "api", "--json"];
    args.extend_from_slice(&step_up);
    let recent = login("hwk", 1_699_999_800);
    args.push(&recent);
    let ok = run(&args).await;
    assert_eq!(ok.code, 0, "{ok:?}");
    for (what, token, detail) in [
        (
            "a weaker login",
            login("pwd", 1_699_999_800),
            r#"acr: "pwd", auth_time: 1699999800"#,
        ),
        (
            "an older login",
            login("mfa", 1_699_999_000),
            r#"acr: "mfa", auth_time: 1699999000"#,
        ),
        (
            "no login facts at all",
            issuer
                .token()
                .now(1_700_000_000)
                .expires_in(3600)
                .scope("pay")
                .sign(),
            "acr: absent, auth_time: absent",
        ),
    ] {
        let e = refusal(&issuer, &token, &step_up).await;
        assert_eq!(e["code"], "insufficient_user_authentication", "{what}: {e}");
        assert_eq!(e["rule"], "step_up", "{what}: {e}");
        assert_eq!(e["detail"], detail, "{what}: {e}");
    }
    // The step-up is judged before the scopes, as the layer does.
    let mut both = step_up.to_vec();
    both.extend(["--require-scope", "admin"]);
    let e = refusal(&issuer, &login("pwd", 1_699_999_800), &both).await;
    assert_eq!(e["code"], "insufficient_user_authentication", "{e}");
    let e = refusal(&issuer, &login("mfa", 1_699_999_800), &both).await;
    assert_eq!(e["code"], "insufficient_scope", "{e}");
    // A step-up that could not be a route's rule is a usage error.
    let bad = run(&[
        "verify",
        "--issuer",
        &iss,
        "--acr-value",
        "two words",
        &login("mfa", 1_699_999_800),
    ])
    .await;
    assert_eq!(bad.code, 2, "{bad:?}");
}
