//! Reading what the command is given: the token (argument or standard input) and files.

use std::io::{self, IsTerminal, Read};
use std::path::Path;

use crate::error::CliError;

/// The most read from standard input or a file: far above any token or JWKS, and a bound on
/// what a mistaken `portcullis inspect < big.iso` costs.
pub(crate) const MAX_INPUT_BYTES: u64 = 1024 * 1024;

/// The token from the argument, or from standard input for `-` or no argument. Surrounding
/// whitespace and a leading `Bearer ` (as copied from an `Authorization` header) are dropped.
///
/// # Errors
/// No token at all (no argument and a terminal on standard input), an empty one, or standard
/// input that cannot be read, is too large or is not UTF-8.
pub(crate) fn token(arg: Option<&str>) -> Result<String, CliError> {
    let raw = match arg {
        Some(text) if text != "-" => text.to_owned(),
        _ => {
            let stdin = io::stdin();
            if arg.is_none() && stdin.is_terminal() {
                return Err(CliError::new(
                    "no token given: pass it as an argument, or `-` and pipe it on standard input",
                ));
            }
            let bytes = read_capped(stdin.lock(), "standard input")?;
            String::from_utf8(bytes)
                .map_err(|_| CliError::new("standard input is not UTF-8 text"))?
        }
    };
    let trimmed = raw.trim();
    let token = match trimmed.get(..7) {
        Some(scheme) if scheme.eq_ignore_ascii_case("bearer ") => {
            trimmed.get(7..).unwrap_or_default().trim_start()
        }
        _ => trimmed,
    };
    if token.is_empty() || token.eq_ignore_ascii_case("bearer") {
        return Err(CliError::new("the token is empty"));
    }
    Ok(token.to_owned())
}

/// The bytes of a file, at most [`MAX_INPUT_BYTES`].
///
/// # Errors
/// A one-line message naming the file and the I/O error.
pub(crate) fn file(path: &Path, what: &str) -> Result<Vec<u8>, CliError> {
    let shown = path.display();
    let handle = std::fs::File::open(path)
        .map_err(|e| CliError::caused(format!("cannot read {what} {shown}"), &e))?;
    read_capped(handle, &format!("{what} {shown}"))
}

/// The text of a file, at most [`MAX_INPUT_BYTES`].
///
/// # Errors
/// As [`file()`], or the file is not UTF-8.
pub(crate) fn text_file(path: &Path, what: &str) -> Result<String, CliError> {
    String::from_utf8(file(path, what)?)
        .map_err(|_| CliError::new(format!("{what} {} is not UTF-8 text", path.display())))
}

fn read_capped(reader: impl Read, what: &str) -> Result<Vec<u8>, CliError> {
    let mut bytes = Vec::new();
    reader
        .take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| CliError::caused(format!("cannot read {what}"), &e))?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > MAX_INPUT_BYTES {
        return Err(CliError::new(format!(
            "{what} is larger than {MAX_INPUT_BYTES} bytes"
        )));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bearer_prefix_and_whitespace_are_dropped() {
        assert_eq!(token(Some("  a.b.c\n")).unwrap(), "a.b.c");
        assert_eq!(token(Some("Bearer a.b.c")).unwrap(), "a.b.c");
        assert_eq!(token(Some("bearer   a.b.c")).unwrap(), "a.b.c");
        assert_eq!(token(Some("Bearerish.b.c")).unwrap(), "Bearerish.b.c");
        assert!(token(Some("  ")).is_err());
        assert!(token(Some("Bearer ")).is_err());
    }

    #[test]
    fn missing_files_name_the_file_on_one_line() {
        let err = file(Path::new("/nonexistent/k.pem"), "key file").unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("cannot read key file /nonexistent/k.pem: "),
            "{text}"
        );
        assert!(!text.contains('\n'));
    }
}
