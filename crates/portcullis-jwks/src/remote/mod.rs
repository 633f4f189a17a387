//! A JWKS fetched over HTTPS, cached, refreshed in the background, refetched (rarely) for an
//! unknown `kid`, and kept through outages for a bounded time.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use portcullis_core::{Presentation, Validator, Verifier};
//! use portcullis_jwks::{JwtVerifier, RemoteJwks};
//!
//! // By issuer, through discovery (the document's `issuer` must match exactly)...
//! let keys = RemoteJwks::discover("https://idp.example/tenant-a").build().await?;
//! // ...or by the JWKS URL itself, with some defaults changed.
//! let keys = RemoteJwks::builder("https://idp.example/jwks.json")
//!     .timeout(Duration::from_secs(3))
//!     .max_staleness(Duration::from_secs(2 * 3600))
//!     .build()
//!     .await?;
//!
//! let validator = Validator::builder()
//!     .issuer("https://idp.example/tenant-a")
//!     .audience("api")
//!     .build()?;
//! let verifier = JwtVerifier::new(keys, validator);
//! # let token = "";
//! let claims = verifier.verify(&Presentation::bearer(token)).await?;
//! # Ok(()) }
//! ```
//!
//! A refused configuration is an error of [`RemoteJwksBuilder::build`]:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use portcullis_jwks::{RemoteJwks, SourceErrorKind};
//!
//! let refused = RemoteJwks::builder("http://idp.example/jwks.json").build().await.unwrap_err();
//! assert_eq!(refused.kind(), &SourceErrorKind::InsecureUrl);
//! # }
//! ```

mod discovery;
pub(crate) mod fetch;

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;
use portcullis_core::health::KeyHealth;
use portcullis_core::{AlgorithmSet, KeyErrorKind, KeySet};
use reqwest::Url;
use tokio::sync::watch;

use crate::error::{SourceError, SourceErrorKind};
use crate::source::{KeySource, RefreshFuture};
use crate::timer::{Timer, TokioTimer};
use fetch::{Fetched, Limits, Validators};

/// Default key lifetime when the response has no usable `Cache-Control: max-age`.
pub const DEFAULT_TTL: Duration = Duration::from_secs(5 * 60);
/// Shortest lifetime a `max-age` (or `no-store`/`no-cache`) may give.
pub const DEFAULT_MIN_TTL: Duration = Duration::from_secs(30);
/// Longest lifetime a `max-age` may give.
pub const DEFAULT_MAX_TTL: Duration = Duration::from_secs(60 * 60);
/// The fraction of the lifetime after which the background task refreshes.
pub const DEFAULT_REFRESH_AHEAD: f64 = 0.8;
/// The relative jitter applied to the refresh time (plus or minus).
pub const DEFAULT_REFRESH_JITTER: f64 = 0.1;
/// The window of the unknown-`kid` refetch budget.
pub const DEFAULT_UNKNOWN_KID_COOLDOWN: Duration = Duration::from_secs(30);
/// Unknown-`kid` refetches allowed per window.
pub const DEFAULT_UNKNOWN_KID_BUDGET: usize = 2;
/// How long past their lifetime the last good keys keep serving while refreshes fail.
pub const DEFAULT_MAX_STALENESS: Duration = Duration::from_secs(6 * 60 * 60);
/// First retry delay after a failed fetch.
pub const DEFAULT_BACKOFF_MIN: Duration = Duration::from_secs(1);
/// Longest retry delay after failed fetches.
pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Cap on the response body.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// Cap on the number of keys in a JWKS document: the one rule of every loader
/// ([`KeySet::DEFAULT_MAX_KEYS`]).
pub const DEFAULT_MAX_KEYS: usize = KeySet::DEFAULT_MAX_KEYS;
/// How long an eager [`build`](RemoteJwksBuilder::build) retries a first load that fails for
/// a reason that may pass (an IdP restarting in a rolling deploy): with the 1 s -> 30 s
/// backoff, about five attempts.
pub const DEFAULT_STARTUP_DEADLINE: Duration = Duration::from_secs(30);
/// TCP/TLS connect timeout of the default client.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Total timeout of one request (connect, headers and body).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// A remote JWKS. Cheap to clone: clones share one cache, one background task and one fetch
/// at a time. The background task stops when the last clone is dropped.
#[derive(Clone)]
pub struct RemoteJwks {
    inner: Arc<Inner>,
}

/// Counters of a [`RemoteJwks`], for health checks, metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FetchStats {
    /// Fetches completed, successful or not (discovery included in the one it belongs to).
    pub attempts: u64,
    /// Fetches that installed a new key set (`200`).
    pub updated: u64,
    /// Fetches answered `304 Not Modified` (keys kept, lifetime renewed).
    pub not_modified: u64,
    /// Fetches that failed (the keys were kept).
    pub failures: u64,
    /// Failures since the last success.
    pub consecutive_failures: u32,
    /// Unknown-`kid` refetches refused because the budget was spent.
    pub rate_limited: u64,
}

