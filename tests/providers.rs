// Tests may unwrap, index and panic: a failure is the test's report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Each provider profile against its testkit replica, over loopback: the provider's genuine
//! access tokens pass; its ID tokens, another tenant's or client's tokens and tokens without
//! the required role are refused, each with the answer it must get.

use axum::Router;
use axum::routing::get;
use portcullis::jwt::ClaimRule;
use portcullis::layer::BearerAuthLayer;
use portcullis::{Config, Issuer, IssuerConfig, Portcullis};
use portcullis_testkit::providers::{
    API_AUDIENCE, CLIENT_ID, COGNITO_POOL, ENTRA_API_APP_ID_URI, ENTRA_API_CLIENT_ID,
    ENTRA_OTHER_TENANT, ENTRA_TENANT, EntraVersion, GITHUB_REPOSITORY, OKTA_AUDIENCE,
    OTHER_CLIENT_ID, Provider, Replica,
};
use portcullis_testkit::{TokenBuilder, serve};
use serde_json::json;

/// An API protected by `auth`: `/any` for any valid token, then each route's requirement.
fn app(auth: &BearerAuthLayer, routes: Vec<(&'static str, Route)>) -> Router {
    let mut router = Router::new().route("/any", get(|| async { "ok" }));
    for (path, route) in routes {
        let handler = get(|| async { "ok" });
        router = match route {
            Route::Scopes(scopes) => {
                router.route(path, handler.route_layer(auth.require_scopes(scopes)))
            }
            Route::Roles(roles) => {
                router.route(path, handler.route_layer(auth.require_roles(roles)))
            }
            Route::Claims(rule) => {
                router.route(path, handler.route_layer(auth.require_claims(rule)))
            }
        };
    }
    router.route_layer(auth.clone())
}

enum Route {
    Scopes(Vec<&'static str>),
    Roles(Vec<&'static str>),
    Claims(ClaimRule),
}

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    async fn start(profile: IssuerConfig, routes: Vec<(&'static str, Route)>) -> Api {
        let auth = Portcullis::builder()
            .issuer_config(profile)
            .build()
            .await
            .unwrap();
        Api {
            base: serve(app(&auth, routes)).await,
            http: reqwest::Client::new(),
        }
    }

    async fn get(&self, path: &str, token: &TokenBuilder) -> (u16, String) {
        let answer = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token.sign())
            .send()
            .await
            .unwrap();
        let challenge = answer
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (answer.status().as_u16(), challenge)
    }

    async fn status(&self, path: &str, token: &TokenBuilder) -> u16 {
        self.get(path, token).await.0
    }
}

#[tokio::test]
async fn entra_multi_tenant_v1_and_v2() {
    let entra = Replica::start(Provider::Entra).await;
    let profile = Issuer::entra(entra.issuer())
        .also_issuer(entra.v1_issuer().unwrap())
        .tenants([ENTRA_TENANT])
        .audience(ENTRA_API_CLIENT_ID)
        .audience(ENTRA_API_APP_ID_URI);
    let api = Api::start(
        profile,
        vec![
            ("/read", Route::Scopes(vec!["Orders.Read"])),
            ("/admin", Route::Roles(vec!["Orders.Admin"])),
        ],
    )
    .await;
    let v2 = entra.access_token();
    let v1 = entra.entra_token(EntraVersion::V1, ENTRA_TENANT);
    let app_only = entra
        .access_token()
        .remove_claim("scp")
        .claim("roles", json!(["Orders.Admin"]));
    assert_eq!(api.status("/read", &v2).await, 200);
    assert_eq!(api.status("/read", &v1).await, 200);
    assert_eq!(api.status("/admin", &app_only).await, 200);
    // App-only permissions are scopes too (`roles`), delegated ones are not roles.
    assert_eq!(api.status("/read", &app_only).await, 403);
    let (status, challenge) = api.get("/admin", &v2).await;
    assert_eq!(status, 403);
    assert!(
        challenge.contains(r#"error="insufficient_scope""#),
        "{challenge}"
    );
    assert!(!challenge.contains("scope=\""), "{challenge}");

    for (what, token) in [
        ("an ID token", entra.id_token()),
        (
            "a token of a tenant not allowed (v2)",
            entra.entra_token(EntraVersion::V2, ENTRA_OTHER_TENANT),
        ),
        (
            "a token of a tenant not allowed (v1)",
            entra.entra_token(EntraVersion::V1, ENTRA_OTHER_TENANT),
        ),
        (
            "an allowed tenant's iss with another tid",
            entra.access_token().claim("tid", json!(ENTRA_OTHER_TENANT)),
        ),
        (
            "another API's token",
            entra
                .access_token()
                .audience("00000003-0000-0000-c000-000000000000"),
        ),
    ] {
        assert_eq!(api.status("/any", &token).await, 401, "{what}");
    }
    // One discovery and one key set for every tenant and both versions; the v1 host is
    // never asked anything.
    assert_eq!(entra.server().discovery_fetches(), 1);
    assert_eq!(entra.server().jwks_fetches(), 1);
}

#[tokio::test]
async fn entra_single_tenant_takes_its_own_issuer_only() {
    let entra = Replica::start(Provider::Entra).await;
    // A single-tenant API trusts its tenant's issuer exactly: no template, no tenant list.
    let own = entra.issuer().replace("{tenantid}", ENTRA_TENANT);
    let mut profile = Issuer::entra(own).audience(ENTRA_API_CLIENT_ID);
    profile.jwks_uri = Some(entra.server().jwks_url());
    let api = Api::start(profile, vec![("/read", Route::Scopes(vec!["Orders.Read"]))]).await;
    assert_eq!(api.status("/read", &entra.access_token()).await, 200);
    for (what, token) in [
        ("an ID token", entra.id_token()),
        (
            "another tenant's token",
            entra.entra_token(EntraVersion::V2, ENTRA_OTHER_TENANT),
        ),
        (
            "its own tenant's v1 token, without the v1 issuer",
            entra.entra_token(EntraVersion::V1, ENTRA_TENANT),
        ),
        (
            "the template itself as iss",
            entra.access_token().issuer(&entra.issuer()),
        ),
    ] {
        assert_eq!(api.status("/any", &token).await, 401, "{what}");
    }
}

#[tokio::test]
async fn entra_refuses_a_template_without_tenants_before_any_fetch() {
    let entra = Replica::start(Provider::Entra).await;
    let error = Portcullis::builder()
        .issuer_config(Issuer::entra(entra.issuer()).audience(ENTRA_API_CLIENT_ID))
        .build()
        .await
        .unwrap_err();
    assert!(error.to_string().contains("tenants"), "{error}");
    assert_eq!(entra.server().discovery_fetches(), 0);
}

#[tokio::test]
async fn cognito_client_id_token_use_and_the_resource_servers_prefix() {
    let cognito = Replica::start(Provider::Cognito).await;
    let api = Api::start(
        Issuer::cognito(cognito.issuer(), [CLIENT_ID]).scope_prefix("notes/"),
        vec![
            ("/read", Route::Scopes(vec!["read"])),
            ("/billing", Route::Scopes(vec!["admin"])),
            ("/edit", Route::Roles(vec!["editors"])),
            ("/admin", Route::Roles(vec!["admins"])),
        ],
    )
    .await;
    let access = cognito.access_token();
    assert_eq!(api.status("/read", &access).await, 200);
    assert_eq!(api.status("/edit", &access).await, 200);
    // Another resource server's `billing/admin` is not this API's `admin`.
    assert_eq!(api.status("/billing", &access).await, 403);
    assert_eq!(api.status("/admin", &access).await, 403);
    for (what, token) in [
        ("an ID token of the pool", cognito.id_token()),
        (
            "an ID token with the client as client_id",
            cognito.id_token().claim("client_id", json!(CLIENT_ID)),
        ),
        (
            "another app client's token",
            cognito
                .access_token()
                .claim("client_id", json!(OTHER_CLIENT_ID)),
        ),
        (
            "another pool's token",
            cognito.access_token().issuer(
                &cognito
                    .issuer()
                    .replace(COGNITO_POOL, "eu-west-1_Other0000"),
            ),
        ),
    ] {
        assert_eq!(api.status("/any", &token).await, 401, "{what}");
    }
}

#[tokio::test]
async fn keycloak_realm_and_client_roles() {
    let keycloak = Replica::start(Provider::Keycloak).await;
    let api = Api::start(
        Issuer::keycloak(keycloak.issuer(), API_AUDIENCE),
        vec![
            ("/admin", Route::Roles(vec!["orders-admin"])),
            ("/reader", Route::Roles(vec!["orders-reader"])),
            ("/account", Route::Roles(vec!["manage-account"])),
        ],
    )
    .await;
    let access = keycloak.access_token();
    assert_eq!(api.status("/admin", &access).await, 200);
    assert_eq!(api.status("/reader", &access).await, 200);
    // Another client's roles (`account`'s) are not this API's.
    assert_eq!(api.status("/account", &access).await, 403);
    let no_role = keycloak
        .access_token()
        .claim("realm_access", json!({"roles": ["offline_access"]}));
    assert_eq!(api.status("/admin", &no_role).await, 403);
    for (what, token) in [
        ("an ID token", keycloak.id_token()),
        (
            "an ID token for the API's client",
            keycloak
                .id_token()
                .claim("aud", json!([API_AUDIENCE]))
                .claim("azp", json!(CLIENT_ID)),
        ),
        (
            "a token without an audience mapper (aud account only)",
            keycloak.access_token().claim("aud", json!(["account"])),
        ),
        (
            "another realm's token",
            keycloak
                .access_token()
                .issuer(&keycloak.issuer().replace("/realms/shop", "/realms/other")),
        ),
    ] {
        assert_eq!(api.status("/any", &token).await, 401, "{what}");
    }
}

#[tokio::test]
async fn auth0_permissions_and_the_userinfo_audience() {
    let auth0 = Replica::start(Provider::Auth0).await;
    assert!(auth0.issuer().ends_with('/'));
    let api = Api::start(
        Issuer::auth0(auth0.issuer(), API_AUDIENCE),
        vec![
            ("/write", Route::Scopes(vec!["write:orders"])),
            ("/read", Route::Scopes(vec!["read:orders"])),
            ("/delete", Route::Roles(vec!["delete:orders"])),
            ("/writer", Route::Roles(vec!["write:orders"])),
        ],
    )
    .await;
    let access = auth0.access_token();
    assert_eq!(api.status("/write", &access).await, 200);
    assert_eq!(api.status("/read", &access).await, 200);
    assert_eq!(api.status("/writer", &access).await, 200);
    assert_eq!(api.status("/delete", &access).await, 403);
    for (what, token) in [
        ("an ID token", auth0.id_token()),
        (
            "another API's token",
            auth0
                .access_token()
                .claim("aud", json!(["https://billing.example"])),
        ),
        (
            "a token of the issuer without its trailing slash",
            auth0
                .access_token()
                .issuer(auth0.issuer().trim_end_matches('/')),
        ),
    ] {
        assert_eq!(api.status("/any", &token).await, 401, "{what}");
    }
}

#[tokio::test]
async fn okta_scp_array_and_cid() {
    let okta = Replica::start(Provider::Okta).await;
    let api = Api::start(
        Issuer::okta(okta.issuer(), OKTA_AUDIENCE),
        vec![
            ("/read", Route::Scopes(vec!["orders.read"])),
            ("/admin", Route::Roles(vec!["Admins"])),
        ],
    )
    .await;
    let access = okta.access_token();
    assert_eq!(api.status("/read", &access).await, 200);
    assert_eq!(api.status("/admin", &access).await, 403);
    let admin = okta
        .access_token()
        .claim("groups", json!(["Everyone", "Admins"]));
    assert_eq!(api.status("/admin", &admin).await, 200);
    for (what, token) in [
        ("an ID token", okta.id_token()),
        (
            "an ID token whose aud is the API's",
            okta.id_token().audience(OKTA_AUDIENCE),
        ),
        (
            "another authorization server's token",
            okta.access_token().audience("api://billing"),
        ),
    ] {
        assert_eq!(api.status("/any", &token).await, 401, "{what}");
    }
}

#[tokio::test]
async fn kubernetes_service_accounts_by_namespace() {
    let cluster = Replica::start(Provider::Kubernetes).await;
    let profile = Issuer::kubernetes(cluster.issuer(), API_AUDIENCE)
        .claim_rule(ClaimRule::equals(r#""kubernetes.io".namespace"#, "shop"));
    let worker = ClaimRule::equals(r#""kubernetes.io".serviceaccount.name"#, "orders-worker");
    let api = Api::start(profile, vec![("/work", Route::Claims(worker))]).await;
    assert_eq!(api.status("/work", &cluster.access_token()).await, 200);
    let other_account = cluster.access_token().claim(
        "kubernetes.io",
        json!({"namespace": "shop", "serviceaccount": {"name": "intruder", "uid": "1"}}),
    );
    assert_eq!(api.status("/any", &other_account).await, 200);
    assert_eq!(api.status("/work", &other_account).await, 403);
    for (what, token) in [
        ("a token for another audience", cluster.id_token()),
        (
            "another namespace's token",
            cluster.access_token().claim(
                "kubernetes.io",
                json!({"namespace": "other", "serviceaccount": {"name": "orders-worker"}}),
            ),
        ),
        (
            "a token without a service account",
            cluster.access_token().remove_claim("kubernetes.io"),
        ),
    ] {
        assert_eq!(api.status("/any", &token).await, 401, "{what}");
    }
}

#[tokio::test]
async fn github_actions_by_repository_and_environment() {
    let github = Replica::start(Provider::GithubActions).await;
    let deploy = ClaimRule::all_of([
        ClaimRule::equals("repository", GITHUB_REPOSITORY),
        ClaimRule::equals("environment", "production"),
    ]);
    let api = Api::start(
        Issuer::github_actions_at(github.issuer(), API_AUDIENCE),
        vec![("/deploy", Route::Claims(deploy))],
    )
    .await;
    assert_eq!(api.status("/deploy", &github.access_token()).await, 200);
    for token in [
        github.access_token().claim("environment", json!("staging")),
        github
            .access_token()
            .claim("repository", json!("octo-org/other-repo")),
        github.access_token().remove_claim("environment"),
    ] {
        assert_eq!(api.status("/deploy", &token).await, 403);
    }
    // The default audience (the owner's URL), which every repository of the owner gets.
    let default_audience = github
        .access_token()
        .audience("https://github.com/octo-org");
    assert_eq!(api.status("/any", &default_audience).await, 401);
    assert_eq!(api.status("/any", &github.id_token()).await, 401);
}

#[tokio::test]
async fn profiles_by_name_in_a_configuration_file() {
    let cognito = Replica::start(Provider::Cognito).await;
    let entra = Replica::start(Provider::Entra).await;
    let config: Config = serde_json::from_value(json!({
        "issuers": [
            {
                "issuer": cognito.issuer(),
                "profile": "cognito",
                "audiences": [CLIENT_ID],
                "scope_prefix": "notes/"
            },
            {
                "issuer": entra.issuer(),
                "also_issuers": [entra.v1_issuer().unwrap()],
                "profile": "entra",
                "tenants": [ENTRA_TENANT],
                "audiences": [ENTRA_API_CLIENT_ID, ENTRA_API_APP_ID_URI]
            }
        ]
    }))
    .unwrap();
    let auth = Portcullis::from_config(config).build().await.unwrap();
    let routes = vec![
        ("/read", Route::Scopes(vec!["read"])),
        ("/orders", Route::Scopes(vec!["Orders.Read"])),
    ];
    let api = Api {
        base: serve(app(&auth, routes)).await,
        http: reqwest::Client::new(),
    };
    assert_eq!(api.status("/read", &cognito.access_token()).await, 200);
    assert_eq!(api.status("/any", &cognito.id_token()).await, 401);
    assert_eq!(api.status("/orders", &entra.access_token()).await, 200);
    let v1 = entra.entra_token(EntraVersion::V1, ENTRA_TENANT);
    assert_eq!(api.status("/orders", &v1).await, 200);
    assert_eq!(api.status("/any", &entra.id_token()).await, 401);
    let stranger = entra.entra_token(EntraVersion::V2, ENTRA_OTHER_TENANT);
    assert_eq!(api.status("/any", &stranger).await, 401);
    // A profile name that does not exist, and a misspelt setting, are refused.
    for bad in [
        json!({"issuers": [{"issuer": "https://a.example", "profile": "azure"}]}),
        json!({"issuers": [{"issuer": "https://a.example", "tenant": ["x"]}]}),
    ] {
        assert!(serde_json::from_value::<Config>(bad).is_err());
    }
}

#[tokio::test]
async fn an_issuers_claim_rules_from_a_configuration_file() {
    let github = Replica::start(Provider::GithubActions).await;
    let config: Config = serde_json::from_value(json!({
        "issuers": [{
            "issuer": github.issuer(),
            "profile": "github-actions",
            "audiences": [API_AUDIENCE],
            "claim_rules": [
                {"claim": "repository", "equals": GITHUB_REPOSITORY},
                {"any_of": [
                    {"claim": "environment", "one_of": ["production", "staging"]},
                    {"claim": "ref", "equals": "refs/heads/main"}
                ]}
            ]
        }]
    }))
    .unwrap();
    let auth = Portcullis::from_config(config).build().await.unwrap();
    let api = Api {
        base: serve(app(&auth, Vec::new())).await,
        http: reqwest::Client::new(),
    };
    assert_eq!(api.status("/any", &github.access_token()).await, 200);
    let tag = github
        .access_token()
        .claim("environment", json!("dev"))
        .claim("ref", json!("refs/tags/v1"));
    let fork = github
        .access_token()
        .claim("repository", json!("someone/octo-repo"));
    for token in [tag, fork] {
        let (status, challenge) = api.get("/any", &token).await;
        assert_eq!(status, 401);
        assert!(
            challenge.contains(r#"error="invalid_token""#),
            "{challenge}"
        );
    }
    // A rule that could never hold is refused when the layer is built.
    let never: Config = serde_json::from_value(json!({
        "issuers": [{
            "issuer": github.issuer(),
            "audiences": [API_AUDIENCE],
            "claim_rules": [{"claim": "environment", "one_of": []}]
        }]
    }))
    .unwrap();
    let error = Portcullis::from_config(never).build().await.unwrap_err();
    assert!(error.to_string().contains("claim rule"), "{error}");
}
