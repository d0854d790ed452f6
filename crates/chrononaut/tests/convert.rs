//! Legacy conversion (chrononaut 0.1/0.2 `<table>_history` tables) against a real PostgreSQL.
//!
//! The fixture is our own: notes (created_at, an `id` key, a column the legacy history never
//! recorded), inv.items (no created_at, a text `sku` key, outside `public`) and joined-table
//! inheritance (special_docs under docs).

mod common;

use chrononaut::{ChangeContext, ConvertOptions, Converter, Error, TrackOptions};
use common::Ctx;
use serde_json::{Value, json};

/// Legacy rows hold the state BEFORE a change, with the change's time and change info.
const FIXTURE: &str = r#"
CREATE TABLE notes (
    id         integer PRIMARY KEY,
    title      text,
    body       text,
    secret     text,              -- hidden in 0.2: never in notes_history
    created_at timestamptz,
    version    integer
);
CREATE TABLE notes_history (
    id          integer NOT NULL,
    title       text,
    body        text,
    created_at  timestamptz,
    version     integer NOT NULL,
    changed     timestamptz,
    change_info jsonb,
    PRIMARY KEY (id, version)
);
-- note 1: three versions; note 2: one version; note 3: version NULL (never changed since
-- versioning was added); note 4: deleted after one change; note 5 changed a hidden column.
INSERT INTO notes VALUES
    (1, 'Groceries', 'milk, eggs, bread', 's1', '2020-01-01 09:00:00+00', 2),
    (2, 'Call mum', NULL, NULL, '2020-01-03 08:00:00+00', 0),
    (3, 'Old note', 'from before versioning', NULL, '2019-12-31 23:00:00+00', NULL),
    (5, 'Password', 'rotated', 'new', '2020-02-01 00:00:00+00', 1);
INSERT INTO notes_history VALUES
    (1, 'Grocries', 'milk', '2020-01-01 09:00:00+00', 0, '2020-01-01 10:00:00+00',
     '{"user_id": "alice", "remote_addr": "10.0.0.1"}'),
    (1, 'Groceries', 'milk, eggs', '2020-01-01 09:00:00+00', 1, '2020-01-02 10:00:00+00',
     '{"user_id": "bob", "remote_addr": null, "extra": {"rationale": "more food"}}'),
    (4, 'Temp', 'to delete', '2020-01-05 00:00:00+00', 0, '2020-01-06 00:00:00+00',
     '{"user_id": "carol", "remote_addr": null}'),
    (4, 'Temp', 'to delete (edited)', '2020-01-05 00:00:00+00', 1, '2020-01-07 00:00:00+00',
     '{"user_id": "dave", "remote_addr": null, "extra": {"rationale": "cleanup"}}'),
    (5, 'Password', 'rotated', '2020-02-01 00:00:00+00', 0, '2020-02-02 00:00:00+00',
     '{"user_id": "eve", "remote_addr": null, "hidden_cols_changed": ["secret"]}');

CREATE SCHEMA inv;
CREATE TABLE inv.items (sku text PRIMARY KEY, qty integer, version integer);
CREATE TABLE inv.items_history (
    sku text NOT NULL, qty integer, version integer NOT NULL,
    changed timestamptz, change_info jsonb,
    PRIMARY KEY (sku, version)
);
INSERT INTO inv.items VALUES ('A-1', 7, 1), ('B-2', 3, NULL);
INSERT INTO inv.items_history VALUES
    ('A-1', 10, 0, '2021-05-01 12:00:00+00', '{"user_id": "carol", "remote_addr": "192.0.2.7"}');

CREATE TABLE docs (
    id integer PRIMARY KEY, title text, doc_type text, version integer,
    created_at timestamp without time zone
);
CREATE TABLE docs_history (
    id integer NOT NULL, title text, doc_type text, created_at timestamp without time zone,
    version integer NOT NULL, changed timestamptz, change_info jsonb,
    PRIMARY KEY (id, version)
);
CREATE TABLE special_docs (id integer PRIMARY KEY REFERENCES docs (id), note text);
CREATE TABLE special_docs_history (
    id integer NOT NULL, note text, version integer NOT NULL,
    changed timestamptz, change_info jsonb,
    PRIMARY KEY (id, version)
);
INSERT INTO docs VALUES (7, 'Special', 'special', 1, '2019-06-11 21:37:01.123456');
INSERT INTO docs_history VALUES
    (7, 'Spcial', 'special', '2019-06-11 21:37:01.123456', 0, '2019-06-11 21:42:42.5+00',
     '{"user_id": null, "remote_addr": null}');
