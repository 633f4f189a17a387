//! What the layer asks to check a token: [`Verifier`], with its implementations for one key
//! source ([`JwtVerifier`]) and for several trusted issuers ([`Issuers`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tollgate_core::{AuthError, Claims, Validator};
use tollgate_jwks::{Issuers, KeySource, needs_refresh};

/// The future of [`Verifier::verify`]: boxed, because only the rare path (a key the current
/// snapshot lacks) awaits it.
pub type VerifyFuture<'a> = Pin<Box<dyn Future<Output = Result<Claims, AuthError>> + Send + 'a>>;

/// Checks bearer tokens for the layer.
///
/// [`Verifier::verify_now`] runs inside `Service::call` with what is at hand (the current key
/// snapshot) and never waits. Only when it refuses with an error for which
/// [`Verifier::may_refresh`] is true does the layer await [`Verifier::verify`], which may fetch.
pub trait Verifier: Send + Sync + 'static {
    /// Checks the token against what is at hand, without waiting for anything.
    ///
    /// # Errors
    /// Why the token is refused.
    fn verify_now(&self, token: &str) -> Result<Claims, AuthError>;

    /// Whether [`Verifier::verify`] might accept a token that [`Verifier::verify_now`] refused
    /// with `error`. The default: an unknown `kid`, or no keys at all.
    fn may_refresh(&self, error: &AuthError) -> bool {
        needs_refresh(error)
    }

    /// Checks the token, asking for fresher keys when the current ones cannot decide.
    fn verify<'a>(&'a self, token: &'a str) -> VerifyFuture<'a>;
}

impl<V: Verifier + ?Sized> Verifier for Arc<V> {
    fn verify_now(&self, token: &str) -> Result<Claims, AuthError> {
        (**self).verify_now(token)
    }

    fn may_refresh(&self, error: &AuthError) -> bool {
        (**self).may_refresh(error)
    }

    fn verify<'a>(&'a self, token: &'a str) -> VerifyFuture<'a> {
        (**self).verify(token)
    }
}

/// One key source and one set of rules: the usual resource server.
///
/// ```
/// use tollgate_core::{Algorithm, Validator};
/// use tollgate_jwks::StaticKeys;
/// use tollgate_tower::{JwtVerifier, Verifier};
///
/// let keys = StaticKeys::hmac(Algorithm::HS256, &[7u8; 32]).unwrap();
/// let rules = Validator::builder()
///     .issuer("https://auth.example.com")
///     .audience("orders-api")
///     .algorithms([Algorithm::HS256])
///     .build()
///     .unwrap();
/// let verifier = JwtVerifier::new(keys, rules);
/// assert!(verifier.verify_now("not-a-token").is_err());
/// ```
#[derive(Debug, Clone)]
pub struct JwtVerifier<S> {
    source: S,
    validator: Validator,
}

impl<S: KeySource> JwtVerifier<S> {
    /// Tokens checked by `validator` against the keys of `source`.
    pub fn new(source: S, validator: Validator) -> Self {
        JwtVerifier { source, validator }
    }

    /// The key source.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// The rules.
    pub fn validator(&self) -> &Validator {
        &self.validator
    }
}

impl<S: KeySource> Verifier for JwtVerifier<S> {
    fn verify_now(&self, token: &str) -> Result<Claims, AuthError> {
        self.validator.validate(token, &self.source.snapshot())
    }

    fn verify<'a>(&'a self, token: &'a str) -> VerifyFuture<'a> {
        Box::pin(tollgate_jwks::validate(
            &self.source,
            &self.validator,
            token,
        ))
    }
}

impl Verifier for Issuers {
    fn verify_now(&self, token: &str) -> Result<Claims, AuthError> {
        self.validate_now(token)
    }

    fn verify<'a>(&'a self, token: &'a str) -> VerifyFuture<'a> {
        Box::pin(self.validate(token))
    }
}
