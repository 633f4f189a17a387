//! Verified claims: the registered ones read once, the whole object kept for the handler.
//!
//! ```
//! # use portcullis_core::Claims;
//! # fn show(claims: &Claims) {
//! // In a handler, after portcullis has verified the token:
//! let subject = claims.subject();
//! let can_read = claims.scopes().contains("orders.read");
//! # let _ = (subject, can_read);
//! # }
//! ```

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::alg::Algorithm;
use crate::error::{ErrorKind, MalformedPart};
use crate::scan::{Reader, ScanError, StrOrList};
use crate::scope::Scopes;

/// Claims of a verified token.
///
/// The registered claims are parsed once during validation; the payload is kept as JSON text
/// so that [`Claims::deserialize`] can read the application's own claims type from it.
/// Cloning is cheap (one reference count): the layer puts the claims in each request's
/// extensions, and a verified-token cache hands out the same claims again.
#[derive(Clone)]
pub struct Claims {
    inner: Arc<Inner>,
}

struct Inner {
    raw: Box<str>,
    /// `None` for claims that no signature vouched for here (token introspection).
    alg: Option<Algorithm>,
    kid: Option<Arc<str>>,
    iss: Option<Text>,
    sub: Option<Text>,
    aud: Audiences<Text>,
    /// Whether `aud` was present (an empty array is present, and holds no audience).
    has_aud: bool,
    exp: Option<f64>,
    nbf: Option<f64>,
    iat: Option<f64>,
    jti: Option<Text>,
    client_id: Option<Text>,
    tid: Option<Text>,
    scopes: Scopes,
    roles: Scopes,
    cnf: Option<Confirmation>,
}

/// A claim's text: most often the very bytes of the payload (a JSON string without escapes),
/// kept as a span of [`Inner::raw`] rather than copied; otherwise the unescaped string.
enum Text {
    Span(u32, u32),
    Owned(Box<str>),
}

impl Text {
    /// `value` as read from `payload`: a span when it borrows from it.
    #[inline]
    fn of(payload: &str, value: Cow<'_, str>) -> Text {
        if let Cow::Borrowed(s) = &value {
            // The offset of a borrowed slice within the payload, by address: no unsafe. Live
            // allocations never overlap, so a slice whose address range lies within the
            // payload's is a part of it (and `get` below still checks char boundaries).
            let start = (s.as_ptr() as usize).wrapping_sub(payload.as_ptr() as usize);
            if let (Some(end), Ok(a)) = (start.checked_add(s.len()), u32::try_from(start))
                && end <= payload.len()
                && let Ok(b) = u32::try_from(end)
                && payload.is_char_boundary(start)
                && payload.is_char_boundary(end)
            {
                return Text::Span(a, b);
            }
        }
        Text::Owned(value.into_owned().into_boxed_str())
    }
}

/// Claims waiting for their JSON text (see [`Payload::claims`]), whose texts are read in
/// the payload they came from meanwhile.
pub(crate) struct Unfinished(Inner);

impl Unfinished {
    /// `exp`, `nbf` and `iat`.
    pub(crate) fn times(&self) -> (Option<f64>, Option<f64>, Option<f64>) {
        (self.0.exp, self.0.nbf, self.0.iat)
    }

    /// `iss`, read in `payload` (the text these claims came from).
    pub(crate) fn issuer<'s>(&'s self, payload: &'s str) -> Option<&'s str> {
        text_in(payload, self.0.iss.as_ref())
    }

    /// `tid`, read in `payload`.
    pub(crate) fn tenant<'s>(&'s self, payload: &'s str) -> Option<&'s str> {
        text_in(payload, self.0.tid.as_ref())
    }

