//! Retention: pruning history older than a time, by whole partitions, with an optional archive
//! of what is removed (`sql/prune/functions.sql` has the rules).
//!
//! A prune runs in one transaction: the partitions to drop are locked against writes, their
//! rows are read in id order (each row one JSON line; the digest is sha256 over the lines) and,
//! with an archive, written to one gzip-compressed JSON Lines file per partition plus a
//! manifest, flushed to disk; only then are checkpoints written, the prune recorded and the
//! partitions detached and dropped. Whatever fails before the commit (the archive's disk, the
//! connection, a kill) leaves the history as it was.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use sqlx::{Acquire, PgConnection, Row};

use crate::catalog::require_current;
use crate::error::{Error, Result};
use crate::{Chrononaut, sql};

/// The format name written into every archive manifest.
pub const ARCHIVE_FORMAT: &str = "chrononaut-archive-1";
/// The manifest's file name in an archive directory.
pub const MANIFEST: &str = "manifest.json";

/// Options of [`Chrononaut::prune`].
#[derive(Debug, Clone, Default)]
pub struct PruneOptions {
    dry_run: bool,
    archive: Option<PathBuf>,
}

impl PruneOptions {
    /// Prune for real, without an archive.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only say what would be pruned (counts rows; changes and writes nothing).
    pub fn dry_run(mut self, yes: bool) -> Self {
        self.dry_run = yes;
        self
    }

    /// First write the removed history to `dir` (created if missing; it must not hold an
    /// archive already): one `<partition>.jsonl.gz` per partition and `manifest.json`.
    pub fn archive(mut self, dir: impl Into<PathBuf>) -> Self {
        self.archive = Some(dir.into());
        self
    }
}

/// One partition a prune removed (or would remove).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrunedPartition {
    /// The partition, as PostgreSQL names it (schema-qualified where needed).
    pub partition: String,
    /// Its range of `changed`: from (inclusive) ...
    pub lower: DateTime<Utc>,
    /// ... to (exclusive).
    pub upper: DateTime<Utc>,
    /// Its history rows.
    pub rows: i64,
    /// sha256 (hex) of its rows' JSON lines (not computed by a dry run).
    pub sha256: Option<String>,
    /// Its file in the archive, when archived.
    pub file: Option<String>,
}

/// What [`Chrononaut::prune`] did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Serialize)]
pub struct PruneReport {
    /// The time asked for.
    pub before: DateTime<Utc>,
    /// The cut: the upper bound of the newest partition removed (at or before `before`);
    /// `None` when no partition lies wholly before `before`.
    pub cut: Option<DateTime<Utc>>,
    /// The partitions, oldest first.
    pub partitions: Vec<PrunedPartition>,
    /// History rows removed.
    pub rows: i64,
    /// Records whose latest row before the cut was carried to the cut as a checkpoint.
    pub checkpoints: i64,
    /// sha256 (hex) over every removed row's JSON line, oldest partition first (not computed
    /// by a dry run).
    pub digest: Option<String>,
    /// The prune's id in `chrononaut.prunes`.
    pub prune_id: Option<i64>,
    /// The archive directory, when archived.
    pub archive: Option<PathBuf>,
    /// Nothing was changed.
    pub dry_run: bool,
}

/// A recorded prune (`chrononaut.prunes`), as [`Chrononaut::verify`] reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PruneRecord {
    /// Its id.
    pub id: i64,
    /// When.
    pub pruned_at: DateTime<Utc>,
    /// The login role that pruned.
    pub pruned_by: String,
    /// The time asked for.
    pub before: DateTime<Utc>,
    /// The cut (history before it is gone, but for the checkpoints).
    pub cut: DateTime<Utc>,
    /// The partitions dropped.
    pub partitions: Vec<String>,
    /// Rows removed.
    pub rows: i64,
    /// Checkpoints written.
    pub checkpoints: i64,
    /// sha256 (hex) of the removed rows (see [`PruneReport::digest`]).
    pub digest: String,
    /// Where they were archived, if they were.
    pub archive: Option<String>,
}

