// Test code: a failed unwrap, expect, panic or index is a failed test, not a crash an attacker
// can cause.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Thousands of concurrent requests through the layer, over loopback, while the issuer rotates
//! its keys and its JWKS endpoint goes down and comes back: no valid request is refused while
//! its key is cached, every invalid one is refused, and the caches stay within their bounds.
//!
//! Time is injected: the key source runs on a `ManualTimer` that the test moves past the key
//! lifetime and the retry backoff; the outage itself is a real `503` from the issuer.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use portcullis::jwt::{Algorithm, Validator};
use portcullis::keys::{FetchStats, JwtVerifier, KeySource, ManualTimer, RemoteJwks, TokenCache};
use portcullis::layer::BearerAuthLayer;
use portcullis_testkit::{JwksFault, TestIssuer, serve, tamper};

/// Requests in all, and at most this many in flight at once.
const REQUESTS: usize = 3000;
const IN_FLIGHT: usize = 64;
/// Distinct tokens per signing key: more than the cache holds, so that it evicts.
const TOKENS_PER_KEY: usize = 200;
const CACHE_ENTRIES: u64 = 128;
/// Every this many requests, one carries an invalid token.
const INVALID_EVERY: usize = 7;

/// What happens when the request counter reaches each mark.
const ROTATE_TO_SECOND_KEY: usize = 500;
const JWKS_DOWN: usize = 1100;
const ROTATE_DURING_OUTAGE: usize = 1500;
const JWKS_BACK: usize = 2100;

/// The genuine tokens of one signing key.
struct Pool {
    kid: String,
    tokens: Vec<String>,
}

/// What the workers share.
struct Run {
    idp: TestIssuer,
    keys: RemoteJwks,
    timer: ManualTimer,
    cache: TokenCache,
    url: String,
    http: reqwest::Client,
    next: AtomicUsize,
    /// The pools that may be sent now (one per key the issuer has signed with so far).
    pools: [OnceLock<Pool>; 3],
    generations: AtomicUsize,
    invalid: Vec<(&'static str, String)>,
    tally: Mutex<Tally>,
}

#[derive(Default, Debug)]
struct Tally {
    /// `(key generation, status)` of valid tokens whose key was in the snapshot when sent.
    cached_ok: [usize; 3],
    /// Valid tokens whose key was not yet cached: accepted (after a refetch) or refused.
    uncached_ok: [usize; 3],
    uncached_refused: [usize; 3],
    invalid_refused: usize,
    /// Anything that must never happen, described without the token.
    violations: Vec<String>,
    max_cache_len: u64,
}

fn mint(idp: &TestIssuer, n: usize) -> Pool {
    let kid = idp.signing_key().kid().to_owned();
    let tokens = (0..n)
        .map(|i| idp.token().subject(&format!("user-{i}")).sign())
        .collect();
    Pool { kid, tokens }
}

/// Waits (for the source's own counters, never for time to pass) until `pred` holds; a 10 s
/// real-time guard turns a hang into a failure.
async fn wait_for_stats(keys: &RemoteJwks, pred: impl FnMut(&FetchStats) -> bool) {
    let mut rx = keys.watch_stats();
    tokio::time::timeout(Duration::from_secs(10), rx.wait_for(pred))
        .await
        .expect("the key source did not get there in 10 s")
        .expect("the key source is alive");
}

impl Run {
    /// The step of the scenario due at request `i`, if any; the next pool is offered only once
    /// its key exists.
    async fn act(&self, i: usize) {
        match i {
            ROTATE_TO_SECOND_KEY => {
                self.idp.rotate(Algorithm::ES256);
                self.pools[1]
                    .set(mint(&self.idp, TOKENS_PER_KEY))
                    .ok()
                    .unwrap();
                self.generations.store(2, Ordering::SeqCst);
            }
            JWKS_DOWN => {
                self.idp.set_fault(Some(JwksFault::Status(503)));
                // Past the keys' lifetime (max-age 300 s): the background refresh fails, and
                // the last good keys keep serving (stale, within the 6 h bound).
                self.timer.advance(Duration::from_secs(301));
                wait_for_stats(&self.keys, |s| s.failures >= 1).await;
            }
            ROTATE_DURING_OUTAGE => {
                self.idp.rotate(Algorithm::ES256);
                self.pools[2]
                    .set(mint(&self.idp, TOKENS_PER_KEY))
                    .ok()
                    .unwrap();
                self.generations.store(3, Ordering::SeqCst);
            }
            JWKS_BACK => {
                self.idp.set_fault(None);
                // Past the longest retry backoff: the background refresh brings the third key.
                self.timer.advance(Duration::from_secs(31));
                let third = self.pools[2].get().unwrap().kid.clone();
                let keys = self.keys.clone();
                wait_for_stats(&self.keys, move |_| keys.snapshot().contains_kid(&third)).await;
            }
            _ => {}
        }
    }

    async fn send(&self, token: &str) -> (u16, Option<String>) {
        let res = self
            .http
            .get(&self.url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let challenge = res
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned());
        (res.status().as_u16(), challenge)
    }

