//! The quickstart: an axum API protected by portcullis, with a local authorization server.
//!
//! ```text
//! cargo run --example quickstart                    # a scripted tour; exits 0 when every answer is right
//! cargo run --example quickstart -- --opaque        # the same tour with opaque tokens (RFC 7662 introspection)
//! cargo run --example quickstart -- --serve         # keep serving; prints a token and curl commands (also with --opaque)
//! cargo run --example quickstart -- --issuer https://idp.example.com --audience my-api [--resource URL] \
//!     [--profile entra|cognito|keycloak|auth0|okta|kubernetes|github-actions [--tenant ID]... [--client-id ID]... [--scope-prefix P]] \
//!     [--listen 127.0.0.1:8080] [--alg RS256]... [--typ at+jwt|at+jwt-or-jwt|danger-ignore] [--leeway 60] \
//!     [--dpop | --require-dpop] [--dpop-nonce] [--public-origin URL] \
//!     [--client-cert-header NAME] [--tls-cert FILE --tls-key FILE --client-ca FILE]
//! ```
//!
//! The API: `GET /health` (public), `GET /me` (any valid token; returns its claims),
//! `GET /read` (scope `read`), `GET` and `POST /write` (scope `write`; a DPoP proof made for
//! one method is refused for the other), `GET /admin` (scopes `admin` and `write`),
//! `GET /sensitive` (a step-up, RFC 9470: `acr` `mfa` and a login no older than 300 s, else
//! `401 insufficient_user_authentication` with `acr_values` and `max_age`).
//!
//! With a real issuer, `--resource URL` names this API by its resource identifier (RFC 8707:
//! accepted as an audience, so `--audience` may be left out) and serves its metadata (RFC
//! 9728) at `/.well-known/oauth-protected-resource` plus the URL's path; every refusal's
//! challenge then points there with `resource_metadata`.
//!
//! With a real issuer, `--dpop` accepts DPoP-bound tokens (RFC 9449) beside bearer tokens,
//! `--require-dpop` only them; `--dpop-nonce` asks for server nonces, sealed with the secret
//! in `PORTCULLIS_DPOP_NONCE_KEY` (the base64 of 32 random bytes: replicas started with the
//! same value accept each other's nonces; unset, one is generated); `--public-origin` is the
//! URL clients address, which the proofs' `htu` must name (default: `http://` and the
//! `--listen` address).
//!
//! Certificate-bound tokens (RFC 8705): `--tls-cert`, `--tls-key` and `--client-ca` (PEM files)
//! serve over TLS and ask clients for a certificate (optional, so bearer clients still work),
//! whose thumbprint a token's `cnf.x5t#S256` must name; `--client-cert-header NAME` reads it
//! instead from a header set by a TLS-terminating proxy: `client-cert` (RFC 9440),
//! `x-forwarded-client-cert` (Envoy), or any other name for nginx's `$ssl_client_escaped_cert`.
//! Trust that header only behind a proxy that overwrites it.

// An example prints, and stops loudly on a setup failure.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use axum::Router;
use axum::http::HeaderName;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use portcullis::jwt::{Algorithm, TypPolicy};
use portcullis::layer::BearerAuthLayer;
use portcullis::layer::CertificateSource;
use portcullis::layer::axum::{GrantedScopes, VerifiedClaims};
use portcullis::{
    DpopConfig, IntrospectionConfig, IssuerConfig, Portcullis, PortcullisBuilder, StepUp, TokenMode,
};
use portcullis_testkit::tls::{ClientAuth, TlsConfig, serve_tls_on};
use portcullis_testkit::{TestIssuer, TokenBuilder};

/// What `/sensitive` asks of the login behind a token (RFC 9470 step-up): multi-factor, in
/// the last five minutes.
fn sensitive() -> StepUp {
    StepUp::acr(["mfa"]).and_max_age(Duration::from_secs(300))
}

