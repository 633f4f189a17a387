//! The key sources' and the verified-token cache's metrics (feature `metrics`), through the
//! `metrics` facade; without the feature every function here is empty. Names and labels are
//! listed in the manual ("Metrics") and are stable. Labels hold only configured names (an
//! issuer, a JWKS URL without credentials), never anything from a token.

/// A lookup of the verified-token cache.
pub(crate) fn cache_lookup(hit: bool) {
    #[cfg(feature = "metrics")]
    metrics::counter!(
        "portcullis_token_cache_lookups_total",
        "result" => if hit { "hit" } else { "miss" }
    )
    .increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = hit;
}

/// Entries added to (positive) or removed from (negative) a verified-token cache.
pub(crate) fn cache_entries(delta: isize) {
    #[cfg(feature = "metrics")]
    {
        #[allow(clippy::cast_precision_loss)] // entry counts are far below 2^52
        let delta = delta as f64;
        let gauge = metrics::gauge!("portcullis_token_cache_entries");
        if delta >= 0.0 {
            gauge.increment(delta);
        } else {
            gauge.decrement(-delta);
        }
    }
    #[cfg(not(feature = "metrics"))]
    let _ = delta;
}

/// A completed JWKS fetch of `source`: `updated` (a new key set of `keys` keys),
/// `not_modified`, or `failed`.
pub(crate) fn jwks_fetch(source: &str, result: &'static str, keys: Option<usize>) {
    #[cfg(feature = "metrics")]
    {
        let source = source.to_owned();
        metrics::counter!(
            "portcullis_jwks_fetches_total",
            "source" => source.clone(),
            "result" => result
        )
        .increment(1);
        if result != "failed" {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            metrics::gauge!(
                "portcullis_jwks_last_success_timestamp_seconds",
                "source" => source.clone()
            )
            .set(now);
        }
        if let Some(keys) = keys {
            #[allow(clippy::cast_precision_loss)] // a key set holds at most a few hundred keys
            metrics::gauge!("portcullis_jwks_keys", "source" => source).set(keys as f64);
        }
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (source, result, keys);
}

/// An unknown-`kid` refetch of `source` refused because its budget was spent.
pub(crate) fn jwks_refetch_refused(source: &str) {
    #[cfg(feature = "metrics")]
    metrics::counter!(
        "portcullis_jwks_refetches_refused_total",
        "source" => source.to_owned()
    )
    .increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = source;
}
