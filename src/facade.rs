//! [`Portcullis`]: one issuer (or several) in a few lines, from code or from a configuration file.

use std::sync::Arc;
use std::time::Duration;

use portcullis_core::dpop::{Dpop, NonceKey, ReplayStore};
use portcullis_core::revocation::{RevocationList, RevocationVerifier};
use portcullis_core::{
    Algorithm, AlgorithmSet, ClaimRule, ConfigError, ConfigErrorKind, IssuerTemplate,
    ResourceIdentifier, ScopeSource, TypPolicy, Validator, Verifier,
};
use portcullis_introspect::{
    AuthMethod, ClientSecret, Introspector, JwtOrIntrospection, SharedCacheKey, SharedCachePolicy,
    SharedVerdicts,
};
use portcullis_jwks::{Issuers, JwtVerifier, RemoteJwks, TokenCache};
use portcullis_tower::{Answers, BearerAuthLayer, Policy, ResourceMetadata, TokenSources};
use serde::Deserialize;

use crate::gateway::GatewayConfig;

/// The configuration of a protected API, as code builds it or as serde reads it (TOML, YAML,
/// JSON, environment-variable loaders). Unknown fields are errors, so a typo in a setting is
/// never silently ignored.
///
/// ```
/// let config: portcullis::Config = serde_json::from_str(r#"{
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
    /// The routes behind the layer are gRPC-Web routes (a tonic server with tonic-web):
    /// gRPC-Web callers, and gRPC over HTTP/1.1, get trailers-only answers. Off: every HTTP/1.x
    /// request gets its HTTP status (see [`Answers::grpc_web`]).
    #[serde(default)]
    pub grpc_web: bool,
    /// Let requests without a token through, unauthenticated (invalid tokens are still
    /// refused).
    #[serde(default)]
    pub optional: bool,
    /// Also read the token from this cookie.
    #[serde(default)]
    pub token_cookie: Option<String>,
    /// Also read the token from the `access_token` query parameter (RFC 6750 2.3 says it
    /// SHOULD NOT be used: URLs end up in logs): a weakening.
    #[serde(default)]
    pub danger_token_query_parameter: bool,
    /// Start without the keys (each issuer's keys are fetched in the background and by the
    /// first requests that need them), so that the API starts while its authorization server
    /// is briefly down; requests before the keys arrive are answered 503. Off: the build
    /// waits for the keys (retrying within a start-up deadline) and fails without them.
    #[serde(default)]
    pub lazy_start: bool,
    /// The public origin clients address (`https://api.example.com`), from which each
    /// request's public target URI is known (DPoP's `htu`); never taken from `Host`.
    #[serde(default)]
    pub public_origin: Option<String>,
    /// How many verified tokens to remember per issuer (0: none; default
    /// [`DEFAULT_CACHE_ENTRIES`](portcullis_jwks::DEFAULT_CACHE_ENTRIES)). A cached token is
    /// still refused once expired or once its key leaves the key set; see
    /// [`TokenCache`](portcullis_jwks::TokenCache).
    #[serde(default = "default_cache_entries")]
    pub token_cache_entries: u64,
    /// This API's resource identifier (RFC 8707 / RFC 9728), an `https` URL
    /// (`https://api.example.com/orders`; `http` only for loopback): accepted as an audience
    /// of every issuer's tokens (after RFC 3986 normalisation), and the source of the
    /// protected-resource metadata that every challenge then points at with
    /// `resource_metadata` (mount it with
    /// [`BearerAuthLayer::metadata`](portcullis_tower::BearerAuthLayer::metadata)).
    #[serde(default)]
    pub resource: Option<String>,
    /// Accept an `http` resource identifier on any host (not only loopback): a weakening.
    #[serde(default)]
    pub danger_http_resource: bool,
    /// Which tokens are accepted: `jwt` (the default), `introspection` (opaque tokens, RFC
    /// 7662) or `jwt_or_introspection` (both); the last two need the `introspection` settings
    /// of one issuer.
    #[serde(default)]
    pub tokens: TokenMode,
    /// Accept DPoP-bound tokens (RFC 9449) with these settings; absent: DPoP is not
    /// accepted (a DPoP-bound token is refused as a bearer token). Needs `public_origin`.
    #[serde(default)]
    pub dpop: Option<DpopConfig>,
    /// Share state with the other replicas through Redis or Valkey (the `redis` feature):
    /// the DPoP replay store (when `dpop` is on), and optionally the deny list and the
    /// introspection verdicts. Absent: each replica keeps its own.
    #[serde(default)]
    pub redis: Option<RedisConfig>,
    /// What `portcullis gateway` needs besides the issuers: where it listens, its policy
    /// table, the claims it copies into headers (see [`GatewayConfig`]). The in-process
    /// layer ignores this section: give it a [`Policy`] with [`PortcullisBuilder::policy`].
    #[serde(default)]
    pub gateway: Option<GatewayConfig>,
}

/// State shared with the other replicas through Redis or Valkey (needs the `redis` feature;
/// see [`manual::replicas`](crate::manual::replicas)).
///
/// ```
/// let config: portcullis::Config = serde_json::from_str(r#"{
///     "issuers": [{ "issuer": "https://auth.example.com", "audiences": ["orders-api"] }],
///     "redis": { "url_env": "ORDERS_REDIS_URL", "key_prefix": "orders-api:", "revocation": {} }
/// }"#).unwrap();
/// let redis = config.redis.unwrap();
/// assert_eq!((redis.timeout_ms, redis.revocation.unwrap().fresh_for_ms), (50, 250));
/// ```
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RedisConfig {
    /// The environment variable that holds the URL (`redis://[user:password@]host[:port][/db]`,
    /// `rediss://` for TLS; a cluster's seed nodes separated by spaces): the place for a URL
    /// with a password.
    #[serde(default)]
    pub url_env: Option<String>,
    /// The URL itself, for a Redis without credentials (a sidecar, loopback; a URL with
    /// `user:password@` is refused here). Give `url` or `url_env`, not both.
    #[serde(default)]
    pub url: Option<String>,
    /// The URL is a Redis Cluster's.
    #[serde(default)]
    pub cluster: bool,
    /// The prefix of every key (one per deployment when deployments share a Redis).
    #[serde(default = "default_key_prefix")]
    pub key_prefix: String,
    /// How long one call may take, in milliseconds; past it the request is answered 503.
    #[serde(default = "default_redis_timeout_ms")]
    pub timeout_ms: u64,
    /// Share the deny list: tokens revoked through any replica (or `portcullis revoke`) are
    /// refused by all.
    #[serde(default)]
    pub revocation: Option<RedisRevocationConfig>,
    /// Share introspection verdicts: one replica's call serves the others.
    #[serde(default)]
    pub introspection_cache: Option<RedisIntrospectionConfig>,
}

/// The deny list shared through Redis.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RedisRevocationConfig {
    /// How long a "not revoked" answer is reused, in milliseconds: the worst-case delay
    /// before a replica that missed the announcement refuses a newly revoked token.
    #[serde(default = "default_fresh_for_ms")]
    pub fresh_for_ms: u64,
    /// When Redis cannot answer, judge from the entries this replica has heard of instead
    /// of answering 503.
    #[serde(default)]
    pub fail_open: bool,
}