enum Target {
    Jwks(String),
    Issuer(String),
}

struct Config {
    allow_http: bool,
    allowed: AlgorithmSet,
    allow_symmetric: bool,
    default_ttl: Duration,
    min_ttl: Duration,
    max_ttl: Duration,
    refresh_ahead: f64,
    refresh_jitter: f64,
    cooldown: Duration,
    budget: usize,
    max_staleness: Duration,
    backoff_min: Duration,
    backoff_max: Duration,
    max_body_bytes: usize,
    max_keys: usize,
    connect_timeout: Duration,
    timeout: Duration,
    lazy: bool,
    startup_deadline: Duration,
    /// The `issuer` the discovery document must name, when it is not the URL discovered
    /// from.
    discovered_issuer: Option<String>,
}

/// Configures a [`RemoteJwks`]; see the crate docs for the defaults and their reasons.
#[must_use]
pub struct RemoteJwksBuilder {
    target: Target,
    client: Option<reqwest::Client>,
    timer: Arc<dyn Timer>,
    config: Config,
}

struct Inner {
    config: Config,
    issuer: Option<String>,
    client: reqwest::Client,
    timer: Arc<dyn Timer>,
    /// What the request path reads.
    current: ArcSwap<Current>,
    /// The one empty set handed out while no keys are usable (one allocation, so that
    /// `same_as` recognises it).
    empty: KeySet,
    /// Held for the whole of a fetch: one fetch at a time per source.
    fetch_lock: tokio::sync::Mutex<()>,
    /// Bookkeeping; never held across an await.
    state: Mutex<State>,
    /// Fetches completed, read by waiters to learn that the fetch they waited for happened.
    attempts: AtomicU64,
    /// Wakes the background task when the schedule changes. Dropped with `Inner`, which ends
    /// the background task.
    wake: watch::Sender<()>,
    stats: watch::Sender<FetchStats>,
}

struct Current {
    keys: KeySet,
    /// The end of the keys' lifetime (their TTL), past which they are stale.
    fresh_until: Duration,
    /// The instant past which `keys` are too stale to serve; `None` before the first load.
    usable_until: Option<Duration>,
}

struct State {
    jwks_url: Option<Url>,
    validators: Validators,
    /// When the background task should fetch next.
    next_due: Duration,
    consecutive_failures: u32,
    /// Instants of the unknown-kid refetches within the current window.
    recent_refetches: VecDeque<Duration>,
    /// Bumped at every install: a fetch installs only over the generation it started from.
    generation: u64,
}

impl RemoteJwks {
    /// A builder for the JWKS at `url`.
    pub fn builder(url: impl Into<String>) -> RemoteJwksBuilder {
        RemoteJwksBuilder::new(Target::Jwks(url.into()))
    }

    /// A builder for the JWKS of `issuer`, found through its discovery document
    /// (`{issuer}/.well-known/openid-configuration`, else RFC 8414
    /// `/.well-known/oauth-authorization-server{path}`). The document's `issuer` must equal
    /// `issuer` exactly.
    pub fn discover(issuer: impl Into<String>) -> RemoteJwksBuilder {
        RemoteJwksBuilder::new(Target::Issuer(issuer.into()))
    }

    /// The counters so far.
    #[must_use]
    pub fn stats(&self) -> FetchStats {
        *self.inner.stats.borrow()
    }

    /// A receiver that sees every change of the counters (each completed fetch).
    #[must_use]
    pub fn watch_stats(&self) -> watch::Receiver<FetchStats> {
        self.inner.stats.subscribe()
    }

    /// The JWKS URL, once known (at once for [`RemoteJwks::builder`], after the first
    /// successful discovery for [`RemoteJwks::discover`]).
    #[must_use]
    pub fn jwks_url(&self) -> Option<String> {
        self.inner.state().jwks_url.as_ref().map(Url::to_string)
    }

    /// The configured issuer, for a source built with [`RemoteJwks::discover`].
    #[must_use]
    pub fn issuer(&self) -> Option<&str> {
        self.inner.issuer.as_deref()
    }
}

impl KeySource for RemoteJwks {
    fn snapshot(&self) -> KeySet {
        self.inner.snapshot()
    }

    fn refresh_for_unknown_kid<'a>(&'a self, seen: &'a KeySet) -> RefreshFuture<'a> {
        Box::pin(self.inner.refresh_for_unknown_kid(seen))
    }

    /// Ready within the keys' lifetime; stale past it while the last good keys are still
    /// served (refreshes failing); unavailable before the first load and past the staleness
    /// limit. By the source's timer.
    fn health(&self) -> KeyHealth {
        let current = self.inner.current.load();
        let now = self.inner.timer.now();
        match current.usable_until {
            Some(until) if now < until => {
                let keys = current.keys.len();
                if now < current.fresh_until {
                    KeyHealth::Ready { keys }
                } else {
                    KeyHealth::Stale {
                        keys,
                        stale_for: now.saturating_sub(current.fresh_until),
                        usable_for: until.saturating_sub(now),
                    }
                }
            }
            _ => KeyHealth::Unavailable,
        }
    }