INSERT INTO special_docs VALUES (7, 'note v1');
INSERT INTO special_docs_history VALUES
    (7, 'note v0', 0, '2019-06-11 21:42:42.5+00', '{"user_id": "frank", "remote_addr": null}');
"#;

async fn fixture() -> Ctx {
    let t = common::setup().await;
    t.exec(FIXTURE).await;
    t
}

async fn converter(t: &Ctx, table: &str, options: &ConvertOptions) -> Converter {
    let mut conn = t.pool.acquire().await.expect("connection");
    t.ch.converter(&mut conn, table, options)
        .await
        .expect("converter")
}

/// The activity rows of a table_name with every column, `changed` in UTC, by key and version.
async fn rows(t: &Ctx, table_name: &str) -> Vec<Value> {
    let rows: Option<Value> = sqlx::query_scalar(
        "SELECT jsonb_agg(jsonb_build_object('changed', changed AT TIME ZONE 'UTC', \
         'version', version, 'key', key, 'data', data, 'user_info', user_info, \
         'extra_info', extra_info, 'operation', operation) ORDER BY key, version) \
         FROM chrononaut_activity WHERE table_name = $1",
    )
    .bind(table_name)
    .fetch_one(&t.pool)
    .await
    .expect("rows");
    match rows {
        Some(Value::Array(rows)) => rows,
        _ => Vec::new(),
    }
}

fn nobody() -> Value {
    json!({"user_id": null, "remote_addr": null})
}

fn note_rows() -> Vec<Value> {
    let data = |title: &str, body: Value, version: i32| {
        json!({"id": 1, "title": title, "body": body,
               "created_at": "2020-01-01T09:00:00+00:00", "version": version})
    };
    vec![
        json!({"changed": "2020-01-01T09:00:00", "version": 0, "key": {"id": 1},
               "data": data("Grocries", json!("milk"), 0), "user_info": nobody(),
               "extra_info": {}, "operation": "insert"}),
        json!({"changed": "2020-01-01T10:00:00", "version": 1, "key": {"id": 1},
               "data": data("Groceries", json!("milk, eggs"), 1),
               "user_info": {"user_id": "alice", "remote_addr": "10.0.0.1"},
               "extra_info": {}, "operation": "update"}),
        json!({"changed": "2020-01-02T10:00:00", "version": 2, "key": {"id": 1},
               "data": data("Groceries", json!("milk, eggs, bread"), 2),
               "user_info": {"user_id": "bob", "remote_addr": null},
               "extra_info": {"rationale": "more food"}, "operation": "update"}),
        json!({"changed": "2020-01-03T08:00:00", "version": 0, "key": {"id": 2},
               "data": {"id": 2, "title": "Call mum", "body": null,
                        "created_at": "2020-01-03T08:00:00+00:00", "version": 0},
               "user_info": nobody(), "extra_info": {}, "operation": "insert"}),
        json!({"changed": "2019-12-31T23:00:00", "version": 0, "key": {"id": 3},
               "data": {"id": 3, "title": "Old note", "body": "from before versioning",
                        "created_at": "2019-12-31T23:00:00+00:00", "version": 0},
               "user_info": nobody(), "extra_info": {}, "operation": "insert"}),
        json!({"changed": "2020-01-05T00:00:00", "version": 0, "key": {"id": 4},
               "data": {"id": 4, "title": "Temp", "body": "to delete",
                        "created_at": "2020-01-05T00:00:00+00:00", "version": 0},
               "user_info": nobody(), "extra_info": {}, "operation": "insert"}),
        json!({"changed": "2020-01-06T00:00:00", "version": 1, "key": {"id": 4},
               "data": {"id": 4, "title": "Temp", "body": "to delete (edited)",
                        "created_at": "2020-01-05T00:00:00+00:00", "version": 1},
               "user_info": {"user_id": "carol", "remote_addr": null},
               "extra_info": {}, "operation": "update"}),
        json!({"changed": "2020-01-07T00:00:00", "version": 2, "key": {"id": 4},
               "data": {"id": 4, "title": "Temp", "body": "to delete (edited)",
                        "created_at": "2020-01-05T00:00:00+00:00", "version": 2},
               "user_info": {"user_id": "dave", "remote_addr": null},
               "extra_info": {"rationale": "cleanup"}, "operation": "delete"}),
        json!({"changed": "2020-02-01T00:00:00", "version": 0, "key": {"id": 5},
               "data": {"id": 5, "title": "Password", "body": "rotated",
                        "created_at": "2020-02-01T00:00:00+00:00", "version": 0},
               "user_info": nobody(), "extra_info": {}, "operation": "insert"}),
        json!({"changed": "2020-02-02T00:00:00", "version": 1, "key": {"id": 5},
               "data": {"id": 5, "title": "Password", "body": "rotated",
                        "created_at": "2020-02-01T00:00:00+00:00", "version": 1},
               "user_info": {"user_id": "eve", "remote_addr": null},
               "extra_info": {"hidden_cols_changed": ["secret"]}, "operation": "update"}),
    ]
}