/// Introspection verdicts shared through Redis.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RedisIntrospectionConfig {
    /// The environment variable that holds the secret every replica shares (at least 32
    /// bytes), from which the records' keys and authentication are derived.
    pub secret_env: String,
    /// When Redis cannot answer, ask the endpoint instead of answering 503.
    #[serde(default)]
    pub fail_open: bool,
}

fn default_key_prefix() -> String {
    "portcullis:".to_owned()
}

fn default_redis_timeout_ms() -> u64 {
    50
}

fn default_fresh_for_ms() -> u64 {
    250
}

/// How DPoP-bound tokens (RFC 9449) are accepted.
///
/// ```
/// let config: portcullis::Config = serde_json::from_str(r#"{
///     "issuers": [{ "issuer": "https://auth.example.com", "audiences": ["orders-api"] }],
///     "public_origin": "https://orders.example.com",
///     "dpop": { "required": true, "nonces": true, "nonce_key_env": "ORDERS_DPOP_NONCE_KEY", "replicas": 3 }
/// }"#).unwrap();
/// let dpop = config.dpop.unwrap();
/// assert_eq!((dpop.max_age_secs, dpop.max_skew_secs), (60, 10));
/// ```
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DpopConfig {
    /// Refuse bearer tokens: DPoP only. Off: both are accepted (a DPoP-bound token still
    /// needs its proof).
    #[serde(default)]
    pub required: bool,
    /// The proof algorithms accepted (default: every asymmetric one).
    #[serde(default)]
    pub algorithms: Option<Vec<Algorithm>>,
    /// How long after its `iat` a proof is accepted, in seconds (60).
    #[serde(default = "default_proof_max_age")]
    pub max_age_secs: u64,
    /// How far in the future a proof's `iat` may be, in seconds (10).
    #[serde(default = "default_proof_max_skew")]
    pub max_skew_secs: u64,
    /// Require server-provided nonces (RFC 9449 section 9).
    #[serde(default)]
    pub nonces: bool,
    /// The environment variable holding the nonce secret: the base64 of 32 random bytes, or
    /// several separated by commas (rotation: the new secret first). Replicas given the same
    /// value accept each other's nonces. Unset: a secret generated at start (one replica).
    #[serde(default)]
    pub nonce_key_env: Option<String>,
    /// How many replicas serve this API (1). With more, nonces need `nonce_key_env` and the
    /// replay store must be shared ([`PortcullisBuilder::dpop_replay_store`]).
    #[serde(default = "default_replicas")]
    pub replicas: u32,
}

fn default_proof_max_age() -> u64 {
    portcullis_core::dpop::DEFAULT_PROOF_MAX_AGE.as_secs()
}

fn default_proof_max_skew() -> u64 {
    portcullis_core::dpop::DEFAULT_PROOF_MAX_SKEW.as_secs()
}

fn default_replicas() -> u32 {
    1
}

impl Default for DpopConfig {
    fn default() -> Self {
        DpopConfig {
            required: false,
            algorithms: None,
            max_age_secs: default_proof_max_age(),
            max_skew_secs: default_proof_max_skew(),
            nonces: false,
            nonce_key_env: None,
            replicas: default_replicas(),
        }
    }
}

impl DpopConfig {
    /// DPoP accepted beside bearer tokens, with the defaults.
    #[must_use]
    pub fn new() -> Self {
        DpopConfig::default()
    }

    /// DPoP only: bearer tokens refused.
    #[must_use]
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// Server nonces, sealed with the secret(s) in the environment variable `var` (see
    /// [`DpopConfig::nonce_key_env`]).
    #[must_use]
    pub fn nonces_from_env(mut self, var: impl Into<String>) -> Self {
        self.nonces = true;
        self.nonce_key_env = Some(var.into());
        self
    }

    /// The rules, with `replay` as the store of used proofs (the in-process one when `None`).
    fn rules(&self, replay: Option<Arc<dyn ReplayStore>>) -> Result<Dpop, ConfigError> {
        if self.nonce_key_env.is_some() && !self.nonces {
            return Err(ConfigError::invalid(
                "dpop.nonce_key_env",
                "a nonce secret is given but nonces are off: set nonces = true",
            ));
        }
        let mut rules = Dpop::builder()
            .required(self.required)
            .max_age(Duration::from_secs(self.max_age_secs))
            .max_skew(Duration::from_secs(self.max_skew_secs))
            .replicas(self.replicas);
        if let Some(algorithms) = &self.algorithms {
            rules = rules.algorithms(algorithms.iter().copied());
        }
        if let Some(store) = replay {
            rules = rules.replay_store(store);
        }
        if self.nonces {
            let keys = match &self.nonce_key_env {
                Some(var) => {
                    let unusable = || ConfigErrorKind::Unusable {
                        setting: "dpop.nonce_key_env",
                        value: var.clone(),
                    };
                    // Never the variable's value in the error: `VarError::NotUnicode` holds it.
                    let text = std::env::var(var).map_err(|e| match e {
                        std::env::VarError::NotPresent => {
                            ConfigError::with_source(unusable(), "the variable is not set")
                        }
                        std::env::VarError::NotUnicode(_) => {
                            ConfigError::with_source(unusable(), "the variable is not base64 text")
                        }
                    })?;
                    text.split(',')
                        .map(|key| {
                            NonceKey::from_base64(key)
                                .map_err(|e| ConfigError::with_source(unusable(), e))
                        })
                        .collect::<Result<Vec<_>, _>>()?
                }
                None if self.replicas > 1 => {
                    return Err(ConfigError::missing(
                        "dpop.nonce_key_env",
                        "several replicas accept each other's nonces only with one shared \
                         secret: name the environment variable that holds it",
                    ));
                }
                None => vec![NonceKey::generate()?],
            };
            rules = rules.nonces(keys);
        }
        rules.build()
    }
}

fn default_cache_entries() -> u64 {
    portcullis_jwks::DEFAULT_CACHE_ENTRIES
}

/// Which access tokens an API accepts.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TokenMode {
    /// JWTs, verified with the issuers' keys. The default.
    #[default]
    Jwt,
    /// Opaque tokens only, each checked at the introspection endpoint of the one issuer with
    /// `introspection` settings (its keys are not loaded).
    Introspection,
    /// Both: a compact JWS whose `iss` is a trusted issuer is verified with that issuer's
    /// keys; any other token is introspected at the issuer with `introspection` settings.
    JwtOrIntrospection,
}

