//! `portcullis verify`: the layer's own validation (portcullis-core's `Validator` over a
//! portcullis-jwks key source), and an explanation of every refusal.

use std::time::Duration;

use portcullis_core::dpop::Dpop;
use portcullis_core::{
    Algorithm, AlgorithmSet, AuthError, Claims, ErrorKind, KeyErrorKind, KeySet, ManualClock,
    Presentation, Scheme, TypPolicy, Validator, VerifyingKey,
};
use portcullis_jwks::{
    KeySource, RemoteJwks, RemoteJwksBuilder, SourceError, SourceErrorKind, StaticKeys,
};
use serde_json::{Value, json};

use crate::cli::VerifyArgs;
use crate::decode::{self, Unverified};
use crate::error::CliError;
use crate::input;
use crate::output::{Report, Style, print_json};
use crate::time::{self, describe, format_rfc3339, whole_seconds};

/// The HS* algorithms, the default allowlist with `--secret-env`.
const SYMMETRIC: AlgorithmSet =
    AlgorithmSet::from_slice(&[Algorithm::HS256, Algorithm::HS384, Algorithm::HS512]);

/// Where the keys came from, for the report and for hints.
struct Keys {
    source: std::sync::Arc<dyn KeySource>,
    /// Said in the report: `JWKS http://...`, `key file k.pem`, ...
    description: String,
    /// A key from --key or --secret-env without --kid: it matches only tokens without `kid`.
    single_without_kid: bool,
    /// The key is a shared secret (no thumbprint is ever shown for it).
    secret: bool,
}

/// Runs `portcullis verify`; `Ok(true)` when the token is valid, `Ok(false)` when refused.
///
/// # Errors
/// A usage or I/O error: no token, input that is not a JWT, keys that cannot be had, an
/// invalid configuration.
pub(crate) async fn run(args: &VerifyArgs) -> Result<bool, CliError> {
    let token = input::token(args.token.as_deref())?;
    let unverified = decode::decode(&token)?;
    let allowed: AlgorithmSet = if !args.algorithms.is_empty() {
        args.algorithms.iter().copied().collect()
    } else if args.secret_env.is_some() {
        SYMMETRIC
    } else {
        AlgorithmSet::ASYMMETRIC
    };
    let validator = validator(args, allowed)?;
    // A step-up that cannot be a route's rule is a usage error, found before any fetch.
    crate::rules::step_up(args)?;
    let keys = load_keys(args, allowed).await?;
    let now = args.at.unwrap_or_else(time::now_unix);

    // The layer's verifier, without its cache: one token, checked once.
    let verifier =
        portcullis_jwks::JwtVerifier::new(keys.source.clone(), validator.clone()).with_cache(None);
    let proof = match &args.dpop_proof {
        None => None,
        Some(proof) => Some(DpopRequest::of(args, proof.trim())?),
    };
    let mut result = match &proof {
        None => {
            portcullis_core::Verifier::verify(
                &verifier,
                &portcullis_core::Presentation::bearer(&token),
            )
            .await
        }
        Some(request) => {
            let rules = Dpop::builder()
                .clock(ManualClock::at(now))
                .build()
                .map_err(|e| CliError::caused("unusable DPoP rules", &e))?;
            let presentation = Presentation::new(Scheme::DPoP, &token)
                .with_request(&args.method, &request.path_and_query)
                .with_origin(&request.origin)
                .with_dpop_proof(&request.proof);
            rules.verify(&verifier, &presentation).verdict.await
        }
    };
    if let Ok(claims) = &result
        && let Err(e) = crate::rules::route_rules(args, claims, now)?
    {
        result = Err(e);
    }
    let snapshot = keys.source.snapshot();
    let context = Context {
        args,
        allowed,
        now,
        unverified: &unverified,
        keys: &keys,
        snapshot: &snapshot,
        proof: proof.as_ref(),
    };
    let style = Style::for_stdout();
    let printed = match &result {
        Ok(claims) if args.json => print_json(&context.valid_json(claims)),
        Ok(claims) => context.valid_report(style, claims).print(),
        Err(e) if args.json => print_json(&context.refused_json(e)),
        Err(e) => context.refused_report(style, e).print(),
    };
    printed.map_err(|e| CliError::caused("cannot write to standard output", &e))?;
    Ok(result.is_ok())
}

/// The request a DPoP proof was made for, from --url, and the proof read without verifying.
struct DpopRequest {
    origin: String,
    path_and_query: String,
    proof: String,
    unverified: Option<Unverified>,
}

