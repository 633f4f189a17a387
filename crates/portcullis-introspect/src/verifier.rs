//! Opaque tokens as a [`Verifier`]: the [`Introspector`] itself, and [`JwtOrIntrospection`],
//! which sends each token to JWT verification or to introspection.
//!
//! A token whose verdict is cached is answered at once ([`Verdict::Ready`], from
//! [`Introspector::cached`]); any other gets a [`Verdict::Pending`] that calls the endpoint
//! ([`Introspector::introspect`]). The endpoint failing is "unavailable": `503` with
//! `Retry-After` in the layer, never `401`.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use portcullis_core::{Presentation, Validator, Verdict, Verifier};
//! use portcullis_introspect::Introspector;
//!
//! let idp = portcullis_testkit::TestIssuer::start().await;
//! let rules = Validator::builder().issuer(idp.issuer()).audience("api").build().unwrap();
//! let introspector = Introspector::discover(idp.issuer(), rules)
//!     .client_secret_basic("client-1", "secret-1")
//!     .build()
//!     .await
//!     .unwrap();
//! let token = idp.opaque(&idp.token().scope("orders.read"));
//! // The first verdict needs a call; the next one is at hand.
//! let first = introspector.verify(&Presentation::bearer(&token));
//! assert!(!first.is_ready());
//! assert!(first.await.is_ok());
//! assert!(matches!(introspector.verify(&Presentation::bearer(&token)), Verdict::Ready(Ok(_))));
//! assert!(introspector.verify(&Presentation::bearer("never-issued")).await.is_err());
//! assert_eq!(idp.introspection_calls(), 2);
//! # }
//! ```

use std::fmt;
use std::sync::Arc;

use portcullis_core::{Presentation, Verdict, Verifier};

use crate::introspector::Introspector;

impl Verifier for Introspector {
    fn verify(&self, presentation: &Presentation<'_>) -> Verdict {
        if let Some(verdict) = self.cached_presentation(presentation) {
            return Verdict::Ready(verdict);
        }
        let introspector = self.clone();
        let owned = presentation.to_owned();
        Verdict::pending(async move {
            introspector
                .introspect_presentation(&owned.presentation())
                .await
        })
    }

    fn accepts_only_b64tokens(&self) -> bool {
        // Opaque tokens have any shape: the layer checks the b64token syntax of every token
        // before it is sent to the authorization server.
        false
    }

    fn max_token_len(&self) -> usize {
        self.validator().max_token_len()
    }

    fn now_unix(&self) -> f64 {
        self.validator().clock().now_unix()
    }
}

/// JWTs and opaque tokens side by side: a token that is a compact JWS whose `iss` (read
/// before verification) is a trusted issuer goes to the JWT verifier; every other token goes
/// to introspection.
///
/// A JWS naming an untrusted issuer is thus asked about too, at the configured authorization
/// server only (some servers issue JWTs and introspect them as well); nothing is ever fetched
/// from an issuer the token names.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use portcullis_core::{Presentation, Validator, Verifier};
/// use portcullis_introspect::{Introspector, JwtOrIntrospection};
/// use portcullis_jwks::{JwtVerifier, RemoteJwks};
///
/// let idp = portcullis_testkit::TestIssuer::start().await;
/// let rules = Validator::builder().issuer(idp.issuer()).audience("api").build().unwrap();
/// let keys = RemoteJwks::discover(idp.issuer()).build().await.unwrap();
/// let introspector = Introspector::discover(idp.issuer(), rules.clone())
///     .client_secret_basic("client-1", "secret-1")
///     .build()
///     .await
///     .unwrap();
/// let both = JwtOrIntrospection::new(JwtVerifier::new(keys, rules), [idp.issuer()], introspector);
/// let (jwt, opaque) = (idp.token().sign(), idp.opaque(&idp.token()));
/// assert!(both.verify(&Presentation::bearer(&jwt)).await.is_ok()); // verified with the keys
/// assert!(both.verify(&Presentation::bearer(&opaque)).await.is_ok()); // introspected
/// assert_eq!(idp.introspection_calls(), 1);
/// # }
/// ```
#[derive(Clone)]
pub struct JwtOrIntrospection {
    jwt: Arc<dyn Verifier>,
    issuers: Arc<[Box<str>]>,
    introspector: Introspector,
    max_token_len: usize,
}

