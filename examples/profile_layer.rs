//! One request through the layer, many times, for `valgrind --tool=callgrind`:
//! `profile_layer MODE [N] [ALG]` (`ALG` HS256 unless given), where `MODE` is
//! - `hit`: the bare layer around a trivial service, the same token, cache on;
//! - `miss`: the same with the cache off (every token verified);
//! - `router-none`, `router-hit`, `router-miss`: the README's axum router
//!   (`route_layer(auth.with_scopes([..]))`) without portcullis, with a cache hit, with the
//!   cache off.
//!
//! The cost of one request: the count of one run under
//! `valgrind --tool=callgrind --toggle-collect='*measured*'` over `N`.
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::panic)]

use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, Response};
use portcullis_core::{Algorithm, AlgorithmSet, KeySet, Validator, VerifyingKey};
use portcullis_jwks::{JwtVerifier, StaticKeys, TokenCache};
use portcullis_testkit::{TestKey, TokenBuilder};
use portcullis_tower::BearerAuthLayer;
use tower::{Layer, Service, service_fn};

fn now<F: Future>(f: F) -> F::Output {
    match pin!(f).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("not ready"),
    }
}

async fn orders() -> &'static str {
    "orders"
}

/// Runs `one` `n` times; how many returned `true`. Only this is measured with
/// `valgrind --tool=callgrind --toggle-collect='*measured*'`.
#[inline(never)]
fn measured(n: usize, mut one: impl FnMut() -> bool) -> usize {
    (0..n).filter(|_| one()).count()
}

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "hit".into());
    let n: usize = std::env::args()
        .nth(2)
        .map_or(100_000, |s| s.parse().unwrap());
    let alg: Algorithm = std::env::args()
        .nth(3)
        .map_or(Algorithm::HS256, |a| a.parse().unwrap());
    let key = TestKey::generate(alg).with_kid("k");
    let token = TokenBuilder::new(&key)
        .issuer("https://issuer.example")
        .audience("api")
        .scope("orders.read orders.write")
        .expires_in(86400)
        .sign();
    let bearer = format!("Bearer {token}");
    let keys = StaticKeys::new(KeySet::new(vec![match key.secret() {
        Some(secret) => VerifyingKey::hmac(alg, secret).unwrap().with_kid("k"),
        None => {
            VerifyingKey::from_jwk_json(&key.public_jwk().to_string(), AlgorithmSet::ALL).unwrap()
        }
    }]));
    let rules = Validator::builder()
        .issuer("https://issuer.example")
        .audience("api")
        .algorithms([alg])
        .build()
        .unwrap();
    let cache = mode.ends_with("hit").then(TokenCache::default);
    let layer = BearerAuthLayer::new(JwtVerifier::new(keys, rules).with_cache(cache));
    let start = std::time::Instant::now();
    let ok;
    if let Some(router_mode) = mode.strip_prefix("router-") {
        let app = Router::new().route("/orders", get(orders));
        let mut app = match router_mode {
            "none" => app,
            "hit" | "miss" => app.route_layer(layer.with_scopes(["orders.read"])),
            other => panic!("unknown mode router-{other}"),
        }
        .with_state(());
        ok = measured(n, || {
            let req = Request::get("/orders")
                .header("authorization", &bearer)
                .body(Body::empty())
                .unwrap();
            now(app.call(req)).unwrap().status() == 200
        });
    } else {
        let mut svc = layer.layer(service_fn(|_: Request<()>| async {
            Ok::<_, Infallible>(Response::new(()))
        }));
        ok = measured(n, || {
            let req = Request::get("/")
                .header("authorization", &bearer)
                .body(())
                .unwrap();
            now(svc.call(req)).unwrap().status() == 200
        });
    }
    let per = start.elapsed().as_secs_f64() * 1e9 / n as f64;
    println!("{ok}/{n} passed, {per:.0} ns per request ({mode})");
    assert_eq!(ok, n, "every request should have passed");
}
