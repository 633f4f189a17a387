//! The HTTP side of [`crate::TestIssuer`]: shared state and the axum handlers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, UNIX_EPOCH};

use aws_lc_rs::digest;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use serde_json::{Map, Value, json};
use tokio::sync::watch;

use crate::faults::{JwksFault, RecordedRequest};
use crate::proof_check::{self, SeenProofs};
use crate::{TestKey, TokenBuilder, b64url, unix_now};

/// Everything the handlers and the [`crate::TestIssuer`] handles share.
pub(crate) struct Shared {
    pub(crate) issuer: String,
    pub(crate) base_url: String,
    pub(crate) path: String,
    pub(crate) audience: String,
    pub(crate) clients: Vec<(String, String)>,
    pub(crate) default_scope: String,
    pub(crate) lifetime: i64,
    pub(crate) publish_symmetric: bool,
    /// Whether the token endpoint issues opaque tokens instead of JWTs.
    pub(crate) opaque_tokens: bool,
    pub(crate) state: Mutex<Dynamic>,
    pub(crate) jwks_fetches: AtomicUsize,
    pub(crate) jwks_not_modified: AtomicUsize,
    pub(crate) discovery_fetches: AtomicUsize,
    pub(crate) token_requests: AtomicUsize,
    pub(crate) introspection_calls: AtomicUsize,
    /// Every JWKS request received: its URI and headers.
    pub(crate) jwks_requests: Mutex<Vec<RecordedRequest>>,
    /// Resolves (with an error) once the issuer is dropped: the sender lives in the handles.
    pub(crate) stopped: watch::Receiver<()>,
}

/// The state that tests change while the server runs.
pub(crate) struct Dynamic {
    pub(crate) signing: TestKey,
    pub(crate) published: Vec<TestKey>,
    pub(crate) jwks_override: Option<Value>,
    pub(crate) fault: Option<JwksFault>,
    pub(crate) cache_control: Option<String>,
    pub(crate) etag_enabled: bool,
    pub(crate) discovery_issuer: Option<String>,
    /// Opaque tokens issued, by token: their claims, and whether they were revoked.
    pub(crate) opaque: HashMap<String, Opaque>,
    pub(crate) introspection_fault: Option<JwksFault>,
    /// The DPoP proofs the token endpoint accepted within their window, to refuse replays.
    pub(crate) seen_proofs: SeenProofs,
    /// Hash of the last JWKS body served, and the `Last-Modified` second assigned to it.
    last_body_hash: Vec<u8>,
    last_modified: u64,
}

impl Dynamic {
    pub(crate) fn new(signing: TestKey, published: Vec<TestKey>) -> Dynamic {
        Dynamic {
            signing,
            published,
            jwks_override: None,
            fault: None,
            cache_control: Some("max-age=300".into()),
            etag_enabled: true,
            discovery_issuer: None,
            opaque: HashMap::new(),
            introspection_fault: None,
            seen_proofs: SeenProofs::default(),
            last_body_hash: Vec::new(),
            last_modified: 0,
        }
    }

    /// The `Last-Modified` second of `body`: a new body gets a strictly later second than the
    /// previous one, so a change is never hidden by the one-second resolution of HTTP dates.
    fn last_modified_of(&mut self, body: &[u8]) -> u64 {
        let hash = digest::digest(&digest::SHA256, body).as_ref().to_vec();
        if hash != self.last_body_hash {
            let now = u64::try_from(unix_now()).unwrap_or(0);
            self.last_modified = now.max(self.last_modified.saturating_add(1));
            self.last_body_hash = hash;
        }
        self.last_modified
    }
}

