//! The error taxonomy: why a token was refused, and why a key or a configuration was.

use std::borrow::Cow;
use std::fmt;

use crate::alg::Algorithm;
use crate::claim_rule::ClaimRule;
use crate::scope::ScopeRequirement;

/// Why a token was refused.
///
/// The type is opaque so that it can grow; [`AuthError::kind`] names the precise reason.
/// Its `Display` never contains bytes of the token: a log line built from it is safe.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthError {
    kind: ErrorKind,
}

/// The precise reason a token was refused.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The token is not a well-formed compact JWS; the part says where.
    Malformed(MalformedPart),
    /// The token is longer than the configured cap.
    TooLarge {
        /// The configured cap, in bytes.
        limit: usize,
    },
    /// The header's `alg` is not one portcullis implements (this includes `none`).
    UnsupportedAlgorithm,
    /// The header's `alg` is known but not in the configured allowlist.
    DisallowedAlgorithm(Algorithm),
    /// The header lists a critical member (`crit`) that is not understood.
    UnknownCriticalHeader,
    /// No key of the current key set has the token's `kid`.
    UnknownKey,
    /// The token has no `kid` and zero or several keys fit its algorithm.
    AmbiguousKey,
    /// The key named by `kid` may not verify the token's algorithm.
    KeyAlgorithmMismatch(Algorithm),
    /// The signature does not verify.
    InvalidSignature,
    /// `exp` is in the past (beyond the leeway).
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    NotYetValid,
    /// `iat` is in the future (beyond the leeway).
    IssuedInFuture,
    /// `iat` is older than the configured maximum token age.
    TooOld,
    /// `iss` is not one of the configured issuers.
    WrongIssuer,
    /// `aud` holds none of the configured audiences.
    WrongAudience,
    /// The header's `typ` is not accepted for an access token.
    WrongType,
    /// A required claim is absent.
    MissingClaim(Cow<'static, str>),
    /// A claim has the wrong JSON type or an unusable value.
    InvalidClaim(Cow<'static, str>),
    /// A custom validator refused the claims, with its reason.
    Rejected(Cow<'static, str>),
    /// The token is valid but lacks the scopes the route requires.
    InsufficientScope(ScopeRequirement),
    /// The token is valid but the login behind it is not strong enough or not recent enough
    /// for the route (RFC 9470): the requirement and which part of it fell short.
    InsufficientUserAuthentication(Box<crate::step_up::StepUpRefusal>),
    /// The token is valid but its claims do not satisfy the route's claim rule (roles,
    /// groups, a workload's repository...): answered `403` without saying which rule failed.
    InsufficientClaims(ClaimRule),
    /// The token is valid but lacks the roles the route requires (read from the validator's
    /// role sources: [`Claims::roles`](crate::Claims::roles)); answered `403` without saying
    /// which roles.
    InsufficientRoles(ScopeRequirement),
    /// The token's claims do not satisfy a rule of the validator (its issuer's rules): a
    /// `token_use` that is not `access`, a claim a profile requires. The token is not one
    /// this API accepts at all, as with a wrong audience.
    ClaimRuleFailed(ClaimRule),
    /// The token's issuer is a tenant of a trusted issuer template, and not one of the
    /// tenants allowed (or its `tid` is not the tenant its `iss` names).
    TenantNotAllowed,
    /// No usable verification keys are available right now (key source down, not yet loaded),
    /// or, for opaque tokens, the introspection endpoint could not answer.
    KeysUnavailable,
    /// The authorization server's introspection endpoint (RFC 7662) says the token is not
    /// active: revoked, expired, unknown, or not issued by it.
    Inactive,
    /// The token is sender-constrained (it has a `cnf` claim: DPoP, RFC 9449, or a mutual-TLS
    /// certificate, RFC 8705) and was presented as a plain bearer token, without the proof
    /// of possession that its binding requires.
    SenderConstrained,
    /// A token without a DPoP binding (no `cnf.jkt`) presented with the `DPoP` scheme
    /// (RFC 9449 section 7.1): a bearer token is not upgraded by a proof.
    NotDpopBound,
    /// The DPoP proof is signed with another key than the one the token is bound to
    /// (`cnf.jkt`, RFC 9449 section 6.1).
    ProofKeyMismatch,
    /// The token is bound to a client certificate (`cnf.x5t#S256`, RFC 8705 section 3) and
    /// the request came with another certificate, or none.
    CertificateMismatch,
    /// The DPoP proof (RFC 9449 section 4.3) was refused; the part says by which rule.
    InvalidProof(ProofError),
    /// The DPoP proof lacks the server-provided nonce, or carries one that is not (or no
    /// longer) valid (RFC 9449 section 9): the client retries with this fresh nonce.
    UseDpopNonce(Box<str>),
    /// DPoP is required here and the token came as a bearer token (RFC 9449 section 7.1).
    DpopRequired,
    /// The store that remembers DPoP proofs already used (their `jti`) could not answer (the
    /// store's reason): the request is refused (fail-closed) without being judged.
    ReplayStoreUnavailable(Box<str>),
    /// The token is on the deny list: revoked by (`iss`, `jti`), or issued before its
    /// subject's revocation instant.
    Revoked,
    /// The deny list could not answer (the list's reason): the request is refused
    /// (fail-closed) without being judged.
    RevocationUnavailable(Box<str>),
    /// The verdict cache shared by the replicas could not answer (the store's reason), and
    /// the deployment asked to fail closed then.
    SharedCacheUnavailable(Box<str>),
}

/// Why a DPoP proof (RFC 9449 section 4.3) was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProofError {
    /// A `DPoP` presentation without a `DPoP` header.
    Missing,
    /// The proof is not a well-formed compact JWS; the part says where.
    Malformed(MalformedPart),
    /// The proof is longer than the cap.
    TooLarge,
    /// The header's `typ` is not `dpop+jwt`.
    WrongType,
    /// The header's `alg` is not an asymmetric algorithm of the allowlist (never `none`,
    /// never HMAC).
    DisallowedAlgorithm,
    /// The header lists a critical member (`crit`).
    UnknownCriticalHeader,
    /// The header has no `jwk` object.
    MissingKey,
    /// The header's `jwk` holds private key material.
    PrivateKey,
    /// The header's `jwk` is not a usable public key for the header's `alg`.
    InvalidKey,
    /// The signature does not verify with the header's `jwk`.
    InvalidSignature,
    /// A required claim (`jti`, `htm`, `htu`, `iat`, `ath`) is absent.
    MissingClaim(&'static str),
    /// A claim has the wrong JSON type or an unusable value.
    InvalidClaim(&'static str),
    /// `htm` is not the request's method.
    WrongMethod,
    /// `htu` is not the request's public target URI (without query and fragment).
    WrongUri,
    /// `iat` is older than the acceptance window.
    TooOld,
    /// `iat` is further in the future than the allowed clock skew.
    IssuedInFuture,
    /// `ath` is not the hash of the access token presented with the proof.
    WrongTokenHash,
    /// The proof (its key and `jti`) was already used within the acceptance window.
    Replayed,
    /// The request's public target URI is unknown (no public origin configured), so `htu`
    /// cannot be checked: a configuration error, refused rather than guessed.
    UnknownTargetUri,
}

impl ProofError {
    /// A short stable identifier of the reason, for metrics and log fields.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            ProofError::Missing => "proof_missing",
            ProofError::Malformed(_) => "proof_malformed",
            ProofError::TooLarge => "proof_too_large",
            ProofError::WrongType => "proof_wrong_type",
            ProofError::DisallowedAlgorithm => "proof_disallowed_algorithm",
            ProofError::UnknownCriticalHeader => "proof_unknown_critical_header",
            ProofError::MissingKey => "proof_missing_key",
            ProofError::PrivateKey => "proof_private_key",
            ProofError::InvalidKey => "proof_invalid_key",
            ProofError::InvalidSignature => "proof_invalid_signature",
            ProofError::MissingClaim(_) => "proof_missing_claim",
            ProofError::InvalidClaim(_) => "proof_invalid_claim",
            ProofError::WrongMethod => "proof_wrong_method",
            ProofError::WrongUri => "proof_wrong_uri",
            ProofError::TooOld => "proof_too_old",
            ProofError::IssuedInFuture => "proof_issued_in_future",
            ProofError::WrongTokenHash => "proof_wrong_token_hash",
            ProofError::Replayed => "proof_replayed",
            ProofError::UnknownTargetUri => "proof_unknown_target_uri",
        }
    }
}

impl fmt::Display for ProofError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProofError::Missing => f.write_str("no DPoP proof"),
            ProofError::Malformed(part) => {
                let part = part.to_string();
                write!(
                    f,
                    "malformed DPoP proof: {}",
                    part.replacen("token", "proof", 1)
                )
            }
            ProofError::TooLarge => f.write_str("DPoP proof too long"),
            ProofError::WrongType => f.write_str("DPoP proof typ is not dpop+jwt"),
            ProofError::DisallowedAlgorithm => f.write_str("DPoP proof algorithm not allowed"),
            ProofError::UnknownCriticalHeader => {
                f.write_str("DPoP proof has a critical header member")
            }
            ProofError::MissingKey => f.write_str("DPoP proof has no jwk"),
            ProofError::PrivateKey => f.write_str("DPoP proof jwk holds a private key"),
            ProofError::InvalidKey => f.write_str("DPoP proof jwk is not a usable public key"),
            ProofError::InvalidSignature => f.write_str("DPoP proof signature invalid"),
            ProofError::MissingClaim(name) => write!(f, "DPoP proof lacks `{name}`"),
            ProofError::InvalidClaim(name) => write!(f, "DPoP proof has an invalid `{name}`"),
            ProofError::WrongMethod => f.write_str("DPoP proof made for another method"),
            ProofError::WrongUri => f.write_str("DPoP proof made for another URI"),
            ProofError::TooOld => f.write_str("DPoP proof older than the acceptance window"),
            ProofError::IssuedInFuture => f.write_str("DPoP proof issued in the future"),
            ProofError::WrongTokenHash => f.write_str("DPoP proof made for another token"),
            ProofError::Replayed => f.write_str("DPoP proof already used"),
            ProofError::UnknownTargetUri => {
                f.write_str("no public origin configured: htu cannot be checked")
            }
        }
    }
}

