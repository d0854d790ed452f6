//! Installing and upgrading chrononaut's schema.

use sqlx::{Acquire, PgConnection, Row};

use crate::error::{Error, Result};
use crate::ident::{quote_ident, quote_literal};
use crate::{Chrononaut, sql};

/// The schema version this library installs.
pub const SCHEMA_VERSION: i32 = 1;

/// The advisory lock that serialises chrononaut's DDL (install, track, untrack) per database.
pub(crate) const ADVISORY_LOCK: i64 = 0x6368_726f_6e6f;

/// Options of [`Chrononaut::install_with`].
#[derive(Debug, Clone, Default)]
pub struct InstallOptions {
    activity_schema: Option<String>,
}

impl InstallOptions {
    /// Default options: the activity table in `public` (or where an earlier install put it).
    pub fn new() -> Self {
        Self::default()
    }

    /// Puts the activity table in `schema` (created if missing). Only on the first install:
    /// moving it later is refused.
    pub fn activity_schema(mut self, schema: impl Into<String>) -> Self {
        self.activity_schema = Some(schema.into());
        self
    }
}

/// What [`Chrononaut::install`] did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InstallReport {
    /// Schema version now installed.
    pub schema_version: i32,
    /// Version found before (None: a fresh install).
    pub previous_version: Option<i32>,
    /// The activity table, schema-qualified.
    pub activity_table: String,
    /// True when an existing activity table (e.g. the Python library's) was adopted.
    pub adopted_existing_table: bool,
    /// Tracked tables whose capture functions were regenerated because this library's
    /// trigger templates differ from those they were made with.
    pub regenerated_tables: usize,
}

/// What an existing installation recorded.
pub(crate) struct Installed {
    pub schema_version: i32,
    pub activity_schema: String,
    pub strict_default: bool,
}

impl Installed {
    /// The activity table, schema-qualified and quoted.
    pub fn activity(&self) -> String {
        format!("{}.chrononaut_activity", quote_ident(&self.activity_schema))
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
                })),
                _ => Ok(None),
            }
        }
    }
}

/// Like [`installed`], but an error when chrononaut is absent or newer than this library.
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

/// Columns an existing activity table must have, with their types (Python's layout).
const REQUIRED_COLUMNS: [(&str, &str); 8] = [
    ("id", "bigint"),
    ("table_name", "text"),
    ("changed", "timestamp with time zone"),
    ("version", "integer"),
    ("key", "jsonb"),
    ("data", "jsonb"),
    ("user_info", "jsonb"),
    ("extra_info", "jsonb"),
];

impl Chrononaut {
    /// The DDL that [`Chrononaut::install_with`] runs, for teams that apply migrations with
    /// their own tool. Run it in one transaction.
    pub fn install_sql(&self, options: &InstallOptions) -> String {
        let schema = options.activity_schema.as_deref().unwrap_or("public");
        let values = [
            ("activity_schema_literal", quote_literal(schema)),
            ("activity_schema", quote_ident(schema)),
        ];
        let values: Vec<(&str, &str)> = values.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let mut ddl = sql::fill(sql::INSTALL, &values);
        ddl.push('\n');
        ddl.push_str(&sql::fill(sql::HISTORY_FUNCTIONS, &values));
        ddl.push('\n');
        ddl.push_str(&sql::fill(sql::INTEGRITY_FUNCTIONS, &values));
        ddl.push('\n');
        ddl.push_str(&sql::fill(sql::LOCKING_FUNCTIONS, &values));
        ddl
    }

    /// Installs chrononaut with default options (see [`Chrononaut::install_with`]).
    pub async fn install(&self, conn: &mut PgConnection) -> Result<InstallReport> {
        self.install_with(conn, &InstallOptions::new()).await
    }

