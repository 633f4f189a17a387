//! [`BearerAuthLayer`]: the configuration, and what it wraps a service in.

use std::fmt;
use std::sync::Arc;

use http::Response;
use portcullis_core::dpop::Dpop;
use portcullis_core::{ScopeRequirement, StepUp, Verifier};
use tower_layer::Layer;

use crate::answer::{Answers, Rejection};
use crate::credentials::TokenSources;
use crate::policy::{Access, Policy, Requirements};
use crate::respond::{DefaultAnswer, JsonAnswer};
use crate::scopes::RequireScopesLayer;
use crate::service::{BearerAuth, Settings};

/// Verifies the bearer token of every request before the wrapped service sees it.
///
/// A request passes with the verified [`Claims`](portcullis_core::Claims) in its extensions;
/// anything else is answered as [`answer`](crate::answer()) says (401, 400, 403 or 503, or a
/// gRPC status), and the precise reason is logged at `debug` on the `portcullis::auth` target
/// (503s at `warn`), never the token.
///
/// Put it on axum's `route_layer` (or on a router whose every route it protects) so that
/// unknown paths still answer 404 rather than 401.
#[must_use]
pub struct BearerAuthLayer<H = DefaultAnswer> {
    pub(crate) settings: Arc<Settings>,
    pub(crate) hook: Arc<H>,
}

/// The answers, with the `DPoP` challenge of these rules.
fn with_dpop(answers: Answers, dpop: &Dpop) -> Answers {
    answers.dpop(dpop.algorithms().iter(), !dpop.is_required())
}

/// `answers` as the layer words them: with its `DPoP` challenge and its metadata's URL.
fn worded(answers: Answers, settings: &Settings) -> Answers {
    let answers = match &settings.dpop {
        Some(dpop) => with_dpop(answers, dpop),
        None => answers,
    };
    match &settings.metadata {
        Some(metadata) => answers.resource_metadata(metadata.url()),
        None => answers,
    }
}

impl BearerAuthLayer {
    /// Every request needs a token that `verifier` accepts.
    pub fn new(verifier: impl Verifier) -> Self {
        Self::from_arc(Arc::new(verifier))
    }

    /// As [`BearerAuthLayer::new`], for a verifier already shared.
    pub fn from_arc(verifier: Arc<dyn Verifier>) -> Self {
        BearerAuthLayer {
            settings: Arc::new(Settings {
                b64_only: verifier.accepts_only_b64tokens(),
                verifier,
                sources: TokenSources::default(),
                optional: false,
                policy: None,
                access: Access::Authenticated,
                answers: Arc::new(Answers::default()),
                origin: None,
                forwarded: None,
                dpop: None,
                certificate: Default::default(),
                metadata: None,
            }),
            hook: Arc::new(DefaultAnswer),
        }
    }
}

impl<H> BearerAuthLayer<H> {
    /// Where the client certificate of each request comes from, for certificate-bound tokens
    /// (RFC 8705): by default the connection only (a
    /// [`CertificateThumbprint`](portcullis_core::CertificateThumbprint) your TLS acceptor
    /// put in the request's extensions). A proxy header is read only when set here, and then
    /// only the header counts. A malformed header is answered `400 invalid_request`.
    ///
    /// ```
    /// # use portcullis_tower::{BearerAuthLayer, CertificateSource};
    /// # fn with(auth: BearerAuthLayer) {
    /// // Behind Envoy, with `forward_client_cert_details: SANITIZE_SET`.
    /// let auth = auth.client_certificate_from(CertificateSource::ForwardedClientCert);
    /// # }
    /// ```
    ///
    /// # Deployment caveat
    /// Set a header source only behind a proxy that terminates TLS and overwrites the header
    /// on every request, and that no client can go around: see
    /// [`CertificateSource`](crate::CertificateSource).
    pub fn client_certificate_from(mut self, source: crate::CertificateSource) -> Self {
        Arc::make_mut(&mut self.settings).certificate = source;
        self
    }

