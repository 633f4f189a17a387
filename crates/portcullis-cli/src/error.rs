//! The one error type of the command: a message for one line on standard error, exit code 2.

use std::error::Error as StdError;
use std::fmt;

/// A usage or I/O error: the command could not do its job (exit code 2). Refusing a token is
/// not an error: it is an answer (exit code 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CliError {
    message: String,
}

impl CliError {
    /// An error with this message.
    pub(crate) fn new(message: impl Into<String>) -> Self {
        CliError {
            message: one_line(&message.into()),
        }
    }

    /// `context: error`, with the innermost cause of `error` appended when it says more
    /// (`could not connect to the key source: Connection refused (os error 111)`).
    pub(crate) fn caused(context: impl fmt::Display, error: &(dyn StdError + 'static)) -> Self {
        let mut message = format!("{context}: {error}");
        let mut root: Option<&(dyn StdError + 'static)> = None;
        let mut next = error.source();
        while let Some(cause) = next {
            root = Some(cause);
            next = cause.source();
        }
        let root_text = root.map(ToString::to_string).unwrap_or_default();
        if !root_text.is_empty() && !message.contains(&root_text) {
            message.push_str(": ");
            message.push_str(&root_text);
        }
        CliError::new(message)
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for CliError {}

/// Folds a message onto one line: errors are one clear line, whatever their causes print.
pub(crate) fn one_line(text: &str) -> String {
    text.split(['\n', '\r'])
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Outer(std::io::Error);

    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("request failed")
        }
    }

    impl StdError for Outer {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn causes_are_appended_once_on_one_line() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused\nagain");
        let err = CliError::caused("fetching keys", &Outer(io));
        assert_eq!(
            err.to_string(),
            "fetching keys: request failed: refused again"
        );
        let plain = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let err = CliError::caused("reading k.pem", &plain);
        assert_eq!(err.to_string(), "reading k.pem: no such file");
    }
}
