//! What an application role cannot do: forge or change history, its hash chain or locks,
//! switch the lock checks off, unlock someone else's lock, or hijack chrononaut's functions
//! through its search_path. Every attempt is made as the application role.

mod common;

use chrononaut::{Error, TrackOptions};
use common::{Ctx, quote_ident};
use serde_json::json;
use sqlx::PgPool;

/// A tracked table `acc`, an application role with the usual rights on it (and a schema of its
/// own it may create objects in), and a pool connected as that role.
async fn app_setup() -> (Ctx, String, PgPool) {
    let t = common::setup().await;
    t.exec("CREATE TABLE acc (id int PRIMARY KEY, owner text, balance int)")
        .await;
    t.track("acc", &TrackOptions::new()).await;
    t.exec("INSERT INTO acc VALUES (1, 'ann', 10), (2, 'bob', 20)")
        .await;
    let app = t.create_role("app", "").await;
    let q = quote_ident(&app);
    t.exec(&format!(
        "GRANT SELECT, INSERT, UPDATE, DELETE ON acc TO {q}; \
         GRANT SELECT ON chrononaut_activity TO {q}; \
         CREATE SCHEMA evil AUTHORIZATION {q};"
    ))
    .await;
    let pool = t.pool_as(&app).await;
    (t, app, pool)
}

async fn as_app(pool: &PgPool, sql: &str) -> chrononaut::Result<()> {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(pool)
        .await
        .map(|_| ())
        .map_err(Error::from)
}

fn denied(r: chrononaut::Result<()>, what: &str) {
    // chrononaut's refusal, or PostgreSQL's on the application's own table (ALTER TABLE of a
    // table the role does not own)
    let by_postgres = matches!(&r, Err(Error::Database(e))
        if e.as_database_error().and_then(|d| d.code()).as_deref() == Some("42501"));
    assert!(
        matches!(r, Err(Error::PermissionDenied(_))) || by_postgres,
        "{what}: expected a permission error, got {r:?}"
    );
}

#[tokio::test]
async fn no_forged_or_changed_history_chain_or_locks() {
    let (t, _app, pool) = app_setup().await;
    let mut conn = t.pool.acquire().await.expect("connection");
    t.ch.lock(&mut conn, "acc", json!({"id": 1}), "audit")
        .await
        .expect("lock");
    let before = t.activity_dump().await;
    let oid = t.scalar_i64("SELECT 'acc'::regclass::oid::int8").await;
    for (sql, what) in [
        (
            "INSERT INTO chrononaut_activity (table_name, changed, version, key, data, operation, prev_hash, hash) \
             SELECT table_name, now(), version + 1, key, data, 'update', hash, \
                    chrononaut.chain_hash(hash, table_name, key, version + 1, now(), data, user_info, extra_info, 'update') \
             FROM chrononaut_activity ORDER BY id DESC LIMIT 1"
                .to_owned(),
            "a forged, properly chained history row",
        ),
        (
            "UPDATE chrononaut_activity SET hash = NULL".to_owned(),
            "removing hashes",
        ),
        ("DELETE FROM chrononaut_activity".to_owned(), "deleting history"),
        ("TRUNCATE chrononaut_activity".to_owned(), "truncating history"),
        (
            "ALTER TABLE chrononaut_activity DISABLE TRIGGER chrononaut_append_only".to_owned(),
            "switching the append-only guard off",
        ),
        ("DELETE FROM chrononaut.locks".to_owned(), "deleting locks"),
        (
            "INSERT INTO chrononaut.locks (relid, key, table_name, locked_by, reason) \
             VALUES ('acc', '{\"id\": 2}', 'acc', 'someone', 'x')"
                .to_owned(),
            "writing a lock directly",
        ),
        (
            "UPDATE chrononaut.locks SET locked_by = current_user".to_owned(),
            "taking over a lock",
        ),
        (
            "INSERT INTO chrononaut.lock_events (table_name, key, changed, operation, user_info, extra_info) \
             VALUES ('acc', '{\"id\": 2}', now(), 'unlock', '{}', '{}')"
                .to_owned(),
            "writing a lock event directly",
        ),
        (
            "DELETE FROM chrononaut.lock_events".to_owned(),
            "deleting lock events",
        ),
        (
            "DELETE FROM chrononaut.tracked".to_owned(),
            "untracking behind chrononaut's back",
        ),
        (
            "ALTER TABLE acc DISABLE TRIGGER chrononaut_lock_check".to_owned(),
            "switching the lock check off",
        ),
        (
            format!("SELECT chrononaut.\"capture_{oid}_lock_triggers\"(false, false)"),
            "dropping the lock triggers through chrononaut's own switch",
        ),
        (
            format!("SELECT chrononaut.sync_lock_triggers('acc', '{oid}')"),
            "calling the trigger sync",
        ),
        (
            "SELECT chrononaut.record_lock_event('acc', '{\"id\": 2}', 0, 'unlock', 'x')".to_owned(),
            "writing a lock event",
        ),
        (
            format!("SELECT * FROM chrononaut.lock_target('acc', '{{\"id\": 2}}', '{oid}')"),
            "locking a row through the internal look-up",
        ),
    ] {
        denied(as_app(&pool, &sql).await, what);
    }
    assert_eq!(t.activity_dump().await, before, "nothing changed");
    assert_eq!(
        t.scalar_i64("SELECT count(*) FROM chrononaut.lock_events")
            .await,
        1,
        "the lock's event only"
    );
    // the lock still holds for the application
    let err = as_app(&pool, "UPDATE acc SET balance = 0 WHERE id = 1").await;
    assert!(matches!(err, Err(Error::RecordLocked(_))), "{err:?}");
    let report = t.ch.verify(&mut conn, None).await.expect("verify");
    assert!(report.is_ok(), "{:?}", report.issues);
}

