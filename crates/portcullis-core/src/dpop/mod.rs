//! DPoP on the resource server (RFC 9449): the proof that comes with each request, the
//! binding of the token to the proof's key, replay protection and server-provided nonces.
//!
//! [`Dpop`] holds the rules; [`Dpop::verify`] runs them around any [`Verifier`] in this order,
//! so that nothing is remembered for a request that a check without state refuses:
//!
//! 1. a `Bearer` presentation: refused when DPoP is required, else handed to the verifier
//!    as it is (a DPoP-bound token is then refused there: no downgrade);
//! 2. the proof (one `DPoP` header): compact JWS, `typ` `dpop+jwt`, an asymmetric algorithm
//!    of the allowlist, a public `jwk` (no private member), `jti`, `htm` (the method), `htu`
//!    (the public target URI without query, both normalised), `iat` within the acceptance
//!    window, `ath` (the token's hash), then the signature with the `jwk`;
//! 3. the token, by the verifier, whose binding rule requires `cnf.jkt` to be the thumbprint
//!    of the proof's key ([`Validator::check_binding`](crate::Validator::check_binding));
//! 4. the nonce, when nonces are on (stateless: an authenticated timestamp);
//! 5. last, the replay store: the first use of (key, `jti`) within the window.
//!
//! ```
//! use std::sync::Arc;
//! use portcullis_core::dpop::{Dpop, LocalReplayStore};
//! use portcullis_core::{Algorithm, ErrorKind, Presentation, Scheme, Verdict, Verifier};
//!
//! struct Nobody;
//! impl Verifier for Nobody {
//!     fn verify(&self, _: &Presentation<'_>) -> Verdict {
//!         Verdict::Ready(Err(ErrorKind::UnknownKey.into()))
//!     }
//! }
//!
//! let dpop = Dpop::builder()
//!     .algorithms([Algorithm::ES256, Algorithm::EdDSA])
//!     .replay_store(LocalReplayStore::default())
//!     .build()
//!     .unwrap();
//! // A DPoP presentation without its proof is refused before the token is looked at.
//! let presentation = Presentation::new(Scheme::DPoP, "a.b.c").with_request("GET", "/x");
//! let Verdict::Ready(Err(refused)) = dpop.verify(&Nobody, &presentation).verdict else { panic!() };
//! assert_eq!(refused.code(), "proof_missing");
//! ```

mod nonce;
mod proof;
mod replay;
pub(crate) mod uri;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub use nonce::NonceKey;
pub use replay::{
    DEFAULT_REPLAY_CAPACITY, FirstUse, LocalReplayStore, PendingFirstUse, ReplayKey, ReplayStore,
    ReplayStoreError,
};

use crate::alg::{Algorithm, AlgorithmSet};
use crate::claims::Claims;
use crate::clock::{Clock, SystemClock};
use crate::error::{AuthError, ConfigError, ConfigErrorKind, ErrorKind, ProofError};
use crate::verify::{Presentation, Scheme, Verdict, Verifier};

use nonce::{NonceCheck, Nonces};

/// How long after its `iat` a proof is accepted, by default: 60 s. RFC 9449 section 11.1
/// asks for a short window (every proof of the window must be remembered for replay
/// detection) that still tolerates the clock skew of clients; Spring Security accepts 60 s,
/// Auth0's SDKs 300 s. 60 s keeps the replay store at 70 s of proofs; clients with worse
/// clocks are what server nonces are for ([`DpopBuilder::nonces`]).
pub const DEFAULT_PROOF_MAX_AGE: Duration = Duration::from_secs(60);

/// How far in the future a proof's `iat` may be, by default: 10 s of client clock skew.
pub const DEFAULT_PROOF_MAX_SKEW: Duration = Duration::from_secs(10);

/// How long a server nonce stays valid, by default: 5 minutes.
pub const DEFAULT_NONCE_LIFETIME: Duration = Duration::from_secs(300);

/// How often a new server nonce is issued, by default: every minute. A successful response
/// to a proof whose nonce is older carries the current one (`DPoP-Nonce`), so a busy client
/// never meets an expired nonce.
pub const DEFAULT_NONCE_REFRESH: Duration = Duration::from_secs(60);

/// The longest proof accepted, by default: 8 KiB (a proof with a 4096-bit RSA key is about
/// 1.5 KiB).
pub const DEFAULT_MAX_PROOF_LEN: usize = 8 * 1024;