/// How an issuer's opaque tokens are introspected (RFC 7662): the endpoint, this API's
/// client credentials there, and the cache of verdicts. The issuer's rules (audiences,
/// leeway, required claims, maximum age) apply to what the endpoint says. `Debug` never
/// shows the secret.
///
/// ```
/// let config: portcullis::Config = serde_json::from_str(r#"{
///     "issuers": [{
///         "issuer": "https://auth.example.com",
///         "audiences": ["orders-api"],
///         "introspection": { "client_id": "orders-api", "client_secret_env": "ORDERS_API_SECRET" }
///     }],
///     "tokens": "jwt_or_introspection"
/// }"#).unwrap();
/// let introspection = config.issuers[0].introspection.as_ref().unwrap();
/// assert_eq!(introspection.client_secret_env.as_deref(), Some("ORDERS_API_SECRET"));
/// assert_eq!(introspection.cache_ttl_secs, 60);
///
/// // A secret given in the configuration itself never shows in `Debug` output.
/// let inline = portcullis::IntrospectionConfig::new("orders-api", "s3cr3t");
/// assert!(!format!("{inline:?}").contains("s3cr3t"));
/// ```
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct IntrospectionConfig {
    /// The introspection endpoint; without it, the issuer's discovery document's
    /// `introspection_endpoint`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// This API's client id at the authorization server.
    pub client_id: String,
    /// The client secret itself (prefer `client_secret_env`); never logged.
    #[serde(default)]
    pub client_secret: Option<ClientSecret>,
    /// The environment variable that holds the client secret, read when the API is built.
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// `client_secret_basic` (the default) or `client_secret_post`.
    #[serde(default)]
    pub auth_method: AuthMethod,
    /// How many verdicts to remember (0: none, every request is introspected; default
    /// 4,096).
    #[serde(default = "default_introspection_entries")]
    pub cache_entries: u64,
    /// The longest an active token's verdict is reused, in seconds (default 60), never past
    /// its `exp`: a revoked token is accepted for at most this long.
    #[serde(default = "default_active_ttl")]
    pub cache_ttl_secs: u64,
    /// How long a refusal is reused, in seconds (default 10).
    #[serde(default = "default_inactive_ttl")]
    pub inactive_cache_ttl_secs: u64,
    /// Total timeout of one introspection call, in seconds (default 5); past it the request
    /// is answered 503.
    #[serde(default = "default_introspection_timeout")]
    pub timeout_secs: u64,
}

fn default_introspection_entries() -> u64 {
    portcullis_introspect::DEFAULT_CACHE_ENTRIES
}

fn default_active_ttl() -> u64 {
    portcullis_introspect::DEFAULT_ACTIVE_TTL.as_secs()
}

fn default_inactive_ttl() -> u64 {
    portcullis_introspect::DEFAULT_INACTIVE_TTL.as_secs()
}

fn default_introspection_timeout() -> u64 {
    portcullis_introspect::DEFAULT_TIMEOUT.as_secs()
}

impl IntrospectionConfig {
    /// Introspection as `client_id` with `client_secret` (`client_secret_basic`), at the
    /// endpoint found through discovery, with the default cache.
    #[must_use]
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<ClientSecret>) -> Self {
        IntrospectionConfig {
            endpoint: None,
            client_id: client_id.into(),
            client_secret: Some(client_secret.into()),
            client_secret_env: None,
            auth_method: AuthMethod::default(),
            cache_entries: default_introspection_entries(),
            cache_ttl_secs: default_active_ttl(),
            inactive_cache_ttl_secs: default_inactive_ttl(),
            timeout_secs: default_introspection_timeout(),
        }
    }

    /// As [`IntrospectionConfig::new`], with the secret read from the environment variable
    /// `var` when the API is built.
    #[must_use]
    pub fn secret_from_env(client_id: impl Into<String>, var: impl Into<String>) -> Self {
        IntrospectionConfig {
            client_secret: None,
            client_secret_env: Some(var.into()),
            ..IntrospectionConfig::new(client_id, String::new())
        }
    }

    /// The endpoint, skipping discovery.
    #[must_use]
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// How the credentials are sent.
    #[must_use]
    pub fn auth_method(mut self, method: AuthMethod) -> Self {
        self.auth_method = method;
        self
    }

    /// How many verdicts to remember (0: every request is introspected).
    #[must_use]
    pub fn cache_entries(mut self, entries: u64) -> Self {
        self.cache_entries = entries;
        self
    }

    /// The longest an active token's verdict is reused (whole seconds).
    #[must_use]
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl_secs = ttl.as_secs();
        self
    }
}