/// The part of a compact JWS that is malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MalformedPart {
    /// The token is empty.
    Empty,
    /// Not exactly three dot-separated segments (JWE tokens have five; JSON serialization has none).
    Segments,
    /// A segment is not strict unpadded base64url.
    Base64,
    /// The protected header is not a JSON object, or a member has the wrong type.
    Header,
    /// The header has two members with the same name.
    DuplicateHeaderMember,
    /// The payload is not a JSON object.
    Payload,
    /// The payload has two members with the same name.
    DuplicatePayloadMember,
    /// The signature segment is empty (a signature of the wrong length for its algorithm is
    /// [`ErrorKind::InvalidSignature`]).
    Signature,
}

impl AuthError {
    /// The precise reason.
    #[must_use]
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// Turns the error into its reason.
    #[must_use]
    pub fn into_kind(self) -> ErrorKind {
        self.kind
    }

    /// A short stable identifier of the reason, for metrics and log fields
    /// (`"expired"`, `"invalid_signature"`, ...).
    #[must_use]
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }
}

impl From<ErrorKind> for AuthError {
    fn from(kind: ErrorKind) -> Self {
        AuthError { kind }
    }
}

impl ErrorKind {
    /// A short stable identifier of the reason (see [`AuthError::code`]).
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            ErrorKind::Malformed(_) => "malformed",
            ErrorKind::TooLarge { .. } => "too_large",
            ErrorKind::UnsupportedAlgorithm => "unsupported_algorithm",
            ErrorKind::DisallowedAlgorithm(_) => "disallowed_algorithm",
            ErrorKind::UnknownCriticalHeader => "unknown_critical_header",
            ErrorKind::UnknownKey => "unknown_key",
            ErrorKind::AmbiguousKey => "ambiguous_key",
            ErrorKind::KeyAlgorithmMismatch(_) => "key_algorithm_mismatch",
            ErrorKind::InvalidSignature => "invalid_signature",
            ErrorKind::Expired => "expired",
            ErrorKind::NotYetValid => "not_yet_valid",
            ErrorKind::IssuedInFuture => "issued_in_future",
            ErrorKind::TooOld => "too_old",
            ErrorKind::WrongIssuer => "wrong_issuer",
            ErrorKind::WrongAudience => "wrong_audience",
            ErrorKind::WrongType => "wrong_type",
            ErrorKind::MissingClaim(_) => "missing_claim",
            ErrorKind::InvalidClaim(_) => "invalid_claim",
            ErrorKind::Rejected(_) => "rejected",
            ErrorKind::InsufficientScope(_) => "insufficient_scope",
            ErrorKind::InsufficientUserAuthentication(_) => "insufficient_user_authentication",
            ErrorKind::InsufficientClaims(_) => "insufficient_claims",
            ErrorKind::InsufficientRoles(_) => "insufficient_roles",
            ErrorKind::ClaimRuleFailed(_) => "claim_rule_failed",
            ErrorKind::TenantNotAllowed => "tenant_not_allowed",
            ErrorKind::KeysUnavailable => "keys_unavailable",
            ErrorKind::Inactive => "inactive",
            ErrorKind::SenderConstrained => "sender_constrained",
            ErrorKind::NotDpopBound => "not_dpop_bound",
            ErrorKind::ProofKeyMismatch => "proof_key_mismatch",
            ErrorKind::CertificateMismatch => "certificate_mismatch",
            ErrorKind::InvalidProof(e) => e.code(),
            ErrorKind::UseDpopNonce(_) => "use_dpop_nonce",
            ErrorKind::DpopRequired => "dpop_required",
            ErrorKind::ReplayStoreUnavailable(_) => "replay_store_unavailable",
            ErrorKind::Revoked => "revoked",
            ErrorKind::RevocationUnavailable(_) => "revocation_unavailable",
            ErrorKind::SharedCacheUnavailable(_) => "shared_cache_unavailable",
        }
    }
}

