//! What is remembered between requests: verdicts by token digest, and the calls in flight.
//!
//! Tokens are never stored: entries and flights are keyed by HMAC-SHA-256 of the token under
//! a key drawn at random when the introspector is built, so the map holds nothing that could
//! be presented as a token, and nothing that could be checked against a guessed token outside
//! this process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use aws_lc_rs::hmac;
use moka::Expiry;
use portcullis_core::{AuthError, Claims};

/// The digest of a token.
pub(crate) type Key = [u8; 32];

/// Keys tokens.
pub(crate) struct Digester {
    key: hmac::Key,
}

impl Digester {
    /// A digester with a fresh random key, or `None` if the system has no randomness.
    pub(crate) fn random() -> Option<Self> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &rng).ok()?;
        Some(Digester { key })
    }

    /// A digester with a key shared by the replicas.
    pub(crate) fn shared(key: &crate::shared::SharedCacheKey) -> Self {
        Digester {
            key: key.digest_key().clone(),
        }
    }

    pub(crate) fn key(&self, token: &str) -> Key {
        let tag = hmac::sign(&self.key, token.as_bytes());
        let mut key = [0u8; 32];
        // HMAC-SHA-256 tags are 32 bytes; a shorter slice would leave zeros, never panic.
        for (out, byte) in key.iter_mut().zip(tag.as_ref()) {
            *out = *byte;
        }
        key
    }
}

/// What the endpoint said about a token, after the claim rules.
#[derive(Clone)]
pub(crate) enum Verdict {
    /// Active, and the claims pass every rule.
    Active(Claims),
    /// Inactive, or active with claims a rule refuses.
    Refused(AuthError),
}

impl Verdict {
    pub(crate) fn into_result(self) -> Result<Claims, AuthError> {
        match self {
            Verdict::Active(claims) => Ok(claims),
            Verdict::Refused(error) => Err(error),
        }
    }
}

#[derive(Clone)]
struct Entry {
    verdict: Verdict,
    /// Past this instant of the validator's clock, the entry is not used.
    until: f64,
    /// The same lifetime in real time, for moka: a memory bound only.
    ttl: Duration,
}

struct ByEntry;

impl Expiry<Key, Entry> for ByEntry {
    fn expire_after_create(&self, _: &Key, entry: &Entry, _: Instant) -> Option<Duration> {
        Some(entry.ttl)
    }
}

/// How long verdicts are used: an active token until the earlier of its `exp` and the active
/// lifetime, a refusal for the inactive lifetime.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lifetimes {
    pub(crate) active: f64,
    pub(crate) inactive: f64,
}

impl Lifetimes {
    pub(crate) fn new(active: Duration, inactive: Duration) -> Self {
        Lifetimes {
            active: active.as_secs_f64(),
            inactive: inactive.as_secs_f64(),
        }
    }

    /// Until when a verdict reached at `now` is used.
    pub(crate) fn until(&self, verdict: &Verdict, now: f64) -> f64 {
        match verdict {
            Verdict::Active(claims) => {
                let cap = now + self.active;
                claims.expires_at().map_or(now, |exp| exp.min(cap))
            }
            Verdict::Refused(_) => now + self.inactive,
        }
    }
}

/// Verdicts by token digest, bounded in number. Lifetimes are decided on the validator's
/// clock (checked on every read); moka's own expiry, on real time, only frees the memory.
pub(crate) struct VerdictCache {
    entries: moka::sync::Cache<Key, Entry>,
    lifetimes: Lifetimes,
}

impl VerdictCache {
    pub(crate) fn new(max_entries: u64, lifetimes: Lifetimes) -> Self {
        VerdictCache {
            entries: moka::sync::Cache::builder()
                .max_capacity(max_entries)
                .expire_after(ByEntry)
                .build(),
            lifetimes,
        }
    }

    /// The verdict on `key`, if one is remembered and still current at `now`.
    pub(crate) fn get(&self, key: &Key, now: f64) -> Option<Verdict> {
        let entry = self.entries.get(key)?;
        if now < entry.until {
            Some(entry.verdict)
        } else {
            self.entries.invalidate(key);
            None
        }
    }

    pub(crate) fn remove(&self, key: &Key) {
        self.entries.invalidate(key);
    }

    /// Remembers a verdict reached at `now`, for its lifetime.
    pub(crate) fn insert(&self, key: Key, verdict: &Verdict, now: f64) {
        let until = self.lifetimes.until(verdict, now);
        self.insert_until(key, verdict, now, until);
    }

    /// Remembers a verdict until `until`, or its own lifetime from `now` if that is sooner
    /// (a verdict another replica reached earlier keeps its first deadline).
    pub(crate) fn insert_until(&self, key: Key, verdict: &Verdict, now: f64, until: f64) {
        let until = until.min(self.lifetimes.until(verdict, now));
        let Ok(ttl) = Duration::try_from_secs_f64(until - now) else {
            return; // not positive (or not finite): nothing to remember
        };
        if ttl.is_zero() {
            return;
        }
        self.entries.insert(
            key,
            Entry {
                verdict: verdict.clone(),
                until,
                ttl,
            },
        );
    }

    pub(crate) fn len(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.entry_count()
    }

    pub(crate) fn clear(&self) {
        self.entries.invalidate_all();
    }

    pub(crate) fn max_entries(&self) -> u64 {
        self.entries.policy().max_capacity().unwrap_or(0)
    }
}

