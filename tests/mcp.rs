// Tests may unwrap, index and panic: a failure is the test's report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The MCP profile against a real `rmcp` server (the example's, `examples/mcp/notes.rs`) on
//! loopback, called by a real `rmcp` client and by raw HTTP: per-tool scopes that no hostile
//! body gets around (the tool's side effect, a stored note, is checked after each), the
//! challenge's exact header, the body handed on byte for byte, header-only tokens.

#[path = "../examples/mcp/notes.rs"]
#[allow(dead_code)]
mod notes;

use axum::Router;
use axum::body::Bytes;
use axum::routing::post;
use notes::{MCP_PATH, Notes, app, tool_scopes};
use portcullis::layer::BearerAuthLayer;
use portcullis::mcp::{ToolScopes, UnlistedTool};
use portcullis::{
    Config, ConfigErrorKind, IssuerConfig, Portcullis, Requirements, ScopeRequirement, StepUp,
};
use portcullis_testkit::TestIssuer;
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

/// A running MCP server, its authorization server and its notes.
struct Server {
    idp: TestIssuer,
    /// `http://127.0.0.1:port`.
    base: String,
    /// The MCP endpoint: the resource identifier.
    resource: String,
    notes: Notes,
}

impl Server {
    fn metadata_url(&self) -> String {
        format!("{}/.well-known/oauth-protected-resource/mcp", self.base)
    }

    fn token(&self, scope: &str) -> String {
        self.idp.token().subject("alice").scope(scope).sign()
    }
}

/// A bound loopback port, before anything knows it: the resource identifier names it.
async fn listener() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    (listener, base)
}

async fn layer(idp: &TestIssuer, resource: &str) -> BearerAuthLayer {
    Portcullis::builder()
        .issuer(idp.issuer())
        .resource(resource)
        .build()
        .await
        .unwrap()
}

/// The example's server with `tools`.
async fn start_with(tools: ToolScopes) -> Server {
    let (listener, base) = listener().await;
    let resource = format!("{base}{MCP_PATH}");
    let idp = TestIssuer::builder().audience(&resource).start().await;
    let auth = layer(&idp, &resource).await;
    let notes = Notes::new();
    let app = app(&auth, notes.clone(), tools, None).unwrap();
    tokio::spawn(axum::serve(listener, app).into_future());
    Server {
        idp,
        base,
        resource,
        notes,
    }
}

async fn start() -> Server {
    start_with(tool_scopes()).await
}

fn client_config(server: &Server, token: Option<&str>) -> StreamableHttpClientTransportConfig {
    let config = StreamableHttpClientTransportConfig::with_uri(server.resource.as_str());
    match token {
        Some(token) => config.auth_header(token),
        None => config,
    }
}

fn call(tool: &str, arguments: Value) -> CallToolRequestParams {
    let Value::Object(arguments) = arguments else {
        panic!("arguments are an object")
    };
    CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments)
}

/// The text of a tool's answer.
fn text(result: &rmcp::model::CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect()
}

