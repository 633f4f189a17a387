//! What a refused request is answered: one function, [`answer`], maps every [`Rejection`] to
//! the status and headers RFC 6750 (HTTP) or the gRPC status codes prescribe.
//!
//! | rejection | HTTP | gRPC (trailers-only, HTTP 200; see [`Protocol::of`] for who gets it) |
//! |---|---|---|
//! | no credentials | 401, `WWW-Authenticate: Bearer realm="…"` (no error code) | 16 UNAUTHENTICATED |
//! | malformed request (two tokens, bad syntax) | 400, `error="invalid_request"` | 16 UNAUTHENTICATED |
//! | token invalid for any reason | 401, `error="invalid_token"` | 16 UNAUTHENTICATED |
//! | insufficient scope | 403, `error="insufficient_scope"`, `scope="…"` | 7 PERMISSION_DENIED |
//! | login not strong or recent enough (step-up, RFC 9470) | 401, `error="insufficient_user_authentication"`, `acr_values="…"`, `max_age="…"` | 16 UNAUTHENTICATED |
//! | revoked (on the deny list) | 401, `error="invalid_token"` | 16 UNAUTHENTICATED |
//! | keys, replay store, deny list or shared cache unavailable | 503, `Retry-After` | 14 UNAVAILABLE |
//! | layer missing (a configuration error) | 500 | 13 INTERNAL |
//!
//! With a resource identifier ([`Answers::resource_metadata`], RFC 9728), every challenge
//! also carries `resource_metadata="…"`, the URL of the resource's metadata, where a client
//! finds the authorization servers to get a token from.
//!
//! Every answer carries `Cache-Control: no-store`. `error_description` is off unless
//! [`Answers::describe_errors`] is set, and then says which rule failed, never what the token
//! holds. gRPC answers keep `www-authenticate` for clients that read it.
//!
//! ```
//! use portcullis_core::{ErrorKind, ScopeRequirement};
//! use portcullis_tower::{answer, Answers, Protocol, Rejection};
//!
//! let answers = Answers::default().realm("orders");
//! let refused = Rejection::Refused(ErrorKind::Expired.into());
//! let response = answer(&refused, Protocol::Http, &answers);
//! assert_eq!(response.status(), 401);
//! assert_eq!(response.headers()["www-authenticate"], r#"Bearer realm="orders", error="invalid_token""#);
//!
//! let scope = Rejection::Refused(ErrorKind::InsufficientScope(ScopeRequirement::all_of(["orders.write"])).into());
//! let response = answer(&scope, Protocol::Grpc, &answers);
//! assert_eq!(response.headers()["grpc-status"], "7");
//! ```

use std::fmt::{self, Write as _};

use http::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, Response, StatusCode, Version};
use portcullis_core::{Algorithm, AuthError, ErrorKind};

use crate::credentials::InvalidRequest;

/// Why the layer (or a scope check behind it) refused a request.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Rejection {
    /// The request carries no bearer token.
    MissingCredentials,
    /// The request's credentials are malformed (two tokens, bad syntax).
    InvalidRequest(InvalidRequest),
    /// The token was refused; [`AuthError::kind`] says by which rule. Insufficient scope and
    /// unavailable keys are kinds of this too.
    Refused(AuthError),
    /// The service is misconfigured: a handler or scope check expects the verified claims,
    /// but no [`BearerAuthLayer`](crate::BearerAuthLayer) ran before it.
    LayerMissing,
}

