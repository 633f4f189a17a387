//! The `[gateway]` section of a [`Config`](crate::Config): what `portcullis gateway` needs
//! besides the issuers, to answer the authorization sub-requests of nginx, Caddy, Traefik and
//! Envoy (see [`manual::gateway`](crate::manual::gateway)). The in-process layer ignores it.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use http::{HeaderName, Method};
use std::time::Duration;

use portcullis_core::{ClaimPath, ClaimRule, ConfigError, ScopeRequirement, StepUp};
use portcullis_tower::{Access, Policy, Requirements};
use serde::Deserialize;

/// The address `portcullis gateway` listens on unless told otherwise.
pub const DEFAULT_GATEWAY_LISTEN: &str = "127.0.0.1:8418";

/// The gateway: where it listens, the policy table (first match wins, everything else
/// refused), and the claims copied into headers for the upstream.
///
/// ```
/// let config: portcullis::Config = serde_json::from_str(r#"{
///     "issuers": [{ "issuer": "https://auth.example.com", "audiences": ["orders-api"] }],
///     "gateway": {
///         "listen": "127.0.0.1:9000",
///         "routes": [
///             { "path": "/health", "access": "public" },
///             { "method": "GET", "path": "/orders/**", "scopes": ["orders.read"] },
///             { "path": "/me", "access": "authenticated" }
///         ],
///         "claim_headers": [{ "claim": "sub", "header": "x-user" }]
///     }
/// }"#).unwrap();
/// let gateway = config.gateway.unwrap();
/// let policy = gateway.policy().unwrap();
/// assert_eq!(policy.access(&http::Method::DELETE, "/orders/7"), &portcullis::Access::Deny);
/// assert_eq!(gateway.claim_headers().unwrap()[0].1.as_str(), "x-user");
/// ```
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct GatewayConfig {
    /// The address to listen on (default [`DEFAULT_GATEWAY_LISTEN`]).
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The rules, first match wins; a request no rule matches is refused (`401` without a
    /// token, `403` with one).
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
    /// The claims copied into the headers of a `200` answer, for the proxy to pass to the
    /// upstream.
    #[serde(default)]
    pub claim_headers: Vec<ClaimHeaderConfig>,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8418))
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            listen: default_listen(),
            routes: Vec::new(),
            claim_headers: Vec::new(),
        }
    }
}

/// What a route of the gateway needs, besides scopes.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RouteAccess {
    /// No token: the sub-request is answered `200` without looking for one.
    Public,
    /// Any valid token.
    Authenticated,
    /// Nothing passes (as for unmatched requests, but stated).
    Deny,
}

/// One rule: a method (any when absent), a path pattern (see [`Policy`]), and either an
/// `access` or the `scopes` a token must all grant.
///
/// The command line writes the same rule as one string, `METHOD PATTERN SCOPE...`, with
/// `*` for any method and `public` or `authenticated` in place of the scopes; [`FromStr`]
/// reads it:
///
/// ```
/// use portcullis::RouteConfig;
/// let route: RouteConfig = "GET /orders/** orders.read orders.list".parse().unwrap();
/// assert_eq!(route.method.as_deref(), Some("GET"));
/// assert_eq!(route.scopes, ["orders.read", "orders.list"]);
/// assert!("* /health public".parse::<RouteConfig>().unwrap().access.is_some());
/// assert!("GET /orders".parse::<RouteConfig>().is_err(), "no access given");
/// ```
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RouteConfig {
    /// The method (`GET` also covers `HEAD`); absent: every method.
    #[serde(default)]
    pub method: Option<String>,
    /// The path pattern: `/orders/*`, `/orders/**`, `/pkg.Service/Method`.
    pub path: String,
    /// `public`, `authenticated` or `deny`; give this or `scopes`.
    #[serde(default)]
    pub access: Option<RouteAccess>,
    /// The scopes a token must all grant; give these or `access`.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// A step-up (RFC 9470): the token's `acr` must be one of these, else `401
    /// insufficient_user_authentication` naming them. With `scopes`, or alone (or with
    /// `access = "authenticated"`).
    #[serde(default)]
    pub acr_values: Vec<String>,
    /// A step-up (RFC 9470): the login (`auth_time`) must be no older than this, in seconds.
    #[serde(default)]
    pub max_age_secs: Option<u64>,
    /// Roles the token must all hold (read from the issuer's role sources: `roles`, or a
    /// profile's, such as Keycloak's `realm_access.roles`), else `403 insufficient_scope`
    /// without naming them. With `scopes`, or alone (or with `access = "authenticated"`).
    #[serde(default)]
    pub roles: Vec<String>,
    /// A rule on the token's claims (`{ claim = "repository", equals = "octo-org/app" }`,
    /// `all_of`/`any_of` to combine), else `403 insufficient_scope` without naming it. With
    /// `scopes`, or alone (or with `access = "authenticated"`).
    #[serde(default)]
    pub claims: Option<ClaimRule>,
}

