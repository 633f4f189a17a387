//! The cost users pay: portcullis inside an axum `Router` exactly as the README builds it
//! (`route_layer(auth.require_scopes([..]))` then `route_layer(auth)`), over the same router
//! without authentication, beside the raw signature check of the same token, in one run; and
//! the allocations of one request of each kind.
//!
//! `cargo bench --bench router` prints criterion's figures, then a table per algorithm:
//! - `raw`: the signature check alone, key parsed once (the floor of a new token);
//! - `no_auth`: the router without portcullis (what every other row is measured over);
//! - `repeated_token`: the same token again (the verified-token cache hit);
//! - `new_token`: the verified-token cache off, so every token is verified in full, as a token
//!   never seen is;
//! - `no_token`: refused, 401 without a challenge error;
//! - `bad_signature`: refused, 401 `invalid_token` (the signature checked and failed).
//!
//! Allocations are counted by an instrumented global allocator (`stats_alloc`) around one
//! request, and reported over `no_auth`'s.

// Bench code: setup failures should stop the run loudly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::indexing_slicing,
    clippy::cast_precision_loss,
    clippy::cast_possible_wrap
)]

#[allow(dead_code)] // `ALGS` is for the other benches.
mod common;

use std::alloc::System;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::SystemTime;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use common::{median_ns, output_dir, raw_verifier, verifying_key};
use criterion::Criterion;
use http::{Request, StatusCode};
use portcullis_core::{Algorithm, KeySet, Validator};
use portcullis_jwks::{JwtVerifier, StaticKeys, TokenCache};
use portcullis_testkit::{TestKey, TokenBuilder};
use portcullis_tower::BearerAuthLayer;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tower::Service;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The algorithms of the table.
const ALGS: [Algorithm; 4] = [
    Algorithm::RS256,
    Algorithm::ES256,
    Algorithm::EdDSA,
    Algorithm::HS256,
];

/// The rows, in the table's order.
const CASES: [&str; 5] = [
    "no_auth",
    "repeated_token",
    "new_token",
    "no_token",
    "bad_signature",
];

/// Polls a future that the bench knows to be ready at once (the synchronous path).
fn now<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("the future was not ready at once"),
    }
}

fn request(authorization: Option<&str>) -> Request<Body> {
    let mut request = Request::get("/orders");
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    request.body(Body::empty()).unwrap()
}

async fn orders() -> &'static str {
    "orders"
}

/// The README's router, with `auth` or without.
fn router(auth: Option<BearerAuthLayer>) -> Router {
    let app = Router::new().route("/orders", get(orders));
    match auth {
        Some(auth) => app
            .route_layer(auth.require_scopes(["orders.read"]))
            .route_layer(auth),
        None => app,
    }
}

/// One request of a case: its service and its `Authorization` header.
struct Case {
    name: &'static str,
    router: Router,
    authorization: Option<String>,
    status: StatusCode,
}

impl Case {
    fn call(&mut self) -> StatusCode {
        let response = now(self.router.call(request(self.authorization.as_deref()))).unwrap();
        response.status()
    }
}

fn group_name(alg: Algorithm) -> String {
    format!("router/{alg}")
}

