//! A range-partitioned activity table: the granularity, listing the partitions and keeping
//! them ahead (`sql/partition/*.sql`).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{Acquire, PgConnection, Row};

use crate::Chrononaut;
use crate::catalog::require_installed;
use crate::error::{Error, Result};
use crate::sql;

/// How a partitioned activity table is cut: one partition per UTC month, ISO week (from Monday
/// 00:00 UTC) or UTC day, whatever the sessions' TimeZone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Partitioning {
    /// One partition per UTC calendar month.
    Monthly,
    /// One partition per ISO week, Monday 00:00 UTC to the next Monday.
    Weekly,
    /// One partition per UTC day.
    Daily,
}

impl Partitioning {
    /// The name used on the command line and in `chrononaut.meta`: `monthly`, `weekly`, `daily`.
    pub fn as_str(self) -> &'static str {
        match self {
            Partitioning::Monthly => "monthly",
            Partitioning::Weekly => "weekly",
            Partitioning::Daily => "daily",
        }
    }

    /// date_trunc's unit and the period as an interval, for partition/plan.sql.
    fn unit(self) -> (&'static str, &'static str) {
        match self {
            Partitioning::Monthly => ("month", "1 month"),
            Partitioning::Weekly => ("week", "7 days"),
            Partitioning::Daily => ("day", "1 day"),
        }
    }

    /// How many periods after the current one are kept created when nothing else is said:
    /// 3 months, 4 weeks, 7 days. Maintenance must run at least that often for writes never to
    /// land in the DEFAULT partition (which catches them if it does not).
    pub fn default_ahead(self) -> u32 {
        match self {
            Partitioning::Monthly => 3,
            Partitioning::Weekly => 4,
            Partitioning::Daily => 7,
        }
    }
}

impl std::fmt::Display for Partitioning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Partitioning {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "monthly" => Ok(Partitioning::Monthly),
            "weekly" => Ok(Partitioning::Weekly),
            "daily" => Ok(Partitioning::Daily),
            other => Err(Error::InvalidOptions(format!(
                "unknown partitioning {other:?}: expected monthly, weekly or daily"
            ))),
        }
    }
}

/// One partition of the activity table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Partition {
    /// The partition, schema-qualified and quoted as needed.
    pub name: String,
    /// True for the DEFAULT partition (rows no other partition takes).
    pub is_default: bool,
    /// Start of its range (inclusive); None for the DEFAULT partition.
    pub start: Option<DateTime<Utc>>,
    /// End of its range (exclusive); None for the DEFAULT partition.
    pub end: Option<DateTime<Utc>>,
    /// Its rows, counted exactly.
    pub rows: i64,
}

/// The partitioning of the activity table ([`Chrononaut::partitions`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionStatus {
    /// The granularity chrononaut keeps; None when the activity table is not partitioned by
    /// chrononaut.
    pub partitioning: Option<Partitioning>,
    /// Whether the activity table is a partitioned table at all (it may be one made by hand,
    /// which chrononaut uses but does not maintain).
    pub partitioned: bool,
    /// Periods after the current one that maintenance keeps created.
    pub ahead: u32,
    /// The partitions, oldest first, the DEFAULT partition last.
    pub partitions: Vec<Partition>,
    /// Up to when partitions exist without a gap from now on (the end of the last of them);
    /// None when no partition holds the present (writes land in DEFAULT).
    pub covered_until: Option<DateTime<Utc>>,
    /// Rows in the DEFAULT partition: maintenance moves them into partitions of their own
    /// (`status` warns while there are any).
    pub default_rows: i64,
}

/// A partition created by [`Chrononaut::maintain_partitions`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreatedPartition {
    /// The partition, schema-qualified.
    pub name: String,
    /// Start of its range (inclusive).
    pub start: DateTime<Utc>,
    /// End of its range (exclusive).
    pub end: DateTime<Utc>,
    /// Rows moved into it from the DEFAULT partition.
    pub moved_rows: i64,
}

/// What [`Chrononaut::maintain_partitions`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct MaintainReport {
    /// The partitions created, oldest first.
    pub created: Vec<CreatedPartition>,
    /// Rows moved out of the DEFAULT partition, in all.
    pub moved_rows: i64,
}

/// A partition that converting the activity table would make.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedPartition {
    /// Its name, without schema (`chrononaut_activity_p20261201`).
    pub name: String,
    /// Start of its range (inclusive).
    pub start: DateTime<Utc>,
    /// End of its range (exclusive).
    pub end: DateTime<Utc>,
    /// Rows of the table it would take.
    pub rows: i64,
}

