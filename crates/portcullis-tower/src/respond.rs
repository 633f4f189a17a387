//! Refusing and passing on: the rejection hook ([`OnRejection`]), the one "log and answer"
//! function every refusal goes through, and the one reading of what the layer left in a
//! request's extensions (verified claims, or "passed without a token"), shared by the scope
//! layer, the axum extractors and the gRPC helpers.

use std::sync::Arc;

use http::{Extensions, Method, Response, StatusCode};
use portcullis_core::Claims;

use crate::answer::{Answers, Described, Protocol, Rejection, answer};
use crate::service::Settings;

/// Turns a refusal into the response sent. Implemented by [`DefaultAnswer`] (the RFC 6750 /
/// gRPC answer with an empty body), [`JsonAnswer`] (the same with a JSON body), and closures
/// `Fn(&Rejection, Response<()>) -> Response<B>`, which receive the typed reason and the
/// default answer.
///
/// A hook set on the layer reaches every refusal behind it: the layer's own, those of the
/// scope layers it made ([`BearerAuthLayer::require_scopes`](crate::BearerAuthLayer::require_scopes)),
/// and those of the axum extractors and gRPC helpers.
///
/// ```
/// use http::Response;
/// use portcullis_tower::Rejection;
///
/// // An axum app would build `axum::body::Body` here; any body type `B` works.
/// let hook = |rejection: &Rejection, answer: Response<()>| {
///     // The stable code only: the precise reason stays in the logs.
///     let code = rejection.error_code().unwrap_or("unauthorized");
///     answer.map(|()| format!(r#"{{"error":"{code}"}}"#))
/// };
/// fn takes<H: portcullis_tower::OnRejection<String>>(_: H) {}
/// takes(hook);
/// ```
pub trait OnRejection<B>: Send + Sync + 'static {
    /// The response for `rejection`; `answer` is what portcullis would send.
    fn on_rejection(&self, rejection: &Rejection, answer: Response<()>) -> Response<B>;

    /// Whether this is [`DefaultAnswer`], whose answers need no hook in the request
    /// extensions for the extractors to find. Not for implementations to override.
    #[doc(hidden)]
    fn is_default(&self) -> bool {
        false
    }
}

/// The default answer: status and headers from [`answer`](crate::answer()), an empty body.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultAnswer;

impl<B: Default> OnRejection<B> for DefaultAnswer {
    fn on_rejection(&self, _rejection: &Rejection, answer: Response<()>) -> Response<B> {
        answer.map(|()| B::default())
    }

    fn is_default(&self) -> bool {
        true
    }
}

/// The default answer with a JSON body: `{"error":"invalid_token"}`, the RFC 6750 code (or
/// `unauthorized`, `unavailable`, `internal_error` for answers without one), and
/// `error_description` only when the layer's [`Answers::describe_errors`] is on, with the
/// same wording as the header. Content type `application/json`. gRPC answers keep their
/// empty body (their status is in the headers).
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonAnswer;

impl<B: Default + From<String>> OnRejection<B> for JsonAnswer {
    fn on_rejection(&self, rejection: &Rejection, answer: Response<()>) -> Response<B> {
        if answer.headers().contains_key("grpc-status") {
            return answer.map(|()| B::default());
        }
        let code = rejection.error_code().unwrap_or(match answer.status() {
            StatusCode::SERVICE_UNAVAILABLE => "unavailable",
            StatusCode::INTERNAL_SERVER_ERROR => "internal_error",
            _ => "unauthorized",
        });
        let description = answer.extensions().get::<Described>().map(|d| d.0.clone());
        let mut body = format!(r#"{{"error":"{code}""#);
        if let Some(description) = description {
            body.push_str(r#","error_description":"#);
            json_string(&mut body, &description);
        }
        body.push('}');
        let mut response = answer.map(|()| B::from(body));
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        response
    }
}

/// Appends `text` as a JSON string.
pub(crate) fn json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

impl<B, F> OnRejection<B> for F
where
    F: Fn(&Rejection, Response<()>) -> Response<B> + Send + Sync + 'static,
{
    fn on_rejection(&self, rejection: &Rejection, answer: Response<()>) -> Response<B> {
        self(rejection, answer)
    }
}

/// The layer's hook for responses of body `B`, left in the extensions of the requests it
/// passes when it has a hook of its own, for the extractors and gRPC helpers to word their
/// refusals with.
pub(crate) struct Hook<B>(pub(crate) Arc<dyn OnRejection<B>>);

impl<B> Clone for Hook<B> {
    fn clone(&self) -> Self {
        Hook(self.0.clone())
    }
}

/// Put in the extensions of every request the layer lets through, with or without claims, so
/// that scope checks and extractors behind it can tell "unauthenticated" from "no layer", and
/// word their refusals as the layer would.
///
/// One value for all of it: each value in `http::Extensions` is its own allocation, and a
/// request passes through with exactly one. The type is private, so claims that some other
/// code put in the extensions never count as verified here.
#[derive(Clone)]
pub(crate) struct Passed {
    /// The verified claims; `None` when the layer let the request through without a token.
    pub(crate) claims: Option<Claims>,
    /// The layer's settings: its answers, for the checks behind it to word their refusals
    /// with, and its verifier's clock, for their step-up checks.
    pub(crate) settings: Arc<Settings>,
    /// Whether the request came with a DPoP proof that the layer checked, and a token bound
    /// to its key: what [`BearerAuthLayer::require_dpop`](crate::BearerAuthLayer::require_dpop)
    /// requires (a bound token that passed as a bearer token under a `danger_*` option does
    /// not count).
    pub(crate) dpop_proven: bool,
}

impl std::fmt::Debug for Passed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passed")
            .field("claims", &self.claims)
            .field("dpop_proven", &self.dpop_proven)
            .finish_non_exhaustive()
    }
}