/// The error of a route written on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSyntaxError(String);

impl fmt::Display for RouteSyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RouteSyntaxError {}

impl FromStr for RouteConfig {
    type Err = RouteSyntaxError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut words = s.split_whitespace();
        let (Some(method), Some(path)) = (words.next(), words.next()) else {
            return Err(RouteSyntaxError(format!(
                "{s:?}: a route is `METHOD PATTERN SCOPE...` (`*` for any method; `public` \
                 or `authenticated` in place of scopes)"
            )));
        };
        let rest: Vec<&str> = words.collect();
        let (access, scopes) = match rest.as_slice() {
            [] => {
                return Err(RouteSyntaxError(format!(
                    "{s:?}: say what the route needs after its pattern: scopes, `public` or \
                     `authenticated`"
                )));
            }
            ["public"] => (Some(RouteAccess::Public), Vec::new()),
            ["authenticated"] => (Some(RouteAccess::Authenticated), Vec::new()),
            ["deny"] => (Some(RouteAccess::Deny), Vec::new()),
            scopes => {
                if let Some(word) = scopes
                    .iter()
                    .find(|w| matches!(**w, "public" | "authenticated" | "deny"))
                {
                    return Err(RouteSyntaxError(format!(
                        "{s:?}: `{word}` stands alone, without scopes"
                    )));
                }
                (None, scopes.iter().map(|s| (*s).to_owned()).collect())
            }
        };
        Ok(RouteConfig {
            method: (method != "*").then(|| method.to_owned()),
            path: path.to_owned(),
            access,
            scopes,
            acr_values: Vec::new(),
            max_age_secs: None,
            roles: Vec::new(),
            claims: None,
        })
    }
}

/// A claim copied into a header of the `200` answer. `claim` is a path into the token's
/// JSON payload: names separated by `.`, a name holding a `.` (or starting with `"`) written
/// in double quotes: `realm_access.roles`, `"https://example.com/org.id"`. The granted
/// scopes (from `scope` or `scp`) are the claim `scope`, space-separated.
///
/// The command line writes it `CLAIM=HEADER`; [`FromStr`] reads that (the last `=`
/// separates, since header names have none).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ClaimHeaderConfig {
    /// The claim's path.
    pub claim: String,
    /// The header's name.
    pub header: String,
}

impl FromStr for ClaimHeaderConfig {
    type Err = RouteSyntaxError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.rsplit_once('=') {
            Some((claim, header)) if !claim.is_empty() && !header.is_empty() => {
                Ok(ClaimHeaderConfig {
                    claim: claim.to_owned(),
                    header: header.to_owned(),
                })
            }
            _ => Err(RouteSyntaxError(format!(
                "{s:?}: a claim header is `CLAIM=HEADER` (`sub=x-user`)"
            ))),
        }
    }
}

/// Headers a claim may not be copied into: the proxy or the upstream reads them with another
/// meaning.
const RESERVED_HEADERS: &[&str] = &[
    "authorization",
    "connection",
    "content-length",
    "content-type",
    "cookie",
    "dpop",
    "host",
    "keep-alive",
    "proxy-authorization",
    "retry-after",
    "set-cookie",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "www-authenticate",
];

