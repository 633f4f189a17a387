//! The MCP profile (feature `mcp`): a Model Context Protocol server over Streamable HTTP
//! (`rmcp` on axum, or any other) protected as the MCP authorization spec says, with a scope
//! requirement per tool.
//!
//! [`BearerAuthLayer::mcp`](crate::BearerAuthLayer::mcp) turns a layer with a resource
//! identifier into an [`McpLayer`]:
//!
//! - the resource identifier is the tokens' audience (give it to the verifier: the facade's
//!   `resource` does) and its metadata (RFC 9728) names the authorization servers and every
//!   scope the tools need; mount [`McpLayer::metadata`] beside the MCP endpoint;
//! - tokens come from the `Authorization` header only: a layer that also reads a cookie,
//!   another header or the query parameter is refused when the profile is built
//!   ([`ConfigError`], setting `token_sources`);
//! - every request needs what the layer itself requires (its scopes, if any: the base
//!   requirement); a `tools/call` also needs its tool's requirement ([`ToolScopes`]), read
//!   from the JSON-RPC body. A token that falls short is answered `403
//!   insufficient_scope` with `scope` listing everything the call needs (the base scopes and
//!   the tool's) and `resource_metadata`: the answer of the layer, from the same code;
//! - every `401` (no token, an invalid one) names in `scope` the scopes every request needs
//!   (the base requirement's), the MCP spec's recommended challenge, so that a client's
//!   first login asks for them; without base scopes the attribute is left out and MCP
//!   clients ask for the metadata's `scopes_supported`. A `401` for a tool's step-up names
//!   everything the call needs, as its `403` does.
//!
//! ```
//! # use portcullis_tower::BearerAuthLayer;
//! # use portcullis_tower::mcp::ToolScopes;
//! # use axum::{Router, routing::post, body::Body, http::Request};
//! # use tower::ServiceExt;
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! # let idp = portcullis_testkit::TestIssuer::builder().audience("https://mcp.example.com/mcp").start().await;
//! # let resource = portcullis_core::ResourceIdentifier::parse("https://mcp.example.com/mcp").unwrap();
//! # let keys = portcullis_jwks::RemoteJwks::builder(idp.jwks_url()).build().await.unwrap();
//! # let rules = portcullis_core::Validator::builder().issuer(idp.issuer()).resource(resource.clone()).build().unwrap();
//! # let metadata = portcullis_tower::ResourceMetadata::builder(resource).authorization_server(idp.issuer()).build().unwrap();
//! let auth = BearerAuthLayer::new(portcullis_jwks::JwtVerifier::new(keys, rules))
//!     .resource_metadata(metadata);
//! let mcp = auth
//!     .mcp(ToolScopes::new().tool("list_notes", ["read"]).tool("write_note", ["write"]))
//!     .unwrap();
//! // Your MCP server (an rmcp `StreamableHttpService`) at `/mcp`; here, a stand-in.
//! let app = Router::new()
//!     .route("/mcp", post(|body: String| async move { body }))
//!     .route_layer(mcp.clone())
//!     .route_service(mcp.metadata().path(), mcp.metadata());
//! # let call = |token: String, tool: &str| {
//! #     let body = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"{tool}"}}}}"#);
//! #     let req = Request::post("/mcp").header("authorization", format!("Bearer {token}"));
//! #     app.clone().oneshot(req.body(Body::from(body)).unwrap())
//! # };
//! let reader = idp.token().scope("read").sign();
//! assert_eq!(call(reader.clone(), "list_notes").await.unwrap().status(), 200);
//! let refused = call(reader, "write_note").await.unwrap();
//! assert_eq!(refused.status(), 403);
//! assert_eq!(
//!     refused.headers()["www-authenticate"],
//!     r#"Bearer error="insufficient_scope", scope="write", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp""#
//! );
//! # }
//! ```
//!
//! # The body
//!
//! The layer reads each request's body (up to [`ToolScopes::max_body_bytes`], by default
//! [`DEFAULT_MAX_BODY_BYTES`]) after the token is verified, parses it once, decides from
//! that parse, and hands the same bytes on. The parse is strict ([`BodyErrorKind`] lists the
//! refusals): one JSON object in UTF-8, no batch, no member of the message or of its
//! `params` given twice (escapes decoded first), nesting at most [`ToolScopes::max_depth`]
//! (default [`DEFAULT_MAX_DEPTH`]), a `tools/call` naming its tool in `params.name`. A body
//! over the cap is answered `413`, any other refusal `400`, both with a JSON-RPC error
//! object (`-32600`, or `-32700` for a body that is not JSON) and no challenge: the token
//! was fine, the message was not. A `POST` needs a body; other methods (`GET` for the event
//! stream, `DELETE` for the session) without one need only the base requirement.
//!
//! A `tools/call` of a tool with no requirement of its own gets [`ToolScopes::unlisted`]:
//! by default [`UnlistedTool::Deny`] (`403`, so that a tool added later without a rule is
//! closed, as [`Policy::deny_by_default`](crate::Policy::deny_by_default) closes a route),
//! or the base requirement ([`UnlistedTool::Base`]), or requirements of its own. Other
//! methods (`initialize`, `tools/list`, notifications, responses) need the base
//! requirement only.
//!
//! # Deployment caveat
//!
//! The decision is the parse of the body as this layer received it: put the layer directly
//! around the MCP service, with nothing between that changes the body (a decompression
//! layer belongs outside: a compressed body here is not JSON, and is refused).