/// The protected API, and the resource's metadata (RFC 9728) when the layer has one.
fn api(auth: &BearerAuthLayer) -> Router {
    let scoped = |path: &str, scopes: &[&str]| {
        let methods = if path == "/write" {
            get(granted).post(granted)
        } else {
            get(granted)
        };
        Router::new()
            .route(path, methods)
            .route_layer(auth.require_scopes(scopes.iter().copied()))
    };
    let protected = Router::new()
        .route("/me", get(me))
        .merge(scoped("/read", &["read"]))
        .merge(scoped("/write", &["write"]))
        .merge(scoped("/admin", &["admin", "write"]))
        .merge(
            Router::new()
                .route("/sensitive", get(granted))
                .route_layer(auth.require_step_up(sensitive())),
        )
        .route_layer(auth.clone());
    let app = Router::new()
        .route("/health", get(|| async { "ok\n" }))
        .merge(protected);
    match auth.metadata() {
        Some(metadata) => app.route_service(metadata.path(), metadata.clone()),
        None => app,
    }
}

async fn me(VerifiedClaims(claims): VerifiedClaims) -> impl IntoResponse {
    (
        [(CONTENT_TYPE, "application/json")],
        format!("{}\n", claims.as_json()),
    )
}

async fn granted(GrantedScopes(scopes): GrantedScopes) -> String {
    format!("granted; your scopes: {}\n", scopes.as_str())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match Mode::parse(&args) {
        Ok(Mode::Tour { opaque }) => tour(opaque).await,
        Ok(mode) => {
            init_logs();
            match mode {
                Mode::Serve { listen, opaque } => serve_local(listen, opaque).await,
                Mode::External(external) => serve_external(*external).await,
                Mode::Tour { opaque } => tour(opaque).await,
            }
        }
        Err(message) => {
            eprintln!("quickstart: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("quickstart: {message}");
            ExitCode::FAILURE
        }
    }
}

/// What the serving modes log unless `RUST_LOG` says otherwise: portcullis's own events at
/// info, and warnings of everything else (not the HTTP stack's connection lines).
const DEFAULT_LOG: &str = "portcullis=info,warn";

/// Logs to standard error: `RUST_LOG` when it is set and a valid filter, else
/// [`DEFAULT_LOG`]. `RUST_LOG=portcullis=debug` adds one line per refusal with its reason;
/// no event of portcullis holds a token.
fn init_logs() {
    use tracing_subscriber::filter::Targets;
    use tracing_subscriber::layer::SubscriberExt as _;

    let from_env = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty());
    let (filter, invalid) = match from_env.as_deref().map(str::parse::<Targets>) {
        Some(Ok(filter)) => (filter, None),
        Some(Err(e)) => (DEFAULT_LOG.parse().expect("a valid filter"), Some(e)),
        None => (DEFAULT_LOG.parse().expect("a valid filter"), None),
    };
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(filter);
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
    if let Some(e) = invalid {
        tracing::warn!("RUST_LOG is not a filter ({e}): logging with {DEFAULT_LOG}");
    }
}

const USAGE: &str = "usage: quickstart [--opaque] [--serve [--listen ADDR]]
       quickstart --issuer URL... (--audience AUD | --resource URL)... [--profile NAME [--tenant ID]... [--client-id ID]... [--scope-prefix P]] [--listen ADDR] [--alg ALG]... [--typ at+jwt|at+jwt-or-jwt|danger-ignore] [--leeway SECS]
                  [--dpop | --require-dpop] [--dpop-nonce] [--public-origin URL]
                  [--client-cert-header NAME] [--tls-cert FILE --tls-key FILE --client-ca FILE]";

/// The environment variable holding the DPoP nonce secret of `--dpop-nonce`.
const NONCE_KEY_VAR: &str = "PORTCULLIS_DPOP_NONCE_KEY";

enum Mode {
    Tour { opaque: bool },
    Serve { listen: SocketAddr, opaque: bool },
    External(Box<External>),
}

