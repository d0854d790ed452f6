//! `chrononaut prune` and `chrononaut archive verify`: retention of a partitioned history.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use chrononaut::{Chrononaut, PruneOptions};
use clap::{Args, Subcommand};

use crate::history::parse_time;
use crate::{CliResult, Failure, connect_pg, print_json};

/// `chrononaut prune --before T [--archive DIR] [--dry-run]`.
#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Remove the history recorded before this time (RFC 3339, or `YYYY-MM-DD [HH:MM[:SS]]`
    /// in UTC): every partition that lies wholly before it. Without it: what the tracked
    /// tables' retention (`track --keep`) lets go, now minus the longest.
    #[arg(long, value_parser = parse_time)]
    pub before: Option<DateTime<Utc>>,
    /// First write the removed history to DIR (gzip-compressed JSON Lines, one file per
    /// partition, and manifest.json); nothing is pruned if that fails.
    #[arg(long, value_name = "DIR")]
    pub archive: Option<PathBuf>,
    /// Only say what would be removed.
    #[arg(long)]
    pub dry_run: bool,
}

/// `chrononaut archive ...`.
#[derive(Args, Debug)]
pub struct ArchiveArgs {
    #[command(subcommand)]
    pub command: ArchiveCommand,
}

/// What to do with an archive.
#[derive(Subcommand, Debug)]
pub enum ArchiveCommand {
    /// Check an archive's files against its manifest and against the prune this database
    /// recorded (without a database: the files only).
    Verify {
        /// The archive directory.
        dir: PathBuf,
        /// Check the files only, without connecting to a database.
        #[arg(long)]
        offline: bool,
    },
}

pub async fn prune(
    ch: &Chrononaut,
    url: Option<&str>,
    json_out: bool,
    args: PruneArgs,
) -> CliResult<()> {
    let mut conn = connect_pg(url, "pruning").await?;
    let mut options = PruneOptions::new().dry_run(args.dry_run);
    if let Some(dir) = &args.archive {
        options = options.archive(dir);
    }
    let before = match args.before {
        Some(t) => t,
        None => ch.retention_cut(&mut conn).await?,
    };
    let report = ch.prune(&mut conn, before, &options).await?;
    if json_out {
        return print_json(&report);
    }
    let Some(cut) = report.cut else {
        println!(
            "nothing to prune: no partition of the history lies wholly before {}",
            before.format("%Y-%m-%d %H:%M:%S UTC")
        );
        return Ok(());
    };
    let verb = if report.dry_run {
        "would remove"
    } else {
        "removed"
    };
    for p in &report.partitions {
        println!(
            "{verb} {}: {} .. {}, {} rows{}",
            p.partition,
            p.lower.format("%Y-%m-%d %H:%M:%S"),
            p.upper.format("%Y-%m-%d %H:%M:%S"),
            p.rows,
            p.file
                .as_deref()
                .map(|f| format!(", archived as {f}"))
                .unwrap_or_default()
        );
    }
    println!(
        "{}: history before {} ({} rows); {} records {} their latest version before it as a checkpoint",
        if report.dry_run { "dry run" } else { "pruned" },
        cut.format("%Y-%m-%d %H:%M:%S UTC"),
        report.rows,
        report.checkpoints,
        if report.dry_run { "would keep" } else { "keep" }
    );
    if let (Some(id), Some(digest)) = (report.prune_id, &report.digest) {
        println!("recorded as prune {id}, digest {digest}");
    }
    if let Some(dir) = &report.archive {
        println!(
            "archive: {} (check it with `chrononaut archive verify {}`)",
            dir.display(),
            dir.display()
        );
    }
    Ok(())
}

pub async fn archive(
    ch: &Chrononaut,
    url: Option<&str>,
    json_out: bool,
    args: ArchiveArgs,
) -> CliResult<()> {
    let ArchiveCommand::Verify { dir, offline } = args.command;
    let report = if offline {
        ch.verify_archive(None, &dir).await?
    } else {
        let mut conn = connect_pg(url, "pruning archives").await?;
        ch.verify_archive(Some(&mut conn), &dir).await?
    };
    if json_out {
        print_json(&report)?;
    } else {
        for problem in &report.problems {
            println!("BROKEN {problem}");
        }
        if report.is_ok() {
            println!(
                "ok: {} files, {} rows, digest {} (prune {}{})",
                report.manifest.partitions.len(),
                report.manifest.rows,
                report.manifest.digest,
                report.manifest.prune_id,
                if offline {
                    ", not checked against a database"
                } else {
                    ", as recorded"
                }
            );
        }
    }
    if report.is_ok() {
        Ok(())
    } else {
        Err(Failure(format!(
            "archive verification failed: {} problem(s)",
            report.problems.len()
        )))
    }
}
