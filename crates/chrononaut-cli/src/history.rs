//! `log`, `show`, `diff`: reading history from the shell.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use chrononaut::{
    Change, Chrononaut, Diff, LockEvent, LockOperation, Operation, RecordHistory, Snapshot,
    VersionFilter,
};
use clap::Args;
use serde_json::Value;
use serde_json::value::RawValue;
use unicode_width::UnicodeWidthStr;

use crate::{CliResult, Failure, connect, print_json};
use chrononaut_serve::raw_text;

/// `chrononaut log TABLE [KEY]`.
#[derive(Args, Debug)]
pub struct LogArgs {
    /// The table.
    pub table: String,
    /// The record: `id=5`, `org=acme,num=7` or a JSON object. Without it: the table's recent
    /// activity.
    pub key: Option<String>,
    /// Show at most this many versions (the latest ones).
    #[arg(long, default_value_t = 50)]
    pub limit: i64,
}

/// `chrononaut show TABLE KEY`.
#[derive(Args, Debug)]
pub struct ShowArgs {
    /// The table.
    pub table: String,
    /// The record: `id=5`, `org=acme,num=7` or a JSON object.
    pub key: String,
    /// This version (default: the latest).
    #[arg(long, conflicts_with = "at")]
    pub version: Option<i32>,
    /// The version in force at this time (RFC 3339, or `YYYY-MM-DD HH:MM[:SS]` in UTC).
    #[arg(long, value_parser = parse_time)]
    pub at: Option<DateTime<Utc>>,
}

/// `chrononaut diff TABLE KEY [FROM] [TO]`.
#[derive(Args, Debug)]
pub struct DiffArgs {
    /// The table.
    pub table: String,
    /// The record: `id=5`, `org=acme,num=7` or a JSON object.
    pub key: String,
    /// From: a version number or a time (default: the version before the latest).
    #[arg(value_parser = parse_point)]
    pub from: Option<Point>,
    /// To: a version number or a time (default: the latest version).
    #[arg(value_parser = parse_point)]
    pub to: Option<Point>,
    /// Also list hidden columns that changed in between (never their values).
    #[arg(long)]
    pub include_hidden: bool,
}

/// A version number or a time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Point {
    Version(i32),
    Time(DateTime<Utc>),
}

fn parse_point(text: &str) -> Result<Point, String> {
    if let Ok(n) = text.trim().parse::<i32>() {
        return Ok(Point::Version(n));
    }
    parse_time(text).map(Point::Time).map_err(|_| {
        format!(
            "{text:?} is neither a version number nor a time (RFC 3339 or YYYY-MM-DD HH:MM[:SS])"
        )
    })
}

/// RFC 3339, or `YYYY-MM-DD HH:MM[:SS[.f]]` / `YYYY-MM-DDTHH:MM[:SS]` / `YYYY-MM-DD` in UTC
/// (the same reading as `chrononaut serve`'s pages).
pub fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    chrononaut_serve::parse_time(text)
}

/// `id=5`, `org=acme,num=7` (values as text; the library converts them to the column types)
/// or a JSON object (the same reading as `chrononaut serve`'s pages).
pub fn parse_key(text: &str) -> CliResult<Value> {
    chrononaut_serve::parse_key(text).map_err(Failure)
}

/// ANSI styles for stdout, decided the way clap decides its own colours (anstream): on for a
/// terminal, off for a pipe or a file, off when `NO_COLOR` is set or `TERM=dumb`, on when
/// `CLICOLOR_FORCE` is set.
pub struct Style {
    on: bool,
}

impl Style {
    pub fn detect() -> Self {
        let choice = anstream::AutoStream::choice(&std::io::stdout());
        Self {
            on: !matches!(choice, anstream::ColorChoice::Never),
        }
    }

    fn paint(&self, style: anstyle::Style, text: &str) -> String {
        if self.on {
            format!("{}{text}{}", style.render(), style.render_reset())
        } else {
            text.to_owned()
        }
    }

    fn color(&self, color: anstyle::AnsiColor, text: &str) -> String {
        self.paint(anstyle::Style::new().fg_color(Some(color.into())), text)
    }

