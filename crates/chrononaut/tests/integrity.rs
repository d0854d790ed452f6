//! Tamper evidence: hash chains written by the capture, `verify`, digests.

mod common;

use chrononaut::{IssueKind, TrackOptions, VerifyReport};
use common::Ctx;
use serde_json::json;

/// Records 1 and 2 with versions 0..=3 (record 2 deleted and re-inserted), a lock/unlock, a
/// bulk update, and a second table.
async fn history() -> Ctx {
    let t = common::setup().await;
    t.exec(
        "CREATE TABLE acc (id int PRIMARY KEY, owner text, balance int, secret text);
         CREATE TABLE other (id int PRIMARY KEY, v text);",
    )
    .await;
    t.track("acc", &TrackOptions::new().hidden(["secret"]))
        .await;
    t.track("other", &TrackOptions::new()).await;
    t.exec(
        "INSERT INTO acc VALUES (1, 'ann', 10, 's'), (2, 'bob', 20, 't');
         UPDATE acc SET balance = 11 WHERE id = 1;
         UPDATE acc SET balance = balance + 1;
         DELETE FROM acc WHERE id = 2;
         INSERT INTO acc VALUES (2, 'bob', 5, 't');
         UPDATE acc SET balance = 13 WHERE id = 1;
         INSERT INTO other SELECT g, 'x' FROM generate_series(1, 20) g;
         UPDATE other SET v = 'y';",
    )
    .await;
    let mut conn = t.pool.acquire().await.expect("connection");
    t.ch.lock(&mut conn, "acc", json!({"id": 1}), "audit")
        .await
        .expect("lock");
    t.ch.unlock(&mut conn, "acc", json!({"id": 1}))
        .await
        .expect("unlock");
    t
}

async fn verify(t: &Ctx, table: Option<&str>) -> VerifyReport {
    let mut conn = t.pool.acquire().await.expect("connection");
    t.ch.verify(&mut conn, table).await.expect("verify")
}

/// Runs `sql` as the superuser with the append-only guard switched off.
async fn tamper(t: &Ctx, sql: &str) {
    t.exec(&format!(
        "ALTER TABLE chrononaut_activity DISABLE TRIGGER chrononaut_append_only; {sql}; \
         ALTER TABLE chrononaut_activity ENABLE TRIGGER chrononaut_append_only;"
    ))
    .await;
}

fn kinds(report: &VerifyReport) -> Vec<(IssueKind, serde_json::Value, Option<i32>)> {
    report
        .issues
        .iter()
        .map(|i| (i.kind, i.key.clone().unwrap_or_default(), i.version))
        .collect()
}

#[tokio::test]
async fn clean_history_verifies_and_every_row_is_chained() {
    let t = history().await;
    let report = verify(&t, None).await;
    assert!(report.is_ok(), "{:?}", report.issues);
    let acc = report
        .tables
        .iter()
        .find(|x| x.table_name == "acc")
        .expect("acc");
    assert_eq!(
        acc.rows,
        t.scalar_i64("SELECT count(*) FROM chrononaut_activity WHERE table_name = 'acc'")
            .await
    );
    assert_eq!(acc.unchained, 0);
    assert_eq!(report.tables.len(), 2);
    // each row's prev_hash is the hash of the record's previous row
    let broken = t
        .scalar_i64(
            "SELECT count(*) FROM (SELECT prev_hash, lag(hash) OVER (PARTITION BY table_name, key \
             ORDER BY changed, version, id) AS p FROM chrononaut_activity) s \
             WHERE prev_hash IS DISTINCT FROM p",
        )
        .await;
    assert_eq!(broken, 0);
    let only = verify(&t, Some("other")).await;
    assert_eq!(only.tables.len(), 1);
    assert_eq!(only.tables[0].rows, 40);
}

#[tokio::test]
async fn an_edited_row_is_reported_at_its_version() {
    let t = history().await;
    tamper(
        &t,
        "UPDATE chrononaut_activity SET data = jsonb_set(data, '{balance}', '1000') \
         WHERE table_name = 'acc' AND key = '{\"id\": 1}' AND version = 1",
    )
    .await;
    let report = verify(&t, Some("acc")).await;
    assert_eq!(
        kinds(&report),
        [(IssueKind::Edited, json!({"id": 1}), Some(1))]
    );
    assert!(
        report.issues[0]
            .message
            .contains("acc {\"id\":1} version 1"),
        "{}",
        report.issues[0].message
    );
    // editing who made a change is caught the same way
    tamper(
        &t,
        "UPDATE chrononaut_activity SET user_info = '{\"user_id\": \"mallory\"}' \
         WHERE table_name = 'acc' AND key = '{\"id\": 2}' AND version = 0",
    )
    .await;
    let report = verify(&t, None).await;
    assert_eq!(
        kinds(&report),
        [
            (IssueKind::Edited, json!({"id": 1}), Some(1)),
            (IssueKind::Edited, json!({"id": 2}), Some(0))
        ]
    );
}

