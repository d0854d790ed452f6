//! Installing: idempotent, concurrent, adopting the Python library's activity table.

mod common;

use chrononaut::{Error, SCHEMA_VERSION, TrackOptions};
use serde_json::{Value, json};

const PYTHON_TABLE: &str = "
    CREATE TABLE chrononaut_activity (
        id bigserial PRIMARY KEY,
        table_name text NOT NULL,
        changed timestamptz NOT NULL,
        version integer NOT NULL DEFAULT 0,
        key jsonb NOT NULL DEFAULT '{}',
        data jsonb NOT NULL DEFAULT '{}',
        user_info jsonb NOT NULL DEFAULT '{}',
        extra_info jsonb NOT NULL DEFAULT '{}'
    );
    CREATE INDEX ix_chrononaut_activity_key_table_name ON chrononaut_activity (key, table_name);
    INSERT INTO chrononaut_activity (table_name, changed, version, key, data, user_info, extra_info) VALUES
        ('items', '2020-01-01T00:00:00Z', 0, '{\"id\": 1}', '{\"id\": 1, \"v\": \"a\", \"version\": 0}',
         '{\"user_id\": \"py\", \"remote_addr\": \"1.1.1.1\"}', '{}'),
        ('items', '2020-01-02T00:00:00Z', 1, '{\"id\": 1}', '{\"id\": 1, \"v\": \"b\", \"version\": 1}',
         '{\"user_id\": \"py\", \"remote_addr\": null}', '{\"rationale\": \"fix\"}');";

async fn schema_snapshot(t: &common::Ctx) -> Value {
    t.json(
        "SELECT jsonb_build_object(
            'schemas', (SELECT jsonb_agg(nspname ORDER BY nspname) FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'),
            'columns', (SELECT jsonb_agg(attname ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'chrononaut_activity'::regclass AND attnum > 0 AND NOT attisdropped),
            'triggers', (SELECT count(*) FROM pg_trigger WHERE tgrelid = 'chrononaut_activity'::regclass))",
    )
    .await
}

#[tokio::test]
async fn install_twice_is_idempotent() {
    let t = common::bare().await;
    let mut conn = t.pool.acquire().await.unwrap();
    let first = t.ch.install(&mut conn).await.unwrap();
    assert_eq!(first.schema_version, SCHEMA_VERSION);
    assert_eq!(first.previous_version, None);
    assert!(!first.adopted_existing_table);
    assert_eq!(first.activity_table, "\"public\".chrononaut_activity");
    drop(conn);
    t.exec("CREATE TABLE i (id int PRIMARY KEY, v int)").await;
    t.track("i", &TrackOptions::new().strict(false)).await;
    t.exec("INSERT INTO i VALUES (1, 1)").await;
    let before = t.activity_dump().await;
    let mut conn = t.pool.acquire().await.unwrap();
    let second = t.ch.install(&mut conn).await.unwrap();
    assert_eq!(second.previous_version, Some(SCHEMA_VERSION));
    assert!(!second.adopted_existing_table);
    drop(conn);
    assert_eq!(t.activity_dump().await, before);
    // tracking survives a re-install
    t.exec("UPDATE i SET v = 2").await;
    assert_eq!(t.activity_count().await, 2);
}

#[tokio::test]
async fn concurrent_installs_all_succeed() {
    let t = common::bare().await;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let url = t.db.url.clone();
        tasks.push(tokio::spawn(async move {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&url).await?;
            chrononaut::Chrononaut::new()
                .install(&mut conn)
                .await
                .map_err(|e| sqlx::Error::Protocol(e.to_string()))
        }));
    }
    let mut fresh = 0;
    for task in tasks {
        let report = task.await.unwrap().unwrap();
        if report.previous_version.is_none() {
            fresh += 1;
        }
    }
    assert_eq!(fresh, 1, "exactly one install found nothing before it");
    t.exec("CREATE TABLE c (id int PRIMARY KEY)").await;
    t.track("c", &TrackOptions::new()).await;
    t.exec("INSERT INTO c VALUES (1)").await;
    assert_eq!(t.activity_count().await, 1);
}

