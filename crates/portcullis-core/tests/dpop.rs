// Tests may unwrap, index and panic: a failure is the test's report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! DPoP in the core, without HTTP: each rule of a proof refuses with its own reason, the
//! window's edges, the binding both ways, the nonce, the replay store and the order of the
//! checks. The layer's answers for the same cases are in `tests/dpop.rs` at the root.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use portcullis_core::dpop::{
    Dpop, DpopBuilder, DpopVerifier, FirstUse, LocalReplayStore, NonceKey, ReplayKey, ReplayStore,
    ReplayStoreError,
};
use portcullis_core::{
    Algorithm, AlgorithmSet, Clock, ErrorKind, KeySet, MalformedPart, ManualClock, Presentation,
    ProofError, Scheme, Validator, Verdict, Verifier, VerifyingKey,
};
use portcullis_testkit::{DpopClient, ProofBuilder, TestKey, TokenBuilder, b64url, tamper};
use serde_json::json;

const NOW: i64 = 1_800_000_000;
const ORIGIN: &str = "https://api.example.test";

/// Tokens checked by a validator against fixed keys, counting the calls.
struct Tokens {
    validator: Validator,
    keys: KeySet,
    calls: Arc<AtomicUsize>,
}

impl Verifier for Tokens {
    fn verify(&self, presentation: &Presentation<'_>) -> Verdict {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Verdict::Ready(
            self.validator
                .validate_presentation(presentation, &self.keys),
        )
    }

    fn now_unix(&self) -> f64 {
        self.validator.clock().now_unix()
    }

    fn health(&self) -> Vec<portcullis_core::health::SourceHealth> {
        vec![portcullis_core::health::SourceHealth::new(
            "static keys",
            portcullis_core::health::KeyHealth::of_key_count(self.keys.len()),
        )]
    }
}

/// A replay store that counts its calls.
#[derive(Clone)]
struct Counting {
    inner: Arc<LocalReplayStore>,
    calls: Arc<AtomicUsize>,
}

impl ReplayStore for Counting {
    fn first_use(&self, key: &ReplayKey, ttl: Duration) -> FirstUse {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.first_use(key, ttl)
    }
}

struct Setup {
    issuer: TestKey,
    clock: ManualClock,
    tokens: Arc<Tokens>,
    verifier: DpopVerifier<Arc<Tokens>>,
    token_calls: Arc<AtomicUsize>,
    store_calls: Arc<AtomicUsize>,
}

impl Setup {
    fn new(rules: impl FnOnce(DpopBuilder) -> DpopBuilder) -> Setup {
        let clock = ManualClock::at(NOW);
        let issuer = TestKey::generate(Algorithm::ES256).with_kid("k");
        let key = VerifyingKey::from_jwk_json(&issuer.public_jwk().to_string(), AlgorithmSet::ALL)
            .unwrap();
        let validator = Validator::builder()
            .issuer("https://issuer.test")
            .audience("api")
            .clock(clock.clone())
            .build()
            .unwrap();
        let store = Counting {
            inner: Arc::new(LocalReplayStore::with_clock(1_000, clock.clone())),
            calls: Arc::default(),
        };
        let store_calls = store.calls.clone();
        let dpop = rules(
            Dpop::builder()
                .algorithms([Algorithm::ES256, Algorithm::EdDSA, Algorithm::PS256])
                .clock(clock.clone())
                .replay_store(store),
        )
        .build()
        .unwrap();
        let token_calls = Arc::new(AtomicUsize::new(0));
        let tokens = Arc::new(Tokens {
            validator,
            keys: KeySet::new(vec![key]),
            calls: token_calls.clone(),
        });
        Setup {
            issuer,
            clock,
            tokens: tokens.clone(),
            verifier: DpopVerifier::new(tokens, dpop),
            token_calls,
            store_calls,
        }
    }

    fn token(&self, client: &DpopClient) -> String {
        client.bind(TokenBuilder::new(&self.issuer).now(NOW)).sign()
    }

    fn check(&self, scheme: Scheme, token: &str, proof: Option<&str>) -> Result<(), ErrorKind> {
        self.check_at(scheme, token, proof, "GET", "/orders")
    }

    fn check_at(
        &self,
        scheme: Scheme,
        token: &str,
        proof: Option<&str>,
        method: &str,
        path: &str,
    ) -> Result<(), ErrorKind> {
        let mut p = Presentation::new(scheme, token)
            .with_request(method, path)
            .with_origin(ORIGIN);
        if let Some(proof) = proof {
            p = p.with_dpop_proof(proof);
        }
        match self.verifier.verify(&p) {
            Verdict::Ready(r) => r.map(|_| ()).map_err(|e| e.into_kind()),
            Verdict::Pending(_) => panic!("nothing here waits"),
        }
    }