    /// Where tokens are looked for besides `Authorization: Bearer`.
    pub fn token_sources(mut self, sources: TokenSources) -> Self {
        Arc::make_mut(&mut self.settings).sources = sources;
        self
    }

    /// Optional authentication: a request without any token passes, unauthenticated (no
    /// claims in its extensions); a request with an invalid token is still refused. Handlers
    /// read `Option<Verified<T>>`. With a [`Policy`], this applies to the routes whose access
    /// is [`Access::Authenticated`](crate::Access::Authenticated); routes that need scopes
    /// still need a token. (A policy can also make single routes optional with
    /// [`Access::Optional`](crate::Access::Optional).)
    pub fn optional(mut self) -> Self {
        Arc::make_mut(&mut self.settings).optional = true;
        self
    }

    /// Requirements per method and path, read before the token: `Public` routes skip the
    /// layer, `Scopes` routes need the scopes, `Requires` routes all their requirements
    /// (scopes, step-up, DPoP), `Deny` routes refuse.
    ///
    /// # Panics
    /// On a layer made by [`BearerAuthLayer::with_scopes`]: the policy would decide instead
    /// of those scopes, so one of the two would be ignored (a programming error, caught when
    /// the router is built). Put the scopes in the policy's rules.
    #[allow(clippy::panic)] // Documented, at start.
    pub fn policy(mut self, policy: Policy) -> Self {
        if self.settings.access != Access::Authenticated {
            panic!("portcullis: a layer with its own scopes cannot take a policy too");
        }
        if let Some(metadata) = &self.settings.metadata {
            metadata.add_scopes(policy.scopes());
        }
        Arc::make_mut(&mut self.settings).policy = Some(Arc::new(policy));
        self
    }

    /// This layer, also requiring every one of `scopes` of each token it accepts: one layer
    /// that verifies and checks, for axum's `route_layer`:
    /// `.route_layer(auth.with_scopes(["orders.read"]))` (replacing any scopes this layer
    /// required before). A token without them is answered
    /// `403 insufficient_scope` naming them; a request without a token `401`, even on an
    /// [`optional`](BearerAuthLayer::optional) layer.
    ///
    /// It costs less than the same check as a second layer ([`BearerAuthLayer::require_scopes`]
    /// behind `route_layer(auth)`): axum boxes every route layer, one allocation or two per
    /// request each. The second-layer form is for scopes that differ per method of one path.
    ///
    /// # Panics
    /// As [`BearerAuthLayer::require_scopes`], and on a layer with a [`Policy`], whose rules
    /// decide instead (put the scopes there): programming errors, caught when the router is
    /// built.
    pub fn with_scopes<I, S>(&self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.with_requirement(ScopeRequirement::all_of(scopes))
    }

    /// As [`BearerAuthLayer::with_scopes`], with any scope requirement (any-of, all-of,
    /// alternatives of sets).
    ///
    /// # Panics
    /// As [`BearerAuthLayer::with_scopes`].
    #[allow(clippy::panic)] // Documented, at start.
    pub fn with_requirement(&self, requirement: ScopeRequirement) -> Self {
        let requirement = match requirement.validated() {
            Ok(requirement) => requirement,
            Err(error) => panic!("portcullis: {error}"),
        };
        self.with_own(|own| own.scopes(requirement))
    }

