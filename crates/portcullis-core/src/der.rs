//! Just enough DER to read a SubjectPublicKeyInfo and to write a PKCS#1 RSAPublicKey.
//! Every read is bounds-checked and returns `None` on malformed input.

pub(crate) const TAG_INTEGER: u8 = 0x02;
pub(crate) const TAG_BIT_STRING: u8 = 0x03;
pub(crate) const TAG_NULL: u8 = 0x05;
pub(crate) const TAG_OID: u8 = 0x06;
pub(crate) const TAG_SEQUENCE: u8 = 0x30;

/// A cursor over DER bytes.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// Reads one TLV and returns its tag and contents. Only definite, minimal lengths
    /// of up to four bytes are accepted.
    pub(crate) fn read_any(&mut self) -> Option<(u8, &'a [u8])> {
        let (&tag, rest) = self.rest.split_first()?;
        let (&first, mut rest) = rest.split_first()?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 {
                return None;
            }
            let (len_bytes, after) = rest.split_at_checked(n)?;
            rest = after;
            let mut len = 0usize;
            for &b in len_bytes {
                len = (len << 8) | usize::from(b);
            }
            // DER: long form only when needed, no leading zero byte.
            if len < 0x80 || len_bytes.first() == Some(&0) {
                return None;
            }
            len
        };
        let (contents, after) = rest.split_at_checked(len)?;
        self.rest = after;
        Some((tag, contents))
    }

    pub(crate) fn read(&mut self, tag: u8) -> Option<&'a [u8]> {
        match self.read_any()? {
            (t, contents) if t == tag => Some(contents),
            _ => None,
        }
    }
}

/// The parts of a SubjectPublicKeyInfo that decide which key it is.
pub(crate) struct Spki<'a> {
    pub(crate) algorithm: &'a [u8],
    /// The curve OID for EC keys.
    pub(crate) parameter: Option<&'a [u8]>,
    /// The contents of the BIT STRING, without its unused-bits byte.
    pub(crate) key: &'a [u8],
}

pub(crate) fn parse_spki(der: &[u8]) -> Option<Spki<'_>> {
    let mut outer = Reader::new(der);
    let spki = outer.read(TAG_SEQUENCE)?;
    if !outer.is_empty() {
        return None;
    }
    let mut spki = Reader::new(spki);
    let mut alg_id = Reader::new(spki.read(TAG_SEQUENCE)?);
    let bits = spki.read(TAG_BIT_STRING)?;
    if !spki.is_empty() {
        return None;
    }
    let algorithm = alg_id.read(TAG_OID)?;
    let parameter = match alg_id.read_any() {
        None => None,
        Some((TAG_OID, oid)) => Some(oid),
        Some((TAG_NULL, [])) => None,
        Some(_) => return None,
    };
    if !alg_id.is_empty() {
        return None;
    }
    let (&unused, key) = bits.split_first()?;
    if unused != 0 {
        return None;
    }
    Some(Spki {
        algorithm,
        parameter,
        key,
    })
}

/// Reads a PKCS#1 RSAPublicKey and returns the modulus and the exponent, each without
/// leading zeros.
pub(crate) fn rsa_parts(pkcs1: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut outer = Reader::new(pkcs1);
    let mut seq = Reader::new(outer.read(TAG_SEQUENCE)?);
    let n = seq.read(TAG_INTEGER)?;
    let e = seq.read(TAG_INTEGER)?;
    if !seq.is_empty() || !outer.is_empty() {
        return None;
    }
    Some((strip_leading_zeros(n), strip_leading_zeros(e)))
}

pub(crate) fn strip_leading_zeros(mut bytes: &[u8]) -> &[u8] {
    while let [0, rest @ ..] = bytes {
        bytes = rest;
    }
    bytes
}

/// The number of significant bits of a big-endian unsigned integer.
pub(crate) fn bit_len(bytes: &[u8]) -> usize {
    let bytes = strip_leading_zeros(bytes);
    match bytes.first() {
        None => 0,
        Some(&b) => (bytes.len() - 1) * 8 + (8 - b.leading_zeros() as usize),
    }
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    if let Ok(short) = u8::try_from(len)
        && short < 0x80
    {
        out.push(short);
    } else {
        let be = len.to_be_bytes();
        let skip = be.iter().take_while(|&&b| b == 0).count();
        let significant = be.get(skip..).unwrap_or(&[]);
        // At most size_of::<usize>() bytes, so the count fits in the low seven bits.
        let count = u8::try_from(significant.len()).unwrap_or(0x7f);
        out.push(0x80 | count);
        out.extend_from_slice(significant);
    }
}

fn push_unsigned_integer(out: &mut Vec<u8>, value: &[u8]) {
    let value = strip_leading_zeros(value);
    let pad = value.first().is_none_or(|&b| b & 0x80 != 0);
    out.push(TAG_INTEGER);
    push_len(out, value.len() + usize::from(pad));
    if pad {
        out.push(0);
    }
    out.extend_from_slice(value);
}

/// Encodes a PKCS#1 RSAPublicKey from big-endian modulus and exponent.
pub(crate) fn rsa_public_key_pkcs1(n: &[u8], e: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(n.len() + e.len() + 16);
    push_unsigned_integer(&mut body, n);
    push_unsigned_integer(&mut body, e);
    let mut out = Vec::with_capacity(body.len() + 8);
    out.push(TAG_SEQUENCE);
    push_len(&mut out, body.len());
    out.extend_from_slice(&body);
    out
}

pub(crate) const OID_RSA_ENCRYPTION: &[u8] =
    &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
pub(crate) const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
pub(crate) const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
pub(crate) const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
pub(crate) const OID_P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];
pub(crate) const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkcs1_round_trips_through_the_reader() {
        let n = [0x80u8; 256];
        let der = rsa_public_key_pkcs1(&n, &[1, 0, 1]);
        assert_eq!(rsa_parts(&der), Some((&n[..], &[1u8, 0, 1][..])));
        assert_eq!(bit_len(&n), 2048);
        assert_eq!(bit_len(&[0, 0, 1]), 1);
    }

    #[test]
    fn truncated_and_non_minimal_lengths_are_refused() {
        assert!(Reader::new(&[0x30, 0x05, 0x00]).read_any().is_none());
        assert!(
            Reader::new(&[0x30, 0x81, 0x05, 0, 0, 0, 0, 0])
                .read_any()
                .is_none()
        );
        assert!(Reader::new(&[0x30, 0x80]).read_any().is_none());
        assert!(Reader::new(&[0x30]).read_any().is_none());
        assert!(parse_spki(&[]).is_none());
    }
}
