//! Compact JWS parsing (RFC 7515 section 7.1): size cap, three segments, strict base64url,
//! a JSON-object header without duplicate members.

use std::borrow::Cow;
use std::fmt;

use crate::b64;
use crate::error::{ErrorKind, MalformedPart};
use crate::scan::{Reader, ScanError, StrOrList};

/// The default cap on the token length: 8 KiB.
pub const DEFAULT_MAX_TOKEN_LEN: usize = 8 * 1024;

/// A compact JWS cut into its segments, each decoded, before anything is verified.
pub(crate) struct Decoded<'t> {
    /// `BASE64URL(header) || '.' || BASE64URL(payload)`, the bytes that were signed.
    pub(crate) signing_input: &'t [u8],
    /// header ‖ signature, decoded, in one allocation.
    buf: Vec<u8>,
    header_end: usize,
    /// The payload, decoded.
    payload: Vec<u8>,
}

impl Decoded<'_> {
    pub(crate) fn header(&self) -> &[u8] {
        self.buf.get(..self.header_end).unwrap_or_default()
    }
    pub(crate) fn payload(&self) -> &[u8] {
        &self.payload
    }
    pub(crate) fn signature(&self) -> &[u8] {
        self.buf.get(self.header_end..).unwrap_or_default()
    }
}

/// A compact JWS cut into its three segments, still encoded, shape checked.
pub(crate) struct Segments<'t> {
    /// `BASE64URL(header) || '.' || BASE64URL(payload)`, the bytes that were signed.
    pub(crate) signing_input: &'t [u8],
    pub(crate) header: &'t [u8],
    pub(crate) payload: &'t [u8],
    pub(crate) signature: &'t [u8],
}

impl Segments<'_> {
    /// The payload, decoded. A payload that does not decode because it holds a `.` means four
    /// or more segments (a JWE has five): [`MalformedPart::Segments`], as if `split` had
    /// counted them.
    pub(crate) fn decode_payload(&self) -> Result<Vec<u8>, ErrorKind> {
        decode_segment(self.payload).map_err(|e| {
            if self.payload.contains(&b'.') {
                ErrorKind::Malformed(MalformedPart::Segments)
            } else {
                e
            }
        })
    }
}

/// Checks the size and shape of a compact JWS: three non-empty segments (a fourth is found
/// when the payload is decoded, [`Segments::decode_payload`]).
pub(crate) fn split(token: &str, max_len: usize) -> Result<Segments<'_>, ErrorKind> {
    if token.is_empty() {
        return Err(ErrorKind::Malformed(MalformedPart::Empty));
    }
    if token.len() > max_len {
        return Err(ErrorKind::TooLarge { limit: max_len });
    }
    // `split_once` searches a byte at a time only at the ends; the middle is word-at-a-time.
    let malformed_segments = || ErrorKind::Malformed(MalformedPart::Segments);
    let (signing_input, signature_b64) = token.rsplit_once('.').ok_or_else(malformed_segments)?;
    // A fourth segment would leave a `.` in the payload: base64url has no `.`, so decoding
    // the payload finds it ([`Segments::decode_payload`]) without a scan of its own here.
    let (header_b64, payload_b64) = signing_input
        .split_once('.')
        .ok_or_else(malformed_segments)?;
    let (header_b64, payload_b64, signature_b64, signing_input) = (
        header_b64.as_bytes(),
        payload_b64.as_bytes(),
        signature_b64.as_bytes(),
        signing_input.as_bytes(),
    );
    if header_b64.is_empty() || payload_b64.is_empty() {
        return Err(ErrorKind::Malformed(MalformedPart::Segments));
    }
    if signature_b64.is_empty() {
        // `h.p..` has four segments, the last empty: named as four, not as a missing signature.
        return Err(ErrorKind::Malformed(if payload_b64.contains(&b'.') {
            MalformedPart::Segments
        } else {
            MalformedPart::Signature
        }));
    }
    Ok(Segments {
        signing_input,
        header: header_b64,
        payload: payload_b64,
        signature: signature_b64,
    })
}

/// A segment decoded, in an allocation of its exact size (the validator's payload becomes
/// the claims' JSON text without a copy).
pub(crate) fn decode_segment(segment: &[u8]) -> Result<Vec<u8>, ErrorKind> {
    let bad_b64 = || ErrorKind::Malformed(MalformedPart::Base64);
    let len = b64::decoded_len(segment.len()).ok_or_else(bad_b64)?;
    let mut out = Vec::with_capacity(len);
    b64::decode_into(segment, &mut out).ok_or_else(bad_b64)?;
    Ok(out)
}

