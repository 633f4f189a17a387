//! [`ForwardedOrigins`]: several public origins, chosen per request by a trusted proxy.

use std::net::{IpAddr, SocketAddr};

use http::{Extensions, HeaderMap};
use portcullis_core::ConfigError;

/// The connection's peer address, for [`ForwardedOrigins`]: insert it into each request's
/// extensions (a server that knows the connection does), or name where the server keeps it
/// with [`ForwardedOrigins::peer_address`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// Which header a trusted proxy says the public origin in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ForwardedHeader {
    /// RFC 7239 `Forwarded`: the `proto` and `host` of its last element (the one the nearest
    /// proxy appended).
    #[default]
    Forwarded,
    /// `X-Forwarded-Proto` and `X-Forwarded-Host`: the last value of each.
    XForwarded,
}

/// A network of trusted proxies: an address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Network {
    address: IpAddr,
    prefix: u8,
}

impl Network {
    fn parse(text: &str) -> Result<Network, ConfigError> {
        let invalid =
            |why: &str| ConfigError::invalid("trusted_proxies", format!("{text:?}: {why}"));
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address: IpAddr = address
            .parse()
            .map_err(|_| invalid("not an IP address (write 10.0.0.0/8 or fd00::/8)"))?;
        let bits = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => bits,
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= bits).ok_or_else(|| {
                invalid("the prefix length is not a number up to the address's bits")
            })?,
        };
        let network = Network { address, prefix };
        if network.masked(address) != address {
            return Err(invalid(
                "bits are set after the prefix (write the network's first address)",
            ));
        }
        Ok(network)
    }

    /// `address` with the bits after this network's prefix cleared, in this network's
    /// family (an address of the other family is returned as it is).
    fn masked(&self, address: IpAddr) -> IpAddr {
        match (self.address, address) {
            (IpAddr::V4(_), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V4((u32::from(a) & mask).into())
            }
            (IpAddr::V6(_), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V6((u128::from(a) & mask).into())
            }
            (_, other) => other,
        }
    }

    fn contains(&self, address: IpAddr) -> bool {
        // An IPv4 peer seen as an IPv4-mapped IPv6 address (a dual-stack socket) is itself.
        let address = match address {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
            v4 @ IpAddr::V4(_) => v4,
        };
        address.is_ipv4() == self.address.is_ipv4() && self.masked(address) == self.address
    }
}

/// The public origin of each request, among configured ones, chosen by
/// the forwarded header of a trusted proxy (RFC 7239 `Forwarded`, or `X-Forwarded-Proto` and
/// `X-Forwarded-Host`), for an API that clients reach under several names through proxies
/// that say which one they used.
///
/// DPoP proofs name the URI the client called (`htu`); behind a TLS-terminating proxy the
/// server sees another. With one name, [`BearerAuthLayer::public_origin`] is all it takes.
/// With several, the proxy's header says which, and three rules keep an attacker from
/// choosing: the header is read only from a peer inside a trusted network (the connection's
/// address, from the request's extensions), its origin must be one of the configured ones
/// (compared after normalising scheme and host case and default ports), and anything else (an
/// untrusted peer, no header, a malformed one, an origin not configured) falls back to the
/// first configured origin, never to the `Host` header.
///
/// ```
/// use std::net::SocketAddr;
/// use portcullis_tower::{ForwardedHeader, ForwardedOrigins};
///
/// let origins = ForwardedOrigins::new(["https://api.example.com", "https://api.example.org"])
///     .unwrap()
///     .trusted_proxies(["10.0.0.0/8", "127.0.0.1/32"])
///     .unwrap()
///     .header(ForwardedHeader::XForwarded)
///     // axum: the connection's address, from `into_make_service_with_connect_info`.
///     .peer_address(|extensions| {
///         extensions
///             .get::<axum::extract::ConnectInfo<SocketAddr>>()
///             .map(|info| info.0.ip())
///     });
/// # let _ = origins;
/// ```
///
/// [`BearerAuthLayer::public_origin`]: crate::BearerAuthLayer::public_origin
///
/// Give it to [`BearerAuthLayer::forwarded_origins`](crate::BearerAuthLayer::forwarded_origins).
#[derive(Debug, Clone)]
pub struct ForwardedOrigins {
    /// As configured (a path prefix kept), trailing `/` taken off; the first is the default.
    origins: Box<[Box<str>]>,
    /// `scheme://host[:port]` of each, normalised: what a header's origin is compared with.
    keys: Box<[String]>,
    proxies: Vec<Network>,
    header: ForwardedHeader,
    peer: fn(&Extensions) -> Option<IpAddr>,
}

