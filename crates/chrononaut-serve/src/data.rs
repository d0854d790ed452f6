//! The reads behind both the pages and the API, so that the two show the same thing.

use chrono::{DateTime, Utc};
use chrononaut::{
    ActivityCursor, ActivityFilter, ActivityPage, Diff, LockEvent, Operation, RecordHistory,
    Snapshot, VersionFilter,
};
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::Postgres;
use sqlx::pool::PoolConnection;

use crate::AppState;
use crate::error::Failure;
use crate::params::{lock_json, parse_key, parse_time, version_json};

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
            } => version_json(snapshot, diff.changes.keys().collect::<Vec<_>>(), hidden),
            Entry::Lock(l) => lock_json(l),
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

/// Rows `start..start + size` of `table` as of `at`, in key order (numbers by value:
/// [`chrononaut::AsOfRow::key_order`]). The library streams them in its history index's order,
/// so every page reads the whole table as of `at` (the server computes all of it for any page
/// anyway: `chrononaut.history_as_of` returns its rows as one set) and sorts it.
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
    let mut all: Vec<chrononaut::AsOfRow> = as_of.rows().try_collect().await?;
    all.sort_unstable_by(|a, b| a.key_order(b));
    let next = (all.len() > start.saturating_add(size)).then(|| start.saturating_add(size));
    let rows: Vec<chrononaut::AsOfRow> = all.into_iter().skip(start).take(size).collect();
    Ok(TablePage {
        table: table.to_owned(),
        at,
        columns,
        rows,
        next,
    })
}

/// The filters of the activity page and `/api/activity`, as given in the query string.
#[derive(Debug, Default, Deserialize)]
pub struct ActivityQuery {
    /// A table (as SQL accepts its name); none: every table.
    pub table: Option<String>,
    /// `insert`, `update` or `delete`, or several of them with commas.
    pub op: Option<String>,
    /// Changes at or after this time.
    pub after: Option<String>,
    /// Changes at or before this time.
    pub before: Option<String>,
    /// `user_info.user_id`.
    pub user: Option<String>,
    /// A record key (`id=5`, JSON); only with a table.
    pub key: Option<String>,
    /// Where the page starts: the `next` of the page before (`<micros>_<id>`).
    pub cursor: Option<String>,
    /// Rows per page (the API only).
    pub limit: Option<i64>,
}

/// [`ActivityQuery`] checked: every value parsed, empty fields left out.
#[derive(Debug, Default)]
pub struct Activity {
    pub table: Option<String>,
    pub ops: Vec<Operation>,
    pub after: Option<DateTime<Utc>>,
    pub before: Option<DateTime<Utc>>,
    pub user: Option<String>,
    pub key: Option<String>,
    pub cursor: Option<ActivityCursor>,
}

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

impl Activity {
    /// Parses the filters; a malformed one is a 400 that says which and why.
    pub fn parse(q: &ActivityQuery) -> Result<Self, Failure> {
        let time = |v: &Option<String>, name: &str| {
            given(v)
                .map(|t| parse_time(t).map_err(|e| Failure::bad_request(format!("{name}: {e}"))))
                .transpose()
        };
        let mut ops = Vec::new();
        for op in given(&q.op).unwrap_or("").split(',').map(str::trim) {
            let parsed = match op {
                "" => continue,
                "insert" => Operation::Insert,
                "update" => Operation::Update,
                "delete" => Operation::Delete,
                other => {
                    return Err(Failure::bad_request(format!(
                        "operation {other:?}: expected insert, update or delete"
                    )));
                }
            };
            if !ops.contains(&parsed) {
                ops.push(parsed);
            }
        }
        let cursor = given(&q.cursor)
            .map(|c| c.parse::<ActivityCursor>())
            .transpose()
            .map_err(|e| Failure::bad_request(e.to_string()))?;
        let table = given(&q.table).map(str::to_owned);
        let key = given(&q.key).map(str::to_owned);
        if key.is_some() && table.is_none() {
            return Err(Failure::bad_request(
                "a key filter needs a table: choose the table too",
            ));
        }
        Ok(Self {
            table,
            ops,
            after: time(&q.after, "after")?,
            before: time(&q.before, "before")?,
            user: given(&q.user).map(str::to_owned),
            key,
            cursor,
        })
    }

    /// The filters as query pairs (for links; the cursor apart).
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Some(t) = &self.table {
            out.push(("table", t.clone()));
        }
        if !self.ops.is_empty() {
            let ops: Vec<&str> = self.ops.iter().map(|o| o.as_str()).collect();
            out.push(("op", ops.join(",")));
        }
        if let Some(t) = self.after {
            out.push(("after", t.to_rfc3339()));
        }
        if let Some(t) = self.before {
            out.push(("before", t.to_rfc3339()));
        }
        if let Some(u) = &self.user {
            out.push(("user", u.clone()));
        }
        if let Some(k) = &self.key {
            out.push(("key", k.clone()));
        }
        out
    }

    fn filter(&self, limit: i64) -> Result<ActivityFilter, Failure> {
        let mut f = ActivityFilter::new().limit(limit).cursor(self.cursor);
        if !self.ops.is_empty() {
            f = f.operations(self.ops.iter().copied());
        }
        if let Some(t) = self.after {
            f = f.after(t);
        }
        if let Some(t) = self.before {
            f = f.before(t);
        }
        if let Some(u) = &self.user {
            f = f.user(u.clone());
        }
        if let Some(k) = &self.key {
            f = f.key(parse_key(k).map_err(Failure::bad_request)?);
        }
        Ok(f)
    }
}

/// One page of activity with these filters, newest first: of one table
/// ([`chrononaut::Chrononaut::table_activity`], by its key index when a key is given) or
/// across tables ([`chrononaut::Chrononaut::activity`]). A table that does not exist is a
/// 400 (a bad filter), like a malformed key.
pub async fn activity(
    state: &AppState,
    filters: &Activity,
    limit: i64,
) -> Result<ActivityPage, Failure> {
    let filter = filters.filter(limit)?;
    let mut conn = conn(state).await?;
    let page = match &filters.table {
        Some(table) => state.ch.table_activity(&mut conn, table, &filter).await,
        None => state.ch.activity(&mut conn, &filter).await,
    };
    page.map_err(|e| match e {
        chrononaut::Error::UnknownTable(_)
        | chrononaut::Error::NotTracked(_)
        | chrononaut::Error::InvalidOptions(_) => Failure::bad_request(e.to_string()),
        other => other.into(),
    })
}
