//! Recent activity: `table_activity` and `activity` (newest first, keyset pages, operation and
//! time filters, Python-written rows, hidden columns across tables), and their plans (index
//! range scans that stop after a page, whatever the history's size).

mod common;

use chrono::{DateTime, Utc};
use chrononaut::{ActivityCursor, ActivityFilter, Error, Operation, Snapshot, TrackOptions};
use common::Ctx;
use serde_json::{Value, json};

/// (table_name, id) of every history row, newest first by (changed, id): what pages must add
/// up to.
async fn expected(t: &Ctx, table: Option<&str>, operations: Option<&[&str]>) -> Vec<(String, i64)> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT table_name, id FROM chrononaut_activity \
         WHERE ($1::text IS NULL OR table_name = $1) AND ($2::text[] IS NULL OR operation = ANY ($2)) \
         ORDER BY changed DESC, id DESC",
    )
    .bind(table)
    .bind(operations.map(|o| o.to_vec()))
    .fetch_all(&t.pool)
    .await
    .expect("expected rows");
    rows
}

fn ids(entries: &[Snapshot]) -> Vec<(String, i64)> {
    entries
        .iter()
        .map(|s| (s.meta().table.clone(), s.meta().id))
        .collect()
}

/// Every page of `filter` (at most `limit` rows each), one table or all.
async fn all_pages(t: &Ctx, table: Option<&str>, filter: ActivityFilter) -> Vec<Vec<Snapshot>> {
    let mut conn = t.pool.acquire().await.expect("connection");
    let mut pages = Vec::new();
    let mut cursor = None;
    loop {
        let f = filter.clone().cursor(cursor);
        let page = match table {
            Some(table) => t.ch.table_activity(&mut conn, table, &f).await,
            None => t.ch.activity(&mut conn, &f).await,
        }
        .expect("page");
        cursor = page.next;
        pages.push(page.entries);
        if cursor.is_none() || pages.len() > 100 {
            break;
        }
    }
    pages
}

/// Two tracked tables with inserts, updates (a 3-row statement: rows sharing a statement),
/// deletes, and history the Python library wrote (operation NULL) for one of them and for a
/// table that no longer exists.
async fn history(t: &Ctx) {
    t.exec(
        "CREATE TABLE doc (id int PRIMARY KEY, title text, secret text); \
         CREATE TABLE tag (id int PRIMARY KEY, name text)",
    )
    .await;
    t.track("doc", &TrackOptions::new().hidden(["secret"]))
        .await;
    t.track("tag", &TrackOptions::new()).await;
    t.exec(
        "INSERT INTO chrononaut_activity (table_name, changed, version, key, data, user_info, extra_info) VALUES \
         ('doc', now() - interval '1 day', 0, '{\"id\": 9}', '{\"id\": 9, \"title\": \"py\", \"version\": 0}', \
          '{\"user_id\": \"py\", \"remote_addr\": null}', '{}'), \
         ('gone', now() - interval '2 days', 0, '{\"id\": 1}', '{\"id\": 1, \"version\": 0}', \
          '{\"user_id\": null, \"remote_addr\": null}', '{}')",
    )
    .await;
    t.exec("INSERT INTO doc VALUES (1, 'a', 's'), (2, 'b', 's'), (3, 'c', 's')")
        .await;
    t.exec("INSERT INTO tag VALUES (1, 'x')").await;
    t.exec("UPDATE doc SET title = title || '!'").await;
    t.exec("UPDATE tag SET name = 'y'").await;
    t.exec("DELETE FROM doc WHERE id = 2").await;
    t.exec("UPDATE doc SET secret = 't' WHERE id = 1").await;
    t.exec("DELETE FROM tag").await;
}

