//! The `chrononaut` binary against a real PostgreSQL: output, JSON and one-line errors.

mod common;
use common::*;

use std::process::Command;

use chrononaut_testdb::TestDb;
use serde_json::Value;

#[tokio::test]
async fn init_track_status_untrack() {
    let db = TestDb::new().await.expect("db");
    let url = db.url.as_str();

    let v = chrononaut::SCHEMA_VERSION;
    assert!(ok(url, &["init"]).starts_with(&format!("installed chrononaut schema v{v}")));
    assert!(ok(url, &["init"]).contains("already installed"));
    let report: Value = serde_json::from_str(&ok(url, &["init", "--json"])).expect("json");
    assert_eq!(report["schema_version"], v);
    assert_eq!(report["previous_version"], v);

    sql(&db, "CREATE SCHEMA shop; CREATE TABLE shop.\"Orders\" (id int PRIMARY KEY, total int, note text, secret text); \
               CREATE TABLE nokey (a int)").await;
    let out = ok(
        url,
        &[
            "track",
            "shop.\"Orders\"",
            "--hidden",
            "secret",
            "--untracked",
            "note",
            "--strict",
        ],
    );
    assert!(
        out.starts_with("tracking shop.\"Orders\" (key: id"),
        "{out}"
    );
    assert!(out.contains("strict:         yes"), "{out}");

    let tracked: Value = serde_json::from_str(&ok(
        url,
        &["track", "shop.\"Orders\"", "--hidden", "secret", "--json"],
    ))
    .expect("json");
    assert_eq!(tracked["history_name"], "shop.\"Orders\"");
    assert_eq!(tracked["options"]["hidden"], serde_json::json!(["secret"]));
    assert_eq!(tracked["options"]["untracked"], serde_json::json!([]));
    assert_eq!(tracked["strict_effective"], false);

    sql(
        &db,
        "INSERT INTO shop.\"Orders\" VALUES (1, 10, 'n', 's'), (2, 20, 'n', 's')",
    )
    .await;
    let status: Value = serde_json::from_str(&ok(url, &["status", "--json"])).expect("json");
    assert_eq!(status[0]["table"], "shop.\"Orders\"");
    assert_eq!(status[0]["history_rows"], 2);
    assert!(ok(url, &["status"]).contains("shop.\"Orders\"  (2 history rows)"));

    let err = fails(url, &["track", "missing_table"]);
    assert!(err.contains("unknown table: missing_table"), "{err}");
    let err = fails(url, &["track", "nokey"]);
    assert!(err.contains("has no primary key"), "{err}");
    let err = fails(url, &["track", "shop.\"Orders\"", "--hidden", "nope"]);
    assert!(err.contains("has no column \"nope\""), "{err}");
    let err = fails(
        url,
        &[
            "track",
            "shop.\"Orders\"",
            "--hidden",
            "note",
            "--untracked",
            "note",
        ],
    );
    assert!(err.contains("both hidden and untracked"), "{err}");
    let err = fails(url, &["track", "chrononaut_activity"]);
    assert!(err.contains("chrononaut's own table"), "{err}");

    assert!(ok(url, &["untrack", "shop.\"Orders\""]).contains("history is kept"));
    let err = fails(url, &["untrack", "shop.\"Orders\""]);
    assert!(err.contains("is not tracked"), "{err}");
    assert!(ok(url, &["status"]).contains("no tracked tables"));
}

#[tokio::test]
async fn errors_are_one_line() {
    let db = TestDb::new().await.expect("db");
    // not installed yet
    let err = fails(&db.url, &["status"]);
    assert!(err.contains("run `chrononaut init` first"), "{err}");
    // usage errors are one line too, with exit code 2
    let err = fails(&db.url, &["bogus"]);
    assert!(err.contains("unrecognized subcommand 'bogus'"), "{err}");
    assert_eq!(chrononaut(&db.url, &["track"]).status.code(), Some(2));
    // unreachable server
    let err = fails("postgres://postgres@127.0.0.1:1/none", &["status"]);
    assert!(err.contains("cannot connect"), "{err}");
    // no database at all
    let out = Command::new(env!("CARGO_BIN_EXE_chrononaut"))
        .arg("status")
        .env_remove("DATABASE_URL")
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("set DATABASE_URL"));
}

#[test]
fn print_sql_needs_no_database() {
    let out = Command::new(env!("CARGO_BIN_EXE_chrononaut"))
        .args(["init", "--print-sql", "--schema", "audit"])
        .env_remove("DATABASE_URL")
        .output()
        .expect("run");
    assert!(out.status.success());
    let sql = String::from_utf8_lossy(&out.stdout);
    assert!(sql.contains("CREATE TABLE IF NOT EXISTS \"audit\".chrononaut_activity"));
    assert!(!sql.contains("{{"), "unfilled placeholder");
}

#[tokio::test]
async fn demo_records_and_prints_history() {
    let db = TestDb::new().await.expect("db");
    let out = ok(&db.url, &["demo"]);
    assert!(out.contains("What chrononaut recorded"), "{out}");
    // the next commands run this binary as cargo does (it runs from target/debug here), and
    // work as printed: their arguments after `--`, run by this very binary
    let next: Vec<&str> = out
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("cargo run -q -p chrononaut-cli -- "))
        .collect();
    assert_eq!(next.len(), 3, "{out}");
    assert!(next[2].contains(" serve "), "{out}");
    assert!(
        out.contains("cargo install --path crates/chrononaut-cli"),
        "{out}"
    );
    for line in &next[..2] {
        let args = shell_words(&line["cargo run -q -p chrononaut-cli -- ".len()..]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (url_flag, rest) = args.split_at(2);
        assert_eq!(url_flag[0], "--database-url");
        let printed = ok(url_flag[1], rest);
        assert!(!printed.trim().is_empty(), "{line}: nothing printed");
        if rest[0] == "log" {
            assert!(
                printed.contains("insert") && printed.contains("update"),
                "{printed}"
            );
        }
    }
    let json: Value = serde_json::from_str(&ok(&db.url, &["demo", "--json"])).expect("json");
    common::assert_demo_history(&json);
}

/// Splits a printed command line as a shell would (words; '...' quoted).
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in line.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                any = false;
            }
            c => word.push(c),
        }
    }
    if any || !word.is_empty() {
        words.push(word);
    }
    words
}

/// Output piped into a reader that stops early (`chrononaut log t | head -1`) ends the command
/// quietly, without a panic message (it panicked on the first write to the closed pipe).
#[tokio::test]
async fn a_reader_that_stops_early_gets_no_panic() {
    use std::io::Read;
    use std::process::Stdio;
    let db = chrononaut_testdb::TestDb::new()
        .await
        .expect("test database");
    let url = db.url.as_str();
    sql(
        &db,
        "CREATE TABLE t (id int PRIMARY KEY, v text); \
         INSERT INTO t SELECT g, repeat('x', 50) FROM generate_series(1, 20000) AS g",
    )
    .await;
    ok(url, &["init"]);
    ok(url, &["track", "t"]);
    for args in [
        &["log", "t", "--limit", "5000"][..],
        &["--json", "log", "t", "--limit", "5000"],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_chrononaut"))
            .args(args)
            .env("DATABASE_URL", url)
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let mut first = [0u8; 16];
        child
            .stdout
            .take()
            .expect("stdout")
            .read_exact(&mut first)
            .expect("some output");
        // the reader is gone (dropped above): the rest of the output has nowhere to go
        let out = child.wait_with_output().expect("wait");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_ne!(out.status.code(), Some(101), "{args:?}: {err}");
    }
}
