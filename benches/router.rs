//! The cost users pay: portcullis inside an axum `Router` exactly as the README builds it
//! (one `route_layer(auth.with_scopes([..]))`), over the same router without authentication,
//! beside the raw signature check of the same token, in one run; the same for the other
//! shapes users build (per-route scopes as a second layer, a policy table, a tonic service);
//! and the allocations of one request of each kind.
//!
//! `cargo bench --bench router` prints criterion's figures, then a table per algorithm:
//! - `raw`: the signature check alone, key parsed once (the floor of a new token);
//! - `no_auth`: the router without portcullis (what the axum rows are measured over);
//! - `identity_layer`: the same router with `route_layer(Identity)`, a layer that does
//!   nothing: what axum itself charges for any `route_layer` (the second base of the table);
//! - `repeated_token`: the same token again (the verified-token cache hit);
//! - `new_token`: the verified-token cache off, so every token is verified in full, as a token
//!   never seen is;
//! - `no_token`: refused, 401 without a challenge error;
//! - `bad_signature`: refused, 401 `invalid_token` (the signature checked and failed);
//! - `two_layers_*`: `route_layer(auth.require_scopes([..]))` then `route_layer(auth)`, the
//!   form for scopes that differ per method;
//! - `policy_*`: `route_layer(auth.policy(table))`, the request matching the table's fourth rule;
//! - `grpc_*`: tonic's generated health service behind the layer with a policy, over the same
//!   service without it (`grpc_no_auth`).
//!
//! Routers are called as `axum::serve` calls them, after `with_state(())` (which turns every
//! route into a service once, not per request). Allocations are counted by an instrumented
//! global allocator (`stats_alloc`) around one request, and reported over the unprotected
//! service's.

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
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use common::{output_dir, raw_verifier, verifying_key};
use criterion::Criterion;
use http::{Method, Request, Response};
use portcullis_core::{Algorithm, KeySet, ScopeRequirement, Validator};
use portcullis_jwks::{JwtVerifier, StaticKeys, TokenCache};
use portcullis_testkit::{TestKey, TokenBuilder};
use portcullis_tower::{Access, BearerAuthLayer, Policy};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tower::{Layer, Service};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The algorithms of the table.
const ALGS: [Algorithm; 4] = [
    Algorithm::RS256,
    Algorithm::ES256,
    Algorithm::EdDSA,
    Algorithm::HS256,
];

/// The gRPC method the tonic rows call.
const HEALTH_CHECK: &str = "/grpc.health.v1.Health/Check";

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

/// A unary gRPC call of `Health/Check` for the default service: one frame holding an empty
/// message.
fn grpc_request(authorization: Option<&str>) -> Request<Body> {
    let mut request = Request::post(HEALTH_CHECK)
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    request.body(Body::from(vec![0u8; 5])).unwrap()
}

/// What a response said: its status, and `grpc-status` when refused as gRPC (a trailers-only
/// answer carries it in the headers; a call that reached the service has it in trailers).
fn outcome<B>(response: &Response<B>) -> String {
    match response.headers().get("grpc-status") {
        Some(code) => format!(
            "{} grpc-status {}",
            response.status().as_u16(),
            code.to_str().unwrap()
        ),
        None => response.status().as_u16().to_string(),
    }
}

async fn orders() -> &'static str {
    "orders"
}

/// The README's router, with `auth` (and the scope it requires) or without.
fn router(auth: Option<&BearerAuthLayer>) -> Router {
    let app = Router::new().route("/orders", get(orders));
    match auth {
        Some(auth) => app.route_layer(auth.with_scopes(["orders.read"])),
        None => app,
    }
    .with_state(())
}

/// The README's router with a layer that does nothing in portcullis's place: what any
/// `route_layer` costs in axum (the route boxed again, and its future).
fn identity_layer() -> Router {
    Router::new()
        .route("/orders", get(orders))
        .route_layer(tower::layer::util::Identity::new())
        .with_state(())
}

/// Scopes as a second layer behind a router-wide one.
fn two_layers(auth: &BearerAuthLayer) -> Router {
    Router::new()
        .route("/orders", get(orders))
        .route_layer(auth.require_scopes(["orders.read"]))
        .route_layer(auth.clone())
        .with_state(())
}

