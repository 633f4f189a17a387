//! [`TokenCache`]: tokens verified once, accepted again without a second signature check, and
//! never past what a fresh verification would accept.
//!
//! Clients reuse an access token until it expires, so a resource server sees the same token
//! many times. The cache remembers the claims of each verified token, keyed by the whole token
//! (compared byte for byte, so a token that differs anywhere, a tampered one included, is a
//! miss and is verified in full). A hit is accepted only when:
//!
//! - the key set is the very one that verified the token (any key-set change, a rotation or a
//!   retired key, sends every token through a full verification again; one that fails then is
//!   dropped from the cache), and
//! - the time rules (`exp`, `nbf`, `iat`, maximum age, with the leeway) still hold against the
//!   validator's clock, checked anew on every hit.
//!
//! The route's scope check runs on every request, hit or miss. An entry also leaves the cache
//! when its token expires, after [`TokenCache::max_ttl`] when one is set, and when the cache
//! is full (expired entries first, then those not used since the last sweep).
//!
//! # How it is built, and why not a general-purpose cache
//!
//! A hit is the most frequent thing a resource server does, so it is made cheap: the entries
//! live in a fixed number of shards, each a hash table behind a read-write lock; a hit takes
//! one shard's read lock, and a miss that verifies takes its write lock once to insert. A
//! token is located by a hash of its last 32 bytes (inside the signature, which the issuer's
//! key makes unpredictable, under a hasher seeded at random per cache) and then compared
//! whole. Only verified tokens are ever inserted, so nobody without the issuer's key can fill
//! a bucket; a forged token that copies a cached token's tail finds that entry, fails the
//! comparison and is verified in full. Times all come from the validator's clock, never from
//! the system's, so the rules a test drives with a manual clock are the ones production runs.
//!
//! # Deployment caveat
//!
//! Custom validator closures ([`ValidatorBuilder::validator`](portcullis_core::ValidatorBuilder::validator))
//! run when a token is verified, not on each hit: a closure whose answer changes over time (a
//! revocation list) needs the cache off, or a short [`TokenCache::max_ttl`].

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use hashbrown::HashTable;
use portcullis_core::{Claims, KeySet, Validator};

/// The default number of cached tokens. An entry holds the token and its claims (about twice
/// the token's size plus ~200 bytes of bookkeeping): with typical 1 KiB tokens, 4,096 entries
/// stay under ~10 MiB while covering the clients of a busy service (a client reuses one token
/// until it expires).
pub const DEFAULT_CACHE_ENTRIES: u64 = 4_096;

/// The most shards a cache is cut into: enough that two cores rarely wait on one lock.
const MAX_SHARDS: usize = 16;

/// How many trailing bytes of a token are hashed (see the module's notes).
const HASHED_TAIL: usize = 32;

/// A bounded cache of verified tokens. Cheap to clone: clones share the entries.
///
/// Each verified token's claims are kept, keyed by the whole token (compared byte for byte),
/// and accepted again without a second signature check only while the key set is the one
/// that verified it and the time rules still hold against the validator's clock (checked on
/// every hit). The route's scope check runs on every request. Entries leave when their token
/// expires and when the cache is full. Custom validator closures run when a token is
/// verified, not on each hit: one whose answer changes over time (a revocation list) needs
/// the cache off.
#[derive(Clone)]
pub struct TokenCache {
    inner: Arc<Inner>,
}

struct Inner {
    shards: Box<[RwLock<Shard>]>,
    /// Entries per shard at most; the shards together hold at most `max_entries`.
    shard_capacity: usize,
    max_entries: u64,
    /// How long an entry may be used at most, whatever its token's `exp` says.
    max_ttl: Option<Duration>,
    hasher: foldhash::quality::RandomState,
}

type Shard = HashTable<Slot>;

struct Slot {
    hash: u64,
    token: Box<str>,
    entry: Arc<Entry>,
    /// Set by each hit, cleared by a sweep of a full shard: an entry not used between two
    /// sweeps is the first to go.
    used: AtomicBool,
}

/// What a hit hands back.
pub(crate) struct Entry {
    pub(crate) claims: Claims,
    pub(crate) keys: KeySet,
    /// The validator that accepted the token: a cache shared between verifiers with other
    /// rules (another audience) must not answer for them.
    pub(crate) validator: Validator,
    /// Until when (Unix seconds, by the inserting validator's clock) the entry may be used:
    /// the token's `exp`, or sooner under a maximum TTL.
    pub(crate) until: f64,
}

impl Default for TokenCache {
    fn default() -> Self {
        TokenCache::new(DEFAULT_CACHE_ENTRIES)
    }
}

