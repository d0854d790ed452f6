//! `convert`: moving chrononaut 0.1/0.2 `<table>_history` tables into the activity table.

use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use chrononaut::{Chrononaut, ChunkReport, ConvertOptions, Converter, Preview};
use clap::{ArgGroup, Args};
use serde_json::json;
use sqlx::PgConnection;

use crate::progress::Progress;
use crate::{CliResult, Failure, connect_pg, print_json};

/// Records per step of an update pass.
const UPDATE_STEP: u64 = 10_000;

/// `chrononaut convert TABLE (--chunk N | --all | --update-from T)`.
#[derive(Args, Debug)]
#[command(group(ArgGroup::new("mode").required(true).args(["chunk", "all", "update_from"])))]
pub struct ConvertArgs {
    /// The table whose legacy history (`<table>_history`) to convert.
    pub table: String,
    /// The column that orders records into chunks (default: the primary key, else `id`).
    #[arg(long)]
    pub id_column: Option<String>,
    /// The legacy history table, when it is not `<table>_history`.
    #[arg(long)]
    pub history_table: Option<String>,
    /// Parent table of joined-table inheritance (repeat for grandparents, nearest first).
    #[arg(long = "join", value_name = "PARENT")]
    pub parents: Vec<String>,
    /// Convert in chunks of N records (each chunk its own transaction), continuing where the
    /// last run stopped.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub chunk: Option<u64>,
    /// Convert every record in one transaction (small tables); once only, unless --force.
    #[arg(long)]
    pub all: bool,
    /// Bring over legacy changes made after this time (RFC 3339, or `YYYY-MM-DD HH:MM[:SS]`
    /// in UTC), then the new records.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub update_from: Option<DateTime<Utc>>,
    /// With --chunk: stop after this many chunks (run again to continue).
    #[arg(long, value_name = "K", requires = "chunk")]
    pub max_chunks: Option<u64>,
    /// With --chunk: pause this long between chunks, to leave room for the live application.
    #[arg(long, value_name = "MS", requires = "chunk", default_value_t = 0)]
    pub pause_ms: u64,
    /// Show what would be converted and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Convert again over converted data (--all), or restart a chunked conversion from the
    /// first record; versions already in the history are never written twice.
    #[arg(long)]
    pub force: bool,
}

/// Parses `2024-05-01T12:00:00Z`, `2024-05-01 12:00:00+02`, `2024-05-01 12:00[:00[.123]]`
/// (UTC) or `2024-05-01` (UTC midnight).
fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M:%S%.f%#z"] {
        if let Ok(t) = DateTime::parse_from_str(text, format) {
            return Ok(t.with_timezone(&Utc));
        }
    }
    for format in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(t.and_utc());
        }
    }
    if let Some(t) = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
    {
        return Ok(t.and_utc());
    }
    Err(format!(
        "{text:?} is not a time (use RFC 3339, or YYYY-MM-DD HH:MM[:SS] in UTC)"
    ))
}

/// The conversion's progress: records converted, with the history rows written beside them.
fn progress(total: u64) -> Progress {
    Progress::new("converted", "records", total, 0)
}

fn advance(progress: &mut Progress, rows: &mut u64, report: &ChunkReport) {
    *rows += report.rows;
    progress.advance(report.objects, &format!("{rows} rows"));
}

