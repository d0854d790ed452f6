//! The HTML pages. Every value is spliced with maud's `(...)`, which escapes it.

use std::net::SocketAddr;

use axum::Form;
use axum::extract::{ConnectInfo, FromRequest, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::Utc;
use chrononaut::{Change, ChangeContext, LockEvent, Operation, RestoreTarget, Snapshot};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;

use crate::AppState;
use crate::auth::same;
use crate::data::{self, Activity, ActivityQuery, Entry, required};
use crate::error::Failure;
use crate::params::{key_text, parse_key, parse_time, raw_text, time_text, value_text};
use crate::view::{or_dash, page, query, raw, record_href, record_link, time};

type PageResult = Result<Html<String>, Failure>;

/// `/`: the activity page.
pub async fn home() -> Redirect {
    Redirect::to("/activity")
}

/// Anything else: a 404 page.
pub async fn not_found() -> Failure {
    Failure::new(StatusCode::NOT_FOUND, "there is no such page")
}

fn operation(op: Option<Operation>) -> &'static str {
    op.map_or("-", Operation::as_str)
}

/// The filter form of the activity page, filled with the filters in force.
fn activity_form(tables: &[String], f: &Activity) -> Markup {
    let picker =
        |t: Option<chrono::DateTime<Utc>>| t.map(|t| t.format("%Y-%m-%dT%H:%M:%S").to_string());
    let op = f
        .ops
        .iter()
        .map(|o| o.as_str())
        .collect::<Vec<_>>()
        .join(",");
    let chosen = f.table.as_deref();
    html! {
        form.filters method="get" action="/activity" {
            label { "table " select name="table" {
                option value="" selected[chosen.is_none()] { "every table" }
                @for t in tables { option value=(t) selected[chosen == Some(t.as_str())] { (t) } }
                @if let Some(c) = chosen { @if !tables.iter().any(|t| t == c) { option value=(c) selected { (c) } } }
            } }
            label { "operation " select name="op" {
                option value="" selected[op.is_empty()] { "any" }
                @for o in ["insert", "update", "delete"] { option value=(o) selected[op == o] { (o) } }
                @if !op.is_empty() && !["insert", "update", "delete"].contains(&op.as_str()) { option value=(op) selected { (op) } }
            } }
            label { "user " input type="text" name="user" size="16" value=[f.user.as_deref()]; }
            label { "key " input type="text" name="key" size="12" placeholder="id=5 (with a table)" value=[f.key.as_deref()]; }
            br;
            label { "after (UTC) " input type="datetime-local" name="after" step="1" value=[picker(f.after)]; }
            label { "before (UTC) " input type="datetime-local" name="before" step="1" value=[picker(f.before)]; }
            button type="submit" { "filter" }
            " " a href="/activity" { "clear" }
        }
    }
}

/// `/activity`: the newest changes across tracked tables (or of one), filtered by table,
/// operation, time, user and key, a keyset page at a time; each row links to its record.
pub async fn activity(State(state): State<AppState>, Query(q): Query<ActivityQuery>) -> PageResult {
    let filters = Activity::parse(&q)?;
    let size = i64::try_from(state.options.page_size).unwrap_or(50);
    let found = data::activity(&state, &filters, size).await?;
    let tables = {
        let mut conn = data::conn(&state).await?;
        state.ch.activity_tables(&mut conn).await?
    };
    let pairs = filters.pairs();
    let link = |cursor: Option<String>| {
        let mut all: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        if let Some(c) = &cursor {
            all.push(("cursor", c));
        }
        format!("/activity{}", query(&all))
    };
    Ok(page(
        "Activity",
        html! {
            h1 { "Activity" }
            p.meta { "The newest changes first"
                @if let Some(t) = &filters.table { " of " code { (t) } } @else { " across tracked tables" }
                @if filters.cursor.is_some() { " (an older page)" } "." }
            (activity_form(&tables, &filters))
            @if found.entries.is_empty() {
                p { "No changes match." }
            } @else {
                table.activity {
                    tr { th { "time (UTC)" } th { "table" } th { "record" } th { "version" } th { "operation" }
                         th { "user" } th { "role" } th { "address" } th { "rationale" } }
                    @for s in &found.entries {
                        @let m = s.meta();
                        @let op = operation(m.operation);
                        tr class=(op) {
                            td { (time(m.changed)) }
                            td { code { (m.table) } }
                            td { (record_link(&m.table, &m.key)) }
                            td { a href={ (record_href(&m.table, &m.key)) "#v" (m.version) } { "v" (m.version) } }
                            td { (op) }
                            td { (or_dash(m.user_id())) }
                            td { (or_dash(m.db_user())) }
                            td { (or_dash(m.remote_addr())) }
                            td { (or_dash(m.rationale())) }
                        }
                    }
                }
            }
            div.pager {
                @if filters.cursor.is_some() { a href=(link(None)) { "newest" } }
                @if filters.cursor.is_some() && found.next.is_some() { " · " }
                @if let Some(next) = found.next {
                    a rel="next" href=(link(Some(next.to_string()))) { "older" }
                }
            }
        },
    ))
}