/// The manifest of an archive directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveManifest {
    /// [`ARCHIVE_FORMAT`].
    pub format: String,
    /// The database it came from.
    pub database: String,
    /// The prune that removed these rows.
    pub prune_id: i64,
    /// The time asked for.
    pub before: DateTime<Utc>,
    /// The cut.
    pub cut: DateTime<Utc>,
    /// One file per partition, oldest first.
    pub partitions: Vec<PrunedPartition>,
    /// Rows in all files.
    pub rows: i64,
    /// sha256 (hex) over every row's line, in file order: the prune's recorded digest.
    pub digest: String,
}

/// What [`Chrononaut::verify_archive`] found.
#[derive(Debug, Clone, Serialize)]
pub struct ArchiveReport {
    /// The manifest read.
    pub manifest: ArchiveManifest,
    /// Every difference found (files against the manifest, the manifest against the
    /// database's record of the prune); empty when the archive is intact.
    pub problems: Vec<String>,
}

impl ArchiveReport {
    /// True when nothing differs.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Creates a new archive file that only its owner may read (it holds every recorded column
/// of the history, outside the database's row-level security); never overwrites one.
fn create_private(path: &Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Creates the archive directory (and its parents) as only its owner may enter it.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::Archive(format!("{what} {}: {e}", path.display()))
}

/// The archive file name of a partition: its lower bound, so that it needs no quoting.
fn file_name(lower: &DateTime<Utc>) -> String {
    format!("history-{}.jsonl.gz", lower.format("%Y%m%dT%H%M%SZ"))
}

impl Chrononaut {
    /// Removes the history older than `before` from a partitioned activity table, by
    /// detaching and dropping every partition that lies wholly before it (never row by row),
    /// after carrying each record's latest row before the cut into the kept range as a
    /// checkpoint, so that reads at or after the cut (`as_of`, `version_at`, `log`) answer as
    /// before and `verify` finds the chains intact, starting at a recorded prune. Only members
    /// of `chrononaut_admin` (and chrononaut's owner) may prune; every prune is recorded in
    /// `chrononaut.prunes` ([`Chrononaut::prunes`]).
    ///
    /// With [`PruneOptions::archive`] the removed rows are first written to files (see
    /// [`Chrononaut::verify_archive`]); if that fails nothing is pruned. Runs in one
    /// transaction: history writes wait only at the end, while the checkpoints are written
    /// and the partitions detached.
    ///
    /// ```no_run
    /// # async fn f(conn: &mut sqlx::PgConnection) -> Result<(), chrononaut::Error> {
    /// use chrononaut::{Chrononaut, PruneOptions};
    /// let before = chrono::Utc::now() - chrono::Duration::days(400);
    /// let report = Chrononaut::new()
    ///     .prune(conn, before, &PruneOptions::new().archive("/backups/history-2025"))
    ///     .await?;
    /// println!("{} rows removed, {} checkpoints", report.rows, report.checkpoints);
    /// # Ok(()) }
    /// ```
    pub async fn prune(
        &self,
        conn: &mut PgConnection,
        before: DateTime<Utc>,
        options: &PruneOptions,
    ) -> Result<PruneReport> {
        let installed = require_current(conn).await?;
        let activity = installed.activity();
        if let Some(dir) = &options.archive
            && !options.dry_run
        {
            create_private_dir(dir).map_err(|e| io_error("cannot create", dir, e))?;
            if dir.join(MANIFEST).exists() {
                return Err(Error::Archive(format!(
                    "{} already holds an archive; choose an empty directory",
                    dir.display()
                )));
            }
        }
        let mut tx = conn.begin().await?;
        let plan: Vec<(String, DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(sql::PRUNE_PLAN)
            .bind(before)
            .fetch_all(&mut *tx)
            .await?;
        let mut report = PruneReport {
            before,
            cut: plan.iter().map(|p| p.2).max(),
            partitions: Vec::new(),
            rows: 0,
            checkpoints: 0,
            digest: None,
            prune_id: None,
            archive: options.archive.clone().filter(|_| !options.dry_run),
            dry_run: options.dry_run,
        };
        if plan.is_empty() {
            return Ok(report);
        }
        if options.dry_run {
            for (partition, lower, upper) in plan {
                let rows: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql::fill(
                    sql::PRUNE_COUNT,
                    &[("activity", activity.as_str())],
                )?))
                .bind(lower)
                .bind(upper)
                .fetch_one(&mut *tx)
                .await?;
                report.rows += rows;
                report.partitions.push(PrunedPartition {
                    partition,
                    lower,
                    upper,
                    rows,
                    sha256: None,
                    file: None,
                });
            }
            report.checkpoints = sqlx::query_scalar(sqlx::AssertSqlSafe(sql::fill(
                sql::PRUNE_CHECKPOINTS_COUNT,
                &[("activity", activity.as_str())],
            )?))
            .bind(report.cut)
            .fetch_one(&mut *tx)
            .await?;
            tx.rollback().await?;
            return Ok(report);
        }

