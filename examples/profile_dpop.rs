//! DPoP requests through the layer, for `valgrind --tool=callgrind --toggle-collect=*measured*`:
//! `profile_dpop [N] [hit|miss] [EdDSA|ES256|RS256]`: N requests with a new proof each (signed
//! before the measured part) and a repeated token, the verified-token cache on (`hit`) or off
//! (`miss`: every token verified in full, as a new one is). The proofs use ES256 for an RS256
//! token, else the token's algorithm.
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::panic)]

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use http::{Request, Response};
use portcullis_core::dpop::Dpop;
use portcullis_core::{Algorithm, AlgorithmSet, KeySet, Validator, VerifyingKey};
use portcullis_jwks::{JwtVerifier, StaticKeys, TokenCache};
use portcullis_testkit::{DpopClient, TestKey, TokenBuilder};
use portcullis_tower::BearerAuthLayer;
use tower::{Layer, Service, service_fn};

fn now<F: Future>(f: F) -> F::Output {
    match pin!(f).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("not ready"),
    }
}

#[inline(never)]
fn measured<S>(svc: &mut S, requests: Vec<Request<()>>) -> usize
where
    S: Service<Request<()>, Response = Response<()>, Error = Infallible>,
{
    let mut ok = 0;
    for req in requests {
        let res = now(svc.call(req)).unwrap();
        ok += usize::from(res.status() == 200);
    }
    black_box(ok)
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(1_000, |s| s.parse().unwrap());
    let hit = std::env::args().nth(2).as_deref() != Some("miss");
    let alg = match std::env::args().nth(3).as_deref() {
        Some("ES256") => Algorithm::ES256,
        Some("RS256") => Algorithm::RS256,
        _ => Algorithm::EdDSA,
    };
    let issuer = TestKey::generate(alg).with_kid("k");
    let client = DpopClient::new(if alg == Algorithm::RS256 {
        Algorithm::ES256
    } else {
        alg
    });
    let token = client
        .bind(
            TokenBuilder::new(&issuer)
                .issuer("https://issuer.example")
                .audience("api")
                .expires_in(86400),
        )
        .sign();
    let keys = StaticKeys::new(KeySet::new(vec![
        VerifyingKey::from_jwk_json(&issuer.public_jwk().to_string(), AlgorithmSet::ALL).unwrap(),
    ]));
    let validator = Validator::builder()
        .issuer("https://issuer.example")
        .audience("api")
        .build()
        .unwrap();
    let inner = service_fn(|_req: Request<()>| async { Ok::<_, Infallible>(Response::new(())) });
    let mut svc = BearerAuthLayer::new(
        JwtVerifier::new(keys, validator).with_cache(hit.then(TokenCache::default)),
    )
    .public_origin("https://api.example.test")
    .dpop(Dpop::builder().build().unwrap())
    .layer(inner);
    let request = |proof: String| {
        Request::get("/orders")
            .header("authorization", format!("DPoP {token}"))
            .header("dpop", proof)
            .body(())
            .unwrap()
    };
    let proof = || {
        client
            .proof("GET", "https://api.example.test/orders")
            .token(&token)
            .sign()
    };
    // The first request fills the caches (token, proof key).
    assert_eq!(measured(&mut svc, vec![request(proof())]), 1);
    let requests: Vec<_> = (0..n).map(|_| request(proof())).collect();
    let ok = measured(&mut svc, requests);
    assert_eq!(ok, n);
    println!("{ok} DPoP requests");
}
