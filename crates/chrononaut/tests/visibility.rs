//! Issue 14 item 2: a role reads the history of exactly the tables it may SELECT, however it
//! reads (SELECT on the activity table and on chrononaut.lock_events, chrononaut.as_of, the
//! locks, the library), and lock/unlock tell it nothing about records of other tables. A
//! GRANT or REVOKE takes effect at once. Every read below is made as the application role.

mod common;

use chrononaut::{Error, TrackOptions, VersionFilter};
use common::plans::history_scans;
use common::{Ctx, quote_ident};
use serde_json::json;
use sqlx::{Connection, PgConnection};

/// Tracked tables `acc` (the application may read and write it) and `payroll` (no privilege),
/// each with history, a locked record and lock events; an application role with SELECT on
/// the activity table, and a connection as that role.
async fn setup() -> (Ctx, String, PgConnection) {
    let t = common::setup().await;
    t.exec(
        "CREATE TABLE acc (id int PRIMARY KEY, owner text); \
         CREATE TABLE payroll (id int PRIMARY KEY, name text, salary int);",
    )
    .await;
    t.track("acc", &TrackOptions::new()).await;
    t.track("payroll", &TrackOptions::new()).await;
    t.exec(
        "INSERT INTO acc VALUES (1, 'ann'), (2, 'bob'); UPDATE acc SET owner = 'cy' WHERE id = 1; \
         INSERT INTO payroll VALUES (1, 'ann', 9000), (2, 'bob', 7000); \
         UPDATE payroll SET salary = 9500 WHERE id = 1;",
    )
    .await;
    let mut conn = t.pool.acquire().await.expect("connection");
    t.ch.lock(&mut conn, "acc", json!({"id": 2}), "acc audit")
        .await
        .expect("lock acc");
    t.ch.lock(
        &mut conn,
        "payroll",
        json!({"id": 1}),
        "salary review of ann",
    )
    .await
    .expect("lock payroll");
    t.ch.freeze(&mut conn, "payroll", "payroll closed")
        .await
        .expect("freeze payroll");
    drop(conn);
    let app = t.create_role("app", "").await;
    let q = quote_ident(&app);
    t.exec(&format!(
        "GRANT SELECT, INSERT, UPDATE, DELETE ON acc TO {q}; \
         GRANT SELECT ON chrononaut_activity TO {q};"
    ))
    .await;
    let conn = PgConnection::connect_with(&t.options_as(&app))
        .await
        .expect("connect as app");
    (t, app, conn)
}

