//! [`ResourceMetadata`]: the protected resource's metadata document (RFC 9728), served at
//! `/.well-known/oauth-protected-resource` with the resource's path inserted, so that a
//! client refused with `401` learns from the challenge's `resource_metadata` where to get a
//! token for this API, and for which scopes.
//!
//! ```
//! use portcullis_core::ResourceIdentifier;
//! use portcullis_tower::ResourceMetadata;
//!
//! let resource = ResourceIdentifier::parse("https://api.example.com/orders").unwrap();
//! let metadata = ResourceMetadata::builder(resource)
//!     .authorization_server("https://auth.example.com")
//!     .scopes_supported(["orders.read", "orders.write"])
//!     .build()
//!     .unwrap();
//! assert_eq!(metadata.path(), "/.well-known/oauth-protected-resource/orders");
//! assert_eq!(
//!     metadata.json(),
//!     r#"{"resource":"https://api.example.com/orders","authorization_servers":["https://auth.example.com"],"scopes_supported":["orders.read","orders.write"],"bearer_methods_supported":["header"]}"#
//! );
//! // Mounted outside the layer, as a route of its own:
//! let app: axum::Router = axum::Router::new().route_service(metadata.path(), metadata.clone());
//! ```
//!
//! `scopes_supported` lists the scopes given to the builder, then those of the route layers
//! made from a [`BearerAuthLayer`](crate::BearerAuthLayer) that serves this metadata
//! (`require_scopes`, `require`, `with_scopes`, its policy's rules), as they are made. The
//! rest of the document is built once, when the builder's `build` runs; the service answers `GET`
//! and `HEAD` with it (`application/json`, `Cache-Control: public, max-age=…`, and
//! `Access-Control-Allow-Origin: *`: it is public, and browser clients fetch it from their
//! own origin), `OPTIONS` for CORS preflights, and anything else `405`. Signed metadata
//! (`signed_metadata`) is not produced.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN, ALLOW,
    CACHE_CONTROL, CONTENT_TYPE,
};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use portcullis_core::dpop::Dpop;
use portcullis_core::{Algorithm, ConfigError, ResourceIdentifier, is_scope_token};
use tower_service::Service;

use crate::credentials::TokenSources;
use crate::policy::Policy;
use crate::respond::json_string;

/// How long clients may cache the document unless told otherwise: an hour. The document
/// changes only with the configuration.
pub const DEFAULT_METADATA_MAX_AGE: Duration = Duration::from_secs(3600);

/// A protected resource's metadata document (RFC 9728) and the tower service that answers
/// `GET` and `HEAD` with it; build it with [`ResourceMetadata::builder`]. Cheap to clone.
#[derive(Clone)]
pub struct ResourceMetadata {
    inner: Arc<Document>,
}

struct Document {
    resource: ResourceIdentifier,
    path: String,
    url: String,
    /// The document up to `scopes_supported`, without the closing brace...
    head: String,
    /// ...and after it, from `bearer_methods_supported` on, with it.
    tail: String,
    /// The scopes listed: the builder's, then the route layers' as they are made.
    scopes: RwLock<Vec<String>>,
    cache_control: HeaderValue,
}

/// Builds a [`ResourceMetadata`]: [`ResourceMetadata::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ResourceMetadataBuilder {
    resource: ResourceIdentifier,
    authorization_servers: Vec<String>,
    scopes: Vec<String>,
    bearer_methods: Vec<&'static str>,
    dpop_algs: Vec<Algorithm>,
    dpop_required: bool,
    certificate_bound: bool,
    name: Option<String>,
    documentation: Option<String>,
    max_age: Duration,
}

impl ResourceMetadata {
    /// A builder for the metadata of `resource`: bearer tokens in the `Authorization` header,
    /// no scopes listed, no DPoP, cached for [`DEFAULT_METADATA_MAX_AGE`].
    pub fn builder(resource: ResourceIdentifier) -> ResourceMetadataBuilder {
        ResourceMetadataBuilder {
            resource,
            authorization_servers: Vec::new(),
            scopes: Vec::new(),
            bearer_methods: vec!["header"],
            dpop_algs: Vec::new(),
            dpop_required: false,
            certificate_bound: false,
            name: None,
            documentation: None,
            max_age: DEFAULT_METADATA_MAX_AGE,
        }
    }

