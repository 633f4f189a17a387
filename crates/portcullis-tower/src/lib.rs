//! The portcullis tower `Layer`: it takes the bearer token of each request, verifies it, checks
//! what the route requires, and either passes the request on with the verified claims in its
//! extensions or answers what RFC 6750 (HTTP) or gRPC prescribes.
//!
//! ```
//! # use portcullis_tower::{BearerAuthLayer, JwtVerifier, axum::Scopes};
//! # use axum::{Router, routing::get, body::Body, http::Request};
//! # use tower::ServiceExt;
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! # let idp = portcullis_testkit::TestIssuer::start().await;
//! # let keys = portcullis_jwks::RemoteJwks::builder(idp.jwks_url()).build().await.unwrap();
//! # let rules = portcullis_core::Validator::builder().issuer(idp.issuer()).audience("api").build().unwrap();
//! let auth = BearerAuthLayer::new(JwtVerifier::new(keys, rules));
//! let app = Router::new()
//!     .route("/orders", get(|Scopes(s): Scopes| async move { s.as_str().to_owned() }))
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
//! - [`BearerAuthLayer`] / [`BearerAuth`] / [`ResponseFuture`]: the middleware. The common
//!   path is synchronous and unboxed: the key snapshot is read and the token verified inside
//!   `call`; a refusal is a ready answer in the future. Only a token whose `kid` is not in the
//!   snapshot awaits (one boxed future, for the key source's refetch).
//! - [`TokenSources`]: where tokens are read (RFC 6750: the `Authorization: Bearer` header; a
//!   cookie, another header or the `access_token` query parameter only when configured).
//! - Per-route requirements two ways: [`BearerAuthLayer::require_scopes`] for axum's
//!   `route_layer`, and a central [`Policy`] table by method and path (gRPC method names too).
//! - [`answer`]: the one function that decides the status and headers of every refusal.
//! - [`Verifier`]: what checks tokens ([`JwtVerifier`] for one key source, or
//!   [`Issuers`](portcullis_jwks::Issuers) for several trusted issuers).
//! - [`axum`] (feature `axum`): `Claims<T>`, `VerifiedClaims` and `Scopes` extractors.
//!
//! | feature | what it adds |
//! |---|---|
//! | `axum` | the [`axum`] extractors, on `axum-core` |
//! | `tonic` | `grpc`: read the verified claims from a `tonic::Request` in a gRPC handler |
//! | `introspection` | `introspection`: opaque tokens through RFC 7662 introspection (`portcullis-introspect`), alone or beside JWTs |
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
mod cache;
mod credentials;
mod future;
#[cfg(feature = "tonic")]
pub mod grpc;
#[cfg(feature = "introspection")]
pub mod introspection;
mod layer;
mod policy;
mod scopes;
mod service;
mod verifier;

pub use answer::{Answers, DEFAULT_RETRY_AFTER_SECS, Protocol, Rejection, answer};
pub use cache::{DEFAULT_CACHE_ENTRIES, TokenCache};
pub use credentials::{InvalidRequest, TokenSources};
pub use future::ResponseFuture;
#[cfg(feature = "introspection")]
pub use introspection::JwtOrIntrospection;
pub use layer::{BearerAuthLayer, DefaultAnswer, OnRejection};
pub use policy::{Access, Policy, PolicyBuilder, PolicyError};
pub use scopes::{RequireScopes, RequireScopesLayer};
pub use service::BearerAuth;
pub use verifier::{ByIssuer, JwtVerifier, Verifier, VerifyFuture};

/// Entry points for fuzz targets: credential extraction on raw header bytes. Not a stable API.
#[doc(hidden)]
pub mod internal {
    use http::{HeaderMap, HeaderName, HeaderValue, Uri};

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
            .with_query_parameter();
        match find_token(&sources, &map, &uri)? {
            Some(token) if !is_b64token(&token) => Err(InvalidRequest::MalformedCredential),
            token => Ok(token.map(std::borrow::Cow::into_owned)),
        }
    }
}