struct External {
    /// `--issuer`, repeatable: the first is the issuer, the others accepted with its keys
    /// (Entra ID's v1 template beside its v2 one).
    issuers: Vec<String>,
    audiences: Vec<String>,
    resource: Option<String>,
    /// `--profile NAME`, `--tenant ID`..., `--scope-prefix P`.
    profile: Option<portcullis::profiles::Profile>,
    tenants: Vec<String>,
    scope_prefix: Option<String>,
    listen: SocketAddr,
    algorithms: Vec<Algorithm>,
    typ: Option<TypPolicy>,
    leeway: Option<Duration>,
    /// `Some(required)` with `--dpop` or `--require-dpop`.
    dpop: Option<bool>,
    dpop_nonce: bool,
    public_origin: Option<String>,
    client_cert_header: Option<String>,
    /// `--tls-cert`, `--tls-key`, `--client-ca`.
    tls: Option<[String; 3]>,
}

impl Mode {
    fn parse(args: &[String]) -> Result<Mode, String> {
        let mut serve = false;
        let mut opaque = false;
        let mut issuers = Vec::new();
        let mut audiences = Vec::new();
        let mut resource = None;
        let mut profile = None;
        let mut tenants = Vec::new();
        let mut client_ids = Vec::new();
        let mut scope_prefix = None;
        let mut listen: SocketAddr = ([127, 0, 0, 1], 8080).into();
        let mut algorithms = Vec::new();
        let mut typ = None;
        let mut leeway = None;
        let mut dpop = None;
        let mut dpop_nonce = false;
        let mut public_origin = None;
        let mut client_cert_header = None;
        let (mut tls_cert, mut tls_key, mut client_ca) = (None, None, None);
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let mut value = || {
                it.next()
                    .cloned()
                    .ok_or_else(|| format!("{flag} needs a value"))
            };
            match flag.as_str() {
                "--serve" => serve = true,
                "--opaque" => opaque = true,
                "--issuer" => issuers.push(value()?),
                "--audience" => audiences.push(value()?),
                "--resource" => resource = Some(value()?),
                "--profile" => {
                    let v = value()?;
                    profile = Some(v.parse().map_err(|e| format!("--profile {v:?}: {e}"))?);
                }
                "--tenant" => tenants.push(value()?),
                "--client-id" => client_ids.push(value()?),
                "--scope-prefix" => scope_prefix = Some(value()?),
                "--listen" => {
                    let v = value()?;
                    listen = v
                        .parse()
                        .map_err(|_| format!("--listen {v:?} is not an address"))?;
                }
                "--alg" => {
                    let v = value()?;
                    algorithms.push(
                        Algorithm::from_jose(&v)
                            .ok_or_else(|| format!("unknown algorithm {v:?}"))?,
                    );
                }
                "--typ" => {
                    let v = value()?;
                    typ = Some(
                        v.parse::<TypPolicy>()
                            .map_err(|e| format!("--typ {v:?}: {e}"))?,
                    );
                }
                "--leeway" => {
                    let v = value()?;
                    let secs: u64 = v
                        .parse()
                        .map_err(|_| format!("--leeway {v:?} is not a number of seconds"))?;
                    leeway = Some(Duration::from_secs(secs));
                }
                "--dpop" => dpop = Some(dpop.unwrap_or(false)),
                "--require-dpop" => dpop = Some(true),
                "--dpop-nonce" => dpop_nonce = true,
                "--public-origin" => public_origin = Some(value()?),
                "--client-cert-header" => client_cert_header = Some(value()?),
                "--tls-cert" => tls_cert = Some(value()?),
                "--tls-key" => tls_key = Some(value()?),
                "--client-ca" => client_ca = Some(value()?),
                "-h" | "--help" => return Err("help".to_owned()),
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        let issuer = issuers.first().cloned();
        // Cognito names the app client in `client_id`, which its profile reads as the
        // audience: `--client-id` says so in Cognito's words.
        if !client_ids.is_empty() {
            if profile != Some(portcullis::profiles::Profile::Cognito) {
                return Err(
                    "--client-id goes with --profile cognito (the app clients whose \
                            access tokens are accepted)"
                        .to_owned(),
                );
            }
            audiences.extend(client_ids);
        }
        let audience = audiences.first().cloned();
        if issuer.is_none() && (profile.is_some() || !tenants.is_empty() || scope_prefix.is_some())
        {
            return Err("--profile, --tenant and --scope-prefix go with --issuer".to_owned());
        }
        if issuer.is_none() && (dpop.is_some() || dpop_nonce || public_origin.is_some()) {
            return Err(
                "--dpop, --require-dpop, --dpop-nonce and --public-origin go with --issuer"
                    .to_owned(),
            );
        }
        if dpop_nonce && dpop.is_none() {
            return Err("--dpop-nonce goes with --dpop or --require-dpop".to_owned());
        }
        let tls = match (tls_cert, tls_key, client_ca) {
            (Some(cert), Some(key), Some(ca)) => Some([cert, key, ca]),
            (None, None, None) => None,
            _ => return Err("--tls-cert, --tls-key and --client-ca go together".to_owned()),
        };
        if issuer.is_none() && (tls.is_some() || client_cert_header.is_some()) {
            return Err("--tls-* and --client-cert-header go with --issuer".to_owned());
        }
        if tls.is_some() && client_cert_header.is_some() {
            return Err(
                "--client-cert-header is for a proxy that terminates TLS; with --tls-cert the \
                 certificate comes from the connection"
                    .to_owned(),
            );
        }
        if issuer.is_none() && resource.is_some() {
            return Err("--resource goes with --issuer".to_owned());
        }
        match (issuer, audience) {
            (Some(_), _) if opaque => {
                Err("--opaque runs with the local authorization server, not --issuer".to_owned())
            }
            (Some(_), audience) if audience.is_some() || resource.is_some() => {
                Ok(Mode::External(Box::new(External {
                    issuers,
                    audiences,
                    resource,
                    profile,
                    tenants,
                    scope_prefix,
                    listen,
                    algorithms,
                    typ,
                    leeway,
                    dpop,
                    dpop_nonce,
                    public_origin,
                    client_cert_header,
                    tls,
                })))
            }
            (Some(_), _) | (None, Some(_)) => {
                Err("--issuer goes with --audience or --resource (or both)".to_owned())
            }
            (None, None) if serve => Ok(Mode::Serve { listen, opaque }),
            (None, None) => Ok(Mode::Tour { opaque }),
        }
    }
}

async fn listen(app: Router, addr: SocketAddr) -> Result<String, String> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(format!("http://{bound}"))
}

