//! A small JSON API over one tracked table, with chrononaut-axum recording who changed what,
//! from where, in which request and why.
//!
//! ```sh
//! cargo run -p chrononaut-axum --example items
//! ```
//!
//! The database: `DATABASE_URL` when set (the table `chrononaut_example.items` is kept
//! between runs); otherwise a database `chrononaut_example` on the local server (or on a
//! throwaway server started from local PostgreSQL binaries), made afresh on every run.
//! `PORT` (default 3000; 0: any free port) and `TRUSTED_PROXIES` (comma-separated addresses
//! or CIDR ranges whose `X-Forwarded-For` is believed) configure the server.
//!
//! | route | does |
//! |---|---|
//! | `POST /items` `{"name", "price_cents"}` | create (201) |
//! | `GET /items/{id}` | the item now |
//! | `PATCH /items/{id}` `{"name"?, "price_cents"?, "version"?}` | update (`version`: the one you read; 409 when stale) |
//! | `DELETE /items/{id}` | delete (204) |
//! | `GET /items/{id}/history` | every version, oldest first |
//! | `GET /items/{id}/at?t=2024-05-01T12:00:00Z` | the version in force at t |
//! | `POST /items/{id}/restore` `{"version" \| "at", "rationale"}` | put an earlier state back, as a new version |
//!
//! Authentication is a stand-in: `Authorization: Bearer NAME` makes the request NAME's.
//! `X-Change-Rationale: ...` gives the rationale of a write.

use std::net::SocketAddr;
use std::process::ExitCode;

use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderName, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use chrononaut::{
    Chrononaut, Error, RestoreReport, RestoreTarget, Snapshot, TrackOptions, VersionFilter,
};
use chrononaut_axum::{ChrononautLayer, HttpError, IpNet, Tx};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

const TABLE: &str = "chrononaut_example.items";
const SCHEMA: &str = include_str!("schema.sql");
const CREATE: &str = include_str!("create.sql");
const UPDATE: &str = include_str!("update.sql");
const DELETE: &str = include_str!("delete.sql");
const SHOW: &str = include_str!("show.sql");

#[derive(Clone)]
struct AppState {
    pool: PgPool,
    chrononaut: Chrononaut,
}

#[derive(Serialize, sqlx::FromRow)]
struct Item {
    id: i64,
    name: String,
    price_cents: i64,
    version: Option<i32>,
}

#[derive(Deserialize)]
struct NewItem {
    name: String,
    #[serde(default)]
    price_cents: i64,
}

#[derive(Deserialize)]
struct ItemChange {
    name: Option<String>,
    price_cents: Option<i64>,
    version: Option<i32>,
}

#[derive(Deserialize)]
struct At {
    t: DateTime<Utc>,
}

#[derive(Deserialize)]
struct Restore {
    #[serde(flatten)]
    target: Target,
    rationale: String,
}

/// `{"version": 3}` or `{"at": "2024-05-01T12:00:00Z"}`.
#[derive(Deserialize)]
#[serde(untagged)]
enum Target {
    Version { version: i32 },
    At { at: DateTime<Utc> },
}

fn not_found(id: i64) -> HttpError {
    Error::RecordNotFound {
        table: TABLE.to_owned(),
        key: json!({"id": id}).to_string(),
    }
    .into()
}

async fn create(
    mut tx: Tx,
    Json(new): Json<NewItem>,
) -> Result<(StatusCode, Json<Item>), HttpError> {
    let item = sqlx::query_as::<_, Item>(CREATE)
        .bind(new.name)
        .bind(new.price_cents)
        .fetch_one(&mut *tx)
        .await?;
    Ok((StatusCode::CREATED, Json(item)))
}

async fn show(State(app): State<AppState>, Path(id): Path<i64>) -> Result<Json<Item>, HttpError> {
    let item = sqlx::query_as::<_, Item>(SHOW)
        .bind(id)
        .fetch_optional(&app.pool)
        .await?;
    item.map(Json).ok_or_else(|| not_found(id))
}

async fn update(
    mut tx: Tx,
    Path(id): Path<i64>,
    Json(change): Json<ItemChange>,
) -> Result<Json<Item>, HttpError> {
    let item = sqlx::query_as::<_, Item>(UPDATE)
        .bind(id)
        .bind(change.name)
        .bind(change.price_cents)
        .bind(change.version)
        .fetch_optional(&mut *tx)
        .await?;
    item.map(Json).ok_or_else(|| not_found(id))
}

