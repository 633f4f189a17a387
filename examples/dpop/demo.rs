//! The servers of the DPoP example: the testkit's authorization server, an API that accepts
//! only DPoP-bound tokens (with server nonces), and a static page on another origin that
//! does the whole flow from a browser with WebCrypto.
//!
//! `main.rs` runs them for `cargo run --example dpop`; `tests/dpop_browser.rs` includes this
//! file to start them in-process and drive the page with headless Chromium.

use axum::Router;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderName, HeaderValue, Method};
use axum::response::IntoResponse;
use axum::routing::get;
use portcullis::Portcullis;
use portcullis::jwt::Algorithm;
use portcullis::jwt::dpop::{Dpop, NonceKey};
use portcullis::layer::axum::VerifiedClaims;
use portcullis_testkit::TestIssuer;
use tokio::net::TcpListener;
use tower_http::cors::CorsLayer;

/// The protected resource.
pub(crate) const API_PATH: &str = "/orders";

/// The client the page and the tour authenticate as at the token endpoint (the testkit's
/// default client).
pub(crate) const CLIENT_ID: &str = "client-1";
pub(crate) const CLIENT_SECRET: &str = "secret-1";

/// `DPoP-Nonce`, the header of server nonces (RFC 9449 section 8).
pub(crate) const DPOP_NONCE: HeaderName = HeaderName::from_static("dpop-nonce");

/// `DPoP`, the header of the proof (RFC 9449 section 4.1).
pub(crate) const DPOP: HeaderName = HeaderName::from_static("dpop");

/// The response headers a page on another origin must be able to read: the nonce it is
/// asked to use, and the challenge that says why a request was refused.
pub(crate) const EXPOSED: [HeaderName; 2] = [DPOP_NONCE, WWW_AUTHENTICATE];

/// The page, with `/*CONFIG*/` where its configuration goes.
const PAGE: &str = include_str!("page.html");

/// The running servers, all on 127.0.0.1 and each on a port of its own: three origins.
pub(crate) struct Demo {
    /// The authorization server; its token endpoint issues DPoP-bound tokens.
    pub(crate) idp: TestIssuer,
    /// The API's origin, `http://127.0.0.1:<port>`: also its public origin, for `htu`.
    pub(crate) api: String,
    /// The page's origin, `http://127.0.0.1:<port>`; the page is at `/`.
    pub(crate) page: String,
}

impl Demo {
    /// The URL of the protected resource (a proof's `htu` for it).
    pub(crate) fn api_url(&self) -> String {
        format!("{}{API_PATH}", self.api)
    }
}

/// Starts the servers on free loopback ports, in the current tokio runtime (they serve until
/// it ends).
pub(crate) async fn start() -> Result<Demo, String> {
    start_with(&EXPOSED).await
}

/// As [`start`], with the API's CORS exposing only `exposed` (the test shows that the page
/// breaks without them).
pub(crate) async fn start_with(exposed: &[HeaderName]) -> Result<Demo, String> {
    // Bound first: the API's CORS names the page's origin, and the API's DPoP rules its own.
    let (page_listener, page) = bind().await?;
    let (api_listener, api) = bind().await?;
    let idp = TestIssuer::start().await;

    let nonce_key = NonceKey::generate().map_err(|e| e.to_string())?;
    let dpop = Dpop::builder()
        .algorithms([Algorithm::ES256, Algorithm::EdDSA])
        // Bearer tokens are refused: every request must prove possession of the key.
        .required(true)
        .nonces([nonce_key])
        .build()
        .map_err(|e| e.to_string())?;
    let auth = Portcullis::builder()
        .issuer(idp.issuer())
        .audience("api")
        .realm("dpop-example")
        .build()
        .await
        .map_err(|e| e.to_string())?
        // A proof's `htu` is checked against this origin and the request's path.
        .public_origin(api.as_str())
        .dpop(dpop);
    let app = Router::new()
        .route(API_PATH, get(orders))
        .route_layer(auth)
        // Outside the auth layer: a preflight carries no token, and the 401s need the CORS
        // headers too, or the page cannot read why it was refused.
        .layer(cors(&page, exposed)?);
    tokio::spawn(async move { axum::serve(api_listener, app).await });

    let html = page_html(&idp.token_url(), &format!("{api}{API_PATH}"));
    let page_app = Router::new().route(
        "/",
        get(move || async move { ([(CONTENT_TYPE, "text/html; charset=utf-8")], html) }),
    );
    tokio::spawn(async move { axum::serve(page_listener, page_app).await });

    Ok(Demo { idp, api, page })
}

/// The API's CORS: requests from the page's origin, with the `Authorization` and `DPoP`
/// headers, and the page may read `exposed` in the answers.
fn cors(page_origin: &str, exposed: &[HeaderName]) -> Result<CorsLayer, String> {
    let origin = HeaderValue::from_str(page_origin).map_err(|e| e.to_string())?;
    Ok(CorsLayer::new()
        .allow_origin(origin)
        .allow_methods([Method::GET])
        .allow_headers([AUTHORIZATION, DPOP])
        .expose_headers(exposed.to_vec()))
}

async fn orders(VerifiedClaims(claims): VerifiedClaims) -> impl IntoResponse {
    let body = serde_json::json!({
        "orders": ["A-1001", "A-1002"],
        "client": claims.subject(),
        "bound_to": claims.get("cnf"),
    });
    ([(CONTENT_TYPE, "application/json")], body.to_string())
}

/// The page with its configuration: where the token endpoint and the API are, and the
/// client's credentials.
fn page_html(token_url: &str, api_url: &str) -> String {
    let config = serde_json::json!({
        "tokenUrl": token_url,
        "apiUrl": api_url,
        "clientId": CLIENT_ID,
        "clientSecret": CLIENT_SECRET,
    });
    // JSON inside <script>: a `</` would end the element.
    let config = config.to_string().replace("</", "<\\/");
    PAGE.replace("/*CONFIG*/", &config)
}

async fn bind() -> Result<(TcpListener, String), String> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    Ok((listener, format!("http://{addr}")))
}
