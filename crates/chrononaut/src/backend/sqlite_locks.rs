//! Record locks and table freezes on SQLite: `chrononaut_locks` holds them, refusing triggers
//! (sql/sqlite/lock_triggers.sql) enforce them against every writer while a table has any,
//! and `chrononaut_lock_events` records each lock and unlock (not versions: the activity
//! table keeps versions only, as on PostgreSQL).
//!
//! SQLite has no roles: the locker is the context's user of the locking transaction (or
//! `anonymous`), and anyone who can write the file may unlock (README, "SQLite").

use chrono::Utc;
use serde_json::{Value, json};
use sqlx::sqlite::SqliteRow;
use sqlx::{AssertSqlSafe, Connection as _, Row, SqliteConnection};

use super::sqlite::{
    Exprs, columns, key_of, literal, load_table, normalize_key, parse_time, record_exists,
    time_text, tracked_columns,
};
use crate::error::{Error, Refusal, Result};
use crate::locking::{LockEvent, LockOperation, RecordLock};
use crate::template::{self, Sql};
use crate::track::TrackOptions;

const LOCK_TRIGGERS: &str = include_str!("../../sql/sqlite/lock_triggers.sql");
const CONTEXT: &str = include_str!("../../sql/sqlite/locks/context.sql");
const INSERT: &str = include_str!("../../sql/sqlite/locks/insert.sql");
const DELETE: &str = include_str!("../../sql/sqlite/locks/delete.sql");
const ANY_LEFT: &str = include_str!("../../sql/sqlite/locks/any_left.sql");
const FIND: &str = include_str!("../../sql/sqlite/locks/find.sql");
const LIST: &str = include_str!("../../sql/sqlite/locks/list.sql");
const RECORD_VERSION: &str = include_str!("../../sql/sqlite/locks/record_version.sql");
const EVENT_INSERT: &str = include_str!("../../sql/sqlite/locks/event_insert.sql");
const EVENTS: &str = include_str!("../../sql/sqlite/locks/events.sql");

/// The lock of a whole table (a freeze) is kept under this key.
const TABLE_KEY: &str = "";

/// The refusing triggers' names for `table`.
fn trigger_names(table: &str) -> [Sql; 3] {
    ["insert", "update", "delete"].map(|op| Sql::ident(&format!("chrononaut_lock_{op}_{table}")))
}

fn refused(message: String) -> Error {
    Error::LockRefused(Refusal::new(message))
}

/// The context of the open transaction (the row of `chrononaut_context`), or an empty one.
async fn context(conn: &mut SqliteConnection) -> Result<(Value, Value)> {
    let row: Option<(String, String)> = sqlx::query_as(CONTEXT).fetch_optional(&mut *conn).await?;
    let parse = |text: &str| serde_json::from_str::<Value>(text).unwrap_or_else(|_| json!({}));
    Ok(match row {
        Some((user, extra)) => (parse(&user), parse(&extra)),
        None => (json!({"user_id": null, "remote_addr": null}), json!({})),
    })
}

/// The locks need schema 2 (their tables): an older file is told to run `init`.
async fn require_locks(conn: &mut SqliteConnection) -> Result<()> {
    let found = super::sqlite::require_installed(conn).await?;
    if found < 2 {
        return Err(Error::SchemaTooOld {
            found,
            supported: super::sqlite::SCHEMA_VERSION,
        });
    }
    Ok(())
}

