//! A central table of what each route requires, matched by method and path pattern.
//!
//! Rules are tried in the order they were added; the first whose method and pattern match
//! decides. A request that no rule matches gets the default, which is [`Access::Deny`] for
//! [`Policy::deny_by_default`] (the safe choice: a route added later without a rule is closed)
//! and [`Access::Authenticated`] for [`Policy::authenticated_by_default`].
//!
//! Patterns are `/`-separated segments: a literal matches itself, `*` (or `{name}`) matches
//! exactly one segment, and a final `**` (or axum's `{*name}`) matches whatever remains (also
//! nothing). gRPC methods are paths too: `/package.Service/Method`, `/package.Service/*`.
//! Patterns in other syntaxes (`:id`, `*rest`, braces inside a segment) are refused rather
//! than left to match nothing. A `GET` rule also applies to `HEAD`, which routers answer
//! with the `GET` handler.
//!
//! # Deployment caveat
//!
//! The table matches the path the layer sees. Under axum's `Router::nest`, the nested router
//! (and any layer on it) sees the path without the prefix: put a policy layer on the
//! outermost router, or write its patterns relative to the router it is on.
//!
//! ```
//! use http::Method;
//! use portcullis_core::{ConfigError, ScopeRequirement};
//! use portcullis_tower::{Access, Policy};
//!
//! let policy = Policy::deny_by_default()
//!     .public("/health")
//!     .route_method(Method::GET, "/orders/**", ScopeRequirement::any_of(["orders.read"]))
//!     .route_method(Method::POST, "/orders", ScopeRequirement::all_of(["orders.write"]))
//!     .route("/me", Access::Authenticated)
//!     .build()
//!     .unwrap();
//! assert_eq!(policy.access(&Method::GET, "/health"), &Access::Public);
//! assert_eq!(policy.access(&Method::DELETE, "/orders/7"), &Access::Deny);
//! ```

use std::fmt;

use http::Method;
use portcullis_core::{
    AuthError, ClaimRule, Claims, ConfigError, ErrorKind, ScopeRequirement, StepUp,
};

/// What a route requires.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Access {
    /// Nothing: the layer does not look for a token (health checks, metadata).
    Public,
    /// Any valid token.
    Authenticated,
    /// A valid token whose scopes satisfy the requirement.
    Scopes(ScopeRequirement),
    /// A token is optional: a request without one passes unauthenticated (no claims in its
    /// extensions); a request with one passes only if it is valid.
    Optional,
    /// Nothing gets through: a valid token is answered `403`, none `401`.
    Deny,
    /// A valid token that meets every one of these [`Requirements`]: scopes, a login strong
    /// or recent enough (step-up), a DPoP proof, roles, a rule on its claims.
    Requires(Requirements),
}

impl From<ScopeRequirement> for Access {
    fn from(requirement: ScopeRequirement) -> Self {
        Access::Scopes(requirement)
    }
}

impl From<StepUp> for Access {
    fn from(step_up: StepUp) -> Self {
        Access::Requires(Requirements::new().step_up(step_up))
    }
}

impl From<Requirements> for Access {
    fn from(requirements: Requirements) -> Self {
        Access::Requires(requirements)
    }
}

/// What a route requires of a valid token, all of it: scopes, a step-up (RFC 9470: an
/// `acr` among given values, an authentication no older than a maximum age), a DPoP proof
/// (a DPoP-bound token presented with its proof, on a layer that accepts DPoP), roles (read
/// from the issuer's role sources, [`Claims::roles`]), a rule on any claim ([`ClaimRule`]:
/// a GitHub Actions `repository`, a Kubernetes namespace, a group). A token that falls
/// short is refused in this order: DPoP (`401`, a `DPoP` challenge), step-up (`401
/// insufficient_user_authentication` with `acr_values` and `max_age`), scopes (`403
/// insufficient_scope` naming them), roles and claims (`403 insufficient_scope` without a
/// `scope` attribute: the answer does not say which role or rule was missing, the log line
/// and the rejection hook do). A client that logs in again for the step-up keeps its scopes;
/// one that gets more scopes would still need the step-up.
///
/// ```
/// use std::time::Duration;
/// use http::Method;
/// use portcullis_core::{ClaimRule, ScopeRequirement, StepUp};
/// use portcullis_tower::{Policy, Requirements};
///
/// let transfers = Requirements::new()
///     .scopes(ScopeRequirement::all_of(["payments.write"]))
///     .step_up(StepUp::acr(["mfa"]).and_max_age(Duration::from_secs(300)))
///     .dpop();
/// let deploys = Requirements::new()
///     .roles(ScopeRequirement::all_of(["deployer"]))
///     .claims(ClaimRule::equals("environment", "production"));
/// let policy = Policy::deny_by_default()
///     .route_method(Method::POST, "/transfers", transfers)
///     .route_method(Method::POST, "/deploys", deploys)
///     .build()
///     .unwrap();
/// # let _ = policy;
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Requirements {
    scopes: Option<ScopeRequirement>,
    step_up: Option<StepUp>,
    dpop: bool,
    roles: Option<ScopeRequirement>,
    claims: Option<ClaimRule>,
}

