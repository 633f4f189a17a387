// Tests may unwrap, index and panic: a failure is the test's report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! DPoP (RFC 9449) through the layer, over loopback HTTP: every check of a proof, the binding
//! to the token both ways, replay, nonces and the answers, each with its status and
//! challenges. Time is a `ManualClock`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use portcullis::layer::BearerAuthLayer;
use portcullis_core::dpop::{
    Dpop, DpopBuilder, FirstUse, LocalReplayStore, NonceKey, ReplayKey, ReplayStore,
    ReplayStoreError,
};
use portcullis_core::{Algorithm, AlgorithmSet, ManualClock, Validator};
use portcullis_jwks::{JwtVerifier, StaticKeys};
use portcullis_testkit::{DpopClient, TestKey, TokenBuilder, serve};
use portcullis_tower::axum::VerifiedClaims;
use serde_json::{Value, json};

const NOW: i64 = 1_800_000_000;
const ORIGIN: &str = "https://api.example.test";
const ALGS: &str = r#"DPoP algs="RS256 ES256 EdDSA""#;

struct Api {
    url: String,
    issuer: TestKey,
    clock: ManualClock,
}

impl Api {
    fn token(&self) -> TokenBuilder {
        TokenBuilder::new(&self.issuer).now(NOW)
    }

    fn bound(&self, client: &DpopClient) -> String {
        client.bind(self.token()).sign()
    }

    async fn call(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = reqwest::Client::new().request(method, format!("{}{path}", self.url));
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let res = req.send().await.unwrap();
        Answer {
            status: res.status().as_u16(),
            challenges: res
                .headers()
                .get_all("www-authenticate")
                .iter()
                .map(|v| v.to_str().unwrap().to_owned())
                .collect(),
            nonce: res
                .headers()
                .get("dpop-nonce")
                .map(|v| v.to_str().unwrap().to_owned()),
            retry_after: res.headers().contains_key("retry-after"),
        }
    }

    /// A DPoP request to `/read` with `token` and `proof`.
    async fn dpop(&self, token: &str, proof: &str) -> Answer {
        let auth = format!("DPoP {token}");
        self.call("GET", "/read", &[("authorization", &auth), ("dpop", proof)])
            .await
    }
}

#[derive(Debug)]
struct Answer {
    status: u16,
    challenges: Vec<String>,
    nonce: Option<String>,
    retry_after: bool,
}

impl Answer {
    fn assert(&self, status: u16, challenges: &[&str], what: &str) {
        assert_eq!(
            (
                self.status,
                self.challenges
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
            ),
            (status, challenges.to_vec()),
            "{what}"
        );
    }
}

fn rules(clock: &ManualClock) -> DpopBuilder {
    Dpop::builder()
        .algorithms([Algorithm::ES256, Algorithm::RS256, Algorithm::EdDSA])
        .clock(clock.clone())
        .replay_store(LocalReplayStore::with_clock(10_000, clock.clone()))
}

async fn api_with(dpop: DpopBuilder, clock: ManualClock) -> Api {
    build_api(dpop, clock, false).await
}

async fn build_api(dpop: DpopBuilder, clock: ManualClock, describe: bool) -> Api {
    let issuer = TestKey::generate(Algorithm::ES256);
    let jwks = json!({ "keys": [issuer.public_jwk()] }).to_string();
    let keys = StaticKeys::from_jwks(&jwks, AlgorithmSet::ASYMMETRIC).unwrap();
    let validator = Validator::builder()
        .issuer("https://issuer.test")
        .audience("api")
        .clock(clock.clone())
        .build()
        .unwrap();
    let layer = BearerAuthLayer::new(JwtVerifier::new(keys, validator))
        .public_origin(ORIGIN)
        .answers(portcullis::layer::Answers::default().describe_errors(describe))
        .dpop(dpop.build().unwrap());
    let app = Router::new()
        .route(
            "/read",
            get(|claims: VerifiedClaims| async move {
                claims.0.subject().unwrap_or_default().to_owned()
            })
            .post(|| async { "written" }),
        )
        .route_layer(layer);
    Api {
        url: serve(app).await,
        issuer,
        clock,
    }
}

/// The API, with `error_description` on: each refusal names its rule.
async fn api_described(dpop: DpopBuilder, clock: ManualClock) -> Api {
    build_api(dpop, clock, true).await
}

async fn api() -> Api {
    let clock = ManualClock::at(NOW);
    api_with(rules(&clock), clock).await
}

fn proof(client: &DpopClient, token: &str) -> portcullis_testkit::ProofBuilder {
    client
        .proof("GET", &format!("{ORIGIN}/read"))
        .token(token)
        .issued_at(NOW)
}

