//! The compact-JWS parser (size, segments, base64url, header, payload JSON) on any input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(token) = std::str::from_utf8(data) {
        let _ = portcullis_core::internal::parse_token(token, 8 * 1024);
    }
});
