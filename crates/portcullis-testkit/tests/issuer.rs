//! The test issuer over real loopback HTTP: discovery, JWKS, validators, faults, token endpoint.

// The helpers below are test code too (clippy only exempts `#[test]` functions themselves).
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use std::time::{Duration, Instant};

use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use base64::Engine as _;
use portcullis_testkit::{Algorithm, JwksFault, TestIssuer, TestKey, tamper};
use reqwest::StatusCode;
use reqwest::header::{
    CACHE_CONTROL, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED, LOCATION,
    WWW_AUTHENTICATE,
};
use serde_json::{Value, json};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn get_json(url: &str) -> Value {
    let response = client().get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "GET {url}");
    response.json().await.unwrap()
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

fn b64(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .unwrap()
}

/// Verifies a compact JWS against a JWK taken from a served JWKS, with aws-lc-rs directly.
fn verify_with_jwk(token: &str, jwk: &Value) -> bool {
    let (input, sig) = token.rsplit_once('.').unwrap();
    let sig = b64(sig);
    let member = |name: &str| b64(jwk[name].as_str().unwrap());
    let alg = Algorithm::from_jose(jwk["alg"].as_str().unwrap()).unwrap();
    let verification: &'static dyn VerificationAlgorithm = match alg {
        Algorithm::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
        Algorithm::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
        Algorithm::ES512 => &signature::ECDSA_P521_SHA512_FIXED,
        Algorithm::EdDSA => &signature::ED25519,
        other => panic!("this test helper does not verify {other}"),
    };
    let public = match jwk["kty"].as_str().unwrap() {
        "RSA" => {
            use aws_lc_rs::encoding::AsDer as _;
            let (n, e) = (member("n"), member("e"));
            signature::RsaPublicKeyComponents {
                n: &n[..],
                e: &e[..],
            }
            .as_der()
            .unwrap()
            .as_ref()
            .to_vec()
        }
        "EC" => [vec![4], member("x"), member("y")].concat(),
        "OKP" => member("x"),
        other => panic!("unexpected kty {other}"),
    };
    UnparsedPublicKey::new(verification, public)
        .verify(input.as_bytes(), &sig)
        .is_ok()
}

fn jwk_for<'a>(jwks: &'a Value, kid: &str) -> &'a Value {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid)
        .unwrap_or_else(|| panic!("kid {kid} is not in the JWKS"))
}

#[tokio::test]
async fn discovery_documents_name_the_issuer_and_its_endpoints() {
    let issuer = TestIssuer::start().await;
    assert_eq!(issuer.issuer(), format!("http://{}", issuer.addr()));

    for url in [issuer.discovery_url(), issuer.oauth_metadata_url()] {
        let doc = get_json(&url).await;
        assert_eq!(doc["issuer"], issuer.issuer().as_str());
        assert_eq!(doc["jwks_uri"], issuer.jwks_url().as_str());
        assert_eq!(doc["token_endpoint"], issuer.token_url().as_str());
        assert_eq!(doc["grant_types_supported"], json!(["client_credentials"]));
        assert_eq!(
            doc["token_endpoint_auth_methods_supported"],
            json!(["client_secret_basic", "client_secret_post"])
        );
        assert_eq!(
            doc["id_token_signing_alg_values_supported"],
            json!(["RS256"])
        );
        assert!(doc["response_types_supported"].is_array());
    }
    assert_eq!(
        issuer.oauth_metadata_url(),
        format!("{}/.well-known/oauth-authorization-server", issuer.issuer())
    );
    assert_eq!(issuer.discovery_fetches(), 2);
    assert_eq!(issuer.jwks_fetches(), 0);
}

