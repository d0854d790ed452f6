//! The router the layer tests serve: handlers that write through `Tx`.
#![allow(dead_code)]

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrononaut_axum::{ChrononautLayer, HttpError, Tx};
use http::HeaderName;
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::PgPool;

#[derive(Deserialize)]
pub struct Rename {
    name: String,
    /// the status the handler answers with (default 200)
    status: Option<u16>,
    /// set with `tx.rationale(..)` before the write
    rationale: Option<String>,
}

async fn rename(
    mut tx: Tx,
    Path(id): Path<i64>,
    Json(body): Json<Rename>,
) -> Result<(StatusCode, Json<Value>), HttpError> {
    if let Some(why) = body.rationale {
        tx.rationale(why);
    }
    let updated = sqlx::query("UPDATE items SET name = $1 WHERE id = $2")
        .bind(&body.name)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    let status = StatusCode::from_u16(body.status.unwrap_or(200)).unwrap_or(StatusCode::OK);
    Ok((
        status,
        Json(json!({"updated": updated, "request_id": tx.request_id()})),
    ))
}

async fn rename_strict(mut tx: Tx, Path(id): Path<i64>) -> Result<&'static str, HttpError> {
    sqlx::query("UPDATE strict_items SET name = name || '!' WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    Ok("ok")
}

/// Sets `deferred.n`: a duplicate passes the statement and fails at commit.
async fn set_deferred(
    mut tx: Tx,
    Path((id, n)): Path<(i64, i32)>,
) -> Result<&'static str, HttpError> {
    sqlx::query("UPDATE deferred SET n = $1 WHERE id = $2")
        .bind(n)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    Ok("written")
}

/// Writes without the layer's transaction, straight through the pool.
async fn rename_raw(
    State(pool): State<PgPool>,
    Path(id): Path<i64>,
) -> Result<&'static str, HttpError> {
    sqlx::query("UPDATE items SET name = 'raw' WHERE id = $1")
        .bind(id)
        .execute(&pool)
        .await?;
    Ok("raw")
}

/// Takes a Tx and runs nothing.
async fn idle(tx: Tx) -> String {
    tx.request_id().to_owned()
}

/// Sends its Tx (after a write) to a task that outlives the handler.
async fn spawned(mut tx: Tx, Path(id): Path<i64>) -> Result<&'static str, HttpError> {
    sqlx::query("UPDATE items SET name = 'spawned' WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        drop(tx);
    });
    Ok("spawned")
}

/// Writes, then swallows a failing statement and answers 200.
async fn swallow(mut tx: Tx, Path(id): Path<i64>) -> Result<&'static str, HttpError> {
    sqlx::query("UPDATE items SET name = 'swallowed' WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let _ = sqlx::query("SELECT 1 / 0").execute(&mut *tx).await;
    Ok("fine")
}

/// Two writes, the rationale given between them.
async fn late_rationale(mut tx: Tx) -> Result<&'static str, HttpError> {
    sqlx::query("UPDATE items SET name = 'first' WHERE id = 12")
        .execute(&mut *tx)
        .await?;
    tx.rationale("given late");
    sqlx::query("UPDATE items SET name = 'second' WHERE id = 13")
        .execute(&mut *tx)
        .await?;
    Ok("ok")
}

async fn two(_a: Tx, _b: Tx) -> &'static str {
    "two"
}

/// The routes under test, without a layer.
pub fn routes(pool: PgPool) -> Router {
    Router::new()
        .route("/items/{id}", put(rename))
        .route("/items/{id}/raw", put(rename_raw))
        .route("/items/{id}/spawned", post(spawned))
        .route("/strict/{id}", put(rename_strict))
        .route("/deferred/{id}/{n}", put(set_deferred))
        .route("/items/{id}/swallow", post(swallow))
        .route("/late-rationale", post(late_rationale))
        .route("/idle", get(idle))
        .route("/two", get(two))
        .route("/ping", get(|| async { "pong" }))
        .with_state(pool)
}

/// The layer most tests use: user from `x-test-user`, rationale from `x-change-rationale`.
pub fn layer(pool: PgPool) -> ChrononautLayer {
    ChrononautLayer::new(pool)
        .user(|parts| {
            parts
                .headers
                .get("x-test-user")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .rationale_header(HeaderName::from_static("x-change-rationale"))
}

pub fn app(pool: PgPool) -> Router {
    routes(pool.clone()).layer(layer(pool))
}
