//! Why Redis could not be used: an opaque [`RedisError`] with a [`RedisErrorKind`].

use std::fmt;
use std::time::Duration;

/// What kind of failure a [`RedisError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RedisErrorKind {
    /// A URL that does not parse, or is not `redis://`, `rediss://`, `valkey://` or
    /// `valkeys://`.
    InvalidUrl,
    /// A configuration the builder refuses (no node, a zero timeout, a prefix with a hash tag,
    /// a TLS setting for a plain URL).
    InvalidConfig,
    /// Redis could not be reached: refused, reset, unresolvable, a failed TLS handshake, or
    /// a cluster without a node for the key.
    Unavailable,
    /// Redis did not answer within the configured time.
    Timeout,
    /// Redis refused the credentials (`WRONGPASS`, `NOAUTH`) or the user's permissions
    /// (`NOPERM`).
    Authentication,
    /// Redis answered with another error, or with a reply this crate does not expect.
    Server,
}

/// Why Redis could not be used: at [`connect`](crate::RedisStoreBuilder::connect), or on one
/// call afterwards.
///
/// Its message names the server by its URL with the password replaced by `***`
/// (`redis://user:***@host:6379/0`), and never holds the password: the reason the Redis
/// client gave is scrubbed of it before it is kept. For the same reason the cause is part of
/// the message rather than a [`source`](std::error::Error::source).
#[derive(Clone, PartialEq, Eq)]
pub struct RedisError {
    kind: RedisErrorKind,
    /// The server, redacted; `None` when the URL itself is what is wrong.
    target: Option<Box<str>>,
    detail: Box<str>,
}

impl RedisError {
    pub(crate) fn new(
        kind: RedisErrorKind,
        target: Option<&str>,
        detail: impl Into<String>,
    ) -> RedisError {
        RedisError {
            kind,
            target: target.map(Box::from),
            detail: detail.into().into_boxed_str(),
        }
    }

    pub(crate) fn timeout(target: &str, after: Duration) -> RedisError {
        RedisError::new(
            RedisErrorKind::Timeout,
            Some(target),
            format!("timed out after {after:?}"),
        )
    }

    /// Classifies an error of the Redis client; `secrets` (the passwords of the URLs) are
    /// removed from its text.
    pub(crate) fn from_client(
        error: &redis::RedisError,
        target: &str,
        secrets: &[Box<str>],
    ) -> RedisError {
        let (kind, detail) = classify(error);
        RedisError::new(kind, Some(target), scrub(detail, secrets))
    }

    /// The kind of failure.
    #[must_use]
    pub fn kind(&self) -> RedisErrorKind {
        self.kind
    }

    /// Whether Redis was unreachable or too slow (rather than misconfigured): the failures
    /// that end by themselves once Redis is back.
    #[must_use]
    pub fn is_outage(&self) -> bool {
        matches!(
            self.kind,
            RedisErrorKind::Unavailable | RedisErrorKind::Timeout
        )
    }
}

impl fmt::Display for RedisError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            Some(target) => write!(f, "redis {target}: {}", self.detail),
            None => write!(f, "redis: {}", self.detail),
        }
    }
}

impl fmt::Debug for RedisError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisError")
            .field("kind", &self.kind)
            .field("target", &self.target)
            .field("detail", &self.detail)
            .finish()
    }
}

impl std::error::Error for RedisError {}

fn classify(error: &redis::RedisError) -> (RedisErrorKind, String) {
    use redis::{ErrorKind, ServerErrorKind};

    if error.is_timeout() {
        return (RedisErrorKind::Timeout, "timed out".to_owned());
    }
    if error.is_connection_refusal() {
        return (RedisErrorKind::Unavailable, "connection refused".to_owned());
    }
    let text = error.to_string();
    if matches!(error.code(), Some("WRONGPASS" | "NOAUTH" | "NOPERM")) {
        return (RedisErrorKind::Authentication, text);
    }
    let kind = match error.kind() {
        ErrorKind::AuthenticationFailed | ErrorKind::Server(ServerErrorKind::NoPerm) => {
            RedisErrorKind::Authentication
        }
        ErrorKind::Io
        | ErrorKind::ClusterConnectionNotFound
        | ErrorKind::Server(
            ServerErrorKind::ClusterDown
            | ServerErrorKind::MasterDown
            | ServerErrorKind::TryAgain
            | ServerErrorKind::BusyLoading,
        ) => RedisErrorKind::Unavailable,
        ErrorKind::InvalidClientConfig => RedisErrorKind::InvalidConfig,
        _ if error.is_connection_dropped() => RedisErrorKind::Unavailable,
        _ => RedisErrorKind::Server,
    };
    (kind, text)
}

/// `text` with every non-empty secret replaced by `***`.
pub(crate) fn scrub(mut text: String, secrets: &[Box<str>]) -> String {
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        if text.contains(&**secret) {
            text = text.replace(&**secret, "***");
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_scrubbed_from_a_reason() {
        let secrets = [Box::from("hunter2"), Box::from("")];
        assert_eq!(
            scrub("auth hunter2 failed (hunter2)".to_owned(), &secrets),
            "auth *** failed (***)"
        );
        assert_eq!(scrub("nothing".to_owned(), &secrets), "nothing");
    }

    #[test]
    fn the_message_names_the_redacted_target_and_the_reason() {
        let e = RedisError::timeout("redis://u:***@h:1/0", Duration::from_millis(50));
        assert_eq!(
            e.to_string(),
            "redis redis://u:***@h:1/0: timed out after 50ms"
        );
        assert_eq!(e.kind(), RedisErrorKind::Timeout);
        assert!(e.is_outage());
        let e = RedisError::new(RedisErrorKind::InvalidUrl, None, "no host");
        assert_eq!(e.to_string(), "redis: no host");
        assert!(!e.is_outage());
    }

    #[test]
    fn client_errors_are_classified() {
        let io =
            redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        let e = RedisError::from_client(&io, "t", &[]);
        assert_eq!(e.kind(), RedisErrorKind::Unavailable);
        assert_eq!(e.to_string(), "redis t: connection refused");
        let io = redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut));
        assert_eq!(
            RedisError::from_client(&io, "t", &[]).kind(),
            RedisErrorKind::Timeout
        );
        let auth = redis::RedisError::from((
            redis::ErrorKind::AuthenticationFailed,
            "Password authentication failed",
        ));
        assert_eq!(
            RedisError::from_client(&auth, "t", &[]).kind(),
            RedisErrorKind::Authentication
        );
        let config = redis::RedisError::from((redis::ErrorKind::InvalidClientConfig, "bad"));
        assert_eq!(
            RedisError::from_client(&config, "t", &[]).kind(),
            RedisErrorKind::InvalidConfig
        );
        // Anything else the client reports is the server's (or the client's) answer, not an
        // outage.
        let other = redis::RedisError::from((redis::ErrorKind::Client, "odd reply"));
        assert_eq!(
            RedisError::from_client(&other, "t", &[]).kind(),
            RedisErrorKind::Server
        );
    }
}
