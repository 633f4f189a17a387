//! Real Redis servers for tests (feature `redis`): a [`RedisServer`] on a free loopback port,
//! a three-node [`RedisCluster`], and a [`DelayProxy`] that makes one slow.
//!
//! They run the `redis-server` and `redis-cli` binaries found on `PATH`. Without them a test
//! is skipped with a line on stderr, unless `PORTCULLIS_REQUIRE_REDIS=1` (as in CI) makes
//! that a failure:
//!
//! ```
//! use portcullis_testkit::redis::RedisServer;
//!
//! let Some(mut redis) = RedisServer::start_or_skip("the_redis_module_doctest") else { return };
//! assert!(redis.url().starts_with("redis://127.0.0.1:"));
//! assert_eq!(redis.command(&["SET", "k", "v", "NX"]), "+OK");
//! // A second `SET NX` of the same key is refused: nil.
//! assert_eq!(redis.command(&["SET", "k", "v", "NX"]), "$-1");
//! redis.kill();
//! assert!(std::net::TcpStream::connect(redis.addr()).is_err());
//! ```
//!
//! Each server has a temporary directory of its own, persists nothing (`--save ""`,
//! `--appendonly no`), listens on 127.0.0.1 only, and is stopped (SIGKILL) when dropped.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::task::AbortHandle;

/// The environment variable that turns a missing `redis-server` into a test failure when
/// set to `1`.
pub const REQUIRE_REDIS_ENV: &str = "PORTCULLIS_REQUIRE_REDIS";

/// How long a server may take to answer after it is started.
const STARTUP: Duration = Duration::from_secs(10);

/// How many times a start is tried on a new port when the port was taken meanwhile.
const PORT_ATTEMPTS: usize = 5;

/// The path of the program `name` on `PATH` (or in `/usr/bin`, `/usr/local/bin`).
#[must_use]
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/local/bin")])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// What a test does when Redis is not installed: panics when [`REQUIRE_REDIS_ENV`] is `1`
/// (CI must run every test), else prints
/// `skipped <test>: redis-server not found (...)` to stderr so that the test can return.
///
/// # Panics
/// When Redis is required.
#[allow(clippy::print_stderr)] // The one report of a skipped test.
pub fn skip_without_redis(test: &str) {
    let required = std::env::var(REQUIRE_REDIS_ENV).is_ok_and(|v| v == "1");
    assert!(
        !required,
        "{test}: redis-server not found, and {REQUIRE_REDIS_ENV}=1 requires it"
    );
    eprintln!(
        "skipped {test}: redis-server not found (install redis-server, or set \
         {REQUIRE_REDIS_ENV}=1 to make this a failure)"
    );
}

/// A port on 127.0.0.1 that was free a moment ago; for a cluster node, one whose bus port
/// (port + 10000) was free too.
fn free_port(cluster: bool) -> u16 {
    loop {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a free loopback port");
        let port = listener.local_addr().expect("the bound address").port();
        if !cluster {
            return port;
        }
        let Some(bus) = port.checked_add(10_000) else {
            continue;
        };
        if TcpListener::bind((Ipv4Addr::LOCALHOST, bus)).is_ok() {
            return port;
        }
    }
}

/// Configures a [`RedisServer`] before it starts: [`RedisServer::builder`].
#[derive(Debug, Default, Clone)]
#[must_use]
pub struct RedisServerBuilder {
    password: Option<String>,
    cluster: bool,
    tls: Option<TlsFiles>,
    args: Vec<String>,
}

#[derive(Debug, Clone)]
struct TlsFiles {
    cert_pem: String,
    key_pem: String,
    ca_pem: String,
}

impl RedisServerBuilder {
    /// Requires `password` (`--requirepass`); [`RedisServer::url`] then carries it.
    pub fn password(mut self, password: &str) -> Self {
        self.password = Some(password.to_owned());
        self
    }

