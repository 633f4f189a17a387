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
