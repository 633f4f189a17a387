//! Remembering the DPoP proofs already used: a [`ReplayStore`] answers, atomically, whether
//! this is the first use of a (proof key, `jti`) pair within the time a proof is accepted.
//!
//! [`LocalReplayStore`] keeps them in this process. It protects one replica only: behind a
//! load balancer, a proof accepted by one replica is accepted again by the next unless every
//! replica asks one shared store (Redis: `portcullis-redis`).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::clock::{Clock, SystemClock};

/// The key of one proof in a [`ReplayStore`]: SHA-256 over the proof key's thumbprint and
/// the proof's `jti`. Nothing the client chose is used raw.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReplayKey(pub(crate) [u8; 32]);

impl ReplayKey {
    /// A key from its 32 bytes: for a store's own tests and benches (the core derives the
    /// keys of real proofs itself).
    #[must_use]
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        ReplayKey(bytes)
    }

    /// The digest.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for ReplayKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReplayKey(")?;
        for b in self.0.get(..4).unwrap_or_default() {
            write!(f, "{b:02x}")?;
        }
        f.write_str("..)")
    }
}

/// Why a replay store could not answer. The request is then refused with 503 (fail-closed),
/// never accepted and never answered 401.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayStoreError {
    reason: Box<str>,
}

impl ReplayStoreError {
    /// An error with its reason, which is logged: never a key, a proof or a password (a
    /// store's URL with its credentials, for one).
    pub fn new(reason: impl Into<String>) -> Self {
        ReplayStoreError {
            reason: reason.into().into_boxed_str(),
        }
    }

    /// The reason.
    #[must_use]
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for ReplayStoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "replay store unavailable: {}", self.reason)
    }
}

impl std::error::Error for ReplayStoreError {}

/// The future of [`FirstUse::Pending`].
pub type PendingFirstUse = Pin<Box<dyn Future<Output = Result<bool, ReplayStoreError>> + Send>>;

/// What a [`ReplayStore`] answers: `true` for a first use (now recorded), `false` for a
/// replay; ready at once (in-process) or pending on a round trip (a shared store).
#[must_use]
pub enum FirstUse {
    /// Answered now.
    Ready(Result<bool, ReplayStoreError>),
    /// Answered after a round trip.
    Pending(PendingFirstUse),
}

impl fmt::Debug for FirstUse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FirstUse::Ready(r) => f.debug_tuple("Ready").field(r).finish(),
            FirstUse::Pending(_) => f.write_str("Pending(..)"),
        }
    }
}

/// Where the (proof key, `jti`) pairs already used are remembered.
pub trait ReplayStore: Send + Sync + 'static {
    /// Records `key` for `ttl` if it is not there yet, atomically: `true` when it was not
    /// (a first use), `false` when it was (a replay). Two concurrent calls with one key
    /// never both get `true`.
    fn first_use(&self, key: &ReplayKey, ttl: Duration) -> FirstUse;

    /// Whether every replica of the deployment asks this same store (a shared one such as
    /// Redis). `false` for a store in this process.
    fn is_shared(&self) -> bool {
        false
    }
}

impl<S: ReplayStore + ?Sized> ReplayStore for Arc<S> {
    fn first_use(&self, key: &ReplayKey, ttl: Duration) -> FirstUse {
        (**self).first_use(key, ttl)
    }

    fn is_shared(&self) -> bool {
        (**self).is_shared()
    }
}

const SHARDS: usize = 16;

/// The default capacity of a [`LocalReplayStore`]: one million proofs, about 50 MB when
/// full; at the default acceptance window (60 s, plus 10 s of skew) that is about 14,000
/// proofs a second.
pub const DEFAULT_REPLAY_CAPACITY: usize = 1_000_000;

/// A [`ReplayStore`] in this process: a bounded table of keys with their expiry.
///
/// When it is full of proofs that have not expired it refuses to record more (the request is
/// answered 503) rather than forget one: a store that evicted live entries would let their
/// proofs be replayed. That is why it is not an LRU or TinyLFU cache.
pub struct LocalReplayStore {
    shards: Box<[Mutex<Shard>]>,
    per_shard: usize,
    clock: Arc<dyn Clock>,
}

#[derive(Default)]
struct Shard {
    /// Key to expiry, in milliseconds since the epoch.
    entries: HashMap<[u8; 32], i64>,
    /// Insertions since the expired entries were last swept.
    since_sweep: usize,
    /// When full of live entries: no sweep before this time (milliseconds), so that a full
    /// store refuses at once rather than scanning itself on every request.
    full_until: i64,
}

impl fmt::Debug for LocalReplayStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalReplayStore")
            .field("capacity", &(self.per_shard * SHARDS))
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

impl Default for LocalReplayStore {
    fn default() -> Self {
        LocalReplayStore::new(DEFAULT_REPLAY_CAPACITY)
    }
}

impl LocalReplayStore {
    /// A store for at most `capacity` proofs at once, on the system clock.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        LocalReplayStore::with_clock(capacity, SystemClock)
    }

    /// A store on `clock` (tests move time by hand).
    #[must_use]
    pub fn with_clock(capacity: usize, clock: impl Clock) -> Self {
        LocalReplayStore::on_clock(capacity, Arc::new(clock))
    }

    pub(crate) fn on_clock(capacity: usize, clock: Arc<dyn Clock>) -> Self {
        LocalReplayStore {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
            clock,
        }
    }

    /// The number of proofs remembered (expired ones not yet swept included).
    #[must_use]
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map_or(0, |s| s.entries.len()))
            .sum()
    }

    /// Whether no proof is remembered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn now_millis(&self) -> i64 {
        let now = self.clock.now_unix() * 1000.0;
        // A clock reading is finite and far inside i64's range.
        #[allow(clippy::cast_possible_truncation)]
        let millis = now as i64;
        millis
    }
}

