//! `at`: a whole table as it was at a time; the baseline step of `track`.

use std::collections::BTreeMap;
use std::io::Write;

use chrono::{DateTime, Utc};
use chrononaut::{BaselineOptions, BaselineReport, Chrononaut};
use clap::{Args, ValueEnum};
use futures_util::TryStreamExt;

use serde_json::value::RawValue;

use crate::history::{Style, parse_time, table_lines};
use crate::progress::Progress;
use crate::{CliResult, Failure, connect};
use chrononaut_serve::raw_text;

/// Output formats of `at`.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns.
    Table,
    /// CSV with a header line (RFC 4180 quoting).
    Csv,
    /// One JSON object per line (the recorded columns).
    Json,
}

/// `chrononaut at TABLE --at T`.
#[derive(Args, Debug)]
pub struct AtArgs {
    /// The table.
    pub table: String,
    /// The time (RFC 3339, or `YYYY-MM-DD HH:MM[:SS]` in UTC).
    #[arg(long, value_parser = parse_time)]
    pub at: DateTime<Utc>,
    /// Output format (`--json` means `--format json`).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
}

pub async fn at(ch: &Chrononaut, url: Option<&str>, json_out: bool, args: AtArgs) -> CliResult<()> {
    let mut conn = connect(url).await?;
    let format = args.format.unwrap_or(if json_out {
        Format::Json
    } else {
        Format::Table
    });
    let as_of = ch.as_of(&mut conn, &args.table, args.at).await?;
    let columns = as_of.columns().to_vec();
    let mut rows: Vec<chrononaut::AsOfRow> = as_of.rows().try_collect().await?;
    // the stream comes in the history index's order; show the keys' order (9 before 10)
    rows.sort_by(|a, b| a.key_order(b));
    // values as PostgreSQL printed them (numbers keep their digits and scale)
    let rows: Vec<BTreeMap<String, &RawValue>> = rows.iter().map(|r| r.raw_columns()).collect();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let io = |e: std::io::Error| Failure(format!("cannot write the output: {e}"));
    match format {
        Format::Json => {
            for row in &rows {
                let line = serde_json::to_string(row).map_err(|e| Failure(e.to_string()))?;
                writeln!(out, "{line}").map_err(io)?;
            }
        }
        Format::Csv => {
            writeln!(
                out,
                "{}",
                columns
                    .iter()
                    .map(|c| csv_field(c))
                    .collect::<Vec<_>>()
                    .join(",")
            )
            .map_err(io)?;
            for row in &rows {
                let fields: Vec<String> = columns
                    .iter()
                    .map(|c| match row.get(c) {
                        None => String::new(),
                        Some(v) if v.get() == "null" => String::new(),
                        Some(v) => csv_field(&raw_text(v)),
                    })
                    .collect();
                writeln!(out, "{}", fields.join(",")).map_err(io)?;
            }
        }
        Format::Table => {
            let style = Style::detect();
            let cells: Vec<Vec<String>> = rows
                .iter()
                .map(|row| {
                    columns
                        .iter()
                        .map(|c| {
                            row.get(c)
                                .map_or_else(|| "null".to_owned(), |v| raw_text(v))
                        })
                        .collect()
                })
                .collect();
            let header: Vec<&str> = columns.iter().map(String::as_str).collect();
            let cells: Vec<Vec<(String, String)>> = cells
                .into_iter()
                .map(|row| row.into_iter().map(|c| (c.clone(), c)).collect())
                .collect();
            for line in table_lines(&style, &header, &cells) {
                writeln!(out, "{line}").map_err(io)?;
            }
            if rows.is_empty() {
                writeln!(out, "(no rows at {})", crate::history::time(args.at)).map_err(io)?;
            }
        }
    }
    out.flush().map_err(io)
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// Runs the baseline of a freshly tracked table, with a progress bar on stderr when it is a
/// terminal and the table is big enough to wait for.
pub async fn baseline(
    ch: &Chrononaut,
    conn: &mut crate::Conn,
    table: &str,
    batch_size: i64,
) -> CliResult<BaselineReport> {
    // The bar only for a table big enough to wait for; `all` is known at the first call.
    let mut progress: Option<Progress> = None;
    let options = BaselineOptions::new()
        .batch_size(batch_size)
        .progress(move |done, all| {
            let p = progress.get_or_insert_with(|| Progress::new("baseline", "rows", all, 10_000));
            p.set(done, all, "");
            if done >= all {
                p.finish();
            }
        });
    Ok(ch.baseline(conn, table, options).await?)
}
