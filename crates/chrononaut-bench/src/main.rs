//! Write-path benchmark: a chrononaut-tracked table against the same table untracked and
//! against two reference trigger designs, in the same run.
//!
//! Creates its own database (via `chrononaut-testdb`), installs chrononaut and creates one
//! identical table per variant:
//! * `untracked`: no trigger (the baseline every ratio is taken against);
//! * `minimal`: one AFTER ROW trigger appending `to_jsonb(NEW)` to a history table of its own
//!   (`sql/reference_minimal.sql`: the limit of any trigger design);
//! * `rowlevel`: row-level full semantics without a chain, the shape most audit libraries
//!   ship (`sql/reference_rowlevel.sql`: version bump in BEFORE ROW, hidden column noted not
//!   stored, context from the chrononaut.* settings, insert/update/delete rows);
//! * `chrononaut`: tracked by chrononaut (hidden `secret`, untracked `seen`, hash chain on).
//! * `nochain`: the same tracked without the hash chain (`track --no-chain`), beside it.
//!
//! Two measures, interleaved (the variants take turns, the order rotating per round):
//! 1. client-side: single-row UPDATE / INSERT / DELETE and a 1000-row bulk UPDATE with prepared
//!    statements, ops/s per variant and the ratio to untracked (median of the rounds, min..max),
//!    in three modes:
//!    * `engine`: one autocommit statement and nothing else, per commit (the default mode of
//!      earlier runs, unchanged);
//!    * `cpu`: `BEGIN; SET LOCAL synchronous_commit = off` / statement / `COMMIT`: what differs is
//!      CPU, not the disk's fsync;
//!    * `context`: `BEGIN` + context through `Chrononaut::begin`, statement, `COMMIT`.
//! 2. server-side: a `DO` loop of N statements, each committed, per variant, on a connection
//!    with `synchronous_commit = off`; reports the backend's CPU time per statement (from
//!    `/proc/<backend pid>`, the server on this machine) and the added µs against untracked, at
//!    each size of a history sweep (existing history rows of other keys, written by SQL).
//!
//! See BENCHMARKS.md at the repository root.

mod server;
mod sql;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use chrononaut::{ChangeContext, Chrononaut, TrackOptions};
use clap::{Parser, ValueEnum};
use sqlx::postgres::PgPoolOptions;
use sqlx::{AssertSqlSafe, Connection, PgConnection, PgPool};

use crate::server::{Backend, Measure, ServerWorkload};
use crate::sql::{ident, int, literal};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Res<T> = std::result::Result<T, BoxError>;

const BULK_ROWS: i64 = 1000;
const ACTIVITY: &str = "chrononaut_activity";
/// Keys of the sweep's filler history start above this (never written by the workloads).
const FILLER_KEYS: i64 = 1_000_000_000_000;

#[derive(Parser, Debug, Clone)]
#[command(
    name = "chrononaut-bench",
    about = "Write-path benchmark: a chrononaut-tracked table against the same table untracked \
             and two reference trigger designs"
)]
struct Args {
    /// Rounds per workload and mode (each round runs every variant once, order rotating).
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Seconds per variant per round (client-side modes).
    #[arg(long, default_value_t = 3.0)]
    secs: f64,
    /// Quick run: 3 rounds of 1 s, 500 server-side statements (overrides those options).
    #[arg(long)]
    quick: bool,
    /// Rows in each table before the run.
    #[arg(long, default_value_t = 10_000)]
    rows: i64,
    /// Variants to measure (comma-separated; `untracked` is always measured, as the baseline).
    #[arg(long, value_delimiter = ',', default_values_t = Variant::ALL.to_vec())]
    variants: Vec<Variant>,
    /// Client-side modes to run (comma-separated; `none` for none).
    #[arg(long, value_delimiter = ',', default_values_t = [Mode::Engine, Mode::Cpu, Mode::Context])]
    modes: Vec<Mode>,
    /// Client-side workloads to run (comma-separated; default: all).
    #[arg(long, value_delimiter = ',')]
    workloads: Vec<WorkloadKind>,
    /// Server-side measure: single-row statements per DO loop (bulk: a hundredth); 0 skips it.
    #[arg(long, default_value_t = 2000)]
    server_statements: i64,
    /// Server-side measure: rounds per workload and history size.
    #[arg(long, default_value_t = 5)]
    server_rounds: usize,
    /// History sweep: existing history rows (of other keys) in each history table before the
    /// server-side measure, ascending (`0,1m`; `10m` is opt-in: it takes minutes and ~10 GB).
    /// The client-side modes run at the first size.
    #[arg(long, value_delimiter = ',', value_parser = parse_count, default_values_t = [0, 1_000_000])]
    history: Vec<i64>,
    /// Run with `jit = off` in the benchmark's database (for every connection and variant).
    /// Off by default, so that a capture statement the planner sends to JIT shows.
    #[arg(long)]
    jit_off: bool,
    /// Keep the database after the run and print its URL (for inspecting the generated SQL).
    #[arg(long)]
    keep_db: bool,
    /// Only set up the database (implies --keep-db) and exit.
    #[arg(long)]
    setup_only: bool,
}