impl From<ScopeRequirement> for Requirements {
    fn from(scopes: ScopeRequirement) -> Self {
        Requirements::new().scopes(scopes)
    }
}

impl From<StepUp> for Requirements {
    fn from(step_up: StepUp) -> Self {
        Requirements::new().step_up(step_up)
    }
}

impl Requirements {
    /// Nothing beyond a valid token (as [`Access::Authenticated`]), until the methods below
    /// add to it.
    #[must_use]
    pub fn new() -> Self {
        Requirements::default()
    }

    /// Requires these scopes (replacing scopes given before).
    #[must_use]
    pub fn scopes(mut self, requirement: ScopeRequirement) -> Self {
        self.scopes = Some(requirement);
        self
    }

    /// Requires this step-up (replacing one given before).
    #[must_use]
    pub fn step_up(mut self, step_up: StepUp) -> Self {
        self.step_up = Some(step_up);
        self
    }

    /// Requires a DPoP-bound token presented with its proof (the layer must accept DPoP:
    /// [`BearerAuthLayer::dpop`](crate::BearerAuthLayer::dpop)).
    #[must_use]
    pub fn dpop(mut self) -> Self {
        self.dpop = true;
        self
    }

    /// Requires these roles (replacing roles given before), a requirement over the token's
    /// [`roles`](Claims::roles): `ScopeRequirement::all_of(["orders-admin"])`, or `any_of`.
    #[must_use]
    pub fn roles(mut self, requirement: ScopeRequirement) -> Self {
        self.roles = Some(requirement);
        self
    }

    /// Requires this rule on the token's claims (replacing a rule given before; combine
    /// several with [`ClaimRule::all_of`] or [`ClaimRule::any_of`]).
    #[must_use]
    pub fn claims(mut self, rule: ClaimRule) -> Self {
        self.claims = Some(rule);
        self
    }

    /// The scopes required, if any.
    #[must_use]
    pub fn scope_requirement(&self) -> Option<&ScopeRequirement> {
        self.scopes.as_ref()
    }

    /// The step-up required, if any.
    #[must_use]
    pub fn step_up_requirement(&self) -> Option<&StepUp> {
        self.step_up.as_ref()
    }

    /// Whether a DPoP proof is required.
    #[must_use]
    pub fn requires_dpop(&self) -> bool {
        self.dpop
    }

    /// The roles required, if any.
    #[must_use]
    pub fn role_requirement(&self) -> Option<&ScopeRequirement> {
        self.roles.as_ref()
    }

    /// The rule on claims required, if any.
    #[must_use]
    pub fn claim_rule(&self) -> Option<&ClaimRule> {
        self.claims.as_ref()
    }

    /// These requirements, if each part can be a route's rule
    /// ([`ScopeRequirement::validated`], [`StepUp::validated`], [`ClaimRule::validated`]).
    ///
    /// # Errors
    /// The [`ConfigError`] of the part that cannot.
    pub fn validated(self) -> Result<Self, ConfigError> {
        if let Some(scopes) = &self.scopes {
            scopes.clone().validated()?;
        }
        if let Some(step_up) = &self.step_up {
            step_up.clone().validated()?;
        }
        if let Some(roles) = &self.roles {
            roles.clone().validated()?;
        }
        if let Some(rule) = &self.claims {
            rule.clone().validated()?;
        }
        Ok(self)
    }