impl fmt::Display for MalformedPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MalformedPart::Empty => "the token is empty",
            MalformedPart::Segments => "the token does not have exactly three segments",
            MalformedPart::Base64 => "a segment is not unpadded base64url",
            MalformedPart::Header => "the header is not a valid JSON object",
            MalformedPart::DuplicateHeaderMember => "the header has a duplicate member",
            MalformedPart::Payload => "the payload is not a valid JSON object",
            MalformedPart::DuplicatePayloadMember => "the payload has a duplicate member",
            MalformedPart::Signature => "the signature segment is empty",
        })
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Malformed(part) => write!(f, "malformed token: {part}"),
            ErrorKind::TooLarge { limit } => write!(f, "token longer than {limit} bytes"),
            ErrorKind::UnsupportedAlgorithm => f.write_str("unsupported signature algorithm"),
            ErrorKind::DisallowedAlgorithm(alg) => write!(f, "algorithm {alg} is not allowed"),
            ErrorKind::UnknownCriticalHeader => f.write_str("unknown critical header member"),
            ErrorKind::UnknownKey => f.write_str("no key with the token's key id"),
            ErrorKind::AmbiguousKey => {
                f.write_str("token has no key id and not exactly one key fits its algorithm")
            }
            ErrorKind::KeyAlgorithmMismatch(alg) => {
                write!(f, "the selected key may not verify {alg}")
            }
            ErrorKind::InvalidSignature => f.write_str("invalid signature"),
            ErrorKind::Expired => f.write_str("token expired"),
            ErrorKind::NotYetValid => f.write_str("token not yet valid"),
            ErrorKind::IssuedInFuture => f.write_str("token issued in the future"),
            ErrorKind::TooOld => f.write_str("token older than the maximum age"),
            ErrorKind::WrongIssuer => f.write_str("untrusted issuer"),
            ErrorKind::WrongAudience => f.write_str("audience not accepted"),
            ErrorKind::WrongType => f.write_str("token type not accepted for an access token"),
            ErrorKind::MissingClaim(name) => write!(f, "missing claim `{name}`"),
            ErrorKind::InvalidClaim(name) => write!(f, "invalid claim `{name}`"),
            ErrorKind::Rejected(reason) => write!(f, "rejected: {reason}"),
            ErrorKind::InsufficientScope(req) => write!(f, "insufficient scope, requires {req}"),
            ErrorKind::InsufficientUserAuthentication(refusal) => {
                write!(f, "insufficient user authentication: {refusal}")
            }
            ErrorKind::InsufficientClaims(rule) => {
                write!(f, "claims do not satisfy the rule: {rule}")
            }
            ErrorKind::InsufficientRoles(req) => write!(f, "missing roles, requires {req}"),
            ErrorKind::ClaimRuleFailed(rule) => {
                write!(f, "claims do not satisfy the issuer's rule: {rule}")
            }
            ErrorKind::TenantNotAllowed => f.write_str("tenant not allowed"),
            ErrorKind::KeysUnavailable => f.write_str("verification keys unavailable"),
            ErrorKind::Inactive => f.write_str("token not active (introspection)"),
            ErrorKind::SenderConstrained => {
                f.write_str("sender-constrained token (cnf) presented as a bearer token")
            }
            ErrorKind::NotDpopBound => f.write_str("token not DPoP-bound presented as DPoP"),
            ErrorKind::ProofKeyMismatch => {
                f.write_str("DPoP proof key is not the key the token is bound to")
            }
            ErrorKind::CertificateMismatch => {
                f.write_str("client certificate is not the one the token is bound to")
            }
            ErrorKind::InvalidProof(e) => fmt::Display::fmt(e, f),
            // Never the nonce itself: it goes to the client in `DPoP-Nonce`, not to logs.
            ErrorKind::UseDpopNonce(_) => f.write_str("DPoP nonce missing or stale"),
            ErrorKind::DpopRequired => f.write_str("DPoP required, bearer token presented"),
            ErrorKind::ReplayStoreUnavailable(reason) => {
                write!(f, "DPoP replay store unavailable: {reason}")
            }
            ErrorKind::Revoked => f.write_str("token revoked"),
            ErrorKind::RevocationUnavailable(reason) => {
                write!(f, "revocation list unavailable: {reason}")
            }
            ErrorKind::SharedCacheUnavailable(reason) => {
                write!(f, "shared verdict cache unavailable: {reason}")
            }
        }
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.kind, f)
    }
}

