//! Running the built `portcullis` binary, for the integration tests.
// Test code: a failed unwrap or assertion is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    dead_code,
    unreachable_pub
)]

use std::process::Stdio;

use portcullis_core::Jwk;
use portcullis_testkit::TestKey;
use serde_json::Value;
use tokio::io::AsyncWriteExt as _;

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The one JSON object printed on standard output.
    pub fn json(&self) -> Value {
        let lines: Vec<&str> = self.stdout.lines().collect();
        assert_eq!(lines.len(), 1, "one line of JSON expected: {}", self.stdout);
        serde_json::from_str(lines[0]).unwrap()
    }

    /// Asserts a usage or I/O error: exit code 2, nothing on standard output, one line on
    /// standard error that starts with `error:` and contains `needle`.
    pub fn assert_error(&self, needle: &str) {
        assert_eq!(self.code, 2, "exit code of {self:?}");
        assert_eq!(self.stdout, "", "nothing on standard output: {self:?}");
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line on standard error: {self:?}");
        assert!(lines[0].starts_with("error: "), "{self:?}");
        assert!(
            lines[0].contains(needle),
            "`{needle}` not in {:?}",
            lines[0]
        );
    }
}

/// The built binary, with colour and the environment's leftovers out of the way.
pub fn command() -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_portcullis"));
    command.env_remove("NO_COLOR").kill_on_drop(true);
    command
}

/// Runs `portcullis args...` with `stdin` (or an empty standard input).
pub async fn run_with(args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Run {
    let mut command = command();
    command
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).await.unwrap();
    }
    drop(input);
    let output = child.wait_with_output().await.unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// Runs `portcullis args...`.
pub async fn run(args: &[&str]) -> Run {
    run_with(args, None, &[]).await
}

/// The RFC 7638 thumbprint of a test key's public JWK.
pub fn thumbprint(key: &TestKey) -> String {
    let jwk: Jwk = serde_json::from_value(key.public_jwk()).unwrap();
    jwk.thumbprint_sha256().unwrap()
}

/// A loopback port that nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A `portcullis gateway` process: started with a configuration file, on a free loopback
/// port; killed when dropped.
pub struct GatewayProcess {
    child: tokio::process::Child,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// `127.0.0.1:<port>`.
    pub addr: String,
    _config: tempfile::NamedTempFile,
}

impl GatewayProcess {
    /// Runs `portcullis gateway --config <file with config> --listen 127.0.0.1:0` with `env`,
    /// and waits (bounded) for its `listening on` line.
    pub async fn start(config: &str, env: &[(&str, &str)]) -> GatewayProcess {
        use tokio::io::AsyncBufReadExt as _;
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), config).unwrap();
        let mut child = command()
            .arg("gateway")
            .arg("--config")
            .arg(file.path())
            .args(["--listen", "127.0.0.1:0"])
            .env_remove("RUST_LOG")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let line = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
            .await
            .expect("the gateway started within 30 s")
            .unwrap()
            .unwrap_or_else(|| panic!("the gateway exited before listening"));
        let url = line
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        let addr = url.trim_start_matches("http://").to_owned();
        GatewayProcess {
            child,
            url,
            addr,
            _config: file,
        }
    }

    /// Stops the gateway and returns what it logged on standard error.
    pub async fn stop(mut self) -> String {
        use tokio::io::AsyncReadExt as _;
        self.child.start_kill().unwrap();
        let mut stderr = self.child.stderr.take().unwrap();
        let mut text = String::new();
        stderr.read_to_string(&mut text).await.unwrap();
        let _ = self.child.wait().await;
        text
    }
}

/// A configuration: `top` (top-level settings), the test issuer `issuer` with audience
/// `api`, then `gateway` (the `[gateway]` section).
pub fn gateway_config(top: &str, issuer: &str, gateway: &str) -> String {
    format!("{top}\n[[issuers]]\nissuer = \"{issuer}\"\naudiences = [\"api\"]\n\n{gateway}")
}

/// Sends one HTTP/1.1 request with this exact target (clients such as reqwest resolve
/// `%2E%2E` and `..` before sending) and returns the response's status and full text.
pub async fn raw_request(
    addr: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    use tokio::io::AsyncReadExt as _;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut request =
        format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {text:?}"));
    (status, text)
}