/// One trusted issuer (or one multi-tenant provider): its keys and its rules. The provider
/// profiles of [`Issuer`](crate::Issuer) return one, configured.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct IssuerConfig {
    /// The issuer identifier, compared exactly with the token's `iss`; its keys are found
    /// through discovery unless `jwks_uri` is set. With the placeholder `{tenantid}`, an
    /// issuer template (see [`IssuerTemplate`]): the `iss` of every allowed tenant (`tenants`),
    /// bound to the token's `tid`.
    pub issuer: String,
    /// A provider profile (see [`Profile`](crate::profiles::Profile)): its settings fill in
    /// the ones this issuer leaves unset.
    #[serde(default)]
    pub profile: Option<crate::profiles::Profile>,
    /// More issuers (or templates) accepted with the same keys and rules: Entra ID's v1
    /// issuer `https://sts.windows.net/{tenantid}/` beside its v2 one.
    #[serde(default)]
    pub also_issuers: Vec<String>,
    /// The tenants accepted by an issuer template. Required with a template, unless
    /// `danger_accept_any_tenant`: any tenant can consent to a multi-tenant application.
    #[serde(default)]
    pub tenants: Vec<String>,
    /// Accept every tenant of an issuer template: a weakening (see [`IssuerTemplate`]).
    #[serde(default)]
    pub danger_accept_any_tenant: bool,
    /// Where the keys are discovered when that is not the issuer: the discovery document
    /// there must name `issuer` exactly. Default for a template: the template with
    /// `{tenantid}` replaced by `organizations` (Entra ID's multi-tenant document, which
    /// names the template itself).
    #[serde(default)]
    pub discovery_url: Option<String>,
    /// The claim naming this API instead of `aud` (`client_id`, `azp`, `cid`): it must be
    /// one of `audiences` (see [`ValidatorBuilder::audience_claim`](portcullis_core::ValidatorBuilder::audience_claim)).
    #[serde(default)]
    pub audience_claim: Option<String>,
    /// Where the granted scopes are read, merged (`scope`, `scp`, `roles`, `permissions`,
    /// or a claim path such as `realm_access.roles`); default `scope`, else `scp`.
    #[serde(default)]
    pub scope_sources: Option<Vec<ScopeSource>>,
    /// Only scopes with this prefix count, prefix taken off (Cognito's `notes/`).
    #[serde(default)]
    pub scope_prefix: Option<String>,
    /// Where the granted roles are read, merged; default `roles`.
    #[serde(default)]
    pub role_sources: Option<Vec<ScopeSource>>,
    /// Rules every token must satisfy, besides the profile's (`token_use` = `access`, ...):
    /// `{"claim": "repository", "equals": "octo-org/octo-repo"}`, see
    /// [`ClaimRule`]'s configuration form. Refused tokens are answered `401 invalid_token`.
    #[serde(default)]
    pub claim_rules: Vec<ClaimRule>,
    /// The audiences this API accepts (one must be in the token's `aud`).
    #[serde(default)]
    pub audiences: Vec<String>,
    /// The JWKS URL, skipping discovery.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// The accepted algorithms (JOSE names: `RS256`, `ES256`, `EdDSA`, `Ed25519`, ...);
    /// default: every asymmetric one.
    #[serde(default)]
    pub algorithms: Option<Vec<Algorithm>>,
    /// Clock leeway for `exp`, `nbf` and `iat`, in seconds (default 60).
    #[serde(default = "default_leeway")]
    pub leeway_secs: u64,
    /// The `typ` rule: `at+jwt` (RFC 9068 only), `at+jwt-or-jwt` (the default) or
    /// `danger-ignore`.
    #[serde(default)]
    pub typ: TypPolicy,
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
    /// Accept sender-constrained tokens (`cnf`: DPoP or mutual-TLS bound) as plain bearer
    /// tokens: a weakening, only for a service behind a gateway that checked the proof.
    #[serde(default)]
    pub danger_accept_sender_constrained_tokens_as_bearer: bool,
    /// How this issuer's opaque tokens are introspected (with `tokens` = `introspection` or
    /// `jwt_or_introspection`; one issuer at most).
    #[serde(default)]
    pub introspection: Option<IntrospectionConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            issuers: Vec::new(),
            realm: None,
            describe_errors: false,
            grpc_web: false,
            optional: false,
            token_cookie: None,
            danger_token_query_parameter: false,
            lazy_start: false,
            public_origin: None,
            resource: None,
            danger_http_resource: false,
            token_cache_entries: default_cache_entries(),
            tokens: TokenMode::default(),
            dpop: None,
            redis: None,
            gateway: None,
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
            profile: None,
            also_issuers: Vec::new(),
            tenants: Vec::new(),
            danger_accept_any_tenant: false,
            discovery_url: None,
            audience_claim: None,
            scope_sources: None,
            scope_prefix: None,
            role_sources: None,
            claim_rules: Vec::new(),
            audiences: Vec::new(),
            jwks_uri: None,
            algorithms: None,
            leeway_secs: default_leeway(),
            typ: TypPolicy::default(),
            required_claims: Vec::new(),
            max_age_secs: None,
            danger_accept_any_audience: false,
            danger_allow_http: false,
            danger_allow_symmetric_keys: false,
            danger_accept_sender_constrained_tokens_as_bearer: false,
            introspection: None,
        }
    }

    /// An accepted audience (repeatable).
    #[must_use]
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Accepted tenants of an issuer template (repeatable).
    #[must_use]
    pub fn tenants<I, S>(mut self, tenants: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tenants.extend(tenants.into_iter().map(Into::into));
        self
    }

    /// Accept every tenant of an issuer template: a weakening (see [`IssuerTemplate`]).
    #[must_use]
    pub fn danger_accept_any_tenant(mut self) -> Self {
        self.danger_accept_any_tenant = true;
        self
    }

    /// Another issuer (or template) accepted with the same keys and rules.
    #[must_use]
    pub fn also_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.also_issuers.push(issuer.into());
        self
    }

    /// Where the keys are discovered (see [`IssuerConfig::discovery_url`]).
    #[must_use]
    pub fn discovery_url(mut self, url: impl Into<String>) -> Self {
        self.discovery_url = Some(url.into());
        self
    }

    /// The JWKS URL, skipping discovery.
    #[must_use]
    pub fn jwks_uri(mut self, url: impl Into<String>) -> Self {
        self.jwks_uri = Some(url.into());
        self
    }

    /// Only scopes with this prefix count, prefix taken off.
    #[must_use]
    pub fn scope_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.scope_prefix = Some(prefix.into());
        self
    }

    /// Where the granted scopes are read (replaces the profile's).
    #[must_use]
    pub fn scope_sources(mut self, sources: impl IntoIterator<Item = ScopeSource>) -> Self {
        self.scope_sources = Some(sources.into_iter().collect());
        self
    }

    /// Where the granted roles are read (replaces the profile's).
    #[must_use]
    pub fn role_sources(mut self, sources: impl IntoIterator<Item = ScopeSource>) -> Self {
        self.role_sources = Some(sources.into_iter().collect());
        self
    }

    /// A rule every token must satisfy (repeatable): a GitHub Actions `repository`, a
    /// Kubernetes namespace.
    #[must_use]
    pub fn claim_rule(mut self, rule: ClaimRule) -> Self {
        self.claim_rules.push(rule);
        self
    }

    /// Allow `http://` for other hosts than loopback: a weakening.
    #[must_use]
    pub fn danger_allow_http(mut self) -> Self {
        self.danger_allow_http = true;
        self
    }

    /// Adds this issuer's claim rules to `rules`: the issuer names and templates (with their
    /// tenants), the audiences and the claim naming them, the scope and role sources, the
    /// claim rules; apply a profile first ([`Profile::apply`](crate::profiles::Profile::apply)).
    /// For tools that build their own [`Validator`] with these rules, such as
    /// `portcullis verify --profile`; the layer does this itself. Leeway, algorithms, `typ`
    /// and the `danger_*` settings are not applied here.
    ///
    /// # Errors
    /// A [`ConfigError`] for an issuer template that does not parse, or tenants given
    /// without a template.
    pub fn issuer_rules(
        &self,
        mut rules: portcullis_core::ValidatorBuilder,
    ) -> Result<portcullis_core::ValidatorBuilder, ConfigError> {
        for name in self.names() {
            rules = match self.template(name) {
                Some(template) => rules.issuer_template(template?),
                None => rules.issuer(name.clone()),
            };
        }
        if !self.tenants.is_empty() && !self.names().any(|n| self.template(n).is_some()) {
            return Err(ConfigError::invalid(
                "tenants",
                format!(
                    "issuer {:?}: tenants are given but no issuer is a template with {{tenantid}}",
                    self.issuer
                ),
            ));
        }
        for audience in &self.audiences {
            rules = rules.audience(audience.clone());
        }
        if let Some(claim) = &self.audience_claim {
            rules = rules.audience_claim(claim.clone());
        }
        if let Some(sources) = &self.scope_sources {
            rules = rules.scope_sources(sources.iter().cloned());
        }
        if let Some(prefix) = &self.scope_prefix {
            rules = rules.scope_prefix(prefix.clone());
        }
        if let Some(sources) = &self.role_sources {
            rules = rules.role_sources(sources.iter().cloned());
        }
        for rule in &self.claim_rules {
            rules = rules.claim_rule(rule.clone());
        }
        Ok(rules)
    }

    /// Where the keys of this issuer are discovered when that is not the issuer itself:
    /// `discovery_url`, else for a template the template with `{tenantid}` replaced by
    /// `organizations` (Entra ID's multi-tenant document, which names the template).
    #[must_use]
    pub fn key_discovery_url(&self) -> Option<String> {
        match (&self.discovery_url, self.template(&self.issuer).is_some()) {
            (Some(url), _) => Some(url.clone()),
            (None, true) => Some(self.issuer.replacen(
                portcullis_core::tenant::TENANT_PLACEHOLDER,
                "organizations",
                1,
            )),
            (None, false) => None,
        }
    }

    /// Every issuer name of this entry: `issuer`, then `also_issuers`.
    fn names(&self) -> impl Iterator<Item = &String> {
        std::iter::once(&self.issuer).chain(&self.also_issuers)
    }

    /// `name` as a template, with this entry's tenants, if it holds the placeholder.
    fn template(&self, name: &str) -> Option<Result<IssuerTemplate, ConfigError>> {
        name.contains(portcullis_core::tenant::TENANT_PLACEHOLDER)
            .then(|| {
                let template = IssuerTemplate::parse(name)?.tenants(self.tenants.iter().cloned());
                if self.danger_accept_any_tenant {
                    Ok(template.danger_accept_any_tenant())
                } else {
                    Ok(template)
                }
            })
    }
}