#[tokio::test]
async fn a_deleted_middle_version_is_reported() {
    let t = history().await;
    tamper(
        &t,
        "DELETE FROM chrononaut_activity WHERE table_name = 'acc' AND key = '{\"id\": 1}' AND version = 1",
    )
    .await;
    let report = verify(&t, None).await;
    assert_eq!(
        kinds(&report),
        [(IssueKind::Missing, json!({"id": 1}), Some(2))]
    );
}

#[tokio::test]
async fn inserted_and_reordered_rows_are_reported() {
    let t = history().await;
    // a forged row chained properly to version 1, slipped in before version 2
    tamper(
        &t,
        "INSERT INTO chrononaut_activity (table_name, changed, version, key, data, user_info, extra_info, operation, prev_hash, hash)
         SELECT f.table_name, f.changed, f.version, f.key, f.data, f.user_info, f.extra_info, f.operation, f.prev,
                chrononaut.chain_hash(f.prev, f.table_name, f.key, f.version, f.changed, f.data, f.user_info, f.extra_info, f.operation)
         FROM (SELECT table_name, changed + interval '1 microsecond' AS changed, 1 AS version, key,
                      data || '{\"balance\": 0}' AS data, user_info, extra_info, operation, hash AS prev
               FROM chrononaut_activity
               WHERE table_name = 'acc' AND key = '{\"id\": 1}' AND version = 1) f",
    )
    .await;
    let report = verify(&t, None).await;
    assert_eq!(
        kinds(&report),
        [(IssueKind::OutOfOrder, json!({"id": 1}), Some(2))]
    );

    // a row without hash after chained ones
    tamper(
        &t,
        "INSERT INTO chrononaut_activity (table_name, changed, version, key, data, operation)
         VALUES ('other', now(), 9, '{\"id\": 3}', '{}', 'update')",
    )
    .await;
    let report = verify(&t, Some("other")).await;
    assert_eq!(
        kinds(&report),
        [(IssueKind::HashRemoved, json!({"id": 3}), Some(9))]
    );

    // two versions swapped in time: `changed` is part of what the hash covers, so both rows
    // are reported as edited (a reordering that keeps every row's content shows as out of
    // order, as above)
    tamper(
        &t,
        "UPDATE chrononaut_activity a SET changed = b.changed
         FROM (SELECT id, lead(changed) OVER w AS next, lag(changed) OVER w AS prev, version
               FROM chrononaut_activity WHERE table_name = 'other' AND key = '{\"id\": 5}'
               WINDOW w AS (ORDER BY changed, version, id)) s,
              LATERAL (SELECT CASE WHEN s.version = 0 THEN s.next ELSE s.prev END AS changed) b
         WHERE a.id = s.id",
    )
    .await;
    let report = verify(&t, Some("other")).await;
    let mut found = kinds(&report);
    found.sort_by_key(|(_, key, version)| (key.to_string(), *version));
    assert_eq!(
        found,
        [
            (IssueKind::HashRemoved, json!({"id": 3}), Some(9)),
            (IssueKind::Edited, json!({"id": 5}), Some(0)),
            (IssueKind::Edited, json!({"id": 5}), Some(1))
        ]
    );
}

#[tokio::test]
async fn python_rows_are_unchained_not_tampering() {
    let t = history().await;
    t.exec(
        "INSERT INTO chrononaut_activity (table_name, changed, version, key, data, user_info, extra_info)
         VALUES ('legacy', now() - interval '1 day', 0, '{\"id\": 1}', '{}', '{}', '{}'),
                ('legacy', now(), 1, '{\"id\": 1}', '{}', '{}', '{}')",
    )
    .await;
    // Python history of a record that the triggers continue
    t.exec(
        "INSERT INTO chrononaut_activity (table_name, changed, version, key, data, user_info, extra_info)
         VALUES ('other', now() - interval '1 day', 0, '{\"id\": 100}', '{}', '{}', '{}')",
    )
    .await;
    t.exec("INSERT INTO other VALUES (100, 'z')").await;
    let report = verify(&t, None).await;
    assert!(report.is_ok(), "{:?}", report.issues);
    let legacy = report
        .tables
        .iter()
        .find(|x| x.table_name == "legacy")
        .expect("legacy");
    assert_eq!((legacy.rows, legacy.chained, legacy.unchained), (2, 0, 2));
}

