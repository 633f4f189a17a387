// Tests may unwrap, index and panic: a failure is the test's report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! portcullis's layer on a real tonic server over loopback, called by a real tonic client: the
//! status of every refusal, per-method and per-service rules, the global default, a public
//! health service, and plain HTTP requests on the same server.

use std::net::SocketAddr;

use portcullis::Portcullis;
use portcullis_core::{ErrorKind, Presentation, ScopeRequirement, Validator, Verdict, Verifier};
use portcullis_grpc_example::pb::orders_client::OrdersClient;
use portcullis_grpc_example::pb::orders_server::OrdersServer;
use portcullis_grpc_example::pb::{CreateOrderRequest, GetOrderRequest, ListOrdersRequest, Order};
use portcullis_grpc_example::{
    BearerToken, CREATE_ORDER, GET_ORDER, GIFT_CARD, LISTED, OrdersService, policy,
};
use portcullis_jwks::{JwtVerifier, RemoteJwks};
use portcullis_testkit::{Algorithm, JwksFault, TestIssuer, tamper};
use portcullis_tower::{Answers, BearerAuthLayer, Policy};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::metadata::KeyAndValueRef;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Server};
use tonic::{Code, Request, Status};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

const REALM: &str = "orders";
const MISSING: &str = r#"Bearer realm="orders""#;
const INVALID: &str = r#"Bearer realm="orders", error="invalid_token""#;

/// A tonic server on 127.0.0.1:0 (HTTP/2, and HTTP/1.1 for the plain requests): the orders
/// service and the standard health service, behind `layer`. Stops when dropped.
struct Running {
    addr: SocketAddr,
    channel: Channel,
    _stop: oneshot::Sender<()>,
}

type Client = OrdersClient<InterceptedService<Channel, BearerToken>>;

impl Running {
    async fn start(layer: BearerAuthLayer) -> Running {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (_health_reporter, health) = tonic_health::server::health_reporter();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(
            Server::builder()
                .accept_http1(true)
                .layer(layer)
                .add_service(health)
                .add_service(OrdersServer::new(OrdersService))
                .serve_with_incoming_shutdown(TcpIncoming::from(listener), async {
                    let _ = stopped.await;
                }),
        );
        let channel = Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        Running {
            addr,
            channel,
            _stop: stop,
        }
    }

    fn orders(&self, token: Option<&str>) -> Client {
        let interceptor = token.map_or_else(BearerToken::none, |t| BearerToken::new(t).unwrap());
        OrdersClient::with_interceptor(self.channel.clone(), interceptor)
    }

    async fn get(&self, token: Option<&str>) -> Result<Order, Status> {
        let req = GetOrderRequest { id: "o-7".into() };
        Ok(self.orders(token).get_order(req).await?.into_inner())
    }

    async fn create(&self, token: Option<&str>) -> Result<Order, Status> {
        let req = CreateOrderRequest {
            item: "coffee".into(),
        };
        Ok(self.orders(token).create_order(req).await?.into_inner())
    }

    async fn list(&self, token: Option<&str>) -> Result<Vec<Order>, Status> {
        let mut stream = self
            .orders(token)
            .list_orders(ListOrdersRequest {})
            .await?
            .into_inner();
        let mut orders = Vec::new();
        while let Some(order) = stream.message().await? {
            orders.push(order);
        }
        Ok(orders)
    }

    /// A plain HTTP/1.1 POST to a method path, as a non-gRPC client sends it.
    async fn http_post(
        &self,
        path: &str,
        content_type: &str,
        token: Option<&str>,
    ) -> reqwest::Response {
        let mut req = reqwest::Client::new()
            .post(format!("http://{}{path}", self.addr))
            .header("content-type", content_type);
        if let Some(token) = token {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        req.send().await.unwrap()
    }
}

/// The layer users get from the facade: the issuer's keys found through discovery.
async fn layer(idp: &TestIssuer, policy: Policy) -> BearerAuthLayer {
    Portcullis::builder()
        .issuer(idp.issuer())
        .audience("api")
        .realm(REALM)
        .policy(policy)
        .build()
        .await
        .unwrap()
}

async fn example_server(idp: &TestIssuer) -> Running {
    Running::start(layer(idp, policy().unwrap()).await).await
}

fn read_all_of(scope: &str) -> ScopeRequirement {
    ScopeRequirement::all_of([scope])
}

fn metadata<'a>(status: &'a Status, name: &str) -> Option<&'a str> {
    status.metadata().get(name).map(|v| v.to_str().unwrap())
}

