//! The URL of a Redis server, checked, and shown without its password.

use crate::error::{RedisError, RedisErrorKind};

/// A checked server URL: what the client connects to, how it is shown, and its password
/// (kept only to scrub it from error messages).
pub(crate) struct Target {
    /// The URL as given, with its credentials: only ever handed to the Redis client.
    pub(crate) url: String,
    /// The URL with the password replaced by `***`.
    pub(crate) redacted: Box<str>,
    /// Whether the scheme asks for TLS.
    pub(crate) tls: bool,
    /// The password, as written in the URL and percent-decoded.
    pub(crate) secrets: Vec<Box<str>>,
}

impl Target {
    /// Checks `url`.
    ///
    /// # Errors
    /// [`RedisErrorKind::InvalidUrl`]; the message never repeats the URL (it may hold a
    /// password).
    pub(crate) fn parse(url: &str) -> Result<Target, RedisError> {
        let invalid = |why: &str| RedisError::new(RedisErrorKind::InvalidUrl, None, why);
        let parsed = url::Url::parse(url)
            .map_err(|e| invalid(&format!("a server URL does not parse ({e})")))?;
        let tls = match parsed.scheme() {
            "redis" | "valkey" => false,
            "rediss" | "valkeys" => true,
            _ => {
                return Err(invalid(
                    "a server URL must be redis://, rediss://, valkey:// or valkeys://",
                ));
            }
        };
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(invalid("a server URL has no host"));
        }
        if parsed.fragment().is_some() {
            // `rediss://host/#insecure` would switch certificate checks off.
            return Err(invalid(
                "a server URL has a fragment (`#insecure` is refused: certificates are always checked)",
            ));
        }
        let mut secrets = Vec::new();
        let mut shown = parsed.clone();
        if let Some(password) = parsed.password() {
            secrets.push(Box::from(password));
            if let Some(decoded) = percent_decode(password)
                && decoded != password
            {
                secrets.push(decoded.into_boxed_str());
            }
            // A URL with a host accepts a password.
            let _ = shown.set_password(Some("***"));
        }
        Ok(Target {
            url: url.to_owned(),
            redacted: shown.as_str().into(),
            tls,
            secrets,
        })
    }
}

/// Percent-decoding as the Redis client does it; `None` when the result is not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(byte) = hex {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_redacted_and_remembered_for_scrubbing() {
        let t = Target::parse("redis://app:s%40cret@cache.internal:6380/2").unwrap();
        assert_eq!(&*t.redacted, "redis://app:***@cache.internal:6380/2");
        assert!(!t.tls);
        assert_eq!(t.secrets, [Box::from("s%40cret"), Box::from("s@cret")]);
        let t = Target::parse("rediss://:pw@10.0.0.1").unwrap();
        assert_eq!(&*t.redacted, "rediss://:***@10.0.0.1");
        assert!(t.tls);
        let t = Target::parse("redis://127.0.0.1:6379").unwrap();
        assert_eq!(&*t.redacted, "redis://127.0.0.1:6379");
        assert!(t.secrets.is_empty());
    }

    #[test]
    fn bad_urls_are_refused_without_repeating_them() {
        for url in [
            "http://u:hunter2@h",
            "redis://u:hunter2@",
            "redis:u:hunter2",
            "rediss://u:hunter2@h/#insecure",
            "hunter2",
            "",
        ] {
            let e = Target::parse(url).err().unwrap();
            assert_eq!(e.kind(), RedisErrorKind::InvalidUrl, "{url}");
            assert!(!e.to_string().contains("hunter2"), "{e}");
        }
    }

    #[test]
    fn percent_decoding_keeps_what_is_not_an_escape() {
        assert_eq!(percent_decode("a%2Fb%zz%4").as_deref(), Some("a/b%zz%4"));
        assert_eq!(percent_decode("%ff"), None);
    }
}
