//! Restoring a record to an earlier version, as a new version.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::{Acquire, PgConnection, Row};

use crate::context::ChangeContext;
use crate::error::{Error, Result};
use crate::history::RecordHistory;
use crate::ident::quote_ident;
use crate::snapshot::Snapshot;
use crate::{Chrononaut, Db, DbConn, sql};

/// Which state [`Chrononaut::restore`] puts back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreTarget {
    /// Version `n`.
    Version(i32),
    /// The version in force at this time.
    At(DateTime<Utc>),
}

/// What [`Chrononaut::restore`] did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RestoreReport {
    /// The version whose state was put back.
    pub restored_from: i32,
    /// The version the restore recorded (`None`: the record already had that state, nothing
    /// was written).
    pub new_version: Option<Snapshot>,
    /// True when the record had been deleted and was inserted again.
    pub reinserted: bool,
}

struct Col {
    name: String,
    generated: bool,
    identity: bool,
    required: bool,
}

impl Chrononaut {
    /// Puts `record` back to the state of an earlier version by writing that state as a new
    /// version (history is never rewritten), in one transaction with `ctx` applied: the new
    /// version carries the context's user and rationale, plus
    /// `extra_info.restored_from = {"version": n, "changed": t}`.
    ///
    /// A deleted record is inserted again (its versions continue). Hidden and untracked
    /// columns, whose old values were never recorded, keep their current values; so do
    /// columns added since that version. When they cannot be kept — the record is deleted and
    /// such a column is NOT NULL without a default — the restore is refused with
    /// [`Error::CannotRestore`] and nothing is written (nullable ones are inserted NULL,
    /// others get their default). Generated columns are left to the database.
    ///
    /// ```no_run
    /// # async fn f(pool: sqlx::PgPool) -> Result<(), chrononaut::Error> {
    /// use chrononaut::{ChangeContext, Chrononaut, RestoreTarget};
    /// let ch = Chrononaut::new();
    /// let mut conn = pool.acquire().await?;
    /// let record = ch.record(&mut conn, "accounts", serde_json::json!({"id": 1})).await?;
    /// let ctx = ChangeContext::new().user("alice").rationale("undo the wrong refund");
    /// let report = ch.restore(&mut conn, &record, RestoreTarget::Version(3), &ctx).await?;
    /// if let Some(v) = report.new_version {
    ///     println!("restored version 3 as version {}", v.version());
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// On SQLite the same, in one transaction whose context row is removed before it commits.
    pub async fn restore(
        &self,
        conn: &mut (impl DbConn + ?Sized),
        record: &RecordHistory,
        target: RestoreTarget,
        ctx: &ChangeContext,
    ) -> Result<RestoreReport> {
        match conn.db() {
            Db::Postgres(conn) => self.restore_postgres(conn, record, target, ctx).await,
            Db::Sqlite(conn) => {
                crate::backend::sqlite::restore(self, conn, record, target, ctx).await
            }
        }
    }