#[tokio::test]
async fn no_unlocking_of_another_users_lock() {
    let (t, app, pool) = app_setup().await;
    let mut conn = t.pool.acquire().await.expect("connection");
    t.ch.lock(&mut conn, "acc", json!({"id": 1}), "owner's lock")
        .await
        .expect("lock");
    let mut app_conn = pool.acquire().await.expect("connection");
    let err =
        t.ch.unlock(&mut app_conn, "acc", json!({"id": 1}))
            .await
            .expect_err("not the locker");
    match &err {
        Error::PermissionDenied(m) => {
            assert!(m.contains("was locked by postgres"), "{m}")
        }
        e => panic!("expected PermissionDenied, got {e:?}"),
    }
    // a lock of its own it can take and release; its name is recorded, not a claimed one
    t.exec("SELECT set_config('chrononaut.user_id', 'mallory', false)")
        .await;
    let lock =
        t.ch.lock(&mut app_conn, "acc", json!({"id": 2}), "mine")
            .await
            .expect("app locks");
    assert_eq!(lock.locked_by, app);
    t.ch.unlock(&mut app_conn, "acc", json!({"id": 2}))
        .await
        .expect("app unlocks its own");
    assert_eq!(
        t.ch.locks(&mut conn, None).await.expect("locks").len(),
        1,
        "the owner's lock is still there"
    );
}

