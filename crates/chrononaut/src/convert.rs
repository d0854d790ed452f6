//! Converting legacy history: the per-table `<table>_history` tables of chrononaut 0.1/0.2
//! into rows of the single `chrononaut_activity` table, as the capture triggers write them.
//!
//! A legacy history row holds a record's state *before* a change, with the time of that
//! change and who made it; the current table holds the latest state. A converted row holds
//! the state *after* a change with that change's time and change info, so version N takes its
//! state from legacy row N (or the current row) and its time and change info from legacy row
//! N-1. Version 0 takes its time from `created_at` when the table has one. A record that is
//! gone from the current table ends with a `delete` version, as the triggers record it. The
//! SQL, with the full rules, is in `sql/convert/rows.sql`.
//!
//! Conversion runs while the application keeps running: in chunks of records, each chunk in
//! its own transaction, with the progress kept in `chrononaut.conversions` so that a crashed or
//! interrupted run continues where it stopped. A version that the activity table already has
//! is never written twice, so converting again, or an update pass, duplicates nothing.
//!
//! ```no_run
//! # async fn run(conn: &mut sqlx::PgConnection) -> Result<(), chrononaut::Error> {
//! use chrononaut::{Chrononaut, ConvertOptions};
//!
//! let converter = Chrononaut::new()
//!     .converter(conn, "todos", &ConvertOptions::new())
//!     .await?;
//! while converter.convert_chunk(conn, 10_000).await?.objects > 0 {}
//! # Ok(()) }
//! ```
//!
//! The minimal-downtime path: convert in chunks while the old application runs, stop writes,
//! bring over what changed since the conversion started ([`Converter::update_from`]), then
//! track the table and switch the application over.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::{Acquire, PgConnection, Postgres, Row, Transaction};

use crate::catalog::{lock_ddl, require_installed};
use crate::error::{Error, Result};
use crate::ident::{quote_ident, quote_literal, text_array};
use crate::{Chrononaut, sql};

const ROWS: &str = include_str!("../sql/convert/rows.sql");
const INSERT: &str = include_str!("../sql/convert/insert.sql");
const PREVIEW: &str = include_str!("../sql/convert/preview.sql");
const NEXT_IDS: &str = include_str!("../sql/convert/next_ids.sql");
const REMAINING: &str = include_str!("../sql/convert/remaining.sql");
const UPDATE_IDS: &str = include_str!("../sql/convert/update_ids.sql");
const MAX_ID: &str = include_str!("../sql/convert/max_id.sql");
const PROGRESS_TABLE: &str = include_str!("../sql/convert/progress.sql");
const PROGRESS_EXISTS: &str = include_str!("../sql/convert/progress_exists.sql");
const PROGRESS_LOCK: &str = include_str!("../sql/convert/progress_lock.sql");
const PROGRESS_GET: &str = include_str!("../sql/convert/progress_get.sql");
const PROGRESS_UPDATE: &str = include_str!("../sql/convert/progress_update.sql");
const PROGRESS_RESET: &str = include_str!("../sql/convert/progress_reset.sql");
const TRACKED_OPTIONS: &str = include_str!("../sql/convert/tracked_options.sql");

/// The legacy meta columns of a history table (and of tables with the `RecordChanges` mixin).
const META_COLUMNS: [&str; 2] = ["changed", "change_info"];

/// Types a `created_at` column may have to give version 0 its time.
const TIME_TYPES: [&str; 3] = [
    "timestamp with time zone",
    "timestamp without time zone",
    "date",
];

/// What to convert and how; see [`Chrononaut::converter`].
///
/// ```
/// use chrononaut::ConvertOptions;
/// // a subclass table of joined-table inheritance, ordered by its `uuid` column
/// let options = ConvertOptions::new().id_column("uuid").join("todos");
/// # let _ = options;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ConvertOptions {
    /// The column that orders records into chunks (default: the single primary-key column,
    /// else `id`). Must exist, with the same name, in the legacy history table (and in the
    /// parents when joining).
    pub id_column: Option<String>,
    /// The legacy history table (default: `<table>_history` in the table's schema).
    pub history_table: Option<String>,
    /// Parent tables of joined-table inheritance, nearest first: each current row is joined
    /// with its parents on the id column, each legacy row with its parents' legacy rows
    /// (`<parent>_history`) on the id column and `version`.
    pub parents: Vec<String>,
    /// Convert again over a table that was converted before ([`Converter::convert_all`]);
    /// only versions missing from the activity table are written.
    pub force: bool,
}

impl ConvertOptions {
    /// Default options.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the column that orders records into chunks.
    pub fn id_column(mut self, column: impl Into<String>) -> Self {
        self.id_column = Some(column.into());
        self
    }

    /// Sets the legacy history table.
    pub fn history_table(mut self, table: impl Into<String>) -> Self {
        self.history_table = Some(table.into());
        self
    }