/// The proof algorithms accepted by default: every asymmetric algorithm portcullis
/// implements (a client chooses its own key; HMAC and `none` are never accepted).
pub const DEFAULT_PROOF_ALGORITHMS: AlgorithmSet = AlgorithmSet::ASYMMETRIC;

/// The DPoP rules of a resource server. Cheap to clone (shared).
#[derive(Clone)]
pub struct Dpop {
    inner: Arc<Inner>,
}

struct Inner {
    rules: proof::Rules,
    required: bool,
    nonces: Option<Nonces>,
    replay: Arc<dyn ReplayStore>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for Dpop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dpop")
            .field("algorithms", &self.inner.rules.algorithms)
            .field("max_age", &self.inner.rules.max_age)
            .field("required", &self.inner.required)
            .field("nonces", &self.inner.nonces)
            .field("shared_replay_store", &self.inner.replay.is_shared())
            .finish_non_exhaustive()
    }
}

/// The answer of [`Dpop::verify`]: the verdict, and the nonce a successful response should
/// carry in `DPoP-Nonce` (when the proof's nonce is no longer the current one).
#[derive(Debug)]
#[must_use]
pub struct DpopVerdict {
    /// The verdict on the presentation.
    pub verdict: Verdict,
    /// The current nonce, for the `DPoP-Nonce` header of a successful response.
    pub next_nonce: Option<Box<str>>,
}

impl DpopVerdict {
    fn ready(result: Result<Claims, AuthError>) -> Self {
        DpopVerdict {
            verdict: Verdict::Ready(result),
            next_nonce: None,
        }
    }
}

impl Dpop {
    /// Rules with the defaults: every asymmetric algorithm, a 60 s window, no nonces, bearer
    /// tokens still accepted beside DPoP, and an in-process replay store (one replica only).
    #[must_use]
    pub fn builder() -> DpopBuilder {
        DpopBuilder {
            algorithms: DEFAULT_PROOF_ALGORITHMS,
            max_age: DEFAULT_PROOF_MAX_AGE,
            max_skew: DEFAULT_PROOF_MAX_SKEW,
            max_len: DEFAULT_MAX_PROOF_LEN,
            required: false,
            nonce_keys: Vec::new(),
            nonce_lifetime: DEFAULT_NONCE_LIFETIME,
            nonce_refresh: DEFAULT_NONCE_REFRESH,
            replay: None,
            replicas: 1,
            clock: Arc::new(SystemClock),
        }
    }

    /// The proof algorithms accepted (the `algs` of the `DPoP` challenge).
    #[must_use]
    pub fn algorithms(&self) -> AlgorithmSet {
        self.inner.rules.algorithms
    }

    /// Whether bearer tokens are refused: DPoP only.
    #[must_use]
    pub fn is_required(&self) -> bool {
        self.inner.required
    }

    /// Whether proofs must carry a server nonce.
    #[must_use]
    pub fn uses_nonces(&self) -> bool {
        self.inner.nonces.is_some()
    }

    /// The current server nonce, when nonces are on.
    #[must_use]
    pub fn current_nonce(&self) -> Option<Box<str>> {
        let now = self.now_secs();
        self.inner.nonces.as_ref().map(|n| n.current(now))
    }

    fn now_secs(&self) -> i64 {
        let now = self.inner.clock.now_unix().floor();
        // A clock reading is finite and far inside i64's range.
        #[allow(clippy::cast_possible_truncation)]
        let secs = now as i64;
        secs
    }