    /// The resource identifier.
    #[must_use]
    pub fn resource(&self) -> &ResourceIdentifier {
        &self.inner.resource
    }

    /// The path to mount the service at: the well-known path with the resource's path
    /// inserted (RFC 9728 section 3.1).
    #[must_use]
    pub fn path(&self) -> &str {
        &self.inner.path
    }

    /// The document's URL, built from the resource identifier (never from a request's
    /// `Host`): what challenges carry as `resource_metadata`.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// The document.
    #[must_use]
    pub fn json(&self) -> String {
        let scopes = self
            .inner
            .scopes
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut json = self.inner.head.clone();
        if !scopes.is_empty() {
            list(&mut json, "scopes_supported", &scopes);
        }
        json.push_str(&self.inner.tail);
        json
    }

    /// Adds the scopes a route requires to `scopes_supported`, each once (the layer calls
    /// this for the route layers made from it). A scope that is not an RFC 6749 scope token
    /// is left out (a route layer refuses to be made with one).
    pub(crate) fn add_scopes<'a>(&self, scopes: impl IntoIterator<Item = &'a str>) {
        let mut listed = self
            .inner
            .scopes
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for scope in scopes {
            if is_scope_token(scope) && !listed.iter().any(|s| s == scope) {
                listed.push(scope.to_owned());
            }
        }
    }

    /// The answer to a request for the document with `method`.
    #[must_use]
    pub fn answer(&self, method: &Method) -> Response<String> {
        let (status, body) = match *method {
            Method::GET | Method::HEAD => (StatusCode::OK, self.json()),
            Method::OPTIONS => (StatusCode::NO_CONTENT, String::new()),
            _ => (StatusCode::METHOD_NOT_ALLOWED, String::new()),
        };
        let mut response = Response::new(body);
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        let methods = HeaderValue::from_static("GET, HEAD, OPTIONS");
        match status {
            StatusCode::OK => {
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                headers.insert(CACHE_CONTROL, self.inner.cache_control.clone());
            }
            StatusCode::NO_CONTENT => {
                headers.insert(ACCESS_CONTROL_ALLOW_METHODS, methods);
                headers.insert(ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("*"));
            }
            _ => {
                headers.insert(ALLOW, methods);
            }
        }
        response
    }
}

impl ResourceMetadataBuilder {
    /// An authorization server clients get tokens from, by its issuer identifier (RFC 8414):
    /// the `authorization_servers` member, in the order given. At least one is required.
    pub fn authorization_server(mut self, issuer: impl Into<String>) -> Self {
        let issuer = issuer.into();
        if !self.authorization_servers.contains(&issuer) {
            self.authorization_servers.push(issuer);
        }
        self
    }

