//! SQLite: the schema, tracking, capture triggers, context and reads of chrononaut on an
//! embedded database (`sql/sqlite/`).
//!
//! Capture is in the database, as on PostgreSQL: `track` installs row triggers that record
//! every writer's changes in `chrononaut_activity`, in the same format (JSON as text,
//! timestamps ISO-8601 UTC with microseconds). The context travels in the one row of
//! `chrononaut_context`, written inside the writing transaction and removed before it commits
//! ([`SqliteTransaction`]). SQLite has no roles: whoever can write the file can change
//! anything in it (README, "SQLite").

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use sqlx::sqlite::SqliteRow;
use sqlx::{
    AssertSqlSafe, Connection as _, Row, Sqlite, SqliteConnection, SqlitePool, Transaction,
};

use crate::asof::AsOfRow;
use crate::catalog::{Column, Table};
use crate::error::{Error, Result};
use crate::history::{KeyColumn, Read, TableInfo};
use crate::snapshot::{Hidden, Operation, RawJson, Snapshot, SnapshotMeta};
use crate::template::{self, Sql, sql_format};
use crate::track::{TableStatus, TrackOptions, TrackedTable};
use crate::{ChangeContext, InstallReport};

/// The schema version of chrononaut's SQLite objects (`chrononaut_meta`).
pub(crate) const SCHEMA_VERSION: i32 = 2;

const INSTALL: &str = include_str!("../../sql/sqlite/install.sql");
const CAPTURE: &str = include_str!("../../sql/sqlite/capture.sql");
const STRICT: &str = include_str!("../../sql/sqlite/strict.sql");
const RECORD_HISTORY: &str = include_str!("../../sql/sqlite/record_history.sql");
const AS_OF: &str = include_str!("../../sql/sqlite/as_of.sql");
const TABLE_LOG: &str = include_str!("../../sql/sqlite/table_log.sql");
const BASELINE: &str = include_str!("../../sql/sqlite/baseline.sql");
const BASELINE_VERSION: &str = include_str!("../../sql/sqlite/baseline_version.sql");
const TRACKED_UPSERT: &str = include_str!("../../sql/sqlite/tracked_upsert.sql");
const TRACKED_DELETE: &str = include_str!("../../sql/sqlite/tracked_delete.sql");
const TRACKED_OPTIONS: &str = include_str!("../../sql/sqlite/tracked_options.sql");
const TRACKED_LIST: &str = include_str!("../../sql/sqlite/tracked_list.sql");
const HISTORY_COUNT: &str = include_str!("../../sql/sqlite/history_count.sql");
const CONTEXT_WRITE: &str = include_str!("../../sql/sqlite/context_write.sql");
const CONTEXT_CLEAR: &str = include_str!("../../sql/sqlite/context_clear.sql");

/// The history time of a capture trigger: now, in UTC, with microseconds (SQLite's clock has
/// milliseconds), in the one text form every reader compares.
pub(crate) const NOW: &str = "strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now')";

/// The history time of a new version whose record's latest history time is `s.t` (NULL: no
/// history): now, or one microsecond after `s.t` when the clock has not moved past it. SQLite's
/// clock has milliseconds, so two writes of one record within a millisecond would otherwise
/// share a time, and `version_at` at the first one's time would give the second. With this a
/// record's versions have strictly increasing times, as on PostgreSQL.
pub(crate) fn time_after_s_t() -> Sql {
    Sql::assembled(format!(
        "CASE WHEN s.t IS NULL OR {NOW} > s.t \
              OR s.t NOT GLOB '????-??-??T??:??:??.??????+00:00' THEN {NOW} \
         WHEN substr(s.t, 21, 6) < '999999' \
         THEN substr(s.t, 1, 20) || printf('%06d', CAST(substr(s.t, 21, 6) AS INTEGER) + 1) \
              || '+00:00' \
         ELSE strftime('%Y-%m-%dT%H:%M:%S', substr(s.t, 1, 19), '+1 seconds') \
              || '.000000+00:00' END"
    ))
}

/// A time as the SQLite history holds it (`2026-12-02T19:30:00.123456+00:00`).
pub(crate) fn time_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, false)
}

pub(crate) fn parse_time(text: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| Error::Internal(format!("history time {text:?} is not ISO-8601: {e}")))
}

/// A string literal for SQLite, which has no escapes: `it's` becomes `'it''s'`.
pub(crate) fn literal(value: &str) -> Sql {
    Sql::assembled(format!("'{}'", value.replace('\'', "''")))
}

async fn exec(conn: &mut SqliteConnection, sql: String) -> Result<()> {
    sqlx::raw_sql(AssertSqlSafe(sql))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn installed_version(conn: &mut SqliteConnection) -> Result<Option<i32>> {
    let has_meta: Option<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name = 'chrononaut_meta'",
    )
    .fetch_optional(&mut *conn)
    .await?;
    if has_meta.is_none() {
        return Ok(None);
    }
    let v: Option<String> =
        sqlx::query_scalar("SELECT value FROM chrononaut_meta WHERE key = 'schema_version'")
            .fetch_optional(&mut *conn)
            .await?;
    Ok(v.and_then(|v| v.parse().ok()))
}