impl Rejection {
    /// A short stable identifier of the reason, as logged.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::MissingCredentials => "missing_credentials",
            Rejection::InvalidRequest(e) => e.code(),
            Rejection::Refused(e) => e.code(),
            Rejection::LayerMissing => "layer_missing",
        }
    }

    /// The error of a refused token, if this is one.
    #[must_use]
    pub fn auth_error(&self) -> Option<&AuthError> {
        match self {
            Rejection::Refused(e) => Some(e),
            _ => None,
        }
    }

    /// The HTTP status of the answer.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            Rejection::MissingCredentials => StatusCode::UNAUTHORIZED,
            Rejection::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Rejection::Refused(e) => match e.kind() {
                ErrorKind::InsufficientScope(_)
                | ErrorKind::InsufficientClaims(_)
                | ErrorKind::InsufficientRoles(_) => StatusCode::FORBIDDEN,
                ErrorKind::KeysUnavailable
                | ErrorKind::ReplayStoreUnavailable(_)
                | ErrorKind::RevocationUnavailable(_)
                | ErrorKind::SharedCacheUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::UNAUTHORIZED,
            },
            Rejection::LayerMissing => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The gRPC status code of the answer.
    #[must_use]
    pub fn grpc_code(&self) -> u8 {
        match self.status() {
            StatusCode::FORBIDDEN => 7,
            StatusCode::SERVICE_UNAVAILABLE => 14,
            StatusCode::INTERNAL_SERVER_ERROR => 13,
            _ => 16,
        }
    }

    /// The error code of the answer: RFC 6750's `invalid_request`, `invalid_token`,
    /// `insufficient_scope`, or RFC 9449's `invalid_dpop_proof` and `use_dpop_nonce`, if it
    /// has one: a missing token, a bearer token where DPoP is required, an unavailable key
    /// source or replay store and a missing layer have none.
    #[must_use]
    pub fn error_code(&self) -> Option<&'static str> {
        match self {
            Rejection::MissingCredentials | Rejection::LayerMissing => None,
            Rejection::InvalidRequest(_) => Some("invalid_request"),
            Rejection::Refused(e) => match e.kind() {
                // RFC 6750 3.1: "requires higher privileges than provided by the access
                // token"; only a scope requirement names what it lacks (`scope`).
                ErrorKind::InsufficientScope(_)
                | ErrorKind::InsufficientClaims(_)
                | ErrorKind::InsufficientRoles(_) => Some("insufficient_scope"),
                ErrorKind::InsufficientUserAuthentication(_) => {
                    Some("insufficient_user_authentication")
                }
                ErrorKind::InvalidProof(_) => Some("invalid_dpop_proof"),
                ErrorKind::UseDpopNonce(_) => Some("use_dpop_nonce"),
                ErrorKind::KeysUnavailable
                | ErrorKind::ReplayStoreUnavailable(_)
                | ErrorKind::RevocationUnavailable(_)
                | ErrorKind::SharedCacheUnavailable(_)
                | ErrorKind::DpopRequired => None,
                _ => Some("invalid_token"),
            },
        }
    }

    /// Whether the answer challenges the client to authenticate (`WWW-Authenticate`): every
    /// 401, 400 and 403; not a 503 (the client did nothing wrong) nor a 500.
    fn challenges(&self) -> bool {
        match self {
            Rejection::LayerMissing => false,
            Rejection::MissingCredentials | Rejection::InvalidRequest(_) => true,
            Rejection::Refused(e) => {
                self.error_code().is_some() || matches!(e.kind(), ErrorKind::DpopRequired)
            }
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::MissingCredentials => f.write_str("no bearer token"),
            Rejection::InvalidRequest(e) => fmt::Display::fmt(e, f),
            Rejection::Refused(e) => fmt::Display::fmt(e, f),
            Rejection::LayerMissing => f.write_str(
                "no BearerAuthLayer ran before this handler or scope check (configuration error)",
            ),
        }
    }
}

impl std::error::Error for Rejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Rejection::InvalidRequest(e) => Some(e),
            Rejection::Refused(e) => Some(e),
            _ => None,
        }
    }
}

impl From<AuthError> for Rejection {
    fn from(e: AuthError) -> Self {
        Rejection::Refused(e)
    }
}

impl From<ErrorKind> for Rejection {
    fn from(kind: ErrorKind) -> Self {
        Rejection::Refused(kind.into())
    }
}

impl From<InvalidRequest> for Rejection {
    fn from(e: InvalidRequest) -> Self {
        Rejection::InvalidRequest(e)
    }
}

/// Which kind of answer a request gets: see [`Protocol::of`] for the rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Protocol {
    /// RFC 6750 status codes.
    Http,
    /// A gRPC trailers-only answer (HTTP 200, `grpc-status` in the headers).
    Grpc,
    /// A gRPC-Web trailers-only answer (`application/grpc-web*`, before a gRPC-Web
    /// translation layer such as tonic-web has turned the call into plain gRPC): the same
    /// status headers, with the gRPC-Web content type; `text` for `application/grpc-web-text`.
    GrpcWeb {
        /// The base64 (`-text`) variant.
        text: bool,
    },
}

impl Protocol {
    /// The answer a request gets, from its HTTP version, its `content-type` and whether the
    /// layer is configured as in front of gRPC-Web routes ([`Answers::grpc_web`]):
    ///
    /// - HTTP/2 with `application/grpc`, alone or followed by `+` (`application/grpc+proto`)
    ///   or `;`: gRPC.
    /// - With [`Answers::grpc_web`] only: `application/grpc-web` and
    ///   `application/grpc-web-text` (likewise followed), over any version, are gRPC-Web; and
    ///   `application/grpc*` over HTTP/1.x is gRPC (a gRPC-Web call as tonic-web hands it on,
    ///   translated but still HTTP/1.1).
    /// - Anything else is HTTP: without [`Answers::grpc_web`], every HTTP/1.x request gets the
    ///   RFC 6750 status (401, 403, ...) whatever its content type, so that a proxy or rate
    ///   limiter in front that decides on the status alone (nginx `auth_request`, Traefik
    ///   ForwardAuth) never sees a refusal as `200 OK`.
    ///
    /// ```
    /// use http::{HeaderMap, HeaderValue, Version};
    /// use portcullis_tower::{Answers, Protocol};
    ///
    /// let mut headers = HeaderMap::new();
    /// headers.insert("content-type", HeaderValue::from_static("application/grpc"));
    /// let rest = Answers::default();
    /// assert_eq!(Protocol::of(Version::HTTP_2, &headers, &rest), Protocol::Grpc);
    /// assert_eq!(Protocol::of(Version::HTTP_11, &headers, &rest), Protocol::Http);
    ///
    /// headers.insert("content-type", HeaderValue::from_static("application/grpc-web"));
    /// assert_eq!(Protocol::of(Version::HTTP_11, &headers, &rest), Protocol::Http);
    /// let web = Answers::default().grpc_web(true);
    /// assert_eq!(Protocol::of(Version::HTTP_11, &headers, &web), Protocol::GrpcWeb { text: false });
    /// ```
    #[must_use]
    pub fn of(version: Version, headers: &HeaderMap, answers: &Answers) -> Self {
        let by_type = Self::of_content_type(headers);
        match by_type {
            Protocol::Http => Protocol::Http,
            Protocol::Grpc if version == Version::HTTP_2 => Protocol::Grpc,
            // gRPC over HTTP/1.x exists only behind a gRPC-Web translation.
            Protocol::Grpc | Protocol::GrpcWeb { .. } if answers.grpc_web => by_type,
            Protocol::Grpc | Protocol::GrpcWeb { .. } => Protocol::Http,
        }
    }

