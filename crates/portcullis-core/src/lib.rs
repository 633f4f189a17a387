//! Token verification for portcullis: compact-JWS parsing, verification keys, algorithms,
//! claims validation, scope requirements and the error taxonomy. No network, no I/O.
//!
//! The request path is [`Validator::validate`]: size and shape checks, the header (algorithm
//! allowlist, `crit`, `typ`), the key chosen by `kid` from a [`KeySet`], the signature
//! (aws-lc-rs, keys parsed once at load time), then the claims against an injected [`Clock`].

pub mod alg;
mod authorize;
mod b64;
pub mod claim_rule;
pub mod claims;
pub mod clock;
mod der;
pub mod dpop;
pub mod error;
mod header_memo;
pub mod health;
pub mod jws;
pub mod key;
pub mod keyset;
pub mod resource;
pub mod revocation;
mod scan;
pub mod scope;
pub mod step_up;
pub mod tenant;
pub mod validation;
pub mod verify;

pub use alg::{Algorithm, AlgorithmSet, Family};
pub use claim_rule::{ClaimPath, ClaimRule, ClaimValue};
pub use claims::{Claims, Confirmation};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{
    AuthError, ConfigError, ConfigErrorKind, ErrorKind, KeyError, KeyErrorKind, MalformedPart,
    ProofError,
};
pub use key::{Jwk, VerifyingKey};
pub use keyset::{JwksLoad, KeySet, SkippedKey};
pub use resource::ResourceIdentifier;
pub use scope::{ScopeRequirement, ScopeSource, Scopes, is_scope_token};
pub use step_up::{StepUp, StepUpRefusal, StepUpShortfall};
pub use tenant::IssuerTemplate;
pub use validation::{TypPolicy, Validator, ValidatorBuilder};
pub use verify::{
    CertificateThumbprint, OwnedPresentation, Presentation, Scheme, Verdict, Verifier,
};

/// Entry points for fuzz targets and property tests: the parsing steps of
/// [`Validator::validate`] on their own, before any signature. Not a stable API.
#[doc(hidden)]
pub mod internal {
    use crate::error::{ErrorKind, MalformedPart};

    /// Size and shape checks, base64url decoding, the header and the payload JSON, as
    /// [`Validator::validate`](crate::Validator::validate) reads them (the payload is parsed
    /// here whatever the signature would say).
    ///
    /// # Errors
    /// The [`ErrorKind`] of the first step that refuses the token.
    /// The checks of a DPoP proof that need no state, as [`Dpop::verify`](crate::dpop::Dpop::verify)
    /// runs them, for a request with `method` to `path` at `https://api.test`, with `token`,
    /// at the time `now`; then the nonce check of `nonce` against a fixed secret, and the
    /// normal form of `proof` read as a URI.
    ///
    /// # Errors
    /// The [`ProofError`](crate::ProofError) of the first check that refuses the proof.
    pub fn check_dpop_proof(
        proof: &str,
        token: &str,
        method: &str,
        path: &str,
        now: f64,
    ) -> Result<(), crate::ProofError> {
        let _ = crate::dpop::uri::normalize(proof);
        crate::dpop::fuzz_nonce(proof);
        let presentation = crate::Presentation::new(crate::Scheme::DPoP, token)
            .with_request(method, path)
            .with_origin("https://api.test");
        crate::dpop::fuzz_proof(proof, &presentation, now).map(|_| ())
    }

    pub fn parse_token(token: &str, max_len: usize) -> Result<(), ErrorKind> {
        let decoded = crate::jws::decode(token, max_len)?;
        let header = crate::jws::parse_header(decoded.header())?;
        crate::alg::Algorithm::from_jose(&header.alg).ok_or(ErrorKind::UnsupportedAlgorithm)?;
        let payload = std::str::from_utf8(decoded.payload())
            .map_err(|_| ErrorKind::Malformed(MalformedPart::Payload))?;
        crate::claims::parse_payload(payload, &[])?.claims(None, None)?;
        Ok(())
    }
}
