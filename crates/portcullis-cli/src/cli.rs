//! The command line, as clap sees it.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand};
use portcullis::{ClaimHeaderConfig, RouteConfig};
use portcullis_core::{Algorithm, TypPolicy};

use crate::time;

/// The address `portcullis dev-issuer` listens on unless told otherwise.
pub(crate) const DEFAULT_DEV_LISTEN: &str = "127.0.0.1:8417";

/// Verify, inspect and debug OAuth bearer access tokens (JWT) with portcullis's own checks.
///
/// Exit codes: 0 valid (or done), 1 refused, 2 usage or I/O error.
#[derive(Debug, Parser)]
#[command(name = "portcullis", version, propagate_version = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
// Parsed once per run: the size of the largest variant costs nothing worth boxing for.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Command {
    /// Verify a token exactly as the portcullis layer would; say which rule refused it.
    ///
    /// Exit code 0 when the token is valid, 1 when it is refused (with the reason and the rule
    /// that failed), 2 for a usage or I/O error (unreachable issuer, unreadable file, input
    /// that is not a JWT at all).
    Verify(VerifyArgs),
    /// Decode a token WITHOUT verifying it, with warnings about what looks wrong.
    Inspect(InspectArgs),
    /// List the keys of a JWKS (kid, kty, alg, use, size or curve, RFC 7638 thumbprint), with
    /// warnings. Exit code 1 when no key is usable.
    Jwks(JwksArgs),
    /// Run a local authorization server for development: discovery, JWKS, token endpoint.
    ///
    /// It prints its URL and a sample token, then serves until interrupted. More tokens come
    /// from its token endpoint (`client_credentials`, client `client-1`, secret `secret-1`).
    /// It signs whatever it is asked: for development only.
    DevIssuer(DevIssuerArgs),
    /// Refuse tokens before they expire, on every replica that shares a Redis deny list.
    ///
    /// Writes the entry to Redis and announces it to the replicas (which refuse it as soon
    /// as they hear, and at most their `fresh_for` later). The entry expires when the tokens
    /// it covers would have. The Redis URL comes from `--redis-url-env` (default
    /// `PORTCULLIS_REDIS_URL`) so that its password stays out of shell history; it is never
    /// printed.
    Revoke(RevokeArgs),
    /// Answer the authorization sub-requests of nginx, Caddy, Traefik or Envoy with the
    /// layer's decisions, for services in any language behind them.
    ///
    /// Endpoints: `/auth/nginx` (nginx `auth_request`: X-Original-Method, X-Original-URI),
    /// `/auth/forward` (Caddy `forward_auth`, Traefik ForwardAuth: X-Forwarded-Method, -Uri,
    /// -Proto, -Host), `/auth/envoy` (the `path_prefix` of Envoy `ext_authz` in HTTP mode).
    /// A request passes with 200 and the claim headers; a refusal is the layer's 401, 403,
    /// 400 or 503 with its `WWW-Authenticate`. A sub-request with another kind's headers, two
    /// disagreeing copies of one, or an ambiguous path (encoded `/`, dot segments, `//`, bad
    /// percent-encoding) is answered 400. Prints `listening on http://ADDR`, then logs
    /// portcullis's info and warning events to standard error (`RUST_LOG` overrides).
    Gateway(GatewayArgs),
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("from").required(true).args(["config", "issuer"])))]
pub(crate) struct GatewayArgs {
    /// The configuration file (TOML): the issuers and settings of the layer, and the
    /// `[gateway]` section (listen, routes, claim_headers). Unknown fields are refused.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with_all = ["issuer", "audiences", "routes", "claim_headers"]
    )]
    pub(crate) config: Option<PathBuf>,

    /// Check the configuration, print a summary, exit: no key is fetched, nothing listens (an
    /// introspection endpoint found through discovery, and Redis, are still reached).
    #[arg(long)]
    pub(crate) check: bool,

    /// The issuer (its keys found through discovery), for a start without a file.
    #[arg(long, value_name = "URL", requires = "audiences")]
    pub(crate) issuer: Option<String>,

    /// An accepted audience (repeatable).
    #[arg(long = "audience", value_name = "AUD", requires = "issuer")]
    pub(crate) audiences: Vec<String>,

    /// The address to listen on (default 127.0.0.1:8418; overrides the file's).
    #[arg(long, value_name = "ADDR")]
    pub(crate) listen: Option<SocketAddr>,

    /// A rule, `METHOD PATTERN SCOPE...` (repeatable, first match wins, everything else
    /// refused): `*` for any method, `GET` covers `HEAD`; `**` ends a pattern with the rest of
    /// the path (`/admin/**` covers `/admin`); `public` (no token) or `authenticated` (any
    /// valid token) in place of scopes, which are all required.
    #[arg(
        long = "route",
        value_name = "'METHOD PATTERN SCOPE...'",
        requires = "issuer",
        value_parser = parse_route
    )]
    pub(crate) routes: Vec<RouteConfig>,

    /// A claim copied into a header of the 200 answer, `CLAIM=HEADER` (repeatable): `sub`,
    /// `scope` (the granted scopes), a JSON path such as `realm_access.roles`, a name with
    /// dots in double quotes (`"https://example.com/org"=x-org`).
    #[arg(
        long = "claim-header",
        value_name = "CLAIM=HEADER",
        requires = "issuer",
        value_parser = parse_claim_header
    )]
    pub(crate) claim_headers: Vec<ClaimHeaderConfig>,
}