#[tokio::test]
async fn an_rmcp_client_is_refused_a_tool_without_its_scope_and_told_which_scope_it_needs() {
    let server = start().await;
    let expected = server.metadata_url();

    // No token: 401 pointing at the metadata.
    let refused = ().serve(StreamableHttpClientTransport::from_config(client_config(
        &server, None,
    )));
    let error = refused.await.expect_err("no token, no session");
    assert_eq!(
        error.auth_challenge(),
        Some(format!(r#"Bearer resource_metadata="{expected}""#).as_str())
    );

    // A read token: whoami and list_notes answer, write_note is refused with the scope.
    let reader = server.token("read");
    let client = ()
        .serve(StreamableHttpClientTransport::from_config(client_config(
            &server,
            Some(&reader),
        )))
        .await
        .unwrap();
    let me: Value = serde_json::from_str(&text(
        &client.call_tool(call("whoami", json!({}))).await.unwrap(),
    ))
    .unwrap();
    assert_eq!(me, json!({"sub": "alice", "scopes": "read"}));
    let listed = client
        .call_tool(call("list_notes", json!({})))
        .await
        .unwrap();
    assert_eq!(text(&listed), "[]");
    let error = client
        .call_tool(call("write_note", json!({"text": "hello"})))
        .await
        .expect_err("write_note needs write");
    assert_eq!(
        error.auth_challenge(),
        Some(
            format!(
                r#"Bearer error="insufficient_scope", scope="write", resource_metadata="{expected}""#
            )
            .as_str()
        )
    );
    assert!(server.notes.stored().is_empty());

    // A write token: the note is stored and answered.
    let writer = server.token("write");
    let client = ()
        .serve(StreamableHttpClientTransport::from_config(client_config(
            &server,
            Some(&writer),
        )))
        .await
        .unwrap();
    let stored = client
        .call_tool(call("write_note", json!({"text": "hello"})))
        .await
        .unwrap();
    let note: Value = serde_json::from_str(&text(&stored)).unwrap();
    assert_eq!(note, json!({"id": 1, "author": "alice", "text": "hello"}));
    assert_eq!(server.notes.stored().len(), 1);
}

#[tokio::test]
async fn the_metadata_lists_the_authorization_server_and_every_tool_scope() {
    let server = start().await;
    let answer = reqwest::get(server.metadata_url()).await.unwrap();
    assert_eq!(answer.status(), 200);
    let document: Value = answer.json().await.unwrap();
    assert_eq!(
        document,
        json!({
            "resource": server.resource,
            "authorization_servers": [server.idp.issuer()],
            "scopes_supported": ["read", "write"],
            "bearer_methods_supported": ["header"],
        })
    );
}

/// A raw MCP session over HTTP: the handshake done, its id kept, for bodies no client
/// library would send.
struct Raw {
    http: reqwest::Client,
    url: String,
    token: String,
    session: String,
}

impl Raw {
    async fn open(server: &Server, token: String) -> Raw {
        let http = reqwest::Client::new();
        let url = server.resource.clone();
        let init = json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "raw", "version": "0"}
            }
        });
        let answer = Self::post_to(&http, &url, &token, None, init.to_string()).await;
        assert_eq!(answer.status(), 200, "{:?}", answer.text().await);
        let session = answer.headers()["mcp-session-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let _ = answer.bytes().await;
        let initialized = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
        let answer =
            Self::post_to(&http, &url, &token, Some(&session), initialized.to_owned()).await;
        assert_eq!(answer.status(), 202);
        Raw {
            http,
            url,
            token,
            session,
        }
    }

    async fn post_to(
        http: &reqwest::Client,
        url: &str,
        token: &str,
        session: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        let mut request = http
            .post(url)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18");
        if let Some(session) = session {
            request = request.header("mcp-session-id", session);
        }
        request.body(body).send().await.unwrap()
    }

    /// Posts `body` in the session; the status and the whole answer.
    async fn post(&self, body: impl Into<reqwest::Body>) -> (u16, String) {
        let answer = Self::post_to(
            &self.http,
            &self.url,
            &self.token,
            Some(&self.session),
            body,
        )
        .await;
        let status = answer.status().as_u16();
        (status, answer.text().await.unwrap())
    }
}

const WRITE: &str = r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"write_note","arguments":{"text":"sneaked"}}}"#;

