//! Verified claims: the registered ones read once, the whole object kept for the handler.
//!
//! ```
//! # use tollgate_core::Claims;
//! # fn show(claims: &Claims) {
//! // In a handler, after tollgate has verified the token:
//! let subject = claims.subject();
//! let can_read = claims.scopes().contains("orders.read");
//! # let _ = (subject, can_read);
//! # }
//! ```

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde::Deserializer;
use serde::de::{DeserializeOwned, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::alg::Algorithm;
use crate::error::{ErrorKind, MalformedPart};
use crate::json::{self, Name, Seen};
use crate::scope::Scopes;

/// Claims of a verified token.
///
/// The registered claims are parsed once during validation; the payload is kept as JSON text
/// so that [`Claims::deserialize`] can read the application's own claims type from it.
#[derive(Clone)]
pub struct Claims {
    raw: Arc<str>,
    alg: Algorithm,
    kid: Option<Box<str>>,
    iss: Option<Box<str>>,
    sub: Option<Box<str>>,
    aud: Box<[Box<str>]>,
    exp: Option<f64>,
    nbf: Option<f64>,
    iat: Option<f64>,
    jti: Option<Box<str>>,
    client_id: Option<Box<str>>,
    scopes: Scopes,
}

impl Claims {
    /// The issuer (`iss`).
    #[must_use]
    pub fn issuer(&self) -> Option<&str> {
        self.iss.as_deref()
    }

    /// The subject (`sub`).
    #[must_use]
    pub fn subject(&self) -> Option<&str> {
        self.sub.as_deref()
    }

    /// The audiences (`aud`), whether it was a string or an array.
    pub fn audience(&self) -> impl Iterator<Item = &str> {
        self.aud.iter().map(|a| &**a)
    }

    /// Expiry (`exp`), seconds since the epoch.
    #[must_use]
    pub fn expires_at(&self) -> Option<f64> {
        self.exp
    }

    /// Not-before (`nbf`), seconds since the epoch.
    #[must_use]
    pub fn not_before(&self) -> Option<f64> {
        self.nbf
    }

    /// Issued-at (`iat`), seconds since the epoch.
    #[must_use]
    pub fn issued_at(&self) -> Option<f64> {
        self.iat
    }

    /// The token id (`jti`).
    #[must_use]
    pub fn jwt_id(&self) -> Option<&str> {
        self.jti.as_deref()
    }

    /// The OAuth client the token was issued to (`client_id`, RFC 9068).
    #[must_use]
    pub fn client_id(&self) -> Option<&str> {
        self.client_id.as_deref()
    }

    /// The granted scopes, from `scope` (space-separated string, RFC 9068) or else `scp`
    /// (array or string, as some authorization servers emit).
    #[must_use]
    pub fn scopes(&self) -> &Scopes {
        &self.scopes
    }

    /// The algorithm the token was signed with.
    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The `kid` of the key that verified the token.
    #[must_use]
    pub fn key_id(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The payload as JSON text.
    #[must_use]
    pub fn as_json(&self) -> &str {
        &self.raw
    }

    /// One claim by name, parsed from the payload (this parses the payload again; use
    /// [`Claims::deserialize`] with your own type to read many).
    #[must_use]
    pub fn get(&self, name: &str) -> Option<serde_json::Value> {
        let mut map: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&self.raw).ok()?;
        map.remove(name)
    }

    /// The application's own claims type, deserialized from the payload.
    ///
    /// # Errors
    /// When the payload does not fit `T`.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(&self.raw)
    }

    pub(crate) fn from_parts(
        payload: &str,
        alg: Algorithm,
        kid: Option<&str>,
        r: Registered<'_>,
    ) -> Self {
        Claims {
            raw: Arc::from(payload),
            alg,
            kid: kid.map(Into::into),
            iss: r.iss.map(|s| s.into()),
            sub: r.sub.map(|s| s.into()),
            aud: r.aud.into_iter().map(|s| s.into()).collect(),
            exp: r.exp,
            nbf: r.nbf,
            iat: r.iat,
            jti: r.jti.map(|s| s.into()),
            client_id: r.client_id.map(|s| s.into()),
            scopes: r.scopes,
        }
    }
}

impl fmt::Debug for Claims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The registered claims only: custom claims may hold personal data.
        f.debug_struct("Claims")
            .field("iss", &self.iss)
            .field("sub", &self.sub)
            .field("aud", &self.aud)
            .field("exp", &self.exp)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// The registered claims of a payload, typed, borrowed from the decoded payload.
