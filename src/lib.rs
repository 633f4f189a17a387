//! portcullis protects HTTP and gRPC APIs written in Rust: it verifies bearer access tokens
//! (JWTs signed by your authorization server), checks their claims and the scopes each route
//! requires, and answers what RFC 6750 prescribes when it refuses.
//!
//! This crate is the facade: it re-exports the workspace's crates.
//!
//! | module | crate | what it holds |
//! |---|---|---|
//! | [`jwt`] | `portcullis-core` | compact-JWS parsing, keys, algorithms, claims rules, scopes, errors, the [`Verifier`] interface |
//! | [`keys`] | `portcullis-jwks` (feature `keys`, default) | key sources (remote JWKS with discovery, caching and rotation; static keys), the JWT verifier and its token cache, the router by issuer |
//! | [`introspection`] | `portcullis-introspect` (feature `layer`, default) | opaque tokens: RFC 7662 introspection with client authentication and a cache of verdicts; JWT-or-opaque routing |
//! | [`layer`] | `portcullis-tower` (feature `layer`, default) | the tower `Layer`, token extraction, scope checks, policy table, RFC 6750 / gRPC answers, axum extractors |
//! | `mcp` | `portcullis-tower` (feature `mcp`) | the MCP profile: header-only tokens, the resource's metadata, a scope requirement per tool read from `tools/call` bodies |
//! | [`Portcullis`], [`Config`] | this crate (feature `layer`) | the front door: the builder and the serde configuration |
//! | [`manual`] | this crate | the security manual: each threat, how portcullis defends, the tests that prove it; the defaults and their reasons; performance |
//!
//! The names a handler needs are also at the root: [`Claims`], [`Scopes`], the axum
//! extractors [`Verified`], [`VerifiedClaims`] and [`GrantedScopes`].
//!
//! ```
//! use portcullis::jwt::{Algorithm, KeySet, Validator, VerifyingKey};
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

pub use portcullis_core as jwt;
pub use portcullis_core::health;
pub use portcullis_core::revocation;
#[cfg(feature = "layer")]
pub use portcullis_introspect as introspection;
#[cfg(feature = "keys")]
pub use portcullis_jwks as keys;
#[cfg(feature = "redis")]
pub use portcullis_redis as redis;
#[cfg(feature = "layer")]
pub use portcullis_tower as layer;
#[cfg(feature = "mcp")]
pub use portcullis_tower::mcp;

pub use portcullis_core::{
    Algorithm, Claims, ConfigError, ConfigErrorKind, Presentation, ResourceIdentifier,
    ScopeRequirement, Scopes, StepUp, TypPolicy, Validator, Verdict, Verifier,
};
#[cfg(feature = "layer")]
pub use portcullis_tower::axum::{GrantedScopes, Verified, VerifiedClaims};
#[cfg(feature = "layer")]
pub use portcullis_tower::{Access, JsonAnswer, Policy, Rejection, Requirements, ResourceMetadata};

#[cfg(feature = "layer")]
mod facade;
#[cfg(feature = "layer")]
mod gateway;
pub mod manual;
#[cfg(feature = "layer")]
pub mod profiles;
#[cfg(feature = "layer")]
pub use facade::{
    Config, DpopConfig, IntrospectionConfig, IssuerConfig, Portcullis, PortcullisBuilder,
    RedisConfig, RedisIntrospectionConfig, RedisRevocationConfig, TokenMode,
};
#[cfg(feature = "layer")]
pub use gateway::{
    ClaimHeaderConfig, DEFAULT_GATEWAY_LISTEN, GatewayConfig, RouteAccess, RouteConfig,
    RouteSyntaxError, is_scope_path,
};
#[cfg(feature = "layer")]
pub use portcullis_core::ClaimPath;
#[cfg(feature = "layer")]
pub use profiles::Issuer;