    /// The audiences, read in `payload`; `None` when `aud` is absent (an empty array is
    /// present, and names no audience).
    pub(crate) fn audience<'s>(
        &'s self,
        payload: &'s str,
    ) -> Option<impl Iterator<Item = &'s str>> {
        self.0.has_aud.then(|| {
            self.0
                .aud
                .as_slice()
                .iter()
                .filter_map(move |a| text_in(payload, Some(a)))
        })
    }

    /// Replaces the scopes read from `scope` / `scp` with those of the validator's
    /// configured sources.
    pub(crate) fn set_scopes(&mut self, scopes: Scopes) {
        self.0.scopes = scopes;
    }

    /// Replaces the roles read from `roles` with those of the validator's configured sources.
    pub(crate) fn set_roles(&mut self, roles: Scopes) {
        self.0.roles = roles;
    }

    /// The claims, with `raw`: the very text they were read from (their claims point into
    /// it by offset).
    #[inline]
    pub(crate) fn finish(mut self, raw: Box<str>) -> Claims {
        self.0.raw = raw;
        Claims {
            inner: Arc::new(self.0),
        }
    }
}

/// The audiences of a token: one (the common case, kept without an allocation of its own)
/// or a list.
pub(crate) enum Audiences<T> {
    One(T),
    Many(Box<[T]>),
}

impl<T> Default for Audiences<T> {
    fn default() -> Self {
        Audiences::Many(Box::default())
    }
}

impl<T> Audiences<T> {
    pub(crate) fn as_slice(&self) -> &[T] {
        match self {
            Audiences::One(one) => std::slice::from_ref(one),
            Audiences::Many(list) => list,
        }
    }
}

/// A claim's text, read in `raw`, the payload it came from.
fn text_in<'s>(raw: &'s str, text: Option<&'s Text>) -> Option<&'s str> {
    match text? {
        Text::Span(a, b) => raw.get(*a as usize..*b as usize),
        Text::Owned(s) => Some(s),
    }
}

impl Inner {
    fn text<'s>(&'s self, text: Option<&'s Text>) -> Option<&'s str> {
        text_in(&self.raw, text)
    }
}

impl Claims {
    /// The issuer (`iss`).
    #[must_use]
    pub fn issuer(&self) -> Option<&str> {
        self.inner.text(self.inner.iss.as_ref())
    }

    /// The subject (`sub`).
    #[must_use]
    pub fn subject(&self) -> Option<&str> {
        self.inner.text(self.inner.sub.as_ref())
    }

    /// The audiences (`aud`), whether it was a string or an array.
    pub fn audience(&self) -> impl Iterator<Item = &str> {
        self.inner
            .aud
            .as_slice()
            .iter()
            .map(|a| self.inner.text(Some(a)).unwrap_or_default())
    }

    /// Expiry (`exp`), seconds since the epoch.
    #[must_use]
    pub fn expires_at(&self) -> Option<f64> {
        self.inner.exp
    }

    /// Not-before (`nbf`), seconds since the epoch.
    #[must_use]
    pub fn not_before(&self) -> Option<f64> {
        self.inner.nbf
    }

    /// Issued-at (`iat`), seconds since the epoch.
    #[must_use]
    pub fn issued_at(&self) -> Option<f64> {
        self.inner.iat
    }

    /// The token id (`jti`).
    #[must_use]
    pub fn jwt_id(&self) -> Option<&str> {
        self.inner.text(self.inner.jti.as_ref())
    }

    /// The OAuth client the token was issued to (`client_id`, RFC 9068).
    #[must_use]
    pub fn client_id(&self) -> Option<&str> {
        self.inner.text(self.inner.client_id.as_ref())
    }

    /// The granted scopes, from `scope` (space-separated string, RFC 9068) or else `scp`
    /// (array or string, as some authorization servers emit), unless the validator reads
    /// them from other claims ([`ValidatorBuilder::scope_sources`](crate::ValidatorBuilder::scope_sources)).
    #[must_use]
    pub fn scopes(&self) -> &Scopes {
        &self.inner.scopes
    }

    /// The granted roles, as a set of whole names (the type of scopes): from the `roles`
    /// claim (an array of strings, or a space-separated string: RFC 9068 section 2.2.3.1,
    /// Entra ID's app roles), unless the validator reads them from other claims
    /// ([`ValidatorBuilder::role_sources`](crate::ValidatorBuilder::role_sources):
    /// Keycloak's `realm_access.roles`, ...). A `roles` claim of another JSON type grants
    /// none, and a name holding a space is never granted.
    #[must_use]
    pub fn roles(&self) -> &Scopes {
        &self.inner.roles
    }

