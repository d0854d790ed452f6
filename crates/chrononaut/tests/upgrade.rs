//! Upgrading a database written by an earlier release: `tests/fixtures/upgrade_from_v1.sql` is
//! a dump of a database made by chrononaut at commit 9d1e774 (schema version 1; made by
//! `fixtures/make_upgrade_from_v1.sh`), with six tracked tables (hidden, untracked,
//! record-changes, strict, composite key, a quoted name), baseline and chained history, a
//! locked record, a lock that was lifted, and a frozen table. `install` over it must bring
//! every tracked table's functions up to date and keep history, chains and locks.

mod common;

use chrononaut::{ChangeContext, Error, SCHEMA_VERSION, VersionFilter};
use serde_json::{Value, json};
use sqlx::Connection;

const FIXTURE: &str = include_str!("fixtures/upgrade_from_v1.sql");

/// The tracked tables of the fixture.
const TABLES: [&str; 6] = [
    "accounts",
    "notes",
    "lines",
    "ledger",
    "closed",
    "\"Order Items\"",
];

/// The history rows that are versions (not lock events), every column the fixture's release
/// wrote, in id order.
const VERSIONS: &str = "SELECT COALESCE(jsonb_agg(jsonb_build_object('id', id, 'table_name', table_name, \
     'changed', changed, 'version', version, 'key', key, 'data', data, 'user_info', user_info, \
     'extra_info', extra_info, 'operation', operation, 'prev_hash', prev_hash, 'hash', hash) \
     ORDER BY id), '[]') FROM chrononaut_activity \
     WHERE operation IS NULL OR operation IN ('insert', 'update', 'delete')";

/// Every function in schema chrononaut and every trigger on the fixture's tables, as
/// PostgreSQL prints them.
const DEFINITIONS: &str = "SELECT jsonb_build_object(
    'functions', (SELECT jsonb_object_agg(p.oid::regprocedure::text, pg_get_functiondef(p.oid))
                  FROM pg_proc p WHERE p.pronamespace = 'chrononaut'::regnamespace AND p.prokind = 'f'),
    'triggers', (SELECT jsonb_object_agg(tgrelid::regclass::text || ' ' || tgname, pg_get_triggerdef(oid))
                 FROM pg_trigger WHERE NOT tgisinternal AND tgrelid IN
                     ('accounts'::regclass, 'notes'::regclass, 'lines'::regclass, 'ledger'::regclass,
                      'closed'::regclass, '\"Order Items\"'::regclass)))";

/// A fresh database holding the fixture (chrononaut as 9d1e774 left it, not upgraded yet).
async fn restored() -> common::Ctx {
    let t = common::bare().await;
    // its own connection: the dump sets search_path and other settings for the session
    let mut conn = t.plain_connection().await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(FIXTURE))
        .execute(&mut conn)
        .await
        .expect("load the fixture");
    conn.close().await.expect("close");
    t
}

async fn lock_error(t: &common::Ctx, sql: &str) {
    let e = t.exec_err(sql).await;
    assert!(
        common::is_sqlstate(&e, chrononaut::SQLSTATE_RECORD_LOCKED),
        "{sql}: {e}"
    );
}

