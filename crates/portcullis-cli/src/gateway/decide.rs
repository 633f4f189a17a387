//! One sub-request's answer: the original request rebuilt from the proxy's headers, run
//! through the same [`BearerAuthLayer`] and policy as an in-process service would be, and
//! its outcome turned into the answer the proxy acts on.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use http::header::{AUTHORIZATION, CACHE_CONTROL, COOKIE};
use http::{HeaderName, HeaderValue, Request, Response, StatusCode, Version};
use portcullis::ClaimPath;
use portcullis_tower::{BearerAuth, BearerAuthLayer, verified_claims};
use tower::{Layer as _, Service, ServiceExt as _};

use crate::gateway::original::{self, BadSubRequest, Kind};

/// The headers of the original request that the layer reads: the credential, the DPoP
/// proof, and cookies (for a configured token cookie). Nothing else is copied, so the layer
/// decides on exactly what the upstream will be sent about the caller.
const CREDENTIAL_HEADERS: [HeaderName; 3] =
    [AUTHORIZATION, HeaderName::from_static("dpop"), COOKIE];

/// The answer behind the layer: `200` with the configured claims in headers.
#[derive(Clone)]
pub(crate) struct Upstream {
    headers: Arc<[(ClaimPath, HeaderName)]>,
}

impl Service<Request<Body>> for Upstream {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Ready<Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let claims = verified_claims(req.extensions());
        let payload = match claims {
            Some(c)
                if self
                    .headers
                    .iter()
                    .any(|(p, _)| !portcullis::is_scope_path(p)) =>
            {
                serde_json::from_str(c.as_json()).ok()
            }
            _ => None,
        };
        let mut response = Response::new(Body::empty());
        for (path, header) in self.headers.iter() {
            let text = match (claims, &payload) {
                (Some(c), _) if portcullis::is_scope_path(path) => c.scopes().as_str().to_owned(),
                (Some(_), Some(payload)) => path.find(payload).map(text_of).unwrap_or_default(),
                _ => String::new(),
            };
            // Always present, empty when the claim is absent: some proxies forward a
            // placeholder (or the client's own header) for a header the answer lacks.
            let value = HeaderValue::from_str(&sanitize(&text))
                .unwrap_or_else(|_| HeaderValue::from_static(""));
            response.headers_mut().insert(header.clone(), value);
        }
        ready(Ok(response))
    }
}

/// A claim's value as header text: a string as it is, a list of strings joined with spaces
/// (roles, groups), anything else as its JSON text.
fn text_of(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        serde_json::Value::Array(items) if items.iter().all(serde_json::Value::is_string) => items
            .iter()
            .filter_map(serde_json::Value::as_str)
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    }
}

/// Header text that cannot inject anything: every byte outside visible ASCII and space
/// (control characters, CR and LF among them, and UTF-8), `%` itself, and a space at either
/// end (which parsers trim) is percent-encoded, so the value is always one header line, and
/// decodes back to the claim.
pub(crate) fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let last = text.len().saturating_sub(1);
    for (i, b) in text.bytes().enumerate() {
        let edge_space = b == b' ' && (i == 0 || i == last);
        if ((0x21..=0x7e).contains(&b) && b != b'%') || (b == b' ' && !edge_space) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The gateway's decisions: the layer around [`Upstream`].
#[derive(Clone)]
pub(crate) struct Gateway {
    auth: BearerAuth<Upstream, portcullis_tower::DefaultAnswer>,
}

impl Gateway {
    pub(crate) fn new(layer: &BearerAuthLayer, headers: Vec<(ClaimPath, HeaderName)>) -> Self {
        Gateway {
            auth: layer.layer(Upstream {
                headers: headers.into(),
            }),
        }
    }

    /// The answer to one sub-request.
    pub(crate) async fn answer(&self, sub: Request<Body>) -> Response<Body> {
        let target = sub
            .uri()
            .path_and_query()
            .map_or_else(|| sub.uri().path(), |pq| pq.as_str());
        let Some((kind, envoy_target)) = Kind::of_path(target) else {
            return status(StatusCode::NOT_FOUND);
        };
        let original = match original::read(kind, sub.headers(), sub.method(), envoy_target) {
            Ok(original) => original,
            Err(bad) => return bad_sub_request(kind, &bad),
        };
        let mut builder = Request::builder()
            .method(original.method)
            .uri(original.target.as_str())
            // HTTP/1.1 without a content type: the layer answers with HTTP statuses, which
            // proxies act on, never with a gRPC trailers-only answer.
            .version(Version::HTTP_11);
        for name in &CREDENTIAL_HEADERS {
            for value in sub.headers().get_all(name) {
                builder = builder.header(name, value);
            }
        }
        let Ok(request) = builder.body(Body::empty()) else {
            return bad_sub_request(kind, &BadSubRequest::Target);
        };
        match self.auth.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    }
}

fn status(code: StatusCode) -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = code;
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `400` for a sub-request that does not say which request it is about, logged with its
/// reason (never a header's value).
fn bad_sub_request(kind: Kind, bad: &BadSubRequest) -> Response<Body> {
    tracing::debug!(
        target: "portcullis::gateway",
        endpoint = kind.name(), reason = bad.code(), status = 400,
        "sub-request refused: {bad}"
    );
    status(StatusCode::BAD_REQUEST)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn claim_values_become_one_safe_header_line() {
        assert_eq!(sanitize("alice"), "alice");
        assert_eq!(sanitize("a b"), "a b");
        assert_eq!(sanitize("x\r\nSet-Cookie: a=b"), "x%0D%0ASet-Cookie: a=b");
        assert_eq!(sanitize("caf\u{e9}"), "caf%C3%A9");
        assert_eq!(sanitize("100%"), "100%25");
        assert_eq!(sanitize(" padded "), "%20padded%20");
        assert_eq!(sanitize("\0"), "%00");
        for text in ["x\r\ny", "\u{7f}", "\u{2028}", "a\tb"] {
            assert!(HeaderValue::from_str(&sanitize(text)).is_ok());
            assert!(sanitize(text).bytes().all(|b| (0x20..0x7f).contains(&b)));
        }
    }

    #[test]
    fn claims_read_as_text_lists_joined() {
        assert_eq!(text_of(&json!("a")), "a");
        assert_eq!(text_of(&json!(["admin", "ops"])), "admin ops");
        assert_eq!(text_of(&json!(7)), "7");
        assert_eq!(text_of(&json!(true)), "true");
        assert_eq!(text_of(&json!(null)), "");
        assert_eq!(text_of(&json!({"a": 1})), r#"{"a":1}"#);
        assert_eq!(text_of(&json!([1, "a"])), r#"[1,"a"]"#);
    }
}
