// Tests may unwrap, index and panic: a failure is the test's report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The safety rules of the verified-token cache: a hit is never accepted where a fresh
//! verification would refuse.

mod common;

use std::sync::{Arc, Mutex};

use common::verify_now;

use portcullis_core::{
    Algorithm, ErrorKind, KeySet, ManualClock, Presentation, Validator, Verifier, VerifyingKey,
};
use portcullis_jwks::{JwtVerifier, KeySource, RefreshFuture, TokenCache};
use portcullis_testkit::{TestKey, TokenBuilder, tamper};

const NOW: i64 = 1_900_000_000;

/// A key source whose keys a test swaps at will.
#[derive(Clone)]
struct SwapKeys(Arc<Mutex<KeySet>>);

impl SwapKeys {
    fn new(keys: &[&TestKey]) -> Self {
        SwapKeys(Arc::new(Mutex::new(key_set(keys))))
    }
    fn set(&self, keys: &[&TestKey]) {
        *self.0.lock().unwrap() = key_set(keys);
    }
}

fn key_set(keys: &[&TestKey]) -> KeySet {
    KeySet::new(
        keys.iter()
            .map(|k| {
                VerifyingKey::from_jwk_json(
                    &k.public_jwk().to_string(),
                    portcullis_core::AlgorithmSet::ASYMMETRIC,
                )
                .unwrap()
            })
            .collect(),
    )
}

impl KeySource for SwapKeys {
    fn snapshot(&self) -> KeySet {
        self.0.lock().unwrap().clone()
    }
    fn refresh_for_unknown_kid<'a>(&'a self, _seen: &'a KeySet) -> RefreshFuture<'a> {
        let keys = self.snapshot();
        Box::pin(async move { Ok(keys) })
    }
}

fn verifier(source: SwapKeys, clock: &ManualClock, cache: TokenCache) -> JwtVerifier<SwapKeys> {
    let rules = Validator::builder()
        .issuer("https://issuer.test")
        .audience("api")
        .clock(clock.clone())
        .build()
        .unwrap();
    JwtVerifier::new(source, rules).with_cache(Some(cache))
}

fn token(key: &TestKey, lifetime: i64) -> String {
    TokenBuilder::new(key).now(NOW).expires_in(lifetime).sign()
}

#[test]
fn a_cached_token_is_refused_once_it_expires() {
    let key = TestKey::generate(Algorithm::ES256).with_kid("a");
    let clock = ManualClock::at(NOW);
    let cache = TokenCache::new(100);
    // Custom rules run when a token is verified in full, never on a hit: they count the
    // full verifications.
    let full = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = full.clone();
    let rules = Validator::builder()
        .issuer("https://issuer.test")
        .audience("api")
        .clock(clock.clone())
        .validator(move |_| {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok(())
        })
        .build()
        .unwrap();
    let v = JwtVerifier::new(SwapKeys::new(&[&key]), rules).with_cache(Some(cache.clone()));
    let full = move || full.load(std::sync::atomic::Ordering::Relaxed);
    let t = token(&key, 120);
    verify_now(&v, &t).unwrap();
    assert_eq!((cache.len(), full()), (1, 1));
    verify_now(&v, &t).unwrap();
    assert_eq!(
        full(),
        1,
        "the second request is a hit: no second verification"
    );
    // Past exp and the 60 s leeway: the entry is still there, and the hit is refused.
    clock.advance_secs(120 + 60);
    assert_eq!(cache.len(), 1);
    assert_eq!(verify_now(&v, &t).unwrap_err().kind(), &ErrorKind::Expired);
    assert_eq!(cache.len(), 0, "an expired token leaves the cache");
}