    async fn restore_postgres(
        &self,
        conn: &mut PgConnection,
        record: &RecordHistory,
        target: RestoreTarget,
        ctx: &ChangeContext,
    ) -> Result<RestoreReport> {
        let mut tx = conn.begin().await?;
        let info = record.info();
        let snapshot = restored_snapshot(&mut *tx, record, target).await?;
        self.apply(&mut tx, &restore_context(ctx, &snapshot))
            .await?;

        let cols: Vec<Col> = sqlx::query(sql::RESTORE_COLUMNS)
            .bind(info.table.oid)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| {
                Ok(Col {
                    name: r.try_get("name")?,
                    generated: r.try_get("generated")?,
                    identity: r.try_get("identity")?,
                    required: r.try_get("required")?,
                })
            })
            .collect::<Result<_>>()?;
        let t = &info.table.quoted;
        let key_cols: Vec<String> = info
            .key_columns
            .iter()
            .map(|k| quote_ident(&k.name))
            .collect();
        let key_match = format!(
            "ROW({}) = (SELECT {} FROM pg_catalog.jsonb_populate_record(NULL::{t}, $1) AS l)",
            key_cols
                .iter()
                .map(|c| format!("t.{c}"))
                .collect::<Vec<_>>()
                .join(", "),
            key_cols
                .iter()
                .map(|c| format!("l.{c}"))
                .collect::<Vec<_>>()
                .join(", "),
        );
        let exists: bool = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT EXISTS (SELECT 1 FROM {t} AS t WHERE {key_match} FOR UPDATE)"
        )))
        .bind(record.key())
        .fetch_one(&mut *tx)
        .await?;

        // the columns whose recorded values are written back
        let written: Vec<&Col> = cols
            .iter()
            .filter(|c| !c.generated && written_back(record, &snapshot, &c.name))
            .collect();
        let list = |cols: &[&Col], alias: &str| {
            cols.iter()
                .map(|c| format!("{alias}{}", quote_ident(&c.name)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let before = record.latest(&mut tx).await?.map(|s| s.meta().id);
        if exists {
            let set: Vec<&Col> = written
                .iter()
                .copied()
                .filter(|c| !info.key_columns.iter().any(|k| k.name == c.name) && !c.identity)
                .collect();
            if !set.is_empty() {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "UPDATE {t} AS t SET ({}) = (SELECT {} FROM pg_catalog.jsonb_populate_record(NULL::{t}, $2) AS r) \
                     WHERE {key_match}",
                    list(&set, ""),
                    list(&set, "r.")
                )))
                .bind(record.key())
                .bind(sqlx::types::Json(snapshot.raw_data()))
                .execute(&mut *tx)
                .await?;
            }
        } else {
            let unknowable: Vec<&str> = cols
                .iter()
                .filter(|c| c.required && !written.iter().any(|w| w.name == c.name))
                .map(|c| c.name.as_str())
                .collect();
            if !unknowable.is_empty() {
                return Err(cannot_restore(record, &snapshot, &unknowable));
            }
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO {t} ({}) OVERRIDING SYSTEM VALUE \
                 SELECT {} FROM pg_catalog.jsonb_populate_record(NULL::{t}, $1) AS r",
                list(&written, ""),
                list(&written, "r.")
            )))
            .bind(sqlx::types::Json(snapshot.raw_data()))
            .execute(&mut *tx)
            .await?;
        }
        let after = record.latest(&mut tx).await?;
        tx.commit().await?;
        let new_version = after.filter(|s| Some(s.meta().id) != before);
        Ok(RestoreReport {
            restored_from: snapshot.version(),
            new_version,
            reinserted: !exists,
        })
    }
}

/// The version a restore puts back: version `n`, or the one in force at a time.
pub(crate) async fn restored_snapshot(
    conn: &mut (impl DbConn + ?Sized),
    record: &RecordHistory,
    target: RestoreTarget,
) -> Result<Snapshot> {
    match target {
        RestoreTarget::Version(n) => record.version(conn, n).await,
        RestoreTarget::At(t) => record
            .version_at(conn, t)
            .await?
            .ok_or_else(|| Error::NoHistory {
                table: record.info().table.qualified.clone(),
                key: record.key().to_string(),
                when: format!(" at {}", t.to_rfc3339()),
            }),
    }
}

/// The restore's context: the caller's, plus `extra_info.restored_from`.
pub(crate) fn restore_context(ctx: &ChangeContext, snapshot: &Snapshot) -> ChangeContext {
    ctx.clone().extra(
        "restored_from",
        json!({"version": snapshot.version(), "changed": snapshot.changed()}),
    )
}

/// Whether a restore writes `column`'s recorded value back: recorded in `snapshot`, and not
/// `version`, hidden or untracked (whose values were never recorded).
pub(crate) fn written_back(record: &RecordHistory, snapshot: &Snapshot, column: &str) -> bool {
    let columns = &record.info().columns;
    column != "version"
        && !columns.hidden.iter().any(|h| h == column)
        && !columns.untracked.iter().any(|u| u == column)
        && snapshot.data().contains_key(column)
}

/// The refusal of a re-insert that needs values never recorded (`unknowable` columns).
pub(crate) fn cannot_restore(
    record: &RecordHistory,
    snapshot: &Snapshot,
    unknowable: &[&str],
) -> Error {
    Error::CannotRestore(format!(
        "{} {} is deleted and its column(s) {} (hidden, untracked or added since version {}) \
         are NOT NULL without a default: their values were never recorded",
        record.info().table.qualified,
        record.key(),
        unknowable.join(", "),
        snapshot.version()
    ))
}
