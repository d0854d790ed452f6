//! `lock`, `unlock`, `locks`, `verify`, `digest` of the `chrononaut` binary.

mod common;
use common::*;

use chrononaut_testdb::TestDb;
use serde_json::json;

async fn sql(db: &TestDb, sql: &str) -> Result<(), sqlx::Error> {
    let pool = db.pool().await.expect("pool");
    let r = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&pool)
        .await
        .map(|_| ());
    pool.close().await;
    r
}

async fn fixture() -> TestDb {
    let db = TestDb::new().await.expect("test database");
    ok(&db.url, &["init"]);
    sql(
        &db,
        "CREATE TABLE orders (org text, num int, total int, PRIMARY KEY (org, num))",
    )
    .await
    .expect("create");
    ok(&db.url, &["track", "orders"]);
    sql(
        &db,
        "INSERT INTO orders VALUES ('acme', 7, 100), ('acme', 8, 200); \
         UPDATE orders SET total = 150 WHERE num = 7;",
    )
    .await
    .expect("writes");
    db
}

#[tokio::test]
async fn lock_unlock_and_list_records() {
    let db = fixture().await;
    let url = db.url.as_str();
    let out = ok(
        url,
        &["lock", "orders", "org=acme,num=7", "--reason", "disputed"],
    );
    assert!(out.starts_with("locked public.orders "), "{out}");
    assert!(out.contains("locked by postgres at "), "{out}");
    assert!(out.trim_end().ends_with(": disputed"), "{out}");

    let err = sql(&db, "UPDATE orders SET total = 0 WHERE num = 7")
        .await
        .expect_err("locked");
    let message = err
        .as_database_error()
        .map(|e| e.message().to_owned())
        .unwrap_or_default();
    assert!(message.contains("is locked by postgres since"), "{message}");
    assert!(message.contains("disputed"), "{message}");
    sql(&db, "UPDATE orders SET total = 0 WHERE num = 8")
        .await
        .expect("not locked");

    let (_, err) = fails_with_stdout(
        url,
        &[
            "lock",
            "orders",
            "{\"org\": \"acme\", \"num\": 7}",
            "--reason",
            "x",
        ],
    );
    assert!(err.contains("already locked by postgres"), "{err}");
    let (_, err) = fails_with_stdout(url, &["lock", "orders", "org=acme,num=9", "--reason", "x"]);
    assert!(err.contains("has no record"), "{err}");
    let (_, err) = fails_with_stdout(url, &["lock", "orders", "org=acme", "--reason", "x"]);
    assert!(err.contains("no value for \"num\""), "{err}");

    let locks = ok_json(url, &["locks"]);
    assert_eq!(locks.as_array().map(Vec::len), Some(1));
    assert_eq!(locks[0]["key"], json!({"org": "acme", "num": 7}));
    assert_eq!(locks[0]["reason"], json!("disputed"));
    let text = ok(url, &["locks", "orders"]);
    assert_eq!(text.lines().count(), 1, "{text}");

    ok(url, &["unlock", "orders", "org=acme,num=7"]);
    assert_eq!(ok(url, &["locks"]).trim(), "no locks");
    let (_, err) = fails_with_stdout(url, &["unlock", "orders", "org=acme,num=7"]);
    assert!(err.contains("is not locked"), "{err}");
    sql(&db, "UPDATE orders SET total = 1 WHERE num = 7")
        .await
        .expect("unlocked");

    // freeze the whole table
    ok(url, &["lock", "orders", "--table", "--reason", "closing"]);
    let err = sql(&db, "INSERT INTO orders VALUES ('b', 1, 1)")
        .await
        .expect_err("frozen");
    assert!(err.to_string().contains("closing"), "{err}");
    ok(url, &["unlock", "orders", "--table"]);
    sql(&db, "INSERT INTO orders VALUES ('b', 1, 1)")
        .await
        .expect("unfrozen");
}

