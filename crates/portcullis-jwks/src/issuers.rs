//! Several trusted issuers, each with its own keys and rules, chosen by the token's `iss`.
//!
//! The `iss` is read before verification only to choose; a token naming any other issuer is
//! refused with [`ErrorKind::WrongIssuer`] before anything is fetched, so that an attacker
//! cannot make the server contact a URL of their choosing. The chosen validator checks `iss`
//! again after the signature.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use portcullis_core::{Algorithm, AlgorithmSet, ErrorKind, KeySet, Validator};
//! use portcullis_jwks::{Issuers, StaticKeys};
//! use portcullis_testkit::{TestKey, TokenBuilder};
//!
//! let key = TestKey::generate(Algorithm::ES256).with_kid("a1");
//! let keys = StaticKeys::from_pem(&key.public_pem(), AlgorithmSet::only(Algorithm::ES256)).unwrap();
//! let validator = Validator::builder().issuer("https://a.example").audience("api").build().unwrap();
//! let issuers = Issuers::builder().issuer("https://a.example", keys, validator).build().unwrap();
//!
//! let token = TokenBuilder::new(&key).issuer("https://a.example").remove_header("kid").sign();
//! assert!(issuers.validate(&token).await.is_ok());
//!
//! let stranger = TokenBuilder::new(&key).issuer("https://b.example").sign();
//! assert_eq!(issuers.validate(&stranger).await.unwrap_err().kind(), &ErrorKind::WrongIssuer);
//! # }
//! ```

use std::fmt;
use std::sync::Arc;

use portcullis_core::{AuthError, Claims, ErrorKind, Validator};

use crate::source::{self, KeySource};

/// The trusted issuers. Cheap to clone.
#[derive(Clone)]
pub struct Issuers {
    entries: Arc<[Entry]>,
    max_token_len: usize,
}

struct Entry {
    issuer: Box<str>,
    source: Arc<dyn KeySource>,
    validator: Validator,
}

/// Builds [`Issuers`].
#[must_use]
#[derive(Default)]
pub struct IssuersBuilder {
    entries: Vec<Entry>,
}

/// Why an [`Issuers`] configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuersError {
    message: &'static str,
}

impl fmt::Display for IssuersError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid issuer list: {}", self.message)
    }
}

impl std::error::Error for IssuersError {}

impl IssuersBuilder {
    /// Trusts `issuer` (compared exactly with the token's `iss`), with the keys of `source`
    /// and the rules of `validator` (which should accept this issuer).
    pub fn issuer(
        mut self,
        issuer: impl Into<String>,
        source: impl KeySource,
        validator: Validator,
    ) -> Self {
        self.entries.push(Entry {
            issuer: issuer.into().into_boxed_str(),
            source: Arc::new(source),
            validator,
        });
        self
    }

    /// The issuer list.
    ///
    /// # Errors
    /// When the list is empty or names an issuer twice.
    pub fn build(self) -> Result<Issuers, IssuersError> {
        if self.entries.is_empty() {
            return Err(IssuersError {
                message: "no issuer configured",
            });
        }
        for (i, entry) in self.entries.iter().enumerate() {
            if self
                .entries
                .iter()
                .skip(i + 1)
                .any(|other| other.issuer == entry.issuer)
            {
                return Err(IssuersError {
                    message: "an issuer is configured twice",
                });
            }
        }
        let max_token_len = self
            .entries
            .iter()
            .map(|e| e.validator.max_token_len())
            .max()
            .unwrap_or(0);
        Ok(Issuers {
            entries: self.entries.into(),
            max_token_len,
        })
    }
}

impl Issuers {
    /// A builder.
    pub fn builder() -> IssuersBuilder {
        IssuersBuilder::default()
    }

    /// The configured issuers, in order.
    pub fn issuers(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| &*e.issuer)
    }

    /// Validates a token with the keys and rules of the issuer its `iss` names.
    ///
    /// # Errors
    /// [`ErrorKind::WrongIssuer`] for an issuer not configured (nothing is fetched for it),
    /// the shape errors of an unreadable token, else the errors of [`source::validate`].
    pub async fn validate(&self, token: &str) -> Result<Claims, AuthError> {
        let entry = self.entry_for(token)?;
        source::validate(&*entry.source, &entry.validator, token).await
    }

    /// Validates a token against the current keys of the issuer its `iss` names, without
    /// waiting for anything: an unknown `kid` is refused with [`ErrorKind::UnknownKey`]
    /// (see [`source::needs_refresh`]), where [`Issuers::validate`] would ask for newer keys.
    ///
    /// # Errors
    /// As [`Issuers::validate`], without the refetch.
    pub fn validate_now(&self, token: &str) -> Result<Claims, AuthError> {
        let entry = self.entry_for(token)?;
        entry.validator.validate(token, &entry.source.snapshot())
    }

    fn entry_for(&self, token: &str) -> Result<&Entry, AuthError> {
        let iss = portcullis_core::jws::unverified_issuer(token, self.max_token_len)?;
        self.entries
            .iter()
            .find(|e| *e.issuer == *iss)
            .ok_or_else(|| ErrorKind::WrongIssuer.into())
    }
}

impl fmt::Debug for Issuers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.issuers()).finish()
    }
}

impl fmt::Debug for IssuersBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|e| &*e.issuer))
            .finish()
    }
}
