//! Tamper-evidence benchmark: `verify`, `digest` and `verify --digest` on ~1M history rows.
//!
//! Builds, in a fresh database, `--records` records (default 100k) with `--versions` chained
//! versions each (default 10: 1M history rows) of a ~300-byte row, written the way the capture
//! functions write them (same columns, `chrononaut.chain_hash`, one INSERT ... SELECT per
//! version level instead of one statement per change, to build the table in seconds), then
//! times the library's calls (median of `--runs`, default 3).
//!
//! ```sh
//! cargo run --release -p chrononaut-bench --bin verify -- [--records 100000] [--versions 10]
//! ```

mod common;
use common::{Res, arg};

use std::time::{Duration, Instant};

use chrononaut::Chrononaut;
use chrononaut_testdb::TestDb;
use sqlx::{AssertSqlSafe, Connection, PgConnection};

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

#[tokio::main]
async fn main() -> Res<()> {
    let records = arg("--records", 100_000);
    let versions = arg("--versions", 10);
    let runs = arg("--runs", 3).max(1) as usize;
    let db = TestDb::new().await?;
    let mut conn = PgConnection::connect(&db.url).await?;
    let ch = Chrononaut::new();
    ch.install(&mut conn).await?;

    let started = Instant::now();
    for v in 0..versions {
        let op = if v == 0 { "insert" } else { "update" };
        // level v chains to level v - 1 of the same key
        let sql = format!(
            "INSERT INTO chrononaut_activity (table_name, changed, version, key, data, user_info, extra_info, operation, prev_hash, hash)
             SELECT s.table_name, s.changed, s.version, s.key, s.data, s.user_info, s.extra_info, s.operation, s.prev,
                    chrononaut.chain_hash(s.prev, s.table_name, s.key, s.version, s.changed, s.data, s.user_info, s.extra_info, s.operation)
             FROM (
                 SELECT 'accounts'::text AS table_name,
                        timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second' + {v} * interval '1 day' AS changed,
                        {v} AS version, jsonb_build_object('id', g) AS key,
                        jsonb_build_object('id', g, 'name', 'name ' || g, 'email', 'user' || g || '@example.com',
                                           'note', repeat('note ', 20), 'n', {v}, 'updated', '2024-01-01T00:00:00+00:00',
                                           'version', {v}) AS data,
                        jsonb_build_object('user_id', 'user' || (g % 50), 'remote_addr', '192.0.2.1') AS user_info,
                        CASE WHEN g % 10 = 0 THEN '{{\"rationale\": \"bench\"}}'::jsonb ELSE '{{}}'::jsonb END AS extra_info,
                        '{op}'::text AS operation,
                        p.hash AS prev
                 FROM generate_series(1, {records}) AS g
                 LEFT JOIN chrononaut_activity AS p
                        ON p.table_name = 'accounts' AND p.key = jsonb_build_object('id', g) AND p.version = {v} - 1
                 OFFSET 0
             ) AS s"
        );
        sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut conn).await?;
    }
    sqlx::raw_sql("VACUUM ANALYZE chrononaut_activity")
        .execute(&mut conn)
        .await?;
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM chrononaut_activity")
        .fetch_one(&mut conn)
        .await?;
    let size: String =
        sqlx::query_scalar("SELECT pg_size_pretty(pg_total_relation_size('chrononaut_activity'))")
            .fetch_one(&mut conn)
            .await?;
    println!(
        "history: {rows} rows ({records} records x {versions} versions), {size} with indexes, built in {}",
        secs(started.elapsed())
    );

    let mut verify_times = Vec::new();
    let mut digest_times = Vec::new();
    let mut check_times = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let report = ch.verify(&mut conn, None).await?;
        verify_times.push(t.elapsed());
        assert!(
            report.is_ok(),
            "clean history must verify: {:?}",
            report.issues
        );
        assert_eq!(report.tables[0].chained, rows);

        let t = Instant::now();
        let digest = ch.digest(&mut conn, None).await?;
        digest_times.push(t.elapsed());

        let t = Instant::now();
        let report = ch.verify_digest(&mut conn, &digest).await?;
        check_times.push(t.elapsed());
        assert!(report.is_ok());
    }
    // one broken row is found in the same time
    sqlx::raw_sql(
        "ALTER TABLE chrononaut_activity DISABLE TRIGGER chrononaut_append_only;
         UPDATE chrononaut_activity SET data = data || '{\"n\": -1}' WHERE key = '{\"id\": 777}' AND version = 3;
         ALTER TABLE chrononaut_activity ENABLE TRIGGER chrononaut_append_only;",
    )
    .execute(&mut conn)
    .await?;
    let t = Instant::now();
    let report = ch.verify(&mut conn, None).await?;
    let tampered = t.elapsed();
    assert_eq!(report.issues.len(), 1);

    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let per_row = |d: Duration| d.as_secs_f64() * 1e6 / rows as f64;
    let (v, d, c) = (
        median(verify_times),
        median(digest_times),
        median(check_times),
    );
    println!("median of {runs} runs, client-side:");
    println!(
        "  verify (all chains)          {:>9}  ({:.2} µs/row)",
        secs(v),
        per_row(v)
    );
    println!(
        "  digest                       {:>9}  ({:.2} µs/row)",
        secs(d),
        per_row(d)
    );
    println!(
        "  verify --digest              {:>9}  ({:.2} µs/row)",
        secs(c),
        per_row(c)
    );
    println!(
        "  verify, one row edited       {:>9}  (found: {})",
        secs(tampered),
        report.issues[0].message
    );
    Ok(())
}