/// `/tables`: tracked tables, options, history counts, stale triggers, locks in force.
pub async fn tables(State(state): State<AppState>) -> PageResult {
    let mut conn = data::conn(&state).await?;
    let tables = state.ch.status(&mut conn).await?;
    let locks = state.ch.locks(&mut conn, None).await?;
    let list = |v: &[String]| {
        if v.is_empty() {
            "-".to_owned()
        } else {
            v.join(", ")
        }
    };
    Ok(page(
        "Tables",
        html! {
            h1 { "Tracked tables" }
            @if tables.is_empty() {
                p { "No tracked tables; track one with " code { "chrononaut track TABLE" } "." }
            } @else {
                table {
                    tr { th { "table" } th { "history rows" } th { "hidden" } th { "untracked" }
                         th { "strict" } th { "record changes" } th { "" } }
                    @for t in &tables {
                        tr {
                            td { code { (t.table) }
                                @if t.stale {
                                    div.warn { "stale: its columns changed since tracking; run "
                                        code { "chrononaut track " (t.table) } " again" }
                                }
                            }
                            td { (t.history_rows) }
                            td { (list(&t.options.hidden)) }
                            td { (list(&t.options.untracked)) }
                            td { (if t.strict_effective { "yes" } else { "no" })
                                 @if t.options.strict.is_none() { span.meta { " (default)" } } }
                            td { (if t.options.record_changes { "yes" } else { "no" }) }
                            td {
                                a href={ "/table" (query(&[("table", &t.table)])) } { "as of…" } " · "
                                a href={ "/integrity" (query(&[("table", &t.table)])) } { "verify" }
                            }
                        }
                    }
                }
            }
            h2 { "Locks in force" }
            @if locks.is_empty() {
                p { "None." }
            } @else {
                table {
                    tr { th { "table" } th { "record" } th { "locked by" } th { "user" } th { "since (UTC)" } th { "reason" } }
                    @for l in &locks {
                        tr {
                            td { code { (l.table) } }
                            td { @match &l.key { Some(k) => (record_link(&l.table, k)), None => "whole table (frozen)" } }
                            td { (l.locked_by) }
                            td { (or_dash(l.user_id.as_deref())) }
                            td { (time(l.locked_at)) }
                            td { (l.reason) }
                        }
                    }
                }
            }
        },
    ))
}

/// Query of `/record`.
#[derive(Deserialize)]
pub struct RecordQuery {
    table: Option<String>,
    key: Option<String>,
    restored: Option<i32>,
}

fn diff_rows(entry_diff: &chrononaut::Diff, hidden: &[String]) -> Markup {
    html! {
        @if entry_diff.is_empty() && hidden.is_empty() {
            p.meta { "no recorded column changed" }
        } @else {
            table.diff {
                tr { th { "column" } th { "before" } th { "after" } }
                @for (column, change) in &entry_diff.changes {
                    @match change {
                        Change::Value { from, to } => {
                            @let (a, b) = entry_diff.raw_values(column)
                                .map_or_else(|| (value_text(from), value_text(to)), |(a, b)| (raw(a), raw(b)));
                            tr { td { code { (column) } } td.from { (a) } td.to { (b) } }
                        }
                        _ => { tr { td { code { (column) } } td.hidden colspan="2" { "changed, value hidden" } } }
                    }
                }
                @for column in hidden {
                    @if !entry_diff.changes.contains_key(column) {
                        tr { td { code { (column) } } td.hidden colspan="2" { "changed, value hidden" } }
                    }
                }
            }
        }
    }
}

fn lock_entry(l: &LockEvent) -> Markup {
    html! {
        div.lock {
            strong { (l.operation.as_str()) }
            span.meta {
                " · " (time(l.changed)) " UTC · user " (or_dash(l.user_id())) " · role " (or_dash(l.db_user()))
                " · address " (or_dash(l.remote_addr()))
            }
            @if let Some(reason) = l.reason() { div { "reason: " (reason) } }
        }
    }
}