pub(crate) async fn require_installed(conn: &mut SqliteConnection) -> Result<i32> {
    match installed_version(conn).await? {
        None => Err(Error::NotInstalled),
        Some(v) if v > SCHEMA_VERSION => Err(Error::SchemaTooNew {
            found: v,
            supported: SCHEMA_VERSION,
        }),
        Some(v) => Ok(v),
    }
}

/// `install` on SQLite: creates (or upgrades) chrononaut's tables and triggers in one
/// transaction.
pub(crate) async fn install(conn: &mut SqliteConnection) -> Result<InstallReport> {
    let mut tx = conn.begin().await?;
    let previous = installed_version(&mut tx).await?;
    if let Some(v) = previous
        && v > SCHEMA_VERSION
    {
        return Err(Error::SchemaTooNew {
            found: v,
            supported: SCHEMA_VERSION,
        });
    }
    exec(&mut tx, INSTALL.to_owned()).await?;
    tx.commit().await?;
    Ok(InstallReport {
        schema_version: SCHEMA_VERSION,
        previous_version: previous,
        activity_table: "chrononaut_activity".into(),
        adopted_existing_table: false,
        regenerated_tables: 0,
        partitioning: None,
        partitions_created: Vec::new(),
        converted_rows: None,
    })
}

/// A column of a SQLite table, from `pragma_table_xinfo`.
pub(crate) struct SqliteColumn {
    name: String,
    /// The declared type, lower case (`integer`, `text`, `` for none).
    decl: String,
    /// Position in the primary key (0: not in it).
    pk: i64,
    /// NOT NULL without a default: an insert must give it.
    required: bool,
    /// A generated column (virtual or stored): never written.
    generated: bool,
}

/// The table's name as SQLite knows it: `name` exactly, a double-quoted identifier, or a
/// name that matches one table without regard to case (as SQLite itself resolves names).
pub(crate) async fn resolve(conn: &mut SqliteConnection, name: &str) -> Result<String> {
    let wanted = match name.strip_prefix('"').and_then(|n| n.strip_suffix('"')) {
        Some(quoted) if name.len() >= 2 => quoted.replace("\"\"", "\""),
        _ => name.strip_prefix("main.").unwrap_or(name).to_owned(),
    };
    let found: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name = ?1 COLLATE NOCASE \
         ORDER BY name = ?1 DESC",
    )
    .bind(&wanted)
    .fetch_all(&mut *conn)
    .await?;
    found
        .into_iter()
        .next()
        .ok_or_else(|| Error::UnknownTable(name.to_owned()))
}

pub(crate) async fn columns(conn: &mut SqliteConnection, table: &str) -> Result<Vec<SqliteColumn>> {
    let rows = sqlx::query(
        "SELECT name, type, pk, (\"notnull\" AND dflt_value IS NULL) AS required, \
         hidden IN (2, 3) AS generated FROM pragma_table_xinfo(?1) ORDER BY cid",
    )
    .bind(table)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(SqliteColumn {
                name: r.try_get("name")?,
                decl: r.try_get::<String, _>("type")?.to_ascii_lowercase(),
                pk: r.try_get("pk")?,
                required: r.try_get("required")?,
                generated: r.try_get("generated")?,
            })
        })
        .collect()
}

/// The primary-key columns, in key order, without `version`.
pub(crate) fn key_of(cols: &[SqliteColumn]) -> Vec<&SqliteColumn> {
    let mut pk: Vec<&SqliteColumn> = cols
        .iter()
        .filter(|c| c.pk > 0 && c.name != "version")
        .collect();
    pk.sort_by_key(|c| c.pk);
    pk
}

fn table_of(name: &str) -> Table {
    Table {
        oid: 0,
        schema: "main".into(),
        name: name.to_owned(),
        qualified: name.to_owned(),
        quoted: crate::ident::quote_ident(name),
        history_name: name.to_owned(),
    }
}

/// The table's columns in the form [`crate::track`]'s option checks read.
fn as_columns(cols: &[SqliteColumn]) -> Vec<Column> {
    cols.iter()
        .map(|c| Column {
            name: c.name.clone(),
            type_name: c.decl.clone(),
            comparable: true,
            naive_ts: false,
            tstz: false,
            zoned: false,
            generated: false,
        })
        .collect()
}

/// The triggers' names for `table` (trigger names are per database in SQLite).
fn trigger_names(table: &str) -> [Sql; 3] {
    ["insert", "update", "delete"].map(|op| Sql::ident(&format!("chrononaut_{op}_{table}")))
}

/// The SQL expressions of a tracked table's key and recorded data, for a row under an alias
/// (`NEW`, `OLD`, a table alias), as the capture triggers and the baseline write them.
pub(crate) struct Exprs<'a> {
    pk: Vec<&'a SqliteColumn>,
    recorded: Vec<&'a SqliteColumn>,
}

impl<'a> Exprs<'a> {
    pub(crate) fn new(cols: &'a [SqliteColumn], opts: &TrackOptions) -> Self {
        Exprs {
            pk: key_of(cols),
            recorded: cols
                .iter()
                .filter(|c| {
                    c.name != "version"
                        && !opts.hidden.contains(&c.name)
                        && !opts.untracked.contains(&c.name)
                })
                .collect(),
        }
    }

