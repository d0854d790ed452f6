//! Tracking tables: options, the generated capture triggers, untracking and status.

use serde::Serialize;
use sqlx::{Acquire, PgConnection, Row};

use crate::capture::{CaptureSpec, capture_ddl, fingerprint, untrack_ddl};
use crate::catalog::{
    Column, Installed, Table, columns, key_columns, lock_ddl, primary_key, require_current,
    require_installed, resolve, resolve_oid, stored_options,
};
use crate::error::{Error, Result};
use crate::template::Sql;
use crate::{Chrononaut, sql};

/// The columns that `--record-changes` adds and fills.
pub(crate) const RECORD_CHANGE_COLUMNS: [&str; 2] = ["change_info", "changed"];

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
    /// Write no hash chain (`prev_hash`, `hash` stay NULL): each write skips the probe for the
    /// record's previous hash and the sha256, and `verify` can vouch for none of the table's
    /// new history (it reports the table as unchained). Off by default.
    pub no_chain: bool,
    /// Retention: keep this many days of the table's history; `chrononaut prune` without a
    /// time (and [`Chrononaut::prune_by_policy`](crate::Chrononaut::prune_by_policy)) removes
    /// what is older than every tracked table's policy allows. `None`: keep it forever.
    pub keep_days: Option<u32>,
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

    /// Turns the hash chain of this table's history off (`true`) or on (see
    /// [`TrackOptions::no_chain`] for the trade-off).
    ///
    /// ```
    /// let fast = chrononaut::TrackOptions::new().without_chain(true);
    /// assert!(fast.no_chain);
    /// ```
    pub fn without_chain(mut self, off: bool) -> Self {
        self.no_chain = off;
        self
    }

    /// Keeps `days` days of this table's history when pruning by policy (see
    /// [`TrackOptions::keep_days`]).
    ///
    /// ```
    /// let options = chrononaut::TrackOptions::new().keep(400);
    /// assert_eq!(options.keep_days, Some(400));
    /// ```
    pub fn keep(mut self, days: u32) -> Self {
        self.keep_days = Some(days);
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

async fn exec(conn: &mut PgConnection, ddl: String) -> Result<()> {
    sqlx::raw_sql(sqlx::AssertSqlSafe(ddl))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Checks the options against the table's columns; returns them de-duplicated.
pub(crate) fn validate(
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
        conn: &mut (impl crate::DbConn + ?Sized),
        table: &str,
        options: &TrackOptions,
    ) -> Result<TrackedTable> {
        let conn = match conn.db() {
            crate::Db::Postgres(conn) => conn,
            crate::Db::Sqlite(conn) => {
                return crate::backend::sqlite::track(conn, table, options).await;
            }
        };
        let mut tx = conn.begin().await?;
        lock_ddl(&mut tx).await?;
        let installed = require_current(&mut tx).await?;
        let resolved = resolve(&mut tx, table).await?;
        let tracked = track_resolved(&mut tx, &installed, &resolved, options).await?;
        tx.commit().await?;
        // A partitioned activity table: the history about to be written (the baseline, the
        // writes) finds its partitions; skipped for a role that may not create them.
        crate::partition::maintain_if_possible(&mut *conn).await?;
        Ok(tracked)
    }

    /// Stops tracking `table`: removes its triggers and capture functions. Its history, its
    /// `version` column and its record-changes columns stay.
    pub async fn untrack(
        &self,
        conn: &mut (impl crate::DbConn + ?Sized),
        table: &str,
    ) -> Result<()> {
        let conn = match conn.db() {
            crate::Db::Postgres(conn) => conn,
            crate::Db::Sqlite(conn) => return crate::backend::sqlite::untrack(conn, table).await,
        };
        let mut tx = conn.begin().await?;
        lock_ddl(&mut tx).await?;
        require_current(&mut tx).await?;
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
            return Err(Error::LockRefused(
                format!(
                    "{} has {locks} lock(s); unlock (or unfreeze) it before untracking",
                    resolved.qualified
                )
                .into(),
            ));
        }
        exec(&mut tx, untrack_ddl(&resolved, &suffix)?.into_string()).await?;
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
        lock_ddl(&mut tx).await?;
        let mut installed = require_current(&mut tx).await?;
        sqlx::query("UPDATE chrononaut.meta SET value = $1 WHERE key = 'strict_default'")
            .bind(strict.to_string())
            .execute(&mut *tx)
            .await?;
        installed.strict_default = strict;
        regenerate(&mut tx, &installed).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The tracked tables with their options and history counts.
    pub async fn status(
        &self,
        conn: &mut (impl crate::DbConn + ?Sized),
    ) -> Result<Vec<TableStatus>> {
        let conn = match conn.db() {
            crate::Db::Postgres(conn) => conn,
            crate::Db::Sqlite(conn) => return crate::backend::sqlite::status(conn).await,
        };
        let installed = require_installed(conn).await?;
        let counts: Vec<(String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(sql::fill(
            sql::HISTORY_COUNTS,
            &[("activity", installed.activity().as_str())],
        )?))
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
                        no_chain: r.try_get("no_chain")?,
                        keep_days: keep_days(r.try_get("keep_days")?)?,
                    },
                    strict_effective: strict.unwrap_or(installed.strict_default),
                })
            })
            .collect()
    }
}

