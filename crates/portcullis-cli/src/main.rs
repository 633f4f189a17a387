//! The `portcullis` command: verify and inspect OAuth bearer access tokens (JWT), list the keys
//! of a JWKS, and run a local authorization server for development.
//!
//! `portcullis gateway` answers the authorization sub-requests of nginx, Caddy, Traefik and
//! Envoy with the layer's decisions.
//!
//! `portcullis verify` runs the same validation as the portcullis layer (portcullis-core's
//! `Validator` over a portcullis-jwks key source) and says which rule refused a token. Exit
//! codes: 0 valid (or done), 1 refused (or, for `jwks`, no usable key), 2 usage or I/O error,
//! printed as one line on standard error. Colour only on a terminal, never with `NO_COLOR`.

mod cli;
mod decode;
mod dev_issuer;
mod error;
mod gateway;
mod input;
mod inspect;
mod introspection;
mod keys;
mod output;
mod revoke;
mod rules;
mod time;
mod verify;

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;
use clap::error::ErrorKind as ClapErrorKind;

use crate::cli::{Cli, Command};
use crate::error::{CliError, one_line};
use crate::output::Style;

/// Exit code of a refused token (or a JWKS without a usable key).
const REFUSED: u8 = 1;
/// Exit code of a usage or I/O error.
const FAILED: u8 = 2;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(&CliError::caused("cannot start the async runtime", &e)),
    };
    match runtime.block_on(run(&cli)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(REFUSED),
        Err(e) => fail(&e),
    }
}

/// Runs a command: `Ok(true)` for done or valid, `Ok(false)` for refused.
async fn run(cli: &Cli) -> Result<bool, CliError> {
    match &cli.command {
        Command::Verify(args) => match &args.introspect {
            Some(endpoint) => introspection::run(args, endpoint).await,
            None => verify::run(args).await,
        },
        Command::Inspect(args) => inspect::run(args).map(|()| true),
        Command::Jwks(args) => keys::run(args).await,
        Command::DevIssuer(args) => dev_issuer::run(args).await.map(|()| true),
        Command::Revoke(args) => revoke::run(args).await.map(|()| true),
        Command::Gateway(args) => gateway::run(args).await.map(|()| true),
    }
}

fn fail(error: &CliError) -> ExitCode {
    let style = Style::for_stderr();
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{} {error}", style.bad("error:"));
    ExitCode::from(FAILED)
}

/// Help and version as clap prints them; every other parse error on one line.
fn usage_error(error: &clap::Error) -> ExitCode {
    match error.kind() {
        ClapErrorKind::DisplayHelp | ClapErrorKind::DisplayVersion => {
            let _ = error.print();
            ExitCode::SUCCESS
        }
        ClapErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = error.print();
            ExitCode::from(FAILED)
        }
        _ => fail(&CliError::new(clap_one_line(&error.render().to_string()))),
    }
}

/// Folds clap's error text (message, context lines, tip, usage) into one line: the message
/// and its context, then a pointer to `--help`.
fn clap_one_line(rendered: &str) -> String {
    let mut parts = Vec::new();
    for line in rendered.lines() {
        let line = line.trim();
        if line.starts_with("Usage:") || line.starts_with("For more information") {
            break;
        }
        if !line.is_empty() {
            parts.push(line.strip_prefix("error: ").unwrap_or(line));
        }
    }
    format!("{} (see --help)", one_line(&parts.join(" ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_errors_fold_into_one_line() {
        let rendered = "error: the following required arguments were not provided:\n  \
                        <--issuer <URL>|--jwks <URL|FILE>>\n\nUsage: portcullis verify \
                        <--issuer <URL>|--jwks <URL|FILE>> [TOKEN|-]\n\nFor more information, \
                        try '--help'.\n";
        assert_eq!(
            clap_one_line(rendered),
            "the following required arguments were not provided: <--issuer <URL>|--jwks \
             <URL|FILE>> (see --help)"
        );
    }
}
