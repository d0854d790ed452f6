//! The two services the benchmark compares (also used by `tests/round_trips.rs`): the same
//! tracked UPDATE per request, with the context from the layer or built by hand.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{ConnectInfo, MatchedPath, Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::routing::put;
use chrononaut::{ChangeContext, Chrononaut};
use chrononaut_axum::{ChrononautLayer, HttpError, Tx};
use sqlx::PgPool;

/// Creates the benchmark's table (1000 rows).
pub const SCHEMA: &str = include_str!("schema.sql");
/// The tracked table.
pub const TABLE: &str = "layer_cost_items";
const UPDATE: &str = include_str!("update.sql");

/// The user of a request, from `x-user` (both variants read it the same way).
fn user(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-user")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn through_layer(mut tx: Tx, Path(id): Path<i64>) -> Result<StatusCode, HttpError> {
    sqlx::query(UPDATE).bind(id).execute(&mut *tx).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /items/{id}` (and `/context/{id}`, the same without the UPDATE) with the chrononaut
/// layer.
pub fn layer_app(pool: PgPool) -> Router {
    Router::new()
        .route("/items/{id}", put(through_layer))
        .route("/context/{id}", put(context_through_layer))
        .layer(ChrononautLayer::new(pool).user(|parts| user(&parts.headers)))
}

#[derive(Clone)]
struct Hand {
    pool: PgPool,
    chrononaut: Chrononaut,
}

/// The context a handler without the layer gathers: the same fields the layer records.
fn hand_context(
    peer: SocketAddr,
    route: &MatchedPath,
    method: &Method,
    headers: &HeaderMap,
) -> ChangeContext {
    let request_id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let ctx = ChangeContext::new()
        .remote_addr(peer.ip().to_string())
        .extra("request_id", request_id)
        .extra("method", method.as_str())
        .extra("route", route.as_str());
    match user(headers) {
        Some(user) => ctx.user(user),
        None => ctx,
    }
}

/// What a handler does without the layer: the same fields, gathered and applied by hand.
async fn by_hand(
    State(hand): State<Hand>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    route: MatchedPath,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<StatusCode, HttpError> {
    let ctx = hand_context(peer, &route, &method, &headers);
    let mut tx = hand.chrononaut.begin(&hand.pool, &ctx).await?;
    sqlx::query(UPDATE).bind(id).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The Rust side of `by_hand` alone: the context gathered, no database work.
async fn context_by_hand(
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    route: MatchedPath,
    method: Method,
    headers: HeaderMap,
    Path(_id): Path<i64>,
) -> StatusCode {
    std::hint::black_box(hand_context(peer, &route, &method, &headers));
    StatusCode::NO_CONTENT
}

/// The Rust side of `through_layer` alone: the layer and the `Tx` (its context resolved),
/// no statement, so no database work.
async fn context_through_layer(tx: Tx, Path(_id): Path<i64>) -> StatusCode {
    std::hint::black_box(tx.request_id());
    StatusCode::NO_CONTENT
}

/// `PUT /items/{id}` (and `/context/{id}`) building its context by hand.
pub fn hand_app(pool: PgPool) -> Router {
    Router::new()
        .route("/items/{id}", put(by_hand))
        .route("/context/{id}", put(context_by_hand))
        .with_state(Hand {
            pool,
            chrononaut: Chrononaut::new(),
        })
}
