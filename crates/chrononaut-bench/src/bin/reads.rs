//! Read-path benchmark: history reads on an activity table of ~1M rows (or more).
//!
//! Builds, in a fresh database: a tracked table of `--rows` rows (default 100k) with a
//! baseline (version 0 of every row) and one bulk update (version 1), one record with 100
//! versions, and filler history of other tables up to `--history` rows in all (default 1M).
//! Then times, as the library runs them (client round trip) and server-side
//! (`EXPLAIN ANALYZE` execution time of the same SQL):
//! versions of the 100-version record, version_at, diff_timestamps, and the whole table as
//! of a time (100k rows, streamed).
//!
//! ```sh
//! cargo run --release -p chrononaut-bench --bin reads -- [--rows 100000] [--history 1000000]
//! ```

mod common;
use common::{Res, arg};

use std::time::{Duration, Instant};

use chrononaut::{BaselineOptions, Chrononaut, TrackOptions, VersionFilter};
use chrononaut_testdb::TestDb;
use futures_util::TryStreamExt;
use serde_json::{Value, json};
use sqlx::types::chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, Connection, PgConnection};

/// The per-record reads (versions, version_at) of the library: chrononaut.record_history.
const RECORD_HISTORY: &str = include_str!("../../../chrononaut/sql/history/record_history.sql");
const AS_OF: &str = include_str!("../../../chrononaut/sql/history/as_of.sql");

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

