//! The CLI on SQLite: the backend comes from the URL (`sqlite://path.db`), the history
//! commands print what they print on PostgreSQL (one scenario run on both, outputs compared),
//! what SQLite does not serve yet is refused in one line, and `demo` runs on SQLite when asked
//! to or when there is no PostgreSQL at all.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use chrononaut_testdb::TestDb;
use common::{chrononaut, fails, ok, ok_json};
use serde_json::Value;
use sqlx::Connection;

static N: AtomicU32 = AtomicU32::new(0);

/// A directory of this test's own under the temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "chrononaut-cli-{}-{}-{name}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    fn url(&self, file: &str) -> String {
        format!("sqlite://{}", self.0.join(file).display())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs SQL on either database (a plain connection: a writer chrononaut knows nothing of).
async fn exec(url: &str, statements: &[&str]) {
    if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url).await.expect("sqlite");
        for s in statements {
            sqlx::raw_sql(sqlx::AssertSqlSafe(*s))
                .execute(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("{s}: {e}"));
        }
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.expect("pg");
        for s in statements {
            sqlx::raw_sql(sqlx::AssertSqlSafe(*s))
                .execute(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("{s}: {e}"));
        }
    }
}

/// Times as the CLI prints them (`2026-12-03 06:20:18.123456Z`, RFC 3339 in JSON) become `<T>`,
/// so that two runs at different moments compare equal.
fn without_times(text: &str) -> String {
    let mut out = String::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &text[i..];
        let is_time = rest.len() >= 19
            && rest.as_bytes()[..4].iter().all(u8::is_ascii_digit)
            && rest.as_bytes()[4] == b'-'
            && rest.as_bytes()[7] == b'-'
            && matches!(rest.as_bytes()[10], b' ' | b'T')
            && rest.as_bytes()[13] == b':';
        if is_time {
            let end = rest
                .char_indices()
                .skip(19)
                .find(|(_, c)| !(c.is_ascii_digit() || matches!(c, '.' | 'Z' | '+' | ':')))
                .map_or(rest.len(), |(j, _)| j);
            out.push_str("<T>");
            i += end;
        } else {
            let c = rest.chars().next().expect("char");
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// One scenario, written by plain SQL (no context), read back through every history command.
/// Returns the outputs, times blanked.
async fn scenario(url: &str, create: &str) -> Vec<(String, String)> {
    exec(
        url,
        &[
            create,
            "INSERT INTO notes (id, body, secret, hits) VALUES (1, 'before', 's0', 0)",
        ],
    )
    .await;
    ok(url, &["init"]);
    ok(
        url,
        &[
            "track",
            "notes",
            "--hidden",
            "secret",
            "--untracked",
            "hits",
        ],
    );
    exec(
        url,
        &[
            "INSERT INTO notes (id, body, secret, hits) VALUES (2, 'two', 's', 0), (3, 'it''s \"three\"', NULL, 0)",
            "UPDATE notes SET body = 'after' WHERE id = 1",
            "UPDATE notes SET hits = 5 WHERE id = 1",
            "UPDATE notes SET secret = 's1' WHERE id = 1",
        ],
    )
    .await;
    // the time between the first and the second update of record 1, as history printed it
    let versions = ok_json(url, &["log", "notes", "id=1"]);
    let v1 = versions[1]["changed"].as_str().expect("changed").to_owned();
    exec(url, &["DELETE FROM notes WHERE id = 2"]).await;
    let mut outputs = Vec::new();
    let runs: Vec<Vec<&str>> = vec![
        vec!["log", "notes", "id=1"],
        vec!["log", "notes", "id=2"],
        vec!["log", "notes"],
        vec!["show", "notes", "id=1"],
        vec!["show", "notes", "id=1", "--version", "0"],
        vec!["show", "notes", "id=1", "--at", &v1],
        vec!["show", "notes", "{\"id\": 3}"],
        vec!["diff", "notes", "id=1", "0", "2", "--include-hidden"],
        vec!["diff", "notes", "id=1"],
        vec!["at", "notes", "--at", &v1],
        vec!["at", "notes", "--at", &v1, "--format", "csv"],
        vec!["log", "notes", "id=1", "--json"],
        vec!["show", "notes", "id=2", "--json"],
        vec!["diff", "notes", "id=1", "0", "2", "--json"],
        vec!["status"],
    ];
    for args in runs {
        outputs.push((args.join(" "), without_times(&ok(url, &args))));
    }
    // restores, written as new versions: an update, a re-insert of the deleted record, and
    // one that finds nothing to do
    for args in [
        vec![
            "restore",
            "notes",
            "id=1",
            "--version",
            "0",
            "--rationale",
            "undo",
            "--user",
            "u",
        ],
        vec![
            "restore",
            "notes",
            "id=2",
            "--version",
            "0",
            "--rationale",
            "back",
            "--user",
            "u",
        ],
        vec![
            "restore",
            "notes",
            "id=2",
            "--version",
            "0",
            "--rationale",
            "again",
            "--user",
            "u",
        ],
        vec!["log", "notes", "id=1"],
        vec!["log", "notes", "id=2", "--json"],
        vec!["at", "notes", "--at", "2999-01-01", "--format", "csv"],
    ] {
        outputs.push((args.join(" "), without_times(&ok(url, &args))));
    }
    // bad input is refused the same way
    for args in [
        vec!["log", "nope", "id=1"],
        vec!["show", "notes", "id=99"],
        vec!["show", "notes", "body=x"],
    ] {
        let out = chrononaut(url, &args);
        assert!(!out.status.success(), "{args:?} succeeded");
        outputs.push((
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ));
    }
    outputs
}

#[tokio::test]
async fn history_commands_print_the_same_on_sqlite_and_postgres() {
    let pg = TestDb::new().await.expect("db");
    let dir = TempDir::new("same");
    let lite = dir.url("same.db");
    // the SQLite file must exist for every command but init; init makes it
    ok(&lite, &["init"]);
    let on_pg = scenario(
        &pg.url,
        "CREATE TABLE notes (id integer PRIMARY KEY, body text, secret text, hits integer)",
    )
    .await;
    let on_sqlite = scenario(
        &lite,
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT, secret TEXT, hits INTEGER)",
    )
    .await;
    assert!(ok(&pg.url, &["seal"]).contains("nothing to seal"));
    assert_eq!(on_pg.len(), on_sqlite.len());
    for ((args, a), (_, b)) in on_pg.iter().zip(&on_sqlite) {
        // what differs on purpose: PostgreSQL records the database role that wrote, SQLite
        // has none; the table's name is schema-qualified on PostgreSQL; SQLite writes no chain
        // and has no database-wide strict default
        let no_role = |text: &str| {
            text.lines()
                .filter(|l| !l.trim_start().starts_with("\"db_user\""))
                .collect::<Vec<_>>()
                .join("\n")
        };
        let a = no_role(a)
            .replace("public.notes", "notes")
            .replace("postgres", "-")
            .replace(" (database default)", "");
        let b = no_role(b).replace("sealed later, by `chrononaut seal` (SQLite)", "yes");
        assert_eq!(
            squeeze(&a),
            squeeze(&b),
            "`chrononaut {args}` differs:\n--- PostgreSQL\n{a}\n--- SQLite\n{b}"
        );
    }
    // the scenario recorded what it should (not only the same on both)
    let log = &on_sqlite[0].1;
    assert_eq!(log.matches("update").count(), 2, "{log}");
    assert!(log.contains("insert"), "{log}");
    let restored = &on_sqlite[15..18];
    assert!(
        restored[0]
            .1
            .starts_with("restored notes id=1 to version 0 as version 3"),
        "{restored:?}"
    );
    assert!(
        restored[1]
            .1
            .starts_with("re-inserted notes id=2 to version 0 as version 2"),
        "{restored:?}"
    );
    assert!(restored[2].1.contains("nothing written"), "{restored:?}");
    let now = &on_sqlite[20].1;
    // the hidden column keeps its current value, the restored ones are back
    assert!(now.contains("1,before"), "{now}");
    assert!(now.contains("2,two"), "{now}");
    let at = &on_sqlite[10].1;
    assert!(at.contains("1,after"), "{at}");
    assert!(at.contains("2,two"), "{at}");
    assert!(at.contains("3,\"it's \"\"three\"\"\""), "{at}");
}

/// Runs of spaces become one: the aligned columns' widths follow the widest cell, which the
/// role column changes.
fn squeeze(text: &str) -> String {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn track_on_sqlite_records_the_existing_rows_as_a_baseline() {
    let dir = TempDir::new("baseline");
    let url = dir.url("b.db");
    ok(&url, &["init"]);
    exec(
        &url,
        &[
            "CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT)",
            "CREATE TABLE b (id INTEGER PRIMARY KEY, v TEXT)",
            "INSERT INTO a VALUES (1, 'x'), (2, 'y')",
            "INSERT INTO b VALUES (1, 'x')",
        ],
    )
    .await;
    let out = ok(&url, &["track", "a"]);
    assert!(
        out.contains("2 existing rows recorded as version 0"),
        "{out}"
    );
    let v = ok_json(&url, &["show", "a", "id=2"]);
    assert_eq!(v["version"], 0);
    assert_eq!(v["operation"], "insert");
    assert_eq!(v["extra_info"], serde_json::json!({"baseline": true}));
    assert_eq!(v["data"]["v"], "y");
    // again: nothing more (every row has history)
    let again = ok_json(&url, &["track", "a"]);
    assert_eq!(again["baseline_rows"], 0, "{again}");
    // the next change is version 1
    exec(&url, &["UPDATE a SET v = 'z' WHERE id = 2"]).await;
    assert_eq!(ok_json(&url, &["show", "a", "id=2"])["version"], 1);
    // --no-baseline: none
    let out = ok(&url, &["track", "b", "--no-baseline"]);
    assert!(!out.contains("baseline"), "{out}");
    let err = fails(&url, &["show", "b", "id=1"]);
    assert!(err.contains("no history"), "{err}");
}

#[tokio::test]
async fn what_sqlite_does_not_serve_is_refused_in_one_line() {
    let dir = TempDir::new("refuse");
    let url = dir.url("r.db");
    ok(&url, &["init"]);
    exec(&url, &["CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"]).await;
    ok(&url, &["track", "t"]);
    for args in [
        vec!["partitions"],
        vec!["strict-default", "on"],
        vec!["prune", "--before", "2020-01-01"],
        vec!["serve"],
        vec!["init", "--partition", "monthly"],
        vec!["init", "--schema", "audit"],
        vec!["track", "t", "--keep", "30d"],
        vec!["track", "t", "--record-changes"],
    ] {
        let err = fails(&url, &args);
        assert!(
            err.contains("is not available on SQLite"),
            "{args:?}: {err}"
        );
    }
    // a file that does not exist is named, and not created (init creates it)
    let missing = dir.0.join("missing.db");
    let err = fails(&dir.url("missing.db"), &["status"]);
    assert!(
        err.contains("missing.db") && err.contains("no such file"),
        "{err}"
    );
    assert!(!missing.exists());
    // a database without chrononaut says so
    let bare = dir.url("bare.db");
    exec(
        &format!("{bare}?mode=rwc"),
        &["CREATE TABLE t (id INTEGER PRIMARY KEY)"],
    )
    .await;
    let err = fails(&bare, &["status"]);
    assert!(
        err.contains("not installed") || err.contains("init"),
        "{err}"
    );
}

/// Runs `chrononaut ARGS` with a temporary directory of its own and `extra` environment.
fn run_in(dir: &Path, args: &[&str], env: &[(&str, &str)], remove_url: bool) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chrononaut"));
    cmd.args(args).env("NO_COLOR", "1").env("TMPDIR", dir);
    if remove_url {
        cmd.env_remove("DATABASE_URL");
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run chrononaut")
}

fn stdout_of(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn demo_runs_on_sqlite_when_asked_and_its_next_commands_work() {
    let dir = TempDir::new("demo");
    let out = stdout_of(&run_in(&dir.0, &["demo", "--sqlite"], &[], true));
    assert!(
        out.contains("What chrononaut recorded in chrononaut_activity (8 versions)"),
        "{out}"
    );
    assert!(out.contains("+hidden cost_price"), "{out}");
    // the printed commands run as printed, against the demo's file
    let next: Vec<&str> = out
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("cargo run -q -p chrononaut-cli -- "))
        .collect();
    assert_eq!(next.len(), 2, "{out}");
    for line in next {
        let args: Vec<String> = line["cargo run -q -p chrononaut-cli -- ".len()..]
            .split(' ')
            .map(|w| w.trim_matches('\'').to_owned())
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let printed = stdout_of(&run_in(&dir.0, &args, &[], true));
        assert!(printed.contains("update"), "{line}: {printed}");
    }
    assert!(dir.0.join("chrononaut_demo.db").exists());
    // again: made afresh, the same 8 versions (not 16)
    let json: Value = serde_json::from_str(&stdout_of(&run_in(
        &dir.0,
        &["demo", "--sqlite", "--json"],
        &[],
        true,
    )))
    .expect("json");
    common::assert_demo_history(&json);
    // a sqlite: URL is not the demo's to fill
    let out = run_in(
        &dir.0,
        &["demo", "--database-url", &dir.url("mine.db")],
        &[],
        true,
    );
    assert!(!out.status.success());
}

#[tokio::test]
async fn demo_falls_back_to_sqlite_without_any_postgresql() {
    let dir = TempDir::new("fallback");
    // no DATABASE_URL, the local server ignored, and no binaries to start one
    let none = dir.0.join("no-postgres-here");
    let out = run_in(
        &dir.0,
        &["demo"],
        &[
            (chrononaut_testdb::FORCE_TEMP_ENV, "1"),
            (chrononaut_testdb::BINDIR_ENV, none.to_str().expect("path")),
        ],
        true,
    );
    let text = stdout_of(&out);
    let first = text.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("no PostgreSQL configured, reachable or startable (")
            && first.contains("running the demo on SQLite (sqlite://"),
        "{text}"
    );
    assert!(text.contains("(8 versions)"), "{text}");
    // with --json the line goes to stderr and stdout stays one document
    let out = run_in(
        &dir.0,
        &["demo", "--json"],
        &[
            (chrononaut_testdb::FORCE_TEMP_ENV, "1"),
            (chrononaut_testdb::BINDIR_ENV, none.to_str().expect("path")),
        ],
        true,
    );
    let json: Value = serde_json::from_str(&stdout_of(&out)).expect("one JSON document");
    assert_eq!(json["table"], "demo_products");
    assert!(String::from_utf8_lossy(&out.stderr).contains("running the demo on SQLite"));
}

/// `init`, a tracked table `t` and three versions in it: records 1 (versions 0 and 1) and 2.
async fn three_versions_of_t(url: &str) {
    ok(url, &["init"]);
    exec(url, &["CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"]).await;
    ok(url, &["track", "t"]);
    exec(
        url,
        &[
            "INSERT INTO t (id, v) VALUES (1, 'a'), (2, 'b')",
            "UPDATE t SET v = 'c' WHERE id = 1",
        ],
    )
    .await;
}

#[tokio::test]
async fn seal_then_verify_finds_an_edit_made_behind_the_triggers() {
    let dir = TempDir::new("seal");
    let url = dir.url("s.db");
    three_versions_of_t(&url).await;
    // before any seal: nothing vouched for, nothing broken
    let out = ok(&url, &["verify"]);
    assert!(
        out.contains("t: 3 history rows, 0 chained, 3 unchained"),
        "{out}"
    );
    assert!(out.contains("ok: no tampering found"), "{out}");
    let out = ok(&url, &["seal"]);
    assert!(out.starts_with("sealed 3 history row(s)"), "{out}");
    assert!(ok(&url, &["seal"]).starts_with("sealed 0 history row(s)"));
    exec(&url, &["UPDATE t SET v = 'd' WHERE id = 2"]).await;
    let out = ok(&url, &["verify", "t"]);
    assert!(
        out.contains("t: 4 history rows, 3 chained, 1 unchained"),
        "{out}"
    );
    ok(&url, &["seal"]);
    // an edit with the append-only trigger dropped (anyone who can write the file can)
    exec(
        &url,
        &[
            "DROP TRIGGER chrononaut_activity_append_only_update",
            "UPDATE chrononaut_activity SET data = replace(data, '\"a\"', '\"forged\"') WHERE version = 0 AND key = '{\"id\":1}'",
        ],
    )
    .await;
    let (stdout, err) = common::fails_with_stdout(&url, &["verify"]);
    assert!(
        err.contains("history verification failed: 1 broken place(s)"),
        "{err}"
    );
    assert!(
        stdout.contains("BROKEN t {\"id\":1} version 0: content does not match its hash (edited)"),
        "{stdout}"
    );
}

/// A digest pins the history: removing a record's latest version leaves every chain whole,
/// so `verify` alone finds nothing, but `verify --digest` does; a seal after the digest
/// changes nothing it covers.
#[tokio::test]
async fn a_digest_catches_what_the_chains_cannot() {
    let dir = TempDir::new("digest");
    let url = dir.url("d.db");
    three_versions_of_t(&url).await;
    let file = dir.0.join("digest.json");
    let file_arg = file.display().to_string();
    let out = ok(&url, &["digest", "--output", &file_arg]);
    assert!(
        out.starts_with("digest of 1 table(s), history up to id 3, written to "),
        "{out}"
    );
    ok(&url, &["seal"]);
    exec(&url, &["UPDATE t SET v = 'd' WHERE id = 2"]).await;
    let out = ok(&url, &["verify", "--digest", &file_arg]);
    assert!(out.contains("(history matches the digest)"), "{out}");
    // the latest version of record 1 removed behind the triggers' back
    exec(
        &url,
        &[
            "DROP TRIGGER chrononaut_activity_append_only_delete",
            "DELETE FROM chrononaut_activity WHERE key = '{\"id\":1}' AND version = 1",
        ],
    )
    .await;
    assert!(ok(&url, &["verify"]).contains("ok: no tampering found"));
    let (stdout, err) = common::fails_with_stdout(&url, &["verify", "--digest", &file_arg]);
    assert!(
        err.contains("history verification failed: 1 broken place(s)"),
        "{err}"
    );
    assert!(
        stdout.contains("t: 2 history rows up to id 3 now, 3 when the digest was taken"),
        "{stdout}"
    );
}

#[tokio::test]
async fn lock_unlock_and_locks_work_on_sqlite() {
    let dir = TempDir::new("locks");
    let url = dir.url("l.db");
    ok(&url, &["init"]);
    exec(&url, &["CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"]).await;
    ok(&url, &["track", "t"]);
    exec(&url, &["INSERT INTO t (id, v) VALUES (1, 'a'), (2, 'b')"]).await;
    let out = ok(&url, &["lock", "t", "id=1", "--reason", "legal hold"]);
    assert!(out.starts_with("locked t id=1  locked by "), "{out}");
    assert!(out.trim_end().ends_with(": legal hold"), "{out}");
    // a plain writer is refused, the other record is not
    let mut conn = <sqlx::SqliteConnection as Connection>::connect(&url)
        .await
        .expect("open");
    let err = sqlx::raw_sql("UPDATE t SET v = 'x' WHERE id = 1")
        .execute(&mut conn)
        .await
        .expect_err("locked");
    assert!(err.to_string().contains("CN006"), "{err}");
    exec(&url, &["UPDATE t SET v = 'c' WHERE id = 2"]).await;
    let listed = ok(&url, &["locks"]);
    assert_eq!(listed.lines().count(), 1, "{listed}");
    assert!(
        listed.contains("t id=1") && listed.contains("legal hold"),
        "{listed}"
    );
    // the lock is an event beside the versions in log, not a version
    let log = ok_json(&url, &["log", "t", "id=1"]);
    let ops: Vec<&str> = log
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["operation"].as_str())
        .collect();
    assert_eq!(ops, ["insert", "lock"], "{log}");
    let err = fails(&url, &["lock", "t", "id=1", "--reason", "again"]);
    assert!(err.contains("already locked"), "{err}");
    ok(&url, &["unlock", "t", "id=1"]);
    assert!(ok(&url, &["locks"]).contains("no locks"));
    exec(&url, &["UPDATE t SET v = 'y' WHERE id = 1"]).await;
    // a freeze, and its end
    ok(&url, &["lock", "t", "--table", "--reason", "migration"]);
    let err = sqlx::raw_sql("INSERT INTO t (id, v) VALUES (3, 'z')")
        .execute(&mut conn)
        .await
        .expect_err("frozen");
    assert!(err.to_string().contains("CN006"), "{err}");
    ok(&url, &["unlock", "t", "--table"]);
    let err = fails(&url, &["unlock", "t", "--table"]);
    assert!(err.contains("not frozen"), "{err}");
}