/// Checks the size and shape of a compact JWS and decodes its three segments.
pub(crate) fn decode(token: &str, max_len: usize) -> Result<Decoded<'_>, ErrorKind> {
    let segments = split(token, max_len)?;
    let payload = segments.decode_payload()?;
    let Segments {
        signing_input,
        header: header_b64,
        signature: signature_b64,
        ..
    } = segments;
    let bad_b64 = || ErrorKind::Malformed(MalformedPart::Base64);
    let mut buf = Vec::with_capacity((header_b64.len() + signature_b64.len()) / 4 * 3 + 4);
    b64::decode_into(header_b64, &mut buf).ok_or_else(bad_b64)?;
    let header_end = buf.len();
    b64::decode_into(signature_b64, &mut buf).ok_or_else(bad_b64)?;
    Ok(Decoded {
        signing_input,
        buf,
        header_end,
        payload,
    })
}

/// The protected header members portcullis reads. Everything else is ignored, in particular
/// `jwk`, `jku`, `x5u` and `x5c`: a token never chooses its own key.
pub(crate) struct Header<'a> {
    pub(crate) alg: Cow<'a, str>,
    pub(crate) kid: Option<Cow<'a, str>>,
    pub(crate) typ: Option<Cow<'a, str>>,
    pub(crate) crit: Option<Vec<Cow<'a, str>>>,
    pub(crate) b64: Option<bool>,
}

impl fmt::Debug for Header<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Header")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .field("typ", &self.typ)
            .finish_non_exhaustive()
    }
}

pub(crate) fn parse_header(json: &[u8]) -> Result<Header<'_>, ErrorKind> {
    let text =
        std::str::from_utf8(json).map_err(|_| ErrorKind::Malformed(MalformedPart::Header))?;
    let mut alg = None;
    let mut kid = None;
    let mut typ = None;
    let mut crit = None;
    let mut b64 = None;
    let scanned = Reader::new(text).top_object(|r, name| {
        match Member::of(&name) {
            Member::Alg => alg = Some(r.string_or_other()?),
            Member::Kid => kid = Some(r.string_or_other()?),
            Member::Typ => typ = Some(r.string_or_other()?),
            Member::Crit => {
                crit = Some(match r.str_or_list_or_other()? {
                    Some(StrOrList::List(names)) => Some(names),
                    _ => None,
                });
            }
            Member::B64 => b64 = Some(r.bool_or_other()?),
            Member::Other => r.skip_value()?,
        }
        Ok(())
    });
    match scanned {
        Ok(()) => {}
        Err(ScanError::Duplicate) => {
            return Err(ErrorKind::Malformed(MalformedPart::DuplicateHeaderMember));
        }
        Err(ScanError::Syntax) => return Err(ErrorKind::Malformed(MalformedPart::Header)),
    }
    // A member portcullis reads with the wrong JSON type makes the header malformed.
    let malformed = || ErrorKind::Malformed(MalformedPart::Header);
    fn typed<T>(field: Option<Option<T>>) -> Result<Option<T>, ()> {
        match field {
            None => Ok(None),
            Some(Some(v)) => Ok(Some(v)),
            Some(None) => Err(()),
        }
    }
    Ok(Header {
        alg: typed(alg).ok().flatten().ok_or_else(malformed)?,
        kid: typed(kid).map_err(|()| malformed())?,
        typ: typed(typ).map_err(|()| malformed())?,
        crit: typed(crit).map_err(|()| malformed())?,
        b64: typed(b64).map_err(|()| malformed())?,
    })
}

/// The header members portcullis reads, identified once per member.
#[derive(Clone, Copy)]
enum Member {
    Alg,
    Kid,
    Typ,
    Crit,
    B64,
    Other,
}

impl Member {
    fn of(name: &str) -> Self {
        match name {
            "alg" => Member::Alg,
            "kid" => Member::Kid,
            "typ" => Member::Typ,
            "crit" => Member::Crit,
            "b64" => Member::B64,
            _ => Member::Other,
        }
    }
}

