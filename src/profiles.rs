//! Provider profiles: the configuration that real identity providers need, as they document
//! their tokens. Each profile is only an [`IssuerConfig`] (issuer or template, audience rule,
//! scope and role sources, the issuer's claim rules); nothing in portcullis treats any
//! provider specially, and every setting a profile makes can be made by hand, or changed on
//! the [`IssuerConfig`] it returns.
//!
//! Every profile takes the provider's issuer URL, so that sovereign clouds, custom domains,
//! self-hosted servers and tests on loopback work alike; `http://` is accepted for loopback
//! hosts only (as for every issuer), unless
//! [`IssuerConfig::danger_allow_http`].
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # use portcullis_testkit::providers::{Provider, Replica, ENTRA_TENANT, ENTRA_API_CLIENT_ID};
//! # let entra = Replica::start(Provider::Entra).await;
//! # let issuer = entra.issuer();
//! use portcullis::{Issuer, Portcullis};
//!
//! // issuer: "https://login.microsoftonline.com/{tenantid}/v2.0" in production.
//! let auth = Portcullis::builder()
//!     .issuer_config(Issuer::entra(issuer).tenants([ENTRA_TENANT]).audience(ENTRA_API_CLIENT_ID))
//!     .build()
//!     .await?;
//! # let _ = auth;
//! # Ok(()) }
//! ```
//!
//! | profile | issuer | the API is named by | scopes from | roles from | the issuer's rule |
//! |---|---|---|---|---|---|
//! | [`Issuer::entra`] | `https://login.microsoftonline.com/{tenantid}/v2.0` (and v1 `https://sts.windows.net/{tenantid}/` with [`IssuerConfig::also_issuer`]), or one tenant's | `aud` | `scp` (delegated) and `roles` (app-only) | `roles` | `scp` or `roles` present (ID tokens have neither) |
//! | [`Issuer::cognito`] | `https://cognito-idp.{region}.amazonaws.com/{pool}` | `client_id` | `scope` (with [`IssuerConfig::scope_prefix`] for a resource server) | `cognito:groups` | `token_use` = `access` |
//! | [`Issuer::keycloak`] | `https://{host}/realms/{realm}` | `aud` (an audience mapper) | `scope` | `realm_access.roles`, `resource_access.{audience}.roles` | `typ` claim = `Bearer` |
//! | [`Issuer::auth0`] | `https://{tenant}.auth0.com/` or a custom domain | `aud` | `scope` and `permissions` | `permissions` | — |
//! | [`Issuer::okta`] | `https://{domain}/oauth2/{server}` | `aud` | `scp` | `groups` | `cid` present (ID tokens have none) |
//! | [`Issuer::kubernetes`] | the cluster's `--service-account-issuer` | `aud` | none | none | `"kubernetes.io".serviceaccount.name` present |
//! | [`Issuer::github_actions`] | `https://token.actions.githubusercontent.com` | `aud` | none | none | — (add yours: `repository`, `environment`) |

use portcullis_core::{ClaimPath, ClaimRule, ScopeSource, TypPolicy};

use crate::IssuerConfig;

/// GitHub Actions' OIDC issuer (GitHub Enterprise Server has its own:
/// [`Issuer::github_actions_at`]).
pub const GITHUB_ACTIONS_ISSUER: &str = "https://token.actions.githubusercontent.com";

/// The provider profiles (see the [module docs](self)): each returns an [`IssuerConfig`]
/// to give to [`PortcullisBuilder::issuer_config`](crate::PortcullisBuilder::issuer_config).
#[derive(Debug, Clone, Copy)]
pub struct Issuer;

/// The source at these member names (the profiles' own, each non-empty and without `"`).
fn at<const N: usize>(names: [&str; N]) -> Vec<ScopeSource> {
    ClaimPath::from_names(names)
        .map(ScopeSource::Claim)
        .into_iter()
        .collect()
}