    /// The presentation judged with these rules around `verifier` (see the module docs for
    /// the order).
    pub fn verify<V: Verifier + ?Sized>(
        &self,
        verifier: &V,
        presentation: &Presentation<'_>,
    ) -> DpopVerdict {
        let inner = &*self.inner;
        if presentation.scheme() != Scheme::DPoP {
            if inner.required {
                return DpopVerdict::ready(Err(ErrorKind::DpopRequired.into()));
            }
            return DpopVerdict {
                verdict: verifier.verify(presentation),
                next_nonce: None,
            };
        }
        let Some(proof) = presentation.dpop_proof() else {
            return DpopVerdict::ready(Err(ErrorKind::InvalidProof(ProofError::Missing).into()));
        };
        let now = inner.clock.now_unix();
        let checked = match proof::check(proof, presentation, &inner.rules, now) {
            Ok(checked) => checked,
            Err(e) => return DpopVerdict::ready(Err(ErrorKind::InvalidProof(e).into())),
        };
        let proven = presentation.with_proven_key(checked.jkt);
        let next_nonce = match &inner.nonces {
            None => None,
            Some(nonces) => {
                let secs = self.now_secs();
                match nonces.check(checked.nonce.as_deref(), secs) {
                    NonceCheck::Valid { current: true } => None,
                    NonceCheck::Valid { current: false } => Some(nonces.current(secs)),
                    NonceCheck::Invalid => {
                        // The token is judged first: a client with a bad token learns that
                        // before it is asked for a nonce.
                        return match verifier.verify(&proven) {
                            Verdict::Ready(Err(e)) => DpopVerdict::ready(Err(e)),
                            Verdict::Ready(Ok(_)) => DpopVerdict::ready(Err(
                                ErrorKind::UseDpopNonce(nonces.current(secs)).into(),
                            )),
                            Verdict::Pending(pending) => {
                                let nonce = nonces.current(secs);
                                DpopVerdict {
                                    verdict: Verdict::pending(async move {
                                        pending.await?;
                                        Err(ErrorKind::UseDpopNonce(nonce).into())
                                    }),
                                    next_nonce: None,
                                }
                            }
                        };
                    }
                }
            }
        };
        // As long as this proof could still be accepted, by any replica: the rest of its
        // window, plus the clock skew between replicas, in whole seconds (a store may round
        // down to seconds).
        let left = checked.iat + inner.rules.max_age - now + REPLICA_SKEW_SECS;
        let ttl = Duration::try_from_secs_f64(left.ceil().max(1.0)).unwrap_or(Duration::MAX);
        let key = ReplayKey(checked.replay_key);
        let jkt = checked.jkt;
        let verdict = match verifier.verify(&proven) {
            Verdict::Ready(Ok(claims)) => match bound_to(&claims, &jkt) {
                Err(e) => Verdict::Ready(Err(e)),
                Ok(()) => match inner.replay.first_use(&key, ttl) {
                    FirstUse::Ready(first) => Verdict::Ready(replay_verdict(first, claims)),
                    FirstUse::Pending(first) => {
                        Verdict::pending(async move { replay_verdict(first.await, claims) })
                    }
                },
            },
            Verdict::Ready(Err(e)) => Verdict::Ready(Err(e)),
            Verdict::Pending(pending) => {
                let replay = inner.replay.clone();
                Verdict::pending(async move {
                    let claims = pending.await?;
                    bound_to(&claims, &jkt)?;
                    let first = match replay.first_use(&key, ttl) {
                        FirstUse::Ready(first) => first,
                        FirstUse::Pending(first) => first.await,
                    };
                    replay_verdict(first, claims)
                })
            }
        };
        DpopVerdict {
            verdict,
            next_nonce,
        }
    }
}

/// The normal form of an absolute `http(s)` URI as DPoP compares `htu` with the request's
/// public target URI (RFC 3986 sections 6.2.2 and 6.2.3: scheme and host in lower case,
/// percent-encodings normalised, dot segments removed, the default port dropped, query and
/// fragment left out); `None` for what has none (no host, user information, a bad port or
/// percent-encoding). A configured public origin should have one.
///
/// ```
/// use portcullis_core::dpop::normalize_uri;
///
/// assert_eq!(normalize_uri("HTTPS://API.example.com:443/a/./b").as_deref(), Some("https://api.example.com/a/b"));
/// assert_eq!(normalize_uri("https://api.example.com:x"), None);
/// ```
#[must_use]
pub fn normalize_uri(uri: &str) -> Option<String> {
    uri::normalize(uri)
}

/// Seconds a replica's clock may differ from another's: a proof is remembered this much
/// longer than its window, so that a replica whose clock runs behind never finds it gone.
const REPLICA_SKEW_SECS: f64 = 5.0;

