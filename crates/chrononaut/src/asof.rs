//! Whole-table time travel ("as of t") and the baseline of rows that existed before tracking.

use chrono::{DateTime, Utc};
use futures_core::stream::BoxStream;
use futures_util::StreamExt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;

use serde_json::value::RawValue;
use serde_json::{Map, Value};
use sqlx::{Acquire, PgConnection, Row};

use crate::error::{Error, Result};
use crate::history::{TableInfo, load_table};
use crate::ident::{quote_ident, quote_literal, text_array};
use crate::snapshot::{RawJson, raw_members};
use crate::{Chrononaut, sql};

/// One record of a table as it was at some time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AsOfRow {
    /// The record's primary key.
    pub key: Value,
    /// The version in force at that time.
    pub version: i32,
    /// When that version was recorded.
    pub changed: DateTime<Utc>,
    /// The recorded columns (without hidden and untracked ones; with `version`). Numbers are
    /// f64s here (`350.00` reads as `350.0`): [`AsOfRow::raw`] has them as stored.
    pub data: Map<String, Value>,
    /// The same columns as PostgreSQL printed them.
    #[serde(skip)]
    raw: RawJson,
}

impl AsOfRow {
    /// A row from its parts (a backend's own row decoding).
    pub(crate) fn from_parts(
        key: Value,
        version: i32,
        changed: DateTime<Utc>,
        raw: RawJson,
    ) -> Self {
        let data: Map<String, Value> = serde_json::from_str(raw.0.get()).unwrap_or_default();
        AsOfRow {
            key,
            version,
            changed,
            data,
            raw,
        }
    }

    /// The recorded columns as PostgreSQL printed them (`{"balance": 350.00, ...}`).
    pub fn raw_data(&self) -> &RawValue {
        &self.raw.0
    }

    /// The value of `column` as PostgreSQL printed it (`350.00`, `"alice"`); `None` for a
    /// column this version does not hold (hidden, untracked, added later).
    ///
    /// ```no_run
    /// # fn f(row: &chrononaut::AsOfRow) {
    /// let balance = row.raw("balance").map(|v| v.get().to_owned()); // Some("350.00")
    /// # }
    /// ```
    pub fn raw(&self, column: &str) -> Option<&RawValue> {
        raw_members(&self.raw.0).remove(column)
    }

    /// Orders rows by their keys, the way people read keys: numbers by value (`9` before
    /// `10`), strings by their text, a composite key field by field (by field name). `as_of`
    /// streams rows in the history index's order, which is not the keys' order; sort with
    /// this when you want one.
    ///
    /// ```
    /// # use serde_json::json;
    /// let mut keys = vec![json!({"id": 10}), json!({"id": 9}), json!({"id": 100})];
    /// keys.sort_by(chrononaut::AsOfRow::cmp_keys);
    /// assert_eq!(keys, vec![json!({"id": 9}), json!({"id": 10}), json!({"id": 100})]);
    /// ```
    pub fn key_order(&self, other: &AsOfRow) -> std::cmp::Ordering {
        Self::cmp_keys(&self.key, &other.key)
    }

    /// The order of [`AsOfRow::key_order`], on two keys (or any two JSON values): null, then
    /// booleans, numbers, strings, arrays, objects; numbers by value, strings by text, arrays
    /// and objects member by member.
    pub fn cmp_keys(a: &Value, b: &Value) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        fn rank(v: &Value) -> u8 {
            match v {
                Value::Null => 0,
                Value::Bool(_) => 1,
                Value::Number(_) => 2,
                Value::String(_) => 3,
                Value::Array(_) => 4,
                Value::Object(_) => 5,
            }
        }
        match (a, b) {
            (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
            (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
                (Some(x), Some(y)) => x.cmp(&y),
                _ => {
                    let (x, y) = (
                        x.as_f64().unwrap_or(f64::NAN),
                        y.as_f64().unwrap_or(f64::NAN),
                    );
                    x.partial_cmp(&y).unwrap_or(Ordering::Equal)
                }
            },
            (Value::String(x), Value::String(y)) => x.cmp(y),
            (Value::Array(x), Value::Array(y)) => x
                .iter()
                .zip(y)
                .map(|(x, y)| Self::cmp_keys(x, y))
                .find(|o| o.is_ne())
                .unwrap_or_else(|| x.len().cmp(&y.len())),
            (Value::Object(x), Value::Object(y)) => x
                .iter()
                .zip(y)
                .map(|((xk, xv), (yk, yv))| xk.cmp(yk).then_with(|| Self::cmp_keys(xv, yv)))
                .find(|o| o.is_ne())
                .unwrap_or_else(|| x.len().cmp(&y.len())),
            _ => rank(a).cmp(&rank(b)),
        }
    }

