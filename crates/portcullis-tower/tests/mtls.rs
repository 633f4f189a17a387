// Tests may unwrap, index and panic: a failure is the test's report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Certificate-bound tokens (RFC 8705) end to end: a real rustls server asking for client
//! certificates, reqwest clients with their identities, the testkit issuer minting bound
//! tokens; and the same through each proxy header, on plain HTTP, as a TLS-terminating proxy
//! would forward them.

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use base64::Engine as _;
use http::HeaderName;
use portcullis_core::{CertificateThumbprint, Validator};
use portcullis_jwks::{JwtVerifier, RemoteJwks};
use portcullis_testkit::tls::{ClientAuth, TestCa, TestCertificate, TlsConfig, serve_tls};
use portcullis_testkit::{TestIssuer, b64url, serve};
use portcullis_tower::axum::VerifiedClaims;
use portcullis_tower::{BearerAuthLayer, CertificateSource};

/// The issuer, a CA, and two clients it certified.
struct World {
    idp: TestIssuer,
    ca: TestCa,
    alice: TestCertificate,
    bob: TestCertificate,
}

impl World {
    async fn new() -> World {
        let ca = TestCa::generate();
        World {
            idp: TestIssuer::start().await,
            alice: ca.client_certificate("alice"),
            bob: ca.client_certificate("bob"),
            ca,
        }
    }

    async fn layer(&self) -> BearerAuthLayer {
        let keys = RemoteJwks::builder(self.idp.jwks_url())
            .build()
            .await
            .unwrap();
        let rules = Validator::builder()
            .issuer(self.idp.issuer())
            .audience("api")
            .build()
            .unwrap();
        BearerAuthLayer::new(JwtVerifier::new(keys, rules))
    }

    /// A token bound to alice's certificate.
    fn alices_token(&self) -> String {
        self.idp
            .token()
            .subject("alice")
            .certificate_bound(self.alice.cert_der())
            .sign()
    }

    /// A reqwest client that trusts the CA only, presenting `identity` when given one.
    fn client(&self, identity: Option<&TestCertificate>) -> reqwest::Client {
        let ca = reqwest::Certificate::from_pem(self.ca.cert_pem().as_bytes()).unwrap();
        let mut builder = reqwest::Client::builder()
            .tls_certs_only([ca])
            .timeout(Duration::from_secs(10));
        if let Some(identity) = identity {
            builder = builder
                .identity(reqwest::Identity::from_pem(identity.identity_pem().as_bytes()).unwrap());
        }
        builder.build().unwrap()
    }
}

/// `/me` answers the verified claims, as JSON.
fn api(auth: BearerAuthLayer) -> Router {
    Router::new()
        .route(
            "/me",
            get(
                |VerifiedClaims(claims): VerifiedClaims| async move { claims.as_json().to_owned() },
            ),
        )
        .route_layer(auth)
}

#[derive(Debug)]
struct Answer {
    status: u16,
    www_authenticate: Option<String>,
    body: String,
}

async fn call(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.unwrap();
    Answer {
        status: response.status().as_u16(),
        www_authenticate: response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned()),
        body: response.text().await.unwrap(),
    }
}