#[tokio::test]
async fn install_upgrades_a_database_made_by_the_first_release() {
    let t = restored().await;
    let versions_before = t.json(VERSIONS).await;
    assert_eq!(versions_before.as_array().map(Vec::len), Some(27));

    let mut conn = t.pool.acquire().await.expect("connection");
    let report = t.ch.install(&mut conn).await.expect("install");
    assert_eq!(report.previous_version, Some(1));
    assert_eq!(report.schema_version, SCHEMA_VERSION);
    assert_eq!(
        report.regenerated_tables,
        TABLES.len(),
        "every tracked table's functions are made again"
    );
    // no version of the old history is changed, lost or added
    assert_eq!(t.json(VERSIONS).await, versions_before);
    // the first release's history index (table_name, key, changed, version) is replaced by
    // the one with the key's hash before the key and id as its last key column; the Python
    // library's index stays as it was
    assert_eq!(
        t.json(
            "SELECT jsonb_agg(pg_get_indexdef(indexrelid) ORDER BY indexrelid::regclass::text) \
             FROM pg_index WHERE indrelid = 'chrononaut_activity'::regclass"
        )
        .await,
        json!([
            "CREATE UNIQUE INDEX chrononaut_activity_pkey ON public.chrononaut_activity USING btree (id)",
            "CREATE INDEX ix_chrononaut_activity_key_table_name ON public.chrononaut_activity USING btree (key, table_name)",
            "CREATE INDEX ix_chrononaut_activity_table_changed ON public.chrononaut_activity USING btree (table_name, changed, id) WHERE (id IS NOT NULL)",
            "CREATE INDEX ix_chrononaut_activity_table_key_changed ON public.chrononaut_activity USING btree (table_name, jsonb_hash(key), key, changed, version, id)",
        ])
    );
    // and the reads take it: the oldest and the latest version of a record
    let oldest: Value = t
        .json("SELECT to_jsonb(h) FROM chrononaut.record_history('accounts', '{\"id\": 1}', max_rows => 1) AS h")
        .await;
    assert_eq!(oldest["version"], json!(0), "{oldest}");
    let verified = t.ch.verify(&mut conn, None).await.expect("verify");
    assert!(verified.is_ok(), "{:?}", verified.issues);
    assert_eq!(verified.tables.len(), TABLES.len());
    // the fixture's lock rows (a lock, a lock and its unlock, a freeze) moved out of the
    // activity table, where a Python reader took them for versions, with their hashes
    assert_eq!(
        t.scalar_i64(
            "SELECT count(*) FROM chrononaut_activity WHERE operation IN ('lock', 'unlock')"
        )
        .await,
        0
    );
    assert_eq!(
        t.scalar_i64("SELECT count(*) FROM chrononaut.lock_events WHERE activity_id IS NOT NULL AND hash IS NOT NULL")
            .await,
        4
    );

    // The functions and triggers are those the current library makes: tracking every table
    // again with its stored options changes none of them.
    let statuses = t.ch.status(&mut conn).await.expect("status");
    assert_eq!(statuses.len(), TABLES.len());
    assert!(statuses.iter().all(|s| !s.stale), "{statuses:?}");
    let definitions = t.json(DEFINITIONS).await;
    for s in &statuses {
        t.ch.track(&mut conn, &s.table, &s.options)
            .await
            .expect("track again");
    }
    assert_eq!(t.json(DEFINITIONS).await, definitions);
    drop(conn);

    // The locks still hold: the locked record and the frozen table refuse changes.
    lock_error(&t, "UPDATE accounts SET balance = 0 WHERE id = 1").await;
    lock_error(&t, "DELETE FROM accounts WHERE id = 1").await;
    lock_error(&t, "INSERT INTO closed VALUES (2, 'late')").await;
    lock_error(&t, "UPDATE closed SET v = 'reopened'").await;
    let mut conn = t.pool.acquire().await.expect("connection");
    let locks = t.ch.locks(&mut conn, None).await.expect("locks");
    let held: Vec<(String, Option<Value>, String)> = locks
        .iter()
        .map(|l| (l.history_name.clone(), l.key.clone(), l.reason.clone()))
        .collect();
    assert_eq!(
        held,
        [
            (
                "accounts".to_owned(),
                Some(json!({"id": 1})),
                "audit 2024".to_owned()
            ),
            ("closed".to_owned(), None, "year closed".to_owned()),
        ]
    );
    drop(conn);

    // Writes continue each record's versions, through the regenerated functions.
    let ctx = ChangeContext::new()
        .user("upgrader")
        .rationale("after the upgrade");
    let mut tx = t.ch.begin(&t.pool, &ctx).await.expect("begin");
    for sql in [
        "UPDATE accounts SET balance = 9.25 WHERE id = 3", // v1 -> v2
        "UPDATE accounts SET last_login = now() WHERE id = 3", // untracked: no version
        "UPDATE accounts SET password_hash = 'h2c' WHERE id = 2", // hidden: v3 -> v4
        "INSERT INTO accounts VALUES (4, 'dave', 1.00, 'h4', NULL)", // new: v0
        "UPDATE notes SET body = 'second, edited' WHERE id = 2", // v0 -> v1
        "UPDATE lines SET qty = 41 WHERE org = 'acme' AND num = 20", // moved key: v2 -> v3
        "INSERT INTO lines VALUES ('beta', 1, 6)",         // deleted at v1: v2
        "UPDATE ledger SET amount = 0 WHERE id = 2",       // strict, with rationale
        "UPDATE \"Order Items\" SET \"Item Name\" = 'gizmo' WHERE id = 1", // v1 -> v2
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut *tx)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    tx.commit().await.expect("commit");
    let e = t
        .exec_err("UPDATE ledger SET amount = 1 WHERE id = 2")
        .await;
    assert!(common::is_sqlstate(&e, chrononaut::SQLSTATE_STRICT), "{e}");

    let db_user: String = sqlx::query_scalar("SELECT session_user::text")
        .fetch_one(&t.pool)
        .await
        .expect("session user");
    let new_rows = t
        .json(
            "SELECT jsonb_agg(jsonb_build_array(table_name, key, version, operation, data, \
             user_info, extra_info) ORDER BY id) FROM chrononaut_activity WHERE id > 31",
        )
        .await;
    // written as text: numerics compare as PostgreSQL printed them
    let expected: Value = serde_json::from_str(
        r#"[
        ["accounts", {"id": 3}, 2, "update",
         {"id": 3, "owner": "carol", "balance": 9.25, "version": 2}, WHO, WHY],
        ["accounts", {"id": 2}, 4, "update",
         {"id": 2, "owner": "bob again", "balance": 0.00, "version": 4}, WHO,
         {"rationale": "after the upgrade", "hidden_cols_changed": ["password_hash"]}],
        ["accounts", {"id": 4}, 0, "insert",
         {"id": 4, "owner": "dave", "balance": 1.00, "version": 0}, WHO,
         {"rationale": "after the upgrade", "hidden_cols_changed": ["password_hash"]}],
        ["notes", {"id": 2}, 1, "update", {"id": 2, "body": "second, edited", "version": 1}, WHO, WHY],
        ["lines", {"org": "acme", "num": 20}, 3, "update",
         {"org": "acme", "num": 20, "qty": 41, "version": 3}, WHO, WHY],
        ["lines", {"org": "beta", "num": 1}, 2, "insert",
         {"org": "beta", "num": 1, "qty": 6, "version": 2}, WHO, WHY],
        ["ledger", {"id": 2}, 1, "update", {"id": 2, "amount": 0, "version": 1}, WHO, WHY],
        ["Order Items", {"id": 1}, 2, "update", {"id": 1, "Item Name": "gizmo", "version": 2}, WHO, WHY]
        ]"#
        .replace(
            "WHO",
            r#"{"user_id": "upgrader", "remote_addr": null, "db_user": "DB_USER"}"#,
        )
        .replace("DB_USER", &db_user)
        .replace("WHY", r#"{"rationale": "after the upgrade"}"#)
        .as_str(),
    )
    .expect("expected rows");
    assert_eq!(new_rows, expected);
    // record-changes still fills the table's own columns
    assert_eq!(
        t.json("SELECT change_info - 'db_user' FROM notes WHERE id = 2")
            .await,
        json!({"user_id": "upgrader", "remote_addr": null, "extra": {"rationale": "after the upgrade"}})
    );
    t.assert_row_versions("accounts", "accounts", "jsonb_build_object('id', t.id)")
        .await;
    t.assert_row_versions(
        "lines",
        "lines",
        "jsonb_build_object('org', t.org, 'num', t.num)",
    )
    .await;

    // Unlocking works with the new functions, and the record then takes changes again; new
    // locks hold too.
    let mut conn = t.pool.acquire().await.expect("connection");
    t.ch.unlock(&mut conn, "accounts", json!({"id": 1}))
        .await
        .expect("unlock");
    t.ch.unfreeze(&mut conn, "closed").await.expect("unfreeze");
    t.ch.lock(&mut conn, "notes", json!({"id": 1}), "review")
        .await
        .expect("lock");
    drop(conn);
    t.exec(
        "UPDATE accounts SET balance = 352.00 WHERE id = 1; \
         INSERT INTO closed VALUES (2, 'late')",
    )
    .await;
    lock_error(&t, "UPDATE notes SET body = 'no' WHERE id = 1").await;

    // Reads: versions continue, lock events are not versions.
    let mut conn = t.pool.acquire().await.expect("connection");
    for (table, key, expected) in [
        ("accounts", json!({"id": 1}), vec![0, 1, 2, 3, 4]),
        ("accounts", json!({"id": 2}), vec![0, 1, 2, 3, 4]),
        ("accounts", json!({"id": 3}), vec![0, 1, 2]),
        ("lines", json!({"org": "beta", "num": 1}), vec![0, 1, 2]),
        ("closed", json!({"id": 2}), vec![0]),
    ] {
        let record =
            t.ch.record(&mut conn, table, key.clone())
                .await
                .expect("record");
        let versions: Vec<i32> = record
            .versions(&mut conn, &VersionFilter::new())
            .await
            .expect("versions")
            .iter()
            .map(|s| s.version())
            .collect();
        assert_eq!(versions, expected, "{table} {key}");
    }
    let record =
        t.ch.record(&mut conn, "accounts", json!({"id": 1}))
            .await
            .expect("record");
    let latest = record
        .latest(&mut conn)
        .await
        .expect("latest")
        .expect("a version");
    assert_eq!(latest.get("balance").expect("balance"), &json!(352.0));
    assert!(matches!(
        latest.get("password_hash"),
        Err(Error::HiddenColumn { .. })
    ));
    let verified = t.ch.verify(&mut conn, None).await.expect("verify");
    assert!(verified.is_ok(), "{:?}", verified.issues);
    // a second install finds nothing more to do (the history index is not built again)
    let index = "SELECT 'ix_chrononaut_activity_table_key_changed'::regclass::oid::int8";
    let index_before = t.scalar_i64(index).await;
    let report = t.ch.install(&mut conn).await.expect("install");
    assert_eq!(report.regenerated_tables, 0);
    assert_eq!(t.scalar_i64(index).await, index_before);
}