impl TokenCache {
    /// A cache of at most `max_entries` tokens (0: a cache that keeps nothing).
    #[must_use]
    pub fn new(max_entries: u64) -> Self {
        TokenCache::build(max_entries, None)
    }

    /// A cache whose entries also leave after `max_ttl` (by the validator's clock), whatever
    /// the token's `exp` says.
    #[must_use]
    pub fn max_ttl(max_entries: u64, max_ttl: Duration) -> Self {
        TokenCache::build(max_entries, Some(max_ttl))
    }

    fn build(max_entries: u64, max_ttl: Option<Duration>) -> Self {
        let wanted = usize::try_from(max_entries).unwrap_or(usize::MAX);
        // A power of two no larger than the bound, so that every shard holds at least one
        // entry and the shards together never exceed the bound.
        let shards = if wanted == 0 {
            1
        } else {
            let at_most = wanted.min(MAX_SHARDS);
            1 << at_most.ilog2()
        };
        TokenCache {
            inner: Arc::new(Inner {
                shards: (0..shards).map(|_| RwLock::new(HashTable::new())).collect(),
                shard_capacity: wanted / shards,
                max_entries,
                max_ttl,
                hasher: foldhash::quality::RandomState::default(),
            }),
        }
    }

    /// The number of cached tokens.
    #[must_use]
    pub fn len(&self) -> u64 {
        let entries: usize = self.inner.shards.iter().map(|s| read(s).len()).sum();
        u64::try_from(entries).unwrap_or(u64::MAX)
    }

    /// Whether no token is cached.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every token.
    pub fn clear(&self) {
        for shard in &self.inner.shards {
            let mut shard = write(shard);
            crate::observe::cache_entries(-shard.len().cast_signed());
            shard.clear();
        }
    }

    /// The cap, from [`TokenCache::new`].
    #[must_use]
    pub fn max_entries(&self) -> u64 {
        self.inner.max_entries
    }

    fn hash(&self, token: &str) -> u64 {
        let bytes = token.as_bytes();
        let tail = bytes
            .get(bytes.len().saturating_sub(HASHED_TAIL)..)
            .unwrap_or(bytes);
        self.inner.hasher.hash_one((bytes.len(), tail))
    }

    fn shard(&self, hash: u64) -> &RwLock<Shard> {
        // The low bits pick the shard; the table inside uses the high bits (hashbrown's
        // control bytes) and the whole hash.
        let index = usize::try_from(hash).unwrap_or(0) % self.inner.shards.len();
        // In bounds: the index is reduced modulo the length, which is at least 1.
        #[allow(clippy::indexing_slicing)]
        &self.inner.shards[index]
    }

    /// The entry of `token`, marked as used.
    pub(crate) fn get(&self, token: &str) -> Option<Arc<Entry>> {
        let hash = self.hash(token);
        let shard = read(self.shard(hash));
        let Some(slot) = shard.find(hash, |s| s.hash == hash && *s.token == *token) else {
            crate::observe::cache_lookup(false);
            return None;
        };
        crate::observe::cache_lookup(true);
        if !slot.used.load(Ordering::Relaxed) {
            slot.used.store(true, Ordering::Relaxed);
        }
        Some(slot.entry.clone())
    }

    pub(crate) fn remove(&self, token: &str) {
        let hash = self.hash(token);
        let mut shard = write(self.shard(hash));
        if let Ok(slot) = shard.find_entry(hash, |s| s.hash == hash && *s.token == *token) {
            slot.remove();
            crate::observe::cache_entries(-1);
        }
    }

    /// Remembers a token verified with `keys` at `now` (Unix seconds by the validator's
    /// clock), until `expires_at`, its `exp` (the leeway is left out, so an entry never
    /// outlives its token; a token still inside its leeway is simply verified again), or
    /// sooner under the maximum TTL.
    pub(crate) fn insert(
        &self,
        token: &str,
        claims: Claims,
        keys: KeySet,
        validator: Validator,
        now: f64,
        expires_at: f64,
    ) {
        let until = match self.inner.max_ttl {
            Some(ttl) => expires_at.min(now + ttl.as_secs_f64()),
            None => expires_at,
        };
        // Not for an entry with nothing left to live (NaN included), nor in a cache that
        // holds nothing.
        let time_left = until > now;
        if !time_left || self.inner.shard_capacity == 0 {
            return;
        }
        let hash = self.hash(token);
        let mut shard = write(self.shard(hash));
        let entry = Arc::new(Entry {
            claims,
            keys,
            validator,
            until,
        });
        if let Ok(mut slot) = shard.find_entry(hash, |s| s.hash == hash && *s.token == *token) {
            // Verified again (keys changed, another validator): the newer verdict stands.
            slot.get_mut().entry = entry;
            return;
        }
        let before = shard.len();
        if before >= self.inner.shard_capacity {
            sweep(&mut shard, now, self.inner.shard_capacity);
        }
        shard.insert_unique(
            hash,
            Slot {
                hash,
                token: token.into(),
                entry,
                used: AtomicBool::new(false),
            },
            |s| s.hash,
        );
        crate::observe::cache_entries(shard.len().cast_signed() - before.cast_signed());
    }
}

