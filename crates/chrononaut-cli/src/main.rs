//! `chrononaut`: history, audit logging and time travel for PostgreSQL tables, from the shell.

mod asof;
mod convert;
mod demo;
mod history;
mod locking;
mod progress;
mod prune;
mod restore;
mod serve;

use std::process::ExitCode;

use chrononaut::{Chrononaut, Db, DbConn, InstallOptions, Partitioning, TrackOptions};
use clap::{Parser, Subcommand};
use serde::Serialize;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, PgConnection, SqliteConnection};

/// History, audit logging and time travel for PostgreSQL tables.
#[derive(Parser, Debug)]
#[command(name = "chrononaut", version, about)]
struct Cli {
    /// PostgreSQL connection URL.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    database_url: Option<String>,

    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create or upgrade chrononaut's schema (idempotent).
    Init {
        /// Schema of the activity table (first install only).
        #[arg(long)]
        schema: Option<String>,
        /// Print the DDL instead of running it.
        #[arg(long)]
        print_sql: bool,
        /// Make the activity table range-partitioned on `changed`: one partition per UTC
        /// month, week or day, plus a DEFAULT partition (see `chrononaut partitions`).
        #[arg(long, value_parser = ["monthly", "weekly", "daily"])]
        partition: Option<String>,
        /// Periods after the current one to keep partitions for (default: 3 months, 4 weeks,
        /// 7 days). With --partition.
        #[arg(long, requires = "partition")]
        ahead: Option<u32>,
        /// With --partition on an activity table that exists unpartitioned: print the plan of
        /// its conversion (rows, partitions, what is locked) and change nothing.
        #[arg(long, requires = "partition")]
        dry_run: bool,
    },
    /// Track a table: record every insert, update and delete of it.
    Track {
        /// The table (`name`, `schema.name`, `"Mixed Case"`).
        table: String,
        /// Columns whose changes are noted but whose values are never stored.
        #[arg(long, value_delimiter = ',')]
        hidden: Vec<String>,
        /// Columns that are not recorded; changing only these creates no version.
        #[arg(long, value_delimiter = ',')]
        untracked: Vec<String>,
        /// Add and fill change_info / changed columns on the table itself.
        #[arg(long)]
        record_changes: bool,
        /// Refuse writes that carry no extra change info (e.g. a rationale).
        #[arg(long, conflicts_with = "no_strict")]
        strict: bool,
        /// Never strict, whatever the database-wide default.
        #[arg(long)]
        no_strict: bool,
        /// Do not record the rows that exist now as version 0 (their history then starts at
        /// their first change, as version 1).
        #[arg(long)]
        no_baseline: bool,
        /// Write no hash chain: each write costs less (no previous-hash look-up, no sha256),
        /// and `verify` can vouch for none of the table's new history.
        #[arg(long)]
        no_chain: bool,
        /// Retention: keep this much of the table's history when pruning by policy
        /// (`chrononaut prune` without --before): `400d`, `12w`, `2y` (365 days each) or a
        /// number of days; `forever` (the default) keeps it all.
        #[arg(long, value_name = "DURATION", value_parser = parse_keep)]
        keep: Option<Keep>,
        /// Rows per baseline batch (one transaction each).
        #[arg(long, default_value_t = 5000)]
        batch_size: i64,
    },
    /// Stop tracking a table; its history stays.
    Untrack {
        /// The table.
        table: String,
    },
    /// List tracked tables, their options and history counts.
    Status,
    /// List the partitions of a partitioned activity table with their row counts.
    Partitions {
        /// Create the partitions missing ahead and move the rows of the DEFAULT partition into
        /// partitions of their own (the owner of the activity table only; schedule it).
        #[arg(long)]
        maintain: bool,
    },
    /// Set the database-wide strict default for tables tracked without --strict/--no-strict.
    StrictDefault {
        /// on or off
        #[arg(value_parser = ["on", "off"])]
        value: String,
    },
    /// Show what chrononaut records, in a schema of its own (chrononaut_demo); on SQLite when
    /// no PostgreSQL is configured, reachable or startable.
    Demo {
        /// Run on a SQLite file of the demo's own, whatever PostgreSQL there is.
        #[arg(long)]
        sqlite: bool,
    },
    /// Convert chrononaut 0.1/0.2 `<table>_history` tables into the activity table.
    Convert(convert::ConvertArgs),
    /// The versions of a record (or, without KEY, a table's recent activity).
    Log(history::LogArgs),
    /// A record as it was: the latest version, version N or the version at a time.
    Show(history::ShowArgs),
    /// What changed in a record between two versions or times.
    Diff(history::DiffArgs),
    /// A whole table as it was at a time.
    At(asof::AtArgs),
    /// Put a record back to an earlier version (written as a new version).
    Restore(restore::RestoreArgs),
    /// Lock a record (or, with --table, freeze a table) against changes, with a reason.
    Lock(locking::LockArgs),
    /// Remove a lock (the user who locked it or a member of chrononaut_admin).
    Unlock(locking::UnlockArgs),
    /// List the locks in force.
    Locks(locking::LocksArgs),
    /// Recompute the history's hash chains (and check a digest): report every broken place.
    Verify(locking::VerifyArgs),
    /// Chain the history rows written since the last seal, so that `verify` vouches for them
    /// (SQLite, whose triggers write no hashes; PostgreSQL chains rows as it writes them).
    Seal,
    /// Export a digest of the history, to check later with `verify --digest FILE`.
    Digest(locking::DigestArgs),
    /// Remove history older than a time from a partitioned history, by whole partitions.
    Prune(prune::PruneArgs),
    /// Check an archive written by `prune --archive`.
    Archive(prune::ArchiveArgs),
    /// Browse the history in a web browser (read-only unless --allow-restore).
    Serve(serve::ServeArgs),
}