#[derive(Default)]
pub(crate) struct Registered<'a> {
    pub(crate) iss: Option<Cow<'a, str>>,
    pub(crate) sub: Option<Cow<'a, str>>,
    pub(crate) aud: Vec<Cow<'a, str>>,
    pub(crate) has_aud: bool,
    pub(crate) exp: Option<f64>,
    pub(crate) nbf: Option<f64>,
    pub(crate) iat: Option<f64>,
    pub(crate) jti: Option<Cow<'a, str>>,
    pub(crate) client_id: Option<Cow<'a, str>>,
    pub(crate) scopes: Scopes,
}

/// The payload read: raw values of the registered claims and the names of every member.
pub(crate) struct Payload<'a> {
    pub(crate) names: Seen<'a>,
    raw: RawRegistered<'a>,
}

#[derive(Default)]
struct RawRegistered<'a> {
    iss: Option<&'a RawValue>,
    sub: Option<&'a RawValue>,
    aud: Option<&'a RawValue>,
    exp: Option<&'a RawValue>,
    nbf: Option<&'a RawValue>,
    iat: Option<&'a RawValue>,
    jti: Option<&'a RawValue>,
    client_id: Option<&'a RawValue>,
    scope: Option<&'a RawValue>,
    scp: Option<&'a RawValue>,
}

/// Reads the payload: a JSON object, no member name twice at any depth.
pub(crate) fn parse_payload(json: &str) -> Result<Payload<'_>, ErrorKind> {
    let mut de = serde_json::Deserializer::from_str(json);
    let parsed = (&mut de)
        .deserialize_map(PayloadVisitor)
        .and_then(|p| de.end().map(|()| p));
    match parsed {
        Ok(Some(payload)) => Ok(payload),
        Ok(None) => Err(ErrorKind::Malformed(MalformedPart::DuplicatePayloadMember)),
        Err(_) => Err(ErrorKind::Malformed(MalformedPart::Payload)),
    }
}

struct PayloadVisitor;

impl<'de> Visitor<'de> for PayloadVisitor {
    /// `None` when a member name repeats somewhere.
    type Value = Option<Payload<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JWT claims object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut names = Seen::with_capacity(16);
        let mut raw = RawRegistered::default();
        let mut nested_ok = true;
        while let Some(Name(name)) = map.next_key()? {
            let slot = match &*name {
                "iss" => Some(&mut raw.iss),
                "sub" => Some(&mut raw.sub),
                "aud" => Some(&mut raw.aud),
                "exp" => Some(&mut raw.exp),
                "nbf" => Some(&mut raw.nbf),
                "iat" => Some(&mut raw.iat),
                "jti" => Some(&mut raw.jti),
                "client_id" => Some(&mut raw.client_id),
                "scope" => Some(&mut raw.scope),
                "scp" => Some(&mut raw.scp),
                _ => None,
            };
            let first = names.insert(name);
            match slot {
                Some(slot) if first => *slot = Some(map.next_value::<&'de RawValue>()?),
                _ => nested_ok &= json::skip_value(&mut map)?,
            }
        }
        if names.duplicate || !nested_ok {
            return Ok(None);
        }
        Ok(Some(Payload { names, raw }))
    }
}

/// NumericDate values beyond year 9999 are refused: no real token lives that long, and
/// they would only serve to make "never expires" tokens.
const MAX_NUMERIC_DATE: f64 = 253_402_300_799.0;

fn numeric_date(raw: Option<&RawValue>, name: &'static str) -> Result<Option<f64>, ErrorKind> {
    let Some(raw) = raw else { return Ok(None) };
    let text = raw.get();
    // Only JSON numbers: a string, bool, null, array or object is a type error.
    if !text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        return Err(ErrorKind::InvalidClaim(Cow::Borrowed(name)));
    }
    match serde_json::from_str::<f64>(text) {
        Ok(v) if v.is_finite() && v.abs() <= MAX_NUMERIC_DATE => Ok(Some(v)),
        _ => Err(ErrorKind::InvalidClaim(Cow::Borrowed(name))),
    }
}

fn string<'a>(
    raw: Option<&'a RawValue>,
    name: &'static str,
) -> Result<Option<Cow<'a, str>>, ErrorKind> {
    let Some(raw) = raw else { return Ok(None) };
    serde_json::from_str::<json::Str<'a>>(raw.get())
        .map(|s| Some(s.0))
        .map_err(|_| ErrorKind::InvalidClaim(Cow::Borrowed(name)))
}

