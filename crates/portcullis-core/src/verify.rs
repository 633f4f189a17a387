//! The verification interface: what an adapter hands a verifier ([`Presentation`]: the whole
//! presentation of the credential) and what it gets back ([`Verdict`]: decided now, or pending
//! on something the verifier must fetch first).
//!
//! The common path is synchronous: a verifier that can decide with what it holds (the current
//! key snapshot, a cached verdict) answers [`Verdict::Ready`] inside the adapter's `call`.
//! Only when it must wait (a `kid` its keys lack, an introspection call) does it answer
//! [`Verdict::Pending`] with the future that finishes the work: an explicit state, never an
//! error value read back to decide whether to wait.
//!
//! ```
//! use portcullis_core::verify::{Presentation, Verdict, Verifier};
//! use portcullis_core::{AuthError, ErrorKind};
//!
//! /// Accepts nothing: a verifier only has to say so.
//! struct Nobody;
//!
//! impl Verifier for Nobody {
//!     fn verify(&self, _presentation: &Presentation<'_>) -> Verdict {
//!         Verdict::Ready(Err(ErrorKind::UnknownKey.into()))
//!     }
//! }
//!
//! let presentation = Presentation::bearer("a.b.c").with_request("GET", "/orders?page=2");
//! assert!(matches!(Nobody.verify(&presentation), Verdict::Ready(Err(_))));
//! assert_eq!(presentation.target_uri(), None); // no public origin configured
//! let public = presentation.with_origin("https://api.example.com");
//! assert_eq!(public.target_uri().as_deref(), Some("https://api.example.com/orders?page=2"));
//! ```

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::claims::Claims;
use crate::error::AuthError;
use crate::jws::DEFAULT_MAX_TOKEN_LEN;

/// The authentication scheme a credential was presented with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scheme {
    /// `Authorization: Bearer` (RFC 6750), or a configured cookie, header or query parameter.
    Bearer,
    /// `Authorization: DPoP` (RFC 9449): a sender-constrained token with its proof.
    DPoP,
}

impl Scheme {
    /// The scheme's name as it appears in `Authorization` and `WWW-Authenticate`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Bearer => "Bearer",
            Scheme::DPoP => "DPoP",
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The SHA-256 thumbprint of the client certificate of a mutual-TLS connection (RFC 8705
/// `x5t#S256`: the digest of the certificate's DER), as the TLS acceptor or a trusted proxy
/// reported it. An adapter that finds this type in a request's extensions hands it on in the
/// [`Presentation`].
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CertificateThumbprint(pub [u8; 32]);

impl fmt::Debug for CertificateThumbprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CertificateThumbprint(")?;
        for byte in &self.0 {
            write!(f, "{byte:02x}")?;
        }
        f.write_str(")")
    }
}

/// Everything a request presents to prove who may use it: the credential and its scheme, the
/// request it came with (method and target), a DPoP proof, a client-certificate thumbprint.
///
/// Borrowed from the request: building one costs nothing. The public target URI is never
/// guessed from a `Host` header: it exists only when the adapter was configured with the
/// public origin ([`Presentation::with_origin`]).
///
/// `Debug` shows neither the token nor the proof.
#[derive(Clone, Copy)]
pub struct Presentation<'a> {
    scheme: Scheme,
    token: &'a str,
    method: &'a str,
    origin: Option<&'a str>,
    path_and_query: &'a str,
    dpop_proof: Option<&'a str>,
    certificate: Option<&'a CertificateThumbprint>,
    /// The RFC 7638 thumbprint of the key of the DPoP proof, once portcullis has checked the
    /// proof (only [`crate::dpop`] sets it).
    proven_key: Option<[u8; 32]>,
}

impl<'a> Presentation<'a> {
    /// A token presented with `scheme`, with no request details yet.
    #[must_use]
    pub fn new(scheme: Scheme, token: &'a str) -> Self {
        Presentation {
            scheme,
            token,
            method: "",
            origin: None,
            path_and_query: "",
            dpop_proof: None,
            certificate: None,
            proven_key: None,
        }
    }

    /// A bearer token (RFC 6750), with no request details yet.
    #[must_use]
    pub fn bearer(token: &'a str) -> Self {
        Presentation::new(Scheme::Bearer, token)
    }

    /// The request method (`GET`; gRPC calls are `POST`) and its path and query as received
    /// (`/orders?page=2`).
    #[must_use]
    pub fn with_request(mut self, method: &'a str, path_and_query: &'a str) -> Self {
        self.method = method;
        self.path_and_query = path_and_query;
        self
    }

