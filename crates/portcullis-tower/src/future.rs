//! [`ResponseFuture`]: the inner service's future, an answer ready at once, or (the rare path)
//! a boxed future that waits for a pending verdict first.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{HeaderValue, Response};
use pin_project_lite::pin_project;

use crate::answer::DPOP_NONCE;

/// The boxed future of the rare path: a pending verdict, then the inner service.
pub(crate) type PendingFuture<B, E> =
    Pin<Box<dyn Future<Output = Result<Response<B>, E>> + Send + 'static>>;

pin_project! {
    /// The response future of [`BearerAuth`](crate::BearerAuth).
    pub struct ResponseFuture<F, B, E> {
        #[pin]
        kind: Kind<F, B, E>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, B, E> {
        // The request passed: the inner service's future.
        Inner { #[pin] future: F },
        // The request passed with a DPoP proof whose nonce is no longer current: the inner
        // service's future, then the current nonce in the response.
        WithNonce { #[pin] future: F, nonce: Option<HeaderValue> },
        // The request was refused in `call`: the answer, taken on the first poll.
        Answer { response: Option<Response<B>> },
        // The verifier had to fetch (a key, an introspection verdict): wait for its verdict,
        // then either call the inner service (moved into this future when it was ready) or
        // answer.
        Pending { future: PendingFuture<B, E> },
    }
}

impl<F, B, E> ResponseFuture<F, B, E> {
    pub(crate) fn inner(future: F) -> Self {
        ResponseFuture {
            kind: Kind::Inner { future },
        }
    }

    pub(crate) fn with_nonce(future: F, nonce: HeaderValue) -> Self {
        ResponseFuture {
            kind: Kind::WithNonce {
                future,
                nonce: Some(nonce),
            },
        }
    }

    pub(crate) fn answer(response: Response<B>) -> Self {
        ResponseFuture {
            kind: Kind::Answer {
                response: Some(response),
            },
        }
    }

    pub(crate) fn pending(future: PendingFuture<B, E>) -> Self {
        ResponseFuture {
            kind: Kind::Pending { future },
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F, B, E>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { future } => future.poll(cx),
            KindProj::WithNonce { future, nonce } => match future.poll(cx) {
                Poll::Ready(Ok(mut response)) => {
                    if let Some(nonce) = nonce.take() {
                        response.headers_mut().insert(DPOP_NONCE, nonce);
                    }
                    Poll::Ready(Ok(response))
                }
                other => other,
            },
            KindProj::Answer { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                // Polled after completion: a contract violation of the caller; stay pending
                // rather than panic.
                None => Poll::Pending,
            },
            KindProj::Pending { future } => future.as_mut().poll(cx),
        }
    }
}
