//! Record locking: optimistic concurrency (`SET version = n`, `expect_version`) and record
//! locks / frozen tables, enforced in PostgreSQL for every client.

mod common;

use chrononaut::{ChangeContext, Error, TrackOptions};
use common::{Ctx, ch_err};
use serde_json::{Value, json};

async fn accounts() -> Ctx {
    let t = common::setup().await;
    t.exec("CREATE TABLE acc (id int PRIMARY KEY, owner text, balance int, secret text)")
        .await;
    t.track("acc", &TrackOptions::new().hidden(["secret"]))
        .await;
    t.exec("INSERT INTO acc VALUES (1, 'ann', 10, 's1'), (2, 'bob', 20, 's2')")
        .await;
    t
}

async fn row_version(t: &Ctx, id: i32) -> Option<i32> {
    sqlx::query_scalar("SELECT version FROM acc WHERE id = $1")
        .bind(id)
        .fetch_one(&t.pool)
        .await
        .expect("version")
}

// ---------------------------------------------------------------------------------------
// Optimistic concurrency

#[tokio::test]
async fn set_version_to_the_current_one_proceeds_and_bumps() {
    let t = accounts().await;
    t.exec("UPDATE acc SET balance = 11 WHERE id = 1").await; // v1
    t.exec("UPDATE acc SET balance = 12, version = 1 WHERE id = 1")
        .await; // expects 1: proceeds, becomes 2
    assert_eq!(row_version(&t, 1).await, Some(2));
    let versions: Vec<i32> = sqlx::query_scalar(
        "SELECT version FROM chrononaut_activity WHERE key = '{\"id\": 1}' AND operation = 'update' ORDER BY id",
    )
    .fetch_all(&t.pool)
    .await
    .expect("versions");
    assert_eq!(versions, [1, 2]);
    t.assert_row_versions("acc", "acc", "jsonb_build_object('id', t.id)")
        .await;
}

#[tokio::test]
async fn a_stale_version_fails_typed_and_changes_nothing() {
    let t = accounts().await;
    t.exec("UPDATE acc SET balance = 11 WHERE id = 1").await; // v1
    t.exec("UPDATE acc SET balance = 12 WHERE id = 1").await; // v2
    let before = t.activity_dump().await;
    let err = ch_err(
        sqlx::query("UPDATE acc SET balance = 99, version = 1 WHERE id = 1")
            .execute(&t.pool)
            .await,
    );
    match &err {
        Error::StaleVersion(m) => {
            assert!(m.contains("is at version 2"), "{m}");
            assert!(m.contains("expected version 1"), "{m}");
            assert!(m.contains("{\"id\": 1}"), "{m}");
        }
        other => panic!("expected StaleVersion, got {other:?}"),
    }
    assert_eq!(t.activity_dump().await, before);
    let balance: i32 = sqlx::query_scalar("SELECT balance FROM acc WHERE id = 1")
        .fetch_one(&t.pool)
        .await
        .expect("balance");
    assert_eq!(balance, 12);
    assert_eq!(row_version(&t, 1).await, Some(2));
    // a bulk update where one row is stale fails as a whole
    let err = ch_err(
        sqlx::query("UPDATE acc SET balance = 0, version = 2")
            .execute(&t.pool)
            .await,
    );
    assert!(matches!(err, Error::StaleVersion(_)), "{err:?}");
    assert_eq!(t.activity_dump().await, before);
}

#[tokio::test]
async fn a_never_versioned_row_matches_null_and_writers_without_the_check_are_unaffected() {
    let t = common::setup().await;
    t.exec(
        "CREATE TABLE old (id int PRIMARY KEY, v text); INSERT INTO old VALUES (1, 'a'), (2, 'b');",
    )
    .await;
    let mut conn = t.pool.acquire().await.expect("connection");
    t.ch.track(&mut conn, "old", &TrackOptions::new())
        .await
        .expect("track"); // no baseline: versions stay NULL
    t.exec("UPDATE old SET v = 'a2', version = NULL WHERE id = 1")
        .await;
    let err = ch_err(
        sqlx::query("UPDATE old SET v = 'b2', version = 0 WHERE id = 2")
            .execute(&t.pool)
            .await,
    );
    assert!(matches!(err, Error::StaleVersion(_)), "{err:?}");
    t.exec("UPDATE old SET v = 'b3' WHERE id = 2").await;
    let versions: Vec<Option<i32>> = sqlx::query_scalar("SELECT version FROM old ORDER BY id")
        .fetch_all(&t.pool)
        .await
        .expect("versions");
    assert_eq!(versions, [Some(1), Some(1)]);
}

