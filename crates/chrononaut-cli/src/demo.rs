//! `chrononaut demo`: a short, self-contained tour of what chrononaut records.
//!
//! On PostgreSQL it runs in a schema of its own (`chrononaut_demo`); with no database given, in
//! a database of its own (`chrononaut_demo`) on the local server, or on a throwaway server it
//! starts. With no PostgreSQL to use at all, or with `--sqlite`, it runs on a SQLite file of its
//! own. The tour is the same on both: only the connection, the table's DDL and the query that
//! reads the history back differ (`Target`).

use chrononaut::{ChangeContext, Chrononaut, InstallOptions, TrackOptions};
use serde_json::{Value, json};
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{PgPool, Row, SqlitePool};

use crate::{CliResult, Failure, print_json};

const SCHEMA: &str = "chrononaut_demo";
const SETUP: &str = include_str!("../sql/demo_setup.sql");
const HISTORY: &str = include_str!("../sql/demo_history.sql");
const SQLITE_SETUP: &str = include_str!("../sql/demo_setup_sqlite.sql");
const SQLITE_HISTORY: &str = include_str!("../sql/demo_history_sqlite.sql");

/// Where the demo runs: its PostgreSQL database (or schema), or its own SQLite file.
enum Target {
    Postgres {
        pool: PgPool,
        url: String,
    },
    Sqlite {
        pool: SqlitePool,
        path: std::path::PathBuf,
    },
}

impl Target {
    /// The demo table's name on this database.
    fn table(&self) -> &'static str {
        match self {
            Target::Postgres { .. } => "chrononaut_demo.products",
            Target::Sqlite { .. } => "demo_products",
        }
    }

    /// The URL to give back to the CLI, without its password.
    fn url(&self) -> String {
        match self {
            Target::Postgres { url, .. } => redact(url),
            Target::Sqlite { path, .. } => format!("sqlite://{}", path.display()),
        }
    }

    /// Runs `statements` in one transaction with `ctx`; `{t}` in them is the demo table,
    /// `{now}` the database's current time.
    async fn write(
        &self,
        ch: &Chrononaut,
        ctx: &ChangeContext,
        statements: &[&'static str],
    ) -> CliResult<()> {
        let fill = |statement: &str, now: &str| {
            sqlx::AssertSqlSafe(statement.replace("{t}", self.table()).replace("{now}", now))
        };
        match self {
            Target::Postgres { pool, .. } => {
                let mut tx = ch.begin(pool, ctx).await?;
                for statement in statements {
                    sqlx::query(fill(statement, "now()"))
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
            }
            Target::Sqlite { pool, .. } => {
                let mut tx = ch.begin_sqlite(pool, ctx).await?;
                for statement in statements {
                    sqlx::query(fill(statement, "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"))
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
            }
        }
        Ok(())
    }

    async fn close(&self) {
        match self {
            Target::Postgres { pool, .. } => pool.close().await,
            Target::Sqlite { pool, .. } => pool.close().await,
        }
    }
}

/// The demo's database: `url`; without one, a database of its own on the local or a throwaway
/// PostgreSQL server, else (no server configured, reachable or startable: said in one line) a
/// SQLite file of its own; with `sqlite`, that file whatever else there is.
async fn demo_target(url: Option<&str>, sqlite: bool, json_out: bool) -> CliResult<Target> {
    if sqlite {
        return sqlite_target().await;
    }
    let url = match url {
        Some(url) if crate::is_sqlite_url(url) => {
            return Err(Failure(
                "the SQLite demo makes a file of its own: run `chrononaut demo --sqlite` without a sqlite: URL".into(),
            ));
        }
        Some(url) => url.to_owned(),
        None => {
            let server = match chrononaut_testdb::server_url().await {
                Ok(server) => server,
                Err(e) => {
                    let target = sqlite_target().await?;
                    let reason = e.to_string();
                    let reason = reason.lines().next().unwrap_or("no server");
                    let line = format!(
                        "no PostgreSQL configured, reachable or startable ({reason}); running the demo on SQLite ({})",
                        target.url()
                    );
                    // on stderr with --json, so that stdout stays one JSON document
                    if json_out {
                        eprintln!("{line}");
                    } else {
                        println!("{line}");
                    }
                    return Ok(target);
                }
            };
            let admin = PgPoolOptions::new()
                .max_connections(1)
                .connect(&server)
                .await?;
            // the demo's own database: made afresh on every run
            sqlx::query("DROP DATABASE IF EXISTS chrononaut_demo WITH (FORCE)")
                .execute(&admin)
                .await?;
            sqlx::query("CREATE DATABASE chrononaut_demo")
                .execute(&admin)
                .await?;
            admin.close().await;
            chrononaut_testdb::with_database(&server, "chrononaut_demo")
        }
    };
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(std::time::Duration::from_secs(10))
        .connect(&url)
        .await
        .map_err(|e| Failure(format!("cannot connect to the database: {e}")))?;
    Ok(Target::Postgres { pool, url })
}

/// The demo's SQLite file, made afresh: `chrononaut_demo.db` in the temporary directory
/// (`TMPDIR`), in WAL mode.
async fn sqlite_target() -> CliResult<Target> {
    let path = std::env::temp_dir().join("chrononaut_demo.db");
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.clone().into_os_string();
        file.push(suffix);
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Failure(format!(
                    "cannot remove the earlier demo file {}: {e}",
                    std::path::Path::new(&file).display()
                )));
            }
        }
    }
    let options = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal);
    let pool = SqlitePoolOptions::new()
        .max_connections(2)
        .connect_with(options)
        .await
        .map_err(|e| Failure(format!("cannot create {}: {e}", path.display())))?;
    Ok(Target::Sqlite { pool, path })
}

