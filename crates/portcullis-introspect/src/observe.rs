//! Introspection metrics (feature `metrics`), through the `metrics` facade; without the
//! feature every function here is empty. Names and labels are listed in the manual
//! ("Metrics") and are stable.

/// A call to the endpoint that ended: `active`, `inactive` (a refused verdict), or `failed`
/// (no verdict: transport, timeout, a bad answer).
pub(crate) fn call(result: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!("portcullis_introspection_calls_total", "result" => result).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = result;
}

/// Where a verdict came from without a call: this replica's cache (`hit`), another
/// replica's (`shared_hit`); `miss` when a call was needed.
pub(crate) fn lookup(result: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!("portcullis_introspection_cache_lookups_total", "result" => result)
        .increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = result;
}