    fn dpop(&self, token: &str, proof: &str) -> Result<(), ErrorKind> {
        self.check(Scheme::DPoP, token, Some(proof))
    }
}

fn proof(client: &DpopClient, token: &str) -> ProofBuilder {
    client
        .proof("GET", &format!("{ORIGIN}/orders"))
        .token(token)
        .issued_at(NOW)
}

fn invalid(e: ProofError) -> Result<(), ErrorKind> {
    Err(ErrorKind::InvalidProof(e))
}

#[test]
fn each_rule_of_a_proof_refuses_with_its_own_reason_and_touches_no_state() {
    let s = Setup::new(|b| b);
    let client = DpopClient::new(Algorithm::ES256);
    let token = s.token(&client);
    let stranger = TestKey::generate(Algorithm::ES256);
    let mut private = client.jwk();
    private["d"] = json!("AAAA");
    let mut with_k = client.jwk();
    with_k["k"] = json!("AAAA");
    let mut numeric_x = client.jwk();
    numeric_x["x"] = json!(1);
    let mut no_kty = client.jwk();
    no_kty.as_object_mut().unwrap().remove("kty");
    let mut enc = client.jwk();
    enc["use"] = json!("enc");
    let mut numeric_use = client.jwk();
    numeric_use["use"] = json!(5);
    let unsigned = {
        let (h, c, _) = tamper::parts(&proof(&client, &token).sign());
        format!("{}.{}.", b64url(h.as_bytes()), b64url(c.as_bytes()))
    };
    let resigned =
        |header: &str, claims: &str| TokenBuilder::sign_raw(client.key(), header, claims);
    let (h, c, _) = tamper::parts(&proof(&client, &token).sign());
    let at = |path: &str| json!(format!("{ORIGIN}{path}"));
    let cases: Vec<(ProofError, String)> = vec![
        (
            ProofError::WrongType,
            proof(&client, &token).header("typ", json!("jwt")).sign(),
        ),
        (
            ProofError::WrongType,
            proof(&client, &token).header("typ", json!(1)).sign(),
        ),
        (
            ProofError::WrongType,
            proof(&client, &token).remove_header("typ").sign(),
        ),
        (
            ProofError::WrongType,
            proof(&client, &token)
                .header("typ", json!("applicatioX/dpop+jwt"))
                .sign(),
        ),
        (ProofError::Malformed(MalformedPart::Signature), unsigned),
        (
            ProofError::Malformed(MalformedPart::Header),
            proof(&client, &token).remove_header("alg").sign(),
        ),
        (
            ProofError::Malformed(MalformedPart::Header),
            proof(&client, &token).header("alg", json!(256)).sign(),
        ),
        (
            ProofError::DisallowedAlgorithm,
            proof(&client, &token).header("alg", json!("none")).sign(),
        ),
        (
            ProofError::DisallowedAlgorithm,
            proof(&client, &token).header("alg", json!("HS256")).sign(),
        ),
        (
            ProofError::DisallowedAlgorithm,
            proof(&client, &token).header("alg", json!("ES384")).sign(),
        ),
        (
            ProofError::UnknownCriticalHeader,
            proof(&client, &token).header("crit", json!(["x"])).sign(),
        ),
        (
            ProofError::UnknownCriticalHeader,
            proof(&client, &token).header("b64", json!(false)).sign(),
        ),
        (
            ProofError::PrivateKey,
            proof(&client, &token).header("jwk", private).sign(),
        ),
        (
            ProofError::PrivateKey,
            proof(&client, &token).header("jwk", with_k).sign(),
        ),
        (
            ProofError::MissingKey,
            proof(&client, &token).remove_header("jwk").sign(),
        ),
        (
            ProofError::InvalidKey,
            proof(&client, &token).header("jwk", json!([1])).sign(),
        ),
        (
            ProofError::InvalidKey,
            proof(&client, &token).header("jwk", numeric_x).sign(),
        ),
        (
            ProofError::InvalidKey,
            proof(&client, &token).header("jwk", no_kty).sign(),
        ),
        (
            ProofError::InvalidKey,
            proof(&client, &token).header("jwk", enc).sign(),
        ),
        (
            ProofError::InvalidKey,
            proof(&client, &token).header("jwk", numeric_use).sign(),
        ),
        (
            ProofError::InvalidSignature,
            proof(&client, &token).signed_by(&stranger).sign(),
        ),
        (
            ProofError::InvalidSignature,
            tamper::flip_signature_bit(&proof(&client, &token).sign()),
        ),
        (
            ProofError::MissingClaim("jti"),
            proof(&client, &token).remove_claim("jti").sign(),
        ),
        (
            ProofError::InvalidClaim("jti"),
            proof(&client, &token).jti("").sign(),
        ),
        (
            ProofError::InvalidClaim("jti"),
            proof(&client, &token).jti(&"j".repeat(257)).sign(),
        ),
        (
            ProofError::InvalidClaim("jti"),
            proof(&client, &token).claim("jti", json!(7)).sign(),
        ),
        (
            ProofError::MissingClaim("htm"),
            proof(&client, &token).remove_claim("htm").sign(),
        ),
        (
            ProofError::InvalidClaim("htm"),
            proof(&client, &token).claim("htm", json!(1)).sign(),
        ),
        (
            ProofError::WrongMethod,
            proof(&client, &token).claim("htm", json!("POST")).sign(),
        ),
        (
            ProofError::WrongMethod,
            proof(&client, &token).claim("htm", json!("get")).sign(),
        ),
        (
            ProofError::MissingClaim("htu"),
            proof(&client, &token).remove_claim("htu").sign(),
        ),
        (
            ProofError::InvalidClaim("htu"),
            proof(&client, &token).claim("htu", json!([])).sign(),
        ),
        (
            ProofError::WrongUri,
            proof(&client, &token).claim("htu", at("/other")).sign(),
        ),
        (
            ProofError::WrongUri,
            proof(&client, &token)
                .claim("htu", at("/other?orders"))
                .sign(),
        ),
        (
            ProofError::WrongUri,
            proof(&client, &token).claim("htu", json!("/orders")).sign(),
        ),
        (
            ProofError::MissingClaim("iat"),
            proof(&client, &token).remove_claim("iat").sign(),
        ),
        (
            ProofError::InvalidClaim("iat"),
            proof(&client, &token).claim("iat", json!("1")).sign(),
        ),
        (
            ProofError::TooOld,
            proof(&client, &token).issued_at(NOW - 61).sign(),
        ),
        (
            ProofError::IssuedInFuture,
            proof(&client, &token).issued_at(NOW + 11).sign(),
        ),
        (
            ProofError::MissingClaim("ath"),
            proof(&client, &token).remove_claim("ath").sign(),
        ),
        (
            ProofError::InvalidClaim("ath"),
            proof(&client, &token).claim("ath", json!(0)).sign(),
        ),
        (
            ProofError::WrongTokenHash,
            proof(&client, &token).claim("ath", json!("x")).sign(),
        ),
        (
            ProofError::InvalidClaim("nonce"),
            proof(&client, &token).claim("nonce", json!(1)).sign(),
        ),
        (ProofError::Malformed(MalformedPart::Segments), "a.b".into()),
        (ProofError::Malformed(MalformedPart::Empty), String::new()),
        (
            ProofError::Malformed(MalformedPart::Base64),
            "a!.b.c".into(),
        ),
        (
            ProofError::TooLarge,
            format!("{}.{}.c", "a".repeat(8192), "b"),
        ),
        (
            ProofError::Malformed(MalformedPart::Header),
            resigned("[1]", &c),
        ),
        (
            ProofError::Malformed(MalformedPart::DuplicateHeaderMember),
            resigned(&h.replacen('{', r#"{"typ":"dpop+jwt","#, 1), &c),
        ),
        (
            ProofError::Malformed(MalformedPart::Payload),
            resigned(&h, "[]"),
        ),
        (
            ProofError::Malformed(MalformedPart::DuplicatePayloadMember),
            resigned(&h, &c.replacen('{', r#"{"htm":"GET","#, 1)),
        ),
    ];
    for (expected, proof) in cases {
        assert_eq!(s.dpop(&token, &proof), invalid(expected), "{expected:?}");
    }
    assert_eq!(
        s.token_calls.load(Ordering::SeqCst),
        0,
        "the token was never looked at"
    );
    assert_eq!(s.store_calls.load(Ordering::SeqCst), 0, "no state touched");
    assert_eq!(s.dpop(&token, &proof(&client, &token).sign()), Ok(()));
    assert_eq!(s.store_calls.load(Ordering::SeqCst), 1);
}

#[test]
fn the_window_is_inclusive_at_both_edges_and_follows_the_clock() {
    let s = Setup::new(|b| {
        b.max_age(Duration::from_secs(30))
            .max_skew(Duration::from_secs(2))
    });
    let client = DpopClient::new(Algorithm::EdDSA);
    let token = s.token(&client);
    assert_eq!(
        s.dpop(&token, &proof(&client, &token).issued_at(NOW - 30).sign()),
        Ok(())
    );
    assert_eq!(
        s.dpop(&token, &proof(&client, &token).issued_at(NOW - 31).sign()),
        invalid(ProofError::TooOld)
    );
    assert_eq!(
        s.dpop(&token, &proof(&client, &token).issued_at(NOW + 2).sign()),
        Ok(())
    );
    assert_eq!(
        s.dpop(&token, &proof(&client, &token).issued_at(NOW + 3).sign()),
        invalid(ProofError::IssuedInFuture)
    );
    let later = proof(&client, &token).sign();
    s.clock.advance_secs(31);
    assert_eq!(s.dpop(&token, &later), invalid(ProofError::TooOld));
}

#[test]
fn a_jti_may_be_as_long_as_the_limit_and_the_verifier_answers_for_its_inner_one() {
    let s = Setup::new(|b| b);
    let client = DpopClient::new(Algorithm::ES256);
    let token = s.token(&client);
    let longest = proof(&client, &token).jti(&"j".repeat(256)).sign();
    assert_eq!(s.dpop(&token, &longest), Ok(()));
    // The clock and the key health are the token verifier's.
    assert_eq!(s.verifier.now_unix(), NOW as f64);
    s.clock.advance_secs(7);
    assert_eq!(s.verifier.now_unix(), (NOW + 7) as f64);
    let health = s.verifier.health();
    assert_eq!(health.len(), 1);
    assert_eq!(&*health[0].source, "static keys");
    // The public normal form is the one `htu` is compared in.
    assert_eq!(
        portcullis_core::dpop::normalize_uri("HTTPS://A.Example:443/x/../y").as_deref(),
        Some("https://a.example/y")
    );
    assert_eq!(portcullis_core::dpop::normalize_uri("/y"), None);
    // Replicas need a shared store; one process does not.
    assert!(Dpop::builder().replicas(2).build().is_err());
    assert!(Dpop::builder().replicas(1).build().is_ok());
}

#[test]
fn the_binding_is_checked_both_ways_and_the_scheme_matters() {
    let s = Setup::new(|b| b);
    let client = DpopClient::new(Algorithm::ES256);
    let thief = DpopClient::new(Algorithm::ES256);
    let token = s.token(&client);
    assert_eq!(
        s.dpop(&token, &proof(&thief, &token).sign()),
        Err(ErrorKind::ProofKeyMismatch)
    );
    assert_eq!(
        s.check(Scheme::Bearer, &token, None),
        Err(ErrorKind::SenderConstrained)
    );
    let p = proof(&client, &token).sign();
    assert_eq!(
        s.check(Scheme::Bearer, &token, Some(&p)),
        Err(ErrorKind::SenderConstrained),
        "a proof beside a Bearer credential changes nothing"
    );
    assert_eq!(
        s.check(Scheme::DPoP, &token, None),
        invalid(ProofError::Missing)
    );
    let plain = TokenBuilder::new(&s.issuer).now(NOW).sign();
    assert_eq!(
        s.dpop(&plain, &proof(&client, &plain).sign()),
        Err(ErrorKind::NotDpopBound)
    );
    assert_eq!(s.check(Scheme::Bearer, &plain, None), Ok(()));
    // An unusable cnf.jkt makes the token's claims invalid.
    let odd = TokenBuilder::new(&s.issuer)
        .now(NOW)
        .claim("cnf", json!({ "jkt": "not-32-bytes" }))
        .sign();
    assert_eq!(
        s.check(Scheme::Bearer, &odd, None),
        Err(ErrorKind::InvalidClaim("cnf".into()))
    );
    for cnf in [json!("jkt"), json!({ "jkt": 5 }), json!({ "x5t#S256": [] })] {
        let odd = TokenBuilder::new(&s.issuer)
            .now(NOW)
            .claim("cnf", cnf)
            .sign();
        assert_eq!(
            s.check(Scheme::Bearer, &odd, None),
            Err(ErrorKind::InvalidClaim("cnf".into()))
        );
    }
    // A binding portcullis cannot check (RFC 7800 `jwk`) is no bearer token either.
    let other = TokenBuilder::new(&s.issuer)
        .now(NOW)
        .claim("cnf", json!({ "jwk": client.jwk() }))
        .sign();
    assert_eq!(
        s.check(Scheme::Bearer, &other, None),
        Err(ErrorKind::SenderConstrained)
    );
    assert_eq!(
        s.dpop(&other, &proof(&client, &other).sign()),
        Err(ErrorKind::NotDpopBound)
    );
}

#[test]
fn required_dpop_refuses_bearer_tokens_before_looking_at_them() {
    let s = Setup::new(|b| b.required(true));
    let plain = TokenBuilder::new(&s.issuer).now(NOW).sign();
    assert_eq!(
        s.check(Scheme::Bearer, &plain, None),
        Err(ErrorKind::DpopRequired)
    );
    assert_eq!(s.token_calls.load(Ordering::SeqCst), 0);
    assert!(s.verifier.dpop().is_required());
    let client = DpopClient::new(Algorithm::ES256);
    let token = s.token(&client);
    assert_eq!(s.dpop(&token, &proof(&client, &token).sign()), Ok(()));
}

#[test]
fn a_replay_is_refused_only_after_every_other_check_passed() {
    let s = Setup::new(|b| b);
    let client = DpopClient::new(Algorithm::ES256);
    let token = s.token(&client);
    let p = proof(&client, &token).sign();
    assert_eq!(s.dpop(&token, &p), Ok(()));
    assert_eq!(s.dpop(&token, &p), invalid(ProofError::Replayed));
    // The same jti from another key is another proof.
    let other = DpopClient::new(Algorithm::ES256);
    let other_token = s.token(&other);
    let same_jti = proof(&other, &other_token).jti(&jti_of(&p)).sign();
    assert_eq!(s.dpop(&other_token, &same_jti), Ok(()));
    // A token refused (expired) never spends the proof's slot.
    let expired = client
        .bind(TokenBuilder::new(&s.issuer).now(NOW).expires_in(-120))
        .sign();
    let calls = s.store_calls.load(Ordering::SeqCst);
    let p = proof(&client, &expired).sign();
    assert_eq!(s.dpop(&expired, &p), Err(ErrorKind::Expired));
    assert_eq!(s.store_calls.load(Ordering::SeqCst), calls);
    // Past the window the entry may go, and the proof is refused as too old anyway.
    let p = proof(&client, &token).sign();
    assert_eq!(s.dpop(&token, &p), Ok(()));
    s.clock.advance_secs(61);
    assert_eq!(s.dpop(&token, &p), invalid(ProofError::TooOld));
}

fn jti_of(proof: &str) -> String {
    let (_, claims, _) = tamper::parts(proof);
    let claims: serde_json::Value = serde_json::from_str(&claims).unwrap();
    claims["jti"].as_str().unwrap().to_owned()
}

#[test]
fn nonces_are_required_refreshed_and_checked_after_the_token() {
    let s = Setup::new(|b| {
        b.nonces([NonceKey::new([3; 32])])
            .nonce_timing(Duration::from_secs(300), Duration::from_secs(60))
    });
    let dpop = s.verifier.dpop().clone();
    assert!(dpop.uses_nonces());
    let client = DpopClient::new(Algorithm::ES256);
    let token = s.token(&client);
    let current = dpop.current_nonce().unwrap();
    let Err(ErrorKind::UseDpopNonce(given)) = s.dpop(&token, &proof(&client, &token).sign()) else {
        panic!("a nonce is asked for")
    };
    assert_eq!(given, current);
    assert_eq!(
        s.store_calls.load(Ordering::SeqCst),
        0,
        "no state for a missing nonce"
    );
    // A bad token is said first.
    let expired = client
        .bind(TokenBuilder::new(&s.issuer).now(NOW).expires_in(-120))
        .sign();
    assert_eq!(
        s.dpop(&expired, &proof(&client, &expired).sign()),
        Err(ErrorKind::Expired)
    );
    // With the nonce: accepted, and no new nonce while it is current.
    let p = Presentation::new(Scheme::DPoP, &token)
        .with_request("GET", "/orders")
        .with_origin(ORIGIN);
    let with_nonce = proof(&client, &token).nonce(&current).sign();
    let judged = dpop.verify(s.verifier_inner(), &p.with_dpop_proof(&with_nonce));
    assert!(matches!(judged.verdict, Verdict::Ready(Ok(_))));
    assert_eq!(judged.next_nonce, None);
    // A minute on, still valid, and the next one comes with the answer.
    s.clock.advance_secs(60);
    let older = proof(&client, &token)
        .issued_at(NOW + 60)
        .nonce(&current)
        .sign();
    let judged = dpop.verify(s.verifier_inner(), &p.with_dpop_proof(&older));
    assert!(matches!(judged.verdict, Verdict::Ready(Ok(_))));
    let next = judged.next_nonce.expect("the next nonce");
    assert_ne!(next, current);
    assert_eq!(Some(next), dpop.current_nonce());
    // Past its lifetime: asked again.
    s.clock.advance_secs(241);
    let stale = proof(&client, &token)
        .issued_at(NOW + 301)
        .nonce(&current)
        .sign();
    assert!(matches!(
        s.dpop(&token, &stale),
        Err(ErrorKind::UseDpopNonce(_))
    ));
}

impl Setup {
    /// The token verifier inside the DPoP rules.
    fn verifier_inner(&self) -> &dyn Verifier {
        &*self.tokens
    }
}

/// A store that cannot answer.
struct Down;

impl ReplayStore for Down {
    fn first_use(&self, _: &ReplayKey, _: Duration) -> FirstUse {
        FirstUse::Ready(Err(ReplayStoreError::new("down")))
    }
}

/// A store that answers later.
struct Later(Arc<LocalReplayStore>);

impl ReplayStore for Later {
    fn first_use(&self, key: &ReplayKey, ttl: Duration) -> FirstUse {
        let FirstUse::Ready(answer) = self.0.first_use(key, ttl) else {
            unreachable!()
        };
        FirstUse::Pending(Box::pin(async move { answer }))
    }

    fn is_shared(&self) -> bool {
        true
    }
}

/// Polls a future that is ready at its first poll (nothing here really waits).
fn now<F: std::future::IntoFuture>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f.into_future());
    match f
        .as_mut()
        .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
    {
        std::task::Poll::Ready(out) => out,
        std::task::Poll::Pending => panic!("not ready at once"),
    }
}

#[test]
fn stores_that_fail_or_answer_later() {
    let s = Setup::new(|b| b.replay_store(Down));
    let client = DpopClient::new(Algorithm::ES256);
    let token = s.token(&client);
    assert_eq!(
        s.dpop(&token, &proof(&client, &token).sign()),
        Err(ErrorKind::ReplayStoreUnavailable("down".into()))
    );

    let clock = ManualClock::at(NOW);
    let s = Setup::new(|b| {
        b.replay_store(Later(Arc::new(LocalReplayStore::with_clock(10, clock))))
            .replicas(4)
    });
    let token = s.token(&client);
    let p = proof(&client, &token).sign();
    let present = Presentation::new(Scheme::DPoP, &token)
        .with_request("GET", "/orders")
        .with_origin(ORIGIN)
        .with_dpop_proof(&p);
    let first = s.verifier.verify(&present);
    assert!(!first.is_ready());
    assert!(now(first).is_ok());
    let again = now(s.verifier.verify(&present)).unwrap_err();
    assert_eq!(again.kind(), &ErrorKind::InvalidProof(ProofError::Replayed));
}

/// A verifier that answers later (a key fetch, an introspection call).
struct Slow(Arc<Tokens>);

impl Verifier for Slow {
    fn verify(&self, presentation: &Presentation<'_>) -> Verdict {
        let result = match self.0.verify(presentation) {
            Verdict::Ready(result) => result,
            Verdict::Pending(_) => unreachable!(),
        };
        Verdict::pending(async move { result })
    }
}

#[test]
fn a_pending_token_verdict_is_followed_by_the_nonce_and_the_replay_check() {
    let s = Setup::new(|b| b.nonces([NonceKey::new([5; 32])]));
    let dpop = s.verifier.dpop().clone();
    let client = DpopClient::new(Algorithm::ES256);
    let token = s.token(&client);
    // The inner verifier of the setup, answering later.
    let slow = Slow(s.tokens);
    let p = Presentation::new(Scheme::DPoP, &token)
        .with_request("GET", "/orders")
        .with_origin(ORIGIN);
    let no_nonce = proof(&client, &token).sign();
    let judged = dpop.verify(&slow, &p.with_dpop_proof(&no_nonce));
    assert!(!judged.verdict.is_ready());
    let e = now(judged.verdict).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::UseDpopNonce(_)));
    let nonce = dpop.current_nonce().unwrap();
    let good = proof(&client, &token).nonce(&nonce).sign();
    assert!(now(dpop.verify(&slow, &p.with_dpop_proof(&good)).verdict).is_ok());
    let e = now(dpop.verify(&slow, &p.with_dpop_proof(&good)).verdict).unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::InvalidProof(ProofError::Replayed));
}