    fn col(alias: &'static str, name: &str) -> Sql {
        sql_format!("{}.{}", Sql::code(alias), Sql::ident(name))
    }

    /// A value as JSON holds it: blobs as PostgreSQL prints bytea (`\x0102`); JSON has no blobs.
    fn value(alias: &'static str, name: &str) -> Sql {
        let c = Self::col(alias, name);
        sql_format!(
            "iif(typeof({}) = 'blob', '\\x' || lower(hex({})), {})",
            c,
            c,
            c
        )
    }

    /// The record's key: `json_object` of the primary-key columns, in key order.
    pub(crate) fn key(&self, alias: &'static str) -> Sql {
        let pairs = Sql::join(
            self.pk
                .iter()
                .map(|c| sql_format!("{}, {}", literal(&c.name), Self::col(alias, &c.name))),
            ", ",
        );
        sql_format!("json_object({})", pairs)
    }

    /// The recorded columns and `'version', s.v` (`s.v`: the version being written).
    fn data(&self, alias: &'static str) -> Sql {
        let mut pairs: Vec<Sql> = self
            .recorded
            .iter()
            .map(|c| sql_format!("{}, {}", literal(&c.name), Self::value(alias, &c.name)))
            .collect();
        pairs.push(Sql::code("'version', s.v"));
        sql_format!("json_object({})", Sql::join(pairs, ", "))
    }
}

/// The capture triggers of `table` (sql/sqlite/capture.sql, filled).
fn capture_sql(
    table: &str,
    cols: &[SqliteColumn],
    opts: &TrackOptions,
    strict: bool,
) -> Result<Sql> {
    let pk = key_of(cols);
    let exprs = Exprs::new(cols, opts);
    let col = Exprs::col;
    let key = |alias: &'static str| exprs.key(alias);
    let data = |alias: &'static str| exprs.data(alias);
    let differs = |names: &mut dyn Iterator<Item = &String>| {
        let parts: Vec<Sql> = names
            .map(|n| sql_format!("{} IS NOT {}", col("OLD", n), col("NEW", n)))
            .collect();
        if parts.is_empty() {
            Sql::code("0")
        } else {
            sql_format!("({})", Sql::join(parts, " OR "))
        }
    };
    let watched: Vec<&String> = cols
        .iter()
        .filter(|c| c.pk == 0 && c.name != "version" && !opts.untracked.contains(&c.name))
        .map(|c| &c.name)
        .collect();
    let changed = differs(&mut watched.iter().copied());
    let key_changed = differs(&mut pk.iter().map(|c| &c.name));
    let pk_new = Sql::join(
        pk.iter()
            .map(|c| sql_format!("{} = {}", Sql::ident(&c.name), col("NEW", &c.name))),
        " AND ",
    );
    // extra_info: the context's, with the hidden columns that were set (insert) or changed
    // (update) in hidden_cols_changed, in column order.
    let base = Sql::code("coalesce(c.extra_info, '{}')");
    let hidden: Vec<&String> = cols
        .iter()
        .filter(|c| opts.hidden.contains(&c.name))
        .map(|c| &c.name)
        .collect();
    let extra = |test: &dyn Fn(&str) -> Sql| {
        if hidden.is_empty() {
            return base.clone();
        }
        let any = Sql::join(hidden.iter().map(|h| test(h)), " OR ");
        let names = Sql::join(
            hidden
                .iter()
                .map(|h| sql_format!("SELECT {} AS n WHERE {}", literal(h), test(h))),
            " UNION ALL ",
        );
        sql_format!(
            "CASE WHEN {} THEN json_set({}, '$.hidden_cols_changed', \
             json((SELECT json_group_array(h.n) FROM ({}) AS h))) ELSE {} END",
            any,
            base,
            names,
            base
        )
    };
    let extra_insert = extra(&|h| sql_format!("{} IS NOT NULL", col("NEW", h)));
    let extra_update = extra(&|h| sql_format!("{} IS NOT {}", col("OLD", h), col("NEW", h)));
    let strict_check = |when: Sql| -> Result<Sql> {
        if strict {
            template::fill(STRICT, &[("when", &when)])
        } else {
            Ok(Sql::default())
        }
    };
    let [trg_insert, trg_update, trg_delete] = trigger_names(table);
    template::fill(
        CAPTURE,
        &[
            ("table", &Sql::ident(table)),
            ("table_name", &literal(table)),
            ("trg_insert", &trg_insert),
            ("trg_update", &trg_update),
            ("trg_delete", &trg_delete),
            ("key_new", &key("NEW")),
            ("key_old", &key("OLD")),
            ("data_new", &data("NEW")),
            ("data_old", &data("OLD")),
            ("changed", &changed),
            ("key_changed", &key_changed),
            ("pk_new", &pk_new),
            ("extra_insert", &extra_insert),
            ("extra_update", &extra_update),
            ("strict_insert", &strict_check(Sql::code("1"))?),
            (
                "strict_update",
                &strict_check(sql_format!("{} OR {}", changed, key_changed))?,
            ),
            ("strict_delete", &strict_check(Sql::code("1"))?),
            ("time", &time_after_s_t()),
        ],
    )
}

