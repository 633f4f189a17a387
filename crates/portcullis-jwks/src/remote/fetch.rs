//! One HTTP fetch: the URL rule, the redirect policy, the capped body read, the cache headers.

use std::time::Duration;

use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{StatusCode, Url};

use crate::error::{SourceError, SourceErrorKind};
use crate::http::{BodyError, read_capped};

/// Checks the scheme rule: `https://`, or `http://` to a loopback host (127.0.0.0/8, `::1`,
/// `localhost`), or any `http://` with `allow_http`.
pub(crate) fn check_url(url: &Url, allow_http: bool) -> Result<(), SourceError> {
    if url.host().is_none() {
        return Err(SourceErrorKind::InvalidUrl.into());
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if allow_http || is_loopback(url) => Ok(()),
        _ => Err(SourceErrorKind::InsecureUrl.into()),
    }
}

/// Parses and checks a URL given as text.
pub(crate) fn parse_url(text: &str, allow_http: bool) -> Result<Url, SourceError> {
    let url =
        Url::parse(text).map_err(|e| SourceError::with_cause(SourceErrorKind::InvalidUrl, e))?;
    check_url(&url, allow_http)?;
    Ok(url)
}

/// Parses and checks a URL that the metadata document of `issuer` names (its `jwks_uri`):
/// the rule of [`parse_url`], and no downgrade. The document of an `https://` issuer may name
/// `https://` URLs only, unless `allow_http`: `http://` to loopback is for an issuer that is
/// itself on loopback (a development server), never for a remote one, which could otherwise
/// point the resource server at plain-HTTP services on its own loopback interface.
pub(crate) fn parse_discovered_url(
    text: &str,
    issuer: &str,
    allow_http: bool,
) -> Result<Url, SourceError> {
    let url = parse_url(text, allow_http)?;
    let issuer_is_https = Url::parse(issuer).is_ok_and(|issuer| issuer.scheme() == "https");
    if issuer_is_https && url.scheme() != "https" && !allow_http {
        return Err(SourceErrorKind::InsecureUrl.into());
    }
    Ok(url)
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        // The URL parser lowercases domains.
        Some(url::Host::Domain(domain)) => domain == "localhost",
        None => false,
    }
}

/// Whether a redirect from `from` to `to`, after `hops` earlier ones, may be followed: same
/// scheme, host and port, and at most `max_hops` in all.
pub(crate) fn redirect_allowed(from: &Url, to: &Url, hops: usize, max_hops: usize) -> bool {
    hops < max_hops
        && from.scheme() == to.scheme()
        && from.host() == to.host()
        && from.port_or_known_default() == to.port_or_known_default()
}

/// The most redirects the default client follows (all to the same origin).
pub(crate) const MAX_REDIRECTS: usize = 3;