/// The front door: [`Portcullis::builder`] (or [`Portcullis::from_config`]) checks the
/// configuration, loads the keys, and returns the [`BearerAuthLayer`] that protects the
/// router. Everything else (scope checks, the rejection hook, optional routes) is on the
/// layer.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let idp = portcullis_testkit::TestIssuer::start().await;
/// use axum::{routing::get, Router};
/// use portcullis::Portcullis;
///
/// let auth = Portcullis::builder().issuer(idp.issuer()).audience("api").build().await?;
/// let app: Router = Router::new()
///     .route("/orders", get(|| async { "orders" }))
///     .route_layer(auth.with_scopes(["orders.read"]));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Portcullis;

impl Portcullis {
    /// A builder, empty.
    pub fn builder() -> PortcullisBuilder {
        PortcullisBuilder::default()
    }

    /// A builder from a configuration (a file read with serde), to which a policy and an
    /// HTTP client can still be added before [`PortcullisBuilder::build`].
    pub fn from_config(config: Config) -> PortcullisBuilder {
        PortcullisBuilder {
            config,
            client: None,
            policy: None,
            replay: None,
            revocations: None,
            shared_verdicts: None,
            forwarded: None,
        }
    }
}

/// Builds the layer of a protected API. `issuer(..)` starts an issuer; the settings after it
/// (audience, algorithms, leeway, ...) apply to that issuer.
#[derive(Debug, Default)]
#[must_use]
pub struct PortcullisBuilder {
    config: Config,
    client: Option<reqwest::Client>,
    policy: Option<Policy>,
    replay: Option<Replay>,
    revocations: Option<Revocations>,
    shared_verdicts: Option<SharedVerdictCache>,
    forwarded: Option<portcullis_tower::ForwardedOrigins>,
}

/// The introspection verdict cache shared by the replicas, given to the builder.
#[derive(Clone)]
struct SharedVerdictCache {
    store: Arc<dyn SharedVerdicts>,
    key: SharedCacheKey,
    policy: SharedCachePolicy,
}

impl std::fmt::Debug for SharedVerdictCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedVerdictCache")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// The deny list given to the builder.
#[derive(Clone)]
struct Revocations(Arc<dyn RevocationList>);

impl std::fmt::Debug for Revocations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RevocationList(..)")
    }
}

/// The DPoP replay store given to the builder.
#[derive(Clone)]
struct Replay(Arc<dyn ReplayStore>);

impl std::fmt::Debug for Replay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayStore")
            .field("shared", &self.0.is_shared())
            .finish()
    }
}

impl PortcullisBuilder {
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

    /// Trusts an issuer configured in full: a provider profile of [`Issuer`](crate::Issuer).
    /// The settings after it apply to it.
    pub fn issuer_config(mut self, issuer: IssuerConfig) -> Self {
        self.config.issuers.push(issuer);
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
        let algorithms = algorithms.into_iter().collect();
        self.with_current(|i| i.algorithms = Some(algorithms))
    }

    /// The clock leeway of the current issuer (whole seconds).
    pub fn leeway(self, leeway: Duration) -> Self {
        self.with_current(|i| i.leeway_secs = leeway.as_secs())
    }

