//! Compact JWS parsing (RFC 7515 section 7.1): size cap, three segments, strict base64url,
//! a JSON-object header without duplicate members.

use std::borrow::Cow;
use std::fmt;

use serde::Deserializer;
use serde::de::{self, MapAccess, Visitor};

use crate::b64;
use crate::error::{ErrorKind, MalformedPart};
use crate::json::{self, Name, Seen, Str};

/// The default cap on the token length: 8 KiB.
pub const DEFAULT_MAX_TOKEN_LEN: usize = 8 * 1024;

/// A compact JWS cut into its segments, each decoded, before anything is verified.
pub(crate) struct Decoded<'t> {
    /// `BASE64URL(header) || '.' || BASE64URL(payload)`, the bytes that were signed.
    pub(crate) signing_input: &'t [u8],
    /// header ‖ payload ‖ signature, decoded, in one allocation.
    buf: Vec<u8>,
    header_end: usize,
    payload_end: usize,
}

impl Decoded<'_> {
    pub(crate) fn header(&self) -> &[u8] {
        self.buf.get(..self.header_end).unwrap_or_default()
    }
    pub(crate) fn payload(&self) -> &[u8] {
        self.buf
            .get(self.header_end..self.payload_end)
            .unwrap_or_default()
    }
    pub(crate) fn signature(&self) -> &[u8] {
        self.buf.get(self.payload_end..).unwrap_or_default()
    }
}

/// Checks the size and shape of a compact JWS and decodes its three segments.
pub(crate) fn decode(token: &str, max_len: usize) -> Result<Decoded<'_>, ErrorKind> {
    if token.is_empty() {
        return Err(ErrorKind::Malformed(MalformedPart::Empty));
    }
    if token.len() > max_len {
        return Err(ErrorKind::TooLarge { limit: max_len });
    }
    // `split_once` searches a byte at a time only at the ends; the middle is word-at-a-time.
    let malformed_segments = || ErrorKind::Malformed(MalformedPart::Segments);
    let (signing_input, signature_b64) = token.rsplit_once('.').ok_or_else(malformed_segments)?;
    let (header_b64, payload_b64) = signing_input
        .split_once('.')
        .ok_or_else(malformed_segments)?;
    if payload_b64.contains('.') {
        // Four or more segments: a JWE (five) or garbage.
        return Err(malformed_segments());
    }
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
        return Err(ErrorKind::Malformed(MalformedPart::Signature));
    }
    let mut buf = Vec::with_capacity(token.len() / 4 * 3 + 3);
    let bad_b64 = || ErrorKind::Malformed(MalformedPart::Base64);
    b64::decode_into(header_b64, &mut buf).ok_or_else(bad_b64)?;
    let header_end = buf.len();
    b64::decode_into(payload_b64, &mut buf).ok_or_else(bad_b64)?;
    let payload_end = buf.len();
    b64::decode_into(signature_b64, &mut buf).ok_or_else(bad_b64)?;
    Ok(Decoded {
        signing_input,
        buf,
        header_end,
        payload_end,
    })
}

/// The protected header members tollgate reads. Everything else is ignored, in particular
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
    let mut de = serde_json::Deserializer::from_slice(json);
    let parsed = (&mut de)
        .deserialize_map(HeaderVisitor)
        .and_then(|h| de.end().map(|()| h));
    match parsed {
        Ok(Some(header)) => Ok(header),
        Ok(None) => Err(ErrorKind::Malformed(MalformedPart::DuplicateHeaderMember)),
        Err(_) => Err(ErrorKind::Malformed(MalformedPart::Header)),
    }
}

struct HeaderVisitor;

/// The header members tollgate reads, identified once per member.
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

impl<'de> Visitor<'de> for HeaderVisitor {
    /// `None` when a member name repeats.
    type Value = Option<Header<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JOSE header object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut seen = Seen::new();
        let mut alg = None;
        let mut kid = None;
        let mut typ = None;
        let mut crit = None;
        let mut b64 = None;
        while let Some(Name(name)) = map.next_key()? {
            let member = Member::of(&name);
            if !seen.insert(name) {
                json::ignore_value(&mut map)?;
                continue;
            }
            match member {
                Member::Alg => alg = Some(map.next_value::<Str<'de>>()?.0),
                Member::Kid => kid = Some(map.next_value::<Str<'de>>()?.0),
                Member::Typ => typ = Some(map.next_value::<Str<'de>>()?.0),
                Member::Crit => {
                    let names = map.next_value::<Vec<Str<'de>>>()?;
                    crit = Some(names.into_iter().map(|s| s.0).collect());
                }
                Member::B64 => b64 = Some(map.next_value::<bool>()?),
                _ => json::ignore_value(&mut map)?,
            }
        }
        if seen.duplicate {
            return Ok(None);
        }
        let alg = alg.ok_or_else(|| de::Error::missing_field("alg"))?;
        Ok(Some(Header {
            alg,
            kid,
            typ,
            crit,
            b64,
        }))
    }
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