    pub fn bold(&self, text: &str) -> String {
        self.paint(anstyle::Style::new().bold(), text)
    }
    pub fn red(&self, text: &str) -> String {
        self.color(anstyle::AnsiColor::Red, text)
    }
    pub fn green(&self, text: &str) -> String {
        self.color(anstyle::AnsiColor::Green, text)
    }
    pub fn yellow(&self, text: &str) -> String {
        self.color(anstyle::AnsiColor::Yellow, text)
    }
    pub fn dim(&self, text: &str) -> String {
        self.paint(anstyle::Style::new().dimmed(), text)
    }

    fn operation(&self, op: Option<Operation>) -> String {
        match op {
            Some(Operation::Insert) => self.green("insert"),
            Some(Operation::Update) => self.yellow("update"),
            Some(Operation::Delete) => self.red("delete"),
            None => "-".to_owned(),
        }
    }

    fn lock(&self, op: LockOperation) -> String {
        self.bold(op.as_str())
    }
}

// How values, keys and times are printed: the same as on `chrononaut serve`'s pages (a time
// printed here, UTC to the microsecond, can be given back to `--at` and finds the same version).
pub use chrononaut_serve::{key_text, time_text as time, value_text};

/// Prints rows as aligned columns; `styled` cells may hold ANSI codes (width from `plain`).
fn table(style: &Style, header: &[&str], rows: &[Vec<(String, String)>]) {
    for line in table_lines(style, header, rows) {
        println!("{line}");
    }
}

/// The lines of an aligned table: the header (bold where the style allows), then the rows.
/// `styled` cells may hold ANSI codes; widths come from `plain`, in terminal columns (a wide
/// character such as 日 takes two, a combining mark none), so the columns line up.
pub(crate) fn table_lines(
    style: &Style,
    header: &[&str],
    rows: &[Vec<(String, String)>],
) -> Vec<String> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.width()).collect();
    for row in rows {
        for (i, (plain, _)) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(plain.width());
            }
        }
    }
    let line = |cells: &[(String, String)]| {
        let last = cells.len().saturating_sub(1);
        let mut out = String::new();
        for (i, (plain, styled)) in cells.iter().enumerate() {
            out.push_str(styled);
            if i < last {
                let w = widths.get(i).copied().unwrap_or(0);
                out.push_str(&" ".repeat(w.saturating_sub(plain.width()) + 2));
            }
        }
        out.trim_end().to_owned()
    };
    let head: Vec<(String, String)> = header
        .iter()
        .map(|h| (h.to_string(), style.bold(h)))
        .collect();
    std::iter::once(line(&head))
        .chain(rows.iter().map(|r| line(r)))
        .collect()
}

fn plain(text: impl Into<String>) -> (String, String) {
    let t = text.into();
    (t.clone(), t)
}

fn or_dash(v: Option<&str>) -> String {
    v.map_or_else(|| "-".to_owned(), str::to_owned)
}

/// The columns a version changed compared to the one before it (hidden ones marked).
fn changed_columns(prev: Option<&Snapshot>, cur: &Snapshot) -> (Vec<String>, Vec<String>) {
    let diff = Diff::compare(prev, Some(cur));
    (
        diff.changes.keys().cloned().collect(),
        cur.meta().hidden_cols_changed(),
    )
}

async fn record(
    ch: &Chrononaut,
    conn: &mut crate::Conn,
    table: &str,
    key: &str,
) -> CliResult<RecordHistory> {
    let key = parse_key(key)?;
    Ok(ch.record(conn, table, key).await?)
}

