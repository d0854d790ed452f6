//! Tamper evidence: verifying the hash chains of the history, and digests that pin it.
//!
//! Every history row written by the capture functions (and by lock/unlock) carries
//! `prev_hash`, the hash of its record's previous row, and `hash = sha256(prev_hash ||
//! canonical content)` (`chrononaut.chain_hash`, see `sql/integrity/functions.sql`).
//! [`Chrononaut::verify`] recomputes the chains and reports every place where they break.
//! A chain can be rewritten consistently by someone who can write the activity table (a
//! superuser); a [`Digest`] taken earlier and kept elsewhere detects that too.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{PgConnection, Row};

use crate::catalog::{require_installed, resolve};
use crate::error::{Error, Result};
use crate::{Chrononaut, sql};

/// The format tag of digest files.
pub const DIGEST_FORMAT: &str = "chrononaut-digest/1";

/// What is wrong at one place of the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum IssueKind {
    /// The row's content does not match its hash: it was changed.
    Edited,
    /// The row before this one (in the record's history) is gone: deleted, or rewritten
    /// together with its hash.
    Missing,
    /// This row does not follow the row before it: rows were inserted or reordered.
    OutOfOrder,
    /// The row has no hash although earlier rows of the record have one: inserted by hand, or
    /// its hash removed.
    HashRemoved,
    /// The history of a table up to the digest's cut-off differs from the digest.
    DigestMismatch,
}

impl IssueKind {
    fn parse(text: &str) -> Self {
        match text {
            "edited" => Self::Edited,
            "missing" => Self::Missing,
            "out_of_order" => Self::OutOfOrder,
            _ => Self::HashRemoved,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Self::Edited => "content does not match its hash (edited)",
            Self::Missing => "the version before it is missing (deleted or rewritten)",
            Self::OutOfOrder => "does not follow the row before it (rows inserted or reordered)",
            Self::HashRemoved => {
                "has no hash after chained rows (inserted by hand or hash removed)"
            }
            Self::DigestMismatch => "history differs from the digest",
        }
    }
}

/// One broken place.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerifyIssue {
    /// What is wrong.
    pub kind: IssueKind,
    /// The history `table_name`.
    pub table_name: String,
    /// The record's key (`None` for a digest mismatch, which concerns a whole table).
    pub key: Option<Value>,
    /// The version of the row where the chain breaks.
    pub version: Option<i32>,
    /// The `id` of that row (in `chrononaut.lock_events` when `lock_event`).
    pub id: Option<i64>,
    /// Whether the row is a lock or unlock event.
    pub lock_event: bool,
    /// One line for people.
    pub message: String,
}

impl VerifyIssue {
    /// An issue with its one line for people (every backend's verify words it so).
    pub(crate) fn new(
        kind: IssueKind,
        table_name: &str,
        key: Option<Value>,
        version: Option<i32>,
        id: Option<i64>,
        lock_event: bool,
    ) -> Self {
        VerifyIssue {
            kind,
            message: format!(
                "{table_name} {} {}version {}: {}",
                key.as_ref().map(Value::to_string).unwrap_or_default(),
                if lock_event { "lock event at " } else { "" },
                version.map_or_else(|| "?".to_owned(), |v| v.to_string()),
                kind.describe()
            ),
            table_name: table_name.to_owned(),
            key,
            version,
            id,
            lock_event,
        }
    }
}

/// The history of one table, as verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableIntegrity {
    /// The history `table_name`.
    pub table_name: String,
    /// History rows.
    pub rows: i64,
    /// Rows with a hash.
    pub chained: i64,
    /// Rows without (written by the Python library, a conversion or a baseline, or by the
    /// capture of a table tracked with `no_chain`).
    pub unchained: i64,
    /// The table is tracked without a hash chain ([`crate::TrackOptions::no_chain`]): its
    /// new history rows have no hash, and nothing vouches for them.
    pub no_chain: bool,
    /// Lock and unlock events, chained apart from the versions (not counted in `rows`; lock
    /// events written among the versions by releases before schema version 2 are).
    pub lock_events: i64,
}

/// The result of [`Chrononaut::verify`] / [`Chrononaut::verify_digest`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerifyReport {
    /// Per table.
    pub tables: Vec<TableIntegrity>,
    /// Every broken place, by table, key and time.
    pub issues: Vec<VerifyIssue>,
    /// Whether a digest was checked too.
    pub digest_checked: bool,
    /// The recorded prunes ([`Chrononaut::prunes`]): history before each cut was removed on
    /// purpose, by whom and when, with the digest of what was removed. A record whose chain
    /// starts at a prune's checkpoint is not reported as broken.
    pub prunes: Vec<crate::PruneRecord>,
}

