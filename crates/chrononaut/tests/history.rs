//! Per-record history reads: versions, version_at, previous_version, has_changed_since, diffs,
//! snapshots (hidden / untracked / unknown columns, serde), Python-written history.

mod common;

use chrono::{DateTime, Utc};
use chrononaut::{Change, Error, Operation, RecordHistory, TrackOptions, VersionFilter};
use common::Ctx;
use serde_json::{Value, json};

async fn now(t: &Ctx) -> DateTime<Utc> {
    sqlx::query_scalar("SELECT clock_timestamp()")
        .fetch_one(&t.pool)
        .await
        .expect("clock")
}

async fn record(t: &Ctx, table: &str, key: Value) -> RecordHistory {
    let mut conn = t.pool.acquire().await.expect("connection");
    t.ch.record(&mut conn, table, key).await.expect("record")
}

/// A table like the Python test-suite's Todo: `starred` untracked, `done` hidden.
async fn todo(t: &Ctx) {
    t.exec(
        "CREATE TABLE todo (id int PRIMARY KEY, title text, text text, \
         starred boolean NOT NULL DEFAULT false, done boolean NOT NULL DEFAULT false)",
    )
    .await;
    t.track(
        "todo",
        &TrackOptions::new().hidden(["done"]).untracked(["starred"]),
    )
    .await;
}

