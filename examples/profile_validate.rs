//! Runs one validation many times, for `valgrind --tool=callgrind`.
#![allow(clippy::unwrap_used, clippy::print_stdout)]
use portcullis_core::{Algorithm, AlgorithmSet, KeySet, Validator, VerifyingKey};
use portcullis_testkit::{TestKey, TokenBuilder};

fn main() {
    let alg: Algorithm = std::env::args()
        .nth(1)
        .unwrap_or("HS256".into())
        .parse()
        .unwrap();
    let n: usize = std::env::args()
        .nth(2)
        .map_or(10_000, |s| s.parse().unwrap());
    let key = TestKey::generate(alg).with_kid("bench-key");
    let token = TokenBuilder::new(&key)
        .issuer("https://issuer.example")
        .audience("api")
        .expires_in(86400)
        .sign();
    let keys = KeySet::new(vec![match key.secret() {
        Some(s) => VerifyingKey::hmac(alg, s).unwrap().with_kid("bench-key"),
        None => {
            VerifyingKey::from_jwk_json(&key.public_jwk().to_string(), AlgorithmSet::ALL).unwrap()
        }
    }]);
    let v = Validator::builder()
        .issuer("https://issuer.example")
        .audience("api")
        .algorithms([alg])
        .build()
        .unwrap();
    let mut ok = 0;
    let start = std::time::Instant::now();
    for _ in 0..n {
        ok += usize::from(
            std::hint::black_box(v.validate(std::hint::black_box(&token), &keys)).is_ok(),
        );
    }
    let per = start.elapsed().as_nanos() as f64 / n as f64;
    println!(
        "{ok} of {n}, token {} bytes, {per:.0} ns per validation",
        token.len()
    );
}
