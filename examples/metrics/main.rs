//! portcullis's metrics in Prometheus form: an API protected by portcullis, a local
//! authorization server, `metrics-exporter-prometheus` as the recorder, a mixed run of good and
//! bad requests, then the scrape.
//!
//! ```text
//! cargo run --example metrics --features metrics            # the mixed run, then what /metrics says
//! cargo run --example metrics --features metrics -- --serve # keep serving /metrics and /ready
//! ```
//!
//! Every metric, its labels and what it counts: the manual's "Metrics" section.

// An example prints, and stops loudly on a setup failure.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

mod app;

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let serve = std::env::args().any(|a| a == "--serve");
    let handle = app::install_recorder();
    let demo = app::start(handle).await;
    let steps = app::steps(&demo.idp);
    let got = app::run(&demo, &steps).await;
    let mut wrong = 0;
    for (step, status) in steps.iter().zip(&got) {
        let mark = if *status == step.status { "ok " } else { "BAD" };
        if *status != step.status {
            wrong += 1;
        }
        println!("{mark} {:<36} {} -> {status}", step.what, step.path);
    }
    println!();
    for line in app::scrape(&demo).await.lines() {
        if line.starts_with("portcullis_") {
            println!("{line}");
        }
    }
    if serve {
        println!();
        println!(
            "serving {0}/metrics and {0}/ready; Ctrl-C to stop",
            demo.base
        );
        let _ = tokio::signal::ctrl_c().await;
    }
    if wrong == 0 {
        ExitCode::SUCCESS
    } else {
        println!("{wrong} answers were not the expected ones");
        ExitCode::FAILURE
    }
}
