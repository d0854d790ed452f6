//! `chrononaut convert` against a real PostgreSQL: modes, dry run, refusals, JSON.

mod common;
use common::*;

use chrononaut_testdb::TestDb;
use serde_json::Value;

async fn count(db: &TestDb) -> i64 {
    let pool = db.pool().await.expect("pool");
    let n = sqlx::query_scalar("SELECT count(*) FROM chrononaut_activity")
        .fetch_one(&pool)
        .await
        .expect("count");
    pool.close().await;
    n
}

const FIXTURE: &str = "
CREATE TABLE tasks (id int PRIMARY KEY, title text, pin text, version int);
CREATE TABLE tasks_history (id int, title text, version int, changed timestamptz,
                            change_info jsonb, PRIMARY KEY (id, version));
INSERT INTO tasks VALUES (1, 'one', 'x', 1), (2, 'two', 'y', 0), (3, 'three', 'z', 2);
INSERT INTO tasks_history VALUES
    (1, 'on', 0, '2022-01-01 00:00+00', '{\"user_id\": \"ann\", \"remote_addr\": null}'),
    (3, 'thre', 0, '2022-01-02 00:00+00', NULL),
    (3, 'three?', 1, '2022-01-03 00:00+00', '{\"user_id\": \"ben\", \"extra\": {\"rationale\": \"typo\"}}');
";

#[tokio::test]
async fn convert_modes_dry_run_and_refusals() {
    let db = TestDb::new().await.expect("db");
    let url = db.url.as_str();
    ok(url, &["init"]);
    sql(&db, FIXTURE).await;

    // one mode is required, and only one
    // (clap's usage errors: several lines, exit code 2)
    let usage = chrononaut(url, &["convert", "tasks"]);
    assert_eq!(usage.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&usage.stderr).contains("--chunk"));
    let both = chrononaut(url, &["convert", "tasks", "--all", "--chunk", "2"]);
    assert_eq!(both.status.code(), Some(2));

    let out = ok(url, &["convert", "tasks", "--chunk", "2", "--dry-run"]);
    assert!(out.starts_with("dry run: nothing written"), "{out}");
    assert!(
        out.contains("chunk 1: 2 records (ids 1..2), 3 rows to write"),
        "{out}"
    );
    assert!(
        out.contains("chunk 2: 1 records (ids 3..3), 3 rows to write"),
        "{out}"
    );
    assert!(out.contains("sample rows:"), "{out}");
    assert_eq!(count(&db).await, 0);

    let out = ok(
        url,
        &["convert", "tasks", "--chunk", "2", "--max-chunks", "1"],
    );
    assert!(
        out.contains("converted 2 records: 3 history rows written"),
        "{out}"
    );
    assert!(
        out.contains("left out, never in the legacy history"),
        "{out}"
    );
    assert!(
        out.contains("stopped after 1 chunks; 1 records left"),
        "{out}"
    );
    assert!(out.contains("next: run the same command again"), "{out}");

    let out = ok(url, &["convert", "tasks", "--chunk", "2"]);
    assert!(
        out.contains("converted 1 records: 3 history rows written"),
        "{out}"
    );
    assert!(out.contains("nothing left to convert"), "{out}");
    assert!(out.contains("--update-from "), "{out}");
    assert!(
        out.contains(
            "next: record new changes with the triggers: chrononaut track tasks --hidden pin"
        ),
        "{out}"
    );
    assert_eq!(count(&db).await, 6);

    // a full pass over converted data is refused, in one line
    let err = fails(url, &["convert", "tasks", "--all"]);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.starts_with(
            "chrononaut: error: cannot convert legacy history: public.tasks was already converted"
        ),
        "{err}"
    );
    let forced: Value = serde_json::from_str(&ok(
        url,
        &["convert", "tasks", "--all", "--force", "--json"],
    ))
    .expect("json");
    assert_eq!(forced["rows"], 0);
    assert_eq!(forced["skipped_rows"], 6);
    assert_eq!(count(&db).await, 6);

    // later legacy changes come over with --update-from
    sql(
        &db,
        "INSERT INTO tasks_history VALUES (2, 'two', 0, '2030-01-01 00:00+00', '{\"user_id\": \"cy\"}'); \
         UPDATE tasks SET title = 'two!', version = 1 WHERE id = 2;",
    )
    .await;
    let bad = fails(url, &["convert", "tasks", "--update-from", "soon"]);
    assert!(bad.contains("is not a time"), "{bad}");
    let update: Value = serde_json::from_str(&ok(
        url,
        &[
            "convert",
            "tasks",
            "--update-from",
            "2029-12-31 00:00",
            "--json",
        ],
    ))
    .expect("json");
    assert_eq!(update["mode"], "update");
    assert_eq!(update["objects"], 1);
    assert_eq!(update["rows"], 1);
    assert_eq!(count(&db).await, 7);

    // errors are one line
    let err = fails(url, &["convert", "nope", "--all"]);
    assert!(
        err.starts_with("chrononaut: error: unknown table: nope"),
        "{err}"
    );
    let err = fails(
        url,
        &["convert", "tasks", "--all", "--history-table", "missing"],
    );
    assert!(err.contains("no legacy history table missing"), "{err}");
}

/// Piped, a long conversion prints plain progress lines on stderr (a bar only on a terminal),
/// and stdout keeps only the report.
#[tokio::test]
async fn a_long_piped_conversion_prints_plain_progress_lines() {
    let db = TestDb::new().await.expect("db");
    let url = db.url.as_str();
    ok(url, &["init"]);
    sql(&db, FIXTURE).await;
    // three chunks of one record, 1.1 s apart: the progress line's two seconds pass
    let out = chrononaut(
        url,
        &["convert", "tasks", "--chunk", "1", "--pause-ms", "1100"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("chrononaut: converted ") && l.contains("/3 records, ")),
        "{stderr}"
    );
    assert!(
        !stderr.contains('\r') && !stderr.contains('\u{1b}'),
        "{stderr:?}"
    );
    assert!(!stdout.contains("chrononaut: converted "), "{stdout}");
    assert_eq!(count(&db).await, 6);
}