/// One step of the tour: a request and the status it must get.
struct Step {
    what: &'static str,
    path: &'static str,
    token: Option<String>,
    expected: u16,
}

/// The local authorization server's API protection: JWTs verified with its keys, or (with
/// `opaque`) opaque tokens introspected at its endpoint as client `client-1`.
fn local(idp: &TestIssuer, opaque: bool) -> PortcullisBuilder {
    let builder = Portcullis::builder()
        .issuer(idp.issuer())
        .audience("api")
        .realm("quickstart");
    if opaque {
        builder
            .introspection(IntrospectionConfig::new("client-1", "secret-1"))
            .tokens(TokenMode::Introspection)
    } else {
        builder
    }
}

/// A token with these claims: signed (a JWT) or, with `opaque`, kept by the server.
fn mint(idp: &TestIssuer, opaque: bool, claims: &TokenBuilder) -> String {
    if opaque {
        idp.opaque(claims)
    } else {
        claims.sign()
    }
}

/// A token of a login by `acr`, `ago` seconds ago.
fn login(idp: &TestIssuer, acr: &str, ago: u64) -> TokenBuilder {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    idp.token()
        .claim("acr", acr.into())
        .claim("auth_time", now.saturating_sub(ago).into())
}

async fn tour(opaque: bool) -> Result<ExitCode, String> {
    let idp = TestIssuer::start().await;
    let auth = local(&idp, opaque)
        .build()
        .await
        .map_err(|e| e.to_string())?;
    let base = listen(api(&auth), ([127, 0, 0, 1], 0).into()).await?;
    println!("authorization server  {}", idp.issuer());
    if opaque {
        println!("introspection         {}", idp.introspection_url());
    }
    println!("protected API         {base}\n");
    let token = |claims: TokenBuilder| Some(mint(&idp, opaque, &claims));

    let step = |what, path, token: Option<String>, expected| Step {
        what,
        path,
        token,
        expected,
    };
    let steps = vec![
        step("public route, no token", "/health", None, 200),
        step("good token", "/me", token(idp.token().scope("read")), 200),
        step("no token", "/me", None, 401),
        step(
            "expired an hour ago",
            "/me",
            token(idp.token().expires_in(-3600)),
            401,
        ),
        step(
            "token for another API",
            "/me",
            token(idp.token().audience("billing")),
            401,
        ),
        step(
            "scope read on /read",
            "/read",
            token(idp.token().scope("read")),
            200,
        ),
        step(
            "scope read on /write",
            "/write",
            token(idp.token().scope("read")),
            403,
        ),
        step(
            "scope write on /admin",
            "/admin",
            token(idp.token().scope("write")),
            403,
        ),
        step(
            "scopes admin write on /admin",
            "/admin",
            token(idp.token().scope("admin write")),
            200,
        ),
        step(
            "a password login (step-up needed)",
            "/sensitive",
            token(login(&idp, "pwd", 10)),
            401,
        ),
        step(
            "an mfa login an hour old",
            "/sensitive",
            token(login(&idp, "mfa", 3600)),
            401,
        ),
        step(
            "an mfa login 10 s ago",
            "/sensitive",
            token(login(&idp, "mfa", 10)),
            200,
        ),
    ];
    let client = reqwest::Client::new();
    let mut wrong = 0;
    for s in steps {
        wrong += usize::from(!run(&client, &base, &s).await?);
    }

    if opaque {
        wrong += opaque_epilogue(&client, &base, &idp).await?;
    } else {
        wrong += rotation_epilogue(&client, &base, &idp).await?;
    }

    if wrong == 0 {
        println!("\nevery answer as expected");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("\n{wrong} unexpected answer(s)");
        Ok(ExitCode::FAILURE)
    }
}

