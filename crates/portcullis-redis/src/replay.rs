//! The DPoP replay store in Redis: one `SET key 1 NX PX ttl` per proof.

use std::fmt::Write as _;
use std::time::Duration;

use portcullis_core::dpop::{FirstUse, ReplayKey, ReplayStore, ReplayStoreError};
use redis::Value;

use crate::store::RedisStore;

/// The longest time a proof is remembered: ten years. The core asks for the rest of a
/// proof's acceptance window (about a minute); a longer request is cut here, because Redis
/// refuses an expiry past its clock's range and a refusal would fail every request.
const MAX_TTL: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// A [`ReplayStore`] in Redis, shared by every replica that connects to it: a proof accepted
/// by one replica is a replay for all of them.
///
/// Each proof is one key, `{prefix}dpop:{64 hex digits}`, written with
/// `SET key 1 NX PX ttl`: one atomic round trip that records the proof and answers whether
/// it was already there. The digits are the [`ReplayKey`], a SHA-256 digest over the proof
/// key's thumbprint and the proof's `jti`: nothing the client chose reaches Redis raw, and
/// keys spread evenly over a cluster's slots.
///
/// When Redis cannot answer (down, slower than the store's timeout, refusing the
/// credentials) the answer is an error, which the core turns into 503: replay protection
/// fails closed, never open.
#[derive(Clone, Debug)]
pub struct RedisReplayStore {
    store: RedisStore,
}

impl RedisReplayStore {
    /// The replay store on `store`'s connection.
    #[must_use]
    pub fn new(store: RedisStore) -> Self {
        RedisReplayStore { store }
    }

    /// The connection.
    #[must_use]
    pub fn store(&self) -> &RedisStore {
        &self.store
    }

    /// The Redis key that records `key`: `{prefix}dpop:{hex of the digest}`.
    #[must_use]
    pub fn redis_key(&self, key: &ReplayKey) -> String {
        let mut name = String::with_capacity(5 + 64);
        name.push_str("dpop:");
        for b in key.as_bytes() {
            // Writing to a String cannot fail.
            let _ = write!(name, "{b:02x}");
        }
        self.store.key(&name)
    }
}

/// The `PX` argument for `ttl`: whole milliseconds, at least one (Redis refuses zero), at
/// most [`MAX_TTL`].
fn ttl_millis(ttl: Duration) -> u64 {
    let ttl = ttl.min(MAX_TTL);
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// What `SET NX` answered: `OK` (RESP2's status, or RESP3's simple string) a first use, nil
/// a replay, anything else no answer.
fn first_use_of(reply: &Value) -> Option<bool> {
    match reply {
        Value::Okay => Some(true),
        Value::SimpleString(s) if s == "OK" => Some(true),
        Value::Nil => Some(false),
        _ => None,
    }
}

impl ReplayStore for RedisReplayStore {
    fn first_use(&self, key: &ReplayKey, ttl: Duration) -> FirstUse {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.redis_key(key))
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(ttl_millis(ttl));
        let store = self.store.clone();
        FirstUse::Pending(Box::pin(async move {
            match store.query::<Value>(&cmd).await {
                Ok(reply) => first_use_of(&reply).ok_or_else(|| {
                    ReplayStoreError::new(format!(
                        "redis {}: an unexpected reply to SET NX",
                        store.redacted_url()
                    ))
                }),
                Err(e) => Err(ReplayStoreError::new(e.to_string())),
            }
        }))
    }

    fn is_shared(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ok_is_a_first_use_and_only_nil_a_replay() {
        assert_eq!(first_use_of(&Value::Okay), Some(true));
        assert_eq!(first_use_of(&Value::SimpleString("OK".into())), Some(true));
        assert_eq!(first_use_of(&Value::Nil), Some(false));
        for other in [
            Value::SimpleString("QUEUED".into()),
            Value::Int(1),
            Value::BulkString(b"OK".to_vec()),
        ] {
            assert_eq!(first_use_of(&other), None, "{other:?}");
        }
    }

    #[test]
    fn a_ttl_is_whole_milliseconds_at_least_one_at_most_ten_years() {
        assert_eq!(ttl_millis(Duration::from_secs(65)), 65_000);
        assert_eq!(ttl_millis(Duration::from_micros(1_999)), 1);
        assert_eq!(ttl_millis(Duration::ZERO), 1);
        assert_eq!(ttl_millis(Duration::MAX), 315_360_000_000);
    }
}
