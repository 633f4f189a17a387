//! [`Introspector`]: the endpoint, the credentials, the rules and the cache, together.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use portcullis_core::{AuthError, Claims, ErrorKind, MalformedPart, Presentation, Validator};
use reqwest::Url;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use tokio::sync::Semaphore;

use crate::cache::{Digester, Flights, Key, Leave, Lifetimes, Verdict, VerdictCache};
use crate::client_auth::{AuthMethod, ClientSecret, Credentials};
use crate::error::{IntrospectError, IntrospectErrorKind};
use crate::response;
use crate::shared::{Shared, SharedCacheKey, SharedCachePolicy, SharedVerdicts};
use portcullis_jwks::http::{BodyError, read_capped};

/// How long an active token's verdict is reused at most (it is also never reused past the
/// token's `exp`).
pub const DEFAULT_ACTIVE_TTL: Duration = Duration::from_secs(60);
/// How long a refusal (`active: false`, or claims a rule refuses) is reused.
pub const DEFAULT_INACTIVE_TTL: Duration = Duration::from_secs(10);
/// The default number of remembered verdicts.
pub const DEFAULT_CACHE_ENTRIES: u64 = 4_096;
/// Total timeout of one introspection call, waiting for a free call slot included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Connect timeout of the default HTTP client.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Cap on the response body.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;
/// Introspection calls in flight at once, per introspector.
pub const DEFAULT_MAX_CONCURRENT_CALLS: usize = 64;

/// Where the endpoint is.
enum Target {
    Endpoint(String),
    Issuer(String),
}

/// Configures an [`Introspector`]; see the crate docs for the defaults and their reasons.
#[must_use]
pub struct IntrospectorBuilder {
    target: Target,
    validator: Validator,
    client_id: Option<String>,
    secret: Option<ClientSecret>,
    method: AuthMethod,
    client: Option<reqwest::Client>,
    cache_entries: u64,
    active_ttl: Duration,
    inactive_ttl: Duration,
    timeout: Duration,
    connect_timeout: Duration,
    max_body_bytes: usize,
    max_concurrent_calls: usize,
    allow_http: bool,
    shared: Option<Shared>,
    shared_policy: SharedCachePolicy,
}

/// Asks the authorization server about opaque tokens (RFC 7662), applies the claim rules of
/// a [`Validator`] to what it says, and remembers the verdicts.
///
/// Cheap to clone: clones share the cache, the calls in flight and the HTTP client. See the
/// crate docs for an example.
#[derive(Clone)]
pub struct Introspector {
    inner: Arc<Inner>,
}

struct Inner {
    endpoint: Url,
    client: reqwest::Client,
    credentials: Credentials,
    validator: Validator,
    cache: Option<VerdictCache>,
    lifetimes: Lifetimes,
    shared: Option<Shared>,
    flights: Flights,
    digester: Digester,
    permits: Semaphore,
    timeout: Duration,
    max_body_bytes: usize,
    calls: AtomicU64,
    failures: AtomicU64,
    shared_hits: AtomicU64,
}

/// What one call to the endpoint said: see [`Introspector::introspect_once`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Introspection {
    /// The verdict: the claims of an active token that passes the rules, or why not.
    pub verdict: Result<Claims, AuthError>,
    /// The endpoint's response as it came (empty for a token refused before any call).
    pub response: String,
}

/// Counters of an [`Introspector`], for health checks, metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct IntrospectionStats {
    /// Calls to the endpoint started.
    pub calls: u64,
    /// Calls that gave no verdict (the endpoint failed, refused the client, or answered
    /// something that is not an RFC 7662 response).
    pub failures: u64,
    /// Verdicts read from the shared cache, another replica's calls.
    pub shared_hits: u64,
}

impl Introspector {
    /// A builder for the introspection endpoint at `url`, whose answers `validator` checks
    /// (issuer, audience, times, required claims, custom rules).
    pub fn builder(url: impl Into<String>, validator: Validator) -> IntrospectorBuilder {
        IntrospectorBuilder::new(Target::Endpoint(url.into()), validator)
    }