#[tokio::test]
async fn hostile_bodies_never_run_a_tool_without_its_scopes() {
    // Unlisted tools get the base requirement here, so that a body whose tool the layer
    // misread (or missed) would run the tool: only the exact reading keeps it closed.
    let server = start_with(tool_scopes().unlisted(UnlistedTool::Base)).await;
    let raw = Raw::open(&server, server.token("read")).await;
    let deep = format!(
        r#"{{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{{"name":"write_note","arguments":{{"text":"sneaked","x":{}1{}}}}}}}"#,
        "[".repeat(40),
        "]".repeat(40)
    );
    let huge = format!(
        r#"{{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{{"name":"write_note","arguments":{{"text":"{}"}}}}}}"#,
        "a".repeat((1 << 20) + 1024)
    );
    let hostile: Vec<(&str, String, u16)> = vec![
        (
            "duplicate method",
            r#"{"jsonrpc":"2.0","id":5,"method":"tools/list","method":"tools/call","params":{"name":"write_note","arguments":{"text":"sneaked"}}}"#.into(),
            400,
        ),
        (
            "duplicate name",
            r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"list_notes","name":"write_note","arguments":{"text":"sneaked"}}}"#.into(),
            400,
        ),
        (
            "escaped duplicate method",
            r#"{"jsonrpc":"2.0","id":5,"method":"tools/list","m\u0065thod":"tools/call","params":{"name":"write_note","arguments":{"text":"sneaked"}}}"#.into(),
            400,
        ),
        (
            "escaped duplicate name",
            r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"n\u0061me":"list_notes","name":"write_note","arguments":{"text":"sneaked"}}}"#.into(),
            400,
        ),
        (
            "escaped method alone",
            r#"{"jsonrpc":"2.0","id":5,"m\u0065thod":"tools/call","params":{"name":"write_note","arguments":{"text":"sneaked"}}}"#.into(),
            403,
        ),
        (
            "escaped tool name",
            r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"write\u005fnote","arguments":{"text":"sneaked"}}}"#.into(),
            403,
        ),
        (
            "batch",
            format!(r#"[{{"jsonrpc":"2.0","id":4,"method":"tools/list"}},{WRITE}]"#),
            400,
        ),
        ("huge body", huge, 413),
        ("not JSON", format!("{WRITE} trailing"), 400),
        ("truncated", WRITE[..WRITE.len() - 2].to_owned(), 400),
        ("deep nesting", deep, 400),
        (
            "tools/call hidden in a string before the real method",
            r#"{"jsonrpc":"2.0","id":5,"x":"\"method\":\"tools/list\"","method":"tools/call","params":{"name":"write_note","arguments":{"text":"sneaked"}}}"#.into(),
            403,
        ),
        (
            "a name in the wrong place",
            r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","name":"list_notes","params":{"arguments":{"name":"list_notes","text":"sneaked"},"name":"write_note"}}"#.into(),
            403,
        ),
        (
            "the name at the top only",
            r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","name":"write_note","params":{"arguments":{"text":"sneaked"}}}"#.into(),
            400,
        ),
        (
            "params as an array",
            r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":["write_note",{"text":"sneaked"}]}"#.into(),
            400,
        ),
        (
            "method after params",
            r#"{"params":{"arguments":{"text":"sneaked"},"name":"write_note"},"id":5,"jsonrpc":"2.0","method":"tools/call"}"#.into(),
            403,
        ),
        (
            "a request that is also a response",
            r#"{"jsonrpc":"2.0","id":5,"result":{},"method":"tools/call","params":{"name":"write_note","arguments":{"text":"sneaked"}}}"#.into(),
            400,
        ),
        ("empty", String::new(), 400),
    ];
    for (what, body, status) in hostile {
        let (got, answer) = raw.post(body).await;
        assert_eq!(got, status, "{what}: {answer}");
        assert!(server.notes.stored().is_empty(), "{what} stored a note");
    }
    // Invalid UTF-8 in the tool's name.
    let mut body =
        br#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"write_note"#.to_vec();
    body.extend_from_slice(&[0xc0, 0xaf]);
    body.extend_from_slice(br#"","arguments":{"text":"sneaked"}}}"#);
    assert_eq!(raw.post(body).await.0, 400);
    assert!(server.notes.stored().is_empty());

    // The same session, the same bodies' intent, with the scope: the note is stored, so the
    // refusals above were the layer's, not the server's.
    let writer = Raw::open(&server, server.token("read write")).await;
    let (status, answer) = writer.post(WRITE).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("sneaked"), "{answer}");
    assert_eq!(server.notes.stored().len(), 1);
}

#[tokio::test]
async fn body_refusals_are_json_rpc_errors_without_a_challenge() {
    let server = start().await;
    let raw = Raw::open(&server, server.token("read")).await;
    let answer = Raw::post_to(
        &raw.http,
        &raw.url,
        &raw.token,
        Some(&raw.session),
        format!("[{WRITE}]"),
    )
    .await;
    assert_eq!(answer.status(), 400);
    assert!(answer.headers().get("www-authenticate").is_none());
    assert_eq!(answer.headers()["content-type"], "application/json");
    assert_eq!(answer.headers()["cache-control"], "no-store");
    let error: Value = answer.json().await.unwrap();
    assert_eq!(
        error,
        json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32600, "message": "JSON-RPC batches are not accepted"}})
    );
    let (status, answer) = raw.post("{not json").await;
    assert_eq!(status, 400);
    let error: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(error["error"]["code"], -32700);
}

