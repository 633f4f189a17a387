//! An MCP server protected by portcullis's MCP profile, and an MCP client that finds out how
//! to get in.
//!
//! ```text
//! cargo run --example mcp                 # the tour: a local authorization server, the server, an rmcp client; exits 0 when every answer is right
//! cargo run --example mcp -- --serve      # keep serving with the local authorization server; prints tokens
//! cargo run --example mcp -- --serve --issuer https://idp.example.com --resource https://mcp.example.com/mcp [--listen 127.0.0.1:8080]
//! ```
//!
//! The server (`notes.rs`) is an `rmcp` Streamable HTTP server at `/mcp` with three tools:
//! `whoami` and `list_notes` need the scope `read`, `write_note` the scope `write`. Its
//! metadata (RFC 9728) is at `/.well-known/oauth-protected-resource/mcp`.
//!
//! The tour's client knows only the server's URL: refused with `401`, it reads
//! `resource_metadata` from the challenge, fetches the metadata, finds the authorization
//! server there and its token endpoint in the server's own metadata (RFC 8414), gets a
//! `read` token, calls the tools, is refused `write_note` with `403` and the scope it needs,
//! and comes back with a token for that scope.
//!
//! With `--issuer` and `--resource`, the same server trusts a real authorization server:
//! tokens must name the resource URL as their audience (RFC 8707), and any MCP client can be
//! pointed at it.

// An example prints, and stops loudly on a setup failure.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used
)]

mod notes;

use std::net::SocketAddr;
use std::process::ExitCode;

use notes::{MCP_PATH, Notes, app, tool_scopes};
use portcullis::Portcullis;
use portcullis_testkit::TestIssuer;
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

const USAGE: &str = "usage: mcp [--serve [--listen ADDR]]
       mcp --serve --issuer URL --resource URL [--listen ADDR]";

/// What the command line asks for.
enum Mode {
    Tour,
    Serve {
        listen: SocketAddr,
        /// A real authorization server and this server's resource identifier.
        external: Option<(String, String)>,
    },
}