/// Server-side execution time of `sql` (comments stripped, `{{activity}}`/`{{dir}}` filled)
/// with literal arguments, median of `runs`.
async fn server_ms(conn: &mut PgConnection, sql: &str, args: &str, runs: usize) -> Res<f64> {
    let body: String = sql
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n")
        .replace("{{activity}}", "public.chrononaut_activity")
        .replace("{{dir}}", "ASC");
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let q = format!(
        "bench_q{}",
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    sqlx::raw_sql(AssertSqlSafe(format!("PREPARE {q} AS {body}")))
        .execute(&mut *conn)
        .await?;
    let mut times = Vec::new();
    for _ in 0..runs {
        let plan: Value = sqlx::query_scalar(AssertSqlSafe(format!(
            "EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE {q}{args}"
        )))
        .fetch_one(&mut *conn)
        .await?;
        times.push(plan[0]["Execution Time"].as_f64().unwrap_or(f64::NAN));
    }
    times.sort_by(|a, b| a.total_cmp(b));
    Ok(times[times.len() / 2])
}

#[tokio::main]
async fn main() -> Res<()> {
    let rows = arg("--rows", 100_000);
    let history = arg("--history", 1_000_000);
    let db = TestDb::new().await?;
    let mut conn = PgConnection::connect(&db.url).await?;
    let ch = Chrononaut::new();
    ch.install(&mut conn).await?;

    let t0 = Instant::now();
    sqlx::raw_sql(AssertSqlSafe(format!(
        "CREATE TABLE reads (id int PRIMARY KEY, name text, qty int, note text); \
         INSERT INTO reads SELECT g, 'name ' || g, g, repeat('x', 100) FROM generate_series(1, {rows}) g"
    )))
    .execute(&mut conn)
    .await?;
    ch.track(&mut conn, "reads", &TrackOptions::new()).await?;
    let tb = Instant::now();
    let report = ch
        .baseline(&mut conn, "reads", BaselineOptions::new())
        .await?;
    let baseline_time = tb.elapsed();
    sqlx::raw_sql("UPDATE reads SET qty = qty + 1")
        .execute(&mut conn)
        .await?;
    for i in 0..99 {
        sqlx::query("UPDATE reads SET qty = $1 WHERE id = 1")
            .bind(1000 + i)
            .execute(&mut conn)
            .await?;
    }
    let mid: DateTime<Utc> = sqlx::query_scalar("SELECT clock_timestamp()")
        .fetch_one(&mut conn)
        .await?;
    sqlx::raw_sql("UPDATE reads SET name = 'renamed' WHERE id % 10 = 0")
        .execute(&mut conn)
        .await?;
    let have: i64 = sqlx::query_scalar("SELECT count(*) FROM chrononaut_activity")
        .fetch_one(&mut conn)
        .await?;
    let filler = (history - have).max(0);
    // other tables' history, spread over the same period
    sqlx::raw_sql(AssertSqlSafe(format!(
        "INSERT INTO chrononaut_activity (table_name, changed, version, key, data, user_info, operation) \
         SELECT 'other_' || (g % 20), now() - make_interval(secs => g % 86400), g % 7, \
                jsonb_build_object('id', g / 7), \
                jsonb_build_object('id', g / 7, 'name', 'n' || g, 'note', repeat('y', 100)), \
                '{{\"user_id\": null, \"remote_addr\": null}}', 'update' \
         FROM generate_series(1, {filler}) g"
    )))
    .execute(&mut conn)
    .await?;
    sqlx::raw_sql("VACUUM ANALYZE chrononaut_activity")
        .execute(&mut conn)
        .await?;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM chrononaut_activity")
        .fetch_one(&mut conn)
        .await?;
    println!(
        "set-up: {total} history rows, table of {rows} rows ({} baselined in {} batches, {}), {:.1} s",
        report.recorded,
        report.batches,
        ms(baseline_time),
        t0.elapsed().as_secs_f64()
    );

    let rec = ch.record(&mut conn, "reads", json!({"id": 1})).await?;
    let runs = 50;
    let mut times = Vec::new();
    let mut n = 0;
    for _ in 0..runs {
        let s = Instant::now();
        n = rec.versions(&mut conn, &VersionFilter::new()).await?.len();
        times.push(s.elapsed());
    }
    let versions_client = median(times);
    let versions_server = server_ms(
        &mut conn,
        RECORD_HISTORY,
        "('reads', '{\"id\": 1}', NULL, NULL, NULL, false, NULL, 0)",
        20,
    )
    .await?;

    let mut times = Vec::new();
    for _ in 0..runs {
        let s = Instant::now();
        rec.version_at(&mut conn, mid).await?;
        times.push(s.elapsed());
    }
    let at_client = median(times);
    let at_server = server_ms(
        &mut conn,
        RECORD_HISTORY,
        &format!(
            "('reads', '{{\"id\": 1}}', '{}', NULL, NULL, true, 1, 0)",
            mid.to_rfc3339()
        ),
        20,
    )
    .await?;

    let rec10 = ch.record(&mut conn, "reads", json!({"id": 10})).await?;
    let mut times = Vec::new();
    for _ in 0..runs {
        let s = Instant::now();
        rec10.diff_timestamps(&mut conn, mid, None, true).await?;
        times.push(s.elapsed());
    }
    let diff_client = median(times);

    let mut times = Vec::new();
    let mut count = 0usize;
    for _ in 0..5 {
        let s = Instant::now();
        count = ch
            .as_of(&mut conn, "reads", mid)
            .await?
            .rows()
            .try_fold(0usize, |n, _| async move { Ok(n + 1) })
            .await?;
        times.push(s.elapsed());
    }
    let asof_client = median(times);
    let asof_server = server_ms(
        &mut conn,
        AS_OF,
        &format!("('reads', '{}')", mid.to_rfc3339()),
        3,
    )
    .await?;
    let mut times = Vec::new();
    for _ in 0..3 {
        let s = Instant::now();
        let _: i64 = sqlx::query_scalar("SELECT count(*) FROM chrononaut.as_of(NULL::reads, $1)")
            .bind(mid)
            .fetch_one(&mut conn)
            .await?;
        times.push(s.elapsed());
    }
    let asof_sql = median(times);

    println!("| read | client (round trip, median) | server (EXPLAIN ANALYZE, median) | target |");
    println!("|---|---|---|---|");
    println!(
        "| versions of a {n}-version record | {} | {versions_server:.3} ms | ≤ 0.1 ms server |",
        ms(versions_client)
    );
    println!(
        "| version_at (middle of its history) | {} | {at_server:.3} ms | ≤ 0.1 ms server |",
        ms(at_client)
    );
    println!(
        "| diff_timestamps with include_hidden (2 version_at + versions between) | {} | - | - |",
        ms(diff_client)
    );
    println!(
        "| as of t, whole table ({count} rows, streamed) | {} | {asof_server:.1} ms | ≤ 1 s |",
        ms(asof_client)
    );
    println!(
        "| chrononaut.as_of(NULL::reads, t), count(*) | {} | - | ≤ 1 s |",
        ms(asof_sql)
    );
    drop(conn);
    Ok(())
}