    /// Scopes this resource uses in its requirements (`scopes_supported`), added to those
    /// given before, each listed once.
    pub fn scopes_supported<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        for scope in scopes {
            let scope = scope.into();
            if !self.scopes.contains(&scope) {
                self.scopes.push(scope);
            }
        }
        self
    }

    /// Every scope the rules of `policy` require, added to `scopes_supported`.
    pub fn scopes_of(self, policy: &Policy) -> Self {
        let scopes: Vec<String> = policy.scopes().map(str::to_owned).collect();
        self.scopes_supported(scopes)
    }

    /// Where the layer reads tokens (`bearer_methods_supported`): `header` for the
    /// `Authorization` header, `query` when the query parameter is allowed. A cookie or a
    /// custom header has no name in RFC 9728 and is not listed.
    pub fn bearer_methods(mut self, sources: &TokenSources) -> Self {
        self.bearer_methods = vec!["header"];
        if sources.query_allowed() {
            self.bearer_methods.push("query");
        }
        self
    }

    /// The layer's DPoP rules: `dpop_signing_alg_values_supported`, and
    /// `dpop_bound_access_tokens_required` when DPoP is required.
    pub fn dpop(mut self, dpop: &Dpop) -> Self {
        self.dpop_algs = dpop.algorithms().iter().collect();
        self.dpop_required = dpop.is_required();
        self
    }

    /// Says that this resource supports certificate-bound tokens (RFC 8705,
    /// `tls_client_certificate_bound_access_tokens`).
    pub fn certificate_bound_tokens(mut self, supported: bool) -> Self {
        self.certificate_bound = supported;
        self
    }

    /// A name of the resource for people (`resource_name`).
    pub fn resource_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// A page for developers about the resource (`resource_documentation`).
    pub fn resource_documentation(mut self, url: impl Into<String>) -> Self {
        self.documentation = Some(url.into());
        self
    }

    /// How long clients may cache the document (`Cache-Control: max-age`, whole seconds).
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// The metadata.
    ///
    /// # Errors
    /// A [`ConfigError`] of kind `Invalid { setting: "resource_metadata" }` without an
    /// authorization server (a client could not get a token anywhere), or with a scope that
    /// is not an RFC 6749 scope token.
    pub fn build(self) -> Result<ResourceMetadata, ConfigError> {
        if self.authorization_servers.is_empty() {
            return Err(ConfigError::invalid(
                "resource_metadata",
                "name at least one authorization server clients get tokens from",
            ));
        }
        if let Some(bad) = self.scopes.iter().find(|s| !is_scope_token(s)) {
            return Err(ConfigError::invalid(
                "resource_metadata",
                format!("{bad:?} is not a valid OAuth scope (RFC 6749 section 3.3)"),
            ));
        }
        let mut head = String::from("{");
        member(&mut head, "resource", self.resource.as_str());
        list(
            &mut head,
            "authorization_servers",
            &self.authorization_servers,
        );
        let mut tail = String::from("{");
        list(&mut tail, "bearer_methods_supported", &self.bearer_methods);
        if let Some(name) = &self.name {
            member(&mut tail, "resource_name", name);
        }
        if let Some(url) = &self.documentation {
            member(&mut tail, "resource_documentation", url);
        }
        if self.certificate_bound {
            tail.push_str(r#","tls_client_certificate_bound_access_tokens":true"#);
        }
        if !self.dpop_algs.is_empty() {
            let algs: Vec<&str> = self.dpop_algs.iter().map(|a| a.as_str()).collect();
            list(&mut tail, "dpop_signing_alg_values_supported", &algs);
            if self.dpop_required {
                tail.push_str(r#","dpop_bound_access_tokens_required":true"#);
            }
        }
        tail.push('}');
        // The tail's members (`bearer_methods_supported` always among them) follow the
        // head's: its placeholder brace becomes their comma.
        tail.replace_range(..1, ",");
        let cache_control =
            HeaderValue::from_str(&format!("public, max-age={}", self.max_age.as_secs()))
                .unwrap_or_else(|_| HeaderValue::from_static("no-cache"));
        Ok(ResourceMetadata {
            inner: Arc::new(Document {
                path: self.resource.metadata_path(),
                url: self.resource.metadata_url(),
                resource: self.resource,
                head,
                tail,
                scopes: RwLock::new(self.scopes),
                cache_control,
            }),
        })
    }
}

/// `,"name":"value"` (no comma first).
fn member(json: &mut String, name: &str, value: &str) {
    if json.len() > 1 {
        json.push(',');
    }
    json_string(json, name);
    json.push(':');
    json_string(json, value);
}

/// `,"name":["a","b"]`.
fn list(json: &mut String, name: &str, values: &[impl AsRef<str>]) {
    if json.len() > 1 {
        json.push(',');
    }
    json_string(json, name);
    json.push_str(":[");
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        json_string(json, value.as_ref());
    }
    json.push(']');
}