    /// Creates or upgrades everything chrononaut needs, idempotently, in one transaction under
    /// an advisory lock (two processes installing at once are safe), and records the schema
    /// version. An existing `chrononaut_activity` table, such as one the Python library created,
    /// is adopted: its rows are kept as they are, the nullable `operation` column is added.
    pub async fn install_with(
        &self,
        conn: &mut PgConnection,
        options: &InstallOptions,
    ) -> Result<InstallReport> {
        let mut tx = conn.begin().await?;
        sqlx::query("SELECT pg_catalog.pg_advisory_xact_lock($1)")
            .bind(ADVISORY_LOCK)
            .execute(&mut *tx)
            .await?;
        let before = installed(&mut tx).await?;
        if let Some(found) = &before {
            if found.schema_version > SCHEMA_VERSION {
                return Err(Error::SchemaTooNew {
                    found: found.schema_version,
                    supported: SCHEMA_VERSION,
                });
            }
            if let Some(wanted) = &options.activity_schema
                && *wanted != found.activity_schema
            {
                return Err(Error::InvalidOptions(format!(
                    "the activity table is already in schema {:?}; moving it to {wanted:?} is not supported",
                    found.activity_schema
                )));
            }
        }
        let schema = options
            .activity_schema
            .clone()
            .or_else(|| before.as_ref().map(|b| b.activity_schema.clone()))
            .unwrap_or_else(|| "public".to_owned());

        let existing: Vec<(String, String)> = sqlx::query_as(sql::ACTIVITY_COLUMNS)
            .bind(&schema)
            .fetch_all(&mut *tx)
            .await?;
        let adopted = before.is_none() && !existing.is_empty();
        if !existing.is_empty() {
            check_activity_columns(&existing)?;
        }

        let ddl = self.install_sql(&InstallOptions::new().activity_schema(schema.clone()));
        sqlx::raw_sql(sqlx::AssertSqlSafe(ddl))
            .execute(&mut *tx)
            .await?;

        // Tables tracked by an older library keep capture functions made from older templates:
        // regenerate them (same options) when the templates changed, or when the database was
        // restored from a dump (the functions hold the tables' old oids).
        let fingerprint = crate::track::capture_fingerprint();
        let recorded: Option<String> = sqlx::query_scalar(
            "SELECT value FROM chrononaut.meta WHERE key = 'capture_fingerprint'",
        )
        .fetch_optional(&mut *tx)
        .await?;
        let restored: bool = sqlx::query_scalar(sql::RESTORED_TABLES)
            .fetch_one(&mut *tx)
            .await?;
        let mut regenerated_tables = 0;
        if restored || recorded.as_deref() != Some(fingerprint.as_str()) {
            let now = require_installed(&mut tx).await?;
            regenerated_tables = crate::track::regenerate(&mut tx, &now, true).await?;
            sqlx::query(
                "INSERT INTO chrononaut.meta (key, value) VALUES ('capture_fingerprint', $1) \
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            )
            .bind(&fingerprint)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(InstallReport {
            schema_version: SCHEMA_VERSION,
            previous_version: before.map(|b| b.schema_version),
            activity_table: format!("{}.chrononaut_activity", quote_ident(&schema)),
            adopted_existing_table: adopted,
            regenerated_tables,
        })
    }
}

fn check_activity_columns(existing: &[(String, String)]) -> Result<()> {
    for (name, wanted) in REQUIRED_COLUMNS {
        match existing.iter().find(|(n, _)| n == name) {
            None => {
                return Err(Error::IncompatibleActivityTable(format!(
                    "column {name} is missing"
                )));
            }
            Some((_, found)) if found != wanted => {
                return Err(Error::IncompatibleActivityTable(format!(
                    "column {name} has type {found}, expected {wanted}"
                )));
            }
            Some(_) => {}
        }
    }
    if let Some((_, found)) = existing.iter().find(|(n, _)| n == "operation")
        && found != "text"
    {
        return Err(Error::IncompatibleActivityTable(format!(
            "column operation has type {found}, expected text"
        )));
    }
    Ok(())
}