mod layer;
mod message;
mod service;

use std::collections::BTreeMap;

use portcullis_core::{ConfigError, ScopeRequirement};

pub use layer::McpLayer;
pub use message::{BodyError, BodyErrorKind};
pub(crate) use message::{Message, read as read_message};
pub use service::ToolCheck;

use crate::policy::Requirements;

/// The default cap on a message body: 1 MiB. Tool arguments can be long (a document to
/// store); a body over the cap is answered `413`.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1 << 20;

/// The default limit on how deep a message nests: 32 levels (the message is one, its
/// `params` two). serde_json, which MCP servers parse with, stops at 128.
pub const DEFAULT_MAX_DEPTH: usize = 32;

/// The deepest nesting [`ToolScopes::max_depth`] accepts.
pub const MAX_DEPTH_LIMIT: usize = 128;

/// What a `tools/call` of a tool without a requirement of its own needs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum UnlistedTool {
    /// Nothing gets through: `403 insufficient_scope` (without a `scope`: no token could
    /// call it). The default.
    #[default]
    Deny,
    /// The base requirement only: what every request to the MCP endpoint needs.
    Base,
    /// These requirements (with the base requirement).
    Requires(Requirements),
}

/// The requirement of each MCP tool, for [`BearerAuthLayer::mcp`](crate::BearerAuthLayer::mcp).
///
/// ```
/// use std::time::Duration;
/// use portcullis_core::StepUp;
/// use portcullis_tower::Requirements;
/// use portcullis_tower::mcp::{ToolScopes, UnlistedTool};
///
/// let tools = ToolScopes::new()
///     .tool("list_notes", ["notes.read"])
///     .tool("write_note", ["notes.write"])
///     .tool_requires(
///         "delete_all",
///         Requirements::new().step_up(StepUp::acr(["mfa"]).and_max_age(Duration::from_secs(300))),
///     )
///     .unlisted(UnlistedTool::Base)
///     .max_body_bytes(256 * 1024);
/// # let _ = tools;
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct ToolScopes {
    tools: BTreeMap<String, Requirements>,
    unlisted: UnlistedTool,
    max_body_bytes: usize,
    max_depth: usize,
}

impl Default for ToolScopes {
    fn default() -> Self {
        ToolScopes::new()
    }
}

impl ToolScopes {
    /// No tool has a requirement yet; unlisted tools are denied; bodies up to
    /// [`DEFAULT_MAX_BODY_BYTES`], nesting up to [`DEFAULT_MAX_DEPTH`].
    pub fn new() -> Self {
        ToolScopes {
            tools: BTreeMap::new(),
            unlisted: UnlistedTool::Deny,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_depth: DEFAULT_MAX_DEPTH,
        }
    }

