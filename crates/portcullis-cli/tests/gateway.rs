//! `portcullis gateway`, run as a built binary against the testkit issuer over loopback, its
//! endpoints called over HTTP as nginx, Caddy, Traefik and Envoy call them: the answers of
//! each kind of refusal, the claim headers, the sub-requests refused with 400, `--check`, and
//! what it logs.
// Test code: a failed unwrap or assertion is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{GatewayProcess, gateway_config, raw_request, run};
use portcullis_testkit::{JwksFault, TestIssuer, tamper};
use reqwest::header::HeaderMap;
use serde_json::json;

/// The gateway section of these tests.
const GATEWAY: &str = r#"
[gateway]
routes = [
  { path = "/health", access = "public" },
  { method = "GET", path = "/orders/**", scopes = ["orders.read"] },
  { path = "/admin/**", scopes = ["admin"] },
  { path = "/me", access = "authenticated" },
]
claim_headers = [
  { claim = "sub", header = "x-user" },
  { claim = "scope", header = "x-scope" },
  { claim = '"https://example.com/org.id"', header = "x-org" },
  { claim = "realm_access.roles", header = "x-roles" },
]
"#;

async fn gateway(idp: &TestIssuer) -> GatewayProcess {
    GatewayProcess::start(&gateway_config("", &idp.issuer(), GATEWAY), &[]).await
}

/// A forward-auth sub-request (Caddy, Traefik) for `method` `uri`, with `token` if any.
async fn forward(
    gw: &GatewayProcess,
    method: &str,
    uri: &str,
    token: Option<&str>,
) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .get(format!("{}/auth/forward", gw.url))
        .header("x-forwarded-method", method)
        .header("x-forwarded-uri", uri)
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "api.example.com");
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    req.send().await.unwrap()
}

