//! A protected resource's identifier (RFC 8707, RFC 9728): [`ResourceIdentifier`], the URL
//! clients name when they ask for a token for this API, which is then the token's audience,
//! and from which the URL of the resource's metadata is built.
//!
//! ```
//! use portcullis_core::ResourceIdentifier;
//!
//! let orders = ResourceIdentifier::parse("https://api.example.com/orders").unwrap();
//! assert_eq!(
//!     orders.metadata_url(),
//!     "https://api.example.com/.well-known/oauth-protected-resource/orders"
//! );
//! // An audience that is the same URL after RFC 3986 normalisation names this resource.
//! assert!(orders.is_named_by("HTTPS://API.example.com:443/orders"));
//! assert!(!orders.is_named_by("https://api.example.com/orders/admin"));
//! assert!(ResourceIdentifier::parse("http://api.example.com/orders").is_err());
//! ```

use std::fmt;

use crate::error::ConfigError;

/// The path every protected resource's metadata lives under (RFC 9728 section 3).
pub const METADATA_WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// A resource identifier: an absolute `https` URL without a query or a fragment (`http` only
/// for a loopback host, unless made with
/// [`ResourceIdentifier::danger_parse_allowing_http`]).
///
/// It is kept as given (the metadata's `resource` member must be identical to it, RFC 9728
/// section 3.3) and in its normal form (scheme and host in lower case, the default port left
/// out, percent-encodings normalised, dot segments removed, an empty path as `/`), which
/// [`ResourceIdentifier::is_named_by`] compares audiences with.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ResourceIdentifier {
    given: Box<str>,
    normal: Box<str>,
}

impl ResourceIdentifier {
    /// The identifier `uri`.
    ///
    /// # Errors
    /// A [`ConfigError`] of kind `Invalid { setting: "resource" }` for a URL that is not
    /// absolute `https` (or `http` to `localhost`, `127.0.0.0/8` or `[::1]`), has user
    /// information, a query or a fragment (RFC 8707 section 2 forbids the fragment and
    /// advises against the query; a query would make the metadata URL ambiguous), or has
    /// no normal form (a bad port, an invalid percent-encoding).
    pub fn parse(uri: impl Into<String>) -> Result<Self, ConfigError> {
        Self::parse_with(uri.into(), false)
    }

    /// As [`ResourceIdentifier::parse`], accepting `http` to any host: a weakening, for a
    /// resource behind a proxy on a private network whose clients reach it over plain
    /// HTTP. Anyone on the path could then read and replay its tokens.
    ///
    /// # Errors
    /// As [`ResourceIdentifier::parse`], but for the scheme.
    pub fn danger_parse_allowing_http(uri: impl Into<String>) -> Result<Self, ConfigError> {
        Self::parse_with(uri.into(), true)
    }

    fn parse_with(given: String, allow_http: bool) -> Result<Self, ConfigError> {
        let invalid = |reason: &str| {
            Err(ConfigError::invalid(
                "resource",
                format!("resource identifier {given:?}: {reason}"),
            ))
        };
        if given.contains('#') {
            return invalid("a resource identifier has no fragment (RFC 8707 section 2)");
        }
        if given.contains('?') {
            return invalid("give the resource identifier without a query");
        }
        if given.bytes().any(|b| !b.is_ascii_graphic()) {
            return invalid("spaces, control and non-ASCII characters must be percent-encoded");
        }
        let Some(normal) = crate::dpop::uri::normalize(&given) else {
            return invalid("not an absolute URL with a host (and no user information)");
        };
        let scheme = normal.split("://").next().unwrap_or_default();
        match scheme {
            "https" => {}
            "http" if allow_http || is_loopback(&normal) => {}
            "http" => {
                return invalid(
                    "must be https:// (http:// only for loopback hosts, or with \
                     danger_parse_allowing_http)",
                );
            }
            _ => return invalid("must be an https:// URL"),
        }
        Ok(ResourceIdentifier {
            given: given.into_boxed_str(),
            normal: normal.into_boxed_str(),
        })
    }

    /// The identifier as given.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.given
    }

    /// Its normal form.
    #[must_use]
    pub fn normalized(&self) -> &str {
        &self.normal
    }

    /// Whether a token's audience value names this resource: equal to the identifier after
    /// both are normalised (an audience with a query or a fragment never does).
    #[must_use]
    pub fn is_named_by(&self, audience: &str) -> bool {
        if *audience == *self.given {
            return true;
        }
        !audience.contains(['?', '#'])
            && crate::dpop::uri::normalize(audience).is_some_and(|n| *n == *self.normal)
    }

    /// The path of the resource's metadata on its host (RFC 9728 section 3.1): the
    /// well-known path, then the identifier's path (a lone `/` left out).
    #[must_use]
    pub fn metadata_path(&self) -> String {
        let path = self.path();
        let mut out = String::with_capacity(METADATA_WELL_KNOWN.len() + path.len());
        out.push_str(METADATA_WELL_KNOWN);
        if path != "/" {
            out.push_str(path);
        }
        out
    }

    /// The URL of the resource's metadata: the identifier's scheme and authority (as given),
    /// then [`ResourceIdentifier::metadata_path`].
    #[must_use]
    pub fn metadata_url(&self) -> String {
        let origin_len = self.given.len() - self.path().len();
        let origin = self.given.get(..origin_len).unwrap_or_default();
        format!("{origin}{}", self.metadata_path())
    }

    /// The identifier's path as given (empty when it has none).
    fn path(&self) -> &str {
        let after_scheme = self.given.find("://").map_or(0, |i| i + 3);
        self.given
            .get(after_scheme..)
            .and_then(|rest| rest.find('/'))
            .and_then(|i| self.given.get(after_scheme + i..))
            .unwrap_or_default()
    }
}

