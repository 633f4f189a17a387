//! Canonical request paths: [`canonical_path`] and why it refuses a path ([`AmbiguousPath`]).

use std::borrow::Cow;
use std::fmt;

/// Why a path was refused: [`AmbiguousPath::kind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AmbiguousPathKind {
    /// The path does not start with `/` (an absolute-form or authority-form target, `*`, or
    /// nothing).
    NotAbsolute,
    /// `%2F` or `%5C`: a separator for some servers, a character of a segment for others.
    EncodedSeparator,
    /// A `\`, which some servers read as `/`.
    Backslash,
    /// A `.` or `..` segment (possibly encoded, possibly followed by `;` parameters).
    DotSegment,
    /// An empty segment (`//`), which some servers merge away.
    EmptySegment,
    /// A `%` not followed by two hex digits.
    InvalidPercentEncoding,
    /// Escapes that decode to bytes that are not UTF-8.
    NotUtf8,
    /// A control character, a space or a non-ASCII byte, raw or encoded (`%00`, `%0A`).
    InvalidCharacter,
    /// A `#`: a fragment is never part of a request's path.
    Fragment,
}

impl AmbiguousPathKind {
    /// A short stable name, for logs: `encoded_separator`, `dot_segment`, ...
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            AmbiguousPathKind::NotAbsolute => "not_absolute",
            AmbiguousPathKind::EncodedSeparator => "encoded_separator",
            AmbiguousPathKind::Backslash => "backslash",
            AmbiguousPathKind::DotSegment => "dot_segment",
            AmbiguousPathKind::EmptySegment => "empty_segment",
            AmbiguousPathKind::InvalidPercentEncoding => "invalid_percent_encoding",
            AmbiguousPathKind::NotUtf8 => "not_utf8",
            AmbiguousPathKind::InvalidCharacter => "invalid_character",
            AmbiguousPathKind::Fragment => "fragment",
        }
    }
}

/// A path that [`canonical_path`] refused: it could be read as another path by the server
/// behind. It never holds the path itself (a path can carry a token or personal data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmbiguousPath {
    kind: AmbiguousPathKind,
}

impl AmbiguousPath {
    /// Why.
    #[must_use]
    pub fn kind(&self) -> AmbiguousPathKind {
        self.kind
    }
}

impl From<AmbiguousPathKind> for AmbiguousPath {
    fn from(kind: AmbiguousPathKind) -> Self {
        AmbiguousPath { kind }
    }
}

impl fmt::Display for AmbiguousPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.kind {
            AmbiguousPathKind::NotAbsolute => "the path does not start with `/`",
            AmbiguousPathKind::EncodedSeparator => "the path has an encoded `/` or `\\`",
            AmbiguousPathKind::Backslash => "the path has a `\\`",
            AmbiguousPathKind::DotSegment => "the path has a `.` or `..` segment",
            AmbiguousPathKind::EmptySegment => "the path has an empty segment (`//`)",
            AmbiguousPathKind::InvalidPercentEncoding => {
                "the path has a `%` not followed by two hex digits"
            }
            AmbiguousPathKind::NotUtf8 => "the path's escapes do not decode to UTF-8",
            AmbiguousPathKind::InvalidCharacter => {
                "the path has a control character, a space or a non-ASCII byte"
            }
            AmbiguousPathKind::Fragment => "the path has a fragment (`#`)",
        })
    }
}

impl std::error::Error for AmbiguousPath {}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The raw characters a canonical path may hold besides escapes: visible ASCII other than
/// `\` (refused apart) and `#`.
fn check_raw(b: u8) -> Result<(), AmbiguousPathKind> {
    match b {
        b'\\' => Err(AmbiguousPathKind::Backslash),
        b'#' => Err(AmbiguousPathKind::Fragment),
        0x21..=0x7e => Ok(()),
        _ => Err(AmbiguousPathKind::InvalidCharacter),
    }
}

