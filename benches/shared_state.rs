//! The cost of the state replicas share through Redis (`portcullis-redis`), against a real
//! `redis-server` on loopback, beside the raw ES256 signature check measured in the same run.
//!
//! `cargo bench --bench shared_state` (needs `redis-server`; without it the bench says so and
//! stops) prints criterion's medians, then p50/p99 of each operation timed one by one:
//! - `raw_es256`: one ES256 signature check, key parsed once (the floor of a new token);
//! - `revocation_local_answer`: the deny-list check of a token whose answer this replica
//!   had from Redis less than `fresh_for` ago (the common case: no round trip);
//! - `revocation_local_list`: the same check against the in-process list alone;
//! - `revocation_round_trip`: the check with `fresh_for` zero (one `MGET` every time);
//! - `dpop_replay_round_trip`: one `SET NX PX` of a proof never seen;
//! - `layer_cache_hit` / `layer_cache_hit_revoking`: a verified-token cache hit through the
//!   layer, without and with the Redis deny list (its local answer): the added cost per
//!   request as the layer pays it.

// Bench code: setup failures should stop the run loudly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss
)]

#[allow(dead_code)] // `ALGS` is for the other benches.
mod common;

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant, SystemTime};

use common::{median_ns, output_dir, raw_verifier, verifying_key};
use criterion::Criterion;
use http::{Request, Response};
use portcullis_core::dpop::{FirstUse, ReplayKey, ReplayStore};
use portcullis_core::revocation::{
    LocalRevocations, RevocationCheck, RevocationList, RevocationVerifier,
};
use portcullis_core::{Algorithm, Claims, KeySet, Validator};
use portcullis_jwks::{JwtVerifier, StaticKeys, TokenCache};
use portcullis_redis::{RedisReplayStore, RedisRevocations, RedisStore};
use portcullis_testkit::redis::RedisServer;
use portcullis_testkit::{TestKey, TokenBuilder};
use portcullis_tower::BearerAuthLayer;
use tower::{Layer, Service, ServiceExt, service_fn};

const GROUP: &str = "shared_state";

/// Polls a future that the bench knows to be ready at once.
fn now<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("the future was not ready at once"),
    }
}

fn check_ready(list: &impl RevocationList, claims: &Claims) {
    match list.check(claims) {
        RevocationCheck::Ready(r) => {
            black_box(r.unwrap());
        }
        RevocationCheck::Pending(_) => panic!("a round trip where a local answer was expected"),
    }
}

fn check_remote(rt: &tokio::runtime::Runtime, list: &impl RevocationList, claims: &Claims) {
    match list.check(claims) {
        RevocationCheck::Ready(_) => panic!("a local answer where a round trip was expected"),
        RevocationCheck::Pending(f) => {
            black_box(rt.block_on(f).unwrap());
        }
    }
}

/// A proof never seen: `n` and this run's start make its key unique.
fn first_use(rt: &tokio::runtime::Runtime, store: &RedisReplayStore, n: u64) {
    let run = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&n.to_be_bytes());
    bytes[8..16].copy_from_slice(&run.to_be_bytes());
    match store.first_use(&ReplayKey::from_bytes(bytes), Duration::from_secs(70)) {
        FirstUse::Pending(f) => assert!(rt.block_on(f).unwrap()),
        FirstUse::Ready(_) => panic!("a shared store answers after a round trip"),
    }
}

/// p50 and p99 of `op` timed `n` times one by one, in microseconds.
fn percentiles(n: usize, mut op: impl FnMut(usize)) -> (f64, f64) {
    let mut samples: Vec<u128> = (0..n)
        .map(|i| {
            let start = Instant::now();
            op(i);
            start.elapsed().as_nanos()
        })
        .collect();
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize] as f64 / 1e3;
    (at(0.50), at(0.99))
}

