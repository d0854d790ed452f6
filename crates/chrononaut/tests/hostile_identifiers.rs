//! Issue 14 item 4: generated SQL must survive any identifier PostgreSQL accepts.
//!
//! A corpus of hostile names — `{{x}}` for every placeholder the templates use (read from
//! the files, so the corpus follows renames), dollar-quote tags, quotes, backslashes, dots,
//! comment and format markers, unicode, reserved words, the names of the generated code's own
//! variables and aliases, mixed case, 63-byte names — each used as a table name and, across
//! the corpus, as a key column, a tracked column, a hidden and an untracked column (and some
//! as schema names). Every table goes through the whole life of a record: track, insert,
//! update, hidden-only and untracked-only updates, optimistic check, key change, lock, freeze,
//! delete, re-insert, as_of, restore, verify; its history must be exact. Run twice: normally
//! and from sessions with `standard_conforming_strings = off` (in which a backslash in a
//! literal is an escape).
//!
//! One database, one table per name; failures are collected, so a run lists every name that
//! breaks and the step where it broke.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrononaut::{
    BaselineOptions, ChangeContext, Error, InstallOptions, RestoreTarget, TrackOptions,
    VersionFilter,
};
use common::{Ctx, quote_ident};
use futures::{FutureExt, StreamExt, TryStreamExt};
use serde_json::{Map, Value, json};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// Every `.sql` and `.rs` file under the library's `sql/` and `src/` directories.
fn template_sources() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<(String, String)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "sql" || e == "rs") {
                let text = std::fs::read_to_string(&path).expect("read a template");
                out.push((path.display().to_string(), text));
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    walk(&root.join("sql"), &mut out);
    walk(&root.join("src"), &mut out);
    out
}

/// The names of the `{{name}}` placeholders in `text`.
fn placeholders_in(text: &str, out: &mut BTreeSet<String>) {
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("{{") {
        let start = i + at + 2;
        let end = start
            + bytes[start..]
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
                .count();
        if end > start && text[end..].starts_with("}}") {
            out.insert(text[start..end].to_owned());
        }
        i = i + at + 1;
    }
}

/// The dollar-quote tags (`$$`, `$name$`) in `text`.
fn dollar_tags_in(text: &str, out: &mut BTreeSet<String>) {
    let bytes = text.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b != b'$' {
            continue;
        }
        let len = bytes[i + 1..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
            .count();
        let first_ok = len == 0 || !bytes[i + 1].is_ascii_digit();
        if first_ok && bytes.get(i + 1 + len) == Some(&b'$') {
            out.insert(text[i..i + len + 2].to_owned());
        }
    }
}

