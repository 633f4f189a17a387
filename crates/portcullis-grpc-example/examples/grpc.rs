//! A tonic server protected by portcullis, called by a tonic client over loopback.
//!
//! ```text
//! cargo run --example grpc      # from the repository root; exits 0 when every status is right
//! ```
//!
//! It starts the test authorization server (portcullis-testkit), serves `orders.v1.Orders`
//! (`proto/orders.proto`) behind portcullis's layer with a per-method policy, and calls each
//! method with a good token, no token and a token lacking the method's scope, through a client
//! whose interceptor adds the token. Every refusal is a gRPC status the client reads as such:
//! `UNAUTHENTICATED` without a valid token, `PERMISSION_DENIED` without the scope.

// An example prints, and stops loudly on a setup failure.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::error::Error;
use std::process::ExitCode;

use portcullis::Portcullis;
use portcullis_grpc_example::pb::orders_client::OrdersClient;
use portcullis_grpc_example::pb::orders_server::OrdersServer;
use portcullis_grpc_example::pb::{CreateOrderRequest, GetOrderRequest, ListOrdersRequest};
use portcullis_grpc_example::{BearerToken, OrdersService, policy};
use portcullis_testkit::TestIssuer;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Server};
use tonic::{Code, Status};

type BoxError = Box<dyn Error + Send + Sync>;

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(0) => ExitCode::SUCCESS,
        Ok(wrong) => {
            eprintln!("grpc: {wrong} answer(s) not as expected");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("grpc: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<usize, BoxError> {
    // The authorization server, and the protected gRPC server.
    let idp = TestIssuer::start().await;
    let auth = Portcullis::builder()
        .issuer(idp.issuer())
        .audience("api")
        .realm("orders")
        .policy(policy()?)
        .build()
        .await?;
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(
        Server::builder()
            .layer(auth.clone())
            .add_service(OrdersServer::new(OrdersService))
            .serve_with_incoming_shutdown(TcpIncoming::from(listener), async {
                // Either a send or the sender's drop ends the wait.
                let _ = stopped.await;
            }),
    );
    println!("authorization server  {}", idp.issuer());
    println!("gRPC server           http://{addr}\n");

    let channel = Channel::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    let read = idp.token().subject("alice").scope("orders.read").sign();
    let write = idp.token().subject("alice").scope("orders.write").sign();
    let calls = [
        (Method::Get, "orders.read", Some(&read), Code::Ok),
        (Method::Get, "no token", None, Code::Unauthenticated),
        (
            Method::Get,
            "orders.write only",
            Some(&write),
            Code::PermissionDenied,
        ),
        (Method::Create, "orders.write", Some(&write), Code::Ok),
        (Method::Create, "no token", None, Code::Unauthenticated),
        (
            Method::Create,
            "orders.read only",
            Some(&read),
            Code::PermissionDenied,
        ),
        (Method::List, "orders.read", Some(&read), Code::Ok),
        (Method::List, "no token", None, Code::Unauthenticated),
        (
            Method::List,
            "orders.write only",
            Some(&write),
            Code::PermissionDenied,
        ),
    ];
    let mut wrong = 0;
    for (method, token_name, token, expected) in calls {
        let interceptor = match token {
            Some(token) => BearerToken::new(token)?,
            None => BearerToken::none(),
        };
        let client = OrdersClient::with_interceptor(channel.clone(), interceptor);
        let outcome = method.call(client).await;
        let code = outcome.as_ref().map_or_else(Status::code, |_| Code::Ok);
        let mark = if code == expected { "ok  " } else { "BAD " };
        wrong += usize::from(code != expected);
        let said = match &outcome {
            Ok(said) => said.clone(),
            Err(status) => describe(status),
        };
        println!(
            "{mark}{:<12} {token_name:<18} -> {code:?} ({}): {said}",
            method.name(),
            i32::from(code),
        );
    }
    println!(
        "\n{} calls, {} as expected",
        calls.len(),
        calls.len() - wrong
    );

    let _ = stop.send(());
    server.await??;
    Ok(wrong)
}

#[derive(Clone, Copy)]
enum Method {
    Get,
    Create,
    List,
}

type Client = OrdersClient<tonic::service::interceptor::InterceptedService<Channel, BearerToken>>;

impl Method {
    fn name(self) -> &'static str {
        match self {
            Method::Get => "GetOrder",
            Method::Create => "CreateOrder",
            Method::List => "ListOrders",
        }
    }

    /// Calls the method; on success, what the server answered.
    async fn call(self, mut client: Client) -> Result<String, Status> {
        match self {
            Method::Get => {
                let id = "o-1".to_owned();
                let order = client.get_order(GetOrderRequest { id }).await?;
                let order = order.into_inner();
                Ok(format!("order {} of {}", order.id, order.owner))
            }
            Method::Create => {
                let item = "coffee".to_owned();
                let order = client.create_order(CreateOrderRequest { item }).await?;
                let order = order.into_inner();
                Ok(format!(
                    "created {} ({}) for {}",
                    order.id, order.item, order.owner
                ))
            }
            Method::List => {
                let mut stream = client.list_orders(ListOrdersRequest {}).await?.into_inner();
                let mut ids = Vec::new();
                while let Some(order) = stream.message().await? {
                    ids.push(order.id);
                }
                Ok(format!("streamed {}", ids.join(", ")))
            }
        }
    }
}

/// The status's message and the challenge the server sent with it.
fn describe(status: &Status) -> String {
    let challenge = status
        .metadata()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    format!("\"{}\"; www-authenticate: {challenge}", status.message())
}
