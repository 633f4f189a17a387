// Test code: a failed unwrap, expect, panic or index is a failed test, not a crash an attacker
// can cause.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The attack suite of the security manual (`portcullis::manual`): every threat it lists, driven
//! through the real layer over HTTP (an axum API on 127.0.0.1:0 protected by
//! `Portcullis::builder()` against a testkit issuer) with the exact answer asserted (status and
//! `WWW-Authenticate`), and through the core API with the `AuthError` kind asserted.
//!
//! Tokens are minted with the issuer's real keys (forgeries with the attacker's own key), so a
//! refusal can only come from the check under test. Tokens are never printed: a failing case
//! names itself by what it tries.

use std::borrow::Cow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use portcullis::jwt::{
    Algorithm, AlgorithmSet, AuthError, Claims, ErrorKind, KeyErrorKind, KeySet, MalformedPart,
    ManualClock, TypPolicy, Validator, ValidatorBuilder, VerifyingKey,
};
use portcullis::keys::{
    DEFAULT_UNKNOWN_KID_BUDGET, JwtVerifier, RemoteJwks, SourceError, SourceErrorKind,
};
use portcullis::layer::{Answers, BearerAuthLayer};
use portcullis::{ConfigError, ConfigErrorKind, Portcullis};
use portcullis_testkit::{JwksFault, TestIssuer, TestKey, TokenBuilder, b64url, tamper};
use serde_json::{Value, json};

const REALM: &str = "attacks";
const MAX_TOKEN_LEN: usize = 8 * 1024;

// ---------------------------------------------------------------------------------------------
// The target: one protected API, and the same rules through the core API
// ---------------------------------------------------------------------------------------------

/// What the layer answered: the status and the challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Answer {
    status: u16,
    www_authenticate: Option<String>,
}

impl Answer {
    fn ok() -> Self {
        Answer {
            status: 200,
            www_authenticate: None,
        }
    }