/// Makes room in a full shard: entries past their time go first; then, if that freed
/// nothing, every entry not used since the last sweep (their marks are cleared for the next);
/// and if every entry was used, about an eighth of them, so a sweep always frees room and
/// the next ones come later.
fn sweep(shard: &mut Shard, now: f64, capacity: usize) {
    shard.retain(|s| s.entry.until > now);
    if shard.len() < capacity {
        return;
    }
    shard.retain(|s| s.used.swap(false, Ordering::Relaxed));
    if shard.len() < capacity {
        return;
    }
    let mut to_drop = (capacity / 8).max(1);
    shard.retain(|_| {
        if to_drop == 0 {
            return true;
        }
        to_drop -= 1;
        false
    });
}

/// A shard's read lock. A panic while a lock was held cannot leave a shard half-updated
/// (each change is one table operation), so a poisoned lock is used as it is.
fn read(shard: &RwLock<Shard>) -> std::sync::RwLockReadGuard<'_, Shard> {
    shard.read().unwrap_or_else(PoisonError::into_inner)
}

fn write(shard: &RwLock<Shard>) -> std::sync::RwLockWriteGuard<'_, Shard> {
    shard.write().unwrap_or_else(PoisonError::into_inner)
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the tokens.
        f.debug_struct("TokenCache")
            .field("max_entries", &self.max_entries())
            .field("entries", &self.len())
            .field("max_ttl", &self.inner.max_ttl)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_core::Validator;

    fn claims() -> Claims {
        Claims::from_trusted_json(r#"{"sub":"a"}"#).unwrap()
    }

    fn validator() -> Validator {
        Validator::builder()
            .issuer("https://issuer.example")
            .audience("api")
            .build()
            .unwrap()
    }

    fn put(cache: &TokenCache, token: &str, now: f64, exp: f64) {
        let keys = KeySet::new(Vec::new());
        cache.insert(token, claims(), keys, validator(), now, exp);
    }

    #[test]
    fn shards_never_hold_more_than_the_bound() {
        for (max, shards, per_shard) in [
            (0, 1, 0),
            (1, 1, 1),
            (3, 2, 1),
            (10, 8, 1),
            (50, 16, 3),
            (4_096, 16, 256),
        ] {
            let cache = TokenCache::new(max);
            assert_eq!(cache.inner.shards.len(), shards, "{max}");
            assert_eq!(cache.inner.shard_capacity, per_shard, "{max}");
            for i in 0..(max * 3 + 5) {
                put(&cache, &format!("token-{i}"), 100.0, 200.0);
            }
            assert!(cache.len() <= max, "{max}: {}", cache.len());
            assert_eq!(cache.max_entries(), max);
        }
    }

    #[test]
    fn an_entry_with_no_time_left_is_not_kept() {
        let cache = TokenCache::new(100);
        put(&cache, "a", 100.0, 100.0);
        put(&cache, "b", 100.0, 99.0);
        put(&cache, "c", 100.0, f64::NAN);
        assert!(cache.is_empty());
        put(&cache, "d", 100.0, 100.5);
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.get("d").unwrap().until, 100.5);
    }

    #[test]
    fn a_maximum_ttl_shortens_the_entry_but_never_lengthens_it() {
        let cache = TokenCache::max_ttl(100, Duration::from_secs(30));
        put(&cache, "long", 100.0, 1_000.0);
        put(&cache, "short", 100.0, 110.0);
        assert_eq!(cache.get("long").unwrap().until, 130.0);
        assert_eq!(cache.get("short").unwrap().until, 110.0);
    }

    #[test]
    fn a_token_is_found_only_whole() {
        let cache = TokenCache::new(10);
        let token = "header.payload.signature-with-a-tail-longer-than-thirty-two-bytes";
        put(&cache, token, 100.0, 200.0);
        assert!(cache.get(token).is_some());
        // Same tail, other head: the same hash, a different token.
        let forged = "HEADER.payload.signature-with-a-tail-longer-than-thirty-two-bytes";
        assert_eq!(cache.hash(token), cache.hash(forged));
        assert!(cache.get(forged).is_none());
        assert!(cache.get(&token[1..]).is_none());
        cache.remove(forged);
        assert_eq!(cache.len(), 1, "removing another token leaves this one");
        cache.remove(token);
        assert!(cache.get(token).is_none());
        assert!(cache.is_empty());
    }

    #[test]
    fn tokens_that_share_a_tail_keep_their_own_entries() {
        let cache = TokenCache::new(100);
        let tail = ".the-same-signature-segment-longer-than-thirty-two-bytes";
        let (a, b) = (format!("a{tail}"), format!("b{tail}"));
        assert_eq!(cache.hash(&a), cache.hash(&b));
        let keys = KeySet::new(Vec::new());
        let claims_of =
            |sub: &str| Claims::from_trusted_json(&format!(r#"{{"sub":"{sub}"}}"#)).unwrap();
        cache.insert(
            &a,
            claims_of("alice"),
            keys.clone(),
            validator(),
            100.0,
            200.0,
        );
        cache.insert(&b, claims_of("bob"), keys, validator(), 100.0, 300.0);
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get(&a).unwrap().claims.subject(), Some("alice"));
        assert_eq!(cache.get(&b).unwrap().claims.subject(), Some("bob"));
        assert_eq!(cache.get(&a).unwrap().until, 200.0);
        cache.remove(&b);
        assert_eq!(cache.get(&a).unwrap().claims.subject(), Some("alice"));
    }

    #[test]
    fn inserting_a_token_again_replaces_its_entry() {
        let cache = TokenCache::new(10);
        put(&cache, "t", 100.0, 200.0);
        put(&cache, "t", 150.0, 300.0);
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.get("t").unwrap().until, 300.0);
        cache.clear();
        assert!(cache.is_empty());
    }

    #[test]
    fn a_full_shard_drops_the_expired_then_the_unused_then_an_eighth() {
        // One shard of 16 entries.
        let cache = TokenCache::new(16);
        let shard = |c: &TokenCache| c.inner.shards.len();
        assert_eq!(shard(&cache), 16);
        let cache = TokenCache {
            inner: Arc::new(Inner {
                shards: vec![RwLock::new(HashTable::new())].into_boxed_slice(),
                shard_capacity: 16,
                max_entries: 16,
                max_ttl: None,
                hasher: foldhash::quality::RandomState::default(),
            }),
        };
        // Eight that expire at 150, eight that live on.
        for i in 0..8 {
            put(&cache, &format!("short-{i}"), 100.0, 150.0);
            put(&cache, &format!("long-{i}"), 100.0, 500.0);
        }
        assert_eq!(cache.len(), 16);
        // Full at 150, the very end of the short ones' time: they go, the newcomer stays.
        put(&cache, "new-0", 150.0, 500.0);
        assert_eq!(cache.len(), 9);
        assert!((0..8).all(|i| cache.get(&format!("short-{i}")).is_none()));
        // Fill up again; use the long ones, so that the unused newcomers are the ones to go.
        for i in 1..8 {
            put(&cache, &format!("new-{i}"), 160.0, 500.0);
        }
        assert_eq!(cache.len(), 16);
        for i in 0..8 {
            assert!(cache.get(&format!("long-{i}")).is_some());
        }
        put(&cache, "last", 170.0, 500.0);
        assert_eq!(cache.len(), 9);
        assert!((0..8).all(|i| cache.get(&format!("long-{i}")).is_some()));
        assert!((0..8).all(|i| cache.get(&format!("new-{i}")).is_none()));
        assert!(cache.get("last").is_some());
        // All used now (the sweep cleared the marks, the gets above set them again for the
        // long ones and `last`): fill up, use all, and one more drops an eighth (two).
        for i in 0..7 {
            put(&cache, &format!("more-{i}"), 170.0, 500.0);
        }
        assert_eq!(cache.len(), 16);
        for i in 0..7 {
            assert!(cache.get(&format!("more-{i}")).is_some());
        }
        put(&cache, "overflow", 170.0, 500.0);
        assert_eq!(cache.len(), 15);
        assert!(cache.get("overflow").is_some());
    }

    #[test]
    fn the_debug_form_shows_no_token() {
        let cache = TokenCache::new(4);
        put(&cache, "secret-token", 100.0, 200.0);
        let shown = format!("{cache:?}");
        assert!(!shown.contains("secret-token"), "{shown}");
        assert!(shown.contains("entries: 1"), "{shown}");
    }
}