#[tokio::test]
async fn reinsert_fixup_still_sets_the_version() {
    let t = accounts().await;
    t.exec("UPDATE acc SET balance = 11 WHERE id = 1").await; // v1
    t.exec("DELETE FROM acc WHERE id = 1").await; // v2
    t.exec("INSERT INTO acc (id, owner, balance) VALUES (1, 'ann', 5)")
        .await; // v3, fixed up
    assert_eq!(row_version(&t, 1).await, Some(3));
    t.assert_row_versions("acc", "acc", "jsonb_build_object('id', t.id)")
        .await;
}

#[tokio::test]
async fn two_writers_with_the_version_check_exactly_one_wins() {
    let t = accounts().await;
    // both read version 0 of record 1, then write with the check
    let mut a = t.pool.begin().await.expect("a");
    sqlx::query("UPDATE acc SET balance = 100, version = 0 WHERE id = 1")
        .execute(&mut *a)
        .await
        .expect("a writes");
    let pool = t.pool.clone();
    let b = tokio::spawn(async move {
        sqlx::query("UPDATE acc SET balance = 200, version = 0 WHERE id = 1")
            .execute(&pool)
            .await
            .map_err(Error::from)
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!b.is_finished(), "b must wait for a's row lock");
    a.commit().await.expect("a commits");
    let b = b.await.expect("join");
    assert!(matches!(b, Err(Error::StaleVersion(_))), "{b:?}");
    let balance: i32 = sqlx::query_scalar("SELECT balance FROM acc WHERE id = 1")
        .fetch_one(&t.pool)
        .await
        .expect("balance");
    assert_eq!(balance, 100);
    assert_eq!(row_version(&t, 1).await, Some(1));
}

#[tokio::test]
async fn expect_version_checks_and_locks_the_row_until_commit() {
    let t = accounts().await;
    let mut a = t.pool.begin().await.expect("a");
    t.ch.expect_version(&mut a, "acc", json!({"id": 1}), Some(0))
        .await
        .expect("a sees version 0");
    let ch = t.ch.clone();
    let pool = t.pool.clone();
    let b = tokio::spawn(async move {
        let mut b = pool.begin().await.map_err(Error::from)?;
        ch.expect_version(&mut b, "acc", json!({"id": "1"}), Some(0))
            .await?;
        sqlx::query("UPDATE acc SET balance = 200 WHERE id = 1")
            .execute(&mut *b)
            .await?;
        b.commit().await?;
        Ok::<(), Error>(())
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!b.is_finished(), "b must wait for a's row lock");
    sqlx::query("UPDATE acc SET balance = 100 WHERE id = 1")
        .execute(&mut *a)
        .await
        .expect("a writes");
    a.commit().await.expect("a commits");
    let b = b.await.expect("join");
    assert!(matches!(b, Err(Error::StaleVersion(_))), "{b:?}");
    assert_eq!(row_version(&t, 1).await, Some(1));

    let mut conn = t.pool.acquire().await.expect("connection");
    let err =
        t.ch.expect_version(&mut conn, "acc", json!({"id": 9}), Some(0))
            .await
            .expect_err("no record 9");
    assert!(matches!(err, Error::RecordNotFound { .. }), "{err:?}");
    let err =
        t.ch.expect_version(&mut conn, "acc", json!({"nope": 1}), Some(0))
            .await
            .expect_err("bad key");
    assert!(matches!(err, Error::InvalidKey { .. }), "{err:?}");
}

// ---------------------------------------------------------------------------------------
// Record locks

async fn lock_history(t: &Ctx) -> Vec<Value> {
    sqlx::query_scalar(
        "SELECT jsonb_build_object('op', operation, 'key', key, 'version', version, 'data', data, \
         'user_info', user_info, 'extra_info', extra_info) FROM chrononaut.lock_events ORDER BY id",
    )
    .fetch_all(&t.pool)
    .await
    .expect("lock history")
}

#[tokio::test]
async fn a_locked_record_refuses_update_and_delete_from_another_client() {
    let t = accounts().await;
    t.exec("UPDATE acc SET balance = 11 WHERE id = 1").await; // v1
    let app = t.create_role("app", "").await;
    t.exec(&format!(
        "GRANT SELECT, INSERT, UPDATE, DELETE ON acc TO {0}; GRANT SELECT ON chrononaut_activity TO {0}",
        common::quote_ident(&app)
    ))
    .await;
    let mut tx =
        t.ch.begin(
            &t.pool,
            &ChangeContext::new().user("alice").remote_addr("192.0.2.1"),
        )
        .await
        .expect("begin");
    let lock =
        t.ch.lock(&mut tx, "acc", json!({"id": "1"}), "audit 2024")
            .await
            .expect("lock");
    tx.commit().await.expect("commit");
    assert_eq!(lock.key, Some(json!({"id": 1})));
    assert_eq!(lock.locked_by, "postgres");
    assert_eq!(lock.user_id.as_deref(), Some("alice"));
    assert_eq!(lock.reason, "audit 2024");
    assert_eq!(lock.table, "public.acc");

    let other = t.pool_as(&app).await;
    for statement in [
        "UPDATE acc SET balance = 0 WHERE id = 1",
        "DELETE FROM acc WHERE id = 1",
        "UPDATE acc SET id = 7 WHERE id = 1",
        "UPDATE acc SET balance = balance + 1", // bulk, touches the locked record too
    ] {
        let err = ch_err(sqlx::query(statement).execute(&other).await);
        match &err {
            Error::RecordLocked(m) => {
                assert!(m.contains("locked by postgres (user alice)"), "{m}");
                assert!(m.contains("audit 2024"), "{m}");
                assert!(m.contains("UTC"), "{m}");
            }
            e => panic!("{statement}: expected RecordLocked, got {e:?}"),
        }
    }
    // the superuser is refused too; other records are not locked
    let err = ch_err(
        sqlx::query("DELETE FROM acc WHERE id = 1")
            .execute(&t.pool)
            .await,
    );
    assert!(matches!(err, Error::RecordLocked(_)), "{err:?}");
    sqlx::query("UPDATE acc SET balance = 21 WHERE id = 2")
        .execute(&other)
        .await
        .expect("record 2 is not locked");
    assert_eq!(
        row_version(&t, 1).await,
        Some(1),
        "locking does not change the version"
    );

    // the lock is seen by every client
    let mut conn = other.acquire().await.expect("connection");
    let locks = t.ch.locks(&mut conn, Some("acc")).await.expect("locks");
    assert_eq!(locks, std::slice::from_ref(&lock));
    let mut conn = t.pool.acquire().await.expect("connection");
    t.ch.unlock(&mut conn, "acc", json!({"id": 1}))
        .await
        .expect("unlock");
    sqlx::query("UPDATE acc SET balance = 0 WHERE id = 1")
        .execute(&other)
        .await
        .expect("unlocked");
    assert_eq!(row_version(&t, 1).await, Some(2));
    assert!(t.ch.locks(&mut conn, None).await.expect("locks").is_empty());

    let history = lock_history(&t).await;
    assert_eq!(
        history,
        [
            json!({"op": "lock", "key": {"id": 1}, "version": 1, "data": {},
                   "user_info": {"user_id": "alice", "remote_addr": "192.0.2.1", "db_user": "postgres"},
                   "extra_info": {"reason": "audit 2024"}}),
            json!({"op": "unlock", "key": {"id": 1}, "version": 1, "data": {},
                   "user_info": {"user_id": null, "remote_addr": null, "db_user": "postgres"},
                   "extra_info": {"reason": "audit 2024"}}),
        ]
    );
    t.assert_row_versions("acc", "acc", "jsonb_build_object('id', t.id)")
        .await;
}

#[tokio::test]
async fn lock_triggers_exist_only_while_the_table_has_locks() {
    let t = accounts().await;
    let base = t.triggers("acc").await;
    assert!(!base.iter().any(|n| n.contains("lock")), "{base:?}");
    let mut conn = t.pool.acquire().await.expect("connection");
    t.ch.lock(&mut conn, "acc", json!({"id": 1}), "a")
        .await
        .expect("lock 1");
    t.ch.lock(&mut conn, "acc", json!({"id": 2}), "b")
        .await
        .expect("lock 2");
    let locked = t.triggers("acc").await;
    assert!(
        locked.contains(&"chrononaut_lock_check".to_owned()),
        "{locked:?}"
    );
    assert!(
        locked.contains(&"chrononaut_lock_statement".to_owned()),
        "{locked:?}"
    );
    // re-tracking keeps them
    t.track("acc", &TrackOptions::new().hidden(["secret"]))
        .await;
    assert_eq!(t.triggers("acc").await, locked);
    let err = ch_err(
        sqlx::query("UPDATE acc SET balance = 0 WHERE id = 2")
            .execute(&t.pool)
            .await,
    );
    assert!(matches!(err, Error::RecordLocked(_)), "{err:?}");
    t.ch.unlock(&mut conn, "acc", json!({"id": 1}))
        .await
        .expect("unlock 1");
    assert_eq!(t.triggers("acc").await, locked, "one lock left");
    // untracking would drop the checks: refused while locks exist
    let err = t.ch.untrack(&mut conn, "acc").await.expect_err("locked");
    assert!(matches!(err, Error::LockRefused(_)), "{err:?}");
    t.ch.unlock(&mut conn, "acc", json!({"id": 2}))
        .await
        .expect("unlock 2");
    assert_eq!(t.triggers("acc").await, base);
    t.ch.untrack(&mut conn, "acc").await.expect("untrack");
    assert!(t.triggers("acc").await.is_empty());
}

#[tokio::test]
async fn lock_refusals_are_clear() {
    let t = accounts().await;
    t.exec("CREATE TABLE plain (id int PRIMARY KEY)").await;
    let mut conn = t.pool.acquire().await.expect("connection");
    let refused = |r: chrononaut::Result<chrononaut::RecordLock>, want: &str| match r {
        Err(Error::LockRefused(m)) => assert!(m.contains(want), "{m} should contain {want}"),
        other => panic!("expected LockRefused({want}), got {other:?}"),
    };
    refused(
        t.ch.lock(&mut conn, "acc", json!({"id": 9}), "x").await,
        "has no record",
    );
    refused(
        t.ch.lock(&mut conn, "plain", json!({"id": 1}), "x").await,
        "is not tracked",
    );
    refused(
        t.ch.lock(&mut conn, "acc", json!({"id": 1}), "  ").await,
        "needs a reason",
    );
    refused(
        t.ch.unlock(&mut conn, "acc", json!({"id": 1})).await,
        "is not locked",
    );
    // a table tracked by a chrononaut without locks: track it again
    let oid = t.scalar_i64("SELECT 'acc'::regclass::oid::int8").await;
    t.exec(&format!(
        "DROP FUNCTION chrononaut.\"capture_{oid}_key\"(acc)"
    ))
    .await;
    refused(
        t.ch.lock(&mut conn, "acc", json!({"id": 1}), "x").await,
        "track it again",
    );
    t.track("acc", &TrackOptions::new().hidden(["secret"]))
        .await;
    t.ch.lock(&mut conn, "acc", json!({"id": 1}), "first")
        .await
        .expect("lock");
    refused(
        t.ch.lock(&mut conn, "acc", json!({"id": 1}), "second")
            .await,
        "already locked by postgres",
    );
    let err =
        t.ch.lock(&mut conn, "acc", json!({"idx": 1}), "x")
            .await
            .expect_err("bad key");
    assert!(matches!(err, Error::InvalidKey { .. }), "{err:?}");
    // the SQL form checks keys itself
    let err = ch_err(
        sqlx::query("SELECT * FROM chrononaut.lock('acc', '{\"idx\": 2}', 'x')")
            .execute(&t.pool)
            .await,
    );
    assert!(matches!(err, Error::LockRefused(_)), "{err:?}");
    assert_eq!(lock_history(&t).await.len(), 1);
}

#[tokio::test]
async fn only_the_locker_or_an_admin_unlocks() {
    let t = accounts().await;
    let alice = t.create_role("alice", "").await;
    let bob = t.create_role("bob", "").await;
    let admin = t.create_role("admin", "IN ROLE chrononaut_admin").await;
    t.exec(&format!(
        "GRANT SELECT, UPDATE ON acc TO {0}, {1}; GRANT SELECT ON acc TO {2}",
        common::quote_ident(&alice),
        common::quote_ident(&bob),
        common::quote_ident(&admin)
    ))
    .await;
    let alice_pool = t.pool_as(&alice).await;
    let bob_pool = t.pool_as(&bob).await;
    let admin_pool = t.pool_as(&admin).await;
    let mut a = alice_pool.acquire().await.expect("alice");
    let mut b = bob_pool.acquire().await.expect("bob");
    let mut ad = admin_pool.acquire().await.expect("admin");
    let lock =
        t.ch.lock(&mut a, "acc", json!({"id": 1}), "mine")
            .await
            .expect("alice locks");
    assert_eq!(lock.locked_by, alice);
    // bob cannot unlock alice's lock, through the library or the SQL function
    let err =
        t.ch.unlock(&mut b, "acc", json!({"id": 1}))
            .await
            .expect_err("bob");
    match &err {
        Error::PermissionDenied(m) => assert!(m.contains(&alice), "{m}"),
        e => panic!("expected PermissionDenied, got {e:?}"),
    }
    let err = ch_err(
        sqlx::query("SELECT * FROM chrononaut.unlock('acc', '{\"id\": 1}')")
            .execute(&mut *b)
            .await,
    );
    assert!(matches!(err, Error::PermissionDenied(_)), "{err:?}");
    // nor write the lock table
    let err = ch_err(
        sqlx::query("DELETE FROM chrononaut.locks")
            .execute(&mut *b)
            .await,
    );
    assert!(matches!(err, Error::PermissionDenied(_)), "{err:?}");
    // the admin (no UPDATE on acc) cannot lock, but may unlock
    let err =
        t.ch.lock(&mut ad, "acc", json!({"id": 2}), "x")
            .await
            .expect_err("no UPDATE");
    assert!(matches!(err, Error::PermissionDenied(_)), "{err:?}");
    t.ch.unlock(&mut ad, "acc", json!({"id": 1}))
        .await
        .expect("admin unlocks");
    // alice unlocks her own
    t.ch.lock(&mut a, "acc", json!({"id": 1}), "again")
        .await
        .expect("lock");
    t.ch.unlock(&mut a, "acc", json!({"id": 1}))
        .await
        .expect("alice unlocks");
    let users: Vec<String> = sqlx::query_scalar(
        "SELECT operation || ':' || (user_info ->> 'db_user') FROM chrononaut.lock_events ORDER BY id",
    )
    .fetch_all(&t.pool)
    .await
    .expect("users");
    assert_eq!(
        users,
        [
            format!("lock:{alice}"),
            format!("unlock:{admin}"),
            format!("lock:{alice}"),
            format!("unlock:{alice}")
        ]
    );
}

#[tokio::test]
async fn a_frozen_table_refuses_every_write() {
    let t = accounts().await;
    let mut conn = t.pool.acquire().await.expect("connection");
    let lock =
        t.ch.freeze(&mut conn, "acc", "year-end close")
            .await
            .expect("freeze");
    assert_eq!(lock.key, None);
    for statement in [
        "INSERT INTO acc (id) VALUES (5)",
        "UPDATE acc SET balance = 0",
        "DELETE FROM acc WHERE id = 2",
        "TRUNCATE acc",
    ] {
        let err = ch_err(sqlx::query(statement).execute(&t.pool).await);
        match &err {
            Error::RecordLocked(m) => assert!(m.contains("year-end close"), "{m}"),
            e => panic!("{statement}: expected RecordLocked, got {e:?}"),
        }
    }
    let err =
        t.ch.freeze(&mut conn, "acc", "again")
            .await
            .expect_err("twice");
    assert!(matches!(err, Error::LockRefused(_)), "{err:?}");
    assert_eq!(t.ch.locks(&mut conn, None).await.expect("locks"), [lock]);
    t.ch.unfreeze(&mut conn, "acc").await.expect("unfreeze");
    t.exec("UPDATE acc SET balance = 0").await;
    let history = lock_history(&t).await;
    assert_eq!(history.len(), 2);
    assert_eq!(history[0]["key"], json!({}));
    assert_eq!(history[0]["op"], json!("lock"));
    assert_eq!(history[1]["op"], json!("unlock"));
    // record locks refuse TRUNCATE too, but not INSERT (no statement check on it)
    t.ch.lock(&mut conn, "acc", json!({"id": 1}), "keep")
        .await
        .expect("lock");
    let err = ch_err(sqlx::query("TRUNCATE acc").execute(&t.pool).await);
    assert!(matches!(err, Error::RecordLocked(_)), "{err:?}");
    t.exec("INSERT INTO acc (id) VALUES (6)").await;
    // freezing on top of a record lock, then unfreezing, leaves the record lock in force
    t.ch.freeze(&mut conn, "acc", "close")
        .await
        .expect("freeze");
    let err = ch_err(
        sqlx::query("INSERT INTO acc (id) VALUES (7)")
            .execute(&t.pool)
            .await,
    );
    assert!(matches!(err, Error::RecordLocked(_)), "{err:?}");
    t.ch.unfreeze(&mut conn, "acc").await.expect("unfreeze");
    t.exec("INSERT INTO acc (id) VALUES (7)").await;
    let err = ch_err(
        sqlx::query("DELETE FROM acc WHERE id = 1")
            .execute(&t.pool)
            .await,
    );
    assert!(matches!(err, Error::RecordLocked(_)), "{err:?}");
    let insert_checked: bool = sqlx::query_scalar(
        "SELECT tgtype & 4 <> 0 FROM pg_trigger WHERE tgrelid = 'acc'::regclass AND tgname = 'chrononaut_lock_statement'",
    )
    .fetch_one(&t.pool)
    .await
    .expect("tgtype");
    assert!(!insert_checked);
}

#[tokio::test]
async fn history_reads_skip_lock_and_unlock_rows() {
    use chrononaut::{Operation, VersionFilter};
    let t = accounts().await;
    t.exec("UPDATE acc SET balance = 11 WHERE id = 1").await; // v1
    let before_locks = chrono::Utc::now();
    let mut conn = t.pool.acquire().await.expect("connection");
    t.ch.lock(&mut conn, "acc", json!({"id": 1}), "audit")
        .await
        .expect("lock");
    t.ch.freeze(&mut conn, "acc", "close")
        .await
        .expect("freeze");
    t.ch.unfreeze(&mut conn, "acc").await.expect("unfreeze");
    t.ch.unlock(&mut conn, "acc", json!({"id": 1}))
        .await
        .expect("unlock");
    assert_eq!(lock_history(&t).await.len(), 4);

    let record =
        t.ch.record(&mut conn, "acc", json!({"id": 1}))
            .await
            .expect("record");
    let versions = record
        .versions(&mut conn, &VersionFilter::new())
        .await
        .expect("versions");
    let numbers: Vec<(i32, Option<Operation>)> = versions
        .iter()
        .map(|v| (v.version(), v.meta().operation))
        .collect();
    assert_eq!(
        numbers,
        [(0, Some(Operation::Insert)), (1, Some(Operation::Update))]
    );
    let latest = record
        .version_at(&mut conn, chrono::Utc::now())
        .await
        .expect("version_at")
        .expect("some");
    assert_eq!(latest.meta().operation, Some(Operation::Update));
    let v1 = record.version(&mut conn, 1).await.expect("v1");
    assert_eq!(v1.meta().operation, Some(Operation::Update));
    let previous = record
        .previous_version(&mut conn)
        .await
        .expect("previous")
        .expect("some");
    assert_eq!(previous.version(), 0);
    assert!(
        !record
            .has_changed_since(&mut conn, before_locks)
            .await
            .expect("changed since")
    );
    let log =
        t.ch.table_log(&mut conn, "acc", 100, None)
            .await
            .expect("log");
    assert_eq!(log.len(), 3, "2 inserts + 1 update");
    // whole-table time travel: no record with the freeze's key {}, record 1 as of now
    let rows: Vec<Value> = sqlx::query_scalar(
        "SELECT to_jsonb(r) - 'secret' FROM chrononaut.as_of(NULL::acc, now()) r ORDER BY id",
    )
    .fetch_all(&t.pool)
    .await
    .expect("as_of");
    assert_eq!(
        rows,
        [
            json!({"id": 1, "owner": "ann", "balance": 11, "version": 1}),
            json!({"id": 2, "owner": "bob", "balance": 20, "version": 0})
        ]
    );
}