pub async fn log(
    ch: &Chrononaut,
    url: Option<&str>,
    json_out: bool,
    args: LogArgs,
) -> CliResult<()> {
    let mut conn = connect(url).await?;
    let style = Style::detect();
    let Some(key) = &args.key else {
        // the newest versions, from ix_chrononaut_activity_table_changed
        let rows = ch
            .table_log(&mut conn, &args.table, args.limit, None)
            .await?;
        // lock events are not versions: read apart, shown among them by time
        let locks = ch.lock_events(&mut conn, &args.table, args.limit).await?;
        let mut merged: Vec<Logged> = rows
            .iter()
            .map(Logged::Version)
            .chain(locks.iter().map(Logged::Lock))
            .collect();
        merged.sort_by_key(|e| std::cmp::Reverse(e.changed()));
        merged.truncate(usize::try_from(args.limit.max(0)).unwrap_or(usize::MAX));
        if json_out {
            return print_json(&merged);
        }
        if merged.is_empty() {
            println!("no history for {}", args.table);
            return Ok(());
        }
        let body: Vec<Vec<(String, String)>> = merged
            .iter()
            .map(|e| match e {
                Logged::Version(s) => {
                    let m = s.meta();
                    vec![
                        plain(time(m.changed)),
                        plain(key_text(&m.key)),
                        plain(m.version.to_string()),
                        (
                            m.operation.map_or("-", Operation::as_str).to_owned(),
                            style.operation(m.operation),
                        ),
                        plain(or_dash(m.user_id())),
                        plain(or_dash(m.db_user())),
                        plain(or_dash(m.remote_addr())),
                        plain(or_dash(m.rationale())),
                    ]
                }
                Logged::Lock(l) => vec![
                    plain(time(l.changed)),
                    plain(
                        l.key
                            .as_ref()
                            .map_or_else(|| "(table)".to_owned(), key_text),
                    ),
                    plain(l.version.map_or_else(|| "-".to_owned(), |v| v.to_string())),
                    (l.operation.to_string(), style.lock(l.operation)),
                    plain(or_dash(l.user_id())),
                    plain(or_dash(l.db_user())),
                    plain(or_dash(l.remote_addr())),
                    plain(or_dash(l.reason())),
                ],
            })
            .collect();
        table(
            &style,
            &[
                "TIME (UTC)",
                "KEY",
                "VERSION",
                "OPERATION",
                "USER",
                "ROLE",
                "ADDRESS",
                "RATIONALE",
            ],
            &body,
        );
        return Ok(());
    };
    let rec = record(ch, &mut conn, &args.table, key).await?;
    // one more than shown, for the changed columns of the oldest shown
    let mut versions = rec
        .versions(
            &mut conn,
            &VersionFilter::new()
                .newest_first()
                .limit(args.limit.saturating_add(1)),
        )
        .await?;
    versions.reverse();
    let skip = usize::from(versions.len() as i64 > args.limit);
    let mut entries = Vec::new();
    for i in skip..versions.len() {
        let prev = i.checked_sub(1).map(|p| &versions[p]);
        let (columns, hidden) = changed_columns(prev, &versions[i]);
        entries.push(Entry::Version(&versions[i], columns, hidden));
    }
    // lock events are not versions: read apart, shown among them by time
    let locks = rec.lock_events(&mut conn, args.limit).await?;
    entries.extend(locks.iter().map(Entry::Lock));
    entries.sort_by_key(Entry::changed);
    let excess = entries
        .len()
        .saturating_sub(usize::try_from(args.limit.max(0)).unwrap_or(usize::MAX));
    entries.drain(..excess);
    if json_out {
        let out: Vec<Value> = entries
            .iter()
            .map(|e| match e {
                Entry::Version(s, columns, hidden) => {
                    chrononaut_serve::version_json(s, columns, hidden)
                }
                Entry::Lock(l) => chrononaut_serve::lock_json(l),
            })
            .collect();
        return print_json(&out);
    }
    if entries.is_empty() {
        println!("no history for {} {}", rec.table(), key_text(rec.key()));
        return Ok(());
    }
    let body: Vec<Vec<(String, String)>> = entries
        .iter()
        .map(|e| {
            let (s, columns, hidden) = match e {
                Entry::Version(s, columns, hidden) => (s, columns, hidden),
                Entry::Lock(l) => {
                    return vec![
                        plain(l.version.map_or_else(|| "-".to_owned(), |v| v.to_string())),
                        plain(time(l.changed)),
                        (l.operation.to_string(), style.lock(l.operation)),
                        plain(or_dash(l.user_id())),
                        plain(or_dash(l.db_user())),
                        plain(or_dash(l.remote_addr())),
                        plain(or_dash(l.reason())),
                        plain("-"),
                    ];
                }
            };
            let m = s.meta();
            let mut changed = columns.join(", ");
            if !hidden.is_empty() {
                if !changed.is_empty() {
                    changed.push_str(", ");
                }
                changed.push_str(
                    &hidden
                        .iter()
                        .map(|h| format!("{h} (hidden)"))
                        .collect::<Vec<_>>()
                        .join(", "),
                );
            }
            vec![
                plain(m.version.to_string()),
                plain(time(m.changed)),
                (
                    m.operation.map_or("-", Operation::as_str).to_owned(),
                    style.operation(m.operation),
                ),
                plain(or_dash(m.user_id())),
                plain(or_dash(m.db_user())),
                plain(or_dash(m.remote_addr())),
                plain(or_dash(m.rationale())),
                plain(if changed.is_empty() {
                    "-".to_owned()
                } else {
                    changed
                }),
            ]
        })
        .collect();
    table(
        &style,
        &[
            "VERSION",
            "TIME (UTC)",
            "OPERATION",
            "USER",
            "ROLE",
            "ADDRESS",
            "RATIONALE",
            "CHANGED",
        ],
        &body,
    );
    Ok(())
}