impl VerifyReport {
    /// True when no issue was found.
    pub fn is_ok(&self) -> bool {
        self.issues.is_empty()
    }
}

/// The digest of one table's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableDigest {
    /// The history `table_name`.
    pub table_name: String,
    /// History rows covered (id up to the digest's `max_id`).
    pub rows: i64,
    /// sha256 (hex) over the rows' hashes in id order (on SQLite: over the sha256 of each
    /// row's content, so that a seal does not change it).
    pub digest: String,
}

/// A digest of the history: export it ([`Chrononaut::digest`], `chrononaut digest`), keep it
/// where the database's administrators cannot change it, and check it later
/// ([`Chrononaut::verify_digest`], `chrononaut verify --digest FILE`): any change, deletion or
/// insertion among the rows it covers is detected, even one that rewrote the hash chains.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Digest {
    /// [`DIGEST_FORMAT`].
    pub format: String,
    /// The database it was taken from.
    pub database: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// The history `table_name` it covers; `None`: every table.
    pub scope: Option<String>,
    /// The highest history `id` covered.
    pub max_id: i64,
    /// Per table, by name.
    pub tables: Vec<TableDigest>,
    /// sha256 (hex) over the tables' lines (`name`, rows, digest): one value to compare.
    pub overall: String,
}

/// Resolves a user's table name to the history `table_name`; a name that no longer resolves
/// (a dropped table) is taken as the history name itself.
async fn history_name(conn: &mut PgConnection, table: Option<&str>) -> Result<Option<String>> {
    match table {
        None => Ok(None),
        Some(name) => match resolve(conn, name).await {
            Ok(t) => Ok(Some(t.history_name)),
            Err(Error::UnknownTable(_)) => Ok(Some(name.to_owned())),
            Err(e) => Err(e),
        },
    }
}

/// sha256 (hex) over the tables' lines (`name`, rows, digest): the digest's one value.
pub(crate) fn overall(tables: &[TableDigest]) -> String {
    use sha2::{Digest as _, Sha256};
    let lines: String = tables
        .iter()
        .map(|t| format!("{}\t{}\t{}\n", t.table_name, t.rows, t.digest))
        .collect();
    hex(&Sha256::digest(lines.as_bytes()))
}

/// Lower-case hex of bytes (as PostgreSQL's `encode(..., 'hex')` prints them).
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn table_digests(
    conn: &mut PgConnection,
    activity: &str,
    max_id: i64,
    table_name: Option<&str>,
) -> Result<Vec<TableDigest>> {
    let query = sql::fill(sql::DIGEST, &[("activity", activity)])?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(query))
        .bind(max_id)
        .bind(table_name)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(TableDigest {
                table_name: r.try_get("table_name")?,
                rows: r.try_get("total")?,
                digest: r.try_get("digest")?,
            })
        })
        .collect()
}