/// Locks (`key` Some) or freezes (`key` None) `table`, in a savepoint of the caller's
/// transaction if it has one.
pub(crate) async fn lock(
    conn: &mut SqliteConnection,
    table: &str,
    key: Option<&Value>,
    reason: &str,
) -> Result<RecordLock> {
    require_locks(conn).await?;
    let (info, key_cols) = load_table(conn, table).await?;
    let name = info.table.name.clone();
    if tracked_columns(conn, &name).await?.is_none() {
        return Err(Error::NotTracked(name));
    }
    let key = match key {
        Some(k) => Some(normalize_key(conn, &info, &key_cols, k).await?),
        None => None,
    };
    let mut tx = conn.begin().await?;
    let cols = columns(&mut tx, &name).await?;
    if let Some((value, _)) = &key
        && !record_exists(&mut tx, &name, &key_of(&cols), value).await?
    {
        return Err(refused(format!(
            "{name} {value} does not exist: nothing to lock"
        )));
    }
    let key_text = key.as_ref().map_or(TABLE_KEY, |(_, t)| t.as_str());
    if let Some(existing) = find(&mut tx, &name, key_text).await? {
        return Err(refused(format!(
            "{} is already locked by {} since {}: {}",
            what(&existing),
            existing.locked_by,
            time_text(existing.locked_at),
            existing.reason
        )));
    }
    let (user_info, extra_info) = context(&mut tx).await?;
    let user_id = user_info["user_id"].as_str().map(str::to_owned);
    let now = time_text(Utc::now());
    sqlx::query(INSERT)
        .bind(&name)
        .bind(key_text)
        .bind(user_id.as_deref().unwrap_or("anonymous"))
        .bind(user_id.as_deref())
        .bind(reason)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
    event(
        &mut tx,
        &name,
        key.as_ref(),
        LockOperation::Lock,
        reason,
        user_info,
        extra_info,
    )
    .await?;
    // the refusing triggers, while the table has locks
    let opts = TrackOptions::new();
    let exprs = Exprs::new(&cols, &opts);
    let [trg_insert, trg_update, trg_delete] = trigger_names(&name);
    let ddl = template::fill(
        LOCK_TRIGGERS,
        &[
            ("table", &Sql::ident(&name)),
            ("table_name", &literal(&name)),
            ("trg_insert", &trg_insert),
            ("trg_update", &trg_update),
            ("trg_delete", &trg_delete),
            ("key_new", &exprs.key("NEW")),
            ("key_old", &exprs.key("OLD")),
        ],
    )?;
    sqlx::raw_sql(AssertSqlSafe(ddl.into_string()))
        .execute(&mut *tx)
        .await?;
    let lock = find(&mut tx, &name, key_text)
        .await?
        .ok_or_else(|| Error::Internal("the lock just written is gone".into()))?;
    tx.commit().await?;
    Ok(lock)
}