/// Where a token goes.
enum Route {
    Jwt,
    Introspection,
}

impl JwtOrIntrospection {
    /// Tokens from `trusted_issuers` (compact JWS with one of them as `iss`) to `jwt`, the
    /// rest to `introspector`. The unverified read of `iss` is bounded by the introspector's
    /// token size cap.
    pub fn new<I, S>(jwt: impl Verifier, trusted_issuers: I, introspector: Introspector) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::from_arc(Arc::new(jwt), trusted_issuers, introspector)
    }

    /// As [`JwtOrIntrospection::new`], for a JWT verifier already shared.
    pub fn from_arc<I, S>(
        jwt: Arc<dyn Verifier>,
        trusted_issuers: I,
        introspector: Introspector,
    ) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let max_token_len = introspector.validator().max_token_len();
        JwtOrIntrospection {
            jwt,
            issuers: trusted_issuers
                .into_iter()
                .map(|iss| iss.into().into_boxed_str())
                .collect(),
            introspector,
            max_token_len,
        }
    }

    /// The introspector.
    #[must_use]
    pub fn introspector(&self) -> &Introspector {
        &self.introspector
    }

    fn route(&self, token: &str) -> Route {
        // Opaque tokens are rarely three dot-separated segments: most skip the decoding.
        if token.bytes().filter(|b| *b == b'.').count() != 2 {
            return Route::Introspection;
        }
        match portcullis_core::jws::unverified_issuer(token, self.max_token_len) {
            Ok(iss) if self.issuers.iter().any(|trusted| **trusted == *iss) => Route::Jwt,
            _ => Route::Introspection,
        }
    }
}

impl fmt::Debug for JwtOrIntrospection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtOrIntrospection")
            .field("issuers", &self.issuers)
            .field("introspector", &self.introspector)
            .finish_non_exhaustive()
    }
}

impl Verifier for JwtOrIntrospection {
    fn verify(&self, presentation: &Presentation<'_>) -> Verdict {
        match self.route(presentation.token()) {
            Route::Jwt => self.jwt.verify(presentation),
            Route::Introspection => self.introspector.verify(presentation),
        }
    }

    fn accepts_only_b64tokens(&self) -> bool {
        false
    }

    fn max_token_len(&self) -> usize {
        self.max_token_len.max(self.jwt.max_token_len())
    }

    fn now_unix(&self) -> f64 {
        self.introspector.now_unix()
    }

    /// The JWT side's key sources (introspection has none).
    fn health(&self) -> Vec<portcullis_core::health::SourceHealth> {
        self.jwt.health()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_core::{Algorithm, Validator};
    use portcullis_jwks::{JwtVerifier, StaticKeys};
    use portcullis_testkit::{TestKey, TokenBuilder};

    fn rules() -> Validator {
        Validator::builder()
            .issuer("https://trusted.test")
            .audience("api")
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn only_a_jws_naming_a_trusted_issuer_goes_to_jwt_validation() {
        // Built without any network request: the endpoint is given.
        let introspector = Introspector::builder("http://127.0.0.1:9/introspect", rules())
            .client_secret_basic("c", "s")
            .build()
            .await
            .unwrap();
        let key = TestKey::generate(Algorithm::ES256);
        let keys = StaticKeys::new(portcullis_core::KeySet::new(Vec::new()));
        let both = JwtOrIntrospection::new(
            JwtVerifier::new(keys, rules()),
            ["https://trusted.test"],
            introspector,
        );
        let trusted = TokenBuilder::new(&key)
            .issuer("https://trusted.test")
            .sign();
        let untrusted = TokenBuilder::new(&key).issuer("https://other.test").sign();
        let no_iss = TokenBuilder::new(&key).remove_claim("iss").sign();
        assert!(matches!(both.route(&trusted), Route::Jwt));
        for token in [
            untrusted.as_str(),
            no_iss.as_str(),
            "opaque-token",
            "a.b.c",
            "dotted.opaque",
            "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOjF9.c2ln",
        ] {
            assert!(matches!(both.route(token), Route::Introspection), "{token}");
        }
        assert!(!both.accepts_only_b64tokens());
        assert!(!format!("{both:?}").contains("\"s\""));
    }
}
