//! Key sources for portcullis: where verification keys come from, and how they are kept fresh.
//!
//! - [`JwtVerifier`]: the [`Verifier`](portcullis_core::Verifier) of signed tokens: one key
//!   source, one [`Validator`](portcullis_core::Validator), a [`TokenCache`] of verified
//!   tokens. It decides with the current keys at once, and only for a `kid` they lack answers
//!   a pending verdict that asks the source for newer keys.
//! - [`KeySource`]: where keys come from. The request path reads [`KeySource::snapshot`]
//!   (lock-free, never waits for the network); only a token whose `kid` is unknown calls
//!   [`KeySource::refresh_for_unknown_kid`].
//! - [`StaticKeys`]: a key set, a JWKS document or file, a PEM/DER public key, or an HMAC secret
//!   bound to one algorithm.
//! - [`RemoteJwks`]: a JWKS over HTTPS (or found through discovery with
//!   [`RemoteJwks::discover`]), cached, refreshed in the background, kept through outages.
//! - [`Issuers`]: the router by issuer: several trusted issuers, each with its own verifier,
//!   chosen by the token's `iss` before verification; any other issuer is refused without a
//!   network request.
//! - [`Timer`]: the injected clock of the cache rules ([`ManualTimer`] in tests).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use portcullis_core::{ErrorKind, Presentation, Validator, Verifier};
//! use portcullis_jwks::{JwtVerifier, RemoteJwks};
//! use portcullis_testkit::TestIssuer;
//!
//! let idp = TestIssuer::start().await; // an authorization server on 127.0.0.1
//! let keys = RemoteJwks::discover(idp.issuer()).build().await.unwrap();
//! let validator = Validator::builder().issuer(idp.issuer()).audience("api").build().unwrap();
//! let verifier = JwtVerifier::new(keys, validator);
//!
//! let token = idp.token().sign();
//! assert!(verifier.verify(&Presentation::bearer(&token)).await.is_ok());
//! let expired = idp.token().expires_in(-3600).sign();
//! let refused = verifier.verify(&Presentation::bearer(&expired)).await.unwrap_err();
//! assert_eq!(refused.kind(), &ErrorKind::Expired);
//! # }
//! ```
//!
//! # Defaults of [`RemoteJwks`], and why
//!
//! The reference implementations compared are Nimbus `JWKSourceBuilder`, panva/jose
//! `createRemoteJWKSet`, Envoy `jwt_authn`, Microsoft `ConfigurationManager`, keyfunc and
//! go-jwt-middleware (the project's `research/anchors.md` lists their values).
//!
//! | setting | default | reason |
//! |---|---|---|
//! | key lifetime without `max-age` | 5 min ([`DEFAULT_TTL`]) | Nimbus and Spring; a rotation is picked up within minutes even without an unknown-`kid` refetch |
//! | `max-age` honoured within | [30 s, 1 h] ([`DEFAULT_MIN_TTL`], [`DEFAULT_MAX_TTL`]) | a server asking for 0 s must not turn every request into a fetch; one asking for days must not pin a retired key that long (go-jwt-middleware honours [1 s, 7 d], which allows both) |
//! | `no-store`, `no-cache`, conflicting `max-age` | the minimum, 30 s | the server asks not to cache; 30 s is the least that still shields it |
//! | background refresh | at 80% of the lifetime, ±10% jitter ([`DEFAULT_REFRESH_AHEAD`], [`DEFAULT_REFRESH_JITTER`]) | go-jwt-middleware's 80%, Nimbus's refresh-ahead: requests never wait for an expiry; jitter spreads a fleet's fetches |
//! | unknown-`kid` refetch | at most 2 per 30 s, counted from attempts, over it refused at once ([`DEFAULT_UNKNOWN_KID_BUDGET`], [`DEFAULT_UNKNOWN_KID_COOLDOWN`]) | Nimbus's "one left for rotation"; counting attempts (not successes, as jose does) stops hammering a failing endpoint; refusing rather than queueing is keyfunc's lesson (jwkset#29) |
//! | concurrent unknown-`kid` callers | share one fetch, wait at most its timeout | Nimbus's single flight with its reference comparison: no fetch when the keys changed since the caller's snapshot |
//! | retries after a failure | 1 s doubling to 30 s, ±20% jitter ([`DEFAULT_BACKOFF_MIN`], [`DEFAULT_BACKOFF_MAX`]) | Envoy retries every 1 s; doubling to 30 s spares a struggling server, jitter de-synchronises a fleet |
//! | last good keys during failures | served until 6 h past their lifetime, a `warn` log per failed refresh ([`DEFAULT_MAX_STALENESS`]) | Envoy and Microsoft serve old keys forever, Spring and jose not at all (spring#18196: one timeout, 15 min of 401s); bounded staleness with an alert is the middle |
//! | timeouts | 2 s connect, 5 s total ([`DEFAULT_CONNECT_TIMEOUT`], [`DEFAULT_TIMEOUT`]) | jose's 5 s; Spring's 30 s + 30 s ties up waiting requests too long |
//! | body | 1 MiB, read in chunks, `Content-Length` not trusted ([`DEFAULT_MAX_BODY_BYTES`]) | go-jwt-middleware's 1 MiB; real JWKS documents are a few KiB |
//! | keys per document | 100 ([`DEFAULT_MAX_KEYS`]) | real sets hold a handful; a cap bounds the parse cost of a hostile document |
//! | status | `200` only (`304` to a conditional request) | jose; an error page is never parsed as keys |
//! | scheme | `https://`; `http://` only for loopback unless `danger_allow_http` | anyone on a plain-HTTP path could substitute keys |
//! | redirects (default client) | same scheme, host and port only, at most 3 | jose follows none; same-origin moves are harmless, another host is not the configured server |
//! | symmetric keys | never from a remote JWKS unless `danger_allow_symmetric_keys` | jose and auth0: a published secret is no secret |
//! | one bad key | skipped (debug log; a published private key or a repeated `kid` is a `warn` naming the kid, once per fetch), the set fails only if no key is usable | Envoy; keyfunc's all-or-nothing lets one odd key take the whole issuer down |
//!
//! A failed fetch never replaces good keys; a `304 Not Modified` keeps them and renews their
//! lifetime. The background task holds only a weak reference to the source and ends when the
//! last handle is dropped.
//!
//! # Deployment caveat
//!
//! The cache rules run on the injected [`Timer`]; the HTTP timeouts are real time. A source is
//! per process: a fleet of N processes makes up to N times the fetches.

