//! [`McpLayer`]: the layer of the MCP profile, a [`BearerAuthLayer`] around a [`ToolCheck`].

use std::fmt;
use std::sync::Arc;

use portcullis_core::{ConfigError, ScopeRequirement};
use tower_layer::Layer;

use super::{ToolCheck, ToolScopes, Tools};
use crate::layer::BearerAuthLayer;
use crate::policy::{Access, Requirements};
use crate::service::BearerAuth;
use crate::{ResourceMetadata, TokenSources};

/// The MCP profile's layer, made by [`BearerAuthLayer::mcp`]: it verifies the token as the
/// [`BearerAuthLayer`] it was made from does (every request needs the layer's own
/// requirement), then checks each `tools/call` against its tool's requirement. For axum's
/// `route_layer` on the MCP endpoint; mount [`McpLayer::metadata`] outside it.
#[must_use]
pub struct McpLayer<H> {
    auth: BearerAuthLayer<H>,
    tools: Arc<Tools>,
    metadata: ResourceMetadata,
}

impl<H> McpLayer<H> {
    pub(crate) fn new(auth: &BearerAuthLayer<H>, tools: ToolScopes) -> Result<Self, ConfigError> {
        let settings = &auth.settings;
        if settings.sources != TokenSources::authorization_header() {
            return Err(ConfigError::invalid(
                "token_sources",
                "the MCP profile reads tokens from the Authorization header only: remove the \
                 cookie, header and query parameter sources",
            ));
        }
        let Some(metadata) = &settings.metadata else {
            return Err(ConfigError::missing(
                "resource",
                "MCP clients find the authorization server through the resource's metadata: \
                 give the layer its resource identifier and metadata (the facade's `resource`, \
                 or `BearerAuthLayer::resource_metadata`)",
            ));
        };
        let base = match &settings.access {
            Access::Scopes(scopes) => Requirements::new().scopes(scopes.clone()),
            Access::Requires(requirements) => requirements.clone(),
            _ => Requirements::new(),
        };
        let mut scopes: Vec<String> = base
            .scope_requirement()
            .into_iter()
            .flat_map(|r| {
                r.alternatives()
                    .flatten()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect();
        scopes.extend(tools.scopes());
        // Checked first: every scope listed below is then a valid one.
        let tools = Tools::compile(tools, &base)?;
        // The layer's own metadata, shared with every layer made from it: the tools' scopes
        // join those of the routes in `scopes_supported`.
        metadata.add_scopes(scopes.iter().map(String::as_str));
        // Every `401` names the scopes every request needs (the MCP spec's recommended
        // challenge; without them a client asks for the metadata's `scopes_supported`).
        let mut auth = auth.clone();
        let base_scope = base
            .scope_requirement()
            .map(ScopeRequirement::to_scope_param)
            .unwrap_or_default();
        let settings = Arc::make_mut(&mut auth.settings);
        settings.answers = Arc::new(settings.answers.with_challenge_scope(&base_scope));
        Ok(McpLayer {
            auth,
            tools: Arc::new(tools),
            metadata: metadata.clone(),
        })
    }

    /// The resource's metadata (RFC 9728), with the scopes of the layer and of every tool
    /// in `scopes_supported`: mount it outside the layer,
    /// `.route_service(mcp.metadata().path(), mcp.metadata())`.
    pub fn metadata(&self) -> ResourceMetadata {
        self.metadata.clone()
    }

    /// The layer that verifies the token (with the metadata above).
    pub fn auth(&self) -> &BearerAuthLayer<H> {
        &self.auth
    }
}

impl<H> Clone for McpLayer<H> {
    fn clone(&self) -> Self {
        McpLayer {
            auth: self.auth.clone(),
            tools: self.tools.clone(),
            metadata: self.metadata.clone(),
        }
    }
}

impl<H> fmt::Debug for McpLayer<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("McpLayer")
            .field("auth", &self.auth)
            .field("tools", &self.tools)
            .field("metadata", &self.metadata)
            .finish()
    }
}

impl<S, H> Layer<S> for McpLayer<H> {
    type Service = BearerAuth<ToolCheck<S, H>, H>;

    fn layer(&self, inner: S) -> Self::Service {
        let check = ToolCheck::new(
            inner,
            self.tools.clone(),
            self.auth.settings.answers.clone(),
            self.auth.hook.clone(),
        );
        self.auth.layer(check)
    }
}
