//! `portcullis gateway` behind real nginx (`auth_request`) and Caddy (`forward_auth`), each
//! started by the test with the configuration of the manual (`tests/proxies/nginx.conf`,
//! `tests/proxies/Caddyfile`) on a free loopback port, in front of an upstream that echoes
//! what it received: what reaches the upstream, and what the client gets back.
//!
//! Without `nginx` or `caddy` installed these tests skip, unless
//! `PORTCULLIS_REQUIRE_PROXIES=1` (as in CI) makes that a failure.
// Test code: a failed unwrap or assertion is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{GatewayProcess, gateway_config, raw_request};
use portcullis_testkit::proxy::{EchoUpstream, ProxyServer, render};
use portcullis_testkit::{JwksFault, TestIssuer, tamper};
use serde_json::Value;

const NGINX: &str = include_str!("proxies/nginx.conf");
const CADDY: &str = include_str!("proxies/Caddyfile");

const GATEWAY: &str = r#"
[gateway]
routes = [
  { path = "/health", access = "public" },
  { method = "GET", path = "/orders/**", scopes = ["orders.read"] },
  { path = "/admin/**", scopes = ["admin"] },
]
claim_headers = [
  { claim = "sub", header = "x-user" },
  { claim = "scope", header = "x-scope" },
]
"#;

#[derive(Debug, Clone, Copy)]
enum Proxy {
    Nginx,
    Caddy,
}

/// The issuer, the gateway, the upstream and the proxy of one test.
struct Stack {
    idp: TestIssuer,
    gateway: Option<GatewayProcess>,
    upstream: EchoUpstream,
    proxy: ProxyServer,
}

impl Stack {
    async fn start(proxy: Proxy, test: &str, top: &str, fault: bool) -> Option<Stack> {
        let idp = TestIssuer::start().await;
        if fault {
            idp.set_fault(Some(JwksFault::Status(500)));
        }
        let gateway =
            GatewayProcess::start(&gateway_config(top, &idp.issuer(), GATEWAY), &[]).await;
        let upstream = EchoUpstream::start().await;
        let vars = [
            ("GATEWAY", gateway.addr.clone()),
            ("UPSTREAM", upstream.addr().to_string()),
        ];
        let proxy = match proxy {
            Proxy::Nginx => ProxyServer::nginx_or_skip(test, NGINX, &vars)?,
            Proxy::Caddy => ProxyServer::caddy_or_skip(test, CADDY, &vars)?,
        };
        Some(Stack {
            idp,
            gateway: Some(gateway),
            upstream,
            proxy,
        })
    }

    /// `GET path` through the proxy, with `token` and more headers.
    async fn get(
        &self,
        path: &str,
        token: Option<&str>,
        extra: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut req = reqwest::Client::new().get(format!("{}{path}", self.proxy.url()));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        for (name, value) in extra {
            req = req.header(*name, *value);
        }
        req.send().await.unwrap()
    }
}

fn header<'r>(r: &'r reqwest::Response, name: &str) -> &'r str {
    r.headers().get(name).map_or("", |v| v.to_str().unwrap())
}

