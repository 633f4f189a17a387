//! Replicas of real identity providers: a [`TestIssuer`] whose discovery document, JWKS and
//! tokens have the shape that provider documents, so that a profile can be tried against
//! something that looks like the real thing, on loopback.
//!
//! | [`Provider`] | issuer served | JWKS members beyond the key | access token | ID token |
//! |---|---|---|---|---|
//! | `Entra` | the template `{base}/{tenantid}/v2.0` (literally, from `/organizations/v2.0`); v1 tokens name `{v1}/{tid}/` | `x5t`, `x5c`, `issuer` (the template) | header `typ` `JWT`, `x5t` = `kid`; `aud` the API's client id (v2) or App ID URI (v1), `tid`, `oid`, `azp`/`appid`, `ver`, `scp` (delegated) or `roles` (app-only) | `aud` the client app, `nonce`, no `scp`/`roles` |
//! | `Cognito` | `{base}/{region}_{pool}` | none | no `typ`; no `aud`; `client_id`, `token_use` `access`, `scope` `RESOURCE_SERVER/scope`, `cognito:groups` | `aud` the client, `token_use` `id` |
//! | `Keycloak` | `{base}/realms/{realm}` | `x5c`, `x5t`, `x5t#S256` | `typ` `JWT`; `aud` `account` + the API (audience mapper), `azp`, `typ` claim `Bearer`, `realm_access.roles`, `resource_access.<API>.roles` | `typ` claim `ID`, `aud` the client |
//! | `Auth0` | `{base}/` (trailing slash) | `x5c`, `x5t` | `aud` [the API, `{base}/userinfo`], `azp`, `scope`, `permissions` | `aud` the client, `nonce` |
//! | `Okta` | `{base}/oauth2/default` | none | `aud` `api://default`, `cid`, `uid`, `scp` array, `ver` 1 | `aud` the client, `amr`, `idp` |
//! | `Kubernetes` | `{base}` (the cluster's issuer) | none | `aud` the pod's chosen audiences, `sub` `system:serviceaccount:ns:name`, `kubernetes.io` {namespace, pod, serviceaccount} | (none: another audience stands for one) |
//! | `GithubActions` | `{base}` | `x5c`, `x5t` | `typ` `JWT`, `x5t`; `aud` the owner's URL or a custom one, `repository`, `repository_owner`, `ref`, `environment`, `sub` `repo:owner/repo:environment:env` | (none) |
//!
//! The `x5c` members hold the key's SubjectPublicKeyInfo DER, not a certificate: portcullis
//! never reads `x5c` (a token's key is chosen by `kid` only), so the member is there for
//! parsers that would trip over it, and `x5t` is the SHA-1 thumbprint of those bytes.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use portcullis_testkit::providers::{Provider, Replica, ENTRA_TENANT};
//!
//! let entra = Replica::start(Provider::Entra).await;
//! assert!(entra.issuer().ends_with("/{tenantid}/v2.0"));
//! let token = entra.access_token().sign();
//! let (header, payload, _) = portcullis_testkit::tamper::parts(&token);
//! assert!(header.contains("x5t"));
//! assert!(payload.contains(ENTRA_TENANT));
//! # }
//! ```

use serde_json::{Value, json};

use crate::{Algorithm, TestIssuer, TestKey, TokenBuilder, b64url};

/// The tenant of the Entra replica's default tokens.
pub const ENTRA_TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";
/// Another tenant, whose tokens an API allowing only [`ENTRA_TENANT`] must refuse.
pub const ENTRA_OTHER_TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
/// The API's client id (v2 tokens' `aud`) in the Entra replica.
pub const ENTRA_API_CLIENT_ID: &str = "6e74172b-be56-4843-9ff4-e66a39bb12e3";
/// The API's App ID URI (v1 tokens' `aud`) in the Entra replica.
pub const ENTRA_API_APP_ID_URI: &str = "api://orders";
/// The client application that calls the API (and signs users in) in every replica.
pub const CLIENT_ID: &str = "client-app-1";
/// Another client application of the same provider.
pub const OTHER_CLIENT_ID: &str = "client-app-2";
/// The API's audience in the replicas that put it in `aud` (Keycloak, Auth0, Kubernetes,
/// GitHub Actions).
pub const API_AUDIENCE: &str = "https://orders.example";
/// Okta's audience of the `default` custom authorization server.
pub const OKTA_AUDIENCE: &str = "api://default";
/// The Keycloak realm of the replica.
pub const KEYCLOAK_REALM: &str = "shop";
/// The Cognito user pool id of the replica (`region_pool`).
pub const COGNITO_POOL: &str = "eu-west-1_Ab12Cd34E";
/// The Cognito resource server whose scopes the API reads (`notes/read`).
pub const COGNITO_RESOURCE_SERVER: &str = "notes";
/// The repository of the GitHub Actions replica's tokens.
pub const GITHUB_REPOSITORY: &str = "octo-org/octo-repo";