#[tokio::test]
async fn adopts_the_python_activity_table() {
    let t = common::bare().await;
    t.exec(PYTHON_TABLE).await;
    let before = t.activity_dump().await;
    assert_eq!(before.len(), 2);
    let mut conn = t.pool.acquire().await.unwrap();
    let report = t.ch.install(&mut conn).await.unwrap();
    drop(conn);
    assert!(report.adopted_existing_table);
    assert_eq!(report.previous_version, None);
    let after = t.activity_dump().await;
    let expected: Vec<Value> = before
        .iter()
        .map(|row| {
            let mut row = row.clone();
            row["operation"] = Value::Null;
            // the tamper-evidence columns: NULL on rows chrononaut did not write
            row["prev_hash"] = Value::Null;
            row["hash"] = Value::Null;
            row
        })
        .collect();
    assert_eq!(after, expected);
    // a Python writer that knows only the eight columns still works
    t.exec(
        "INSERT INTO chrononaut_activity (table_name, changed, version, key, data, user_info, extra_info) \
         VALUES ('items', now(), 2, '{\"id\": 1}', '{}', '{}', '{}')",
    )
    .await;
    // the library's own rows continue in the same table, and history is now append-only
    t.exec("CREATE TABLE items (id int PRIMARY KEY, v text); INSERT INTO items VALUES (2, 'x');")
        .await;
    t.track("items", &TrackOptions::new()).await;
    t.exec("UPDATE items SET v = 'y'").await;
    assert_eq!(
        t.json("SELECT jsonb_agg(jsonb_build_array(key, version, operation) ORDER BY id) FROM chrononaut_activity")
            .await,
        json!([[{"id": 1}, 0, null], [{"id": 1}, 1, null], [{"id": 1}, 2, null], [{"id": 2}, 1, "update"]])
    );
    let e = t.exec_err("DELETE FROM chrononaut_activity").await;
    assert!(
        common::is_sqlstate(&e, chrononaut::SQLSTATE_APPEND_ONLY),
        "{e}"
    );
}

#[tokio::test]
async fn adopted_python_history_continues_on_re_insert() {
    let t = common::bare().await;
    t.exec(PYTHON_TABLE).await;
    let mut conn = t.pool.acquire().await.unwrap();
    t.ch.install(&mut conn).await.unwrap();
    drop(conn);
    // the record the Python library versioned (v0, v1) was deleted outside chrononaut and comes back
    t.exec("CREATE TABLE items (id int PRIMARY KEY, v text)")
        .await;
    t.track("items", &TrackOptions::new()).await;
    t.exec("INSERT INTO items VALUES (1, 'c')").await;
    assert_eq!(t.scalar_i64("SELECT version::int8 FROM items").await, 2);
}

#[tokio::test]
async fn incompatible_activity_table_is_refused_without_change() {
    for (ddl, what) in [
        (
            "CREATE TABLE chrononaut_activity (id bigserial PRIMARY KEY, table_name text NOT NULL, \
             changed timestamptz NOT NULL, version integer NOT NULL DEFAULT 0, key jsonb, data jsonb, \
             user_info jsonb)",
            "extra_info",
        ),
        (
            "CREATE TABLE chrononaut_activity (id bigserial PRIMARY KEY, table_name text NOT NULL, \
             changed timestamptz NOT NULL, version integer NOT NULL DEFAULT 0, key json, data jsonb, \
             user_info jsonb, extra_info jsonb)",
            "key",
        ),
    ] {
        let t = common::bare().await;
        t.exec(ddl).await;
        t.exec("INSERT INTO chrononaut_activity (table_name, changed) VALUES ('x', now())")
            .await;
        let before_rows = t.activity_dump().await;
        let before = schema_snapshot(&t).await;
        let mut conn = t.pool.acquire().await.unwrap();
        match t.ch.install(&mut conn).await {
            Err(Error::IncompatibleActivityTable(msg)) => assert!(msg.contains(what), "{msg}"),
            other => panic!("expected IncompatibleActivityTable, got {other:?}"),
        }
        drop(conn);
        assert_eq!(schema_snapshot(&t).await, before);
        assert_eq!(t.activity_dump().await, before_rows);
        let schemas = before["schemas"].as_array().cloned().unwrap_or_default();
        assert!(!schemas.contains(&json!("chrononaut")), "{before}");
    }
}

