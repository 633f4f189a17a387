//! axum extractors for what [`BearerAuthLayer`](crate::BearerAuthLayer) verified (feature
//! `axum`, on `axum-core`).
//!
//! - [`Verified<T>`]: the token's claims in your own type (any `serde::Deserialize`).
//! - [`VerifiedClaims`]: portcullis's [`Claims`], with every
//!   standard field and the whole JSON object.
//! - [`GrantedScopes`]: the scopes the token grants.
//! - [`Refuse`]: refusals decided in the handler (a scope or a step-up that depends on the
//!   request), answered exactly as the layer answers them.
//!
//! Each also works as `Option<_>`, which is `None` for a request the layer let through without
//! a token (optional authentication, public routes). Without the `Option`, such a request is
//! answered `401`. If no layer ran before the handler at all, the extractor answers `500` and
//! logs an error naming the misconfiguration: a handler that reads claims must never run
//! unprotected. Refusals are worded as the layer words them, through its rejection hook.

use axum_core::body::Body;
use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;
use portcullis_core::{Claims, ScopeRequirement, StepUp};
use serde::de::DeserializeOwned;

use crate::answer::{Protocol, Rejection};
use crate::respond::{DefaultAnswer, Hook, answers_of, refuse, verified};

/// The verified claims in the handler's own type.
///
/// ```
/// use serde::Deserialize;
/// use portcullis_tower::axum::Verified;
///
/// #[derive(Deserialize)]
/// struct MyClaims {
///     sub: String,
///     tenant: String,
/// }
///
/// async fn handler(Verified(claims): Verified<MyClaims>) -> String {
///     format!("{} of {}", claims.sub, claims.tenant)
/// }
/// ```
///
/// Claims that do not fit `T` (a missing member, a wrong type) answer `401 invalid_token`:
/// this token does not carry what this API needs. The log says which type, not what the
/// claims held.
#[derive(Debug, Clone)]
pub struct Verified<T>(pub T);

/// portcullis's own verified [`Claims`].
#[derive(Debug, Clone)]
pub struct VerifiedClaims(pub portcullis_core::Claims);

/// The scopes the verified token grants.
#[derive(Debug, Clone)]
pub struct GrantedScopes(pub portcullis_core::Scopes);

/// Why an extractor could not produce its value; answered as the layer answers (its
/// [`answer`](crate::answer()) and its rejection hook).
pub struct ClaimsRejection {
    rejection: Rejection,
    protocol: Protocol,
    answers: std::sync::Arc<crate::Answers>,
    hook: Option<Hook<Body>>,
    method: http::Method,
    path: String,
}

impl std::fmt::Debug for ClaimsRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClaimsRejection")
            .field("rejection", &self.rejection)
            .finish_non_exhaustive()
    }
}

impl ClaimsRejection {
    /// The reason.
    #[must_use]
    pub fn rejection(&self) -> &Rejection {
        &self.rejection
    }
}

impl IntoResponse for ClaimsRejection {
    fn into_response(self) -> Response {
        crate::observe::route_refused(self.rejection.code());
        match &self.hook {
            Some(Hook(hook)) => refuse(
                &self.rejection,
                self.protocol,
                &self.answers,
                &**hook,
                &self.method,
                &self.path,
            ),
            None => refuse(
                &self.rejection,
                self.protocol,
                &self.answers,
                &DefaultAnswer,
                &self.method,
                &self.path,
            ),
        }
    }
}

/// Refusals that a handler decides, for what a route's rule cannot say (the scope a request
/// needs depends on its body; an amount above a limit needs a recent strong login): the
/// answers are those of the layer in front (`403 insufficient_scope` naming the scopes,
/// `401 insufficient_user_authentication` with `acr_values` and `max_age`), through its
/// rejection hook, logged on its target.
///
/// ```
/// use std::time::Duration;
/// use portcullis_core::{ScopeRequirement, StepUp};
/// use portcullis_tower::axum::{ClaimsRejection, Refuse, VerifiedClaims};
///
/// async fn transfer(
///     VerifiedClaims(claims): VerifiedClaims,
///     refuse: Refuse,
///     body: String,
/// ) -> Result<&'static str, ClaimsRejection> {
///     let amount: u64 = body.trim().parse().unwrap_or(u64::MAX);
///     if amount > 1_000 {
///         refuse.unless_scopes(&claims, &ScopeRequirement::all_of(["payments.large"]))?;
///         let mfa = StepUp::acr(["mfa"]).and_max_age(Duration::from_secs(300));
///         refuse.unless_step_up(&claims, &mfa)?;
///     }
///     Ok("sent")
/// }
/// ```
///
/// Extracting it never fails; without a layer in front its refusals are worded by default.
pub struct Refuse {
    protocol: Protocol,
    answers: std::sync::Arc<crate::Answers>,
    hook: Option<Hook<Body>>,
    method: http::Method,
    path: String,
    /// Now, on the layer's verifier's clock, read when extracted.
    now: f64,
}