#[tokio::test]
async fn a_digest_catches_a_consistent_rewrite_before_it() {
    let t = history().await;
    let mut conn = t.pool.acquire().await.expect("connection");
    let digest = t.ch.digest(&mut conn, None).await.expect("digest");
    assert_eq!(digest.tables.len(), 2);
    assert_eq!(digest.overall.len(), 64);
    // the file round-trips; new history after the digest is fine
    let text = serde_json::to_string(&digest).expect("json");
    let digest: chrononaut::Digest = serde_json::from_str(&text).expect("parse");
    t.exec("UPDATE acc SET balance = 0; INSERT INTO other VALUES (50, 'n');")
        .await;
    let report =
        t.ch.verify_digest(&mut conn, &digest)
            .await
            .expect("verify");
    assert!(
        report.is_ok() && report.digest_checked,
        "{:?}",
        report.issues
    );

    // rewrite version 1 of record 1 and every later hash of the record consistently: the
    // chains verify, the digest does not
    tamper(
        &t,
        "UPDATE chrononaut_activity SET data = jsonb_set(data, '{balance}', '1000')
         WHERE table_name = 'acc' AND key = '{\"id\": 1}' AND version = 1;
         DO $$
         DECLARE r record; prev bytea;
         BEGIN
           FOR r IN SELECT * FROM chrononaut_activity WHERE table_name = 'acc' AND key = '{\"id\": 1}'
                    ORDER BY changed, version, id LOOP
             UPDATE chrononaut_activity SET prev_hash = prev,
                    hash = chrononaut.chain_hash(prev, r.table_name, r.key, r.version, r.changed, r.data, r.user_info, r.extra_info, r.operation)
             WHERE id = r.id RETURNING hash INTO prev;
           END LOOP;
         END $$",
    )
    .await;
    let chains = t.ch.verify(&mut conn, None).await.expect("verify");
    assert!(
        chains.is_ok(),
        "a consistent rewrite passes the chains: {:?}",
        chains.issues
    );
    let report =
        t.ch.verify_digest(&mut conn, &digest)
            .await
            .expect("verify");
    assert_eq!(
        report
            .issues
            .iter()
            .map(|i| (i.kind, i.table_name.as_str()))
            .collect::<Vec<_>>(),
        [(IssueKind::DigestMismatch, "acc")]
    );

    // deleting the latest rows covered by the digest is caught too
    let mut fresh = t.plain_connection().await;
    let digest =
        t.ch.digest(&mut fresh, Some("other"))
            .await
            .expect("digest");
    assert_eq!(digest.tables.len(), 1);
    tamper(&t, "DELETE FROM chrononaut_activity WHERE id = (SELECT max(id) FROM chrononaut_activity WHERE table_name = 'other')").await;
    let report =
        t.ch.verify_digest(&mut conn, &digest)
            .await
            .expect("verify");
    assert_eq!(
        report
            .issues
            .iter()
            .map(|i| (i.kind, i.table_name.as_str()))
            .collect::<Vec<_>>(),
        [(IssueKind::DigestMismatch, "other")]
    );
    assert!(
        report.issues[0]
            .message
            .contains("when the digest was taken"),
        "{}",
        report.issues[0].message
    );
}

#[tokio::test]
async fn concurrent_writers_keep_each_chain_linear() {
    let t = common::setup().await;
    t.exec("CREATE TABLE c (id int PRIMARY KEY, n int)").await;
    t.track("c", &TrackOptions::new()).await;
    t.exec("INSERT INTO c VALUES (1, 0), (2, 0)").await;
    let mut tasks = Vec::new();
    for w in 0..4 {
        let pool = t.pool.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..25 {
                let id = 1 + (i + w) % 2;
                sqlx::query("UPDATE c SET n = n + 1 WHERE id = $1")
                    .bind(id)
                    .execute(&pool)
                    .await?;
                if i % 10 == 0 {
                    // a bulk statement touching both records, in one transaction with another
                    let mut tx = pool.begin().await?;
                    // rows locked in key order first: two bulk updates cannot deadlock
                    sqlx::query("SELECT id FROM c ORDER BY id FOR UPDATE")
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query("UPDATE c SET n = n + 1")
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query("UPDATE c SET n = n + 1 WHERE id = 2")
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                }
            }
            Ok::<(), sqlx::Error>(())
        }));
    }
    for task in tasks {
        task.await.expect("join").expect("writer");
    }
    let report = verify(&t, Some("c")).await;
    assert!(report.is_ok(), "{:?}", report.issues);
    // one chain per record, no fork: every hash is the prev_hash of at most one row
    let forks = t
        .scalar_i64(
            "SELECT count(*) FROM (SELECT prev_hash FROM chrononaut_activity \
             WHERE prev_hash IS NOT NULL GROUP BY prev_hash HAVING count(*) > 1) s",
        )
        .await;
    assert_eq!(forks, 0);
    assert_eq!(report.tables[0].rows, 2 + 100 + 4 * 3 * 3);
    t.assert_row_versions("c", "c", "jsonb_build_object('id', t.id)")
        .await;
}