/// A line of `log TABLE KEY`: a version (with the columns it changed and the hidden ones), or
/// a lock event.
enum Entry<'a> {
    Version(&'a Snapshot, Vec<String>, Vec<String>),
    Lock(&'a LockEvent),
}

impl Entry<'_> {
    fn changed(&self) -> DateTime<Utc> {
        match self {
            Self::Version(s, ..) => s.changed(),
            Self::Lock(l) => l.changed,
        }
    }
}

/// A line of `log TABLE`: a version or a lock event (as JSON: the snapshot or the event).
#[derive(serde::Serialize)]
#[serde(untagged)]
enum Logged<'a> {
    Version(&'a Snapshot),
    Lock(&'a LockEvent),
}

impl Logged<'_> {
    fn changed(&self) -> DateTime<Utc> {
        match self {
            Self::Version(s) => s.changed(),
            Self::Lock(l) => l.changed,
        }
    }
}

pub async fn show(
    ch: &Chrononaut,
    url: Option<&str>,
    json_out: bool,
    args: ShowArgs,
) -> CliResult<()> {
    let mut conn = connect(url).await?;
    let rec = record(ch, &mut conn, &args.table, &args.key).await?;
    let snapshot = match (args.version, args.at) {
        (Some(n), _) => rec.version(&mut conn, n).await?,
        (None, Some(at)) => rec.version_at(&mut conn, at).await?.ok_or_else(|| {
            Failure(format!(
                "{} {} did not exist at {} (no version recorded at or before it)",
                rec.table(),
                key_text(rec.key()),
                time(at)
            ))
        })?,
        (None, None) => rec.latest(&mut conn).await?.ok_or_else(|| {
            Failure(format!(
                "{} {} has no history",
                rec.table(),
                key_text(rec.key())
            ))
        })?,
    };
    if json_out {
        return print_json(&snapshot);
    }
    print_snapshot(&Style::detect(), rec.table(), &snapshot);
    Ok(())
}

pub fn print_snapshot(style: &Style, table: &str, s: &Snapshot) {
    let m = s.meta();
    println!(
        "{} {} version {} ({}) at {} UTC",
        style.bold(table),
        style.bold(&key_text(&m.key)),
        m.version,
        style.operation(m.operation),
        time(m.changed)
    );
    if s.is_deleted() {
        println!("{}", style.red("deleted; its last state:"));
    }
    println!(
        "user: {}  role: {}  address: {}",
        or_dash(m.user_id()),
        or_dash(m.db_user()),
        or_dash(m.remote_addr())
    );
    if let Some(r) = m.rationale() {
        println!("rationale: {r}");
    }
    let mut extra = m.extra_info.as_object().cloned().unwrap_or_default();
    extra.remove("rationale");
    if !extra.is_empty() {
        println!("extra: {}", Value::Object(extra));
    }
    let width = s
        .data()
        .keys()
        .chain(s.hidden_columns())
        .map(|k| k.width())
        .max()
        .unwrap_or(0);
    let stored: BTreeMap<String, &RawValue> =
        serde_json::from_str(s.raw_data().get()).unwrap_or_default();
    // padded by terminal columns (`{:width$}` would count chars)
    let pad = |name: &str| " ".repeat(width.saturating_sub(name.width()));
    for (k, v) in &stored {
        println!("  {k}{}  {}", pad(k), raw_text(v));
    }
    for h in s.hidden_columns() {
        println!("  {h}{}  {}", pad(h), style.dim("(hidden)"));
    }
}