#[track_caller]
fn assert_status(
    result: Result<impl std::fmt::Debug, Status>,
    code: Code,
    message: &str,
    challenge: Option<&str>,
) -> Status {
    let status = result.expect_err("the call should have been refused");
    assert_eq!(status.code(), code, "{status:?}");
    assert_eq!(status.message(), message);
    assert_eq!(metadata(&status, "www-authenticate"), challenge);
    assert_eq!(metadata(&status, "cache-control"), Some("no-store"));
    status
}

#[tokio::test]
async fn good_tokens_reach_unary_and_streaming_methods_with_their_claims() {
    let idp = TestIssuer::start().await;
    let server = example_server(&idp).await;
    let read = idp.token().subject("alice").scope("orders.read").sign();
    let write = idp.token().subject("bob").scope("orders.write").sign();

    let order = server.get(Some(&read)).await.unwrap();
    assert_eq!((order.id.as_str(), order.owner.as_str()), ("o-7", "alice"));
    let order = server.create(Some(&write)).await.unwrap();
    assert_eq!(
        (order.item.as_str(), order.owner.as_str()),
        ("coffee", "bob")
    );
    let orders = server.list(Some(&read)).await.unwrap();
    assert_eq!(orders.len(), LISTED);
    assert!(orders.iter().all(|o| o.owner == "alice"));
}

#[tokio::test]
async fn no_token_is_unauthenticated_with_the_challenge_on_unary_and_streaming() {
    let idp = TestIssuer::start().await;
    let server = example_server(&idp).await;
    let message = "missing bearer token";
    let code = Code::Unauthenticated;
    assert_status(server.get(None).await, code, message, Some(MISSING));
    assert_status(server.create(None).await, code, message, Some(MISSING));
    assert_status(server.list(None).await, code, message, Some(MISSING));
}

#[tokio::test]
async fn invalid_tokens_are_unauthenticated_and_nothing_of_the_token_comes_back() {
    let idp = TestIssuer::start().await;
    let server = example_server(&idp).await;
    let good = idp.token().scope("orders.read").sign();
    let stranger = TestIssuer::start().await;
    let bad = [
        (
            "expired",
            idp.token().scope("orders.read").expires_in(-3600).sign(),
        ),
        (
            "other audience",
            idp.token().scope("orders.read").audience("billing").sign(),
        ),
        ("flipped signature", tamper::flip_signature_bit(&good)),
        ("not a JWT", "not.a.jwt".to_owned()),
        (
            "unknown issuer",
            stranger.token().scope("orders.read").sign(),
        ),
    ];
    for (what, token) in &bad {
        for result in [
            server.get(Some(token)).await.map(drop),
            server.list(Some(token)).await.map(drop),
        ] {
            let status = assert_status(
                result,
                Code::Unauthenticated,
                "invalid bearer token",
                Some(INVALID),
            );
            for part in token.split('.').filter(|p| p.len() > 8) {
                assert!(!status.message().contains(part), "{what}");
                for entry in status.metadata().iter() {
                    if let KeyAndValueRef::Ascii(_, value) = entry {
                        assert!(!value.to_str().unwrap().contains(part), "{what}");
                    }
                }
            }
        }
    }
}

#[tokio::test]
async fn malformed_credentials_are_unauthenticated_with_invalid_request() {
    let idp = TestIssuer::start().await;
    let server = example_server(&idp).await;
    let token = idp.token().scope("orders.read").sign();
    let challenge = r#"Bearer realm="orders", error="invalid_request""#;

    // Two credentials.
    let mut req = Request::new(GetOrderRequest::default());
    for _ in 0..2 {
        let value = format!("Bearer {token}").parse().unwrap();
        req.metadata_mut().append("authorization", value);
    }
    let mut plain = OrdersClient::new(server.channel.clone());
    let result = plain.get_order(req).await;
    let message = "malformed bearer credentials";
    assert_status(result, Code::Unauthenticated, message, Some(challenge));

    // Not `b64token` syntax.
    let mut req = Request::new(ListOrdersRequest {});
    let value = "Bearer a b".parse().unwrap();
    req.metadata_mut().insert("authorization", value);
    let result = plain.list_orders(req).await.map(drop);
    assert_status(result, Code::Unauthenticated, message, Some(challenge));
}