#[tokio::test]
async fn table_activity_pages_newest_first_without_gaps_or_repeats() {
    let t = common::setup().await;
    history(&t).await;
    let want = expected(&t, Some("doc"), None).await;
    assert_eq!(
        want.len(),
        9,
        "1 Python row, 3 inserts, 3 updates, 1 delete, 1 hidden change"
    );
    for limit in [1, 3, 4, 10, 50] {
        let pages = all_pages(&t, Some("doc"), ActivityFilter::new().limit(limit)).await;
        let got: Vec<(String, i64)> = pages.iter().flat_map(|p| ids(p)).collect();
        assert_eq!(got, want, "limit {limit}");
        assert!(pages.iter().all(|p| p.len() <= limit as usize));
        // no empty last page: `next` is None exactly when nothing follows
        assert!(pages.iter().all(|p| !p.is_empty()), "limit {limit}");
        assert_eq!(
            pages.len(),
            want.len().div_ceil(limit as usize),
            "limit {limit}"
        );
    }
    let mut conn = t.pool.acquire().await.expect("connection");
    let first =
        t.ch.table_activity(&mut conn, "doc", &ActivityFilter::new().limit(2))
            .await
            .expect("first page");
    // the newest row: the hidden-only change of id 1, shown as a version without the value
    let newest = &first.entries[0];
    assert_eq!(newest.meta().key, json!({"id": 1}));
    assert_eq!(newest.meta().operation, Some(Operation::Update));
    assert_eq!(newest.meta().hidden_cols_changed(), ["secret"]);
    assert!(matches!(
        newest.get("secret"),
        Err(Error::HiddenColumn { .. })
    ));
    assert_eq!(newest.get("title").expect("title"), "a!");
    // rows recorded after the first page was read do not shift the next page
    let cursor = first.next.expect("more pages");
    t.exec("INSERT INTO doc VALUES (4, 'd', 's')").await;
    let second =
        t.ch.table_activity(
            &mut conn,
            "doc",
            &ActivityFilter::new().limit(2).cursor(Some(cursor)),
        )
        .await
        .expect("second page");
    assert_eq!(ids(&second.entries), want[2..4]);
    // the cursor survives its text form
    let text = cursor.to_string();
    assert_eq!(text.parse::<ActivityCursor>().expect("parse"), cursor);
    // table_log is the first page
    let log =
        t.ch.table_log(&mut conn, "doc", 3, None)
            .await
            .expect("log");
    assert_eq!(ids(&log), expected(&t, Some("doc"), None).await[..3]);
}

#[tokio::test]
async fn table_activity_filters_by_operation_and_time() {
    let t = common::setup().await;
    history(&t).await;
    let deletes = all_pages(
        &t,
        Some("doc"),
        ActivityFilter::new()
            .operations([Operation::Delete])
            .limit(1),
    )
    .await;
    let deletes: Vec<&Snapshot> = deletes.iter().flatten().collect();
    assert_eq!(deletes.len(), 1);
    assert!(deletes[0].is_deleted());
    assert_eq!(deletes[0].meta().key, json!({"id": 2}));
    let changes = all_pages(
        &t,
        Some("doc"),
        ActivityFilter::new()
            .operations([Operation::Insert, Operation::Delete])
            .limit(2),
    )
    .await;
    let got: Vec<(String, i64)> = changes.iter().flat_map(|p| ids(p)).collect();
    assert_eq!(
        got,
        expected(&t, Some("doc"), Some(&["insert", "delete"])).await
    );
    assert_eq!(got.len(), 4);

    // time bounds are inclusive, as in VersionFilter; the Python row of yesterday is outside
    let times: Vec<DateTime<Utc>> = sqlx::query_scalar(
        "SELECT changed FROM chrononaut_activity WHERE table_name = 'doc' AND operation = 'update' \
         ORDER BY changed, id",
    )
    .fetch_all(&t.pool)
    .await
    .expect("times");
    let (from, to) = (times[0], times[times.len() - 1]);
    let between = all_pages(
        &t,
        Some("doc"),
        ActivityFilter::new().after(from).before(to),
    )
    .await;
    let between: Vec<&Snapshot> = between.iter().flatten().collect();
    assert!(!between.is_empty());
    assert!(
        between
            .iter()
            .all(|s| s.changed() >= from && s.changed() <= to)
    );
    let want: i64 = t
        .scalar_i64(&format!(
            "SELECT count(*) FROM chrononaut_activity WHERE table_name = 'doc' \
             AND changed BETWEEN '{}' AND '{}'",
            from.to_rfc3339(),
            to.to_rfc3339()
        ))
        .await;
    assert_eq!(between.len() as i64, want);
    // the Python row: no operation, in the unfiltered activity, outside any operation filter
    let all = all_pages(&t, Some("doc"), ActivityFilter::new()).await;
    let python: Vec<&Snapshot> = all
        .iter()
        .flatten()
        .filter(|s| s.meta().operation.is_none())
        .collect();
    assert_eq!(python.len(), 1);
    assert_eq!(python[0].meta().user_id(), Some("py"));
    let empty = all_pages(&t, Some("doc"), ActivityFilter::new().limit(0)).await;
    assert_eq!(empty, [Vec::<Snapshot>::new()]);
}

