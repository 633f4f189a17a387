//! `portcullis inspect`, `portcullis jwks` and `portcullis dev-issuer`, run as a built binary
//! against the testkit issuer over loopback; colour on a terminal only.
// Test code: a failed unwrap or assertion is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{closed_port, command, run, run_with, thumbprint};
use portcullis_testkit::{
    Algorithm, JwksFault, TestIssuer, TestKey, TokenBuilder, rsa_1024_public_jwk,
};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, BufReader};

const T0: i64 = 1_000_000_000;

fn codes(v: &Value) -> Vec<String> {
    v["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["code"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn inspect_decodes_without_verifying_and_says_so() {
    let key = TestKey::generate(Algorithm::ES256).with_kid("ec-1");
    let token = TokenBuilder::new(&key).now(T0).sign();
    let at = (T0 + 60).to_string();
    let out = run(&["inspect", "--at", &at, &token]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.starts_with("UNVERIFIED"), "{}", out.stdout);
    assert!(out.stdout.contains("\"kid\": \"ec-1\""));
    assert!(
        out.stdout
            .contains("expires     2001-09-09T01:51:40Z (in 4 min)")
    );
    assert!(out.stdout.contains("lifetime    5 min"));
    assert!(out.stdout.contains("signature   64 bytes"));
    assert!(out.stdout.contains("warnings    none"), "{}", out.stdout);

    // A forged token decodes just the same: inspect checks nothing.
    let forged = portcullis_testkit::tamper::flip_signature_bit(&token);
    let out = run_with(&["inspect", "--json", "-"], Some(&forged), &[]).await;
    assert_eq!(out.code, 0);
    let v = out.json();
    assert_eq!(v["verified"], false);
    assert_eq!(
        v["header"],
        json!({"alg": "ES256", "typ": "at+jwt", "kid": "ec-1"})
    );
    assert_eq!(v["claims"]["sub"], "user-1");
    assert_eq!(v["expires_at"], T0 + 300);
    assert_eq!(v["lifetime"], 300);
    assert_eq!(v["signature_bytes"], 64);
    assert_eq!(
        codes(&v),
        ["expired"],
        "judged now, the 2001 token is expired"
    );
}

#[tokio::test]
async fn inspect_warns_about_every_risk_it_sees() {
    let key = TestKey::generate(Algorithm::RS256).with_kid("k");
    let token = TokenBuilder::new(&key)
        .header("alg", json!("none"))
        .header("jku", json!("https://attacker.example/keys"))
        .header("jwk", key.public_jwk())
        .remove_claim("exp")
        .claim("email", json!("someone@example.com"))
        .claim("password", json!("hunter2"))
        .sign();
    let out = run(&["inspect", "--json", &token]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let found = codes(&out.json());
    for code in ["alg_none", "embedded_key", "no_exp", "sensitive_claim"] {
        assert!(
            found.contains(&code.to_owned()),
            "{code} missing from {found:?}"
        );
    }
    assert_eq!(found.iter().filter(|c| *c == "embedded_key").count(), 2);
    assert_eq!(found.iter().filter(|c| *c == "sensitive_claim").count(), 2);

    let long = TokenBuilder::new(&key)
        .now(T0)
        .expires_in(90 * 86_400)
        .sign();
    let at = T0.to_string();
    let out = run(&["inspect", "--at", &at, &long]).await;
    assert!(
        out.stdout
            .contains("! a lifetime of 90 d: a leaked token stays usable that long"),
        "{}",
        out.stdout
    );
    let human = run(&["inspect", &token]).await;
    assert!(human.stdout.contains("warnings ("), "{}", human.stdout);
    assert!(
        human.stdout.contains("`alg` is \"none\""),
        "{}",
        human.stdout
    );
}

#[tokio::test]
async fn inspect_refuses_what_is_not_a_jwt_on_one_line() {
    run(&["inspect", "definitely not a token"])
        .await
        .assert_error("not a JWT");
    run(&["inspect", "a.b.c.d.e"]).await.assert_error("JWE");
    run_with(&["inspect", "-"], Some(""), &[])
        .await
        .assert_error("the token is empty");
    run(&["inspect", "e30.e30.sig", "--at", "soon"])
        .await
        .assert_error("neither a Unix time");
}

#[tokio::test]
async fn jwks_lists_each_key_with_its_thumbprint_from_a_url_or_an_issuer() {
    let issuer = TestIssuer::start().await;
    let ec = issuer.rotate(Algorithm::ES384);
    let rsa = issuer.jwks_json()["keys"][0].clone();
    assert_eq!(rsa["kid"], "rsa-1");
    let jwks = issuer.jwks_url();
    let out = run(&["jwks", &jwks]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout
            .starts_with(&format!("JWKS  {jwks}  (2 keys, 2 usable)"))
    );
    let header = out.stdout.lines().nth(1).unwrap();
    for column in [
        "#",
        "kid",
        "kty",
        "alg",
        "use",
        "size/curve",
        "thumbprint",
        "status",
    ] {
        assert!(header.contains(column), "{header}");
    }
    assert!(out.stdout.contains("2048 bits"), "{}", out.stdout);
    assert!(out.stdout.contains("P-384"), "{}", out.stdout);
    assert!(out.stdout.contains(&thumbprint(&ec)), "{}", out.stdout);
    assert!(out.stdout.contains("warnings    none"));

    let iss = issuer.issuer();
    let out = run(&["jwks", "--issuer", &iss, "--json"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let v = out.json();
    assert_eq!(v["source"], jwks.as_str());
    assert_eq!(v["usable"], 2);
    let keys = v["keys"].as_array().unwrap();
    assert_eq!(keys[0]["kid"], "rsa-1");
    assert_eq!(keys[0]["kty"], "RSA");
    assert_eq!(keys[0]["alg"], "RS256");
    assert_eq!(keys[0]["use"], "sig");
    assert_eq!(keys[0]["bits"], 2048);
    assert_eq!(keys[0]["algorithms"], json!(["RS256"]));
    assert_eq!(keys[0]["usable"], true);
    assert_eq!(keys[1]["curve"], "P-384");
    assert_eq!(keys[1]["thumbprint"], thumbprint(&ec).as_str());
    assert_eq!(keys[1]["problem"], Value::Null);
    assert_eq!(codes(&v), Vec::<String>::new());
}

#[tokio::test]
async fn jwks_warns_about_bad_keys_and_exits_1_when_none_is_usable() {
    let issuer = TestIssuer::start().await;
    let mut enc = TestKey::generate(Algorithm::RS256)
        .with_kid("enc")
        .public_jwk();
    enc["use"] = json!("enc");
    let mut twin = TestKey::generate(Algorithm::ES256).public_jwk();
    twin["kid"] = json!("rsa-1");
    let mut no_kid = TestKey::generate(Algorithm::EdDSA).public_jwk();
    no_kid.as_object_mut().unwrap().remove("kid");
    let good = issuer.jwks_json()["keys"][0].clone();
    issuer.set_jwks_override(Some(json!({
        "keys": [good, rsa_1024_public_jwk(), enc, twin, no_kid]
    })));
    let jwks = issuer.jwks_url();
    let out = run(&["jwks", &jwks, "--json"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let v = out.json();
    let found = codes(&v);
    for code in ["weak_rsa", "encryption_key", "duplicate_kid", "missing_kid"] {
        assert!(
            found.contains(&code.to_owned()),
            "{code} missing from {found:?}"
        );
    }
    assert_eq!(v["usable"], 3);
    assert_eq!(v["keys"][1]["bits"], 1024);
    assert!(
        v["keys"][1]["problem"]
            .as_str()
            .unwrap()
            .contains("1024 bits")
    );

    let human = run(&["jwks", &jwks]).await;
    assert!(
        human
            .stdout
            .contains("skipped: RSA key of 1024 bits refused"),
        "{}",
        human.stdout
    );
    assert!(
        human.stdout.contains("! key #4 has no kid"),
        "{}",
        human.stdout
    );

    let dir = tempfile::tempdir().unwrap();
    let weak = dir.path().join("weak.json");
    std::fs::write(&weak, json!({"keys": [rsa_1024_public_jwk()]}).to_string()).unwrap();
    let out = run(&["jwks", weak.to_str().unwrap()]).await;
    assert_eq!(out.code, 1, "no usable key: {out:?}");
    assert!(out.stdout.contains("(1 key, 0 usable)"), "{}", out.stdout);
    let stdin = json!({"keys": [rsa_1024_public_jwk()]}).to_string();
    assert_eq!(run_with(&["jwks", "-"], Some(&stdin), &[]).await.code, 1);
}

#[tokio::test]
async fn more_keys_than_the_cap_are_refused_alike_by_jwks_and_verify_from_a_file_or_a_url() {
    let issuer = TestIssuer::start().await;
    let token = issuer.token().sign();
    let good = issuer.jwks_json()["keys"][0].clone();
    let template = TestKey::generate(Algorithm::ES256).public_jwk();
    let mut keys: Vec<Value> = vec![good];
    keys.extend((1..101).map(|i| {
        let mut jwk = template.clone();
        jwk["kid"] = json!(format!("k{i}"));
        jwk
    }));
    let doc = json!({ "keys": keys });
    issuer.set_jwks_override(Some(doc.clone()));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("many.json");
    std::fs::write(&file, doc.to_string()).unwrap();
    let file = file.to_str().unwrap();
    let url = issuer.jwks_url();
    let iss = issuer.issuer();
    let reason = "JWKS holds 101 keys, more than the cap of 100";
    let verify = [
        "verify",
        "--issuer",
        iss.as_str(),
        "--audience",
        "api",
        "--jwks",
    ];
    for args in [
        vec!["jwks", file],
        vec!["jwks", &url],
        [&verify[..], &[file, token.as_str()]].concat(),
        [&verify[..], &[url.as_str(), token.as_str()]].concat(),
    ] {
        let out = run(&args).await;
        out.assert_error(reason);
        assert!(!out.stderr.contains("not an object"), "{out:?}");
    }
}

#[tokio::test]
async fn jwks_errors_are_one_line_and_exit_2() {
    let unreachable = format!("http://127.0.0.1:{}/jwks.json", closed_port());
    run(&["jwks", &unreachable])
        .await
        .assert_error("could not connect to the key source");
    let issuer = TestIssuer::start().await;
    issuer.set_fault(Some(JwksFault::Garbage));
    let jwks = issuer.jwks_url();
    run(&["jwks", &jwks])
        .await
        .assert_error("is not a JWKS: not JSON");
    issuer.set_fault(Some(JwksFault::Status(503)));
    run(&["jwks", &jwks])
        .await
        .assert_error("answered HTTP 503");
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.json");
    run(&["jwks", missing.to_str().unwrap()])
        .await
        .assert_error("cannot read JWKS file");
    run(&["jwks"]).await.assert_error("required arguments");
}

/// A running `portcullis dev-issuer`, stopped (SIGTERM) when dropped by the test.
struct DevIssuer {
    child: tokio::process::Child,
    banner: Value,
}

impl DevIssuer {
    async fn start(extra: &[&str]) -> DevIssuer {
        let mut child = command()
            .args(["dev-issuer", "--listen", "127.0.0.1:0", "--json"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        // A bound on a failure, not a wait for time to pass: the line comes at start-up.
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("the dev issuer prints its banner")
            .unwrap()
            .expect("a banner line");
        DevIssuer {
            child,
            banner: serde_json::from_str(&line).unwrap(),
        }
    }

    /// Sends SIGTERM and returns the exit code.
    async fn stop(mut self) -> Option<i32> {
        let pid = self.child.id().unwrap().to_string();
        // The shell's own `kill`, so that no procps is needed.
        let sent = tokio::process::Command::new("sh")
            .args(["-c", "kill -TERM \"$1\"", "sh", &pid])
            .status()
            .await
            .unwrap();
        assert!(sent.success());
        self.child.wait().await.unwrap().code()
    }
}

#[tokio::test]
async fn dev_issuer_prints_its_endpoints_and_a_sample_token_that_verifies() {
    let dev = DevIssuer::start(&[
        "--alg",
        "ES256",
        "--scope",
        "orders.read",
        "--scope",
        "orders.write",
        "--audience",
        "orders",
        "--expires-in",
        "120",
    ])
    .await;
    let b = &dev.banner;
    let iss = b["issuer"].as_str().unwrap().to_owned();
    assert!(iss.starts_with("http://127.0.0.1:"), "{iss}");
    assert_eq!(b["jwks_uri"], format!("{iss}/jwks.json"));
    assert_eq!(b["token_endpoint"], format!("{iss}/token"));
    assert_eq!(b["key"]["alg"], "ES256");
    assert_eq!(b["scope"], "orders.read orders.write");
    let sample = b["sample_token"].as_str().unwrap();

    let out = run(&[
        "verify",
        "--issuer",
        &iss,
        "--audience",
        "orders",
        "--require-scope",
        "orders.read",
        "--json",
        sample,
    ])
    .await;
    assert_eq!(out.code, 0, "{out:?}");
    let v = out.json();
    assert_eq!(v["key"]["thumbprint"], b["key"]["thumbprint"]);
    assert_eq!(v["scopes"], json!(["orders.read", "orders.write"]));
    let lifetime = v["expires_at"].as_i64().unwrap() - v["issued_at"].as_i64().unwrap();
    assert_eq!(lifetime, 120);

    // More tokens come from its token endpoint, with the scope asked for.
    let response: Value = reqwest::Client::new()
        .post(b["token_endpoint"].as_str().unwrap())
        .basic_auth(
            b["client_id"].as_str().unwrap(),
            b["client_secret"].as_str(),
        )
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&scope=orders.read")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(response["expires_in"], 120);
    let minted = response["access_token"].as_str().unwrap();
    let out = run(&[
        "verify",
        "--issuer",
        &iss,
        "--audience",
        "orders",
        "--json",
        minted,
    ])
    .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.json()["scopes"], json!(["orders.read"]));
    assert_eq!(out.json()["subject"], "client-1");

    assert_eq!(dev.stop().await, Some(0), "SIGTERM stops it cleanly");
}

#[tokio::test]
async fn dev_issuer_text_banner_shows_the_url_the_token_and_how_to_verify() {
    let mut child = command()
        .args(["dev-issuer", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut banner = Vec::new();
    while let Some(line) = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .unwrap()
        .unwrap()
    {
        let done = line.starts_with("Ctrl-C");
        banner.push(line);
        if done {
            break;
        }
    }
    let text = banner.join("\n");
    assert!(banner[0].starts_with("DEV ISSUER"), "{text}");
    assert!(text.contains("  issuer      http://127.0.0.1:"), "{text}");
    let token_line = banner.iter().position(|l| l == "sample token").unwrap() + 1;
    assert_eq!(banner[token_line].split('.').count(), 3, "{text}");
    assert!(
        text.contains("portcullis verify --issuer http://127.0.0.1:"),
        "{text}"
    );
    child.kill().await.unwrap();
}

#[tokio::test]
async fn dev_issuer_refuses_what_it_cannot_do_safely() {
    run(&["dev-issuer", "--listen", "0.0.0.0:0"])
        .await
        .assert_error("loopback addresses only");
    run(&["dev-issuer", "--listen", "127.0.0.1:0", "--alg", "HS256"])
        .await
        .assert_error("asymmetric key");
    run(&["dev-issuer", "--listen", "nowhere"])
        .await
        .assert_error("invalid value 'nowhere'");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    run(&["dev-issuer", "--listen", &addr])
        .await
        .assert_error(&format!("cannot listen on {addr}"));
}

/// Runs `command` under `script`, which gives it a pseudo-terminal, and returns what it wrote.
async fn on_a_terminal(command: &str, no_color: Option<&str>) -> String {
    let mut script = tokio::process::Command::new("script");
    script
        .args(["-q", "-e", "-c", command, "/dev/null"])
        .env_remove("NO_COLOR")
        .stdin(Stdio::null());
    if let Some(value) = no_color {
        script.env("NO_COLOR", value);
    }
    let output = script.output().await.expect("`script` (util-linux) runs");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn colour_only_on_a_terminal_and_never_with_no_color() {
    let key = TestKey::generate(Algorithm::ES256).with_kid("k");
    let token = TokenBuilder::new(&key).sign();
    let bin = env!("CARGO_BIN_EXE_portcullis");
    let inspect = format!("{bin} inspect {token}");
    let coloured = on_a_terminal(&inspect, None).await;
    assert!(
        coloured.contains("\x1b[1;33mUNVERIFIED\x1b[0m"),
        "{coloured:?}"
    );
    let plain = on_a_terminal(&inspect, Some("1")).await;
    assert!(plain.contains("UNVERIFIED"), "{plain:?}");
    assert!(!plain.contains('\x1b'), "{plain:?}");
    // An empty NO_COLOR does not count (no-color.org).
    assert!(on_a_terminal(&inspect, Some("")).await.contains('\x1b'));
    // Piped, never.
    let piped = run(&["inspect", &token]).await;
    assert!(!piped.stdout.contains('\x1b'));
}
