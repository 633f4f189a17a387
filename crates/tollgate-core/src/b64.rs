//! Strict base64url without padding (RFC 7515 section 2): `=`, `+`, `/`, whitespace and
//! non-canonical trailing bits are all refused.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

pub(crate) const STRICT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(false),
);

/// Decodes strict base64url, appending to `out`. Returns `None` on any deviation.
pub(crate) fn decode_into(input: &[u8], out: &mut Vec<u8>) -> Option<()> {
    STRICT.decode_vec(input, out).ok()
}

/// Decodes strict base64url into a new vector.
pub(crate) fn decode(input: &str) -> Option<Vec<u8>> {
    STRICT.decode(input).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_strict_unpadded_base64url_decodes() {
        assert_eq!(decode("AQAB"), Some(vec![1, 0, 1]));
        assert_eq!(decode("_-8"), Some(vec![0xff, 0xef]));
        for bad in ["AQAB=", "AQ==", "+/8", "AQ AB", "AQAB\n", "AR", "A"] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
    }
}