async fn count(conn: &mut PgConnection, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(&mut *conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// What the application role can see of payroll and of acc, through every way of reading.
#[derive(Debug, PartialEq)]
struct Seen {
    payroll_rows: i64,
    payroll_lock_events: i64,
    payroll_locks: i64,
    payroll_as_of: i64,
    acc_rows: i64,
    acc_lock_events: i64,
    acc_locks: i64,
    acc_as_of: i64,
}

async fn seen(conn: &mut PgConnection) -> Seen {
    Seen {
        payroll_rows: count(
            conn,
            "SELECT count(*) FROM chrononaut_activity WHERE table_name = 'payroll'",
        )
        .await,
        payroll_lock_events: count(
            conn,
            "SELECT count(*) FROM chrononaut.lock_events WHERE table_name = 'payroll'",
        )
        .await,
        payroll_locks: count(
            conn,
            "SELECT count(*) FROM chrononaut.locks WHERE table_name = 'payroll'",
        )
        .await,
        payroll_as_of: count(
            conn,
            "SELECT count(*) FROM chrononaut.as_of(NULL::payroll, now())",
        )
        .await,
        acc_rows: count(
            conn,
            "SELECT count(*) FROM chrononaut_activity WHERE table_name = 'acc'",
        )
        .await,
        acc_lock_events: count(
            conn,
            "SELECT count(*) FROM chrononaut.lock_events WHERE table_name = 'acc'",
        )
        .await,
        acc_locks: count(
            conn,
            "SELECT count(*) FROM chrononaut.locks WHERE table_name = 'acc'",
        )
        .await,
        acc_as_of: count(
            conn,
            "SELECT count(*) FROM chrononaut.as_of(NULL::acc, now())",
        )
        .await,
    }
}

const NOTHING_OF_PAYROLL: Seen = Seen {
    payroll_rows: 0,
    payroll_lock_events: 0,
    payroll_locks: 0,
    payroll_as_of: 0,
    acc_rows: 3,
    acc_lock_events: 1,
    acc_locks: 1,
    acc_as_of: 2,
};

const ALL_OF_PAYROLL: Seen = Seen {
    payroll_rows: 3,
    payroll_lock_events: 2,
    payroll_locks: 2,
    payroll_as_of: 2,
    ..NOTHING_OF_PAYROLL
};

#[tokio::test]
async fn sql_reads_see_only_tables_the_role_may_select() {
    let (t, _app, mut app) = setup().await;
    assert_eq!(seen(&mut app).await, NOTHING_OF_PAYROLL);
    // no row of payroll however the query is written (a Python reader's look-up included)
    assert_eq!(
        count(
            &mut app,
            "SELECT count(*) FROM chrononaut_activity \
             WHERE key = '{\"id\": 1}' AND table_name = 'payroll'",
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &mut app,
            "SELECT count(*) FROM chrononaut_activity WHERE data::text LIKE '%ann%'",
        )
        .await,
        1,
        "acc's ann only"
    );
    // the Python reader's query of a table it may read works unchanged
    let versions: Vec<i32> = sqlx::query_scalar(
        "SELECT version FROM chrononaut_activity WHERE key = $1 AND table_name = $2 ORDER BY changed",
    )
    .bind(json!({"id": 1}))
    .bind("acc")
    .fetch_all(&mut app)
    .await
    .expect("python-style read");
    assert_eq!(versions, vec![0, 1]);
    // the owner still sees everything
    let mut conn = t.pool.acquire().await.expect("connection");
    assert_eq!(seen(&mut conn).await, ALL_OF_PAYROLL);
}

#[tokio::test]
async fn library_reads_see_only_tables_the_role_may_select() {
    let (t, _app, mut app) = setup().await;
    let ch = &t.ch;
    // payroll: nothing, whichever read
    match ch.record(&mut app, "payroll", json!({"id": 1})).await {
        Err(_) => {}
        Ok(record) => {
            let versions = record.versions(&mut app, &VersionFilter::new()).await;
            assert!(
                matches!(&versions, Ok(v) if v.is_empty()) || versions.is_err(),
                "{versions:?}"
            );
            let latest = record.latest(&mut app).await;
            assert!(!format!("{latest:?}").contains("9500"), "{latest:?}");
        }
    }
    let mut rows = Vec::new();
    if let Ok(as_of) = ch.as_of(&mut app, "payroll", chrono::Utc::now()).await {
        let mut stream = as_of.rows();
        use futures_util::TryStreamExt;
        while let Some(row) = stream.try_next().await.expect("row") {
            rows.push(row);
        }
    }
    assert!(rows.is_empty(), "{rows:?}");
    let log = ch.table_log(&mut app, "payroll", 100, None).await;
    assert!(
        matches!(&log, Ok(l) if l.is_empty()) || log.is_err(),
        "{log:?}"
    );
    let events = ch.lock_events(&mut app, "payroll", 100).await;
    assert!(
        matches!(&events, Ok(e) if e.is_empty()) || events.is_err(),
        "{events:?}"
    );
    let locks = ch.locks(&mut app, None).await.expect("locks");
    assert_eq!(locks.len(), 1, "{locks:?}");
    assert_eq!(locks[0].history_name, "acc");
    let locks = ch.locks(&mut app, Some("payroll")).await;
    assert!(matches!(&locks, Ok(l) if l.is_empty()), "{locks:?}");
    // verify covers what the role may read
    let report = ch.verify(&mut app, None).await.expect("verify");
    assert!(report.is_ok(), "{:?}", report.issues);
    assert!(
        !format!("{report:?}").contains("payroll"),
        "verify as app: {report:?}"
    );
    // acc: everything
    let record = ch
        .record(&mut app, "acc", json!({"id": 1}))
        .await
        .expect("record");
    let versions = record
        .versions(&mut app, &VersionFilter::new())
        .await
        .expect("versions");
    assert_eq!(versions.len(), 2);
    assert_eq!(
        ch.lock_events(&mut app, "acc", 100)
            .await
            .expect("events")
            .len(),
        1
    );
}

/// Lock and unlock answer nothing about a table the caller may not read: locking needs
/// SELECT beside UPDATE, unlocking needs SELECT; the refusal comes before the record is
/// looked up (the same answer for a record that exists, one that does not, one locked).
#[tokio::test]
async fn lock_and_unlock_reveal_nothing_of_unreadable_tables() {
    let (t, app_role, mut app) = setup().await;
    t.exec(&format!(
        "GRANT UPDATE ON payroll TO {}",
        quote_ident(&app_role)
    ))
    .await;
    let mut answers = Vec::new();
    for id in [1, 2, 99] {
        for result in [
            t.ch.lock(&mut app, "payroll", json!({"id": id}), "x").await,
            t.ch.unlock(&mut app, "payroll", json!({"id": id})).await,
        ] {
            match result {
                Err(Error::PermissionDenied(m)) => answers.push(m),
                other => panic!("expected a permission error, got {other:?}"),
            }
        }
    }
    for (result, what) in [
        (t.ch.freeze(&mut app, "payroll", "x").await, "freeze"),
        (t.ch.unfreeze(&mut app, "payroll").await, "unfreeze"),
    ] {
        match result {
            Err(Error::PermissionDenied(m)) => answers.push(m),
            other => panic!("{what}: expected a permission error, got {other:?}"),
        }
    }
    for m in &answers {
        assert!(
            !m.contains("ann")
                && !m.contains("review")
                && !m.contains("closed")
                && !m.contains('{'),
            "{m}"
        );
    }
    // the SQL functions too
    for sql in [
        "SELECT * FROM chrononaut.lock('payroll', '{\"id\": 2}', 'x')",
        "SELECT * FROM chrononaut.unlock('payroll', '{\"id\": 1}')",
        "SELECT * FROM chrononaut.unlock('payroll', NULL)",
    ] {
        let err = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut app)
            .await
            .expect_err(sql);
        assert!(common::is_sqlstate(&err, "42501"), "{sql}: {err}");
    }
    // nothing changed
    let mut conn = t.pool.acquire().await.expect("connection");
    assert_eq!(seen(&mut conn).await, ALL_OF_PAYROLL);
}

/// The lock checks see every lock, also for a writer that may not read them: a role with
/// UPDATE and DELETE but no SELECT on payroll is refused on the locked record and on the
/// frozen table.
#[tokio::test]
async fn locks_hold_against_writers_that_cannot_read_them() {
    let (t, app_role, mut app) = setup().await;
    t.exec(&format!(
        "GRANT INSERT, UPDATE, DELETE, TRUNCATE ON payroll TO {}",
        quote_ident(&app_role)
    ))
    .await;
    assert_eq!(seen(&mut app).await, NOTHING_OF_PAYROLL);
    for sql in [
        "UPDATE payroll SET salary = 0",
        "DELETE FROM payroll",
        "INSERT INTO payroll VALUES (3, 'cy', 1)",
        "TRUNCATE payroll",
    ] {
        let err = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut app)
            .await
            .expect_err(sql);
        assert!(
            common::is_sqlstate(&err, chrononaut::SQLSTATE_RECORD_LOCKED),
            "{sql}: {err}"
        );
    }
    // only the freeze lifted: the record's lock still refuses
    let mut conn = t.pool.acquire().await.expect("connection");
    t.ch.unfreeze(&mut conn, "payroll").await.expect("unfreeze");
    let err = sqlx::raw_sql("UPDATE payroll SET salary = 0")
        .execute(&mut app)
        .await
        .expect_err("locked record");
    assert!(
        common::is_sqlstate(&err, chrononaut::SQLSTATE_RECORD_LOCKED),
        "{err}"
    );
    sqlx::raw_sql("INSERT INTO payroll VALUES (3, 'cy', 1)")
        .execute(&mut app)
        .await
        .expect("an insert once the table is unfrozen");
}

