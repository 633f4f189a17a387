//! The request the upstream will see, read from a proxy's sub-request: its method and its
//! target, from the headers of that kind of proxy only, with the path in canonical form.

use std::fmt;

use http::{HeaderMap, Method};
use portcullis_tower::{AmbiguousPath, canonical_path};

/// The kinds of sub-request, one endpoint each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// nginx `auth_request`: `X-Original-Method`, `X-Original-URI`.
    Nginx,
    /// Caddy `forward_auth`, Traefik ForwardAuth: `X-Forwarded-Method`, `-Uri` (and `-Proto`,
    /// `-Host`, which must not disagree with themselves).
    Forward,
    /// Envoy `ext_authz` (HTTP): the sub-request's own method, and its path after the
    /// endpoint's prefix.
    Envoy,
}

/// The path of the Envoy endpoint, the `path_prefix` of `ext_authz`.
pub(crate) const ENVOY_PREFIX: &str = "/auth/envoy";

const ORIGINAL_METHOD: &str = "x-original-method";
const ORIGINAL_URI: &str = "x-original-uri";
const FORWARDED_METHOD: &str = "x-forwarded-method";
const FORWARDED_URI: &str = "x-forwarded-uri";
const FORWARDED_PROTO: &str = "x-forwarded-proto";
const FORWARDED_HOST: &str = "x-forwarded-host";

impl Kind {
    /// The endpoint of a sub-request's path, and for Envoy the original target after it.
    pub(crate) fn of_path(path_and_query: &str) -> Option<(Kind, Option<&str>)> {
        let path = path_and_query.split('?').next().unwrap_or_default();
        match path {
            "/auth/nginx" => Some((Kind::Nginx, None)),
            "/auth/forward" => Some((Kind::Forward, None)),
            _ => {
                let target = path_and_query.strip_prefix(ENVOY_PREFIX)?;
                target
                    .starts_with('/')
                    .then_some((Kind::Envoy, Some(target)))
            }
        }
    }

    /// The headers of the other kinds, which a sub-request of this kind must not carry: a
    /// client could have sent them, and a proxy that does not set them passes them on.
    fn foreign(self) -> &'static [&'static str] {
        match self {
            Kind::Nginx => &[FORWARDED_METHOD, FORWARDED_URI],
            Kind::Forward => &[ORIGINAL_METHOD, ORIGINAL_URI],
            Kind::Envoy => &[
                ORIGINAL_METHOD,
                ORIGINAL_URI,
                FORWARDED_METHOD,
                FORWARDED_URI,
            ],
        }
    }

    /// The endpoint's name, for logs.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Nginx => "nginx",
            Kind::Forward => "forward",
            Kind::Envoy => "envoy",
        }
    }
}

/// Why a sub-request does not say which request it is about (answered `400`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BadSubRequest {
    /// A header of this kind is missing.
    Missing(&'static str),
    /// A header of this kind comes in copies that disagree.
    Disagreeing(&'static str),
    /// A header of another kind is present.
    Foreign(&'static str),
    /// A header's value is not visible ASCII text.
    NotText(&'static str),
    /// The method is not an upper-case token.
    Method,
    /// The target is not an origin-form URI (`/path?query`).
    Target,
    /// The path could mean another path to the upstream.
    Ambiguous(AmbiguousPath),
}

impl BadSubRequest {
    /// A short stable name, for logs.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            BadSubRequest::Missing(_) => "missing_header",
            BadSubRequest::Disagreeing(_) => "disagreeing_headers",
            BadSubRequest::Foreign(_) => "foreign_header",
            BadSubRequest::NotText(_) => "header_not_text",
            BadSubRequest::Method => "bad_method",
            BadSubRequest::Target => "bad_target",
            BadSubRequest::Ambiguous(a) => a.kind().code(),
        }
    }
}

impl fmt::Display for BadSubRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadSubRequest::Missing(h) => write!(f, "the sub-request has no {h} header"),
            BadSubRequest::Disagreeing(h) => {
                write!(f, "the sub-request's {h} headers disagree")
            }
            BadSubRequest::Foreign(h) => write!(
                f,
                "the sub-request carries {h}, a header of another kind of proxy"
            ),
            BadSubRequest::NotText(h) => write!(f, "the sub-request's {h} header is not text"),
            BadSubRequest::Method => f.write_str("the original method is not an HTTP method"),
            BadSubRequest::Target => f.write_str("the original target is not `/path?query`"),
            BadSubRequest::Ambiguous(a) => write!(f, "the original path is ambiguous: {a}"),
        }
    }
}

