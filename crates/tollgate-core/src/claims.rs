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
use serde::de::{DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

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

/// The payload read: the registered claims, each typed or marked as of the wrong type, and
/// the names of every member.
pub(crate) struct Payload<'a> {
    pub(crate) names: Seen<'a>,
    raw: Fields<'a>,
}

/// A registered claim as found: absent (`None`), of the wrong JSON type (`Some(None)`), or
/// typed (`Some(Some(value))`).
type Field<T> = Option<Option<T>>;

#[derive(Default)]
struct Fields<'a> {
    iss: Field<Cow<'a, str>>,
    sub: Field<Cow<'a, str>>,
    aud: Field<StrOrList<'a>>,
    exp: Field<f64>,
    nbf: Field<f64>,
    iat: Field<f64>,
    jti: Field<Cow<'a, str>>,
    client_id: Field<Cow<'a, str>>,
    scope: Field<StrOrList<'a>>,
    scp: Field<StrOrList<'a>>,
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
        let mut names = Seen::new();
        let mut f = Fields::default();
        let mut nested_ok = true;
        while let Some(Name(name)) = map.next_key()? {
            let claim = Registered::of(&name);
            if !names.insert(name) {
                json::ignore_value(&mut map)?;
                continue;
            }
            match claim {
                Some(RegisteredName::Iss) => f.iss = Some(map.next_value_seed(StrSeed)?),
                Some(RegisteredName::Sub) => f.sub = Some(map.next_value_seed(StrSeed)?),
                Some(RegisteredName::Jti) => f.jti = Some(map.next_value_seed(StrSeed)?),
                Some(RegisteredName::ClientId) => f.client_id = Some(map.next_value_seed(StrSeed)?),
                Some(RegisteredName::Exp) => f.exp = Some(map.next_value_seed(NumberSeed)?),
                Some(RegisteredName::Nbf) => f.nbf = Some(map.next_value_seed(NumberSeed)?),
                Some(RegisteredName::Iat) => f.iat = Some(map.next_value_seed(NumberSeed)?),
                Some(RegisteredName::Aud) => f.aud = Some(map.next_value_seed(StrOrListSeed)?),
                Some(RegisteredName::Scope) => f.scope = Some(map.next_value_seed(StrOrListSeed)?),
                Some(RegisteredName::Scp) => f.scp = Some(map.next_value_seed(StrOrListSeed)?),
                None => nested_ok &= json::skip_value(&mut map)?,
            }
        }
        if names.duplicate || !nested_ok {
            return Ok(None);
        }
        Ok(Some(Payload { names, raw: f }))
    }
}

/// The registered claims tollgate reads.
#[derive(Clone, Copy)]
enum RegisteredName {
    Iss,
    Sub,
    Aud,
    Exp,
    Nbf,
    Iat,
    Jti,
    ClientId,
    Scope,
    Scp,
}

impl Registered<'_> {
    fn of(name: &str) -> Option<RegisteredName> {
        Some(match name {
            "iss" => RegisteredName::Iss,
            "sub" => RegisteredName::Sub,
            "aud" => RegisteredName::Aud,
            "exp" => RegisteredName::Exp,
            "nbf" => RegisteredName::Nbf,
            "iat" => RegisteredName::Iat,
            "jti" => RegisteredName::Jti,
            "client_id" => RegisteredName::ClientId,
            "scope" => RegisteredName::Scope,
            "scp" => RegisteredName::Scp,
            _ => return None,
        })
    }
}

/// A JSON number as `f64`; any other type gives `None` (and is consumed).
struct NumberSeed;
/// A JSON string, borrowed when it has no escapes; any other type gives `None`.
struct StrSeed;
/// A string, or an array of strings; any other type (or a non-string element) gives `None`.
struct StrOrListSeed;

enum StrOrList<'a> {
    Str(Cow<'a, str>),
    List(Vec<Cow<'a, str>>),
}

/// Implements the "wrong type" arms of a lenient visitor: consume the value, answer `None`.
macro_rules! wrong_type_arms {
    () => {
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(None)
        }
    };
}