/// The column names of a table, as `chrononaut_tracked.columns` keeps them to tell when the
/// triggers no longer fit the table.
fn fingerprint(cols: &[SqliteColumn]) -> String {
    Value::from(cols.iter().map(|c| c.name.clone()).collect::<Vec<_>>()).to_string()
}

/// `track` on SQLite: adds `version` if missing, (re)creates the capture triggers and stores
/// the options, in one transaction.
pub(crate) async fn track(
    conn: &mut SqliteConnection,
    name: &str,
    opts: &TrackOptions,
) -> Result<TrackedTable> {
    if opts.record_changes {
        return Err(unsupported("record-changes columns"));
    }
    if opts.keep_days.is_some() {
        return Err(unsupported("retention policies (pruning)"));
    }
    let mut tx = conn.begin().await?;
    require_installed(&mut tx).await?;
    let table = resolve(&mut tx, name).await?;
    if table.starts_with("chrononaut_") || table.starts_with("sqlite_") {
        return Err(Error::CannotTrackOwnTable(table));
    }
    let mut cols = columns(&mut tx, &table).await?;
    if key_of(&cols).is_empty() {
        return Err(Error::NoPrimaryKey(table));
    }
    let resolved = table_of(&table);
    let pk: Vec<String> = key_of(&cols).iter().map(|c| c.name.clone()).collect();
    let options = crate::track::validate(&resolved, &as_columns(&cols), &pk, opts)?;
    if !cols.iter().any(|c| c.name == "version") {
        // Existing rows read 0 (SQLite cannot add a column without giving old rows its
        // default): their first change is version 1, as on PostgreSQL.
        exec(
            &mut tx,
            sql_format!(
                "ALTER TABLE {} ADD COLUMN version INTEGER DEFAULT 0",
                Sql::ident(&table)
            )
            .into_string(),
        )
        .await?;
        cols = columns(&mut tx, &table).await?;
    }
    let strict = options.strict.unwrap_or(false);
    let mut ddl = drop_triggers_sql(&table);
    ddl.push_str(capture_sql(&table, &cols, &options, strict)?.as_str());
    tracing::debug!(table = %table, ddl = %ddl, "SQLite capture triggers");
    exec(&mut tx, ddl).await?;
    sqlx::query(TRACKED_UPSERT)
        .bind(&table)
        .bind(Value::from(options.hidden.clone()).to_string())
        .bind(Value::from(options.untracked.clone()).to_string())
        .bind(strict)
        .bind(time_text(Utc::now()))
        .bind(fingerprint(&cols))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(TrackedTable {
        table: table.clone(),
        history_name: table,
        primary_key: pk,
        options,
        strict_effective: strict,
    })
}

/// `baseline` on SQLite: the rows of tracked `name` that have no history are recorded as
/// version 0 (sql/sqlite/baseline.sql), in one transaction.
pub(crate) async fn baseline(
    conn: &mut SqliteConnection,
    name: &str,
) -> Result<crate::BaselineReport> {
    let mut tx = conn.begin().await?;
    require_installed(&mut tx).await?;
    let table = resolve(&mut tx, name).await?;
    let Some((hidden, _, _)) = tracked_columns(&mut tx, &table).await? else {
        return Err(Error::NotTracked(table));
    };
    let cols = columns(&mut tx, &table).await?;
    let opts = TrackOptions::new()
        .hidden(hidden.hidden)
        .untracked(hidden.untracked);
    let exprs = Exprs::new(&cols, &opts);
    let fill = |template: &str| {
        template::fill_some(
            template,
            &[
                ("table", &Sql::ident(&table)),
                ("table_name", &literal(&table)),
                ("key_t", &exprs.key("t")),
                ("data_t", &exprs.data("t")),
                ("now", &Sql::code(NOW)),
            ],
        )
    };
    let recorded = sqlx::query(AssertSqlSafe(fill(BASELINE)?.into_string()))
        .execute(&mut *tx)
        .await?
        .rows_affected();
    sqlx::query(AssertSqlSafe(fill(BASELINE_VERSION)?.into_string()))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(crate::BaselineReport {
        table,
        recorded,
        batches: 1,
    })
}

fn drop_triggers_sql(table: &str) -> String {
    trigger_names(table)
        .iter()
        .map(|t| format!("DROP TRIGGER IF EXISTS {t};\n"))
        .collect()
}

/// `untrack` on SQLite: removes the capture triggers; the history and `version` stay.
pub(crate) async fn untrack(conn: &mut SqliteConnection, name: &str) -> Result<()> {
    let mut tx = conn.begin().await?;
    require_installed(&mut tx).await?;
    let table = resolve(&mut tx, name).await?;
    let gone = sqlx::query(TRACKED_DELETE)
        .bind(&table)
        .execute(&mut *tx)
        .await?;
    if gone.rows_affected() == 0 {
        return Err(Error::NotTracked(table));
    }
    exec(&mut tx, drop_triggers_sql(&table)).await?;
    tx.commit().await?;
    Ok(())
}

