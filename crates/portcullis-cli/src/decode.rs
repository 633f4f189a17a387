//! Decoding a token without verifying anything: the header and claims as written, in their
//! order, with every deviation from what portcullis accepts noted rather than refused.

use std::fmt;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

use crate::error::CliError;

/// A JSON object with its members in the order written, repeats included.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Object {
    pub(crate) members: Vec<(String, Value)>,
}

impl Object {
    /// The value of a member; for a repeated name, the last (what most JSON parsers keep).
    pub(crate) fn get(&self, name: &str) -> Option<&Value> {
        self.members
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    /// A member that is a string.
    pub(crate) fn str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(Value::as_str)
    }

    /// A member that is a number.
    pub(crate) fn number(&self, name: &str) -> Option<f64> {
        self.get(name).and_then(Value::as_f64)
    }

    /// Names that appear more than once, each once, in order of first appearance.
    pub(crate) fn repeated_names(&self) -> Vec<&str> {
        let mut repeated: Vec<&str> = Vec::new();
        for (i, (name, _)) in self.members.iter().enumerate() {
            let again = self
                .members
                .iter()
                .skip(i + 1)
                .any(|(other, _)| other == name);
            if again && !repeated.contains(&name.as_str()) {
                repeated.push(name);
            }
        }
        repeated
    }

    /// As a `serde_json` value (a repeated name keeps its last value).
    pub(crate) fn to_value(&self) -> Value {
        let map: Map<String, Value> = self.members.iter().cloned().collect();
        Value::Object(map)
    }

    /// Pretty JSON in the written order (nested objects as `serde_json` orders them).
    pub(crate) fn pretty(&self) -> String {
        if self.members.is_empty() {
            return "{}".to_owned();
        }
        let mut out = String::from("{\n");
        let last = self.members.len().saturating_sub(1);
        for (i, (name, value)) in self.members.iter().enumerate() {
            let name = Value::from(name.as_str()).to_string();
            let value = serde_json::to_string_pretty(value)
                .unwrap_or_default()
                .replace('\n', "\n  ");
            let comma = if i == last { "" } else { "," };
            out.push_str(&format!("  {name}: {value}{comma}\n"));
        }
        out.push('}');
        out
    }
}

impl<'de> Deserialize<'de> for Object {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;

        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = Object;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Object, A::Error> {
                let mut members = Vec::new();
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    members.push(entry);
                }
                Ok(Object { members })
            }
        }

        deserializer.deserialize_map(ObjectVisitor)
    }
}

/// What the payload holds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Payload {
    /// A JSON object: the claims.
    Claims(Object),
    /// Anything else (plain text, a JSON array, binary), with its length in bytes.
    Other { len: usize, text: bool },
}

/// A token taken apart without any check of its signature.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Unverified {
    pub(crate) header: Object,
    pub(crate) payload: Payload,
    pub(crate) signature_len: usize,
    pub(crate) token_len: usize,
    /// Encodings portcullis would refuse: padding, non-canonical base64url.
    pub(crate) encoding_notes: Vec<String>,
}

impl Unverified {
    /// The claims, when the payload is a JSON object.
    pub(crate) fn claims(&self) -> Option<&Object> {
        match &self.payload {
            Payload::Claims(claims) => Some(claims),
            Payload::Other { .. } => None,
        }
    }
}

/// A base64url decoder that tolerates padding and stray low bits, so that such tokens can
/// still be shown (and the deviation reported).
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

fn segment(name: &str, text: &str, notes: &mut Vec<String>) -> Result<Vec<u8>, CliError> {
    let bytes = LENIENT.decode(text).map_err(|_| {
        let hint = if text.contains(['+', '/']) {
            " (it holds `+` or `/`: standard base64, not base64url)"
        } else {
            ""
        };
        CliError::new(format!(
            "not a JWT: the {name} segment is not base64url{hint}"
        ))
    })?;
    if text.ends_with('=') {
        notes.push(format!(
            "the {name} segment is padded with `=`: portcullis refuses padded segments"
        ));
    } else if base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes) != text {
        notes.push(format!(
            "the {name} segment is not canonical base64url (stray low bits): portcullis refuses it"
        ));
    }
    Ok(bytes)
}