/// The default client: timeouts, no redirect to another origin, no cookies.
pub(crate) fn default_client(
    connect_timeout: Duration,
    timeout: Duration,
) -> Result<reqwest::Client, SourceError> {
    let policy = reqwest::redirect::Policy::custom(|attempt| {
        let previous = attempt.previous();
        let allowed = previous.first().is_some_and(|first| {
            redirect_allowed(
                first,
                attempt.url(),
                previous.len().saturating_sub(1),
                MAX_REDIRECTS,
            )
        });
        if allowed {
            attempt.follow()
        } else {
            attempt.error(SourceError::new(SourceErrorKind::Redirect))
        }
    });
    reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .timeout(timeout)
        .redirect(policy)
        .user_agent(concat!("portcullis-jwks/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| SourceError::with_cause(SourceErrorKind::Config("HTTP client"), e))
}

/// The validators of the last `200`, sent back on the next request.
#[derive(Debug, Clone, Default)]
pub(crate) struct Validators {
    pub(crate) etag: Option<HeaderValue>,
    pub(crate) last_modified: Option<HeaderValue>,
}

impl Validators {
    fn from_headers(headers: &HeaderMap) -> Self {
        Validators {
            etag: headers.get(header::ETAG).cloned(),
            last_modified: headers.get(header::LAST_MODIFIED).cloned(),
        }
    }

    fn is_empty(&self) -> bool {
        self.etag.is_none() && self.last_modified.is_none()
    }
}

/// The limits of one fetch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) timeout: Duration,
    pub(crate) max_body_bytes: usize,
}

/// What a fetch brought back.
#[derive(Debug)]
pub(crate) enum Fetched {
    /// `200` with this body.
    Body {
        body: String,
        validators: Validators,
        cache: CacheDirective,
    },
    /// `304 Not Modified` to our conditional request.
    NotModified { cache: CacheDirective },
}

/// Fetches `url`: `200` (or `304` when `validators` were sent) only, body read in chunks and
/// cut off past the cap whatever `Content-Length` says, final URL on the same origin.
pub(crate) async fn get(
    client: &reqwest::Client,
    url: &Url,
    validators: Option<&Validators>,
    limits: Limits,
) -> Result<Fetched, SourceError> {
    let mut request = client
        .get(url.clone())
        .timeout(limits.timeout)
        .header(header::ACCEPT, "application/json");
    let conditional = validators.filter(|v| !v.is_empty());
    if let Some(v) = conditional {
        if let Some(etag) = &v.etag {
            request = request.header(header::IF_NONE_MATCH, etag.clone());
        }
        if let Some(date) = &v.last_modified {
            request = request.header(header::IF_MODIFIED_SINCE, date.clone());
        }
    }
    let mut response = request.send().await.map_err(SourceError::from_reqwest)?;
    // A caller-supplied client may follow redirects anywhere; the answer of another origin is
    // not taken whatever that client's policy.
    if !redirect_allowed(url, response.url(), 0, 1) {
        return Err(SourceErrorKind::Redirect.into());
    }
    let cache = CacheDirective::from_headers(response.headers());
    let status = response.status();
    if status == StatusCode::NOT_MODIFIED && conditional.is_some() {
        return Ok(Fetched::NotModified { cache });
    }
    if status != StatusCode::OK {
        return Err(SourceErrorKind::Http {
            status: status.as_u16(),
        }
        .into());
    }
    let validators = Validators::from_headers(response.headers());
    let body = read_capped(&mut response, limits.max_body_bytes)
        .await
        .map_err(|e| match e {
            BodyError::TooLarge => SourceErrorKind::BodyTooLarge {
                limit: limits.max_body_bytes,
            }
            .into(),
            BodyError::Read(e) => SourceError::from_reqwest(e),
        })?;
    let body = String::from_utf8(body).map_err(|e| {
        SourceError::with_cause(
            SourceErrorKind::InvalidJwks(portcullis_core::KeyErrorKind::MalformedJwks.into()),
            e,
        )
    })?;
    Ok(Fetched::Body {
        body,
        validators,
        cache,
    })
}

/// What `Cache-Control` says about how long the response may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CacheDirective {
    /// No usable directive: the default TTL applies.
    Absent,
    /// `max-age=N` (a lone one, or repeated with one value).
    MaxAge(Duration),
    /// `no-store`, `no-cache`, or conflicting `max-age` values: as short as allowed.
    DoNotCache,
}

impl CacheDirective {
    fn from_headers(headers: &HeaderMap) -> Self {
        let mut all = String::new();
        for value in headers.get_all(header::CACHE_CONTROL) {
            // A header line that is not visible ASCII is ignored, like an absent one.
            if let Ok(text) = value.to_str() {
                if !all.is_empty() {
                    all.push(',');
                }
                all.push_str(text);
            }
        }
        Self::parse(&all)
    }

