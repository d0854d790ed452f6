//! `chrononaut demo`: a short, self-contained tour of what chrononaut records.
//!
//! Runs in a schema of its own (`chrononaut_demo`). With no database given, it uses a database
//! of its own (`chrononaut_demo`) on the local server, or on a throwaway server it starts.

use chrononaut::{ChangeContext, Chrononaut, InstallOptions, TrackOptions};
use serde_json::{Value, json};
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Row};

use crate::{CliResult, Failure, print_json};

const SCHEMA: &str = "chrononaut_demo";
const SETUP: &str = include_str!("../sql/demo_setup.sql");
const HISTORY: &str = include_str!("../sql/demo_history.sql");

async fn demo_pool(url: Option<&str>) -> CliResult<(PgPool, String)> {
    let url = match url {
        Some(url) => url.to_owned(),
        None => {
            let server = chrononaut_testdb::server_url().await?;
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
    Ok((pool, url))
}

async fn write(
    ch: &Chrononaut,
    pool: &PgPool,
    ctx: &ChangeContext,
    statements: &[&'static str],
) -> CliResult<()> {
    let mut tx = ch.begin(pool, ctx).await?;
    for statement in statements {
        sqlx::query(*statement).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
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

pub(crate) async fn run(ch: &Chrononaut, url: Option<&str>, json_out: bool) -> CliResult<()> {
    let (pool, demo_url) = demo_pool(url).await?;
    let say = |line: &str| {
        if !json_out {
            println!("{line}");
        }
    };
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
    say(&format!(
        "1. chrononaut schema v{} installed; history goes to {}",
        report.schema_version, report.activity_table
    ));

    if ch
        .untrack(&mut conn, "chrononaut_demo.products")
        .await
        .is_ok()
    {
        // An earlier run in this database: its history would make this run's versions
        // continue after it (a key's versions never repeat). Remove it where allowed (members
        // of chrononaut_admin, through the one-transaction escape); otherwise keep it.
        let cleared = clear_earlier_history(ch, &pool, &report.activity_table).await;
        say(if cleared {
            "   (removed the table and history of an earlier demo run)"
        } else {
            "   (an earlier demo run's history stays: versions continue after it)"
        });
    }
    sqlx::raw_sql(SETUP).execute(&mut *conn).await?;
    let started: chrono::DateTime<chrono::Utc> = sqlx::query_scalar("SELECT clock_timestamp()")
        .fetch_one(&mut *conn)
        .await?;
    let tracked = ch
        .track(
            &mut conn,
            "chrononaut_demo.products",
            &TrackOptions::new()
                .hidden(["cost_price"])
                .untracked(["views"]),
        )
        .await?;
    drop(conn);
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

    write(
        ch,
        &pool,
        &alice.clone().rationale("initial catalogue"),
        &[
            "INSERT INTO chrononaut_demo.products (id, name, price, cost_price) VALUES \
         (1, 'Flux capacitor', 1210.00, 800.00), (2, 'Hoverboard', 350.00, 120.00), \
         (3, 'Self-lacing shoes', 199.00, 60.00)",
        ],
    )
    .await?;
    say("3. alice adds three products (rationale: initial catalogue)");

    write(
        ch,
        &pool,
        &bob.clone().rationale("yearly price review"),
        &["UPDATE chrononaut_demo.products SET price = round(price * 1.10, 2), updated_at = now()"],
    )
    .await?;
    say("4. bob raises every price by 10% in one UPDATE (rationale: yearly price review)");

    write(
        ch,
        &pool,
        &ChangeContext::new(),
        &["UPDATE chrononaut_demo.products SET views = views + 1 WHERE id = 2"],
    )
    .await?;
    say("5. a page-view counter changes: views is untracked, so no version is made");

    write(
        ch,
        &pool,
        &alice.clone().rationale("new supplier"),
        &["UPDATE chrononaut_demo.products SET cost_price = 95.00 WHERE id = 2"],
    )
    .await?;
    say(
        "6. alice changes a cost price: cost_price is hidden, the change is noted, the value is not stored",
    );

    write(
        ch,
        &pool,
        &bob.clone().rationale("discontinued"),
        &["DELETE FROM chrononaut_demo.products WHERE id = 3"],
    )
    .await?;
    say("7. bob deletes product 3 (rationale: discontinued)");

    let rows = sqlx::query(sqlx::AssertSqlSafe(
        HISTORY.replace("{{activity}}", &report.activity_table),
    ))
    .bind(started)
    .fetch_all(&pool)
    .await?;
    let mut this_run = Vec::new();
    let mut shown = Vec::new();
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
    pool.close().await;

    if json_out {
        return print_json(&json!({"table": tracked.table, "history": this_run}));
    }
    println!();
    println!(
        "What chrononaut recorded in {} ({} versions):",
        report.activity_table,
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
    println!(
        "Note: the views change made no version, cost_price never appears in data, and the\n\
         bulk UPDATE gave each row its own version. Explore further (while the server runs):\n  \
         {run} --database-url '{url}' log chrononaut_demo.products id=2\n  \
         {run} --database-url '{url}' diff chrononaut_demo.products id=2 0 2 --include-hidden\n  \
         {run} --database-url '{url}' serve     # the history browser: http://127.0.0.1:8080/\n  \
         psql '{url}' -c 'SELECT * FROM {activity}'",
        url = redact(&demo_url),
        activity = report.activity_table.replace('"', "")
    );
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