#[tokio::test]
async fn a_key_removed_from_the_key_set_takes_its_tokens_with_it() {
    let old = TestKey::generate(Algorithm::ES256).with_kid("old");
    let new = TestKey::generate(Algorithm::ES256).with_kid("new");
    let clock = ManualClock::at(NOW);
    let cache = TokenCache::new(100);
    let source = SwapKeys::new(&[&old, &new]);
    let v = verifier(source.clone(), &clock, cache.clone());
    let by_old = token(&old, 300);
    let by_new = token(&new, 300);
    verify_now(&v, &by_old).unwrap();
    verify_now(&v, &by_new).unwrap();
    assert_eq!(cache.len(), 2);

    // The old key is retired: its token is refused although it was cached, after the one
    // question to the source that an unknown kid earns (it has nothing newer).
    source.set(&[&new]);
    let verdict = v.verify(&Presentation::bearer(&by_old));
    assert!(!verdict.is_ready(), "an unknown kid asks the source");
    assert_eq!(verdict.await.unwrap_err().kind(), &ErrorKind::UnknownKey);
    // The new key's token verifies again against the new set, and is cached again.
    verify_now(&v, &by_new).unwrap();
    assert_eq!(cache.len(), 1);
}

#[test]
fn a_tampered_token_is_refused_even_when_its_original_is_cached() {
    let key = TestKey::generate(Algorithm::ES256).with_kid("a");
    let clock = ManualClock::at(NOW);
    let cache = TokenCache::new(100);
    let v = verifier(SwapKeys::new(&[&key]), &clock, cache.clone());
    let t = token(&key, 300);
    verify_now(&v, &t).unwrap();
    let flipped = tamper::flip_signature_bit(&t);
    assert_eq!(
        verify_now(&v, &flipped).unwrap_err().kind(),
        &ErrorKind::InvalidSignature
    );
    let (_, payload, _) = tamper::parts(&t);
    let swapped = tamper::swap_payload(&t, &payload.replace("read write", "read write admin"));
    assert_eq!(
        verify_now(&v, &swapped).unwrap_err().kind(),
        &ErrorKind::InvalidSignature
    );
    // A token with the same signature and one more byte anywhere is another key entirely.
    assert!(verify_now(&v, &format!("{t}A")).is_err());
    assert_eq!(cache.len(), 1);
}

#[test]
fn a_cache_shared_by_verifiers_with_other_rules_never_answers_for_another() {
    let key = TestKey::generate(Algorithm::ES256).with_kid("a");
    let clock = ManualClock::at(NOW);
    let cache = TokenCache::new(100);
    let source = SwapKeys::new(&[&key]);
    let for_api = verifier(source.clone(), &clock, cache.clone());
    let billing = Validator::builder()
        .issuer("https://issuer.test")
        .audience("billing")
        .clock(clock)
        .build()
        .unwrap();
    let for_billing = JwtVerifier::new(source, billing).with_cache(Some(cache.clone()));
    let t = token(&key, 300); // aud: api
    verify_now(&for_api, &t).unwrap();
    assert_eq!(cache.len(), 1);
    assert_eq!(
        verify_now(&for_billing, &t).unwrap_err().kind(),
        &ErrorKind::WrongAudience
    );
    // Billing's refusal leaves the entry of the API's verifier alone.
    assert_eq!(cache.len(), 1);
    verify_now(&for_api, &t).unwrap();
}

#[test]
fn the_cache_stays_within_its_bound() {
    let key = TestKey::generate(Algorithm::ES256).with_kid("a");
    let clock = ManualClock::at(NOW);
    let cache = TokenCache::new(50);
    let v = verifier(SwapKeys::new(&[&key]), &clock, cache.clone());
    for _ in 0..200 {
        verify_now(&v, &token(&key, 300)).unwrap();
    }
    assert!(cache.len() <= 50, "{} entries", cache.len());
    assert_eq!(cache.max_entries(), 50);
}

#[test]
fn without_a_cache_nothing_is_kept() {
    let key = TestKey::generate(Algorithm::ES256).with_kid("a");
    let clock = ManualClock::at(NOW);
    let cache = TokenCache::new(10);
    let v = verifier(SwapKeys::new(&[&key]), &clock, cache.clone()).with_cache(None);
    let t = token(&key, 300);
    verify_now(&v, &t).unwrap();
    verify_now(&v, &t).unwrap();
    assert!(v.cache().is_none());
    assert!(
        cache.is_empty(),
        "the cache it was given, then taken away, holds nothing"
    );
}

