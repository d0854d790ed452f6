//! What row-level security on the history costs a reader (issue 14 item 2): the same reads
//! timed as the owner (to whom the policy does not apply) and as an application role with
//! SELECT on the table (the policy applies), alternating, in the same run.
//!
//! Builds, in a fresh database: a tracked table of `--rows` rows (default 20k) with a
//! baseline (version 0) and one bulk update (version 1), one record with 100 versions, and
//! filler history of 20 other tracked-looking names up to `--history` rows (default 300k).
//! Then times, client round trip, median of `--runs` (default 30): a record's versions,
//! version_at, the table's log (50 rows), the whole table as of t, and a Python-style
//! per-record SELECT on the activity table.
//!
//! ```sh
//! cargo run --release -p chrononaut-bench --bin read_visibility -- [--rows 20000] [--history 300000]
//! ```

mod common;
use common::{Res, arg};

use std::time::{Duration, Instant};

use chrononaut::{BaselineOptions, Chrononaut, TrackOptions, VersionFilter};
use chrononaut_testdb::TestDb;
use futures_util::TryStreamExt;
use serde_json::json;
use sqlx::postgres::PgConnectOptions;
use sqlx::types::chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, Connection, PgConnection};

/// The per-record reads (versions, version_at) of the library: chrononaut.record_history.
const RECORD_HISTORY: &str = include_str!("../../../chrononaut/sql/history/record_history.sql");
const AS_OF: &str = include_str!("../../../chrononaut/sql/history/as_of.sql");

/// Server-side execution time of `sql` (comments stripped, `{{activity}}`/`{{dir}}` filled)
/// with literal arguments, median of `runs`, in ms.
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
        let plan: serde_json::Value = sqlx::query_scalar(AssertSqlSafe(format!(
            "EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE {q}{args}"
        )))
        .fetch_one(&mut *conn)
        .await?;
        times.push(plan[0]["Execution Time"].as_f64().unwrap_or(f64::NAN));
    }
    times.sort_by(|a, b| a.total_cmp(b));
    Ok(times[times.len() / 2])
}

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1e3
}

/// One read, run on a connection.
type Read = for<'a> fn(
    &'a Chrononaut,
    &'a mut PgConnection,
    DateTime<Utc>,
) -> futures_util::future::BoxFuture<'a, Res<usize>>;

fn versions<'a>(ch: &'a Chrononaut, c: &'a mut PgConnection, _: DateTime<Utc>) -> BoxRes<'a> {
    let ch = ch.clone();
    Box::pin(async move {
        let rec = ch.record(&mut *c, "reads", json!({"id": 1})).await?;
        Ok(rec.versions(&mut *c, &VersionFilter::new()).await?.len())
    })
}

fn version_at<'a>(ch: &'a Chrononaut, c: &'a mut PgConnection, t: DateTime<Utc>) -> BoxRes<'a> {
    let ch = ch.clone();
    Box::pin(async move {
        let rec = ch.record(&mut *c, "reads", json!({"id": 1})).await?;
        Ok(usize::from(rec.version_at(&mut *c, t).await?.is_some()))
    })
}

fn table_log<'a>(ch: &'a Chrononaut, c: &'a mut PgConnection, _: DateTime<Utc>) -> BoxRes<'a> {
    let ch = ch.clone();
    Box::pin(async move { Ok(ch.table_log(&mut *c, "reads", 50, None).await?.len()) })
}

fn as_of<'a>(ch: &'a Chrononaut, c: &'a mut PgConnection, t: DateTime<Utc>) -> BoxRes<'a> {
    let ch = ch.clone();
    Box::pin(async move {
        Ok(ch
            .as_of(&mut *c, "reads", t)
            .await?
            .rows()
            .try_fold(0usize, |n, _| async move { Ok(n + 1) })
            .await?)
    })
}

fn as_of_sql<'a>(_: &'a Chrononaut, c: &'a mut PgConnection, t: DateTime<Utc>) -> BoxRes<'a> {
    Box::pin(async move {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM chrononaut.as_of(NULL::reads, $1)")
            .bind(t)
            .fetch_one(&mut *c)
            .await?;
        Ok(n as usize)
    })
}

fn python_versions<'a>(_: &'a Chrononaut, c: &'a mut PgConnection, _: DateTime<Utc>) -> BoxRes<'a> {
    Box::pin(async move {
        let rows: Vec<(i32,)> = sqlx::query_as(
            "SELECT version FROM chrononaut_activity WHERE key = $1 AND table_name = $2 ORDER BY changed",
        )
        .bind(json!({"id": 2}))
        .bind("reads")
        .fetch_all(&mut *c)
        .await?;
        Ok(rows.len())
    })
}

type BoxRes<'a> = futures_util::future::BoxFuture<'a, Res<usize>>;

