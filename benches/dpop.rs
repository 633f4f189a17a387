//! The cost of a DPoP request through the layer (RFC 9449), beside the raw signature checks of
//! its token and its proof (the floor), in one run.
//!
//! `cargo bench --bench dpop` prints criterion's figures, then a table per (token, proof)
//! algorithm pair:
//! - `raw_token`, `raw_proof`: each signature check alone, keys parsed once, in a tight loop;
//! - `raw_both`: both checks of a proof signed in the untimed setup, as the layer benches run
//!   (the setup's signing leaves the caches as a real request's arrival would: this is the
//!   floor the ratios are taken against);
//! - `no_layer`: building the request and calling a trivial service;
//! - `new_token_new_proof`: the layer with the verified-token cache off (every token verified
//!   in full, as a token never seen is) and a proof never seen, replay store included;
//! - `repeated_token_new_proof`: the cache on and the token seen before: its signature is
//!   skipped, the proof's never is.
//!
//! Each iteration's proof is signed in criterion's untimed setup.
//!
//! Then the same cases again, interleaved: rounds that take every case in turn over proofs
//! signed before the round (a slow moment of a shared machine then slows all cases alike;
//! on this 2-core VM back-to-back criterion runs of one case differ by up to 1.7x), medians
//! of the rounds. `cargo bench --bench dpop -- only-the-table` (a filter no criterion
//! benchmark matches) prints only that table.

// Bench code: setup failures should stop the run loudly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::indexing_slicing,
    clippy::cast_precision_loss
)]

#[allow(dead_code)] // `ALGS` is for the other benches.
mod common;

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Instant, SystemTime};

use common::{median_ns, output_dir, raw_verifier, verifying_key};
use criterion::{BatchSize, Criterion};
use http::{Request, Response};
use portcullis_core::dpop::Dpop;
use portcullis_core::{Algorithm, KeySet, Validator};
use portcullis_jwks::{JwtVerifier, StaticKeys, TokenCache};
use portcullis_testkit::{DpopClient, TestKey, TokenBuilder};
use portcullis_tower::BearerAuthLayer;
use tower::{Layer, Service, ServiceExt, service_fn};

const ORIGIN: &str = "https://api.example.test";

/// The (token, proof) algorithm pairs: RS256 tokens are what most identity providers issue,
/// ES256 proofs what browsers (WebCrypto) make.
const PAIRS: [(Algorithm, Algorithm); 3] = [
    (Algorithm::RS256, Algorithm::ES256),
    (Algorithm::ES256, Algorithm::ES256),
    (Algorithm::EdDSA, Algorithm::EdDSA),
];

/// Polls a future that the bench knows to be ready at once (the layer's synchronous path).
fn now<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("the future was not ready at once"),
    }
}

fn request(token: &str, proof: &str) -> Request<()> {
    Request::get("/orders")
        .header("authorization", format!("DPoP {token}"))
        .header("dpop", proof)
        .body(())
        .unwrap()
}

/// The signing input and the decoded signature of a compact JWS.
fn split(jws: &str) -> (Vec<u8>, Vec<u8>) {
    use base64::Engine as _;
    let (input, sig) = jws.rsplit_once('.').unwrap();
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(sig)
        .unwrap();
    (input.as_bytes().to_vec(), sig)
}

fn name(pair: (Algorithm, Algorithm)) -> String {
    format!("dpop/{}+{}", pair.0, pair.1)
}

/// Rounds of the interleaved measurement, and requests per case in each round.
const ROUNDS: usize = 31;
const PER_ROUND: usize = 200;

/// The interleaved medians of one pair, in nanoseconds per request.
#[derive(Default)]
struct Interleaved {
    raw_token: f64,
    raw_proof: f64,
    raw_both: f64,
    no_layer: f64,
    new: f64,
    repeated: f64,
}

