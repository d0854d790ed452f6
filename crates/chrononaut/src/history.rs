//! Reading history: the versions of one record, versions at a time, diffs, a table's log.
//!
//! Every per-record read is one query on `(table_name, key)` ordered by
//! `(changed, version, id)`, served by the index
//! `ix_chrononaut_activity_table_key_changed (table_name, key, changed, version, id)`.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, Row};

use crate::backend::{Db, DbConn, sqlite};
use crate::catalog::{Table, require_readable, resolve};
use crate::diff::{self, Change, Diff};
use crate::error::{Error, Result};
use crate::ident::{quote_ident, quote_literal};
use crate::snapshot::{Hidden, Snapshot};
use crate::{Chrononaut, sql};

/// A primary-key column as the history `key` holds it.
#[derive(Debug, Clone)]
pub(crate) struct KeyColumn {
    pub name: String,
    pub naive_ts: bool,
    pub zoned_ts: bool,
}

/// A table whose history is read: where its history is and what it leaves out.
#[derive(Debug)]
pub(crate) struct TableInfo {
    pub table: Table,
    /// The activity table, schema-qualified and quoted.
    pub activity: String,
    pub key_columns: Vec<KeyColumn>,
    /// Hidden and untracked columns (record-changes columns count as untracked).
    pub columns: Arc<Hidden>,
}

impl TableInfo {
    /// A history query of this table's activity table.
    pub(crate) fn query(&self, template: &str) -> Result<String> {
        sql::fill(template, &[("activity", &self.activity)])
    }

    /// `table_name` of the history rows.
    pub(crate) fn history_name(&self) -> &str {
        &self.table.history_name
    }
}

pub(crate) async fn load_table(conn: &mut PgConnection, name: &str) -> Result<TableInfo> {
    let installed = require_readable(conn).await?;
    let table = resolve(conn, name).await?;
    let key_columns = sqlx::query(sql::KEY_COLUMNS)
        .bind(table.oid)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| {
            Ok(KeyColumn {
                name: r.try_get("name")?,
                naive_ts: r.try_get("naive_ts")?,
                zoned_ts: r.try_get("zoned_ts")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    if key_columns.is_empty() {
        return Err(Error::NoPrimaryKey(table.qualified.clone()));
    }
    let options = sqlx::query(sql::TRACKED_OPTIONS)
        .bind(table.oid)
        .fetch_optional(&mut *conn)
        .await?;
    let mut hidden = Hidden::default();
    if let Some(row) = options {
        hidden.hidden = row.try_get("hidden")?;
        hidden.untracked = row.try_get("untracked")?;
        if row.try_get::<bool, _>("record_changes")? {
            hidden
                .untracked
                .extend(["change_info".to_owned(), "changed".to_owned()]);
        }
    }
    Ok(TableInfo {
        table,
        activity: installed.activity().into_string(),
        key_columns,
        columns: Arc::new(hidden),
    })
}

/// A user's key, checked against the table's primary key: a JSON object naming every key
/// column (with a value) and nothing else. Shared by every backend's `normalize_key`.
pub(crate) fn check_key<'k>(
    info: &TableInfo,
    key: &'k Value,
) -> Result<&'k serde_json::Map<String, Value>> {
    let invalid = |message: String| Error::InvalidKey {
        table: info.table.qualified.clone(),
        message,
    };
    let Value::Object(given) = key else {
        return Err(invalid(format!("expected a JSON object, got {key}")));
    };
    for name in given.keys() {
        if !info.key_columns.iter().any(|k| &k.name == name) {
            return Err(invalid(format!(
                "{name:?} is not a primary-key column (the key is {})",
                key_names(info)
            )));
        }
    }
    if let Some(missing) = info
        .key_columns
        .iter()
        .find(|k| given.get(&k.name).is_none_or(Value::is_null))
    {
        return Err(invalid(format!(
            "no value for {:?} (the key is {})",
            missing.name,
            key_names(info)
        )));
    }
    Ok(given)
}

/// Turns a user's key (`{"id": "5"}`, `{"id": 5}`) into the history's `key` JSON: every
/// primary-key column, values of the column's type, timestamps in UTC as the capture writes
/// them.
pub(crate) async fn normalize_key(
    conn: &mut PgConnection,
    info: &TableInfo,
    key: &Value,
) -> Result<Value> {
    check_key(info, key)?;
    let invalid = |message: String| Error::InvalidKey {
        table: info.table.qualified.clone(),
        message,
    };
    let pairs: Vec<String> = info
        .key_columns
        .iter()
        .map(|k| {
            let col = format!("r.{}", quote_ident(&k.name));
            let value = if k.naive_ts {
                format!("pg_catalog.to_jsonb((pg_catalog.to_jsonb({col}) #>> '{{}}') || '+00:00')")
            } else if k.zoned_ts {
                format!(
                    "pg_catalog.to_jsonb((pg_catalog.to_jsonb({col} AT TIME ZONE 'UTC') #>> '{{}}') || '+00:00')"
                )
            } else {
                format!("pg_catalog.to_jsonb({col})")
            };
            format!("{}, {value}", quote_literal(&k.name))
        })
        .collect();
    let query = format!(
        "SELECT pg_catalog.jsonb_build_object({}) FROM pg_catalog.jsonb_populate_record(NULL::{}, $1) AS r",
        pairs.join(", "),
        info.table.quoted
    );
    sqlx::query_scalar::<_, Value>(sqlx::AssertSqlSafe(query))
        .bind(key)
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db) => invalid(db.message().to_owned()),
            _ => Error::from(e),
        })
}

