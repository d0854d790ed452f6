//! Capture on a partitioned activity table, where each record's previous history row comes from
//! `chrononaut.heads` (sql/heads/install.sql) instead of a probe of every partition: the same
//! versions, chains and rules as on an unpartitioned table, heads that always equal what the
//! history says (whoever wrote it: the triggers, a baseline, a Python-shaped INSERT, an admin's
//! delete), closed to application roles, and right under two writers.

mod common;

use chrononaut::{BaselineOptions, TrackOptions};
use common::{Ctx, is_sqlstate};
use serde_json::{Value, json};

/// A fresh database whose activity table is partitioned by month before chrononaut adopts it,
/// with `rows` rows already in `items` (tracked, hidden `secret`: a baseline of version 0).
async fn partitioned(rows: i64) -> Ctx {
    let t = common::bare().await;
    t.exec(common::PARTITIONED_ACTIVITY).await;
    let mut conn = t.pool.acquire().await.expect("connection");
    t.ch.install(&mut conn).await.expect("install");
    drop(conn);
    with_items(t, rows).await
}

/// A fresh database with chrononaut installed on an unpartitioned activity table and `items`
/// as [`partitioned`] makes it.
async fn unpartitioned(rows: i64) -> Ctx {
    with_items(common::setup().await, rows).await
}

/// `items` with `rows` rows, tracked (hidden `secret`), its rows recorded by a baseline.
async fn with_items(t: Ctx, rows: i64) -> Ctx {
    t.exec(&format!(
        "CREATE TABLE items (id int PRIMARY KEY, v text, secret text); \
         INSERT INTO items SELECT g, 'v' || g, 's' FROM generate_series(1, {rows}) AS g;"
    ))
    .await;
    t.track("items", &TrackOptions::new().hidden(["secret"]))
        .await;
    let mut conn = t.pool.acquire().await.expect("connection");
    t.ch.baseline(&mut conn, "items", BaselineOptions::new())
        .await
        .expect("baseline");
    drop(conn);
    t
}

/// (version, operation) of every history row of `items` key `id`, in history order.
async fn versions(t: &Ctx, id: i64) -> Vec<(i64, Option<String>)> {
    sqlx::query_as(
        "SELECT version::int8, operation FROM chrononaut_activity \
         WHERE table_name = 'items' AND key = jsonb_build_object('id', $1::int) \
         ORDER BY changed, version, id",
    )
    .bind(id)
    .fetch_all(&t.pool)
    .await
    .expect("versions")
}

/// Every history row of `items` without times, ids and hashes, in history order per key.
async fn history_shape(t: &Ctx) -> Value {
    t.json(
        "SELECT json_agg(json_build_array(key, version, operation, data, extra_info, prev_hash IS NULL) \
                         ORDER BY key, changed, version, id) \
         FROM chrononaut_activity WHERE table_name = 'items'",
    )
    .await
}

/// Inserts, updates (a hidden column alone too), a bulk update, a delete and a re-insert, a
/// primary-key change, upserts, a TRUNCATE and an insert after it.
const WRITES: &str = "INSERT INTO items VALUES (100, 'a', 'x'); \
     UPDATE items SET v = 'b' WHERE id = 100; \
     UPDATE items SET secret = 'y' WHERE id = 100; \
     UPDATE items SET v = v || '!' WHERE id <= 10; \
     DELETE FROM items WHERE id = 100; \
     INSERT INTO items VALUES (100, 'again', NULL); \
     UPDATE items SET id = id + 1000 WHERE id IN (11, 12); \
     INSERT INTO items VALUES (13, 'up', NULL) ON CONFLICT (id) DO UPDATE SET v = 'up'; \
     INSERT INTO items VALUES (14, 'x', NULL), (200, 'new', NULL) ON CONFLICT (id) DO NOTHING; \
     TRUNCATE items; INSERT INTO items VALUES (5, 'back', NULL);";

