//! Installing and upgrading chrononaut's schema.

use sqlx::{Acquire, PgConnection};

use crate::catalog::{installed, require_installed};
use crate::error::{Error, Result};
use crate::ident::quote_ident;
use crate::partition::{self, CreatedPartition, Partitioning};
use crate::template::{self, Sql};
use crate::{Chrononaut, sql};

/// The schema version this library installs (5: record heads, kept for a partitioned activity
/// table, see `sql/heads/install.sql`).
pub const SCHEMA_VERSION: i32 = 5;

/// Options of [`Chrononaut::install_with`].
#[derive(Debug, Clone, Default)]
pub struct InstallOptions {
    activity_schema: Option<String>,
    partition: Option<Partitioning>,
    partitions_ahead: Option<u32>,
}

/// The most periods ahead that [`InstallOptions::partitions_ahead`] accepts.
pub const MAX_PARTITIONS_AHEAD: u32 = 400;

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

    /// Makes the activity table range-partitioned on `changed`, one partition per UTC month,
    /// week or day, with a DEFAULT partition that catches every row no other partition takes
    /// (see [`Chrononaut::maintain_partitions`], which keeps the partitions ahead and is run at
    /// the end of the install). On a fresh install the table is made so; an activity table that
    /// exists unpartitioned is converted in the install's transaction (every row copied with
    /// its id, the sequence, grants, indexes, trigger and policies kept; it blocks history
    /// reads and writes meanwhile: see [`Chrononaut::partition_plan`] for what it would do).
    /// On an install already partitioned the same way it changes nothing (but
    /// [`InstallOptions::partitions_ahead`]); another granularity, or an activity table
    /// partitioned by hand, is refused.
    pub fn partition(mut self, partitioning: Partitioning) -> Self {
        self.partition = Some(partitioning);
        self
    }

    /// How many periods after the current one to keep created (default:
    /// [`Partitioning::default_ahead`]; at most [`MAX_PARTITIONS_AHEAD`]). Only with
    /// [`InstallOptions::partition`].
    pub fn partitions_ahead(mut self, periods: u32) -> Self {
        self.partitions_ahead = Some(periods);
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
    /// How the activity table is partitioned by chrononaut (None: not partitioned).
    pub partitioning: Option<Partitioning>,
    /// Partitions created by this install's maintenance run.
    pub partitions_created: Vec<CreatedPartition>,
    /// Rows copied when this install converted an unpartitioned activity table into a
    /// partitioned one (None: no conversion).
    pub converted_rows: Option<i64>,
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
        let partitioned = options.partition.is_some();
        for template in [
            Some(sql::INSTALL_START),
            Some(sql::DDL_LOCK),
            partitioned.then_some(sql::PARTITION_CREATE),
            Some(sql::INSTALL),
            Some(sql::HISTORY_FUNCTIONS),
            Some(sql::INTEGRITY_FUNCTIONS),
            Some(sql::HEADS_INSTALL),
            Some(sql::PRUNE_FUNCTIONS),
            Some(sql::LOCKING_FUNCTIONS),
            Some(sql::VISIBILITY),
            Some(sql::PARTITION_FUNCTIONS),
            partitioned.then_some(sql::PARTITION_MAINTAIN),
        ]
        .into_iter()
        .flatten()
        {
            if template == sql::PARTITION_CREATE {
                ddl.push_str(partition_create(options, &schema_of(options), None)?.as_str());
            } else {
                ddl.push_str(template::fill_some(template, &values)?.as_str());
            }
            if template == sql::PARTITION_MAINTAIN {
                ddl.push(';');
            }
            ddl.push('\n');
        }
        Ok(ddl)
    }

    /// Installs chrononaut with default options (see [`Chrononaut::install_with`]).
    pub async fn install(&self, conn: &mut (impl crate::DbConn + ?Sized)) -> Result<InstallReport> {
        let conn = match conn.db() {
            crate::Db::Postgres(conn) => conn,
            crate::Db::Sqlite(conn) => return crate::backend::sqlite::install(conn).await,
        };
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
        if options.partitions_ahead.is_some() && options.partition.is_none() {
            return Err(Error::InvalidOptions(
                "partitions ahead is an option of a partitioned install: give the partitioning too"
                    .into(),
            ));
        }
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

        // A partitioned activity table is made before install.sql, which then finds it.
        let activity = Sql::qualified(&schema, "chrononaut_activity");
        let state: Option<bool> = sqlx::query_scalar(sql::PARTITION_IS_PARTITIONED)
            .bind(activity.as_str())
            .fetch_optional(&mut *tx)
            .await?
            .flatten();
        let recorded = partition::recorded(&mut *tx).await?;
        if let Some(wanted) = options.partition {
            match (state, recorded) {
                (None, _) => {}
                (Some(true), Some((found, _))) if found == wanted => {}
                (Some(true), Some((found, _))) => {
                    return Err(Error::InvalidOptions(format!(
                        "the activity table is already partitioned {found}; changing it to {wanted} is not supported"
                    )));
                }
                (Some(true), None) => {
                    return Err(Error::InvalidOptions(
                        "the activity table is a partitioned table that chrononaut did not make; \
                         chrononaut uses it as it is but does not maintain its partitions"
                            .into(),
                    ));
                }
                // converted below, once the install's functions exist
                (Some(false), _) => {}
            }
            if state != Some(false) {
                let ahead = recorded.map(|(_, a)| a);
                let create = partition_create(options, &schema, ahead)?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(create.into_string()))
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let partitioning = options.partition.or(recorded.map(|(p, _)| p));

        let ddl = self.install_sql(&InstallOptions::new().activity_schema(schema.clone()))?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(ddl.clone()))
            .execute(&mut *tx)
            .await?;

        // An unpartitioned activity table to partition: copy it into a partitioned one and
        // swap them (partition/convert.sql), then give the new table what the install gives.
        let mut converted_rows = None;
        if options.partition.is_some() && state == Some(false) {
            let convert = partition_convert(options, &schema)?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(convert.into_string()))
                .execute(&mut *tx)
                .await?;
            let create = partition_create(options, &schema, None)?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(create.into_string()))
                .execute(&mut *tx)
                .await?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(ddl))
                .execute(&mut *tx)
                .await?;
            let rows: String = sqlx::query_scalar(sql::PARTITION_CONVERTED_ROWS)
                .fetch_one(&mut *tx)
                .await?;
            converted_rows = Some(
                rows.parse::<i64>()
                    .map_err(|e| Error::Internal(format!("converted rows {rows:?}: {e}")))?,
            );
        }

        // Tables tracked by an older library (or before a dump and restore) keep the functions
        // they were made with: regenerate those whose DDL this library would make differently.
        let now = require_installed(&mut *tx).await?;
        let regenerated_tables = crate::track::regenerate(&mut *tx, &now).await?;
        let mut partitions_created = Vec::new();
        if partitioning.is_some() && partition::may_maintain(&mut *tx).await? {
            partitions_created = partition::maintain_in(&mut *tx).await?.created;
        }
        Ok(InstallReport {
            schema_version: SCHEMA_VERSION,
            previous_version: before.map(|b| b.schema_version),
            activity_table: format!("{}.chrononaut_activity", quote_ident(&schema)),
            adopted_existing_table: adopted,
            regenerated_tables,
            partitioning,
            partitions_created,
            converted_rows,
        })
    }
}