    /// Serves TLS only (`--tls-port`, no plain port), with a server certificate of `ca` for
    /// `127.0.0.1`; clients need no certificate. [`RedisServer::url`] is then `rediss://`.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, ca: &crate::tls::TestCa) -> Self {
        let cert = ca.server_certificate();
        self.tls = Some(TlsFiles {
            cert_pem: cert.cert_pem().to_owned(),
            key_pem: cert.key_pem().to_owned(),
            ca_pem: ca.cert_pem().to_owned(),
        });
        self
    }

    /// One more command-line argument for `redis-server`.
    pub fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.to_owned());
        self
    }

    /// Starts the server and waits until it answers; `None` when `redis-server` is not
    /// installed.
    ///
    /// # Panics
    /// When the server does not start.
    #[must_use]
    pub fn start(self) -> Option<RedisServer> {
        let binary = find_program("redis-server")?;
        let dir = temp_dir();
        if let Some(tls) = &self.tls {
            for (name, pem) in [
                ("server.pem", &tls.cert_pem),
                ("server.key", &tls.key_pem),
                ("ca.pem", &tls.ca_pem),
            ] {
                std::fs::write(dir.join(name), pem).expect("write a TLS file");
            }
        }
        let mut server = RedisServer {
            binary,
            dir,
            port: 0,
            config: self,
            child: None,
        };
        for attempt in 1..=PORT_ATTEMPTS {
            server.port = free_port(server.config.cluster);
            match server.spawn() {
                Ok(()) => return Some(server),
                Err(e) if e.port_taken && attempt < PORT_ATTEMPTS => {}
                Err(e) => panic!("redis-server did not start: {}", e.message),
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// [`start`](Self::start), or [`skip_without_redis`] when Redis is not installed.
    ///
    /// # Panics
    /// When the server does not start, or Redis is required but not installed.
    #[must_use]
    pub fn start_or_skip(self, test: &str) -> Option<RedisServer> {
        let server = self.start();
        if server.is_none() {
            skip_without_redis(test);
        }
        server
    }
}

/// A `redis-server` on a free port of 127.0.0.1, with a temporary directory; stopped when
/// dropped.
pub struct RedisServer {
    binary: PathBuf,
    dir: PathBuf,
    port: u16,
    config: RedisServerBuilder,
    child: Option<Child>,
}

impl std::fmt::Debug for RedisServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisServer")
            .field("port", &self.port)
            .field("running", &self.child.is_some())
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

struct SpawnError {
    port_taken: bool,
    message: String,
}

impl RedisServer {
    /// A builder for a server with a password, TLS or more arguments.
    pub fn builder() -> RedisServerBuilder {
        RedisServerBuilder::default()
    }

    /// Starts a plain server; `None` when `redis-server` is not installed.
    ///
    /// # Panics
    /// When the server does not start.
    #[must_use]
    pub fn start() -> Option<RedisServer> {
        RedisServer::builder().start()
    }

    /// [`start`](Self::start), or [`skip_without_redis`] when Redis is not installed:
    /// `let Some(redis) = RedisServer::start_or_skip("test_name") else { return };`
    ///
    /// # Panics
    /// When the server does not start, or Redis is required but not installed.
    #[must_use]
    pub fn start_or_skip(test: &str) -> Option<RedisServer> {
        RedisServer::builder().start_or_skip(test)
    }

    /// The port.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:<port>`.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// The URL a client connects with: `redis://127.0.0.1:<port>`, with `:<password>@` when
    /// the server has one, `rediss://` when it serves TLS.
    #[must_use]
    pub fn url(&self) -> String {
        let scheme = if self.config.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        match &self.config.password {
            Some(password) => format!("{scheme}://:{password}@127.0.0.1:{}", self.port),
            None => format!("{scheme}://127.0.0.1:{}", self.port),
        }
    }

    /// The PEM of the CA that issued a TLS server's certificate.
    #[must_use]
    pub fn ca_pem(&self) -> Option<&str> {
        self.config.tls.as_ref().map(|t| t.ca_pem.as_str())
    }

    /// Whether the server process runs (it has not been [killed](Self::kill)).
    #[must_use]
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Stops the server at once (SIGKILL): clients see their connections reset and new
    /// connections refused.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port, empty (nothing was persisted), and waits
    /// until it answers.
    ///
    /// # Panics
    /// When it does not start.
    pub fn restart(&mut self) {
        self.kill();
        let mut last = String::new();
        for _ in 0..PORT_ATTEMPTS {
            match self.spawn() {
                Ok(()) => return,
                // The port of the killed server can take a moment to be released.
                Err(e) if e.port_taken => {
                    last = e.message;
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!("redis-server did not restart: {}", e.message),
            }
        }
        panic!("redis-server did not restart on port {}: {last}", self.port);
    }

    /// Runs one command on the server (credentials included) and returns the reply as text:
    /// a status, error or integer line as sent (`+OK`, `-ERR ..`, `:1`), a bulk string's
    /// contents (`$-1` for nil), an array's elements one per line. Not for TLS servers.
    ///
    /// # Panics
    /// When the server cannot be reached.
    #[must_use]
    pub fn command(&self, args: &[&str]) -> String {
        let mut stream = TcpStream::connect(self.addr()).expect("connect to redis-server");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("set a read timeout");
        if let Some(password) = &self.config.password {
            let ok = roundtrip(&mut stream, &["AUTH", password]).expect("AUTH");
            assert_eq!(ok, "+OK", "AUTH");
        }
        roundtrip(&mut stream, args).expect("a reply from redis-server")
    }

    fn spawn(&mut self) -> Result<(), SpawnError> {
        let dir = self.dir.to_string_lossy().into_owned();
        let port = self.port.to_string();
        let log = self.dir.join("redis.log");
        let mut cmd = Command::new(&self.binary);
        cmd.args(["--bind", "127.0.0.1", "--dir", &dir])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--logfile")
            .arg(&log);
        if self.config.tls.is_some() {
            cmd.args(["--port", "0", "--tls-port", &port])
                .args([
                    "--tls-cert-file",
                    "server.pem",
                    "--tls-key-file",
                    "server.key",
                ])
                .args(["--tls-ca-cert-file", "ca.pem", "--tls-auth-clients", "no"]);
        } else {
            cmd.args(["--port", &port]);
        }
        if let Some(password) = &self.config.password {
            cmd.args(["--requirepass", password]);
        }
        if self.config.cluster {
            cmd.args(["--cluster-enabled", "yes"])
                .arg("--cluster-config-file")
                .arg(self.dir.join("nodes.conf"));
        }
        cmd.args(&self.config.args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd.spawn().map_err(|e| SpawnError {
            port_taken: false,
            message: format!("{}: {e}", self.binary.display()),
        })?;
        self.child = Some(child);
        let ready = self.wait_ready();
        if ready.is_err() {
            self.kill();
        }
        ready
    }

    fn wait_ready(&mut self) -> Result<(), SpawnError> {
        let start = Instant::now();
        let addr = self.addr();
        loop {
            let child = self.child.as_mut().expect("a spawned server");
            if let Ok(Some(status)) = child.try_wait() {
                let log = log_tail(&self.dir);
                return Err(SpawnError {
                    port_taken: log.contains("Address already in use"),
                    message: format!("exited ({status}) on port {}: {log}", self.port),
                });
            }
            if let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
                if self.config.tls.is_some() {
                    // The TLS port accepts once the server has loaded.
                    return Ok(());
                }
                let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
                // A server with a password answers `-NOAUTH`: it is up.
                if let Ok(reply) = roundtrip(&mut stream, &["PING"])
                    && (reply == "+PONG" || reply.starts_with("-NOAUTH"))
                {
                    return Ok(());
                }
            }
            if start.elapsed() > STARTUP {
                return Err(SpawnError {
                    port_taken: false,
                    message: format!(
                        "no answer on port {} after {STARTUP:?}: {}",
                        self.port,
                        log_tail(&self.dir)
                    ),
                });
            }
            // Waiting for the process to start listening.
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Three `redis-server` nodes joined into one Redis Cluster (`redis-cli --cluster create`,
/// no replicas) holding all 16384 slots; stopped when dropped.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts three nodes, joins them, and waits until every node reports
    /// `cluster_state:ok`; `None` when `redis-server` or `redis-cli` is not installed.
    ///
    /// # Panics
    /// When the cluster does not form.
    #[must_use]
    pub fn start() -> Option<RedisCluster> {
        let cli = find_program("redis-cli")?;
        let mut nodes = Vec::new();
        for _ in 0..3 {
            let node = RedisServerBuilder {
                cluster: true,
                ..RedisServerBuilder::default()
            };
            nodes.push(node.start()?);
        }
        let addrs: Vec<String> = nodes.iter().map(|n| n.addr().to_string()).collect();
        let out = Command::new(cli)
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .expect("run redis-cli --cluster create");
        assert!(
            out.status.success(),
            "redis-cli --cluster create: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let cluster = RedisCluster { nodes };
        let start = Instant::now();
        while !cluster.is_ok() {
            assert!(
                start.elapsed() < STARTUP,
                "the cluster did not reach cluster_state:ok"
            );
            // Waiting for the nodes to agree on the slots.
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(cluster)
    }

    /// [`start`](Self::start), or [`skip_without_redis`] when Redis is not installed.
    ///
    /// # Panics
    /// When the cluster does not form, or Redis is required but not installed.
    #[must_use]
    pub fn start_or_skip(test: &str) -> Option<RedisCluster> {
        let cluster = RedisCluster::start();
        if cluster.is_none() {
            skip_without_redis(test);
        }
        cluster
    }

    /// The nodes' URLs (`redis://127.0.0.1:<port>`).
    #[must_use]
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// The nodes.
    #[must_use]
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    fn is_ok(&self) -> bool {
        self.nodes
            .iter()
            .all(|n| n.command(&["CLUSTER", "INFO"]).contains("cluster_state:ok"))
    }
}

/// A TCP proxy on `127.0.0.1:<free port>` that forwards both ways to a target, holding each
/// chunk of data for an adjustable delay: a slow Redis. Runs on the current tokio runtime
/// (use a multi-threaded one when the test also blocks); stops when dropped.
#[derive(Debug)]
pub struct DelayProxy {
    addr: SocketAddr,
    delay_ms: Arc<AtomicU64>,
    tasks: Arc<Mutex<Vec<AbortHandle>>>,
}

impl DelayProxy {
    /// Starts forwarding to `target`, without delay.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn start(target: SocketAddr) -> DelayProxy {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("a free loopback port");
        let addr = listener.local_addr().expect("the bound address");
        let delay_ms = Arc::new(AtomicU64::new(0));
        let tasks: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let accept = {
            let delay_ms = delay_ms.clone();
            let tasks = tasks.clone();
            tokio::spawn(async move {
                while let Ok((client, _)) = listener.accept().await {
                    let Ok(server) = tokio::net::TcpStream::connect(target).await else {
                        continue;
                    };
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    for (from, to) in [(client_read, server_write), (server_read, client_write)] {
                        let pump = tokio::spawn(pump(from, to, delay_ms.clone()));
                        tasks
                            .lock()
                            .expect("the task list")
                            .push(pump.abort_handle());
                    }
                }
            })
        };
        tasks
            .lock()
            .expect("the task list")
            .push(accept.abort_handle());
        DelayProxy {
            addr,
            delay_ms,
            tasks,
        }
    }

    /// The proxy's address.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Holds each chunk for `delay` from now on (zero: forward at once).
    pub fn set_delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.delay_ms.store(ms, Ordering::SeqCst);
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        if let Ok(tasks) = self.tasks.lock() {
            for task in tasks.iter() {
                task.abort();
            }
        }
    }
}

async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, delay_ms: Arc<AtomicU64>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let delay = delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            // The injected slowness.
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        let Some(chunk) = buf.get(..n) else { break };
        if to.write_all(chunk).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

/// Sends one command (a RESP array of bulk strings) and reads one reply.
fn roundtrip(stream: &mut TcpStream, args: &[&str]) -> std::io::Result<String> {
    let mut request = format!("*{}\r\n", args.len());
    for arg in args {
        request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    stream.write_all(request.as_bytes())?;
    read_reply(&mut BufReader::new(stream))
}

/// One reply as text: a status, error or integer line as sent (`+OK`, `-ERR ..`, `:1`), a
/// bulk string's contents (`$-1` for nil), an array's elements one per line.
fn read_reply(reader: &mut impl BufRead) -> std::io::Result<String> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let line = line.trim_end().to_owned();
    if let Some(Ok(len)) = line.strip_prefix('$').map(str::parse::<usize>) {
        let mut body = vec![0u8; len + 2];
        reader.read_exact(&mut body)?;
        body.truncate(len);
        return Ok(String::from_utf8_lossy(&body).into_owned());
    }
    if let Some(Ok(n)) = line.strip_prefix('*').map(str::parse::<usize>) {
        let mut items = Vec::with_capacity(n);
        for _ in 0..n {
            items.push(read_reply(reader)?);
        }
        return Ok(items.join("\n"));
    }
    Ok(line)
}

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "portcullis-redis-{}-{}",
        std::process::id(),
        crate::random_hex(8)
    ));
    std::fs::create_dir_all(&dir).expect("create a temporary directory");
    dir
}

fn log_tail(dir: &Path) -> String {
    let log = std::fs::read_to_string(dir.join("redis.log")).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    let recent = lines
        .get(lines.len().saturating_sub(5)..)
        .unwrap_or_default();
    recent.join("\n")
}