fn bench_alg(c: &mut Criterion, alg: Algorithm, allocations: &mut Vec<(Algorithm, String, i64)>) {
    let key = TestKey::generate(alg).with_kid("bench-key");
    let token = TokenBuilder::new(&key)
        .issuer("https://issuer.example")
        .audience("api")
        .scope("orders.read orders.write")
        .expires_in(24 * 3600)
        .sign();
    let (signing_input, sig_b64) = token.rsplit_once('.').unwrap();
    let signature = {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(sig_b64)
            .unwrap()
    };
    let raw = raw_verifier(&key);
    assert!(raw(signing_input.as_bytes(), &signature));
    // The same token with its signature's first character changed: well-formed, wrong.
    let forged = {
        let mut sig: Vec<u8> = sig_b64.bytes().collect();
        sig[0] = if sig[0] == b'A' { b'B' } else { b'A' };
        format!("{signing_input}.{}", String::from_utf8(sig).unwrap())
    };

    let validator = Validator::builder()
        .issuer("https://issuer.example")
        .audience("api")
        .algorithms([alg])
        .build()
        .unwrap();
    let keys = StaticKeys::new(KeySet::new(vec![verifying_key(&key)]));
    let auth = |cache: Option<TokenCache>| {
        BearerAuthLayer::new(JwtVerifier::new(keys.clone(), validator.clone()).with_cache(cache))
    };
    let cached = router(Some(auth(Some(TokenCache::default()))));
    let bearer = Some(format!("Bearer {token}"));
    let mut cases = [
        Case {
            name: "no_auth",
            router: router(None),
            authorization: bearer.clone(),
            status: StatusCode::OK,
        },
        Case {
            name: "repeated_token",
            router: cached.clone(),
            authorization: bearer.clone(),
            status: StatusCode::OK,
        },
        Case {
            name: "new_token",
            router: router(Some(auth(None))),
            authorization: bearer,
            status: StatusCode::OK,
        },
        Case {
            name: "no_token",
            router: cached.clone(),
            authorization: None,
            status: StatusCode::UNAUTHORIZED,
        },
        Case {
            name: "bad_signature",
            router: cached,
            authorization: Some(format!("Bearer {forged}")),
            status: StatusCode::UNAUTHORIZED,
        },
    ];
    for case in &mut cases {
        // Twice: the first request warms the cache (and the router's own lazy state).
        for _ in 0..2 {
            assert_eq!(case.call(), case.status, "{alg} {}", case.name);
        }
        let region = Region::new(GLOBAL);
        black_box(case.call());
        let stats = region.change();
        allocations.push((alg, case.name.to_owned(), stats.allocations as i64));
    }

    let mut group = c.benchmark_group(group_name(alg));
    group.bench_function("raw", |b| {
        b.iter(|| raw(black_box(signing_input.as_bytes()), black_box(&signature)));
    });
    for case in &mut cases {
        group.bench_function(case.name, |b| b.iter(|| black_box(case.call())));
    }
    group.finish();
}

fn main() {
    let started = SystemTime::now();
    let dir = output_dir();
    let mut c = Criterion::default()
        .output_directory(&dir)
        .configure_from_args();
    let mut allocations = Vec::new();
    for alg in ALGS {
        bench_alg(&mut c, alg, &mut allocations);
    }
    c.final_summary();

    let allocs = |alg: Algorithm, case: &str| {
        allocations
            .iter()
            .find(|(a, c, _)| *a == alg && c == case)
            .map_or(0, |(_, _, n)| *n)
    };
    println!();
    println!(
        "| alg | raw | no auth | repeated token (over no auth) | new token (over no auth) | / raw | no token (over no auth) | bad signature (over no auth) | allocations over no auth: repeated / new / no token / bad signature |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for alg in ALGS {
        let group = group_name(alg);
        let m = |f: &str| median_ns(&dir, &group, f, started);
        let Some(raw) = m("raw") else { continue };
        let medians: Vec<Option<f64>> = CASES.iter().map(|case| m(case)).collect();
        let [
            Some(none),
            Some(repeated),
            Some(new),
            Some(missing),
            Some(bad),
        ] = medians[..]
        else {
            continue;
        };
        let base = allocs(alg, "no_auth");
        println!(
            "| {alg} | {:.2} µs | {:.2} µs | {:.2} µs | {:.2} µs | {:.3}x | {:.2} µs | {:.2} µs | {} / {} / {} / {} |",
            raw / 1e3,
            none / 1e3,
            (repeated - none) / 1e3,
            (new - none) / 1e3,
            (new - none) / raw,
            (missing - none) / 1e3,
            (bad - none) / 1e3,
            allocs(alg, "repeated_token") - base,
            allocs(alg, "new_token") - base,
            allocs(alg, "no_token") - base,
            allocs(alg, "bad_signature") - base,
        );
    }
    println!(
        "allocations of one request without auth: {}",
        allocs(Algorithm::RS256, "no_auth")
    );
}