/// The hidden and untracked columns of a table's tracking (none when it is not tracked).
pub(crate) async fn tracked_columns(
    conn: &mut SqliteConnection,
    table: &str,
) -> Result<Option<(Hidden, bool, String)>> {
    let row = sqlx::query(TRACKED_OPTIONS)
        .bind(table)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let names = |column: &str| -> Result<Vec<String>> {
        let text: String = row.try_get(column)?;
        serde_json::from_str(&text)
            .map_err(|e| Error::Internal(format!("chrononaut_tracked.{column}: {e}")))
    };
    Ok(Some((
        Hidden {
            hidden: names("hidden")?,
            untracked: names("untracked")?,
        },
        row.try_get("strict")?,
        row.try_get("columns")?,
    )))
}

/// `status` on SQLite: every tracked table with its options and history size.
pub(crate) async fn status(conn: &mut SqliteConnection) -> Result<Vec<TableStatus>> {
    require_installed(conn).await?;
    let names: Vec<String> = sqlx::query_scalar(TRACKED_LIST)
        .fetch_all(&mut *conn)
        .await?;
    let mut out = Vec::new();
    for table in names {
        let Some((cols, strict, fp)) = tracked_columns(conn, &table).await? else {
            continue;
        };
        let rows: i64 = sqlx::query_scalar(HISTORY_COUNT)
            .bind(&table)
            .fetch_one(&mut *conn)
            .await?;
        let now = columns(conn, &table).await?;
        out.push(TableStatus {
            table: table.clone(),
            history_name: table,
            options: TrackOptions {
                hidden: cols.hidden,
                untracked: cols.untracked,
                strict: Some(strict),
                ..TrackOptions::default()
            },
            strict_effective: strict,
            history_rows: rows,
            stale: fingerprint(&now) != fp,
        });
    }
    Ok(out)
}

/// A table whose history is read: resolved if it still exists, else read by its history
/// name (a dropped table's history stays readable).
pub(crate) async fn load_table(
    conn: &mut SqliteConnection,
    name: &str,
) -> Result<(TableInfo, Vec<SqliteKey>)> {
    require_installed(conn).await?;
    let table = resolve(conn, name).await?;
    let cols = columns(conn, &table).await?;
    let key: Vec<SqliteKey> = key_of(&cols)
        .iter()
        .map(|c| SqliteKey {
            name: c.name.clone(),
            affinity: Affinity::of(&c.decl),
        })
        .collect();
    if key.is_empty() {
        return Err(Error::NoPrimaryKey(table));
    }
    let hidden = tracked_columns(conn, &table)
        .await?
        .map(|(h, _, _)| h)
        .unwrap_or_default();
    let info = TableInfo {
        table: table_of(&table),
        activity: "chrononaut_activity".into(),
        key_columns: key
            .iter()
            .map(|k| KeyColumn {
                name: k.name.clone(),
                naive_ts: false,
                zoned_ts: false,
            })
            .collect(),
        columns: Arc::new(hidden),
    };
    Ok((info, key))
}

/// SQLite's type affinity of a declared type (its documented rules, in order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Affinity {
    Integer,
    Text,
    Blob,
    Real,
    Numeric,
}

impl Affinity {
    fn of(decl: &str) -> Affinity {
        if decl.contains("int") {
            Affinity::Integer
        } else if decl.contains("char") || decl.contains("clob") || decl.contains("text") {
            Affinity::Text
        } else if decl.contains("blob") || decl.is_empty() {
            Affinity::Blob
        } else if decl.contains("real") || decl.contains("floa") || decl.contains("doub") {
            Affinity::Real
        } else {
            Affinity::Numeric
        }
    }
}

/// A primary-key column and its affinity.
#[derive(Debug, Clone)]
pub(crate) struct SqliteKey {
    name: String,
    affinity: Affinity,
}

/// The history key of the record whose primary key is `key` (values may be strings,
/// `{"id": "5"}`, converted as SQLite's affinity converts them on insert): the JSON value and
/// the exact text the capture triggers write, made by SQLite's own `json_object`.
pub(crate) async fn normalize_key(
    conn: &mut SqliteConnection,
    info: &TableInfo,
    key_cols: &[SqliteKey],
    key: &Value,
) -> Result<(Value, String)> {
    let invalid = |message: String| Error::InvalidKey {
        table: info.table.qualified.clone(),
        message,
    };
    let obj = crate::history::check_key(info, key)?;
    let placeholders = vec!["?, ?"; key_cols.len()].join(", ");
    let statement = format!("SELECT json_object({placeholders})");
    let mut query = sqlx::query_scalar::<_, String>(AssertSqlSafe(statement));
    for c in key_cols {
        let v = obj
            .get(&c.name)
            .ok_or_else(|| invalid(format!("missing primary-key column {:?}", c.name)))?;
        query = query.bind(c.name.clone());
        let bad = || invalid(format!("{:?} cannot be {v}", c.name));
        query = match (c.affinity, v) {
            (_, Value::Null) => return Err(bad()),
            (Affinity::Integer, Value::Number(n)) => query.bind(n.as_i64().ok_or_else(bad)?),
            (Affinity::Integer, Value::String(s)) => {
                query.bind(s.trim().parse::<i64>().map_err(|_| bad())?)
            }
            (Affinity::Real, Value::Number(n)) => query.bind(n.as_f64().ok_or_else(bad)?),
            (Affinity::Real, Value::String(s)) => {
                query.bind(s.trim().parse::<f64>().map_err(|_| bad())?)
            }
            (Affinity::Text, Value::Number(n)) => query.bind(n.to_string()),
            (_, Value::String(s)) => query.bind(s.clone()),
            (_, Value::Number(n)) if n.is_i64() => query.bind(n.as_i64().ok_or_else(bad)?),
            (_, Value::Number(n)) => query.bind(n.as_f64().ok_or_else(bad)?),
            (_, Value::Bool(b)) => query.bind(i64::from(*b)),
            _ => return Err(bad()),
        };
    }
    let text = query.fetch_one(&mut *conn).await?;
    let value = serde_json::from_str(&text)
        .map_err(|e| Error::Internal(format!("json_object gave {text:?}: {e}")))?;
    Ok((value, text))
}

