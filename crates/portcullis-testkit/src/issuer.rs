//! The running test authorization server.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use portcullis_core::Algorithm;
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use crate::faults::{JwksFault, RecordedRequest};
use crate::server::{self, Dynamic, Shared};
use crate::{TestKey, TokenBuilder};

/// An OAuth authorization server on `127.0.0.1:<random port>`, in the current tokio runtime.
///
/// It serves:
///
/// | endpoint | what |
/// |---|---|
/// | `GET {path}/.well-known/openid-configuration` | OpenID Connect discovery |
/// | `GET /.well-known/oauth-authorization-server{path}` | RFC 8414 metadata (path inserted) |
/// | `GET {path}/jwks.json` | the JWKS, with `Cache-Control`, `ETag` and `Last-Modified` |
/// | `POST {path}/token` | `client_credentials` grant, RFC 9068 JWT access tokens (or opaque ones); DPoP-bound with a `DPoP` proof |
/// | `OPTIONS {path}/token` | CORS preflight, for a browser client on any origin |
/// | `POST {path}/introspect` | RFC 7662 introspection, for an authenticated client |
/// | `POST {path}/revoke` | RFC 7009 revocation of opaque tokens, for an authenticated client |
///
/// Opaque tokens ([`TestIssuer::opaque`]) are random strings whose claims the server keeps:
/// its introspection endpoint answers `active: true` with them until the token is revoked
/// ([`TestIssuer::revoke`]) or its `exp` passes, and `{"active": false}` for anything else.
/// The token, introspection and revocation endpoints authenticate clients with
/// `client_secret_basic` or `client_secret_post`.
///
/// A token request with a `DPoP` header (RFC 9449 section 5) gets a token bound to the proof's
/// key: `cnf.jkt` is the key's RFC 7638 thumbprint and the answer's `token_type` is `DPoP`
/// (an opaque token's introspection says so too). The proof must be one compact JWS with
/// `typ` `dpop+jwt`, an asymmetric `alg`, a public `jwk` that verifies its signature, a `jti`
/// not seen before, `htm` `POST`, `htu` the [token URL](TestIssuer::token_url) (as written,
/// query ignored) and an `iat` from 60 s ago to 10 s ahead; any other proof is answered
/// `400 {"error":"invalid_dpop_proof"}` with the reason in `error_description`. The server
/// asks for no nonce. Its answers carry `Access-Control-Allow-Origin: *`, so that a page on
/// another origin can read them.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use portcullis_testkit::{Algorithm, DpopClient, TestIssuer};
///
/// let idp = TestIssuer::start().await;
/// let client = DpopClient::new(Algorithm::ES256);
/// let answer: serde_json::Value = reqwest::Client::new()
///     .post(idp.token_url())
///     .basic_auth("client-1", Some("secret-1"))
///     .header("DPoP", client.proof("POST", &idp.token_url()).sign())
///     .form(&[("grant_type", "client_credentials")])
///     .send().await.unwrap().json().await.unwrap();
/// assert_eq!(answer["token_type"], "DPoP");
/// let token = answer["access_token"].as_str().unwrap();
/// let (_, claims, _) = portcullis_testkit::tamper::parts(token);
/// assert!(claims.contains(&client.jkt()));
/// # }
/// ```
///
/// Clones share the server. It stops accepting connections when the last clone is dropped (or
/// at [`TestIssuer::shutdown`]); requests held by [`JwksFault::Hang`] then get a `503`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use portcullis_testkit::{Algorithm, TestIssuer};
///
/// let issuer = TestIssuer::start().await;
/// assert_eq!(issuer.jwks_json()["keys"][0]["kid"], "rsa-1");
/// let old = issuer.signing_key();
/// let new = issuer.rotate(Algorithm::ES256);
/// let kids: Vec<_> = issuer.jwks_json()["keys"]
///     .as_array().unwrap().iter().map(|k| k["kid"].clone()).collect();
/// assert_eq!(kids, [old.kid(), new.kid()]);
/// let token = issuer.token().scope("read").sign();
/// assert_eq!(token.split('.').count(), 3);
/// # }
/// ```
#[derive(Clone)]
pub struct TestIssuer {
    shared: Arc<Shared>,
    life: Arc<Life>,
}

/// Owned only by [`TestIssuer`] handles (never by the handlers), so that dropping the last
/// handle stops the server.
struct Life {
    stop: Mutex<Option<watch::Sender<()>>>,
    task: Mutex<Option<JoinHandle<std::io::Result<()>>>>,
}

impl std::fmt::Debug for TestIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestIssuer")
            .field("issuer", &self.shared.issuer)
            .finish_non_exhaustive()
    }
}