    /// From the `content-type` alone: `application/grpc` alone or followed by `+` or `;` is
    /// gRPC; `application/grpc-web` and `application/grpc-web-text` (likewise) are gRPC-Web;
    /// anything else is HTTP.
    fn of_content_type(headers: &HeaderMap) -> Self {
        let Some(rest) = headers
            .get(CONTENT_TYPE)
            .map(HeaderValue::as_bytes)
            .and_then(|ct| ct.strip_prefix(b"application/grpc"))
        else {
            return Protocol::Http;
        };
        let ends = |rest: &[u8]| matches!(rest.first(), None | Some(b'+' | b';'));
        if ends(rest) {
            Protocol::Grpc
        } else if let Some(web) = rest.strip_prefix(b"-web-text") {
            if ends(web) {
                Protocol::GrpcWeb { text: true }
            } else {
                Protocol::Http
            }
        } else if let Some(web) = rest.strip_prefix(b"-web") {
            if ends(web) {
                Protocol::GrpcWeb { text: false }
            } else {
                Protocol::Http
            }
        } else {
            Protocol::Http
        }
    }
}

/// The `error_description` of an HTTP answer, unfiltered, in the answer's extensions for a
/// hook that repeats it in a body ([`JsonAnswer`](crate::JsonAnswer)); present only when
/// descriptions are on.
#[derive(Debug, Clone)]
pub(crate) struct Described(pub(crate) std::sync::Arc<str>);

/// How answers are worded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answers {
    realm: Option<Box<str>>,
    describe: bool,
    retry_after_secs: u32,
    grpc_web: bool,
    dpop: Option<DpopChallenge>,
    /// The URL of the protected resource's metadata (RFC 9728 section 5.1).
    resource_metadata: Option<Box<str>>,
    /// The `scope` of every `401` challenge: what a request needs, so that a client's first
    /// token request can ask for it (the MCP profile's recommended challenge).
    challenge_scope: Option<Box<str>>,
}

/// The `DPoP` challenge (RFC 9449 section 7.1) of a layer that accepts DPoP.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DpopChallenge {
    /// The proof algorithms, space-separated JOSE names.
    algs: Box<str>,
    /// Whether bearer tokens are accepted too (then both schemes are challenged).
    bearer: bool,
}

/// The default `Retry-After` of a 503: long enough for a JWKS retry (portcullis-jwks backs off
/// from 1 s), short enough that clients come back soon after the keys return.
pub const DEFAULT_RETRY_AFTER_SECS: u32 = 5;

impl Default for Answers {
    fn default() -> Self {
        Answers {
            realm: None,
            describe: false,
            retry_after_secs: DEFAULT_RETRY_AFTER_SECS,
            grpc_web: false,
            dpop: None,
            resource_metadata: None,
            challenge_scope: None,
        }
    }
}

impl Answers {
    /// The `realm` auth-param of every challenge. Characters outside printable ASCII, `"` and
    /// `\` are dropped.
    #[must_use]
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = Some(realm.into().into_boxed_str());
        self
    }

    /// Adds `error_description` (and, for gRPC, a precise `grpc-message`) naming the rule that
    /// failed, e.g. "token expired". Never token content, but it tells a caller which check
    /// refused it: off by default.
    #[must_use]
    pub fn describe_errors(mut self, describe: bool) -> Self {
        self.describe = describe;
        self
    }

    /// The `Retry-After` value of a 503, in seconds.
    #[must_use]
    pub fn retry_after_secs(mut self, secs: u32) -> Self {
        self.retry_after_secs = secs;
        self
    }

    /// Declares that the routes behind this layer are gRPC-Web routes (served through a
    /// gRPC-Web translation such as tonic-web), so that `application/grpc-web*` requests, and
    /// `application/grpc*` requests over HTTP/1.x, get gRPC-Web or gRPC trailers-only answers
    /// (HTTP 200 with `grpc-status`). Off by default: an HTTP/1.x request is then always
    /// answered with its HTTP status (see [`Protocol::of`]).
    ///
    /// # Deployment caveat
    /// Set it only on a layer whose every route is gRPC (a tonic server with tonic-web): on
    /// a REST route, a client could choose a gRPC-Web content type and turn a refusal into a
    /// `200` that a proxy deciding on the status alone would let through.
    #[must_use]
    pub fn grpc_web(mut self, on: bool) -> Self {
        self.grpc_web = on;
        self
    }

    /// Adds `resource_metadata="url"` to every challenge (RFC 9728 section 5.1): the URL of
    /// the protected resource's metadata document, from which a client learns which
    /// authorization server to get a token from. Give the URL built from the configured
    /// resource identifier ([`ResourceMetadata::url`](crate::ResourceMetadata::url)), never
    /// one built from a request's `Host`.
    #[must_use]
    pub fn resource_metadata(mut self, url: impl Into<String>) -> Self {
        self.resource_metadata = Some(url.into().into_boxed_str());
        self
    }

    /// Challenges DPoP clients too (RFC 9449 section 7.1): a `DPoP` challenge naming the
    /// proof algorithms `algs`, beside the `Bearer` one when `bearer` tokens are accepted
    /// too. [`BearerAuthLayer::dpop`](crate::BearerAuthLayer::dpop) sets it.
    #[must_use]
    pub fn dpop(mut self, algs: impl IntoIterator<Item = Algorithm>, bearer: bool) -> Self {
        let algs: Vec<&str> = algs.into_iter().map(Algorithm::as_str).collect();
        self.dpop = Some(DpopChallenge {
            algs: algs.join(" ").into_boxed_str(),
            bearer,
        });
        self
    }

    /// These answers, naming `scope` (a space-separated list; empty for none) in every
    /// `401` challenge (RFC 6750 section 3 allows the attribute on any challenge). The MCP
    /// profile's: a client refused for want of a token learns which scopes to ask for.
    #[cfg(any(feature = "mcp", test))]
    pub(crate) fn with_challenge_scope(&self, scope: &str) -> Answers {
        let mut answers = self.clone();
        answers.challenge_scope = (!scope.is_empty()).then(|| scope.into());
        answers
    }
}