fn string_or_array<'a>(
    raw: &'a RawValue,
    name: &'static str,
) -> Result<Vec<Cow<'a, str>>, ErrorKind> {
    let invalid = || ErrorKind::InvalidClaim(Cow::Borrowed(name));
    let text = raw.get();
    if text.starts_with('"') {
        let s = serde_json::from_str::<json::Str<'a>>(text).map_err(|_| invalid())?;
        Ok(vec![s.0])
    } else if text.starts_with('[') {
        let items = serde_json::from_str::<Vec<json::Str<'a>>>(text).map_err(|_| invalid())?;
        Ok(items.into_iter().map(|s| s.0).collect())
    } else {
        Err(invalid())
    }
}

impl<'a> Payload<'a> {
    /// Types the registered claims. A registered claim of the wrong JSON type is an error.
    pub(crate) fn registered(&self) -> Result<Registered<'a>, ErrorKind> {
        let r = &self.raw;
        let scopes = match (r.scope, r.scp) {
            (Some(raw), _) => scopes_from(raw, "scope")?,
            (None, Some(raw)) => scopes_from(raw, "scp")?,
            (None, None) => Scopes::default(),
        };
        let (aud, has_aud) = match r.aud {
            Some(raw) => (string_or_array(raw, "aud")?, true),
            None => (Vec::new(), false),
        };
        Ok(Registered {
            exp: numeric_date(r.exp, "exp")?,
            nbf: numeric_date(r.nbf, "nbf")?,
            iat: numeric_date(r.iat, "iat")?,
            iss: string(r.iss, "iss")?,
            sub: string(r.sub, "sub")?,
            aud,
            has_aud,
            jti: string(r.jti, "jti")?,
            client_id: string(r.client_id, "client_id")?,
            scopes,
        })
    }
}

fn scopes_from(raw: &RawValue, name: &'static str) -> Result<Scopes, ErrorKind> {
    let text = raw.get();
    if text.starts_with('"') {
        let s = serde_json::from_str::<json::Str<'_>>(text)
            .map_err(|_| ErrorKind::InvalidClaim(Cow::Borrowed(name)))?;
        Ok(Scopes::from_space_separated(&s.0))
    } else {
        let items = string_or_array(raw, name)?;
        Scopes::from_list(items.iter().map(|s| &**s))
            .ok_or(ErrorKind::InvalidClaim(Cow::Borrowed(name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_refused_at_every_depth() {
        for json in [
            r#"{"exp":1,"exp":2}"#,
            r#"{"exp":1,"ex\u0070":2}"#,
            r#"{"a":{"b":1,"b":2}}"#,
            r#"{"a":[{"b":1,"b":2}]}"#,
            r#"{"x":1,"x":1}"#,
        ] {
            assert_eq!(
                parse_payload(json).err(),
                Some(ErrorKind::Malformed(MalformedPart::DuplicatePayloadMember)),
                "{json}"
            );
        }
        assert!(parse_payload(r#"{"a":{"b":1},"c":{"b":2}}"#).is_ok());
    }

    #[test]
    fn non_objects_are_malformed() {
        for json in ["[]", "1", "\"x\"", "null", "{", r#"{"a":1} {}"#, ""] {
            assert_eq!(
                parse_payload(json).err(),
                Some(ErrorKind::Malformed(MalformedPart::Payload)),
                "{json}"
            );
        }
    }

    #[test]
    fn registered_claims_are_typed() {
        let p = parse_payload(r#"{"exp":1.5,"aud":["a","b"],"scp":["x","y"],"iss":"i"}"#).unwrap();
        let r = p.registered().unwrap();
        assert_eq!(r.exp, Some(1.5));
        assert_eq!(r.aud, ["a", "b"]);
        assert_eq!(r.scopes.as_str(), "x y");
        for (json, name) in [
            (r#"{"exp":"1"}"#, "exp"),
            (r#"{"exp":true}"#, "exp"),
            (r#"{"exp":null}"#, "exp"),
            (r#"{"exp":[1]}"#, "exp"),
            (r#"{"exp":1e300}"#, "exp"),
            (r#"{"nbf":"0"}"#, "nbf"),
            (r#"{"aud":1}"#, "aud"),
            (r#"{"aud":[1]}"#, "aud"),
            (r#"{"aud":null}"#, "aud"),
            (r#"{"iss":["a"]}"#, "iss"),
            (r#"{"scope":1}"#, "scope"),
            (r#"{"scp":["a b"]}"#, "scp"),
        ] {
            let p = parse_payload(json).unwrap();
            assert_eq!(
                p.registered().err(),
                Some(ErrorKind::InvalidClaim(name.into())),
                "{json}"
            );
        }
    }
}
