//! The client-certificate headers of TLS-terminating proxies: the input is one header value,
//! read as RFC 9440 `Client-Cert`, nginx's escaped PEM and Envoy's XFCC.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = portcullis_tower::internal::certificate_headers_in(data);
});