/// A retention given to `track --keep`.
#[derive(Debug, Clone, Copy)]
enum Keep {
    Days(u32),
    Forever,
}

/// `400d`, `12w`, `2y` (365 days), `400` (days) or `forever`.
fn parse_keep(text: &str) -> Result<Keep, String> {
    let text = text.trim();
    if text == "forever" {
        return Ok(Keep::Forever);
    }
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "d"),
    };
    let per = match unit {
        "d" => 1,
        "w" => 7,
        "y" => 365,
        _ => {
            return Err(format!(
                "{text:?}: give days (400d), weeks (12w), years (2y) or forever"
            ));
        }
    };
    number
        .parse::<u32>()
        .ok()
        .and_then(|n| n.checked_mul(per))
        .filter(|d| *d > 0)
        .map(Keep::Days)
        .ok_or_else(|| format!("{text:?}: give a positive number of days, weeks or years"))
}

/// A CLI failure: one line for stderr.
#[derive(Debug)]
struct Failure(String);

impl From<chrononaut::Error> for Failure {
    fn from(e: chrononaut::Error) -> Self {
        Failure(e.to_string())
    }
}

impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Self {
        Failure(chrononaut::Error::from(e).to_string())
    }
}

impl From<chrononaut_testdb::Error> for Failure {
    fn from(e: chrononaut_testdb::Error) -> Self {
        Failure(e.to_string())
    }
}

type CliResult<T> = Result<T, Failure>;

/// Output piped into a reader that stops early (`chrononaut log t | head`) ends the process
/// quietly, as it ends `cat` or `grep`: Rust ignores SIGPIPE, so every `println!` to the closed
/// pipe would panic instead.
fn default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread or signal handler exists;
    // restoring a signal's default disposition has no other effect.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    default_sigpipe();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => match e.kind() {
            clap::error::ErrorKind::DisplayHelp
            | clap::error::ErrorKind::DisplayVersion
            | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => e.exit(),
            _ => {
                // usage errors too are one line (clap's own text spans several)
                let text = e.to_string();
                let first = text
                    .lines()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("invalid arguments");
                let first = first.strip_prefix("error: ").unwrap_or(first);
                let detail = text
                    .lines()
                    .skip_while(|l| !l.starts_with("error:"))
                    .nth(1)
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with("Usage:"))
                    .map(|l| format!(" {l}"))
                    .unwrap_or_default();
                eprintln!("chrononaut: error: {first}{detail} (see chrononaut --help)");
                return ExitCode::from(2);
            }
        },
    };
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(message)) => {
            // one line, whatever the database said
            let line = message.lines().next().unwrap_or("failed").to_owned();
            eprintln!("chrononaut: error: {line}");
            ExitCode::FAILURE
        }
    }
}