    /// Adds a parent table (joined-table inheritance); call again for a grandparent.
    pub fn join(mut self, parent: impl Into<String>) -> Self {
        self.parents.push(parent.into());
        self
    }

    /// Allows converting again over already converted data.
    pub fn force(mut self, on: bool) -> Self {
        self.force = on;
        self
    }
}

/// What one conversion step did (or, in a preview, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ChunkReport {
    /// Records (distinct ids, not rows) in the step.
    pub objects: u64,
    /// History rows written (or that would be written).
    pub rows: u64,
    /// Rows skipped because the activity table already has that version of the record.
    pub skipped_rows: u64,
    /// Current rows not converted because their `version` is not above their legacy
    /// versions (a version reset by hand); their earlier versions are converted.
    pub inconsistent: u64,
    /// Up to five keys of such records.
    pub inconsistent_keys: Vec<Value>,
    /// First id of the step (text form).
    pub first_id: Option<String>,
    /// Last id of the step (text form).
    pub last_id: Option<String>,
}

impl ChunkReport {
    /// Adds the counts of another step (to total up a run of chunks).
    pub fn add(&mut self, other: &ChunkReport) {
        self.objects += other.objects;
        self.rows += other.rows;
        self.skipped_rows += other.skipped_rows;
        self.inconsistent += other.inconsistent;
        for key in &other.inconsistent_keys {
            if self.inconsistent_keys.len() < 5 {
                self.inconsistent_keys.push(key.clone());
            }
        }
        if self.first_id.is_none() {
            self.first_id.clone_from(&other.first_id);
        }
        if other.last_id.is_some() {
            self.last_id.clone_from(&other.last_id);
        }
    }
}

/// What a dry run found: the steps a conversion would take and a sample of its rows.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Preview {
    /// One report per chunk (one for `--all` and `--update-from`).
    pub chunks: Vec<ChunkReport>,
    /// Up to five of the rows the first chunk would write, in the activity table's columns.
    pub sample: Vec<Value>,
}

/// The recorded progress of a table's conversion (`chrononaut.conversions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConversionProgress {
    /// The `table_name` of the converted history.
    pub table_name: String,
    /// The legacy history table.
    pub legacy_table: String,
    /// The column that orders records into chunks.
    pub id_column: String,
    /// The last converted id (text form); `None` before the first chunk.
    pub last_id: Option<String>,
    /// Records converted so far.
    pub objects: i64,
    /// History rows written so far.
    pub rows: i64,
    /// Whether a full pass ([`Converter::convert_all`]) completed.
    pub all_done: bool,
    /// When the conversion started: the time to pass to [`Converter::update_from`].
    pub started_at: DateTime<Utc>,
    /// When a pass last found nothing left to convert.
    pub finished_at: Option<DateTime<Utc>>,
    /// The time given to the last update pass.
    pub last_update_from: Option<DateTime<Utc>>,
}

/// Which records a statement converts.
#[derive(Clone, Copy)]
enum Filter {
    /// `$1 < id <= $2`; no lower bound for the first chunk.
    Range { first: bool },
    /// `id = ANY($1)`.
    Ids,
    /// Every record.
    All,
}

/// A column as the converter needs it.
struct Col {
    name: String,
    type_name: String,
    naive_ts: bool,
}

/// A resolved relation with its columns.
struct Rel {
    oid: i64,
    qualified: String,
    quoted: String,
    history_name: String,
    schema: String,
    name: String,
    cols: Vec<Col>,
}

impl Rel {
    fn has(&self, column: &str) -> bool {
        self.cols.iter().any(|c| c.name == column)
    }

    fn col(&self, column: &str) -> Option<&Col> {
        self.cols.iter().find(|c| c.name == column)
    }
}

