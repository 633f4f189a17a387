//! Mutual TLS for tests (feature `tls`): a generated certificate authority with server and
//! client certificates, and an axum `Router` served over rustls that asks clients for a
//! certificate and puts each connection's [`CertificateThumbprint`] into every request's
//! extensions, where the portcullis layer finds it.
//!
//! ```
//! use portcullis_testkit::tls::{ClientAuth, TestCa, TlsConfig, serve_tls};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let ca = TestCa::generate();
//! let alice = ca.client_certificate("alice");
//! let config = TlsConfig::new(&ca.server_certificate(), &ca, ClientAuth::Required);
//! let app = axum::Router::new().route("/", axum::routing::get(|| async { "hello" }));
//! let server = serve_tls(app, config).await;
//! assert!(server.url().starts_with("https://127.0.0.1:"));
//! // A client trusts `ca.cert_pem()` and presents `alice.identity_pem()`;
//! // the handler finds `alice.thumbprint()` in the request's extensions.
//! # let _ = alice;
//! server.shutdown().await;
//! # }
//! ```
//!
//! The crypto provider is aws-lc-rs, passed explicitly (the process-wide default provider
//! is neither read nor set).

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use portcullis_core::CertificateThumbprint;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;
use tower_service::Service as _;

/// The SHA-256 thumbprint of a certificate's DER (RFC 8705 `x5t#S256`).
#[must_use]
pub fn thumbprint_of(der: &[u8]) -> CertificateThumbprint {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
    CertificateThumbprint(
        digest
            .as_ref()
            .try_into()
            .expect("a SHA-256 digest is 32 bytes"),
    )
}

/// A certificate and its private key, as PEM and DER.
#[derive(Clone)]
pub struct TestCertificate {
    cert_der: Vec<u8>,
    cert_pem: String,
    key_der: Vec<u8>,
    key_pem: String,
}

impl TestCertificate {
    fn issue(params: &CertificateParams, issuer: &Issuer<'_, KeyPair>) -> TestCertificate {
        let key = KeyPair::generate().expect("a P-256 key pair");
        let cert = params.signed_by(&key, issuer).expect("the CA signs");
        TestCertificate {
            cert_der: cert.der().to_vec(),
            cert_pem: cert.pem(),
            key_der: key.serialize_der(),
            key_pem: key.serialize_pem(),
        }
    }

    /// The certificate, DER.
    #[must_use]
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The certificate, PEM.
    #[must_use]
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The private key, PKCS#8 DER.
    #[must_use]
    pub fn key_der(&self) -> &[u8] {
        &self.key_der
    }

    /// The private key, PKCS#8 PEM.
    #[must_use]
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// The key, then the certificate, in one PEM: what `reqwest::Identity::from_pem` reads.
    #[must_use]
    pub fn identity_pem(&self) -> String {
        format!("{}{}", self.key_pem, self.cert_pem)
    }

    /// The certificate's SHA-256 thumbprint, as a certificate-bound token names it.
    #[must_use]
    pub fn thumbprint(&self) -> CertificateThumbprint {
        thumbprint_of(&self.cert_der)
    }
}

impl std::fmt::Debug for TestCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCertificate")
            .field("thumbprint", &self.thumbprint())
            .finish_non_exhaustive()
    }
}

/// A freshly generated certificate authority (ECDSA P-256) that issues server and client
/// certificates.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    cert_der: Vec<u8>,
    cert_pem: String,
}

impl TestCa {
    /// A new CA, `CN=portcullis test CA`.
    ///
    /// # Panics
    /// If key generation or signing fails (the test cannot run).
    #[must_use]
    pub fn generate() -> TestCa {
        TestCa::named("portcullis test CA")
    }

    /// A new CA with this common name.
    ///
    /// # Panics
    /// As [`TestCa::generate`].
    #[must_use]
    pub fn named(common_name: &str) -> TestCa {
        let key = KeyPair::generate().expect("a P-256 key pair");
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).expect("the CA signs itself");
        TestCa {
            cert_der: cert.der().to_vec(),
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// The CA's certificate, DER.
    #[must_use]
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The CA's certificate, PEM: what clients trust, and what the server checks client
    /// certificates against.
    #[must_use]
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// A server certificate for `127.0.0.1` and `localhost`.
    ///
    /// # Panics
    /// As [`TestCa::generate`].
    #[must_use]
    pub fn server_certificate(&self) -> TestCertificate {
        let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".into()])
            .expect("valid names");
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        TestCertificate::issue(&params, &self.issuer)
    }

    /// A client certificate, `CN=<common_name>`, for TLS client authentication.
    ///
    /// # Panics
    /// As [`TestCa::generate`].
    #[must_use]
    pub fn client_certificate(&self, common_name: &str) -> TestCertificate {
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        TestCertificate::issue(&params, &self.issuer)
    }
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa")
            .field("thumbprint", &thumbprint_of(&self.cert_der))
            .finish_non_exhaustive()
    }
}

/// Whether the server asks for a client certificate or requires one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// A client may connect without a certificate; one it presents must chain to the CA.
    Optional,
    /// The handshake fails without a certificate that chains to the CA.
    Required,
}

/// A rustls server configuration (aws-lc-rs, TLS 1.2 and 1.3, ALPN `h2` and `http/1.1`)
/// that verifies client certificates against a CA.
#[derive(Clone)]
pub struct TlsConfig {
    config: Arc<rustls::ServerConfig>,
}