#[tokio::test]
async fn activity_across_tables_merges_every_table_with_history() {
    let t = common::setup().await;
    history(&t).await;
    let want = expected(&t, None, None).await;
    assert_eq!(
        want.len(),
        9 + 3 + 1,
        "doc, tag, and the Python rows of a dropped table"
    );
    for limit in [1, 2, 5, 50] {
        let pages = all_pages(&t, None, ActivityFilter::new().limit(limit)).await;
        let got: Vec<(String, i64)> = pages.iter().flat_map(|p| ids(p)).collect();
        assert_eq!(got, want, "limit {limit}");
    }
    let pages = all_pages(
        &t,
        None,
        ActivityFilter::new()
            .operations([Operation::Delete])
            .limit(1),
    )
    .await;
    let got: Vec<(String, i64)> = pages.iter().flat_map(|p| ids(p)).collect();
    assert_eq!(got, expected(&t, None, Some(&["delete"])).await);
    assert_eq!(
        got.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(),
        ["tag", "doc"]
    );
    // each row keeps its own table's options: doc's hidden column stays hidden
    let all: Vec<Snapshot> = all_pages(&t, None, ActivityFilter::new()).await.concat();
    let doc = all
        .iter()
        .find(|s| s.meta().table == "doc")
        .expect("doc row");
    assert!(matches!(doc.get("secret"), Err(Error::HiddenColumn { .. })));
    let tag = all
        .iter()
        .find(|s| s.meta().table == "tag" && !s.is_deleted())
        .expect("tag row");
    assert_eq!(tag.get("name").expect("name"), "y");
    let gone = all.iter().find(|s| s.meta().table == "gone").expect("gone");
    assert_eq!(gone.meta().key, json!({"id": 1}));
    // a table name that needs quoting, in a schema of its own
    t.exec("CREATE SCHEMA \"Odd\"; CREATE TABLE \"Odd\".\"T t\" (id int PRIMARY KEY, s text)")
        .await;
    t.track("\"Odd\".\"T t\"", &TrackOptions::new().hidden(["s"]))
        .await;
    t.exec("INSERT INTO \"Odd\".\"T t\" VALUES (1, 'z')").await;
    let mut conn = t.pool.acquire().await.expect("connection");
    let page =
        t.ch.activity(&mut conn, &ActivityFilter::new().limit(1))
            .await
            .expect("page");
    assert_eq!(page.entries[0].meta().table, "\"Odd\".\"T t\"");
    assert!(matches!(
        page.entries[0].get("s"),
        Err(Error::HiddenColumn { .. })
    ));
    let odd =
        t.ch.table_activity(&mut conn, "\"Odd\".\"T t\"", &ActivityFilter::new())
            .await
            .expect("odd");
    assert_eq!(odd.entries.len(), 1);
    assert_eq!(odd.next, None);
}

#[tokio::test]
async fn bad_cursors_and_tables_are_typed_errors() {
    for bad in ["", "12", "x_1", "1_x", "1_2_3", "99999999999999999999_1"] {
        assert!(
            matches!(bad.parse::<ActivityCursor>(), Err(Error::InvalidOptions(_))),
            "{bad:?}"
        );
    }
    let t = common::setup().await;
    let mut conn = t.pool.acquire().await.expect("connection");
    let e =
        t.ch.table_activity(&mut conn, "nope", &ActivityFilter::new())
            .await
            .expect_err("no table");
    assert!(matches!(e, Error::UnknownTable(_)), "{e:?}");
    let empty =
        t.ch.activity(&mut conn, &ActivityFilter::new())
            .await
            .expect("no history");
    assert!(empty.entries.is_empty() && empty.next.is_none());
    // a key belongs to a table
    let e =
        t.ch.activity(
            &mut conn,
            &ActivityFilter::new().key(serde_json::json!({"id": 1})),
        )
        .await
        .expect_err("a key without a table");
    assert!(matches!(e, Error::InvalidOptions(_)), "{e:?}");
    let bare = common::bare().await;
    let mut conn = bare.pool.acquire().await.expect("connection");
    let e = bare
        .ch
        .activity(&mut conn, &ActivityFilter::new())
        .await
        .expect_err("not installed");
    assert!(matches!(e, Error::NotInstalled), "{e:?}");
}

