//! Tamper evidence on SQLite: history rows are chained after they are written, by
//! [`Chrononaut::seal`](crate::Chrononaut::seal), and [`verify`] recomputes the chains.
//!
//! The capture triggers cannot compute a sha256 (SQLite has none built in, and a function
//! only this library registers would break every other writer), so a row is sealed later:
//! `prev_hash` = the hash of its record's previous row (by id), `hash = sha256(prev_hash ||
//! content)`, where content is every recorded column's stored text, each preceded by its
//! length (8 bytes, big-endian; NULL as the length `u64::MAX`), in the order `table_name`,
//! `key`, `version`, `changed`, `data`, `user_info`, `extra_info`, `operation`. The stored
//! text is hashed as it is, so any change to a sealed row's bytes shows. `chrononaut_meta`
//! keeps the highest id sealed (`sealed_through`): a row above it without hash is merely not
//! sealed yet; one below it has lost its hash.

use std::collections::{BTreeMap, HashMap, HashSet};

use futures_util::TryStreamExt;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use sqlx::sqlite::SqliteRow;
use sqlx::{Connection as _, Row, SqliteConnection};

use crate::error::{Error, Result};
use crate::integrity::{
    DIGEST_FORMAT, Digest, IssueKind, TableDigest, TableIntegrity, VerifyIssue, VerifyReport,
};

const SEAL_ROWS: &str = include_str!("../../sql/sqlite/seal_rows.sql");
const SEAL_TEMP: &str = include_str!("../../sql/sqlite/seal_temp.sql");
const SEAL_APPLY: &str = include_str!("../../sql/sqlite/seal_apply.sql");

/// Rows read and written per batch of a seal.
const BATCH: i64 = 5000;
/// Hashed rows per INSERT into the batch table (3 parameters each, under SQLite's 32766).
const PER_INSERT: usize = 500;
/// Records whose newest hash a seal keeps in memory (beyond: read back from the history).
const REMEMBERED: usize = 200_000;
const VERIFY_ROWS: &str = include_str!("../../sql/sqlite/verify_rows.sql");
const SEAL_BEGIN: &str = include_str!("../../sql/sqlite/seal_begin.sql");
const SEAL_MARK_READ: &str = include_str!("../../sql/sqlite/seal_mark_read.sql");
const SEAL_MARK: &str = include_str!("../../sql/sqlite/seal_mark.sql");
const DIGEST_CUT: &str = include_str!("../../sql/sqlite/digest_cut.sql");
const DIGEST_ROWS: &str = include_str!("../../sql/sqlite/digest_rows.sql");

/// What [`Chrononaut::seal`](crate::Chrononaut::seal) did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SealReport {
    /// Rows chained by this seal.
    pub sealed: u64,
    /// The highest history id sealed so far (0: none).
    pub sealed_through: i64,
}

/// A history row's content, as hashed.
struct Content {
    id: i64,
    table_name: String,
    key: String,
    version: i64,
    changed: String,
    data: String,
    user_info: String,
    extra_info: String,
    operation: Option<String>,
}

impl Content {
    fn of(row: &SqliteRow) -> Result<Self> {
        Ok(Content {
            id: row.try_get("id")?,
            table_name: row.try_get("table_name")?,
            key: row.try_get("key")?,
            version: row.try_get("version")?,
            changed: row.try_get("changed")?,
            data: row.try_get("data")?,
            user_info: row.try_get("user_info")?,
            extra_info: row.try_get("extra_info")?,
            operation: row.try_get("operation")?,
        })
    }

    /// `sha256(prev || content)` (the module's documentation gives the layout).
    fn hash(&self, prev: Option<&[u8]>) -> Vec<u8> {
        let mut h = Sha256::new();
        h.update(prev.unwrap_or_default());
        let version = self.version.to_string();
        let fields: [Option<&str>; 8] = [
            Some(&self.table_name),
            Some(&self.key),
            Some(&version),
            Some(&self.changed),
            Some(&self.data),
            Some(&self.user_info),
            Some(&self.extra_info),
            self.operation.as_deref(),
        ];
        for field in fields {
            match field {
                Some(text) => {
                    h.update((text.len() as u64).to_be_bytes());
                    h.update(text.as_bytes());
                }
                None => h.update(u64::MAX.to_be_bytes()),
            }
        }
        h.finalize().to_vec()
    }
}