/// An opaque token's record: what introspection says about it while it is active.
pub(crate) struct Opaque {
    pub(crate) claims: Map<String, Value>,
    pub(crate) revoked: bool,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Dynamic> {
        // A panic while holding the lock (a failed assertion in a test) must not poison the
        // issuer for the rest of the test.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The JWKS document as built from the published keys (ignoring any override).
    pub(crate) fn built_jwks(&self, state: &Dynamic) -> Value {
        let keys: Vec<Value> = state
            .published
            .iter()
            .filter(|k| self.publish_symmetric || !k.alg().is_symmetric())
            .map(TestKey::public_jwk)
            .collect();
        json!({ "keys": keys })
    }

    /// The JWKS document currently served (the override if one is set).
    pub(crate) fn current_jwks(&self, state: &Dynamic) -> Value {
        match &state.jwks_override {
            Some(doc) => doc.clone(),
            None => self.built_jwks(state),
        }
    }

    pub(crate) fn jwks_url(&self) -> String {
        format!("{}{}/jwks.json", self.base_url, self.path)
    }

    pub(crate) fn token_url(&self) -> String {
        format!("{}{}/token", self.base_url, self.path)
    }

    pub(crate) fn introspection_url(&self) -> String {
        format!("{}{}/introspect", self.base_url, self.path)
    }

    pub(crate) fn revocation_url(&self) -> String {
        format!("{}{}/revoke", self.base_url, self.path)
    }

    /// Stores `claims` under a new random opaque token and returns the token: 32 random
    /// bytes in base64url (43 characters, an RFC 6750 `b64token`, never three segments).
    pub(crate) fn issue_opaque(&self, claims: Value) -> String {
        let mut bytes = [0u8; 32];
        aws_lc_rs::rand::fill(&mut bytes).expect("the system random generator works");
        let token = b64url(&bytes);
        let claims = match claims {
            Value::Object(map) => map,
            other => panic!("opaque token claims must be a JSON object, not {other}"),
        };
        self.lock().opaque.insert(
            token.clone(),
            Opaque {
                claims,
                revoked: false,
            },
        );
        token
    }

    /// A token builder for the current signing key with this issuer's `iss`, `aud` and lifetime.
    pub(crate) fn token(&self) -> TokenBuilder {
        let signing = self.lock().signing.clone();
        TokenBuilder::new(&signing)
            .issuer(&self.issuer)
            .audience(&self.audience)
            .expires_in(self.lifetime)
    }

    /// Waits until the issuer is dropped.
    async fn until_stopped(&self) {
        let mut stopped = self.stopped.clone();
        // `changed` only fails once the sender is gone; nothing is ever sent.
        while stopped.changed().await.is_ok() {}
    }
}

/// The routes, with the issuer's path prefix applied.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let prefix = shared.path.clone();
    Router::new()
        // OpenID Connect Discovery 1.0: appended to the issuer.
        .route(
            &format!("{prefix}/.well-known/openid-configuration"),
            get(discovery),
        )
        // RFC 8414 section 3.1: inserted between the host and the issuer's path.
        .route(
            &format!("/.well-known/oauth-authorization-server{prefix}"),
            get(discovery),
        )
        .route(&format!("{prefix}/jwks.json"), get(jwks))
        .route(
            &format!("{prefix}/token"),
            post(token_with_cors).options(token_preflight),
        )
        .route(&format!("{prefix}/introspect"), post(introspect))
        .route(&format!("{prefix}/revoke"), post(revoke))
        .with_state(shared)
}

async fn discovery(State(shared): State<Arc<Shared>>) -> Response {
    shared.discovery_fetches.fetch_add(1, Ordering::SeqCst);
    let (issuer, mut algs) = {
        let state = shared.lock();
        let issuer = state
            .discovery_issuer
            .clone()
            .unwrap_or_else(|| shared.issuer.clone());
        let mut algs: Vec<&'static str> = state
            .published
            .iter()
            .chain(std::iter::once(&state.signing))
            .map(|k| k.alg().as_str())
            .collect();
        algs.sort_unstable();
        algs.dedup();
        (issuer, algs)
    };
    if algs.is_empty() {
        algs.push("RS256");
    }
    let doc = json!({
        "issuer": issuer,
        "jwks_uri": shared.jwks_url(),
        "token_endpoint": shared.token_url(),
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "introspection_endpoint": shared.introspection_url(),
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint": shared.revocation_url(),
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "id_token_signing_alg_values_supported": algs,
        // RFC 9449 section 5.1: the proof algorithms the token endpoint accepts.
        "dpop_signing_alg_values_supported": DPOP_ALGS,
    });
    json_response(StatusCode::OK, &doc)
}