fn parse_route(text: &str) -> Result<RouteConfig, String> {
    text.parse().map_err(|e| format!("{e}"))
}

fn parse_claim_header(text: &str) -> Result<ClaimHeaderConfig, String> {
    text.parse().map_err(|e| format!("{e}"))
}

#[derive(Debug, Args)]
pub(crate) struct RevokeArgs {
    #[command(subcommand)]
    pub(crate) what: RevokeWhat,

    /// The variable holding the Redis URL (`redis://[user:password@]host[:port][/db]`, or
    /// `rediss://`); a cluster's seed nodes separated by spaces, with --cluster.
    #[arg(
        long,
        value_name = "VAR",
        default_value = "PORTCULLIS_REDIS_URL",
        global = true
    )]
    pub(crate) redis_url_env: String,

    /// The URL is a Redis Cluster's (one or more seed nodes).
    #[arg(long, global = true)]
    pub(crate) cluster: bool,

    /// The deployment's key prefix, as its replicas are configured.
    #[arg(
        long,
        value_name = "PREFIX",
        default_value = "portcullis:",
        global = true
    )]
    pub(crate) key_prefix: String,

    /// How long Redis may take to answer, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 2000, global = true)]
    pub(crate) timeout_ms: u64,
}

#[derive(Debug, Subcommand)]
pub(crate) enum RevokeWhat {
    /// One token, by its issuer and `jti`, until its expiry.
    Jti {
        /// The token's `iss`.
        #[arg(long, value_name = "URL")]
        issuer: String,
        /// The token's `jti`.
        #[arg(long, value_name = "ID")]
        jti: String,
        /// When the token expires (its `exp`): a Unix time or an RFC 3339 date-time.
        #[arg(long, value_name = "TIME", value_parser = time::parse_time)]
        expires_at: i64,
    },
    /// One token, given whole: its `iss`, `jti` and `exp` are read from it WITHOUT verifying
    /// it (revoking a forged token harms nobody).
    Token {
        /// The token; `-` or nothing reads it from standard input.
        #[arg(value_name = "TOKEN|-", allow_hyphen_values = true)]
        token: Option<String>,
    },
    /// Every token of a subject issued before an instant ("log out everywhere").
    Subject {
        /// The issuer of the tokens.
        #[arg(long, value_name = "URL")]
        issuer: String,
        /// The subject (`sub`).
        #[arg(long, value_name = "SUB")]
        subject: String,
        /// Tokens issued before this instant are refused (a Unix time or an RFC 3339
        /// date-time; default: now, so every token issued up to this second).
        #[arg(long, value_name = "TIME", value_parser = time::parse_time)]
        before: Option<i64>,
        /// The longest lifetime of the issuer's tokens, in seconds: the entry is kept that
        /// long after the instant.
        #[arg(long, value_name = "SECS")]
        max_token_lifetime: u64,
    },
}

#[derive(Debug, Args)]
#[command(group(
    ArgGroup::new("keys").required(true).multiple(true)
        .args(["issuer", "jwks", "key", "secret_env", "introspect"])
))]
#[command(group(ArgGroup::new("static_key").args(["key", "secret_env"])))]
pub(crate) struct VerifyArgs {
    /// The token; `-` or nothing reads it from standard input (keeps it out of shell history).
    /// An opaque token may start with `-`: it is still taken as the token.
    #[arg(value_name = "TOKEN|-", allow_hyphen_values = true)]
    pub(crate) token: Option<String>,

    /// The issuer: `iss` must equal it; alone, its keys are found through discovery (of the
    /// first). Repeatable: `iss` may equal any of them, all sharing the keys (Entra ID's v1
    /// issuer `https://sts.windows.net/{tenantid}/` beside its v2 one).
    #[arg(long = "issuer", id = "issuer", value_name = "URL")]
    pub(crate) issuers: Vec<String>,