/// The answer to a refused request: status and headers, with an empty body.
///
/// This is the one place the wire format of a refusal is decided; the layer, the scope checks
/// and the extractors all call it.
#[must_use]
pub fn answer(rejection: &Rejection, protocol: Protocol, answers: &Answers) -> Response<()> {
    let mut response = Response::new(());
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if rejection.challenges() {
        challenge(rejection, answers, headers);
    }
    if let Some(ErrorKind::UseDpopNonce(nonce)) = rejection.auth_error().map(AuthError::kind)
        && let Ok(value) = HeaderValue::from_str(nonce)
    {
        headers.insert(DPOP_NONCE, value);
    }
    match protocol {
        Protocol::Http => {
            *response.status_mut() = rejection.status();
            if answers.describe && rejection.error_code().is_some() {
                // For a hook that repeats it in a body (`JsonAnswer`), unfiltered.
                let description = rejection.to_string().into();
                response.extensions_mut().insert(Described(description));
            }
            if rejection.status() == StatusCode::SERVICE_UNAVAILABLE {
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from(answers.retry_after_secs));
            }
        }
        Protocol::Grpc | Protocol::GrpcWeb { .. } => {
            let content_type = match protocol {
                Protocol::GrpcWeb { text: true } => "application/grpc-web-text+proto",
                Protocol::GrpcWeb { text: false } => "application/grpc-web+proto",
                _ => "application/grpc",
            };
            let headers = response.headers_mut();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
            headers.insert(
                "grpc-status",
                HeaderValue::from(u16::from(rejection.grpc_code())),
            );
            // A 503's reason names the dependency that failed (a server, a port): for the logs,
            // never for the client.
            let message =
                if answers.describe && rejection.status() != StatusCode::SERVICE_UNAVAILABLE {
                    rejection.to_string()
                } else {
                    generic_message(rejection).to_owned()
                };
            if let Ok(value) = HeaderValue::from_str(&grpc_percent_encode(&message)) {
                headers.insert("grpc-message", value);
            }
        }
    }
    response
}

fn generic_message(rejection: &Rejection) -> &'static str {
    match rejection.error_code() {
        Some("invalid_dpop_proof") => return "invalid DPoP proof",
        Some("use_dpop_nonce") => return "DPoP nonce required",
        _ => {}
    }
    let kind = rejection.auth_error().map(AuthError::kind);
    match rejection.status() {
        StatusCode::BAD_REQUEST => "malformed bearer credentials",
        StatusCode::FORBIDDEN => "insufficient scope",
        StatusCode::UNAUTHORIZED
            if matches!(kind, Some(ErrorKind::InsufficientUserAuthentication(_))) =>
        {
            "insufficient user authentication"
        }
        StatusCode::SERVICE_UNAVAILABLE
            if matches!(kind, Some(ErrorKind::ReplayStoreUnavailable(_))) =>
        {
            "DPoP replay store unavailable"
        }
        StatusCode::SERVICE_UNAVAILABLE
            if matches!(kind, Some(ErrorKind::RevocationUnavailable(_))) =>
        {
            "revocation list unavailable"
        }
        StatusCode::SERVICE_UNAVAILABLE
            if matches!(kind, Some(ErrorKind::SharedCacheUnavailable(_))) =>
        {
            "shared verdict cache unavailable"
        }
        StatusCode::SERVICE_UNAVAILABLE => "verification keys unavailable",
        StatusCode::INTERNAL_SERVER_ERROR => "internal error",
        _ if matches!(rejection, Rejection::MissingCredentials) => "missing bearer token",
        _ => "invalid bearer token",
    }
}

/// The `DPoP-Nonce` response header (RFC 9449 section 8.1).
pub(crate) const DPOP_NONCE: http::HeaderName = http::HeaderName::from_static("dpop-nonce");