/// The hostile names, each once, in a fixed order.
fn corpus() -> Vec<String> {
    let mut placeholders = BTreeSet::new();
    let mut tags = BTreeSet::from(["$$".to_owned(), "$chrononaut$".to_owned()]);
    for (path, text) in template_sources() {
        placeholders_in(&text, &mut placeholders);
        if path.ends_with(".sql") {
            dollar_tags_in(&text, &mut tags);
        }
    }
    assert!(
        placeholders.len() >= 10,
        "found only {placeholders:?} as template placeholders: did the placeholder syntax change? \
         adapt placeholders_in"
    );
    // Neighbours in this list share tables (see `specs`): the placeholders come last, so that
    // the other classes fail (or pass) on their own account.
    let mut names: Vec<String> = Vec::new();
    for tag in &tags {
        names.push(tag.clone());
        names.push(format!("a{tag}b"));
    }
    let fixed = [
        // quotes and backslashes
        "it's",
        "say \"hi\"",
        "'",
        "\"",
        "''",
        "bs\\",
        "a\\b",
        "\\'",
        "\\\\",
        "\\\"",
        "E'x'",
        "U&\"d\"",
        // dots, separators, comment and format markers
        "billing.accounts",
        ".",
        "a.b.c",
        "--",
        "/*",
        "*/",
        "a;b",
        "%",
        "%s",
        "%I",
        "%L",
        "100%",
        "two words",
        " lead",
        "trail ",
        "line\nbreak",
        "tab\there",
        // unicode
        "naïve",
        "日本語",
        "🦀",
        "Ω",
        // reserved words and special names
        "select",
        "user",
        "order",
        "table",
        "from",
        "end",
        "begin",
        "declare",
        "return",
        "new",
        "old",
        "null",
        "true",
        "current_user",
        "session_user",
        "Version",
        // names of the generated code's own variables, aliases and columns
        "t",
        "n",
        "o",
        "s",
        "v",
        "h",
        "w",
        "a",
        "r",
        "x",
        "y",
        "k",
        "l",
        "e",
        "g",
        "c",
        "b",
        "i",
        "ctx",
        "rec",
        "ts",
        "cnt",
        "fix",
        "lk",
        "version_1",
        "pk_1",
        "pk_2",
        "cn_x",
        "cn_y",
        "cn_n",
        "cn_o",
        "cn_s",
        "cn_v",
        "cn_h",
        "cn_w",
        "chrononaut_ctx",
        "chrononaut_rec",
        "chrononaut_ts",
        "chrononaut_cnt",
        "chrononaut_fix",
        "chrononaut_lk",
        "chrononaut_new",
        "chrononaut_old",
        "found",
        "tg_op",
        "tg_relid",
        "info",
        "extra",
        "snapshot",
        "latest",
        "hist",
        "target",
        "record_key",
        "history_key",
        "row_version",
        "key",
        "data",
        "hash",
        "prev_hash",
        "prev",
        "operation",
        "table_name",
        "id",
        "user_info",
        "extra_info",
        "changed",
        "change_info",
        "relid",
        "cols",
        // mixed case
        "MixedCase",
        "T",
        "N",
        "CN_N",
    ];
    names.extend(fixed.iter().map(|s| (*s).to_owned()));
    // 63 bytes, the longest identifier: ASCII, ending in a two-byte character, a placeholder
    names.push("x".repeat(63));
    names.push(format!("{}é", "y".repeat(61)));
    // placeholders that are not, half ones, one inside another, the issue's `t{{strict}}`
    for odd in ["t{{strict}}", "{{nope}}", "{{", "}}", "{{{{n}}}}", "{{n}"] {
        names.push(odd.to_owned());
    }
    names.push(format!("{{{{n}}}}{}", "z".repeat(58)));
    for p in &placeholders {
        names.push(format!("{{{{{p}}}}}"));
    }
    let mut seen = BTreeSet::new();
    names.retain(|n| n != "version" && seen.insert(n.clone()));
    for n in &names {
        assert!(n.len() <= 63, "{n:?} is longer than an identifier");
    }
    names
}

/// One table of the corpus: `"schema"."name"` with key (k1 int, k2 text), a tracked column
/// c, a hidden column h and an untracked column u, all named from the corpus.
struct Spec {
    schema: String,
    name: String,
    k1: String,
    k2: String,
    c: String,
    h: String,
    u: String,
    strict: Option<bool>,
    record_changes: bool,
}

impl Spec {
    fn table(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }

    fn label(&self) -> String {
        format!(
            "{:?}.{:?} (key {:?}, {:?}; column {:?}; hidden {:?}; untracked {:?})",
            self.schema, self.name, self.k1, self.k2, self.c, self.h, self.u
        )
    }

    fn key(&self, k1: i32) -> Value {
        let mut m = Map::new();
        m.insert(self.k1.clone(), json!(k1));
        m.insert(self.k2.clone(), json!(K2));
        Value::Object(m)
    }

    /// The recorded data of the record `k1` with c = `c` at `version`.
    fn data(&self, k1: i32, c: &str, version: i32) -> Value {
        let mut m = self.key(k1).as_object().cloned().unwrap_or_default();
        m.insert(self.c.clone(), json!(c));
        m.insert("version".into(), json!(version));
        Value::Object(m)
    }
}

