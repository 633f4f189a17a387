//! The connection to Redis, one server or a cluster, shared by every store of this crate.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::{AsyncConnectionConfig, Client, FromRedisValue, TlsCertificates};

use crate::error::{RedisError, RedisErrorKind};
use crate::target::Target;

/// The key prefix by default: `portcullis:`.
pub const DEFAULT_KEY_PREFIX: &str = "portcullis:";

/// How long one call may take by default, round trip included: 50 ms. Redis answers in well
/// under a millisecond on a local network; a call that takes tens of milliseconds is an
/// outage, and the request it serves is better answered 503 now than late.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(50);

/// How long [`RedisStoreBuilder::connect`], and each attempt to reconnect, may take to
/// establish a connection by default: 1 s.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// The connection to Redis (one server or a cluster) with the key prefix and the per-call
/// timeout. Cheap to clone: the clones share one connection.
///
/// One server is reached through one multiplexed connection that reconnects by itself; a
/// cluster through the cluster client, which follows the slots and reconnects by itself.
/// Once [`connect`](RedisStoreBuilder::connect) has succeeded an outage is an error of the
/// calls made during it, never of the store: nothing needs rebuilding when Redis is back.
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    connection: Connection,
    /// A client for the subscriptions (pub/sub needs a connection of its own): the server,
    /// or a cluster's first seed node (a message published on any node reaches them all).
    subscriber: Client,
    connect_timeout: Duration,
    prefix: Box<str>,
    timeout: Duration,
    /// The server (or the cluster's first seed node), redacted.
    target: Box<str>,
    /// The passwords of the URLs, to scrub them from the client's error messages.
    secrets: Vec<Box<str>>,
}

enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("target", &self.inner.target)
            .field("cluster", &self.is_cluster())
            .field("key_prefix", &self.inner.prefix)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A builder for one server at `url`: `redis://[user:password@]host[:port][/db]`, or
    /// `rediss://` for TLS (certificates checked against the system's roots, or
    /// [`RedisStoreBuilder::tls_root_certificate_pem`]).
    pub fn builder(url: impl Into<String>) -> RedisStoreBuilder {
        RedisStoreBuilder::new(vec![url.into()], false)
    }

    /// A builder for a Redis Cluster reached through its seed nodes `urls` (one is enough;
    /// the others are tried when it is down). Every URL has the same scheme and credentials.
    pub fn cluster_builder<I, S>(urls: I) -> RedisStoreBuilder
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        RedisStoreBuilder::new(urls.into_iter().map(Into::into).collect(), true)
    }

    /// The prefix of every key this store writes.
    #[must_use]
    pub fn key_prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// How long one call may take.
    #[must_use]
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// Whether this is a cluster.
    #[must_use]
    pub fn is_cluster(&self) -> bool {
        matches!(self.inner.connection, Connection::Cluster(_))
    }

    /// The server (a cluster's first seed node), its password replaced by `***`.
    #[must_use]
    pub fn redacted_url(&self) -> &str {
        &self.inner.target
    }

    /// `{prefix}{name}`: the key of `name` in this deployment.
    pub(crate) fn key(&self, name: &str) -> String {
        let mut key = String::with_capacity(self.inner.prefix.len() + name.len());
        key.push_str(&self.inner.prefix);
        key.push_str(name);
        key
    }

    /// The client for a subscription of its own.
    pub(crate) fn subscriber(&self) -> &Client {
        &self.inner.subscriber
    }

    /// How long establishing a connection may take.
    pub(crate) fn connect_timeout(&self) -> Duration {
        self.inner.connect_timeout
    }

    /// The client's error, classified, with no password in its message.
    pub(crate) fn error(&self, e: &redis::RedisError) -> RedisError {
        RedisError::from_client(e, &self.inner.target, &self.inner.secrets)
    }

    /// Runs `cmd` on the server, or on the cluster node that holds its key, within the
    /// store's timeout.
    ///
    /// # Errors
    /// [`RedisErrorKind::Timeout`] after the timeout (a reconnection in progress included);
    /// the classified error of the client otherwise. No message holds a password.
    pub(crate) async fn query<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, RedisError> {
        let inner = &*self.inner;
        let call = async {
            match &inner.connection {
                Connection::Single(c) => cmd.query_async(&mut c.clone()).await,
                Connection::Cluster(c) => cmd.query_async(&mut c.clone()).await,
            }
        };
        match tokio::time::timeout(inner.timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => {
                let error = RedisError::from_client(&e, &inner.target, &inner.secrets);
                if error.kind() == RedisErrorKind::Timeout {
                    // The client's own response timeout, which is the store's.
                    return Err(RedisError::timeout(&inner.target, inner.timeout));
                }
                Err(error)
            }
            Err(_) => Err(RedisError::timeout(&inner.target, inner.timeout)),
        }
    }
}

