//! Runs one validation many times, for `valgrind --tool=callgrind`:
//! `profile_validate ALG [N] [raw]`; with `raw`, the bare aws-lc-rs signature check of the
//! same token instead (key parsed once: the floor). The cost of one is the difference of two
//! runs over the difference of their `N`, or, without the setup (an RSA key's generation
//! varies from run to run), the count of one run under `--toggle-collect='*measured*'` over
//! `N`.
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::panic)]
use aws_lc_rs::signature::{self, ParsedPublicKey};
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

type Check = Box<dyn Fn(&[u8], &[u8]) -> bool>;

/// The bare signature check of `key`'s tokens.
fn raw_check(key: &TestKey) -> Check {
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
        other => panic!("no raw check for {other}"),
    };
    let parsed = ParsedPublicKey::new(alg, key.public_spki_der()).unwrap();
    Box::new(move |m, s| parsed.verify_sig(m, s).is_ok())
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
        let check = raw_check(&key);
        measured(n, || {
            check(
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
