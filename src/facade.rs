//! [`Tollgate`]: one issuer (or several) in a few lines, from code or from a configuration file.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tollgate_core::{Algorithm, AlgorithmSet, ConfigError, ScopeRequirement, TypPolicy, Validator};
use tollgate_jwks::{RemoteJwks, SourceError};
use tollgate_tower::{
    Answers, BearerAuthLayer, ByIssuer, JwtVerifier, Policy, RequireScopesLayer, TokenCache,
    TokenSources, Verifier,
};

/// The configuration of a protected API, as code builds it or as serde reads it (TOML, YAML,
/// JSON, environment-variable loaders). Unknown fields are errors, so a typo in a setting is
/// never silently ignored.
///
/// ```
/// let config: tollgate::Config = serde_json::from_str(r#"{
///     "issuers": [{ "issuer": "https://auth.example.com", "audiences": ["orders-api"] }],
///     "realm": "orders"
/// }"#).unwrap();
/// assert_eq!(config.issuers[0].leeway_secs, 60);
/// ```
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Config {
    /// The trusted issuers (at least one). With several, the token's `iss` chooses.
    pub issuers: Vec<IssuerConfig>,
    /// The `realm` of every `WWW-Authenticate` challenge.
    #[serde(default)]
    pub realm: Option<String>,
    /// Add `error_description` to refusals (off: it tells callers which rule failed).
    #[serde(default)]
    pub describe_errors: bool,
    /// Let requests without a token through, unauthenticated (invalid tokens are still
    /// refused).
    #[serde(default)]
    pub optional: bool,
    /// Also read the token from this cookie.
    #[serde(default)]
    pub token_cookie: Option<String>,
    /// Also read the token from the `access_token` query parameter.
    #[serde(default)]
    pub token_query_parameter: bool,
    /// How many verified tokens to remember per issuer (0: none; default
    /// [`DEFAULT_CACHE_ENTRIES`](tollgate_tower::DEFAULT_CACHE_ENTRIES)). A cached token is
    /// still refused once expired or once its key leaves the key set; see
    /// [`TokenCache`](tollgate_tower::TokenCache).
    #[serde(default = "default_cache_entries")]
    pub token_cache_entries: u64,
}

fn default_cache_entries() -> u64 {
    tollgate_tower::DEFAULT_CACHE_ENTRIES
}

/// One trusted issuer.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct IssuerConfig {
    /// The issuer identifier, compared exactly with the token's `iss`; its keys are found
    /// through discovery unless `jwks_uri` is set.
    pub issuer: String,
    /// The audiences this API accepts (one must be in the token's `aud`).
    #[serde(default)]
    pub audiences: Vec<String>,
    /// The JWKS URL, skipping discovery.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// The accepted algorithms (JOSE names); default: RS*, PS*, ES*, EdDSA.
    #[serde(default)]
    pub algorithms: Option<Vec<String>>,
    /// Clock leeway for `exp`, `nbf` and `iat`, in seconds (default 60).
    #[serde(default = "default_leeway")]
    pub leeway_secs: u64,
    /// The `typ` rule: `at+jwt` (RFC 9068 only), `at+jwt-or-jwt` (default) or `ignore`.
    #[serde(default)]
    pub typ: Option<String>,
    /// Claims every token must carry.
    #[serde(default)]
    pub required_claims: Vec<String>,
    /// The maximum age of a token (from its `iat`), in seconds.
    #[serde(default)]
    pub max_age_secs: Option<u64>,
    /// Accept any audience (the token may be meant for another API): a weakening.
    #[serde(default)]
    pub danger_accept_any_audience: bool,
    /// Allow `http://` URLs for other hosts than loopback: a weakening.
    #[serde(default)]
    pub danger_allow_http: bool,
    /// Accept HS* keys from the remote JWKS: a weakening (a published secret is no secret).
    #[serde(default)]
    pub danger_allow_symmetric_keys: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            issuers: Vec::new(),
            realm: None,
            describe_errors: false,
            optional: false,
            token_cookie: None,
            token_query_parameter: false,
            token_cache_entries: default_cache_entries(),
        }
    }
}

fn default_leeway() -> u64 {
    60
}

