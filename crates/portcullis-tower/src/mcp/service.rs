//! [`ToolCheck`]: reads the body once, decides from that parse, hands the same bytes on.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use portcullis_core::{ErrorKind, ScopeRequirement};
use tower_service::Service;

use super::message::{BodyError, BodyErrorKind, Message, read};
use super::{ToolRule, Tools};
use crate::answer::{Answers, Protocol, Rejection};
use crate::respond::{OnRejection, Passed, now_of, refuse, required};

/// The boxed future of [`ToolCheck`]: the body is read before the decision.
type CheckFuture<B, E> = Pin<Box<dyn Future<Output = Result<Response<B>, E>> + Send + 'static>>;

/// The service behind the MCP profile's token check: each `tools/call` against its tool's
/// requirement. Made by [`McpLayer`](super::McpLayer), behind the
/// [`BearerAuth`](crate::BearerAuth) that verified the token.
pub struct ToolCheck<S, H> {
    inner: S,
    tools: Arc<Tools>,
    answers: Arc<Answers>,
    hook: Arc<H>,
}

impl<S, H> ToolCheck<S, H> {
    pub(crate) fn new(inner: S, tools: Arc<Tools>, answers: Arc<Answers>, hook: Arc<H>) -> Self {
        ToolCheck {
            inner,
            tools,
            answers,
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

impl<S: Clone, H> Clone for ToolCheck<S, H> {
    fn clone(&self) -> Self {
        ToolCheck {
            inner: self.inner.clone(),
            tools: self.tools.clone(),
            answers: self.answers.clone(),
            hook: self.hook.clone(),
        }
    }
}

impl<S: fmt::Debug, H> fmt::Debug for ToolCheck<S, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ToolCheck")
            .field("inner", &self.inner)
            .field("tools", &self.tools)
            .finish_non_exhaustive()
    }
}

/// The answer to a body the profile refuses: `413` or `400`, a JSON-RPC error object
/// (`id` null: the message's own cannot be trusted), no challenge.
fn body_refusal<B: From<String>>(error: &BodyError, method: &Method, path: &str) -> Response<B> {
    crate::observe::route_refused(error.kind().code());
    tracing::debug!(
        target: "portcullis::auth",
        reason = error.kind().code(),
        offset = error.offset(),
        %method,
        path,
        "MCP message refused"
    );
    let status = match error.kind() {
        BodyErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        _ => StatusCode::BAD_REQUEST,
    };
    let mut body = format!(
        r#"{{"jsonrpc":"2.0","id":null,"error":{{"code":{},"message":"#,
        error.kind().json_rpc_code()
    );
    crate::respond::json_string(&mut body, &error.to_string());
    body.push_str("}}");
    let mut response = Response::new(B::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.extensions_mut().insert(error.clone());
    response
}

/// The declared length, when the request has exactly one readable `Content-Length`.
fn declared_length(headers: &http::HeaderMap) -> Option<u64> {
    let mut values = headers.get_all(CONTENT_LENGTH).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    value.to_str().ok()?.parse().ok()
}

/// What the message needs beyond what the layer checked: nothing more (`None`), or the
/// rule of the tool it calls.
fn needed<'t>(tools: &'t Tools, message: &Message) -> Option<&'t ToolRule> {
    match message {
        Message::Other(_) => None,
        Message::ToolCall(name) => match tools.rule(name) {
            ToolRule::Base => None,
            rule => Some(rule),
        },
    }
}