    /// Calling the tool `name` (exactly, case-sensitively, as `params.name` says once its
    /// escapes are decoded) requires every one of `scopes`, beside the base requirement
    /// (replacing a requirement given before for this tool).
    pub fn tool<I, S>(self, name: impl Into<String>, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let requirement = Requirements::new().scopes(ScopeRequirement::all_of(scopes));
        self.tool_requires(name, requirement)
    }

    /// Calling the tool `name` requires all of `requirements` (any scope requirement, a
    /// step-up, DPoP, roles, a claim rule), beside the base requirement.
    pub fn tool_requires(mut self, name: impl Into<String>, requirements: Requirements) -> Self {
        self.tools.insert(name.into(), requirements);
        self
    }

    /// What a `tools/call` of a tool without a requirement of its own needs (default
    /// [`UnlistedTool::Deny`]).
    pub fn unlisted(mut self, unlisted: UnlistedTool) -> Self {
        self.unlisted = unlisted;
        self
    }

    /// The largest body read, in bytes (default [`DEFAULT_MAX_BODY_BYTES`]); a larger one is
    /// answered `413`. A declared `Content-Length` over it is refused before reading.
    pub fn max_body_bytes(mut self, max: usize) -> Self {
        self.max_body_bytes = max;
        self
    }

    /// The deepest nesting accepted (default [`DEFAULT_MAX_DEPTH`]; 2 to
    /// [`MAX_DEPTH_LIMIT`]): the message object is level 1, its `params` level 2.
    pub fn max_depth(mut self, max: usize) -> Self {
        self.max_depth = max;
        self
    }

    /// The tools named, with their requirements.
    pub fn tools(&self) -> impl Iterator<Item = (&str, &Requirements)> {
        self.tools.iter().map(|(name, r)| (name.as_str(), r))
    }

    /// Every scope a tool's requirement names (for the metadata's `scopes_supported`).
    fn scopes(&self) -> Vec<String> {
        let unlisted = match &self.unlisted {
            UnlistedTool::Requires(r) => Some(r),
            _ => None,
        };
        let mut scopes: Vec<String> = Vec::new();
        for requirement in self.tools.values().chain(unlisted) {
            for set in requirement
                .scope_requirement()
                .into_iter()
                .flat_map(ScopeRequirement::alternatives)
            {
                for scope in set {
                    if !scopes.iter().any(|s| s == scope) {
                        scopes.push(scope.to_owned());
                    }
                }
            }
        }
        scopes
    }

    /// These settings, if each can work.
    fn validated(self) -> Result<Self, ConfigError> {
        if self.max_body_bytes == 0 {
            return Err(ConfigError::invalid(
                "mcp.max_body_bytes",
                "a cap of 0 bytes refuses every message",
            ));
        }
        if !(2..=MAX_DEPTH_LIMIT).contains(&self.max_depth) {
            return Err(ConfigError::invalid(
                "mcp.max_depth",
                format!("the nesting limit must be from 2 to {MAX_DEPTH_LIMIT}"),
            ));
        }
        if self.tools.contains_key("") {
            return Err(ConfigError::invalid(
                "mcp.tool",
                "a tool name cannot be empty",
            ));
        }
        for requirements in self.tools.values() {
            requirements.clone().validated()?;
        }
        if let UnlistedTool::Requires(requirements) = &self.unlisted {
            requirements.clone().validated()?;
        }
        Ok(self)
    }
}

/// What one `tools/call` needs, decided when the profile is built.
#[derive(Debug, Clone)]
pub(crate) enum ToolRule {
    /// Refused whatever the token.
    Deny,
    /// The base requirement only, which the layer checked already.
    Base,
    /// These requirements, with the base scopes folded in (so that a refusal names them
    /// all); the base requirement was checked by the layer already.
    Requires(Requirements),
}

/// The compiled table: each tool's rule, the rule of the rest, the body limits.
#[derive(Debug)]
pub(crate) struct Tools {
    pub(crate) rules: BTreeMap<String, ToolRule>,
    pub(crate) unlisted: ToolRule,
    pub(crate) max_body_bytes: usize,
    pub(crate) max_depth: usize,
}