fn assert_invalid_token(answer: &Answer) {
    assert_eq!(answer.status, 401, "{answer:?}");
    let challenge = answer.www_authenticate.as_deref().unwrap_or_default();
    assert!(challenge.contains(r#"error="invalid_token""#), "{answer:?}");
}

fn assert_invalid_request(answer: &Answer) {
    assert_eq!(answer.status, 400, "{answer:?}");
    let challenge = answer.www_authenticate.as_deref().unwrap_or_default();
    assert!(
        challenge.contains(r#"error="invalid_request""#),
        "{answer:?}"
    );
}

fn assert_passed_for_alice(answer: &Answer, alice: &TestCertificate) {
    assert_eq!(answer.status, 200, "{answer:?}");
    let claims: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["cnf"]["x5t#S256"], b64url(&alice.thumbprint().0));
}

// Over mutual TLS: the rustls server puts the connection's thumbprint in the extensions.

#[tokio::test]
async fn a_token_bound_to_the_client_certificate_passes_over_mutual_tls() {
    let w = World::new().await;
    let config = TlsConfig::new(&w.ca.server_certificate(), &w.ca, ClientAuth::Required);
    let server = serve_tls(api(w.layer().await), config).await;
    let url = format!("{}/me", server.url());

    let answer = call(
        w.client(Some(&w.alice))
            .get(&url)
            .bearer_auth(w.alices_token()),
    )
    .await;
    assert_passed_for_alice(&answer, &w.alice);
    server.shutdown().await;
}

#[tokio::test]
async fn another_clients_certificate_is_refused_as_an_invalid_token() {
    let w = World::new().await;
    let config = TlsConfig::new(&w.ca.server_certificate(), &w.ca, ClientAuth::Required);
    let server = serve_tls(api(w.layer().await), config).await;
    let url = format!("{}/me", server.url());

    // Bob's certificate is valid for TLS, but the token is alice's.
    let answer = call(
        w.client(Some(&w.bob))
            .get(&url)
            .bearer_auth(w.alices_token()),
    )
    .await;
    assert_invalid_token(&answer);
    // Bob's own token passes with his certificate: the refusal was the binding's.
    let bobs = w.idp.token().certificate_bound(w.bob.cert_der()).sign();
    let answer = call(w.client(Some(&w.bob)).get(&url).bearer_auth(bobs)).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn without_a_client_certificate_a_bound_token_is_refused() {
    let w = World::new().await;
    let config = TlsConfig::new(&w.ca.server_certificate(), &w.ca, ClientAuth::Optional);
    let server = serve_tls(api(w.layer().await), config).await;
    let url = format!("{}/me", server.url());

    let answer = call(w.client(None).get(&url).bearer_auth(w.alices_token())).await;
    assert_invalid_token(&answer);
    // The same connection without a certificate carries an unbound token: TLS was fine.
    let unbound = w.idp.token().subject("alice").sign();
    let answer = call(w.client(None).get(&url).bearer_auth(unbound)).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn an_unbound_token_passes_whatever_the_certificate() {
    let w = World::new().await;
    let config = TlsConfig::new(&w.ca.server_certificate(), &w.ca, ClientAuth::Required);
    let server = serve_tls(api(w.layer().await), config).await;
    let url = format!("{}/me", server.url());
    let unbound = w.idp.token().subject("alice").sign();
    let answer = call(w.client(Some(&w.bob)).get(&url).bearer_auth(unbound)).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn the_server_puts_the_connections_thumbprint_in_every_request() {
    let w = World::new().await;
    let app = Router::new().route(
        "/thumbprint",
        get(
            |thumbprint: Option<axum::Extension<CertificateThumbprint>>| async move {
                thumbprint.map_or_else(|| "none".to_owned(), |t| b64url(&t.0.0))
            },
        ),
    );
    let config = TlsConfig::new(&w.ca.server_certificate(), &w.ca, ClientAuth::Optional);
    let server = serve_tls(app, config).await;
    let url = format!("{}/thumbprint", server.url());

    // Two requests on one connection: both carry it.
    let alice = w.client(Some(&w.alice));
    for _ in 0..2 {
        let answer = call(alice.get(&url)).await;
        assert_eq!(answer.body, b64url(&w.alice.thumbprint().0));
    }
    assert_eq!(
        call(w.client(Some(&w.bob)).get(&url)).await.body,
        b64url(&w.bob.thumbprint().0)
    );
    assert_eq!(call(w.client(None).get(&url)).await.body, "none");
    server.shutdown().await;
}

#[tokio::test]
async fn required_client_auth_refuses_no_certificate_and_another_cas() {
    let w = World::new().await;
    let app = Router::new().route("/", get(|| async { "hello" }));
    let config = TlsConfig::new(&w.ca.server_certificate(), &w.ca, ClientAuth::Required);
    let server = serve_tls(app, config).await;
    let url = server.url();

    assert_eq!(call(w.client(Some(&w.alice)).get(&url)).await.body, "hello");
    assert!(w.client(None).get(&url).send().await.is_err());
    let stranger = TestCa::named("another CA").client_certificate("mallory");
    assert!(w.client(Some(&stranger)).get(&url).send().await.is_err());
    // And the server still serves the next client.
    assert_eq!(call(w.client(Some(&w.alice)).get(&url)).await.body, "hello");
    server.shutdown().await;
}

#[tokio::test]
async fn a_server_built_from_pem_files_serves_the_same() {
    let w = World::new().await;
    let dir = tempfile::tempdir().unwrap();
    let server_cert = w.ca.server_certificate();
    let (cert, key, ca) = (
        dir.path().join("server.pem"),
        dir.path().join("server.key"),
        dir.path().join("ca.pem"),
    );
    std::fs::write(&cert, server_cert.cert_pem()).unwrap();
    std::fs::write(&key, server_cert.key_pem()).unwrap();
    std::fs::write(&ca, w.ca.cert_pem()).unwrap();
    let config = TlsConfig::from_pem_files(&cert, &key, &ca, ClientAuth::Required).unwrap();
    let server = serve_tls(api(w.layer().await), config).await;
    let answer = call(
        w.client(Some(&w.alice))
            .get(format!("{}/me", server.url()))
            .bearer_auth(w.alices_token()),
    )
    .await;
    assert_passed_for_alice(&answer, &w.alice);
    server.shutdown().await;

    // A missing file is named; a file without a certificate is refused.
    let missing = dir.path().join("missing.pem");
    let error = TlsConfig::from_pem_files(&missing, &key, &ca, ClientAuth::Required).unwrap_err();
    assert!(error.to_string().contains("missing.pem"), "{error}");
    assert!(TlsConfig::from_pem_files(&key, &key, &ca, ClientAuth::Required).is_err());
    assert!(TlsConfig::from_pem_files(&cert, &key, &key, ClientAuth::Required).is_err());
}

#[tokio::test]
async fn shutdown_closes_the_port() {
    let w = World::new().await;
    let app = Router::new().route("/", get(|| async { "hello" }));
    let config = TlsConfig::new(&w.ca.server_certificate(), &w.ca, ClientAuth::Optional);
    let server = serve_tls(app, config).await;
    let addr = server.addr();
    // An idle connection open while the server stops.
    let client = w.client(None);
    assert_eq!(call(client.get(server.url())).await.body, "hello");
    server.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    assert!(client.get(format!("https://{addr}/")).send().await.is_err());
}

// Through a TLS-terminating proxy: plain HTTP, the header set as the proxy would.

const NGINX: &str = "x-ssl-client-cert";
const NGINX_HEADER: HeaderName = HeaderName::from_static(NGINX);

/// Percent-encodes as nginx's `$ssl_client_escaped_cert` does.
fn escape(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn hex(thumbprint: &CertificateThumbprint) -> String {
    thumbprint.0.iter().map(|b| format!("{b:02x}")).collect()
}

/// One proxy form: its source, its header, and how it carries a certificate.
type Form = (
    CertificateSource,
    HeaderName,
    fn(&TestCertificate) -> String,
);

/// Each proxy form.
fn forms() -> Vec<Form> {
    vec![
        (
            CertificateSource::ClientCertHeader,
            HeaderName::from_static("client-cert"),
            |c| {
                let b64 = base64::engine::general_purpose::STANDARD.encode(c.cert_der());
                format!(":{b64}:")
            },
        ),
        (
            CertificateSource::EscapedPemHeader(NGINX_HEADER),
            NGINX_HEADER,
            |c| escape(c.cert_pem()),
        ),
        (
            CertificateSource::ForwardedClientCert,
            HeaderName::from_static("x-forwarded-client-cert"),
            |c| {
                format!(
                    "By=spiffe://cluster.local/api;Hash={};Subject=\"CN=x\"",
                    hex(&c.thumbprint())
                )
            },
        ),
        (
            CertificateSource::ForwardedClientCert,
            HeaderName::from_static("x-forwarded-client-cert"),
            |c| {
                format!(
                    "By=spiffe://cluster.local/api;Cert=\"{}\"",
                    escape(c.cert_pem())
                )
            },
        ),
    ]
}

#[tokio::test]
async fn each_proxy_header_form_accepts_the_right_certificate_and_refuses_another() {
    let w = World::new().await;
    let http = reqwest::Client::new();
    for (source, name, carry) in forms() {
        let base = serve(api(w.layer().await.client_certificate_from(source.clone()))).await;
        let url = format!("{base}/me");
        let request = || http.get(&url).bearer_auth(w.alices_token());

        let answer = call(request().header(&name, carry(&w.alice))).await;
        assert_passed_for_alice(&answer, &w.alice);
        assert_invalid_token(&call(request().header(&name, carry(&w.bob))).await);
        assert_invalid_token(&call(request()).await);
    }
}

#[tokio::test]
async fn each_malformed_proxy_header_is_a_malformed_request() {
    let w = World::new().await;
    let http = reqwest::Client::new();
    let alice_pem = w.alice.cert_pem();
    let bob_pem = w.bob.cert_pem();
    let b64 = base64::engine::general_purpose::STANDARD.encode(w.alice.cert_der());
    let hash = hex(&w.alice.thumbprint());
    let cases: Vec<(CertificateSource, &str, Vec<String>)> = vec![
        // Given twice, in each form.
        (
            CertificateSource::ClientCertHeader,
            "client-cert",
            vec![format!(":{b64}:"), format!(":{b64}:")],
        ),
        (
            CertificateSource::EscapedPemHeader(NGINX_HEADER),
            NGINX,
            vec![escape(alice_pem), escape(alice_pem)],
        ),
        (
            CertificateSource::ForwardedClientCert,
            "x-forwarded-client-cert",
            vec![format!("Hash={hash}"), format!("Hash={hash}")],
        ),
        // Two proxy hops in one XFCC header: ambiguous.
        (
            CertificateSource::ForwardedClientCert,
            "x-forwarded-client-cert",
            vec![format!("By=a;Hash={hash},By=b;Hash={hash}")],
        ),
        // Bad base64, bad PEM, bad hex.
        (
            CertificateSource::ClientCertHeader,
            "client-cert",
            vec![format!(":{}!:", &b64[1..])],
        ),
        (
            CertificateSource::ClientCertHeader,
            "client-cert",
            vec![b64.clone()],
        ),
        (
            CertificateSource::EscapedPemHeader(NGINX_HEADER),
            NGINX,
            vec![escape(&alice_pem.replace("CERTIFICATE", "X509"))],
        ),
        (
            CertificateSource::EscapedPemHeader(NGINX_HEADER),
            NGINX,
            vec![format!("{}%zz", escape(alice_pem))],
        ),
        (
            CertificateSource::ForwardedClientCert,
            "x-forwarded-client-cert",
            vec![format!("Hash={}", &hash[1..])],
        ),
        (
            CertificateSource::ForwardedClientCert,
            "x-forwarded-client-cert",
            vec![format!("Hash={}x", &hash[1..])],
        ),
        // A PEM with several certificates.
        (
            CertificateSource::EscapedPemHeader(NGINX_HEADER),
            NGINX,
            vec![escape(&format!("{alice_pem}{bob_pem}"))],
        ),
        (
            CertificateSource::ForwardedClientCert,
            "x-forwarded-client-cert",
            vec![format!(
                "Cert=\"{}\"",
                escape(&format!("{alice_pem}{bob_pem}"))
            )],
        ),
    ];
    for (source, name, values) in cases {
        let base = serve(api(w.layer().await.client_certificate_from(source.clone()))).await;
        let mut request = http.get(format!("{base}/me")).bearer_auth(w.alices_token());
        for value in &values {
            request = request.header(name, value);
        }
        let answer = call(request).await;
        assert_invalid_request(&answer);
        assert!(answer.body.is_empty(), "{source:?}");
    }
}

#[tokio::test]
async fn proxy_headers_are_never_read_unless_configured() {
    let w = World::new().await;
    let http = reqwest::Client::new();
    let base = serve(api(w.layer().await)).await;
    let url = format!("{base}/me");
    for (_, name, carry) in forms() {
        // Alice's certificate in a header nobody configured: no certificate at all.
        let answer = call(
            http.get(&url)
                .bearer_auth(w.alices_token())
                .header(&name, carry(&w.alice)),
        )
        .await;
        assert_invalid_token(&answer);
        // A malformed one is no malformed request either: it is not read.
        let unbound = w.idp.token().subject("alice").sign();
        let answer = call(http.get(&url).bearer_auth(unbound).header(&name, "::,%zz")).await;
        assert_eq!(answer.status, 200, "{name}: {answer:?}");
    }
}

#[tokio::test]
async fn with_a_header_source_the_connections_certificate_is_ignored() {
    let w = World::new().await;
    let http = reqwest::Client::new();
    // As if the TLS acceptor had put alice's thumbprint in the extensions: with a header
    // source configured, the connection is the proxy's, and only the header counts.
    let with_connection =
        |auth: BearerAuthLayer| api(auth).layer(axum::Extension(w.alice.thumbprint()));

    let base = serve(with_connection(w.layer().await)).await;
    let answer = call(http.get(format!("{base}/me")).bearer_auth(w.alices_token())).await;
    assert_passed_for_alice(&answer, &w.alice);

    for (source, name, carry) in forms() {
        let auth = w.layer().await.client_certificate_from(source);
        let base = serve(with_connection(auth)).await;
        let url = format!("{base}/me");
        assert_invalid_token(&call(http.get(&url).bearer_auth(w.alices_token())).await);
        let answer = call(
            http.get(&url)
                .bearer_auth(w.alices_token())
                .header(&name, carry(&w.bob)),
        )
        .await;
        assert_invalid_token(&answer);
    }
}