/// The text key value and the values written, hostile too (they travel as bind parameters).
const K2: &str = "k'\\\"$chrononaut$";
const USER: &str = "mallory'); -- \\ $$";
const C0: &str = "c0 \\' $$";

fn specs(names: &[String]) -> Vec<Spec> {
    let n = names.len();
    let at = |i: usize| names[i % n].clone();
    (0..n)
        .map(|i| {
            let cols = [at(i), at(i + 1), at(i + 2), at(i + 3), at(i + 4)];
            let record_changes =
                i % 4 == 1 && !cols.iter().any(|c| c == "changed" || c == "change_info");
            Spec {
                schema: if i % 3 == 0 {
                    at(i + 5)
                } else {
                    "public".into()
                },
                name: at(i),
                k1: cols[0].clone(),
                k2: cols[1].clone(),
                c: cols[2].clone(),
                h: cols[3].clone(),
                u: cols[4].clone(),
                strict: if i % 2 == 0 { Some(true) } else { None },
                record_changes,
            }
        })
        .collect()
}

/// History rows of one history name (versions only, lock events left out), `user_info`
/// without `db_user` (item 7) and `restored_from` without its time, in (key, version,
/// operation) order.
async fn history_of(t: &Ctx, history_name: &str) -> Vec<Value> {
    let mut rows: Vec<Value> = sqlx::query_scalar(
        "SELECT jsonb_build_object('key', key, 'version', version, 'operation', operation, \
         'data', data, 'user_info', user_info - 'db_user', \
         'extra_info', CASE WHEN extra_info ? 'restored_from' \
              THEN jsonb_set(extra_info, '{restored_from}', (extra_info -> 'restored_from') - 'changed') \
              ELSE extra_info END) \
         FROM chrononaut_activity WHERE table_name = $1 \
         AND operation IN ('insert', 'update', 'delete')",
    )
    .bind(history_name)
    .fetch_all(&t.pool)
    .await
    .expect("history");
    rows.sort_by_key(|r| {
        (
            r["key"].to_string(),
            r["version"].as_i64(),
            r["operation"].to_string(),
        )
    });
    rows
}

fn with_hidden(extra: Value, hidden: &str) -> Value {
    let mut m = extra.as_object().cloned().unwrap_or_default();
    m.insert("hidden_cols_changed".into(), json!([hidden]));
    Value::Object(m)
}

/// A step's error, naming the step.
fn step<T, E: std::fmt::Display>(what: &str, r: Result<T, E>) -> Result<T, String> {
    r.map_err(|e| format!("{what}: {e}"))
}

/// A write that must be refused with the error `expected` accepts.
fn refused(
    what: &str,
    r: chrononaut::Result<u64>,
    expected: fn(&Error) -> bool,
) -> Result<(), String> {
    match r {
        Err(e) if expected(&e) => Ok(()),
        other => Err(format!("{what}: expected a refusal, got {other:?}")),
    }
}

async fn db_clock(pool: &PgPool) -> Result<DateTime<Utc>, String> {
    step(
        "clock",
        sqlx::query_scalar("SELECT clock_timestamp()")
            .fetch_one(pool)
            .await,
    )
}

/// Runs `sql` (binding `binds` as text) in one transaction with `ctx` applied.
async fn write(
    t: &Ctx,
    pool: &PgPool,
    ctx: &ChangeContext,
    sql: &str,
    binds: &[&str],
) -> chrononaut::Result<u64> {
    let mut tx = t.ch.begin(pool, ctx).await?;
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
    for b in binds {
        q = q.bind(*b);
    }
    let done = q.execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(done.rows_affected())
}

