//! The reads behind both the pages and the API, so that the two show the same thing.

use chrono::{DateTime, Utc};
use chrononaut::{Diff, LockEvent, RecordHistory, Snapshot, VersionFilter};
use futures_util::TryStreamExt;
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::Postgres;
use sqlx::pool::PoolConnection;

use crate::AppState;
use crate::error::Failure;
use crate::params::parse_key;

/// A connection from the pool.
pub async fn conn(state: &AppState) -> Result<PoolConnection<Postgres>, Failure> {
    Ok(state.pool.acquire().await?)
}

/// A parameter that must be there.
pub fn required<'a>(value: &'a Option<String>, name: &str) -> Result<&'a str, Failure> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| Failure::bad_request(format!("give the {name} (?{name}=...)")))
}

/// A record of a table, resolved by the library as the CLI resolves it (table names as SQL
/// accepts them, keys converted to the key columns' types).
pub async fn record(
    state: &AppState,
    conn: &mut sqlx::PgConnection,
    table: &str,
    key: &str,
) -> Result<RecordHistory, Failure> {
    let key = parse_key(key).map_err(Failure::bad_request)?;
    Ok(state.ch.record(conn, table, key).await?)
}

/// One entry of a record's timeline.
pub enum Entry {
    /// A version, with the diff from the one before (`None` before: its first version) and
    /// the hidden columns it changed.
    Version {
        snapshot: Snapshot,
        diff: Diff,
        hidden: Vec<String>,
        /// The version before it is not on the timeline (nor in the history).
        first: bool,
    },
    /// A lock or unlock event.
    Lock(LockEvent),
}

impl Entry {
    fn changed(&self) -> DateTime<Utc> {
        match self {
            Self::Version { snapshot, .. } => snapshot.changed(),
            Self::Lock(l) => l.changed,
        }
    }

    /// The shape of `chrononaut log TABLE KEY --json`.
    pub fn json(&self) -> Value {
        match self {
            Entry::Version {
                snapshot,
                diff,
                hidden,
                ..
            } => {
                let m = snapshot.meta();
                json!({
                    "version": m.version,
                    "changed": m.changed,
                    "operation": m.operation,
                    "user_id": m.user_id(),
                    "db_user": m.db_user(),
                    "remote_addr": m.remote_addr(),
                    "rationale": m.rationale(),
                    "changed_columns": diff.changes.keys().collect::<Vec<_>>(),
                    "hidden_changed": hidden,
                    "extra_info": m.extra_info,
                })
            }
            Entry::Lock(l) => json!({
                "version": l.version,
                "changed": l.changed,
                "operation": l.operation,
                "user_id": l.user_id(),
                "remote_addr": l.remote_addr(),
                "rationale": l.rationale(),
                "db_user": l.db_user(),
                "reason": l.reason(),
                "extra_info": l.extra_info,
            }),
        }
    }
}

/// A record's timeline: its latest `limit` entries (versions and lock events), oldest first.
pub struct Timeline {
    pub record: RecordHistory,
    pub entries: Vec<Entry>,
    /// Older entries were left out.
    pub truncated: bool,
}

/// The latest `limit` entries of a record: versions (each with its diff from the one before,
/// read as one more version than shown) and lock events, by time.
pub async fn timeline(
    state: &AppState,
    table: &str,
    key: &str,
    limit: i64,
) -> Result<Timeline, Failure> {
    let mut conn = conn(state).await?;
    let record = record(state, &mut conn, table, key).await?;
    let mut versions = record
        .versions(
            &mut conn,
            &VersionFilter::new()
                .newest_first()
                .limit(limit.saturating_add(1)),
        )
        .await?;
    versions.reverse();
    let mut truncated = versions.len() as i64 > limit;
    let skip = usize::from(truncated);
    let mut entries = Vec::with_capacity(versions.len());
    for i in skip..versions.len() {
        let prev = i.checked_sub(1).map(|p| &versions[p]);
        let snapshot = &versions[i];
        entries.push(Entry::Version {
            diff: Diff::compare(prev, Some(snapshot)),
            hidden: snapshot.meta().hidden_cols_changed(),
            first: prev.is_none(),
            snapshot: snapshot.clone(),
        });
    }
    let locks = record.lock_events(&mut conn, limit).await?;
    entries.extend(locks.into_iter().map(Entry::Lock));
    entries.sort_by_key(Entry::changed);
    let keep = usize::try_from(limit.max(0)).unwrap_or(usize::MAX);
    if entries.len() > keep {
        truncated = true;
        entries.drain(..entries.len() - keep);
    }
    Ok(Timeline {
        record,
        entries,
        truncated,
    })
}

/// One page of a table as of a time.
#[derive(Serialize)]
pub struct TablePage {
    /// The table, as asked for.
    pub table: String,
    /// The time.
    pub at: DateTime<Utc>,
    /// The recorded columns.
    pub columns: Vec<String>,
    /// The rows of this page (key, version, changed, data).
    pub rows: Vec<chrononaut::AsOfRow>,
    /// Where the next page starts (`None`: this is the last).
    pub next: Option<usize>,
}

/// Rows `start..start + size` of `table` as of `at`, in the order the library streams them
/// (read as they come; the stream is dropped after the page).
pub async fn table_at(
    state: &AppState,
    table: &str,
    at: DateTime<Utc>,
    start: usize,
    size: usize,
) -> Result<TablePage, Failure> {
    let mut conn = conn(state).await?;
    let as_of = state.ch.as_of(&mut conn, table, at).await?;
    let columns = as_of.columns().to_vec();
    let mut stream = as_of.rows();
    let mut rows = Vec::with_capacity(size);
    let mut seen = 0usize;
    let mut next = None;
    while let Some(row) = stream.try_next().await? {
        if seen >= start {
            if rows.len() == size {
                next = Some(seen);
                break;
            }
            rows.push(row);
        }
        seen += 1;
    }
    drop(stream);
    Ok(TablePage {
        table: table.to_owned(),
        at,
        columns,
        rows,
        next,
    })
}