/// The `WWW-Authenticate` challenges (RFC 9110 section 11.6.1): `Bearer` with its
/// comma-separated auth-params, and `DPoP` with `algs` where DPoP is accepted, each in its
/// own field. The proof's errors (`invalid_dpop_proof`, `use_dpop_nonce`) go to the `DPoP`
/// challenge only; the others to each scheme, so that a client reads its own.
fn challenge(rejection: &Rejection, answers: &Answers, headers: &mut HeaderMap) {
    let code = rejection.error_code();
    let proof_error = matches!(code, Some("invalid_dpop_proof" | "use_dpop_nonce"));
    // Where DPoP is required (by the layer or the route), a Bearer challenge would invite a
    // retry that cannot pass; unless the layer offers no DPoP (a route requiring it behind a
    // layer without a verifier), for a 401 must carry a challenge (RFC 9110 section 15.5.2).
    let dpop_required = matches!(
        rejection.auth_error().map(AuthError::kind),
        Some(ErrorKind::DpopRequired)
    );
    let bearer = answers
        .dpop
        .as_ref()
        .is_none_or(|d| d.bearer && !dpop_required);
    if bearer {
        let code = if proof_error { None } else { code };
        if let Some(value) = scheme_challenge("Bearer", None, code, rejection, answers) {
            headers.append(WWW_AUTHENTICATE, value);
        }
    }
    if let Some(dpop) = &answers.dpop
        && let Some(value) = scheme_challenge("DPoP", Some(&dpop.algs), code, rejection, answers)
    {
        headers.append(WWW_AUTHENTICATE, value);
    }
}

/// One challenge: the scheme, then `realm`, `algs`, `error`, `error_description`, `scope`,
/// `acr_values`, `max_age`, `resource_metadata`.
fn scheme_challenge(
    scheme: &str,
    algs: Option<&str>,
    code: Option<&str>,
    rejection: &Rejection,
    answers: &Answers,
) -> Option<HeaderValue> {
    let mut value = String::from(scheme);
    let mut first = true;
    let mut param = |value: &mut String, name: &str, content: &str| {
        value.push_str(if first { " " } else { ", " });
        first = false;
        // Writing to a String cannot fail.
        let _ = write!(value, "{name}=\"");
        value.extend(content.chars().filter(|c| is_qtext(*c)));
        value.push('"');
    };
    if let Some(realm) = &answers.realm {
        param(&mut value, "realm", realm);
    }
    if let Some(algs) = algs {
        param(&mut value, "algs", algs);
    }
    if let Some(code) = code {
        param(&mut value, "error", code);
        if answers.describe {
            param(&mut value, "error_description", &rejection.to_string());
        }
    }
    if let Rejection::Refused(e) = rejection
        && let ErrorKind::InsufficientScope(required) = e.kind()
    {
        let scope = required.to_scope_param();
        if !scope.is_empty() {
            param(&mut value, "scope", &scope);
        }
    }
    if let Some(scope) = &answers.challenge_scope
        && rejection.status() == StatusCode::UNAUTHORIZED
    {
        param(&mut value, "scope", scope);
    }
    if let Rejection::Refused(e) = rejection
        && let ErrorKind::InsufficientUserAuthentication(refusal) = e.kind()
    {
        let required = refusal.required();
        let acr_values = required.to_acr_values_param();
        if !acr_values.is_empty() {
            param(&mut value, "acr_values", &acr_values);
        }
        if let Some(max_age) = required.max_age_secs() {
            param(&mut value, "max_age", &max_age.to_string());
        }
    }
    if let Some(url) = &answers.resource_metadata {
        param(&mut value, "resource_metadata", url);
    }
    HeaderValue::from_str(&value).ok()
}

/// The characters RFC 6750 allows inside its quoted auth-params: printable ASCII except `"`
/// and `\` (`%x20-21 / %x23-5B / %x5D-7E`).
fn is_qtext(c: char) -> bool {
    matches!(c, ' '..='~') && c != '"' && c != '\\'
}