mod cache;
mod error;
// Shared with portcullis-introspect; not a stable API.
#[doc(hidden)]
pub mod http;
mod issuers;
mod observe;
pub mod remote;
mod source;
pub mod timer;
mod verifier;

pub use cache::{DEFAULT_CACHE_ENTRIES, TokenCache};
pub use error::{SourceError, SourceErrorKind};
pub use issuers::{Issuers, IssuersBuilder};
pub use remote::{
    DEFAULT_BACKOFF_MAX, DEFAULT_BACKOFF_MIN, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_KEYS, DEFAULT_MAX_STALENESS, DEFAULT_MAX_TTL, DEFAULT_MIN_TTL,
    DEFAULT_REFRESH_AHEAD, DEFAULT_REFRESH_JITTER, DEFAULT_STARTUP_DEADLINE, DEFAULT_TIMEOUT,
    DEFAULT_TTL, DEFAULT_UNKNOWN_KID_BUDGET, DEFAULT_UNKNOWN_KID_COOLDOWN, FetchStats,
    JwksDocument, RemoteJwks, RemoteJwksBuilder, ServerMetadata, checked_discovered_url,
    checked_url, discover_metadata,
};
pub use source::{KeySource, RefreshFuture, StaticKeys};
pub use timer::{ManualTimer, Sleep, Timer, TokioTimer};
pub use verifier::JwtVerifier;