/// Key rotation: the issuer signs with a new key; portcullis fetches it once, on first sight.
/// The number of unexpected answers.
async fn rotation_epilogue(
    client: &reqwest::Client,
    base: &str,
    idp: &TestIssuer,
) -> Result<usize, String> {
    let mut wrong = 0;
    let step = |what, path, token: Option<String>, expected| Step {
        what,
        path,
        token,
        expected,
    };
    let before = idp.jwks_fetches();
    let new_key = idp.rotate(Algorithm::ES256);
    let rotated = step(
        "after a key rotation (new kid)",
        "/read",
        Some(idp.token().scope("read").sign()),
        200,
    );
    wrong += usize::from(!run(client, base, &rotated).await?);
    let fetches = idp.jwks_fetches() - before;
    println!(
        "      key {} ({}) fetched with {fetches} JWKS request",
        new_key.kid(),
        new_key.alg()
    );
    if fetches != 1 {
        wrong += 1;
    }
    Ok(wrong)
}

/// Opaque tokens: unknown and revoked ones, the cache of verdicts, and the calls it saves.
/// The number of unexpected answers.
async fn opaque_epilogue(
    client: &reqwest::Client,
    base: &str,
    idp: &TestIssuer,
) -> Result<usize, String> {
    let mut wrong = 0;
    let step = |what, path, token: Option<String>, expected| Step {
        what,
        path,
        token,
        expected,
    };
    let never = step(
        "a token the server never issued",
        "/me",
        Some("bm90LWEtcmVhbC10b2tlbg".to_owned()),
        401,
    );
    wrong += usize::from(!run(client, base, &never).await?);

    let revoked = idp.opaque(&idp.token().scope("read"));
    idp.revoke(&revoked);
    let step_revoked = step("revoked before its first use", "/read", Some(revoked), 401);
    wrong += usize::from(!run(client, base, &step_revoked).await?);

    let used = idp.opaque(&idp.token().scope("read"));
    let first = step("a token, first use", "/read", Some(used.clone()), 200);
    wrong += usize::from(!run(client, base, &first).await?);
    idp.revoke(&used);
    let cached = step("the same token, just revoked", "/read", Some(used), 200);
    wrong += usize::from(!run(client, base, &cached).await?);
    println!(
        "      its verdict is reused for up to 60 s (introspection cache_ttl_secs; \
         cache_entries 0 refuses it at once)"
    );

    let calls = idp.introspection_calls();
    let again = step(
        "a good token, once more",
        "/me",
        Some(idp.opaque(&idp.token())),
        200,
    );
    for _ in 0..5 {
        wrong += usize::from(!run(client, base, &again).await?);
    }
    let made = idp.introspection_calls() - calls;
    println!("      5 requests with one token, {made} introspection call");
    if made != 1 {
        wrong += 1;
    }
    Ok(wrong)
}

