//! Several trusted issuers, each with its own keys and rules, chosen by the token's `iss`.
//!
//! The `iss` is read before verification only to choose; a token naming any other issuer is
//! refused with [`ErrorKind::WrongIssuer`] before anything is fetched, so that an attacker
//! cannot make the server contact a URL of their choosing. The chosen validator checks `iss`
//! again after the signature.
//!
//! A multi-tenant provider is one entry with an [`IssuerTemplate`]
//! ([`IssuersBuilder::issuer_template`]): an `iss` of the template's shape naming an allowed
//! tenant chooses it, one naming another tenant is refused with
//! [`ErrorKind::TenantNotAllowed`] before anything is fetched; every tenant shares the
//! entry's one key source (discovered once for the provider, never per tenant), and its
//! validator binds the tenant to the token's `tid` after the signature.
//!
//! ```
//! use portcullis_core::{Algorithm, AlgorithmSet, ErrorKind, Presentation, Validator, Verdict, Verifier};
//! use portcullis_jwks::{Issuers, JwtVerifier, StaticKeys};
//! use portcullis_testkit::{TestKey, TokenBuilder};
//!
//! let key = TestKey::generate(Algorithm::ES256).with_kid("a1");
//! let keys = StaticKeys::from_pem(&key.public_pem(), AlgorithmSet::only(Algorithm::ES256)).unwrap();
//! let validator = Validator::builder().issuer("https://a.example").audience("api").build().unwrap();
//! let issuers = Issuers::builder()
//!     .issuer("https://a.example", JwtVerifier::new(keys, validator))
//!     .build()
//!     .unwrap();
//!
//! let token = TokenBuilder::new(&key).issuer("https://a.example").remove_header("kid").sign();
//! assert!(matches!(issuers.verify(&Presentation::bearer(&token)), Verdict::Ready(Ok(_))));
//!
//! let stranger = TokenBuilder::new(&key).issuer("https://b.example").sign();
//! let Verdict::Ready(Err(refused)) = issuers.verify(&Presentation::bearer(&stranger)) else { panic!() };
//! assert_eq!(refused.kind(), &ErrorKind::WrongIssuer);
//! ```

use std::fmt;
use std::sync::Arc;

use portcullis_core::{
    ConfigError, ConfigErrorKind, ErrorKind, IssuerTemplate, Presentation, Verdict, Verifier,
};

/// The trusted issuers, each with its own [`Verifier`] (keys, rules and cache): the one
/// router by issuer. Cheap to clone.
///
/// A token naming an issuer not in the list is refused with [`ErrorKind::WrongIssuer`]
/// without any network request.
#[derive(Clone)]
pub struct Issuers {
    entries: Arc<[Entry]>,
    max_token_len: usize,
}

struct Entry {
    /// The issuer, or the template as written.
    issuer: Box<str>,
    template: Option<IssuerTemplate>,
    verifier: Arc<dyn Verifier>,
}

/// Builds [`Issuers`].
#[must_use]
#[derive(Default)]
pub struct IssuersBuilder {
    entries: Vec<Entry>,
}

impl IssuersBuilder {
    /// Trusts `issuer` (compared exactly with the token's `iss`), whose tokens `verifier`
    /// checks (usually a [`JwtVerifier`](crate::JwtVerifier) whose rules accept this issuer).
    pub fn issuer(self, issuer: impl Into<String>, verifier: impl Verifier) -> Self {
        self.issuer_arc(issuer, Arc::new(verifier))
    }

    /// As [`IssuersBuilder::issuer`], for a verifier already shared.
    pub fn issuer_arc(mut self, issuer: impl Into<String>, verifier: Arc<dyn Verifier>) -> Self {
        self.entries.push(Entry {
            issuer: issuer.into().into_boxed_str(),
            template: None,
            verifier,
        });
        self
    }

