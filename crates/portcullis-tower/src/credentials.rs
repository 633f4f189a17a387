//! Finding the bearer token in a request (RFC 6750 section 2).
//!
//! The `Authorization: Bearer` header is always read. A named cookie, another header and the
//! `access_token` query parameter are read only when configured. A request that carries more
//! than one credential, or a credential that is not a valid `b64token`, is a malformed request
//! (`400 invalid_request`): guessing which of two tokens the client meant is how confused-deputy
//! bugs start.

use std::borrow::Cow;
use std::fmt;

use http::header::{AUTHORIZATION, COOKIE};
use http::{HeaderMap, HeaderName, Uri};
use portcullis_core::Scheme;

use crate::certificate::CertificateError;

/// Where, besides `Authorization: Bearer`, the layer looks for a token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenSources {
    cookie: Option<Box<str>>,
    header: Option<HeaderName>,
    query: bool,
}

impl TokenSources {
    /// Only `Authorization: Bearer` (the default).
    #[must_use]
    pub fn authorization_header() -> Self {
        TokenSources::default()
    }

    /// Also the cookie with this name (its value is the token, optionally in double quotes).
    #[must_use]
    pub fn with_cookie(mut self, name: impl Into<String>) -> Self {
        self.cookie = Some(name.into().into_boxed_str());
        self
    }

    /// Also this header, whose whole value is the token (no scheme).
    #[must_use]
    pub fn with_header(mut self, name: HeaderName) -> Self {
        self.header = Some(name);
        self
    }

    /// Also the `access_token` query parameter (RFC 6750 section 2.3, which says it SHOULD
    /// NOT be used). Tokens in URLs end up in access logs, browser history and `Referer`
    /// headers, where anyone who reads them can replay them: prefer the header.
    #[must_use]
    pub fn danger_allow_query_parameter(mut self) -> Self {
        self.query = true;
        self
    }

    /// Whether the `access_token` query parameter is read.
    pub(crate) fn query_allowed(&self) -> bool {
        self.query
    }
}

/// Why a request's credentials are malformed (answered `400 invalid_request`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidRequest {
    /// More than one credential: two `Authorization` headers, or a token in two places.
    MultipleCredentials,
    /// A `Bearer` credential (or a configured source) whose value is not a `b64token`.
    MalformedCredential,
    /// More than one `DPoP` proof header (RFC 9449 section 4.3 allows exactly one).
    MultipleProofs,
    /// A `DPoP` header whose value is not text.
    MalformedProof,
    /// The client-certificate header of a configured proxy source is malformed, given twice,
    /// or names more than one certificate ([`CertificateSource`](crate::CertificateSource)).
    MalformedCertificate(CertificateError),
}

impl InvalidRequest {
    /// A short stable identifier, as logged.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            InvalidRequest::MultipleCredentials => "multiple_credentials",
            InvalidRequest::MalformedCredential => "malformed_credential",
            InvalidRequest::MultipleProofs => "multiple_proofs",
            InvalidRequest::MalformedProof => "malformed_proof",
            InvalidRequest::MalformedCertificate(_) => "malformed_certificate",
        }
    }
}

impl fmt::Display for InvalidRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InvalidRequest::MultipleCredentials => "the request carries more than one credential",
            InvalidRequest::MalformedCredential => "the bearer credential is malformed",
            InvalidRequest::MultipleProofs => "the request carries more than one DPoP proof",
            InvalidRequest::MalformedProof => "the DPoP proof header is not text",
            InvalidRequest::MalformedCertificate(why) => {
                return write!(f, "the client certificate header is malformed: {why}");
            }
        })
    }
}

impl std::error::Error for InvalidRequest {}