/// Takes a compact JWS apart.
///
/// # Errors
/// Input that is not a JWT at all: not three dot-separated segments (a JWE has five), a
/// segment that is not base64url, or a header that is not a JSON object.
pub(crate) fn decode(token: &str) -> Result<Unverified, CliError> {
    let parts: Vec<&str> = token.split('.').collect();
    let [header, payload, signature] = parts.as_slice() else {
        return Err(CliError::new(match parts.len() {
            5 => "this is a JWE (five segments): an encrypted token, which cannot be read \
                  without its decryption key; portcullis verifies signed tokens (three segments)"
                .to_owned(),
            1 => "not a JWT: a JWT is three base64url segments separated by dots, this has no dot"
                .to_owned(),
            n => format!("not a JWT: a JWT has three dot-separated segments, this has {n}"),
        }));
    };
    let mut notes = Vec::new();
    let header_bytes = segment("header", header, &mut notes)?;
    let header: Object = serde_json::from_slice(&header_bytes)
        .map_err(|_| CliError::new("not a JWT: the header is not a JSON object"))?;
    let payload_bytes = segment("payload", payload, &mut notes)?;
    let payload = match serde_json::from_slice::<Object>(&payload_bytes) {
        Ok(claims) => Payload::Claims(claims),
        Err(_) => Payload::Other {
            len: payload_bytes.len(),
            text: std::str::from_utf8(&payload_bytes).is_ok(),
        },
    };
    let signature_len = segment("signature", signature, &mut notes)?.len();
    Ok(Unverified {
        header,
        payload,
        signature_len,
        token_len: token.len(),
        encoding_notes: notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(text: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
    }

    #[test]
    fn members_keep_their_order_and_repeats_are_found() {
        let token = format!(
            "{}.{}.c2ln",
            b64(r#"{"typ":"JWT","alg":"none"}"#),
            b64(r#"{"sub":"a","exp":5,"sub":"b"}"#)
        );
        let decoded = decode(&token).unwrap();
        let names: Vec<_> = decoded
            .header
            .members
            .iter()
            .map(|(n, _)| n.as_str())
            .collect();
        assert_eq!(names, ["typ", "alg"]);
        let claims = decoded.claims().unwrap();
        assert_eq!(claims.repeated_names(), ["sub"]);
        assert_eq!(claims.str("sub"), Some("b"));
        assert_eq!(claims.number("exp"), Some(5.0));
        assert_eq!(decoded.signature_len, 3);
        assert!(decoded.encoding_notes.is_empty());
        assert!(claims.pretty().starts_with("{\n  \"sub\": \"a\",\n"));
    }

    #[test]
    fn what_is_not_a_jwt_is_an_error_naming_the_problem() {
        let cases = [
            ("garbage", "no dot"),
            ("a.b", "this has 2"),
            ("a.b.c.d.e", "JWE"),
            ("!!!.e30.", "header segment is not base64url"),
            ("e30+.e30.", "standard base64"),
            (
                &format!("{}.e30.", b64("[1]")),
                "header is not a JSON object",
            ),
        ];
        for (token, expected) in cases {
            let err = decode(token).unwrap_err().to_string();
            assert!(err.contains(expected), "{token}: {err}");
        }
    }

    #[test]
    fn padding_and_stray_bits_are_noted_not_refused() {
        let decoded = decode("e30=.e30.").unwrap();
        assert!(decoded.encoding_notes[0].contains("padded"));
        // "e31" decodes like "e30" with a stray low bit.
        let stray = decode("e31.e30.").unwrap_or_else(|e| panic!("{e}"));
        assert!(stray.encoding_notes[0].contains("canonical"));
        let text = decode(&format!("{}.{}.", b64("{}"), b64("hello"))).unwrap();
        assert_eq!(text.payload, Payload::Other { len: 5, text: true });
    }
}