        // Read (and archive) every row of the partitions, in id order.
        let rows_query = sql::fill(sql::PRUNE_ROWS, &[("activity", activity.as_str())])?;
        let mut all = Sha256::new();
        for (partition, lower, upper) in plan {
            let file = options.archive.as_ref().map(|_| file_name(&lower));
            let mut writer = match (&options.archive, &file) {
                (Some(dir), Some(name)) => {
                    let path = dir.join(name);
                    let f =
                        create_private(&path).map_err(|e| io_error("cannot create", &path, e))?;
                    Some((
                        path,
                        BufWriter::new(flate2::write::GzEncoder::new(
                            f,
                            flate2::Compression::default(),
                        )),
                    ))
                }
                _ => None,
            };
            let mut own = Sha256::new();
            let mut rows = 0i64;
            {
                let mut stream = sqlx::query(sqlx::AssertSqlSafe(rows_query.clone()))
                    .bind(lower)
                    .bind(upper)
                    .fetch(&mut *tx);
                while let Some(row) = stream.try_next().await? {
                    let mut line: String = row.try_get("line")?;
                    line.push('\n');
                    own.update(line.as_bytes());
                    all.update(line.as_bytes());
                    rows += 1;
                    if let Some((path, w)) = writer.as_mut() {
                        w.write_all(line.as_bytes())
                            .map_err(|e| io_error("cannot write", path, e))?;
                    }
                }
            }
            if let Some((path, w)) = writer {
                let gz = w
                    .into_inner()
                    .map_err(|e| io_error("cannot write", &path, e.into_error()))?;
                let f = gz
                    .finish()
                    .map_err(|e| io_error("cannot write", &path, e))?;
                f.sync_all()
                    .map_err(|e| io_error("cannot sync", &path, e))?;
            }
            report.rows += rows;
            report.partitions.push(PrunedPartition {
                partition,
                lower,
                upper,
                rows,
                sha256: Some(hex(&own.finalize())),
                file,
            });
        }
        let digest = hex(&all.finalize());
        let names: Vec<String> = report
            .partitions
            .iter()
            .map(|p| p.partition.clone())
            .collect();
        let archive_text = options
            .archive
            .as_ref()
            .map(|d| std::path::absolute(d).unwrap_or_else(|_| d.clone()))
            .map(|d| d.display().to_string());
        let applied = sqlx::query(sql::PRUNE_APPLY)
            .bind(before)
            .bind(&names)
            .bind(report.rows)
            .bind(&digest)
            .bind(&archive_text)
            .fetch_one(&mut *tx)
            .await?;
        let prune_id: i64 = applied.try_get("prune_id")?;
        report.checkpoints = applied.try_get("checkpoints")?;
        report.cut = applied.try_get("cut")?;
        report.prune_id = Some(prune_id);
        report.digest = Some(digest.clone());
        if let (Some(dir), Some(cut)) = (&options.archive, report.cut) {
            let database: String = sqlx::query_scalar("SELECT pg_catalog.current_database()::text")
                .fetch_one(&mut *tx)
                .await?;
            let manifest = ArchiveManifest {
                format: ARCHIVE_FORMAT.to_owned(),
                database,
                prune_id,
                before,
                cut,
                partitions: report.partitions.clone(),
                rows: report.rows,
                digest,
            };
            let path = dir.join(MANIFEST);
            let text = serde_json::to_string_pretty(&manifest)
                .map_err(|e| Error::Internal(format!("manifest: {e}")))?;
            let mut f = create_private(&path).map_err(|e| io_error("cannot create", &path, e))?;
            f.write_all(format!("{text}\n").as_bytes())
                .and_then(|()| f.sync_all())
                .map_err(|e| io_error("cannot write", &path, e))?;
            // the directory's entries too, before anything is dropped
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| io_error("cannot sync", dir, e))?;
        }
        tx.commit().await?;
        Ok(report)
    }

    /// The time before which the tracked tables' retention policies
    /// ([`TrackOptions::keep`](crate::TrackOptions::keep)) let history go: now minus the
    /// longest policy, since a partition holds the history of every table. An error
    /// ([`Error::InvalidOptions`]) when no table is tracked or one keeps its history forever.
    pub async fn retention_cut(&self, conn: &mut PgConnection) -> Result<DateTime<Utc>> {
        let rows = sqlx::query(sql::PRUNE_POLICY).fetch_all(&mut *conn).await?;
        let mut longest: Option<(i32, String)> = None;
        let mut now: Option<DateTime<Utc>> = None;
        for r in &rows {
            let table: String = r.try_get("qualified")?;
            now = Some(r.try_get("now")?);
            let Some(days) = r.try_get::<Option<i32>, _>("keep_days")? else {
                return Err(Error::InvalidOptions(format!(
                    "{table} keeps its history forever: pruning by policy needs a retention for every \
                     tracked table (`chrononaut track {table} --keep 400d`), or give --before"
                )));
            };
            if longest.as_ref().is_none_or(|(d, _)| days > *d) {
                longest = Some((days, table));
            }
        }
        match (longest, now) {
            (Some((days, _)), Some(now)) => Ok(now - chrono::Duration::days(i64::from(days))),
            _ => Err(Error::InvalidOptions(
                "no table is tracked: there is no retention policy to prune by; give --before"
                    .into(),
            )),
        }
    }

    /// [`Chrononaut::prune`] before [`Chrononaut::retention_cut`]: what every tracked table's
    /// retention policy lets go.
    pub async fn prune_by_policy(
        &self,
        conn: &mut PgConnection,
        options: &PruneOptions,
    ) -> Result<PruneReport> {
        let before = self.retention_cut(conn).await?;
        self.prune(conn, before, options).await
    }

    /// Every recorded prune, oldest first (empty before any prune, or on a schema without
    /// prunes).
    pub async fn prunes(&self, conn: &mut PgConnection) -> Result<Vec<PruneRecord>> {
        let exists: bool =
            sqlx::query_scalar("SELECT pg_catalog.to_regclass('chrononaut.prunes') IS NOT NULL")
                .fetch_one(&mut *conn)
                .await?;
        if !exists {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(sql::PRUNE_LIST).fetch_all(&mut *conn).await?;
        rows.iter()
            .map(|r| {
                Ok(PruneRecord {
                    id: r.try_get("id")?,
                    pruned_at: r.try_get("pruned_at")?,
                    pruned_by: r.try_get("pruned_by")?,
                    before: r.try_get("before")?,
                    cut: r.try_get("cut")?,
                    partitions: r.try_get("partitions")?,
                    rows: r.try_get("rows")?,
                    checkpoints: r.try_get("checkpoints")?,
                    digest: r.try_get("digest")?,
                    archive: r.try_get("archive")?,
                })
            })
            .collect()
    }

    /// Checks an archive directory written by [`Chrononaut::prune`]: every file's rows and
    /// sha256 against the manifest, the overall digest, and the manifest against the prune
    /// recorded in this database (`conn`; `None`: the files only).
    pub async fn verify_archive(
        &self,
        conn: Option<&mut PgConnection>,
        dir: &Path,
    ) -> Result<ArchiveReport> {
        let path = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&path).map_err(|e| io_error("cannot read", &path, e))?;
        let manifest: ArchiveManifest = serde_json::from_str(&text).map_err(|e| {
            Error::Archive(format!(
                "{} is not an archive manifest: {e}",
                path.display()
            ))
        })?;
        if manifest.format != ARCHIVE_FORMAT {
            return Err(Error::Archive(format!(
                "unknown archive format {:?}, expected {ARCHIVE_FORMAT:?}",
                manifest.format
            )));
        }
        let mut problems = Vec::new();
        let mut all = Sha256::new();
        let mut total = 0i64;
        for p in &manifest.partitions {
            let Some(name) = &p.file else {
                problems.push(format!("{}: no file named in the manifest", p.partition));
                continue;
            };
            // only plain names: a manifest must not point outside its directory
            if name.contains('/') || name.contains('\\') || name.starts_with('.') {
                problems.push(format!("{name}: not a file name of this archive"));
                continue;
            }
            let file_path = dir.join(name);
            let f = match File::open(&file_path) {
                Ok(f) => f,
                Err(e) => {
                    problems.push(format!("{name}: {e}"));
                    continue;
                }
            };
            let mut own = Sha256::new();
            let mut rows = 0i64;
            let mut reader = BufReader::new(flate2::read::GzDecoder::new(f));
            let mut line = Vec::new();
            let mut failed = None;
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) => break,
                    Ok(_) => {
                        own.update(&line);
                        all.update(&line);
                        rows += 1;
                    }
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            if let Some(e) = failed {
                problems.push(format!("{name}: unreadable: {e}"));
                continue;
            }
            total += rows;
            if rows != p.rows {
                problems.push(format!("{name}: {rows} rows, the manifest says {}", p.rows));
            }
            let sum = hex(&own.finalize());
            if Some(&sum) != p.sha256.as_ref() {
                problems.push(format!("{name}: sha256 {sum} differs from the manifest's"));
            }
        }
        if total != manifest.rows {
            problems.push(format!(
                "{total} rows in the files, the manifest says {}",
                manifest.rows
            ));
        }
        let digest = hex(&all.finalize());
        if digest != manifest.digest {
            problems.push(format!(
                "the files' digest {digest} differs from the manifest's {}",
                manifest.digest
            ));
        }
        if let Some(conn) = conn {
            let recorded = self
                .prunes(conn)
                .await?
                .into_iter()
                .find(|r| r.id == manifest.prune_id);
            match recorded {
                None => problems.push(format!(
                    "this database has no record of prune {} (another database, or the prune did not commit)",
                    manifest.prune_id
                )),
                Some(r) => {
                    if r.digest != manifest.digest {
                        problems.push(format!(
                            "prune {} recorded digest {}, the manifest says {}",
                            r.id, r.digest, manifest.digest
                        ));
                    }
                    if r.rows != manifest.rows {
                        problems.push(format!(
                            "prune {} recorded {} rows, the manifest says {}",
                            r.id, r.rows, manifest.rows
                        ));
                    }
                }
            }
        }
        Ok(ArchiveReport { manifest, problems })
    }
}
