// Tests may unwrap, index and panic: a failure is the test's report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The layer over real HTTP: an axum API on 127.0.0.1:0, a testkit issuer, reqwest.

use axum::Router;
use axum::routing::get;
use http::{Method, Response};
use portcullis_core::{Algorithm, ScopeRequirement, Validator};
use portcullis_jwks::{JwtVerifier, RemoteJwks};
use portcullis_testkit::{JwksFault, TestIssuer, serve, tamper};
use portcullis_tower::axum::{GrantedScopes, Verified, VerifiedClaims};
use portcullis_tower::{Access, Answers, BearerAuthLayer, Policy, Rejection, TokenSources};
use serde::Deserialize;

const REALM: &str = "orders";

#[derive(Deserialize)]
struct MyClaims {
    sub: String,
}

async fn me(Verified(c): Verified<MyClaims>) -> String {
    c.sub
}

async fn who(claims: Option<VerifiedClaims>) -> String {
    match claims {
        Some(VerifiedClaims(c)) => c.subject().unwrap_or("?").to_owned(),
        None => "anonymous".to_owned(),
    }
}

async fn scopes(GrantedScopes(s): GrantedScopes) -> String {
    s.as_str().to_owned()
}

async fn layer_for(idp: &TestIssuer) -> BearerAuthLayer {
    let keys = RemoteJwks::builder(idp.jwks_url()).build().await.unwrap();
    let rules = Validator::builder()
        .issuer(idp.issuer())
        .audience("api")
        .build()
        .unwrap();
    BearerAuthLayer::new(JwtVerifier::new(keys, rules)).answers(Answers::default().realm(REALM))
}

/// The quickstart's API: `/health` public, `/me` any token, `/read`, `/write`, `/admin` scoped.
fn api(auth: &BearerAuthLayer) -> Router {
    let protected = Router::new()
        .route("/me", get(me))
        .merge(
            Router::new()
                .route("/read", get(scopes))
                .route_layer(auth.require_scopes(["read"])),
        )
        .merge(
            Router::new()
                .route("/write", get(scopes))
                .route_layer(auth.require_scopes(["write"])),
        )
        .merge(
            Router::new()
                .route("/admin", get(scopes))
                .route_layer(auth.require_scopes(["admin", "write"])),
        )
        .route_layer(auth.clone());
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .merge(protected)
}

struct Answer {
    status: u16,
    www_authenticate: Option<String>,
    cache_control: Option<String>,
    retry_after: Option<String>,
    body: String,
}