    /// A builder for the introspection endpoint of `issuer`, found through its metadata
    /// (`introspection_endpoint` of the OpenID Connect or RFC 8414 discovery document, whose
    /// `issuer` must equal `issuer` exactly).
    pub fn discover(issuer: impl Into<String>, validator: Validator) -> IntrospectorBuilder {
        IntrospectorBuilder::new(Target::Issuer(issuer.into()), validator)
    }

    /// The verdict on `token` if one is remembered and still current by the validator's
    /// clock, without waiting for anything: what a request path can answer at once. `None`
    /// means "ask the endpoint" ([`Introspector::introspect`]).
    ///
    /// The token is taken as presented as a plain bearer token: a sender-constrained one is
    /// refused ([`Introspector::cached_presentation`] checks its proof).
    #[must_use]
    pub fn cached(&self, token: &str) -> Option<Result<Claims, AuthError>> {
        self.cached_presentation(&Presentation::bearer(token))
    }

    /// [`Introspector::cached`] for the token of `presentation`, with the binding rule
    /// ([`Validator::check_binding`]) for that presentation.
    #[must_use]
    pub fn cached_presentation(
        &self,
        presentation: &Presentation<'_>,
    ) -> Option<Result<Claims, AuthError>> {
        let inner = &*self.inner;
        let cache = inner.cache.as_ref()?;
        let token = presentation.token();
        if let Err(e) = inner.precheck(token) {
            return Some(Err(e));
        }
        let key = inner.digester.key(token);
        let verdict = inner.cached_by_key(cache, &key)?;
        Some(verdict.and_then(|claims| inner.bind(claims, presentation)))
    }

    /// Checks `token`: from the cache when a current verdict is there, else by one call to
    /// the endpoint, shared with every concurrent request for the same token. The claims of an
    /// active token must pass the validator's rules; the verdict is remembered (an active
    /// token until the earlier of its `exp` and the active lifetime, a refusal briefly).
    ///
    /// # Errors
    /// [`ErrorKind::Inactive`] when the endpoint says the token is not active; the
    /// validator's error when a rule refuses the claims; [`ErrorKind::KeysUnavailable`] when
    /// the endpoint could not give a verdict (down, slow, refusing this resource server's
    /// credentials, answering nonsense), logged on the `portcullis::introspection` target
    /// (at `error` for a configuration error, else at `warn`) and never remembered.
    ///
    /// The token is taken as presented as a plain bearer token: a sender-constrained one is
    /// refused ([`Introspector::introspect_presentation`] checks its proof).
    pub async fn introspect(&self, token: &str) -> Result<Claims, AuthError> {
        self.introspect_presentation(&Presentation::bearer(token))
            .await
    }

    /// [`Introspector::introspect`] for the token of `presentation`, with the binding rule
    /// ([`Validator::check_binding`]) for that presentation: the verdict on the token is
    /// remembered and shared whatever the presentation; the binding is checked on each.
    ///
    /// # Errors
    /// As [`Introspector::introspect`], and the binding rule's.
    pub async fn introspect_presentation(
        &self,
        presentation: &Presentation<'_>,
    ) -> Result<Claims, AuthError> {
        let claims = self.introspect_unbound(presentation.token()).await?;
        self.inner.bind(claims, presentation)
    }

    async fn introspect_unbound(&self, token: &str) -> Result<Claims, AuthError> {
        let inner = &*self.inner;
        inner.precheck(token)?;
        let key = inner.digester.key(token);
        if let Some(cache) = &inner.cache
            && let Some(verdict) = inner.cached_by_key(cache, &key)
        {
            return verdict;
        }
        let flight = inner.flights.join(key);
        let result = flight
            .get_or_init(|| async {
                let _leave = Leave {
                    flights: &inner.flights,
                    key,
                    flight: &flight,
                };
                // A verdict may have been remembered since this request looked.
                if let Some(cache) = &inner.cache
                    && let Some(verdict) = inner.cached_by_key(cache, &key)
                {
                    return verdict;
                }
                inner.fetch(key, token).await
            })
            .await;
        result.clone()
    }