fn restore_form(state: &AppState, table: &str, key: &Value, version: i32) -> Markup {
    html! {
        details.restore {
            summary { "restore this version…" }
            form method="post" action="/restore" {
                input type="hidden" name="table" value=(table);
                input type="hidden" name="key" value=(key.to_string());
                input type="hidden" name="version" value=(version);
                input type="hidden" name="secret" value=(state.form_secret);
                label { "rationale (required) " input type="text" name="rationale" required minlength="1" size="40"; }
                " "
                label { "your name " input type="text" name="user" size="16"; }
                " "
                button type="submit" { "restore version " (version) }
            }
        }
    }
}

fn version_entry(
    state: &AppState,
    table: &str,
    s: &Snapshot,
    diff: &chrononaut::Diff,
    hidden: &[String],
    first: bool,
    latest: bool,
) -> Markup {
    let m = s.meta();
    let op = operation(m.operation);
    html! {
        div class={ "version " (op) } id={ "v" (m.version) } {
            strong { "version " (m.version) } " · " strong { (op) }
            span.meta {
                " · " (time(m.changed)) " UTC · user " (or_dash(m.user_id())) " · role " (or_dash(m.db_user()))
                " · address " (or_dash(m.remote_addr()))
            }
            div { "rationale: " @match m.rationale() { Some(r) => span.rationale { (r) }, None => span.meta { "-" } } }
            @if s.is_deleted() {
                p.warn { "deleted; the version holds its last state" }
            } @else if first {
                p.meta { "first version: the record's recorded columns" }
                table.diff {
                    tr { th { "column" } th { "value" } }
                    @for (column, change) in &diff.changes {
                        @if let Change::Value { to, .. } = change {
                            @let v = diff.raw_values(column).map_or_else(|| value_text(to), |(_, b)| raw(b));
                            tr { td { code { (column) } } td.to { (v) } }
                        }
                    }
                    @for column in s.hidden_columns() { tr { td { code { (column) } } td.hidden { "hidden, never recorded" } } }
                }
            } @else {
                (diff_rows(diff, hidden))
            }
            div.meta {
                a href={ "/version" (query(&[("table", table), ("key", &m.key.to_string()), ("version", &m.version.to_string())])) } { "show as of this version" }
                " · "
                a href={ "/table" (query(&[("table", table), ("at", &m.changed.to_rfc3339())])) } { "the table at this time" }
            }
            @if state.options.allow_restore && !latest { (restore_form(state, table, &m.key, m.version)) }
        }
    }
}

/// `/record?table=T&key=K`: every version, newest first, with the diff of each from the one
/// before, and the lock events among them.
pub async fn record(State(state): State<AppState>, Query(q): Query<RecordQuery>) -> PageResult {
    let table = required(&q.table, "table")?;
    let key = required(&q.key, "key")?;
    let tl = data::timeline(&state, table, key, state.options.timeline_limit).await?;
    let latest = tl.entries.iter().rev().find_map(|e| match e {
        Entry::Version { snapshot, .. } => Some(snapshot.version()),
        Entry::Lock(_) => None,
    });
    let rec = &tl.record;
    let title = format!("{} {}", rec.table(), key_text(rec.key()));
    Ok(page(
        &title,
        html! {
            h1 { code { (rec.table()) } " " code { (key_text(rec.key())) } }
            p.meta {
                (tl.entries.len()) " entries, newest first"
                @if tl.truncated { " (older ones left out: at most " (state.options.timeline_limit) " versions are shown)" }
                @if !rec.hidden_columns().is_empty() { " · hidden columns: " (rec.hidden_columns().join(", ")) }
            }
            @if let Some(v) = q.restored { p.ok { "restored: the record has the state of version " (v) " again" } }
            @if tl.entries.is_empty() { p { "No history for this record." } }
            @for e in tl.entries.iter().rev() {
                @match e {
                    Entry::Version { snapshot, diff, hidden, first } =>
                        (version_entry(&state, rec.table(), snapshot, diff, hidden, *first, Some(snapshot.version()) == latest)),
                    Entry::Lock(l) => (lock_entry(l)),
                }
            }
        },
    ))
}

/// Query of `/version`.
#[derive(Deserialize)]
pub struct VersionQuery {
    table: Option<String>,
    key: Option<String>,
    version: Option<String>,
}

