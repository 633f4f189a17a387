//! The MCP example's server, shared with its tests (`tests/mcp.rs`): an `rmcp` Streamable
//! HTTP server with three tools, behind portcullis's MCP profile.
//!
//! - `whoami` (scope `read`): the caller's `sub` and scopes, from the verified claims;
//! - `list_notes` (scope `read`): the notes stored so far;
//! - `write_note` (scope `write`): stores a note and answers it.

use std::sync::{Arc, Mutex};

use axum::Router;
use portcullis::ConfigError;
use portcullis::layer::{BearerAuthLayer, verified_claims};
use portcullis::mcp::ToolScopes;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::Extension;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, ServerHandler, tool, tool_handler, tool_router};
use serde_json::json;

/// Where the MCP endpoint is mounted.
pub(crate) const MCP_PATH: &str = "/mcp";

/// What each tool needs: `read` to look, `write` to store.
pub(crate) fn tool_scopes() -> ToolScopes {
    ToolScopes::new()
        .tool("whoami", ["read"])
        .tool("list_notes", ["read"])
        .tool("write_note", ["write"])
}

/// A note, as stored and answered.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Note {
    /// Its number, from 1.
    pub(crate) id: usize,
    /// Who wrote it: the token's `sub`.
    pub(crate) author: String,
    /// What it says.
    pub(crate) text: String,
}

/// The arguments of `write_note`.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub(crate) struct WriteNote {
    /// What the note says.
    pub(crate) text: String,
}

/// The MCP server: its notes (shared by every session) and its tools.
#[derive(Debug, Clone)]
pub(crate) struct Notes {
    notes: Arc<Mutex<Vec<Note>>>,
    #[allow(dead_code)] // Read by the code `tool_handler` generates.
    tool_router: ToolRouter<Self>,
}

impl Notes {
    /// No notes yet.
    pub(crate) fn new() -> Self {
        Notes {
            notes: Arc::default(),
            tool_router: Self::tool_router(),
        }
    }

    /// The notes stored so far.
    pub(crate) fn stored(&self) -> Vec<Note> {
        self.notes.lock().map(|n| n.clone()).unwrap_or_default()
    }
}

/// The verified claims of the HTTP request behind a tool call, as portcullis left them.
fn claims(parts: &http::request::Parts) -> Result<&portcullis::Claims, ErrorData> {
    verified_claims(&parts.extensions)
        .ok_or_else(|| ErrorData::internal_error("no verified claims: portcullis is missing", None))
}

#[tool_router]
impl Notes {
    /// The caller, from the token portcullis verified.
    #[tool(description = "Who is calling: the token's subject and scopes")]
    async fn whoami(
        &self,
        Extension(parts): Extension<http::request::Parts>,
    ) -> Result<String, ErrorData> {
        let claims = claims(&parts)?;
        let me = json!({ "sub": claims.subject(), "scopes": claims.scopes().as_str() });
        Ok(me.to_string())
    }

    /// Every note.
    #[tool(description = "The notes stored so far")]
    async fn list_notes(&self) -> String {
        serde_json::to_string(&self.stored()).unwrap_or_default()
    }

    /// Stores a note.
    #[tool(description = "Stores a note and answers it")]
    async fn write_note(
        &self,
        Parameters(WriteNote { text }): Parameters<WriteNote>,
        Extension(parts): Extension<http::request::Parts>,
    ) -> Result<String, ErrorData> {
        let author = claims(&parts)?.subject().unwrap_or_default().to_owned();
        let mut notes = self
            .notes
            .lock()
            .map_err(|_| ErrorData::internal_error("the notes are poisoned", None))?;
        let note = Note {
            id: notes.len() + 1,
            author,
            text,
        };
        notes.push(note.clone());
        Ok(serde_json::to_string(&note).unwrap_or_default())
    }
}

#[tool_handler]
impl ServerHandler for Notes {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_instructions("Notes: read them with a `read` token, write one with `write`.")
    }
}

/// The app: `notes` over Streamable HTTP at [`MCP_PATH`] behind `auth`'s MCP profile with
/// `tools`, and the resource's metadata beside it. `hosts` are the `Host` values rmcp
/// accepts (its guard against DNS rebinding; loopback by default).
///
/// # Errors
/// The MCP profile's [`ConfigError`]: a layer without a resource, or with a token source
/// other than the `Authorization` header.
pub(crate) fn app(
    auth: &BearerAuthLayer,
    notes: Notes,
    tools: ToolScopes,
    hosts: Option<Vec<String>>,
) -> Result<Router, ConfigError> {
    let mcp = auth.mcp(tools)?;
    let mut config = StreamableHttpServerConfig::default();
    if let Some(hosts) = hosts {
        config = config.with_allowed_hosts(hosts);
    }
    let sessions = Arc::new(LocalSessionManager::default());
    let server = StreamableHttpService::new(move || Ok(notes.clone()), sessions, config);
    let metadata = mcp.metadata();
    Ok(Router::new()
        .route_service(MCP_PATH, server)
        .route_layer(mcp)
        .route_service(metadata.path(), metadata.clone()))
}
