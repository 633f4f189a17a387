//! One request through the layer, many times, for `valgrind --tool=callgrind`:
//! `profile_layer [hit|miss] [N]` (`hit`: the same token, cache on; `miss`: cache off).
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::panic)]

use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use http::{Request, Response};
use portcullis_core::{Algorithm, KeySet, Validator, VerifyingKey};
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

fn main() {
    let hit = std::env::args().nth(1).as_deref() != Some("miss");
    let n: usize = std::env::args()
        .nth(2)
        .map_or(100_000, |s| s.parse().unwrap());
    let key = TestKey::generate(Algorithm::HS256).with_kid("k");
    let token = TokenBuilder::new(&key)
        .issuer("https://issuer.example")
        .audience("api")
        .expires_in(86400)
        .sign();
    let bearer = format!("Bearer {token}");
    let keys = StaticKeys::new(KeySet::new(vec![
        VerifyingKey::hmac(Algorithm::HS256, key.secret().unwrap())
            .unwrap()
            .with_kid("k"),
    ]));
    let rules = Validator::builder()
        .issuer("https://issuer.example")
        .audience("api")
        .algorithms([Algorithm::HS256])
        .build()
        .unwrap();
    let cache = hit.then(TokenCache::default);
    let layer = BearerAuthLayer::new(JwtVerifier::new(keys, rules).with_cache(cache));
    let mut svc = layer.layer(service_fn(|_: Request<()>| async {
        Ok::<_, Infallible>(Response::new(()))
    }));
    let start = std::time::Instant::now();
    let mut ok = 0;
    for _ in 0..n {
        let req = Request::get("/")
            .header("authorization", &bearer)
            .body(())
            .unwrap();
        ok += usize::from(now(svc.call(req)).unwrap().status() == 200);
    }
    let per = start.elapsed().as_secs_f64() * 1e9 / n as f64;
    println!(
        "{ok}/{n} passed, {per:.0} ns per request ({})",
        if hit { "cache hit" } else { "cache off" }
    );
}
