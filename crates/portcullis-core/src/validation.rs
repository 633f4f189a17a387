//! Token validation: the whole check of one token against a key set and the claim rules.
//!
//! ```
//! use portcullis_core::{Algorithm, ErrorKind, KeySet, Validator, VerifyingKey};
//!
//! let keys = KeySet::new(vec![VerifyingKey::hmac(Algorithm::HS256, &[7u8; 32]).unwrap()]);
//! let validator = Validator::builder()
//!     .issuer("https://issuer.example")
//!     .audience("api")
//!     .algorithms([Algorithm::HS256])
//!     .build()
//!     .unwrap();
//! let refused = validator.validate("not-a-token", &keys).unwrap_err();
//! assert!(matches!(refused.kind(), ErrorKind::Malformed(_)));
//! ```

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::alg::{Algorithm, AlgorithmSet};
use crate::claim_rule::ClaimRule;
use crate::claims::{self, Claims, Confirmation, Unfinished};
use crate::clock::{Clock, SystemClock};
use crate::error::{AuthError, ConfigError, ErrorKind, MalformedPart, ProofError};
use crate::jws::{self, DEFAULT_MAX_TOKEN_LEN};
use crate::keyset::KeySet;
use crate::scope::{self, ScopeSource};
use crate::tenant::IssuerTemplate;
use crate::verify::{Presentation, Scheme};
use crate::{b64, header_memo};

/// The default clock-skew allowance for `exp`, `nbf` and `iat`: 60 seconds (Envoy, Spring,
/// Nimbus all use 60 s).
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);

/// What the header's `typ` must say (RFC 9068 section 2.1, RFC 8725 section 3.11).
///
/// One vocabulary from code to configuration file to command line: [`TypPolicy::as_str`] and
/// its [`FromStr`](std::str::FromStr) (and serde, with the feature `serde`) use the names
/// `at+jwt`, `at+jwt-or-jwt` and `danger-ignore`.
///
/// ```
/// use portcullis_core::TypPolicy;
///
/// assert_eq!("at+jwt".parse::<TypPolicy>(), Ok(TypPolicy::RequireAccessToken));
/// assert_eq!(TypPolicy::default().as_str(), "at+jwt-or-jwt");
/// assert!("ignore".parse::<TypPolicy>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum TypPolicy {
    /// `at+jwt`: only `at+jwt` (or `application/at+jwt`); refuses ID tokens and other JWTs
    /// outright.
    RequireAccessToken,
    /// `at+jwt-or-jwt`: `at+jwt`, `JWT`, or no `typ` at all. The default, because many
    /// authorization servers still issue access tokens typed `JWT`; any other type
    /// (`dpop+jwt`, `logout+jwt`, ...) is refused.
    #[default]
    AccessTokenOrJwt,
    /// `danger-ignore`: any `typ`, a DPoP proof or a logout token included: a weakening.
    DangerIgnore,
}

impl TypPolicy {
    /// Every policy, strictest first.
    pub const ALL: [TypPolicy; 3] = [
        TypPolicy::RequireAccessToken,
        TypPolicy::AccessTokenOrJwt,
        TypPolicy::DangerIgnore,
    ];

    /// The policy's name in configuration files and on the command line.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            TypPolicy::RequireAccessToken => "at+jwt",
            TypPolicy::AccessTokenOrJwt => "at+jwt-or-jwt",
            TypPolicy::DangerIgnore => "danger-ignore",
        }
    }
}

impl fmt::Display for TypPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing a `typ` policy name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownTypPolicy(());

impl fmt::Display for UnknownTypPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unknown typ policy (at+jwt, at+jwt-or-jwt, danger-ignore)")
    }
}

impl std::error::Error for UnknownTypPolicy {}

impl std::str::FromStr for TypPolicy {
    type Err = UnknownTypPolicy;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TypPolicy::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or(UnknownTypPolicy(()))
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for TypPolicy {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for TypPolicy {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        name.parse().map_err(|_| {
            serde::de::Error::custom(format_args!(
                "unknown typ policy `{name}` (at+jwt, at+jwt-or-jwt, danger-ignore)"
            ))
        })
    }
}

/// A custom check of verified claims; `Err` holds the reason that is logged.
pub type CustomValidator = dyn Fn(&Claims) -> Result<(), Cow<'static, str>> + Send + Sync;

/// Checks tokens. Cheap to clone; build one with [`Validator::builder`].
#[derive(Clone)]
pub struct Validator {
    config: Arc<Config>,
}

struct Config {
    issuers: Vec<Box<str>>,
    audiences: Vec<Box<str>>,
    /// Resource identifiers (RFC 8707) accepted as audiences after normalisation.
    resources: Vec<crate::resource::ResourceIdentifier>,
    any_audience: bool,
    accept_sender_constrained: bool,
    any_issuer: bool,
    algorithms: AlgorithmSet,
    leeway: f64,
    max_age: Option<f64>,
    typ: TypPolicy,
    required: Vec<Box<str>>,
    understood_crit: Vec<Box<str>>,
    validators: Vec<Arc<CustomValidator>>,
    max_token_len: usize,
    clock: Arc<dyn Clock>,
    templates: Vec<IssuerTemplate>,
    /// The claim that names this API (a client id) instead of `aud`.
    audience_claim: Option<Box<str>>,
    scope_sources: Option<Box<[ScopeSource]>>,
    scope_prefix: Option<Box<str>>,
    role_sources: Option<Box<[ScopeSource]>>,
    rules: Vec<ClaimRule>,
    /// Whether a rule above needs the payload as a JSON value (set by `build`): the default
    /// path never parses it twice.
    extended: bool,
    /// Unique to these settings (set by `build`): what [`header_memo`] remembers a header
    /// for, so that a header one validator accepted is never taken as accepted by another.
    id: u64,
}

impl Config {
    /// `exp` (required), `nbf`, `iat`, and the maximum age, against the clock, with leeway.
    fn time_rules(
        &self,
        exp: Option<f64>,
        nbf: Option<f64>,
        iat: Option<f64>,
    ) -> Result<(), ErrorKind> {
        self.time_rules_at(self.clock.now_unix(), exp, nbf, iat)
    }