fn json_response(status: StatusCode, doc: &Value) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        doc.to_string(),
    )
        .into_response()
}

async fn jwks(
    State(shared): State<Arc<Shared>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Response {
    shared.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    let recorded = RecordedRequest {
        uri: uri.to_string(),
        headers: headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
    };
    shared
        .jwks_requests
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(recorded);
    let fault = shared.lock().fault.clone();
    let mut pad_to = None;
    let mut empty = false;
    match fault {
        None => {}
        Some(JwksFault::Status(code)) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return (status, "injected fault\n").into_response();
        }
        Some(JwksFault::Hang) => {
            shared.until_stopped().await;
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
        Some(JwksFault::Delay(delay)) => {
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = shared.until_stopped() => {
                    return StatusCode::SERVICE_UNAVAILABLE.into_response();
                }
            }
        }
        Some(JwksFault::Garbage) => {
            return (
                StatusCode::OK,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                "<html><body>this is not JSON {\"keys\": [</body></html>",
            )
                .into_response();
        }
        Some(JwksFault::RedirectTo(location)) => {
            let location =
                HeaderValue::from_str(&location).unwrap_or_else(|_| HeaderValue::from_static("/"));
            return (StatusCode::FOUND, [(header::LOCATION, location)]).into_response();
        }
        Some(JwksFault::Oversize(size)) => pad_to = Some(size),
        Some(JwksFault::EmptyKeys) => empty = true,
    }

    let mut state = shared.lock();
    let doc = if empty {
        json!({ "keys": [] })
    } else {
        shared.current_jwks(&state)
    };
    let mut body = doc.to_string();
    if let Some(size) = pad_to {
        pad(&mut body, size);
    }
    let mut response_headers = HeaderMap::new();
    response_headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(value) = state
        .cache_control
        .as_deref()
        .and_then(|v| HeaderValue::from_str(v).ok())
    {
        response_headers.insert(header::CACHE_CONTROL, value);
    }
    if state.etag_enabled {
        let etag = strong_etag(body.as_bytes());
        let last_modified = state.last_modified_of(body.as_bytes());
        drop(state);
        let not_modified = match headers.get(header::IF_NONE_MATCH) {
            // RFC 9110 section 13.2.2: If-None-Match wins over If-Modified-Since.
            Some(value) => if_none_match_hits(value, &etag),
            None => headers
                .get(header::IF_MODIFIED_SINCE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| httpdate::parse_http_date(v).ok())
                .and_then(|since| since.duration_since(UNIX_EPOCH).ok())
                .is_some_and(|since| last_modified <= since.as_secs()),
        };
        let http_date = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(last_modified));
        if let Ok(value) = HeaderValue::from_str(&etag) {
            response_headers.insert(header::ETAG, value);
        }
        if let Ok(value) = HeaderValue::from_str(&http_date) {
            response_headers.insert(header::LAST_MODIFIED, value);
        }
        if not_modified {
            shared.jwks_not_modified.fetch_add(1, Ordering::SeqCst);
            response_headers.remove(header::CONTENT_TYPE);
            return (StatusCode::NOT_MODIFIED, response_headers).into_response();
        }
    } else {
        drop(state);
    }
    (StatusCode::OK, response_headers, body).into_response()
}