    /// This layer, also requiring a step-up (RFC 9470) of each token it accepts: an `acr`
    /// among the given values and/or an authentication no older than a maximum age, read
    /// from the token's `acr` and `auth_time` claims on the verifier's clock. A token that
    /// falls short (or lacks the claim) is answered `401` with
    /// `error="insufficient_user_authentication"`, `acr_values` and `max_age`, so that the
    /// client asks its authorization server for that login. Combines with
    /// [`BearerAuthLayer::with_scopes`] (either order; step-up is checked first).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use portcullis_core::StepUp;
    /// # use portcullis_tower::BearerAuthLayer;
    /// # fn with(auth: BearerAuthLayer) {
    /// let sensitive = auth
    ///     .with_scopes(["records.read"])
    ///     .with_step_up(StepUp::acr(["mfa"]).and_max_age(Duration::from_secs(300)));
    /// # }
    /// ```
    ///
    /// # Panics
    /// When the step-up requires nothing or names an `acr` value a challenge cannot carry
    /// ([`StepUp::validated`]), and on a layer with a [`Policy`] (put it in the policy's
    /// rules, [`Requirements::step_up`]): programming errors, caught when the router is built.
    pub fn with_step_up(&self, step_up: StepUp) -> Self {
        let step_up = crate::scopes::valid_step_up(step_up);
        self.with_own(|own| own.step_up(step_up))
    }

    /// This layer, requiring all of `requirements` of each token it accepts (scopes,
    /// step-up, DPoP), replacing what it required before.
    ///
    /// # Panics
    /// When a part cannot be a route's rule ([`Requirements::validated`]), and on a layer
    /// with a [`Policy`].
    #[allow(clippy::panic)] // Documented, at start.
    pub fn with_requirements(&self, requirements: Requirements) -> Self {
        let requirements = match requirements.validated() {
            Ok(requirements) => requirements,
            Err(error) => panic!("portcullis: {error}"),
        };
        self.with_own(|_| requirements)
    }

    /// This layer with its own requirements changed by `change`.
    #[allow(clippy::panic)] // Documented on each caller, at start.
    fn with_own(&self, change: impl FnOnce(Requirements) -> Requirements) -> Self {
        if self.settings.policy.is_some() {
            panic!(
                "portcullis: a layer with a policy takes its requirements from the policy's rules"
            );
        }
        let own = match &self.settings.access {
            Access::Scopes(scopes) => Requirements::new().scopes(scopes.clone()),
            Access::Requires(requirements) => requirements.clone(),
            _ => Requirements::new(),
        };
        let own = change(own);
        self.advertise(&own);
        // Scopes alone keep their own variant (the measured path of `with_scopes`).
        let more = own.step_up_requirement().is_some()
            || own.requires_dpop()
            || own.role_requirement().is_some()
            || own.claim_rule().is_some();
        let access = match own.scope_requirement() {
            Some(scopes) if !more => Access::Scopes(scopes.clone()),
            None if !more => Access::Authenticated,
            _ => Access::Requires(own),
        };
        let mut layer = self.clone();
        Arc::make_mut(&mut layer.settings).access = access;
        layer
    }

    /// How refusals are worded (realm, `error_description`, `Retry-After`).
    pub fn answers(mut self, answers: Answers) -> Self {
        let settings = Arc::make_mut(&mut self.settings);
        settings.answers = Arc::new(worded(answers, settings));
        self
    }

    /// The protected resource's metadata (RFC 9728): every challenge of this layer (and of
    /// the scope layers, extractors and gRPC helpers behind it) then carries
    /// `resource_metadata` with its URL, from which a client learns where to get a token.
    /// Mount the document itself outside the layer, with
    /// [`BearerAuthLayer::metadata`]: `.route_service(metadata.path(), metadata)`.
    ///
    /// The verifier decides which audiences it accepts: give it the resource identifier
    /// too ([`ValidatorBuilder::resource`](portcullis_core::ValidatorBuilder::resource); the
    /// facade's `resource` does both).
    pub fn resource_metadata(mut self, metadata: crate::ResourceMetadata) -> Self {
        let settings = Arc::make_mut(&mut self.settings);
        settings.answers = Arc::new(
            (*settings.answers)
                .clone()
                .resource_metadata(metadata.url()),
        );
        if let Some(policy) = &settings.policy {
            metadata.add_scopes(policy.scopes());
        }
        let own = match &settings.access {
            Access::Scopes(scopes) => Some(scopes),
            Access::Requires(requirements) => requirements.scope_requirement(),
            _ => None,
        };
        metadata.add_scopes(own.into_iter().flat_map(|r| r.alternatives().flatten()));
        settings.metadata = Some(metadata);
        self
    }

