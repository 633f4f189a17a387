//! [`BearerAuthLayer`]: the configuration, and what it wraps a service in.

use std::fmt;
use std::sync::Arc;

use http::Response;
use portcullis_core::ScopeRequirement;
use tower_layer::Layer;

use crate::answer::{Answers, Rejection};
use crate::credentials::TokenSources;
use crate::policy::Policy;
use crate::scopes::RequireScopesLayer;
use crate::service::BearerAuth;
use crate::verifier::Verifier;

/// Turns a refusal into the response sent. Implemented by [`DefaultAnswer`] (the RFC 6750 /
/// gRPC answer with an empty body) and by closures
/// `Fn(&Rejection, Response<()>) -> Response<B>`, which receive the typed reason and the
/// default answer, e.g. to add a JSON body.
///
/// ```
/// use http::Response;
/// use portcullis_tower::Rejection;
///
/// let hook = |rejection: &Rejection, answer: Response<()>| {
///     let body = format!(r#"{{"error":"{}"}}"#, rejection.code());
///     answer.map(|()| body)
/// };
/// fn takes<H: portcullis_tower::OnRejection<String>>(_: H) {}
/// takes(hook);
/// ```
pub trait OnRejection<B>: Clone + Send + Sync + 'static {
    /// The response for `rejection`; `answer` is what portcullis would send.
    fn on_rejection(&self, rejection: &Rejection, answer: Response<()>) -> Response<B>;
}

/// The default answer: status and headers from [`answer`](crate::answer()), an empty body.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultAnswer;

impl<B: Default> OnRejection<B> for DefaultAnswer {
    fn on_rejection(&self, _rejection: &Rejection, answer: Response<()>) -> Response<B> {
        answer.map(|()| B::default())
    }
}

impl<B, F> OnRejection<B> for F
where
    F: Fn(&Rejection, Response<()>) -> Response<B> + Clone + Send + Sync + 'static,
{
    fn on_rejection(&self, rejection: &Rejection, answer: Response<()>) -> Response<B> {
        self(rejection, answer)
    }
}

/// What every [`BearerAuth`] built by one layer shares.
#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) verifier: Arc<dyn Verifier>,
    pub(crate) sources: TokenSources,
    pub(crate) optional: bool,
    pub(crate) policy: Option<Arc<Policy>>,
    pub(crate) answers: Arc<Answers>,
}

/// Verifies the bearer token of every request before the wrapped service sees it.
///
/// A request passes with the verified [`Claims`](portcullis_core::Claims) in its extensions;
/// anything else is answered as [`answer`](crate::answer()) says (401, 400, 403 or 503, or a
/// gRPC status), and the precise reason is logged at `debug` on the `portcullis::auth` target
/// (503s at `warn`), never the token.
///
/// Put it on axum's `route_layer` (or on a router whose every route it protects) so that
/// unknown paths still answer 404 rather than 401.
#[must_use]
pub struct BearerAuthLayer<H = DefaultAnswer> {
    pub(crate) settings: Arc<Settings>,
    pub(crate) on_rejection: H,
}

impl BearerAuthLayer {
    /// Every request needs a token that `verifier` accepts.
    pub fn new(verifier: impl Verifier) -> Self {
        Self::from_arc(Arc::new(verifier))
    }

    /// As [`BearerAuthLayer::new`], for a verifier already shared.
    pub fn from_arc(verifier: Arc<dyn Verifier>) -> Self {
        BearerAuthLayer {
            settings: Arc::new(Settings {
                verifier,
                sources: TokenSources::default(),
                optional: false,
                policy: None,
                answers: Arc::new(Answers::default()),
            }),
            on_rejection: DefaultAnswer,
        }
    }
}

impl<H> BearerAuthLayer<H> {
    /// Where tokens are looked for besides `Authorization: Bearer`.
    pub fn token_sources(mut self, sources: TokenSources) -> Self {
        Arc::make_mut(&mut self.settings).sources = sources;
        self
    }

    /// Optional authentication: a request without any token passes, unauthenticated (no
    /// claims in its extensions); a request with an invalid token is still refused. Handlers
    /// read `Option<Claims<T>>`. With a [`Policy`], this applies to the routes whose access is
    /// [`Access::Authenticated`](crate::Access::Authenticated); routes that need scopes still
    /// need a token.
    pub fn optional(mut self) -> Self {
        Arc::make_mut(&mut self.settings).optional = true;
        self
    }

    /// Requirements per method and path, read before the token: `Public` routes skip the
    /// layer, `Scopes` routes need the scopes, `Deny` routes refuse.
    pub fn policy(mut self, policy: Policy) -> Self {
        Arc::make_mut(&mut self.settings).policy = Some(Arc::new(policy));
        self
    }

    /// How refusals are worded (realm, `error_description`, `Retry-After`).
    pub fn answers(mut self, answers: Answers) -> Self {
        Arc::make_mut(&mut self.settings).answers = Arc::new(answers);
        self
    }

    /// Builds each refusal's response with `hook`, which receives the typed reason and the
    /// default answer.
    pub fn on_rejection<H2>(self, hook: H2) -> BearerAuthLayer<H2> {
        BearerAuthLayer {
            settings: self.settings,
            on_rejection: hook,
        }
    }

    /// A layer for axum's `route_layer` that requires every one of `scopes`, reading the
    /// claims this layer verified: `.route_layer(auth.require_scopes(["orders.read"]))`.
    ///
    /// # Panics
    /// When the list is empty (it would require nothing), or a scope is empty or contains a
    /// character RFC 6749 does not allow in a scope (space, `"`, `\`, control characters): a
    /// programming error, caught when the router is built.
    pub fn require_scopes<I, S>(&self, scopes: I) -> RequireScopesLayer<H>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
        H: Clone,
    {
        self.require(ScopeRequirement::all_of(scopes))
    }

    /// As [`BearerAuthLayer::require_scopes`], with any scope requirement (any-of, all-of,
    /// alternatives of sets).
    ///
    /// # Panics
    /// As [`BearerAuthLayer::require_scopes`].
    pub fn require(&self, requirement: ScopeRequirement) -> RequireScopesLayer<H>
    where
        H: Clone,
    {
        RequireScopesLayer::new(
            requirement,
            self.settings.answers.clone(),
            self.on_rejection.clone(),
        )
    }
}

impl<H: Clone> Clone for BearerAuthLayer<H> {
    fn clone(&self) -> Self {
        BearerAuthLayer {
            settings: self.settings.clone(),
            on_rejection: self.on_rejection.clone(),
        }
    }
}

impl<S, H: Clone> Layer<S> for BearerAuthLayer<H> {
    type Service = BearerAuth<S, H>;

    fn layer(&self, inner: S) -> Self::Service {
        BearerAuth::new(inner, self.settings.clone(), self.on_rejection.clone())
    }
}

impl<H> fmt::Debug for BearerAuthLayer<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerAuthLayer")
            .field("sources", &self.settings.sources)
            .field("optional", &self.settings.optional)
            .field("policy", &self.settings.policy)
            .field("answers", &self.settings.answers)
            .finish_non_exhaustive()
    }
}
