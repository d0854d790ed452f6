//! `chrononaut prune` and `chrononaut archive verify`, as a person runs them.

mod common;
use common::*;

use chrononaut_testdb::TestDb;

/// A database whose activity table is partitioned by month (a year back to three months
/// ahead, and DEFAULT), chrononaut installed by `init`, `items` tracked with Python-shaped
/// history 2 to 10 months old.
async fn partitioned() -> TestDb {
    let db = TestDb::new().await.expect("test database");
    sql(
        &db,
        "CREATE TABLE chrononaut_activity (id bigserial, table_name text NOT NULL, \
             changed timestamptz NOT NULL, version integer NOT NULL DEFAULT 0, \
             key jsonb NOT NULL DEFAULT '{}', data jsonb NOT NULL DEFAULT '{}', \
             user_info jsonb NOT NULL DEFAULT '{}', extra_info jsonb NOT NULL DEFAULT '{}', \
             PRIMARY KEY (id, changed)) PARTITION BY RANGE (changed); \
         DO $$ DECLARE m timestamp := date_trunc('month', now() AT TIME ZONE 'UTC') - interval '12 months'; \
         BEGIN FOR i IN 0..15 LOOP \
             EXECUTE format('CREATE TABLE %I PARTITION OF chrononaut_activity FOR VALUES FROM (%L) TO (%L)', \
                 'chrononaut_activity_' || to_char(m, 'YYYYMM'), (m AT TIME ZONE 'UTC')::text, \
                 ((m + interval '1 month') AT TIME ZONE 'UTC')::text); \
             m := m + interval '1 month'; \
         END LOOP; END $$; \
         CREATE TABLE chrononaut_activity_default PARTITION OF chrononaut_activity DEFAULT; \
         CREATE TABLE items (id int PRIMARY KEY, v text);",
    )
    .await;
    let url = db.url.as_str();
    ok(url, &["init"]);
    ok(url, &["track", "items"]);
    sql(
        &db,
        "INSERT INTO chrononaut_activity (table_name, changed, version, key, data) \
         SELECT 'items', date_trunc('month', now()) - make_interval(months => m) + interval '1 day', \
                10 - m, '{\"id\": 1}', jsonb_build_object('id', 1, 'v', 'v' || (10 - m)) \
         FROM generate_series(2, 10) AS m",
    )
    .await;
    db
}

/// The first day of the month `months` months ago (UTC), as `YYYY-MM-DD`.
fn month_start(months: u32) -> String {
    use chrono::{Datelike, Months, Utc};
    let now = Utc::now().date_naive().with_day(1).expect("day 1");
    (now - Months::new(months)).format("%Y-%m-%d").to_string()
}

#[tokio::test]
async fn prune_archive_and_verify_from_the_shell() {
    let db = partitioned().await;
    let url = db.url.as_str();
    let before = month_start(4);
    let out = ok(url, &["prune", "--before", &before, "--dry-run"]);
    assert!(out.contains("would remove"), "{out}");
    assert!(out.contains("dry run: history before"), "{out}");
    assert!(out.contains("(6 rows)"), "{out}");

    let dir = std::env::temp_dir().join(format!("chrononaut-cli-prune-{}", db.name));
    let _ = std::fs::remove_dir_all(&dir);
    let dir_arg = dir.to_string_lossy().into_owned();
    let report = ok_json(url, &["prune", "--before", &before, "--archive", &dir_arg]);
    assert_eq!(report["rows"], 6);
    assert_eq!(report["checkpoints"], 1);
    assert_eq!(report["dry_run"], false);
    let out = ok(url, &["archive", "verify", &dir_arg]);
    assert!(out.starts_with("ok: "), "{out}");
    assert!(out.contains("6 rows"), "{out}");
    let out = ok(url, &["verify"]);
    assert!(out.contains("pruned: history before"), "{out}");
    assert!(out.trim_end().ends_with("ok: no tampering found"), "{out}");
    // the record reads the same from the cut on: `log` shows the checkpoint and the rest
    let out = ok(url, &["log", "items", "id=1"]);
    assert!(out.lines().count() >= 4, "{out}");
    // nothing left before the same time
    let out = ok(url, &["prune", "--before", &before]);
    assert!(out.starts_with("nothing to prune"), "{out}");

    // a damaged archive fails with one line, naming the count of problems
    let manifest = dir.join("manifest.json");
    let text = std::fs::read_to_string(&manifest).expect("manifest");
    let forged = text.replacen("\"rows\": 6", "\"rows\": 5", 1);
    assert_ne!(forged, text);
    std::fs::write(&manifest, forged).expect("write");
    let (stdout, err) = fails_with_stdout(url, &["archive", "verify", "--offline", &dir_arg]);
    assert!(err.contains("archive verification failed"), "{err}");
    assert!(stdout.contains("BROKEN"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn prune_refuses_an_unpartitioned_history_in_one_line() {
    let db = TestDb::new().await.expect("test database");
    let url = db.url.as_str();
    ok(url, &["init"]);
    let err = fails(url, &["prune", "--before", "2020-01-01"]);
    assert!(err.contains("not partitioned"), "{err}");
    let err = fails(
        url,
        &["archive", "verify", "/nonexistent-chrononaut-archive"],
    );
    assert!(err.contains("manifest.json"), "{err}");
}

#[tokio::test]
async fn track_keep_and_prune_by_policy() {
    let db = partitioned().await;
    let url = db.url.as_str();
    let err = fails(url, &["prune"]);
    assert!(err.contains("keeps its history forever"), "{err}");
    let err = fails(url, &["track", "items", "--keep", "0d"]);
    assert!(err.contains("positive"), "{err}");
    let err = fails(url, &["track", "items", "--keep", "3 fortnights"]);
    assert!(err.contains("days (400d)"), "{err}");
    let out = ok(url, &["track", "items", "--keep", "17w", "--no-baseline"]);
    assert!(out.contains("keep:           119 days"), "{out}");
    let out = ok(url, &["status"]);
    assert!(out.contains("keep:           119 days"), "{out}");
    let report = ok_json(url, &["prune", "--dry-run"]);
    assert_eq!(report["dry_run"], true);
    assert!(report["rows"].as_i64().is_some_and(|n| n >= 5), "{report}");
    let out = ok(url, &["prune"]);
    assert!(out.contains("pruned: history before"), "{out}");
    let out = ok(
        url,
        &["track", "items", "--keep", "forever", "--no-baseline"],
    );
    assert!(out.contains("keep:           forever"), "{out}");
}
