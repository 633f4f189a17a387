//! `portcullis gateway`: an HTTP server that answers the authorization sub-requests of nginx
//! (`/auth/nginx`), Caddy and Traefik (`/auth/forward`) and Envoy (`/auth/envoy`), with the
//! decisions of the in-process layer: the configuration file's issuers and policy, built by
//! the facade's builder, and one [`BearerAuthLayer`](portcullis_tower::BearerAuthLayer)
//! through which every sub-request's original request goes.

mod decide;
mod original;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use portcullis::{Config, GatewayConfig, IssuerConfig, Portcullis};

use crate::cli::GatewayArgs;
use crate::dev_issuer::Stop;
use crate::error::CliError;
use crate::output::Report;

use self::decide::Gateway;

/// The log filter unless `RUST_LOG` says otherwise: portcullis's own events from `info`,
/// everyone else's warnings.
const DEFAULT_LOG: &str = "portcullis=info,warn";

/// Runs `portcullis gateway` until interrupted (or, with `--check`, checks and returns).
///
/// # Errors
/// A configuration that cannot be read or is refused, keys that cannot be had, an address
/// that cannot be bound.
pub(crate) async fn run(args: &GatewayArgs) -> Result<(), CliError> {
    let (mut config, source) = load(args)?;
    let mut gateway = config.gateway.take().unwrap_or_default();
    if let Some(listen) = args.listen {
        gateway.listen = listen;
    }
    if gateway.routes.is_empty() {
        return Err(CliError::new(format!(
            "{source}: no routes, so every request would be refused: add [[gateway.routes]] \
             (or --route 'METHOD PATTERN SCOPE...')"
        )));
    }
    let refused = |e: portcullis::ConfigError| CliError::caused(&source, &e);
    let policy = gateway.policy().map_err(refused)?;
    let headers = gateway.claim_headers().map_err(refused)?;
    if args.check {
        // The keys are not fetched (lazy start), nothing is bound; the builder still finds
        // an introspection endpoint through discovery and connects to a configured Redis.
        config.lazy_start = true;
        let checked = Portcullis::from_config(config)
            .policy(policy)
            .build()
            .await
            .map_err(refused)?;
        drop(checked);
        let mut report = Report::default();
        report.line(format!(
            "{source}: OK ({} routes, {} claim headers, listen {})",
            gateway.routes.len(),
            headers.len(),
            gateway.listen
        ));
        return report
            .print()
            .map_err(|e| CliError::caused("cannot write to standard output", &e));
    }
    init_logs();
    let layer = Portcullis::from_config(config)
        .policy(policy)
        .build()
        .await
        .map_err(refused)?;
    let listener = tokio::net::TcpListener::bind(gateway.listen)
        .await
        .map_err(|e| CliError::caused(format!("cannot listen on {}", gateway.listen), &e))?;
    let addr: SocketAddr = listener
        .local_addr()
        .map_err(|e| CliError::caused("cannot read the bound address", &e))?;
    let stop = Stop::listen().map_err(|e| CliError::caused("cannot listen for signals", &e))?;
    let state = Arc::new(Gateway::new(&layer, headers));
    let app = axum::Router::new().fallback(answer).with_state(state);
    tracing::info!(
        target: "portcullis::gateway",
        %addr, routes = gateway.routes.len(),
        "gateway listening: /auth/nginx, /auth/forward, /auth/envoy/..."
    );
    // The one line scripts (and the tests) read to learn the address.
    let mut report = Report::default();
    report.line(format!("listening on http://{addr}"));
    report
        .print()
        .map_err(|e| CliError::caused("cannot write to standard output", &e))?;
    axum::serve(listener, app)
        .with_graceful_shutdown(stop.wait())
        .await
        .map_err(|e| CliError::caused("the server stopped", &e))
}

async fn answer(State(gateway): State<Arc<Gateway>>, req: Request) -> Response<Body> {
    gateway.answer(req).await
}

/// The configuration, from the file or from the flags, and how to name it in errors.
fn load(args: &GatewayArgs) -> Result<(Config, String), CliError> {
    if let Some(path) = &args.config {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| CliError::caused(format!("cannot read {shown}"), &e))?;
        let config: Config =
            toml::from_str(&text).map_err(|e| CliError::caused(shown.clone(), &e))?;
        return Ok((config, shown));
    }
    let Some(issuer) = &args.issuer else {
        return Err(CliError::new(
            "give --config FILE, or --issuer URL --audience AUD with --route rules",
        ));
    };
    let mut config = Config::default();
    let mut trusted = IssuerConfig::new(issuer.clone());
    trusted.audiences.clone_from(&args.audiences);
    config.issuers.push(trusted);
    let mut gateway = GatewayConfig::default();
    gateway.routes.clone_from(&args.routes);
    gateway.claim_headers.clone_from(&args.claim_headers);
    config.gateway = Some(gateway);
    Ok((config, "the command line".to_owned()))
}

/// Logs to standard error: `RUST_LOG` when it is set and valid, else [`DEFAULT_LOG`]. No
/// event of portcullis holds a token.
fn init_logs() {
    use tracing_subscriber::filter::Targets;
    use tracing_subscriber::layer::SubscriberExt as _;

    let from_env = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty());
    let (filter, invalid) = match from_env.as_deref().map(str::parse::<Targets>) {
        Some(Ok(filter)) => (filter, None),
        Some(Err(e)) => (DEFAULT_LOG.parse().unwrap_or_default(), Some(e)),
        None => (DEFAULT_LOG.parse().unwrap_or_default(), None),
    };
    let subscriber = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(false),
        )
        .with(filter);
    // Fails only when a subscriber is already set: then that one logs.
    let _ = tracing::subscriber::set_global_default(subscriber);
    if let Some(e) = invalid {
        tracing::warn!(
            target: "portcullis::gateway",
            "RUST_LOG is not a filter ({e}): logging with {DEFAULT_LOG}"
        );
    }
}
