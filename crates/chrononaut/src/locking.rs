//! Record locking: optimistic concurrency (`expect_version`) and record locks / frozen tables.
//!
//! The rules are enforced in PostgreSQL, for every client: the version check by the per-table
//! version function (`UPDATE ... SET version = n` fails with CN005 when the row has moved past
//! n), locks by triggers that exist only while a table has locks (CN006). The functions that
//! lock and unlock are in `sql/locking/functions.sql`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::{PgConnection, Row};

use crate::error::{Error, Result};
use crate::history::{TableInfo, load_table, normalize_key};
use crate::ident::quote_ident;
use crate::{Chrononaut, sql};

/// A lock on a record, or on a whole table (a frozen table: `key` is `None`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordLock {
    /// The table, schema-qualified.
    pub table: String,
    /// The `table_name` of its history rows.
    pub history_name: String,
    /// The record's key as the history holds it; `None`: the whole table is frozen.
    pub key: Option<Value>,
    /// The login role that locked it (`session_user`).
    pub locked_by: String,
    /// The context's user (`chrononaut.user_id`) of the locking transaction, if any.
    pub user_id: Option<String>,
    /// Why.
    pub reason: String,
    /// When.
    pub locked_at: DateTime<Utc>,
}

fn lock_rows(rows: &[sqlx::postgres::PgRow]) -> Result<Vec<RecordLock>> {
    rows.iter()
        .map(|r| {
            Ok(RecordLock {
                table: r.try_get("qualified")?,
                history_name: r.try_get("table_name")?,
                key: r.try_get("key")?,
                locked_by: r.try_get("locked_by")?,
                user_id: r.try_get("user_id")?,
                reason: r.try_get("reason")?,
                locked_at: r.try_get("locked_at")?,
            })
        })
        .collect()
}

fn single(rows: Vec<RecordLock>) -> Result<RecordLock> {
    rows.into_iter()
        .next()
        .ok_or_else(|| Error::LockRefused("the lock function returned no row".into()))
}