/// A GRANT or REVOKE takes effect at the next statement, on the same connection.
#[tokio::test]
async fn grant_and_revoke_take_effect_at_once() {
    let (t, app_role, mut app) = setup().await;
    let q = quote_ident(&app_role);
    assert_eq!(seen(&mut app).await, NOTHING_OF_PAYROLL);
    t.exec(&format!("GRANT SELECT ON payroll TO {q}")).await;
    assert_eq!(seen(&mut app).await, ALL_OF_PAYROLL);
    let record =
        t.ch.record(&mut app, "payroll", json!({"id": 1}))
            .await
            .expect("record");
    assert_eq!(
        record
            .versions(&mut app, &VersionFilter::new())
            .await
            .expect("versions")
            .len(),
        2
    );
    t.exec(&format!("REVOKE SELECT ON payroll FROM {q}")).await;
    assert_eq!(seen(&mut app).await, NOTHING_OF_PAYROLL);
    let versions = record.versions(&mut app, &VersionFilter::new()).await;
    assert!(matches!(&versions, Ok(v) if v.is_empty()), "{versions:?}");
    // column privileges are not enough: history holds every recorded column
    t.exec(&format!("GRANT SELECT (id, name) ON payroll TO {q}"))
        .await;
    assert_eq!(seen(&mut app).await.payroll_rows, 0);
    // through a group role
    let group = t.create_role("readers", "").await;
    t.exec(&format!(
        "GRANT SELECT ON payroll TO {g}; GRANT {g} TO {q}",
        g = quote_ident(&group)
    ))
    .await;
    assert_eq!(seen(&mut app).await, ALL_OF_PAYROLL);
}

