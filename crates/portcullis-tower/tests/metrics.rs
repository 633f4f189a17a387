// Tests may unwrap, index and panic: a failure is the test's report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The metrics example, scraped after its mixed run: every documented metric is there, with
//! the counts the run must give. (One test in this binary: the `metrics` facade has one
//! recorder per process.)

#[path = "../../../examples/metrics/app.rs"]
#[allow(dead_code)]
mod app;

use std::collections::BTreeMap;

/// The samples of a Prometheus text, by `name{labels}`, the JWKS URL (which has a free port in
/// it) written `JWKS`.
fn samples(text: &str, jwks_url: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| l.starts_with("portcullis_"))
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').unwrap();
            (series.replace(jwks_url, "JWKS"), value.parse().unwrap())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_run_is_counted_by_every_documented_metric() {
    let demo = app::start(app::install_recorder()).await;
    let steps = app::steps(&demo.idp);
    let got = app::run(&demo, &steps).await;
    let expected: Vec<u16> = steps.iter().map(|s| s.status).collect();
    assert_eq!(got, expected);
    let text = app::scrape(&demo).await;
    let s = samples(&text, &demo.idp.jwks_url());
    let count = |series: &str| {
        *s.get(series)
            .unwrap_or_else(|| panic!("{series} is missing from:\n{text}"))
    };
    let rows: [(&str, f64); 21] = [
        (
            r#"portcullis_requests_total{outcome="accepted",reason="none"}"#,
            7.0,
        ),
        (
            r#"portcullis_requests_total{outcome="refused",reason="missing_credentials"}"#,
            1.0,
        ),
        (
            r#"portcullis_requests_total{outcome="refused",reason="expired"}"#,
            1.0,
        ),
        (
            r#"portcullis_requests_total{outcome="refused",reason="invalid_signature"}"#,
            1.0,
        ),
        (
            r#"portcullis_requests_total{outcome="refused",reason="insufficient_scope"}"#,
            1.0,
        ),
        (
            r#"portcullis_requests_total{outcome="refused",reason="unknown_key"}"#,
            3.0,
        ),
        (
            r#"portcullis_route_refusals_total{reason="insufficient_scope"}"#,
            1.0,
        ),
        // Every request with a token was verified: 14 requests, one without a token.
        ("portcullis_verification_seconds_count", 13.0),
        // Hits: the reader's token twice on /orders, once on /orders/7.
        (r#"portcullis_token_cache_lookups_total{result="hit"}"#, 3.0),
        // Misses: the first reader, the expired, the forged, the scopeless, the writer, and
        // the unknown key's three tokens.
        (
            r#"portcullis_token_cache_lookups_total{result="miss"}"#,
            8.0,
        ),
        // Kept: the reader, the scopeless token (valid, refused by the route), the writer.
        ("portcullis_token_cache_entries", 3.0),
        (
            r#"portcullis_jwks_fetches_total{source="JWKS",result="updated"}"#,
            1.0,
        ),
        // The two refetches the unknown kid earned: nothing new.
        (
            r#"portcullis_jwks_fetches_total{source="JWKS",result="not_modified"}"#,
            2.0,
        ),
        (
            r#"portcullis_jwks_refetches_refused_total{source="JWKS"}"#,
            1.0,
        ),
        (r#"portcullis_jwks_keys{source="JWKS"}"#, 1.0),
        (
            r#"portcullis_introspection_calls_total{result="active"}"#,
            1.0,
        ),
        (
            r#"portcullis_introspection_cache_lookups_total{result="miss"}"#,
            1.0,
        ),
        (
            r#"portcullis_introspection_cache_lookups_total{result="hit"}"#,
            1.0,
        ),
        (
            "portcullis_verification_seconds{quantile=\"0.5\"}",
            f64::NAN,
        ),
        ("portcullis_verification_seconds_sum", f64::NAN),
        (
            r#"portcullis_jwks_last_success_timestamp_seconds{source="JWKS"}"#,
            f64::NAN,
        ),
    ];
    for (series, value) in rows {
        let got = count(series);
        if value.is_nan() {
            assert!(got > 0.0, "{series} = {got}");
        } else {
            assert_eq!(got, value, "{series}\n{text}");
        }
    }
    // A success timestamp of now, by the wall clock (within a generous minute).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let at = count(r#"portcullis_jwks_last_success_timestamp_seconds{source="JWKS"}"#);
    assert!((now - at).abs() < 60.0, "{at} vs {now}");
    // Nothing else, and no token anywhere.
    let documented: Vec<&str> = rows
        .iter()
        .map(|(series, _)| series.split(['{', ' ']).next().unwrap())
        .collect();
    for series in s.keys() {
        let name = series.split('{').next().unwrap();
        assert!(documented.contains(&name), "undocumented: {series}");
    }
    for step in &steps {
        if let Some(token) = &step.token {
            assert!(!text.contains(token.as_str()), "a token in the metrics");
        }
    }
}