    /// The tenant (`tid`, as Microsoft Entra ID names it): the tenant an issuer template's
    /// placeholder was bound to, for a token of a multi-tenant issuer.
    #[must_use]
    pub fn tenant_id(&self) -> Option<&str> {
        self.inner.text(self.inner.tid.as_ref())
    }

    /// The algorithm the token was signed with; `None` for claims that no signature vouched
    /// for here, such as those of an opaque token learned by introspection
    /// ([`Claims::from_trusted_json`]).
    #[must_use]
    pub fn algorithm(&self) -> Option<Algorithm> {
        self.inner.alg
    }

    /// The `kid` of the key that verified the token (`None` without a `kid`, and for claims
    /// from [`Claims::from_trusted_json`]).
    #[must_use]
    pub fn key_id(&self) -> Option<&str> {
        self.inner.kid.as_deref()
    }

    /// The payload as JSON text.
    #[must_use]
    pub fn as_json(&self) -> &str {
        &self.inner.raw
    }

    /// One claim by name, parsed from the payload (this parses the payload again; use
    /// [`Claims::deserialize`] with your own type to read many).
    #[must_use]
    pub fn get(&self, name: &str) -> Option<serde_json::Value> {
        let mut map: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&self.inner.raw).ok()?;
        map.remove(name)
    }

    /// The application's own claims type, deserialized from the payload.
    ///
    /// # Errors
    /// When the payload does not fit `T`.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(&self.inner.raw)
    }

    /// Whether the claims have `aud` at all (a string, or an array, even an empty one).
    pub(crate) fn has_audience(&self) -> bool {
        self.inner.has_aud
    }

    /// Whether the token is sender-constrained: it has a confirmation claim (`cnf`, RFC 7800),
    /// binding it to a DPoP key (RFC 9449) or a client certificate (RFC 8705). A validator
    /// refuses such tokens unless told they are accepted as plain bearer tokens.
    #[must_use]
    pub fn is_sender_constrained(&self) -> bool {
        self.inner.cnf.is_some()
    }

    /// The confirmation claim (`cnf`, RFC 7800) as far as portcullis checks it: the DPoP key
    /// thumbprint (`jkt`, RFC 9449) and the client-certificate thumbprint (`x5t#S256`,
    /// RFC 8705). `None` when the token has no `cnf`.
    #[must_use]
    pub fn confirmation(&self) -> Option<&Confirmation> {
        self.inner.cnf.as_ref()
    }

    /// Claims read from a JSON object whose authenticity the caller established without a
    /// signature: the response of an RFC 7662 introspection endpoint, received over TLS from
    /// the authorization server in answer to an authenticated request. The text is read with
    /// the same strict parser as a JWT payload (one JSON object, no member name twice at any
    /// depth, the registered claims typed: `exp` a number, `aud` a string or an array of
    /// strings, ...), and kept whole for [`Claims::deserialize`] and [`Claims::get`], members
    /// portcullis does not know included. [`Claims::algorithm`] and [`Claims::key_id`] are
    /// `None`.
    ///
    /// Nothing else is checked here: run [`Validator::check_claims`](crate::Validator::check_claims)
    /// for the issuer, audience, time and custom rules before trusting the result.
    ///
    /// ```
    /// use portcullis_core::{Claims, ErrorKind};
    ///
    /// let claims = Claims::from_trusted_json(
    ///     r#"{"active":true,"iss":"https://auth.example.com","aud":"api","exp":1900000000,"scope":"read"}"#,
    /// ).unwrap();
    /// assert_eq!(claims.issuer(), Some("https://auth.example.com"));
    /// assert!(claims.scopes().contains("read"));
    /// assert_eq!(claims.algorithm(), None);
    /// assert_eq!(claims.get("active"), Some(serde_json::Value::Bool(true)));
    ///
    /// let refused = Claims::from_trusted_json(r#"{"exp":"tomorrow"}"#).unwrap_err();
    /// assert_eq!(refused.kind(), &ErrorKind::InvalidClaim("exp".into()));
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::Malformed`] (with [`MalformedPart::Payload`] or
    /// [`MalformedPart::DuplicatePayloadMember`]) for text that is not one strict JSON
    /// object; [`ErrorKind::InvalidClaim`] for a registered claim of the wrong type.
    pub fn from_trusted_json(json: &str) -> Result<Claims, crate::AuthError> {
        let claims = parse_payload(json, &[])?.claims(None, None)?;
        Ok(claims.finish(json.into()))
    }
}

impl fmt::Debug for Claims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The registered claims only: custom claims may hold personal data.
        f.debug_struct("Claims")
            .field("iss", &self.issuer())
            .field("sub", &self.subject())
            .field("aud", &self.audience().collect::<Vec<_>>())
            .field("exp", &self.inner.exp)
            .field("scopes", &self.inner.scopes)
            .finish_non_exhaustive()
    }
}

/// The payload read: the registered claims, each typed or marked as of the wrong type, and
/// which required claim (by index) is missing, if any.
pub(crate) struct Payload<'a> {
    raw: Fields<'a>,
    /// The text read.
    json: &'a str,
    pub(crate) missing_required: Option<usize>,
}

/// A registered claim as found: absent (`None`), of the wrong JSON type (`Some(None)`), or
/// typed (`Some(Some(value))`).
type Field<T> = Option<Option<T>>;

/// By the kind of value, indexed by [`Slot`] (one code path per kind, not one per claim:
/// this runs for every member of every token). The strings are already [`Text`]s of the
/// payload, as the claims keep them.
#[derive(Default)]
struct Fields<'a> {
    /// `iss`, `sub`, `jti`, `client_id`, `tid`.
    texts: [Field<Text>; 5],
    /// `exp`, `nbf`, `iat`.
    numbers: [Field<f64>; 3],
    /// `aud`, `scope`, `scp`, `roles`.
    lists: [Field<StrOrList<'a>>; 4],
    cnf: Field<RawConfirmation<'a>>,
}

/// Where a registered claim goes in [`Fields`].
#[derive(Clone, Copy)]
enum Slot {
    Text(usize),
    Number(usize),
    List(usize),
    Cnf,
}

/// The members of `cnf` portcullis reads, as found.
#[derive(Default)]
struct RawConfirmation<'a> {
    jkt: Field<Cow<'a, str>>,
    x5t_s256: Field<Cow<'a, str>>,
}

/// The registered claims portcullis reads.
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
    Tid,
    Roles,
    Cnf,
}

impl RegisteredName {
    /// Every name, in the order of their numbers (`name as u32`).
    const ALL: [RegisteredName; 13] = [
        RegisteredName::Iss,
        RegisteredName::Sub,
        RegisteredName::Aud,
        RegisteredName::Exp,
        RegisteredName::Nbf,
        RegisteredName::Iat,
        RegisteredName::Jti,
        RegisteredName::ClientId,
        RegisteredName::Scope,
        RegisteredName::Scp,
        RegisteredName::Tid,
        RegisteredName::Roles,
        RegisteredName::Cnf,
    ];

    fn slot(self) -> Slot {
        match self {
            RegisteredName::Iss => Slot::Text(0),
            RegisteredName::Sub => Slot::Text(1),
            RegisteredName::Jti => Slot::Text(2),
            RegisteredName::ClientId => Slot::Text(3),
            RegisteredName::Tid => Slot::Text(4),
            RegisteredName::Exp => Slot::Number(0),
            RegisteredName::Nbf => Slot::Number(1),
            RegisteredName::Iat => Slot::Number(2),
            RegisteredName::Aud => Slot::List(0),
            RegisteredName::Scope => Slot::List(1),
            RegisteredName::Scp => Slot::List(2),
            RegisteredName::Roles => Slot::List(3),
            RegisteredName::Cnf => Slot::Cnf,
        }
    }

    fn from_number(n: u32) -> Option<RegisteredName> {
        Self::ALL.get(n as usize).copied()
    }

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
            "tid" => RegisteredName::Tid,
            "roles" => RegisteredName::Roles,
            "cnf" => RegisteredName::Cnf,
            _ => return None,
        })
    }
}

/// Reads the payload: a JSON object, no member name twice at any depth. `required` names
/// claims that must be present; the first absent one is reported in the result.
pub(crate) fn parse_payload<'a>(
    json: &'a str,
    required: &[Box<str>],
) -> Result<Payload<'a>, ErrorKind> {
    let mut f = Fields::default();
    let mut present = vec![false; required.len()];
    let known = |name: &str| RegisteredName::of(name).map(|n| n as u32);
    let text = |value: Cow<'a, str>| Text::of(json, value);
    let scanned = Reader::new(json).top_object_knowing(known, |r, name, number| {
        if !required.is_empty()
            && let Some(i) = required.iter().position(|req| **req == *name)
            && let Some(seen) = present.get_mut(i)
        {
            *seen = true;
        }
        // A slot out of its array cannot happen (`Slot`'s indexes are constants); the value
        // is then skipped like an unknown claim's.
        match number
            .and_then(RegisteredName::from_number)
            .map(RegisteredName::slot)
        {
            Some(Slot::Text(i)) => match f.texts.get_mut(i) {
                Some(slot) => *slot = Some(r.string_or_other()?.map(text)),
                None => r.skip_value()?,
            },
            Some(Slot::Number(i)) => match f.numbers.get_mut(i) {
                Some(slot) => *slot = Some(r.number_or_other()?),
                None => r.skip_value()?,
            },
            Some(Slot::List(i)) => match f.lists.get_mut(i) {
                Some(slot) => *slot = Some(r.str_or_list_or_other()?),
                None => r.skip_value()?,
            },
            Some(Slot::Cnf) => {
                let mut cnf = RawConfirmation::default();
                let object = r.object_or_other(|r, name| {
                    match &*name {
                        "jkt" => cnf.jkt = Some(r.string_or_other()?),
                        "x5t#S256" => cnf.x5t_s256 = Some(r.string_or_other()?),
                        _ => r.skip_value()?,
                    }
                    Ok(())
                })?;
                f.cnf = Some(object.then_some(cnf));
            }
            None => r.skip_value()?,
        }
        Ok(())
    });
    match scanned {
        Ok(()) => Ok(Payload {
            raw: f,
            json,
            missing_required: present.iter().position(|p| !p),
        }),
        Err(ScanError::Duplicate) => {
            Err(ErrorKind::Malformed(MalformedPart::DuplicatePayloadMember))
        }
        Err(ScanError::Syntax) => Err(ErrorKind::Malformed(MalformedPart::Payload)),
    }
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

fn string(field: Field<Text>, name: &'static str) -> Result<Option<Text>, ErrorKind> {
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

/// A SHA-256 thumbprint member of `cnf`: base64url of exactly 32 bytes.
fn thumbprint(field: Field<Cow<'_, str>>) -> Result<Option<[u8; 32]>, ErrorKind> {
    match field {
        None => Ok(None),
        Some(Some(text)) => crate::b64::decode(&text)
            .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
            .map(Some)
            .ok_or_else(|| invalid("cnf")),
        Some(None) => Err(invalid("cnf")),
    }
}

fn confirmation(field: Field<RawConfirmation<'_>>) -> Result<Option<Confirmation>, ErrorKind> {
    match field {
        None => Ok(None),
        Some(Some(raw)) => Ok(Some(Confirmation {
            jkt: thumbprint(raw.jkt)?,
            x5t_s256: thumbprint(raw.x5t_s256)?,
        })),
        Some(None) => Err(invalid("cnf")),
    }
}

/// The confirmation claim of a sender-constrained token (`cnf`, RFC 7800): the proof of
/// possession its presentation needs. A `cnf` with neither member below binds the token to a
/// method portcullis does not check, so such a token is never accepted as a bearer token.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Confirmation {
    jkt: Option<[u8; 32]>,
    x5t_s256: Option<[u8; 32]>,
}

impl Confirmation {
    /// `jkt` (RFC 9449 section 6): the RFC 7638 SHA-256 thumbprint of the DPoP proof key the
    /// token is bound to, decoded.
    #[must_use]
    pub fn jwk_thumbprint(&self) -> Option<&[u8; 32]> {
        self.jkt.as_ref()
    }

    /// `x5t#S256` (RFC 8705 section 3.1): the SHA-256 digest of the DER of the client
    /// certificate the token is bound to, decoded.
    #[must_use]
    pub fn certificate_thumbprint(&self) -> Option<&[u8; 32]> {
        self.x5t_s256.as_ref()
    }
}