impl std::error::Error for AuthError {}

/// Why a verification key could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError {
    kind: KeyErrorKind,
}

/// The precise reason a key was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyErrorKind {
    /// The JWK is not valid JSON or misses a required member for its `kty`.
    MalformedJwk(&'static str),
    /// The `kty`, `crv` or key encoding is not one portcullis supports.
    Unsupported(&'static str),
    /// The key is for encryption (`use` other than `sig`), or `key_ops` lacks `verify`.
    NotForVerification,
    /// The JWK's `alg` does not fit the key type, or is not in the allowed set.
    AlgorithmMismatch,
    /// An RSA modulus shorter than 2048 bits.
    WeakRsaKey {
        /// The modulus size found.
        bits: usize,
    },
    /// An HMAC secret shorter than the hash output of its algorithm.
    WeakSecret {
        /// The length given.
        len: usize,
        /// The minimum for the algorithm.
        min: usize,
    },
    /// A symmetric key offered where only public keys are accepted (a remote JWKS).
    SymmetricNotAllowed,
    /// The key bytes are invalid (an EC point not on the curve, a bad DER, a bad PEM).
    InvalidKey(&'static str),
    /// The key may verify none of the allowed algorithms.
    NoUsableAlgorithm,
    /// The JWK holds private key material (`d`): whoever published it has leaked a signing
    /// key, or is not the authorization server.
    PrivateKey,
    /// A second key of the JWKS with the `kid` of an earlier one and an overlapping
    /// algorithm: which one signs is ambiguous.
    DuplicateKid,
    /// A JWKS document is not a JSON object with a `keys` array.
    MalformedJwks,
    /// A JWKS document has more keys than the cap (refused as a whole, before any key is
    /// parsed: see [`KeySet::DEFAULT_MAX_KEYS`](crate::KeySet::DEFAULT_MAX_KEYS)).
    TooManyKeys {
        /// The number of entries in the document's `keys` array.
        found: usize,
        /// The cap.
        cap: usize,
    },
    /// A JWKS document has no usable key at all.
    NoUsableKey,
}

impl KeyError {
    /// The precise reason.
    #[must_use]
    pub fn kind(&self) -> &KeyErrorKind {
        &self.kind
    }
}

impl From<KeyErrorKind> for KeyError {
    fn from(kind: KeyErrorKind) -> Self {
        KeyError { kind }
    }
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            KeyErrorKind::MalformedJwk(what) => write!(f, "malformed JWK: {what}"),
            KeyErrorKind::Unsupported(what) => write!(f, "unsupported key: {what}"),
            KeyErrorKind::NotForVerification => {
                f.write_str("key is not for signature verification (use/key_ops)")
            }
            KeyErrorKind::AlgorithmMismatch => {
                f.write_str("the key's `alg` does not fit its key type or the allowed algorithms")
            }
            KeyErrorKind::WeakRsaKey { bits } => {
                write!(f, "RSA key of {bits} bits refused (at least 2048 required)")
            }
            KeyErrorKind::WeakSecret { len, min } => {
                write!(
                    f,
                    "HMAC secret of {len} bytes refused (at least {min} required)"
                )
            }
            KeyErrorKind::SymmetricNotAllowed => {
                f.write_str("symmetric keys are not accepted from this source")
            }
            KeyErrorKind::InvalidKey(what) => write!(f, "invalid key: {what}"),
            KeyErrorKind::NoUsableAlgorithm => {
                f.write_str("the key may verify none of the allowed algorithms")
            }
            KeyErrorKind::PrivateKey => f.write_str("private key material published (`d`)"),
            KeyErrorKind::DuplicateKid => {
                f.write_str("duplicate kid (an earlier key has it, for an overlapping algorithm)")
            }
            KeyErrorKind::MalformedJwks => f.write_str("JWKS is not an object with a `keys` array"),
            KeyErrorKind::TooManyKeys { found, cap } => {
                write!(f, "JWKS holds {found} keys, more than the cap of {cap}")
            }
            KeyErrorKind::NoUsableKey => f.write_str("JWKS holds no usable key"),
        }
    }
}