async fn resolve(conn: &mut PgConnection, name: &str) -> Result<Option<Rel>> {
    let Some(table) = crate::catalog::resolve_optional(conn, name).await? else {
        return Ok(None);
    };
    let oid = table.oid;
    let cols = sqlx::query(sql::TABLE_COLUMNS)
        .bind(oid)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| {
            Ok(Col {
                name: r.try_get("name")?,
                type_name: r.try_get("type_name")?,
                naive_ts: r.try_get("naive_ts")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(Rel {
        oid,
        quoted: table.quoted,
        qualified: table.qualified,
        history_name: table.history_name,
        schema: table.schema,
        name: table.name,
        cols,
    }))
}

async fn require(conn: &mut PgConnection, name: &str) -> Result<Rel> {
    resolve(conn, name)
        .await?
        .ok_or_else(|| Error::UnknownTable(name.to_owned()))
}

/// The legacy history table of `rel`: `explicit` or `<table>_history` beside it.
async fn legacy_of(conn: &mut PgConnection, rel: &Rel, explicit: Option<&str>) -> Result<Rel> {
    let name = match explicit {
        Some(name) => name.to_owned(),
        None => format!(
            "{}.{}",
            quote_ident(&rel.schema),
            quote_ident(&format!("{}_history", rel.name))
        ),
    };
    let legacy = resolve(conn, &name).await?.ok_or_else(|| {
        Error::Conversion(format!(
            "no legacy history table {name} for {} (name it with --history-table)",
            rel.qualified
        ))
    })?;
    for needed in ["version", "changed"] {
        if !legacy.has(needed) {
            return Err(Error::Conversion(format!(
                "{} has no column {needed}; it is not a chrononaut 0.1/0.2 history table",
                legacy.qualified
            )));
        }
    }
    Ok(legacy)
}

/// `{'k', alias.k, ...}` as jsonb, naive timestamps as UTC.
fn json_object(pairs: &[(String, String)]) -> String {
    if pairs.is_empty() {
        return "'{}'::jsonb".to_owned();
    }
    // jsonb_build_object takes at most 100 arguments: 50 pairs per call
    pairs
        .chunks(50)
        .map(|chunk| {
            let items: Vec<String> = chunk
                .iter()
                .map(|(k, v)| format!("{}, {v}", quote_literal(k)))
                .collect();
            format!("jsonb_build_object({})", items.join(", "))
        })
        .collect::<Vec<_>>()
        .join(" || ")
}

fn json_value(alias: &str, col: &Col) -> String {
    let value = format!("{alias}.{}", quote_ident(&col.name));
    if col.naive_ts {
        format!("{value}::timestamptz")
    } else {
        value
    }
}

/// The snapshot of the joined relations (root first, so the nearest table's columns win),
/// without `removed`, naive timestamps as UTC.
fn data_expr(rels: &[(&str, &Rel)], removed: &HashSet<String>) -> String {
    let mut expr = rels
        .iter()
        .rev()
        .map(|(alias, _)| format!("to_jsonb({alias}.*)"))
        .collect::<Vec<_>>()
        .join(" || ");
    let mut removed: Vec<String> = removed.iter().cloned().collect();
    removed.sort();
    if !removed.is_empty() {
        expr = format!("({expr}) - {}", text_array(&removed));
    }
    let mut naive: Vec<(String, String)> = Vec::new();
    for (alias, rel) in rels.iter().rev() {
        for col in rel
            .cols
            .iter()
            .filter(|c| c.naive_ts && !removed.contains(&c.name))
        {
            naive.retain(|(k, _)| *k != col.name);
            naive.push((col.name.clone(), json_value(alias, col)));
        }
    }
    if !naive.is_empty() {
        expr = format!("({expr}) || {}", json_object(&naive));
    }
    expr
}

/// `alias.created_at::timestamptz` of the first relation that has a usable `created_at`.
fn created_expr(rels: &[(&str, &Rel)]) -> String {
    rels.iter()
        .find_map(|(alias, rel)| {
            rel.col("created_at")
                .filter(|c| TIME_TYPES.contains(&c.type_name.as_str()))
                .map(|_| format!("{alias}.created_at::timestamptz"))
        })
        .unwrap_or_else(|| "NULL::timestamptz".to_owned())
}

/// Converts one table's legacy history; made by [`Chrononaut::converter`], which resolves
/// the tables and builds the SQL once. Every method that writes runs in transactions of its
/// own on the given connection.
#[derive(Debug, Clone)]
pub struct Converter {
    table: String,
    legacy_table: String,
    history_name: String,
    id_column: String,
    left_out: Vec<String>,
    tracked: bool,
    force: bool,
    // SQL pieces (quoted identifiers and expressions)
    activity: String,
    table_q: String,
    legacy_q: String,
    id_q: String,
    id_type: String,
    table_joins: String,
    legacy_joins: String,
    key_h: String,
    key_t: String,
    data_h: String,
    data_t: String,
    version_t: String,
    change_info_h: String,
    created_h: String,
    created_t: String,
}

impl Chrononaut {
    /// Prepares the conversion of `table`'s legacy history (chrononaut 0.1/0.2
    /// `<table>_history`) into the activity table. Reads only: nothing is written until a
    /// `convert_*` or `update_from` call.
    ///
    /// The converted rows look like the triggers' rows: `table_name` is the bare name in
    /// `public`, else `schema.table`; `key` is the primary key without `version`; when the
    /// table is tracked, its hidden and untracked columns are left out. When it is not
    /// tracked, columns that the legacy history never recorded (hidden or untracked in
    /// 0.1/0.2) are left out of the latest version too ([`Converter::left_out`]).
    pub async fn converter(
        &self,
        conn: &mut PgConnection,
        table: &str,
        options: &ConvertOptions,
    ) -> Result<Converter> {
        let installed = require_installed(conn).await?;
        let rel = require(conn, table).await?;
        let legacy = legacy_of(conn, &rel, options.history_table.as_deref()).await?;
        let mut parents = Vec::new();
        let mut legacy_parents = Vec::new();
        for parent in &options.parents {
            let p = require(conn, parent).await?;
            legacy_parents.push(legacy_of(conn, &p, None).await?);
            parents.push(p);
        }

        let pk: Vec<String> = sqlx::query_scalar(sql::PRIMARY_KEY)
            .bind(rel.oid)
            .fetch_all(&mut *conn)
            .await?;
        let key_cols: Vec<String> = pk.into_iter().filter(|k| k != "version").collect();
        if key_cols.is_empty() {
            return Err(Error::NoPrimaryKey(rel.qualified.clone()));
        }
        let id_column = options.id_column.clone().unwrap_or_else(|| {
            if key_cols.len() == 1 {
                key_cols[0].clone()
            } else {
                "id".to_owned()
            }
        });
        for r in std::iter::once(&rel)
            .chain(&legacy_parents)
            .chain(&parents)
            .chain(std::iter::once(&legacy))
        {
            if !r.has(&id_column) {
                return Err(Error::UnknownColumn {
                    table: r.qualified.clone(),
                    column: id_column,
                });
            }
        }
        for k in &key_cols {
            if !legacy.has(k) {
                return Err(Error::Conversion(format!(
                    "the legacy table {} lacks the key column {k:?}",
                    legacy.qualified
                )));
            }
        }
        let id_type = rel
            .col(&id_column)
            .map(|c| c.type_name.clone())
            .unwrap_or_default();

        let current: Vec<(String, &Rel)> = std::iter::once(("cn_t".to_owned(), &rel))
            .chain(
                parents
                    .iter()
                    .enumerate()
                    .map(|(i, p)| (format!("cn_tp{}", i + 1), p)),
            )
            .collect();
        let past: Vec<(String, &Rel)> = std::iter::once(("cn_h".to_owned(), &legacy))
            .chain(
                legacy_parents
                    .iter()
                    .enumerate()
                    .map(|(i, p)| (format!("cn_hp{}", i + 1), p)),
            )
            .collect();
        let current_refs: Vec<(&str, &Rel)> =
            current.iter().map(|(a, r)| (a.as_str(), *r)).collect();
        let past_refs: Vec<(&str, &Rel)> = past.iter().map(|(a, r)| (a.as_str(), *r)).collect();

        let version_t = current
            .iter()
            .find(|(_, r)| r.has("version"))
            .map(|(a, _)| format!("{a}.version"))
            .ok_or_else(|| {
                Error::Conversion(format!(
                    "{} has no version column (nor have its --join parents)",
                    rel.qualified
                ))
            })?;

        // Which columns the converted rows leave out.
        let opts_row = sqlx::query(TRACKED_OPTIONS)
            .bind(rel.oid)
            .fetch_optional(&mut *conn)
            .await?;
        let tracked = opts_row.is_some();
        let mut removed_h: HashSet<String> = META_COLUMNS.iter().map(|c| (*c).to_owned()).collect();
        let mut removed_t: HashSet<String> = HashSet::new();
        let mut left_out = Vec::new();
        if let Some(row) = opts_row {
            let hidden: Vec<String> = row.try_get("hidden")?;
            let untracked: Vec<String> = row.try_get("untracked")?;
            let record_changes: bool = row.try_get("record_changes")?;
            for c in hidden.into_iter().chain(untracked) {
                removed_h.insert(c.clone());
                removed_t.insert(c);
            }
            if record_changes {
                removed_t.extend(META_COLUMNS.iter().map(|c| (*c).to_owned()));
            }
        } else {
            removed_t.extend(META_COLUMNS.iter().map(|c| (*c).to_owned()));
            let recorded: HashSet<&str> = past
                .iter()
                .flat_map(|(_, r)| r.cols.iter().map(|c| c.name.as_str()))
                .collect();
            for (_, r) in &current {
                for c in &r.cols {
                    if c.name != "version"
                        && !recorded.contains(c.name.as_str())
                        && !removed_t.contains(&c.name)
                    {
                        left_out.push(c.name.clone());
                        removed_t.insert(c.name.clone());
                    }
                }
            }
        }

        let key_of = |alias: &str, r: &Rel| -> String {
            let pairs: Vec<(String, String)> = key_cols
                .iter()
                .filter_map(|k| r.col(k).map(|c| (k.clone(), json_value(alias, c))))
                .collect();
            json_object(&pairs)
        };
        let id_q = quote_ident(&id_column);
        let table_joins = parents
            .iter()
            .enumerate()
            .map(|(i, p)| {
                format!(
                    "JOIN {} AS cn_tp{n} ON cn_tp{n}.{id_q} = cn_t.{id_q}",
                    p.quoted,
                    n = i + 1
                )
            })
            .collect::<Vec<_>>()
            .join("\n    ");
        let legacy_joins = legacy_parents
            .iter()
            .enumerate()
            .map(|(i, p)| {
                format!(
                    "LEFT JOIN {} AS cn_hp{n} ON cn_hp{n}.{id_q} = cn_h.{id_q} AND cn_hp{n}.version = cn_h.version",
                    p.quoted,
                    n = i + 1
                )
            })
            .collect::<Vec<_>>()
            .join("\n    ");
        let infos: Vec<String> = past
            .iter()
            .filter(|(_, r)| r.has("change_info"))
            .map(|(a, _)| format!("{a}.change_info::jsonb"))
            .collect();
        let change_info_h = match infos.len() {
            0 => "NULL::jsonb".to_owned(),
            1 => infos[0].clone(),
            _ => format!("COALESCE({})", infos.join(", ")),
        };

        Ok(Converter {
            table: rel.qualified.clone(),
            legacy_table: legacy.qualified.clone(),
            history_name: rel.history_name.clone(),
            id_column,
            left_out,
            tracked,
            force: options.force,
            activity: installed.activity().into_string(),
            table_q: rel.quoted.clone(),
            legacy_q: legacy.quoted.clone(),
            id_q,
            id_type,
            table_joins,
            legacy_joins,
            key_h: key_of("cn_h", &legacy),
            key_t: key_of("cn_t", &rel),
            data_h: data_expr(&past_refs, &removed_h),
            data_t: data_expr(&current_refs, &removed_t),
            version_t,
            change_info_h,
            created_h: created_expr(&past_refs),
            created_t: created_expr(&current_refs),
        })
    }
}

impl Converter {
    /// The table, schema-qualified.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The legacy history table, schema-qualified.
    pub fn legacy_table(&self) -> &str {
        &self.legacy_table
    }

    /// The `table_name` the converted rows get.
    pub fn history_name(&self) -> &str {
        &self.history_name
    }

    /// The column that orders records into chunks.
    pub fn id_column(&self) -> &str {
        &self.id_column
    }

    /// Whether the table is tracked (its hidden and untracked columns are left out).
    pub fn tracked(&self) -> bool {
        self.tracked
    }

    /// Columns of the (untracked) table that the legacy history never recorded, left out of
    /// the converted rows; track the table with them hidden or untracked to keep it so.
    pub fn left_out(&self) -> &[String] {
        &self.left_out
    }

    fn cast(&self, param: usize) -> String {
        format!("${param}::text::{}", self.id_type)
    }

    /// `alias.id > $param`, or `$param IS NULL` when there is no lower bound.
    fn after(&self, alias: &str, param: usize, first: bool) -> String {
        if first {
            format!("${param}::text IS NULL")
        } else {
            format!("{alias}.{} > {}", self.id_q, self.cast(param))
        }
    }

    fn filter(&self, alias: &str, filter: Filter) -> String {
        match filter {
            Filter::Range { first } => format!(
                "{} AND {alias}.{} <= {}",
                self.after(alias, 1, first),
                self.id_q,
                self.cast(2)
            ),
            Filter::Ids => format!(
                "{alias}.{} = ANY($1::text[]::{}[])",
                self.id_q, self.id_type
            ),
            Filter::All => "true".to_owned(),
        }
    }

    fn rows_sql(&self, filter: Filter) -> Result<String> {
        sql::fill(
            ROWS,
            &[
                ("legacy_joins", &self.legacy_joins),
                ("table_joins", &self.table_joins),
                ("legacy", &self.legacy_q),
                ("table", &self.table_q),
                ("key_h", &self.key_h),
                ("key_t", &self.key_t),
                ("data_h", &self.data_h),
                ("data_t", &self.data_t),
                ("version_t", &self.version_t),
                ("change_info_h", &self.change_info_h),
                ("created_h", &self.created_h),
                ("created_t", &self.created_t),
                ("filter_h", &self.filter("cn_h", filter)),
                ("filter_t", &self.filter("cn_t", filter)),
            ],
        )
    }

    fn write_sql(&self, filter: Filter) -> Result<String> {
        sql::fill(
            INSERT,
            &[
                ("rows", &self.rows_sql(filter)?),
                ("activity", &self.activity),
                ("table_name", &quote_literal(&self.history_name)),
            ],
        )
    }

    fn preview_sql(&self, filter: Filter, sample: usize) -> Result<String> {
        sql::fill(
            PREVIEW,
            &[
                ("rows", &self.rows_sql(filter)?),
                ("activity", &self.activity),
                ("table_name", &quote_literal(&self.history_name)),
                ("sample", &sample.to_string()),
            ],
        )
    }

    fn ids_sql(&self, template: &str, first: bool) -> Result<String> {
        sql::fill_some(
            template,
            &[
                ("table", &self.table_q),
                ("legacy", &self.legacy_q),
                ("id", &self.id_q),
                ("after_t", &self.after("cn_t", 1, first)),
                ("after_h", &self.after("cn_h", 1, first)),
            ],
        )
    }

    /// A transaction in UTC (timestamps inside `data` are written in UTC).
    async fn begin<'c>(
        &self,
        conn: &'c mut PgConnection,
        read_only: bool,
    ) -> Result<Transaction<'c, Postgres>> {
        let mut tx = conn.begin().await?;
        if read_only {
            sqlx::query("SET TRANSACTION READ ONLY")
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("SELECT pg_catalog.set_config('TimeZone', 'UTC', true)")
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }

    async fn ensure_progress_table(&self, conn: &mut PgConnection) -> Result<()> {
        let exists: bool = sqlx::query_scalar(PROGRESS_EXISTS)
            .fetch_one(&mut *conn)
            .await?;
        if exists {
            return Ok(());
        }
        let mut tx = conn.begin().await?;
        lock_ddl(&mut tx).await?;
        sqlx::raw_sql(PROGRESS_TABLE).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Creates (if needed) and locks this table's progress row for the transaction.
    async fn lock_progress(&self, tx: &mut PgConnection) -> Result<ConversionProgress> {
        sqlx::query(PROGRESS_LOCK)
            .bind(&self.history_name)
            .bind(&self.legacy_table)
            .bind(&self.id_column)
            .execute(&mut *tx)
            .await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("{PROGRESS_GET}\nFOR UPDATE")))
            .bind(&self.history_name)
            .fetch_one(&mut *tx)
            .await?;
        progress_of(&row)
    }

    async fn record(
        &self,
        tx: &mut PgConnection,
        report: &ChunkReport,
        all_done: bool,
        finished: bool,
        update_from: Option<DateTime<Utc>>,
    ) -> Result<()> {
        sqlx::query(sqlx::AssertSqlSafe(sql::fill(
            PROGRESS_UPDATE,
            &[("id_type", &self.id_type)],
        )?))
        .bind(&self.history_name)
        .bind(&report.last_id)
        .bind(to_i64(report.objects))
        .bind(to_i64(report.rows))
        .bind(all_done)
        .bind(finished)
        .bind(update_from)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }

    /// The recorded progress of this table's conversion, if any (reads only).
    pub async fn progress(&self, conn: &mut PgConnection) -> Result<Option<ConversionProgress>> {
        let exists: bool = sqlx::query_scalar(PROGRESS_EXISTS)
            .fetch_one(&mut *conn)
            .await?;
        if !exists {
            return Ok(None);
        }
        let row = sqlx::query(PROGRESS_GET)
            .bind(&self.history_name)
            .fetch_optional(&mut *conn)
            .await?;
        row.as_ref().map(progress_of).transpose()
    }

    fn check_id_column(&self, progress: &ConversionProgress) -> Result<()> {
        if progress.id_column != self.id_column {
            return Err(Error::Conversion(format!(
                "the conversion of {} was started with id column {:?}, not {:?}; \
                 restart it (--force) to continue with {:?}",
                self.table, progress.id_column, self.id_column, self.id_column
            )));
        }
        Ok(())
    }

    /// Records left to convert after the last converted one (for a progress display).
    pub async fn remaining(&self, conn: &mut PgConnection) -> Result<u64> {
        let last = self.progress(conn).await?.and_then(|p| p.last_id);
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(
            self.ids_sql(REMAINING, last.is_none())?,
        ))
        .bind(&last)
        .fetch_one(&mut *conn)
        .await?;
        Ok(to_u64(n))
    }

    /// Starts the chunked conversion over at the first record (the history already written
    /// stays; converting it again writes no duplicate). Also the way to switch id columns.
    pub async fn restart(&self, conn: &mut PgConnection) -> Result<()> {
        self.ensure_progress_table(conn).await?;
        let mut tx = conn.begin().await?;
        sqlx::query(PROGRESS_LOCK)
            .bind(&self.history_name)
            .bind(&self.legacy_table)
            .bind(&self.id_column)
            .execute(&mut *tx)
            .await?;
        sqlx::query(PROGRESS_RESET)
            .bind(&self.history_name)
            .bind(&self.legacy_table)
            .bind(&self.id_column)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Converts the next `limit` records (ids, not rows) after the last converted one, in
    /// one transaction, and returns what it did. Call it until it returns 0 objects; a later
    /// run continues where the last one stopped, also after a crash.
    pub async fn convert_chunk(&self, conn: &mut PgConnection, limit: u64) -> Result<ChunkReport> {
        if limit == 0 {
            return Err(Error::Conversion(
                "the chunk size must be at least 1".into(),
            ));
        }
        self.ensure_progress_table(conn).await?;
        let mut tx = self.begin(conn, false).await?;
        let progress = self.lock_progress(&mut tx).await?;
        self.check_id_column(&progress)?;
        let first = progress.last_id.is_none();
        let (objects, first_id, last_id) = self
            .next_ids(&mut tx, progress.last_id.as_deref(), limit)
            .await?;
        if objects == 0 {
            self.record(&mut tx, &ChunkReport::default(), false, true, None)
                .await?;
            tx.commit().await?;
            return Ok(ChunkReport::default());
        }
        let row = sqlx::query(sqlx::AssertSqlSafe(
            self.write_sql(Filter::Range { first })?,
        ))
        .bind(&progress.last_id)
        .bind(&last_id)
        .fetch_one(&mut *tx)
        .await?;
        let mut report = report_of(&row)?;
        report.objects = objects;
        report.first_id = first_id;
        report.last_id = last_id;
        self.record(&mut tx, &report, false, false, None).await?;
        tx.commit().await?;
        Ok(report)
    }

    async fn next_ids(
        &self,
        conn: &mut PgConnection,
        after: Option<&str>,
        limit: u64,
    ) -> Result<(u64, Option<String>, Option<String>)> {
        let row = sqlx::query(sqlx::AssertSqlSafe(
            self.ids_sql(NEXT_IDS, after.is_none())?,
        ))
        .bind(after)
        .bind(to_i64(limit))
        .fetch_one(&mut *conn)
        .await?;
        Ok((
            to_u64(row.try_get("objects")?),
            row.try_get("first_id")?,
            row.try_get("last_id")?,
        ))
    }

    /// Converts every record in one transaction (for small tables). Refuses a table that was
    /// converted before unless the options say `force`; even then only versions missing
    /// from the activity table are written.
    pub async fn convert_all(&self, conn: &mut PgConnection) -> Result<ChunkReport> {
        self.ensure_progress_table(conn).await?;
        let mut tx = self.begin(conn, false).await?;
        let progress = self.lock_progress(&mut tx).await?;
        if !self.force && (progress.all_done || progress.objects > 0) {
            return Err(Error::Conversion(format!(
                "{} was already converted ({} records, {} rows{}); converting again with --force \
                 writes only the versions that are missing",
                self.table,
                progress.objects,
                progress.rows,
                progress
                    .finished_at
                    .map(|t| format!(", finished {}", t.to_rfc3339()))
                    .unwrap_or_default()
            )));
        }
        let row = sqlx::query(sqlx::AssertSqlSafe(self.write_sql(Filter::All)?))
            .fetch_one(&mut *tx)
            .await?;
        let mut report = report_of(&row)?;
        report.last_id = sqlx::query_scalar(sqlx::AssertSqlSafe(self.ids_sql(MAX_ID, true)?))
            .fetch_one(&mut *tx)
            .await?;
        self.record(&mut tx, &report, true, true, None).await?;
        tx.commit().await?;
        Ok(report)
    }

    /// The records an update pass from `since` converts again (text form, in id order):
    /// those with legacy rows written after `since`, current rows without any history (new
    /// records), and legacy records after the last converted id.
    pub async fn update_ids(
        &self,
        conn: &mut PgConnection,
        since: DateTime<Utc>,
    ) -> Result<Vec<String>> {
        let last = self.progress(conn).await?.and_then(|p| p.last_id);
        let text = sql::fill(
            UPDATE_IDS,
            &[
                ("table_joins", &self.table_joins),
                ("table_name", &quote_literal(&self.history_name)),
                ("table", &self.table_q),
                ("legacy", &self.legacy_q),
                ("id", &self.id_q),
                ("activity", &self.activity),
                ("key_t", &self.key_t),
                ("after_h", &self.after("cn_h", 2, last.is_none())),
            ],
        )?;
        let ids: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(text))
            .bind(since)
            .bind(&last)
            .fetch_all(&mut *conn)
            .await?;
        Ok(ids)
    }

    /// Converts the whole history of the records `ids` (text form) in one transaction,
    /// writing only the versions the activity table lacks: one step of an update pass.
    /// `since` is recorded as the update's time.
    pub async fn convert_ids(
        &self,
        conn: &mut PgConnection,
        ids: &[String],
        since: Option<DateTime<Utc>>,
    ) -> Result<ChunkReport> {
        if ids.is_empty() {
            return Ok(ChunkReport::default());
        }
        self.ensure_progress_table(conn).await?;
        let mut tx = self.begin(conn, false).await?;
        let progress = self.lock_progress(&mut tx).await?;
        self.check_id_column(&progress)?;
        let row = sqlx::query(sqlx::AssertSqlSafe(self.write_sql(Filter::Ids)?))
            .bind(ids)
            .fetch_one(&mut *tx)
            .await?;
        let mut report = report_of(&row)?;
        report.objects = ids.len() as u64;
        report.first_id = ids.first().cloned();
        report.last_id = ids.last().cloned();
        self.record(&mut tx, &report, false, false, since).await?;
        tx.commit().await?;
        Ok(report)
    }

    /// Brings over what changed in the legacy tables after `since` (the time an earlier
    /// conversion started, see [`ConversionProgress::started_at`]), then the records that are
    /// new: the minimal-downtime path. Runs in steps of `chunk` records, each in its own
    /// transaction. An earlier `since` is safe (only slower): nothing is written twice.
    pub async fn update_from(
        &self,
        conn: &mut PgConnection,
        since: DateTime<Utc>,
        chunk: u64,
    ) -> Result<ChunkReport> {
        let ids = self.update_ids(conn, since).await?;
        let mut total = ChunkReport::default();
        for part in ids.chunks(usize::try_from(chunk.max(1)).unwrap_or(usize::MAX)) {
            total.add(&self.convert_ids(conn, part, Some(since)).await?);
        }
        Ok(total)
    }

    /// What a chunked conversion would do from where it stands: one report per chunk of
    /// `limit` records (at most `max_chunks`), and a sample of the first chunk's rows.
    /// Writes nothing (a read-only transaction).
    pub async fn preview_chunks(
        &self,
        conn: &mut PgConnection,
        limit: u64,
        max_chunks: Option<u64>,
    ) -> Result<Preview> {
        if limit == 0 {
            return Err(Error::Conversion(
                "the chunk size must be at least 1".into(),
            ));
        }
        let mut after = self.progress(conn).await?.and_then(|p| p.last_id);
        let mut tx = self.begin(conn, true).await?;
        let mut preview = Preview::default();
        while max_chunks.is_none_or(|m| (preview.chunks.len() as u64) < m) {
            let (objects, first_id, last_id) =
                self.next_ids(&mut tx, after.as_deref(), limit).await?;
            if objects == 0 {
                break;
            }
            let row = sqlx::query(sqlx::AssertSqlSafe(self.preview_sql(
                Filter::Range {
                    first: after.is_none(),
                },
                if preview.chunks.is_empty() { 5 } else { 0 },
            )?))
            .bind(&after)
            .bind(&last_id)
            .fetch_one(&mut *tx)
            .await?;
            let mut report = report_of(&row)?;
            if preview.chunks.is_empty() {
                preview.sample = sample_of(&row)?;
            }
            report.objects = objects;
            report.first_id = first_id;
            report.last_id.clone_from(&last_id);
            preview.chunks.push(report);
            after = last_id;
        }
        tx.rollback().await?;
        Ok(preview)
    }

    /// What [`Converter::convert_all`] would do. Writes nothing.
    pub async fn preview_all(&self, conn: &mut PgConnection) -> Result<Preview> {
        let mut tx = self.begin(conn, true).await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(self.preview_sql(Filter::All, 5)?))
            .fetch_one(&mut *tx)
            .await?;
        let report = report_of(&row)?;
        let sample = sample_of(&row)?;
        tx.rollback().await?;
        Ok(Preview {
            chunks: vec![report],
            sample,
        })
    }

    /// What [`Converter::update_from`] would do. Writes nothing.
    pub async fn preview_update(
        &self,
        conn: &mut PgConnection,
        since: DateTime<Utc>,
    ) -> Result<Preview> {
        let ids = self.update_ids(conn, since).await?;
        let mut tx = self.begin(conn, true).await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(self.preview_sql(Filter::Ids, 5)?))
            .bind(&ids)
            .fetch_one(&mut *tx)
            .await?;
        let mut report = report_of(&row)?;
        report.objects = ids.len() as u64;
        report.first_id = ids.first().cloned();
        report.last_id = ids.last().cloned();
        let sample = sample_of(&row)?;
        tx.rollback().await?;
        Ok(Preview {
            chunks: vec![report],
            sample,
        })
    }
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn report_of(row: &sqlx::postgres::PgRow) -> Result<ChunkReport> {
    let written: i64 = row.try_get("written")?;
    let candidates: i64 = row.try_get("candidates")?;
    let keys: Option<Value> = row.try_get("inconsistent_keys")?;
    Ok(ChunkReport {
        objects: to_u64(row.try_get("objects")?),
        rows: to_u64(written),
        skipped_rows: to_u64(candidates - written),
        inconsistent: to_u64(row.try_get("inconsistent")?),
        inconsistent_keys: match keys {
            Some(Value::Array(keys)) => keys,
            _ => Vec::new(),
        },
        first_id: None,
        last_id: None,
    })
}

fn sample_of(row: &sqlx::postgres::PgRow) -> Result<Vec<Value>> {
    let sample: Option<Value> = row.try_get("sample")?;
    Ok(match sample {
        Some(Value::Array(rows)) => rows,
        _ => Vec::new(),
    })
}

fn progress_of(row: &sqlx::postgres::PgRow) -> Result<ConversionProgress> {
    Ok(ConversionProgress {
        table_name: row.try_get("table_name")?,
        legacy_table: row.try_get("legacy_table")?,
        id_column: row.try_get("id_column")?,
        last_id: row.try_get("last_id")?,
        objects: row.try_get("objects")?,
        rows: row.try_get("rows")?,
        all_done: row.try_get("all_done")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
        last_update_from: row.try_get("last_update_from")?,
    })
}