fn json(row: &SqliteRow, column: &str) -> Result<Value> {
    let text: String = row.try_get(column)?;
    serde_json::from_str(&text)
        .map_err(|e| Error::Internal(format!("history column {column} is not JSON: {e}")))
}

/// A history row's `data`, in the form PostgreSQL prints jsonb, so that both backends print
/// the same: object keys by length then bytes (a repeated key: the last one), `": "` and
/// `", "` between items. Numbers keep their text (`350.00` stays `350.00`).
fn raw(row: &SqliteRow) -> Result<Box<RawValue>> {
    let text: String = row.try_get("data")?;
    let bad =
        |e: serde_json::Error| Error::Internal(format!("history column data is not JSON: {e}"));
    let value: Box<RawValue> = serde_json::from_str(&text).map_err(bad)?;
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    jsonb_form(&value, &mut out).map_err(bad)?;
    RawValue::from_string(out).map_err(bad)
}

/// Writes `value` in jsonb's output form (see [`raw`]).
fn jsonb_form(value: &RawValue, out: &mut String) -> serde_json::Result<()> {
    let text = value.get();
    match text.as_bytes().first() {
        Some(b'{') => {
            let items: std::collections::BTreeMap<String, Box<RawValue>> =
                serde_json::from_str(text)?;
            let mut items: Vec<(String, Box<RawValue>)> = items.into_iter().collect();
            items.sort_by(|a, b| (a.0.len(), &a.0).cmp(&(b.0.len(), &b.0)));
            out.push('{');
            for (i, (k, v)) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&serde_json::to_string(k)?);
                out.push_str(": ");
                jsonb_form(v, out)?;
            }
            out.push('}');
        }
        Some(b'[') => {
            let items: Vec<Box<RawValue>> = serde_json::from_str(text)?;
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                jsonb_form(v, out)?;
            }
            out.push(']');
        }
        _ => out.push_str(text),
    }
    Ok(())
}

fn snapshot(row: &SqliteRow, columns: &Arc<Hidden>) -> Result<Snapshot> {
    let operation: Option<String> = row.try_get("operation")?;
    let changed: String = row.try_get("changed")?;
    let meta = SnapshotMeta {
        id: row.try_get("id")?,
        table: row.try_get("table_name")?,
        key: json(row, "key")?,
        version: row.try_get("version")?,
        changed: parse_time(&changed)?,
        operation: operation.as_deref().and_then(Operation::parse),
        user_info: json(row, "user_info")?,
        extra_info: json(row, "extra_info")?,
    };
    Ok(Snapshot::from_parts(meta, raw(row)?, columns))
}

/// The versions of one record (sql/sqlite/record_history.sql).
pub(crate) async fn record_rows(
    conn: &mut SqliteConnection,
    info: &TableInfo,
    key_text: &str,
    read: &Read,
) -> Result<Vec<Snapshot>> {
    let rows = sqlx::query(RECORD_HISTORY)
        .bind(info.history_name())
        .bind(key_text)
        .bind(read.before.map(time_text))
        .bind(read.after.map(time_text))
        .bind(read.version)
        .bind(read.newest_first)
        .bind(read.limit)
        .bind(read.skip)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(|r| snapshot(r, &info.columns)).collect()
}

/// The newest history rows of one table, newest first (sql/sqlite/table_log.sql).
pub(crate) async fn table_log(
    conn: &mut SqliteConnection,
    info: &TableInfo,
    limit: i64,
    before: Option<DateTime<Utc>>,
) -> Result<Vec<Snapshot>> {
    let rows = sqlx::query(TABLE_LOG)
        .bind(info.history_name())
        .bind(before.map(time_text))
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(|r| snapshot(r, &info.columns)).collect()
}

