//! Certificate-bound access tokens (RFC 8705): an API served over mutual TLS accepts a token
//! only from the client whose certificate it was issued to.
//!
//! ```text
//! cargo run --example mtls
//! ```
//!
//! Everything is generated at start: a CA (rcgen), a server certificate for 127.0.0.1, client
//! certificates for alice and bob. The API is served over rustls, asking clients for a
//! certificate; after each handshake the server puts the client certificate's thumbprint
//! (SHA-256 of its DER) into every request's extensions, where portcullis finds it
//! (`portcullis_testkit::tls::serve_tls` shows how, for a server of your own). The testkit's
//! authorization server mints a token bound to alice's certificate (`cnf.x5t#S256`); alice
//! presents it with her certificate (200), bob with his (401), and a client without any
//! certificate (401). Exits 0 when every answer is the expected one.

// An example prints, and stops loudly on a setup failure.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::process::ExitCode;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use portcullis::Portcullis;
use portcullis::layer::axum::VerifiedClaims;
use portcullis_testkit::TestIssuer;
use portcullis_testkit::tls::{ClientAuth, TestCa, TestCertificate, TlsConfig, serve_tls};

/// An HTTPS client that trusts `ca` only and presents `identity`, if any.
fn client(ca: &TestCa, identity: Option<&TestCertificate>) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(ca.cert_pem().as_bytes()).unwrap();
    let mut builder = reqwest::Client::builder()
        .tls_certs_only([ca])
        .timeout(Duration::from_secs(10));
    if let Some(identity) = identity {
        let identity = reqwest::Identity::from_pem(identity.identity_pem().as_bytes()).unwrap();
        builder = builder.identity(identity);
    }
    builder.build().unwrap()
}

#[tokio::main]
async fn main() -> ExitCode {
    let ca = TestCa::generate();
    let alice = ca.client_certificate("alice");
    let bob = ca.client_certificate("bob");
    println!("CA, server certificate for 127.0.0.1, client certificates for alice and bob");

    let idp = TestIssuer::start().await;
    let auth = Portcullis::builder()
        .issuer(idp.issuer())
        .audience("api")
        .build()
        .await
        .expect("the issuer is up");
    let app = Router::new()
        .route(
            "/me",
            get(|VerifiedClaims(claims): VerifiedClaims| async move {
                format!("{}\n", claims.as_json())
            }),
        )
        .route_layer(auth);
    // Optional: a client without a certificate still gets to the layer, which refuses its
    // bound token (with `ClientAuth::Required` the handshake itself would fail).
    let config = TlsConfig::new(&ca.server_certificate(), &ca, ClientAuth::Optional);
    let server = serve_tls(app, config).await;
    let url = format!("{}/me", server.url());
    println!("API over mutual TLS    {url}");
    println!("authorization server   {}", idp.issuer());

    let token = idp
        .token()
        .subject("alice")
        .certificate_bound(alice.cert_der())
        .sign();
    println!("a token bound to alice's certificate (cnf.x5t#S256)\n");

    let steps: [(&str, Option<&TestCertificate>, u16); 3] = [
        ("alice, with her certificate", Some(&alice), 200),
        (
            "bob, with his certificate (a stolen token)",
            Some(&bob),
            401,
        ),
        ("a client without a certificate", None, 401),
    ];
    let mut surprises = 0;
    for (what, identity, expected) in steps {
        let answer = client(&ca, identity)
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await;
        let (status, detail) = match answer {
            Ok(response) => {
                let status = response.status().as_u16();
                let challenge = response
                    .headers()
                    .get("www-authenticate")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let body = response.text().await.unwrap_or_default();
                let detail = challenge.unwrap_or_else(|| body.trim_end().to_owned());
                (status, detail)
            }
            Err(e) => (0, format!("request failed: {e}")),
        };
        let refused_as_invalid = expected != 401 || detail.contains(r#"error="invalid_token""#);
        let ok = status == expected && refused_as_invalid;
        if !ok {
            surprises += 1;
        }
        println!(
            "{} {what}: {status} (expected {expected})\n    {detail}",
            if ok { "ok  " } else { "FAIL" }
        );
    }
    server.shutdown().await;

    if surprises == 0 {
        println!("\nevery answer was the expected one");
        ExitCode::SUCCESS
    } else {
        eprintln!("\n{surprises} unexpected answer(s)");
        ExitCode::FAILURE
    }
}
