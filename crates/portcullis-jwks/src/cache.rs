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
//! when its token expires and when the cache is full (least recently and least frequently used
//! first: moka's TinyLFU).
//!
//! # Deployment caveat
//!
//! Custom validator closures ([`ValidatorBuilder::validator`](portcullis_core::ValidatorBuilder::validator))
//! run when a token is verified, not on each hit: a closure whose answer changes over time (a
//! revocation list) needs the cache off, or a short [`TokenCache::max_ttl`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::Expiry;
use portcullis_core::{Claims, KeySet, Validator};

/// The default number of cached tokens. An entry holds the token and its claims (about twice
/// the token's size plus ~300 bytes of bookkeeping): with typical 1 KiB tokens, 4,096 entries
/// stay under ~10 MiB while covering the clients of a busy service (a client reuses one token
/// until it expires).
pub const DEFAULT_CACHE_ENTRIES: u64 = 4_096;

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
    entries: moka::sync::Cache<Arc<str>, Entry, foldhash::quality::RandomState>,
}

#[derive(Clone)]
pub(crate) struct Entry {
    pub(crate) claims: Claims,
    pub(crate) keys: KeySet,
    /// The validator that accepted the token: a cache shared between verifiers with other
    /// rules (another audience) must not answer for them.
    pub(crate) validator: Validator,
    ttl: Duration,
}

struct UntilExpiry;

impl Expiry<Arc<str>, Entry> for UntilExpiry {
    fn expire_after_create(&self, _: &Arc<str>, entry: &Entry, _: Instant) -> Option<Duration> {
        Some(entry.ttl)
    }
}

impl Default for TokenCache {
    fn default() -> Self {
        TokenCache::new(DEFAULT_CACHE_ENTRIES)
    }
}

impl TokenCache {
    /// A cache of at most `max_entries` tokens.
    #[must_use]
    pub fn new(max_entries: u64) -> Self {
        TokenCache {
            entries: moka::sync::Cache::builder()
                .max_capacity(max_entries)
                .expire_after(UntilExpiry)
                // A randomly seeded hash: nobody can choose tokens that collide.
                .build_with_hasher(foldhash::quality::RandomState::default()),
        }
    }

    /// The number of cached tokens, after pending evictions have run.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.entry_count()
    }

    /// Whether no token is cached.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every token.
    pub fn clear(&self) {
        self.entries.invalidate_all();
    }

    pub(crate) fn get(&self, token: &str) -> Option<Entry> {
        self.entries.get(token)
    }

    pub(crate) fn remove(&self, token: &str) {
        self.entries.invalidate(token);
    }

    /// Remembers a token verified with `keys` for `lifetime`: the caller passes the time left
    /// until `exp` by the validator's clock (the leeway is left out, so an entry never
    /// outlives its token; a token still inside its leeway is simply verified again).
    pub(crate) fn insert(
        &self,
        token: &str,
        claims: Claims,
        keys: KeySet,
        validator: Validator,
        lifetime: Duration,
    ) {
        if lifetime.is_zero() {
            return;
        }
        self.entries.insert(
            Arc::from(token),
            Entry {
                claims,
                keys,
                validator,
                ttl: lifetime,
            },
        );
    }

    /// The cap, from [`TokenCache::new`].
    #[must_use]
    pub fn max_entries(&self) -> u64 {
        self.entries.policy().max_capacity().unwrap_or(0)
    }
}

impl TokenCache {
    /// A cache whose entries also leave after `max_ttl`, whatever the token's `exp` says.
    #[must_use]
    pub fn max_ttl(max_entries: u64, max_ttl: Duration) -> Self {
        TokenCache {
            entries: moka::sync::Cache::builder()
                .max_capacity(max_entries)
                .expire_after(UntilExpiry)
                .time_to_live(max_ttl)
                .build_with_hasher(foldhash::quality::RandomState::default()),
        }
    }
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the tokens.
        f.debug_struct("TokenCache")
            .field("max_entries", &self.max_entries())
            .field("entries", &self.entries.entry_count())
            .finish()
    }
}