#[tokio::test]
async fn a_digest_waits_for_this_databases_writers_only() {
    use sqlx::Connection;
    let t = common::setup().await;
    t.exec("CREATE TABLE w (id int PRIMARY KEY)").await;
    t.track("w", &TrackOptions::new()).await;
    // a long transaction in another database of the server: not waited for
    let url = chrononaut_testdb::server_url().await.expect("server url");
    let mut elsewhere = sqlx::PgConnection::connect(&url).await.expect("connect");
    let mut other_tx = elsewhere.begin().await.expect("begin");
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(&mut *other_tx)
        .await
        .expect("xid");
    // a writer of this database, open, with a history row below the digest's cut-off
    let mut writer = t.pool.begin().await.expect("begin");
    sqlx::query("INSERT INTO w VALUES (1)")
        .execute(&mut *writer)
        .await
        .expect("insert");
    t.exec("INSERT INTO w VALUES (2)").await;
    let ch = t.ch.clone();
    let mut conn = t.pool.acquire().await.expect("connection").detach();
    let digest = tokio::spawn(async move { ch.digest(&mut conn, Some("w")).await });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(
        !digest.is_finished(),
        "the digest waits for the open writer"
    );
    writer.commit().await.expect("commit");
    let digest = tokio::time::timeout(std::time::Duration::from_secs(20), digest)
        .await
        .expect("not held up by the other database's transaction")
        .expect("join")
        .expect("digest");
    assert_eq!(digest.tables[0].rows, 2, "the writer's row is covered");
    other_tx.rollback().await.expect("rollback");
}

/// `--no-chain`: the capture writes no hash (versions, keys, deletes and re-inserts as
/// usual), verify reports the table as unchained without calling that tampering, also after
/// a chained table is tracked again without its chain; a chain switched back on starts again
/// and verifies. Other tables keep their chains and their checks.
#[tokio::test]
async fn a_table_tracked_without_chain_writes_no_hash_and_verifies_as_unchained() {
    let t = history().await;
    t.exec("CREATE TABLE fast (id int PRIMARY KEY, v text)")
        .await;
    t.track("fast", &TrackOptions::new().without_chain(true))
        .await;
    t.exec(
        "INSERT INTO fast SELECT g, 'a' FROM generate_series(1, 5) g;
         UPDATE fast SET v = 'b' WHERE id <= 2;
         UPDATE fast SET v = 'c';
         DELETE FROM fast WHERE id = 3;
         INSERT INTO fast VALUES (3, 'again');
         UPDATE fast SET id = 30 WHERE id = 3;",
    )
    .await;
    let (rows, hashed): (i64, i64) = (
        t.scalar_i64("SELECT count(*) FROM chrononaut_activity WHERE table_name = 'fast'")
            .await,
        t.scalar_i64(
            "SELECT count(*) FROM chrononaut_activity WHERE table_name = 'fast' \
             AND (hash IS NOT NULL OR prev_hash IS NOT NULL)",
        )
        .await,
    );
    assert_eq!((rows, hashed), (5 + 2 + 5 + 1 + 1 + 2, 0));
    // versions as on a chained table: record 3 deleted at 3, re-inserted as 4, moved away at 5
    let v3: Vec<i64> = sqlx::query_scalar(
        "SELECT version::int8 FROM chrononaut_activity WHERE table_name = 'fast' \
         AND key = '{\"id\": 3}' ORDER BY changed, version",
    )
    .fetch_all(&t.pool)
    .await
    .expect("versions");
    assert_eq!(v3, vec![0, 1, 2, 3, 4]);
    let report = verify(&t, None).await;
    assert!(report.is_ok(), "{:?}", report.issues);
    let fast = report
        .tables
        .iter()
        .find(|x| x.table_name == "fast")
        .expect("fast verified");
    assert!(fast.no_chain);
    assert_eq!((fast.chained, fast.unchained), (0, rows));
    let acc = report
        .tables
        .iter()
        .find(|x| x.table_name == "acc")
        .expect("acc verified");
    assert!(!acc.no_chain && acc.unchained == 0, "{acc:?}");

    // a chained table tracked again without its chain: its chained past still verifies, its
    // new rows are unchained, not "hash removed"
    t.track(
        "acc",
        &TrackOptions::new().hidden(["secret"]).without_chain(true),
    )
    .await;
    t.exec("UPDATE acc SET balance = balance + 100").await;
    let report = verify(&t, Some("acc")).await;
    assert!(report.is_ok(), "{:?}", report.issues);
    assert!(report.tables[0].no_chain && report.tables[0].unchained == 2);
    // ... and an edit of its chained past is still found
    tamper(
        &t,
        "UPDATE chrononaut_activity SET data = data || '{\"balance\": 0}' \
         WHERE table_name = 'acc' AND version = 1 AND key = '{\"id\": 1}'",
    )
    .await;
    let report = verify(&t, Some("acc")).await;
    assert!(
        report
            .issues
            .iter()
            .any(|i| i.kind == IssueKind::Edited && i.version == Some(1)),
        "{:?}",
        report.issues
    );

    // the chain back on for `fast`: new rows are chained again, and verify is clean
    t.track("fast", &TrackOptions::new()).await;
    t.exec("UPDATE fast SET v = 'd' WHERE id = 1").await;
    let report = verify(&t, Some("fast")).await;
    assert!(report.is_ok(), "{:?}", report.issues);
    assert!(!report.tables[0].no_chain && report.tables[0].chained == 1);
}