/// Members of chrononaut_admin read all history, also of tables no longer tracked; others
/// read no history of a table that is not tracked (even with SELECT on it), see the README.
#[tokio::test]
async fn admins_read_everything_untracked_history_is_theirs() {
    let (t, app_role, mut app) = setup().await;
    let mut conn = t.pool.acquire().await.expect("connection");
    t.ch.unfreeze(&mut conn, "payroll").await.expect("unfreeze");
    t.ch.unlock(&mut conn, "payroll", json!({"id": 1}))
        .await
        .expect("unlock");
    t.ch.untrack(&mut conn, "payroll").await.expect("untrack");
    t.exec(&format!(
        "GRANT SELECT ON payroll TO {}",
        quote_ident(&app_role)
    ))
    .await;
    assert_eq!(
        count(
            &mut app,
            "SELECT count(*) FROM chrononaut_activity WHERE table_name = 'payroll'"
        )
        .await,
        0
    );
    t.exec(&format!(
        "GRANT chrononaut_admin TO {}",
        quote_ident(&app_role)
    ))
    .await;
    assert_eq!(
        count(
            &mut app,
            "SELECT count(*) FROM chrononaut_activity WHERE table_name = 'payroll'"
        )
        .await,
        3
    );
    assert_eq!(
        count(
            &mut app,
            "SELECT count(*) FROM chrononaut.lock_events WHERE table_name = 'payroll'"
        )
        .await,
        4
    );
    // and the escape that deletes history still deletes
    sqlx::raw_sql(
        "BEGIN; SELECT set_config('chrononaut.allow_delete_history', 'on', true); \
         DELETE FROM chrononaut_activity WHERE table_name = 'payroll'; COMMIT;",
    )
    .execute(&mut app)
    .await
    .expect("admin deletes history");
    drop(conn);
    assert_eq!(
        t.scalar_i64("SELECT count(*) FROM chrononaut_activity WHERE table_name = 'payroll'")
            .await,
        0
    );
}

