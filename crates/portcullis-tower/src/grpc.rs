//! Reading what [`BearerAuthLayer`](crate::BearerAuthLayer) verified, in a tonic handler
//! (feature `tonic`).
//!
//! Put the layer on tonic's server (`Server::builder().layer(auth)`) with a [`Policy`] keyed
//! by gRPC method paths (`/package.Service/Method`, `/package.Service/*`): refused calls never
//! reach the handler and get a trailers-only answer (`UNAUTHENTICATED`, `PERMISSION_DENIED`,
//! `UNAVAILABLE`, see [`answer`](crate::answer())). A call that passed carries the verified
//! [`Claims`] in `tonic::Request::extensions()` (an `http::Extensions`, moved over from the
//! HTTP request), which these functions read.
//!
//! ```
//! # use portcullis_tower::{BearerAuthLayer, grpc};
//! # use portcullis_jwks::JwtVerifier;
//! # use tower::{Layer, ServiceExt, service_fn};
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! # let idp = portcullis_testkit::TestIssuer::start().await;
//! # let keys = portcullis_jwks::RemoteJwks::builder(idp.jwks_url()).build().await.unwrap();
//! # let rules = portcullis_core::Validator::builder().issuer(idp.issuer()).audience("api").build().unwrap();
//! // A handler, as tonic's generated server calls it: with a `tonic::Request`.
//! let handler = service_fn(|req: http::Request<()>| async move {
//!     let req = tonic::Request::from_http(req);
//!     let said = match grpc::require_claims(&req) {
//!         Ok(claims) => format!("hello {}", claims.subject().unwrap_or("?")),
//!         Err(status) => format!("{:?}", status.code()),
//!     };
//!     Ok::<_, std::convert::Infallible>(http::Response::new(said))
//! });
//! // Optional authentication lets a call without a token through, without claims.
//! let svc = BearerAuthLayer::new(JwtVerifier::new(keys, rules)).optional().layer(handler);
//! let call = |token: Option<String>| {
//!     let mut req = http::Request::post("/orders.v1.Orders/GetOrder")
//!         .header("content-type", "application/grpc");
//!     if let Some(t) = token { req = req.header("authorization", format!("Bearer {t}")); }
//!     svc.clone().oneshot(req.body(()).unwrap())
//! };
//! let token = idp.token().subject("alice").sign();
//! assert_eq!(call(Some(token)).await.unwrap().body(), "hello alice");
//! assert_eq!(call(None).await.unwrap().body(), "Unauthenticated");
//! # }
//! ```
//!
//! [`Policy`]: crate::Policy

use portcullis_core::{Claims, ScopeRequirement, Scopes, StepUp};
use tonic::body::Body;
use tonic::{Code, Request, Status};

use crate::answer::{Answers, Protocol, Rejection, answer};
use crate::respond::{Hook, answers_of, log};

/// The verified claims; `None` when the layer let the call through without a token (a public
/// method, optional authentication) or when no layer ran at all.
#[must_use]
pub fn claims<T>(request: &Request<T>) -> Option<&Claims> {
    crate::respond::verified_claims(request.extensions())
}

/// The scopes the verified token grants; `None` as for [`claims`].
#[must_use]
pub fn scopes<T>(request: &Request<T>) -> Option<&Scopes> {
    claims(request).map(Claims::scopes)
}

/// The verified claims, or the status to return.
///
/// # Errors
/// `UNAUTHENTICATED` when the layer let the call through without a token (a public method,
/// optional authentication); `INTERNAL`, logged as a configuration error, when no layer ran
/// before the handler: a handler that needs claims must never run unprotected.
pub fn require_claims<T>(request: &Request<T>) -> Result<&Claims, Status> {
    crate::respond::required(request.extensions()).map_err(|r| refuse(&r, request))
}