    /// Lists the scopes `requirements` name in the metadata's `scopes_supported`, if this
    /// layer serves metadata.
    fn advertise(&self, requirements: &Requirements) {
        if let (Some(metadata), Some(scopes)) =
            (&self.settings.metadata, requirements.scope_requirement())
        {
            metadata.add_scopes(scopes.alternatives().flatten());
        }
    }

    /// The MCP profile of this layer (feature `mcp`; see [`mcp`](crate::mcp)): this layer
    /// around a check of each `tools/call` against its tool's requirement in `tools`, with
    /// the tools' scopes added to the metadata's `scopes_supported`. For axum's
    /// `route_layer` on the MCP endpoint.
    ///
    /// # Errors
    /// A [`ConfigError`](portcullis_core::ConfigError) when this layer reads tokens from
    /// anywhere but the `Authorization` header (setting `token_sources`: MCP clients send
    /// them there only, and a token in a cookie or a URL is one a browser or a log can
    /// leak), when it has no resource metadata (setting `resource`: MCP clients find the
    /// authorization server through it), or when `tools` cannot work.
    ///
    /// With a [`Policy`], the layer checks the policy's rule for the MCP endpoint; a tool's
    /// refusal then names the tool's scopes only (the base scopes folded into it are those
    /// of [`BearerAuthLayer::with_scopes`] or [`BearerAuthLayer::with_requirements`]).
    #[cfg(feature = "mcp")]
    pub fn mcp(
        &self,
        tools: crate::mcp::ToolScopes,
    ) -> Result<crate::mcp::McpLayer<H>, portcullis_core::ConfigError> {
        crate::mcp::McpLayer::new(self, tools)
    }

    /// The metadata given to [`BearerAuthLayer::resource_metadata`], to mount.
    #[must_use]
    pub fn metadata(&self) -> Option<crate::ResourceMetadata> {
        self.settings.metadata.clone()
    }

    /// The public origin clients address (`https://api.example.com`), from which the
    /// verifier learns each request's public target URI (for DPoP's `htu`). Never guessed
    /// from the `Host` header.
    /// Replaces [`BearerAuthLayer::forwarded_origins`].
    pub fn public_origin(mut self, origin: impl Into<String>) -> Self {
        let origin = origin.into();
        let origin = origin.trim_end_matches('/');
        let settings = Arc::make_mut(&mut self.settings);
        settings.origin = Some(origin.into());
        settings.forwarded = None;
        self
    }

    /// Several public origins for one API reached under several names, each request's
    /// chosen by the forwarded header of a trusted proxy among the configured ones (the
    /// first when no trusted proxy names another): see [`ForwardedOrigins`](crate::ForwardedOrigins).
    /// Replaces [`BearerAuthLayer::public_origin`].
    pub fn forwarded_origins(mut self, origins: crate::ForwardedOrigins) -> Self {
        let settings = Arc::make_mut(&mut self.settings);
        settings.forwarded = Some(Arc::new(origins));
        settings.origin = None;
        self
    }

    /// Accepts DPoP-bound tokens (RFC 9449) under these rules: `Authorization: DPoP` with
    /// one `DPoP` proof header, checked before the token and bound to it; bearer tokens too
    /// unless the rules require DPoP. Challenges name the `DPoP` scheme with its `algs` (and
    /// `Bearer` beside it where bearer tokens are accepted). Needs the public origin
    /// ([`BearerAuthLayer::public_origin`]) for the proofs' `htu`: without it every proof is
    /// refused (`ProofError::UnknownTargetUri`); the facade's builder refuses to build so.
    pub fn dpop(mut self, dpop: Dpop) -> Self {
        let settings = Arc::make_mut(&mut self.settings);
        settings.answers = Arc::new(with_dpop((*settings.answers).clone(), &dpop));
        settings.dpop = Some(dpop);
        self
    }