/// The [`PeerAddr`] of the request, if the server put one there.
fn peer_addr(extensions: &Extensions) -> Option<IpAddr> {
    extensions.get::<PeerAddr>().map(|p| p.0.ip())
}

impl ForwardedOrigins {
    /// The origins clients may address (`https://api.example.com`, with a path prefix if the
    /// proxy mounts the API under one: `https://example.com/api`); the first is the one used
    /// whenever no trusted proxy names another. No proxy is trusted until
    /// [`trusted_proxies`](Self::trusted_proxies) says which; the header is `Forwarded` until
    /// [`header`](Self::header) says otherwise.
    ///
    /// # Errors
    /// A [`ConfigError`] (setting `forwarded_origins`) for no origin, or one that is not an
    /// `https` URL (`http` for loopback) with a host and without query, fragment or user
    /// info.
    pub fn new<I, S>(origins: I) -> Result<ForwardedOrigins, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut kept = Vec::new();
        let mut keys = Vec::new();
        for origin in origins {
            let origin = origin.as_ref().trim_end_matches('/');
            let invalid =
                |why: &str| ConfigError::invalid("forwarded_origins", format!("{origin:?}: {why}"));
            let (scheme, rest) = origin
                .split_once("://")
                .ok_or_else(|| invalid("not an absolute URL"))?;
            let authority = rest.split('/').next().unwrap_or_default();
            if rest.contains(['?', '#']) || authority.contains('@') {
                return Err(invalid("an origin has no query, fragment or user info"));
            }
            let key = origin_key(scheme, authority)
                .ok_or_else(|| invalid("the scheme is not http or https, or the host is empty"))?;
            if portcullis_core::dpop::normalize_uri(origin).is_none() {
                return Err(invalid("not a URI a proof's htu could name"));
            }
            if key.starts_with("http://") && !is_loopback(authority) {
                return Err(invalid(
                    "http is for loopback only (clients' proofs and tokens cross the network)",
                ));
            }
            kept.push(Box::from(origin));
            keys.push(key);
        }
        if kept.is_empty() {
            return Err(ConfigError::invalid(
                "forwarded_origins",
                "name at least one origin (the first is the default)",
            ));
        }
        Ok(ForwardedOrigins {
            origins: kept.into(),
            keys: keys.into(),
            proxies: Vec::new(),
            header: ForwardedHeader::default(),
            peer: peer_addr,
        })
    }

    /// The networks whose peers' forwarded headers are read (`10.0.0.0/8`, `fd00::/8`, a
    /// single address such as `127.0.0.1`); added to those given before.
    ///
    /// # Errors
    /// A [`ConfigError`] (setting `trusted_proxies`) for a network that does not parse or has
    /// bits set after its prefix.
    pub fn trusted_proxies<I, S>(mut self, networks: I) -> Result<ForwardedOrigins, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for network in networks {
            self.proxies.push(Network::parse(network.as_ref().trim())?);
        }
        Ok(self)
    }

    /// Which header the proxies use.
    #[must_use]
    pub fn header(mut self, header: ForwardedHeader) -> Self {
        self.header = header;
        self
    }

    /// Where the connection's peer address is found in a request's extensions (by default
    /// a [`PeerAddr`]); a request without one is treated as coming from an untrusted peer.
    #[must_use]
    pub fn peer_address(mut self, peer: fn(&Extensions) -> Option<IpAddr>) -> Self {
        self.peer = peer;
        self
    }

    /// The default origin (the first configured).
    #[must_use]
    pub fn default_origin(&self) -> &str {
        self.origins.first().map_or("", |o| o)
    }

    /// The public origin of a request: the configured origin its trusted proxy names, else
    /// the default.
    #[must_use]
    pub fn origin_of(&self, headers: &HeaderMap, extensions: &Extensions) -> &str {
        let trusted = (self.peer)(extensions)
            .is_some_and(|peer| self.proxies.iter().any(|n| n.contains(peer)));
        let named = trusted
            .then(|| self.forwarded(headers))
            .flatten()
            .and_then(|key| self.keys.iter().position(|k| *k == key))
            .and_then(|i| self.origins.get(i));
        match named {
            Some(origin) => origin,
            None => self.default_origin(),
        }
    }

    /// The normalised `scheme://host[:port]` the header names, if it names one cleanly.
    fn forwarded(&self, headers: &HeaderMap) -> Option<String> {
        match self.header {
            ForwardedHeader::Forwarded => {
                let value = last_value(headers, "forwarded")?;
                let (mut proto, mut host) = (None, None);
                for pair in value.split(';') {
                    let (name, v) = pair.trim().split_once('=')?;
                    let v = unquote(v.trim())?;
                    let slot = match name.trim().to_ascii_lowercase().as_str() {
                        "proto" => &mut proto,
                        "host" => &mut host,
                        _ => continue,
                    };
                    // A parameter given twice is ambiguous: no origin.
                    if slot.replace(v).is_some() {
                        return None;
                    }
                }
                origin_key(proto?, host?)
            }
            ForwardedHeader::XForwarded => origin_key(
                last_value(headers, "x-forwarded-proto")?.trim(),
                last_value(headers, "x-forwarded-host")?.trim(),
            ),
        }
    }
}

