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
    let rows = as_of.rows();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let io = |e: std::io::Error| Failure(format!("cannot write the output: {e}"));
    // Each row is rendered as it arrives and kept only as its rendering and its key; the
    // stream comes in the history index's order, and the output in the keys' (9 before 10).
    // Values as PostgreSQL printed them (numbers keep their digits and scale).
    match format {
        Format::Json => {
            let lines = sorted_by_key(rows, |row| {
                serde_json::to_string(&row.raw_columns()).map_err(|e| Failure(e.to_string()))
            })
            .await?;
            for line in lines {
                writeln!(out, "{line}").map_err(io)?;
            }
        }
        Format::Csv => {
            let lines = sorted_by_key(rows, |row| {
                let values = row.raw_columns();
                let mut line = String::new();
                for (n, c) in columns.iter().enumerate() {
                    if n > 0 {
                        line.push(',');
                    }
                    match values.get(c) {
                        Some(v) if v.get() != "null" => line.push_str(&csv_field(&raw_text(v))),
                        _ => {}
                    }
                }
                Ok(line)
            })
            .await?;
            // the header only once every row was read (a failed read prints nothing)
            let header: Vec<String> = columns.iter().map(|c| csv_field(c)).collect();
            writeln!(out, "{}", header.join(",")).map_err(io)?;
            for line in lines {
                writeln!(out, "{line}").map_err(io)?;
            }
        }
        Format::Table => {
            let style = Style::detect();
            let cells: Vec<Vec<(String, String)>> = sorted_by_key(rows, |row| {
                let values = row.raw_columns();
                Ok(columns
                    .iter()
                    .map(|c| {
                        let text = values
                            .get(c)
                            .map_or_else(|| "null".to_owned(), |v| raw_text(v));
                        (text.clone(), text)
                    })
                    .collect())
            })
            .await?;
            let header: Vec<&str> = columns.iter().map(String::as_str).collect();
            for line in table_lines(&style, &header, &cells) {
                writeln!(out, "{line}").map_err(io)?;
            }
            if cells.is_empty() {
                writeln!(out, "(no rows at {})", crate::history::time(args.at)).map_err(io)?;
            }
        }
    }
    out.flush().map_err(io)
}

/// A row's key as kept for sorting: its integer when the key is one integer field (the usual
/// primary key), else the key itself.
enum SortKey {
    Int(i64),
    Json(serde_json::Value),
}

/// Renders every row of `rows` as it arrives and returns the renderings in the order of
/// [`chrononaut::AsOfRow::key_order`]. Only the rendering and the key are kept per row (not the
/// row's parsed columns: a tenth of the memory). When every key is one integer field of the
/// same name they are sorted by that integer alone: the same order (`key_order` compares the
/// equal field names, then the numbers by value), without comparing JSON values.
async fn sorted_by_key<R>(
    mut rows: futures_util::stream::BoxStream<'_, chrononaut::Result<chrononaut::AsOfRow>>,
    mut render: impl FnMut(&chrononaut::AsOfRow) -> CliResult<R>,
) -> CliResult<Vec<R>> {
    fn single_int(key: &serde_json::Value) -> Option<(&str, i64)> {
        let fields = key.as_object()?;
        if fields.len() != 1 {
            return None;
        }
        let (name, value) = fields.iter().next()?;
        Some((name.as_str(), value.as_i64()?))
    }
    let mut kept: Vec<(SortKey, R)> = Vec::new();
    // the field name of the integer keys (all the same while `all_int`)
    let mut int_name: Option<String> = None;
    let mut all_int = true;
    while let Some(row) = rows.try_next().await? {
        let key = match single_int(&row.key) {
            Some((name, v))
                if all_int && *int_name.get_or_insert_with(|| name.to_owned()) == name =>
            {
                SortKey::Int(v)
            }
            _ => {
                all_int = false;
                SortKey::Json(row.key.clone())
            }
        };
        kept.push((key, render(&row)?));
    }
    if all_int {
        kept.sort_unstable_by_key(|(k, _)| match k {
            SortKey::Int(v) => *v,
            SortKey::Json(_) => i64::MIN, // not reached: every key is an integer here
        });
    } else {
        let name = int_name.unwrap_or_default();
        let mut keyed: Vec<(serde_json::Value, R)> = kept
            .into_iter()
            .map(|(k, r)| match k {
                SortKey::Int(v) => (serde_json::json!({ name.as_str(): v }), r),
                SortKey::Json(v) => (v, r),
            })
            .collect();
        keyed.sort_by(|a, b| chrononaut::AsOfRow::cmp_keys(&a.0, &b.0));
        return Ok(keyed.into_iter().map(|(_, r)| r).collect());
    }
    Ok(kept.into_iter().map(|(_, r)| r).collect())
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