/// Install adds the index to an activity table the Python library made, and its rows read.
#[tokio::test]
async fn install_adds_the_activity_index_to_an_adopted_table() {
    let t = common::bare().await;
    t.exec(
        "CREATE TABLE chrononaut_activity (id bigserial PRIMARY KEY, table_name text NOT NULL, \
         changed timestamptz NOT NULL, version integer NOT NULL DEFAULT 0, \
         key jsonb NOT NULL DEFAULT '{}', data jsonb NOT NULL DEFAULT '{}', \
         user_info jsonb NOT NULL DEFAULT '{}', extra_info jsonb NOT NULL DEFAULT '{}'); \
         CREATE INDEX ix_chrononaut_activity_key_table_name ON chrononaut_activity (key, table_name); \
         CREATE TABLE items (id int PRIMARY KEY); \
         INSERT INTO chrononaut_activity (table_name, changed, version, key, data) \
         SELECT 'items', timestamptz '2024-01-01' + make_interval(secs => g), g, '{\"id\": 1}', \
                jsonb_build_object('id', 1, 'version', g) FROM generate_series(0, 4) g",
    )
    .await;
    let mut conn = t.pool.acquire().await.expect("connection");
    for _ in 0..2 {
        t.ch.install(&mut conn).await.expect("install");
        let def: String = sqlx::query_scalar(
            "SELECT pg_get_indexdef('ix_chrononaut_activity_table_changed'::regclass)",
        )
        .fetch_one(&mut *conn)
        .await
        .expect("index");
        assert!(
            def.ends_with("USING btree (table_name, changed, id) WHERE (id IS NOT NULL)"),
            "{def}"
        );
    }
    let page =
        t.ch.table_activity(&mut conn, "items", &ActivityFilter::new().limit(2))
            .await
            .expect("page");
    assert_eq!(
        page.entries
            .iter()
            .map(Snapshot::version)
            .collect::<Vec<_>>(),
        [4, 3]
    );
    let ddl = t.ch.install_sql(&Default::default()).expect("ddl");
    assert!(ddl.contains("ix_chrononaut_activity_table_changed"));
}

/// The SQL of a read as the library sends it, for PREPARE (comments stripped).
fn statement(sql: &str) -> String {
    sql.lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n")
        .replace("{{activity}}", "public.chrononaut_activity")
        .replace("{{user_filter}}", "")
}

/// Every plan node (depth first).
fn nodes(plan: &Value) -> Vec<&Value> {
    let mut out = vec![plan];
    if let Some(children) = plan["Plans"].as_array() {
        for c in children {
            out.extend(nodes(c));
        }
    }
    out
}

