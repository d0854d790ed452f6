//! SQLite benchmark: what chrononaut's capture triggers cost a writer on an embedded database,
//! beside the same table untracked and a reference trigger in the shape of sqlite-history /
//! sqlite-history-json (changed values only, as JSON: `sql/sqlite_reference.sql`); with
//! `--reads`, the per-record reads and `as_of` at 1M history rows.
//!
//! Writes: one temporary SQLite file in WAL mode (`synchronous = NORMAL`; the per-commit
//! workload also with `FULL`), three identical tables of `--rows` rows (`sql/sqlite_tables.sql`),
//! one connection (a pool of one, as an embedded application holds it), prepared statements.
//! Workloads, each in interleaved rounds (every variant once per round, the order rotating),
//! the WAL checkpointed before every run; the figure is the median over rounds:
//! * single-row INSERTs, many in one transaction: µs per row;
//! * single-row UPDATEs (one column), many in one transaction: µs per row;
//! * single-row UPDATE per commit (`NORMAL`, then `FULL`): µs per commit, with a fourth variant
//!   that writes chrononaut's context row in every transaction (`Chrononaut::begin_sqlite`);
//! * a 1000-row UPDATE (one statement): µs per row.
//!
//! Every figure is printed as wall-clock µs and as this process's CPU µs (all its threads,
//! from /proc: steadier than the wall clock on a shared machine, but without the fsync waits),
//! each with its ratio to untracked (median of the rounds' ratios) and the µs it adds.
//!
//! ```sh
//! cargo run --release -p chrononaut-bench --bin sqlite_writes -- [--quick] [--reads] [--rounds 7]
//! ```
//!
//! See BENCHMARKS.md, "SQLite writes and reads".

mod common;
use common::Res;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrononaut::{ChangeContext, Chrononaut, TrackOptions, VersionFilter};
use clap::Parser;
use futures_util::TryStreamExt;
use serde_json::json;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::types::chrono::Utc;
use sqlx::{AssertSqlSafe, SqlitePool};

/// The three tables (sql/sqlite_tables.sql).
const TABLES: &str = include_str!("../../sql/sqlite_tables.sql");
/// The reference triggers on `bench_reference` (sql/sqlite_reference.sql).
const REFERENCE: &str = include_str!("../../sql/sqlite_reference.sql");
/// Rows of the bulk UPDATE.
const BULK: i64 = 1000;

#[derive(Parser, Debug)]
#[command(
    name = "sqlite_writes",
    about = "SQLite: chrononaut's capture beside untracked and a changed-values reference trigger"
)]
struct Args {
    /// Rounds per workload (each round runs every variant once, the order rotating).
    #[arg(long, default_value_t = 7)]
    rounds: usize,
    /// Short run: 3 rounds of small batches (overrides --rounds).
    #[arg(long)]
    quick: bool,
    /// Rows in each table before the run.
    #[arg(long, default_value_t = 10_000)]
    rows: i64,
    /// Also measure reads: versions, version_at and as_of over --history history rows.
    #[arg(long)]
    reads: bool,
    /// Reads: history rows in all (the read table's own plus other tables' filler).
    #[arg(long, default_value_t = 1_000_000)]
    history: i64,
    /// Reads: rows of the read table.
    #[arg(long, default_value_t = 100_000)]
    read_rows: i64,
    /// Page cache per connection in MB (`PRAGMA cache_size`; default: SQLite's own, 2 MB).
    #[arg(long)]
    cache_mb: Option<i64>,
    /// Keep the database files after the run and print their paths (to inspect the triggers).
    #[arg(long)]
    keep_db: bool,
    /// Directory of the temporary database files (default: the system's temp directory).
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// Statements per run of each workload.
struct Sizes {
    insert_rows: i64,
    update_rows: i64,
    commits_normal: i64,
    commits_full: i64,
    bulk_statements: i64,
}

/// One table of the comparison and how it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Variant {
    /// No trigger: the baseline.
    Untracked,
    /// The changed-values reference triggers.
    Reference,
    /// Tracked by chrononaut, written with no context (as any other client writes).
    Chrononaut,
    /// Tracked by chrononaut, each transaction through `Chrononaut::begin_sqlite` (per-commit only).
    Context,
}