/// `chain_hash` assembles the canonical array's text from the parts' own text (cheaper than
/// building a jsonb array): it must spell exactly what `jsonb_build_array(...)::text` spells,
/// or chains written before would stop verifying. Compared over hostile values: quotes,
/// backslashes, control characters, non-ASCII text, numbers of every shape, nested
/// containers, infinite and zoned timestamps, NULLs.
#[tokio::test]
async fn chain_hash_spells_the_canonical_array_as_jsonb_prints_it() {
    let t = common::setup().await;
    let (agree, total): (i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(
        r#"WITH names(v) AS (VALUES ('acc'), ('we"ird\ na''me'), ('ünï/cödé 😀'),
                                        (E'tab\there\nnewline\u0001'), ('a.b'), (NULL)),
                    keys(v) AS (VALUES ('{"id": 1}'::jsonb), ('{"a": "x\"y\\z", "b": [1, 2.50, 1e3, -0.0]}'),
                                       ('{"ts": "2026-01-02T03:04:05+00:00", "n": null}'), (NULL)),
                    versions(v) AS (VALUES (0), (-1), (2147483647), (NULL::int)),
                    times(v) AS (VALUES (now()), ('infinity'::timestamptz), ('-infinity'),
                                        ('2026-01-02 03:04:05.123456+05:30'), ('0044-03-15 12:00 BC'),
                                        (NULL)),
                    datas(v) AS (VALUES ('{}'::jsonb), ('{"nested": {"deep": [[], {}, [null, true, false]]}, "s": "\u00e9\u2028 \"q\""}'),
                                        ('{"big": 123456789012345678901234567890.000001, "small": 1e-7}'),
                                        ('[1, "two", 3.0]'), ('"scalar"'), (NULL)),
                    ops(v) AS (VALUES ('insert'), ('delete'), (E'odd"op\\'), (NULL)),
                    prevs(v) AS (VALUES (NULL::bytea), ('\x00ff10'::bytea))
               SELECT count(*) FILTER (WHERE chrononaut.chain_hash(p.v, n.v, k.v, ve.v, ti.v, d.v,
                                                  '{"user_id": "ann", "remote_addr": null}', d.v, o.v)
                                         = sha256(COALESCE(p.v, '') || convert_to(jsonb_build_array(
                                               n.v, k.v, ve.v, timezone('UTC', ti.v), d.v,
                                               '{"user_id": "ann", "remote_addr": null}'::jsonb, d.v,
                                               o.v)::text, 'UTF8'))),
                      count(*)
               FROM names n, keys k, versions ve, times ti, datas d, ops o, prevs p"#,
    ))
    .fetch_one(&t.pool)
    .await
    .expect("compare chain_hash with jsonb_build_array");
    assert_eq!(agree, total);
    assert!(total > 10_000, "{total} combinations");
}
