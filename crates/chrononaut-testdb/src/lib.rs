//! Finds a PostgreSQL server for chrononaut's integration tests and its `demo`
//! command, or starts a throwaway one from locally installed binaries.
//!
//! The server is chosen once per process by [`server_url`]:
//!
//! 1. the `DATABASE_URL` environment variable, if set, used as is;
//! 2. else a server on `127.0.0.1:5432`, reached as
//!    `postgres://postgres@127.0.0.1:5432/postgres`, if that works;
//! 3. else a throwaway server started from `initdb` / `pg_ctl` in a temporary
//!    directory. It is stopped and its directory removed shortly after the
//!    process exits (a detached watchdog takes care of that).
//!
//! Setting [`FORCE_TEMP_ENV`] (`CHRONONAUT_TESTDB_FORCE_TEMP=1`) skips steps 1
//! and 2 and always starts a throwaway server.
//!
//! Each test takes a fresh, empty database on that server with [`TestDb::new`];
//! the database is dropped again when the [`TestDb`] is dropped.
//!
//! This crate is for Unix-like systems only (it runs PostgreSQL's command-line
//! tools and `sh`).

#![warn(missing_docs)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use tokio::sync::OnceCell;

pub mod proxy;
mod throwaway;

/// Environment variable that, when set to anything but empty or `0`, makes
/// [`server_url`] ignore `DATABASE_URL` and `127.0.0.1:5432` and always start a
/// throwaway server.
pub const FORCE_TEMP_ENV: &str = "CHRONONAUT_TESTDB_FORCE_TEMP";

/// Environment variable naming the directory that holds PostgreSQL's `initdb` and `pg_ctl`
/// for a throwaway server (for a server installed somewhere of its own). When set, it is the
/// only place looked in: `PATH` and `/usr/lib/postgresql/*/bin` are not.
pub const BINDIR_ENV: &str = "CHRONONAUT_TESTDB_PG_BINDIR";

/// Admin URL tried when something accepts TCP connections on `127.0.0.1:5432`.
const LOCAL_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// How long to wait for an (admin or local) connection before giving up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Errors from finding, starting or using the test server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No server was found and no PostgreSQL binaries to start one either.
    #[error(
        "no PostgreSQL server answers on 127.0.0.1:5432 and no PostgreSQL binaries (initdb, pg_ctl) \
         were found; install PostgreSQL (Debian/Ubuntu: apt-get install postgresql) or set DATABASE_URL"
    )]
    NoBinaries,
    /// A throwaway server could not be set up or started.
    #[error("could not start a throwaway PostgreSQL server: {reason}{}", fmt_tail(.log_tail))]
    Start {
        /// What went wrong, in one line.
        reason: String,
        /// The last lines of the relevant log or command output (may be empty).
        log_tail: String,
    },
    /// A database operation failed.
    #[error("PostgreSQL error: {0}")]
    Sql(#[from] sqlx::Error),
    /// An I/O operation (temporary directory, child process, ...) failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

fn fmt_tail(tail: &str) -> String {
    if tail.trim().is_empty() {
        String::new()
    } else {
        format!("\n--- last lines of output ---\n{}", tail.trim_end())
    }
}

/// Result type of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// A failure memoised by [`server_url`], so that later calls fail fast instead
/// of retrying a slow server start.
#[derive(Debug, Clone)]
enum CachedError {
    NoBinaries,
    Start { reason: String, log_tail: String },
}

impl CachedError {
    fn from_error(e: &Error) -> Self {
        match e {
            Error::NoBinaries => CachedError::NoBinaries,
            Error::Start { reason, log_tail } => CachedError::Start {
                reason: reason.clone(),
                log_tail: log_tail.clone(),
            },
            other => CachedError::Start {
                reason: other.to_string(),
                log_tail: String::new(),
            },
        }
    }

    fn to_error(&self) -> Error {
        match self {
            CachedError::NoBinaries => Error::NoBinaries,
            CachedError::Start { reason, log_tail } => Error::Start {
                reason: reason.clone(),
                log_tail: log_tail.clone(),
            },
        }
    }
}

static SERVER: OnceCell<std::result::Result<String, CachedError>> = OnceCell::const_new();

/// Returns an admin (superuser) connection URL to a PostgreSQL server.
///
/// The server is chosen on the first call and memoised for the whole process
/// (a failure is memoised too):
///
/// 1. `DATABASE_URL`, if set and non-empty, used as is;
/// 2. else, if something accepts TCP connections on `127.0.0.1:5432`,
///    `postgres://postgres@127.0.0.1:5432/postgres` if a connection with it
///    succeeds;
/// 3. else a throwaway server started from local binaries; it lives until
///    shortly after this process exits.
///
/// With [`FORCE_TEMP_ENV`] set, steps 1 and 2 are skipped.
/// At most one throwaway server is started per process.
pub async fn server_url() -> Result<String> {
    let cached = SERVER
        .get_or_init(|| async {
            resolve_server()
                .await
                .map_err(|e| CachedError::from_error(&e))
        })
        .await;
    match cached {
        Ok(url) => Ok(url.clone()),
        Err(e) => Err(e.to_error()),
    }
}

fn force_temp() -> bool {
    std::env::var_os(FORCE_TEMP_ENV).is_some_and(|v| !v.is_empty() && v != "0")
}

async fn resolve_server() -> Result<String> {
    if force_temp() {
        tracing::info!("{FORCE_TEMP_ENV} is set: ignoring DATABASE_URL and 127.0.0.1:5432");
    } else {
        if let Ok(url) = std::env::var("DATABASE_URL")
            && !url.trim().is_empty()
        {
            tracing::info!(url = %redact(&url), "using the PostgreSQL server from DATABASE_URL");
            return Ok(url);
        }
        if local_port_open().await {
            match check_connect(LOCAL_URL).await {
                Ok(()) => {
                    tracing::info!(url = LOCAL_URL, "using the local PostgreSQL server");
                    return Ok(LOCAL_URL.to_string());
                }
                Err(e) => tracing::warn!(
                    error = %e,
                    "something listens on 127.0.0.1:5432 but connecting as user postgres failed; \
                     starting a throwaway server instead"
                ),
            }
        }
    }
    tokio::task::spawn_blocking(throwaway::start)
        .await
        .map_err(|e| Error::Start {
            reason: format!("the start-up task failed: {e}"),
            log_tail: String::new(),
        })?
}

async fn local_port_open() -> bool {
    matches!(
        tokio::time::timeout(
            Duration::from_secs(2),
            tokio::net::TcpStream::connect(("127.0.0.1", 5432)),
        )
        .await,
        Ok(Ok(_))
    )
}

async fn connect(url: &str) -> Result<PgConnection> {
    match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect(url)).await {
        Ok(conn) => Ok(conn?),
        Err(_) => Err(timed_out("connecting to PostgreSQL")),
    }
}

