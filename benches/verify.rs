//! Per-token validation cost, beside the raw signature check (the floor) and
//! `jsonwebtoken::decode`, for the same token and key, in one run.
//!
//! `cargo bench --bench verify` prints criterion's figures and then a ratio table.

// Bench code: setup failures should stop the run loudly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::indexing_slicing
)]

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use aws_lc_rs::signature::{self, ParsedPublicKey};
use criterion::Criterion;
use tollgate_core::{Algorithm, AlgorithmSet, KeySet, Validator, VerifyingKey};
use tollgate_testkit::{TestKey, TokenBuilder};

const ALGS: [Algorithm; 5] = [
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::EdDSA,
    Algorithm::HS256,
];

/// What a typical application deserializes with jsonwebtoken: the registered claims and scope.
#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct AppClaims {
    iss: String,
    sub: String,
    aud: String,
    exp: u64,
    iat: u64,
    jti: String,
    scope: String,
    client_id: String,
}

/// Checks a signature over a message.
type RawVerify = Box<dyn Fn(&[u8], &[u8]) -> bool>;

fn raw_verifier(key: &TestKey) -> RawVerify {
    let alg: &'static dyn signature::VerificationAlgorithm = match key.alg() {
        Algorithm::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
        Algorithm::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
        Algorithm::EdDSA => &signature::ED25519,
        Algorithm::HS256 => {
            let hmac =
                aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key.secret().unwrap());
            return Box::new(move |m, s| aws_lc_rs::hmac::verify(&hmac, m, s).is_ok());
        }
        other => panic!("no raw verifier for {other}"),
    };
    let parsed = ParsedPublicKey::new(alg, key.public_spki_der()).unwrap();
    Box::new(move |m, s| parsed.verify_sig(m, s).is_ok())
}

fn bench_alg(c: &mut Criterion, alg: Algorithm) {
    let key = TestKey::generate(alg).with_kid("bench-key");
    let token = TokenBuilder::new(&key)
        .issuer("https://issuer.example")
        .audience("api")
        .expires_in(24 * 3600)
        .sign();

    // The floor: the signature alone, key parsed once, signature already decoded.
    let (signing_input, sig_b64) = token.rsplit_once('.').unwrap();
    let signature = {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(sig_b64)
            .unwrap()
    };
    let raw = raw_verifier(&key);
    assert!(raw(signing_input.as_bytes(), &signature));

    // jsonwebtoken with the same key, as its users write it.
    let jwt_key = match key.secret() {
        Some(secret) => jsonwebtoken::DecodingKey::from_secret(secret),
        None => {
            let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(key.public_jwk()).unwrap();
            jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap()
        }
    };
    let jwt_alg: jsonwebtoken::Algorithm = alg.as_str().parse().unwrap();
    let mut jwt_validation = jsonwebtoken::Validation::new(jwt_alg);
    jwt_validation.set_issuer(&["https://issuer.example"]);
    jwt_validation.set_audience(&["api"]);
    jsonwebtoken::decode::<AppClaims>(&token, &jwt_key, &jwt_validation).unwrap();

    // tollgate-core's whole validation.
    let keys = KeySet::new(vec![match key.secret() {
        Some(secret) => VerifyingKey::hmac(alg, secret)
            .unwrap()
            .with_kid("bench-key"),
        None => {
            VerifyingKey::from_jwk_json(&key.public_jwk().to_string(), AlgorithmSet::ALL).unwrap()
        }
    }]);
    let validator = Validator::builder()
        .issuer("https://issuer.example")
        .audience("api")
        .algorithms([alg])
        .build()
        .unwrap();
    validator.validate(&token, &keys).unwrap();

    let mut group = c.benchmark_group(format!("verify/{alg}"));
    group.bench_function("raw", |b| {
        b.iter(|| raw(black_box(signing_input.as_bytes()), black_box(&signature)));
    });
    group.bench_function("jsonwebtoken", |b| {
        b.iter(|| {
            jsonwebtoken::decode::<AppClaims>(black_box(&token), &jwt_key, &jwt_validation).unwrap()
        });
    });
    group.bench_function("tollgate", |b| {
        b.iter(|| validator.validate(black_box(&token), &keys).unwrap());
    });
    group.finish();
}

fn output_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("criterion")
}

/// Criterion's point estimate of the median, in nanoseconds, for one benchmark measured by
/// this run (estimates left by an earlier run, for a group filtered out now, are ignored).
fn mean_ns(dir: &Path, group: &str, function: &str, since: SystemTime) -> Option<f64> {
    let path = dir
        .join(group.replace('/', "_"))
        .join(function)
        .join("new")
        .join("estimates.json");
    if std::fs::metadata(&path).ok()?.modified().ok()? < since {
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["median"]["point_estimate"].as_f64()
}

fn main() {
    let started = SystemTime::now();
    let dir = output_dir();
    let mut c = Criterion::default()
        .output_directory(&dir)
        .configure_from_args();
    for alg in ALGS {
        bench_alg(&mut c, alg);
    }
    c.final_summary();

    println!();
    println!("| alg | raw verify (floor) | jsonwebtoken::decode | tollgate-core validate |");
    println!("|---|---|---|---|");
    for alg in ALGS {
        let group = format!("verify/{alg}");
        let (Some(raw), Some(jwt), Some(tg)) = (
            mean_ns(&dir, &group, "raw", started),
            mean_ns(&dir, &group, "jsonwebtoken", started),
            mean_ns(&dir, &group, "tollgate", started),
        ) else {
            continue; // filtered out on the command line
        };
        println!(
            "| {alg} | {:.2} µs | {:.2} µs ({:.2}x) | {:.2} µs ({:.2}x) |",
            raw / 1e3,
            jwt / 1e3,
            jwt / raw,
            tg / 1e3,
            tg / raw
        );
    }
}
