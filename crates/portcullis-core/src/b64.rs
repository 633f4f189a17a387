//! Strict base64url without padding (RFC 7515 section 2): `=`, `+`, `/`, whitespace and
//! non-canonical trailing bits are all refused.
//!
//! A table-driven decoder: on the request path it decodes every token, and a table lookup per
//! character is cheaper than a general-purpose engine with configurable padding.

/// Marks a byte outside the base64url alphabet; any value with the top bits set works.
const INVALID: u8 = 0xff;

const TABLE: [u8; 256] = {
    let mut table = [INVALID; 256];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut i = 0;
    while i < 64 {
        // In bounds: `i < 64` and `alphabet` has 64 bytes; values fit u8.
        #[allow(clippy::indexing_slicing, clippy::cast_possible_truncation)]
        {
            table[alphabet[i] as usize] = i as u8;
        }
        i += 1;
    }
    table
};

#[inline]
fn sextet(byte: u8) -> u32 {
    // In bounds: a u8 indexes a 256-entry table.
    #[allow(clippy::indexing_slicing)]
    u32::from(TABLE[usize::from(byte)])
}

/// The decoded length of `len` base64url characters, or `None` for an impossible length.
pub(crate) fn decoded_len(len: usize) -> Option<usize> {
    match len % 4 {
        0 => Some(len / 4 * 3),
        2 => Some(len / 4 * 3 + 1),
        3 => Some(len / 4 * 3 + 2),
        _ => None,
    }
}

/// Decodes strict base64url, appending to `out`. Returns `None` on any deviation.
pub(crate) fn decode_into(input: &[u8], out: &mut Vec<u8>) -> Option<()> {
    let start = out.len();
    let len = decoded_len(input.len())?;
    out.resize(start + len, 0);
    let dest = out.get_mut(start..)?;
    // Every invalid character maps to 0xff; OR-ing the lookups finds any of them at once.
    let mut bad = 0u64;
    // Eight characters make six bytes: the bulk goes through a u64.
    let wide = input.len() / 8;
    let (head_in, tail_in) = input.split_at_checked(wide * 8)?;
    let (head_out, tail_out) = dest.split_at_mut_checked(wide * 6)?;
    for (s, d) in head_in.chunks_exact(8).zip(head_out.chunks_exact_mut(6)) {
        let mut acc = 0u64;
        for &c in s {
            let v = u64::from(sextet(c));
            bad |= v;
            acc = (acc << 6) | v;
        }
        let bytes = (acc << 16).to_be_bytes();
        d.copy_from_slice(bytes.get(..6)?);
    }
    let mut bad = u32::from(bad & !0x3f != 0) << 8;
    let mut src = tail_in.chunks_exact(4);
    let mut dst = tail_out.chunks_exact_mut(3);
    for (s, d) in (&mut src).zip(&mut dst) {
        if let ([a, b, c, e], [x, y, z]) = (s, d) {
            let (a, b, c, e) = (sextet(*a), sextet(*b), sextet(*c), sextet(*e));
            bad |= a | b | c | e;
            let v = (a << 18) | (b << 12) | (c << 6) | e;
            let [_, hi, mid, lo] = v.to_be_bytes();
            *x = hi;
            *y = mid;
            *z = lo;
        }
    }
    let tail_out = dst.into_remainder();
    match (src.remainder(), tail_out) {
        ([], []) => {}
        ([a, b], [x]) => {
            let (a, b) = (sextet(*a), sextet(*b));
            bad |= a | b;
            // The four low bits of the last character must be zero (canonical encoding).
            bad |= (b & 0x0f) << 8;
            let [_, _, _, hi] = ((a << 2) | (b >> 4)).to_be_bytes();
            *x = hi;
        }
        ([a, b, c], [x, y]) => {
            let (a, b, c) = (sextet(*a), sextet(*b), sextet(*c));
            bad |= a | b | c;
            bad |= (c & 0x03) << 8;
            let v = (a << 10) | (b << 4) | (c >> 2);
            let [_, _, hi, lo] = v.to_be_bytes();
            *x = hi;
            *y = lo;
        }
        _ => return None,
    }
    if bad & !0x3f != 0 {
        out.truncate(start);
        return None;
    }
    Some(())
}

/// Decodes strict base64url into a new vector.
pub(crate) fn decode(input: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    decode_into(input.as_bytes(), &mut out)?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    #[test]
    fn only_strict_unpadded_base64url_decodes() {
        assert_eq!(decode("AQAB"), Some(vec![1, 0, 1]));
        assert_eq!(decode("_-8"), Some(vec![0xff, 0xef]));
        assert_eq!(decode(""), Some(vec![]));
        for bad in [
            "AQAB=",
            "AQ==",
            "+/8",
            "AQ AB",
            "AQAB\n",
            "AR",
            "A",
            "AQB",
            "é",
            "AQA\0",
            "AQABAQA=",
            "AQABAQ+B",
            "AQABAQABAQAB AQABAQAB",
            "AQABAQABAQABAQABAQ=B",
        ] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn agrees_with_the_base64_crate_on_every_short_input() {
        // Exhaustive over all strings of up to 3 characters drawn from a mixed alphabet, and
        // every byte string of length 0..=40 from a fixed pattern.
        let reference = base64::engine::GeneralPurpose::new(
            &base64::alphabet::URL_SAFE,
            base64::engine::GeneralPurposeConfig::new()
                .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireNone)
                .with_decode_allow_trailing_bits(false),
        );
        let chars = b"AQgw_-9Z=+/ .";
        let mut inputs = vec![String::new()];
        for len in 1..=3 {
            let mut next = Vec::new();
            for prefix in inputs.iter().filter(|s| s.len() == len - 1) {
                for &c in chars {
                    next.push(format!("{prefix}{}", c as char));
                }
            }
            inputs.extend(next);
        }
        for len in 0..=80usize {
            let bytes: Vec<u8> = (0..len)
                .map(|i| u8::try_from((i * 37 + 11) % 256).unwrap())
                .collect();
            inputs.push(reference.encode(&bytes));
        }
        for input in inputs {
            assert_eq!(decode(&input), reference.decode(&input).ok(), "{input:?}");
        }
    }
}
