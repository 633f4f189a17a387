//! Opaque tokens in the layer (feature `introspection`): [`Introspector`] as a [`Verifier`],
//! and [`JwtOrIntrospection`], which sends each token to JWT validation or to introspection.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use axum::{Router, body::Body, http::Request, routing::get};
//! use portcullis_core::Validator;
//! use portcullis_introspect::Introspector;
//! use portcullis_tower::BearerAuthLayer;
//! use tower::ServiceExt;
//!
//! let idp = portcullis_testkit::TestIssuer::start().await;
//! let rules = Validator::builder().issuer(idp.issuer()).audience("api").build().unwrap();
//! let introspector = Introspector::discover(idp.issuer(), rules)
//!     .client_secret_basic("client-1", "secret-1")
//!     .build()
//!     .await
//!     .unwrap();
//! let auth = BearerAuthLayer::new(introspector);
//! let app = Router::new()
//!     .route("/orders", get(|| async { "orders" }))
//!     .route_layer(auth.require_scopes(["orders.read"]))
//!     .route_layer(auth);
//! let call = |token: String| {
//!     let req = Request::get("/orders").header("authorization", format!("Bearer {token}"));
//!     app.clone().oneshot(req.body(Body::empty()).unwrap())
//! };
//! let token = idp.opaque(&idp.token().scope("orders.read"));
//! assert_eq!(call(token).await.unwrap().status(), 200);
//! assert_eq!(call("never-issued".into()).await.unwrap().status(), 401);
//! let other = idp.opaque(&idp.token().scope("orders.write"));
//! assert_eq!(call(other).await.unwrap().status(), 403);
//! # }
//! ```
//!
//! A token whose verdict is cached is answered inside `call`, without waiting
//! ([`Introspector::cached`]); any other takes the layer's one boxed path and awaits
//! [`Introspector::introspect`]. The introspection endpoint failing is "keys unavailable":
//! `503` with `Retry-After`, never `401`.

use std::fmt;
use std::sync::Arc;

use portcullis_core::{AuthError, Claims, ErrorKind};
pub use portcullis_introspect::Introspector;

use crate::verifier::{Verifier, VerifyFuture};

/// The verdict of [`Verifier::verify_now`] when no current verdict is cached: "not at hand",
/// which sends the request down the awaiting path (the same signal as a key source without
/// keys).
fn not_at_hand() -> AuthError {
    ErrorKind::KeysUnavailable.into()
}

impl Verifier for Introspector {
    fn verify_now(&self, token: &str) -> Result<Claims, AuthError> {
        self.cached(token).unwrap_or_else(|| Err(not_at_hand()))
    }

    fn may_refresh(&self, error: &AuthError) -> bool {
        matches!(error.kind(), ErrorKind::KeysUnavailable)
    }

    fn verify<'a>(&'a self, token: &'a str) -> VerifyFuture<'a> {
        Box::pin(self.introspect(token))
    }

    fn accepts_only_b64tokens(&self) -> bool {
        // Opaque tokens have any shape: the layer checks the b64token syntax of every token
        // before it is sent to the authorization server.
        false
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
/// use portcullis_core::Validator;
/// use portcullis_introspect::Introspector;
/// use portcullis_jwks::RemoteJwks;
/// use portcullis_tower::{JwtOrIntrospection, JwtVerifier, Verifier};
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
/// assert!(both.verify(&idp.token().sign()).await.is_ok()); // verified with the keys
/// assert!(both.verify(&idp.opaque(&idp.token())).await.is_ok()); // introspected
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
        match portcullis_jwks::unverified_issuer(token, self.max_token_len) {
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
    fn verify_now(&self, token: &str) -> Result<Claims, AuthError> {
        match self.route(token) {
            Route::Jwt => self.jwt.verify_now(token),
            Route::Introspection => self.introspector.verify_now(token),
        }
    }

    fn may_refresh(&self, error: &AuthError) -> bool {
        // Both sides wait only for what `KeysUnavailable` or an unknown `kid` signals.
        portcullis_jwks::needs_refresh(error)
    }

    fn verify<'a>(&'a self, token: &'a str) -> VerifyFuture<'a> {
        match self.route(token) {
            Route::Jwt => self.jwt.verify(token),
            Route::Introspection => self.introspector.verify(token),
        }
    }

    fn accepts_only_b64tokens(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_core::{Algorithm, Validator};
    use portcullis_jwks::StaticKeys;
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
            crate::JwtVerifier::new(keys, rules()),
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
