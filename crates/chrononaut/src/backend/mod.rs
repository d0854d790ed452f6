//! What differs per database. chrononaut serves PostgreSQL and SQLite through one API: each
//! public method takes any [`DbConn`] and matches on [`Db`] once; what a backend does of its
//! own (its DDL, capture triggers, context, catalog queries) lives in its module here and in
//! `sql/<backend>/`. Diff, snapshots, key handling and rendering exist once, beside.
//!
//! PostgreSQL's own code predates the seam and still sits in the crate's job modules
//! (`install`, `track`, `capture`, ...); SQLite's is [`sqlite`].

pub(crate) mod sqlite;
pub(crate) mod sqlite_locks;
pub(crate) mod sqlite_seal;

use sqlx::pool::PoolConnection;
use sqlx::{PgConnection, Postgres, Sqlite, SqliteConnection, Transaction};

pub use sqlite::SqliteTransaction;
pub use sqlite_seal::SealReport;

/// A connection of one of the databases chrononaut serves, borrowed for one call.
#[derive(Debug)]
pub enum Db<'c> {
    /// PostgreSQL: every feature.
    Postgres(&'c mut PgConnection),
    /// SQLite: capture, history reads and time travel (see the README's SQLite section).
    Sqlite(&'c mut SqliteConnection),
}

/// Anything chrononaut can work through: a PostgreSQL or SQLite connection, a pooled one, or
/// an open transaction of either. Implement it for a type of your own that holds one.
///
/// ```no_run
/// # async fn f() -> Result<(), chrononaut::Error> {
/// use sqlx::Connection;
/// let mut conn = sqlx::SqliteConnection::connect("sqlite://app.db?mode=rwc").await?;
/// let ch = chrononaut::Chrononaut::new();
/// ch.install(&mut conn).await?;
/// ch.track(&mut conn, "notes", &chrononaut::TrackOptions::new()).await?;
/// # Ok(()) }
/// ```
pub trait DbConn: Send {
    /// The connection, as the database it is.
    fn db(&mut self) -> Db<'_>;

    /// The backend's name, for messages (`PostgreSQL`, `SQLite`).
    fn backend_name(&mut self) -> &'static str {
        match self.db() {
            Db::Postgres(_) => "PostgreSQL",
            Db::Sqlite(_) => "SQLite",
        }
    }
}

impl DbConn for PgConnection {
    fn db(&mut self) -> Db<'_> {
        Db::Postgres(self)
    }
}

impl DbConn for SqliteConnection {
    fn db(&mut self) -> Db<'_> {
        Db::Sqlite(self)
    }
}

impl DbConn for PoolConnection<Postgres> {
    fn db(&mut self) -> Db<'_> {
        Db::Postgres(self)
    }
}

impl DbConn for PoolConnection<Sqlite> {
    fn db(&mut self) -> Db<'_> {
        Db::Sqlite(self)
    }
}

impl DbConn for Transaction<'_, Postgres> {
    fn db(&mut self) -> Db<'_> {
        Db::Postgres(self)
    }
}

impl DbConn for Transaction<'_, Sqlite> {
    fn db(&mut self) -> Db<'_> {
        Db::Sqlite(self)
    }
}

impl<T: DbConn + ?Sized> DbConn for &mut T {
    fn db(&mut self) -> Db<'_> {
        (**self).db()
    }
}
