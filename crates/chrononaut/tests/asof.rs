//! Whole-table time travel (Rust stream, typed; SQL function) and the baseline of existing rows.

mod common;

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use chrononaut::{BaselineOptions, Error, TrackOptions, VersionFilter};
use common::Ctx;
use futures::TryStreamExt;
use serde_json::{Value, json};

async fn now(t: &Ctx) -> DateTime<Utc> {
    sqlx::query_scalar("SELECT clock_timestamp()")
        .fetch_one(&t.pool)
        .await
        .expect("clock")
}

#[derive(serde::Deserialize, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Item {
    id: i32,
    name: String,
    qty: i32,
    #[serde(default)]
    secret: Option<String>,
}

fn item(id: i32, name: &str, qty: i32) -> Item {
    Item {
        id,
        name: name.into(),
        qty,
        secret: None,
    }
}

async fn typed(t: &Ctx, at: DateTime<Utc>) -> Vec<Item> {
    let mut conn = t.pool.acquire().await.expect("connection");
    let mut rows: Vec<Item> =
        t.ch.as_of(&mut conn, "item", at)
            .await
            .expect("as of")
            .typed::<Item>()
            .try_collect()
            .await
            .expect("rows");
    rows.sort();
    rows
}

/// The SQL function, as any client would call it.
async fn via_sql(t: &Ctx, at: DateTime<Utc>) -> Vec<Value> {
    sqlx::query_scalar(
        "SELECT to_jsonb(r) FROM chrononaut.as_of(NULL::public.item, $1) r ORDER BY r.id",
    )
    .bind(at)
    .fetch_all(&t.pool)
    .await
    .expect("as_of()")
}

#[tokio::test]
async fn as_of_three_moments() {
    let t = common::setup().await;
    t.exec(
        "CREATE TABLE item (id int PRIMARY KEY, name text NOT NULL, qty int NOT NULL, \
         secret text, note text)",
    )
    .await;
    t.track(
        "item",
        &TrackOptions::new().hidden(["secret"]).untracked(["note"]),
    )
    .await;
    let t0 = now(&t).await;
    t.exec(
        "INSERT INTO item VALUES (1, 'bolt', 10, 's1', 'n1'), (2, 'nut', 20, 's2', 'n2'), \
         (3, 'gear', 30, 's3', 'n3')",
    )
    .await;
    t.exec("UPDATE item SET qty = 11 WHERE id = 1").await;
    let t1 = now(&t).await;
    t.exec("DELETE FROM item WHERE id = 2").await;
    t.exec("INSERT INTO item VALUES (4, 'cog', 40, 's4', 'n4')")
        .await;
    t.exec("UPDATE item SET name = 'big gear', qty = 31 WHERE id = 3")
        .await;
    let t2 = now(&t).await;
    t.exec("UPDATE item SET qty = 12 WHERE id = 1").await;
    t.exec("DELETE FROM item WHERE id = 4").await;
    t.exec("INSERT INTO item VALUES (2, 'nut', 21, 's2', 'n2')")
        .await;
    t.exec("UPDATE item SET secret = 'changed' WHERE id = 3")
        .await;
    let t3 = now(&t).await;

    assert_eq!(typed(&t, t0).await, []);
    assert_eq!(
        typed(&t, t1).await,
        [item(1, "bolt", 11), item(2, "nut", 20), item(3, "gear", 30)]
    );
    assert_eq!(
        typed(&t, t2).await,
        [
            item(1, "bolt", 11),
            item(3, "big gear", 31),
            item(4, "cog", 40)
        ]
    );
    assert_eq!(
        typed(&t, t3).await,
        [
            item(1, "bolt", 12),
            item(2, "nut", 21),
            item(3, "big gear", 31)
        ]
    );

    // rows with key, version, time; columns in table order without hidden/untracked
    let mut conn = t.pool.acquire().await.expect("connection");
    let as_of = t.ch.as_of(&mut conn, "item", t3).await.expect("as of");
    assert_eq!(as_of.columns(), ["id", "name", "qty", "version"]);
    let mut rows: Vec<_> = as_of.rows().try_collect().await.expect("rows");
    rows.sort_by_key(|r| r.key.to_string());
    assert_eq!(
        rows.iter()
            .map(|r| (r.key.clone(), r.version))
            .collect::<Vec<_>>(),
        [
            (json!({"id": 1}), 2),
            (json!({"id": 2}), 2),
            (json!({"id": 3}), 2)
        ]
    );
    assert!(rows.iter().all(|r| r.changed <= t3));
    drop(conn);

    // SQL: the table's own row type; hidden and untracked columns NULL
    assert_eq!(
        via_sql(&t, t2).await,
        [
            json!({"id": 1, "name": "bolt", "qty": 11, "secret": null, "note": null, "version": 1}),
            json!({"id": 3, "name": "big gear", "qty": 31, "secret": null, "note": null, "version": 1}),
            json!({"id": 4, "name": "cog", "qty": 40, "secret": null, "note": null, "version": 0}),
        ]
    );
    assert!(via_sql(&t, t0).await.is_empty());
    let ids: Vec<i32> = sqlx::query_scalar(
        "SELECT id FROM chrononaut.as_of(NULL::item, $1) WHERE qty > 15 ORDER BY id",
    )
    .bind(t3)
    .fetch_all(&t.pool)
    .await
    .expect("filtered");
    assert_eq!(ids, [2, 3]);
    let e = t
        .exec_err("SELECT * FROM chrononaut.as_of(42, now())")
        .await;
    assert!(common::is_sqlstate(&e, "22023"), "{e}");
}