/// The policy is evaluated once per statement (an InitPlan), not once per row, and keeps the
/// index condition on table_name.
#[tokio::test]
async fn the_policy_is_an_initplan() {
    let (_t, _app, mut app) = setup().await;
    for sql in [
        "EXPLAIN SELECT * FROM chrononaut_activity WHERE table_name = 'acc'",
        "EXPLAIN SELECT * FROM chrononaut_activity",
        "EXPLAIN SELECT * FROM chrononaut.lock_events WHERE table_name = 'acc'",
    ] {
        let plan: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut app)
            .await
            .expect("explain");
        let plan = plan.join("\n");
        assert!(plan.contains("InitPlan"), "{sql}:\n{plan}");
        assert!(!plan.contains("SubPlan"), "{sql}:\n{plan}");
    }
}

/// The library's per-record reads and as_of read through SECURITY DEFINER functions (so that
/// a reader under the policy reads by index); those check the reader themselves, by the
/// policy's rules: the role of the session (its SET ROLE, else its login role), SELECT on the
/// activity table and on the tracked table, or chrononaut_admin.
#[tokio::test]
async fn the_definer_reads_check_the_reader() {
    let (t, app_role, mut app) = setup().await;
    let reads = |table: &str| {
        [
            format!("SELECT count(*) FROM chrononaut.record_history('{table}', '{{\"id\": 1}}')"),
            format!("SELECT count(*) FROM chrononaut.history_as_of('{table}', now())"),
        ]
    };
    for sql in reads("payroll") {
        assert_eq!(count(&mut app, &sql).await, 0, "{sql}");
    }
    for sql in reads("acc") {
        assert_eq!(count(&mut app, &sql).await, 2, "{sql}");
    }
    // a superuser's session that switched to the application role reads as that role
    let mut su = PgConnection::connect(&t.db.url).await.expect("connect");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "SET ROLE {}",
        quote_ident(&app_role)
    )))
    .execute(&mut su)
    .await
    .expect("set role");
    for sql in reads("payroll") {
        assert_eq!(count(&mut su, &sql).await, 0, "as app by SET ROLE: {sql}");
    }
    sqlx::raw_sql("RESET ROLE")
        .execute(&mut su)
        .await
        .expect("reset role");
    for sql in reads("payroll") {
        assert_eq!(count(&mut su, &sql).await, 2, "as the superuser: {sql}");
    }
    // SELECT on the table without SELECT on the activity table: nothing (as from the table)
    let other = t.create_role("other", "").await;
    t.exec(&format!("GRANT SELECT ON acc TO {}", quote_ident(&other)))
        .await;
    let mut other_conn = PgConnection::connect_with(&t.options_as(&other))
        .await
        .expect("connect as other");
    for sql in reads("acc") {
        assert_eq!(count(&mut other_conn, &sql).await, 0, "{sql}");
    }
    // a history name of no tracked table (the Python library's, or a table untracked since):
    // only chrononaut_admin
    t.exec(
        "INSERT INTO chrononaut_activity (table_name, changed, version, key, data, user_info, extra_info) \
         VALUES ('legacy', now(), 0, '{\"id\": 1}', '{\"id\": 1}', '{}', '{}')",
    )
    .await;
    for sql in reads("legacy") {
        assert_eq!(count(&mut app, &sql).await, 0, "{sql}");
    }
    t.exec(&format!(
        "GRANT chrononaut_admin TO {}",
        quote_ident(&app_role)
    ))
    .await;
    for sql in reads("legacy").into_iter().chain(reads("payroll")) {
        assert!(count(&mut app, &sql).await > 0, "as an admin: {sql}");
    }
}