impl Tools {
    /// The rules of `tools` on a layer whose own requirement is `base`.
    pub(crate) fn compile(tools: ToolScopes, base: &Requirements) -> Result<Self, ConfigError> {
        let tools = tools.validated()?;
        let rule = |requirements: Requirements| ToolRule::Requires(with_base(base, &requirements));
        let unlisted = match tools.unlisted {
            UnlistedTool::Deny => ToolRule::Deny,
            UnlistedTool::Base => ToolRule::Base,
            UnlistedTool::Requires(requirements) => rule(requirements),
        };
        Ok(Tools {
            rules: tools
                .tools
                .into_iter()
                .map(|(name, requirements)| (name, rule(requirements)))
                .collect(),
            unlisted,
            max_body_bytes: tools.max_body_bytes,
            max_depth: tools.max_depth,
        })
    }

    /// The rule of the tool `name`.
    pub(crate) fn rule(&self, name: &str) -> &ToolRule {
        self.rules.get(name).unwrap_or(&self.unlisted)
    }
}

/// `tool`, with the scopes of `base` required too (every alternative of one combined with
/// every alternative of the other), its step-up where it has none, and DPoP where either
/// requires it: what a call of the tool needs in all, so that a `403` names it all.
fn with_base(base: &Requirements, tool: &Requirements) -> Requirements {
    let scopes = match (base.scope_requirement(), tool.scope_requirement()) {
        (Some(base), Some(tool)) => {
            let mut sets: Vec<Vec<String>> = Vec::new();
            for b in base.alternatives() {
                let b: Vec<&str> = b.collect();
                for t in tool.alternatives() {
                    let mut set: Vec<String> = b.iter().map(|s| (*s).to_owned()).collect();
                    for scope in t {
                        if !set.iter().any(|s| s == scope) {
                            set.push(scope.to_owned());
                        }
                    }
                    sets.push(set);
                }
            }
            Some(ScopeRequirement::any_of_all(sets))
        }
        (None, tool) => tool.cloned(),
        (base, None) => base.cloned(),
    };
    let mut combined = Requirements::new();
    if let Some(scopes) = scopes {
        combined = combined.scopes(scopes);
    }
    if let Some(step_up) = tool.step_up_requirement().or(base.step_up_requirement()) {
        combined = combined.step_up(step_up.clone());
    }
    if tool.requires_dpop() || base.requires_dpop() {
        combined = combined.dpop();
    }
    // The base's roles and claim rule were checked by the layer; the tool's are its own.
    if let Some(roles) = tool.role_requirement() {
        combined = combined.roles(roles.clone());
    }
    if let Some(rule) = tool.claim_rule() {
        combined = combined.claims(rule.clone());
    }
    combined
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(requirements: &Requirements) -> Vec<Vec<&str>> {
        requirements
            .scope_requirement()
            .map(|r| r.alternatives().map(Iterator::collect).collect())
            .unwrap_or_default()
    }

    #[test]
    fn a_tool_needs_the_base_scopes_and_its_own() {
        let base = Requirements::new().scopes(ScopeRequirement::all_of(["mcp"]));
        let tool = Requirements::new().scopes(ScopeRequirement::all_of(["write", "mcp"]));
        assert_eq!(scopes(&with_base(&base, &tool)), [["mcp", "write"]]);
        let any = Requirements::new().scopes(ScopeRequirement::any_of(["a", "b"]));
        let tool = Requirements::new().scopes(ScopeRequirement::any_of(["x", "y"]));
        assert_eq!(
            scopes(&with_base(&any, &tool)),
            [["a", "x"], ["a", "y"], ["b", "x"], ["b", "y"]]
        );
    }

    #[test]
    fn a_tool_without_scopes_keeps_the_base_and_the_stricter_parts() {
        let base = Requirements::new()
            .scopes(ScopeRequirement::all_of(["mcp"]))
            .dpop();
        let step_up = portcullis_core::StepUp::acr(["mfa"]);
        let tool = Requirements::new().step_up(step_up.clone());
        let combined = with_base(&base, &tool);
        assert_eq!(scopes(&combined), [["mcp"]]);
        assert!(combined.requires_dpop());
        assert_eq!(combined.step_up_requirement(), Some(&step_up));
        let tool = Requirements::new().scopes(ScopeRequirement::all_of(["read"]));
        assert_eq!(scopes(&with_base(&Requirements::new(), &tool)), [["read"]]);
    }

    #[test]
    fn a_tools_roles_and_claim_rule_are_kept() {
        let base = Requirements::new().scopes(ScopeRequirement::all_of(["mcp"]));
        let rule = portcullis_core::ClaimRule::equals("department", "sales");
        let tool = Requirements::new()
            .roles(ScopeRequirement::all_of(["editor"]))
            .claims(rule.clone());
        let combined = with_base(&base, &tool);
        assert_eq!(scopes(&combined), [["mcp"]]);
        assert_eq!(
            combined.role_requirement(),
            Some(&ScopeRequirement::all_of(["editor"]))
        );
        assert_eq!(combined.claim_rule(), Some(&rule));
    }

    #[test]
    fn the_tools_and_their_scopes_are_listed_once_each() {
        let tools = ToolScopes::new()
            .tool("write_note", ["notes.write", "notes.read"])
            .tool("list_notes", ["notes.read"])
            .unlisted(UnlistedTool::Requires(
                Requirements::new().scopes(ScopeRequirement::any_of(["admin", "notes.read"])),
            ));
        let named: Vec<(&str, Vec<Vec<&str>>)> =
            tools.tools().map(|(name, r)| (name, scopes(r))).collect();
        assert_eq!(
            named,
            [
                ("list_notes", vec![vec!["notes.read"]]),
                ("write_note", vec![vec!["notes.write", "notes.read"]]),
            ]
        );
        // Tools in name order, then the unlisted tools' requirement; no scope twice.
        assert_eq!(tools.scopes(), ["notes.read", "notes.write", "admin"]);
        let base = ToolScopes::new().unlisted(UnlistedTool::Base);
        assert!(base.scopes().is_empty());
        assert_eq!(base.tools().count(), 0);
    }

    #[test]
    fn settings_that_cannot_work_are_refused() {
        let base = Requirements::new();
        let fails = |tools: ToolScopes| Tools::compile(tools, &base).is_err();
        assert!(fails(ToolScopes::new().max_body_bytes(0)));
        assert!(fails(ToolScopes::new().max_depth(1)));
        assert!(fails(ToolScopes::new().max_depth(MAX_DEPTH_LIMIT + 1)));
        assert!(fails(ToolScopes::new().tool("", ["read"])));
        assert!(fails(ToolScopes::new().tool("x", ["has space"])));
        assert!(fails(ToolScopes::new().tool("x", Vec::<String>::new())));
        assert!(!fails(ToolScopes::new().tool("x", ["read"]).max_depth(2)));
    }

    #[test]
    fn unlisted_tools_are_denied_unless_configured() {
        let base = Requirements::new().scopes(ScopeRequirement::all_of(["mcp"]));
        let tools = Tools::compile(ToolScopes::new().tool("x", ["read"]), &base).unwrap();
        assert!(matches!(tools.rule("y"), ToolRule::Deny));
        assert!(matches!(tools.rule("X"), ToolRule::Deny));
        assert!(matches!(tools.rule("x"), ToolRule::Requires(_)));
        let tools = Tools::compile(ToolScopes::new().unlisted(UnlistedTool::Base), &base).unwrap();
        assert!(matches!(tools.rule("y"), ToolRule::Base));
        let extra =
            UnlistedTool::Requires(Requirements::new().scopes(ScopeRequirement::all_of(["admin"])));
        let tools = Tools::compile(ToolScopes::new().unlisted(extra), &base).unwrap();
        let ToolRule::Requires(needed) = tools.rule("y") else {
            panic!("not a requirement")
        };
        assert_eq!(scopes(needed), [["mcp", "admin"]]);
    }
}