#[tokio::test]
async fn a_search_path_of_its_own_hijacks_nothing() {
    let (t, app, pool) = app_setup().await;
    let mut conn = t.pool.acquire().await.expect("connection");
    t.ch.lock(&mut conn, "acc", json!({"id": 1}), "audit")
        .await
        .expect("lock");
    // look-alikes of what chrononaut's functions call, first on the application's search_path:
    // a jsonb `=` that never matches (would let a locked record through), a sha256 that
    // returns a constant (would let forged rows verify), a clock and a jsonb builder that lie
    as_app(
        &pool,
        "CREATE FUNCTION evil.never(jsonb, jsonb) RETURNS boolean LANGUAGE sql AS 'SELECT false';
         CREATE OPERATOR evil.= (LEFTARG = jsonb, RIGHTARG = jsonb, FUNCTION = evil.never);
         CREATE FUNCTION evil.sha256(bytea) RETURNS bytea LANGUAGE sql AS $$SELECT '\\x00'::bytea$$;
         CREATE FUNCTION evil.clock_timestamp() RETURNS timestamptz LANGUAGE sql AS $$SELECT '2000-01-01'::timestamptz$$;
         CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE sql AS $$SELECT '2000-01-01'::timestamptz$$;
         CREATE FUNCTION evil.to_jsonb(anyelement) RETURNS jsonb LANGUAGE sql AS $$SELECT '{}'::jsonb$$;
         CREATE FUNCTION evil.has_table_privilege(name, regclass, text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
         ALTER ROLE CURRENT_USER SET search_path = evil, pg_catalog, public;",
    )
    .await
    .expect("look-alikes");
    pool.close().await;
    let pool = t.pool_as(&app).await;
    let path: String = sqlx::query_scalar("SHOW search_path")
        .fetch_one(&pool)
        .await
        .expect("path");
    assert_eq!(path, "evil, pg_catalog, public");

    // the locked record stays locked
    let err = as_app(&pool, "UPDATE acc SET balance = 0 WHERE id = 1").await;
    assert!(matches!(err, Err(Error::RecordLocked(_))), "{err:?}");
    let err = as_app(&pool, "DELETE FROM acc WHERE id = 1").await;
    assert!(matches!(err, Err(Error::RecordLocked(_))), "{err:?}");
    // writes are recorded exactly, with real times and real hashes
    as_app(
        &pool,
        "UPDATE acc SET balance = 21 WHERE id = 2; INSERT INTO acc VALUES (3, 'cy', 1)",
    )
    .await
    .expect("writes");
    let rows = t
        .json(
            "SELECT jsonb_agg(jsonb_build_object('key', key, 'version', version, 'data', data, \
             'recent', changed > now() - interval '1 hour', 'hash', hash <> '\\x00'::bytea) ORDER BY id) \
             FROM chrononaut_activity WHERE table_name = 'acc' AND operation IN ('update', 'insert') \
             AND key <> '{\"id\": 1}' AND (version > 0 OR key = '{\"id\": 3}')",
        )
        .await;
    assert_eq!(
        rows,
        json!([
            {"key": {"id": 2}, "version": 1, "data": {"id": 2, "owner": "bob", "balance": 21, "version": 1}, "recent": true, "hash": true},
            {"key": {"id": 3}, "version": 0, "data": {"id": 3, "owner": "cy", "balance": 1, "version": 0}, "recent": true, "hash": true}
        ])
    );
    // locking through the SECURITY DEFINER function checks the real privilege and records
    // the real time; the application's chain check (inlined chain_hash) uses the real sha256
    let mut app_conn = pool.acquire().await.expect("connection");
    t.ch.lock(&mut app_conn, "acc", json!({"id": 2}), "hijack?")
        .await
        .expect("lock as app");
    let recent: bool = sqlx::query_scalar(
        "SELECT bool_and(locked_at > now() - interval '1 hour') FROM chrononaut.locks",
    )
    .fetch_one(&t.pool)
    .await
    .expect("locks");
    assert!(recent);
    let forged: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM chrononaut_activity WHERE hash IS NOT NULL AND hash <> \
         chrononaut.chain_hash(prev_hash, table_name, key, version, changed, data, user_info, extra_info, operation)",
    )
    .fetch_one(&pool)
    .await
    .expect("chain check as app");
    assert_eq!(forged, 0);
    let report =
        t.ch.verify(&mut app_conn, None)
            .await
            .expect("verify as app");
    assert!(report.is_ok(), "{:?}", report.issues);
    // ... and an edit made behind its back is still found from the hijacked session
    t.exec(
        "ALTER TABLE chrononaut_activity DISABLE TRIGGER chrononaut_append_only; \
         UPDATE chrononaut_activity SET data = data || '{\"balance\": 0}' WHERE key = '{\"id\": 3}'; \
         ALTER TABLE chrononaut_activity ENABLE TRIGGER chrononaut_append_only;",
    )
    .await;
    let report =
        t.ch.verify(&mut app_conn, None)
            .await
            .expect("verify as app");
    assert_eq!(report.issues.len(), 1, "{:?}", report.issues);
    drop(app_conn);
    pool.close().await;
}

