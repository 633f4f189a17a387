//! The introspection verdicts shared by the replicas (feature `introspection`): records by
//! token digest, written by the replica that called the endpoint, read by the others.
//!
//! Keys are `{prefix}iv:{64 hex digits}`: the HMAC-SHA-256 digest of the token under a key
//! every replica derives from the deployment's
//! [`SharedCacheKey`](portcullis_introspect::SharedCacheKey); the token is never stored.
//! Values are the records `portcullis-introspect` seals (the endpoint's response, its
//! deadline, a MAC), expiring with the verdict (`PX`).

use std::fmt::Write as _;
use std::time::Duration;

use portcullis_introspect::{SharedCacheError, SharedFuture, SharedVerdicts};

use crate::store::RedisStore;

/// Introspection verdicts in Redis: give it to
/// [`IntrospectorBuilder::shared_cache`](portcullis_introspect::IntrospectorBuilder::shared_cache).
#[derive(Clone, Debug)]
pub struct RedisVerdicts {
    store: RedisStore,
}

impl RedisVerdicts {
    /// Verdicts kept on `store`.
    #[must_use]
    pub fn new(store: RedisStore) -> Self {
        RedisVerdicts { store }
    }

    /// The Redis key of a token digest.
    #[must_use]
    pub fn redis_key(&self, digest: &[u8; 32]) -> String {
        let mut name = String::with_capacity(3 + 64);
        name.push_str("iv:");
        for b in digest {
            let _ = write!(name, "{b:02x}");
        }
        self.store.key(&name)
    }
}

impl SharedVerdicts for RedisVerdicts {
    fn get(&self, key: &[u8; 32]) -> SharedFuture<Option<Vec<u8>>> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(self.redis_key(key));
        let store = self.store.clone();
        Box::pin(async move {
            store
                .query::<Option<Vec<u8>>>(&cmd)
                .await
                .map_err(|e| SharedCacheError::new(e.to_string()))
        })
    }

    fn put(&self, key: &[u8; 32], record: Vec<u8>, ttl: Duration) -> SharedFuture<()> {
        let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.redis_key(key))
            .arg(record)
            .arg("PX")
            .arg(millis);
        let store = self.store.clone();
        Box::pin(async move {
            store
                .query::<()>(&cmd)
                .await
                .map_err(|e| SharedCacheError::new(e.to_string()))
        })
    }
}
