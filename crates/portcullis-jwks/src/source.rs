//! The key-source trait and static keys.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use portcullis_core::{Algorithm, AlgorithmSet, ErrorKind, Presentation, Validator, Verifier};
//! use portcullis_jwks::{JwtVerifier, StaticKeys};
//! use portcullis_testkit::{TestKey, TokenBuilder};
//!
//! let key = TestKey::generate(Algorithm::ES256).with_kid("k1");
//! let keys = StaticKeys::from_pem(&key.public_pem(), AlgorithmSet::only(Algorithm::ES256)).unwrap();
//! let validator = Validator::builder().issuer("https://issuer.test").audience("api").build().unwrap();
//!
//! let verifier = JwtVerifier::new(keys, validator);
//!
//! // A key without `kid` verifies tokens without `kid`.
//! let token = TokenBuilder::new(&key).remove_header("kid").sign();
//! assert!(verifier.verify(&Presentation::bearer(&token)).await.is_ok());
//!
//! let other = TestKey::generate(Algorithm::ES256).with_kid("k1");
//! let forged = TokenBuilder::new(&other).remove_header("kid").sign();
//! let refused = verifier.verify(&Presentation::bearer(&forged)).await.unwrap_err();
//! assert_eq!(refused.kind(), &ErrorKind::InvalidSignature);
//! # }
//! ```

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use portcullis_core::health::KeyHealth;
use portcullis_core::{Algorithm, AlgorithmSet, KeyError, KeySet, VerifyingKey};

use crate::error::{SourceError, SourceErrorKind};

/// The future of [`KeySource::refresh_for_unknown_kid`]. Boxed: it runs only on the rare path
/// (a `kid` the snapshot does not hold), and boxing keeps the trait usable as `dyn KeySource`.
pub type RefreshFuture<'a> = Pin<Box<dyn Future<Output = Result<KeySet, SourceError>> + Send + 'a>>;

/// Where verification keys come from.
///
/// The request path reads [`KeySource::snapshot`], which never blocks and never waits for the
/// network. Only a token whose `kid` is not in the snapshot calls
/// [`KeySource::refresh_for_unknown_kid`], the one await of the request path.
pub trait KeySource: Send + Sync + 'static {
    /// The current keys: a cheap, lock-free read. An empty set means "no keys available"
    /// (not loaded yet, or lost after too long an outage).
    fn snapshot(&self) -> KeySet;

    /// Asks for newer keys because a token names a `kid` that `seen` (a snapshot this caller
    /// read) does not hold. Returns the keys to try again with.
    ///
    /// Implementations share one fetch between concurrent callers, return the current set at
    /// once when it is already newer than `seen`, and refuse over their refetch budget.
    ///
    /// # Errors
    /// A [`SourceError`] when no newer keys could be had (rate limit, fetch failure).
    fn refresh_for_unknown_kid<'a>(&'a self, seen: &'a KeySet) -> RefreshFuture<'a>;

    /// The state of the keys now, for readiness probes. The default knows no lifetime: ready
    /// with keys, unavailable without.
    fn health(&self) -> KeyHealth {
        KeyHealth::of_key_count(self.snapshot().len())
    }

    /// The name this source was configured with, for health reports and logs: an issuer, a
    /// URL without credentials. Never anything a token said.
    fn name(&self) -> String {
        "keys".to_owned()
    }
}

impl<S: KeySource + ?Sized> KeySource for Arc<S> {
    fn snapshot(&self) -> KeySet {
        (**self).snapshot()
    }

    fn refresh_for_unknown_kid<'a>(&'a self, seen: &'a KeySet) -> RefreshFuture<'a> {
        (**self).refresh_for_unknown_kid(seen)
    }

    fn health(&self) -> KeyHealth {
        (**self).health()
    }

    fn name(&self) -> String {
        (**self).name()
    }
}

/// Keys fixed at construction: a key set, a JWKS document, a PEM or DER public key, or an HMAC
/// secret bound to one algorithm. Refreshing returns the same keys at once.
#[derive(Debug, Clone)]
pub struct StaticKeys {
    keys: KeySet,
}

impl StaticKeys {
    /// These keys.
    #[must_use]
    pub fn new(keys: KeySet) -> Self {
        StaticKeys { keys }
    }

    /// The usable keys of a JWKS document (malformed, unsupported and encryption keys are
    /// skipped, each logged at debug level).
    ///
    /// # Errors
    /// When the document is malformed or holds no usable key.
    pub fn from_jwks(json: &str, allowed: AlgorithmSet) -> Result<Self, KeyError> {
        let load = KeySet::from_jwks(json, allowed)?;
        for skipped in &load.skipped {
            tracing::debug!(kid = ?skipped.kid, index = skipped.index, reason = %skipped.error, "JWK skipped");
        }
        Ok(StaticKeys::new(load.keys))
    }

    /// The usable keys of a JWKS file.
    ///
    /// # Errors
    /// [`SourceErrorKind::Io`] when the file cannot be read, [`SourceErrorKind::InvalidJwks`]
    /// when its content is not a usable JWKS.
    pub fn from_jwks_file(
        path: impl AsRef<Path>,
        allowed: AlgorithmSet,
    ) -> Result<Self, SourceError> {
        let json = std::fs::read_to_string(path)
            .map_err(|e| SourceError::with_cause(SourceErrorKind::Io, e))?;
        Self::from_jwks(&json, allowed).map_err(|e| SourceErrorKind::InvalidJwks(e).into())
    }

    /// One public key in PEM (`PUBLIC KEY` or `RSA PUBLIC KEY`), without a `kid`: it verifies
    /// tokens without `kid` (and tokens whose `kid` matches none, never).
    ///
    /// # Errors
    /// When the PEM is not a supported public key.
    pub fn from_pem(pem: &str, allowed: AlgorithmSet) -> Result<Self, KeyError> {
        Ok(StaticKeys::new(KeySet::new(vec![VerifyingKey::from_pem(
            pem, allowed,
        )?])))
    }

    /// One public key as DER SubjectPublicKeyInfo.
    ///
    /// # Errors
    /// When the DER is not a supported public key.
    pub fn from_der(der: &[u8], allowed: AlgorithmSet) -> Result<Self, KeyError> {
        Ok(StaticKeys::new(KeySet::new(vec![
            VerifyingKey::from_spki_der(der, allowed)?,
        ])))
    }

    /// One HMAC secret, bound to one HS* algorithm.
    ///
    /// # Errors
    /// For a non-HS algorithm or a secret shorter than the hash output.
    pub fn hmac(alg: Algorithm, secret: &[u8]) -> Result<Self, KeyError> {
        Ok(StaticKeys::new(KeySet::new(vec![VerifyingKey::hmac(
            alg, secret,
        )?])))
    }

    /// The keys.
    #[must_use]
    pub fn keys(&self) -> &KeySet {
        &self.keys
    }
}

impl From<KeySet> for StaticKeys {
    fn from(keys: KeySet) -> Self {
        StaticKeys::new(keys)
    }
}

impl KeySource for StaticKeys {
    fn snapshot(&self) -> KeySet {
        self.keys.clone()
    }

    fn refresh_for_unknown_kid<'a>(&'a self, _seen: &'a KeySet) -> RefreshFuture<'a> {
        let keys = self.keys.clone();
        Box::pin(std::future::ready(Ok(keys)))
    }

    fn name(&self) -> String {
        "static keys".to_owned()
    }
}