    /// One call to the endpoint for `token`, without the cache or sharing, with the
    /// endpoint's failure as an error rather than "keys unavailable", and the response as it
    /// came: for tools that show what the authorization server says, such as
    /// `portcullis verify --introspect`.
    ///
    /// # Errors
    /// The [`IntrospectError`] of a call that gave no verdict.
    pub async fn introspect_once(&self, token: &str) -> Result<Introspection, IntrospectError> {
        if let Err(e) = self.inner.precheck(token) {
            return Ok(Introspection {
                verdict: Err(e),
                response: String::new(),
            });
        }
        let (verdict, response) = self.inner.call(token).await?;
        let bearer = Presentation::bearer(token);
        Ok(Introspection {
            verdict: verdict
                .into_result()
                .and_then(|claims| self.inner.bind(claims, &bearer)),
            response,
        })
    }

    /// The endpoint.
    #[must_use]
    pub fn endpoint(&self) -> &str {
        self.inner.endpoint.as_str()
    }

    /// The client id this resource server authenticates with.
    #[must_use]
    pub fn client_id(&self) -> &str {
        &self.inner.credentials.client_id
    }

    /// How it authenticates.
    #[must_use]
    pub fn auth_method(&self) -> AuthMethod {
        self.inner.credentials.method
    }

    /// The rules applied to the claims of active tokens.
    #[must_use]
    pub fn validator(&self) -> &Validator {
        &self.inner.validator
    }

    /// The counters so far.
    #[must_use]
    pub fn stats(&self) -> IntrospectionStats {
        IntrospectionStats {
            calls: self.inner.calls.load(Ordering::Relaxed),
            failures: self.inner.failures.load(Ordering::Relaxed),
            shared_hits: self.inner.shared_hits.load(Ordering::Relaxed),
        }
    }

    /// The number of remembered verdicts (0 without a cache).
    #[must_use]
    pub fn cache_len(&self) -> u64 {
        self.inner.cache.as_ref().map_or(0, VerdictCache::len)
    }

    /// Forgets every verdict remembered in this process, e.g. after learning of a mass
    /// revocation. A shared cache ([`IntrospectorBuilder::shared_cache`]) is not cleared:
    /// its records expire with their verdicts (at most the active lifetime).
    pub fn clear_cache(&self) {
        if let Some(cache) = &self.inner.cache {
            cache.clear();
        }
    }
}

impl fmt::Debug for Introspector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the secret, never a token.
        f.debug_struct("Introspector")
            .field("endpoint", &self.inner.endpoint.as_str())
            .field("client_id", &self.inner.credentials.client_id)
            .field("auth_method", &self.inner.credentials.method)
            .field(
                "cache_entries",
                &self.inner.cache.as_ref().map(VerdictCache::max_entries),
            )
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// Whether `token` is an RFC 6750 `b64token`: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" /
/// "+" / "/" ) *"="`.
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

impl Inner {
    /// What is refused before anything is sent: an empty token, one over the validator's
    /// size cap, one that is not a `b64token` (nothing else can come in a bearer header).
    fn precheck(&self, token: &str) -> Result<(), AuthError> {
        if token.is_empty() {
            return Err(ErrorKind::Malformed(MalformedPart::Empty).into());
        }
        let limit = self.validator.max_token_len();
        if token.len() > limit {
            return Err(ErrorKind::TooLarge { limit }.into());
        }
        if !is_b64token(token) {
            return Err(ErrorKind::Malformed(MalformedPart::Base64).into());
        }
        Ok(())
    }

    /// The binding rule for this presentation, on claims the token's verdict holds.
    fn bind(&self, claims: Claims, presentation: &Presentation<'_>) -> Result<Claims, AuthError> {
        self.validator.check_binding(&claims, presentation)?;
        Ok(claims)
    }