    /// The `typ` rule of the current issuer.
    pub fn typ(self, policy: TypPolicy) -> Self {
        self.with_current(|i| i.typ = policy)
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

    /// Accept the current issuer's sender-constrained tokens (`cnf`) as bearer tokens: only
    /// behind a gateway that checked the DPoP proof or the client certificate.
    pub fn danger_accept_sender_constrained_tokens_as_bearer(self) -> Self {
        self.with_current(|i| i.danger_accept_sender_constrained_tokens_as_bearer = true)
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

    /// Declares the routes behind the layer gRPC-Web routes (a tonic server with tonic-web),
    /// so that gRPC-Web calls over HTTP/1.1 get trailers-only answers; only for a layer whose
    /// every route is gRPC (see [`Answers::grpc_web`]).
    pub fn grpc_web(mut self) -> Self {
        self.config.grpc_web = true;
        self
    }

    /// Optional authentication.
    pub fn optional(mut self) -> Self {
        self.config.optional = true;
        self
    }

    /// Start without the keys, fetching them on first use (see [`Config::lazy_start`]).
    pub fn lazy_start(mut self) -> Self {
        self.config.lazy_start = true;
        self
    }

    /// Several public origins, each request's chosen by a trusted proxy's forwarded header
    /// (see [`ForwardedOrigins`](portcullis_tower::ForwardedOrigins)), in place of
    /// [`PortcullisBuilder::public_origin`]: for an API clients reach under several names.
    pub fn forwarded_origins(mut self, origins: portcullis_tower::ForwardedOrigins) -> Self {
        self.forwarded = Some(origins);
        self
    }

    /// The public origin clients address (see [`Config::public_origin`]).
    pub fn public_origin(mut self, origin: impl Into<String>) -> Self {
        self.config.public_origin = Some(origin.into());
        self
    }

    /// This API's resource identifier (see [`Config::resource`]): an audience of every
    /// issuer's tokens, and the protected-resource metadata (RFC 9728) that every challenge
    /// points at; mount the document with
    /// [`BearerAuthLayer::metadata`](portcullis_tower::BearerAuthLayer::metadata).
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.config.resource = Some(resource.into());
        self
    }

    /// Accepts DPoP-bound tokens (RFC 9449) with these settings (see [`Config::dpop`]);
    /// needs [`PortcullisBuilder::public_origin`].
    pub fn dpop(mut self, dpop: DpopConfig) -> Self {
        self.config.dpop = Some(dpop);
        self
    }

    /// Where used DPoP proofs are remembered: a store shared by every replica (Redis), in
    /// place of the in-process one.
    pub fn dpop_replay_store(mut self, store: impl ReplayStore) -> Self {
        self.replay = Some(Replay(Arc::new(store)));
        self
    }

    /// A deny list asked about every token accepted, on every request (verified-token cache
    /// hits and introspection verdicts included): a revoked token is `401 invalid_token`, a
    /// list that cannot answer `503`. [`LocalRevocations`](portcullis_core::revocation::LocalRevocations)
    /// for one replica; `portcullis-redis` shares one between replicas.
    pub fn revocations(mut self, list: impl RevocationList) -> Self {
        self.revocations = Some(Revocations(Arc::new(list)));
        self
    }

    /// Shares introspection verdicts with the other replicas through `store` (Redis:
    /// `portcullis-redis`), under the secret `key` every replica holds; `policy` says what
    /// a request does when the store cannot answer (see
    /// [`IntrospectorBuilder::shared_cache`](portcullis_introspect::IntrospectorBuilder::shared_cache)).
    pub fn shared_introspection_cache(
        mut self,
        store: impl SharedVerdicts,
        key: SharedCacheKey,
        policy: SharedCachePolicy,
    ) -> Self {
        self.shared_verdicts = Some(SharedVerdictCache {
            store: Arc::new(store),
            key,
            policy,
        });
        self
    }

    /// How many verified tokens to remember per issuer (0 turns the cache off).
    pub fn token_cache_entries(mut self, entries: u64) -> Self {
        self.config.token_cache_entries = entries;
        self
    }

    /// Which tokens are accepted (default [`TokenMode::Jwt`]).
    pub fn tokens(mut self, mode: TokenMode) -> Self {
        self.config.tokens = mode;
        self
    }

    /// Introspects the current issuer's opaque tokens (with [`TokenMode::Introspection`] or
    /// [`TokenMode::JwtOrIntrospection`]).
    pub fn introspection(self, introspection: IntrospectionConfig) -> Self {
        self.with_current(|i| i.introspection = Some(introspection))
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

    /// Checks the configuration, loads every issuer's keys (unless `lazy_start`), and
    /// returns the layer.
    ///
    /// # Errors
    /// A [`ConfigError`]: `Missing` for no issuer or no audience (without
    /// `danger_accept_any_audience`); `Invalid` for a setting given before any issuer, an
    /// empty algorithm list, HS* algorithms for a remote JWKS without
    /// `danger_allow_symmetric_keys`, introspection settings that do not fit `tokens`;
    /// `Duplicate` for an issuer given twice; `Unusable` (naming the URL, with the cause as
    /// the error's source) for keys or an introspection endpoint that cannot be had.
    pub async fn build(self) -> Result<BearerAuthLayer, ConfigError> {
        let mut config = self.config;
        for issuer in &mut config.issuers {
            if let Some(profile) = issuer.profile {
                *issuer = profile.apply(issuer);
            }
        }
        if config.issuers.is_empty() {
            return Err(ConfigError::missing(
                "issuers",
                "trust at least one issuer: issuer(..), or `issuers` in the configuration",
            ));
        }
        if config.issuers.iter().any(|i| i.issuer.is_empty()) {
            return Err(ConfigError::invalid(
                "issuer",
                "an issuer setting was given before any issuer(..)",
            ));
        }
        // Before any key is fetched: a configuration error needs no network to be found.
        let names: Vec<&String> = config
            .issuers
            .iter()
            .flat_map(IssuerConfig::names)
            .collect();
        for (i, name) in names.iter().enumerate() {
            if names.iter().take(i).any(|e| e == name) {
                return Err(ConfigErrorKind::Duplicate {
                    setting: "issuers",
                    value: (*name).clone(),
                }
                .into());
            }
        }
        let resource = match &config.resource {
            None => None,
            Some(r) if config.danger_http_resource => {
                Some(ResourceIdentifier::danger_parse_allowing_http(r.clone())?)
            }
            Some(r) => Some(ResourceIdentifier::parse(r.clone())?),
        };
        for issuer in &config.issuers {
            rules_of(issuer, resource.as_ref())?;
            let templated = issuer.names().any(|n| issuer.template(n).is_some());
            if templated && config.tokens != TokenMode::Jwt {
                return Err(ConfigError::invalid(
                    "tokens",
                    "issuer templates take JWTs only (an opaque token names no tenant)",
                ));
            }
        }
        let origin = config
            .public_origin
            .as_deref()
            .map(public_origin)
            .transpose()?;
        #[cfg(feature = "redis")]
        let (replay, revocations, shared_verdicts) = {
            let (mut replay, mut revocations, mut shared_verdicts) =
                (self.replay, self.revocations, self.shared_verdicts);
            if let Some(redis) = &config.redis {
                redis_state(
                    redis,
                    config.dpop.is_some(),
                    config.tokens != TokenMode::Jwt,
                    &mut replay,
                    &mut revocations,
                    &mut shared_verdicts,
                )
                .await?;
            }
            (replay, revocations, shared_verdicts)
        };
        #[cfg(not(feature = "redis"))]
        let (replay, revocations, shared_verdicts) = {
            if config.redis.is_some() {
                return Err(ConfigError::invalid(
                    "redis",
                    "this build has no Redis support: enable portcullis's `redis` feature",
                ));
            }
            (self.replay, self.revocations, self.shared_verdicts)
        };
        let dpop = match &config.dpop {
            None if replay.is_some() => {
                return Err(ConfigError::invalid(
                    "dpop",
                    "a DPoP replay store is given but DPoP is not accepted",
                ));
            }
            None => None,
            Some(_) if origin.is_none() && self.forwarded.is_none() => {
                return Err(ConfigError::missing(
                    "public_origin",
                    "DPoP proofs name the URI the client called (htu): set public_origin to \
                     the origin clients address (https://api.example.com), never guessed from \
                     the Host header",
                ));
            }
            Some(dpop) => Some(dpop.rules(replay.map(|r| r.0))?),
        };
        let client = self.client.as_ref();
        let verifier: Arc<dyn Verifier> = match config.tokens {
            TokenMode::Jwt => {
                if config.issuers.iter().any(|i| i.introspection.is_some()) {
                    return Err(ConfigError::invalid(
                        "tokens",
                        "introspection settings are given but only JWTs are accepted: set \
                         tokens to introspection or jwt_or_introspection",
                    ));
                }
                if shared_verdicts.is_some() {
                    return Err(ConfigError::invalid(
                        "tokens",
                        "a shared introspection cache is given but only JWTs are accepted",
                    ));
                }
                jwt_verifier(&config, resource.as_ref(), client).await?
            }
            TokenMode::Introspection => {
                let [only] = config.issuers.as_slice() else {
                    return Err(ConfigError::invalid(
                        "tokens",
                        "tokens = introspection takes exactly one issuer (the one whose \
                         endpoint is asked); use jwt_or_introspection to trust JWTs of others",
                    ));
                };
                Arc::new(
                    build_introspector(only, resource.as_ref(), client, shared_verdicts.as_ref())
                        .await?,
                )
            }
            TokenMode::JwtOrIntrospection => {
                let introspecting: Vec<&IssuerConfig> = config
                    .issuers
                    .iter()
                    .filter(|i| i.introspection.is_some())
                    .collect();
                let [issuer] = introspecting.as_slice() else {
                    return Err(ConfigError::invalid(
                        "tokens",
                        "tokens = jwt_or_introspection needs introspection settings on exactly \
                         one issuer (opaque tokens do not say whose they are)",
                    ));
                };
                let introspector =
                    build_introspector(issuer, resource.as_ref(), client, shared_verdicts.as_ref())
                        .await?;
                let jwt = jwt_verifier(&config, resource.as_ref(), client).await?;
                let trusted = config.issuers.iter().flat_map(|i| i.names().cloned());
                Arc::new(JwtOrIntrospection::from_arc(jwt, trusted, introspector))
            }
        };
        let verifier: Arc<dyn Verifier> = match revocations {
            Some(Revocations(list)) => Arc::new(RevocationVerifier::new(verifier, list)),
            None => verifier,
        };

        let mut answers = Answers::default()
            .describe_errors(config.describe_errors)
            .grpc_web(config.grpc_web);
        if let Some(realm) = &config.realm {
            answers = answers.realm(realm.clone());
        }
        let mut sources = TokenSources::default();
        if let Some(cookie) = &config.token_cookie {
            sources = sources.with_cookie(cookie.clone());
        }
        if config.danger_token_query_parameter {
            sources = sources.danger_allow_query_parameter();
        }
        let mut layer = BearerAuthLayer::from_arc(verifier)
            .answers(answers)
            .token_sources(sources.clone());
        if config.optional {
            layer = layer.optional();
        }
        let policy = self.policy;
        match (origin, self.forwarded) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::invalid(
                    "public_origin",
                    "give public_origin or forwarded_origins, not both",
                ));
            }
            (Some(origin), None) => layer = layer.public_origin(origin),
            (None, Some(forwarded)) => layer = layer.forwarded_origins(forwarded),
            (None, None) => {}
        }
        if let Some(resource) = resource {
            let mut metadata = ResourceMetadata::builder(resource).bearer_methods(&sources);
            for issuer in &config.issuers {
                metadata = metadata.authorization_server(issuer.issuer.clone());
            }
            if let Some(policy) = &policy {
                metadata = metadata.scopes_of(policy);
            }
            if let Some(dpop) = &dpop {
                metadata = metadata.dpop(dpop);
            }
            layer = layer.resource_metadata(metadata.build()?);
        }
        if let Some(policy) = policy {
            layer = layer.policy(policy);
        }
        if let Some(dpop) = dpop {
            layer = layer.dpop(dpop);
        }
        Ok(layer)
    }
}

