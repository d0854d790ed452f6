//! Tracking tables: options, the generated capture triggers, untracking and status.

use std::collections::HashMap;

use serde::Serialize;
use sqlx::{Acquire, PgConnection, Row};

use crate::error::{Error, Result};
use crate::ident::{fresh_name, quote_ident, quote_literal};
use crate::install::{ADVISORY_LOCK, Installed, require_installed};
use crate::{Chrononaut, sql};

/// The columns that `--record-changes` adds and fills.
const RECORD_CHANGE_COLUMNS: [&str; 2] = ["change_info", "changed"];

/// How a table is tracked.
///
/// ```
/// use chrononaut::TrackOptions;
/// let options = TrackOptions::new()
///     .hidden(["password_hash"])
///     .untracked(["last_seen"])
///     .strict(true);
/// # let _ = options;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TrackOptions {
    /// Columns whose changes are noted (`extra_info.hidden_cols_changed`) but whose values are
    /// never stored.
    pub hidden: Vec<String>,
    /// Columns that are not recorded at all; changing only these creates no version.
    pub untracked: Vec<String>,
    /// Adds and fills `change_info jsonb` and `changed timestamptz` on the table itself.
    pub record_changes: bool,
    /// Refuse writes without extra change info. `None` follows the database-wide default.
    pub strict: Option<bool>,
}

impl TrackOptions {
    /// Default options: every column tracked, not strict beyond the database default.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the hidden columns.
    pub fn hidden<I, S>(mut self, columns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.hidden = columns.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the untracked columns.
    pub fn untracked<I, S>(mut self, columns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.untracked = columns.into_iter().map(Into::into).collect();
        self
    }

    /// Turns record-changes mode on or off.
    pub fn record_changes(mut self, on: bool) -> Self {
        self.record_changes = on;
        self
    }

    /// Sets strict mode for this table (overriding the database-wide default).
    pub fn strict(mut self, on: bool) -> Self {
        self.strict = Some(on);
        self
    }
}

/// A tracked table, as [`Chrononaut::track`] left it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrackedTable {
    /// The table, schema-qualified and quoted as needed (`public.invoices`).
    pub table: String,
    /// The `table_name` its history rows carry (`invoices` in `public`, else `schema.table`).
    pub history_name: String,
    /// Primary-key columns (the history `key`).
    pub primary_key: Vec<String>,
    /// The options in force.
    pub options: TrackOptions,
    /// Whether strict mode applies (the table's setting or the database default).
    pub strict_effective: bool,
}

/// One line of [`Chrononaut::status`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableStatus {
    /// The table, schema-qualified.
    pub table: String,
    /// The `table_name` of its history rows.
    pub history_name: String,
    /// The options in force.
    pub options: TrackOptions,
    /// Whether strict mode applies.
    pub strict_effective: bool,
    /// Number of history rows.
    pub history_rows: i64,
    /// The table's columns changed since its triggers were made (a column added, dropped or
    /// renamed): changes of a new column make no version until `track` runs again.
    pub stale: bool,
}

/// A resolved table.
#[derive(Debug)]
pub(crate) struct Table {
    pub(crate) oid: i64,
    /// The schema's name, as in the catalog.
    pub(crate) schema: String,
    /// The table's name, as in the catalog.
    pub(crate) name: String,
    pub(crate) qualified: String,
    pub(crate) quoted: String,
    pub(crate) history_name: String,
}

struct Column {
    name: String,
    type_name: String,
    comparable: bool,
    naive_ts: bool,
    tstz: bool,
    zoned: bool,
    generated: bool,
}

impl Column {
    /// `alias.col`, as text when the type has no usable `=`.
    fn compared(&self, alias: &str) -> String {
        let col = format!("{alias}.{}", quote_ident(&self.name));
        if self.comparable {
            col
        } else {
            format!("{col}::text")
        }
    }

    /// Whether the column's JSON form is rendered explicitly (timestamps, in UTC).
    fn rendered(&self) -> bool {
        self.naive_ts || self.tstz
    }

