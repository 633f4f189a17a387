//! portcullis protects HTTP and gRPC APIs written in Rust: it verifies bearer access tokens
//! (JWTs signed by your authorization server), checks their claims and the scopes each route
//! requires, and answers what RFC 6750 prescribes when it refuses.
//!
//! This crate is the facade: it re-exports the workspace's crates.
//!
//! | module | crate | what it holds |
//! |---|---|---|
//! | [`core`] | `portcullis-core` | compact-JWS parsing, keys, algorithms, claims validation, scopes, errors |
//! | [`jwks`] | `portcullis-jwks` (feature `jwks`, default) | key sources: remote JWKS with discovery, caching and rotation; static keys; several issuers |
//! | [`tower`] | `portcullis-tower` (feature `tower`, default) | the tower `Layer`, token extraction, scope checks, policy table, RFC 6750 / gRPC answers, axum extractors |
//! | [`introspect`] | `portcullis-introspect` (feature `tower`, default) | opaque tokens: RFC 7662 introspection with client authentication and a cache of verdicts |
//! | [`Portcullis`], [`Config`] | this crate (feature `tower`) | the builder and the serde configuration |
//! | [`manual`] | this crate | the security manual: each threat, how portcullis defends, the tests that prove it |
//!
//! ```
//! use portcullis::core::{Algorithm, KeySet, Validator, VerifyingKey};
//!
//! let keys = KeySet::new(vec![VerifyingKey::hmac(Algorithm::HS256, &[42u8; 32]).unwrap()]);
//! let validator = Validator::builder()
//!     .issuer("https://auth.example.com")
//!     .audience("orders-api")
//!     .algorithms([Algorithm::HS256])
//!     .build()
//!     .unwrap();
//! // A request's bearer token goes through `validate`; anything not a valid token is refused.
//! assert!(validator.validate("eyJhbGciOiJub25lIn0.e30.", &keys).is_err());
//! ```

pub use portcullis_core as core;
#[cfg(feature = "tower")]
pub use portcullis_introspect as introspect;
#[cfg(feature = "jwks")]
pub use portcullis_jwks as jwks;
#[cfg(feature = "tower")]
pub use portcullis_tower as tower;

#[cfg(feature = "tower")]
mod facade;
pub mod manual;
#[cfg(feature = "tower")]
pub use facade::{
    BuildError, Config, IntrospectionConfig, IssuerConfig, Portcullis, PortcullisBuilder, TokenMode,
};