/// Connects to the configured Redis and puts the state it shares where the builder was
/// given none: the DPoP replay store (with DPoP), the deny list, the introspection verdicts.
#[cfg(feature = "redis")]
async fn redis_state(
    c: &RedisConfig,
    dpop: bool,
    introspection: bool,
    replay: &mut Option<Replay>,
    revocations: &mut Option<Revocations>,
    shared: &mut Option<SharedVerdictCache>,
) -> Result<(), ConfigError> {
    use portcullis_redis::{
        RedisReplayStore, RedisRevocations, RedisStore, RedisVerdicts, RevocationPolicy,
    };
    // Never the variable's value in the error: `VarError::NotUnicode` holds it.
    let from_env = |setting: &'static str, var: &str| {
        std::env::var(var).map_err(|e| {
            let unusable = ConfigErrorKind::Unusable {
                setting,
                value: var.to_owned(),
            };
            match e {
                std::env::VarError::NotPresent => {
                    ConfigError::with_source(unusable, "the variable is not set")
                }
                std::env::VarError::NotUnicode(_) => {
                    ConfigError::with_source(unusable, "the variable is not UTF-8 text")
                }
            }
        })
    };
    let both = |what: &str| {
        ConfigError::invalid(
            "redis",
            format!("{what} is given in code and in the configuration's redis section: keep one"),
        )
    };
    if dpop && replay.is_some() {
        // With DPoP on, the redis section always shares the replay store.
        return Err(both(
            "a DPoP replay store (the redis section shares it when dpop is on)",
        ));
    }
    if c.introspection_cache.is_some() && !introspection {
        return Err(ConfigError::invalid(
            "redis.introspection_cache",
            "a shared introspection cache is configured but only JWTs are accepted",
        ));
    }
    if c.revocation.is_some() && revocations.is_some() {
        return Err(both("a deny list"));
    }
    if c.introspection_cache.is_some() && shared.is_some() {
        return Err(both("a shared introspection cache"));
    }
    // Read before connecting: a configuration error needs no network to be found.
    let secret = match &c.introspection_cache {
        Some(i) => Some((
            SharedCacheKey::new(
                from_env("redis.introspection_cache.secret_env", &i.secret_env)?.as_bytes(),
            )
            .map_err(|e| {
                ConfigError::with_source(
                    ConfigErrorKind::Unusable {
                        setting: "redis.introspection_cache.secret_env",
                        value: i.secret_env.clone(),
                    },
                    e,
                )
            })?,
            if i.fail_open {
                SharedCachePolicy::FailOpen
            } else {
                SharedCachePolicy::FailClosed
            },
        )),
        None => None,
    };
    let (url, setting, shown) = match (&c.url, &c.url_env) {
        (Some(url), None) => {
            // `url` is a plain setting (shown by `Debug`, kept in files): no credentials there.
            let authority = url.split_once("://").map_or("", |(_, rest)| rest);
            let authority = authority.split(['/', '?', '#']).next().unwrap_or_default();
            if authority.contains('@') {
                return Err(ConfigError::invalid(
                    "redis.url",
                    "the URL has credentials: give it in url_env (the variable that holds it)",
                ));
            }
            (url.clone(), "redis.url", "the configured URL".to_owned())
        }
        (None, Some(var)) => (
            from_env("redis.url_env", var)?,
            "redis.url_env",
            var.clone(),
        ),
        _ => {
            return Err(ConfigError::invalid(
                "redis",
                "give the URL in url_env (the variable that holds it) or url, exactly one",
            ));
        }
    };
    let builder = if c.cluster {
        RedisStore::cluster_builder(url.split_whitespace())
    } else {
        RedisStore::builder(url.trim())
    };
    // The error names the variable, never the URL (it may hold a password; the store's
    // own message shows it redacted).
    let store = builder
        .key_prefix(c.key_prefix.clone())
        .timeout(Duration::from_millis(c.timeout_ms))
        .connect()
        .await
        .map_err(|e| {
            ConfigError::with_source(
                ConfigErrorKind::Unusable {
                    setting,
                    value: shown,
                },
                e,
            )
        })?;
    if dpop {
        *replay = Some(Replay(Arc::new(RedisReplayStore::new(store.clone()))));
    }
    if let Some(r) = &c.revocation {
        let list = RedisRevocations::builder(store.clone())
            .fresh_for(Duration::from_millis(r.fresh_for_ms))
            .policy(if r.fail_open {
                RevocationPolicy::FailOpen
            } else {
                RevocationPolicy::FailClosed
            })
            .start();
        *revocations = Some(Revocations(Arc::new(list)));
    }
    if let Some((key, policy)) = secret {
        *shared = Some(SharedVerdictCache {
            store: Arc::new(RedisVerdicts::new(store)),
            key,
            policy,
        });
    }
    Ok(())
}

/// The configured public origin, checked: an absolute `https` URL (`http` for loopback
/// only) with at most a path prefix, no query, fragment or user information. The trailing
/// `/` is dropped.
fn public_origin(origin: &str) -> Result<String, ConfigError> {
    let invalid =
        |reason: &str| ConfigError::invalid("public_origin", format!("{origin:?}: {reason}"));
    let rest = if let Some(rest) = origin.strip_prefix("https://") {
        rest
    } else if let Some(rest) = origin.strip_prefix("http://") {
        let host = match rest.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or_default(),
            None => rest.split(['/', ':']).next().unwrap_or_default(),
        };
        let loopback = host == "localhost"
            || host == "::1"
            || host
                .parse::<std::net::Ipv4Addr>()
                .is_ok_and(|ip| ip.is_loopback());
        if !loopback {
            return Err(invalid("http is for loopback only: use https"));
        }
        rest
    } else {
        return Err(invalid("not an absolute http(s) URL"));
    };
    if rest.is_empty() || rest.starts_with('/') {
        return Err(invalid("no host"));
    }
    if rest.contains(['?', '#', '@', ' ']) {
        return Err(invalid(
            "an origin and path prefix only: no query, fragment, user or space",
        ));
    }
    if portcullis_core::dpop::normalize_uri(origin).is_none() {
        return Err(invalid("not a URL with a valid host, port and path"));
    }
    Ok(origin.trim_end_matches('/').to_owned())
}