/// The verified claims if their scopes satisfy `requirement`: a check inside a handler, for
/// what a [`Policy`](crate::Policy) cannot express (a scope that depends on the message).
///
/// # Errors
/// As [`require_claims`], and `PERMISSION_DENIED` (with `www-authenticate` naming the scopes
/// needed) when the scopes fall short.
pub fn require<'a, T>(
    request: &'a Request<T>,
    requirement: &ScopeRequirement,
) -> Result<&'a Claims, Status> {
    let claims = require_claims(request)?;
    match requirement.check(claims.scopes()) {
        Ok(()) => Ok(claims),
        Err(error) => Err(refuse(&Rejection::Refused(error), request)),
    }
}

/// The verified claims if the login behind them (`acr`, `auth_time`) meets `step_up`, on
/// the layer's verifier's clock: a step-up (RFC 9470) decided in a handler, for what a
/// [`Policy`](crate::Policy) rule ([`Requirements::step_up`](crate::Requirements::step_up))
/// cannot express.
///
/// # Errors
/// As [`require_claims`], and `UNAUTHENTICATED` with `www-authenticate` carrying
/// `error="insufficient_user_authentication"`, `acr_values` and `max_age` when the login
/// falls short or the claims are missing.
pub fn require_step_up<'a, T>(
    request: &'a Request<T>,
    step_up: &StepUp,
) -> Result<&'a Claims, Status> {
    let claims = require_claims(request)?;
    let now = crate::respond::now_of(request.extensions());
    match step_up.check(claims, now) {
        Ok(()) => Ok(claims),
        Err(error) => Err(refuse(&Rejection::Refused(error), request)),
    }
}

/// The [`Status`] of a refusal: the code, `grpc-message` and `www-authenticate` that the layer
/// sends for it (both come from [`answer`](crate::answer())), so a refusal from a handler
/// reads the same as one from the layer.
#[must_use]
pub fn status(rejection: &Rejection, answers: &Answers) -> Status {
    status_of(rejection, &answer(rejection, Protocol::Grpc, answers))
}

/// The status whose code and metadata are the headers of `response`.
fn status_of<B>(rejection: &Rejection, response: &http::Response<B>) -> Status {
    // `answer` always sets `grpc-status` for gRPC; the fallback only keeps this total.
    let mut status = Status::from_header_map(response.headers()).unwrap_or_else(|| {
        Status::new(
            Code::from(i32::from(rejection.grpc_code())),
            rejection.code(),
        )
    });
    // What is left is metadata (`www-authenticate`, `cache-control`); tonic sets the content
    // type of the answer itself.
    status
        .metadata_mut()
        .remove(http::header::CONTENT_TYPE.as_str());
    status
}