/// The database a command works on: PostgreSQL, or SQLite for a `sqlite:` URL.
#[derive(Debug)]
enum Conn {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

impl DbConn for Conn {
    fn db(&mut self) -> Db<'_> {
        match self {
            Conn::Postgres(c) => c.db(),
            Conn::Sqlite(c) => c.db(),
        }
    }
}

/// `sqlite://path.db`, `sqlite:path.db`, `sqlite::memory:`: the CLI's SQLite URLs.
fn is_sqlite_url(url: &str) -> bool {
    url.trim_start().to_ascii_lowercase().starts_with("sqlite:")
}

/// The refusal of a command SQLite does not serve yet, as the library words it.
fn sqlite_refusal(what: &str) -> Failure {
    chrononaut::Error::Unsupported {
        what: what.to_owned(),
        backend: "SQLite",
    }
    .into()
}

fn require_url(url: Option<&str>) -> CliResult<&str> {
    url.ok_or_else(|| Failure("no database given: set DATABASE_URL or pass --database-url".into()))
}

/// A connection to the database at `url`, PostgreSQL or SQLite. A SQLite file must exist,
/// unless `create` (for `init`).
async fn connect_any(url: Option<&str>, create: bool) -> CliResult<Conn> {
    let url = require_url(url)?;
    if !is_sqlite_url(url) {
        return PgConnection::connect(url)
            .await
            .map(Conn::Postgres)
            .map_err(|e| Failure(format!("cannot connect to the database: {e}")));
    }
    let options = url
        .parse::<SqliteConnectOptions>()
        .map_err(|e| Failure(format!("not a SQLite URL ({url}): {e}")))?
        .create_if_missing(create);
    let path = options.get_filename().display().to_string();
    SqliteConnection::connect_with(&options)
        .await
        .map(Conn::Sqlite)
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.code().as_deref() == Some("14") => Failure(format!(
                "cannot open the SQLite database {path}: no such file (create it with `chrononaut init`)"
            )),
            _ => Failure(format!("cannot open the SQLite database {path}: {e}")),
        })
}

/// A connection to an existing database at `url`, PostgreSQL or SQLite.
async fn connect(url: Option<&str>) -> CliResult<Conn> {
    connect_any(url, false).await
}

/// A PostgreSQL connection for a command SQLite does not serve (`what`, for the refusal).
async fn connect_pg(url: Option<&str>, what: &str) -> CliResult<PgConnection> {
    if is_sqlite_url(require_url(url)?) {
        return Err(sqlite_refusal(what));
    }
    match connect(url).await? {
        Conn::Postgres(c) => Ok(c),
        Conn::Sqlite(_) => Err(sqlite_refusal(what)),
    }
}

fn print_json<T: Serialize>(value: &T) -> CliResult<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Failure(e.to_string()))?;
    println!("{text}");
    Ok(())
}

