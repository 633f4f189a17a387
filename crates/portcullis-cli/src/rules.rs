//! The claim rules of the command line, shared by JWT verification and introspection.

use std::time::Duration;

use portcullis::IssuerConfig;
use portcullis_core::{ManualClock, Validator, ValidatorBuilder};

use crate::cli::VerifyArgs;
use crate::error::CliError;

/// The claim rules of the command line:
/// `--leeway`, `--issuer`, `--audience`, `--at`. Without `--issuer` or `--audience` that check
/// is skipped, and the report says so.
pub(crate) fn claim_rules(args: &VerifyArgs) -> Result<ValidatorBuilder, CliError> {
    if args.leeway > 600 {
        return Err(CliError::new("--leeway must be at most 600 seconds"));
    }
    let mut builder = Validator::builder().leeway(Duration::from_secs(args.leeway));
    if let Some(at) = args.at {
        builder = builder.clock(ManualClock::at(at));
    }
    if let (Some(profile), Some(issuer)) = (args.profile, args.issuer()) {
        return profile
            .apply(&profile_config(args, issuer))
            .issuer_rules(builder)
            .map_err(|e| CliError::new(e.to_string()));
    }
    if args.issuers.is_empty() {
        builder = builder.danger_accept_any_issuer();
    }
    for issuer in &args.issuers {
        builder = builder.issuer(issuer.as_str());
    }
    if args.audiences.is_empty() {
        builder = builder.danger_accept_any_audience();
    }
    for audience in &args.audiences {
        builder = builder.audience(audience.as_str());
    }
    Ok(builder)
}

/// The issuer's configuration that `--profile` fills in: `--issuer` (the first is `issuer`,
/// the others are accepted beside it), `--audience`, `--tenant`, `--scope-prefix`.
pub(crate) fn profile_config(args: &VerifyArgs, issuer: &str) -> IssuerConfig {
    let mut config = IssuerConfig::new(issuer).tenants(args.tenants.iter().cloned());
    for other in args.issuers.iter().skip(1) {
        config = config.also_issuer(other.clone());
    }
    for audience in &args.audiences {
        config = config.audience(audience.clone());
    }
    if let Some(prefix) = &args.scope_prefix {
        config = config.scope_prefix(prefix.clone());
    }
    config
}
