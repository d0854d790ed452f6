//! Lock and unlock events live in `chrononaut.lock_events`, not in the activity table: a Python
//! reader sees versions only; the events are hash-chained and verified; lock rows that earlier
//! releases wrote into the activity table are moved there by `install` without breaking
//! `verify` or an earlier digest.

mod common;

use chrononaut::{IssueKind, LockOperation, TrackOptions, VersionFilter};
use common::Ctx;
use serde_json::{Value, json};

async fn accounts() -> Ctx {
    let t = common::setup().await;
    t.exec("CREATE TABLE acc (id int PRIMARY KEY, owner text, balance int)")
        .await;
    t.track("acc", &TrackOptions::new()).await;
    t.exec(
        "INSERT INTO acc VALUES (1, 'ann', 10), (2, 'bob', 20), (3, 'cy', 30); \
         UPDATE acc SET balance = 11 WHERE id = 1;",
    )
    .await;
    t
}

/// What the Python library's `versions()` runs.
async fn python_versions(t: &Ctx, key: &str) -> Vec<Value> {
    sqlx::query_scalar(
        "SELECT jsonb_build_object('version', version, 'data', data) FROM chrononaut_activity \
         WHERE table_name = $1 AND key = $2::jsonb ORDER BY changed",
    )
    .bind("acc")
    .bind(key)
    .fetch_all(&t.pool)
    .await
    .expect("python-shaped read")
}