/// The copies of header `name` the upstream received.
fn received(echo: &Value, name: &str) -> Vec<String> {
    echo["headers"][name]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

async fn a_good_token_reaches_the_upstream_with_the_claim_headers(proxy: Proxy, test: &str) {
    let Some(s) = Stack::start(proxy, test, "", false).await else {
        return;
    };
    let token = s.idp.token().subject("alice").scope("orders.read").sign();
    // The client's own claim header is replaced by the gateway's.
    let r = s
        .get("/orders/7?x=1", Some(&token), &[("x-user", "root")])
        .await;
    assert_eq!(r.status(), 200, "{}", s.proxy.log());
    let echo: Value = r.json().await.unwrap();
    assert_eq!(echo["target"], "/orders/7?x=1");
    assert_eq!(received(&echo, "x-user"), ["alice"]);
    assert_eq!(received(&echo, "x-scope"), ["orders.read"]);
    // A public route: the client's claim header is stripped, none is set.
    let r = s
        .get("/health", None, &[("x-user", "root"), ("x-scope", "admin")])
        .await;
    assert_eq!(r.status(), 200);
    let echo: Value = r.json().await.unwrap();
    for name in ["x-user", "x-scope"] {
        let values = received(&echo, name);
        assert!(values.iter().all(String::is_empty), "{name}: {values:?}");
    }
}

async fn refusals_reach_the_client_with_their_challenge(proxy: Proxy, test: &str) {
    let Some(s) = Stack::start(proxy, test, "", false).await else {
        return;
    };
    let r = s.get("/orders/7", None, &[]).await;
    assert_eq!(r.status(), 401);
    assert_eq!(header(&r, "www-authenticate"), "Bearer");
    let forged = tamper::flip_signature_bit(&s.idp.token().scope("orders.read").sign());
    let r = s.get("/orders/7", Some(&forged), &[]).await;
    assert_eq!(r.status(), 401);
    assert_eq!(
        header(&r, "www-authenticate"),
        r#"Bearer error="invalid_token""#
    );
    let token = s.idp.token().scope("profile").sign();
    let r = s.get("/orders/7", Some(&token), &[]).await;
    assert_eq!(r.status(), 403);
    assert_eq!(
        header(&r, "www-authenticate"),
        r#"Bearer error="insufficient_scope", scope="orders.read""#
    );
    let r = s
        .get("/orders/7", None, &[("authorization", "Bearer a b")])
        .await;
    assert_eq!(r.status(), 400, "{}", s.proxy.log());
    assert_eq!(
        header(&r, "www-authenticate"),
        r#"Bearer error="invalid_request""#
    );
    assert!(
        s.upstream.received().is_empty(),
        "{:?}",
        s.upstream.received()
    );
}

async fn unavailable_keys_reach_the_client_as_503(proxy: Proxy, test: &str) {
    let Some(s) = Stack::start(proxy, test, "lazy_start = true", true).await else {
        return;
    };
    let token = s.idp.token().scope("orders.read").sign();
    let r = s.get("/orders/7", Some(&token), &[]).await;
    assert_eq!(r.status(), 503, "{}", s.proxy.log());
    assert!(!header(&r, "retry-after").is_empty());
    assert!(s.upstream.received().is_empty());
}

async fn path_confusion_never_reaches_a_protected_route(proxy: Proxy, test: &str) {
    let Some(s) = Stack::start(proxy, test, "", false).await else {
        return;
    };
    let orders = s.idp.token().scope("orders.read").sign();
    let bearer = format!("Bearer {orders}");
    let addr = format!("127.0.0.1:{}", s.proxy.port());
    for target in [
        "/health/..%2Fadmin/users",
        "/health/%2e%2e/admin/users",
        "/health/%2E%2E%2Fadmin/users",
        "/health/../admin/users",
        "/health/./../admin/users",
        "/health/..;/admin/users",
        "//admin/users",
        "/%61dmin/users",
        "/health%2F..%2Fadmin/users",
        "/orders/..%2F..%2Fadmin/users",
        "/orders/7/../../admin/users",
        "/health\\..\\admin/users",
    ] {
        for token in [None, Some(bearer.as_str())] {
            let headers: Vec<(&str, &str)> =
                token.map(|t| ("authorization", t)).into_iter().collect();
            let (status, text) = raw_request(&addr, "GET", target, &headers).await;
            assert!(
                (400..500).contains(&status),
                "{target} with {}: {status} {text}",
                if token.is_some() {
                    "a token"
                } else {
                    "no token"
                }
            );
        }
    }
    // Nothing reached the upstream: every attempt was refused before it.
    assert!(
        s.upstream.received().is_empty(),
        "{:?}",
        s.upstream.received()
    );
}

async fn a_gateway_that_cannot_be_reached_lets_nothing_through(proxy: Proxy, test: &str) {
    let Some(mut s) = Stack::start(proxy, test, "", false).await else {
        return;
    };
    let token = s.idp.token().scope("orders.read").sign();
    assert_eq!(s.get("/orders/7", Some(&token), &[]).await.status(), 200);
    s.gateway.take().unwrap().stop().await;
    for (path, token) in [("/orders/7", Some(token.as_str())), ("/health", None)] {
        let r = s.get(path, token, &[]).await;
        assert!(r.status().is_server_error(), "{path}: {}", r.status());
    }
    assert_eq!(
        s.upstream.received(),
        ["/orders/7"],
        "only the request before the stop"
    );
}

#[tokio::test]
async fn nginx_a_gateway_that_cannot_be_reached_lets_nothing_through() {
    a_gateway_that_cannot_be_reached_lets_nothing_through(
        Proxy::Nginx,
        "nginx_a_gateway_that_cannot_be_reached_lets_nothing_through",
    )
    .await;
}

#[tokio::test]
async fn caddy_a_gateway_that_cannot_be_reached_lets_nothing_through() {
    a_gateway_that_cannot_be_reached_lets_nothing_through(
        Proxy::Caddy,
        "caddy_a_gateway_that_cannot_be_reached_lets_nothing_through",
    )
    .await;
}

#[tokio::test]
async fn nginx_a_good_token_reaches_the_upstream_with_the_claim_headers() {
    a_good_token_reaches_the_upstream_with_the_claim_headers(
        Proxy::Nginx,
        "nginx_a_good_token_reaches_the_upstream_with_the_claim_headers",
    )
    .await;
}

#[tokio::test]
async fn caddy_a_good_token_reaches_the_upstream_with_the_claim_headers() {
    a_good_token_reaches_the_upstream_with_the_claim_headers(
        Proxy::Caddy,
        "caddy_a_good_token_reaches_the_upstream_with_the_claim_headers",
    )
    .await;
}

#[tokio::test]
async fn nginx_refusals_reach_the_client_with_their_challenge() {
    refusals_reach_the_client_with_their_challenge(
        Proxy::Nginx,
        "nginx_refusals_reach_the_client_with_their_challenge",
    )
    .await;
}

#[tokio::test]
async fn caddy_refusals_reach_the_client_with_their_challenge() {
    refusals_reach_the_client_with_their_challenge(
        Proxy::Caddy,
        "caddy_refusals_reach_the_client_with_their_challenge",
    )
    .await;
}

#[tokio::test]
async fn nginx_unavailable_keys_reach_the_client_as_503() {
    unavailable_keys_reach_the_client_as_503(
        Proxy::Nginx,
        "nginx_unavailable_keys_reach_the_client_as_503",
    )
    .await;
}

#[tokio::test]
async fn caddy_unavailable_keys_reach_the_client_as_503() {
    unavailable_keys_reach_the_client_as_503(
        Proxy::Caddy,
        "caddy_unavailable_keys_reach_the_client_as_503",
    )
    .await;
}

#[tokio::test]
async fn nginx_path_confusion_never_reaches_a_protected_route() {
    path_confusion_never_reaches_a_protected_route(
        Proxy::Nginx,
        "nginx_path_confusion_never_reaches_a_protected_route",
    )
    .await;
}

#[tokio::test]
async fn caddy_path_confusion_never_reaches_a_protected_route() {
    path_confusion_never_reaches_a_protected_route(
        Proxy::Caddy,
        "caddy_path_confusion_never_reaches_a_protected_route",
    )
    .await;
}

#[test]
fn the_manual_shows_the_tested_configurations() {
    let manual = include_str!("../../../docs/manual/gateway.md");
    let vars = [
        ("LISTEN", "8080".to_owned()),
        ("GATEWAY", "127.0.0.1:8418".to_owned()),
        ("UPSTREAM", "127.0.0.1:3000".to_owned()),
    ];
    for (name, template) in [("nginx.conf", NGINX), ("Caddyfile", CADDY)] {
        let shown = render(template, &vars);
        assert!(
            manual.contains(&shown),
            "docs/manual/gateway.md must show tests/proxies/{name} with {vars:?}:\n{shown}"
        );
    }
}