    fn time_rules_at(
        &self,
        now: f64,
        exp: Option<f64>,
        nbf: Option<f64>,
        iat: Option<f64>,
    ) -> Result<(), ErrorKind> {
        let Some(exp) = exp else {
            return Err(ErrorKind::MissingClaim(Cow::Borrowed("exp")));
        };
        if now >= exp + self.leeway {
            return Err(ErrorKind::Expired);
        }
        if let Some(nbf) = nbf
            && now + self.leeway < nbf
        {
            return Err(ErrorKind::NotYetValid);
        }
        if let Some(iat) = iat
            && iat > now + self.leeway
        {
            return Err(ErrorKind::IssuedInFuture);
        }
        if let Some(max_age) = self.max_age {
            let Some(iat) = iat else {
                return Err(ErrorKind::MissingClaim(Cow::Borrowed("iat")));
            };
            if now - iat > max_age + self.leeway {
                return Err(ErrorKind::TooOld);
            }
        }
        Ok(())
    }
}

/// Builds a [`Validator`]; unsafe or incomplete settings are refused by [`ValidatorBuilder::build`].
#[must_use]
pub struct ValidatorBuilder {
    config: Config,
    algorithms_set: bool,
}

impl Validator {
    /// A builder with the safe defaults: asymmetric algorithms only, 60 s leeway, `typ`
    /// `at+jwt`/`JWT`/absent, 8 KiB tokens, the system clock. An issuer and an audience must
    /// be given (or explicitly waived with a `danger_*` method).
    pub fn builder() -> ValidatorBuilder {
        ValidatorBuilder {
            config: Config {
                issuers: Vec::new(),
                audiences: Vec::new(),
                resources: Vec::new(),
                any_audience: false,
                accept_sender_constrained: false,
                any_issuer: false,
                algorithms: AlgorithmSet::ASYMMETRIC,
                leeway: DEFAULT_LEEWAY.as_secs_f64(),
                max_age: None,
                typ: TypPolicy::default(),
                required: Vec::new(),
                understood_crit: Vec::new(),
                validators: Vec::new(),
                max_token_len: DEFAULT_MAX_TOKEN_LEN,
                clock: Arc::new(SystemClock),
                templates: Vec::new(),
                audience_claim: None,
                scope_sources: None,
                scope_prefix: None,
                role_sources: None,
                rules: Vec::new(),
                extended: false,
                id: 0,
            },
            algorithms_set: false,
        }
    }

    /// The algorithms this validator accepts.
    #[must_use]
    pub fn algorithms(&self) -> AlgorithmSet {
        self.config.algorithms
    }

    /// The maximum token length.
    #[must_use]
    pub fn max_token_len(&self) -> usize {
        self.config.max_token_len
    }

    /// The clock the time rules read.
    #[must_use]
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.config.clock
    }

    /// Validates a compact JWS access token against `keys`: shape, header, key choice,
    /// signature, then the claim rules, then the binding rule for a token presented as a
    /// plain bearer token (a sender-constrained token is refused: see
    /// [`Validator::check_binding`]). Returns the verified claims.
    ///
    /// # Errors
    /// An [`AuthError`] whose [`kind`](AuthError::kind) names the first rule that failed.
    pub fn validate(&self, token: &str, keys: &KeySet) -> Result<Claims, AuthError> {
        self.validate_presentation(&Presentation::bearer(token), keys)
    }

    /// [`Validator::validate`] for the token of `presentation`, with the binding rule for
    /// that presentation ([`Validator::check_binding`]): how a verifier validates what a
    /// request presented.
    ///
    /// # Errors
    /// An [`AuthError`] whose [`kind`](AuthError::kind) names the first rule that failed.
    pub fn validate_presentation(
        &self,
        presentation: &Presentation<'_>,
        keys: &KeySet,
    ) -> Result<Claims, AuthError> {
        let claims = self.validate_inner(presentation.token(), keys)?;
        self.check_binding(&claims, presentation)?;
        Ok(claims)
    }

    /// The binding rule, last of all rules, checked again on every presentation of a token
    /// (a cached verdict included), since each request brings its own proof:
    ///
    /// - `cnf.jkt` (DPoP, RFC 9449): the presentation uses the `DPoP` scheme and its proof,
    ///   checked, was signed by that key ([`Presentation::proven_key`]); presented as
    ///   `Bearer`, [`ErrorKind::SenderConstrained`] (no downgrade); another key,
    ///   [`ErrorKind::ProofKeyMismatch`].
    /// - `cnf.x5t#S256` (mutual TLS, RFC 8705): the request's client certificate has that
    ///   thumbprint; another certificate or none, [`ErrorKind::CertificateMismatch`].
    /// - a `cnf` with neither: a binding portcullis cannot check, [`ErrorKind::SenderConstrained`].
    /// - a token without `cnf.jkt` presented with the `DPoP` scheme: [`ErrorKind::NotDpopBound`].
    ///
    /// With [`ValidatorBuilder::danger_accept_sender_constrained_tokens_as_bearer`], a bound
    /// token presented without any proof passes; a proof or certificate that does not match
    /// is still refused.
    ///
    /// # Errors
    /// The kinds above.
    pub fn check_binding(
        &self,
        claims: &Claims,
        presentation: &Presentation<'_>,
    ) -> Result<(), AuthError> {
        check_binding(claims, presentation, self.config.accept_sender_constrained)
            .map_err(AuthError::from)
    }