#[tokio::test]
async fn as_of_in_another_schema_with_timestamps() {
    let t = common::setup().await;
    t.exec(
        "CREATE SCHEMA shop; CREATE TABLE shop.\"Order\" (org text, num int, at timestamp, \
         due timestamptz, PRIMARY KEY (org, num))",
    )
    .await;
    t.track("shop.\"Order\"", &TrackOptions::new()).await;
    t.exec(
        "SET TIME ZONE 'America/New_York'; INSERT INTO shop.\"Order\" VALUES \
         ('acme', 1, '2020-01-01 10:00', '2020-02-01 10:00+00')",
    )
    .await;
    let rows: Vec<(String, i32, chrono::NaiveDateTime, DateTime<Utc>)> = sqlx::query_as(
        "SELECT org, num, at, due FROM chrononaut.as_of(NULL::shop.\"Order\", now())",
    )
    .fetch_all(&t.pool)
    .await
    .expect("as_of()");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].2.to_string(), "2020-01-01 10:00:00");
    assert_eq!(rows[0].3.to_rfc3339(), "2020-02-01T10:00:00+00:00");
}

#[tokio::test]
async fn baseline_records_existing_rows() {
    let t = common::setup().await;
    t.exec(
        "CREATE TABLE line (org text, num int, qty int, secret text, at timestamp, \
         dbl int GENERATED ALWAYS AS (qty * 2) STORED, \
         PRIMARY KEY (org, num)); \
         INSERT INTO line (org, num, qty, secret, at) SELECT CASE WHEN g % 2 = 0 THEN 'acme' ELSE 'zed' END, g, g * 10, 's', \
         '2020-01-01 00:00' FROM generate_series(1, 25) g",
    )
    .await;
    t.track("line", &TrackOptions::new().hidden(["secret"]))
        .await;
    // a row changed after tracking, before the baseline: its history starts at 1
    t.exec("UPDATE line SET qty = 0 WHERE org = 'zed' AND num = 1")
        .await;
    let before = now(&t).await;

    let calls = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&calls);
    let mut conn = t.pool.acquire().await.expect("connection");
    let report =
        t.ch.baseline(
            &mut conn,
            "line",
            BaselineOptions::new()
                .batch_size(4)
                .progress(move |done, all| seen.lock().expect("lock").push((done, all))),
        )
        .await
        .expect("baseline");
    assert_eq!(report.recorded, 24);
    assert_eq!(report.batches, 7);
    let calls = calls.lock().expect("lock").clone();
    assert_eq!(calls.first(), Some(&(0, 24)));
    assert_eq!(calls.last(), Some(&(24, 24)));

    assert_eq!(
        t.scalar_i64("SELECT count(*) FROM line WHERE version = 0")
            .await,
        24
    );
    assert_eq!(
        t.scalar_i64("SELECT count(*) FROM line WHERE version IS NULL")
            .await,
        0
    );
    // exactly one history row per baselined record, nothing recorded as an update
    assert_eq!(
        t.scalar_i64(
            "SELECT count(*) FROM chrononaut_activity WHERE table_name = 'line' AND version = 0 \
             AND operation = 'insert' AND extra_info = '{\"baseline\": true}'"
        )
        .await,
        24
    );
    assert_eq!(t.activity_count().await, 25);
    let rec =
        t.ch.record(&mut conn, "line", json!({"org": "acme", "num": "2"}))
            .await
            .expect("record");
    let v0 = rec.version(&mut conn, 0).await.expect("v0");
    assert_eq!(
        v0.data(),
        json!({"org": "acme", "num": 2, "qty": 20, "at": "2020-01-01T00:00:00+00:00", "dbl": 40,
               "version": 0})
        .as_object()
        .expect("object")
    );
    assert!(v0.changed() >= before);
    t.exec("UPDATE line SET qty = 21 WHERE org = 'acme' AND num = 2")
        .await;
    let versions = rec
        .versions(&mut conn, &VersionFilter::new())
        .await
        .expect("versions");
    assert_eq!(
        versions.iter().map(|v| v.version()).collect::<Vec<_>>(),
        [0, 1]
    );
    t.assert_row_versions(
        "line",
        "line",
        "jsonb_build_object('org', t.org, 'num', t.num)",
    )
    .await;

    // idempotent
    let again =
        t.ch.baseline(&mut conn, "line", BaselineOptions::new())
            .await
            .expect("baseline");
    assert_eq!(again.recorded, 0);
    // every row now appears as of now
    let n =
        t.ch.as_of(&mut conn, "line", now(&t).await)
            .await
            .expect("as of")
            .rows()
            .try_fold(0, |n, _| async move { Ok(n + 1) })
            .await
            .expect("count");
    assert_eq!(n, 25);
    // untracked tables are refused
    t.exec("CREATE TABLE plain (id int PRIMARY KEY)").await;
    assert!(matches!(
        t.ch.baseline(&mut conn, "plain", BaselineOptions::new())
            .await,
        Err(Error::NotTracked(_))
    ));
}

