//! # chrononaut-axum
//!
//! Request context for [chrononaut] in axum (or any tower) services: every
//! history row a request writes carries the request's user, client address, request id,
//! method and route, with nothing for the handler to call.
//!
//! ```no_run
//! use std::net::SocketAddr;
//! use axum::{Router, extract::Path, routing::post};
//! use chrononaut_axum::{ChrononautLayer, HttpError, Tx};
//!
//! async fn refund(mut tx: Tx, Path(id): Path<i64>) -> Result<&'static str, HttpError> {
//!     sqlx::query("UPDATE invoices SET amount = 0 WHERE id = $1")
//!         .bind(id)
//!         .execute(&mut *tx)
//!         .await?;
//!     Ok("refunded")
//! }
//!
//! # async fn f(pool: sqlx::PgPool) -> Result<(), Box<dyn std::error::Error>> {
//! #[derive(Clone)]
//! struct CurrentUser(String); // put into the request's extensions by your auth layer
//!
//! let app = Router::new()
//!     .route("/invoices/{id}/refund", post(refund))
//!     .layer(ChrononautLayer::new(pool).user_from_extension(|u: &CurrentUser| u.0.clone()));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await?;
//! # Ok(()) }
//! ```
//!
//! What a version written through a [`Tx`] records:
//!
//! | field | from |
//! |---|---|
//! | `user_info.user_id` | the user resolver ([`ChrononautLayer::user`], [`ChrononautLayer::user_from_extension`]); none: null |
//! | `user_info.remote_addr` | the TCP peer (`ConnectInfo<SocketAddr>`), or behind [trusted proxies](ChrononautLayer::trusted_proxies) the right-most untrusted hop of their header |
//! | `extra_info.request_id` | tower-http's `RequestId` (tower-http 0.7, from its `SetRequestIdLayer`), else `x-request-id` if valid ([`REQUEST_ID_MAX_BYTES`]), else a new UUID (sent back in the response's `x-request-id`) |
//! | `extra_info.method`, `extra_info.route` | `POST`, `/invoices/{id}/refund` (axum's `MatchedPath`; absent for unrouted requests) |
//! | `extra_info.rationale` | [`TxConn::rationale`], else the [rationale header](ChrononautLayer::rationale_header) |
//!
//! Request id, method and route go to `chrononaut.extra_auto`, so they do not satisfy strict
//! mode; a rationale (or [`TxConn::extra`]) does. The settings are transaction-local: a
//! pooled connection carries nothing to the next request.
#![warn(missing_docs)]

mod context;
mod error;
mod layer;
mod proxy;
mod tx;

pub use context::{RATIONALE_HEADER_MAX_BYTES, REQUEST_ID_MAX_BYTES, USER_ID_MAX_BYTES};
pub use error::HttpError;
pub use ipnet::IpNet;
pub use layer::{ChrononautLayer, ChrononautService, REQUEST_ID_HEADER};
pub use proxy::{MAX_HOPS, ProxyHeader};
pub use tx::{Tx, TxConn};