impl std::error::Error for KeyError {}

/// A configuration refused when it was built, because it is unsafe, incomplete or unusable.
///
/// The one configuration error of every portcullis builder: [`ConfigError::kind`] says what
/// is wrong, [`std::error::Error::source`] holds the cause when there is one (the network
/// error of a key source that could not be reached), and `Display` never repeats the cause.
#[derive(Debug)]
pub struct ConfigError {
    kind: ConfigErrorKind,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

/// What is wrong with a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// A setting that must be given is missing; the hint says how to give it.
    Missing {
        /// The setting (`issuer`, `audience`, ...).
        setting: &'static str,
        /// How to give it, or how to waive it when that is possible.
        hint: &'static str,
    },
    /// A setting's value cannot work.
    Invalid {
        /// The setting.
        setting: &'static str,
        /// Why.
        reason: Cow<'static, str>,
    },
    /// An entry that must be unique appears twice (an issuer configured twice).
    Duplicate {
        /// The setting.
        setting: &'static str,
        /// The repeated value.
        value: String,
    },
    /// A setting could not be put to use: a key source, discovery document or endpoint that
    /// could not be reached or read. The cause is the error's [`source`](std::error::Error::source).
    Unusable {
        /// The setting.
        setting: &'static str,
        /// Its value (a URL, a file name); never a secret.
        value: String,
    },
}