    /// The public origin the clients address (`https://api.example.com`, no trailing slash),
    /// from configuration: with it, [`Presentation::target_uri`] is known.
    #[must_use]
    pub fn with_origin(mut self, origin: &'a str) -> Self {
        self.origin = Some(origin);
        self
    }

    /// The value of the request's one `DPoP` header (RFC 9449), a compact JWS.
    #[must_use]
    pub fn with_dpop_proof(mut self, proof: &'a str) -> Self {
        self.dpop_proof = Some(proof);
        self
    }

    /// The thumbprint of the client certificate of the connection.
    #[must_use]
    pub fn with_certificate(mut self, thumbprint: &'a CertificateThumbprint) -> Self {
        self.certificate = Some(thumbprint);
        self
    }

    /// The scheme the credential came with.
    #[must_use]
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The access token.
    #[must_use]
    pub fn token(&self) -> &'a str {
        self.token
    }

    /// The request method; empty when the adapter gave none.
    #[must_use]
    pub fn method(&self) -> &'a str {
        self.method
    }

    /// The request's path and query as received; empty when the adapter gave none.
    #[must_use]
    pub fn path_and_query(&self) -> &'a str {
        self.path_and_query
    }

    /// The configured public origin, if any.
    #[must_use]
    pub fn origin(&self) -> Option<&'a str> {
        self.origin
    }

    /// The public target URI (origin, then path and query): known only with a configured
    /// origin.
    #[must_use]
    pub fn target_uri(&self) -> Option<String> {
        self.origin
            .map(|origin| format!("{origin}{}", self.path_and_query))
    }

    /// The URI a DPoP proof's `htu` is compared with (RFC 9449 section 4.3): the target URI
    /// without its query (and fragment, which a request never carries). Known only with a
    /// configured origin.
    #[must_use]
    pub fn htu(&self) -> Option<String> {
        let path = self
            .path_and_query
            .split_once('?')
            .map_or(self.path_and_query, |(path, _)| path);
        self.origin.map(|origin| format!("{origin}{path}"))
    }

    /// The DPoP proof, if the request carried one.
    #[must_use]
    pub fn dpop_proof(&self) -> Option<&'a str> {
        self.dpop_proof
    }

    /// The client certificate's thumbprint, if the connection had one.
    #[must_use]
    pub fn certificate(&self) -> Option<&'a CertificateThumbprint> {
        self.certificate
    }

    /// The RFC 7638 SHA-256 thumbprint of the DPoP proof's key, once the proof passed every
    /// check of [`Dpop`](crate::dpop::Dpop) that needs no state: what a DPoP-bound token's
    /// `cnf.jkt` must equal. `None` before, and without a proof. Nothing outside portcullis can
    /// set it: a verifier reading it knows the proof was checked.
    #[must_use]
    pub fn proven_key(&self) -> Option<&[u8; 32]> {
        self.proven_key.as_ref()
    }

    pub(crate) fn with_proven_key(mut self, thumbprint: [u8; 32]) -> Self {
        self.proven_key = Some(thumbprint);
        self
    }
}

impl Presentation<'_> {
    /// An owned copy, for a future that outlives the request (a [`Verdict::Pending`]).
    #[must_use]
    pub fn to_owned(&self) -> OwnedPresentation {
        OwnedPresentation {
            scheme: self.scheme,
            token: self.token.into(),
            method: self.method.into(),
            origin: self.origin.map(Into::into),
            path_and_query: self.path_and_query.into(),
            dpop_proof: self.dpop_proof.map(Into::into),
            certificate: self.certificate.copied(),
            proven_key: self.proven_key,
        }
    }
}

/// A [`Presentation`] that owns what it holds: [`Presentation::to_owned`], read back with
/// [`OwnedPresentation::presentation`]. `Debug` shows neither the token nor the proof.
#[derive(Clone)]
pub struct OwnedPresentation {
    scheme: Scheme,
    token: Box<str>,
    method: Box<str>,
    origin: Option<Box<str>>,
    path_and_query: Box<str>,
    dpop_proof: Option<Box<str>>,
    certificate: Option<CertificateThumbprint>,
    proven_key: Option<[u8; 32]>,
}