    /// Checks verified claims: `dpop_proven` says whether the layer checked a DPoP proof for
    /// a token bound to its key; `now` is asked (once) only when a step-up is required.
    ///
    /// # Errors
    /// [`ErrorKind::DpopRequired`], [`ErrorKind::InsufficientUserAuthentication`],
    /// [`ErrorKind::InsufficientScope`], [`ErrorKind::InsufficientRoles`] or
    /// [`ErrorKind::InsufficientClaims`], the first that applies.
    pub fn check(
        &self,
        claims: &Claims,
        dpop_proven: bool,
        now: impl FnOnce() -> f64,
    ) -> Result<(), AuthError> {
        if self.dpop && !dpop_proven {
            return Err(ErrorKind::DpopRequired.into());
        }
        if let Some(step_up) = &self.step_up {
            step_up.check(claims, now())?;
        }
        if let Some(scopes) = &self.scopes {
            scopes.check(claims.scopes())?;
        }
        if let Some(roles) = &self.roles
            && !roles.is_satisfied_by(claims.roles())
        {
            return Err(ErrorKind::InsufficientRoles(roles.clone()).into());
        }
        match &self.claims {
            Some(rule) => rule.check(claims),
            None => Ok(()),
        }
    }
}

/// The table. Build it with [`Policy::deny_by_default`] or
/// [`Policy::authenticated_by_default`], then [`PolicyBuilder::build`].
///
/// # Paths are matched in their canonical form
///
/// Before the table is asked, the path is put in its canonical form by
/// [`canonical_path`](crate::canonical_path): escapes of unreserved characters are decoded
/// (`/%61dmin` is matched as `/admin`, as the router behind will read it), and a path that a
/// server could read as another one (an encoded `/` or `\`, a dot segment, `//`, invalid
/// percent-encoding, escapes that are not UTF-8, control characters) gets [`Access::Deny`]:
/// `401` without a token, `403` with one, whatever the rules say. So `/public/..%2Fadmin`
/// never reaches `/admin` through the rule of `/public/**`. Patterns are matched against the
/// canonical form, so write them canonical (`/admin`, not `/%61dmin`).
/// [`PolicyBuilder::danger_accept_ambiguous_paths`] turns the guard off (matching the raw
/// path, as written), for a router that gives such paths a meaning of its own.
#[derive(Debug, Clone)]
pub struct Policy {
    rules: Box<[Rule]>,
    default: Access,
    /// Match raw paths, ambiguous ones included
    /// ([`PolicyBuilder::danger_accept_ambiguous_paths`]).
    raw_paths: bool,
}

/// What an ambiguous path gets.
static DENY: Access = Access::Deny;

#[derive(Debug, Clone)]
struct Rule {
    method: Option<Method>,
    pattern: Pattern,
    access: Access,
}

/// Builds a [`Policy`].
#[derive(Debug, Clone)]
#[must_use]
pub struct PolicyBuilder {
    rules: Vec<(Option<Method>, String, Access)>,
    default: Access,
    raw_paths: bool,
}

/// The error of a rule in the table: `Invalid { setting: "policy" }`, naming the pattern.
fn invalid(pattern: &str, reason: impl fmt::Display) -> ConfigError {
    ConfigError::invalid("policy", format!("route pattern {pattern:?}: {reason}"))
}

impl Policy {
    /// A table whose unmatched requests are refused.
    pub fn deny_by_default() -> PolicyBuilder {
        PolicyBuilder {
            rules: Vec::new(),
            default: Access::Deny,
            raw_paths: false,
        }
    }

    /// A table whose unmatched requests need any valid token.
    pub fn authenticated_by_default() -> PolicyBuilder {
        PolicyBuilder {
            rules: Vec::new(),
            default: Access::Authenticated,
            raw_paths: false,
        }
    }

    /// What a request with this method and path requires: the first matching rule's access
    /// for the path's canonical form, [`Access::Deny`] for an ambiguous path (see
    /// [`Policy`]).
    #[must_use]
    pub fn access(&self, method: &Method, path: &str) -> &Access {
        if self.raw_paths {
            return self.lookup(method, path);
        }
        match crate::path::canonical_path(path) {
            Ok(canonical) => self.lookup(method, &canonical),
            Err(ambiguous) => {
                tracing::debug!(
                    target: "portcullis::auth",
                    reason = ambiguous.kind().code(), %method,
                    "ambiguous path denied by the policy: {ambiguous}"
                );
                &DENY
            }
        }
    }