/// The token of a request, if it has exactly one. Its `b64token` syntax is not checked here
/// (see [`is_b64token`]): the layer checks it before or after verification, whichever is
/// cheaper for the verifier.
///
/// # Errors
/// [`InvalidRequest`] for two credentials, a `Bearer` credential without a token, or bytes
/// that are not UTF-8.
pub(crate) fn find_token<'r>(
    sources: &TokenSources,
    headers: &'r HeaderMap,
    uri: &'r Uri,
    dpop: bool,
) -> Result<Option<(Scheme, Cow<'r, str>)>, InvalidRequest> {
    let mut found: Option<(Scheme, Cow<'r, str>)> = None;
    let mut scheme = Scheme::Bearer;
    let mut put = |token: Cow<'r, str>| {
        if found.is_some() {
            return Err(InvalidRequest::MultipleCredentials);
        }
        found = Some((Scheme::Bearer, token));
        Ok(())
    };

    let mut authorization = headers.get_all(AUTHORIZATION).iter();
    if let Some(value) = authorization.next() {
        if authorization.next().is_some() {
            return Err(InvalidRequest::MultipleCredentials);
        }
        let value = value.as_bytes();
        if let Some(token) = scheme_token(value, b"bearer")? {
            put(Cow::Borrowed(token))?;
        } else if dpop && let Some(token) = scheme_token(value, b"dpop")? {
            put(Cow::Borrowed(token))?;
            scheme = Scheme::DPoP;
        }
    }

    if let Some(name) = &sources.header {
        let mut values = headers.get_all(name).iter();
        if let Some(value) = values.next() {
            if values.next().is_some() {
                return Err(InvalidRequest::MultipleCredentials);
            }
            put(Cow::Borrowed(utf8(value.as_bytes())?))?;
        }
    }

    if let Some(name) = &sources.cookie {
        for header in headers.get_all(COOKIE) {
            let Ok(header) = header.to_str() else {
                continue;
            };
            for pair in header.split(';') {
                let Some((key, value)) = pair.split_once('=') else {
                    continue;
                };
                if key.trim() != &**name {
                    continue;
                }
                let value = value.trim();
                let value = value
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(value);
                put(Cow::Borrowed(value))?;
            }
        }
    }

    if sources.query
        && let Some(query) = uri.query()
    {
        for pair in query.split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if key != "access_token" {
                continue;
            }
            let decoded = form_decode(value).ok_or(InvalidRequest::MalformedCredential)?;
            put(Cow::Owned(decoded))?;
        }
    }

    Ok(found.map(|(_, token)| (scheme, token)))
}

/// The value of the request's `DPoP` header (RFC 9449), if it has exactly one.
///
/// # Errors
/// [`InvalidRequest::MultipleProofs`] for two or more, [`InvalidRequest::MalformedProof`] for
/// a value that is not UTF-8.
pub(crate) fn dpop_proof(headers: &HeaderMap) -> Result<Option<&str>, InvalidRequest> {
    let mut values = headers.get_all(DPOP).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(InvalidRequest::MultipleProofs);
    }
    std::str::from_utf8(value.as_bytes())
        .map(Some)
        .map_err(|_| InvalidRequest::MalformedProof)
}

/// The `DPoP` request header (RFC 9449 section 4.1).
const DPOP: HeaderName = HeaderName::from_static("dpop");

/// The token of an `Authorization` value whose scheme is `Bearer` (any case), `None` for
/// another scheme.
fn scheme_token<'v>(value: &'v [u8], name: &[u8]) -> Result<Option<&'v str>, InvalidRequest> {
    let Some((scheme, rest)) = value.split_at_checked(name.len()) else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case(name) {
        return Ok(None);
    }
    match rest.first() {
        // `Bearer` alone, or followed by nothing but spaces: a credential without a token.
        None => return Err(InvalidRequest::MalformedCredential),
        Some(b' ') => {}
        // `Bearerx ...` is another scheme.
        Some(_) => return Ok(None),
    }
    let start = rest.iter().position(|b| *b != b' ').unwrap_or(rest.len());
    let token = rest.get(start..).unwrap_or_default();
    if token.is_empty() {
        return Err(InvalidRequest::MalformedCredential);
    }
    utf8(token).map(Some)
}

fn utf8(value: &[u8]) -> Result<&str, InvalidRequest> {
    std::str::from_utf8(value).map_err(|_| InvalidRequest::MalformedCredential)
}

