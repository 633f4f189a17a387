//! [`BearerAuth`]: the service that checks each request, top-down: extract the presentation,
//! ask the verifier (ready, or pending on a fetch), apply the route's rule, pass on or answer.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Method, Request, Response};
use portcullis_core::dpop::Dpop;
use portcullis_core::{
    AuthError, CertificateThumbprint, Claims, ErrorKind, Presentation, Scheme, ScopeRequirement,
    Verdict, Verifier,
};
use tower_service::Service;

use crate::answer::{Answers, DPOP_NONCE, Protocol, Rejection};
use crate::credentials::{InvalidRequest, TokenSources, dpop_proof, find_token, is_b64token};
use crate::future::ResponseFuture;
use crate::policy::{Access, Policy};
use crate::respond::{Hook, OnRejection, Passed, refuse};

/// What every [`BearerAuth`] built by one layer shares.
#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) verifier: Arc<dyn Verifier>,
    pub(crate) sources: TokenSources,
    pub(crate) optional: bool,
    pub(crate) policy: Option<Arc<Policy>>,
    /// What every request needs when there is no policy: a token, or a token with scopes
    /// ([`BearerAuthLayer::with_scopes`](crate::BearerAuthLayer::with_scopes)).
    pub(crate) access: Access,
    pub(crate) answers: Arc<Answers>,
    /// The public origin clients address, for the presentation's target URI.
    pub(crate) origin: Option<Box<str>>,
    /// Or several, chosen per request by a trusted proxy's forwarded header.
    pub(crate) forwarded: Option<Arc<crate::ForwardedOrigins>>,
    /// The verifier's [`Verifier::accepts_only_b64tokens`], asked once when the layer is
    /// built (a router asks all its entries).
    pub(crate) b64_only: bool,
    /// The DPoP rules, when DPoP is accepted.
    pub(crate) dpop: Option<Dpop>,
    /// Where the client certificate's thumbprint comes from: the connection, or a proxy header.
    pub(crate) certificate: crate::certificate::CertificateSource,
    /// The protected resource's metadata, whose URL every challenge carries.
    pub(crate) metadata: Option<crate::ResourceMetadata>,
}

/// The service of [`BearerAuthLayer`](crate::BearerAuthLayer).
pub struct BearerAuth<S, H> {
    inner: S,
    settings: Arc<Settings>,
    hook: Arc<H>,
}

