//! The attack suite's target and helpers, shared by the `attacks_*` test files: one protected
//! API (an axum API on 127.0.0.1:0 protected by `Portcullis::builder()` against a testkit
//! issuer), and the same rules through the core API.
//!
//! Tokens are minted with the issuer's real keys (forgeries with the attacker's own key), so a
//! refusal can only come from the check under test. Tokens are never printed: a failing case
//! names itself by what it tries.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use base64::Engine as _;
use portcullis::Portcullis;
use portcullis::jwt::{
    Algorithm, AlgorithmSet, AuthError, Claims, ErrorKind, KeySet, TypPolicy, Validator,
    ValidatorBuilder,
};
use portcullis::layer::BearerAuthLayer;
use portcullis_testkit::{TestIssuer, TestKey, TokenBuilder, serve, tamper};
use serde_json::Value;

pub const REALM: &str = "attacks";
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// What the layer answered: the status and the challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub www_authenticate: Option<String>,
}

impl Answer {
    pub fn ok() -> Self {
        Answer {
            status: 200,
            www_authenticate: None,
        }
    }

    /// 401 `invalid_token`: the answer to every token refused for what it is.
    pub fn invalid_token() -> Self {
        Answer {
            status: 401,
            www_authenticate: Some(format!(r#"Bearer realm="{REALM}", error="invalid_token""#)),
        }
    }

    /// 400 `invalid_request`: the credential is not even an RFC 6750 `b64token`.
    pub fn invalid_request() -> Self {
        Answer {
            status: 400,
            www_authenticate: Some(format!(
                r#"Bearer realm="{REALM}", error="invalid_request""#
            )),
        }
    }
}

/// An axum API on loopback behind `Portcullis`, trusting `idp`, and a core `Validator` with the
/// same rules over the keys the issuer publishes.
pub struct Target {
    pub idp: TestIssuer,
    pub base: String,
    pub http: reqwest::Client,
    pub rules: Validator,
    pub allowed: AlgorithmSet,
}

/// The settings a target differs by.
#[derive(Clone, Copy)]
pub struct Setup<'a> {
    /// The allowlist; empty: the default (asymmetric only). HS* here turns on
    /// `danger_allow_symmetric_keys`, as a deployment accepting them must.
    pub algorithms: &'a [Algorithm],
    pub typ: TypPolicy,
}

pub const DEFAULTS: Setup<'static> = Setup {
    algorithms: &[],
    typ: TypPolicy::AccessTokenOrJwt,
};

impl Target {
    pub async fn start(idp: &TestIssuer) -> Target {
        Target::start_with(idp, DEFAULTS).await
    }

    pub async fn start_with(idp: &TestIssuer, setup: Setup<'_>) -> Target {
        let mut builder = Portcullis::builder()
            .issuer(idp.issuer())
            .audience("api")
            .typ(setup.typ)
            .realm(REALM);
        let mut rules = Validator::builder()
            .issuer(idp.issuer())
            .audience("api")
            .typ(setup.typ);
        let mut allowed = AlgorithmSet::ASYMMETRIC;
        if !setup.algorithms.is_empty() {
            allowed = setup.algorithms.iter().copied().collect();
            builder = builder.algorithms(setup.algorithms.iter().copied());
            rules = rules.algorithms(setup.algorithms.iter().copied());
            if allowed.has_symmetric() {
                builder = builder.danger_allow_symmetric_keys();
            }
        }
        let auth = builder.build().await.unwrap();
        Target {
            idp: idp.clone(),
            base: serve(protected(&auth)).await,
            http: reqwest::Client::new(),
            rules: rules.build().unwrap(),
            allowed,
        }
    }

    /// The keys the issuer publishes now, loaded as the key source loads them.
    pub fn keys(&self) -> KeySet {
        KeySet::from_jwks(&self.idp.jwks_json().to_string(), self.allowed)
            .unwrap()
            .keys
    }

    pub fn core(&self, token: &str) -> Result<Claims, AuthError> {
        self.rules.validate(token, &self.keys())
    }

    pub async fn answer(&self, token: &str) -> Answer {
        bearer(&self.http, &format!("{}/me", self.base), token).await
    }

    /// The core refuses the token with `kind`, and the layer answers `expected`.
    pub async fn refuses_with(&self, what: &str, token: &str, kind: ErrorKind, expected: Answer) {
        match self.core(token) {
            Ok(_) => panic!("{what}: accepted by the core"),
            Err(e) => assert_eq!(e.kind(), &kind, "{what}: core"),
        }
        assert_eq!(self.answer(token).await, expected, "{what}: layer");
    }

    /// The core refuses the token with `kind`, and the layer answers 401 `invalid_token`.
    pub async fn refuses(&self, what: &str, token: &str, kind: ErrorKind) {
        self.refuses_with(what, token, kind, Answer::invalid_token())
            .await;
    }

    pub async fn accepts(&self, what: &str, token: &str) {
        if let Err(e) = self.core(token) {
            panic!("{what}: refused by the core: {e}");
        }
        assert_eq!(self.answer(token).await, Answer::ok(), "{what}: layer");
    }

    /// A token of this issuer signed by `key` (the issuer's own or an attacker's).
    pub fn signed_by(&self, key: &TestKey) -> TokenBuilder {
        TokenBuilder::new(key).issuer(&self.idp.issuer())
    }

    /// The header and claims the issuer's signing key would sign now, as JSON text, for
    /// tokens whose exact bytes a test writes itself.
    pub fn raw_parts(&self) -> (Value, Value) {
        let b = self.idp.token();
        (b.header_json(), b.claims_json())
    }
}

/// `/me` behind the layer (on `route_layer`, so that unknown paths stay 404).
pub fn protected(auth: &BearerAuthLayer) -> Router {
    Router::new()
        .route("/me", get(|| async { "ok" }))
        .route_layer(auth.clone())
}

pub async fn bearer(http: &reqwest::Client, url: &str, token: &str) -> Answer {
    let res = http
        .get(url)
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    if status != 200 {
        assert_eq!(
            res.headers()
                .get("cache-control")
                .map(|v| v.to_str().unwrap()),
            Some("no-store"),
            "every refusal is no-store"
        );
    }
    Answer {
        status,
        www_authenticate: res
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned()),
    }
}

/// A JSON object's text with `members` written first, by hand (so they may repeat a name).
pub fn object_with(first: &str, rest: &Value) -> String {
    let rest = rest.to_string();
    let inner = rest.strip_prefix('{').unwrap();
    if inner == "}" {
        format!("{{{first}}}")
    } else {
        format!("{{{first},{inner}")
    }
}

/// A loopback HTTP server that counts every request it gets and answers 404: the place a
/// smuggled URL points at, to prove that nothing ever fetches it.
pub async fn trap() -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let app = Router::new()
        .fallback(|State(hits): State<Arc<AtomicUsize>>| async move {
            hits.fetch_add(1, Ordering::SeqCst);
            StatusCode::NOT_FOUND
        })
        .with_state(Arc::clone(&hits));
    (serve(app).await, hits)
}

pub fn b64url_decode(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .unwrap()
}

pub fn rules_for(idp: &TestIssuer) -> ValidatorBuilder {
    Validator::builder().issuer(idp.issuer()).audience("api")
}

/// The token's own `iat`, to set an injected clock by.
pub fn issued_at(token: &str) -> i64 {
    let (_, payload, _) = tamper::parts(token);
    serde_json::from_str::<Value>(&payload).unwrap()["iat"]
        .as_i64()
        .unwrap()
}
