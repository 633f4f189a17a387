//! Why a key source could not produce keys.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use portcullis_core::KeyError;

use crate::http::Failure;

/// Why a key source failed to load or refresh its keys.
///
/// Opaque so that it can grow; [`SourceError::kind`] names the reason, and
/// [`std::error::Error::source`] gives the underlying cause (an HTTP or I/O error) when there
/// is one. Its `Display` never contains a token or a key.
#[derive(Debug)]
pub struct SourceError {
    kind: SourceErrorKind,
    cause: Option<Box<dyn StdError + Send + Sync + 'static>>,
}

/// The reason a key source failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SourceErrorKind {
    /// The URL is not `https://` (and not `http://` to a loopback host, or
    /// `danger_allow_http` is not set).
    InsecureUrl,
    /// The URL could not be parsed, or cannot be a base (no host).
    InvalidUrl,
    /// The server answered with a status other than `200` (or `304` to a conditional request).
    Http {
        /// The status code.
        status: u16,
    },
    /// The request did not complete within the configured timeout.
    Timeout,
    /// The connection could not be established.
    Connect,
    /// The body is longer than the configured cap.
    BodyTooLarge {
        /// The cap, in bytes.
        limit: usize,
    },
    /// The server redirected to another origin, or too many times.
    Redirect,
    /// The JWKS document is malformed (or has more keys than allowed).
    InvalidJwks(KeyError),
    /// The JWKS document holds no usable key.
    NoUsableKeys,
    /// The discovery document's `issuer` is not exactly the configured issuer.
    IssuerMismatch,
    /// The discovery document is malformed or lacks `jwks_uri`.
    Discovery(&'static str),
    /// An unknown-`kid` refetch was refused because the refetch budget is spent.
    RateLimited,
    /// Another transport or protocol failure (see the source).
    Transport,
    /// Reading a local key file failed.
    Io,
    /// The source's configuration is refused (unsafe or inconsistent).
    Config(&'static str),
    /// An eager start got no keys within its start-up deadline: every attempt failed for a
    /// reason that may pass (a 5xx, a timeout, a refused connection); the source gives the
    /// last attempt's error.
    StartupDeadline {
        /// The attempts made.
        attempts: u32,
        /// The deadline, from the start of the build.
        deadline: Duration,
    },
}

impl SourceError {
    pub(crate) fn new(kind: SourceErrorKind) -> Self {
        SourceError { kind, cause: None }
    }

    pub(crate) fn with_cause(
        kind: SourceErrorKind,
        cause: impl Into<Box<dyn StdError + Send + Sync + 'static>>,
    ) -> Self {
        SourceError {
            kind,
            cause: Some(cause.into()),
        }
    }

    /// The reason.
    #[must_use]
    pub fn kind(&self) -> &SourceErrorKind {
        &self.kind
    }

    /// A short stable identifier of the reason, for metrics and log fields.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self.kind {
            SourceErrorKind::InsecureUrl => "insecure_url",
            SourceErrorKind::InvalidUrl => "invalid_url",
            SourceErrorKind::Http { .. } => "http_status",
            SourceErrorKind::Timeout => "timeout",
            SourceErrorKind::Connect => "connect",
            SourceErrorKind::BodyTooLarge { .. } => "body_too_large",
            SourceErrorKind::Redirect => "redirect",
            SourceErrorKind::InvalidJwks(_) => "invalid_jwks",
            SourceErrorKind::NoUsableKeys => "no_usable_keys",
            SourceErrorKind::IssuerMismatch => "issuer_mismatch",
            SourceErrorKind::Discovery(_) => "discovery",
            SourceErrorKind::RateLimited => "rate_limited",
            SourceErrorKind::Transport => "transport",
            SourceErrorKind::Io => "io",
            SourceErrorKind::Config(_) => "config",
            SourceErrorKind::StartupDeadline { .. } => "startup_deadline",
        }
    }

    /// Whether a later attempt may succeed where this one failed: a `5xx`, `408` or `429`
    /// answer, a timeout, a refused connection or another transport failure. A refused URL,
    /// a document that is not a JWKS, an issuer mismatch or a redirect elsewhere will not
    /// pass by itself.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        match self.kind {
            SourceErrorKind::Http { status } => status >= 500 || status == 408 || status == 429,
            SourceErrorKind::Timeout | SourceErrorKind::Connect | SourceErrorKind::Transport => {
                true
            }
            _ => false,
        }
    }

    /// Classifies an HTTP client error.
    pub(crate) fn from_reqwest(err: reqwest::Error) -> Self {
        let kind = match Failure::of(&err) {
            Failure::Timeout => SourceErrorKind::Timeout,
            Failure::Redirect => SourceErrorKind::Redirect,
            Failure::Connect => SourceErrorKind::Connect,
            _ => SourceErrorKind::Transport,
        };
        SourceError::with_cause(kind, err)
    }
}

impl From<SourceErrorKind> for SourceError {
    fn from(kind: SourceErrorKind) -> Self {
        SourceError::new(kind)
    }
}

impl fmt::Display for SourceErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceErrorKind::InsecureUrl => f.write_str(
                "key source URL must be https:// (http:// only for loopback hosts or with danger_allow_http)",
            ),
            SourceErrorKind::InvalidUrl => f.write_str("key source URL is invalid"),
            SourceErrorKind::Http { status } => write!(f, "key source answered HTTP {status}"),
            SourceErrorKind::Timeout => f.write_str("key source request timed out"),
            SourceErrorKind::Connect => f.write_str("could not connect to the key source"),
            SourceErrorKind::BodyTooLarge { limit } => {
                write!(f, "key source response is larger than {limit} bytes")
            }
            SourceErrorKind::Redirect => {
                f.write_str("key source redirected to another origin or too many times")
            }
            SourceErrorKind::InvalidJwks(e) => write!(f, "invalid JWKS: {e}"),
            SourceErrorKind::NoUsableKeys => f.write_str("JWKS holds no usable key"),
            SourceErrorKind::IssuerMismatch => {
                f.write_str("discovery document's issuer differs from the configured issuer")
            }
            SourceErrorKind::Discovery(what) => write!(f, "invalid discovery document: {what}"),
            SourceErrorKind::RateLimited => {
                f.write_str("unknown-kid refetch refused: refetch budget spent")
            }
            SourceErrorKind::Transport => f.write_str("key source request failed"),
            SourceErrorKind::Io => f.write_str("could not read the key file"),
            SourceErrorKind::Config(what) => write!(f, "invalid key source configuration: {what}"),
            SourceErrorKind::StartupDeadline { attempts, deadline } => write!(
                f,
                "no keys within the start-up deadline of {} s ({attempts} attempt{} failed)",
                deadline.as_secs_f64(),
                if *attempts == 1 { "" } else { "s" }
            ),
        }
    }
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.kind, f)
    }
}

impl StdError for SourceError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match &self.cause {
            Some(cause) => Some(&**cause as &(dyn StdError + 'static)),
            None => match &self.kind {
                SourceErrorKind::InvalidJwks(e) => Some(e),
                _ => None,
            },
        }
    }
}