    /// `alias.col` as it goes into JSON. Timestamps are rendered as ISO-8601 UTC text
    /// (`2026-01-02T03:04:05.123456+00:00`) without depending on the session TimeZone, the way
    /// the Python library writes them (naive timestamps are taken as UTC). Doing it here
    /// instead of a `SET TimeZone` clause on the capture functions saves ~9 µs a statement.
    fn json_value(&self, alias: &str) -> String {
        let col = format!("{alias}.{}", quote_ident(&self.name));
        let utc = if self.tstz {
            format!("({col} AT TIME ZONE 'UTC')")
        } else if self.naive_ts {
            col.clone()
        } else {
            return col;
        };
        format!(
            "CASE WHEN isfinite({col}) THEN (to_jsonb({utc}) #>> '{{}}') || '+00:00' \
             ELSE to_jsonb({col}) #>> '{{}}' END"
        )
    }
}

/// Resolves a table name (see [`Chrononaut::track`] for the spellings accepted).
pub(crate) async fn resolve(conn: &mut PgConnection, name: &str) -> Result<Table> {
    resolve_optional(conn, name)
        .await?
        .ok_or_else(|| Error::UnknownTable(name.to_owned()))
}

/// Like [`resolve`], but `None` when no relation has that name.
pub(crate) async fn resolve_optional(conn: &mut PgConnection, name: &str) -> Result<Option<Table>> {
    let literal = quote_ident(name);
    let row = sqlx::query(sql::RESOLVE_TABLE)
        .bind(name)
        .bind(&literal)
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| match &e {
            // to_regclass raises on malformed names such as a."b
            sqlx::Error::Database(db) if db.code().as_deref() == Some("42602") => {
                Error::UnknownTable(format!("{name} (not a valid table name: {})", db.message()))
            }
            _ => Error::from(e),
        })?;
    let Some(row) = row else {
        return Ok(None);
    };
    let relkind: String = row.try_get("relkind")?;
    let qualified: String = row.try_get("qualified")?;
    if relkind != "r" && relkind != "p" {
        return Err(Error::UnknownTable(format!(
            "{qualified} is not a table (relkind {relkind})"
        )));
    }
    let schema: String = row.try_get("schema_name")?;
    let table: String = row.try_get("table_name")?;
    Ok(Some(Table {
        oid: row.try_get("oid")?,
        quoted: format!("{}.{}", quote_ident(&schema), quote_ident(&table)),
        qualified,
        history_name: row.try_get("history_name")?,
        schema,
        name: table,
    }))
}

async fn columns(conn: &mut PgConnection, oid: i64) -> Result<Vec<Column>> {
    let rows = sqlx::query(sql::TABLE_COLUMNS)
        .bind(oid)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Column {
                name: r.try_get("name")?,
                type_name: r.try_get("type_name")?,
                comparable: r.try_get("comparable")?,
                naive_ts: r.try_get("naive_ts")?,
                tstz: r.try_get("tstz")?,
                generated: r.try_get("generated")?,
                zoned: r.try_get("zoned")?,
            })
        })
        .collect()
}

pub(crate) async fn primary_key(conn: &mut PgConnection, oid: i64) -> Result<Vec<String>> {
    let names: Vec<String> = sqlx::query_scalar(sql::PRIMARY_KEY)
        .bind(oid)
        .fetch_all(&mut *conn)
        .await?;
    Ok(names)
}