/// Sends one step's request, prints the answer; whether the status is the expected one.
async fn run(client: &reqwest::Client, base: &str, s: &Step) -> Result<bool, String> {
    let mut req = client.get(format!("{base}{}", s.path));
    if let Some(token) = &s.token {
        req = req.bearer_auth(token);
    }
    let res = req.send().await.map_err(|e| e.to_string())?;
    let status = res.status().as_u16();
    let challenge = res
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .map(|v| format!("  WWW-Authenticate: {v}"))
        .unwrap_or_default();
    let ok = status == s.expected;
    println!(
        "{} GET {:<10} {:<36} {status}{challenge}",
        if ok { "ok  " } else { "FAIL" },
        s.path,
        s.what,
    );
    if !ok {
        println!("      expected {}", s.expected);
    }
    Ok(ok)
}

async fn serve_local(addr: SocketAddr, opaque: bool) -> Result<ExitCode, String> {
    let idp = TestIssuer::builder().opaque_tokens(opaque).start().await;
    let auth = local(&idp, opaque)
        .build()
        .await
        .map_err(|e| e.to_string())?;
    let base = listen(api(&auth), addr).await?;
    let token = mint(
        &idp,
        opaque,
        &idp.token().scope("read write admin").expires_in(3600),
    );
    println!("authorization server  {}", idp.issuer());
    println!("protected API         {base}\n");
    let kind = if opaque { "an opaque token" } else { "a token" };
    println!("{kind} with scopes read, write and admin, valid for an hour:\n\n{token}\n");
    println!("curl {base}/health");
    println!("curl -i {base}/me");
    println!("curl -H 'Authorization: Bearer {token}' {base}/me");
    println!("curl -H 'Authorization: Bearer {token}' {base}/admin");
    println!(
        "curl -s -u client-1:secret-1 -d grant_type=client_credentials -d scope=read {}",
        idp.token_url()
    );
    if opaque {
        println!(
            "curl -s -u client-1:secret-1 -d token={token} {}",
            idp.introspection_url()
        );
        println!(
            "curl -s -u client-1:secret-1 -d token={token} {}",
            idp.revocation_url()
        );
    }
    println!("\nserving until Ctrl-C (RUST_LOG=portcullis=debug logs why each request is refused)");
    let _ = tokio::signal::ctrl_c().await;
    Ok(ExitCode::SUCCESS)
}