    /// The configured issuer (discovery), else the JWKS URL without credentials or query.
    fn name(&self) -> String {
        self.inner.name()
    }
}

impl fmt::Debug for RemoteJwks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteJwks")
            .field("jwks_url", &self.jwks_url())
            .field("issuer", &self.inner.issuer)
            .field("keys", &self.inner.snapshot().len())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl RemoteJwksBuilder {
    fn new(target: Target) -> Self {
        RemoteJwksBuilder {
            target,
            client: None,
            timer: Arc::new(TokioTimer::new()),
            config: Config {
                allow_http: false,
                allowed: AlgorithmSet::ASYMMETRIC,
                allow_symmetric: false,
                default_ttl: DEFAULT_TTL,
                min_ttl: DEFAULT_MIN_TTL,
                max_ttl: DEFAULT_MAX_TTL,
                refresh_ahead: DEFAULT_REFRESH_AHEAD,
                refresh_jitter: DEFAULT_REFRESH_JITTER,
                cooldown: DEFAULT_UNKNOWN_KID_COOLDOWN,
                budget: DEFAULT_UNKNOWN_KID_BUDGET,
                max_staleness: DEFAULT_MAX_STALENESS,
                backoff_min: DEFAULT_BACKOFF_MIN,
                backoff_max: DEFAULT_BACKOFF_MAX,
                max_body_bytes: DEFAULT_MAX_BODY_BYTES,
                max_keys: DEFAULT_MAX_KEYS,
                connect_timeout: DEFAULT_CONNECT_TIMEOUT,
                timeout: DEFAULT_TIMEOUT,
                lazy: false,
                startup_deadline: DEFAULT_STARTUP_DEADLINE,
                discovered_issuer: None,
            },
        }
    }

    /// Uses this HTTP client (custom CA, proxy, mTLS). Its redirect policy and connect timeout
    /// are its own; the total [`timeout`](Self::timeout) is still applied to every request,
    /// and an answer from another origin than the one asked is still refused.
    pub fn client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// For [`RemoteJwks::discover`]: the `issuer` the discovery document must name, when it
    /// is not the URL discovered from. Microsoft Entra ID's multi-tenant documents
    /// (`https://login.microsoftonline.com/organizations/v2.0`) name the issuer template
    /// `https://login.microsoftonline.com/{tenantid}/v2.0`: one key set for every tenant,
    /// discovered once. The comparison stays exact.
    pub fn discovered_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.config.discovered_issuer = Some(issuer.into());
        self
    }

    /// Allows `http://` URLs to any host (the JWKS, the issuer and the discovered
    /// `jwks_uri`). Without it, `http://` is accepted only for loopback hosts. Anyone on the
    /// path of a plain-HTTP fetch can substitute their own keys.
    pub fn danger_allow_http(mut self) -> Self {
        self.config.allow_http = true;
        self
    }

    /// The algorithms keys are loaded for (default: the asymmetric ones). An HS* algorithm
    /// requires [`danger_allow_symmetric_keys`](Self::danger_allow_symmetric_keys).
    pub fn allowed_algorithms(mut self, algorithms: AlgorithmSet) -> Self {
        self.config.allowed = algorithms;
        self
    }

    /// Accepts `oct` (HMAC) keys from this JWKS when HS* algorithms are allowed. A shared
    /// secret served from an endpoint is readable by whoever reads that endpoint.
    pub fn danger_allow_symmetric_keys(mut self) -> Self {
        self.config.allow_symmetric = true;
        self
    }

    /// Key lifetime when the response has no usable `max-age` (default 5 min).
    pub fn default_ttl(mut self, ttl: Duration) -> Self {
        self.config.default_ttl = ttl;
        self
    }

    /// Lower bound of a `max-age` (default 30 s); also the lifetime under `no-store`.
    pub fn min_ttl(mut self, ttl: Duration) -> Self {
        self.config.min_ttl = ttl;
        self
    }

    /// Upper bound of a `max-age` (default 1 h).
    pub fn max_ttl(mut self, ttl: Duration) -> Self {
        self.config.max_ttl = ttl;
        self
    }

    /// The fraction of the lifetime after which the background task refreshes (default 0.8),
    /// in (0, 1].
    pub fn refresh_ahead(mut self, fraction: f64) -> Self {
        self.config.refresh_ahead = fraction;
        self
    }

    /// The relative jitter of the refresh time, in [0, 0.5] (default 0.1: plus or minus 10%).
    pub fn refresh_jitter(mut self, jitter: f64) -> Self {
        self.config.refresh_jitter = jitter;
        self
    }

    /// The window of the unknown-`kid` refetch budget (default 30 s).
    pub fn unknown_kid_cooldown(mut self, window: Duration) -> Self {
        self.config.cooldown = window;
        self
    }

    /// Unknown-`kid` refetches allowed per window (default 2); 0 disables them.
    pub fn unknown_kid_budget(mut self, fetches: usize) -> Self {
        self.config.budget = fetches;
        self
    }

    /// How long past their lifetime the last good keys keep serving while refreshes fail
    /// (default 6 h); then the source answers "keys unavailable".
    pub fn max_staleness(mut self, staleness: Duration) -> Self {
        self.config.max_staleness = staleness;
        self
    }

    /// First retry delay after a failure (default 1 s).
    pub fn backoff_min(mut self, delay: Duration) -> Self {
        self.config.backoff_min = delay;
        self
    }

    /// Longest retry delay (default 30 s).
    pub fn backoff_max(mut self, delay: Duration) -> Self {
        self.config.backoff_max = delay;
        self
    }

    /// Cap on the response body (default 1 MiB).
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.config.max_body_bytes = bytes;
        self
    }

    /// Cap on the number of keys in the document (default 100).
    pub fn max_keys(mut self, keys: usize) -> Self {
        self.config.max_keys = keys;
        self
    }

    /// Connect timeout of the default client (default 2 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.config.connect_timeout = timeout;
        self
    }

    /// Total timeout of each request (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.config.timeout = timeout;
        self
    }

    /// Starts without keys: [`build`](Self::build) returns at once, the background task loads
    /// the keys, and until then validation answers "keys unavailable" (a token arriving
    /// before that waits for the same first fetch).
    pub fn lazy(mut self) -> Self {
        self.config.lazy = true;
        self
    }

    /// How long an eager [`build`](Self::build) keeps retrying (default 30 s, on the
    /// [`timer`](Self::timer)): a first load that fails for a reason that may pass
    /// ([`SourceError::is_transient`]) is retried with the backoff while the next attempt
    /// would start within this time of the build's start; then the build fails with
    /// [`SourceErrorKind::StartupDeadline`]. Zero: one attempt. Other failures end the build
    /// at once.
    pub fn startup_deadline(mut self, deadline: Duration) -> Self {
        self.config.startup_deadline = deadline;
        self
    }

    /// The timer of the cache rules (default: tokio's clock).
    pub fn timer(mut self, timer: impl Timer) -> Self {
        self.timer = Arc::new(timer);
        self
    }

    /// Checks the configuration, loads the keys (unless [`lazy`](Self::lazy)) and starts the
    /// background refresh.
    ///
    /// # Errors
    /// [`SourceErrorKind::InsecureUrl`], [`SourceErrorKind::InvalidUrl`] or
    /// [`SourceErrorKind::Config`] for a refused configuration;
    /// [`SourceErrorKind::StartupDeadline`] when transient failures lasted past the
    /// [`startup_deadline`](Self::startup_deadline); otherwise the error of the first load.
    ///
    /// # Panics
    /// Outside a tokio runtime (the background task is spawned on it).
    pub async fn build(self) -> Result<RemoteJwks, SourceError> {
        let c = &self.config;
        check_config(c)?;
        let (jwks_url, issuer) = match self.target {
            Target::Jwks(url) => (Some(fetch::parse_url(&url, c.allow_http)?), None),
            Target::Issuer(issuer) => {
                fetch::parse_url(&issuer, c.allow_http)?;
                (None, Some(issuer))
            }
        };
        let client = match self.client {
            Some(client) => client,
            None => fetch::default_client(c.connect_timeout, c.timeout)?,
        };
        let empty = KeySet::new(Vec::new());
        let inner = Arc::new(Inner {
            issuer,
            client,
            current: ArcSwap::from_pointee(Current {
                keys: empty.clone(),
                fresh_until: Duration::ZERO,
                usable_until: None,
            }),
            empty,
            fetch_lock: tokio::sync::Mutex::new(()),
            state: Mutex::new(State {
                jwks_url,
                validators: Validators::default(),
                next_due: self.timer.now(),
                consecutive_failures: 0,
                recent_refetches: VecDeque::new(),
                generation: 0,
            }),
            attempts: AtomicU64::new(0),
            wake: watch::channel(()).0,
            stats: watch::channel(FetchStats::default()).0,
            timer: self.timer,
            config: self.config,
        });
        if !inner.config.lazy {
            inner.first_load().await?;
        }
        tokio::spawn(background(Arc::downgrade(&inner), inner.wake.subscribe()));
        Ok(RemoteJwks { inner })
    }
}

