//! `portcullis verify --introspect URL`: what the authorization server's RFC 7662 endpoint says
//! about a token (opaque or not), checked with the layer's own claim rules.

use portcullis_core::{AuthError, Claims, ErrorKind, Validator};
use portcullis_introspect::{
    AuthMethod, ClientSecret, IntrospectError, IntrospectErrorKind, Introspector,
};
use serde_json::{Value, json};

use crate::cli::VerifyArgs;
use crate::decode;
use crate::error::CliError;
use crate::output::{Report, Style, print_json};
use crate::time::{self, describe, format_rfc3339, whole_seconds};

/// Runs `portcullis verify --introspect`; `Ok(true)` when the token is active and passes the
/// rules, `Ok(false)` when refused.
///
/// # Errors
/// A usage or I/O error: no client secret, an unusable endpoint, or an endpoint that gives no
/// verdict (down, refusing the client credentials, answering something else than RFC 7662).
pub(crate) async fn run(args: &VerifyArgs, endpoint: &str) -> Result<bool, CliError> {
    let token = &crate::input::token(args.token.as_deref())?;
    // clap requires both with --introspect.
    let (Some(client_id), Some(var)) = (&args.client_id, &args.client_secret_env) else {
        return Err(CliError::new(
            "--introspect needs --client-id and --client-secret-env",
        ));
    };
    crate::rules::step_up(args)?;
    let secret = ClientSecret::from_env(var).map_err(|e| CliError::new(e.to_string()))?;
    let method = if args.client_secret_post {
        AuthMethod::ClientSecretPost
    } else {
        AuthMethod::ClientSecretBasic
    };
    let introspector = Introspector::builder(endpoint, rules(args)?)
        .client_credentials(client_id.as_str(), secret, method)
        .cache_entries(0)
        .build()
        .await
        .map_err(|e| failed(endpoint, &e))?;
    let answer = introspector
        .introspect_once(token)
        .await
        .map_err(|e| failed(endpoint, &e))?;
    let mut verdict = answer.verdict;
    if let Ok(claims) = &verdict
        && let Err(e) =
            crate::rules::route_rules(args, claims, args.at.unwrap_or_else(time::now_unix))?
    {
        verdict = Err(e);
    }
    let shown = Shown {
        args,
        now: args.at.unwrap_or_else(time::now_unix),
        endpoint: format!("{endpoint} (client {client_id}, {method})"),
        response: serde_json::from_str(&answer.response).ok(),
    };
    let style = Style::for_stdout();
    let printed = match &verdict {
        Ok(claims) if args.json => print_json(&shown.valid_json(claims)),
        Ok(claims) => shown.valid_report(style, claims).print(),
        Err(e) if args.json => print_json(&shown.refused_json(e)),
        Err(e) => shown.refused_report(style, e).print(),
    };
    printed.map_err(|e| CliError::caused("cannot write to standard output", &e))?;
    Ok(verdict.is_ok())
}

/// The claim rules: `--issuer`, `--audience`, `--leeway`, `--at`, as for a JWT.
fn rules(args: &VerifyArgs) -> Result<Validator, CliError> {
    crate::rules::claim_rules(args)?
        .build()
        .map_err(|e| CliError::new(e.to_string()))
}

/// One line for an endpoint that gave no verdict, with a hint for a configuration error.
fn failed(endpoint: &str, error: &IntrospectError) -> CliError {
    let context = format!("introspection at {endpoint} failed");
    match error.kind() {
        IntrospectErrorKind::ClientRejected { .. } => CliError::new(format!(
            "{context}: {error}; check --client-id, the secret in --client-secret-env, and \
             whether the server wants --client-secret-post"
        )),
        _ => CliError::caused(context, error),
    }
}

struct Shown<'a> {
    args: &'a VerifyArgs,
    now: i64,
    endpoint: String,
    /// The endpoint's response, in its own member order (absent for a token refused before
    /// any call).
    response: Option<decode::Object>,
}