impl<'de> DeserializeSeed<'de> for NumberSeed {
    type Value = Option<f64>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NumberSeed {
    type Value = Option<f64>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number")
    }
    #[allow(clippy::cast_precision_loss)] // NumericDate range is checked afterwards
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(v as f64))
    }
    #[allow(clippy::cast_precision_loss)]
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(v as f64))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(v))
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    wrong_type_arms!();
}

impl<'de> DeserializeSeed<'de> for StrSeed {
    type Value = Option<Cow<'de, str>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrSeed {
    type Value = Option<Cow<'de, str>>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_owned())))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    wrong_type_arms!();
}

impl<'de> DeserializeSeed<'de> for StrOrListSeed {
    type Value = Option<StrOrList<'de>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrOrListSeed {
    type Value = Option<StrOrList<'de>>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or an array of strings")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Some(StrOrList::Str(Cow::Borrowed(v))))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(StrOrList::Str(Cow::Owned(v.to_owned()))))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(2));
        let mut all_strings = true;
        while let Some(item) = seq.next_element_seed(StrSeed)? {
            match item {
                Some(s) if all_strings => items.push(s),
                _ => all_strings = false,
            }
        }
        Ok(all_strings.then_some(StrOrList::List(items)))
    }
    wrong_type_arms!();
}

/// NumericDate values beyond year 9999 are refused: no real token lives that long, and
/// they would only serve to make "never expires" tokens.
const MAX_NUMERIC_DATE: f64 = 253_402_300_799.0;

fn invalid(name: &'static str) -> ErrorKind {
    ErrorKind::InvalidClaim(Cow::Borrowed(name))
}

fn numeric_date(field: Field<f64>, name: &'static str) -> Result<Option<f64>, ErrorKind> {
    match field {
        None => Ok(None),
        Some(Some(v)) if v.is_finite() && v.abs() <= MAX_NUMERIC_DATE => Ok(Some(v)),
        Some(_) => Err(invalid(name)),
    }
}

fn string<'a>(
    field: Field<Cow<'a, str>>,
    name: &'static str,
) -> Result<Option<Cow<'a, str>>, ErrorKind> {
    match field {
        None => Ok(None),
        Some(Some(s)) => Ok(Some(s)),
        Some(None) => Err(invalid(name)),
    }
}

fn scopes(field: Field<StrOrList<'_>>, name: &'static str) -> Result<Scopes, ErrorKind> {
    match field {
        None => Ok(Scopes::default()),
        Some(Some(StrOrList::Str(s))) => Ok(Scopes::from_space_separated(&s)),
        Some(Some(StrOrList::List(items))) => {
            Scopes::from_list(items.iter().map(|s| &**s)).ok_or_else(|| invalid(name))
        }
        Some(None) => Err(invalid(name)),
    }
}

impl<'a> Payload<'a> {
    /// Types the registered claims. A registered claim of the wrong JSON type is an error.
    pub(crate) fn registered(&mut self) -> Result<Registered<'a>, ErrorKind> {
        let f = std::mem::take(&mut self.raw);
        let scopes = match (f.scope, f.scp) {
            (Some(scope), _) => scopes(Some(scope), "scope")?,
            (None, scp) => scopes(scp, "scp")?,
        };
        let (aud, has_aud) = match f.aud {
            None => (Vec::new(), false),
            Some(Some(StrOrList::Str(s))) => (vec![s], true),
            Some(Some(StrOrList::List(items))) => (items, true),
            Some(None) => return Err(invalid("aud")),
        };
        Ok(Registered {
            exp: numeric_date(f.exp, "exp")?,
            nbf: numeric_date(f.nbf, "nbf")?,
            iat: numeric_date(f.iat, "iat")?,
            iss: string(f.iss, "iss")?,
            sub: string(f.sub, "sub")?,
            aud,
            has_aud,
            jti: string(f.jti, "jti")?,
            client_id: string(f.client_id, "client_id")?,
            scopes,
        })
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
        let mut p =
            parse_payload(r#"{"exp":1.5,"aud":["a","b"],"scp":["x","y"],"iss":"i"}"#).unwrap();
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
            let mut p = parse_payload(json).unwrap();
            assert_eq!(
                p.registered().err(),
                Some(ErrorKind::InvalidClaim(name.into())),
                "{json}"
            );
        }
    }
}
