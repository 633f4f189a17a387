//! Helpers shared by the integration tests.
// test code
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    dead_code,
    unreachable_pub
)]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use base64::Engine as _;
use portcullis_core::{AuthError, Claims, Presentation, Validator, Verdict, Verifier};
use portcullis_jwks::{
    FetchStats, JwtVerifier, KeySource, ManualTimer, RemoteJwks, RemoteJwksBuilder,
};
use portcullis_testkit::TestIssuer;

/// The verdict of `verifier` on a bearer token, awaited.
pub async fn verify(verifier: &impl Verifier, token: &str) -> Result<Claims, AuthError> {
    verifier.verify(&Presentation::bearer(token)).await
}

/// The verdict of `verifier` on a bearer token, which must be ready at once.
pub fn verify_now(verifier: &impl Verifier, token: &str) -> Result<Claims, AuthError> {
    match verifier.verify(&Presentation::bearer(token)) {
        Verdict::Ready(result) => result,
        Verdict::Pending(_) => panic!("the verdict should have been ready"),
    }
}

/// `token` checked by `validator` against the keys of `source`, as the layer's verifier does
/// without its cache: the snapshot first, one refetch for an unknown `kid`.
pub async fn validate<S: KeySource + Clone>(
    source: &S,
    validator: &Validator,
    token: &str,
) -> Result<Claims, AuthError> {
    let verifier = JwtVerifier::new(source.clone(), validator.clone()).with_cache(None);
    verify(&verifier, token).await
}

/// A validator for the test issuer's tokens.
pub fn validator(issuer: &TestIssuer) -> Validator {
    Validator::builder()
        .issuer(issuer.issuer())
        .audience("api")
        .build()
        .unwrap()
}

/// A builder for the issuer's JWKS on a manual timer, without refresh jitter.
pub fn remote(issuer: &TestIssuer, timer: &ManualTimer) -> RemoteJwksBuilder {
    RemoteJwks::builder(issuer.jwks_url())
        .timer(timer.clone())
        .refresh_jitter(0.0)
}

/// Waits (bounded by a real 10 s guard, never reached when the code is right) until the
/// source's counters satisfy `pred`: the background task's work is observed, not slept for.
pub async fn wait_stats(jwks: &RemoteJwks, pred: impl FnMut(&FetchStats) -> bool) -> FetchStats {
    let mut rx = jwks.watch_stats();
    let stats = tokio::time::timeout(Duration::from_secs(10), rx.wait_for(pred))
        .await
        .expect("the background task did not get there in 10 s")
        .expect("the source is alive");
    *stats
}

/// Lets every ready task run a little (no time passes).
pub async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}

/// A token with this `kid` whose key lookup fails before any signature check.
pub fn token_with_kid(issuer: &str, kid: &str) -> String {
    let b64 = |s: String| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    format!(
        "{}.{}.c2lnbmF0dXJl",
        b64(format!(r#"{{"alg":"RS256","typ":"at+jwt","kid":"{kid}"}}"#)),
        b64(format!(
            r#"{{"iss":"{issuer}","aud":"api","exp":9999999999}}"#
        )),
    )
}

/// Polls a future once: `Some` when it completed without waiting for anything.
pub fn poll_once<F: Future>(fut: F) -> Option<F::Output> {
    let mut fut = pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => Some(out),
        Poll::Pending => None,
    }
}

pub const fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}