    /// Whether `other` is this very validator (a clone of it), not merely one with the same
    /// settings: a verified-token cache shared between validators uses it so that a token
    /// accepted by one is never taken as accepted by another.
    #[must_use]
    pub fn same_as(&self, other: &Validator) -> bool {
        Arc::ptr_eq(&self.config, &other.config)
    }

    /// Checks the time rules (`exp`, `nbf`, `iat`, maximum age, with the leeway) of claims
    /// this validator accepted earlier, against its clock now. A verified-token cache runs
    /// this on every hit, so that a cached token stops being accepted when it expires.
    ///
    /// # Errors
    /// [`ErrorKind::Expired`], [`ErrorKind::NotYetValid`], [`ErrorKind::IssuedInFuture`],
    /// [`ErrorKind::TooOld`], or a missing `exp` (or `iat` with a maximum age).
    pub fn check_times(&self, claims: &Claims) -> Result<(), AuthError> {
        self.check_times_at(claims, self.config.clock.now_unix())
    }

    /// As [`Validator::check_times`], at `now`: a time the caller just read from this
    /// validator's [`clock`](Validator::clock), so that one request reads the clock once.
    ///
    /// # Errors
    /// As [`Validator::check_times`].
    pub fn check_times_at(&self, claims: &Claims, now: f64) -> Result<(), AuthError> {
        self.config
            .time_rules_at(
                now,
                claims.expires_at(),
                claims.not_before(),
                claims.issued_at(),
            )
            .map_err(AuthError::from)
    }

    /// The rules a token's protected header must pass, whatever its key: a known, allowed
    /// algorithm, only understood `crit` names, no unencoded payload, the `typ` policy. They
    /// depend on the header and this validator's settings only (hence [`header_memo`]).
    fn header_rules(&self, header: &jws::Header<'_>) -> Result<Algorithm, ErrorKind> {
        let c = &*self.config;
        let alg = Algorithm::from_jose(&header.alg).ok_or(ErrorKind::UnsupportedAlgorithm)?;
        if !c.algorithms.contains(alg) {
            return Err(ErrorKind::DisallowedAlgorithm(alg));
        }
        if let Some(crit) = &header.crit {
            if crit.is_empty() {
                return Err(ErrorKind::Malformed(MalformedPart::Header));
            }
            if !crit
                .iter()
                .all(|name| c.understood_crit.iter().any(|u| **u == **name))
            {
                return Err(ErrorKind::UnknownCriticalHeader);
            }
        }
        // RFC 7797 unencoded payloads change what is signed; portcullis does not support them.
        if header.b64 == Some(false) {
            return Err(ErrorKind::UnknownCriticalHeader);
        }
        check_typ(c.typ, header.typ.as_deref())?;
        Ok(alg)
    }

    fn validate_inner(&self, token: &str, keys: &KeySet) -> Result<Claims, ErrorKind> {
        let c = &*self.config;
        let segments = jws::split(token, c.max_token_len)?;
        let payload = segments.decode_payload()?;
        // The signature on the stack (every algorithm's up to RSA 4096), larger on the heap;
        // the large buffer is zeroed only for the signatures that need it (RSA's).
        let bad_b64 = || ErrorKind::Malformed(MalformedPart::Base64);
        let signature_len = b64::decoded_len(segments.signature.len()).ok_or_else(bad_b64)?;
        let mut small = [0u8; 64];
        let mut large: [u8; 512];
        let mut heap = Vec::new();
        let signature = if let Some(small) = small.get_mut(..signature_len) {
            small
        } else if signature_len <= 512 {
            large = [0u8; 512];
            large.get_mut(..signature_len).ok_or_else(bad_b64)?
        } else {
            heap.resize(signature_len, 0);
            &mut heap[..]
        };
        b64::decode_to(segments.signature, signature).ok_or_else(bad_b64)?;
        // The header: as the last one that passed on this thread, or read and checked now,
        // and then remembered once a token carrying it has verified (so that unsigned junk
        // cannot keep pushing an issuer's header out of the memo).
        let (alg, key) = match header_memo::lookup(c.id, segments.header, |alg, kid| {
            keys.select(kid, alg).map(|key| (alg, key))
        }) {
            Some(found) => {
                let (alg, key) = found?;
                key.verify(alg, segments.signing_input, signature)?;
                (alg, key)
            }
            None => {
                let json = jws::decode_segment(segments.header)?;
                let header = jws::parse_header(&json)?;
                let alg = self.header_rules(&header)?;
                let kid = header.kid.as_deref();
                let key = keys.select(kid, alg)?;
                key.verify(alg, segments.signing_input, signature)?;
                header_memo::remember(c.id, segments.header, alg, kid);
                (alg, key)
            }
        };

        // Authentic from here on. The payload's buffer becomes the claims' JSON text.
        let payload =
            String::from_utf8(payload).map_err(|_| ErrorKind::Malformed(MalformedPart::Payload))?;
        let parsed = claims::parse_payload(&payload, &c.required)?;
        let missing_required = parsed.missing_required;
        let mut unfinished = parsed.claims(Some(alg), key.shared_kid())?;
        let (exp, nbf, iat) = unfinished.times();
        c.time_rules(exp, nbf, iat)?;
        c.claim_rules(
            unfinished.issuer(&payload),
            unfinished.tenant(&payload),
            unfinished.audience(&payload),
            missing_required,
        )?;
        if c.extended {
            let value: Value = serde_json::from_str(&payload)
                .map_err(|_| ErrorKind::Malformed(MalformedPart::Payload))?;
            c.extended_rules(&value)?;
            c.read_sets(&value, &mut unfinished);
        }
        let claims = unfinished.finish(payload.into_boxed_str());
        c.custom_rules(&claims)?;
        Ok(claims)
    }