/// Times `f` over each of `inputs`, per input.
fn per_input<T>(inputs: Vec<T>, mut f: impl FnMut(T)) -> f64 {
    let n = inputs.len() as f64;
    let started = Instant::now();
    for input in inputs {
        f(input);
    }
    started.elapsed().as_nanos() as f64 / n
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn bench_pair(c: &mut Criterion, (token_alg, proof_alg): (Algorithm, Algorithm)) -> Interleaved {
    let issuer = TestKey::generate(token_alg).with_kid("bench-key");
    let client = DpopClient::new(proof_alg);
    let token = client
        .bind(
            TokenBuilder::new(&issuer)
                .issuer("https://issuer.example")
                .audience("api")
                .expires_in(24 * 3600),
        )
        .sign();
    let url = format!("{ORIGIN}/orders");
    let proof = || client.proof("GET", &url).token(&token).sign();

    let raw_token = raw_verifier(&issuer);
    let raw_proof = raw_verifier(client.key());
    let (token_input, token_sig) = split(&token);
    let sample = proof();
    let (proof_input, proof_sig) = split(&sample);
    assert!(raw_token(&token_input, &token_sig));
    assert!(raw_proof(&proof_input, &proof_sig));

    let validator = Validator::builder()
        .issuer("https://issuer.example")
        .audience("api")
        .algorithms([token_alg])
        .build()
        .unwrap();
    let keys = StaticKeys::new(KeySet::new(vec![verifying_key(&issuer)]));
    let inner = service_fn(|_req: Request<()>| async { Ok::<_, Infallible>(Response::new(())) });
    let layer = |cache: Option<TokenCache>| {
        let dpop = Dpop::builder().algorithms([proof_alg]).build().unwrap();
        BearerAuthLayer::new(JwtVerifier::new(keys.clone(), validator.clone()).with_cache(cache))
            .public_origin(ORIGIN)
            .dpop(dpop)
    };
    let uncached = layer(None).layer(inner);
    let cached = layer(Some(TokenCache::default())).layer(inner);
    for svc in [&uncached, &cached] {
        let res = now(svc.clone().oneshot(request(&token, &sample))).unwrap();
        assert_eq!(res.status(), 200);
        let replay = now(svc.clone().oneshot(request(&token, &sample))).unwrap();
        assert_eq!(replay.status(), 401);
    }

    let mut group = c.benchmark_group(name((token_alg, proof_alg)));
    group.bench_function("raw_token", |b| {
        b.iter(|| raw_token(black_box(&token_input), black_box(&token_sig)));
    });
    group.bench_function("raw_proof", |b| {
        b.iter(|| raw_proof(black_box(&proof_input), black_box(&proof_sig)));
    });
    group.bench_function("raw_both", |b| {
        b.iter_batched(
            || split(&proof()),
            |(input, sig)| {
                raw_token(black_box(&token_input), black_box(&token_sig))
                    && raw_proof(black_box(&input), black_box(&sig))
            },
            BatchSize::SmallInput,
        );
    });
    group.bench_function("no_layer", |b| {
        let mut svc = inner;
        b.iter_batched(
            || request(&token, &proof()),
            |req| now(svc.call(req)).unwrap(),
            BatchSize::SmallInput,
        );
    });
    group.bench_function("new_token_new_proof", |b| {
        let mut svc = uncached.clone();
        b.iter_batched(
            || request(&token, &proof()),
            |req| {
                let res = now(svc.call(req)).unwrap();
                debug_assert_eq!(res.status(), 200);
                res
            },
            BatchSize::SmallInput,
        );
    });
    group.bench_function("repeated_token_new_proof", |b| {
        let mut svc = cached.clone();
        b.iter_batched(
            || request(&token, &proof()),
            |req| {
                let res = now(svc.call(req)).unwrap();
                debug_assert_eq!(res.status(), 200);
                res
            },
            BatchSize::SmallInput,
        );
    });
    group.finish();

    // Interleaved: every round signs its proofs first (untimed), then times each case over
    // them. The two layers have replay stores of their own, so each takes every proof once.
    let mut rounds: [Vec<f64>; 6] = Default::default();
    let (mut plain, mut new_svc, mut repeated_svc) = (inner, uncached.clone(), cached.clone());
    for _ in 0..ROUNDS {
        let proofs: Vec<String> = (0..PER_ROUND).map(|_| proof()).collect();
        let requests =
            || -> Vec<Request<()>> { proofs.iter().map(|p| request(&token, p)).collect() };
        let splits: Vec<(Vec<u8>, Vec<u8>)> = proofs.iter().map(|p| split(p)).collect();
        let (no_layer, new, repeated) = (requests(), requests(), requests());
        let times = [
            per_input(vec![(); PER_ROUND], |()| {
                black_box(raw_token(black_box(&token_input), black_box(&token_sig)));
            }),
            per_input(vec![(); PER_ROUND], |()| {
                black_box(raw_proof(black_box(&proof_input), black_box(&proof_sig)));
            }),
            per_input(splits, |(input, sig)| {
                black_box(
                    raw_token(black_box(&token_input), black_box(&token_sig))
                        && raw_proof(black_box(&input), black_box(&sig)),
                );
            }),
            per_input(no_layer, |req| {
                black_box(now(plain.call(req)).unwrap());
            }),
            per_input(new, |req| {
                let res = now(new_svc.call(req)).unwrap();
                assert_eq!(res.status(), 200);
            }),
            per_input(repeated, |req| {
                let res = now(repeated_svc.call(req)).unwrap();
                assert_eq!(res.status(), 200);
            }),
        ];
        for (samples, time) in rounds.iter_mut().zip(times) {
            samples.push(time);
        }
    }
    let [raw_token, raw_proof, raw_both, no_layer, new, repeated] = rounds.map(median);
    Interleaved {
        raw_token,
        raw_proof,
        raw_both,
        no_layer,
        new,
        repeated,
    }
}

/// Parsing a proof's public key (every proof carries its key: this is the part of a proof's
/// check beyond its signature that costs the most).
fn bench_parts(c: &mut Criterion) {
    let mut group = c.benchmark_group("dpop_parts");
    for alg in [Algorithm::ES256, Algorithm::EdDSA, Algorithm::RS256] {
        let client = DpopClient::new(alg);
        let jwk = client.jwk().to_string();
        group.bench_function(format!("parse_jwk_{alg}"), |b| {
            b.iter(|| {
                portcullis_core::VerifyingKey::from_jwk_json(
                    black_box(&jwk),
                    portcullis_core::AlgorithmSet::only(alg),
                )
                .unwrap()
            });
        });
    }
    group.finish();
}

fn main() {
    let started = SystemTime::now();
    let dir = output_dir();
    let mut c = Criterion::default()
        .output_directory(&dir)
        .configure_from_args();
    let interleaved: Vec<Interleaved> = PAIRS.into_iter().map(|p| bench_pair(&mut c, p)).collect();
    bench_parts(&mut c);
    c.final_summary();

    println!();
    println!(
        "| token + proof | raw token | raw proof | raw both (floor) | no layer | new token, new proof | / floor | repeated token, new proof | / raw proof |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for pair in PAIRS {
        let group = name(pair);
        let m = |f| median_ns(&dir, &group, f, started);
        let (Some(token), Some(proof), Some(both), Some(none), Some(new), Some(repeated)) = (
            m("raw_token"),
            m("raw_proof"),
            m("raw_both"),
            m("no_layer"),
            m("new_token_new_proof"),
            m("repeated_token_new_proof"),
        ) else {
            continue;
        };
        println!(
            "| {} + {} | {:.2} µs | {:.2} µs | {:.2} µs | {:.2} µs | {:.2} µs | {:.3}x | {:.2} µs | {:.3}x |",
            pair.0,
            pair.1,
            token / 1e3,
            proof / 1e3,
            both / 1e3,
            none / 1e3,
            new / 1e3,
            (new - none) / both,
            repeated / 1e3,
            (repeated - none) / (both - token),
        );
    }

    println!();
    println!("Interleaved medians of {ROUNDS} rounds x {PER_ROUND} requests per case, one run.");
    println!(
        "| token + proof | raw token | raw proof | raw both (floor) | no layer | new token, new proof | / floor | repeated token, new proof | / raw proof |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (pair, t) in PAIRS.into_iter().zip(&interleaved) {
        println!(
            "| {} + {} | {:.2} µs | {:.2} µs | {:.2} µs | {:.2} µs | {:.2} µs | {:.3}x | {:.2} µs | {:.3}x |",
            pair.0,
            pair.1,
            t.raw_token / 1e3,
            t.raw_proof / 1e3,
            t.raw_both / 1e3,
            t.no_layer / 1e3,
            t.new / 1e3,
            (t.new - t.no_layer) / t.raw_both,
            t.repeated / 1e3,
            (t.repeated - t.no_layer) / (t.raw_both - t.raw_token),
        );
    }
    for alg in ["ES256", "EdDSA", "RS256"] {
        let part = format!("parse_jwk_{alg}");
        if let Some(ns) = median_ns(&dir, "dpop_parts", &part, started) {
            println!("{part}: {:.2} µs", ns / 1e3);
        }
    }
}