fn texts(versions: &[chrononaut::Snapshot]) -> Vec<String> {
    versions
        .iter()
        .map(|v| {
            v.get("text")
                .expect("text")
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn version_fetching_and_diffing() {
    let t = common::setup().await;
    todo(&t).await;
    let time_0 = now(&t).await;
    t.exec("INSERT INTO todo (id, title, text) VALUES (1, 'Dated Todo', 'Time 0')")
        .await;
    let time_1 = now(&t).await;
    for i in 1..10 {
        t.exec(&format!("UPDATE todo SET text = 'Time {i}' WHERE id = 1"))
            .await;
    }
    let rec = record(&t, "todo", json!({"id": 1})).await;
    let mut conn = t.pool.acquire().await.expect("connection");
    let c = &mut conn;

    let all = rec
        .versions(c, &VersionFilter::new())
        .await
        .expect("versions");
    assert_eq!(all.len(), 10);
    assert_eq!(
        texts(&all),
        (0..10).map(|i| format!("Time {i}")).collect::<Vec<_>>()
    );
    assert_eq!(
        all.iter().map(|v| v.version()).collect::<Vec<_>>(),
        (0..10).collect::<Vec<_>>()
    );
    assert_eq!(all[0].meta().operation, Some(Operation::Insert));
    assert_eq!(all[1].meta().operation, Some(Operation::Update));
    let after0 = VersionFilter::new().after(time_0);
    assert_eq!(rec.versions(c, &after0).await.expect("after").len(), 10);

    let time_2 = now(&t).await;
    t.exec("UPDATE todo SET text = 'Time Last', starred = true WHERE id = 1")
        .await;
    let versions = |f: VersionFilter| {
        let rec = rec.clone();
        let pool = t.pool.clone();
        async move {
            let mut conn = pool.acquire().await.expect("connection");
            rec.versions(&mut conn, &f).await.expect("versions").len()
        }
    };
    assert_eq!(versions(VersionFilter::new()).await, 11);
    assert_eq!(versions(VersionFilter::new().before(time_2)).await, 10);
    assert_eq!(versions(VersionFilter::new().after(time_2)).await, 1);
    let later = now(&t).await;
    assert_eq!(versions(VersionFilter::new().after(later)).await, 0);
    assert_eq!(versions(VersionFilter::new().before(later)).await, 11);
    // limit and order
    let newest = rec
        .versions(c, &VersionFilter::new().newest_first().limit(2))
        .await
        .expect("newest");
    assert_eq!(
        newest.iter().map(|v| v.version()).collect::<Vec<_>>(),
        [10, 9]
    );

    // version_at
    assert!(rec.version_at(c, time_0).await.expect("at").is_none());
    let first = rec.version_at(c, time_1).await.expect("at").expect("first");
    assert_eq!(first.get("text").expect("text"), "Time 0");
    let ninth = rec.version_at(c, time_2).await.expect("at").expect("ninth");
    assert_eq!(ninth.get("text").expect("text"), "Time 9");
    let current = rec
        .version_at(c, later)
        .await
        .expect("at")
        .expect("current");
    assert_eq!(current.get("text").expect("text"), "Time Last");
    assert!(matches!(
        current.get("starred"),
        Err(Error::UntrackedColumn { .. })
    ));
    assert_eq!(
        rec.previous_version(c)
            .await
            .expect("previous")
            .expect("some")
            .version(),
        9
    );
    assert_eq!(
        rec.version(c, 3)
            .await
            .expect("v3")
            .get("text")
            .expect("text"),
        "Time 3"
    );
    assert!(matches!(
        rec.version(c, 42).await,
        Err(Error::VersionNotFound { version: 42, .. })
    ));

    // has_changed_since
    assert!(rec.has_changed_since(c, time_0).await.expect("since"));
    assert!(rec.has_changed_since(c, time_2).await.expect("since"));
    assert!(
        !rec.has_changed_since(c, now(&t).await)
            .await
            .expect("since")
    );

    // diffs: untracked columns never show; from before the first version: null -> value
    let d = rec
        .diff_timestamps(c, time_0, None, false)
        .await
        .expect("diff");
    assert_eq!(
        d.changes.keys().cloned().collect::<Vec<_>>(),
        ["id", "text", "title"]
    );
    assert_eq!(
        d.values("title"),
        Some((&Value::Null, &json!("Dated Todo")))
    );
    assert!(d.from.is_none());
    let d1 = rec
        .diff_timestamps(c, time_1, None, false)
        .await
        .expect("diff");
    assert_eq!(
        d1.values("text"),
        Some((&json!("Time 0"), &json!("Time Last")))
    );
    assert_eq!(d1.len(), 1);
    let d2 = rec
        .diff_timestamps(c, time_2, None, false)
        .await
        .expect("diff");
    assert_eq!(
        d2.values("text"),
        Some((&json!("Time 9"), &json!("Time Last")))
    );
    let d12 = rec
        .diff_timestamps(c, time_1, Some(time_2), false)
        .await
        .expect("diff");
    assert_eq!(
        d12.values("text"),
        Some((&json!("Time 0"), &json!("Time 9")))
    );
    assert_eq!(d1, rec.diff(c, &first, None, false).await.expect("diff"));
    assert_eq!(d2, rec.diff(c, &ninth, None, false).await.expect("diff"));
    assert_eq!(
        d1,
        rec.diff_versions(c, first.version(), None, false)
            .await
            .expect("diff")
    );
    // not chronological
    assert!(matches!(
        rec.diff_timestamps(c, time_2, Some(time_0), false).await,
        Err(Error::NotChronological(_))
    ));
    assert!(matches!(
        rec.diff_versions(c, 5, Some(2), false).await,
        Err(Error::NotChronological(_))
    ));
    assert!(matches!(
        rec.diff(c, &ninth, Some(&first), false).await,
        Err(Error::NotChronological(_))
    ));
    // the same version
    assert!(
        rec.diff_timestamps(c, time_2, Some(time_2), false)
            .await
            .expect("diff")
            .is_empty()
    );
    assert!(
        rec.diff_versions(c, 4, Some(4), false)
            .await
            .expect("diff")
            .is_empty()
    );

    // a hidden column changes: shown only with include_hidden, never with its value
    t.exec("UPDATE todo SET done = true WHERE id = 1").await;
    let plain = rec
        .diff_timestamps(c, time_1, None, false)
        .await
        .expect("diff");
    assert_eq!(plain.changes.keys().collect::<Vec<_>>(), ["text"]);
    let with_hidden = rec
        .diff_timestamps(c, time_1, None, true)
        .await
        .expect("diff");
    assert_eq!(
        with_hidden.changes.keys().collect::<Vec<_>>(),
        ["done", "text"]
    );
    assert_eq!(with_hidden.get("done"), Some(&Change::Hidden));
    let json = serde_json::to_value(&with_hidden).expect("json");
    assert_eq!(json["changes"]["done"], json!({"kind": "hidden"}));
    assert!(!json.to_string().contains("true"), "{json}");
    // a hidden change before `from` does not count
    let v11 = rec.version(c, 11).await.expect("v11");
    assert!(
        rec.diff(c, &v11, None, true)
            .await
            .expect("diff")
            .is_empty()
    );
}

#[tokio::test]
async fn hidden_untracked_and_unknown_columns() {
    let t = common::setup().await;
    todo(&t).await;
    t.exec("INSERT INTO todo (id, title, text) VALUES (1, 'Secret Todo', 'x')")
        .await;
    t.exec("UPDATE todo SET done = true WHERE id = 1").await;
    t.exec("UPDATE todo SET done = false, title = 'Not Done' WHERE id = 1")
        .await;
    let rec = record(&t, "todo", json!({"id": 1})).await;
    let mut conn = t.pool.acquire().await.expect("connection");
    let all = rec
        .versions(&mut conn, &VersionFilter::new())
        .await
        .expect("versions");
    assert_eq!(all.len(), 3);
    assert_eq!(all[1].meta().hidden_cols_changed(), ["done"]);
    assert_eq!(all[2].meta().hidden_cols_changed(), ["done"]);
    assert_eq!(all[2].get("title").expect("title"), "Not Done");
    assert_eq!(all[1].get("title").expect("title"), "Secret Todo");
    let prior = rec
        .previous_version(&mut conn)
        .await
        .expect("previous")
        .expect("some");
    match prior.get("done") {
        Err(Error::HiddenColumn { table, column }) => {
            assert_eq!((table.as_str(), column.as_str()), ("todo", "done"));
        }
        other => panic!("expected hidden, got {other:?}"),
    }
    let e = prior.get("starred").expect_err("untracked");
    assert!(matches!(e, Error::UntrackedColumn { .. }), "{e}");
    assert!(e.to_string().contains("untracked"), "{e}");
    assert!(matches!(
        prior.get("nope"),
        Err(Error::UnknownColumn { .. })
    ));
    assert_eq!(prior.get("version").expect("version"), 1);
    assert!(!prior.data().contains_key("done"));
    assert_eq!(
        prior.meta().user_info,
        json!({"user_id": null, "remote_addr": null, "db_user": t.session_user().await})
    );
}

#[tokio::test]
async fn null_version_start_and_deleted_records() {
    let t = common::setup().await;
    t.exec(
        "CREATE TABLE item (id int PRIMARY KEY, name text); INSERT INTO item VALUES (13, 'old')",
    )
    .await;
    t.track("item", &TrackOptions::new()).await;
    let rec = record(&t, "item", json!({"id": 13})).await;
    let mut conn = t.pool.acquire().await.expect("connection");
    assert!(
        rec.versions(&mut conn, &VersionFilter::new())
            .await
            .expect("v")
            .is_empty()
    );
    assert!(rec.latest(&mut conn).await.expect("latest").is_none());
    assert!(
        rec.previous_version(&mut conn)
            .await
            .expect("prev")
            .is_none()
    );
    assert!(matches!(
        rec.diff_versions(&mut conn, 0, None, false).await,
        Err(Error::VersionNotFound { .. })
    ));
    t.exec("UPDATE item SET name = 'Task 0.1' WHERE id = 13")
        .await;
    let all = rec
        .versions(&mut conn, &VersionFilter::new())
        .await
        .expect("v");
    assert_eq!(all.iter().map(|v| v.version()).collect::<Vec<_>>(), [1]);

    // delete and re-insert: the deletion's snapshot says so; versions continue
    t.exec("DELETE FROM item WHERE id = 13").await;
    let deleted = rec.latest(&mut conn).await.expect("latest").expect("some");
    assert!(deleted.is_deleted());
    assert_eq!(deleted.version(), 2);
    assert_eq!(deleted.get("name").expect("name"), "Task 0.1");
    t.exec("INSERT INTO item VALUES (13, 'again')").await;
    let all = rec
        .versions(&mut conn, &VersionFilter::new())
        .await
        .expect("v");
    assert_eq!(
        all.iter().map(|v| v.version()).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert!(!all[2].is_deleted());
    let d = rec
        .diff_versions(&mut conn, 2, Some(3), false)
        .await
        .expect("diff");
    assert!(d.from.as_ref().expect("from").deleted);
    assert_eq!(
        d.values("name"),
        Some((&json!("Task 0.1"), &json!("again")))
    );
}

#[tokio::test]
async fn columns_appearing_and_disappearing() {
    let t = common::setup().await;
    t.exec("CREATE TABLE doc (id int PRIMARY KEY, a text, b text)")
        .await;
    t.track("doc", &TrackOptions::new()).await;
    t.exec("INSERT INTO doc VALUES (1, 'a0', 'b0')").await;
    // b becomes untracked, c appears
    t.exec("ALTER TABLE doc ADD COLUMN c int").await;
    t.track("doc", &TrackOptions::new().untracked(["b"])).await;
    t.exec("UPDATE doc SET a = 'a1', c = 7 WHERE id = 1").await;
    let rec = record(&t, "doc", json!({"id": 1})).await;
    let mut conn = t.pool.acquire().await.expect("connection");
    let d = rec
        .diff_versions(&mut conn, 0, Some(1), false)
        .await
        .expect("diff");
    assert_eq!(d.values("a"), Some((&json!("a0"), &json!("a1"))));
    assert_eq!(d.values("b"), Some((&json!("b0"), &Value::Null)));
    assert_eq!(d.values("c"), Some((&Value::Null, &json!(7))));
    assert_eq!(d.len(), 3);
}

#[tokio::test]
async fn snapshots_deserialize_into_structs() {
    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Account {
        id: i32,
        owner: String,
        balance: i64,
        opened: DateTime<Utc>,
        #[serde(default)]
        secret: Option<String>,
    }
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Wrong {
        owner: i64,
    }
    let t = common::setup().await;
    t.exec("SET TIME ZONE 'Asia/Tokyo'").await;
    t.exec(
        "CREATE TABLE account (id int PRIMARY KEY, owner text, balance bigint, \
         opened timestamptz, secret text)",
    )
    .await;
    t.track("account", &TrackOptions::new().hidden(["secret"]))
        .await;
    t.exec("INSERT INTO account VALUES (1, 'Doc', 100, '2015-10-21 16:29:00+00', 's')")
        .await;
    let rec = record(&t, "account", json!({"id": "1"})).await;
    assert_eq!(rec.key(), &json!({"id": 1}));
    let mut conn = t.pool.acquire().await.expect("connection");
    let v0 = rec.version(&mut conn, 0).await.expect("v0");
    let account: Account = v0.deserialize().expect("deserialize");
    assert_eq!(
        account,
        Account {
            id: 1,
            owner: "Doc".into(),
            balance: 100,
            opened: "2015-10-21T16:29:00Z".parse().expect("time"),
            secret: None,
        }
    );
    let e = v0.deserialize::<Wrong>().expect_err("wrong type");
    assert!(matches!(e, Error::Deserialize { .. }), "{e}");
    let json = serde_json::to_value(&v0).expect("json");
    assert_eq!(json["version"], 0);
    assert_eq!(json["operation"], "insert");
    assert_eq!(json["data"]["owner"], "Doc");
}

#[tokio::test]
async fn keys_are_checked_and_converted() {
    let t = common::setup().await;
    t.exec(
        "CREATE TABLE line (org text, num int, at timestamp, v text, PRIMARY KEY (org, num, at))",
    )
    .await;
    t.track("line", &TrackOptions::new()).await;
    t.exec("INSERT INTO line VALUES ('acme', 7, '2020-01-02 03:04:05', 'x')")
        .await;
    let rec = record(
        &t,
        "line",
        json!({"org": "acme", "num": "7", "at": "2020-01-02 03:04:05"}),
    )
    .await;
    assert_eq!(
        rec.key(),
        &json!({"org": "acme", "num": 7, "at": "2020-01-02T03:04:05+00:00"})
    );
    let mut conn = t.pool.acquire().await.expect("connection");
    assert_eq!(
        rec.versions(&mut conn, &VersionFilter::new())
            .await
            .expect("v")
            .len(),
        1
    );
    for (key, wanted) in [
        (json!({"org": "acme"}), "no value for \"num\""),
        (
            json!({"org": "acme", "num": 7, "at": "2020-01-01", "v": 1}),
            "\"v\" is not a primary-key column",
        ),
        (
            json!({"org": "acme", "num": "seven", "at": "2020-01-01"}),
            "invalid input syntax",
        ),
        (json!([1]), "expected a JSON object"),
    ] {
        let e =
            t.ch.record(&mut conn, "line", key.clone())
                .await
                .expect_err("invalid key");
        assert!(matches!(e, Error::InvalidKey { .. }), "{key}: {e}");
        assert!(e.to_string().contains(wanted), "{key}: {e}");
    }
    assert!(matches!(
        t.ch.record(&mut conn, "nope", json!({"id": 1})).await,
        Err(Error::UnknownTable(_))
    ));
}

/// History written by the Python library: no `operation`, `changed` from the application's
/// clock (out of step with ids), version numbers repeated after a re-insert.
#[tokio::test]
async fn reads_python_written_history() {
    let t = common::setup().await;
    t.exec("CREATE TABLE todos (id int PRIMARY KEY, title text, version int)")
        .await;
    t.exec(
        "INSERT INTO chrononaut_activity (table_name, changed, version, key, data, user_info, extra_info) VALUES \
         ('todos', '2020-01-01 10:00:02+00', 1, '{\"id\": 1}', '{\"id\": 1, \"title\": \"b\", \"version\": 1}', \
          '{\"user_id\": \"u1\", \"remote_addr\": \"10.0.0.1\"}', '{\"rationale\": \"fix\"}'), \
         ('todos', '2020-01-01 10:00:00+00', 0, '{\"id\": 1}', '{\"id\": 1, \"title\": \"a\", \"version\": 0}', \
          '{\"user_id\": \"u1\", \"remote_addr\": null}', '{}'), \
         ('todos', '2020-01-02 10:00:00+00', 0, '{\"id\": 1}', '{\"id\": 1, \"title\": \"c\", \"version\": 0}', \
          '{\"user_id\": null, \"remote_addr\": null}', '{}'), \
         ('todos', '2020-01-01 10:00:00+00', 0, '{\"id\": 2}', '{\"id\": 2, \"title\": \"other\", \"version\": 0}', \
          '{}', '{}')",
    )
    .await;
    let rec = record(&t, "todos", json!({"id": 1})).await;
    let mut conn = t.pool.acquire().await.expect("connection");
    let all = rec
        .versions(&mut conn, &VersionFilter::new())
        .await
        .expect("v");
    assert_eq!(
        all.iter()
            .map(|v| v
                .get("title")
                .expect("title")
                .as_str()
                .unwrap_or("")
                .to_owned())
            .collect::<Vec<_>>(),
        ["a", "b", "c"]
    );
    assert!(all.iter().all(|v| v.meta().operation.is_none()));
    assert_eq!(all[1].meta().rationale(), Some("fix"));
    assert_eq!(all[1].meta().user_id(), Some("u1"));
    assert_eq!(all[1].meta().remote_addr(), Some("10.0.0.1"));
    // the repeated version 0: the latest
    assert_eq!(
        rec.version(&mut conn, 0)
            .await
            .expect("v0")
            .get("title")
            .expect("t"),
        "c"
    );
    let at: DateTime<Utc> = "2020-01-01T12:00:00Z".parse().expect("time");
    assert_eq!(
        rec.version_at(&mut conn, at)
            .await
            .expect("at")
            .expect("some")
            .get("title")
            .expect("t"),
        "b"
    );
    let d = rec
        .diff_timestamps(&mut conn, at, None, true)
        .await
        .expect("diff");
    assert_eq!(d.values("title"), Some((&json!("b"), &json!("c"))));
    // whole-table log, newest first
    let log =
        t.ch.table_log(&mut conn, "todos", 2, None)
            .await
            .expect("log");
    assert_eq!(
        log.iter().map(|s| s.meta().key.clone()).collect::<Vec<_>>(),
        [json!({"id": 1}), json!({"id": 1})]
    );
    assert_eq!(log[0].get("title").expect("t"), "c");
}

/// The per-record reads (chrononaut.record_history, which the library calls) are index range
/// scans on the history indexes, both with the parameters' values (custom plan) and without
/// (generic plan, what PL/pgSQL settles on), never a scan of the history.
#[tokio::test]
async fn per_record_reads_use_the_history_index() {
    let t = common::setup().await;
    t.exec(
        "INSERT INTO chrononaut_activity (table_name, changed, version, key, data, operation) \
         SELECT 'tbl_' || (g % 5), now() - make_interval(secs => g), g % 50, \
                jsonb_build_object('id', g % 2000), jsonb_build_object('id', g % 2000, 'v', g), 'update' \
         FROM generate_series(1, 30000) g; ANALYZE chrononaut_activity",
    )
    .await;
    // chrononaut.record_history(table_name, key, at_or_before, at_or_after, only_version,
    // newest_first, max_rows, skip_rows), as src/history.rs calls it
    let reads = [
        ("versions", "NULL, NULL, NULL, false, NULL, 0"),
        (
            "versions between",
            "now(), now() - interval '1 hour', NULL, false, 10, 0",
        ),
        (
            "version_at",
            "now() - interval '1 hour', NULL, NULL, true, 1, 0",
        ),
        ("previous", "'9999-12-31', NULL, NULL, true, 1, 1"),
        ("version n", "NULL, NULL, 3, true, 1, 0"),
    ];
    let mut conn = t.plain_connection().await;
    sqlx::raw_sql(common::plans::AUTO_EXPLAIN_JSON)
        .execute(&mut conn)
        .await
        .expect("auto_explain (the test suite runs as a superuser)");
    for mode in ["force_custom_plan", "force_generic_plan"] {
        for (name, args) in reads {
            let plans = common::plans::plans_of(
                &mut conn,
                &format!(
                    "SET plan_cache_mode = {mode}; \
                     SELECT count(*) FROM chrononaut.record_history('tbl_1', '{{\"id\": 11}}', {args})"
                ),
            )
            .await;
            let read: Vec<&Value> = plans
                .iter()
                .filter(|p| {
                    p["Query Text"]
                        .as_str()
                        .is_some_and(|q| q.contains("record_key"))
                })
                .collect();
            assert_eq!(read.len(), 1, "{name} ({mode}): {plans:#?}");
            let text = read[0].to_string();
            // the full history of a key may come from either index (equally selective; the
            // planner may prefer the narrower Python one and sort the few rows); a bounded or
            // "latest" read must walk the time-ordered one
            let ours = text.contains("\"Index Name\":\"ix_chrononaut_activity_table_key_changed\"");
            let python = text.contains("\"Index Name\":\"ix_chrononaut_activity_key_table_name\"");
            if name == "versions" || name == "version n" {
                assert!(
                    ours || python,
                    "{name} ({mode}) uses no index: {:#}",
                    read[0]
                );
            } else {
                assert!(
                    ours,
                    "{name} ({mode}) does not use the history index: {:#}",
                    read[0]
                );
            }
            assert!(!text.contains("Seq Scan"), "{name} ({mode}): {:#}", read[0]);
            // only the key's rows are read
            for n in common::plans::nodes(&read[0]["Plan"]) {
                let rows = n["Actual Rows"].as_f64().unwrap_or(0.0);
                assert!(
                    rows <= 20.0,
                    "{name} ({mode}) reads {rows} rows: {:#}",
                    read[0]
                );
            }
        }
    }
}

/// Numbers as PostgreSQL stored them: `Snapshot::raw` / `raw_data`, `Diff::raw_values` and the
/// serialized snapshot and diff keep scale and digits (`get` and `data` give f64s), and a diff
/// sees a change that an f64 rounds away but none where only the scale differs.
#[tokio::test]
async fn numerics_read_as_stored() {
    let t = common::setup().await;
    t.exec(
        "CREATE TABLE price (id int PRIMARY KEY, amount numeric(12,2), exact numeric, \
         doc jsonb, note text, secret text)",
    )
    .await;
    t.track("price", &TrackOptions::new().hidden(["secret"]))
        .await;
    t.exec(
        "INSERT INTO price VALUES (1, 20.5, 0.1000000000000000001, '{\"rate\": 1.50}', 'a', 's'); \
         UPDATE price SET amount = 350, exact = 0.1000000000000000002, doc = '{\"rate\": 1.5}', \
         note = 'b', secret = 't' WHERE id = 1",
    )
    .await;
    let rec = record(&t, "price", json!({"id": 1})).await;
    let mut conn = t.pool.acquire().await.expect("connection");
    let latest = rec.latest(&mut conn).await.expect("latest").expect("v1");
    assert_eq!(latest.raw("amount").expect("amount").get(), "350.00");
    assert_eq!(latest.get("amount").expect("amount"), &json!(350.0));
    assert_eq!(
        latest.raw("exact").expect("exact").get(),
        "0.1000000000000000002"
    );
    assert_eq!(latest.raw("doc").expect("doc").get(), r#"{"rate": 1.5}"#);
    assert!(matches!(
        latest.raw("secret"),
        Err(Error::HiddenColumn { .. })
    ));
    assert!(matches!(
        latest.raw("nope"),
        Err(Error::UnknownColumn { .. })
    ));
    assert_eq!(
        latest.raw_data().get(),
        r#"{"id": 1, "doc": {"rate": 1.5}, "note": "b", "exact": 0.1000000000000000002, "amount": 350.00, "version": 1}"#
    );
    let shown = serde_json::to_string(&latest).expect("serialize");
    assert!(shown.contains(r#""amount": 350.00"#), "{shown}");

    let diff = rec
        .diff_versions(&mut conn, 0, Some(1), true)
        .await
        .expect("diff");
    // doc: 1.50 and 1.5 are the same jsonb; exact: two numerics one f64 apart from neither
    assert_eq!(
        diff.changes.keys().collect::<Vec<_>>(),
        ["amount", "exact", "note", "secret"]
    );
    let raw = |column: &str| {
        diff.raw_values(column)
            .map(|(a, b)| (a.get().to_owned(), b.get().to_owned()))
    };
    assert_eq!(raw("amount"), Some(("20.50".into(), "350.00".into())));
    assert_eq!(
        raw("exact"),
        Some((
            "0.1000000000000000001".into(),
            "0.1000000000000000002".into()
        ))
    );
    assert_eq!(raw("secret"), None);
    assert_eq!(diff.get("secret"), Some(&Change::Hidden));
    let serialized = serde_json::to_string(&diff).expect("serialize");
    assert!(
        serialized.contains(r#""amount":{"kind":"value","from":20.50,"to":350.00}"#),
        "{serialized}"
    );
    assert!(
        serialized.contains(r#""secret":{"kind":"hidden"}"#),
        "{serialized}"
    );
    // a column absent on one side is null there
    let from_nothing = rec
        .diff_timestamps(&mut conn, chrono::DateTime::UNIX_EPOCH, None, false)
        .await
        .expect("diff");
    let (before, after) = from_nothing.raw_values("amount").expect("amount");
    assert_eq!((before.get(), after.get()), ("null", "350.00"));
}
