//! The tonic service of portcullis's gRPC example (`cargo run --example grpc`) and of its
//! loopback tests: `orders.v1.Orders` from `proto/orders.proto`, protected per method.
//!
//! This package is not published: it compiles its `.proto` with `tonic-prost-build` and the
//! `protoc` of `protoc-bin-vendored`, build-time dependencies that a library user of portcullis
//! never downloads.
//!
//! ```
//! use portcullis_grpc_example::{CREATE_ORDER, GET_ORDER, policy};
//! use portcullis_tower::Access;
//!
//! let policy = policy().unwrap();
//! let post = http::Method::POST;
//! assert!(matches!(policy.access(&post, CREATE_ORDER), Access::Scopes(_)));
//! assert_eq!(policy.access(&post, "/orders.v1.Billing/Pay"), &Access::Deny);
//! assert_eq!(policy.access(&post, "/grpc.health.v1.Health/Check"), &Access::Public);
//! # let _ = GET_ORDER;
//! ```

use std::fmt;

use portcullis_core::ConfigError;
use portcullis_core::ScopeRequirement;
use portcullis_tower::{Policy, grpc};
use tonic::codegen::{BoxStream, tokio_stream};
use tonic::metadata::{Ascii, MetadataValue, errors::InvalidMetadataValue};
use tonic::service::Interceptor;
use tonic::{Request, Response, Status};

use pb::orders_server::Orders;
use pb::{CreateOrderRequest, GetOrderRequest, ListOrdersRequest, Order};

/// The code `tonic-prost-build` generated from `proto/orders.proto`.
#[allow(
    missing_docs,
    unreachable_pub,
    clippy::pedantic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::semicolon_if_nothing_returned,
    clippy::redundant_clone,
    clippy::needless_pass_by_value,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]
pub mod pb {
    tonic::include_proto!("orders.v1");
}

/// The full gRPC method path of `GetOrder`, as the policy and the logs see it.
pub const GET_ORDER: &str = "/orders.v1.Orders/GetOrder";
/// The full gRPC method path of `CreateOrder`.
pub const CREATE_ORDER: &str = "/orders.v1.Orders/CreateOrder";
/// The full gRPC method path of `ListOrders` (server streaming).
pub const LIST_ORDERS: &str = "/orders.v1.Orders/ListOrders";

/// The example's policy: `CreateOrder` needs `orders.write` (a method rule), every other
/// method of `orders.v1.Orders` needs `orders.read` (the service's rule), the standard health
/// and reflection services are public, and anything else is refused.
///
/// The first matching rule decides, so a method's rule goes before its service's `/*`.
///
/// # Errors
/// None with these patterns; the type is [`PolicyBuilder::build`](portcullis_tower::PolicyBuilder::build)'s.
pub fn policy() -> Result<Policy, ConfigError> {
    Policy::deny_by_default()
        .public_grpc_health()
        .public_grpc_reflection()
        .route(CREATE_ORDER, ScopeRequirement::all_of(["orders.write"]))
        .route(
            "/orders.v1.Orders/*",
            ScopeRequirement::all_of(["orders.read"]),
        )
        .build()
}

/// `orders.v1.Orders`: every order it answers is owned by the caller, read from the verified
/// claims with [`grpc::require_claims`].
#[derive(Debug, Clone, Copy, Default)]
pub struct OrdersService;

/// How many orders `ListOrders` streams.
pub const LISTED: usize = 3;

/// The item whose orders need [`GIFT_CARD_SCOPE`] besides `orders.write`: the handler checks
/// it with [`grpc::require`].
pub const GIFT_CARD: &str = "gift card";
/// The scope that ordering a [`GIFT_CARD`] needs.
pub const GIFT_CARD_SCOPE: &str = "orders.gift_cards";

fn owner<T>(request: &Request<T>) -> Result<String, Status> {
    let claims = grpc::require_claims(request)?;
    Ok(claims.subject().unwrap_or_default().to_owned())
}

#[tonic::async_trait]
impl Orders for OrdersService {
    async fn get_order(
        &self,
        request: Request<GetOrderRequest>,
    ) -> Result<Response<Order>, Status> {
        let owner = owner(&request)?;
        let id = request.into_inner().id;
        Ok(Response::new(Order {
            id,
            item: "tea".to_owned(),
            owner,
        }))
    }

    async fn create_order(
        &self,
        request: Request<CreateOrderRequest>,
    ) -> Result<Response<Order>, Status> {
        // A rule that depends on the message, which the policy cannot see: checked here.
        if request.get_ref().item == GIFT_CARD {
            grpc::require(&request, &ScopeRequirement::all_of([GIFT_CARD_SCOPE]))?;
        }
        let owner = owner(&request)?;
        let item = request.into_inner().item;
        Ok(Response::new(Order {
            id: "o-new".to_owned(),
            item,
            owner,
        }))
    }

    type ListOrdersStream = BoxStream<Order>;

    async fn list_orders(
        &self,
        request: Request<ListOrdersRequest>,
    ) -> Result<Response<Self::ListOrdersStream>, Status> {
        let owner = owner(&request)?;
        let orders: Vec<Result<Order, Status>> = (1..=LISTED)
            .map(|n| {
                Ok(Order {
                    id: format!("o-{n}"),
                    item: "tea".to_owned(),
                    owner: owner.clone(),
                })
            })
            .collect();
        Ok(Response::new(Box::pin(tokio_stream::iter(orders))))
    }
}

/// A client interceptor that sends `authorization: Bearer <token>` on every call (or nothing,
/// for [`BearerToken::none`]). The value is marked sensitive and never printed.
#[derive(Clone)]
pub struct BearerToken(Option<MetadataValue<Ascii>>);

impl BearerToken {
    /// Sends `token`.
    ///
    /// # Errors
    /// When `token` holds a character a header value cannot carry.
    pub fn new(token: &str) -> Result<Self, InvalidMetadataValue> {
        let mut value = MetadataValue::try_from(format!("Bearer {token}"))?;
        value.set_sensitive(true);
        Ok(BearerToken(Some(value)))
    }

    /// Sends no token.
    #[must_use]
    pub fn none() -> Self {
        BearerToken(None)
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            Some(_) => "BearerToken(..)",
            None => "BearerToken(none)",
        })
    }
}

impl Interceptor for BearerToken {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}