/// What partitioning the existing activity table would do ([`Chrononaut::partition_plan`],
/// `chrononaut init --partition ... --dry-run`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionPlan {
    /// The activity table, schema-qualified and quoted.
    pub activity_table: String,
    /// The granularity asked for.
    pub partitioning: Partitioning,
    /// Periods ahead asked for.
    pub ahead: u32,
    /// True when the table exists unpartitioned and would be converted (copied); false when
    /// the install would make it partitioned from scratch or it is partitioned already.
    pub conversion: bool,
    /// Rows to copy.
    pub rows: i64,
    /// The oldest and newest finite `changed`.
    pub oldest: Option<DateTime<Utc>>,
    /// See `oldest`.
    pub newest: Option<DateTime<Utc>>,
    /// The partitions it would make, oldest first (besides DEFAULT).
    pub partitions: Vec<PlannedPartition>,
    /// Rows with an infinite `changed`, which would go to the DEFAULT partition.
    pub default_rows: i64,
    /// What the conversion locks, and for how long.
    pub locks: String,
}

/// The granularity recorded in `chrononaut.meta`, if any.
pub(crate) async fn recorded(conn: &mut PgConnection) -> Result<Option<(Partitioning, u32)>> {
    let row = sqlx::query(sql::PARTITION_META)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let granularity: Option<String> = row.try_get("partition")?;
    let Some(granularity) = granularity else {
        return Ok(None);
    };
    let ahead: Option<String> = row.try_get("partition_ahead")?;
    let partitioning: Partitioning = granularity.parse()?;
    let ahead = ahead
        .and_then(|a| a.parse::<u32>().ok())
        .unwrap_or_else(|| partitioning.default_ahead());
    Ok(Some((partitioning, ahead)))
}

/// Runs `chrononaut.maintain_partitions()` in the caller's transaction.
pub(crate) async fn maintain_in(conn: &mut PgConnection) -> Result<MaintainReport> {
    let exists: bool = sqlx::query_scalar(sql::PARTITION_FUNCTIONS_EXIST)
        .fetch_one(&mut *conn)
        .await?;
    if !exists {
        return Ok(MaintainReport::default());
    }
    let rows = sqlx::query(sql::PARTITION_MAINTAIN)
        .fetch_all(&mut *conn)
        .await?;
    let mut report = MaintainReport::default();
    for r in rows {
        let created = CreatedPartition {
            name: r.try_get("partition_name")?,
            start: r.try_get("range_start")?,
            end: r.try_get("range_end")?,
            moved_rows: r.try_get("moved_rows")?,
        };
        report.moved_rows += created.moved_rows;
        report.created.push(created);
    }
    Ok(report)
}

/// Whether the current role may maintain the partitions (it owns the activity table).
pub(crate) async fn may_maintain(conn: &mut PgConnection) -> Result<bool> {
    let exists: bool = sqlx::query_scalar(sql::PARTITION_FUNCTIONS_EXIST)
        .fetch_one(&mut *conn)
        .await?;
    if !exists {
        return Ok(false);
    }
    Ok(sqlx::query_scalar(sql::PARTITION_MAY_MAINTAIN)
        .fetch_one(&mut *conn)
        .await?)
}

/// Maintains the partitions when the activity table is partitioned by chrononaut and the
/// current role may (for `track` and the like, which must not fail on that account).
pub(crate) async fn maintain_if_possible(
    conn: &mut PgConnection,
) -> Result<Option<MaintainReport>> {
    if recorded(&mut *conn).await?.is_none() || !may_maintain(&mut *conn).await? {
        return Ok(None);
    }
    let mut tx = conn.begin().await?;
    let report = maintain_in(&mut tx).await?;
    tx.commit().await?;
    Ok(Some(report))
}

impl Chrononaut {
    /// The partitioning of the activity table: its granularity, its partitions with their row
    /// counts (exact: one pass over the history), how far ahead partitions exist and the rows
    /// in the DEFAULT partition. An unpartitioned activity table gives `partitioned: false` and
    /// no partitions.
    pub async fn partitions(&self, conn: &mut PgConnection) -> Result<PartitionStatus> {
        let installed = require_installed(&mut *conn).await?;
        let recorded = recorded(&mut *conn).await?;
        let activity = installed.activity();
        let partitioned: Option<bool> = sqlx::query_scalar(sql::PARTITION_IS_PARTITIONED)
            .bind(activity.as_str())
            .fetch_optional(&mut *conn)
            .await?
            .flatten();
        let partitioned = partitioned == Some(true);
        let mut partitions = Vec::new();
        if partitioned {
            let list = sql::fill(sql::PARTITION_LIST, &[("activity", activity.as_str())])?;
            let rows = sqlx::query(sqlx::AssertSqlSafe(list))
                .bind(activity.as_str())
                .fetch_all(&mut *conn)
                .await?;
            for r in rows {
                partitions.push(Partition {
                    name: r.try_get("name")?,
                    is_default: r.try_get("is_default")?,
                    start: r.try_get("range_start")?,
                    end: r.try_get("range_end")?,
                    rows: r.try_get("rows")?,
                });
            }
        }
        let now = Utc::now();
        let mut covered_until = None;
        if let Some(current) = partitions
            .iter()
            .find(|p| p.start.is_some_and(|s| s <= now) && p.end.is_some_and(|e| now < e))
        {
            let mut end = current.end;
            while let Some(next) = partitions
                .iter()
                .find(|p| p.start.is_some() && p.start == end)
            {
                end = next.end;
            }
            covered_until = end;
        }
        let default_rows = partitions
            .iter()
            .filter(|p| p.is_default)
            .map(|p| p.rows)
            .sum();
        Ok(PartitionStatus {
            partitioning: recorded.map(|(p, _)| p),
            partitioned,
            ahead: recorded.map_or(0, |(_, a)| a),
            partitions,
            covered_until,
            default_rows,
        })
    }

