//! Capture rules (DESIGN.md contracts 1-3) with exact history rows.

mod common;

use chrononaut::{ChangeContext, TrackOptions};
use serde_json::{Value, json};

const ID_KEY: &str = "jsonb_build_object('id', t.id)";

fn none() -> Value {
    json!({"user_id": null, "remote_addr": null})
}

async fn row_version(t: &common::Ctx, sql: &str) -> Option<i32> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(&t.pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

#[tokio::test]
async fn insert_update_delete_exact_rows() {
    let t = common::setup().await;
    t.exec(
        "CREATE TABLE items (id int PRIMARY KEY, name text, secret text, seen int, price numeric);",
    )
    .await;
    t.track(
        "items",
        &TrackOptions::new().hidden(["secret"]).untracked(["seen"]),
    )
    .await;

    let ctx = ChangeContext::new()
        .user("alice")
        .remote_addr("10.0.0.1")
        .rationale("new stock");
    let mut tx = t.ch.begin(&t.pool, &ctx).await.unwrap();
    sqlx::query(
        "INSERT INTO items (id, name, secret, seen, price) VALUES (1, 'pen', 's1', 3, 1.50)",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        row_version(&t, "SELECT version FROM items WHERE id = 1").await,
        Some(0)
    );

    // untracked only: no version
    t.exec("UPDATE items SET seen = 4 WHERE id = 1").await;
    assert_eq!(
        row_version(&t, "SELECT version FROM items WHERE id = 1").await,
        Some(0)
    );
    // nothing changes: no version
    t.exec("UPDATE items SET name = name WHERE id = 1").await;
    assert_eq!(t.history("items").await.len(), 1);
    // hidden only: a version noting the hidden column
    t.exec("UPDATE items SET secret = 's2' WHERE id = 1").await;
    t.exec("UPDATE items SET name = 'ink pen', seen = 9 WHERE id = 1")
        .await;
    assert_eq!(
        row_version(&t, "SELECT version FROM items WHERE id = 1").await,
        Some(2)
    );
    t.assert_row_versions("items", "items", ID_KEY).await;
    t.exec("DELETE FROM items WHERE id = 1").await;

    let h = t.history("items").await;
    assert_eq!(
        h,
        vec![
            json!({"version": 0, "key": {"id": 1}, "operation": "insert",
                   "data": {"id": 1, "name": "pen", "price": 1.50, "version": 0},
                   "user_info": {"user_id": "alice", "remote_addr": "10.0.0.1"},
                   "extra_info": {"rationale": "new stock", "hidden_cols_changed": ["secret"]}}),
            json!({"version": 1, "key": {"id": 1}, "operation": "update",
                   "data": {"id": 1, "name": "pen", "price": 1.50, "version": 1},
                   "user_info": none(), "extra_info": {"hidden_cols_changed": ["secret"]}}),
            json!({"version": 2, "key": {"id": 1}, "operation": "update",
                   "data": {"id": 1, "name": "ink pen", "price": 1.50, "version": 2},
                   "user_info": none(), "extra_info": {}}),
            json!({"version": 3, "key": {"id": 1}, "operation": "delete",
                   "data": {"id": 1, "name": "ink pen", "price": 1.50, "version": 3},
                   "user_info": none(), "extra_info": {}}),
        ]
    );
}

#[tokio::test]
async fn hidden_columns_listed_when_set_or_changed_never_stored() {
    let t = common::setup().await;
    t.exec("CREATE TABLE users (id int PRIMARY KEY, email text, pw text, pin int, note text)")
        .await;
    t.track("users", &TrackOptions::new().hidden(["pw", "pin"]))
        .await;
    t.exec("INSERT INTO users (id, email) VALUES (1, 'a@x')")
        .await;
    t.exec("INSERT INTO users (id, email, pw, pin) VALUES (2, 'b@x', 'h', 1234)")
        .await;
    t.exec("INSERT INTO users (id, email, pin) VALUES (3, 'c@x', 7)")
        .await;
    // both hidden change, plus a tracked column
    t.exec("UPDATE users SET pw = 'h2', pin = 4321, note = 'n' WHERE id = 2")
        .await;
    // hidden set to NULL counts as a change
    t.exec("UPDATE users SET pin = NULL WHERE id = 3").await;
    // hidden set to the same value: nothing
    t.exec("UPDATE users SET pw = 'h2' WHERE id = 2").await;

    let h = t.history("users").await;
    assert_eq!(
        h,
        vec![
            json!({"version": 0, "key": {"id": 1}, "operation": "insert",
                   "data": {"id": 1, "email": "a@x", "note": null, "version": 0},
                   "user_info": none(), "extra_info": {}}),
            json!({"version": 0, "key": {"id": 2}, "operation": "insert",
                   "data": {"id": 2, "email": "b@x", "note": null, "version": 0},
                   "user_info": none(), "extra_info": {"hidden_cols_changed": ["pw", "pin"]}}),
            json!({"version": 0, "key": {"id": 3}, "operation": "insert",
                   "data": {"id": 3, "email": "c@x", "note": null, "version": 0},
                   "user_info": none(), "extra_info": {"hidden_cols_changed": ["pin"]}}),
            json!({"version": 1, "key": {"id": 2}, "operation": "update",
                   "data": {"id": 2, "email": "b@x", "note": "n", "version": 1},
                   "user_info": none(), "extra_info": {"hidden_cols_changed": ["pw", "pin"]}}),
            json!({"version": 1, "key": {"id": 3}, "operation": "update",
                   "data": {"id": 3, "email": "c@x", "note": null, "version": 1},
                   "user_info": none(), "extra_info": {"hidden_cols_changed": ["pin"]}}),
        ]
    );
    t.assert_row_versions("users", "users", ID_KEY).await;
    // (without the hash columns, whose hex may contain anything)
    let dump: Vec<serde_json::Value> = t
        .activity_dump()
        .await
        .into_iter()
        .map(|mut row| {
            if let Some(o) = row.as_object_mut() {
                o.remove("hash");
                o.remove("prev_hash");
            }
            row
        })
        .collect();
    let all = serde_json::to_string(&dump).unwrap();
    assert!(!all.contains("h2") && !all.contains("4321"), "{all}");
}

#[tokio::test]
async fn untracked_only_and_noop_updates_create_nothing() {
    let t = common::setup().await;
    t.exec("CREATE TABLE s (id int PRIMARY KEY, a text, last_seen int, hits int)")
        .await;
    t.track("s", &TrackOptions::new().untracked(["last_seen", "hits"]))
        .await;
    t.exec("INSERT INTO s VALUES (1, 'x', 1, 1), (2, 'y', 1, 1)")
        .await;
    t.exec("UPDATE s SET last_seen = last_seen + 1, hits = 5")
        .await;
    t.exec("UPDATE s SET a = a").await;
    t.exec("UPDATE s SET a = 'x' WHERE id = 1").await;
    t.exec("UPDATE s SET id = id").await;
    assert_eq!(
        t.scalar_i64("SELECT count(*) FROM s WHERE version = 0")
            .await,
        2
    );
    assert_eq!(
        t.history("s").await,
        vec![
            json!({"version": 0, "key": {"id": 1}, "operation": "insert",
                   "data": {"id": 1, "a": "x", "version": 0}, "user_info": none(), "extra_info": {}}),
            json!({"version": 0, "key": {"id": 2}, "operation": "insert",
                   "data": {"id": 2, "a": "y", "version": 0}, "user_info": none(), "extra_info": {}}),
        ]
    );
    // an update mixing rows: only the changed one is recorded, the other keeps its version
    t.exec("UPDATE s SET a = 'z', hits = hits + 1 WHERE id IN (1, 2) AND (id = 1 OR a = 'z')")
        .await;
    t.exec("UPDATE s SET a = CASE id WHEN 1 THEN 'z' ELSE 'w' END, hits = 0")
        .await;
    let h = t.history("s").await;
    assert_eq!(h.len(), 4, "{h:#?}");
    assert_eq!(
        h[2],
        json!({"version": 1, "key": {"id": 1}, "operation": "update",
               "data": {"id": 1, "a": "z", "version": 1}, "user_info": none(), "extra_info": {}})
    );
    assert_eq!(
        h[3],
        json!({"version": 1, "key": {"id": 2}, "operation": "update",
               "data": {"id": 2, "a": "w", "version": 1}, "user_info": none(), "extra_info": {}})
    );
    t.assert_row_versions("s", "s", ID_KEY).await;
}

#[tokio::test]
async fn rows_from_before_tracking_start_at_version_1() {
    let t = common::setup().await;
    t.exec("CREATE TABLE old (id int PRIMARY KEY, v text)")
        .await;
    t.exec("INSERT INTO old VALUES (1, 'a'), (2, 'b'), (3, 'c')")
        .await;
    t.track("old", &TrackOptions::new()).await;
    assert_eq!(
        t.scalar_i64("SELECT count(*) FROM old WHERE version IS NULL")
            .await,
        3
    );
    // untracked-change-free no-op keeps NULL
    t.exec("UPDATE old SET v = v").await;
    t.exec("UPDATE old SET v = 'a2' WHERE id = 1").await;
    t.exec("UPDATE old SET v = 'a3' WHERE id = 1").await;
    t.exec("DELETE FROM old WHERE id = 2").await;
    assert_eq!(
        t.history("old").await,
        vec![
            json!({"version": 1, "key": {"id": 1}, "operation": "update",
                   "data": {"id": 1, "v": "a2", "version": 1}, "user_info": none(), "extra_info": {}}),
            json!({"version": 2, "key": {"id": 1}, "operation": "update",
                   "data": {"id": 1, "v": "a3", "version": 2}, "user_info": none(), "extra_info": {}}),
            json!({"version": 1, "key": {"id": 2}, "operation": "delete",
                   "data": {"id": 2, "v": "b", "version": 1}, "user_info": none(), "extra_info": {}}),
        ]
    );
    assert_eq!(
        row_version(&t, "SELECT version FROM old WHERE id = 3").await,
        None
    );
    t.assert_row_versions("old", "old", ID_KEY).await;
}

#[tokio::test]
async fn bulk_update_of_1000_rows() {
    let t = common::setup().await;
    t.exec("CREATE TABLE b (id int PRIMARY KEY, n int)").await;
    t.track("b", &TrackOptions::new()).await;
    t.exec("INSERT INTO b SELECT g, 0 FROM generate_series(1, 1000) g")
        .await;
    t.exec("UPDATE b SET n = n + 1").await;
    t.exec("UPDATE b SET n = n + 1 WHERE id <= 500").await;
    let counts = t
        .json(
            "SELECT jsonb_object_agg(k, c) FROM (SELECT operation || ':' || version AS k, count(*) AS c \
             FROM chrononaut_activity WHERE table_name = 'b' GROUP BY 1) x",
        )
        .await;
    assert_eq!(
        counts,
        json!({"insert:0": 1000, "update:1": 1000, "update:2": 500})
    );
    // each history row's data is its row's state at that version
    assert_eq!(
        t.scalar_i64(
            "SELECT count(*) FROM chrononaut_activity a WHERE table_name = 'b' AND \
             (data <> jsonb_build_object('id', (key->>'id')::int, 'n', version, 'version', version) \
              OR key <> jsonb_build_object('id', (data->>'id')::int))"
        )
        .await,
        0
    );
    t.assert_row_versions("b", "b", ID_KEY).await;

    // multi-row delete: the last state of each, version + 1
    t.exec("DELETE FROM b WHERE id > 990").await;
    let deleted = t
        .json(
            "SELECT jsonb_agg(jsonb_build_object('key', key, 'data', data, 'version', version) ORDER BY id) \
             FROM chrononaut_activity WHERE table_name = 'b' AND operation = 'delete'",
        )
        .await;
    let expected: Vec<Value> = (991..=1000)
        .map(|i| json!({"key": {"id": i}, "version": 2, "data": {"id": i, "n": 1, "version": 2}}))
        .collect();
    let mut got = deleted.as_array().cloned().unwrap_or_default();
    got.sort_by_key(|v| v["key"]["id"].as_i64());
    assert_eq!(got, expected);
}

#[tokio::test]
async fn insert_select_and_on_conflict_paths() {
    let t = common::setup().await;
    t.exec(
        "CREATE TABLE src (id int, name text); INSERT INTO src VALUES (1, 'a'), (2, 'b'), (3, 'c');
         CREATE TABLE dst (id int PRIMARY KEY, name text, touched int);",
    )
    .await;
    t.track("dst", &TrackOptions::new().untracked(["touched"]))
        .await;
    t.exec("INSERT INTO dst (id, name) SELECT id, name FROM src")
        .await;
    // upsert: 2 updated (new name), 3 hit but unchanged tracked columns, 4 inserted
    t.exec(
        "INSERT INTO dst (id, name) VALUES (2, 'B'), (3, 'c'), (4, 'd') \
         ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, touched = 1",
    )
    .await;
    // DO NOTHING on an existing key: nothing
    t.exec("INSERT INTO dst (id, name) VALUES (1, 'zzz') ON CONFLICT DO NOTHING")
        .await;
    let h = t.history("dst").await;
    let row = |v: i64, id: i64, name: &str, op: &str| {
        json!({"version": v, "key": {"id": id}, "operation": op,
               "data": {"id": id, "name": name, "version": v},
               "user_info": none(), "extra_info": {}})
    };
    let mut tail = h[3..].to_vec();
    tail.sort_by_key(|v| v["key"]["id"].as_i64());
    assert_eq!(
        h[..3],
        [
            row(0, 1, "a", "insert"),
            row(0, 2, "b", "insert"),
            row(0, 3, "c", "insert")
        ]
    );
    assert_eq!(
        tail,
        vec![row(1, 2, "B", "update"), row(0, 4, "d", "insert")]
    );
    t.assert_row_versions("dst", "dst", ID_KEY).await;
    assert_eq!(
        t.json("SELECT jsonb_object_agg(id, version) FROM dst")
            .await,
        json!({"1": 0, "2": 1, "3": 0, "4": 0})
    );
}

#[tokio::test]
async fn rolled_back_transaction_leaves_no_history() {
    let t = common::setup().await;
    t.exec("CREATE TABLE r (id int PRIMARY KEY, v text); INSERT INTO r VALUES (1, 'a');")
        .await;
    t.track("r", &TrackOptions::new()).await;
    let ctx = ChangeContext::new().user("u").rationale("oops");
    let mut tx = t.ch.begin(&t.pool, &ctx).await.unwrap();
    for sql in [
        "INSERT INTO r VALUES (2, 'b')",
        "UPDATE r SET v = 'x'",
        "DELETE FROM r WHERE id = 1",
    ] {
        sqlx::query(sql).execute(&mut *tx).await.unwrap();
    }
    let inside: i64 = sqlx::query_scalar("SELECT count(*) FROM chrononaut_activity")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(inside, 4, "history is written inside the transaction");
    tx.rollback().await.unwrap();
    assert_eq!(t.activity_count().await, 0);
    assert_eq!(
        t.json("SELECT jsonb_agg(to_jsonb(r)) FROM r").await,
        json!([{"id": 1, "v": "a", "version": null}])
    );
}

#[tokio::test]
async fn several_changes_in_one_transaction_get_successive_versions() {
    let t = common::setup().await;
    t.exec("CREATE TABLE m (id int PRIMARY KEY, v int)").await;
    t.track("m", &TrackOptions::new()).await;
    let mut tx =
        t.ch.begin(&t.pool, &ChangeContext::new().user("u"))
            .await
            .unwrap();
    sqlx::query("INSERT INTO m VALUES (1, 0)")
        .execute(&mut *tx)
        .await
        .unwrap();
    for i in 1..=5 {
        sqlx::query("UPDATE m SET v = $1 WHERE id = 1")
            .bind(i)
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    let versions = t
        .json(
            "SELECT jsonb_agg(jsonb_build_array(version, data->'v') ORDER BY changed, version) \
             FROM chrononaut_activity WHERE table_name = 'm'",
        )
        .await;
    assert_eq!(
        versions,
        json!([[0, 0], [1, 1], [2, 2], [3, 3], [4, 4], [5, 5]])
    );
    // ordering by changed alone is already right (each statement has a later clock)
    let by_changed = t
        .json(
            "SELECT jsonb_agg(version ORDER BY changed, id) FROM chrononaut_activity WHERE table_name = 'm'",
        )
        .await;
    assert_eq!(by_changed, json!([0, 1, 2, 3, 4, 5]));
    t.assert_row_versions("m", "m", ID_KEY).await;
}

#[tokio::test]
async fn delete_then_reinsert_continues_the_version_sequence() {
    let t = common::setup().await;
    t.exec("CREATE TABLE k (id int PRIMARY KEY, v text)").await;
    t.track("k", &TrackOptions::new()).await;
    t.exec("INSERT INTO k VALUES (1, 'a')").await;
    t.exec("UPDATE k SET v = 'b' WHERE id = 1").await;
    t.exec("DELETE FROM k WHERE id = 1").await;
    // later transaction
    t.exec("INSERT INTO k VALUES (1, 'c')").await;
    assert_eq!(
        row_version(&t, "SELECT version FROM k WHERE id = 1").await,
        Some(3)
    );
    t.exec("UPDATE k SET v = 'd' WHERE id = 1").await;
    // same transaction: delete and re-insert, then update
    t.exec(
        "BEGIN; DELETE FROM k WHERE id = 1; INSERT INTO k VALUES (1, 'e'); \
         UPDATE k SET v = 'f' WHERE id = 1; COMMIT;",
    )
    .await;
    // a fresh key in the same statement as a re-insert
    t.exec("DELETE FROM k").await;
    t.exec("INSERT INTO k VALUES (1, 'g'), (2, 'h')").await;
    let h = t.history("k").await;
    let r = |v: i64, id: i64, s: &str, op: &str| {
        json!({"version": v, "key": {"id": id}, "operation": op,
               "data": {"id": id, "v": s, "version": v}, "user_info": none(), "extra_info": {}})
    };
    assert_eq!(
        h,
        vec![
            r(0, 1, "a", "insert"),
            r(1, 1, "b", "update"),
            r(2, 1, "b", "delete"),
            r(3, 1, "c", "insert"),
            r(4, 1, "d", "update"),
            r(5, 1, "d", "delete"),
            r(6, 1, "e", "insert"),
            r(7, 1, "f", "update"),
            r(8, 1, "f", "delete"),
            // same statement, same clock: ordered by version
            r(0, 2, "h", "insert"),
            r(9, 1, "g", "insert"),
        ]
    );
    assert_eq!(
        t.json("SELECT jsonb_object_agg(id, version) FROM k").await,
        json!({"1": 9, "2": 0})
    );
    t.assert_row_versions("k", "k", ID_KEY).await;
}

#[tokio::test]
async fn timestamps_are_utc_whatever_the_session_time_zone() {
    let t = common::setup().await;
    t.exec(
        "CREATE TABLE ev (id int PRIMARY KEY, at timestamptz, naive timestamp, d date, \
         tags timestamptz[])",
    )
    .await;
    t.track("ev", &TrackOptions::new()).await;
    let mut conn = t.plain_connection().await;
    sqlx::raw_sql(
        "SET TimeZone = 'Asia/Tokyo';
         INSERT INTO ev VALUES (1, '2024-03-01 09:00:00+09', '2024-03-01 09:00:00', '2024-03-01',
                                ARRAY['2024-03-01 09:00:00+09']::timestamptz[]);
         UPDATE ev SET at = '2024-03-02 12:30:00.5+09', naive = '2024-03-02 12:30:00' WHERE id = 1;
         DELETE FROM ev;",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let data: Vec<Value> = sqlx::query_scalar(
        "SELECT data FROM chrononaut_activity WHERE table_name = 'ev' ORDER BY version",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(
        data,
        vec![
            json!({"id": 1, "at": "2024-03-01T00:00:00+00:00", "naive": "2024-03-01T09:00:00+00:00",
                   "d": "2024-03-01", "tags": ["2024-03-01T00:00:00+00:00"], "version": 0}),
            json!({"id": 1, "at": "2024-03-02T03:30:00.5+00:00", "naive": "2024-03-02T12:30:00+00:00",
                   "d": "2024-03-01", "tags": ["2024-03-01T00:00:00+00:00"], "version": 1}),
            json!({"id": 1, "at": "2024-03-02T03:30:00.5+00:00", "naive": "2024-03-02T12:30:00+00:00",
                   "d": "2024-03-01", "tags": ["2024-03-01T00:00:00+00:00"], "version": 2}),
        ]
    );
    // the session's own time zone is untouched by the triggers
    let tz: String = sqlx::query_scalar("SHOW TimeZone")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(tz, "Asia/Tokyo");
}

#[tokio::test]
async fn naive_timestamp_in_the_primary_key_is_utc_too() {
    let t = common::setup().await;
    t.exec("CREATE TABLE tk (at timestamp PRIMARY KEY, v int)")
        .await;
    t.track("tk", &TrackOptions::new()).await;
    t.exec(
        "SET TimeZone = 'America/New_York'; INSERT INTO tk VALUES ('2024-01-01 10:00', 1); \
         UPDATE tk SET v = 2; DELETE FROM tk; RESET TimeZone;",
    )
    .await;
    let keys = t
        .json("SELECT jsonb_agg(key ORDER BY version) FROM chrononaut_activity")
        .await;
    let k = json!({"at": "2024-01-01T10:00:00+00:00"});
    assert_eq!(keys, json!([k, k, k]));
}

#[tokio::test]
async fn composite_primary_keys() {
    let t = common::setup().await;
    t.exec("CREATE TABLE lines (order_id int, line int, sku text, qty int, PRIMARY KEY (order_id, line))")
        .await;
    let tracked = t.track("lines", &TrackOptions::new()).await;
    assert_eq!(tracked.primary_key, vec!["order_id", "line"]);
    t.exec("INSERT INTO lines VALUES (7, 1, 'a', 1), (7, 2, 'b', 1)")
        .await;
    t.exec("UPDATE lines SET qty = 3 WHERE line = 2").await;
    t.exec("DELETE FROM lines WHERE line = 1").await;
    let h = t.history("lines").await;
    assert_eq!(
        h,
        vec![
            json!({"version": 0, "key": {"order_id": 7, "line": 1}, "operation": "insert",
                   "data": {"order_id": 7, "line": 1, "sku": "a", "qty": 1, "version": 0},
                   "user_info": none(), "extra_info": {}}),
            json!({"version": 0, "key": {"order_id": 7, "line": 2}, "operation": "insert",
                   "data": {"order_id": 7, "line": 2, "sku": "b", "qty": 1, "version": 0},
                   "user_info": none(), "extra_info": {}}),
            json!({"version": 1, "key": {"order_id": 7, "line": 2}, "operation": "update",
                   "data": {"order_id": 7, "line": 2, "sku": "b", "qty": 3, "version": 1},
                   "user_info": none(), "extra_info": {}}),
            json!({"version": 1, "key": {"order_id": 7, "line": 1}, "operation": "delete",
                   "data": {"order_id": 7, "line": 1, "sku": "a", "qty": 1, "version": 1},
                   "user_info": none(), "extra_info": {}}),
        ]
    );
    t.assert_row_versions(
        "lines",
        "lines",
        "jsonb_build_object('order_id', t.order_id, 'line', t.line)",
    )
    .await;
}

#[tokio::test]
async fn primary_key_change_is_recorded_under_the_new_key() {
    let t = common::setup().await;
    t.exec("CREATE TABLE pk (id int PRIMARY KEY DEFERRABLE, v text)")
        .await;
    t.track("pk", &TrackOptions::new()).await;
    t.exec("INSERT INTO pk VALUES (1, 'same'), (2, 'same')")
        .await;
    // every row's key moves; with equal data a join on the key alone would miss them
    t.exec("UPDATE pk SET id = id + 1").await;
    let h = t.history("pk").await;
    let mut updates: Vec<Value> = h
        .into_iter()
        .filter(|r| r["operation"] == "update")
        .collect();
    updates.sort_by_key(|v| v["key"]["id"].as_i64());
    assert_eq!(
        updates,
        vec![
            json!({"version": 1, "key": {"id": 2}, "operation": "update",
                   "data": {"id": 2, "v": "same", "version": 1}, "user_info": none(), "extra_info": {}}),
            json!({"version": 1, "key": {"id": 3}, "operation": "update",
                   "data": {"id": 3, "v": "same", "version": 1}, "user_info": none(), "extra_info": {}}),
        ]
    );
    t.assert_row_versions("pk", "pk", ID_KEY).await;
    // key 1 has no row any more: its record ends with a delete, as a DELETE would end it
    let deletes: Vec<Value> = t
        .history("pk")
        .await
        .into_iter()
        .filter(|r| r["operation"] == "delete")
        .collect();
    assert_eq!(
        deletes,
        vec![
            json!({"version": 1, "key": {"id": 1}, "operation": "delete",
                    "data": {"id": 1, "v": "same", "version": 1}, "user_info": none(), "extra_info": {}})
        ]
    );
    // so the table as of now is what it is, and the chains still verify
    assert_eq!(
        t.scalar_i64("SELECT count(*) FROM chrononaut.as_of(NULL::pk, clock_timestamp())")
            .await,
        2
    );
    let mut conn = t.pool.acquire().await.unwrap();
    let report = t.ch.verify(&mut conn, Some("pk")).await.unwrap();
    assert!(report.is_ok(), "{report:?}");
    // an update that keeps every key records no delete
    t.exec("UPDATE pk SET v = 'other'").await;
    assert_eq!(
        t.scalar_i64("SELECT count(*) FROM chrononaut_activity WHERE operation = 'delete'")
            .await,
        1
    );
}

/// Generated columns are NULL in BEFORE triggers: they must not make every update a version.
#[tokio::test]
async fn generated_columns_do_not_fake_changes() {
    let t = common::setup().await;
    t.exec(
        "CREATE TABLE g (id int PRIMARY KEY, b int, total int GENERATED ALWAYS AS (b * 2) STORED)",
    )
    .await;
    t.track("g", &TrackOptions::new()).await;
    t.exec("INSERT INTO g (id, b) VALUES (1, 1)").await;
    t.exec("UPDATE g SET b = b WHERE id = 1").await;
    t.exec("UPDATE g SET b = 2 WHERE id = 1").await;
    t.exec("DELETE FROM g WHERE id = 1").await;
    t.exec("INSERT INTO g (id, b) VALUES (1, 5)").await;
    let h = t.history("g").await;
    let versions: Vec<(i64, &str, i64)> = h
        .iter()
        .map(|r| {
            (
                r["version"].as_i64().unwrap_or(-1),
                r["operation"].as_str().unwrap_or(""),
                r["data"]["total"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    assert_eq!(
        versions,
        vec![
            (0, "insert", 2),
            (1, "update", 4),
            (2, "delete", 4),
            (3, "insert", 10)
        ]
    );
    t.assert_row_versions("g", "g", "jsonb_build_object('id', t.id)")
        .await;
}

/// TRUNCATE gives triggers no rows, yet it must not remove records without a trace: each row
/// gets a delete version, as a DELETE would give it; suppressed, it records nothing; a strict
/// table refuses it without change info.
#[tokio::test]
async fn truncate_records_a_delete_version_per_row() {
    let t = common::setup().await;
    t.exec("CREATE TABLE tr (id int PRIMARY KEY, v text, s text)")
        .await;
    t.track("tr", &TrackOptions::new().hidden(["s"])).await;
    t.exec(
        "INSERT INTO tr VALUES (1, 'a', 'x'), (2, 'b', 'y'); UPDATE tr SET v = 'a2' WHERE id = 1",
    )
    .await;
    let ctx = ChangeContext::new().user("ops").rationale("reset");
    let mut tx = t.ch.begin(&t.pool, &ctx).await.unwrap();
    sqlx::query("TRUNCATE tr").execute(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(t.scalar_i64("SELECT count(*) FROM tr").await, 0);
    let deletes: Vec<_> = t
        .history("tr")
        .await
        .into_iter()
        .filter(|h| h["operation"] == "delete")
        .collect();
    assert_eq!(
        deletes,
        vec![
            // one statement, one time: ordered by version
            json!({"version": 1, "key": {"id": 2}, "operation": "delete",
                   "data": {"id": 2, "v": "b", "version": 1},
                   "user_info": {"user_id": "ops", "remote_addr": null},
                   "extra_info": {"rationale": "reset"}}),
            json!({"version": 2, "key": {"id": 1}, "operation": "delete",
                   "data": {"id": 1, "v": "a2", "version": 2},
                   "user_info": {"user_id": "ops", "remote_addr": null},
                   "extra_info": {"rationale": "reset"}}),
        ]
    );
    // re-inserted keys continue after the truncation's delete versions
    t.exec("INSERT INTO tr VALUES (1, 'new', NULL)").await;
    t.assert_row_versions("tr", "tr", "jsonb_build_object('id', t.id)")
        .await;
    assert_eq!(
        t.scalar_i64("SELECT version::int8 FROM tr WHERE id = 1")
            .await,
        3
    );

    // strict: refused without change info, nothing truncated
    t.track("tr", &TrackOptions::new().hidden(["s"]).strict(true))
        .await;
    let err = t.exec_err("TRUNCATE tr").await;
    assert!(matches!(
        chrononaut::Error::from(err),
        chrononaut::Error::StrictMode(_)
    ));
    assert_eq!(t.scalar_i64("SELECT count(*) FROM tr").await, 1);
}