    /// Each recorded column as PostgreSQL printed it, by name.
    pub fn raw_columns(&self) -> BTreeMap<String, &RawValue> {
        raw_members(&self.raw.0)
    }

    /// The recorded columns deserialized into `T` (hidden and untracked columns are absent:
    /// make them `Option` or `#[serde(default)]`).
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T> {
        T::deserialize(Value::Object(self.data.clone())).map_err(|e| Error::Deserialize {
            what: format!("row {} version {}", self.key, self.version),
            message: e.to_string(),
        })
    }
}

/// A table as it was at some time, from [`Chrononaut::as_of`]: its columns and a stream of its
/// rows (read as they come, not collected; in the history index's order, not by key: sort
/// with [`AsOfRow::key_order`] for that).
pub struct AsOf<'c> {
    columns: Vec<String>,
    rows: BoxStream<'c, Result<AsOfRow>>,
}

impl std::fmt::Debug for AsOf<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsOf")
            .field("columns", &self.columns)
            .finish_non_exhaustive()
    }
}

impl<'c> AsOf<'c> {
    /// The table's recorded columns, in table order (hidden and untracked columns left out).
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The rows, with key, version and time.
    pub fn rows(self) -> BoxStream<'c, Result<AsOfRow>> {
        self.rows
    }

    /// The rows deserialized into `T` with serde.
    ///
    /// ```no_run
    /// # async fn f(conn: &mut sqlx::PgConnection) -> Result<(), chrononaut::Error> {
    /// use futures_util::TryStreamExt;
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Account { id: i32, owner: String, balance: i64 }
    ///
    /// let t = chrono::Utc::now() - chrono::Duration::days(30);
    /// let mut rows = chrononaut::Chrononaut::new()
    ///     .as_of(conn, "accounts", t)
    ///     .await?
    ///     .typed::<Account>();
    /// while let Some(account) = rows.try_next().await? {
    ///     println!("{} had {}", account.owner, account.balance);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn typed<T: DeserializeOwned + Send + 'c>(self) -> BoxStream<'c, Result<T>> {
        self.rows
            .map(|row| row.and_then(|r| r.deserialize()))
            .boxed()
    }
}

/// Options of [`Chrononaut::baseline`].
pub struct BaselineOptions<'a> {
    batch_size: i64,
    progress: Option<Box<dyn FnMut(u64, u64) + Send + 'a>>,
}

impl Default for BaselineOptions<'_> {
    fn default() -> Self {
        Self {
            batch_size: 5_000,
            progress: None,
        }
    }
}

impl std::fmt::Debug for BaselineOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BaselineOptions")
            .field("batch_size", &self.batch_size)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

impl<'a> BaselineOptions<'a> {
    /// 5000 rows per batch, no progress report.
    pub fn new() -> Self {
        Self::default()
    }

    /// Rows per batch (each batch is one transaction; at least 1).
    pub fn batch_size(mut self, rows: i64) -> Self {
        self.batch_size = rows.max(1);
        self
    }

    /// Called after each batch with (rows recorded so far, rows to record in all).
    pub fn progress(mut self, f: impl FnMut(u64, u64) + Send + 'a) -> Self {
        self.progress = Some(Box::new(f));
        self
    }
}

/// What [`Chrononaut::baseline`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BaselineReport {
    /// The table, schema-qualified.
    pub table: String,
    /// Rows recorded (they had no version).
    pub recorded: u64,
    /// Batches (transactions) used.
    pub batches: u64,
}