    /// Every scope a rule of the table (or its default) names, each once, in the order of
    /// the rules: what a resource's metadata lists as `scopes_supported`.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        let mut seen: Vec<&str> = Vec::new();
        let accesses = self.rules.iter().map(|r| &r.access).chain([&self.default]);
        for access in accesses {
            let requirement = match access {
                Access::Scopes(r) => Some(r),
                Access::Requires(r) => r.scope_requirement(),
                _ => None,
            };
            for scope in requirement
                .into_iter()
                .flat_map(|r| r.alternatives().flatten())
            {
                if !seen.contains(&scope) {
                    seen.push(scope);
                }
            }
        }
        seen.into_iter()
    }

    /// The first rule matching `path` as it is.
    fn lookup(&self, method: &Method, path: &str) -> &Access {
        self.rules
            .iter()
            .find(|rule| {
                rule.method
                    .as_ref()
                    .is_none_or(|m| covers_method(m, method))
                    && rule.pattern.matches(path)
            })
            .map_or(&self.default, |rule| &rule.access)
    }
}

/// Whether a rule for `rule` applies to a request with `method`: the same method, and `GET`
/// rules also for `HEAD`, which routers (axum among them) answer with the `GET` handler.
fn covers_method(rule: &Method, method: &Method) -> bool {
    rule == method || (*rule == Method::GET && *method == Method::HEAD)
}

impl PolicyBuilder {
    /// A rule for every method.
    pub fn route(mut self, pattern: impl Into<String>, access: impl Into<Access>) -> Self {
        self.rules.push((None, pattern.into(), access.into()));
        self
    }

    /// A rule for one method.
    pub fn route_method(
        mut self,
        method: Method,
        pattern: impl Into<String>,
        access: impl Into<Access>,
    ) -> Self {
        self.rules
            .push((Some(method), pattern.into(), access.into()));
        self
    }

    /// No token needed for this pattern, any method.
    pub fn public(self, pattern: impl Into<String>) -> Self {
        self.route(pattern, Access::Public)
    }

    /// Matches the raw path, as written, and asks the table about ambiguous paths too
    /// (`/public/..%2Fadmin` then matches `/public/**`): a weakening, for a router that gives
    /// encoded separators or dot segments a meaning of its own and checks them itself. By
    /// default paths are matched in their canonical form and ambiguous ones are denied (see
    /// [`Policy`]).
    pub fn danger_accept_ambiguous_paths(mut self) -> Self {
        self.raw_paths = true;
        self
    }

    /// The standard gRPC health service (`/grpc.health.v1.Health/*`) is public.
    pub fn public_grpc_health(self) -> Self {
        self.public("/grpc.health.v1.Health/*")
    }

    /// The standard gRPC reflection services (v1 and v1alpha) are public.
    pub fn public_grpc_reflection(self) -> Self {
        self.public("/grpc.reflection.v1.ServerReflection/*")
            .public("/grpc.reflection.v1alpha.ServerReflection/*")
    }

    /// The table.
    ///
    /// # Errors
    /// A [`ConfigError`] (kind `Invalid`, setting `policy` or `scopes`) for a pattern that does not start with `/`, has an empty segment, or
    /// has `**` anywhere but at the end; for a scope that is not an RFC 6749 scope token; and
    /// for a rule that can never apply because an earlier rule matches every request it
    /// would (first match wins, so `/pkg.S/*` before `/pkg.S/Create` would silently give
    /// `Create` the service's requirement).
    pub fn build(self) -> Result<Policy, ConfigError> {
        let mut rules: Vec<Rule> = Vec::with_capacity(self.rules.len());
        for (method, text, access) in self.rules {
            let pattern = Pattern::parse(&text)?;
            match &access {
                Access::Scopes(requirement) => {
                    requirement.clone().validated()?;
                }
                Access::Requires(requirements) => {
                    requirements.clone().validated()?;
                }
                _ => {}
            }
            let hidden = rules.iter().any(|earlier| {
                let methods = match (&earlier.method, &method) {
                    (None, _) => true,
                    (Some(_), None) => false,
                    (Some(e), Some(m)) => covers_method(e, m),
                };
                methods && earlier.pattern.covers(&pattern)
            });
            if hidden {
                return Err(invalid(
                    &text,
                    "an earlier rule matches every request this one would (first match wins: put the more specific rule first)",
                ));
            }
            rules.push(Rule {
                method,
                pattern,
                access,
            });
        }
        Ok(Policy {
            rules: rules.into(),
            default: self.default,
            raw_paths: self.raw_paths,
        })
    }
}