impl IssuerConfig {
    /// An issuer with the defaults.
    #[must_use]
    pub fn new(issuer: impl Into<String>) -> Self {
        IssuerConfig {
            issuer: issuer.into(),
            audiences: Vec::new(),
            jwks_uri: None,
            algorithms: None,
            leeway_secs: default_leeway(),
            typ: None,
            required_claims: Vec::new(),
            max_age_secs: None,
            danger_accept_any_audience: false,
            danger_allow_http: false,
            danger_allow_symmetric_keys: false,
        }
    }
}

/// Why a [`Tollgate`] could not be built.
#[derive(Debug)]
pub struct BuildError {
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl BuildError {
    fn config(message: impl Into<String>) -> Self {
        BuildError {
            message: message.into(),
            source: None,
        }
    }

    fn caused(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        BuildError {
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Some(source) => write!(f, "{}: {source}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// A protected API's authentication: build it once, then take [`Tollgate::layer`] for the
/// router and [`Tollgate::require_scopes`] for the routes that need scopes.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let idp = tollgate_testkit::TestIssuer::start().await;
/// use axum::{routing::get, Router};
/// use tollgate::Tollgate;
///
/// let auth = Tollgate::builder().issuer(idp.issuer()).audience("api").build().await?;
/// let app: Router = Router::new()
///     .route("/orders", get(|| async { "orders" }))
///     .route_layer(auth.require_scopes(["orders.read"]))
///     .route_layer(auth.layer());
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Tollgate {
    layer: BearerAuthLayer,
}

impl Tollgate {
    /// A builder.
    pub fn builder() -> TollgateBuilder {
        TollgateBuilder::default()
    }

    /// Builds from a configuration: fetches each issuer's discovery document (unless
    /// `jwks_uri` is set) and keys.
    ///
    /// # Errors
    /// A [`BuildError`] for an unsafe or invalid configuration, or when an issuer's keys
    /// cannot be loaded.
    pub async fn from_config(config: Config) -> Result<Self, BuildError> {
        TollgateBuilder {
            config,
            client: None,
            policy: None,
        }
        .build()
        .await
    }

    /// The layer: put it on the router (`route_layer`, so that unknown paths stay 404).
    pub fn layer(&self) -> BearerAuthLayer {
        self.layer.clone()
    }

    /// A scope check for `route_layer`, behind [`Tollgate::layer`]: every scope is required.
    ///
    /// # Panics
    /// For a scope that is not a valid RFC 6749 scope token (empty, a space, `"`, `\`).
    pub fn require_scopes<I, S>(
        &self,
        scopes: I,
    ) -> RequireScopesLayer<tollgate_tower::DefaultAnswer>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.layer.require_scopes(scopes)
    }

    /// A scope check for any requirement (any-of, all-of, alternatives).
    ///
    /// # Panics
    /// As [`Tollgate::require_scopes`].
    pub fn require(
        &self,
        requirement: ScopeRequirement,
    ) -> RequireScopesLayer<tollgate_tower::DefaultAnswer> {
        self.layer.require(requirement)
    }
}

/// Builds a [`Tollgate`]. `issuer(..)` starts an issuer; the settings after it (audience,
/// algorithms, leeway, ...) apply to that issuer.
#[derive(Debug, Default)]
#[must_use]
pub struct TollgateBuilder {
    config: Config,
    client: Option<reqwest::Client>,
    policy: Option<Policy>,
}

impl TollgateBuilder {
    fn current(&mut self) -> Option<&mut IssuerConfig> {
        self.config.issuers.last_mut()
    }

    fn with_current(mut self, f: impl FnOnce(&mut IssuerConfig)) -> Self {
        match self.current() {
            Some(issuer) => f(issuer),
            // A setting before any issuer: kept for an issuer-less check at build time.
            None => {
                let mut orphan = IssuerConfig::new(String::new());
                f(&mut orphan);
                self.config.issuers.push(orphan);
            }
        }
        self
    }

    /// Trusts an issuer (its keys found through discovery).
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.config.issuers.push(IssuerConfig::new(issuer));
        self
    }

    /// An accepted audience of the current issuer.
    pub fn audience(self, audience: impl Into<String>) -> Self {
        let audience = audience.into();
        self.with_current(|i| i.audiences.push(audience))
    }

    /// The JWKS URL of the current issuer, skipping discovery.
    pub fn jwks_uri(self, url: impl Into<String>) -> Self {
        let url = url.into();
        self.with_current(|i| i.jwks_uri = Some(url))
    }

    /// The accepted algorithms of the current issuer.
    pub fn algorithms(self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        let names = algorithms
            .into_iter()
            .map(|a| a.as_str().to_owned())
            .collect();
        self.with_current(|i| i.algorithms = Some(names))
    }

    /// The clock leeway of the current issuer (whole seconds).
    pub fn leeway(self, leeway: Duration) -> Self {
        self.with_current(|i| i.leeway_secs = leeway.as_secs())
    }

    /// The `typ` rule of the current issuer.
    pub fn typ(self, policy: TypPolicy) -> Self {
        let name = match policy {
            TypPolicy::RequireAccessToken => "at+jwt",
            TypPolicy::Ignore => "ignore",
            _ => "at+jwt-or-jwt",
        };
        self.with_current(|i| i.typ = Some(name.to_owned()))
    }

    /// A claim every token of the current issuer must carry.
    pub fn require_claim(self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.with_current(|i| i.required_claims.push(name))
    }

    /// Accept any audience for the current issuer: a weakening.
    pub fn danger_accept_any_audience(self) -> Self {
        self.with_current(|i| i.danger_accept_any_audience = true)
    }

    /// Allow `http://` for the current issuer's URLs on other hosts than loopback.
    pub fn danger_allow_http(self) -> Self {
        self.with_current(|i| i.danger_allow_http = true)
    }

    /// Accept HS* keys from the current issuer's JWKS.
    pub fn danger_allow_symmetric_keys(self) -> Self {
        self.with_current(|i| i.danger_allow_symmetric_keys = true)
    }

    /// The `realm` of the challenges.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.config.realm = Some(realm.into());
        self
    }

    /// Adds `error_description` to refusals.
    pub fn describe_errors(mut self) -> Self {
        self.config.describe_errors = true;
        self
    }

    /// Optional authentication.
    pub fn optional(mut self) -> Self {
        self.config.optional = true;
        self
    }

    /// How many verified tokens to remember per issuer (0 turns the cache off).
    pub fn token_cache_entries(mut self, entries: u64) -> Self {
        self.config.token_cache_entries = entries;
        self
    }

    /// A central policy table (see [`Policy`]).
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = Some(policy);
        self
    }

    /// The HTTP client for discovery and JWKS fetches (custom CA, proxy, mTLS). Give it
    /// timeouts; the default client has 2 s connect and 5 s total.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Checks the configuration, loads every issuer's keys, and builds.
    ///
    /// # Errors
    /// A [`BuildError`] for: no issuer; a setting given before any issuer; no audience
    /// without `danger_accept_any_audience`; an empty or unknown algorithm list; HS*
    /// algorithms for a remote JWKS without `danger_allow_symmetric_keys`; an unknown `typ`;
    /// keys that cannot be loaded.
    pub async fn build(self) -> Result<Tollgate, BuildError> {
        let config = self.config;
        if config.issuers.is_empty() {
            return Err(BuildError::config("no issuer configured"));
        }
        let mut verifiers: Vec<(String, JwtVerifier<RemoteJwks>)> = Vec::new();
        for issuer in &config.issuers {
            if issuer.issuer.is_empty() {
                return Err(BuildError::config(
                    "an issuer setting was given before any issuer(..)",
                ));
            }
            let cache = (config.token_cache_entries > 0)
                .then(|| TokenCache::new(config.token_cache_entries));
            let verifier = build_issuer(issuer, self.client.as_ref())
                .await?
                .with_cache(cache);
            verifiers.push((issuer.issuer.clone(), verifier));
        }
        let verifier: Arc<dyn Verifier> = if verifiers.len() == 1 {
            let Some((_, only)) = verifiers.pop() else {
                return Err(BuildError::config("no issuer configured"));
            };
            Arc::new(only)
        } else {
            for (i, (name, _)) in verifiers.iter().enumerate() {
                if verifiers.iter().skip(i + 1).any(|(other, _)| other == name) {
                    return Err(BuildError::config(format!(
                        "issuer {name:?} is configured twice"
                    )));
                }
            }
            let max_len = verifiers
                .iter()
                .map(|(_, v)| v.validator().max_token_len())
                .max()
                .unwrap_or(0);
            Arc::new(ByIssuer::new(
                verifiers
                    .into_iter()
                    .map(|(name, v)| (name, Arc::new(v) as Arc<dyn Verifier>)),
                max_len,
            ))
        };

        let mut answers = Answers::default().describe_errors(config.describe_errors);
        if let Some(realm) = &config.realm {
            answers = answers.realm(realm.clone());
        }
        let mut sources = TokenSources::default();
        if let Some(cookie) = &config.token_cookie {
            sources = sources.with_cookie(cookie.clone());
        }
        if config.token_query_parameter {
            sources = sources.with_query_parameter();
        }
        let mut layer = BearerAuthLayer::from_arc(verifier)
            .answers(answers)
            .token_sources(sources);
        if config.optional {
            layer = layer.optional();
        }
        if let Some(policy) = self.policy {
            layer = layer.policy(policy);
        }
        Ok(Tollgate { layer })
    }
}

async fn build_issuer(
    c: &IssuerConfig,
    client: Option<&reqwest::Client>,
) -> Result<JwtVerifier<RemoteJwks>, BuildError> {
    let named = |what: &str| format!("issuer {:?}: {what}", c.issuer);
    let algorithms = match &c.algorithms {
        None => AlgorithmSet::ASYMMETRIC,
        Some(names) => {
            let mut set = AlgorithmSet::EMPTY;
            for name in names {
                let alg = Algorithm::from_jose(name).ok_or_else(|| {
                    BuildError::config(named(&format!("unknown algorithm {name:?}")))
                })?;
                set.insert(alg);
            }
            set
        }
    };
    if algorithms.is_empty() {
        return Err(BuildError::config(named("the algorithm list is empty")));
    }
    if algorithms.iter().any(|a| a.is_symmetric()) && !c.danger_allow_symmetric_keys {
        return Err(BuildError::config(named(
            "HS* algorithms with keys from a remote JWKS need danger_allow_symmetric_keys",
        )));
    }
    let typ = match c.typ.as_deref() {
        None | Some("at+jwt-or-jwt") => TypPolicy::AccessTokenOrJwt,
        Some("at+jwt") => TypPolicy::RequireAccessToken,
        Some("ignore") => TypPolicy::Ignore,
        Some(other) => {
            return Err(BuildError::config(named(&format!(
                "unknown typ rule {other:?} (at+jwt, at+jwt-or-jwt, ignore)"
            ))));
        }
    };
    let mut rules = Validator::builder()
        .issuer(c.issuer.clone())
        .algorithms(algorithms.iter())
        .leeway(Duration::from_secs(c.leeway_secs))
        .typ(typ);
    for audience in &c.audiences {
        rules = rules.audience(audience.clone());
    }
    if c.danger_accept_any_audience {
        rules = rules.danger_accept_any_audience();
    }
    for claim in &c.required_claims {
        rules = rules.require_claim(claim.clone());
    }
    if let Some(age) = c.max_age_secs {
        rules = rules.max_age(Duration::from_secs(age));
    }
    let rules = rules
        .build()
        .map_err(|e: ConfigError| BuildError::caused(named("invalid rules"), e))?;

    let mut keys = match &c.jwks_uri {
        Some(url) => RemoteJwks::builder(url.clone()),
        None => RemoteJwks::discover(c.issuer.clone()),
    }
    .allowed_algorithms(algorithms);
    if let Some(client) = client {
        keys = keys.client(client.clone());
    }
    if c.danger_allow_http {
        keys = keys.danger_allow_http();
    }
    if c.danger_allow_symmetric_keys {
        keys = keys.danger_allow_symmetric_keys();
    }
    let keys = keys
        .build()
        .await
        .map_err(|e: SourceError| BuildError::caused(named("keys could not be loaded"), e))?;
    Ok(JwtVerifier::new(keys, rules))
}