/// The URL without its password, for printing.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &userinfo[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Deletes the demo table's history of an earlier run; false when not allowed.
async fn clear_earlier_history(ch: &Chrononaut, pool: &PgPool, activity: &str) -> bool {
    let ctx = ChangeContext::new()
        .allow_deleting_history()
        .rationale("chrononaut demo: history of an earlier run");
    let Ok(mut tx) = ch.begin(pool, &ctx).await else {
        return false;
    };
    let deleted = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DELETE FROM {activity} WHERE table_name = 'chrononaut_demo.products'"
    )))
    .execute(&mut *tx)
    .await;
    deleted.is_ok() && tx.commit().await.is_ok()
}

/// Installs chrononaut, (re)creates the demo table and tracks it; returns the activity table.
async fn setup(
    ch: &Chrononaut,
    target: &Target,
    say: &dyn Fn(&str),
) -> CliResult<(
    String,
    chrononaut::TrackedTable,
    chrono::DateTime<chrono::Utc>,
)> {
    let options = TrackOptions::new()
        .hidden(["cost_price"])
        .untracked(["views"]);
    let (report, tracked, started) = match target {
        Target::Postgres { pool, .. } => {
            let mut conn = pool.acquire().await?;
            // Install into the demo schema unless chrononaut is already installed here.
            let report = match ch
                .install_with(&mut conn, &InstallOptions::new().activity_schema(SCHEMA))
                .await
            {
                Ok(report) => report,
                // installed earlier with the activity table elsewhere: use that installation
                Err(chrononaut::Error::InvalidOptions(_)) => ch.install(&mut conn).await?,
                Err(other) => return Err(other.into()),
            };
            say_installed(say, &report);
            if ch.untrack(&mut conn, target.table()).await.is_ok() {
                // An earlier run in this database: its history would make this run's versions
                // continue after it (a key's versions never repeat). Remove it where allowed
                // (members of chrononaut_admin, through the one-transaction escape);
                // otherwise keep it.
                let cleared = clear_earlier_history(ch, pool, &report.activity_table).await;
                say(if cleared {
                    "   (removed the table and history of an earlier demo run)"
                } else {
                    "   (an earlier demo run's history stays: versions continue after it)"
                });
            }
            sqlx::raw_sql(SETUP).execute(&mut *conn).await?;
            // the history since now, by the server's clock
            let started = sqlx::query_scalar("SELECT clock_timestamp()")
                .fetch_one(&mut *conn)
                .await?;
            let tracked = ch.track(&mut conn, target.table(), &options).await?;
            (report, tracked, started)
        }
        Target::Sqlite { pool, .. } => {
            let mut conn = pool.acquire().await?;
            let report = ch.install(&mut conn).await?;
            say_installed(say, &report);
            sqlx::raw_sql(SQLITE_SETUP).execute(&mut *conn).await?;
            let tracked = ch.track(&mut conn, target.table(), &options).await?;
            (report, tracked, chrono::Utc::now())
        }
    };
    Ok((report.activity_table, tracked, started))
}

