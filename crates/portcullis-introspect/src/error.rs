//! Why an introspector could not be built, or why the endpoint gave no usable answer.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;

use portcullis_jwks::http::Failure;

/// Why the introspection endpoint could not be used: at build time (configuration,
/// discovery), or for one call (the endpoint failed, refused the client, answered something
/// that is not an RFC 7662 response). A failed call is never a verdict on the token: the
/// layer answers it `503` ("keys unavailable"), not `401`.
///
/// Opaque so that it can grow; [`IntrospectError::kind`] names the reason and
/// [`std::error::Error::source`] gives the underlying cause (an HTTP error, a discovery
/// error) when there is one. Its `Display` never contains a token or a secret.
#[derive(Debug)]
pub struct IntrospectError {
    kind: IntrospectErrorKind,
    cause: Option<Box<dyn StdError + Send + Sync + 'static>>,
}

/// The reason an introspection failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IntrospectErrorKind {
    /// The configuration is refused (missing credentials, an insecure URL, a bad setting).
    Config(Cow<'static, str>),
    /// The issuer's metadata could not be had, or names no `introspection_endpoint`.
    Discovery(&'static str),
    /// The endpoint answered `401` or `403`: it does not accept this resource server's client
    /// credentials. A configuration error of the resource server (client id, secret or
    /// authentication method), not a problem of the token.
    ClientRejected {
        /// The status code.
        status: u16,
    },
    /// The endpoint answered another status than `200`.
    Http {
        /// The status code.
        status: u16,
    },
    /// No answer within the timeout (or no free call slot within it).
    Timeout,
    /// The connection could not be established.
    Connect,
    /// The answer came from another URL than the endpoint (a redirect followed by a
    /// caller-supplied client).
    Redirect,
    /// The body is longer than the configured cap.
    BodyTooLarge {
        /// The cap, in bytes.
        limit: usize,
    },
    /// The body is not an RFC 7662 response (not a JSON object with a boolean `active`).
    InvalidResponse(&'static str),
    /// Another transport or protocol failure (see the source).
    Transport,
}

impl IntrospectError {
    pub(crate) fn new(kind: IntrospectErrorKind) -> Self {
        IntrospectError { kind, cause: None }
    }

    pub(crate) fn with_cause(
        kind: IntrospectErrorKind,
        cause: impl Into<Box<dyn StdError + Send + Sync + 'static>>,
    ) -> Self {
        IntrospectError {
            kind,
            cause: Some(cause.into()),
        }
    }

    pub(crate) fn config(message: impl Into<Cow<'static, str>>) -> Self {
        IntrospectError::new(IntrospectErrorKind::Config(message.into()))
    }

    /// The reason.
    #[must_use]
    pub fn kind(&self) -> &IntrospectErrorKind {
        &self.kind
    }

    /// Whether the resource server's own configuration is at fault (its client credentials
    /// were refused, or its settings are), rather than the endpoint's availability.
    #[must_use]
    pub fn is_configuration_error(&self) -> bool {
        matches!(
            self.kind,
            IntrospectErrorKind::ClientRejected { .. } | IntrospectErrorKind::Config(_)
        )
    }

    /// A short stable identifier of the reason, for metrics and log fields.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self.kind {
            IntrospectErrorKind::Config(_) => "config",
            IntrospectErrorKind::Discovery(_) => "discovery",
            IntrospectErrorKind::ClientRejected { .. } => "client_rejected",
            IntrospectErrorKind::Http { .. } => "http_status",
            IntrospectErrorKind::Timeout => "timeout",
            IntrospectErrorKind::Connect => "connect",
            IntrospectErrorKind::Redirect => "redirect",
            IntrospectErrorKind::BodyTooLarge { .. } => "body_too_large",
            IntrospectErrorKind::InvalidResponse(_) => "invalid_response",
            IntrospectErrorKind::Transport => "transport",
        }
    }

    /// Classifies an HTTP client error.
    pub(crate) fn from_reqwest(err: reqwest::Error) -> Self {
        let kind = match Failure::of(&err) {
            Failure::Timeout => IntrospectErrorKind::Timeout,
            Failure::Redirect => IntrospectErrorKind::Redirect,
            Failure::Connect => IntrospectErrorKind::Connect,
            _ => IntrospectErrorKind::Transport,
        };
        // reqwest's errors name the URL, never the body (which holds the token).
        IntrospectError::with_cause(kind, err)
    }
}

impl From<IntrospectErrorKind> for IntrospectError {
    fn from(kind: IntrospectErrorKind) -> Self {
        IntrospectError::new(kind)
    }
}

impl fmt::Display for IntrospectErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IntrospectErrorKind::Config(what) => {
                write!(f, "invalid introspection configuration: {what}")
            }
            IntrospectErrorKind::Discovery(what) => {
                write!(f, "introspection endpoint not found: {what}")
            }
            IntrospectErrorKind::ClientRejected { status } => write!(
                f,
                "the introspection endpoint refused this resource server's client credentials \
                 (HTTP {status}): a configuration error (client id, secret or authentication method)"
            ),
            IntrospectErrorKind::Http { status } => {
                write!(f, "the introspection endpoint answered HTTP {status}")
            }
            IntrospectErrorKind::Timeout => f.write_str("the introspection request timed out"),
            IntrospectErrorKind::Connect => {
                f.write_str("could not connect to the introspection endpoint")
            }
            IntrospectErrorKind::Redirect => {
                f.write_str("the introspection endpoint's answer came from another URL")
            }
            IntrospectErrorKind::BodyTooLarge { limit } => {
                write!(f, "introspection response larger than {limit} bytes")
            }
            IntrospectErrorKind::InvalidResponse(what) => {
                write!(f, "invalid introspection response: {what}")
            }
            IntrospectErrorKind::Transport => f.write_str("the introspection request failed"),
        }
    }
}

impl fmt::Display for IntrospectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.kind, f)
    }
}

impl StdError for IntrospectError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.cause
            .as_deref()
            .map(|cause| cause as &(dyn StdError + 'static))
    }
}