/// The whole-table query before the skip scan (a DISTINCT ON over every history row of the
/// table up to t), kept as the reference the new one must agree with, in as_of's order: the
/// history index's, descending (hash of the key, key).
const REFERENCE: &str = "SELECT COALESCE(jsonb_agg(jsonb_build_array(h.key, h.version, h.changed, h.data) \
         ORDER BY jsonb_hash(h.key) DESC, h.key DESC), '[]') FROM ( \
     SELECT DISTINCT ON (a.key) a.key, a.version, a.changed, a.data, a.operation \
     FROM chrononaut_activity AS a WHERE a.table_name = $1 AND a.changed <= $2 \
     ORDER BY a.key DESC, a.changed DESC, a.version DESC, a.id DESC) AS h \
     WHERE h.operation IS DISTINCT FROM 'delete'";

/// `as_of` (Rust stream and SQL function) gives exactly what the DISTINCT ON query gave, at
/// every moment of a history with inserts, updates, deletions, re-inserts, baseline rows,
/// rows the Python library wrote (no operation, repeated version numbers, equal times),
/// hidden and untracked columns, keys deleted since (absent from the live table), composite
/// keys, and other tables' history with the same keys on both sides of the table's name; on
/// each of the paths of `chrononaut.as_of_path` (walk, skip, scan), forced and as chosen.
#[tokio::test]
async fn as_of_agrees_with_the_reference_at_every_moment() {
    let t = common::setup().await;
    t.exec(
        "CREATE TABLE m (org text, num int, name text, secret text, note text, \
         PRIMARY KEY (org, num)); \
         INSERT INTO m VALUES ('a', 1, 'pre', 's', 'n'), ('b', 2, 'pre', 's', 'n')",
    )
    .await;
    t.track(
        "m",
        &TrackOptions::new().hidden(["secret"]).untracked(["note"]),
    )
    .await;
    let mut conn = t.pool.acquire().await.expect("connection");
    t.ch.baseline(&mut conn, "m", BaselineOptions::new())
        .await
        .expect("baseline");
    // neighbours in the index: tables named just before and after, with the same keys
    t.exec(
        "INSERT INTO chrononaut_activity (table_name, changed, version, key, data, operation) \
         SELECT n, now() - interval '1 hour', 0, jsonb_build_object('org', 'a', 'num', g), \
                jsonb_build_object('org', 'a', 'num', g, 'version', 0), 'insert' \
         FROM unnest(ARRAY['l', 'ma', 'm ', 'z']) n, generate_series(1, 3) g",
    )
    .await;
    let mut moments = vec![now(&t).await];
    for sql in [
        "INSERT INTO m VALUES ('a', 3, 'x', 's', 'n'), ('c', 1, 'y', 's', 'n')",
        "UPDATE m SET name = 'x2' WHERE num = 3",
        "UPDATE m SET secret = 't'",
        "UPDATE m SET note = 'only untracked'",
        "DELETE FROM m WHERE org = 'b'",
        "INSERT INTO m VALUES ('b', 2, 'back', 's', 'n')",
        "DELETE FROM m WHERE org = 'c'",
        "UPDATE m SET name = name || '!'",
        "DELETE FROM m",
        "INSERT INTO m VALUES ('a', 1, 'again', 's', 'n')",
    ] {
        t.exec(sql).await;
        moments.push(now(&t).await);
    }
    // Python-written history of keys the live table never had: equal times, a version
    // number repeated after a re-insert, no operation
    t.exec(
        "INSERT INTO chrononaut_activity (table_name, changed, version, key, data, user_info, extra_info) VALUES \
         ('m', now() - interval '2 hours', 0, '{\"org\": \"p\", \"num\": 1}', '{\"org\": \"p\", \"num\": 1, \"name\": \"py0\", \"version\": 0}', '{}', '{}'), \
         ('m', now() - interval '2 hours', 1, '{\"org\": \"p\", \"num\": 1}', '{\"org\": \"p\", \"num\": 1, \"name\": \"py1\", \"version\": 1}', '{}', '{}'), \
         ('m', now() - interval '90 minutes', 0, '{\"org\": \"p\", \"num\": 1}', '{\"org\": \"p\", \"num\": 1, \"name\": \"py-re\", \"version\": 0}', '{}', '{}'), \
         ('m', now() - interval '90 minutes', 0, '{\"org\": \"p\", \"num\": 2}', '{\"org\": \"p\", \"num\": 2, \"name\": \"twin a\", \"version\": 0}', '{}', '{}'), \
         ('m', now() - interval '90 minutes', 0, '{\"org\": \"p\", \"num\": 2}', '{\"org\": \"p\", \"num\": 2, \"name\": \"twin b\", \"version\": 0}', '{}', '{}')",
    )
    .await;
    let changed: Vec<DateTime<Utc>> = sqlx::query_scalar(
        "SELECT DISTINCT changed FROM chrononaut_activity WHERE table_name = 'm' ORDER BY 1",
    )
    .fetch_all(&t.pool)
    .await
    .expect("times");
    let us = chrono::Duration::microseconds(1);
    moments.extend(changed.iter().flat_map(|c| [*c - us, *c, *c + us]));
    // and the statistics as_of_path estimates from (without them it always skips)
    t.exec("ANALYZE m; ANALYZE chrononaut_activity").await;
    // every path of chrononaut.as_of_path, forced, and the one it chooses ('' = auto)
    for path in ["", "walk", "skip", "scan"] {
        sqlx::query("SELECT set_config('chrononaut.as_of_path', $1, false)")
            .bind(path)
            .execute(&mut *conn)
            .await
            .expect("set the path");
        let mut non_empty = 0;
        for &at in &moments {
            let want: Value = sqlx::query_scalar(REFERENCE)
                .bind("m")
                .bind(at)
                .fetch_one(&t.pool)
                .await
                .expect("reference");
            let rows: Vec<chrononaut::AsOfRow> =
                t.ch.as_of(&mut conn, "m", at)
                    .await
                    .expect("as of")
                    .rows()
                    .try_collect()
                    .await
                    .expect("rows");
            let got = Value::Array(
                rows.iter()
                    .map(|r| json!([r.key, r.version, r.changed, r.data]))
                    .collect(),
            );
            // the same rows, in the same (index) order; times compared as instants
            let norm = |v: &Value| -> Vec<(Value, Value, i64, Value)> {
                v.as_array()
                    .into_iter()
                    .flatten()
                    .map(|r| {
                        let t: DateTime<Utc> =
                            serde_json::from_value(r[2].clone()).expect("timestamp");
                        (
                            r[0].clone(),
                            r[1].clone(),
                            t.timestamp_micros(),
                            r[3].clone(),
                        )
                    })
                    .collect()
            };
            assert_eq!(norm(&got), norm(&want), "as of {at}, path '{path}'");
            let sql: Vec<Value> = sqlx::query_scalar(
                "SELECT to_jsonb(r) FROM chrononaut.as_of(NULL::m, $1) r ORDER BY r.org, r.num",
            )
            .bind(at)
            .fetch_all(&mut *conn)
            .await
            .expect("as_of()");
            let mut want_sql: Vec<Value> = want
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| {
                    let d = &r[3];
                    json!({"org": d["org"], "num": d["num"], "name": d.get("name"),
                           "secret": null, "note": null, "version": d["version"]})
                })
                .collect();
            want_sql.sort_by_key(|d| (d["org"].as_str().map(str::to_owned), d["num"].as_i64()));
            assert_eq!(sql, want_sql, "chrononaut.as_of at {at}, path '{path}'");
            non_empty += usize::from(!sql.is_empty());
        }
        assert!(non_empty > 20, "{non_empty} (path '{path}')");
    }
}

