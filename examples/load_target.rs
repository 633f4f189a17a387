//! The servers `scripts/http_load.py` drives: the quickstart API three times on loopback, with
//! the same authorization server: without the layer, with it (verified-token cache on), and
//! with it and the cache off (so that every request verifies its token's signature, as a new
//! token would).
//!
//! Prints one JSON line: the three base URLs, a token, and the path of a file of distinct
//! tokens (one per line), then serves until killed.
//!
//! ```text
//! cargo run --release --example load_target -- [--alg RS256] [--unique 20000]
//! ```

// An example prints, and stops loudly on a setup failure.
#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::io::Write;

use axum::Router;
use axum::routing::get;
use portcullis::Portcullis;
use portcullis::jwt::Algorithm;
use portcullis::layer::BearerAuthLayer;
use portcullis_testkit::{TestIssuer, TestKey};

fn api(auth: Option<&BearerAuthLayer>) -> Router {
    let handler = get(|| async { "orders\n" });
    match auth {
        Some(auth) => Router::new()
            .route("/read", handler)
            .route_layer(auth.with_scopes(["read"])),
        None => Router::new().route("/read", handler),
    }
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::main]
async fn main() {
    let mut alg = Algorithm::RS256;
    let mut unique = 20_000usize;
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        match (pair.first().map(String::as_str), pair.get(1)) {
            (Some("--alg"), Some(v)) => alg = Algorithm::from_jose(v).expect("a JOSE algorithm"),
            (Some("--unique"), Some(v)) => unique = v.parse().expect("a number"),
            _ => panic!("usage: load_target [--alg ALG] [--unique N]"),
        }
    }
    let idp = TestIssuer::builder()
        .key(TestKey::generate(alg).with_kid("load"))
        .start()
        .await;
    let build = |cache_entries: u64| {
        Portcullis::builder()
            .issuer(idp.issuer())
            .audience("api")
            .algorithms([alg])
            .token_cache_entries(cache_entries)
            .build()
    };
    let cached = build(portcullis::keys::DEFAULT_CACHE_ENTRIES)
        .await
        .unwrap();
    let uncached = build(0).await.unwrap();
    let plain = serve(api(None)).await;
    let layer = serve(api(Some(&cached))).await;
    let layer_no_cache = serve(api(Some(&uncached))).await;

    let token = idp.token().scope("read").expires_in(3600).sign();
    let path =
        std::env::temp_dir().join(format!("portcullis-load-tokens-{}.txt", std::process::id()));
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    for _ in 0..unique {
        writeln!(
            file,
            "{}",
            idp.token().scope("read").expires_in(3600).sign()
        )
        .unwrap();
    }
    file.flush().unwrap();
    drop(file);

    println!(
        "{}",
        serde_json::json!({
            "alg": alg.as_str(),
            "no_layer": plain,
            "layer": layer,
            "layer_no_cache": layer_no_cache,
            "token": token,
            "unique_tokens_file": path,
            "unique_tokens": unique,
        })
    );
    std::future::pending::<()>().await;
}
