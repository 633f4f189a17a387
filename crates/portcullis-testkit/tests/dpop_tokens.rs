//! The test issuer's token endpoint and DPoP (RFC 9449 section 5), over real loopback HTTP:
//! a good proof binds the token to its key, every bad one is refused with
//! `invalid_dpop_proof`, no proof still gives a bearer token, and browsers on another origin
//! may call it (CORS).

// The helpers below are test code too (clippy only exempts `#[test]` functions themselves).
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use std::time::Duration;

use aws_lc_rs::digest;
use portcullis_testkit::{Algorithm, DpopClient, TestIssuer, TestKey, b64url, tamper};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// A `client_credentials` request from `client-1` with these `DPoP` headers.
async fn token_request(idp: &TestIssuer, proofs: &[&str]) -> reqwest::Response {
    let mut request = client()
        .post(idp.token_url())
        .basic_auth("client-1", Some("secret-1"))
        .form(&[("grant_type", "client_credentials"), ("scope", "read")]);
    for proof in proofs {
        request = request.header("DPoP", *proof);
    }
    request.send().await.unwrap()
}

fn claims_of(token: &str) -> Value {
    serde_json::from_str(&tamper::parts(token).1).unwrap()
}

/// The RFC 7638 thumbprint of a P-256 key, computed here from its JWK by the RFC's recipe.
fn ec_thumbprint(jwk: &Value) -> String {
    let canonical = format!(
        r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
        jwk["crv"].as_str().unwrap(),
        jwk["x"].as_str().unwrap(),
        jwk["y"].as_str().unwrap()
    );
    b64url(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref())
}

#[tokio::test]
async fn a_token_request_with_a_good_proof_gets_a_token_bound_to_the_proof_key() {
    let idp = TestIssuer::start().await;
    for alg in [Algorithm::ES256, Algorithm::PS256, Algorithm::EdDSA] {
        let dpop = DpopClient::new(alg);
        let response = token_request(&idp, &[&dpop.proof("POST", &idp.token_url()).sign()]).await;
        assert_eq!(response.status(), StatusCode::OK, "{alg}");
        assert_eq!(response.headers()["cache-control"], "no-store");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["token_type"], "DPoP", "{alg}");
        assert_eq!(body["scope"], "read");
        let claims = claims_of(body["access_token"].as_str().unwrap());
        assert_eq!(claims["cnf"], json!({ "jkt": dpop.jkt() }), "{alg}");
        assert_eq!(claims["client_id"], "client-1");
    }
    // The thumbprint is the RFC's, not only the one the kit's client computes.
    let dpop = DpopClient::new(Algorithm::ES256);
    let body: Value = token_request(&idp, &[&dpop.proof("POST", &idp.token_url()).sign()])
        .await
        .json()
        .await
        .unwrap();
    let claims = claims_of(body["access_token"].as_str().unwrap());
    assert_eq!(claims["cnf"]["jkt"], ec_thumbprint(&dpop.jwk()));
}

#[tokio::test]
async fn a_token_request_without_a_proof_still_gets_a_bearer_token() {
    let idp = TestIssuer::start().await;
    let body: Value = token_request(&idp, &[]).await.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    let claims = claims_of(body["access_token"].as_str().unwrap());
    assert!(claims.get("cnf").is_none(), "{claims}");
}

#[tokio::test]
async fn each_bad_proof_is_refused_with_400_invalid_dpop_proof_and_no_token() {
    let idp = TestIssuer::start().await;
    let dpop = DpopClient::new(Algorithm::ES256);
    let url = idp.token_url();
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap();
    let mut private_jwk = dpop.jwk();
    private_jwk["d"] = json!("AAAA");
    let used = dpop.proof("POST", &url).sign();
    assert_eq!(token_request(&idp, &[&used]).await.status(), StatusCode::OK);
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("not a JWS", vec!["not-a-proof".into()]),
        (
            "typ is not dpop+jwt",
            vec![dpop.proof("POST", &url).header("typ", json!("JWT")).sign()],
        ),
        (
            "an HMAC proof",
            vec![DpopClient::new(Algorithm::HS256).proof("POST", &url).sign()],
        ),
        (
            "a private jwk",
            vec![dpop.proof("POST", &url).header("jwk", private_jwk).sign()],
        ),
        (
            "signed by another key than its jwk",
            vec![
                dpop.proof("POST", &url)
                    .signed_by(&TestKey::generate(Algorithm::ES256))
                    .sign(),
            ],
        ),
        ("htm GET", vec![dpop.proof("GET", &url).sign()]),
        (
            "htu of another endpoint",
            vec![dpop.proof("POST", &idp.jwks_url()).sign()],
        ),
        (
            "iat two minutes ago",
            vec![dpop.proof("POST", &url).issued_at(now - 120).sign()],
        ),
        (
            "no jti",
            vec![dpop.proof("POST", &url).remove_claim("jti").sign()],
        ),
        (
            "two DPoP headers",
            vec![
                dpop.proof("POST", &url).sign(),
                dpop.proof("POST", &url).sign(),
            ],
        ),
        ("a replayed proof", vec![used]),
    ];
    for (what, proofs) in cases {
        let proofs: Vec<&str> = proofs.iter().map(String::as_str).collect();
        let response = token_request(&idp, &proofs).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{what}");
        assert_eq!(response.headers()["cache-control"], "no-store", "{what}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_dpop_proof", "{what}: {body}");
        assert!(body["error_description"].is_string(), "{what}: {body}");
        assert!(body.get("access_token").is_none(), "{what}");
    }
}

