//! [`RequireClaimsLayer`]: a per-route check of roles or of a rule on any claim, behind
//! [`BearerAuthLayer`](crate::BearerAuthLayer), made by
//! [`BearerAuthLayer::require_roles`](crate::BearerAuthLayer::require_roles) and
//! [`BearerAuthLayer::require_claims`](crate::BearerAuthLayer::require_claims).
//!
//! It reads the claims the outer layer verified. A refusal is `403` with RFC 6750's
//! `insufficient_scope` ("the request requires higher privileges than provided by the
//! access token", section 3.1) and no `scope` attribute: the answer does not say which rule
//! or role was missing; the log line and the rejection hook do.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use portcullis_core::{ClaimRule, ErrorKind, ScopeRequirement};
use tower_layer::Layer;
use tower_service::Service;

use crate::answer::{Answers, Protocol, Rejection};
use crate::future::ResponseFuture;
use crate::respond::{OnRejection, refuse, required};

/// What a [`RequireClaimsLayer`] checks.
#[derive(Debug, Clone)]
enum Check {
    /// Roles, as a requirement over [`Claims::roles`](portcullis_core::Claims::roles).
    Roles(Arc<ScopeRequirement>),
    /// A rule on the claims.
    Rule(ClaimRule),
}

/// Requires roles or a claim rule of the verified token. See
/// [`BearerAuthLayer::require_roles`](crate::BearerAuthLayer::require_roles).
#[must_use]
pub struct RequireClaimsLayer<H> {
    check: Check,
    answers: Arc<Answers>,
    hook: Arc<H>,
}

impl<H> Clone for RequireClaimsLayer<H> {
    fn clone(&self) -> Self {
        RequireClaimsLayer {
            check: self.check.clone(),
            answers: self.answers.clone(),
            hook: self.hook.clone(),
        }
    }
}

impl<H> std::fmt::Debug for RequireClaimsLayer<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequireClaimsLayer")
            .field("check", &self.check)
            .finish_non_exhaustive()
    }
}

impl<H> RequireClaimsLayer<H> {
    #[allow(clippy::panic)] // A programming error caught when the router is built, documented.
    pub(crate) fn roles(roles: ScopeRequirement, answers: Arc<Answers>, hook: Arc<H>) -> Self {
        let roles = match roles.validated() {
            Ok(roles) => roles,
            Err(error) => panic!("portcullis: roles: {error}"),
        };
        RequireClaimsLayer {
            check: Check::Roles(Arc::new(roles)),
            answers,
            hook,
        }
    }

    #[allow(clippy::panic)] // As above.
    pub(crate) fn rule(rule: ClaimRule, answers: Arc<Answers>, hook: Arc<H>) -> Self {
        let rule = match rule.validated() {
            Ok(rule) => rule,
            Err(error) => panic!("portcullis: {error}"),
        };
        RequireClaimsLayer {
            check: Check::Rule(rule),
            answers,
            hook,
        }
    }
}

impl<S, H> Layer<S> for RequireClaimsLayer<H> {
    type Service = RequireClaims<S, H>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireClaims {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`RequireClaimsLayer`].
pub struct RequireClaims<S, H> {
    inner: S,
    layer: RequireClaimsLayer<H>,
}

impl<S: std::fmt::Debug, H> std::fmt::Debug for RequireClaims<S, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequireClaims")
            .field("inner", &self.inner)
            .field("layer", &self.layer)
            .finish()
    }
}

impl<S: Clone, H> Clone for RequireClaims<S, H> {
    fn clone(&self) -> Self {
        RequireClaims {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<S, H> RequireClaims<S, H> {
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

impl<S, H, ReqBody, ResBody> Service<Request<ReqBody>> for RequireClaims<S, H>
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
        let rejection = match required(req.extensions()) {
            Ok(claims) => {
                let checked = match &self.layer.check {
                    Check::Roles(roles) if roles.is_satisfied_by(claims.roles()) => Ok(()),
                    Check::Roles(roles) => {
                        Err(ErrorKind::InsufficientRoles(ScopeRequirement::clone(roles)))
                    }
                    Check::Rule(rule) => rule.check(claims).map_err(|e| e.into_kind()),
                };
                match checked {
                    Ok(()) => return ResponseFuture::inner(self.inner.call(req)),
                    Err(kind) => Rejection::Refused(kind.into()),
                }
            }
            Err(rejection) => rejection,
        };
        crate::observe::route_refused(rejection.code());
        ResponseFuture::answer(refuse(
            &rejection,
            Protocol::of(req.version(), req.headers(), &self.layer.answers),
            &self.layer.answers,
            &*self.layer.hook,
            req.method(),
            req.uri().path(),
        ))
    }
}
