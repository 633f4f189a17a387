//! The portcullis tower `Layer`: it takes the bearer token of each request, verifies it, checks
//! what the route requires, and either passes the request on with the verified claims in its
//! extensions or answers what RFC 6750 (HTTP) or gRPC prescribes.
//!
//! ```
//! # use portcullis_tower::{BearerAuthLayer, axum::GrantedScopes};
//! # use portcullis_jwks::JwtVerifier;
//! # use axum::{Router, routing::get, body::Body, http::Request};
//! # use tower::ServiceExt;
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! # let idp = portcullis_testkit::TestIssuer::start().await;
//! # let keys = portcullis_jwks::RemoteJwks::builder(idp.jwks_url()).build().await.unwrap();
//! # let rules = portcullis_core::Validator::builder().issuer(idp.issuer()).audience("api").build().unwrap();
//! let auth = BearerAuthLayer::new(JwtVerifier::new(keys, rules));
//! let app = Router::new()
//!     .route("/orders", get(|GrantedScopes(s): GrantedScopes| async move { s.as_str().to_owned() }))
//!     .route_layer(auth.require_scopes(["orders.read"]))
//!     .route_layer(auth);
//! # let call = |token: Option<String>| {
//! #     let mut req = Request::get("/orders");
//! #     if let Some(t) = token { req = req.header("authorization", format!("Bearer {t}")); }
//! #     app.clone().oneshot(req.body(Body::empty()).unwrap())
//! # };
//! // `call(token)` sends `GET /orders`, with `Authorization: Bearer <token>` when given one.
//! assert_eq!(call(Some(idp.token().scope("orders.read").sign())).await.unwrap().status(), 200);
//! assert_eq!(call(None).await.unwrap().status(), 401);
//! assert_eq!(call(Some(idp.token().scope("orders.write").sign())).await.unwrap().status(), 403);
//! # }
//! ```
//!
//! # What is here
//!
//! The request path, top-down, one module a step:
//!
//! 1. extraction (`credentials`): the credential and its scheme, the `DPoP` proof, the
//!    method and target, the client-certificate thumbprint, as a
//!    [`Presentation`](portcullis_core::Presentation); [`TokenSources`] says where tokens
//!    are read (RFC 6750: the `Authorization: Bearer` header; a cookie, another header or
//!    the query parameter only when configured);
//! 2. the [`Verifier`](portcullis_core::Verifier) (any: a `JwtVerifier` or `Issuers` from
//!    `portcullis-jwks`, an `Introspector` or `JwtOrIntrospection` from
//!    `portcullis-introspect`, your own), whose verdict is ready at once or pending on a
//!    fetch;
//! 3. the route's rule: a [`Policy`] table by method and path (gRPC method names too), or
//!    [`BearerAuthLayer::require_scopes`] for axum's `route_layer`;
//! 4. the answer: [`answer`] decides the status and headers of every refusal, one function
//!    logs and answers each (through the [`OnRejection`] hook), and a request that passes
//!    carries the verified claims in its extensions.
//!
//! [`BearerAuthLayer`] / [`BearerAuth`] / [`ResponseFuture`] are the middleware: the common
//! path is synchronous and unboxed; only a pending verdict is awaited, in one boxed future.
//! [`axum`] (feature `axum`) has the extractors, `grpc` (feature `tonic`) the tonic helpers.
//!
//! | feature | what it adds |
//! |---|---|
//! | `axum` (default) | the [`axum`] extractors, on `axum-core` |
//! | `tonic` | `grpc`: read the verified claims from a `tonic::Request` in a gRPC handler |
//! | `mcp` | `mcp`: the MCP profile, per-tool scopes read from JSON-RPC `tools/call` bodies |
//!
//! # Deployment caveat
//!
//! Put the layer on axum's `route_layer` (or under a router whose every route it protects), so
//! that unknown paths still answer `404`, not `401`. A scope check from
//! [`BearerAuthLayer::require_scopes`] must sit *inside* the layer (added before it with
//! `route_layer`, since the last layer added runs first); without the layer before it, it
//! answers `500` and logs the misconfiguration.

mod answer;
#[cfg(feature = "axum")]
pub mod axum;
mod certificate;
mod credentials;
mod forwarded;
mod future;
#[cfg(feature = "tonic")]
pub mod grpc;
mod layer;
#[cfg(feature = "mcp")]
pub mod mcp;
mod observe;
mod path;
mod policy;
#[cfg(feature = "axum")]
pub mod readiness;
mod resource;
mod respond;
mod scopes;
mod service;

