//! A DPoP proof's checks without state: the first line is the method, the second the path,
//! the third the access token, the rest the proof (also read as a nonce and as a URI).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.splitn(4, '\n');
    let method = lines.next().unwrap_or_default();
    let path = lines.next().unwrap_or_default();
    let token = lines.next().unwrap_or_default();
    let proof = lines.next().unwrap_or_default();
    let _ = portcullis_core::internal::check_dpop_proof(proof, token, method, path, 1.8e9);
});