/// The newest-first reads are backward range scans of ix_chrononaut_activity_table_changed
/// that stop after a page (a probe per table across tables), with the parameters' values and
/// in a generic plan: no sequential scan, no scan of a table's whole history. (Before this
/// index, the newest rows of a table were a sort of its whole history.)
#[tokio::test]
async fn activity_reads_stop_after_a_page() {
    let t = common::setup().await;
    t.exec(
        "INSERT INTO chrononaut_activity (table_name, changed, version, key, data, operation) \
         SELECT 'tbl_' || (g % 5), timestamptz '2026-01-01' + make_interval(secs => g), g / 2000, \
                jsonb_build_object('id', g % 2000), jsonb_build_object('id', g % 2000, 'v', g), \
                CASE WHEN g % 100 = 0 THEN 'delete' ELSE 'update' END \
         FROM generate_series(1, 40000) g",
    )
    .await;
    t.exec("VACUUM ANALYZE chrononaut_activity").await;
    let reads = [
        (
            "table",
            statement(include_str!("../sql/history/activity_table.sql")),
            vec![
                "('tbl_1', NULL, NULL, NULL, NULL, NULL, 51)",
                "('tbl_1', NULL, NULL, '2026-01-01 05:00+00', 18001, NULL, 51)",
                "('tbl_1', '2026-01-01 02:00+00', '2026-01-01 06:00+00', NULL, NULL, '{update}', 51)",
            ],
        ),
        (
            "all tables",
            statement(include_str!("../sql/history/activity_all.sql")),
            vec![
                "(NULL, NULL, NULL, NULL, NULL, 51)",
                "(NULL, NULL, '2026-01-01 05:00+00', 18001, NULL, 51)",
                "('2026-01-01 02:00+00', '2026-01-01 06:00+00', NULL, NULL, '{update}', 51)",
            ],
        ),
    ];
    let mut conn = t.plain_connection().await;
    for (i, (name, sql, args)) in reads.iter().enumerate() {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("PREPARE q{i} AS {sql}")))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        for mode in ["force_custom_plan", "force_generic_plan"] {
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("SET plan_cache_mode = {mode}")))
                .execute(&mut conn)
                .await
                .expect("plan_cache_mode");
            for a in args {
                let plan: Value = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE q{i}{a}"
                )))
                .fetch_one(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("{name}: {e}"));
                let root = &plan[0]["Plan"];
                let all = nodes(root);
                let what = format!("{name} {a} ({mode}): {plan:#}");
                assert!(
                    all.iter().all(|n| n["Node Type"] != "Seq Scan"),
                    "sequential scan in {what}"
                );
                let scans: Vec<&&Value> = all
                    .iter()
                    .filter(|n| {
                        n["Index Name"] == "ix_chrononaut_activity_table_changed"
                            && n["Index Cond"]
                                .as_str()
                                .is_some_and(|c| c.contains("changed"))
                    })
                    .collect();
                assert!(
                    !scans.is_empty(),
                    "no page scan of the activity index in {what}"
                );
                for s in &scans {
                    assert_eq!(s["Scan Direction"], "Backward", "{what}");
                    // a page (+1) per loop, never a table's history (8000 rows each)
                    let rows = s["Actual Rows"].as_f64().unwrap_or(f64::MAX);
                    let removed = s["Rows Removed by Filter"].as_f64().unwrap_or(0.0);
                    assert!(rows <= 51.0 && removed <= 51.0, "{what}");
                }
                if *name == "table" {
                    assert!(
                        all.iter().all(|n| n["Node Type"] != "Sort"),
                        "the index gives the order: {what}"
                    );
                }
            }
        }
    }
}

/// One record's activity (a key filter) reads the record's rows from
/// ix_chrononaut_activity_table_key_changed, never the table's history, with the parameters'
/// values and in a generic plan.
#[tokio::test]
async fn record_activity_reads_the_record_only() {
    let t = common::setup().await;
    t.exec(
        "INSERT INTO chrononaut_activity (table_name, changed, version, key, data, operation, user_info) \
         SELECT 'tbl_' || (g % 5), timestamptz '2026-01-01' + make_interval(secs => g), g / 2000, \
                jsonb_build_object('id', g % 2000), jsonb_build_object('id', g % 2000, 'v', g), \
                CASE WHEN g % 100 = 0 THEN 'delete' ELSE 'update' END, \
                jsonb_build_object('user_id', 'u' || (g % 7)) \
         FROM generate_series(1, 40000) g",
    )
    .await;
    t.exec("VACUUM ANALYZE chrononaut_activity").await;
    let sql = statement(include_str!("../sql/history/activity_key.sql"));
    let mut conn = t.plain_connection().await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("PREPARE qk AS {sql}")))
        .execute(&mut conn)
        .await
        .expect("prepare");
    // key {"id": 6} of tbl_1: 20 rows (g = 6 + 2000 k), 9 before 05:00, 3 of user u3
    // (k = 5, 12, 19)
    let args = [
        (
            r#"('tbl_1', '{"id": 6}', NULL, NULL, NULL, NULL, NULL, NULL, 51)"#,
            20,
        ),
        (
            r#"('tbl_1', '{"id": 6}', NULL, NULL, '2026-01-01 05:00+00', 1, NULL, NULL, 5)"#,
            5,
        ),
        (
            r#"('tbl_1', '{"id": 6}', '2026-01-01 02:00+00', NULL, NULL, NULL, '{update}', 'u3', 51)"#,
            3,
        ),
    ];
    for mode in ["force_custom_plan", "force_generic_plan"] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("SET plan_cache_mode = {mode}")))
            .execute(&mut conn)
            .await
            .expect("plan_cache_mode");
        for (a, expected) in args {
            let plan: Value = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE qk{a}"
            )))
            .fetch_one(&mut conn)
            .await
            .expect("explain");
            let root = &plan[0]["Plan"];
            let all = nodes(root);
            let what = format!("{a} ({mode}): {plan:#}");
            assert_eq!(
                root["Actual Rows"].as_f64(),
                Some(f64::from(expected)),
                "{what}"
            );
            let scans: Vec<&&Value> = all
                .iter()
                .filter(|n| n["Node Type"].as_str().is_some_and(|t| t.contains("Scan")))
                .collect();
            assert!(!scans.is_empty(), "{what}");
            for s in &scans {
                // by the key: ix_chrononaut_activity_table_key_changed or the Python index
                assert_ne!(s["Node Type"], "Seq Scan", "{what}");
                if s.get("Index Name").is_some() {
                    let cond = s["Index Cond"].as_str().unwrap_or("");
                    assert!(cond.contains("key = "), "not by the key: {what}");
                }
                let rows = s["Actual Rows"].as_f64().unwrap_or(f64::MAX);
                let removed = s["Rows Removed by Filter"].as_f64().unwrap_or(0.0);
                assert!(
                    rows + removed <= 20.0,
                    "more than the record's rows: {what}"
                );
            }
        }
    }
}

