//! Append-only history, the two escapes (suppress versioning, delete history) and privileges.

mod common;

use chrononaut::{ChangeContext, Error, TrackOptions};
use serde_json::json;
use sqlx::PgPool;

async fn run(pool: &PgPool, ctx: Option<&ChangeContext>, sql: &str) -> chrononaut::Result<u64> {
    let ch = chrononaut::Chrononaut::new();
    let mut tx = pool.begin().await?;
    if let Some(ctx) = ctx {
        ch.apply(&mut tx, ctx).await?;
    }
    let done = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(done.rows_affected())
}

#[tokio::test]
async fn history_is_append_only_even_for_the_superuser() {
    let t = common::setup().await;
    t.exec("CREATE TABLE a (id int PRIMARY KEY, v int)").await;
    t.track("a", &TrackOptions::new()).await;
    t.exec("INSERT INTO a VALUES (1, 0); UPDATE a SET v = 1;")
        .await;
    let before = t.activity_dump().await;
    assert_eq!(before.len(), 2);
    let su: bool = sqlx::query_scalar("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        .fetch_one(&t.pool)
        .await
        .unwrap();
    assert!(su, "the test connection is expected to be a superuser");
    for sql in [
        "UPDATE chrononaut_activity SET data = '{}'",
        "UPDATE chrononaut_activity SET version = 9 WHERE false",
        "DELETE FROM chrononaut_activity",
        "DELETE FROM chrononaut_activity WHERE false",
        "TRUNCATE chrononaut_activity",
    ] {
        let e = run(&t.pool, None, sql).await;
        assert!(matches!(e, Err(Error::AppendOnly(_))), "{sql}: {e:?}");
    }
    // the escape allows deleting, never updating
    let del = ChangeContext::new().allow_deleting_history();
    let e = run(
        &t.pool,
        Some(&del),
        "UPDATE chrononaut_activity SET data = '{}'",
    )
    .await;
    assert!(matches!(e, Err(Error::AppendOnly(_))), "{e:?}");
    assert_eq!(t.activity_dump().await, before);
    // the escape is transaction-local: set in one transaction, gone in the next
    let mut conn = t.plain_connection().await;
    sqlx::raw_sql(
        "BEGIN; SELECT set_config('chrononaut.allow_delete_history', 'on', true); COMMIT;",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let e = common::ch_err(
        sqlx::query("DELETE FROM chrononaut_activity")
            .execute(&mut conn)
            .await,
    );
    assert!(matches!(e, Error::AppendOnly(_)), "{e:?}");
    assert_eq!(t.activity_dump().await, before);
}

#[tokio::test]
async fn escapes_work_for_chrononaut_admin_members_only() {
    let t = common::setup().await;
    t.exec("CREATE TABLE e (id int PRIMARY KEY, v int); INSERT INTO e VALUES (1, 0);")
        .await;
    t.track("e", &TrackOptions::new()).await;
    let admin = t.create_role("adm", "IN ROLE chrononaut_admin").await;
    let app = t.create_role("app", "").await;
    for role in [&admin, &app] {
        t.exec(&format!(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON e TO {0}; GRANT SELECT ON chrononaut_activity TO {0};",
            common::quote_ident(role)
        ))
        .await;
    }
    let admin_pool = t.pool_as(&admin).await;
    let app_pool = t.pool_as(&app).await;
    let suppress = ChangeContext::new().suppress_versioning();
    let delete = ChangeContext::new().allow_deleting_history();

    // a non-member: both escapes refused, nothing happens
    for sql in [
        "UPDATE e SET v = 5",
        "INSERT INTO e VALUES (2, 0)",
        "DELETE FROM e",
    ] {
        let r = run(&app_pool, Some(&suppress), sql).await;
        assert!(matches!(r, Err(Error::PermissionDenied(_))), "{sql}: {r:?}");
    }
    // by hand, too
    let r = run(
        &app_pool,
        None,
        "SELECT set_config('chrononaut.suppress', 'on', true); UPDATE e SET v = 5;",
    )
    .await;
    assert!(matches!(r, Err(Error::PermissionDenied(_))), "{r:?}");
    let r = run(&app_pool, Some(&delete), "DELETE FROM chrononaut_activity").await;
    assert!(matches!(r, Err(Error::PermissionDenied(_))), "{r:?}");
    assert_eq!(
        t.json("SELECT jsonb_agg(to_jsonb(e)) FROM e").await,
        json!([{"id": 1, "v": 0, "version": null}])
    );
    assert_eq!(t.activity_count().await, 0);

    // a normal write by the non-member is recorded
    run(&app_pool, None, "UPDATE e SET v = 1").await.unwrap();
    assert_eq!(t.activity_count().await, 1);

    // a member: suppressed writes leave no history and bump no version
    run(
        &admin_pool,
        Some(&suppress),
        "UPDATE e SET v = 2; INSERT INTO e VALUES (3, 0); UPDATE e SET v = 3 WHERE id = 3;",
    )
    .await
    .unwrap();
    assert_eq!(
        t.json("SELECT jsonb_agg(to_jsonb(e) ORDER BY id) FROM e")
            .await,
        json!([{"id": 1, "v": 2, "version": 1}, {"id": 3, "v": 3, "version": 0}])
    );
    assert_eq!(t.activity_count().await, 1);
    // a member without the escape cannot delete history either
    let r = run(&admin_pool, None, "DELETE FROM chrononaut_activity").await;
    assert!(matches!(r, Err(Error::AppendOnly(_))), "{r:?}");
    // with it, can
    let n = run(
        &admin_pool,
        Some(&delete),
        "DELETE FROM chrononaut_activity WHERE table_name = 'e'",
    )
    .await
    .unwrap();
    assert_eq!(n, 1);
    assert_eq!(t.activity_count().await, 0);
    // TRUNCATE too
    run(&admin_pool, None, "UPDATE e SET v = 10").await.unwrap();
    run(&admin_pool, Some(&delete), "TRUNCATE chrononaut_activity")
        .await
        .unwrap();
    assert_eq!(t.activity_count().await, 0);

    admin_pool.close().await;
    app_pool.close().await;
    t.drop_roles().await;
}

#[tokio::test]
async fn application_role_writes_are_recorded_but_it_cannot_write_history() {
    let t = common::setup().await;
    t.exec("CREATE TABLE orders (id int PRIMARY KEY, total int, note text)")
        .await;
    t.track("orders", &TrackOptions::new().hidden(["note"]))
        .await;
    let app = t.create_role("app", "").await;
    let q = common::quote_ident(&app);
    t.exec(&format!(
        "GRANT SELECT, INSERT, UPDATE, DELETE ON orders TO {q}; \
         GRANT SELECT ON chrononaut_activity TO {q}; GRANT CREATE ON SCHEMA public TO {q};"
    ))
    .await;
    let pool = t.pool_as(&app).await;
    let ctx = ChangeContext::new().user("app-user").rationale("sale");
    run(
        &pool,
        Some(&ctx),
        "INSERT INTO orders VALUES (1, 10, 'n'); UPDATE orders SET total = 12; DELETE FROM orders; \
         INSERT INTO orders VALUES (1, 5, NULL);",
    )
    .await
    .unwrap();
    let h = t.history("orders").await;
    let ops: Vec<(i64, String)> = h
        .iter()
        .map(|r| {
            (
                r["version"].as_i64().unwrap_or(-1),
                r["operation"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        ops,
        vec![
            (0, "insert".to_owned()),
            (1, "update".to_owned()),
            (2, "delete".to_owned()),
            (3, "insert".to_owned()),
        ]
    );
    assert_eq!(
        h[1],
        json!({"version": 1, "key": {"id": 1}, "operation": "update",
               "data": {"id": 1, "total": 12, "version": 1},
               "user_info": {"user_id": "app-user", "remote_addr": null},
               "extra_info": {"rationale": "sale"}})
    );
    assert_eq!(
        t.scalar_i64("SELECT version::int8 FROM orders").await,
        3,
        "the re-insert fix-up ran with the capture function's rights"
    );
    // it reads history, but cannot write it directly
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM chrononaut_activity")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 4);
    for sql in [
        "INSERT INTO chrononaut_activity (table_name, changed, version) VALUES ('orders', now(), 99)",
        "UPDATE chrononaut_activity SET version = 99",
        "DELETE FROM chrononaut_activity",
    ] {
        let r = run(&pool, None, sql).await;
        assert!(matches!(r, Err(Error::PermissionDenied(_))), "{sql}: {r:?}");
    }
    // nor through chrononaut's capture functions on a table of its own: a trigger of its own
    // calling a SECURITY DEFINER capture function would forge history as their owner
    let capture_fn: String = sqlx::query_scalar(
        "SELECT format('%I.%I', n.nspname, p.proname) FROM pg_proc p \
         JOIN pg_namespace n ON n.oid = p.pronamespace \
         WHERE n.nspname = 'chrononaut' AND p.proname LIKE 'capture\\_%\\_insert' LIMIT 1",
    )
    .fetch_one(&t.pool)
    .await
    .unwrap();
    let r = run(
        &pool,
        None,
        &format!(
            "CREATE TABLE forge (id int PRIMARY KEY, total int, note text, version int); \
             CREATE TRIGGER f AFTER INSERT ON forge REFERENCING NEW TABLE AS chrononaut_new \
             FOR EACH STATEMENT EXECUTE FUNCTION {capture_fn}(); \
             INSERT INTO forge VALUES (1, 1000000, NULL, 0);"
        ),
    )
    .await;
    assert!(matches!(r, Err(Error::PermissionDenied(_))), "{r:?}");
    assert_eq!(t.activity_count().await, 4);
    // an install over functions left executable (by an older version) revokes that too
    t.exec(&format!(
        "GRANT EXECUTE ON FUNCTION {capture_fn}() TO PUBLIC"
    ))
    .await;
    let mut conn = t.pool.acquire().await.unwrap();
    t.ch.install(&mut conn).await.unwrap();
    drop(conn);
    let can: bool = sqlx::query_scalar("SELECT has_function_privilege($1, $2 || '()', 'EXECUTE')")
        .bind(&app)
        .bind(&capture_fn)
        .fetch_one(&t.pool)
        .await
        .unwrap();
    assert!(!can);

    pool.close().await;
    t.drop_roles().await;
}

/// The flag the insert capture sets around its version fix-up cannot be used by a client to
/// hide a change: a real change is recorded even with the flag set by hand.
#[tokio::test]
async fn forged_fixup_flag_hides_no_change() {
    let t = common::setup().await;
    t.exec("CREATE TABLE f (id int PRIMARY KEY, v text)").await;
    t.track("f", &chrononaut::TrackOptions::new()).await;
    t.exec("INSERT INTO f VALUES (1, 'a')").await;
    let oid = t.scalar_i64("SELECT 'f'::regclass::oid::int8").await;
    t.exec(&format!(
        "BEGIN; SELECT set_config('chrononaut.fixup', '{oid}', true); \
         UPDATE f SET v = 'b' WHERE id = 1; COMMIT;"
    ))
    .await;
    let h = t.history("f").await;
    assert_eq!(h.len(), 2, "{h:?}");
    assert_eq!(
        h[1]["data"],
        serde_json::json!({"id": 1, "v": "b", "version": 1})
    );
    t.assert_row_versions("f", "f", "jsonb_build_object('id', t.id)")
        .await;
}
