//! The README's quick start: install chrononaut, track a table, write with a change context,
//! and look at the history the triggers recorded.
//!
//! ```sh
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo run -p chrononaut --example quickstart
//! ```

use chrononaut::{ChangeContext, Chrononaut, TrackOptions};
use sqlx::PgPool;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url =
        std::env::var("DATABASE_URL").map_err(|_| "set DATABASE_URL to a PostgreSQL database")?;
    let pool = PgPool::connect(&url).await?;

    // 1. Install chrononaut's schema (idempotent) and track a table.
    let chrononaut = Chrononaut::new();
    let mut conn = pool.acquire().await?;
    chrononaut.install(&mut conn).await?;
    sqlx::raw_sql(
        "DROP TABLE IF EXISTS quickstart_accounts;
         CREATE TABLE quickstart_accounts (
             id int PRIMARY KEY, owner text, balance numeric, password_hash text, last_login timestamptz)",
    )
    .execute(&mut *conn)
    .await?;
    chrononaut
        .track(
            &mut conn,
            "quickstart_accounts",
            &TrackOptions::new()
                .hidden(["password_hash"])
                .untracked(["last_login"]),
        )
        .await?;
    drop(conn);

    // 2. Write inside a transaction that carries who, from where and why.
    let ctx = ChangeContext::new()
        .user("alice@example.com")
        .remote_addr("192.0.2.10")
        .rationale("account opened at the branch");
    let mut tx = chrononaut.begin(&pool, &ctx).await?;
    sqlx::query("INSERT INTO quickstart_accounts VALUES (1, 'Marty', 100, 'x1', now())")
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE quickstart_accounts SET balance = 250 WHERE id = 1")
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;

    // Any other writer is recorded too, here without a context.
    sqlx::query("UPDATE quickstart_accounts SET last_login = now() WHERE id = 1")
        .execute(&pool)
        .await?; // untracked column only: no new version

    // 3. The history, straight from the activity table.
    let rows: Vec<(
        i32,
        Option<String>,
        serde_json::Value,
        serde_json::Value,
        serde_json::Value,
    )> = sqlx::query_as(
        "SELECT version, operation, data, user_info, extra_info FROM chrononaut_activity \
             WHERE table_name = 'quickstart_accounts' ORDER BY changed, version",
    )
    .fetch_all(&pool)
    .await?;
    for (version, operation, data, user_info, extra_info) in rows {
        println!(
            "v{version} {} by {} ({}): {data} {extra_info}",
            operation.unwrap_or_default(),
            user_info["user_id"],
            extra_info["rationale"],
        );
    }
    Ok(())
}
