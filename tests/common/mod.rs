//! Helpers shared by the integration tests of `portcullis`; each test binary uses some of them.
// Test code: a failed unwrap, expect, panic or index is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    dead_code,
    unreachable_pub
)]

pub mod attack;

/// The status of a GET of `url` with `token` as its bearer token.
pub async fn status(url: &str, token: &str) -> u16 {
    reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}
