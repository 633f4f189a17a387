//! Steady traffic through a protected API while the authorization server rotates its signing
//! key twice; every request must succeed.
//!
//! ```text
//! cargo run --example key_rotation
//! ```
//!
//! Clients fetch a fresh token before each request, so right after a rotation they present a
//! `kid` portcullis has never seen: the first such request waits for one JWKS refetch, the
//! others share it. Old keys stay published until no token signed by them is in flight, then
//! retire. Exits 0 when no request failed.

// An example prints, and stops loudly on a setup failure.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use portcullis::Portcullis;
use portcullis::jwt::Algorithm;
use portcullis_testkit::TestIssuer;

const CLIENTS: usize = 8;

#[tokio::main]
async fn main() -> ExitCode {
    let idp = TestIssuer::start().await;
    let auth = Portcullis::builder()
        .issuer(idp.issuer())
        .audience("api")
        .build()
        .await
        .expect("the issuer is up");
    let app = Router::new()
        .route("/orders", get(|| async { "orders" }))
        .route_layer(auth.with_scopes(["read"]));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/orders", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let stop = Arc::new(AtomicBool::new(false));
    let made = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let (idp, url, stop) = (idp.clone(), url.clone(), stop.clone());
        let (made, failed) = (made.clone(), failed.clone());
        clients.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            while !stop.load(Ordering::Relaxed) {
                let token = idp.token().scope("read").sign();
                let ok = match http.get(&url).bearer_auth(&token).send().await {
                    Ok(res) if res.status().is_success() => true,
                    Ok(res) => {
                        let challenge = res.headers().get("www-authenticate").cloned();
                        println!("refused: {} {challenge:?}", res.status());
                        false
                    }
                    Err(e) => {
                        println!("request failed: {e}");
                        false
                    }
                };
                made.fetch_add(1, Ordering::Relaxed);
                if !ok {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }

    let first = idp.signing_key();
    println!("signing with {} ({})", first.kid(), first.alg());
    let mut previous = first;
    for alg in [Algorithm::ES256, Algorithm::EdDSA] {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let next = idp.rotate(alg);
        println!(
            "rotated to {} ({}) after {} requests",
            next.kid(),
            next.alg(),
            made.load(Ordering::Relaxed)
        );
        // Tokens signed by the old key may still be in flight; retire it a moment later.
        tokio::time::sleep(Duration::from_millis(200)).await;
        idp.retire(previous.kid());
        println!("retired {}", previous.kid());
        previous = next;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }

    let made = made.load(Ordering::Relaxed);
    let failed = failed.load(Ordering::Relaxed);
    println!(
        "requests made: {made}, failed: {failed}, JWKS fetches: {}",
        idp.jwks_fetches()
    );
    if failed == 0 && made > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