/// A provider profile by name, for configuration files (`"profile": "cognito"` in an
/// issuer of [`Config`](crate::Config)) and command lines: the same settings as the
/// [`Issuer`] function of that name, filled in where the issuer's configuration leaves them
/// unset (its own `scope_sources`, `role_sources`, `audience_claim` win; its `claim_rules`
/// are added to the profile's). The names: `entra`, `cognito`, `keycloak`, `auth0`, `okta`,
/// `kubernetes`, `github-actions`.
///
/// ```
/// let config: portcullis::Config = serde_json::from_str(r#"{
///     "issuers": [{
///         "issuer": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Ab12Cd34E",
///         "profile": "cognito",
///         "audiences": ["app-client-1"],
///         "scope_prefix": "notes/"
///     }]
/// }"#).unwrap();
/// assert_eq!(config.issuers[0].profile, Some(portcullis::profiles::Profile::Cognito));
/// assert_eq!("github-actions".parse(), Ok(portcullis::profiles::Profile::GithubActions));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Profile {
    /// [`Issuer::entra`].
    Entra,
    /// [`Issuer::cognito`]: the client ids are the issuer's `audiences`.
    Cognito,
    /// [`Issuer::keycloak`]: the client roles read are those of the first audience.
    Keycloak,
    /// [`Issuer::auth0`].
    Auth0,
    /// [`Issuer::okta`].
    Okta,
    /// [`Issuer::kubernetes`].
    Kubernetes,
    /// [`Issuer::github_actions_at`].
    GithubActions,
}

impl Profile {
    /// Every profile.
    pub const ALL: [Profile; 7] = [
        Profile::Entra,
        Profile::Cognito,
        Profile::Keycloak,
        Profile::Auth0,
        Profile::Okta,
        Profile::Kubernetes,
        Profile::GithubActions,
    ];

    /// The profile's name in configuration files and on the command line.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Profile::Entra => "entra",
            Profile::Cognito => "cognito",
            Profile::Keycloak => "keycloak",
            Profile::Auth0 => "auth0",
            Profile::Okta => "okta",
            Profile::Kubernetes => "kubernetes",
            Profile::GithubActions => "github-actions",
        }
    }

    /// `c` with this profile's settings where `c` leaves them unset.
    #[must_use]
    pub fn apply(self, c: &IssuerConfig) -> IssuerConfig {
        let first = c.audiences.first().cloned().unwrap_or_default();
        let base = match self {
            Profile::Entra => Issuer::entra(""),
            Profile::Cognito => Issuer::cognito("", c.audiences.iter().cloned()),
            Profile::Keycloak => Issuer::keycloak("", first),
            Profile::Auth0 => Issuer::auth0("", first),
            Profile::Okta => Issuer::okta("", first),
            Profile::Kubernetes => Issuer::kubernetes("", first),
            Profile::GithubActions => Issuer::github_actions_at("", first),
        };
        let mut out = c.clone();
        out.profile = None;
        out.scope_sources = c.scope_sources.clone().or(base.scope_sources);
        out.role_sources = c.role_sources.clone().or(base.role_sources);
        out.audience_claim = c.audience_claim.clone().or(base.audience_claim);
        out.claim_rules = base.claim_rules;
        out.claim_rules.extend(c.claim_rules.iter().cloned());
        out
    }
}

impl std::fmt::Display for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing a profile name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownProfile(());

impl std::fmt::Display for UnknownProfile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            "unknown profile (entra, cognito, keycloak, auth0, okta, kubernetes, github-actions)",
        )
    }
}

impl std::error::Error for UnknownProfile {}

impl std::str::FromStr for Profile {
    type Err = UnknownProfile;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Profile::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or(UnknownProfile(()))
    }
}