    /// The claims of a JSON object whose authenticity was established without a signature
    /// (an introspection response, RFC 7662), read as [`Validator::validate`] reads a token's:
    /// [`Claims::scopes`] and [`Claims::roles`] from this validator's scope and role sources
    /// (with its scope prefix), where [`Claims::from_trusted_json`] reads `scope`/`scp` and
    /// `roles`. No rule is checked here: [`Validator::check_claims`] does that.
    ///
    /// ```
    /// use portcullis_core::{ScopeSource, Validator};
    ///
    /// let keycloak = Validator::builder()
    ///     .issuer("https://sso.example.com/realms/shop")
    ///     .audience("orders")
    ///     .role_sources(["realm_access.roles".parse::<ScopeSource>().unwrap()])
    ///     .build()
    ///     .unwrap();
    /// let claims = keycloak
    ///     .trusted_claims(r#"{"active":true,"realm_access":{"roles":["admin"]},"exp":1}"#)
    ///     .unwrap();
    /// assert!(claims.roles().contains("admin"));
    /// ```
    ///
    /// # Errors
    /// As [`Claims::from_trusted_json`].
    pub fn trusted_claims(&self, json: &str) -> Result<Claims, AuthError> {
        let c = &*self.config;
        let mut unfinished = claims::parse_payload(json, &[])?.claims(None, None)?;
        if c.extended {
            let value: Value = serde_json::from_str(json)
                .map_err(|_| ErrorKind::Malformed(MalformedPart::Payload))?;
            c.read_sets(&value, &mut unfinished);
        }
        Ok(unfinished.finish(json.into()))
    }

    /// Runs every claim rule of [`Validator::validate`] on claims whose authenticity was
    /// established without a signature, such as those of an opaque token that the
    /// authorization server's introspection endpoint (RFC 7662) vouched for
    /// ([`Claims::from_trusted_json`]): the time rules (`exp` required, `nbf`, `iat`, maximum
    /// age, with the leeway, against this validator's clock), `iss`, `aud`, the required
    /// claims and the custom validators, in that order, exactly as for a signed token. The
    /// header rules (algorithm, `typ`, `crit`) have no counterpart and are not run.
    ///
    /// ```
    /// use portcullis_core::{Claims, ErrorKind, ManualClock, Validator};
    ///
    /// let validator = Validator::builder()
    ///     .issuer("https://auth.example.com")
    ///     .audience("orders-api")
    ///     .clock(ManualClock::at(1_700_000_000))
    ///     .build()
    ///     .unwrap();
    /// let ours = Claims::from_trusted_json(
    ///     r#"{"iss":"https://auth.example.com","aud":["orders-api"],"exp":1700000600}"#,
    /// ).unwrap();
    /// assert!(validator.check_claims(&ours).is_ok());
    /// let theirs = Claims::from_trusted_json(
    ///     r#"{"iss":"https://auth.example.com","aud":"billing","exp":1700000600}"#,
    /// ).unwrap();
    /// assert_eq!(validator.check_claims(&theirs).unwrap_err().kind(), &ErrorKind::WrongAudience);
    /// ```
    ///
    /// # Errors
    /// An [`AuthError`] whose [`kind`](AuthError::kind) names the first rule that failed.
    pub fn check_claims(&self, claims: &Claims) -> Result<(), AuthError> {
        // Only the scheme counts for the binding rule: the claims are the token's.
        self.check_claims_presentation(claims, &Presentation::bearer(""))
    }

    /// [`Validator::check_claims`] with the binding rule for `presentation`
    /// ([`Validator::check_binding`]), last.
    ///
    /// # Errors
    /// An [`AuthError`] whose [`kind`](AuthError::kind) names the first rule that failed.
    pub fn check_claims_presentation(
        &self,
        claims: &Claims,
        presentation: &Presentation<'_>,
    ) -> Result<(), AuthError> {
        let c = &*self.config;
        c.time_rules(claims.expires_at(), claims.not_before(), claims.issued_at())?;
        let missing_required = if c.required.is_empty() {
            None
        } else {
            claims::parse_payload(claims.as_json(), &c.required)?.missing_required
        };
        let audience = claims.has_audience().then(|| claims.audience());
        c.claim_rules(
            claims.issuer(),
            claims.tenant_id(),
            audience,
            missing_required,
        )?;
        if c.extended {
            let value: Value = serde_json::from_str(claims.as_json())
                .map_err(|_| ErrorKind::Malformed(MalformedPart::Payload))?;
            c.extended_rules(&value)?;
        }
        c.custom_rules(claims)?;
        self.check_binding(claims, presentation)
    }
}