#[tokio::test]
async fn capture_on_a_partitioned_history_writes_what_it_writes_unpartitioned() {
    let (plain, parted) = (unpartitioned(50).await, partitioned(50).await);
    // heads exist for the baseline (written outside any trigger)
    assert_eq!(
        parted
            .scalar_i64("SELECT count(*) FROM chrononaut.heads")
            .await,
        50
    );
    plain.exec(WRITES).await;
    parted.exec(WRITES).await;
    let shape = history_shape(&parted).await;
    assert_eq!(shape, history_shape(&plain).await);
    let ops = |v: &[(i64, &str)]| -> Vec<(i64, Option<String>)> {
        v.iter().map(|(n, o)| (*n, Some((*o).to_owned()))).collect()
    };
    assert_eq!(
        versions(&parted, 100).await,
        ops(&[
            (0, "insert"),
            (1, "update"),
            (2, "update"),
            (3, "delete"),
            (4, "insert"),
            (5, "delete")
        ])
    );
    assert_eq!(
        versions(&parted, 5).await,
        ops(&[(0, "insert"), (1, "update"), (2, "delete"), (3, "insert")])
    );
    // the re-inserted row's own version follows its history (the insert's fix-up)
    assert_eq!(
        parted
            .scalar_i64("SELECT version::int8 FROM items WHERE id = 5")
            .await,
        3
    );
    assert_eq!(
        versions(&parted, 11).await,
        ops(&[(0, "insert"), (1, "delete")])
    );
    assert_eq!(
        versions(&parted, 1011).await,
        ops(&[(1, "update"), (2, "delete")])
    );
    assert_eq!(parted.heads_out_of_step().await, json!([]));
    parted.assert_verifies().await;
    plain.assert_verifies().await;
}

#[tokio::test]
async fn history_written_outside_the_triggers_moves_heads() {
    let t = common::bare().await;
    t.exec(common::PARTITIONED_ACTIVITY).await;
    // history the Python library wrote before chrononaut for Rust was installed: no hash
    t.exec(
        "INSERT INTO chrononaut_activity (table_name, changed, version, key, data) VALUES \
         ('items', now() - interval '40 days', 0, '{\"id\": 1}', '{\"id\": 1, \"v\": \"py\"}'), \
         ('items', now() - interval '30 days', 1, '{\"id\": 1}', '{\"id\": 1, \"v\": \"py2\"}'), \
         ('items', now() - interval '20 days', 0, '{\"id\": 2}', '{\"id\": 2, \"v\": \"gone\"}')",
    )
    .await;
    let mut conn = t.pool.acquire().await.expect("connection");
    t.ch.install(&mut conn).await.expect("install");
    drop(conn);
    // the install built the heads from the history it adopted
    assert_eq!(t.heads_out_of_step().await, json!([]));
    assert_eq!(
        t.scalar_i64("SELECT count(*) FROM chrononaut.heads").await,
        2
    );
    t.exec("CREATE TABLE items (id int PRIMARY KEY, v text, secret text)")
        .await;
    t.track("items", &TrackOptions::new()).await;
    // a record with Python history, inserted again: continues after its highest version
    t.exec("INSERT INTO items VALUES (1, 'rust', NULL)").await;
    assert_eq!(
        versions(&t, 1).await.last().map(|v| v.0),
        Some(2),
        "continues after the Python-written versions 0 and 1"
    );
    // a Python-shaped INSERT by the owner after tracking (no trigger around it) moves the head
    t.exec(
        "INSERT INTO chrononaut_activity (table_name, changed, version, key, data) \
         VALUES ('items', now(), 7, '{\"id\": 2}', '{\"id\": 2, \"v\": \"py7\"}')",
    )
    .await;
    assert_eq!(
        t.scalar_i64(
            "SELECT version::int8 FROM chrononaut.heads WHERE table_name = 'items' AND key = '{\"id\": 2}'"
        )
        .await,
        7
    );
    t.exec("INSERT INTO items VALUES (2, 'rust', NULL)").await;
    assert_eq!(versions(&t, 2).await.last().map(|v| v.0), Some(8));
    assert_eq!(t.heads_out_of_step().await, json!([]));
}

#[tokio::test]
async fn deleting_history_recomputes_heads() {
    let t = partitioned(3).await;
    t.exec(
        "UPDATE items SET v = 'b' WHERE id = 1; UPDATE items SET v = 'c' WHERE id = 1; \
         UPDATE items SET v = 'b' WHERE id = 2;",
    )
    .await;
    // the admin escape deletes record 1's latest version and all of record 2's history
    t.exec(
        "BEGIN; SET LOCAL chrononaut.allow_delete_history = 'on'; \
         DELETE FROM chrononaut_activity WHERE table_name = 'items' AND key = '{\"id\": 1}' AND version = 2; \
         DELETE FROM chrononaut_activity WHERE table_name = 'items' AND key = '{\"id\": 2}'; COMMIT;",
    )
    .await;
    assert_eq!(t.heads_out_of_step().await, json!([]));
    assert_eq!(
        t.scalar_i64("SELECT count(*) FROM chrononaut.heads WHERE key = '{\"id\": 2}'")
            .await,
        0
    );
    // the next version of record 1 chains to what is left (verify finds nothing broken)
    t.exec("UPDATE items SET v = 'd' WHERE id = 3; DELETE FROM items WHERE id = 2; INSERT INTO items VALUES (2, 'new', NULL);")
        .await;
    assert_eq!(t.heads_out_of_step().await, json!([]));
    // TRUNCATE of the history (the escape) empties the heads
    t.exec(
        "BEGIN; SET LOCAL chrononaut.allow_delete_history = 'on'; TRUNCATE chrononaut_activity; COMMIT;",
    )
    .await;
    assert_eq!(
        t.scalar_i64("SELECT count(*) FROM chrononaut.heads").await,
        0
    );
    t.exec("UPDATE items SET v = 'e' WHERE id = 3").await;
    assert_eq!(t.heads_out_of_step().await, json!([]));
}

