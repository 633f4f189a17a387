//! [`RequireScopesLayer`]: a per-route check of [`Requirements`] behind
//! [`BearerAuthLayer`](crate::BearerAuthLayer): scopes, step-up, DPoP
//! ([`BearerAuthLayer::require_dpop`](crate::BearerAuthLayer::require_dpop)), roles and
//! claim rules ([`BearerAuthLayer::require_roles`](crate::BearerAuthLayer::require_roles),
//! [`BearerAuthLayer::require_claims`](crate::BearerAuthLayer::require_claims)).
//!
//! It reads the claims the outer layer verified and put in the request's extensions: no
//! parsing and no signature check again, a few comparisons. Made by
//! [`BearerAuthLayer::require_scopes`](crate::BearerAuthLayer::require_scopes).

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use portcullis_core::{ClaimRule, ScopeRequirement, StepUp};
use tower_layer::Layer;
use tower_service::Service;

use crate::answer::{Answers, Protocol, Rejection};
use crate::future::ResponseFuture;
use crate::policy::Requirements;
use crate::respond::{OnRejection, Passed, now_of, refuse, required};

/// Requires scopes of the verified token. See [`BearerAuthLayer::require_scopes`](crate::BearerAuthLayer::require_scopes).
#[must_use]
pub struct RequireScopesLayer<H> {
    /// Scopes (none on a DPoP-only or step-up-only route), step-up, DPoP.
    requirements: Arc<Requirements>,
    answers: Arc<Answers>,
    hook: Arc<H>,
}

impl<H> Clone for RequireScopesLayer<H> {
    fn clone(&self) -> Self {
        RequireScopesLayer {
            requirements: self.requirements.clone(),
            answers: self.answers.clone(),
            hook: self.hook.clone(),
        }
    }
}

impl<H> std::fmt::Debug for RequireScopesLayer<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequireScopesLayer")
            .field("requirements", &self.requirements)
            .finish_non_exhaustive()
    }
}

impl<H> RequireScopesLayer<H> {
    /// A layer for `requirements`, each part validated.
    #[allow(clippy::panic)] // A programming error caught when the router is built, documented.
    pub(crate) fn of(requirements: Requirements, answers: Arc<Answers>, hook: Arc<H>) -> Self {
        let requirements = match requirements.validated() {
            Ok(requirements) => requirements,
            Err(error) => panic!("portcullis: {error}"),
        };
        RequireScopesLayer {
            requirements: Arc::new(requirements),
            answers,
            hook,
        }
    }

    pub(crate) fn dpop_only(answers: Arc<Answers>, hook: Arc<H>) -> Self {
        RequireScopesLayer {
            requirements: Arc::new(Requirements::new().dpop()),
            answers,
            hook,
        }
    }

    pub(crate) fn step_up_only(step_up: StepUp, answers: Arc<Answers>, hook: Arc<H>) -> Self {
        RequireScopesLayer {
            requirements: Arc::new(Requirements::new().step_up(valid_step_up(step_up))),
            answers,
            hook,
        }
    }

    /// The scope requirement (`None` on a layer that requires DPoP or a step-up only).
    #[must_use]
    pub fn requirement(&self) -> Option<&ScopeRequirement> {
        self.requirements.scope_requirement()
    }

    /// Requires a DPoP-bound token too (see
    /// [`BearerAuthLayer::require_dpop`](crate::BearerAuthLayer::require_dpop)).
    pub fn and_dpop(mut self) -> Self {
        self.requirements = Arc::new((*self.requirements).clone().dpop());
        self
    }

    /// Requires a step-up too (see
    /// [`BearerAuthLayer::require_step_up`](crate::BearerAuthLayer::require_step_up)),
    /// replacing one given before.
    ///
    /// # Panics
    /// As [`BearerAuthLayer::require_step_up`](crate::BearerAuthLayer::require_step_up).
    pub fn and_step_up(mut self, step_up: StepUp) -> Self {
        let step_up = valid_step_up(step_up);
        self.requirements = Arc::new((*self.requirements).clone().step_up(step_up));
        self
    }

    /// Requires these roles too (see
    /// [`BearerAuthLayer::require_roles`](crate::BearerAuthLayer::require_roles)), replacing
    /// roles given before: `auth.require_scopes(["orders.read"]).and_roles(["auditor"])`.
    ///
    /// # Panics
    /// As [`BearerAuthLayer::require_roles`](crate::BearerAuthLayer::require_roles).
    #[allow(clippy::panic)] // A programming error caught when the router is built, documented.
    pub fn and_roles<I, S>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let roles = match ScopeRequirement::all_of(roles).validated() {
            Ok(roles) => roles,
            Err(error) => panic!("portcullis: roles: {error}"),
        };
        self.requirements = Arc::new((*self.requirements).clone().roles(roles));
        self
    }

    /// Requires a rule on the claims too (see
    /// [`BearerAuthLayer::require_claims`](crate::BearerAuthLayer::require_claims)),
    /// replacing a rule given before.
    ///
    /// # Panics
    /// As [`BearerAuthLayer::require_claims`](crate::BearerAuthLayer::require_claims).
    #[allow(clippy::panic)] // A programming error caught when the router is built, documented.
    pub fn and_claims(mut self, rule: ClaimRule) -> Self {
        let rule = match rule.validated() {
            Ok(rule) => rule,
            Err(error) => panic!("portcullis: {error}"),
        };
        self.requirements = Arc::new((*self.requirements).clone().claims(rule));
        self
    }

    /// Whether the route requires a DPoP-bound token.
    #[must_use]
    pub fn requires_dpop(&self) -> bool {
        self.requirements.requires_dpop()
    }

    /// Everything this layer requires.
    #[must_use]
    pub fn requirements(&self) -> &Requirements {
        &self.requirements
    }
}

/// `step_up`, or a panic naming why it cannot be a route's rule.
#[allow(clippy::panic)] // A programming error caught when the router is built, documented.
pub(crate) fn valid_step_up(step_up: StepUp) -> StepUp {
    match step_up.validated() {
        Ok(step_up) => step_up,
        Err(error) => panic!("portcullis: {error}"),
    }
}

/// Whether the layer accepted this request with a DPoP proof it checked, for a token bound to
/// the proof's key (not merely a token with `cnf.jkt`: a `danger_*` option may let one pass
/// as a bearer token).
fn dpop_proven(extensions: &http::Extensions) -> bool {
    extensions.get::<Passed>().is_some_and(|p| p.dpop_proven)
}

impl<S, H> Layer<S> for RequireScopesLayer<H> {
    type Service = RequireScopes<S, H>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireScopes {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`RequireScopesLayer`].
pub struct RequireScopes<S, H> {
    inner: S,
    layer: RequireScopesLayer<H>,
}

impl<S: std::fmt::Debug, H> std::fmt::Debug for RequireScopes<S, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequireScopes")
            .field("inner", &self.inner)
            .field("layer", &self.layer)
            .finish()
    }
}

impl<S: Clone, H> Clone for RequireScopes<S, H> {
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
        let extensions = req.extensions();
        let checked = required(extensions).map(|claims| {
            let now = || now_of(extensions);
            self.layer
                .requirements
                .check(claims, dpop_proven(extensions), now)
        });
        let rejection = match checked {
            Ok(Ok(())) => return ResponseFuture::inner(self.inner.call(req)),
            Ok(Err(error)) => Rejection::Refused(error),
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
