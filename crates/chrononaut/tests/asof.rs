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