/// "As of" reads O(records) index entries: one or two index steps per key, never the table's
/// history (the DISTINCT ON it replaced read every version up to t), on the walk path (one
/// step per key, what as_of_path chooses here) and the skip path (a skip to the next key and a
/// probe), with the parameters' values and in a generic plan; a time before the table's
/// history reads nothing; the scan path (only ever chosen for at most 16 versions per record)
/// reads the table's entries once, index only, and one row per key by its id (primary key); no
/// path sorts (the id tie-break is the index's last column); and the SQL function
/// takes the same path (its statement's buffer reads stay near the Rust query's).
#[tokio::test]
async fn as_of_reads_per_key_not_per_version() {
    let t = common::setup().await;
    t.exec(
        "CREATE TABLE doc (id int PRIMARY KEY, v int); \
         INSERT INTO doc SELECT g, 39 FROM generate_series(1, 300) g",
    )
    .await;
    t.track("doc", &TrackOptions::new()).await;
    // 300 keys x 40 versions, interleaved in time; other tables' history around it
    t.exec(
        "INSERT INTO chrononaut_activity (table_name, changed, version, key, data, operation) \
         SELECT n, timestamptz '2026-01-01' + make_interval(secs => v * 1000 + k), v, \
                jsonb_build_object('id', k), jsonb_build_object('id', k, 'v', v, 'version', v), \
                CASE WHEN v = 0 THEN 'insert' ELSE 'update' END \
         FROM unnest(ARRAY['da', 'doc', 'dz']) n, generate_series(0, 39) v, generate_series(1, 300) k",
    )
    .await;
    t.exec("VACUUM ANALYZE chrononaut_activity").await;
    t.exec("ANALYZE doc").await;
    let mut conn = t.plain_connection().await;
    sqlx::raw_sql(common::plans::AUTO_EXPLAIN_JSON)
        .execute(&mut conn)
        .await
        .expect("auto_explain (the test suite runs as a superuser)");
    let chosen = |at: &'static str| {
        let pool = t.pool.clone();
        async move {
            sqlx::query_scalar::<_, String>("SELECT chrononaut.as_of_path('doc', $1::timestamptz)")
                .bind(at)
                .fetch_one(&pool)
                .await
                .expect("as_of_path")
        }
    };
    // 40 versions per key: one step per key, in the middle of the history and after it
    assert_eq!(chosen("2026-01-01 05:00+00").await, "walk");
    assert_eq!(chosen("2026-01-02 00:00+00").await, "walk");
    assert_eq!(chosen("2026-01-01 00:00+00").await, "empty");
    let index_rows = |all: &[&Value]| -> f64 {
        all.iter()
            .filter(|n| {
                n["Node Type"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("Index"))
            })
            .map(|n| {
                n["Actual Rows"].as_f64().unwrap_or(0.0) * n["Actual Loops"].as_f64().unwrap_or(0.0)
            })
            .sum()
    };
    for path in ["", "walk", "skip"] {
        for mode in ["force_custom_plan", "force_generic_plan"] {
            for at in ["2026-01-01 05:00+00", "2026-01-02 00:00+00"] {
                // the statement of chrononaut.history_as_of, which the library calls
                let plans = common::plans::plans_of(
                    &mut conn,
                    &format!(
                        "SET plan_cache_mode = {mode}; SET chrononaut.as_of_path = '{path}'; \
                         SELECT count(*) FROM chrononaut.history_as_of('doc', '{at}')"
                    ),
                )
                .await;
                let plan = plans
                    .iter()
                    .find(|p| {
                        p["Query Text"]
                            .as_str()
                            .is_some_and(|q| q.contains("WITH RECURSIVE"))
                    })
                    .unwrap_or_else(|| panic!("no plan of the as-of statement: {plans:#?}"));
                let text = plan["Query Text"].as_str().unwrap_or_default();
                let walks = text.contains("< (r.h, r.key)");
                assert_eq!(walks, path != "skip", "path '{path}': {text}");
                let all = common::plans::nodes(&plan["Plan"]);
                let what = format!("as of {at} ({mode}, path '{path}'): {plan:#}");
                let mut scans = 0;
                for n in &all {
                    assert_ne!(n["Node Type"], "Seq Scan", "{what}");
                    assert_ne!(n["Node Type"], "Bitmap Heap Scan", "{what}");
                    // the id tie-break comes from the index (its last column): no sort per
                    // step (an index on (table_name, key, changed, version) needs one)
                    assert!(
                        !n["Node Type"].as_str().is_some_and(|s| s.contains("Sort")),
                        "{what}"
                    );
                    if n["Node Type"]
                        .as_str()
                        .is_some_and(|s| s.starts_with("Index"))
                    {
                        scans += 1;
                        assert_eq!(
                            n["Index Name"], "ix_chrononaut_activity_table_key_changed",
                            "{what}"
                        );
                        // a step or probe reads a row or two per loop, never a key's versions
                        let rows = n["Actual Rows"].as_f64().unwrap_or(f64::MAX);
                        assert!(rows <= 2.0, "{what}");
                    }
                }
                // the walk: the first step and the recursive one, no second probe per key
                if walks {
                    assert_eq!(scans, 2, "{what}");
                }
                // index entries read in all: about 2 per key (12000 history rows of doc)
                let read = index_rows(&all);
                assert!(read <= 3.0 * 301.0, "{read} index rows: {what}");
                // and the buffers touched stay O(keys x depth)
                let hits = plan["Plan"]["Shared Hit Blocks"].as_f64().unwrap_or(0.0)
                    + plan["Plan"]["Shared Read Blocks"].as_f64().unwrap_or(0.0);
                assert!(hits <= 301.0 * 10.0, "{hits} buffers: {what}");
            }
        }
    }
    // before the table's first history row: nothing is read but its first row's time
    let plans = common::plans::plans_of(
        &mut conn,
        "SET chrononaut.as_of_path = ''; \
         SELECT count(*) FROM chrononaut.history_as_of('doc', '2026-01-01 00:00+00')",
    )
    .await;
    for p in &plans {
        let read = index_rows(&common::plans::nodes(&p["Plan"]));
        assert!(read <= 1.0, "{read} index rows: {p:#}");
    }
    // the scan path: doc's entries at or before t once (index only), one exact probe per key
    let plans = common::plans::plans_of(
        &mut conn,
        "SET chrononaut.as_of_path = 'scan'; \
         SELECT count(*) FROM chrononaut.history_as_of('doc', '2026-01-01 05:00+00')",
    )
    .await;
    let plan = plans
        .iter()
        .find(|p| {
            p["Query Text"]
                .as_str()
                .is_some_and(|q| q.contains("DISTINCT ON"))
        })
        .unwrap_or_else(|| panic!("no plan of the scan: {plans:#?}"));
    let what = format!("{plan:#}");
    let (mut passes, mut probes) = (0, 0);
    for n in common::plans::nodes(&plan["Plan"]) {
        assert_ne!(n["Node Type"], "Seq Scan", "{what}");
        assert_ne!(n["Node Type"], "Bitmap Heap Scan", "{what}");
        assert!(
            !n["Node Type"].as_str().is_some_and(|s| s.contains("Sort")),
            "{what}"
        );
        if n["Node Type"] == "Index Only Scan" {
            passes += 1;
            assert_eq!(
                n["Index Name"], "ix_chrononaut_activity_table_key_changed",
                "{what}"
            );
            // 300 keys x 18 versions at or before 05:00, none of another table's
            let rows = n["Actual Rows"].as_f64().unwrap_or(f64::MAX);
            assert!(rows <= 300.0 * 18.0, "{what}");
        } else if n["Node Type"] == "Index Scan" {
            probes += 1;
            // each key's row by the id its index entry carries: integer comparisons, not a
            // second descent of the jsonb index
            assert_eq!(n["Index Name"], "chrononaut_activity_pkey", "{what}");
            assert!(
                n["Actual Rows"].as_f64().unwrap_or(f64::MAX) <= 1.0,
                "{what}"
            );
            assert!(
                n["Actual Loops"].as_f64().unwrap_or(f64::MAX) <= 300.0,
                "{what}"
            );
        }
    }
    assert_eq!((passes, probes), (1, 1), "{what}");
    sqlx::raw_sql("SET chrononaut.as_of_path = ''")
        .execute(&mut conn)
        .await
        .expect("reset");
    // the SQL function: the same order of buffer reads as the query (the reference
    // DISTINCT ON over doc's 12000 rows reads several times more)
    let buffers = |sql: &'static str| {
        let pool = t.pool.clone();
        async move {
            let mut c = pool.acquire().await.expect("connection");
            let plan: Value = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}"
            )))
            .fetch_one(&mut *c)
            .await
            .expect("explain");
            plan[0]["Plan"]["Shared Hit Blocks"].as_f64().unwrap_or(0.0)
                + plan[0]["Plan"]["Shared Read Blocks"]
                    .as_f64()
                    .unwrap_or(0.0)
        }
    };
    let function =
        buffers("SELECT count(*) FROM chrononaut.as_of(NULL::doc, '2026-01-02 00:00+00')").await;
    assert!(function <= 301.0 * 10.0, "{function} buffers");
}