async fn exec(conn: &mut PgConnection, ddl: String) -> Result<()> {
    sqlx::raw_sql(sqlx::AssertSqlSafe(ddl))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The per-table locking functions: the key of a row, the lock check, the trigger switch.
fn lock_function_names(suffix: &str) -> [String; 3] {
    ["key", "lock_check", "lock_triggers"].map(|op| {
        format!(
            "chrononaut.{}",
            quote_ident(&format!("capture_{suffix}_{op}"))
        )
    })
}

fn function_names(suffix: &str) -> [String; 4] {
    ["insert", "update", "delete", "version"].map(|op| {
        format!(
            "chrononaut.{}",
            quote_ident(&format!("capture_{suffix}_{op}"))
        )
    })
}

/// Checks the options against the table's columns; returns them de-duplicated.
fn validate(
    table: &Table,
    cols: &[Column],
    pk: &[String],
    opts: &TrackOptions,
) -> Result<TrackOptions> {
    let mut out = opts.clone();
    out.hidden.dedup();
    out.untracked.dedup();
    for name in out.hidden.iter().chain(&out.untracked) {
        if !cols.iter().any(|c| &c.name == name) {
            return Err(Error::UnknownColumn {
                table: table.qualified.clone(),
                column: name.clone(),
            });
        }
        if name == "version" {
            return Err(Error::InvalidOptions(
                "the version column cannot be hidden or untracked".into(),
            ));
        }
        if pk.contains(name) {
            return Err(Error::InvalidOptions(format!(
                "primary-key column {name:?} identifies records and cannot be hidden or untracked"
            )));
        }
    }
    if let Some(both) = out.hidden.iter().find(|h| out.untracked.contains(h)) {
        return Err(Error::InvalidOptions(format!(
            "column {both:?} cannot be both hidden and untracked"
        )));
    }
    if let Some(version) = cols.iter().find(|c| c.name == "version")
        && version.type_name != "integer"
    {
        return Err(Error::InvalidOptions(format!(
            "{} already has a column version of type {}; chrononaut needs integer",
            table.qualified, version.type_name
        )));
    }
    if opts.record_changes {
        for (name, wanted) in [
            ("change_info", "jsonb"),
            ("changed", "timestamp with time zone"),
        ] {
            if let Some(c) = cols.iter().find(|c| c.name == name)
                && c.type_name != wanted
            {
                return Err(Error::InvalidOptions(format!(
                    "record-changes needs {name} of type {wanted}, but {} has {}",
                    table.qualified, c.type_name
                )));
            }
        }
    }
    Ok(out)
}

/// Builds the capture DDL of one table from `sql/capture.sql`.
fn capture_ddl(
    table: &Table,
    activity: &str,
    cols: &[Column],
    key_cols: &[String],
    opts: &TrackOptions,
    strict: bool,
    suffix: &str,
) -> String {
    let taken: Vec<String> = cols.iter().map(|c| c.name.clone()).collect();
    let var = |base: &str| fresh_name(base, &taken);
    let (ctx, rec, ts, cnt, fix, lk) = (
        var("chrononaut_ctx"),
        var("chrononaut_rec"),
        var("chrononaut_ts"),
        var("chrononaut_cnt"),
        var("chrononaut_fix"),
        var("chrononaut_lk"),
    );
    let (n, o, s, v, h, w) = ("cn_n", "cn_o", "cn_s", "cn_v", "cn_h", "cn_w");

    let by_name: HashMap<&str, &Column> = cols.iter().map(|c| (c.name.as_str(), c)).collect();
    let is_meta = |name: &str| opts.record_changes && RECORD_CHANGE_COLUMNS.contains(&name);
    // Removed from `data`: hidden, untracked and the record-changes columns.
    let removed: Vec<String> = cols
        .iter()
        .filter(|c| {
            opts.hidden.contains(&c.name) || opts.untracked.contains(&c.name) || is_meta(&c.name)
        })
        .map(|c| c.name.clone())
        .collect();
    // Compared to decide whether a version is due: everything but untracked, version, meta and
    // generated columns (NULL in BEFORE triggers; they change only when their inputs do).
    let compared: Vec<&Column> = cols
        .iter()
        .filter(|c| {
            !c.generated
                && c.name != "version"
                && !opts.untracked.contains(&c.name)
                && !is_meta(&c.name)
        })
        .collect();
    let hidden: Vec<&Column> = cols
        .iter()
        .filter(|c| opts.hidden.contains(&c.name))
        .collect();

    let build_object = |pairs: Vec<String>| -> String {
        // jsonb_build_object takes at most 100 arguments: 50 pairs per call
        let parts: Vec<String> = pairs
            .chunks(50)
            .map(|chunk| format!("jsonb_build_object({})", chunk.join(", ")))
            .collect();
        if parts.is_empty() {
            "'{}'::jsonb".to_owned()
        } else {
            parts.join(" || ")
        }
    };
    let key_expr = |alias: &str| {
        build_object(
            key_cols
                .iter()
                .map(|k| {
                    let value = by_name
                        .get(k.as_str())
                        .map(|c| c.json_value(alias))
                        .unwrap_or_default();
                    format!("{}, {value}", quote_literal(k))
                })
                .collect(),
        )
    };
    let data_expr = |alias: &str| {
        let mut expr = format!("to_jsonb({alias}.*)");
        if !removed.is_empty() {
            expr = format!("({expr} - {})", crate::ident::text_array(&removed));
        }
        let naive: Vec<String> = cols
            .iter()
            .filter(|c| c.rendered() && !removed.contains(&c.name))
            .map(|c| format!("{}, {}", quote_literal(&c.name), c.json_value(alias)))
            .collect();
        if !naive.is_empty() {
            expr = format!("{expr} || {}", build_object(naive));
        }
        expr
    };
    let name_array = |items: Vec<String>| {
        if items.is_empty() {
            "'{}'::text[]".to_owned()
        } else {
            format!("array_remove(ARRAY[{}]::text[], NULL)", items.join(", "))
        }
    };
    let hidden_set_n = name_array(
        hidden
            .iter()
            .map(|c| {
                format!(
                    "CASE WHEN {n}.{} IS NOT NULL THEN {} END",
                    quote_ident(&c.name),
                    quote_literal(&c.name)
                )
            })
            .collect(),
    );
    let hidden_changed = name_array(
        hidden
            .iter()
            .map(|c| {
                format!(
                    "CASE WHEN {} IS DISTINCT FROM {} THEN {} END",
                    c.compared(o),
                    c.compared(n),
                    quote_literal(&c.name)
                )
            })
            .collect(),
    );
    let row_of = |alias: &str| {
        let items: Vec<String> = compared.iter().map(|c| c.compared(alias)).collect();
        format!("ROW({})", items.join(", "))
    };
    let changed_o_n = if compared.is_empty() {
        "false".to_owned()
    } else {
        format!("{} IS DISTINCT FROM {}", row_of(o), row_of(n))
    };
    let when_changed = if compared.is_empty() {
        "false".to_owned()
    } else {
        format!("{} IS DISTINCT FROM {}", row_of("OLD"), row_of("NEW"))
    };
    let key_row = |alias: &str| {
        let items: Vec<String> = key_cols
            .iter()
            .map(|k| format!("{alias}.{}", quote_ident(k)))
            .collect();
        format!("ROW({})", items.join(", "))
    };
    let key_moved = format!("{} IS DISTINCT FROM {}", key_row("OLD"), key_row("NEW"));
    let join = |a: &str, b: &str| {
        key_cols
            .iter()
            .map(|k| format!("{a}.{q} = {b}.{q}", q = quote_ident(k)))
            .collect::<Vec<_>>()
            .join(" AND ")
    };
    let pk_cols_n = key_cols
        .iter()
        .enumerate()
        .map(|(i, k)| format!("{n}.{} AS pk_{}", quote_ident(k), i + 1))
        .collect::<Vec<_>>()
        .join(", ");
    let pk_join_t_v = key_cols
        .iter()
        .enumerate()
        .map(|(i, k)| format!("t.{} = {v}.pk_{}", quote_ident(k), i + 1))
        .collect::<Vec<_>>()
        .join(" AND ");
    let o_missing = format!("{o}.{} IS NULL", quote_ident(&key_cols[0]));
    let changed_at_n = if opts.record_changes {
        format!("COALESCE({n}.\"changed\", {ts})")
    } else {
        ts.clone()
    };
    // Zoned values that json_value cannot render (timetz, arrays or composites holding
    // timestamptz) need the functions to run in UTC.
    let settings = if cols.iter().any(|c| c.zoned && !c.tstz) {
        "SET TimeZone = 'UTC'"
    } else {
        ""
    };
    let [fn_insert, fn_update, fn_delete, fn_version] = function_names(suffix);
    let [fn_key, fn_lock_check, fn_lock_triggers] = lock_function_names(suffix);
    let relid = table.oid.to_string();
    let record_changes_trigger = if opts.record_changes {
        sql::fill(sql::RECORD_CHANGES, &[("table", &table.quoted)])
    } else {
        String::new()
    };
    // The delete rows are written from two sources: the DELETE's transition table, and the
    // table itself before a TRUNCATE (capture_delete_rows.sql).
    let delete_rows = |source: &str| sql::CAPTURE_DELETE_ROWS.replace("{{source}}", source);
    let template = sql::CAPTURE
        .replace("{{delete_rows_from_table}}", &delete_rows(&table.quoted))
        .replace("{{delete_rows_from_old}}", &delete_rows("chrononaut_old"))
        .replace(
            "{{delete_rows_from_vanished}}",
            &delete_rows(
                "(SELECT cn_x.* FROM chrononaut_old AS cn_x WHERE NOT EXISTS \
                 (SELECT 1 FROM chrononaut_new AS cn_y WHERE {{pk_join_x_y}}))",
            ),
        );
    sql::fill(
        &template,
        &[
            ("fn_insert", &fn_insert),
            ("fn_update", &fn_update),
            ("fn_delete", &fn_delete),
            ("fn_version", &fn_version),
            ("table_name", &quote_literal(&table.history_name)),
            ("table", &table.quoted),
            ("activity", activity),
            ("settings", settings),
            ("strict", if strict { "true" } else { "false" }),
            ("ctx", &ctx),
            ("rec", &rec),
            ("ts", &ts),
            ("cnt", &cnt),
            ("fix", &fix),
            ("key_n", &key_expr(n)),
            ("key_o", &key_expr(o)),
            ("data_n", &data_expr(n)),
            ("data_o", &data_expr(o)),
            ("hidden_set_n", &hidden_set_n),
            ("hidden_changed", &hidden_changed),
            ("changed_o_n", &changed_o_n),
            ("pk_join_o_n", &join(o, n)),
            ("o_missing", &o_missing),
            ("pk_cols_n", &pk_cols_n),
            ("pk_join_t_v", &pk_join_t_v),
            ("changed_at_n", &changed_at_n),
            ("when_changed", &when_changed),
            ("key_moved", &key_moved),
            ("pk_join_x_y", &join("cn_x", "cn_y")),
            ("record_changes_trigger", &record_changes_trigger),
            ("key_old", &key_expr("OLD")),
            ("key_r", &key_expr("r")),
            ("fn_key", &fn_key),
            ("fn_lock_check", &fn_lock_check),
            ("fn_lock_triggers", &fn_lock_triggers),
            ("relid", &relid),
            ("lk", &lk),
            ("w", w),
            ("n", n),
            ("o", o),
            ("s", s),
            ("v", v),
            ("h", h),
        ],
    )
}

impl Chrononaut {
    /// Tracks `table` (any name SQL accepts: `invoices`, `billing.invoices`, `"Odd Name"`;
    /// an unquoted name that only matches with its exact case is found too).
    ///
    /// Adds the `version integer` column if missing (existing rows keep NULL; their first
    /// change becomes version 1), stores the options and installs the capture triggers, all in
    /// one transaction. Re-running with other options updates them. Refused with no change at
    /// all: unknown table, no primary key, unknown column in the options, a column both hidden
    /// and untracked, chrononaut's own tables.
    pub async fn track(
        &self,
        conn: &mut PgConnection,
        table: &str,
        options: &TrackOptions,
    ) -> Result<TrackedTable> {
        let mut tx = conn.begin().await?;
        sqlx::query("SELECT pg_catalog.pg_advisory_xact_lock($1)")
            .bind(ADVISORY_LOCK)
            .execute(&mut *tx)
            .await?;
        let installed = require_installed(&mut tx).await?;
        let resolved = resolve(&mut tx, table).await?;
        let tracked = track_resolved(&mut tx, &installed, &resolved, options).await?;
        tx.commit().await?;
        Ok(tracked)
    }

    /// Stops tracking `table`: removes its triggers and capture functions. Its history, its
    /// `version` column and its record-changes columns stay.
    pub async fn untrack(&self, conn: &mut PgConnection, table: &str) -> Result<()> {
        let mut tx = conn.begin().await?;
        sqlx::query("SELECT pg_catalog.pg_advisory_xact_lock($1)")
            .bind(ADVISORY_LOCK)
            .execute(&mut *tx)
            .await?;
        require_installed(&mut tx).await?;
        let resolved = resolve(&mut tx, table).await?;
        let suffix: Option<String> = sqlx::query_scalar(
            "SELECT fn_suffix FROM chrononaut.tracked WHERE relid = $1::int8::oid",
        )
        .bind(resolved.oid)
        .fetch_optional(&mut *tx)
        .await?;
        let suffix = suffix.ok_or_else(|| Error::NotTracked(resolved.qualified.clone()))?;
        // Untracking drops the lock triggers: refuse while locks would silently stop working.
        let locks: i64 =
            sqlx::query_scalar("SELECT count(*) FROM chrononaut.locks WHERE relid = $1::int8::oid")
                .bind(resolved.oid)
                .fetch_one(&mut *tx)
                .await?;
        if locks > 0 {
            return Err(Error::LockRefused(format!(
                "{} has {locks} lock(s); unlock (or unfreeze) it before untracking",
                resolved.qualified
            )));
        }
        exec(&mut tx, untrack_ddl(&resolved, &suffix)).await?;
        sqlx::query("DELETE FROM chrononaut.tracked WHERE relid = $1::int8::oid")
            .bind(resolved.oid)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Sets the database-wide strict default (for tables tracked without an explicit
    /// `strict`), and regenerates the capture functions of the tables it affects.
    pub async fn set_strict_default(&self, conn: &mut PgConnection, strict: bool) -> Result<()> {
        let mut tx = conn.begin().await?;
        sqlx::query("SELECT pg_catalog.pg_advisory_xact_lock($1)")
            .bind(ADVISORY_LOCK)
            .execute(&mut *tx)
            .await?;
        let mut installed = require_installed(&mut tx).await?;
        sqlx::query("UPDATE chrononaut.meta SET value = $1 WHERE key = 'strict_default'")
            .bind(strict.to_string())
            .execute(&mut *tx)
            .await?;
        installed.strict_default = strict;
        regenerate(&mut tx, &installed, false).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The tracked tables with their options and history counts.
    pub async fn status(&self, conn: &mut PgConnection) -> Result<Vec<TableStatus>> {
        let installed = require_installed(conn).await?;
        let counts: Vec<(String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(sql::fill(
            sql::HISTORY_COUNTS,
            &[("activity", &installed.activity())],
        )))
        .fetch_all(&mut *conn)
        .await?;
        let rows = sqlx::query(sql::STATUS).fetch_all(&mut *conn).await?;
        rows.iter()
            .map(|r| {
                let history_name: String = r.try_get("history_name")?;
                let strict: Option<bool> = r.try_get("strict")?;
                Ok(TableStatus {
                    table: r.try_get("qualified")?,
                    stale: r.try_get("stale")?,
                    history_rows: counts
                        .iter()
                        .find(|(n, _)| *n == history_name)
                        .map_or(0, |(_, c)| *c),
                    history_name,
                    options: TrackOptions {
                        hidden: r.try_get("hidden")?,
                        untracked: r.try_get("untracked")?,
                        record_changes: r.try_get("record_changes")?,
                        strict,
                    },
                    strict_effective: strict.unwrap_or(installed.strict_default),
                })
            })
            .collect()
    }
}

/// A fingerprint of the SQL templates that make a table's capture functions and triggers:
/// when it differs from the one recorded at install, the installed functions are out of date.
/// FNV-1a, so that it is the same across builds and Rust versions.
pub(crate) fn capture_fingerprint() -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for template in [
        sql::CAPTURE,
        sql::CAPTURE_DELETE_ROWS,
        sql::RECORD_CHANGES,
        sql::UNTRACK,
    ] {
        for byte in template.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

/// Regenerates the capture functions and triggers of tracked tables from their stored options:
/// all of them (`all`, after an upgrade changed the templates), or those whose strict mode
/// follows the database default. Tables dropped since they were tracked are skipped. Runs in
/// the caller's transaction, which must hold the chrononaut advisory lock.
pub(crate) async fn regenerate(
    conn: &mut PgConnection,
    installed: &Installed,
    all: bool,
) -> Result<usize> {
    let affected: Vec<String> = sqlx::query_scalar(
        "SELECT t.relid::oid::int8::text FROM chrononaut.tracked t \
         JOIN pg_catalog.pg_class c ON c.oid = t.relid WHERE $1 OR t.strict IS NULL",
    )
    .bind(all)
    .fetch_all(&mut *conn)
    .await?;
    for oid in &affected {
        let resolved = resolve_oid(conn, oid).await?;
        let opts = stored_options(conn, resolved.oid).await?;
        track_resolved(conn, installed, &resolved, &opts).await?;
    }
    Ok(affected.len())
}

async fn resolve_oid(conn: &mut PgConnection, oid: &str) -> Result<Table> {
    let name: String = sqlx::query_scalar("SELECT $1::int8::oid::regclass::text")
        .bind(oid)
        .fetch_one(&mut *conn)
        .await?;
    resolve(conn, &name).await
}

async fn stored_options(conn: &mut PgConnection, oid: i64) -> Result<TrackOptions> {
    let row = sqlx::query(
        "SELECT hidden, untracked, record_changes, strict FROM chrononaut.tracked WHERE relid = $1::int8::oid",
    )
    .bind(oid)
    .fetch_one(&mut *conn)
    .await?;
    Ok(TrackOptions {
        hidden: row.try_get("hidden")?,
        untracked: row.try_get("untracked")?,
        record_changes: row.try_get("record_changes")?,
        strict: row.try_get("strict")?,
    })
}

fn untrack_ddl(table: &Table, suffix: &str) -> String {
    let [fn_insert, fn_update, fn_delete, fn_version] = function_names(suffix);
    let [fn_key, fn_lock_check, fn_lock_triggers] = lock_function_names(suffix);
    sql::fill(
        sql::UNTRACK,
        &[
            ("table", &table.quoted),
            ("fn_key", &fn_key),
            ("fn_lock_check", &fn_lock_check),
            ("fn_lock_triggers", &fn_lock_triggers),
            ("fn_insert", &fn_insert),
            ("fn_update", &fn_update),
            ("fn_delete", &fn_delete),
            ("fn_version", &fn_version),
        ],
    )
}

async fn track_resolved(
    conn: &mut PgConnection,
    installed: &Installed,
    table: &Table,
    options: &TrackOptions,
) -> Result<TrackedTable> {
    let own: bool = sqlx::query_scalar(
        "SELECT $1::int8::oid IN ('chrononaut.meta'::regclass, 'chrononaut.tracked'::regclass, \
         COALESCE(pg_catalog.to_regclass(pg_catalog.quote_ident($2) || '.chrononaut_activity'), 0))",
    )
    .bind(table.oid)
    .bind(&installed.activity_schema)
    .fetch_one(&mut *conn)
    .await?;
    if own {
        return Err(Error::CannotTrackOwnTable(table.qualified.clone()));
    }
    let pk = primary_key(conn, table.oid).await?;
    if pk.is_empty() {
        return Err(Error::NoPrimaryKey(table.qualified.clone()));
    }
    let key_cols: Vec<String> = pk.iter().filter(|k| *k != "version").cloned().collect();
    if key_cols.is_empty() {
        return Err(Error::InvalidOptions(format!(
            "the primary key of {} is only the version column",
            table.qualified
        )));
    }
    let cols = columns(conn, table.oid).await?;
    let options = validate(table, &cols, &pk, options)?;

    let mut ddl = format!(
        "ALTER TABLE {t} ADD COLUMN IF NOT EXISTS version integer;\n\
         ALTER TABLE {t} ALTER COLUMN version SET DEFAULT 0;\n",
        t = table.quoted
    );
    if options.record_changes {
        ddl.push_str(&format!(
            "ALTER TABLE {t} ADD COLUMN IF NOT EXISTS change_info jsonb;\n\
             ALTER TABLE {t} ADD COLUMN IF NOT EXISTS changed timestamptz;\n",
            t = table.quoted
        ));
    }
    exec(conn, ddl).await?;
    let cols = columns(conn, table.oid).await?;

    let previous: Option<String> =
        sqlx::query_scalar("SELECT fn_suffix FROM chrononaut.tracked WHERE relid = $1::int8::oid")
            .bind(table.oid)
            .fetch_optional(&mut *conn)
            .await?;
    if let Some(previous) = previous {
        exec(conn, untrack_ddl(table, &previous)).await?;
    }
    let suffix = table.oid.to_string();
    let strict = options.strict.unwrap_or(installed.strict_default);
    exec(
        conn,
        capture_ddl(
            table,
            &installed.activity(),
            &cols,
            &key_cols,
            &options,
            strict,
            &suffix,
        ),
    )
    .await?;
    sqlx::query(
        "INSERT INTO chrononaut.tracked (relid, hidden, untracked, record_changes, strict, fn_suffix, columns) \
         VALUES ($1::int8::oid, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (relid) DO UPDATE SET hidden = EXCLUDED.hidden, untracked = EXCLUDED.untracked, \
         record_changes = EXCLUDED.record_changes, strict = EXCLUDED.strict, \
         fn_suffix = EXCLUDED.fn_suffix, columns = EXCLUDED.columns",
    )
    .bind(table.oid)
    .bind(&options.hidden)
    .bind(&options.untracked)
    .bind(options.record_changes)
    .bind(options.strict)
    .bind(&suffix)
    .bind(cols.iter().map(|c| c.name.clone()).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await?;
    Ok(TrackedTable {
        table: table.qualified.clone(),
        history_name: table.history_name.clone(),
        primary_key: key_cols,
        options,
        strict_effective: strict,
    })
}