impl Mode {
    fn parse(args: &[String]) -> Result<Mode, String> {
        let mut serve = false;
        let mut issuer = None;
        let mut resource = None;
        let mut listen: SocketAddr = ([127, 0, 0, 1], 8080).into();
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut value = || {
                args.next()
                    .cloned()
                    .ok_or_else(|| format!("{arg} needs a value"))
            };
            match arg.as_str() {
                "--serve" => serve = true,
                "--issuer" => issuer = Some(value()?),
                "--resource" => resource = Some(value()?),
                "--listen" => {
                    let v = value()?;
                    listen = v
                        .parse()
                        .map_err(|_| format!("--listen {v:?} is not an address"))?;
                }
                "-h" | "--help" => return Err("help".to_owned()),
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        match (serve, issuer, resource) {
            (false, None, None) => Ok(Mode::Tour),
            (true, None, None) => Ok(Mode::Serve {
                listen,
                external: None,
            }),
            (true, Some(issuer), Some(resource)) => Ok(Mode::Serve {
                listen,
                external: Some((issuer, resource)),
            }),
            (_, Some(_), None) | (_, None, Some(_)) => {
                Err("--issuer and --resource go together".to_owned())
            }
            (false, Some(_), Some(_)) => Err("--issuer and --resource go with --serve".to_owned()),
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match Mode::parse(&args) {
        Ok(Mode::Tour) => tour().await,
        Ok(Mode::Serve { listen, external }) => serve(listen, external).await,
        Err(message) => {
            eprintln!("mcp: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("mcp: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Starts the server on `listener` for `resource`, trusting `issuer`; `hosts` are the
/// `Host` values accepted (loopback when `None`).
async fn start(
    listener: tokio::net::TcpListener,
    issuer: &str,
    resource: &str,
    hosts: Option<Vec<String>>,
) -> Result<(), String> {
    let auth = Portcullis::builder()
        .issuer(issuer)
        .resource(resource)
        .build()
        .await
        .map_err(|e| format!("portcullis: {e}"))?;
    let app = app(&auth, Notes::new(), tool_scopes(), hosts).map_err(|e| e.to_string())?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(())
}

/// The value of the auth-param `name` in a `WWW-Authenticate` challenge.
fn param(challenge: &str, name: &str) -> Option<String> {
    let (_, rest) = challenge.split_once(&format!("{name}=\""))?;
    rest.split('"').next().map(str::to_owned)
}

/// An MCP session with `token` (none: `Err` with the challenge, or the failure).
async fn connect(url: &str, token: Option<&str>) -> Result<RunningService<RoleClient, ()>, String> {
    let mut config = StreamableHttpClientTransportConfig::with_uri(url);
    if let Some(token) = token {
        config = config.auth_header(token);
    }
    ().serve(StreamableHttpClientTransport::from_config(config))
        .await
        .map_err(|e| match e.auth_challenge() {
            Some(challenge) => challenge.to_owned(),
            None => format!("the MCP handshake failed: {e}"),
        })
}

/// Calls `tool`; its text, or the challenge of a refusal.
async fn call(
    client: &RunningService<RoleClient, ()>,
    tool: &str,
    arguments: Value,
) -> Result<String, String> {
    let mut params = CallToolRequestParams::new(tool.to_owned());
    if let Value::Object(arguments) = arguments {
        params = params.with_arguments(arguments);
    }
    match client.call_tool(params).await {
        Ok(result) => Ok(result
            .content
            .iter()
            .filter_map(|c| c.as_text().map(|t| t.text.clone()))
            .collect()),
        Err(e) => Err(e
            .auth_challenge()
            .map_or_else(|| format!("{tool} failed: {e}"), str::to_owned)),
    }
}

/// A token from the authorization server at `issuer`, found through its metadata (RFC
/// 8414), for `scope` and the resource (RFC 8707), with the test client's credentials.
async fn get_token(http: &reqwest::Client, issuer: &str, scope: &str) -> Result<String, String> {
    let discovery = format!("{issuer}/.well-known/openid-configuration");
    let metadata: Value = http
        .get(&discovery)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| format!("{discovery}: {e}"))?
        .json()
        .await
        .map_err(|e| format!("{discovery}: {e}"))?;
    let endpoint = metadata
        .get("token_endpoint")
        .and_then(Value::as_str)
        .ok_or("the authorization server names no token endpoint")?;
    let answer: Value = http
        .post(endpoint)
        .basic_auth("client-1", Some("secret-1"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=client_credentials&scope={}",
            form_encode(scope)
        ))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| format!("{endpoint}: {e}"))?
        .json()
        .await
        .map_err(|e| format!("{endpoint}: {e}"))?;
    answer
        .get("access_token")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| "the token answer has no access_token".to_owned())
}

/// `value` for an `application/x-www-form-urlencoded` body.
fn form_encode(value: &str) -> String {
    let mut out = String::new();
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(byte));
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Fails with `what` unless `ok`.
fn check(ok: bool, what: &str) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(format!("unexpected: {what}"))
    }
}

async fn tour() -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let base = format!(
        "http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    let url = format!("{base}{MCP_PATH}");
    let idp = TestIssuer::builder().audience(&url).start().await;
    start(listener, &idp.issuer(), &url, None).await?;
    println!("authorization server  {}", idp.issuer());
    println!("MCP server            {url}\n");
    let http = reqwest::Client::new();

    println!("1. connect without a token");
    let challenge = match connect(&url, None).await {
        Ok(_) => return Err("the server let a client in without a token".to_owned()),
        Err(challenge) => challenge,
    };
    println!("   401, WWW-Authenticate: {challenge}");
    let metadata_url = param(&challenge, "resource_metadata").ok_or("no resource_metadata")?;

    println!("2. fetch the resource's metadata");
    let metadata: Value = http
        .get(&metadata_url)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    println!("   {metadata}");
    check(
        metadata.get("resource") == Some(&json!(url)),
        "the metadata's resource",
    )?;
    let issuer = metadata
        .pointer("/authorization_servers/0")
        .and_then(Value::as_str)
        .ok_or("no authorization server")?;

    println!("3. get a token for `read` from {issuer}");
    let reader = get_token(&http, issuer, "read").await?;
    let client = connect(&url, Some(&reader)).await?;
    let me = call(&client, "whoami", json!({})).await?;
    println!("   whoami      -> {me}");
    check(me.contains(r#""scopes":"read""#), "whoami's scopes")?;
    let listed = call(&client, "list_notes", json!({})).await?;
    println!("   list_notes  -> {listed}");
    check(listed == "[]", "the notes before any was written")?;

    println!("4. write a note with the `read` token");
    let refusal = match call(&client, "write_note", json!({"text": "hello"})).await {
        Ok(note) => return Err(format!("a read token wrote a note: {note}")),
        Err(refusal) => refusal,
    };
    println!("   403, WWW-Authenticate: {refusal}");
    check(
        refusal.contains(r#"error="insufficient_scope""#),
        "the refusal's error",
    )?;
    let needed = param(&refusal, "scope").ok_or("the refusal names no scope")?;
    check(needed == "write", "the scope write_note needs")?;

    println!("5. get a token for `{needed}` and write again");
    let writer = get_token(&http, issuer, &format!("read {needed}")).await?;
    let client = connect(&url, Some(&writer)).await?;
    let note = call(&client, "write_note", json!({"text": "hello"})).await?;
    println!("   write_note  -> {note}");
    check(note.contains(r#""text":"hello""#), "the note stored")?;
    let listed = call(&client, "list_notes", json!({})).await?;
    println!("   list_notes  -> {listed}");
    check(listed.contains("hello"), "the notes after the write")?;
    let _ = client.cancel().await;

    println!("\nevery answer was the expected one");
    Ok(())
}

async fn serve(listen: SocketAddr, external: Option<(String, String)>) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("{listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let (local_idp, issuer, resource, hosts) = match external {
        Some((issuer, resource)) => {
            let url = reqwest::Url::parse(&resource).map_err(|e| format!("--resource: {e}"))?;
            let host = url.host_str().ok_or("--resource names no host")?.to_owned();
            let mut hosts = vec![host.clone()];
            if let Some(port) = url.port() {
                hosts.push(format!("{host}:{port}"));
            }
            (None, issuer, resource, Some(hosts))
        }
        None => {
            let resource = format!("http://{addr}{MCP_PATH}");
            let idp = TestIssuer::builder().audience(&resource).start().await;
            let issuer = idp.issuer();
            (Some(idp), issuer, resource, None)
        }
    };
    start(listener, &issuer, &resource, hosts).await?;
    println!("authorization server  {issuer}");
    println!("MCP server            {resource} (listening on {addr})");
    if let Some(idp) = &local_idp {
        let token = |scope: &str| idp.token().subject("you").scope(scope).sign();
        println!("a read token          {}", token("read"));
        println!("a read+write token    {}", token("read write"));
    }
    println!("tools: whoami, list_notes (scope read), write_note (scope write); Ctrl-C stops");
    tokio::signal::ctrl_c().await.map_err(|e| e.to_string())?;
    Ok(())
}