    /// The keys: a JWKS URL (fetched as the layer would) or a JWKS file.
    #[arg(long, value_name = "URL|FILE", conflicts_with_all = ["key", "secret_env"])]
    pub(crate) jwks: Option<String>,

    /// One public key: a PEM (`PUBLIC KEY` or `RSA PUBLIC KEY`), DER or JWK file.
    #[arg(long, value_name = "FILE", conflicts_with = "secret_env")]
    pub(crate) key: Option<PathBuf>,

    /// An HMAC secret, read from this environment variable (its bytes as they are; never
    /// printed).
    #[arg(long, value_name = "VAR")]
    pub(crate) secret_env: Option<String>,

    /// Ask this RFC 7662 introspection endpoint instead of verifying a signature (for opaque
    /// tokens; JWTs too, if the server introspects them). Needs --client-id and
    /// --client-secret-env.
    #[arg(
        long,
        value_name = "URL",
        conflicts_with_all = ["jwks", "key", "secret_env", "algorithms", "kid"],
        requires_all = ["client_id", "client_secret_env"]
    )]
    pub(crate) introspect: Option<String>,

    /// This tool's client id at the introspection endpoint.
    #[arg(long, value_name = "ID", requires = "introspect")]
    pub(crate) client_id: Option<String>,

    /// The environment variable that holds the client secret (never printed).
    #[arg(long, value_name = "VAR", requires = "introspect")]
    pub(crate) client_secret_env: Option<String>,

    /// Send the client credentials in the request body (`client_secret_post`) instead of an
    /// HTTP Basic header.
    #[arg(long, requires = "introspect")]
    pub(crate) client_secret_post: bool,

    /// The `kid` of the key given with --key or --secret-env (default: none, so that only
    /// tokens without `kid` match it, as with the layer).
    #[arg(long, value_name = "KID", requires = "static_key")]
    pub(crate) kid: Option<String>,

    /// An accepted audience (repeatable); without any, `aud` is not checked. With
    /// `--profile cognito`, the accepted app client ids (`client_id`).
    #[arg(long = "audience", value_name = "A")]
    pub(crate) audiences: Vec<String>,

    /// Check as the layer does with this provider profile (`entra`, `cognito`, `keycloak`,
    /// `auth0`, `okta`, `kubernetes`, `github-actions`): its scope and role sources, the
    /// claim naming the client, its rules (a refusal names the rule). --issuer may then be
    /// a template with `{tenantid}` (its keys discovered from `.../organizations/...`).
    #[arg(
        long,
        value_name = "NAME",
        value_parser = parse_profile,
        requires_all = ["issuer", "audiences"]
    )]
    pub(crate) profile: Option<portcullis::profiles::Profile>,

    /// A tenant accepted by an --issuer template (repeatable).
    #[arg(long = "tenant", value_name = "ID", requires = "profile")]
    pub(crate) tenants: Vec<String>,

    /// Only the scopes with this prefix count, prefix taken off (Cognito's
    /// `RESOURCE_SERVER/`).
    #[arg(long, value_name = "PREFIX", requires = "profile")]
    pub(crate) scope_prefix: Option<String>,

    /// An allowed algorithm (repeatable); default: RS*, PS*, ES*, EdDSA, or HS* with
    /// --secret-env.
    #[arg(long = "alg", value_name = "ALG", value_parser = parse_alg)]
    pub(crate) algorithms: Vec<Algorithm>,

    /// A scope the token must grant (repeatable; all are required).
    #[arg(long = "require-scope", value_name = "S")]
    pub(crate) required_scopes: Vec<String>,

    /// A step-up (RFC 9470), as a route asks for one: the login's `acr` must be one of
    /// these (repeatable).
    #[arg(long = "acr-value", value_name = "ACR")]
    pub(crate) acr_values: Vec<String>,

    /// A step-up (RFC 9470): the login (`auth_time`) must be at most this many seconds old
    /// (at `--at`, or now).
    #[arg(long, value_name = "SECS")]
    pub(crate) max_auth_age: Option<u64>,

    /// What the header's `typ` may say: `at+jwt`, `at+jwt-or-jwt` or `danger-ignore` (the
    /// names of the layer's configuration).
    #[arg(long, value_name = "POLICY", value_parser = parse_typ, default_value = "at+jwt-or-jwt")]
    pub(crate) typ: TypPolicy,

    /// Clock-skew allowance for `exp`, `nbf` and `iat`, in seconds (at most 600).
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub(crate) leeway: u64,

    /// Check as of this time instead of now: RFC 3339 (2023-11-14T22:13:20Z) or Unix seconds.
    #[arg(long, value_name = "TIME", value_parser = time::parse_time)]
    pub(crate) at: Option<i64>,

    /// The DPoP proof (RFC 9449) sent with the token: the token is then checked as presented
    /// with `Authorization: DPoP`, with its proof, for --method and --url.
    #[arg(long, value_name = "PROOF", requires = "url")]
    pub(crate) dpop_proof: Option<String>,

    /// The method of the request the DPoP proof was made for.
    #[arg(
        long,
        value_name = "METHOD",
        default_value = "GET",
        requires = "dpop_proof"
    )]
    pub(crate) method: String,

    /// The public URL the request was sent to (what the proof's `htu` must name; a query is
    /// left out).
    #[arg(long, value_name = "URL", requires = "dpop_proof")]
    pub(crate) url: Option<String>,

    /// Print one JSON object instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

