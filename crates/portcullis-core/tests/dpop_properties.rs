// Tests may unwrap, index and panic: a failure is the test's report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! A property of DPoP verification: from a (token, proof, method, URI) that is accepted,
//! changing any one part (a byte of the token, a byte of the proof, the method, the path)
//! never yields acceptance. The replay store here accepts every proof, so that what refuses is
//! a check without state, never "already used".

use std::time::Duration;

use portcullis_core::dpop::{Dpop, DpopVerifier, FirstUse, ReplayKey, ReplayStore};
use portcullis_core::{
    Algorithm, AlgorithmSet, KeySet, ManualClock, Presentation, Scheme, Validator, Verdict,
    Verifier, VerifyingKey,
};
use portcullis_testkit::{DpopClient, TestKey, TokenBuilder};
use proptest::prelude::*;

const NOW: i64 = 1_800_000_000;
const ORIGIN: &str = "https://api.example.test";

/// Remembers nothing.
struct Forgetful;

impl ReplayStore for Forgetful {
    fn first_use(&self, _: &ReplayKey, _: Duration) -> FirstUse {
        FirstUse::Ready(Ok(true))
    }
}

/// Tokens checked by a validator against fixed keys.
struct Tokens {
    validator: Validator,
    keys: KeySet,
}

impl Verifier for Tokens {
    fn verify(&self, presentation: &Presentation<'_>) -> Verdict {
        Verdict::Ready(
            self.validator
                .validate_presentation(presentation, &self.keys),
        )
    }
}

struct Case {
    verifier: DpopVerifier<Tokens>,
    token: String,
    proof: String,
}

fn case(token_alg: Algorithm, proof_alg: Algorithm) -> Case {
    let clock = ManualClock::at(NOW);
    let issuer = TestKey::generate(token_alg).with_kid("k");
    let key =
        VerifyingKey::from_jwk_json(&issuer.public_jwk().to_string(), AlgorithmSet::ALL).unwrap();
    let validator = Validator::builder()
        .issuer("https://issuer.test")
        .audience("api")
        .clock(clock.clone())
        .build()
        .unwrap();
    let dpop = Dpop::builder()
        .clock(clock)
        .replay_store(Forgetful)
        .build()
        .unwrap();
    let client = DpopClient::new(proof_alg);
    let token = client.bind(TokenBuilder::new(&issuer).now(NOW)).sign();
    let proof = client
        .proof("GET", &format!("{ORIGIN}/orders"))
        .token(&token)
        .issued_at(NOW)
        .sign();
    let verifier = DpopVerifier::new(
        Tokens {
            validator,
            keys: KeySet::new(vec![key]),
        },
        dpop,
    );
    Case {
        verifier,
        token,
        proof,
    }
}

fn accepted(case: &Case, token: &str, proof: &str, method: &str, path: &str) -> bool {
    let presentation = Presentation::new(Scheme::DPoP, token)
        .with_request(method, path)
        .with_origin(ORIGIN)
        .with_dpop_proof(proof);
    match case.verifier.verify(&presentation) {
        Verdict::Ready(result) => result.is_ok(),
        Verdict::Pending(_) => panic!("nothing here waits"),
    }
}

/// A case built once per algorithm pair (key generation is slow).
type Built = ((Algorithm, Algorithm), std::rc::Rc<Case>);

/// `text` with the byte at `index` replaced by `byte` (another printable ASCII byte).
fn mutate(text: &str, index: usize, byte: u8) -> Option<String> {
    let mut bytes = text.as_bytes().to_vec();
    let i = index % bytes.len();
    if bytes[i] == byte {
        return None;
    }
    bytes[i] = byte;
    String::from_utf8(bytes).ok()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn changing_any_part_of_an_accepted_request_never_passes(
        pair in prop::sample::select(vec![
            (Algorithm::ES256, Algorithm::ES256),
            (Algorithm::RS256, Algorithm::EdDSA),
        ]),
        part in 0..4usize,
        index in any::<usize>(),
        byte in 0x21u8..0x7f,
        method in prop::sample::select(vec!["POST", "PUT", "DELETE", "HEAD", "get", "PATCH", "GETX"]),
        path in "/[a-z0-9]{1,12}",
    ) {
        thread_local! {
            static CASES: std::cell::RefCell<Vec<Built>> =
                const { std::cell::RefCell::new(Vec::new()) };
        }
        let case = CASES.with(|cases| {
            let mut cases = cases.borrow_mut();
            if let Some((_, c)) = cases.iter().find(|(p, _)| *p == pair) {
                return c.clone();
            }
            let c = std::rc::Rc::new(case(pair.0, pair.1));
            cases.push((pair, c.clone()));
            c
        });
        prop_assert!(accepted(&case, &case.token, &case.proof, "GET", "/orders"));
        match part {
            0 => {
                if let Some(token) = mutate(&case.token, index, byte) {
                    prop_assert!(!accepted(&case, &token, &case.proof, "GET", "/orders"));
                }
            }
            1 => {
                if let Some(proof) = mutate(&case.proof, index, byte) {
                    prop_assert!(!accepted(&case, &case.token, &proof, "GET", "/orders"));
                }
            }
            2 => prop_assert!(!accepted(&case, &case.token, &case.proof, method, "/orders")),
            _ => {
                if path != "/orders" {
                    prop_assert!(!accepted(&case, &case.token, &case.proof, "GET", &path));
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Whatever the bytes, the proof checks answer with a typed refusal, never a panic (the
    /// fuzz target `dpop_proof` explores further).
    #[test]
    fn any_text_is_refused_without_a_panic(
        proof in prop_oneof![
            ".{0,300}",
            "[A-Za-z0-9_-]{0,80}\\.[A-Za-z0-9_-]{0,200}\\.[A-Za-z0-9_-]{0,90}",
            "eyJ[A-Za-z0-9_-]{0,80}\\.eyJ[A-Za-z0-9_-]{0,200}\\.[A-Za-z0-9_-]{86}",
        ],
        path in ".{0,40}",
    ) {
        let seed = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fuzz/seeds/dpop_proof/es256"
        ))
        .unwrap();
        let genuine = seed.splitn(4, '\n').nth(3).unwrap();
        // The seed is accepted by the stateless checks; random text never is.
        prop_assert!(
            portcullis_core::internal::check_dpop_proof(genuine, "a.b.c", "GET", "/orders", 1.8e9)
                .is_ok()
        );
        prop_assert!(
            portcullis_core::internal::check_dpop_proof(&proof, "a.b.c", "GET", &path, 1.8e9)
                .is_err()
        );
    }
}
