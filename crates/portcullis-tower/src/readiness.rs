//! [`Readiness`]: a readiness probe for the layer's key sources (feature `axum`).
//!
//! A replica whose keys are gone answers every token with 503; a readiness probe takes it out
//! of the load balancer instead, and puts it back once its keys return. The probe answers
//! `200` while every key source can verify tokens (fresh keys, or the last good keys served
//! through an outage within the staleness limit) and `503` when one cannot; the plain-text
//! body lists each source by its configured name and state. Liveness is another question:
//! a replica without keys is alive and recovers by itself, so do not point a liveness probe
//! here.
//!
//! ```
//! # use portcullis_tower::BearerAuthLayer;
//! # fn with(auth: BearerAuthLayer) {
//! let app: axum::Router = axum::Router::new()
//!     .route_service("/ready", auth.readiness());
//! # }
//! ```

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum_core::body::Body;
use http::{HeaderValue, Request, Response, StatusCode, header};
use portcullis_core::Verifier;
use portcullis_core::health::SourceHealth;
use tower_service::Service;

/// The readiness service of a layer's verifier; see the [module](self) and
/// [`BearerAuthLayer::readiness`](crate::BearerAuthLayer::readiness).
#[derive(Clone)]
pub struct Readiness {
    verifier: Arc<dyn Verifier>,
}

impl Readiness {
    pub(crate) fn new(verifier: Arc<dyn Verifier>) -> Self {
        Readiness { verifier }
    }

    /// The answer now: `200` when every source can verify, else `503`.
    #[must_use]
    pub fn answer(&self) -> Response<Body> {
        let sources = self.verifier.health();
        let ready = SourceHealth::all_ready(&sources);
        let mut text = String::from(if ready { "ready\n" } else { "unready\n" });
        for source in &sources {
            text.push_str(&source.to_string());
            text.push('\n');
        }
        let mut response = Response::new(Body::from(text));
        if !ready {
            *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        }
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readiness").finish_non_exhaustive()
    }
}

impl<B> Service<Request<B>> for Readiness {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Ready<Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _req: Request<B>) -> Self::Future {
        ready(Ok(self.answer()))
    }
}