/// The canonical form of `path` (the path of a request target, without its query): the one
/// form of a path that a rule table may be matched against, or a refusal when the path could
/// mean something else to the server behind. Borrowed when the path is already canonical (the
/// common case: no allocation).
///
/// A proxy, a router and a file server do not all read a path the same way: one decodes
/// `%2F` into a separator and another keeps it, one resolves `..` and another passes it on,
/// some treat `\` as `/` or `;` as the start of parameters. A rule table matched against the
/// raw text can then choose one rule while the server routes to another
/// (`/public/..%2Fadmin`). This function removes that room:
///
/// - refused ([`AmbiguousPath`]): an encoded `/` or `\` (`%2F`, `%5C`), a `\`, a dot segment
///   (`.` or `..`, also encoded as `%2E`, also before a `;` parameter as in `..;` or
///   `..%3B`), an empty segment (`//`), a `%` not followed by two hex digits, escapes that
///   decode to bytes that are not UTF-8, control characters (raw or encoded, `%00` among
///   them), spaces, a fragment, and a path that does not start with `/`;
/// - normalised (RFC 3986 section 6.2.2): escapes of unreserved characters (letters, digits,
///   `-`, `.`, `_`, `~`) are decoded, since every server reads `%61` as `a`; every other
///   escape is kept, with upper-case hex digits (`%3b` becomes `%3B`).
///
/// The result has no escape a server could decode into a different path: matching it segment
/// by segment matches what the server routes.
///
/// ```
/// use portcullis_tower::{canonical_path, AmbiguousPathKind};
///
/// assert_eq!(canonical_path("/orders/7").unwrap(), "/orders/7");
/// assert_eq!(canonical_path("/%61dmin/%7euser").unwrap(), "/admin/~user");
/// assert_eq!(canonical_path("/a%3bb").unwrap(), "/a%3Bb");
/// let refused = canonical_path("/admin/..%2Fpublic").unwrap_err();
/// assert_eq!(refused.kind(), AmbiguousPathKind::EncodedSeparator);
/// assert_eq!(canonical_path("/public/%2e%2e/admin").unwrap_err().kind(), AmbiguousPathKind::DotSegment);
/// ```
///
/// # Deployment caveat
///
/// Paths stay case-sensitive, and a trailing `/` is kept (`/admin/` is not `/admin`): behind a
/// server that routes case-insensitively or ignores trailing slashes, write patterns that
/// cover every form (`/admin/**` covers `/admin` and `/admin/`).
///
/// # Errors
/// An [`AmbiguousPath`] for a path that a server could read as another one.
pub fn canonical_path(path: &str) -> Result<Cow<'_, str>, AmbiguousPath> {
    if !path.starts_with('/') {
        return Err(AmbiguousPathKind::NotAbsolute.into());
    }
    let canonical = if path.contains('%') {
        Cow::Owned(decode_unreserved(path)?)
    } else {
        for b in path.bytes() {
            check_raw(b)?;
        }
        Cow::Borrowed(path)
    };
    check_segments(&canonical)?;
    Ok(canonical)
}

/// `path` with its unreserved escapes decoded and the others in upper case, checked.
fn decode_unreserved(path: &str) -> Result<String, AmbiguousPathKind> {
    let mut out = String::with_capacity(path.len());
    // Whether the escapes that stay encoded spell UTF-8: they are collected per run of
    // consecutive escapes, since a multi-byte character is several escapes in a row.
    let mut run: Vec<u8> = Vec::new();
    let mut bytes = path.bytes();
    while let Some(b) = bytes.next() {
        if b != b'%' {
            check_utf8(&mut run)?;
            check_raw(b)?;
            out.push(char::from(b));
            continue;
        }
        let (Some(hi), Some(lo)) = (
            bytes.next().and_then(hex_value),
            bytes.next().and_then(hex_value),
        ) else {
            return Err(AmbiguousPathKind::InvalidPercentEncoding);
        };
        let decoded = hi * 16 + lo;
        match decoded {
            b'/' | b'\\' => return Err(AmbiguousPathKind::EncodedSeparator),
            0x00..=0x1f | 0x7f => return Err(AmbiguousPathKind::InvalidCharacter),
            d if is_unreserved(d) => {
                check_utf8(&mut run)?;
                out.push(char::from(d));
            }
            d => {
                if d.is_ascii() {
                    check_utf8(&mut run)?;
                } else {
                    run.push(d);
                }
                out.push('%');
                out.push(hex_digit(hi));
                out.push(hex_digit(lo));
            }
        }
    }
    check_utf8(&mut run)?;
    Ok(out)
}

/// The upper-case hex digit of a nibble (`0..16`).
fn hex_digit(nibble: u8) -> char {
    char::from_digit(u32::from(nibble), 16)
        .unwrap_or('0')
        .to_ascii_uppercase()
}

/// Checks that a run of decoded non-ASCII bytes is UTF-8, then empties it.
fn check_utf8(run: &mut Vec<u8>) -> Result<(), AmbiguousPathKind> {
    if !run.is_empty() {
        if std::str::from_utf8(run).is_err() {
            return Err(AmbiguousPathKind::NotUtf8);
        }
        run.clear();
    }
    Ok(())
}