const INVALID_PROOF: [&str; 2] = [
    "Bearer",
    r#"DPoP algs="RS256 ES256 EdDSA", error="invalid_dpop_proof""#,
];
const INVALID_TOKEN: [&str; 2] = [
    r#"Bearer error="invalid_token""#,
    r#"DPoP algs="RS256 ES256 EdDSA", error="invalid_token""#,
];

#[tokio::test]
async fn a_bound_token_with_its_proof_passes_for_every_accepted_algorithm() {
    let api = api().await;
    for alg in [Algorithm::ES256, Algorithm::RS256, Algorithm::EdDSA] {
        let client = DpopClient::new(alg);
        let token = api.bound(&client);
        let answer = api.dpop(&token, &proof(&client, &token).sign()).await;
        answer.assert(200, &[], &format!("{alg:?}"));
        assert_eq!(answer.nonce, None);
    }
    // An algorithm the rules do not list is refused like any bad proof.
    let client = DpopClient::new(Algorithm::ES384);
    let token = api.bound(&client);
    api.dpop(&token, &proof(&client, &token).sign())
        .await
        .assert(401, &INVALID_PROOF, "ES384 not in the allowlist");
}

#[tokio::test]
async fn every_check_of_the_proof_refuses_with_invalid_dpop_proof_for_its_own_reason() {
    let clock = ManualClock::at(NOW);
    let api = api_described(rules(&clock), clock).await;
    let client = DpopClient::new(Algorithm::ES256);
    let token = api.bound(&client);
    let other_token = api.bound(&client);
    let stranger = TestKey::generate(Algorithm::ES256);
    let hmac = DpopClient::new(Algorithm::HS256);
    let es384 = DpopClient::new(Algorithm::ES384);
    let mut private_jwk = client.jwk();
    private_jwk["d"] = json!("AAAA");
    let mut wrong_alg_jwk = client.jwk();
    wrong_alg_jwk["alg"] = json!("ES384");
    let unsigned = {
        let p = proof(&client, &token).header("alg", json!("none")).sign();
        let (h, c, _) = portcullis_testkit::tamper::parts(&p);
        let b64 = portcullis_testkit::b64url;
        format!("{}.{}.", b64(h.as_bytes()), b64(c.as_bytes()))
    };
    let duplicate = {
        let p = proof(&client, &token).sign();
        let (h, c, _) = portcullis_testkit::tamper::parts(&p);
        let c = c.replacen('{', r#"{"htm":"GET","#, 1);
        TokenBuilder::sign_raw(client.key(), &h, &c)
    };
    let at = |path: &str| json!(format!("{ORIGIN}{path}"));
    let cases: Vec<(&str, String)> = vec![
        (
            "typ is not dpop+jwt",
            proof(&client, &token).header("typ", json!("jwt")).sign(),
        ),
        (
            "typ is not dpop+jwt",
            proof(&client, &token).remove_header("typ").sign(),
        ),
        ("the signature segment is empty", unsigned),
        (
            "algorithm not allowed",
            proof(&client, &token).header("alg", json!("none")).sign(),
        ),
        (
            "algorithm not allowed",
            hmac.proof("GET", &format!("{ORIGIN}/read"))
                .token(&token)
                .issued_at(NOW)
                .sign(),
        ),
        (
            "algorithm not allowed",
            es384
                .proof("GET", &format!("{ORIGIN}/read"))
                .token(&token)
                .issued_at(NOW)
                .sign(),
        ),
        (
            "jwk holds a private key",
            proof(&client, &token).header("jwk", private_jwk).sign(),
        ),
        (
            "has no jwk",
            proof(&client, &token).remove_header("jwk").sign(),
        ),
        (
            "jwk is not a usable public key",
            proof(&client, &token).header("jwk", json!("k")).sign(),
        ),
        (
            "jwk is not a usable public key",
            proof(&client, &token).header("jwk", wrong_alg_jwk).sign(),
        ),
        (
            "signature invalid",
            proof(&client, &token).signed_by(&stranger).sign(),
        ),
        (
            "critical header member",
            proof(&client, &token).header("crit", json!(["exp"])).sign(),
        ),
        (
            "lacks `jti`",
            proof(&client, &token).remove_claim("jti").sign(),
        ),
        ("invalid `jti`", proof(&client, &token).jti("").sign()),
        (
            "invalid `jti`",
            proof(&client, &token).jti(&"j".repeat(257)).sign(),
        ),
        (
            "invalid `jti`",
            proof(&client, &token).claim("jti", json!(7)).sign(),
        ),
        (
            "lacks `htm`",
            proof(&client, &token).remove_claim("htm").sign(),
        ),
        (
            "another method",
            proof(&client, &token).claim("htm", json!("POST")).sign(),
        ),
        (
            "another method",
            proof(&client, &token).claim("htm", json!("get")).sign(),
        ),
        (
            "lacks `htu`",
            proof(&client, &token).remove_claim("htu").sign(),
        ),
        (
            "another URI",
            proof(&client, &token).claim("htu", at("/write")).sign(),
        ),
        (
            "another URI",
            proof(&client, &token)
                .claim("htu", json!("https://evil.test/read"))
                .sign(),
        ),
        (
            "another URI",
            proof(&client, &token)
                .claim("htu", json!(format!("{}/read", api.url)))
                .sign(),
        ),
        (
            "another URI",
            proof(&client, &token)
                .claim("htu", at("/write?read"))
                .sign(),
        ),
        (
            "another URI",
            proof(&client, &token)
                .claim("htu", json!("http://api.example.test/read"))
                .sign(),
        ),
        (
            "lacks `iat`",
            proof(&client, &token).remove_claim("iat").sign(),
        ),
        (
            "invalid `iat`",
            proof(&client, &token).claim("iat", json!("now")).sign(),
        ),
        (
            "older than the acceptance window",
            proof(&client, &token).issued_at(NOW - 61).sign(),
        ),
        (
            "issued in the future",
            proof(&client, &token).issued_at(NOW + 11).sign(),
        ),
        (
            "lacks `ath`",
            proof(&client, &token).remove_claim("ath").sign(),
        ),
        (
            "made for another token",
            proof(&client, &other_token).sign(),
        ),
        (
            "invalid `nonce`",
            proof(&client, &token).claim("nonce", json!(1)).sign(),
        ),
        ("does not have exactly three segments", "garbage".into()),
        ("does not have exactly three segments", "a.b".into()),
        ("the payload has a duplicate member", duplicate),
    ];
    for (reason, proof) in cases {
        let answer = api.dpop(&token, &proof).await;
        assert_eq!(answer.status, 401, "{reason}");
        assert_eq!(answer.challenges.len(), 2, "{reason}");
        assert_eq!(answer.challenges[0], "Bearer", "{reason}");
        let dpop = &answer.challenges[1];
        assert!(
            dpop.starts_with(
                r#"DPoP algs="RS256 ES256 EdDSA", error="invalid_dpop_proof", error_description=""#
            ) && dpop.contains(reason),
            "{reason}: {dpop}"
        );
    }
    // None of them spent anything: the genuine proof still passes.
    api.dpop(&token, &proof(&client, &token).sign())
        .await
        .assert(200, &[], "genuine");
}

#[tokio::test]
async fn the_window_edges_and_equivalent_uris_pass() {
    let api = api().await;
    let client = DpopClient::new(Algorithm::ES256);
    let token = api.bound(&client);
    for (what, p) in [
        ("iat 60 s old", proof(&client, &token).issued_at(NOW - 60)),
        ("iat 10 s ahead", proof(&client, &token).issued_at(NOW + 10)),
        (
            "htu in another spelling",
            proof(&client, &token).claim("htu", json!("HTTPS://API.example.test:443/./read")),
        ),
        (
            "htu with an encoded unreserved character",
            proof(&client, &token).claim("htu", json!(format!("{ORIGIN}/%72ead"))),
        ),
        (
            "htu with a query and a fragment (ignored, RFC 9449 4.3)",
            proof(&client, &token).claim("htu", json!(format!("{ORIGIN}/read?x=1#f"))),
        ),
    ] {
        api.dpop(&token, &p.sign()).await.assert(200, &[], what);
    }
    // The query is not part of htu.
    let auth = format!("DPoP {token}");
    let p = proof(&client, &token).sign();
    api.call(
        "GET",
        "/read?page=2",
        &[("authorization", &auth), ("dpop", &p)],
    )
    .await
    .assert(200, &[], "query left out");
}

#[tokio::test]
async fn a_proof_is_good_for_one_request_one_method_one_uri_and_one_token() {
    let api = api().await;
    let client = DpopClient::new(Algorithm::ES256);
    let token = api.bound(&client);
    let p = proof(&client, &token).sign();
    api.dpop(&token, &p).await.assert(200, &[], "first use");
    api.dpop(&token, &p)
        .await
        .assert(401, &INVALID_PROOF, "replayed");
    // Replayed after the window: still refused, as too old.
    api.clock.advance_secs(61);
    api.dpop(&token, &p)
        .await
        .assert(401, &INVALID_PROOF, "replayed later");
    api.clock.set(NOW);

    // A proof made for GET, sent with POST.
    let auth = format!("DPoP {token}");
    let p = proof(&client, &token).sign();
    api.call("POST", "/read", &[("authorization", &auth), ("dpop", &p)])
        .await
        .assert(401, &INVALID_PROOF, "another method");
    let p = client
        .proof("POST", &format!("{ORIGIN}/read"))
        .token(&token)
        .issued_at(NOW)
        .sign();
    api.call("POST", "/read", &[("authorization", &auth), ("dpop", &p)])
        .await
        .assert(200, &[], "POST with its own proof");
}

#[tokio::test]
async fn the_binding_is_checked_both_ways() {
    let api = api().await;
    let client = DpopClient::new(Algorithm::ES256);
    let thief = DpopClient::new(Algorithm::ES256);
    let token = api.bound(&client);

    // The thief's own valid proof, for the victim's token.
    api.dpop(&token, &proof(&thief, &token).sign())
        .await
        .assert(401, &INVALID_TOKEN, "proof key is not cnf.jkt");
    // The bound token presented as a bearer token: no downgrade.
    let bearer = format!("Bearer {token}");
    api.call("GET", "/read", &[("authorization", &bearer)])
        .await
        .assert(401, &INVALID_TOKEN, "downgrade to Bearer");
    // ... even with the genuine proof beside it.
    let p = proof(&client, &token).sign();
    api.call("GET", "/read", &[("authorization", &bearer), ("dpop", &p)])
        .await
        .assert(401, &INVALID_TOKEN, "downgrade to Bearer with a proof");
    // A plain bearer token presented as DPoP, with a valid proof: no upgrade.
    let plain = api.token().sign();
    api.dpop(&plain, &proof(&client, &plain).sign())
        .await
        .assert(401, &INVALID_TOKEN, "bearer token as DPoP");
    // The plain bearer token as a bearer token: accepted, DPoP is not required here.
    let bearer = format!("Bearer {plain}");
    api.call("GET", "/read", &[("authorization", &bearer)])
        .await
        .assert(200, &[], "bearer token as bearer");
    // A cache hit is held to the same rule: the genuine request passes, then the thief's
    // proof with the cached token is refused.
    api.dpop(&token, &proof(&client, &token).sign())
        .await
        .assert(200, &[], "genuine");
    api.dpop(&token, &proof(&thief, &token).sign())
        .await
        .assert(401, &INVALID_TOKEN, "cached token, thief's proof");
}

#[tokio::test]
async fn malformed_dpop_requests_are_400() {
    let api = api().await;
    let client = DpopClient::new(Algorithm::ES256);
    let token = api.bound(&client);
    let auth = format!("DPoP {token}");
    let p = proof(&client, &token).sign();
    let bad_request = [
        r#"Bearer error="invalid_request""#,
        r#"DPoP algs="RS256 ES256 EdDSA", error="invalid_request""#,
    ];
    api.call(
        "GET",
        "/read",
        &[("authorization", &auth), ("dpop", &p), ("dpop", &p)],
    )
    .await
    .assert(400, &bad_request, "two proofs");
    api.call(
        "GET",
        "/read",
        &[
            ("authorization", &auth),
            ("authorization", &auth),
            ("dpop", &p),
        ],
    )
    .await
    .assert(400, &bad_request, "two credentials");
    api.call("GET", "/read", &[("authorization", "DPoP"), ("dpop", &p)])
        .await
        .assert(400, &bad_request, "DPoP without a token");
    // Without a proof, DPoP: invalid proof; without anything: both schemes challenged.
    api.call("GET", "/read", &[("authorization", &auth)])
        .await
        .assert(401, &INVALID_PROOF, "no proof");
    api.call("GET", "/read", &[])
        .await
        .assert(401, &["Bearer", ALGS], "no credentials");
}

#[tokio::test]
async fn required_dpop_refuses_bearer_tokens_and_challenges_dpop_only() {
    let clock = ManualClock::at(NOW);
    let api = api_with(rules(&clock).required(true), clock).await;
    let plain = format!("Bearer {}", api.token().sign());
    api.call("GET", "/read", &[("authorization", &plain)])
        .await
        .assert(401, &[ALGS], "bearer where DPoP is required");
    api.call("GET", "/read", &[])
        .await
        .assert(401, &[ALGS], "nothing");
    let client = DpopClient::new(Algorithm::EdDSA);
    let token = api.bound(&client);
    api.dpop(&token, &proof(&client, &token).sign())
        .await
        .assert(200, &[], "DPoP");
    api.dpop(&token, &proof(&client, &token).issued_at(NOW - 300).sign())
        .await
        .assert(
            401,
            &[r#"DPoP algs="RS256 ES256 EdDSA", error="invalid_dpop_proof""#],
            "old proof",
        );
}

#[tokio::test]
async fn nonces_are_asked_for_refreshed_and_expire_on_the_clock() {
    let clock = ManualClock::at(NOW);
    let secret = NonceKey::new([9; 32]);
    let api = api_with(rules(&clock).nonces([secret.clone()]), clock.clone()).await;
    let client = DpopClient::new(Algorithm::ES256);
    let token = api.bound(&client);
    let use_nonce = [
        "Bearer",
        r#"DPoP algs="RS256 ES256 EdDSA", error="use_dpop_nonce""#,
    ];

    // No nonce: asked for one.
    let first = api.dpop(&token, &proof(&client, &token).sign()).await;
    first.assert(401, &use_nonce, "no nonce");
    let nonce = first.nonce.clone().expect("DPoP-Nonce");
    // With it: accepted, and no new nonce while it is current.
    let ok = api
        .dpop(&token, &proof(&client, &token).nonce(&nonce).sign())
        .await;
    ok.assert(200, &[], "with the nonce");
    assert_eq!(ok.nonce, None);
    // A forged nonce: asked again.
    let forged = api
        .dpop(&token, &proof(&client, &token).nonce("AAAA").sign())
        .await;
    forged.assert(401, &use_nonce, "forged nonce");
    assert_eq!(forged.nonce.as_deref(), Some(nonce.as_str()));

    // Two minutes on: still valid, and the answer carries the next nonce.
    clock.advance_secs(120);
    let p = proof(&client, &token).issued_at(NOW + 120).nonce(&nonce);
    let later = api.dpop(&token, &p.sign()).await;
    later.assert(200, &[], "older nonce, still valid");
    let next = later.nonce.clone().expect("a fresh nonce on success");
    assert_ne!(next, nonce);

    // Past its lifetime (5 minutes): refused, with a fresh one.
    clock.advance_secs(200);
    let p = proof(&client, &token).issued_at(NOW + 320).nonce(&nonce);
    let expired = api.dpop(&token, &p.sign()).await;
    expired.assert(401, &use_nonce, "expired nonce");
    assert!(expired.nonce.is_some());

    // Another replica with the same secrets (rotated: a new one first) accepts this one's
    // nonce; one with another secret does not.
    let current = expired.nonce.unwrap();
    let rotated = api_with(
        rules(&clock).nonces([NonceKey::new([10; 32]), secret]),
        clock.clone(),
    )
    .await;
    let token_b = rotated.bound(&client);
    let p = proof(&client, &token_b)
        .issued_at(NOW + 320)
        .nonce(&current);
    rotated
        .dpop(&token_b, &p.sign())
        .await
        .assert(200, &[], "rotated replica");
    let stranger = api_with(rules(&clock).nonces([NonceKey::new([11; 32])]), clock).await;
    let token_c = stranger.bound(&client);
    let p = proof(&client, &token_c)
        .issued_at(NOW + 320)
        .nonce(&current);
    stranger
        .dpop(&token_c, &p.sign())
        .await
        .assert(401, &use_nonce, "another secret");
}

/// A store that is down.
struct Down;

impl ReplayStore for Down {
    fn first_use(&self, _: &ReplayKey, _: Duration) -> FirstUse {
        FirstUse::Ready(Err(ReplayStoreError::new("connection refused")))
    }
}

/// A store that answers after a round trip, and counts its calls.
#[derive(Clone, Default)]
struct Remote {
    inner: Arc<LocalReplayStore>,
    calls: Arc<AtomicUsize>,
}

impl ReplayStore for Remote {
    fn first_use(&self, key: &ReplayKey, ttl: Duration) -> FirstUse {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let answer = match self.inner.first_use(key, ttl) {
            FirstUse::Ready(answer) => answer,
            FirstUse::Pending(_) => unreachable!(),
        };
        FirstUse::Pending(Box::pin(async move {
            tokio::task::yield_now().await;
            answer
        }))
    }

    fn is_shared(&self) -> bool {
        true
    }
}

#[tokio::test]
async fn an_unavailable_replay_store_is_503_never_401_nor_a_pass() {
    let clock = ManualClock::at(NOW);
    let api = api_with(rules(&clock).replay_store(Down), clock).await;
    let client = DpopClient::new(Algorithm::ES256);
    let token = api.bound(&client);
    let answer = api.dpop(&token, &proof(&client, &token).sign()).await;
    answer.assert(503, &[], "store down");
    assert!(answer.retry_after);
}

#[tokio::test]
async fn a_store_that_answers_later_is_awaited_and_asked_only_for_proofs_that_passed() {
    let clock = ManualClock::at(NOW);
    let store = Remote {
        inner: Arc::new(LocalReplayStore::with_clock(100, clock.clone())),
        ..Remote::default()
    };
    let api = api_with(rules(&clock).replay_store(store.clone()).replicas(3), clock).await;
    let client = DpopClient::new(Algorithm::ES256);
    let token = api.bound(&client);
    let p = proof(&client, &token).sign();
    api.dpop(&token, &p).await.assert(200, &[], "first");
    api.dpop(&token, &p)
        .await
        .assert(401, &INVALID_PROOF, "replay");
    assert_eq!(store.calls.load(Ordering::SeqCst), 2);
    // Refused before any state: a wrong URI, a thief's key, an expired token.
    let thief = DpopClient::new(Algorithm::ES256);
    api.dpop(
        &token,
        &proof(&client, &token)
            .claim("htu", json!("https://x.test/"))
            .sign(),
    )
    .await
    .assert(401, &INVALID_PROOF, "wrong htu");
    api.dpop(&token, &proof(&thief, &token).sign())
        .await
        .assert(401, &INVALID_TOKEN, "thief");
    let expired = client.bind(api.token().expires_in(-120)).sign();
    api.dpop(&expired, &proof(&client, &expired).sign())
        .await
        .assert(401, &INVALID_TOKEN, "expired token");
    assert_eq!(store.calls.load(Ordering::SeqCst), 2, "no state touched");
}

#[test]
fn rules_that_cannot_protect_are_refused_at_build_time() {
    for (what, builder) in [
        ("HMAC", Dpop::builder().algorithms([Algorithm::HS256])),
        ("no algorithm", Dpop::builder().algorithms([])),
        ("zero window", Dpop::builder().max_age(Duration::ZERO)),
        ("several replicas, local store", Dpop::builder().replicas(2)),
        (
            "nonce lifetime under its refresh",
            Dpop::builder()
                .nonces([NonceKey::new([1; 32])])
                .nonce_timing(Duration::from_secs(10), Duration::from_secs(60)),
        ),
    ] {
        let e = builder.build().unwrap_err();
        assert!(!e.to_string().is_empty(), "{what}");
    }
    assert!(Dpop::builder().replicas(1).build().is_ok());
}

#[tokio::test]
async fn claims_reach_the_handler_and_the_challenge_keeps_the_realm() {
    let api = api().await;
    let client = DpopClient::new(Algorithm::ES256);
    let token = client.bind(api.token().subject("alice")).sign();
    let res = reqwest::Client::new()
        .get(format!("{}/read", api.url))
        .header("authorization", format!("DPoP {token}"))
        .header("dpop", proof(&client, &token).sign())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "alice");
    let _: Value = json!(null);
}

#[tokio::test]
async fn a_route_can_require_dpop_where_the_layer_accepts_bearer_tokens_too() {
    let clock = ManualClock::at(NOW);
    let issuer = TestKey::generate(Algorithm::ES256);
    let jwks = json!({ "keys": [issuer.public_jwk()] }).to_string();
    let keys = StaticKeys::from_jwks(&jwks, AlgorithmSet::ASYMMETRIC).unwrap();
    let validator = Validator::builder()
        .issuer("https://issuer.test")
        .audience("api")
        .clock(clock.clone())
        .build()
        .unwrap();
    let auth = BearerAuthLayer::new(JwtVerifier::new(keys, validator))
        .public_origin(ORIGIN)
        .dpop(rules(&clock).build().unwrap());
    let app = Router::new()
        .route("/pay", get(|| async { "paid" }))
        .route_layer(auth.require_dpop())
        .merge(
            Router::new()
                .route("/refund", get(|| async { "refunded" }))
                .route_layer(auth.require_scopes(["write"]).and_dpop()),
        )
        .route("/read", get(|| async { "read" }))
        .route_layer(auth.clone());
    let api = Api {
        url: serve(app).await,
        issuer,
        clock,
    };
    let plain = format!("Bearer {}", api.token().sign());
    api.call("GET", "/read", &[("authorization", &plain)])
        .await
        .assert(200, &[], "bearer where bearer is fine");
    // Only the DPoP challenge: a Bearer retry could not pass.
    for path in ["/pay", "/refund"] {
        api.call("GET", path, &[("authorization", &plain)])
            .await
            .assert(401, &[ALGS], path);
    }
    let client = DpopClient::new(Algorithm::ES256);
    let token = client.bind(api.token().scope("read")).sign();
    let auth_header = format!("DPoP {token}");
    let at = |path: &str| {
        client
            .proof("GET", &format!("{ORIGIN}{path}"))
            .token(&token)
            .issued_at(NOW)
            .sign()
    };
    api.call(
        "GET",
        "/pay",
        &[("authorization", &auth_header), ("dpop", &at("/pay"))],
    )
    .await
    .assert(200, &[], "DPoP on /pay");
    api.call(
        "GET",
        "/refund",
        &[("authorization", &auth_header), ("dpop", &at("/refund"))],
    )
    .await
    .assert(
        403,
        &[
            r#"Bearer error="insufficient_scope", scope="write""#,
            r#"DPoP algs="RS256 ES256 EdDSA", error="insufficient_scope", scope="write""#,
        ],
        "DPoP without the scope",
    );
}

#[tokio::test]
async fn a_dpop_route_is_not_opened_by_an_option_that_accepts_bound_tokens_as_bearer() {
    // Behind a gateway that checked the proofs, bound tokens may pass as bearer tokens; a
    // route that requires DPoP still wants the proof checked here.
    let clock = ManualClock::at(NOW);
    let issuer = TestKey::generate(Algorithm::ES256);
    let jwks = json!({ "keys": [issuer.public_jwk()] }).to_string();
    let keys = StaticKeys::from_jwks(&jwks, AlgorithmSet::ASYMMETRIC).unwrap();
    let validator = Validator::builder()
        .issuer("https://issuer.test")
        .audience("api")
        .clock(clock.clone())
        .danger_accept_sender_constrained_tokens_as_bearer()
        .build()
        .unwrap();
    let auth = BearerAuthLayer::new(JwtVerifier::new(keys, validator))
        .public_origin(ORIGIN)
        .dpop(rules(&clock).build().unwrap());
    let app = Router::new()
        .route("/pay", get(|| async { "paid" }))
        .route_layer(auth.require_dpop())
        .route("/read", get(|| async { "read" }))
        .route_layer(auth);
    let api = Api {
        url: serve(app).await,
        issuer,
        clock,
    };
    let client = DpopClient::new(Algorithm::ES256);
    let token = api.bound(&client);
    let bearer = format!("Bearer {token}");
    api.call("GET", "/read", &[("authorization", &bearer)])
        .await
        .assert(200, &[], "the option lets a bound token pass as bearer");
    api.call("GET", "/pay", &[("authorization", &bearer)])
        .await
        .assert(401, &[ALGS], "but not where DPoP is required");
    let dpop = format!("DPoP {token}");
    let p = client
        .proof("GET", &format!("{ORIGIN}/pay"))
        .token(&token)
        .issued_at(NOW)
        .sign();
    api.call("GET", "/pay", &[("authorization", &dpop), ("dpop", &p)])
        .await
        .assert(200, &[], "with its proof");
}

#[tokio::test]
async fn a_policy_rule_can_require_dpop_with_scopes_where_others_take_bearer_tokens() {
    use portcullis_core::ScopeRequirement;
    use portcullis_tower::{Policy, Requirements};

    let clock = ManualClock::at(NOW);
    let issuer = TestKey::generate(Algorithm::ES256);
    let jwks = json!({ "keys": [issuer.public_jwk()] }).to_string();
    let keys = StaticKeys::from_jwks(&jwks, AlgorithmSet::ASYMMETRIC).unwrap();
    let validator = Validator::builder()
        .issuer("https://issuer.test")
        .audience("api")
        .clock(clock.clone())
        .build()
        .unwrap();
    let policy = Policy::deny_by_default()
        .route(
            "/pay",
            Requirements::new()
                .scopes(ScopeRequirement::all_of(["pay"]))
                .dpop(),
        )
        .route("/read", Requirements::new())
        .build()
        .unwrap();
    let auth = BearerAuthLayer::new(JwtVerifier::new(keys, validator))
        .public_origin(ORIGIN)
        .dpop(rules(&clock).build().unwrap())
        .policy(policy);
    let app = Router::new()
        .route("/pay", get(|| async { "paid" }))
        .route("/read", get(|| async { "read" }))
        .layer(auth);
    let api = Api {
        url: serve(app).await,
        issuer,
        clock,
    };
    let plain = format!("Bearer {}", api.token().scope("pay").sign());
    api.call("GET", "/read", &[("authorization", &plain)])
        .await
        .assert(200, &[], "bearer where the rule asks for no proof");
    // A bearer token with the scope: only the DPoP challenge, a Bearer retry could not pass.
    api.call("GET", "/pay", &[("authorization", &plain)])
        .await
        .assert(401, &[ALGS], "bearer on the DPoP rule");
    let client = DpopClient::new(Algorithm::ES256);
    let bound = |scope: &str| client.bind(api.token().scope(scope)).sign();
    let call = |token: String| {
        let proof = client
            .proof("GET", &format!("{ORIGIN}/pay"))
            .token(&token)
            .issued_at(NOW)
            .sign();
        let api = &api;
        async move {
            api.call(
                "GET",
                "/pay",
                &[
                    ("authorization", &format!("DPoP {token}")),
                    ("dpop", &proof),
                ],
            )
            .await
        }
    };
    call(bound("pay"))
        .await
        .assert(200, &[], "DPoP with the scope");
    call(bound("read")).await.assert(
        403,
        &[
            r#"Bearer error="insufficient_scope", scope="pay""#,
            r#"DPoP algs="RS256 ES256 EdDSA", error="insufficient_scope", scope="pay""#,
        ],
        "DPoP without the scope",
    );
}

/// The API behind a layer with `origins`, served with each connection's address in the
/// requests (axum's `ConnectInfo`), as a server behind proxies is.
async fn api_behind_proxies(origins: portcullis_tower::ForwardedOrigins) -> Api {
    use std::net::SocketAddr;

    let clock = ManualClock::at(NOW);
    let issuer = TestKey::generate(Algorithm::ES256);
    let jwks = json!({ "keys": [issuer.public_jwk()] }).to_string();
    let keys = StaticKeys::from_jwks(&jwks, AlgorithmSet::ASYMMETRIC).unwrap();
    let validator = Validator::builder()
        .issuer("https://issuer.test")
        .audience("api")
        .clock(clock.clone())
        .build()
        .unwrap();
    let origins = origins.peer_address(|extensions| {
        extensions
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip())
    });
    let layer = BearerAuthLayer::new(JwtVerifier::new(keys, validator))
        .forwarded_origins(origins)
        .dpop(rules(&clock).build().unwrap());
    let app = Router::new()
        .route("/read", get(|| async { "read" }))
        .route_layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .into_future(),
    );
    Api { url, issuer, clock }
}