#[tokio::test]
async fn insufficient_scope_is_permission_denied_naming_the_scope() {
    let idp = TestIssuer::start().await;
    let server = example_server(&idp).await;
    let read = idp.token().scope("orders.read").sign();
    let write = idp.token().scope("orders.write").sign();
    let needs = |scope: &str| {
        format!(r#"Bearer realm="orders", error="insufficient_scope", scope="{scope}""#)
    };
    let code = Code::PermissionDenied;
    let message = "insufficient scope";
    let result = server.create(Some(&read)).await;
    assert_status(result, code, message, Some(&needs("orders.write")));
    let result = server.get(Some(&write)).await;
    assert_status(result, code, message, Some(&needs("orders.read")));
    let result = server.list(Some(&write)).await;
    assert_status(result, code, message, Some(&needs("orders.read")));
}

#[tokio::test]
async fn unavailable_keys_are_unavailable_on_unary_and_streaming_and_503_over_http() {
    let idp = TestIssuer::start().await;
    idp.set_fault(Some(JwksFault::Status(500)));
    let keys = RemoteJwks::builder(idp.jwks_url())
        .lazy()
        .build()
        .await
        .unwrap();
    let rules = Validator::builder()
        .issuer(idp.issuer())
        .audience("api")
        .build()
        .unwrap();
    let auth = BearerAuthLayer::new(JwtVerifier::new(keys, rules))
        .answers(Answers::default().realm(REALM))
        .policy(policy().unwrap());
    let server = Running::start(auth).await;
    let token = idp.token().scope("orders.read").sign();

    let message = "verification keys unavailable";
    assert_status(
        server.get(Some(&token)).await,
        Code::Unavailable,
        message,
        None,
    );
    assert_status(
        server.list(Some(&token)).await,
        Code::Unavailable,
        message,
        None,
    );

    let res = server
        .http_post(GET_ORDER, "application/json", Some(&token))
        .await;
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "5");
    assert!(res.headers().get("grpc-status").is_none());
}

