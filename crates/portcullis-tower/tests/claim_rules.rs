// Tests may unwrap, index and panic: a failure is the test's report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Roles and claim rules per route, over real HTTP: the answers (403 `insufficient_scope`
//! without a `scope` attribute, the gRPC status), the typed reason for the hook, and the
//! rules refused when the router is built.

use axum::Router;
use axum::routing::get;
use http::Response;
use portcullis_core::{ClaimRule, ScopeRequirement, ScopeSource, Validator};
use portcullis_jwks::{JwtVerifier, RemoteJwks};
use portcullis_testkit::{TestIssuer, serve};
use portcullis_tower::{Answers, BearerAuthLayer, Policy, Rejection, Requirements};
use serde_json::json;

async fn layer_for(idp: &TestIssuer, answers: Answers) -> BearerAuthLayer {
    let keys = RemoteJwks::builder(idp.jwks_url()).build().await.unwrap();
    let rules = Validator::builder()
        .issuer(idp.issuer())
        .audience("api")
        .role_sources(["realm_access.roles".parse::<ScopeSource>().unwrap()])
        .build()
        .unwrap();
    BearerAuthLayer::new(JwtVerifier::new(keys, rules)).answers(answers.realm("orders"))
}

fn api<H>(auth: &BearerAuthLayer<H>) -> Router
where
    H: portcullis_tower::OnRejection<axum::body::Body> + Send + Sync + 'static,
    BearerAuthLayer<H>: Clone,
{
    let deploy = ClaimRule::all_of([
        ClaimRule::equals("repository", "octo-org/octo-repo"),
        ClaimRule::one_of("environment", ["production", "staging"]),
    ]);
    Router::new()
        .route(
            "/admin",
            get(|| async { "admin" }).route_layer(auth.require_roles(["admin"])),
        )
        .route(
            "/deploy",
            get(|| async { "deploy" }).route_layer(auth.require_claims(deploy)),
        )
        .route_layer(auth.clone())
}