    fn cached_by_key(&self, cache: &VerdictCache, key: &Key) -> Option<Result<Claims, AuthError>> {
        let now = self.validator.clock().now_unix();
        // A miss is counted where the call is made: a request may look here more than once
        // (before and after waiting for another request's call).
        let verdict = cache.get(key, now)?;
        crate::observe::lookup("hit");
        match verdict {
            Verdict::Active(claims) => match self.validator.check_times(&claims) {
                Ok(()) => Some(Ok(claims)),
                Err(e) => {
                    cache.remove(key);
                    Some(Err(e))
                }
            },
            Verdict::Refused(e) => Some(Err(e)),
        }
    }

    /// The verdict another replica stored for `key`, read with this replica's rules and
    /// remembered here until the deadline it was stored with: `Ok(None)` when there is none
    /// usable (absent, expired, not authentic, unreadable), `Err` when the store failed.
    async fn shared_verdict(
        &self,
        shared: &Shared,
        key: &Key,
    ) -> Result<Option<Verdict>, crate::SharedCacheError> {
        let Some(record) = shared.store.get(key).await? else {
            return Ok(None);
        };
        let Some((until, response)) = shared.key.open(key, &record) else {
            tracing::warn!(
                target: "portcullis::introspection",
                "a shared verdict record failed its authentication (another secret, or \
                 written by something else); ignored, the endpoint is asked"
            );
            return Ok(None);
        };
        let now = self.validator.clock().now_unix();
        if until <= now {
            return Ok(None);
        }
        let Ok(verdict) = response::read(response, &self.validator) else {
            return Ok(None);
        };
        self.shared_hits.fetch_add(1, Ordering::Relaxed);
        crate::observe::lookup("shared_hit");
        if let Some(cache) = &self.cache {
            cache.insert_until(*key, &verdict, now, until);
        }
        Ok(Some(verdict))
    }

    /// The verdict on the token: from the shared cache when one is configured and holds it,
    /// else from one call to the endpoint (written to the shared cache for the others).
    async fn fetch(&self, key: Key, token: &str) -> Result<Claims, AuthError> {
        if let Some(shared) = &self.shared {
            match self.shared_verdict(shared, &key).await {
                Ok(Some(verdict)) => return verdict.into_result(),
                Ok(None) => {}
                Err(e) => match shared.policy {
                    SharedCachePolicy::FailClosed => {
                        tracing::warn!(
                            target: "portcullis::introspection",
                            reason = e.reason(),
                            "shared verdict cache unavailable; the request is answered 503 \
                             (fail closed)"
                        );
                        return Err(ErrorKind::SharedCacheUnavailable(e.reason().into()).into());
                    }
                    SharedCachePolicy::FailOpen => {
                        tracing::warn!(
                            target: "portcullis::introspection",
                            reason = e.reason(),
                            "shared verdict cache unavailable; asking the endpoint (fail open)"
                        );
                        return self.call_and_remember(key, token, None).await;
                    }
                },
            }
        }
        self.call_and_remember(key, token, self.shared.as_ref())
            .await
    }