/// A provider whose shapes a [`Replica`] copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Provider {
    /// Microsoft Entra ID, multi-tenant (v2 discovery, v1 and v2 tokens).
    Entra,
    /// Amazon Cognito user pools.
    Cognito,
    /// Keycloak.
    Keycloak,
    /// Auth0.
    Auth0,
    /// Okta, a custom authorization server.
    Okta,
    /// Kubernetes projected service-account tokens.
    Kubernetes,
    /// GitHub Actions OIDC tokens.
    GithubActions,
}

/// Which Entra token version a builder mints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntraVersion {
    /// v1: `iss` `https://sts.windows.net/{tid}/`, `aud` the App ID URI, `appid`, `scp` string.
    V1,
    /// v2: `iss` `https://login.microsoftonline.com/{tid}/v2.0`, `aud` the client id, `azp`.
    V2,
}

/// A running replica of one provider (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct Replica {
    provider: Provider,
    idp: TestIssuer,
    /// Entra's v1 issuer host (a second server, as `sts.windows.net` is another host).
    v1: Option<TestIssuer>,
    key: TestKey,
    issuer: String,
}

/// The JWK of `key` with the members `extra` of the provider's JWKS.
fn jwk_with(key: &TestKey, extra: &[(&str, Value)]) -> Value {
    let mut jwk = key.public_jwk();
    let der = key.public_spki_der();
    let standard = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &der);
    let sha1 = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &der);
    let sha256 = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &der);
    for (name, value) in extra {
        let value = match *name {
            "x5c" => json!([standard]),
            "x5t" => json!(b64url(sha1.as_ref())),
            "x5t#S256" => json!(b64url(sha256.as_ref())),
            _ => value.clone(),
        };
        if let Some(members) = jwk.as_object_mut() {
            members.insert((*name).to_owned(), value);
        }
    }
    jwk
}

impl Replica {
    /// Starts a replica of `provider` on `127.0.0.1:0`, signing with a fresh RS256 key.
    ///
    /// # Panics
    /// Outside a tokio runtime, or when no loopback port can be bound.
    pub async fn start(provider: Provider) -> Replica {
        // Entra and GitHub name their keys by the certificate's thumbprint.
        let thumbprint_kid = matches!(provider, Provider::Entra | Provider::GithubActions);
        let mut key = TestKey::generate(Algorithm::RS256).with_kid("kid-1");
        if thumbprint_kid {
            let sha1 = aws_lc_rs::digest::digest(
                &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
                &key.public_spki_der(),
            );
            key = key.with_kid(b64url(sha1.as_ref()));
        }
        let path = match provider {
            Provider::Entra => "/organizations/v2.0".to_owned(),
            Provider::Cognito => format!("/{COGNITO_POOL}"),
            Provider::Keycloak => format!("/realms/{KEYCLOAK_REALM}"),
            Provider::Okta => "/oauth2/default".to_owned(),
            Provider::Auth0 | Provider::Kubernetes | Provider::GithubActions => String::new(),
        };
        let idp = TestIssuer::builder()
            .key(key.clone())
            .path(&path)
            .start()
            .await;
        let base = format!("http://{}", idp.addr());
        let issuer = match provider {
            Provider::Entra => format!("{base}/{{tenantid}}/v2.0"),
            Provider::Auth0 => format!("{base}/"),
            _ => idp.issuer(),
        };
        let mut v1 = None;
        let members: &[(&str, Value)] = match provider {
            Provider::Entra => &[
                ("x5t", Value::Null),
                ("x5c", Value::Null),
                ("issuer", Value::Null),
            ],
            Provider::Keycloak => &[
                ("x5c", Value::Null),
                ("x5t", Value::Null),
                ("x5t#S256", Value::Null),
            ],
            Provider::Auth0 | Provider::GithubActions => {
                &[("x5c", Value::Null), ("x5t", Value::Null)]
            }
            _ => &[],
        };
        if !members.is_empty() {
            let issuer_member = [("issuer", json!(issuer))];
            let extra: Vec<(&str, Value)> = members
                .iter()
                .filter(|(name, _)| *name != "issuer")
                .cloned()
                .chain(
                    (provider == Provider::Entra)
                        .then_some(issuer_member)
                        .into_iter()
                        .flatten(),
                )
                .collect();
            let jwk = jwk_with(&key, &extra);
            idp.set_jwks_override(Some(json!({ "keys": [jwk] })));
        }
        if provider == Provider::Entra || provider == Provider::Auth0 {
            idp.set_discovery_issuer(Some(issuer.clone()));
        }
        if provider == Provider::Entra {
            let sts = TestIssuer::builder().key(key.clone()).start().await;
            sts.set_discovery_issuer(Some(format!("{}/{{tenantid}}/", sts.issuer())));
            v1 = Some(sts);
        }
        Replica {
            provider,
            idp,
            v1,
            key,
            issuer,
        }
    }

