//! What the layer asks to check a token: [`Verifier`], with its implementations for one key
//! source ([`JwtVerifier`]) and for several trusted issuers ([`Issuers`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use portcullis_core::{AuthError, Claims, Validator};
use portcullis_jwks::{Issuers, KeySource, needs_refresh};

use crate::cache::TokenCache;

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

    /// Whether every token this verifier accepts is an RFC 6750 `b64token` (a compact JWS
    /// always is). Then the layer checks the syntax only of the tokens it refuses, to tell a
    /// malformed request (400) from an invalid token (401); otherwise (the default) it checks
    /// every token before the verifier sees it.
    fn accepts_only_b64tokens(&self) -> bool {
        false
    }
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

    fn accepts_only_b64tokens(&self) -> bool {
        (**self).accepts_only_b64tokens()
    }
}

/// One key source and one set of rules: the usual resource server, with a cache of verified
/// tokens ([`TokenCache`], on by default; see its docs for the rules that keep it safe).
///
/// ```
/// use portcullis_core::{Algorithm, Validator};
/// use portcullis_jwks::StaticKeys;
/// use portcullis_tower::{JwtVerifier, Verifier};
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
    cache: Option<TokenCache>,
}

impl<S: KeySource> JwtVerifier<S> {
    /// Tokens checked by `validator` against the keys of `source`, with a
    /// [`TokenCache::default`].
    pub fn new(source: S, validator: Validator) -> Self {
        JwtVerifier {
            source,
            validator,
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
        &self.source
    }

    /// The rules.
    pub fn validator(&self) -> &Validator {
        &self.validator
    }
}

impl<S: KeySource> Verifier for JwtVerifier<S> {
    fn verify_now(&self, token: &str) -> Result<Claims, AuthError> {
        let keys = self.source.snapshot();
        let Some(cache) = &self.cache else {
            return self.validator.validate(token, &keys);
        };
        let cached = cache.get(token);
        if let Some(hit) = &cached
            && hit.keys.same_as(&keys)
            && hit.validator.same_as(&self.validator)
        {
            return match self.validator.check_times(&hit.claims) {
                Ok(()) => Ok(hit.claims.clone()),
                Err(error) => {
                    cache.remove(token);
                    Err(error)
                }
            };
        }
        // A miss, or keys that changed since: verify in full.
        match self.validator.validate(token, &keys) {
            Ok(claims) => {
                let now = self.validator.clock().now_unix();
                let left = claims.expires_at().map_or(0.0, |exp| exp - now);
                let lifetime = Duration::try_from_secs_f64(left).unwrap_or(Duration::ZERO);
                cache.insert(
                    token,
                    claims.clone(),
                    keys,
                    self.validator.clone(),
                    lifetime,
                );
                Ok(claims)
            }
            Err(error) => {
                // Drop a stale entry of ours; another verifier's entry is not ours to judge.
                if cached.is_some_and(|c| c.validator.same_as(&self.validator)) {
                    cache.remove(token);
                }
                Err(error)
            }
        }
    }

    fn verify<'a>(&'a self, token: &'a str) -> VerifyFuture<'a> {
        Box::pin(portcullis_jwks::validate(
            &self.source,
            &self.validator,
            token,
        ))
    }

    fn accepts_only_b64tokens(&self) -> bool {
        // Three strict base64url segments and two dots, or nothing.
        true
    }
}

impl Verifier for Issuers {
    fn verify_now(&self, token: &str) -> Result<Claims, AuthError> {
        self.validate_now(token)
    }

    fn verify<'a>(&'a self, token: &'a str) -> VerifyFuture<'a> {
        Box::pin(self.validate(token))
    }

    fn accepts_only_b64tokens(&self) -> bool {
        true
    }
}

/// Several trusted issuers, each with its own [`Verifier`] (keys, rules and cache), chosen by
/// the token's `iss` read before verification. A token naming any other issuer is refused
/// with [`ErrorKind::WrongIssuer`](portcullis_core::ErrorKind::WrongIssuer) without any network
/// request.
///
/// Unlike [`Issuers`] (whose entries are key sources), each entry here is a whole verifier,
/// so each issuer keeps its own [`TokenCache`].
#[derive(Clone)]
pub struct ByIssuer {
    entries: Arc<[IssuerEntry]>,
    max_token_len: usize,
}

/// A trusted issuer and its verifier.
type IssuerEntry = (Box<str>, Arc<dyn Verifier>);

impl ByIssuer {
    /// Routes tokens by `iss` (compared exactly) to the verifiers; `max_token_len` bounds the
    /// unverified read of `iss` (use the validators' largest).
    pub fn new(
        entries: impl IntoIterator<Item = (String, Arc<dyn Verifier>)>,
        max_token_len: usize,
    ) -> Self {
        ByIssuer {
            entries: entries
                .into_iter()
                .map(|(iss, v)| (iss.into_boxed_str(), v))
                .collect(),
            max_token_len,
        }
    }

    fn entry(&self, token: &str) -> Result<&Arc<dyn Verifier>, AuthError> {
        let iss = portcullis_jwks::unverified_issuer(token, self.max_token_len)?;
        self.entries
            .iter()
            .find(|(name, _)| **name == *iss)
            .map(|(_, v)| v)
            .ok_or_else(|| portcullis_core::ErrorKind::WrongIssuer.into())
    }
}

impl std::fmt::Debug for ByIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|(iss, _)| iss))
            .finish()
    }
}

impl Verifier for ByIssuer {
    fn verify_now(&self, token: &str) -> Result<Claims, AuthError> {
        self.entry(token)?.verify_now(token)
    }

    fn may_refresh(&self, error: &AuthError) -> bool {
        needs_refresh(error)
    }

    fn verify<'a>(&'a self, token: &'a str) -> VerifyFuture<'a> {
        match self.entry(token) {
            Ok(v) => v.verify(token),
            Err(e) => Box::pin(std::future::ready(Err(e))),
        }
    }

    fn accepts_only_b64tokens(&self) -> bool {
        self.entries.iter().all(|(_, v)| v.accepts_only_b64tokens())
    }
}
