//! Read benchmark over history shapes (issue 12 item 3): from many records with few versions to
//! few records with many, at the same history size.
//!
//! For each shape (records x versions per record: 100k x 10, 10k x 100, 1k x 1000 = 1M history
//! rows; with `--large` also 1M x 10, 100k x 100, 10k x 1000 = 10M), in a fresh database: a
//! tracked table `doc` of `records` live rows and its history written directly in the activity
//! table (versions interleaved in time, as a busy table's are), beside a second table's
//! history (`--other`, default 100k rows), then `VACUUM ANALYZE`. It times, median of `--runs`
//! (default 5):
//!
//! - `as_of` of `doc` at the middle of its history: server-side (`EXPLAIN ANALYZE` of
//!   `chrononaut.history_as_of`, what the library calls), through the library (client, every
//!   row streamed), and through the CLI (`chrononaut at doc --at T --format csv`, the whole
//!   process) when a `chrononaut` binary of the same build profile sits beside this one
//!   (`cargo build --release -p chrononaut-cli` first); and server-side after its last change
//!   (`as_of` of the present); with the path `chrononaut.as_of_path` chose for each time
//!   (`--path walk|skip|scan` forces one in every session, as `SET chrononaut.as_of_path`);
//! - the newest 50 of `doc` (`table_activity`), its page 2 by keyset cursor, and the newest 50
//!   across tables (`activity`), client round trips.
//!
//! ```sh
//! cargo build --release -p chrononaut-cli
//! cargo run --release -p chrononaut-bench --bin read_shapes -- [--runs 5] [--other 100000] [--large] [--path P]
//!     [--shapes 100000x100,...]   # only these shapes (records x versions)
//! ```

mod common;
use common::{Res, arg};

use std::time::{Duration, Instant};

use chrononaut::{ActivityFilter, Chrononaut, TrackOptions};
use chrononaut_testdb::TestDb;
use futures_util::TryStreamExt;
use sqlx::types::chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, Connection, PgConnection};

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1e3
}

/// Times `runs` calls of `f`, median in ms.
macro_rules! time_ms {
    ($runs:expr, $body:expr) => {{
        let mut times = Vec::new();
        for _ in 0..$runs {
            let s = Instant::now();
            $body;
            times.push(s.elapsed());
        }
        median(times)
    }};
}

/// The `chrononaut` CLI of this build profile, if it was built.
fn cli() -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let path = exe.parent()?.join("chrononaut");
    path.exists().then_some(path)
}