    /// The provider copied.
    #[must_use]
    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// The issuer a profile is given: Entra's v2 template
    /// (`http://127.0.0.1:<port>/{tenantid}/v2.0`), else the issuer URL.
    #[must_use]
    pub fn issuer(&self) -> String {
        self.issuer.clone()
    }

    /// Entra's v1 issuer template (`http://127.0.0.1:<other port>/{tenantid}/`); `None` for
    /// other providers.
    #[must_use]
    pub fn v1_issuer(&self) -> Option<String> {
        self.v1
            .as_ref()
            .map(|v1| format!("{}/{{tenantid}}/", v1.issuer()))
    }

    /// Where the keys are discovered: Entra's multi-tenant `{base}/organizations/v2.0`
    /// (whose document names the template), else the issuer.
    #[must_use]
    pub fn discovery_url(&self) -> String {
        self.idp.issuer()
    }

    /// The server itself, for its counters ([`TestIssuer::discovery_fetches`],
    /// [`TestIssuer::jwks_fetches`]) and faults.
    #[must_use]
    pub fn server(&self) -> &TestIssuer {
        &self.idp
    }

    /// A genuine access token of the provider for the API, with the defaults of the
    /// [module docs](self) (Entra: v2, tenant [`ENTRA_TENANT`], delegated `scp`).
    pub fn access_token(&self) -> TokenBuilder {
        let base = TokenBuilder::new(&self.key)
            .issuer(&self.issuer)
            .remove_claim("client_id")
            .remove_claim("scope");
        match self.provider {
            Provider::Entra => self.entra_token(EntraVersion::V2, ENTRA_TENANT),
            Provider::Cognito => base
                .remove_header("typ")
                .remove_claim("aud")
                .claim("client_id", json!(CLIENT_ID))
                .claim("token_use", json!("access"))
                .claim("version", json!(2))
                .claim("username", json!("alice"))
                .claim("cognito:groups", json!(["editors"]))
                .scope(&format!(
                    "{COGNITO_RESOURCE_SERVER}/read {COGNITO_RESOURCE_SERVER}/write billing/admin"
                )),
            Provider::Keycloak => base
                .header("typ", json!("JWT"))
                .claim("aud", json!(["account", API_AUDIENCE]))
                .claim("azp", json!(CLIENT_ID))
                .claim("typ", json!("Bearer"))
                .claim("sid", json!("7c1b0f3e"))
                .claim("preferred_username", json!("alice"))
                .claim(
                    "realm_access",
                    json!({"roles": ["offline_access", "orders-admin"]}),
                )
                .claim(
                    "resource_access",
                    json!({
                        API_AUDIENCE: {"roles": ["orders-reader"]},
                        "account": {"roles": ["manage-account"]}
                    }),
                )
                .scope("openid profile email"),
            Provider::Auth0 => base
                .header("typ", json!("JWT"))
                .claim(
                    "aud",
                    json!([API_AUDIENCE, format!("{}userinfo", self.issuer)]),
                )
                .claim("azp", json!(CLIENT_ID))
                .subject("auth0|5f7c8ec7c33c6c004bbafe82")
                .scope("openid profile read:orders")
                .claim("permissions", json!(["read:orders", "write:orders"])),
            Provider::Okta => base
                .remove_header("typ")
                .audience(OKTA_AUDIENCE)
                .claim("ver", json!(1))
                .claim("cid", json!(CLIENT_ID))
                .claim("uid", json!("00uid4BxXw6I6TV4m0g3"))
                .subject("alice@example.com")
                .claim("scp", json!(["orders.read", "orders.write"])),
            Provider::Kubernetes => base
                .remove_header("typ")
                .claim("aud", json!([API_AUDIENCE]))
                .subject("system:serviceaccount:shop:orders-worker")
                .claim("nbf", json!(crate::unix_now()))
                .claim(
                    "kubernetes.io",
                    json!({
                        "namespace": "shop",
                        "pod": {"name": "orders-worker-7d9f", "uid": "0c9a1b2c"},
                        "serviceaccount": {"name": "orders-worker", "uid": "4f1e2d3c"}
                    }),
                ),
            Provider::GithubActions => base
                .header("typ", json!("JWT"))
                .header("x5t", json!(self.key.kid()))
                .audience(API_AUDIENCE)
                .subject(&format!("repo:{GITHUB_REPOSITORY}:environment:production"))
                .claim("repository", json!(GITHUB_REPOSITORY))
                .claim("repository_owner", json!("octo-org"))
                .claim("ref", json!("refs/heads/main"))
                .claim("ref_type", json!("branch"))
                .claim("environment", json!("production"))
                .claim("event_name", json!("push"))
                .claim(
                    "job_workflow_ref",
                    json!(format!(
                        "{GITHUB_REPOSITORY}/.github/workflows/deploy.yml@refs/heads/main"
                    )),
                )
                .claim("runner_environment", json!("github-hosted")),
        }
    }

