//! Runs one validation many times, for `valgrind --tool=callgrind`:
//! `profile_validate ALG [N] [raw]`; with `raw`, the bare aws-lc-rs signature check of the
//! same token instead (key parsed once: the floor). The cost of one is the difference of two
//! runs over the difference of their `N`, or, without the setup (an RSA key's generation
//! varies from run to run), the count of one run under `--toggle-collect='*measured*'` over
//! `N`.
#![allow(clippy::unwrap_used, clippy::print_stdout)]
use base64::Engine as _;
use portcullis_core::{Algorithm, AlgorithmSet, KeySet, Validator, VerifyingKey};
use portcullis_testkit::{TestKey, TokenBuilder};

/// Runs `one` `n` times; how many returned `true`. Only this is measured with
/// `valgrind --tool=callgrind --toggle-collect='*measured*'` (not the key generation, whose
/// cost varies from run to run).
#[inline(never)]
fn measured(n: usize, mut one: impl FnMut() -> bool) -> usize {
    (0..n).filter(|_| one()).count()
}

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
    let raw = std::env::args().nth(3).as_deref() == Some("raw");
    let start = std::time::Instant::now();
    let ok = if raw {
        let (signing_input, signature) = token.rsplit_once('.').unwrap();
        let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(signature)
            .unwrap();
        let check = key.raw_verifier();
        measured(n, || {
            check.verify(
                std::hint::black_box(signing_input.as_bytes()),
                std::hint::black_box(&signature),
            )
        })
    } else {
        measured(n, || {
            std::hint::black_box(v.validate(std::hint::black_box(&token), &keys)).is_ok()
        })
    };
    let per = start.elapsed().as_nanos() as f64 / n as f64;
    println!(
        "{ok} of {n}, token {} bytes, {per:.0} ns per validation",
        token.len()
    );
    assert_eq!(ok, n, "every token should have verified");
}
