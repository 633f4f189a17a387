//! Breaking compact tokens on purpose: flipped signature bits, swapped payloads, stripped
//! signatures.
//!
//! These work on any string with dots in it; segments that do not decode are treated as empty
//! (for [`parts`], shown as lossy text) so that tests can tamper with already-broken tokens.
//!
//! ```
//! use portcullis_testkit::{tamper, Algorithm, TestKey, TokenBuilder};
//!
//! let token = TokenBuilder::new(&TestKey::generate(Algorithm::HS256)).sign();
//! let unsigned = tamper::strip_signature(&token);
//! assert!(unsigned.ends_with('.'));
//! assert_eq!(unsigned.matches('.').count(), 2);
//! ```

use crate::{b64url, b64url_decode};

/// Splits a token into its first three dot-separated segments (missing ones are empty).
fn segments(token: &str) -> (&str, &str, &str) {
    let mut it = token.splitn(3, '.');
    let header = it.next().unwrap_or("");
    let payload = it.next().unwrap_or("");
    let signature = it.next().unwrap_or("");
    (header, payload, signature)
}

/// The same token with one bit of its signature flipped (the lowest bit of the first byte).
/// An empty signature becomes a one-byte signature.
#[must_use]
pub fn flip_signature_bit(token: &str) -> String {
    let (header, payload, signature) = segments(token);
    let mut bytes = b64url_decode(signature).unwrap_or_default();
    match bytes.first_mut() {
        Some(first) => *first ^= 1,
        None => bytes.push(1),
    }
    format!("{header}.{payload}.{}", b64url(&bytes))
}

/// Keeps the header and signature, replaces the payload with `payload_json` (base64url-encoded
/// here). The result no longer verifies.
#[must_use]
pub fn swap_payload(token: &str, payload_json: &str) -> String {
    let (header, _, signature) = segments(token);
    format!("{header}.{}.{signature}", b64url(payload_json.as_bytes()))
}

/// The token without its signature: `header.payload.` (the shape of an `alg: none` JWS).
#[must_use]
pub fn strip_signature(token: &str) -> String {
    let (header, payload, _) = segments(token);
    format!("{header}.{payload}.")
}

/// Keeps the header and payload, replaces the signature with `sig`.
#[must_use]
pub fn with_signature(token: &str, sig: &[u8]) -> String {
    let (header, payload, _) = segments(token);
    format!("{header}.{payload}.{}", b64url(sig))
}

/// The decoded header JSON, the decoded payload JSON (both as text, lossy if not UTF-8, empty if
/// not base64url) and the raw base64url signature segment.
#[must_use]
pub fn parts(token: &str) -> (String, String, String) {
    let (header, payload, signature) = segments(token);
    let text = |segment: &str| {
        String::from_utf8_lossy(&b64url_decode(segment).unwrap_or_default()).into_owned()
    };
    (text(header), text(payload), signature.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "eyJhIjoxfQ.eyJiIjoyfQ.AAEC";

    #[test]
    fn parts_decode_header_and_payload() {
        let (h, p, s) = parts(TOKEN);
        assert_eq!(h, r#"{"a":1}"#);
        assert_eq!(p, r#"{"b":2}"#);
        assert_eq!(s, "AAEC");
    }

    #[test]
    fn flipping_changes_exactly_one_bit() {
        let flipped = flip_signature_bit(TOKEN);
        assert_eq!(flipped, "eyJhIjoxfQ.eyJiIjoyfQ.AQEC");
        assert_eq!(flip_signature_bit(&flipped), TOKEN);
    }

    #[test]
    fn swapping_and_replacing_keep_the_other_segments() {
        let swapped = swap_payload(TOKEN, r#"{"b":3}"#);
        assert_eq!(parts(&swapped).1, r#"{"b":3}"#);
        assert!(swapped.ends_with(".AAEC"));
        assert_eq!(strip_signature(TOKEN), "eyJhIjoxfQ.eyJiIjoyfQ.");
        assert_eq!(with_signature(TOKEN, &[0xff]), "eyJhIjoxfQ.eyJiIjoyfQ._w");
    }
}