    async fn one(&self, i: usize) {
        self.act(i).await;
        if i.is_multiple_of(INVALID_EVERY) {
            let (what, token) = &self.invalid[(i / INVALID_EVERY) % self.invalid.len()];
            let (status, challenge) = self.send(token).await;
            let mut tally = self.tally.lock().unwrap();
            if status == 401 && challenge.as_deref() == Some(r#"Bearer error="invalid_token""#) {
                tally.invalid_refused += 1;
            } else {
                tally.violations.push(format!(
                    "request {i}: {what} answered {status} {challenge:?}"
                ));
            }
            return;
        }
        let generations = self.generations.load(Ordering::SeqCst);
        let generation = i % generations;
        let pool = self.pools[generation].get().unwrap();
        let token = &pool.tokens[i % pool.tokens.len()];
        let cached = self.keys.snapshot().contains_kid(&pool.kid);
        let (status, challenge) = self.send(token).await;
        let len = self.cache.len();
        let mut tally = self.tally.lock().unwrap();
        tally.max_cache_len = tally.max_cache_len.max(len);
        match (cached, status) {
            (true, 200) => tally.cached_ok[generation] += 1,
            (false, 200) => tally.uncached_ok[generation] += 1,
            (false, 401) => tally.uncached_refused[generation] += 1,
            (cached, status) => tally.violations.push(format!(
                "request {i}: a valid token of key {} (cached: {cached}) answered {status} \
                 {challenge:?}",
                generation + 1
            )),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_concurrent_requests_ride_through_rotations_and_a_jwks_outage() {
    let idp = TestIssuer::start().await;
    let timer = ManualTimer::new();
    let keys = RemoteJwks::builder(idp.jwks_url())
        .timer(timer.clone())
        .refresh_jitter(0.0)
        .build()
        .await
        .unwrap();
    let rules = Validator::builder()
        .issuer(idp.issuer())
        .audience("api")
        .build()
        .unwrap();
    let cache = TokenCache::new(CACHE_ENTRIES);
    let verifier = JwtVerifier::new(keys.clone(), rules).with_cache(Some(cache.clone()));
    let app = Router::new()
        .route("/me", get(|| async { "ok" }))
        .route_layer(BearerAuthLayer::new(verifier));
    let url = format!("{}/me", serve(app).await);

    let first = mint(&idp, TOKENS_PER_KEY);
    let genuine = first.tokens[0].clone();
    let invalid = vec![
        (
            "a flipped signature bit",
            tamper::flip_signature_bit(&genuine),
        ),
        ("a stripped signature", tamper::strip_signature(&genuine)),
        ("an expired token", idp.token().expires_in(-3600).sign()),
        ("another audience", idp.token().audience("other-api").sign()),
        (
            "another issuer",
            idp.token().issuer("https://evil.example").sign(),
        ),
        (
            "alg none",
            idp.token().header("alg", serde_json::json!("none")).sign(),
        ),
    ];
    let run = Arc::new(Run {
        idp: idp.clone(),
        keys: keys.clone(),
        timer,
        cache: cache.clone(),
        url,
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(IN_FLIGHT)
            .build()
            .unwrap(),
        next: AtomicUsize::new(0),
        pools: [OnceLock::from(first), OnceLock::new(), OnceLock::new()],
        generations: AtomicUsize::new(1),
        invalid,
        tally: Mutex::new(Tally::default()),
    });

    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..IN_FLIGHT {
        let run = Arc::clone(&run);
        workers.spawn(async move {
            loop {
                let i = run.next.fetch_add(1, Ordering::SeqCst);
                if i >= REQUESTS {
                    break;
                }
                run.one(i).await;
            }
        });
    }
    while let Some(done) = workers.join_next().await {
        done.unwrap();
    }

    let tally = run.tally.lock().unwrap();
    assert!(tally.violations.is_empty(), "{:#?}", tally.violations);
    let stats = keys.stats();
    // Every request was answered one way or the other.
    let counted = tally.cached_ok.iter().sum::<usize>()
        + tally.uncached_ok.iter().sum::<usize>()
        + tally.uncached_refused.iter().sum::<usize>()
        + tally.invalid_refused;
    assert_eq!(counted, REQUESTS, "{tally:?}");
    // Each key served from the cache in its time; the outage was real (the key published
    // during it was refused until the endpoint came back), and the source said so.
    for generation in 0..3 {
        assert!(tally.cached_ok[generation] > 0, "{tally:?}");
    }
    assert!(tally.uncached_refused[2] > 0, "{tally:?}");
    assert!(stats.failures >= 1, "{stats:?}");
    // Bounded: the verified-token cache never held more than its cap, the key set holds the
    // three published keys, and the issuer saw a handful of fetches for 3,000 requests.
    assert!(tally.max_cache_len <= CACHE_ENTRIES, "{tally:?}");
    assert!(cache.len() <= CACHE_ENTRIES);
    assert_eq!(keys.snapshot().len(), 3);
    assert!(
        idp.jwks_fetches() <= 10,
        "{} JWKS fetches",
        idp.jwks_fetches()
    );
}