impl DpopRequest {
    fn of(args: &VerifyArgs, proof: &str) -> Result<Self, CliError> {
        let url = args.url.as_deref().unwrap_or_default();
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .ok_or_else(|| CliError::new("--url must be an absolute http(s) URL"))?;
        let scheme_len = url.len() - rest.len();
        let path_at = rest.find(['/', '?']).map_or(url.len(), |i| scheme_len + i);
        let (origin, path) = url.split_at(path_at);
        if origin.len() <= scheme_len {
            return Err(CliError::new("--url has no host"));
        }
        let path_and_query = match path {
            "" => "/".to_owned(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_owned(),
        };
        Ok(DpopRequest {
            origin: origin.to_owned(),
            path_and_query,
            proof: proof.to_owned(),
            unverified: decode::decode(proof).ok(),
        })
    }

    fn claim(&self, name: &str) -> Option<String> {
        let claims = self.unverified.as_ref()?.claims()?;
        claims.get(name).map(shown)
    }
}

fn is_url(text: &str) -> bool {
    let lower = text.get(..8).unwrap_or(text).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

async fn load_keys(args: &VerifyArgs, allowed: AlgorithmSet) -> Result<Keys, CliError> {
    let kid = args.kid.as_deref();
    if let Some(var) = &args.secret_env {
        return secret_keys(var, allowed, kid);
    }
    if let Some(path) = &args.key {
        return key_file(path, allowed, kid);
    }
    let remote = |builder: RemoteJwksBuilder, from: String| async move {
        if allowed.has_symmetric() {
            return Err(CliError::new(
                "HS* algorithms verify with a shared secret, which portcullis never takes from a \
                 remote JWKS: give it with --secret-env VAR (or use a JWKS file)",
            ));
        }
        let context = format!("cannot get the keys of {from}");
        builder
            .allowed_algorithms(allowed)
            // One attempt: a command says at once what failed, rather than waiting out
            // the retries a server's start-up makes.
            .startup_deadline(Duration::ZERO)
            .build()
            .await
            .map_err(|e| {
                let e = match e.kind() {
                    SourceErrorKind::StartupDeadline { .. } => std::error::Error::source(&e)
                        .and_then(|last| last.downcast_ref::<SourceError>())
                        .unwrap_or(&e),
                    _ => &e,
                };
                let none_usable = match e.kind() {
                    SourceErrorKind::NoUsableKeys => true,
                    SourceErrorKind::InvalidJwks(key) => key.kind() == &KeyErrorKind::NoUsableKey,
                    _ => false,
                };
                if none_usable {
                    CliError::new(format!(
                        "{context}: the JWKS holds no usable key for the allowed algorithms ({})",
                        alg_list(allowed)
                    ))
                } else {
                    source_error(&context, e)
                }
            })
    };
    match (&args.jwks, args.issuer()) {
        (Some(jwks), _) if is_url(jwks) => {
            let source = remote(RemoteJwks::builder(jwks.as_str()), jwks.clone()).await?;
            Ok(Keys {
                source: std::sync::Arc::new(source),
                description: format!("JWKS {jwks}"),
                single_without_kid: false,
                secret: false,
            })
        }
        (Some(path), _) => {
            let path = std::path::Path::new(path);
            let text = input::text_file(path, "JWKS file")?;
            let load = KeySet::from_jwks(&text, allowed)
                .map_err(|e| CliError::new(format!("JWKS file {}: {e}", path.display())))?;
            let skipped = match load.skipped.len() {
                0 => String::new(),
                n => format!(
                    " ({n} of its keys skipped: `portcullis jwks {}` says why)",
                    path.display()
                ),
            };
            Ok(Keys {
                source: std::sync::Arc::new(StaticKeys::new(load.keys)),
                description: format!("JWKS file {}{skipped}", path.display()),
                single_without_kid: false,
                secret: false,
            })
        }
        (None, Some(issuer)) => {
            // A profile's template: the keys of every tenant, from the document that names it.
            let discovery = args
                .profile
                .and_then(|_| crate::rules::profile_config(args, issuer).key_discovery_url());
            let builder = match &discovery {
                Some(url) => RemoteJwks::discover(url.as_str()).discovered_issuer(issuer.as_str()),
                None => RemoteJwks::discover(issuer.as_str()),
            };
            let source = remote(builder, discovery.unwrap_or_else(|| issuer.clone())).await?;
            let url = source.jwks_url().unwrap_or_default();
            Ok(Keys {
                source: std::sync::Arc::new(source),
                description: format!("JWKS {url} (discovered from the issuer)"),
                single_without_kid: false,
                secret: false,
            })
        }
        // clap requires one of --issuer, --jwks, --key, --secret-env.
        (None, None) => Err(CliError::new(
            "no keys: give --issuer, --jwks, --key or --secret-env",
        )),
    }
}

/// One line for a key source that failed; the URL rule in the command's own terms.
fn source_error(context: &str, error: &SourceError) -> CliError {
    match error.kind() {
        SourceErrorKind::InsecureUrl => CliError::new(format!(
            "{context}: the URL must be https:// (http:// only for loopback hosts)"
        )),
        _ => CliError::caused(context, error),
    }
}

fn secret_keys(var: &str, allowed: AlgorithmSet, kid: Option<&str>) -> Result<Keys, CliError> {
    let secret = std::env::var_os(var)
        .ok_or_else(|| CliError::new(format!("environment variable {var} is not set")))?;
    let secret = secret.as_encoded_bytes();
    if secret.is_empty() {
        return Err(CliError::new(format!(
            "environment variable {var} is empty"
        )));
    }
    let wanted = allowed.intersection(SYMMETRIC);
    if wanted.is_empty() {
        return Err(CliError::new(
            "--secret-env verifies HS256, HS384 or HS512 tokens, and --alg allows none of them",
        ));
    }
    let mut keys = Vec::new();
    let mut refusal = None;
    for alg in wanted.iter() {
        // The error says the secret's length, never its bytes.
        match VerifyingKey::hmac(alg, secret) {
            Ok(key) => keys.push(match kid {
                Some(kid) => key.with_kid(kid),
                None => key,
            }),
            Err(e) => refusal = Some(e),
        }
    }
    if keys.is_empty() {
        let why = refusal.map(|e| e.to_string()).unwrap_or_default();
        return Err(CliError::new(format!(
            "the secret in {var} cannot verify any allowed algorithm: {why}"
        )));
    }
    let algs: Vec<&str> = keys
        .iter()
        .flat_map(|k| k.algorithms().iter())
        .map(Algorithm::as_str)
        .collect();
    Ok(Keys {
        source: std::sync::Arc::new(StaticKeys::new(KeySet::new(keys))),
        description: format!("HMAC secret from ${var} ({})", algs.join(", ")),
        single_without_kid: kid.is_none(),
        secret: true,
    })
}

fn key_file(
    path: &std::path::Path,
    allowed: AlgorithmSet,
    kid: Option<&str>,
) -> Result<Keys, CliError> {
    let bytes = input::file(path, "key file")?;
    let shown = path.display();
    let refused = |e: portcullis_core::KeyError| CliError::new(format!("key file {shown}: {e}"));
    let text = std::str::from_utf8(&bytes).ok().map(str::trim_start);
    let key = match text {
        Some(pem) if pem.starts_with("-----BEGIN") => {
            if pem.contains("PRIVATE KEY") {
                return Err(CliError::new(format!(
                    "key file {shown} holds a private key: give its public key \
                     (`openssl pkey -in {shown} -pubout`)"
                )));
            }
            VerifyingKey::from_pem(pem, allowed).map_err(refused)?
        }
        Some(json) if json.starts_with('{') => {
            let doc: Value = serde_json::from_str(json)
                .map_err(|_| CliError::new(format!("key file {shown} is not valid JSON")))?;
            if doc.get("keys").is_some() {
                return Err(CliError::new(format!(
                    "key file {shown} is a JWKS: use --jwks {shown}"
                )));
            }
            VerifyingKey::from_jwk_json(json, allowed).map_err(refused)?
        }
        _ => VerifyingKey::from_spki_der(&bytes, allowed).map_err(refused)?,
    };
    let key = match kid {
        Some(kid) => key.with_kid(kid),
        None => key,
    };
    let single_without_kid = key.kid().is_none();
    let secret = key.thumbprint().is_none();
    Ok(Keys {
        source: std::sync::Arc::new(StaticKeys::new(KeySet::new(vec![key]))),
        description: format!("key file {shown}"),
        single_without_kid,
        secret,
    })
}

fn validator(args: &VerifyArgs, allowed: AlgorithmSet) -> Result<Validator, CliError> {
    crate::rules::claim_rules(args)?
        .algorithms(allowed.iter())
        .typ(args.typ)
        .build()
        .map_err(|e| CliError::new(e.to_string()))
}

/// A refusal explained: the reason, the rule that failed, and what the token says about it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Refusal {
    pub(crate) code: &'static str,
    pub(crate) reason: String,
    pub(crate) rule: &'static str,
    pub(crate) requirement: String,
    pub(crate) detail: Option<String>,
    pub(crate) hint: Option<String>,
}

struct Context<'a> {
    args: &'a VerifyArgs,
    allowed: AlgorithmSet,
    now: i64,
    unverified: &'a Unverified,
    keys: &'a Keys,
    snapshot: &'a KeySet,
    proof: Option<&'a DpopRequest>,
}