#[tokio::test]
async fn converts_exact_rows() {
    let t = fixture().await;
    let mut conn = t.pool.acquire().await.expect("connection");

    let notes = converter(&t, "notes", &ConvertOptions::new()).await;
    assert_eq!(notes.history_name(), "notes");
    assert_eq!(notes.id_column(), "id");
    assert_eq!(notes.left_out(), ["secret"]);
    let report = notes.convert_all(&mut conn).await.expect("convert notes");
    assert_eq!(
        (report.objects, report.rows, report.skipped_rows),
        (5, 10, 0)
    );
    assert_eq!(rows(&t, "notes").await, note_rows());

    // No created_at, a text key outside public: version 0 takes the first change's time; a
    // record without history gets the conversion's time.
    let before: chrono::DateTime<chrono::Utc> = sqlx::query_scalar("SELECT now()")
        .fetch_one(&t.pool)
        .await
        .expect("now");
    let items = converter(&t, "inv.items", &ConvertOptions::new()).await;
    assert_eq!(items.id_column(), "sku");
    let report = items.convert_all(&mut conn).await.expect("convert items");
    assert_eq!((report.objects, report.rows), (2, 3));
    let got = rows(&t, "inv.items").await;
    assert_eq!(
        got[..2],
        [
            json!({"changed": "2021-05-01T12:00:00", "version": 0, "key": {"sku": "A-1"},
                   "data": {"sku": "A-1", "qty": 10, "version": 0}, "user_info": nobody(),
                   "extra_info": {}, "operation": "insert"}),
            json!({"changed": "2021-05-01T12:00:00", "version": 1, "key": {"sku": "A-1"},
                   "data": {"sku": "A-1", "qty": 7, "version": 1},
                   "user_info": {"user_id": "carol", "remote_addr": "192.0.2.7"},
                   "extra_info": {}, "operation": "update"}),
        ]
    );
    let b2 = &got[2];
    assert_eq!(b2["key"], json!({"sku": "B-2"}));
    assert_eq!(b2["data"], json!({"sku": "B-2", "qty": 3, "version": 0}));
    assert_eq!(b2["operation"], "insert");
    let b2_changed: chrono::DateTime<chrono::Utc> = sqlx::query_scalar(
        "SELECT changed FROM chrononaut_activity WHERE table_name = 'inv.items' AND key = '{\"sku\": \"B-2\"}'",
    )
    .fetch_one(&t.pool)
    .await
    .expect("changed");
    assert!(b2_changed >= before, "{b2_changed} < {before}");

    // Joined-table inheritance: the subclass's history joined with its parent's on id and
    // version; a naive created_at is read as UTC.
    let special = converter(&t, "special_docs", &ConvertOptions::new().join("docs")).await;
    let report = special
        .convert_all(&mut conn)
        .await
        .expect("convert special");
    assert_eq!((report.objects, report.rows), (1, 2));
    let doc = |title: &str, note: &str, version: i32| {
        json!({"id": 7, "title": title, "doc_type": "special", "note": note,
               "created_at": "2019-06-11T21:37:01.123456+00:00", "version": version})
    };
    assert_eq!(
        rows(&t, "special_docs").await,
        [
            json!({"changed": "2019-06-11T21:37:01.123456", "version": 0, "key": {"id": 7},
                   "data": doc("Spcial", "note v0", 0), "user_info": nobody(),
                   "extra_info": {}, "operation": "insert"}),
            json!({"changed": "2019-06-11T21:42:42.5", "version": 1, "key": {"id": 7},
                   "data": doc("Special", "note v1", 1),
                   "user_info": {"user_id": "frank", "remote_addr": null},
                   "extra_info": {}, "operation": "update"}),
        ]
    );
    // The legacy tables are untouched.
    assert_eq!(t.scalar_i64("SELECT count(*) FROM notes_history").await, 5);
    assert_eq!(t.scalar_i64("SELECT count(*) FROM notes").await, 4);
}