impl Chrononaut {
    /// Optimistic concurrency inside a transaction: checks that the record of `table` with
    /// primary key `key` is at version `expected` (`None`: never versioned) and locks its row
    /// until the transaction ends, so it cannot move before the caller's write.
    /// [`Error::StaleVersion`] when it has moved, [`Error::RecordNotFound`] when it does not
    /// exist.
    ///
    /// The same check without a round trip: set the version you read in your UPDATE,
    /// `UPDATE accounts SET balance = 10, version = 3 WHERE id = 1` fails with
    /// [`Error::StaleVersion`] (SQLSTATE `CN005`) when the record is no longer at version 3,
    /// and otherwise proceeds (and bumps the version to 4 as usual).
    ///
    /// ```no_run
    /// # async fn f(pool: sqlx::PgPool) -> Result<(), chrononaut::Error> {
    /// let ch = chrononaut::Chrononaut::new();
    /// let mut tx = pool.begin().await?;
    /// ch.expect_version(&mut tx, "accounts", serde_json::json!({"id": 1}), Some(3)).await?;
    /// sqlx::query("UPDATE accounts SET balance = 10 WHERE id = 1").execute(&mut *tx).await?;
    /// tx.commit().await?;
    /// # Ok(()) }
    /// ```
    pub async fn expect_version(
        &self,
        conn: &mut PgConnection,
        table: &str,
        key: Value,
        expected: Option<i32>,
    ) -> Result<()> {
        let info = load_table(conn, table).await?;
        let key = normalize_key(conn, &info, &key).await?;
        let cols = |alias: &str| {
            info.key_columns
                .iter()
                .map(|k| format!("{alias}.{}", quote_ident(&k.name)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let query = sql::fill(
            sql::EXPECT_VERSION,
            &[
                ("table", &info.table.quoted),
                ("cols_t", &cols("t")),
                ("cols_r", &cols("r")),
            ],
        )?;
        let found: Option<Option<i32>> = sqlx::query_scalar(sqlx::AssertSqlSafe(query))
            .bind(&key)
            .fetch_optional(&mut *conn)
            .await?;
        match found {
            None => Err(Error::RecordNotFound {
                table: info.table.qualified.clone(),
                key: key.to_string(),
            }),
            Some(current) if current != expected => Err(Error::StaleVersion(format!(
                "stale version: {} {key} is at version {}, expected version {}",
                info.history_name(),
                version_text(current),
                version_text(expected)
            ))),
            Some(_) => Ok(()),
        }
    }

    /// Locks the record of `table` with primary key `key` against UPDATE and DELETE from every
    /// client, with a reason. Recorded in the history (operation `lock`, the record's version
    /// unchanged) with the context's user. Needs UPDATE privilege on the table.
    /// [`Error::LockRefused`] when the record does not exist or is already locked.
    pub async fn lock(
        &self,
        conn: &mut PgConnection,
        table: &str,
        key: Value,
        reason: &str,
    ) -> Result<RecordLock> {
        let info = load_table(conn, table).await?;
        let key = normalize_key(conn, &info, &key).await?;
        call(
            conn,
            &info,
            "chrononaut.lock($1::int8::oid::regclass, $2, $3)",
            Some(key),
            Some(reason),
        )
        .await
    }

    /// Removes the lock of a record. Only the login role that locked it or a member of
    /// `chrononaut_admin` may ([`Error::PermissionDenied`] otherwise); recorded in the history
    /// (operation `unlock`). [`Error::LockRefused`] when the record is not locked.
    pub async fn unlock(
        &self,
        conn: &mut PgConnection,
        table: &str,
        key: Value,
    ) -> Result<RecordLock> {
        let info = load_table(conn, table).await?;
        let key = normalize_key(conn, &info, &key).await?;
        call(
            conn,
            &info,
            "chrononaut.unlock($1::int8::oid::regclass, $2)",
            Some(key),
            None,
        )
        .await
    }

    /// Freezes the whole of `table`: every INSERT, UPDATE, DELETE and TRUNCATE is refused
    /// until [`Chrononaut::unfreeze`]. Recorded in the history (operation `lock`, key `{}`).
    pub async fn freeze(
        &self,
        conn: &mut PgConnection,
        table: &str,
        reason: &str,
    ) -> Result<RecordLock> {
        let info = load_table(conn, table).await?;
        call(
            conn,
            &info,
            "chrononaut.lock($1::int8::oid::regclass, $2, $3)",
            None,
            Some(reason),
        )
        .await
    }

    /// Ends a freeze of `table` (same rights as [`Chrononaut::unlock`]).
    pub async fn unfreeze(&self, conn: &mut PgConnection, table: &str) -> Result<RecordLock> {
        let info = load_table(conn, table).await?;
        call(
            conn,
            &info,
            "chrononaut.unlock($1::int8::oid::regclass, $2)",
            None,
            None,
        )
        .await
    }

    /// The locks in force: of `table`, or of every table (`None`), by table and key (a
    /// table's freeze first).
    pub async fn locks(
        &self,
        conn: &mut PgConnection,
        table: Option<&str>,
    ) -> Result<Vec<RecordLock>> {
        let oid = match table {
            Some(name) => Some(load_table(conn, name).await?.table.oid),
            None => {
                crate::catalog::require_installed(conn).await?;
                None
            }
        };
        let query = sql::fill(
            sql::LIST_LOCKS,
            &[(
                "source",
                "(SELECT * FROM chrononaut.locks WHERE $1::int8 IS NULL OR relid = $1::int8::oid)",
            )],
        )?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(query))
            .bind(oid)
            .fetch_all(&mut *conn)
            .await?;
        lock_rows(&rows)
    }
}

async fn call(
    conn: &mut PgConnection,
    info: &TableInfo,
    function: &str,
    key: Option<Value>,
    reason: Option<&str>,
) -> Result<RecordLock> {
    let query = sql::fill(sql::LIST_LOCKS, &[("source", function)])?;
    let mut q = sqlx::query(sqlx::AssertSqlSafe(query))
        .bind(info.table.oid)
        .bind(key);
    if let Some(reason) = reason {
        q = q.bind(reason);
    }
    let rows = q.fetch_all(&mut *conn).await?;
    single(lock_rows(&rows)?)
}

fn version_text(v: Option<i32>) -> String {
    v.map_or_else(|| "NULL".to_owned(), |v| v.to_string())
}