impl std::fmt::Debug for ResourceMetadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResourceMetadata")
            .field("resource", &self.inner.resource)
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl<B> Service<Request<B>> for ResourceMetadata {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = Ready<Result<Response<String>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        ready(Ok(self.answer(req.method())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn orders() -> ResourceIdentifier {
        ResourceIdentifier::parse("https://api.example.com/orders").unwrap()
    }

    #[test]
    fn every_member_is_written_when_configured() {
        let dpop = Dpop::builder().required(true).build().unwrap();
        let m = ResourceMetadata::builder(orders())
            .authorization_server("https://a.example")
            .authorization_server("https://b.example")
            .authorization_server("https://a.example")
            .scopes_supported(["read", "write"])
            .scopes_supported(["read", "admin"])
            .bearer_methods(&TokenSources::default().danger_allow_query_parameter())
            .dpop(&dpop)
            .certificate_bound_tokens(true)
            .resource_name("Orders \"API\"")
            .resource_documentation("https://docs.example/orders")
            .max_age(Duration::from_secs(60))
            .build()
            .unwrap();
        let doc: serde_json::Value = serde_json::from_str(&m.json()).unwrap();
        assert_eq!(
            doc,
            serde_json::json!({
                "resource": "https://api.example.com/orders",
                "authorization_servers": ["https://a.example", "https://b.example"],
                "scopes_supported": ["read", "write", "admin"],
                "bearer_methods_supported": ["header", "query"],
                "resource_name": "Orders \"API\"",
                "resource_documentation": "https://docs.example/orders",
                "tls_client_certificate_bound_access_tokens": true,
                "dpop_signing_alg_values_supported":
                    dpop.algorithms().iter().map(|a| a.as_str()).collect::<Vec<_>>(),
                "dpop_bound_access_tokens_required": true,
            })
        );
        let answer = m.answer(&Method::GET);
        assert_eq!(answer.headers()[CACHE_CONTROL], "public, max-age=60");
        assert_eq!(answer.headers()[CONTENT_TYPE], "application/json");
        assert_eq!(answer.headers()[ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert_eq!(*answer.body(), m.json());
        assert_eq!(
            m.url(),
            "https://api.example.com/.well-known/oauth-protected-resource/orders"
        );
    }

    #[test]
    fn scopes_added_later_follow_the_builders_each_once_and_every_clone_sees_them() {
        let m = ResourceMetadata::builder(orders())
            .authorization_server("https://a.example")
            .scopes_supported(["read"])
            .build()
            .unwrap();
        let clone = m.clone();
        clone.add_scopes(["write", "read", "has space", "admin", "write"]);
        // The text, exactly: members in their order, one comma between each.
        assert_eq!(
            m.json(),
            r#"{"resource":"https://api.example.com/orders","authorization_servers":["https://a.example"],"scopes_supported":["read","write","admin"],"bearer_methods_supported":["header"]}"#
        );
    }

    #[test]
    fn optional_dpop_says_nothing_of_being_required() {
        let dpop = Dpop::builder().build().unwrap();
        let m = ResourceMetadata::builder(orders())
            .authorization_server("https://a.example")
            .dpop(&dpop)
            .build()
            .unwrap();
        let doc: serde_json::Value = serde_json::from_str(&m.json()).unwrap();
        assert!(doc.get("dpop_signing_alg_values_supported").is_some());
        assert!(doc.get("dpop_bound_access_tokens_required").is_none());
        assert!(doc.get("scopes_supported").is_none());
    }

    #[test]
    fn methods_other_than_reading_are_refused() {
        let m = ResourceMetadata::builder(orders())
            .authorization_server("https://a.example")
            .build()
            .unwrap();
        assert_eq!(m.answer(&Method::HEAD).status(), 200);
        // A CORS preflight: the methods and headers a browser may use, no `Allow`.
        let preflight = m.answer(&Method::OPTIONS);
        assert_eq!(preflight.status(), 204);
        assert_eq!(
            preflight.headers()[ACCESS_CONTROL_ALLOW_METHODS],
            "GET, HEAD, OPTIONS"
        );
        assert_eq!(preflight.headers()[ACCESS_CONTROL_ALLOW_HEADERS], "*");
        assert!(preflight.headers().get(ALLOW).is_none());
        assert_eq!(m.path(), "/.well-known/oauth-protected-resource/orders");
        for method in [Method::POST, Method::PUT, Method::DELETE] {
            let a = m.answer(&method);
            assert_eq!(a.status(), 405);
            assert_eq!(a.headers()[ALLOW], "GET, HEAD, OPTIONS");
            assert!(a.body().is_empty());
        }
    }

    #[test]
    fn metadata_without_a_server_or_with_a_bad_scope_is_refused() {
        assert!(ResourceMetadata::builder(orders()).build().is_err());
        assert!(
            ResourceMetadata::builder(orders())
                .authorization_server("https://a.example")
                .scopes_supported(["two words"])
                .build()
                .is_err()
        );
    }
}