/// `1000`, `100k`, `1m`, `10M`.
fn parse_count(text: &str) -> std::result::Result<i64, String> {
    let t = text.trim().to_ascii_lowercase();
    let (digits, factor) = if let Some(d) = t.strip_suffix('m') {
        (d, 1_000_000)
    } else if let Some(d) = t.strip_suffix('k') {
        (d, 1_000)
    } else {
        (t.as_str(), 1)
    };
    digits
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .and_then(|n| n.checked_mul(factor))
        .ok_or_else(|| format!("not a row count: {text:?} (use e.g. 0, 100k, 1m, 10m)"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// Autocommit single statement, no context, per commit.
    Engine,
    /// BEGIN; SET LOCAL synchronous_commit = off; statement; COMMIT (CPU-bound).
    Cpu,
    /// BEGIN; set context; statement; COMMIT, per commit.
    Context,
    /// No client-side mode (server-side measure only).
    None,
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Engine => "engine",
            Mode::Cpu => "cpu",
            Mode::Context => "context",
            Mode::None => "none",
        })
    }
}

/// One table of the comparison and how it records history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum Variant {
    /// No trigger: the baseline.
    Untracked,
    /// AFTER ROW trigger inserting `to_jsonb(NEW)` into a history table of its own.
    Minimal,
    /// Row-level full semantics without a chain (reference_rowlevel.sql).
    Rowlevel,
    /// Tracked by chrononaut (hidden secret, untracked seen).
    Chrononaut,
    /// Tracked by chrononaut as above, without the hash chain (`track --no-chain`).
    Nochain,
}

impl Variant {
    const ALL: [Variant; 5] = [
        Variant::Untracked,
        Variant::Minimal,
        Variant::Rowlevel,
        Variant::Chrononaut,
        Variant::Nochain,
    ];

    /// The benchmark table of this variant.
    pub fn table(self) -> &'static str {
        match self {
            Variant::Untracked => "bench_untracked",
            Variant::Minimal => "bench_minimal",
            Variant::Rowlevel => "bench_rowlevel",
            Variant::Chrononaut => "bench_tracked",
            Variant::Nochain => "bench_nochain",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Variant::Untracked => "untracked",
            Variant::Minimal => "minimal",
            Variant::Rowlevel => "rowlevel",
            Variant::Chrononaut => "chrononaut",
            Variant::Nochain => "nochain",
        }
    }

    /// The options chrononaut tracks this variant's table with (`None`: not chrononaut's).
    fn track_options(self) -> Option<TrackOptions> {
        match self {
            Variant::Chrononaut => Some(TrackOptions::new().hidden(["secret"]).untracked(["seen"])),
            Variant::Nochain => Some(
                TrackOptions::new()
                    .hidden(["secret"])
                    .untracked(["seen"])
                    .without_chain(true),
            ),
            _ => None,
        }
    }

    /// The history table the sweep fills for this variant, and whether it has a hash column.
    fn history_table(self) -> Option<(&'static str, bool)> {
        match self {
            Variant::Rowlevel => Some(("bench_rowlevel_history", false)),
            v if v.track_options().is_some() => Some((ACTIVITY, true)),
            _ => None,
        }
    }
}