impl Config {
    /// `iss`, `aud` (`None`: absent), the required claims (the index of the first one
    /// missing), after the time rules and before the
    /// custom ones.
    #[inline]
    fn claim_rules<'a>(
        &self,
        iss: Option<&str>,
        tid: Option<&str>,
        audience: Option<impl Iterator<Item = &'a str>>,
        missing_required: Option<usize>,
    ) -> Result<(), ErrorKind> {
        if !self.any_issuer {
            let Some(iss) = iss else {
                return Err(ErrorKind::MissingClaim(Cow::Borrowed("iss")));
            };
            if !self.issuers.iter().any(|i| **i == *iss) {
                self.template_rule(iss, tid)?;
            }
        }
        if !self.any_audience && self.audience_claim.is_none() {
            let Some(mut audience) = audience else {
                return Err(ErrorKind::MissingClaim(Cow::Borrowed("aud")));
            };
            let accepted = |a: &str| {
                self.audiences.iter().any(|want| **want == *a)
                    || self.resources.iter().any(|r| r.is_named_by(a))
            };
            if !audience.any(accepted) {
                return Err(ErrorKind::WrongAudience);
            }
        }
        if let Some(i) = missing_required
            && let Some(name) = self.required.get(i)
        {
            return Err(ErrorKind::MissingClaim(Cow::Owned(name.to_string())));
        }
        Ok(())
    }

    /// An `iss` that is no configured issuer: accepted when it is a template's with the
    /// placeholder bound to the token's own `tid`, for an allowed tenant.
    fn template_rule(&self, iss: &str, tid: Option<&str>) -> Result<(), ErrorKind> {
        let mut refusal = ErrorKind::WrongIssuer;
        for template in &self.templates {
            let Some(tenant) = template.tenant_of(iss) else {
                continue;
            };
            if tid != Some(tenant) {
                // Another tenant's `iss` with this token's `tid`, or no `tid`: the
                // placeholder is bound to the token's tenant, never to what `iss` says.
                continue;
            }
            if template.allows(tenant) {
                return Ok(());
            }
            refusal = ErrorKind::TenantNotAllowed;
        }
        Err(refusal)
    }

    /// The rules that read the payload as a JSON value: the audience claim that replaces
    /// `aud`, then the issuer's claim rules.
    fn extended_rules(&self, payload: &Value) -> Result<(), ErrorKind> {
        if let Some(name) = &self.audience_claim
            && !self.any_audience
        {
            let value = payload
                .get(&**name)
                .ok_or_else(|| ErrorKind::MissingClaim(Cow::Owned(name.to_string())))?;
            let client = value
                .as_str()
                .ok_or_else(|| ErrorKind::InvalidClaim(Cow::Owned(name.to_string())))?;
            if !self.audiences.iter().any(|want| **want == *client) {
                return Err(ErrorKind::WrongAudience);
            }
        }
        if let Some(rule) = self.rules.iter().find(|r| !r.is_satisfied_by_json(payload)) {
            return Err(ErrorKind::ClaimRuleFailed(rule.clone()));
        }
        Ok(())
    }

    /// The scopes and roles of the configured sources, in place of the default ones.
    fn read_sets(&self, payload: &Value, claims: &mut Unfinished) {
        if self.scope_sources.is_some() || self.scope_prefix.is_some() {
            let default = [ScopeSource::Scope, ScopeSource::Scp];
            let sources = self.scope_sources.as_deref().unwrap_or(&default);
            claims.set_scopes(scope::read_sources(
                sources,
                self.scope_prefix.as_deref(),
                payload,
            ));
        }
        if let Some(sources) = &self.role_sources {
            claims.set_roles(scope::read_sources(sources, None, payload));
        }
    }

    /// The application's own checks, last.
    fn custom_rules(&self, claims: &Claims) -> Result<(), ErrorKind> {
        for validator in &self.validators {
            validator(claims).map_err(ErrorKind::Rejected)?;
        }
        Ok(())
    }
}

/// See [`Validator::check_binding`].
fn check_binding(
    claims: &Claims,
    presentation: &Presentation<'_>,
    accept_unproven: bool,
) -> Result<(), ErrorKind> {
    let cnf = claims.confirmation();
    let jkt = cnf.and_then(Confirmation::jwk_thumbprint);
    match (presentation.scheme(), jkt) {
        (Scheme::DPoP, None) => return Err(ErrorKind::NotDpopBound),
        (Scheme::DPoP, Some(jkt)) => match presentation.proven_key() {
            Some(proven) if proven == jkt => {}
            Some(_) => return Err(ErrorKind::ProofKeyMismatch),
            // A DPoP presentation whose proof nobody checked: refused, whatever the option.
            None => return Err(ErrorKind::InvalidProof(ProofError::Missing)),
        },
        (_, Some(_)) if !accept_unproven => return Err(ErrorKind::SenderConstrained),
        _ => {}
    }
    if let Some(bound) = cnf.and_then(Confirmation::certificate_thumbprint) {
        match presentation.certificate() {
            Some(certificate) if certificate.0 == *bound => {}
            None if accept_unproven => {}
            _ => return Err(ErrorKind::CertificateMismatch),
        }
    }
    if let Some(cnf) = cnf
        && cnf.jwk_thumbprint().is_none()
        && cnf.certificate_thumbprint().is_none()
        && !accept_unproven
    {
        return Err(ErrorKind::SenderConstrained);
    }
    Ok(())
}

fn check_typ(policy: TypPolicy, typ: Option<&str>) -> Result<(), ErrorKind> {
    // Media types compare case-insensitively, and "application/" may be left out (RFC 7515
    // 4.1.9). Compared in place: no lowercase copy per token.
    fn strip(t: &str) -> &str {
        const PREFIX: &str = "application/";
        match t.get(..PREFIX.len()) {
            Some(head) if head.eq_ignore_ascii_case(PREFIX) => t.get(PREFIX.len()..).unwrap_or(""),
            _ => t,
        }
    }
    let ok = match (policy, typ) {
        (TypPolicy::DangerIgnore, _) => true,
        (TypPolicy::RequireAccessToken, None) => false,
        (TypPolicy::RequireAccessToken, Some(t)) => strip(t).eq_ignore_ascii_case("at+jwt"),
        (TypPolicy::AccessTokenOrJwt, None) => true,
        (TypPolicy::AccessTokenOrJwt, Some(t)) => {
            let t = strip(t);
            t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("jwt")
        }
    };
    if ok {
        Ok(())
    } else {
        Err(ErrorKind::WrongType)
    }
}