/// A JSON value for a sentence, cut at 120 characters.
fn shown(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(120) {
        Some((cut, _)) => format!("{}...", text.get(..cut).unwrap_or_default()),
        None => text,
    }
}

fn alg_list(set: AlgorithmSet) -> String {
    let names: Vec<&str> = set.iter().map(Algorithm::as_str).collect();
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

fn quoted_list<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let items: Vec<String> = items.into_iter().map(|i| format!("\"{i}\"")).collect();
    items.join(", ")
}

impl Context<'_> {
    fn claim(&self, name: &str) -> Option<&Value> {
        self.unverified.claims().and_then(|c| c.get(name))
    }

    fn claim_time(&self, name: &str) -> Option<i64> {
        self.claim(name)
            .and_then(Value::as_f64)
            .and_then(whole_seconds)
    }

    fn header_str(&self, name: &str) -> Option<&str> {
        self.unverified.header.str(name)
    }

    fn checked_at(&self) -> String {
        let how = if self.args.at.is_some() {
            "--at"
        } else {
            "now"
        };
        format!("{} ({how})", format_rfc3339(self.now))
    }

    fn time_detail(&self, name: &str, relation: &str) -> Option<String> {
        let at = self.claim_time(name)?;
        Some(format!(
            "`{name}` is {}, {} {relation} the check time {} (leeway {} s)",
            format_rfc3339(at),
            time::human_duration(at.abs_diff(self.now)),
            format_rfc3339(self.now),
            self.args.leeway
        ))
    }

    fn kid_list(&self) -> String {
        let kids: Vec<String> = self
            .snapshot
            .iter()
            .map(|k| match k.kid() {
                Some(kid) => format!("\"{kid}\""),
                None => "(no kid)".to_owned(),
            })
            .collect();
        if kids.is_empty() {
            "none".to_owned()
        } else {
            kids.join(", ")
        }
    }

    /// The reason, the rule and the facts of a refusal.
    fn explain(&self, error: &AuthError) -> Refusal {
        let leeway = self.args.leeway;
        let alg = self.header_str("alg").unwrap_or("?");
        let (rule, requirement, detail, hint): (
            &'static str,
            String,
            Option<String>,
            Option<String>,
        ) = match error.kind() {
            ErrorKind::Malformed(part) => {
                let mut facts = vec![part.to_string()];
                facts.extend(self.unverified.encoding_notes.iter().cloned());
                for (what, object) in [
                    ("header", Some(&self.unverified.header)),
                    ("payload", self.unverified.claims()),
                ] {
                    if let Some(object) = object {
                        let repeated = object.repeated_names();
                        if !repeated.is_empty() {
                            facts.push(format!("the {what} repeats {}", quoted_list(repeated)));
                        }
                    }
                }
                (
                    "shape",
                    "a compact JWS: three strict base64url segments without padding, a JSON \
                         object header and payload, no member name twice at any depth"
                        .to_owned(),
                    Some(facts.join("; ")),
                    None,
                )
            }
            ErrorKind::TooLarge { limit } => (
                "size",
                format!("tokens of at most {limit} bytes"),
                Some(format!("the token is {} bytes", self.unverified.token_len)),
                None,
            ),
            ErrorKind::UnsupportedAlgorithm => (
                "alg",
                "`alg` names a JWS signature algorithm portcullis verifies; `none` never"
                    .to_owned(),
                Some(format!(
                    "`alg` is {}",
                    self.unverified
                        .header
                        .get("alg")
                        .map_or("absent".to_owned(), shown)
                )),
                (alg.eq_ignore_ascii_case("none")).then(|| {
                    "an unsigned token proves nothing: whoever holds it may have written it"
                        .to_owned()
                }),
            ),
            ErrorKind::DisallowedAlgorithm(a) => (
                "alg",
                format!(
                    "`alg` is one of the allowed algorithms: {}",
                    alg_list(self.allowed)
                ),
                Some(format!("`alg` is {a}")),
                Some(if a.is_symmetric() && self.args.secret_env.is_none() {
                    format!(
                        "an {a} token is verified with a shared secret: --secret-env VAR \
                             --alg {a}"
                    )
                } else {
                    format!("if the issuer really signs with {a}, allow it with --alg {a}")
                }),
            ),
            ErrorKind::UnknownCriticalHeader => (
                "crit",
                "no `crit` header member portcullis does not understand, no `b64: false`"
                    .to_owned(),
                Some(match self.unverified.header.get("crit") {
                    Some(crit) => format!("`crit` is {}", shown(crit)),
                    None => "`b64` is false (an unencoded payload, RFC 7797)".to_owned(),
                }),
                None,
            ),
            ErrorKind::UnknownKey => {
                let detail = match self.header_str("kid") {
                    Some(kid) => format!("`kid` is \"{kid}\"; the keys are {}", self.kid_list()),
                    None => format!(
                        "the token has no `kid`, and no key may verify {alg}; the keys are {}",
                        self.kid_list()
                    ),
                };
                let hint = if self.keys.single_without_kid && self.header_str("kid").is_some() {
                    Some(format!(
                        "the key given has no kid, so it matches only tokens without one (as \
                             in the layer); give it the token's with --kid {}",
                        self.header_str("kid").unwrap_or_default()
                    ))
                } else {
                    Some(
                        "the token is for other keys (another issuer or environment), or \
                              its key was retired"
                            .to_owned(),
                    )
                };
                (
                    "kid",
                    "the token's `kid` names a key of the key set (without `kid`, exactly \
                         one key may verify its `alg`)"
                        .to_owned(),
                    Some(detail),
                    hint,
                )
            }
            ErrorKind::AmbiguousKey => {
                let fitting = Algorithm::from_jose(alg).map_or(0, |a| {
                    self.snapshot
                        .iter()
                        .filter(|k| k.algorithms().contains(a))
                        .count()
                });
                (
                    "kid",
                    "a token without `kid` is checked only when exactly one key may verify \
                         its `alg` (never by trying each key)"
                        .to_owned(),
                    Some(format!(
                        "the token has no `kid`, and {fitting} keys may verify {alg}"
                    )),
                    None,
                )
            }
            ErrorKind::KeyAlgorithmMismatch(a) => {
                let kid = self.header_str("kid");
                let bound = self
                    .snapshot
                    .iter()
                    .filter(|k| k.kid() == kid)
                    .fold(AlgorithmSet::EMPTY, |set, k| set.union(k.algorithms()));
                (
                    "key_alg",
                    "the key named by `kid` is bound to the token's `alg` (its JWK `alg`, or \
                         its type and curve)"
                        .to_owned(),
                    Some(format!(
                        "`alg` is {a}; key \"{}\" may verify {}",
                        kid.unwrap_or_default(),
                        alg_list(bound.intersection(self.allowed))
                    )),
                    Some(
                        "an algorithm-confusion attempt, or a key published with the \
                              wrong `alg`"
                            .to_owned(),
                    ),
                )
            }
            ErrorKind::InvalidSignature => {
                let key = Algorithm::from_jose(alg)
                    .and_then(|a| self.snapshot.select(self.header_str("kid"), a).ok());
                let named = key.map(|k| self.describe_key(k, None));
                (
                    "signature",
                    "the signature verifies with the selected key".to_owned(),
                    named.map(|k| format!("checked with {k}")),
                    Some(
                        "the token was altered, or signed by another key under the same \
                              `kid`"
                            .to_owned(),
                    ),
                )
            }
            ErrorKind::Expired => (
                "exp",
                format!("`exp` plus the leeway ({leeway} s) is after the check time"),
                self.time_detail("exp", "before"),
                self.args.at.is_none().then(|| {
                    "to check an old token or a test vector as of its own time, use --at".to_owned()
                }),
            ),
            ErrorKind::NotYetValid => (
                "nbf",
                format!("`nbf` is at most the check time plus the leeway ({leeway} s)"),
                self.time_detail("nbf", "after"),
                None,
            ),
            ErrorKind::IssuedInFuture => (
                "iat",
                format!("`iat` is at most the check time plus the leeway ({leeway} s)"),
                self.time_detail("iat", "after"),
                self.args
                    .at
                    .is_none()
                    .then(|| "the issuer's clock or this machine's is wrong".to_owned()),
            ),
            ErrorKind::TooOld => (
                "max_age",
                "`iat` is within the maximum token age".to_owned(),
                self.time_detail("iat", "before"),
                None,
            ),
            ErrorKind::WrongIssuer => (
                "iss",
                "`iss` equals the configured issuer exactly (a trailing slash counts)".to_owned(),
                Some(format!(
                    "`iss` is {}; accepted: {}",
                    self.claim("iss").map_or("absent".to_owned(), shown),
                    quoted_list(self.args.issuers.iter().map(String::as_str))
                )),
                None,
            ),
            ErrorKind::WrongAudience => {
                let first = self.claim("aud").and_then(|aud| match aud {
                    Value::String(s) => Some(s.clone()),
                    Value::Array(items) => items.first().and_then(Value::as_str).map(str::to_owned),
                    _ => None,
                });
                (
                    "aud",
                    "`aud` (a string or an array) holds one of the accepted audiences".to_owned(),
                    Some(format!(
                        "`aud` is {}; accepted: {}",
                        self.claim("aud").map_or("absent".to_owned(), shown),
                        quoted_list(self.args.audiences.iter().map(String::as_str))
                    )),
                    first.map(|aud| {
                        format!(
                            "the token was minted for \"{aud}\"; if this API is that one, \
                                 add --audience {aud}"
                        )
                    }),
                )
            }
            ErrorKind::WrongType => {
                let accepted = match self.args.typ {
                    TypPolicy::RequireAccessToken => "only `at+jwt`",
                    TypPolicy::DangerIgnore => "any",
                    _ => "`at+jwt`, `JWT` or none",
                };
                let looks_like_id_token =
                    self.claim("nonce").is_some() || self.claim("at_hash").is_some();
                (
                    "typ",
                    format!(
                        "the header's `typ` is that of an access token (--typ {}: {accepted})",
                        self.args.typ.as_str()
                    ),
                    Some(format!(
                        "`typ` is {}",
                        self.unverified
                            .header
                            .get("typ")
                            .map_or("absent".to_owned(), shown)
                    )),
                    Some(if looks_like_id_token {
                        "this looks like an ID token (it has `nonce` or `at_hash`): send the \
                             access token instead"
                            .to_owned()
                    } else {
                        "--typ at+jwt-or-jwt also accepts `JWT` and no `typ`; --typ danger-ignore ignores it".to_owned()
                    }),
                )
            }
            ErrorKind::MissingClaim(name) => (
                "claims",
                format!("the token has `{name}`"),
                Some(format!("the token has no `{name}` claim")),
                (name == "aud")
                    .then(|| "an audience is checked because --audience was given".to_owned()),
            ),
            ErrorKind::InvalidClaim(name) => (
                "claims",
                format!(
                    "`{name}` has its registered type (a number for times, a string or \
                         array of strings for `aud`, strings for `iss` and `sub`)"
                ),
                Some(format!(
                    "`{name}` is {}",
                    self.claim(name).map_or("absent".to_owned(), shown)
                )),
                None,
            ),
            ErrorKind::Rejected(reason) => (
                "custom",
                "the custom validators accept the claims".to_owned(),
                Some(reason.to_string()),
                None,
            ),
            ErrorKind::InsufficientScope(requirement) => {
                let granted = self.claim_scopes();
                (
                    "scope",
                    format!("the token grants {requirement}"),
                    Some(format!(
                        "granted: {}",
                        if granted.is_empty() {
                            "none".to_owned()
                        } else {
                            granted.join(" ")
                        }
                    )),
                    None,
                )
            }
            ErrorKind::InsufficientUserAuthentication(refusal) => (
                "step_up",
                format!(
                    "the login is as strong and as recent as asked ({})",
                    refusal.required()
                ),
                Some(format!(
                    "acr: {}, auth_time: {}",
                    self.claim("acr").map_or("absent".to_owned(), shown),
                    self.claim("auth_time").map_or("absent".to_owned(), shown),
                )),
                None,
            ),
            ErrorKind::KeysUnavailable => (
                "keys",
                "the key source holds usable keys".to_owned(),
                Some("the key source has no usable key".to_owned()),
                None,
            ),
            ErrorKind::SenderConstrained => (
                "binding",
                "a bearer token has no `cnf`: a bound token needs its proof of possession"
                    .to_owned(),
                Some(format!(
                    "cnf: {}",
                    self.claim("cnf").map_or_else(|| "?".to_owned(), shown)
                )),
                Some(
                    "a DPoP-bound token (cnf.jkt) is checked with its proof: --dpop-proof \
                     PROOF --method M --url URL"
                        .to_owned(),
                ),
            ),
            ErrorKind::NotDpopBound => (
                "binding",
                "a token presented with a DPoP proof is DPoP-bound (`cnf.jkt`)".to_owned(),
                Some("the token has no cnf.jkt: it is a bearer token".to_owned()),
                Some("check it without --dpop-proof".to_owned()),
            ),
            ErrorKind::ProofKeyMismatch => (
                "binding",
                "the proof is signed by the key `cnf.jkt` names".to_owned(),
                Some(format!(
                    "cnf: {}, the proof's key: {}",
                    self.claim("cnf").map_or_else(|| "?".to_owned(), shown),
                    self.proof_jwk_thumbprint()
                        .unwrap_or_else(|| "?".to_owned())
                )),
                None,
            ),
            ErrorKind::InvalidProof(proof) => self.explain_proof(*proof),
            ErrorKind::ClaimRuleFailed(rule) => (
                "profile",
                format!("the claims satisfy {rule}"),
                self.args
                    .profile
                    .map(|p| format!("a rule of the profile {p} (or of the issuer)")),
                None,
            ),
            ErrorKind::TenantNotAllowed => (
                "tenant",
                format!(
                    "the token's tenant is one of --tenant: {}",
                    quoted_list(self.args.tenants.iter().map(String::as_str))
                ),
                Some(format!(
                    "`tid` is {}",
                    self.claim("tid").map_or("absent".to_owned(), shown)
                )),
                None,
            ),
            _ => ("other", error.to_string(), None, None),
        };
        Refusal {
            code: error.code(),
            reason: error.to_string(),
            rule,
            requirement,
            detail,
            hint,
        }
    }

    /// Why a DPoP proof was refused, with what the proof says (read without verifying).
    fn explain_proof(
        &self,
        error: portcullis_core::ProofError,
    ) -> (&'static str, String, Option<String>, Option<String>) {
        use portcullis_core::ProofError as P;
        let proof = self.proof;
        let said = |name: &str| {
            proof
                .and_then(|p| p.claim(name))
                .unwrap_or_else(|| "absent".to_owned())
        };
        let url = self.args.url.as_deref().unwrap_or_default();
        let (requirement, detail, hint) = match error {
            P::WrongMethod => (
                "`htm` is the request's method".to_owned(),
                Some(format!(
                    "htm: {}, --method: {}",
                    said("htm"),
                    self.args.method
                )),
                None,
            ),
            P::WrongUri => (
                "`htu` is the request's public URL without query and fragment".to_owned(),
                Some(format!("htu: {}, --url: {url}", said("htu"))),
                Some(
                    "behind a proxy, the public URL is what clients address (the layer's \
                     public_origin), not the internal one"
                        .to_owned(),
                ),
            ),
            P::TooOld | P::IssuedInFuture => (
                format!(
                    "`iat` within {}s before and {}s after the check",
                    portcullis_core::dpop::DEFAULT_PROOF_MAX_AGE.as_secs(),
                    portcullis_core::dpop::DEFAULT_PROOF_MAX_SKEW.as_secs()
                ),
                Some(format!(
                    "iat: {}, checked at {}",
                    said("iat"),
                    self.checked_at()
                )),
                Some("--at TIME checks as of another time".to_owned()),
            ),
            P::WrongTokenHash => (
                "`ath` is base64url(SHA-256(token))".to_owned(),
                Some(format!("ath: {}", said("ath"))),
                Some("the proof was made for another token".to_owned()),
            ),
            other => (other.to_string(), None, None),
        };
        ("dpop proof", requirement, detail, hint)
    }

    /// The RFC 7638 thumbprint of the proof's `jwk`, as the proof names it.
    fn proof_jwk_thumbprint(&self) -> Option<String> {
        let header = &self.proof?.unverified.as_ref()?.header;
        let jwk: portcullis_core::Jwk = serde_json::from_value(header.get("jwk")?.clone()).ok()?;
        jwk.thumbprint_sha256()
    }

    /// The scopes the (unverified) claims name: `scope` split on spaces, else `scp`.
    fn claim_scopes(&self) -> Vec<String> {
        match (self.claim("scope"), self.claim("scp")) {
            (Some(Value::String(s)), _) => s.split_whitespace().map(str::to_owned).collect(),
            (_, Some(Value::Array(items))) => items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            (_, Some(Value::String(s))) => s.split_whitespace().map(str::to_owned).collect(),
            _ => Vec::new(),
        }
    }

    fn describe_key(&self, key: &VerifyingKey, alg: Option<Algorithm>) -> String {
        let mut parts = vec![
            key.kid()
                .map_or("no kid".to_owned(), |k| format!("kid \"{k}\"")),
        ];
        if let Some(alg) = alg {
            parts.push(alg.to_string());
        }
        match key.thumbprint() {
            Some(thumbprint) => parts.push(format!("thumbprint {thumbprint}")),
            None if self.keys.secret => {
                parts.push("a shared secret (never shown, nor a hash of it)".to_owned());
            }
            None => {}
        }
        parts.join(", ")
    }

    fn verifying_key(&self, claims: &Claims) -> Option<&VerifyingKey> {
        // The same choice the validator made: by `kid`, else the one key fitting `alg`.
        self.snapshot
            .select(claims.key_id(), claims.algorithm()?)
            .ok()
    }

    fn issuer_note(&self) -> &'static str {
        if !self.args.issuers.is_empty() {
            "checked"
        } else {
            "not checked: no --issuer"
        }
    }

    fn audience_note(&self) -> String {
        if self.args.audiences.is_empty() {
            "not checked: no --audience".to_owned()
        } else {
            format!("accepted: {}", self.args.audiences.join(", "))
        }
    }

    fn valid_report(&self, style: Style, claims: &Claims) -> Report {
        let mut r = Report::default();
        r.line(format!(
            "{}  signature and claims verified",
            style.good("VALID")
        ));
        let key = match self.verifying_key(claims) {
            Some(key) => self.describe_key(key, claims.algorithm()),
            None => claims
                .algorithm()
                .map_or_else(|| "(none)".to_owned(), |alg| alg.to_string()),
        };
        r.field(style, "key", key);
        r.field(style, "keys from", &self.keys.description);
        r.field(
            style,
            "issuer",
            format!(
                "{} ({})",
                claims.issuer().unwrap_or("(none)"),
                self.issuer_note()
            ),
        );
        let audience: Vec<&str> = claims.audience().collect();
        r.field(
            style,
            "audience",
            format!(
                "{} ({})",
                if audience.is_empty() {
                    "(none)".to_owned()
                } else {
                    audience.join(", ")
                },
                self.audience_note()
            ),
        );
        r.subject_client_scopes(style, claims, &self.args.required_scopes);
        let typ = self.header_str("typ").unwrap_or("(none)");
        r.field(style, "type", typ);
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
        r.line(style.bold("claims"));
        // The verified payload, in its own member order.
        match serde_json::from_str::<decode::Object>(claims.as_json()) {
            Ok(object) => r.indented(&object.pretty()),
            Err(_) => r.indented(claims.as_json()),
        }
        r
    }

    fn valid_json(&self, claims: &Claims) -> Value {
        let key = self.verifying_key(claims);
        let claims_value: Value = serde_json::from_str(claims.as_json()).unwrap_or(Value::Null);
        let exp = claims.expires_at().and_then(whole_seconds);
        json!({
            "valid": true,
            "checked_at": self.now,
            "key": {
                "kid": claims.key_id(),
                "alg": claims.algorithm().map(Algorithm::as_str),
                "thumbprint": key.and_then(VerifyingKey::thumbprint),
            },
            "keys_from": self.keys.description,
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
            "claims": claims_value,
        })
    }

    fn refused_report(&self, style: Style, error: &AuthError) -> Report {
        let refusal = self.explain(error);
        let mut r = Report::default();
        r.line(format!(
            "{}  {} ({})",
            style.bad("REFUSED"),
            refusal.reason,
            refusal.code
        ));
        r.field(
            style,
            "rule",
            format!("{}: {}", refusal.rule, refusal.requirement),
        );
        if let Some(detail) = &refusal.detail {
            r.field(style, "detail", detail);
        }
        if let Some(hint) = &refusal.hint {
            r.field(style, "hint", hint);
        }
        r.field(style, "keys from", &self.keys.description);
        r.field(style, "checked at", self.checked_at());
        r.line(format!(
            "{} {}",
            style.bold("header"),
            style.warn("(UNVERIFIED)")
        ));
        r.indented(&self.unverified.header.pretty());
        match self.unverified.claims() {
            Some(claims) => {
                r.line(format!(
                    "{} {}",
                    style.bold("claims"),
                    style.warn("(UNVERIFIED)")
                ));
                r.indented(&claims.pretty());
            }
            None => r.line(format!(
                "{} the payload is not a JSON object",
                style.bold("claims")
            )),
        }
        r
    }

    fn refused_json(&self, error: &AuthError) -> Value {
        let refusal = self.explain(error);
        json!({
            "valid": false,
            "checked_at": self.now,
            "error": {
                "code": refusal.code,
                "reason": refusal.reason,
                "rule": refusal.rule,
                "requirement": refusal.requirement,
                "detail": refusal.detail,
                "hint": refusal.hint,
            },
            "keys_from": self.keys.description,
            "header": self.unverified.header.to_value(),
            "unverified_claims": self.unverified.claims().map(decode::Object::to_value),
        })
    }
}