impl std::fmt::Display for Variant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
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

    /// Issue 8's target for chrononaut's ratio in the CPU-bound mode, 1 connection.
    fn cpu_target(self) -> Option<f64> {
        match self {
            WorkloadKind::Update1 => Some(0.55),
            WorkloadKind::Insert1 => Some(0.75),
            WorkloadKind::Bulk1000 => Some(0.25),
            _ => None,
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

/// One variant's table, its statements, its connections and its id counters.
struct Side {
    variant: Variant,
    update_sql: String,
    insert_sql: String,
    delete_sql: String,
    bulk_sql: String,
    /// One dedicated connection per task (engine and cpu modes).
    conns: Vec<PgConnection>,
    /// A pool of as many connections (context mode, through `Chrononaut::begin`).
    pool: PgPool,
    /// Next id to insert.
    next_insert: Arc<AtomicI64>,
    /// Next id to delete (ids below `next_insert` that were inserted by this run).
    next_delete: Arc<AtomicI64>,
}

impl Side {
    async fn new(url: &str, variant: Variant, rows: i64) -> Res<Side> {
        let mut conns = Vec::new();
        for _ in 0..2 {
            conns.push(PgConnection::connect(url).await?);
        }
        let pool = PgPoolOptions::new()
            .min_connections(2)
            .max_connections(2)
            .connect(url)
            .await?;
        let table = ident(variant.table());
        let first_new = rows + 1_000_000;
        Ok(Side {
            variant,
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

/// Runs `kind` on `side` for `secs` seconds with `kind.connections()` concurrent tasks;
/// returns operations per second (NaN when there was nothing to do).
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
) -> Res<f64> {
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
    // Hand each task a connection (engine, cpu) or a pool handle (context); give them back after.
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
                        Mode::Engine | Mode::None => op.run(&mut conn, &mut rng).await?,
                        Mode::Cpu => {
                            // One round trip for both; the statement stays prepared.
                            sqlx::raw_sql("BEGIN; SET LOCAL synchronous_commit = off")
                                .execute(&mut conn)
                                .await?;
                            let more = op.run(&mut conn, &mut rng).await?;
                            sqlx::raw_sql("COMMIT").execute(&mut conn).await?;
                            more
                        }
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
        return Err(format!("{} side, {}: {e}", side.variant, kind.label()).into());
    }
    // No operation at all (a DELETE round with nothing left to delete) is no measurement.
    Ok(if elapsed > 0.0 && total > 0 {
        total as f64 / elapsed
    } else {
        f64::NAN
    })
}

fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
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
        .filter(|x| x.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        })
}

/// `median (min..max)` of `values`, with `digits` decimals.
fn spread(values: &[f64], digits: usize) -> String {
    let (lo, hi) = min_max(values);
    format!("{:.digits$} ({lo:.digits$}..{hi:.digits$})", median(values))
}

/// The result of one client-side workload in one mode: rates per variant, per round.
struct Outcome {
    mode: Mode,
    kind: WorkloadKind,
    rates: BTreeMap<Variant, Vec<f64>>,
}

impl Outcome {
    /// Ratios to untracked, round by round.
    fn ratios(&self, variant: Variant) -> Vec<f64> {
        let base = self.rates.get(&Variant::Untracked);
        let v = self.rates.get(&variant);
        match (base, v) {
            (Some(b), Some(v)) => b
                .iter()
                .zip(v)
                .map(|(b, v)| if *b > 0.0 { v / b } else { f64::NAN })
                .collect(),
            _ => Vec::new(),
        }
    }

    fn print_rows(&self) {
        let u = median(self.rates.get(&Variant::Untracked).map_or(&[][..], |v| v));
        for (variant, rates) in &self.rates {
            let t = median(rates);
            let ratios = self.ratios(*variant);
            // Extra time per operation (server + client; with equal client work this is
            // what the triggers add), per connection.
            let extra_us = if u > 0.0 && t > 0.0 {
                (1.0 / t - 1.0 / u) * 1e6 * self.kind.connections() as f64
            } else {
                f64::NAN
            };
            let per_row = extra_us / self.kind.rows_per_op() as f64;
            let target = match (self.mode, self.kind.cpu_target(), *variant) {
                (Mode::Cpu, Some(t), v) if v.track_options().is_some() => {
                    if median(&ratios) >= t {
                        format!(">= {t:.2} met")
                    } else {
                        format!(">= {t:.2} NOT met")
                    }
                }
                _ => String::new(),
            };
            let (extra, row) = if *variant == Variant::Untracked {
                (String::new(), String::new())
            } else {
                (format!("{extra_us:.1}"), format!("{per_row:.1}"))
            };
            println!(
                "| {:<7} | {:<28} | {:<10} | {:>9.1} | {:<22} | {:>8} | {:>7} | {:<12} |",
                self.mode.to_string(),
                self.kind.label(),
                variant.name(),
                t,
                spread(&ratios, 3),
                extra,
                row,
                target
            );
        }
    }
}

async fn exec(conn: &mut PgConnection, sql: &str) -> Res<()> {
    sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Creates one table per variant, sets up its history capture, fills it with `rows` rows.
async fn setup(
    chrononaut: &Chrononaut,
    conn: &mut PgConnection,
    variants: &[Variant],
    rows: i64,
) -> Res<()> {
    chrononaut.install(conn).await?;
    for &variant in variants {
        let table = ident(variant.table());
        exec(conn, &sql::fill(sql::TABLE, &[("table", table.clone())])?).await?;
        match variant {
            Variant::Untracked => {}
            Variant::Minimal => {
                let ddl = sql::fill(
                    sql::REFERENCE_MINIMAL,
                    &[
                        ("table", table.clone()),
                        ("history", ident("bench_minimal_history")),
                        ("function", ident("bench_minimal_capture")),
                    ],
                )?;
                exec(conn, &ddl).await?;
            }
            Variant::Rowlevel => {
                let ddl = sql::fill(
                    sql::REFERENCE_ROWLEVEL,
                    &[
                        ("table", table.clone()),
                        ("history", ident("bench_rowlevel_history")),
                        (
                            "history_index",
                            ident("bench_rowlevel_history_key_table_name"),
                        ),
                        ("bump", ident("bench_rowlevel_bump")),
                        ("capture", ident("bench_rowlevel_capture")),
                        ("table_name", literal(variant.table())),
                    ],
                )?;
                exec(conn, &ddl).await?;
            }
            v => {
                if let Some(options) = v.track_options() {
                    chrononaut.track(conn, v.table(), &options).await?;
                }
            }
        }
        // Filled after the capture exists, so history starts with one insert row per record.
        exec(
            conn,
            &sql::fill(sql::FILL_TABLE, &[("table", table), ("rows", int(rows))])?,
        )
        .await?;
    }
    exec(conn, "VACUUM ANALYZE").await?;
    Ok(())
}

/// Tops each history table of `variants` up to `target` rows with filler rows of other keys.
/// Large fills drop the table's secondary indexes and build them again after (much faster
/// than growing them row by row); the definitions are read from the catalog, so whatever
/// indexes the engine has are the ones rebuilt.
async fn fill_history(conn: &mut PgConnection, variants: &[Variant], target: i64) -> Res<()> {
    let mut tables: BTreeMap<&'static str, (bool, Vec<&'static str>)> = BTreeMap::new();
    for &v in variants {
        if let Some((history, hashed)) = v.history_table() {
            tables
                .entry(history)
                .or_insert((hashed, Vec::new()))
                .1
                .push(v.table());
        }
    }
    exec(conn, "SET maintenance_work_mem = '1GB'").await?;
    for (history, (hashed, names)) in tables {
        let current: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT count(*) FROM {}",
            ident(history)
        )))
        .fetch_one(&mut *conn)
        .await?;
        let add = target - current;
        if add <= 0 {
            continue;
        }
        let started = Instant::now();
        let rebuild = add >= 500_000;
        let indexes: Vec<(String, String)> = if rebuild {
            sqlx::query_as(
                "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid)
                 FROM pg_index WHERE indrelid = $1::regclass AND NOT indisprimary",
            )
            .bind(history)
            .fetch_all(&mut *conn)
            .await?
        } else {
            Vec::new()
        };
        for (name, _) in &indexes {
            // `name` is regclass output: already quoted as needed.
            exec(conn, &format!("DROP INDEX {name}")).await?;
        }
        let names_literal = literal(&format!(
            "{{{}}}",
            names
                .iter()
                .map(|n| format!("\"{n}\""))
                .collect::<Vec<_>>()
                .join(",")
        ));
        let (hash_column, hash_value) = if hashed {
            (", hash".to_owned(), ", sha256(g::text::bytea)".to_owned())
        } else {
            (String::new(), String::new())
        };
        let batch = 1_000_000;
        let mut done = 0;
        while done < add {
            let count = batch.min(add - done);
            let insert = sql::fill(
                sql::FILL_HISTORY,
                &[
                    ("history", ident(history)),
                    ("count", int(count)),
                    ("first", int(FILLER_KEYS + current + done)),
                    ("names", names_literal.clone()),
                    ("hash_column", hash_column.clone()),
                    ("hash_value", hash_value.clone()),
                ],
            )?;
            exec(conn, &insert).await?;
            done += count;
        }
        for (_, definition) in &indexes {
            exec(conn, definition).await?;
        }
        exec(conn, &format!("VACUUM ANALYZE {}", ident(history))).await?;
        eprintln!(
            "  history sweep: {history} {current} -> {} rows in {:.0} s{}",
            current + add,
            started.elapsed().as_secs_f64(),
            if rebuild {
                format!(" ({} indexes rebuilt)", indexes.len())
            } else {
                String::new()
            }
        );
    }
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = Args::parse();
    if args.quick {
        args.rounds = 3;
        args.secs = 1.0;
        args.server_statements = 500;
        args.server_rounds = 3;
    }
    if args.setup_only {
        args.keep_db = true;
    }
    if args.workloads.is_empty() {
        args.workloads = ALL_WORKLOADS.to_vec();
    }
    args.modes.retain(|m| *m != Mode::None);
    if !args.variants.contains(&Variant::Untracked) {
        args.variants.push(Variant::Untracked);
    }
    args.variants.sort();
    args.variants.dedup();
    if let Err(e) = run(args).await {
        eprintln!("chrononaut-bench: {e}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Res<()> {
    if args.rows < BULK_ROWS {
        return Err(format!("--rows must be at least {BULK_ROWS}").into());
    }
    if args.history.windows(2).any(|w| w[0] > w[1]) {
        return Err("--history sizes must be ascending".into());
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

/// Server-side figures: per (history size, workload, variant), one `Measure` per round.
type ServerResults = BTreeMap<(i64, usize), BTreeMap<Variant, Vec<Measure>>>;

async fn run_in(args: &Args, url: &str) -> Res<()> {
    let chrononaut = Chrononaut::new();
    let mut admin = PgConnection::connect(url).await?;
    if args.jit_off {
        // Every later connection starts with it; this one sets it for itself.
        exec(&mut admin, "SET jit = off").await?;
        let db: String = sqlx::query_scalar("SELECT current_database()")
            .fetch_one(&mut admin)
            .await?;
        exec(
            &mut admin,
            &format!("ALTER DATABASE {} SET jit = off", ident(&db)),
        )
        .await?;
    }
    setup(&chrononaut, &mut admin, &args.variants, args.rows).await?;
    if args.setup_only {
        return Ok(());
    }
    let settings: (String, String, String, String, String) = sqlx::query_as(
        "SELECT current_setting('server_version'), current_setting('fsync'),
                current_setting('synchronous_commit'), current_setting('shared_buffers'),
                current_setting('jit')",
    )
    .fetch_one(&mut admin)
    .await?;
    println!(
        "chrononaut write-path benchmark: PostgreSQL {} (fsync {}, synchronous_commit {}, \
         shared_buffers {}, jit {}), {} cores, {} rows per table, variants {}",
        settings.0,
        settings.1,
        settings.2,
        settings.3,
        settings.4,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        args.rows,
        args.variants
            .iter()
            .map(|v| v.name())
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        println!("load average at start: {}", load.trim());
    }
    println!(
        "chrononaut: hidden [secret], untracked [seen]; variants interleaved, order rotating per round\n"
    );

    // Server-side measure at the first history size, then the client-side modes, then the
    // rest of the sweep (the client-side modes write history of their own; the sizes are
    // counted when each is reached).
    let mut server_results: ServerResults = BTreeMap::new();
    let mut history_seen: Vec<(i64, i64)> = Vec::new();
    let mut backends = Vec::new();
    if args.server_statements > 0 {
        for (i, &v) in args.variants.iter().enumerate() {
            let first = 2_000_000_000 + i64::try_from(i).unwrap_or(0) * 100_000_000;
            backends.push(Backend::connect(url, v, first).await?);
        }
        if let Some(b) = backends.first() {
            println!("server-side measure: {}", b.clock.describe());
        }
    }
    let mut sizes = args.history.iter().copied();
    if let Some(first) = sizes.next()
        && !backends.is_empty()
    {
        let actual =
            server_sweep_point(args, &mut admin, &mut backends, first, &mut server_results).await?;
        history_seen.push((first, actual));
    }

    let outcomes = client_modes(args, url, &chrononaut, &mut admin).await?;

    for size in sizes {
        if backends.is_empty() {
            break;
        }
        let actual =
            server_sweep_point(args, &mut admin, &mut backends, size, &mut server_results).await?;
        history_seen.push((size, actual));
    }

    if !outcomes.is_empty() {
        println!();
        println!(
            "| mode    | workload                     | variant    |     ops/s | ratio to untracked     |   +µs/op | +µs/row | cpu target   |"
        );
        println!(
            "|---------|------------------------------|------------|----------:|------------------------|---------:|--------:|--------------|"
        );
        for o in &outcomes {
            o.print_rows();
        }
        println!(
            "\nops/s and ratios: medians over rounds (min..max of the per-round ratios; bulk: statements/s \
             of 1000 rows each). +µs/op: 1/variant - 1/untracked, times connections; +µs/row: the same \
             per changed row."
        );
    }
    if !server_results.is_empty() {
        print_server(&server_results, &history_seen, &args.variants);
        print_design_table(&server_results, &history_seen, &outcomes, &args.variants);
    }

    let history: i64 = sqlx::query_scalar("SELECT count(*) FROM chrononaut_activity")
        .fetch_one(&mut admin)
        .await?;
    println!("\nhistory rows in chrononaut_activity at the end: {history}");
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        println!("load average at the end: {}", load.trim());
    }
    for b in backends {
        b.close().await?;
    }
    admin.close().await?;
    Ok(())
}

/// Runs the client-side modes and returns their outcomes.
async fn client_modes(
    args: &Args,
    url: &str,
    chrononaut: &Chrononaut,
    admin: &mut PgConnection,
) -> Res<Vec<Outcome>> {
    let mut outcomes = Vec::new();
    if args.modes.is_empty() {
        return Ok(outcomes);
    }
    let mut sides = Vec::new();
    for &v in &args.variants {
        sides.push(Side::new(url, v, args.rows).await?);
    }
    let ctx = ChangeContext::new()
        .user("bench@example.com")
        .remote_addr("10.0.0.7")
        .rationale("benchmark run");
    let empty = ChangeContext::new();
    let vacuum = format!(
        "VACUUM {}",
        args.variants
            .iter()
            .map(|v| ident(v.table()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut seed = 1u64;
    for &mode in &args.modes {
        let ctx = if mode == Mode::Context { &ctx } else { &empty };
        for &kind in &args.workloads {
            exec(admin, &vacuum).await?;
            // Warm-up: prepares the statements and the plans of the trigger functions.
            for side in sides.iter_mut() {
                seed += 1;
                let warm = (args.secs / 5.0).clamp(0.2, 1.0);
                run_side(chrononaut, ctx, side, kind, mode, args.rows, warm, seed).await?;
            }
            let mut out = Outcome {
                mode,
                kind,
                rates: BTreeMap::new(),
            };
            let k = sides.len();
            for round in 0..args.rounds {
                let mut line = format!("  {mode:<7} {:<28} round {}:", kind.label(), round + 1);
                for j in 0..k {
                    let side = &mut sides[(j + round) % k];
                    seed += 1;
                    let rate = run_side(
                        chrononaut, ctx, side, kind, mode, args.rows, args.secs, seed,
                    )
                    .await?;
                    out.rates.entry(side.variant).or_default().push(rate);
                    line.push_str(&format!(" {} {rate:.1}/s", side.variant));
                }
                eprintln!("{line}");
            }
            outcomes.push(out);
        }
    }
    for side in sides {
        side.pool.close().await;
        for c in side.conns {
            c.close().await?;
        }
    }
    Ok(outcomes)
}

/// Fills the history to `size`, then runs the server-side loops; returns the activity
/// table's actual row count at this point.
async fn server_sweep_point(
    args: &Args,
    admin: &mut PgConnection,
    backends: &mut [Backend],
    size: i64,
    results: &mut ServerResults,
) -> Res<i64> {
    fill_history(admin, &args.variants, size).await?;
    let actual: i64 = sqlx::query_scalar("SELECT count(*) FROM chrononaut_activity")
        .fetch_one(&mut *admin)
        .await?;
    // Warm-up: every loop once, short (plans of the trigger functions, caches).
    let warm = (args.server_statements / 10).max(20);
    for b in backends.iter_mut() {
        for w in ServerWorkload::ALL {
            b.run(w, warm, args.rows).await?;
        }
    }
    let k = backends.len();
    for (wi, w) in ServerWorkload::ALL.iter().enumerate() {
        for round in 0..args.server_rounds {
            let mut line = format!(
                "  server {:<26} history {size:>9} round {}:",
                w.label(),
                round + 1
            );
            for j in 0..k {
                let b = &mut backends[(j + round) % k];
                let m = b.run(*w, args.server_statements, args.rows).await?;
                results
                    .entry((size, wi))
                    .or_default()
                    .entry(b.variant)
                    .or_default()
                    .push(m);
                line.push_str(&format!(
                    " {} {:.1}µs",
                    b.variant,
                    m.cpu_us.unwrap_or(m.wall_us) / w.rows_per_statement()
                ));
            }
            eprintln!("{line}");
        }
    }
    Ok(actual)
}

/// Added µs per row against untracked, round by round: CPU where measured, else wall.
fn added(
    per_variant: &BTreeMap<Variant, Vec<Measure>>,
    variant: Variant,
    rows: f64,
    wall: bool,
) -> Vec<f64> {
    let pick = |m: &Measure| {
        if wall {
            m.wall_us
        } else {
            m.cpu_us.unwrap_or(m.wall_us)
        }
    };
    match (
        per_variant.get(&Variant::Untracked),
        per_variant.get(&variant),
    ) {
        (Some(base), Some(v)) => base
            .iter()
            .zip(v)
            .map(|(b, m)| (pick(m) - pick(b)) / rows)
            .collect(),
        _ => Vec::new(),
    }
}

fn print_server(results: &ServerResults, history_seen: &[(i64, i64)], variants: &[Variant]) {
    println!(
        "\nserver-side: DO loop of committed statements per variant (synchronous_commit off, \
         context set); µs per statement (bulk: per row); median (min..max) over rounds of the \
         per-round difference to untracked"
    );
    println!(
        "| history (filler / activity rows) | workload                  | variant    | CPU µs  | +CPU µs vs untracked   | wall µs | +wall µs vs untracked  |"
    );
    println!(
        "|----------------------------------|---------------------------|------------|--------:|------------------------|--------:|------------------------|"
    );
    for ((size, wi), per_variant) in results {
        let w = ServerWorkload::ALL[*wi];
        let rows = w.rows_per_statement();
        let actual = history_seen
            .iter()
            .find(|(s, _)| s == size)
            .map_or(0, |(_, a)| *a);
        for &v in variants {
            let Some(ms) = per_variant.get(&v) else {
                continue;
            };
            let cpu: Vec<f64> = ms
                .iter()
                .filter_map(|m| m.cpu_us)
                .map(|c| c / rows)
                .collect();
            let wall: Vec<f64> = ms.iter().map(|m| m.wall_us / rows).collect();
            let (add_cpu, add_wall) = if v == Variant::Untracked {
                (String::new(), String::new())
            } else {
                (
                    spread(&added(per_variant, v, rows, false), 1),
                    spread(&added(per_variant, v, rows, true), 1),
                )
            };
            println!(
                "| {:>14} / {:<15} | {:<25} | {:<10} | {:>7.1} | {:<22} | {:>7.1} | {:<22} |",
                size,
                actual,
                w.label(),
                v.name(),
                median(&cpu),
                add_cpu,
                median(&wall),
                add_wall
            );
        }
    }
}

/// The design table: added server-side µs (at the first history size) and the
/// client-side ratios, per variant; then chrononaut against the targets and the sweep.
fn print_design_table(
    results: &ServerResults,
    history_seen: &[(i64, i64)],
    outcomes: &[Outcome],
    variants: &[Variant],
) {
    let Some(&(first_size, _)) = history_seen.first() else {
        return;
    };
    let server_added = |size: i64, w: ServerWorkload, v: Variant| -> f64 {
        let wi = ServerWorkload::ALL
            .iter()
            .position(|x| *x == w)
            .unwrap_or(0);
        results.get(&(size, wi)).map_or(f64::NAN, |pv| {
            median(&added(pv, v, w.rows_per_statement(), false))
        })
    };
    let ratio = |mode: Mode, kind: WorkloadKind, v: Variant| -> String {
        outcomes
            .iter()
            .find(|o| o.mode == mode && o.kind == kind)
            .map_or("-".to_owned(), |o| format!("{:.2}", median(&o.ratios(v))))
    };
    println!(
        "\ndesign table (server-side +CPU µs per row vs untracked at history {first_size}; client ratios to untracked, 1 conn)"
    );
    println!(
        "| design | UPDATE +µs | INSERT +µs | DELETE +µs | 1000-row UPDATE +µs/row | cpu mode UPDATE / INSERT / bulk | per commit UPDATE / INSERT / bulk |"
    );
    println!("|---|---:|---:|---:|---:|---|---|");
    for &v in variants.iter().filter(|v| **v != Variant::Untracked) {
        let r = |mode| {
            format!(
                "{} / {} / {}",
                ratio(mode, WorkloadKind::Update1, v),
                ratio(mode, WorkloadKind::Insert1, v),
                ratio(mode, WorkloadKind::Bulk1000, v)
            )
        };
        println!(
            "| {} | {:+.1} | {:+.1} | {:+.1} | {:+.1} | {} | {} |",
            v.name(),
            server_added(first_size, ServerWorkload::Update, v),
            server_added(first_size, ServerWorkload::Insert, v),
            server_added(first_size, ServerWorkload::Delete, v),
            server_added(first_size, ServerWorkload::Bulk, v),
            r(Mode::Cpu),
            r(Mode::Engine)
        );
    }
    // Targets of issue 8, for every chrononaut-tracked variant against the row-level design.
    if variants.contains(&Variant::Rowlevel) {
        println!();
        for &v in variants.iter().filter(|v| v.track_options().is_some()) {
            for (w, factor, what) in [
                (ServerWorkload::Update, 1.0, "<= rowlevel"),
                (ServerWorkload::Insert, 1.0, "<= rowlevel"),
                (ServerWorkload::Bulk, 0.5, "<= half of rowlevel"),
            ] {
                let ours = server_added(first_size, w, v);
                let limit = server_added(first_size, w, Variant::Rowlevel) * factor;
                println!(
                    "target {} {}: {ours:+.1} µs vs {what} {limit:+.1} µs: {}",
                    v.name(),
                    w.label(),
                    if ours <= limit { "met" } else { "NOT met" }
                );
            }
        }
    }
    if history_seen.len() > 1 {
        println!("\nhistory sweep (+CPU µs per row vs untracked; activity rows at each point)");
        let mut header = "| design | workload |".to_owned();
        let mut rule = "|---|---|".to_owned();
        for (size, actual) in history_seen {
            header.push_str(&format!(" {size} ({actual}) |"));
            rule.push_str("---:|");
        }
        println!("{header}\n{rule}");
        for &v in variants.iter().filter(|v| v.history_table().is_some()) {
            for w in ServerWorkload::ALL {
                let mut line = format!("| {} | {} |", v.name(), w.label());
                for (size, _) in history_seen {
                    line.push_str(&format!(" {:+.1} |", server_added(*size, w, v)));
                }
                println!("{line}");
            }
        }
    }
}
