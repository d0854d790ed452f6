//! Write-path benchmark: a tracked table against an identical untracked one, in the same run.
//!
//! Creates its own database (via `chrononaut-testdb`), installs chrononaut, creates two
//! identical tables, tracks one of them and runs single-row UPDATE / INSERT / DELETE and a
//! 1000-row bulk UPDATE against both, interleaved and repeated, per commit, with prepared
//! statements. Prints ops/s of both sides and the ratio tracked / untracked (median of the
//! rounds, and min..max), next to the targets. See BENCHMARKS.md at the repository root.
//!
//! Two modes:
//! * `engine`: both sides send one autocommit statement and nothing else (the triggers still
//!   run, with an empty context) -- what the triggers cost;
//! * `context`: both sides run `BEGIN; SELECT set_config(...) x7; <statement>; COMMIT` through
//!   `Chrononaut::begin` -- what an application that sets a change context per transaction sees.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use chrononaut::{ChangeContext, Chrononaut, TrackOptions};
use clap::{Parser, ValueEnum};
use sqlx::postgres::PgPoolOptions;
use sqlx::{AssertSqlSafe, Connection, PgConnection, PgPool};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Res<T> = std::result::Result<T, BoxError>;

const TRACKED: &str = "bench_tracked";
const UNTRACKED: &str = "bench_untracked";
const BULK_ROWS: i64 = 1000;

#[derive(Parser, Debug, Clone)]
#[command(
    name = "chrononaut-bench",
    about = "Write-path benchmark: a chrononaut-tracked table against the same table untracked"
)]
struct Args {
    /// Rounds per workload and mode (each round runs untracked and tracked once, order alternating).
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Seconds per side per round.
    #[arg(long, default_value_t = 3.0)]
    secs: f64,
    /// Quick run: 3 rounds of 1 s (overrides --rounds and --secs).
    #[arg(long)]
    quick: bool,
    /// Rows in each table before the run.
    #[arg(long, default_value_t = 10_000)]
    rows: i64,
    /// Modes to run (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = [Mode::Engine, Mode::Context])]
    modes: Vec<Mode>,
    /// Workloads to run (comma-separated; default: all).
    #[arg(long, value_delimiter = ',')]
    workloads: Vec<WorkloadKind>,
    /// Keep the database after the run and print its URL (for inspecting the generated SQL).
    #[arg(long)]
    keep_db: bool,
    /// Only set up the database (implies --keep-db) and exit.
    #[arg(long)]
    setup_only: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// Autocommit single statement, no context, on both sides.
    Engine,
    /// BEGIN; set context; statement; COMMIT on both sides.
    Context,
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Engine => "engine",
            Mode::Context => "context",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum WorkloadKind {
    /// Single-row UPDATE of a random id, 1 connection.
    Update1,
    /// Single-row UPDATE of a random id, 2 connections.
    Update2,
    /// Single-row INSERT of new ids, 1 connection.
    Insert1,
    /// Single-row INSERT of new ids, 2 connections.
    Insert2,
    /// Single-row DELETE of previously inserted ids, 1 connection.
    Delete1,
    /// 1000-row UPDATE ... WHERE id BETWEEN x AND x + 999, 1 connection.
    Bulk1000,
}

const ALL_WORKLOADS: [WorkloadKind; 6] = [
    WorkloadKind::Update1,
    WorkloadKind::Update2,
    WorkloadKind::Insert1,
    WorkloadKind::Insert2,
    WorkloadKind::Delete1,
    WorkloadKind::Bulk1000,
];

impl WorkloadKind {
    fn label(self) -> &'static str {
        match self {
            WorkloadKind::Update1 => "single-row UPDATE, 1 conn",
            WorkloadKind::Update2 => "single-row UPDATE, 2 conns",
            WorkloadKind::Insert1 => "single-row INSERT, 1 conn",
            WorkloadKind::Insert2 => "single-row INSERT, 2 conns",
            WorkloadKind::Delete1 => "single-row DELETE, 1 conn",
            WorkloadKind::Bulk1000 => "1000-row bulk UPDATE, 1 conn",
        }
    }

