//! The whole validation against a fixed key set: the RFC 7515 A.1 HMAC key, the A.3 P-256
//! key and the RFC 8037 Ed25519 key; a fixed clock, every algorithm allowed. Seeds are the
//! RFC examples, so mutations start from tokens that verify.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use portcullis_core::{
    Algorithm, AlgorithmSet, KeySet, ManualClock, TypPolicy, Validator, VerifyingKey,
};

struct Fixture {
    keys: KeySet,
    validator: Validator,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let hmac = VerifyingKey::from_jwk_json(
        include_str!("../../crates/portcullis-core/tests/fixtures/rfc7515_a1.jwk.json"),
        AlgorithmSet::ALL,
    )
    .expect("the RFC 7515 A.1 key");
    let p256 = VerifyingKey::from_jwk_json(
        include_str!("../../crates/portcullis-core/tests/fixtures/rfc7515_a3.jwk.json"),
        AlgorithmSet::ALL,
    )
    .expect("the RFC 7515 A.3 key");
    let ed = VerifyingKey::from_jwk_json(
        include_str!("../../crates/portcullis-core/tests/fixtures/rfc8037_a4.jwk.json"),
        AlgorithmSet::ALL,
    )
    .expect("the RFC 8037 key");
    Fixture {
        keys: KeySet::new(vec![hmac, p256, ed]),
        validator: Validator::builder()
            .issuer("joe")
            .danger_accept_any_audience()
            .algorithms(Algorithm::ALL)
            .typ(TypPolicy::DangerIgnore)
            .clock(ManualClock::at(1_300_819_000))
            .build()
            .expect("a valid configuration"),
    }
});

fuzz_target!(|data: &[u8]| {
    if let Ok(token) = std::str::from_utf8(data) {
        let f = &*FIXTURE;
        if let Ok(claims) = f.validator.validate(token, &f.keys) {
            // Whatever verified must be readable.
            let _ = claims.scopes();
            let _ = claims.get("iss");
        }
    }
});