/// Removes the lock of a record (`key` Some) or a table's freeze (`key` None).
pub(crate) async fn unlock(
    conn: &mut SqliteConnection,
    table: &str,
    key: Option<&Value>,
) -> Result<RecordLock> {
    require_locks(conn).await?;
    let (info, key_cols) = load_table(conn, table).await?;
    let name = info.table.name.clone();
    let key = match key {
        Some(k) => Some(normalize_key(conn, &info, &key_cols, k).await?),
        None => None,
    };
    let key_text = key.as_ref().map_or(TABLE_KEY, |(_, t)| t.as_str());
    let mut tx = conn.begin().await?;
    let Some(lock) = find(&mut tx, &name, key_text).await? else {
        return Err(refused(match &key {
            Some((value, _)) => format!("{name} {value} is not locked"),
            None => format!("{name} is not frozen"),
        }));
    };
    sqlx::query(DELETE)
        .bind(&name)
        .bind(key_text)
        .execute(&mut *tx)
        .await?;
    let (user_info, extra_info) = context(&mut tx).await?;
    event(
        &mut tx,
        &name,
        key.as_ref(),
        LockOperation::Unlock,
        &lock.reason,
        user_info,
        extra_info,
    )
    .await?;
    let left: bool = sqlx::query_scalar(ANY_LEFT)
        .bind(&name)
        .fetch_one(&mut *tx)
        .await?;
    if !left {
        // no lock left: the table pays nothing again
        let drop: String = trigger_names(&name)
            .iter()
            .map(|t| format!("DROP TRIGGER IF EXISTS {t};\n"))
            .collect();
        sqlx::raw_sql(AssertSqlSafe(drop)).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(lock)
}

/// Records a lock or unlock event, with the record's version then and the context.
async fn event(
    conn: &mut SqliteConnection,
    name: &str,
    key: Option<&(Value, String)>,
    operation: LockOperation,
    reason: &str,
    user_info: Value,
    mut extra_info: Value,
) -> Result<()> {
    let version: Option<i64> = match key {
        Some((_, text)) => {
            sqlx::query_scalar(RECORD_VERSION)
                .bind(name)
                .bind(text)
                .fetch_optional(&mut *conn)
                .await?
        }
        None => None,
    };
    if let Some(map) = extra_info.as_object_mut() {
        map.insert("reason".into(), reason.into());
    }
    sqlx::query(EVENT_INSERT)
        .bind(name)
        .bind(key.map(|(_, t)| t.as_str()))
        .bind(version)
        .bind(operation.as_str())
        .bind(time_text(Utc::now()))
        .bind(user_info.to_string())
        .bind(extra_info.to_string())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

fn what(lock: &RecordLock) -> String {
    match &lock.key {
        Some(key) => format!("{} {key}", lock.table),
        None => format!("{} (the whole table)", lock.table),
    }
}

fn lock_of(row: &SqliteRow) -> Result<RecordLock> {
    let table: String = row.try_get("table_name")?;
    let key: String = row.try_get("key")?;
    let at: String = row.try_get("locked_at")?;
    Ok(RecordLock {
        history_name: table.clone(),
        table,
        key: if key == TABLE_KEY {
            None
        } else {
            Some(serde_json::from_str(&key).map_err(|e| {
                Error::Internal(format!("chrononaut_locks.key {key:?} is not JSON: {e}"))
            })?)
        },
        locked_by: row.try_get("locked_by")?,
        user_id: row.try_get("user_id")?,
        reason: row.try_get("reason")?,
        locked_at: parse_time(&at)?,
    })
}

async fn find(conn: &mut SqliteConnection, name: &str, key: &str) -> Result<Option<RecordLock>> {
    let row = sqlx::query(FIND)
        .bind(name)
        .bind(key)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(lock_of).transpose()
}

/// The locks in force, of `table` or of every table, by table and key (a freeze first).
pub(crate) async fn locks(
    conn: &mut SqliteConnection,
    table: Option<&str>,
) -> Result<Vec<RecordLock>> {
    let name = match table {
        Some(t) => Some(load_table(conn, t).await?.0.table.name),
        None => None,
    };
    if super::sqlite::require_installed(conn).await? < 2 {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(LIST).bind(name).fetch_all(&mut *conn).await?;
    rows.iter().map(lock_of).collect()
}

/// The lock events of `table` (`key` None: of all its records and its freezes), newest first.
pub(crate) async fn lock_events(
    conn: &mut SqliteConnection,
    name: &str,
    key: Option<&str>,
    limit: i64,
) -> Result<Vec<LockEvent>> {
    // (a file of schema 1 has no lock events: it could take no locks)
    if super::sqlite::require_installed(conn).await? < 2 {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(EVENTS)
        .bind(name)
        .bind(key)
        .bind(limit.max(0))
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| {
            let json = |c: &str| -> Result<Value> {
                let text: String = r.try_get(c)?;
                serde_json::from_str(&text).map_err(|e| Error::Internal(format!("{c}: {e}")))
            };
            let key: Option<String> = r.try_get("key")?;
            let changed: String = r.try_get("changed")?;
            let operation: String = r.try_get("operation")?;
            Ok(LockEvent {
                id: r.try_get("id")?,
                table: r.try_get("table_name")?,
                key: key
                    .map(|k| serde_json::from_str(&k))
                    .transpose()
                    .map_err(|e| Error::Internal(format!("lock event key: {e}")))?,
                version: r
                    .try_get::<Option<i64>, _>("version")?
                    .and_then(|v| i32::try_from(v).ok()),
                operation: if operation == "unlock" {
                    LockOperation::Unlock
                } else {
                    LockOperation::Lock
                },
                changed: parse_time(&changed)?,
                user_info: json("user_info")?,
                extra_info: json("extra_info")?,
            })
        })
        .collect()
}
