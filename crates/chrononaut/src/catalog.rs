//! What the database says: tables and their columns and keys, chrononaut's installed state.
//!
//! Table resolution and catalog reads live here, used by tracking, history, integrity,
//! locking and conversion alike; the capture DDL generator (`capture.rs`) builds on them.

use sqlx::{PgConnection, Row};

use crate::error::{Error, Result};
use crate::ident::quote_ident;
use crate::install::SCHEMA_VERSION;
use crate::sql;
use crate::template::Sql;
use crate::track::TrackOptions;

/// Takes the lock that serialises chrononaut's DDL (install, track, untrack, the strict
/// default, the conversion progress table) in this database until the transaction ends: a
/// table lock on `chrononaut.meta` that no role without write rights on it can hold against
/// us (`sql/queries/ddl_lock.sql`). [`Error::NotInstalled`] when chrononaut is not installed.
pub(crate) async fn lock_ddl(conn: &mut PgConnection) -> Result<()> {
    let exists: bool = sqlx::query_scalar(sql::META_EXISTS)
        .fetch_one(&mut *conn)
        .await?;
    if !exists {
        return Err(Error::NotInstalled);
    }
    sqlx::query(sql::DDL_LOCK).execute(&mut *conn).await?;
    Ok(())
}

/// What an existing installation recorded.
pub(crate) struct Installed {
    pub schema_version: i32,
    pub activity_schema: String,
    pub strict_default: bool,
    /// The activity table is partitioned (capture then keeps record heads).
    pub partitioned: bool,
}

impl Installed {
    /// The activity table, schema-qualified and quoted.
    pub fn activity(&self) -> Sql {
        Sql::qualified(&self.activity_schema, "chrononaut_activity")
    }
}

pub(crate) async fn installed(conn: &mut PgConnection) -> Result<Option<Installed>> {
    let exists: bool = sqlx::query_scalar(sql::META_EXISTS)
        .fetch_one(&mut *conn)
        .await?;
    if !exists {
        return Ok(None);
    }
    let row = sqlx::query(sql::INSTALLED)
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        None => Ok(None),
        Some(row) => {
            let version: Option<i32> = row.try_get("schema_version")?;
            let schema: Option<String> = row.try_get("activity_schema")?;
            match (version, schema) {
                (Some(schema_version), Some(activity_schema)) => Ok(Some(Installed {
                    schema_version,
                    activity_schema,
                    strict_default: row.try_get("strict_default")?,
                    partitioned: row.try_get("partitioned")?,
                })),
                _ => Ok(None),
            }
        }
    }
}

/// Like [`installed`], but an error when chrononaut is absent or newer than this library.
/// Reads work on older schemas too (they read newer columns only where they are present).
pub(crate) async fn require_installed(conn: &mut PgConnection) -> Result<Installed> {
    let found = installed(conn).await?.ok_or(Error::NotInstalled)?;
    if found.schema_version > SCHEMA_VERSION {
        return Err(Error::SchemaTooNew {
            found: found.schema_version,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(found)
}

/// The oldest schema the per-record reads and as_of work on: they call the SECURITY DEFINER
/// read functions of schema version 4 (sql/history/functions.sql).
pub(crate) const READS_NEED_SCHEMA: i32 = 4;

/// Like [`require_installed`], but also an error ([`Error::SchemaTooOld`]) when the schema is
/// older than [`READS_NEED_SCHEMA`].
pub(crate) async fn require_readable(conn: &mut PgConnection) -> Result<Installed> {
    let found = require_installed(conn).await?;
    if found.schema_version < READS_NEED_SCHEMA {
        return Err(Error::SchemaTooOld {
            found: found.schema_version,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(found)
}

/// Like [`require_installed`], but also an error when the schema is older than this library's
/// ([`Error::SchemaTooOld`]): for changes of tracking, which write what older schemas lack.
pub(crate) async fn require_current(conn: &mut PgConnection) -> Result<Installed> {
    let found = require_installed(conn).await?;
    if found.schema_version < SCHEMA_VERSION {
        return Err(Error::SchemaTooOld {
            found: found.schema_version,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(found)
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

pub(crate) struct Column {
    pub(crate) name: String,
    pub(crate) type_name: String,
    pub(crate) comparable: bool,
    pub(crate) naive_ts: bool,
    pub(crate) tstz: bool,
    pub(crate) zoned: bool,
    pub(crate) generated: bool,
}

/// A primary-key column with the equality operator of its key index's operator class.
#[derive(Debug, Clone)]
pub(crate) struct KeyColumn {
    pub(crate) name: String,
    /// `OPERATOR("schema".=)`: joins by this column use exactly the key index's equality.
    pub(crate) eq: Sql,
}

/// The primary-key columns of table `oid` except `version`, with their key operators.
pub(crate) async fn key_columns(conn: &mut PgConnection, oid: i64) -> Result<Vec<KeyColumn>> {
    let rows = sqlx::query(sql::KEY_OPERATORS)
        .bind(oid)
        .fetch_all(&mut *conn)
        .await?;
    let mut key = Vec::new();
    for r in &rows {
        let name: String = r.try_get("name")?;
        let op_schema: String = r.try_get("op_schema")?;
        let op_name: String = r.try_get("op_name")?;
        let op = Sql::operator_name(&op_name).ok_or_else(|| {
            Error::Internal(format!(
                "unexpected operator name {op_name:?} for key column {name:?}"
            ))
        })?;
        if name != "version" {
            key.push(KeyColumn {
                eq: crate::template::sql_format!("OPERATOR({}.{})", Sql::ident(&op_schema), op),
                name,
            });
        }
    }
    Ok(key)
}

impl Table {
    /// The table, schema-qualified and quoted, for generated SQL.
    pub(crate) fn quoted_sql(&self) -> Sql {
        Sql::qualified(&self.schema, &self.name)
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

pub(crate) async fn columns(conn: &mut PgConnection, oid: i64) -> Result<Vec<Column>> {
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

pub(crate) async fn resolve_oid(conn: &mut PgConnection, oid: &str) -> Result<Table> {
    let name: String = sqlx::query_scalar("SELECT $1::int8::oid::regclass::text")
        .bind(oid)
        .fetch_one(&mut *conn)
        .await?;
    resolve(conn, &name).await
}

pub(crate) async fn stored_options(conn: &mut PgConnection, oid: i64) -> Result<TrackOptions> {
    let row = sqlx::query(
        "SELECT hidden, untracked, record_changes, strict, \
         COALESCE((to_jsonb(t) ->> 'no_chain')::boolean, false) AS no_chain, \
         (to_jsonb(t) ->> 'keep_days')::int4 AS keep_days \
         FROM chrononaut.tracked AS t WHERE relid = $1::int8::oid",
    )
    .bind(oid)
    .fetch_one(&mut *conn)
    .await?;
    Ok(TrackOptions {
        hidden: row.try_get("hidden")?,
        untracked: row.try_get("untracked")?,
        record_changes: row.try_get("record_changes")?,
        strict: row.try_get("strict")?,
        no_chain: row.try_get("no_chain")?,
        keep_days: crate::track::keep_days(row.try_get("keep_days")?)?,
    })
}
