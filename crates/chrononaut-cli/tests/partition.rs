//! `chrononaut init --partition`, `partitions [--maintain]` and `status` on a partitioned
//! activity table.

mod common;

use chrononaut_testdb::TestDb;
use common::{fails, ok, ok_json, sql};

#[tokio::test]
async fn init_partition_status_and_maintain() {
    let db = TestDb::new().await.expect("db");
    let url = db.url.clone();
    let out = ok(&url, &["init", "--partition", "weekly", "--ahead", "2"]);
    assert!(
        out.contains("history is partitioned weekly; created 3 partition(s)"),
        "{out}"
    );
    let list = ok(&url, &["partitions"]);
    assert!(
        list.contains("history partitioned weekly: 3 partition(s) + DEFAULT, kept 2 ahead"),
        "{list}"
    );
    assert!(list.contains("partitions exist until "), "{list}");
    assert!(
        list.contains("public.chrononaut_activity_default    DEFAULT"),
        "{list}"
    );
    assert!(!list.contains("warning"), "{list}");

    // history that no partition takes goes to DEFAULT: status warns, maintain moves it
    sql(
        &db,
        "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'a'); \
         INSERT INTO chrononaut_activity (table_name, changed, version, key, data, user_info, extra_info) \
         VALUES ('old', '2001-02-03 04:05:06+00', 1, '{\"id\": 1}', '{}', '{}', '{}')",
    )
    .await;
    let status = ok(&url, &["status"]);
    assert!(
        status.contains("warning: 1 history row(s) in the DEFAULT partition; `chrononaut partitions --maintain` moves them"),
        "{status}"
    );
    let out = ok(&url, &["partitions", "--maintain"]);
    assert!(
        out.contains("created public.chrononaut_activity_p20010129 (2001-01-29 00:00:00Z .. 2001-02-05 00:00:00Z), moved 1 row(s) from DEFAULT into it"),
        "{out}"
    );
    assert!(!out.contains("warning"), "{out}");
    assert!(ok(&url, &["partitions", "--maintain"]).contains("partitions are up to date"));

    // track maintains too, and the baseline lands in the current week's partition
    sql(
        &db,
        "INSERT INTO chrononaut_activity (table_name, changed, version, key, data, user_info, extra_info) \
         VALUES ('old', '2002-02-03 04:05:06+00', 2, '{\"id\": 1}', '{}', '{}', '{}')",
    )
    .await;
    ok(&url, &["track", "t"]);
    let json = ok_json(&url, &["partitions"]);
    let p = &json["partitioning"];
    assert_eq!(p["partitioning"], "weekly");
    assert_eq!(p["default_rows"], 0);
    let parts = p["partitions"].as_array().expect("partitions");
    assert_eq!(parts.len(), 6, "{json}");
    assert_eq!(
        parts
            .iter()
            .map(|p| p["rows"].as_i64().unwrap_or(-1))
            .sum::<i64>(),
        3,
        "{json}"
    );
    let verify = ok(&url, &["verify"]);
    assert!(verify.contains("ok: no tampering found"), "{verify}");

    // another granularity is refused, in one line
    let e = fails(&url, &["init", "--partition", "monthly"]);
    assert!(e.contains("already partitioned weekly"), "{e}");
    // --ahead needs --partition
    let out = common::chrononaut(&url, &["init", "--ahead", "3"]);
    assert!(!out.status.success());

    // a role that does not own the activity table may not maintain it
    let role = format!("{}_nonowner", db.name);
    sql(
        &db,
        &format!("CREATE ROLE \"{role}\" LOGIN PASSWORD 'pw' IN ROLE chrononaut_admin"),
    )
    .await;
    let other = url.replacen("postgres://postgres@", &format!("postgres://{role}:pw@"), 1);
    let e = fails(&other, &["partitions", "--maintain"]);
    assert!(e.contains("permission denied: only the owner"), "{e}");
    drop(db);
    // roles are cluster-wide: drop it once the database is gone
    let admin = chrononaut_testdb::server_url().await.expect("server");
    let pool = sqlx::PgPool::connect(&admin).await.expect("admin pool");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP ROLE IF EXISTS \"{role}\""
    )))
    .execute(&pool)
    .await
    .expect("drop role");
}

#[tokio::test]
async fn an_unpartitioned_install_and_its_conversion() {
    let db = TestDb::new().await.expect("db");
    ok(&db.url, &["init"]);
    let out = ok(&db.url, &["partitions"]);
    assert!(
        out.contains("the activity table is not partitioned"),
        "{out}"
    );
    let status = ok(&db.url, &["status"]);
    assert!(!status.contains("partitioned"), "{status}");
    sql(
        &db,
        "INSERT INTO chrononaut_activity (table_name, changed, version, key, data, user_info, extra_info) \
         VALUES ('old', '2001-02-03 04:05:06+00', 1, '{\"id\": 1}', '{}', '{}', '{}')",
    )
    .await;
    let plan = ok(&db.url, &["init", "--partition", "monthly", "--dry-run"]);
    assert!(plan.contains("would convert \"public\".chrononaut_activity to partitioned monthly (3 ahead): 1 row(s) from 2001-02-03 04:05:06Z"), "{plan}");
    assert!(plan.contains("  chrononaut_activity_p20010201  2001-02-01 00:00:00Z .. 2001-03-01 00:00:00Z  1 row(s)"), "{plan}");
    assert!(plan.contains("locks: ACCESS EXCLUSIVE on"), "{plan}");
    assert!(ok(&db.url, &["partitions"]).contains("not partitioned"));
    let out = ok(&db.url, &["init", "--partition", "monthly"]);
    assert!(
        out.contains("to a partitioned table: 1 row(s) copied in"),
        "{out}"
    );
    let list = ok(&db.url, &["partitions"]);
    assert!(
        list.contains(
            "public.chrononaut_activity_p20010201  2001-02-01 00:00:00Z .. 2001-03-01 00:00:00Z  1"
        ),
        "{list}"
    );
    let ddl = ok(&db.url, &["init", "--print-sql", "--partition", "daily"]);
    assert!(ddl.contains("PARTITION BY RANGE (changed)"));
}