/// Builds a [`RedisStore`]: [`RedisStore::builder`] or [`RedisStore::cluster_builder`].
#[must_use]
pub struct RedisStoreBuilder {
    urls: Vec<String>,
    cluster: bool,
    prefix: String,
    timeout: Duration,
    connect_timeout: Duration,
    root_certificate: Option<Vec<u8>>,
}

impl fmt::Debug for RedisStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URLs may hold passwords: they are shown redacted, or not at all.
        let urls: Vec<Box<str>> = self
            .urls
            .iter()
            .map(|u| Target::parse(u).map_or_else(|_| Box::from("<invalid>"), |t| t.redacted))
            .collect();
        f.debug_struct("RedisStoreBuilder")
            .field("urls", &urls)
            .field("cluster", &self.cluster)
            .field("key_prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("tls_root_certificate", &self.root_certificate.is_some())
            .finish()
    }
}

impl RedisStoreBuilder {
    fn new(urls: Vec<String>, cluster: bool) -> RedisStoreBuilder {
        RedisStoreBuilder {
            urls,
            cluster,
            prefix: DEFAULT_KEY_PREFIX.to_owned(),
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            root_certificate: None,
        }
    }

    /// The prefix of every key ([`DEFAULT_KEY_PREFIX`] by default), so that several
    /// deployments can share one Redis: `"orders-api:"`. A prefix with `{` or `}` is refused:
    /// a hash tag would put every key in one cluster slot.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long one call may take, round trip and any reconnection included
    /// ([`DEFAULT_TIMEOUT`] by default). A call that takes longer fails (a replay check
    /// then answers 503).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long [`connect`](Self::connect), and each attempt to reconnect, may take to
    /// establish a connection ([`DEFAULT_CONNECT_TIMEOUT`] by default).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Trusts the certificate authorities in `pem` (PEM, one or more certificates) for a
    /// `rediss://` server instead of the system's roots: a private CA.
    pub fn tls_root_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.root_certificate = Some(pem.into());
        self
    }

    /// Connects, and checks that Redis answers (`PING`, after `AUTH` when the URL has
    /// credentials).
    ///
    /// Redis must be reachable now: a service that starts without its replay store would
    /// answer every DPoP request 503. Later outages are errors of the calls made during
    /// them, and the connection comes back by itself.
    ///
    /// # Errors
    /// [`RedisErrorKind::InvalidUrl`] or [`RedisErrorKind::InvalidConfig`] for what the
    /// builder was given; [`RedisErrorKind::Unavailable`], [`RedisErrorKind::Timeout`] or
    /// [`RedisErrorKind::Authentication`] when Redis cannot be used now.
    pub async fn connect(self) -> Result<RedisStore, RedisError> {
        let targets = self.check()?;
        let first = targets
            .first()
            .ok_or_else(|| RedisError::new(RedisErrorKind::InvalidConfig, None, "no server URL"))?;
        let shown: Box<str> = if self.cluster {
            format!(
                "cluster {} (of {} seed nodes)",
                first.redacted,
                targets.len()
            )
            .into()
        } else {
            first.redacted.clone()
        };
        let secrets: Vec<Box<str>> = targets.iter().flat_map(|t| t.secrets.clone()).collect();
        let fail = |e: &redis::RedisError| RedisError::from_client(e, &shown, &secrets);
        let certificates = self.root_certificate.clone().map(|pem| TlsCertificates {
            client_tls: None,
            root_cert: Some(pem),
        });
        if targets.iter().any(|t| t.tls) {
            install_crypto_provider();
        }

        let subscriber = match certificates.clone() {
            Some(certificates) => Client::build_with_tls(&*first.url, certificates),
            None => Client::open(&*first.url),
        }
        .map_err(|e| fail(&e))?;
        let connecting = async {
            if self.cluster {
                let mut builder =
                    redis::cluster::ClusterClientBuilder::new(targets.iter().map(|t| &*t.url))
                        .connection_timeout(self.connect_timeout)
                        .response_timeout(self.timeout);
                if let Some(certificates) = certificates {
                    builder = builder.certs(certificates);
                }
                let client = builder.build().map_err(|e| fail(&e))?;
                let connection = client.get_async_connection().await.map_err(|e| fail(&e))?;
                Ok(Connection::Cluster(connection))
            } else {
                let client = match certificates {
                    Some(certificates) => Client::build_with_tls(&*first.url, certificates),
                    None => Client::open(&*first.url),
                }
                .map_err(|e| fail(&e))?;
                // One attempt first, so that an unreachable server is reported as what it
                // is ("connection refused") rather than as the manager's retries timing out.
                let probe = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(self.connect_timeout))
                    .set_response_timeout(Some(self.connect_timeout));
                let mut once = client
                    .get_multiplexed_async_connection_with_config(&probe)
                    .await
                    .map_err(|e| fail(&e))?;
                redis::cmd("PING")
                    .query_async::<()>(&mut once)
                    .await
                    .map_err(|e| fail(&e))?;
                drop(once);
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(self.connect_timeout))
                    .set_response_timeout(Some(self.timeout))
                    .set_min_delay(Duration::from_millis(50))
                    .set_max_delay(Duration::from_secs(1));
                let manager = ConnectionManager::new_with_config(client, config)
                    .await
                    .map_err(|e| fail(&e))?;
                Ok(Connection::Single(manager))
            }
        };
        // The probe and the manager each connect once; the cluster client reaches each node.
        let deadline = self.connect_timeout.saturating_mul(2);
        let connection = tokio::time::timeout(deadline, connecting)
            .await
            .map_err(|_| RedisError::timeout(&shown, deadline))??;
        let store = RedisStore {
            inner: Arc::new(Inner {
                connection,
                subscriber,
                connect_timeout: self.connect_timeout,
                prefix: self.prefix.into_boxed_str(),
                timeout: self.timeout,
                target: shown,
                secrets,
            }),
        };
        if store.is_cluster() {
            // The cluster client connects lazily to the nodes it routes to: one call checks
            // the credentials too.
            store.query::<()>(&redis::cmd("PING")).await?;
        }
        tracing::debug!(target = %store.inner.target, "connected to Redis");
        Ok(store)
    }

    /// What can be refused before connecting.
    fn check(&self) -> Result<Vec<Target>, RedisError> {
        let config = |why: &str| RedisError::new(RedisErrorKind::InvalidConfig, None, why);
        if self.urls.is_empty() {
            return Err(config("no server URL"));
        }
        if self.timeout.is_zero() || self.connect_timeout.is_zero() {
            return Err(config("a timeout of zero"));
        }
        if self.prefix.contains(['{', '}']) {
            return Err(config(
                "a key prefix with `{` or `}` (a hash tag would put every key in one cluster slot)",
            ));
        }
        let targets = self
            .urls
            .iter()
            .map(|u| Target::parse(u))
            .collect::<Result<Vec<_>, _>>()?;
        let tls = targets.iter().any(|t| t.tls);
        if targets.iter().any(|t| t.tls != tls) {
            return Err(config(
                "a cluster's seed nodes mix TLS (rediss://) and plain (redis://) URLs",
            ));
        }
        if self.root_certificate.is_some() && !tls {
            return Err(config(
                "a TLS root certificate for a plain redis:// URL (use rediss://)",
            ));
        }
        Ok(targets)
    }
}