/// Every record of `info`'s table as it was at `at` (sql/sqlite/as_of.sql), and the columns
/// the rows hold.
pub(crate) async fn as_of(
    conn: &mut SqliteConnection,
    info: &TableInfo,
    at: DateTime<Utc>,
) -> Result<(Vec<String>, Vec<AsOfRow>)> {
    let cols = columns(conn, &info.table.name).await?;
    let recorded = cols
        .into_iter()
        .map(|c| c.name)
        .filter(|n| !info.columns.hidden.contains(n) && !info.columns.untracked.contains(n))
        .collect();
    let rows = sqlx::query(AS_OF)
        .bind(info.history_name())
        .bind(time_text(at))
        .fetch_all(&mut *conn)
        .await?;
    let rows = rows
        .iter()
        .map(|r| {
            let raw = raw(r)?;
            let changed: String = r.try_get("changed")?;
            Ok(AsOfRow::from_parts(
                json(r, "key")?,
                r.try_get("version")?,
                parse_time(&changed)?,
                RawJson(raw),
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((recorded, rows))
}

/// Binds a recorded JSON value as the value an ordinary write would have stored: numbers as
/// integers or reals, `true`/`false` as 1/0, and `\x...` text as the blob it was recorded from
/// (in a column of blob affinity).
pub(crate) fn bind_value<'q>(
    query: sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments>,
    value: &Value,
    affinity: Affinity,
) -> sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments> {
    match value {
        Value::Null => query.bind(None::<String>),
        Value::Bool(b) => query.bind(i64::from(*b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => query.bind(i),
            None => query.bind(n.as_f64()),
        },
        Value::String(text) => {
            let blob = (affinity == Affinity::Blob)
                .then(|| text.strip_prefix("\\x"))
                .flatten()
                .and_then(|hex| {
                    (hex.len() % 2 == 0)
                        .then(|| {
                            (0..hex.len())
                                .step_by(2)
                                .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
                                .collect::<Option<Vec<u8>>>()
                        })
                        .flatten()
                });
            match blob {
                Some(bytes) => query.bind(bytes),
                None => query.bind(text.clone()),
            }
        }
        other => query.bind(other.to_string()),
    }
}

/// `pk1 = ? AND pk2 = ?`: a row by its primary key, bound by [`bind_key`].
pub(crate) fn key_filter(key: &[&SqliteColumn]) -> Sql {
    Sql::join(
        key.iter()
            .map(|c| sql_format!("{} = ?", Sql::ident(&c.name))),
        " AND ",
    )
}

/// Binds the values of a history key (a JSON object) for [`key_filter`].
pub(crate) fn bind_key<'q>(
    mut query: sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments>,
    key: &[&SqliteColumn],
    value: &Value,
) -> sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments> {
    for c in key {
        let v = value.get(&c.name).unwrap_or(&Value::Null);
        query = bind_value(query, v, Affinity::of(&c.decl));
    }
    query
}

/// Whether `table` has a row with the history key `value`.
pub(crate) async fn record_exists(
    conn: &mut SqliteConnection,
    table: &str,
    key: &[&SqliteColumn],
    value: &Value,
) -> Result<bool> {
    let statement = sql_format!(
        "SELECT EXISTS (SELECT 1 FROM {} WHERE {})",
        Sql::ident(table),
        key_filter(key)
    );
    Ok(bind_key(
        sqlx::query(AssertSqlSafe(statement.into_string())),
        key,
        value,
    )
    .fetch_one(&mut *conn)
    .await?
    .try_get(0)?)
}

/// `restore` on SQLite: the state of an earlier version written as a new version (the
/// capture triggers record it), in one transaction with the restore's context, whose row is
/// removed before the commit. The rules are PostgreSQL's (`Chrononaut::restore`).
pub(crate) async fn restore(
    ch: &crate::Chrononaut,
    conn: &mut SqliteConnection,
    record: &crate::RecordHistory,
    target: crate::RestoreTarget,
    ctx: &ChangeContext,
) -> Result<crate::RestoreReport> {
    use crate::restore::{cannot_restore, restore_context, restored_snapshot, written_back};
    let mut tx = conn.begin().await?;
    let snapshot = restored_snapshot(&mut *tx, record, target).await?;
    ch.apply(&mut *tx, &restore_context(ctx, &snapshot)).await?;
    let table = &record.info().table.name;
    let cols = columns(&mut tx, table).await?;
    let key = key_of(&cols);
    let key_where = key_filter(&key);
    let bind_key = |query| bind_key(query, &key, record.key());
    let exists = record_exists(&mut tx, table, &key, record.key()).await?;
    let data = snapshot.data();
    let written: Vec<&SqliteColumn> = cols
        .iter()
        .filter(|c| !c.generated && written_back(record, &snapshot, &c.name))
        .collect();
    let before = record.latest(&mut *tx).await?.map(|s| s.meta().id);
    let value_of = |c: &SqliteColumn| data.get(&c.name).unwrap_or(&Value::Null);
    if exists {
        let set: Vec<&SqliteColumn> = written.iter().copied().filter(|c| c.pk == 0).collect();
        if !set.is_empty() {
            let statement = sql_format!(
                "UPDATE {} SET {} WHERE {}",
                Sql::ident(table),
                Sql::join(
                    set.iter()
                        .map(|c| sql_format!("{} = ?", Sql::ident(&c.name))),
                    ", "
                ),
                key_where
            );
            let mut query = sqlx::query(AssertSqlSafe(statement.into_string()));
            for c in &set {
                query = bind_value(query, value_of(c), Affinity::of(&c.decl));
            }
            bind_key(query).execute(&mut *tx).await?;
        }
    } else {
        let unknowable: Vec<&str> = cols
            .iter()
            .filter(|c| c.required && !c.generated && !written.iter().any(|w| w.name == c.name))
            .map(|c| c.name.as_str())
            .collect();
        if !unknowable.is_empty() {
            return Err(cannot_restore(record, &snapshot, &unknowable));
        }
        let statement = sql_format!(
            "INSERT INTO {} ({}) VALUES ({})",
            Sql::ident(table),
            Sql::join(written.iter().map(|c| Sql::ident(&c.name)), ", "),
            Sql::assembled(vec!["?"; written.len()].join(", "))
        );
        let mut query = sqlx::query(AssertSqlSafe(statement.into_string()));
        for c in &written {
            query = bind_value(query, value_of(c), Affinity::of(&c.decl));
        }
        query.execute(&mut *tx).await?;
    }
    let after = record.latest(&mut *tx).await?;
    sqlx::query(CONTEXT_CLEAR).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(crate::RestoreReport {
        restored_from: snapshot.version(),
        new_version: after.filter(|s| Some(s.meta().id) != before),
        reinserted: !exists,
    })
}

fn unsupported(what: &str) -> Error {
    Error::Unsupported {
        what: what.to_owned(),
        backend: "SQLite",
    }
}

/// Writes the context of the open transaction on `conn` (the one row of
/// `chrononaut_context`): `auto` (context providers) under the context's own extra info.
pub(crate) async fn apply(
    conn: &mut SqliteConnection,
    ctx: &ChangeContext,
    auto: &Map<String, Value>,
) -> Result<()> {
    if ctx.has_record_extra() {
        return Err(unsupported("per-record extra info"));
    }
    let mut extra = auto.clone();
    if let Value::Object(explicit) = ctx.extra_info() {
        extra.extend(explicit);
    }
    sqlx::query(CONTEXT_WRITE)
        .bind(ctx.user_info().to_string())
        .bind(Value::Object(extra).to_string())
        .bind(ctx.suppresses_versioning())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// A SQLite transaction with a change context, from
/// [`Chrononaut::begin_sqlite`](crate::Chrononaut::begin_sqlite). Use it as a connection
/// (`&mut *tx`); [`SqliteTransaction::commit`] removes the context row, then commits, so no
/// later transaction is recorded under this one's context. Dropped without commit, it rolls
/// back (the context row with it).
#[derive(Debug)]
pub struct SqliteTransaction<'c> {
    tx: Transaction<'c, Sqlite>,
}

impl<'c> SqliteTransaction<'c> {
    /// Removes the context, then commits.
    pub async fn commit(mut self) -> Result<()> {
        sqlx::query(CONTEXT_CLEAR).execute(&mut *self.tx).await?;
        self.tx.commit().await?;
        Ok(())
    }

    /// Rolls back the transaction (its context with it).
    pub async fn rollback(self) -> Result<()> {
        self.tx.rollback().await?;
        Ok(())
    }
}

impl std::ops::Deref for SqliteTransaction<'_> {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        &self.tx
    }
}

impl std::ops::DerefMut for SqliteTransaction<'_> {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.tx
    }
}