/// A reader under the policy reads one record, or a whole table as of a time, by index probes:
/// no plan of the library's reads (nor of chrononaut.as_of) scans the history of the whole table
/// or checks `key` row by row. jsonb's `=` is not LEAKPROOF, so in a reader's own query
/// PostgreSQL would evaluate `key = ...` after the policy, as a filter: the last check shows
/// that this test sees that shape (a Python-shaped query, which stays that way).
#[tokio::test]
async fn reads_under_the_policy_are_index_probes() {
    let store = common::plans::notices();
    let (t, app_role, _app) = setup().await;
    t.exec(
        "INSERT INTO acc SELECT g, 'o' FROM generate_series(3, 400) AS g; \
         UPDATE acc SET owner = owner || '2' WHERE id <> 2; \
         UPDATE acc SET owner = owner || '3' WHERE id % 2 = 0 AND id <> 2; \
         ANALYZE chrononaut_activity;",
    )
    .await;
    let mut su = PgConnection::connect(&t.db.url).await.expect("connect");
    sqlx::raw_sql(common::plans::AUTO_EXPLAIN)
        .execute(&mut su)
        .await
        .expect("auto_explain (the test suite runs as a superuser)");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "SET ROLE {}",
        quote_ident(&app_role)
    )))
    .execute(&mut su)
    .await
    .expect("set role");
    let before = store.lock().unwrap_or_else(|e| e.into_inner()).len();
    let ch = &t.ch;
    // several times each, so that PL/pgSQL's generic plans are used too
    for id in [1, 3, 4, 5, 6, 7, 8, 9] {
        let record = ch
            .record(&mut su, "acc", json!({"id": id}))
            .await
            .expect("record");
        let versions = record
            .versions(&mut su, &VersionFilter::new())
            .await
            .expect("versions");
        assert!(versions.len() >= 2, "{versions:?}");
        let newest = record
            .versions(&mut su, &VersionFilter::new().newest_first().limit(1))
            .await
            .expect("newest");
        assert_eq!(newest.len(), 1);
        record.version(&mut su, 0).await.expect("version 0");
        let at = versions[0].changed();
        assert!(record.version_at(&mut su, at).await.expect("at").is_some());
        assert!(
            record
                .previous_version(&mut su)
                .await
                .expect("previous")
                .is_some()
        );
        assert!(record.has_changed_since(&mut su, at).await.expect("since"));
    }
    let mut rows = 0;
    {
        let as_of = ch
            .as_of(&mut su, "acc", chrono::Utc::now())
            .await
            .expect("as of");
        use futures_util::TryStreamExt;
        let mut stream = as_of.rows();
        while stream.try_next().await.expect("row").is_some() {
            rows += 1;
        }
    }
    assert_eq!(rows, 400);
    assert_eq!(
        count(
            &mut su,
            "SELECT count(*) FROM chrononaut.as_of(NULL::acc, now())"
        )
        .await,
        400
    );
    let plans: Vec<String> = store.lock().unwrap_or_else(|e| e.into_inner())[before..]
        .iter()
        .filter(|m| m.contains("chrononaut_activity"))
        .cloned()
        .collect();
    for needle in [
        "a.key = record_key",
        "a.key = k.key",
        "(pg_catalog.jsonb_hash(a.key), a.key) <",
    ] {
        assert!(
            plans.iter().any(|p| p.contains(needle)),
            "no plan of a read with {needle} was reported ({} plans)",
            plans.len()
        );
    }
    let bad_read = |plan: &str| -> Option<String> {
        for scan in history_scans(plan) {
            if scan.is_seq_scan() {
                return Some(format!("a sequential scan of history: {}", scan.node));
            }
            if scan.filter_has("key") {
                return Some(format!(
                    "key checked row by row: {} / {:?}",
                    scan.node, scan.conds
                ));
            }
        }
        // a full sort (an incremental one only orders the ties of the index's order)
        plan.lines()
            .find(|l| {
                l.trim_start()
                    .trim_start_matches("->  ")
                    .starts_with("Sort  (")
            })
            .map(|l| format!("a sort: {}", l.trim()))
    };
    let bad: Vec<String> = plans
        .iter()
        .filter_map(|p| bad_read(p).map(|why| format!("{why}\n{p}")))
        .collect();
    assert!(
        bad.is_empty(),
        "{} of {} read plans read history other than by key; the first:\n{}",
        bad.len(),
        plans.len(),
        bad[0]
    );
    // the shape this test catches: a reader's own query of one record
    let before = store.lock().unwrap_or_else(|e| e.into_inner()).len();
    count(
        &mut su,
        "SELECT count(*) FROM chrononaut_activity WHERE table_name = 'acc' AND key = '{\"id\": 1}'",
    )
    .await;
    let own = store.lock().unwrap_or_else(|e| e.into_inner())[before..].join("\n");
    assert!(
        bad_read(&own).is_some(),
        "a reader's own query of one record should check key row by row:\n{own}"
    );
    // a member of chrononaut_reader reads all history, with its own queries by index too
    t.exec(&format!(
        "GRANT chrononaut_reader TO {}",
        quote_ident(&app_role)
    ))
    .await;
    let before = store.lock().unwrap_or_else(|e| e.into_inner()).len();
    assert_eq!(
        count(
            &mut su,
            "SELECT count(*) FROM chrononaut_activity WHERE table_name = 'payroll' AND key = '{\"id\": 1}'",
        )
        .await,
        2
    );
    let own = store.lock().unwrap_or_else(|e| e.into_inner())[before..].join("\n");
    assert!(bad_read(&own).is_none(), "as a chrononaut_reader:\n{own}");
    for sql in [
        "SELECT count(*) FROM chrononaut.lock_events WHERE table_name = 'payroll'",
        "SELECT count(*) FROM chrononaut.locks WHERE table_name = 'payroll'",
        "SELECT count(*) FROM chrononaut.history_as_of('payroll', now())",
    ] {
        assert_eq!(
            count(&mut su, sql).await,
            2,
            "as a chrononaut_reader: {sql}"
        );
    }
    // and nothing more: no escape
    let deleted = sqlx::raw_sql(
        "BEGIN; SELECT set_config('chrononaut.allow_delete_history', 'on', true); \
         DELETE FROM chrononaut_activity WHERE table_name = 'payroll'; COMMIT;",
    )
    .execute(&mut su)
    .await;
    assert!(deleted.is_err(), "a reader deleted history");
}

