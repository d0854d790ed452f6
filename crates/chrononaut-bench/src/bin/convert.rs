//! Legacy-conversion benchmark: chunked conversion of chrononaut 0.1/0.2 history
//! (`<table>_history`, by default 1M legacy rows) into the activity table, in rows per second,
//! with a baseline in the same run: a plain `INSERT ... SELECT` of the same rows into a copy of
//! the activity table (same columns and indexes), without any conversion.
//!
//! ```sh
//! cargo run --release -p chrononaut-bench --bin convert -- [--records 250000] [--versions 4] [--chunk 10000]
//! ```
//! Uses a fresh database (DATABASE_URL's server, else the local one), dropped at the end.

use std::time::Instant;

use chrononaut::{Chrononaut, ConvertOptions};
use chrononaut_testdb::TestDb;
use sqlx::Connection;

struct Args {
    records: u64,
    versions: u64,
    chunk: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        records: 250_000,
        versions: 4,
        chunk: 10_000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || -> Result<u64, String> {
            it.next()
                .ok_or_else(|| format!("{flag} needs a value"))?
                .parse::<u64>()
                .map_err(|e| format!("{flag}: {e}"))
        };
        match flag.as_str() {
            "--records" => args.records = value()?,
            "--versions" => args.versions = value()?,
            "--chunk" => args.chunk = value()?.max(1),
            other => {
                return Err(format!(
                    "unknown argument {other}; use --records N --versions V --chunk C"
                ));
            }
        }
    }
    Ok(args)
}

/// A table as chrononaut 0.2 left it: the current rows at version `versions`, and
/// `versions` legacy rows per record (versions 0 .. versions-1), each the state before a change.
const SETUP: &str = "
CREATE TABLE bench_items (
    id integer PRIMARY KEY, name text, qty integer, price numeric(10,2), note text,
    created_at timestamptz, version integer
);
CREATE TABLE bench_items_history (
    id integer NOT NULL, name text, qty integer, price numeric(10,2), note text,
    created_at timestamptz, version integer NOT NULL,
    changed timestamptz, change_info jsonb,
    PRIMARY KEY (id, version)
);
INSERT INTO bench_items
SELECT g, 'item ' || g, g % 100, (g % 1000) / 10.0, repeat('n', 40),
       timestamptz '2020-01-01' + g * interval '1 second', $VERSIONS
FROM generate_series(1, $RECORDS) AS g;
INSERT INTO bench_items_history
SELECT g, 'item ' || g || ' v' || v, (g + v) % 100, (g % 1000) / 10.0, repeat('n', 40),
       timestamptz '2020-01-01' + g * interval '1 second', v,
       timestamptz '2021-01-01' + g * interval '1 second' + v * interval '1 day',
       jsonb_build_object('user_id', 'user' || (g % 50), 'remote_addr', '10.0.0.1',
                          'extra', jsonb_build_object('rationale', 'bench'))
FROM generate_series(1, $RECORDS) AS g, generate_series(0, $VERSIONS - 1) AS v;
ANALYZE bench_items;
ANALYZE bench_items_history;
CREATE TABLE copy_activity (LIKE chrononaut_activity INCLUDING DEFAULTS INCLUDING INDEXES);
";

const BASELINE: &str = "
INSERT INTO copy_activity (table_name, changed, version, key, data, user_info, extra_info, operation)
SELECT 'bench_items', h.changed, h.version, jsonb_build_object('id', h.id),
       to_jsonb(h.*) - 'changed' - 'change_info', h.change_info, '{}'::jsonb, 'update'
FROM bench_items_history AS h
UNION ALL
SELECT 'bench_items', t.created_at, t.version, jsonb_build_object('id', t.id),
       to_jsonb(t.*), '{}'::jsonb, '{}'::jsonb, 'update'
FROM bench_items AS t
";

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("convert bench: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let db = TestDb::new().await?;
    let mut conn = sqlx::PgConnection::connect(&db.url).await?;
    let ch = Chrononaut::new();
    ch.install(&mut conn).await?;
    let setup = SETUP
        .replace("$RECORDS", &args.records.to_string())
        .replace("$VERSIONS", &args.versions.to_string());
    let t = Instant::now();
    sqlx::raw_sql(sqlx::AssertSqlSafe(setup))
        .execute(&mut conn)
        .await?;
    let legacy_rows = args.records * args.versions;
    println!(
        "setup: {} records, {legacy_rows} legacy rows ({:.1} s)",
        args.records,
        t.elapsed().as_secs_f64()
    );

    // Baseline: the same number of rows copied without conversion, one statement.
    let t = Instant::now();
    let copied = sqlx::raw_sql(BASELINE)
        .execute(&mut conn)
        .await?
        .rows_affected();
    let baseline_secs = t.elapsed().as_secs_f64();
    let baseline_rate = copied as f64 / baseline_secs;
    println!(
        "baseline (plain INSERT ... SELECT, one statement): {copied} rows in {baseline_secs:.1} s = {baseline_rate:.0} rows/s"
    );

    let converter = ch
        .converter(&mut conn, "bench_items", &ConvertOptions::new())
        .await?;
    let t = Instant::now();
    let mut chunks = 0u64;
    let mut written = 0u64;
    let mut objects = 0u64;
    loop {
        let report = converter.convert_chunk(&mut conn, args.chunk).await?;
        if report.objects == 0 {
            break;
        }
        chunks += 1;
        written += report.rows;
        objects += report.objects;
    }
    let secs = t.elapsed().as_secs_f64();
    let rate = written as f64 / secs;
    println!(
        "chunked conversion: {objects} records in {chunks} chunks of {}: {written} activity rows \
         ({legacy_rows} legacy + {} current) in {secs:.1} s = {rate:.0} rows/s, {:.0} legacy rows/s, \
         {:.0} records/s; ratio to baseline {:.2}",
        args.chunk,
        args.records,
        legacy_rows as f64 / secs,
        objects as f64 / secs,
        rate / baseline_rate
    );
    conn.close().await?;
    Ok(())
}