/// The upgrade adds read visibility (row-level security on the history, lock events and
/// locks) to a database made before it: an application role reads the history of the tables
/// it may SELECT, none of the others; a second install changes nothing.
#[tokio::test]
async fn upgrade_adds_read_visibility() {
    let t = restored().await;
    let mut conn = t.pool.acquire().await.expect("connection");
    t.ch.install(&mut conn).await.expect("upgrade");
    t.ch.install(&mut conn).await.expect("again");
    let policies = t
        .scalar_i64(
            "SELECT count(*) FROM pg_policy WHERE polrelid IN \
             ('chrononaut_activity'::regclass, 'chrononaut.lock_events'::regclass, 'chrononaut.locks'::regclass)",
        )
        .await;
    assert_eq!(policies, 12);
    let app = t.create_role("app", "").await;
    let q = common::quote_ident(&app);
    t.exec(&format!(
        "GRANT SELECT ON chrononaut_activity, accounts TO {q}"
    ))
    .await;
    let all_accounts = t
        .scalar_i64("SELECT count(*) FROM chrononaut_activity WHERE table_name = 'accounts'")
        .await;
    let others = t
        .scalar_i64("SELECT count(*) FROM chrononaut_activity WHERE table_name <> 'accounts'")
        .await;
    assert!(all_accounts > 0 && others > 0);
    let mut app_conn = sqlx::PgConnection::connect_with(&t.options_as(&app))
        .await
        .expect("connect as app");
    let seen: Vec<(String, i64)> =
        sqlx::query_as("SELECT table_name, count(*) FROM chrononaut_activity GROUP BY table_name")
            .fetch_all(&mut app_conn)
            .await
            .expect("read as app");
    assert_eq!(seen, vec![("accounts".to_owned(), all_accounts)]);
}