/// Configures a [`TestIssuer`]; see [`TestIssuer::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct TestIssuerBuilder {
    keys: Vec<TestKey>,
    path: String,
    audience: String,
    clients: Vec<(String, String)>,
    default_scope: String,
    lifetime: i64,
    publish_symmetric: bool,
    opaque_tokens: bool,
    listen: SocketAddr,
}

impl TestIssuerBuilder {
    /// Adds a key to the JWKS; the first key added is the signing key. Without any, the issuer
    /// starts with one RS256 key with `kid` `rsa-1`.
    pub fn key(mut self, key: TestKey) -> Self {
        self.keys.push(key);
        self
    }

    /// Puts the issuer under a path, e.g. `/tenant-a`: the issuer URL becomes
    /// `http://127.0.0.1:<port>/tenant-a` and every endpoint moves under it (except the RFC 8414
    /// metadata, which is at `/.well-known/oauth-authorization-server/tenant-a`).
    ///
    /// # Panics
    /// If the path has characters other than ASCII letters, digits, `-._~/`.
    pub fn path(mut self, path: &str) -> Self {
        let trimmed = path.trim_matches('/');
        assert!(
            trimmed
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._~/".contains(c)),
            "test issuer path `{path}` must be plain ASCII segments"
        );
        self.path = if trimmed.is_empty() {
            String::new()
        } else {
            format!("/{trimmed}")
        };
        self
    }

    /// The `aud` of the tokens minted by the issuer (default `api`).
    pub fn audience(mut self, audience: &str) -> Self {
        self.audience = audience.to_owned();
        self
    }

    /// Registers a client for the token endpoint (repeatable). Without any, the issuer knows
    /// `client-1` with secret `secret-1`.
    pub fn client(mut self, client_id: &str, secret: &str) -> Self {
        self.clients.push((client_id.to_owned(), secret.to_owned()));
        self
    }

    /// The scope granted by the token endpoint when the request names none
    /// (default `read write`).
    pub fn default_scope(mut self, scope: &str) -> Self {
        scope.clone_into(&mut self.default_scope);
        self
    }

    /// The lifetime of minted tokens, in seconds (default 300).
    pub fn token_lifetime(mut self, secs: i64) -> Self {
        self.lifetime = secs;
        self
    }

    /// Whether HMAC keys appear in the JWKS as `kty: oct` (default `false`: never published).
    pub fn publish_symmetric(mut self, on: bool) -> Self {
        self.publish_symmetric = on;
        self
    }

    /// Whether the token endpoint issues opaque tokens (for the introspection endpoint) rather
    /// than JWTs (default `false`).
    pub fn opaque_tokens(mut self, on: bool) -> Self {
        self.opaque_tokens = on;
        self
    }

    /// The address to listen on (default `127.0.0.1:0`: a free loopback port). The issuer URL
    /// is `http://` and the address bound, so it should be one that clients can reach by that
    /// name, such as a loopback address; tests keep the default so that they never fight over
    /// a port. For a long-running development issuer, such as `portcullis dev-issuer`.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Binds the address (`127.0.0.1:0` unless [`listen`](Self::listen) said otherwise) and
    /// starts serving in the current tokio runtime.
    ///
    /// # Panics
    /// Outside a tokio runtime, or if binding the address fails; [`try_start`](Self::try_start)
    /// returns that error instead.
    pub async fn start(self) -> TestIssuer {
        self.try_start()
            .await
            .expect("binding the address of the test issuer")
    }

    /// As [`start`](Self::start), returning the error of binding the address (already in use,
    /// not permitted) instead of panicking.
    ///
    /// # Errors
    /// The I/O error of binding the listening socket.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub async fn try_start(self) -> std::io::Result<TestIssuer> {
        let listener = tokio::net::TcpListener::bind(self.listen).await?;
        let addr = listener.local_addr()?;
        let base_url = format!("http://{addr}");
        let keys = if self.keys.is_empty() {
            vec![TestKey::generate(Algorithm::RS256).with_kid("rsa-1")]
        } else {
            self.keys
        };
        let signing = keys.first().expect("at least one key").clone();
        let mut clients = self.clients;
        if clients.is_empty() {
            clients.push(("client-1".into(), "secret-1".into()));
        }
        let (stop, stopped) = watch::channel(());
        let shared = Arc::new(Shared {
            issuer: format!("{base_url}{}", self.path),
            base_url,
            path: self.path,
            audience: self.audience,
            clients,
            default_scope: self.default_scope,
            lifetime: self.lifetime,
            publish_symmetric: self.publish_symmetric,
            opaque_tokens: self.opaque_tokens,
            state: Mutex::new(Dynamic::new(signing, keys)),
            jwks_fetches: AtomicUsize::new(0),
            jwks_not_modified: AtomicUsize::new(0),
            discovery_fetches: AtomicUsize::new(0),
            token_requests: AtomicUsize::new(0),
            introspection_calls: AtomicUsize::new(0),
            jwks_requests: Mutex::new(Vec::new()),
            stopped: stopped.clone(),
        });
        let app = server::router(Arc::clone(&shared));
        let mut shutdown = stopped;
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    // Fails, ending the wait, once the last `TestIssuer` drops the sender.
                    while shutdown.changed().await.is_ok() {}
                })
                .await
        });
        Ok(TestIssuer {
            shared,
            life: Arc::new(Life {
                stop: Mutex::new(Some(stop)),
                task: Mutex::new(Some(task)),
            }),
        })
    }
}

