//! [`JwtVerifier`]: signed tokens checked against one key source and one set of rules, with a
//! cache of verified tokens; the [`Verifier`] the usual resource server needs.
//!
//! "Try with the keys at hand, else refetch" lives here and only here: the current snapshot
//! decides at once ([`Verdict::Ready`]); a token whose `kid` the snapshot lacks (or a source
//! without keys) gets a [`Verdict::Pending`] that asks the source once for newer keys and
//! verifies once more against them.
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
//! let rules = Validator::builder().issuer(idp.issuer()).audience("api").build().unwrap();
//! let verifier = JwtVerifier::new(keys, rules);
//!
//! let token = idp.token().sign();
//! assert!(verifier.verify(&Presentation::bearer(&token)).await.is_ok());
//! let expired = idp.token().expires_in(-3600).sign();
//! let refused = verifier.verify(&Presentation::bearer(&expired)).await.unwrap_err();
//! assert_eq!(refused.kind(), &ErrorKind::Expired);
//! # }
//! ```

use std::sync::Arc;

use portcullis_core::{
    AuthError, Claims, ErrorKind, KeySet, Presentation, Validator, Verdict, Verifier,
};

use crate::cache::TokenCache;
use crate::source::KeySource;

/// One key source and one set of rules, with a cache of verified tokens ([`TokenCache`], on
/// by default; see its docs for the rules that keep it safe). Cheap to clone: clones share
/// the source, the rules and the cache.
///
/// ```
/// use portcullis_core::{Algorithm, Presentation, Validator, Verdict, Verifier};
/// use portcullis_jwks::{JwtVerifier, StaticKeys};
///
/// let keys = StaticKeys::hmac(Algorithm::HS256, &[7u8; 32]).unwrap();
/// let rules = Validator::builder()
///     .issuer("https://auth.example.com")
///     .audience("orders-api")
///     .algorithms([Algorithm::HS256])
///     .build()
///     .unwrap();
/// let verifier = JwtVerifier::new(keys, rules);
/// assert!(matches!(verifier.verify(&Presentation::bearer("not-a-token")), Verdict::Ready(Err(_))));
/// ```
#[derive(Debug)]
pub struct JwtVerifier<S> {
    shared: Arc<Shared<S>>,
    cache: Option<TokenCache>,
}

#[derive(Debug)]
struct Shared<S> {
    source: S,
    validator: Validator,
}

impl<S> Clone for JwtVerifier<S> {
    fn clone(&self) -> Self {
        JwtVerifier {
            shared: self.shared.clone(),
            cache: self.cache.clone(),
        }
    }
}

/// Whether a refusal may go away with fresher keys: the token's `kid` is unknown, or the
/// source had no keys at all.
fn needs_refresh(error: &AuthError) -> bool {
    matches!(
        error.kind(),
        ErrorKind::UnknownKey | ErrorKind::KeysUnavailable
    )
}

impl<S: KeySource> JwtVerifier<S> {
    /// Tokens checked by `validator` against the keys of `source`, with a
    /// [`TokenCache::default`].
    pub fn new(source: S, validator: Validator) -> Self {
        JwtVerifier {
            shared: Arc::new(Shared { source, validator }),
            cache: Some(TokenCache::default()),
        }
    }

    /// Uses this cache (`None`: every request verifies its token's signature).
    #[must_use]
    pub fn with_cache(mut self, cache: Option<TokenCache>) -> Self {
        self.cache = cache;
        self
    }

    /// The cache of verified tokens, if on.
    pub fn cache(&self) -> Option<&TokenCache> {
        self.cache.as_ref()
    }

    /// The key source.
    pub fn source(&self) -> &S {
        &self.shared.source
    }

    /// The rules.
    pub fn validator(&self) -> &Validator {
        &self.shared.validator
    }