#[tokio::test]
async fn verify_and_digest() {
    let db = fixture().await;
    let url = db.url.as_str();
    let out = ok(url, &["verify"]);
    assert!(
        out.contains("orders: 3 history rows, 3 chained, 0 unchained"),
        "{out}"
    );
    assert!(out.trim_end().ends_with("ok: no tampering found"), "{out}");
    let report = ok_json(url, &["verify", "orders"]);
    assert_eq!(report["issues"], json!([]));

    let dir = std::env::temp_dir().join(format!("chrononaut-digest-{}", db.name));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("digest.json");
    let file_arg = file.to_string_lossy().into_owned();
    let out = ok(url, &["digest", "--output", &file_arg]);
    assert!(out.contains("digest of 1 table(s)"), "{out}");
    let out = ok(url, &["verify", "--digest", &file_arg]);
    assert!(out.contains("(history matches the digest)"), "{out}");

    // a superuser edits a version: the chain catches it (the digest pins the hashes, which
    // the edit left alone; rewriting them too is what the digest catches, see the library's
    // tests)
    sql(
        &db,
        "ALTER TABLE chrononaut_activity DISABLE TRIGGER chrononaut_append_only; \
         UPDATE chrononaut_activity SET data = data || '{\"total\": 1}' WHERE version = 1; \
         ALTER TABLE chrononaut_activity ENABLE TRIGGER chrononaut_append_only;",
    )
    .await
    .expect("tamper");
    let (out, err) = fails_with_stdout(url, &["verify", "--digest", &file_arg]);
    assert!(
        out.contains("BROKEN orders {\"num\":7,\"org\":\"acme\"} version 1: content does not match its hash (edited)"),
        "{out}"
    );
    assert!(
        err.contains("history verification failed: 1 broken place(s)"),
        "{err}"
    );
    // ... and rewriting its hash (and the next row's link) passes the chains but not the digest
    sql(
        &db,
        "ALTER TABLE chrononaut_activity DISABLE TRIGGER chrononaut_append_only;          UPDATE chrononaut_activity SET hash = chrononaut.chain_hash(prev_hash, table_name, key, version, changed, data, user_info, extra_info, operation)          WHERE version = 1;          ALTER TABLE chrononaut_activity ENABLE TRIGGER chrononaut_append_only;",
    )
    .await
    .expect("rewrite");
    ok(url, &["verify"]);
    let (out, _) = fails_with_stdout(url, &["verify", "--digest", &file_arg]);
    assert!(out.contains("BROKEN orders: history up to id"), "{out}");

    std::fs::write(&file, "not json").expect("write");
    let (_, err) = fails_with_stdout(url, &["verify", "--digest", &file_arg]);
    assert!(err.contains("is not a chrononaut digest"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn log_shows_lock_events_among_the_versions() {
    let db = fixture().await;
    let url = db.url.as_str();
    ok(
        url,
        &["lock", "orders", "org=acme,num=7", "--reason", "disputed"],
    );
    ok(url, &["unlock", "orders", "org=acme,num=7"]);
    ok(url, &["lock", "orders", "--table", "--reason", "closing"]);
    let log = ok(url, &["log", "orders", "org=acme,num=7"]);
    let ops: Vec<&str> = log
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(3))
        .collect();
    assert_eq!(ops, ["insert", "update", "lock", "unlock"], "{log}");
    assert!(
        log.lines().nth(3).is_some_and(|l| l.contains("disputed")),
        "{log}"
    );
    let json = ok_json(url, &["log", "orders", "org=acme,num=7"]);
    assert_eq!(json[2]["operation"], "lock");
    assert_eq!(json[2]["reason"], "disputed");
    assert_eq!(json[2]["db_user"], "postgres");
    assert_eq!(json[2]["version"], 1);
    assert_eq!(json[3]["operation"], "unlock");
    // --limit counts them too
    let json = ok_json(url, &["log", "orders", "org=acme,num=7", "--limit", "2"]);
    assert_eq!(json.as_array().map(Vec::len), Some(2));
    assert_eq!(json[1]["operation"], "unlock");
    // the table's log, newest first, with the freeze
    let table = ok_json(url, &["log", "orders"]);
    assert_eq!(table[0]["operation"], "lock");
    assert_eq!(table[0]["key"], json!(null));
    assert_eq!(table[0]["extra_info"]["reason"], "closing");
    let text = ok(url, &["log", "orders"]);
    assert!(
        text.lines()
            .nth(1)
            .is_some_and(|l| l.contains("(table)") && l.contains("closing")),
        "{text}"
    );
    let out = ok(url, &["verify"]);
    assert!(
        out.contains("orders: 3 history rows, 3 chained, 0 unchained, 3 lock events"),
        "{out}"
    );
    ok(url, &["unlock", "orders", "--table"]);
}

/// `track --no-chain`: shown by track, no hash written, and verify says why the table's rows
/// are unchained instead of calling them tampering.
#[tokio::test]
async fn track_no_chain_and_verify() {
    let db = fixture().await;
    let url = db.url.as_str();
    let out = ok(url, &["track", "orders", "--no-chain"]);
    assert!(out.contains("hash chain:     no (--no-chain)"), "{out}");
    sql(&db, "UPDATE orders SET total = total + 1")
        .await
        .expect("writes");
    let out = ok(url, &["verify", "orders"]);
    assert!(
        out.contains("orders: 5 history rows, 3 chained, 2 unchained")
            && out.contains("tracked with --no-chain"),
        "{out}"
    );
    assert!(out.trim_end().ends_with("ok: no tampering found"), "{out}");
    let report = ok_json(url, &["verify", "orders"]);
    assert_eq!(report["tables"][0]["no_chain"], json!(true));
}
