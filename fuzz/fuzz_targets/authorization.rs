//! Credential extraction: the first line is the request URI, every other line a
//! `name: value` header (Authorization, Cookie, x-token and the like).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut lines = data.split(|b| *b == b'\n');
    let uri = lines.next().unwrap_or_default();
    let headers: Vec<(&[u8], &[u8])> = lines
        .filter_map(|line| {
            let colon = line.iter().position(|b| *b == b':')?;
            let (name, value) = line.split_at(colon);
            let value = value.get(1..)?;
            Some((name, value.strip_prefix(b" ").unwrap_or(value)))
        })
        .collect();
    let _ = portcullis_tower::internal::find_token_in(&headers, uri);
});