/// The JWT verifier of every configured issuer: one, or several chosen by `iss`.
async fn jwt_verifier(
    config: &Config,
    resource: Option<&ResourceIdentifier>,
    client: Option<&reqwest::Client>,
) -> Result<Arc<dyn Verifier>, ConfigError> {
    let mut verifiers: Vec<(&IssuerConfig, JwtVerifier<RemoteJwks>)> = Vec::new();
    for issuer in &config.issuers {
        let cache =
            (config.token_cache_entries > 0).then(|| TokenCache::new(config.token_cache_entries));
        let verifier = build_issuer(issuer, resource, config.lazy_start, client)
            .await?
            .with_cache(cache);
        verifiers.push((issuer, verifier));
    }
    let plain = |c: &IssuerConfig| c.also_issuers.is_empty() && c.template(&c.issuer).is_none();
    if verifiers.len() == 1
        && verifiers.iter().all(|(c, _)| plain(c))
        && let Some((_, only)) = verifiers.pop()
    {
        return Ok(Arc::new(only));
    }
    let mut issuers = Issuers::builder();
    for (c, verifier) in verifiers {
        // One verifier (one key source, one cache) for every name of the entry: the keys
        // of a multi-tenant provider are fetched once, never per tenant or per name.
        let shared: Arc<dyn Verifier> = Arc::new(verifier);
        for name in c.names() {
            issuers = match c.template(name) {
                Some(template) => issuers.issuer_template_arc(template?, Arc::clone(&shared)),
                None => issuers.issuer_arc(name.clone(), Arc::clone(&shared)),
            };
        }
    }
    Ok(Arc::new(issuers.build()?))
}

/// The introspector of an issuer with `introspection` settings, checking what the endpoint
/// says with the issuer's rules.
async fn build_introspector(
    c: &IssuerConfig,
    resource: Option<&ResourceIdentifier>,
    client: Option<&reqwest::Client>,
    shared: Option<&SharedVerdictCache>,
) -> Result<Introspector, ConfigError> {
    let invalid = |what: &str| {
        ConfigError::invalid("introspection", format!("issuer {:?}: {what}", c.issuer))
    };
    let Some(i) = &c.introspection else {
        return Err(invalid("no introspection settings (client id and secret)"));
    };
    let secret = match (&i.client_secret, &i.client_secret_env) {
        (Some(secret), None) => secret.clone(),
        (None, Some(var)) => ClientSecret::from_env(var).map_err(|e| {
            ConfigError::with_source(
                ConfigErrorKind::Unusable {
                    setting: "client_secret_env",
                    value: var.clone(),
                },
                e,
            )
        })?,
        (Some(_), Some(_)) => {
            return Err(invalid("give client_secret or client_secret_env, not both"));
        }
        (None, None) => {
            return Err(invalid(
                "no client secret (client_secret_env names the variable that holds it)",
            ));
        }
    };
    let rules = rules_of(c, resource)?.1;
    let mut builder = match &i.endpoint {
        Some(url) => Introspector::builder(url.clone(), rules),
        None => Introspector::discover(c.issuer.clone(), rules),
    }
    .client_credentials(i.client_id.clone(), secret, i.auth_method)
    .cache_entries(i.cache_entries)
    .active_ttl(Duration::from_secs(i.cache_ttl_secs))
    .inactive_ttl(Duration::from_secs(i.inactive_cache_ttl_secs))
    .timeout(Duration::from_secs(i.timeout_secs));
    if let Some(client) = client {
        builder = builder.client(client.clone());
    }
    if c.danger_allow_http {
        builder = builder.danger_allow_http();
    }
    if let Some(shared) = shared {
        builder = builder
            .shared_cache(shared.store.clone(), shared.key.clone())
            .shared_cache_policy(shared.policy);
    }
    builder.build().await.map_err(|e| {
        let (setting, value) = match &i.endpoint {
            Some(url) => ("introspection.endpoint", url.clone()),
            None => ("issuer", c.issuer.clone()),
        };
        ConfigError::with_source(ConfigErrorKind::Unusable { setting, value }, e)
    })
}

/// The accepted algorithms and the claim rules of an issuer.
fn rules_of(
    c: &IssuerConfig,
    resource: Option<&ResourceIdentifier>,
) -> Result<(AlgorithmSet, Validator), ConfigError> {
    let invalid = |setting, what: &str| {
        ConfigError::invalid(setting, format!("issuer {:?}: {what}", c.issuer))
    };
    let algorithms = match &c.algorithms {
        None => AlgorithmSet::ASYMMETRIC,
        Some(list) => list.iter().copied().collect(),
    };
    if algorithms.is_empty() {
        return Err(invalid("algorithms", "the algorithm list is empty"));
    }
    if algorithms.iter().any(|a| a.is_symmetric()) && !c.danger_allow_symmetric_keys {
        return Err(invalid(
            "algorithms",
            "HS* algorithms with keys from a remote JWKS need danger_allow_symmetric_keys",
        ));
    }
    let rules = c.issuer_rules(Validator::builder())?;
    let mut rules = rules
        .algorithms(algorithms.iter())
        .leeway(Duration::from_secs(c.leeway_secs))
        .typ(c.typ);
    if let Some(resource) = resource {
        rules = rules.resource(resource.clone());
    }
    if c.danger_accept_any_audience {
        rules = rules.danger_accept_any_audience();
    }
    if c.danger_accept_sender_constrained_tokens_as_bearer {
        rules = rules.danger_accept_sender_constrained_tokens_as_bearer();
    }
    for claim in &c.required_claims {
        rules = rules.require_claim(claim.clone());
    }
    if let Some(age) = c.max_age_secs {
        rules = rules.max_age(Duration::from_secs(age));
    }
    Ok((algorithms, rules.build()?))
}

/// The JWT verifier of one issuer: its rules, and its keys (loaded now unless `lazy`).
async fn build_issuer(
    c: &IssuerConfig,
    resource: Option<&ResourceIdentifier>,
    lazy: bool,
    client: Option<&reqwest::Client>,
) -> Result<JwtVerifier<RemoteJwks>, ConfigError> {
    let (algorithms, rules) = rules_of(c, resource)?;
    let discovery = c.key_discovery_url();
    let (setting, value) = match (&c.jwks_uri, &discovery) {
        (Some(url), _) => ("jwks_uri", url.clone()),
        (None, Some(url)) => ("discovery_url", url.clone()),
        (None, None) => ("issuer", c.issuer.clone()),
    };
    let mut keys = match (&c.jwks_uri, discovery) {
        (Some(url), _) => RemoteJwks::builder(url.clone()),
        // The document there must name the configured issuer (or template), exactly.
        (None, Some(url)) => RemoteJwks::discover(url).discovered_issuer(c.issuer.clone()),
        (None, None) => RemoteJwks::discover(c.issuer.clone()),
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
    if lazy {
        keys = keys.lazy();
    }
    let keys = keys
        .build()
        .await
        .map_err(|e| ConfigError::with_source(ConfigErrorKind::Unusable { setting, value }, e))?;
    Ok(JwtVerifier::new(keys, rules))
}