    /// One call, its verdict remembered (here, and in `shared` when given), its failure
    /// logged and turned into "unavailable".
    async fn call_and_remember(
        &self,
        key: Key,
        token: &str,
        shared: Option<&Shared>,
    ) -> Result<Claims, AuthError> {
        crate::observe::lookup("miss");
        match self.call(token).await {
            Ok((verdict, response)) => {
                crate::observe::call(match &verdict {
                    Verdict::Active(_) => "active",
                    Verdict::Refused(_) => "inactive",
                });
                let now = self.validator.clock().now_unix();
                if let Some(cache) = &self.cache {
                    cache.insert(key, &verdict, now);
                }
                if let Some(shared) = shared {
                    let until = self.lifetimes.until(&verdict, now);
                    if let Ok(ttl) = Duration::try_from_secs_f64(until - now)
                        && !ttl.is_zero()
                    {
                        let record = shared.key.seal(&key, until, &response);
                        if let Err(e) = shared.store.put(&key, record, ttl).await {
                            tracing::warn!(
                                target: "portcullis::introspection",
                                reason = e.reason(),
                                "could not share a verdict with the other replicas; they will \
                                 ask the endpoint themselves"
                            );
                        }
                    }
                }
                verdict.into_result()
            }
            Err(e) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                crate::observe::call("failed");
                let cause = std::error::Error::source(&e)
                    .map(|c| format!(": {c}"))
                    .unwrap_or_default();
                if e.is_configuration_error() {
                    tracing::error!(
                        target: "portcullis::introspection",
                        endpoint = %self.endpoint,
                        client_id = %self.credentials.client_id,
                        auth_method = %self.credentials.method,
                        reason = e.code(),
                        "introspection failed, a configuration error; requests with opaque \
                         tokens are answered 503 until it is fixed: {e}{cause}"
                    );
                } else {
                    tracing::warn!(
                        target: "portcullis::introspection",
                        endpoint = %self.endpoint,
                        reason = e.code(),
                        "introspection failed; the request is answered 503: {e}{cause}"
                    );
                }
                Err(ErrorKind::KeysUnavailable.into())
            }
        }
    }

    /// One request to the endpoint, within the timeout (a free call slot included): the
    /// verdict, and the response it was read from.
    async fn call(&self, token: &str) -> Result<(Verdict, String), IntrospectError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        match tokio::time::timeout(self.timeout, self.request(token)).await {
            Ok(result) => result,
            Err(_elapsed) => Err(IntrospectErrorKind::Timeout.into()),
        }
    }

    async fn request(&self, token: &str) -> Result<(Verdict, String), IntrospectError> {
        // The semaphore is never closed; a closed one would mean no call may start.
        let _slot = self
            .permits
            .acquire()
            .await
            .map_err(|_| IntrospectError::new(IntrospectErrorKind::Transport))?;
        let (body, authorization) = self.credentials.request(token);
        let mut request = self
            .client
            .post(self.endpoint.clone())
            .timeout(self.timeout)
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body);
        if let Some(value) = authorization {
            request = request.header(AUTHORIZATION, value.clone());
        }
        let mut response = request
            .send()
            .await
            .map_err(IntrospectError::from_reqwest)?;
        // A caller-supplied client may follow redirects; only the endpoint's own answer counts.
        if *response.url() != self.endpoint {
            return Err(IntrospectErrorKind::Redirect.into());
        }
        let status = response.status().as_u16();
        match status {
            200 => {}
            401 | 403 => return Err(IntrospectErrorKind::ClientRejected { status }.into()),
            _ => return Err(IntrospectErrorKind::Http { status }.into()),
        }
        let bytes = read_capped(&mut response, self.max_body_bytes)
            .await
            .map_err(|e| match e {
                BodyError::TooLarge => IntrospectErrorKind::BodyTooLarge {
                    limit: self.max_body_bytes,
                }
                .into(),
                BodyError::Read(e) => IntrospectError::from_reqwest(e),
            })?;
        let text = String::from_utf8(bytes).map_err(|e| {
            IntrospectError::with_cause(IntrospectErrorKind::InvalidResponse("not UTF-8"), e)
        })?;
        let verdict = response::read(&text, &self.validator)?;
        Ok((verdict, text))
    }
}

impl IntrospectorBuilder {
    fn new(target: Target, validator: Validator) -> Self {
        IntrospectorBuilder {
            target,
            validator,
            client_id: None,
            secret: None,
            method: AuthMethod::default(),
            client: None,
            cache_entries: DEFAULT_CACHE_ENTRIES,
            active_ttl: DEFAULT_ACTIVE_TTL,
            inactive_ttl: DEFAULT_INACTIVE_TTL,
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_concurrent_calls: DEFAULT_MAX_CONCURRENT_CALLS,
            allow_http: false,
            shared: None,
            shared_policy: SharedCachePolicy::default(),
        }
    }