impl Shown<'_> {
    fn checked_at(&self) -> String {
        let how = if self.args.at.is_some() {
            "--at"
        } else {
            "now"
        };
        format!("{} ({how})", format_rfc3339(self.now))
    }

    fn note(checked: bool, missing: &str) -> String {
        if checked {
            "checked".to_owned()
        } else {
            format!("not checked: no {missing}")
        }
    }

    fn valid_report(&self, style: Style, claims: &Claims) -> Report {
        let mut r = Report::default();
        r.line(format!(
            "{}  active, and the claims pass the rules (introspection)",
            style.good("VALID")
        ));
        r.field(style, "endpoint", &self.endpoint);
        r.field(
            style,
            "issuer",
            format!(
                "{} ({})",
                claims.issuer().unwrap_or("(none)"),
                Self::note(!self.args.issuers.is_empty(), "--issuer")
            ),
        );
        let audience: Vec<&str> = claims.audience().collect();
        let accepted = if self.args.audiences.is_empty() {
            "not checked: no --audience".to_owned()
        } else {
            format!("accepted: {}", self.args.audiences.join(", "))
        };
        let audience = if audience.is_empty() {
            "(none)".to_owned()
        } else {
            audience.join(", ")
        };
        r.field(style, "audience", format!("{audience} ({accepted})"));
        r.subject_client_scopes(style, claims, &self.args.required_scopes);
        for (label, value) in [
            ("issued", claims.issued_at()),
            ("not before", claims.not_before()),
            ("expires", claims.expires_at()),
        ] {
            if let Some(at) = value.and_then(whole_seconds) {
                r.field(style, label, describe(at, self.now));
            }
        }
        r.field(style, "checked at", self.checked_at());
        self.response_lines(style, &mut r);
        r
    }

    fn refused_report(&self, style: Style, error: &AuthError) -> Report {
        let mut r = Report::default();
        r.line(format!(
            "{}  {} ({})",
            style.bad("REFUSED"),
            error,
            error.code()
        ));
        if let Some(hint) = hint(error) {
            r.field(style, "hint", hint);
        }
        r.field(style, "endpoint", &self.endpoint);
        r.field(style, "checked at", self.checked_at());
        self.response_lines(style, &mut r);
        r
    }

    fn response_lines(&self, style: Style, r: &mut Report) {
        if let Some(response) = &self.response {
            r.line(style.bold("response"));
            r.indented(&response.pretty());
        }
    }

    fn valid_json(&self, claims: &Claims) -> Value {
        let exp = claims.expires_at().and_then(whole_seconds);
        json!({
            "valid": true,
            "checked_at": self.now,
            "introspection": self.endpoint,
            "issuer": claims.issuer(),
            "issuer_checked": !self.args.issuers.is_empty(),
            "audience": claims.audience().collect::<Vec<_>>(),
            "audience_checked": !self.args.audiences.is_empty(),
            "subject": claims.subject(),
            "client_id": claims.client_id(),
            "scopes": claims.scopes().iter().collect::<Vec<_>>(),
            "issued_at": claims.issued_at().and_then(whole_seconds),
            "not_before": claims.not_before().and_then(whole_seconds),
            "expires_at": exp,
            "expires_in": exp.map(|e| e.saturating_sub(self.now)),
            "response": self.response.as_ref().map(decode::Object::to_value),
        })
    }

    fn refused_json(&self, error: &AuthError) -> Value {
        json!({
            "valid": false,
            "checked_at": self.now,
            "error": {
                "code": error.code(),
                "reason": error.to_string(),
                "hint": hint(error),
            },
            "introspection": self.endpoint,
            "response": self.response.as_ref().map(decode::Object::to_value),
        })
    }
}

fn hint(error: &AuthError) -> Option<&'static str> {
    Some(match error.kind() {
        ErrorKind::Inactive => {
            "the server does not know this token, or it was revoked, has expired, or was \
             issued to be used elsewhere"
        }
        ErrorKind::WrongAudience => "the token was minted for another audience (see `aud`)",
        ErrorKind::WrongIssuer => "`iss` is not the --issuer given",
        ErrorKind::WrongType => {
            "`token_type` is not Bearer: a sender-constrained (DPoP) or refresh token"
        }
        ErrorKind::Malformed(_) | ErrorKind::TooLarge { .. } => {
            "not something a bearer header can carry, so it was not sent"
        }
        _ => return None,
    })
}