impl ValidatorBuilder {
    /// Accepts tokens from this issuer (`iss`, compared exactly). Repeatable.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.config.issuers.push(issuer.into().into_boxed_str());
        self
    }

    /// Accepts tokens of every allowed tenant of a multi-tenant issuer (see [`IssuerTemplate`]):
    /// an `iss` that is the template with the placeholder replaced by the token's `tid`.
    /// Repeatable (Entra ID's v1 and v2 issuers); beside exact issuers or instead of them.
    pub fn issuer_template(mut self, template: IssuerTemplate) -> Self {
        self.config.templates.push(template);
        self
    }

    /// Reads the API's identity from the string claim `name` (`client_id`, `azp`, `cid`)
    /// instead of `aud`: the claim must be one of the [audiences](Self::audience) given. For
    /// providers whose access tokens name the client they were issued to and carry no
    /// usable `aud` (Amazon Cognito's `client_id`, Keycloak's `azp`, Okta's `cid`). As strict
    /// as `aud`: the claim must be present, a string, and one of the configured values.
    pub fn audience_claim(mut self, name: impl Into<String>) -> Self {
        self.config.audience_claim = Some(name.into().into_boxed_str());
        self
    }

    /// Reads the granted scopes ([`Claims::scopes`]) from these claims, merged, instead of
    /// `scope` (or else `scp`). Each is read as a space-separated string or an array of
    /// strings; see [`ScopeSource`].
    ///
    /// Cost: this, [`scope_prefix`](Self::scope_prefix), [`role_sources`](Self::role_sources),
    /// [`audience_claim`](Self::audience_claim) and [`claim_rule`](Self::claim_rule) read the
    /// payload a second time, as a JSON value, once per token verified (a verified-token
    /// cache hit reads nothing); a validator without them never does. Claims vouched for by
    /// introspection get the same sources when they are read with
    /// [`Validator::trusted_claims`] (the introspector does), and the same rules through
    /// [`Validator::check_claims`]; [`Claims::from_trusted_json`] alone reads
    /// `scope`/`scp` and `roles`.
    pub fn scope_sources(mut self, sources: impl IntoIterator<Item = ScopeSource>) -> Self {
        self.config.scope_sources = Some(sources.into_iter().collect());
        self
    }

    /// Grants only the scopes that start with `prefix`, with the prefix taken off: Amazon
    /// Cognito names its custom scopes `RESOURCE_SERVER/scope`, and a resource server must
    /// not count another's (`billing/read` is not `notes/read`'s `read`).
    pub fn scope_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.config.scope_prefix = Some(prefix.into().into_boxed_str());
        self
    }

    /// Reads the granted roles ([`Claims::roles`]) from these claims, merged, instead of
    /// `roles` (Keycloak: `realm_access.roles` and `resource_access.<client>.roles`).
    pub fn role_sources(mut self, sources: impl IntoIterator<Item = ScopeSource>) -> Self {
        self.config.role_sources = Some(sources.into_iter().collect());
        self
    }

    /// A rule every token must satisfy (repeatable; all must hold), checked after the
    /// registered claims: Amazon Cognito's `token_use` = `access`, which tells its access
    /// tokens from its ID tokens. A token that fails it is refused as not acceptable here
    /// ([`ErrorKind::ClaimRuleFailed`], answered `401 invalid_token`); per-route rules are
    /// the layer's.
    pub fn claim_rule(mut self, rule: ClaimRule) -> Self {
        self.config.rules.push(rule);
        self
    }

    /// Accepts tokens for this audience (`aud` must contain it). Repeatable.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.config.audiences.push(audience.into().into_boxed_str());
        self
    }

    /// Accepts tokens whose `aud` names this resource identifier (RFC 8707: the URL a
    /// client asked its token for), compared after RFC 3986 normalisation (scheme and host
    /// case, the default port, percent-encodings, dot segments), so
    /// `https://API.example.com:443/orders` names `https://api.example.com/orders`. Other
    /// audiences still need [`ValidatorBuilder::audience`]. Repeatable.
    pub fn resource(mut self, resource: crate::resource::ResourceIdentifier) -> Self {
        self.config.resources.push(resource);
        self
    }

    /// Skips the audience check. Only for a resource server that is the sole audience of its
    /// authorization server: otherwise a token minted for another API is accepted here.
    pub fn danger_accept_any_audience(mut self) -> Self {
        self.config.any_audience = true;
        self
    }

    /// Accepts sender-constrained tokens (with a `cnf` claim: DPoP-bound, RFC 9449, or bound
    /// to a client certificate, RFC 8705) as plain bearer tokens. By default they are refused
    /// ([`ErrorKind::SenderConstrained`]): their binding is what makes a stolen copy useless,
    /// and RFC 9449 (section 7.2) forbids a resource server to drop it. Set this only when
    /// something in front of portcullis (a gateway doing the DPoP or mutual-TLS check) has
    /// already verified the proof of possession.
    pub fn danger_accept_sender_constrained_tokens_as_bearer(mut self) -> Self {
        self.config.accept_sender_constrained = true;
        self
    }

    /// Skips the issuer check. Only when the key set alone pins the issuer.
    pub fn danger_accept_any_issuer(mut self) -> Self {
        self.config.any_issuer = true;
        self
    }

    /// The allowed algorithms (replaces the default, the asymmetric ones).
    pub fn algorithms(mut self, algs: impl IntoIterator<Item = Algorithm>) -> Self {
        self.config.algorithms = algs.into_iter().collect();
        self.algorithms_set = true;
        self
    }

    /// Clock-skew allowance for the time claims (default 60 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.config.leeway = leeway.as_secs_f64();
        self
    }

    /// Refuses tokens whose `iat` is older than this (and tokens without `iat`).
    pub fn max_age(mut self, age: Duration) -> Self {
        self.config.max_age = Some(age.as_secs_f64());
        self
    }

    /// What `typ` must say.
    pub fn typ(mut self, policy: TypPolicy) -> Self {
        self.config.typ = policy;
        self
    }

    /// A claim that must be present. Repeatable.
    pub fn require_claim(mut self, name: impl Into<String>) -> Self {
        self.config.required.push(name.into().into_boxed_str());
        self
    }

    /// A `crit` header member name the application declares it understands and checks itself
    /// (none by default: any `crit` member refuses the token, RFC 7515 section 4.1.11). A
    /// weakening: portcullis does not check what the member says, so the application must.
    pub fn danger_understood_critical_header(mut self, name: impl Into<String>) -> Self {
        self.config
            .understood_crit
            .push(name.into().into_boxed_str());
        self
    }

    /// A custom check run on verified claims, after every built-in rule.
    pub fn validator<F>(mut self, f: F) -> Self
    where
        F: Fn(&Claims) -> Result<(), Cow<'static, str>> + Send + Sync + 'static,
    {
        self.config.validators.push(Arc::new(f));
        self
    }

    /// The cap on the token length (default 8 KiB).
    pub fn max_token_len(mut self, len: usize) -> Self {
        self.config.max_token_len = len;
        self
    }

    /// The clock the time rules read (default: the system clock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.config.clock = Arc::new(clock);
        self
    }

    /// Builds the validator.
    ///
    /// # Errors
    /// A [`ConfigError`] for an empty algorithm list, no issuer or no audience (unless waived
    /// with `danger_*`), or a leeway above ten minutes.
    pub fn build(mut self) -> Result<Validator, ConfigError> {
        let c = &mut self.config;
        if c.algorithms.is_empty() {
            return Err(ConfigError::invalid("algorithms", "the allowlist is empty"));
        }
        c.templates = std::mem::take(&mut c.templates)
            .into_iter()
            .map(IssuerTemplate::validated)
            .collect::<Result<_, _>>()?;
        c.rules = std::mem::take(&mut c.rules)
            .into_iter()
            .map(ClaimRule::validated)
            .collect::<Result<_, _>>()?;
        if c.scope_sources.as_ref().is_some_and(|s| s.is_empty()) {
            return Err(ConfigError::invalid(
                "scope_sources",
                "an empty list would grant no scope to any token",
            ));
        }
        if c.role_sources.as_ref().is_some_and(|s| s.is_empty()) {
            return Err(ConfigError::invalid(
                "role_sources",
                "an empty list would grant no role to any token",
            ));
        }
        if c.scope_prefix.as_ref().is_some_and(|p| p.is_empty()) {
            return Err(ConfigError::invalid("scope_prefix", "an empty prefix"));
        }
        if c.audience_claim.as_ref().is_some_and(|n| n.is_empty()) {
            return Err(ConfigError::invalid(
                "audience_claim",
                "an empty claim name",
            ));
        }
        c.extended = c.audience_claim.is_some()
            || c.scope_sources.is_some()
            || c.scope_prefix.is_some()
            || c.role_sources.is_some()
            || !c.rules.is_empty();
        if c.issuers.is_empty() && c.templates.is_empty() && !c.any_issuer {
            return Err(ConfigError::missing(
                "issuer",
                "name the issuer whose tokens are accepted; danger_accept_any_issuer skips the check",
            ));
        }
        if c.audiences.is_empty() && c.resources.is_empty() && !c.any_audience {
            return Err(ConfigError::missing(
                "audience",
                "set the audience this API accepts (audience(..), or `audiences` in a configuration file)",
            ));
        }
        if !(0.0..=600.0).contains(&c.leeway) {
            return Err(ConfigError::invalid(
                "leeway",
                "must be between 0 and 600 seconds",
            ));
        }
        if c.max_token_len == 0 {
            return Err(ConfigError::invalid("max_token_len", "must be positive"));
        }
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let mut config = self.config;
        config.id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(Validator {
            config: Arc::new(config),
        })
    }
}