impl<'de> serde::Deserialize<'de> for Profile {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

impl Issuer {
    /// Microsoft Entra ID (formerly Azure AD). `issuer` is a tenant's issuer
    /// (`https://login.microsoftonline.com/{tenant id}/v2.0`) or, for a multi-tenant
    /// application, the template `https://login.microsoftonline.com/{tenantid}/v2.0`, whose
    /// keys are discovered once from `.../organizations/v2.0` (whose document names the
    /// template itself), and which needs [`IssuerConfig::tenants`] (or
    /// [`IssuerConfig::danger_accept_any_tenant`]). Add the v1 issuer
    /// (`https://sts.windows.net/{tenantid}/`) with [`IssuerConfig::also_issuer`] for APIs
    /// whose manifest leaves `accessTokenAcceptedVersion` at v1; give both audiences then:
    /// v2 tokens name the API by its client id, v1 tokens by its App ID URI.
    ///
    /// Scopes are read from `scp` (delegated permissions, space-separated) and `roles`
    /// (application permissions of client-credentials tokens); roles from `roles`. A token
    /// with neither `scp` nor `roles` is refused: that is an ID token, whose audience may be
    /// this API's client id when the API signs its own users in.
    ///
    /// Documented at <https://learn.microsoft.com/en-us/entra/identity-platform/access-tokens>
    /// (validation, multi-tenant issuers, v1/v2) and
    /// <https://learn.microsoft.com/en-us/entra/identity-platform/access-token-claims-reference>
    /// (`aud`, `iss`, `tid`, `scp`, `roles`, `azp`, `appid`, `ver`).
    #[must_use]
    pub fn entra(issuer: impl Into<String>) -> IssuerConfig {
        let mut c = IssuerConfig::new(issuer);
        c.scope_sources = Some(vec![ScopeSource::Scp, ScopeSource::Roles]);
        c.role_sources = Some(vec![ScopeSource::Roles]);
        c.claim_rules = vec![ClaimRule::any_of([
            ClaimRule::present("scp"),
            ClaimRule::present("roles"),
        ])];
        c
    }

    /// Amazon Cognito user pools: `issuer` is `https://cognito-idp.{region}.amazonaws.com/{pool id}`,
    /// `client_ids` the app clients whose access tokens are accepted. Cognito's access
    /// tokens have no `aud`: the app is `client_id`, and `token_use` must be `access` (an ID
    /// token of the same pool has `aud` and `token_use` `id`, and is refused). Scopes come
    /// from `scope`; custom scopes are `{resource server}/{scope}`: with
    /// [`IssuerConfig::scope_prefix`]`("notes/")` only those count, as `read`, and another
    /// resource server's `billing/read` never does. Roles come from `cognito:groups`.
    ///
    /// Documented at <https://docs.aws.amazon.com/cognito/latest/developerguide/amazon-cognito-user-pools-using-the-access-token.html>
    /// and <https://docs.aws.amazon.com/cognito/latest/developerguide/amazon-cognito-user-pools-using-tokens-verifying-a-jwt.html>
    /// (check `client_id` and `token_use`).
    #[must_use]
    pub fn cognito<I, S>(issuer: impl Into<String>, client_ids: I) -> IssuerConfig
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut c = IssuerConfig::new(issuer);
        c.audiences = client_ids.into_iter().map(Into::into).collect();
        c.audience_claim = Some("client_id".to_owned());
        c.role_sources = Some(at(["cognito:groups"]));
        c.claim_rules = vec![ClaimRule::equals("token_use", "access")];
        c
    }

    /// Keycloak: `issuer` is the realm's, `https://{host}/realms/{realm}`; `audience` the
    /// API's client id, which Keycloak puts in `aud` once an audience mapper (or a client
    /// scope with one) is configured for the clients that call it (without one, `aud` is
    /// `account` and no API should accept the token). Roles come from `realm_access.roles`
    /// and `resource_access.{audience}.roles`; scopes from `scope`. Keycloak marks its
    /// access tokens with the claim `typ` = `Bearer` (ID tokens say `ID`), which is required.
    ///
    /// Documented at <https://www.keycloak.org/docs/latest/server_admin/#audience-support>
    /// and <https://www.keycloak.org/docs/latest/server_admin/#_oidc_token_role_mappings>.
    #[must_use]
    pub fn keycloak(issuer: impl Into<String>, audience: impl Into<String>) -> IssuerConfig {
        let audience = audience.into();
        let mut roles = at(["realm_access", "roles"]);
        roles.extend(at(["resource_access", &audience, "roles"]));
        let mut c = IssuerConfig::new(issuer).audience(audience);
        c.role_sources = Some(roles);
        c.claim_rules = vec![ClaimRule::equals("typ", "Bearer")];
        c
    }

