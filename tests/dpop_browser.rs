// Tests may unwrap, index and panic: a failure is the test's report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stderr
)]
//! The DPoP example's page in a real browser: headless Chromium loads it from its own
//! origin, makes a WebCrypto key, gets a DPoP-bound token and calls the API on another
//! origin through CORS; the test reads what the page wrote into its DOM.
//!
//! Without Chromium the test is skipped (it says so), unless `PORTCULLIS_REQUIRE_BROWSER` is
//! set, as CI does: then a missing browser fails it.

// The example's servers, started in-process; the example uses parts the test does not.
#[allow(dead_code)]
#[path = "../examples/dpop/demo.rs"]
mod demo;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The names the browser goes by on `PATH`, then the Debian package's path.
const BROWSERS: [&str; 4] = [
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
];
const DEBIAN_CHROMIUM: &str = "/usr/bin/chromium";

/// How long the browser may take for the whole page, at most (it takes a few seconds).
const BROWSER_TIMEOUT: Duration = Duration::from_secs(90);

fn find_browser() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .flat_map(|dir| BROWSERS.iter().map(move |name| dir.join(name)))
        .chain(std::iter::once(PathBuf::from(DEBIAN_CHROMIUM)))
        .find(|candidate| candidate.is_file())
}

/// The browser, or `None` when the test is to be skipped (after saying why).
fn browser_or_skip() -> Option<PathBuf> {
    if let Some(browser) = find_browser() {
        return Some(browser);
    }
    assert!(
        std::env::var_os("PORTCULLIS_REQUIRE_BROWSER").is_none(),
        "PORTCULLIS_REQUIRE_BROWSER is set but no Chromium was found (looked for {BROWSERS:?} \
         on PATH and {DEBIAN_CHROMIUM}); install it with `apt-get install -y chromium`"
    );
    eprintln!(
        "skipped: no Chromium on PATH nor at {DEBIAN_CHROMIUM} (apt-get install -y chromium; \
         set PORTCULLIS_REQUIRE_BROWSER=1 to fail instead of skipping)"
    );
    None
}

/// Loads `url` in headless Chromium, lets the page's scripts run (with their network
/// requests), and returns the DOM it ended with.
async fn dump_dom(browser: &Path, url: &str) -> String {
    // A profile of its own: another browser on the machine must not share its lock.
    let profile = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let run = tokio::process::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-extensions",
            "--virtual-time-budget=10000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(url)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(BROWSER_TIMEOUT, run)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "{} did not finish within {BROWSER_TIMEOUT:?}",
                browser.display()
            )
        })
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", browser.display()));
    eprintln!(
        "{} took {:.1} s",
        browser.display(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        output.status.success(),
        "{} failed ({}): {}",
        browser.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The lines of the page's `<pre id="log">`, entities decoded.
fn log_lines(dom: &str) -> Vec<String> {
    let start = dom
        .find(r#"<pre id="log">"#)
        .unwrap_or_else(|| panic!("no <pre id=\"log\"> in the DOM:\n{dom}"));
    let rest = &dom[start + r#"<pre id="log">"#.len()..];
    let end = rest.find("</pre>").expect("the log's </pre>");
    rest[..end]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_gets_a_bound_token_and_calls_the_api_with_nonces_and_a_refused_replay() {
    let Some(browser) = browser_or_skip() else {
        return;
    };
    let demo = demo::start().await.unwrap();
    assert_ne!(demo.page, demo.api, "the page and the API are two origins");
    let log = log_lines(&dump_dom(&browser, &format!("{}/", demo.page)).await);
    let shown = log.join("\n");
    let has = |line: &str| log.iter().any(|l| l == line);

    assert!(
        log.first()
            .is_some_and(|l| l.starts_with("key: ECDSA P-256, private half not extractable")),
        "{shown}"
    );
    // The token endpoint saw the page's proof and bound the token to the page's key (the
    // page compared the token's cnf.jkt with its own thumbprint).
    assert!(has("token: 200 DPoP, bound to this key"), "{shown}");
    // The first call without a nonce: 401 use_dpop_nonce with a DPoP-Nonce the page could
    // read (CORS exposes it); the retry with it: 200.
    assert!(has("nonce: 401 then 200"), "{shown}");
    assert!(has("call: 200"), "{shown}");
    assert!(has("orders: A-1001 A-1002"), "{shown}");
    // The same proof again: refused, and the page could read why (WWW-Authenticate).
    assert!(has("replay: 401 invalid_dpop_proof"), "{shown}");
    assert_eq!(log.last().map(String::as_str), Some("done"), "{shown}");
    assert!(!log.iter().any(|l| l.starts_with("error:")), "{shown}");
    assert!(demo.idp.token_requests() >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_exposed_headers_the_page_cannot_read_the_nonce_and_says_so() {
    let Some(browser) = browser_or_skip() else {
        return;
    };
    // The same servers, but the API's CORS exposes neither DPoP-Nonce nor WWW-Authenticate.
    let demo = demo::start_with(&[]).await.unwrap();
    let log = log_lines(&dump_dom(&browser, &format!("{}/", demo.page)).await);
    let shown = log.join("\n");
    assert!(
        log.iter()
            .any(|l| l == "token: 200 DPoP, bound to this key"),
        "{shown}"
    );
    assert!(
        log.iter()
            .any(|l| l == "nonce: 401 (no error readable), no DPoP-Nonce readable"),
        "{shown}"
    );
    assert!(!log.iter().any(|l| l.starts_with("call:")), "{shown}");
    assert!(
        log.last().is_some_and(|l| l.starts_with("error:")),
        "{shown}"
    );
}