#[tokio::test]
async fn an_unlisted_tool_is_denied_by_default_and_other_methods_need_only_the_base() {
    let server = start().await;
    let raw = Raw::open(&server, server.token("read write")).await;
    let unknown =
        r#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"delete_everything"}}"#;
    let answer = Raw::post_to(&raw.http, &raw.url, &raw.token, Some(&raw.session), unknown).await;
    assert_eq!(answer.status(), 403);
    assert_eq!(
        answer.headers()["www-authenticate"],
        format!(
            r#"Bearer error="insufficient_scope", resource_metadata="{}""#,
            server.metadata_url()
        )
        .as_str()
    );
    // A token without any scope: tools/list and ping pass (the base needs a valid token).
    let bare = Raw::open(&server, server.token("")).await;
    let (status, answer) = bare
        .post(r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#)
        .await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("write_note"), "{answer}");
    let (status, _) = bare
        .post(r#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#)
        .await;
    assert_eq!(status, 200);
    let (status, _) = bare.post(WRITE).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn a_base_scope_is_named_with_the_tools_scope_in_the_challenge() {
    let (listener, base) = listener().await;
    let resource = format!("{base}{MCP_PATH}");
    let idp = TestIssuer::builder().audience(&resource).start().await;
    let auth = layer(&idp, &resource).await.with_scopes(["mcp"]);
    let notes = Notes::new();
    let app = app(&auth, notes.clone(), tool_scopes(), None).unwrap();
    tokio::spawn(axum::serve(listener, app).into_future());
    let server = Server {
        idp,
        base,
        resource,
        notes,
    };
    let raw = Raw::open(&server, server.token("mcp read")).await;
    let answer = Raw::post_to(&raw.http, &raw.url, &raw.token, Some(&raw.session), WRITE).await;
    assert_eq!(answer.status(), 403);
    assert_eq!(
        answer.headers()["www-authenticate"],
        format!(
            r#"Bearer error="insufficient_scope", scope="mcp write", resource_metadata="{}""#,
            server.metadata_url()
        )
        .as_str()
    );
    let document: Value = reqwest::get(server.metadata_url())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        document["scopes_supported"],
        json!(["mcp", "read", "write"])
    );
    assert!(server.notes.stored().is_empty());
}

#[tokio::test]
async fn a_401_names_what_every_request_needs_and_a_tools_step_up_what_the_call_needs() {
    let (listener, base) = listener().await;
    let resource = format!("{base}{MCP_PATH}");
    let idp = TestIssuer::builder().audience(&resource).start().await;
    let auth = layer(&idp, &resource).await.with_scopes(["mcp"]);
    let tools = tool_scopes().tool_requires(
        "write_note",
        Requirements::new()
            .scopes(ScopeRequirement::all_of(["write"]))
            .step_up(StepUp::acr(["mfa"])),
    );
    let notes = Notes::new();
    let app = app(&auth, notes.clone(), tools, None).unwrap();
    tokio::spawn(axum::serve(listener, app).into_future());
    let server = Server {
        idp,
        base,
        resource,
        notes,
    };
    let metadata = server.metadata_url();

    // No token, and an expired one: the scopes every request needs, for the first login.
    let http = reqwest::Client::new();
    let answer = http
        .post(&server.resource)
        .body(WRITE)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 401);
    assert_eq!(
        answer.headers()["www-authenticate"],
        format!(r#"Bearer scope="mcp", resource_metadata="{metadata}""#).as_str()
    );
    let expired = server
        .idp
        .token()
        .scope("mcp write")
        .expires_in(-3600)
        .sign();
    let answer = Raw::post_to(&http, &server.resource, &expired, None, WRITE).await;
    assert_eq!(answer.status(), 401);
    assert_eq!(
        answer.headers()["www-authenticate"],
        format!(r#"Bearer error="invalid_token", scope="mcp", resource_metadata="{metadata}""#)
            .as_str()
    );

    // A tool's step-up: the call's scopes, base and tool's, beside the `acr` it needs.
    let raw = Raw::open(&server, server.token("mcp write")).await;
    let answer = Raw::post_to(&raw.http, &raw.url, &raw.token, Some(&raw.session), WRITE).await;
    assert_eq!(answer.status(), 401);
    assert_eq!(
        answer.headers()["www-authenticate"],
        format!(
            r#"Bearer error="insufficient_user_authentication", scope="mcp write", acr_values="mfa", resource_metadata="{metadata}""#
        )
        .as_str()
    );
    // Logged in with `mfa` but without `write`: the 403 names the call's scopes, once.
    let mfa = server
        .idp
        .token()
        .scope("mcp")
        .claim("acr", json!("mfa"))
        .sign();
    let raw = Raw::open(&server, mfa).await;
    let answer = Raw::post_to(&raw.http, &raw.url, &raw.token, Some(&raw.session), WRITE).await;
    assert_eq!(answer.status(), 403);
    assert_eq!(
        answer.headers()["www-authenticate"],
        format!(
            r#"Bearer error="insufficient_scope", scope="mcp write", resource_metadata="{metadata}""#
        )
        .as_str()
    );
    assert!(server.notes.stored().is_empty());
}

#[tokio::test]
async fn the_inner_service_gets_the_body_byte_for_byte() {
    let (listener, base) = listener().await;
    let resource = format!("{base}/echo");
    let idp = TestIssuer::builder().audience(&resource).start().await;
    let auth = layer(&idp, &resource).await;
    let mcp = auth.mcp(tool_scopes()).unwrap();
    let app = Router::new()
        .route("/echo", post(|body: Bytes| async move { body }))
        .route_layer(mcp);
    tokio::spawn(axum::serve(listener, app).into_future());
    let token = idp.token().scope("write").sign();
    let bodies: Vec<Vec<u8>> = vec![
        b" {\"params\" : {\"name\":\"write\\u005fnote\", \"arguments\":{\"text\":\"\\ud83d\\ude00 caf\xc3\xa9\", \"a\":1, \"a\":2}},\r\n\t\"method\":\"tools/call\",\"jsonrpc\":\"2.0\",\"id\":1e3}\n".to_vec(),
        br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_vec(),
        format!(r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"write_note","arguments":{{"text":"{}"}}}}}}"#, "x".repeat(900_000)).into_bytes(),
    ];
    let http = reqwest::Client::new();
    for body in bodies {
        let answer = http
            .post(&resource)
            .bearer_auth(&token)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        assert_eq!(answer.bytes().await.unwrap(), body);
    }
    // A declared length over the cap is refused before the body is read.
    let answer = http
        .post(&resource)
        .bearer_auth(&token)
        .body(vec![b' '; (1 << 20) + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 413);
}