fn challenge(headers: &HeaderMap) -> &str {
    headers
        .get("www-authenticate")
        .map_or("", |v| v.to_str().unwrap())
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> &'h str {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

#[tokio::test]
async fn a_good_token_passes_with_its_claims_in_headers() {
    let idp = TestIssuer::start().await;
    let gw = gateway(&idp).await;
    let token = idp
        .token()
        .subject("alice")
        .scope("orders.read profile")
        .claim("https://example.com/org.id", json!("acme"))
        .claim("realm_access", json!({"roles": ["ops", "billing"]}))
        .sign();
    let r = forward(&gw, "GET", "/orders/7?expand=items", Some(&token)).await;
    assert_eq!(r.status(), 200);
    let h = r.headers();
    assert_eq!(header(h, "x-user"), "alice");
    assert_eq!(header(h, "x-scope"), "orders.read profile");
    assert_eq!(header(h, "x-org"), "acme");
    assert_eq!(header(h, "x-roles"), "ops billing");
    // HEAD follows GET.
    let r = forward(&gw, "HEAD", "/orders/7", Some(&token)).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn every_configured_header_is_present_and_empty_without_its_claim() {
    let idp = TestIssuer::start().await;
    let gw = gateway(&idp).await;
    // A public route: no token looked for, every header empty.
    let r = forward(&gw, "GET", "/health", None).await;
    assert_eq!(r.status(), 200);
    for name in ["x-user", "x-scope", "x-org", "x-roles"] {
        assert_eq!(header(r.headers(), name), "", "{name}");
    }
    // A token without the optional claims.
    let token = idp.token().subject("bob").sign();
    let r = forward(&gw, "GET", "/me", Some(&token)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(r.headers(), "x-user"), "bob");
    assert_eq!(header(r.headers(), "x-org"), "");
    assert_eq!(header(r.headers(), "x-roles"), "");
}

#[tokio::test]
async fn a_claim_cannot_inject_a_header() {
    let idp = TestIssuer::start().await;
    let gw = gateway(&idp).await;
    let token = idp
        .token()
        .subject("mallory\r\nx-admin: true")
        .claim("https://example.com/org.id", json!("caf\u{e9} 100%"))
        .sign();
    let r = forward(&gw, "GET", "/me", Some(&token)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(r.headers(), "x-user"), "mallory%0D%0Ax-admin: true");
    assert_eq!(header(r.headers(), "x-org"), "caf%C3%A9 100%25");
    assert!(r.headers().get("x-admin").is_none());
}

#[tokio::test]
async fn refusals_are_the_layers_answers() {
    let idp = TestIssuer::start().await;
    let gw = gateway(&idp).await;
    // No token.
    let r = forward(&gw, "GET", "/orders/7", None).await;
    assert_eq!(r.status(), 401);
    assert_eq!(challenge(r.headers()), "Bearer");
    assert_eq!(header(r.headers(), "cache-control"), "no-store");
    // A bad signature.
    let forged = tamper::flip_signature_bit(&idp.token().scope("orders.read").sign());
    let r = forward(&gw, "GET", "/orders/7", Some(&forged)).await;
    assert_eq!(r.status(), 401);
    assert_eq!(challenge(r.headers()), r#"Bearer error="invalid_token""#);
    // Missing scope.
    let token = idp.token().scope("profile").sign();
    let r = forward(&gw, "GET", "/orders/7", Some(&token)).await;
    assert_eq!(r.status(), 403);
    assert_eq!(
        challenge(r.headers()),
        r#"Bearer error="insufficient_scope", scope="orders.read""#
    );
    // A route no rule matches, and a method the rule does not cover: refused.
    let r = forward(&gw, "GET", "/elsewhere", Some(&token)).await;
    assert_eq!(r.status(), 403);
    let orders = idp.token().scope("orders.read").sign();
    let r = forward(&gw, "DELETE", "/orders/7", Some(&orders)).await;
    assert_eq!(r.status(), 403);
    // Two credentials: 400 invalid_request, from the layer.
    let r = reqwest::Client::new()
        .get(format!("{}/auth/forward", gw.url))
        .header("x-forwarded-method", "GET")
        .header("x-forwarded-uri", "/me")
        .header("authorization", format!("Bearer {orders}"))
        .header("authorization", format!("Bearer {orders}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(challenge(r.headers()), r#"Bearer error="invalid_request""#);
}

#[tokio::test]
async fn keys_that_cannot_be_had_are_503_with_retry_after() {
    let idp = TestIssuer::start().await;
    idp.set_fault(Some(JwksFault::Status(500)));
    let config = gateway_config("lazy_start = true", &idp.issuer(), GATEWAY);
    let gw = GatewayProcess::start(&config, &[]).await;
    let token = idp.token().scope("orders.read").sign();
    let r = forward(&gw, "GET", "/orders/7", Some(&token)).await;
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    // The operator hears of it by default (a warning); the token is never logged.
    let logs = gw.stop().await;
    assert!(logs.contains("WARN"), "{logs}");
    assert!(!logs.contains(&token), "{logs}");
}

#[tokio::test]
async fn paths_are_judged_as_the_upstream_will_route_them() {
    let idp = TestIssuer::start().await;
    let gw = gateway(&idp).await;
    let orders = idp.token().scope("orders.read").sign();
    // `%61` is `a`: /%61dmin is /admin, whose rule needs `admin`.
    let r = forward(&gw, "GET", "/%61dmin/users", Some(&orders)).await;
    assert_eq!(r.status(), 403);
    assert!(challenge(r.headers()).contains(r#"scope="admin""#));
    let admin = idp.token().scope("admin").sign();
    assert_eq!(
        forward(&gw, "GET", "/%61dmin/users", Some(&admin))
            .await
            .status(),
        200
    );
    // Ambiguous paths never reach a rule: 400, whatever the token.
    for uri in [
        "/health/..%2Fadmin",
        "/health/%2e%2e/admin",
        "/health/../admin",
        "/health/..;/admin",
        "//admin",
        "/health%2Fadmin",
        "/health%5Cadmin",
        "/health/%zz",
        "/health/%ff",
        "/health/%00",
        "/health\\admin",
    ] {
        let r = forward(&gw, "GET", uri, Some(&admin)).await;
        assert_eq!(r.status(), 400, "{uri}");
    }
}

#[tokio::test]
async fn the_nginx_endpoint_reads_x_original_headers_only() {
    let idp = TestIssuer::start().await;
    let gw = gateway(&idp).await;
    let token = idp.token().subject("alice").scope("orders.read").sign();
    let sub = |pairs: &[(&str, &str)]| {
        let mut req = reqwest::Client::new()
            .get(format!("{}/auth/nginx", gw.url))
            .bearer_auth(&token);
        for (name, value) in pairs {
            req = req.header(*name, *value);
        }
        req.send()
    };
    let ok = [
        ("x-original-method", "GET"),
        ("x-original-uri", "/orders/7"),
    ];
    let r = sub(&ok).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(r.headers(), "x-user"), "alice");
    // A client's X-Forwarded-Uri passed on by nginx: refused, never read.
    let r = sub(&[ok[0], ok[1], ("x-forwarded-uri", "/health")])
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Disagreeing copies.
    let r = sub(&[ok[0], ok[1], ("x-original-uri", "/health")])
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Missing headers.
    assert_eq!(sub(&[ok[0]]).await.unwrap().status(), 400);
    // A forward sub-request carrying X-Original-URI is refused too.
    let r = reqwest::Client::new()
        .get(format!("{}/auth/forward", gw.url))
        .header("x-forwarded-method", "GET")
        .header("x-forwarded-uri", "/health")
        .header("x-original-uri", "/orders/7")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Unknown endpoints are 404.
    let r = reqwest::get(format!("{}/auth/other", gw.url))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn the_envoy_endpoint_reads_the_path_after_its_prefix_and_its_own_method() {
    let idp = TestIssuer::start().await;
    let gw = gateway(&idp).await;
    let token = idp.token().subject("alice").scope("orders.read").sign();
    let client = reqwest::Client::new();
    let r = client
        .get(format!("{}/auth/envoy/orders/7?x=1", gw.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(r.headers(), "x-user"), "alice");
    // The sub-request's method is the original's: POST is not covered by the GET rule.
    let r = client
        .post(format!("{}/auth/envoy/orders/7", gw.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = client
        .get(format!("{}/auth/envoy/orders/7", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(challenge(r.headers()), "Bearer");
    // Another kind's headers, and ambiguous paths (sent as they are), are 400.
    let bearer = format!("Bearer {token}");
    for (path, extra) in [
        ("/health", Some(("x-original-uri", "/orders/7"))),
        ("/health", Some(("x-forwarded-method", "GET"))),
        ("/health/..%2Forders/7", None),
        ("/health/%2E%2E/orders/7", None),
        ("/health/../orders/7", None),
        ("//orders/7", None),
    ] {
        let mut headers = vec![("authorization", bearer.as_str())];
        headers.extend(extra);
        let target = format!("/auth/envoy{path}");
        let (status, _) = raw_request(&gw.addr, "GET", &target, &headers).await;
        assert_eq!(status, 400, "{path} {extra:?}");
    }
}

#[tokio::test]
async fn refusals_are_logged_at_debug_with_their_reason_never_the_token() {
    let idp = TestIssuer::start().await;
    let config = gateway_config("", &idp.issuer(), GATEWAY);
    let quiet = GatewayProcess::start(&config, &[]).await;
    let verbose = GatewayProcess::start(&config, &[("RUST_LOG", "portcullis=debug")]).await;
    let forged = tamper::flip_signature_bit(&idp.token().scope("orders.read").sign());
    for gw in [&quiet, &verbose] {
        let r = forward(gw, "GET", "/orders/7", Some(&forged)).await;
        assert_eq!(r.status(), 401);
        let r = forward(gw, "GET", "/health/..%2Fadmin", Some(&forged)).await;
        assert_eq!(r.status(), 400);
    }
    let quiet = quiet.stop().await;
    let verbose = verbose.stop().await;
    // By default: the start line, no refusal, nothing of hyper's.
    assert!(quiet.contains("gateway listening"), "{quiet}");
    assert!(!quiet.contains("request refused"), "{quiet}");
    assert!(!quiet.contains("DEBUG"), "{quiet}");
    // At debug: one line per refusal with its reason.
    let refused: Vec<&str> = verbose.lines().filter(|l| l.contains("refused")).collect();
    assert_eq!(refused.len(), 2, "{verbose}");
    assert!(
        refused[0].contains("reason=\"invalid_signature\""),
        "{verbose}"
    );
    assert!(
        refused[1].contains("reason=\"encoded_separator\""),
        "{verbose}"
    );
    assert!(refused[1].contains("endpoint=\"forward\""), "{verbose}");
    for logs in [&quiet, &verbose] {
        assert!(!logs.contains(&forged), "{logs}");
        let signature = forged.rsplit('.').next().unwrap();
        assert!(!logs.contains(signature), "{logs}");
    }
}

#[tokio::test]
async fn check_validates_a_configuration_without_the_network() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    // An issuer nobody listens on: --check fetches nothing.
    let issuer = format!("http://127.0.0.1:{}", common::closed_port());
    let good = write("good.toml", &gateway_config("", &issuer, GATEWAY));
    let out = run(&["gateway", "--config", &good, "--check"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("OK (4 routes, 4 claim headers"),
        "{out:?}"
    );
    // The manual's example is a configuration that checks, as the manual says it prints.
    let manual = include_str!("../../../docs/manual/gateway.md");
    let example = manual
        .split("```toml\n")
        .find(|block| block.starts_with("[[issuers]]"))
        .and_then(|block| block.split("```").next())
        .expect("the manual shows a configuration");
    let shown = write("manual.toml", example);
    let out = run(&["gateway", "--config", &shown, "--check"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        manual.contains(
            out.stdout
                .trim()
                .replace(&shown, "portcullis.toml")
                .as_str()
        ),
        "the manual shows another line than {out:?}"
    );

    for (name, text, needle) in [
        (
            "unknown.toml",
            gateway_config("", &issuer, &format!("{GATEWAY}\nlisten_on = \"x\"\n")),
            "unknown field `listen_on`",
        ),
        (
            "norules.toml",
            gateway_config("", &issuer, "[gateway]\n"),
            "no routes",
        ),
        (
            "hidden.toml",
            gateway_config(
                "",
                &issuer,
                "[gateway]\nroutes = [{ path = \"/**\", access = \"public\" }, { path = \"/a\", scopes = [\"x\"] }]\n",
            ),
            "earlier rule",
        ),
        (
            "header.toml",
            gateway_config(
                "",
                &issuer,
                "[gateway]\nroutes = [{ path = \"/a\", access = \"public\" }]\nclaim_headers = [{ claim = \"sub\", header = \"authorization\" }]\n",
            ),
            "another meaning",
        ),
        (
            "noaudience.toml",
            format!("[[issuers]]\nissuer = \"{issuer}\"\n{GATEWAY}"),
            "audience",
        ),
    ] {
        let path = write(name, &text);
        run(&["gateway", "--config", &path, "--check"])
            .await
            .assert_error(needle);
    }
}

#[tokio::test]
async fn a_one_line_start_from_flags_makes_the_same_decisions() {
    let idp = TestIssuer::start().await;
    let issuer = idp.issuer();
    let mut child = common::command()
        .args(["gateway", "--issuer", &issuer, "--audience", "api"])
        .args(["--listen", "127.0.0.1:0"])
        .args(["--route", "GET /orders/** orders.read"])
        .args(["--route", "* /health public"])
        .args(["--claim-header", "sub=x-user"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    use tokio::io::AsyncBufReadExt as _;
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let url = line.strip_prefix("listening on ").unwrap();
    let token = idp.token().subject("alice").scope("orders.read").sign();
    let client = reqwest::Client::new();
    let r = client
        .get(format!("{url}/auth/envoy/orders/1"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(r.headers(), "x-user"), "alice");
    let r = client
        .get(format!("{url}/auth/envoy/other"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = client
        .get(format!("{url}/auth/envoy/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    child.start_kill().unwrap();
    let _ = child.wait().await;
}

#[tokio::test]
async fn the_gateway_decides_as_the_in_process_layer_does() {
    use tower::ServiceExt as _;

    let idp = TestIssuer::start().await;
    let text = gateway_config("", &idp.issuer(), GATEWAY);
    let gw = GatewayProcess::start(&text, &[]).await;
    // The same file, built in process as a Rust service would build it.
    let mut config: portcullis::Config = toml::from_str(&text).unwrap();
    let section = config.gateway.take().unwrap();
    let layer = portcullis::Portcullis::from_config(config)
        .policy(section.policy().unwrap())
        .build()
        .await
        .unwrap();
    let app = axum::Router::new()
        .fallback(|| async { "upstream" })
        .layer(layer);

    let tokens = [
        None,
        Some(idp.token().scope("orders.read").sign()),
        Some(idp.token().scope("admin").sign()),
        Some(idp.token().scope("profile").sign()),
        Some(tamper::flip_signature_bit(
            &idp.token().scope("admin").sign(),
        )),
        Some(idp.token().scope("admin").expires_in(-600).sign()),
        Some(idp.token().scope("admin").audience("other-api").sign()),
        Some("not a token".to_owned()),
    ];
    let requests = [
        ("GET", "/orders/7"),
        ("HEAD", "/orders/7"),
        ("POST", "/orders/7"),
        ("GET", "/orders"),
        ("GET", "/admin"),
        ("PUT", "/admin/users/1"),
        ("GET", "/%61dmin/users"),
        ("GET", "/health"),
        ("GET", "/me"),
        ("DELETE", "/me"),
        ("GET", "/elsewhere"),
        ("GET", "/"),
    ];
    let mut compared = 0;
    for (method, path) in requests {
        for token in &tokens {
            let mut local = http::Request::builder().method(method).uri(path);
            if let Some(t) = token {
                local = local.header("authorization", format!("Bearer {t}"));
            }
            let local = app
                .clone()
                .oneshot(local.body(axum::body::Body::empty()).unwrap())
                .await
                .unwrap();
            let remote = forward(&gw, method, path, token.as_deref()).await;
            let what = format!("{method} {path} with {token:?}");
            assert_eq!(remote.status().as_u16(), local.status().as_u16(), "{what}");
            let all = |h: &HeaderMap| -> Vec<String> {
                h.get_all("www-authenticate")
                    .iter()
                    .map(|v| v.to_str().unwrap().to_owned())
                    .collect()
            };
            assert_eq!(all(remote.headers()), all(local.headers()), "{what}");
            assert_eq!(
                remote.headers().contains_key("retry-after"),
                local.headers().contains_key("retry-after"),
                "{what}"
            );
            compared += 1;
        }
    }
    assert_eq!(compared, requests.len() * tokens.len());
}

#[tokio::test]
async fn dpop_proofs_are_checked_against_the_configured_origin_and_the_canonical_path() {
    use portcullis_testkit::{Algorithm, DpopClient};

    let idp = TestIssuer::start().await;
    let top = "public_origin = \"https://api.example.com\"\n[dpop]\n";
    let gw = GatewayProcess::start(&gateway_config(top, &idp.issuer(), GATEWAY), &[]).await;
    let client = DpopClient::new(Algorithm::ES256);
    let token = client
        .bind(idp.token().subject("alice").scope("orders.read"))
        .sign();
    let send = |uri: &str, proof: Option<String>, host: &str| {
        let mut req = reqwest::Client::new()
            .get(format!("{}/auth/forward", gw.url))
            .header("x-forwarded-method", "GET")
            .header("x-forwarded-uri", uri)
            .header("x-forwarded-host", host)
            .header("authorization", format!("DPoP {token}"));
        if let Some(proof) = proof {
            req = req.header("dpop", proof);
        }
        req.send()
    };
    let proof = |url: &str| Some(client.proof("GET", url).token(&token).sign());
    // A proof for the public URI passes, whatever Host the proxy saw.
    let r = send(
        "/orders/7?x=1",
        proof("https://api.example.com/orders/7"),
        "evil.example",
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(r.headers(), "x-user"), "alice");
    // `%6Frders` is `orders`: the proof names the path the upstream routes.
    let r = send(
        "/%6Frders/7",
        proof("https://api.example.com/orders/7"),
        "api.example.com",
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    // A proof for another origin (the one in X-Forwarded-Host) or path is refused.
    for url in [
        "https://evil.example/orders/7",
        "https://api.example.com/orders/8",
    ] {
        let r = send("/orders/7", proof(url), "evil.example").await.unwrap();
        assert_eq!(r.status(), 401, "{url}");
        // Two challenges: `Bearer`, and `DPoP` with the error.
        let challenges: Vec<&str> = r
            .headers()
            .get_all("www-authenticate")
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert!(
            challenges
                .iter()
                .any(|c| c.starts_with("DPoP ") && c.contains(r#"error="invalid_dpop_proof""#)),
            "{url}: {challenges:?}"
        );
    }
    // Without a proof, the bound token is refused.
    let r = send("/orders/7", None, "api.example.com").await.unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn a_route_with_a_step_up_answers_the_step_up_challenge() {
    let idp = TestIssuer::start().await;
    let section = r#"
[gateway]
routes = [
  { method = "POST", path = "/payouts", scopes = ["payouts"], acr_values = ["mfa", "hwk"], max_age_secs = 300 },
]
"#;
    let gw = GatewayProcess::start(&gateway_config("", &idp.issuer(), section), &[]).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let login = |acr: &str, ago: u64, scope: &str| {
        idp.token()
            .scope(scope)
            .claim("acr", json!(acr))
            .claim("auth_time", json!(now - ago))
            .sign()
    };
    let strong = forward(&gw, "POST", "/payouts", Some(&login("hwk", 5, "payouts"))).await;
    assert_eq!(strong.status(), 200);
    let step_up =
        r#"Bearer error="insufficient_user_authentication", acr_values="mfa hwk", max_age="300""#;
    for weak in [login("pwd", 5, "payouts"), login("mfa", 3600, "payouts")] {
        let refused = forward(&gw, "POST", "/payouts", Some(&weak)).await;
        assert_eq!(refused.status(), 401);
        assert_eq!(challenge(refused.headers()), step_up);
    }
    let no_scope = forward(&gw, "POST", "/payouts", Some(&login("mfa", 5, "other"))).await;
    assert_eq!(no_scope.status(), 403);
}

#[tokio::test]
async fn routes_with_roles_and_claim_rules_refuse_without_naming_them() {
    let idp = TestIssuer::start().await;
    let section = r#"
[gateway]
routes = [
  { method = "POST", path = "/deploys", scopes = ["deploy"], roles = ["deployer"], claims = { all_of = [{ claim = "repository", equals = "octo-org/app" }, { claim = "environment", one_of = ["production", "staging"] }] } },
  { method = "GET", path = "/audit", roles = ["auditor"] },
]
"#;
    let gw = GatewayProcess::start(&gateway_config("", &idp.issuer(), section), &[]).await;
    let token = |scope: &str, roles: &[&str], repository: &str, environment: &str| {
        idp.token()
            .scope(scope)
            .claim("roles", json!(roles))
            .claim("repository", json!(repository))
            .claim("environment", json!(environment))
            .sign()
    };
    let good = token("deploy", &["deployer"], "octo-org/app", "staging");
    assert_eq!(
        forward(&gw, "POST", "/deploys", Some(&good)).await.status(),
        200
    );
    for (what, refused) in [
        (
            "no role",
            token("deploy", &["viewer"], "octo-org/app", "staging"),
        ),
        (
            "another repository",
            token("deploy", &["deployer"], "octo-org/fork", "staging"),
        ),
        (
            "another environment",
            token("deploy", &["deployer"], "octo-org/app", "dev"),
        ),
    ] {
        let r = forward(&gw, "POST", "/deploys", Some(&refused)).await;
        assert_eq!(r.status(), 403, "{what}");
        assert_eq!(
            challenge(r.headers()),
            r#"Bearer error="insufficient_scope""#,
            "{what}"
        );
    }
    let no_scope = forward(
        &gw,
        "POST",
        "/deploys",
        Some(&token("read", &["deployer"], "octo-org/app", "staging")),
    )
    .await;
    assert_eq!(no_scope.status(), 403);
    assert_eq!(
        challenge(no_scope.headers()),
        r#"Bearer error="insufficient_scope", scope="deploy""#
    );
    // Roles alone: any valid token holding them, whatever its scopes.
    let auditor = token("", &["auditor"], "", "");
    assert_eq!(
        forward(&gw, "GET", "/audit", Some(&auditor)).await.status(),
        200
    );
    assert_eq!(
        forward(&gw, "GET", "/audit", Some(&good)).await.status(),
        403
    );
}

#[tokio::test]
async fn the_scope_header_holds_the_granted_scopes_whichever_claim_carries_them() {
    let idp = TestIssuer::start().await;
    let gw = gateway(&idp).await;
    // `scp` as a list (Okta, Entra) grants the same as `scope` as a string.
    let token = idp
        .token()
        .remove_claim("scope")
        .claim("scp", json!(["orders.read", "orders.extra"]))
        .sign();
    let r = forward(&gw, "GET", "/orders/7", Some(&token)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(r.headers(), "x-scope"), "orders.read orders.extra");
}