#[tokio::test]
async fn heads_are_closed_to_application_roles() {
    let t = partitioned(3).await;
    let app = t.create_role("app", "").await;
    t.exec(&format!(
        "GRANT SELECT, INSERT, UPDATE, DELETE ON items TO {q}; GRANT CREATE ON SCHEMA public TO {q};",
        q = common::quote_ident(&app)
    ))
    .await;
    let pool = t.pool_as(&app).await;
    // the role's writes are captured, heads moved by the capture functions (as their owner)
    sqlx::raw_sql("UPDATE items SET v = 'app' WHERE id = 1")
        .execute(&pool)
        .await
        .expect("the application's own write");
    assert_eq!(t.heads_out_of_step().await, json!([]));
    for sql in [
        "SELECT * FROM chrononaut.heads",
        "INSERT INTO chrononaut.heads VALUES ('items', '{\"id\": 1}', 99, now(), 99, NULL)",
        "UPDATE chrononaut.heads SET version = 99",
        "DELETE FROM chrononaut.heads",
        "SELECT chrononaut.rebuild_heads()",
        "SELECT chrononaut.refresh_head('items', '{\"id\": 1}')",
        // a trigger of its own on a table of its own, to write heads as chrononaut's owner
        "CREATE TABLE mine (table_name text, key jsonb, version int, changed timestamptz, hash bytea); \
         CREATE TRIGGER t AFTER INSERT ON mine FOR EACH ROW EXECUTE FUNCTION chrononaut.heads_note()",
    ] {
        let e = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&pool)
            .await
            .err()
            .unwrap_or_else(|| panic!("{sql}: allowed to an application role"));
        assert!(is_sqlstate(&e, "42501"), "{sql}: {e}");
    }
    pool.close().await;
    assert_eq!(t.heads_out_of_step().await, json!([]));
    t.assert_verifies().await;
}

#[tokio::test]
async fn two_writers_on_a_partitioned_history() {
    let t = partitioned(20).await;
    let (a, b) = (t.pool.clone(), t.pool.clone());
    // both write the same records (they wait for each other's row locks) and records of
    // their own, single rows and a bulk statement, re-inserts included
    let writer = |pool: sqlx::PgPool, own: i64| async move {
        for round in 0..30 {
            // each statement its own transaction (one transaction holding a shared row while
            // it waits for the bulk statement's rows would deadlock with the other writer)
            let statements = [
                format!(
                    "UPDATE items SET v = v || '{own}' WHERE id = {}",
                    1 + round % 3
                ),
                format!("UPDATE items SET v = 'w{own}' WHERE id = {}", 10 + own),
                "UPDATE items SET v = v || '.' WHERE id BETWEEN 1 AND 5".to_owned(),
                format!("DELETE FROM items WHERE id = {}", 100 + own),
                format!("INSERT INTO items VALUES ({}, 'n', NULL)", 100 + own),
            ];
            for sql in statements {
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(&pool)
                    .await
                    .expect("write");
            }
        }
    };
    tokio::join!(writer(a, 1), writer(b, 2));
    // every record's versions are 0, 1, 2, ... without a gap or a repeat
    let gaps = t
        .json(
            "SELECT COALESCE(json_agg(key), '[]') FROM (SELECT key, \
                    array_agg(version ORDER BY changed, version, id) AS vs, count(*) AS n \
             FROM chrononaut_activity WHERE table_name = 'items' GROUP BY key) AS x \
             WHERE vs <> ARRAY(SELECT generate_series(0, n::int - 1))",
        )
        .await;
    assert_eq!(gaps, json!([]));
    assert_eq!(t.heads_out_of_step().await, json!([]));
    t.assert_verifies().await;
}