/// The whole life of one record of `spec`'s table, through `pool`; checks everything and
/// returns the first thing that is wrong.
async fn life(t: &Ctx, pool: &PgPool, spec: &Spec) -> Result<(), String> {
    let table = spec.table();
    let q = |c: &str| quote_ident(c);
    let (k1, k2, c, h, u) = (q(&spec.k1), q(&spec.k2), q(&spec.c), q(&spec.h), q(&spec.u));
    step(
        "create",
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE SCHEMA IF NOT EXISTS {}; CREATE TABLE {table} ({k1} int, {k2} text, {c} text, \
             {h} text, {u} text, PRIMARY KEY ({k1}, {k2}))",
            q(&spec.schema)
        )))
        .execute(pool)
        .await,
    )?;
    let mut conn = step("connection", pool.acquire().await)?;
    let mut opts = TrackOptions::new()
        .hidden([spec.h.clone()])
        .untracked([spec.u.clone()])
        .record_changes(spec.record_changes);
    opts.strict = spec.strict;
    let tracked = step("track", t.ch.track(&mut conn, &table, &opts).await)?;
    let expected_name: String = step(
        "history name",
        sqlx::query_scalar(
            "SELECT CASE WHEN $1 = 'public' THEN $2 ELSE format('%I.%I', $1, $2) END",
        )
        .bind(&spec.schema)
        .bind(&spec.name)
        .fetch_one(&t.pool)
        .await,
    )?;
    if tracked.history_name != expected_name {
        return Err(format!(
            "track: history name {:?}, expected {expected_name:?}",
            tracked.history_name
        ));
    }
    let triggers: Vec<String> = step(
        "triggers",
        sqlx::query_scalar(
            "SELECT tgname::text FROM pg_trigger WHERE tgrelid = $1::regclass AND NOT tgisinternal \
             AND tgname LIKE '%chrononaut%' ORDER BY 1",
        )
        .bind(&table)
        .fetch_all(&t.pool)
        .await,
    )?;
    if triggers.len() < 5 {
        return Err(format!("track: only {triggers:?} on the table"));
    }
    let hist = tracked.history_name.clone();
    let ctx = ChangeContext::new().user(USER).rationale("r");
    let key1 = spec.key(1);
    let key2 = spec.key(2);
    let insert =
        format!("INSERT INTO {table} ({k1}, {k2}, {c}, {h}, {u}) VALUES ($1::int, $2, $3, $4, $5)");

    // the life of the record
    let first = ctx
        .clone()
        .record_extra(table.clone(), key1.clone(), json!({"note": "n"}));
    step(
        "insert",
        write(t, pool, &first, &insert, &["1", K2, C0, "h0", "u0"]).await,
    )?;
    step(
        "update",
        write(
            t,
            pool,
            &ctx,
            &format!("UPDATE {table} SET {c} = $1 WHERE {k1} = 1"),
            &["c1"],
        )
        .await,
    )?;
    let after_update = db_clock(&t.pool).await?;
    step(
        "untracked-only update",
        write(
            t,
            pool,
            &ctx,
            &format!("UPDATE {table} SET {u} = $1"),
            &["u1"],
        )
        .await,
    )?;
    step(
        "hidden-only update",
        write(
            t,
            pool,
            &ctx,
            &format!("UPDATE {table} SET {h} = $1"),
            &["h1"],
        )
        .await,
    )?;
    // optimistic concurrency: a stale version is refused, the current one checked
    refused(
        "stale version (CN005)",
        write(
            t,
            pool,
            &ctx,
            &format!("UPDATE {table} SET {c} = $1, version = 1"),
            &["x"],
        )
        .await,
        |e| matches!(e, Error::StaleVersion(_)),
    )?;
    {
        let mut tx = step("begin", t.ch.begin(pool, &ctx).await)?;
        step(
            "expect_version",
            t.ch.expect_version(&mut tx, &table, key1.clone(), Some(2))
                .await,
        )?;
    }
    step(
        "key change",
        write(t, pool, &ctx, &format!("UPDATE {table} SET {k1} = 2"), &[]).await,
    )?;
    // locks: a locked record and a frozen table refuse writes
    step(
        "lock",
        t.ch.lock(&mut conn, &table, key2.clone(), "audit $$ \\")
            .await,
    )?;
    refused(
        "locked record (CN006)",
        write(
            t,
            pool,
            &ctx,
            &format!("UPDATE {table} SET {c} = $1"),
            &["x"],
        )
        .await,
        |e| matches!(e, Error::RecordLocked(_)),
    )?;
    step("unlock", t.ch.unlock(&mut conn, &table, key2.clone()).await)?;
    step("freeze", t.ch.freeze(&mut conn, &table, "close").await)?;
    refused(
        "frozen table (CN006)",
        write(t, pool, &ctx, &insert, &["9", K2, "x", "x", "x"]).await,
        |e| matches!(e, Error::RecordLocked(_)),
    )?;
    step("unfreeze", t.ch.unfreeze(&mut conn, &table).await)?;
    step(
        "delete",
        write(
            t,
            pool,
            &ctx,
            &format!("DELETE FROM {table} WHERE {k1} = 2"),
            &[],
        )
        .await,
    )?;
    step(
        "re-insert",
        write(t, pool, &ctx, &insert, &["2", K2, "c3", "h3", "u3"]).await,
    )?;

    // time travel
    let at = |when: DateTime<Utc>| {
        let table = table.clone();
        async move {
            let mut conn = step("connection", t.pool.acquire().await)?;
            let rows: Vec<chrononaut::AsOfRow> = step(
                "as_of",
                step("as_of", t.ch.as_of(&mut conn, &table, when).await)?
                    .rows()
                    .try_collect()
                    .await,
            )?;
            Ok::<_, String>(
                rows.into_iter()
                    .map(|r| json!([r.key, r.version, r.data]))
                    .collect::<Vec<_>>(),
            )
        }
    };
    let then = at(after_update).await?;
    if then != vec![json!([key1, 1, spec.data(1, "c1", 1)])] {
        return Err(format!("as_of after the update: {then:?}"));
    }
    let now = at(db_clock(&t.pool).await?).await?;
    if now != vec![json!([key2, 5, spec.data(2, "c3", 5)])] {
        return Err(format!("as_of now: {now:?}"));
    }
    let sql_as_of: i64 = step(
        "SQL as_of",
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM chrononaut.as_of(NULL::{table}, now()) WHERE {c} = 'c3'"
        )))
        .fetch_one(pool)
        .await,
    )?;
    if sql_as_of != 1 {
        return Err(format!("SQL as_of: {sql_as_of} rows"));
    }

    // restore, and a read of one version
    let record = step("record", t.ch.record(&mut conn, &table, key2.clone()).await)?;
    let v5 = step("version 5", record.version(&mut conn, 5).await)?;
    if Value::Object(v5.data().clone()) != spec.data(2, "c3", 5) {
        return Err(format!("version 5 reads {:?}", v5.data()));
    }
    let report = step(
        "restore",
        t.ch.restore(
            &mut conn,
            &record,
            RestoreTarget::Version(3),
            &ChangeContext::new().user(USER).rationale("restore"),
        )
        .await,
    )?;
    if report.new_version.as_ref().map(|v| v.version()) != Some(6) {
        return Err(format!("restore wrote {:?}", report.new_version));
    }

    // the exact history
    let user = json!({"user_id": USER, "remote_addr": null});
    let r = json!({"rationale": "r"});
    let rh = with_hidden(r.clone(), &spec.h);
    // (k1 of the key, version, operation, c, extra_info)
    let rows = [
        (
            1,
            0,
            "insert",
            C0,
            with_hidden(json!({"rationale": "r", "note": "n"}), &spec.h),
        ),
        (1, 1, "update", "c1", r.clone()),
        (1, 2, "update", "c1", rh.clone()),
        (1, 3, "delete", "c1", r.clone()),
        // the first row under the new key lists the hidden columns it has, as an insert does
        (2, 3, "update", "c1", rh.clone()),
        (2, 4, "delete", "c1", r.clone()),
        (2, 5, "insert", "c3", rh),
        (
            2,
            6,
            "update",
            "c1",
            json!({"rationale": "restore", "restored_from": {"version": 3}}),
        ),
    ];
    let mut expected: Vec<Value> = rows
        .into_iter()
        .map(|(k1, version, op, c, extra)| {
            json!({"key": spec.key(k1), "version": version, "operation": op,
                   "data": spec.data(k1, c, version), "user_info": user, "extra_info": extra})
        })
        .collect();
    expected.sort_by_key(|r| {
        (
            r["key"].to_string(),
            r["version"].as_i64(),
            r["operation"].to_string(),
        )
    });
    let history = history_of(t, &hist).await;
    if history != expected {
        return Err(format!(
            "history differs:\n  got      {}\n  expected {}",
            Value::Array(history),
            Value::Array(expected)
        ));
    }
    let version: Option<i32> = step(
        "row version",
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT version FROM {table}")))
            .fetch_one(pool)
            .await,
    )?;
    if version != Some(6) {
        return Err(format!("the row's version is {version:?}, its history's 6"));
    }
    for (who, p) in [("this session", pool), ("a default session", &t.pool)] {
        let mut conn = step("connection", p.acquire().await)?;
        let report = step("verify", t.ch.verify(&mut conn, Some(&table)).await)?;
        if !report.is_ok() {
            return Err(format!("verify from {who}: {:?}", report.issues));
        }
    }
    Ok(())
}