impl ConfigError {
    /// An error of this kind, without a cause.
    #[must_use]
    pub fn new(kind: ConfigErrorKind) -> Self {
        ConfigError { kind, source: None }
    }

    /// An error of this kind, caused by `source`.
    #[must_use]
    pub fn with_source(
        kind: ConfigErrorKind,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        ConfigError {
            kind,
            source: Some(source.into()),
        }
    }

    /// A setting's value that cannot work.
    #[must_use]
    pub fn invalid(setting: &'static str, reason: impl Into<Cow<'static, str>>) -> Self {
        ConfigError::new(ConfigErrorKind::Invalid {
            setting,
            reason: reason.into(),
        })
    }

    /// A missing setting, with how to give it.
    #[must_use]
    pub fn missing(setting: &'static str, hint: &'static str) -> Self {
        ConfigError::new(ConfigErrorKind::Missing { setting, hint })
    }

    /// What is wrong.
    #[must_use]
    pub fn kind(&self) -> &ConfigErrorKind {
        &self.kind
    }
}

impl From<ConfigErrorKind> for ConfigError {
    fn from(kind: ConfigErrorKind) -> Self {
        ConfigError::new(kind)
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid portcullis configuration: ")?;
        match &self.kind {
            ConfigErrorKind::Missing { setting, hint } => write!(f, "no `{setting}` ({hint})"),
            ConfigErrorKind::Invalid { setting, reason } => write!(f, "`{setting}`: {reason}"),
            ConfigErrorKind::Duplicate { setting, value } => {
                write!(f, "`{setting}` names {value:?} more than once")
            }
            ConfigErrorKind::Unusable { setting, value } => {
                write!(f, "`{setting}` {value:?} could not be used")
            }
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}