/// The bytes of a `b64token` before its padding, as a table: this runs over every token.
const B64TOKEN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        #[allow(clippy::cast_possible_truncation)] // b < 256
        let c = b as u8;
        #[allow(clippy::indexing_slicing)] // b < 256, evaluated at compile time
        {
            table[b] =
                c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
        }
        b += 1;
    }
    table
};

/// Whether `token` is a `b64token`:
/// `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="` (RFC 6750 2.1).
pub(crate) fn is_b64token(token: &str) -> bool {
    let value = token.as_bytes();
    let body_len = value
        .iter()
        .position(|b| B64TOKEN.get(usize::from(*b)) != Some(&true))
        .unwrap_or(value.len());
    let (body, padding) = value.split_at(body_len);
    !body.is_empty() && padding.iter().all(|b| *b == b'=')
}

/// `application/x-www-form-urlencoded` decoding of one value: `+` is a space, `%XX` a byte.
fn form_decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = hex(*bytes.get(i + 1)?)?;
                let lo = hex(*bytes.get(i + 2)?)?;
                out.push(hi << 4 | lo);
                i += 2;
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn find(
        sources: &TokenSources,
        headers: &[(&str, &str)],
        uri: &str,
    ) -> Result<Option<String>, InvalidRequest> {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        let uri: Uri = uri.parse().unwrap();
        // As the layer answers: a token that is not a b64token is a malformed request.
        match find_token(sources, &map, &uri, false)? {
            Some((_, token)) if !is_b64token(&token) => Err(InvalidRequest::MalformedCredential),
            token => Ok(token.map(|(_, t)| t.into_owned())),
        }
    }

    #[test]
    fn the_dpop_scheme_is_read_only_where_dpop_is_accepted() {
        let s = TokenSources::default().with_cookie("at");
        let mut map = HeaderMap::new();
        map.insert(AUTHORIZATION, HeaderValue::from_static("dPoP a.b.c"));
        let uri: Uri = "/".parse().unwrap();
        assert_eq!(find_token(&s, &map, &uri, false), Ok(None));
        let found = find_token(&s, &map, &uri, true).unwrap().unwrap();
        assert_eq!((found.0, &*found.1), (Scheme::DPoP, "a.b.c"));
        map.insert(AUTHORIZATION, HeaderValue::from_static("DPoP"));
        assert_eq!(
            find_token(&s, &map, &uri, true),
            Err(InvalidRequest::MalformedCredential)
        );
        map.insert(AUTHORIZATION, HeaderValue::from_static("Bearer a.b.c"));
        let found = find_token(&s, &map, &uri, true).unwrap().unwrap();
        assert_eq!(found.0, Scheme::Bearer);
        // A DPoP credential and a cookie: two credentials.
        map.insert(AUTHORIZATION, HeaderValue::from_static("DPoP a.b.c"));
        map.insert(COOKIE, HeaderValue::from_static("at=x.y.z"));
        assert_eq!(
            find_token(&s, &map, &uri, true),
            Err(InvalidRequest::MultipleCredentials)
        );
    }

    #[test]
    fn the_scheme_is_case_insensitive_and_the_token_syntax_checked() {
        let s = TokenSources::default();
        for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
            let value = format!("{scheme} abc.DEF-_~+/==");
            assert_eq!(
                find(&s, &[("authorization", &value)], "/")
                    .unwrap()
                    .as_deref(),
                Some("abc.DEF-_~+/==")
            );
        }
        assert_eq!(
            find(&s, &[("authorization", "Bearer   a.b.c")], "/").unwrap(),
            Some("a.b.c".into())
        );
        for bad in [
            "Bearer",
            "Bearer ",
            "Bearer a b",
            "Bearer a=b",
            "Bearer =",
            "Bearer a,b",
            "Bearer \"a\"",
        ] {
            assert_eq!(
                find(&s, &[("authorization", bad)], "/"),
                Err(InvalidRequest::MalformedCredential),
                "{bad}"
            );
        }
    }

    #[test]
    fn each_malformed_request_has_its_own_code_and_wording() {
        let all = [
            InvalidRequest::MultipleCredentials,
            InvalidRequest::MalformedCredential,
            InvalidRequest::MultipleProofs,
            InvalidRequest::MalformedProof,
            InvalidRequest::MalformedCertificate(CertificateError::Repeated),
        ];
        let codes: Vec<&str> = all.iter().map(|e| e.code()).collect();
        assert_eq!(
            codes,
            [
                "multiple_credentials",
                "malformed_credential",
                "multiple_proofs",
                "malformed_proof",
                "malformed_certificate"
            ]
        );
        let texts: std::collections::HashSet<String> =
            all.iter().map(ToString::to_string).collect();
        assert_eq!(texts.len(), all.len());
        assert!(texts.iter().all(|t| !t.is_empty()));
    }

    #[test]
    fn one_dpop_proof_is_read_and_two_are_a_malformed_request() {
        let mut headers = HeaderMap::new();
        assert_eq!(dpop_proof(&headers), Ok(None));
        headers.insert("dpop", HeaderValue::from_static("a.b.c"));
        assert_eq!(dpop_proof(&headers), Ok(Some("a.b.c")));
        headers.append("dpop", HeaderValue::from_static("d.e.f"));
        assert_eq!(dpop_proof(&headers), Err(InvalidRequest::MultipleProofs));
        let mut headers = HeaderMap::new();
        headers.insert("dpop", HeaderValue::from_bytes(b"\xff").unwrap());
        assert_eq!(dpop_proof(&headers), Err(InvalidRequest::MalformedProof));
    }

    #[test]
    fn other_schemes_are_no_bearer_credential() {
        let s = TokenSources::default();
        for other in [
            "Basic dXNlcjpwYXNz",
            "DPoP a.b.c",
            "Bearerish a.b.c",
            "Bear",
        ] {
            assert_eq!(find(&s, &[("authorization", other)], "/"), Ok(None));
        }
        assert_eq!(find(&s, &[], "/"), Ok(None));
    }

    #[test]
    fn two_credentials_are_a_malformed_request() {
        let s = TokenSources::default().danger_allow_query_parameter();
        assert_eq!(
            find(
                &s,
                &[("authorization", "Bearer a"), ("authorization", "Bearer a")],
                "/"
            ),
            Err(InvalidRequest::MultipleCredentials)
        );
        assert_eq!(
            find(&s, &[("authorization", "Bearer a")], "/x?access_token=a"),
            Err(InvalidRequest::MultipleCredentials)
        );
        assert_eq!(
            find(&s, &[], "/x?access_token=a&access_token=b"),
            Err(InvalidRequest::MultipleCredentials)
        );
    }

    #[test]
    fn configured_sources_are_read_and_others_ignored() {
        let none = TokenSources::default();
        assert_eq!(
            find(&none, &[("cookie", "at=a.b.c")], "/?access_token=x"),
            Ok(None)
        );

        let cookie = TokenSources::default().with_cookie("at");
        assert_eq!(
            find(&cookie, &[("cookie", "x=1; at=\"a.b.c\"; y=2")], "/").unwrap(),
            Some("a.b.c".into())
        );
        assert_eq!(
            find(&cookie, &[("cookie", "at=a; at=b")], "/"),
            Err(InvalidRequest::MultipleCredentials)
        );

        let header = TokenSources::default().with_header(HeaderName::from_static("x-token"));
        assert_eq!(
            find(&header, &[("x-token", "a.b.c")], "/").unwrap(),
            Some("a.b.c".into())
        );
        assert_eq!(
            find(&header, &[("x-token", "Bearer a.b.c")], "/"),
            Err(InvalidRequest::MalformedCredential)
        );

        let query = TokenSources::default().danger_allow_query_parameter();
        assert_eq!(
            find(&query, &[], "/x?a=1&access_token=a%2Eb.c").unwrap(),
            Some("a.b.c".into())
        );
        assert_eq!(
            find(&query, &[], "/x?access_token=a+b"),
            Err(InvalidRequest::MalformedCredential)
        );
        assert_eq!(
            find(&query, &[], "/x?access_token=%zz"),
            Err(InvalidRequest::MalformedCredential)
        );
    }
}