async fn serve_external(e: External) -> Result<ExitCode, String> {
    // Parsing made sure of one issuer at least.
    let (first, more) = e.issuers.split_first().ok_or("no --issuer")?;
    let mut issuer = IssuerConfig::new(first.clone()).tenants(e.tenants.iter().cloned());
    issuer.profile = e.profile;
    for other in more {
        issuer = issuer.also_issuer(other.clone());
    }
    for audience in &e.audiences {
        issuer = issuer.audience(audience.clone());
    }
    if let Some(prefix) = &e.scope_prefix {
        issuer = issuer.scope_prefix(prefix.clone());
    }
    let mut builder = Portcullis::builder()
        .issuer_config(issuer)
        .realm("quickstart");
    if let Some(resource) = &e.resource {
        builder = builder.resource(resource.clone());
    }
    if !e.algorithms.is_empty() {
        builder = builder.algorithms(e.algorithms.iter().copied());
        if e.algorithms.iter().any(|a| a.is_symmetric()) {
            builder = builder.danger_allow_symmetric_keys();
        }
    }
    if let Some(typ) = e.typ {
        builder = builder.typ(typ);
    }
    if let Some(leeway) = e.leeway {
        builder = builder.leeway(leeway);
    }
    let scheme = if e.tls.is_some() { "https" } else { "http" };
    let origin = match (&e.public_origin, e.dpop) {
        (Some(origin), _) => Some(origin.clone()),
        (None, Some(_)) if e.listen.port() != 0 => Some(format!("{scheme}://{}", e.listen)),
        (None, Some(_)) => {
            return Err("--dpop with --listen on port 0 needs --public-origin".to_owned());
        }
        (None, None) => None,
    };
    if let Some(origin) = &origin {
        builder = builder.public_origin(origin.clone());
    }
    if let Some(required) = e.dpop {
        let mut dpop = DpopConfig::new();
        if required {
            dpop = dpop.required();
        }
        if e.dpop_nonce {
            if std::env::var_os(NONCE_KEY_VAR).is_some() {
                dpop = dpop.nonces_from_env(NONCE_KEY_VAR);
            } else {
                println!("{NONCE_KEY_VAR} is unset: a nonce secret was generated for this process");
                dpop.nonces = true;
            }
        }
        builder = builder.dpop(dpop);
    }
    let mut auth = builder.build().await.map_err(|err| err.to_string())?;
    if let Some(name) = &e.client_cert_header {
        let source = match name.to_ascii_lowercase().as_str() {
            "client-cert" => CertificateSource::ClientCertHeader,
            "x-forwarded-client-cert" => CertificateSource::ForwardedClientCert,
            other => CertificateSource::EscapedPemHeader(
                HeaderName::from_bytes(other.as_bytes())
                    .map_err(|_| format!("--client-cert-header {name:?} is not a header name"))?,
            ),
        };
        auth = auth.client_certificate_from(source);
    }
    let (base, _tls) = match &e.tls {
        None => (listen(api(&auth), e.listen).await?, None),
        Some([cert, key, ca]) => {
            let config = TlsConfig::from_pem_files(
                cert.as_ref(),
                key.as_ref(),
                ca.as_ref(),
                ClientAuth::Optional,
            )
            .map_err(|err| format!("TLS: {err}"))?;
            let server = serve_tls_on(api(&auth), config, e.listen)
                .await
                .map_err(|err| format!("cannot listen on {}: {err}", e.listen))?;
            (format!("https://{}", server.addr()), Some(server))
        }
    };
    println!(
        "trusting issuer       {} (keys through discovery)",
        e.issuers.join(", ")
    );
    if !e.audiences.is_empty() {
        println!("for audience          {}", e.audiences.join(", "));
    }
    if let Some(metadata) = auth.metadata() {
        println!(
            "resource              {} (an audience too)",
            metadata.resource()
        );
        println!("resource metadata     {base}{}", metadata.path());
    }
    if let Some(profile) = e.profile {
        println!(
            "profile               {profile}: /read, /write, /admin read its scope sources{}",
            if e.tenants.is_empty() {
                String::new()
            } else {
                format!("; tenants {}", e.tenants.join(", "))
            }
        );
    }
    if let Some(required) = e.dpop {
        let origin = origin.as_deref().unwrap_or_default();
        println!(
            "DPoP                  {}{}; proofs name {origin}/...",
            if required {
                "required"
            } else {
                "accepted beside bearer tokens"
            },
            if e.dpop_nonce {
                ", with server nonces"
            } else {
                ""
            }
        );
    }
    match (&e.tls, &e.client_cert_header) {
        (Some(_), _) => println!(
            "client certificates   asked for on the TLS connection (cnf.x5t#S256 must name one)"
        ),
        (None, Some(name)) => println!(
            "client certificates   from the {name} header (trust it only behind a proxy that sets it)"
        ),
        (None, None) => {}
    }
    println!("protected API         {base}\n");
    println!("curl -i -H \"Authorization: Bearer $TOKEN\" {base}/me");
    println!("curl -i -H \"Authorization: Bearer $TOKEN\" {base}/read");
    println!(
        "curl -i -H \"Authorization: Bearer $TOKEN\" {base}/sensitive   # acr mfa, login < 300 s"
    );
    println!("\nserving until Ctrl-C (RUST_LOG=portcullis=debug logs why each request is refused)");
    let _ = tokio::signal::ctrl_c().await;
    Ok(ExitCode::SUCCESS)
}