/// A JWKS document as fetched, unparsed: see [`RemoteJwksBuilder::fetch_document`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct JwksDocument {
    /// The URL the document was fetched from (the discovered `jwks_uri` for
    /// [`RemoteJwks::discover`]).
    pub url: String,
    /// The body, as text.
    pub body: String,
}

impl RemoteJwksBuilder {
    /// Fetches the JWKS document once and returns its text, under the same rules as
    /// [`build`](Self::build) (URL scheme, discovery and its issuer check, redirects, timeouts,
    /// body cap, status `200` only), without parsing a key, caching anything or starting a
    /// background task. For tools that show the document itself, such as the `portcullis jwks`
    /// command, which also lists the keys a key source would skip.
    ///
    /// # Errors
    /// As [`build`](Self::build), except that the keys are not checked: a body that is not a
    /// JWKS is returned as it is.
    pub async fn fetch_document(self) -> Result<JwksDocument, SourceError> {
        let c = &self.config;
        check_config(c)?;
        let client = match self.client {
            Some(client) => client,
            None => fetch::default_client(c.connect_timeout, c.timeout)?,
        };
        let limits = Limits {
            timeout: c.timeout,
            max_body_bytes: c.max_body_bytes,
        };
        let url = match self.target {
            Target::Jwks(url) => fetch::parse_url(&url, c.allow_http)?,
            Target::Issuer(issuer) => {
                discovery::discover(
                    &client,
                    &issuer,
                    c.discovered_issuer.as_deref(),
                    c.allow_http,
                    limits,
                )
                .await?
            }
        };
        match fetch::get(&client, &url, None, limits).await? {
            Fetched::Body { body, .. } => Ok(JwksDocument {
                url: url.to_string(),
                body,
            }),
            // Only sent without validators, so never answered 304 legitimately.
            Fetched::NotModified { .. } => Err(SourceErrorKind::Http { status: 304 }.into()),
        }
    }
}

