//! [`BearerAuth`]: the service that checks each request.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Method, Request, Response, StatusCode};
use portcullis_core::{AuthError, Claims, ErrorKind, ScopeRequirement};
use tower_service::Service;

use crate::answer::{Answers, Protocol, Rejection, answer};
use crate::credentials::{InvalidRequest, find_token, is_b64token};
use crate::future::ResponseFuture;
use crate::layer::{OnRejection, Settings};
use crate::policy::Access;

/// Put in the extensions of every request the layer lets through, with or without claims, so
/// that scope checks and extractors behind it can tell "unauthenticated" from "no layer".
#[derive(Debug, Clone)]
pub(crate) struct Passed {
    // Read by the axum extractors, to word their refusals as the layer would.
    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    pub(crate) answers: Arc<Answers>,
}

/// The service of [`BearerAuthLayer`](crate::BearerAuthLayer).
pub struct BearerAuth<S, H> {
    inner: S,
    settings: Arc<Settings>,
    on_rejection: H,
}

impl<S, H> BearerAuth<S, H> {
    pub(crate) fn new(inner: S, settings: Arc<Settings>, on_rejection: H) -> Self {
        BearerAuth {
            inner,
            settings,
            on_rejection,
        }
    }

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

impl<S: Clone, H: Clone> Clone for BearerAuth<S, H> {
    fn clone(&self) -> Self {
        BearerAuth {
            inner: self.inner.clone(),
            settings: self.settings.clone(),
            on_rejection: self.on_rejection.clone(),
        }
    }
}

impl<S: std::fmt::Debug, H> std::fmt::Debug for BearerAuth<S, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerAuth")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

/// What the route requires, from the policy (every route needs a token without one).
fn access_of<'a>(settings: &'a Settings, method: &Method, path: &str) -> &'a Access {
    static AUTHENTICATED: Access = Access::Authenticated;
    match &settings.policy {
        Some(policy) => policy.access(method, path),
        None => &AUTHENTICATED,
    }
}

/// Whether verified claims satisfy the route.
fn authorize(access: &Access, claims: &Claims) -> Result<(), AuthError> {
    match access {
        Access::Public | Access::Authenticated => Ok(()),
        Access::Scopes(requirement) => requirement.check(claims.scopes()),
        // An empty requirement: 403 `insufficient_scope` without a `scope` to ask for.
        Access::Deny => {
            Err(ErrorKind::InsufficientScope(ScopeRequirement::any_of(Vec::<String>::new())).into())
        }
    }
}

/// Logs a refusal on the fixed target (never the token) and builds its response.
pub(crate) fn refuse<B, H: OnRejection<B>>(
    rejection: &Rejection,
    protocol: Protocol,
    answers: &Answers,
    on_rejection: &H,
    method: &Method,
    path: &str,
) -> Response<B> {
    let status = rejection.status();
    match status {
        StatusCode::SERVICE_UNAVAILABLE => tracing::warn!(
            target: "portcullis::auth",
            reason = rejection.code(), %method, path, status = status.as_u16(),
            "request refused: {rejection}"
        ),
        StatusCode::INTERNAL_SERVER_ERROR => tracing::error!(
            target: "portcullis::auth",
            reason = rejection.code(), %method, path, status = status.as_u16(),
            "request refused: {rejection}"
        ),
        _ => tracing::debug!(
            target: "portcullis::auth",
            reason = rejection.code(), %method, path, status = status.as_u16(),
            "request refused: {rejection}"
        ),
    }
    on_rejection.on_rejection(rejection, answer(rejection, protocol, answers))
}

impl<S, H, ReqBody, ResBody> Service<Request<ReqBody>> for BearerAuth<S, H>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: 'static,
    H: OnRejection<ResBody>,
    ReqBody: Send + 'static,
    ResBody: Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let settings = &*self.settings;
        let access = access_of(settings, req.method(), req.uri().path());
        let protocol = Protocol::of(req.headers());
        let passed = || Passed {
            answers: settings.answers.clone(),
        };
        let refused = |rejection: Rejection, req: &Request<ReqBody>| {
            ResponseFuture::answer(refuse(
                &rejection,
                protocol,
                &settings.answers,
                &self.on_rejection,
                req.method(),
                req.uri().path(),
            ))
        };

        if *access == Access::Public {
            req.extensions_mut().insert(passed());
            return ResponseFuture::inner(self.inner.call(req));
        }

        let verdict = match find_token(&settings.sources, req.headers(), req.uri()) {
            Err(invalid) => Err(Rejection::InvalidRequest(invalid)),
            Ok(None) if settings.optional && *access == Access::Authenticated => {
                req.extensions_mut().insert(passed());
                return ResponseFuture::inner(self.inner.call(req));
            }
            Ok(None) => Err(Rejection::MissingCredentials),
            Ok(Some(token))
                if !settings.verifier.accepts_only_b64tokens() && !is_b64token(&token) =>
            {
                Err(Rejection::InvalidRequest(
                    InvalidRequest::MalformedCredential,
                ))
            }
            Ok(Some(token)) => match settings.verifier.verify_now(&token) {
                Ok(claims) => authorize(access, &claims)
                    .map(|()| claims)
                    .map_err(Rejection::Refused),
                // The syntax of a refused token decides between 400 and 401. (An accepted
                // one is a compact JWS, so a b64token: see `accepts_only_b64tokens`.)
                Err(_) if !is_b64token(&token) => Err(Rejection::InvalidRequest(
                    InvalidRequest::MalformedCredential,
                )),
                Err(error) if settings.verifier.may_refresh(&error) => {
                    // The rare path: the key is not in the snapshot. The service that was
                    // polled ready goes into the future; its clone stays here for the next
                    // `poll_ready`.
                    let token = token.into_owned();
                    let clone = self.inner.clone();
                    let inner = std::mem::replace(&mut self.inner, clone);
                    let settings = self.settings.clone();
                    let on_rejection = self.on_rejection.clone();
                    return ResponseFuture::refresh(Box::pin(refresh(
                        inner,
                        req,
                        token,
                        protocol,
                        settings,
                        on_rejection,
                    )));
                }
                Err(error) => Err(Rejection::Refused(error)),
            },
        };

        match verdict {
            Ok(claims) => {
                let extensions = req.extensions_mut();
                extensions.insert(claims);
                extensions.insert(passed());
                ResponseFuture::inner(self.inner.call(req))
            }
            Err(rejection) => refused(rejection, &req),
        }
    }
}

/// Verifies with fresher keys, then calls the service or answers.
async fn refresh<S, H, ReqBody, ResBody>(
    mut inner: S,
    mut req: Request<ReqBody>,
    token: String,
    protocol: Protocol,
    settings: Arc<Settings>,
    on_rejection: H,
) -> Result<Response<ResBody>, S::Error>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    H: OnRejection<ResBody>,
{
    let verdict = match settings.verifier.verify(&token).await {
        Ok(claims) => {
            let access = access_of(&settings, req.method(), req.uri().path());
            authorize(access, &claims).map(|()| claims)
        }
        Err(error) => Err(error),
    };
    match verdict {
        Ok(claims) => {
            let extensions = req.extensions_mut();
            extensions.insert(claims);
            extensions.insert(Passed {
                answers: settings.answers.clone(),
            });
            inner.call(req).await
        }
        Err(error) => Ok(refuse(
            &Rejection::Refused(error),
            protocol,
            &settings.answers,
            &on_rejection,
            req.method(),
            req.uri().path(),
        )),
    }
}