impl VerifyArgs {
    /// The first `--issuer`: where keys are discovered, and what a profile is applied to.
    pub(crate) fn issuer(&self) -> Option<&String> {
        self.issuers.first()
    }
}

#[derive(Debug, Args)]
pub(crate) struct InspectArgs {
    /// The token; `-` or nothing reads it from standard input.
    #[arg(value_name = "TOKEN|-", allow_hyphen_values = true)]
    pub(crate) token: Option<String>,

    /// Judge `exp`, `nbf` and `iat` as of this time instead of now (RFC 3339 or Unix seconds).
    #[arg(long, value_name = "TIME", value_parser = time::parse_time)]
    pub(crate) at: Option<i64>,

    /// Print one JSON object instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("from").required(true).args(["source", "issuer"])))]
pub(crate) struct JwksArgs {
    /// A JWKS URL, a JWKS file, or `-` for standard input.
    #[arg(value_name = "URL|FILE")]
    pub(crate) source: Option<String>,

    /// An issuer whose JWKS is found through discovery.
    #[arg(long, value_name = "URL")]
    pub(crate) issuer: Option<String>,

    /// Print one JSON object instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct DevIssuerArgs {
    /// The loopback address to listen on (`127.0.0.1:0` picks a free port).
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_DEV_LISTEN)]
    pub(crate) listen: SocketAddr,

    /// The signing algorithm (a fresh key is generated at each start).
    #[arg(long, value_name = "ALG", value_parser = parse_alg, default_value = "RS256")]
    pub(crate) alg: Algorithm,

    /// A scope of the tokens minted when the request names none (repeatable; default
    /// `read write`).
    #[arg(long = "scope", value_name = "S")]
    pub(crate) scopes: Vec<String>,

    /// The `aud` of the tokens minted.
    #[arg(long, value_name = "A", default_value = "api")]
    pub(crate) audience: String,

    /// The lifetime of the tokens minted, in seconds (negative: already expired).
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 300,
        allow_negative_numbers = true
    )]
    pub(crate) expires_in: i64,

    /// Print the endpoints and the sample token as one JSON object (one line), then serve.
    #[arg(long)]
    pub(crate) json: bool,
}

/// A `typ` policy, by the name configuration files use too.
fn parse_profile(name: &str) -> Result<portcullis::profiles::Profile, String> {
    name.parse().map_err(|e| format!("{e}"))
}

fn parse_typ(name: &str) -> Result<TypPolicy, String> {
    name.parse().map_err(|e| format!("{e}"))
}

fn parse_alg(name: &str) -> Result<Algorithm, String> {
    Algorithm::from_jose(name).ok_or_else(|| {
        let known: Vec<&str> = Algorithm::ALL.iter().map(|a| a.as_str()).collect();
        format!(
            "`{name}` is not a JWS signature algorithm portcullis verifies (names are \
             case-sensitive; `none` never is): {}",
            known.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn a_token_starting_with_a_hyphen_is_still_the_token() {
        use clap::Parser as _;
        let cli = Cli::try_parse_from(["portcullis", "verify", "--issuer", "https://a", "-kAbC"])
            .unwrap();
        match cli.command {
            Command::Verify(args) => assert_eq!(args.token.as_deref(), Some("-kAbC")),
            _ => panic!("not verify"),
        }
        let cli = Cli::try_parse_from(["portcullis", "inspect", "-x.y.z"]).unwrap();
        match cli.command {
            Command::Inspect(args) => assert_eq!(args.token.as_deref(), Some("-x.y.z")),
            _ => panic!("not inspect"),
        }
    }

    #[test]
    fn algorithm_names_are_case_sensitive_and_none_is_refused() {
        assert_eq!(parse_alg("ES256"), Ok(Algorithm::ES256));
        assert!(parse_alg("es256").is_err());
        assert!(parse_alg("none").unwrap_err().contains("`none` never"));
    }
}
