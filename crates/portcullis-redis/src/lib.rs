//! State that the replicas of a portcullis deployment must share, in Redis or Valkey (one
//! server, or a Redis Cluster): the DPoP replay store.
//!
//! # When you need it
//!
//! A replica decides most things alone: keys, the verified-token cache and DPoP nonces are
//! safe per process. Replay detection is not: with the in-process
//! [`LocalReplayStore`](portcullis_core::dpop::LocalReplayStore), a DPoP proof accepted by
//! one replica is accepted again by the next one behind the load balancer. Run more than
//! one replica with DPoP, and every replica should ask one [`RedisReplayStore`].
//!
//! ```no_run
//! use std::time::Duration;
//! use portcullis_core::dpop::Dpop;
//! use portcullis_redis::{RedisReplayStore, RedisStore};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let store = RedisStore::builder("rediss://app:secret@cache.internal:6379/0")
//!     .key_prefix("orders-api:")
//!     .timeout(Duration::from_millis(50))
//!     .connect()
//!     .await?;
//! let dpop = Dpop::builder()
//!     .replay_store(RedisReplayStore::new(store))
//!     .build()?;
//! # let _ = dpop; Ok(()) }
//! ```
//!
//! What cannot work is refused before connecting, and no message shows a password:
//!
//! ```
//! use portcullis_redis::{RedisErrorKind, RedisStore};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let refused = RedisStore::builder("https://app:secret@cache.internal")
//!     .connect()
//!     .await
//!     .unwrap_err();
//! assert_eq!(refused.kind(), RedisErrorKind::InvalidUrl);
//! assert!(!refused.to_string().contains("secret"));
//!
//! // A hash tag in the prefix would put every key in one cluster slot.
//! let refused = RedisStore::builder("redis://127.0.0.1")
//!     .key_prefix("{orders}:")
//!     .connect()
//!     .await
//!     .unwrap_err();
//! assert_eq!(refused.kind(), RedisErrorKind::InvalidConfig);
//! # }
//! ```
//!
//! # Connection
//!
//! [`RedisStore::builder`] takes `redis://[user:password@]host[:port][/db]`, or `rediss://`
//! for TLS through rustls (the server's certificate is always checked: `#insecure` is
//! refused); [`RedisStore::cluster_builder`] takes a cluster's seed nodes. The store is
//! cheap to clone and every clone shares one connection, which reconnects by itself.
//!
//! # Key layout
//!
//! Every key starts with the store's prefix (`portcullis:` by default; one per deployment
//! when deployments share a Redis). The replay store writes one key per proof:
//!
//! | Key | Value | Expiry |
//! |---|---|---|
//! | `{prefix}dpop:{64 hex digits of the ReplayKey}` | `1` | the rest of the proof's window, plus the skew between replicas (about 70 s) |
//!
//! The digits are a SHA-256 digest: nothing a client chose is written raw, and the keys
//! spread evenly over a cluster's slots. With a prefix of 11 bytes (as long as the
//! default), `MEMORY USAGE` reports 136 bytes for one entry on Redis 7.0, and the server's
//! `used_memory` grows by about 180 bytes per entry (measured over 100,000 entries: the
//! table of expiries and the tables' growth included). A deployment accepting 10,000 DPoP
//! requests a second keeps about 700,000 entries: some 130 MB.
//!
//! # Outages
//!
//! [`connect`](RedisStoreBuilder::connect) fails when Redis cannot be reached: a service
//! should not start without its replay store. Afterwards an outage is an error of each call
//! made during it, within the store's timeout (50 ms by default), and the connection comes
//! back by itself. A replay check that gets an error fails closed: the core answers the
//! request 503, never accepts the proof and never answers 401.
//!
//! Messages name the server with its password replaced by `***`
//! (`redis://app:***@cache.internal:6379/0`).
//!
//! # Deployment caveat
//!
//! Replay protection is as strong as Redis's memory of the last minute or so. A Redis that
//! restarts empty (no persistence), or a failover to a replica that had not yet received
//! the latest writes (replication is asynchronous), forgets the proofs recorded just before:
//! those proofs could be replayed until their window ends, about 70 s later. Run Redis with
//! persistence (`appendonly yes`) where that matters, and keep `maxmemory-policy` at
//! `noeviction` (Redis's default): a full Redis then refuses the write, which fails closed
//! (503), whereas every eviction policy, `volatile-*` included (each entry has an expiry),
//! may evict a live entry, and an evicted entry is a forgotten proof.

#![forbid(unsafe_code)]

mod error;
mod replay;
pub mod revocation;
mod store;
mod target;
#[cfg(feature = "introspection")]
mod verdicts;

pub use error::{RedisError, RedisErrorKind};
pub use replay::RedisReplayStore;
pub use revocation::{
    RedisRevocations, RedisRevocationsBuilder, RevocationPolicy, RevocationStats,
};
pub use store::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_KEY_PREFIX, DEFAULT_TIMEOUT, RedisStore, RedisStoreBuilder,
};
#[cfg(feature = "introspection")]
pub use verdicts::RedisVerdicts;