impl<S, H, ReqBody, ResBody> Service<Request<ReqBody>> for ToolCheck<S, H>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: 'static,
    H: OnRejection<ResBody>,
    ReqBody: http_body::Body + From<Bytes> + Send + 'static,
    ReqBody::Data: Send,
    ReqBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    ResBody: From<String> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = CheckFuture<ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        // The service polled ready goes into the future; its clone stays (tower's rule).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let tools = self.tools.clone();
        let answers = self.answers.clone();
        let hook = self.hook.clone();
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let path = parts.uri.path().to_owned();
            let max = tools.max_body_bytes;
            if declared_length(&parts.headers).is_some_and(|n| n > max as u64) {
                let error = BodyError::new(BodyErrorKind::TooLarge);
                return Ok(body_refusal(&error, &parts.method, &path));
            }
            let bytes = match Limited::new(body, max).collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(error) => {
                    let kind = if error.is::<LengthLimitError>() {
                        BodyErrorKind::TooLarge
                    } else {
                        BodyErrorKind::Unreadable
                    };
                    let error = BodyError::new(kind);
                    return Ok(body_refusal(&error, &parts.method, &path));
                }
            };
            // `GET` (the event stream) and `DELETE` (the end of a session) carry no message.
            let message = if bytes.is_empty() && parts.method != Method::POST {
                Message::Other(None)
            } else {
                match read(&bytes, tools.max_depth) {
                    Ok(message) => message,
                    Err(error) => return Ok(body_refusal(&error, &parts.method, &path)),
                }
            };
            let refused = |rejection: Rejection, answers: &Answers| {
                crate::observe::route_refused(rejection.code());
                refuse(
                    &rejection,
                    Protocol::of(parts.version, &parts.headers, answers),
                    answers,
                    &*hook,
                    &parts.method,
                    &path,
                )
            };
            if let Some(rule) = needed(&tools, &message) {
                let extensions = &parts.extensions;
                let claims = match required(extensions) {
                    Ok(claims) => claims,
                    Err(rejection) => return Ok(refused(rejection, &answers)),
                };
                let checked = match rule {
                    // An empty requirement: 403 `insufficient_scope` without a `scope`.
                    ToolRule::Deny => Err(ErrorKind::InsufficientScope(ScopeRequirement::any_of(
                        Vec::<String>::new(),
                    ))
                    .into()),
                    ToolRule::Base => Ok(()),
                    ToolRule::Requires(requirements) => {
                        let proven = extensions.get::<Passed>().is_some_and(|p| p.dpop_proven);
                        requirements.check(claims, proven, || now_of(extensions))
                    }
                };
                if let Err(error) = checked {
                    let rejection = Rejection::Refused(error);
                    // A `401` (a step-up the tool needs) names everything the call needs, as
                    // its `403` does.
                    if let ToolRule::Requires(requirements) = rule
                        && let Some(scopes) = requirements.scope_requirement()
                        && rejection.status() == StatusCode::UNAUTHORIZED
                    {
                        let answers = answers.with_challenge_scope(&scopes.to_scope_param());
                        return Ok(refused(rejection, &answers));
                    }
                    return Ok(refused(rejection, &answers));
                }
            }
            inner
                .call(Request::from_parts(parts, ReqBody::from(bytes)))
                .await
        })
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::task::Waker;

    use http_body_util::Full;

    use super::*;
    use crate::mcp::ToolScopes;
    use crate::policy::Requirements;
    use crate::respond::DefaultAnswer;

    /// A service that is ready only when built so.
    #[derive(Clone)]
    struct Busy(bool);

    impl Service<Request<Full<Bytes>>> for Busy {
        type Response = Response<String>;
        type Error = Infallible;
        type Future = std::future::Ready<Result<Response<String>, Infallible>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            if self.0 {
                Poll::Ready(Ok(()))
            } else {
                Poll::Pending
            }
        }

        fn call(&mut self, _: Request<Full<Bytes>>) -> Self::Future {
            std::future::ready(Ok(Response::new(String::new())))
        }
    }

    #[test]
    fn the_check_is_ready_when_the_service_behind_it_is() {
        let tools = Arc::new(Tools::compile(ToolScopes::new(), &Requirements::new()).unwrap());
        let check = |ready| {
            ToolCheck::new(
                Busy(ready),
                tools.clone(),
                Arc::new(Answers::default()),
                Arc::new(DefaultAnswer),
            )
        };
        let mut cx = Context::from_waker(Waker::noop());
        let poll = |mut c: ToolCheck<Busy, DefaultAnswer>, cx: &mut Context<'_>| {
            Service::<Request<Full<Bytes>>>::poll_ready(&mut c, cx)
        };
        assert!(poll(check(false), &mut cx).is_pending());
        assert!(matches!(poll(check(true), &mut cx), Poll::Ready(Ok(()))));
    }
}