/// The path as_of_path chooses follows the history's shape: few versions per record read the
/// table's entries once (scan), recent times on many versions one step per record (walk), far
/// back in a long history two (skip); without statistics it skips, as earlier releases did.
#[tokio::test]
async fn as_of_path_follows_the_history_shape() {
    let t = common::setup().await;
    t.exec(
        "CREATE TABLE few (id int PRIMARY KEY, v int); \
         CREATE TABLE many (id int PRIMARY KEY, v int); \
         CREATE TABLE fresh (id int PRIMARY KEY, v int); \
         INSERT INTO few SELECT g, 0 FROM generate_series(1, 1000) g; \
         INSERT INTO many SELECT g, 0 FROM generate_series(1, 50) g; \
         INSERT INTO fresh SELECT g, 0 FROM generate_series(1, 50) g",
    )
    .await;
    for table in ["few", "many", "fresh"] {
        t.track(table, &TrackOptions::new()).await;
    }
    // few: 1000 records x 4 versions; many: 50 records x 400 versions; over the same day
    t.exec(
        "INSERT INTO chrononaut_activity (table_name, changed, version, key, data, operation) \
         SELECT 'few', timestamptz '2026-01-01' + make_interval(secs => v * 21600 + k), v, \
                jsonb_build_object('id', k), jsonb_build_object('id', k, 'version', v), 'update' \
         FROM generate_series(0, 3) v, generate_series(1, 1000) k; \
         INSERT INTO chrononaut_activity (table_name, changed, version, key, data, operation) \
         SELECT 'many', timestamptz '2026-01-01' + make_interval(secs => v * 216 + k), v, \
                jsonb_build_object('id', k), jsonb_build_object('id', k, 'version', v), 'update' \
         FROM generate_series(0, 399) v, generate_series(1, 50) k; \
         ANALYZE few; ANALYZE many; ANALYZE chrononaut_activity; \
         INSERT INTO chrononaut_activity (table_name, changed, version, key, data, operation) \
         SELECT 'fresh', timestamptz '2026-01-01', 0, jsonb_build_object('id', k), \
                jsonb_build_object('id', k, 'version', 0), 'insert' \
         FROM generate_series(1, 50) k",
    )
    .await;
    let path = |table: &'static str, at: &'static str| {
        let pool = t.pool.clone();
        async move {
            sqlx::query_scalar::<_, String>("SELECT chrononaut.as_of_path($1, $2::timestamptz)")
                .bind(table)
                .bind(at)
                .fetch_one(&pool)
                .await
                .expect("as_of_path")
        }
    };
    assert_eq!(path("few", "2026-01-01 12:00+00").await, "scan");
    assert_eq!(path("few", "2026-01-03 00:00+00").await, "scan");
    assert_eq!(path("many", "2026-01-03 00:00+00").await, "walk");
    assert_eq!(path("many", "2026-01-01 23:00+00").await, "walk");
    assert_eq!(path("many", "2026-01-01 06:00+00").await, "skip");
    assert_eq!(path("many", "2025-12-31 00:00+00").await, "empty");
    // never analyzed (no statistics of its history rows): the skip scan
    assert_eq!(path("fresh", "2026-01-03 00:00+00").await, "skip");
    // no history at all
    assert_eq!(path("other", "2026-01-03 00:00+00").await, "empty");
    // history of a table that is not tracked: no estimate of its records
    t.exec(
        "INSERT INTO chrononaut_activity (table_name, changed, version, key, data, operation) \
         VALUES ('other', '2026-01-01', 0, '{\"id\": 1}', '{\"id\": 1}', 'insert')",
    )
    .await;
    assert_eq!(path("other", "2026-01-03 00:00+00").await, "skip");
    // a forced path wins, whatever the estimates
    let mut conn = t.pool.acquire().await.expect("connection");
    sqlx::raw_sql("SET chrononaut.as_of_path = 'walk'")
        .execute(&mut *conn)
        .await
        .expect("set");
    let forced: String = sqlx::query_scalar("SELECT chrononaut.as_of_path('few', now())")
        .fetch_one(&mut *conn)
        .await
        .expect("as_of_path");
    assert_eq!(forced, "walk");
    sqlx::raw_sql("RESET chrononaut.as_of_path")
        .execute(&mut *conn)
        .await
        .expect("reset");
}