pub async fn diff(
    ch: &Chrononaut,
    url: Option<&str>,
    json_out: bool,
    args: DiffArgs,
) -> CliResult<()> {
    let mut conn = connect(url).await?;
    let rec = record(ch, &mut conn, &args.table, &args.key).await?;
    let c = &mut conn;
    let hidden = args.include_hidden;
    let diff = match (args.from, args.to) {
        (None, None) => {
            let to = rec.latest(c).await?.ok_or_else(|| {
                Failure(format!(
                    "{} {} has no history",
                    rec.table(),
                    key_text(rec.key())
                ))
            })?;
            match rec.previous_version(c).await? {
                Some(from) => rec.diff(c, &from, Some(&to), hidden).await?,
                None => rec.diff_versions(c, to.version(), None, hidden).await?,
            }
        }
        (Some(Point::Version(a)), None) => rec.diff_versions(c, a, None, hidden).await?,
        (Some(Point::Version(a)), Some(Point::Version(b))) => {
            rec.diff_versions(c, a, Some(b), hidden).await?
        }
        (Some(Point::Time(a)), None) => rec.diff_timestamps(c, a, None, hidden).await?,
        (Some(Point::Time(a)), Some(Point::Time(b))) => {
            rec.diff_timestamps(c, a, Some(b), hidden).await?
        }
        (Some(Point::Version(a)), Some(Point::Time(b))) => {
            let from = rec.version(c, a).await?;
            let to = rec
                .version_at(c, b)
                .await?
                .ok_or_else(|| Failure(format!("no version at or before {}", time(b))))?;
            rec.diff(c, &from, Some(&to), hidden).await?
        }
        (Some(Point::Time(a)), Some(Point::Version(b))) => {
            let to = rec.version(c, b).await?;
            match rec.version_at(c, a).await? {
                Some(from) => rec.diff(c, &from, Some(&to), hidden).await?,
                None => {
                    rec.diff_timestamps(c, a, Some(to.changed()), hidden)
                        .await?
                }
            }
        }
        (None, Some(_)) => return Err(Failure("give FROM as well as TO".into())),
    };
    if json_out {
        // serialized, not through json!(): a `Value` would turn 350.00 into 350.0
        #[derive(serde::Serialize)]
        struct Out<'a> {
            table: &'a str,
            key: &'a Value,
            #[serde(flatten)]
            diff: &'a Diff,
        }
        return print_json(&Out {
            table: rec.table(),
            key: rec.key(),
            diff: &diff,
        });
    }
    let style = Style::detect();
    let end = |e: &Option<chrononaut::DiffEnd>| match e {
        None => "(nothing)".to_owned(),
        Some(e) => format!(
            "version {} ({}{})",
            e.version,
            time(e.changed),
            if e.deleted { ", deleted" } else { "" }
        ),
    };
    println!(
        "{} {}: {} -> {}",
        style.bold(rec.table()),
        style.bold(&key_text(rec.key())),
        end(&diff.from),
        end(&diff.to)
    );
    if diff.is_empty() {
        println!("  no changes");
    }
    for (column, change) in &diff.changes {
        match change {
            Change::Value { from, to } => {
                let (from, to) = diff.raw_values(column).map_or_else(
                    || (value_text(from), value_text(to)),
                    |(a, b)| (raw_text(a), raw_text(b)),
                );
                println!("  {column}: {} -> {}", style.red(&from), style.green(&to));
            }
            Change::Hidden => println!("  {column}: {}", style.dim("changed (value hidden)")),
            _ => println!("  {column}: changed"),
        }
    }
    Ok(())
}
