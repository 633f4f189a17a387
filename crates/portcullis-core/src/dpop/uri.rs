//! The comparison of a DPoP proof's `htu` with the request's public target URI (RFC 9449
//! section 4.3, point 9): both normalised as RFC 3986 sections 6.2.2 and 6.2.3 allow, then
//! compared exactly.
//!
//! Syntax-based: the scheme and host in lower case, percent-encodings in upper case, those of
//! unreserved characters decoded, dot segments removed. Scheme-based: the default port of
//! `http` (80) and `https` (443) dropped, an empty path as `/`. A URI with user information,
//! an invalid percent-encoding or no authority has no normal form here and matches nothing.
//! A query and a fragment are left out (RFC 9449 section 4.3 compares `htu` "ignoring any
//! query and fragment parts").

/// The normal form of an absolute `http`/`https` URI, its query and fragment left out, or
/// `None`.
pub(crate) fn normalize(uri: &str) -> Option<String> {
    let uri = uri.split(['?', '#']).next().unwrap_or_default();
    let (scheme, rest) = uri.split_once("://")?;
    if scheme.is_empty()
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    {
        return None;
    }
    let scheme = scheme.to_ascii_lowercase();
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let (host, port) = split_port(authority)?;
    let default_port = match scheme.as_str() {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    };
    let mut out = String::with_capacity(uri.len());
    out.push_str(&scheme);
    out.push_str("://");
    out.push_str(&percent_normalized(host, true)?);
    if let Some(port) = port
        && Some(port) != default_port
    {
        out.push(':');
        out.push_str(&port.to_string());
    }
    let path = percent_normalized(path, false)?;
    let path = remove_dot_segments(&path);
    if path.is_empty() {
        out.push('/');
    } else {
        out.push_str(&path);
    }
    Some(out)
}

/// The host and the port of an authority (`None` for no port, or an empty one).
fn split_port(authority: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if authority.starts_with('[') {
        let end = authority.find(']')?;
        let (host, rest) = authority.split_at(end + 1);
        match rest {
            "" => (host, None),
            _ => (host, Some(rest.strip_prefix(':')?)),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() || host.contains(':') && !host.starts_with('[') {
        return None;
    }
    let port = match port {
        None | Some("") => None,
        Some(digits) if digits.len() <= 5 && digits.bytes().all(|b| b.is_ascii_digit()) => {
            Some(digits.parse::<u16>().ok()?)
        }
        Some(_) => return None,
    };
    Some((host, port))
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Percent-encodings in upper case, those of unreserved characters decoded; the rest as it
/// is, in lower case for a host. `None` for a `%` not followed by two hex digits.
fn percent_normalized(text: &str, lower: bool) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hi = hex(*bytes.get(i + 1)?)?;
            let lo = hex(*bytes.get(i + 2)?)?;
            let decoded = hi << 4 | lo;
            if is_unreserved(decoded) {
                out.push(if lower {
                    decoded.to_ascii_lowercase()
                } else {
                    decoded
                });
            } else {
                out.push(b'%');
                out.extend([hi, lo].map(|n| {
                    b"0123456789ABCDEF"
                        .get(usize::from(n))
                        .copied()
                        .unwrap_or(b'0')
                }));
            }
            i += 3;
        } else {
            out.push(if lower { b.to_ascii_lowercase() } else { b });
            i += 1;
        }
    }
    // Only ASCII was changed or inserted, at whole-character positions.
    String::from_utf8(out).ok()
}

/// RFC 3986 section 5.2.4, on a path that starts with `/` (or is empty).
fn remove_dot_segments(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    let mut input = path;
    let mut trailing_slash = false;
    while let Some(rest) = input.strip_prefix('/') {
        let (segment, after) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        trailing_slash = after.is_empty() && matches!(segment, "." | "..");
        match segment {
            "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
        input = after;
    }
    let mut out = String::with_capacity(path.len());
    for segment in &segments {
        out.push('/');
        out.push_str(segment);
    }
    if trailing_slash || (out.is_empty() && !path.is_empty()) {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equivalent_uris_share_one_normal_form() {
        let base = "https://api.example.com/orders/42";
        for same in [
            "https://api.example.com/orders/42",
            "HTTPS://API.Example.COM/orders/42",
            "https://api.example.com:443/orders/42",
            "https://api.example.com:/orders/42",
            "https://api.example.com/%6Frders/42",
            "https://api.example.com/orders/./42",
            "https://api.example.com/orders/x/../42",
            "https://api.example.com/a/b/../../orders/42",
        ] {
            assert_eq!(normalize(same), normalize(base), "{same}");
        }
        assert_eq!(normalize(base).as_deref(), Some(base));
        assert_eq!(
            normalize("http://h:80").as_deref(),
            Some("http://h/"),
            "default port and empty path"
        );
        assert_eq!(
            normalize("http://h:8080/").as_deref(),
            Some("http://h:8080/")
        );
        assert_eq!(
            normalize("https://h:0443/x").as_deref(),
            Some("https://h/x")
        );
        assert_eq!(
            normalize("https://h/a%2fb").as_deref(),
            Some("https://h/a%2Fb")
        );
        assert_eq!(
            normalize("https://[::1]:8443/x").as_deref(),
            Some("https://[::1]:8443/x")
        );
        assert_eq!(
            normalize("https://[::1]:443/x").as_deref(),
            Some("https://[::1]/x")
        );
        assert_eq!(normalize("https://h/a/..").as_deref(), Some("https://h/"));
        assert_eq!(normalize("https://h/a/.").as_deref(), Some("https://h/a/"));
        assert_eq!(normalize("https://h/..").as_deref(), Some("https://h/"));
        assert_eq!(normalize("https://h/x?q=1").as_deref(), Some("https://h/x"));
        assert_eq!(normalize("https://h/x#f?g").as_deref(), Some("https://h/x"));
        assert_eq!(normalize("https://h?q").as_deref(), Some("https://h/"));
        assert_eq!(
            normalize("https://[::1]/x").as_deref(),
            Some("https://[::1]/x"),
            "an IPv6 host without a port"
        );
    }

    #[test]
    fn authorities_without_a_host_or_with_an_odd_port_have_no_normal_form() {
        for bad in [
            "https://:443/x",
            "https://a:b:443/x",
            "https://h:+443/x",
            "https://h:+44/x",
            "https://h:-1/x",
            "https://h:123456/x",
            "https://h:65536/x",
        ] {
            assert_eq!(normalize(bad), None, "{bad}");
        }
    }

    #[test]
    fn different_resources_stay_different() {
        let base = normalize("https://api.example.com/orders/42");
        for other in [
            "http://api.example.com/orders/42",
            "https://api.example.com:8443/orders/42",
            "https://api.example.org/orders/42",
            "https://api.example.com/orders/43",
            "https://api.example.com/Orders/42",
            "https://api.example.com/orders/42/",
            "https://api.example.com/orders%2F42",
            "https://api.example.com/orders/420",
        ] {
            assert_ne!(normalize(other), base, "{other}");
        }
    }

    #[test]
    fn uris_without_a_normal_form_match_nothing() {
        for bad in [
            "",
            "/orders",
            "api.example.com/orders",
            "https://",
            "https:///x",
            "https://user@h/x",
            "https://user@h/x?q",
            "https://h/%zz",
            "https://h/%4",
            "https://h:99999/x",
            "https://h:12a/x",
            "https://[::1/x",
            "https://[::1]x/y",
            "ht tp://h/x",
            "https://a:b:c/x",
        ] {
            assert_eq!(normalize(bad), None, "{bad:?}");
        }
    }
}