/// A snapshot, from `?version=N` (default: the latest).
pub async fn load_version(state: &AppState, q: &VersionQuery) -> Result<Snapshot, Failure> {
    let table = required(&q.table, "table")?;
    let key = required(&q.key, "key")?;
    let mut conn = data::conn(state).await?;
    let rec = data::record(state, &mut conn, table, key).await?;
    match q
        .version
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
    {
        Some(v) => {
            let n: i32 = v
                .parse()
                .map_err(|_| Failure::bad_request(format!("version {v:?} is not a number")))?;
            Ok(rec.version(&mut conn, n).await?)
        }
        None => rec.latest(&mut conn).await?.ok_or_else(|| {
            Failure::new(
                StatusCode::NOT_FOUND,
                format!("{} {} has no history", rec.table(), key_text(rec.key())),
            )
        }),
    }
}

/// `/version?table=T&key=K&version=N`: the record as it was at that version.
pub async fn version(State(state): State<AppState>, Query(q): Query<VersionQuery>) -> PageResult {
    let s = load_version(&state, &q).await?;
    let table = required(&q.table, "table")?;
    let m = s.meta();
    let stored: std::collections::BTreeMap<String, &serde_json::value::RawValue> =
        serde_json::from_str(s.raw_data().get()).unwrap_or_default();
    Ok(page(
        &format!("{table} {} version {}", key_text(&m.key), m.version),
        html! {
            h1 { code { (table) } " " code { (key_text(&m.key)) } " at version " (m.version) }
            p.meta { (operation(m.operation)) " · " (time(m.changed)) " UTC · user " (or_dash(m.user_id()))
                " · role " (or_dash(m.db_user())) " · address " (or_dash(m.remote_addr())) }
            @if let Some(r) = m.rationale() { p { "rationale: " (r) } }
            @if s.is_deleted() { p.warn { "this version records the deletion; its last state:" } }
            table {
                tr { th { "column" } th { "value" } }
                @for (k, v) in &stored { tr { td { code { (k) } } td { (raw(v)) } } }
                @for h in s.hidden_columns() { tr { td { code { (h) } } td.hidden { "hidden (never recorded)" } } }
            }
            p { a href=(record_href(table, &m.key)) { "the record's timeline" } " · "
                a href={ "/table" (query(&[("table", table), ("at", &m.changed.to_rfc3339())])) } { "the table at this time" } }
        },
    ))
}

/// Query of `/table`.
#[derive(Deserialize)]
pub struct TableQuery {
    table: Option<String>,
    at: Option<String>,
    start: Option<usize>,
}

/// The time of `?at=` (default: now).
pub fn at_of(at: &Option<String>) -> Result<chrono::DateTime<Utc>, Failure> {
    match at.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => parse_time(t).map_err(Failure::bad_request),
        None => Ok(Utc::now()),
    }
}

/// `/table?table=T&at=T`: the whole table as of a time, a page at a time, with a time picker.
pub async fn table_at(State(state): State<AppState>, Query(q): Query<TableQuery>) -> PageResult {
    let table = required(&q.table, "table")?;
    let at = at_of(&q.at)?;
    let start = q.start.unwrap_or(0);
    let p = data::table_at(&state, table, at, start, state.options.page_size).await?;
    let at_text = at.to_rfc3339();
    let picker = at.format("%Y-%m-%dT%H:%M:%S").to_string();
    Ok(page(
        &format!("{table} as of {}", time_text(at)),
        html! {
            h1 { code { (table) } " as of " (time(at)) " UTC" }
            form.filters method="get" action="/table" {
                input type="hidden" name="table" value=(table);
                label { "time (UTC) " input type="datetime-local" name="at" step="1" value=(picker); }
                button type="submit" { "show" }
            }
            @if p.rows.is_empty() { p { "No rows at this time." } }
            @else {
                table {
                    tr { th { "record" } th { "since (UTC)" } @for c in &p.columns { th { (c) } } }
                    @for r in &p.rows {
                        tr {
                            td { (record_link(table, &r.key)) }
                            td { (time(r.changed)) }
                            @for c in &p.columns { td { (r.raw(c).map_or_else(|| "null".to_owned(), raw_text)) } }
                        }
                    }
                }
            }
            div.pager {
                "rows " (start + 1) "–" (start + p.rows.len())
                @if start > 0 {
                    " · " a href={ "/table" (query(&[("table", table), ("at", &at_text), ("start", &start.saturating_sub(state.options.page_size).to_string())])) } { "previous page" }
                }
                @if let Some(next) = p.next {
                    " · " a rel="next" href={ "/table" (query(&[("table", table), ("at", &at_text), ("start", &next.to_string())])) } { "next page" }
                }
            }
        },
    ))
}