impl fmt::Debug for Confirmation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Confirmation")
            .field("jkt", &self.jkt.is_some())
            .field("x5t#S256", &self.x5t_s256.is_some())
            .finish()
    }
}

impl Payload<'_> {
    /// Types the registered claims into claims still without their JSON text (the payload
    /// they were read from, which [`Unfinished::finish`] gives them: the owner of a decoded
    /// payload hands its buffer over once the rules have read it, and the text is never
    /// copied). A registered claim of the wrong JSON type is an error: the first of
    /// `scope` (or `scp`), `aud`, `exp`, `nbf`, `iat`, `iss`, `sub`, `jti`, `client_id`, `cnf`.
    #[inline]
    pub(crate) fn claims(
        self,
        alg: Option<Algorithm>,
        kid: Option<&Arc<str>>,
    ) -> Result<Unfinished, ErrorKind> {
        let Payload { raw: f, json, .. } = self;
        let [iss, sub, jti, client_id, tid] = f.texts;
        let [exp, nbf, iat] = f.numbers;
        let [aud, scope, scp, roles] = f.lists;
        let scopes = match (scope, scp) {
            (Some(scope), _) => scopes(Some(scope), "scope")?,
            (None, scp) => scopes(scp, "scp")?,
        };
        let text = |value: Cow<'_, str>| Text::of(json, value);
        let (aud, has_aud) = match aud {
            None => (Audiences::default(), false),
            Some(Some(StrOrList::Str(s))) => (Audiences::One(text(s)), true),
            Some(Some(StrOrList::List(items))) => {
                (Audiences::Many(items.into_iter().map(text).collect()), true)
            }
            Some(None) => return Err(invalid("aud")),
        };
        Ok(Unfinished(Inner {
            exp: numeric_date(exp, "exp")?,
            nbf: numeric_date(nbf, "nbf")?,
            iat: numeric_date(iat, "iat")?,
            iss: string(iss, "iss")?,
            sub: string(sub, "sub")?,
            aud,
            has_aud,
            jti: string(jti, "jti")?,
            client_id: string(client_id, "client_id")?,
            tid: tid.flatten(),
            scopes,
            roles: match roles {
                Some(Some(StrOrList::Str(s))) => Scopes::from_space_separated(&s),
                Some(Some(StrOrList::List(items))) => {
                    Scopes::from_names(items.iter().map(|s| &**s))
                }
                _ => Scopes::default(),
            },
            cnf: confirmation(f.cnf)?,
            raw: Box::default(),
            alg,
            kid: kid.cloned(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_names_are_numbered_in_order() {
        for (i, name) in RegisteredName::ALL.iter().enumerate() {
            assert_eq!(*name as usize, i);
            assert!(matches!(
                RegisteredName::from_number(u32::try_from(i).unwrap()),
                Some(n) if n as usize == i
            ));
        }
        assert!(RegisteredName::from_number(13).is_none());
        // Each claim has a slot of its own, inside its array.
        let f = Fields::default();
        let mut seen = Vec::new();
        for name in RegisteredName::ALL {
            let slot = match name.slot() {
                Slot::Text(i) => (0, i, i < f.texts.len()),
                Slot::Number(i) => (1, i, i < f.numbers.len()),
                Slot::List(i) => (2, i, i < f.lists.len()),
                Slot::Cnf => (3, 0, true),
            };
            assert!(slot.2 && !seen.contains(&slot), "{}", name as u32);
            seen.push(slot);
        }
    }

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
                parse_payload(json, &[]).err(),
                Some(ErrorKind::Malformed(MalformedPart::DuplicatePayloadMember)),
                "{json}"
            );
        }
        assert!(parse_payload(r#"{"a":{"b":1},"c":{"b":2}}"#, &[]).is_ok());
    }

    #[test]
    fn claim_texts_read_back_whether_borrowed_or_unescaped() {
        let json = r#"{"iss":"https:\/\/a.example","sub":"alice","aud":["x","y\u0021"],"jti":"j","client_id":"c\"q","exp":5}"#;
        let claims = parse_payload(json, &[])
            .unwrap()
            .claims(Some(Algorithm::HS256), Some(&Arc::from("k")))
            .unwrap()
            .finish(json.into());
        assert_eq!(claims.issuer(), Some("https://a.example"));
        assert_eq!(claims.subject(), Some("alice"));
        assert_eq!(claims.audience().collect::<Vec<_>>(), ["x", "y!"]);
        assert_eq!(claims.jwt_id(), Some("j"));
        assert_eq!(claims.client_id(), Some("c\"q"));
        assert_eq!(claims.key_id(), Some("k"));
        // A text that does not borrow from this payload is copied, never mis-sliced.
        assert!(matches!(
            Text::of(json, Cow::Borrowed("alice")),
            Text::Owned(_)
        ));
        assert!(matches!(
            Text::of(json, Cow::Borrowed(&json[30..35])),
            Text::Span(30, 35)
        ));
    }

    #[test]
    fn non_objects_are_malformed() {
        for json in ["[]", "1", "\"x\"", "null", "{", r#"{"a":1} {}"#, ""] {
            assert_eq!(
                parse_payload(json, &[]).err(),
                Some(ErrorKind::Malformed(MalformedPart::Payload)),
                "{json}"
            );
        }
    }

    #[test]
    fn registered_claims_are_typed() {
        let json = r#"{"exp":1.5,"aud":["a","b"],"scp":["x","y"],"iss":"i","tid":"t"}"#;
        let r = parse_payload(json, &[])
            .unwrap()
            .claims(None, None)
            .unwrap();
        assert_eq!(r.times(), (Some(1.5), None, None));
        assert_eq!(r.audience(json).unwrap().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(r.issuer(json), Some("i"));
        assert_eq!(r.tenant(json), Some("t"));
        let claims = r.finish(json.into());
        assert_eq!(claims.scopes().as_str(), "x y");
        // No `aud` is not an empty `aud`; both name no audience.
        let none = r#"{"nbf":1,"iat":2}"#;
        let r = parse_payload(none, &[])
            .unwrap()
            .claims(None, None)
            .unwrap();
        assert!(r.audience(none).is_none());
        assert_eq!(r.times(), (None, Some(1.0), Some(2.0)));
        let empty = r#"{"aud":[]}"#;
        let r = parse_payload(empty, &[])
            .unwrap()
            .claims(None, None)
            .unwrap();
        assert_eq!(r.audience(empty).map(Iterator::count), Some(0));
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
            // Several wrong: the first in the order of the rules.
            (r#"{"exp":"x","scope":1}"#, "scope"),
            (r#"{"exp":"x","scope":"a","scp":1}"#, "exp"),
            (r#"{"exp":"x","scp":1}"#, "scp"),
            (r#"{"exp":"x","aud":1}"#, "aud"),
            (r#"{"iss":1,"iat":"x","nbf":"y"}"#, "nbf"),
            (r#"{"iss":1,"iat":"x"}"#, "iat"),
            (r#"{"sub":1,"iss":1}"#, "iss"),
            (r#"{"jti":1,"sub":1}"#, "sub"),
            (r#"{"client_id":1,"jti":1}"#, "jti"),
            (r#"{"cnf":1,"client_id":1}"#, "client_id"),
            (r#"{"cnf":1,"tid":1,"roles":1}"#, "cnf"),
        ] {
            let p = parse_payload(json, &[]).unwrap();
            assert_eq!(
                p.claims(None, None).err(),
                Some(ErrorKind::InvalidClaim(name.into())),
                "{json}"
            );
        }
    }
}