    /// Trusts every allowed tenant of a multi-tenant issuer: a token whose `iss` is
    /// `template` with an allowed tenant in the placeholder is checked by `verifier` (whose
    /// validator has the same template: it binds the tenant to the token's `tid`). The
    /// allowlist is checked here too, before anything is fetched.
    pub fn issuer_template(self, template: IssuerTemplate, verifier: impl Verifier) -> Self {
        self.issuer_template_arc(template, Arc::new(verifier))
    }

    /// As [`IssuersBuilder::issuer_template`], for a verifier already shared.
    pub fn issuer_template_arc(
        mut self,
        template: IssuerTemplate,
        verifier: Arc<dyn Verifier>,
    ) -> Self {
        self.entries.push(Entry {
            issuer: template.as_str().into(),
            template: Some(template),
            verifier,
        });
        self
    }

    /// The issuer list.
    ///
    /// # Errors
    /// A [`ConfigError`]: `Missing` when the list is empty or a template has no allowed
    /// tenant (and no `danger_accept_any_tenant`), `Duplicate` when it names an issuer or a
    /// template twice.
    pub fn build(mut self) -> Result<Issuers, ConfigError> {
        if self.entries.is_empty() {
            return Err(ConfigError::missing("issuers", "trust at least one issuer"));
        }
        for entry in &mut self.entries {
            if let Some(template) = entry.template.take() {
                entry.template = Some(template.validated()?);
            }
        }
        for (i, entry) in self.entries.iter().enumerate() {
            if self
                .entries
                .iter()
                .skip(i + 1)
                .any(|other| other.issuer == entry.issuer)
            {
                return Err(ConfigErrorKind::Duplicate {
                    setting: "issuers",
                    value: entry.issuer.to_string(),
                }
                .into());
            }
        }
        let max_token_len = self
            .entries
            .iter()
            .map(|e| e.verifier.max_token_len())
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

    /// The verifier of the issuer the token's `iss` names, read without verifying anything
    /// (the chosen verifier checks `iss` again after the signature).
    fn entry_for(&self, token: &str) -> Result<&Entry, portcullis_core::AuthError> {
        let iss = portcullis_core::jws::unverified_issuer(token, self.max_token_len)?;
        if let Some(exact) = self
            .entries
            .iter()
            .find(|e| e.template.is_none() && *e.issuer == *iss)
        {
            return Ok(exact);
        }
        let mut refusal = ErrorKind::WrongIssuer;
        for entry in self.entries.iter() {
            let Some(template) = &entry.template else {
                continue;
            };
            match template.tenant_of(&iss) {
                Some(tenant) if template.allows(tenant) => return Ok(entry),
                Some(_) => refusal = ErrorKind::TenantNotAllowed,
                None => {}
            }
        }
        Err(refusal.into())
    }
}

impl Verifier for Issuers {
    fn verify(&self, presentation: &Presentation<'_>) -> Verdict {
        match self.entry_for(presentation.token()) {
            Ok(entry) => entry.verifier.verify(presentation),
            Err(error) => Verdict::Ready(Err(error)),
        }
    }

    fn accepts_only_b64tokens(&self) -> bool {
        self.entries
            .iter()
            .all(|e| e.verifier.accepts_only_b64tokens())
    }

    fn max_token_len(&self) -> usize {
        self.max_token_len
    }

    /// The first issuer's clock: issuers configured together share one (the facade gives
    /// every issuer the same).
    fn now_unix(&self) -> f64 {
        self.entries.first().map_or_else(
            || portcullis_core::Clock::now_unix(&portcullis_core::SystemClock),
            |e| e.verifier.now_unix(),
        )
    }

    /// Each issuer's sources, under the issuer's configured name.
    fn health(&self) -> Vec<portcullis_core::health::SourceHealth> {
        self.entries
            .iter()
            .flat_map(|e| {
                e.verifier.health().into_iter().map(|mut h| {
                    h.source = e.issuer.clone();
                    h
                })
            })
            .collect()
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