/// The previous release's history index, (table_name, key, changed, version, id), is built
/// again with the key's hash before the key; one built beforehand by the README's concurrent
/// recipe (`jsonb_hash(key)` unqualified) is found and kept.
#[tokio::test]
async fn install_rebuilds_the_history_index_without_the_key_hash() {
    let t = common::setup().await;
    let mut conn = t.pool.acquire().await.expect("connection");
    let def =
        "SELECT to_jsonb(pg_get_indexdef('ix_chrononaut_activity_table_key_changed'::regclass))";
    let oid = "SELECT 'ix_chrononaut_activity_table_key_changed'::regclass::oid::int8";
    let ours = "CREATE INDEX ix_chrononaut_activity_table_key_changed ON public.chrononaut_activity USING btree (table_name, jsonb_hash(key), key, changed, version, id)";
    assert_eq!(t.json(def).await, json!(ours));
    t.exec(
        "DROP INDEX ix_chrononaut_activity_table_key_changed; \
         CREATE INDEX ix_chrononaut_activity_table_key_changed \
             ON chrononaut_activity (table_name, key, changed, version, id)",
    )
    .await;
    t.ch.install(&mut conn).await.expect("upgrade");
    assert_eq!(t.json(def).await, json!(ours));
    // the recipe, run outside a transaction: kept by the next install
    for sql in [
        "CREATE INDEX CONCURRENTLY ix_chrononaut_activity_table_key_changed_new \
             ON chrononaut_activity (table_name, jsonb_hash(key), key, changed, version, id)",
        "DROP INDEX CONCURRENTLY IF EXISTS ix_chrononaut_activity_table_key_changed",
        "ALTER INDEX ix_chrononaut_activity_table_key_changed_new \
             RENAME TO ix_chrononaut_activity_table_key_changed",
    ] {
        t.exec(sql).await;
    }
    let before = t.scalar_i64(oid).await;
    t.ch.install(&mut conn).await.expect("install");
    assert_eq!(t.scalar_i64(oid).await, before);
    assert_eq!(t.json(def).await, json!(ours));
}