impl TlsConfig {
    /// The server presents `server`; client certificates must chain to `client_ca`.
    ///
    /// # Panics
    /// If rustls refuses the generated certificates (a bug in this kit).
    #[must_use]
    pub fn new(server: &TestCertificate, client_ca: &TestCa, client_auth: ClientAuth) -> Self {
        TlsConfig::from_pem(
            server.cert_pem().as_bytes(),
            server.key_pem().as_bytes(),
            client_ca.cert_pem().as_bytes(),
            client_auth,
        )
        .expect("rustls takes the generated certificates")
    }

    /// From PEM: the server's certificate chain (leaf first), its private key (PKCS#8,
    /// PKCS#1 or SEC1), and the CA certificates that client certificates must chain to.
    ///
    /// # Errors
    /// `InvalidData` when a PEM holds no certificate or key, or rustls refuses them.
    pub fn from_pem(
        cert_chain: &[u8],
        key: &[u8],
        client_ca: &[u8],
        client_auth: ClientAuth,
    ) -> io::Result<Self> {
        let invalid = |what: String| io::Error::new(io::ErrorKind::InvalidData, what);
        let chain = CertificateDer::pem_slice_iter(cert_chain)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid(format!("the server certificate: {e}")))?;
        if chain.is_empty() {
            return Err(invalid(
                "the server certificate PEM has no certificate".into(),
            ));
        }
        let key = PrivateKeyDer::from_pem_slice(key)
            .map_err(|e| invalid(format!("the server key: {e}")))?;
        let mut roots = RootCertStore::empty();
        for ca in CertificateDer::pem_slice_iter(client_ca) {
            let ca = ca.map_err(|e| invalid(format!("the client CA: {e}")))?;
            roots
                .add(ca)
                .map_err(|e| invalid(format!("the client CA: {e}")))?;
        }
        if roots.is_empty() {
            return Err(invalid("the client CA PEM has no certificate".into()));
        }

        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
        let verifier = match client_auth {
            ClientAuth::Optional => verifier.allow_unauthenticated(),
            ClientAuth::Required => verifier,
        }
        .build()
        .map_err(|e| invalid(format!("the client verifier: {e}")))?;
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid(format!("the protocol versions: {e}")))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .map_err(|e| invalid(format!("the server certificate and key: {e}")))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(TlsConfig {
            config: Arc::new(config),
        })
    }

    /// From PEM files, as [`TlsConfig::from_pem`]: `--tls-cert FILE --tls-key FILE
    /// --client-ca FILE`.
    ///
    /// # Errors
    /// A file that cannot be read (the error names it), or as [`TlsConfig::from_pem`].
    pub fn from_pem_files(
        cert_chain: &Path,
        key: &Path,
        client_ca: &Path,
        client_auth: ClientAuth,
    ) -> io::Result<Self> {
        let read = |path: &Path| {
            std::fs::read(path)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
        };
        TlsConfig::from_pem(
            &read(cert_chain)?,
            &read(key)?,
            &read(client_ca)?,
            client_auth,
        )
    }

    /// The rustls configuration, for a server of your own.
    #[must_use]
    pub fn rustls_config(&self) -> Arc<rustls::ServerConfig> {
        self.config.clone()
    }
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig").finish_non_exhaustive()
    }
}

/// How long a client may take over its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A running HTTPS server; [`TlsServer::shutdown`] stops it (dropping it stops it too,
/// without waiting).
#[derive(Debug)]
pub struct TlsServer {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl TlsServer {
    /// `https://127.0.0.1:<port>` (or the address it was bound to).
    #[must_use]
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// The bound address.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, closes every connection, and waits until all are gone.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Serves `app` over TLS on `127.0.0.1:<a free port>`.
///
/// # Panics
/// When no loopback port can be bound (the test cannot run).
pub async fn serve_tls(app: Router, config: TlsConfig) -> TlsServer {
    serve_tls_on(app, config, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("a free loopback port")
}

/// Serves `app` over TLS on `addr`: HTTP/1.1 and HTTP/2 (by ALPN), each request with its
/// connection's client-certificate [`CertificateThumbprint`] in its extensions (none when
/// the client presented no certificate). A failed handshake closes that connection only.
///
/// # Errors
/// When `addr` cannot be bound.
pub async fn serve_tls_on(
    app: Router,
    config: TlsConfig,
    addr: SocketAddr,
) -> io::Result<TlsServer> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = watch::channel(false);
    let acceptor = TlsAcceptor::from(config.config);
    let task = tokio::spawn(accept_loop(listener, acceptor, app, stopped));
    Ok(TlsServer {
        addr,
        stop,
        task: Some(task),
    })
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    app: Router,
    mut stopped: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = stopped.wait_for(|stop| *stop) => break,
            accepted = listener.accept() => {
                let Ok((tcp, _)) = accepted else { continue };
                connections.spawn(connection(tcp, acceptor.clone(), app.clone()));
            }
            // Reap finished connections as they end.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    connections.shutdown().await;
}

async fn connection(tcp: tokio::net::TcpStream, acceptor: TlsAcceptor, app: Router) {
    let Ok(Ok(tls)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await else {
        return;
    };
    let thumbprint = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(<[CertificateDer<'_>]>::first)
        .map(|leaf| thumbprint_of(leaf.as_ref()));
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        if let Some(thumbprint) = thumbprint {
            req.extensions_mut().insert(thumbprint);
        }
        let mut app = app.clone();
        async move {
            std::future::poll_fn(|cx| {
                tower_service::Service::<hyper::Request<Incoming>>::poll_ready(&mut app, cx)
            })
            .await?;
            app.call(req).await
        }
    });
    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
        .serve_connection_with_upgrades(TokioIo::new(tls), service)
        .await;
}