/// An as-of row keeps numbers as PostgreSQL stored them (`raw`), beside the f64s of `data`.
#[tokio::test]
async fn as_of_rows_keep_numbers_as_stored() {
    let t = common::setup().await;
    t.exec(
        "CREATE TABLE price (id int PRIMARY KEY, amount numeric(12,2), exact numeric, secret text)",
    )
    .await;
    t.track("price", &TrackOptions::new().hidden(["secret"]))
        .await;
    t.exec("INSERT INTO price VALUES (1, 350, 0.1000000000000000001, 's')")
        .await;
    let mut conn = t.pool.acquire().await.expect("connection");
    let as_of =
        t.ch.as_of(&mut conn, "price", chrono::Utc::now())
            .await
            .expect("as of");
    let rows: Vec<chrononaut::AsOfRow> = as_of.rows().try_collect().await.expect("rows");
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row.raw("amount").map(|v| v.get()), Some("350.00"));
    assert_eq!(
        row.raw("exact").map(|v| v.get()),
        Some("0.1000000000000000001")
    );
    assert_eq!(row.data["amount"], json!(350.0));
    assert!(row.raw("secret").is_none(), "a hidden column");
    assert_eq!(
        row.raw_columns().keys().collect::<Vec<_>>(),
        ["amount", "exact", "id", "version"]
    );
    let whole: Value = serde_json::from_str(row.raw_data().get()).expect("json");
    assert_eq!(whole["id"], json!(1));
}