/// An install over an older one regenerates the capture functions of tracked tables whose
/// generated DDL changed (here: faked by an outdated fingerprint and a dropped trigger).
#[tokio::test]
async fn install_regenerates_outdated_capture_functions() {
    let t = common::setup().await;
    t.exec("CREATE TABLE up (id int PRIMARY KEY, v text)").await;
    t.track("up", &chrononaut::TrackOptions::new().hidden(["v"]))
        .await;
    t.exec(
        "DROP TRIGGER zz_chrononaut_version ON up; \
         UPDATE chrononaut.tracked SET ddl_fingerprint = 'outdated'",
    )
    .await;
    let mut conn = t.pool.acquire().await.expect("connection");
    let report = t.ch.install(&mut conn).await.expect("install");
    assert_eq!(report.regenerated_tables, 1);
    assert!(
        t.triggers("up")
            .await
            .contains(&"zz_chrononaut_version".to_owned())
    );
    // options kept
    t.exec("INSERT INTO up VALUES (1, 'secret'); UPDATE up SET v = 'other' WHERE id = 1")
        .await;
    let h = t.history("up").await;
    assert_eq!(h.len(), 2);
    assert_eq!(h[1]["data"], serde_json::json!({"id": 1, "version": 1}));
    // a second install finds nothing to do
    let report = t.ch.install(&mut conn).await.expect("install");
    assert_eq!(report.regenerated_tables, 0);
}

/// A database whose schema is older than the library's (the library was upgraded, `init` not
/// yet run): changes of tracking get a clear error instead of a missing column, reads work;
/// `install` upgrades it in place.
#[tokio::test]
async fn an_older_schema_asks_for_init_and_install_upgrades_it() {
    let t = common::setup().await;
    t.exec("CREATE TABLE items (id int PRIMARY KEY, v text)")
        .await;
    t.track("items", &TrackOptions::new()).await;
    let older = SCHEMA_VERSION - 1;
    t.exec(&format!(
        "UPDATE chrononaut.meta SET value = '{older}' WHERE key = 'schema_version'"
    ))
    .await;
    let mut conn = t.pool.acquire().await.expect("connection");
    assert_eq!(t.ch.status(&mut conn).await.expect("status").len(), 1);
    match t.ch.track(&mut conn, "items", &TrackOptions::new()).await {
        Err(Error::SchemaTooOld { found, supported }) => {
            assert_eq!((found, supported), (older, SCHEMA_VERSION));
        }
        other => panic!("expected SchemaTooOld, got {other:?}"),
    }
    // the reads work on schema 4 (its read functions are all they need; 5 added record heads
    // for the capture) and not on older ones
    t.ch.record(&mut conn, "items", serde_json::json!({"id": 1}))
        .await
        .expect("a read on schema 4");
    t.exec("UPDATE chrononaut.meta SET value = '3' WHERE key = 'schema_version'")
        .await;
    match t
        .ch
        .record(&mut conn, "items", serde_json::json!({"id": 1}))
        .await
    {
        Err(Error::SchemaTooOld { found, .. }) => assert_eq!(found, 3),
        other => panic!("expected SchemaTooOld, got {other:?}"),
    }
    let report = t.ch.install(&mut conn).await.expect("upgrade");
    assert_eq!(report.previous_version, Some(3));
    assert_eq!(report.schema_version, SCHEMA_VERSION);
    assert_eq!(t.ch.status(&mut conn).await.expect("status").len(), 1);
}