impl OwnedPresentation {
    /// The presentation, borrowed from this copy.
    #[must_use]
    pub fn presentation(&self) -> Presentation<'_> {
        Presentation {
            scheme: self.scheme,
            token: &self.token,
            method: &self.method,
            origin: self.origin.as_deref(),
            path_and_query: &self.path_and_query,
            dpop_proof: self.dpop_proof.as_deref(),
            certificate: self.certificate.as_ref(),
            proven_key: self.proven_key,
        }
    }
}

impl fmt::Debug for OwnedPresentation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.presentation(), f)
    }
}

impl fmt::Debug for Presentation<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the token or the proof: only whether they are there.
        f.debug_struct("Presentation")
            .field("scheme", &self.scheme)
            .field("token_len", &self.token.len())
            .field("method", &self.method)
            .field("origin", &self.origin)
            .field("path_and_query", &self.path_and_query)
            .field("dpop_proof", &self.dpop_proof.map(|_| "<present>"))
            .field("certificate", &self.certificate)
            .field("proven_key", &self.proven_key.is_some())
            .finish()
    }
}

/// The future of [`Verdict::Pending`]: owned (`'static`), so the adapter can keep it across
/// polls without borrowing the request or the verifier.
pub type PendingVerdict = Pin<Box<dyn Future<Output = Result<Claims, AuthError>> + Send>>;

/// What a [`Verifier`] answers.
#[must_use]
pub enum Verdict {
    /// Decided with what the verifier holds: the verified claims, or why the credential is
    /// refused.
    Ready(Result<Claims, AuthError>),
    /// The verifier must fetch first (keys for an unknown `kid`, an introspection call); the
    /// future finishes the verification.
    Pending(PendingVerdict),
}

impl Verdict {
    /// A pending verdict from a future.
    pub fn pending(
        future: impl Future<Output = Result<Claims, AuthError>> + Send + 'static,
    ) -> Self {
        Verdict::Pending(Box::pin(future))
    }

    /// Whether the verdict is decided.
    #[must_use]
    pub fn is_ready(&self) -> bool {
        matches!(self, Verdict::Ready(_))
    }
}

impl From<Result<Claims, AuthError>> for Verdict {
    fn from(result: Result<Claims, AuthError>) -> Self {
        Verdict::Ready(result)
    }
}

impl fmt::Debug for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Ready(result) => f.debug_tuple("Ready").field(result).finish(),
            Verdict::Pending(_) => f.write_str("Pending(..)"),
        }
    }
}

/// The future of a [`Verdict`] awaited: `verifier.verify(&presentation).await`.
#[must_use = "futures do nothing unless polled"]
pub struct VerdictFuture {
    state: State,
}

enum State {
    Ready(Option<Result<Claims, AuthError>>),
    Pending(PendingVerdict),
}

impl Future for VerdictFuture {
    type Output = Result<Claims, AuthError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.state {
            State::Ready(result) => match result.take() {
                Some(result) => Poll::Ready(result),
                // Polled after completion: a contract violation of the caller; stay pending
                // rather than panic.
                None => Poll::Pending,
            },
            State::Pending(future) => future.as_mut().poll(cx),
        }
    }
}

impl IntoFuture for Verdict {
    type Output = Result<Claims, AuthError>;
    type IntoFuture = VerdictFuture;

    fn into_future(self) -> VerdictFuture {
        VerdictFuture {
            state: match self {
                Verdict::Ready(result) => State::Ready(Some(result)),
                Verdict::Pending(future) => State::Pending(future),
            },
        }
    }
}

/// Decides whether a presented credential is valid, and with which claims.
///
/// Implemented by the JWT verifier (`portcullis-jwks`), the introspector
/// (`portcullis-introspect`), the router by issuer, and anything of yours. The adapter calls
/// [`Verifier::verify`] inside its `call` and awaits only a [`Verdict::Pending`].
pub trait Verifier: Send + Sync + 'static {
    /// The verdict on `presentation`: ready when this verifier can decide at once, pending
    /// when it must fetch first.
    fn verify(&self, presentation: &Presentation<'_>) -> Verdict;

    /// Whether every token this verifier accepts is an RFC 6750 `b64token` (a compact JWS
    /// always is). Then the adapter checks the syntax only of the tokens it refuses, to tell
    /// a malformed request (400) from an invalid token (401); otherwise (the default) it
    /// checks every token before the verifier sees it.
    fn accepts_only_b64tokens(&self) -> bool {
        false
    }

    /// The longest token this verifier reads (what a router may read of a token before
    /// verification, to choose a verifier).
    fn max_token_len(&self) -> usize {
        DEFAULT_MAX_TOKEN_LEN
    }

    /// The state of each key source this verifier depends on, by its configured name, for
    /// readiness probes ([`SourceHealth::all_ready`](crate::health::SourceHealth::all_ready)).
    /// Cheap: no fetch, no lock held for long. The default, for a verifier without key
    /// sources (introspection), reports none.
    fn health(&self) -> Vec<crate::health::SourceHealth> {
        Vec::new()
    }

    /// Now, in Unix seconds, by the clock this verifier judges `exp` and `nbf` with, for the
    /// rules checked after it that depend on the time too (a step-up's `auth_time`, see
    /// [`StepUp::check`](crate::StepUp::check)). The system clock, unless the verifier has
    /// an injected one (a [`Validator`](crate::Validator)'s).
    fn now_unix(&self) -> f64 {
        crate::clock::Clock::now_unix(&crate::clock::SystemClock)
    }
}