fn timed_out(what: &str) -> Error {
    Error::Io(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("timed out {what}"),
    ))
}

async fn check_connect(url: &str) -> Result<()> {
    let mut conn = connect(url).await?;
    sqlx::query("SELECT 1").execute(&mut conn).await?;
    // Closing is a courtesy; the check already succeeded.
    let _ = conn.close().await;
    Ok(())
}

/// Returns `url` with its password (if any) replaced by `***`, for logging.
fn redact(url: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[start..];
    let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..auth_end];
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..start],
                    &userinfo[..colon],
                    &url[start + at..]
                ),
                None => url.to_string(),
            }
        }
        None => url.to_string(),
    }
}

/// Returns `url` with its database (path) component replaced by `db`,
/// keeping scheme, credentials, host, port, query string and fragment.
///
/// `postgres://u:p@h:5432/db?sslmode=disable` with `other` gives
/// `postgres://u:p@h:5432/other?sslmode=disable`; a URL without a path gets one.
pub fn with_database(url: &str, db: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[start..];
    // The authority ends at the first '/', '?' or '#' (these must be
    // percent-encoded inside credentials).
    let auth_end = start + rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let after = &url[auth_end..];
    let path_len = if after.starts_with('/') {
        after.find(['?', '#']).unwrap_or(after.len())
    } else {
        0
    };
    format!("{}/{}{}", &url[..auth_end], db, &after[path_len..])
}

/// Quotes an SQL identifier.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A pseudo-random number that differs between processes and calls.
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(CALLS.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    if let Ok(d) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(d.as_nanos());
    }
    h.finish()
}

fn unique_db_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "chrononaut_t_{}_{}_{:08x}",
        std::process::id(),
        n,
        random_u64() & 0xffff_ffff
    )
}

fn is_sql_state(e: &sqlx::Error, code: &str) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == code)
}

/// A fresh, empty database on the [`server_url`] server, for one test.
///
/// The database is dropped (`DROP DATABASE ... WITH (FORCE)`) when this value
/// is dropped; failures to drop it are logged, never panicked on.
#[derive(Debug)]
pub struct TestDb {
    /// Connection URL of the test database.
    pub url: String,
    /// Name of the test database, like `chrononaut_t_<pid>_<counter>_<random>`.
    pub name: String,
    admin_url: String,
}