/// The last comma-separated element of the last field named `name` (the nearest proxy's).
fn last_value<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    let field = headers.get_all(name).iter().next_back()?.to_str().ok()?;
    field
        .rsplit(',')
        .next()
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// A `Forwarded` parameter value: a token, or a quoted string without escapes.
fn unquote(v: &str) -> Option<&str> {
    match v.strip_prefix('"') {
        Some(quoted) => quoted
            .strip_suffix('"')
            .filter(|q| !q.contains(['"', '\\'])),
        None => Some(v),
    }
}

/// Whether the host of `authority` is a loopback name or address.
fn is_loopback(authority: &str) -> bool {
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `scheme://host[:port]` with scheme and host lower-cased and the scheme's default port
/// taken off; `None` for another scheme, an empty host, or characters a host never holds.
fn origin_key(scheme: &str, authority: &str) -> Option<String> {
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => ":443",
        "http" => ":80",
        _ => return None,
    };
    let authority = authority.to_ascii_lowercase();
    let authority = authority.strip_suffix(default_port).unwrap_or(&authority);
    let (host, port) = match authority.rfind(':') {
        // A colon inside brackets belongs to an IPv6 address.
        Some(i) if !authority[i..].contains(']') => (&authority[..i], Some(&authority[i + 1..])),
        _ => (authority, None),
    };
    let host_chars = |c: char| c.is_ascii_alphanumeric() || "-._~:[]%".contains(c);
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if host.is_empty() || !host.chars().all(host_chars) || !port_ok {
        return None;
    }
    Some(format!("{scheme}://{authority}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn origins() -> ForwardedOrigins {
        ForwardedOrigins::new(["https://api.example.com", "https://API.example.org:443/v1/"])
            .unwrap()
            .trusted_proxies(["10.0.0.0/8", "::1"])
            .unwrap()
    }

    fn from(peer: &str) -> Extensions {
        let mut extensions = Extensions::new();
        extensions.insert(PeerAddr(SocketAddr::new(peer.parse().unwrap(), 40_000)));
        extensions
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn networks_hold_their_addresses_only() {
        let n = |s: &str| Network::parse(s).unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(n("10.0.0.0/8").contains(ip("10.255.1.2")));
        assert!(!n("10.0.0.0/8").contains(ip("11.0.0.1")));
        assert!(n("192.168.1.0/24").contains(ip("192.168.1.255")));
        assert!(!n("192.168.1.0/24").contains(ip("192.168.2.0")));
        assert!(n("127.0.0.1").contains(ip("127.0.0.1")));
        assert!(!n("127.0.0.1").contains(ip("127.0.0.2")));
        assert!(n("0.0.0.0/0").contains(ip("203.0.113.9")));
        assert!(!n("0.0.0.0/0").contains(ip("2001:db8::1")));
        assert!(n("fd00::/8").contains(ip("fd12::1")));
        assert!(!n("fd00::/8").contains(ip("fe80::1")));
        assert!(n("::1").contains(ip("::1")));
        // A dual-stack socket's view of an IPv4 peer.
        assert!(n("10.0.0.0/8").contains(ip("::ffff:10.1.2.3")));
        for bad in [
            "",
            "10.0.0.0/33",
            "10.0.0.1/8",
            "10.0.0.0/x",
            "host/8",
            "::/129",
        ] {
            assert!(Network::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_trusted_proxy_chooses_among_the_configured_origins_only() {
        let o = origins();
        let org = headers(&[("forwarded", "for=1.2.3.4;proto=https;host=api.example.org")]);
        assert_eq!(
            o.origin_of(&org, &from("10.1.1.1")),
            "https://API.example.org:443/v1"
        );
        assert_eq!(
            o.origin_of(&org, &from("::1")),
            "https://API.example.org:443/v1"
        );
        // The same header from anyone else, or with no peer known: the default.
        assert_eq!(
            o.origin_of(&org, &from("192.0.2.1")),
            "https://api.example.com"
        );
        assert_eq!(
            o.origin_of(&org, &Extensions::new()),
            "https://api.example.com"
        );
        let peer = from("10.0.0.1");
        for (what, h) in [
            (
                "not configured",
                headers(&[("forwarded", "proto=https;host=evil.example")]),
            ),
            (
                "another scheme",
                headers(&[("forwarded", "proto=http;host=api.example.org")]),
            ),
            ("no host", headers(&[("forwarded", "proto=https")])),
            (
                "a port that is not one",
                headers(&[("forwarded", "proto=https;host=api.example.org:x")]),
            ),
            (
                "a host twice",
                headers(&[(
                    "forwarded",
                    "proto=https;host=api.example.org;host=evil.example",
                )]),
            ),
            ("no header", headers(&[])),
            (
                "the other header",
                headers(&[("x-forwarded-host", "api.example.org")]),
            ),
        ] {
            assert_eq!(o.origin_of(&h, &peer), "https://api.example.com", "{what}");
        }
        // The nearest proxy's element, normalised: case, default port, quotes.
        let chain = headers(&[
            ("forwarded", "proto=https;host=evil.example"),
            (
                "forwarded",
                "for=a, proto=HTTPS;host=\"Api.Example.Org:443\"",
            ),
        ]);
        assert_eq!(o.origin_of(&chain, &peer), "https://API.example.org:443/v1");
    }

    #[test]
    fn x_forwarded_headers_take_their_last_values() {
        let o = origins().header(ForwardedHeader::XForwarded);
        let peer = from("10.0.0.1");
        let h = headers(&[
            ("x-forwarded-proto", "http, https"),
            ("x-forwarded-host", "evil.example, api.example.org"),
        ]);
        assert_eq!(o.origin_of(&h, &peer), "https://API.example.org:443/v1");
        let half = headers(&[("x-forwarded-host", "api.example.org")]);
        assert_eq!(o.origin_of(&half, &peer), "https://api.example.com");
        let forwarded = headers(&[("forwarded", "proto=https;host=api.example.org")]);
        assert_eq!(o.origin_of(&forwarded, &peer), "https://api.example.com");
    }

    #[test]
    fn origins_must_be_absolute_and_plain() {
        for bad in [
            "api.example.com",
            "ftp://api.example.com",
            "https://",
            "https://u@api.example.com",
            "https://api.example.com/?q",
            "https://api.example.com/#f",
            "https://a b",
            "https:///x",
            "https://api.example.com:abc",
            "https://api.example.com:",
            "https://api.example.com/%zz",
        ] {
            assert!(ForwardedOrigins::new([bad]).is_err(), "{bad:?}");
        }
        assert!(ForwardedOrigins::new(Vec::<String>::new()).is_err());
        let o = ForwardedOrigins::new(["http://127.0.0.1:8080/"]).unwrap();
        assert_eq!(o.default_origin(), "http://127.0.0.1:8080");
        for v6 in ["https://[2001:db8::1]", "https://[2001:db8::1]:8443"] {
            assert!(ForwardedOrigins::new([v6]).is_ok(), "{v6}");
        }
        for loopback in ["http://localhost", "http://[::1]:8080", "http://[::1]"] {
            assert!(ForwardedOrigins::new([loopback]).is_ok(), "{loopback}");
        }
        assert!(ForwardedOrigins::new(["http://api.example.com"]).is_err());
    }
}
