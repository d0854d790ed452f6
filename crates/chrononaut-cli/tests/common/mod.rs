//! Shared helpers of the CLI tests: run the built `chrononaut` binary against a test database.
#![allow(dead_code)]

use std::process::{Command, Output};

use chrononaut_testdb::TestDb;
use serde_json::Value;

/// Runs `chrononaut ARGS` with `DATABASE_URL=url` (colours off).
pub fn chrononaut(url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chrononaut"))
        .args(args)
        .env("DATABASE_URL", url)
        .env("NO_COLOR", "1")
        .output()
        .expect("run chrononaut")
}

/// Runs a command that must succeed; returns its stdout.
pub fn ok(url: &str, args: &[&str]) -> String {
    let out = chrononaut(url, args);
    assert!(
        out.status.success(),
        "chrononaut {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a command with `--json` that must succeed; returns its parsed stdout.
pub fn ok_json(url: &str, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let text = ok(url, &all);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: {e}: {text}"))
}

/// Runs a command that must fail with one `chrononaut: error: ...` line on stderr; returns
/// (stdout, that line).
pub fn fails_with_stdout(url: &str, args: &[&str]) -> (String, String) {
    let out = chrononaut(url, args);
    assert!(!out.status.success(), "chrononaut {args:?} should fail");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one line expected: {err:?}"
    );
    assert!(err.starts_with("chrononaut: error: "), "{err}");
    (String::from_utf8_lossy(&out.stdout).into_owned(), err)
}

/// Runs a command that must fail with one error line; returns that line.
pub fn fails(url: &str, args: &[&str]) -> String {
    fails_with_stdout(url, args).1
}

/// Runs SQL (several statements allowed) in the test database.
pub async fn sql(db: &TestDb, text: &str) {
    let pool = db.pool().await.expect("pool");
    sqlx::raw_sql(sqlx::AssertSqlSafe(text.to_owned()))
        .execute(&pool)
        .await
        .unwrap_or_else(|e| panic!("{text}: {e}"));
    pool.close().await;
}

/// What `demo --json` recorded, on either backend: 3 inserts, 3 bulk updates, 1 hidden
/// change, 1 delete (the untracked change makes none), with who and why.
pub fn assert_demo_history(json: &Value) {
    let history = json["history"].as_array().expect("history array");
    // 3 inserts, 3 bulk updates, 1 hidden change, 1 delete; the untracked change makes none
    assert_eq!(history.len(), 8, "{json}");
    let ops: Vec<&str> = history
        .iter()
        .filter_map(|h| h["operation"].as_str())
        .collect();
    assert_eq!(
        ops,
        [
            "insert", "insert", "insert", "update", "update", "update", "update", "delete"
        ]
    );
    assert!(
        history
            .iter()
            .all(|h| h["data"].get("cost_price").is_none())
    );
    assert!(history.iter().all(|h| h["data"].get("views").is_none()));
    assert_eq!(history[7]["user_info"]["user_id"], "bob@example.com");
    assert_eq!(history[7]["extra_info"]["rationale"], "discontinued");
    assert_eq!(
        history[6]["extra_info"]["hidden_cols_changed"],
        serde_json::json!(["cost_price"])
    );
}