/// What an issuer's metadata document says, as far as portcullis reads it: see
/// [`discover_metadata`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerMetadata {
    /// The issuer, equal to the one asked for.
    pub issuer: String,
    /// `jwks_uri`, as the document gives it (unchecked).
    pub jwks_uri: Option<String>,
    /// `introspection_endpoint` (RFC 8414, RFC 7662), as the document gives it (unchecked).
    pub introspection_endpoint: Option<String>,
}

/// Fetches an issuer's metadata document under the rules of [`RemoteJwks::discover`]:
/// `{issuer}/.well-known/openid-configuration`, else RFC 8414's
/// `/.well-known/oauth-authorization-server{path}`; the document's `issuer` must equal
/// `issuer` exactly; `https://` only (`http://` for loopback hosts, or any with
/// `allow_http`); same-origin redirects only; [`DEFAULT_TIMEOUT`] and
/// [`DEFAULT_MAX_BODY_BYTES`]; status `200` only. With `client`, that client is used (its
/// own redirect policy and connect timeout; the total timeout still applies). The URLs in the
/// document are returned as they are: check one with [`checked_discovered_url`] before using it.
///
/// # Errors
/// [`SourceErrorKind::InsecureUrl`] or [`SourceErrorKind::InvalidUrl`] for the issuer,
/// [`SourceErrorKind::IssuerMismatch`], [`SourceErrorKind::Discovery`] for a document that
/// is not a JSON object, and the errors of the fetch.
pub async fn discover_metadata(
    issuer: &str,
    client: Option<&reqwest::Client>,
    allow_http: bool,
) -> Result<ServerMetadata, SourceError> {
    let default;
    let client = match client {
        Some(client) => client,
        None => {
            default = fetch::default_client(DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT)?;
            &default
        }
    };
    let limits = Limits {
        timeout: DEFAULT_TIMEOUT,
        max_body_bytes: DEFAULT_MAX_BODY_BYTES,
    };
    let metadata = discovery::checked_metadata(client, issuer, None, allow_http, limits).await?;
    Ok(ServerMetadata {
        issuer: issuer.to_owned(),
        jwks_uri: metadata.jwks_uri,
        introspection_endpoint: metadata.introspection_endpoint,
    })
}

/// Parses `text` as a URL under the key sources' scheme rule: `https://`, or `http://` only to
/// a loopback host (`127.0.0.0/8`, `::1`, `localhost`) unless `allow_http`.
///
/// ```
/// use portcullis_jwks::{SourceErrorKind, checked_url};
///
/// assert!(checked_url("https://idp.example/introspect", false).is_ok());
/// assert!(checked_url("http://127.0.0.1:8417/introspect", false).is_ok());
/// let refused = checked_url("http://idp.example/introspect", false).unwrap_err();
/// assert_eq!(refused.kind(), &SourceErrorKind::InsecureUrl);
/// ```
///
/// # Errors
/// [`SourceErrorKind::InvalidUrl`] or [`SourceErrorKind::InsecureUrl`].
pub fn checked_url(text: &str, allow_http: bool) -> Result<Url, SourceError> {
    fetch::parse_url(text, allow_http)
}