    /// What `install_with(InstallOptions::new().partition(partitioning))` would do to the
    /// activity table, without doing it: for an unpartitioned table with history, the rows to
    /// copy and the partitions to make (one per period that holds rows, the current one and
    /// `ahead` after it). Reads the table once and locks nothing beyond that read.
    pub async fn partition_plan(
        &self,
        conn: &mut PgConnection,
        partitioning: Partitioning,
        ahead: Option<u32>,
    ) -> Result<PartitionPlan> {
        let installed = require_installed(&mut *conn).await?;
        let activity = installed.activity();
        let ahead = ahead.unwrap_or_else(|| partitioning.default_ahead());
        let state: Option<bool> = sqlx::query_scalar(sql::PARTITION_IS_PARTITIONED)
            .bind(activity.as_str())
            .fetch_optional(&mut *conn)
            .await?
            .flatten();
        let mut plan = PartitionPlan {
            activity_table: format!(
                "{}.chrononaut_activity",
                crate::ident::quote_ident(&installed.activity_schema)
            ),
            partitioning,
            ahead,
            conversion: state == Some(false),
            rows: 0,
            oldest: None,
            newest: None,
            partitions: Vec::new(),
            default_rows: 0,
            locks: String::new(),
        };
        if !plan.conversion {
            plan.locks = "nothing to convert: the activity table is partitioned already or is made partitioned".into();
            return Ok(plan);
        }
        let values = [("activity", activity.as_str())];
        let totals = sqlx::query(sqlx::AssertSqlSafe(sql::fill(
            sql::PARTITION_PLAN_TOTALS,
            &values,
        )?))
        .fetch_one(&mut *conn)
        .await?;
        plan.rows = totals.try_get("rows")?;
        plan.oldest = totals.try_get("oldest")?;
        plan.newest = totals.try_get("newest")?;
        plan.default_rows = totals.try_get("infinite")?;
        let (unit, step) = partitioning.unit();
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql::fill(
            sql::PARTITION_PLAN,
            &values,
        )?))
        .bind(unit)
        .bind(step)
        .bind(i32::try_from(ahead).unwrap_or(i32::MAX))
        .fetch_all(&mut *conn)
        .await?;
        for r in rows {
            let start: DateTime<Utc> = r.try_get("range_start")?;
            plan.partitions.push(PlannedPartition {
                name: format!("chrononaut_activity_p{}", start.format("%Y%m%d")),
                start,
                end: r.try_get("range_end")?,
                rows: r.try_get("rows")?,
            });
        }
        plan.locks = format!(
            "ACCESS EXCLUSIVE on {} from the start of the copy to the commit: history reads and \
             the writes of every tracked table wait meanwhile",
            plan.activity_table
        );
        Ok(plan)
    }

    /// Keeps a partitioned activity table's partitions: creates the DEFAULT partition and the
    /// partitions of the current period and the configured number after it where missing,
    /// and moves the rows that landed in the DEFAULT partition into partitions of their own
    /// periods (same id, same time, every column; rows with an infinite time stay). In one
    /// transaction; it blocks history reads and writes only while it creates partitions.
    ///
    /// Only the owner of the activity table (the role that installed chrononaut) may run it:
    /// anyone else gets [`Error::PermissionDenied`]. An activity table that chrononaut did not
    /// partition is left alone (an empty report). Run it at least once per period, e.g.
    /// `SELECT chrononaut.maintain_partitions()` from pg_cron, or `chrononaut partitions
    /// --maintain` from cron.
    pub async fn maintain_partitions(&self, conn: &mut PgConnection) -> Result<MaintainReport> {
        require_installed(&mut *conn).await?;
        let mut tx = conn.begin().await?;
        let report = maintain_in(&mut tx).await?;
        tx.commit().await?;
        // DEFAULT's indexes keep the moved rows' entries: rebuilt now that they are gone
        if report.moved_rows > 0 {
            sqlx::raw_sql(sql::PARTITION_REINDEX_DEFAULT)
                .execute(&mut *conn)
                .await?;
        }
        Ok(report)
    }
}