/// One introspection call, shared by every request that presents the same token meanwhile.
pub(crate) type Flight = tokio::sync::OnceCell<Result<Claims, AuthError>>;

/// The calls in flight, by token digest. Never locked across an await.
#[derive(Default)]
pub(crate) struct Flights {
    map: Mutex<HashMap<Key, Arc<Flight>>>,
}

impl Flights {
    fn map(&self) -> MutexGuard<'_, HashMap<Key, Arc<Flight>>> {
        // The map is consistent between statements; a panic elsewhere leaves it usable.
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The flight for `key`: the one in progress, or a new one.
    pub(crate) fn join(&self, key: Key) -> Arc<Flight> {
        self.map().entry(key).or_default().clone()
    }

    /// Forgets `flight` (and only it: a later flight for the same key stays).
    pub(crate) fn leave(&self, key: &Key, flight: &Arc<Flight>) {
        let mut map = self.map();
        if map
            .get(key)
            .is_some_and(|current| Arc::ptr_eq(current, flight))
        {
            map.remove(key);
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map().len()
    }
}

/// Removes a flight from the map when the call that started it ends, completed or dropped
/// (a dropped call leaves its waiters to run it again, as [`tokio::sync::OnceCell`] does).
pub(crate) struct Leave<'a> {
    pub(crate) flights: &'a Flights,
    pub(crate) key: Key,
    pub(crate) flight: &'a Arc<Flight>,
}

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.flights.leave(&self.key, self.flight);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_core::ErrorKind;

    fn active(exp: f64) -> Verdict {
        let json = format!(r#"{{"exp":{exp}}}"#);
        Verdict::Active(Claims::from_trusted_json(&json).unwrap())
    }

    #[test]
    fn digests_are_keyed_per_instance_and_stable_within_one() {
        let a = Digester::random().unwrap();
        let b = Digester::random().unwrap();
        assert_eq!(a.key("t"), a.key("t"));
        assert_ne!(a.key("t"), a.key("u"));
        assert_ne!(a.key("t"), b.key("t"));
    }

    #[test]
    fn active_verdicts_last_until_exp_or_the_cap_and_refusals_briefly() {
        let lifetimes = Lifetimes::new(Duration::from_secs(60), Duration::from_secs(5));
        let cache = VerdictCache::new(10, lifetimes);
        let now = 1_000.0;
        cache.insert([1; 32], &active(1_030.0), now);
        cache.insert([2; 32], &active(5_000.0), now);
        cache.insert([3; 32], &Verdict::Refused(ErrorKind::Inactive.into()), now);
        cache.insert([4; 32], &active(999.0), now); // already expired: not kept
        assert!(cache.get(&[4; 32], now).is_none());
        assert!(cache.get(&[1; 32], 1_029.9).is_some());
        assert!(cache.get(&[1; 32], 1_030.0).is_none());
        assert!(cache.get(&[2; 32], 1_059.9).is_some());
        assert!(cache.get(&[2; 32], 1_060.0).is_none());
        assert!(cache.get(&[3; 32], 1_004.9).is_some());
        assert!(cache.get(&[3; 32], 1_005.0).is_none());
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn a_verdict_from_another_replica_keeps_its_first_deadline() {
        let lifetimes = Lifetimes::new(Duration::from_secs(60), Duration::from_secs(5));
        let cache = VerdictCache::new(10, lifetimes);
        let now = 1_000.0;
        // Reached elsewhere and good until 1_020: not extended to now + 60.
        cache.insert_until([1; 32], &active(5_000.0), now, 1_020.0);
        assert!(cache.get(&[1; 32], 1_019.9).is_some());
        assert!(cache.get(&[1; 32], 1_020.0).is_none());
        // A deadline past the verdict's own lifetime is cut to it.
        cache.insert_until([2; 32], &active(1_010.0), now, 1_050.0);
        assert!(cache.get(&[2; 32], 1_009.9).is_some());
        assert!(cache.get(&[2; 32], 1_010.0).is_none());
        let refused = Verdict::Refused(ErrorKind::Inactive.into());
        cache.insert_until([3; 32], &refused, now, 2_000.0);
        assert!(cache.get(&[3; 32], 1_005.0).is_none());
        cache.insert_until([4; 32], &refused, now, 999.0); // past: not kept
        assert!(cache.get(&[4; 32], now).is_none());
        let shared = crate::shared::SharedCacheKey::new(&[9; 32]).unwrap();
        let (a, b) = (Digester::shared(&shared), Digester::shared(&shared));
        assert_eq!(a.key("t"), b.key("t"));
        assert_ne!(a.key("t"), Digester::random().unwrap().key("t"));
    }

    #[test]
    fn a_flight_leaves_the_map_only_once_and_only_itself() {
        let flights = Flights::default();
        let first = flights.join([7; 32]);
        assert!(Arc::ptr_eq(&first, &flights.join([7; 32])));
        flights.leave(&[7; 32], &first);
        let second = flights.join([7; 32]);
        assert!(!Arc::ptr_eq(&first, &second));
        flights.leave(&[7; 32], &first); // stale: the second flight stays
        assert_eq!(flights.len(), 1);
        drop(Leave {
            flights: &flights,
            key: [7; 32],
            flight: &second,
        });
        assert_eq!(flights.len(), 0);
    }
}