/// A table of a handful of rules, the request's route matching the fourth.
fn table(first: &str) -> Policy {
    Policy::deny_by_default()
        .public("/health")
        .route_method(
            Method::POST,
            "/orders",
            ScopeRequirement::all_of(["orders.write"]),
        )
        .route("/admin/**", ScopeRequirement::all_of(["admin"]))
        .route_method(
            Method::GET,
            first,
            ScopeRequirement::any_of(["orders.read"]),
        )
        .route("/me", Access::Authenticated)
        .build()
        .unwrap()
}

fn policy_router(auth: &BearerAuthLayer) -> Router {
    Router::new()
        .route("/orders", get(orders))
        .route_layer(auth.clone().policy(table("/orders")))
        .with_state(())
}

type Call = Box<dyn FnMut() -> String>;

/// One request of a case, and what it must answer.
struct Case {
    name: &'static str,
    call: Call,
    expected: &'static str,
}

fn axum_case(
    name: &'static str,
    mut router: Router,
    authorization: Option<String>,
    expected: &'static str,
) -> Case {
    Case {
        name,
        call: Box::new(move || {
            outcome(&now(router.call(request(authorization.as_deref()))).unwrap())
        }),
        expected,
    }
}

fn grpc_case<S, B>(name: &'static str, mut service: S, authorization: Option<String>) -> Case
where
    S: Service<Request<Body>, Response = Response<B>> + 'static,
    S::Error: std::fmt::Debug,
{
    Case {
        name,
        call: Box::new(move || {
            let response = now(service.call(grpc_request(authorization.as_deref()))).unwrap();
            outcome(&response)
        }),
        expected: "200",
    }
}

/// Rounds of the interleaved measurement, and requests per case in each round.
const ROUNDS: usize = 101;
const PER_ROUND: u32 = 300;

/// The median time per request of each case, measured in rounds that take every case in
/// turn: a slow moment of a shared machine then slows all cases alike, instead of the one
/// criterion happened to be measuring (on this 2-core VM, back-to-back criterion runs of one
/// case differ by up to 1.7x; the differences between cases measured so stay within a few
/// percent).
fn interleaved(cases: &mut [Case], raw: &mut dyn FnMut() -> bool) -> Vec<f64> {
    let mut samples = vec![Vec::with_capacity(ROUNDS); cases.len() + 1];
    for _ in 0..ROUNDS {
        let started = Instant::now();
        for _ in 0..PER_ROUND {
            black_box(raw());
        }
        samples[0].push(started.elapsed().as_nanos() as f64 / f64::from(PER_ROUND));
        for (case, samples) in cases.iter_mut().zip(&mut samples[1..]) {
            let started = Instant::now();
            for _ in 0..PER_ROUND {
                black_box((case.call)());
            }
            samples.push(started.elapsed().as_nanos() as f64 / f64::from(PER_ROUND));
        }
    }
    samples
        .into_iter()
        .map(|mut s| {
            s.sort_by(f64::total_cmp);
            s[s.len() / 2]
        })
        .collect()
}

fn group_name(alg: Algorithm) -> String {
    format!("router/{alg}")
}

/// One algorithm's figures: the interleaved medians and the allocations of each case.
struct Table {
    alg: Algorithm,
    /// `raw` first, then the cases, in their order.
    rows: Vec<(&'static str, f64, i64)>,
}

impl Table {
    fn get(&self, name: &str) -> Option<(f64, i64)> {
        self.rows
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, t, a)| (*t, *a))
    }
}

