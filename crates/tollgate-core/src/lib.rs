//! Token verification for tollgate: compact-JWS parsing, verification keys, algorithms,
//! claims validation, scope requirements and the error taxonomy. No network, no I/O.
//!
//! The request path is [`Validator::validate`]: size and shape checks, the header (algorithm
//! allowlist, `crit`, `typ`), the key chosen by `kid` from a [`KeySet`], the signature
//! (aws-lc-rs, keys parsed once at load time), then the claims against an injected [`Clock`].

pub mod alg;
mod b64;
pub mod claims;
pub mod clock;
mod der;
pub mod error;
pub mod jws;
pub mod key;
pub mod keyset;
mod scan;
pub mod scope;
pub mod validation;

pub use alg::{Algorithm, AlgorithmSet, Family};
pub use claims::Claims;
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{AuthError, ConfigError, ErrorKind, KeyError, KeyErrorKind, MalformedPart};
pub use key::{Jwk, VerifyingKey};
pub use keyset::{JwksLoad, KeySet, SkippedKey};
pub use scope::{ScopeRequirement, Scopes};
pub use validation::{TypPolicy, Validator, ValidatorBuilder};
