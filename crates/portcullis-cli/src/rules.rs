//! The claim rules of the command line, shared by JWT verification and introspection.

use std::time::Duration;

use portcullis::IssuerConfig;
use portcullis_core::{
    AuthError, Claims, ManualClock, ScopeRequirement, StepUp, Validator, ValidatorBuilder,
};

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

/// What a route would ask of the token beyond the issuer's rules: `--require-scope`, then a
/// step-up (`--acr-value`, `--max-auth-age`) judged at `now`, as the layer checks them.
///
/// # Errors
/// The outer `Err`: a step-up that cannot be a route's rule (a usage error). The inner
/// `Err`: the first refusal, [`ErrorKind::InsufficientUserAuthentication`] before
/// [`ErrorKind::InsufficientScope`] (the layer's order).
///
/// [`ErrorKind::InsufficientUserAuthentication`]: portcullis_core::ErrorKind::InsufficientUserAuthentication
/// [`ErrorKind::InsufficientScope`]: portcullis_core::ErrorKind::InsufficientScope
pub(crate) fn route_rules(
    args: &VerifyArgs,
    claims: &Claims,
    now: i64,
) -> Result<Result<(), AuthError>, CliError> {
    if let Some(step_up) = step_up(args)? {
        #[allow(clippy::cast_precision_loss)] // Unix seconds are far below 2^53.
        if let Err(e) = step_up.check(claims, now as f64) {
            return Ok(Err(e));
        }
    }
    if !args.required_scopes.is_empty() {
        let wanted = args
            .required_scopes
            .iter()
            .flat_map(|s| s.split_whitespace());
        if let Err(e) = ScopeRequirement::all_of(wanted).check(claims.scopes()) {
            return Ok(Err(e));
        }
    }
    Ok(Ok(()))
}

/// The step-up of `--acr-value` and `--max-auth-age`, if any.
///
/// # Errors
/// A usage error for a step-up that cannot be a route's rule.
pub(crate) fn step_up(args: &VerifyArgs) -> Result<Option<StepUp>, CliError> {
    let step_up = match (args.acr_values.is_empty(), args.max_auth_age) {
        (true, None) => return Ok(None),
        (true, Some(age)) => StepUp::max_age(Duration::from_secs(age)),
        (false, age) => {
            let acr = StepUp::acr(args.acr_values.iter().cloned());
            match age {
                Some(age) => acr.and_max_age(Duration::from_secs(age)),
                None => acr,
            }
        }
    };
    step_up
        .validated()
        .map(Some)
        .map_err(|e| CliError::new(format!("--acr-value / --max-auth-age: {e}")))
}
