//! [`RequireScopesLayer`]: a per-route scope check behind [`BearerAuthLayer`](crate::BearerAuthLayer).
//!
//! It reads the claims the outer layer verified and put in the request's extensions: no
//! parsing and no signature check again, a few comparisons. Made by
//! [`BearerAuthLayer::require_scopes`](crate::BearerAuthLayer::require_scopes).

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use portcullis_core::{Claims, ScopeRequirement};
use tower_layer::Layer;
use tower_service::Service;

use crate::answer::{Answers, Protocol, Rejection};
use crate::future::ResponseFuture;
use crate::layer::OnRejection;
use crate::service::{Passed, refuse};

/// Requires scopes of the verified token. See [`BearerAuthLayer::require_scopes`](crate::BearerAuthLayer::require_scopes).
#[must_use]
#[derive(Debug)]
pub struct RequireScopesLayer<H> {
    requirement: Arc<ScopeRequirement>,
    answers: Arc<Answers>,
    on_rejection: H,
}

impl<H: Clone> Clone for RequireScopesLayer<H> {
    fn clone(&self) -> Self {
        RequireScopesLayer {
            requirement: self.requirement.clone(),
            answers: self.answers.clone(),
            on_rejection: self.on_rejection.clone(),
        }
    }
}

/// Whether `scope` is a valid RFC 6749 `scope-token`: `1*( %x21 / %x23-5B / %x5D-7E )`.
pub(crate) fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

impl<H> RequireScopesLayer<H> {
    #[allow(clippy::panic)] // A programming error caught when the router is built, documented.
    pub(crate) fn new(
        requirement: ScopeRequirement,
        answers: Arc<Answers>,
        on_rejection: H,
    ) -> Self {
        if requirement.alternatives().next().is_none()
            || requirement
                .alternatives()
                .any(|mut set| set.next().is_none())
        {
            // An empty list would require nothing (or deny everything): a configuration
            // mistake that must not silently open a route.
            panic!(
                "portcullis: a scope requirement must name at least one scope in each alternative"
            );
        }
        if let Some(bad) = requirement
            .alternatives()
            .flatten()
            .find(|scope| !is_scope_token(scope))
        {
            panic!("portcullis: {bad:?} is not a valid OAuth scope (RFC 6749 section 3.3)");
        }
        RequireScopesLayer {
            requirement: Arc::new(requirement),
            answers,
            on_rejection,
        }
    }

    /// The requirement.
    #[must_use]
    pub fn requirement(&self) -> &ScopeRequirement {
        &self.requirement
    }
}

impl<S, H: Clone> Layer<S> for RequireScopesLayer<H> {
    type Service = RequireScopes<S, H>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireScopes {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`RequireScopesLayer`].
#[derive(Debug)]
pub struct RequireScopes<S, H> {
    inner: S,
    layer: RequireScopesLayer<H>,
}

impl<S: Clone, H: Clone> Clone for RequireScopes<S, H> {
    fn clone(&self) -> Self {
        RequireScopes {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<S, H> RequireScopes<S, H> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The wrapped service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, H, ReqBody, ResBody> Service<Request<ReqBody>> for RequireScopes<S, H>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    H: OnRejection<ResBody>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let rejection = match req.extensions().get::<Claims>() {
            Some(claims) => match self.layer.requirement.check(claims.scopes()) {
                Ok(()) => return ResponseFuture::inner(self.inner.call(req)),
                Err(error) => Rejection::Refused(error),
            },
            // The layer ran and let the request through without a token (optional
            // authentication, or a public route): this route needs one.
            None if req.extensions().get::<Passed>().is_some() => Rejection::MissingCredentials,
            None => Rejection::LayerMissing,
        };
        ResponseFuture::answer(refuse(
            &rejection,
            Protocol::of(req.headers()),
            &self.layer.answers,
            &self.layer.on_rejection,
            req.method(),
            req.uri().path(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::is_scope_token;

    #[test]
    fn scope_tokens_follow_rfc_6749() {
        for good in ["read", "orders.read", "https://api.example.com/x", "a!#[]~"] {
            assert!(is_scope_token(good), "{good}");
        }
        for bad in ["", "a b", "a\"b", "a\\b", "\u{e9}", "a\tb"] {
            assert!(!is_scope_token(bad), "{bad}");
        }
    }
}