fn bench_alg(c: &mut Criterion, alg: Algorithm) -> Table {
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
    let cached = auth(Some(TokenCache::default()));
    let uncached = auth(None);
    let bearer = Some(format!("Bearer {token}"));
    let health = || tonic_health::server::health_reporter().1;
    let grpc_policy = || {
        Policy::deny_by_default()
            .route(
                "/grpc.health.v1.Health/*",
                ScopeRequirement::any_of(["orders.read"]),
            )
            .build()
            .unwrap()
    };
    let mut cases = [
        axum_case("no_auth", router(None), bearer.clone(), "200"),
        axum_case("identity_layer", identity_layer(), bearer.clone(), "200"),
        axum_case(
            "repeated_token",
            router(Some(&cached)),
            bearer.clone(),
            "200",
        ),
        axum_case("new_token", router(Some(&uncached)), bearer.clone(), "200"),
        axum_case("no_token", router(Some(&cached)), None, "401"),
        axum_case(
            "bad_signature",
            router(Some(&cached)),
            Some(format!("Bearer {forged}")),
            "401",
        ),
        axum_case(
            "two_layers_repeated",
            two_layers(&cached),
            bearer.clone(),
            "200",
        ),
        axum_case(
            "policy_repeated",
            policy_router(&cached),
            bearer.clone(),
            "200",
        ),
        axum_case(
            "policy_new",
            policy_router(&uncached),
            bearer.clone(),
            "200",
        ),
        grpc_case("grpc_no_auth", health(), bearer.clone()),
        grpc_case(
            "grpc_repeated",
            cached.clone().policy(grpc_policy()).layer(health()),
            bearer.clone(),
        ),
        grpc_case(
            "grpc_new",
            uncached.clone().policy(grpc_policy()).layer(health()),
            bearer,
        ),
    ];
    for case in &mut cases {
        // Twice: the first request warms the cache (and the router's own lazy state).
        for _ in 0..2 {
            assert_eq!((case.call)(), case.expected, "{alg} {}", case.name);
        }
    }
    let allocations: Vec<i64> = cases
        .iter_mut()
        .map(|case| {
            let region = Region::new(GLOBAL);
            black_box((case.call)());
            region.change().allocations as i64
        })
        .collect();

    let mut group = c.benchmark_group(group_name(alg));
    group.bench_function("raw", |b| {
        b.iter(|| raw(black_box(signing_input.as_bytes()), black_box(&signature)));
    });
    for case in &mut cases {
        group.bench_function(case.name, |b| b.iter(|| black_box((case.call)())));
    }
    group.finish();

    let medians = interleaved(&mut cases, &mut || {
        raw(black_box(signing_input.as_bytes()), black_box(&signature))
    });
    let mut rows = vec![("raw", medians[0], 0)];
    for ((case, median), allocations) in cases.iter().zip(&medians[1..]).zip(allocations) {
        rows.push((case.name, *median, allocations));
    }
    Table { alg, rows }
}

fn main() {
    let mut c = Criterion::default()
        .output_directory(&output_dir())
        .configure_from_args();
    let tables: Vec<Table> = ALGS.into_iter().map(|alg| bench_alg(&mut c, alg)).collect();
    c.final_summary();

    // Each row: time over its base, the unprotected service or the router with a layer that
    // does nothing (and, for new tokens, that difference over raw), then the allocations over
    // the base's.
    let rows: [(&str, &str, bool); 13] = [
        ("identity_layer", "no_auth", false),
        ("repeated_token", "no_auth", false),
        ("repeated_token", "identity_layer", false),
        ("new_token", "no_auth", true),
        ("new_token", "identity_layer", true),
        ("no_token", "no_auth", false),
        ("bad_signature", "no_auth", false),
        ("two_layers_repeated", "no_auth", false),
        ("policy_repeated", "no_auth", false),
        ("policy_new", "no_auth", true),
        ("policy_new", "identity_layer", true),
        ("grpc_repeated", "grpc_no_auth", false),
        ("grpc_new", "grpc_no_auth", true),
    ];
    println!();
    println!("Interleaved medians of {ROUNDS} rounds x {PER_ROUND} requests per case, one run.");
    println!(
        "| alg | case | median | over | the difference | (new token - base) / raw | allocations over the base |"
    );
    println!("|---|---|---|---|---|---|---|");
    for table in &tables {
        let alg = table.alg;
        let Some((raw, _)) = table.get("raw") else {
            continue;
        };
        println!("| {alg} | raw | {:.2} µs | | | | |", raw / 1e3);
        for base in ["no_auth", "grpc_no_auth"] {
            if let Some((t, a)) = table.get(base) {
                println!("| {alg} | {base} | {:.2} µs | | | | {a} in all |", t / 1e3);
            }
        }
        for (case, base, new) in rows {
            let (Some((t, a)), Some((b, ab))) = (table.get(case), table.get(base)) else {
                continue;
            };
            let ratio = if new {
                format!("{:.3}x", (t - b) / raw)
            } else {
                String::new()
            };
            println!(
                "| {alg} | {case} | {:.2} µs | {base} | {:+.2} µs | {ratio} | {:+} |",
                t / 1e3,
                (t - b) / 1e3,
                a - ab,
            );
        }
    }
}
