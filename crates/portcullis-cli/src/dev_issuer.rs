//! `portcullis dev-issuer`: the testkit authorization server, run for local development.

use std::io::Write as _;

use portcullis_core::{Algorithm, Jwk};
use portcullis_testkit::{TestIssuer, TestKey};
use serde_json::json;

use crate::cli::DevIssuerArgs;
use crate::error::CliError;
use crate::output::{Report, Style};

/// The client the testkit issuer registers by default.
const CLIENT_ID: &str = "client-1";
/// Its secret: a fixed, public development credential, not a secret of anyone's.
const CLIENT_SECRET: &str = "secret-1";

/// Runs `portcullis dev-issuer` until interrupted.
///
/// # Errors
/// A non-loopback address, an HS* algorithm, or an address that cannot be bound.
pub(crate) async fn run(args: &DevIssuerArgs) -> Result<(), CliError> {
    if !args.listen.ip().is_loopback() {
        return Err(CliError::new(format!(
            "--listen {}: the dev issuer listens on loopback addresses only (127.0.0.1, [::1]): \
             it signs a token for anyone who asks",
            args.listen
        )));
    }
    if args.alg.is_symmetric() {
        return Err(CliError::new(format!(
            "--alg {}: the dev issuer signs with an asymmetric key, whose public half its JWKS \
             publishes (a shared secret would have to be handed out)",
            args.alg
        )));
    }
    let scope = if args.scopes.is_empty() {
        "read write".to_owned()
    } else {
        args.scopes.join(" ")
    };
    let key = TestKey::generate(args.alg)
        .with_kid(format!("dev-{}", args.alg.as_str().to_ascii_lowercase()));
    let issuer = TestIssuer::builder()
        .key(key.clone())
        .audience(&args.audience)
        .default_scope(&scope)
        .token_lifetime(args.expires_in)
        .listen(args.listen)
        .try_start()
        .await
        .map_err(|e| CliError::caused(format!("cannot listen on {}", args.listen), &e))?;
    // Listening for the stop signals before anything is printed: a script that reads the
    // banner and at once sends SIGINT must stop the issuer, not kill it mid-way.
    let stop = Stop::listen().map_err(|e| CliError::caused("cannot listen for signals", &e))?;
    let sample = issuer.token().scope(&scope).sign();
    let thumbprint = serde_json::from_value::<Jwk>(key.public_jwk())
        .ok()
        .and_then(|jwk| jwk.thumbprint_sha256())
        .unwrap_or_default();
    let banner = Banner {
        issuer: &issuer,
        args,
        alg: args.alg,
        kid: key.kid(),
        thumbprint: &thumbprint,
        scope: &scope,
        sample: &sample,
    };
    if args.json {
        let mut report = Report::default();
        report.line(banner.json().to_string());
        report
            .print()
            .map_err(|e| CliError::caused("cannot write to standard output", &e))?;
    } else {
        banner
            .report(Style::for_stdout())
            .print()
            .map_err(|e| CliError::caused("cannot write to standard output", &e))?;
    }
    let _ = std::io::stdout().flush();
    stop.wait().await;
    issuer.shutdown().await;
    Ok(())
}

struct Banner<'a> {
    issuer: &'a TestIssuer,
    args: &'a DevIssuerArgs,
    alg: Algorithm,
    kid: &'a str,
    thumbprint: &'a str,
    scope: &'a str,
    sample: &'a str,
}

impl Banner<'_> {
    fn json(&self) -> serde_json::Value {
        json!({
            "issuer": self.issuer.issuer(),
            "jwks_uri": self.issuer.jwks_url(),
            "token_endpoint": self.issuer.token_url(),
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "audience": self.args.audience,
            "scope": self.scope,
            "expires_in": self.args.expires_in,
            "key": { "kid": self.kid, "alg": self.alg.as_str(), "thumbprint": self.thumbprint },
            "sample_token": self.sample,
        })
    }

    fn report(&self, style: Style) -> Report {
        let issuer = self.issuer.issuer();
        let mut r = Report::default();
        r.line(format!(
            "{}  a local authorization server: it signs a token for anyone who asks, so for \
             development only",
            style.warn("DEV ISSUER")
        ));
        r.field(style, "issuer", &issuer);
        r.field(style, "jwks", self.issuer.jwks_url());
        r.field(
            style,
            "token",
            format!(
                "{} (client_credentials, client {CLIENT_ID}, secret {CLIENT_SECRET})",
                self.issuer.token_url()
            ),
        );
        r.field(
            style,
            "key",
            format!(
                "kid \"{}\", {}, thumbprint {}",
                self.kid, self.alg, self.thumbprint
            ),
        );
        r.field(
            style,
            "tokens",
            format!(
                "aud \"{}\", scope \"{}\", expire in {} s",
                self.args.audience, self.scope, self.args.expires_in
            ),
        );
        r.line(style.bold("sample token"));
        r.line(self.sample);
        r.line(style.bold("try"));
        r.line(format!(
            "  portcullis verify --issuer {issuer} --audience {} <token>",
            self.args.audience
        ));
        let one_scope = self.scope.split_whitespace().next().unwrap_or("read");
        r.line(format!(
            "  curl -s -u {CLIENT_ID}:{CLIENT_SECRET} -d grant_type=client_credentials \
             -d scope={one_scope} {}",
            self.issuer.token_url()
        ));
        r.line(style.dim("Ctrl-C stops it."));
        r
    }
}

/// The signals that stop the dev issuer and the gateway: SIGINT (Ctrl-C) and SIGTERM.
#[cfg(unix)]
pub(crate) struct Stop {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Stop {
    pub(crate) fn listen() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Stop {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    pub(crate) async fn wait(mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

/// Ctrl-C, elsewhere.
#[cfg(not(unix))]
pub(crate) struct Stop;

#[cfg(not(unix))]
impl Stop {
    pub(crate) fn listen() -> std::io::Result<Self> {
        Ok(Stop)
    }

    pub(crate) async fn wait(self) {
        let _ = tokio::signal::ctrl_c().await;
    }
}