fn shell_word(text: &str) -> String {
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-:+".contains(c))
    {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// The command line that converts the same table again in another mode.
fn command(args: &ConvertArgs, mode: &str) -> String {
    let mut words = vec![
        "chrononaut".to_owned(),
        "convert".to_owned(),
        shell_word(&args.table),
    ];
    if let Some(c) = &args.id_column {
        words.push(format!("--id-column {}", shell_word(c)));
    }
    if let Some(h) = &args.history_table {
        words.push(format!("--history-table {}", shell_word(h)));
    }
    for p in &args.parents {
        words.push(format!("--join {}", shell_word(p)));
    }
    words.push(mode.to_owned());
    words.join(" ")
}

fn print_preview(converter: &Converter, preview: &Preview) {
    println!(
        "dry run: nothing written. {} from {}:",
        converter.table(),
        converter.legacy_table()
    );
    if preview.chunks.iter().all(|c| c.objects == 0) {
        println!("  nothing to convert");
    }
    for (i, c) in preview.chunks.iter().enumerate() {
        let ids = match (&c.first_id, &c.last_id) {
            (Some(a), Some(b)) => format!(" (ids {a}..{b})"),
            _ => String::new(),
        };
        println!(
            "  chunk {}: {} records{ids}, {} rows to write, {} already present",
            i + 1,
            c.objects,
            c.rows,
            c.skipped_rows
        );
        if c.inconsistent > 0 {
            println!(
                "    {} records with a version reset by hand would stop at their legacy versions",
                c.inconsistent
            );
        }
    }
    if !preview.sample.is_empty() {
        println!("sample rows:");
        for row in &preview.sample {
            println!("  {row}");
        }
    }
}

fn warn_inconsistent(report: &ChunkReport) {
    if report.inconsistent > 0 {
        let keys: Vec<String> = report
            .inconsistent_keys
            .iter()
            .map(|k| k.to_string())
            .collect();
        println!(
            "warning: {} records have a version not above their legacy versions (reset by hand?); \
             their current state was not converted: {}",
            report.inconsistent,
            keys.join(", ")
        );
    }
}

/// Runs `chrononaut convert`.
pub async fn run(
    ch: &Chrononaut,
    url: Option<&str>,
    json: bool,
    args: ConvertArgs,
) -> CliResult<()> {
    let mut conn = connect_pg(url, "legacy conversion (convert)").await?;
    let mut options = ConvertOptions::new().force(args.force);
    options.id_column.clone_from(&args.id_column);
    options.history_table.clone_from(&args.history_table);
    options.parents.clone_from(&args.parents);
    let converter = ch.converter(&mut conn, &args.table, &options).await?;

    if args.dry_run {
        let preview = if let Some(n) = args.chunk {
            converter
                .preview_chunks(&mut conn, n, args.max_chunks)
                .await?
        } else if let Some(since) = args.update_from {
            converter.preview_update(&mut conn, since).await?
        } else {
            converter.preview_all(&mut conn).await?
        };
        if json {
            return print_json(&json!({
                "table": converter.table(),
                "legacy_table": converter.legacy_table(),
                "history_name": converter.history_name(),
                "dry_run": true,
                "chunks": preview.chunks,
                "sample": preview.sample,
            }));
        }
        print_preview(&converter, &preview);
        return Ok(());
    }

    if !json {
        println!(
            "converting {} from {} (records by {}; history table_name {:?})",
            converter.table(),
            converter.legacy_table(),
            converter.id_column(),
            converter.history_name()
        );
        if !converter.left_out().is_empty() {
            println!(
                "left out, never in the legacy history (hidden or untracked in 0.1/0.2): {}",
                converter.left_out().join(", ")
            );
        }
    }
    let start = Instant::now();
    let mut total = ChunkReport::default();
    let mut chunks = 0u64;
    let mut finished = true;
    let mode;
    if let Some(n) = args.chunk {
        mode = "chunk";
        if args.force {
            converter.restart(&mut conn).await?;
        }
        let mut progress = progress(converter.remaining(&mut conn).await?);
        let mut rows = 0;
        loop {
            if args.max_chunks.is_some_and(|m| chunks >= m) {
                finished = false;
                break;
            }
            let report = converter.convert_chunk(&mut conn, n).await?;
            if report.objects == 0 {
                break;
            }
            chunks += 1;
            advance(&mut progress, &mut rows, &report);
            total.add(&report);
            if args.pause_ms > 0 {
                tokio::time::sleep(Duration::from_millis(args.pause_ms)).await;
            }
        }
        progress.finish();
    } else if let Some(since) = args.update_from {
        mode = "update";
        let ids = converter.update_ids(&mut conn, since).await?;
        let mut progress = progress(ids.len() as u64);
        let mut rows = 0;
        let step = usize::try_from(UPDATE_STEP).unwrap_or(usize::MAX);
        for part in ids.chunks(step) {
            let report = converter.convert_ids(&mut conn, part, Some(since)).await?;
            chunks += 1;
            advance(&mut progress, &mut rows, &report);
            total.add(&report);
        }
        progress.finish();
    } else {
        mode = "all";
        total = converter.convert_all(&mut conn).await?;
        chunks = 1;
    }
    let secs = start.elapsed().as_secs_f64();
    let rate = if secs > 0.0 {
        total.rows as f64 / secs
    } else {
        0.0
    };
    let remaining = if finished {
        0
    } else {
        converter.remaining(&mut conn).await?
    };
    let next = next_steps(&mut conn, &converter, &args, finished).await?;
    if json {
        return print_json(&json!({
            "table": converter.table(),
            "legacy_table": converter.legacy_table(),
            "history_name": converter.history_name(),
            "mode": mode,
            "objects": total.objects,
            "rows": total.rows,
            "skipped_rows": total.skipped_rows,
            "inconsistent": total.inconsistent,
            "inconsistent_keys": total.inconsistent_keys,
            "chunks": chunks,
            "seconds": secs,
            "rows_per_second": rate,
            "finished": finished,
            "remaining": remaining,
            "left_out": converter.left_out(),
            "next": next,
        }));
    }
    println!(
        "converted {} records: {} history rows written, {} already present ({} {}, {:.1} s, {:.0} rows/s)",
        total.objects,
        total.rows,
        total.skipped_rows,
        chunks,
        if chunks == 1 { "step" } else { "steps" },
        secs,
        rate
    );
    warn_inconsistent(&total);
    if !finished {
        println!("stopped after {chunks} chunks; {remaining} records left");
    } else if mode == "chunk" {
        println!("nothing left to convert");
    }
    for line in next {
        println!("next: {line}");
    }
    Ok(())
}

/// What to run next, after this run.
async fn next_steps(
    conn: &mut PgConnection,
    converter: &Converter,
    args: &ConvertArgs,
    finished: bool,
) -> CliResult<Vec<String>> {
    if !finished {
        return Ok(vec![
            "run the same command again to continue where this run stopped".to_owned(),
        ]);
    }
    let progress = converter.progress(conn).await?.ok_or_else(|| {
        Failure(format!(
            "no conversion progress recorded for {}",
            converter.table()
        ))
    })?;
    let mut next = Vec::new();
    if args.update_from.is_none() {
        next.push(format!(
            "if the old application still writes {}, stop its writes, then bring over what changed \
             since this conversion started (a few minutes earlier is safe: nothing is written twice): {}",
            converter.legacy_table(),
            command(
                args,
                &format!(
                    "--update-from {}",
                    shell_word(&progress.started_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                )
            )
        ));
    }
    if !converter.tracked() {
        let hidden = if converter.left_out().is_empty() {
            String::new()
        } else {
            format!(" --hidden {}", shell_word(&converter.left_out().join(",")))
        };
        next.push(format!(
            "record new changes with the triggers: chrononaut track {}{hidden} (then the history continues at the converted versions)",
            shell_word(&args.table)
        ));
    }
    next.push(format!(
        "the legacy table {} is left as it was; drop it yourself once you no longer need it",
        converter.legacy_table()
    ));
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse() {
        let utc = |s: &str| parse_time(s).map(|t| t.to_rfc3339());
        assert_eq!(
            utc("2024-05-01T12:00:00Z").as_deref(),
            Ok("2024-05-01T12:00:00+00:00")
        );
        assert_eq!(
            utc("2024-05-01 12:00:00+02").as_deref(),
            Ok("2024-05-01T10:00:00+00:00")
        );
        assert_eq!(
            utc("2024-05-01 12:00").as_deref(),
            Ok("2024-05-01T12:00:00+00:00")
        );
        assert_eq!(
            utc("2024-05-01").as_deref(),
            Ok("2024-05-01T00:00:00+00:00")
        );
        assert!(parse_time("yesterday").is_err());
    }

    #[test]
    fn shell_words_are_quoted() {
        assert_eq!(shell_word("notes"), "notes");
        assert_eq!(shell_word("\"Odd\" it's"), "'\"Odd\" it'\\''s'");
    }
}