/// As [`checked_url`], for a URL that the metadata document of `issuer` names (from
/// [`discover_metadata`]): the document of an `https://` issuer may name `https://` URLs only,
/// unless `allow_http`. The loopback exception is for an issuer that is itself on loopback;
/// a remote one must not send the resource server to plain-HTTP services on its own host.
///
/// ```
/// use portcullis_jwks::{SourceErrorKind, checked_discovered_url};
///
/// let remote = "https://idp.example";
/// assert!(checked_discovered_url("https://idp.example/introspect", remote, false).is_ok());
/// let refused = checked_discovered_url("http://127.0.0.1:8417/introspect", remote, false);
/// assert_eq!(refused.unwrap_err().kind(), &SourceErrorKind::InsecureUrl);
/// let local = "http://127.0.0.1:8417";
/// assert!(checked_discovered_url("http://127.0.0.1:8417/introspect", local, false).is_ok());
/// ```
///
/// # Errors
/// [`SourceErrorKind::InvalidUrl`] or [`SourceErrorKind::InsecureUrl`].
pub fn checked_discovered_url(
    text: &str,
    issuer: &str,
    allow_http: bool,
) -> Result<Url, SourceError> {
    fetch::parse_discovered_url(text, issuer, allow_http)
}

fn check_config(c: &Config) -> Result<(), SourceError> {
    let refuse = |what| Err(SourceErrorKind::Config(what).into());
    if c.allowed.is_empty() {
        return refuse("no algorithm allowed");
    }
    if c.allowed.has_symmetric() && !c.allow_symmetric {
        return refuse(
            "HS* keys from a remote JWKS require danger_allow_symmetric_keys (a published secret is no secret)",
        );
    }
    if c.min_ttl.is_zero() || c.min_ttl > c.max_ttl {
        return refuse("min_ttl must be positive and at most max_ttl");
    }
    if c.default_ttl < c.min_ttl || c.default_ttl > c.max_ttl {
        return refuse("default_ttl must lie within [min_ttl, max_ttl]");
    }
    if !(c.refresh_ahead > 0.0 && c.refresh_ahead <= 1.0) {
        return refuse("refresh_ahead must be in (0, 1]");
    }
    if !(0.0..=0.5).contains(&c.refresh_jitter) {
        return refuse("refresh_jitter must be in [0, 0.5]");
    }
    if c.backoff_min.is_zero() || c.backoff_min > c.backoff_max {
        return refuse("backoff_min must be positive and at most backoff_max");
    }
    if c.cooldown.is_zero() && c.budget > 0 {
        return refuse("unknown_kid_cooldown must be positive");
    }
    if c.timeout.is_zero() || c.connect_timeout.is_zero() {
        return refuse("timeouts must be positive");
    }
    if c.max_body_bytes == 0 || c.max_keys == 0 {
        return refuse("max_body_bytes and max_keys must be positive");
    }
    Ok(())
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        // The state is consistent between statements; a panic elsewhere leaves it usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn snapshot(&self) -> KeySet {
        let current = self.current.load();
        match current.usable_until {
            Some(until) if self.timer.now() < until => current.keys.clone(),
            _ => self.empty.clone(),
        }
    }

    /// See [`KeySource::name`] on [`RemoteJwks`].
    fn name(&self) -> String {
        if let Some(issuer) = &self.issuer {
            return issuer.clone();
        }
        match &self.state().jwks_url {
            Some(url) => {
                let mut shown = url.clone();
                let _ = shown.set_username("");
                let _ = shown.set_password(None);
                shown.set_query(None);
                shown.set_fragment(None);
                shown.to_string()
            }
            None => "jwks".to_owned(),
        }
    }

    fn update_stats(&self, f: impl FnOnce(&mut FetchStats)) {
        self.stats.send_modify(f);
    }

    /// Whether an unknown-kid refetch is allowed now; records one when it is.
    fn take_budget(&self) -> bool {
        let now = self.timer.now();
        let mut state = self.state();
        let window = self.config.cooldown;
        while state
            .recent_refetches
            .front()
            .is_some_and(|at| now.saturating_sub(*at) >= window)
        {
            state.recent_refetches.pop_front();
        }
        let allowed = state.recent_refetches.len() < self.config.budget;
        if allowed {
            state.recent_refetches.push_back(now);
        }
        allowed
    }

    async fn refresh_for_unknown_kid(&self, seen: &KeySet) -> Result<KeySet, SourceError> {
        let current = self.snapshot();
        if !current.same_as(seen) {
            // Newer keys arrived since the caller's snapshot (Nimbus's reference comparison).
            return Ok(current);
        }
        let attempts_before = self.attempts.load(Ordering::SeqCst);
        let _one_fetch = match self.fetch_lock.try_lock() {
            Ok(guard) => guard,
            // A fetch is in flight (bounded by the request timeout): wait for it and take its
            // result, whatever the budget says; it may be the fetch that brings this `kid`.
            // With no fetch in flight, the lock is only ever held for a few instructions.
            Err(_) => self.fetch_lock.lock().await,
        };
        if self.attempts.load(Ordering::SeqCst) != attempts_before {
            // The fetch this caller waited for has happened: its result is the answer.
            return Ok(self.snapshot());
        }
        let current = self.snapshot();
        if !current.same_as(seen) {
            return Ok(current);
        }
        if !self.take_budget() {
            // Over the budget: refused at once, never queued for a later fetch.
            self.update_stats(|s| s.rate_limited += 1);
            crate::observe::jwks_refetch_refused(&self.name());
            return Err(SourceErrorKind::RateLimited.into());
        }
        self.fetch_locked().await
    }

    /// The eager first load: a transient failure is retried at the backoff's instant, waited
    /// for on the timer, while that instant is within the start-up deadline.
    async fn first_load(&self) -> Result<(), SourceError> {
        let deadline = self
            .timer
            .now()
            .saturating_add(self.config.startup_deadline);
        let mut attempts: u32 = 0;
        loop {
            let result = {
                let _one_fetch = self.fetch_lock.lock().await;
                self.fetch_locked().await
            };
            attempts = attempts.saturating_add(1);
            let error = match result {
                Ok(_) => return Ok(()),
                Err(error) if !error.is_transient() => return Err(error),
                Err(error) => error,
            };
            // `record_failure` has set the instant of the next attempt.
            let retry_at = self.state().next_due;
            if retry_at > deadline {
                let kind = SourceErrorKind::StartupDeadline {
                    attempts,
                    deadline: self.config.startup_deadline,
                };
                return Err(SourceError::with_cause(kind, error));
            }
            self.timer.sleep_until(retry_at).await;
        }
    }

    /// The background task's refresh, when due.
    async fn scheduled_refresh(&self) {
        let _one_fetch = self.fetch_lock.lock().await;
        if self.timer.now() < self.state().next_due {
            // Another fetch happened while this one waited.
            return;
        }
        // Errors are logged (and counted) by `fetch_locked`.
        let _ = self.fetch_locked().await;
    }

    fn limits(&self) -> Limits {
        Limits {
            timeout: self.config.timeout,
            max_body_bytes: self.config.max_body_bytes,
        }
    }

    /// One fetch; the caller holds `fetch_lock`. A failure never touches the keys.
    async fn fetch_locked(&self) -> Result<KeySet, SourceError> {
        let (url, validators, generation) = {
            let state = self.state();
            (
                state.jwks_url.clone(),
                state.validators.clone(),
                state.generation,
            )
        };
        let have_keys = self.current.load().usable_until.is_some();
        // The URL this fetch asked, once known (discovered within the fetch when not yet).
        let mut asked = url;
        let fetched = self
            .fetch(&mut asked, have_keys.then_some(&validators))
            .await;
        let now = self.timer.now();
        self.attempts.fetch_add(1, Ordering::SeqCst);
        let result = match fetched {
            Ok((url, fetched)) => self.install(url, fetched, now, generation),
            Err(e) => Err(e),
        };
        match &result {
            Ok(_) => {}
            Err(e) => self.record_failure(e, now, asked.as_ref()),
        }
        // Reschedule the background task.
        self.wake.send_replace(());
        result
    }

    /// One fetch of `url`, discovered first when `None` (and then written back, so that a
    /// failure after discovery is reported with the URL it happened at).
    async fn fetch(
        &self,
        asked: &mut Option<Url>,
        validators: Option<&Validators>,
    ) -> Result<(Url, Fetched), SourceError> {
        let url = match asked {
            Some(url) => url.clone(),
            None => {
                // Only a discovering source starts without a URL.
                let issuer = self
                    .issuer
                    .as_deref()
                    .ok_or(SourceErrorKind::Config("no JWKS URL"))?;
                let url = discovery::discover(
                    &self.client,
                    issuer,
                    self.config.discovered_issuer.as_deref(),
                    self.config.allow_http,
                    self.limits(),
                )
                .await?;
                tracing::debug!(issuer, jwks_uri = %url, "JWKS URL discovered");
                *asked = Some(url.clone());
                url
            }
        };
        let fetched = fetch::get(&self.client, &url, validators, self.limits()).await;
        fetched.map(|f| (url, f))
    }

    fn install(
        &self,
        url: Url,
        fetched: Fetched,
        now: Duration,
        generation: u64,
    ) -> Result<KeySet, SourceError> {
        let c = &self.config;
        let (keys, cache, validators) = match fetched {
            Fetched::NotModified { cache } => {
                let current = self.current.load();
                if current.usable_until.is_none() {
                    // A 304 to a request that sent no validators of ours.
                    return Err(SourceErrorKind::Http { status: 304 }.into());
                }
                (current.keys.clone(), cache, None)
            }
            Fetched::Body {
                body,
                validators,
                cache,
            } => {
                let load =
                    KeySet::from_jwks_limited(&body, c.allowed, c.max_keys).map_err(|e| match e
                        .kind()
                    {
                        KeyErrorKind::NoUsableKey => SourceErrorKind::NoUsableKeys.into(),
                        _ => SourceError::from(SourceErrorKind::InvalidJwks(e)),
                    })?;
                // Once per fetch that brings a document (a 304 is not parsed again).
                for skipped in &load.skipped {
                    if matches!(
                        skipped.error.kind(),
                        KeyErrorKind::PrivateKey | KeyErrorKind::DuplicateKid
                    ) {
                        // Not an unsupported key: the IdP is misconfigured or compromised.
                        tracing::warn!(
                            jwks_uri = %url,
                            kid = skipped.kid.as_deref(),
                            index = skipped.index,
                            reason = %skipped.error,
                            "JWK skipped: the authorization server is misconfigured or compromised"
                        );
                    } else {
                        tracing::debug!(
                            jwks_uri = %url,
                            kid = ?skipped.kid,
                            index = skipped.index,
                            reason = %skipped.error,
                            "JWK skipped"
                        );
                    }
                }
                (load.keys, cache, Some(validators))
            }
        };
        let ttl = cache.ttl(c.default_ttl, c.min_ttl, c.max_ttl);
        let jitter = 1.0 + c.refresh_jitter * (2.0 * fastrand::f64() - 1.0);
        let refresh_in = ttl.mul_f64((c.refresh_ahead * jitter).clamp(0.01, 1.0));
        let not_modified = validators.is_none();
        {
            let mut state = self.state();
            if state.generation != generation {
                // A newer set was installed meanwhile; this older answer must not replace it.
                return Ok(self.snapshot());
            }
            state.generation = state.generation.wrapping_add(1);
            state.jwks_url = Some(url);
            if let Some(v) = validators {
                state.validators = v;
            }
            state.next_due = now.saturating_add(refresh_in);
            state.consecutive_failures = 0;
            self.current.store(Arc::new(Current {
                keys: keys.clone(),
                fresh_until: now.saturating_add(ttl),
                usable_until: Some(now.saturating_add(ttl).saturating_add(c.max_staleness)),
            }));
        }
        self.update_stats(|s| {
            s.attempts += 1;
            s.consecutive_failures = 0;
            if not_modified {
                s.not_modified += 1;
            } else {
                s.updated += 1;
            }
        });
        let result = if not_modified {
            "not_modified"
        } else {
            "updated"
        };
        crate::observe::jwks_fetch(&self.name(), result, Some(keys.len()));
        Ok(keys)
    }

    fn record_failure(&self, error: &SourceError, now: Duration, asked: Option<&Url>) {
        let c = &self.config;
        let (failures, retry_in) = {
            let mut state = self.state();
            state.consecutive_failures = state.consecutive_failures.saturating_add(1);
            let retry_in = fetch::backoff(
                state.consecutive_failures,
                c.backoff_min,
                c.backoff_max,
                fastrand::f64(),
            );
            state.next_due = now.saturating_add(retry_in);
            (state.consecutive_failures, retry_in)
        };
        // The URL asked: `None` only when discovery itself failed.
        let url = asked.map(Url::to_string);
        let serving_for = self
            .current
            .load()
            .usable_until
            .map(|until| until.saturating_sub(now));
        let what = match serving_for {
            None => "JWKS fetch failed; no keys loaded yet",
            Some(left) if left.is_zero() => {
                "JWKS refresh failed; the last good keys are too stale to serve"
            }
            Some(_) => "JWKS refresh failed; keeping the last good keys",
        };
        tracing::warn!(
            jwks_uri = url.as_deref().unwrap_or("(not discovered)"),
            issuer = self.issuer.as_deref(),
            error = %error,
            cause = ?std::error::Error::source(error).map(ToString::to_string),
            consecutive_failures = failures,
            retry_in_secs = retry_in.as_secs_f64(),
            last_good_keys_served_for_secs = serving_for.map(|d| d.as_secs_f64()),
            "{what}"
        );
        self.update_stats(|s| {
            s.attempts += 1;
            s.failures += 1;
            s.consecutive_failures = failures;
        });
        crate::observe::jwks_fetch(&self.name(), "failed", None);
    }
}

/// The background refresh. Holds the source only while it works: it ends once the last
/// handle is dropped (the `wake` sender goes with the source, which ends `changed`).
async fn background(source: Weak<Inner>, mut wake: watch::Receiver<()>) {
    loop {
        // Mark the current schedule as seen before reading it: a change after this wakes us.
        drop(wake.borrow_and_update());
        let sleep = {
            let Some(inner) = source.upgrade() else {
                return;
            };
            let due = inner.state().next_due;
            if inner.timer.now() >= due {
                inner.scheduled_refresh().await;
                continue;
            }
            inner.timer.sleep_until(due)
        };
        tokio::select! {
            () = sleep => {}
            changed = wake.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}