    fn connections(self) -> usize {
        match self {
            WorkloadKind::Update2 | WorkloadKind::Insert2 => 2,
            _ => 1,
        }
    }

    /// The target for the ratio tracked / untracked.
    fn target(self) -> Option<f64> {
        match self {
            WorkloadKind::Update1 | WorkloadKind::Update2 => Some(0.85),
            WorkloadKind::Insert1 | WorkloadKind::Insert2 => Some(0.95),
            WorkloadKind::Delete1 => None,
            WorkloadKind::Bulk1000 => Some(0.35),
        }
    }

    fn rows_per_op(self) -> i64 {
        if self == WorkloadKind::Bulk1000 {
            BULK_ROWS
        } else {
            1
        }
    }
}

/// One side of the comparison: a table, its statements, its connections and its id counters.
struct Side {
    tracked: bool,
    update_sql: String,
    insert_sql: String,
    delete_sql: String,
    bulk_sql: String,
    /// One dedicated connection per task (engine mode).
    conns: Vec<PgConnection>,
    /// A pool of as many connections (context mode, through `Chrononaut::begin`).
    pool: PgPool,
    /// Next id to insert.
    next_insert: Arc<AtomicI64>,
    /// Next id to delete (ids below `next_insert` that were inserted by this run).
    next_delete: Arc<AtomicI64>,
}

impl Side {
    async fn new(url: &str, table: &str, tracked: bool, rows: i64) -> Res<Side> {
        let mut conns = Vec::new();
        for _ in 0..2 {
            conns.push(PgConnection::connect(url).await?);
        }
        let pool = PgPoolOptions::new()
            .min_connections(2)
            .max_connections(2)
            .connect(url)
            .await?;
        let first_new = rows + 1_000_000;
        Ok(Side {
            tracked,
            update_sql: format!("UPDATE {table} SET n = n + 1, note = $2 WHERE id = $1"),
            insert_sql: format!(
                "INSERT INTO {table} (id, name, email, note, n, updated, secret, seen) \
                 VALUES ($1, $2, $3, $4, $5, now(), $6, 0)"
            ),
            delete_sql: format!("DELETE FROM {table} WHERE id = $1"),
            bulk_sql: format!(
                "UPDATE {table} SET n = n + 1 WHERE id BETWEEN $1 AND $1 + {}",
                BULK_ROWS - 1
            ),
            conns,
            pool,
            next_insert: Arc::new(AtomicI64::new(first_new)),
            next_delete: Arc::new(AtomicI64::new(first_new)),
        })
    }

    fn name(&self) -> &'static str {
        if self.tracked { "tracked" } else { "untracked" }
    }
}

/// A tiny xorshift generator: enough for picking ids, no extra dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn below(&mut self, n: i64) -> i64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        let n = u64::try_from(n.max(1)).unwrap_or(1);
        i64::try_from(x % n).unwrap_or(0)
    }
}

/// What one task does per operation.
#[derive(Clone)]
struct Op {
    kind: WorkloadKind,
    sql: String,
    rows: i64,
    next_insert: Arc<AtomicI64>,
    next_delete: Arc<AtomicI64>,
}