impl TestIssuer {
    /// Starts an issuer with one RS256 key (`kid` `rsa-1`), audience `api`, client `client-1`
    /// / `secret-1`, at the root path.
    ///
    /// # Panics
    /// Outside a tokio runtime, or if binding a loopback port fails.
    pub async fn start() -> TestIssuer {
        TestIssuer::builder().start().await
    }

    /// A builder, to choose keys, path, audience, clients and token lifetime.
    pub fn builder() -> TestIssuerBuilder {
        TestIssuerBuilder {
            keys: Vec::new(),
            path: String::new(),
            audience: "api".into(),
            clients: Vec::new(),
            default_scope: "read write".into(),
            lifetime: 300,
            publish_symmetric: false,
            opaque_tokens: false,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        }
    }

    /// The issuer identifier, e.g. `http://127.0.0.1:41234/tenant-a`.
    #[must_use]
    pub fn issuer(&self) -> String {
        self.shared.issuer.clone()
    }

    /// The URL of the JWKS endpoint.
    #[must_use]
    pub fn jwks_url(&self) -> String {
        self.shared.jwks_url()
    }

    /// The URL of the token endpoint.
    #[must_use]
    pub fn token_url(&self) -> String {
        self.shared.token_url()
    }

    /// The URL of the introspection endpoint (RFC 7662), also in the discovery documents.
    #[must_use]
    pub fn introspection_url(&self) -> String {
        self.shared.introspection_url()
    }

    /// The URL of the revocation endpoint (RFC 7009), also in the discovery documents.
    #[must_use]
    pub fn revocation_url(&self) -> String {
        self.shared.revocation_url()
    }