fn say_installed(say: &dyn Fn(&str), report: &chrononaut::InstallReport) {
    say(&format!(
        "1. chrononaut schema v{} installed; history goes to {}",
        report.schema_version, report.activity_table
    ));
}

/// A JSON column of the SQLite history (text).
fn json_column(row: &sqlx::sqlite::SqliteRow, column: &str) -> CliResult<Value> {
    let text: String = row.try_get(column)?;
    serde_json::from_str(&text).map_err(|e| Failure(format!("history {column}: {e}")))
}

/// What the demo recorded, oldest first: each version as JSON and its data as printed.
async fn history(
    target: &Target,
    activity: &str,
    started: chrono::DateTime<chrono::Utc>,
) -> CliResult<(Vec<Value>, Vec<String>)> {
    let mut this_run = Vec::new();
    let mut shown = Vec::new();
    match target {
        Target::Postgres { pool, .. } => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(
                HISTORY.replace("{{activity}}", activity),
            ))
            .bind(started)
            .fetch_all(pool)
            .await?;
            for row in &rows {
                this_run.push(json!({
                    "version": row.try_get::<i32, _>("version")?,
                    "operation": row.try_get::<Option<String>, _>("operation")?,
                    "key": row.try_get::<Value, _>("key")?,
                    "data": row.try_get::<Value, _>("data")?,
                    "user_info": row.try_get::<Value, _>("user_info")?,
                    "extra_info": row.try_get::<Value, _>("extra_info")?,
                    "at": row.try_get::<String, _>("at")?,
                }));
                shown.push(row.try_get::<String, _>("shown")?);
            }
        }
        // the file is the demo's own: all of its history is this run's
        Target::Sqlite { pool, .. } => {
            let rows = sqlx::query(SQLITE_HISTORY).fetch_all(pool).await?;
            for row in &rows {
                this_run.push(json!({
                    "version": row.try_get::<i32, _>("version")?,
                    "operation": row.try_get::<Option<String>, _>("operation")?,
                    "key": json_column(row, "key")?,
                    "data": json_column(row, "data")?,
                    "user_info": json_column(row, "user_info")?,
                    "extra_info": json_column(row, "extra_info")?,
                    "at": row.try_get::<String, _>("at")?,
                }));
                shown.push(row.try_get::<String, _>("shown")?);
            }
        }
    }
    Ok((this_run, shown))
}