impl TestDb {
    /// Creates a fresh, empty database (with `CREATE DATABASE`) on the server
    /// returned by [`server_url`].
    pub async fn new() -> Result<TestDb> {
        let admin_url = server_url().await?;
        let name = unique_db_name();
        let mut conn = connect(&admin_url).await?;
        let sql = format!("CREATE DATABASE {}", quote_ident(&name));
        let mut attempt = 0u64;
        let created = loop {
            match sqlx::raw_sql(AssertSqlSafe(sql.clone()))
                .execute(&mut conn)
                .await
            {
                Ok(_) => break Ok(()),
                // 55006 object_in_use: someone is connected to template1; retry.
                Err(e) if attempt < 10 && is_sql_state(&e, "55006") => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
                }
                Err(e) => break Err(e),
            }
        };
        let _ = conn.close().await;
        created?;
        tracing::debug!(database = %name, "created test database");
        Ok(TestDb {
            url: with_database(&admin_url, &name),
            name,
            admin_url,
        })
    }

    /// A pool (at most 10 connections) to the test database.
    pub async fn pool(&self) -> Result<sqlx::PgPool> {
        Ok(PgPoolOptions::new()
            .max_connections(10)
            .acquire_timeout(Duration::from_secs(30))
            .connect(&self.url)
            .await?)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // A separate thread with its own runtime: works from sync code, from
        // inside any tokio runtime, and while that runtime is shutting down.
        let spawned = std::thread::Builder::new()
            .name("chrononaut-testdb-drop".into())
            .spawn(move || drop_database_blocking(&admin_url, &name));
        match spawned {
            Ok(handle) => match handle.join() {
                Ok(Ok(())) => {
                    tracing::debug!(database = %self.name, "dropped test database");
                }
                Ok(Err(e)) => {
                    tracing::warn!(database = %self.name, error = %e, "could not drop test database");
                }
                Err(_) => {
                    tracing::warn!(database = %self.name, "the thread dropping the test database panicked");
                }
            },
            Err(e) => {
                tracing::warn!(database = %self.name, error = %e, "could not spawn a thread to drop the test database");
            }
        }
    }
}

fn drop_database_blocking(admin_url: &str, name: &str) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        match tokio::time::timeout(Duration::from_secs(60), drop_database(admin_url, name)).await {
            Ok(r) => r,
            Err(_) => Err(timed_out("dropping the test database")),
        }
    })
}

async fn drop_database(admin_url: &str, name: &str) -> Result<()> {
    let mut conn = connect(admin_url).await?;
    let quoted = quote_ident(name);
    let forced = sqlx::raw_sql(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await;
    let result = match forced {
        Ok(_) => Ok(()),
        // 42601 syntax_error: server older than 13 without `WITH (FORCE)`.
        Err(e) if is_sql_state(&e, "42601") => {
            sqlx::query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = $1 AND pid <> pg_backend_pid()",
            )
            .bind(name)
            .execute(&mut conn)
            .await?;
            sqlx::raw_sql(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {quoted}")))
                .execute(&mut conn)
                .await
                .map(|_| ())
        }
        Err(e) => Err(e),
    };
    let _ = conn.close().await;
    Ok(result?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_database_replaces_path() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
    }

    #[test]
    fn with_database_keeps_query() {
        assert_eq!(
            with_database(
                "postgres://u:p@h:5432/db?sslmode=disable",
                "chrononaut_t_1_2_ab"
            ),
            "postgres://u:p@h:5432/chrononaut_t_1_2_ab?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?a=1&b=2#frag", "x"),
            "postgres://u:p@h/x?a=1&b=2#frag"
        );
    }

    #[test]
    fn with_database_without_path() {
        assert_eq!(
            with_database("postgres://h:5432", "x"),
            "postgres://h:5432/x"
        );
        assert_eq!(
            with_database("postgres://h:5432/", "x"),
            "postgres://h:5432/x"
        );
        assert_eq!(
            with_database("postgres://h:5432?sslmode=disable", "x"),
            "postgres://h:5432/x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h:5432/?sslmode=disable", "x"),
            "postgres://h:5432/x?sslmode=disable"
        );
    }

    #[test]
    fn with_database_socket_style() {
        assert_eq!(
            with_database("postgresql:///db?host=/var/run/postgresql", "x"),
            "postgresql:///x?host=/var/run/postgresql"
        );
    }

    #[test]
    fn with_database_percent_encoded_password() {
        assert_eq!(
            with_database("postgres://u:p%2Fq%40r@h/db", "x"),
            "postgres://u:p%2Fq%40r@h/x"
        );
    }

    #[test]
    fn redact_hides_password() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("postgres://h/db"), "postgres://h/db");
    }

    #[test]
    fn db_names_are_unique_and_valid() {
        let a = unique_db_name();
        let b = unique_db_name();
        assert_ne!(a, b);
        assert!(a.starts_with("chrononaut_t_"));
        assert!(a.len() < 63, "{a} is too long for an identifier");
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    }

    #[test]
    fn quote_ident_doubles_quotes() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn no_binaries_message_is_one_line() {
        let msg = Error::NoBinaries.to_string();
        assert!(!msg.contains('\n'));
        assert!(msg.contains("apt-get install postgresql"));
    }
}