/// The application role cannot make lock/unlock wait: the advisory key they used to take
/// (`pg_advisory_xact_lock(1667787883, oid)`, takeable by anyone) is no longer taken, and the
/// row lock that replaced it cannot be held by the application.
#[tokio::test]
async fn no_role_can_hold_lock_and_unlock_up() {
    let (t, _app, pool) = app_setup().await;
    let oid = t.scalar_i64("SELECT 'acc'::regclass::oid::int8").await;
    let mut holder = pool.acquire().await.expect("connection");
    sqlx::query("SELECT pg_advisory_lock(1667787883, $1::int8::int4)")
        .bind(oid)
        .execute(&mut *holder)
        .await
        .expect("the old key can be taken by anyone");
    // the lock that serialises lock/unlock now: only chrononaut's owner can hold it
    for (sql, what) in [
        ("SELECT * FROM chrononaut.tracked FOR UPDATE", "FOR UPDATE"),
        (
            "SELECT * FROM chrononaut.tracked FOR KEY SHARE",
            "FOR KEY SHARE",
        ),
        (
            "LOCK TABLE chrononaut.tracked IN EXCLUSIVE MODE",
            "an exclusive table lock",
        ),
        (
            "LOCK TABLE chrononaut.locks IN EXCLUSIVE MODE",
            "an exclusive lock on the locks",
        ),
    ] {
        let mut c = pool.acquire().await.expect("connection");
        let r = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("BEGIN; {sql}")))
            .execute(&mut *c)
            .await
            .map(|_| ())
            .map_err(Error::from);
        sqlx::query("ROLLBACK")
            .execute(&mut *c)
            .await
            .expect("rollback");
        denied(r, what);
    }
    let mut conn = t.pool.acquire().await.expect("connection");
    sqlx::query("SET lock_timeout = '20s'")
        .execute(&mut *conn)
        .await
        .expect("timeout");
    let done = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        t.ch.lock(&mut conn, "acc", json!({"id": 1}), "audit")
            .await?;
        t.ch.freeze(&mut conn, "acc", "close").await?;
        t.ch.unfreeze(&mut conn, "acc").await?;
        t.ch.unlock(&mut conn, "acc", json!({"id": 1})).await
    })
    .await;
    assert!(
        matches!(done, Ok(Ok(_))),
        "lock/unlock must complete while the application holds the old key: {done:?}"
    );
    // the application's own lock and unlock complete too
    let mut app_conn = pool.acquire().await.expect("connection");
    let done = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        t.ch.lock(&mut app_conn, "acc", json!({"id": 2}), "mine")
            .await?;
        t.ch.unlock(&mut app_conn, "acc", json!({"id": 2})).await
    })
    .await;
    assert!(matches!(done, Ok(Ok(_))), "{done:?}");
    drop(holder);
}

/// A lock reason is at most 1024 bytes (`LIMIT_LOCK_REASON`; it is repeated in every refused
/// write): a longer one, 50 MB included, is refused with CN004 before anything is written, from
/// the library and from SQL, with a message that does not repeat it.
#[tokio::test]
async fn a_lock_reason_is_bounded() {
    let (t, _app, pool) = app_setup().await;
    assert_eq!(chrononaut::LIMIT_LOCK_REASON, 1024);
    let mut app_conn = pool.acquire().await.expect("connection");
    let before = t.activity_dump().await;
    for reason in [
        "x".repeat(50 * 1024 * 1024),
        "x".repeat(1025),
        "é".repeat(513),
    ] {
        let err =
            t.ch.lock(&mut app_conn, "acc", json!({"id": 1}), &reason)
                .await
                .expect_err("too long");
        match &err {
            Error::InvalidContext(m) => {
                assert!(m.contains("1024 bytes"), "{m}");
                assert!(m.len() < 200, "the refusal does not repeat the reason: {m}");
            }
            e => panic!("expected InvalidContext, got {e:?}"),
        }
        let err = t.ch.freeze(&mut app_conn, "acc", &reason).await;
        assert!(matches!(err, Err(Error::InvalidContext(_))), "{err:?}");
        // the SQL form refuses it too, with CN004
        let err = sqlx::query("SELECT * FROM chrononaut.lock('acc', '{\"id\": 1}', $1)")
            .bind(&reason)
            .execute(&pool)
            .await
            .expect_err("too long");
        assert!(common::is_sqlstate(&err, "CN004"), "{err:?}");
        let err = Error::from(err);
        match &err {
            Error::InvalidContext(m) => assert!(m.len() < 200, "{m}"),
            e => panic!("expected InvalidContext, got {e:?}"),
        }
    }
    assert_eq!(t.activity_dump().await, before, "nothing recorded");
    assert_eq!(
        t.scalar_i64("SELECT count(*) FROM chrononaut.lock_events")
            .await,
        0
    );
    let mut conn = t.pool.acquire().await.expect("connection");
    assert!(t.ch.locks(&mut conn, None).await.expect("locks").is_empty());
    // exactly 1024 bytes is fine (512 two-byte characters)
    let lock =
        t.ch.lock(&mut app_conn, "acc", json!({"id": 1}), &"é".repeat(512))
            .await
            .expect("1024 bytes");
    assert_eq!(lock.reason.len(), 1024);
}