impl Chrononaut {
    /// Every record of `table` as it was at `at`: per key, the latest version recorded at or
    /// before `at`, unless it is a deletion. Records inserted later, or deleted before, are
    /// absent; rows that existed before tracking began are absent unless a
    /// [baseline](Chrononaut::baseline) recorded them. One query, streamed.
    ///
    /// From SQL, the same rows typed as the table's own:
    /// `SELECT * FROM chrononaut.as_of(NULL::public.accounts, '2024-05-01 12:00+00')`
    /// (hidden and untracked columns NULL).
    pub async fn as_of<'c>(
        &self,
        conn: &'c mut (impl crate::DbConn + ?Sized),
        table: &str,
        at: DateTime<Utc>,
    ) -> Result<AsOf<'c>> {
        let conn = match conn.db() {
            crate::Db::Postgres(conn) => conn,
            crate::Db::Sqlite(conn) => {
                let (info, _) = crate::backend::sqlite::load_table(conn, table).await?;
                let (columns, rows) = crate::backend::sqlite::as_of(conn, &info, at).await?;
                return Ok(AsOf {
                    columns,
                    rows: futures_util::stream::iter(rows.into_iter().map(Ok)).boxed(),
                });
            }
        };
        let info = load_table(conn, table).await?;
        let columns = recorded_columns(conn, &info).await?;
        let rows = sqlx::query(sql::AS_OF)
            .bind(info.history_name().to_owned())
            .bind(at)
            .fetch(conn)
            .map(|row| {
                let row = row?;
                // kept as text too: a JSON number read into `Value` is an f64
                let raw = row
                    .try_get::<sqlx::types::Json<Box<RawValue>>, _>("data")?
                    .0;
                let data: Map<String, Value> = serde_json::from_str(raw.get()).unwrap_or_default();
                Ok(AsOfRow {
                    key: row.try_get("key")?,
                    version: row.try_get("version")?,
                    changed: row.try_get("changed")?,
                    data,
                    raw: RawJson(raw),
                })
            })
            .boxed();
        Ok(AsOf { columns, rows })
    }

    /// Records the rows of tracked `table` that existed before tracking began (their `version`
    /// is NULL) as version 0, operation `insert`, `extra_info` `{"baseline": true}`, the time of
    /// their batch as `changed`, and sets their `version` to 0 (a key that already has history
    /// gets its next version instead). Idempotent: rows with a version are left alone.
    ///
    /// Runs in batches, each a transaction of its own that holds a SHARE ROW EXCLUSIVE lock on
    /// the table (writers wait for the batch, readers do not). A row changed after tracking
    /// began but before its batch already has a version (1) and is not baselined: its history
    /// starts with that change, as without a baseline.
    ///
    /// ```no_run
    /// # async fn f(conn: &mut sqlx::PgConnection) -> Result<(), chrononaut::Error> {
    /// use chrononaut::{BaselineOptions, Chrononaut, TrackOptions};
    /// let ch = Chrononaut::new();
    /// ch.track(conn, "accounts", &TrackOptions::new()).await?;
    /// let report = ch
    ///     .baseline(conn, "accounts", BaselineOptions::new().progress(|done, all| {
    ///         eprintln!("{done}/{all}");
    ///     }))
    ///     .await?;
    /// println!("{} existing rows recorded", report.recorded);
    /// # Ok(()) }
    /// ```
    ///
    /// On SQLite the baseline is one transaction (SQLite has one writer at a time; the batch
    /// size is not used) and records the rows that have no history at all.
    pub async fn baseline(
        &self,
        conn: &mut (impl crate::DbConn + ?Sized),
        table: &str,
        mut options: BaselineOptions<'_>,
    ) -> Result<BaselineReport> {
        let conn = match conn.db() {
            crate::Db::Postgres(conn) => conn,
            crate::Db::Sqlite(conn) => {
                let report = crate::backend::sqlite::baseline(conn, table).await?;
                if let Some(progress) = options.progress.as_mut() {
                    progress(report.recorded, report.recorded);
                }
                return Ok(report);
            }
        };
        let info = load_table(conn, table).await?;
        let tracked: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM chrononaut.tracked WHERE relid = $1::int8::oid)",
        )
        .bind(info.table.oid)
        .fetch_one(&mut *conn)
        .await?;
        if !tracked {
            return Err(Error::NotTracked(info.table.qualified.clone()));
        }
        let t = &info.table.quoted;
        let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM {t} WHERE version IS NULL"
        )))
        .fetch_one(&mut *conn)
        .await?;
        let batch_sql = baseline_sql(conn, &info).await?;
        let record_changes = info.columns.untracked.iter().any(|c| c == "change_info");
        // the version bump too: it must not turn the 0 written here into 1
        let mut triggers = vec!["chrononaut_capture_update", "zz_chrononaut_version"];
        if record_changes {
            triggers.push("zz_chrononaut_change_info");
        }
        let mut report = BaselineReport {
            table: info.table.qualified.clone(),
            recorded: 0,
            batches: 0,
        };
        let mut last: Option<Value> = None;
        if let Some(progress) = options.progress.as_mut() {
            progress(0, total as u64);
        }
        let mut more = total > 0;
        while more {
            let mut tx = conn.begin().await?;
            let mut ddl = String::from("SET LOCAL TimeZone = 'UTC';\n");
            for trigger in &triggers {
                ddl.push_str(&format!(
                    "ALTER TABLE {t} DISABLE TRIGGER {};\n",
                    quote_ident(trigger)
                ));
            }
            sqlx::raw_sql(sqlx::AssertSqlSafe(ddl))
                .execute(&mut *tx)
                .await?;
            let row = sqlx::query(sqlx::AssertSqlSafe(batch_sql.clone()))
                .bind(&last)
                .bind(options.batch_size)
                .fetch_one(&mut *tx)
                .await?;
            let mut ddl = String::new();
            for trigger in &triggers {
                ddl.push_str(&format!(
                    "ALTER TABLE {t} ENABLE TRIGGER {};\n",
                    quote_ident(trigger)
                ));
            }
            sqlx::raw_sql(sqlx::AssertSqlSafe(ddl))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            let recorded: i64 = row.try_get("recorded")?;
            let seen: i64 = row.try_get("seen")?;
            report.recorded += recorded as u64;
            report.batches += 1;
            last = row.try_get("last_key")?;
            if let Some(progress) = options.progress.as_mut() {
                progress(report.recorded, total as u64);
            }
            more = seen == options.batch_size && last.is_some();
        }
        Ok(report)
    }
}