    /// Parses a `Cache-Control` value (RFC 9111 section 5.2): `no-store` and `no-cache` win;
    /// `max-age` must be digits (optionally quoted); an unparsable `max-age` is ignored; two
    /// different `max-age` values make the response stale (RFC 9111 section 4.2.1).
    pub(crate) fn parse(value: &str) -> Self {
        let mut max_age: Option<u64> = None;
        let mut conflict = false;
        for directive in value.split(',') {
            let directive = directive.trim();
            let (name, arg) = match directive.split_once('=') {
                Some((n, a)) => (n.trim(), Some(a.trim())),
                None => (directive, None),
            };
            if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
                return CacheDirective::DoNotCache;
            }
            if !name.eq_ignore_ascii_case("max-age") {
                continue;
            }
            let Some(arg) = arg else { continue };
            let arg = arg
                .strip_prefix('"')
                .and_then(|a| a.strip_suffix('"'))
                .unwrap_or(arg);
            if arg.is_empty() || !arg.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            // Digits only: an overflow means "very long", which the TTL bound clamps anyway.
            let secs = arg.parse::<u64>().unwrap_or(u64::MAX);
            match max_age {
                Some(previous) if previous != secs => conflict = true,
                _ => max_age = Some(secs),
            }
        }
        match (conflict, max_age) {
            (true, _) => CacheDirective::DoNotCache,
            (false, Some(secs)) => CacheDirective::MaxAge(Duration::from_secs(secs)),
            (false, None) => CacheDirective::Absent,
        }
    }

    /// The TTL this directive gives, with the default and the bounds.
    pub(crate) fn ttl(self, default: Duration, min: Duration, max: Duration) -> Duration {
        match self {
            CacheDirective::Absent => default,
            CacheDirective::MaxAge(age) => age.clamp(min, max),
            CacheDirective::DoNotCache => min,
        }
    }
}