    /// Builds each refusal's response with `hook`, which receives the typed reason and the
    /// default answer: the layer's refusals, those of the scope layers it makes afterwards,
    /// and those of the axum extractors and gRPC helpers behind it.
    ///
    /// ```
    /// # use portcullis_tower::BearerAuthLayer;
    /// # fn with(auth: BearerAuthLayer) {
    /// let auth = auth.on_rejection(|rejection, answer| {
    ///     let code = rejection.error_code().unwrap_or("unauthorized");
    ///     answer.map(|()| axum::body::Body::from(format!(r#"{{"error":"{code}"}}"#)))
    /// });
    /// # }
    /// ```
    pub fn on_rejection<F, B>(self, hook: F) -> BearerAuthLayer<F>
    where
        F: Fn(&Rejection, Response<()>) -> Response<B> + Send + Sync + 'static,
    {
        BearerAuthLayer {
            settings: self.settings,
            hook: Arc::new(hook),
        }
    }

    /// Builds each refusal's response with `hook`, any [`OnRejection`](crate::OnRejection) implementation (for a
    /// closure, [`BearerAuthLayer::on_rejection`] infers its types without annotations).
    pub fn rejection_hook<H2>(self, hook: H2) -> BearerAuthLayer<H2> {
        BearerAuthLayer {
            settings: self.settings,
            hook: Arc::new(hook),
        }
    }

    /// Answers every refusal with a JSON body ([`JsonAnswer`]): `{"error":"invalid_token"}`.
    pub fn json_rejections(self) -> BearerAuthLayer<JsonAnswer> {
        BearerAuthLayer {
            settings: self.settings,
            hook: Arc::new(JsonAnswer),
        }
    }

    /// The state of each key source the verifier depends on, by its configured name (see
    /// [`portcullis_core::health`]): for a readiness probe of your own, or a dashboard.
    #[must_use]
    pub fn health(&self) -> Vec<portcullis_core::health::SourceHealth> {
        self.settings.verifier.health()
    }

    /// A readiness probe (feature `axum`): `200` while every key source can verify tokens,
    /// `503` when one cannot (no keys yet, or past the staleness limit of an outage), with
    /// each source's state in a plain-text body. Mount it with
    /// `.route_service("/ready", auth.readiness())`, outside the layer.
    #[cfg(feature = "axum")]
    pub fn readiness(&self) -> crate::Readiness {
        crate::Readiness::new(self.settings.verifier.clone())
    }

    /// A layer for axum's `route_layer` that requires a DPoP-bound token (RFC 9449), which
    /// this layer accepted only with its proof: on a layer that accepts bearer tokens too,
    /// the routes that hold money or health data can still insist on DPoP. A bearer token
    /// there is answered `401` with the `DPoP` challenge. Combine with scopes:
    /// `auth.require_scopes(["pay"]).and_dpop()`. On a layer without DPoP (no `dpop(..)`)
    /// no request can pass such a route: each is answered `401` with a `Bearer` challenge.
    pub fn require_dpop(&self) -> RequireScopesLayer<H> {
        RequireScopesLayer::dpop_only(self.settings.answers.clone(), self.hook.clone())
    }

    /// A layer for axum's `route_layer` that requires a step-up (RFC 9470) of the token this
    /// layer verified, as [`BearerAuthLayer::with_step_up`] does, for routes behind a layer
    /// shared with others: `.route_layer(auth.require_step_up(StepUp::acr(["mfa"])))`.
    /// Combine with scopes: `auth.require_scopes(["pay"]).and_step_up(..)`.
    ///
    /// # Panics
    /// As [`BearerAuthLayer::with_step_up`] (the step-up part).
    pub fn require_step_up(&self, step_up: StepUp) -> RequireScopesLayer<H> {
        RequireScopesLayer::step_up_only(step_up, self.settings.answers.clone(), self.hook.clone())
    }