impl GatewayConfig {
    /// The policy table of the routes: deny by default, first match wins.
    ///
    /// # Errors
    /// A [`ConfigError`] (setting `gateway.routes`, or `policy` / `scopes` as
    /// [`PolicyBuilder::build`](portcullis_tower::PolicyBuilder::build) says) for a method
    /// that is not one, a route with both or neither of `access` and `scopes`, a bad pattern
    /// or scope, or a rule hidden by an earlier one.
    pub fn policy(&self) -> Result<Policy, ConfigError> {
        let mut policy = Policy::deny_by_default();
        for route in &self.routes {
            let step_up = match (route.acr_values.is_empty(), route.max_age_secs) {
                (true, None) => None,
                (_, age) => {
                    let mut step_up = StepUp::acr(route.acr_values.clone());
                    if let Some(age) = age {
                        step_up = step_up.and_max_age(Duration::from_secs(age));
                    }
                    Some(step_up)
                }
            };
            let fail = |why: &str| {
                ConfigError::invalid("gateway.routes", format!("route {:?}: {why}", route.path))
            };
            let scopes =
                (!route.scopes.is_empty()).then(|| ScopeRequirement::all_of(route.scopes.clone()));
            let roles =
                (!route.roles.is_empty()).then(|| ScopeRequirement::all_of(route.roles.clone()));
            let token_rules = step_up.is_some() || roles.is_some() || route.claims.is_some();
            let access = match (route.access, scopes) {
                (Some(RouteAccess::Public | RouteAccess::Deny), _) if token_rules => {
                    return Err(fail(
                        "a step-up (acr_values, max_age_secs), roles or claims need a token: \
                         not with access = \"public\" or \"deny\"",
                    ));
                }
                (Some(_), Some(_)) => return Err(fail("give access or scopes, not both")),
                (None, None) if !token_rules => {
                    return Err(fail(
                        "say what it needs: scopes, roles, claims, a step-up, or access = \
                         \"public\" / \"authenticated\" / \"deny\"",
                    ));
                }
                (Some(RouteAccess::Public), None) => Access::Public,
                (Some(RouteAccess::Deny), None) => Access::Deny,
                (Some(RouteAccess::Authenticated) | None, None) if !token_rules => {
                    Access::Authenticated
                }
                (None, Some(scopes)) if !token_rules => Access::Scopes(scopes),
                (Some(RouteAccess::Authenticated) | None, scopes) => {
                    let mut requirements = Requirements::new();
                    if let Some(scopes) = scopes {
                        requirements = requirements.scopes(scopes);
                    }
                    if let Some(step_up) = step_up {
                        requirements = requirements.step_up(step_up);
                    }
                    if let Some(roles) = roles {
                        requirements = requirements.roles(roles);
                    }
                    if let Some(rule) = &route.claims {
                        requirements = requirements.claims(rule.clone());
                    }
                    Access::Requires(requirements)
                }
            };
            policy = match &route.method {
                None => policy.route(route.path.clone(), access),
                Some(name) => {
                    let method = method(name).ok_or_else(|| {
                        ConfigError::invalid(
                            "gateway.routes",
                            format!(
                                "route {:?}: {name:?} is not an HTTP method (upper case: GET, \
                                 POST, ...; `*` or no method for all)",
                                route.path
                            ),
                        )
                    })?;
                    policy.route_method(method, route.path.clone(), access)
                }
            };
        }
        policy.build()
    }

    /// The claim headers: each claim's path, parsed, and the header's name, checked.
    ///
    /// # Errors
    /// A [`ConfigError`] (setting `gateway.claim_headers`) for a claim path that does not
    /// parse, a header name that is not one, a header given twice, or one of the headers
    /// that the proxy or the upstream reads with another meaning (`authorization`, `cookie`,
    /// `www-authenticate`, `content-length`, hop-by-hop headers, ...).
    pub fn claim_headers(&self) -> Result<Vec<(ClaimPath, HeaderName)>, ConfigError> {
        let mut out: Vec<(ClaimPath, HeaderName)> = Vec::with_capacity(self.claim_headers.len());
        for c in &self.claim_headers {
            let invalid = |why: &str| {
                ConfigError::invalid(
                    "gateway.claim_headers",
                    format!("{:?} = {:?}: {why}", c.claim, c.header),
                )
            };
            let path = ClaimPath::parse(&c.claim).map_err(|why| {
                let why = why.to_string();
                invalid(why.split_once(": ").map_or(why.as_str(), |(_, why)| why))
            })?;
            let header = HeaderName::from_bytes(c.header.as_bytes())
                .map_err(|_| invalid("not a header name"))?;
            if RESERVED_HEADERS.contains(&header.as_str()) {
                return Err(invalid(
                    "the proxy or the upstream reads this header with another meaning",
                ));
            }
            if out.iter().any(|(_, h)| *h == header) {
                return Err(invalid("the header is given twice"));
            }
            out.push((path, header));
        }
        Ok(out)
    }
}