/// `chrononaut demo [--sqlite]`.
pub(crate) async fn run(
    ch: &Chrononaut,
    url: Option<&str>,
    json_out: bool,
    sqlite: bool,
) -> CliResult<()> {
    let target = demo_target(url, sqlite, json_out).await?;
    let say = |line: &str| {
        if !json_out {
            println!("{line}");
        }
    };
    let (activity, tracked, started) = setup(ch, &target, &say).await?;
    say(&format!(
        "2. tracking {} (hidden: cost_price; untracked: views)",
        tracked.table
    ));

    let alice = ChangeContext::new()
        .user("alice@example.com")
        .remote_addr("10.0.0.1");
    let bob = ChangeContext::new()
        .user("bob@example.com")
        .remote_addr("10.0.0.2");

    target
        .write(
            ch,
            &alice.clone().rationale("initial catalogue"),
            &["INSERT INTO {t} (id, name, price, cost_price) VALUES \
               (1, 'Flux capacitor', 1210.00, 800.00), (2, 'Hoverboard', 350.00, 120.00), \
               (3, 'Self-lacing shoes', 199.00, 60.00)"],
        )
        .await?;
    say("3. alice adds three products (rationale: initial catalogue)");

    target
        .write(
            ch,
            &bob.clone().rationale("yearly price review"),
            &["UPDATE {t} SET price = round(price * 1.10, 2), updated_at = {now}"],
        )
        .await?;
    say("4. bob raises every price by 10% in one UPDATE (rationale: yearly price review)");

    target
        .write(
            ch,
            &ChangeContext::new(),
            &["UPDATE {t} SET views = views + 1 WHERE id = 2"],
        )
        .await?;
    say("5. a page-view counter changes: views is untracked, so no version is made");

    target
        .write(
            ch,
            &alice.clone().rationale("new supplier"),
            &["UPDATE {t} SET cost_price = 95.00 WHERE id = 2"],
        )
        .await?;
    say(
        "6. alice changes a cost price: cost_price is hidden, the change is noted, the value is not stored",
    );

    target
        .write(
            ch,
            &bob.clone().rationale("discontinued"),
            &["DELETE FROM {t} WHERE id = 3"],
        )
        .await?;
    say("7. bob deletes product 3 (rationale: discontinued)");

    let (this_run, shown) = history(&target, &activity, started).await?;
    target.close().await;

    if json_out {
        return print_json(&json!({"table": tracked.table, "history": this_run}));
    }
    println!();
    println!(
        "What chrononaut recorded in {} ({} versions):",
        activity,
        this_run.len()
    );
    println!(
        "{:<13} {:>3}  {:<7} {:<9} {:<18} {:<9} {:<34} DATA",
        "TIME (UTC)", "VER", "OP", "KEY", "USER", "FROM", "EXTRA INFO"
    );
    for (h, data) in this_run.iter().zip(&shown) {
        let text = |v: &Value| match v {
            Value::Null => "-".to_owned(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let mut extra = h["extra_info"].clone();
        let rationale = extra
            .as_object_mut()
            .and_then(|m| m.remove("rationale"))
            .map(|r| text(&r))
            .unwrap_or_else(|| "-".into());
        let hidden = h["extra_info"]["hidden_cols_changed"]
            .as_array()
            .map(|a| {
                format!(
                    " +hidden {}",
                    a.iter().map(text).collect::<Vec<_>>().join(",")
                )
            })
            .unwrap_or_default();
        println!(
            "{:<13} {:>3}  {:<7} {:<9} {:<18} {:<9} {:<34} {}",
            text(&h["at"]),
            text(&h["version"]),
            text(&h["operation"]),
            text(&h["key"]),
            text(&h["user_info"]["user_id"]),
            text(&h["user_info"]["remote_addr"]),
            format!("{rationale}{hidden}"),
            data
        );
    }
    println!();
    let run = invocation();
    let url = target.url();
    let table = target.table();
    println!(
        "Note: the views change made no version, cost_price never appears in data, and the\n\
         bulk UPDATE gave each row its own version. Explore further{}:\n  \
         {run} --database-url '{url}' log {table} id=2\n  \
         {run} --database-url '{url}' diff {table} id=2 0 2 --include-hidden",
        match target {
            Target::Postgres { .. } => " (while the server runs)",
            Target::Sqlite { .. } => "",
        }
    );
    match &target {
        Target::Postgres { .. } => println!(
            "  {run} --database-url '{url}' serve     # the history browser: http://127.0.0.1:8080/\n  \
             psql '{url}' -c 'SELECT * FROM {}'",
            activity.replace('"', "")
        ),
        Target::Sqlite { path, .. } => println!(
            "  sqlite3 '{}' 'SELECT * FROM chrononaut_activity'",
            path.display()
        ),
    }
    if run != "chrononaut" {
        println!(
            "(`cargo install --path crates/chrononaut-cli` installs `chrononaut`; then use it in\n\
             place of `{run}`.)"
        );
    }
    Ok(())
}

/// How to run this binary again: `chrononaut` when installed, the cargo command that runs it
/// when it runs from a cargo build directory (`target/debug`, `target/release`), as after
/// `cargo run -p chrononaut-cli -- demo`, which installs nothing.
fn invocation() -> &'static str {
    let dir = std::env::current_exe().ok().and_then(|exe| {
        exe.parent()
            .and_then(|d| d.file_name())
            .map(ToOwned::to_owned)
    });
    match dir.as_ref().and_then(|d| d.to_str()) {
        Some("debug") => "cargo run -q -p chrononaut-cli --",
        Some("release") => "cargo run -q --release -p chrononaut-cli --",
        _ => "chrononaut",
    }
}