/// A user filter is planned for its values every time, never kept as a prepared statement:
/// PostgreSQL's generic plan of `user_info->>'user_id' = $n` sorts a table's whole history
/// (seen at 1M rows: 6 s) where the custom plan walks the index newest first.
#[tokio::test]
async fn user_filters_are_not_prepared_statements() {
    let t = common::setup().await;
    t.exec(
        "INSERT INTO chrononaut_activity (table_name, changed, version, key, data, operation, user_info) \
         SELECT 'doc', timestamptz '2026-01-01' + make_interval(secs => g), g, \
                jsonb_build_object('id', g), jsonb_build_object('id', g), 'update', \
                jsonb_build_object('user_id', 'u' || (g % 3)) \
         FROM generate_series(1, 30) g",
    )
    .await;
    let mut conn = t.pool.acquire().await.expect("connection");
    for _ in 0..7 {
        let across =
            t.ch.activity(&mut conn, &ActivityFilter::new().user("u1").limit(4))
                .await
                .expect("activity");
        assert_eq!(across.entries.len(), 4);
        assert!(
            across
                .entries
                .iter()
                .all(|e| e.meta().user_id() == Some("u1"))
        );
    }
    let plain =
        t.ch.activity(&mut conn, &ActivityFilter::new().limit(4))
            .await
            .expect("activity");
    assert_eq!(plain.entries.len(), 4);
    let cached: Vec<String> = sqlx::query_scalar(
        "SELECT statement FROM pg_prepared_statements WHERE statement LIKE '%WITH RECURSIVE names%'",
    )
    .fetch_all(&mut *conn)
    .await
    .expect("prepared statements");
    assert!(
        cached
            .iter()
            .all(|s| !s.contains("AND a.user_info ->> 'user_id' = $7")),
        "a user filter was prepared: {cached:?}"
    );
    assert!(
        !cached.is_empty(),
        "the plain read is a prepared statement (the check sees them)"
    );
}

/// (table_name, id) of a user's rows within the time bounds, newest first by (changed, id):
/// the plain reference the windowed walk of `activity` must match.
async fn expected_user(
    t: &Ctx,
    user: &str,
    after: Option<DateTime<Utc>>,
    before: Option<DateTime<Utc>>,
) -> Vec<(String, i64)> {
    sqlx::query_as(
        "SELECT table_name, id FROM chrononaut_activity \
         WHERE user_info ->> 'user_id' = $1 \
           AND ($2::timestamptz IS NULL OR changed >= $2) AND ($3::timestamptz IS NULL OR changed <= $3) \
         ORDER BY changed DESC, id DESC",
    )
    .bind(user)
    .bind(after)
    .bind(before)
    .fetch_all(&t.pool)
    .await
    .expect("expected user rows")
}