impl std::fmt::Debug for Refuse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Refuse")
            .field("method", &self.method)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Refuse {
    /// The refusal `403 insufficient_scope` naming `needed` (with the `scope` a client must
    /// ask for).
    #[must_use]
    pub fn insufficient_scope(&self, needed: ScopeRequirement) -> ClaimsRejection {
        self.refusal(Rejection::Refused(
            portcullis_core::ErrorKind::InsufficientScope(needed).into(),
        ))
    }

    /// Checks the verified claims' scopes against `needed`.
    ///
    /// # Errors
    /// [`Refuse::insufficient_scope`] when they fall short.
    pub fn unless_scopes(
        &self,
        claims: &Claims,
        needed: &ScopeRequirement,
    ) -> Result<(), ClaimsRejection> {
        needed
            .check(claims.scopes())
            .map_err(|e| self.refusal(Rejection::Refused(e)))
    }

    /// Checks the login behind the verified claims (`acr`, `auth_time`) against `needed`,
    /// on the layer's clock.
    ///
    /// # Errors
    /// `401 insufficient_user_authentication` with `needed`'s `acr_values` and `max_age`
    /// when the login falls short or the claims are missing.
    pub fn unless_step_up(&self, claims: &Claims, needed: &StepUp) -> Result<(), ClaimsRejection> {
        needed
            .check(claims, self.now)
            .map_err(|e| self.refusal(Rejection::Refused(e)))
    }

    /// Any refusal, worded as the layer words it.
    #[must_use]
    pub fn refusal(&self, rejection: Rejection) -> ClaimsRejection {
        ClaimsRejection {
            rejection,
            protocol: self.protocol,
            answers: self.answers.clone(),
            hook: self.hook.clone(),
            method: self.method.clone(),
            path: self.path.clone(),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Refuse {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let answers = answers_of(&parts.extensions);
        Ok(Refuse {
            protocol: Protocol::of(parts.version, &parts.headers, &answers),
            answers,
            hook: parts.extensions.get::<Hook<Body>>().cloned(),
            method: parts.method.clone(),
            path: parts.uri.path().to_owned(),
            now: crate::respond::now_of(&parts.extensions),
        })
    }
}

fn rejection(parts: &Parts, rejection: Rejection) -> ClaimsRejection {
    let answers = answers_of(&parts.extensions);
    ClaimsRejection {
        rejection,
        protocol: Protocol::of(parts.version, &parts.headers, &answers),
        answers,
        hook: parts.extensions.get::<Hook<Body>>().cloned(),
        method: parts.method.clone(),
        path: parts.uri.path().to_owned(),
    }
}

/// The verified claims, `None` when the layer let the request through without a token.
fn claims(parts: &Parts) -> Result<Option<&portcullis_core::Claims>, ClaimsRejection> {
    verified(&parts.extensions).map_err(|r| rejection(parts, r))
}

/// The verified claims of a request that must have them.
fn required(parts: &Parts) -> Result<&portcullis_core::Claims, ClaimsRejection> {
    crate::respond::required(&parts.extensions).map_err(|r| rejection(parts, r))
}

fn decode<T: DeserializeOwned>(
    parts: &Parts,
    claims: &portcullis_core::Claims,
) -> Result<T, ClaimsRejection> {
    claims.deserialize::<T>().map_err(|e| {
        // serde_json's message can quote claim values; log only where and what kind.
        tracing::debug!(
            target: "portcullis::auth",
            claims_type = std::any::type_name::<T>(),
            category = ?e.classify(),
            column = e.column(),
            "verified claims do not fit the handler's claims type"
        );
        let kind = portcullis_core::ErrorKind::InvalidClaim(std::borrow::Cow::Borrowed(
            "claims do not fit the API's claims type",
        ));
        rejection(parts, Rejection::Refused(kind.into()))
    })
}

impl<T, S> FromRequestParts<S> for Verified<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ClaimsRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        decode(parts, required(parts)?).map(Verified)
    }
}

impl<T, S> OptionalFromRequestParts<S> for Verified<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ClaimsRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        match claims(parts)? {
            Some(claims) => decode(parts, claims).map(|c| Some(Verified(c))),
            None => Ok(None),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for VerifiedClaims {
    type Rejection = ClaimsRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        required(parts).map(|c| VerifiedClaims(c.clone()))
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for VerifiedClaims {
    type Rejection = ClaimsRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(claims(parts)?.map(|c| VerifiedClaims(c.clone())))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for GrantedScopes {
    type Rejection = ClaimsRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        required(parts).map(|c| GrantedScopes(c.scopes().clone()))
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for GrantedScopes {
    type Rejection = ClaimsRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(claims(parts)?.map(|c| GrantedScopes(c.scopes().clone())))
    }
}