/// Query of `/integrity`.
#[derive(Deserialize)]
pub struct IntegrityQuery {
    table: Option<String>,
}

/// `/integrity?table=T`: recompute the table's hash chains; each broken place links to its
/// record.
pub async fn integrity(
    State(state): State<AppState>,
    Query(q): Query<IntegrityQuery>,
) -> PageResult {
    let mut conn = data::conn(&state).await?;
    let tables = state.ch.status(&mut conn).await?;
    let chosen = q.table.as_deref().map(str::trim).filter(|t| !t.is_empty());
    let report = match chosen {
        Some(t) => Some(state.ch.verify(&mut conn, Some(t)).await?),
        None => None,
    };
    Ok(page(
        "Integrity",
        html! {
            h1 { "Integrity" }
            form.filters method="get" action="/integrity" {
                label { "table " select name="table" {
                    @for t in &tables { option value=(t.table) selected[Some(t.table.as_str()) == chosen] { (t.table) } }
                } }
                button type="submit" { "verify" }
            }
            @if let Some(report) = &report {
                @for t in &report.tables {
                    p { code { (t.table_name) } ": " (t.rows) " history rows, " (t.chained) " chained, "
                        (t.unchained) " unchained, " (t.lock_events) " lock events" }
                }
                @if report.is_ok() {
                    p.ok { "ok: no tampering found" }
                } @else {
                    p.error { (report.issues.len()) " broken place(s)" }
                    table {
                        tr { th { "record" } th { "version" } th { "what" } }
                        @for i in &report.issues {
                            tr {
                                td { @match &i.key { Some(k) => (record_link(&i.table_name, k)), None => "-" } }
                                td { (i.version.map_or_else(|| "?".to_owned(), |v| v.to_string()))
                                     @if i.lock_event { " (lock event)" } }
                                td { (i.message) }
                            }
                        }
                    }
                }
            }
        },
    ))
}

/// The restore form.
#[derive(Deserialize)]
pub struct RestoreForm {
    table: String,
    key: String,
    version: i32,
    rationale: String,
    user: Option<String>,
    secret: String,
}

/// Restores a version as a new one, with the rationale, the given name and the browser's
/// address as its context. Only with `--allow-restore`.
pub fn restore_context(
    rationale: &str,
    user: Option<&str>,
    peer: Option<SocketAddr>,
) -> Result<ChangeContext, Failure> {
    let rationale = rationale.trim();
    if rationale.is_empty() {
        return Err(Failure::bad_request("a restore needs a rationale"));
    }
    let mut ctx = ChangeContext::new()
        .rationale(rationale)
        .extra("via", "chrononaut serve");
    if let Some(user) = user.map(str::trim).filter(|u| !u.is_empty()) {
        ctx = ctx.user(user);
    }
    if let Some(peer) = peer {
        ctx = ctx.remote_addr(peer.ip().to_string());
    }
    Ok(ctx)
}

/// `POST /restore`.
pub async fn restore(State(state): State<AppState>, request: Request) -> Result<Response, Failure> {
    if !state.options.allow_restore {
        return Err(Failure::new(
            StatusCode::FORBIDDEN,
            "restore is off: start the server with --allow-restore",
        ));
    }
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let Form(form) = Form::<RestoreForm>::from_request(request, &state)
        .await
        .map_err(|e| Failure::bad_request(e.body_text()))?;
    if !same(&form.secret, &state.form_secret) {
        return Err(Failure::new(
            StatusCode::FORBIDDEN,
            "this form did not come from this server's page; reload the page and try again",
        ));
    }
    let ctx = restore_context(&form.rationale, form.user.as_deref(), peer)?;
    let mut conn = data::conn(&state).await?;
    let rec = state
        .ch
        .record(
            &mut conn,
            &form.table,
            parse_key(&form.key).map_err(Failure::bad_request)?,
        )
        .await?;
    state
        .ch
        .restore(&mut conn, &rec, RestoreTarget::Version(form.version), &ctx)
        .await?;
    let href = format!(
        "/record{}",
        query(&[
            ("table", &form.table),
            ("key", &rec.key().to_string()),
            ("restored", &form.version.to_string())
        ])
    );
    Ok(Redirect::to(&href).into_response())
}