impl fmt::Debug for Validator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &*self.config;
        f.debug_struct("Validator")
            .field("issuers", &c.issuers)
            .field("audiences", &c.audiences)
            .field("resources", &c.resources)
            .field("algorithms", &c.algorithms)
            .field("leeway", &c.leeway)
            .field("typ", &c.typ)
            .field("templates", &c.templates)
            .field("audience_claim", &c.audience_claim)
            .field("scope_sources", &c.scope_sources)
            .field("rules", &c.rules)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for ValidatorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValidatorBuilder").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_binding_rule_on_each_kind_of_presentation() {
        use crate::verify::CertificateThumbprint;
        let (a, b) = ([0xaa_u8; 32], [0xbb_u8; 32]);
        let b64 = |bytes: &[u8; 32]| {
            use base64::Engine as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        };
        let claims = |cnf: &str| Claims::from_trusted_json(&format!(r#"{{"cnf":{cnf}}}"#)).unwrap();
        let dpop_a = claims(&format!(r#"{{"jkt":"{}"}}"#, b64(&a)));
        let cert_a = claims(&format!(r#"{{"x5t#S256":"{}"}}"#, b64(&a)));
        let dpop = Presentation::new(Scheme::DPoP, "t");
        let bearer = Presentation::bearer("t");
        let (cert_ok, cert_other) = (CertificateThumbprint(a), CertificateThumbprint(b));
        for unproven in [false, true] {
            let check = |c: &Claims, p: &Presentation<'_>| check_binding(c, p, unproven);
            // A proof of the bound key, of another key, or none checked: never the option's.
            assert_eq!(check(&dpop_a, &dpop.with_proven_key(a)), Ok(()));
            assert_eq!(
                check(&dpop_a, &dpop.with_proven_key(b)),
                Err(ErrorKind::ProofKeyMismatch)
            );
            assert_eq!(
                check(&dpop_a, &dpop),
                Err(ErrorKind::InvalidProof(ProofError::Missing))
            );
            // The certificate that is bound, another one: never the option's either.
            let p = bearer.with_certificate(&cert_ok);
            assert_eq!(check(&cert_a, &p), Ok(()));
            let p = bearer.with_certificate(&cert_other);
            assert_eq!(check(&cert_a, &p), Err(ErrorKind::CertificateMismatch));
            // No proof at all: what the option waives.
            let waived = |e: ErrorKind| if unproven { Ok(()) } else { Err(e) };
            assert_eq!(
                check(&dpop_a, &bearer),
                waived(ErrorKind::SenderConstrained)
            );
            assert_eq!(
                check(&cert_a, &bearer),
                waived(ErrorKind::CertificateMismatch)
            );
            let other = claims(r#"{"kid":"k"}"#);
            assert_eq!(check(&other, &bearer), waived(ErrorKind::SenderConstrained));
        }
    }

    #[test]
    fn a_verified_tokens_header_is_remembered_and_an_unverified_ones_is_not() {
        use crate::key::VerifyingKey;
        let validator = Validator::builder()
            .issuer("https://issuer.test")
            .audience("api")
            .algorithms([Algorithm::HS256])
            .build()
            .unwrap();
        let secret = b"a secret of thirty-two bytes, ok";
        let keys = KeySet::new(vec![VerifyingKey::hmac(Algorithm::HS256, secret).unwrap()]);
        let sign = |header: &str, payload: &str| {
            let input = format!("{}.{}", b64url(header), b64url(payload));
            let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
            let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
            format!("{input}.{}", b64url_bytes(tag.as_ref()))
        };
        let payload = r#"{"iss":"https://issuer.test","aud":"api","exp":4000000000}"#;
        let header = r#"{"alg":"HS256","typ":"JWT"}"#;
        let good = sign(header, payload);
        let id = validator.config.id;
        let seen = |h: &str| header_memo::lookup(id, b64url(h).as_bytes(), |alg, _| alg);
        validator.validate(&good, &keys).unwrap();
        assert_eq!(seen(header), Some(Algorithm::HS256));
        // A token with another header whose signature fails: refused, not remembered.
        let other = r#"{"alg":"HS256","typ":"at+jwt"}"#;
        let forged = format!(
            "{}.{}.{}",
            b64url(other),
            b64url(payload),
            b64url("x".repeat(32).as_str())
        );
        assert!(validator.validate(&forged, &keys).is_err());
        assert_eq!(seen(other), None);
        assert_eq!(seen(header), Some(Algorithm::HS256));
        // Verified with the other header: it replaces the first.
        validator.validate(&sign(other, payload), &keys).unwrap();
        assert_eq!(seen(other), Some(Algorithm::HS256));
        assert_eq!(seen(header), None);
    }

    fn b64url(text: &str) -> String {
        b64url_bytes(text.as_bytes())
    }

    fn b64url_bytes(bytes: &[u8]) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    #[test]
    fn typ_policies() {
        use TypPolicy::*;
        for (policy, typ, ok) in [
            (RequireAccessToken, Some("at+jwt"), true),
            (RequireAccessToken, Some("application/AT+JWT"), true),
            (RequireAccessToken, Some("JWT"), false),
            (RequireAccessToken, None, false),
            (AccessTokenOrJwt, Some("JWT"), true),
            (AccessTokenOrJwt, Some("jwt"), true),
            (AccessTokenOrJwt, None, true),
            (AccessTokenOrJwt, Some("dpop+jwt"), false),
            (AccessTokenOrJwt, Some("id+jwt"), false),
            (AccessTokenOrJwt, Some("APPLICATION/Jwt"), true),
            (AccessTokenOrJwt, Some("application/"), false),
            (AccessTokenOrJwt, Some("application/application/jwt"), false),
            (AccessTokenOrJwt, Some("applicationjwt"), false),
            (AccessTokenOrJwt, Some("aéééééé"), false),
            (AccessTokenOrJwt, Some("jwt "), false),
            (DangerIgnore, Some("anything"), true),
        ] {
            assert_eq!(check_typ(policy, typ).is_ok(), ok, "{policy:?} {typ:?}");
        }
    }

    #[test]
    fn unsafe_configurations_are_refused() {
        assert!(Validator::builder().audience("a").build().is_err());
        assert!(Validator::builder().issuer("i").build().is_err());
        assert!(
            Validator::builder()
                .issuer("i")
                .audience("a")
                .algorithms([])
                .build()
                .is_err()
        );
        assert!(
            Validator::builder()
                .issuer("i")
                .audience("a")
                .leeway(Duration::from_secs(3600))
                .build()
                .is_err()
        );
        assert!(
            Validator::builder()
                .issuer("i")
                .audience("a")
                .build()
                .is_ok()
        );
        assert!(
            Validator::builder()
                .danger_accept_any_issuer()
                .danger_accept_any_audience()
                .build()
                .is_ok()
        );
    }
}