#[tokio::test]
async fn the_profile_refuses_layers_that_read_tokens_from_a_cookie_or_the_query() {
    let idp = TestIssuer::start().await;
    let resource = "http://127.0.0.1:9/mcp";
    let build = |config: Config| async move {
        Portcullis::from_config(config)
            .build()
            .await
            .unwrap()
            .mcp(tool_scopes())
            .map(|_| ())
    };
    let base = || {
        let mut config = Config::default();
        config.issuers = vec![IssuerConfig::new(idp.issuer())];
        config.resource = Some(resource.to_owned());
        config
    };
    let mut cookie = base();
    cookie.token_cookie = Some("at".to_owned());
    let mut query = base();
    query.danger_token_query_parameter = true;
    for config in [cookie, query] {
        let error = build(config).await.unwrap_err();
        assert!(
            matches!(
                error.kind(),
                ConfigErrorKind::Invalid {
                    setting: "token_sources",
                    ..
                }
            ),
            "{error}"
        );
    }
    assert!(build(base()).await.is_ok());
    // Without a resource there is no metadata for clients to find.
    let bare = Portcullis::builder()
        .issuer(idp.issuer())
        .audience("api")
        .build()
        .await
        .unwrap();
    let error = bare.mcp(tool_scopes()).unwrap_err();
    assert!(
        matches!(
            error.kind(),
            ConfigErrorKind::Missing {
                setting: "resource",
                ..
            }
        ),
        "{error}"
    );
}