/// The request the upstream will see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Original {
    pub(crate) method: Method,
    /// The canonical path and the query as sent: what the policy and the layer see.
    pub(crate) target: String,
}

/// The one value of header `name`, when it is present: copies must agree.
fn single<'h>(
    headers: &'h HeaderMap,
    name: &'static str,
) -> Result<Option<&'h str>, BadSubRequest> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.any(|other| other != first) {
        return Err(BadSubRequest::Disagreeing(name));
    }
    first
        .to_str()
        .map(Some)
        .map_err(|_| BadSubRequest::NotText(name))
}

fn required<'h>(headers: &'h HeaderMap, name: &'static str) -> Result<&'h str, BadSubRequest> {
    single(headers, name)?.ok_or(BadSubRequest::Missing(name))
}

/// Reads the original request of a sub-request of `kind`: `method` and `envoy_target` are
/// the sub-request's own method and (for Envoy) the target after the prefix.
pub(crate) fn read(
    kind: Kind,
    headers: &HeaderMap,
    method: &Method,
    envoy_target: Option<&str>,
) -> Result<Original, BadSubRequest> {
    if let Some(name) = kind.foreign().iter().find(|h| headers.contains_key(**h)) {
        return Err(BadSubRequest::Foreign(name));
    }
    let (method, target) = match kind {
        Kind::Nginx => (
            parse_method(required(headers, ORIGINAL_METHOD)?)?,
            required(headers, ORIGINAL_URI)?,
        ),
        Kind::Forward => {
            // Read for their agreement only: the origin that DPoP proofs name is the
            // configured `public_origin`, never a header.
            single(headers, FORWARDED_PROTO)?;
            single(headers, FORWARDED_HOST)?;
            (
                parse_method(required(headers, FORWARDED_METHOD)?)?,
                required(headers, FORWARDED_URI)?,
            )
        }
        Kind::Envoy => (method.clone(), envoy_target.ok_or(BadSubRequest::Target)?),
    };
    Ok(Original {
        method,
        target: canonical_target(target)?,
    })
}

/// An upper-case method token (`GET`, `POST`, `PROPFIND`): servers treat `get` as another
/// method, so it is not read as `GET`.
fn parse_method(text: &str) -> Result<Method, BadSubRequest> {
    let token = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b == b'-' || b == b'_');
    if !token {
        return Err(BadSubRequest::Method);
    }
    Method::from_bytes(text.as_bytes()).map_err(|_| BadSubRequest::Method)
}