impl Chrononaut {
    /// Recomputes the hash chains of the history of `table` (`None`: every table) and
    /// reports each place where they break (edited row, missing row, inserted or reordered
    /// rows, removed hash), with table, key and version. Rows without hash that precede a
    /// record's chain (written by the Python library, a conversion or a baseline) are counted
    /// as unchained, not reported.
    ///
    /// On SQLite, whose triggers write no hashes, rows are chained later by
    /// [`Chrononaut::seal`]: verify recomputes those chains, counts the rows written since the
    /// last seal as unchained and reports a row without hash below the last seal's mark as a
    /// removed hash.
    pub async fn verify(
        &self,
        conn: &mut (impl crate::DbConn + ?Sized),
        table: Option<&str>,
    ) -> Result<VerifyReport> {
        let conn = match conn.db() {
            crate::Db::Postgres(conn) => conn,
            crate::Db::Sqlite(conn) => {
                return crate::backend::sqlite_seal::verify(conn, table).await;
            }
        };
        let installed = require_installed(conn).await?;
        let name = history_name(conn, table).await?;
        // (schemas before retention have no chrononaut.prunes)
        let has_prunes: bool =
            sqlx::query_scalar("SELECT pg_catalog.to_regclass('chrononaut.prunes') IS NOT NULL")
                .fetch_one(&mut *conn)
                .await?;
        let prunes = if has_prunes {
            "chrononaut.prunes"
        } else {
            "(SELECT NULL::int8 AS id, NULL::timestamptz AS cut WHERE false)"
        };
        let query = sql::fill(
            sql::VERIFY,
            &[
                ("activity", installed.activity().as_str()),
                ("prunes", prunes),
            ],
        )?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(query))
            .bind(name)
            .fetch_all(&mut *conn)
            .await?;
        let mut report = VerifyReport {
            tables: Vec::new(),
            issues: Vec::new(),
            digest_checked: false,
            prunes: self.prunes(conn).await?,
        };
        for r in &rows {
            let table_name: String = r.try_get("table_name")?;
            let total: i64 = r.try_get("total")?;
            let chained: i64 = r.try_get("chained")?;
            let lock_events: i64 = r.try_get("lock_events")?;
            let no_chain: bool = r.try_get("no_chain")?;
            let issues: Value = r.try_get("issues")?;
            for issue in issues.as_array().into_iter().flatten() {
                let kind = IssueKind::parse(issue["kind"].as_str().unwrap_or_default());
                let version = issue["version"]
                    .as_i64()
                    .and_then(|v| i32::try_from(v).ok());
                report.issues.push(VerifyIssue::new(
                    kind,
                    &table_name,
                    issue.get("key").cloned(),
                    version,
                    issue["id"].as_i64(),
                    issue["lock_event"].as_bool().unwrap_or_default(),
                ));
            }
            report.tables.push(TableIntegrity {
                table_name,
                rows: total,
                chained,
                unchained: total - chained,
                no_chain,
                lock_events,
            });
        }
        Ok(report)
    }

    /// Chains the history rows written since the last seal (SQLite), so that
    /// [`Chrononaut::verify`] can vouch for them: SQLite's capture triggers write no hashes
    /// (every writer must be able to run them, and SQLite has no sha256 of its own). Run it
    /// after writes, or on a schedule; rows not sealed yet are counted as unchained. On
    /// PostgreSQL, whose capture chains each row as it writes it, there is nothing to seal.
    ///
    /// ```no_run
    /// # async fn f(conn: &mut sqlx::SqliteConnection) -> Result<(), chrononaut::Error> {
    /// let ch = chrononaut::Chrononaut::new();
    /// let sealed = ch.seal(conn).await?;
    /// println!("{} row(s) sealed", sealed.sealed);
    /// assert!(ch.verify(conn, None).await?.is_ok());
    /// # Ok(()) }
    /// ```
    pub async fn seal(
        &self,
        conn: &mut (impl crate::DbConn + ?Sized),
    ) -> Result<crate::SealReport> {
        match conn.db() {
            crate::Db::Sqlite(conn) => crate::backend::sqlite_seal::seal(conn).await,
            crate::Db::Postgres(conn) => {
                let installed = require_installed(conn).await?;
                let max: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "SELECT COALESCE(max(id), 0)::int8 FROM {}",
                    installed.activity()
                )))
                .fetch_one(&mut *conn)
                .await?;
                Ok(crate::SealReport {
                    sealed: 0,
                    sealed_through: max,
                })
            }
        }
    }

    /// Takes a digest of the history of `table` (`None`: every table). Waits (up to a minute)
    /// for transactions that were running when it started, so that rows they commit later
    /// with ids below the cut-off are covered too.
    ///
    /// On SQLite a row is digested by its content alone (its seal's hash is left out), so
    /// that sealing the rows a digest covers does not change it.
    pub async fn digest(
        &self,
        conn: &mut (impl crate::DbConn + ?Sized),
        table: Option<&str>,
    ) -> Result<Digest> {
        let conn = match conn.db() {
            crate::Db::Postgres(conn) => conn,
            crate::Db::Sqlite(conn) => {
                return crate::backend::sqlite_seal::digest(conn, table).await;
            }
        };
        let installed = require_installed(conn).await?;
        let activity = installed.activity();
        let name = history_name(conn, table).await?;
        let (snapshot, max_id, database): (String, i64, String) =
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT pg_catalog.pg_current_snapshot()::text, \
                 GREATEST(COALESCE(max(id), 0), \
                          (SELECT COALESCE(max(e.activity_id), 0) FROM chrononaut.lock_events e))::int8, \
                 pg_catalog.current_database()::text FROM {activity}"
            )))
            .fetch_one(&mut *conn)
            .await?;
        let started = Instant::now();
        loop {
            let settled: bool = sqlx::query_scalar(sql::DIGEST_SETTLED)
                .bind(&snapshot)
                .fetch_one(&mut *conn)
                .await?;
            if settled {
                break;
            }
            if started.elapsed() > Duration::from_secs(60) {
                return Err(Error::InvalidDigest(
                    "a transaction open since the digest started has not ended within a minute; \
                     try again later"
                        .into(),
                ));
            }
            // (the library has no runtime of its own to sleep with)
            sqlx::query("SELECT pg_catalog.pg_sleep(0.05)")
                .execute(&mut *conn)
                .await?;
        }
        let tables = table_digests(conn, activity.as_str(), max_id, name.as_deref()).await?;
        let overall = overall(&tables);
        Ok(Digest {
            format: DIGEST_FORMAT.to_owned(),
            database,
            created_at: Utc::now(),
            scope: name,
            max_id,
            tables,
            overall,
        })
    }

    /// [`Chrononaut::verify`] of every table the digest covers, plus a comparison of the
    /// history up to the digest's cut-off with the digest: a table whose rows, or whose
    /// rows' hashes, differ is reported as [`IssueKind::DigestMismatch`].
    pub async fn verify_digest(
        &self,
        conn: &mut (impl crate::DbConn + ?Sized),
        digest: &Digest,
    ) -> Result<VerifyReport> {
        if digest.format != DIGEST_FORMAT {
            return Err(Error::InvalidDigest(format!(
                "unknown format {:?}, expected {DIGEST_FORMAT:?}",
                digest.format
            )));
        }
        let only = digest.scope.as_deref();
        let (mut report, now) = match conn.db() {
            crate::Db::Postgres(conn) => {
                let installed = require_installed(conn).await?;
                let activity = installed.activity();
                let report = self.verify(conn, None).await?;
                let now = table_digests(conn, activity.as_str(), digest.max_id, only).await?;
                (report, now)
            }
            crate::Db::Sqlite(conn) => {
                let report = crate::backend::sqlite_seal::verify(conn, None).await?;
                let now =
                    crate::backend::sqlite_seal::table_digests(conn, digest.max_id, only).await?;
                (report, now)
            }
        };
        if let Some(only) = only {
            report.tables.retain(|t| t.table_name == only);
            report.issues.retain(|i| i.table_name == only);
        }
        report.digest_checked = true;
        compare_digest(&mut report, digest, &now);
        Ok(report)
    }
}