impl<V: Verifier + ?Sized> Verifier for Arc<V> {
    fn verify(&self, presentation: &Presentation<'_>) -> Verdict {
        (**self).verify(presentation)
    }

    fn accepts_only_b64tokens(&self) -> bool {
        (**self).accepts_only_b64tokens()
    }

    fn health(&self) -> Vec<crate::health::SourceHealth> {
        (**self).health()
    }

    fn max_token_len(&self) -> usize {
        (**self).max_token_len()
    }

    fn now_unix(&self) -> f64 {
        (**self).now_unix()
    }
}

impl<V: Verifier + ?Sized> Verifier for Box<V> {
    fn verify(&self, presentation: &Presentation<'_>) -> Verdict {
        (**self).verify(presentation)
    }

    fn health(&self) -> Vec<crate::health::SourceHealth> {
        (**self).health()
    }

    fn accepts_only_b64tokens(&self) -> bool {
        (**self).accepts_only_b64tokens()
    }

    fn max_token_len(&self) -> usize {
        (**self).max_token_len()
    }

    fn now_unix(&self) -> f64 {
        (**self).now_unix()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn debug_never_shows_the_token_or_the_proof() {
        let thumb = CertificateThumbprint([0xab; 32]);
        let p = Presentation::bearer("secret-token-value")
            .with_request("POST", "/x")
            .with_dpop_proof("secret-proof-value")
            .with_certificate(&thumb);
        let shown = format!("{p:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("token_len: 18"), "{shown}");
        assert!(shown.contains("abababab"), "{shown}");
        assert_eq!(p.dpop_proof(), Some("secret-proof-value"));
        assert_eq!(p.certificate(), Some(&thumb));
        assert_eq!((p.method(), p.path_and_query()), ("POST", "/x"));
        assert_eq!(p.scheme(), Scheme::Bearer);
        assert_eq!(Scheme::DPoP.to_string(), "DPoP");
    }

    #[test]
    fn a_target_uri_needs_a_configured_origin() {
        let p = Presentation::new(Scheme::DPoP, "t").with_request("GET", "/a?b=c");
        assert_eq!(p.target_uri(), None);
        assert_eq!(p.origin(), None);
        assert_eq!(p.htu(), None);
        let p = p.with_origin("https://api.test");
        assert_eq!(p.target_uri().as_deref(), Some("https://api.test/a?b=c"));
        assert_eq!(p.htu().as_deref(), Some("https://api.test/a"));
        let plain = p.with_request("GET", "/a/b");
        assert_eq!(plain.htu().as_deref(), Some("https://api.test/a/b"));
    }

    #[test]
    fn verdicts_resolve_whether_ready_or_pending() {
        let ready = Verdict::from(Err(ErrorKind::Expired.into()));
        assert!(ready.is_ready());
        assert!(format!("{ready:?}").starts_with("Ready"));
        let pending = Verdict::pending(async { Err(ErrorKind::UnknownKey.into()) });
        assert!(!pending.is_ready());
        assert_eq!(format!("{pending:?}"), "Pending(..)");
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        for (verdict, kind) in [
            (ready, ErrorKind::Expired),
            (pending, ErrorKind::UnknownKey),
        ] {
            let mut future = std::pin::pin!(verdict.into_future());
            match future.as_mut().poll(&mut cx) {
                Poll::Ready(Err(e)) => assert_eq!(e.kind(), &kind),
                other => panic!("{other:?}"),
            }
            if kind == ErrorKind::Expired {
                // A ready verdict polled again after completion: pending, no panic.
                assert!(future.as_mut().poll(&mut cx).is_pending());
            }
        }
    }
}