#[tokio::main]
async fn main() -> Res<()> {
    let rows = arg("--rows", 20_000);
    let history = arg("--history", 300_000);
    let runs = arg("--runs", 30) as usize;
    let db = TestDb::new().await?;
    let mut owner = PgConnection::connect(&db.url).await?;
    let ch = Chrononaut::new();
    ch.install(&mut owner).await?;
    let t0 = Instant::now();
    sqlx::raw_sql(AssertSqlSafe(format!(
        "CREATE TABLE reads (id int PRIMARY KEY, name text, qty int, note text); \
         INSERT INTO reads SELECT g, 'name ' || g, g, repeat('x', 100) FROM generate_series(1, {rows}) g"
    )))
    .execute(&mut owner)
    .await?;
    ch.track(&mut owner, "reads", &TrackOptions::new()).await?;
    ch.baseline(&mut owner, "reads", BaselineOptions::new())
        .await?;
    sqlx::raw_sql("UPDATE reads SET qty = qty + 1")
        .execute(&mut owner)
        .await?;
    for i in 0..99 {
        sqlx::query("UPDATE reads SET qty = $1 WHERE id = 1")
            .bind(1000 + i)
            .execute(&mut owner)
            .await?;
    }
    let mid: DateTime<Utc> = sqlx::query_scalar("SELECT clock_timestamp()")
        .fetch_one(&mut owner)
        .await?;
    let have: i64 = sqlx::query_scalar("SELECT count(*) FROM chrononaut_activity")
        .fetch_one(&mut owner)
        .await?;
    let filler = (history - have).max(0);
    sqlx::raw_sql(AssertSqlSafe(format!(
        "INSERT INTO chrononaut_activity (table_name, changed, version, key, data, user_info, operation) \
         SELECT 'other_' || (g % 20), now() - make_interval(secs => g % 86400), g % 7, \
                jsonb_build_object('id', g / 7), \
                jsonb_build_object('id', g / 7, 'name', 'n' || g, 'note', repeat('y', 100)), \
                '{{\"user_id\": null, \"remote_addr\": null}}', 'update' \
         FROM generate_series(1, {filler}) g"
    )))
    .execute(&mut owner)
    .await?;
    sqlx::raw_sql("VACUUM ANALYZE chrononaut_activity")
        .execute(&mut owner)
        .await?;
    let role = format!("{}_reader", db.name);
    sqlx::raw_sql(AssertSqlSafe(format!(
        "CREATE ROLE \"{role}\" LOGIN PASSWORD 'pw'; \
         GRANT SELECT ON reads, chrononaut_activity TO \"{role}\";"
    )))
    .execute(&mut owner)
    .await?;
    let options: PgConnectOptions = db.url.parse()?;
    let mut reader = PgConnection::connect_with(&options.username(&role).password("pw")).await?;
    let table_rows: i64 =
        sqlx::query_scalar("SELECT count(*) FROM chrononaut_activity WHERE table_name = 'reads'")
            .fetch_one(&mut owner)
            .await?;
    println!(
        "set-up: {} history rows ({table_rows} of the table read), {rows} rows, {:.1} s",
        have + filler,
        t0.elapsed().as_secs_f64()
    );

    let reads: [(&str, Read, usize); 6] = [
        ("versions of a 101-version record", versions, runs),
        ("version_at (middle of its history)", version_at, runs),
        ("table log, 50 rows", table_log, runs),
        ("whole table as of t (streamed)", as_of, 5),
        ("chrononaut.as_of(NULL::reads, t), count(*)", as_of_sql, 5),
        (
            "Python-style versions (WHERE key = $1 AND table_name = $2)",
            python_versions,
            runs,
        ),
    ];
    println!("| read | owner (no policy) | reader (policy) | ratio |");
    println!("|---|---|---|---|");
    for (name, read, n) in reads {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..n {
            let s = Instant::now();
            let x = read(&ch, &mut owner, mid).await?;
            a.push(s.elapsed());
            let s = Instant::now();
            let y = read(&ch, &mut reader, mid).await?;
            b.push(s.elapsed());
            assert_eq!(x, y, "{name}: the reader sees what the owner sees");
        }
        let (a, b) = (median(a), median(b));
        println!("| {name} | {a:.3} ms | {b:.3} ms | {:.2} |", b / a);
    }
    let t = mid.to_rfc3339();
    let server = [
        (
            "versions of a 101-version record",
            RECORD_HISTORY,
            "('reads', '{\"id\": 1}', NULL, NULL, NULL, false, NULL, 0)".to_owned(),
            runs,
        ),
        (
            "version_at (middle of its history)",
            RECORD_HISTORY,
            format!("('reads', '{{\"id\": 1}}', '{t}', NULL, NULL, true, 1, 0)"),
            runs,
        ),
        ("whole table as of t", AS_OF, format!("('reads', '{t}')"), 5),
    ];
    println!();
    println!(
        "| server side (EXPLAIN ANALYZE, median) | owner (no policy) | reader (policy) | ratio |"
    );
    println!("|---|---|---|---|");
    for (name, sql, args, n) in server {
        let a = server_ms(&mut owner, sql, &args, n).await?;
        let b = server_ms(&mut reader, sql, &args, n).await?;
        println!("| {name} | {a:.3} ms | {b:.3} ms | {:.1} |", b / a);
    }
    reader.close().await?;
    sqlx::raw_sql(AssertSqlSafe(format!(
        "DROP OWNED BY \"{role}\"; DROP ROLE \"{role}\""
    )))
    .execute(&mut owner)
    .await?;
    drop(owner);
    Ok(())
}