#[tokio::test]
async fn htu_names_the_origin_a_trusted_proxy_forwards_and_no_other() {
    use portcullis_tower::{ForwardedHeader, ForwardedOrigins};

    const OTHER: &str = "https://api.example.org";
    let origins = || ForwardedOrigins::new([ORIGIN, OTHER]).unwrap();
    let trusted = api_behind_proxies(origins().trusted_proxies(["127.0.0.0/8"]).unwrap()).await;
    let untrusted = api_behind_proxies(origins().trusted_proxies(["10.0.0.0/8"]).unwrap()).await;
    let x_forwarded = api_behind_proxies(
        origins()
            .trusted_proxies(["127.0.0.1"])
            .unwrap()
            .header(ForwardedHeader::XForwarded),
    )
    .await;
    let client = DpopClient::new(Algorithm::ES256);
    async fn call(client: &DpopClient, api: &Api, htu: &str, forwarded: &[(&str, &str)]) -> Answer {
        let token = client.bind(api.token()).sign();
        let proof = client
            .proof("GET", &format!("{htu}/read"))
            .token(&token)
            .issued_at(NOW)
            .sign();
        let authorization = format!("DPoP {token}");
        let mut headers = vec![("authorization", authorization.as_str()), ("dpop", &proof)];
        headers.extend_from_slice(forwarded);
        api.call("GET", "/read", &headers).await
    }
    let by_org = [(
        "forwarded",
        "for=192.0.2.7;proto=https;host=api.example.org",
    )];
    let by_evil = [("forwarded", "proto=https;host=evil.example")];
    // The proxy says the client called the other name: proofs for it pass, not for the first.
    call(&client, &trusted, OTHER, &by_org)
        .await
        .assert(200, &[], "trusted, other name");
    call(&client, &trusted, ORIGIN, &by_org).await.assert(
        401,
        &INVALID_PROOF,
        "trusted, proof for the name not called",
    );
    // Without a header, or naming an origin not configured: the first origin.
    call(&client, &trusted, ORIGIN, &[])
        .await
        .assert(200, &[], "no header");
    call(&client, &trusted, ORIGIN, &by_evil)
        .await
        .assert(200, &[], "unknown name");
    call(&client, &trusted, "https://evil.example", &by_evil)
        .await
        .assert(401, &INVALID_PROOF, "a proof for an unconfigured name");
    // A peer outside the trusted networks chooses nothing.
    call(&client, &untrusted, OTHER, &by_org)
        .await
        .assert(401, &INVALID_PROOF, "untrusted peer");
    call(&client, &untrusted, ORIGIN, &by_org)
        .await
        .assert(200, &[], "untrusted, first name");
    // X-Forwarded-*: the nearest proxy's values; `Forwarded` is not read then.
    let x_org = [
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "evil.example, api.example.org"),
    ];
    call(&client, &x_forwarded, OTHER, &x_org)
        .await
        .assert(200, &[], "x-forwarded");
    call(&client, &x_forwarded, OTHER, &by_org).await.assert(
        401,
        &INVALID_PROOF,
        "Forwarded on an X-Forwarded layer",
    );
}