#[tokio::test]
async fn chunked_runs_continue_where_they_stopped() {
    let t = fixture().await;
    let mut conn = t.pool.acquire().await.expect("connection");
    // three records: A-1 (legacy + current), B-2 (current only), C-3 (legacy only: deleted)
    t.exec("INSERT INTO inv.items_history VALUES ('C-3', 1, 0, '2021-06-01 00:00:00+00', NULL)")
        .await;
    let mut counts = Vec::new();
    for _ in 0..4 {
        // a fresh converter each time: the progress lives in the database
        let items = converter(&t, "inv.items", &ConvertOptions::new()).await;
        counts.push(
            items
                .convert_chunk(&mut conn, 2)
                .await
                .expect("chunk")
                .objects,
        );
    }
    assert_eq!(counts, [2, 1, 0, 0]);
    assert_eq!(
        t.scalar_i64("SELECT count(*) FROM chrononaut_activity WHERE table_name = 'inv.items'")
            .await,
        5
    );
    let items = converter(&t, "inv.items", &ConvertOptions::new()).await;
    let progress = items
        .progress(&mut conn)
        .await
        .expect("progress")
        .expect("row");
    assert_eq!(progress.last_id.as_deref(), Some("C-3"));
    assert_eq!((progress.objects, progress.rows), (3, 5));
    assert!(progress.finished_at.is_some());
    assert_eq!(items.remaining(&mut conn).await.expect("remaining"), 0);

    // the chunked result equals a one-pass conversion of the same data
    let chunked = rows(&t, "inv.items").await;
    let t2 = fixture().await;
    t2.exec("INSERT INTO inv.items_history VALUES ('C-3', 1, 0, '2021-06-01 00:00:00+00', NULL)")
        .await;
    let mut conn2 = t2.pool.acquire().await.expect("connection");
    converter(&t2, "inv.items", &ConvertOptions::new())
        .await
        .convert_all(&mut conn2)
        .await
        .expect("all");
    let mut one_pass = rows(&t2, "inv.items").await;
    let mut chunked = chunked;
    for rows in [&mut one_pass, &mut chunked] {
        for r in rows.iter_mut() {
            if r["key"]["sku"] == "B-2" {
                r["changed"] = Value::Null; // the conversion's time
            }
        }
    }
    assert_eq!(chunked, one_pass);
}

