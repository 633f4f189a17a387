//! Where output goes, and colour: only on a terminal, and never when `NO_COLOR` is set.

use std::fmt::Write as _;
use std::io::{self, IsTerminal, Write};

/// ANSI styling, on or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Style {
    color: bool,
}

impl Style {
    /// Colour for standard output when it is a terminal and `NO_COLOR` is unset or empty
    /// (<https://no-color.org>).
    pub(crate) fn for_stdout() -> Self {
        Style {
            color: color_allowed() && io::stdout().is_terminal(),
        }
    }

    /// The same rule for standard error.
    pub(crate) fn for_stderr() -> Self {
        Style {
            color: color_allowed() && io::stderr().is_terminal(),
        }
    }

    /// No colour at all.
    #[cfg(test)]
    pub(crate) fn plain() -> Self {
        Style { color: false }
    }

    fn paint(self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    pub(crate) fn bold(self, text: &str) -> String {
        self.paint("1", text)
    }

    pub(crate) fn dim(self, text: &str) -> String {
        self.paint("2", text)
    }

    pub(crate) fn good(self, text: &str) -> String {
        self.paint("1;32", text)
    }

    pub(crate) fn bad(self, text: &str) -> String {
        self.paint("1;31", text)
    }

    pub(crate) fn warn(self, text: &str) -> String {
        self.paint("1;33", text)
    }
}

fn color_allowed() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Text built up for standard output, written in one go.
#[derive(Debug, Default)]
pub(crate) struct Report {
    text: String,
}

impl Report {
    /// Appends one line.
    pub(crate) fn line(&mut self, line: impl AsRef<str>) {
        self.text.push_str(line.as_ref());
        self.text.push('\n');
    }

    /// Appends a `label value` line, the label padded to a column.
    pub(crate) fn field(&mut self, style: Style, label: &str, value: impl AsRef<str>) {
        let padded = format!("{label:<11}");
        let _ = writeln!(self.text, "  {} {}", style.dim(&padded), value.as_ref());
    }

    /// Appends the `subject`, `client` and `scopes` lines of verified claims, the scopes
    /// followed by those the command line required.
    pub(crate) fn subject_client_scopes(
        &mut self,
        style: Style,
        claims: &portcullis_core::Claims,
        required: &[String],
    ) {
        if let Some(sub) = claims.subject() {
            self.field(style, "subject", sub);
        }
        if let Some(client) = claims.client_id() {
            self.field(style, "client", client);
        }
        let scopes: Vec<&str> = claims.scopes().iter().collect();
        let mut line = if scopes.is_empty() {
            "(none)".to_owned()
        } else {
            scopes.join(" ")
        };
        if !required.is_empty() {
            line.push_str(" (required: ");
            line.push_str(&required.join(" "));
            line.push(')');
        }
        self.field(style, "scopes", line);
    }

    /// Appends every line of `block`, indented by two spaces.
    pub(crate) fn indented(&mut self, block: &str) {
        for line in block.lines() {
            let _ = writeln!(self.text, "  {line}");
        }
    }

    /// The text so far.
    #[cfg(test)]
    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }

    /// Writes the text to standard output. A closed pipe (`portcullis ... | head`) is not an
    /// error worth reporting.
    pub(crate) fn print(&self) -> io::Result<()> {
        let mut out = io::stdout().lock();
        match out
            .write_all(self.text.as_bytes())
            .and_then(|()| out.flush())
        {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
            other => other,
        }
    }
}

/// Writes one JSON value on one line to standard output.
pub(crate) fn print_json(value: &serde_json::Value) -> io::Result<()> {
    let mut report = Report::default();
    report.line(value.to_string());
    report.print()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_reports_have_aligned_fields_and_no_escape_codes() {
        let style = Style::plain();
        let mut report = Report::default();
        report.line(style.good("VALID"));
        report.field(style, "key", "kid \"k1\"");
        report.indented("{\n  \"a\": 1\n}");
        assert_eq!(
            report.as_str(),
            "VALID\n  key         kid \"k1\"\n  {\n    \"a\": 1\n  }\n"
        );
        assert_eq!(Style { color: true }.bad("x"), "\x1b[1;31mx\x1b[0m");
    }
}
