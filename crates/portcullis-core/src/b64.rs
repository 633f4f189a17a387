//! Strict base64url without padding (RFC 7515 section 2): `=`, `+`, `/`, whitespace and
//! non-canonical trailing bits are all refused.
//!
//! A table-driven decoder: on the request path it decodes every token, and a table lookup per
//! character is cheaper than a general-purpose engine with configurable padding.

/// Marks a byte outside the base64url alphabet in the shifted tables: bits that no valid
/// character sets (a valid one fills bits 0..24 at most).
const INVALID: u32 = 0xff00_0000;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Each character's six bits, already shifted to their place in a group of four characters
/// (`shift` 18, 12, 6 or 0), or [`INVALID`].
const fn shifted(shift: u32) -> [u32; 256] {
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < 64 {
        // In bounds: `i < 64` and `ALPHABET` has 64 bytes; `i` fits u32.
        #[allow(clippy::indexing_slicing, clippy::cast_possible_truncation)]
        {
            table[ALPHABET[i] as usize] = (i as u32) << shift;
        }
        i += 1;
    }
    table
}

const AT_18: [u32; 256] = shifted(18);
const AT_12: [u32; 256] = shifted(12);
const AT_6: [u32; 256] = shifted(6);
const AT_0: [u32; 256] = shifted(0);

#[inline]
fn at(table: &[u32; 256], byte: u8) -> u32 {
    // In bounds: a u8 indexes a 256-entry table.
    #[allow(clippy::indexing_slicing)]
    table[usize::from(byte)]
}

/// Four characters' 24 bits, with [`INVALID`] bits set if any is outside the alphabet.
#[inline]
fn group(a: u8, b: u8, c: u8, d: u8) -> u32 {
    at(&AT_18, a) | at(&AT_12, b) | at(&AT_6, c) | at(&AT_0, d)
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
    let decoded = out.get_mut(start..).and_then(|dest| decode_to(input, dest));
    if decoded.is_none() {
        out.truncate(start);
    }
    decoded
}

/// Decodes strict base64url into `dest`, which must be exactly
/// [`decoded_len`]`(input.len())` bytes long. Returns `None` on any deviation (`dest` then
/// holds garbage).
pub(crate) fn decode_to(input: &[u8], dest: &mut [u8]) -> Option<()> {
    if decoded_len(input.len())? != dest.len() {
        return None;
    }
    // Every invalid character sets bits above the 24 a group fills; OR-ing the groups finds
    // any of them at once, at the end.
    let mut bad = 0u32;
    // Two groups at a time: eight characters give six bytes, written as one slice (the
    // compiler stores them in two moves instead of six).
    let mut src8 = input.chunks_exact(8);
    let mut dst6 = dest.chunks_exact_mut(6);
    for (s, d) in (&mut src8).zip(&mut dst6) {
        if let [a, b, c, e, f, g, h, i] = s {
            let first = group(*a, *b, *c, *e);
            let second = group(*f, *g, *h, *i);
            bad |= first | second;
            let both = (u64::from(first) << 24) | u64::from(second);
            let bytes = both.to_be_bytes();
            d.copy_from_slice(bytes.get(2..).unwrap_or_default());
        }
    }
    // At most one whole group is left, then the partial one.
    let mut src = src8.remainder().chunks_exact(4);
    let mut dst = dst6.into_remainder().chunks_exact_mut(3);
    for (s, d) in (&mut src).zip(&mut dst) {
        if let ([a, b, c, e], [x, y, z]) = (s, d) {
            let v = group(*a, *b, *c, *e);
            bad |= v;
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
            let v = at(&AT_18, *a) | at(&AT_12, *b);
            // The four low bits of the last character must be zero (canonical encoding):
            // they land in bits 12..16.
            bad |= v | ((v & 0x0000_f000) << 12);
            let [_, hi, _, _] = v.to_be_bytes();
            *x = hi;
        }
        ([a, b, c], [x, y]) => {
            let v = at(&AT_18, *a) | at(&AT_12, *b) | at(&AT_6, *c);
            // The two low bits of the last character land in bits 6..8.
            bad |= v | ((v & 0x0000_00c0) << 18);
            let [_, hi, mid, _] = v.to_be_bytes();
            *x = hi;
            *y = mid;
        }
        _ => return None,
    }
    if bad & INVALID != 0 {
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
            // Two or four bad characters in one group, and one in each group of eight: the
            // marks of bad characters must add up, never cancel out.
            "++AA",
            "+/+/",
            "A++A",
            "AQAB++AA",
            "++AAAQAB",
            "+AAA+AAA",
            "AAA+AAA+",
            "AQABAQAB+AAA+AAA",
            "==",
            "A==",
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
