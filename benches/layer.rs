//! The cost of one request through the layer, beside the raw signature check of the same
//! token (the floor) and the same service without the layer, in one run.
//!
//! `cargo bench --bench layer` prints criterion's figures, then a table per algorithm:
//! - `raw`: the signature check alone, key parsed once;
//! - `no_layer`: building the request and calling a trivial service, no authentication;
//! - `layer_cache_off`: the same through `BearerAuthLayer` with the verified-token cache off,
//!   which is what every request with a token never seen before costs;
//! - `layer_cache_hit`: the same token again, the cache on.
//!
//! Then the non-signature parts alone: key lookup, the time rules of a cache hit, a scope check;
//! then the four cases of each algorithm again, interleaved (rounds that time each case in
//! turn; the medians of the rounds), which a VM whose speed changes by phases does not skew.
//! `cargo bench --bench layer -- only-the-table` (a filter no criterion benchmark matches)
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

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::SystemTime;

use common::{ALGS, interleaved, median_ns, output_dir, raw_verifier, verifying_key};
use criterion::Criterion;
use http::{Request, Response};
use portcullis_core::{Algorithm, KeySet, ScopeRequirement, Validator};
use portcullis_jwks::{JwtVerifier, StaticKeys, TokenCache};
use portcullis_testkit::{TestKey, TokenBuilder};
use portcullis_tower::BearerAuthLayer;
use tower::{Layer, Service, ServiceExt, service_fn};

/// Polls a future that the bench knows to be ready at once (the layer's synchronous path).
fn now<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("the future was not ready at once"),
    }
}

fn request(bearer: &str) -> Request<()> {
    Request::get("/orders")
        .header("authorization", bearer)
        .body(())
        .unwrap()
}

/// Rounds of the interleaved measurement, and requests per case in each round.
const ROUNDS: usize = 101;
const PER_ROUND: usize = 200;

/// Nanoseconds per request, interleaved: the floor, no layer, a new token, a repeated token.
type Interleaved = [f64; 4];

fn bench_alg(c: &mut Criterion, alg: Algorithm) -> Interleaved {
    let key = TestKey::generate(alg).with_kid("bench-key");
    let token = TokenBuilder::new(&key)
        .issuer("https://issuer.example")
        .audience("api")
        .expires_in(24 * 3600)
        .sign();
    let bearer = format!("Bearer {token}");

    let (signing_input, sig_b64) = token.rsplit_once('.').unwrap();
    let signature = {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(sig_b64)
            .unwrap()
    };
    let raw = raw_verifier(&key);
    assert!(raw(signing_input.as_bytes(), &signature));

    let validator = Validator::builder()
        .issuer("https://issuer.example")
        .audience("api")
        .algorithms([alg])
        .build()
        .unwrap();
    let keys = StaticKeys::new(KeySet::new(vec![verifying_key(&key)]));
    let inner = service_fn(|_req: Request<()>| async { Ok::<_, Infallible>(Response::new(())) });
    let layer = |cache: Option<TokenCache>| {
        BearerAuthLayer::new(JwtVerifier::new(keys.clone(), validator.clone()).with_cache(cache))
    };
    let uncached = layer(None).layer(inner);
    let cached = layer(Some(TokenCache::default())).layer(inner);
    for svc in [&uncached, &cached] {
        let res = now(svc.clone().oneshot(request(&bearer))).unwrap();
        assert_eq!(res.status(), 200);
    }

    let mut group = c.benchmark_group(format!("layer/{alg}"));
    group.bench_function("raw", |b| {
        b.iter(|| raw(black_box(signing_input.as_bytes()), black_box(&signature)));
    });
    group.bench_function("no_layer", |b| {
        let mut svc = inner;
        b.iter(|| now(svc.call(request(black_box(&bearer)))).unwrap());
    });
    group.bench_function("layer_cache_off", |b| {
        let mut svc = uncached.clone();
        b.iter(|| now(svc.call(request(black_box(&bearer)))).unwrap());
    });
    group.bench_function("layer_cache_hit", |b| {
        let mut svc = cached.clone();
        b.iter(|| now(svc.call(request(black_box(&bearer)))).unwrap());
    });
    group.finish();

    let (mut plain, mut off, mut hit) = (inner, uncached.clone(), cached.clone());
    interleaved(
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
                black_box(now(plain.call(request(black_box(&bearer)))).unwrap());
            },
            &mut || {
                black_box(now(off.call(request(black_box(&bearer)))).unwrap());
            },
            &mut || {
                black_box(now(hit.call(request(black_box(&bearer)))).unwrap());
            },
        ],
    )
}