#[tokio::main]
async fn main() -> Res<()> {
    let runs = arg("--runs", 5).max(1) as usize;
    let other = arg("--other", 100_000);
    let large = std::env::args().any(|a| a == "--large");
    let args: Vec<String> = std::env::args().collect();
    let forced = args
        .iter()
        .position(|a| a == "--path")
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_default();
    if !["", "walk", "skip", "scan"].contains(&forced.as_str()) {
        return Err(format!("--path {forced}: walk, skip or scan").into());
    }
    let mut shapes: Vec<(i64, i64)> = vec![(100_000, 10), (10_000, 100), (1_000, 1_000)];
    if large {
        shapes.extend([(1_000_000, 10), (100_000, 100), (10_000, 1_000)]);
    }
    // `--shapes 100000x100,1000x1000`: only these shapes
    if let Some(list) = args
        .iter()
        .position(|a| a == "--shapes")
        .and_then(|i| args.get(i + 1))
    {
        shapes = list
            .split(',')
            .map(|shape| {
                let (r, v) = shape.split_once('x')?;
                Some((r.trim().parse().ok()?, v.trim().parse().ok()?))
            })
            .collect::<Option<Vec<(i64, i64)>>>()
            .ok_or_else(|| format!("--shapes {list}: RECORDSxVERSIONS[,...], e.g. 100000x100"))?;
    }
    let cli = cli();
    if cli.is_none() {
        eprintln!(
            "no chrononaut binary beside this one: the CLI column is left out \
             (cargo build [--release] -p chrononaut-cli)"
        );
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "load average at start: {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "| records x versions | history rows | as_of server (path) | as_of library | as_of CLI | as_of server, after the last change (path) | newest 50 | page 2 | newest 50, all tables |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (records, versions) in shapes {
        let db = TestDb::new().await?;
        let mut conn = PgConnection::connect(&db.url).await?;
        let ch = Chrononaut::new();
        ch.install(&mut conn).await?;
        sqlx::raw_sql("CREATE TABLE doc (id int PRIMARY KEY, v int)")
            .execute(&mut conn)
            .await?;
        ch.track(&mut conn, "doc", &TrackOptions::new().without_chain(true))
            .await?;
        let last = versions - 1;
        // live rows at their last version, written past the capture (their history follows)
        sqlx::raw_sql(AssertSqlSafe(format!(
            "ALTER TABLE doc DISABLE TRIGGER USER; \
             INSERT INTO doc (id, v, version) SELECT g, {last}, {last} FROM generate_series(1, {records}) g; \
             ALTER TABLE doc ENABLE TRIGGER USER; \
             INSERT INTO chrononaut_activity (table_name, changed, version, key, data, user_info, extra_info, operation) \
             SELECT 'doc', timestamptz '2026-01-01' + make_interval(secs => (v * {records} + k) / 1000.0), v, \
                    jsonb_build_object('id', k), jsonb_build_object('id', k, 'v', v, 'version', v), \
                    '{{\"user_id\": null, \"remote_addr\": null}}', '{{}}', \
                    CASE WHEN v = 0 THEN 'insert' ELSE 'update' END \
             FROM generate_series(0, {last}) v, generate_series(1, {records}) k \
             ORDER BY v, k; \
             INSERT INTO chrononaut_activity (table_name, changed, version, key, data, user_info, extra_info, operation) \
             SELECT 'other', timestamptz '2026-01-01' + make_interval(secs => g / 1000.0), g % 10, \
                    jsonb_build_object('id', g / 10), jsonb_build_object('id', g / 10, 'n', g), \
                    '{{}}', '{{}}', 'update' \
             FROM generate_series(1, {other}) g;"
        )))
        .execute(&mut conn)
        .await?;
        sqlx::raw_sql("VACUUM ANALYZE chrononaut_activity")
            .execute(&mut conn)
            .await?;
        // the live table's statistics, as autovacuum keeps them (as_of_path reads its
        // reltuples)
        sqlx::raw_sql("ANALYZE doc").execute(&mut conn).await?;
        let history = records * versions + other;
        let span_secs = (versions * records) as f64 / 1000.0;
        let mid: DateTime<Utc> = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT timestamptz '2026-01-01' + make_interval(secs => {})",
            span_secs / 2.0
        )))
        .fetch_one(&mut conn)
        .await?;
        let t = mid.to_rfc3339();
        let end: DateTime<Utc> = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT timestamptz '2026-01-01' + make_interval(secs => {})",
            span_secs + 1.0
        )))
        .fetch_one(&mut conn)
        .await?;
        let t_end = end.to_rfc3339();
        let force = format!(
            "ALTER DATABASE \"{}\" SET chrononaut.as_of_path = '{forced}'",
            db.name
        );
        sqlx::raw_sql(AssertSqlSafe(force))
            .execute(&mut conn)
            .await?;
        drop(conn);
        let mut conn = PgConnection::connect(&db.url).await?;
        let path_at = |at: String| {
            let url = db.url.clone();
            async move {
                let mut c = PgConnection::connect(&url).await?;
                let path: String =
                    sqlx::query_scalar("SELECT chrononaut.as_of_path('doc', $1::timestamptz)")
                        .bind(at)
                        .fetch_one(&mut c)
                        .await?;
                Res::Ok(path)
            }
        };
        let path_mid = path_at(t.clone()).await?;
        let path_end = path_at(t_end.clone()).await?;

        let server = common::execution_ms(
            &mut conn,
            &format!("SELECT count(*) FROM chrononaut.history_as_of('doc', '{t}')"),
            runs,
        )
        .await?;
        let server_end = common::execution_ms(
            &mut conn,
            &format!("SELECT count(*) FROM chrononaut.history_as_of('doc', '{t_end}')"),
            runs,
        )
        .await?;
        let mut count = 0usize;
        let library = time_ms!(runs, {
            count = ch
                .as_of(&mut conn, "doc", mid)
                .await?
                .rows()
                .try_fold(0usize, |n, _| async move { Ok(n + 1) })
                .await?;
        });
        assert_eq!(count as i64, records, "as_of of every record");
        let via_cli = match &cli {
            Some(path) => {
                let ms = time_ms!(runs, {
                    let out = std::process::Command::new(path)
                        .args(["at", "doc", "--at", &t, "--format", "csv"])
                        .env("DATABASE_URL", &db.url)
                        .env("NO_COLOR", "1")
                        .stderr(std::process::Stdio::inherit())
                        .output()?;
                    if !out.status.success() {
                        return Err("chrononaut at failed".into());
                    }
                });
                format!("{ms:.1} ms")
            }
            None => "-".to_owned(),
        };
        let filter = ActivityFilter::new().limit(50);
        let mut next = None;
        let newest = time_ms!(runs, {
            let page = ch.table_activity(&mut conn, "doc", &filter).await?;
            next = page.next;
        });
        let page2 = time_ms!(runs, {
            ch.table_activity(&mut conn, "doc", &filter.clone().cursor(next))
                .await?;
        });
        let across = time_ms!(runs, {
            ch.activity(&mut conn, &filter).await?;
        });
        println!(
            "| {records} x {versions} | {history} | {server:.1} ms ({path_mid}) | {library:.1} ms | {via_cli} | {server_end:.1} ms ({path_end}) | {newest:.2} ms | {page2:.2} ms | {across:.2} ms |"
        );
        drop(conn);
        drop(db); // the database is dropped with it
    }
    Ok(())
}