/// gRPC's `grpc-message` encoding: bytes outside `%x20-7E`, and `%` itself, as `%XX`.
fn grpc_percent_encode(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for b in message.bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_core::{MalformedPart, ScopeRequirement};

    fn http(rejection: impl Into<Rejection>, answers: &Answers) -> Response<()> {
        answer(&rejection.into(), Protocol::Http, answers)
    }

    fn header<'a>(response: &'a Response<()>, name: &str) -> Option<&'a str> {
        response.headers().get(name).map(|v| v.to_str().unwrap())
    }

    /// Every `WWW-Authenticate` field, in order.
    fn challenges(response: &Response<()>) -> Vec<&str> {
        response
            .headers()
            .get_all("www-authenticate")
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect()
    }

    #[test]
    fn every_row_of_the_answers_table() {
        let a = Answers::default().realm("api");
        let scope = ErrorKind::InsufficientScope(ScopeRequirement::all_of(["a", "b"]));
        let rows: Vec<(Rejection, u16, Option<&str>, u8)> = vec![
            (
                Rejection::MissingCredentials,
                401,
                Some(r#"Bearer realm="api""#),
                16,
            ),
            (
                InvalidRequest::MultipleCredentials.into(),
                400,
                Some(r#"Bearer realm="api", error="invalid_request""#),
                16,
            ),
            (
                Rejection::Refused(ErrorKind::Malformed(MalformedPart::Base64).into()),
                401,
                Some(r#"Bearer realm="api", error="invalid_token""#),
                16,
            ),
            (
                Rejection::Refused(scope.into()),
                403,
                Some(r#"Bearer realm="api", error="insufficient_scope", scope="a b""#),
                7,
            ),
            (
                Rejection::Refused(ErrorKind::KeysUnavailable.into()),
                503,
                None,
                14,
            ),
            (
                Rejection::Refused(ErrorKind::Revoked.into()),
                401,
                Some(r#"Bearer realm="api", error="invalid_token""#),
                16,
            ),
            (
                Rejection::Refused(ErrorKind::RevocationUnavailable("down".into()).into()),
                503,
                None,
                14,
            ),
            (
                Rejection::Refused(ErrorKind::SharedCacheUnavailable("down".into()).into()),
                503,
                None,
                14,
            ),
            (Rejection::LayerMissing, 500, None, 13),
        ];
        for (rejection, status, challenge, grpc) in rows {
            let r = http(rejection.clone(), &a);
            assert_eq!(r.status().as_u16(), status, "{rejection:?}");
            assert_eq!(header(&r, "www-authenticate"), challenge, "{rejection:?}");
            assert_eq!(header(&r, "cache-control"), Some("no-store"));
            assert_eq!(header(&r, "retry-after").is_some(), status == 503);
            let g = answer(&rejection, Protocol::Grpc, &a);
            assert_eq!(g.status(), 200);
            assert_eq!(header(&g, "content-type"), Some("application/grpc"));
            assert_eq!(header(&g, "grpc-status"), Some(&*grpc.to_string()));
            assert_eq!(header(&g, "www-authenticate"), challenge);
            assert!(header(&g, "grpc-message").is_some());
        }
    }

    #[test]
    fn a_step_up_names_what_to_ask_for_and_every_challenge_the_metadata() {
        let claims = portcullis_core::Claims::from_trusted_json(r#"{"acr":"pwd"}"#).unwrap();
        let step_up = portcullis_core::StepUp::acr(["mfa", "phr"])
            .and_max_age(std::time::Duration::from_secs(120));
        let refused = Rejection::Refused(step_up.check(&claims, 0.0).unwrap_err());
        let a = Answers::default().realm("api");
        let response = http(refused.clone(), &a);
        assert_eq!(response.status(), 401);
        assert_eq!(
            header(&response, "www-authenticate"),
            Some(
                r#"Bearer realm="api", error="insufficient_user_authentication", acr_values="mfa phr", max_age="120""#
            )
        );
        assert_eq!(refused.grpc_code(), 16);
        let grpc = answer(&refused, Protocol::Grpc, &a);
        assert_eq!(
            header(&grpc, "grpc-message"),
            Some("insufficient user authentication")
        );
        let only_age = portcullis_core::StepUp::max_age(std::time::Duration::from_secs(5));
        let refused = Rejection::Refused(only_age.check(&claims, 0.0).unwrap_err());
        assert_eq!(
            header(&http(refused, &a), "www-authenticate"),
            Some(r#"Bearer realm="api", error="insufficient_user_authentication", max_age="5""#)
        );

        // With a resource identifier, every challenge points at the metadata, after the
        // other parameters; a 503 has no challenge.
        let url = "https://api.example.com/.well-known/oauth-protected-resource";
        let m = Answers::default().resource_metadata(url);
        let scope = ErrorKind::InsufficientScope(ScopeRequirement::all_of(["a"]));
        let rows: [(Rejection, Option<String>); 5] = [
            (
                Rejection::MissingCredentials,
                Some(format!(r#"Bearer resource_metadata="{url}""#)),
            ),
            (
                ErrorKind::Expired.into(),
                Some(format!(
                    r#"Bearer error="invalid_token", resource_metadata="{url}""#
                )),
            ),
            (
                scope.into(),
                Some(format!(
                    r#"Bearer error="insufficient_scope", scope="a", resource_metadata="{url}""#
                )),
            ),
            (
                InvalidRequest::MultipleCredentials.into(),
                Some(format!(
                    r#"Bearer error="invalid_request", resource_metadata="{url}""#
                )),
            ),
            (ErrorKind::KeysUnavailable.into(), None),
        ];
        for (rejection, expected) in rows {
            let response = http(rejection.clone(), &m);
            assert_eq!(
                header(&response, "www-authenticate"),
                expected.as_deref(),
                "{rejection:?}"
            );
        }
        let both = Answers::default()
            .resource_metadata(url)
            .dpop([Algorithm::ES256], true);
        let response = http(Rejection::MissingCredentials, &both);
        assert_eq!(
            challenges(&response),
            [
                format!(r#"Bearer resource_metadata="{url}""#),
                format!(r#"DPoP algs="ES256", resource_metadata="{url}""#)
            ]
        );
    }

    #[test]
    fn a_proofs_errors_go_to_the_dpop_challenge_with_the_nonce() {
        let both = Answers::default().dpop([Algorithm::ES256], true);
        let proof = ErrorKind::InvalidProof(portcullis_core::ProofError::Missing);
        let response = http(proof, &both);
        assert_eq!(response.status(), 401);
        assert_eq!(
            challenges(&response),
            ["Bearer", r#"DPoP algs="ES256", error="invalid_dpop_proof""#]
        );
        let nonce = ErrorKind::UseDpopNonce("n-1".into());
        let response = http(nonce, &both);
        assert_eq!(response.status(), 401);
        assert_eq!(
            challenges(&response),
            ["Bearer", r#"DPoP algs="ES256", error="use_dpop_nonce""#]
        );
        assert_eq!(header(&response, "dpop-nonce"), Some("n-1"));
    }

    #[test]
    fn a_rejection_names_the_error_behind_it() {
        use std::error::Error as _;
        let refused = Rejection::from(ErrorKind::Expired);
        assert_eq!(
            refused.source().unwrap().to_string(),
            AuthError::from(ErrorKind::Expired).to_string()
        );
        let malformed = Rejection::from(InvalidRequest::MultipleCredentials);
        assert_eq!(
            malformed.source().unwrap().to_string(),
            InvalidRequest::MultipleCredentials.to_string()
        );
        assert!(Rejection::MissingCredentials.source().is_none());
        assert!(Rejection::LayerMissing.source().is_none());
    }

    #[test]
    fn each_unavailable_dependency_is_named_in_the_grpc_message() {
        let a = Answers::default();
        for (kind, message) in [
            (ErrorKind::KeysUnavailable, "verification keys unavailable"),
            (
                ErrorKind::ReplayStoreUnavailable("r".into()),
                "DPoP replay store unavailable",
            ),
            (
                ErrorKind::RevocationUnavailable("r".into()),
                "revocation list unavailable",
            ),
            (
                ErrorKind::SharedCacheUnavailable("r".into()),
                "shared verdict cache unavailable",
            ),
        ] {
            let refused = Rejection::from(kind);
            let g = answer(&refused, Protocol::Grpc, &a);
            assert_eq!(header(&g, "grpc-message"), Some(message));
            assert_eq!(header(&g, "grpc-status"), Some("14"));
            // Described errors still keep the failing dependency's details to the logs.
            let described = answer(&refused, Protocol::Grpc, &a.clone().describe_errors(true));
            assert_eq!(header(&described, "grpc-message"), Some(message));
        }
    }

    #[test]
    fn without_a_realm_the_first_param_follows_the_scheme() {
        let r = http(Rejection::MissingCredentials, &Answers::default());
        assert_eq!(header(&r, "www-authenticate"), Some("Bearer"));
        let r = http(ErrorKind::Expired, &Answers::default());
        assert_eq!(
            header(&r, "www-authenticate"),
            Some(r#"Bearer error="invalid_token""#)
        );
    }

    #[test]
    fn descriptions_are_opt_in_and_quoted_safely() {
        let quiet = http(ErrorKind::Expired, &Answers::default());
        assert!(
            !header(&quiet, "www-authenticate")
                .unwrap()
                .contains("error_description")
        );

        let a = Answers::default()
            .realm("a\"b\\c\u{e9}")
            .describe_errors(true);
        let r = http(ErrorKind::Rejected("tenant \"x\" \\ suspended".into()), &a);
        assert_eq!(
            header(&r, "www-authenticate"),
            Some(
                r#"Bearer realm="abc", error="invalid_token", error_description="rejected: tenant x  suspended""#
            )
        );
        let r = http(Rejection::MissingCredentials, &a);
        assert_eq!(
            header(&r, "www-authenticate"),
            Some(r#"Bearer realm="abc""#)
        );
    }

    #[test]
    fn a_denied_route_has_no_scope_to_name() {
        let deny = ScopeRequirement::any_of(Vec::<String>::new());
        let r = http(ErrorKind::InsufficientScope(deny), &Answers::default());
        assert_eq!(r.status(), 403);
        assert_eq!(
            header(&r, "www-authenticate"),
            Some(r#"Bearer error="insufficient_scope""#)
        );
    }

    #[test]
    fn grpc_web_callers_get_the_same_statuses_with_their_content_type() {
        let a = Answers::default();
        for (text, ct) in [
            (false, "application/grpc-web+proto"),
            (true, "application/grpc-web-text+proto"),
        ] {
            let r = answer(
                &Rejection::MissingCredentials,
                Protocol::GrpcWeb { text },
                &a,
            );
            assert_eq!(r.status(), 200);
            assert_eq!(header(&r, "content-type"), Some(ct));
            assert_eq!(header(&r, "grpc-status"), Some("16"));
            assert_eq!(header(&r, "www-authenticate"), Some("Bearer"));
        }
    }

    #[test]
    fn generic_grpc_messages_name_the_kind_of_refusal_only() {
        let a = Answers::default();
        let message = |rejection: Rejection| {
            let g = answer(&rejection, Protocol::Grpc, &a);
            header(&g, "grpc-message").map(str::to_owned)
        };
        let proof = ErrorKind::InvalidProof(portcullis_core::ProofError::Missing);
        assert_eq!(message(proof.into()).as_deref(), Some("invalid DPoP proof"));
        let nonce = ErrorKind::UseDpopNonce("n".into());
        assert_eq!(
            message(nonce.into()).as_deref(),
            Some("DPoP nonce required")
        );
        assert_eq!(
            message(InvalidRequest::MultipleCredentials.into()).as_deref(),
            Some("malformed bearer credentials")
        );
        let scope = ErrorKind::InsufficientScope(ScopeRequirement::all_of(["a"]));
        assert_eq!(message(scope.into()).as_deref(), Some("insufficient scope"));
        assert_eq!(
            message(Rejection::LayerMissing).as_deref(),
            Some("internal error")
        );
        assert_eq!(
            message(Rejection::MissingCredentials).as_deref(),
            Some("missing bearer token")
        );
        // A 401 that is neither a step-up nor a missing token is an invalid token.
        for kind in [
            ErrorKind::Expired,
            ErrorKind::Revoked,
            ErrorKind::DpopRequired,
        ] {
            assert_eq!(
                message(kind.clone().into()).as_deref(),
                Some("invalid bearer token"),
                "{kind:?}"
            );
        }
    }

    #[test]
    fn a_503_says_when_to_come_back_and_a_challenge_scope_is_named_on_401s_only() {
        let later = Answers::default().retry_after_secs(30);
        let r = http(ErrorKind::KeysUnavailable, &later);
        assert_eq!(header(&r, "retry-after"), Some("30"));
        let scoped = Answers::default().with_challenge_scope("mcp read");
        let r = http(Rejection::MissingCredentials, &scoped);
        assert_eq!(
            header(&r, "www-authenticate"),
            Some(r#"Bearer scope="mcp read""#)
        );
        let denied = ErrorKind::InsufficientScope(ScopeRequirement::all_of(["write"]));
        let r = http(denied, &scoped);
        assert_eq!(
            header(&r, "www-authenticate"),
            Some(r#"Bearer error="insufficient_scope", scope="write""#)
        );
        let none = Answers::default().with_challenge_scope("");
        let r = http(Rejection::MissingCredentials, &none);
        assert_eq!(header(&r, "www-authenticate"), Some("Bearer"));
    }

    #[test]
    fn where_dpop_is_required_only_the_dpop_scheme_is_offered() {
        // Configured to accept both schemes, a route that requires DPoP still answers with
        // the DPoP challenge alone: a Bearer retry could not pass.
        let both = Answers::default().dpop([Algorithm::ES256], true);
        let response = http(ErrorKind::DpopRequired, &both);
        assert_eq!(response.status(), 401);
        assert_eq!(challenges(&response), [r#"DPoP algs="ES256""#]);
        // A route that requires DPoP behind a layer without it: every 401 has a challenge.
        let response = http(ErrorKind::DpopRequired, &Answers::default());
        assert_eq!(header(&response, "www-authenticate"), Some("Bearer"));
    }

    #[test]
    fn grpc_messages_are_percent_encoded() {
        assert_eq!(grpc_percent_encode("a b%c\u{e9}\n"), "a b%25c%C3%A9%0A");
        let a = Answers::default().describe_errors(true);
        let g = answer(&ErrorKind::Expired.into(), Protocol::Grpc, &a);
        assert_eq!(header(&g, "grpc-message"), Some("token expired"));
    }

    #[test]
    fn grpc_is_recognised_by_content_type() {
        for (ct, expected) in [
            ("application/grpc", Protocol::Grpc),
            ("application/grpc+proto", Protocol::Grpc),
            ("application/grpc;charset=utf-8", Protocol::Grpc),
            ("application/grpc-web", Protocol::GrpcWeb { text: false }),
            (
                "application/grpc-web+proto",
                Protocol::GrpcWeb { text: false },
            ),
            (
                "application/grpc-web-text",
                Protocol::GrpcWeb { text: true },
            ),
            (
                "application/grpc-web-text+proto",
                Protocol::GrpcWeb { text: true },
            ),
            ("application/grpc-webby", Protocol::Http),
            ("application/grpcx", Protocol::Http),
            ("application/json", Protocol::Http),
        ] {
            let mut h = HeaderMap::new();
            h.insert(CONTENT_TYPE, HeaderValue::from_static(ct));
            assert_eq!(Protocol::of_content_type(&h), expected, "{ct}");
        }
        assert_eq!(Protocol::of_content_type(&HeaderMap::new()), Protocol::Http);
    }

    #[test]
    fn only_http2_or_a_declared_grpc_web_route_gets_grpc_answers() {
        let rest = Answers::default();
        let web = Answers::default().grpc_web(true);
        let v1 = [Version::HTTP_09, Version::HTTP_10, Version::HTTP_11];
        for (ct, h2, v1_web) in [
            ("application/grpc", Protocol::Grpc, Protocol::Grpc),
            ("application/grpc+proto", Protocol::Grpc, Protocol::Grpc),
            (
                "application/grpc-web",
                Protocol::Http,
                Protocol::GrpcWeb { text: false },
            ),
            (
                "application/grpc-web-text+proto",
                Protocol::Http,
                Protocol::GrpcWeb { text: true },
            ),
            ("application/json", Protocol::Http, Protocol::Http),
        ] {
            let mut h = HeaderMap::new();
            h.insert(CONTENT_TYPE, HeaderValue::from_static(ct));
            assert_eq!(Protocol::of(Version::HTTP_2, &h, &rest), h2, "{ct}");
            for version in v1 {
                assert_eq!(Protocol::of(version, &h, &rest), Protocol::Http, "{ct}");
                assert_eq!(Protocol::of(version, &h, &web), v1_web, "{ct}");
            }
        }
    }
}