impl<S, H> BearerAuth<S, H> {
    pub(crate) fn new(inner: S, settings: Arc<Settings>, hook: Arc<H>) -> Self {
        BearerAuth {
            inner,
            settings,
            hook,
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

impl<S: Clone, H> Clone for BearerAuth<S, H> {
    fn clone(&self) -> Self {
        BearerAuth {
            inner: self.inner.clone(),
            settings: self.settings.clone(),
            hook: self.hook.clone(),
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

/// What the route requires: from the policy, or the layer's own access without one.
fn access_of<'a>(settings: &'a Settings, method: &Method, path: &str) -> &'a Access {
    match &settings.policy {
        Some(policy) => policy.access(method, path),
        None => &settings.access,
    }
}

/// Whether verified claims satisfy the route. `dpop_proven`: the layer checked a DPoP proof
/// for a token bound to its key; the verifier's clock is read only for a step-up.
fn authorize(
    access: &Access,
    claims: &Claims,
    dpop_proven: bool,
    verifier: &dyn Verifier,
) -> Result<(), AuthError> {
    match access {
        Access::Public | Access::Authenticated | Access::Optional => Ok(()),
        Access::Scopes(requirement) => requirement.check(claims.scopes()),
        Access::Requires(requirements) => {
            requirements.check(claims, dpop_proven, || verifier.now_unix())
        }
        // An empty requirement: 403 `insufficient_scope` without a `scope` to ask for.
        Access::Deny => {
            Err(ErrorKind::InsufficientScope(ScopeRequirement::any_of(Vec::<String>::new())).into())
        }
    }
}

/// The verdict and the route's rule together: the claims to pass on, or the refusal. The
/// syntax of a refused token decides between 400 and 401 (an accepted one is a compact JWS,
/// so a `b64token`: see `accepts_only_b64tokens`). The one conclusion of the ready and the
/// pending path.
///
/// `malformed` is asked only for a refusal: the syntax scan of a token costs about as much as
/// the rest of a cache hit.
fn conclude(
    verdict: Result<Claims, AuthError>,
    access: &Access,
    dpop_proven: bool,
    verifier: &dyn Verifier,
    malformed: impl FnOnce() -> bool,
) -> Result<Claims, Rejection> {
    let authorized =
        |claims: Claims| authorize(access, &claims, dpop_proven, verifier).map(|()| claims);
    match verdict.and_then(authorized) {
        Ok(claims) => Ok(claims),
        Err(_) if malformed() => Err(InvalidRequest::MalformedCredential.into()),
        Err(error) => Err(error.into()),
    }
}

/// Whether a request without any token passes, unauthenticated.
fn passes_without_token(settings: &Settings, access: &Access) -> bool {
    match access {
        Access::Public | Access::Optional => true,
        Access::Authenticated => settings.optional,
        Access::Scopes(_) | Access::Requires(_) | Access::Deny => false,
    }
}

/// Lets a request through: its claims (if any) and the layer's marks in its extensions.
fn pass<ReqBody, ResBody, H: OnRejection<ResBody>>(
    req: &mut Request<ReqBody>,
    claims: Option<Claims>,
    settings: &Arc<Settings>,
    hook: &Arc<H>,
    dpop_proven: bool,
) where
    ResBody: 'static,
{
    crate::observe::request(
        if claims.is_some() {
            "accepted"
        } else {
            "anonymous"
        },
        "none",
    );
    let extensions = req.extensions_mut();
    // Replaces what an outer layer may have left: unauthenticated here is unauthenticated.
    extensions.insert(Passed {
        claims,
        settings: Arc::clone(settings),
        dpop_proven,
    });
    if !hook.is_default() {
        let hook: Arc<dyn OnRejection<ResBody>> = hook.clone();
        extensions.insert(Hook(hook));
    }
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
        let refused = |rejection: Rejection, req: &Request<ReqBody>| {
            crate::observe::request("refused", rejection.code());
            ResponseFuture::answer(refuse(
                &rejection,
                Protocol::of(req.version(), req.headers(), &settings.answers),
                &settings.answers,
                &*self.hook,
                req.method(),
                req.uri().path(),
            ))
        };

        // 1. Extraction: the credential, or none.
        let token = if *access == Access::Public {
            None
        } else {
            let dpop = settings.dpop.is_some();
            match find_token(&settings.sources, req.headers(), req.uri(), dpop) {
                Err(invalid) => return refused(invalid.into(), &req),
                Ok(token) => token,
            }
        };
        let Some((scheme, token)) = token else {
            if passes_without_token(settings, access) {
                pass(&mut req, None, &self.settings, &self.hook, false);
                return ResponseFuture::inner(self.inner.call(req));
            }
            return refused(Rejection::MissingCredentials, &req);
        };
        if !settings.b64_only && !is_b64token(&token) {
            return refused(InvalidRequest::MalformedCredential.into(), &req);
        }
        // The proof is read only where DPoP is accepted, and then always: a second `DPoP`
        // header is a malformed request whatever the scheme.
        let proof = match &settings.dpop {
            None => None,
            Some(_) => match dpop_proof(req.headers()) {
                Err(invalid) => return refused(invalid.into(), &req),
                Ok(proof) => proof,
            },
        };

        // 2. The verifier: ready now, or pending on a fetch.
        let uri = req.uri();
        let mut presentation = Presentation::new(scheme, &token).with_request(
            req.method().as_str(),
            uri.path_and_query().map_or(uri.path(), |pq| pq.as_str()),
        );
        if let Some(forwarded) = &settings.forwarded {
            presentation =
                presentation.with_origin(forwarded.origin_of(req.headers(), req.extensions()));
        } else if let Some(origin) = &settings.origin {
            presentation = presentation.with_origin(origin);
        }
        if let Some(proof) = proof {
            presentation = presentation.with_dpop_proof(proof);
        }
        // The certificate: from the connection, or only from the configured proxy header.
        let certificate: Option<CertificateThumbprint> = match settings
            .certificate
            .thumbprint(req.headers(), req.extensions())
        {
            Ok(certificate) => certificate,
            Err(malformed) => {
                return refused(InvalidRequest::MalformedCertificate(malformed).into(), &req);
            }
        };
        if let Some(thumbprint) = &certificate {
            presentation = presentation.with_certificate(thumbprint);
        }
        let timing = crate::observe::Timing::start();
        let (verdict, next_nonce) = match &settings.dpop {
            None => (settings.verifier.verify(&presentation), None),
            Some(dpop) => {
                let judged = dpop.verify(&*settings.verifier, &presentation);
                (judged.verdict, judged.next_nonce)
            }
        };
        let verdict = match verdict {
            Verdict::Ready(verdict) => {
                timing.done();
                verdict
            }
            Verdict::Pending(pending) => {
                // The rare path. The service that was polled ready goes into the future; its
                // clone stays here for the next `poll_ready`.
                let clone = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, clone);
                // The rare path: the token is not kept, so its syntax is read now.
                let malformed = !is_b64token(&token);
                return ResponseFuture::pending(Box::pin(finish(
                    inner,
                    req,
                    pending,
                    malformed,
                    self.settings.clone(),
                    self.hook.clone(),
                    OnSuccess {
                        timing,
                        nonce: nonce_header(next_nonce),
                        dpop_proven: scheme == Scheme::DPoP && settings.dpop.is_some(),
                    },
                )));
            }
        };

        // 3. The route's rule, then 4. pass on or answer. Accepted with the DPoP scheme: the
        // rules checked its proof and the binding.
        let proven = scheme == Scheme::DPoP && settings.dpop.is_some();
        let verifier = &*settings.verifier;
        match conclude(verdict, access, proven, verifier, || !is_b64token(&token)) {
            Ok(claims) => {
                pass(&mut req, Some(claims), &self.settings, &self.hook, proven);
                match nonce_header(next_nonce) {
                    None => ResponseFuture::inner(self.inner.call(req)),
                    Some(nonce) => ResponseFuture::with_nonce(self.inner.call(req), nonce),
                }
            }
            Err(rejection) => refused(rejection, &req),
        }
    }
}

/// What the pending path needs besides the request: when the verification started, the
/// `DPoP-Nonce` of the response, and whether a DPoP proof was checked.
struct OnSuccess {
    /// The verification's start, for its latency.
    timing: crate::observe::Timing,
    nonce: Option<http::HeaderValue>,
    dpop_proven: bool,
}

/// The `DPoP-Nonce` value a successful response carries, when the proof's nonce is no
/// longer the current one.
fn nonce_header(nonce: Option<Box<str>>) -> Option<http::HeaderValue> {
    nonce.and_then(|n| http::HeaderValue::from_str(&n).ok())
}

/// The rest of the path once a pending verdict is in: the route's rule, then the inner
/// service or the answer.
async fn finish<S, H, ReqBody, ResBody>(
    mut inner: S,
    mut req: Request<ReqBody>,
    pending: portcullis_core::verify::PendingVerdict,
    malformed: bool,
    settings: Arc<Settings>,
    hook: Arc<H>,
    on_success: OnSuccess,
) -> Result<Response<ResBody>, S::Error>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    H: OnRejection<ResBody>,
    ResBody: 'static,
{
    let verdict = pending.await;
    on_success.timing.done();
    let access = access_of(&settings, req.method(), req.uri().path());
    let proven = on_success.dpop_proven;
    match conclude(verdict, access, proven, &*settings.verifier, || malformed) {
        Ok(claims) => {
            pass(
                &mut req,
                Some(claims),
                &settings,
                &hook,
                on_success.dpop_proven,
            );
            let mut response = inner.call(req).await?;
            if let Some(nonce) = on_success.nonce {
                response.headers_mut().insert(DPOP_NONCE, nonce);
            }
            Ok(response)
        }
        Err(rejection) => Ok({
            crate::observe::request("refused", rejection.code());
            refuse(
                &rejection,
                Protocol::of(req.version(), req.headers(), &settings.answers),
                &settings.answers,
                &*hook,
                req.method(),
                req.uri().path(),
            )
        }),
    }
}

#[cfg(test)]
impl Settings {
    /// The settings of a default layer with these answers, whose verifier refuses every
    /// token (keys unavailable) and reads `clock`.
    pub(crate) fn for_test(answers: Answers, clock: portcullis_core::ManualClock) -> Arc<Self> {
        struct OnClock(portcullis_core::ManualClock);
        impl Verifier for OnClock {
            fn verify(&self, _: &Presentation<'_>) -> Verdict {
                Verdict::Ready(Err(ErrorKind::KeysUnavailable.into()))
            }
            fn now_unix(&self) -> f64 {
                portcullis_core::Clock::now_unix(&self.0)
            }
        }
        Arc::new(Settings {
            verifier: Arc::new(OnClock(clock)),
            sources: TokenSources::default(),
            optional: false,
            policy: None,
            access: Access::Authenticated,
            answers: Arc::new(answers),
            origin: None,
            forwarded: None,
            b64_only: false,
            dpop: None,
            certificate: crate::certificate::CertificateSource::default(),
            metadata: None,
        })
    }
}