async fn run(cli: Cli) -> CliResult<()> {
    let ch = Chrononaut::new();
    let url = cli.database_url.as_deref();
    match cli.command {
        Command::Init {
            schema,
            print_sql,
            partition,
            ahead,
            dry_run,
        } => {
            let mut options = InstallOptions::new();
            let wants_schema = schema.is_some();
            if let Some(schema) = schema {
                options = options.activity_schema(schema);
            }
            if let Some(partition) = &partition {
                options = options.partition(partition.parse::<Partitioning>()?);
            }
            if let Some(ahead) = ahead {
                options = options.partitions_ahead(ahead);
            }
            if print_sql {
                print!("{}", ch.install_sql(&options)?);
                return Ok(());
            }
            let mut conn = match connect_any(url, true).await? {
                Conn::Postgres(pg) => pg,
                Conn::Sqlite(_) if partition.is_some() => {
                    return Err(sqlite_refusal("a partitioned history (--partition)"));
                }
                Conn::Sqlite(_) if wants_schema => {
                    return Err(sqlite_refusal("an activity schema (--schema)"));
                }
                Conn::Sqlite(mut lite) => {
                    let report = ch.install(&mut lite).await?;
                    if cli.json {
                        return print_json(&report);
                    }
                    print_installed(&report);
                    return Ok(());
                }
            };
            if dry_run {
                let partitioning = partition
                    .as_deref()
                    .unwrap_or("monthly")
                    .parse::<Partitioning>()?;
                let plan = ch.partition_plan(&mut conn, partitioning, ahead).await?;
                if cli.json {
                    return print_json(&plan);
                }
                print_plan(&plan);
                return Ok(());
            }
            let started = std::time::Instant::now();
            let report = ch.install_with(&mut conn, &options).await?;
            let elapsed = started.elapsed().as_secs_f64();
            if cli.json {
                return print_json(&report);
            }
            if let Some(rows) = report.converted_rows {
                println!(
                    "converted {} to a partitioned table: {rows} row(s) copied in {elapsed:.1} s ({:.0} rows/s)",
                    report.activity_table,
                    rows as f64 / elapsed.max(0.001)
                );
            }
            print_installed(&report);
            if report.regenerated_tables > 0 {
                println!(
                    "regenerated the capture triggers of {} tracked table(s) for this version",
                    report.regenerated_tables
                );
            }
            if let Some(p) = report.partitioning {
                println!(
                    "history is partitioned {p}; created {} partition(s); keep them ahead with `chrononaut partitions --maintain`",
                    report.partitions_created.len()
                );
            }
        }
        Command::Track {
            table,
            hidden,
            untracked,
            record_changes,
            strict,
            no_strict,
            no_baseline,
            no_chain,
            keep,
            batch_size,
        } => {
            let mut options = TrackOptions::new()
                .hidden(hidden.into_iter().filter(|c| !c.is_empty()))
                .untracked(untracked.into_iter().filter(|c| !c.is_empty()))
                .record_changes(record_changes)
                .without_chain(no_chain);
            if let Some(Keep::Days(days)) = keep {
                options = options.keep(days);
            }
            if strict {
                options = options.strict(true);
            } else if no_strict {
                options = options.strict(false);
            }
            let mut conn = connect(url).await?;
            let tracked = ch.track(&mut conn, &table, &options).await?;
            let baseline = if no_baseline {
                None
            } else {
                Some(asof::baseline(&ch, &mut conn, &tracked.table, batch_size).await?)
            };
            if cli.json {
                let mut out = serde_json::to_value(&tracked).map_err(|e| Failure(e.to_string()))?;
                if let (Some(map), Some(b)) = (out.as_object_mut(), &baseline) {
                    map.insert("baseline_rows".into(), b.recorded.into());
                }
                return print_json(&out);
            }
            println!(
                "tracking {} (key: {}; history table_name {:?})",
                tracked.table,
                tracked.primary_key.join(", "),
                tracked.history_name
            );
            let sqlite = matches!(conn, Conn::Sqlite(_));
            print_options(&tracked.options, tracked.strict_effective, sqlite);
            if let Some(b) = baseline
                && b.recorded > 0
            {
                println!(
                    "  baseline:       {} existing rows recorded as version 0",
                    b.recorded
                );
            }
        }
        Command::Untrack { table } => {
            let mut conn = connect(url).await?;
            ch.untrack(&mut conn, &table).await?;
            if cli.json {
                return print_json(&serde_json::json!({"untracked": table}));
            }
            println!("stopped tracking {table}; its history is kept");
        }
        Command::Status => {
            let mut conn = connect(url).await?;
            let tables = ch.status(&mut conn).await?;
            if cli.json {
                return print_json(&tables);
            }
            if tables.is_empty() {
                println!("no tracked tables; track one with `chrononaut track TABLE`");
            }
            let sqlite = match &mut conn {
                Conn::Postgres(pg) => {
                    print_partitioning(&ch.partitions(pg).await?);
                    false
                }
                Conn::Sqlite(_) => true,
            };
            for t in tables {
                println!("{}  ({} history rows)", t.table, t.history_rows);
                print_options(&t.options, t.strict_effective, sqlite);
                if t.stale {
                    println!(
                        "  stale:          its columns changed since tracking; run `chrononaut track {}` again",
                        t.table
                    );
                }
            }
        }
        Command::Partitions { maintain } => {
            let mut conn = connect_pg(url, "a partitioned history").await?;
            let report = if maintain {
                Some(ch.maintain_partitions(&mut conn).await?)
            } else {
                None
            };
            let partitions = ch.partitions(&mut conn).await?;
            if cli.json {
                return print_json(&serde_json::json!({
                    "maintained": report,
                    "partitioning": partitions,
                }));
            }
            if let Some(report) = &report {
                for c in &report.created {
                    println!(
                        "created {} ({} .. {}){}",
                        c.name,
                        utc_text(&c.start),
                        utc_text(&c.end),
                        if c.moved_rows > 0 {
                            format!(", moved {} row(s) from DEFAULT into it", c.moved_rows)
                        } else {
                            String::new()
                        }
                    );
                }
                if report.created.is_empty() {
                    println!("partitions are up to date");
                }
            }
            if !partitions.partitioned {
                println!(
                    "the activity table is not partitioned (see `chrononaut init --partition`)"
                );
                return Ok(());
            }
            print_partitioning(&partitions);
            let lines: Vec<Vec<(String, String)>> = partitions
                .partitions
                .iter()
                .map(|p| {
                    vec![
                        p.name.clone(),
                        if p.is_default {
                            "DEFAULT".to_owned()
                        } else {
                            format!(
                                "{} .. {}",
                                p.start.as_ref().map_or("-".into(), utc_text),
                                p.end.as_ref().map_or("-".into(), utc_text)
                            )
                        },
                        p.rows.to_string(),
                    ]
                    .into_iter()
                    .map(|c| (c.clone(), c))
                    .collect()
                })
                .collect();
            let style = history::Style::detect();
            let header = ["partition", "range (UTC)", "rows"];
            for line in history::table_lines(&style, &header, &lines) {
                println!("{line}");
            }
        }
        Command::StrictDefault { value } => {
            let mut conn = connect_pg(url, "a database-wide strict default").await?;
            let on = value == "on";
            ch.set_strict_default(&mut conn, on).await?;
            if cli.json {
                return print_json(&serde_json::json!({"strict_default": on}));
            }
            println!("strict default is now {value}");
        }
        Command::Demo { sqlite } => demo::run(&ch, url, cli.json, sqlite).await?,
        Command::Convert(args) => convert::run(&ch, url, cli.json, args).await?,
        Command::Log(args) => history::log(&ch, url, cli.json, args).await?,
        Command::Show(args) => history::show(&ch, url, cli.json, args).await?,
        Command::Diff(args) => history::diff(&ch, url, cli.json, args).await?,
        Command::At(args) => asof::at(&ch, url, cli.json, args).await?,
        Command::Restore(args) => restore::run(&ch, url, cli.json, args).await?,
        Command::Lock(args) => locking::lock(&ch, url, cli.json, args).await?,
        Command::Unlock(args) => locking::unlock(&ch, url, cli.json, args).await?,
        Command::Locks(args) => locking::locks(&ch, url, cli.json, args).await?,
        Command::Verify(args) => locking::verify(&ch, url, cli.json, args).await?,
        Command::Seal => locking::seal(&ch, url, cli.json).await?,
        Command::Digest(args) => locking::digest(&ch, url, cli.json, args).await?,
        Command::Prune(args) => prune::prune(&ch, url, cli.json, args).await?,
        Command::Archive(args) => prune::archive(&ch, url, cli.json, args).await?,
        Command::Serve(args) => serve::run(url, args).await?,
    }
    Ok(())
}