/// chrononaut.as_of reads history through a SECURITY DEFINER function, but fills the rows with
/// the caller's rights: code of the table's column types (here a domain's CHECK) never runs as
/// the owner.
#[tokio::test]
async fn as_of_runs_the_tables_code_as_the_caller() {
    let (t, app_role, mut app) = setup().await;
    t.exec(
        "CREATE FUNCTION public.spy(v int) RETURNS boolean LANGUAGE plpgsql AS $$ \
         BEGIN \
             IF current_setting('test.spy', true) = 'on' THEN \
                 RAISE EXCEPTION 'domain check ran as %', current_user; \
             END IF; \
             RETURN true; \
         END $$; \
         CREATE DOMAIN watched AS int CHECK (public.spy(VALUE)); \
         CREATE TABLE dom (id int PRIMARY KEY, v watched);",
    )
    .await;
    t.track("dom", &TrackOptions::new()).await;
    t.exec(&format!(
        "INSERT INTO dom VALUES (1, 7); GRANT SELECT ON dom TO {}",
        quote_ident(&app_role)
    ))
    .await;
    let e = sqlx::raw_sql(
        "SET test.spy = 'on'; SELECT * FROM chrononaut.as_of(NULL::dom, now() + interval '1 hour')",
    )
    .execute(&mut app)
    .await
    .expect_err("the domain check runs");
    let message = e.to_string();
    assert!(
        message.contains(&format!("domain check ran as {app_role}")),
        "{message}"
    );
}