#[tokio::test]
async fn an_issuer_with_a_path_serves_discovery_at_both_standard_locations() {
    let issuer = TestIssuer::builder().path("/tenant-a").start().await;
    let base = format!("http://{}", issuer.addr());
    assert_eq!(issuer.issuer(), format!("{base}/tenant-a"));

    let oidc = get_json(&format!("{base}/tenant-a/.well-known/openid-configuration")).await;
    let rfc8414 = get_json(&format!(
        "{base}/.well-known/oauth-authorization-server/tenant-a"
    ))
    .await;
    assert_eq!(oidc, rfc8414);
    assert_eq!(oidc["issuer"], issuer.issuer().as_str());
    assert_eq!(
        oidc["jwks_uri"],
        format!("{base}/tenant-a/jwks.json").as_str()
    );

    // Locations that a correct client never uses are not served.
    for wrong in [
        format!("{base}/.well-known/openid-configuration"),
        format!("{base}/tenant-a/.well-known/oauth-authorization-server"),
        format!("{base}/jwks.json"),
    ] {
        let status = client().get(&wrong).send().await.unwrap().status();
        assert_eq!(status, StatusCode::NOT_FOUND, "{wrong}");
    }
    assert_eq!(kids(&get_json(&issuer.jwks_url()).await), ["rsa-1"]);
}

#[tokio::test]
async fn the_discovery_issuer_can_be_made_to_mismatch() {
    let issuer = TestIssuer::start().await;
    issuer.set_discovery_issuer(Some("https://evil.test".into()));
    let doc = get_json(&issuer.discovery_url()).await;
    assert_eq!(doc["issuer"], "https://evil.test");
    assert_eq!(doc["jwks_uri"], issuer.jwks_url().as_str());

    issuer.set_discovery_issuer(None);
    let doc = get_json(&issuer.oauth_metadata_url()).await;
    assert_eq!(doc["issuer"], issuer.issuer().as_str());
}

#[tokio::test]
async fn the_jwks_follows_rotation_publication_and_retirement() {
    let issuer = TestIssuer::start().await;
    let first = issuer.signing_key();
    assert_eq!(first.kid(), "rsa-1");
    assert_eq!(first.alg(), Algorithm::RS256);
    assert_eq!(kids(&get_json(&issuer.jwks_url()).await), ["rsa-1"]);

    let second = issuer.rotate(Algorithm::ES256);
    assert_eq!(issuer.signing_key().kid(), second.kid());
    let served = get_json(&issuer.jwks_url()).await;
    assert_eq!(kids(&served), ["rsa-1", second.kid()]);
    assert_eq!(served, issuer.jwks_json());

    let extra = TestKey::generate(Algorithm::EdDSA).with_kid("ed-1");
    issuer.publish(extra.clone());
    assert_eq!(
        issuer.signing_key().kid(),
        second.kid(),
        "publish does not change the signer"
    );
    issuer.retire("rsa-1");
    let served = get_json(&issuer.jwks_url()).await;
    assert_eq!(kids(&served), [second.kid(), "ed-1"]);
    assert_eq!(jwk_for(&served, "ed-1"), &extra.public_jwk());

    // Tokens from issuer.token() are signed by the rotated key and verify against the JWKS.
    let token = issuer.token().sign();
    let (header, payload, _) = tamper::parts(&token);
    let header: Value = serde_json::from_str(&header).unwrap();
    let claims: Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(header["kid"], second.kid());
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(claims["iss"], issuer.issuer().as_str());
    assert_eq!(claims["aud"], "api");
    assert!(verify_with_jwk(&token, jwk_for(&served, second.kid())));
    assert!(!verify_with_jwk(
        &tamper::flip_signature_bit(&token),
        jwk_for(&served, second.kid())
    ));
    assert_eq!(issuer.jwks_fetches(), 3);
}