#[test]
fn a_token_inside_its_leeway_past_exp_is_accepted_but_never_cached() {
    let key = TestKey::generate(Algorithm::ES256).with_kid("a");
    let clock = ManualClock::at(NOW);
    let cache = TokenCache::new(100);
    let v = verifier(SwapKeys::new(&[&key]), &clock, cache.clone());
    assert!(v.cache().is_some(), "on by default");
    assert!(
        v.accepts_only_b64tokens(),
        "a compact JWS is always a b64token"
    );
    assert_eq!(v.max_token_len(), v.validator().max_token_len());
    // Expired 10 s ago, still inside the 60 s leeway: valid, with no lifetime left to cache.
    let t = token(&key, -10);
    verify_now(&v, &t).unwrap();
    assert_eq!(cache.len(), 0);
    // With lifetime left, it is cached.
    verify_now(&v, &token(&key, 300)).unwrap();
    assert_eq!(cache.len(), 1);
}

#[test]
fn a_maximum_ttl_sends_a_token_through_full_verification_again_on_the_validators_clock() {
    let key = TestKey::generate(Algorithm::ES256).with_kid("a");
    let clock = ManualClock::at(NOW);
    let cache = TokenCache::max_ttl(100, std::time::Duration::from_secs(30));
    let full = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = full.clone();
    let rules = Validator::builder()
        .issuer("https://issuer.test")
        .audience("api")
        .clock(clock.clone())
        .validator(move |_| {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok(())
        })
        .build()
        .unwrap();
    let v = JwtVerifier::new(SwapKeys::new(&[&key]), rules).with_cache(Some(cache.clone()));
    let full = move || full.load(std::sync::atomic::Ordering::Relaxed);
    let t = token(&key, 3_600);
    verify_now(&v, &t).unwrap();
    clock.advance_secs(29);
    verify_now(&v, &t).unwrap();
    assert_eq!(full(), 1, "a hit inside the maximum TTL");
    clock.advance_secs(1);
    verify_now(&v, &t).unwrap();
    assert_eq!(full(), 2, "at the maximum TTL, verified in full again");
    assert_eq!(cache.len(), 1, "and cached anew");
    verify_now(&v, &t).unwrap();
    assert_eq!(full(), 2);
}

#[test]
fn an_entry_past_its_tokens_exp_is_dropped_while_the_leeway_still_accepts_the_token() {
    let key = TestKey::generate(Algorithm::ES256).with_kid("a");
    let clock = ManualClock::at(NOW);
    let cache = TokenCache::new(100);
    let v = verifier(SwapKeys::new(&[&key]), &clock, cache.clone());
    let t = token(&key, 120);
    verify_now(&v, &t).unwrap();
    assert_eq!(cache.len(), 1);
    // Past exp, inside the 60 s leeway: accepted after a full verification, and no longer
    // cached (no lifetime left).
    clock.advance_secs(130);
    verify_now(&v, &t).unwrap();
    assert_eq!(cache.len(), 0);
}

#[test]
fn a_cached_token_past_the_maximum_age_is_refused_before_its_exp() {
    let key = TestKey::generate(Algorithm::ES256).with_kid("a");
    let clock = ManualClock::at(NOW);
    let cache = TokenCache::new(100);
    let rules = Validator::builder()
        .issuer("https://issuer.test")
        .audience("api")
        .clock(clock.clone())
        .max_age(std::time::Duration::from_secs(60))
        .build()
        .unwrap();
    let v = JwtVerifier::new(SwapKeys::new(&[&key]), rules).with_cache(Some(cache.clone()));
    let t = token(&key, 3_600);
    verify_now(&v, &t).unwrap();
    assert_eq!(cache.len(), 1);
    // Well before exp, past the maximum age and the leeway: the hit is refused.
    clock.advance_secs(60 + 60 + 1);
    assert_eq!(verify_now(&v, &t).unwrap_err().kind(), &ErrorKind::TooOld);
    assert_eq!(cache.len(), 0, "and leaves the cache");
}