/// Runs the corpus through `pool` (its sessions' settings are the point) and reports every
/// name that breaks.
async fn run_corpus(t: &Ctx, pool: &PgPool) {
    let names = corpus();
    let specs = specs(&names);
    let failures: Vec<String> = futures::stream::iter(specs.iter())
        .map(|spec| async move {
            // a panic (the library's debug assertions) is one name's failure, not the run's
            let outcome = std::panic::AssertUnwindSafe(life(t, pool, spec))
                .catch_unwind()
                .await;
            match outcome {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(format!("{}: {e}", spec.label())),
                Err(panic) => Some(format!(
                    "{}: panicked: {}",
                    spec.label(),
                    panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                        .unwrap_or_default()
                )),
            }
        })
        .buffer_unordered(3)
        .filter_map(|f| async move { f })
        .collect()
        .await;

    // regenerating every table that follows the strict default (after an upgrade, or a
    // change of the default) rebuilds their functions from the catalog's names
    let mut conn = pool.acquire().await.expect("connection");
    let regenerated = t.ch.set_strict_default(&mut conn, false).await;
    let status = t.ch.status(&mut conn).await;
    let verify = t.ch.verify(&mut conn, None).await;
    let mut all = failures;
    if let Err(e) = regenerated {
        all.push(format!("set_strict_default (regenerates the tables): {e}"));
    }
    match status {
        Err(e) => all.push(format!("status: {e}")),
        Ok(s) => {
            let stale: Vec<&str> = s
                .iter()
                .filter(|s| s.stale)
                .map(|s| s.table.as_str())
                .collect();
            if !stale.is_empty() {
                all.push(format!("status: stale after tracking: {stale:?}"));
            }
        }
    }
    match verify {
        Err(e) => all.push(format!("verify of everything: {e}")),
        Ok(r) if !r.is_ok() => all.push(format!("verify of everything: {} issues", r.issues.len())),
        Ok(_) => {}
    }
    assert!(
        all.is_empty(),
        "{} of {} hostile names (or whole-database steps) fail:\n{}",
        all.len(),
        specs.len(),
        all.join("\n")
    );
}

