//! The change context: library, raw clients, strict mode, per-record extra, record-changes.

mod common;

use chrononaut::{ChangeContext, Chrononaut, Error, TrackOptions};
use serde_json::{Value, json};
use sqlx::Connection;

/// History rows without ids and times, for comparing two writers.
async fn comparable_history(t: &common::Ctx, table: &str) -> Vec<Value> {
    t.history(table).await
}

#[tokio::test]
async fn plain_client_writes_identical_rows() {
    let t = common::setup().await;
    t.exec(
        "CREATE TABLE a (id int PRIMARY KEY, v text, h text);
         CREATE TABLE b (id int PRIMARY KEY, v text, h text);",
    )
    .await;
    for table in ["a", "b"] {
        t.track(table, &TrackOptions::new().hidden(["h"])).await;
    }
    // through the library
    let ctx = ChangeContext::new()
        .user("alice")
        .remote_addr("10.1.2.3")
        .rationale("why")
        .extra("ticket", 7);
    let mut tx = t.ch.begin(&t.pool, &ctx).await.unwrap();
    for sql in [
        "INSERT INTO a VALUES (1, 'x', 'secret')",
        "UPDATE a SET v = 'y', h = 's2' WHERE id = 1",
        "DELETE FROM a WHERE id = 1",
    ] {
        sqlx::query(sql).execute(&mut *tx).await.unwrap();
    }
    tx.commit().await.unwrap();
    // a plain connection that knows only the documented settings
    let mut conn = t.plain_connection().await;
    sqlx::raw_sql(
        "BEGIN;
         SELECT set_config('chrononaut.user_id', 'alice', true),
                set_config('chrononaut.remote_addr', '10.1.2.3', true),
                set_config('chrononaut.extra', '{\"rationale\": \"why\", \"ticket\": 7}', true);
         INSERT INTO b VALUES (1, 'x', 'secret');
         UPDATE b SET v = 'y', h = 's2' WHERE id = 1;
         DELETE FROM b WHERE id = 1;
         COMMIT;",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let ha = comparable_history(&t, "a").await;
    let hb = comparable_history(&t, "b").await;
    assert_eq!(ha.len(), 3);
    assert_eq!(ha, hb);
    assert_eq!(
        ha[1],
        json!({"version": 1, "key": {"id": 1}, "operation": "update",
               "data": {"id": 1, "v": "y", "version": 1},
               "user_info": {"user_id": "alice", "remote_addr": "10.1.2.3"},
               "extra_info": {"rationale": "why", "ticket": 7, "hidden_cols_changed": ["h"]}})
    );
}

#[tokio::test]
async fn psql_writes_are_captured_with_their_context() {
    let t = common::setup().await;
    t.exec("CREATE TABLE p (id int PRIMARY KEY, v text)").await;
    t.track("p", &TrackOptions::new()).await;
    let script = "BEGIN;\n\
                  SELECT set_config('chrononaut.user_id', 'psql-user', true);\n\
                  INSERT INTO p VALUES (1, 'from psql');\n\
                  COMMIT;\n\
                  UPDATE p SET v = 'no context' WHERE id = 1;\n";
    let out = match std::process::Command::new("psql")
        .arg(&t.db.url)
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", script])
        .output()
    {
        Ok(out) => out,
        Err(e) => {
            // psql is optional; the plain sqlx client test covers the same ground
            eprintln!("psql not available ({e}); skipping");
            return;
        }
    };
    assert!(
        out.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        t.history("p").await,
        vec![
            json!({"version": 0, "key": {"id": 1}, "operation": "insert",
                   "data": {"id": 1, "v": "from psql", "version": 0},
                   "user_info": {"user_id": "psql-user", "remote_addr": null}, "extra_info": {}}),
            json!({"version": 1, "key": {"id": 1}, "operation": "update",
                   "data": {"id": 1, "v": "no context", "version": 1},
                   "user_info": {"user_id": null, "remote_addr": null}, "extra_info": {}}),
        ]
    );
}

#[tokio::test]
async fn context_is_transaction_local() {
    let t = common::setup().await;
    t.exec("CREATE TABLE c (id int PRIMARY KEY, v int)").await;
    t.track("c", &TrackOptions::new()).await;
    let mut conn = t.plain_connection().await;
    {
        let mut tx = conn.begin().await.unwrap();
        t.ch.apply(&mut tx, &ChangeContext::new().user("u1").rationale("r1"))
            .await
            .unwrap();
        sqlx::query("INSERT INTO c VALUES (1, 0)")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    // same connection, next transaction: no context
    sqlx::query("UPDATE c SET v = 1")
        .execute(&mut conn)
        .await
        .unwrap();
    let h = t.history("c").await;
    assert_eq!(
        h[0]["user_info"],
        json!({"user_id": "u1", "remote_addr": null})
    );
    assert_eq!(h[0]["extra_info"], json!({"rationale": "r1"}));
    assert_eq!(
        h[1]["user_info"],
        json!({"user_id": null, "remote_addr": null})
    );
    assert_eq!(h[1]["extra_info"], json!({}));
}

#[tokio::test]
async fn context_providers_fill_extra_info_and_explicit_fields_win() {
    let t = common::setup().await;
    t.exec("CREATE TABLE cp (id int PRIMARY KEY, v int)").await;
    t.track("cp", &TrackOptions::new()).await;
    let ch = Chrononaut::new().with_context_provider(|| {
        let mut m = serde_json::Map::new();
        m.insert("service".into(), json!("billing"));
        m.insert("rationale".into(), json!("provided"));
        m
    });
    let mut tx = ch.begin(&t.pool, &ChangeContext::new()).await.unwrap();
    sqlx::query("INSERT INTO cp VALUES (1, 0)")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut tx = ch
        .begin(&t.pool, &ChangeContext::new().rationale("explicit"))
        .await
        .unwrap();
    sqlx::query("UPDATE cp SET v = 1")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let h = t.history("cp").await;
    assert_eq!(
        h[0]["extra_info"],
        json!({"service": "billing", "rationale": "provided"})
    );
    assert_eq!(
        h[1]["extra_info"],
        json!({"service": "billing", "rationale": "explicit"})
    );
}

async fn write(
    ch: &Chrononaut,
    pool: &sqlx::PgPool,
    ctx: &ChangeContext,
    sql: &str,
) -> chrononaut::Result<()> {
    let mut tx = ch.begin(pool, ctx).await?;
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

#[tokio::test]
async fn strict_mode_per_table() {
    let t = common::setup().await;
    t.exec("CREATE TABLE s (id int PRIMARY KEY, v int); CREATE TABLE free (id int PRIMARY KEY);")
        .await;
    let tracked = t.track("s", &TrackOptions::new().strict(true)).await;
    assert!(tracked.strict_effective);
    t.track("free", &TrackOptions::new()).await;

    let bare = ChangeContext::new().user("u");
    for sql in [
        "INSERT INTO s VALUES (1, 0)",
        "INSERT INTO s SELECT g, 0 FROM generate_series(5, 7) g",
    ] {
        match write(&t.ch, &t.pool, &bare, sql).await {
            Err(Error::StrictMode(msg)) => assert!(msg.contains("strict"), "{msg}"),
            other => panic!("{sql}: expected StrictMode, got {other:?}"),
        }
    }
    assert_eq!(t.scalar_i64("SELECT count(*) FROM s").await, 0);
    assert_eq!(t.activity_count().await, 0);
    // raw statement without any context, mapped through Error::from
    let e = common::ch_err(
        sqlx::query("INSERT INTO s VALUES (1, 0)")
            .execute(&t.pool)
            .await,
    );
    assert!(matches!(e, Error::StrictMode(_)), "{e:?}");
    // a non-strict table is not affected
    write(&t.ch, &t.pool, &bare, "INSERT INTO free VALUES (1)")
        .await
        .unwrap();

    let why = ChangeContext::new().user("u").rationale("initial load");
    write(&t.ch, &t.pool, &why, "INSERT INTO s VALUES (1, 0)")
        .await
        .unwrap();
    for sql in ["UPDATE s SET v = 1", "DELETE FROM s"] {
        assert!(
            matches!(
                write(&t.ch, &t.pool, &bare, sql).await,
                Err(Error::StrictMode(_))
            ),
            "{sql}"
        );
    }
    // a statement that changes nothing (no row, or only a no-op) is not refused
    write(&t.ch, &t.pool, &bare, "UPDATE s SET v = v")
        .await
        .unwrap();
    write(&t.ch, &t.pool, &bare, "DELETE FROM s WHERE id = 99")
        .await
        .unwrap();
    assert_eq!(
        t.json("SELECT jsonb_agg(to_jsonb(s)) FROM s").await,
        json!([{"id": 1, "v": 0, "version": 0}])
    );

    // provider-only extra info does not satisfy strict mode
    let provided = Chrononaut::new().with_context_provider(|| {
        let mut m = serde_json::Map::new();
        m.insert("service".into(), json!("api"));
        m
    });
    assert!(matches!(
        write(&provided, &t.pool, &bare, "UPDATE s SET v = 2").await,
        Err(Error::StrictMode(_))
    ));
    // per-record extra does
    let per_record =
        ChangeContext::new().record_extra("s", json!({"id": 1}), json!({"approved_by": "bob"}));
    write(&provided, &t.pool, &per_record, "UPDATE s SET v = 3")
        .await
        .unwrap();
    // so does a raw rationale
    let mut conn = t.plain_connection().await;
    sqlx::raw_sql(
        "BEGIN; SELECT set_config('chrononaut.extra', '{\"rationale\": \"raw\"}', true); \
         DELETE FROM s; COMMIT;",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let h = t.history("s").await;
    assert_eq!(
        h.iter()
            .map(|r| (
                r["version"].clone(),
                r["operation"].clone(),
                r["extra_info"].clone()
            ))
            .collect::<Vec<_>>(),
        vec![
            (
                json!(0),
                json!("insert"),
                json!({"rationale": "initial load"})
            ),
            (
                json!(1),
                json!("update"),
                json!({"service": "api", "approved_by": "bob"})
            ),
            (json!(2), json!("delete"), json!({"rationale": "raw"})),
        ]
    );
}

#[tokio::test]
async fn strict_default_applies_to_tables_without_their_own_setting() {
    let t = common::setup().await;
    t.exec(
        "CREATE TABLE d1 (id int PRIMARY KEY); CREATE TABLE d2 (id int PRIMARY KEY); \
         CREATE TABLE d3 (id int PRIMARY KEY);",
    )
    .await;
    t.track("d1", &TrackOptions::new()).await;
    t.track("d2", &TrackOptions::new().strict(false)).await;
    let mut conn = t.pool.acquire().await.unwrap();
    t.ch.set_strict_default(&mut conn, true).await.unwrap();
    drop(conn);
    // tracked after the default changed
    let d3 = t.track("d3", &TrackOptions::new()).await;
    assert!(d3.strict_effective);
    for table in ["d1", "d3"] {
        let e = common::ch_err(
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO {table} VALUES (1)"
            )))
            .execute(&t.pool)
            .await,
        );
        assert!(matches!(e, Error::StrictMode(_)), "{table}: {e:?}");
    }
    t.exec("INSERT INTO d2 VALUES (1)").await;
    let mut conn = t.pool.acquire().await.unwrap();
    let status = t.ch.status(&mut conn).await.unwrap();
    let eff: Vec<(String, bool)> = status
        .iter()
        .map(|s| (s.table.clone(), s.strict_effective))
        .collect();
    assert_eq!(
        eff,
        vec![
            ("public.d1".to_owned(), true),
            ("public.d2".to_owned(), false),
            ("public.d3".to_owned(), true)
        ]
    );
    t.ch.set_strict_default(&mut conn, false).await.unwrap();
    drop(conn);
    t.exec("INSERT INTO d1 VALUES (1); INSERT INTO d3 VALUES (1);")
        .await;
    assert_eq!(t.activity_count().await, 3);
}

#[tokio::test]
async fn per_record_extra_applies_to_that_record_in_that_transaction_only() {
    let t = common::setup().await;
    t.exec("CREATE SCHEMA inv; CREATE TABLE items (id int PRIMARY KEY, v int); CREATE TABLE inv.items (id int PRIMARY KEY, v int);")
        .await;
    t.track("items", &TrackOptions::new()).await;
    t.track("inv.items", &TrackOptions::new()).await;
    t.exec("INSERT INTO items VALUES (1, 0), (2, 0); INSERT INTO inv.items VALUES (1, 0);")
        .await;
    let ctx = ChangeContext::new()
        .user("u")
        .extra("batch", 9)
        .record_extra("items", json!({"id": 1}), json!({"k": "v"}))
        .record_extra("inv.items", json!({"id": 1}), json!({"other": true}));
    let mut tx = t.ch.begin(&t.pool, &ctx).await.unwrap();
    sqlx::query("UPDATE items SET v = 1")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("UPDATE inv.items SET v = 1")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    // next transaction: the same record again, no per-record extra
    let mut tx =
        t.ch.begin(&t.pool, &ChangeContext::new().user("u"))
            .await
            .unwrap();
    sqlx::query("UPDATE items SET v = 2 WHERE id = 1")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let extras = t
        .json(
            "SELECT jsonb_agg(jsonb_build_array(table_name, key, version, extra_info) \
             ORDER BY table_name, key->>'id', version) FROM chrononaut_activity WHERE version > 0",
        )
        .await;
    assert_eq!(
        extras,
        json!([
            ["inv.items", {"id": 1}, 1, {"batch": 9, "other": true}],
            ["items", {"id": 1}, 1, {"batch": 9, "k": "v"}],
            ["items", {"id": 1}, 2, {}],
            ["items", {"id": 2}, 1, {"batch": 9}],
        ])
    );
}

#[tokio::test]
async fn per_record_extra_from_a_raw_client() {
    let t = common::setup().await;
    t.exec("CREATE TABLE items (id int PRIMARY KEY, v int); INSERT INTO items VALUES (1, 0);")
        .await;
    t.track("items", &TrackOptions::new()).await;
    let mut conn = t.plain_connection().await;
    sqlx::raw_sql(
        "BEGIN; SELECT set_config('chrononaut.record_extra', \
         '[{\"table\": \"items\", \"key\": {\"id\": 1}, \"extra\": {\"why\": \"raw\"}}]', true); \
         UPDATE items SET v = 1; COMMIT;",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    assert_eq!(
        t.json("SELECT extra_info FROM chrononaut_activity").await,
        json!({"why": "raw"})
    );
}

#[tokio::test]
async fn malformed_context_is_refused_and_nothing_is_written() {
    let t = common::setup().await;
    t.exec("CREATE TABLE mc (id int PRIMARY KEY, v int); INSERT INTO mc VALUES (1, 0);")
        .await;
    t.track("mc", &TrackOptions::new()).await;
    for (setting, value) in [
        ("chrononaut.extra", "[1]"),
        ("chrononaut.extra", "not json"),
        ("chrononaut.extra", "{\"unterminated\": "),
        ("chrononaut.extra", "\"text\""),
        ("chrononaut.extra_auto", "42"),
        ("chrononaut.record_extra", "{\"a\": 1}"),
        ("chrononaut.record_extra", "nope"),
        ("chrononaut.record_extra", "[1]"),
    ] {
        let mut conn = t.plain_connection().await;
        let mut tx = conn.begin().await.unwrap();
        sqlx::query("SELECT set_config($1, $2, true)")
            .bind(setting)
            .bind(value)
            .execute(&mut *tx)
            .await
            .unwrap();
        let e = common::ch_err(
            sqlx::query("UPDATE mc SET v = v + 1")
                .execute(&mut *tx)
                .await,
        );
        match &e {
            Error::InvalidContext(msg) => assert!(
                msg.contains(setting) && msg.contains("malformed chrononaut context"),
                "{setting}: {msg}"
            ),
            other => panic!("{setting} = {value}: expected InvalidContext, got {other:?}"),
        }
    }
    assert_eq!(t.activity_count().await, 0);
    assert_eq!(
        t.json("SELECT to_jsonb(mc) FROM mc").await,
        json!({"id": 1, "v": 0, "version": null})
    );
    // the library refuses malformed context before it reaches the database
    let bad = ChangeContext::new().record_extra("mc", json!(1), json!({}));
    let mut tx = t.pool.begin().await.unwrap();
    assert!(matches!(
        t.ch.apply(&mut tx, &bad).await,
        Err(Error::InvalidContext(_))
    ));
    assert!(matches!(
        ChangeContext::new().extra_json(json!([1])),
        Err(Error::InvalidContext(_))
    ));
}

#[tokio::test]
async fn record_changes_mode_fills_change_info_and_changed() {
    let t = common::setup().await;
    t.exec("CREATE TABLE rc (id int PRIMARY KEY, v text, h text)")
        .await;
    t.track(
        "rc",
        &TrackOptions::new().record_changes(true).hidden(["h"]),
    )
    .await;
    assert_eq!(
        t.columns("rc").await,
        vec!["id", "v", "h", "version", "change_info", "changed"]
    );
    let ctx = ChangeContext::new()
        .user("alice")
        .remote_addr("1.2.3.4")
        .rationale("r");
    write(&t.ch, &t.pool, &ctx, "INSERT INTO rc VALUES (1, 'a', 'x')")
        .await
        .unwrap();
    // change_info carries the login role like user_info does
    assert_eq!(
        t.json("SELECT to_jsonb(change_info ->> 'db_user' = session_user) FROM rc")
            .await,
        json!(true)
    );
    let row = t.json("SELECT jsonb_build_object('change_info', change_info - 'db_user', 'changed_matches', changed = (SELECT changed FROM chrononaut_activity WHERE version = 0)) FROM rc").await;
    assert_eq!(
        row,
        json!({"change_info": {"user_id": "alice", "remote_addr": "1.2.3.4", "extra": {"rationale": "r"}},
               "changed_matches": true})
    );
    // no extra: no "extra" key
    write(
        &t.ch,
        &t.pool,
        &ChangeContext::new().user("bob"),
        "UPDATE rc SET v = 'b'",
    )
    .await
    .unwrap();
    let row = t.json("SELECT jsonb_build_object('change_info', change_info - 'db_user', 'changed_matches', changed = (SELECT changed FROM chrononaut_activity WHERE version = 1)) FROM rc").await;
    assert_eq!(
        row,
        json!({"change_info": {"user_id": "bob", "remote_addr": null}, "changed_matches": true})
    );
    let h = t.history("rc").await;
    assert_eq!(
        h,
        vec![
            json!({"version": 0, "key": {"id": 1}, "operation": "insert",
                   "data": {"id": 1, "v": "a", "version": 0},
                   "user_info": {"user_id": "alice", "remote_addr": "1.2.3.4"},
                   "extra_info": {"rationale": "r", "hidden_cols_changed": ["h"]}}),
            json!({"version": 1, "key": {"id": 1}, "operation": "update",
                   "data": {"id": 1, "v": "b", "version": 1},
                   "user_info": {"user_id": "bob", "remote_addr": null}, "extra_info": {}}),
        ]
    );
    // the same context in the row and in its latest history version
    assert_eq!(
        t.json(
            "SELECT jsonb_build_array(r.change_info - 'extra' = a.user_info, \
             COALESCE(r.change_info -> 'extra', '{}') = a.extra_info - 'hidden_cols_changed') \
             FROM rc r JOIN chrononaut_activity a ON a.version = r.version"
        )
        .await,
        json!([true, true])
    );
}

#[tokio::test]
async fn record_changes_row_matches_history_after_a_re_insert() {
    let t = common::setup().await;
    t.exec("CREATE TABLE rr (id int PRIMARY KEY, v text)").await;
    t.track("rr", &TrackOptions::new().record_changes(true))
        .await;
    t.exec("INSERT INTO rr (id, v) VALUES (1, 'a'); DELETE FROM rr;")
        .await;
    let ctx = ChangeContext::new().user("carol");
    write(
        &t.ch,
        &t.pool,
        &ctx,
        "INSERT INTO rr (id, v) VALUES (1, 'b')",
    )
    .await
    .unwrap();
    assert_eq!(
        t.json(
            "SELECT jsonb_build_object('version', r.version, 'change_info', r.change_info - 'db_user', \
             'same_time', r.changed = a.changed, 'history_user', a.user_info - 'db_user') \
             FROM rr r JOIN chrononaut_activity a ON a.version = r.version AND a.operation = 'insert'"
        )
        .await,
        json!({"version": 2, "change_info": {"user_id": "carol", "remote_addr": null},
               "same_time": true, "history_user": {"user_id": "carol", "remote_addr": null}})
    );
}

/// `Chrononaut::begin` sends BEGIN and the whole context (per-record extra included) in one
/// round trip, counted by a proxy in front of the server; the values arrive intact, however
/// they are quoted, and a value PostgreSQL text cannot hold is refused before anything is sent.
#[tokio::test]
async fn begin_sends_the_context_with_begin() {
    let t = common::setup().await;
    t.exec("CREATE TABLE rt (id int PRIMARY KEY, v int)").await;
    t.track("rt", &TrackOptions::new()).await;
    let proxy = chrononaut_testdb::proxy::Proxy::start_for(&t.db.url)
        .await
        .unwrap();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with(proxy.options(&t.db.url).unwrap())
        .await
        .unwrap();
    // warm the connection (its first statements prepare and read type information)
    sqlx::query("SELECT 1").execute(&pool).await.unwrap();
    let user = r"o'brien \ $x$ {{user_id}} é";
    let ctx = ChangeContext::new()
        .user(user)
        .remote_addr("::1")
        .rationale("it's \\ fine")
        .record_extra("rt", json!({"id": 1}), json!({"note": "a'b"}));
    // a plain BEGIN, for comparison (acquiring from the pool pings the connection first)
    proxy.reset();
    pool.begin().await.unwrap().rollback().await.unwrap();
    let plain = proxy.turns() - 1;
    proxy.reset();
    let mut tx = t.ch.begin(&pool, &ctx).await.unwrap();
    assert_eq!(
        proxy.turns(),
        plain,
        "BEGIN with the context takes as many round trips as a plain BEGIN"
    );
    sqlx::query("INSERT INTO rt VALUES (1, 1)")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let row = t
        .json(
            "SELECT jsonb_build_object('user', user_info->>'user_id', 'addr', user_info->>'remote_addr', \
             'extra', extra_info) FROM chrononaut_activity WHERE table_name = 'rt'",
        )
        .await;
    assert_eq!(
        row,
        json!({"user": user, "addr": "::1", "extra": {"rationale": "it's \\ fine", "note": "a'b"}})
    );
    // refused before anything is sent: no round trip, no transaction left open
    proxy.reset();
    for bad in [
        ChangeContext::new().user("nul\0byte"),
        ChangeContext::new().extra("k", "nul\0byte"),
        ChangeContext::new().user("u".repeat(chrononaut::LIMIT_USER_ID + 1)),
    ] {
        let err = t.ch.begin(&pool, &bad).await.unwrap_err();
        assert!(
            matches!(err, chrononaut::Error::InvalidContext(_)),
            "{err:?}"
        );
    }
    assert_eq!(proxy.turns(), 0, "a refused context sends nothing");
    let open: bool =
        sqlx::query_scalar("SELECT pg_catalog.pg_current_xact_id_if_assigned() IS NULL")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(
        open,
        "the pooled connection is usable and outside a transaction"
    );
}
