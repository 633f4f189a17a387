//! The JWK and JWKS parsers, with every algorithm allowed (the widest key parsing).
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_core::{AlgorithmSet, KeySet, VerifyingKey};

fuzz_target!(|data: &[u8]| {
    if let Ok(json) = std::str::from_utf8(data) {
        if let Ok(load) = KeySet::from_jwks(json, AlgorithmSet::ALL) {
            // A loaded set must answer lookups without panicking.
            for key in load.keys.iter() {
                let _ = load.keys.select(key.kid(), portcullis_core::Algorithm::ES256);
            }
        }
        let _ = VerifyingKey::from_jwk_json(json, AlgorithmSet::ALL);
        let _ = VerifyingKey::from_pem(json, AlgorithmSet::ALL);
    }
    let _ = VerifyingKey::from_spki_der(data, AlgorithmSet::ALL);
});