/// An HTTP method by its name: upper-case tokens only (`get` is not `GET` to servers).
fn method(name: &str) -> Option<Method> {
    let token = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b == b'-' || b == b'_');
    token.then(|| Method::from_bytes(name.as_bytes()).ok())?
}

/// Whether a claim header's path is the claim `scope`, which the gateway fills with the
/// granted scopes (from `scope`, `scp` or the issuer's scope sources), space-separated.
#[must_use]
pub fn is_scope_path(path: &ClaimPath) -> bool {
    matches!(path.names(), [only] if &**only == "scope")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_address_is_the_documented_one() {
        assert_eq!(
            GatewayConfig::default().listen,
            DEFAULT_GATEWAY_LISTEN.parse::<SocketAddr>().unwrap()
        );
    }

    #[test]
    fn claim_paths_split_on_dots_outside_quotes() {
        let p = |s: &str| {
            ClaimPath::parse(s).map(|p| p.names().iter().map(|n| n.to_string()).collect::<Vec<_>>())
        };
        assert_eq!(p("sub").unwrap(), ["sub"]);
        assert_eq!(p("realm_access.roles").unwrap(), ["realm_access", "roles"]);
        assert_eq!(
            p("\"https://example.com/org.id\"").unwrap(),
            ["https://example.com/org.id"]
        );
        assert_eq!(p("\"a.b\".c").unwrap(), ["a.b", "c"]);
        for bad in ["", ".a", "a.", "a..b", "\"a", "\"a\"b", "\"\""] {
            assert!(p(bad).is_err(), "{bad:?}");
        }
        let payload = serde_json::json!({"a.b": {"c": 1}, "x": "y"});
        assert_eq!(
            ClaimPath::parse("\"a.b\".c").unwrap().find(&payload),
            Some(&serde_json::json!(1))
        );
        assert_eq!(ClaimPath::parse("x.y").unwrap().find(&payload), None);
        // Only the bare name `scope` is the granted scopes.
        let scope = |s: &str| is_scope_path(&ClaimPath::parse(s).unwrap());
        assert!(scope("scope"));
        for other in ["sub", "scp", "scope.x", "x.scope", "\"scope.x\""] {
            assert!(!scope(other), "{other}");
        }
    }

    #[test]
    fn methods_are_upper_case_tokens_and_claim_headers_need_both_sides() {
        for good in ["GET", "PROPFIND", "VERSION-CONTROL", "BASELINE_CONTROL"] {
            assert_eq!(method(good).unwrap().as_str(), good);
        }
        for bad in ["get", "", "G T", "GËT"] {
            assert!(method(bad).is_none(), "{bad:?}");
        }
        for bad in ["=x-a", "sub=", "=", "sub"] {
            assert!(bad.parse::<ClaimHeaderConfig>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn routes_and_claim_headers_are_checked() {
        let gw = |routes: Vec<RouteConfig>, headers: Vec<(&str, &str)>| GatewayConfig {
            routes,
            claim_headers: headers
                .into_iter()
                .map(|(c, h)| ClaimHeaderConfig {
                    claim: c.into(),
                    header: h.into(),
                })
                .collect(),
            ..GatewayConfig::default()
        };
        let route = |s: &str| s.parse::<RouteConfig>().unwrap();
        assert!(gw(vec![route("get /a public")], vec![]).policy().is_err());
        assert!(gw(vec![route("GET a public")], vec![]).policy().is_err());
        assert!(
            gw(vec![route("* /a/** public"), route("GET /a/b x")], vec![])
                .policy()
                .is_err()
        );
        let both = RouteConfig {
            access: Some(RouteAccess::Public),
            ..route("GET /a x")
        };
        assert!(gw(vec![both], vec![]).policy().is_err());
        let neither = RouteConfig {
            scopes: vec![],
            ..route("GET /a x")
        };
        assert!(gw(vec![neither], vec![]).policy().is_err());
        assert!("GET /a public x".parse::<RouteConfig>().is_err());
        // A step-up with scopes, alone, or on an authenticated route; never on public ones.
        let step_up = |base: &str, acr: &[&str], age: Option<u64>| RouteConfig {
            acr_values: acr.iter().map(|a| (*a).to_owned()).collect(),
            max_age_secs: age,
            ..route(base)
        };
        let table = gw(
            vec![
                step_up("GET /a x", &["mfa"], Some(60)),
                step_up("GET /b authenticated", &[], Some(5)),
                RouteConfig {
                    scopes: vec![],
                    ..step_up("GET /c x", &["mfa"], None)
                },
            ],
            vec![],
        )
        .policy()
        .unwrap();
        let rule = |path: &str| table.access(&Method::GET, path).clone();
        let mfa = StepUp::acr(["mfa"]);
        assert_eq!(
            rule("/a"),
            Access::Requires(
                Requirements::new()
                    .scopes(ScopeRequirement::all_of(["x"]))
                    .step_up(mfa.clone().and_max_age(Duration::from_secs(60)))
            )
        );
        assert_eq!(
            rule("/b"),
            Access::Requires(Requirements::new().step_up(StepUp::max_age(Duration::from_secs(5))))
        );
        assert_eq!(
            rule("/c"),
            Access::Requires(Requirements::new().step_up(mfa))
        );
        // Roles and claim rules: with scopes, alone, or on an authenticated route.
        let with_rules = |base: &str, roles: &[&str], claims: Option<ClaimRule>| RouteConfig {
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            claims,
            ..route(base)
        };
        let repo = ClaimRule::equals("repository", "octo-org/app");
        let table = gw(
            vec![
                with_rules("GET /r x", &["admin"], Some(repo.clone())),
                with_rules("GET /s authenticated", &["admin", "ops"], None),
                RouteConfig {
                    scopes: vec![],
                    ..with_rules("GET /t x", &[], Some(repo.clone()))
                },
            ],
            vec![],
        )
        .policy()
        .unwrap();
        let rule = |path: &str| table.access(&Method::GET, path).clone();
        assert_eq!(
            rule("/r"),
            Access::Requires(
                Requirements::new()
                    .scopes(ScopeRequirement::all_of(["x"]))
                    .roles(ScopeRequirement::all_of(["admin"]))
                    .claims(repo.clone())
            )
        );
        assert_eq!(
            rule("/s"),
            Access::Requires(Requirements::new().roles(ScopeRequirement::all_of(["admin", "ops"])))
        );
        assert_eq!(
            rule("/t"),
            Access::Requires(Requirements::new().claims(repo.clone()))
        );
        for bad in [
            with_rules("GET /a public", &["admin"], None),
            with_rules("GET /a deny", &[], Some(repo)),
            with_rules("GET /a x", &["two words"], None),
            with_rules("GET /a x", &[], Some(ClaimRule::any_of([]))),
            RouteConfig {
                access: Some(RouteAccess::Authenticated),
                ..with_rules("GET /a x", &["admin"], None)
            },
        ] {
            assert!(gw(vec![bad.clone()], vec![]).policy().is_err(), "{bad:?}");
        }
        let read: RouteConfig = serde_json::from_str(
            r#"{"path": "/d", "roles": ["deployer"], "claims": {"claim": "env", "one_of": ["prod"]}}"#,
        )
        .unwrap();
        assert_eq!(read.roles, ["deployer"]);
        assert_eq!(read.claims, Some(ClaimRule::one_of("env", ["prod"])));
        for bad in [
            step_up("GET /a public", &["mfa"], None),
            step_up("GET /a deny", &[], Some(1)),
            step_up("GET /a x", &["two words"], None),
            RouteConfig {
                access: Some(RouteAccess::Authenticated),
                ..step_up("GET /a x", &["mfa"], None)
            },
        ] {
            assert!(gw(vec![bad.clone()], vec![]).policy().is_err(), "{bad:?}");
        }
        for bad in [
            ("sub", "authorization"),
            ("sub", "WWW-Authenticate"),
            ("sub", "bad header"),
            ("", "x-a"),
        ] {
            assert!(gw(vec![], vec![bad]).claim_headers().is_err(), "{bad:?}");
        }
        assert!(
            gw(vec![], vec![("sub", "x-a"), ("scope", "X-A")])
                .claim_headers()
                .is_err()
        );
        let ok = gw(vec![], vec![("sub", "X-User")]).claim_headers().unwrap();
        assert_eq!(ok[0].1.as_str(), "x-user");
        assert!("sub".parse::<ClaimHeaderConfig>().is_err());
        let parsed: ClaimHeaderConfig = "\"a=b\".c=x-c".parse().unwrap();
        assert_eq!(
            (parsed.claim.as_str(), parsed.header.as_str()),
            ("\"a=b\".c", "x-c")
        );
    }
}