/// What the layer left in a request's extensions: the verified claims, `None` when it let
/// the request through without a token (optional authentication, a public route).
///
/// # Errors
/// [`Rejection::LayerMissing`] when no layer ran before: a handler or check that reads
/// claims must never run unprotected.
pub(crate) fn verified(extensions: &Extensions) -> Result<Option<&Claims>, Rejection> {
    match extensions.get::<Passed>() {
        Some(passed) => Ok(passed.claims.as_ref()),
        None => Err(Rejection::LayerMissing),
    }
}

/// The claims that a [`BearerAuthLayer`](crate::BearerAuthLayer) verified for this request,
/// read from its extensions (`request.extensions()`), for code that is neither an axum
/// extractor (`axum::Verified`, feature `axum`) nor a tonic handler (`grpc::claims`, feature
/// `tonic`): a middleware of your own, a hyper service.
///
/// `None` when the layer let the request through without a token (optional authentication,
/// a public route), and when no layer ran at all. A [`Claims`] value that other code inserted
/// in the extensions is not read: only what the layer verified counts.
#[must_use]
pub fn verified_claims(extensions: &Extensions) -> Option<&Claims> {
    extensions.get::<Passed>()?.claims.as_ref()
}

/// The verified claims of a request that must have them.
///
/// # Errors
/// As [`verified`], and [`Rejection::MissingCredentials`] for a request the layer let
/// through without a token.
pub(crate) fn required(extensions: &Extensions) -> Result<&Claims, Rejection> {
    verified(extensions)?.ok_or(Rejection::MissingCredentials)
}

/// How the layer words its refusals, for a check behind it (the default wording when no
/// layer ran).
#[cfg_attr(not(any(feature = "axum", feature = "tonic")), allow(dead_code))]
pub(crate) fn answers_of(extensions: &Extensions) -> Arc<Answers> {
    extensions.get::<Passed>().map_or_else(
        || Arc::new(Answers::default()),
        |p| p.settings.answers.clone(),
    )
}

/// Now, by the clock of the verifier of the layer that let this request through (the
/// system clock when none did), for a step-up check behind the layer.
pub(crate) fn now_of(extensions: &Extensions) -> f64 {
    extensions.get::<Passed>().map_or_else(
        || portcullis_core::Clock::now_unix(&portcullis_core::SystemClock),
        |p| p.settings.verifier.now_unix(),
    )
}

#[cfg(test)]
impl Passed {
    /// What a layer with these answers, and a verifier on `clock`, leaves.
    pub(crate) fn for_test(
        claims: Option<Claims>,
        answers: Answers,
        clock: portcullis_core::ManualClock,
    ) -> Self {
        Passed {
            claims,
            settings: Settings::for_test(answers, clock),
            dpop_proven: false,
        }
    }
}

/// Logs a refusal on the fixed target (never the token) and builds its response, with the
/// [`Rejection`] in the response's extensions for outer layers.
pub(crate) fn refuse<B, H: OnRejection<B> + ?Sized>(
    rejection: &Rejection,
    protocol: Protocol,
    answers: &Answers,
    hook: &H,
    method: &Method,
    path: &str,
) -> Response<B> {
    log(rejection, method, path);
    let mut response = hook.on_rejection(rejection, answer(rejection, protocol, answers));
    response.extensions_mut().insert(rejection.clone());
    response
}