/// The `iss` of a token, read **without verifying anything**, only to choose which trusted
/// issuer's keys and rules verify it (the chosen validator reads `iss` again, after the
/// signature). The token is held to the same size, shape, base64url and JSON rules as in
/// [`Validator::validate`](crate::Validator::validate), duplicate members included.
///
/// # Errors
/// [`ErrorKind::TooLarge`] past `max_len`, [`ErrorKind::Malformed`] for a token that is not a
/// compact JWS with a JSON-object payload, [`ErrorKind::MissingClaim`] without `iss`,
/// [`ErrorKind::InvalidClaim`] when `iss` is not a string.
pub fn unverified_issuer(token: &str, max_len: usize) -> Result<String, crate::AuthError> {
    let decoded = decode(token, max_len)?;
    let payload = std::str::from_utf8(decoded.payload())
        .map_err(|_| ErrorKind::Malformed(MalformedPart::Payload))?;
    let claims = crate::claims::parse_payload(payload, &[])?.claims(None, None)?;
    claims
        .issuer(payload)
        .map(str::to_owned)
        .ok_or_else(|| ErrorKind::MissingClaim(Cow::Borrowed("iss")).into())
}

/// The length of an unverified token's `kid`, for logs that must not show the `kid` itself;
/// `None` for an unreadable token or one without `kid`.
#[must_use]
pub fn unverified_kid_len(token: &str, max_len: usize) -> Option<usize> {
    let decoded = decode(token, max_len).ok()?;
    let header = parse_header(decoded.header()).ok()?;
    header.kid.map(|kid| kid.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn shape_errors_name_the_part() {
        let h = b64(r#"{"alg":"HS256"}"#);
        let p = b64("{}");
        let cases = [
            (String::new(), MalformedPart::Empty),
            (format!("{h}.{p}"), MalformedPart::Segments),
            (format!("{h}.{p}.c2ln.x"), MalformedPart::Segments),
            (format!(".{p}.c2ln"), MalformedPart::Segments),
            (format!("{h}.{p}."), MalformedPart::Signature),
            (format!("{h}.{p}.."), MalformedPart::Segments),
            (format!("{h}.{p}.c2ln."), MalformedPart::Segments),
            (format!("{h}.{p}+.c2ln.x"), MalformedPart::Segments),
            (format!("{h}.{p}+.c2ln"), MalformedPart::Base64),
            (format!("{h}=.{p}.c2ln"), MalformedPart::Base64),
            (format!("{h}.{p}.c2l+"), MalformedPart::Base64),
            (format!("{h}.{p} .c2ln"), MalformedPart::Base64),
        ];
        for (token, part) in cases {
            match decode(&token, DEFAULT_MAX_TOKEN_LEN) {
                Err(ErrorKind::Malformed(got)) => assert_eq!(got, part, "{token:?}"),
                Err(other) => panic!("{token:?}: {other:?}"),
                Ok(_) => panic!("{token:?} accepted"),
            }
        }
        assert!(matches!(
            decode(&"a".repeat(20), 10),
            Err(ErrorKind::TooLarge { limit: 10 })
        ));
    }

    #[test]
    fn header_members_are_typed_and_unique() {
        let ok = parse_header(br#"{"alg":"RS256","kid":"k","typ":"at+jwt","jwk":{"kty":"RSA"}}"#)
            .unwrap();
        assert_eq!(ok.alg, "RS256");
        assert_eq!(ok.kid.as_deref(), Some("k"));
        for (json, part) in [
            (
                &br#"{"alg":"RS256","alg":"none"}"#[..],
                MalformedPart::DuplicateHeaderMember,
            ),
            (
                br#"{"alg":"RS256","\u0061lg":"none"}"#,
                MalformedPart::DuplicateHeaderMember,
            ),
            (br#"{"alg":1}"#, MalformedPart::Header),
            (br#"{"kid":"k"}"#, MalformedPart::Header),
            (br#"["alg"]"#, MalformedPart::Header),
            (br#"{"alg":"RS256"} x"#, MalformedPart::Header),
            (br#"{"alg":"RS256","crit":"b64"}"#, MalformedPart::Header),
            (br#"{"alg":"RS256","b64":"false"}"#, MalformedPart::Header),
            (b"\xff", MalformedPart::Header),
        ] {
            assert_eq!(
                parse_header(json).unwrap_err(),
                ErrorKind::Malformed(part),
                "{}",
                String::from_utf8_lossy(json)
            );
        }
    }
}