fn key_names(info: &TableInfo) -> String {
    info.key_columns
        .iter()
        .map(|k| k.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Which versions [`RecordHistory::versions`] returns.
///
/// ```
/// use chrononaut::VersionFilter;
/// let since_yesterday = VersionFilter::new()
///     .after(chrono::Utc::now() - chrono::Duration::days(1))
///     .newest_first()
///     .limit(20);
/// # let _ = since_yesterday;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionFilter {
    before: Option<DateTime<Utc>>,
    after: Option<DateTime<Utc>>,
    limit: Option<i64>,
    newest_first: bool,
}

impl VersionFilter {
    /// Every version, oldest first.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only versions recorded at or before `t` (`changed <= t`, as in the Python library).
    pub fn before(mut self, t: DateTime<Utc>) -> Self {
        self.before = Some(t);
        self
    }

    /// Only versions recorded at or after `t` (`changed >= t`).
    pub fn after(mut self, t: DateTime<Utc>) -> Self {
        self.after = Some(t);
        self
    }

    /// At most `n` versions (the oldest ones, or the newest with [`Self::newest_first`]).
    pub fn limit(mut self, n: i64) -> Self {
        self.limit = Some(n.max(0));
        self
    }

    /// Newest first.
    pub fn newest_first(mut self) -> Self {
        self.newest_first = true;
        self
    }
}

/// The history of one record, from [`Chrononaut::record`]: a table and a primary key, resolved
/// once; every read is one query.
///
/// ```no_run
/// # async fn f(conn: &mut sqlx::PgConnection) -> Result<(), chrononaut::Error> {
/// use chrononaut::{Chrononaut, VersionFilter};
/// let record = Chrononaut::new()
///     .record(conn, "accounts", serde_json::json!({"id": 1}))
///     .await?;
/// for v in record.versions(conn, &VersionFilter::new()).await? {
///     println!("v{} at {}: {:?}", v.version(), v.changed(), v.get("balance"));
/// }
/// let yesterday = chrono::Utc::now() - chrono::Duration::days(1);
/// let diff = record.diff_timestamps(conn, yesterday, None, true).await?;
/// for (column, change) in &diff.changes {
///     println!("{column}: {change:?}");
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct RecordHistory {
    info: Arc<TableInfo>,
    key: Value,
    /// On SQLite, the key as the history holds it (the triggers' `json_object` text).
    key_text: Option<Arc<str>>,
}

impl Chrononaut {
    /// The history of the record of `table` whose primary key is `key` (a JSON object of
    /// every primary-key column but `version`; values may be given as strings, `{"id": "5"}`,
    /// and are converted to the column types). The table must exist; it need not be tracked
    /// any more, nor have been tracked by this library (history written by the Python library
    /// reads the same).
    pub async fn record(
        &self,
        conn: &mut (impl DbConn + ?Sized),
        table: &str,
        key: Value,
    ) -> Result<RecordHistory> {
        match conn.db() {
            Db::Postgres(conn) => {
                let info = load_table(conn, table).await?;
                let key = normalize_key(conn, &info, &key).await?;
                Ok(RecordHistory {
                    info: Arc::new(info),
                    key,
                    key_text: None,
                })
            }
            Db::Sqlite(conn) => {
                let (info, key_cols) = sqlite::load_table(conn, table).await?;
                let (key, text) = sqlite::normalize_key(conn, &info, &key_cols, &key).await?;
                Ok(RecordHistory {
                    info: Arc::new(info),
                    key,
                    key_text: Some(text.into()),
                })
            }
        }
    }

    /// The latest history rows of the whole of `table`, newest first: at most `limit`, recorded
    /// at or before `before` (`None`: now). The first page of [`Chrononaut::table_activity`],
    /// which also filters by operation and time and pages on.
    pub async fn table_log(
        &self,
        conn: &mut (impl DbConn + ?Sized),
        table: &str,
        limit: i64,
        before: Option<DateTime<Utc>>,
    ) -> Result<Vec<Snapshot>> {
        let conn = match conn.db() {
            Db::Postgres(conn) => conn,
            Db::Sqlite(conn) => {
                let (info, _) = sqlite::load_table(conn, table).await?;
                return sqlite::table_log(conn, &info, limit, before).await;
            }
        };
        let mut filter = crate::ActivityFilter::new().limit(limit);
        if let Some(before) = before {
            filter = filter.before(before);
        }
        Ok(self.table_activity(conn, table, &filter).await?.entries)
    }
}

impl RecordHistory {
    /// The table, schema-qualified.
    pub fn table(&self) -> &str {
        &self.info.table.qualified
    }

    /// The `table_name` of its history rows.
    pub fn history_name(&self) -> &str {
        self.info.history_name()
    }

    /// The record's key, as the history holds it.
    pub fn key(&self) -> &Value {
        &self.key
    }

    /// The hidden columns of the table (never shown by value).
    pub fn hidden_columns(&self) -> &[String] {
        &self.info.columns.hidden
    }

    pub(crate) fn info(&self) -> &TableInfo {
        &self.info
    }

    fn key_text(&self) -> String {
        self.key.to_string()
    }

    /// Versions through `chrononaut.record_history` (sql/history/record_history.sql).
    async fn fetch(&self, conn: &mut (impl DbConn + ?Sized), read: Read) -> Result<Vec<Snapshot>> {
        let conn = match conn.db() {
            Db::Postgres(conn) => conn,
            Db::Sqlite(conn) => {
                let text = self.key_text.as_deref().unwrap_or_default();
                return sqlite::record_rows(conn, &self.info, text, &read).await;
            }
        };
        let rows = sqlx::query(sql::RECORD_HISTORY)
            .bind(self.info.history_name())
            .bind(&self.key)
            .bind(read.before)
            .bind(read.after)
            .bind(read.version)
            .bind(read.newest_first)
            .bind(read.limit)
            .bind(read.skip)
            .fetch_all(&mut *conn)
            .await?;
        rows.iter()
            .map(|r| Snapshot::from_row(r, &self.info.columns))
            .collect()
    }

    /// The record's lock and unlock events, newest first, at most `limit` (they are not
    /// versions: [`RecordHistory::versions`] never returns them).
    pub async fn lock_events(
        &self,
        conn: &mut (impl DbConn + ?Sized),
        limit: i64,
    ) -> Result<Vec<crate::LockEvent>> {
        match conn.db() {
            Db::Postgres(conn) => {
                crate::locking::lock_events(conn, self.history_name(), Some(&self.key), limit).await
            }
            Db::Sqlite(conn) => {
                let text = self.key_text.as_deref().unwrap_or_default();
                crate::backend::sqlite_locks::lock_events(
                    conn,
                    self.history_name(),
                    Some(text),
                    limit,
                )
                .await
            }
        }
    }

    /// The record's versions, ordered by time then version (see [`VersionFilter`]).
    pub async fn versions(
        &self,
        conn: &mut (impl DbConn + ?Sized),
        filter: &VersionFilter,
    ) -> Result<Vec<Snapshot>> {
        self.fetch(
            conn,
            Read {
                before: filter.before,
                after: filter.after,
                newest_first: filter.newest_first,
                limit: filter.limit,
                ..Read::default()
            },
        )
        .await
    }

    /// Version `n` ([`Error::VersionNotFound`] when there is none). Where history written by
    /// the Python library repeats a number after a re-insert, the latest such version.
    pub async fn version(&self, conn: &mut (impl DbConn + ?Sized), n: i32) -> Result<Snapshot> {
        self.fetch(
            conn,
            Read {
                version: Some(n),
                newest_first: true,
                limit: Some(1),
                ..Read::default()
            },
        )
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| Error::VersionNotFound {
            table: self.info.table.qualified.clone(),
            key: self.key_text(),
            version: n,
        })
    }

    async fn nth_at(
        &self,
        conn: &mut (impl DbConn + ?Sized),
        at: DateTime<Utc>,
        skip: i64,
    ) -> Result<Option<Snapshot>> {
        Ok(self
            .fetch(
                conn,
                Read {
                    before: Some(at),
                    newest_first: true,
                    limit: Some(1),
                    skip,
                    ..Read::default()
                },
            )
            .await?
            .into_iter()
            .next())
    }

    /// The version in force at `at`: the latest recorded at or before it; `None` before the
    /// first version. After a deletion this is the deletion's snapshot
    /// ([`Snapshot::is_deleted`]).
    pub async fn version_at(
        &self,
        conn: &mut (impl DbConn + ?Sized),
        at: DateTime<Utc>,
    ) -> Result<Option<Snapshot>> {
        self.nth_at(conn, at, 0).await
    }

    /// The latest version (`None`: no history).
    pub async fn latest(&self, conn: &mut (impl DbConn + ?Sized)) -> Result<Option<Snapshot>> {
        self.nth_at(conn, far_future(), 0).await
    }

    /// The version before the latest (`None` with fewer than two versions).
    pub async fn previous_version(
        &self,
        conn: &mut (impl DbConn + ?Sized),
    ) -> Result<Option<Snapshot>> {
        self.nth_at(conn, far_future(), 1).await
    }

    /// True when a version was recorded after `since` (including changes of hidden columns
    /// only, and changes that a later one undid — the Python library instead compares the
    /// state at `since` with the latest and leaves both out).
    pub async fn has_changed_since(
        &self,
        conn: &mut (impl DbConn + ?Sized),
        since: DateTime<Utc>,
    ) -> Result<bool> {
        Ok(self
            .latest(conn)
            .await?
            .is_some_and(|latest| latest.changed() > since))
    }

    /// The changes from the snapshot `from` to `to` (`None`: the latest version), column →
    /// (from, to); `version` and hidden columns are not compared. With `include_hidden`,
    /// hidden columns that changed after `from` up to `to` are reported as
    /// [`Change::Hidden`] (never their values). `to` older than `from` is
    /// [`Error::NotChronological`]; a version diffed with itself is empty.
    pub async fn diff(
        &self,
        conn: &mut (impl DbConn + ?Sized),
        from: &Snapshot,
        to: Option<&Snapshot>,
        include_hidden: bool,
    ) -> Result<Diff> {
        let latest;
        let to = match to {
            Some(to) => to,
            None => {
                latest = self.latest(conn).await?.ok_or_else(|| Error::NoHistory {
                    table: self.info.table.qualified.clone(),
                    key: self.key_text(),
                    when: String::new(),
                })?;
                &latest
            }
        };
        self.diff_between(conn, Some(from), Some(to), include_hidden)
            .await
    }

    /// The changes from version `from` to version `to` (`None`: the latest).
    /// [`Error::VersionNotFound`] when either does not exist.
    pub async fn diff_versions(
        &self,
        conn: &mut (impl DbConn + ?Sized),
        from: i32,
        to: Option<i32>,
        include_hidden: bool,
    ) -> Result<Diff> {
        let from = self.version(conn, from).await?;
        let to = match to {
            Some(n) => Some(self.version(conn, n).await?),
            None => None,
        };
        self.diff(conn, &from, to.as_ref(), include_hidden).await
    }

    /// The changes from the state at `from` to the state at `to` (`None`: now). Before the
    /// first version the record counts as absent: every column of the later state shows as
    /// `null` → value. `to` before `from` is [`Error::NotChronological`].
    pub async fn diff_timestamps(
        &self,
        conn: &mut (impl DbConn + ?Sized),
        from: DateTime<Utc>,
        to: Option<DateTime<Utc>>,
        include_hidden: bool,
    ) -> Result<Diff> {
        let to = to.unwrap_or_else(far_future);
        if to < from {
            return Err(Error::NotChronological(format!(
                "to ({}) is before from ({})",
                to.to_rfc3339(),
                from.to_rfc3339()
            )));
        }
        let a = self.version_at(conn, from).await?;
        let b = self.version_at(conn, to).await?;
        self.diff_between(conn, a.as_ref(), b.as_ref(), include_hidden)
            .await
    }

    async fn diff_between(
        &self,
        conn: &mut (impl DbConn + ?Sized),
        from: Option<&Snapshot>,
        to: Option<&Snapshot>,
        include_hidden: bool,
    ) -> Result<Diff> {
        if let (Some(a), Some(b)) = (from, to)
            && b.sort_key() < a.sort_key()
        {
            return Err(Error::NotChronological(format!(
                "version {} ({}) is older than version {} ({})",
                b.version(),
                b.changed().to_rfc3339(),
                a.version(),
                a.changed().to_rfc3339()
            )));
        }
        let mut diff = diff::compare(from, to, &self.info.columns.hidden);
        if include_hidden && let Some(to) = to {
            let mut filter = VersionFilter::new().before(to.changed());
            if let Some(from) = from {
                filter = filter.after(from.changed());
            }
            for v in self.versions(conn, &filter).await? {
                let after_from = from.is_none_or(|f| v.sort_key() > f.sort_key());
                if after_from && v.sort_key() <= to.sort_key() {
                    for column in v.meta().hidden_cols_changed() {
                        diff.changes.entry(column).or_insert(Change::Hidden);
                    }
                }
            }
        }
        Ok(diff)
    }
}

/// A time after every recorded change.
/// One read of `chrononaut.record_history`: its arguments after table_name and key.
#[derive(Debug, Default)]
pub(crate) struct Read {
    pub(crate) before: Option<DateTime<Utc>>,
    pub(crate) after: Option<DateTime<Utc>>,
    pub(crate) version: Option<i32>,
    pub(crate) newest_first: bool,
    pub(crate) limit: Option<i64>,
    pub(crate) skip: i64,
}

pub(crate) fn far_future() -> DateTime<Utc> {
    // 9999-12-31T23:59:59Z: within PostgreSQL's range and every client's
    DateTime::<Utc>::from_timestamp(253_402_300_799, 0).unwrap_or_default()
}