    /// The asking of the source for newer keys, and the verification against them.
    fn refetch(&self, presentation: &Presentation<'_>, seen: KeySet, first: AuthError) -> Verdict {
        let shared = self.shared.clone();
        let cache = self.cache.clone();
        let owned = presentation.to_owned();
        Verdict::pending(async move {
            let presentation = owned.presentation();
            let token = presentation.token();
            // The token's kid is never logged nor sent anywhere: at most its length.
            tracing::debug!(
                kid_len = portcullis_core::jws::unverified_kid_len(
                    token,
                    shared.validator.max_token_len()
                ),
                reason = first.code(),
                "key not in the current key set; asking the key source"
            );
            match shared.source.refresh_for_unknown_kid(&seen).await {
                // Nothing newer: the first answer stands.
                Ok(keys) if keys.same_as(&seen) => Err(first),
                Ok(keys) => check(&shared.validator, cache.as_ref(), &presentation, &keys),
                Err(e) => {
                    tracing::debug!(error = %e, "key source refresh refused or failed");
                    if seen.is_empty() {
                        Err(ErrorKind::KeysUnavailable.into())
                    } else {
                        Err(first)
                    }
                }
            }
        })
    }
}

/// Verifies the presented token against `keys`, through the cache when there is one. The
/// binding rule ([`Validator::check_binding`]) is checked on every presentation, cache hits
/// included: each request brings its own proof.
fn check(
    validator: &Validator,
    cache: Option<&TokenCache>,
    presentation: &Presentation<'_>,
    keys: &KeySet,
) -> Result<Claims, AuthError> {
    let Some(cache) = cache else {
        return validator.validate_presentation(presentation, keys);
    };
    let token = presentation.token();
    let cached = cache.get(token);
    if let Some(hit) = &cached
        && hit.keys.same_as(keys)
        && hit.validator.same_as(validator)
    {
        let now = validator.clock().now_unix();
        // Past its time (its `exp`, or a maximum TTL): dropped, and verified again below.
        if now >= hit.until {
            cache.remove(token);
        } else {
            return match validator.check_times_at(&hit.claims, now) {
                Ok(()) => {
                    validator.check_binding(&hit.claims, presentation)?;
                    Ok(hit.claims.clone())
                }
                Err(error) => {
                    cache.remove(token);
                    Err(error)
                }
            };
        }
    }
    // A miss, keys that changed since, or an entry past its time: verify in full.
    match validator.validate_presentation(presentation, keys) {
        Ok(claims) => {
            if let Some(exp) = claims.expires_at() {
                let now = validator.clock().now_unix();
                cache.insert(
                    token,
                    claims.clone(),
                    keys.clone(),
                    validator.clone(),
                    now,
                    exp,
                );
            }
            Ok(claims)
        }
        Err(error) => {
            // Drop a stale entry of ours; another verifier's entry is not ours to judge.
            if cached.is_some_and(|c| c.validator.same_as(validator)) {
                cache.remove(token);
            }
            Err(error)
        }
    }
}

impl<S: KeySource> Verifier for JwtVerifier<S> {
    fn verify(&self, presentation: &Presentation<'_>) -> Verdict {
        let keys = self.shared.source.snapshot();
        match check(
            &self.shared.validator,
            self.cache.as_ref(),
            presentation,
            &keys,
        ) {
            Err(error) if needs_refresh(&error) => self.refetch(presentation, keys, error),
            result => Verdict::Ready(result),
        }
    }

    fn accepts_only_b64tokens(&self) -> bool {
        // Three strict base64url segments and two dots, or nothing.
        true
    }

    fn max_token_len(&self) -> usize {
        self.shared.validator.max_token_len()
    }

    fn now_unix(&self) -> f64 {
        self.shared.validator.clock().now_unix()
    }

    fn health(&self) -> Vec<portcullis_core::health::SourceHealth> {
        let source = &self.shared.source;
        vec![portcullis_core::health::SourceHealth::new(
            source.name(),
            source.health(),
        )]
    }
}
