//! axum extractors for what [`BearerAuthLayer`](crate::BearerAuthLayer) verified (feature
//! `axum`, on `axum-core`).
//!
//! - [`Verified<T>`]: the token's claims in your own type (any `serde::Deserialize`).
//! - [`VerifiedClaims`]: portcullis's [`Claims`](portcullis_core::Claims), with every
//!   standard field and the whole JSON object.
//! - [`GrantedScopes`]: the scopes the token grants.
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

/// portcullis's own verified [`Claims`](portcullis_core::Claims).
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