    /// 401 `invalid_token`: the answer to every token refused for what it is.
    fn invalid_token() -> Self {
        Answer {
            status: 401,
            www_authenticate: Some(format!(r#"Bearer realm="{REALM}", error="invalid_token""#)),
        }
    }

    /// 400 `invalid_request`: the credential is not even an RFC 6750 `b64token`.
    fn invalid_request() -> Self {
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
struct Target {
    idp: TestIssuer,
    base: String,
    http: reqwest::Client,
    rules: Validator,
    allowed: AlgorithmSet,
}

/// The settings a target differs by.
#[derive(Clone, Copy)]
struct Setup<'a> {
    /// The allowlist; empty: the default (asymmetric only). HS* here turns on
    /// `danger_allow_symmetric_keys`, as a deployment accepting them must.
    algorithms: &'a [Algorithm],
    typ: TypPolicy,
}

const DEFAULTS: Setup<'static> = Setup {
    algorithms: &[],
    typ: TypPolicy::AccessTokenOrJwt,
};

impl Target {
    async fn start(idp: &TestIssuer) -> Target {
        Target::start_with(idp, DEFAULTS).await
    }

    async fn start_with(idp: &TestIssuer, setup: Setup<'_>) -> Target {
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
    fn keys(&self) -> KeySet {
        KeySet::from_jwks(&self.idp.jwks_json().to_string(), self.allowed)
            .unwrap()
            .keys
    }

    fn core(&self, token: &str) -> Result<Claims, AuthError> {
        self.rules.validate(token, &self.keys())
    }

    async fn answer(&self, token: &str) -> Answer {
        bearer(&self.http, &format!("{}/me", self.base), token).await
    }

    /// The core refuses the token with `kind`, and the layer answers `expected`.
    async fn refuses_with(&self, what: &str, token: &str, kind: ErrorKind, expected: Answer) {
        match self.core(token) {
            Ok(_) => panic!("{what}: accepted by the core"),
            Err(e) => assert_eq!(e.kind(), &kind, "{what}: core"),
        }
        assert_eq!(self.answer(token).await, expected, "{what}: layer");
    }

    /// The core refuses the token with `kind`, and the layer answers 401 `invalid_token`.
    async fn refuses(&self, what: &str, token: &str, kind: ErrorKind) {
        self.refuses_with(what, token, kind, Answer::invalid_token())
            .await;
    }

    async fn accepts(&self, what: &str, token: &str) {
        if let Err(e) = self.core(token) {
            panic!("{what}: refused by the core: {e}");
        }
        assert_eq!(self.answer(token).await, Answer::ok(), "{what}: layer");
    }

    /// A token of this issuer signed by `key` (the issuer's own or an attacker's).
    fn signed_by(&self, key: &TestKey) -> TokenBuilder {
        TokenBuilder::new(key).issuer(&self.idp.issuer())
    }

    /// The header and claims the issuer's signing key would sign now, as JSON text, for
    /// tokens whose exact bytes a test writes itself.
    fn raw_parts(&self) -> (Value, Value) {
        let b = self.idp.token();
        (b.header_json(), b.claims_json())
    }
}

/// `/me` behind the layer (on `route_layer`, so that unknown paths stay 404).
fn protected(auth: &BearerAuthLayer) -> Router {
    Router::new()
        .route("/me", get(|| async { "ok" }))
        .route_layer(auth.clone())
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

async fn bearer(http: &reqwest::Client, url: &str, token: &str) -> Answer {
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
fn object_with(first: &str, rest: &Value) -> String {
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
async fn trap() -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let app = Router::new()
        .fallback(|State(hits): State<Arc<AtomicUsize>>| async move {
            hits.fetch_add(1, Ordering::SeqCst);
            StatusCode::NOT_FOUND
        })
        .with_state(Arc::clone(&hits));
    (serve(app).await, hits)
}

fn unhex(hex: &str) -> Vec<u8> {
    assert_eq!(hex.len() % 2, 0);
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

fn b64url_decode(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .unwrap()
}

fn signature_of(token: &str) -> Vec<u8> {
    b64url_decode(token.rsplit_once('.').unwrap().1)
}

/// The source of a `ConfigError`, as the key source reported it.
fn source_kind(error: &ConfigError) -> SourceErrorKind {
    std::error::Error::source(error)
        .and_then(|e| e.downcast_ref::<SourceError>())
        .unwrap_or_else(|| panic!("not a key-source error: {error}"))
        .kind()
        .clone()
}

// ---------------------------------------------------------------------------------------------
// Algorithms
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn alg_none_is_refused_in_every_spelling_signed_or_not() {
    let idp = TestIssuer::start().await;
    let t = Target::start(&idp).await;
    for alg in [
        "none", "None", "NONE", "nOnE", "none ", " none", "none\0", "NONE\n", "",
    ] {
        let signed = idp.token().header("alg", json!(alg)).sign();
        t.refuses(
            &format!("{alg:?} with the real signature"),
            &signed,
            ErrorKind::UnsupportedAlgorithm,
        )
        .await;
        t.refuses(
            &format!("{alg:?} with one junk byte of signature"),
            &tamper::with_signature(&signed, b"\0"),
            ErrorKind::UnsupportedAlgorithm,
        )
        .await;
        // The unsecured JWS shape (RFC 7519 section 6): an empty signature segment.
        t.refuses(
            &format!("{alg:?} unsigned"),
            &tamper::strip_signature(&signed),
            ErrorKind::Malformed(MalformedPart::Signature),
        )
        .await;
    }
    // Spelled with JSON escapes it is still the name `none`.
    let (_, claims) = t.raw_parts();
    let escaped = TokenBuilder::sign_raw(
        &idp.signing_key(),
        r#"{"alg":"\u006eone","typ":"at+jwt","kid":"rsa-1"}"#,
        &claims.to_string(),
    );
    t.refuses("escaped none", &escaped, ErrorKind::UnsupportedAlgorithm)
        .await;
    // Without a usable `alg` there is nothing to check the signature with.
    for (what, alg) in [
        ("null", json!(null)),
        ("a number", json!(0)),
        ("a list", json!(["RS256"])),
        ("an object", json!({"name": "RS256"})),
    ] {
        let token = idp.token().header("alg", alg).sign();
        t.refuses(
            &format!("alg as {what}"),
            &token,
            ErrorKind::Malformed(MalformedPart::Header),
        )
        .await;
    }
    let token = idp.token().remove_header("alg").sign();
    t.refuses(
        "no alg",
        &token,
        ErrorKind::Malformed(MalformedPart::Header),
    )
    .await;
}

/// Every form in which an RSA public key is commonly handled, as the bytes an attacker would
/// try as an HMAC secret.
fn rsa_public_key_encodings(key: &TestKey) -> Vec<(&'static str, Vec<u8>)> {
    let pem = key.public_pem();
    let der = key.public_spki_der();
    // A 2048-bit RSA SubjectPublicKeyInfo is a fixed 24-byte prefix, then the PKCS#1 key.
    assert_eq!(der[..4], [0x30, 0x82, 0x01, 0x22]);
    let pkcs1 = der[24..].to_vec();
    let jwk = key.public_jwk();
    let n = jwk["n"].as_str().unwrap().to_owned();
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    vec![
        ("PEM as published", pem.clone().into_bytes()),
        ("PEM without surrounding whitespace", pem.trim().into()),
        ("PEM with CRLF line ends", pem.replace('\n', "\r\n").into()),
        ("PEM body without its armour", body.into_bytes()),
        ("SubjectPublicKeyInfo DER", der),
        ("PKCS#1 RSAPublicKey DER", pkcs1),
        ("JWK JSON", jwk.to_string().into_bytes()),
        (
            "JWK JSON, pretty",
            serde_json::to_string_pretty(&jwk).unwrap().into_bytes(),
        ),
        ("raw modulus bytes", b64url_decode(&n)),
        ("modulus as base64url text", n.into_bytes()),
    ]
}

fn ec_public_key_encodings(key: &TestKey) -> Vec<(&'static str, Vec<u8>)> {
    let pem = key.public_pem();
    let der = key.public_spki_der();
    let jwk = key.public_jwk();
    // The SEC 1 uncompressed point ends the SubjectPublicKeyInfo: 0x04 || x || y.
    let point = der[der.len() - 65..].to_vec();
    assert_eq!(point[0], 0x04);
    vec![
        ("PEM as published", pem.clone().into_bytes()),
        ("PEM without surrounding whitespace", pem.trim().into()),
        ("SubjectPublicKeyInfo DER", der),
        ("JWK JSON", jwk.to_string().into_bytes()),
        ("raw uncompressed point", point),
        (
            "raw x coordinate",
            b64url_decode(jwk["x"].as_str().unwrap()),
        ),
    ]
}

#[tokio::test]
async fn hs256_keyed_with_a_published_public_key_is_refused_in_every_encoding() {
    let rsa = TestKey::generate(Algorithm::RS256).with_kid("rsa-1");
    let ec = TestKey::generate(Algorithm::ES256).with_kid("ec-1");
    let idp = TestIssuer::builder()
        .key(rsa.clone())
        .key(ec.clone())
        .start()
        .await;
    // A deployment that also accepts HS256 (its secrets would come from elsewhere): the
    // published public keys are bound to their own algorithms and never verify HS256.
    let lenient = Target::start_with(
        &idp,
        Setup {
            algorithms: &[Algorithm::RS256, Algorithm::ES256, Algorithm::HS256],
            ..DEFAULTS
        },
    )
    .await;
    // The default deployment does not accept HS* at all.
    let strict = Target::start(&idp).await;
    let cases = rsa_public_key_encodings(&rsa)
        .into_iter()
        .map(|(what, secret)| (&rsa, what, secret))
        .chain(
            ec_public_key_encodings(&ec)
                .into_iter()
                .map(|(what, secret)| (&ec, what, secret)),
        );
    for (public, what, secret) in cases {
        let forger = TestKey::hmac(Algorithm::HS256, &secret).with_kid(public.kid());
        let what = format!("{} key, {what}", public.alg());
        let forged = lenient.signed_by(&forger).sign();
        lenient
            .refuses(
                &what,
                &forged,
                ErrorKind::KeyAlgorithmMismatch(Algorithm::HS256),
            )
            .await;
        strict
            .refuses(
                &what,
                &forged,
                ErrorKind::DisallowedAlgorithm(Algorithm::HS256),
            )
            .await;
        // Without a `kid`, no key of the set may verify HS256: nothing is tried.
        let no_kid = lenient.signed_by(&forger).remove_header("kid").sign();
        lenient
            .refuses(&format!("{what}, no kid"), &no_kid, ErrorKind::UnknownKey)
            .await;
    }
    // The real keys still verify their own algorithms.
    lenient
        .accepts("RS256", &lenient.signed_by(&rsa).sign())
        .await;
    lenient
        .accepts("ES256", &lenient.signed_by(&ec).sign())
        .await;
}

#[tokio::test]
async fn a_token_relabelled_with_another_algorithm_of_its_key_type_is_refused() {
    let rsa = TestKey::generate(Algorithm::RS256).with_kid("rsa-1");
    let ec = TestKey::generate(Algorithm::ES256).with_kid("ec-1");
    let ed = TestKey::generate(Algorithm::EdDSA).with_kid("ed-1");
    let idp = TestIssuer::builder()
        .key(rsa.clone())
        .key(ec.clone())
        .key(ed.clone())
        .start()
        .await;
    let t = Target::start(&idp).await;
    // Each JWK says its `alg`: a key is bound to that one algorithm.
    for alg in ["RS384", "RS512", "PS256", "PS384", "PS512"] {
        let token = t.signed_by(&rsa).header("alg", json!(alg)).sign();
        let alg = Algorithm::from_jose(alg).unwrap();
        t.refuses(
            &format!("RS256 relabelled {alg}"),
            &token,
            ErrorKind::KeyAlgorithmMismatch(alg),
        )
        .await;
    }
    for (key, alg) in [(&ec, Algorithm::ES384), (&ec, Algorithm::ES512)] {
        let token = t.signed_by(key).header("alg", json!(alg.as_str())).sign();
        t.refuses(
            &format!("ES256 relabelled {alg}"),
            &token,
            ErrorKind::KeyAlgorithmMismatch(alg),
        )
        .await;
    }
    // `EdDSA` and `Ed25519` (RFC 9864) name the very same signature on an Ed25519 key: the
    // relabelled token is the same algorithm, not a confusion, and verifies.
    let renamed = t.signed_by(&ed).header("alg", json!("Ed25519")).sign();
    t.accepts("EdDSA relabelled with its RFC 9864 name", &renamed)
        .await;
    // Names portcullis does not implement (other curves) are unsupported.
    for (key, alg) in [(&ed, "Ed448"), (&ec, "ES256K"), (&rsa, "RS1")] {
        let token = t.signed_by(key).header("alg", json!(alg)).sign();
        t.refuses(alg, &token, ErrorKind::UnsupportedAlgorithm)
            .await;
    }

    // A JWK without `alg` is bound to its whole family: then the signature itself decides.
    let mut unbound = rsa.public_jwk();
    unbound.as_object_mut().unwrap().remove("alg");
    idp.set_jwks_override(Some(json!({ "keys": [unbound] })));
    let t = Target::start(&idp).await;
    let pss = rsa.clone().with_alg(Algorithm::PS256);
    t.accepts("PS256 with an unbound RSA key", &t.signed_by(&pss).sign())
        .await;
    let relabelled = t.signed_by(&pss).header("alg", json!("RS256")).sign();
    t.refuses(
        "PSS signature relabelled RS256",
        &relabelled,
        ErrorKind::InvalidSignature,
    )
    .await;
    let relabelled = t.signed_by(&rsa).header("alg", json!("PS256")).sign();
    t.refuses(
        "PKCS#1 signature relabelled PS256",
        &relabelled,
        ErrorKind::InvalidSignature,
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// The header: keys, URLs and kid
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn keys_and_urls_smuggled_in_the_header_are_never_used_nor_fetched() {
    let idp = TestIssuer::start().await;
    let t = Target::start(&idp).await;
    let (trap, hits) = trap().await;
    let attacker = TestKey::generate(Algorithm::RS256).with_kid("rsa-1");
    let x5c = base64::engine::general_purpose::STANDARD.encode(attacker.public_spki_der());
    let smuggle = |b: TokenBuilder| {
        b.header("jwk", attacker.public_jwk())
            .header("jku", json!(format!("{trap}/jwks.json")))
            .header("x5u", json!(format!("{trap}/cert.pem")))
            .header("x5c", json!([x5c]))
            .header("x5t#S256", json!(b64url(&[0u8; 32])))
    };
    // The attacker's signature under the real `kid`: verified with the issuer's key.
    t.refuses(
        "attacker key in jwk, real kid",
        &smuggle(t.signed_by(&attacker)).sign(),
        ErrorKind::InvalidSignature,
    )
    .await;
    // No `kid`: the issuer's one RS256 key, still not the attacker's.
    t.refuses(
        "attacker key in jwk, no kid",
        &smuggle(t.signed_by(&attacker)).remove_header("kid").sign(),
        ErrorKind::InvalidSignature,
    )
    .await;
    // The attacker's own `kid`: unknown; the layer's one refetch goes to the configured JWKS.
    let own = attacker.clone().with_kid("attacker-1");
    t.refuses(
        "attacker kid with jku",
        &smuggle(t.signed_by(&own)).sign(),
        ErrorKind::UnknownKey,
    )
    .await;
    // A genuine token carrying the same members is just a genuine token: they are ignored.
    t.accepts("genuine token with jku", &smuggle(idp.token()).sign())
        .await;
    assert_eq!(hits.load(Ordering::SeqCst), 0, "a header URL was fetched");
}

#[tokio::test]
async fn kid_injection_is_only_ever_an_exact_lookup_that_fails() {
    let idp = TestIssuer::start().await;
    let t = Target::start(&idp).await;
    let fetches = idp.jwks_fetches();
    let huge = "k".repeat(4000);
    for kid in [
        "../../../../etc/passwd",
        "/dev/null",
        "file:///etc/passwd",
        "https://attacker.example/jwks.json",
        "' OR '1'='1",
        "rsa-1' --",
        "rsa-1\0",
        "rsa-1 ",
        " rsa-1",
        "RSA-1",
        "rsa-1\n",
        "ключ",
        "🔑",
        "\u{202e}1-asr",
        "",
        &huge,
    ] {
        let token = idp.token().header("kid", json!(kid)).sign();
        t.refuses(&format!("kid {:.40?}", kid), &token, ErrorKind::UnknownKey)
            .await;
    }
    let token = idp.token().header("kid", json!("k".repeat(9000))).sign();
    t.refuses(
        "kid past the size cap",
        &token,
        ErrorKind::TooLarge {
            limit: MAX_TOKEN_LEN,
        },
    )
    .await;
    for kid in [
        json!(null),
        json!(1),
        json!(["rsa-1"]),
        json!({"kid": "rsa-1"}),
    ] {
        let token = idp.token().header("kid", kid.clone()).sign();
        t.refuses(
            &format!("kid {kid}"),
            &token,
            ErrorKind::Malformed(MalformedPart::Header),
        )
        .await;
    }
    // The comparison is of the decoded JSON string: an escaped spelling of the real `kid` is
    // the real `kid`, and the signature still has to verify under it.
    let (_, claims) = t.raw_parts();
    let escaped = TokenBuilder::sign_raw(
        &idp.signing_key(),
        r#"{"alg":"RS256","typ":"at+jwt","kid":"rsa\u002d1"}"#,
        &claims.to_string(),
    );
    t.accepts("escaped real kid", &escaped).await;
    // Each unknown kid may ask for fresh keys, within the budget only.
    assert!(
        idp.jwks_fetches() <= fetches + DEFAULT_UNKNOWN_KID_BUDGET,
        "{} fetches for a flood of unknown kids",
        idp.jwks_fetches() - fetches
    );
}

#[tokio::test]
async fn unknown_crit_members_and_unencoded_payloads_are_refused() {
    let idp = TestIssuer::start().await;
    let t = Target::start(&idp).await;
    let cases: Vec<(&str, TokenBuilder, ErrorKind)> = vec![
        (
            "crit naming a present member",
            idp.token()
                .header("crit", json!(["exp"]))
                .header("exp", json!(1)),
            ErrorKind::UnknownCriticalHeader,
        ),
        (
            "crit naming an absent member",
            idp.token()
                .header("crit", json!(["https://attacker.example/ext"])),
            ErrorKind::UnknownCriticalHeader,
        ),
        (
            "b64 false, declared critical (RFC 7797)",
            idp.token()
                .header("b64", json!(false))
                .header("crit", json!(["b64"])),
            ErrorKind::UnknownCriticalHeader,
        ),
        (
            "b64 false, not declared critical",
            idp.token().header("b64", json!(false)),
            ErrorKind::UnknownCriticalHeader,
        ),
        (
            "empty crit",
            idp.token().header("crit", json!([])),
            ErrorKind::Malformed(MalformedPart::Header),
        ),
        (
            "crit as a string",
            idp.token().header("crit", json!("b64")),
            ErrorKind::Malformed(MalformedPart::Header),
        ),
        (
            "crit with a number",
            idp.token().header("crit", json!([1])),
            ErrorKind::Malformed(MalformedPart::Header),
        ),
        (
            "b64 as a string",
            idp.token().header("b64", json!("false")),
            ErrorKind::Malformed(MalformedPart::Header),
        ),
    ];
    for (what, builder, kind) in cases {
        t.refuses(what, &builder.sign(), kind).await;
    }
    // A detached, unencoded payload signed as RFC 7797 says: refused before the signature.
    let key = idp.signing_key();
    let header = b64url(br#"{"alg":"RS256","kid":"rsa-1","b64":false,"crit":["b64"]}"#);
    let payload = t.raw_parts().1.to_string();
    let signature = key.sign(format!("{header}.{payload}").as_bytes());
    let detached = format!("{header}..{}", b64url(&signature));
    t.refuses(
        "RFC 7797 detached",
        &detached,
        ErrorKind::Malformed(MalformedPart::Segments),
    )
    .await;
    // `b64: true` is the default and changes nothing.
    t.accepts("b64 true", &idp.token().header("b64", json!(true)).sign())
        .await;
}

// ---------------------------------------------------------------------------------------------
// Serializations
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn json_serializations_and_jwe_shaped_tokens_are_refused() {
    let idp = TestIssuer::start().await;
    let t = Target::start(&idp).await;
    let good = idp.token().sign();
    let mut segments = good.split('.');
    let (h, p, s) = (
        segments.next().unwrap(),
        segments.next().unwrap(),
        segments.next().unwrap(),
    );
    // JWS JSON serializations (RFC 7515 section 7.2) of the genuine token: not compact, and
    // not even a `b64token`, so the request itself is malformed.
    let general =
        format!(r#"{{"payload":"{p}","signatures":[{{"protected":"{h}","signature":"{s}"}}]}}"#);
    let flattened = format!(r#"{{"payload":"{p}","protected":"{h}","signature":"{s}"}}"#);
    for (what, token) in [("general", &general), ("flattened", &flattened)] {
        t.refuses_with(
            &format!("{what} JSON serialization"),
            token,
            ErrorKind::Malformed(MalformedPart::Segments),
            Answer::invalid_request(),
        )
        .await;
    }
    let jwe_header = b64url(br#"{"alg":"RSA-OAEP-256","enc":"A256GCM","kid":"rsa-1"}"#);
    let dir_header = b64url(br#"{"alg":"dir","enc":"A128CBC-HS256"}"#);
    let blob = |n: usize| b64url(&vec![0x5a; n]);
    for (what, token) in [
        (
            "JSON serialization, base64url as a whole",
            b64url(general.as_bytes()),
        ),
        (
            "JWE, RSA-OAEP (five segments)",
            format!(
                "{jwe_header}.{}.{}.{}.{}",
                blob(256),
                blob(12),
                blob(40),
                blob(16)
            ),
        ),
        (
            "JWE, dir (empty encrypted key)",
            format!("{dir_header}..{}.{}.{}", blob(16), blob(40), blob(16)),
        ),
        (
            "the genuine token with a fourth segment",
            format!("{good}.{s}"),
        ),
        (
            "the genuine token inside a five-segment shape",
            format!("{good}.{s}.{s}"),
        ),
        ("detached payload", format!("{h}..{s}")),
        ("no header", format!(".{p}.{s}")),
    ] {
        t.refuses(what, &token, ErrorKind::Malformed(MalformedPart::Segments))
            .await;
    }
    // A nested JWT (`cty: JWT`): the signed payload is a token, not a claims object.
    let nested = TokenBuilder::sign_raw(
        &idp.signing_key(),
        r#"{"alg":"RS256","kid":"rsa-1","cty":"JWT"}"#,
        &Value::from(good.as_str()).to_string(),
    );
    t.refuses(
        "nested JWT",
        &nested,
        ErrorKind::Malformed(MalformedPart::Payload),
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// Signatures
// ---------------------------------------------------------------------------------------------

/// The group orders of P-256, P-384 and P-521 (SEC 2), big-endian, at the JWS coordinate size.
const P256_N: &str = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";
const P384_N: &str = "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973";
const P521_N: &str = "01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409";

/// `a` then `b`.
fn cat(a: &[u8], b: &[u8]) -> Vec<u8> {
    [a, b].concat()
}

/// `a - b` for big-endian integers of the same length, `a >= b`.
fn sub_be(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; a.len()];
    let mut borrow = 0i16;
    for i in (0..a.len()).rev() {
        let mut d = i16::from(a[i]) - i16::from(b[i]) - borrow;
        borrow = i16::from(d < 0);
        if d < 0 {
            d += 256;
        }
        out[i] = u8::try_from(d).unwrap();
    }
    assert_eq!(borrow, 0);
    out
}

/// An ECDSA signature `r || s` (IEEE P1363) re-encoded as the DER `Ecdsa-Sig-Value` that
/// X.509 and most crypto APIs use.
fn der_signature(p1363: &[u8]) -> Vec<u8> {
    fn push_len(out: &mut Vec<u8>, len: usize) {
        if len < 0x80 {
            out.push(u8::try_from(len).unwrap());
        } else {
            out.push(0x81);
            out.push(u8::try_from(len).unwrap());
        }
    }
    let integer = |v: &[u8]| {
        let start = v.iter().position(|b| *b != 0).unwrap_or(v.len() - 1);
        let v = &v[start..];
        let pad = v[0] & 0x80 != 0;
        let mut out = vec![0x02];
        push_len(&mut out, v.len() + usize::from(pad));
        if pad {
            out.push(0);
        }
        out.extend_from_slice(v);
        out
    };
    let (r, s) = p1363.split_at(p1363.len() / 2);
    let body = [integer(r), integer(s)].concat();
    let mut out = vec![0x30];
    push_len(&mut out, body.len());
    out.extend_from_slice(&body);
    out
}

#[tokio::test]
async fn psychic_and_misencoded_ecdsa_signatures_are_refused() {
    let keys = [
        (TestKey::generate(Algorithm::ES256).with_kid("p256"), P256_N),
        (TestKey::generate(Algorithm::ES384).with_kid("p384"), P384_N),
        (TestKey::generate(Algorithm::ES512).with_kid("p521"), P521_N),
    ];
    let mut idp = TestIssuer::builder();
    for (key, _) in &keys {
        idp = idp.key(key.clone());
    }
    let idp = idp.start().await;
    let t = Target::start(&idp).await;
    for (key, n) in &keys {
        let alg = key.alg();
        let n = unhex(n);
        let w = n.len();
        let good = t.signed_by(key).sign();
        let sig = signature_of(&good);
        assert_eq!(sig.len(), 2 * w);
        let (r, s) = sig.split_at(w);
        let zero = vec![0u8; w];
        let mut one = vec![0u8; w];
        one[w - 1] = 1;
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("r = s = 0 (CVE-2022-21449)", cat(&zero[..], &zero)),
            ("r = s = n", cat(&n[..], &n)),
            ("r = 0, s = n", cat(&zero[..], &n)),
            ("r = n, s = 0", cat(&n[..], &zero)),
            ("r = s = 1", cat(&one[..], &one)),
            ("real r, s = 0", cat(r, &zero)),
            ("r = 0, real s", cat(&zero[..], s)),
            ("real r, s = n", cat(r, &n)),
            ("all ones", vec![0xff; 2 * w]),
            ("DER instead of P1363", der_signature(&sig)),
            ("one byte short", sig[..2 * w - 1].to_vec()),
            ("one leading zero byte more", cat(&[0u8][..], &sig)),
            ("s alone", s.to_vec()),
        ];
        for (what, forged) in cases {
            t.refuses(
                &format!("{alg}: {what}"),
                &tamper::with_signature(&good, &forged),
                ErrorKind::InvalidSignature,
            )
            .await;
        }
        // ECDSA is malleable: (r, n - s) verifies the same message. This is no forgery (the
        // claims are the genuine ones), but it is why a token's bytes never identify it.
        let malleated = tamper::with_signature(&good, &cat(r, &sub_be(&n, s)));
        assert_ne!(malleated, good);
        t.accepts(&format!("{alg}: (r, n - s)"), &malleated).await;
    }
}

/// The order of the Ed25519 base point, L = 2^252 + 27742317777372353535851937790883648493,
/// little-endian as signatures hold S.
const ED25519_L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

fn add_le(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; a.len()];
    let mut carry = 0u16;
    for i in 0..a.len() {
        let sum = u16::from(a[i]) + u16::from(b[i]) + carry;
        out[i] = u8::try_from(sum & 0xff).unwrap();
        carry = sum >> 8;
    }
    assert_eq!(carry, 0);
    out
}

#[tokio::test]
async fn non_canonical_and_degenerate_ed25519_signatures_are_refused() {
    let ed = TestKey::generate(Algorithm::EdDSA).with_kid("ed-1");
    let idp = TestIssuer::builder().key(ed.clone()).start().await;
    let t = Target::start(&idp).await;
    let good = t.signed_by(&ed).sign();
    t.accepts("genuine", &good).await;
    let sig = signature_of(&good);
    let (r, s) = sig.split_at(32);
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let mut high_bit = s.to_vec();
    high_bit[31] |= 0x80;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("S + L (non-canonical S)", cat(r, &add_le(s, &ED25519_L))),
        ("S = L", cat(r, &ED25519_L[..])),
        ("S with its top bit set", cat(r, &high_bit)),
        ("all zeros", vec![0; 64]),
        ("R = identity, S = 0", cat(&identity[..], &[0u8; 32])),
        ("one byte short", sig[..63].to_vec()),
        ("one byte more", cat(&sig[..], &[0u8])),
    ];
    for (what, forged) in cases {
        t.refuses(
            what,
            &tamper::with_signature(&good, &forged),
            ErrorKind::InvalidSignature,
        )
        .await;
    }
}

#[tokio::test]
async fn truncated_padded_and_out_of_range_rsa_signatures_are_refused() {
    let rs = TestKey::generate(Algorithm::RS256).with_kid("rs");
    let ps = TestKey::generate(Algorithm::PS256).with_kid("ps");
    let idp = TestIssuer::builder()
        .key(rs.clone())
        .key(ps.clone())
        .start()
        .await;
    let t = Target::start(&idp).await;
    for key in [&rs, &ps] {
        let alg = key.alg();
        let good = t.signed_by(key).sign();
        let sig = signature_of(&good);
        assert_eq!(sig.len(), 256);
        let modulus = b64url_decode(key.public_jwk()["n"].as_str().unwrap());
        let mut last_is_one = vec![0u8; 256];
        last_is_one[255] = 1;
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("first byte dropped", sig[1..].to_vec()),
            ("last byte dropped", sig[..255].to_vec()),
            ("a leading zero byte added", cat(&[0u8][..], &sig)),
            ("a trailing zero byte added", cat(&sig[..], &[0u8])),
            ("the signature twice", cat(&sig[..], &sig)),
            ("all zeros", vec![0; 256]),
            ("the integer 1", last_is_one),
            ("the modulus itself (s = n)", modulus.clone()),
            ("one byte", vec![1]),
        ];
        for (what, forged) in cases {
            t.refuses(
                &format!("{alg}: {what}"),
                &tamper::with_signature(&good, &forged),
                ErrorKind::InvalidSignature,
            )
            .await;
        }
    }
    // A genuine RS256 signature whose first byte is zero, written without it: RFC 8017
    // (RSASSA-PKCS1-V1_5-VERIFY, step 1) wants exactly k octets, so it is refused too.
    let leading_zero = (0..4096)
        .map(|i| t.signed_by(&rs).claim("jti", json!(format!("z{i}"))).sign())
        .find(|token| signature_of(token)[0] == 0)
        .expect("one signature in 256 starts with a zero byte");
    t.accepts("the genuine signature", &leading_zero).await;
    let sig = signature_of(&leading_zero);
    t.refuses(
        "RS256: the leading zero byte left out",
        &tamper::with_signature(&leading_zero, &sig[1..]),
        ErrorKind::InvalidSignature,
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn weak_hmac_secrets_are_refused_when_the_keys_are_loaded() {
    let weak = TestKey::hmac(Algorithm::HS256, &[7u8; 16]).with_kid("weak");
    let short_for_512 = TestKey::hmac(Algorithm::HS512, &[8u8; 48]).with_kid("short-512");
    let strong = TestKey::hmac(Algorithm::HS256, &[9u8; 32]).with_kid("strong");
    let idp = TestIssuer::builder()
        .key(TestKey::generate(Algorithm::ES256).with_kid("ec-1"))
        .key(weak.clone())
        .key(short_for_512.clone())
        .key(strong.clone())
        .publish_symmetric(true)
        .start()
        .await;
    // Even a deployment that opted into secrets from its JWKS skips the short ones.
    let t = Target::start_with(
        &idp,
        Setup {
            algorithms: &[Algorithm::ES256, Algorithm::HS256, Algorithm::HS512],
            ..DEFAULTS
        },
    )
    .await;
    t.refuses(
        "a 16-byte HS256 secret",
        &t.signed_by(&weak).sign(),
        ErrorKind::UnknownKey,
    )
    .await;
    t.refuses(
        "a 48-byte HS512 secret",
        &t.signed_by(&short_for_512).sign(),
        ErrorKind::UnknownKey,
    )
    .await;
    t.accepts("a 32-byte HS256 secret", &t.signed_by(&strong).sign())
        .await;

    let load = KeySet::from_jwks(&idp.jwks_json().to_string(), t.allowed).unwrap();
    let skipped: Vec<_> = load
        .skipped
        .iter()
        .map(|s| (s.kid.as_deref().unwrap(), s.error.kind().clone()))
        .collect();
    assert_eq!(
        skipped,
        [
            ("weak", KeyErrorKind::WeakSecret { len: 16, min: 32 }),
            ("short-512", KeyErrorKind::WeakSecret { len: 48, min: 64 }),
        ]
    );
    // The same rule for secrets given in code.
    for (alg, len, min) in [
        (Algorithm::HS256, 31, 32),
        (Algorithm::HS384, 47, 48),
        (Algorithm::HS512, 63, 64),
        (Algorithm::HS256, 0, 32),
    ] {
        let err = VerifyingKey::hmac(alg, &vec![1u8; len]).unwrap_err();
        assert_eq!(err.kind(), &KeyErrorKind::WeakSecret { len, min }, "{alg}");
    }
}

// ---------------------------------------------------------------------------------------------
// Claims
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn id_tokens_and_other_jwts_presented_as_access_tokens_are_refused() {
    let idp = TestIssuer::start().await;
    let t = Target::start(&idp).await;
    // An OpenID Connect ID token: issued to the client, for the client.
    let id_token = || {
        idp.token()
            .audience("client-1")
            .claim("azp", json!("client-1"))
            .claim("nonce", json!("n-0S6_WzA2Mj"))
            .claim("auth_time", json!(1_700_000_000))
            .remove_claim("scope")
    };
    t.refuses(
        "ID token typed JWT",
        &id_token().header("typ", json!("JWT")).sign(),
        ErrorKind::WrongAudience,
    )
    .await;
    t.refuses(
        "ID token without typ",
        &id_token().remove_header("typ").sign(),
        ErrorKind::WrongAudience,
    )
    .await;
    // Other JWT types are refused whatever their audience.
    for typ in [
        "dpop+jwt",
        "logout+jwt",
        "secevent+jwt",
        "id_token+jwt",
        "at+jwt ",
        "at+jwt; charset=utf-8",
    ] {
        let token = idp.token().header("typ", json!(typ)).sign();
        t.refuses(&format!("typ {typ:?}"), &token, ErrorKind::WrongType)
            .await;
    }
    t.refuses(
        "typ as a list",
        &idp.token().header("typ", json!(["at+jwt"])).sign(),
        ErrorKind::Malformed(MalformedPart::Header),
    )
    .await;

    // RFC 9068 only: an ID token is refused by its type, even with the API's audience.
    let strict = Target::start_with(
        &idp,
        Setup {
            typ: TypPolicy::RequireAccessToken,
            ..DEFAULTS
        },
    )
    .await;
    for (what, token) in [
        (
            "ID token typed JWT, aud api",
            id_token()
                .audience("api")
                .header("typ", json!("JWT"))
                .sign(),
        ),
        (
            "ID token without typ, aud api",
            id_token().audience("api").remove_header("typ").sign(),
        ),
    ] {
        strict.refuses(what, &token, ErrorKind::WrongType).await;
    }
    for typ in ["at+jwt", "application/at+jwt", "AT+JWT"] {
        let token = idp.token().header("typ", json!(typ)).sign();
        strict.accepts(&format!("typ {typ}"), &token).await;
    }
}

#[tokio::test]
async fn audience_confusions_are_refused() {
    let idp = TestIssuer::start().await;
    let t = Target::start(&idp).await;
    for aud in [
        json!("ap"),
        json!("api2"),
        json!("api/"),
        json!(" api"),
        json!("api "),
        json!("API"),
        json!("https://api"),
        json!("api\u{0}"),
        json!("\u{430}pi"), // a Cyrillic a
        json!(["other"]),
        json!([]),
        json!(["ap", "i"]),
        json!(["API"]),
    ] {
        let token = idp.token().claim("aud", aud.clone()).sign();
        t.refuses(&format!("aud {aud}"), &token, ErrorKind::WrongAudience)
            .await;
    }
    for aud in [
        json!(1),
        json!(true),
        json!(null),
        json!({"api": true}),
        json!(["api", 2]),
        json!([["api"]]),
    ] {
        let token = idp.token().claim("aud", aud.clone()).sign();
        t.refuses(
            &format!("aud {aud}"),
            &token,
            ErrorKind::InvalidClaim(Cow::Borrowed("aud")),
        )
        .await;
    }
    t.refuses(
        "no aud",
        &idp.token().remove_claim("aud").sign(),
        ErrorKind::MissingClaim(Cow::Borrowed("aud")),
    )
    .await;
    // Two `aud` members: parsers that keep the first and parsers that keep the last disagree,
    // so the token is refused whatever the order.
    let (header, claims) = t.raw_parts();
    let mut rest = claims.clone();
    rest.as_object_mut().unwrap().remove("aud");
    for first in [
        r#""aud":"other","aud":"api""#,
        r#""aud":"api","aud":"other""#,
        r#""aud":"other","\u0061ud":"api""#,
        r#""aud":["other"],"aud":["api"]"#,
    ] {
        let token = TokenBuilder::sign_raw(
            &idp.signing_key(),
            &header.to_string(),
            &object_with(first, &rest),
        );
        t.refuses(
            first,
            &token,
            ErrorKind::Malformed(MalformedPart::DuplicatePayloadMember),
        )
        .await;
    }
    // RFC 7519: one of the audiences is enough.
    let token = idp.token().claim("aud", json!(["other", "api"])).sign();
    t.accepts("aud [other, api]", &token).await;
}

#[tokio::test]
async fn issuer_confusions_are_refused() {
    let idp = TestIssuer::start().await;
    let t = Target::start(&idp).await;
    let iss = idp.issuer();
    let localhost = iss.replace("127.0.0.1", "localhost");
    for (what, claimed) in [
        ("a trailing slash", format!("{iss}/")),
        ("a trailing dot segment", format!("{iss}/.")),
        ("a path", format!("{iss}/tenant")),
        ("a query", format!("{iss}?")),
        ("a fragment", format!("{iss}#")),
        ("a prefix", iss[..iss.len() - 1].to_owned()),
        ("a longer port", format!("{iss}0")),
        ("another host name", localhost),
        ("an upper-case scheme", iss.replace("http://", "HTTP://")),
        ("a leading space", format!(" {iss}")),
        ("a NUL byte", format!("{iss}\0")),
        ("https instead of http", iss.replace("http://", "https://")),
        ("a stranger", "https://evil.example".to_owned()),
    ] {
        let token = idp.token().issuer(&claimed).sign();
        t.refuses(what, &token, ErrorKind::WrongIssuer).await;
    }
    for claimed in [json!([iss]), json!(1), json!(null), json!({"iss": iss})] {
        let token = idp.token().claim("iss", claimed.clone()).sign();
        t.refuses(
            &format!("iss {claimed}"),
            &token,
            ErrorKind::InvalidClaim(Cow::Borrowed("iss")),
        )
        .await;
    }
    t.refuses(
        "no iss",
        &idp.token().remove_claim("iss").sign(),
        ErrorKind::MissingClaim(Cow::Borrowed("iss")),
    )
    .await;
    let (header, claims) = t.raw_parts();
    let mut rest = claims.clone();
    rest.as_object_mut().unwrap().remove("iss");
    for first in [
        format!(r#""iss":"https://evil.example","iss":"{iss}""#),
        format!(r#""iss":"{iss}","iss":"https://evil.example""#),
    ] {
        let token = TokenBuilder::sign_raw(
            &idp.signing_key(),
            &header.to_string(),
            &object_with(&first, &rest),
        );
        t.refuses(
            "two iss members",
            &token,
            ErrorKind::Malformed(MalformedPart::DuplicatePayloadMember),
        )
        .await;
    }

    // Two trusted issuers whose keys share a `kid` (both call theirs `rsa-1`): a token signed
    // by A that names B is checked with B's keys and rules, and refused.
    let other = TestIssuer::start().await;
    let both = Portcullis::builder()
        .issuer(idp.issuer())
        .audience("api")
        .issuer(other.issuer())
        .audience("api")
        .realm(REALM)
        .build()
        .await
        .unwrap();
    let base = serve(protected(&both)).await;
    let http = reqwest::Client::new();
    let url = format!("{base}/me");
    let b_rules = Validator::builder()
        .issuer(other.issuer())
        .audience("api")
        .build()
        .unwrap();
    let b_keys = KeySet::from_jwks(&other.jwks_json().to_string(), AlgorithmSet::ASYMMETRIC)
        .unwrap()
        .keys;
    let crossed = idp.token().issuer(&other.issuer()).sign();
    assert_eq!(
        b_rules.validate(&crossed, &b_keys).unwrap_err().kind(),
        &ErrorKind::InvalidSignature
    );
    assert_eq!(bearer(&http, &url, &crossed).await, Answer::invalid_token());
    for first in [
        format!(r#""iss":"{}","iss":"{}""#, idp.issuer(), other.issuer()),
        format!(r#""iss":"{}","iss":"{}""#, other.issuer(), idp.issuer()),
    ] {
        let token = TokenBuilder::sign_raw(
            &idp.signing_key(),
            &header.to_string(),
            &object_with(&first, &rest),
        );
        assert_eq!(
            bearer(&http, &url, &token).await,
            Answer::invalid_token(),
            "two iss members, two issuers"
        );
    }
    assert_eq!(bearer(&http, &url, &idp.token().sign()).await, Answer::ok());
    assert_eq!(
        bearer(&http, &url, &other.token().sign()).await,
        Answer::ok()
    );
}

#[tokio::test]
async fn time_claims_of_the_wrong_type_or_range_are_refused() {
    let idp = TestIssuer::start().await;
    let t = Target::start(&idp).await;
    let bad_values = [
        json!("2100-01-01T00:00:00Z"),
        json!("4102444800"),
        json!(true),
        json!(false),
        json!(null),
        json!([4_102_444_800_i64]),
        json!({"$date": 4_102_444_800_i64}),
        json!(1e300),
        json!(253_402_300_800_i64), // year 10000
        json!(-253_402_300_800_i64),
    ];
    for name in ["exp", "nbf", "iat"] {
        for value in &bad_values {
            let token = idp.token().claim(name, value.clone()).sign();
            t.refuses(
                &format!("{name} {value}"),
                &token,
                ErrorKind::InvalidClaim(Cow::Borrowed(name)),
            )
            .await;
        }
    }
    // Numbers that are not JSON, or not JSON as portcullis reads it.
    let (header, claims) = t.raw_parts();
    let mut rest = claims.clone();
    rest.as_object_mut().unwrap().remove("exp");
    for exp in [
        "1e400",
        "NaN",
        "Infinity",
        "-Infinity",
        "01",
        "+1",
        ".5",
        "0x7fffffff",
        "1.",
    ] {
        let token = TokenBuilder::sign_raw(
            &idp.signing_key(),
            &header.to_string(),
            &object_with(&format!(r#""exp":{exp}"#), &rest),
        );
        t.refuses(
            &format!("exp {exp}"),
            &token,
            ErrorKind::Malformed(MalformedPart::Payload),
        )
        .await;
    }
    t.refuses(
        "no exp",
        &idp.token().remove_claim("exp").sign(),
        ErrorKind::MissingClaim(Cow::Borrowed("exp")),
    )
    .await;
    for (what, name, value, kind) in [
        ("exp at the epoch", "exp", json!(0), ErrorKind::Expired),
        ("exp before the epoch", "exp", json!(-1), ErrorKind::Expired),
        (
            "nbf in year 9999",
            "nbf",
            json!(253_402_300_799_i64),
            ErrorKind::NotYetValid,
        ),
        (
            "iat in year 9999",
            "iat",
            json!(253_402_300_799_i64),
            ErrorKind::IssuedInFuture,
        ),
    ] {
        t.refuses(what, &idp.token().claim(name, value).sign(), kind)
            .await;
    }
    // A token valid until year 9999 is accepted: the lifetime is the issuer's choice. A maximum
    // age (from `iat`) bounds how long portcullis accepts it anyway.
    let forever = idp.token().claim("exp", json!(253_402_300_799_i64)).sign();
    t.accepts("exp in year 9999", &forever).await;
    let clock = ManualClock::at(issued_at(&forever));
    let bounded = rules_for(&idp)
        .max_age(Duration::from_secs(3600))
        .clock(clock.clone())
        .build()
        .unwrap();
    let keys = t.keys();
    bounded.validate(&forever, &keys).unwrap();
    clock.advance_secs(3600 + 61);
    assert_eq!(
        bounded.validate(&forever, &keys).unwrap_err().kind(),
        &ErrorKind::TooOld
    );
}

fn rules_for(idp: &TestIssuer) -> ValidatorBuilder {
    Validator::builder().issuer(idp.issuer()).audience("api")
}

/// The token's own `iat`, to set an injected clock by.
fn issued_at(token: &str) -> i64 {
    let (_, payload, _) = tamper::parts(token);
    serde_json::from_str::<Value>(&payload).unwrap()["iat"]
        .as_i64()
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// Sizes
// ---------------------------------------------------------------------------------------------

/// A genuine token of exactly `len` bytes, padded with a `pad` claim (and, to reach lengths
/// that base64url cannot end on, a header member).
fn token_of_len(idp: &TestIssuer, len: usize) -> String {
    let key = idp.signing_key();
    let b64_len = |n: usize| n / 3 * 4 + [0, 2, 3][n % 3];
    let now = idp.token().claims_json()["iat"].as_i64().unwrap();
    for header_pad in 0..3 {
        let header = idp
            .token()
            .header("x", json!("h".repeat(header_pad)))
            .header_json()
            .to_string();
        let mut claims = idp.token().now(now).claim("pad", json!("")).claims_json();
        let bare_len = claims.to_string().len();
        let fixed = b64_len(header.len()) + 2 + 342;
        for pad in 0..len {
            if fixed + b64_len(bare_len + pad) == len {
                claims["pad"] = json!("p".repeat(pad));
                let token = TokenBuilder::sign_raw(&key, &header, &claims.to_string());
                assert_eq!(token.len(), len);
                return token;
            }
        }
    }
    panic!("no token of {len} bytes");
}

#[tokio::test]
async fn oversize_tokens_and_deeply_nested_json_are_refused_before_any_work() {
    let idp = TestIssuer::start().await;
    let t = Target::start(&idp).await;
    let too_large = ErrorKind::TooLarge {
        limit: MAX_TOKEN_LEN,
    };
    t.accepts("exactly 8 KiB", &token_of_len(&idp, MAX_TOKEN_LEN))
        .await;
    t.refuses(
        "8 KiB and one byte",
        &token_of_len(&idp, MAX_TOKEN_LEN + 1),
        too_large.clone(),
    )
    .await;
    for size in [64 * 1024, 128 * 1024] {
        let big = idp.token().claim("pad", json!("p".repeat(size))).sign();
        t.refuses(&format!("{size} bytes of claims"), &big, too_large.clone())
            .await;
    }
    // Not even split into segments: a long run of dots, or one long segment.
    t.refuses("16 KiB of dots", &".".repeat(16 * 1024), too_large.clone())
        .await;

    // Nesting past the scanner's depth limit, within the size cap: refused, no stack overflow.
    let key = idp.signing_key();
    let (header, claims) = t.raw_parts();
    let deep = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    for depth in [65, 2000] {
        let h = object_with(&format!(r#""x":{}"#, deep(depth)), &header);
        let token = TokenBuilder::sign_raw(&key, &h, &claims.to_string());
        t.refuses(
            &format!("header nested {depth} deep"),
            &token,
            ErrorKind::Malformed(MalformedPart::Header),
        )
        .await;
        let p = object_with(&format!(r#""x":{}"#, deep(depth)), &claims);
        let token = TokenBuilder::sign_raw(&key, &header.to_string(), &p);
        t.refuses(
            &format!("claims nested {depth} deep"),
            &token,
            ErrorKind::Malformed(MalformedPart::Payload),
        )
        .await;
    }
    let h = object_with(&format!(r#""x":{}"#, deep(63)), &header);
    t.accepts(
        "header nested 64 deep",
        &TokenBuilder::sign_raw(&key, &h, &claims.to_string()),
    )
    .await;

    // A request header far beyond any token is turned away by the HTTP server itself.
    let res = t
        .http
        .get(format!("{}/me", t.base))
        .header(
            "authorization",
            format!("Bearer {}", "a".repeat(1024 * 1024)),
        )
        .send()
        .await;
    if let Ok(res) = res {
        assert_eq!(res.status(), 431, "a 1 MiB header reached the application");
    }
}

// ---------------------------------------------------------------------------------------------
// Key sources: floods, huge documents, SSRF
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_flood_of_unknown_kids_costs_the_issuer_at_most_the_refetch_budget() {
    let idp = TestIssuer::start().await;
    let t = Target::start(&idp).await;
    let good = idp.token().sign();
    let before = idp.jwks_fetches();
    for i in 0..300_u32 {
        let token = idp
            .token()
            .header("kid", json!(format!("flood-{i}")))
            .sign();
        t.refuses(&format!("kid flood-{i}"), &token, ErrorKind::UnknownKey)
            .await;
        if i.is_multiple_of(50) {
            assert_eq!(
                t.answer(&good).await,
                Answer::ok(),
                "a known kid, mid-flood"
            );
        }
    }
    let made = idp.jwks_fetches() - before;
    assert!(
        made <= DEFAULT_UNKNOWN_KID_BUDGET,
        "{made} JWKS fetches for 300 unknown kids"
    );
    t.accepts("a known kid after the flood", &good).await;
}

#[tokio::test]
async fn huge_jwks_documents_are_refused_and_the_last_good_keys_kept() {
    let idp = TestIssuer::start().await;
    let t = Target::start(&idp).await;
    let old = idp.token().sign();
    t.accepts("before", &old).await;
    idp.rotate(Algorithm::ES256);
    let new = idp.token().sign();

    // A body past the 1 MiB cap: the refetch for the new kid fails, the old keys stay.
    idp.set_fault(Some(JwksFault::Oversize(2 * 1024 * 1024)));
    assert_eq!(t.answer(&new).await, Answer::invalid_token());
    assert_eq!(t.answer(&old).await, Answer::ok());
    idp.set_fault(None);

    // More keys than the cap of 100: refused as a whole, before any key is parsed.
    let template = TestKey::generate(Algorithm::ES256).public_jwk();
    let many: Vec<Value> = (0..101)
        .map(|i| {
            let mut jwk = template.clone();
            jwk["kid"] = json!(format!("k{i}"));
            jwk
        })
        .collect();
    let doc = json!({ "keys": many }).to_string();
    assert_eq!(
        KeySet::from_jwks(&doc, AlgorithmSet::ASYMMETRIC)
            .unwrap_err()
            .kind(),
        &KeyErrorKind::TooManyKeys {
            found: 101,
            cap: 100
        }
    );
    idp.set_jwks_override(Some(serde_json::from_str(&doc).unwrap()));
    assert_eq!(t.answer(&new).await, Answer::invalid_token());
    assert_eq!(t.answer(&old).await, Answer::ok());

    // At start-up there are no last good keys: the build fails and says why.
    idp.set_jwks_override(None);
    idp.set_fault(Some(JwksFault::Oversize(2 * 1024 * 1024)));
    let err = Portcullis::builder()
        .issuer(idp.issuer())
        .audience("api")
        .build()
        .await
        .unwrap_err();
    assert_eq!(
        source_kind(&err),
        SourceErrorKind::BodyTooLarge { limit: 1024 * 1024 }
    );
    // The error names the URL it could not use, and leaves the cause to `source()`.
    assert_eq!(
        err.kind(),
        &ConfigErrorKind::Unusable {
            setting: "issuer",
            value: idp.issuer()
        }
    );
    let cause = std::error::Error::source(&err).unwrap().to_string();
    assert!(err.to_string().contains(&idp.issuer()), "{err}");
    assert!(!err.to_string().contains(&cause), "{err}");
}

/// A discovery endpoint under the test's control: it names itself as the issuer and serves
/// whatever `jwks_uri`, or redirects, as the test says.
#[derive(Clone, Default)]
struct Discovery {
    jwks_uri: Arc<Mutex<String>>,
    redirect: Arc<Mutex<Option<String>>>,
    issuer: Arc<Mutex<String>>,
}

async fn discovery_document(State(d): State<Discovery>) -> Response {
    if let Some(location) = d.redirect.lock().unwrap().clone() {
        return (StatusCode::FOUND, [(header::LOCATION, location)]).into_response();
    }
    let doc = json!({
        "issuer": *d.issuer.lock().unwrap(),
        "jwks_uri": *d.jwks_uri.lock().unwrap(),
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        doc.to_string(),
    )
        .into_response()
}

async fn discovery_server() -> (String, Discovery) {
    let d = Discovery::default();
    let app = Router::new()
        .route("/.well-known/openid-configuration", get(discovery_document))
        .route(
            "/.well-known/oauth-authorization-server",
            get(discovery_document),
        )
        .with_state(d.clone());
    let base = serve(app).await;
    base.clone_into(&mut d.issuer.lock().unwrap());
    (base, d)
}

async fn build_for(issuer: &str) -> Result<BearerAuthLayer, ConfigError> {
    Portcullis::builder()
        .issuer(issuer)
        .audience("api")
        .build()
        .await
}

#[tokio::test]
async fn a_discovery_document_cannot_point_the_key_fetch_at_an_internal_or_plain_http_url() {
    let (issuer, d) = discovery_server().await;
    let (trap, hits) = trap().await;
    let trap_port = trap.rsplit(':').next().unwrap().to_owned();
    for (jwks_uri, kind) in [
        (
            "http://169.254.169.254/latest/meta-data/iam/security-credentials/".to_owned(),
            SourceErrorKind::InsecureUrl,
        ),
        (
            "http://10.0.0.1:8080/jwks.json".to_owned(),
            SourceErrorKind::InsecureUrl,
        ),
        (
            "http://metadata.google.internal/".to_owned(),
            SourceErrorKind::InsecureUrl,
        ),
        (
            format!("gopher://127.0.0.1:{trap_port}/_FLUSHALL"),
            SourceErrorKind::InsecureUrl,
        ),
        (
            format!("ftp://127.0.0.1:{trap_port}/jwks.json"),
            SourceErrorKind::InsecureUrl,
        ),
        ("file:///etc/passwd".to_owned(), SourceErrorKind::InvalidUrl),
        ("/jwks.json".to_owned(), SourceErrorKind::InvalidUrl),
    ] {
        jwks_uri.clone_into(&mut d.jwks_uri.lock().unwrap());
        let err = build_for(&issuer).await.unwrap_err();
        assert_eq!(source_kind(&err), kind, "{jwks_uri}");
    }
    assert_eq!(hits.load(Ordering::SeqCst), 0);

    // A document that names another issuer is not used at all (its jwks_uri is the trap's).
    format!("{trap}/jwks.json").clone_into(&mut d.jwks_uri.lock().unwrap());
    "https://evil.example".clone_into(&mut d.issuer.lock().unwrap());
    let err = build_for(&issuer).await.unwrap_err();
    assert_eq!(source_kind(&err), SourceErrorKind::IssuerMismatch);
    assert_eq!(hits.load(Ordering::SeqCst), 0);

    // Plain HTTP to another host is refused for the issuer itself too.
    let err = build_for("http://idp.example").await.unwrap_err();
    assert_eq!(source_kind(&err), SourceErrorKind::InsecureUrl);
}

#[tokio::test]
async fn redirects_to_another_host_are_never_followed_for_discovery_or_keys() {
    let (trap, hits) = trap().await;
    // The trap's port under another host name: same socket, other origin.
    let elsewhere = trap.replace("127.0.0.1", "localhost");

    let (issuer, d) = discovery_server().await;
    *d.redirect.lock().unwrap() = Some(format!("{elsewhere}/.well-known/openid-configuration"));
    let err = build_for(&issuer).await.unwrap_err();
    assert_eq!(source_kind(&err), SourceErrorKind::Redirect);

    let idp = TestIssuer::start().await;
    idp.set_fault(Some(JwksFault::RedirectTo(format!(
        "{elsewhere}/jwks.json"
    ))));
    let err = build_for(&idp.issuer()).await.unwrap_err();
    assert_eq!(source_kind(&err), SourceErrorKind::Redirect);

    // While running: the refetch for a new kid is redirected away and refused; the old keys stay.
    idp.set_fault(None);
    let t = Target::start(&idp).await;
    let old = idp.token().sign();
    idp.rotate(Algorithm::ES256);
    idp.set_fault(Some(JwksFault::RedirectTo(format!(
        "{elsewhere}/jwks.json"
    ))));
    assert_eq!(t.answer(&idp.token().sign()).await, Answer::invalid_token());
    assert_eq!(t.answer(&old).await, Answer::ok());
    assert_eq!(hits.load(Ordering::SeqCst), 0, "a redirect was followed");
}

// ---------------------------------------------------------------------------------------------
// Replay and the verified-token cache
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_stolen_token_is_accepted_until_it_expires_and_a_sender_constrained_one_is_refused_as_bearer()
 {
    let idp = TestIssuer::start().await;
    let t = Target::start(&idp).await;
    // A bearer token is good for whoever holds it, as often as they like, until it expires.
    let token = idp.token().expires_in(120).sign();
    for _ in 0..3 {
        t.accepts("replayed", &token).await;
    }
    let clock = ManualClock::at(issued_at(&token));
    let rules = rules_for(&idp).clock(clock.clone()).build().unwrap();
    let keys = t.keys();
    rules.validate(&token, &keys).unwrap();
    clock.advance_secs(120 + 60);
    assert_eq!(
        rules.validate(&token, &keys).unwrap_err().kind(),
        &ErrorKind::Expired
    );

    // A DPoP-bound token (RFC 9449, `cnf.jkt`) presented as a bearer token is refused by
    // default (RFC 9449 section 7.2: never accept a bound token as a bearer token), over HTTP
    // and through the core API, with its own reason...
    let bound = idp
        .token()
        .claim(
            "cnf",
            json!({"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}),
        )
        .sign();
    t.refuses(
        "a DPoP-bound token as bearer",
        &bound,
        ErrorKind::SenderConstrained,
    )
    .await;
    // ...and accepted only when a gateway in front has checked the proof and says so.
    let trusting = rules_for(&idp)
        .danger_accept_sender_constrained_tokens_as_bearer()
        .build()
        .unwrap();
    let claims = trusting.validate(&bound, &keys).unwrap();
    assert!(claims.is_sender_constrained());
    let keys_source = RemoteJwks::builder(idp.jwks_url()).build().await.unwrap();
    let layer = BearerAuthLayer::new(JwtVerifier::new(keys_source, trusting))
        .answers(Answers::default().realm(REALM));
    let base = serve(
        Router::new()
            .route("/me", get(|| async { "ok" }))
            .route_layer(layer),
    )
    .await;
    let url = format!("{base}/me");
    assert_eq!(bearer(&t.http, &url, &bound).await, Answer::ok());
    assert_eq!(bearer(&t.http, &url, &token).await, Answer::ok());
}

#[tokio::test]
async fn a_tampered_token_is_refused_while_its_original_sits_in_the_verified_token_cache() {
    let idp = TestIssuer::start().await;
    let t = Target::start(&idp).await;
    let good = idp.token().scope("read").sign();
    t.accepts("first use", &good).await;
    t.accepts("second use, from the cache", &good).await;
    let (_, payload, _) = tamper::parts(&good);
    let cases = [
        ("a flipped signature bit", tamper::flip_signature_bit(&good)),
        (
            "claims with one more scope",
            tamper::swap_payload(&good, &payload.replace("\"read\"", "\"read admin\"")),
        ),
        ("one more signature byte", format!("{good}A")),
        (
            "a later exp",
            tamper::swap_payload(&good, &payload.replace("\"exp\":", "\"exp\":1")),
        ),
    ];
    for (what, token) in cases {
        assert_ne!(token, good);
        t.refuses(what, &token, ErrorKind::InvalidSignature).await;
    }
    t.accepts("the original, still", &good).await;
}

#[tokio::test]
async fn a_cached_token_is_refused_once_its_key_leaves_the_key_set() {
    let idp = TestIssuer::start().await;
    let t = Target::start(&idp).await;
    let old_key = idp.signing_key();
    let by_old = idp.token().sign();
    t.accepts("first use", &by_old).await;
    t.accepts("from the cache", &by_old).await;
    // The issuer rotates and retires the old key; a token of the new key brings the new set.
    idp.rotate(Algorithm::ES256);
    idp.retire(old_key.kid());
    t.accepts("a token of the new key", &idp.token().sign())
        .await;
    t.refuses("the cached token", &by_old, ErrorKind::UnknownKey)
        .await;
}