/// Pads a JSON document to `size` bytes: with a `padding` member if it is an object, else with
/// trailing whitespace. A document already at least that long is left alone.
fn pad(body: &mut String, size: usize) {
    const MEMBER: &str = r#","padding":"""#;
    if body.len() >= size {
        return;
    }
    if body.starts_with('{') && body.ends_with('}') && body.len() + MEMBER.len() <= size {
        let filler = size - body.len() - MEMBER.len();
        body.pop();
        if body.len() > 1 {
            body.push_str(r#","padding":""#);
        } else {
            // `{}`: no comma before the first member; one more filler byte instead.
            body.push_str(r#""padding":"x"#);
        }
        body.extend(std::iter::repeat_n('x', filler));
        body.push_str("\"}");
    } else {
        let filler = size - body.len();
        body.extend(std::iter::repeat_n(' ', filler));
    }
}

fn strong_etag(body: &[u8]) -> String {
    let hash = digest::digest(&digest::SHA256, body);
    let hex: String = hash
        .as_ref()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("\"{hex}\"")
}

/// Weak comparison (RFC 9110 section 13.1.2) of an `If-None-Match` list against our ETag.
fn if_none_match_hits(value: &HeaderValue, etag: &str) -> bool {
    let Ok(value) = value.to_str() else {
        return false;
    };
    value.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == etag
    })
}

fn oauth_error(status: StatusCode, error: &str) -> Response {
    let mut response = json_response(status, &json!({ "error": error }));
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if status == StatusCode::UNAUTHORIZED {
        headers.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"portcullis-testkit\""),
        );
    }
    response
}

/// The asymmetric algorithms portcullis-core verifies: those the token endpoint accepts in a
/// DPoP proof.
const DPOP_ALGS: [&str; 10] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
];

/// The request headers a browser on another origin may send to the token endpoint.
const TOKEN_CORS_HEADERS: &str = "authorization, content-type, dpop";

/// CORS preflight (Fetch standard, "CORS protocol") of the token endpoint, for a browser
/// client on any origin: `POST` with `Authorization`, `Content-Type` and `DPoP`. No
/// credentials mode: the client authenticates with its secret, not with cookies.
async fn token_preflight() -> Response {
    (
        StatusCode::NO_CONTENT,
        [
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
            (header::ACCESS_CONTROL_ALLOW_METHODS, "POST"),
            (header::ACCESS_CONTROL_ALLOW_HEADERS, TOKEN_CORS_HEADERS),
            (header::ACCESS_CONTROL_MAX_AGE, "600"),
        ],
    )
        .into_response()
}