/// The line of `init` that says what was installed.
fn print_installed(report: &chrononaut::InstallReport) {
    match report.previous_version {
        None if report.adopted_existing_table => println!(
            "installed chrononaut schema v{}, adopting the existing {} with its rows",
            report.schema_version, report.activity_table
        ),
        None => println!(
            "installed chrononaut schema v{}; history goes to {}",
            report.schema_version, report.activity_table
        ),
        Some(v) if v == report.schema_version => println!(
            "chrononaut schema v{} is already installed; history goes to {}",
            v, report.activity_table
        ),
        Some(v) => println!(
            "upgraded chrononaut schema v{v} -> v{}",
            report.schema_version
        ),
    }
}

/// The plan of `init --partition ... --dry-run`.
fn print_plan(plan: &chrononaut::PartitionPlan) {
    if !plan.conversion {
        println!("{}", plan.locks);
        return;
    }
    println!(
        "would convert {} to partitioned {} ({} ahead): {} row(s){}",
        plan.activity_table,
        plan.partitioning,
        plan.ahead,
        plan.rows,
        match (&plan.oldest, &plan.newest) {
            (Some(a), Some(b)) => format!(" from {} to {}", utc_text(a), utc_text(b)),
            _ => String::new(),
        }
    );
    println!(
        "  {} partition(s) + DEFAULT{}",
        plan.partitions.len(),
        if plan.default_rows > 0 {
            format!(
                " ({} row(s) with an infinite time go to DEFAULT)",
                plan.default_rows
            )
        } else {
            String::new()
        }
    );
    for p in &plan.partitions {
        println!(
            "  {}  {} .. {}  {} row(s)",
            p.name,
            utc_text(&p.start),
            utc_text(&p.end),
            p.rows
        );
    }
    println!("  locks: {}", plan.locks);
    println!("  nothing was changed (run again without --dry-run to convert)");
}