impl Op {
    /// Runs one operation on `conn` (an open transaction or a plain connection).
    /// Returns false when there is nothing left to do (DELETE ran out of inserted ids).
    async fn run(&self, conn: &mut PgConnection, rng: &mut Rng) -> Res<bool> {
        let sql = AssertSqlSafe(self.sql.as_str());
        match self.kind {
            WorkloadKind::Update1 | WorkloadKind::Update2 => {
                let id = 1 + rng.below(self.rows);
                let note = format!("note {}", rng.below(1_000_000));
                sqlx::query(sql)
                    .bind(id)
                    .bind(note)
                    .execute(&mut *conn)
                    .await?;
            }
            WorkloadKind::Insert1 | WorkloadKind::Insert2 => {
                let id = self.next_insert.fetch_add(1, Ordering::Relaxed);
                sqlx::query(sql)
                    .bind(id)
                    .bind(format!("name {id}"))
                    .bind(format!("user{id}@example.com"))
                    .bind("a new row, inserted by the benchmark")
                    .bind(i32::try_from(id % 1000).unwrap_or(0))
                    .bind(format!("secret-{id}"))
                    .execute(&mut *conn)
                    .await?;
            }
            WorkloadKind::Delete1 => {
                let limit = self.next_insert.load(Ordering::Relaxed);
                let id = self.next_delete.fetch_add(1, Ordering::Relaxed);
                if id >= limit {
                    self.next_delete.fetch_sub(1, Ordering::Relaxed);
                    return Ok(false);
                }
                let done = sqlx::query(sql).bind(id).execute(&mut *conn).await?;
                if done.rows_affected() != 1 {
                    return Err(format!("DELETE of id {id} affected no row").into());
                }
            }
            WorkloadKind::Bulk1000 => {
                let from = 1 + rng.below(self.rows - BULK_ROWS + 1);
                let done = sqlx::query(sql).bind(from).execute(&mut *conn).await?;
                if done.rows_affected() != u64::try_from(BULK_ROWS).unwrap_or(0) {
                    return Err("bulk UPDATE did not update 1000 rows".into());
                }
            }
        }
        Ok(true)
    }
}

/// Ops and seconds of one side in one round.
#[derive(Debug, Clone, Copy)]
struct Sample {
    ops: u64,
    secs: f64,
}

impl Sample {
    fn rate(self) -> f64 {
        if self.secs > 0.0 {
            self.ops as f64 / self.secs
        } else {
            0.0
        }
    }
}