/// Logs a refusal from a handler on the layer's target (never the token) and returns its
/// status, worded by the layer (its answers and its rejection hook).
fn refuse<T>(rejection: &Rejection, request: &Request<T>) -> Status {
    crate::observe::route_refused(rejection.code());
    log(rejection, &http::Method::POST, "(gRPC handler)");
    let extensions = request.extensions();
    let answered = answer(rejection, Protocol::Grpc, &answers_of(extensions));
    match extensions.get::<Hook<Body>>() {
        Some(Hook(hook)) => status_of(rejection, &hook.on_rejection(rejection, answered)),
        None => status_of(rejection, &answered),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_core::ErrorKind;

    fn passed(answers: Answers) -> crate::respond::Passed {
        crate::respond::Passed::for_test(None, answers, portcullis_core::ManualClock::at(0))
    }

    #[test]
    fn the_layers_claims_are_read_and_no_one_elses() {
        let verified = Claims::from_trusted_json(r#"{"sub":"ann","scope":"a b"}"#).unwrap();
        // Claims some other code inserted are not the layer's.
        let mut req = Request::new(());
        req.extensions_mut().insert(verified.clone());
        assert!(claims(&req).is_none());
        let mut passed = passed(Answers::default());
        passed.claims = Some(verified);
        req.extensions_mut().insert(passed);
        assert_eq!(claims(&req).and_then(Claims::subject), Some("ann"));
        assert_eq!(scopes(&req).map(Scopes::as_str), Some("a b"));
        assert_eq!(require_claims(&req).unwrap().subject(), Some("ann"));
        let needs_c = ScopeRequirement::all_of(["c"]);
        let denied = require(&req, &needs_c).unwrap_err();
        assert_eq!(denied.code(), Code::PermissionDenied);
        assert!(
            denied
                .metadata()
                .get("www-authenticate")
                .is_some_and(|v| v.to_str().unwrap().contains(r#"scope="c""#)),
            "{denied:?}"
        );
    }

    #[test]
    fn without_the_layer_claims_are_absent_and_required_claims_are_internal() {
        let req = Request::new(());
        assert!(claims(&req).is_none());
        assert!(scopes(&req).is_none());
        let status = require_claims(&req).unwrap_err();
        assert_eq!(status.code(), Code::Internal);
        assert!(status.metadata().get("www-authenticate").is_none());
        let any = ScopeRequirement::any_of(["a"]);
        assert_eq!(require(&req, &any).unwrap_err().code(), Code::Internal);
    }

    #[test]
    fn passed_without_a_token_is_unauthenticated_with_the_layers_challenge() {
        let mut req = Request::new(());
        req.extensions_mut()
            .insert(passed(Answers::default().realm("orders")));
        let status = require_claims(&req).unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated);
        assert_eq!(status.message(), "missing bearer token");
        assert_eq!(
            status.metadata().get("www-authenticate").unwrap(),
            r#"Bearer realm="orders""#
        );
    }

    #[test]
    fn statuses_match_the_layers_answers() {
        let answers = Answers::default().realm("api");
        let scope = ScopeRequirement::all_of(["orders.write"]);
        let rows: [(Rejection, Code, &str); 4] = [
            (
                ErrorKind::Expired.into(),
                Code::Unauthenticated,
                "invalid bearer token",
            ),
            (
                ErrorKind::InsufficientScope(scope).into(),
                Code::PermissionDenied,
                "insufficient scope",
            ),
            (
                ErrorKind::KeysUnavailable.into(),
                Code::Unavailable,
                "verification keys unavailable",
            ),
            (Rejection::LayerMissing, Code::Internal, "internal error"),
        ];
        for (rejection, code, message) in rows {
            let s = status(&rejection, &answers);
            assert_eq!((s.code(), s.message()), (code, message), "{rejection:?}");
            assert!(s.metadata().get("content-type").is_none());
            assert!(s.metadata().get("grpc-status").is_none());
        }
        let s = status(
            &ErrorKind::InsufficientScope(ScopeRequirement::all_of(["orders.write"])).into(),
            &answers,
        );
        assert_eq!(
            s.metadata().get("www-authenticate").unwrap(),
            r#"Bearer realm="api", error="insufficient_scope", scope="orders.write""#
        );
    }

    #[test]
    fn a_layers_hook_words_the_handlers_refusals_too() {
        let mut req = Request::new(());
        req.extensions_mut().insert(passed(Answers::default()));
        let hook = |_: &Rejection, answer: http::Response<()>| {
            let mut response = answer.map(|()| Body::default());
            response
                .headers_mut()
                .insert("x-hook", http::HeaderValue::from_static("yes"));
            response
        };
        req.extensions_mut()
            .insert(Hook::<Body>(std::sync::Arc::new(hook)));
        let status = require_claims(&req).unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated);
        assert_eq!(status.metadata().get("x-hook").unwrap(), "yes");
        let status = require(&req, &ScopeRequirement::any_of(["a"])).unwrap_err();
        assert_eq!(status.metadata().get("x-hook").unwrap(), "yes");
    }

    #[test]
    fn described_messages_arrive_decoded() {
        let answers = Answers::default().describe_errors(true);
        let rejection: Rejection = ErrorKind::Rejected("100% \u{e9}t\u{e9}\n".into()).into();
        let s = status(&rejection, &answers);
        assert_eq!(s.message(), "rejected: 100% \u{e9}t\u{e9}\n");
    }
}
