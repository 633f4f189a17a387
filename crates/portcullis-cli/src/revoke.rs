//! `portcullis revoke`: an entry in the deny list the replicas share through Redis.

use std::time::Duration;

use portcullis_core::revocation::RevocationKey;
use portcullis_redis::{RedisRevocations, RedisStore};

use crate::cli::{RevokeArgs, RevokeWhat};
use crate::error::CliError;
use crate::output::Report;
use crate::{decode, input, time};

/// What is revoked, resolved from the arguments.
#[derive(Debug, PartialEq, Eq)]
enum Entry {
    Token {
        issuer: String,
        jti: String,
        expires_at: u64,
    },
    Subject {
        issuer: String,
        subject: String,
        before: u64,
        expires_at: u64,
    },
}

fn unix(value: i64, what: &str) -> Result<u64, CliError> {
    u64::try_from(value).map_err(|_| CliError::new(format!("{what} is before 1970")))
}

/// The entry the arguments name, at `now`.
fn entry(what: &RevokeWhat, now: i64) -> Result<Entry, CliError> {
    match what {
        RevokeWhat::Jti {
            issuer,
            jti,
            expires_at,
        } => Ok(Entry::Token {
            issuer: issuer.clone(),
            jti: jti.clone(),
            expires_at: unix(*expires_at, "--expires-at")?,
        }),
        RevokeWhat::Token { token } => {
            let token = input::token(token.as_deref())?;
            let decoded = decode::decode(&token)?;
            let claims = decoded
                .claims()
                .ok_or_else(|| CliError::new("the token's payload is not a JSON object"))?;
            let text = |name: &str| {
                claims.str(name).map(str::to_owned).ok_or_else(|| {
                    CliError::new(format!(
                        "the token has no `{name}` string: revoke it by subject instead"
                    ))
                })
            };
            let issuer = text("iss")?;
            let jti = text("jti")?;
            let exp = claims
                .number("exp")
                .and_then(time::whole_seconds)
                .ok_or_else(|| CliError::new("the token has no numeric `exp`"))?;
            Ok(Entry::Token {
                issuer,
                jti,
                expires_at: unix(exp, "the token's `exp`")?,
            })
        }
        RevokeWhat::Subject {
            issuer,
            subject,
            before,
            max_token_lifetime,
        } => {
            // "Now" covers every token issued up to this second.
            let before = unix(before.unwrap_or(now + 1), "--before")?;
            Ok(Entry::Subject {
                issuer: issuer.clone(),
                subject: subject.clone(),
                before,
                expires_at: before.saturating_add(*max_token_lifetime),
            })
        }
    }
}

/// Connects to the deployment's Redis, writes the entry, and says what was done.
///
/// # Errors
/// Arguments that name no entry, an entry already expired, no URL in the variable, or a
/// Redis that cannot be reached or refuses the write (never with its password).
pub(crate) async fn run(args: &RevokeArgs) -> Result<(), CliError> {
    let now = time::now_unix();
    let entry = entry(&args.what, now)?;
    let expires_at = match &entry {
        Entry::Token { expires_at, .. } | Entry::Subject { expires_at, .. } => *expires_at,
    };
    if i64::try_from(expires_at).is_ok_and(|e| e <= now) {
        return Err(CliError::new(format!(
            "nothing to revoke: the tokens it covers expired {}",
            time::describe(i64::try_from(expires_at).unwrap_or(i64::MAX), now)
        )));
    }
    let url = std::env::var(&args.redis_url_env).map_err(|_| {
        CliError::new(format!(
            "no Redis URL: set {} (redis://host:6379, or rediss:// for TLS)",
            args.redis_url_env
        ))
    })?;
    let builder = if args.cluster {
        RedisStore::cluster_builder(url.split_whitespace())
    } else {
        RedisStore::builder(url.trim())
    };
    let timeout = Duration::from_millis(args.timeout_ms.max(1));
    let store = builder
        .key_prefix(args.key_prefix.clone())
        .timeout(timeout)
        .connect_timeout(timeout)
        .connect()
        .await
        .map_err(|e| CliError::caused("cannot use Redis", &e))?;
    let shown = store.redacted_url().to_owned();
    let list = RedisRevocations::builder(store).start();
    let (key, what) = match &entry {
        Entry::Token {
            issuer,
            jti,
            expires_at,
        } => {
            list.revoke_jti(issuer, jti, *expires_at)
                .await
                .map_err(|e| CliError::caused("the entry was not written", &e))?;
            (
                RevocationKey::token(issuer, jti),
                format!("token jti={jti:?} of {issuer}, until {}", when(*expires_at)),
            )
        }
        Entry::Subject {
            issuer,
            subject,
            before,
            expires_at,
        } => {
            list.revoke_subject_before(issuer, subject, *before, *expires_at)
                .await
                .map_err(|e| CliError::caused("the entry was not written", &e))?;
            (
                RevocationKey::subject(issuer, subject),
                format!(
                    "tokens of subject {subject:?} at {issuer} issued before {}, until {}",
                    when(*before),
                    when(*expires_at)
                ),
            )
        }
    };
    let mut report = Report::default();
    report.line(format!("revoked: {what}"));
    report.line(format!("  key {} on {shown}", list.redis_key(&key)));
    report
        .print()
        .map_err(|e| CliError::caused("cannot write the report", &e))
}

fn when(unix: u64) -> String {
    time::format_rfc3339(i64::try_from(unix).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subject_entry_lasts_the_longest_lifetime_after_its_instant() {
        let what = RevokeWhat::Subject {
            issuer: "https://i".into(),
            subject: "alice".into(),
            before: None,
            max_token_lifetime: 3600,
        };
        assert_eq!(
            entry(&what, 1000).unwrap(),
            Entry::Subject {
                issuer: "https://i".into(),
                subject: "alice".into(),
                before: 1001,
                expires_at: 4601,
            }
        );
        let what = RevokeWhat::Subject {
            issuer: "https://i".into(),
            subject: "alice".into(),
            before: Some(-5),
            max_token_lifetime: 1,
        };
        assert!(entry(&what, 1000).is_err());
    }

    #[test]
    fn a_token_is_read_without_verifying_and_needs_iss_jti_exp() {
        use base64::Engine as _;
        let b64 = |json: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
        let token = |payload: &str| format!("{}.{}.c2ln", b64(r#"{"alg":"RS256"}"#), b64(payload));
        let what = RevokeWhat::Token {
            token: Some(token(r#"{"iss":"https://i","jti":"j1","exp":2000}"#)),
        };
        assert_eq!(
            entry(&what, 1000).unwrap(),
            Entry::Token {
                issuer: "https://i".into(),
                jti: "j1".into(),
                expires_at: 2000,
            }
        );
        for (payload, missing) in [
            (r#"{"jti":"j1","exp":2000}"#, "`iss`"),
            (r#"{"iss":"https://i","exp":2000}"#, "`jti`"),
            (r#"{"iss":"https://i","jti":"j1"}"#, "`exp`"),
        ] {
            let what = RevokeWhat::Token {
                token: Some(token(payload)),
            };
            let e = entry(&what, 1000).unwrap_err().to_string();
            assert!(e.contains(missing), "{e}");
        }
    }
}