/// Runs `kind` on `side` for `secs` seconds with `kind.connections()` concurrent tasks.
#[allow(clippy::too_many_arguments)]
async fn run_side(
    chrononaut: &Chrononaut,
    ctx: &ChangeContext,
    side: &mut Side,
    kind: WorkloadKind,
    mode: Mode,
    rows: i64,
    secs: f64,
    seed: u64,
) -> Res<Sample> {
    let sql = match kind {
        WorkloadKind::Update1 | WorkloadKind::Update2 => side.update_sql.clone(),
        WorkloadKind::Insert1 | WorkloadKind::Insert2 => side.insert_sql.clone(),
        WorkloadKind::Delete1 => side.delete_sql.clone(),
        WorkloadKind::Bulk1000 => side.bulk_sql.clone(),
    };
    let op = Op {
        kind,
        sql,
        rows,
        next_insert: side.next_insert.clone(),
        next_delete: side.next_delete.clone(),
    };
    let n = kind.connections();
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    // Hand each task a connection (engine) or a pool handle (context); give them back after.
    let mut taken: Vec<PgConnection> = side.conns.drain(..n).collect();
    for (i, conn) in taken.drain(..).enumerate() {
        let op = op.clone();
        let pool = side.pool.clone();
        let chrononaut = chrononaut.clone();
        let ctx = ctx.clone();
        let mut rng = Rng::new(seed.wrapping_add(i as u64 * 7919));
        tasks.push(tokio::spawn(async move {
            let mut conn = conn;
            let mut ops = 0u64;
            let result: Res<()> = async {
                while Instant::now() < deadline {
                    let more = match mode {
                        Mode::Engine => op.run(&mut conn, &mut rng).await?,
                        Mode::Context => {
                            let mut tx = chrononaut.begin(&pool, &ctx).await?;
                            let more = op.run(&mut tx, &mut rng).await?;
                            tx.commit().await?;
                            more
                        }
                    };
                    if !more {
                        break;
                    }
                    ops += 1;
                }
                Ok(())
            }
            .await;
            (conn, ops, result)
        }));
    }
    let mut total = 0;
    let mut first_error = None;
    for task in tasks {
        let (conn, ops, result) = task.await?;
        side.conns.push(conn);
        total += ops;
        if let Err(e) = result {
            first_error.get_or_insert(e);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    if let Some(e) = first_error {
        return Err(format!("{} side, {}: {e}", side.name(), kind.label()).into());
    }
    Ok(Sample {
        ops: total,
        secs: elapsed,
    })
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn min_max(values: &[f64]) -> (f64, f64) {
    values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        })
}

/// The result of one workload in one mode.
struct Outcome {
    mode: Mode,
    kind: WorkloadKind,
    untracked: Vec<f64>,
    tracked: Vec<f64>,
    ratios: Vec<f64>,
}

impl Outcome {
    fn print_row(&self) {
        let (lo, hi) = min_max(&self.ratios);
        let ratio = median(&self.ratios);
        let target = self.kind.target();
        let verdict = match target {
            Some(t) if ratio >= t => format!(">= {t:.2} met"),
            Some(t) => format!(">= {t:.2} NOT met"),
            None => "(no target)".to_owned(),
        };
        let u = median(&self.untracked);
        let t = median(&self.tracked);
        // Extra time per operation and per row on the tracked side (server + client; with
        // equal client work this is what the triggers add).
        let extra_us = if u > 0.0 && t > 0.0 {
            (1.0 / t - 1.0 / u) * 1e6 * self.kind.connections() as f64
        } else {
            f64::NAN
        };
        let per_row = extra_us / self.kind.rows_per_op() as f64;
        println!(
            "| {:<7} | {:<28} | {:>10.1} | {:>10.1} | {:>5.3} ({:.3}..{:.3}) | {:<14} | {:>8.1} | {:>7.1} |",
            self.mode.to_string(),
            self.kind.label(),
            u,
            t,
            ratio,
            lo,
            hi,
            verdict,
            extra_us,
            per_row
        );
    }
}

fn print_header() {
    println!(
        "| mode    | workload                     | untracked/s | tracked/s | ratio median (min..max) | target         | +µs/op   | +µs/row |"
    );
    println!(
        "|---------|------------------------------|------------:|----------:|-------------------------|----------------|---------:|--------:|"
    );
}

async fn exec(conn: &mut PgConnection, sql: &str) -> Res<()> {
    sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Creates both tables, tracks one, fills both with `rows` rows.
async fn setup(chrononaut: &Chrononaut, conn: &mut PgConnection, rows: i64) -> Res<()> {
    chrononaut.install(conn).await?;
    for table in [TRACKED, UNTRACKED] {
        exec(
            conn,
            &format!(
                "CREATE TABLE {table} (
                    id      bigint PRIMARY KEY,
                    name    text NOT NULL,
                    email   text NOT NULL,
                    note    text,
                    n       integer NOT NULL,
                    updated timestamptz NOT NULL DEFAULT now(),
                    secret  text,
                    seen    integer NOT NULL DEFAULT 0
                )"
            ),
        )
        .await?;
    }
    // Same row layout on both sides: `track` adds `version integer DEFAULT 0` to the tracked one.
    exec(
        conn,
        &format!("ALTER TABLE {UNTRACKED} ADD COLUMN version integer DEFAULT 0"),
    )
    .await?;
    chrononaut
        .track(
            conn,
            TRACKED,
            &TrackOptions::new().hidden(["secret"]).untracked(["seen"]),
        )
        .await?;
    // Filled after tracking, so the tracked rows start at version 0 with an insert in history.
    for table in [TRACKED, UNTRACKED] {
        exec(
            conn,
            &format!(
                "INSERT INTO {table} (id, name, email, note, n, updated, secret, seen)
                 SELECT g, 'name ' || g, 'user' || g || '@example.com',
                        'an ordinary note of some length for row ' || g, g % 1000,
                        now() - g * interval '1 minute', 'secret-' || g, 0
                 FROM generate_series(1, {rows}) AS g"
            ),
        )
        .await?;
    }
    exec(conn, "VACUUM ANALYZE").await?;
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = Args::parse();
    if args.quick {
        args.rounds = 3;
        args.secs = 1.0;
    }
    if args.setup_only {
        args.keep_db = true;
    }
    if args.workloads.is_empty() {
        args.workloads = ALL_WORKLOADS.to_vec();
    }
    if let Err(e) = run(args).await {
        eprintln!("chrononaut-bench: {e}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Res<()> {
    if args.rows < BULK_ROWS {
        return Err(format!("--rows must be at least {BULK_ROWS}").into());
    }
    let db = chrononaut_testdb::TestDb::new().await?;
    let result = run_in(&args, &db.url).await;
    if args.keep_db {
        println!("\nkept database: {}", db.url);
        std::mem::forget(db);
    } else {
        drop(db);
    }
    result
}

async fn run_in(args: &Args, url: &str) -> Res<()> {
    let chrononaut = Chrononaut::new();
    let mut admin = PgConnection::connect(url).await?;
    setup(&chrononaut, &mut admin, args.rows).await?;
    if args.setup_only {
        return Ok(());
    }
    let version: String = sqlx::query_scalar("SHOW server_version")
        .fetch_one(&mut admin)
        .await?;
    let fsync: String = sqlx::query_scalar("SHOW fsync")
        .fetch_one(&mut admin)
        .await?;
    let sync_commit: String = sqlx::query_scalar("SHOW synchronous_commit")
        .fetch_one(&mut admin)
        .await?;
    println!(
        "chrononaut write-path benchmark: PostgreSQL {version} (fsync {fsync}, synchronous_commit {sync_commit}), \
         {} cores, {} rows per table, {} rounds x {:.1} s per side",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        args.rows,
        args.rounds,
        args.secs
    );
    println!(
        "tracked: hidden [secret], untracked [seen]; per-commit; prepared statements; \
         sides interleaved, order alternating per round\n"
    );

    let mut untracked = Side::new(url, UNTRACKED, false, args.rows).await?;
    let mut tracked = Side::new(url, TRACKED, true, args.rows).await?;
    let ctx = ChangeContext::new()
        .user("bench@example.com")
        .remote_addr("10.0.0.7")
        .rationale("benchmark run");
    let empty = ChangeContext::new();

    let mut outcomes = Vec::new();
    let mut seed = 1u64;
    for &mode in &args.modes {
        let ctx = if mode == Mode::Context { &ctx } else { &empty };
        for &kind in &args.workloads {
            exec(&mut admin, &format!("VACUUM {TRACKED}, {UNTRACKED}")).await?;
            // Warm-up: prepares the statements and the plans of the trigger functions.
            for side in [&mut untracked, &mut tracked] {
                seed += 1;
                let warm = (args.secs / 5.0).clamp(0.2, 1.0);
                run_side(&chrononaut, ctx, side, kind, mode, args.rows, warm, seed).await?;
            }
            let mut out = Outcome {
                mode,
                kind,
                untracked: Vec::new(),
                tracked: Vec::new(),
                ratios: Vec::new(),
            };
            for round in 0..args.rounds {
                let mut u = None;
                let mut t = None;
                let order: [bool; 2] = if round % 2 == 0 {
                    [false, true]
                } else {
                    [true, false]
                };
                for is_tracked in order {
                    seed += 1;
                    let side = if is_tracked {
                        &mut tracked
                    } else {
                        &mut untracked
                    };
                    let s = run_side(
                        &chrononaut,
                        ctx,
                        side,
                        kind,
                        mode,
                        args.rows,
                        args.secs,
                        seed,
                    )
                    .await?;
                    if is_tracked {
                        t = Some(s.rate());
                    } else {
                        u = Some(s.rate());
                    }
                }
                let (u, t) = (u.unwrap_or(0.0), t.unwrap_or(0.0));
                out.untracked.push(u);
                out.tracked.push(t);
                out.ratios.push(if u > 0.0 { t / u } else { f64::NAN });
                eprintln!(
                    "  {mode:<7} {:<28} round {}: untracked {u:>9.1}/s  tracked {t:>9.1}/s  ratio {:.3}",
                    kind.label(),
                    round + 1,
                    t / u
                );
            }
            outcomes.push(out);
        }
    }

    println!();
    print_header();
    for o in &outcomes {
        o.print_row();
    }
    println!(
        "\nops/s are medians over rounds (bulk: statements/s of 1000 rows each). +µs/op: extra time \
         per operation on the tracked side (1/tracked - 1/untracked, times connections); \
         +µs/row: the same per changed row (bulk: the per-row cost of capture)."
    );

    let history: i64 = sqlx::query_scalar("SELECT count(*) FROM chrononaut_activity")
        .fetch_one(&mut admin)
        .await?;
    println!("history rows written: {history}");
    admin.close().await?;
    untracked.pool.close().await;
    tracked.pool.close().await;
    Ok(())
}