fn main() {
    let Some(redis) = RedisServer::start() else {
        println!("shared_state: redis-server not found; install it (apt-get install redis-server)");
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let store = rt.block_on(async {
        RedisStore::builder(redis.url())
            .timeout(Duration::from_millis(200))
            .connect()
            .await
            .unwrap()
    });
    let fresh = rt.block_on(async {
        let list = RedisRevocations::builder(store.clone())
            .fresh_for(Duration::from_secs(3600))
            .start();
        while !list.is_subscribed() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        list
    });
    let remote = rt.block_on(async {
        RedisRevocations::builder(store.clone())
            .fresh_for(Duration::ZERO)
            .start()
    });
    let replay = RedisReplayStore::new(store);
    let local = LocalRevocations::new();
    local.revoke_jti("https://issuer.example", "another", u64::MAX / 4);

    let issuer = TestKey::generate(Algorithm::ES256).with_kid("bench-key");
    let token = TokenBuilder::new(&issuer)
        .issuer("https://issuer.example")
        .audience("api")
        .claim(
            "jti",
            serde_json::json!("a5e1c2d0-7b5f-4c8e-9f20-3b1d2e4f6a70"),
        )
        .subject("user-1234")
        .expires_in(24 * 3600)
        .sign();
    let claims = Claims::from_trusted_json(&format!(
        r#"{{"iss":"https://issuer.example","jti":"a5e1c2d0-7b5f-4c8e-9f20-3b1d2e4f6a70","sub":"user-1234","iat":{}}}"#,
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    ))
    .unwrap();
    // The answer, had once from Redis.
    if let RevocationCheck::Pending(f) = fresh.check(&claims) {
        rt.block_on(f).unwrap();
    }
    check_ready(&fresh, &claims);

    let raw = raw_verifier(&issuer);
    let (input, sig) = {
        use base64::Engine as _;
        let (input, sig) = token.rsplit_once('.').unwrap();
        let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(sig)
            .unwrap();
        (input.as_bytes().to_vec(), sig)
    };
    assert!(raw(&input, &sig));

    let validator = Validator::builder()
        .issuer("https://issuer.example")
        .audience("api")
        .algorithms([Algorithm::ES256])
        .build()
        .unwrap();
    let keys = StaticKeys::new(KeySet::new(vec![verifying_key(&issuer)]));
    let jwt = || {
        JwtVerifier::new(keys.clone(), validator.clone()).with_cache(Some(TokenCache::default()))
    };
    let inner = service_fn(|_req: Request<()>| async { Ok::<_, Infallible>(Response::new(())) });
    let plain = BearerAuthLayer::new(jwt()).layer(inner);
    let revoking = BearerAuthLayer::new(RevocationVerifier::new(jwt(), fresh.clone())).layer(inner);
    let request = || {
        Request::get("/orders")
            .header("authorization", format!("Bearer {token}"))
            .body(())
            .unwrap()
    };
    for svc in [&plain, &revoking] {
        for _ in 0..2 {
            assert_eq!(now(svc.clone().oneshot(request())).unwrap().status(), 200);
        }
    }

    let started = SystemTime::now();
    let dir = output_dir();
    let mut c = Criterion::default()
        .output_directory(&dir)
        .configure_from_args();
    let mut group = c.benchmark_group(GROUP);
    group.bench_function("raw_es256", |b| {
        b.iter(|| raw(black_box(&input), black_box(&sig)));
    });
    group.bench_function("revocation_local_answer", |b| {
        b.iter(|| check_ready(&fresh, black_box(&claims)));
    });
    group.bench_function("revocation_local_list", |b| {
        b.iter(|| check_ready(&local, black_box(&claims)));
    });
    group.bench_function("revocation_round_trip", |b| {
        b.iter(|| check_remote(&rt, &remote, black_box(&claims)));
    });
    let mut n = 0u64;
    group.bench_function("dpop_replay_round_trip", |b| {
        b.iter(|| {
            n += 1;
            first_use(&rt, &replay, n);
        });
    });
    let mut svc = plain.clone();
    group.bench_function("layer_cache_hit", |b| {
        b.iter(|| now(svc.call(black_box(request()))).unwrap());
    });
    let mut svc = revoking.clone();
    group.bench_function("layer_cache_hit_revoking", |b| {
        b.iter(|| now(svc.call(black_box(request()))).unwrap());
    });
    group.finish();
    c.final_summary();

    let m = |f: &str| median_ns(&dir, GROUP, f, started);
    println!();
    println!("| operation | median (criterion) | p50 | p99 | / raw ES256 |");
    println!("|---|---|---|---|---|");
    let raw_ns = m("raw_es256");
    let row = |name: &str, (p50, p99): (f64, f64)| {
        let Some(median) = m(name) else { return };
        let ratio = raw_ns.map_or(String::new(), |r| format!("{:.3}x", median / r));
        println!(
            "| {name} | {:.3} µs | {p50:.3} µs | {p99:.3} µs | {ratio} |",
            median / 1e3
        );
    };
    row(
        "raw_es256",
        percentiles(20_000, |_| {
            black_box(raw(black_box(&input), black_box(&sig)));
        }),
    );
    row(
        "revocation_local_answer",
        percentiles(200_000, |_| {
            check_ready(&fresh, &claims);
        }),
    );
    row(
        "revocation_local_list",
        percentiles(200_000, |_| {
            check_ready(&local, &claims);
        }),
    );
    row(
        "revocation_round_trip",
        percentiles(20_000, |_| {
            check_remote(&rt, &remote, &claims);
        }),
    );
    row(
        "dpop_replay_round_trip",
        percentiles(20_000, |i| {
            first_use(&rt, &replay, 1 << 40 | i as u64);
        }),
    );
    let mut svc = plain;
    row(
        "layer_cache_hit",
        percentiles(200_000, |_| {
            black_box(now(svc.call(request())).unwrap());
        }),
    );
    let mut svc = revoking;
    row(
        "layer_cache_hit_revoking",
        percentiles(200_000, |_| {
            black_box(now(svc.call(request())).unwrap());
        }),
    );
    if let (Some(with), Some(without)) = (m("layer_cache_hit_revoking"), m("layer_cache_hit")) {
        println!(
            "added by the deny list on a cache hit (medians): {:.3} µs",
            (with - without) / 1e3
        );
    }
}