/// Whether `segment` is its own canonical form.
fn is_canonical_segment(segment: &str) -> bool {
    let path = format!("/{segment}");
    crate::path::canonical_path(&path).is_ok_and(|c| c == path)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(Box<str>),
    One,
    Rest,
}

#[derive(Debug, Clone)]
struct Pattern {
    segments: Box<[Segment]>,
}

impl Pattern {
    fn parse(pattern: &str) -> Result<Self, ConfigError> {
        let fail = |reason: &str| invalid(pattern, reason);
        let rest = pattern
            .strip_prefix('/')
            .ok_or_else(|| fail("must start with `/`"))?;
        if rest.is_empty() {
            return Ok(Pattern {
                segments: Box::new([]),
            });
        }
        let parts: Vec<&str> = rest.split('/').collect();
        let last = parts.len() - 1;
        let mut segments = Vec::with_capacity(parts.len());
        for (i, part) in parts.into_iter().enumerate() {
            segments.push(match part {
                "" => return Err(fail("empty segment")),
                "**" if i == last => Segment::Rest,
                "**" => return Err(fail("`**` must be the last segment")),
                "*" => Segment::One,
                // axum 0.8's catch-all: the rest of the path.
                p if p.starts_with("{*") && p.ends_with('}') && i == last => Segment::Rest,
                p if p.starts_with("{*") => {
                    return Err(fail("a `{*catch_all}` must be the last segment"));
                }
                p if p.starts_with('{') && p.ends_with('}') && p.len() > 2 => {
                    let name = p.get(1..p.len() - 1).unwrap_or_default();
                    if name.contains(['{', '}', '*', '/']) {
                        return Err(fail("a `{param}` segment holds a name only"));
                    }
                    Segment::One
                }
                // Patterns in other routers' syntax would silently match nothing.
                p if p.starts_with(':') => {
                    return Err(fail(
                        "`:param` is not a pattern here: write `{param}` or `*`",
                    ));
                }
                p if p.contains(['*', '{', '}']) => {
                    return Err(fail("`*`, `{` and `}` only as a whole segment"));
                }
                // A literal is matched against canonical paths: one that is not canonical
                // itself would match nothing.
                p if !is_canonical_segment(p) => {
                    return Err(fail(
                        "a literal segment must be canonical (no `.`/`..`, `\\`, control \
                         characters or escapes of unreserved characters)",
                    ));
                }
                p => Segment::Literal(p.into()),
            });
        }
        Ok(Pattern {
            segments: segments.into(),
        })
    }

    /// Whether every path `other` matches, this pattern matches too.
    fn covers(&self, other: &Pattern) -> bool {
        let mut mine = self.segments.iter();
        let mut theirs = other.segments.iter();
        loop {
            match (mine.next(), theirs.next()) {
                (None, None) => return true,
                (Some(Segment::Rest), _) => return true,
                (None, Some(_)) | (Some(_), None) => return false,
                (Some(_), Some(Segment::Rest)) => return false,
                (Some(Segment::One), Some(_)) => {}
                (Some(Segment::Literal(a)), Some(Segment::Literal(b))) if a == b => {}
                (Some(Segment::Literal(_)), Some(_)) => return false,
            }
        }
    }