pub use answer::{Answers, DEFAULT_RETRY_AFTER_SECS, Protocol, Rejection, answer};
pub use certificate::{CertificateError, CertificateSource, MAX_CERTIFICATE_HEADER_LEN};
pub use credentials::{InvalidRequest, TokenSources};
pub use forwarded::{ForwardedHeader, ForwardedOrigins, PeerAddr};
pub use future::ResponseFuture;
pub use layer::BearerAuthLayer;
pub use path::{AmbiguousPath, AmbiguousPathKind, canonical_path};
pub use policy::{Access, Policy, PolicyBuilder, Requirements};
#[cfg(feature = "axum")]
pub use readiness::Readiness;
pub use resource::{DEFAULT_METADATA_MAX_AGE, ResourceMetadata, ResourceMetadataBuilder};
pub use respond::{DefaultAnswer, JsonAnswer, OnRejection, verified_claims};
pub use scopes::{RequireScopes, RequireScopesLayer};
pub use service::BearerAuth;

/// Entry points for fuzz targets: credential extraction on raw header bytes. Not a stable API.
#[doc(hidden)]
pub mod internal {
    use http::{HeaderMap, HeaderName, HeaderValue, Uri};

    use crate::certificate::{CertificateError, CertificateSource};
    use crate::credentials::{InvalidRequest, TokenSources, find_token, is_b64token};

    /// Finds the token among raw `(name, value)` headers and a raw URI, with every source
    /// configured (`Authorization`, cookie `at`, header `x-token`, the query parameter), then
    /// checks its `b64token` syntax, as the layer would. Headers or a URI that `http` refuses
    /// to represent are left out, as a server would never deliver them.
    ///
    /// # Errors
    /// The [`InvalidRequest`] the layer would answer with.
    pub fn find_token_in(
        headers: &[(&[u8], &[u8])],
        uri: &[u8],
    ) -> Result<Option<String>, InvalidRequest> {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            if let (Ok(name), Ok(value)) =
                (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
            {
                map.append(name, value);
            }
        }
        let uri = Uri::try_from(uri).unwrap_or_default();
        let sources = TokenSources::default()
            .with_cookie("at")
            .with_header(HeaderName::from_static("x-token"))
            .danger_allow_query_parameter();
        match find_token(&sources, &map, &uri, true)? {
            Some((_, token)) if !is_b64token(&token) => Err(InvalidRequest::MalformedCredential),
            token => Ok(token.map(|(_, t)| t.into_owned())),
        }
    }

    /// Reads `body` as the MCP profile reads a message (feature `mcp`), with the default
    /// nesting limit: `Ok(Some(tool))` for a `tools/call` of `tool`, `Ok(None)` for any other
    /// message.
    ///
    /// # Errors
    /// The [`BodyError`](crate::mcp::BodyError) the profile would refuse the body with.
    #[cfg(feature = "mcp")]
    pub fn mcp_tool_of(body: &[u8]) -> Result<Option<String>, crate::mcp::BodyError> {
        match crate::mcp::read_message(body, crate::mcp::DEFAULT_MAX_DEPTH)? {
            crate::mcp::Message::ToolCall(tool) => Ok(Some(tool)),
            crate::mcp::Message::Other(_) => Ok(None),
        }
    }

    /// Reads `value` as each proxy's client-certificate header would be read (RFC 9440
    /// `Client-Cert`, nginx's escaped PEM in `x-ssl-client-cert`, Envoy's XFCC), and returns
    /// the three verdicts. A value that `http` refuses to represent is read as no header.
    pub fn certificate_headers_in(value: &[u8]) -> [Result<Option<[u8; 32]>, CertificateError>; 3] {
        let sources = [
            (CertificateSource::ClientCertHeader, "client-cert"),
            (
                CertificateSource::EscapedPemHeader(HeaderName::from_static("x-ssl-client-cert")),
                "x-ssl-client-cert",
            ),
            (
                CertificateSource::ForwardedClientCert,
                "x-forwarded-client-cert",
            ),
        ];
        sources.map(|(source, name)| {
            let mut headers = HeaderMap::new();
            if let Ok(value) = HeaderValue::from_bytes(value) {
                headers.insert(HeaderName::from_static(name), value);
            }
            source
                .thumbprint(&headers, &http::Extensions::new())
                .map(|t| t.map(|t| t.0))
        })
    }
}