#[tokio::test]
async fn an_unpartitioned_history_keeps_no_heads() {
    let t = common::setup().await;
    t.exec("CREATE TABLE items (id int PRIMARY KEY, v text); INSERT INTO items VALUES (1, 'a');")
        .await;
    t.track("items", &TrackOptions::new()).await;
    t.exec("UPDATE items SET v = 'b' WHERE id = 1").await;
    assert_eq!(
        t.scalar_i64("SELECT count(*) FROM chrononaut.heads").await,
        0
    );
    assert_eq!(
        t.scalar_i64(
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'chrononaut_activity'::regclass \
             AND tgname LIKE 'chrononaut_heads%'"
        )
        .await,
        0
    );
    assert_eq!(versions(&t, 1).await.len(), 1);
}

#[tokio::test]
async fn tracking_again_rebuilds_heads_left_behind() {
    let t = partitioned(5).await;
    t.exec("UPDATE items SET v = 'b' WHERE id = 1; DELETE FROM items WHERE id = 2;")
        .await;
    // heads lost (only chrononaut's owner can do this): what a history written while no
    // capture moved heads leaves behind
    t.exec("DELETE FROM chrononaut.heads").await;
    t.track("items", &TrackOptions::new().hidden(["secret"]))
        .await;
    assert_eq!(t.heads_out_of_step().await, json!([]));
    t.exec("UPDATE items SET v = 'c' WHERE id = 1; INSERT INTO items VALUES (2, 'again', NULL);")
        .await;
    assert_eq!(
        versions(&t, 2).await.last().map(|v| v.0),
        Some(2),
        "continues after insert 0, delete 1"
    );
    t.assert_verifies().await;
}

/// History spread over a year and a half of partitions, written as the Python library writes
/// it (no hash; `operation` only on some rows; deletes; rows inserted out of time order; ties
/// on `changed`): `as_of` on the partitioned history (keys from heads, probes bounded by the
/// head) returns what it returns on an unpartitioned one, at every row's time, just before
/// it, at partition boundaries, before all history and after it.
#[tokio::test]
async fn as_of_on_a_partitioned_history_matches_the_unpartitioned_one() {
    let (plain, parted) = (unpartitioned(0).await, partitioned(0).await);
    // (key, months ago, seconds, version, operation): months ago from the current month's start
    let rows = "SELECT k, m, s, v, op FROM (VALUES \
        (1, 14, 0, 0, 'insert'), (1, 13, 5, 1, NULL), (1, 2, 0, 2, 'update'), \
        (2, 12, 0, 0, NULL), (2, 11, 0, 1, 'delete'), (2, 1, 0, 2, 'insert'), \
        (3, 10, 0, 0, 'insert'), (3, 10, 0, 1, 'update'), (3, 0, 0, 2, 'delete'), \
        (4, 1, 0, 0, 'insert'), (5, 16, 0, 0, 'insert'), (5, 0, 1, 1, 'update'), \
        (6, 3, 0, 1, 'update'), (6, 5, 0, 0, 'insert')) AS r(k, m, s, v, op)";
    let insert = format!(
        "INSERT INTO chrononaut_activity (table_name, changed, version, key, data, operation) \
         SELECT 'items', date_trunc('month', now()) - make_interval(months => m, secs => s), v, \
                jsonb_build_object('id', k), jsonb_build_object('id', k, 'v', 'v' || v, 'version', v), op \
         FROM ({rows}) AS x ORDER BY k, v"
    );
    plain.exec(&insert).await;
    parted.exec(&insert).await;
    assert_eq!(parted.heads_out_of_step().await, json!([]));
    let times: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT t::text FROM (SELECT changed AS t FROM chrononaut_activity \
         UNION ALL SELECT changed - interval '1 microsecond' FROM chrononaut_activity \
         UNION ALL SELECT date_trunc('month', now()) - make_interval(months => g) FROM generate_series(-1, 18) AS g \
         UNION ALL SELECT now()) AS x",
    )
    .fetch_all(&parted.pool)
    .await
    .expect("times");
    assert!(times.len() > 30);
    let as_of = |t: &str| {
        format!(
            "SELECT COALESCE(json_agg(json_build_array(key, version, changed, data) ORDER BY key), '[]') \
             FROM chrononaut.history_as_of('items', '{t}')"
        )
    };
    let mut non_empty = 0;
    for t in &times {
        let want = plain.json(&as_of(t)).await;
        assert_eq!(parted.json(&as_of(t)).await, want, "as of {t}");
        non_empty += usize::from(want != json!([]));
    }
    assert!(non_empty > 20, "{non_empty} non-empty results");
}