async fn get_bearer(url: &str, token: &str, content_type: Option<&str>) -> reqwest::Response {
    let mut req = reqwest::Client::new().get(url).bearer_auth(token);
    if let Some(content_type) = content_type {
        req = req.header("content-type", content_type);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn roles_and_rules_pass_or_answer_403_without_naming_them() {
    let idp = TestIssuer::start().await;
    let base = serve(api(&layer_for(&idp, Answers::default()).await)).await;
    let admin = idp
        .token()
        .claim("realm_access", json!({"roles": ["admin", "user"]}))
        .sign();
    let user = idp
        .token()
        .claim("realm_access", json!({"roles": ["user"]}))
        .sign();
    // A `roles` claim is no role source of this validator.
    let elsewhere = idp.token().claim("roles", json!(["admin"])).sign();
    let deployer = idp
        .token()
        .claim("repository", json!("octo-org/octo-repo"))
        .claim("environment", json!("staging"))
        .sign();
    let dev = idp
        .token()
        .claim("repository", json!("octo-org/octo-repo"))
        .claim("environment", json!("dev"))
        .sign();
    for (path, token, status) in [
        ("/admin", &admin, 200),
        ("/admin", &user, 403),
        ("/admin", &elsewhere, 403),
        ("/deploy", &deployer, 200),
        ("/deploy", &dev, 403),
        ("/deploy", &admin, 403),
    ] {
        let res = get_bearer(&format!("{base}{path}"), token, None).await;
        assert_eq!(res.status(), status, "{path}");
        if status == 403 {
            assert_eq!(
                res.headers()["www-authenticate"],
                r#"Bearer realm="orders", error="insufficient_scope""#
            );
        }
    }
}

#[tokio::test]
async fn grpc_calls_get_permission_denied() {
    let idp = TestIssuer::start().await;
    let auth = layer_for(&idp, Answers::default().grpc_web(true)).await;
    let base = serve(api(&auth)).await;
    let user = idp.token().sign();
    let res = get_bearer(
        &format!("{base}/admin"),
        &user,
        Some("application/grpc-web"),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["grpc-status"], "7");
}

#[tokio::test]
async fn the_hook_and_the_opt_in_description_get_the_reason() {
    let idp = TestIssuer::start().await;
    let described = layer_for(&idp, Answers::default().describe_errors(true)).await;
    let base = serve(api(&described)).await;
    let res = get_bearer(&format!("{base}/deploy"), &idp.token().sign(), None).await;
    let challenge = res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.contains(
            "error_description=\"claims do not satisfy the rule: all of(repository equals"
        ),
        "{challenge}"
    );
    assert!(!challenge.contains("scope=\""), "{challenge}");

    let hooked = layer_for(&idp, Answers::default()).await.on_rejection(
        |rejection: &Rejection, answer: Response<()>| {
            answer.map(|()| axum::body::Body::from(rejection.code()))
        },
    );
    let base = serve(api(&hooked)).await;
    for (path, code) in [
        ("/admin", "insufficient_roles"),
        ("/deploy", "insufficient_claims"),
    ] {
        let res = get_bearer(&format!("{base}{path}"), &idp.token().sign(), None).await;
        assert_eq!(res.status(), 403);
        assert_eq!(res.text().await.unwrap(), code);
    }
}

#[tokio::test]
async fn a_check_without_the_layer_in_front_answers_500() {
    let idp = TestIssuer::start().await;
    let auth = layer_for(&idp, Answers::default()).await;
    let app = Router::new().route(
        "/admin",
        get(|| async { "admin" }).route_layer(auth.require_roles(["admin"])),
    );
    let base = serve(app).await;
    let res = get_bearer(&format!("{base}/admin"), &idp.token().sign(), None).await;
    assert_eq!(res.status(), 500);
}

#[tokio::test]
#[should_panic(expected = "portcullis")]
async fn an_empty_role_list_is_refused_when_the_router_is_built() {
    let idp = TestIssuer::start().await;
    let auth = layer_for(&idp, Answers::default()).await;
    let _ = auth.require_roles(Vec::<String>::new());
}

#[tokio::test]
#[should_panic(expected = "claim rule")]
async fn a_rule_that_can_never_hold_is_refused_when_the_router_is_built() {
    let idp = TestIssuer::start().await;
    let auth = layer_for(&idp, Answers::default()).await;
    let _ = auth.require_claims(ClaimRule::one_of("environment", Vec::<String>::new()));
}

/// A token that holds the route's scopes, roles and claims.
fn deployer(idp: &TestIssuer, scope: &str, roles: &[&str], environment: &str) -> String {
    idp.token()
        .scope(scope)
        .claim("realm_access", json!({ "roles": roles }))
        .claim("environment", json!(environment))
        .sign()
}

/// The answer and the hook's code of a request to `path` with `token`.
async fn answer_of(base: &str, path: &str, token: &str) -> (u16, String, String) {
    let res = get_bearer(&format!("{base}{path}"), token, None).await;
    let challenge = res
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (res.status().as_u16(), challenge, res.text().await.unwrap())
}

#[tokio::test]
async fn a_policy_rule_requires_scopes_then_roles_then_claims() {
    let idp = TestIssuer::start().await;
    let policy = Policy::deny_by_default()
        .route(
            "/deploy",
            Requirements::new()
                .scopes(ScopeRequirement::all_of(["deploy"]))
                .roles(ScopeRequirement::any_of(["deployer", "admin"]))
                .claims(ClaimRule::equals("environment", "production")),
        )
        .build()
        .unwrap();
    let auth = layer_for(&idp, Answers::default())
        .await
        .policy(policy)
        .on_rejection(|rejection: &Rejection, answer: Response<()>| {
            answer.map(|()| axum::body::Body::from(rejection.code()))
        });
    let app = Router::new()
        .route("/deploy", get(|| async { "deployed" }))
        .layer(auth);
    let base = serve(app).await;
    let scope = r#"Bearer realm="orders", error="insufficient_scope", scope="deploy""#;
    let unnamed = r#"Bearer realm="orders", error="insufficient_scope""#;
    for (what, token, status, challenge, body) in [
        (
            "everything",
            deployer(&idp, "deploy", &["deployer"], "production"),
            200,
            "",
            "deployed",
        ),
        (
            "the other role",
            deployer(&idp, "deploy", &["admin"], "production"),
            200,
            "",
            "deployed",
        ),
        // Scopes are checked first and named: more scopes alone would not do.
        (
            "no scope, nothing else either",
            deployer(&idp, "read", &[], "dev"),
            403,
            scope,
            "insufficient_scope",
        ),
        (
            "no role",
            deployer(&idp, "deploy", &["viewer"], "production"),
            403,
            unnamed,
            "insufficient_roles",
        ),
        (
            "no role, wrong environment",
            deployer(&idp, "deploy", &[], "dev"),
            403,
            unnamed,
            "insufficient_roles",
        ),
        (
            "wrong environment",
            deployer(&idp, "deploy", &["deployer"], "staging"),
            403,
            unnamed,
            "insufficient_claims",
        ),
    ] {
        let (got, got_challenge, got_body) = answer_of(&base, "/deploy", &token).await;
        assert_eq!(got, status, "{what}");
        assert_eq!(got_challenge, challenge, "{what}");
        assert_eq!(got_body, body, "{what}");
    }
}

#[tokio::test]
async fn a_route_layer_combines_scopes_roles_and_a_claim_rule() {
    let idp = TestIssuer::start().await;
    let auth = layer_for(&idp, Answers::default()).await;
    let app = Router::new()
        .route(
            "/deploy",
            get(|| async { "deployed" }).route_layer(
                auth.require_scopes(["deploy"])
                    .and_roles(["deployer"])
                    .and_claims(ClaimRule::equals("environment", "production")),
            ),
        )
        .route(
            "/release",
            get(|| async { "released" }).route_layer(
                auth.require(
                    Requirements::new()
                        .roles(ScopeRequirement::all_of(["deployer", "release-manager"])),
                ),
            ),
        )
        .route_layer(auth.clone());
    let base = serve(app).await;
    let good = deployer(&idp, "deploy", &["deployer"], "production");
    assert_eq!(answer_of(&base, "/deploy", &good).await.0, 200);
    for token in [
        deployer(&idp, "read", &["deployer"], "production"),
        deployer(&idp, "deploy", &["admin"], "production"),
        deployer(&idp, "deploy", &["deployer"], "dev"),
    ] {
        assert_eq!(answer_of(&base, "/deploy", &token).await.0, 403);
    }
    // All of two roles: one is not enough.
    assert_eq!(answer_of(&base, "/release", &good).await.0, 403);
    let both = deployer(&idp, "", &["deployer", "release-manager"], "dev");
    assert_eq!(answer_of(&base, "/release", &both).await.0, 200);
}

#[tokio::test]
async fn a_policy_with_an_empty_role_list_or_a_hollow_rule_is_refused_when_built() {
    for requirements in [
        Requirements::new().roles(ScopeRequirement::all_of(Vec::<String>::new())),
        Requirements::new().roles(ScopeRequirement::all_of(["has space"])),
        Requirements::new().claims(ClaimRule::any_of([])),
        Requirements::new().claims(ClaimRule::equals("a..b", "x")),
    ] {
        let built = Policy::deny_by_default()
            .route("/deploy", requirements.clone())
            .build();
        assert!(built.is_err(), "{requirements:?}");
    }
}

#[tokio::test]
async fn a_layer_of_its_own_requires_roles_and_claims_beside_its_scopes() {
    let idp = TestIssuer::start().await;
    let auth = layer_for(&idp, Answers::default()).await;
    let own = auth.with_requirements(
        Requirements::new()
            .scopes(ScopeRequirement::all_of(["deploy"]))
            .roles(ScopeRequirement::all_of(["deployer"]))
            .claims(ClaimRule::equals("environment", "production")),
    );
    let roles_only =
        auth.with_requirements(Requirements::new().roles(ScopeRequirement::all_of(["auditor"])));
    let claims_only = auth.with_requirements(
        Requirements::new().claims(ClaimRule::equals("environment", "production")),
    );
    let app = Router::new()
        .route("/deploy", get(|| async { "deployed" }).layer(own))
        .route("/audit", get(|| async { "audited" }).layer(roles_only))
        .route("/prod", get(|| async { "prod" }).layer(claims_only));
    let base = serve(app).await;
    let good = deployer(&idp, "deploy", &["deployer", "auditor"], "production");
    assert_eq!(answer_of(&base, "/deploy", &good).await.0, 200);
    assert_eq!(answer_of(&base, "/audit", &good).await.0, 200);
    assert_eq!(answer_of(&base, "/prod", &good).await.0, 200);
    let dev = deployer(&idp, "deploy", &["deployer", "auditor"], "dev");
    assert_eq!(answer_of(&base, "/prod", &dev).await.0, 403);
    for token in [
        deployer(&idp, "deploy", &["viewer"], "production"),
        deployer(&idp, "deploy", &["deployer"], "dev"),
    ] {
        assert_eq!(answer_of(&base, "/deploy", &token).await.0, 403);
        assert_eq!(answer_of(&base, "/audit", &token).await.0, 403);
    }
}

#[tokio::test]
async fn a_route_layer_says_what_it_requires() {
    let idp = TestIssuer::start().await;
    let auth = layer_for(&idp, Answers::default()).await;
    let scopes = auth.require_scopes(["orders.read"]);
    assert_eq!(
        scopes.requirement(),
        Some(&ScopeRequirement::all_of(["orders.read"]))
    );
    assert!(!scopes.requires_dpop());
    let bound = scopes.and_dpop();
    assert!(bound.requires_dpop());
    assert_eq!(
        bound.requirement(),
        Some(&ScopeRequirement::all_of(["orders.read"]))
    );
    let dpop_only = auth.require_dpop();
    assert!(dpop_only.requires_dpop());
    assert_eq!(dpop_only.requirement(), None);
    assert_eq!(auth.require_roles(["admin"]).requirement(), None);
}