#[tokio::test]
async fn the_proof_is_checked_after_the_client_is_authenticated() {
    let idp = TestIssuer::start().await;
    let response = client()
        .post(idp.token_url())
        .basic_auth("client-1", Some("wrong"))
        .header("DPoP", "not-a-proof")
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({ "error": "invalid_client" })
    );
}

#[tokio::test]
async fn an_issuer_under_a_path_wants_its_own_token_url_as_htu() {
    let idp = TestIssuer::builder().path("/tenant-a").start().await;
    let dpop = DpopClient::new(Algorithm::ES256);
    let root = format!("http://{}/token", idp.addr());
    let wrong = token_request(&idp, &[&dpop.proof("POST", &root).sign()]).await;
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    let right = token_request(&idp, &[&dpop.proof("POST", &idp.token_url()).sign()]).await;
    assert_eq!(right.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_opaque_dpop_token_introspects_as_dpop_with_its_thumbprint() {
    let idp = TestIssuer::builder().opaque_tokens(true).start().await;
    let dpop = DpopClient::new(Algorithm::EdDSA);
    let body: Value = token_request(&idp, &[&dpop.proof("POST", &idp.token_url()).sign()])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["token_type"], "DPoP");
    let token = body["access_token"].as_str().unwrap();
    let introspected: Value = client()
        .post(idp.introspection_url())
        .basic_auth("client-1", Some("secret-1"))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(introspected["active"], true);
    assert_eq!(introspected["token_type"], "DPoP");
    assert_eq!(introspected["cnf"], json!({ "jkt": dpop.jkt() }));

    let bearer: Value = token_request(&idp, &[]).await.json().await.unwrap();
    let introspected: Value = client()
        .post(idp.introspection_url())
        .basic_auth("client-1", Some("secret-1"))
        .form(&[("token", bearer["access_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(introspected["token_type"], "Bearer");
}

#[tokio::test]
async fn the_token_endpoint_answers_a_cors_preflight_and_browsers_may_read_its_answers() {
    let idp = TestIssuer::start().await;
    let preflight = client()
        .request(reqwest::Method::OPTIONS, idp.token_url())
        .header("origin", "http://127.0.0.1:9")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "dpop,content-type")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    let headers = preflight.headers();
    assert_eq!(headers["access-control-allow-origin"], "*");
    assert_eq!(headers["access-control-allow-methods"], "POST");
    let allowed: Vec<String> = headers["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .split(',')
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    for needed in ["dpop", "content-type", "authorization"] {
        assert!(allowed.iter().any(|h| h == needed), "{needed}: {allowed:?}");
    }

    // The answers themselves, issued or refused, are readable from another origin.
    let dpop = DpopClient::new(Algorithm::ES256);
    let issued = token_request(&idp, &[&dpop.proof("POST", &idp.token_url()).sign()]).await;
    assert_eq!(issued.status(), StatusCode::OK);
    assert_eq!(issued.headers()["access-control-allow-origin"], "*");
    let refused = token_request(&idp, &["garbage"]).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert_eq!(refused.headers()["access-control-allow-origin"], "*");
}

#[tokio::test]
async fn discovery_lists_the_proof_algorithms_the_token_endpoint_accepts() {
    let idp = TestIssuer::start().await;
    let doc: Value = client()
        .get(idp.discovery_url())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let algs = doc["dpop_signing_alg_values_supported"].as_array().unwrap();
    assert!(algs.contains(&json!("ES256")));
    assert!(algs.contains(&json!("EdDSA")));
    assert!(!algs.iter().any(|a| a.as_str().unwrap().starts_with("HS")));
}
