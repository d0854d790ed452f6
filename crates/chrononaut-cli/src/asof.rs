//! `at`: a whole table as it was at a time; the baseline step of `track`.

use std::io::Write;

use chrono::{DateTime, Utc};
use chrononaut::{BaselineOptions, BaselineReport, Chrononaut};
use clap::{Args, ValueEnum};
use futures_util::TryStreamExt;

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
    let rows: Vec<chrononaut::AsOfRow> = as_of.rows().try_collect().await?;
    // the stream comes in the history index's order; show the keys' order (9 before 10)
    let order = key_order(&rows);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let io = |e: std::io::Error| Failure(format!("cannot write the output: {e}"));
    match format {
        Format::Json => {
            for &i in &order {
                // values as PostgreSQL printed them (numbers keep their digits and scale)
                serde_json::to_writer(&mut out, &rows[i].raw_columns())
                    .map_err(|e| Failure(format!("cannot write the output: {e}")))?;
                writeln!(out).map_err(io)?;
            }
        }
        Format::Csv => {
            let header: Vec<String> = columns.iter().map(|c| csv_field(c)).collect();
            writeln!(out, "{}", header.join(",")).map_err(io)?;
            for &i in &order {
                let row = rows[i].raw_columns();
                for (n, c) in columns.iter().enumerate() {
                    if n > 0 {
                        out.write_all(b",").map_err(io)?;
                    }
                    match row.get(c) {
                        Some(v) if v.get() != "null" => out
                            .write_all(csv_field(&raw_text(v)).as_bytes())
                            .map_err(io)?,
                        _ => {}
                    }
                }
                writeln!(out).map_err(io)?;
            }
        }
        Format::Table => {
            let style = Style::detect();
            let cells: Vec<Vec<(String, String)>> = order
                .iter()
                .map(|&i| {
                    let row = rows[i].raw_columns();
                    columns
                        .iter()
                        .map(|c| {
                            let text = row
                                .get(c)
                                .map_or_else(|| "null".to_owned(), |v| raw_text(v));
                            (text.clone(), text)
                        })
                        .collect()
                })
                .collect();
            let header: Vec<&str> = columns.iter().map(String::as_str).collect();
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

/// The positions of `rows` in the order of [`chrononaut::AsOfRow::key_order`]. A key of one
/// integer field (the usual primary key) is sorted by that integer alone: the same order
/// (`key_order` compares the field names, equal, then the numbers by value), without
/// comparing JSON values.
fn key_order(rows: &[chrononaut::AsOfRow]) -> Vec<usize> {
    fn single_int(key: &serde_json::Value) -> Option<(&str, i64)> {
        let fields = key.as_object()?;
        if fields.len() != 1 {
            return None;
        }
        let (name, value) = fields.iter().next()?;
        Some((name.as_str(), value.as_i64()?))
    }
    let ints: Option<Vec<(i64, usize)>> = rows.first().and_then(|first| {
        let (name, _) = single_int(&first.key)?;
        rows.iter()
            .enumerate()
            .map(|(i, r)| match single_int(&r.key) {
                Some((n, v)) if n == name => Some((v, i)),
                _ => None,
            })
            .collect()
    });
    match ints {
        Some(mut ints) => {
            ints.sort_unstable();
            ints.into_iter().map(|(_, i)| i).collect()
        }
        None => {
            let mut order: Vec<usize> = (0..rows.len()).collect();
            order.sort_by(|&a, &b| rows[a].key_order(&rows[b]));
            order
        }
    }
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