async fn sealed_through(conn: &mut SqliteConnection) -> Result<i64> {
    let mark: Option<String> = sqlx::query_scalar(SEAL_MARK_READ)
        .fetch_optional(&mut *conn)
        .await?;
    match mark {
        None => Ok(0),
        Some(text) => text
            .parse()
            .map_err(|_| Error::Internal(format!("chrononaut_meta sealed_through is {text:?}"))),
    }
}

/// Seals the rows written since the last seal, in one transaction (SQLite's one writer: no
/// row is written while it runs).
pub(crate) async fn seal(conn: &mut SqliteConnection) -> Result<SealReport> {
    super::sqlite::require_installed(conn).await?;
    let mut tx = conn.begin().await?;
    // take the write lock first: the rows read below are all there will be
    sqlx::query(SEAL_BEGIN).execute(&mut *tx).await?;
    let mark = sealed_through(&mut tx).await?;
    sqlx::raw_sql(SEAL_TEMP).execute(&mut *tx).await?;
    // each record's newest hash so far: its next row links to it without a query
    let mut newest: HashMap<(String, String), Vec<u8>> = HashMap::new();
    let mut through = mark;
    let mut sealed = 0u64;
    loop {
        let rows = sqlx::query(SEAL_ROWS)
            .bind(through)
            .bind(BATCH)
            .fetch_all(&mut *tx)
            .await?;
        let Some(last) = rows.last() else { break };
        through = last.try_get("id")?;
        // (forgotten only between batches: a row's previous one in the same batch has no
        // hash in the history yet)
        if newest.len() >= REMEMBERED {
            newest.clear();
        }
        let mut hashed: Vec<(i64, Option<Vec<u8>>, Vec<u8>)> = Vec::with_capacity(rows.len());
        for r in &rows {
            let row = Content::of(r)?;
            let record = (row.table_name.clone(), row.key.clone());
            let prev = match newest.get(&record) {
                Some(h) => Some(h.clone()),
                None => r.try_get::<Option<Vec<u8>>, _>("prev_hash")?,
            };
            let hash = row.hash(prev.as_deref());
            newest.insert(record, hash.clone());
            hashed.push((row.id, prev, hash));
        }
        for chunk in hashed.chunks(PER_INSERT) {
            let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO temp.chrononaut_seal (id, prev_hash, hash) ",
            );
            insert.push_values(chunk, |mut b, (id, prev, hash)| {
                b.push_bind(*id)
                    .push_bind(prev.clone())
                    .push_bind(hash.clone());
            });
            insert.build().execute(&mut *tx).await?;
        }
        sqlx::raw_sql(SEAL_APPLY).execute(&mut *tx).await?;
        sealed += rows.len() as u64;
    }
    let through: i64 = sqlx::query_scalar(SEAL_MARK)
        .bind(through)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(SealReport {
        sealed,
        sealed_through: through,
    })
}

/// The chain walk of one record.
struct Walk {
    table_name: String,
    key: String,
    /// The hash of the record's previous row (None: first row, or it had none).
    prev: Option<Vec<u8>>,
    /// Whether the record has a row before this one.
    any: bool,
    /// The hashes of its rows so far (to tell reordered rows from missing ones).
    seen: HashSet<Vec<u8>>,
}