    /// An Entra access token of `version` for `tenant`, delegated (`scp` `Orders.Read`):
    /// `.remove_claim("scp").claim("roles", ..)` makes an app-only one.
    ///
    /// # Panics
    /// For another provider than Entra.
    pub fn entra_token(&self, version: EntraVersion, tenant: &str) -> TokenBuilder {
        assert_eq!(
            self.provider,
            Provider::Entra,
            "an Entra token of another provider"
        );
        let base = TokenBuilder::new(&self.key)
            .header("typ", json!("JWT"))
            .header("x5t", json!(self.key.kid()))
            .remove_claim("client_id")
            .remove_claim("scope")
            .claim("tid", json!(tenant))
            .claim("oid", json!("00000000-0000-0000-0000-00000000a11c"))
            .claim("scp", json!("Orders.Read"));
        match version {
            EntraVersion::V2 => base
                .issuer(&self.issuer.replace("{tenantid}", tenant))
                .audience(ENTRA_API_CLIENT_ID)
                .claim("azp", json!(CLIENT_ID))
                .claim("azpacr", json!("0"))
                .claim("ver", json!("2.0")),
            EntraVersion::V1 => base
                .issuer(
                    &self
                        .v1_issuer()
                        .unwrap_or_default()
                        .replace("{tenantid}", tenant),
                )
                .audience(ENTRA_API_APP_ID_URI)
                .claim("appid", json!(CLIENT_ID))
                .claim("appidacr", json!("0"))
                .claim("ver", json!("1.0")),
        }
    }

    /// An ID token of the same provider, for the client application [`CLIENT_ID`] (Entra:
    /// v2, tenant [`ENTRA_TENANT`]); for Kubernetes and GitHub Actions, which issue none, a
    /// token of theirs for another audience.
    pub fn id_token(&self) -> TokenBuilder {
        let base = TokenBuilder::new(&self.key)
            .issuer(&self.issuer)
            .remove_claim("client_id")
            .remove_claim("scope")
            .header("typ", json!("JWT"))
            .claim("nonce", json!("n-0S6_WzA2Mj"))
            .claim("auth_time", json!(crate::unix_now()));
        match self.provider {
            Provider::Entra => base
                .issuer(&self.issuer.replace("{tenantid}", ENTRA_TENANT))
                // The API and its client are often one app registration: the ID token's
                // audience is then the API's client id too.
                .audience(ENTRA_API_CLIENT_ID)
                .claim("tid", json!(ENTRA_TENANT))
                .claim("ver", json!("2.0"))
                .claim("preferred_username", json!("alice@contoso.example")),
            Provider::Cognito => base
                .remove_header("typ")
                .audience(CLIENT_ID)
                .claim("token_use", json!("id"))
                .claim("cognito:username", json!("alice"))
                .claim("email", json!("alice@example.com")),
            Provider::Keycloak => base
                .audience(CLIENT_ID)
                .claim("azp", json!(CLIENT_ID))
                .claim("typ", json!("ID"))
                .claim("realm_access", json!({"roles": ["orders-admin"]})),
            Provider::Auth0 => base.audience(CLIENT_ID).claim("name", json!("Alice")),
            Provider::Okta => base
                .audience(CLIENT_ID)
                .claim("ver", json!(1))
                .claim("amr", json!(["pwd"]))
                .claim("idp", json!("00oidp")),
            Provider::Kubernetes | Provider::GithubActions => self
                .access_token()
                .claim("aud", json!(["https://kubernetes.default.svc"])),
        }
    }
}
