//! The layer's metrics (feature `metrics`), through the `metrics` facade; without the feature
//! every function here is empty and [`Timing`] holds nothing. Names and labels are listed in
//! the manual ("Metrics") and are stable; reasons are the [`Rejection::code`](crate::Rejection::code)
//! words, a fixed set.

/// A decision of the authentication layer: `accepted`, `anonymous` (passed without a token:
/// a public route, optional authentication) or `refused` (with its reason; `none` otherwise).
pub(crate) fn request(outcome: &'static str, reason: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!(
        "portcullis_requests_total",
        "outcome" => outcome,
        "reason" => reason
    )
    .increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = (outcome, reason);
}

/// A refusal behind the layer: a scope layer, an extractor, a gRPC helper.
pub(crate) fn route_refused(reason: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!("portcullis_route_refusals_total", "reason" => reason).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = reason;
}

/// The time a verification takes, from the layer's call to the verdict (a fetch included
/// when the verdict waited for one).
pub(crate) struct Timing {
    #[cfg(feature = "metrics")]
    started: std::time::Instant,
}

impl Timing {
    pub(crate) fn start() -> Timing {
        Timing {
            #[cfg(feature = "metrics")]
            started: std::time::Instant::now(),
        }
    }

    pub(crate) fn done(self) {
        #[cfg(feature = "metrics")]
        metrics::histogram!("portcullis_verification_seconds")
            .record(self.started.elapsed().as_secs_f64());
    }
}