/// The wait before retry number `failures` (1 for the first retry): `min * 2^(failures-1)`,
/// times a random factor in [0.8, 1.2], within [min, max].
pub(crate) fn backoff(failures: u32, min: Duration, max: Duration, random: f64) -> Duration {
    let exp = failures.saturating_sub(1).min(30);
    let base = min.saturating_mul(1u32 << exp).min(max);
    let factor = 0.8 + 0.4 * random.clamp(0.0, 1.0);
    base.mul_f64(factor).clamp(min, max.max(min))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn https_required_except_for_loopback() {
        for ok in [
            "https://example.com/jwks",
            "http://127.0.0.1:8080/jwks",
            "http://127.9.9.9/jwks",
            "http://[::1]:1/jwks",
            "http://localhost/jwks",
            "http://LOCALHOST:99/jwks",
        ] {
            assert!(check_url(&url(ok), false).is_ok(), "{ok}");
        }
        for refused in [
            "http://example.com/jwks",
            "http://10.0.0.1/jwks",
            "http://localhost.example.com/jwks",
            "http://128.0.0.1/jwks",
            "ftp://localhost/jwks",
            "file:///etc/jwks.json",
        ] {
            assert!(check_url(&url(refused), false).is_err(), "{refused}");
        }
        assert_eq!(
            check_url(&url("http://example.com/jwks"), false)
                .unwrap_err()
                .kind(),
            &SourceErrorKind::InsecureUrl
        );
        assert!(check_url(&url("http://example.com/jwks"), true).is_ok());
        assert!(check_url(&url("ftp://example.com/jwks"), true).is_err());
        assert!(parse_url("not a url", false).is_err());
    }

    #[test]
    fn an_https_issuer_cannot_downgrade_its_key_url_to_plain_http() {
        // Found by the SSRF cases of the attack suite: the loopback exception of the scheme
        // rule let an `https://` issuer's discovery document send the key fetch to any
        // `http://127.0.0.1:<port>/<path>` of the resource server's own host.
        let kind = |text: &str, issuer: &str, allow_http: bool| {
            parse_discovered_url(text, issuer, allow_http).map_err(|e| e.kind().clone())
        };
        let remote = "https://idp.example";
        for downgrade in [
            "http://127.0.0.1:6379/",
            "http://localhost/jwks",
            "http://[::1]:8080/jwks",
        ] {
            assert_eq!(
                kind(downgrade, remote, false),
                Err(SourceErrorKind::InsecureUrl),
                "{downgrade}"
            );
            assert!(kind(downgrade, remote, true).is_ok(), "{downgrade}");
        }
        // Keys on another https host are normal (an IdP and its key CDN).
        assert!(kind("https://keys.idp.example/jwks", remote, false).is_ok());
        // A development issuer on loopback keeps its plain-HTTP keys.
        let local = "http://127.0.0.1:8417";
        assert!(kind("http://127.0.0.1:8417/jwks.json", local, false).is_ok());
        assert!(kind("https://keys.idp.example/jwks", local, false).is_ok());
        assert_eq!(
            kind("http://idp.example/jwks", local, false),
            Err(SourceErrorKind::InsecureUrl)
        );
    }

    #[test]
    fn redirects_stay_on_the_origin_and_are_few() {
        let from = url("https://idp.example/jwks");
        assert!(redirect_allowed(
            &from,
            &url("https://idp.example/v2/jwks"),
            0,
            3
        ));
        assert!(redirect_allowed(
            &from,
            &url("https://idp.example:443/k"),
            2,
            3
        ));
        assert!(!redirect_allowed(
            &from,
            &url("https://idp.example/k"),
            3,
            3
        ));
        assert!(!redirect_allowed(
            &from,
            &url("https://evil.example/jwks"),
            0,
            3
        ));
        assert!(!redirect_allowed(
            &from,
            &url("http://idp.example/jwks"),
            0,
            3
        ));
        assert!(!redirect_allowed(
            &from,
            &url("https://idp.example:8443/jwks"),
            0,
            3
        ));
        let local = url("http://127.0.0.1:4000/jwks");
        assert!(!redirect_allowed(
            &local,
            &url("http://localhost:4000/jwks"),
            0,
            3
        ));
    }

    #[test]
    fn cache_control_parsing() {
        use CacheDirective::*;
        let secs = |s| MaxAge(Duration::from_secs(s));
        assert_eq!(CacheDirective::parse(""), Absent);
        assert_eq!(CacheDirective::parse("public, max-age=60"), secs(60));
        assert_eq!(CacheDirective::parse("MAX-AGE = 60"), secs(60));
        assert_eq!(CacheDirective::parse("max-age=\"90\""), secs(90));
        assert_eq!(CacheDirective::parse("max-age=abc"), Absent);
        assert_eq!(CacheDirective::parse("max-age=-5"), Absent);
        assert_eq!(CacheDirective::parse("max-age="), Absent);
        assert_eq!(CacheDirective::parse("max-age"), Absent);
        assert_eq!(CacheDirective::parse("max-age=1.5"), Absent);
        assert_eq!(CacheDirective::parse("s-maxage=60"), Absent);
        assert_eq!(CacheDirective::parse("no-store"), DoNotCache);
        assert_eq!(CacheDirective::parse("max-age=600, no-cache"), DoNotCache);
        assert_eq!(CacheDirective::parse("max-age=60, max-age=60"), secs(60));
        assert_eq!(CacheDirective::parse("max-age=60, max-age=600"), DoNotCache);
        assert_eq!(
            CacheDirective::parse("max-age=99999999999999999999999"),
            MaxAge(Duration::from_secs(u64::MAX))
        );
        let mut headers = HeaderMap::new();
        headers.append(header::CACHE_CONTROL, HeaderValue::from_static("public"));
        headers.append(
            header::CACHE_CONTROL,
            HeaderValue::from_static("max-age=120"),
        );
        assert_eq!(CacheDirective::from_headers(&headers), secs(120));
    }

    #[test]
    fn ttl_is_clamped() {
        let (default, min, max) = (
            Duration::from_secs(300),
            Duration::from_secs(30),
            Duration::from_secs(3600),
        );
        let ttl = |d: CacheDirective| d.ttl(default, min, max).as_secs();
        assert_eq!(ttl(CacheDirective::Absent), 300);
        assert_eq!(ttl(CacheDirective::DoNotCache), 30);
        assert_eq!(ttl(CacheDirective::MaxAge(Duration::from_secs(0))), 30);
        assert_eq!(ttl(CacheDirective::MaxAge(Duration::from_secs(60))), 60);
        assert_eq!(
            ttl(CacheDirective::MaxAge(Duration::from_secs(86_400))),
            3600
        );
    }

    #[test]
    fn backoff_doubles_within_bounds() {
        let (min, max) = (Duration::from_secs(1), Duration::from_secs(30));
        for random in [0.0, 0.25, 0.5, 0.999, 1.0] {
            for failures in 0..100 {
                let d = backoff(failures, min, max, random);
                assert!(d >= min && d <= max, "{failures} {random} {d:?}");
            }
            assert!(backoff(1, min, max, random) <= Duration::from_millis(1200));
            assert!(backoff(10, min, max, random) >= Duration::from_secs(24));
        }
        assert_eq!(backoff(3, min, max, 0.5), Duration::from_secs(4));
        assert_eq!(backoff(u32::MAX, min, max, 0.5), max);
    }
}