    /// Auth0: `issuer` is `https://{tenant}.{region}.auth0.com/` or the custom domain's
    /// (with its trailing `/`, as Auth0 writes it); `audience` the API's identifier. Auth0
    /// puts its userinfo URL beside the API in `aud`, which is fine: one audience must be
    /// this API's. With RBAC and "Add Permissions in the Access Token", permissions come in
    /// a `permissions` array: scopes are read from `scope` and `permissions`, roles from
    /// `permissions`. An ID token's audience is the client id, never the API's identifier.
    ///
    /// Documented at <https://auth0.com/docs/secure/tokens/access-tokens/validate-access-tokens>,
    /// <https://auth0.com/docs/get-started/apis/enable-role-based-access-control-for-apis>
    /// and <https://auth0.com/docs/customize/custom-domains> (the issuer changes).
    #[must_use]
    pub fn auth0(issuer: impl Into<String>, audience: impl Into<String>) -> IssuerConfig {
        let mut c = IssuerConfig::new(issuer).audience(audience);
        c.scope_sources = Some(vec![ScopeSource::Scope, ScopeSource::Permissions]);
        c.role_sources = Some(vec![ScopeSource::Permissions]);
        c
    }

    /// Okta custom authorization servers: `issuer` is `https://{domain}/oauth2/{server}`
    /// (`default` for the default server); `audience` the server's (`api://default`).
    /// Scopes come from the `scp` array, groups (when a groups claim is configured) from
    /// `groups`; the client is `cid`, which ID tokens lack (they are refused). Tokens of the
    /// org authorization server (`https://{domain}` without `/oauth2/..`) cannot be verified
    /// locally: Okta documents them for introspection only.
    ///
    /// Documented at <https://developer.okta.com/docs/guides/validate-access-tokens/> and
    /// <https://developer.okta.com/docs/concepts/auth-servers/>.
    #[must_use]
    pub fn okta(issuer: impl Into<String>, audience: impl Into<String>) -> IssuerConfig {
        let mut c = IssuerConfig::new(issuer).audience(audience);
        c.scope_sources = Some(vec![ScopeSource::Scp]);
        c.role_sources = Some(at(["groups"]));
        c.claim_rules = vec![ClaimRule::present("cid")];
        c
    }

    /// Kubernetes projected service-account tokens: `issuer` is the cluster's
    /// `--service-account-issuer` (discovery at `{issuer}/.well-known/openid-configuration`,
    /// served by the API server, reachable anonymously only when the cluster allows it);
    /// `audience` the one the pod asked for in its projected volume. These tokens carry no
    /// scopes: access is a rule on `kubernetes.io` (add one with
    /// [`IssuerConfig::claim_rule`], such as `"kubernetes.io".namespace` equals `shop`). The
    /// profile requires `"kubernetes.io".serviceaccount.name`, which every service-account
    /// token has. Their `typ` header is absent.
    ///
    /// Documented at <https://kubernetes.io/docs/tasks/configure-pod-container/configure-service-account/#service-account-issuer-discovery>
    /// and <https://kubernetes.io/docs/reference/access-authn-authz/service-accounts-admin/#bound-service-account-token-volume>.
    #[must_use]
    pub fn kubernetes(issuer: impl Into<String>, audience: impl Into<String>) -> IssuerConfig {
        let mut c = IssuerConfig::new(issuer).audience(audience);
        c.claim_rules = vec![ClaimRule::present("\"kubernetes.io\".serviceaccount.name")];
        c
    }

    /// GitHub Actions OIDC tokens (issuer [`GITHUB_ACTIONS_ISSUER`]); `audience` the one the
    /// workflow asks for (`core.getIDToken(audience)`; by default the owner's URL,
    /// `https://github.com/{owner}`, which any repository of that owner gets: choose your own).
    /// The tokens carry no scopes: access is a rule on `repository`, `ref`, `environment`,
    /// `job_workflow_ref` (add it with [`IssuerConfig::claim_rule`]).
    ///
    /// Documented at <https://docs.github.com/en/actions/reference/security/oidc>.
    #[must_use]
    pub fn github_actions(audience: impl Into<String>) -> IssuerConfig {
        Issuer::github_actions_at(GITHUB_ACTIONS_ISSUER, audience)
    }

    /// [`Issuer::github_actions`] for another issuer: GitHub Enterprise Server
    /// (`https://{host}/_services/token`), or a test replica.
    #[must_use]
    pub fn github_actions_at(
        issuer: impl Into<String>,
        audience: impl Into<String>,
    ) -> IssuerConfig {
        let mut c = IssuerConfig::new(issuer).audience(audience);
        c.typ = TypPolicy::AccessTokenOrJwt;
        c
    }
}