impl crate::DbConn for SqliteTransaction<'_> {
    fn db(&mut self) -> crate::Db<'_> {
        crate::Db::Sqlite(&mut self.tx)
    }
}

/// Begins a transaction on `pool` and writes `ctx` into it.
pub(crate) async fn begin(
    pool: &SqlitePool,
    ctx: &ChangeContext,
    auto: &Map<String, Value>,
) -> Result<SqliteTransaction<'static>> {
    let mut tx = pool.begin().await?;
    apply(&mut tx, ctx, auto).await?;
    Ok(SqliteTransaction { tx })
}

#[cfg(test)]
mod tests {
    use sqlx::{Connection, SqliteConnection};

    async fn time_after(conn: &mut SqliteConnection, latest: &str) -> String {
        let sql = format!(
            "SELECT {} FROM (SELECT ?1 AS t) AS s",
            super::time_after_s_t()
        );
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(latest)
            .fetch_one(conn)
            .await
            .expect("time")
    }

    /// The time after a record's latest one: now when the clock has passed it, otherwise 1 µs
    /// later, carrying into seconds, minutes and days; a time in another form is ignored.
    #[tokio::test]
    async fn the_time_after_a_latest_time() {
        let mut conn = SqliteConnection::connect("sqlite::memory:")
            .await
            .expect("sqlite");
        for (latest, want) in [
            (
                "2999-01-01T10:00:00.123000+00:00",
                "2999-01-01T10:00:00.123001+00:00",
            ),
            (
                "2999-12-31T23:59:59.999999+00:00",
                "3000-01-01T00:00:00.000000+00:00",
            ),
            (
                "2999-02-28T10:00:00.000998+00:00",
                "2999-02-28T10:00:00.000999+00:00",
            ),
        ] {
            assert_eq!(time_after(&mut conn, latest).await, want, "after {latest}");
        }
        // the clock has passed it, or it is not in the history's form: now
        for latest in ["2001-01-01T10:00:00.123000+00:00", "3000-01-01 10:00:00"] {
            let got = time_after(&mut conn, latest).await;
            let now = super::time_text(chrono::Utc::now());
            assert_eq!(&got[..10], &now[..10], "after {latest}: {got}");
            assert_eq!(got.len(), 32, "{got}");
        }
    }
}
