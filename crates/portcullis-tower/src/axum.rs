//! axum extractors for what [`BearerAuthLayer`](crate::BearerAuthLayer) verified (feature
//! `axum`, on `axum-core`).
//!
//! - [`Claims<T>`]: the token's claims in your own type (any `serde::Deserialize`).
//! - [`VerifiedClaims`]: portcullis's [`Claims`](portcullis_core::Claims), with every standard
//!   field and the whole JSON object.
//! - [`Scopes`]: the granted scopes.
//!
//! Each also works as `Option<_>`, which is `None` for a request the layer let through without
//! a token (optional authentication, public routes). Without the `Option`, such a request is
//! answered `401`. If no layer ran before the handler at all, the extractor answers `500` and
//! logs an error naming the misconfiguration: a handler that reads claims must never run
//! unprotected.

use std::sync::Arc;

use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;
use serde::de::DeserializeOwned;

use crate::answer::{Answers, Protocol, Rejection};
use crate::service::{Passed, refuse};

/// The verified claims in the user's own type.
///
/// ```
/// use serde::Deserialize;
/// use portcullis_tower::axum::Claims;
///
/// #[derive(Deserialize)]
/// struct MyClaims {
///     sub: String,
///     tenant: String,
/// }
///
/// async fn handler(Claims(claims): Claims<MyClaims>) -> String {
///     format!("{} of {}", claims.sub, claims.tenant)
/// }
/// ```
///
/// Claims that do not fit `T` (a missing member, a wrong type) answer `401 invalid_token`:
/// this token does not carry what this API needs. The log says which type, not what the
/// claims held.
#[derive(Debug, Clone)]
pub struct Claims<T>(pub T);

/// portcullis's own verified [`Claims`](portcullis_core::Claims).
#[derive(Debug, Clone)]
pub struct VerifiedClaims(pub portcullis_core::Claims);

/// The scopes the verified token grants.
#[derive(Debug, Clone)]
pub struct Scopes(pub portcullis_core::Scopes);

/// Why an extractor could not produce its value; answered as [`answer`](crate::answer())
/// says.
#[derive(Debug)]
pub struct ClaimsRejection {
    rejection: Rejection,
    protocol: Protocol,
    answers: Arc<Answers>,
    method: http::Method,
    path: String,
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
        refuse(
            &self.rejection,
            self.protocol,
            &self.answers,
            &crate::DefaultAnswer,
            &self.method,
            &self.path,
        )
    }
}

fn rejection(parts: &Parts, rejection: Rejection) -> ClaimsRejection {
    let answers = parts
        .extensions
        .get::<Passed>()
        .map_or_else(|| Arc::new(Answers::default()), |p| p.answers.clone());
    ClaimsRejection {
        rejection,
        protocol: Protocol::of(&parts.headers),
        answers,
        method: parts.method.clone(),
        path: parts.uri.path().to_owned(),
    }
}

/// The verified claims, `None` when the layer let the request through without a token.
fn verified(parts: &Parts) -> Result<Option<&portcullis_core::Claims>, ClaimsRejection> {
    match parts.extensions.get::<portcullis_core::Claims>() {
        Some(claims) => Ok(Some(claims)),
        None if parts.extensions.get::<Passed>().is_some() => Ok(None),
        None => Err(rejection(parts, Rejection::LayerMissing)),
    }
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

impl<T, S> FromRequestParts<S> for Claims<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ClaimsRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match verified(parts)? {
            Some(claims) => decode(parts, claims).map(Claims),
            None => Err(rejection(parts, Rejection::MissingCredentials)),
        }
    }
}

impl<T, S> OptionalFromRequestParts<S> for Claims<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ClaimsRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        match verified(parts)? {
            Some(claims) => decode(parts, claims).map(|c| Some(Claims(c))),
            None => Ok(None),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for VerifiedClaims {
    type Rejection = ClaimsRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match verified(parts)? {
            Some(claims) => Ok(VerifiedClaims(claims.clone())),
            None => Err(rejection(parts, Rejection::MissingCredentials)),
        }
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for VerifiedClaims {
    type Rejection = ClaimsRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(verified(parts)?.map(|c| VerifiedClaims(c.clone())))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Scopes {
    type Rejection = ClaimsRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match verified(parts)? {
            Some(claims) => Ok(Scopes(claims.scopes().clone())),
            None => Err(rejection(parts, Rejection::MissingCredentials)),
        }
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Scopes {
    type Rejection = ClaimsRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(verified(parts)?.map(|c| Scopes(c.scopes().clone())))
    }
}