async fn get_with(url: &str, headers: &[(&str, &str)]) -> Answer {
    let mut req = reqwest::Client::new().get(url);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let res = req.send().await.unwrap();
    let header = |name: &str| {
        res.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    Answer {
        status: res.status().as_u16(),
        www_authenticate: header("www-authenticate"),
        cache_control: header("cache-control"),
        retry_after: header("retry-after"),
        body: res.text().await.unwrap(),
    }
}

async fn get_bearer(url: &str, token: &str) -> Answer {
    get_with(url, &[("authorization", &format!("Bearer {token}"))]).await
}

fn invalid_token() -> Option<String> {
    Some(format!(r#"Bearer realm="{REALM}", error="invalid_token""#))
}

#[tokio::test]
async fn a_good_token_reaches_the_handler_with_its_claims() {
    let idp = TestIssuer::start().await;
    let base = serve(api(&layer_for(&idp).await)).await;
    let a = get_bearer(&format!("{base}/me"), &idp.token().subject("alice").sign()).await;
    assert_eq!((a.status, a.body.as_str()), (200, "alice"));
    assert_eq!(a.www_authenticate, None);
}

#[tokio::test]
async fn no_token_is_401_with_a_challenge_and_no_error_code() {
    let idp = TestIssuer::start().await;
    let base = serve(api(&layer_for(&idp).await)).await;
    for headers in [vec![], vec![("authorization", "Basic dXNlcjpwYXNz")]] {
        let a = get_with(&format!("{base}/me"), &headers).await;
        assert_eq!(a.status, 401);
        assert_eq!(
            a.www_authenticate.as_deref(),
            Some(r#"Bearer realm="orders""#)
        );
        assert_eq!(a.cache_control.as_deref(), Some("no-store"));
        assert_eq!(a.body, "");
    }
}

#[tokio::test]
async fn every_invalid_token_is_401_invalid_token() {
    let idp = TestIssuer::start().await;
    let base = serve(api(&layer_for(&idp).await)).await;
    let good = idp.token().sign();
    let bad = [
        idp.token().expires_in(-3600).sign(),
        idp.token().audience("another-api").sign(),
        idp.token().issuer("https://evil.example").sign(),
        idp.token().header("typ", "JWT+id".into()).sign(),
        tamper::flip_signature_bit(&good),
        tamper::strip_signature(&good),
        format!(
            "{}.{}.",
            portcullis_testkit::b64url(br#"{"alg":"none"}"#),
            good.split('.').nth(1).unwrap()
        ),
        "abc".to_owned(),
        "a.b.c".to_owned(),
    ];
    for token in bad {
        let a = get_bearer(&format!("{base}/me"), &token).await;
        assert_eq!(a.status, 401, "{token}");
        assert_eq!(a.www_authenticate, invalid_token(), "{token}");
        assert_eq!(a.cache_control.as_deref(), Some("no-store"));
    }
}

#[tokio::test]
async fn the_scheme_is_case_insensitive() {
    let idp = TestIssuer::start().await;
    let base = serve(api(&layer_for(&idp).await)).await;
    let token = idp.token().subject("bob").sign();
    for scheme in ["bearer", "BEARER", "BeArEr"] {
        let a = get_with(
            &format!("{base}/me"),
            &[("authorization", &format!("{scheme} {token}"))],
        )
        .await;
        assert_eq!((a.status, a.body.as_str()), (200, "bob"), "{scheme}");
    }
}

#[tokio::test]
async fn two_credentials_or_bad_syntax_are_400_invalid_request() {
    let idp = TestIssuer::start().await;
    let auth = layer_for(&idp)
        .await
        .token_sources(TokenSources::default().danger_allow_query_parameter());
    let base = serve(api(&auth)).await;
    let token = idp.token().sign();
    let bearer = format!("Bearer {token}");
    let expected = Some(format!(
        r#"Bearer realm="{REALM}", error="invalid_request""#
    ));

    let two_headers = get_with(
        &format!("{base}/me"),
        &[("authorization", &bearer), ("authorization", &bearer)],
    )
    .await;
    assert_eq!(two_headers.status, 400);
    assert_eq!(two_headers.www_authenticate, expected);

    let header_and_query = get_with(
        &format!("{base}/me?access_token={token}"),
        &[("authorization", &bearer)],
    )
    .await;
    assert_eq!(header_and_query.status, 400);
    assert_eq!(header_and_query.www_authenticate, expected);

    for bad in ["Bearer", "Bearer a b", "Bearer \"quoted\"", "Bearer a,b"] {
        let a = get_with(&format!("{base}/me"), &[("authorization", bad)]).await;
        assert_eq!(a.status, 400, "{bad}");
        assert_eq!(a.www_authenticate, expected, "{bad}");
    }

    // The query parameter alone works when configured.
    let query = get_with(&format!("{base}/me?access_token={token}"), &[]).await;
    assert_eq!(query.status, 200);
}

#[tokio::test]
async fn route_scopes_answer_403_naming_the_requirement() {
    let idp = TestIssuer::start().await;
    let base = serve(api(&layer_for(&idp).await)).await;
    let read = idp.token().scope("read").sign();
    let a = get_bearer(&format!("{base}/read"), &read).await;
    assert_eq!((a.status, a.body.as_str()), (200, "read"));

    let a = get_bearer(&format!("{base}/write"), &read).await;
    assert_eq!(a.status, 403);
    assert_eq!(
        a.www_authenticate.as_deref(),
        Some(r#"Bearer realm="orders", error="insufficient_scope", scope="write""#)
    );
    assert_eq!(a.cache_control.as_deref(), Some("no-store"));

    let write = idp.token().scope("write read").sign();
    let a = get_bearer(&format!("{base}/admin"), &write).await;
    assert_eq!(a.status, 403);
    assert_eq!(
        a.www_authenticate.as_deref(),
        Some(r#"Bearer realm="orders", error="insufficient_scope", scope="admin write""#)
    );
    let admin = idp.token().scope("admin write").sign();
    assert_eq!(
        get_bearer(&format!("{base}/admin"), &admin).await.status,
        200
    );

    // A scope check still needs a valid token first: none is 401, not 403.
    assert_eq!(get_with(&format!("{base}/write"), &[]).await.status, 401);
}

#[tokio::test]
async fn one_layer_with_scopes_verifies_and_checks() {
    let idp = TestIssuer::start().await;
    let auth = layer_for(&idp).await;
    let app = Router::new()
        .route("/orders", get(scopes))
        .route_layer(auth.with_scopes(["read"]))
        .merge(
            Router::new()
                .route("/any", get(scopes))
                .route_layer(auth.with_requirement(ScopeRequirement::any_of(["a", "b"]))),
        )
        .merge(
            // Optional authentication does not make a scoped layer optional.
            Router::new()
                .route("/scoped-optional", get(who))
                .route_layer(auth.clone().optional().with_scopes(["read"])),
        );
    let base = serve(app).await;
    let read = idp.token().subject("ann").scope("read write").sign();
    let a = get_bearer(&format!("{base}/orders"), &read).await;
    assert_eq!((a.status, a.body.as_str()), (200, "read write"));

    let a = get_bearer(
        &format!("{base}/orders"),
        &idp.token().scope("write").sign(),
    )
    .await;
    assert_eq!(a.status, 403);
    assert_eq!(
        a.www_authenticate.as_deref(),
        Some(r#"Bearer realm="orders", error="insufficient_scope", scope="read""#)
    );
    let a = get_with(&format!("{base}/orders"), &[]).await;
    assert_eq!(a.status, 401);
    assert_eq!(
        a.www_authenticate.as_deref(),
        Some(r#"Bearer realm="orders""#)
    );
    let a = get_bearer(
        &format!("{base}/orders"),
        &idp.token().expires_in(-3600).sign(),
    )
    .await;
    assert_eq!((a.status, a.www_authenticate), (401, invalid_token()));

    assert_eq!(
        get_bearer(&format!("{base}/any"), &idp.token().scope("b").sign())
            .await
            .status,
        200
    );
    assert_eq!(get_bearer(&format!("{base}/any"), &read).await.status, 403);

    assert_eq!(
        get_with(&format!("{base}/scoped-optional"), &[])
            .await
            .status,
        401
    );
    let a = get_bearer(&format!("{base}/scoped-optional"), &read).await;
    assert_eq!((a.status, a.body.as_str()), (200, "ann"));
    // Unknown paths stay 404.
    assert_eq!(get_with(&format!("{base}/nope"), &[]).await.status, 404);
}

#[tokio::test]
async fn scopes_on_the_layer_and_a_policy_do_not_mix() {
    let idp = TestIssuer::start().await;
    let auth = layer_for(&idp).await;
    let policy = || Policy::authenticated_by_default().build().unwrap();
    let scoped = auth.with_scopes(["read"]);
    let with_policy = auth.clone().policy(policy());
    let refused = [
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            scoped.clone().policy(policy())
        }))
        .is_err(),
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            with_policy.with_scopes(["read"])
        }))
        .is_err(),
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            auth.with_scopes(["two words"])
        }))
        .is_err(),
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            auth.with_scopes(Vec::<String>::new())
        }))
        .is_err(),
    ];
    assert_eq!(refused, [true; 4]);
    // Scopes set again replace the earlier ones.
    let app = Router::new()
        .route("/orders", get(scopes))
        .route_layer(scoped.with_scopes(["write"]));
    let base = serve(app).await;
    let read = idp.token().scope("read").sign();
    assert_eq!(
        get_bearer(&format!("{base}/orders"), &read).await.status,
        403
    );
    let write = idp.token().scope("write").sign();
    assert_eq!(
        get_bearer(&format!("{base}/orders"), &write).await.status,
        200
    );
}

