//! Real reverse proxies for tests (feature `proxies`): [`ProxyServer::nginx`] and
//! [`ProxyServer::caddy`] on a free loopback port, from a configuration the test gives, and an
//! [`EchoUpstream`] that answers every request with what it received.
//!
//! They run the `nginx` and `caddy` binaries found on `PATH` (or in `/usr/sbin`,
//! `/usr/bin`). Without them a test is skipped with a line on stderr, unless
//! `PORTCULLIS_REQUIRE_PROXIES=1` (as in CI) makes that a failure:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use portcullis_testkit::proxy::{EchoUpstream, ProxyServer};
//!
//! let upstream = EchoUpstream::start().await;
//! let site = "server {\n    listen 127.0.0.1:{{LISTEN}};\n    location / { proxy_pass http://{{UPSTREAM}}; }\n}\n";
//! let vars = [("UPSTREAM", upstream.addr().to_string())];
//! let Some(nginx) = ProxyServer::nginx_or_skip("the_proxy_module_doctest", site, &vars) else { return };
//! let echo: serde_json::Value = reqwest::get(format!("{}/a?b", nginx.url())).await.unwrap().json().await.unwrap();
//! assert_eq!(echo["target"], "/a?b");
//! # }
//! ```
//!
//! Each proxy has a temporary directory of its own (configuration, logs, state), listens on
//! 127.0.0.1 only, runs as one process (nginx with `master_process off`, Caddy without its
//! admin endpoint), and is stopped (SIGKILL) when dropped.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::Request;
use serde_json::{Map, Value, json};

/// The environment variable that turns a missing `nginx` or `caddy` into a test failure when
/// set to `1`.
pub const REQUIRE_PROXIES_ENV: &str = "PORTCULLIS_REQUIRE_PROXIES";

/// How long a proxy may take to accept connections after it is started.
const STARTUP: Duration = Duration::from_secs(15);

/// How many times a start is tried on a new port when the port was taken meanwhile.
const PORT_ATTEMPTS: usize = 5;