#[tokio::test]
async fn tokens_in_the_query_or_a_cookie_are_not_read_by_the_profile() {
    let server = start().await;
    let token = server.token("read write");
    let http = reqwest::Client::new();
    let init = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}"#;
    for request in [
        http.post(format!("{}?access_token={token}", server.resource)),
        http.post(&server.resource)
            .header("cookie", format!("at={token}")),
        http.post(&server.resource).header("x-token", &token),
    ] {
        let answer = request
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(init)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 401);
        assert_eq!(
            answer.headers()["www-authenticate"],
            format!(r#"Bearer resource_metadata="{}""#, server.metadata_url()).as_str()
        );
    }
}

#[tokio::test]
async fn a_chunked_body_over_the_cap_is_refused_without_a_declared_length() {
    use tokio::io::AsyncWriteExt;

    // A write token and a write_note that rmcp (whose own cap is 4 MiB) would run.
    let server = start().await;
    let raw = Raw::open(&server, server.token("read write")).await;
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{{"name":"write_note","arguments":{{"text":"{}"}}}}}}"#,
        "a".repeat(1 << 20)
    );
    let authority = server.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(authority).await.unwrap();
    let head = format!(
        "POST {MCP_PATH} HTTP/1.1\r\nhost: {authority}\r\nauthorization: Bearer {}\r\n\
         mcp-session-id: {}\r\ncontent-type: application/json\r\n\
         accept: application/json, text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n",
        raw.token, raw.session
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    for chunk in body.as_bytes().chunks(64 * 1024) {
        let sent = async {
            stream
                .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .await?;
            stream.write_all(chunk).await?;
            stream.write_all(b"\r\n").await
        };
        // The server may answer and close before the last chunk.
        if sent.await.is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    // The status line is enough (the connection may stay open).
    let answer = status_line(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(server.notes.stored().is_empty());
}

#[tokio::test]
async fn a_declared_length_over_the_cap_is_refused_before_the_body_is_read() {
    use tokio::io::AsyncWriteExt;

    // The request says 2 MiB and sends a few bytes of it: the answer comes at once, without
    // waiting for a body that is never going to arrive.
    let server = start().await;
    let raw = Raw::open(&server, server.token("read write")).await;
    let authority = server.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(authority).await.unwrap();
    let head = format!(
        "POST {MCP_PATH} HTTP/1.1\r\nhost: {authority}\r\nauthorization: Bearer {}\r\n\
         mcp-session-id: {}\r\ncontent-type: application/json\r\n\
         accept: application/json, text/event-stream\r\ncontent-length: {}\r\n\r\n{{\"jsonrpc\"",
        raw.token,
        raw.session,
        2 << 20
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let answer = status_line(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(server.notes.stored().is_empty());
}

#[tokio::test]
async fn a_body_exactly_at_the_cap_is_read() {
    // A note longer than the handshake's messages, so that the cap is its length.
    let write = WRITE.replace("sneaked", &"a".repeat(1_000));
    let server = start_with(tool_scopes().max_body_bytes(write.len())).await;
    let raw = Raw::open(&server, server.token("read write")).await;
    let (status, answer) = raw.post(write.clone()).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(server.notes.stored().len(), 1);
    let longer = write.replace("aaa", "aaaa");
    let (status, _) = raw.post(longer).await;
    assert_eq!(status, 413);
    assert_eq!(server.notes.stored().len(), 1);
}

/// The first line of the server's answer on `stream` (failing after 10 s without one).
async fn status_line(stream: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while !answer.windows(2).any(|w| w == b"\r\n") {
        let read = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("the server answers")
            .unwrap();
        assert!(read > 0, "the server closed without an answer");
        answer.extend_from_slice(&buf[..read]);
    }
    String::from_utf8_lossy(&answer).into_owned()
}