    /// Shares verdicts with the other replicas through `store`: a local cache miss reads the
    /// store before calling the endpoint, and a call's verdict is written there for the
    /// others, with the same lifetime it has here. `key` must be the same on every replica
    /// (see [`SharedCacheKey`]); tokens are never stored, records are authenticated with it.
    ///
    /// When the store cannot answer a read, the request is refused with 503
    /// ([`SharedCachePolicy::FailClosed`], the default) unless
    /// [`IntrospectorBuilder::shared_cache_policy`] says to ask the endpoint. A failed write
    /// is logged and changes nothing for the request.
    pub fn shared_cache(mut self, store: impl SharedVerdicts, key: SharedCacheKey) -> Self {
        self.shared = Some(Shared {
            store: Arc::new(store),
            key,
            policy: self.shared_policy,
        });
        self
    }

    /// What to do when the shared cache cannot answer a read (with
    /// [`IntrospectorBuilder::shared_cache`]).
    pub fn shared_cache_policy(mut self, policy: SharedCachePolicy) -> Self {
        self.shared_policy = policy;
        if let Some(shared) = &mut self.shared {
            shared.policy = policy;
        }
        self
    }

    /// This resource server's client credentials at the authorization server, sent with
    /// `method` (RFC 7662 section 2.1 requires the caller to authenticate).
    pub fn client_credentials(
        mut self,
        client_id: impl Into<String>,
        secret: impl Into<ClientSecret>,
        method: AuthMethod,
    ) -> Self {
        self.client_id = Some(client_id.into());
        self.secret = Some(secret.into());
        self.method = method;
        self
    }

    /// [`client_credentials`](Self::client_credentials) with HTTP Basic authentication.
    pub fn client_secret_basic(
        self,
        client_id: impl Into<String>,
        secret: impl Into<ClientSecret>,
    ) -> Self {
        self.client_credentials(client_id, secret, AuthMethod::ClientSecretBasic)
    }

    /// [`client_credentials`](Self::client_credentials) with the credentials in the body.
    pub fn client_secret_post(
        self,
        client_id: impl Into<String>,
        secret: impl Into<ClientSecret>,
    ) -> Self {
        self.client_credentials(client_id, secret, AuthMethod::ClientSecretPost)
    }

    /// How many verdicts to remember (default 4,096); 0 turns the cache off, so that every
    /// request is introspected (concurrent requests with one token still share a call).
    pub fn cache_entries(mut self, entries: u64) -> Self {
        self.cache_entries = entries;
        self
    }

    /// The longest an active token's verdict is reused (default 60 s): a revoked token is
    /// still accepted for up to this long. Never past the token's `exp`.
    pub fn active_ttl(mut self, ttl: Duration) -> Self {
        self.active_ttl = ttl;
        self
    }

    /// How long a refusal is reused (default 10 s).
    pub fn inactive_ttl(mut self, ttl: Duration) -> Self {
        self.inactive_ttl = ttl;
        self
    }

    /// Total timeout of one call (default 5 s), waiting for a free call slot included.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Connect timeout of the default client (default 2 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Cap on the response body (default 64 KiB).
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Calls in flight at once (default 64): bounds what a flood of distinct unknown tokens
    /// makes this process send to the authorization server.
    pub fn max_concurrent_calls(mut self, calls: usize) -> Self {
        self.max_concurrent_calls = calls;
        self
    }

    /// Uses this HTTP client (custom CA, proxy, mTLS) for the calls and for discovery. Its
    /// redirect policy and connect timeout are its own; the total timeout still applies, and
    /// an answer from another URL than the endpoint is still refused.
    pub fn client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Allows `http://` endpoints (and issuers) on other hosts than loopback. Anyone on the
    /// path reads every token and the client secret, and can answer `active: true`.
    pub fn danger_allow_http(mut self) -> Self {
        self.allow_http = true;
        self
    }