/// The path of the program `name` on `PATH`, or in `/usr/sbin`, `/usr/bin`, `/usr/local/bin`
/// (nginx lives in `/usr/sbin`, which a user's `PATH` may lack).
fn find(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// What a test does when a proxy is not installed: panics when [`REQUIRE_PROXIES_ENV`] is
/// `1` (CI must run every test), else prints `skipped <test>: <program> not found (...)`.
///
/// # Panics
/// When the proxies are required.
#[allow(clippy::print_stderr)] // The one report of a skipped test.
pub fn skip_without(test: &str, program: &str) {
    let required = std::env::var(REQUIRE_PROXIES_ENV).is_ok_and(|v| v == "1");
    assert!(
        !required,
        "{test}: {program} not found, and {REQUIRE_PROXIES_ENV}=1 requires it"
    );
    eprintln!(
        "skipped {test}: {program} not found (install it, or set {REQUIRE_PROXIES_ENV}=1 to \
         make this a failure)"
    );
}

/// Replaces each `{{NAME}}` of `template` with its value.
#[must_use]
pub fn render(template: &str, vars: &[(&str, String)]) -> String {
    let mut out = template.to_owned();
    for (name, value) in vars {
        out = out.replace(&format!("{{{{{name}}}}}"), value);
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Nginx,
    Caddy,
}

/// A reverse proxy process on a free port of 127.0.0.1; stopped when dropped.
pub struct ProxyServer {
    kind: Kind,
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl std::fmt::Debug for ProxyServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyServer")
            .field("kind", &self.kind)
            .field("port", &self.port)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl ProxyServer {
    /// Starts nginx with `site` (an `http`-level block, usually one `server { ... }`) inside a
    /// test main configuration (one process, logs and temporary files in its directory), after
    /// [`render`]ing it with `vars` and `LISTEN`, the chosen port. `None` when nginx is not
    /// installed.
    ///
    /// # Panics
    /// When nginx does not start (its error log is in the message).
    #[must_use]
    pub fn nginx(site: &str, vars: &[(&str, String)]) -> Option<ProxyServer> {
        start(Kind::Nginx, site, vars)
    }

    /// [`nginx`](Self::nginx), or [`skip_without`] when nginx is not installed.
    ///
    /// # Panics
    /// When nginx does not start, or it is required but not installed.
    #[must_use]
    pub fn nginx_or_skip(test: &str, site: &str, vars: &[(&str, String)]) -> Option<Self> {
        let server = Self::nginx(site, vars);
        if server.is_none() {
            skip_without(test, "nginx");
        }
        server
    }

    /// Starts Caddy with `caddyfile` (site blocks), after global options that keep it to
    /// itself (no admin endpoint, no automatic HTTPS, state in its directory), [`render`]ed
    /// with `vars` and `LISTEN`. `None` when Caddy is not installed.
    ///
    /// # Panics
    /// When Caddy does not start (its output is in the message).
    #[must_use]
    pub fn caddy(caddyfile: &str, vars: &[(&str, String)]) -> Option<ProxyServer> {
        start(Kind::Caddy, caddyfile, vars)
    }

    /// [`caddy`](Self::caddy), or [`skip_without`] when Caddy is not installed.
    ///
    /// # Panics
    /// When Caddy does not start, or it is required but not installed.
    #[must_use]
    pub fn caddy_or_skip(test: &str, caddyfile: &str, vars: &[(&str, String)]) -> Option<Self> {
        let server = Self::caddy(caddyfile, vars);
        if server.is_none() {
            skip_without(test, "caddy");
        }
        server
    }

    /// `http://127.0.0.1:<port>`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The port.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The proxy's log so far (nginx's error log, Caddy's output).
    #[must_use]
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("proxy.log")).unwrap_or_default()
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for ProxyServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start(kind: Kind, site: &str, vars: &[(&str, String)]) -> Option<ProxyServer> {
    let binary = find(match kind {
        Kind::Nginx => "nginx",
        Kind::Caddy => "caddy",
    })?;
    let dir = std::env::temp_dir().join(format!(
        "portcullis-proxy-{}-{}",
        std::process::id(),
        crate::random_hex(8)
    ));
    std::fs::create_dir_all(&dir).expect("create a temporary directory");
    let mut last = String::new();
    for _ in 0..PORT_ATTEMPTS {
        let port = free_port();
        let mut all = vars.to_vec();
        all.push(("LISTEN", port.to_string()));
        let body = render(site, &all);
        let mut child = match kind {
            Kind::Nginx => spawn_nginx(&binary, &dir, &body),
            Kind::Caddy => spawn_caddy(&binary, &dir, &body),
        };
        match wait_ready(&mut child, port, &dir) {
            Ok(()) => {
                return Some(ProxyServer {
                    kind,
                    dir,
                    port,
                    child: Some(child),
                });
            }
            Err(log) => {
                let _ = child.kill();
                let _ = child.wait();
                // Another process took the port meanwhile: try another.
                if !log.contains("in use") {
                    let _ = std::fs::remove_dir_all(&dir);
                    panic!("{kind:?} did not start on port {port}: {log}");
                }
                last = log;
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    panic!("{kind:?} did not start: {last}");
}

/// The log file a proxy writes (stdout and stderr too).
fn log_file(dir: &Path) -> (std::fs::File, std::fs::File) {
    let log = std::fs::File::create(dir.join("proxy.log")).expect("create the log");
    let copy = log.try_clone().expect("clone the log handle");
    (log, copy)
}

fn spawn_nginx(binary: &Path, dir: &Path, site: &str) -> Child {
    let d = dir.display();
    let main = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
         error_log {d}/proxy.log notice;\nevents {{ worker_connections 128; }}\n\
         http {{\n    access_log off;\n    client_body_temp_path {d}/body;\n    \
         proxy_temp_path {d}/proxy;\n    fastcgi_temp_path {d}/fastcgi;\n    \
         uwsgi_temp_path {d}/uwsgi;\n    scgi_temp_path {d}/scgi;\n    include {d}/site.conf;\n}}\n"
    );
    std::fs::write(dir.join("nginx.conf"), main).expect("write nginx.conf");
    std::fs::write(dir.join("site.conf"), site).expect("write site.conf");
    let (out, err) = log_file(dir);
    Command::new(binary)
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("spawn nginx")
}

fn spawn_caddy(binary: &Path, dir: &Path, site: &str) -> Child {
    let global = "{\n\tadmin off\n\tauto_https off\n}\n\n";
    let path = dir.join("Caddyfile");
    std::fs::write(&path, format!("{global}{site}")).expect("write the Caddyfile");
    let (out, err) = log_file(dir);
    Command::new(binary)
        .arg("run")
        .arg("--config")
        .arg(&path)
        .arg("--adapter")
        .arg("caddyfile")
        .env("HOME", dir)
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("spawn caddy")
}

/// Waits until `port` accepts connections; `Err(log)` when the process exits first or the
/// startup time passes.
fn wait_ready(child: &mut Child, port: u16, dir: &Path) -> Result<(), String> {
    let start = Instant::now();
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let log = || std::fs::read_to_string(dir.join("proxy.log")).unwrap_or_default();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("exited ({status}): {}", log()));
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if start.elapsed() > STARTUP {
            return Err(format!("no answer after {STARTUP:?}: {}", log()));
        }
        // Waiting for the process to start listening.
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a free loopback port");
    listener.local_addr().expect("the bound address").port()
}

/// An upstream that answers every request `200` with what it received, as JSON:
/// `{"method": "GET", "target": "/a?b", "headers": {"x-user": ["alice"], ...}}` (the target
/// as sent, not decoded; header names in lower case, every copy of each), and remembers the
/// targets it received. Runs on the current tokio runtime.
#[derive(Debug, Clone)]
pub struct EchoUpstream {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<String>>>,
}

impl EchoUpstream {
    /// Starts it on `127.0.0.1:<a free port>`.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn start() -> EchoUpstream {
        let received: Arc<Mutex<Vec<String>>> = Arc::default();
        let log = received.clone();
        let app = axum::Router::new().fallback(move |req: Request| {
            let log = log.clone();
            async move { echo(&req, &log) }
        });
        let url = crate::serve(app).await;
        let addr = url
            .trim_start_matches("http://")
            .parse()
            .expect("the served address");
        EchoUpstream { addr, received }
    }

    /// The targets of the requests received so far, in order, as sent.
    #[must_use]
    pub fn received(&self) -> Vec<String> {
        self.received.lock().expect("the request log").clone()
    }

    /// `127.0.0.1:<port>`.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

fn echo(req: &Request, log: &Mutex<Vec<String>>) -> axum::Json<Value> {
    let mut headers: Map<String, Value> = Map::new();
    for (name, value) in req.headers() {
        let entry = headers
            .entry(name.as_str().to_owned())
            .or_insert_with(|| json!([]));
        if let Some(list) = entry.as_array_mut() {
            list.push(json!(String::from_utf8_lossy(value.as_bytes())));
        }
    }
    let target = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().path().to_owned(), |pq| pq.as_str().to_owned());
    log.lock().expect("the request log").push(target.clone());
    axum::Json(json!({
        "method": req.method().as_str(),
        "target": target,
        "headers": headers,
    }))
}