#[tokio::test]
async fn builder_keys_audience_and_lifetime_shape_the_issued_tokens() {
    let es512 = TestKey::generate(Algorithm::ES512).with_kid("p521");
    let ps384 = TestKey::generate(Algorithm::PS384).with_kid("pss");
    let issuer = TestIssuer::builder()
        .key(es512.clone())
        .key(ps384)
        .audience("orders")
        .token_lifetime(60)
        .start()
        .await;
    assert_eq!(issuer.signing_key().kid(), "p521");
    let jwks = get_json(&issuer.jwks_url()).await;
    assert_eq!(kids(&jwks), ["p521", "pss"]);

    let token = issuer.token().now(10_000).sign();
    let claims: Value = serde_json::from_str(&tamper::parts(&token).1).unwrap();
    assert_eq!(claims["aud"], "orders");
    assert_eq!(claims["exp"], 10_060);
    assert!(verify_with_jwk(&token, jwk_for(&jwks, "p521")));
    assert!(!verify_with_jwk(&token, jwk_for(&jwks, "pss")));

    let discovery = get_json(&issuer.discovery_url()).await;
    assert_eq!(
        discovery["id_token_signing_alg_values_supported"],
        json!(["ES512", "PS384"])
    );
}

#[tokio::test]
async fn hmac_keys_stay_out_of_the_jwks_unless_published_on_purpose() {
    let hs = TestKey::hmac(Algorithm::HS256, b"0123456789abcdef0123456789abcdef").with_kid("hs");
    let issuer = TestIssuer::builder().key(hs.clone()).start().await;
    assert_eq!(get_json(&issuer.jwks_url()).await, json!({ "keys": [] }));
    assert_eq!(issuer.signing_key().secret(), hs.secret());

    let open = TestIssuer::builder()
        .key(hs.clone())
        .publish_symmetric(true)
        .start()
        .await;
    let jwks = get_json(&open.jwks_url()).await;
    assert_eq!(jwks["keys"][0]["kty"], "oct");
    assert_eq!(
        jwks["keys"][0]["k"],
        portcullis_testkit::b64url(hs.secret().unwrap())
    );
}