impl ReplayStore for LocalReplayStore {
    fn first_use(&self, key: &ReplayKey, ttl: Duration) -> FirstUse {
        let now = self.now_millis();
        let ttl = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let expiry = now.saturating_add(ttl.max(1));
        let index = usize::from(key.0.first().copied().unwrap_or_default()) % SHARDS;
        let Some(shard) = self.shards.get(index) else {
            return FirstUse::Ready(Err(ReplayStoreError::new("no shard")));
        };
        let mut shard = match shard.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(&until) = shard.entries.get(&key.0) {
            if until > now {
                return FirstUse::Ready(Ok(false));
            }
        } else if shard.entries.len() >= self.per_shard || shard.since_sweep >= self.per_shard / 4 {
            let full = || {
                FirstUse::Ready(Err(ReplayStoreError::new(
                    "the in-process replay store is full of live proofs (raise its capacity)",
                )))
            };
            if shard.entries.len() >= self.per_shard && now < shard.full_until {
                return full();
            }
            shard.entries.retain(|_, until| *until > now);
            shard.since_sweep = 0;
            if shard.entries.len() >= self.per_shard {
                shard.full_until = now.saturating_add(1_000);
                return full();
            }
        }
        shard.entries.insert(key.0, expiry);
        shard.since_sweep += 1;
        FirstUse::Ready(Ok(true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn key(n: u8) -> ReplayKey {
        ReplayKey([n; 32])
    }

    fn ready(answer: FirstUse) -> Result<bool, ReplayStoreError> {
        match answer {
            FirstUse::Ready(r) => r,
            FirstUse::Pending(_) => panic!("pending"),
        }
    }

    #[test]
    fn a_key_is_a_first_use_once_until_it_expires() {
        let clock = ManualClock::at(1_000);
        let store = LocalReplayStore::with_clock(100, clock.clone());
        let ttl = Duration::from_secs(70);
        assert_eq!(ready(store.first_use(&key(1), ttl)), Ok(true));
        assert_eq!(ready(store.first_use(&key(1), ttl)), Ok(false));
        assert_eq!(ready(store.first_use(&key(2), ttl)), Ok(true));
        clock.advance_secs(69);
        assert_eq!(ready(store.first_use(&key(1), ttl)), Ok(false));
        clock.advance_secs(1);
        assert_eq!(ready(store.first_use(&key(1), ttl)), Ok(true), "expired");
        assert!(!store.is_shared());
        assert!(!Arc::new(LocalReplayStore::with_clock(1, clock.clone())).is_shared());
        assert_eq!(store.len(), 2);
        assert!(!store.is_empty());
        assert!(LocalReplayStore::with_clock(100, clock).is_empty());
        let bytes = [0x5a; 32];
        assert_eq!(ReplayKey::from_bytes(bytes).as_bytes(), &bytes);
    }

    #[test]
    fn a_full_store_refuses_rather_than_forgets() {
        let clock = ManualClock::at(1_000);
        // 16 shards of one entry: the keys below all land in shard 0.
        let store = LocalReplayStore::with_clock(16, clock.clone());
        let ttl = Duration::from_secs(10);
        let mut a = [0u8; 32];
        a[1] = 1;
        let mut b = [0u8; 32];
        b[1] = 2;
        assert_eq!(ready(store.first_use(&ReplayKey(a), ttl)), Ok(true));
        let full = ready(store.first_use(&ReplayKey(b), ttl)).unwrap_err();
        assert!(full.to_string().contains("full"), "{full}");
        assert_eq!(
            ready(store.first_use(&ReplayKey(a), ttl)),
            Ok(false),
            "never forgotten"
        );
        clock.advance_secs(10);
        assert_eq!(
            ready(store.first_use(&ReplayKey(b), ttl)),
            Ok(true),
            "swept once expired"
        );
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn a_full_store_refuses_at_once_for_a_second_before_it_looks_again() {
        let clock = ManualClock::at(1_000);
        let store = LocalReplayStore::with_clock(16, clock.clone());
        let mut a = [0u8; 32];
        a[1] = 1;
        let mut b = [0u8; 32];
        b[1] = 2;
        assert_eq!(
            ready(store.first_use(&ReplayKey(a), Duration::from_millis(500))),
            Ok(true)
        );
        assert!(ready(store.first_use(&ReplayKey(b), Duration::from_secs(10))).is_err());
        // `a` has expired, but the store found itself full less than a second ago.
        clock.advance_millis(600);
        assert!(ready(store.first_use(&ReplayKey(b), Duration::from_secs(10))).is_err());
        clock.advance_millis(400);
        assert_eq!(
            ready(store.first_use(&ReplayKey(b), Duration::from_secs(10))),
            Ok(true)
        );
    }

    #[test]
    fn expired_entries_are_swept_as_the_store_fills() {
        let clock = ManualClock::at(1_000);
        let store = LocalReplayStore::with_clock(1_600, clock.clone());
        for n in 0..=255u8 {
            assert_eq!(
                ready(store.first_use(&key(n), Duration::from_secs(1))),
                Ok(true)
            );
        }
        clock.advance_secs(5);
        let mut k = [0u8; 32];
        for n in 0..2_000u32 {
            k[..4].copy_from_slice(&n.to_be_bytes());
            k[0] = n.to_be_bytes()[3];
            let _ = ready(store.first_use(&ReplayKey(k), Duration::from_secs(100)));
        }
        assert!(store.len() <= 1_600, "{}", store.len());
        assert_eq!(format!("{:?}", key(0xab)), "ReplayKey(abababab..)");
    }
}