/// The binding once more, whatever the verifier: the token must be bound (`cnf.jkt`) to the
/// very key that signed the proof. Portcullis's verifiers check it already
/// ([`Validator::check_binding`](crate::Validator::check_binding)); a verifier of yours need
/// not know about DPoP.
fn bound_to(claims: &Claims, jkt: &[u8; 32]) -> Result<(), AuthError> {
    match claims.confirmation().and_then(|c| c.jwk_thumbprint()) {
        Some(bound) if bound == jkt => Ok(()),
        Some(_) => Err(ErrorKind::ProofKeyMismatch.into()),
        None => Err(ErrorKind::NotDpopBound.into()),
    }
}

fn replay_verdict(
    first: Result<bool, ReplayStoreError>,
    claims: Claims,
) -> Result<Claims, AuthError> {
    match first {
        Ok(true) => Ok(claims),
        Ok(false) => Err(ErrorKind::InvalidProof(ProofError::Replayed).into()),
        // Fail-closed: 503, never a verdict on the proof. The adapter logs the reason.
        Err(unavailable) => {
            Err(ErrorKind::ReplayStoreUnavailable(unavailable.reason().into()).into())
        }
    }
}

/// The stateless proof checks with the default rules (for the fuzz targets).
pub(crate) fn fuzz_proof(
    proof: &str,
    presentation: &Presentation<'_>,
    now: f64,
) -> Result<[u8; 32], ProofError> {
    let rules = proof::Rules {
        algorithms: DEFAULT_PROOF_ALGORITHMS,
        max_age: DEFAULT_PROOF_MAX_AGE.as_secs_f64(),
        max_skew: DEFAULT_PROOF_MAX_SKEW.as_secs_f64(),
        max_len: DEFAULT_MAX_PROOF_LEN,
        keys: proof::KeyCache::new(),
    };
    proof::check(proof, presentation, &rules, now).map(|checked| checked.jkt)
}

/// A nonce check of `text` (for the fuzz targets).
pub(crate) fn fuzz_nonce(text: &str) {
    let nonces = Nonces::new(vec![NonceKey::new([7; 32])], 300, 60);
    let _ = nonces.check(Some(text), 1_800_000_000);
}

/// Builds [`Dpop`] rules.
pub struct DpopBuilder {
    algorithms: AlgorithmSet,
    max_age: Duration,
    max_skew: Duration,
    max_len: usize,
    required: bool,
    nonce_keys: Vec<NonceKey>,
    nonce_lifetime: Duration,
    nonce_refresh: Duration,
    replay: Option<Arc<dyn ReplayStore>>,
    replicas: u32,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for DpopBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopBuilder")
            .field("algorithms", &self.algorithms)
            .field("required", &self.required)
            .finish_non_exhaustive()
    }
}