/// The application role cannot hold chrononaut's DDL up: install, track, untrack and the
/// strict default used to take an advisory lock (key 0x6368726f6e6f), which any role can take
/// and keep. They now lock chrononaut.meta in a mode that only its owner can take; the
/// application, holding the old keys and every table lock it may take on chrononaut's
/// tables (ACCESS SHARE), cannot make them, or lock and unlock, wait.
#[tokio::test]
async fn no_role_can_hold_ddl_up() {
    use sqlx::Connection;
    let (t, app, pool) = app_setup().await;
    t.exec("CREATE TABLE acc2 (id int PRIMARY KEY, v int)")
        .await;
    let oid = t.scalar_i64("SELECT 'acc'::regclass::oid::int8").await;
    let ours = [
        "chrononaut.meta",
        "chrononaut.tracked",
        "chrononaut.locks",
        "chrononaut.lock_events",
        "chrononaut.fixups",
        "chrononaut_activity",
    ];
    // no mode but ACCESS SHARE on any of chrononaut's tables
    for table in ours {
        for mode in [
            "ROW SHARE",
            "ROW EXCLUSIVE",
            "SHARE UPDATE EXCLUSIVE",
            "SHARE",
            "SHARE ROW EXCLUSIVE",
            "EXCLUSIVE",
            "ACCESS EXCLUSIVE",
        ] {
            let mut c = pool.acquire().await.expect("connection");
            let r = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "BEGIN; LOCK TABLE {table} IN {mode} MODE"
            )))
            .execute(&mut *c)
            .await
            .map(|_| ())
            .map_err(Error::from);
            sqlx::query("ROLLBACK")
                .execute(&mut *c)
                .await
                .expect("rollback");
            denied(r, &format!("LOCK TABLE {table} IN {mode} MODE"));
        }
    }
    let mut holder = sqlx::PgConnection::connect_with(&t.options_as(&app))
        .await
        .expect("connect as app");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "SELECT pg_advisory_lock(x'6368726f6e6f'::int8), \
                pg_advisory_lock(1667787883, {oid}::int8::int4); \
         BEGIN; LOCK TABLE chrononaut.meta IN ACCESS SHARE MODE"
    )))
    .execute(&mut holder)
    .await
    .expect("the old keys and ACCESS SHARE on meta");
    let mut conn = t.pool.acquire().await.expect("connection");
    sqlx::query("SET lock_timeout = '5s'")
        .execute(&mut *conn)
        .await
        .expect("timeout");
    let ch = &t.ch;
    let ddl = async {
        ch.install(&mut conn).await?;
        ch.track(&mut conn, "acc2", &TrackOptions::new()).await?;
        ch.track(&mut conn, "acc", &TrackOptions::new().hidden(["owner"]))
            .await?;
        ch.set_strict_default(&mut conn, false).await?;
        ch.lock(&mut conn, "acc", json!({"id": 1}), "audit").await?;
        ch.unlock(&mut conn, "acc", json!({"id": 1})).await?;
        ch.untrack(&mut conn, "acc2").await
    };
    let done = tokio::time::timeout(std::time::Duration::from_secs(30), ddl).await;
    assert!(
        matches!(done, Ok(Ok(()))),
        "install, track, untrack, lock, unlock must complete while the application holds the old keys: {done:?}"
    );
    // ACCESS SHARE on every table of ours: everything but install (whose idempotent ALTER
    // TABLEs wait for readers, as any DDL does) still completes
    sqlx::raw_sql(sqlx::AssertSqlSafe(
        ours.iter()
            .map(|table| format!("LOCK TABLE {table} IN ACCESS SHARE MODE;"))
            .collect::<String>(),
    ))
    .execute(&mut holder)
    .await
    .expect("ACCESS SHARE on chrononaut's tables");
    let ddl = async {
        ch.track(&mut conn, "acc2", &TrackOptions::new()).await?;
        ch.track(&mut conn, "acc", &TrackOptions::new()).await?;
        ch.set_strict_default(&mut conn, false).await?;
        ch.lock(&mut conn, "acc", json!({"id": 2}), "audit").await?;
        ch.freeze(&mut conn, "acc", "close").await?;
        ch.unfreeze(&mut conn, "acc").await?;
        ch.unlock(&mut conn, "acc", json!({"id": 2})).await?;
        ch.untrack(&mut conn, "acc2").await
    };
    let done = tokio::time::timeout(std::time::Duration::from_secs(30), ddl).await;
    assert!(matches!(done, Ok(Ok(()))), "{done:?}");
    sqlx::query("ROLLBACK")
        .execute(&mut holder)
        .await
        .expect("rollback");
    drop(holder);
}