#[tokio::test]
async fn public_and_unknown_paths_are_not_challenged() {
    let idp = TestIssuer::start().await;
    let base = serve(api(&layer_for(&idp).await)).await;
    assert_eq!(get_with(&format!("{base}/health"), &[]).await.status, 200);
    assert_eq!(get_with(&format!("{base}/nope"), &[]).await.status, 404);
}

#[tokio::test]
async fn keys_unavailable_is_503_with_retry_after() {
    let idp = TestIssuer::start().await;
    idp.set_fault(Some(JwksFault::Status(500)));
    let keys = RemoteJwks::builder(idp.jwks_url())
        .lazy()
        .build()
        .await
        .unwrap();
    let rules = Validator::builder()
        .issuer(idp.issuer())
        .audience("api")
        .build()
        .unwrap();
    let auth = BearerAuthLayer::new(JwtVerifier::new(keys, rules))
        .answers(Answers::default().realm(REALM).retry_after_secs(7));
    let base = serve(api(&auth)).await;
    let a = get_bearer(&format!("{base}/me"), &idp.token().sign()).await;
    assert_eq!(a.status, 503);
    assert_eq!(a.retry_after.as_deref(), Some("7"));
    assert_eq!(a.www_authenticate, None);
    assert_eq!(a.cache_control.as_deref(), Some("no-store"));
}

