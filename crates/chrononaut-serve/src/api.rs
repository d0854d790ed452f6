//! The JSON API under `/api/`: the same reads as the pages, in the shapes of the CLI's
//! `--json` output.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, FromRequest, Query, Request, State};
use axum::http::StatusCode;
use chrononaut::{RecordLock, RestoreReport, RestoreTarget, Snapshot, TableStatus, VerifyReport};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::AppState;
use crate::data::{self, Activity, ActivityQuery, required};
use crate::error::{ApiFailure, Failure};
use crate::pages::{self, VersionQuery, at_of, restore_context};

type ApiResult<T> = Result<Json<T>, ApiFailure>;

/// The answer of `/api/activity`.
#[derive(Serialize)]
pub struct ActivityAnswer {
    /// The history rows, newest first, each as `chrononaut log TABLE --json` prints a version.
    pub entries: Vec<Snapshot>,
    /// The `cursor` of the next page (`<micros>_<id>`); `null` on the last page.
    pub next: Option<String>,
}

/// `GET /api/activity[?table&op&after&before&user&key&cursor&limit]`: a page of the newest
/// changes (as `/activity`), `limit` rows (default: the page size; at most 10 pages' worth).
pub async fn activity(
    State(state): State<AppState>,
    Query(q): Query<ActivityQuery>,
) -> ApiResult<ActivityAnswer> {
    let filters = Activity::parse(&q)?;
    let size = i64::try_from(state.options.page_size).unwrap_or(50);
    let limit = q.limit.unwrap_or(size).clamp(1, size.saturating_mul(10));
    let page = data::activity(&state, &filters, limit).await?;
    Ok(Json(ActivityAnswer {
        next: page.next.map(|c| c.to_string()),
        entries: page.entries,
    }))
}

/// `GET /api/tables`: `chrononaut status --json`.
pub async fn tables(State(state): State<AppState>) -> ApiResult<Vec<TableStatus>> {
    let mut conn = data::conn(&state).await?;
    Ok(Json(state.ch.status(&mut conn).await?))
}

/// Query of `/api/locks`.
#[derive(Deserialize)]
pub struct LocksQuery {
    table: Option<String>,
}

/// `GET /api/locks[?table=T]`: `chrononaut locks [TABLE] --json`.
pub async fn locks(
    State(state): State<AppState>,
    Query(q): Query<LocksQuery>,
) -> ApiResult<Vec<RecordLock>> {
    let mut conn = data::conn(&state).await?;
    let table = q.table.as_deref().map(str::trim).filter(|t| !t.is_empty());
    Ok(Json(state.ch.locks(&mut conn, table).await?))
}

/// Query of `/api/record`.
#[derive(Deserialize)]
pub struct RecordQuery {
    table: Option<String>,
    key: Option<String>,
    limit: Option<i64>,
}

/// `GET /api/record?table=T&key=K[&limit=N]`: `chrononaut log TABLE KEY --json` (oldest
/// first; the latest `limit`, default 50 as in the CLI).
pub async fn record(
    State(state): State<AppState>,
    Query(q): Query<RecordQuery>,
) -> ApiResult<Vec<Value>> {
    let table = required(&q.table, "table")?;
    let key = required(&q.key, "key")?;
    let limit = q.limit.unwrap_or(50).clamp(0, state.options.timeline_limit);
    let tl = data::timeline(&state, table, key, limit).await?;
    Ok(Json(tl.entries.iter().map(data::Entry::json).collect()))
}

/// `GET /api/version?table=T&key=K[&version=N]`: `chrononaut show TABLE KEY --json`.
pub async fn version(
    State(state): State<AppState>,
    Query(q): Query<VersionQuery>,
) -> ApiResult<Snapshot> {
    Ok(Json(pages::load_version(&state, &q).await?))
}

/// Query of `/api/at`.
#[derive(Deserialize)]
pub struct AtQuery {
    table: Option<String>,
    at: Option<String>,
    start: Option<usize>,
    limit: Option<usize>,
}

/// `GET /api/at?table=T&at=T[&start=N&limit=M]`: the rows of `chrononaut at TABLE --json`
/// (each a JSON object of the recorded columns), a page of them; the next page's `start` is in
/// the `X-Next-Start` header.
pub async fn table_at(
    State(state): State<AppState>,
    Query(q): Query<AtQuery>,
) -> Result<axum::response::Response, ApiFailure> {
    use axum::response::IntoResponse;
    let table = required(&q.table, "table")?;
    let at = at_of(&q.at)?;
    let size = q
        .limit
        .unwrap_or(state.options.page_size)
        .clamp(1, 10 * state.options.page_size);
    let page = data::table_at(&state, table, at, q.start.unwrap_or(0), size).await?;
    // as stored: numbers keep their digits and scale, as in `chrononaut at --json`
    let rows: Vec<_> = page.rows.iter().map(|r| r.raw_columns()).collect();
    let mut response = Json(rows).into_response();
    if let Some(next) = page.next
        && let Ok(v) = next.to_string().parse()
    {
        response.headers_mut().insert("x-next-start", v);
    }
    Ok(response)
}

/// Query of `/api/verify`.
#[derive(Deserialize)]
pub struct VerifyQuery {
    table: Option<String>,
}

/// `GET /api/verify?table=T`: `chrononaut verify TABLE --json`.
pub async fn verify(
    State(state): State<AppState>,
    Query(q): Query<VerifyQuery>,
) -> ApiResult<VerifyReport> {
    let table = required(&q.table, "table")?;
    let mut conn = data::conn(&state).await?;
    Ok(Json(state.ch.verify(&mut conn, Some(table)).await?))
}

/// Body of `POST /api/restore`.
#[derive(Deserialize)]
pub struct RestoreBody {
    table: String,
    key: Value,
    version: i32,
    rationale: String,
    user: Option<String>,
}

/// `POST /api/restore` (JSON body `{"table", "key", "version", "rationale", "user"}`; only
/// with `--allow-restore`): `chrononaut restore --json`. A JSON body cannot be sent by
/// another site's form.
pub async fn restore(State(state): State<AppState>, request: Request) -> ApiResult<RestoreReport> {
    if !state.options.allow_restore {
        return Err(Failure::new(
            StatusCode::FORBIDDEN,
            "restore is off: start the server with --allow-restore",
        )
        .into());
    }
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let Json(body) = Json::<RestoreBody>::from_request(request, &state)
        .await
        .map_err(|e| Failure::new(e.status(), e.body_text()))?;
    let ctx = restore_context(&body.rationale, body.user.as_deref(), peer)?;
    let key = match body.key {
        Value::String(text) => crate::params::parse_key(&text).map_err(Failure::bad_request)?,
        other => other,
    };
    let mut conn = data::conn(&state).await?;
    let rec = state.ch.record(&mut conn, &body.table, key).await?;
    Ok(Json(
        state
            .ch
            .restore(&mut conn, &rec, RestoreTarget::Version(body.version), &ctx)
            .await?,
    ))
}