/// Regenerates the capture functions and triggers of tracked tables from their stored options,
/// where the DDL this library generates for them differs from the DDL they were made with (an
/// upgrade changed the templates or the generator, the database default for strict mode
/// changed, columns were added or dropped, the database was restored from a dump and the table
/// has another oid). Tables dropped since they were tracked are skipped. Runs in the caller's
/// transaction, which must hold chrononaut's DDL lock. Returns how many were regenerated.
pub(crate) async fn regenerate(conn: &mut PgConnection, installed: &Installed) -> Result<usize> {
    let tracked: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT t.relid::oid::int8::text, t.ddl_fingerprint FROM chrononaut.tracked t \
         JOIN pg_catalog.pg_class c ON c.oid = t.relid ORDER BY t.relid::oid",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut regenerated = 0;
    for (oid, recorded) in &tracked {
        let resolved = resolve_oid(conn, oid).await?;
        let opts = stored_options(conn, resolved.oid).await?;
        let plan = plan_capture(conn, installed, &resolved, &opts).await?;
        if recorded.as_deref() != Some(plan.fingerprint.as_str()) {
            apply_capture(conn, &resolved, &plan).await?;
            regenerated += 1;
        }
    }
    Ok(regenerated)
}

/// The capture DDL a table gets from its options, and what `chrononaut.tracked` records of it.
struct CapturePlan {
    options: TrackOptions,
    /// The capture reads record heads (partitioned activity table).
    heads: bool,
    key: Vec<String>,
    columns: Vec<String>,
    strict: bool,
    suffix: String,
    ddl: Sql,
    fingerprint: String,
}

/// Reads the table's columns and key and generates its capture DDL (changes nothing).
async fn plan_capture(
    conn: &mut PgConnection,
    installed: &Installed,
    table: &Table,
    options: &TrackOptions,
) -> Result<CapturePlan> {
    let pk = primary_key(conn, table.oid).await?;
    if pk.is_empty() {
        return Err(Error::NoPrimaryKey(table.qualified.clone()));
    }
    let key = key_columns(conn, table.oid).await?;
    if key.is_empty() {
        return Err(Error::InvalidOptions(format!(
            "the primary key of {} is only the version column",
            table.qualified
        )));
    }
    let cols = columns(conn, table.oid).await?;
    let options = validate(table, &cols, &pk, options)?;
    let strict = options.strict.unwrap_or(installed.strict_default);
    let suffix = table.oid.to_string();
    let ddl = capture_ddl(&CaptureSpec {
        table,
        activity: &installed.activity(),
        columns: &cols,
        key: &key,
        options: &options,
        strict,
        suffix: &suffix,
        heads: installed.partitioned,
    })?;
    Ok(CapturePlan {
        heads: installed.partitioned,
        fingerprint: fingerprint(&ddl),
        key: key.into_iter().map(|k| k.name).collect(),
        columns: cols.into_iter().map(|c| c.name).collect(),
        options,
        strict,
        suffix,
        ddl,
    })
}

/// Replaces the table's capture functions and triggers by the planned ones and records them.
async fn apply_capture(conn: &mut PgConnection, table: &Table, plan: &CapturePlan) -> Result<()> {
    let previous: Option<String> =
        sqlx::query_scalar("SELECT fn_suffix FROM chrononaut.tracked WHERE relid = $1::int8::oid")
            .bind(table.oid)
            .fetch_optional(&mut *conn)
            .await?;
    if let Some(previous) = previous {
        exec(conn, untrack_ddl(table, &previous)?.into_string()).await?;
    }
    exec(conn, plan.ddl.as_str().to_owned()).await?;
    // Capture that reads heads starts from heads that match the history (history may have been
    // written while no capture of this table moved them: before the table was tracked, or
    // while the activity table was not yet partitioned). The new triggers hold the table's
    // lock until commit, so no write of it comes between.
    if plan.heads {
        sqlx::query("SELECT chrononaut.rebuild_table_heads($1)")
            .bind(&table.history_name)
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query(sql::TRACKED_UPSERT)
        .bind(table.oid)
        .bind(&plan.options.hidden)
        .bind(&plan.options.untracked)
        .bind(plan.options.record_changes)
        .bind(plan.options.strict)
        .bind(&plan.suffix)
        .bind(&plan.columns)
        .bind(&table.history_name)
        .bind(&plan.fingerprint)
        .bind(plan.options.no_chain)
        .bind(plan.options.keep_days.map(i64::from))
        .execute(&mut *conn)
        .await?;
    Ok(())
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
    // Two tables must not write history under one table_name (`billing.accounts` and
    // `public."billing.accounts"`): their records would mix and nothing could tell them apart.
    let taken_by: Option<String> = sqlx::query_scalar(sql::HISTORY_NAME_TAKEN)
        .bind(table.oid)
        .bind(&table.history_name)
        .fetch_optional(&mut *conn)
        .await?;
    if let Some(other) = taken_by {
        return Err(Error::HistoryNameTaken {
            table: table.qualified.clone(),
            history_name: table.history_name.clone(),
            other,
        });
    }
    // Checks everything (key, options) before the first change.
    plan_capture(conn, installed, table, options).await?;

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
    let plan = plan_capture(conn, installed, table, options).await?;
    apply_capture(conn, table, &plan).await?;
    Ok(TrackedTable {
        table: table.qualified.clone(),
        history_name: table.history_name.clone(),
        primary_key: plan.key,
        options: plan.options,
        strict_effective: plan.strict,
    })
}

/// A stored retention (days, as the database holds it) as [`TrackOptions::keep_days`].
pub(crate) fn keep_days(stored: Option<i32>) -> Result<Option<u32>> {
    stored
        .map(|d| u32::try_from(d).map_err(|_| Error::Internal(format!("a retention of {d} days"))))
        .transpose()
}
