//! Installing and upgrading chrononaut's schema.

use sqlx::{Acquire, PgConnection};

use crate::catalog::{installed, require_installed};
use crate::error::{Error, Result};
use crate::ident::quote_ident;
use crate::template::{self, Sql};
use crate::{Chrononaut, sql};

/// The schema version this library installs (5: record heads, kept for a partitioned activity
/// table, see `sql/heads/install.sql`).
pub const SCHEMA_VERSION: i32 = 5;

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
    pub fn install_sql(&self, options: &InstallOptions) -> Result<String> {
        let schema = options.activity_schema.as_deref().unwrap_or("public");
        let literal = Sql::literal(schema);
        let ident = Sql::ident(schema);
        let version = Sql::literal(&SCHEMA_VERSION.to_string());
        let values = [
            ("activity_schema_literal", &literal),
            ("activity_schema", &ident),
            ("schema_version", &version),
        ];
        let mut ddl = String::new();
        for template in [
            sql::INSTALL_START,
            sql::DDL_LOCK,
            sql::INSTALL,
            sql::HISTORY_FUNCTIONS,
            sql::INTEGRITY_FUNCTIONS,
            sql::HEADS_INSTALL,
            sql::LOCKING_FUNCTIONS,
            sql::VISIBILITY,
        ] {
            ddl.push_str(template::fill_some(template, &values)?.as_str());
            ddl.push('\n');
        }
        Ok(ddl)
    }

    /// Installs chrononaut with default options (see [`Chrononaut::install_with`]).
    pub async fn install(&self, conn: &mut PgConnection) -> Result<InstallReport> {
        self.install_with(conn, &InstallOptions::new()).await
    }

    /// Creates or upgrades everything chrononaut needs, idempotently, in one transaction under
    /// the lock that serialises chrononaut's DDL (two processes installing at once are safe;
    /// no application role can hold the lock up), and records the schema version. An existing
    /// `chrononaut_activity` table, such as one the Python library created, is adopted: its
    /// rows are kept as they are, the nullable `operation` column is added.
    pub async fn install_with(
        &self,
        conn: &mut PgConnection,
        options: &InstallOptions,
    ) -> Result<InstallReport> {
        // Two first installs at once: the later one's CREATE of the chrononaut schema or its
        // meta table fails when the earlier one commits (see install_start.sql); once more,
        // it finds them and waits on the lock.
        let mut attempt = 0;
        loop {
            attempt += 1;
            let fresh: bool = !sqlx::query_scalar::<_, bool>(sql::META_EXISTS)
                .fetch_one(&mut *conn)
                .await?;
            let mut tx = conn.begin().await?;
            match self.install_in(&mut tx, options).await {
                Err(Error::Database(sqlx::Error::Database(db)))
                    if fresh
                        && attempt < 3
                        && matches!(db.code().as_deref(), Some("23505" | "42P06" | "42P07")) =>
                {
                    tx.rollback().await?;
                }
                Err(e) => return Err(e),
                Ok(report) => {
                    tx.commit().await?;
                    return Ok(report);
                }
            }
        }
    }

    async fn install_in(
        &self,
        tx: &mut PgConnection,
        options: &InstallOptions,
    ) -> Result<InstallReport> {
        sqlx::raw_sql(sql::INSTALL_START).execute(&mut *tx).await?;
        sqlx::query(sql::DDL_LOCK).execute(&mut *tx).await?;
        let before = installed(&mut *tx).await?;
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

        let ddl = self.install_sql(&InstallOptions::new().activity_schema(schema.clone()))?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(ddl))
            .execute(&mut *tx)
            .await?;

        // Tables tracked by an older library (or before a dump and restore) keep the functions
        // they were made with: regenerate those whose DDL this library would make differently.
        let now = require_installed(&mut *tx).await?;
        let regenerated_tables = crate::track::regenerate(&mut *tx, &now).await?;
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