#[tokio::test]
async fn a_matching_etag_is_answered_304_and_counted() {
    let issuer = TestIssuer::start().await;
    let first = client().get(issuer.jwks_url()).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(first.headers()[CACHE_CONTROL], "max-age=300");
    let etag = first.headers()[ETAG].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"') && !etag.starts_with("W/"));
    let last_modified = first.headers()[LAST_MODIFIED].to_str().unwrap().to_owned();

    let again = client()
        .get(issuer.jwks_url())
        .header(IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(again.headers()[ETAG], etag.as_str());
    assert_eq!(again.headers()[CACHE_CONTROL], "max-age=300");
    assert!(again.bytes().await.unwrap().is_empty());

    let by_date = client()
        .get(issuer.jwks_url())
        .header(IF_MODIFIED_SINCE, &last_modified)
        .send()
        .await
        .unwrap();
    assert_eq!(by_date.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(issuer.jwks_not_modified(), 2);

    // After a rotation the old validators no longer match, even within the same second.
    issuer.rotate(Algorithm::EdDSA);
    for (name, value) in [(IF_NONE_MATCH, &etag), (IF_MODIFIED_SINCE, &last_modified)] {
        let changed = client()
            .get(issuer.jwks_url())
            .header(name.clone(), value)
            .send()
            .await
            .unwrap();
        assert_eq!(changed.status(), StatusCode::OK, "{name}");
        assert_ne!(changed.headers()[ETAG], etag.as_str());
        assert_ne!(changed.headers()[LAST_MODIFIED], last_modified.as_str());
    }
    assert_eq!(issuer.jwks_not_modified(), 2);
    assert_eq!(issuer.jwks_fetches(), 5);
}

#[tokio::test]
async fn validators_and_cache_control_can_be_turned_off() {
    let issuer = TestIssuer::start().await;
    let etag = client()
        .get(issuer.jwks_url())
        .send()
        .await
        .unwrap()
        .headers()[ETAG]
        .clone();

    issuer.set_etag_enabled(false);
    issuer.set_cache_control(None);
    let response = client()
        .get(issuer.jwks_url())
        .header(IF_NONE_MATCH, etag)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get(ETAG).is_none());
    assert!(response.headers().get(LAST_MODIFIED).is_none());
    assert!(response.headers().get(CACHE_CONTROL).is_none());
    assert_eq!(issuer.jwks_not_modified(), 0);

    issuer.set_cache_control(Some("no-cache".into()));
    let response = client().get(issuer.jwks_url()).send().await.unwrap();
    assert_eq!(response.headers()[CACHE_CONTROL], "no-cache");
}

#[tokio::test]
async fn an_override_document_is_served_verbatim() {
    let issuer = TestIssuer::start().await;
    let odd =
        json!({ "keys": [{ "kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB" }] });
    issuer.set_jwks_override(Some(odd.clone()));
    assert_eq!(issuer.jwks_json(), odd);
    assert_eq!(get_json(&issuer.jwks_url()).await, odd);
    issuer.set_jwks_override(None);
    assert_eq!(kids(&get_json(&issuer.jwks_url()).await), ["rsa-1"]);
}

#[tokio::test]
async fn status_garbage_redirect_and_empty_faults_answer_as_told() {
    let issuer = TestIssuer::start().await;
    let http = client();

    issuer.set_fault(Some(JwksFault::Status(503)));
    let response = http.get(issuer.jwks_url()).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    // Faults touch the JWKS endpoint only.
    get_json(&issuer.discovery_url()).await;

    issuer.set_fault(Some(JwksFault::Garbage));
    let response = http.get(issuer.jwks_url()).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.bytes().await.unwrap();
    assert!(serde_json::from_slice::<Value>(&body).is_err());

    issuer.set_fault(Some(JwksFault::RedirectTo(
        "http://elsewhere.test/jwks.json".into(),
    )));
    let response = http.get(issuer.jwks_url()).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(
        response.headers()[LOCATION],
        "http://elsewhere.test/jwks.json"
    );

    issuer.set_fault(Some(JwksFault::EmptyKeys));
    assert_eq!(get_json(&issuer.jwks_url()).await, json!({ "keys": [] }));

    issuer.set_fault(None);
    assert_eq!(kids(&get_json(&issuer.jwks_url()).await), ["rsa-1"]);
    assert_eq!(issuer.jwks_fetches(), 5);
    assert_eq!(issuer.discovery_fetches(), 1);
}

#[tokio::test]
async fn an_oversize_fault_pads_the_real_document_to_the_exact_size() {
    let issuer = TestIssuer::start().await;
    issuer.set_fault(Some(JwksFault::Oversize(2 * 1024 * 1024)));
    let response = client().get(issuer.jwks_url()).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.bytes().await.unwrap();
    assert_eq!(body.len(), 2 * 1024 * 1024);
    let doc: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(doc["keys"][0]["kid"], "rsa-1");
}

#[tokio::test]
async fn a_delay_fault_answers_normally_but_late() {
    let issuer = TestIssuer::start().await;
    issuer.set_fault(Some(JwksFault::Delay(Duration::from_millis(200))));
    let started = Instant::now();
    let jwks = get_json(&issuer.jwks_url()).await;
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(kids(&jwks), ["rsa-1"]);
    assert_eq!(issuer.jwks_fetches(), 1);
}

#[tokio::test]
async fn a_hang_fault_never_answers_and_the_endpoint_recovers() {
    let issuer = TestIssuer::start().await;
    issuer.set_fault(Some(JwksFault::Hang));
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let error = impatient.get(issuer.jwks_url()).send().await.unwrap_err();
    assert!(error.is_timeout(), "{error}");
    assert_eq!(issuer.jwks_fetches(), 1);

    issuer.set_fault(None);
    assert_eq!(kids(&get_json(&issuer.jwks_url()).await), ["rsa-1"]);
    assert_eq!(issuer.jwks_fetches(), 2);
}

#[tokio::test]
async fn dropping_the_issuer_releases_hung_requests_and_stops_the_server() {
    let issuer = TestIssuer::start().await;
    let addr = issuer.addr();
    issuer.set_fault(Some(JwksFault::Hang));
    let pending = tokio::spawn(client().get(issuer.jwks_url()).send());
    // Wait (by yielding, not sleeping) until the server holds the request.
    tokio::time::timeout(Duration::from_secs(10), async {
        while issuer.jwks_fetches() == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap();

    let clone = issuer.clone();
    drop(issuer);
    assert!(!pending.is_finished(), "a clone keeps the server alive");
    clone.shutdown().await;

    let response = tokio::time::timeout(Duration::from_secs(10), pending)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn the_token_endpoint_issues_rfc_9068_tokens_to_known_clients() {
    let issuer = TestIssuer::builder()
        .client("svc", "s3cret")
        .audience("orders")
        .token_lifetime(120)
        .start()
        .await;
    let response = client()
        .post(issuer.token_url())
        .basic_auth("svc", Some("s3cret"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&scope=orders%3Aread")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 120);
    assert_eq!(body["scope"], "orders:read");

    let token = body["access_token"].as_str().unwrap();
    let (header, payload, _) = tamper::parts(token);
    let header: Value = serde_json::from_str(&header).unwrap();
    let claims: Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["kid"], "rsa-1");
    assert_eq!(claims["iss"], issuer.issuer().as_str());
    assert_eq!(claims["sub"], "svc");
    assert_eq!(claims["client_id"], "svc");
    assert_eq!(claims["aud"], "orders");
    assert_eq!(claims["scope"], "orders:read");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        120
    );
    assert!(claims["jti"].is_string());
    let jwks = get_json(&issuer.jwks_url()).await;
    assert!(verify_with_jwk(token, jwk_for(&jwks, "rsa-1")));
}

#[tokio::test]
async fn the_token_endpoint_takes_credentials_in_the_form_and_defaults_the_scope() {
    let issuer = TestIssuer::start().await;
    let response = client()
        .post(issuer.token_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&client_id=client-1&client_secret=secret-1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["scope"], "read write");
    assert_eq!(body["expires_in"], 300);
    assert_eq!(issuer.token_requests(), 1);
}

#[tokio::test]
async fn the_token_endpoint_refuses_bad_clients_and_grants() {
    let issuer = TestIssuer::start().await;
    let post = |body: &'static str, secret: Option<&'static str>| {
        let mut request = client()
            .post(issuer.token_url())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(secret) = secret {
            request = request.basic_auth("client-1", Some(secret));
        }
        request.send()
    };

    let wrong = post("grant_type=client_credentials", Some("nope"))
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.headers().contains_key(WWW_AUTHENTICATE));
    assert_eq!(
        wrong.json::<Value>().await.unwrap(),
        json!({"error": "invalid_client"})
    );

    let anonymous = post("grant_type=client_credentials", None).await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    let form_wrong = post(
        "grant_type=client_credentials&client_id=client-1&client_secret=bad",
        None,
    )
    .await
    .unwrap();
    assert_eq!(form_wrong.status(), StatusCode::UNAUTHORIZED);

    let grant = post(
        "grant_type=password&username=u&password=p",
        Some("secret-1"),
    )
    .await
    .unwrap();
    assert_eq!(grant.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        grant.json::<Value>().await.unwrap(),
        json!({"error": "unsupported_grant_type"})
    );

    let missing = post("scope=read", Some("secret-1")).await.unwrap();
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        missing.json::<Value>().await.unwrap(),
        json!({"error": "invalid_request"})
    );

    assert_eq!(issuer.token_requests(), 5);
    assert_eq!(issuer.jwks_fetches(), 0);
}

#[tokio::test]
async fn listen_binds_the_given_address_and_try_start_reports_a_taken_one() {
    let issuer = TestIssuer::builder()
        .listen("127.0.0.1:0".parse().unwrap())
        .try_start()
        .await
        .unwrap();
    assert!(issuer.addr().ip().is_loopback());
    assert_ne!(issuer.addr().port(), 0);
    assert_eq!(issuer.issuer(), format!("http://{}", issuer.addr()));
    let doc = get_json(&issuer.discovery_url()).await;
    assert_eq!(doc["issuer"], issuer.issuer());

    // The same address again is taken: an error, not a panic.
    let taken = TestIssuer::builder()
        .listen(issuer.addr())
        .try_start()
        .await
        .unwrap_err();
    assert_eq!(taken.kind(), std::io::ErrorKind::AddrInUse);
}