/// The target with its path in canonical form and its query as sent.
fn canonical_target(target: &str) -> Result<String, BadSubRequest> {
    if !target.starts_with('/') {
        return Err(BadSubRequest::Target);
    }
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    };
    let path = canonical_path(path).map_err(BadSubRequest::Ambiguous)?;
    let mut out = path.into_owned();
    if let Some(query) = query {
        if query.contains('#') {
            return Err(BadSubRequest::Target);
        }
        out.push('?');
        out.push_str(query);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn each_endpoint_reads_its_own_headers() {
        let nginx = headers(&[(ORIGINAL_METHOD, "POST"), (ORIGINAL_URI, "/%61dmin?x=1")]);
        let o = read(Kind::Nginx, &nginx, &Method::GET, None).unwrap();
        assert_eq!((o.method, o.target.as_str()), (Method::POST, "/admin?x=1"));

        let forward = headers(&[
            (FORWARDED_METHOD, "DELETE"),
            (FORWARDED_URI, "/orders/7"),
            (FORWARDED_PROTO, "https"),
            (FORWARDED_HOST, "api.example.com"),
        ]);
        let o = read(Kind::Forward, &forward, &Method::GET, None).unwrap();
        assert_eq!((o.method, o.target.as_str()), (Method::DELETE, "/orders/7"));

        let o = read(Kind::Envoy, &HeaderMap::new(), &Method::PUT, Some("/a/b?c")).unwrap();
        assert_eq!((o.method, o.target.as_str()), (Method::PUT, "/a/b?c"));
    }

    #[test]
    fn headers_of_another_kind_missing_or_disagreeing_headers_are_refused() {
        use BadSubRequest as B;
        type Case<'a> = (Kind, &'a [(&'static str, &'a str)], B);
        let cases: [Case<'_>; 9] = [
            (
                Kind::Nginx,
                &[(ORIGINAL_METHOD, "GET")],
                B::Missing(ORIGINAL_URI),
            ),
            (
                Kind::Nginx,
                &[
                    (ORIGINAL_METHOD, "GET"),
                    (ORIGINAL_URI, "/a"),
                    (FORWARDED_URI, "/b"),
                ],
                B::Foreign(FORWARDED_URI),
            ),
            (
                Kind::Forward,
                &[
                    (FORWARDED_METHOD, "GET"),
                    (FORWARDED_URI, "/a"),
                    (ORIGINAL_URI, "/b"),
                ],
                B::Foreign(ORIGINAL_URI),
            ),
            (
                Kind::Forward,
                &[
                    (FORWARDED_METHOD, "GET"),
                    (FORWARDED_URI, "/a"),
                    (FORWARDED_URI, "/b"),
                ],
                B::Disagreeing(FORWARDED_URI),
            ),
            (
                Kind::Forward,
                &[
                    (FORWARDED_METHOD, "GET"),
                    (FORWARDED_URI, "/a"),
                    (FORWARDED_HOST, "a"),
                    (FORWARDED_HOST, "b"),
                ],
                B::Disagreeing(FORWARDED_HOST),
            ),
            (
                Kind::Envoy,
                &[(FORWARDED_METHOD, "GET")],
                B::Foreign(FORWARDED_METHOD),
            ),
            (
                Kind::Envoy,
                &[(ORIGINAL_URI, "/x")],
                B::Foreign(ORIGINAL_URI),
            ),
            (
                Kind::Nginx,
                &[(ORIGINAL_METHOD, "get"), (ORIGINAL_URI, "/a")],
                B::Method,
            ),
            (
                Kind::Nginx,
                &[(ORIGINAL_METHOD, "GET"), (ORIGINAL_URI, "http://h/a")],
                B::Target,
            ),
        ];
        for (kind, pairs, expected) in cases {
            assert_eq!(
                read(kind, &headers(pairs), &Method::GET, Some("/x")),
                Err(expected),
                "{kind:?} {pairs:?}"
            );
        }
        // Agreeing copies are one value.
        let twice = headers(&[
            (FORWARDED_METHOD, "GET"),
            (FORWARDED_URI, "/a"),
            (FORWARDED_URI, "/a"),
        ]);
        assert!(read(Kind::Forward, &twice, &Method::GET, None).is_ok());
    }

    #[test]
    fn methods_are_upper_case_tokens_hyphens_and_underscores_included() {
        for good in ["GET", "PROPFIND", "VERSION-CONTROL", "BASELINE_CONTROL"] {
            assert_eq!(parse_method(good).unwrap().as_str(), good);
        }
        for bad in ["get", "Get", "", "GET ", "G/T", "GËT"] {
            assert_eq!(parse_method(bad), Err(BadSubRequest::Method), "{bad:?}");
        }
    }

    #[test]
    fn ambiguous_paths_are_refused() {
        for target in [
            "/admin/..%2Fpublic",
            "/a/../b",
            "//a",
            "/a%zz",
            "/a%ff",
            "/a?b#c",
        ] {
            let h = headers(&[(ORIGINAL_METHOD, "GET"), (ORIGINAL_URI, target)]);
            assert!(
                read(Kind::Nginx, &h, &Method::GET, None).is_err(),
                "{target}"
            );
        }
    }

    #[test]
    fn the_endpoint_is_chosen_by_the_exact_path() {
        assert_eq!(Kind::of_path("/auth/nginx"), Some((Kind::Nginx, None)));
        assert_eq!(
            Kind::of_path("/auth/forward?x"),
            Some((Kind::Forward, None))
        );
        assert_eq!(
            Kind::of_path("/auth/envoy/orders?x=1"),
            Some((Kind::Envoy, Some("/orders?x=1")))
        );
        assert_eq!(Kind::of_path("/auth/envoyx/orders"), None);
        assert_eq!(Kind::of_path("/auth/envoy"), None);
        assert_eq!(Kind::of_path("/auth/nginx/x"), None);
        assert_eq!(Kind::of_path("/"), None);
    }
}