/// Refuses empty segments other than a trailing one, and dot segments (before any `;`).
fn check_segments(path: &str) -> Result<(), AmbiguousPathKind> {
    // The first item is the empty text before the leading `/`.
    let mut segments = path.split('/').skip(1).peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        if segment.is_empty() && !last {
            return Err(AmbiguousPathKind::EmptySegment);
        }
        // Before `;` parameters, raw or encoded (`%3B`: canonical escapes are upper case),
        // which some servers strip before resolving dot segments (`..;/`).
        let name = segment.split(';').next().unwrap_or_default();
        let name = name.split("%3B").next().unwrap_or_default();
        if name == "." || name == ".." {
            return Err(AmbiguousPathKind::DotSegment);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(path: &str) -> AmbiguousPathKind {
        canonical_path(path).unwrap_err().kind()
    }

    #[test]
    fn canonical_paths_are_borrowed_as_they_are() {
        for path in [
            "/",
            "/orders",
            "/orders/7/items",
            "/a/",
            "/pkg.S/Get",
            "/a;b=c",
            "/~x",
        ] {
            assert!(
                matches!(canonical_path(path).unwrap(), Cow::Borrowed(p) if p == path),
                "{path}"
            );
        }
    }

    #[test]
    fn unreserved_escapes_are_decoded_and_the_others_upper_cased() {
        for (raw, canonical) in [
            ("/%61dmin", "/admin"),
            ("/%41%5a%30%2D%2e%5F%7E", "/AZ0-._~"),
            ("/a%3bb", "/a%3Bb"),
            ("/%20", "/%20"),
            ("/caf%c3%a9", "/caf%C3%A9"),
            ("/%25", "/%25"),
            ("/%252F", "/%252F"),
        ] {
            assert_eq!(canonical_path(raw).unwrap(), canonical, "{raw}");
        }
    }

    #[test]
    fn ambiguous_paths_are_refused_with_their_reason() {
        use AmbiguousPathKind as K;
        for (path, expected) in [
            ("", K::NotAbsolute),
            ("orders", K::NotAbsolute),
            ("*", K::NotAbsolute),
            ("http://a/b", K::NotAbsolute),
            ("/admin/..%2Fpublic", K::EncodedSeparator),
            ("/a%2fb", K::EncodedSeparator),
            ("/a%5Cb", K::EncodedSeparator),
            ("/a\\b", K::Backslash),
            ("/a/../b", K::DotSegment),
            ("/a/./b", K::DotSegment),
            ("/a/..", K::DotSegment),
            ("/.", K::DotSegment),
            ("/a/%2e%2E/b", K::DotSegment),
            ("/a/.%2e", K::DotSegment),
            ("/a/..;x=1/b", K::DotSegment),
            ("/a/..%3bx/b", K::DotSegment),
            ("/a/.%3B/b", K::DotSegment),
            ("/a//b", K::EmptySegment),
            ("//a", K::EmptySegment),
            ("/a%", K::InvalidPercentEncoding),
            ("/a%4", K::InvalidPercentEncoding),
            ("/a%zz", K::InvalidPercentEncoding),
            ("/a%%41", K::InvalidPercentEncoding),
            ("/a%ff", K::NotUtf8),
            ("/a%c3", K::NotUtf8),
            ("/a%c3/b", K::NotUtf8),
            ("/a%c3%28", K::NotUtf8),
            ("/a%00", K::InvalidCharacter),
            ("/a%0A", K::InvalidCharacter),
            ("/a%7f", K::InvalidCharacter),
            ("/a b", K::InvalidCharacter),
            ("/caf\u{e9}", K::InvalidCharacter),
            ("/a#b", K::Fragment),
            ("/a%41#b", K::Fragment),
        ] {
            assert_eq!(kind(path), expected, "{path:?}");
        }
    }

    #[test]
    fn dots_inside_a_segment_are_not_dot_segments() {
        for path in ["/a..b", "/...", "/.well-known/x", "/a/.b", "/%2e%2e%2e"] {
            assert!(canonical_path(path).is_ok(), "{path}");
        }
    }

    proptest::proptest! {
        /// Any text: an answer, never a panic; an accepted path is canonical (its own form
        /// again), and holds neither an escape a server could decode into a separator or a
        /// dot, nor a dot segment, nor `//`.
        #[test]
        fn canonical_paths_are_fixed_points_without_ambiguity(
            path in "/[a-zA-Z0-9%./;\\\\~_-]{0,24}",
        ) {
            if let Ok(canonical) = canonical_path(&path) {
                let again = canonical_path(&canonical).unwrap();
                proptest::prop_assert_eq!(&again, &canonical);
                let upper = canonical.to_ascii_uppercase();
                for bad in ["%2F", "%5C", "%2E", "//", "\\"] {
                    proptest::prop_assert!(!upper.contains(bad), "{} in {}", bad, canonical);
                }
                for segment in canonical.split('/').skip(1) {
                    let name = segment.split(';').next().unwrap();
                    proptest::prop_assert!(name != "." && name != "..");
                }
            }
        }

        #[test]
        fn arbitrary_text_never_panics(path in ".{0,40}") {
            let _ = canonical_path(&path);
        }
    }

    #[test]
    fn errors_name_the_reason_but_never_the_path() {
        let e = canonical_path("/secret-token-value/..").unwrap_err();
        assert!(!e.to_string().contains("secret"));
        assert_eq!(e.kind().code(), "dot_segment");
    }
}
