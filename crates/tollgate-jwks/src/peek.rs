//! Reading a token's `iss` (and the length of its `kid`) before verification.
//!
//! Nothing read here is trusted: `iss` only selects which configured issuer's keys and rules
//! verify the token (an unknown one is refused before any network request), and the selected
//! validator checks `iss` again after the signature.
//!
//! This belongs in tollgate-core next to the JWS parser; it lives here until core exposes one.

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer as _};
use tollgate_core::{ErrorKind, MalformedPart};

/// What the payload says about `iss`: read by a map-only visitor, so that a payload that is
/// not a JSON object is refused, every other member is skipped without being stored, and a
/// second `iss` is an error.
enum Iss {
    Missing,
    NotAString,
    Value(String),
}

struct IssVisitor;

impl<'de> Visitor<'de> for IssVisitor {
    type Value = Iss;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Iss, A::Error> {
        let mut iss = Iss::Missing;
        while let Some(name) = map.next_key::<Cow<'de, str>>()? {
            if name != "iss" {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            if !matches!(iss, Iss::Missing) {
                return Err(de::Error::custom("duplicate iss"));
            }
            let value: serde_json::Value = map.next_value()?;
            iss = match value {
                serde_json::Value::String(s) => Iss::Value(s),
                _ => Iss::NotAString,
            };
        }
        Ok(iss)
    }
}

#[derive(Deserialize)]
struct KidOnly {
    #[serde(default)]
    kid: Option<String>,
}

/// The three segments of a compact JWS, unverified.
fn segments(token: &str, max_len: usize) -> Result<(&str, &str), ErrorKind> {
    if token.is_empty() {
        return Err(ErrorKind::Malformed(MalformedPart::Empty));
    }
    if token.len() > max_len {
        return Err(ErrorKind::TooLarge { limit: max_len });
    }
    let mut parts = token.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(header), Some(payload), Some(_sig), None)
            if !header.is_empty() && !payload.is_empty() =>
        {
            Ok((header, payload))
        }
        _ => Err(ErrorKind::Malformed(MalformedPart::Segments)),
    }
}

/// The `iss` of an unverified token.
///
/// # Errors
/// [`ErrorKind::TooLarge`] past `max_len`, [`ErrorKind::Malformed`] for a token that is not a
/// compact JWS with a JSON-object payload, [`ErrorKind::MissingClaim`] without `iss`,
/// [`ErrorKind::InvalidClaim`] when `iss` is not a string.
pub(crate) fn issuer(token: &str, max_len: usize) -> Result<String, ErrorKind> {
    let (_, payload) = segments(token, max_len)?;
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| ErrorKind::Malformed(MalformedPart::Base64))?;
    let mut de = serde_json::Deserializer::from_slice(&bytes);
    let parsed = de
        .deserialize_map(IssVisitor)
        .and_then(|iss| de.end().map(|()| iss))
        .map_err(|_| ErrorKind::Malformed(MalformedPart::Payload))?;
    match parsed {
        Iss::Value(iss) => Ok(iss),
        Iss::Missing => Err(ErrorKind::MissingClaim(Cow::Borrowed("iss"))),
        Iss::NotAString => Err(ErrorKind::InvalidClaim(Cow::Borrowed("iss"))),
    }
}

/// The length of the unverified token's `kid`, for logs that must not show the `kid` itself.
pub(crate) fn kid_len(token: &str, max_len: usize) -> Option<usize> {
    let (header, _) = segments(token, max_len).ok()?;
    let bytes = URL_SAFE_NO_PAD.decode(header).ok()?;
    let parsed: KidOnly = serde_json::from_slice(&bytes).ok()?;
    parsed.kid.map(|k| k.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(header: &str, payload: &str) -> String {
        format!(
            "{}.{}.c2ln",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload)
        )
    }

    #[test]
    fn reads_iss_and_refuses_what_is_not_a_string_iss() {
        let t = token(
            r#"{"alg":"ES256","kid":"abc"}"#,
            r#"{"iss":"https://a","sub":1}"#,
        );
        assert_eq!(issuer(&t, 8192).unwrap(), "https://a");
        assert_eq!(kid_len(&t, 8192), Some(3));

        let no_iss = token("{}", r#"{"sub":"x"}"#);
        assert!(matches!(
            issuer(&no_iss, 8192),
            Err(ErrorKind::MissingClaim(_))
        ));
        let number = token("{}", r#"{"iss":5}"#);
        assert!(matches!(
            issuer(&number, 8192),
            Err(ErrorKind::InvalidClaim(_))
        ));
        let duplicate = token("{}", r#"{"iss":"https://a","iss":"https://b"}"#);
        assert_eq!(
            issuer(&duplicate, 8192),
            Err(ErrorKind::Malformed(MalformedPart::Payload))
        );
        let trailing = token("{}", r#"{"iss":"https://a"} x"#);
        assert!(issuer(&trailing, 8192).is_err());
        let array = token("{}", r#"["iss"]"#);
        assert_eq!(
            issuer(&array, 8192),
            Err(ErrorKind::Malformed(MalformedPart::Payload))
        );
    }

    #[test]
    fn shape_and_size_are_checked_first() {
        assert_eq!(
            issuer("", 10),
            Err(ErrorKind::Malformed(MalformedPart::Empty))
        );
        assert_eq!(
            issuer("a.b.c.d", 100),
            Err(ErrorKind::Malformed(MalformedPart::Segments))
        );
        assert_eq!(
            issuer("aaaa.bbbb.cccc", 5),
            Err(ErrorKind::TooLarge { limit: 5 })
        );
        // Padding and the standard alphabet are refused (strict base64url).
        assert_eq!(
            issuer("e30.e30=.c2ln", 100),
            Err(ErrorKind::Malformed(MalformedPart::Base64))
        );
        assert_eq!(
            issuer("e30.e3+.c2ln", 100),
            Err(ErrorKind::Malformed(MalformedPart::Base64))
        );
    }
}