/// Adds a [`IssueKind::DigestMismatch`] to `report` for each table whose history up to the
/// digest's cut-off (`now`, as it stands) differs from the digest, and one when the digest file
/// is inconsistent in itself.
fn compare_digest(report: &mut VerifyReport, digest: &Digest, now: &[TableDigest]) {
    // A prune since the digest removed rows it covers: say so beside each mismatch.
    let pruned = report
        .prunes
        .iter()
        .rfind(|p| p.pruned_at > digest.created_at)
        .map(|p| {
            format!(
                " (history before {} was pruned since the digest was taken: prune {} at {}; \
                     take a new digest after a prune)",
                p.cut.format("%Y-%m-%d %H:%M:%S UTC"),
                p.id,
                p.pruned_at.format("%Y-%m-%d %H:%M:%S UTC")
            )
        })
        .unwrap_or_default();
    let mismatch = |table_name: &str, message: String| VerifyIssue {
        kind: IssueKind::DigestMismatch,
        table_name: table_name.to_owned(),
        key: None,
        version: None,
        id: None,
        lock_event: false,
        message: format!("{message}{pruned}"),
    };
    for then in &digest.tables {
        match now.iter().find(|t| t.table_name == then.table_name) {
            None => report.issues.push(mismatch(
                &then.table_name,
                format!(
                    "{}: the {} history rows the digest covers are gone",
                    then.table_name, then.rows
                ),
            )),
            Some(t) if t.rows != then.rows => report.issues.push(mismatch(
                &then.table_name,
                format!(
                    "{}: {} history rows up to id {} now, {} when the digest was taken",
                    then.table_name, t.rows, digest.max_id, then.rows
                ),
            )),
            Some(t) if t.digest != then.digest => report.issues.push(mismatch(
                &then.table_name,
                format!(
                    "{}: history up to id {} was changed since the digest was taken",
                    then.table_name, digest.max_id
                ),
            )),
            Some(_) => {}
        }
    }
    for t in now {
        if !digest.tables.iter().any(|d| d.table_name == t.table_name) {
            report.issues.push(mismatch(
                &t.table_name,
                format!(
                    "{}: {} history rows up to id {} that the digest does not know",
                    t.table_name, t.rows, digest.max_id
                ),
            ));
        }
    }
    if overall(&digest.tables) != digest.overall {
        report.issues.push(mismatch(
            "",
            "the digest file itself is inconsistent (its overall hash does not match its tables)"
                .into(),
        ));
    }
}