#[tokio::test]
async fn refuses_a_second_full_pass_unless_forced() {
    let t = fixture().await;
    let mut conn = t.pool.acquire().await.expect("connection");
    let notes = converter(&t, "notes", &ConvertOptions::new()).await;
    notes.convert_all(&mut conn).await.expect("first pass");
    let before = t.activity_dump().await;
    match notes.convert_all(&mut conn).await {
        Err(Error::Conversion(message)) => {
            assert!(message.contains("already converted"), "{message}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // a chunked run after a full pass has nothing left
    assert_eq!(
        notes
            .convert_chunk(&mut conn, 10)
            .await
            .expect("chunk")
            .objects,
        0
    );
    // forced: runs, but writes no duplicate
    let forced = converter(&t, "notes", &ConvertOptions::new().force(true)).await;
    let report = forced.convert_all(&mut conn).await.expect("forced pass");
    assert_eq!((report.rows, report.skipped_rows), (0, 10));
    assert_eq!(t.activity_dump().await, before);
}

#[tokio::test]
async fn update_from_brings_over_later_legacy_changes() {
    let t = fixture().await;
    let mut conn = t.pool.acquire().await.expect("connection");
    let notes = converter(&t, "notes", &ConvertOptions::new()).await;
    while notes
        .convert_chunk(&mut conn, 2)
        .await
        .expect("chunk")
        .objects
        > 0
    {}
    let started = notes
        .progress(&mut conn)
        .await
        .expect("progress")
        .expect("row")
        .started_at;
    // the old application keeps running: note 1 changes twice, note 2 is deleted, note 0 and
    // note 9 are created (one id below the last converted one, one above)
    t.exec(
        "INSERT INTO notes_history VALUES
            (1, 'Groceries', 'milk, eggs, bread', '2020-01-01 09:00:00+00', 2, '2030-01-01 00:00:00+00',
             '{\"user_id\": \"gina\", \"remote_addr\": null}'),
            (1, 'Groceries', 'bread', '2020-01-01 09:00:00+00', 3, '2030-01-02 00:00:00+00',
             '{\"user_id\": \"hank\", \"remote_addr\": null, \"extra\": {\"ticket\": 12}}'),
            (2, 'Call mum', NULL, '2020-01-03 08:00:00+00', 0, '2030-01-03 00:00:00+00',
             '{\"user_id\": \"ivy\", \"remote_addr\": null}');
         UPDATE notes SET body = 'rye bread', version = 4 WHERE id = 1;
         DELETE FROM notes WHERE id = 2;
         INSERT INTO notes VALUES (0, 'Zero', NULL, NULL, '2030-01-04 00:00:00+00', 0),
                                  (9, 'Nine', NULL, NULL, '2030-01-05 00:00:00+00', 0);",
    )
    .await;

    let preview = notes
        .preview_update(&mut conn, started)
        .await
        .expect("preview");
    assert_eq!(preview.chunks[0].rows, 5);
    assert_eq!(
        t.scalar_i64("SELECT count(*) FROM chrononaut_activity")
            .await,
        10
    );

    let report = notes
        .update_from(&mut conn, started, 1)
        .await
        .expect("update");
    assert_eq!(report.rows, 5, "{report:?}");
    let got = rows(&t, "notes").await;
    let versions = |id: i64| -> Vec<(i64, String, Value)> {
        got.iter()
            .filter(|r| r["key"]["id"] == id)
            .map(|r| {
                (
                    r["version"].as_i64().unwrap_or(-1),
                    r["changed"].as_str().unwrap_or_default().to_owned(),
                    r["data"]["body"].clone(),
                )
            })
            .collect()
    };
    // version 2 stays as converted from the then current row; 3 and 4 are new
    assert_eq!(
        versions(1),
        [
            (0, "2020-01-01T09:00:00".into(), json!("milk")),
            (1, "2020-01-01T10:00:00".into(), json!("milk, eggs")),
            (2, "2020-01-02T10:00:00".into(), json!("milk, eggs, bread")),
            (3, "2030-01-01T00:00:00".into(), json!("bread")),
            (4, "2030-01-02T00:00:00".into(), json!("rye bread")),
        ]
    );
    let v4 = got
        .iter()
        .find(|r| r["key"]["id"] == 1 && r["version"] == 4)
        .expect("v4");
    assert_eq!(
        v4["user_info"],
        json!({"user_id": "hank", "remote_addr": null})
    );
    assert_eq!(v4["extra_info"], json!({"ticket": 12}));
    assert_eq!(
        versions(2),
        [
            (0, "2020-01-03T08:00:00".into(), Value::Null),
            (1, "2030-01-03T00:00:00".into(), Value::Null),
        ]
    );
    assert_eq!(
        got.iter().rfind(|r| r["key"]["id"] == 2).expect("2")["operation"],
        "delete"
    );
    assert_eq!(
        versions(0),
        [(0, "2030-01-04T00:00:00".into(), Value::Null)]
    );
    assert_eq!(
        versions(9),
        [(0, "2030-01-05T00:00:00".into(), Value::Null)]
    );

    // again: nothing left
    let again = notes
        .update_from(&mut conn, started, 100)
        .await
        .expect("again");
    assert_eq!(again.rows, 0);
    let progress = notes
        .progress(&mut conn)
        .await
        .expect("progress")
        .expect("row");
    assert_eq!(progress.last_update_from, Some(started));
    assert_eq!(progress.last_id.as_deref(), Some("9"));
}

#[tokio::test]
async fn history_continues_through_the_triggers() {
    let t = fixture().await;
    let mut conn = t.pool.acquire().await.expect("connection");
    converter(&t, "notes", &ConvertOptions::new())
        .await
        .convert_all(&mut conn)
        .await
        .expect("convert");
    t.track("notes", &TrackOptions::new().hidden(["secret"]))
        .await;

    let ctx = ChangeContext::new()
        .user("zoe")
        .rationale("after migration");
    let mut tx = t.ch.begin(&t.pool, &ctx).await.expect("begin");
    sqlx::raw_sql(
        "UPDATE notes SET body = 'oat milk' WHERE id = 1; \
         UPDATE notes SET title = 'Older note' WHERE id = 3; \
         INSERT INTO notes (id, title, created_at) VALUES (4, 'Temp again', now()); \
         INSERT INTO notes (id, title, created_at) VALUES (6, 'New', now());",
    )
    .execute(&mut *tx)
    .await
    .expect("changes");
    tx.commit().await.expect("commit");

    let got = rows(&t, "notes").await;
    let last = |id: i64| {
        got.iter()
            .rfind(|r| r["key"]["id"] == id)
            .cloned()
            .expect("row")
    };
    let one = last(1);
    assert_eq!(
        (one["version"].clone(), one["operation"].clone()),
        (json!(3), json!("update"))
    );
    assert_eq!(
        one["data"],
        json!({"id": 1, "title": "Groceries", "body": "oat milk",
               "created_at": "2020-01-01T09:00:00+00:00", "version": 3})
    );
    assert_eq!(
        one["user_info"],
        json!({"user_id": "zoe", "remote_addr": null, "db_user": t.session_user().await})
    );
    // version NULL -> converted as 0 -> first change is 1
    assert_eq!(last(3)["version"], 1);
    // deleted at 2 by the conversion -> re-insert continues at 3
    assert_eq!(
        (last(4)["version"].clone(), last(4)["operation"].clone()),
        (json!(3), json!("insert"))
    );
    assert_eq!(last(6)["version"], 0);
    t.assert_row_versions("notes", "notes", "jsonb_build_object('id', t.id)")
        .await;
    // the data of the first trigger-written version has the converted rows' columns
    let converted_v2 = got
        .iter()
        .find(|r| r["key"]["id"] == 1 && r["version"] == 2)
        .expect("v2");
    let keys = |v: &Value| {
        let mut k: Vec<String> = v
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        k.sort();
        k
    };
    assert_eq!(keys(&converted_v2["data"]), keys(&one["data"]));
}

#[tokio::test]
async fn tracked_table_options_shape_the_rows() {
    let t = fixture().await;
    let mut conn = t.pool.acquire().await.expect("connection");
    // tracked before conversion, with body untracked: converted rows leave body out too,
    // and secret (not hidden here) appears in the latest version as the triggers would show it
    t.track("notes", &TrackOptions::new().untracked(["body"]))
        .await;
    let notes = converter(&t, "notes", &ConvertOptions::new()).await;
    assert!(notes.tracked());
    assert!(notes.left_out().is_empty());
    notes.convert_all(&mut conn).await.expect("convert");
    let got = rows(&t, "notes").await;
    assert_eq!(
        got[2]["data"],
        json!({"id": 1, "title": "Groceries", "secret": "s1",
               "created_at": "2020-01-01T09:00:00+00:00", "version": 2})
    );
    assert!(got.iter().all(|r| r["data"].get("body").is_none()));
}

#[tokio::test]
async fn dry_run_writes_nothing() {
    let t = fixture().await;
    let mut conn = t.pool.acquire().await.expect("connection");
    let notes = converter(&t, "notes", &ConvertOptions::new()).await;
    let preview = notes
        .preview_chunks(&mut conn, 2, None)
        .await
        .expect("preview");
    let per_chunk: Vec<(u64, u64)> = preview.chunks.iter().map(|c| (c.objects, c.rows)).collect();
    assert_eq!(per_chunk, [(2, 4), (2, 4), (1, 2)]);
    assert_eq!(preview.sample.len(), 4);
    assert_eq!(preview.sample[0]["table_name"], "notes");
    assert_eq!(preview.sample[0]["operation"], "insert");
    let all = notes.preview_all(&mut conn).await.expect("preview all");
    assert_eq!(all.chunks[0].rows, 10);
    assert_eq!(t.activity_count().await, 0);
    let progress_table: bool =
        sqlx::query_scalar("SELECT to_regclass('chrononaut.conversions') IS NOT NULL")
            .fetch_one(&t.pool)
            .await
            .expect("regclass");
    assert!(!progress_table, "a dry run created the progress table");
}

#[tokio::test]
async fn a_reset_version_is_reported_not_duplicated() {
    let t = fixture().await;
    let mut conn = t.pool.acquire().await.expect("connection");
    t.exec("UPDATE notes SET version = 1 WHERE id = 1").await; // legacy already has version 1
    let report = converter(&t, "notes", &ConvertOptions::new())
        .await
        .convert_all(&mut conn)
        .await
        .expect("convert");
    assert_eq!(report.inconsistent, 1);
    assert_eq!(report.inconsistent_keys, [json!({"id": 1})]);
    let versions: Vec<i32> = sqlx::query_scalar(
        "SELECT version FROM chrononaut_activity WHERE key = '{\"id\": 1}' ORDER BY version",
    )
    .fetch_all(&t.pool)
    .await
    .expect("versions");
    assert_eq!(versions, [0, 1]);
}

#[tokio::test]
async fn odd_names_and_bad_input() {
    let t = fixture().await;
    let mut conn = t.pool.acquire().await.expect("connection");
    t.exec(
        "CREATE SCHEMA \"Odd Schema\"; \
         CREATE TABLE \"Odd Schema\".\"It's \"\"x\"\"\" (\"Key Col\" int PRIMARY KEY, \"v a l\" text, version int); \
         CREATE TABLE \"Odd Schema\".\"It's \"\"x\"\"_history\" (\"Key Col\" int, \"v a l\" text, version int, \
             changed timestamptz, change_info jsonb, PRIMARY KEY (\"Key Col\", version)); \
         INSERT INTO \"Odd Schema\".\"It's \"\"x\"\"\" VALUES (1, 'b', 1); \
         INSERT INTO \"Odd Schema\".\"It's \"\"x\"\"_history\" VALUES (1, 'a', 0, '2020-01-01', NULL);",
    )
    .await;
    let odd = converter(
        &t,
        "\"Odd Schema\".\"It's \"\"x\"\"\"",
        &ConvertOptions::new(),
    )
    .await;
    assert_eq!(odd.history_name(), "\"Odd Schema\".\"It's \"\"x\"\"\"");
    assert_eq!(
        odd.convert_chunk(&mut conn, 5).await.expect("chunk").rows,
        2
    );
    let got = rows(&t, odd.history_name()).await;
    assert_eq!(
        got[1]["data"],
        json!({"Key Col": 1, "v a l": "b", "version": 1})
    );

    let err = |r: chrononaut::Result<Converter>| match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e,
    };
    let missing = err(t
        .ch
        .converter(
            &mut conn,
            "inv.items",
            &ConvertOptions::new().history_table("nope"),
        )
        .await);
    assert!(matches!(missing, Error::Conversion(_)), "{missing}");
    let unknown = err(t
        .ch
        .converter(&mut conn, "no_such_table", &ConvertOptions::new())
        .await);
    assert!(matches!(unknown, Error::UnknownTable(_)), "{unknown}");
    let bad_id = err(t
        .ch
        .converter(&mut conn, "notes", &ConvertOptions::new().id_column("uuid"))
        .await);
    assert!(matches!(bad_id, Error::UnknownColumn { .. }), "{bad_id}");
    let injected = err(t
        .ch
        .converter(
            &mut conn,
            "notes",
            &ConvertOptions::new().id_column("id; DROP TABLE notes"),
        )
        .await);
    assert!(
        matches!(injected, Error::UnknownColumn { .. }),
        "{injected}"
    );
    // switching id columns mid-way needs a restart
    t.exec(
        "ALTER TABLE notes ADD COLUMN n int; UPDATE notes SET n = id; \
            ALTER TABLE notes_history ADD COLUMN n int; UPDATE notes_history SET n = id;",
    )
    .await;
    converter(&t, "notes", &ConvertOptions::new())
        .await
        .convert_chunk(&mut conn, 1)
        .await
        .expect("chunk");
    let by_n = converter(&t, "notes", &ConvertOptions::new().id_column("n")).await;
    assert!(matches!(
        by_n.convert_chunk(&mut conn, 1).await,
        Err(Error::Conversion(_))
    ));
    by_n.restart(&mut conn).await.expect("restart");
    while by_n
        .convert_chunk(&mut conn, 2)
        .await
        .expect("chunk")
        .objects
        > 0
    {}
    assert_eq!(rows(&t, "notes").await.len(), 10);
    drop(conn);
    let not_installed = common::bare().await;
    let mut conn = not_installed.pool.acquire().await.expect("connection");
    assert!(matches!(
        not_installed
            .ch
            .converter(&mut conn, "x", &ConvertOptions::new())
            .await,
        Err(Error::NotInstalled)
    ));
}
