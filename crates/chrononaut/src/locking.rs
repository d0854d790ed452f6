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

/// Whether a [`LockEvent`] locked or unlocked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LockOperation {
    /// A record was locked (or a table frozen).
    Lock,
    /// A lock was removed.
    Unlock,
}

impl LockOperation {
    /// `lock` or `unlock`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Lock => "lock",
            Self::Unlock => "unlock",
        }
    }
}

impl std::fmt::Display for LockOperation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A lock or unlock of a record (or a freeze of its table), as recorded in
/// `chrononaut.lock_events`: these are not versions and are not in the activity table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LockEvent {
    /// `id` of the event row.
    pub id: i64,
    /// The history `table_name` of the table.
    pub table: String,
    /// The record's key as the history holds it; `None`: the whole table (a freeze).
    pub key: Option<Value>,
    /// The record's version at the time (locking does not change it); `None` for a table or
    /// a record that was never versioned.
    pub version: Option<i32>,
    /// Lock or unlock.
    pub operation: LockOperation,
    /// When.
    pub changed: DateTime<Utc>,
    /// `{"user_id", "remote_addr"}` of the context, and `db_user`: the login role.
    pub user_info: Value,
    /// The context's extra info and the lock's `reason`.
    pub extra_info: Value,
}

impl LockEvent {
    /// `user_info.user_id`, when the context gave one.
    pub fn user_id(&self) -> Option<&str> {
        self.user_info.get("user_id").and_then(Value::as_str)
    }

    /// `user_info.remote_addr`, when the context gave one.
    pub fn remote_addr(&self) -> Option<&str> {
        self.user_info.get("remote_addr").and_then(Value::as_str)
    }

    /// The login role that locked or unlocked (`user_info.db_user`).
    pub fn db_user(&self) -> Option<&str> {
        self.user_info.get("db_user").and_then(Value::as_str)
    }

    /// Why the record was locked (`extra_info.reason`; an unlock repeats the lock's).
    pub fn reason(&self) -> Option<&str> {
        self.extra_info.get("reason").and_then(Value::as_str)
    }

    /// `extra_info.rationale`, when the context gave one.
    pub fn rationale(&self) -> Option<&str> {
        self.extra_info.get("rationale").and_then(Value::as_str)
    }
}

/// The lock events of history `table_name` (of `key` only, when given), newest first.
pub(crate) async fn lock_events(
    conn: &mut PgConnection,
    table_name: &str,
    key: Option<&Value>,
    limit: i64,
) -> Result<Vec<LockEvent>> {
    let rows = sqlx::query(sql::LOCK_EVENTS)
        .bind(table_name)
        .bind(key)
        .bind(limit.max(0))
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| {
            let key: Value = r.try_get("key")?;
            let operation: String = r.try_get("operation")?;
            Ok(LockEvent {
                id: r.try_get("id")?,
                table: r.try_get("table_name")?,
                key: (key != Value::Object(serde_json::Map::new())).then_some(key),
                version: r.try_get("version")?,
                operation: if operation == "unlock" {
                    LockOperation::Unlock
                } else {
                    LockOperation::Lock
                },
                changed: r.try_get("changed")?,
                user_info: r.try_get("user_info")?,
                extra_info: r.try_get("extra_info")?,
            })
        })
        .collect()
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

/// The most bytes a lock reason may have: it is stored with the lock and repeated in every
/// write the lock refuses. A longer one is [`Error::InvalidContext`] (SQLSTATE `CN004`, also
/// from `chrononaut.lock(...)` called by hand), refused before anything is written.
pub const LIMIT_LOCK_REASON: usize = 1024;

