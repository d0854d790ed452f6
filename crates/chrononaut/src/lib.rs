//! # chrononaut
//!
//! History, audit logging, record locking and time travel for PostgreSQL tables.
//!
//! Changes are captured by PostgreSQL triggers that chrononaut installs on each tracked table,
//! so every writer is recorded (this library, other Rust code, psql, a Python service), in the
//! same transaction as the change. Each version of a record is one row of the
//! `chrononaut_activity` table, in the format of the Python library chrononaut, with who made
//! the change, from which address and why.
//!
//! ```no_run
//! use chrononaut::{ChangeContext, Chrononaut, TrackOptions};
//!
//! # async fn run() -> Result<(), chrononaut::Error> {
//! let pool = sqlx::PgPool::connect("postgres://localhost/app").await?;
//! let chrononaut = Chrononaut::new();
//! let mut conn = pool.acquire().await?;
//! chrononaut.install(&mut conn).await?;
//! chrononaut
//!     .track(&mut conn, "invoices", &TrackOptions::new().hidden(["card_number"]))
//!     .await?;
//!
//! let ctx = ChangeContext::new().user("alice@example.com").rationale("refund");
//! let mut tx = chrononaut.begin(&pool, &ctx).await?;
//! sqlx::query("UPDATE invoices SET amount = 0 WHERE id = 1").execute(&mut *tx).await?;
//! tx.commit().await?;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

mod activity;
mod asof;
mod backend;
mod capture;
mod catalog;
mod context;
mod convert;
mod diff;
mod error;
mod history;
mod ident;
mod install;
mod integrity;
mod locking;
mod model;
mod partition;
mod prune;
mod restore;
mod snapshot;
mod sql;
mod template;
mod track;

use std::sync::Arc;

use serde_json::{Map, Value};
use sqlx::{AssertSqlSafe, PgPool, Postgres, Transaction};

pub use activity::{ActivityCursor, ActivityFilter, ActivityPage, DEFAULT_ACTIVITY_LIMIT};
pub use asof::{AsOf, AsOfRow, BaselineOptions, BaselineReport};
pub use backend::{Db, DbConn, SealReport, SqliteTransaction};
#[cfg(feature = "derive")]
pub use chrononaut_macros::Versioned;
pub use context::{
    ChangeContext, ContextProvider, LIMIT_EXTRA, LIMIT_RECORD_EXTRA, LIMIT_REMOTE_ADDR,
    LIMIT_USER_ID,
};
pub use convert::{ChunkReport, ConversionProgress, ConvertOptions, Converter, Preview};
pub use diff::{Change, Diff, DiffEnd};
pub use error::{
    Error, Refusal, Result, SQLSTATE_APPEND_ONLY, SQLSTATE_BAD_CONTEXT, SQLSTATE_LOCK_REFUSED,
    SQLSTATE_PERMISSION, SQLSTATE_PRUNE_REFUSED, SQLSTATE_RECORD_LOCKED, SQLSTATE_STALE_VERSION,
    SQLSTATE_STRICT,
};
pub use history::{RecordHistory, VersionFilter};
pub use install::{InstallOptions, InstallReport, MAX_PARTITIONS_AHEAD, SCHEMA_VERSION};
pub use integrity::{
    DIGEST_FORMAT, Digest, IssueKind, TableDigest, TableIntegrity, VerifyIssue, VerifyReport,
};
pub use locking::{LIMIT_LOCK_REASON, LockEvent, LockOperation, RecordLock};
#[doc(hidden)]
pub use model::__private;
pub use model::{KeyBuilder, TypedRecord, TypedSnapshot, Versioned};
pub use partition::{
    CreatedPartition, MaintainReport, Partition, PartitionPlan, PartitionStatus, Partitioning,
    PlannedPartition,
};
pub use prune::{
    ARCHIVE_FORMAT, ArchiveManifest, ArchiveReport, MANIFEST, PruneOptions, PruneRecord,
    PruneReport, PrunedPartition,
};
pub use restore::{RestoreReport, RestoreTarget};
pub use snapshot::{Operation, Snapshot, SnapshotMeta};
pub use track::{TableStatus, TrackOptions, TrackedTable};

/// The entry point: installs the schema, tracks tables and opens transactions with a change
/// context. Cheap to clone; holds no connection.
#[derive(Clone, Default)]
pub struct Chrononaut {
    providers: Vec<ContextProvider>,
}

impl std::fmt::Debug for Chrononaut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chrononaut")
            .field("providers", &self.providers.len())
            .finish()
    }
}

impl Chrononaut {
    /// A handle with no context providers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a context provider: its fields go into `extra_info` of every change made through a
    /// context applied by this handle (explicit context fields win).
    ///
    /// ```
    /// let chrononaut = chrononaut::Chrononaut::new().with_context_provider(|| {
    ///     let mut extra = serde_json::Map::new();
    ///     extra.insert("service".into(), "billing".into());
    ///     extra
    /// });
    /// # let _ = chrononaut;
    /// ```
    pub fn with_context_provider<F>(mut self, provider: F) -> Self
    where
        F: Fn() -> Map<String, Value> + Send + Sync + 'static,
    {
        self.providers.push(Arc::new(provider));
        self
    }

    fn provided(&self) -> Map<String, Value> {
        let mut all = Map::new();
        for provider in &self.providers {
            all.extend(provider());
        }
        all
    }

    /// Begins a transaction on `pool` with `ctx` applied. `BEGIN` and the context's settings
    /// travel as one simple query: a transaction with a context costs no round trip more than
    /// one without. A context that is malformed or too large is refused before anything is sent
    /// ([`Error::InvalidContext`]).
    pub async fn begin(
        &self,
        pool: &PgPool,
        ctx: &ChangeContext,
    ) -> Result<Transaction<'static, Postgres>> {
        let statement = ctx.begin_sql(&self.provided())?;
        Ok(pool.begin_with(AssertSqlSafe(statement)).await?)
    }

    /// Applies `ctx` (plus the providers' fields) to the transaction open on `conn`. A later
    /// call in the same transaction replaces the earlier context. On SQLite this writes the
    /// context row of `chrononaut_context`, which must be removed before the transaction
    /// commits ([`Chrononaut::begin_sqlite`] does both).
    pub async fn apply(
        &self,
        conn: &mut (impl DbConn + ?Sized),
        ctx: &ChangeContext,
    ) -> Result<()> {
        match conn.db() {
            Db::Postgres(conn) => ctx.apply_with(conn, &self.provided()).await,
            Db::Sqlite(conn) => backend::sqlite::apply(conn, ctx, &self.provided()).await,
        }
    }

    /// Begins a transaction on a SQLite `pool` with `ctx` written into it (the context row,
    /// which [`SqliteTransaction::commit`] removes before it commits).
    ///
    /// ```no_run
    /// # async fn f(pool: &sqlx::SqlitePool) -> Result<(), chrononaut::Error> {
    /// use chrononaut::{ChangeContext, Chrononaut};
    /// let ctx = ChangeContext::new().user("alice").rationale("typo");
    /// let mut tx = Chrononaut::new().begin_sqlite(pool, &ctx).await?;
    /// sqlx::query("UPDATE notes SET body = 'fixed' WHERE id = 1").execute(&mut *tx).await?;
    /// tx.commit().await?;
    /// # Ok(()) }
    /// ```
    pub async fn begin_sqlite(
        &self,
        pool: &sqlx::SqlitePool,
        ctx: &ChangeContext,
    ) -> Result<SqliteTransaction<'static>> {
        backend::sqlite::begin(pool, ctx, &self.provided()).await
    }
}