    /// A layer for axum's `route_layer` that requires every one of `roles`, read from the
    /// verified token's [`roles`](portcullis_core::Claims::roles) (the issuer's role sources:
    /// `roles` by default; Keycloak's `realm_access.roles`, Cognito's `cognito:groups`...
    /// with a profile): `.route_layer(auth.require_roles(["orders-admin"]))`. A token
    /// without them is answered `403 insufficient_scope`, without naming the roles.
    ///
    /// # Panics
    /// When the list is empty or a role is empty or holds a space, `"` or `\`: a programming
    /// error, caught when the router is built.
    pub fn require_roles<I, S>(&self, roles: I) -> RequireScopesLayer<H>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.require(Requirements::new().roles(ScopeRequirement::all_of(roles)))
    }

    /// A layer for axum's `route_layer` that requires a rule on the verified token's claims
    /// (see [`ClaimRule`](portcullis_core::ClaimRule)): a GitHub Actions `repository`, a
    /// Kubernetes namespace, a group. A token whose claims do not satisfy it is answered
    /// `403 insufficient_scope`, without naming the rule.
    ///
    /// # Panics
    /// When the rule is not [valid](portcullis_core::ClaimRule::validated): a programming
    /// error, caught when the router is built.
    pub fn require_claims(&self, rule: portcullis_core::ClaimRule) -> RequireScopesLayer<H> {
        self.require(Requirements::new().claims(rule))
    }

    /// A layer for axum's `route_layer` that requires every one of `scopes`, reading the
    /// claims this layer verified: `.route_layer(auth.require_scopes(["orders.read"]))`.
    ///
    /// # Panics
    /// When the list is empty (it would require nothing), or a scope is empty or contains a
    /// character RFC 6749 does not allow in a scope (space, `"`, `\`, control characters): a
    /// programming error, caught when the router is built.
    pub fn require_scopes<I, S>(&self, scopes: I) -> RequireScopesLayer<H>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.require(ScopeRequirement::all_of(scopes))
    }

    /// As [`BearerAuthLayer::require_scopes`], with any scope requirement (any-of, all-of,
    /// alternatives of sets), or all of a route's [`Requirements`] as one check (scopes,
    /// step-up, DPoP, roles, a claim rule):
    /// `.route_layer(auth.require(Requirements::new().scopes(..).roles(..)))`.
    ///
    /// # Panics
    /// When a part cannot be a route's rule ([`Requirements::validated`]; an empty scope list
    /// among them, as [`BearerAuthLayer::require_scopes`]): a programming error, caught when
    /// the router is built.
    pub fn require(&self, requirements: impl Into<Requirements>) -> RequireScopesLayer<H> {
        let layer = RequireScopesLayer::of(
            requirements.into(),
            self.settings.answers.clone(),
            self.hook.clone(),
        );
        self.advertise(layer.requirements());
        layer
    }
}

impl<H> Clone for BearerAuthLayer<H> {
    fn clone(&self) -> Self {
        BearerAuthLayer {
            settings: self.settings.clone(),
            hook: self.hook.clone(),
        }
    }
}

impl<S, H> Layer<S> for BearerAuthLayer<H> {
    type Service = BearerAuth<S, H>;

    fn layer(&self, inner: S) -> Self::Service {
        BearerAuth::new(inner, self.settings.clone(), self.hook.clone())
    }
}

impl<H> fmt::Debug for BearerAuthLayer<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerAuthLayer")
            .field("sources", &self.settings.sources)
            .field("optional", &self.settings.optional)
            .field("policy", &self.settings.policy)
            .field("access", &self.settings.access)
            .field("answers", &self.settings.answers)
            .field("origin", &self.settings.origin)
            .finish_non_exhaustive()
    }
}