/// Whether the host of a normalised `http` URL is a loopback host.
fn is_loopback(normal: &str) -> bool {
    let rest = normal.split_once("://").map_or("", |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or_default();
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        authority.split(':').next().unwrap_or_default()
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl fmt::Display for ResourceIdentifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.given)
    }
}

impl fmt::Debug for ResourceIdentifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ResourceIdentifier")
            .field(&self.given)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_must_be_https_urls_without_query_fragment_or_user() {
        for good in [
            "https://api.example.com",
            "https://api.example.com/",
            "https://api.example.com/orders",
            "https://api.example.com:8443/v1/",
            "http://127.0.0.1:8080/mcp",
            "http://localhost:3000",
            "http://[::1]:3000/a",
        ] {
            assert!(ResourceIdentifier::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "http://api.example.com/orders",
            "http://127.0.0.1.evil.example/",
            "ftp://api.example.com/",
            "https://api.example.com/orders#x",
            "https://api.example.com/orders?tenant=a",
            "https://user@api.example.com/",
            "https://api.example.com:99999/",
            "https://api.example.com/a%zz",
            "https://api.example.com/a b",
            "/orders",
            "api.example.com",
            "https://",
            "",
        ] {
            let e = ResourceIdentifier::parse(bad).unwrap_err();
            assert!(e.to_string().contains("resource"), "{bad}: {e}");
        }
        // A plain-http host is told why, and what would allow it.
        let e = ResourceIdentifier::parse("http://api.example.com/x").unwrap_err();
        assert!(e.to_string().contains("loopback"), "{e}");
        assert!(e.to_string().contains("danger_parse_allowing_http"), "{e}");
        assert!(ResourceIdentifier::danger_parse_allowing_http("http://api.internal/x").is_ok());
        assert!(ResourceIdentifier::danger_parse_allowing_http("ftp://api.internal/x").is_err());
    }

    #[test]
    fn audiences_name_the_resource_after_normalisation_only() {
        let r = ResourceIdentifier::parse("https://api.example.com/orders").unwrap();
        let shouted = ResourceIdentifier::parse("HTTPS://API.Example.COM:443/./orders").unwrap();
        assert_eq!(shouted.normalized(), "https://api.example.com/orders");
        assert_eq!(shouted.as_str(), "HTTPS://API.Example.COM:443/./orders");
        for same in [
            "https://api.example.com/orders",
            "HTTPS://API.EXAMPLE.COM/orders",
            "https://api.example.com:443/orders",
            "https://api.example.com/./orders",
            "https://api.example.com/%6Frders",
        ] {
            assert!(r.is_named_by(same), "{same}");
        }
        for other in [
            "https://api.example.com/Orders",
            "https://api.example.com/orders/",
            "https://api.example.com/orders?x",
            "https://api.example.com/orders#x",
            "https://api.example.com:8443/orders",
            "http://api.example.com/orders",
            "https://api.example.com.evil/orders",
            "https://evil@api.example.com/orders",
            "orders",
            "",
        ] {
            assert!(!r.is_named_by(other), "{other}");
        }
        let root = ResourceIdentifier::parse("https://api.example.com").unwrap();
        assert!(root.is_named_by("https://api.example.com/"));
        assert!(root.is_named_by("https://api.example.com"));
    }

    #[test]
    fn the_metadata_url_inserts_the_well_known_path_before_the_resource_path() {
        let cases = [
            (
                "https://api.example.com",
                "https://api.example.com/.well-known/oauth-protected-resource",
            ),
            (
                "https://api.example.com/",
                "https://api.example.com/.well-known/oauth-protected-resource",
            ),
            (
                "https://api.example.com/orders",
                "https://api.example.com/.well-known/oauth-protected-resource/orders",
            ),
            (
                "https://API.example.com:8443/v1/orders/",
                "https://API.example.com:8443/.well-known/oauth-protected-resource/v1/orders/",
            ),
            (
                "http://127.0.0.1:3000/mcp",
                "http://127.0.0.1:3000/.well-known/oauth-protected-resource/mcp",
            ),
            // A host shorter than the scheme: the path is found after `://`, not by luck.
            (
                "https://a.io/x",
                "https://a.io/.well-known/oauth-protected-resource/x",
            ),
        ];
        for (id, url) in cases {
            let r = ResourceIdentifier::parse(id).unwrap();
            assert_eq!(r.metadata_url(), url, "{id}");
            assert!(url.ends_with(&r.metadata_path()));
            assert_eq!(r.as_str(), id);
        }
    }
}