/// The table's columns in order, without hidden and untracked ones.
async fn recorded_columns(conn: &mut PgConnection, info: &TableInfo) -> Result<Vec<String>> {
    let names: Vec<String> = sqlx::query(sql::TABLE_COLUMNS)
        .bind(info.table.oid)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| r.try_get::<String, _>("name"))
        .collect::<std::result::Result<_, _>>()?;
    Ok(names
        .into_iter()
        .filter(|n| !info.columns.hidden.contains(n) && !info.columns.untracked.contains(n))
        .collect())
}

/// The batch statement of [`Chrononaut::baseline`] for one table (`sql/history/baseline.sql`).
async fn baseline_sql(conn: &mut PgConnection, info: &TableInfo) -> Result<String> {
    let rows = sqlx::query(sql::TABLE_COLUMNS)
        .bind(info.table.oid)
        .fetch_all(&mut *conn)
        .await?;
    let mut naive = Vec::new();
    for r in &rows {
        if r.try_get::<bool, _>("naive_ts")? {
            naive.push(r.try_get::<String, _>("name")?);
        }
    }
    let removed: Vec<String> = info
        .columns
        .hidden
        .iter()
        .chain(&info.columns.untracked)
        .cloned()
        .collect();
    let object = |pairs: Vec<String>| -> String {
        // jsonb_build_object takes at most 100 arguments
        let parts: Vec<String> = pairs
            .chunks(50)
            .map(|c| format!("pg_catalog.jsonb_build_object({})", c.join(", ")))
            .collect();
        if parts.is_empty() {
            "'{}'::jsonb".to_owned()
        } else {
            parts.join(" || ")
        }
    };
    let json_value = |name: &str| {
        let col = format!("t.{}", quote_ident(name));
        if naive.iter().any(|n| n == name) {
            format!("{col}::timestamptz")
        } else {
            col
        }
    };
    let key_t = object(
        info.key_columns
            .iter()
            .map(|k| format!("{}, {}", quote_literal(&k.name), json_value(&k.name)))
            .collect(),
    );
    let mut data_t = "pg_catalog.to_jsonb(t.*)".to_owned();
    if !removed.is_empty() {
        data_t = format!("({data_t} - {})", text_array(&removed));
    }
    let naive_kept: Vec<String> = naive
        .iter()
        .filter(|n| !removed.contains(n))
        .map(|n| format!("{}, {}", quote_literal(n), json_value(n)))
        .collect();
    if !naive_kept.is_empty() {
        data_t = format!("{data_t} || {}", object(naive_kept));
    }
    let cols = |alias: &str| {
        info.key_columns
            .iter()
            .map(|k| format!("{alias}.{}", quote_ident(&k.name)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let numbered = |suffix: &str| {
        (1..=info.key_columns.len())
            .map(|i| format!("pk_{i}{suffix}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let pk_cols = info
        .key_columns
        .iter()
        .enumerate()
        .map(|(i, k)| format!("t.{} AS pk_{}", quote_ident(&k.name), i + 1))
        .collect::<Vec<_>>()
        .join(", ");
    let pk_join = info
        .key_columns
        .iter()
        .enumerate()
        .map(|(i, k)| format!("t.{} = v.pk_{}", quote_ident(&k.name), i + 1))
        .collect::<Vec<_>>()
        .join(" AND ");
    sql::fill(
        sql::BASELINE,
        &[
            ("table", &info.table.quoted),
            ("activity", &info.activity),
            ("table_name", &quote_literal(info.history_name())),
            ("key_t", &key_t),
            ("data_t", &data_t),
            ("pk_t", &cols("t")),
            ("pk_l", &cols("l")),
            ("pk_cols", &pk_cols),
            ("pk_join", &pk_join),
            ("pk_b_desc", &numbered(" DESC")),
        ],
    )
}
