//! Opaque access tokens for portcullis: RFC 7662 token introspection.
//!
//! An opaque token says nothing by itself; only the authorization server that issued it knows
//! whether it is active and what it grants. An [`Introspector`] asks the server's
//! introspection endpoint, authenticated as this resource server (`client_secret_basic` or
//! `client_secret_post`), reads the answer, applies the same claim rules as to a JWT (a
//! [`Validator`](portcullis_core::Validator): issuer, audience, expiry with leeway, required
//! claims, custom rules), and remembers the verdict for a while.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use portcullis_core::{ErrorKind, Validator};
//! use portcullis_introspect::Introspector;
//! use portcullis_testkit::TestIssuer;
//!
//! let idp = TestIssuer::start().await; // an authorization server on 127.0.0.1
//! let rules = Validator::builder().issuer(idp.issuer()).audience("api").build().unwrap();
//! let introspector = Introspector::discover(idp.issuer(), rules)
//!     .client_secret_basic("client-1", "secret-1")
//!     .build()
//!     .await
//!     .unwrap();
//!
//! let token = idp.opaque(&idp.token().scope("orders.read"));
//! let claims = introspector.introspect(&token).await.unwrap();
//! assert!(claims.scopes().contains("orders.read"));
//!
//! let unknown = introspector.introspect("no-such-token").await.unwrap_err();
//! assert_eq!(unknown.kind(), &ErrorKind::Inactive);
//! # }
//! ```
//!
//! [`Introspector`] is a [`Verifier`](portcullis_core::Verifier), for the tower layer or any
//! adapter: a token with a current verdict is answered without waiting
//! ([`Introspector::cached`]); any other gets a pending verdict that awaits
//! [`Introspector::introspect`]. [`JwtOrIntrospection`] takes JWTs and opaque tokens side by
//! side.
//!
//! # What is refused, and what is "unavailable"
//!
//! | the endpoint says | verdict |
//! |---|---|
//! | `active: false` | refused: [`ErrorKind::Inactive`](portcullis_core::ErrorKind::Inactive) (401) |
//! | `active: true`, claims a rule refuses (other issuer or audience, expired, ...) | refused with the rule's reason (401), as for a JWT |
//! | `active: true`, `token_type` other than `Bearer` (or RFC 8693's `access_token`) | refused: `WrongType` (401); a DPoP-bound token is not a bearer token |
//! | `401`/`403` (our client credentials refused) | unavailable (503), logged at `error` as a configuration error |
//! | another status, a timeout, no connection, not an RFC 7662 body | unavailable (503), logged at `warn` |
//!
//! "Unavailable" is [`ErrorKind::KeysUnavailable`](portcullis_core::ErrorKind::KeysUnavailable):
//! the layer answers `503` with `Retry-After`, so that clients keep their token rather than
//! re-authenticating during an outage. It is never remembered.
//!
//! # Defaults, and why
//!
//! | setting | default | reason |
//! |---|---|---|
//! | active verdicts reused | until the earlier of the token's `exp` and 60 s ([`DEFAULT_ACTIVE_TTL`]) | introspection exists to learn of revocation: a minute bounds how long a revoked token still works, while a busy client's requests cost one call a minute |
//! | refusals reused | 10 s ([`DEFAULT_INACTIVE_TTL`]) | a client retrying a dead token, or a flood of one bad token, costs one call per 10 s; an opaque token does not come back to life |
//! | verdicts remembered | 4,096 ([`DEFAULT_CACHE_ENTRIES`]), least recently and frequently used evicted first | as the JWT verified-token cache |
//! | cache key | HMAC-SHA-256 of the token under a random per-process key | the token itself is never stored; the digests are useless outside the process |
//! | concurrent requests with one token | share one call | a burst of requests with a fresh token costs the server one call, not one per request |
//! | calls in flight | at most 64 ([`DEFAULT_MAX_CONCURRENT_CALLS`]); waiting for a slot counts against the timeout | bounds what a flood of distinct made-up tokens makes this process send to the server |
//! | timeouts | 2 s connect, 5 s total ([`DEFAULT_CONNECT_TIMEOUT`], [`DEFAULT_TIMEOUT`]) | as the JWKS fetches |
//! | body | 64 KiB ([`DEFAULT_MAX_BODY_BYTES`]) | responses are a few hundred bytes; each cached verdict keeps its response |
//! | status | `200` only | an error page is never read as a verdict |
//! | redirects | none (default client) | the request carries a token and a secret |
//! | scheme | `https://`; `http://` only for loopback unless `danger_allow_http` | anyone on a plain-HTTP path reads tokens and the secret, and can answer `active: true` |
//! | before any call | empty, over-long (the validator's cap) and non-`b64token` tokens refused | nothing that cannot be a bearer token is sent anywhere |
//!
//! # Deployment caveat
//!
//! A cached active verdict is reused for up to the active lifetime after the token is revoked:
//! shorten it with [`IntrospectorBuilder::active_ttl`], or turn the cache off
//! ([`IntrospectorBuilder::cache_entries`] 0) where revocation must take effect at once. The
//! cache's lifetimes run on the validator's clock; the HTTP timeouts are real time. The cache
//! is per process: a fleet of N processes makes up to N times the calls.

mod cache;
mod client_auth;
mod error;
mod introspector;
mod observe;
mod response;
mod shared;
mod verifier;

pub use client_auth::{AuthMethod, ClientSecret};
pub use error::{IntrospectError, IntrospectErrorKind};
pub use introspector::{
    DEFAULT_ACTIVE_TTL, DEFAULT_CACHE_ENTRIES, DEFAULT_CONNECT_TIMEOUT, DEFAULT_INACTIVE_TTL,
    DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_CONCURRENT_CALLS, DEFAULT_TIMEOUT, Introspection,
    IntrospectionStats, Introspector, IntrospectorBuilder,
};
pub use shared::{
    SharedCacheError, SharedCacheKey, SharedCachePolicy, SharedFuture, SharedVerdicts, ShortSecret,
};
pub use verifier::JwtOrIntrospection;