#[tokio::test]
async fn hostile_identifiers_survive_a_records_whole_life() {
    let t = common::setup().await;
    let pool = t.pool.clone();
    run_corpus(&t, &pool).await;
}

/// The same from sessions with `standard_conforming_strings = off` (a backslash in a plain
/// literal is an escape there): the session that tracks and the sessions that write, lock,
/// restore and verify. Today a table named `bs\` cannot be tracked from such a session, and
/// rows such a session writes are reported as edited by verify.
#[tokio::test]
async fn hostile_identifiers_survive_with_standard_conforming_strings_off() {
    let t = common::setup().await;
    let options = PgConnectOptions::from_str(&t.db.url)
        .expect("test url")
        .options([("standard_conforming_strings", "off")]);
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await
        .expect("pool with standard_conforming_strings off");
    let scs: String = sqlx::query_scalar("SHOW standard_conforming_strings")
        .fetch_one(&pool)
        .await
        .expect("show");
    assert_eq!(scs, "off");
    run_corpus(&t, &pool).await;
}

/// The activity table in a schema whose name needs every kind of quoting (capitals, a space,
/// a single and a double quote), unpartitioned and partitioned: install, track, capture,
/// per-record reads, as_of (library and SQL), baseline, verify and status all work.
#[tokio::test]
async fn an_activity_schema_with_quotes_works() {
    let schema = "Audit \"it's\"";
    let q = quote_ident(schema);
    for partitioned in [false, true] {
        let t = common::bare().await;
        t.exec(&format!("CREATE SCHEMA {q}")).await;
        if partitioned {
            t.exec(&format!(
                "SET search_path = {q}; {} RESET search_path;",
                common::PARTITIONED_ACTIVITY
            ))
            .await;
        }
        let mut conn = t.pool.acquire().await.expect("connection");
        t.ch.install_with(&mut conn, &InstallOptions::new().activity_schema(schema))
            .await
            .expect("install");
        t.exec(
            "CREATE TABLE items (id int PRIMARY KEY, v text); INSERT INTO items VALUES (1, 'old');",
        )
        .await;
        t.ch.track(&mut conn, "items", &TrackOptions::new())
            .await
            .expect("track");
        t.ch.baseline(&mut conn, "items", BaselineOptions::new())
            .await
            .expect("baseline");
        t.exec(
            "INSERT INTO items VALUES (2, 'a'); UPDATE items SET v = 'b' WHERE id = 2; \
             DELETE FROM items WHERE id = 1; INSERT INTO items VALUES (1, 'again');",
        )
        .await;
        let rows: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM {q}.chrononaut_activity"
        )))
        .fetch_one(&mut *conn)
        .await
        .expect("count");
        assert_eq!(rows, 5, "partitioned: {partitioned}");
        let record =
            t.ch.record(&mut conn, "items", serde_json::json!({"id": 1}))
                .await
                .expect("record");
        let versions = record
            .versions(&mut conn, &VersionFilter::new())
            .await
            .expect("versions");
        assert_eq!(versions.len(), 3, "partitioned: {partitioned}");
        let at = db_clock(&t.pool).await.expect("clock");
        let now: Vec<_> =
            t.ch.as_of(&mut conn, "items", at)
                .await
                .expect("as of")
                .rows()
                .try_collect()
                .await
                .expect("rows");
        assert_eq!(now.len(), 2, "partitioned: {partitioned}");
        let typed: i64 =
            sqlx::query_scalar("SELECT count(*) FROM chrononaut.as_of(NULL::public.items, now())")
                .fetch_one(&mut *conn)
                .await
                .expect("as_of from SQL");
        assert_eq!(typed, 2);
        let report = t.ch.verify(&mut conn, None).await.expect("verify");
        assert!(report.is_ok(), "{:?}", report.issues);
        let status = t.ch.status(&mut conn).await.expect("status");
        assert!(status.iter().all(|s| !s.stale), "{status:?}");
    }
}