#[tokio::test]
async fn a_method_rule_overrides_its_services_rule() {
    let idp = TestIssuer::start().await;
    let server = example_server(&idp).await;
    let read = idp.token().scope("orders.read").sign();
    let write = idp.token().scope("orders.write").sign();
    let both = idp.token().scope("orders.read orders.write").sign();

    // CreateOrder has its own rule (orders.write); the others fall to the service's (orders.read).
    assert!(server.create(Some(&write)).await.is_ok());
    assert_eq!(
        server.create(Some(&read)).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    assert!(server.get(Some(&read)).await.is_ok());
    assert!(server.list(Some(&read)).await.is_ok());
    assert_eq!(
        server.get(Some(&write)).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    for ok in [
        server.get(Some(&both)).await.map(drop),
        server.create(Some(&both)).await.map(drop),
        server.list(Some(&both)).await.map(drop),
    ] {
        ok.unwrap();
    }
}

#[tokio::test]
async fn a_handler_checks_a_scope_that_depends_on_the_message() {
    let idp = TestIssuer::start().await;
    let server = example_server(&idp).await;
    let write = idp.token().scope("orders.write").sign();
    let gifts = idp.token().scope("orders.write orders.gift_cards").sign();
    let order = |token: &str| {
        let mut client = server.orders(Some(token));
        async move {
            let item = GIFT_CARD.to_owned();
            client.create_order(CreateOrderRequest { item }).await
        }
    };
    let challenge =
        r#"Bearer realm="orders", error="insufficient_scope", scope="orders.gift_cards""#;
    let result = order(&write).await;
    assert_status(
        result,
        Code::PermissionDenied,
        "insufficient scope",
        Some(challenge),
    );
    assert_eq!(order(&gifts).await.unwrap().into_inner().item, GIFT_CARD);
    // Other items need only what the policy says.
    assert!(server.create(Some(&write)).await.is_ok());
}

#[tokio::test]
async fn a_service_rule_covers_every_method_without_its_own() {
    let idp = TestIssuer::start().await;
    // Only a service rule: every method needs orders.admin.
    let policy = Policy::deny_by_default()
        .route("/orders.v1.Orders/*", read_all_of("orders.admin"))
        .build()
        .unwrap();
    let server = Running::start(layer(&idp, policy).await).await;
    let admin = idp.token().scope("orders.admin").sign();
    let read = idp.token().scope("orders.read orders.write").sign();
    assert!(server.get(Some(&admin)).await.is_ok());
    assert!(server.create(Some(&admin)).await.is_ok());
    assert_eq!(server.list(Some(&admin)).await.unwrap().len(), LISTED);
    for denied in [
        server.get(Some(&read)).await.map(drop),
        server.create(Some(&read)).await.map(drop),
        server.list(Some(&read)).await.map(drop),
    ] {
        assert_eq!(denied.unwrap_err().code(), Code::PermissionDenied);
    }
}

#[tokio::test]
async fn methods_without_a_rule_get_the_global_default() {
    let idp = TestIssuer::start().await;
    let token = idp.token().scope("orders.read orders.write").sign();
    let bare = idp.token().scope("").sign();

    // Deny by default: only GetOrder has a rule; a valid token is PERMISSION_DENIED elsewhere.
    let deny = Policy::deny_by_default()
        .route(GET_ORDER, read_all_of("orders.read"))
        .build()
        .unwrap();
    let server = Running::start(layer(&idp, deny).await).await;
    assert!(server.get(Some(&token)).await.is_ok());
    let denied = r#"Bearer realm="orders", error="insufficient_scope""#;
    let code = Code::PermissionDenied;
    let message = "insufficient scope";
    assert_status(server.list(Some(&token)).await, code, message, Some(denied));
    assert_status(
        server.create(Some(&token)).await,
        code,
        message,
        Some(denied),
    );
    let code = Code::Unauthenticated;
    assert_status(
        server.list(None).await,
        code,
        "missing bearer token",
        Some(MISSING),
    );
    drop(server);

    // Any valid token by default.
    let authenticated = Policy::authenticated_by_default()
        .route(GET_ORDER, read_all_of("orders.read"))
        .build()
        .unwrap();
    let server = Running::start(layer(&idp, authenticated).await).await;
    assert_eq!(server.list(Some(&bare)).await.unwrap().len(), LISTED);
    assert!(server.create(Some(&bare)).await.is_ok());
    assert_eq!(
        server.get(Some(&bare)).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    assert_eq!(
        server.list(None).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    drop(server);

    // Allow by default (a final public `/**`): the layer lets calls through without looking
    // for a token, so a handler that needs claims refuses them itself, with the layer's words
    // (`grpc::require_claims`).
    let allow = Policy::deny_by_default()
        .route(CREATE_ORDER, read_all_of("orders.write"))
        .public("/**")
        .build()
        .unwrap();
    let server = Running::start(layer(&idp, allow).await).await;
    let code = Code::Unauthenticated;
    assert_status(
        server.list(None).await,
        code,
        "missing bearer token",
        Some(MISSING),
    );
    assert_status(
        server.get(Some(&token)).await,
        code,
        "missing bearer token",
        Some(MISSING),
    );
    assert!(server.create(Some(&token)).await.is_ok());
    assert_eq!(
        server.create(None).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    drop(server);

    // Optional authentication by default: a token is verified when sent, and its claims reach
    // the handler; a call without one passes without claims.
    let optional = Policy::authenticated_by_default().build().unwrap();
    let server = Running::start(layer(&idp, optional).await.optional()).await;
    assert_eq!(server.list(Some(&bare)).await.unwrap().len(), LISTED);
    assert_status(
        server.list(None).await,
        code,
        "missing bearer token",
        Some(MISSING),
    );
    let expired = idp.token().expires_in(-3600).sign();
    let result = server.list(Some(&expired)).await;
    assert_status(result, code, "invalid bearer token", Some(INVALID));
}

#[tokio::test]
async fn the_health_service_is_public_only_when_the_policy_says_so() {
    let idp = TestIssuer::start().await;
    let check = |channel: Channel| async move {
        let req = HealthCheckRequest {
            service: String::new(),
        };
        HealthClient::new(channel).check(req).await
    };

    let server = example_server(&idp).await;
    let health = check(server.channel.clone()).await.unwrap().into_inner();
    assert_eq!(health.status(), ServingStatus::Serving);
    assert_eq!(
        server.get(None).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    drop(server);

    let closed = Policy::deny_by_default()
        .route("/orders.v1.Orders/*", read_all_of("orders.read"))
        .build()
        .unwrap();
    let server = Running::start(layer(&idp, closed).await).await;
    let status = check(server.channel.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let token = idp.token().scope("orders.read").sign();
    let mut client =
        HealthClient::with_interceptor(server.channel.clone(), BearerToken::new(&token).unwrap());
    let status = client
        .check(HealthCheckRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn plain_http_on_the_same_server_gets_rfc_6750_answers() {
    let idp = TestIssuer::start().await;
    let server = example_server(&idp).await;
    let read = idp.token().scope("orders.read").sign();
    let expired = idp.token().scope("orders.read").expires_in(-3600).sign();

    let cases = [
        (GET_ORDER, None, 401, Some(MISSING)),
        (GET_ORDER, Some(&expired), 401, Some(INVALID)),
        (
            CREATE_ORDER,
            Some(&read),
            403,
            Some(r#"Bearer realm="orders", error="insufficient_scope", scope="orders.write""#),
        ),
    ];
    for (path, token, status, challenge) in cases {
        let res = server
            .http_post(path, "application/json", token.map(String::as_str))
            .await;
        assert_eq!(res.status(), status, "{path}");
        let header = |name: &str| res.headers().get(name).map(|v| v.to_str().unwrap());
        assert_eq!(header("www-authenticate"), challenge);
        assert_eq!(header("cache-control"), Some("no-store"));
        assert_eq!(header("grpc-status"), None);
    }
    // The same server still answers gRPC callers in gRPC.
    assert_eq!(
        server.get(None).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    assert!(server.get(Some(&read)).await.is_ok());
}

#[tokio::test]
async fn grpc_content_types_over_http1_get_http_statuses_unless_grpc_web_is_declared() {
    let idp = TestIssuer::start().await;
    // Over HTTP/1.1 nothing is gRPC on a server not declared gRPC-Web: whatever the content
    // type, a refusal is a 401 that a proxy in front reads as one.
    let server = example_server(&idp).await;
    for content_type in [
        "application/grpc",
        "application/grpc+proto",
        "application/grpc;charset=utf-8",
        "application/grpc-web",
        "application/grpc-web-text",
    ] {
        let res = server.http_post(GET_ORDER, content_type, None).await;
        assert_eq!(res.version(), http::Version::HTTP_11);
        assert_eq!(res.status(), 401, "{content_type}");
        let header = |name: &str| res.headers().get(name).map(|v| v.to_str().unwrap());
        assert_eq!(header("grpc-status"), None, "{content_type}");
        assert_eq!(header("www-authenticate"), Some(MISSING));
    }

    // Declared in front of gRPC-Web routes, gRPC-Web callers get trailers-only answers.
    let layer = Portcullis::builder()
        .issuer(idp.issuer())
        .audience("api")
        .realm(REALM)
        .grpc_web()
        .policy(policy().unwrap())
        .build()
        .await
        .unwrap();
    let server = Running::start(layer).await;
    for (content_type, answered) in [
        ("application/grpc-web", "application/grpc-web+proto"),
        ("application/grpc-web+proto", "application/grpc-web+proto"),
        (
            "application/grpc-web-text",
            "application/grpc-web-text+proto",
        ),
        ("application/grpc", "application/grpc"),
    ] {
        let res = server.http_post(GET_ORDER, content_type, None).await;
        assert_eq!(res.status(), 200, "{content_type}");
        let header = |name: &str| res.headers().get(name).map(|v| v.to_str().unwrap());
        assert_eq!(header("content-type"), Some(answered));
        assert_eq!(header("grpc-status"), Some("16"));
        assert_eq!(header("grpc-message"), Some("missing bearer token"));
        assert_eq!(header("www-authenticate"), Some(MISSING));
        assert_eq!(res.bytes().await.unwrap().len(), 0);
    }
    // The tonic client over HTTP/2 still gets its status.
    assert_eq!(
        server.get(None).await.unwrap_err().code(),
        Code::Unauthenticated
    );
}

/// Refuses every token with a reason that needs percent-encoding in `grpc-message`.
struct Suspended;

const REASON: &str = "tenant \u{ab}north\u{bb} is 100% suspended";

impl Verifier for Suspended {
    fn verify(&self, _presentation: &Presentation<'_>) -> Verdict {
        Verdict::Ready(Err(ErrorKind::Rejected(REASON.into()).into()))
    }
}

#[tokio::test]
async fn described_messages_are_percent_encoded_on_the_wire_and_decoded_by_tonic() {
    // Declared gRPC-Web, so that the raw HTTP/1.1 request below gets the gRPC answer too.
    let answers = Answers::default().describe_errors(true).grpc_web(true);
    let auth = BearerAuthLayer::new(Suspended).answers(answers);
    let server = Running::start(auth).await;

    let status = server.get(Some("a.b.c")).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(status.message(), format!("rejected: {REASON}"));

    let res = server
        .http_post(GET_ORDER, "application/grpc", Some("a.b.c"))
        .await;
    assert_eq!(
        res.headers()["grpc-message"],
        "rejected: tenant %C2%ABnorth%C2%BB is 100%25 suspended"
    );
}

#[tokio::test]
async fn a_rotated_signing_key_is_fetched_once_for_unary_and_streaming_calls() {
    let idp = TestIssuer::start().await;
    let server = example_server(&idp).await;
    let fetched = idp.jwks_fetches();
    let _new = idp.rotate(Algorithm::ES256);
    let token = idp.token().subject("carol").scope("orders.read").sign();

    // The first call waits for the refetch (the layer's boxed path), then reaches the handler.
    assert_eq!(server.list(Some(&token)).await.unwrap()[0].owner, "carol");
    assert_eq!(idp.jwks_fetches(), fetched + 1);
    assert_eq!(server.get(Some(&token)).await.unwrap().owner, "carol");
    assert_eq!(idp.jwks_fetches(), fetched + 1);
}

/// `authorization: DPoP <token>` and a `dpop` proof on every call.
fn with_dpop(token: &str, proof: &str) -> impl FnMut(Request<()>) -> Result<Request<()>, Status> {
    let auth: tonic::metadata::MetadataValue<_> = format!("DPoP {token}").parse().unwrap();
    let proof: tonic::metadata::MetadataValue<_> = proof.parse().unwrap();
    move |mut req: Request<()>| {
        req.metadata_mut().insert("authorization", auth.clone());
        req.metadata_mut().insert("dpop", proof.clone());
        Ok(req)
    }
}

#[tokio::test]
async fn dpop_over_grpc_names_post_and_the_method_uri_and_refuses_with_the_challenge() {
    use portcullis::DpopConfig;
    use portcullis_testkit::DpopClient;

    let idp = TestIssuer::start().await;
    let auth = Portcullis::builder()
        .issuer(idp.issuer())
        .audience("api")
        .realm(REALM)
        .policy(policy().unwrap())
        .public_origin("https://orders.example.test")
        .dpop(DpopConfig::new())
        .build()
        .await
        .unwrap();
    let server = Running::start(auth).await;
    let client = DpopClient::new(Algorithm::ES256);
    let token = client.bind(idp.token().scope("orders.read")).sign();
    let htu = format!("https://orders.example.test{GET_ORDER}");
    let call = |proof: String| {
        let token = token.clone();
        let channel = server.channel.clone();
        async move {
            let mut orders = OrdersClient::with_interceptor(channel, with_dpop(&token, &proof));
            let req = GetOrderRequest { id: "o-1".into() };
            orders.get_order(req).await.map(tonic::Response::into_inner)
        }
    };

    let good = client.proof("POST", &htu).token(&token).sign();
    assert_eq!(call(good.clone()).await.unwrap().id, "o-1");
    let challenges = |status: &Status| -> Vec<String> {
        status
            .metadata()
            .get_all("www-authenticate")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    };
    let proof_error = [
        r#"Bearer realm="orders""#.to_owned(),
        r#"DPoP realm="orders", algs="RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA Ed25519", error="invalid_dpop_proof""#
            .to_owned(),
    ];
    for (what, proof) in [
        ("replayed", good),
        (
            "GET, not POST",
            client.proof("GET", &htu).token(&token).sign(),
        ),
        (
            "another method's URI",
            client
                .proof(
                    "POST",
                    &format!("https://orders.example.test{CREATE_ORDER}"),
                )
                .token(&token)
                .sign(),
        ),
    ] {
        let status = call(proof).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{what}");
        assert_eq!(challenges(&status), proof_error, "{what}");
    }
    // The bound token as a bearer token: no downgrade over gRPC either.
    let status = server.get(Some(&token)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(challenges(&status)[0], INVALID);
}

#[tokio::test]
async fn a_method_that_needs_a_step_up_is_unauthenticated_with_the_step_up_challenge() {
    use portcullis_core::StepUp;
    use portcullis_tower::Requirements;

    let idp = TestIssuer::start().await;
    let create = Requirements::new()
        .scopes(read_all_of("orders.write"))
        .step_up(StepUp::acr(["mfa"]).and_max_age(std::time::Duration::from_secs(600)));
    let policy = Policy::deny_by_default()
        .route(CREATE_ORDER, create)
        .route("/orders.v1.Orders/*", read_all_of("orders.read"))
        .build()
        .unwrap();
    let server = Running::start(layer(&idp, policy).await).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let login = |acr: &str, ago: u64| {
        idp.token()
            .scope("orders.read orders.write")
            .claim("acr", acr.into())
            .claim("auth_time", (now - ago).into())
            .sign()
    };
    let challenge = format!(
        r#"Bearer realm="{REALM}", error="insufficient_user_authentication", acr_values="mfa", max_age="600""#
    );
    assert!(server.create(Some(&login("mfa", 10))).await.is_ok());
    for weak in [login("pwd", 10), login("mfa", 3600)] {
        assert_status(
            server.create(Some(&weak)).await,
            Code::Unauthenticated,
            "insufficient user authentication",
            Some(&challenge),
        );
        // Methods without the step-up take the same token.
        assert!(server.get(Some(&weak)).await.is_ok());
    }
}

#[tokio::test]
async fn a_method_that_needs_roles_and_a_claim_is_permission_denied_without_naming_them() {
    use portcullis_core::ClaimRule;
    use portcullis_tower::Requirements;

    let idp = TestIssuer::start().await;
    let create = Requirements::new()
        .scopes(read_all_of("orders.write"))
        .roles(read_all_of("orders-admin"))
        .claims(ClaimRule::equals("department", "sales"));
    let policy = Policy::deny_by_default()
        .route(CREATE_ORDER, create)
        .route("/orders.v1.Orders/*", read_all_of("orders.read"))
        .build()
        .unwrap();
    let server = Running::start(layer(&idp, policy).await).await;
    let token = |roles: &[&str], department: &str| {
        idp.token()
            .scope("orders.read orders.write")
            .claim("roles", roles.into())
            .claim("department", department.into())
            .sign()
    };
    assert!(
        server
            .create(Some(&token(&["orders-admin"], "sales")))
            .await
            .is_ok()
    );
    let challenge = format!(r#"Bearer realm="{REALM}", error="insufficient_scope""#);
    for (what, refused) in [
        ("no role", token(&["orders-viewer"], "sales")),
        ("another department", token(&["orders-admin"], "support")),
    ] {
        let status = server.create(Some(&refused)).await.unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied, "{what}");
        assert_eq!(
            metadata(&status, "www-authenticate"),
            Some(challenge.as_str()),
            "{what}"
        );
        // Methods without the rule take the same token.
        assert!(server.get(Some(&refused)).await.is_ok(), "{what}");
    }
}