/// The token endpoint, its answers (refusals included) readable by a page on any origin.
async fn token_with_cors(shared: State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let mut response = token(shared, &headers, &body);
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

/// The DPoP proof of a token request (RFC 9449 section 5): the thumbprint of its key when
/// there is one good proof, `None` without a `DPoP` header, or why the proof is refused.
fn token_proof(shared: &Shared, headers: &HeaderMap) -> Result<Option<String>, String> {
    let mut proofs = headers.get_all("dpop").iter();
    let Some(proof) = proofs.next() else {
        return Ok(None);
    };
    if proofs.next().is_some() {
        return Err("more than one DPoP header".into());
    }
    let proof = proof.to_str().map_err(|_| "the DPoP header is not ASCII")?;
    let now = unix_now();
    let accepted = proof_check::check(proof, "POST", &shared.token_url(), now)?;
    if !shared.lock().seen_proofs.first_use(&accepted, now) {
        return Err("the proof was used before".into());
    }
    Ok(Some(accepted.jkt))
}

/// `400 invalid_dpop_proof` (RFC 9449 section 5), with the reason as `error_description`.
fn invalid_dpop_proof(reason: &str) -> Response {
    let mut response = json_response(
        StatusCode::BAD_REQUEST,
        &json!({ "error": "invalid_dpop_proof", "error_description": reason }),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn token(State(shared): State<Arc<Shared>>, headers: &HeaderMap, body: &[u8]) -> Response {
    shared.token_requests.fetch_add(1, Ordering::SeqCst);
    let Some(form) = parse_form(body) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    let param = |name: &str| field(&form, name);
    let client_id = match authenticate(&shared, headers, &form) {
        Ok(client_id) => client_id,
        Err((status, code)) => return oauth_error(status, code),
    };

    match param("grant_type") {
        Some("client_credentials") => {}
        Some(_) => return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type"),
        None => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request"),
    }
    let scope = param("scope")
        .filter(|s| !s.trim().is_empty())
        .unwrap_or(&shared.default_scope)
        .to_owned();
    let jkt = match token_proof(&shared, headers) {
        Ok(jkt) => jkt,
        Err(reason) => return invalid_dpop_proof(&reason),
    };

    let mut minted = shared
        .token()
        .subject(&client_id)
        .claim("client_id", Value::from(client_id.as_str()))
        .scope(&scope);
    if let Some(jkt) = &jkt {
        // RFC 9449 section 6.1: the token is bound to the proof's key.
        minted = minted.claim("cnf", json!({ "jkt": jkt }));
    }
    let token_type = if jkt.is_some() { "DPoP" } else { "Bearer" };
    let access_token = if shared.opaque_tokens {
        // Introspection tells the token's type (RFC 9449 section 6.2).
        shared.issue_opaque(
            minted
                .claim("token_type", Value::from(token_type))
                .claims_json(),
        )
    } else {
        minted.sign()
    };
    let mut response = json_response(
        StatusCode::OK,
        &json!({
            "access_token": access_token,
            "token_type": token_type,
            "expires_in": shared.lifetime,
            "scope": scope,
        }),
    );
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The client of a request to the token, introspection or revocation endpoint, authenticated
/// with `client_secret_basic` or `client_secret_post` (RFC 6749 section 2.3.1), or the
/// refusal to send: `400 invalid_request` for both methods at once, `401 invalid_client`
/// for missing or unknown credentials (the status and error code, for [`oauth_error`]).
fn authenticate(
    shared: &Shared,
    headers: &HeaderMap,
    form: &[(String, String)],
) -> Result<String, (StatusCode, &'static str)> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_basic);
    let in_form = field(form, "client_secret").is_some();
    let credentials = match (basic, in_form) {
        // RFC 6749 section 2.3: a client must not use more than one authentication method.
        (Some(_), true) => return Err((StatusCode::BAD_REQUEST, "invalid_request")),
        (Some(pair), false) => Some(pair),
        (None, true) => field(form, "client_id")
            .zip(field(form, "client_secret"))
            .map(|(id, secret)| (id.to_owned(), secret.to_owned())),
        (None, false) => None,
    };
    let Some((client_id, secret)) = credentials else {
        return Err((StatusCode::UNAUTHORIZED, "invalid_client"));
    };
    let known = shared
        .clients
        .iter()
        .any(|(id, s)| *id == client_id && *s == secret);
    if known {
        Ok(client_id)
    } else {
        Err((StatusCode::UNAUTHORIZED, "invalid_client"))
    }
}

/// RFC 7662: what the server knows about a token, for an authenticated client. Opaque tokens
/// it issued are `active` until revoked or expired (by the system clock), with their claims
/// and `token_type` `Bearer`; any other token, JWTs included, is `{"active": false}`.
async fn introspect(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.introspection_calls.fetch_add(1, Ordering::SeqCst);
    let fault = shared.lock().introspection_fault.clone();
    if let Some(response) = injected(&shared, fault).await {
        return response;
    }
    let Some(form) = parse_form(&body) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    if let Err((status, code)) = authenticate(&shared, &headers, &form) {
        return oauth_error(status, code);
    }
    let Some(token) = field(&form, "token") else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    let now = unix_now();
    let doc = {
        let state = shared.lock();
        match state.opaque.get(token) {
            Some(record)
                if !record.revoked
                    && record
                        .claims
                        .get("exp")
                        .and_then(Value::as_f64)
                        .is_none_or(|exp| exp > now as f64) =>
            {
                let mut doc = record.claims.clone();
                doc.insert("active".into(), Value::Bool(true));
                doc.entry("token_type")
                    .or_insert_with(|| Value::from("Bearer"));
                Value::Object(doc)
            }
            _ => json!({ "active": false }),
        }
    };
    let mut response = json_response(StatusCode::OK, &doc);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// RFC 7009: revokes an opaque token this server issued; `200` whatever the token (section
/// 2.2: an unknown token is not an error).
async fn revoke(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(form) = parse_form(&body) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    if let Err((status, code)) = authenticate(&shared, &headers, &form) {
        return oauth_error(status, code);
    }
    let Some(token) = field(&form, "token") else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    if let Some(record) = shared.lock().opaque.get_mut(token) {
        record.revoked = true;
    }
    StatusCode::OK.into_response()
}

/// The answer of an injected fault, if it replaces the normal one (after waiting, for
/// `Delay`). `Oversize` and `EmptyKeys` only make sense for a JWKS: answered normally.
async fn injected(shared: &Shared, fault: Option<JwksFault>) -> Option<Response> {
    match fault? {
        JwksFault::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            Some((status, "injected fault\n").into_response())
        }
        JwksFault::Hang => {
            shared.until_stopped().await;
            Some(StatusCode::SERVICE_UNAVAILABLE.into_response())
        }
        JwksFault::Delay(delay) => {
            tokio::select! {
                () = tokio::time::sleep(delay) => None,
                () = shared.until_stopped() => Some(StatusCode::SERVICE_UNAVAILABLE.into_response()),
            }
        }
        JwksFault::Garbage => Some(
            (
                StatusCode::OK,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                "<html><body>this is not JSON {\"active\": tr</body></html>",
            )
                .into_response(),
        ),
        JwksFault::RedirectTo(location) => {
            let location =
                HeaderValue::from_str(&location).unwrap_or_else(|_| HeaderValue::from_static("/"));
            Some((StatusCode::FOUND, [(header::LOCATION, location)]).into_response())
        }
        JwksFault::Oversize(_) | JwksFault::EmptyKeys => None,
    }
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 section 2.3.1).
fn parse_basic(value: &str) -> Option<(String, String)> {
    let (scheme, rest) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((percent_decode(id)?, percent_decode(secret)?))
}

/// Parses `application/x-www-form-urlencoded`. `None` on bad encoding or a repeated parameter
/// (RFC 6749 section 3.2: parameters must not be included more than once).
fn parse_form(body: &[u8]) -> Option<Vec<(String, String)>> {
    let body = std::str::from_utf8(body).ok()?;
    let mut pairs: Vec<(String, String)> = Vec::new();
    for part in body.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = part.split_once('=').unwrap_or((part, ""));
        let name = percent_decode(name)?;
        let value = percent_decode(value)?;
        if pairs.iter().any(|(n, _)| *n == name) {
            return None;
        }
        pairs.push((name, value));
    }
    Some(pairs)
}

fn percent_decode(text: &str) -> Option<String> {
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = char::from(bytes.next()?).to_digit(16)?;
                let lo = char::from(bytes.next()?).to_digit(16)?;
                out.push(u8::try_from(hi * 16 + lo).ok()?);
            }
            other => out.push(other),
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_reaches_the_exact_size_and_stays_json() {
        for base in [r#"{"keys":[]}"#, "{}", "[]"] {
            for size in [0, 5, 40, 1000] {
                let mut body = base.to_owned();
                pad(&mut body, size);
                assert_eq!(body.len(), size.max(base.len()), "{base} {size}");
                serde_json::from_str::<Value>(&body).unwrap();
            }
        }
    }

    #[test]
    fn forms_decode_and_refuse_repeats() {
        let form = parse_form(b"grant_type=client_credentials&scope=read+write%21").unwrap();
        assert_eq!(form[1], ("scope".into(), "read write!".into()));
        assert!(parse_form(b"a=1&a=2").is_none());
        assert!(parse_form(b"a=%zz").is_none());
    }

    #[test]
    fn if_none_match_uses_weak_comparison() {
        let etag = "\"abc\"";
        assert!(if_none_match_hits(
            &HeaderValue::from_static("\"x\", W/\"abc\""),
            etag
        ));
        assert!(if_none_match_hits(&HeaderValue::from_static("*"), etag));
        assert!(!if_none_match_hits(
            &HeaderValue::from_static("\"abd\""),
            etag
        ));
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let header = format!(
            "basic {}",
            base64::engine::general_purpose::STANDARD.encode("client%3A1:s+cret")
        );
        assert_eq!(
            parse_basic(&header),
            Some(("client:1".into(), "s cret".into()))
        );
    }
}