/// A UTC instant as `2026-12-01 00:00:00Z` (partition bounds fall on whole seconds).
fn utc_text(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%SZ").to_string()
}

/// The partitioning lines of `status` and `partitions`: granularity, how far ahead partitions
/// exist, and a warning while the DEFAULT partition holds rows.
fn print_partitioning(p: &chrononaut::PartitionStatus) {
    if !p.partitioned {
        return;
    }
    let ranges = p.partitions.iter().filter(|p| !p.is_default).count();
    match p.partitioning {
        Some(g) => println!(
            "history partitioned {g}: {ranges} partition(s) + DEFAULT, kept {} ahead",
            p.ahead
        ),
        None => println!(
            "history partitioned by hand: {ranges} range partition(s); chrononaut does not maintain them"
        ),
    }
    match &p.covered_until {
        Some(t) => println!("  partitions exist until {}", utc_text(t)),
        None => println!(
            "  warning: no partition holds the present: history is written to DEFAULT; run `chrononaut partitions --maintain`"
        ),
    }
    if p.default_rows > 0 {
        println!(
            "  warning: {} history row(s) in the DEFAULT partition; `chrononaut partitions --maintain` moves them into partitions of their own",
            p.default_rows
        );
    }
}

/// A tracked table's options, as `track` and `status` print them (`sqlite`: on SQLite, which
/// chains its history later, by `seal`).
fn print_options(options: &TrackOptions, strict: bool, sqlite: bool) {
    let list = |v: &[String]| {
        if v.is_empty() {
            "-".to_owned()
        } else {
            v.join(", ")
        }
    };
    println!("  hidden:         {}", list(&options.hidden));
    println!("  untracked:      {}", list(&options.untracked));
    println!(
        "  record changes: {}",
        if options.record_changes { "yes" } else { "no" }
    );
    println!(
        "  hash chain:     {}",
        if sqlite {
            "sealed later, by `chrononaut seal` (SQLite)"
        } else if options.no_chain {
            "no (--no-chain)"
        } else {
            "yes"
        }
    );
    println!(
        "  keep:           {}",
        options
            .keep_days
            .map_or_else(|| "forever".to_owned(), |d| format!("{d} days"))
    );
    let origin = if options.strict.is_some() {
        ""
    } else {
        " (database default)"
    };
    println!(
        "  strict:         {}{origin}",
        if strict { "yes" } else { "no" }
    );
}
