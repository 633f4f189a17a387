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
//! Then the non-signature parts alone: key lookup, the time rules of a cache hit, a scope check.

// Bench code: setup failures should stop the run loudly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::indexing_slicing
)]

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::SystemTime;

use aws_lc_rs::signature::{self, ParsedPublicKey};
use criterion::Criterion;
use http::{Request, Response};
use tollgate_core::{Algorithm, AlgorithmSet, KeySet, ScopeRequirement, Validator, VerifyingKey};
use tollgate_jwks::StaticKeys;
use tollgate_testkit::{TestKey, TokenBuilder};
use tollgate_tower::{BearerAuthLayer, JwtVerifier, TokenCache};
use tower::{Layer, Service, ServiceExt, service_fn};

const ALGS: [Algorithm; 5] = [
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::EdDSA,
    Algorithm::HS256,
];

/// Polls a future that the bench knows to be ready at once (the layer's synchronous path).
fn now<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("the future was not ready at once"),
    }
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

fn verifying_key(key: &TestKey) -> VerifyingKey {
    match key.secret() {
        Some(secret) => VerifyingKey::hmac(key.alg(), secret)
            .unwrap()
            .with_kid(key.kid()),
        None => {
            VerifyingKey::from_jwk_json(&key.public_jwk().to_string(), AlgorithmSet::ALL).unwrap()
        }
    }
}

fn request(bearer: &str) -> Request<()> {
    Request::get("/orders")
        .header("authorization", bearer)
        .body(())
        .unwrap()
}

fn bench_alg(c: &mut Criterion, alg: Algorithm) {
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

fn output_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("criterion")
}

/// Criterion's median, in nanoseconds, of one benchmark measured by this run.
fn median_ns(dir: &Path, group: &str, function: &str, since: SystemTime) -> Option<f64> {
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
        println!(
            "| {alg} | {:.2} µs | {:.2} µs | {:.2} µs | {:.2}x | {:.2} µs |",
            raw / 1e3,
            none / 1e3,
            off / 1e3,
            (off - none) / raw,
            hit / 1e3,
        );
    }
    for part in ["key_lookup_of_4", "time_rules", "scope_check"] {
        if let Some(ns) = median_ns(&dir, "parts", part, started) {
            println!("{part}: {ns:.1} ns");
        }
    }
}