    /// The OpenID Connect discovery URL: `{issuer}/.well-known/openid-configuration`.
    #[must_use]
    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.shared.issuer)
    }

    /// The RFC 8414 metadata URL: `/.well-known/oauth-authorization-server` inserted between
    /// the host and the issuer's path.
    #[must_use]
    pub fn oauth_metadata_url(&self) -> String {
        format!(
            "{}/.well-known/oauth-authorization-server{}",
            self.shared.base_url, self.shared.path
        )
    }

    /// The socket address the server listens on.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        let authority = self
            .shared
            .base_url
            .strip_prefix("http://")
            .unwrap_or(&self.shared.base_url);
        authority.parse().expect("the issuer's own socket address")
    }

    /// A token builder signed by the current signing key, with `iss` = [`TestIssuer::issuer`],
    /// the configured `aud` and lifetime, and the other defaults of [`TokenBuilder::new`].
    pub fn token(&self) -> TokenBuilder {
        self.shared.token()
    }

    /// Issues an opaque access token with the claims that `token` would sign (its
    /// [`TokenBuilder::claims_json`], `iat` and `exp` computed now): a random string of 43
    /// base64url characters, whose claims only the introspection endpoint tells.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let idp = portcullis_testkit::TestIssuer::start().await;
    /// let token = idp.opaque(&idp.token().scope("read"));
    /// assert_eq!(token.len(), 43);
    /// let answer: serde_json::Value = reqwest::Client::new()
    ///     .post(idp.introspection_url())
    ///     .basic_auth("client-1", Some("secret-1"))
    ///     .form(&[("token", token.as_str())])
    ///     .send().await.unwrap().json().await.unwrap();
    /// assert_eq!(answer["active"], true);
    /// assert_eq!(answer["scope"], "read");
    /// assert!(idp.revoke(&token));
    /// # }
    /// ```
    #[must_use]
    pub fn opaque(&self, token: &TokenBuilder) -> String {
        self.shared.issue_opaque(token.claims_json())
    }

    /// Revokes an opaque token: from now on introspection says `active: false`. Whether the
    /// token was one this issuer issued.
    pub fn revoke(&self, token: &str) -> bool {
        match self.shared.lock().opaque.get_mut(token) {
            Some(record) => {
                record.revoked = true;
                true
            }
            None => false,
        }
    }

    /// The current signing key.
    #[must_use]
    pub fn signing_key(&self) -> TestKey {
        self.shared.lock().signing.clone()
    }

    /// Generates a key for `alg` (random `kid`), publishes it and makes it the signing key.
    /// The previous keys stay published until [`TestIssuer::retire`].
    pub fn rotate(&self, alg: Algorithm) -> TestKey {
        let key = TestKey::generate(alg);
        let mut state = self.shared.lock();
        publish_into(&mut state.published, key.clone());
        state.signing = key.clone();
        key
    }

    /// Adds a key to the JWKS (replacing one with the same `kid`) without signing with it.
    pub fn publish(&self, key: TestKey) {
        publish_into(&mut self.shared.lock().published, key);
    }

    /// Removes every key with this `kid` from the JWKS. Retiring the signing key does not
    /// change the signer: tokens keep being signed with a key nobody can find.
    pub fn retire(&self, kid: &str) {
        self.shared.lock().published.retain(|k| k.kid() != kid);
    }

    /// The JWKS document currently served (the override if one is set; faults aside).
    #[must_use]
    pub fn jwks_json(&self) -> Value {
        let state = self.shared.lock();
        self.shared.current_jwks(&state)
    }

    /// Serves exactly `doc` at the JWKS endpoint instead of the published keys (`None` goes
    /// back to them).
    pub fn set_jwks_override(&self, doc: Option<Value>) {
        self.shared.lock().jwks_override = doc;
    }

    /// Injects a fault into the JWKS endpoint (`None` heals it). Other endpoints are unaffected.
    pub fn set_fault(&self, fault: Option<JwksFault>) {
        self.shared.lock().fault = fault;
    }

    /// Injects a fault into the introspection endpoint (`None` heals it): a status, a hang, a
    /// delay, a body that is not JSON or a redirect; the JWKS-only faults are ignored there.
    /// The call is counted in [`TestIssuer::introspection_calls`] either way.
    pub fn set_introspection_fault(&self, fault: Option<JwksFault>) {
        self.shared.lock().introspection_fault = fault;
    }

    /// The `Cache-Control` of JWKS responses (default `Some("max-age=300")`; `None` omits it).
    pub fn set_cache_control(&self, value: Option<String>) {
        self.shared.lock().cache_control = value;
    }

    /// Turns the JWKS validators on or off (default on): a strong `ETag` from the body hash and
    /// a `Last-Modified`, with `304 Not Modified` for a matching `If-None-Match` (or, without
    /// one, an `If-Modified-Since` not older than the document).
    pub fn set_etag_enabled(&self, on: bool) {
        self.shared.lock().etag_enabled = on;
    }

    /// Overrides the `issuer` member of the discovery documents (`None`: the real issuer).
    pub fn set_discovery_issuer(&self, iss: Option<String>) {
        self.shared.lock().discovery_issuer = iss;
    }

    /// Requests to the JWKS endpoint so far, including `304`s and faulted ones.
    #[must_use]
    pub fn jwks_fetches(&self) -> usize {
        self.shared.jwks_fetches.load(Ordering::SeqCst)
    }

    /// JWKS requests answered `304 Not Modified`.
    #[must_use]
    pub fn jwks_not_modified(&self) -> usize {
        self.shared.jwks_not_modified.load(Ordering::SeqCst)
    }

    /// Requests to either discovery endpoint.
    #[must_use]
    pub fn discovery_fetches(&self) -> usize {
        self.shared.discovery_fetches.load(Ordering::SeqCst)
    }

    /// Requests to the token endpoint, successful or not.
    #[must_use]
    pub fn token_requests(&self) -> usize {
        self.shared.token_requests.load(Ordering::SeqCst)
    }

    /// Every request the JWKS endpoint received, in order: its URI (path and query) and its
    /// headers, to check what a key source sends (conditional headers) and never sends (a
    /// token's `kid`).
    #[must_use]
    pub fn jwks_requests(&self) -> Vec<RecordedRequest> {
        self.shared
            .jwks_requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Requests to the introspection endpoint so far: answered, refused (bad client
    /// credentials) or faulted.
    #[must_use]
    pub fn introspection_calls(&self) -> usize {
        self.shared.introspection_calls.load(Ordering::SeqCst)
    }

    /// Stops the server now, for every clone, and waits until it has closed its listener and
    /// finished the requests in flight (hung ones are answered `503`).
    pub async fn shutdown(self) {
        let stop = self
            .life
            .stop
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        drop(stop);
        let task = self
            .life
            .task
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(task) = task {
            // A server error or a panic at this point has nothing left to affect.
            let _ = task.await;
        }
    }
}

fn publish_into(published: &mut Vec<TestKey>, key: TestKey) {
    match published.iter_mut().find(|k| k.kid() == key.kid()) {
        Some(slot) => *slot = key,
        None => published.push(key),
    }
}