impl DpopBuilder {
    /// The proof algorithms accepted; symmetric ones are refused by [`DpopBuilder::build`].
    #[must_use]
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = AlgorithmSet::EMPTY;
        for alg in algorithms {
            self.algorithms.insert(alg);
        }
        self
    }

    /// How long after its `iat` a proof is accepted ([`DEFAULT_PROOF_MAX_AGE`]).
    #[must_use]
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = age;
        self
    }

    /// How far in the future a proof's `iat` may be ([`DEFAULT_PROOF_MAX_SKEW`]).
    #[must_use]
    pub fn max_skew(mut self, skew: Duration) -> Self {
        self.max_skew = skew;
        self
    }

    /// The longest proof read ([`DEFAULT_MAX_PROOF_LEN`]).
    #[must_use]
    pub fn max_proof_len(mut self, len: usize) -> Self {
        self.max_len = len;
        self
    }

    /// Refuses bearer tokens: every request must come with a DPoP-bound token and its proof.
    #[must_use]
    pub fn required(mut self, required: bool) -> Self {
        self.required = required;
        self
    }

    /// Requires server-provided nonces (RFC 9449 section 9), authenticated with these
    /// secrets: the first issues them, every one accepts them (rotation: put the new secret
    /// first and keep the old one for a nonce lifetime). Replicas given the same secrets
    /// accept each other's nonces.
    #[must_use]
    pub fn nonces(mut self, keys: impl IntoIterator<Item = NonceKey>) -> Self {
        self.nonce_keys = keys.into_iter().collect();
        self
    }

    /// How long a nonce stays valid ([`DEFAULT_NONCE_LIFETIME`]) and how often a new one is
    /// issued ([`DEFAULT_NONCE_REFRESH`]).
    #[must_use]
    pub fn nonce_timing(mut self, lifetime: Duration, refresh: Duration) -> Self {
        self.nonce_lifetime = lifetime;
        self.nonce_refresh = refresh;
        self
    }

    /// Where used proofs are remembered (default: a [`LocalReplayStore`], which protects one
    /// replica only).
    #[must_use]
    pub fn replay_store(mut self, store: impl ReplayStore) -> Self {
        self.replay = Some(Arc::new(store));
        self
    }

    /// How many replicas serve this resource: with more than one, a replay store that is
    /// not shared is a configuration error ([`DpopBuilder::build`]), since a proof replayed
    /// to another replica would be accepted.
    #[must_use]
    pub fn replicas(mut self, replicas: u32) -> Self {
        self.replicas = replicas;
        self
    }

    /// The clock of the time rules (tests move time by hand).
    #[must_use]
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The rules.
    ///
    /// # Errors
    /// A [`ConfigError`] for no algorithm or a symmetric one, a zero window, a nonce
    /// lifetime shorter than its refresh interval, or several replicas without a shared
    /// replay store.
    pub fn build(self) -> Result<Dpop, ConfigError> {
        let invalid = |setting: &'static str, reason: &'static str| {
            ConfigError::from(ConfigErrorKind::Invalid {
                setting,
                reason: reason.into(),
            })
        };
        if self.algorithms.is_empty() {
            return Err(invalid("dpop algorithms", "no algorithm given"));
        }
        if self.algorithms.has_symmetric() {
            return Err(invalid(
                "dpop algorithms",
                "a DPoP proof is signed with the client's own asymmetric key: HMAC is never accepted",
            ));
        }
        if self.max_age.is_zero() {
            return Err(invalid("dpop max age", "a zero window accepts no proof"));
        }
        if !self.nonce_keys.is_empty()
            && (self.nonce_refresh.is_zero() || self.nonce_lifetime < self.nonce_refresh)
        {
            return Err(invalid(
                "dpop nonce timing",
                "the lifetime must be at least the refresh interval, which must not be zero",
            ));
        }
        let replay = match self.replay {
            Some(store) => store,
            None => Arc::new(LocalReplayStore::on_clock(
                DEFAULT_REPLAY_CAPACITY,
                self.clock.clone(),
            )),
        };
        if self.replicas > 1 && !replay.is_shared() {
            return Err(invalid(
                "dpop replay store",
                "several replicas need a shared replay store (portcullis-redis): with one per \
                 process a proof replayed to another replica is accepted",
            ));
        }
        let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        let nonces = (!self.nonce_keys.is_empty()).then(|| {
            Nonces::new(
                self.nonce_keys,
                secs(self.nonce_lifetime),
                secs(self.nonce_refresh),
            )
        });
        Ok(Dpop {
            inner: Arc::new(Inner {
                rules: proof::Rules {
                    algorithms: self.algorithms,
                    max_age: self.max_age.as_secs_f64(),
                    max_skew: self.max_skew.as_secs_f64(),
                    max_len: self.max_len,
                    keys: proof::KeyCache::new(),
                },
                required: self.required,
                nonces,
                replay,
                clock: self.clock,
            }),
        })
    }
}

/// A [`Verifier`] with DPoP rules around it: what a tool or a test uses where the layer is
/// not ([`Dpop::verify`], without the nonce of the response).
#[derive(Debug, Clone)]
pub struct DpopVerifier<V> {
    inner: V,
    dpop: Dpop,
}

impl<V: Verifier> DpopVerifier<V> {
    /// `inner` judged with the `dpop` rules.
    pub fn new(inner: V, dpop: Dpop) -> Self {
        DpopVerifier { inner, dpop }
    }

    /// The rules.
    pub fn dpop(&self) -> &Dpop {
        &self.dpop
    }
}

impl<V: Verifier> Verifier for DpopVerifier<V> {
    fn verify(&self, presentation: &Presentation<'_>) -> Verdict {
        self.dpop.verify(&self.inner, presentation).verdict
    }

    fn accepts_only_b64tokens(&self) -> bool {
        self.inner.accepts_only_b64tokens()
    }

    fn max_token_len(&self) -> usize {
        self.inner.max_token_len()
    }

    fn now_unix(&self) -> f64 {
        self.inner.now_unix()
    }

    fn health(&self) -> Vec<crate::health::SourceHealth> {
        self.inner.health()
    }
}