fn bounded_reason(reason: &str) -> Result<()> {
    if reason.len() > LIMIT_LOCK_REASON {
        return Err(Error::InvalidContext(format!(
            "the lock reason is {} bytes long, more than the {LIMIT_LOCK_REASON} bytes chrononaut records",
            reason.len()
        ).into()));
    }
    Ok(())
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
            Some(current) if current != expected => Err(Error::StaleVersion(
                format!(
                    "stale version: {} {key} is at version {}, expected version {}",
                    info.history_name(),
                    version_text(current),
                    version_text(expected)
                )
                .into(),
            )),
            Some(_) => Ok(()),
        }
    }

    /// Locks the record of `table` with primary key `key` against UPDATE and DELETE from every
    /// client, with a reason. Recorded as a [`LockEvent`] (not a version; the record's version
    /// unchanged) with the context's user. Needs UPDATE privilege on the table.
    /// [`Error::LockRefused`] when the record does not exist or is already locked,
    /// [`Error::InvalidContext`] when the reason is longer than [`LIMIT_LOCK_REASON`].
    ///
    /// On SQLite the lock is enforced by triggers on the table while it has locks (against
    /// every writer); the locker is the context's user of the locking transaction, and,
    /// SQLite having no roles, anyone who can write the file may unlock.
    pub async fn lock(
        &self,
        conn: &mut (impl crate::DbConn + ?Sized),
        table: &str,
        key: Value,
        reason: &str,
    ) -> Result<RecordLock> {
        bounded_reason(reason)?;
        let conn = match conn.db() {
            crate::Db::Postgres(conn) => conn,
            crate::Db::Sqlite(conn) => {
                return crate::backend::sqlite_locks::lock(conn, table, Some(&key), reason).await;
            }
        };
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
    /// `chrononaut_admin` may ([`Error::PermissionDenied`] otherwise); recorded as a
    /// [`LockEvent`]. [`Error::LockRefused`] when the record is not locked.
    pub async fn unlock(
        &self,
        conn: &mut (impl crate::DbConn + ?Sized),
        table: &str,
        key: Value,
    ) -> Result<RecordLock> {
        let conn = match conn.db() {
            crate::Db::Postgres(conn) => conn,
            crate::Db::Sqlite(conn) => {
                return crate::backend::sqlite_locks::unlock(conn, table, Some(&key)).await;
            }
        };
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
    /// until [`Chrononaut::unfreeze`]. Recorded as a [`LockEvent`] with no key.
    pub async fn freeze(
        &self,
        conn: &mut (impl crate::DbConn + ?Sized),
        table: &str,
        reason: &str,
    ) -> Result<RecordLock> {
        bounded_reason(reason)?;
        let conn = match conn.db() {
            crate::Db::Postgres(conn) => conn,
            crate::Db::Sqlite(conn) => {
                return crate::backend::sqlite_locks::lock(conn, table, None, reason).await;
            }
        };
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
    pub async fn unfreeze(
        &self,
        conn: &mut (impl crate::DbConn + ?Sized),
        table: &str,
    ) -> Result<RecordLock> {
        let conn = match conn.db() {
            crate::Db::Postgres(conn) => conn,
            crate::Db::Sqlite(conn) => {
                return crate::backend::sqlite_locks::unlock(conn, table, None).await;
            }
        };
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

    /// The lock and unlock events of `table` (its records' and its freezes), newest first, at
    /// most `limit`. They are kept apart from the versions (`chrononaut.lock_events`).
    pub async fn lock_events(
        &self,
        conn: &mut (impl crate::DbConn + ?Sized),
        table: &str,
        limit: i64,
    ) -> Result<Vec<LockEvent>> {
        let conn = match conn.db() {
            crate::Db::Postgres(conn) => conn,
            crate::Db::Sqlite(conn) => {
                let (info, _) = crate::backend::sqlite::load_table(conn, table).await?;
                return crate::backend::sqlite_locks::lock_events(
                    conn,
                    info.history_name(),
                    None,
                    limit,
                )
                .await;
            }
        };
        let info = load_table(conn, table).await?;
        lock_events(conn, info.history_name(), None, limit).await
    }

    /// The locks in force: of `table`, or of every table (`None`), by table and key (a
    /// table's freeze first).
    pub async fn locks(
        &self,
        conn: &mut (impl crate::DbConn + ?Sized),
        table: Option<&str>,
    ) -> Result<Vec<RecordLock>> {
        let conn = match conn.db() {
            crate::Db::Postgres(conn) => conn,
            crate::Db::Sqlite(conn) => {
                return crate::backend::sqlite_locks::locks(conn, table).await;
            }
        };
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