#[tokio::test]
async fn python_readers_see_versions_only() {
    let t = accounts().await;
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
    t.exec("UPDATE acc SET balance = 12 WHERE id = 1").await;

    assert_eq!(
        python_versions(&t, r#"{"id": 1}"#).await,
        [
            json!({"version": 0, "data": {"id": 1, "owner": "ann", "balance": 10, "version": 0}}),
            json!({"version": 1, "data": {"id": 1, "owner": "ann", "balance": 11, "version": 1}}),
            json!({"version": 2, "data": {"id": 1, "owner": "ann", "balance": 12, "version": 2}}),
        ]
    );
    assert!(python_versions(&t, "{}").await.is_empty(), "no freeze rows");
    assert_eq!(
        t.scalar_i64(
            "SELECT count(*) FROM chrononaut_activity WHERE operation IS DISTINCT FROM 'insert' \
             AND operation IS DISTINCT FROM 'update'"
        )
        .await,
        0,
        "only versions in the activity table"
    );

    // the events, from the library: the record's, and the table's with the freeze
    let record =
        t.ch.record(&mut conn, "acc", json!({"id": 1}))
            .await
            .expect("record");
    let events = record.lock_events(&mut conn, 10).await.expect("events");
    type Seen<'a> = (LockOperation, Option<i32>, Option<&'a str>, Option<&'a str>);
    let seen: Vec<Seen> = events
        .iter()
        .map(|e| (e.operation, e.version, e.reason(), e.db_user()))
        .collect();
    assert_eq!(
        seen,
        [
            (
                LockOperation::Unlock,
                Some(1),
                Some("audit"),
                Some("postgres")
            ),
            (
                LockOperation::Lock,
                Some(1),
                Some("audit"),
                Some("postgres")
            ),
        ]
    );
    let all =
        t.ch.lock_events(&mut conn, "acc", 10)
            .await
            .expect("events");
    assert_eq!(all.len(), 4);
    assert_eq!(all[1].key, None, "the unfreeze is the table's");
    assert_eq!(all[1].operation, LockOperation::Unlock);
    assert_eq!(
        t.ch.lock_events(&mut conn, "acc", 1)
            .await
            .expect("events")
            .len(),
        1
    );
    // versions never include them
    let versions: Vec<i32> = record
        .versions(&mut conn, &VersionFilter::new())
        .await
        .expect("versions")
        .iter()
        .map(|v| v.version())
        .collect();
    assert_eq!(versions, [0, 1, 2]);
    let report = t.ch.verify(&mut conn, None).await.expect("verify");
    assert!(report.is_ok(), "{:?}", report.issues);
    assert_eq!(report.tables[0].lock_events, 4);
    assert_eq!(report.tables[0].rows, 5, "versions only");
}

/// Runs `sql` as the superuser with the append-only guards switched off.
async fn tamper(t: &Ctx, sql: &str) {
    t.exec(&format!(
        "ALTER TABLE chrononaut.lock_events DISABLE TRIGGER chrononaut_append_only; \
         ALTER TABLE chrononaut_activity DISABLE TRIGGER chrononaut_append_only; {sql}; \
         ALTER TABLE chrononaut_activity ENABLE TRIGGER chrononaut_append_only; \
         ALTER TABLE chrononaut.lock_events ENABLE TRIGGER chrononaut_append_only;"
    ))
    .await;
}

fn issues(report: &chrononaut::VerifyReport) -> Vec<(IssueKind, bool, Value)> {
    report
        .issues
        .iter()
        .map(|i| (i.kind, i.lock_event, i.key.clone().unwrap_or_default()))
        .collect()
}

#[tokio::test]
async fn lock_events_are_chained_and_verified() {
    let t = accounts().await;
    let mut conn = t.pool.acquire().await.expect("connection");
    for _ in 0..2 {
        t.ch.lock(&mut conn, "acc", json!({"id": 2}), "first")
            .await
            .expect("lock");
        t.ch.unlock(&mut conn, "acc", json!({"id": 2}))
            .await
            .expect("unlock");
    }
    // one chain per record: each event's prev_hash is the event before it
    let links: Vec<bool> = sqlx::query_scalar(
        "SELECT prev_hash IS NOT DISTINCT FROM lag(hash) OVER (ORDER BY changed, id) \
         AND hash = chrononaut.chain_hash(prev_hash, table_name, key, version, changed, data, user_info, extra_info, operation) \
         FROM chrononaut.lock_events ORDER BY changed, id",
    )
    .fetch_all(&t.pool)
    .await
    .expect("links");
    assert_eq!(links, [true; 4]);
    assert!(t.ch.verify(&mut conn, None).await.expect("verify").is_ok());

    // no role may write them: the append-only guard stops even the owner
    let e = t
        .exec_err("UPDATE chrononaut.lock_events SET extra_info = '{\"reason\": \"nothing\"}'")
        .await;
    assert!(
        common::is_sqlstate(&e, chrononaut::SQLSTATE_APPEND_ONLY),
        "{e}"
    );

    tamper(
        &t,
        "UPDATE chrononaut.lock_events SET extra_info = '{\"reason\": \"nothing\"}' \
         WHERE id = (SELECT min(id) FROM chrononaut.lock_events)",
    )
    .await;
    let report = t.ch.verify(&mut conn, None).await.expect("verify");
    assert_eq!(
        issues(&report),
        [(IssueKind::Edited, true, json!({"id": 2}))]
    );
    assert!(
        report.issues[0].message.contains("lock event"),
        "{}",
        report.issues[0].message
    );
    tamper(
        &t,
        "DELETE FROM chrononaut.lock_events WHERE id = (SELECT min(id) + 2 FROM chrononaut.lock_events)",
    )
    .await;
    let report = t.ch.verify(&mut conn, Some("acc")).await.expect("verify");
    assert_eq!(
        issues(&report),
        [
            (IssueKind::Edited, true, json!({"id": 2})),
            (IssueKind::Missing, true, json!({"id": 2}))
        ]
    );
}

/// Writes a lock or unlock row into the activity table the way releases before schema
/// version 2 did (chained after the record's latest row, its latest snapshot in data).
async fn old_lock_row(t: &Ctx, id: i32, op: &str) {
    sqlx::query(
        "INSERT INTO chrononaut_activity (table_name, changed, version, key, data, user_info, extra_info, operation, prev_hash, hash) \
         SELECT 'acc', s.ts, l.version, l.key, l.data, s.info, s.extra, $2, l.hash, \
                chrononaut.chain_hash(l.hash, 'acc', l.key, l.version, s.ts, l.data, s.info, s.extra, $2) \
         FROM (SELECT clock_timestamp() AS ts, \
                      '{\"user_id\": null, \"remote_addr\": null, \"db_user\": \"postgres\"}'::jsonb AS info, \
                      '{\"reason\": \"old\"}'::jsonb AS extra) AS s, \
              LATERAL (SELECT a.version, a.key, a.data, a.hash FROM chrononaut_activity a \
                       WHERE a.table_name = 'acc' AND a.key = jsonb_build_object('id', $1) \
                       ORDER BY a.changed DESC, a.version DESC, a.id DESC LIMIT 1) AS l",
    )
    .bind(id)
    .bind(op)
    .execute(&t.pool)
    .await
    .expect("old lock row");
}

#[tokio::test]
async fn install_moves_old_lock_rows_and_keeps_chains_and_digests() {
    let t = accounts().await;
    // a database as schema version 1 left it: lock rows among the versions, one chained
    // before a later version (record 1), one pair at the end (record 3)
    t.exec(
        "DELETE FROM chrononaut.meta WHERE key = 'lock_events_moved'; \
         UPDATE chrononaut.meta SET value = '1' WHERE key = 'schema_version';",
    )
    .await;
    old_lock_row(&t, 1, "lock").await;
    old_lock_row(&t, 1, "unlock").await;
    t.exec("UPDATE acc SET balance = 12 WHERE id = 1").await; // chained to the unlock row
    old_lock_row(&t, 3, "lock").await;
    old_lock_row(&t, 3, "unlock").await;
    let moved_rows: Value = t
        .json(
            "SELECT jsonb_agg(jsonb_build_array(id, key, version, operation, data, hash) ORDER BY id) \
             FROM chrononaut_activity WHERE operation IN ('lock', 'unlock')",
        )
        .await;
    assert_eq!(moved_rows.as_array().map(Vec::len), Some(4));
    let v2_prev: Vec<u8> = sqlx::query_scalar(
        "SELECT prev_hash FROM chrononaut_activity WHERE key = '{\"id\": 1}' AND version = 2",
    )
    .fetch_one(&t.pool)
    .await
    .expect("prev");
    let mut conn = t.pool.acquire().await.expect("connection");
    assert!(t.ch.verify(&mut conn, None).await.expect("verify").is_ok());
    let digest = t.ch.digest(&mut conn, None).await.expect("digest");

    let report = t.ch.install(&mut conn).await.expect("install");
    assert_eq!(report.previous_version, Some(1));
    assert_eq!(
        t.scalar_i64(
            "SELECT count(*) FROM chrononaut_activity WHERE operation IN ('lock', 'unlock')"
        )
        .await,
        0,
        "moved out"
    );
    assert_eq!(
        t.json(
            "SELECT jsonb_agg(jsonb_build_array(activity_id, key, version, operation, data, hash) ORDER BY id) \
             FROM chrononaut.lock_events",
        )
        .await,
        moved_rows,
        "moved as they were"
    );
    // nothing rewritten: version 2 still links to the moved unlock row
    let still: Vec<u8> = sqlx::query_scalar(
        "SELECT prev_hash FROM chrononaut_activity WHERE key = '{\"id\": 1}' AND version = 2",
    )
    .fetch_one(&t.pool)
    .await
    .expect("prev");
    assert_eq!(still, v2_prev);
    let verified = t.ch.verify(&mut conn, None).await.expect("verify");
    assert!(verified.is_ok(), "{:?}", verified.issues);
    assert_eq!(
        verified.tables[0].rows, 9,
        "5 versions and the 4 moved rows"
    );
    let checked =
        t.ch.verify_digest(&mut conn, &digest)
            .await
            .expect("digest");
    assert!(checked.is_ok(), "{:?}", checked.issues);

    // after the move: a version after the moved rows chains to the version before them, new
    // events go to a chain of their own; all of it verifies
    t.exec("UPDATE acc SET balance = 31 WHERE id = 3").await;
    t.ch.lock(&mut conn, "acc", json!({"id": 3}), "new")
        .await
        .expect("lock");
    let verified = t.ch.verify(&mut conn, None).await.expect("verify");
    assert!(verified.is_ok(), "{:?}", verified.issues);
    assert_eq!(verified.tables[0].lock_events, 1);
    // and a second install moves nothing again
    t.ch.install(&mut conn).await.expect("install again");
    assert_eq!(
        t.scalar_i64("SELECT count(*) FROM chrononaut.lock_events")
            .await,
        5
    );

    // a moved row deleted or edited is found
    tamper(
        &t,
        "DELETE FROM chrononaut.lock_events WHERE activity_id IS NOT NULL AND operation = 'unlock' \
         AND key = '{\"id\": 1}'",
    )
    .await;
    let verified = t.ch.verify(&mut conn, None).await.expect("verify");
    assert_eq!(
        issues(&verified),
        [(IssueKind::Missing, false, json!({"id": 1}))]
    );
    let checked =
        t.ch.verify_digest(&mut conn, &digest)
            .await
            .expect("digest");
    assert!(
        checked
            .issues
            .iter()
            .any(|i| i.kind == IssueKind::DigestMismatch),
        "{:?}",
        checked.issues
    );
    tamper(
        &t,
        "UPDATE chrononaut.lock_events SET extra_info = '{\"reason\": \"other\"}' \
         WHERE activity_id IS NOT NULL AND key = '{\"id\": 3}' AND operation = 'lock'",
    )
    .await;
    let verified = t.ch.verify(&mut conn, None).await.expect("verify");
    assert_eq!(
        issues(&verified),
        [
            (IssueKind::Missing, false, json!({"id": 1})),
            (IssueKind::Edited, true, json!({"id": 3}))
        ]
    );
}