/// The non-signature work alone.
fn bench_parts(c: &mut Criterion) {
    let keys: Vec<TestKey> = (0..4)
        .map(|i| TestKey::generate(Algorithm::ES256).with_kid(format!("key-{i}")))
        .collect();
    let set = KeySet::new(keys.iter().map(verifying_key).collect());
    let validator = Validator::builder()
        .issuer("https://issuer.example")
        .audience("api")
        .build()
        .unwrap();
    let token = TokenBuilder::new(&keys[3])
        .issuer("https://issuer.example")
        .audience("api")
        .scope("orders.read orders.write profile")
        .expires_in(3600)
        .sign();
    let claims = validator.validate(&token, &set).unwrap();
    let requirement = ScopeRequirement::all_of(["orders.write"]);

    let mut group = c.benchmark_group("parts");
    group.bench_function("key_lookup_of_4", |b| {
        b.iter(|| {
            set.select(black_box(Some("key-3")), Algorithm::ES256)
                .unwrap()
        });
    });
    group.bench_function("time_rules", |b| {
        b.iter(|| validator.check_times(black_box(&claims)).unwrap());
    });
    group.bench_function("scope_check", |b| {
        b.iter(|| requirement.check(black_box(claims.scopes())).unwrap());
    });
    group.finish();
}

/// A row of the table: the floor, no layer, a new token and a repeated token, in nanoseconds.
fn print_row(alg: Algorithm, [raw, none, off, hit]: Interleaved) {
    println!(
        "| {alg} | {:.2} µs | {:.2} µs | {:.2} µs | {:.2}x | {:.2} µs |",
        raw / 1e3,
        none / 1e3,
        off / 1e3,
        (off - none) / raw,
        hit / 1e3,
    );
}

fn main() {
    let started = SystemTime::now();
    let dir = output_dir();
    let mut c = Criterion::default()
        .output_directory(&dir)
        .configure_from_args();
    let interleaved: Vec<Interleaved> = ALGS.into_iter().map(|a| bench_alg(&mut c, a)).collect();
    bench_parts(&mut c);
    c.final_summary();

    println!();
    println!(
        "| alg | raw verify (floor) | no layer | layer, new token (cache off) | layer overhead / floor | layer, repeated token (cache hit) |"
    );
    println!("|---|---|---|---|---|---|");
    for alg in ALGS {
        let group = format!("layer/{alg}");
        let m = |f| median_ns(&dir, &group, f, started);
        let (Some(raw), Some(none), Some(off), Some(hit)) = (
            m("raw"),
            m("no_layer"),
            m("layer_cache_off"),
            m("layer_cache_hit"),
        ) else {
            continue;
        };
        print_row(alg, [raw, none, off, hit]);
    }
    for part in ["key_lookup_of_4", "time_rules", "scope_check"] {
        if let Some(ns) = median_ns(&dir, "parts", part, started) {
            println!("{part}: {ns:.1} ns");
        }
    }

    println!();
    println!("Interleaved medians of {ROUNDS} rounds x {PER_ROUND} requests per case, one run.");
    println!();
    println!(
        "| alg | raw verify (floor) | no layer | layer, new token (cache off) | layer overhead / floor | layer, repeated token (cache hit) |"
    );
    println!("|---|---|---|---|---|---|");
    for (alg, [raw, none, off, hit]) in ALGS.into_iter().zip(interleaved) {
        print_row(alg, [raw, none, off, hit]);
    }
}
