//! An in-process OAuth authorization server for portcullis's tests, examples and benches.
//!
//! The kit has three layers, each usable without the next:
//!
//! - [`TestKey`]: a freshly generated signing key for any [`Algorithm`] portcullis knows, with its
//!   public half as a JWK, SPKI DER or PEM.
//! - [`TokenBuilder`] and [`tamper`]: mint compact JWS access tokens (RFC 9068 shape by default)
//!   and break them on purpose. No server needed, so benches can use them.
//! - [`TestIssuer`]: a real HTTP server on `127.0.0.1:0` serving discovery documents
//!   (OpenID Connect and RFC 8414), a JWKS and a `client_credentials` token endpoint (bearer or,
//!   with a proof, DPoP-bound tokens; open to browsers through CORS), with key rotation, fault
//!   injection and request counters.
//! - [`providers`]: replicas of Microsoft Entra ID, Amazon Cognito, Keycloak, Auth0, Okta,
//!   Kubernetes and GitHub Actions: discovery, JWKS and tokens (access and ID) shaped like
//!   each provider's, for the profiles' tests.
//! - `tls` (feature `tls`): a generated certificate authority with server and client
//!   certificates, and an axum `Router` served over rustls with client certificates, for
//!   certificate-bound tokens ([`TokenBuilder::certificate_bound`]).
//! - `redis` (feature `redis`): real `redis-server` processes on free loopback ports, one
//!   server or a three-node cluster, and a TCP proxy that delays traffic, for the tests of
//!   the shared stores (`portcullis-redis`). Without `redis-server` those tests skip, unless
//!   `PORTCULLIS_REQUIRE_REDIS=1` makes that a failure.
//! - `proxy` (feature `proxies`): real nginx and Caddy processes on free loopback ports,
//!   from a configuration the test gives, and an upstream that echoes what it received, for
//!   the gateway's tests (`portcullis gateway`). Without the programs those tests skip,
//!   unless `PORTCULLIS_REQUIRE_PROXIES=1` makes that a failure.
//!
//! ```
//! use portcullis_testkit::{tamper, Algorithm, TestKey, TokenBuilder};
//!
//! let key = TestKey::generate(Algorithm::ES256).with_kid("ec-1");
//! let token = TokenBuilder::new(&key).scope("read").sign();
//! let (header, payload, _sig) = tamper::parts(&token);
//! assert!(header.contains(r#""kid":"ec-1""#));
//! assert!(payload.contains(r#""scope":"read""#));
//! // A token with a broken signature is still three segments; only verification tells.
//! assert_ne!(tamper::flip_signature_bit(&token), token);
//! ```
//!
//! This crate is test infrastructure: it panics on misuse (an impossible key size, a bad path)
//! rather than returning errors, and it is not hardened against hostile input.

// Test infrastructure: a panic here is a failed test with a clear message, never a crash an
// attacker can cause, so unwrap/expect/panic are allowed in non-test code too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod dpop;
mod faults;
mod issuer;
mod key;
mod logs;
mod proof_check;
pub mod providers;
#[cfg(feature = "proxies")]
pub mod proxy;
#[cfg(feature = "redis")]
pub mod redis;
mod server;
pub mod tamper;
#[cfg(feature = "tls")]
pub mod tls;
mod token;

pub use dpop::{DpopClient, ProofBuilder, token_hash};
pub use issuer::{JwksFault, RecordedRequest, TestIssuer, TestIssuerBuilder};
pub use key::{
    RSA_1024_KID, RawVerifier, TestKey, rsa_1024_public_jwk, rsa_1024_public_spki_der,
    rsa_1024_token,
};
pub use logs::LogCapture;
pub use portcullis_core::Algorithm;
pub use token::TokenBuilder;

use base64::Engine as _;

/// Encodes bytes as base64url without padding (RFC 7515 section 2), as JWS segments are.
///
/// ```
/// assert_eq!(portcullis_testkit::b64url(b"\xfb\xff"), "-_8");
/// ```
#[must_use]
pub fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url without padding; `None` when the text is not exactly that.
/// Serves `app` on `127.0.0.1:<a free port>` in the current tokio runtime (until the runtime
/// ends) and returns its base URL, `http://127.0.0.1:<port>`: the one loopback server of the
/// tests.
///
/// # Panics
/// When no loopback port can be bound (the test cannot run).
#[allow(clippy::expect_used)] // A test helper: a failure is the test's report.
pub async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free loopback port");
    let addr = listener.local_addr().expect("the bound address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

pub(crate) fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .ok()
}

/// A short random lowercase hex string of `bytes` random bytes.
pub(crate) fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    aws_lc_rs::rand::fill(&mut buf).expect("the system random generator works");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// Seconds since the Unix epoch, now.
pub(crate) fn unix_now() -> i64 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    i64::try_from(secs).unwrap_or(i64::MAX)
}