/// `verify` on SQLite (see the module's documentation).
pub(crate) async fn verify(
    conn: &mut SqliteConnection,
    table: Option<&str>,
) -> Result<VerifyReport> {
    super::sqlite::require_installed(conn).await?;
    let name = match table {
        Some(t) => Some(super::sqlite::resolve(conn, t).await?),
        None => None,
    };
    let mark = sealed_through(conn).await?;
    let mut report = VerifyReport {
        tables: Vec::new(),
        issues: Vec::new(),
        digest_checked: false,
        prunes: Vec::new(),
    };
    let mut walk: Option<Walk> = None;
    let mut rows = sqlx::query(VERIFY_ROWS).bind(name).fetch(&mut *conn);
    while let Some(row) = rows.try_next().await? {
        let content = Content::of(&row)?;
        let prev_hash: Option<Vec<u8>> = row.try_get("prev_hash")?;
        let hash: Option<Vec<u8>> = row.try_get("hash")?;
        if report
            .tables
            .last()
            .is_none_or(|t: &TableIntegrity| t.table_name != content.table_name)
        {
            report.tables.push(TableIntegrity {
                table_name: content.table_name.clone(),
                rows: 0,
                chained: 0,
                unchained: 0,
                no_chain: false,
                lock_events: 0,
            });
        }
        let new_record = walk
            .as_ref()
            .is_none_or(|w| w.table_name != content.table_name || w.key != content.key);
        if new_record {
            walk = Some(Walk {
                table_name: content.table_name.clone(),
                key: content.key.clone(),
                prev: None,
                any: false,
                seen: HashSet::new(),
            });
        }
        let (Some(t), Some(w)) = (report.tables.last_mut(), walk.as_mut()) else {
            continue;
        };
        t.rows += 1;
        let issue = |kind: IssueKind| {
            VerifyIssue::new(
                kind,
                &content.table_name,
                serde_json::from_str::<Value>(&content.key).ok(),
                i32::try_from(content.version).ok(),
                Some(content.id),
                false,
            )
        };
        match &hash {
            None => {
                t.unchained += 1;
                if content.id <= mark {
                    report.issues.push(issue(IssueKind::HashRemoved));
                }
            }
            Some(h) => {
                t.chained += 1;
                if content.hash(prev_hash.as_deref()) != *h {
                    report.issues.push(issue(IssueKind::Edited));
                } else if prev_hash != w.prev && (w.any || prev_hash.is_some()) {
                    let reordered = prev_hash.as_ref().is_some_and(|p| w.seen.contains(p));
                    report.issues.push(issue(if reordered {
                        IssueKind::OutOfOrder
                    } else {
                        IssueKind::Missing
                    }));
                }
                w.seen.insert(h.clone());
            }
        }
        w.prev = hash;
        w.any = true;
    }
    Ok(report)
}

/// Per history table_name, the rows with an id up to `max_id` and the sha256 over their
/// content hashes in id order (`table_name`: only that one).
pub(crate) async fn table_digests(
    conn: &mut SqliteConnection,
    max_id: i64,
    table_name: Option<&str>,
) -> Result<Vec<TableDigest>> {
    let mut tables: BTreeMap<String, (i64, Sha256)> = BTreeMap::new();
    let mut rows = sqlx::query(DIGEST_ROWS)
        .bind(max_id)
        .bind(table_name)
        .fetch(&mut *conn);
    while let Some(row) = rows.try_next().await? {
        let content = Content::of(&row)?;
        let (count, hasher) = tables
            .entry(content.table_name.clone())
            .or_insert_with(|| (0, Sha256::new()));
        *count += 1;
        hasher.update(content.hash(None));
    }
    Ok(tables
        .into_iter()
        .map(|(table_name, (rows, hasher))| TableDigest {
            table_name,
            rows,
            digest: crate::integrity::hex(&hasher.finalize()),
        })
        .collect())
}

/// [`Chrononaut::digest`](crate::Chrononaut::digest) on SQLite: the rows up to the highest id,
/// read in one read transaction.
pub(crate) async fn digest(conn: &mut SqliteConnection, table: Option<&str>) -> Result<Digest> {
    super::sqlite::require_installed(conn).await?;
    let scope = match table {
        Some(t) => Some(super::sqlite::resolve(conn, t).await?),
        None => None,
    };
    let mut tx = conn.begin().await?;
    let cut = sqlx::query(DIGEST_CUT).fetch_one(&mut *tx).await?;
    let max_id: i64 = cut.try_get("max_id")?;
    let file: Option<String> = cut.try_get("file")?;
    let tables = table_digests(&mut tx, max_id, scope.as_deref()).await?;
    tx.commit().await?;
    let overall = crate::integrity::overall(&tables);
    Ok(Digest {
        format: DIGEST_FORMAT.to_owned(),
        database: match file.filter(|f| !f.is_empty()) {
            Some(file) => format!("sqlite://{file}"),
            None => "sqlite::memory:".to_owned(),
        },
        created_at: chrono::Utc::now(),
        scope,
        max_id,
        tables,
        overall,
    })
}