impl Variant {
    fn table(self) -> &'static str {
        match self {
            Variant::Untracked => "bench_untracked",
            Variant::Reference => "bench_reference",
            Variant::Chrononaut | Variant::Context => "bench_tracked",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Variant::Untracked => "untracked",
            Variant::Reference => "reference",
            Variant::Chrononaut => "chrononaut",
            Variant::Context => "chrononaut+context",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Workload {
    InsertTx,
    UpdateTx,
    CommitNormal,
    CommitFull,
    Bulk,
}

impl Workload {
    const ALL: [Workload; 5] = [
        Workload::InsertTx,
        Workload::UpdateTx,
        Workload::CommitNormal,
        Workload::CommitFull,
        Workload::Bulk,
    ];

    fn variants(self) -> &'static [Variant] {
        match self {
            Workload::CommitNormal | Workload::CommitFull => &[
                Variant::Untracked,
                Variant::Reference,
                Variant::Chrononaut,
                Variant::Context,
            ],
            _ => &[Variant::Untracked, Variant::Reference, Variant::Chrononaut],
        }
    }

    fn title(self, s: &Sizes) -> String {
        match self {
            Workload::InsertTx => format!(
                "single-row INSERT, {} in one transaction (µs/row)",
                s.insert_rows
            ),
            Workload::UpdateTx => format!(
                "single-row UPDATE, {} in one transaction (µs/row)",
                s.update_rows
            ),
            Workload::CommitNormal => format!(
                "single-row UPDATE per commit, synchronous=NORMAL, {} commits (µs/commit)",
                s.commits_normal
            ),
            Workload::CommitFull => format!(
                "single-row UPDATE per commit, synchronous=FULL, {} commits (µs/commit)",
                s.commits_full
            ),
            Workload::Bulk => format!(
                "{BULK}-row UPDATE, {} statements (µs/row)",
                s.bulk_statements
            ),
        }
    }
}

/// The prepared statements of one table.
struct Statements {
    insert: Arc<str>,
    update: Arc<str>,
    bulk: Arc<str>,
}

impl Statements {
    fn of(table: &str) -> Statements {
        Statements {
            insert: format!("INSERT INTO {table} (id, name, qty, note) VALUES (?1, ?2, ?3, ?4)")
                .into(),
            update: format!("UPDATE {table} SET qty = ?1 WHERE id = ?2").into(),
            bulk: format!("UPDATE {table} SET qty = qty + 1 WHERE id > ?1 AND id <= ?1 + {BULK}")
                .into(),
        }
    }
}

/// What the runs have written so far: the next new id per table, the next value, the next
/// bulk range per table.
struct State {
    rows: i64,
    next_id: HashMap<&'static str, i64>,
    bulk_from: HashMap<&'static str, i64>,
    value: i64,
    update_id: i64,
}

impl State {
    fn next_id(&mut self, table: &'static str) -> i64 {
        let rows = self.rows;
        let id = self.next_id.entry(table).or_insert(rows);
        *id += 1;
        *id
    }

    /// A value no row holds yet, so that every UPDATE changes its row.
    fn value(&mut self) -> i64 {
        self.value += 1;
        self.value
    }

    /// An existing row, round robin.
    fn row(&mut self) -> i64 {
        self.update_id = self.update_id % self.rows + 1;
        self.update_id
    }

    fn bulk_from(&mut self, table: &'static str) -> i64 {
        let rows = self.rows;
        let from = self.bulk_from.entry(table).or_insert(0);
        let this = *from;
        *from = (*from + BULK) % (rows - BULK + 1).max(1);
        this
    }
}

/// A temporary database file, removed (with its WAL and shared-memory files) when dropped.
struct TempDb {
    path: PathBuf,
    keep: bool,
}

impl TempDb {
    fn new(dir: &Path, name: &str, keep: bool) -> TempDb {
        let path = dir.join(format!(
            "chrononaut-sqlite-bench-{}-{name}.db",
            std::process::id()
        ));
        let db = TempDb { path, keep };
        db.remove();
        db
    }

    fn remove(&self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.path.display()));
        }
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        if self.keep {
            println!("kept {}", self.path.display());
        } else {
            self.remove();
        }
    }
}

