//! Per-token validation cost, beside the raw signature check (the floor) and
//! `jsonwebtoken::decode`, for the same token and key, in one run.
//!
//! `cargo bench --bench verify` prints criterion's figures and then a ratio table; then the
//! same three cases again, interleaved: rounds that time each case in turn, the medians of
//! the rounds. Criterion measures one benchmark after another, and a machine whose speed
//! changes by phases (a shared VM) skews ratios across them; interleaving does not.
//! `cargo bench --bench verify -- only-the-table` (a filter no criterion benchmark matches)
//! prints only the interleaved table.

// Bench code: setup failures should stop the run loudly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::indexing_slicing
)]

mod common;

use std::hint::black_box;
use std::time::SystemTime;

use common::{ALGS, interleaved, median_ns, output_dir, raw_verifier, verifying_key};
use criterion::Criterion;
use portcullis_core::{Algorithm, KeySet, Validator};
use portcullis_testkit::{TestKey, TokenBuilder};

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

/// Rounds of the interleaved measurement, and validations per case in each round.
const ROUNDS: usize = 101;
const PER_ROUND: usize = 200;

/// The interleaved medians of one algorithm, in nanoseconds per validation.
struct Interleaved {
    raw: f64,
    jsonwebtoken: f64,
    portcullis: f64,
}

fn bench_alg(c: &mut Criterion, alg: Algorithm) -> Interleaved {
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

    // portcullis-core's whole validation.
    let keys = KeySet::new(vec![verifying_key(&key)]);
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
    group.bench_function("portcullis", |b| {
        b.iter(|| validator.validate(black_box(&token), &keys).unwrap());
    });
    group.finish();

    let [raw, jsonwebtoken, portcullis] = interleaved(
        ROUNDS,
        PER_ROUND,
        &mut [
            &mut || {
                black_box(raw(
                    black_box(signing_input.as_bytes()),
                    black_box(&signature),
                ));
            },
            &mut || {
                black_box(
                    jsonwebtoken::decode::<AppClaims>(black_box(&token), &jwt_key, &jwt_validation)
                        .unwrap(),
                );
            },
            &mut || {
                black_box(validator.validate(black_box(&token), &keys).unwrap());
            },
        ],
    );
    Interleaved {
        raw,
        jsonwebtoken,
        portcullis,
    }
}

fn main() {
    let started = SystemTime::now();
    let dir = output_dir();
    let mut c = Criterion::default()
        .output_directory(&dir)
        .configure_from_args();
    let interleaved: Vec<Interleaved> = ALGS.into_iter().map(|a| bench_alg(&mut c, a)).collect();
    c.final_summary();

    println!();
    println!("| alg | raw verify (floor) | jsonwebtoken::decode | portcullis-core validate |");
    println!("|---|---|---|---|");
    for alg in ALGS {
        let group = format!("verify/{alg}");
        let (Some(raw), Some(jwt), Some(tg)) = (
            median_ns(&dir, &group, "raw", started),
            median_ns(&dir, &group, "jsonwebtoken", started),
            median_ns(&dir, &group, "portcullis", started),
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

    println!();
    println!("Interleaved medians of {ROUNDS} rounds x {PER_ROUND} validations per case, one run.");
    println!();
    println!("| alg | raw verify (floor) | jsonwebtoken::decode | portcullis-core validate |");
    println!("|---|---|---|---|");
    for (alg, t) in ALGS.into_iter().zip(&interleaved) {
        println!(
            "| {alg} | {:.2} µs | {:.2} µs ({:.2}x) | {:.2} µs ({:.2}x) |",
            t.raw / 1e3,
            t.jsonwebtoken / 1e3,
            t.jsonwebtoken / t.raw,
            t.portcullis / 1e3,
            t.portcullis / t.raw
        );
    }
}