fn schema_of(options: &InstallOptions) -> String {
    options
        .activity_schema
        .clone()
        .unwrap_or_else(|| "public".to_owned())
}

/// partition/convert.sql for `options` (which name a partitioning) in `schema`.
fn partition_convert(options: &InstallOptions, schema: &str) -> Result<Sql> {
    let Some(partitioning) = options.partition else {
        return Err(Error::Internal(
            "partition_convert without a partitioning".into(),
        ));
    };
    let ahead = ahead_of(options, partitioning, None)?;
    template::fill(
        sql::PARTITION_CONVERT,
        &[
            ("activity_schema_literal", &Sql::literal(schema)),
            ("partition", &Sql::literal(partitioning.as_str())),
            ("partition_ahead", &Sql::literal(&ahead.to_string())),
        ],
    )
}

/// The periods ahead that `options` ask for (else what was recorded, else the default).
fn ahead_of(
    options: &InstallOptions,
    partitioning: Partitioning,
    recorded_ahead: Option<u32>,
) -> Result<u32> {
    let ahead = options
        .partitions_ahead
        .or(recorded_ahead)
        .unwrap_or_else(|| partitioning.default_ahead());
    if ahead > MAX_PARTITIONS_AHEAD {
        return Err(Error::InvalidOptions(format!(
            "partitions ahead: {ahead} is more than {MAX_PARTITIONS_AHEAD}"
        )));
    }
    Ok(ahead)
}

/// partition/create.sql for `options` (which name a partitioning) in `schema`; `recorded_ahead`
/// is what an earlier install recorded, kept unless the options say otherwise.
fn partition_create(
    options: &InstallOptions,
    schema: &str,
    recorded_ahead: Option<u32>,
) -> Result<Sql> {
    let Some(partitioning) = options.partition else {
        return Err(Error::Internal(
            "partition_create without a partitioning".into(),
        ));
    };
    let ahead = ahead_of(options, partitioning, recorded_ahead)?;
    let ident = Sql::ident(schema);
    let granularity = Sql::literal(partitioning.as_str());
    let ahead = Sql::literal(&ahead.to_string());
    template::fill(
        sql::PARTITION_CREATE,
        &[
            ("activity_schema", &ident),
            ("partition", &granularity),
            ("partition_ahead", &ahead),
        ],
    )
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