/// A pool of one connection to `path`: WAL, synchronous = NORMAL, the page cache of
/// `cache_mb` (SQLite's default when `None`), kept open for the run.
async fn open(path: &Path, cache_mb: Option<i64>) -> Res<SqlitePool> {
    let mut options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(30));
    if let Some(mb) = cache_mb {
        // negative: KiB rather than pages
        options = options.pragma("cache_size", (-mb * 1024).to_string());
    }
    Ok(SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_with(options)
        .await?)
}

async fn exec(pool: &SqlitePool, sql: &str) -> Res<()> {
    sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
        .execute(pool)
        .await?;
    Ok(())
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn min_max(v: &[f64]) -> (f64, f64) {
    v.iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
            (lo.min(*x), hi.max(*x))
        })
}

/// µs per row (or commit): wall-clock, and CPU of this process (every thread: the caller's and
/// sqlx's SQLite worker, where SQLite and the triggers run). CPU time is not stretched by
/// other programs taking the machine's cores, so it is the steadier measure on a shared
/// machine; it leaves out waiting for the disk (fsync).
#[derive(Debug, Clone, Copy, Default)]
struct Figure {
    wall: f64,
    cpu: f64,
}

fn wall(f: &Figure) -> f64 {
    f.wall
}

fn cpu(f: &Figure) -> f64 {
    f.cpu
}

/// The start of a measure: the wall clock and the process's CPU time.
struct Clock {
    wall: Instant,
    cpu_ns: u64,
}

impl Clock {
    fn start() -> Clock {
        Clock {
            wall: Instant::now(),
            cpu_ns: cpu_ns(),
        }
    }

    /// µs per one of `n` since the start.
    fn per(&self, n: i64) -> Figure {
        let n = n.max(1) as f64;
        Figure {
            wall: self.wall.elapsed().as_secs_f64() * 1e6 / n,
            cpu: cpu_ns().saturating_sub(self.cpu_ns) as f64 / 1e3 / n,
        }
    }
}

/// CPU time of this process so far in ns: the sum over its threads of the first field of
/// `/proc/self/task/<tid>/schedstat` (time on a CPU, ns); 0 where /proc has no such files.
fn cpu_ns() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(|t| t.ok())
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| {
            s.split_whitespace()
                .next()
                .and_then(|n| n.parse::<u64>().ok())
        })
        .sum()
}

const NOTE: &str = "a note of about a hundred characters, the size of a short description \
                    in an ordinary application row";