/// The Redis client builds its TLS configuration with rustls's process-wide default provider:
/// make that aws-lc-rs when nothing chose one, rather than let the client panic when the
/// build enables several providers.
fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Another thread may install one first: then that one stays, which is as good.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn refused(builder: RedisStoreBuilder) -> RedisError {
        builder.connect().await.err().unwrap()
    }

    #[tokio::test]
    async fn configurations_that_cannot_work_are_refused_before_connecting() {
        let url = "redis://app:hunter2@127.0.0.1:1";
        for (builder, kind) in [
            (RedisStore::builder("http://x"), RedisErrorKind::InvalidUrl),
            (
                RedisStore::cluster_builder(Vec::<String>::new()),
                RedisErrorKind::InvalidConfig,
            ),
            (
                RedisStore::builder(url).timeout(Duration::ZERO),
                RedisErrorKind::InvalidConfig,
            ),
            (
                RedisStore::builder(url).key_prefix("{app}:"),
                RedisErrorKind::InvalidConfig,
            ),
            (
                RedisStore::builder(url).tls_root_certificate_pem(b"pem".to_vec()),
                RedisErrorKind::InvalidConfig,
            ),
            (
                RedisStore::cluster_builder([url, "rediss://127.0.0.1:2"]),
                RedisErrorKind::InvalidConfig,
            ),
        ] {
            let debug = format!("{builder:?}");
            assert!(!debug.contains("hunter2"), "{debug}");
            let e = refused(builder).await;
            assert_eq!(e.kind(), kind, "{e}");
            assert!(!e.to_string().contains("hunter2"), "{e}");
        }
    }

    #[tokio::test]
    async fn an_unreachable_server_is_refused_at_connect_with_its_reason() {
        // Port 1 on loopback: nothing listens there.
        let e = refused(RedisStore::builder("redis://app:hunter2@127.0.0.1:1/0")).await;
        assert_eq!(e.kind(), RedisErrorKind::Unavailable, "{e}");
        assert_eq!(
            e.to_string(),
            "redis redis://app:***@127.0.0.1:1/0: connection refused"
        );
    }

    #[tokio::test]
    async fn a_store_keeps_what_it_was_built_with() {
        let Some(redis) = portcullis_testkit::redis::RedisServer::builder()
            .password("hunter2")
            .start_or_skip("a_store_keeps_what_it_was_built_with")
        else {
            return;
        };
        let url = format!("redis://:hunter2@127.0.0.1:{}/0", redis.port());
        let store = RedisStore::builder(url)
            .key_prefix("orders-api:")
            .timeout(Duration::from_millis(70))
            .connect_timeout(Duration::from_millis(900))
            .connect()
            .await
            .unwrap();
        assert_eq!(store.key_prefix(), "orders-api:");
        assert_eq!(store.key("x"), "orders-api:x");
        assert_eq!(store.timeout(), Duration::from_millis(70));
        assert_eq!(store.connect_timeout(), Duration::from_millis(900));
        assert!(!store.is_cluster());
        assert_eq!(
            store.redacted_url(),
            format!("redis://:***@127.0.0.1:{}/0", redis.port())
        );
        let shown = format!("{store:?}");
        assert!(
            shown.contains("orders-api:") && !shown.contains("hunter2"),
            "{shown}"
        );
    }
}