async fn remove(mut tx: Tx, Path(id): Path<i64>) -> Result<StatusCode, HttpError> {
    let deleted = sqlx::query(DELETE).bind(id).execute(&mut *tx).await?;
    if deleted.rows_affected() == 0 {
        return Err(not_found(id));
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn history(
    State(app): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<Vec<Snapshot>>, HttpError> {
    let mut conn = app.pool.acquire().await?;
    let record = app
        .chrononaut
        .record(&mut conn, TABLE, json!({"id": id}))
        .await?;
    let versions = record.versions(&mut conn, &VersionFilter::new()).await?;
    if versions.is_empty() {
        return Err(not_found(id));
    }
    Ok(Json(versions))
}

async fn at(
    State(app): State<AppState>,
    Path(id): Path<i64>,
    Query(At { t }): Query<At>,
) -> Result<Json<Snapshot>, HttpError> {
    let mut conn = app.pool.acquire().await?;
    let record = app
        .chrononaut
        .record(&mut conn, TABLE, json!({"id": id}))
        .await?;
    match record.version_at(&mut conn, t).await? {
        Some(snapshot) => Ok(Json(snapshot)),
        None => Err(Error::NoHistory {
            table: TABLE.to_owned(),
            key: json!({"id": id}).to_string(),
            when: format!(" at {t}"),
        }
        .into()),
    }
}

async fn restore(
    mut tx: Tx,
    Path(id): Path<i64>,
    Json(body): Json<Restore>,
) -> Result<Json<RestoreReport>, HttpError> {
    let target = match body.target {
        Target::Version { version } => RestoreTarget::Version(version),
        Target::At { at } => RestoreTarget::At(at),
    };
    tx.rationale(body.rationale);
    // the request's handle and context, so the restored version carries the request too
    let chrononaut = tx.chrononaut().clone();
    let ctx = tx.context().clone();
    let conn = tx.conn().await?;
    let record = chrononaut.record(conn, TABLE, json!({"id": id})).await?;
    Ok(Json(chrononaut.restore(conn, &record, target, &ctx).await?))
}

/// Stand-in authentication: `Authorization: Bearer NAME` is user NAME.
#[derive(Clone)]
struct CurrentUser(String);

async fn authenticate(mut request: Request, next: Next) -> Response {
    let user = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|name| CurrentUser(name.trim().to_owned()));
    if let Some(user) = user {
        request.extensions_mut().insert(user);
    }
    next.run(request).await
}

/// `DATABASE_URL`, else a fresh `chrononaut_example` database on the server the demo uses.
async fn database_url() -> Result<String, Box<dyn std::error::Error>> {
    if let Ok(url) = std::env::var("DATABASE_URL")
        && !url.trim().is_empty()
    {
        return Ok(url);
    }
    let server = chrononaut_testdb::server_url().await?;
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .connect(&server)
        .await?;
    sqlx::query("DROP DATABASE IF EXISTS chrononaut_example WITH (FORCE)")
        .execute(&admin)
        .await?;
    sqlx::query("CREATE DATABASE chrononaut_example")
        .execute(&admin)
        .await?;
    admin.close().await;
    Ok(chrononaut_testdb::with_database(
        &server,
        "chrononaut_example",
    ))
}

fn trusted_proxies() -> Result<Vec<IpNet>, String> {
    let Ok(list) = std::env::var("TRUSTED_PROXIES") else {
        return Ok(Vec::new());
    };
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| format!("TRUSTED_PROXIES: {s:?} is not an address or CIDR range"))
        })
        .collect()
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = match std::env::var("PORT") {
        Ok(p) => p
            .parse()
            .map_err(|_| format!("PORT: {p:?} is not a port number"))?,
        Err(_) => 3000,
    };
    let proxies = trusted_proxies()?;
    let url = database_url().await?;
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .connect(&url)
        .await
        .map_err(|e| format!("cannot connect to the database: {e}"))?;

    let chrononaut = Chrononaut::new();
    let mut conn = pool.acquire().await?;
    chrononaut.install(&mut conn).await?;
    sqlx::raw_sql(SCHEMA).execute(&mut *conn).await?;
    chrononaut
        .track(&mut conn, TABLE, &TrackOptions::new())
        .await?;
    drop(conn);

    let layer = ChrononautLayer::new(pool.clone())
        .chrononaut(chrononaut.clone())
        .user_from_extension(|user: &CurrentUser| user.0.clone())
        .trusted_proxies(proxies)
        .rationale_header(HeaderName::from_static("x-change-rationale"));
    let app = Router::new()
        .route("/items", post(create))
        .route("/items/{id}", get(show).patch(update).delete(remove))
        .route("/items/{id}/history", get(history))
        .route("/items/{id}/at", get(at))
        .route("/items/{id}/restore", post(restore))
        .layer(layer)
        .layer(middleware::from_fn(authenticate))
        .with_state(AppState { pool, chrononaut });

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))?;
    let addr = listener.local_addr()?;
    println!("items API on http://{addr} (history in {TABLE}; Ctrl-C stops)");
    println!("try:");
    println!(
        "  curl -s -X POST {addr}/items -H 'authorization: Bearer alice' -H 'content-type: application/json' -d '{{\"name\": \"lamp\", \"price_cents\": 1200}}'"
    );
    println!(
        "  curl -s -X PATCH {addr}/items/1 -H 'authorization: Bearer bob' -H 'x-change-rationale: price review' -H 'content-type: application/json' -d '{{\"price_cents\": 1500}}'"
    );
    println!("  curl -s {addr}/items/1/history");
    println!(
        "  curl -s -X POST {addr}/items/1/restore -H 'authorization: Bearer carol' -H 'content-type: application/json' -d '{{\"version\": 0, \"rationale\": \"undo the price review\"}}'"
    );
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