#[test]
fn without_a_public_origin_no_proof_passes() {
    let s = Setup::new(|b| b);
    let client = DpopClient::new(Algorithm::ES256);
    let token = s.token(&client);
    let p = proof(&client, &token).sign();
    let present = Presentation::new(Scheme::DPoP, &token)
        .with_request("GET", "/orders")
        .with_dpop_proof(&p);
    let Verdict::Ready(Err(e)) = s.verifier.verify(&present) else {
        panic!()
    };
    assert_eq!(
        e.kind(),
        &ErrorKind::InvalidProof(ProofError::UnknownTargetUri)
    );
    assert_eq!(
        s.check_at(Scheme::DPoP, &token, Some(&p), "GET", "/orders"),
        Ok(())
    );
}

#[test]
fn the_rules_say_what_they_accept() {
    let dpop = Dpop::builder()
        .algorithms([Algorithm::ES256, Algorithm::EdDSA])
        .build()
        .unwrap();
    assert_eq!(
        dpop.algorithms().iter().collect::<Vec<_>>(),
        [Algorithm::ES256, Algorithm::EdDSA]
    );
    assert!(!dpop.is_required());
    assert!(!dpop.uses_nonces());
    assert_eq!(dpop.current_nonce(), None);
    let shown = format!("{dpop:?}");
    assert!(shown.contains("required: false"), "{shown}");
    assert!(
        Dpop::builder()
            .algorithms([Algorithm::ES256, Algorithm::HS256])
            .build()
            .is_err()
    );
    assert!(
        Dpop::builder()
            .nonces([NonceKey::new([1; 32])])
            .nonce_timing(Duration::from_secs(60), Duration::ZERO)
            .build()
            .is_err()
    );
    assert!(
        Dpop::builder()
            .nonces([NonceKey::new([1; 32])])
            .nonce_timing(Duration::from_secs(60), Duration::from_secs(60))
            .build()
            .is_ok()
    );
}