/// The log line of a refusal: `warn` for unavailable, `error` for a misconfiguration,
/// `debug` for the rest (a bad token is the client's problem, not the operator's).
pub(crate) fn log(rejection: &Rejection, method: &Method, path: &str) {
    let status = rejection.status();
    // DPoP without a public origin refuses every proof: the operator's to fix, not the
    // client's, whatever the answer's status.
    let misconfigured = matches!(
        rejection.auth_error().map(portcullis_core::AuthError::kind),
        Some(portcullis_core::ErrorKind::InvalidProof(
            portcullis_core::ProofError::UnknownTargetUri
        ))
    );
    if misconfigured {
        tracing::error!(
            target: "portcullis::auth",
            reason = rejection.code(), %method, path, status = status.as_u16(),
            "request refused, a configuration error (set the layer's public_origin): {rejection}"
        );
        return;
    }
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_core::ErrorKind;

    #[test]
    fn the_extensions_say_claims_unauthenticated_or_layer_missing() {
        let mut ext = Extensions::new();
        assert!(matches!(verified(&ext), Err(Rejection::LayerMissing)));
        assert!(matches!(required(&ext), Err(Rejection::LayerMissing)));
        // Claims that no layer verified are not read.
        let claims = Claims::from_trusted_json(r#"{"sub":"alice"}"#).unwrap();
        ext.insert(claims.clone());
        assert!(matches!(verified(&ext), Err(Rejection::LayerMissing)));
        assert!(verified_claims(&ext).is_none());
        let passed = |claims: Option<Claims>| {
            Passed::for_test(
                claims,
                Answers::default().realm("r"),
                portcullis_core::ManualClock::at(0),
            )
        };
        ext.insert(passed(None));
        assert!(matches!(verified(&ext), Ok(None)));
        assert!(matches!(required(&ext), Err(Rejection::MissingCredentials)));
        assert!(verified_claims(&ext).is_none());
        ext.insert(passed(Some(claims)));
        assert_eq!(required(&ext).unwrap().subject(), Some("alice"));
        assert_eq!(verified_claims(&ext).unwrap().subject(), Some("alice"));
        assert_eq!(*answers_of(&Extensions::new()), Answers::default());
        assert_eq!(*answers_of(&ext), Answers::default().realm("r"));
    }

    #[test]
    fn a_refusal_carries_its_rejection_for_outer_layers() {
        let rejection = Rejection::from(ErrorKind::Expired);
        let response: Response<String> = refuse(
            &rejection,
            Protocol::Http,
            &Answers::default(),
            &DefaultAnswer,
            &Method::GET,
            "/",
        );
        assert_eq!(response.status(), 401);
        let carried = response.extensions().get::<Rejection>().unwrap();
        assert_eq!(carried.code(), "expired");
    }

    #[test]
    fn json_strings_escape_quotes_backslashes_and_control_characters_only() {
        let mut out = String::new();
        json_string(&mut out, "a \"b\" \\ \u{1}\n\u{1f} \u{e9}~");
        assert_eq!(out, "\"a \\\"b\\\" \\\\ \\u0001\\u000a\\u001f \u{e9}~\"");
    }

    #[test]
    fn a_missing_layer_is_an_internal_error_in_json_too() {
        let missing = Rejection::LayerMissing;
        let body: Response<String> = JsonAnswer.on_rejection(
            &missing,
            answer(&missing, Protocol::Http, &Answers::default()),
        );
        assert_eq!(body.status(), 500);
        assert_eq!(body.body(), r#"{"error":"internal_error"}"#);
    }

    #[test]
    fn refusals_are_logged_at_the_level_their_cause_deserves() {
        let (logs, _guard) = portcullis_testkit::LogCapture::start();
        for (rejection, level) in [
            (Rejection::from(ErrorKind::KeysUnavailable), "WARN"),
            (Rejection::LayerMissing, "ERROR"),
            (Rejection::from(ErrorKind::Expired), "DEBUG"),
        ] {
            log(&rejection, &Method::GET, "/x");
            let text = logs.text();
            let line = text.lines().last().unwrap();
            assert!(line.contains(level), "{rejection:?}: {line}");
            assert!(line.contains(rejection.code()), "{line}");
        }
    }

    #[test]
    fn json_bodies_name_the_code_and_describe_only_when_asked() {
        let expired = Rejection::from(ErrorKind::Expired);
        let plain: Response<String> = JsonAnswer.on_rejection(
            &expired,
            answer(&expired, Protocol::Http, &Answers::default()),
        );
        assert_eq!(plain.body(), r#"{"error":"invalid_token"}"#);
        assert_eq!(plain.headers()["content-type"], "application/json");
        let described = Answers::default().describe_errors(true);
        let rejected = Rejection::from(ErrorKind::Rejected("a \"quoted\" \\ reason\n".into()));
        let body: Response<String> =
            JsonAnswer.on_rejection(&rejected, answer(&rejected, Protocol::Http, &described));
        let parsed: serde_json::Value = serde_json::from_str(body.body()).unwrap();
        assert_eq!(parsed["error"], "invalid_token");
        assert_eq!(
            parsed["error_description"],
            "rejected: a \"quoted\" \\ reason\n"
        );
        let missing = Rejection::MissingCredentials;
        let body: Response<String> =
            JsonAnswer.on_rejection(&missing, answer(&missing, Protocol::Http, &described));
        assert_eq!(body.body(), r#"{"error":"unauthorized"}"#);
        let down = Rejection::from(ErrorKind::KeysUnavailable);
        let body: Response<String> =
            JsonAnswer.on_rejection(&down, answer(&down, Protocol::Http, &described));
        assert!(
            body.body().starts_with(r#"{"error":"unavailable""#),
            "{}",
            body.body()
        );
        let grpc: Response<String> =
            JsonAnswer.on_rejection(&expired, answer(&expired, Protocol::Grpc, &described));
        assert_eq!(grpc.body(), "");
        assert!(
            OnRejection::<String>::is_default(&DefaultAnswer)
                && !OnRejection::<String>::is_default(&JsonAnswer)
        );
    }
}