    fn matches(&self, path: &str) -> bool {
        let Some(rest) = path.strip_prefix('/') else {
            return false;
        };
        let mut parts = if rest.is_empty() {
            None
        } else {
            Some(rest.split('/'))
        };
        for segment in self.segments.iter() {
            if *segment == Segment::Rest {
                return true;
            }
            let Some(part) = parts.as_mut().and_then(Iterator::next) else {
                return false;
            };
            match segment {
                Segment::Literal(literal) if **literal == *part => {}
                Segment::One if !part.is_empty() => {}
                _ => return false,
            }
        }
        parts.is_none_or(|mut p| p.next().is_none())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tables_scopes_are_listed_once_in_the_order_of_its_rules() {
        let policy = Policy::authenticated_by_default()
            .public("/health")
            .route("/a", ScopeRequirement::all_of(["read"]))
            .route(
                "/b",
                Requirements::new().scopes(ScopeRequirement::any_of(["write", "read", "admin"])),
            )
            .route("/c", Requirements::new().step_up(StepUp::acr(["mfa"])))
            .build()
            .unwrap();
        assert_eq!(
            policy.scopes().collect::<Vec<_>>(),
            ["read", "write", "admin"]
        );
        let none = Policy::deny_by_default().public("/x").build().unwrap();
        assert_eq!(none.scopes().count(), 0);
    }

    #[test]
    fn requirements_from_one_part_hold_that_part_only() {
        let step_up = StepUp::acr(["mfa"]);
        let scopes = ScopeRequirement::all_of(["read"]);
        assert_eq!(
            Requirements::from(step_up.clone()),
            Requirements::new().step_up(step_up.clone())
        );
        assert_eq!(
            Requirements::from(step_up.clone()).step_up_requirement(),
            Some(&step_up)
        );
        assert_eq!(
            Requirements::from(scopes.clone()).scope_requirement(),
            Some(&scopes)
        );
        assert!(Requirements::new().dpop().requires_dpop());
        assert!(!Requirements::new().requires_dpop());
        assert_eq!(
            Access::from(step_up.clone()),
            Access::Requires(step_up.into())
        );
    }

    fn matches(pattern: &str, path: &str) -> bool {
        Pattern::parse(pattern).unwrap().matches(path)
    }

    #[test]
    fn patterns_match_whole_segments() {
        assert!(matches("/", "/"));
        assert!(!matches("/", "/a"));
        assert!(matches("/orders", "/orders"));
        assert!(!matches("/orders", "/orders/"));
        assert!(!matches("/orders", "/ordersx"));
        assert!(!matches("/orders", "/orders/1"));
        assert!(matches("/orders/*", "/orders/1"));
        assert!(matches("/orders/{id}", "/orders/1"));
        assert!(!matches("/orders/*", "/orders"));
        assert!(!matches("/orders/*", "/orders/"));
        assert!(!matches("/orders/*", "/orders/1/items"));
        assert!(matches("/orders/**", "/orders"));
        assert!(matches("/orders/**", "/orders/1/items"));
        assert!(!matches("/orders/**", "/orderss"));
        assert!(matches("/**", "/anything/at/all"));
        assert!(matches("/pkg.Orders/*", "/pkg.Orders/Get"));
        assert!(!matches("/pkg.Orders/*", "/pkg.OrdersAdmin/Get"));
        assert!(!matches("/a", "a"));
    }

    #[test]
    fn a_rule_hidden_by_an_earlier_one_is_refused() {
        let read = ScopeRequirement::any_of(["read"]);
        let write = ScopeRequirement::any_of(["write"]);
        let hidden = Policy::deny_by_default()
            .route("/pkg.S/*", read.clone())
            .route_method(Method::POST, "/pkg.S/Create", write.clone())
            .build();
        assert!(hidden.unwrap_err().to_string().contains("earlier rule"));
        for (first, second) in [
            ("/**", "/a"),
            ("/a/**", "/a/b/c"),
            ("/a/*", "/a/{id}"),
            ("/a", "/a"),
        ] {
            let p = Policy::deny_by_default()
                .public(first)
                .public(second)
                .build();
            assert!(p.is_err(), "{first} hides {second}");
        }
        // The specific rule first is the right order; a method-only earlier rule hides nothing
        // for other methods; overlapping but not covering patterns are fine.
        for builder in [
            Policy::deny_by_default()
                .route_method(Method::POST, "/pkg.S/Create", write.clone())
                .route("/pkg.S/*", read.clone()),
            Policy::deny_by_default()
                .route_method(Method::GET, "/a/*", read)
                .route_method(Method::POST, "/a/*", write),
            Policy::deny_by_default().public("/a/*").public("/a/**"),
            Policy::deny_by_default().public("/a/b").public("/a/*"),
        ] {
            builder.build().unwrap();
        }
    }

    #[test]
    fn invalid_scopes_are_refused() {
        for bad in ["", "a b", "a\"b"] {
            let p = Policy::deny_by_default()
                .route("/x", ScopeRequirement::any_of([bad]))
                .build();
            assert!(p.is_err(), "{bad:?}");
        }
    }

    #[test]
    fn head_requests_follow_get_rules() {
        let admin = ScopeRequirement::all_of(["admin"]);
        let p = Policy::authenticated_by_default()
            .route_method(Method::GET, "/admin/export", admin.clone())
            .build()
            .unwrap();
        assert_eq!(
            p.access(&Method::HEAD, "/admin/export"),
            &Access::Scopes(admin.clone())
        );
        assert_eq!(
            p.access(&Method::POST, "/admin/export"),
            &Access::Authenticated
        );
        // A HEAD rule after a GET rule for the same paths can never apply.
        assert!(
            Policy::deny_by_default()
                .route_method(Method::GET, "/a", admin)
                .route_method(Method::HEAD, "/a", Access::Public)
                .build()
                .is_err()
        );
    }

    #[test]
    fn axum_catch_all_segments_cover_the_rest_of_the_path() {
        assert!(matches("/files/{*path}", "/files/a"));
        assert!(matches("/files/{*path}", "/files/a/b/c"));
        assert!(!matches("/files/{*path}", "/other/a"));
        for bad in [
            "/files/{*path}/x",
            "/:id",
            "/a*",
            "/{a",
            "/a}",
            "/{}",
            "/{a/b}",
        ] {
            assert!(Pattern::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_requirement_that_names_no_scope_is_refused() {
        for empty in [
            ScopeRequirement::all_of(Vec::<String>::new()),
            ScopeRequirement::any_of(Vec::<String>::new()),
            ScopeRequirement::any_of_all([vec!["a"], vec![]]),
        ] {
            assert!(
                Policy::deny_by_default()
                    .route("/x", empty)
                    .build()
                    .is_err()
            );
        }
    }

    #[test]
    fn paths_are_matched_in_canonical_form_and_ambiguous_ones_denied() {
        let admin = ScopeRequirement::all_of(["admin"]);
        let p = Policy::deny_by_default()
            .route("/admin/**", admin.clone())
            .public("/public/**")
            .build()
            .unwrap();
        let get = Method::GET;
        assert_eq!(p.access(&get, "/%61dmin"), &Access::Scopes(admin.clone()));
        assert_eq!(p.access(&get, "/%61dmin/x"), &Access::Scopes(admin));
        for ambiguous in [
            "/public/..%2Fadmin",
            "/public/%2e%2e/admin",
            "/public/../admin",
            "/public/..;/admin",
            "/public//x",
            "/public/%zz",
            "/public/%ff",
            "/public/a%5Cb",
            "/public/a\\b",
        ] {
            assert_eq!(p.access(&get, ambiguous), &Access::Deny, "{ambiguous}");
        }
        assert_eq!(p.access(&get, "/public/a%3Bb"), &Access::Public);

        let raw = Policy::deny_by_default()
            .public("/public/**")
            .danger_accept_ambiguous_paths()
            .build()
            .unwrap();
        assert_eq!(raw.access(&get, "/public/..%2Fadmin"), &Access::Public);
        assert_eq!(raw.access(&get, "/%70ublic/x"), &Access::Deny);
    }

    #[test]
    fn literal_segments_must_be_canonical() {
        for bad in ["/%61dmin", "/a/../b", "/a/.", "/a\\b", "/a%zz", "/a%3bb"] {
            assert!(Pattern::parse(bad).is_err(), "{bad}");
        }
        for good in ["/a%3Bb", "/a;b", "/.well-known/**"] {
            assert!(Pattern::parse(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn bad_patterns_are_refused() {
        for bad in ["orders", "/a//b", "/**/a", "/a/"] {
            assert!(Pattern::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_first_matching_rule_decides_and_the_default_covers_the_rest() {
        let read = ScopeRequirement::any_of(["read"]);
        let p = Policy::deny_by_default()
            .route_method(Method::GET, "/items/**", read.clone())
            .route("/items/**", Access::Authenticated)
            .public_grpc_health()
            .build()
            .unwrap();
        assert_eq!(p.access(&Method::GET, "/items/1"), &Access::Scopes(read));
        assert_eq!(p.access(&Method::PUT, "/items/1"), &Access::Authenticated);
        assert_eq!(p.access(&Method::GET, "/other"), &Access::Deny);
        assert_eq!(
            p.access(&Method::POST, "/grpc.health.v1.Health/Check"),
            &Access::Public
        );
        let open = Policy::authenticated_by_default().build().unwrap();
        assert_eq!(open.access(&Method::GET, "/x"), &Access::Authenticated);
    }
}