/// A verifier of one's own that knows nothing of DPoP: it vouches for fixed claims.
struct Trusting(&'static str);

impl Verifier for Trusting {
    fn verify(&self, _: &Presentation<'_>) -> Verdict {
        Verdict::Ready(portcullis_core::Claims::from_trusted_json(self.0))
    }
}

#[test]
fn the_rules_check_the_binding_whatever_the_verifier() {
    let client = DpopClient::new(Algorithm::ES256);
    let thief = DpopClient::new(Algorithm::ES256);
    let token = "opaque-token";
    let p = proof(&client, token).sign();
    let present = Presentation::new(Scheme::DPoP, token)
        .with_request("GET", "/orders")
        .with_origin(ORIGIN)
        .with_dpop_proof(&p);
    let dpop = Dpop::builder().clock(ManualClock::at(NOW)).build().unwrap();
    let judge = |claims: String| {
        let claims: &'static str = Box::leak(claims.into_boxed_str());
        match dpop.verify(&Trusting(claims), &present).verdict {
            Verdict::Ready(r) => r.map(|_| ()).map_err(|e| e.into_kind()),
            Verdict::Pending(_) => panic!("nothing here waits"),
        }
    };
    let bound_to = |who: &DpopClient| format!(r#"{{"sub":"a","cnf":{{"jkt":"{}"}}}}"#, who.jkt());
    // Refused before the replay store: the same proof is still unspent afterwards.
    assert_eq!(judge(bound_to(&thief)), Err(ErrorKind::ProofKeyMismatch));
    assert_eq!(
        judge(r#"{"sub":"a"}"#.to_owned()),
        Err(ErrorKind::NotDpopBound)
    );
    assert_eq!(judge(bound_to(&client)), Ok(()));
    assert_eq!(
        judge(bound_to(&client)),
        Err(ErrorKind::InvalidProof(ProofError::Replayed))
    );
}

/// A store that records the time-to-live it is asked for.
struct Recording(Arc<std::sync::Mutex<Vec<Duration>>>);

impl ReplayStore for Recording {
    fn first_use(&self, _: &ReplayKey, ttl: Duration) -> FirstUse {
        self.0.lock().unwrap().push(ttl);
        FirstUse::Ready(Ok(true))
    }
}

#[test]
fn a_proof_is_remembered_for_the_rest_of_its_window_and_the_replicas_skew() {
    let ttls = Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = Setup::new(|b| b.replay_store(Recording(ttls.clone())));
    let client = DpopClient::new(Algorithm::ES256);
    let token = s.token(&client);
    assert_eq!(s.dpop(&token, &proof(&client, &token).sign()), Ok(()));
    assert_eq!(
        s.dpop(&token, &proof(&client, &token).issued_at(NOW - 40).sign()),
        Ok(())
    );
    assert_eq!(
        s.dpop(&token, &proof(&client, &token).issued_at(NOW + 8).sign()),
        Ok(())
    );
    // 60 s of window from `iat`, plus 5 s of skew between replicas.
    assert_eq!(*ttls.lock().unwrap(), [65, 25, 73].map(Duration::from_secs));
}

#[test]
fn proofs_up_to_the_cap_are_read_and_longer_ones_refused_unread() {
    let s = Setup::new(|b| b);
    let client = DpopClient::new(Algorithm::ES256);
    let token = s.token(&client);
    // A proof of about 7 KiB (large keys and extra claims make proofs long).
    let long = proof(&client, &token)
        .claim("pad", json!("p".repeat(5_000)))
        .sign();
    assert!(long.len() > 6_000 && long.len() < 8_192, "{}", long.len());
    assert_eq!(s.dpop(&token, &long), Ok(()));
    let too_long = proof(&client, &token)
        .claim("pad", json!("p".repeat(6_500)))
        .sign();
    assert!(too_long.len() > 8_192);
    assert_eq!(s.dpop(&token, &too_long), invalid(ProofError::TooLarge));
}

#[test]
fn a_certificate_bound_token_needs_the_certificate_it_names() {
    use portcullis_core::CertificateThumbprint;

    let s = Setup::new(|b| b);
    let cert = [0x5a; 32];
    let bound = TokenBuilder::new(&s.issuer)
        .now(NOW)
        .claim("cnf", json!({ "x5t#S256": b64url(&cert) }))
        .sign();
    let keys = &s.tokens.keys;
    let validator = &s.tokens.validator;
    let present = |thumbprint: Option<&CertificateThumbprint>| {
        let mut p = Presentation::bearer(&bound);
        if let Some(t) = thumbprint {
            p = p.with_certificate(t);
        }
        validator
            .validate_presentation(&p, keys)
            .map(|_| ())
            .map_err(|e| e.into_kind())
    };
    assert_eq!(present(Some(&CertificateThumbprint(cert))), Ok(()));
    assert_eq!(
        present(Some(&CertificateThumbprint([0x5b; 32]))),
        Err(ErrorKind::CertificateMismatch)
    );
    assert_eq!(present(None), Err(ErrorKind::CertificateMismatch));
    // Bound both ways: the proof and the certificate are both needed.
    let client = DpopClient::new(Algorithm::ES256);
    let both = client
        .bind(TokenBuilder::new(&s.issuer).now(NOW))
        .claim(
            "cnf",
            json!({ "jkt": client.jkt(), "x5t#S256": b64url(&cert) }),
        )
        .sign();
    let p = proof(&client, &both).sign();
    assert_eq!(s.dpop(&both, &p), Err(ErrorKind::CertificateMismatch));
    let claims = validator
        .validate(&bound, keys)
        .map(|_| ())
        .map_err(|e| e.into_kind());
    assert_eq!(
        claims,
        Err(ErrorKind::CertificateMismatch),
        "as a bearer token"
    );
}

/// A verifier with its own answers to the questions a router asks.
struct Particular;

impl Verifier for Particular {
    fn verify(&self, _: &Presentation<'_>) -> Verdict {
        Verdict::Ready(Err(ErrorKind::UnknownKey.into()))
    }

    fn accepts_only_b64tokens(&self) -> bool {
        true
    }

    fn max_token_len(&self) -> usize {
        1234
    }
}

#[test]
fn the_dpop_verifier_answers_for_the_verifier_it_wraps() {
    let wrapped = DpopVerifier::new(Particular, Dpop::builder().build().unwrap());
    assert!(wrapped.accepts_only_b64tokens());
    assert_eq!(wrapped.max_token_len(), 1234);
    let s = Setup::new(|b| b);
    assert!(!s.verifier.accepts_only_b64tokens());
    assert_eq!(s.verifier.max_token_len(), 8 * 1024);
}