/// One run of `w` on `v`'s table: µs per row (or per commit), wall and CPU.
async fn run(
    pool: &SqlitePool,
    ch: &Chrononaut,
    w: Workload,
    v: Variant,
    sizes: &Sizes,
    state: &mut State,
) -> Res<Figure> {
    let table = v.table();
    let st = Statements::of(table);
    exec(pool, "PRAGMA wal_checkpoint(TRUNCATE)").await?;
    match w {
        Workload::InsertTx => {
            let start = Clock::start();
            let mut tx = pool.begin().await?;
            for _ in 0..sizes.insert_rows {
                let id = state.next_id(table);
                sqlx::query(AssertSqlSafe(st.insert.clone()))
                    .bind(id)
                    .bind(format!("name {id}"))
                    .bind(id)
                    .bind(NOTE)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(start.per(sizes.insert_rows))
        }
        Workload::UpdateTx => {
            let start = Clock::start();
            let mut tx = pool.begin().await?;
            for _ in 0..sizes.update_rows {
                let (value, id) = (state.value(), state.row());
                sqlx::query(AssertSqlSafe(st.update.clone()))
                    .bind(value)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(start.per(sizes.update_rows))
        }
        Workload::CommitNormal | Workload::CommitFull => {
            let n = if w == Workload::CommitFull {
                sizes.commits_full
            } else {
                sizes.commits_normal
            };
            let ctx = ChangeContext::new()
                .user("bench")
                .rationale("per-commit update");
            let start = Clock::start();
            for _ in 0..n {
                let (value, id) = (state.value(), state.row());
                let update = sqlx::query(AssertSqlSafe(st.update.clone()))
                    .bind(value)
                    .bind(id);
                if v == Variant::Context {
                    let mut tx = ch.begin_sqlite(pool, &ctx).await?;
                    update.execute(&mut *tx).await?;
                    tx.commit().await?;
                } else {
                    let mut tx = pool.begin().await?;
                    update.execute(&mut *tx).await?;
                    tx.commit().await?;
                }
            }
            Ok(start.per(n))
        }
        Workload::Bulk => {
            let mut total = Figure::default();
            for _ in 0..sizes.bulk_statements {
                let from = state.bulk_from(table);
                let start = Clock::start();
                let done = sqlx::query(AssertSqlSafe(st.bulk.clone()))
                    .bind(from)
                    .execute(pool)
                    .await?;
                let took = start.per(1);
                total.wall += took.wall;
                total.cpu += took.cpu;
                if done.rows_affected() != BULK as u64 {
                    return Err(format!(
                        "bulk UPDATE of {table} changed {} rows, not {BULK}",
                        done.rows_affected()
                    )
                    .into());
                }
            }
            let rows = (sizes.bulk_statements * BULK) as f64;
            Ok(Figure {
                wall: total.wall / rows,
                cpu: total.cpu / rows,
            })
        }
    }
}

/// Sets up the three tables, tracks one, fills each with `rows` rows.
async fn setup(pool: &SqlitePool, ch: &Chrononaut, rows: i64) -> Res<()> {
    exec(pool, TABLES).await?;
    exec(pool, REFERENCE).await?;
    let mut conn = pool.acquire().await?;
    ch.install(&mut conn).await?;
    ch.track(&mut conn, "bench_tracked", &TrackOptions::new())
        .await?;
    drop(conn);
    // after the triggers, so that every row has its insert in the history
    for table in ["bench_untracked", "bench_reference", "bench_tracked"] {
        exec(
            pool,
            &format!(
                "WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < {rows}) \
                 INSERT INTO {table} (id, name, qty, note) SELECT i, 'name ' || i, i, '{NOTE}' FROM g"
            ),
        )
        .await?;
    }
    exec(pool, "PRAGMA wal_checkpoint(TRUNCATE)").await?;
    Ok(())
}

async fn writes(args: &Args, dir: &Path, sizes: &Sizes, rounds: usize) -> Res<()> {
    let db = TempDb::new(dir, "writes", args.keep_db);
    let pool = open(&db.path, args.cache_mb).await?;
    let ch = Chrononaut::new();
    setup(&pool, &ch, args.rows).await?;
    let version: String = sqlx::query_scalar("SELECT sqlite_version()")
        .fetch_one(&pool)
        .await?;
    let cache: i64 = sqlx::query_scalar("PRAGMA cache_size")
        .fetch_one(&pool)
        .await?;
    let cache = if cache < 0 {
        format!("{} KiB", -cache)
    } else {
        format!("{cache} pages")
    };
    println!(
        "SQLite {version}, WAL, page cache {cache}, {} rows per table, {rounds} rounds, file {}",
        args.rows,
        db.path.display()
    );
    let mut state = State {
        rows: args.rows,
        next_id: HashMap::new(),
        bulk_from: HashMap::new(),
        value: 1_000_000_000,
        update_id: 0,
    };
    for w in Workload::ALL {
        let sync = if w == Workload::CommitFull {
            "FULL"
        } else {
            "NORMAL"
        };
        exec(&pool, &format!("PRAGMA synchronous = {sync}")).await?;
        let variants = w.variants();
        let h0 = history_rows(&pool).await?;
        // warm-up: prepare every statement, fill the page cache
        let warm = Sizes {
            insert_rows: 50,
            update_rows: 50,
            commits_normal: 20,
            commits_full: 5,
            bulk_statements: 1,
        };
        for v in variants {
            run(&pool, &ch, w, *v, &warm, &mut state).await?;
        }
        let mut rounds_of: Vec<HashMap<Variant, Figure>> = Vec::new();
        for round in 0..rounds {
            let mut this: HashMap<Variant, Figure> = HashMap::new();
            for i in 0..variants.len() {
                let v = variants[(i + round) % variants.len()];
                this.insert(v, run(&pool, &ch, w, v, sizes, &mut state).await?);
            }
            rounds_of.push(this);
        }
        let h1 = history_rows(&pool).await?;
        println!("\n{} [chrononaut history {h0}..{h1} rows]", w.title(sizes));
        println!(
            "  {:<19} {:>9} {:>17} {:>8} {:>9} | {:>8} {:>7} {:>9}",
            "", "wall µs", "(min..max)", "ratio", "+µs", "CPU µs", "ratio", "+µs"
        );
        let of = |v: Variant, f: fn(&Figure) -> f64| -> Vec<f64> {
            rounds_of.iter().map(|r| f(&r[&v])).collect()
        };
        let ratio = |v: Variant, f: fn(&Figure) -> f64| -> f64 {
            median(
                &rounds_of
                    .iter()
                    .map(|r| f(&r[&v]) / f(&r[&Variant::Untracked]))
                    .collect::<Vec<_>>(),
            )
        };
        let base_wall = median(&of(Variant::Untracked, wall));
        let base_cpu = median(&of(Variant::Untracked, cpu));
        for v in variants {
            let walls = of(*v, wall);
            let (lo, hi) = min_max(&walls);
            let (mw, mc) = (median(&walls), median(&of(*v, cpu)));
            let range = format!("({lo:.1}..{hi:.1})");
            if *v == Variant::Untracked {
                println!(
                    "  {:<19} {mw:>9.2} {range:>17} {:>8} {:>9} | {mc:>8.2}",
                    v.label(),
                    "",
                    ""
                );
            } else {
                println!(
                    "  {:<19} {mw:>9.2} {range:>17} {:>8} {:>+9.2} | {mc:>8.2} {:>7} {:>+9.2}",
                    v.label(),
                    format!("x{:.2}", ratio(*v, wall)),
                    mw - base_wall,
                    format!("x{:.2}", ratio(*v, cpu)),
                    mc - base_cpu
                );
            }
        }
    }
    exec(&pool, "PRAGMA synchronous = NORMAL").await?;
    let history = history_rows(&pool).await?;
    let reference: i64 = sqlx::query_scalar("SELECT count(*) FROM bench_reference_history")
        .fetch_one(&pool)
        .await?;
    println!(
        "\nhistory rows at the end: chrononaut {history}, reference {reference}; load {}",
        loadavg()
    );
    pool.close().await;
    Ok(())
}

async fn history_rows(pool: &SqlitePool) -> Res<i64> {
    Ok(
        sqlx::query_scalar("SELECT count(*) FROM chrononaut_activity")
            .fetch_one(pool)
            .await?,
    )
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn median_d(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Reads at `args.history` history rows: a table of `args.read_rows` rows tracked (their
/// inserts and one bulk UPDATE recorded by the triggers), one record with 101 versions, a
/// tenth of the rows renamed after the time read, and other tables' history written directly
/// in the triggers' format up to the total.
async fn reads(args: &Args, dir: &Path) -> Res<()> {
    let db = TempDb::new(dir, "reads", args.keep_db);
    let pool = open(&db.path, args.cache_mb).await?;
    let ch = Chrononaut::new();
    let rows = args.read_rows;
    let t0 = Instant::now();
    exec(
        &pool,
        "CREATE TABLE reads (id INTEGER PRIMARY KEY, name TEXT, qty INTEGER, note TEXT, \
         version INTEGER DEFAULT 0)",
    )
    .await?;
    let mut conn = pool.acquire().await?;
    ch.install(&mut conn).await?;
    ch.track(&mut conn, "reads", &TrackOptions::new()).await?;
    drop(conn);
    let ti = Instant::now();
    exec(
        &pool,
        &format!(
            "WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < {rows}) \
             INSERT INTO reads (id, name, qty, note) SELECT i, 'name ' || i, i, '{NOTE}' FROM g"
        ),
    )
    .await?;
    let insert_time = ti.elapsed();
    let tu = Instant::now();
    exec(&pool, "UPDATE reads SET qty = qty + 1").await?;
    let update_time = tu.elapsed();
    for i in 0..99 {
        sqlx::query("UPDATE reads SET qty = ?1 WHERE id = 1")
            .bind(1000 + i)
            .execute(&pool)
            .await?;
    }
    // the history's times have milliseconds: keep the time read apart from the writes
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mid = Utc::now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    exec(&pool, "UPDATE reads SET name = 'renamed' WHERE id % 10 = 0").await?;
    let have: i64 = sqlx::query_scalar("SELECT count(*) FROM chrononaut_activity")
        .fetch_one(&pool)
        .await?;
    let filler = (args.history - have).max(0);
    let tf = Instant::now();
    // other tables' history in the capture triggers' format, spread over the last day
    exec(
        &pool,
        &format!(
            "WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < {filler}) \
             INSERT INTO chrononaut_activity \
                 (table_name, changed, version, key, data, user_info, extra_info, operation) \
             SELECT 'other_' || (i % 20), \
                    strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now', '-' || (i % 86400) || ' seconds'), \
                    i % 7, json_object('id', i / 7), \
                    json_object('id', i / 7, 'name', 'n' || i, 'note', '{NOTE}', 'version', i % 7), \
                    '{{\"user_id\":null,\"remote_addr\":null}}', '{{}}', 'update' \
             FROM g"
        ),
    )
    .await?;
    let filler_time = tf.elapsed();
    exec(&pool, "PRAGMA wal_checkpoint(TRUNCATE)").await?;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM chrononaut_activity")
        .fetch_one(&pool)
        .await?;
    let size = std::fs::metadata(&db.path).map(|m| m.len()).unwrap_or(0);
    println!(
        "\nreads: {total} history rows ({} MB file), table of {rows} rows; set-up {:.1} s \
         ({rows}-row tracked INSERT {}, {rows}-row UPDATE {}, {filler} filler rows {})",
        size / 1_000_000,
        t0.elapsed().as_secs_f64(),
        ms(insert_time),
        ms(update_time),
        ms(filler_time)
    );

    let mut conn = pool.acquire().await?;
    let runs = 50;
    let rec = ch.record(&mut conn, "reads", json!({"id": 1})).await?;
    let mut times = Vec::new();
    let mut n = 0;
    for _ in 0..runs {
        let s = Instant::now();
        n = rec.versions(&mut conn, &VersionFilter::new()).await?.len();
        times.push(s.elapsed());
    }
    println!(
        "  versions of one record ({n} versions)      {}",
        ms(median_d(times))
    );
    let rec10 = ch.record(&mut conn, "reads", json!({"id": 10})).await?;
    let mut times = Vec::new();
    for _ in 0..runs {
        let s = Instant::now();
        n = rec10
            .versions(&mut conn, &VersionFilter::new())
            .await?
            .len();
        times.push(s.elapsed());
    }
    println!(
        "  versions of one record ({n} versions)        {}",
        ms(median_d(times))
    );
    let mut times = Vec::new();
    let mut at_version = None;
    for _ in 0..runs {
        let s = Instant::now();
        at_version = rec.version_at(&mut conn, mid).await?.map(|v| v.version());
        times.push(s.elapsed());
    }
    if at_version != Some(100) {
        return Err(format!("version_at gave {at_version:?}, not version 100").into());
    }
    println!(
        "  version_at (of the 101-version record)     {}",
        ms(median_d(times))
    );
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
    if count as i64 != rows {
        return Err(format!("as_of gave {count} rows, not {rows}").into());
    }
    println!(
        "  as_of, whole table ({count} rows)          {}",
        ms(median_d(times))
    );
    drop(conn);
    println!("  load {}", loadavg());
    pool.close().await;
    Ok(())
}

#[tokio::main]
async fn main() -> Res<()> {
    let args = Args::parse();
    let dir = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    let (sizes, rounds) = if args.quick {
        (
            Sizes {
                insert_rows: 2000,
                update_rows: 2000,
                commits_normal: 300,
                commits_full: 50,
                bulk_statements: 3,
            },
            3,
        )
    } else {
        (
            Sizes {
                insert_rows: 10_000,
                update_rows: 10_000,
                commits_normal: 2000,
                commits_full: 300,
                bulk_statements: 10,
            },
            args.rounds.max(1),
        )
    };
    if args.rows < BULK {
        return Err(format!("--rows must be at least {BULK}").into());
    }
    println!("load at start {}", loadavg());
    writes(&args, &dir, &sizes, rounds).await?;
    if args.reads {
        reads(&args, &dir).await?;
    }
    Ok(())
}