    /// Checks the configuration, finds the endpoint (through discovery for
    /// [`Introspector::discover`]) and builds. No token is introspected yet.
    ///
    /// # Errors
    /// [`IntrospectErrorKind::Config`] without client credentials, for an empty client id or
    /// secret, an insecure or invalid URL, a zero timeout, body cap or call limit;
    /// [`IntrospectErrorKind::Discovery`] when the issuer's metadata cannot be had or names no
    /// `introspection_endpoint`.
    pub async fn build(self) -> Result<Introspector, IntrospectError> {
        let (Some(client_id), Some(secret)) = (self.client_id, self.secret) else {
            return Err(IntrospectError::config(
                "no client credentials: the introspection endpoint authenticates its callers",
            ));
        };
        if client_id.is_empty() || secret.expose().is_empty() {
            return Err(IntrospectError::config("empty client id or secret"));
        }
        if self.timeout.is_zero() || self.connect_timeout.is_zero() {
            return Err(IntrospectError::config("timeouts must be positive"));
        }
        if self.max_body_bytes == 0 || self.max_concurrent_calls == 0 {
            return Err(IntrospectError::config(
                "max_body_bytes and max_concurrent_calls must be positive",
            ));
        }
        let client = match self.client {
            Some(client) => client,
            None => reqwest::Client::builder()
                .connect_timeout(self.connect_timeout)
                .timeout(self.timeout)
                // The request carries a token and a secret: it goes to the endpoint or nowhere.
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("portcullis-introspect/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| {
                    IntrospectError::with_cause(
                        IntrospectErrorKind::Config("HTTP client".into()),
                        e,
                    )
                })?,
        };
        let url_error = |e: portcullis_jwks::SourceError| {
            let what = match e.kind() {
                portcullis_jwks::SourceErrorKind::InsecureUrl => {
                    "the endpoint must be https:// (http:// only for loopback hosts, or with \
                     danger_allow_http)"
                }
                _ => "the endpoint is not a valid URL",
            };
            IntrospectError::with_cause(IntrospectErrorKind::Config(what.into()), e)
        };
        let endpoint = match self.target {
            Target::Endpoint(url) => {
                portcullis_jwks::checked_url(&url, self.allow_http).map_err(url_error)?
            }
            Target::Issuer(issuer) => {
                let metadata =
                    portcullis_jwks::discover_metadata(&issuer, Some(&client), self.allow_http)
                        .await
                        .map_err(|e| {
                            IntrospectError::with_cause(
                                IntrospectErrorKind::Discovery("the issuer's metadata"),
                                e,
                            )
                        })?;
                let url = metadata.introspection_endpoint.ok_or(IntrospectError::new(
                    IntrospectErrorKind::Discovery("no introspection_endpoint in the metadata"),
                ))?;
                portcullis_jwks::checked_discovered_url(&url, &issuer, self.allow_http)
                    .map_err(url_error)?
            }
        };
        let digester = match &self.shared {
            Some(shared) => Digester::shared(&shared.key),
            None => Digester::random()
                .ok_or_else(|| IntrospectError::config("no system randomness for the cache key"))?,
        };
        let lifetimes = Lifetimes::new(self.active_ttl, self.inactive_ttl);
        let cache =
            (self.cache_entries > 0).then(|| VerdictCache::new(self.cache_entries, lifetimes));
        Ok(Introspector {
            inner: Arc::new(Inner {
                endpoint,
                client,
                credentials: Credentials::new(client_id, &secret, self.method)?,
                validator: self.validator,
                cache,
                lifetimes,
                shared: self.shared,
                flights: Flights::default(),
                digester,
                permits: Semaphore::new(self.max_concurrent_calls),
                timeout: self.timeout,
                max_body_bytes: self.max_body_bytes,
                calls: AtomicU64::new(0),
                failures: AtomicU64::new(0),
                shared_hits: AtomicU64::new(0),
            }),
        })
    }
}

impl fmt::Debug for IntrospectorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectorBuilder")
            .field("client_id", &self.client_id)
            .field("auth_method", &self.method)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_b64tokens_are_sent() {
        for ok in ["abc", "a.b.c", "A-_~+/9", "abc==", "x="] {
            assert!(is_b64token(ok), "{ok}");
        }
        for bad in ["", "=", "a b", "a=b", "a,b", "é", "a\"b", "a\tb"] {
            assert!(!is_b64token(bad), "{bad:?}");
        }
    }
}