#[tokio::test]
async fn a_new_kid_is_accepted_after_one_refetch() {
    let idp = TestIssuer::start().await;
    let base = serve(api(&layer_for(&idp).await)).await;
    assert_eq!(idp.jwks_fetches(), 1);
    let new = idp.rotate(Algorithm::ES256);
    let token = idp.token().subject("carol").sign();
    assert!(token.starts_with("ey"));
    let a = get_bearer(&format!("{base}/me"), &token).await;
    assert_eq!((a.status, a.body.as_str()), (200, "carol"));
    assert_eq!(idp.jwks_fetches(), 2);
    // Known now: no further fetch.
    assert_eq!(get_bearer(&format!("{base}/me"), &token).await.status, 200);
    assert_eq!(idp.jwks_fetches(), 2);
    drop(new);
}

#[tokio::test]
async fn optional_authentication_lets_anonymous_requests_through_but_not_bad_tokens() {
    let idp = TestIssuer::start().await;
    let auth = layer_for(&idp).await.optional();
    let app = Router::new()
        .route("/who", get(who))
        .route("/me", get(me))
        .route_layer(auth);
    let base = serve(app).await;
    let a = get_with(&format!("{base}/who"), &[]).await;
    assert_eq!((a.status, a.body.as_str()), (200, "anonymous"));
    let a = get_bearer(&format!("{base}/who"), &idp.token().subject("dave").sign()).await;
    assert_eq!((a.status, a.body.as_str()), (200, "dave"));
    let a = get_bearer(
        &format!("{base}/who"),
        &idp.token().expires_in(-3600).sign(),
    )
    .await;
    assert_eq!(a.status, 401);
    assert_eq!(a.www_authenticate, invalid_token());
    // A handler that needs claims (not `Option`) answers 401 to an anonymous request.
    let a = get_with(&format!("{base}/me"), &[]).await;
    assert_eq!(a.status, 401);
    assert_eq!(
        a.www_authenticate.as_deref(),
        Some(r#"Bearer realm="orders""#)
    );
}

#[tokio::test]
async fn the_policy_table_denies_by_default() {
    let idp = TestIssuer::start().await;
    let policy = Policy::deny_by_default()
        .public("/health")
        .route("/me", Access::Authenticated)
        .route_method(
            Method::GET,
            "/orders/**",
            ScopeRequirement::any_of(["read"]),
        )
        .build()
        .unwrap();
    let auth = layer_for(&idp).await.policy(policy);
    let app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/me", get(me))
        .route("/orders/{id}", get(scopes).post(scopes))
        .route("/secret", get(|| async { "secret" }))
        .layer(auth);
    let base = serve(app).await;
    let token = idp.token().scope("read").subject("erin").sign();

    assert_eq!(get_with(&format!("{base}/health"), &[]).await.status, 200);
    assert_eq!(get_bearer(&format!("{base}/me"), &token).await.status, 200);
    assert_eq!(
        get_bearer(&format!("{base}/orders/1"), &token).await.status,
        200
    );
    let no_scope = idp.token().scope("other").sign();
    let a = get_bearer(&format!("{base}/orders/1"), &no_scope).await;
    assert_eq!(a.status, 403);
    assert_eq!(
        a.www_authenticate.as_deref(),
        Some(r#"Bearer realm="orders", error="insufficient_scope", scope="read""#)
    );
    // POST has no rule: the default denies, even with a valid token.
    let post = reqwest::Client::new()
        .post(format!("{base}/orders/1"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 403);
    let a = get_bearer(&format!("{base}/secret"), &token).await;
    assert_eq!(a.status, 403);
    assert_eq!(
        a.www_authenticate.as_deref(),
        Some(r#"Bearer realm="orders", error="insufficient_scope""#)
    );
    let a = get_with(&format!("{base}/secret"), &[]).await;
    assert_eq!(a.status, 401);
    assert_eq!(
        a.www_authenticate.as_deref(),
        Some(r#"Bearer realm="orders""#)
    );
}

#[tokio::test]
async fn extractors_and_scope_checks_without_the_layer_answer_500() {
    let idp = TestIssuer::start().await;
    let auth = layer_for(&idp).await;
    let app = Router::new()
        .route("/me", get(me))
        .route("/who", get(who))
        .merge(
            Router::new()
                .route("/read", get(|| async { "read" }))
                .route_layer(auth.require_scopes(["read"])),
        );
    let base = serve(app).await;
    let token = idp.token().scope("read").sign();
    for path in ["/me", "/who", "/read"] {
        let a = get_bearer(&format!("{base}{path}"), &token).await;
        assert_eq!(a.status, 500, "{path}");
        assert_eq!(a.www_authenticate, None);
    }
}

#[tokio::test]
async fn claims_that_do_not_fit_the_handlers_type_are_401() {
    #[derive(Deserialize)]
    struct NeedsTenant {
        #[allow(dead_code)]
        tenant: String,
    }
    let idp = TestIssuer::start().await;
    let app = Router::new()
        .route(
            "/tenant",
            get(|Verified(_): Verified<NeedsTenant>| async { "ok" }),
        )
        .route_layer(layer_for(&idp).await);
    let base = serve(app).await;
    let a = get_bearer(&format!("{base}/tenant"), &idp.token().sign()).await;
    assert_eq!(a.status, 401);
    assert_eq!(a.www_authenticate, invalid_token());
    let with = idp.token().claim("tenant", "acme".into()).sign();
    assert_eq!(
        get_bearer(&format!("{base}/tenant"), &with).await.status,
        200
    );
}

#[tokio::test]
async fn error_descriptions_are_opt_in() {
    let idp = TestIssuer::start().await;
    let auth = layer_for(&idp)
        .await
        .answers(Answers::default().describe_errors(true));
    let base = serve(api(&auth)).await;
    let a = get_bearer(&format!("{base}/me"), &idp.token().expires_in(-3600).sign()).await;
    assert_eq!(
        a.www_authenticate.as_deref(),
        Some(r#"Bearer error="invalid_token", error_description="token expired""#)
    );
}

#[tokio::test]
async fn a_rejection_hook_gets_the_typed_reason() {
    let idp = TestIssuer::start().await;
    let auth = layer_for(&idp)
        .await
        .on_rejection(|rejection: &Rejection, answer: Response<()>| {
            let body = format!(r#"{{"error":"{}"}}"#, rejection.code());
            answer.map(|()| axum::body::Body::from(body))
        });
    let app = Router::new().route("/me", get(me)).route_layer(auth);
    let base = serve(app).await;
    let a = get_bearer(
        &format!("{base}/me"),
        &idp.token().expires_in(-60 * 60).sign(),
    )
    .await;
    assert_eq!(a.status, 401);
    assert_eq!(a.body, r#"{"error":"expired"}"#);
    assert_eq!(
        a.www_authenticate,
        Some(r#"Bearer realm="orders", error="invalid_token""#.into())
    );
}

/// A POST over HTTP/1.1 with this content type (and token), as any HTTP client sends it.
async fn post_as(url: &str, content_type: &str, token: Option<&str>) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .post(url)
        .header("content-type", content_type);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let res = req.send().await.unwrap();
    assert_eq!(res.version(), http::Version::HTTP_11);
    res
}

const GRPC_CONTENT_TYPES: [&str; 5] = [
    "application/grpc",
    "application/grpc+proto",
    "application/grpc-web",
    "application/grpc-web+proto",
    "application/grpc-web-text",
];

#[tokio::test]
async fn a_rest_route_answers_401_and_403_to_http1_requests_whatever_their_content_type() {
    let idp = TestIssuer::start().await;
    let base = serve(api(&layer_for(&idp).await)).await;
    let expired = idp.token().expires_in(-3600).sign();
    let read = idp.token().scope("read").sign();
    let cases = [
        ("/me", None, 401, r#"Bearer realm="orders""#.to_owned()),
        ("/me", Some(expired.as_str()), 401, invalid_token().unwrap()),
        (
            "/write",
            Some(read.as_str()),
            403,
            r#"Bearer realm="orders", error="insufficient_scope", scope="write""#.to_owned(),
        ),
    ];
    for content_type in GRPC_CONTENT_TYPES {
        for (path, token, status, challenge) in &cases {
            let res = post_as(&format!("{base}{path}"), content_type, *token).await;
            assert_eq!(res.status(), *status, "{content_type} {path}");
            assert_eq!(res.headers()["www-authenticate"], challenge.as_str());
            assert_eq!(res.headers().get("grpc-status"), None, "{content_type}");
        }
    }
}

#[tokio::test]
async fn a_layer_declared_in_front_of_grpc_web_answers_grpc_web_over_http1() {
    let idp = TestIssuer::start().await;
    let auth = layer_for(&idp)
        .await
        .answers(Answers::default().realm(REALM).grpc_web(true));
    let base = serve(api(&auth)).await;
    for (content_type, answered) in [
        ("application/grpc-web", "application/grpc-web+proto"),
        ("application/grpc-web+proto", "application/grpc-web+proto"),
        (
            "application/grpc-web-text",
            "application/grpc-web-text+proto",
        ),
        // As tonic-web hands a translated gRPC-Web call on: gRPC, still over HTTP/1.1.
        ("application/grpc", "application/grpc"),
    ] {
        let res = post_as(&format!("{base}/me"), content_type, None).await;
        assert_eq!(res.status(), 200, "{content_type}");
        assert_eq!(res.headers()["content-type"], answered);
        assert_eq!(res.headers()["grpc-status"], "16");
        assert_eq!(res.headers()["grpc-message"], "missing bearer token");
        assert_eq!(
            res.headers()["www-authenticate"],
            r#"Bearer realm="orders""#
        );
    }
    // A plain REST request to the same layer still gets its status.
    let res = post_as(&format!("{base}/me"), "application/json", None).await;
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn a_cached_token_still_goes_through_each_routes_scope_check() {
    let idp = TestIssuer::start().await;
    let base = serve(api(&layer_for(&idp).await)).await;
    let read = idp.token().scope("read").sign();
    for _ in 0..3 {
        assert_eq!(get_bearer(&format!("{base}/read"), &read).await.status, 200);
        assert_eq!(
            get_bearer(&format!("{base}/write"), &read).await.status,
            403
        );
    }
}