/// A user filter across tables walks back in doubling time windows (activity.rs, user_walk):
/// over history spread from a second to ~20 years back, with rows sharing `changed` (within a
/// table and across tables), its pages add up to exactly the plain ordered query, for every
/// page size, with time bounds, for a user with no rows and one whose rows are all far back.
#[tokio::test]
async fn user_activity_across_tables_matches_the_plain_order() {
    let t = common::setup().await;
    // 600 rows over 3 tables, pairs sharing `changed` and user (in two tables), 1.07^(g/2) s back (1 s .. ~20
    // years), users u0..u3; `far`: 3 rows of one instant 30 years back, one of them in a
    // table of its own; an operation mix for the combined filter.
    t.exec(
        "INSERT INTO chrononaut_activity (table_name, changed, version, key, data, operation, user_info) \
         SELECT 't' || (g % 3), timestamptz '2026-06-01' - make_interval(secs => floor(power(1.07, g / 2))), \
                g, jsonb_build_object('id', g), jsonb_build_object('id', g), \
                CASE WHEN g % 5 = 0 THEN 'delete' ELSE 'update' END, \
                jsonb_build_object('user_id', 'u' || (g / 2 % 4)) \
         FROM generate_series(1, 600) g; \
         INSERT INTO chrononaut_activity (table_name, changed, version, key, data, operation, user_info) \
         SELECT CASE WHEN g = 3 THEN 'old' ELSE 't1' END, timestamptz '1996-06-01', g, \
                jsonb_build_object('id', g), jsonb_build_object('id', g), 'update', \
                jsonb_build_object('user_id', 'far') \
         FROM generate_series(1, 3) g",
    )
    .await;
    let at = |s: &str| -> DateTime<Utc> { s.parse().expect("time") };
    let bounds = [
        (None, None),
        (Some(at("2025-01-01T00:00:00Z")), None),
        (None, Some(at("2026-05-31T23:00:00Z"))),
        (
            Some(at("2010-01-01T00:00:00Z")),
            Some(at("2026-05-01T00:00:00Z")),
        ),
        // an `after` later than every row, a `before` earlier than every row
        (Some(at("2027-01-01T00:00:00Z")), None),
        (None, Some(at("1990-01-01T00:00:00Z"))),
    ];
    let mut conn = t.pool.acquire().await.expect("connection");
    for user in ["u1", "u2", "far", "nobody"] {
        for (after, before) in bounds {
            let want = expected_user(&t, user, after, before).await;
            for limit in [1, 3, 7, 50, 1000] {
                let mut filter = ActivityFilter::new().user(user).limit(limit);
                if let Some(a) = after {
                    filter = filter.after(a);
                }
                if let Some(b) = before {
                    filter = filter.before(b);
                }
                // every page by the cursor (all_pages stops at 100 pages)
                let mut pages = Vec::new();
                let mut cursor = None;
                loop {
                    let page =
                        t.ch.activity(&mut conn, &filter.clone().cursor(cursor))
                            .await
                            .expect("page");
                    cursor = page.next;
                    pages.push(page.entries);
                    assert!(pages.len() <= 1000, "endless pages");
                    if cursor.is_none() {
                        break;
                    }
                }
                let what = format!("{user} after {after:?} before {before:?} limit {limit}");
                let got: Vec<_> = pages.iter().flat_map(|p| ids(p)).collect();
                assert_eq!(got, want, "{what}");
                let (last, full) = pages.split_last().expect("a page");
                assert!(
                    full.iter().all(|p| p.len() == limit as usize),
                    "pages but the last are full: {what}"
                );
                assert!(last.len() <= limit as usize, "{what}");
            }
        }
    }
    assert_eq!(expected_user(&t, "far", None, None).await.len(), 3);
    assert!(expected_user(&t, "nobody", None, None).await.is_empty());
    // with an operation filter too
    let page =
        t.ch.activity(
            &mut conn,
            &ActivityFilter::new()
                .user("u1")
                .operations([Operation::Delete])
                .limit(1000),
        )
        .await
        .expect("page");
    let want: Vec<(String, i64)> = sqlx::query_as(
        "SELECT table_name, id FROM chrononaut_activity \
         WHERE user_info ->> 'user_id' = 'u1' AND operation = 'delete' ORDER BY changed DESC, id DESC",
    )
    .fetch_all(&t.pool)
    .await
    .expect("expected");
    assert!(!want.is_empty());
    assert_eq!(ids(&page.entries), want);
}
